//! fork() in a multi-threaded program while other threads allocate
//! (tests/c/fork.c): no atfork handlers are needed, because tinyalloc holds
//! no locks a child could inherit. Every child (and grandchild) must
//! allocate freely and exit 0.

mod common;

use common::{Alloc, TempDir};
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn fork_while_threads_allocate() {
    let dir = TempDir::new("fork");
    let exe = dir.join("fork");
    common::compile_c(&[&common::c_source("fork.c")], &exe, &[]);

    let run = common::run(&mut Command::new(&exe), Alloc::PreloadStats, DEADLINE);
    run.assert_success("fork under LD_PRELOAD");
    assert!(
        run.stdout().contains("30 children, 0 failed"),
        "{}",
        run.stdout()
    );
    // The parent and each child exit through exit(): 31 summaries, and the
    // children's own counts prove they allocated after the fork.
    let served = common::assert_served(&run, "fork");
    assert_eq!(
        served.len(),
        31,
        "expected a summary from the parent and each of 30 children"
    );
    assert!(served.iter().all(|s| s.malloc > 0 && s.free > 0));

    // The same program on glibc, for the wall-time comparison.
    let glibc = common::run(&mut Command::new(&exe), Alloc::Glibc, DEADLINE);
    glibc.assert_success("fork on glibc");
    let tiny = common::run(&mut Command::new(&exe), Alloc::Preload, DEADLINE);
    tiny.assert_success("fork under LD_PRELOAD");
    common::report_times(
        "fork.c: 30 forks beside 4 allocating threads (not a throughput measure)",
        glibc.wall,
        tiny.wall,
    );
}
