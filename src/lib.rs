//! tinyalloc: a lock-free, concurrent memory allocator.
//!
//! ```no_run
//! # #[cfg(not(feature = "loom"))] // the loom build models protocols only
//! #[global_allocator]
//! static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;
//! ```
//!
//! # Layers (imports only point down)
//!
//! ```text
//!  global (GlobalAlloc)      api (shared with the C ABI)
//!                 \          /
//!        thread ── heap ── page          large
//!                    \                    /
//!                     segment ── segment_cache
//!                        |
//!                      arena
//!                        |
//!   ds (bitmap, tagged_stack, remote_list)     os (the only kernel door)
//!                        |
//!                      sync (std or loom atomics)
//! ```
//!
//! - [`os`]: reserve / purge / release; the only module that calls the kernel.
//! - [`sync`]: the only module that names atomic types (loom swaps them).
//! - [`ds`]: lock-free building blocks with no allocator knowledge.
//! - [`arena`]: reserved ranges whose segment slots are claimed in bitmaps.
//! - [`segment_cache`]: freed regions kept for reuse, bounded, purged late.
//! - `segment`, `page`, `heap`, `thread`, `large`, `api`, `global`: the
//!   allocator proper (not built under the `loom` feature, whose models drive
//!   the protocol modules directly); `segment_map` says which addresses may
//!   hold a header (arenas mark theirs when installed).
//!
//! Nothing on an allocation path allocates through the global allocator.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod arena;
pub mod ds;
pub mod os;
pub mod segment_cache;
pub mod size_class;
pub mod sync;

#[cfg(not(feature = "loom"))]
mod api;
#[cfg(not(feature = "loom"))]
mod checks;
#[cfg(not(feature = "loom"))]
mod config;
#[cfg(not(feature = "loom"))]
mod global;
#[cfg(not(feature = "loom"))]
mod heap;
#[cfg(not(feature = "loom"))]
mod large;
#[cfg(not(feature = "loom"))]
mod page;
#[cfg(not(feature = "loom"))]
mod segment;
#[cfg(not(feature = "loom"))]
mod segment_map;
#[cfg(not(feature = "loom"))]
mod state;
#[cfg(feature = "loom")]
#[path = "state_loom_stub.rs"]
mod state;
#[cfg(not(feature = "loom"))]
mod stats;
#[cfg(not(feature = "loom"))]
mod thread;

#[cfg(not(feature = "loom"))]
pub use api::{collect, usable_size};
#[cfg(not(feature = "loom"))]
pub use global::TinyAlloc;
#[cfg(not(feature = "loom"))]
pub use stats::{stats, Stats};

/// Raw entry points for the C ABI and for tests (the same ones `TinyAlloc` uses).
#[cfg(not(feature = "loom"))]
pub mod raw {
    pub use crate::api::{
        allocate, allocate_malloc, allocate_zeroed, allocate_zeroed_malloc,
        allocate_zeroed_malloc_small, deallocate, deallocate_nonnull, deallocate_or,
        deallocate_slow, reallocate, reallocate_malloc, try_allocate_malloc_small, MALLOC_ALIGN,
        MAX_CLASS_ALIGN, MIN_ALIGN, SMALL_MAX,
    };
    pub use crate::segment::set_cache_limit;
    pub use crate::segment_map::PAGED_FROM;
}
