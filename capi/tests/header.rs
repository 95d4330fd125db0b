//! `include/tinyalloc.h` from C (tests/c/header.c, `-std=c11 -pedantic
//! -Wall -Wextra -Werror`): statistics, `tinyalloc_collect` and
//! `tinyalloc_set_cache_limit`, linked against `libtinyalloc.so`; and the
//! header compiles as C++ too.

mod common;

use common::{Alloc, TempDir};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn include_dir() -> PathBuf {
    common::root().join("capi").join("include")
}

#[test]
fn stats_collect_and_cache_limit_from_c() {
    let library = common::shared_library();
    let lib_dir = library.parent().expect("library directory");
    let dir = TempDir::new("header");
    let exe = dir.join("header");
    let args = [
        "-std=c11".to_string(),
        "-pedantic".to_string(),
        format!("-I{}", include_dir().display()),
        format!("-L{}", lib_dir.display()),
        "-ltinyalloc".to_string(),
        format!("-Wl,-rpath,{}", lib_dir.display()),
    ];
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    common::compile_c(&[&common::c_source("header.c")], &exe, &args);
    let run = common::run(
        Command::new(&exe)
            .env_remove("TINYALLOC_CACHE_LIMIT")
            .env_remove("TINYALLOC_PURGE_DELAY_MS"),
        Alloc::Glibc,
        Duration::from_secs(60),
    );
    run.assert_success("header.c linked with -ltinyalloc");
    assert!(
        run.stdout().contains("tinyalloc.h checks passed"),
        "{}",
        run.stdout()
    );
    print!("{}", run.stdout());

    // The library reads TINYALLOC_* before main: a bad value is one warning
    // line and the default (under which header.c's expectations hold).
    let warned = common::run(
        Command::new(&exe)
            .env("TINYALLOC_CACHE_LIMIT", "junk")
            .env_remove("TINYALLOC_PURGE_DELAY_MS"),
        Alloc::Glibc,
        Duration::from_secs(60),
    );
    warned.assert_success("header.c with TINYALLOC_CACHE_LIMIT=junk");
    assert_eq!(
        warned.stderr(),
        "tinyalloc: ignoring TINYALLOC_CACHE_LIMIT=junk (expected a byte count such as 0, \
         65536, 512K, 64M or 1G); using the default\n"
    );
    // And a good one takes effect: with no cache, header.c's check that a
    // freed region is cached fails.
    let uncached = common::run(
        Command::new(&exe)
            .env("TINYALLOC_CACHE_LIMIT", "0")
            .env_remove("TINYALLOC_PURGE_DELAY_MS"),
        Alloc::Glibc,
        Duration::from_secs(60),
    );
    assert!(
        !uncached.output.status.success()
            && uncached.stderr().contains("freed.cached_bytes >= big"),
        "TINYALLOC_CACHE_LIMIT=0 had no effect on libtinyalloc.so: {}\n{}",
        uncached.output.status,
        uncached.stderr()
    );
}

#[test]
fn the_header_compiles_as_cxx() {
    let dir = TempDir::new("header-cxx");
    let source = dir.join("use.cpp");
    std::fs::write(
        &source,
        "#include \"tinyalloc.h\"\n\
         int main() { struct tinyalloc_stats st{}; tinyalloc_stats(&st); tinyalloc_collect();\n\
         return st.live_heaps == 0; }\n",
    )
    .expect("write use.cpp");
    let result = Command::new("g++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
        .arg(format!("-I{}", include_dir().display()))
        .arg(&source)
        .output()
        .expect("run g++");
    assert!(
        result.status.success(),
        "tinyalloc.h does not compile as C++:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// `tinyalloc_heap_*` from C (tests/c/heap.c): a 100,000-block arena
/// destroyed at once with frees from another thread before, calloc and
/// realloc into a heap, and a deleted heap whose blocks `free` releases.
#[test]
fn heaps_from_c() {
    let library = common::shared_library();
    let lib_dir = library.parent().expect("library directory");
    let dir = TempDir::new("heap");
    let exe = dir.join("heap");
    let args = [
        "-std=c11".to_string(),
        "-pedantic".to_string(),
        format!("-I{}", include_dir().display()),
        format!("-L{}", lib_dir.display()),
        "-ltinyalloc".to_string(),
        format!("-Wl,-rpath,{}", lib_dir.display()),
    ];
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    common::compile_c(&[&common::c_source("heap.c")], &exe, &args);
    let run = common::run(
        &mut Command::new(&exe),
        Alloc::Glibc,
        Duration::from_secs(60),
    );
    run.assert_success("heap.c linked with -ltinyalloc");
    assert!(
        run.stdout().contains("tinyalloc.h heap checks passed"),
        "{}",
        run.stdout()
    );
    print!("{}", run.stdout());
}
