//! Allocator-wide figures, read without allocating.

use crate::{arena, os, segment, thread};

/// A snapshot of tinyalloc's own accounting.
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

/// Read the current figures.
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
