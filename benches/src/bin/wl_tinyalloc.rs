//! Runs one multi-thread workload with tinyalloc as the global allocator;
//! see `tinyalloc_bench::workload::child_main` for the arguments.
//!
//! With `WL_PEAK_STATS=1` in the environment it also samples the resident
//! set and `tinyalloc::stats()` every 5 ms, and prints on stderr, after the
//! `RESULT` line, where tinyalloc's memory was at the sample with the
//! largest resident set (`PEAK_STATS ...`, KiB): how a peak-RSS figure of
//! `compare` splits into blocks, free room inside pages, unused pages not
//! purged yet and cached regions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

fn main() {
    let sample = std::env::var_os("WL_PEAK_STATS").is_some_and(|v| v != "0");
    if !sample {
        tinyalloc_bench::workload::child_main_with(
            "tinyalloc",
            Some(tinyalloc::release_thread_heap),
        );
        return;
    }
    static DONE: AtomicBool = AtomicBool::new(false);
    let sampler = std::thread::spawn(|| {
        let mut peak = (0, tinyalloc::Stats::default());
        while !DONE.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
            let rss = resident_kib();
            if rss > peak.0 {
                peak = (rss, tinyalloc::stats());
            }
        }
        peak
    });
    tinyalloc_bench::workload::child_main_with("tinyalloc", Some(tinyalloc::release_thread_heap));
    DONE.store(true, Ordering::Relaxed);
    let (rss, stats) = sampler.join().expect("the sampler does not panic");
    let kib = |bytes: usize| bytes >> 10;
    let paged = |name: &str, p: &tinyalloc::PagedStats| {
        format!(
            "{name}: segments={} carved={} live={} remote_pending={} abandoned_live={} free_in_pages={} free_dirty={}",
            p.segments,
            kib(p.carved),
            kib(p.live),
            kib(p.remote_pending),
            kib(p.abandoned_live),
            kib(p.free_in_pages),
            kib(p.free_dirty),
        )
    };
    eprintln!(
        "PEAK_STATS rss={rss} {} {} large={} cached_dirty={} abandoned_segments={} live_heaps={}",
        paged("small", &stats.small),
        paged("medium", &stats.medium),
        kib(stats.large_bytes),
        kib(stats.cached_dirty_bytes),
        stats.abandoned_segments,
        stats.live_heaps,
    );
}

/// The process's resident set in KiB (`/proc/self/statm`), 0 if unreadable.
fn resident_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4
}
