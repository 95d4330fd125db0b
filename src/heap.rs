//! Per-thread heaps: the allocation fast paths and the page queues behind them.
//!
//! A heap owns paged segments and, per size class, a queue of pages with room.
//! `current[class]` is the page the fast path pops from: a load, a test, a
//! pop. It is never null: a class with no page points at [`EMPTY_PAGE`],
//! whose free list is always empty, so the "list empty?" test is the only
//! branch of the fast path and also routes first use into the slow path.
//! `malloc_pages` mirrors it per `malloc` size slot (`(size + 7) / 8`, see
//! `api::CLASSES_MALLOC`), so `malloc` finds its page without the class
//! table load: [`set_current`] writes both (and `reset` empties both).
//! Once [`route_calls_to_slow_paths`] has run (the C library's call
//! counting), `set_current` leaves the `malloc` slots at the empty page, so
//! that every `malloc` and `calloc` misses its fast path and is counted on
//! the slow one, which allocates through `current`.
//!
//! Pages with no block to hand out are *parked* on their class's `full` list
//! (their remote list carries the FULL flag, see `ds::remote_list`): a slow
//! path parks the class's dry current page. The first free onto an empty
//! parked page sets the class's bit in `parked_hints`, and the next slow
//! path of that class that finds no queued page with frees unparks one such
//! page ([`unpark_one`]); the others stay parked, so that their blocks keep
//! coming back through the remote list while this thread is away
//! (descheduled, or waiting). A local free onto a parked page moves it back
//! at once, unless other threads' frees are already waiting on it: then the
//! block joins them on the remote list and the page stays parked
//! ([`free_onto_parked`]; a thread that runs briefly among many, as in
//! `swap` at 16 threads on 2 CPUs, otherwise unparked most of its pages
//! just before it was descheduled, and none could be given back).
//! A heap that takes no allocation slow path for [`IDLE_AFTER_MS`] never
//! would: the remote free that brings back the last block of one of its
//! parked pages gives the page's memory back itself (`ds::remote_list`'s
//! reclaim), and the heap's next take of that list finds the page empty.
//!
//! A local free while its class's current page has nothing left to hand out
//! makes the freed-into page current, the freed block first: the next
//! allocation of the class reuses the most recently freed (cached) block on
//! the fast path, as a LIFO thread cache would, instead of a slow path that
//! collects older, colder blocks.
//!
//! A thread's exit abandons its segments with live blocks: their pages'
//! remote lists are marked, and their live blocks counted. Whoever frees the
//! last of them drains the segment ([`on_abandoned_free`]), with or without
//! a heap of its own; an allocation slow path may adopt it first.
//!
//! The same heaps serve `tinyalloc::Heap` (see the functions at the end of
//! this file, from [`make_user`] on): such a heap adopts nothing and owns its
//! large regions too.
//!
//! Invariants (all fields owner-only except `parked_hints`, `large_freed`
//! and `pool_link`):
//! - every page in `queues[c]` or `full` is in use, of class `c`, in a segment
//!   this heap owns; `in_full` is true exactly for pages on `full`;
//! - `current[c]` is `EMPTY_PAGE` or a page of `queues[c]`;
//! - `malloc_pages[s] == current[CLASSES_MALLOC[s]]` for every slot `s`
//!   (`EMPTY_PAGE` for every slot once the slots are off);
//! - `segments[k]` lists every segment of kind `k` this heap owns.

use crate::api::{CLASSES_MALLOC, SMALL_SLOTS};
use crate::checks;
use crate::page::{self, next_block, Page};
use crate::segment::{self, SegmentHeader, KIND_MEDIUM, KIND_SMALL, SMALL_BLOCK_MAX};
use crate::segment_map;
use crate::size_class::{class_size, CLASS_COUNT};
use crate::sync::{
    AtomicBool, AtomicPtr, AtomicU64, ClockAtomicU64, Ordering, PlainAtomicBool, StatOrdering,
};
use crate::thread;
use core::ptr;

/// The page every empty class points at; never written.
pub struct EmptyPage(Page);
// SAFETY: nothing ever writes `EMPTY_PAGE`; readers only see null lists.
unsafe impl Sync for EmptyPage {}
/// See [`EmptyPage`].
#[cfg(not(feature = "loom"))]
pub static EMPTY_PAGE: EmptyPage = EmptyPage(Page::EMPTY);

#[cfg(not(feature = "loom"))]
const fn empty_page() -> *mut Page {
    ptr::addr_of!(EMPTY_PAGE.0) as *mut Page
}

// Under loom the empty page holds a loom atomic: one per execution.
#[cfg(feature = "loom")]
loom::lazy_static! {
    static ref EMPTY_PAGE: EmptyPage = EmptyPage(Page::empty());
}

#[cfg(feature = "loom")]
fn empty_page() -> *mut Page {
    ptr::addr_of!(EMPTY_PAGE.0) as *mut Page
}

/// How many queued pages the slow path looks at for freed blocks before
/// it carves more (see [`find_page`]).
const COLLECT_VISITS: usize = 8;

/// How many abandoned segments one slow path may adopt.
const ADOPT_PER_SLOW_PATH: usize = 4;

/// A doubly linked queue of pages (through `Page::prev/next`).
#[derive(Clone, Copy)]
pub struct PageQueue {
    first: *mut Page,
    last: *mut Page,
}

impl PageQueue {
    const EMPTY: PageQueue = PageQueue {
        first: ptr::null_mut(),
        last: ptr::null_mut(),
    };

    /// # Safety
    /// `page` is owned by the caller and on no queue.
    unsafe fn push_front(&mut self, page: *mut Page) {
        // SAFETY: the caller owns `page` and every page on the queue.
        unsafe {
            (*page).prev = ptr::null_mut();
            (*page).next = self.first;
            if self.first.is_null() {
                self.last = page;
            } else {
                (*self.first).prev = page;
            }
        }
        self.first = page;
    }

    /// # Safety
    /// `page` is owned by the caller and on no queue.
    unsafe fn push_back(&mut self, page: *mut Page) {
        // SAFETY: the caller owns `page` and every page on the queue.
        unsafe {
            (*page).next = ptr::null_mut();
            (*page).prev = self.last;
            if self.last.is_null() {
                self.first = page;
            } else {
                (*self.last).next = page;
            }
        }
        self.last = page;
    }

    /// # Safety
    /// `page` is on this queue.
    unsafe fn remove(&mut self, page: *mut Page) {
        // SAFETY: the caller owns `page` and every page on the queue.
        unsafe {
            let (prev, next) = ((*page).prev, (*page).next);
            if prev.is_null() {
                self.first = next;
            } else {
                (*prev).next = next;
            }
            if next.is_null() {
                self.last = prev;
            } else {
                (*next).prev = prev;
            }
            (*page).prev = ptr::null_mut();
            (*page).next = ptr::null_mut();
        }
    }
}

/// A thread's heap.
#[repr(C)]
pub struct Heap {
    /// The page each class allocates from (fast path).
    current: [*mut Page; CLASS_COUNT],
    /// `current[CLASSES_MALLOC[slot]]` per `malloc` size slot (`malloc`'s
    /// fast path).
    malloc_pages: [*mut Page; SMALL_SLOTS],
    /// Pages of each class that may have room.
    queues: [PageQueue; CLASS_COUNT],
    /// Parked pages, per class.
    full: [PageQueue; CLASS_COUNT],
    /// Owned segments by kind (small, medium), linked through `heap_prev/next`.
    segments: [*mut SegmentHeader; 2],
    /// Link word for the heap pool (see `thread`).
    pub pool_link: AtomicPtr<Heap>,
    /// Slow paths taken, to read the clock on a fraction of them.
    slow_paths: u32,
    /// When this heap next purges its free pages.
    next_page_purge: u64,
    /// One freed large region of one segment, kept for this thread's next
    /// large allocation (released by `collect` and at thread exit).
    large_region: *mut SegmentHeader,
    /// `slow_paths` when the current run of emptied pages began: a run
    /// ends at the next allocation slow path.
    shrink_mark: u32,
    /// Pages emptied (retired) since the last allocation slow path.
    emptied_run: u32,
    /// Bytes of live blocks in this heap's pages, and of those the ones
    /// waiting on remote lists, per paged kind, as last added to `stats()`'s
    /// figures ([`publish_live`]).
    published_live: [LiveBytes; 2],
    /// The clock (`os::now_millis`) at the heap's last allocation slow
    /// path, for other threads: a remote free that brings back the
    /// last block of a parked page of an idle heap reclaims it ([`is_idle`]).
    active_at: ClockAtomicU64,
    /// Per class, set by a free onto an empty parked page of this heap (see
    /// [`ParkedHints`]). Written by other threads: on a cache line of its
    /// own, away from owner-only fields.
    pub parked_hints: ParkedHints,
    /// A `tinyalloc::Heap` (see `user_heap`): it adopts no abandoned
    /// segment (its destroy frees everything it owns, and only its own
    /// blocks may go) and owns its large regions ([`own_large`]).
    user: bool,
    /// Large regions this heap owns (user heaps only), linked through
    /// their headers' `heap_prev/next`.
    large: *mut SegmentHeader,
    /// Set by a free of one of `large` by another path than the owner's
    /// (see [`free_large_remote`]): [`reap_large`] has work.
    large_freed: AtomicBool,
}

/// Words of [`ParkedHints`].
const HINT_WORDS: usize = (CLASS_COUNT + 1).div_ceil(64);

/// The bit of [`ParkedHints`] after the classes': a parked page (any class)
/// got every block back, or was reclaimed. The owner's next slow path gives
/// such pages back ([`release_emptied_parked`]), so that a class the thread
/// no longer allocates does not keep freed pages resident.
pub const EMPTIED_HINT: usize = CLASS_COUNT;

/// One bit per class, on a cache line of its own: set by the free that
/// finds a parked page of the class empty (its owner must be told), taken
/// by the owner's next slow path of that class; and [`EMPTIED_HINT`].
#[repr(C, align(64))]
pub struct ParkedHints([AtomicU64; HINT_WORDS]);

impl ParkedHints {
    crate::sync::maybe_const_fn! {
    fn new() -> ParkedHints {
        ParkedHints(crate::sync::atomic_array!(AtomicU64, 0, HINT_WORDS))
    }
    }

    /// A parked page of `class` has blocks (or was reclaimed); or, for
    /// [`EMPTIED_HINT`], a parked page has every block back.
    pub fn note(&self, class: usize) {
        // Release pairs with the owner's Acquire in `take`: the push that
        // preceded this note is visible to the owner's walk.
        self.0[class / 64].fetch_or(1 << (class % 64), Ordering::Release);
    }

    /// Whether `class`'s bit was set; clears it.
    fn take(&self, class: usize) -> bool {
        let word = &self.0[class / 64];
        let bit = 1 << (class % 64);
        // Relaxed: a pre-check; the fetch_and below is the synchronising read.
        if word.load(Ordering::Relaxed) & bit == 0 {
            return false;
        }
        // Acquire pairs with `note`'s Release.
        word.fetch_and(!bit, Ordering::Acquire) & bit != 0
    }

    fn clear(&self) {
        // Relaxed: the owner resets its heap; a stale freer's note on it
        // later only costs the next owner a walk of its parked pages.
        for word in &self.0 {
            word.store(0, Ordering::Relaxed);
        }
    }
}

impl Heap {
    crate::sync::maybe_const_fn! {
    /// A heap with no pages: every class points at the empty page.
    pub fn new() -> Heap {
        Heap {
            current: [empty_page(); CLASS_COUNT],
            malloc_pages: [empty_page(); SMALL_SLOTS],
            queues: [PageQueue::EMPTY; CLASS_COUNT],
            full: [PageQueue::EMPTY; CLASS_COUNT],
            segments: [ptr::null_mut(); 2],
            pool_link: AtomicPtr::new(ptr::null_mut()),
            slow_paths: 0,
            next_page_purge: 0,
            large_region: ptr::null_mut(),
            shrink_mark: 0,
            emptied_run: 0,
            published_live: [LiveBytes { live: 0, pending: 0 }; 2],
            active_at: ClockAtomicU64::new(0),
            parked_hints: ParkedHints::new(),
            user: false,
            large: ptr::null_mut(),
            large_freed: AtomicBool::new(false),
        }
    }
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

/// Allocate a block of `class` from `heap`: the fast path.
///
/// # Safety
/// `heap` is the calling thread's heap (or the sentinel).
#[inline(always)]
pub unsafe fn alloc(heap: *mut Heap, class: usize) -> *mut u8 {
    debug_assert!(class < CLASS_COUNT);
    // SAFETY: `heap` is this thread's; `class < CLASS_COUNT` (classes come
    // from `class_of`); `current` is never null and its page is this heap's
    // (or the never-written empty page).
    unsafe {
        let block = try_alloc(heap, class);
        if block.is_null() {
            return alloc_slow(heap, class);
        }
        block
    }
}

/// The fast path alone: a block of `class` from the current page, or null
/// if that page has none (the caller then takes the slow path).
///
/// # Safety
/// As [`alloc`].
#[inline(always)]
pub unsafe fn try_alloc(heap: *mut Heap, class: usize) -> *mut u8 {
    // SAFETY: as in `alloc`.
    unsafe { try_pop(current_page(heap, class)) }
}

/// The page a `malloc` size slot (`(size + 7) / 8`, size at most
/// `api::SMALL_MAX`) allocates from: `current[CLASSES_MALLOC[slot]]`, one
/// load (never null: the empty page if none).
///
/// # Safety
/// As [`alloc`]; `slot < SMALL_SLOTS`.
#[inline(always)]
pub unsafe fn malloc_page(heap: *mut Heap, slot: usize) -> *mut Page {
    debug_assert!(slot < SMALL_SLOTS);
    // SAFETY: `heap` is this thread's (or the sentinel); the slot is in range.
    unsafe { *(*heap).malloc_pages.get_unchecked(slot) }
}

/// The first and one-past-last `malloc` size slot of each class (a class's
/// slots are contiguous: the table is non-decreasing).
const MALLOC_SLOTS_OF: [(u16, u16); CLASS_COUNT] = {
    let mut ranges = [(0u16, 0u16); CLASS_COUNT];
    let mut slot = 0;
    while slot < SMALL_SLOTS {
        let class = CLASSES_MALLOC[slot] as usize;
        assert!(slot == 0 || CLASSES_MALLOC[slot - 1] <= CLASSES_MALLOC[slot]);
        if ranges[class].1 == 0 {
            ranges[class].0 = slot as u16;
        }
        ranges[class].1 = slot as u16 + 1;
        slot += 1;
    }
    ranges
};

/// Set for good by [`route_calls_to_slow_paths`]: the `malloc` slots stay
/// at the empty page. Relaxed: read on slow paths only, and set before
/// `main` (see that function).
static MALLOC_SLOTS_OFF: PlainAtomicBool = PlainAtomicBool::new(false);

/// Send every later `malloc`, `calloc`, `free` and resize to its slow
/// path: every `malloc`-slot lookup (`malloc_page`) finds the empty page,
/// and every paged segment's segment-map byte says only "ours"
/// (`segment_map::hide_paged_segments`), in every heap. The C library's
/// call counting, which must see every call on a slow path, calls it from
/// its constructor. This lets the fast paths test against constants
/// instead of loading bounds that counting would move. The calling
/// thread's heap is switched here (its slots emptied, its segments
/// hidden); heaps in the pool were emptied when pooled, and segments in
/// the cache are not paged. Another thread's heap, and a segment an exited
/// thread abandoned, keep their fast paths: none exists before `main` but
/// for threads a library constructor started.
pub fn route_calls_to_slow_paths() {
    MALLOC_SLOTS_OFF.store(true, StatOrdering::Relaxed);
    segment_map::hide_paged_segments();
    let heap = thread::current_heap();
    if !thread::is_sentinel(heap) {
        // SAFETY: the heap is this thread's; the slots and the segment
        // lists are owner-only.
        unsafe {
            (*heap).malloc_pages = [empty_page(); SMALL_SLOTS];
            for kind in 0..2 {
                let mut segment = (*heap).segments[kind];
                while !segment.is_null() {
                    segment_map::set_unpaged(segment as usize);
                    segment = (*segment).heap_next;
                }
            }
        }
    }
}

/// Make `page` the page `class` allocates from, in `current` and in the
/// `malloc` slots of the class (unless the slots are off).
///
/// # Safety
/// The caller owns `heap`; `page` is `EMPTY_PAGE` or on `queues[class]`.
#[inline]
unsafe fn set_current(heap: *mut Heap, class: usize, page: *mut Page) {
    // SAFETY: the caller owns `heap`; the slots are below `SMALL_SLOTS`.
    unsafe {
        (*heap).current[class] = page;
        let slot_page = if MALLOC_SLOTS_OFF.load(StatOrdering::Relaxed) {
            empty_page()
        } else {
            page
        };
        let (first, end) = MALLOC_SLOTS_OF[class];
        for slot in first as usize..end as usize {
            (*heap).malloc_pages[slot] = slot_page;
        }
    }
}

/// The page `class` allocates from (never null: the empty page if none).
///
/// # Safety
/// As [`alloc`].
#[inline(always)]
pub unsafe fn current_page(heap: *mut Heap, class: usize) -> *mut Page {
    debug_assert!(class < CLASS_COUNT);
    // SAFETY: `heap` is this thread's (or the sentinel); `class <
    // CLASS_COUNT` (classes come from `class_of`).
    unsafe { *(*heap).current.get_unchecked(class) }
}

/// A block from `page`'s free list, or null if it has none.
///
/// # Safety
/// `page` is [`current_page`] of the calling thread's heap.
#[inline(always)]
pub unsafe fn try_pop(page: *mut Page) -> *mut u8 {
    // SAFETY: the page is this heap's (or the never-written empty page, whose
    // list is empty).
    unsafe {
        let block = (*page).free;
        if block.is_null() {
            return block;
        }
        pop_block(page, block)
    }
}

/// Unlink `block`, the head of `page`'s free list, and hand it out.
///
/// # Safety
/// The caller owns `page`; `block` is its non-null `free` head.
#[inline(always)]
unsafe fn pop_block(page: *mut Page, block: *mut u8) -> *mut u8 {
    // SAFETY: a free block's first word is its link; the page is ours.
    unsafe {
        let next = next_block(block);
        checks::check_link(page, block, next);
        (*page).free = next;
        (*page).used += 1;
        checks::on_alloc(page, block);
        block
    }
}

/// Free `block` of `page`, which this heap owns: the fast path.
///
/// # Safety
/// `heap` is the calling thread's heap and owns `page`'s segment; `block` is a
/// live block of `page`.
#[inline(always)]
pub unsafe fn free_local(heap: *mut Heap, page: *mut Page, block: *mut u8) {
    // SAFETY: the caller guarantees ownership of page and block.
    unsafe {
        page::set_next_block(block, (*page).local_free);
        (*page).local_free = block;
        (*page).used -= 1;
        // Out of line only when the page emptied, is parked, or its class's
        // current page has nothing left to hand out: three tests that are
        // rarely true. (A test of "is this the current page?" costs one
        // compare less, but in programs that free blocks of many pages it
        // goes either way at random: larson mispredicted half of them and
        // ran 10% slower.)
        let current = *(*heap).current.get_unchecked(usize::from((*page).class));
        if (*page).used == 0 {
            // Rare except in alloc/free loops, where the emptied page is the
            // current one and is kept: tested here, so such a loop's free
            // returns without a call (larson never gets this far at random).
            if current != page {
                free_local_other(heap, page);
            }
        } else if (*page).in_full || (*current).free.is_null() {
            free_local_other(heap, page);
        }
    }
}

/// A local free emptied its page, landed on a parked one, or found its
/// class's current page with nothing to hand out: the slow path, except
/// for an emptied current page, which is kept as it is (an alloc/free loop
/// refills it at once; it is never on `full`). Out of line (a tail jump),
/// so that the fast path keeps no registers.
///
/// # Safety
/// As [`free_local_slow`].
#[inline(never)]
unsafe extern "C" fn free_local_other(heap: *mut Heap, page: *mut Page) {
    // SAFETY: the caller owns `heap` and `page`; the current page is this
    // heap's or the empty page.
    unsafe {
        let current = *(*heap).current.get_unchecked(usize::from((*page).class));
        if (*page).used != 0 || current != page {
            free_local_slow(heap, page);
        }
    }
}

/// A local free emptied a page or landed on a parked one.
///
/// # Safety
/// The caller owns `heap` (the calling thread's) and `page`, a page of one
/// of its segments.
#[cold]
#[inline(never)]
unsafe extern "C" fn free_local_slow(heap: *mut Heap, page: *mut Page) {
    // SAFETY: the caller owns `page` and `heap`.
    unsafe {
        if (*page).in_full {
            if (*page).remote.has_blocks() {
                free_onto_parked(heap, page);
            } else {
                unpark_freed(heap, page);
            }
        } else if (*page).used == 0 {
            retire(heap, page, false);
        } else if !is_shrinking(heap) {
            // The class's current page has nothing left to hand out. (A
            // shrinking heap does not switch: a page made current and then
            // emptied is kept without a call, and would stay resident.)
            hand_out_next(heap, page);
        }
    }
}

/// Whether `heap` has given back [`SHRINK_AFTER_PAGES`] or more emptied
/// pages since its last allocation slow path (see [`retire`]).
///
/// # Safety
/// The caller owns `heap`.
#[inline]
unsafe fn is_shrinking(heap: *mut Heap) -> bool {
    // SAFETY: owner-only fields.
    unsafe {
        (*heap).shrink_mark == (*heap).slow_paths && (*heap).emptied_run >= SHRINK_AFTER_PAGES
    }
}

/// A local free landed on a parked page: the block goes on the page's
/// remote list, as another thread's free would, so that the page stays
/// parked (and can be given back whole while this thread is away). If it
/// was the page's last block out, the page is unparked and retired.
///
/// # Safety
/// The caller owns `heap` and `page`, which is on the heap's `full` list,
/// and has just pushed a block onto its `local_free`.
#[inline(never)]
unsafe fn free_onto_parked(heap: *mut Heap, page: *mut Page) {
    // SAFETY: forwarded from the caller; the block is ours to give up.
    unsafe {
        let block = (*page).local_free;
        (*page).local_free = next_block(block);
        (*page).used += 1;
        let pushed = (*page)
            .remote
            .push_counting(block, u64::from((*page).reserved), || false);
        if pushed.page_was_free() {
            checks::fatal(
                "double free (or free of a pointer into freed memory) of",
                block,
            );
        }
        if pushed.completed(u64::from((*page).reserved)) {
            unpark_freed(heap, page);
        } else if pushed.parked_empty() {
            (*heap).parked_hints.note(usize::from((*page).class));
        }
    }
}

/// A parked page's blocks all came back: unpark it (and retire it if that
/// emptied it). Out of line, so that `free_local_slow` needs no frame.
///
/// # Safety
/// The caller owns `heap` and `page`, which is on the heap's `full` list.
#[inline(never)]
unsafe fn unpark_freed(heap: *mut Heap, page: *mut Page) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if unpark(heap, page) && (*page).used == 0 {
            retire(heap, page, false);
        }
    }
}

/// A local free landed on a queued page while its class's current page has
/// nothing to hand out: make this page current, its just-freed (cached)
/// block first, so the next allocation of the class takes the fast path and
/// reuses the block most recently freed, as a LIFO cache would.
///
/// # Safety
/// The caller owns `heap` and `page`, which is on `queues[page.class]`.
#[inline(never)]
unsafe fn hand_out_next(heap: *mut Heap, page: *mut Page) {
    // SAFETY: the caller owns `heap` and `page` (queued, in use).
    unsafe {
        if (*page).free.is_null() {
            (*page).free = (*page).local_free;
            (*page).local_free = ptr::null_mut();
        } else {
            // Only the block just freed (the head of `local_free`) goes in
            // front: the older blocks of `free` are the colder ones.
            let block = (*page).local_free;
            (*page).local_free = next_block(block);
            page::set_next_block(block, (*page).free);
            (*page).free = block;
        }
        (*page).free_is_zero = false;
        if (*heap).current[usize::from((*page).class)] != page {
            make_current(heap, usize::from((*page).class), page);
        }
    }
}

/// Move a parked page back to its class queue, taking its remote frees. If
/// the class's current page has nothing left to hand out, the page becomes
/// current: the block just freed onto it (still in cache) is what the next
/// allocation of the class pops, on the fast path, instead of a slow path
/// that would collect some colder page.
///
/// # Safety
/// The caller owns `heap` and `page`, which is on the heap's `full` list.
unsafe fn unpark(heap: *mut Heap, page: *mut Page) -> bool {
    // SAFETY: the caller owns `heap` and `page`, which is on `full`; the
    // current page is the empty page or one of the heap's.
    unsafe {
        // Takes the remote list, which also clears the FULL flag, unless a
        // remote free is reclaiming the page: then it stays parked (that
        // freer tells this heap when it is done).
        if page::collect_all(page).busy {
            return false;
        }
        (*heap).full[usize::from((*page).class)].remove(page);
        (*page).in_full = false;
        let class = usize::from((*page).class);
        (*heap).queues[class].push_front(page);
        if (*(*heap).current[class]).free.is_null() && !(*page).free.is_null() {
            set_current(heap, class, page);
        }
        true
    }
}

/// A heap that gives this many emptied pages back to their segments with no
/// allocation slow path in between is shrinking: it stops keeping empty
/// pages and purges.
const SHRINK_AFTER_PAGES: u32 = 4;
/// While shrinking, purge the heap's free pages every this many released pages.
const SHRINK_PURGE_BATCH: u32 = 8;
/// A shrinking heap purges its free pages (and a segment it empties) only
/// while the process holds more than this many bytes of dirty free pages:
/// below it, freed pages wait to be reused (by this heap, whoever adopts its
/// segments, or whoever takes the segment from the cache, whose own bound
/// follows use).
const SHRINK_DIRTY_BUDGET: usize = 4 << 20;

/// Give an empty page back to its segment, unless it is the last page of its
/// class and `force` is false (keeping it avoids thrashing on alloc/free
/// loops) and the heap is not shrinking.
///
/// Shrinking: `retire` counts the pages a heap gives back between two
/// allocation slow paths (a kept page does not count, so a malloc+free loop
/// on one page never does). Once that run reaches [`SHRINK_AFTER_PAGES`],
/// the heap frees far more than it allocates, and this moment (not a later
/// slow path, which an idle thread never takes) is when its memory goes
/// back: kept pages are released too, every class's current page is
/// released if empty or else stops being current (so that its emptying
/// reaches `retire`: `free_local` keeps an emptied *current* page without
/// a call), free pages are purged in batches of runs (every
/// [`SHRINK_PURGE_BATCH`] released pages), and a segment the heap empties is
/// purged before it leaves. A heap that keeps allocating never reaches the
/// run, so a freed page about to be reused stays committed.
///
/// # Safety
/// The caller owns `heap` and `page`, which is queued in `heap` with `used == 0`.
unsafe fn retire(heap: *mut Heap, page: *mut Page, force: bool) {
    // SAFETY: the caller owns `heap` and `page` (queued, used == 0).
    unsafe {
        let queue = &(*heap).queues[usize::from((*page).class)];
        if !force && queue.first == page && queue.last == page && !is_shrinking(heap) {
            return;
        }
        give_back(heap, page, force);
    }
}

/// The part of [`retire`] that gives the page back and counts the run.
///
/// # Safety
/// As [`retire`].
#[cold]
#[inline(never)]
unsafe fn give_back(heap: *mut Heap, page: *mut Page, force: bool) {
    // SAFETY: the caller owns `heap` and `page` (queued, used == 0).
    unsafe {
        if force {
            release_page(heap, page, false);
            return;
        }
        if (*heap).shrink_mark != (*heap).slow_paths {
            (*heap).shrink_mark = (*heap).slow_paths;
            (*heap).emptied_run = 0;
        }
        let run = (*heap).emptied_run.saturating_add(1);
        (*heap).emptied_run = run;
        let shrinking = run >= SHRINK_AFTER_PAGES;
        let over_budget = shrinking && segment::free_dirty_bytes() > SHRINK_DIRTY_BUDGET;
        release_page(heap, page, over_budget);
        if shrinking && (run == SHRINK_AFTER_PAGES || run % SHRINK_PURGE_BATCH == 0) {
            if run == SHRINK_AFTER_PAGES {
                release_kept_pages(heap, over_budget);
            }
            release_current_pages(heap, over_budget);
            if over_budget {
                purge_pages(heap, u64::MAX);
            }
        }
    }
}

/// Take an empty page off its queue and give it to its segment; release the
/// segment if that empties it (purged first when `purge` is set).
///
/// # Safety
/// The caller owns `heap` and `page`, which is queued in `heap` with `used == 0`.
unsafe fn release_page(heap: *mut Heap, page: *mut Page, purge: bool) {
    // SAFETY: the caller owns `heap` and `page`.
    unsafe {
        let class = usize::from((*page).class);
        (*heap).queues[class].remove(page);
        if (*heap).current[class] == page {
            set_current(heap, class, empty_page());
        }
        let segment = segment::segment_of((*page).start);
        if segment::free_page(segment, page) {
            unlink_segment(heap, segment);
            if purge {
                segment::purge_empty(segment);
            }
            segment::release_region(segment);
        }
    }
}

/// Release every queued page with no block in use (the pages kept against
/// thrashing, and emptied current pages that were not retired); a segment
/// that empties is purged first if `purge`.
///
/// # Safety
/// The caller owns `heap`.
unsafe fn release_kept_pages(heap: *mut Heap, purge: bool) {
    // SAFETY: the caller owns `heap` and its queued pages.
    unsafe {
        for class in 0..CLASS_COUNT {
            let mut page = (*heap).queues[class].first;
            while !page.is_null() {
                let next = (*page).next;
                if (*page).used == 0 {
                    release_page(heap, page, purge);
                }
                page = next;
            }
        }
    }
}

/// Release each class's current page if it is empty, else stop allocating
/// from it: a shrinking heap's later frees onto it then take the slow path,
/// and its next allocation of the class takes a slow path (which ends the
/// shrinking run).
///
/// # Safety
/// The caller owns `heap`.
unsafe fn release_current_pages(heap: *mut Heap, purge: bool) {
    // SAFETY: the caller owns `heap`; a current page is one of its queued pages.
    unsafe {
        for class in 0..CLASS_COUNT {
            let page = (*heap).current[class];
            if page == empty_page() {
                continue;
            }
            if (*page).used == 0 {
                release_page(heap, page, purge);
            } else {
                set_current(heap, class, empty_page());
            }
        }
    }
}

/// The slow path: find or make a page of `class` with a free block.
///
/// # Safety
/// `heap` is the calling thread's heap or the sentinel.
#[cold]
#[inline(never)]
unsafe fn alloc_slow(heap: *mut Heap, class: usize) -> *mut u8 {
    // SAFETY: `heap` is this thread's heap or the sentinel.
    unsafe {
        let current = current_page(heap, class);
        if page::refill_current(current) {
            return pop_block(current, (*current).free);
        }
        let mut heap = heap;
        if thread::is_sentinel(heap) {
            heap = thread::init_heap();
            if thread::is_sentinel(heap) {
                return ptr::null_mut();
            }
        }
        if (*heap).parked_hints.take(EMPTIED_HINT) {
            release_emptied_parked(heap);
        }
        (*heap).slow_paths = (*heap).slow_paths.wrapping_add(1);
        // Relaxed: a timing hint (see `is_idle`). The clock read is a vDSO
        // call (about 5 ns); `segment::tick_clock` would also publish it to
        // a global, a shared line written on every slow path of every
        // thread (larson at 8 threads: 3% slower).
        (*heap)
            .active_at
            .store(crate::os::now_millis(), StatOrdering::Relaxed);
        if (*heap).slow_paths % 16 == 0 {
            maybe_purge_pages(heap);
        }
        let page = find_page(heap, class);
        if page.is_null() {
            return ptr::null_mut();
        }
        pop_block(page, (*page).free)
    }
}

/// A heap that has taken no allocation slow path for this long is idle
/// (see [`is_idle`]).
pub const IDLE_AFTER_MS: u64 = 2;

/// Whether `heap` has taken no allocation slow path for [`IDLE_AFTER_MS`]
/// (by the clock, read now): a thread that allocated and now only waits, or
/// one that has not needed a new page for a while. A remote free that brings
/// back the last block of one of its parked pages then gives the page's
/// memory back at once (`page::merge_remote` finds the page empty later):
/// waiting for such an owner could mean waiting forever. A busy owner takes
/// slow paths (every page it fills ends in one), and each of them takes
/// back the parked pages that got blocks, so its pages are reused
/// committed. A stale reading only moves that choice; a heap that rarely
/// takes a slow path allocates little, so giving back one of its pages
/// early costs little.
///
/// # Safety
/// `heap` is a heap (heap memory is never unmapped: any thread may ask).
pub unsafe fn is_idle(heap: *mut Heap) -> bool {
    // SAFETY: an atomic field of mapped heap memory.
    let active_at = unsafe { (*heap).active_at.load(StatOrdering::Relaxed) };
    crate::os::now_millis().saturating_sub(active_at) >= IDLE_AFTER_MS
}

/// Purge free pages of owned segments that have been free for the page
/// purge delay (`config::page_purge_delay_ms`), at most once per purge
/// interval.
///
/// # Safety
/// `heap` is the calling thread's heap (not the sentinel).
unsafe fn maybe_purge_pages(heap: *mut Heap) {
    let now = segment::tick_clock();
    // SAFETY: the caller owns `heap` and its segments.
    unsafe {
        if now < (*heap).next_page_purge {
            return;
        }
        (*heap).next_page_purge = now + segment::PURGE_INTERVAL_MS;
        purge_pages(
            heap,
            now.saturating_sub(crate::config::page_purge_delay_ms()),
        );
        publish_live(heap);
        // Also age the shared cache: a thread that only allocates small
        // blocks may never take a region-level path that would.
        segment::maybe_purge();
    }
}

/// Purge every free page of the heap's segments freed at or before `cutoff`.
///
/// # Safety
/// The caller owns `heap` and so every segment on its lists.
unsafe fn purge_pages(heap: *mut Heap, cutoff: u64) {
    // SAFETY: the caller owns `heap` and its segments.
    unsafe {
        for kind in 0..2 {
            let mut segment = (*heap).segments[kind];
            while !segment.is_null() {
                segment::purge_free_pages(segment, cutoff);
                segment = (*segment).heap_next;
            }
        }
    }
}

/// Bytes of live blocks in `segment`'s pages: blocks handed out and not
/// merged back (a block another thread freed counts until the page's owner
/// takes it back).
///
/// # Safety
/// The caller owns `segment`.
unsafe fn live_bytes(segment: *mut SegmentHeader) -> LiveBytes {
    // SAFETY: forwarded; the page records are the owner's.
    unsafe {
        in_use_pages(segment).fold(LiveBytes::default(), |total, page| {
            let size = (*page).block_size;
            total
                + LiveBytes {
                    live: (*page).used as usize * size,
                    pending: (*page).remote.pending() * size,
                }
        })
    }
}

/// A heap's live bytes of one kind, and how many of them wait on remote
/// lists ([`publish_live`]).
#[derive(Clone, Copy, Default)]
struct LiveBytes {
    live: usize,
    pending: usize,
}

impl core::ops::Add for LiveBytes {
    type Output = LiveBytes;

    fn add(self, other: LiveBytes) -> LiveBytes {
        LiveBytes {
            live: self.live + other.live,
            pending: self.pending + other.pending,
        }
    }
}

/// Count the live blocks of the heap's pages and publish them to
/// `stats()`'s figures: a walk over its in-use pages, done at most once per
/// purge interval on slow paths (with the purge pass that walks them
/// anyway), on `collect`, and by `stats()` for the calling thread's heap.
/// So the blocks a thread allocates and frees cost its fast paths nothing,
/// and the figure of a thread that has taken no slow path since is as of
/// its last one.
///
/// # Safety
/// The caller owns `heap` (not the sentinel).
pub unsafe fn publish_live(heap: *mut Heap) {
    // SAFETY: the caller owns the heap and its segments.
    unsafe {
        let mut bytes = [LiveBytes::default(); 2];
        for (kind, total) in bytes.iter_mut().enumerate() {
            let mut segment = (*heap).segments[kind];
            while !segment.is_null() {
                *total = *total + live_bytes(segment);
                segment = (*segment).heap_next;
            }
        }
        publish(heap, bytes);
    }
}

/// Replace the heap's published live (and remote-pending) bytes with `bytes`.
///
/// # Safety
/// The caller owns `heap`.
unsafe fn publish(heap: *mut Heap, bytes: [LiveBytes; 2]) {
    // SAFETY: an owner-only field.
    unsafe {
        for (kind, (old, new)) in (*heap).published_live.iter().zip(&bytes).enumerate() {
            crate::stats::on_live(kind, old.live, new.live);
            crate::stats::on_pending(kind, old.pending, new.pending);
        }
        (*heap).published_live = bytes;
    }
}

/// Keep a freed large region for this thread's next large allocation, if it
/// spans one segment and the heap holds none. Returns false (the caller
/// releases it) otherwise.
///
/// # Safety
/// `heap` is the calling thread's heap; `header` heads a large region the
/// caller gives up.
pub unsafe fn keep_large_region(heap: *mut Heap, header: *mut SegmentHeader) -> bool {
    // SAFETY: the caller owns `heap` and the region.
    unsafe {
        let one_slot = matches!((*header).origin, segment::Origin::Arena(run) if run.count == 1);
        if thread::is_sentinel(heap) || !(*heap).large_region.is_null() || !one_slot {
            return false;
        }
        segment::mark_released(header);
        (*heap).large_region = header;
        true
    }
}

/// The heap's kept large region, for a request of `slots` segments (only
/// one-segment requests: the kept region spans one segment).
///
/// # Safety
/// `heap` is the calling thread's heap.
pub unsafe fn take_large_region(heap: *mut Heap, slots: usize) -> Option<segment::Region> {
    // SAFETY: the caller owns `heap`; the kept region is the heap's alone.
    unsafe {
        let header = (*heap).large_region;
        if header.is_null() || slots != 1 {
            return None;
        }
        (*heap).large_region = ptr::null_mut();
        Some(segment::Region {
            base: header.cast(),
            origin: (*header).origin,
            dirty_bytes: (*header).dirty_bytes,
        })
    }
}

/// Release the kept large region, if any.
///
/// # Safety
/// The caller owns `heap` (its thread's, or one being abandoned).
unsafe fn release_large_region(heap: *mut Heap) {
    // SAFETY: the caller owns `heap` and so its kept region.
    unsafe {
        let header = (*heap).large_region;
        if !header.is_null() {
            (*heap).large_region = ptr::null_mut();
            segment::release_region(header);
        }
    }
}

/// Give back every parked page whose blocks all came back (or that was
/// reclaimed), whatever its class.
///
/// # Safety
/// `heap` is the calling thread's heap (not the sentinel).
#[cold]
#[inline(never)]
unsafe fn release_emptied_parked(heap: *mut Heap) {
    // SAFETY: the caller owns `heap` and its pages.
    unsafe {
        for class in 0..CLASS_COUNT {
            let mut page = (*heap).full[class].first;
            while !page.is_null() {
                let next = (*page).next;
                let remote = &(*page).remote;
                let pending = remote.pending();
                // Every block on the list, or reclaimed (nothing pending).
                let emptied =
                    remote.needs_owner() && (pending == 0 || pending == (*page).reserved as usize);
                if emptied && unpark(heap, page) && (*page).used == 0 {
                    retire(heap, page, false);
                }
                page = next;
            }
        }
    }
}

/// Unpark one parked page of `class` that has frees (or was reclaimed) and
/// can hand out a block; null if none. Parked pages stay parked until their
/// class needs one: a parked page is one whose blocks can come back while
/// its owner is away (descheduled, waiting), and the free that brings back
/// its last block gives its memory back then (see `free_remote`).
///
/// # Safety
/// `heap` is the calling thread's heap (not the sentinel).
unsafe fn unpark_one(heap: *mut Heap, class: usize) -> *mut Page {
    // SAFETY: the caller owns `heap` and its pages.
    unsafe {
        if !(*heap).parked_hints.take(class) {
            return ptr::null_mut();
        }
        // One pass at most; pages passed over go to the back, so that the
        // next pass starts with pages this one did not look at (a heap with
        // many parked pages, a few with frees, visits each about once per
        // pass, not once per page found).
        let full = &mut (*heap).full[class];
        let last = full.last;
        let mut page = full.first;
        while !page.is_null() {
            let next = (*page).next;
            let was_last = page == last;
            if (*page).remote.needs_owner() && unpark(heap, page) {
                if page::refill(page) {
                    if !was_last {
                        // Others may have frees too: look again next time.
                        (*heap).parked_hints.note(class);
                    }
                    return page;
                }
                if (*page).used == 0 {
                    retire(heap, page, false);
                }
            } else if !was_last {
                let full = &mut (*heap).full[class];
                full.remove(page);
                full.push_back(page);
            }
            if was_last {
                break;
            }
            page = next;
        }
        ptr::null_mut()
    }
}

/// A page of `class` with a free block, made current; null if out of memory.
///
/// In order: a queued page with freed blocks (the first
/// [`COLLECT_VISITS`]); for a heap with no segment of the class's kind, a
/// segment abandoned by an exited thread (its pages join the queues, and
/// the search starts again); a queued page that can carve more; an unused
/// page of an owned segment; an abandoned segment; a new segment.
///
/// # Safety
/// `heap` is the calling thread's heap (not the sentinel).
unsafe fn find_page(heap: *mut Heap, class: usize) -> *mut Page {
    // SAFETY: the caller owns `heap` and its pages.
    unsafe {
        let mut adopted = 0;
        let kind = kind_of_class(class);
        park_if_exhausted(heap, class, current_page(heap, class));
        loop {
            // Freed blocks first: a queued page with blocks to merge is used
            // before any page carves more, so a class's carved memory stays
            // near its peak use instead of growing on every slow path that
            // finds the head page dry while others hold frees.
            let mut page = (*heap).queues[class].first;
            let mut visited = 0;
            while !page.is_null() && visited < COLLECT_VISITS {
                if page::collect(page) {
                    // Tops up a page of a few big blocks (see `page::refill`).
                    page::refill(page);
                    make_current(heap, class, page);
                    return page;
                }
                page = (*page).next;
                visited += 1;
            }
            let page = unpark_one(heap, class);
            if !page.is_null() {
                make_current(heap, class, page);
                return page;
            }
            // Then, for a heap with no segment of this kind yet (a new
            // thread), memory abandoned by exited threads, before carving:
            // a thread's successor (larson, thread pools) takes over its
            // predecessor's pages while their blocks are being freed,
            // instead of carving a second working set beside them. A heap
            // with segments of its own adopts only instead of mapping a new
            // one (below): when every heap adopted here, a running thread
            // that merely needed a page took the segments an exited
            // thread's successor was about to free into and allocate from.
            if adopted < ADOPT_PER_SLOW_PATH
                && !(*heap).user
                && (*heap).segments[(kind - KIND_SMALL) as usize].is_null()
            {
                if let Some(segment) = segment::pop_abandoned(kind) {
                    adopt(heap, segment);
                    adopted += 1;
                    continue;
                }
            }
            let mut page = (*heap).queues[class].first;
            while !page.is_null() {
                if page::refill(page) {
                    make_current(heap, class, page);
                    return page;
                }
                // Nothing to hand out: park it, unless a remote free just arrived.
                if (*page).remote.try_park() {
                    let next = (*page).next;
                    (*heap).queues[class].remove(page);
                    (*page).in_full = true;
                    (*heap).full[class].push_front(page);
                    page = next;
                }
            }
            set_current(heap, class, empty_page());
            // No queued page has room: take an unused page of an owned
            // segment, or else adopt an abandoned segment (it may hold pages
            // of this class) before mapping a new one.
            if adopted < ADOPT_PER_SLOW_PATH
                && !(*heap).user
                && !has_unused_page(heap, kind, ptr::null_mut())
            {
                if let Some(segment) = segment::pop_abandoned(kind) {
                    adopt(heap, segment);
                    adopted += 1;
                    continue;
                }
            }
            let page = fresh_page(heap, class, kind);
            if page.is_null() {
                return page;
            }
            (*heap).queues[class].push_front(page);
            let carved = page::extend(page);
            debug_assert!(carved);
            make_current(heap, class, page);
            return page;
        }
    }
}

/// Park `page` (of `class`, this heap's, or the empty page) if it has nothing
/// left to hand out and no frees pending: the class's dry current page, as a
/// slow path leaves it. Parked, its blocks come back through its remote
/// list, and the free of its last one can give the page back while this
/// thread is away.
///
/// # Safety
/// The caller owns `heap`; `page` is the empty page or queued in `heap`.
unsafe fn park_if_exhausted(heap: *mut Heap, class: usize, page: *mut Page) {
    // SAFETY: the caller owns `heap` and `page`.
    unsafe {
        if page == empty_page() || !page::is_exhausted(page) || !(*page).remote.try_park() {
            return;
        }
        (*heap).queues[class].remove(page);
        (*page).in_full = true;
        (*heap).full[class].push_front(page);
        set_current(heap, class, empty_page());
    }
}

/// Whether one of `heap`'s segments of `kind`, other than `except` (null
/// for none), has an unused page.
///
/// # Safety
/// The caller owns `heap`.
unsafe fn has_unused_page(heap: *mut Heap, kind: u8, except: *mut SegmentHeader) -> bool {
    // SAFETY: the caller owns the heap and its segments.
    unsafe {
        let mut segment = (*heap).segments[(kind - KIND_SMALL) as usize];
        while !segment.is_null() {
            if segment != except && segment::has_free_page(segment) {
                return true;
            }
            segment = (*segment).heap_next;
        }
        false
    }
}

/// The index of a paged segment's kind in per-kind figures (small 0,
/// medium 1).
///
/// # Safety
/// `segment` is a paged segment the caller owns.
unsafe fn segment_slot(segment: *mut SegmentHeader) -> usize {
    // SAFETY: forwarded.
    usize::from(unsafe { (*segment).kind } - KIND_SMALL)
}

fn kind_of_class(class: usize) -> u8 {
    if class_size(class) <= SMALL_BLOCK_MAX {
        KIND_SMALL
    } else {
        KIND_MEDIUM
    }
}

/// Put `page` at the front of its queue and make it the class's current page.
///
/// # Safety
/// The caller owns `heap` and `page`, which is on `queues[class]`.
unsafe fn make_current(heap: *mut Heap, class: usize, page: *mut Page) {
    // SAFETY: the caller owns `heap` and `page`, which is on `queues[class]`.
    unsafe {
        let queue = &mut (*heap).queues[class];
        if queue.first != page {
            queue.remove(page);
            queue.push_front(page);
        }
        set_current(heap, class, page);
    }
}

/// An unused page for `class` from an owned segment of `kind`, or a new one.
///
/// # Safety
/// `heap` is the calling thread's heap; `kind` is `KIND_SMALL` or
/// `KIND_MEDIUM` and suits `class`.
unsafe fn fresh_page(heap: *mut Heap, class: usize, kind: u8) -> *mut Page {
    // SAFETY: the caller owns `heap` and its segments.
    unsafe {
        let block_size = class_size(class);
        // A segment with a dirty free page first (committed memory), then
        // any with room.
        let first = (*heap).segments[(kind - KIND_SMALL) as usize];
        let mut segment = first;
        let mut roomy: *mut SegmentHeader = ptr::null_mut();
        while !segment.is_null() {
            if segment::has_free_page(segment) {
                if (*segment).dirty_free_pages > 0 {
                    return segment::claim_page(segment, class, block_size);
                }
                if roomy.is_null() {
                    roomy = segment;
                }
            }
            segment = (*segment).heap_next;
        }
        if !roomy.is_null() {
            return segment::claim_page(roomy, class, block_size);
        }
        let Some(segment) = segment::new_paged(kind, heap as usize) else {
            return ptr::null_mut();
        };
        link_segment(heap, segment);
        segment::claim_page(segment, class, block_size)
    }
}

/// Put `segment` on the heap's list for its kind.
///
/// # Safety
/// The caller owns `heap` and `segment`, a paged segment on no heap list.
unsafe fn link_segment(heap: *mut Heap, segment: *mut SegmentHeader) {
    // SAFETY: the caller owns both.
    unsafe {
        let list = &mut (*heap).segments[segment_slot(segment)];
        (*segment).heap_prev = ptr::null_mut();
        (*segment).heap_next = *list;
        if !list.is_null() {
            (**list).heap_prev = segment;
        }
        *list = segment;
    }
}

/// Take `segment` off the heap's list for its kind.
///
/// # Safety
/// The caller owns `heap` and `segment`, which is on the heap's list for its
/// kind.
unsafe fn unlink_segment(heap: *mut Heap, segment: *mut SegmentHeader) {
    // SAFETY: the caller owns both; `segment` is on the heap's list.
    unsafe {
        let (prev, next) = ((*segment).heap_prev, (*segment).heap_next);
        if prev.is_null() {
            (*heap).segments[segment_slot(segment)] = next;
        } else {
            (*prev).heap_next = next;
        }
        if !next.is_null() {
            (*next).heap_prev = prev;
        }
        (*segment).heap_prev = ptr::null_mut();
        (*segment).heap_next = ptr::null_mut();
    }
}

/// The in-use pages of a paged segment (pages 1..; page 0 is the header).
///
/// # Safety
/// The caller owns `segment` (and its page records) while it iterates.
unsafe fn in_use_pages(segment: *mut SegmentHeader) -> impl Iterator<Item = *mut Page> {
    let pages = segment::pages(segment);
    // SAFETY: the caller owns the segment; `page_count` is set once it is paged.
    let count = usize::from(unsafe { (*segment).page_count });
    (1..count)
        // SAFETY: an index below `page_count` is a record of the segment.
        .map(move |index| unsafe { pages.add(index) })
        // SAFETY: the caller owns the segment's page records.
        .filter(|&page| unsafe { (*page).in_use })
}

/// Purge the free pages of a segment nobody owns now (an exit, a drain)
/// while the process holds more than [`SHRINK_DIRTY_BUDGET`] of dirty free
/// pages. Below it they stay dirty for an adopter or a taker to reuse; past
/// it, a thread whose blocks were freed by others (a successor, a consumer)
/// leaves pages nobody may reuse for a long time.
///
/// # Safety
/// The caller owns `segment`.
unsafe fn purge_past_budget(segment: *mut SegmentHeader) {
    if segment::free_dirty_bytes() > SHRINK_DIRTY_BUDGET {
        // SAFETY: forwarded.
        unsafe { segment::purge_free_pages(segment, u64::MAX) };
    }
}

/// The cache's dirty bytes past which an empty segment nobody owns goes in
/// purged (see [`release_unowned`]).
const UNOWNED_CACHE_DIRTY_BUDGET: usize = 2 << 20;

/// Release an empty segment nobody owned a moment ago (an exit, a drain,
/// an adoption that emptied it) to the cache: dirty while the cache holds
/// at most [`UNOWNED_CACHE_DIRTY_BUDGET`] of dirty memory, purged past it.
/// Threads that come and go (larson's generations, a pool that replaces
/// its workers) leave their emptied segments behind faster than the region
/// purge delay ages them, while their successors take a few back dirty:
/// past the budget the cache held only memory nobody was about to reuse
/// (larson, 2 threads: peak 39 -> 27 MiB with an 8 MiB budget, 24 MiB
/// with 2 MiB, at level throughput; a thread-per-request program and
/// mimalloc's stress test keep their speed: papers/evaluation.md).
///
/// # Safety
/// The caller owns `segment`, a paged segment with no page in use, and
/// gives it up.
unsafe fn release_unowned(segment: *mut SegmentHeader) {
    // SAFETY: forwarded.
    unsafe {
        if segment::cached_dirty_bytes() > UNOWNED_CACHE_DIRTY_BUDGET {
            segment::purge_empty(segment);
        }
        segment::release_region(segment);
    }
}

/// Put `segment`, which has live blocks and no owner any more, on its
/// abandoned stack, counting its live blocks for [`on_abandoned_free`].
///
/// Each in-use page's remote list is taken and marked abandoned in one swap
/// (so a free lands either before the mark, and is merged here, or after
/// it, and counts itself down), pages that empty are given back, and the
/// blocks still live are added to `abandoned_live`, which the frees after
/// the marks may have counted below zero already. The segment goes on the
/// stack first and is counted second: a free that takes the count to zero
/// then finds it there to drain, and if the frees did so before the count
/// was added (the sum is zero), this thread drains it itself, with
/// `drain_if_freed` (a drain that re-abandons passes false: a count made
/// wrong by a stale count-down, one that landed after its segment was
/// released and the slot reused, then costs a missed drain, never a loop).
///
/// # Safety
/// The caller owns `segment` (a paged segment with `used_pages > 0`), whose
/// owner field is 0 already, and gives it up.
unsafe fn abandon_counted(segment: *mut SegmentHeader, drain_if_freed: bool) {
    // SAFETY: the caller owns the segment and its pages.
    unsafe {
        let mut live = 0;
        for page in in_use_pages(segment) {
            if page::merge_remote_and_abandon(page).busy {
                // Being reclaimed: none of its blocks is live, and no free
                // will count one down (its list is not marked).
                continue;
            }
            if (*page).used == 0 {
                segment::free_page(segment, page);
            } else {
                live += (*page).used as usize;
            }
        }
        // A page in use has fewer than 2^32 blocks, a segment 64 pages.
        (*segment).abandoned_blocks = live as u32;
        // Taken back, by the same sum, by whoever takes the segment over
        // (page counts do not change while it is abandoned: frees go to
        // the remote lists).
        crate::stats::on_abandoned_live(segment_slot(segment), live_bytes(segment).live, true);
        segment::abandon(segment);
        // AcqRel: Acquire pairs with the count-downs already done (their
        // blocks were pushed before them), for the drain below; Release
        // pairs with the last count-down's Acquire, for its drain.
        let before = (*segment).abandoned_live.fetch_add(live, Ordering::AcqRel);
        if drain_if_freed && before.wrapping_add(live) == 0 {
            drain_abandoned(segment, (*segment).kind);
        }
    }
}

/// Whoever takes an abandoned segment over (an adopter, a drain) took
/// `taken` blocks off its pages' remote lists, which clears their abandon
/// marks: make the count what the frees still counting down will bring to
/// 0. (Count now = blocks live at the abandon - count-downs so far; each
/// taken block's free counts down once, and no later free does.)
///
/// # Safety
/// The caller just took `segment` off its abandoned stack and has taken
/// every in-use page's remote list.
unsafe fn take_over_count(segment: *mut SegmentHeader, taken: usize) {
    // SAFETY: the caller owns the segment; the abandoner's write of
    // `abandoned_blocks` happens-before (stack Release/Acquire).
    unsafe {
        let live_then = (*segment).abandoned_blocks as usize;
        // Relaxed: an adjustment of a count, publishing nothing; the drain
        // that a later count-down may start orders itself after the pushes
        // through the count-downs' AcqRel.
        (*segment)
            .abandoned_live
            .fetch_add(taken.wrapping_sub(live_then), Ordering::Relaxed);
    }
}

/// A free put a block on a page of `segment` whose remote list was marked
/// abandoned (the segment's thread exited): count it down, and if that was
/// its last live block, drain the segment now ([`drain_abandoned`]).
/// Without this, a segment whose blocks were all freed by other threads
/// after its own thread exited (a predecessor's blocks freed by its
/// successor, a server's whole working set freed after a burst) stays
/// committed until some thread's allocation slow path adopts it, which after
/// a burst may be never. Any thread may do it, even one with no heap: the
/// segment is not adopted, only emptied and released (a thread that merely
/// frees would otherwise keep pages it never allocates from).
///
/// # Safety
/// `segment` is a paged segment of `kind` in an arena (its memory stays
/// mapped, so a count-down that races the segment's release touches only a
/// stale header), and the caller's block went onto one of its pages' remote
/// lists marked abandoned, just before this call. `kind` was read while the
/// block was live (the header may be rewritten once it is not).
#[cold]
#[inline(never)]
pub unsafe fn on_abandoned_free(segment: *mut SegmentHeader, kind: u8) {
    // AcqRel: every free that counted down before this one pushed its block
    // first, and this RMW continues their release sequence, so the drain
    // below sees all those blocks on the remote lists.
    // SAFETY: the header is mapped (arena memory); the counter is atomic.
    let before = unsafe { (*segment).abandoned_live.fetch_sub(1, Ordering::AcqRel) };
    if before == 1 {
        // SAFETY: forwarded; the segment was paged and in use just now.
        unsafe { drain_abandoned(segment, kind) };
    }
}

/// Take `segment` off its abandoned stack if it is still there (segments
/// popped on the way are pushed back), merge its pages' remote frees, give
/// back the pages that emptied, and release the segment if it is empty, or
/// else abandon it again. If an adopter popped it first, nothing happens:
/// the adopter owns it.
///
/// # Safety
/// `segment` is (or was until just now) an abandoned paged segment of
/// `kind` in an arena. Nothing of it is read until it is found on the
/// stack (a count-down can land after the segment was released).
unsafe fn drain_abandoned(segment: *mut SegmentHeader, kind: u8) {
    // The segments popped on the way, linked through `heap_next` (unused
    // while abandoned): ours until pushed back.
    let mut passed: *mut SegmentHeader = ptr::null_mut();
    let mut found = false;
    while let Some(popped) = segment::pop_abandoned(kind) {
        if popped == segment {
            found = true;
            break;
        }
        // SAFETY: popping made `popped` ours.
        unsafe { (*popped).heap_next = passed };
        passed = popped;
    }
    while !passed.is_null() {
        // SAFETY: each passed segment is ours until this push gives it back.
        unsafe {
            let next = (*passed).heap_next;
            (*passed).heap_next = ptr::null_mut();
            segment::abandon(passed);
            passed = next;
        }
    }
    if !found {
        return;
    }
    // SAFETY: popping the segment made it ours; its previous holder's writes
    // happen-before (stack Release/Acquire).
    unsafe {
        crate::stats::on_abandoned_live(segment_slot(segment), live_bytes(segment).live, false);
        let mut taken = 0;
        for page in in_use_pages(segment) {
            let merged = page::merge_remote(page);
            taken += merged.len;
            if !merged.busy && (*page).used == 0 {
                segment::free_page(segment, page);
            }
        }
        take_over_count(segment, taken);
        purge_past_budget(segment);
        if (*segment).used_pages == 0 {
            release_unowned(segment);
        } else {
            abandon_counted(segment, false);
        }
    }
}

/// Take over an abandoned segment for a heap that needs a page: as
/// [`adopt_with`], keeping the segment even if it turns out empty when the
/// heap has no other segment of its kind with an unused page. Its free
/// pages are then the next ones `fresh_page` claims, still committed;
/// releasing it would send it to the cache (whose bound may purge it) and
/// make `fresh_page` provision another segment.
///
/// # Safety
/// As [`adopt_with`].
unsafe fn adopt(heap: *mut Heap, segment: *mut SegmentHeader) {
    // SAFETY: forwarded.
    unsafe { adopt_with(heap, segment, true) }
}

/// Take over an abandoned segment: claim it, take its remote frees, and queue
/// its pages (empty ones are freed; an empty segment is released, unless
/// `keep_needed` and the heap has no other room of its kind).
///
/// # Safety
/// `heap` is the calling thread's heap and `segment` was just popped off an
/// abandoned stack (so nobody else owns it).
unsafe fn adopt_with(heap: *mut Heap, segment: *mut SegmentHeader, keep_needed: bool) {
    // SAFETY: popping the segment off the abandoned stack made it ours; the
    // previous owner's writes to it happen-before (stack Release/Acquire).
    unsafe {
        // Relaxed is enough for the owner's own later loads; remote freers
        // that need to see it synchronise through the FULL flag (`try_park`
        // is a Release after this store).
        (*segment).owner.store(heap as usize, Ordering::Relaxed);
        link_segment(heap, segment);
        // The adopter's next publication counts these blocks as its own.
        crate::stats::on_abandoned_live(segment_slot(segment), live_bytes(segment).live, false);
        let mut taken = 0;
        for page in in_use_pages(segment) {
            // Remote frees only: `local_free` is taken by `collect` when the
            // page's turn comes (no walk to its tail here). Taking the list
            // clears its abandon mark: later frees are remote frees to us.
            let merged = page::merge_remote(page);
            taken += merged.len;
            (*page).in_full = false;
            (*page).prev = ptr::null_mut();
            (*page).next = ptr::null_mut();
            if merged.busy {
                // Being reclaimed: parked here until its reclaimer is done
                // (it tells the segment's owner, now this heap).
                (*page).in_full = true;
                (*heap).full[usize::from((*page).class)].push_front(page);
            } else if (*page).used == 0 {
                segment::free_page(segment, page);
            } else if !page::is_exhausted(page) || !(*page).remote.try_park() {
                (*heap).queues[usize::from((*page).class)].push_front(page);
            } else {
                (*page).in_full = true;
                (*heap).full[usize::from((*page).class)].push_front(page);
            }
        }
        take_over_count(segment, taken);
        if (*segment).used_pages == 0
            && (!keep_needed || has_unused_page(heap, (*segment).kind, segment))
        {
            unlink_segment(heap, segment);
            release_unowned(segment);
        }
    }
}

/// Give up every segment of `heap` (thread exit): empty pages and segments go
/// back, segments with live blocks are abandoned for others to adopt. The
/// heap is left empty, ready for reuse. Nothing here allocates.
///
/// Only pages in use need a look, and each is on exactly one list (a class
/// queue or `full`), so the walk follows the lists rather than scanning every
/// page slot of every segment: a thread that exits with little live touches
/// little metadata.
///
/// # Safety
/// `heap` is owned by the caller and no longer the thread's current heap.
pub unsafe fn abandon_all(heap: *mut Heap) {
    // SAFETY: the caller owns the heap, all its segments and their pages.
    unsafe {
        release_large_region(heap);
        for class in 0..CLASS_COUNT {
            give_up_pages((*heap).queues[class].first);
            give_up_pages((*heap).full[class].first);
        }
        for kind in 0..2 {
            let mut segment = (*heap).segments[kind];
            while !segment.is_null() {
                let next = (*segment).heap_next;
                release_or_abandon(segment);
                segment = next;
            }
        }
        reset(heap);
    }
}

/// Take the remote frees of every page of a list (linked through `next`) of
/// a heap being abandoned, and free the pages left empty. The list is not
/// kept: the heap is reset afterwards. `local_free` stays as it is (`used`
/// already counts it, and the adopter's `collect` takes it): merging it here
/// would walk every page's list to its tail.
///
/// # Safety
/// The caller owns the pages, all in use in segments it owns.
unsafe fn give_up_pages(mut page: *mut Page) {
    // SAFETY: the caller owns every page of the list and its segment.
    unsafe {
        while !page.is_null() {
            let next = (*page).next;
            let merged = page::merge_remote(page);
            (*page).in_full = false;
            (*page).prev = ptr::null_mut();
            (*page).next = ptr::null_mut();
            // A page being reclaimed stays in use until whoever takes the
            // segment over finds it reclaimed.
            if !merged.busy && (*page).used == 0 {
                segment::free_page(segment::segment_of((*page).start), page);
            }
            page = next;
        }
    }
}

/// Empty every list of `heap`, leaving its atomics to atomic stores (a stale
/// pool popper may still read `pool_link`).
///
/// # Safety
/// The caller owns `heap`, which no thread uses as its current heap.
unsafe fn reset(heap: *mut Heap) {
    // SAFETY: the caller owns the heap.
    unsafe {
        // Its pages are gone (released, or abandoned and counted there).
        publish(heap, [LiveBytes::default(); 2]);
        (*heap).current = [empty_page(); CLASS_COUNT];
        (*heap).malloc_pages = [empty_page(); SMALL_SLOTS];
        (*heap).queues = [PageQueue::EMPTY; CLASS_COUNT];
        (*heap).full = [PageQueue::EMPTY; CLASS_COUNT];
        (*heap).segments = [ptr::null_mut(); 2];
        (*heap).parked_hints.clear();
        (*heap).slow_paths = 0;
        (*heap).next_page_purge = 0;
        (*heap).large_region = ptr::null_mut();
        (*heap).shrink_mark = 0;
        (*heap).emptied_run = 0;
        (*heap).user = false;
        (*heap).large = ptr::null_mut();
        (*heap).large_freed.store(false, Ordering::Relaxed);
    }
}

/// Release an owned segment whose empty pages were freed if it is empty,
/// else abandon it.
///
/// # Safety
/// The caller owns `segment` (its heap is being abandoned) and gives it up.
unsafe fn release_or_abandon(segment: *mut SegmentHeader) {
    // SAFETY: the caller owns the segment.
    unsafe {
        (*segment).heap_prev = ptr::null_mut();
        (*segment).heap_next = ptr::null_mut();
        if (*segment).used_pages == 0 {
            release_unowned(segment);
        } else {
            purge_past_budget(segment);
            // Release pairs with remote freers' Acquire load of `owner` after
            // they saw a FULL flag set before this point (frees that see the
            // abandon mark never read it).
            (*segment).owner.store(0, Ordering::Release);
            abandon_counted(segment, true);
        }
    }
}

/// Return every empty page (including the ones kept against thrashing) and,
/// with `adopt_abandoned`, adopt abandoned segments so their free memory can
/// be released too.
///
/// # Safety
/// `heap` is the calling thread's heap.
pub unsafe fn collect(heap: *mut Heap, adopt_abandoned: bool) {
    // SAFETY: the caller owns `heap`.
    unsafe {
        if adopt_abandoned {
            for kind in [KIND_SMALL, KIND_MEDIUM] {
                while let Some(segment) = segment::pop_abandoned(kind) {
                    adopt_with(heap, segment, false);
                }
            }
        }
        for class in 0..CLASS_COUNT {
            let mut page = (*heap).full[class].first;
            while !page.is_null() {
                let next = (*page).next;
                if (*page).remote.needs_owner() {
                    // A page still reclaiming stays parked: nothing to do yet.
                    let _ = unpark(heap, page);
                }
                page = next;
            }
        }
        for class in 0..CLASS_COUNT {
            let mut page = (*heap).queues[class].first;
            while !page.is_null() {
                let next = (*page).next;
                // Queued pages are not parked: never reclaiming.
                let _ = page::collect_all(page);
                if (*page).used == 0 {
                    retire(heap, page, true);
                }
                page = next;
            }
        }
        purge_pages(heap, u64::MAX);
        release_large_region(heap);
        publish_live(heap);
    }
}

// First-class heaps (`tinyalloc::Heap`, see `user_heap`): a heap from the
// pool that no thread uses as its current heap. Its small and medium blocks
// live in its own segments as a thread heap's do; its large regions carry it
// as `owner` and sit on its `large` list, so that `destroy_user` finds every
// region it owns in time proportional to pages and regions, never blocks.
//
// A large region's `owner` word: 0 (no owner: any thread frees it at once),
// `heap` (owned, live), or `heap | LARGE_FREED` (freed by a path other than
// its owner's, waiting for the owner to release it). Only a CAS leaves
// `heap`, so of a racing remote free and the owner's drop exactly one
// releases the region.

/// Low bit of an owned large region's `owner` word: freed, not yet released.
const LARGE_FREED: usize = 1;

/// Make `heap`, fresh from `thread::take_heap`, a user heap.
///
/// # Safety
/// The caller owns `heap`, which is empty and no thread's current heap.
pub unsafe fn make_user(heap: *mut Heap) {
    // SAFETY: the caller owns the heap.
    unsafe { (*heap).user = true };
}

/// Make the large block just allocated at `header` one of `heap`'s: its
/// owner word and its place on the heap's `large` list.
///
/// # Safety
/// The caller owns the user heap `heap` and the live, ownerless large region
/// `header`, which no other thread has seen yet.
pub unsafe fn own_large(heap: *mut Heap, header: *mut SegmentHeader) {
    // SAFETY: the caller owns both. Relaxed: the block reaches other threads
    // only through the caller's own synchronisation.
    unsafe {
        (*header).owner.store(heap as usize, Ordering::Relaxed);
        (*header).heap_prev = ptr::null_mut();
        (*header).heap_next = (*heap).large;
        if !(*heap).large.is_null() {
            (*(*heap).large).heap_prev = header;
        }
        (*heap).large = header;
    }
}

/// Take `header` off `heap`'s `large` list.
///
/// # Safety
/// The caller owns `heap`; `header` is on its `large` list.
unsafe fn unlink_large(heap: *mut Heap, header: *mut SegmentHeader) {
    // SAFETY: the owner alone writes the list links.
    unsafe {
        let (prev, next) = ((*header).heap_prev, (*header).heap_next);
        if prev.is_null() {
            (*heap).large = next;
        } else {
            (*prev).heap_next = next;
        }
        if !next.is_null() {
            (*next).heap_prev = prev;
        }
    }
}

/// Whether `header`, the header of a live large region, is owned by `heap`
/// and not freed.
///
/// # Safety
/// `header` is a large region's header (readable).
pub unsafe fn owns_large(heap: *mut Heap, header: *mut SegmentHeader) -> bool {
    // SAFETY: readable, per the caller.
    unsafe { (*header).owner.load(Ordering::Relaxed) == heap as usize }
}

/// The owner frees its large block at `header`: off the list, region
/// released at once. Aborts if the block was freed already.
///
/// # Safety
/// The caller owns the user heap `heap`; `header` heads one of its large
/// regions (on its `large` list), whose block the caller gives up.
pub unsafe fn free_own_large(heap: *mut Heap, header: *mut SegmentHeader) {
    // SAFETY: the caller owns the heap and its list. A racing free of the
    // same block by another path (a double free) is settled by the CAS: the
    // loser sees the mark and reports.
    unsafe {
        let owned = heap as usize;
        // Acquire (failure) pairs with a marking freer's AcqRel CAS.
        if (*header)
            .owner
            .compare_exchange(
                owned,
                owned | LARGE_FREED,
                Ordering::Relaxed,
                Ordering::Acquire,
            )
            .is_err()
        {
            checks::fatal(
                "double free (or free of a pointer into freed memory) of",
                header.cast::<u8>().add((*header).large_offset),
            );
        }
        unlink_large(heap, header);
        segment::release_region(header);
    }
}

/// A free of an owned large block by another path than its owner's (another
/// thread, the global allocator, a moving `realloc`): mark it freed for the
/// owner to release. False if the region has no owner (any more: its heap was
/// dropped): the caller frees it as an ordinary large block.
///
/// # Safety
/// `header` heads a live large region whose block the caller gives up.
#[cold]
#[inline(never)]
pub unsafe fn free_large_remote(header: *mut SegmentHeader) -> bool {
    // SAFETY: a live large header is readable; heap memory is never unmapped,
    // so a stale owner's flag is harmless (a reap that finds nothing).
    unsafe {
        // Acquire pairs with the AcqRel CAS of a dropping owner that wrote 0
        // (its header writes then happen-before our release of the region).
        let mut owner = (*header).owner.load(Ordering::Acquire);
        loop {
            if owner == 0 {
                return false;
            }
            if owner & LARGE_FREED != 0 {
                checks::fatal(
                    "double free (or free of a pointer into freed memory) of",
                    header.cast::<u8>().add((*header).large_offset),
                );
            }
            // Release (AcqRel): the block's last uses happen-before the
            // owner's Acquire that sees the mark and releases the region.
            match (*header).owner.compare_exchange_weak(
                owner,
                owner | LARGE_FREED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(seen) => owner = seen,
            }
        }
        // Release pairs with `reap_large`'s Acquire swap: a reap that sees
        // the flag sees the mark.
        (*(owner as *mut Heap))
            .large_freed
            .store(true, Ordering::Release);
        true
    }
}

/// Release the large regions of `heap` that other paths freed, if any were.
///
/// # Safety
/// The caller owns the user heap `heap`.
pub unsafe fn reap_large(heap: *mut Heap) {
    // SAFETY: the caller owns the heap and its list; a marked region is the
    // owner's alone to release.
    unsafe {
        if !(*heap).large_freed.load(Ordering::Relaxed)
            || !(*heap).large_freed.swap(false, Ordering::Acquire)
        {
            return;
        }
        let mut header = (*heap).large;
        while !header.is_null() {
            let next = (*header).heap_next;
            // Acquire pairs with the freer's AcqRel mark.
            if (*header).owner.load(Ordering::Acquire) & LARGE_FREED != 0 {
                unlink_large(heap, header);
                segment::release_region(header);
            }
            header = next;
        }
    }
}

/// Drop a user heap: its large regions lose their owner (a racing remote
/// free that marked one first leaves it to us to release), then its segments
/// go as a thread's do at exit ([`abandon_all`]): blocks stay valid and
/// another thread adopts the segments. The heap is left empty.
///
/// # Safety
/// The caller owns the user heap `heap` and gives it up.
pub unsafe fn abandon_user(heap: *mut Heap) {
    // SAFETY: the caller owns the heap and its list.
    unsafe {
        let mut header = (*heap).large;
        while !header.is_null() {
            // Read before the CAS: once the owner word is 0, a freer may
            // release the region.
            let next = (*header).heap_next;
            // AcqRel: Release pairs with a later freer's Acquire load of 0;
            // Acquire (failure) with a marking freer's AcqRel CAS.
            if (*header)
                .owner
                .compare_exchange(heap as usize, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                segment::release_region(header);
            }
            header = next;
        }
        (*heap).large = ptr::null_mut();
        abandon_all(heap);
    }
}

/// Destroy a user heap: every region it owns is released, live blocks and
/// all: each in-use page is emptied in one step (its blocks are not visited)
/// and each segment and large region goes back to the cache or its arena, so
/// the time is proportional to pages and regions. The heap is left empty.
///
/// # Safety
/// The caller owns the user heap `heap`; no block of it is used or freed
/// afterwards, and every free of one of its blocks happened before this call.
pub unsafe fn destroy_user(heap: *mut Heap) {
    // SAFETY: the caller owns the heap, its segments and its regions, and no
    // other thread touches them any more.
    unsafe {
        release_large_region(heap);
        let mut header = (*heap).large;
        while !header.is_null() {
            let next = (*header).heap_next;
            segment::release_region(header);
            header = next;
        }
        for kind in 0..2 {
            let mut segment = (*heap).segments[kind];
            while !segment.is_null() {
                let next = (*segment).heap_next;
                free_all_pages(segment);
                segment::release_region(segment);
                segment = next;
            }
        }
        reset(heap);
    }
}

/// Mark every in-use page of `segment` unused, live blocks and all (one
/// step per page; remote lists are dropped with the page).
///
/// # Safety
/// The caller owns `segment` and gives up every block in it.
unsafe fn free_all_pages(segment: *mut SegmentHeader) {
    // SAFETY: the caller owns the segment and its page metadata.
    unsafe {
        for page in in_use_pages(segment) {
            // The remote list goes with the page, unwalked; a reclaimed
            // page is reset first (its carved bytes left the figures then).
            page::drop_remote(page);
            (*page).used = 0;
            segment::free_page(segment, page);
        }
    }
}

/// Give back the empty pages of a user heap and release the large regions
/// others freed (no adoption: the blocks of a user heap are its own).
///
/// # Safety
/// The caller owns the user heap `heap`.
pub unsafe fn collect_user(heap: *mut Heap) {
    // SAFETY: forwarded.
    unsafe {
        reap_large(heap);
        collect(heap, false);
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::api;

    /// `malloc_pages[s] == current[CLASSES_MALLOC[s]]` for every slot.
    fn assert_mirrored(heap: *mut Heap) {
        for (slot, &class) in CLASSES_MALLOC.iter().enumerate() {
            let (direct, current) =
                // SAFETY: the heap is this thread's; only read.
                unsafe { ((*heap).malloc_pages[slot], (*heap).current[class as usize]) };
            assert_eq!(direct, current, "slot {slot}");
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "the allocator uses exposed provenance: tests/miri_smoke.rs runs it under Miri"
    )]
    fn malloc_pages_mirror_current_pages() {
        std::thread::spawn(|| {
            let mut blocks = [core::ptr::null_mut::<u8>(); 3 * SMALL_SLOTS];
            for (i, block) in blocks.iter_mut().enumerate() {
                *block = api::allocate_malloc((i * 7) % (api::SMALL_MAX + 1));
                assert!(!block.is_null());
            }
            let heap = thread::current_heap();
            assert!(!thread::is_sentinel(heap));
            assert_mirrored(heap);
            for block in blocks {
                // SAFETY: each block is live and freed once.
                unsafe { api::deallocate(block) };
            }
            assert_mirrored(heap);
            // SAFETY: the heap is this thread's.
            unsafe { collect(heap, true) };
            assert_mirrored(heap);
            let block = api::allocate_malloc(64);
            assert_mirrored(heap);
            // SAFETY: live, freed once.
            unsafe { api::deallocate(block) };
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "the allocator uses exposed provenance: tests/miri_smoke.rs runs it under Miri"
    )]
    fn a_reused_heap_starts_with_empty_malloc_pages() {
        for _ in 0..4 {
            std::thread::spawn(|| {
                // Not through `malloc_pages`: takes a heap (maybe a reset
                // one from the pool) without reading them.
                // SAFETY: 8 is a power of two.
                let first = unsafe { api::allocate(24, 8) };
                assert!(!first.is_null());
                let heap = thread::current_heap();
                assert_mirrored(heap);
                let blocks = [64, 100, 1000].map(api::allocate_malloc);
                assert_mirrored(heap);
                for block in blocks.into_iter().chain([first]) {
                    // SAFETY: each block is live and freed once.
                    unsafe { api::deallocate(block) };
                }
            })
            .join()
            .unwrap();
        }
    }
}
