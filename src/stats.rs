//! Allocator-wide figures, read without allocating.
//!
//! Every figure is a relaxed counter updated on slow paths only (region,
//! segment and page events, never a block's allocation or free), so reading
//! them is cheap enough for a metrics endpoint; figures read at one moment
//! may disagree by what other threads did meanwhile.
//!
//! Where the memory of small and medium blocks is ([`PagedStats`]): each
//! segment's usable pages are in use (assigned to a size class: live blocks
//! plus the free blocks inside those pages), free and still dirty (resident
//! until purged), or free and purged or never touched (reserved only). Of
//! the pages in use, `carved` bytes hold blocks (live, or free inside the
//! page: committed), the rest were never touched.

use crate::segment::{self, KIND_MEDIUM, KIND_SMALL, MEDIUM_PAGES, SMALL_BLOCK_MAX, SMALL_PAGES};
use crate::sync::{StatCounter, StatOrdering};
use crate::{arena, os, thread};

/// Bytes of blocks carved in pages in use, small and medium.
static CARVED_BYTES: [StatCounter; 2] = [StatCounter::new(0), StatCounter::new(0)];

fn carved_slot(block_size: usize) -> usize {
    usize::from(block_size > SMALL_BLOCK_MAX)
}

/// A page of `block_size` blocks carved `bytes` more (a slow path).
#[inline]
pub(crate) fn on_carve(block_size: usize, bytes: usize) {
    CARVED_BYTES[carved_slot(block_size)].fetch_add(bytes, StatOrdering::Relaxed);
}

/// A page of `block_size` blocks with `bytes` carved left use.
#[inline]
pub(crate) fn on_page_free(block_size: usize, bytes: usize) {
    CARVED_BYTES[carved_slot(block_size)].fetch_sub(bytes, StatOrdering::Relaxed);
}

/// Bytes of live blocks in heaps' pages, small and medium, as each heap last
/// counted them (`heap::publish_live`).
static LIVE_BYTES: [StatCounter; 2] = [StatCounter::new(0), StatCounter::new(0)];
/// Bytes of live blocks in abandoned segments, small and medium, as counted
/// when each was abandoned.
static ABANDONED_LIVE_BYTES: [StatCounter; 2] = [StatCounter::new(0), StatCounter::new(0)];

/// Bytes of `LIVE_BYTES` freed by other threads and waiting on their pages'
/// remote lists, as each heap last counted them.
static PENDING_BYTES: [StatCounter; 2] = [StatCounter::new(0), StatCounter::new(0)];

/// A heap's live bytes of kind `slot` (0 small, 1 medium) went from `old`
/// (what it published last) to `new`.
#[inline]
pub(crate) fn on_live(slot: usize, old: usize, new: usize) {
    move_counter(&LIVE_BYTES[slot], old, new);
}

/// A heap's remote-pending bytes of kind `slot` went from `old` to `new`.
#[inline]
pub(crate) fn on_pending(slot: usize, old: usize, new: usize) {
    move_counter(&PENDING_BYTES[slot], old, new);
}

fn move_counter(counter: &StatCounter, old: usize, new: usize) {
    if new >= old {
        counter.fetch_add(new - old, StatOrdering::Relaxed);
    } else {
        counter.fetch_sub(old - new, StatOrdering::Relaxed);
    }
}

/// A segment of kind `slot` holding `bytes` of live blocks was abandoned
/// (`abandoned`) or taken over (adopted or drained).
#[inline]
pub(crate) fn on_abandoned_live(slot: usize, bytes: usize, abandoned: bool) {
    if abandoned {
        ABANDONED_LIVE_BYTES[slot].fetch_add(bytes, StatOrdering::Relaxed);
    } else {
        ABANDONED_LIVE_BYTES[slot].fetch_sub(bytes, StatOrdering::Relaxed);
    }
}

/// Where the pages of one kind of paged segment are, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagedStats {
    /// Segments of this kind, owned by heaps or abandoned.
    pub segments: usize,
    /// Bytes of pages assigned to a size class: live blocks plus the free
    /// blocks inside those pages.
    pub in_pages: usize,
    /// Bytes of `in_pages` cut into blocks so far: live blocks and the free
    /// blocks the pages hold, all committed. `in_pages - carved` was never
    /// touched (not resident).
    pub carved: usize,
    /// Bytes of unused pages whose memory is still committed (freed and not
    /// purged yet): what a purge would give back.
    pub free_dirty: usize,
    /// Bytes of unused pages that are purged or were never touched:
    /// reserved address space, not resident.
    pub free_purged: usize,
    /// Segments of this kind waiting on the abandoned stack (their thread
    /// exited with live blocks in them; counted in the figures above too).
    pub abandoned_segments: usize,
    /// Bytes of live blocks in the pages of heaps (threads' and
    /// [`Heap`](crate::Heap)s): handed out and not back on their page's
    /// lists (a block freed by another thread counts until the page's owner
    /// takes it back). Each heap counts its pages on a slow path at most once
    /// per purge interval (10 ms) and on [`collect`](crate::collect), never
    /// on a fast path; [`stats()`] counts the calling thread's heap afresh. A
    /// thread's share is therefore as of its last slow path.
    pub live: usize,
    /// Bytes of `live` that other threads have freed and the page's owner
    /// has not taken back yet (its pages' remote lists, counted as `live`
    /// is): memory the owner reuses when it next needs those classes, and
    /// that waits while it does not (a thread that is not running).
    pub remote_pending: usize,
    /// Bytes of live blocks in abandoned segments, as counted when each was
    /// abandoned (frees since then count once it is adopted or drained).
    pub abandoned_live: usize,
    /// Bytes of free blocks inside pages in use: `carved - live -
    /// abandoned_live`. Committed, and reusable only by the page's owner.
    pub free_in_pages: usize,
}

/// A snapshot of tinyalloc's own accounting, from [`stats()`].
///
/// The figures are read one by one without a lock, so a snapshot taken while
/// other threads allocate is not exact across fields; each field is, except
/// the live-block figures of [`PagedStats`], which are as of each heap's
/// last count.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// let stats = tinyalloc::stats();
/// // Printable without allocating through tinyalloc's own paths.
/// println!(
///     "{} MiB mapped in {} arena(s), {} MiB cached, {} mmap calls",
///     stats.os.mapped_bytes >> 20,
///     stats.arenas,
///     stats.cached_bytes >> 20,
///     stats.os.map_calls,
/// );
/// # }
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
    /// Bytes of the cached regions that may be resident (their dirty
    /// prefixes): the rest of `cached_bytes` is purged or never touched.
    pub cached_dirty_bytes: usize,
    /// Segments waiting on the abandoned stacks (both kinds).
    pub abandoned_segments: usize,
    /// Heaps owned by running threads.
    pub live_heaps: usize,
    /// [`Heap`](crate::Heap)s alive (created, not yet dropped or destroyed).
    pub user_heaps: usize,
    /// Small-block segments (blocks up to 8 KiB, 64 KiB pages).
    pub small: PagedStats,
    /// Medium-block segments (blocks up to 128 KiB, 512 KiB pages).
    pub medium: PagedStats,
    /// Large regions live (including one kept per heap for reuse).
    pub large_regions: usize,
    /// Bytes of arena slots held by live large regions (direct mappings,
    /// beyond an arena, are not included).
    pub large_bytes: usize,
}

fn paged(kind: u8, pages: usize) -> PagedStats {
    let (segments, in_pages, free_dirty, abandoned_segments) = segment::paged_figures(kind);
    let slot = usize::from(kind == KIND_MEDIUM);
    let carved = CARVED_BYTES[slot].load(StatOrdering::Relaxed);
    let live = LIVE_BYTES[slot].load(StatOrdering::Relaxed);
    // Counted with `live` by the same walk; of different moments across
    // heaps, so never above it.
    let remote_pending = PENDING_BYTES[slot].load(StatOrdering::Relaxed).min(live);
    let abandoned_live = ABANDONED_LIVE_BYTES[slot].load(StatOrdering::Relaxed);
    let page_bytes = segment::SEGMENT_SIZE_BYTES / pages;
    let usable = segments * (pages - 1) * page_bytes;
    // Read after `in_pages`: a page claimed and carved in between could
    // make it exceed `in_pages` for one snapshot.
    let carved = carved.min(in_pages);
    PagedStats {
        segments,
        in_pages,
        carved,
        free_dirty,
        free_purged: usable.saturating_sub(in_pages + free_dirty),
        abandoned_segments,
        live,
        remote_pending,
        abandoned_live,
        // The counts are of different moments: never below zero.
        free_in_pages: carved.saturating_sub(live + abandoned_live),
    }
}

/// Read the current figures. Allocates nothing, takes no lock.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
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
/// # }
/// ```
pub fn stats() -> Stats {
    let heap = thread::current_heap();
    if !thread::is_sentinel(heap) {
        // SAFETY: the calling thread's heap, between its own operations.
        unsafe { crate::heap::publish_live(heap) };
    }
    let small = paged(KIND_SMALL, SMALL_PAGES);
    let medium = paged(KIND_MEDIUM, MEDIUM_PAGES);
    let live_regions = segment::live_segments();
    let arena_slots_in_use = arena::slots_in_use();
    let cached_bytes = segment::cached_bytes();
    let paged_segments = small.segments + medium.segments;
    let slot_bytes = arena_slots_in_use * segment::SEGMENT_SIZE_BYTES;
    Stats {
        os: os::counters(),
        arenas: crate::state::globals().arenas.arena_count(),
        arena_slots_in_use,
        live_regions,
        cached_bytes,
        cached_dirty_bytes: segment::cached_dirty_bytes(),
        abandoned_segments: segment::abandoned_segments(),
        live_heaps: thread::live_heaps(),
        user_heaps: thread::user_heaps(),
        small,
        medium,
        large_regions: live_regions.saturating_sub(paged_segments),
        large_bytes: slot_bytes
            .saturating_sub(cached_bytes)
            .saturating_sub(paged_segments * segment::SEGMENT_SIZE_BYTES),
    }
}
