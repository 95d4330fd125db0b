#![cfg(feature = "loom")]
//! Loom model over the real allocator (issue 13, model 3; design.md §3.5):
//! a large block freed on one thread while another takes the same region
//! from the segment cache and a third purges, through `large` and `segment`.
//!
//! - freer: frees a 200 KiB block (four 64 KiB slots under loom: a large
//!   region of its own) that a first thread allocated (`large::free`: not
//!   kept by the heap, which keeps one-segment regions only, so
//!   `segment::release_region` inserts it in the cache);
//! - taker: allocates a block of the same size (`segment::acquire_region`:
//!   the cache first, so it takes the freer's region if it is there, else
//!   fresh arena slots), fills and checks it, frees it;
//! - purger: `tinyalloc::collect()` on a thread with no heap, i.e.
//!   `segment::purge_cache(u64::MAX)`: takes every cached region and returns
//!   it to its arena.
//!
//! Checked: a region is handed out once (the taker's block overlaps no live
//! block, and keeps its pattern: a purge of a region in use would not zero
//! it under loom, but returning it to the arena would let it be claimed
//! twice, which the live set catches); the cache's counters
//! (`cached_bytes`, `cached_dirty_bytes`) and the arena's claimed slots come
//! back to zero at the end (`allocator::finish`).
//!
//! Preemption bound 1 (13,131 interleavings, ~24 s debug; bound 2 did not
//! finish in 2 minutes): the cache entry CASes of insert, take and purge
//! are the race, and three threads scanning the cache's buckets with
//! relaxed loads make each preemption costly; one preemption puts any of
//! those CASes between another's load and CAS.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const SIZE: usize = 200 * 1024;

#[test]
fn large_free_races_take_and_purge() {
    support::check("real_large_cache", 1, || {
        allocator::reset();
        // The block exists before the race starts.
        let block = allocator::spawn(|| allocator::alloc(SIZE, 0x11) as usize)
            .join()
            .unwrap();
        let freer = allocator::spawn(move || allocator::free(block as *mut u8, SIZE, 0x11));
        let taker = allocator::spawn(|| {
            let block = allocator::alloc(SIZE, 0x22);
            allocator::check(block, SIZE, 0x22);
            allocator::free(block, SIZE, 0x22);
        });
        let purger = allocator::spawn(tinyalloc::collect);
        freer.join().unwrap();
        taker.join().unwrap();
        purger.join().unwrap();
        let cached = tinyalloc::stats();
        assert!(
            cached.cached_dirty_bytes <= cached.cached_bytes,
            "{cached:#?}"
        );
        allocator::finish();
    });
}
