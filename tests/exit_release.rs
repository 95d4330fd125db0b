//! Threads whose blocks were all freed by another thread before they exited
//! (Larson's successor frees its predecessor's blocks while the predecessor
//! is still on its way out) leave empty, dirty pages at exit: in segments
//! that empty (to the segment cache, which keeps at most 2 MiB of dirty
//! pages of paged segments) or that keep a block of the runtime's and are
//! abandoned (purged past 4 MiB of dirty free pages in the process). So
//! the memory goes back at exit, not when someone adopts or purges later.
//! Its own binary: the figures are per process.
#![cfg(not(feature = "loom"))]

use std::sync::mpsc;

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_bytes;

/// `segment::CACHE_PAGED_DIRTY_BUDGET` and `heap::SHRINK_DIRTY_BUDGET`.
const BUDGET: usize = (2 << 20) + (4 << 20);

#[test]
fn segments_emptied_before_exit_enter_the_cache_mostly_purged() {
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
            blocks_tx.send(blocks).unwrap();
            // Alive (its heap owns the segment) until the blocks are freed.
            exit_rx.recv().unwrap();
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
    for (exit, worker) in release.into_iter().zip(workers) {
        exit.send(()).unwrap();
        worker.join().unwrap();
    }
    let after = tinyalloc::stats();
    let rss_after = rss_bytes();
    eprintln!(
        "unused dirty {} KiB (before {} KiB); rss baseline {} KiB, peak {} KiB, after {} KiB",
        unused_dirty(&after) >> 10,
        unused_dirty(&before) >> 10,
        baseline >> 10,
        peak >> 10,
        rss_after >> 10
    );
    assert!(
        peak >= baseline + THREADS * BLOCKS * 512,
        "the blocks were not touched? rss {peak} vs baseline {baseline}"
    );
    // Each segment keeps at most its header page besides the budgets (and
    // 1 MiB of slack for the test harness).
    let bound = unused_dirty(&before) + BUDGET + THREADS * (64 << 10) + (1 << 20);
    assert!(
        unused_dirty(&after) <= bound,
        "{} bytes of unused dirty pages after the exits, above {bound}",
        unused_dirty(&after)
    );
    // And the memory left: at most the budgets (and a little slack for the
    // channels and the test harness) stay resident of the 12 MiB touched.
    assert!(
        rss_after <= baseline + BUDGET + (1 << 20),
        "rss {rss_after} after the exits, baseline {baseline}"
    );
}

/// Dirty bytes in pages that hold no block: free pages of owned or abandoned
/// segments, and cached segments.
fn unused_dirty(stats: &tinyalloc::Stats) -> usize {
    stats.small.free_dirty + stats.medium.free_dirty + stats.cached_dirty_bytes
}
