//! `release_thread_heap` under churn: threads give their heaps up again
//! and again while blocks move between them. Contents and counts only
//! (`tests/release_thread_heap.rs` checks the process-wide figures).
#![cfg(not(feature = "loom"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use tinyalloc::{raw, TinyAlloc};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// Threads that give their heaps up again and again, between rounds of
/// allocating, handing blocks to a neighbour and freeing the neighbour's:
/// every block keeps its fill pattern until freed, and every thread's
/// heap is given up at the end.
#[test]
fn heaps_given_up_again_and_again_keep_every_block() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 200;
    const PER_ROUND: usize = 64;
    let mailboxes: Vec<std::sync::Mutex<Vec<(usize, usize, u8)>>> = (0..THREADS)
        .map(|_| std::sync::Mutex::new(Vec::new()))
        .collect();
    let freed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (mailboxes, freed) = (&mailboxes, &freed);
            s.spawn(move || {
                for round in 0..ROUNDS {
                    let mut outgoing = Vec::with_capacity(PER_ROUND);
                    for i in 0..PER_ROUND {
                        let size = 16 + (round * 31 + i * 17) % 3000;
                        let fill = (t * 31 + round + i) as u8;
                        // SAFETY: a valid request; the block is filled here
                        // and freed once, by the thread that receives it.
                        let block = unsafe { raw::allocate(size, 8) };
                        assert!(!block.is_null());
                        // SAFETY: `size` bytes are ours.
                        unsafe { block.write_bytes(fill, size) };
                        outgoing.push((block as usize, size, fill));
                    }
                    mailboxes[(t + 1) % THREADS]
                        .lock()
                        .unwrap()
                        .extend(outgoing);
                    let incoming = std::mem::take(&mut *mailboxes[t].lock().unwrap());
                    for (block, size, fill) in incoming {
                        let block = block as *mut u8;
                        // SAFETY: a live block handed over once, `size` bytes.
                        unsafe {
                            let bytes = std::slice::from_raw_parts(block, size);
                            assert!(bytes.iter().all(|&b| b == fill), "a block changed");
                            raw::deallocate(block);
                        }
                        freed.fetch_add(1, Ordering::Relaxed);
                    }
                    if round % 3 == t % 3 {
                        tinyalloc::release_thread_heap();
                    }
                }
            });
        }
    });
    for mailbox in &mailboxes {
        for (block, size, fill) in std::mem::take(&mut *mailbox.lock().unwrap()) {
            let block = block as *mut u8;
            // SAFETY: as above.
            unsafe {
                assert!(std::slice::from_raw_parts(block, size)
                    .iter()
                    .all(|&b| b == fill));
                raw::deallocate(block);
            }
            freed.fetch_add(1, Ordering::Relaxed);
        }
    }
    assert_eq!(freed.load(Ordering::Relaxed), THREADS * ROUNDS * PER_ROUND);
}
