//! tinyalloc: a lock-free, concurrent memory allocator.
//!
//! ```no_run
//! # #[cfg(not(feature = "loom"))] // the loom build runs its models only
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
//! - [`config`]: the tunables ([`Config`]), from the environment, a `const`
//!   configuration on [`TinyAlloc`](struct@TinyAlloc) or run-time calls.
//! - `segment`, `page`, `heap`, `thread`, `large`, `api`, `global`: the
//!   allocator proper; `segment_map` says which addresses may hold a header
//!   (arenas mark theirs when installed); `state` holds the shared state of
//!   all of them as one value (per model execution under the `loom` feature,
//!   whose models in `loom-tests/` drive the real entry points); `user_heap`
//!   is [`Heap`], a heap of one's own (over `heap` and `thread`).
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

mod api;
mod checks;
pub mod config;
#[cfg(not(feature = "loom"))]
mod exit_summary;
mod global;
mod heap;
mod large;
mod page;
mod segment;
mod segment_map;
mod state;
mod stats;
mod thread;
mod user_heap;
mod zero;

#[cfg(not(feature = "loom"))]
pub use api::release_thread_heap;
pub use api::{collect, usable_size};
pub use config::Config;
pub use global::TinyAlloc;
pub use stats::{stats, PagedStats, Stats};
pub use user_heap::Heap;

/// Raw entry points for the C ABI and for tests (the same ones `TinyAlloc` uses).
pub mod raw {
    pub use crate::api::{
        allocate, allocate_malloc, allocate_zeroed, allocate_zeroed_malloc,
        allocate_zeroed_malloc_slow, allocate_zeroed_malloc_small, allocate_zeroed_malloc_small_or,
        deallocate, deallocate_nonnull, deallocate_or, deallocate_slow, reallocate,
        reallocate_malloc, try_allocate_malloc_small, MALLOC_ALIGN, MAX_CLASS_ALIGN, MIN_ALIGN,
        SMALL_MAX,
    };
    pub use crate::config::set_cache_limit;
    /// Exit lines on the standard error without allocating (the C library's
    /// call counts use them too).
    #[cfg(not(feature = "loom"))]
    pub use crate::exit_summary::{capture_stderr, write_line, Line as ExitLine};
    pub use crate::heap::route_calls_to_slow_paths;
    pub use crate::segment_map::PAGED_FROM;
}

/// Hooks for the loom models (`loom-tests/`).
#[cfg(feature = "loom")]
pub mod loom_hooks {
    /// Run the calling thread's exit path now (abandon its segments, pool
    /// its heap), as its thread-local's destructor would. A model thread
    /// calls it last: loom's `join` synchronises with the end of the
    /// thread's closure, not with its thread-local destructors, so what a
    /// destructor does would race with the joiner's next steps.
    pub fn exit_thread() {
        crate::thread::exit_current();
    }
}
