//! The `GlobalAlloc` front: `TinyAlloc`.

use crate::api;
use core::alloc::{GlobalAlloc, Layout};

/// The tinyalloc global allocator.
///
/// Install it once, in the binary crate; every `Box`, `Vec` and `String` of
/// the program then comes from tinyalloc:
///
/// ```
/// # #[cfg(not(feature = "loom"))]
/// #[global_allocator]
/// static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;
///
/// # #[cfg(not(feature = "loom"))]
/// fn main() {
///     let squares: Vec<u64> = (0..1000).map(|i| i * i).collect();
///     assert_eq!(squares[999], 998_001);
///     // This thread allocated, so it has a tinyalloc heap.
///     assert!(tinyalloc::stats().live_heaps >= 1);
/// }
/// # #[cfg(feature = "loom")] // the loom build runs its models only
/// # fn main() {}
/// ```
///
/// It is also an ordinary [`GlobalAlloc`] value, callable directly:
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use std::alloc::{GlobalAlloc, Layout};
/// use tinyalloc::TinyAlloc;
///
/// let layout = Layout::from_size_align(4096, 64).unwrap();
/// // SAFETY: the layout's size is not zero; the block is freed once, with
/// // the same layout.
/// unsafe {
///     let block = TinyAlloc.alloc_zeroed(layout);
///     assert!(!block.is_null());
///     assert_eq!(block as usize % 64, 0);
///     assert_eq!(*block.add(4095), 0);
///     TinyAlloc.dealloc(block, layout);
/// }
/// # }
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
