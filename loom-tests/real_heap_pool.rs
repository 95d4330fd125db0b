#![cfg(feature = "loom")]
//! Loom model over the real allocator (issue 13, model 5; design.md §3.2 and
//! §3.4): the heap pool, with threads exiting and starting while another
//! frees into the old thread's segment.
//!
//! - first: allocates two 64 B blocks, hands one to the freer, frees the
//!   other, and exits (`thread::exit_heap`: its segment, with a live block,
//!   is abandoned; its heap goes back to the pool);
//! - freer: frees the handed block into the first thread's old segment
//!   (`api::free_remote`: a push, and if the page is parked a load of the
//!   segment's `owner` and a `fetch_or` on that heap's `parked_hints`);
//! - second (racing the first thread's exit and the freer): takes a heap
//!   from the pool (the first thread's own heap memory if it is back
//!   already, else a fresh one), allocates a 64 B block (adopting the
//!   abandoned segment, or not yet), frees it, and exits.
//!
//! Checked: the freer's block reaches whoever owns the segment, even though
//! the pool hands the old heap's address to a new thread (an `owner` word
//! that still names it must not make the free land on the wrong heap's
//! lists); patterns and the live set catch a block handed out twice; no
//! heap, segment or slot is left at the end (`allocator::finish`).
//!
//! Preemption bound 1 (14,118 interleavings, ~4 s debug; bound 3 did not
//! finish in 5 minutes): the second thread runs against the first's whole
//! life (allocation slow paths, frees, exit), so each preemption is costly;
//! the pool pop/push and the abandoned stack push/pop are single CASes, and
//! the yields in both threads (see there) are where loom tries each order.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const SIZE: usize = 64;

#[test]
fn threads_exit_and_start_while_freeing_into_old_segments() {
    support::check("real_heap_pool", 1, || {
        allocator::reset();
        let first = allocator::spawn(|| {
            let kept = allocator::alloc(SIZE, 0x55) as usize;
            let dropped = allocator::alloc(SIZE, 0x66);
            let freer = allocator::spawn(move || allocator::free(kept as *mut u8, SIZE, 0x55));
            allocator::free(dropped, SIZE, 0x66);
            // A schedule point before the exit path (see `second`).
            loom::thread::yield_now();
            freer
        });
        let second = allocator::spawn(|| {
            // A schedule point: loom explores only where pending operations
            // conflict; this lets the first thread's allocations and exit run
            // before, around or after this thread's start.
            loom::thread::yield_now();
            let block = allocator::alloc(SIZE, 0x77);
            allocator::free(block, SIZE, 0x77);
        });
        let freer = first.join().unwrap();
        freer.join().unwrap();
        second.join().unwrap();
        allocator::finish();
    });
}
