//! The `GlobalAlloc` front: `TinyAlloc`.

use crate::api;
use core::alloc::{GlobalAlloc, Layout};

/// The tinyalloc global allocator.
///
/// ```no_run
/// #[global_allocator]
/// static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TinyAlloc;

// SAFETY: every method forwards to `api`, which upholds the `GlobalAlloc`
// contract: blocks are at least `layout.size()` bytes, aligned to
// `layout.align()`, disjoint while live; failures return null.
unsafe impl GlobalAlloc for TinyAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: a `Layout`'s alignment is a power of two.
        unsafe { api::allocate(layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` was allocated by us (the caller's contract), so it is
        // not null.
        unsafe { api::deallocate_nonnull(ptr) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: a `Layout`'s alignment is a power of two.
        unsafe { api::allocate_zeroed(layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is live with `layout` (the caller's contract).
        unsafe { api::reallocate(ptr, layout.size(), layout.align(), new_size) }
    }
}
