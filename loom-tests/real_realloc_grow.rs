#![cfg(feature = "loom")]
//! Loom model over the real allocator (issue 13, model 4; design.md §3.1):
//! `realloc` growing a large block in place into the arena slots right
//! after it while another thread claims slots from the same arena.
//!
//! - grower: allocates a 200 KiB block (four 64 KiB slots under loom),
//!   then reallocates it to 260 KiB (five slots): `large::resize_in_place`
//!   claims the slot after its run (`ArenaTable::try_grow`,
//!   `AtomicBitmap::claim_exact`), or moves the block if that slot is taken;
//! - claimer: allocates a 150 KiB block (three slots: `ArenaTable::claim`,
//!   the first free run), which may be the grower's next slot.
//!
//! Checked: the grown (or moved) block keeps its first 200 KiB, and overlaps
//! no live block (the claimer's block keeps its pattern too): one slot is
//! never in two runs; every slot comes back (`allocator::finish`).
//!
//! Preemption bound 1 (8,597 interleavings, ~16 s debug; bound 2 takes
//! 61,006 and ~110 s): the race is two CASes on one bitmap word (the
//! grower's `claim_exact` and the claimer's `claim_run_below`), and the
//! relaxed loads of the arena table and the cache already multiply the
//! executions loom explores (every store a load may see is a branch); one
//! preemption puts the claimer's CAS between the grower's load and CAS.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const OLD: usize = 200 * 1024;
const NEW: usize = 260 * 1024;
const OTHER: usize = 150 * 1024;

#[test]
fn realloc_in_place_races_slot_claim() {
    support::check("real_realloc_grow", 1, || {
        allocator::reset();
        let grower = allocator::spawn(|| {
            let block = allocator::alloc(OLD, 0x33);
            let grown = allocator::realloc(block, OLD, NEW, 0x33);
            allocator::free(grown, NEW, 0x33);
        });
        let claimer = allocator::spawn(|| {
            let block = allocator::alloc(OTHER, 0x44);
            allocator::check(block, OTHER, 0x44);
            allocator::free(block, OTHER, 0x44);
        });
        grower.join().unwrap();
        claimer.join().unwrap();
        allocator::finish();
    });
}
