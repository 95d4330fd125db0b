//! Threads whose blocks were all freed by another thread before they exited
//! (a successor or a consumer frees them while the thread is on its way
//! out) leave their pages empty and dirty at exit; a segment that keeps one
//! live block is abandoned, not released. Its free pages
//! are purged at exit once the process holds over 4 MiB of dirty free
//! pages, not left resident until some thread adopts the segment.
//! Its own binary: the figures are per process.
#![cfg(not(feature = "loom"))]

use std::sync::mpsc;

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_bytes;

/// `heap::SHRINK_DIRTY_BUDGET`.
const BUDGET: usize = 4 << 20;

#[test]
fn free_pages_of_segments_abandoned_at_exit_are_purged_past_the_budget() {
    const THREADS: usize = 4;
    // 3 MiB per thread in 512-byte blocks: most of one small segment.
    const BLOCKS: usize = 6 * 1024;
    let baseline = rss_bytes();
    let before = tinyalloc::stats();
    let mut workers = Vec::new();
    let mut received = Vec::new();
    let mut release = Vec::new();
    for t in 0..THREADS {
        let (blocks_tx, blocks_rx) = mpsc::sync_channel::<Vec<Box<[u64; 64]>>>(1);
        let (exit_tx, exit_rx) = mpsc::sync_channel::<()>(1);
        workers.push(std::thread::spawn(move || {
            let blocks: Vec<Box<[u64; 64]>> = (0..BLOCKS)
                .map(|i| Box::new([(t * BLOCKS + i) as u64; 64]))
                .collect();
            // Same class, so same segment: it keeps the segment from
            // emptying, so the exit abandons it.
            let keeper = Box::new([u64::MAX; 64]);
            blocks_tx.send(blocks).unwrap();
            // Alive (its heap owns the segment) until the blocks are freed.
            exit_rx.recv().unwrap();
            keeper
        }));
        received.push(blocks_rx.recv().unwrap());
        release.push(exit_tx);
    }
    let peak = rss_bytes();
    // Every block freed by this thread: remote frees onto live heaps' pages.
    for (t, blocks) in received.into_iter().enumerate() {
        for (i, block) in blocks.into_iter().enumerate() {
            assert!(block.iter().all(|&x| x == (t * BLOCKS + i) as u64));
        }
    }
    let mut keepers = Vec::new();
    for (exit, worker) in release.into_iter().zip(workers) {
        exit.send(()).unwrap();
        keepers.push(worker.join().unwrap());
    }
    let after = tinyalloc::stats();
    let rss_after = rss_bytes();
    eprintln!(
        "free dirty {} KiB (before {} KiB), cached dirty {} KiB; rss baseline {} KiB, peak {} KiB, after {} KiB",
        unused_dirty(&after) >> 10,
        unused_dirty(&before) >> 10,
        after.cached_dirty_bytes >> 10,
        baseline >> 10,
        peak >> 10,
        rss_after >> 10
    );
    assert!(keepers.iter().all(|k| k.iter().all(|&x| x == u64::MAX)));
    assert!(
        after.abandoned_segments >= before.abandoned_segments + THREADS,
        "the exits abandoned {} segments, not {THREADS}",
        after.abandoned_segments - before.abandoned_segments
    );
    assert!(
        peak >= baseline + THREADS * BLOCKS * 512,
        "the blocks were not touched? rss {peak} vs baseline {baseline}"
    );
    // At most the budget (and 1 MiB of slack for the test harness).
    let bound = unused_dirty(&before) + BUDGET + (1 << 20);
    assert!(
        unused_dirty(&after) <= bound,
        "{} bytes of unused dirty pages after the exits, above {bound}",
        unused_dirty(&after)
    );
    // And the memory left: at most the budget, what the cache holds (the
    // segments that emptied) and a little slack for the channels and the
    // test harness stay resident of the 12 MiB touched.
    assert!(
        rss_after <= baseline + BUDGET + after.cached_dirty_bytes + (1 << 20),
        "rss {rss_after} after the exits, baseline {baseline}"
    );
}

/// Dirty bytes of free pages in owned or abandoned segments.
fn unused_dirty(stats: &tinyalloc::Stats) -> usize {
    stats.small.free_dirty + stats.medium.free_dirty
}
