//! `libtinyalloc.so` loaded late with `dlopen` into a program that did not
//! preload it (tests/c/dlopen.c): its `malloc`/`free`/`calloc`/`realloc`,
//! found with `dlsym`, work from the main thread, from a thread that existed
//! before the load and from threads started after it. The library's heap
//! pointer is initial-exec TLS, which a late load must find room for.

mod common;

use common::{Alloc, TempDir};
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn works_when_loaded_with_dlopen() {
    let dir = TempDir::new("dlopen");
    let exe = dir.join("dlopen");
    common::compile_c(&[&common::c_source("dlopen.c")], &exe, &[]);
    let library = common::shared_library();
    let run = common::run(Command::new(&exe).arg(&library), Alloc::Glibc, DEADLINE);
    run.assert_success("dlopen of libtinyalloc.so");
    // 5 rounds of 2000 blocks in each of 5 threads.
    assert_eq!(run.stdout(), "dlopen ok 50000\n");
}
