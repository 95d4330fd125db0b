//! `stats()` tells blocks in use from blocks other threads freed that wait
//! on their page's remote list: `remote_pending` is the part of `live` its
//! owner has not taken back yet. Its own binary, one test: the figures are
//! process-wide.
#![cfg(not(feature = "loom"))]

use std::hint::black_box;
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const BLOCKS: usize = 200;
const SIZE: usize = 48;

#[test]
fn blocks_freed_by_another_thread_count_as_pending_until_taken_back() {
    std::thread::spawn(|| {
        let blocks: Vec<usize> = (0..BLOCKS)
            .map(|i| Box::into_raw(Box::new([i as u8; SIZE])) as usize)
            .collect();
        let before = tinyalloc::stats().small;
        assert!(before.live >= BLOCKS * SIZE, "{before:?}");

        // Another thread frees every block: they wait on this thread's page.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for (i, &block) in blocks.iter().enumerate() {
                    // SAFETY: each pointer came from `Box::into_raw` above and
                    // is freed once, here.
                    let block = unsafe { Box::from_raw(block as *mut [u8; SIZE]) };
                    assert!(block.iter().all(|&b| b == i as u8), "block {i}");
                }
            });
        });
        let freed = tinyalloc::stats().small;
        assert!(
            freed.remote_pending >= BLOCKS * SIZE && freed.remote_pending <= freed.live,
            "{BLOCKS} blocks of {SIZE} bytes freed remotely: {freed:?}"
        );

        // The owner takes them back when it needs the class again: they are
        // reused, and no longer pending.
        let again: Vec<Box<[u8; SIZE]>> =
            (0..BLOCKS).map(|i| Box::new([!(i as u8); SIZE])).collect();
        let reused = tinyalloc::stats().small;
        assert!(
            reused.remote_pending + BLOCKS * SIZE <= freed.remote_pending,
            "after {BLOCKS} allocations of the class: {reused:?} (before: {freed:?})"
        );
        assert!(again
            .iter()
            .enumerate()
            .all(|(i, b)| b.iter().all(|&x| x == !(i as u8))));
        drop(black_box(again));
    })
    .join()
    .unwrap();
}
