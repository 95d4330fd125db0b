#![cfg(feature = "loom")]
//! Loom models over the real allocator (design.md §3.4): the last free into
//! an abandoned segment drains it (`heap::on_abandoned_free`).
//!
//! First model, the drain racing an adopter:
//! - owner: allocates two 1 KiB blocks of one small page and exits (its
//!   segment is abandoned: the page's remote list is marked, the count of
//!   live blocks is two);
//! - freer (no heap of its own): frees both (`api::free_remote`: the push
//!   reports the mark, the free counts down; the second one drains the
//!   segment: takes it off the abandoned stack, merges the remote frees and
//!   releases it);
//! - adopter, racing the freer: allocates a 1 KiB block (its slow path pops
//!   the abandoned segment if it is still there and adopts it: taking the
//!   lists clears the marks, and the count is made to end at 0), frees it and
//!   exits (an adopted segment with the freer's blocks still live is
//!   abandoned again, with a fresh count).
//!
//! Second model, the count-down racing the abandon: one block is freed by a
//! thread the owner started, while the owner exits (the free lands before
//! the owner marks the page, and is merged by the exit, or after, and counts
//! itself down); the other by the main thread (no heap) while an adopter
//! allocates.
//!
//! Checked: every block holds its pattern until freed, and once all threads
//! are joined, before the final clean-up, no segment is abandoned and none
//! is live: whichever of drain, exit and adoption got the segment, the last
//! free gave it back. (Without the drain, an adopter that exits before the
//! last free leaves the segment abandoned with nothing live in it: the first
//! model fails.) Then `allocator::finish`: nothing leaked.
//!
//! Preemption bounds 3 (first, ~14k interleavings) and 2 (second, ~78k):
//! the races that matter are the count-downs and the drain's stack pops
//! against the adopter's pop and list takes, and against the exit's marks,
//! count and stack push.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const SIZE: usize = 1024;

/// Both models in one test: `allocator`'s record of live blocks is one per
/// process, so the models must not run at the same time.
#[test]
fn the_last_free_into_an_abandoned_segment_releases_it() {
    last_free_races_an_adopter();
    a_free_racing_the_owners_exit_is_counted_once();
}

/// The adopter: one block of the owner's class, allocated (its slow path
/// may adopt the abandoned segment) and freed.
fn allocate_and_free() {
    let own = allocator::alloc(SIZE, 0x20);
    allocator::free(own, SIZE, 0x20);
}

/// Once every thread is joined (before `allocator::finish` adopts what is
/// left): no segment abandoned, none live.
fn assert_all_given_back() {
    let stats = tinyalloc::stats();
    assert_eq!(stats.abandoned_segments, 0, "{stats:#?}");
    assert_eq!(stats.live_regions, 0, "{stats:#?}");
}

fn last_free_races_an_adopter() {
    support::check("real_abandoned_drain", 3, || {
        allocator::reset();
        let owner = allocator::spawn(|| {
            let first = allocator::alloc(SIZE, 0x11) as usize;
            let second = allocator::alloc(SIZE, 0x12) as usize;
            (first, second)
        });
        let (first, second) = owner.join().unwrap();
        let freer = loom::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                allocator::free(first as *mut u8, SIZE, 0x11);
                allocator::free(second as *mut u8, SIZE, 0x12);
            })
            .unwrap();
        let adopter = allocator::spawn(allocate_and_free);
        freer.join().unwrap();
        adopter.join().unwrap();
        assert_all_given_back();
        allocator::finish();
    });
}

/// The count-down racing the abandon itself: a free lands while its block's
/// owner exits (before the owner marks the page, and is merged by the exit,
/// or after, and counts itself down), and the last block is freed by a
/// thread with no heap while another thread allocates (and may adopt).
/// Checked as above: once all are joined nothing is abandoned or live.
fn a_free_racing_the_owners_exit_is_counted_once() {
    support::check("real_abandoned_drain/racing_exit", 2, || {
        allocator::reset();
        let owner = allocator::spawn(|| {
            let first = allocator::alloc(SIZE, 0x11) as usize;
            let second = allocator::alloc(SIZE, 0x12) as usize;
            let freer = loom::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(move || allocator::free(first as *mut u8, SIZE, 0x11))
                .unwrap();
            (second, freer)
        });
        let (second, freer) = owner.join().unwrap();
        let adopter = allocator::spawn(allocate_and_free);
        allocator::free(second as *mut u8, SIZE, 0x12);
        freer.join().unwrap();
        adopter.join().unwrap();
        assert_all_given_back();
        allocator::finish();
    });
}
