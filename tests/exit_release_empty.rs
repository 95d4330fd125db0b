//! Threads whose blocks were all freed by another thread before they exited
//! leave segments with no page in use: past 4 MiB of dirty free pages and
//! dirty cached segments, the exit purges them before they go to the
//! segment cache, instead of leaving them resident there until a new
//! segment is needed or the purge delay passes.
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
fn segments_emptied_before_exit_leave_purged_past_the_budget() {
    const THREADS: usize = 4;
    // 3 MiB per thread in 512-byte blocks: most of one small segment.
    const BLOCKS: usize = 6 * 1024;
    // Long enough that no segment ages out of the cache during the test.
    assert!(tinyalloc::config::set_purge_delay_ms(60_000));
    let baseline = rss_bytes();
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
    let mut freed = 0;
    for (t, blocks) in received.into_iter().enumerate() {
        for (i, block) in blocks.into_iter().enumerate() {
            assert!(block.iter().all(|&x| x == (t * BLOCKS + i) as u64));
            freed += 1;
        }
    }
    assert_eq!(freed, THREADS * BLOCKS);
    for (exit, worker) in release.into_iter().zip(workers) {
        exit.send(()).unwrap();
        worker.join().unwrap();
    }
    let after = tinyalloc::stats();
    let rss_after = rss_bytes();
    eprintln!(
        "free dirty {} KiB, cached {} KiB ({} KiB dirty); rss baseline {} KiB, peak {} KiB, after {} KiB",
        (after.small.free_dirty + after.medium.free_dirty) >> 10,
        after.cached_bytes >> 10,
        after.cached_dirty_bytes >> 10,
        baseline >> 10,
        peak >> 10,
        rss_after >> 10
    );
    assert!(
        peak >= baseline + THREADS * BLOCKS * 512,
        "the blocks were not touched? rss {peak} vs baseline {baseline}"
    );
    // Of the 12 MiB of emptied segments, at most the budget stays dirty
    // in the cache (1 MiB of slack for headers and the harness).
    assert!(
        after.cached_dirty_bytes <= BUDGET + (1 << 20),
        "{} bytes of cached segments may be resident after the exits",
        after.cached_dirty_bytes
    );
    assert!(
        rss_after <= baseline + BUDGET + (2 << 20),
        "rss {rss_after} after the exits, baseline {baseline}"
    );
}
