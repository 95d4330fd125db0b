//! tinyalloc's benchmark suite: the workloads, shared by the `compare`
//! binary (the project's main job), the per-allocator `wl_*` workload
//! binaries and the criterion benches under `benches/benches/`.
//!
//! Two ways to measure an allocator, and where each is used:
//!
//! - **Direct** ([`micro`]): call an allocator's `GlobalAlloc` methods
//!   through a generic `&A`, with every peer in one process. `compare` runs
//!   rounds of `[tinyalloc, system, mimalloc, jemalloc, ...]` (the order
//!   rotating each round) and keeps each allocator's median, so machine noise
//!   hits every peer alike. The criterion benches `small_allocations`,
//!   `mixed_workload` and `large_allocations` measure the same functions.
//! - **Global** ([`workload`]): workloads that allocate through `std`
//!   (`String`, `HashMap`, `Box`, queues, epoch GC) need the allocator
//!   installed as `#[global_allocator]`, which is fixed per binary. So each
//!   allocator gets a tiny binary (`src/bin/wl_<allocator>.rs`) that installs
//!   it and calls [`workload::child_main`]; `compare` runs every
//!   allocator × workload × thread count in its own process, which also makes
//!   the peak RSS (`VmHWM`) that the child reports its own.
//!
//! Nothing here names an allocator's symbols except through the
//! [`for_each_peer!`] macro, which expands in the caller: that keeps the
//! `wl_*` binaries free of the other allocators' code (rpmalloc, for one,
//! interposes `pthread_create` in any binary that links it).

pub mod compare;
pub mod ini;
pub mod micro;
pub mod rng;
pub mod workload;

/// The allocators under comparison, re-exported so [`for_each_peer!`] can
/// name them from any crate of this package.
pub mod peer {
    pub use mimalloc::MiMalloc;
    #[cfg(feature = "rpmalloc")]
    pub use rpmalloc::RpMalloc;
    #[cfg(feature = "snmalloc")]
    pub use snmalloc_rs::SnMalloc;
    pub use std::alloc::System;
    pub use tikv_jemallocator::Jemalloc;
    pub use tinyalloc::TinyAlloc;
}

/// Calls `$f(name, &ALLOCATOR, extra args...)` once per allocator, in the
/// canonical order (tinyalloc first). `$f` is usually a generic function
/// `fn f<A: GlobalAlloc + Sync + 'static>(name: &'static str, a: &'static A, ...)`,
/// so each allocator gets its own monomorphised copy of the hot loop.
/// Optional peers (`snmalloc`, `rpmalloc`) appear when the package is built
/// with the cargo feature of that name.
#[macro_export]
macro_rules! for_each_peer {
    ($f:ident $(, $arg:expr)* $(,)?) => {{
        $f("tinyalloc", &$crate::peer::TinyAlloc $(, $arg)*);
        $f("system", &$crate::peer::System $(, $arg)*);
        $f("mimalloc", &$crate::peer::MiMalloc $(, $arg)*);
        $f("jemalloc", &$crate::peer::Jemalloc $(, $arg)*);
        #[cfg(feature = "snmalloc")]
        $f("snmalloc", &$crate::peer::SnMalloc $(, $arg)*);
        #[cfg(feature = "rpmalloc")]
        $f("rpmalloc", &$crate::peer::RpMalloc $(, $arg)*);
    }};
}

/// Names of the allocators this build compares, in [`for_each_peer!`] order.
pub fn peer_names() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut names = vec!["tinyalloc", "system", "mimalloc", "jemalloc"];
    #[cfg(feature = "snmalloc")]
    names.push("snmalloc");
    #[cfg(feature = "rpmalloc")]
    names.push("rpmalloc");
    names
}

/// Peak resident set size of this process in KiB (`VmHWM` in
/// `/proc/self/status`), or `None` where that file does not exist.
pub fn peak_rss_kb() -> Option<u64> {
    proc_status_kb("VmHWM:")
}

/// Current resident set size of this process in KiB (`VmRSS`).
pub fn current_rss_kb() -> Option<u64> {
    proc_status_kb("VmRSS:")
}

fn proc_status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
