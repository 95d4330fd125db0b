//! The allocator's global state as one value: [`Globals`].
//!
//! Everything the allocator's protocols share between threads lives here:
//! the arena table, the segment cache and its purge clock, the abandoned
//! stacks, the heap pool, and the statistics counters. Modules reach it
//! through [`globals`] only (one field each: `globals().cache`, ...).
//!
//! Outside loom it is one `static`, so `globals()` compiles to the static's
//! address and every field access is an absolute address, exactly as the
//! separate statics were: no cost on any path.
//!
//! Under loom every model execution must start from a fresh allocator (loom
//! replays executions; state left by an earlier one would make them differ).
//! `globals()` then returns the value of a loom `lazy_static!`, which loom
//! builds on first use in an execution and drops at its end. The
//! alternative, an instance handed explicitly to the model threads, would
//! thread a state argument through every entry point (the fast paths
//! included) or keep a per-thread pointer to it: the lazy static changes no
//! signature. Under loom the value also holds a small segment map (see
//! `segment_map`), and its `Drop` gives every reservation back to the
//! in-process OS backend. (The sentinel heap and the empty page, immutable
//! statics elsewhere, are loom `lazy_static!`s of their own modules under
//! loom: they hold loom atomics, and the sentinel points at the empty page.)
//!
//! Not here: read-only tunables (`config`), the freed mark (`checks`), and
//! outside loom the segment map (a 32 MiB zero-initialised table that must
//! stay in `.bss`, see `segment_map`), which keep process-wide statics.
//!
//! Outside loom its initial value is all zero bytes, so the static lands in
//! `.bss` and only the pages the allocator writes become resident. (One
//! non-zero field, the cache bound, put all 44 KiB in `.data`, where the
//! kernel maps it in whole from the file: 40 KiB of it is the arena
//! table, of which a program with a few arenas touches one page.)
//!
//! Invariant: nothing but `globals()` names the instance.

use crate::arena::ArenaTable;
use crate::ds::tagged_stack::TaggedStack;
use crate::heap::Heap;
use crate::os::OsState;
use crate::segment::SegmentHeader;
use crate::segment_cache::SegmentCache;
use crate::sync::{maybe_const_fn, AtomicPtr, AtomicUsize, ClockAtomicU64, StatCounter};
use core::ptr;

/// The allocator's shared state (see the module doc).
pub(crate) struct Globals {
    /// The arena table (`arena`).
    pub arenas: ArenaTable,
    /// Arena slots claimed (statistics).
    pub slots_in_use: StatCounter,
    /// Freed regions kept for reuse (`segment`).
    pub cache: SegmentCache,
    /// When the next cache purge pass is due.
    pub next_purge_at: ClockAtomicU64,
    /// The last clock reading (`segment::coarse_now`).
    pub last_now: ClockAtomicU64,
    /// Region operations, to read the clock on one in eight.
    pub clock_ticks: StatCounter,
    /// Abandoned segments, per paged kind.
    pub abandoned: [TaggedStack<SegmentHeader>; 2],
    /// Regions live (statistics).
    pub live_segments: StatCounter,
    /// Segments on the abandoned stacks (statistics).
    pub abandoned_count: StatCounter,
    /// Per paged kind: segments live.
    pub paged_segments: [StatCounter; 2],
    /// Per paged kind: bytes of pages in use.
    pub pages_in_use_bytes: [StatCounter; 2],
    /// Per paged kind: bytes of unused pages still dirty.
    pub free_dirty_bytes: [StatCounter; 2],
    /// Per paged kind: segments abandoned.
    pub abandoned_by_kind: [StatCounter; 2],
    /// Dirty bytes of the regions in the cache.
    pub cached_dirty_bytes: StatCounter,
    /// The heap pool (`thread`).
    pub pool: TaggedStack<Heap>,
    /// Heaps in use by threads (statistics).
    pub live_heaps: StatCounter,
    /// `tinyalloc::Heap`s alive now (statistics).
    pub user_heaps: StatCounter,
    /// The pthread key whose destructor abandons a heap, plus one (0 = not yet).
    #[cfg(not(feature = "loom"))]
    pub exit_key: AtomicUsize,
    /// The reserved area heaps are claimed from.
    pub heap_area: AtomicPtr<Heap>,
    /// The next heap index in `heap_area`.
    pub heap_area_next: AtomicUsize,
    /// Kernel-call counters (`os`).
    pub os: OsState,
    /// The segment map (a 32 MiB static outside loom).
    #[cfg(feature = "loom")]
    pub segment_map: crate::segment_map::SparseMap,
}

impl Globals {
    maybe_const_fn! {
        /// The state of an allocator that has done nothing yet.
        fn new() -> Self {
            Globals {
                arenas: ArenaTable::new(),
                slots_in_use: StatCounter::new(0),
                // Bound 0: every insert first sets the real bound
                // (`segment::update_cache_limit`), and a zero here keeps
                // the whole value zero, so the static lands in `.bss`.
                cache: SegmentCache::new(0),
                next_purge_at: ClockAtomicU64::new(0),
                last_now: ClockAtomicU64::new(0),
                clock_ticks: StatCounter::new(0),
                abandoned: [TaggedStack::new(), TaggedStack::new()],
                live_segments: StatCounter::new(0),
                abandoned_count: StatCounter::new(0),
                paged_segments: [StatCounter::new(0), StatCounter::new(0)],
                pages_in_use_bytes: [StatCounter::new(0), StatCounter::new(0)],
                free_dirty_bytes: [StatCounter::new(0), StatCounter::new(0)],
                abandoned_by_kind: [StatCounter::new(0), StatCounter::new(0)],
                cached_dirty_bytes: StatCounter::new(0),
                pool: TaggedStack::new(),
                live_heaps: StatCounter::new(0),
                user_heaps: StatCounter::new(0),
                #[cfg(not(feature = "loom"))]
                exit_key: AtomicUsize::new(0),
                heap_area: AtomicPtr::new(ptr::null_mut()),
                heap_area_next: AtomicUsize::new(0),
                os: OsState::new(),
                #[cfg(feature = "loom")]
                segment_map: crate::segment_map::SparseMap::new(),
            }
        }
    }
}

/// A loom execution's allocator ends with it: its arenas and heap area go
/// back to the in-process OS backend (every region lies in them: the models
/// make no direct mapping, and need no heap past the area).
#[cfg(feature = "loom")]
impl Drop for Globals {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed model: loom unwinds outside its execution, where loom
            // atomics cannot be read; leak the reservations.
            return;
        }
        use crate::arena::{MAX_ARENAS, SEGMENT_SIZE};
        use crate::sync::Ordering;
        for index in 0..MAX_ARENAS {
            if let Some((base, size)) = self.arenas.arena_span(index) {
                // SAFETY: the execution is over; nothing uses the arena.
                unsafe { crate::os::release_at_teardown(base as *mut u8, size, SEGMENT_SIZE) };
            }
        }
        let area = self.heap_area.load(Ordering::Relaxed);
        if !area.is_null() {
            let (size, align) = crate::thread::heap_area_shape();
            // SAFETY: as above, for the heap area.
            unsafe { crate::os::release_at_teardown(area.cast(), size, align) };
        }
    }
}

#[cfg(not(feature = "loom"))]
static GLOBALS: Globals = Globals::new();

/// The allocator's state: the static's address.
#[cfg(not(feature = "loom"))]
#[inline(always)]
pub(crate) fn globals() -> &'static Globals {
    &GLOBALS
}

#[cfg(feature = "loom")]
loom::lazy_static! {
    static ref GLOBALS: Globals = Globals::new();
}

/// The allocator's state: this loom execution's instance.
#[cfg(feature = "loom")]
#[inline(always)]
pub(crate) fn globals() -> &'static Globals {
    &GLOBALS
}
