#![cfg(feature = "loom")]
//! Loom model of page ownership (design.md §3.4, abandon and adopt): a remote
//! free racing the owner's park, its exit (abandon) and another heap's adopt.
//!
//! This models the protocol with the real `ds` types, not the allocator's
//! heap code (which `real_abandon_adopt.rs` drives, at a lower depth): a
//! re-enactment small enough to explore far more interleavings.
//! The segment is a small struct with the same protocol fields as
//! `SegmentHeader` + `Page` (an owner word, a link for the real
//! `TaggedStack` of abandoned segments, the page's real `RemoteFreeList`, and
//! owner-only page state in a loom `UnsafeCell`). Each thread runs the steps
//! the allocator runs, in the allocator's order and with its orderings:
//!
//! - the owner (heap 1) parks the exhausted page (`try_park`; if a block is
//!   pending it takes it instead), then exits: takes the remote list
//!   (`collect_all`), stores owner = 0 with Release and pushes the segment on
//!   the abandoned stack (`heap::release_or_abandon`, `segment::abandon`);
//! - the remote thread frees two blocks: writes each, pushes it and, when the
//!   push reports the park flag, loads the owner with Acquire and sets that
//!   heap's hint for the page's class with Release (`api::free_remote`,
//!   `heap::ParkedHints::note`; one flag here, for the model's one class);
//! - the adopter (heap 2) pops the segment (spinning until the owner has
//!   abandoned it), stores owner = 2, takes the remote list, parks the still
//!   exhausted page or, if a block arrived, keeps it queued, then runs one
//!   rescue pass: if its hint was set it takes the list (`heap::adopt`,
//!   `heap::unpark_one`).
//!
//! Invariants checked:
//! - every block pushed is taken exactly once, by whoever owned the segment
//!   at the time (the owner, the adopter, or the final drain that stands for
//!   the adopter's later slow paths), and the taker sees the freer's payload;
//! - the owner-only page state passes from the owner to the adopter through
//!   the abandoned stack (loom `UnsafeCell`: a missing happens-before is a
//!   causality error);
//! - no block is stranded: if at the end the page is parked with blocks
//!   pending, its current owner's hint is set, so its next slow path of the
//!   class will unpark the page.
//!
//! Not covered here: the real heap/page/segment code (page queues, `used`
//! counts, `in_full`, retiring pages and releasing empty segments, the heap
//! pool, the thread-exit hook), local frees, large regions, and more than
//! one remote thread or adopter; the `real_*` models cover those paths at
//! smaller bounds (see papers/design.md §6).
//!
//! Preemption bound: 3 (three threads plus the model's main thread, with the
//! adopter's spin; about 51k executions, a few seconds in release mode).

#[path = "support.rs"]
mod support;

use core::ptr::NonNull;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use tinyalloc::ds::remote_list::RemoteFreeList;
use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};

const PREEMPTION_BOUND: usize = 3;

/// Heap ids (the allocator stores heap addresses; any non-zero id will do).
const OWNER: usize = 1;
const ADOPTER: usize = 2;
const BLOCKS: usize = 2;

/// A block of the page: its first word is the remote list's link.
#[repr(C, align(8))]
struct Block {
    link: core::cell::UnsafeCell<usize>,
    /// Written by the freer before the push, read by whoever takes it.
    payload: UnsafeCell<usize>,
}

fn payload_of(index: usize) -> usize {
    0xb10c_0000 + index
}

/// The segment-and-page stand-in: the protocol fields of `SegmentHeader`
/// and `Page`.
struct Segment {
    /// Link for the abandoned stack.
    link: AtomicPtr<Segment>,
    /// The owning heap, or 0 while abandoned.
    owner: AtomicUsize,
    /// The page's remote-free list.
    remote: RemoteFreeList,
    /// Owner-only page state: the blocks the owners have taken, in order.
    taken: UnsafeCell<Vec<usize>>,
}

// SAFETY: `link` is the segment's own atomic for its whole life, and the
// segment lives in `World`, which outlives the stack's every use.
unsafe impl StackNode for Segment {
    fn link(&self) -> &AtomicPtr<Segment> {
        &self.link
    }
}

struct Heap {
    /// Set by a remote free onto a parked page of this heap.
    full_has_remote: AtomicBool,
}

struct World {
    abandoned: TaggedStack<Segment>,
    segment: Box<Segment>,
    /// Indexed by heap id (entry 0 unused).
    heaps: [Heap; 3],
    blocks: Box<[Block]>,
}

// SAFETY: the cells are touched by one thread at a time (a block by its freer
// until the push, then by its taker; the page state by the segment's owner),
// which is exactly what the model checks.
unsafe impl Sync for World {}
// SAFETY: as above.
unsafe impl Send for World {}

impl World {
    fn new() -> Self {
        World {
            abandoned: TaggedStack::new(),
            segment: Box::new(Segment {
                link: AtomicPtr::new(core::ptr::null_mut()),
                owner: AtomicUsize::new(OWNER),
                remote: RemoteFreeList::new(),
                taken: UnsafeCell::new(Vec::new()),
            }),
            heaps: core::array::from_fn(|_| Heap {
                full_has_remote: AtomicBool::new(false),
            }),
            blocks: (0..BLOCKS)
                .map(|_| Block {
                    link: core::cell::UnsafeCell::new(0),
                    payload: UnsafeCell::new(0),
                })
                .collect(),
        }
    }

    fn address(&self, index: usize) -> *mut u8 {
        core::ptr::from_ref(&self.blocks[index]).cast_mut().cast()
    }

    /// Owner side (`page::collect_all`): take the remote list into the page
    /// state, checking each block's payload.
    fn collect(&self, who: &str) {
        let mut block = self.segment.remote.take_all();
        while !block.is_null() {
            let index = (0..BLOCKS)
                .find(|&index| self.address(index) == block)
                .expect("the remote list handed back an address that is not a block");
            let payload = self.blocks[index]
                .payload
                // SAFETY: the block or list is the taker's alone at this point of the protocol;
                // loom checks the access.
                .with(|payload| unsafe { *payload });
            assert_eq!(
                payload,
                payload_of(index),
                "{who} took block {index} without seeing the payload its freer wrote"
            );
            self.segment
                .taken
                // SAFETY: the block or list is the taker's alone at this point of the protocol;
                // loom checks the access.
                .with_mut(|taken| unsafe { (*taken).push(index) });
            // SAFETY: a taken chain is ours and links through first words.
            block = unsafe { *self.blocks[index].link.get() } as *mut u8;
        }
    }

    /// The remote freer (`api::free_remote`). Returns the heap it told, if any.
    fn free_remote(&self, index: usize) -> Option<usize> {
        self.blocks[index]
            .payload
            // SAFETY: the block or list is the taker's alone at this point of the protocol;
            // loom checks the access.
            .with_mut(|payload| unsafe { *payload = payload_of(index) });
        // SAFETY: the block is 8-aligned, pushed once, ours until the push.
        if !unsafe { self.segment.remote.push(self.address(index)) } {
            return None;
        }
        // The push's Acquire saw the park's Release: this load sees the heap
        // that parked the page, or a later owner.
        let owner = self.segment.owner.load(Ordering::Acquire);
        if owner == 0 {
            return None;
        }
        // The allocator does `store(true, Release)`. The model uses a swap,
        // which has the same effect on the flag, because loom 0.7 lets a plain
        // store slip between the read and the write of the owner's rescue
        // `swap(false)` (tokio-rs/loom#254), a false report of a lost flag.
        self.heaps[owner]
            .full_has_remote
            .swap(true, Ordering::Release);
        Some(owner)
    }
}

#[test]
fn remote_frees_racing_park_abandon_and_adopt_are_taken_exactly_once_and_never_stranded() {
    support::check(
        "page_ownership/park_abandon_adopt",
        PREEMPTION_BOUND,
        || {
            let world = Arc::new(World::new());
            let owner = {
                let world = Arc::clone(&world);
                thread::spawn(move || {
                    // The page is exhausted: park it, or take what arrived.
                    if !world.segment.remote.try_park() {
                        world.collect("the owner (park refused)");
                    }
                    // Thread exit: collect, give up ownership, abandon.
                    world.collect("the exiting owner");
                    world.segment.owner.store(0, Ordering::Release);
                    // SAFETY: the owner holds the segment and gives it up; the
                    // segment lives as long as the world.
                    unsafe { world.abandoned.push(NonNull::from(&*world.segment)) };
                })
            };
            let remote = {
                let world = Arc::clone(&world);
                thread::spawn(move || {
                    (0..BLOCKS)
                        .map(|index| world.free_remote(index))
                        .collect::<Vec<_>>()
                })
            };
            let adopter = {
                let world = Arc::clone(&world);
                thread::spawn(move || {
                    let segment = loop {
                        if let Some(segment) = world.abandoned.pop() {
                            break segment;
                        }
                        thread::yield_now();
                    };
                    assert_eq!(
                        segment.as_ptr().cast_const(),
                        &*world.segment as *const Segment,
                        "the abandoned stack handed out something else"
                    );
                    assert_eq!(
                        world.segment.owner.load(Ordering::Relaxed),
                        0,
                        "adopted a segment whose owner word was not cleared by the abandoning owner"
                    );
                    world.segment.owner.store(ADOPTER, Ordering::Relaxed);
                    world.collect("the adopter");
                    // Still exhausted: park it, or keep it queued if a block
                    // arrived (then later slow paths collect it).
                    let parked = world.segment.remote.try_park();
                    // One slow path later: rescue parked pages that were told.
                    if world.heaps[ADOPTER]
                        .full_has_remote
                        .swap(false, Ordering::Acquire)
                    {
                        world.collect("the adopter's rescue");
                    }
                    parked
                })
            };
            owner.join().unwrap();
            let told = remote.join().unwrap();
            let _parked = adopter.join().unwrap();

            assert_eq!(
                world.segment.owner.load(Ordering::Relaxed),
                ADOPTER,
                "the adopter popped the segment but does not own it"
            );
            if world.segment.remote.is_parked() && world.segment.remote.has_blocks() {
                assert!(
                    world.heaps[ADOPTER].full_has_remote.load(Ordering::Relaxed),
                    "blocks sit on the adopter's parked page but its full_has_remote flag is clear \
                     (remote frees told {told:?}): nobody will ever take them"
                );
            }
            // The adopter's later slow paths take whatever is left.
            world.collect("the final drain");
            let taken = world
                .segment
                .taken
                // SAFETY: the block or list is the taker's alone at this point of the protocol;
                // loom checks the access.
                .with(|taken| unsafe { (*taken).clone() });
            for index in 0..BLOCKS {
                let count = taken.iter().filter(|&&t| t == index).count();
                assert_eq!(
                    count, 1,
                    "block {index} was taken {count} times (takes in order: {taken:?}); every remote free must be taken exactly once"
                );
            }
        },
    );
}
