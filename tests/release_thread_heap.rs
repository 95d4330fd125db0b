//! `release_thread_heap`: a thread that is done allocating gives its heap
//! up while it is still alive. Its blocks stay valid, the segment holding
//! them is abandoned at once, and the frees of another thread drain it;
//! the thread can allocate again, and its exit later gives up the new
//! heap. Its own binary, one test: the figures are process-wide.
#![cfg(not(feature = "loom"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};
use tinyalloc::{raw, TinyAlloc};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const BLOCKS: usize = 2000;

fn size_of_block(i: usize) -> usize {
    16 + (i * 37) % 1000
}

/// Wait (up to 5 s) until `done` says yes.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done()
}

#[test]
fn a_released_heap_is_given_up_while_its_thread_lives() {
    let allocated = Barrier::new(2);
    let released = Barrier::new(2);
    let checked = Barrier::new(2);
    // Made here: the worker allocates nothing but its blocks, so that the
    // frees below drain its segment.
    let blocks: Vec<AtomicUsize> = (0..BLOCKS).map(|_| AtomicUsize::new(0)).collect();
    let before = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            for (i, slot) in blocks.iter().enumerate() {
                // SAFETY: a valid request; the block is filled and later
                // freed once, by the main thread.
                unsafe {
                    let block = raw::allocate(size_of_block(i), 8);
                    assert!(!block.is_null());
                    block.write_bytes(i as u8, size_of_block(i));
                    slot.store(block as usize, Ordering::Relaxed);
                }
            }
            allocated.wait();
            allocated.wait();
            tinyalloc::release_thread_heap();
            tinyalloc::release_thread_heap(); // a second call has nothing to give up
            released.wait();
            checked.wait();
            // Allocating again takes a heap again.
            // SAFETY: a valid request; the block is freed once.
            unsafe {
                let block = raw::allocate(100, 8);
                assert!(!block.is_null());
                block.write_bytes(0x5a, 100);
                assert!(std::slice::from_raw_parts(block, 100)
                    .iter()
                    .all(|&b| b == 0x5a));
                raw::deallocate(block);
            }
        });
        allocated.wait();
        let before = tinyalloc::stats();
        allocated.wait();
        released.wait();
        // Checked before the worker goes on (and on a failure too, so
        // that the worker is not left waiting).
        let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // The worker lives, but its heap is back in the pool and the
            // segment with its blocks waits to be adopted or drained.
            let after = tinyalloc::stats();
            assert_eq!(
                after.live_heaps + 1,
                before.live_heaps,
                "the worker's heap is still counted"
            );
            assert!(after.abandoned_segments > before.abandoned_segments);
            for (i, slot) in blocks.iter().enumerate() {
                // Relaxed: the barrier ordered the worker's stores before this.
                let block = slot.load(Ordering::Relaxed) as *mut u8;
                // SAFETY: the worker's live blocks, freed once here.
                unsafe {
                    let bytes = std::slice::from_raw_parts(block, size_of_block(i));
                    assert!(bytes.iter().all(|&b| b == i as u8), "block {i} changed");
                    raw::deallocate(block);
                }
            }
            // The last free drained the abandoned segment.
            assert_eq!(
                tinyalloc::stats().abandoned_segments,
                before.abandoned_segments
            );
        }));
        checked.wait();
        worker.join().unwrap();
        if let Err(failure) = checks {
            std::panic::resume_unwind(failure);
        }
        before
    });
    // The worker's second heap goes at its exit (which runs after join).
    assert!(
        eventually(|| tinyalloc::stats().live_heaps < before.live_heaps),
        "the worker's second heap was not given up at its exit"
    );
}
