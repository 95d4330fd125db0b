#![cfg(feature = "loom")]
//! Loom model over the real allocator: a thread that runs its exit path and
//! goes on (`tinyalloc::release_thread_heap`; under loom the same path is
//! `loom_hooks::exit_thread`, which skips only the pthread key).
//!
//! - worker: allocates a 1 KiB block, hands it to the main thread, runs
//!   its exit path (its segment is abandoned with the block live, its heap
//!   goes back to the pool), then allocates and frees another 1 KiB block
//!   (its slow path takes a heap from the pool, likely the one it just
//!   returned, and may adopt its own abandoned segment) and exits;
//! - main (no heap): frees the first block as soon as it has it, racing
//!   the worker's exit and its second allocation (the free counts down
//!   an abandoned segment and drains it, or lands in a segment the worker
//!   adopted back, or before the abandon, where the exit merges it).
//!
//! Checked: both blocks hold their patterns until freed, and once the
//! worker is joined no segment is abandoned and none is live; then
//! `allocator::finish`: nothing leaked.
//!
//! Preemption bound 2: the races that matter are the count-down and drain
//! against the exit's marks and push, and against the same thread's pool
//! pop and adoption.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const SIZE: usize = 1024;

#[test]
fn a_thread_that_gave_its_heap_up_allocates_again() {
    support::check("real_release_thread_heap", 4, || {
        allocator::reset();
        let (sender, receiver) = loom::sync::mpsc::channel::<usize>();
        let worker = allocator::spawn(move || {
            let first = allocator::alloc(SIZE, 0x31);
            sender.send(first as usize).unwrap();
            tinyalloc::loom_hooks::exit_thread();
            let second = allocator::alloc(SIZE, 0x32);
            allocator::free(second, SIZE, 0x32);
        });
        let first = receiver.recv().unwrap();
        allocator::free(first as *mut u8, SIZE, 0x31);
        worker.join().unwrap();
        let stats = tinyalloc::stats();
        assert_eq!(stats.abandoned_segments, 0, "{stats:#?}");
        assert_eq!(stats.live_regions, 0, "{stats:#?}");
        allocator::finish();
    });
}
