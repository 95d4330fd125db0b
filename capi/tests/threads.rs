//! A multi-threaded C program (tests/c/handoff.c) that hands blocks between
//! threads, run under `LD_PRELOAD`: its output must match a run on glibc.

mod common;

use common::{Alloc, TempDir};
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn blocks_handed_between_threads() {
    let dir = TempDir::new("handoff");
    let exe = dir.join("handoff");
    common::compile_c(&[&common::c_source("handoff.c")], &exe, &[]);
    let make = || Command::new(&exe);

    let proof = common::run(&mut make(), Alloc::PreloadStats, DEADLINE);
    proof.assert_success("handoff under LD_PRELOAD");
    let served = common::assert_served(&proof, "handoff");
    assert!(
        served[0].free > 100_000,
        "the consumers' frees went elsewhere: {served:?}"
    );

    let (glibc_time, glibc) = common::best_of(2, Alloc::Glibc, DEADLINE, "handoff", make);
    let (tiny_time, tiny) = common::best_of(2, Alloc::Preload, DEADLINE, "handoff", make);
    assert_eq!(
        tiny.stdout(),
        glibc.stdout(),
        "handoff's report differs between tinyalloc and glibc"
    );
    assert_eq!(proof.stdout(), glibc.stdout());
    assert!(glibc.stdout().contains("corrupt 0\n"));
    common::report_times(
        "handoff.c: 4 producer/consumer pairs x 4 waves",
        glibc_time,
        tiny_time,
    );
}
