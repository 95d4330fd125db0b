//! A thread that frees the blocks of a thread that exited (a worker pool's
//! successor, as in Larson's benchmark) finds them intact; its frees into
//! the abandoned segments are not lost: once it adopts them (`collect`),
//! nothing stays abandoned and their memory is reusable.
#![cfg(not(feature = "loom"))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

#[test]
fn successor_adopts_the_segments_it_frees_into() {
    const BLOCKS: usize = 20_000;
    // Bounded channels allocate their buffers up front: once the predecessor
    // exits, no thread but the successor allocates or frees (a slow path of
    // another thread could adopt the abandoned segments first).
    let (ready_tx, ready_rx) = mpsc::sync_channel::<()>(1);
    // The successor waits for "go" by spinning, not in a blocking receive: a
    // thread's first blocking receive allocates its waiter entry, and if
    // that came after the predecessor's exit, its slow path would adopt the
    // abandoned segments before `before` is read (seen 1 run in 200).
    static GO: AtomicBool = AtomicBool::new(false);
    let (blocks_tx, blocks_rx) = mpsc::sync_channel::<Vec<Box<[u64; 8]>>>(1);
    // The successor gets its heap (one allocation) before the predecessor
    // exits, so only its frees can adopt the predecessor's segments.
    let successor = std::thread::spawn(move || {
        let own = Box::new([7u64; 8]);
        ready_tx.send(()).unwrap();
        // Acquire pairs with the Release store after the predecessor's join.
        while !GO.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let blocks = blocks_rx.recv().unwrap();
        let before = tinyalloc::stats().abandoned_segments;
        let mut sum = 0u64;
        for (i, block) in blocks.into_iter().enumerate() {
            assert!(block.iter().all(|&x| x == i as u64), "block {i} corrupted");
            sum += block[0];
        }
        assert_eq!(sum, (BLOCKS as u64 - 1) * BLOCKS as u64 / 2);
        assert_eq!(*own, [7u64; 8]);
        // Adopts every abandoned segment, taking the remote frees above:
        // each segment is then empty and released.
        tinyalloc::collect();
        (before, tinyalloc::stats().abandoned_segments)
    });
    ready_rx.recv().unwrap();
    let predecessor = std::thread::spawn(move || {
        let blocks: Vec<Box<[u64; 8]>> = (0..BLOCKS).map(|i| Box::new([i as u64; 8])).collect();
        blocks_tx.send(blocks).unwrap();
    });
    predecessor.join().unwrap();
    GO.store(true, Ordering::Release);
    let (before, after) = successor.join().unwrap();
    assert!(before >= 1, "the predecessor abandoned nothing");
    assert_eq!(
        after, 0,
        "{after} segments still abandoned after the successor freed into them and collected"
    );
}
