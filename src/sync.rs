//! The synchronisation shim: the only module that names atomic types.
//!
//! Every protocol in tinyalloc reaches its atomics through this module, so the
//! `loom` feature can swap them for loom's model-checked types and the models in
//! `loom-tests/` drive the allocator's own code. Statistics counters, which no
//! protocol depends on, use [`StatCounter`], which stays a plain atomic under
//! loom (loom cannot construct atomics in statics).

#[cfg(not(feature = "loom"))]
pub use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

#[cfg(feature = "loom")]
pub use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// A statistics counter: never part of a protocol, never modelled by loom.
///
/// ```
/// use tinyalloc::sync::{StatCounter, StatOrdering};
///
/// static FREES: StatCounter = StatCounter::new(0); // fine in a static, even under loom
/// FREES.fetch_add(1, StatOrdering::Relaxed);
/// assert_eq!(FREES.load(StatOrdering::Relaxed), 1);
/// ```
pub use core::sync::atomic::AtomicUsize as StatCounter;

/// Ordering for statistics counters (no happens-before needed).
///
/// ```
/// use tinyalloc::sync::{StatCounter, StatOrdering};
///
/// let bytes = StatCounter::new(0);
/// bytes.fetch_add(4096, StatOrdering::Relaxed); // a count, not a happens-before edge
/// assert_eq!(bytes.load(StatOrdering::Relaxed), 4096);
/// ```
pub use core::sync::atomic::Ordering as StatOrdering;

/// Atomics that stay plain under loom: values no protocol is modelled on,
/// whose visibility rides on a modelled protocol (the segment map's bytes,
/// see `segment_map`), or process-wide values outside any model (the freed
/// mark). Use [`StatOrdering`] with them.
pub use core::sync::atomic::{AtomicU8 as PlainAtomicU8, AtomicUsize as PlainAtomicUsize};

/// The tunables (`config`): process-wide values set before or outside any
/// model, read with relaxed loads; plain under loom as well.
pub use core::sync::atomic::{AtomicBool as PlainAtomicBool, AtomicU64 as PlainAtomicU64};

/// The purge clock and the purge pass gate (`segment::coarse_now`,
/// `segment::maybe_purge`): timing heuristics, where a stale value only
/// purges a little earlier or later. Plain under loom too, where their
/// relaxed loads would multiply every model's executions without checking
/// any protocol (outside loom the same type as [`AtomicU64`]).
pub use core::sync::atomic::AtomicU64 as ClockAtomicU64;

/// Called in every retry loop that waits on another thread's progress, so loom
/// can schedule that thread.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // under loom it yields to loom's scheduler: models only
/// use tinyalloc::sync::spin_hint;
///
/// let mut tries = 0;
/// while tries < 3 {
///     // e.g. a CAS lost to another thread: let it make progress
///     spin_hint();
///     tries += 1;
/// }
/// # }
/// ```
#[inline]
pub fn spin_hint() {
    #[cfg(feature = "loom")]
    loom::thread::yield_now();
    #[cfg(not(feature = "loom"))]
    core::hint::spin_loop();
}

/// `const fn` outside loom, plain `fn` under loom (loom atomics are not const).
macro_rules! maybe_const_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),*) -> $ret:ty $body:block) => {
        #[cfg(not(feature = "loom"))]
        $(#[$m])* $vis const fn $name($($arg: $ty),*) -> $ret $body
        #[cfg(feature = "loom")]
        $(#[$m])* $vis fn $name($($arg: $ty),*) -> $ret $body
    };
}
pub(crate) use maybe_const_fn;

/// An array of `N` atomics, each `new(value)`; const outside loom. The type
/// may take one generic argument: `atomic_array!(AtomicPtr<u8>, ..)`.
macro_rules! atomic_array {
    ($ty:ident $(<$arg:ty>)?, $value:expr, $n:expr) => {{
        #[cfg(not(feature = "loom"))]
        let array = [const { $crate::sync::$ty$(::<$arg>)?::new($value) }; $n];
        #[cfg(feature = "loom")]
        let array: [$crate::sync::$ty$(<$arg>)?; $n] =
            core::array::from_fn(|_| $crate::sync::$ty$(::<$arg>)?::new($value));
        array
    }};
}
pub(crate) use atomic_array;
