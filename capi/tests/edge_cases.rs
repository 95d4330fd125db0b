//! Every exported function's edge cases, asserted from C (tests/c/edge_cases.c):
//! the program passes against plain glibc (so its expectations are glibc's),
//! and against tinyalloc preloaded, linked as `libtinyalloc.so` and linked
//! statically from `libtinyalloc.a`.

mod common;

use common::{Alloc, TempDir};
use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn expectations_hold_for_glibc() {
    let dir = TempDir::new("edge-glibc");
    let exe = dir.join("edge_cases");
    common::compile_c(&[&common::c_source("edge_cases.c")], &exe, &[]);
    let run = common::run(Command::new(&exe).arg("glibc"), Alloc::Glibc, DEADLINE);
    run.assert_success("edge_cases against glibc");
    print!("{}", run.stdout());
}

#[test]
fn edge_cases_under_ld_preload() {
    let dir = TempDir::new("edge-preload");
    let exe = dir.join("edge_cases");
    common::compile_c(&[&common::c_source("edge_cases.c")], &exe, &[]);
    let run = common::run(&mut Command::new(&exe), Alloc::PreloadStats, DEADLINE);
    run.assert_success("edge_cases under LD_PRELOAD");
    common::assert_served(&run, "edge_cases (LD_PRELOAD)");
    print!("{}", run.stdout());
}

#[test]
fn edge_cases_linked_against_the_shared_library() {
    let library = common::shared_library();
    let dir = TempDir::new("edge-shared");
    let exe = dir.join("edge_cases");
    let lib_dir = library.parent().expect("library directory");
    let rpath = format!("-Wl,-rpath,{}", lib_dir.display());
    let search = format!("-L{}", lib_dir.display());
    common::compile_c(
        &[&common::c_source("edge_cases.c")],
        &exe,
        &[
            OsStr::new(&search),
            OsStr::new("-ltinyalloc"),
            OsStr::new(&rpath),
        ],
    );
    let run = common::run(&mut Command::new(&exe), Alloc::LinkedStats, DEADLINE);
    run.assert_success("edge_cases linked with -ltinyalloc");
    common::assert_served(&run, "edge_cases (linked .so)");
}

#[test]
fn edge_cases_linked_against_the_static_library() {
    let library = common::static_library();
    let dir = TempDir::new("edge-static");
    let exe = dir.join("edge_cases");
    // The Rust runtime inside the archive needs these system libraries
    // (`rustc --print native-static-libs`).
    common::compile_c(
        &[&common::c_source("edge_cases.c")],
        &exe,
        &[
            library.as_os_str(),
            OsStr::new("-lgcc_s"),
            OsStr::new("-lutil"),
            OsStr::new("-lrt"),
            OsStr::new("-lpthread"),
            OsStr::new("-lm"),
            OsStr::new("-ldl"),
            OsStr::new("-lc"),
        ],
    );
    let run = common::run(&mut Command::new(&exe), Alloc::LinkedStats, DEADLINE);
    run.assert_success("edge_cases linked with libtinyalloc.a");
    common::assert_served(&run, "edge_cases (linked .a)");
}
