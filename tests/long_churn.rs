//! Nothing lost under thread churn: 1,000 rounds of 32 short-lived threads,
//! each allocating, freeing locally, and handing blocks to the next round
//! (remote frees into segments whose owner has exited). RSS at the last
//! round stays within 10% of RSS at round 100, and the allocator's own
//! figures end where they were at round 100.
//!
//! `TINYALLOC_CHURN_ROUNDS` scales it (default 1,000; CI uses the default).
#![cfg(not(feature = "loom"))]

use std::sync::{Arc, Mutex};

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 4096
}

fn checked(block: &[u8]) {
    assert!(
        block.iter().all(|&b| b == block[0]),
        "a handed-over block was corrupted"
    );
}

#[test]
fn thread_churn_loses_nothing() {
    let rounds: usize = std::env::var("TINYALLOC_CHURN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    const THREADS: usize = 32;
    // Blocks made in one round, freed by a thread of the next.
    let handover: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
    let mut at_round_100 = None;
    for round in 0..rounds {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let handover = Arc::clone(&handover);
                std::thread::spawn(move || {
                    let inherited: Vec<Vec<u8>> = {
                        let mut shared = handover.lock().unwrap();
                        let n = shared.len() / 4;
                        let at = shared.len() - n;
                        shared.split_off(at)
                    };
                    for block in &inherited {
                        checked(block);
                    }
                    drop(inherited);
                    let mut local = Vec::new();
                    for i in 0..64usize {
                        let size = 16 + (i * 97 + t * 31 + round) % 4000;
                        local.push(vec![(i + t) as u8 | 1; size]);
                    }
                    // Keep a few for the next round; free the rest here.
                    let keep: Vec<Vec<u8>> = local.drain(..8).collect();
                    handover.lock().unwrap().extend(keep);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        if round + 1 == 100.min(rounds) {
            tinyalloc::collect();
            at_round_100 = Some((rss_bytes(), tinyalloc::stats()));
        }
    }
    for block in handover.lock().unwrap().drain(..) {
        checked(&block);
    }
    tinyalloc::collect();
    let (rss_100, stats_100) = at_round_100.unwrap();
    let (rss_end, stats_end) = (rss_bytes(), tinyalloc::stats());
    eprintln!(
        "round 100: rss {} KiB, {stats_100:?}\nend:       rss {} KiB, {stats_end:?}",
        rss_100 >> 10,
        rss_end >> 10
    );
    assert!(
        rss_end <= rss_100 + rss_100 / 10,
        "RSS grew from {rss_100} to {rss_end}"
    );
    assert_eq!(
        stats_end.live_heaps, stats_100.live_heaps,
        "heaps of exited threads not returned"
    );
    assert!(
        stats_end.live_regions <= stats_100.live_regions,
        "live regions grew: {} -> {}",
        stats_100.live_regions,
        stats_end.live_regions
    );
    assert_eq!(
        stats_end.abandoned_segments, 0,
        "segments left abandoned after collect"
    );
}
