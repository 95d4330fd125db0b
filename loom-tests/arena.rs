#![cfg(feature = "loom")]
//! Loom model of `arena::ArenaTable` growth (design.md §3, arenas: a thread
//! that finds every installed arena full reserves one and installs it by CAS
//! into the first empty table entry).
//!
//! Invariants checked, with two threads claiming from an empty table so both
//! try to grow at once:
//! - both claims succeed, with disjoint slots (different arena or slot index,
//!   and non-overlapping memory);
//! - each table entry, once installed, keeps its arena: every run handed out
//!   from an entry lies in that entry's one reservation;
//! - one or two arenas are installed, and no reservation leaks: the mock OS's
//!   mapped bytes grew by exactly `arena_count() * ARENA_SIZE`.
//!
//! The OS counters are process-global, so this binary holds a single test and
//! each execution compares its own before/after; the execution then hands its
//! arenas back to the mock OS (they are 8 MiB of real memory each).
//!
//! Preemption bound: 3 (two threads; under a thousand executions, each
//! zeroing real 8 MiB arenas, so about ten seconds in release mode).
//!
//! This model found that `grow` loaded the `installed` hint Relaxed: a thread
//! could see the hint raised past an entry yet read that entry as empty, and
//! grow a third arena for two single-slot claims. The load is now Acquire.

#[path = "support.rs"]
mod support;

use loom::sync::Arc;
use loom::thread;
use tinyalloc::arena::{ArenaTable, ARENA_SIZE, ARENA_SLOTS, MAX_ARENAS, SEGMENT_SIZE};
use tinyalloc::os;

const PREEMPTION_BOUND: usize = 3;

/// A claimed run as plain numbers (a `SlotRun` holds a raw pointer, which
/// cannot cross threads): (base address, arena index, first slot, count).
type Run = (usize, usize, usize, usize);

fn claim(table: &ArenaTable, count: usize, who: &str) -> Run {
    let run = table
        .claim(count)
        .unwrap_or_else(|| panic!("{who}: claim({count}) failed on a table with room to grow"));
    (
        run.base as usize,
        run.arena as usize,
        run.first as usize,
        run.count as usize,
    )
}

/// Record the base of the arena `run` came from; every run of one arena
/// must agree on it.
fn note_arena_base(bases: &mut [Option<usize>; MAX_ARENAS], (base, arena, first, _): Run) {
    let arena_base = base - first * SEGMENT_SIZE;
    assert_eq!(
        arena_base % SEGMENT_SIZE,
        0,
        "arena {arena} is not segment-aligned"
    );
    let known = bases[arena].get_or_insert(arena_base);
    assert_eq!(
        *known, arena_base,
        "two runs from arena {arena} lie in different reservations: the entry was overwritten after install"
    );
}

#[test]
fn two_claimers_growing_an_empty_table_get_disjoint_slots_and_leak_no_arena() {
    support::check("arena/concurrent_growth", PREEMPTION_BOUND, || {
        let mapped_before = os::counters().mapped_bytes;
        let table = Arc::new(ArenaTable::new());
        let claimers: Vec<_> = ["claimer 1", "claimer 2"]
            .into_iter()
            .map(|who| {
                let table = Arc::clone(&table);
                thread::spawn(move || claim(&table, 1, who))
            })
            .collect();
        let runs: Vec<Run> = claimers.into_iter().map(|c| c.join().unwrap()).collect();

        let (a, b) = (runs[0], runs[1]);
        assert!(
            (a.1, a.2) != (b.1, b.2),
            "both claimers got slot {} of arena {}",
            a.2,
            a.1
        );
        assert!(
            a.0 + a.3 * SEGMENT_SIZE <= b.0 || b.0 + b.3 * SEGMENT_SIZE <= a.0,
            "the claimed runs overlap in memory: {a:?} and {b:?}"
        );

        let arenas = table.arena_count();
        assert!(
            (1..=2).contains(&arenas),
            "two single-slot claims installed {arenas} arenas; expected 1 or 2"
        );
        assert_eq!(
            table.claimed_slots(),
            2,
            "the table counts a different number of claimed slots than the two runs handed out"
        );
        let mapped = os::counters().mapped_bytes - mapped_before;
        assert_eq!(
            mapped,
            arenas * ARENA_SIZE,
            "{} arenas' worth of memory is reserved but {arenas} arenas are installed: a reservation leaked",
            mapped as f64 / ARENA_SIZE as f64
        );

        // Every installed arena's base, from the runs in it; an arena no run
        // came from is found by claiming it whole.
        let mut bases = [None::<usize>; MAX_ARENAS];
        for &run in &runs {
            note_arena_base(&mut bases, run);
        }
        while let Some(arena) = (0..arenas).find(|&arena| bases[arena].is_none()) {
            let whole = claim(&table, ARENA_SLOTS, "the final check");
            assert_eq!(
                whole.1, arena,
                "arena {arena} has no claimed slot yet a whole-arena claim went elsewhere"
            );
            note_arena_base(&mut bases, whole);
        }
        for base in bases.into_iter().flatten() {
            // SAFETY: each base is one whole reservation of this execution's
            // table, which nobody touches after this point.
            unsafe { os::release(base as *mut u8, ARENA_SIZE, SEGMENT_SIZE) };
        }
        assert_eq!(
            os::counters().mapped_bytes,
            mapped_before,
            "after handing every installed arena back, some reservation is still mapped: it leaked"
        );
    });
}
