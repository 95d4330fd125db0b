//! Threads that come and go leave their emptied segments in the cache: past
//! a budget of dirty memory there (2 MiB), an exiting thread's empty
//! segment goes in purged, so the cache does not hold every generation's
//! leftovers until the purge delay ages them. Larson's pattern, two
//! lineages at once: each generation thread takes over its predecessor's
//! blocks, replaces them at random many times, and exits. Its own binary,
//! one test: the figures are process-wide.
#![cfg(not(feature = "loom"))]

use std::sync::atomic::{AtomicBool, Ordering};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const BLOCKS: usize = 5000;
const REPLACEMENTS: usize = 100_000;
const GENERATIONS: usize = 30;
const LINEAGES: usize = 2;
const BUDGET: usize = 2 << 20;
const SEGMENT: usize = 4 << 20;

fn next(state: &mut u64) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state as usize
}

fn block(state: &mut u64, tag: u8) -> Vec<u8> {
    vec![tag; 8 + next(state) % 992]
}

/// One lineage: `GENERATIONS` threads in turn, each replacing its
/// predecessor's blocks. Returns the blocks replaced, checked.
fn lineage(seed: u64) -> usize {
    let mut state = seed;
    let mut blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|_| block(&mut state, 0)).collect();
    let mut replaced = 0;
    for generation in 1..=GENERATIONS {
        let tag = generation as u8;
        let done;
        (blocks, state, done) = std::thread::spawn(move || {
            let mut done = 0;
            for _ in 0..REPLACEMENTS {
                let victim = next(&mut state) % BLOCKS;
                let old = std::mem::replace(&mut blocks[victim], block(&mut state, tag));
                assert!(
                    old.iter().all(|&b| b == old[0]),
                    "a block's contents changed"
                );
                done += 1;
            }
            (blocks, state, done)
        })
        .join()
        .unwrap();
        replaced += done;
    }
    assert!(blocks.iter().all(|b| b.iter().all(|&x| x == b[0])));
    replaced
}

#[test]
fn exiting_threads_leave_at_most_the_budget_dirty_in_the_cache() {
    let running = AtomicBool::new(true);
    let (most_dirty, replaced) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut most = 0;
            while running.load(Ordering::Relaxed) {
                most = usize::max(most, tinyalloc::stats().cached_dirty_bytes);
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            most
        });
        let lineages: Vec<_> = (0..LINEAGES)
            .map(|i| s.spawn(move || lineage(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1) << 20)))
            .collect();
        let replaced: usize = lineages.into_iter().map(|l| l.join().unwrap()).sum();
        running.store(false, Ordering::Relaxed);
        (sampler.join().unwrap(), replaced)
    });
    assert_eq!(replaced, LINEAGES * GENERATIONS * REPLACEMENTS);
    // One insert past the budget adds at most a segment; half a segment
    // more for two exits that check the budget at once. Without the budget
    // this peaked at 15.4-19.7 MB in five runs (14 MiB is 14.7 MB).
    assert!(
        most_dirty <= BUDGET + SEGMENT + SEGMENT / 2,
        "the cache held {most_dirty} dirty bytes while threads came and went"
    );
}
