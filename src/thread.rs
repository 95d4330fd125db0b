//! Thread state: which heap the calling thread uses, and clean-up at exit.
//!
//! The thread-local is one word holding a heap pointer, with no destructor,
//! so reaching it never allocates and never registers anything with the
//! runtime: a `const`-initialised `thread_local!` `Cell`, or with the
//! `initial-exec-tls` feature on x86_64/aarch64 Linux an initial-exec TLS
//! slot declared in assembly (no `__tls_get_addr` call in a shared library).
//! [`current_heap`] and `set_current_heap` are its only accessors. It starts
//! at the static *sentinel* heap, whose
//! classes all point at the empty page: the first allocation of a thread falls
//! into the slow path, which takes a heap from the pool ([`init_heap`]).
//!
//! Thread exit is noticed by a `pthread_key_create` destructor, not by Rust's
//! `thread_local!` destructors (which have caused aborts in global allocators,
//! rust-lang/rust#116390): it points the thread back at the sentinel, abandons
//! the heap's segments and returns the heap to the pool. A free during or after
//! that (another destructor) takes the remote path; an allocation takes a
//! fresh heap and registers again (glibc reruns destructors for keys set
//! while destructors run).
//!
//! Heaps come from a lock-free pool: a `TaggedStack` of heaps, refilled by
//! carving a kernel mapping into heaps. Heap memory is never unmapped
//! (type-stable, as the stack requires). [`take_heap`] and [`return_heap`]
//! are the pool's two doors, for threads and for `tinyalloc::Heap` alike.

use crate::ds::tagged_stack::StackNode;
use crate::heap::{self, Heap};
use crate::os;
use crate::state::globals;
use crate::sync::{AtomicPtr, Ordering, StatOrdering};
use core::ptr::{self, NonNull};

struct Sentinel(Heap);
// SAFETY: the sentinel heap is never written: its classes point at the empty
// page, and `alloc_slow` swaps it for a real heap before touching any list.
unsafe impl Sync for Sentinel {}
#[cfg(not(feature = "loom"))]
static SENTINEL: Sentinel = Sentinel(Heap::new());

#[cfg(not(feature = "loom"))]
const fn sentinel() -> *mut Heap {
    ptr::addr_of!(SENTINEL.0) as *mut Heap
}

// Under loom the sentinel holds loom atomics: one per execution.
#[cfg(feature = "loom")]
loom::lazy_static! {
    static ref SENTINEL: Sentinel = Sentinel(Heap::new());
}

#[cfg(feature = "loom")]
fn sentinel() -> *mut Heap {
    ptr::addr_of!(SENTINEL.0) as *mut Heap
}

#[cfg(not(any(
    feature = "loom",
    all(
        feature = "initial-exec-tls",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux"
    )
)))]
mod slot {
    //! The heap slot as a Rust `thread_local!` (general-dynamic in a shared
    //! library: a `__tls_get_addr` call per access).
    use super::{sentinel, Heap};
    use core::cell::Cell;

    thread_local! {
        static CURRENT_HEAP: Cell<*mut Heap> = const { Cell::new(sentinel()) };
    }

    #[inline(always)]
    pub(super) fn get() -> *mut Heap {
        CURRENT_HEAP.with(Cell::get)
    }

    #[inline(always)]
    pub(super) fn set(heap: *mut Heap) {
        CURRENT_HEAP.with(|current| current.set(heap));
    }
}

#[cfg(feature = "loom")]
mod slot {
    //! Under loom: the heap slot is a loom `thread_local!` (per model thread
    //! and execution) whose destructor runs the thread-exit path, as the
    //! pthread key destructor does outside loom. Null stands for the
    //! sentinel (which lives in the execution's state).
    use super::{exit_heap, sentinel, Heap};
    use core::cell::Cell;
    use core::ptr;

    pub(super) struct Slot(Cell<*mut Heap>);

    impl Drop for Slot {
        fn drop(&mut self) {
            let heap = self.0.replace(ptr::null_mut());
            if !heap.is_null() && heap != sentinel() {
                // SAFETY: the heap was this thread's, which is ending; the
                // slot is the sentinel again.
                unsafe { exit_heap(heap) };
            }
        }
    }

    loom::thread_local! {
        static CURRENT_HEAP: Slot = Slot(Cell::new(ptr::null_mut()));
    }

    pub(super) fn get() -> *mut Heap {
        let heap = CURRENT_HEAP.with(|slot| slot.0.get());
        if heap.is_null() {
            sentinel()
        } else {
            heap
        }
    }

    pub(super) fn set(heap: *mut Heap) {
        CURRENT_HEAP.with(|slot| slot.0.set(heap));
    }
}

#[cfg(all(
    not(feature = "loom"),
    feature = "initial-exec-tls",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
))]
mod slot {
    //! The heap slot as an initial-exec TLS variable, declared in assembly
    //! (stable Rust has no `#[thread_local]` with a chosen model): an access
    //! is a load of the slot's offset from the GOT plus a thread-pointer
    //! relative load, with no `__tls_get_addr` call. Its initial value (the
    //! sentinel's address) sits in `.tdata`, relocated before any thread's
    //! block is copied from it. A library loaded by `dlopen` gets its block
    //! from glibc's static TLS surplus (8 bytes here).
    use super::{Heap, SENTINEL};
    use core::arch::{asm, global_asm};

    global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 3",
        ".globl __tinyalloc_current_heap",
        ".hidden __tinyalloc_current_heap",
        ".type __tinyalloc_current_heap,@object",
        ".size __tinyalloc_current_heap,8",
        "__tinyalloc_current_heap:",
        ".quad {sentinel}",
        ".popsection",
        sentinel = sym SENTINEL,
    );

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn get() -> *mut Heap {
        let heap: *mut Heap;
        // SAFETY: reads this thread's slot (the GOT entry holds its offset
        // from the thread pointer); touches nothing else.
        unsafe {
            asm!(
                "mov {heap}, qword ptr [rip + __tinyalloc_current_heap@GOTTPOFF]",
                "mov {heap}, qword ptr fs:[{heap}]",
                heap = out(reg) heap,
                options(nostack, preserves_flags, readonly, pure),
            );
        }
        heap
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn set(heap: *mut Heap) {
        // SAFETY: writes this thread's slot only.
        unsafe {
            asm!(
                "mov {offset}, qword ptr [rip + __tinyalloc_current_heap@GOTTPOFF]",
                "mov qword ptr fs:[{offset}], {heap}",
                offset = out(reg) _,
                heap = in(reg) heap,
                options(nostack, preserves_flags),
            );
        }
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub(super) fn get() -> *mut Heap {
        let heap: *mut Heap;
        // SAFETY: reads this thread's slot (the GOT entry holds its offset
        // from the thread pointer); touches nothing else.
        unsafe {
            asm!(
                "adrp {heap}, :gottprel:__tinyalloc_current_heap",
                "ldr {heap}, [{heap}, #:gottprel_lo12:__tinyalloc_current_heap]",
                "mrs {tp}, tpidr_el0",
                "ldr {heap}, [{tp}, {heap}]",
                heap = out(reg) heap,
                tp = out(reg) _,
                options(nostack, preserves_flags, readonly, pure),
            );
        }
        heap
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub(super) fn set(heap: *mut Heap) {
        // SAFETY: writes this thread's slot only.
        unsafe {
            asm!(
                "adrp {offset}, :gottprel:__tinyalloc_current_heap",
                "ldr {offset}, [{offset}, #:gottprel_lo12:__tinyalloc_current_heap]",
                "mrs {tp}, tpidr_el0",
                "str {heap}, [{tp}, {offset}]",
                offset = out(reg) _,
                tp = out(reg) _,
                heap = in(reg) heap,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// The calling thread's heap (the sentinel before its first allocation).
#[inline(always)]
pub fn current_heap() -> *mut Heap {
    slot::get()
}

/// Make `heap` the calling thread's heap.
#[inline(always)]
fn set_current_heap(heap: *mut Heap) {
    slot::set(heap);
}

/// Whether `heap` is the sentinel.
#[inline(always)]
pub fn is_sentinel(heap: *mut Heap) -> bool {
    heap == sentinel()
}

// SAFETY: `pool_link` is the heap's one link word, and heap memory is never
// unmapped.
unsafe impl StackNode for Heap {
    fn link(&self) -> &AtomicPtr<Heap> {
        &self.pool_link
    }
}

/// Bytes of heaps carved per kernel mapping.
const POOL_CHUNK: usize = 64 * 1024;
/// Address space reserved once for heaps claimed one by one (see
/// [`carve_heaps`]).
#[cfg(not(feature = "loom"))]
const HEAP_AREA_SIZE: usize = 16 << 20;
/// Under loom: room for the few heaps of a model (the mock backend zeroes it).
#[cfg(feature = "loom")]
const HEAP_AREA_SIZE: usize = (8 * core::mem::size_of::<Heap>()).next_multiple_of(os::PAGE_SIZE);

/// The size and alignment of the heap area's reservation.
#[cfg(feature = "loom")]
pub(crate) fn heap_area_shape() -> (usize, usize) {
    (HEAP_AREA_SIZE, os::PAGE_SIZE)
}

/// Give the calling thread a heap from the pool and register its clean-up.
/// Returns the sentinel if no heap can be had (out of memory).
pub fn init_heap() -> *mut Heap {
    let Some(heap) = take_heap() else {
        return sentinel();
    };
    let heap = heap.as_ptr();
    globals().live_heaps.fetch_add(1, StatOrdering::Relaxed);
    // Set before registering: if registering allocates (libc may), the nested
    // allocation finds this heap and takes the fast path.
    set_current_heap(heap);
    #[cfg(not(feature = "loom"))]
    if let Some(key) = exit_key() {
        // SAFETY: `key` is a live key; the value is only read by our destructor.
        unsafe { libc::pthread_setspecific(key, heap.cast()) };
    }
    heap
}

/// A heap the pool did not have: the next one of a reserved area, claimed by
/// bumping an index, so only heaps that threads take are ever touched (when
/// hundreds of threads start at once, each carving a chunk of its own used
/// to commit 64 KiB per thread). Past the area, carve a fresh mapping into
/// heaps: keep one, pool the rest.
fn carve_heaps() -> Option<NonNull<Heap>> {
    let index = globals().heap_area_next.fetch_add(1, Ordering::Relaxed);
    if index < HEAP_AREA_SIZE / core::mem::size_of::<Heap>() {
        // Acquire pairs with the Release CAS that published the area.
        let mut area = globals().heap_area.load(Ordering::Acquire);
        if area.is_null() {
            let fresh = os::reserve_aligned(HEAP_AREA_SIZE, os::PAGE_SIZE, 0)?.cast::<Heap>();
            match globals().heap_area.compare_exchange(
                ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => area = fresh,
                Err(winner) => {
                    // SAFETY: our reservation was never published or used.
                    unsafe { os::release(fresh.cast(), HEAP_AREA_SIZE, os::PAGE_SIZE) };
                    area = winner;
                }
            }
        }
        // SAFETY: `index` is below the area's capacity and was claimed by
        // this thread alone.
        unsafe {
            let heap = area.add(index);
            heap.write(Heap::new());
            return NonNull::new(heap);
        }
    }
    let base = os::reserve_aligned(POOL_CHUNK, os::PAGE_SIZE, 0)?.cast::<Heap>();
    let count = POOL_CHUNK / core::mem::size_of::<Heap>();
    for index in 0..count {
        // SAFETY: the mapping is fresh and ours; each slot fits one heap.
        unsafe {
            let heap = base.add(index);
            heap.write(Heap::new());
            if index > 0 {
                globals().pool.push(NonNull::new_unchecked(heap));
            }
        }
    }
    NonNull::new(base)
}

/// The key whose destructor runs [`thread_exit`], created on first use. Two
/// threads racing both create one; the loser deletes its own.
#[cfg(not(feature = "loom"))]
fn exit_key() -> Option<libc::pthread_key_t> {
    let current = globals().exit_key.load(Ordering::Acquire);
    if current != 0 {
        return Some((current - 1) as libc::pthread_key_t);
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; `thread_exit` has the C signature.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } != 0 {
        return None;
    }
    // AcqRel pairs with the Acquire load above in other threads.
    match globals().exit_key.compare_exchange(
        0,
        key as usize + 1,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => Some(key),
        Err(winner) => {
            // SAFETY: our key was never published or used.
            unsafe { libc::pthread_key_delete(key) };
            Some((winner - 1) as libc::pthread_key_t)
        }
    }
}

/// Give up the calling thread's heap now, as its exit would (see
/// `api::release_thread_heap`), and clear the exit key's value so that the
/// exit does nothing more unless the thread takes a heap again.
#[cfg(not(feature = "loom"))]
pub fn release_current() {
    let heap = current_heap();
    if is_sentinel(heap) {
        return;
    }
    set_current_heap(sentinel());
    if let Some(key) = exit_key() {
        // SAFETY: `key` is a live key; only our destructor reads the value.
        unsafe { libc::pthread_setspecific(key, ptr::null_mut()) };
    }
    // SAFETY: the heap was this thread's and no longer is.
    unsafe { exit_heap(heap) };
}

/// The pthread destructor: called at thread exit with the thread's heap.
#[cfg(not(feature = "loom"))]
extern "C" fn thread_exit(value: *mut libc::c_void) {
    let heap = value.cast::<Heap>();
    if heap.is_null() {
        return;
    }
    if current_heap() == heap {
        set_current_heap(sentinel());
    }
    // SAFETY: the heap was this thread's and no longer is.
    unsafe { exit_heap(heap) };
}

/// Run the exit path of the calling thread now (see `loom_hooks`): the
/// thread-local's destructor then finds the sentinel and does nothing.
#[cfg(feature = "loom")]
pub(crate) fn exit_current() {
    let heap = current_heap();
    if !is_sentinel(heap) {
        // Null: the sentinel, without naming the execution's state (which a
        // model's main thread drops before its own locals).
        set_current_heap(ptr::null_mut());
        // SAFETY: the heap was this thread's and no longer is.
        unsafe { exit_heap(heap) };
    }
}

/// Give up an exiting thread's heap: abandon its segments, pool the heap.
///
/// # Safety
/// `heap` was the exiting thread's and is not its current heap any more;
/// nothing else can reach its lists.
unsafe fn exit_heap(heap: *mut Heap) {
    // SAFETY: forwarded from the caller.
    unsafe {
        heap::abandon_all(heap);
        globals().live_heaps.fetch_sub(1, StatOrdering::Relaxed);
        return_heap(NonNull::new_unchecked(heap));
    }
}

/// Heaps in use by threads now.
pub fn live_heaps() -> usize {
    globals().live_heaps.load(StatOrdering::Relaxed)
}

/// Whether more threads hold heaps than the process has CPUs to run them
/// ([`os::cpu_count`](crate::os::cpu_count); never where that is
/// unknown). Then at most a CPU's worth of them runs at a time while every
/// one keeps its pages: what each thread commits beyond its live blocks is
/// multiplied by threads that are mostly waiting. Two relaxed loads (a
/// hint: a stale count only moves the moment a policy changes).
pub fn threads_outnumber_cpus() -> bool {
    let cpus = crate::os::cpu_count();
    cpus != 0 && live_heaps() > cpus
}

/// An empty heap from the pool (or freshly carved), for a thread or for a
/// `tinyalloc::Heap`; `None` when out of memory. Nothing is registered:
/// the caller decides who uses it.
pub fn take_heap() -> Option<NonNull<Heap>> {
    globals().pool.pop().or_else(carve_heaps)
}

/// Give an empty heap back to the pool.
///
/// # Safety
/// `heap` came from [`take_heap`], holds no page, segment or region (as
/// `heap::abandon_all` leaves it), and nothing uses it any more.
pub unsafe fn return_heap(heap: NonNull<Heap>) {
    // SAFETY: heap memory is never unmapped and `pool_link` is its one link
    // word; the caller gives the heap up.
    unsafe { globals().pool.push(heap) };
}

/// Count a `tinyalloc::Heap` created (`true`) or ended (`false`).
pub fn count_user_heap(created: bool) {
    if created {
        globals().user_heaps.fetch_add(1, StatOrdering::Relaxed);
    } else {
        globals().user_heaps.fetch_sub(1, StatOrdering::Relaxed);
    }
}

/// `tinyalloc::Heap`s alive now.
pub fn user_heaps() -> usize {
    globals().user_heaps.load(StatOrdering::Relaxed)
}
