//! Idle threads do not pin memory: worker threads that each allocate a burst
//! of small blocks, free them all and then wait leave (nearly) nothing
//! resident, with no `collect()` and no later allocation on their part, and
//! `stats()` says where the pages went. Its own binary: RSS is per process.
#![cfg(not(feature = "loom"))]

use std::sync::{Arc, Barrier};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_bytes;

const THREADS: usize = 16;
const BURST: usize = 16 << 20;

#[test]
fn threads_that_free_their_burst_and_wait_give_the_memory_back() {
    let ready = Arc::new(Barrier::new(THREADS + 1));
    let go = Arc::new(Barrier::new(THREADS + 1));
    let freed = Arc::new(Barrier::new(THREADS + 1));
    let leave = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ready, go) = (ready.clone(), go.clone());
            let (freed, leave) = (freed.clone(), leave.clone());
            std::thread::spawn(move || {
                ready.wait();
                go.wait();
                let mut blocks: Vec<Box<[u8]>> = Vec::with_capacity(BURST / 16);
                let mut total = 0;
                let mut i = t;
                while total < BURST {
                    let size = 16 + (i * 7919) % 4081;
                    blocks.push(vec![(i % 251) as u8 + 1; size].into_boxed_slice());
                    total += size;
                    i += 1;
                }
                assert!(blocks.iter().all(|b| b[0] != 0 && b[b.len() - 1] == b[0]));
                drop(blocks);
                freed.wait();
                leave.wait();
            })
        })
        .collect();
    ready.wait();
    let before = rss_bytes();
    let small_before = tinyalloc::stats().small;
    go.wait();
    freed.wait();
    // Nothing runs between the frees and this reading: what came back came
    // back while the threads freed.
    let after = rss_bytes();
    let stats = tinyalloc::stats();
    leave.wait();
    for worker in workers {
        worker.join().unwrap();
    }
    let touched = THREADS * BURST;
    eprintln!(
        "rss before {} KiB, after {} KiB; small {:?} (before {:?}), cached {} KiB",
        before >> 10,
        after >> 10,
        stats.small,
        small_before,
        stats.cached_bytes >> 10
    );
    // Generous: the threads touched 256 MiB; an eighth of a burst per thread
    // (2 MiB) would already mean pages kept per class.
    assert!(
        after <= before + touched / 32,
        "idle threads pin {} KiB of the {} KiB they touched",
        (after.saturating_sub(before)) >> 10,
        touched >> 10
    );
    assert!(
        stats.small.free_dirty <= touched / 32,
        "small free pages still dirty: {:?}",
        stats.small
    );
    assert!(
        stats.small.in_pages <= small_before.in_pages + (4 << 20),
        "pages still assigned to classes: {:?}",
        stats.small
    );
}
