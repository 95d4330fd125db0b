#![cfg(feature = "loom")]
//! Loom model of `arena::ArenaTable` growth (design.md §3, arenas: a thread
//! that finds every installed arena full reserves one and installs it by CAS
//! into the first empty table entry).
//!
//! Invariants checked, with two threads claiming (one slot, and more than a
//! quarter arena) from an empty table so both may try to grow at once:
//! - the claims succeed, with disjoint slots (non-overlapping memory);
//! - each table entry, once installed, keeps its arena: every run handed out
//!   from an entry lies in that entry's one reservation, and within its end;
//! - one or two arenas are installed, and no reservation leaks: the mock OS's
//!   mapped bytes grew by exactly the installed arenas' sizes.
//!
//! A second model starts from a table whose full-size reservation was refused
//! (so it holds a quarter-size arena): the long claim must not be served past
//! that arena's end. Seeded bug: claiming without the arena's slot limit
//! fails it with "a run ... reaches past its arena's end".
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
use tinyalloc::arena::{ArenaTable, ARENA_SLOTS, MAX_ARENAS, SEGMENT_SIZE};
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

/// One test for both models: they read the process-wide mock OS counters.
#[test]
fn two_claimers_growing_an_empty_table_get_disjoint_slots_and_leak_no_arena() {
    support::check("arena/concurrent_growth", PREEMPTION_BOUND, || {
        growth(false)
    });
    // The first full-size reservation was refused: a smaller arena replaced it.
    support::check("arena/refused_then_smaller", PREEMPTION_BOUND, || {
        growth(true)
    });
}

/// Two claimers (of 1 slot and of more than a quarter arena) grow the table.
/// With `small_first`, the table starts with one quarter-size arena (the
/// full-size reservation was refused) holding one claimed slot.
fn growth(small_first: bool) {
    {
        let mapped_before = os::counters().mapped_bytes;
        let table = Arc::new(ArenaTable::new());
        let mut runs: Vec<Run> = Vec::new();
        if small_first {
            os::inject_reserve_failures(1);
            runs.push(claim(&table, 1, "set-up"));
            let (_, bytes) = table.arena_span(0).expect("the set-up arena");
            assert_eq!(
                bytes,
                ARENA_SLOTS / 4 * SEGMENT_SIZE,
                "no quarter-size arena"
            );
        }
        // The second claim is longer than a quarter-size arena: that arena
        // must not serve it past its end.
        let claimers: Vec<_> = [("claimer 1", 1), ("claimer 2", ARENA_SLOTS / 4 + 8)]
            .into_iter()
            .map(|(who, count)| {
                let table = Arc::clone(&table);
                thread::spawn(move || claim(&table, count, who))
            })
            .collect();
        runs.extend(claimers.into_iter().map(|c| c.join().unwrap()));

        for (i, a) in runs.iter().enumerate() {
            for b in &runs[i + 1..] {
                assert!(
                    a.0 + a.3 * SEGMENT_SIZE <= b.0 || b.0 + b.3 * SEGMENT_SIZE <= a.0,
                    "two claimed runs overlap in memory: {a:?} and {b:?}"
                );
            }
        }
        let arenas = table.arena_count();
        // One arena per grower at most; the small one cannot serve claimer 2.
        let most = 2;
        assert!(
            (1..=most).contains(&arenas),
            "{} claims installed {arenas} arenas; expected at most {most}",
            runs.len()
        );
        assert_eq!(
            table.claimed_slots(),
            runs.iter().map(|run| run.3).sum::<usize>(),
            "the table counts a different number of claimed slots than the runs handed out"
        );
        let spans: Vec<(usize, usize)> = (0..arenas)
            .map(|arena| table.arena_span(arena).expect("installed arena"))
            .collect();
        let installed_bytes: usize = spans.iter().map(|&(_, bytes)| bytes).sum();
        let mapped = os::counters().mapped_bytes - mapped_before;
        assert_eq!(
            mapped, installed_bytes,
            "{mapped} bytes are reserved but the {arenas} installed arenas span {installed_bytes}: a reservation leaked"
        );
        for &(base, bytes) in &spans {
            for &(run_base, _, _, count) in &runs {
                let inside = run_base >= base && run_base < base + bytes;
                assert!(
                    !inside || run_base + count * SEGMENT_SIZE <= base + bytes,
                    "a run at {run_base:#x} reaches past its arena's end"
                );
            }
        }

        // Every run lies in the reservation its entry names (an entry never
        // changes after install); an arena no run came from is known by its
        // entry alone.
        let mut bases = [None::<usize>; MAX_ARENAS];
        for &run in &runs {
            note_arena_base(&mut bases, run);
        }
        for arena in 0..arenas {
            bases[arena].get_or_insert(spans[arena].0);
        }
        for (arena, base) in bases.into_iter().enumerate().take(arenas) {
            let base = base.expect("every arena's base is known");
            assert_eq!(base, spans[arena].0, "arena {arena} moved");
            // SAFETY: each base is one whole reservation of this execution's
            // table, which nobody touches after this point.
            unsafe { os::release(base as *mut u8, spans[arena].1, SEGMENT_SIZE) };
        }
        assert_eq!(
            os::counters().mapped_bytes,
            mapped_before,
            "after handing every installed arena back, some reservation is still mapped: it leaked"
        );
    }
}
