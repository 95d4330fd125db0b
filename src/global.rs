//! The `GlobalAlloc` front: `TinyAlloc`, a value carrying a const
//! [`Config`] that it applies on its first slow path (see `config`).
//!
//! Invariant: `alloc` and `alloc_zeroed` run [`config::apply_const`] on
//! every slow path, before the allocator's own; the fast path reads no
//! configuration. `realloc` and `dealloc` take a block the value handed out,
//! so its configuration was applied by then.

use crate::api;
use crate::config::{self, Config};
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
///
/// With a configuration, applied before the first block it hands out (see
/// [`Config`] for the tunables and how they combine with the environment):
///
/// ```
/// use tinyalloc::{Config, TinyAlloc};
///
/// # #[cfg(not(feature = "loom"))] // the loom build runs its models only
/// #[global_allocator]
/// static GLOBAL: TinyAlloc = TinyAlloc::with_config(Config::new().purge_delay_ms(500));
///
/// fn main() {
/// #   #[cfg(not(feature = "loom"))] {
///     let text = String::from("configured before main");
///     assert_eq!(tinyalloc::config::current().purge_delay_ms, 500);
///     assert!(text.len() > 0);
/// #   }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TinyAlloc {
    config: Config,
    /// Whether `config` sets anything (one test on the slow path).
    configured: bool,
}

/// The default allocator value, so that `static GLOBAL: TinyAlloc =
/// TinyAlloc;` (the type's name used as a value) keeps compiling: the same as
/// `TinyAlloc::with_config(Config::new())`.
#[allow(non_upper_case_globals)]
pub const TinyAlloc: TinyAlloc = TinyAlloc::with_config(Config::new());

impl TinyAlloc {
    /// An allocator value that applies `config` before it hands out its
    /// first block.
    pub const fn with_config(config: Config) -> Self {
        Self {
            config,
            configured: !config.is_empty(),
        }
    }

    /// The configuration this value applies.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// [`GlobalAlloc::alloc`] past the fast path: the configuration first,
    /// then the allocator's own slow path.
    ///
    /// # Safety
    /// As [`GlobalAlloc::alloc`].
    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, layout: Layout, zero: bool) -> *mut u8 {
        if self.configured {
            config::apply_const(&self.config);
        }
        // SAFETY: a `Layout`'s alignment is a power of two.
        unsafe {
            if zero {
                api::allocate_zeroed(layout.size(), layout.align())
            } else {
                api::allocate(layout.size(), layout.align())
            }
        }
    }
}

// SAFETY: every method forwards to `api`, which upholds the `GlobalAlloc`
// contract: blocks are at least `layout.size()` bytes, aligned to
// `layout.align()`, disjoint while live; failures return null. The
// configuration step allocates nothing.
unsafe impl GlobalAlloc for TinyAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: a `Layout`'s alignment is a power of two; the slow path
        // gets the caller's contract.
        unsafe {
            api::allocate_or(layout.size(), layout.align(), || {
                self.alloc_slow(layout, false)
            })
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` was allocated by us (the caller's contract), so it is
        // not null.
        unsafe { api::deallocate_nonnull(ptr) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            api::allocate_zeroed_or(layout.size(), layout.align(), || {
                self.alloc_slow(layout, true)
            })
        }
    }

    // No configuration step: `ptr` came from this value, whose first
    // allocation applied it.
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is live with `layout` (the caller's contract).
        unsafe { api::reallocate(ptr, layout.size(), layout.align(), new_size) }
    }
}
