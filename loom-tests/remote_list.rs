#![cfg(feature = "loom")]
//! Loom model of `ds::remote_list::RemoteFreeList` (design.md §3.3, remote
//! free: many producers push, the owner takes the whole list with a swap).
//!
//! Invariants checked:
//! - every pushed block is taken exactly once, by the owner's `take_all`
//!   while producers are still pushing or by the final drain, and each
//!   take's count (kept in the list word by the pushes) is the length of
//!   the chain it took;
//! - a producer's writes to its block happen-before the owner's reads after
//!   `take_all`: each block carries a loom `UnsafeCell` payload written before
//!   the push and read by the owner, so a push or take without Release /
//!   Acquire is a loom causality error;
//! - the park protocol: the owner's `try_park` racing a push never lets both
//!   miss. Either the park fails (the block is pending and the owner takes it)
//!   or the push returns true (the producer saw the flag and must tell the
//!   owner); and when the push sees the flag it also sees what the owner wrote
//!   before parking;
//! - the reclaim protocol: on a parked page whose blocks all come back by
//!   pushes, racing an owner that takes the list (a rescue) or takes it and
//!   marks it abandoned (an exit), each block ends either in exactly one of
//!   the owner's takes or with the one pusher that completed the page, never
//!   both; the owner never takes a reclaiming page, sees every reclaimer's
//!   write to the page once it takes it reclaimed, and a reclaimed page is
//!   taken as such exactly once;
//! - the owner as a pusher (`heap::free_onto_parked`): its counted push onto
//!   its own parked page never reclaims; if it completes the page its take
//!   gets every block, else the other freer's push may reclaim, and never
//!   both.
//!
//! Blocks are real heap memory the model owns (8-aligned, first word is the
//! link the list writes), never touched by anyone else while on the list.
//!
//! Preemption bounds: 3 for every model (each explores at most tens of
//! thousands of executions, seconds in release mode).

#[path = "support.rs"]
mod support;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use tinyalloc::ds::remote_list::{chain_tail_and_len, RemoteFreeList, Taken};

const PREEMPTION_BOUND: usize = 3;

/// A freed block: its first word is the list's link.
#[repr(C, align(8))]
struct Block {
    /// Written by `RemoteFreeList::push` and read by the chain walk.
    link: core::cell::UnsafeCell<usize>,
    /// Written by the producer before the push, read by the owner after the take.
    payload: UnsafeCell<usize>,
}

// SAFETY: a block is touched by one thread at a time (its producer until the
// push, then its owner), which is exactly what the model checks.
unsafe impl Sync for Block {}
// SAFETY: as above.
unsafe impl Send for Block {}

/// What a producer leaves in block `index`.
fn payload_of(index: usize) -> usize {
    0x5eed_0000 + index
}

/// A list, its blocks, and a note the owner writes before parking.
struct World {
    list: RemoteFreeList,
    blocks: Box<[Block]>,
    /// The owner's state before parking (for the park's happens-before).
    owner_note: UnsafeCell<usize>,
}

impl World {
    fn new(blocks: usize) -> Self {
        World {
            list: RemoteFreeList::new(),
            blocks: (0..blocks)
                .map(|_| Block {
                    link: core::cell::UnsafeCell::new(0),
                    payload: UnsafeCell::new(0),
                })
                .collect(),
            owner_note: UnsafeCell::new(0),
        }
    }

    fn address(&self, index: usize) -> *mut u8 {
        core::ptr::from_ref(&self.blocks[index]).cast_mut().cast()
    }

    fn index_of(&self, block: *mut u8) -> usize {
        (0..self.blocks.len())
            .find(|&index| self.address(index) == block)
            .expect("the list handed back an address that is not one of the pushed blocks")
    }

    /// Producer side: fill block `index` and push it. Returns what `push` said.
    fn free_remote(&self, index: usize) -> bool {
        self.blocks[index]
            .payload
            // SAFETY: the block (or note) is this thread's alone until the push (or park)
            // publishes it; loom checks the access.
            .with_mut(|payload| unsafe { *payload = payload_of(index) });
        // SAFETY: block `index` is 8-aligned, valid for a usize write, pushed
        // once, and ours until the push publishes it.
        unsafe { self.list.push(self.address(index)) }
    }

    /// Owner side: take everything pending and check each block's payload.
    /// Returns the indices taken.
    fn take_all(&self, who: &str) -> Vec<usize> {
        match self.list.take() {
            Taken::Chain(chain, count) => self.walk_counted(chain, count, who),
            other => panic!("{who} found {other:?} on a list that is never parked"),
        }
    }

    /// [`walk`](Self::walk), checking the count the take reported.
    fn walk_counted(&self, chain: *mut u8, count: usize, who: &str) -> Vec<usize> {
        let taken = self.walk(chain, who);
        assert_eq!(
            count,
            taken.len(),
            "{who}'s take counted {count} blocks on a chain of {}",
            taken.len()
        );
        taken
    }

    /// Walk a chain the owner took, checking each block's payload against
    /// what its producer wrote before pushing. Returns the indices.
    fn walk(&self, chain: *mut u8, who: &str) -> Vec<usize> {
        let mut taken = Vec::new();
        if chain.is_null() {
            return taken;
        }
        // SAFETY: the owner took the chain; its blocks are ours.
        let (tail, len) = unsafe { chain_tail_and_len(chain) };
        let mut block = chain;
        let mut last = chain;
        while !block.is_null() {
            let index = self.index_of(block);
            let payload = self.blocks[index]
                .payload
                // SAFETY: a taken block is the owner's; loom checks the access.
                .with(|payload| unsafe { *payload });
            assert_eq!(
                payload,
                payload_of(index),
                "{who} took block {index} but does not see the payload its producer wrote before pushing"
            );
            taken.push(index);
            last = block;
            // SAFETY: every block of an owned chain links through its first word.
            block = unsafe { *self.blocks[index].link.get() } as *mut u8;
        }
        assert_eq!(
            (tail, len),
            (last, taken.len()),
            "chain_tail_and_len disagrees with a walk of the same chain"
        );
        taken
    }
}

/// Check that every block was taken exactly once across all takers.
fn assert_each_taken_once(blocks: usize, takes: &[&[usize]]) {
    let mut seen = vec![0usize; blocks];
    for &index in takes.iter().flat_map(|take| take.iter()) {
        seen[index] += 1;
    }
    for (index, count) in seen.iter().enumerate() {
        assert_eq!(
            *count, 1,
            "block {index} was taken {count} times: every pushed block must reach the owner exactly once"
        );
    }
}

/// Two producers (one pushing two blocks, one pushing one) race an owner that
/// takes the list twice; a final drain takes the rest.
#[test]
fn every_pushed_block_reaches_the_owner_exactly_once_with_its_payload() {
    support::check("remote_list/producers_and_owner", PREEMPTION_BOUND, || {
        let world = Arc::new(World::new(3));
        let producers: Vec<_> = [&[0, 1][..], &[2][..]]
            .into_iter()
            .map(|indices| {
                let world = Arc::clone(&world);
                let indices = indices.to_vec();
                thread::spawn(move || {
                    for index in indices {
                        assert!(
                            !world.free_remote(index),
                            "push reported a park that never happened"
                        );
                    }
                })
            })
            .collect();
        let owner = {
            let world = Arc::clone(&world);
            thread::spawn(move || {
                let mut taken = Vec::new();
                for _ in 0..2 {
                    taken.extend(world.take_all("the owner"));
                    thread::yield_now();
                }
                taken
            })
        };
        for producer in producers {
            producer.join().unwrap();
        }
        let by_owner = owner.join().unwrap();
        let by_drain = world.take_all("the final drain");
        assert_each_taken_once(3, &[&by_owner, &by_drain]);
        assert!(
            world.list.take_all().is_null(),
            "the list is not empty after the final drain"
        );
    });
}

/// The owner parks (after writing its note) while a producer pushes: exactly
/// one of "park failed" and "push saw the flag" happens, and the block is
/// taken once afterwards.
#[test]
fn a_park_racing_a_push_is_never_missed_by_both() {
    support::check("remote_list/park_vs_push", PREEMPTION_BOUND, || {
        let world = Arc::new(World::new(1));
        let owner = {
            let world = Arc::clone(&world);
            thread::spawn(move || {
                // SAFETY: the block (or note) is this thread's alone until the push (or park)
                // publishes it; loom checks the access.
                world.owner_note.with_mut(|note| unsafe { *note = 1 });
                world.list.try_park()
            })
        };
        let producer = {
            let world = Arc::clone(&world);
            thread::spawn(move || {
                let saw_park = world.free_remote(0);
                if saw_park {
                    // SAFETY: the block (or note) is this thread's alone until the push (or
                    // park) publishes it; loom checks the access.
                    let note = world.owner_note.with(|note| unsafe { *note });
                    assert_eq!(
                        note, 1,
                        "the push saw the park flag but not the owner's writes before parking"
                    );
                }
                saw_park
            })
        };
        let parked = owner.join().unwrap();
        let saw_park = producer.join().unwrap();
        assert!(
            !parked || saw_park,
            "the owner parked the list and the push did not see the flag: the block is stranded on a parked page and nobody was told"
        );
        assert!(
            parked || !saw_park,
            "the park failed yet the push reported the flag: the producer would wake an owner that never parked"
        );
        assert_eq!(
            world.list.is_parked(),
            parked,
            "the park flag does not match the result of try_park"
        );
        let taken = world.take_all("the final drain");
        assert_each_taken_once(1, &[&taken]);
        assert!(!world.list.is_parked(), "take_all must clear the park flag");
    });
}

/// The owner's slow path: try to park; if a block is pending take it and try
/// again. Two producers push one block each. Every block still pending at the
/// end arrived after the park; the first of them must have reported the flag
/// (so the owner is told once per park), and no other push may report it.
#[test]
fn a_parked_owner_is_told_of_every_block_that_arrives_after_parking() {
    support::check("remote_list/park_loop", PREEMPTION_BOUND, || {
        let world = Arc::new(World::new(2));
        let producers: Vec<_> = (0..2)
            .map(|index| {
                let world = Arc::clone(&world);
                thread::spawn(move || world.free_remote(index))
            })
            .collect();
        let owner = {
            let world = Arc::clone(&world);
            thread::spawn(move || {
                let mut taken = Vec::new();
                while !world.list.try_park() {
                    taken.extend(world.take_all("the parking owner"));
                    thread::yield_now();
                }
                taken
            })
        };
        let told = producers
            .into_iter()
            .map(|p| p.join().unwrap())
            .filter(|&saw| saw)
            .count();
        let by_owner = owner.join().unwrap();
        assert!(
            world.list.is_parked(),
            "the owner left its loop but the list is not parked"
        );
        let by_drain = world.take_all("the final drain");
        assert_eq!(
            told,
            by_drain.len().min(1),
            "{} blocks arrived on the parked list but {told} pushes reported the flag: exactly the first push onto a parked list must",
            by_drain.len()
        );
        assert_each_taken_once(2, &[&by_owner, &by_drain]);
    });
}

/// What the owner's takes found on a page being reclaimed.
#[derive(Default)]
struct OwnerView {
    /// Blocks taken in chains.
    taken: Vec<usize>,
    /// Takes that found the page reclaimed (its blocks all back, its memory
    /// given back).
    reclaimed: usize,
}

impl World {
    /// Producer side on a page of `blocks.len()` blocks, all handed out when
    /// it was parked: fill block `index` and push it counted. If the push
    /// completes the page, give its "memory" back (write every payload, as
    /// a purge zeroes the page) and finish. Returns whether it reclaimed.
    fn free_counted(&self, index: usize) -> bool {
        self.blocks[index]
            .payload
            // SAFETY: the block is this thread's alone until the push
            // publishes it; loom checks the access.
            .with_mut(|payload| unsafe { *payload = payload_of(index) });
        let page_blocks = self.blocks.len() as u64;
        // SAFETY: block `index` is 8-aligned, valid for a usize write, pushed
        // once, and ours until the push publishes it.
        let pushed = unsafe {
            self.list
                .push_counting(self.address(index), page_blocks, || true)
        };
        assert!(
            !pushed.page_was_free(),
            "a push of a live block found the page reclaimed: a reclaim took a block still in use"
        );
        if !pushed.reclaims() {
            return false;
        }
        for block in self.blocks.iter() {
            // SAFETY: the reclaimer holds every block of the page now; loom
            // checks that no owner take reaches them meanwhile.
            block.payload.with_mut(|payload| unsafe { *payload = 0 });
        }
        self.list.finish_reclaim();
        true
    }

    /// Owner side: take (or take and abandon) once, checking what comes back.
    fn owner_take(&self, abandon: bool, view: &mut OwnerView) {
        let taken = if abandon {
            self.list.take_and_abandon()
        } else {
            self.list.take()
        };
        match taken {
            Taken::Chain(chain, count) => {
                view.taken
                    .extend(self.walk_counted(chain, count, "the owner"))
            }
            Taken::Reclaiming => {}
            Taken::Reclaimed => {
                for (index, block) in self.blocks.iter().enumerate() {
                    // SAFETY: the page is the owner's again; loom checks that
                    // the reclaimer's writes happen-before.
                    let payload = block.payload.with(|payload| unsafe { *payload });
                    assert_eq!(
                        payload, 0,
                        "the owner took the page reclaimed but not after the reclaimer's write to block {index}"
                    );
                }
                view.reclaimed += 1;
            }
        }
    }
}

/// A parked page of two blocks, both handed out; two threads free one each
/// (counted pushes); the owner takes the list once meanwhile (a rescue, or
/// with `abandon` an exit's take-and-mark), then once more after the joins.
fn reclaim_model(abandon: bool) {
    let world = Arc::new(World::new(2));
    assert!(world.list.try_park());
    let freers: Vec<_> = (0..2)
        .map(|index| {
            let world = Arc::clone(&world);
            thread::spawn(move || world.free_counted(index))
        })
        .collect();
    let owner = {
        let world = Arc::clone(&world);
        thread::spawn(move || {
            let mut view = OwnerView::default();
            world.owner_take(abandon, &mut view);
            view
        })
    };
    let reclaims = freers
        .into_iter()
        .map(|freer| freer.join().unwrap())
        .filter(|&reclaimed| reclaimed)
        .count();
    let mut view = owner.join().unwrap();
    world.owner_take(abandon, &mut view);
    assert!(reclaims <= 1, "{reclaims} pushes reclaimed the same page");
    if reclaims == 1 {
        assert!(
            view.taken.is_empty(),
            "the page was reclaimed, yet the owner also took blocks {:?}",
            view.taken
        );
        assert_eq!(
            view.reclaimed, 1,
            "the page was reclaimed, but the owner's takes found it so {} times",
            view.reclaimed
        );
    } else {
        assert_eq!(view.reclaimed, 0, "the owner found a reclaim nobody did");
        assert_each_taken_once(2, &[&view.taken]);
    }
    assert!(
        matches!(world.list.take(), Taken::Chain(chain, 0) if chain.is_null()),
        "the list is not empty after the owner's last take"
    );
}

#[test]
fn a_parked_page_is_reclaimed_by_its_last_free_or_taken_by_its_owner_never_both() {
    support::check("remote_list/reclaim_vs_rescue", PREEMPTION_BOUND, || {
        reclaim_model(false)
    });
    support::check("remote_list/reclaim_vs_exit", PREEMPTION_BOUND, || {
        reclaim_model(true)
    });
}

/// A parked page of two blocks, both handed out. Another thread frees one
/// (a counted push that may reclaim: the owner looks idle); the owner frees
/// the other onto the same list (`heap::free_onto_parked`: a counted push
/// that never reclaims) and, if its push was the page's last block back,
/// takes the list at once (unparks). A final take stands for the owner's
/// later slow path.
fn owner_free_model() {
    let world = Arc::new(World::new(2));
    assert!(world.list.try_park());
    let freer = {
        let world = Arc::clone(&world);
        thread::spawn(move || world.free_counted(0))
    };
    let mut view = OwnerView::default();
    world.blocks[1]
        .payload
        // SAFETY: the block is the owner's until its push publishes it.
        .with_mut(|payload| unsafe { *payload = payload_of(1) });
    // SAFETY: block 1 is 8-aligned, valid for a usize write, pushed once.
    let pushed = unsafe { world.list.push_counting(world.address(1), 2, || false) };
    assert!(
        !pushed.page_was_free() && !pushed.reclaims(),
        "the owner's push of a live block found the page free, or reclaimed it"
    );
    let completed = pushed.blocks_now() == 2;
    if completed {
        world.owner_take(false, &mut view);
        assert_eq!(
            view.taken.len(),
            2,
            "the owner's push completed the page, but its take got {:?}",
            view.taken
        );
    }
    let reclaimed = freer.join().unwrap();
    world.owner_take(false, &mut view);
    if reclaimed {
        assert!(!completed, "both pushes completed the page");
        assert!(
            view.taken.is_empty() && view.reclaimed == 1,
            "the page was reclaimed, yet the owner took {:?} and found it reclaimed {} times",
            view.taken,
            view.reclaimed
        );
    } else {
        assert_eq!(view.reclaimed, 0, "the owner found a reclaim nobody did");
        assert_each_taken_once(2, &[&view.taken]);
    }
}

#[test]
fn an_owner_freeing_onto_its_parked_page_and_a_reclaiming_freer_never_both_take_it() {
    support::check(
        "remote_list/owner_free_vs_reclaim",
        PREEMPTION_BOUND,
        owner_free_model,
    );
}
