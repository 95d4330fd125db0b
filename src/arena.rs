//! Arenas: large reserved ranges cut into segment-sized slots.
//!
//! An arena is one reservation of up to `ARENA_SIZE`, aligned to
//! [`SEGMENT_SIZE`], whose slots are claimed by CAS in an [`AtomicBitmap`] (one
//! slot for a segment, a run of slots for a large region) and released by
//! clearing their bits. A new arena has the configured size (`config`'s
//! arena size, `ARENA_SIZE` by default), or the run asked for if larger.
//! When the kernel refuses it (an address-space limit, strict overcommit),
//! a new arena is a quarter of that, then a sixteenth, then a sixty-fourth
//! (by default 1 GiB, 256, 64, 16 MiB); its entry
//! records how many slots it has, and the bitmap never hands out the rest.
//! Arenas sit in a fixed table; a thread that finds every installed arena full
//! reserves a new one and installs it by CAS into the first empty table entry.
//! Two threads growing at once both install their arena (at different
//! entries): no reservation is wasted and nothing is locked.
//!
//! Invariants:
//! - a table entry goes from empty to an arena (its address and slot count in
//!   one word) once and never changes again;
//!   arenas are never unmapped, so segment headers are type-stable memory;
//! - a free slot's memory reads as zero: it is untouched since the arena was
//!   reserved, or it was purged before it was released ([`ArenaTable::release`]).
//!
//! Before an arena is installed, its slots are marked in the segment map
//! (`segment_map`), so a free can tell an arena address from a foreign one
//! before reading a header there.
//!
//! `loom-tests/arena.rs` checks concurrent growth; the bitmap has its own model.

use crate::ds::bitmap::AtomicBitmap;
use crate::os;
use crate::sync::{maybe_const_fn, AtomicUsize, Ordering, StatOrdering};

/// log2 of [`SEGMENT_SIZE`].
///
/// ```
/// use tinyalloc::arena::{SEGMENT_SHIFT, SEGMENT_SIZE};
///
/// assert_eq!(1 << SEGMENT_SHIFT, SEGMENT_SIZE);
/// ```
#[cfg(not(feature = "loom"))]
pub const SEGMENT_SHIFT: usize = 22;
/// log2 of [`SEGMENT_SIZE`] (small under loom, to keep models cheap).
#[cfg(feature = "loom")]
pub const SEGMENT_SHIFT: usize = 16;
/// Size and alignment of a segment, and of an arena slot: 4 MiB.
///
/// ```
/// use tinyalloc::arena::{SEGMENT_SHIFT, SEGMENT_SIZE};
///
/// // The segment holding an address: mask off the low SEGMENT_SHIFT bits.
/// let address = 5 * SEGMENT_SIZE + 1234;
/// assert_eq!(address & !(SEGMENT_SIZE - 1), 5 * SEGMENT_SIZE);
/// assert_eq!(address >> SEGMENT_SHIFT, 5);
/// # #[cfg(not(feature = "loom"))]
/// assert_eq!(SEGMENT_SIZE, 4 << 20);
/// ```
pub const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;

#[cfg(not(feature = "loom"))]
const BITMAP_WORDS: usize = 4;
#[cfg(feature = "loom")]
const BITMAP_WORDS: usize = 2;
/// Slots per arena.
///
/// ```
/// use tinyalloc::arena::{ARENA_SIZE, ARENA_SLOTS, SEGMENT_SIZE};
///
/// assert_eq!(ARENA_SIZE, ARENA_SLOTS * SEGMENT_SIZE);
/// # #[cfg(not(feature = "loom"))]
/// assert_eq!(ARENA_SLOTS, 256);
/// ```
pub const ARENA_SLOTS: usize = BITMAP_WORDS * 64;
/// Bytes per arena (1 GiB).
///
/// ```
/// use tinyalloc::arena::ARENA_SIZE;
///
/// # #[cfg(not(feature = "loom"))]
/// assert_eq!(ARENA_SIZE, 1 << 30);
/// # let _ = ARENA_SIZE;
/// ```
pub const ARENA_SIZE: usize = ARENA_SLOTS * SEGMENT_SIZE;

/// Entries in the arena table (1 TiB of arenas).
///
/// ```
/// use tinyalloc::arena::{ARENA_SIZE, MAX_ARENAS};
///
/// assert_eq!(MAX_ARENAS * ARENA_SIZE, 1 << 40); // the most tinyalloc ever maps
/// ```
#[cfg(not(feature = "loom"))]
pub const MAX_ARENAS: usize = 1024;
/// Entries in the arena table.
#[cfg(feature = "loom")]
pub const MAX_ARENAS: usize = 3;

/// A run of slots claimed from one arena.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::arena::{ArenaTable, SEGMENT_SIZE};
///
/// static TABLE: ArenaTable = ArenaTable::new();
/// let run = TABLE.claim(3).expect("address space");
/// assert_eq!(run.base as usize % SEGMENT_SIZE, 0);
/// assert_eq!(run.count, 3);
/// // The run's address follows from its arena and first slot.
/// let (arena_base, _) = TABLE.arena_span(run.arena as usize).unwrap();
/// assert_eq!(run.base as usize, arena_base + run.first as usize * SEGMENT_SIZE);
/// // SAFETY: claimed above, released once, never touched (reads as zero).
/// unsafe { TABLE.release(run) };
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRun {
    /// Address of the first slot (segment aligned).
    pub base: *mut u8,
    /// Index of the arena in its table.
    pub arena: u32,
    /// Index of the first slot in the arena.
    pub first: u32,
    /// Number of slots.
    pub count: u32,
}

struct Arena {
    /// Address of the reservation plus its slot count (in the low bits that
    /// the segment alignment leaves free), or 0 while the entry is empty.
    entry: AtomicUsize,
    slots: AtomicBitmap<BITMAP_WORDS>,
}

/// Slot counts a new arena may have, largest first: each is tried when the
/// kernel refuses the one before. The first is the configured arena size
/// (`config::arena_slots`, [`ARENA_SLOTS`] by default), or `min_slots` if
/// more; then a quarter, a sixteenth and a sixty-fourth of it.
fn arena_capacities(min_slots: usize) -> [usize; 4] {
    let first = arena_slots().max(min_slots);
    [first, first / 4, first / 16, first / 64]
}

/// An entry word: the reservation's address and slot count.
fn pack_entry(base: usize, capacity: usize) -> usize {
    debug_assert!(base % SEGMENT_SIZE == 0 && (1..=ARENA_SLOTS).contains(&capacity));
    base | capacity
}

/// The address and slot count of an entry word (0 slots if empty).
fn unpack_entry(entry: usize) -> (usize, usize) {
    (entry & !(SEGMENT_SIZE - 1), entry & (SEGMENT_SIZE - 1))
}

/// A fixed table of arenas that grows by CAS.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::arena::{ArenaTable, ARENA_SLOTS};
///
/// static TABLE: ArenaTable = ArenaTable::new();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             let runs: Vec<_> = (0..ARENA_SLOTS / 2).map(|_| TABLE.claim(1).unwrap()).collect();
///             // SAFETY: each run was claimed above, is released once and never touched.
///             runs.into_iter().for_each(|run| unsafe { TABLE.release(run) });
///         });
///     }
/// });
/// // Up to two arenas' worth of slots were live at once: the table grew by
/// // CAS as needed (once per thread that found every arena full).
/// assert!(TABLE.arena_count() >= 1);
/// assert_eq!(TABLE.claimed_slots(), 0);
/// # }
/// ```
pub struct ArenaTable {
    arenas: [Arena; MAX_ARENAS],
    /// A hint: no entry below it is empty.
    installed: AtomicUsize,
}

impl ArenaTable {
    maybe_const_fn! {
        /// A table with no arenas yet.
        ///
        /// ```
        /// # #[cfg(not(feature = "loom"))] {
        /// use tinyalloc::arena::ArenaTable;
        ///
        /// static TABLE: ArenaTable = ArenaTable::new(); // const: no arena reserved yet
        /// assert_eq!(TABLE.arena_count(), 0);
        /// # }
        /// ```
        pub fn new() -> Self {
            #[cfg(not(feature = "loom"))]
            let arenas = [const { Arena { entry: AtomicUsize::new(0), slots: AtomicBitmap::new() } }; MAX_ARENAS];
            #[cfg(feature = "loom")]
            let arenas = core::array::from_fn(|_| Arena { entry: AtomicUsize::new(0), slots: AtomicBitmap::new() });
            Self { arenas, installed: AtomicUsize::new(0) }
        }
    }

    /// Claim `count` consecutive slots (`1 <= count <= ARENA_SLOTS`), growing
    /// the table if every installed arena is full. `None` when the table is
    /// full or the kernel refuses a new arena of at least `count` slots.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::{ArenaTable, ARENA_SLOTS, SEGMENT_SIZE};
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// let segment = TABLE.claim(1).expect("address space"); // room for one segment
    /// let large = TABLE.claim(10).expect("address space"); // a 40 MiB large region
    /// assert_eq!(large.base as usize % SEGMENT_SIZE, 0);
    /// assert_eq!(TABLE.claimed_slots(), 11);
    /// // SAFETY: both claimed above, released once, never touched.
    /// unsafe { TABLE.release(segment) };
    /// // SAFETY: as above.
    /// unsafe { TABLE.release(large) };
    /// # }
    /// ```
    pub fn claim(&self, count: usize) -> Option<SlotRun> {
        debug_assert!((1..=ARENA_SLOTS).contains(&count));
        let mut index = 0;
        loop {
            if let Some(run) = self.claim_in_installed(index, count) {
                return Some(run);
            }
            index = self.installed.load(Ordering::Acquire);
            if index >= MAX_ARENAS {
                return None;
            }
            self.grow(count)?;
        }
    }

    /// Try every installed arena from `from` on.
    fn claim_in_installed(&self, from: usize, count: usize) -> Option<SlotRun> {
        for (index, arena) in self.arenas.iter().enumerate().skip(from) {
            // Acquire pairs with the Release CAS in `grow`: the arena's
            // reservation happens-before we hand out its memory.
            let (base, capacity) = unpack_entry(arena.entry.load(Ordering::Acquire));
            if base == 0 {
                return None;
            }
            if let Some(first) = arena.slots.claim_run_below(count, capacity) {
                crate::state::globals()
                    .slots_in_use
                    .fetch_add(count, StatOrdering::Relaxed);
                return Some(SlotRun {
                    base: (base + first * SEGMENT_SIZE) as *mut u8,
                    arena: index as u32,
                    first: first as u32,
                    count: count as u32,
                });
            }
        }
        None
    }

    /// Reserve a new arena of at least `min_slots` slots (the biggest the
    /// kernel grants) and install it in the first empty entry.
    fn grow(&self, min_slots: usize) -> Option<()> {
        let (base, capacity) = arena_capacities(min_slots)
            .into_iter()
            .filter(|&capacity| capacity >= min_slots)
            .find_map(|capacity| {
                let base = os::reserve_aligned(capacity * SEGMENT_SIZE, SEGMENT_SIZE, 0)?;
                if !mark_segments(base as usize, capacity * SEGMENT_SIZE) {
                    // SAFETY: never published; nobody else can see it.
                    unsafe { os::release(base, capacity * SEGMENT_SIZE, SEGMENT_SIZE) };
                    return None;
                }
                Some((base as usize, capacity))
            })?;
        // Acquire pairs with the Release `fetch_max` below: every entry under
        // `index` is then seen installed, so the caller's next scan of them
        // cannot read a stale empty entry and grow once more for nothing.
        let mut index = self.installed.load(Ordering::Acquire);
        while index < MAX_ARENAS {
            // Release pairs with the Acquire loads in `claim_in_installed`.
            match self.arenas[index].entry.compare_exchange(
                0,
                pack_entry(base, capacity),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.installed.fetch_max(index + 1, Ordering::Release);
                    return Some(());
                }
                // Someone installed theirs here: ours goes in a later entry.
                Err(_) => index += 1,
            }
        }
        unmark_segments(base, capacity * SEGMENT_SIZE);
        // SAFETY: the reservation was never published; nobody else can see it.
        unsafe { os::release(base as *mut u8, capacity * SEGMENT_SIZE, SEGMENT_SIZE) };
        None
    }

    /// Return a run to its arena.
    ///
    /// # Safety
    /// `run` must come from [`claim`](Self::claim) on this table, be released
    /// once, hold no live data, and read as zero (untouched or purged).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::ArenaTable;
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// let run = TABLE.claim(2).unwrap();
    /// // SAFETY: claimed from TABLE, released once, never written (reads as zero).
    /// unsafe { TABLE.release(run) };
    /// assert_eq!(TABLE.claimed_slots(), 0);
    /// // Its slots are free again: the same run comes back.
    /// assert_eq!(TABLE.claim(2), Some(run));
    /// # }
    /// ```
    pub unsafe fn release(&self, run: SlotRun) {
        crate::state::globals()
            .slots_in_use
            .fetch_sub(run.count as usize, StatOrdering::Relaxed);
        self.arenas[run.arena as usize]
            .slots
            .release(run.first as usize, run.count as usize);
    }

    /// Grow `run` in place to `new_count` slots by claiming the slots right
    /// after it. Returns the grown run, or `None` if they are taken or past
    /// the arena's end.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::ArenaTable;
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// let run = TABLE.claim(2).unwrap();
    /// // A large region grows in place when the slots after it are free ...
    /// let grown = TABLE.try_grow(run, 4).expect("the next slots are free");
    /// assert_eq!((grown.base, grown.count), (run.base, 4));
    /// // ... and not when someone holds them.
    /// let neighbour = TABLE.claim(1).unwrap();
    /// assert_eq!(TABLE.try_grow(grown, 5), None);
    /// # let _ = neighbour;
    /// # }
    /// ```
    pub fn try_grow(&self, run: SlotRun, new_count: usize) -> Option<SlotRun> {
        let end = run.first as usize + run.count as usize;
        let extra = new_count.checked_sub(run.count as usize)?;
        let arena = &self.arenas[run.arena as usize];
        // Relaxed: the entry was installed before `run` was claimed from it
        // (which synchronised with the install), and never changes.
        let (_, capacity) = unpack_entry(arena.entry.load(Ordering::Relaxed));
        if extra == 0 || run.first as usize + new_count > capacity {
            return None;
        }
        arena.slots.claim_exact(end, extra).then(|| {
            crate::state::globals()
                .slots_in_use
                .fetch_add(extra, StatOrdering::Relaxed);
            SlotRun {
                count: new_count as u32,
                ..run
            }
        })
    }

    /// Shrink `run` to its first `new_count` slots, releasing the rest.
    ///
    /// # Safety
    /// As for [`release`](Self::release), for the slots past `new_count`.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::ArenaTable;
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// let run = TABLE.claim(4).unwrap();
    /// // SAFETY: the last three slots hold nothing and were never touched.
    /// let head = unsafe { TABLE.shrink(run, 1) };
    /// assert_eq!((head.base, head.count), (run.base, 1));
    /// assert_eq!(TABLE.claimed_slots(), 1);
    /// # }
    /// ```
    pub unsafe fn shrink(&self, run: SlotRun, new_count: usize) -> SlotRun {
        debug_assert!(new_count >= 1 && new_count < run.count as usize);
        let tail = SlotRun {
            base: run.base.wrapping_add(new_count * SEGMENT_SIZE),
            arena: run.arena,
            first: run.first + new_count as u32,
            count: run.count - new_count as u32,
        };
        // SAFETY: forwarded from the caller.
        unsafe { self.release(tail) };
        SlotRun {
            count: new_count as u32,
            ..run
        }
    }

    /// Whether `address` lies inside an installed arena.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::ArenaTable;
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// let run = TABLE.claim(1).unwrap();
    /// assert!(TABLE.contains(run.base as usize + 100));
    /// let on_the_stack = 0u8;
    /// assert!(!TABLE.contains(&on_the_stack as *const u8 as usize));
    /// # }
    /// ```
    pub fn contains(&self, address: usize) -> bool {
        self.arenas
            .iter()
            .map(|arena| unpack_entry(arena.entry.load(Ordering::Acquire)))
            .take_while(|&(base, _)| base != 0)
            .any(|(base, capacity)| address.wrapping_sub(base) < capacity * SEGMENT_SIZE)
    }

    /// Number of arenas installed.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::ArenaTable;
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// assert_eq!(TABLE.arena_count(), 0);
    /// TABLE.claim(1).unwrap(); // reserves the first arena
    /// assert_eq!(TABLE.arena_count(), 1);
    /// # }
    /// ```
    pub fn arena_count(&self) -> usize {
        self.arenas
            .iter()
            .take_while(|a| a.entry.load(Ordering::Relaxed) != 0)
            .count()
    }

    /// The address and size in bytes of installed arena `index`.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::{ArenaTable, ARENA_SIZE};
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// assert_eq!(TABLE.arena_span(0), None);
    /// let run = TABLE.claim(1).unwrap();
    /// let (base, size) = TABLE.arena_span(0).unwrap();
    /// assert!(size <= ARENA_SIZE); // smaller when the kernel refused a whole one
    /// assert!((base..base + size).contains(&(run.base as usize)));
    /// # }
    /// ```
    pub fn arena_span(&self, index: usize) -> Option<(usize, usize)> {
        let (base, capacity) = unpack_entry(self.arenas.get(index)?.entry.load(Ordering::Acquire));
        (base != 0).then_some((base, capacity * SEGMENT_SIZE))
    }

    /// Slots claimed across the table (a snapshot).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::ArenaTable;
    ///
    /// static TABLE: ArenaTable = ArenaTable::new();
    /// let run = TABLE.claim(5).unwrap();
    /// assert_eq!(TABLE.claimed_slots(), 5);
    /// # let _ = run;
    /// # }
    /// ```
    pub fn claimed_slots(&self) -> usize {
        self.arenas.iter().map(|a| a.slots.count_claimed()).sum()
    }
}

impl Default for ArenaTable {
    fn default() -> Self {
        Self::new()
    }
}

/// Mark a new arena's slots in the segment map (see `segment_map`), before
/// the arena is installed: the Release CAS that installs it then publishes
/// the bits to every thread that claims a slot. False if the map cannot
/// cover the range (the arena is then not used).
fn mark_segments(base: usize, size: usize) -> bool {
    crate::segment_map::insert(base, size)
}

fn unmark_segments(base: usize, size: usize) {
    crate::segment_map::remove(base, size)
}

/// Slots per new arena, as configured.
#[cfg(not(feature = "loom"))]
fn arena_slots() -> usize {
    crate::config::arena_slots()
}

/// Under loom, the models' small arenas (the configuration keeps its default).
#[cfg(feature = "loom")]
fn arena_slots() -> usize {
    ARENA_SLOTS
}

/// The process-wide arena table: every segment and large region tinyalloc
/// hands out lives in one of its arenas.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use std::alloc::{GlobalAlloc, Layout};
/// use tinyalloc::TinyAlloc;
///
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// // SAFETY: a non-zero size.
/// let p = unsafe { TinyAlloc.alloc(layout) };
/// let arenas = tinyalloc::arena::arenas();
/// assert!(arenas.contains(p as usize) && arenas.arena_count() >= 1);
/// // SAFETY: allocated above with this layout.
/// unsafe { TinyAlloc.dealloc(p, layout) };
/// # }
/// ```
pub fn arenas() -> &'static ArenaTable {
    &crate::state::globals().arenas
}

/// Slots in use across every table (statistics).
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::arena::{slots_in_use, ArenaTable};
///
/// static TABLE: ArenaTable = ArenaTable::new();
/// let before = slots_in_use(); // across every table, the process-wide one too
/// let run = TABLE.claim(2).unwrap();
/// assert_eq!(slots_in_use(), before + 2);
/// // SAFETY: claimed above, released once, never touched.
/// unsafe { TABLE.release(run) };
/// assert_eq!(slots_in_use(), before);
/// # }
/// ```
pub fn slots_in_use() -> usize {
    crate::state::globals()
        .slots_in_use
        .load(StatOrdering::Relaxed)
}
