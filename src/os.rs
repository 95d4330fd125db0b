//! The kernel door: the only module that maps, unmaps or purges memory.
//!
//! Contract (the rest of the crate relies on exactly this):
//! - [`reserve_aligned`] returns read-write, zero-filled memory mapped with
//!   `MAP_NORESERVE`: pages commit on first touch, so there is never an
//!   `mprotect` to commit. Failure is `None`, never a panic or an abort.
//! - [`purge`] drops the pages' contents (`MADV_DONTNEED`): the range stays
//!   mapped and reads back as zero, so a purged range is as good as fresh.
//! - [`release`] unmaps a range that [`reserve_aligned`] returned, whole.
//! - [`move_pages`] moves a range's pages to another range (`mremap` with
//!   `MREMAP_FIXED`, so the destination keeps our alignment): no byte is
//!   copied, and the source reads as zero afterwards.
//! - No function here allocates through the global allocator.
//!
//! Under Miri and loom the kernel is replaced by a mock: under Miri over
//! `std::alloc::System` (Miri only supports simple anonymous mappings), zeroed
//! blocks with the alignment asked; under loom plain aligned anonymous
//! mappings (see `backend::reserve_aligned`). Its clock ticks once per
//! reading. Under loom a purge keeps the contents (see `backend::purge`), a
//! move copies, and the counters and the clock belong to the model
//! execution's state (`state::Globals::os`).
//! Every call is counted, so tests can assert how often the kernel was entered.

use crate::sync::{StatCounter, StatOrdering};

/// The granularity of purging and of committed-extent bookkeeping.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{reserve_aligned, PAGE_SIZE};
///
/// let p = reserve_aligned(4 * PAGE_SIZE, PAGE_SIZE, 0).unwrap();
/// assert_eq!(p as usize % PAGE_SIZE, 0);
/// # // SAFETY: the reservation above, whole, untouched afterwards.
/// # unsafe { tinyalloc::os::release(p, 4 * PAGE_SIZE, PAGE_SIZE) };
/// # }
/// ```
pub const PAGE_SIZE: usize = 4096;

/// The kernel door's counters, a part of the allocator's state
/// (`state::Globals::os`).
pub(crate) struct OsState {
    map_calls: StatCounter,
    unmap_calls: StatCounter,
    purge_calls: StatCounter,
    move_calls: StatCounter,
    mapped_bytes: StatCounter,
    injected_failures: StatCounter,
    /// [`cpu_count`] plus one, or 0 before its first call.
    cpus: StatCounter,
    /// The mock clock (a tick per reading).
    #[cfg(any(miri, feature = "loom"))]
    ticks: StatCounter,
}

impl OsState {
    /// All zero.
    pub(crate) const fn new() -> Self {
        OsState {
            map_calls: StatCounter::new(0),
            unmap_calls: StatCounter::new(0),
            purge_calls: StatCounter::new(0),
            move_calls: StatCounter::new(0),
            mapped_bytes: StatCounter::new(0),
            injected_failures: StatCounter::new(0),
            cpus: StatCounter::new(0),
            #[cfg(any(miri, feature = "loom"))]
            ticks: StatCounter::new(0),
        }
    }
}

/// The counters of the allocator's state.
#[inline(always)]
fn state() -> &'static OsState {
    &crate::state::globals().os
}

/// How often the kernel was entered, and how much is mapped now.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, PAGE_SIZE};
///
/// let before = os::counters();
/// let p = os::reserve_aligned(PAGE_SIZE, PAGE_SIZE, 0).unwrap();
/// let during = os::counters();
/// assert!(during.map_calls > before.map_calls);
/// assert_eq!(during.mapped_bytes, before.mapped_bytes + PAGE_SIZE);
/// // SAFETY: the reservation above, whole, untouched afterwards.
/// unsafe { os::release(p, PAGE_SIZE, PAGE_SIZE) };
/// assert_eq!(os::counters().mapped_bytes, before.mapped_bytes);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsCounters {
    /// Successful and failed `mmap` calls.
    pub map_calls: usize,
    /// `munmap` calls (including the trims of an aligned reservation).
    pub unmap_calls: usize,
    /// `madvise` calls.
    pub purge_calls: usize,
    /// `mremap` calls.
    pub move_calls: usize,
    /// Bytes currently mapped by tinyalloc.
    pub mapped_bytes: usize,
}

/// A snapshot of the kernel-call counters.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os;
///
/// let c = os::counters();
/// println!("{} mmap, {} munmap, {} madvise, {} mremap calls; {} bytes mapped",
///     c.map_calls, c.unmap_calls, c.purge_calls, c.move_calls, c.mapped_bytes);
/// # }
/// ```
pub fn counters() -> OsCounters {
    OsCounters {
        map_calls: state().map_calls.load(StatOrdering::Relaxed),
        unmap_calls: state().unmap_calls.load(StatOrdering::Relaxed),
        purge_calls: state().purge_calls.load(StatOrdering::Relaxed),
        move_calls: state().move_calls.load(StatOrdering::Relaxed),
        mapped_bytes: state().mapped_bytes.load(StatOrdering::Relaxed),
    }
}

/// Make the next `count` reservations fail as if the kernel were out of memory
/// (for out-of-memory tests).
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, PAGE_SIZE};
///
/// os::inject_reserve_failures(1);
/// assert_eq!(os::reserve_aligned(PAGE_SIZE, PAGE_SIZE, 0), None); // the injected failure
/// let p = os::reserve_aligned(PAGE_SIZE, PAGE_SIZE, 0).expect("only one was injected");
/// // SAFETY: the reservation above, whole, untouched afterwards.
/// unsafe { os::release(p, PAGE_SIZE, PAGE_SIZE) };
/// # }
/// ```
pub fn inject_reserve_failures(count: usize) {
    state()
        .injected_failures
        .store(count, StatOrdering::Relaxed);
}

fn take_injected_failure() -> bool {
    let mut left = state().injected_failures.load(StatOrdering::Relaxed);
    while left > 0 {
        match state().injected_failures.compare_exchange_weak(
            left,
            left - 1,
            StatOrdering::Relaxed,
            StatOrdering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(now) => left = now,
        }
    }
    false
}

/// Reserve `size` bytes (a multiple of [`PAGE_SIZE`]) whose address plus
/// `offset` is a multiple of `align` (a power of two, at least [`PAGE_SIZE`];
/// `offset` a multiple of [`PAGE_SIZE`], less than `align`).
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, PAGE_SIZE};
///
/// // 16 pages whose second page starts on a 64 KiB boundary.
/// let (size, align) = (16 * PAGE_SIZE, 64 << 10);
/// let p = os::reserve_aligned(size, align, PAGE_SIZE).expect("out of address space");
/// assert_eq!((p as usize + PAGE_SIZE) % align, 0);
/// // SAFETY: fresh, zero-filled, read-write memory of `size` bytes.
/// assert!(unsafe { std::slice::from_raw_parts(p, size) }.iter().all(|&b| b == 0));
/// // SAFETY: exactly the reservation above, untouched afterwards.
/// unsafe { os::release(p, size, align) };
/// # }
/// ```
pub fn reserve_aligned(size: usize, align: usize, offset: usize) -> Option<*mut u8> {
    debug_assert!(align.is_power_of_two() && align >= PAGE_SIZE);
    debug_assert!(size % PAGE_SIZE == 0 && offset % PAGE_SIZE == 0 && offset < align);
    if size == 0 || take_injected_failure() {
        return None;
    }
    let ptr = backend::reserve_aligned(size, align, offset)?;
    // Headers are found from block addresses by masking (`segment_of`), and
    // take the reservation's provenance, which must therefore be exposed.
    let _ = ptr.expose_provenance();
    state().mapped_bytes.fetch_add(size, StatOrdering::Relaxed);
    Some(ptr)
}

/// Unmap `[ptr, ptr + size)`, a range [`reserve_aligned`] returned.
///
/// # Safety
/// The range must be exactly one earlier reservation (same `size` and `align`),
/// and nothing may touch it afterwards.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, PAGE_SIZE};
///
/// let p = os::reserve_aligned(2 * PAGE_SIZE, PAGE_SIZE, 0).unwrap();
/// // SAFETY: exactly that reservation (same size and alignment), never touched again.
/// unsafe { os::release(p, 2 * PAGE_SIZE, PAGE_SIZE) };
/// # }
/// ```
pub unsafe fn release(ptr: *mut u8, size: usize, align: usize) {
    // SAFETY: forwarded from the caller's contract.
    unsafe { backend::release(ptr, size, align) };
    state().mapped_bytes.fetch_sub(size, StatOrdering::Relaxed);
}

/// Drop the contents of `[ptr, ptr + size)` (page aligned); the range stays
/// mapped and reads as zero afterwards. Returns false if the kernel refused.
///
/// # Safety
/// The range must lie inside one reservation and hold nothing anyone still reads.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, PAGE_SIZE};
///
/// let p = os::reserve_aligned(PAGE_SIZE, PAGE_SIZE, 0).unwrap();
/// // SAFETY: p is ours, read-write, PAGE_SIZE bytes.
/// unsafe { p.write_bytes(0xAB, PAGE_SIZE) };
/// // SAFETY: inside the reservation; nobody reads the old contents.
/// assert!(unsafe { os::purge(p, PAGE_SIZE) });
/// // SAFETY: still mapped; it reads as zero now.
/// assert_eq!(unsafe { p.read() }, 0);
/// // SAFETY: the reservation above, whole, untouched afterwards.
/// unsafe { os::release(p, PAGE_SIZE, PAGE_SIZE) };
/// # }
/// ```
pub unsafe fn purge(ptr: *mut u8, size: usize) -> bool {
    debug_assert!(ptr as usize % PAGE_SIZE == 0 && size % PAGE_SIZE == 0);
    if size == 0 {
        return true;
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe { backend::purge(ptr, size) }
}

/// What became of the source range of a [`move_pages`].
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, AfterMove, MoveOutcome, PAGE_SIZE};
///
/// let (from, to) = (os::reserve_aligned(PAGE_SIZE, PAGE_SIZE, 0).unwrap(), os::reserve_aligned(PAGE_SIZE, PAGE_SIZE, 0).unwrap());
/// // SAFETY: two separate one-page reservations that only this code uses.
/// match unsafe { os::move_pages(from, to, PAGE_SIZE, AfterMove::Refill) } {
///     MoveOutcome::Moved | MoveOutcome::NotMoved => {
///         // SAFETY: both still mapped; release each reservation whole.
///         unsafe { os::release(from, PAGE_SIZE, PAGE_SIZE) };
///         // SAFETY: as above.
///         unsafe { os::release(to, PAGE_SIZE, PAGE_SIZE) };
///     }
///     // The source is a hole now: only the destination may be released.
///     // SAFETY: `to` is a whole reservation.
///     MoveOutcome::MovedSourceLost => unsafe { os::release(to, PAGE_SIZE, PAGE_SIZE) },
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Nothing moved; both ranges are as they were.
    NotMoved,
    /// Moved; the source is mapped again with fresh zero pages.
    Moved,
    /// Moved, but the kernel refused to map the source again: it is a hole
    /// now and must never be touched (its address range is lost).
    MovedSourceLost,
}

/// What [`move_pages`] does with the source range once its pages are gone.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, AfterMove, MoveOutcome, PAGE_SIZE};
///
/// // Grow a buffer by moving its pages into a bigger reservation; the old
/// // reservation ends with the move.
/// let old = os::reserve_aligned(PAGE_SIZE, PAGE_SIZE, 0).unwrap();
/// let new = os::reserve_aligned(4 * PAGE_SIZE, PAGE_SIZE, 0).unwrap();
/// // SAFETY: `old` is ours, one writable page.
/// unsafe { old.write(7) };
/// // SAFETY: disjoint reservations that only this code uses; `old` is exactly one reservation.
/// let moved = unsafe { os::move_pages(old, new, PAGE_SIZE, AfterMove::Release { align: PAGE_SIZE }) };
/// if moved != MoveOutcome::NotMoved {
///     // SAFETY: the page moved here.
///     assert_eq!(unsafe { new.read() }, 7);
/// } else {
///     // SAFETY: nothing moved: `old` is still a whole reservation.
///     unsafe { os::release(old, PAGE_SIZE, PAGE_SIZE) };
/// }
/// // SAFETY: the new reservation, whole.
/// unsafe { os::release(new, 4 * PAGE_SIZE, PAGE_SIZE) };
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterMove {
    /// Map it again with fresh zero pages: it stays part of its reservation.
    Refill,
    /// Leave it unmapped: it was exactly one reservation, which ends here
    /// (as if [`release`]d).
    Release {
        /// The alignment the reservation was made with.
        align: usize,
    },
}

/// Move the pages of `[from, from + size)` onto `[to, to + size)`, replacing
/// what `to` held, without copying; `after` says what becomes of the source.
///
/// # Safety
/// Both ranges are page aligned, disjoint, each inside one reservation the
/// caller owns, and nobody else reads or writes either of them meanwhile.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::{self, AfterMove, MoveOutcome, PAGE_SIZE};
///
/// let r = os::reserve_aligned(2 * PAGE_SIZE, PAGE_SIZE, 0).unwrap();
/// let (from, to) = (r, r.wrapping_add(PAGE_SIZE));
/// // SAFETY: one writable page of our reservation.
/// unsafe { from.write(42) };
/// // SAFETY: disjoint, page aligned, inside one reservation that only this code uses.
/// let outcome = unsafe { os::move_pages(from, to, PAGE_SIZE, AfterMove::Refill) };
/// if outcome == MoveOutcome::Moved {
///     // SAFETY: both pages are mapped: the byte moved, the source is zero again.
///     assert_eq!(unsafe { (to.read(), from.read()) }, (42, 0));
/// }
/// if outcome != MoveOutcome::MovedSourceLost {
///     // SAFETY: the reservation, whole.
///     unsafe { os::release(r, 2 * PAGE_SIZE, PAGE_SIZE) };
/// }
/// # }
/// ```
pub unsafe fn move_pages(from: *mut u8, to: *mut u8, size: usize, after: AfterMove) -> MoveOutcome {
    debug_assert!(from as usize % PAGE_SIZE == 0 && to as usize % PAGE_SIZE == 0);
    debug_assert!(size % PAGE_SIZE == 0);
    debug_assert!(from as usize + size <= to as usize || to as usize + size <= from as usize);
    if size == 0 {
        return MoveOutcome::Moved;
    }
    state().move_calls.fetch_add(1, StatOrdering::Relaxed);
    // SAFETY: forwarded from the caller's contract.
    let outcome = unsafe { backend::move_pages(from, to, size, after) };
    if outcome != MoveOutcome::NotMoved && after != AfterMove::Refill {
        state().mapped_bytes.fetch_sub(size, StatOrdering::Relaxed);
    }
    outcome
}

/// Give back a reservation when a loom execution's state is dropped
/// (uncounted: the counters are part of that state).
///
/// # Safety
/// As [`release`].
#[cfg(feature = "loom")]
pub(crate) unsafe fn release_at_teardown(ptr: *mut u8, size: usize, align: usize) {
    // SAFETY: forwarded from the caller's contract.
    unsafe { backend::dealloc(ptr, size, align) };
}

/// Milliseconds on a monotonic clock, cheap enough for slow paths.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::os::now_millis;
///
/// let a = now_millis();
/// let b = now_millis();
/// assert!(b >= a, "monotonic");
/// # }
/// ```
pub fn now_millis() -> u64 {
    backend::now_millis()
}

/// The CPUs the calling thread may run on (its affinity mask), as read by
/// the first call in the process (later changes are not seen), or 0 where
/// that is unknown: a failed call, or the Miri and loom stand-ins. One
/// system call per process; then a relaxed load (two threads that race to
/// the first call store the same value).
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// let cpus = tinyalloc::os::cpu_count();
/// assert_eq!(cpus, tinyalloc::os::cpu_count(), "read once");
/// # #[cfg(not(miri))]
/// assert!(cpus >= 1);
/// # }
/// ```
pub fn cpu_count() -> usize {
    let cached = state().cpus.load(StatOrdering::Relaxed);
    if cached != 0 {
        return cached - 1;
    }
    let cpus = backend::cpu_count();
    state().cpus.store(cpus + 1, StatOrdering::Relaxed);
    cpus
}

#[cfg(not(any(miri, feature = "loom")))]
mod backend {
    use super::{state, AfterMove, MoveOutcome, StatOrdering, PAGE_SIZE};

    fn map(size: usize) -> Option<*mut u8> {
        state().map_calls.fetch_add(1, StatOrdering::Relaxed);
        // SAFETY: an anonymous private mapping at a kernel-chosen address
        // touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            None
        } else {
            Some(ptr.cast())
        }
    }

    fn unmap(ptr: *mut u8, size: usize) {
        if size == 0 {
            return;
        }
        state().unmap_calls.fetch_add(1, StatOrdering::Relaxed);
        // SAFETY: callers pass a page-aligned range inside a mapping they own.
        unsafe { libc::munmap(ptr.cast(), size) };
    }

    pub(super) fn reserve_aligned(size: usize, align: usize, offset: usize) -> Option<*mut u8> {
        // Try the exact size first: the kernel often hands out aligned
        // addresses when earlier reservations were aligned.
        let ptr = map(size)?;
        if (ptr as usize + offset) % align == 0 {
            return Some(ptr);
        }
        unmap(ptr, size);
        let padded = size.checked_add(align - PAGE_SIZE)?;
        let raw = map(padded)?;
        let start = raw as usize;
        let aligned = (start + offset).next_multiple_of(align) - offset;
        let head = aligned - start;
        let tail = padded - head - size;
        unmap(raw, head);
        unmap((aligned + size) as *mut u8, tail);
        Some(aligned as *mut u8)
    }

    /// # Safety
    /// As [`super::release`].
    pub(super) unsafe fn release(ptr: *mut u8, size: usize, _align: usize) {
        unmap(ptr, size);
    }

    /// # Safety
    /// As [`super::purge`].
    pub(super) unsafe fn purge(ptr: *mut u8, size: usize) -> bool {
        state().purge_calls.fetch_add(1, StatOrdering::Relaxed);
        // SAFETY: the caller owns the range and reads nothing from it; on a
        // private anonymous mapping DONTNEED makes it read back as zero.
        unsafe { libc::madvise(ptr.cast(), size, libc::MADV_DONTNEED) == 0 }
    }

    /// # Safety
    /// As [`super::move_pages`].
    pub(super) unsafe fn move_pages(
        from: *mut u8,
        to: *mut u8,
        size: usize,
        after: AfterMove,
    ) -> MoveOutcome {
        // SAFETY: the caller owns both ranges; MREMAP_FIXED replaces the
        // destination's mapping, which holds nothing anyone reads.
        let moved = unsafe {
            libc::mremap(
                from.cast(),
                size,
                size,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                to.cast::<libc::c_void>(),
            )
        };
        if moved == libc::MAP_FAILED {
            return MoveOutcome::NotMoved;
        }
        if after != AfterMove::Refill {
            return MoveOutcome::Moved;
        }
        state().map_calls.fetch_add(1, StatOrdering::Relaxed);
        // SAFETY: the source range is ours and unmapped now; MAP_FIXED maps
        // fresh zero pages exactly there, with the reservation's flags.
        let refilled = unsafe {
            libc::mmap(
                from.cast(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if refilled == libc::MAP_FAILED {
            MoveOutcome::MovedSourceLost
        } else {
            MoveOutcome::Moved
        }
    }

    pub(super) fn now_millis() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; the coarse clock is a vDSO read.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
    }

    pub(super) fn cpu_count() -> usize {
        // SAFETY: `cpu_set_t` is a plain bit array: all zeros is the empty set.
        let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
        // SAFETY: `set` is writable and as big as the size passed; pid 0 is
        // the calling thread.
        let result = unsafe {
            libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set)
        };
        if result != 0 {
            return 0;
        }
        // SAFETY: `set` is an initialised set (the kernel filled it in).
        unsafe { libc::CPU_COUNT(&set) as usize }
    }
}

#[cfg(any(miri, feature = "loom"))]
mod backend {
    //! A kernel stand-in over `System`: zeroed, aligned blocks.
    use super::{state, AfterMove, MoveOutcome, StatOrdering};
    #[cfg(not(feature = "loom"))]
    use std::alloc::{GlobalAlloc, Layout, System};

    /// Under loom: an anonymous mapping of `size + align`, trimmed to the
    /// aligned region (`System` would serve a model's 8 MiB arena from the
    /// heap once glibc's mmap threshold adapts, and clear it with `memset` in
    /// every execution).
    #[cfg(feature = "loom")]
    pub(super) fn reserve_aligned(size: usize, align: usize, offset: usize) -> Option<*mut u8> {
        state().map_calls.fetch_add(1, StatOrdering::Relaxed);
        let padded = size.checked_add(align)?;
        // SAFETY: a private anonymous mapping at a kernel-chosen address
        // touches no existing memory.
        let raw = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                padded,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let start = raw as usize;
        let aligned = (start + offset).next_multiple_of(align) - offset;
        let head = aligned - start;
        // SAFETY: the head and tail lie in the fresh mapping and hold nothing.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if padded - head - size > 0 {
                libc::munmap((aligned + size) as *mut libc::c_void, padded - head - size);
            }
        }
        Some(aligned as *mut u8)
    }

    #[cfg(not(feature = "loom"))]
    pub(super) fn reserve_aligned(size: usize, align: usize, offset: usize) -> Option<*mut u8> {
        state().map_calls.fetch_add(1, StatOrdering::Relaxed);
        // The mock can only honour offset 0 exactly; a non-zero offset is
        // served by aligning the block to `align` and reserving `offset` less
        // than a full alignment unit in front.
        let (size, lead) = if offset == 0 {
            (size, 0)
        } else {
            (size + align - offset, align - offset)
        };
        let layout = Layout::from_size_align(size, align).ok()?;
        // SAFETY: `size` is non-zero.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if ptr.is_null() {
            None
        } else {
            // SAFETY: `lead < size`, inside the block.
            Some(unsafe { ptr.add(lead) })
        }
    }

    /// # Safety
    /// As [`super::release`].
    pub(super) unsafe fn release(ptr: *mut u8, size: usize, align: usize) {
        state().unmap_calls.fetch_add(1, StatOrdering::Relaxed);
        // SAFETY: forwarded.
        unsafe { dealloc(ptr, size, align) };
    }

    /// [`release`] without counting (the loom state's teardown).
    ///
    /// # Safety
    /// As [`super::release`].
    #[cfg(feature = "loom")]
    pub(super) unsafe fn dealloc(ptr: *mut u8, size: usize, _align: usize) {
        // SAFETY: `reserve_aligned` mapped exactly this range.
        unsafe { libc::munmap(ptr.cast(), size) };
    }

    /// [`release`] without counting.
    ///
    /// # Safety
    /// As [`super::release`].
    #[cfg(not(feature = "loom"))]
    pub(super) unsafe fn dealloc(ptr: *mut u8, size: usize, align: usize) {
        let lead = ptr as usize % align;
        let (base, size) = (ptr.wrapping_sub(lead), size + lead);
        // SAFETY: `base`/`size`/`align` rebuild the layout `reserve_aligned` used.
        unsafe { System.dealloc(base, Layout::from_size_align_unchecked(size, align)) };
    }

    /// # Safety
    /// As [`super::purge`].
    pub(super) unsafe fn purge(ptr: *mut u8, size: usize) -> bool {
        state().purge_calls.fetch_add(1, StatOrdering::Relaxed);
        // Under loom a purge keeps the contents: a header's atomics are loom
        // handles that a stale stack reader may still load (type-stable
        // memory), and zeroing would forge them. Nothing a model checks
        // reads purged memory as zero (no zeroed allocations).
        #[cfg(not(feature = "loom"))]
        // SAFETY: the caller owns the range.
        unsafe {
            core::ptr::write_bytes(ptr, 0, size)
        };
        #[cfg(feature = "loom")]
        let _ = (ptr, size);
        true
    }

    /// # Safety
    /// As [`super::move_pages`].
    pub(super) unsafe fn move_pages(
        from: *mut u8,
        to: *mut u8,
        size: usize,
        after: AfterMove,
    ) -> MoveOutcome {
        // SAFETY: the caller owns both disjoint ranges. Without a refill the
        // source reservation ends here, as `munmap` would end it.
        unsafe {
            core::ptr::copy_nonoverlapping(from, to, size);
            match after {
                AfterMove::Refill => core::ptr::write_bytes(from, 0, size),
                AfterMove::Release { align } => release(from, size, align),
            }
        }
        MoveOutcome::Moved
    }

    pub(super) fn now_millis() -> u64 {
        // A tick per call: each purge pass sees time move on.
        state().ticks.fetch_add(1, StatOrdering::Relaxed) as u64
    }

    /// Unknown: the stand-ins model no CPUs.
    pub(super) fn cpu_count() -> usize {
        0
    }
}
