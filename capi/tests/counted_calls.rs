//! `TINYALLOC_SHOW_STATS` counts every call, including those whose sizes
//! take the fast paths of `malloc`, `calloc` and `free` (which counting
//! turns off by emptying the heaps' `malloc` slots and keeping page shifts
//! off the segment map, not by a test on each call), and `realloc`s that
//! keep or move their block, from the main thread and from a thread
//! started after the library's constructor (tests/c/counted_calls.c).

mod common;

use common::{Alloc, TempDir};
use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

/// Calls of each kind per thread; the program runs two threads.
const CALLS: u64 = 10_000;
/// Calls the C runtime may make on its own (stdio's buffer, thread set-up).
const SLACK: u64 = 100;

#[test]
fn every_fast_path_call_is_counted() {
    let dir = TempDir::new("counted-calls");
    let exe = dir.join("counted_calls");
    common::compile_c(
        &[&common::c_source("counted_calls.c")],
        &exe,
        &[OsStr::new("-pthread")],
    );
    let mut command = Command::new(&exe);
    command.arg(CALLS.to_string());
    let run = common::run(&mut command, Alloc::PreloadStats, Duration::from_secs(120));
    run.assert_success("counted_calls under LD_PRELOAD");
    assert_eq!(run.stdout(), "done\n");
    let summaries = common::assert_served(&run, "counted_calls");
    let summary = &summaries[0];
    let expected = 2 * CALLS;
    for (what, counted, calls) in [
        ("malloc", summary.malloc, expected),
        ("calloc", summary.calloc, expected),
        ("realloc", summary.realloc, expected),
        ("free", summary.free, 2 * expected),
    ] {
        assert!(
            (calls..=calls + SLACK).contains(&counted),
            "{what}: counted {counted}, made {calls}: {summary:?}"
        );
    }
}
