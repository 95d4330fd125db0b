//! tinyalloc's own C API, declared in `include/tinyalloc.h`: statistics,
//! `collect`, the cache bound and the configuration (`tinyalloc_config_*`). The struct here and the header's must stay
//! field for field the same (tests/c/header.c checks the values from C).

use core::ffi::c_int;
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
    /// `tinyalloc::Heap`s alive.
    pub user_heaps: usize,
}

/// `struct tinyalloc_paged_stats` of `tinyalloc.h`: one kind's
/// [`tinyalloc_core::PagedStats`], every field a `size_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TinyallocPagedStats {
    /// Segments of the kind, owned or abandoned.
    pub segments: usize,
    /// Bytes of pages in use.
    pub in_pages: usize,
    /// Bytes of those pages cut into blocks (committed).
    pub carved: usize,
    /// Bytes of live blocks (each heap's as of its last count).
    pub live: usize,
    /// Bytes of free blocks inside pages in use.
    pub free_in_pages: usize,
    /// Bytes of live blocks in abandoned segments.
    pub abandoned_live: usize,
    /// Bytes of unused pages not purged yet (resident).
    pub free_dirty: usize,
    /// Bytes of unused pages purged or never touched (reserved only).
    pub free_purged: usize,
    /// Segments of the kind on the abandoned stack.
    pub abandoned_segments: usize,
}

/// `TINYALLOC_SMALL` of `tinyalloc.h`: blocks up to 8 KiB.
pub const KIND_SMALL: c_int = 0;
/// `TINYALLOC_MEDIUM` of `tinyalloc.h`: blocks up to 128 KiB.
pub const KIND_MEDIUM: c_int = 1;

/// Fill `*out` with the figures of one kind of block (`TINYALLOC_SMALL` or
/// `TINYALLOC_MEDIUM`); 0, or -1 for another kind or a null `out` (nothing
/// written). A separate call, not more fields in `struct tinyalloc_stats`:
/// a program built against an older header passes a struct of the older
/// size.
///
/// # Safety
/// `out` is null or valid for writing one `struct tinyalloc_paged_stats`.
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_paged_stats(
    kind: c_int,
    out: *mut TinyallocPagedStats,
) -> c_int {
    if out.is_null() || !(KIND_SMALL..=KIND_MEDIUM).contains(&kind) {
        return -1;
    }
    let stats = core_api::stats();
    let paged = if kind == KIND_SMALL {
        stats.small
    } else {
        stats.medium
    };
    let flat = TinyallocPagedStats {
        segments: paged.segments,
        in_pages: paged.in_pages,
        carved: paged.carved,
        live: paged.live,
        free_in_pages: paged.free_in_pages,
        abandoned_live: paged.abandoned_live,
        free_dirty: paged.free_dirty,
        free_purged: paged.free_purged,
        abandoned_segments: paged.abandoned_segments,
    };
    // SAFETY: the caller's contract; `write_unaligned` needs no alignment.
    unsafe { out.write_unaligned(flat) };
    0
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
        user_heaps: stats.user_heaps,
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

/// Give up the calling thread's heap now, as its exit would (see
/// `tinyalloc::release_thread_heap`).
#[no_mangle]
pub extern "C" fn tinyalloc_release_thread_heap() {
    core_api::release_thread_heap();
}

/// Fix the cache bound in bytes (0 disables caching).
#[no_mangle]
pub extern "C" fn tinyalloc_set_cache_limit(bytes: usize) {
    core_api::raw::set_cache_limit(bytes);
}

// First-class heaps (`tinyalloc::Heap`): `tinyalloc_heap_*` of `tinyalloc.h`.
// A `tinyalloc_heap_t *` is `Heap::into_raw`; each call borrows the heap
// back for its length (`ManuallyDrop`), `destroy` and `delete` take it.

use core::alloc::Layout;
use core::ffi::c_void;
use core::mem::ManuallyDrop;
use tinyalloc_core::Heap;

/// The alignment C's `malloc` promises (`alignof(max_align_t)`).
const HEAP_ALIGN: usize = 16;

/// Borrow the heap behind a handle for one call.
///
/// # Safety
/// `heap` came from [`tinyalloc_heap_new`], is not destroyed or deleted,
/// and no other thread uses it during the call.
unsafe fn borrow(heap: *mut c_void) -> ManuallyDrop<Heap> {
    // SAFETY: the caller's contract; `ManuallyDrop` gives it back untouched.
    ManuallyDrop::new(unsafe { Heap::from_raw(heap) })
}

/// A new heap, or null when out of memory.
#[no_mangle]
pub extern "C" fn tinyalloc_heap_new() -> *mut c_void {
    match Heap::try_new() {
        Some(heap) => heap.into_raw(),
        None => core::ptr::null_mut(),
    }
}

/// `size` bytes from `heap`, aligned as `malloc`'s; null when out of memory.
///
/// # Safety
/// `heap` is a live handle used by one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_heap_malloc(heap: *mut c_void, size: usize) -> *mut c_void {
    let Ok(layout) = Layout::from_size_align(size, HEAP_ALIGN) else {
        return core::ptr::null_mut();
    };
    // SAFETY: the caller's contract.
    unsafe { borrow(heap) }.alloc(layout).cast()
}

/// `count * size` zeroed bytes from `heap`; null on overflow or when out of
/// memory.
///
/// # Safety
/// As [`tinyalloc_heap_malloc`].
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_heap_calloc(
    heap: *mut c_void,
    count: usize,
    size: usize,
) -> *mut c_void {
    let Some(layout) = count
        .checked_mul(size)
        .and_then(|bytes| Layout::from_size_align(bytes, HEAP_ALIGN).ok())
    else {
        return core::ptr::null_mut();
    };
    // SAFETY: the caller's contract.
    unsafe { borrow(heap) }.alloc_zeroed(layout).cast()
}

/// Resize `ptr` (null: allocate) to `size` bytes, in place or moved into
/// `heap`; null (with `ptr` still valid) when out of memory. A `size` of 0
/// gets a minimal block, as `tinyalloc_heap_malloc(heap, 0)` does.
///
/// # Safety
/// As [`tinyalloc_heap_malloc`]; `ptr` is null or a live tinyalloc block.
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_heap_realloc(
    heap: *mut c_void,
    ptr: *mut c_void,
    size: usize,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe {
        if ptr.is_null() {
            return tinyalloc_heap_malloc(heap, size);
        }
        let ptr = ptr.cast::<u8>();
        let old = Layout::from_size_align_unchecked(core_api::usable_size(ptr), HEAP_ALIGN);
        borrow(heap).realloc(ptr, old, size.max(1)).cast()
    }
}

/// Free `ptr` (null is ignored): a block of `heap` without atomics, any
/// other tinyalloc block as `free` does. (`free` works for heap blocks too.)
///
/// # Safety
/// As [`tinyalloc_heap_malloc`]; `ptr` is null or a live tinyalloc block.
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_heap_free(heap: *mut c_void, ptr: *mut c_void) {
    // SAFETY: the caller's contract; the layout is not read.
    unsafe { borrow(heap).dealloc(ptr.cast(), Layout::new::<u8>()) }
}

/// Free every block of `heap` at once and end it.
///
/// # Safety
/// `heap` is a live handle, not used afterwards; no block of it is used or
/// freed afterwards, and every free of one happened before this call.
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_heap_destroy(heap: *mut c_void) {
    // SAFETY: the caller's contract; the handle is taken back once.
    unsafe { Heap::from_raw(heap) }.destroy();
}

/// End `heap` and keep its blocks: they stay valid, for `free` (from any
/// thread) to release later.
///
/// # Safety
/// `heap` is a live handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tinyalloc_heap_delete(heap: *mut c_void) {
    // SAFETY: the caller's contract; the handle is taken back once.
    drop(unsafe { Heap::from_raw(heap) });
}

/// `tinyalloc_config_get_cache_limit`'s answer when the bound follows use.
pub const CACHE_FOLLOWS_USE: usize = usize::MAX;

/// Set the purge delay in milliseconds (0 to 3600000): 0, or -1 if out of
/// range (nothing changes). See `tinyalloc::config`.
#[no_mangle]
pub extern "C" fn tinyalloc_config_set_purge_delay_ms(ms: u64) -> c_int {
    status(core_api::config::set_purge_delay_ms(ms))
}

/// The purge delay in effect, in milliseconds.
#[no_mangle]
pub extern "C" fn tinyalloc_config_get_purge_delay_ms() -> u64 {
    core_api::config::current().purge_delay_ms
}

/// Fix the cache bound in bytes (0 disables caching). Always 0.
#[no_mangle]
pub extern "C" fn tinyalloc_config_set_cache_limit(bytes: usize) -> c_int {
    core_api::config::set_cache_limit(bytes);
    0
}

/// The fixed cache bound, or [`CACHE_FOLLOWS_USE`] if none was set.
#[no_mangle]
pub extern "C" fn tinyalloc_config_get_cache_limit() -> usize {
    core_api::config::current()
        .cache_limit
        .unwrap_or(CACHE_FOLLOWS_USE)
}

/// Set the bytes reserved per arena from now on (4 MiB to 1 GiB, rounded
/// up to a multiple of 4 MiB): 0, or -1 if out of range.
#[no_mangle]
pub extern "C" fn tinyalloc_config_set_arena_size(bytes: usize) -> c_int {
    status(core_api::config::set_arena_size(bytes))
}

/// The bytes per arena reserved from now on.
#[no_mangle]
pub extern "C" fn tinyalloc_config_get_arena_size() -> usize {
    core_api::config::current().arena_size
}

/// Print (non-zero) or not (0) the allocator's figures on stderr at exit.
/// Always 0. (The call-count line needs `TINYALLOC_SHOW_STATS` at start-up.)
#[no_mangle]
pub extern "C" fn tinyalloc_config_set_show_stats(on: c_int) -> c_int {
    core_api::config::set_show_stats(on != 0);
    0
}

/// 1 if the figures are printed at exit, else 0.
#[no_mangle]
pub extern "C" fn tinyalloc_config_get_show_stats() -> c_int {
    c_int::from(core_api::config::current().show_stats)
}

fn status(taken: bool) -> c_int {
    if taken {
        0
    } else {
        -1
    }
}
