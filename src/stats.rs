//! Allocator-wide figures, read without allocating.

use crate::{arena, os, segment, thread};

/// A snapshot of tinyalloc's own accounting, from [`stats()`].
///
/// The figures are read one by one without a lock, so a snapshot taken while
/// other threads allocate is not exact across fields; each field is.
///
/// ```
/// let stats = tinyalloc::stats();
/// // Printable without allocating through tinyalloc's own paths.
/// println!(
///     "{} MiB mapped in {} arena(s), {} MiB cached, {} mmap calls",
///     stats.os.mapped_bytes >> 20,
///     stats.arenas,
///     stats.cached_bytes >> 20,
///     stats.os.map_calls,
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Kernel calls and mapped bytes.
    pub os: os::OsCounters,
    /// Arenas reserved.
    pub arenas: usize,
    /// Arena slots claimed (segments and large regions, live or cached).
    pub arena_slots_in_use: usize,
    /// Regions live (paged segments and large regions, not counting cached).
    pub live_regions: usize,
    /// Bytes of free regions held in the segment cache.
    pub cached_bytes: usize,
    /// Segments waiting on the abandoned stacks.
    pub abandoned_segments: usize,
    /// Heaps owned by running threads.
    pub live_heaps: usize,
}

/// Read the current figures. Allocates nothing, takes no lock.
///
/// ```
/// use tinyalloc::raw;
///
/// // A block above 128 KiB gets a region of its own.
/// // SAFETY: 16 is a power of two; the block is freed once.
/// let block = unsafe { raw::allocate(1 << 20, 16) };
/// assert!(!block.is_null());
/// let stats = tinyalloc::stats();
/// assert!(stats.arenas >= 1);
/// assert!(stats.live_regions >= 1);
/// assert!(stats.os.mapped_bytes >= 1 << 20);
/// unsafe { raw::deallocate(block) };
/// ```
pub fn stats() -> Stats {
    Stats {
        os: os::counters(),
        arenas: arena::ARENAS.arena_count(),
        arena_slots_in_use: arena::slots_in_use(),
        live_regions: segment::live_segments(),
        cached_bytes: segment::cached_bytes(),
        abandoned_segments: segment::abandoned_segments(),
        live_heaps: thread::live_heaps(),
    }
}
