//! Large blocks: requests beyond the largest size class.
//!
//! A large block gets a region of its own: a run of arena slots (or, beyond an
//! arena or for alignments of a segment and more, a direct kernel mapping)
//! whose [`SegmentHeader`] says `KIND_LARGE` and records the size, so a free
//! finds it in O(1) by masking, like every other block. Freed regions go to
//! the segment cache, so repeated large allocations of similar sizes do not
//! enter the kernel; the cache purges what sits unused (see `segment`).
//!
//! Layout: the block starts at `large_offset` = max(header size, alignment)
//! from the region start. For an alignment of a whole segment or more the
//! block starts exactly one segment in, on an `align` boundary, and the header
//! sits one segment below it (where `segment_of` looks for it).
//!
//! Zeroing: a region fresh from an arena or the kernel reads as zero; a
//! recycled one is zeroed only up to its `dirty_bytes`.
//!
//! Each heap keeps the last one-segment region its thread freed (see
//! `heap::keep_large_region`), so a thread that allocates and frees a large
//! block in a loop touches no shared cache line at all.

use crate::arena::{SEGMENT_SHIFT, SEGMENT_SIZE};
use crate::heap;
use crate::os;
use crate::segment::{self, Origin, Region, SegmentHeader, KIND_LARGE, LARGE_HEADER_SIZE};
use crate::sync::Ordering;
use crate::thread;
use core::ptr;

/// Dirty bytes from which a moving `realloc` may remap pages instead of
/// copying them. Measured with `examples/realloc_move_cost.rs` (this VM):
/// copying into fresh memory costs about 3 us per 4 KiB page (the page
/// faults), remapping about 15 ns per page plus two syscalls; but remapping
/// onto memory that is already committed makes the kernel drop it first,
/// which costs more than copying into it (0.5 MiB: 64 us remapped, 22 us
/// copied). So pages move only into a region that is mostly uncommitted.
pub const MOVE_PAGES_FROM: usize = 256 * 1024;

/// Slots needed for a block of `size` at `offset`.
fn slots_for(offset: usize, size: usize) -> Option<usize> {
    Some(offset.checked_add(size)?.div_ceil(SEGMENT_SIZE))
}

/// Allocate a large block; null if out of memory or the request is impossible.
///
/// # Safety
/// `align` is a power of two.
pub unsafe fn allocate(size: usize, align: usize, zero: bool) -> *mut u8 {
    // SAFETY: forwarded; an acquired region is exclusively ours.
    unsafe {
        match acquire(size, align) {
            Some((region, offset)) => init(&region, size, offset, zero),
            None => ptr::null_mut(),
        }
    }
}

/// A region for a block of `size` at `align`, and the block's offset in it.
///
/// # Safety
/// `align` is a power of two.
unsafe fn acquire(size: usize, align: usize) -> Option<(Region, usize)> {
    if align >= SEGMENT_SIZE {
        // Header one segment below an `align` boundary.
        let span = size
            .checked_next_multiple_of(os::PAGE_SIZE)?
            .checked_add(SEGMENT_SIZE)?;
        let region = segment::acquire_direct_aligned(span, align, SEGMENT_SIZE % align)?;
        Some((region, SEGMENT_SIZE))
    } else {
        let offset = align.max(LARGE_HEADER_SIZE);
        let slots = slots_for(offset, size)?;
        // A thread whose first allocation is large gets its heap here, so
        // that it keeps its last freed region like any other thread.
        let mut heap = thread::current_heap();
        if thread::is_sentinel(heap) {
            heap = thread::init_heap();
        }
        // SAFETY: `heap` is this thread's (or the sentinel, which keeps none).
        let kept = unsafe { heap::take_large_region(heap, slots) };
        let region = kept.or_else(|| segment::acquire_region(slots))?;
        Some((region, offset))
    }
}

/// Write a large header into `region` and return its block.
///
/// # Safety
/// `region` is exclusively the caller's and spans `offset + size` bytes.
unsafe fn init(region: &Region, size: usize, offset: usize, zero: bool) -> *mut u8 {
    // SAFETY: the region is ours and large enough.
    unsafe {
        let header = segment::init_header(region, KIND_LARGE, 0);
        (*header).large_size = size;
        (*header).large_offset = offset;
        let block = region.base.add(offset);
        if zero && region.dirty_bytes > offset {
            ptr::write_bytes(block, 0, size.min(region.dirty_bytes - offset));
        }
        (*header).dirty_bytes = region.dirty_bytes.max(offset + size);
        block
    }
}

/// Free the large block whose header is `header`.
///
/// # Safety
/// `header` heads a live large region; its block is not used afterwards.
pub unsafe fn free(header: *mut SegmentHeader) {
    // SAFETY: forwarded; the region is ours to give up, to this thread's heap
    // (one region, no atomics) or to the shared cache; a region a
    // `tinyalloc::Heap` owns is marked for that heap to release.
    unsafe {
        if (*header).owner.load(Ordering::Relaxed) != 0 && heap::free_large_remote(header) {
            return;
        }
        if !heap::keep_large_region(thread::current_heap(), header) {
            segment::release_region(header)
        }
    }
}

/// Bytes usable in the block of `header`: up to the end of its region. The
/// caller may now write all of them, so the region counts as dirty to its
/// end (a later `alloc_zeroed` that recycles it must clear them).
///
/// # Safety
/// `header` heads a live large region owned by the caller's block.
pub unsafe fn usable_size(header: *mut SegmentHeader) -> usize {
    // SAFETY: the header is live and the block is the caller's.
    unsafe {
        let end = (*header).origin.size();
        (*header).dirty_bytes = end;
        end - (*header).large_offset
    }
}

/// Resize the large block of `header` (`old_size` bytes of it in use) to
/// `new_size` bytes at `align`: in place if the region allows, else in a new
/// region. A block with at least [`MOVE_PAGES_FROM`] dirty bytes moves by
/// remapping its pages (no byte copied; see `segment::move_region`); a
/// smaller one is copied. Null if out of memory (the block is untouched).
///
/// # Safety
/// `header` heads a live large region owned by the caller's block, which was
/// allocated with `align`; `old_size` is at most its usable size.
pub unsafe fn reallocate(
    header: *mut SegmentHeader,
    old_size: usize,
    new_size: usize,
    align: usize,
) -> *mut u8 {
    // SAFETY: the caller owns the block and its region; an acquired region is
    // exclusively ours until it is published by returning its block.
    unsafe {
        if resize_in_place(header, new_size) {
            return header.cast::<u8>().add((*header).large_offset);
        }
        let Some((mut region, offset)) = acquire(new_size, align) else {
            return ptr::null_mut();
        };
        let old_offset = (*header).large_offset;
        let old_dirty = (*header).dirty_bytes;
        // Move pages when there are enough of them and the new region's
        // memory is mostly not committed: copying into committed memory is
        // cheaper than making the kernel drop it first (see MOVE_PAGES_FROM).
        // (Not a region a `tinyalloc::Heap` owns: its list holds the header.)
        if old_offset == offset
            && old_dirty >= MOVE_PAGES_FROM
            && (*header).owner.load(Ordering::Relaxed) == 0
            && region.dirty_bytes < old_dirty / 2
            && segment::move_region(header, &mut region)
        {
            // The old header moved with the pages; `init` rewrites it.
            return init(&region, new_size, offset, false);
        }
        let block = init(&region, new_size, offset, false);
        let old_block = header.cast::<u8>().add(old_offset);
        ptr::copy_nonoverlapping(old_block, block, old_size.min(new_size));
        free(header);
        block
    }
}

/// Resize the block of `header` to `new_size` without moving it, if its region
/// has room or can grow into the arena slots right after it. Shrinking by
/// whole segments returns them to the arena.
///
/// # Safety
/// `header` heads a live large region owned by the caller's block.
pub unsafe fn resize_in_place(header: *mut SegmentHeader, new_size: usize) -> bool {
    // SAFETY: the caller owns the block, hence the region.
    unsafe {
        let offset = (*header).large_offset;
        let Some(needed) = slots_for(offset, new_size) else {
            return false;
        };
        let origin = (*header).origin;
        let have = origin.size() >> SEGMENT_SHIFT;
        match origin {
            Origin::Arena(_) if needed < have => segment::shrink_region(header, needed),
            Origin::Arena(run) if needed > have => {
                match crate::state::globals().arenas.try_grow(run, needed) {
                    Some(grown) => (*header).origin = Origin::Arena(grown),
                    None => return false,
                }
            }
            // A direct mapping's size need not be whole segments (huge
            // alignments): compare bytes.
            Origin::Direct { size, .. } if offset + new_size > size => return false,
            _ => {}
        }
        (*header).large_size = new_size;
        (*header).dirty_bytes = (*header).dirty_bytes.max(offset + new_size);
        true
    }
}
