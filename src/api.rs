//! The allocation entry points shared by the `GlobalAlloc` front and the C ABI.
//!
//! Routing: a request whose size (rounded up to its alignment) fits a size
//! class and whose alignment is at most [`MAX_CLASS_ALIGN`] is served by the
//! calling thread's heap; everything else is a large block. Classes serve
//! alignment naturally: a size rounded up to a power-of-two alignment maps to
//! a class whose block size is a multiple of it (see `size_class`), and pages
//! start on 64 KiB boundaries, so every block of such a class is aligned.
//!
//! A free reads the segment map's byte for its pointer's slot: a live small
//! or medium segment's page shift sends it down the fast path (the segment
//! by masking, the page by that shift, no header tag read), which checks
//! that the pointer starts a block of an in-use page before anything is
//! written; everything else (null, large blocks, misuse) goes to
//! [`deallocate_slow`], which reads the header only where the map says one
//! may be and judges it by its tag (see `checks`). A block is then freed by
//! the owner's local free (no atomics), a remote free (one CAS), or a large
//! free.

use crate::checks;
use crate::heap;
use crate::large;
use crate::page::{self, Page};
use crate::segment::{self, SegmentHeader, KIND_LARGE, KIND_RELEASED, KIND_SMALL};
use crate::segment_map::{self, PAGED_FROM};
use crate::size_class::{self, class_of, class_size, MAX_CLASS_SIZE};
use crate::sync::Ordering;
use crate::thread;
use crate::zero;
use core::ptr;

/// Alignments up to this are served by size classes (the small page size).
pub const MAX_CLASS_ALIGN: usize = 1 << segment::SMALL_PAGE_SHIFT;
/// A block grown by `realloc` past this size becomes a large block (and a
/// large block stays large down to it), so repeated growth happens in place.
const REALLOC_LARGE_FROM: usize = 64 * 1024;

/// Alignment every block has, whatever was asked.
pub const MIN_ALIGN: usize = 8;

/// The smallest size a request is served as: every block has a second word
/// for the freed mark (see `checks`), so the 8-byte class serves nothing.
const MIN_SERVED_SIZE: usize = size_class::MIN_BLOCK_SIZE;

/// Requests up to this size, at alignments a class gives without rounding,
/// find their class in one table lookup (`CLASSES_ALIGN8`,
/// `CLASSES_MALLOC`).
pub const SMALL_MAX: usize = size_class::TABLE_MAX;
/// Slots of the small tables: one per 8 bytes, `(size + 7) / 8`.
pub(crate) const SMALL_SLOTS: usize = SMALL_MAX / 8 + 1;

/// The class serving `size` at `align`, by search (for building tables).
const fn class_by_search(size: usize, align: usize) -> u8 {
    let size = if size < MIN_SERVED_SIZE {
        MIN_SERVED_SIZE
    } else {
        size
    };
    let rounded = (size + align - 1) & !(align - 1);
    let mut class = 0;
    while class_size(class) < rounded {
        class += 1;
    }
    class as u8
}

/// A table from `(size + 7) / 8` to the class, for sizes up to
/// [`SMALL_MAX`] aligned to [`MIN_ALIGN`] or, with `malloc`, to
/// [`MALLOC_ALIGN`] above [`MIN_ALIGN`] bytes. Every size of one slot gets
/// the same class: class sizes and both roundings are multiples of 8.
const fn small_table(malloc: bool) -> [u8; SMALL_SLOTS] {
    let mut table = [0u8; SMALL_SLOTS];
    let mut slot = 0;
    while slot < SMALL_SLOTS {
        let size = slot * 8;
        let align = if malloc && size > MIN_ALIGN {
            MALLOC_ALIGN
        } else {
            MIN_ALIGN
        };
        table[slot] = class_by_search(size, align);
        slot += 1;
    }
    table
}

/// Classes of sizes up to [`SMALL_MAX`] at alignments up to [`MIN_ALIGN`]
/// (every class block has those). A `const`, so a constant size folds.
const CLASSES_ALIGN8: [u8; SMALL_SLOTS] = small_table(false);
/// Classes of `malloc` sizes up to [`SMALL_MAX`] (see [`allocate_malloc`]).
pub(crate) const CLASSES_MALLOC: [u8; SMALL_SLOTS] = small_table(true);

/// The alignment C's `malloc` gives blocks of more than [`MIN_ALIGN`] bytes
/// (`alignof(max_align_t)` on x86-64 and AArch64).
pub const MALLOC_ALIGN: usize = 16;

/// Whether `size` is in the small tables.
#[inline(always)]
fn in_tables(size: usize) -> bool {
    size <= SMALL_MAX
}

/// The class of `size` (`in_tables(size)`) in `table`.
#[inline(always)]
fn small_class(table: &[u8; SMALL_SLOTS], size: usize) -> usize {
    debug_assert!(in_tables(size));
    // SAFETY: `size <= SMALL_MAX`, so the slot is below `SMALL_SLOTS`.
    unsafe { *table.get_unchecked((size + 7) >> 3) as usize }
}

/// The alignment `malloc` gives `size` bytes.
#[inline(always)]
const fn malloc_align(size: usize) -> usize {
    if size <= MIN_ALIGN {
        MIN_ALIGN
    } else {
        MALLOC_ALIGN
    }
}

/// Allocate `size` bytes aligned to `align` (a power of two). Null when out of
/// memory or when no block of that size and alignment can exist.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::raw;
///
/// // SAFETY: the alignments are powers of two; each block is freed once.
/// unsafe {
///     let block = raw::allocate(24, 8);
///     assert!(!block.is_null() && block as usize % raw::MIN_ALIGN == 0);
///     let page = raw::allocate(100, 4096);
///     assert!(!page.is_null() && page as usize % 4096 == 0);
///     // No block can be larger than `isize::MAX` bytes.
///     assert!(raw::allocate(usize::MAX, 8).is_null());
///     raw::deallocate(block);
///     raw::deallocate(page);
/// }
/// # }
/// ```
///
/// # Safety
/// `align` must be a power of two.
#[inline(always)]
pub unsafe fn allocate(size: usize, align: usize) -> *mut u8 {
    if align <= MIN_ALIGN {
        if in_tables(size) {
            // SAFETY: the current heap is this thread's.
            return unsafe {
                heap::alloc(thread::current_heap(), small_class(&CLASSES_ALIGN8, size))
            };
        }
        // Every class block is `MIN_ALIGN`-aligned. (A path of its own, not
        // one `&&` above: LLVM would fold the two tests into flag
        // arithmetic, two instructions more than two predicted jumps.)
        // SAFETY: a power of two.
        return unsafe { allocate_sized(size, MIN_ALIGN) };
    }
    // SAFETY: forwarded.
    unsafe { allocate_sized(size, align) }
}

/// [`allocate`] with the caller's own slow path: a block from the current
/// page of the class serving `size` at `align`, else `slow()` (an empty
/// page, the thread's first block, a large block), so that a caller can run
/// a step of its own before the allocator's slow path (`TinyAlloc` applies
/// its configuration there). Each route tests for its block itself, as
/// [`heap::alloc`] does, so the fast path is [`allocate`]'s. (Handing the
/// class to `slow` would save it a lookup, but lets LLVM merge the routes'
/// tails: one jump more on the fast path, measured.)
///
/// # Safety
/// `align` must be a power of two.
#[inline(always)]
pub(crate) unsafe fn allocate_or(
    size: usize,
    align: usize,
    slow: impl FnOnce() -> *mut u8,
) -> *mut u8 {
    // Shaped as `allocate` (two tests, not one `&&`; a block test per route).
    if align <= MIN_ALIGN {
        if in_tables(size) {
            // SAFETY: the current heap is this thread's. (The heap read
            // before the class, as in `allocate`: the other order lets LLVM
            // merge this route's tail with the others', a jump more.)
            let block = unsafe {
                heap::try_alloc(thread::current_heap(), small_class(&CLASSES_ALIGN8, size))
            };
            if block.is_null() {
                return slow();
            }
            return block;
        }
        return allocate_sized_or(size, MIN_ALIGN, slow);
    }
    allocate_sized_or(size, align, slow)
}

/// [`allocate_or`] past the table.
#[inline(always)]
fn allocate_sized_or(size: usize, align: usize, slow: impl FnOnce() -> *mut u8) -> *mut u8 {
    let Some(class) = class_for(size, align) else {
        return slow();
    };
    // SAFETY: the current heap is this thread's.
    let block = unsafe { heap::try_alloc(thread::current_heap(), class) };
    if block.is_null() {
        return slow();
    }
    block
}

/// [`allocate_zeroed`] with the caller's own slow path, as [`allocate_or`].
///
/// # Safety
/// `align` must be a power of two.
#[inline(always)]
pub(crate) unsafe fn allocate_zeroed_or(
    size: usize,
    align: usize,
    slow: impl FnOnce() -> *mut u8,
) -> *mut u8 {
    let class = if align <= MIN_ALIGN && in_tables(size) {
        small_class(&CLASSES_ALIGN8, size)
    } else if let Some(class) = class_for(size, align) {
        class
    } else {
        return slow();
    };
    // SAFETY: as in `allocate_small_zeroed`.
    unsafe {
        let page = heap::current_page(thread::current_heap(), class);
        let block = heap::try_pop(page);
        if block.is_null() {
            return slow();
        }
        zero_block(block, size, (*page).free_is_zero)
    }
}

/// Allocate `size` bytes as C's `malloc` does: aligned to [`MALLOC_ALIGN`],
/// or to [`MIN_ALIGN`] for blocks of at most [`MIN_ALIGN`] bytes (too small
/// to hold anything needing more). Null when out of memory or too large.
#[inline(always)]
pub fn allocate_malloc(size: usize) -> *mut u8 {
    if in_tables(size) {
        // SAFETY: the current heap is this thread's; the size is checked.
        unsafe {
            let heap = thread::current_heap();
            let block = heap::try_pop(heap::malloc_page(heap, malloc_slot(size)));
            if !block.is_null() {
                return block;
            }
            return heap::alloc(heap, small_class(&CLASSES_MALLOC, size));
        }
    }
    // SAFETY: a power of two.
    unsafe { allocate_sized(size, malloc_align(size)) }
}

/// The fast path of [`allocate_malloc`] alone, for a size the caller has
/// checked: null when the request needs more (an empty page, the thread's
/// first block), so that a caller can keep its own slow path out of line.
///
/// # Safety
/// `size <= SMALL_MAX`.
#[inline(always)]
pub unsafe fn try_allocate_malloc_small(size: usize) -> *mut u8 {
    // SAFETY: the current heap is this thread's; the caller checked the size.
    unsafe { heap::try_pop(heap::malloc_page(thread::current_heap(), malloc_slot(size))) }
}

/// The slot of `size` (at most [`SMALL_MAX`]) in [`CLASSES_MALLOC`] and in a
/// heap's direct page table (`heap::malloc_page`).
#[inline(always)]
fn malloc_slot(size: usize) -> usize {
    debug_assert!(in_tables(size));
    (size + 7) >> 3
}

/// [`allocate`] past the table: any size and alignment.
///
/// # Safety
/// `align` must be a power of two.
#[inline(always)]
unsafe fn allocate_sized(size: usize, align: usize) -> *mut u8 {
    if let Some(class) = class_for(size, align) {
        // SAFETY: the current heap is this thread's.
        return unsafe { heap::alloc(thread::current_heap(), class) };
    }
    // SAFETY: forwarded.
    unsafe { allocate_large(size, align, false) }
}

/// The class serving `size` at `align`, if a class can: the size rounded up
/// to the alignment must fit the largest class. With a constant `Layout` (the
/// common case after inlining) the alignment tests and the rounding fold away.
#[inline(always)]
pub(crate) fn class_for(size: usize, align: usize) -> Option<usize> {
    if align <= MAX_CLASS_ALIGN && size <= MAX_CLASS_SIZE {
        // No overflow: both terms are at most 128 KiB here. A zero size still
        // needs an aligned block, so it counts as one byte. Every size up to
        // 16 gets a 16-byte block: `class_of` never picks the 8-byte class
        // (a free block needs a second word for the freed mark, see `checks`).
        let rounded = (size.max(1) + align - 1) & !(align - 1);
        if rounded <= MAX_CLASS_SIZE {
            return Some(class_of(rounded));
        }
    }
    None
}

/// Allocate a large block; null for sizes or alignments no block can have.
///
/// # Safety
/// `align` must be a power of two.
#[cold]
#[inline(never)]
unsafe fn allocate_large(size: usize, align: usize, zero: bool) -> *mut u8 {
    if size > isize::MAX as usize || align > isize::MAX as usize / 2 + 1 {
        return ptr::null_mut();
    }
    // SAFETY: `align` is a power of two.
    unsafe { large::allocate(size, align, zero) }
}

/// Allocate zeroed memory; like [`allocate`].
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// // SAFETY: 16 is a power of two; the block is freed once.
/// unsafe {
///     let block = tinyalloc::raw::allocate_zeroed(1000, 16);
///     assert!(!block.is_null());
///     assert!(std::slice::from_raw_parts(block, 1000).iter().all(|&b| b == 0));
///     tinyalloc::raw::deallocate(block);
/// }
/// # }
/// ```
///
/// # Safety
/// `align` must be a power of two.
#[inline]
pub unsafe fn allocate_zeroed(size: usize, align: usize) -> *mut u8 {
    let class = if align <= MIN_ALIGN && in_tables(size) {
        small_class(&CLASSES_ALIGN8, size)
    } else if let Some(class) = class_for(size, align) {
        class
    } else {
        // SAFETY: forwarded.
        return unsafe { allocate_large(size, align, true) };
    };
    // SAFETY: `class` serves `size` at `align`.
    unsafe { allocate_small_zeroed(size, class) }
}

/// Allocate zeroed memory as C's `calloc` does; aligned as [`allocate_malloc`].
#[inline]
pub fn allocate_zeroed_malloc(size: usize) -> *mut u8 {
    if in_tables(size) {
        // SAFETY: the size is checked.
        return unsafe { allocate_zeroed_malloc_small(size) };
    }
    // SAFETY: a power of two.
    unsafe { allocate_zeroed(size, malloc_align(size)) }
}

/// [`allocate_zeroed_malloc`] after its fast path failed (the `slow` of
/// [`allocate_zeroed_malloc_small_or`]): straight to the heap's slow path
/// for table sizes, without popping the current page again (the heap's
/// allocation still tries it first, so a caller that skipped the fast path
/// gets a block all the same).
#[inline]
pub fn allocate_zeroed_malloc_slow(size: usize) -> *mut u8 {
    if in_tables(size) {
        // SAFETY: the current heap is this thread's; the slot's class serves
        // `size` at `malloc`'s alignment.
        return unsafe {
            allocate_small_zeroed_slow(
                thread::current_heap(),
                size,
                small_class(&CLASSES_MALLOC, size),
            )
        };
    }
    // SAFETY: a power of two.
    unsafe { allocate_zeroed(size, malloc_align(size)) }
}

/// [`allocate_zeroed_malloc`] for a size the caller has checked.
///
/// # Safety
/// `size <= SMALL_MAX`.
#[inline(always)]
pub unsafe fn allocate_zeroed_malloc_small(size: usize) -> *mut u8 {
    // SAFETY: as in `allocate_small_zeroed`; the caller checked the size,
    // and the slot's class serves it at `malloc`'s alignment.
    unsafe {
        let heap = thread::current_heap();
        let page = heap::malloc_page(heap, malloc_slot(size));
        let block = heap::try_pop(page);
        if block.is_null() {
            return allocate_small_zeroed_slow(heap, size, small_class(&CLASSES_MALLOC, size));
        }
        zero_block(block, size, (*page).free_is_zero)
    }
}

/// [`allocate_zeroed_malloc`] for a size the caller has checked, with the
/// caller's own slow path (an empty page, the thread's first block), so that
/// a caller can keep it out of line: every exit is a tail call (the
/// zeroing's or `slow`'s), and the caller needs no stack frame.
///
/// # Safety
/// `size <= SMALL_MAX`.
#[inline(always)]
pub unsafe fn allocate_zeroed_malloc_small_or(
    size: usize,
    slow: impl FnOnce() -> *mut u8,
) -> *mut u8 {
    // SAFETY: as in `allocate_zeroed_malloc_small`.
    unsafe {
        let page = heap::malloc_page(thread::current_heap(), malloc_slot(size));
        let block = heap::try_pop(page);
        if block.is_null() {
            return slow();
        }
        zero_block(block, size, (*page).free_is_zero)
    }
}

/// A zeroed block of `class`, which holds `size` bytes.
///
/// # Safety
/// `class` is a valid class whose blocks hold `size` bytes.
#[inline(always)]
unsafe fn allocate_small_zeroed(size: usize, class: usize) -> *mut u8 {
    // SAFETY: the current heap is this thread's; `free_is_zero` describes
    // the list the block was popped from.
    unsafe {
        let heap = thread::current_heap();
        let page = heap::current_page(heap, class);
        let block = heap::try_pop(page);
        if block.is_null() {
            return allocate_small_zeroed_slow(heap, size, class);
        }
        zero_block(block, size, (*page).free_is_zero)
    }
}

/// [`allocate_small_zeroed`] past the fast path.
///
/// # Safety
/// `heap` is the calling thread's; `class` holds `size` bytes.
#[cold]
#[inline(never)]
unsafe fn allocate_small_zeroed_slow(heap: *mut heap::Heap, size: usize, class: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe {
        let block = heap::alloc(heap, class);
        if block.is_null() {
            return block;
        }
        zero_small(block, size)
    }
}

/// Zero a block just allocated from a page: only its link word if the list it
/// came from held fresh blocks (its second word, the freed mark, was cleared
/// when it was popped: `checks::on_alloc`), else `size` bytes.
///
/// # Safety
/// `block` was just allocated by this thread from a class page.
#[inline]
unsafe fn zero_small(block: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: the block's page belongs to this thread's heap; `free_is_zero`
    // describes the list the block was popped from.
    unsafe {
        let page: *mut Page = segment::page_of(segment::segment_of(block), block);
        zero_block(block, size, (*page).free_is_zero)
    }
}

/// Zero `size` bytes at `block`, of which all but the link word already are
/// if `fresh`; returns `block` (so that a caller can end on a tail call).
///
/// # Safety
/// `block` is a class block of ours (at least 16 bytes) holding `size` bytes.
#[inline(always)]
unsafe fn zero_block(block: *mut u8, size: usize, fresh: bool) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe {
        if fresh {
            block.cast::<usize>().write(0);
            return block;
        }
        zero::zero(block, size)
    }
}

/// Free `ptr` (null is ignored). Any thread may free any block.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// // SAFETY: the block is freed once, by another thread than its owner.
/// let block = unsafe { tinyalloc::raw::allocate(64, 8) } as usize;
/// std::thread::spawn(move || unsafe { tinyalloc::raw::deallocate(block as *mut u8) })
///     .join()
///     .unwrap();
/// unsafe { tinyalloc::raw::deallocate(std::ptr::null_mut()) }; // ignored
/// # }
/// ```
///
/// # Safety
/// `ptr` is null or a live block from this allocator, not used afterwards.
#[inline(always)]
pub unsafe fn deallocate(ptr: *mut u8) {
    // SAFETY: forwarded (null takes the slow path, which ignores it).
    unsafe { deallocate_or(ptr, PAGED_FROM, deallocate_slow) }
}

/// Free `ptr`, which is not null.
///
/// # Safety
/// `ptr` is a live block from this allocator, not used afterwards.
#[inline(always)]
pub unsafe fn deallocate_nonnull(ptr: *mut u8) {
    // SAFETY: forwarded.
    unsafe { deallocate(ptr) }
}

/// Free `ptr` on the fast path if the segment map's byte for its slot is at
/// least `paged_from` (at least [`PAGED_FROM`]: a live small or medium
/// segment, the byte its page shift) and `ptr` passes the block-start and
/// freed-mark tests; else call `slow`, which must free it as [`deallocate`]
/// does (or do that after something of its own: a caller raises
/// `paged_from` past every page shift to send every free there).
/// One byte load decides paged or not: no header tag is read on the fast
/// path, and null (slot 0, never a paged segment's) goes to `slow`. A
/// pointer that fails a test goes to `slow` too, which repeats the tests
/// and aborts naming it: so every exit is a tail jump and the fast path
/// needs no stack frame.
///
/// # Safety
/// As [`deallocate`]; `paged_from >= PAGED_FROM`.
#[inline(always)]
pub unsafe fn deallocate_or(ptr: *mut u8, paged_from: u8, slow: unsafe extern "C" fn(*mut u8)) {
    let shift = segment_map::paged_shift(ptr.addr());
    if shift < paged_from {
        // SAFETY: forwarded.
        return unsafe { slow(ptr) };
    }
    // The slot is an arena slot, so its metadata and blocks are mapped
    // whatever `ptr` is.
    // SAFETY: the map says a live paged segment with this shift heads `ptr`'s
    // slot; the block-start test proves `ptr` a block before its word is
    // read, and both tests pass before any write.
    unsafe {
        let segment = segment::paged_segment_of(ptr);
        let page = segment::page_at(segment, ptr, shift as u32);
        if page::block_index(page, ptr) >= page::block_limit(page) || checks::is_freed(page, ptr) {
            return slow(ptr);
        }
        checks::mark_freed(page, ptr);
        free_owned_or_remote(segment, page, ptr);
    }
}

/// [`deallocate`] past the fast path: null, large blocks, and misuse (the
/// header is read only after the segment map said one may be there, and
/// judged by its tag).
///
/// # Safety
/// As [`deallocate`].
#[cold]
#[inline(never)]
pub unsafe extern "C" fn deallocate_slow(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // Tag, `page_shift` and page geometry are fixed while a block is live, so
    // any thread may read them; for a pointer that is no live block they are
    // only read.
    // SAFETY: `header_of` proved the header mapped (the segment map).
    unsafe {
        let segment = header_of(ptr);
        if segment::tagged_kind(segment).wrapping_sub(KIND_SMALL as usize) > 1 {
            return free_unpaged(segment, ptr);
        }
        let page = block_page(segment, ptr);
        free_small(segment, page, ptr);
    }
}

/// The page of `ptr` in the paged `segment`; abort unless `ptr` is the start
/// of a block of an in-use page.
///
/// # Safety
/// `segment` is `header_of(ptr)`, a paged segment's header.
#[inline(always)]
unsafe fn block_page(segment: *mut SegmentHeader, ptr: *mut u8) -> *mut Page {
    // SAFETY: the page metadata of a mapped paged segment is readable; the
    // fields read are fixed while any block of the page is live.
    unsafe {
        let page = segment::page_of(segment, ptr);
        if page::block_index(page, ptr) >= page::block_limit(page) {
            not_a_carved_block(page, ptr);
        }
        page
    }
}

/// A free that failed the block test: name a block start of an in-use page
/// past its carved blocks as what it is (a block never handed out), any
/// other pointer as no block start.
///
/// # Safety
/// `page` is the record of `ptr`'s page in a mapped paged segment.
#[cold]
#[inline(never)]
unsafe extern "C" fn not_a_carved_block(page: *mut Page, ptr: *mut u8) -> ! {
    // SAFETY: the record is mapped; its geometry is valid while `in_use`
    // (this reads it only to choose the message).
    let never_carved =
        unsafe { (*page).in_use && page::block_index(page, ptr) < u64::from((*page).reserved) };
    if never_carved {
        checks::fatal("free of a block never handed out (never carved):", ptr);
    }
    not_a_block(ptr)
}

/// The header of the region holding `ptr`, after the segment map said one
/// may be there (so reading it cannot fault); abort if none can.
#[inline(always)]
fn header_of(ptr: *mut u8) -> *mut SegmentHeader {
    match segment::known_header(ptr) {
        Some(segment) => segment,
        None => not_ours(ptr),
    }
}

#[cold]
#[inline(never)]
extern "C" fn not_ours(ptr: *mut u8) -> ! {
    checks::fatal("free of a pointer tinyalloc does not own:", ptr)
}

/// A pointer into a paged segment that is no block start of an in-use page:
/// the header page, an unused page, past the page's last block, or off a
/// block boundary.
#[cold]
#[inline(never)]
extern "C" fn not_a_block(ptr: *mut u8) -> ! {
    checks::fatal("free of a pointer that is not the start of a block:", ptr)
}

/// The kind of the live block at `ptr` (small, medium or large), aborting on
/// a pointer into released memory, a foreign pointer, or one that starts no
/// block (the same checks as a free's).
///
/// # Safety
/// `segment` is `header_of(ptr)`.
unsafe fn live_kind(segment: *mut SegmentHeader, ptr: *mut u8) -> usize {
    // SAFETY: the header is readable.
    unsafe {
        let kind = segment::tagged_kind(segment);
        if kind.wrapping_sub(KIND_SMALL as usize) > 1 {
            if kind == KIND_LARGE as usize {
                if ptr != segment.cast::<u8>().add((*segment).large_offset) {
                    checks::fatal("pointer is not the start of a block:", ptr);
                }
            } else if kind == KIND_RELEASED as usize {
                checks::fatal("use of a pointer into freed memory:", ptr);
            } else {
                checks::fatal("pointer tinyalloc does not own:", ptr);
            }
        } else {
            let page = segment::page_of(segment, ptr);
            if page::block_index(page, ptr) >= page::block_limit(page) {
                checks::fatal("pointer is not the start of a block:", ptr);
            }
        }
        kind
    }
}

/// Free a pointer whose header is not a paged segment's: a large block, or
/// misuse.
///
/// # Safety
/// `segment` is `header_of(ptr)`, readable; `ptr` is the caller's to give up.
#[cold]
#[inline(never)]
unsafe extern "C" fn free_unpaged(segment: *mut SegmentHeader, ptr: *mut u8) {
    // SAFETY: the header is readable (checked or assumed by the caller).
    unsafe {
        match segment::tagged_kind(segment) {
            kind if kind == KIND_LARGE as usize => {
                if ptr != segment.cast::<u8>().add((*segment).large_offset) {
                    checks::fatal("free of a pointer that is not the start of a block:", ptr);
                }
                large::free(segment)
            }
            kind if kind == KIND_RELEASED as usize => checks::fatal(
                "double free (or free of a pointer into freed memory) of",
                ptr,
            ),
            _ => checks::fatal("free of a pointer tinyalloc does not own:", ptr),
        }
    }
}

/// Free a block that another heap owns (or that an abandoned segment holds).
///
/// # Safety
/// `ptr` is a live block of `page` in `segment`, owned by another heap (or
/// abandoned); the caller gives it up.
#[cold]
#[inline(never)]
unsafe extern "C" fn free_remote(segment: *mut SegmentHeader, page: *mut Page, ptr: *mut u8) {
    // SAFETY: the block is live and ours to give up; page metadata is live.
    unsafe {
        // Read while the block is live (the segment cannot go away before
        // the push below).
        let in_arena = matches!((*segment).origin, segment::Origin::Arena(_));
        let kind = (*segment).kind;
        let class = usize::from((*page).class);
        // A parked page counts its pushes; the last block back reclaims the
        // page if its owner is idle (arena pages only: the page stays mapped
        // while the reclaimer works, and after it). A parked page has every
        // block carved, so the count to reach is `reserved`, fixed while the
        // page is in use (`block_limit` is too, once parked, but this read
        // may come before the owner's last carve and the parking).
        let page_blocks = if in_arena {
            u64::from((*page).reserved)
        } else {
            0
        };
        let owner_is_idle = || {
            // Relaxed: only the heap pointer is used, for a timing hint.
            let owner = (*segment).owner.load(Ordering::Relaxed) as *mut heap::Heap;
            !owner.is_null() && heap::is_idle(owner)
        };
        let pushed = (*page)
            .remote
            .push_counting(ptr, page_blocks, owner_is_idle);
        if pushed.page_was_free() {
            checks::fatal(
                "double free (or free of a pointer into freed memory) of",
                ptr,
            );
        }
        if pushed.reclaims() {
            // Every block of the page is free and ours: give its memory back
            // now, then let the owner take the page (whenever it looks).
            segment::give_back_reclaimed(segment, page);
            (*page).remote.finish_reclaim();
            // Acquire: as below; the owner that parked (or a later one).
            let owner = (*segment).owner.load(Ordering::Acquire) as *mut heap::Heap;
            if !owner.is_null() {
                (*owner).parked_hints.note(class);
                (*owner).parked_hints.note(heap::EMPTIED_HINT);
            }
            return;
        }
        if pushed.abandoned() {
            // The segment's thread exited: count the block down (arena
            // memory stays mapped, so this may touch the header even if a
            // drain released the segment meanwhile; a direct mapping may not).
            if in_arena {
                heap::on_abandoned_free(segment, kind);
            }
        } else if pushed.parked_empty() || pushed.completed(page_blocks) {
            // The owner parked this page and ours is the first block since,
            // or the last one back (the owner is busy: no reclaim): tell it.
            // The push's Acquire saw the park's Release, so this load sees
            // the owner that parked (or a later one). Heap memory is never
            // unmapped, so a stale owner is harmless: it only scans its
            // parked pages for nothing.
            let owner = (*segment).owner.load(Ordering::Acquire) as *mut heap::Heap;
            if !owner.is_null() {
                if pushed.parked_empty() {
                    (*owner).parked_hints.note(class);
                }
                if pushed.completed(page_blocks) {
                    (*owner).parked_hints.note(heap::EMPTIED_HINT);
                }
            }
        }
    }
}

/// Bytes usable at `ptr` (at least what was asked for): the block's size
/// class, or a large block's size rounded up to pages.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::raw;
///
/// // SAFETY: 8 is a power of two; the block is live when measured.
/// unsafe {
///     let block = raw::allocate(100, 8);
///     assert!(!block.is_null());
///     let usable = tinyalloc::usable_size(block);
///     assert!(usable >= 100);
///     block.write_bytes(0xab, usable); // all of it may be used
///     raw::deallocate(block);
/// }
/// # }
/// ```
///
/// # Safety
/// `ptr` is a live block from this allocator.
pub unsafe fn usable_size(ptr: *mut u8) -> usize {
    let segment = header_of(ptr);
    // SAFETY: a live block's header and page metadata are live.
    unsafe {
        if live_kind(segment, ptr) == KIND_LARGE as usize {
            large::usable_size(segment)
        } else {
            (*segment::page_of(segment, ptr)).block_size
        }
    }
}

/// Resize `ptr` (allocated with `align`) to `new_size`, in place when the block
/// allows, else by moving. Null (with `ptr` still valid) when out of memory.
/// `align` is only used to allocate the moved block.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::raw;
///
/// // SAFETY: `block` is live with alignment 8 and `old_size` at most its
/// // usable size; the result replaces it and is freed once.
/// unsafe {
///     let block = raw::allocate(16, 8);
///     block.write_bytes(7, 16);
///     let grown = raw::reallocate(block, 16, 8, 1 << 20);
///     assert!(!grown.is_null());
///     assert_eq!(*grown.add(15), 7); // contents kept
///     raw::deallocate(grown);
/// }
/// # }
/// ```
///
/// # Safety
/// `ptr` is a live block allocated with alignment `align`; `old_size` is at
/// most its usable size.
#[inline]
pub unsafe fn reallocate(ptr: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { resize::<false>(ptr, old_size, align, new_size) }
}

/// Resize `ptr` to `new_size` as C's `realloc` does: the contents up to the
/// block's usable size are kept (C cannot say how much was asked for) and a
/// moved block is aligned as [`allocate_malloc`]'s. Null (with `ptr` still
/// valid) when out of memory.
///
/// # Safety
/// `ptr` is a live block from this allocator.
#[inline]
pub unsafe fn reallocate_malloc(ptr: *mut u8, new_size: usize) -> *mut u8 {
    // SAFETY: forwarded; `old_size` is replaced by the usable size.
    unsafe { resize::<true>(ptr, 0, MALLOC_ALIGN, new_size) }
}

/// [`reallocate`], reading the block's header once; with `MALLOC`, the old
/// size is the usable size and a moved block comes from [`allocate_malloc`].
///
/// # Safety
/// As [`reallocate`] (`old_size` unused with `MALLOC`).
#[inline(always)]
unsafe fn resize<const MALLOC: bool>(
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    // A paged block is found as `deallocate_or` finds it: the segment map's
    // byte, no header tag read.
    let shift = segment_map::paged_shift(ptr.addr());
    if shift < PAGED_FROM {
        // SAFETY: forwarded.
        return unsafe { resize_unpaged::<MALLOC>(ptr, old_size, align, new_size) };
    }
    // SAFETY: the block is live and ours; the map says a live paged segment
    // with this shift heads its slot, so its metadata is mapped.
    unsafe {
        let segment = segment::paged_segment_of(ptr);
        let page = segment::page_at(segment, ptr, shift as u32);
        if page::block_index(page, ptr) >= page::block_limit(page) {
            not_a_live_block(ptr);
        }
        resize_paged::<MALLOC>(segment, page, ptr, old_size, align, new_size)
    }
}

/// [`resize`] of a class block: kept if it fits and would not waste more
/// than half, else moved.
///
/// # Safety
/// As [`resize`]; `ptr` is a live block of `page` in `segment`, checked a
/// block start.
#[inline(always)]
unsafe fn resize_paged<const MALLOC: bool>(
    segment: *mut SegmentHeader,
    page: *mut Page,
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    // SAFETY: forwarded; the page's geometry is fixed while `ptr` lives.
    unsafe {
        let block_size = (*page).block_size;
        // Growth is tested first (it always moves a class block); a block
        // that fits and would not waste more than half is kept. The move is
        // out of line, so that a call that keeps its block needs no stack
        // frame.
        if new_size > block_size {
            return resize_move::<MALLOC>(segment, page, ptr, old_size, align, new_size);
        }
        if new_size >= block_size / 2 {
            return ptr;
        }
        resize_move::<MALLOC>(segment, page, ptr, old_size, align, new_size)
    }
}

/// [`resize`] of a class block that moves: to a bigger block (with room to
/// grow on, see [`grown_size`]), a large one, or a smaller one.
///
/// # Safety
/// As [`resize`]; `ptr` is a live block of `page` in `segment`, checked a
/// block start, and does not stay where it is.
#[inline(never)]
unsafe fn resize_move<const MALLOC: bool>(
    segment: *mut SegmentHeader,
    page: *mut Page,
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    // SAFETY: the caller's contract; the copy reads at most the old block's
    // size and writes at most `new_size` bytes of the new block.
    unsafe {
        let block_size = (*page).block_size;
        let moved = if new_size <= block_size {
            move_target::<MALLOC>(new_size, align)
        } else if new_size > REALLOC_LARGE_FROM {
            // A block that keeps growing: make it large now, so that the
            // next doublings grow in place instead of copying.
            allocate_large(new_size, align, false)
        } else {
            move_target::<MALLOC>(grown_size::<MALLOC>(block_size, new_size), align)
        };
        let old_size = if MALLOC { block_size } else { old_size };
        if !moved.is_null() {
            ptr::copy_nonoverlapping(ptr, moved, old_size.min(new_size));
            free_small(segment, page, ptr);
        }
        moved
    }
}

/// [`resize`] of a pointer whose segment-map byte names no page shift: a
/// large block, a class block while the C library counts calls (paged
/// segments then keep the plain byte, `segment_map::hide_paged_segments`),
/// or misuse (aborts).
///
/// # Safety
/// As [`resize`].
#[cold]
#[inline(never)]
unsafe fn resize_unpaged<const MALLOC: bool>(
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    let segment = header_of(ptr);
    // SAFETY: the header is readable (`header_of`); `live_kind` aborts unless
    // `ptr` is a live block (for a class block, a block start of its page).
    unsafe {
        if live_kind(segment, ptr) != KIND_LARGE as usize {
            let page = segment::page_of(segment, ptr);
            return resize_paged::<MALLOC>(segment, page, ptr, old_size, align, new_size);
        }
        resize_large::<MALLOC>(segment, ptr, old_size, align, new_size)
    }
}

/// A pointer into a live paged segment that starts no block of an in-use
/// page, given to a resize (or `usable_size`).
#[cold]
#[inline(never)]
fn not_a_live_block(ptr: *mut u8) -> ! {
    checks::fatal("pointer is not the start of a block:", ptr)
}

/// [`resize`] of a large block.
///
/// # Safety
/// As [`resize`]; `segment` heads the large block `ptr`.
#[cold]
#[inline(never)]
unsafe fn resize_large<const MALLOC: bool>(
    segment: *mut SegmentHeader,
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    // SAFETY: the block is live and ours.
    unsafe {
        let old_size = if MALLOC {
            large::usable_size(segment)
        } else {
            old_size
        };
        if new_size > REALLOC_LARGE_FROM {
            // In place, by remapping pages, or by copying: large handles it.
            return large::reallocate(segment, old_size, new_size, align);
        }
        let moved = move_target::<MALLOC>(new_size, align);
        if !moved.is_null() {
            ptr::copy_nonoverlapping(ptr, moved, old_size.min(new_size));
            deallocate_nonnull(ptr);
        }
        moved
    }
}

/// Free `ptr`, a block of `page` in the paged `segment`, whose header and
/// block start the caller has already checked (`block_page`): the tail of
/// [`deallocate_nonnull`], shared with a moving `realloc` so that it reads
/// the header once.
///
/// # Safety
/// `ptr` is a block start of `page` in `segment` (`block_page`); the caller
/// gives it up.
#[inline(always)]
unsafe fn free_small(segment: *mut SegmentHeader, page: *mut Page, ptr: *mut u8) {
    // SAFETY: the caller checked `ptr` a block start of `page`.
    unsafe {
        checks::on_free(page, ptr);
        free_owned_or_remote(segment, page, ptr);
    }
}

/// The tail of every small free, once `ptr` passed the checks and carries
/// the freed mark: onto the owner's local list, or the remote one.
///
/// # Safety
/// As [`free_small`], after `checks::on_free`.
#[inline(always)]
unsafe fn free_owned_or_remote(segment: *mut SegmentHeader, page: *mut Page, ptr: *mut u8) {
    // SAFETY: as in `free_small`.
    unsafe {
        let heap = thread::current_heap();
        // Relaxed: the owner field equals our heap only if we set it, in
        // program order before this load (a mismatch takes the remote
        // path, which synchronises).
        if (*segment).owner.load(Ordering::Relaxed) == heap as usize {
            heap::free_local(heap, page, ptr);
        } else {
            free_remote(segment, page, ptr);
        }
    }
}

/// The size a `realloc` that grows a class block of `block_size` bytes to
/// `new_size` (more, at most [`REALLOC_LARGE_FROM`]) asks for: with
/// `MALLOC`, room for one more step of the same growth when the step was
/// at most a doubling (`new + 2 * (new - old)`: twice the size for a
/// doubling, a little more for a step of a few bytes), so that a buffer
/// grown step by step (C's dynamic arrays and strings, `getline`) moves on
/// every other step instead of every one. The block is then at most twice
/// what was asked for, as a shrinking `realloc` already keeps it. A bigger
/// step (a one-off resize to a final size) gets no room; nor does Rust's
/// `realloc`, whose callers (`Vec`, `String`) keep their own headroom.
#[inline(always)]
fn grown_size<const MALLOC: bool>(block_size: usize, new_size: usize) -> usize {
    if MALLOC && new_size <= 2 * block_size {
        // No overflow: `new_size <= REALLOC_LARGE_FROM`.
        (3 * new_size - 2 * block_size).min(REALLOC_LARGE_FROM)
    } else {
        new_size
    }
}

/// The block a resize moves to.
///
/// # Safety
/// `align` is a power of two.
#[inline(always)]
unsafe fn move_target<const MALLOC: bool>(new_size: usize, align: usize) -> *mut u8 {
    if MALLOC {
        allocate_malloc(new_size)
    } else {
        // SAFETY: forwarded.
        unsafe { allocate(new_size, align) }
    }
}

/// Return free memory now: empty pages of this thread, abandoned segments
/// whose blocks were all freed, and every cached region (purged to the kernel).
///
/// Without it, cached regions are purged 100 ms after they were freed, on a
/// later allocator slow path. Call it after freeing a large working set, or
/// before a measurement of the process's memory.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::raw;
///
/// // SAFETY: 16 is a power of two; the block is freed once.
/// unsafe {
///     let block = raw::allocate(8 << 20, 16);
///     assert!(!block.is_null());
///     block.write_bytes(1, 8 << 20);
///     raw::deallocate(block); // cached for reuse, still committed
/// }
/// tinyalloc::collect();
/// assert_eq!(tinyalloc::stats().cached_bytes, 0);
/// # }
/// ```
pub fn collect() {
    let heap = thread::current_heap();
    if !thread::is_sentinel(heap) {
        // SAFETY: the current heap is this thread's.
        unsafe { heap::collect(heap, true) };
    }
    segment::purge_cache(u64::MAX);
}

/// Give up the calling thread's heap now, as the thread's exit would: its
/// segments with live blocks are abandoned (the threads that free those
/// blocks, or that allocate next, take them over), its empty ones go to
/// the cache, and the heap goes back to the pool. The thread may allocate
/// again: that takes a heap as a new thread's first allocation does.
///
/// For a thread that is done allocating but does not exit yet: a worker
/// that hands its data to a successor and goes idle or is about to end,
/// where the successor would otherwise start before the worker's exit runs
/// (a thread's exit hook runs after `std::thread::scope` and `join` have
/// returned, a few milliseconds later under load). In larson's thread
/// generations at 2 threads, calling it at the end of each generation's
/// work cut the peak RSS by 19% and raised the throughput by 15%
/// (papers/evaluation.md, stop 25). Cheap enough for a pool worker going
/// idle, but not for every task: each call gives up and takes back pages.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::raw;
///
/// std::thread::spawn(move || {
///     // SAFETY: 64 and 8 make a valid request; the block is freed once.
///     unsafe {
///         let block = raw::allocate(64, 8);
///         assert!(!block.is_null());
///         tinyalloc::release_thread_heap(); // the block stays valid
///         block.write_bytes(7, 64);
///         raw::deallocate(block);
///     }
/// })
/// .join()
/// .unwrap();
/// # }
/// ```
#[cfg(not(feature = "loom"))]
pub fn release_thread_heap() {
    thread::release_current();
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// Fill `[from, to)` of `block` with bytes that depend on the offset.
    ///
    /// # Safety
    /// `block` is valid for `to` bytes.
    unsafe fn fill(block: *mut u8, from: usize, to: usize) {
        for i in from..to {
            // SAFETY: in bounds, per the contract.
            unsafe { block.add(i).write(i as u8 ^ 0x5a) };
        }
    }

    /// Whether `[0, len)` of `block` holds what [`fill`] wrote.
    ///
    /// # Safety
    /// `block` is valid for `len` bytes.
    unsafe fn filled(block: *mut u8, len: usize) -> bool {
        // SAFETY: in bounds, per the contract.
        (0..len).all(|i| unsafe { block.add(i).read() } == i as u8 ^ 0x5a)
    }

    /// C's `realloc` doubling a buffer from 16 B to 4 KiB moves it on every
    /// other step (each move leaves room for the next doubling), keeps its
    /// contents, and never holds more than twice what was asked for.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "the allocator uses exposed provenance: tests/miri_smoke.rs runs it under Miri"
    )]
    fn doubling_moves_every_other_step() {
        // SAFETY: each block is live until realloc'd or freed, once.
        unsafe {
            let mut block = allocate_malloc(16);
            fill(block, 0, 16);
            let mut moves = 0;
            let mut size = 16;
            while size < 4096 {
                let grown = reallocate_malloc(block, 2 * size);
                assert!(!grown.is_null());
                assert!(filled(grown, size), "contents lost growing to {}", 2 * size);
                moves += usize::from(grown != block);
                size *= 2;
                block = grown;
                fill(block, size / 2, size);
                let usable = usable_size(block);
                assert!(
                    usable >= size && usable <= 2 * size,
                    "{usable} B for {size}"
                );
            }
            assert_eq!(moves, 4, "8 doublings");
            deallocate(block);
        }
    }

    /// A growth of more than double (a resize to a final size) gets no
    /// room beyond its class; a step of a few bytes gets a few bytes more.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "the allocator uses exposed provenance: tests/miri_smoke.rs runs it under Miri"
    )]
    fn big_steps_get_no_room_small_steps_a_little() {
        // SAFETY: each block is live until realloc'd or freed, once.
        unsafe {
            let block = allocate_malloc(16);
            fill(block, 0, 16);
            let grown = reallocate_malloc(block, 1000);
            assert!(filled(grown, 16));
            assert_eq!(usable_size(grown), class_size(class_of(1008)));
            deallocate(grown);

            let block = allocate_malloc(100);
            let old = usable_size(block);
            fill(block, 0, old);
            let grown = reallocate_malloc(block, old + 1);
            assert!(filled(grown, old));
            // `old + 1 + 2 * 1`, rounded to `malloc`'s alignment and class.
            let expected = class_size(class_of((old + 3).next_multiple_of(MALLOC_ALIGN)));
            assert_eq!(usable_size(grown), expected);
            deallocate(grown);
        }
    }
}
