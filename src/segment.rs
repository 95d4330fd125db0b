//! Segments: segment-aligned regions whose header sits at their start.
//!
//! Every block tinyalloc hands out lies in a region that starts on a
//! [`SEGMENT_SIZE`] boundary, with a [`SegmentHeader`] there, so the owner of
//! any pointer is found by masking: [`segment_of`]. A *paged* segment (small or
//! medium) is cut into equal pages, page 0 holding the header; the page of a
//! block is `(ptr - segment) >> page_shift`. A *large* region holds one block
//! at `large_offset`.
//!
//! Regions come from the [`SegmentCache`] first, then from an arena, and for
//! requests beyond an arena from the kernel directly. Direct mappings are
//! marked in the segment map (`segment_map`) while they exist, as arenas
//! are, so [`known_header`] can refuse a foreign pointer before its would-be
//! header is read. A live paged segment's slot holds its page shift there
//! instead ([`new_paged`] sets it before any block is handed out,
//! [`release_region`] puts the plain mark back before the region is handed
//! on), so a free of one of its blocks needs no header tag. Freed regions go back to the cache; a region that does
//! not fit there, that sat in it longer than [`PURGE_DELAY_MS`], or that
//! falls past the cache's bound when use falls, is purged and returned to its
//! arena (or unmapped).
//!
//! Abandoned segments (their thread exited while blocks were live) wait on a
//! `TaggedStack` per kind until a heap adopts them.
//!
//! Invariants:
//! - `owner` is the address of the owning heap, or 0: paged segments are owned
//!   by exactly one heap or sit on an abandoned stack; large regions have no
//!   owner (any thread frees them directly), except those of a
//!   `tinyalloc::Heap`, which it releases (see `heap::own_large`);
//! - `stack_link` is only ever written atomically: a stalled stack popper may
//!   read it long after the segment was reused (type-stable memory);
//! - `dirty_bytes` bounds the prefix of the region that may be non-zero.

use crate::arena::{SlotRun, ARENA_SLOTS, SEGMENT_SHIFT, SEGMENT_SIZE};
use crate::ds::tagged_stack::StackNode;
use crate::os;
use crate::page::{self, Page};
use crate::segment_map;
use crate::state::globals;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering, StatOrdering};
use core::ptr;

/// Segment kind: small pages.
pub const KIND_SMALL: u8 = 1;
/// Segment kind: medium pages.
pub const KIND_MEDIUM: u8 = 2;
/// Segment kind: one large block.
pub const KIND_LARGE: u8 = 3;
/// Segment kind: a region given back (cached, or returned): any free into it
/// is a double free or a dangling pointer.
pub const KIND_RELEASED: u8 = 4;
/// Mixed into every header's tag so that zeroed or foreign memory does not
/// look like a header.
const TAG_KEY: usize = 0x5EC7_A110_C000_0000;

/// Small pages are 64 KiB.
#[cfg(not(feature = "loom"))]
pub const SMALL_PAGE_SHIFT: usize = 16;
/// Medium pages are 512 KiB.
#[cfg(not(feature = "loom"))]
pub const MEDIUM_PAGE_SHIFT: usize = 19;
/// Blocks up to this size live in small pages; larger ones in medium pages.
#[cfg(not(feature = "loom"))]
pub const SMALL_BLOCK_MAX: usize = 8 * 1024;
/// Under loom segments are 64 KiB: 16 small pages of 4 KiB.
#[cfg(feature = "loom")]
pub const SMALL_PAGE_SHIFT: usize = 12;
/// Under loom: 4 medium pages of 16 KiB (medium classes above 16 KiB do not
/// fit one; the models use small and large blocks only).
#[cfg(feature = "loom")]
pub const MEDIUM_PAGE_SHIFT: usize = 14;
/// Under loom: blocks up to 1 KiB live in small pages.
#[cfg(feature = "loom")]
pub const SMALL_BLOCK_MAX: usize = 1024;
/// Bytes per segment (re-exported for the statistics).
pub const SEGMENT_SIZE_BYTES: usize = SEGMENT_SIZE;
/// Pages per small segment (page 0 holds the header).
pub const SMALL_PAGES: usize = SEGMENT_SIZE >> SMALL_PAGE_SHIFT;
/// Pages per medium segment (page 0 holds the header).
pub const MEDIUM_PAGES: usize = SEGMENT_SIZE >> MEDIUM_PAGE_SHIFT;
/// Bytes reserved for the header in front of a large block.
pub const LARGE_HEADER_SIZE: usize = 8 * 1024;

/// How long a free region may sit in the cache before it is purged, by
/// default (`TINYALLOC_PURGE_DELAY_MS` changes it: see `config`).
pub const PURGE_DELAY_MS: u64 = 100;
/// A free page inside a segment is purged after the purge delay divided by
/// this (10 ms by default). A page is a small unit that its heap refills
/// from its own slow paths within milliseconds if it needs it at all, while
/// a region in the cache waits for any thread's next segment or large
/// block; mimalloc makes the same split (its page purge delay, 10 ms, and
/// ten times that for arena memory). With one delay for both, a heap that
/// lives tens of milliseconds (a larson generation) never purged the pages
/// its predecessor's blocks left empty (papers/evaluation.md, stop 22).
pub const PAGE_PURGE_DIVISOR: u64 = 10;
/// How often a slow path may run a purge pass.
pub const PURGE_INTERVAL_MS: u64 = 10;
/// The cache bound before it scales with use.
pub(crate) const CACHE_BASE_LIMIT: usize = 8 << 20;

/// Where a region's memory came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A run of arena slots.
    Arena(SlotRun),
    /// A direct kernel mapping of `size` bytes aligned to `align`.
    Direct { size: usize, align: usize },
}

impl Origin {
    /// Bytes the region spans.
    pub fn size(&self) -> usize {
        match *self {
            Origin::Arena(run) => (run.count as usize) << SEGMENT_SHIFT,
            Origin::Direct { size, .. } => size,
        }
    }
}

/// The header at the start of every region.
///
/// In a paged segment it takes the place of page 0's record (page 0 is the
/// header page, never a usable page): the page records are one array at a
/// [`Page`] stride from the header's start ([`pages`]), each page's hot line
/// 64-byte aligned, and the whole fits [`LARGE_HEADER_SIZE`]. Its first word
/// (`large_offset`, 0 in a paged segment) reads as page 0's `block_limit`,
/// so no pointer into the header page passes a free's block test.
#[repr(C, align(64))]
pub struct SegmentHeader {
    /// Offset of a large block from the region start (0 in a paged segment:
    /// page 0's `block_limit`, see above).
    pub large_offset: usize,
    /// `address ^ TAG_KEY ^ kind`: proves the header is tinyalloc's and says
    /// its kind, in one load (see [`tagged_kind`]).
    pub tag: usize,
    /// `KIND_SMALL`, `KIND_MEDIUM` or `KIND_LARGE`.
    pub kind: u8,
    /// log2 of the page size (paged segments).
    pub page_shift: u8,
    /// Pages in the segment, including the header page.
    pub page_count: u16,
    /// Unused pages whose memory is not purged yet (owner only).
    pub dirty_free_pages: u32,
    /// Pages in use, not counting the header page (owner only).
    pub used_pages: usize,
    /// The requested size of a large block.
    pub large_size: usize,
    /// Where the memory came from.
    pub origin: Origin,
    /// Bytes from the start that may be non-zero.
    pub dirty_bytes: usize,
    /// Bytes of a paged segment's header page that may be non-zero (the
    /// header, or more if the region was dirty there before).
    pub header_dirty_bytes: u32,
    /// Blocks live when the segment was last abandoned (written before it
    /// goes on the abandoned stack, read by whoever takes it off): see
    /// `heap::take_over_count`.
    pub abandoned_blocks: u32,
    /// Links in the owner heap's segment list.
    pub heap_prev: *mut SegmentHeader,
    /// Links in the owner heap's segment list.
    pub heap_next: *mut SegmentHeader,
    /// The owning heap's address, or 0 (abandoned, or a large region).
    pub owner: AtomicUsize,
    /// Link word for the abandoned stacks (see [`StackNode`]).
    pub stack_link: AtomicPtr<SegmentHeader>,
    /// While the segment is abandoned: its blocks still live, counted down
    /// (wrapping) by the frees that find its pages marked abandoned; the
    /// free that takes it from 1 to 0 drains the segment. Whoever takes the
    /// segment over adds back what makes the count 0 once the frees still
    /// counting land. See `heap::on_abandoned_free`.
    pub abandoned_live: AtomicUsize,
    /// The records of pages 1.. (paged segments); reach them through
    /// [`pages`], indexed by page number.
    later_pages: [Page; SMALL_PAGES - 1],
}

const _: () = assert!(core::mem::size_of::<SegmentHeader>() <= LARGE_HEADER_SIZE);
const _: () = assert!(core::mem::size_of::<SegmentHeader>() <= 1 << SMALL_PAGE_SHIFT);
// The header is page 0's record: page `i`'s is `i` records from its start.
const _: () =
    assert!(core::mem::offset_of!(SegmentHeader, later_pages) == core::mem::size_of::<Page>());
const _: () = assert!(
    core::mem::offset_of!(SegmentHeader, large_offset) == core::mem::offset_of!(Page, block_limit)
);

// SAFETY: `stack_link` is the node's one link word for its whole life, and
// segment memory is never unmapped while a stack can reach it (arena memory is
// never unmapped; direct mappings are large regions, never on a stack).
unsafe impl StackNode for SegmentHeader {
    fn link(&self) -> &AtomicPtr<SegmentHeader> {
        &self.stack_link
    }
}

/// The header of the region holding `ptr`.
///
/// `ptr - 1` rather than `ptr`: a block is never at offset 0 of its own region
/// (the header is there), so this finds the right header for every block,
/// including a large block with an alignment of a whole segment or more, whose
/// header sits one segment below it.
///
/// The header is not part of the caller's block, so its pointer must not
/// carry the block's provenance (a `Box`'s pointer only covers its block):
/// it takes the provenance of the region's reservation, which
/// `os::reserve_aligned` exposed. (Deriving it from `ptr` is what Miri's
/// Stacked Borrows check reported.)
#[inline(always)]
pub fn segment_of(ptr: *mut u8) -> *mut SegmentHeader {
    let header = ptr.addr().wrapping_sub(1) & !(SEGMENT_SIZE - 1);
    ptr::with_exposed_provenance_mut(header)
}

/// The kind recorded in `segment`'s tag: `KIND_SMALL`..`KIND_RELEASED` for a
/// tinyalloc header, anything else for memory that is not one.
///
/// # Safety
/// `segment` must be readable (a live region's header, or mapped memory).
#[inline(always)]
pub unsafe fn tagged_kind(segment: *mut SegmentHeader) -> usize {
    // SAFETY: forwarded.
    unsafe { (*segment).tag ^ segment as usize ^ TAG_KEY }
}

fn tag_for(segment: *mut SegmentHeader, kind: u8) -> usize {
    segment as usize ^ TAG_KEY ^ kind as usize
}

/// The page records of a paged segment, indexed by page number: record 0
/// is the header itself (its first word reads as a `block_limit` of 0),
/// records 1.. are pages 1.., at a 128-byte stride.
#[inline(always)]
pub fn pages(segment: *mut SegmentHeader) -> *mut Page {
    segment.cast::<Page>()
}

/// The page of a paged segment that holds `ptr`.
///
/// # Safety
/// `segment` must be the paged segment holding `ptr`.
#[inline(always)]
pub unsafe fn page_of(segment: *mut SegmentHeader, ptr: *mut u8) -> *mut Page {
    // Masked rather than `ptr - segment`: the same for a pointer in the
    // segment, and still a page of it for any other (a freed pointer at the
    // segment's very end, whose `segment_of` is this one).
    // SAFETY: `ptr` lies in the segment, so the index is below `page_count`.
    unsafe {
        let index = (ptr.addr() & (SEGMENT_SIZE - 1)) >> (*segment).page_shift;
        pages(segment).add(index)
    }
}

/// The paged segment's header `segment_map::paged_shift(ptr)` speaks of:
/// `segment_of(ptr)` for a pointer in the map's range (a block of a paged
/// segment is never at its offset 0), else the in-range segment its slot
/// aliases (whose block-start test then rejects `ptr`). From the slot
/// rather than masking `ptr`: one shift.
#[inline(always)]
pub fn paged_segment_of(ptr: *mut u8) -> *mut SegmentHeader {
    // Provenance as in `segment_of`.
    ptr::with_exposed_provenance_mut(segment_map::slot_base(ptr.addr()))
}

/// [`page_of`] with the page shift given (from the segment map).
///
/// # Safety
/// `segment` is a live paged segment whose page shift is `shift`, at
/// `ptr`'s slot (`ptr` need not be in it: the index is masked).
#[inline(always)]
pub unsafe fn page_at(segment: *mut SegmentHeader, ptr: *mut u8, shift: u32) -> *mut Page {
    // SAFETY: the index is below the segment's `page_count`.
    unsafe {
        let index = (ptr.addr() & (SEGMENT_SIZE - 1)) >> shift;
        pages(segment).add(index)
    }
}

/// The stats slot of a paged segment.
///
/// # Safety
/// `segment` is a paged segment's header.
unsafe fn slot(segment: *mut SegmentHeader) -> usize {
    // SAFETY: forwarded.
    unsafe { ((*segment).kind - KIND_SMALL) as usize }
}

/// Bytes of unused pages still dirty, both paged kinds.
pub fn free_dirty_bytes() -> usize {
    globals().free_dirty_bytes[0].load(StatOrdering::Relaxed)
        + globals().free_dirty_bytes[1].load(StatOrdering::Relaxed)
}

/// Bytes of cached regions' dirty prefixes.
pub fn cached_dirty_bytes() -> usize {
    globals().cached_dirty_bytes.load(StatOrdering::Relaxed)
}

/// The dirty prefix a cached region is counted with (its header is not
/// written while it is cached, so insert and removal agree).
///
/// # Safety
/// `header` heads a region the caller holds or just took from the cache.
unsafe fn cached_dirty(header: *mut SegmentHeader) -> usize {
    // SAFETY: forwarded.
    unsafe { dirty_end((*header).dirty_bytes, (*header).origin) }
}

/// Where the pages of one paged kind are (see [`crate::stats::PagedStats`]):
/// `(segments, in-use page bytes, dirty free page bytes, abandoned segments)`.
pub fn paged_figures(kind: u8) -> (usize, usize, usize, usize) {
    let k = (kind - KIND_SMALL) as usize;
    (
        globals().paged_segments[k].load(StatOrdering::Relaxed),
        globals().pages_in_use_bytes[k].load(StatOrdering::Relaxed),
        globals().free_dirty_bytes[k].load(StatOrdering::Relaxed),
        globals().abandoned_by_kind[k].load(StatOrdering::Relaxed),
    )
}

/// A region just acquired: exclusively the caller's.
pub struct Region {
    /// Segment-aligned start.
    pub base: *mut u8,
    /// Where it came from.
    pub origin: Origin,
    /// Bytes from `base` that may be non-zero.
    pub dirty_bytes: usize,
}

/// Acquire a region of `slots` segments: from the cache, an arena, or (beyond
/// an arena) the kernel. `None` when out of memory.
pub fn acquire_region(slots: usize) -> Option<Region> {
    maybe_purge();
    if slots <= ARENA_SLOTS {
        if let Some(cached) = globals().cache.take(slots) {
            let header = cached.base.cast::<SegmentHeader>();
            globals().live_segments.fetch_add(1, StatOrdering::Relaxed);
            // SAFETY: the region is ours now; its header is intact.
            let dirty = unsafe { cached_dirty(header) };
            globals()
                .cached_dirty_bytes
                .fetch_sub(dirty, StatOrdering::Relaxed);
            // SAFETY: the cache handed us the region exclusively; its header
            // was written by the previous holder before it was inserted
            // (happens-before through the cache's Release/Acquire).
            return Some(unsafe {
                Region {
                    base: cached.base,
                    origin: (*header).origin,
                    dirty_bytes: (*header).dirty_bytes,
                }
            });
        }
        if let Some(run) = globals().arenas.claim(slots) {
            globals().live_segments.fetch_add(1, StatOrdering::Relaxed);
            return Some(Region {
                base: run.base,
                origin: Origin::Arena(run),
                dirty_bytes: 0,
            });
        }
    }
    let size = slots.checked_mul(SEGMENT_SIZE)?;
    let base = reserve_direct(size, SEGMENT_SIZE, 0)?;
    globals().live_segments.fetch_add(1, StatOrdering::Relaxed);
    Some(Region {
        base,
        origin: Origin::Direct {
            size,
            align: SEGMENT_SIZE,
        },
        dirty_bytes: 0,
    })
}

/// Map a region of `size` bytes whose address plus `offset` is `align`-aligned,
/// straight from the kernel (for huge alignments).
pub fn acquire_direct_aligned(size: usize, align: usize, offset: usize) -> Option<Region> {
    let base = reserve_direct(size, align, offset)?;
    globals().live_segments.fetch_add(1, StatOrdering::Relaxed);
    Some(Region {
        base,
        origin: Origin::Direct { size, align },
        dirty_bytes: 0,
    })
}

/// Map a direct region and mark it in the segment map; `None` if the kernel
/// refuses or the map cannot cover it.
fn reserve_direct(size: usize, align: usize, offset: usize) -> Option<*mut u8> {
    let base = os::reserve_aligned(size, align, offset)?;
    if !known::register_direct(base) {
        // SAFETY: just mapped with this shape, never handed out.
        unsafe { os::release(base, size, align) };
        return None;
    }
    Some(base)
}

/// Tag a region as given back, so a free into it is caught as a double free,
/// while its holder keeps it for reuse.
///
/// # Safety
/// The caller owns the region.
pub unsafe fn mark_released(header: *mut SegmentHeader) {
    // SAFETY: the caller owns the header.
    unsafe { (*header).tag = tag_for(header, KIND_RELEASED) };
}

/// Give a region back: to the cache if it fits, else purged to its arena or
/// unmapped.
///
/// # Safety
/// `header` must start a region the caller owns exclusively, with an accurate
/// `origin` and `dirty_bytes`; nothing may use it afterwards.
pub unsafe fn release_region(header: *mut SegmentHeader) {
    globals().live_segments.fetch_sub(1, StatOrdering::Relaxed);
    // SAFETY: the caller owns the region and its header.
    unsafe {
        if matches!((*header).kind, KIND_SMALL | KIND_MEDIUM) {
            let k = slot(header);
            globals().paged_segments[k].fetch_sub(1, StatOrdering::Relaxed);
            globals().free_dirty_bytes[k].fetch_sub(
                ((*header).dirty_free_pages as usize) << (*header).page_shift,
                StatOrdering::Relaxed,
            );
            trim_dirty_extent(header);
        }
    }
    // SAFETY: the caller owns the region and its header.
    let origin = unsafe {
        (*header).tag = tag_for(header, KIND_RELEASED);
        (*header).origin
    };
    // Before the region is handed on: a stale free then takes the slow
    // path, which reads the released tag.
    segment_map::set_unpaged(header as usize);
    if let Origin::Arena(run) = origin {
        update_cache_limit();
        // A fresh stamp (a vDSO read): the sampled clock can lag by several
        // region operations, which for a program that frees one big region
        // every few milliseconds means a stamp so old that the next purge
        // pass drops the region it is about to reuse.
        // Counted before the insert publishes it: a taker may subtract at once.
        // SAFETY: the caller owns the region.
        let dirty = unsafe { cached_dirty(header) };
        globals()
            .cached_dirty_bytes
            .fetch_add(dirty, StatOrdering::Relaxed);
        let inserted = globals()
            .cache
            .insert(run.base, run.count as usize, tick_clock());
        if !inserted {
            globals()
                .cached_dirty_bytes
                .fetch_sub(dirty, StatOrdering::Relaxed);
        }
        trim_cache();
        if inserted {
            return;
        }
    }
    // SAFETY: the caller gave up the region; the cache did not take it.
    unsafe { purge_and_return(header.cast(), origin, (*header).dirty_bytes) };
    maybe_purge();
}

/// Cut an empty paged segment's dirty extent to the end of its last dirty
/// page (it is the whole segment from [`new_paged`] on): the cache's dirty
/// figure then says what may be resident, a purge covers no more than
/// that, and the next taker finds the pages past it zero.
///
/// # Safety
/// The caller owns the segment, which has no page in use; its page
/// metadata is accurate.
unsafe fn trim_dirty_extent(header: *mut SegmentHeader) {
    // SAFETY: the caller owns the segment and its page metadata.
    unsafe {
        let pages = pages(header);
        let mut end = (*header).header_dirty_bytes as usize;
        for index in (1..usize::from((*header).page_count)).rev() {
            if (*pages.add(index)).memory_dirty {
                end = (index + 1) << (*header).page_shift;
                break;
            }
        }
        (*header).dirty_bytes = (*header).dirty_bytes.min(end);
    }
}

/// Purge a region's dirty prefix and return it to its arena, or unmap it.
///
/// # Safety
/// The caller owns the region exclusively and gives it up.
unsafe fn purge_and_return(base: *mut u8, origin: Origin, dirty_bytes: usize) {
    match origin {
        Origin::Arena(run) => {
            // SAFETY: the caller owns the region; nobody reads it any more.
            unsafe {
                zero_pages(base, dirty_end(dirty_bytes, origin));
                globals().arenas.release(run);
            }
        }
        Origin::Direct { size, align } => {
            known::unregister_direct(base);
            // SAFETY: a direct mapping is one reservation of exactly this shape.
            unsafe { os::release(base, size, align) }
        }
    }
}

/// The page-rounded end of a region's dirty prefix (`dirty_bytes`), within
/// the region.
fn dirty_end(dirty_bytes: usize, origin: Origin) -> usize {
    dirty_bytes
        .next_multiple_of(os::PAGE_SIZE)
        .min(origin.size())
}

/// Make `[base, base + len)` (whole pages) read as zero: purge it, or, if
/// the kernel refuses, clear it by hand (free arena slots and purged pages
/// promise zero).
///
/// # Safety
/// The caller owns the range and nobody reads it meanwhile.
unsafe fn zero_pages(base: *mut u8, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if !os::purge(base, len) {
            ptr::write_bytes(base, 0, len);
        }
    }
}

/// Move the contents of the region at `header` into `to` by remapping pages
/// (no byte is copied), and give the old region up. Only its dirty prefix
/// moves (the rest reads as zero, like a fresh arena slot); `to.dirty_bytes`
/// grows to cover it. The old header moves too: the caller rewrites it at
/// `to.base`. False if the kernel refused: nothing changed.
///
/// # Safety
/// The caller owns both regions exclusively; nothing uses the old region
/// afterwards (on success). (A `to` too small for the old region's pages
/// is refused, not overrun.)
pub unsafe fn move_region(header: *mut SegmentHeader, to: &mut Region) -> bool {
    // SAFETY: the caller owns both regions; after a successful move the old
    // range reads as zero (refilled) or is unmapped, and nobody reaches it.
    unsafe {
        let origin = (*header).origin;
        let base = header.cast::<u8>();
        let (span, after) = match origin {
            Origin::Arena(_) => (
                dirty_end((*header).dirty_bytes, origin),
                os::AfterMove::Refill,
            ),
            // A whole direct mapping moves, ending its reservation.
            Origin::Direct { size, align } => (size, os::AfterMove::Release { align }),
        };
        if span > to.origin.size() || to.base == base {
            // The pages would not fit (or would land on themselves): copy.
            return false;
        }
        let outcome = os::move_pages(base, to.base, span, after);
        if outcome == os::MoveOutcome::NotMoved {
            return false;
        }
        globals().live_segments.fetch_sub(1, StatOrdering::Relaxed);
        match origin {
            // Refilled with zero pages: the slots are as good as fresh.
            Origin::Arena(run) if outcome == os::MoveOutcome::Moved => {
                globals().arenas.release(run)
            }
            // The kernel moved the pages but would not map the source again:
            // its slots are a hole now and stay claimed forever (and are no
            // header a free may read).
            Origin::Arena(_) => known::forget_hole(base, span),
            Origin::Direct { .. } => known::unregister_direct(base),
        }
        to.dirty_bytes = to.dirty_bytes.max(span);
        true
    }
}

/// The cache bound tracks use: a base amount plus what is in use outside the
/// cache (counting the region being released). So a program that frees and
/// reallocates a buffer of any size keeps it committed between uses, and
/// cached memory is at most what the program uses plus the base: when use
/// falls, regions past the new bound are purged at once, oldest first (the
/// [`PURGE_DELAY_MS`] ageing only covers what is within the bound).
/// A bound fixed by configuration (`config::cache_limit`) replaces it, and is
/// stored again on every release, so a racing update cannot undo it for long.
fn update_cache_limit() {
    let limit = crate::config::cache_limit().unwrap_or_else(|| {
        let claimed = crate::arena::slots_in_use() << SEGMENT_SHIFT;
        let in_use = claimed.saturating_sub(globals().cache.cached_bytes());
        CACHE_BASE_LIMIT + in_use
    });
    globals().cache.set_limit(limit);
}

/// Purge cached regions past the cache's bound, oldest first.
fn trim_cache() {
    let limit = globals().cache.limit();
    if globals().cache.cached_bytes() > limit {
        globals().cache.trim_to(limit, |region| {
            let header = region.base.cast::<SegmentHeader>();
            // SAFETY: the trim took the region exclusively from the cache;
            // its header is intact.
            unsafe {
                globals()
                    .cached_dirty_bytes
                    .fetch_sub(cached_dirty(header), StatOrdering::Relaxed);
                purge_and_return(region.base, (*header).origin, (*header).dirty_bytes)
            }
        });
    }
}

/// Apply the configured cache bound now (`config` calls this when it
/// changes); the next release trims the cache to it.
pub(crate) fn apply_cache_limit() {
    update_cache_limit();
}

/// The clock, read on one region operation in eight: stamps and purge
/// deadlines need milliseconds, not a syscall-priced read on every large
/// alloc/free pair.
fn coarse_now() -> u64 {
    if globals().clock_ticks.fetch_add(1, StatOrdering::Relaxed) % 8 == 0 {
        let now = os::now_millis();
        globals().last_now.store(now, Ordering::Relaxed);
        now
    } else {
        globals().last_now.load(Ordering::Relaxed)
    }
}

/// Run a purge pass over the cache if the last one was long enough ago.
pub fn maybe_purge() {
    let now = coarse_now();
    let due = globals().next_purge_at.load(Ordering::Relaxed);
    if now < due {
        return;
    }
    // One thread wins the pass; the others go on.
    if globals()
        .next_purge_at
        .compare_exchange(
            due,
            now + PURGE_INTERVAL_MS,
            Ordering::Relaxed,
            Ordering::Relaxed,
        )
        .is_ok()
    {
        purge_cache(now.saturating_sub(crate::config::purge_delay_ms()));
    }
}

/// Purge and return every cached region inserted at or before `cutoff`.
pub fn purge_cache(cutoff: u64) -> usize {
    globals().cache.purge_older_than(cutoff, |region| {
        let header = region.base.cast::<SegmentHeader>();
        // SAFETY: the purge took the region exclusively from the cache; its
        // header is intact (cached regions are not purged in place).
        unsafe {
            globals()
                .cached_dirty_bytes
                .fetch_sub(cached_dirty(header), StatOrdering::Relaxed);
            purge_and_return(region.base, (*header).origin, (*header).dirty_bytes)
        }
    })
}

/// Bytes in the cache now.
pub fn cached_bytes() -> usize {
    globals().cache.cached_bytes()
}

/// Regions (segments and large regions) live now.
pub fn live_segments() -> usize {
    globals().live_segments.load(StatOrdering::Relaxed)
}

/// Segments on the abandoned stacks now.
pub fn abandoned_segments() -> usize {
    globals().abandoned_count.load(StatOrdering::Relaxed)
}

/// Write the common header fields of a region the caller just acquired.
///
/// # Safety
/// `region` must be exclusively the caller's.
pub unsafe fn init_header(region: &Region, kind: u8, owner: usize) -> *mut SegmentHeader {
    let header = region.base.cast::<SegmentHeader>();
    // SAFETY: the region is ours; fields are written one by one so that the
    // atomics (which a stale stack reader may load) are only written atomically.
    unsafe {
        #[cfg(not(feature = "loom"))]
        {
            (*header).owner.store(owner, Ordering::Relaxed);
            (*header).abandoned_live.store(0, Ordering::Relaxed);
        }
        // Loom atomics are handles into the execution's state: fresh ones
        // for a region that may be fresh (zeroed) memory.
        #[cfg(feature = "loom")]
        {
            ptr::addr_of_mut!((*header).owner).write(AtomicUsize::new(owner));
            ptr::addr_of_mut!((*header).stack_link).write(AtomicPtr::new(ptr::null_mut()));
            ptr::addr_of_mut!((*header).abandoned_live).write(AtomicUsize::new(0));
        }
        (*header).kind = kind;
        (*header).tag = tag_for(header, kind);
        (*header).origin = region.origin;
        (*header).dirty_bytes = region.dirty_bytes;
        (*header).heap_prev = ptr::null_mut();
        (*header).heap_next = ptr::null_mut();
        (*header).used_pages = 0;
        (*header).dirty_free_pages = 0;
        (*header).header_dirty_bytes = 0;
        (*header).abandoned_blocks = 0;
        (*header).page_shift = 0;
        (*header).page_count = 0;
        (*header).large_size = 0;
        (*header).large_offset = 0;
    }
    header
}

/// A new paged segment of `kind`, owned by `owner`.
pub fn new_paged(kind: u8, owner: usize) -> Option<*mut SegmentHeader> {
    let region = acquire_region(1)?;
    let (shift, count) = if kind == KIND_SMALL {
        (SMALL_PAGE_SHIFT, SMALL_PAGES)
    } else {
        (MEDIUM_PAGE_SHIFT, MEDIUM_PAGES)
    };
    // SAFETY: the region is exclusively ours.
    unsafe {
        let header = init_header(&region, kind, owner);
        let dirty = region.dirty_bytes;
        // The cache may hand out a bigger region than asked for: give the
        // extra slots back (purged), so the header's one-segment dirty extent
        // below is the truth for the whole region.
        shrink_region(header, 1);
        (*header).page_shift = shift as u8;
        (*header).page_count = count as u16;
        // The whole segment may be written from now on.
        (*header).dirty_bytes = SEGMENT_SIZE;
        // At most a page (512 KiB): fits the u32.
        (*header).header_dirty_bytes = dirty
            .min(1 << shift)
            .max(core::mem::size_of::<SegmentHeader>())
            as u32;
        // Page 0's record is the header: pages 1.. only. A record in the
        // region's zero part reads as `Page::empty()` already (all zero
        // bits: an unused page whose memory is zero), so only the records
        // the region's last use may have written are written here, and a
        // fresh segment commits the records of the pages it uses, not all
        // of them (4 KiB of its 8 KiB header per thread). Loom's atomics
        // are handles, not bits: there every record is written.
        let written = if cfg!(feature = "loom") {
            count
        } else {
            count.min(dirty.div_ceil(core::mem::size_of::<Page>()))
        };
        for index in 1..written {
            let page = pages(header).add(index);
            // No pusher can reach a page of a segment nobody owned a moment
            // ago, so a plain write of the whole metadata is race-free.
            page.write(Page::empty());
            // Pages past the region's dirty prefix read as zero (a segment
            // purged before release keeps only its header dirty).
            (*page).memory_dirty = index << shift < dirty;
            if (*page).memory_dirty {
                // A recycled segment's dirty pages: count them for purging.
                (*page).freed_at = clock();
                (*header).dirty_free_pages += 1;
            }
        }
        let k = slot(header);
        globals().paged_segments[k].fetch_add(1, StatOrdering::Relaxed);
        globals().free_dirty_bytes[k].fetch_add(
            ((*header).dirty_free_pages as usize) << shift,
            StatOrdering::Relaxed,
        );
        // Before any block is handed out: the free fast path reads this.
        segment_map::set_paged(header as usize, shift);
        Some(header)
    }
}

/// Shrink an arena region to its first `slots` slots: purge the dirty part of
/// the tail, then return the tail's slots to the arena (free slots read as
/// zero). Direct mappings and regions of at most `slots` slots are left as
/// they are.
///
/// # Safety
/// The caller owns the region at `header`, whose `origin` and `dirty_bytes`
/// are accurate, and uses nothing past its first `slots` slots any more.
pub unsafe fn shrink_region(header: *mut SegmentHeader, slots: usize) {
    // SAFETY: the caller owns the region and gives up its tail.
    unsafe {
        let Origin::Arena(run) = (*header).origin else {
            return;
        };
        if run.count as usize <= slots {
            return;
        }
        let keep = slots << SEGMENT_SHIFT;
        let dirty = dirty_end((*header).dirty_bytes, (*header).origin);
        if dirty > keep {
            zero_pages(header.cast::<u8>().add(keep), dirty - keep);
            (*header).dirty_bytes = keep;
        }
        (*header).origin = Origin::Arena(globals().arenas.shrink(run, slots));
    }
}

/// Cache lines a page's colour may skip: classes cycle through this many.
const PAGE_COLORS: usize = 8;
/// The largest block alignment (log2) that a colour of whole cache lines
/// keeps: 64 bytes.
const COLOR_MAX_ALIGN_SHIFT: u32 = 6;

/// How far into its page a page of `class` starts its blocks: `class`
/// modulo [`PAGE_COLORS`] cache lines, for block sizes whose alignment
/// (their largest power-of-two divisor) is at most 64 bytes, so that every
/// block keeps it; 0 for the others. Every heap lays its pages out alike,
/// so without a colour the first blocks of all classes of all heaps agree
/// in their low 16 address bits and map to the same cache sets. Threads
/// each incrementing 8 small objects of their own (`falseshare`) ran 11-18%
/// slower at 2 to 8 threads without it (the mechanism is inferred: this VM
/// has no hardware counters). At most 448 bytes a page.
pub(crate) fn page_color(class: usize, block_size: usize) -> usize {
    if block_size.trailing_zeros() <= COLOR_MAX_ALIGN_SHIFT {
        (class % PAGE_COLORS) * 64
    } else {
        0
    }
}

/// Claim an unused page of `segment` (which must have one) for blocks of
/// `block_size` in `class`.
///
/// # Safety
/// The caller owns `segment`, and `used_pages < page_count - 1`.
pub unsafe fn claim_page(
    segment: *mut SegmentHeader,
    class: usize,
    block_size: usize,
) -> *mut Page {
    // SAFETY: the caller owns the segment and its page metadata.
    unsafe {
        let count = usize::from((*segment).page_count);
        let shift = (*segment).page_shift;
        let pages = pages(segment);
        // A dirty page first: its memory is committed already (no page
        // faults), and every one reused is one fewer to purge.
        let skip_zero = (*segment).dirty_free_pages > 0;
        for index in 1..count {
            let page = pages.add(index);
            if !(*page).in_use && (!skip_zero || (*page).memory_dirty) {
                let k = slot(segment);
                if (*page).memory_dirty {
                    (*segment).dirty_free_pages -= 1;
                    globals().free_dirty_bytes[k].fetch_sub(1 << shift, StatOrdering::Relaxed);
                }
                globals().pages_in_use_bytes[k].fetch_add(1 << shift, StatOrdering::Relaxed);
                let color = page_color(class, block_size);
                let start = segment.cast::<u8>().add((index << shift) + color);
                page::init(page, class, block_size, start, (1 << shift) - color);
                (*segment).used_pages += 1;
                return page;
            }
        }
        unreachable!("claim_page on a full segment")
    }
}

/// Whether `segment` has an unused page.
///
/// # Safety
/// The caller owns `segment`.
#[inline]
pub unsafe fn has_free_page(segment: *mut SegmentHeader) -> bool {
    // SAFETY: owner-only fields.
    unsafe { (*segment).used_pages + 1 < usize::from((*segment).page_count) }
}

/// Mark `page` unused. Returns true if the segment is now empty.
///
/// # Safety
/// The caller owns the segment; `page` has no live blocks.
pub unsafe fn free_page(segment: *mut SegmentHeader, page: *mut Page) -> bool {
    // SAFETY: owner-only fields; the page holds no live blocks, so no remote
    // free can be pending on it.
    unsafe {
        debug_assert!((*page).in_use && (*page).used == 0);
        (*page).in_use = false;
        page::retire_geometry(page);
        if (*page).capacity > 0 {
            (*page).memory_dirty = true;
            let size = (*page).block_size;
            crate::stats::on_page_free(size, (*page).capacity as usize * size);
        }
        let k = slot(segment);
        let page_bytes = 1 << (*segment).page_shift;
        globals().pages_in_use_bytes[k].fetch_sub(page_bytes, StatOrdering::Relaxed);
        if (*page).memory_dirty {
            (*page).freed_at = clock();
            (*segment).dirty_free_pages += 1;
            globals().free_dirty_bytes[k].fetch_add(page_bytes, StatOrdering::Relaxed);
        }
        (*page).free = ptr::null_mut();
        (*page).local_free = ptr::null_mut();
        (*segment).used_pages -= 1;
        (*segment).used_pages == 0
    }
}

/// Give back the memory of a page of `segment` whose every block came back
/// by remote frees while it was parked (its reclaimer holds them all: see
/// `ds::remote_list`), and take its carved bytes out of the figures. The
/// page stays in use until its owner takes it back, empty.
///
/// # Safety
/// The caller reclaims `page` (reclaiming list, not finished yet), a page
/// of the arena segment `segment`.
pub unsafe fn give_back_reclaimed(segment: *mut SegmentHeader, page: *mut Page) {
    // SAFETY: the page is in use, so its segment and geometry stay as they
    // are; its memory holds only free blocks, all the caller's.
    unsafe {
        // The page's memory starts before its first block (its colour).
        let shift = (*segment).page_shift;
        let base = (*page)
            .start
            .map_addr(|address| address & !((1 << shift) - 1));
        zero_pages(base, 1 << shift);
        let size = (*page).block_size;
        crate::stats::on_page_free(size, (*page).capacity as usize * size);
    }
}

/// Purge the unused pages of `segment` that were freed at or before `cutoff`
/// (adjacent pages in one call). Returns the number of pages purged.
///
/// # Safety
/// The caller owns the segment.
pub unsafe fn purge_free_pages(segment: *mut SegmentHeader, cutoff: u64) -> usize {
    // SAFETY: owner-only fields; unused pages hold no live blocks, so nobody
    // reads their memory.
    unsafe {
        if (*segment).dirty_free_pages == 0 {
            return 0;
        }
        let shift = (*segment).page_shift;
        let pages = pages(segment);
        let mut purged = 0;
        let mut run_start = 0;
        let mut run_len = 0;
        for index in 1..=usize::from((*segment).page_count) {
            let purgeable = index < usize::from((*segment).page_count) && {
                let page = pages.add(index);
                !(*page).in_use && (*page).memory_dirty && (*page).freed_at <= cutoff
            };
            if purgeable {
                let page = pages.add(index);
                (*page).memory_dirty = false;
                (*segment).dirty_free_pages -= 1;
                if run_len == 0 {
                    run_start = index;
                }
                run_len += 1;
            } else if run_len > 0 {
                zero_pages(
                    segment.cast::<u8>().add(run_start << shift),
                    run_len << shift,
                );
                purged += run_len;
                run_len = 0;
            }
        }
        globals().free_dirty_bytes[slot(segment)].fetch_sub(purged << shift, StatOrdering::Relaxed);
        purged
    }
}

/// Purge every dirty page of an empty paged segment its owner is about to
/// release, so that it leaves (to the cache or its arena) with only its
/// header resident, and record that in `dirty_bytes`.
///
/// # Safety
/// The caller owns the segment, which has no page in use.
pub unsafe fn purge_empty(segment: *mut SegmentHeader) {
    // SAFETY: the caller owns the segment; no page holds live blocks.
    unsafe {
        debug_assert_eq!((*segment).used_pages, 0);
        purge_free_pages(segment, u64::MAX);
        if (*segment).dirty_free_pages == 0 {
            (*segment).dirty_bytes = (*segment).header_dirty_bytes as usize;
        }
    }
}

/// Milliseconds on a clock that region operations and heap slow paths keep
/// roughly current (see [`coarse_now`]); cheap to read anywhere.
pub fn clock() -> u64 {
    globals().last_now.load(Ordering::Relaxed)
}

/// Read the real clock and publish it to [`clock`].
pub fn tick_clock() -> u64 {
    let now = os::now_millis();
    globals().last_now.store(now, Ordering::Relaxed);
    now
}

/// Push a segment with live blocks onto its kind's abandoned stack.
///
/// # Safety
/// The caller owns `segment` and gives it up; its `owner` must be cleared.
pub unsafe fn abandon(segment: *mut SegmentHeader) {
    // SAFETY: the caller owns the segment; its memory is type-stable.
    unsafe {
        debug_assert_eq!((*segment).owner.load(Ordering::Relaxed), 0);
        globals()
            .abandoned_count
            .fetch_add(1, StatOrdering::Relaxed);
        globals().abandoned_by_kind[slot(segment)].fetch_add(1, StatOrdering::Relaxed);
        globals().abandoned[((*segment).kind - KIND_SMALL) as usize]
            .push(ptr::NonNull::new_unchecked(segment));
    }
}

/// Pop an abandoned segment of `kind`, if any; the caller then owns it.
pub fn pop_abandoned(kind: u8) -> Option<*mut SegmentHeader> {
    let segment = globals().abandoned[(kind - KIND_SMALL) as usize].pop()?;
    globals()
        .abandoned_count
        .fetch_sub(1, StatOrdering::Relaxed);
    globals().abandoned_by_kind[(kind - KIND_SMALL) as usize].fetch_sub(1, StatOrdering::Relaxed);
    Some(segment.as_ptr())
}

/// The header for `ptr`, which may be any address, if the segment map says
/// one may be there (reading it is then safe): `segment_of(ptr)` for every
/// address in the map's range (see `segment_map::lookup` for the others).
#[inline(always)]
pub fn known_header(ptr: *mut u8) -> Option<*mut SegmentHeader> {
    let segment = segment_map::lookup(ptr.addr())?;
    // Provenance as in `segment_of`.
    Some(ptr::with_exposed_provenance_mut(segment))
}

/// Direct mappings in the segment map: their first slot only, where their
/// header is (a free of any other address in them is foreign anyway); and
/// arena slots that became unmapped holes.
mod known {
    use crate::arena::SEGMENT_SIZE;
    use crate::segment_map;

    /// Mark a new direct mapping; false if the map cannot cover it (the
    /// caller then unmaps it and reports out of memory).
    pub(super) fn register_direct(base: *mut u8) -> bool {
        segment_map::insert(base as usize, SEGMENT_SIZE)
    }

    /// Unmark a direct mapping about to be unmapped.
    pub(super) fn unregister_direct(base: *mut u8) {
        segment_map::remove(base as usize, SEGMENT_SIZE)
    }

    /// Unmark the arena slots that start in `[base, base + len)`, which the
    /// kernel left unmapped.
    pub(super) fn forget_hole(base: *mut u8, len: usize) {
        segment_map::remove(base as usize, len)
    }
}
