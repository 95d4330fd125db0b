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
//!   segment's `owner` and a store to that heap's `full_has_remote`);
//! - second (started once the first exited, racing the freer): takes a
//!   heap from the pool (the first thread's own heap memory), allocates a
//!   64 B block (adopting the abandoned segment, or not yet), frees it, and
//!   exits.
//!
//! Checked: the freer's block reaches whoever owns the segment, even though
//! the pool hands the old heap's address to a new thread (an `owner` word
//! that still names it must not make the free land on the wrong heap's
//! lists); patterns and the live set catch a block handed out twice; no
//! heap, segment or slot is left at the end (`allocator::finish`).
//!
//! Preemption bound 3: the pool pop/push and the abandoned stack push/pop
//! are single CASes; three preemptions put the freer's push and owner load
//! between any of them.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const SIZE: usize = 64;

#[test]
fn threads_exit_and_start_while_freeing_into_old_segments() {
    support::check("real_heap_pool", 3, || {
        allocator::reset();
        let first = allocator::spawn(|| {
            let kept = allocator::alloc(SIZE, 0x55) as usize;
            let dropped = allocator::alloc(SIZE, 0x66);
            let freer = allocator::spawn(move || allocator::free(kept as *mut u8, SIZE, 0x55));
            allocator::free(dropped, SIZE, 0x66);
            freer
        });
        let freer = first.join().unwrap();
        let second = allocator::spawn(|| {
            let block = allocator::alloc(SIZE, 0x77);
            allocator::free(block, SIZE, 0x77);
        });
        freer.join().unwrap();
        second.join().unwrap();
        allocator::finish();
    });
}
