//! tinyalloc's own C API, declared in `include/tinyalloc.h`: statistics,
//! `collect` and the cache bound. The struct here and the header's must stay
//! field for field the same (tests/c/header.c checks the values from C).

use tinyalloc_core as core_api;

/// `struct tinyalloc_stats` of `tinyalloc.h`: [`tinyalloc_core::Stats`]
/// flattened, every field a `size_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TinyallocStats {
    /// Bytes mapped now.
    pub mapped_bytes: usize,
    /// `mmap` calls.
    pub map_calls: usize,
    /// `munmap` calls.
    pub unmap_calls: usize,
    /// `madvise` calls.
    pub purge_calls: usize,
    /// `mremap` calls.
    pub move_calls: usize,
    /// Arenas reserved.
    pub arenas: usize,
    /// Arena slots claimed.
    pub arena_slots_in_use: usize,
    /// Regions live.
    pub live_regions: usize,
    /// Bytes of cached free regions.
    pub cached_bytes: usize,
    /// Segments on the abandoned stacks.
    pub abandoned_segments: usize,
    /// Heaps of running threads.
    pub live_heaps: usize,
}

/// Fill `*out` with the current figures; null is ignored.
///
/// # Safety
/// `out` is null or valid for writing one `struct tinyalloc_stats`.
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_stats(out: *mut TinyallocStats) {
    if out.is_null() {
        return;
    }
    let stats = core_api::stats();
    let flat = TinyallocStats {
        mapped_bytes: stats.os.mapped_bytes,
        map_calls: stats.os.map_calls,
        unmap_calls: stats.os.unmap_calls,
        purge_calls: stats.os.purge_calls,
        move_calls: stats.os.move_calls,
        arenas: stats.arenas,
        arena_slots_in_use: stats.arena_slots_in_use,
        live_regions: stats.live_regions,
        cached_bytes: stats.cached_bytes,
        abandoned_segments: stats.abandoned_segments,
        live_heaps: stats.live_heaps,
    };
    // SAFETY: the caller's contract; C gives no alignment promise beyond the
    // struct's own, which `write_unaligned` does not need.
    unsafe { out.write_unaligned(flat) };
}

/// Return free memory to the kernel now.
#[no_mangle]
pub extern "C" fn tinyalloc_collect() {
    core_api::collect();
}

/// Fix the cache bound in bytes (0 disables caching).
#[no_mangle]
pub extern "C" fn tinyalloc_set_cache_limit(bytes: usize) {
    core_api::raw::set_cache_limit(bytes);
}
