#![cfg(feature = "loom")]
//! Loom model over the real allocator (issue 13, model 2; design.md §3.3):
//! two threads free the last blocks of a page, the only page in use of its
//! segment, while the owner retires the page and releases the segment.
//!
//! - owner: allocates two 1 KiB blocks (one page of a fresh segment), hands
//!   one to each freer, then runs `collect` (`heap::collect`: takes the
//!   remote list, and if the page's `used` count reached 0 retires the page,
//!   which empties the segment and releases it to the cache), and exits;
//! - two freers: each frees its block (`api::free_remote`, one push each).
//!
//! Checked: nothing is freed twice or handed out twice (live set and fill
//! patterns), the segment is not released while a free can still reach its
//! page (a push onto a released segment's page would be lost: the final
//! counts in `allocator::finish` would show a leaked segment or slot, or the
//! freed-twice check in `api` would abort), and at the end no heap, segment,
//! cached region or arena slot is left.
//!
//! Preemption bound 3 (3,296 interleavings, ~2 s debug): each freer's push
//! is one CAS, and the owner's collect is one swap; three preemptions place
//! the two pushes anywhere around the swap, the retire and the exit. The
//! owner yields before its collect (see there): loom's exploration follows
//! conflicts between pending operations, and without a schedule point there
//! it never ran a freer before the owner's collect (seen: every one of 967
//! executions collected with both blocks still live).

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const SIZE: usize = 1024;

#[test]
fn last_frees_race_retire_and_release() {
    support::check("real_retire_release", 3, || {
        allocator::reset();
        let owner = allocator::spawn(|| {
            let a = allocator::alloc(SIZE, 0xa1) as usize;
            let b = allocator::alloc(SIZE, 0xb2) as usize;
            assert_eq!(a >> 12, b >> 12, "one page");
            let first = allocator::spawn(move || allocator::free(a as *mut u8, SIZE, 0xa1));
            let second = allocator::spawn(move || allocator::free(b as *mut u8, SIZE, 0xb2));
            // A schedule point: loom explores only where pending operations
            // conflict, and a freer's first step (a load of the page's remote
            // head) does not conflict with the owner's next loads, so without
            // it no free would ever land before or inside the collect.
            loom::thread::yield_now();
            tinyalloc::collect();
            (first, second)
        });
        let (first, second) = owner.join().unwrap();
        first.join().unwrap();
        second.join().unwrap();
        allocator::finish();
    });
}
