//! mimalloc-bench's security families (its `bench/security` tests, in one C
//! program: tests/c/security.c) under `LD_PRELOAD`, at block sizes 8, 4096
//! and 256 KiB: each run misuses one pointer and must die by `SIGABRT` with
//! tinyalloc's one-line message naming that pointer (never a bare `SIGSEGV`,
//! never `NOT_CAUGHT`).
//!
//! The default library must catch every invalid free (foreign, far, near,
//! unaligned, a block never handed out) and every double free; the `checks`
//! build (built here into `target/checks`) must also catch a free list
//! overwritten after a free.

mod common;

use common::{Alloc, TempDir};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);
const SIZES: [usize; 3] = [8, 4096, 256 * 1024];

/// Families no build lets through at any size: pointers that start no
/// block (`p + 8` at 8 B too: 8-byte requests get 16-byte blocks), and, by
/// the freed mark, blocks that are free: freed before (`double_free`) or
/// carved and never handed out (`p + 4096` at 8 B and 4096 B).
const CAUGHT_BY_DEFAULT: [&str; 12] = [
    "invalid_free",
    "invalid_free_0x1000",
    "invalid_free_stack",
    "invalid_free_global",
    "invalid_free_far",
    "invalid_free_close_before",
    "invalid_free_close_after",
    "invalid_free_close_4k",
    "invalid_free_unaligned",
    "double_free",
    "double_free_delayed",
    "double_free_interleaved",
];

fn compile(dir: &TempDir) -> PathBuf {
    let exe = dir.join("security");
    common::compile_c(&[&common::c_source("security.c")], &exe, &[]);
    exe
}

/// Run `family` at `size` with `library` preloaded; assert the abort and the
/// message naming the misused pointer.
fn expect_caught(exe: &Path, library: &Path, family: &str, size: usize) {
    let mut command = Command::new(exe);
    command.arg(family).arg(size.to_string());
    common::configure(&mut command, Alloc::Glibc);
    command.env("LD_PRELOAD", library);
    let run = common::run_as_set_up(&mut command, "tinyalloc", DEADLINE);
    let what = format!("{family} at {size} B ({})", library.display());
    let stderr = run.stderr();
    let announced = stderr
        .lines()
        .find_map(|l| l.strip_prefix("misusing 0x"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("{what}: no misuse announced\n{stderr}"));
    assert_eq!(
        run.output.status.signal(),
        Some(libc::SIGABRT),
        "{what}: not an abort ({}); stdout {:?}, stderr:\n{stderr}",
        run.output.status,
        run.stdout()
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("tinyalloc: "))
        .unwrap_or_else(|| panic!("{what}: no tinyalloc message:\n{stderr}"));
    let named = line
        .split_whitespace()
        .filter_map(|word| word.trim_end_matches(':').strip_prefix("0x"))
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .next_back();
    assert_eq!(
        named,
        Some(announced),
        "{what}: message {line:?} does not name {announced:#x}"
    );
}

#[test]
fn default_build_catches_every_invalid_and_double_free() {
    let dir = TempDir::new("security-default");
    let exe = compile(&dir);
    let library = common::shared_library();
    for size in SIZES {
        for family in CAUGHT_BY_DEFAULT {
            expect_caught(&exe, &library, family, size);
        }
    }
}

/// Build the `checks` variant of the library into its own target directory
/// (its own build lock, so building from a test cannot wait on ours).
fn checks_library() -> PathBuf {
    let target = common::root().join("target").join("checks");
    let status = Command::new(env!("CARGO"))
        .current_dir(common::root())
        .args([
            "build",
            "--release",
            "-p",
            "tinyalloc-capi",
            "--features",
            "checks",
        ])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the checks library failed");
    target.join("release").join("libtinyalloc.so")
}

#[test]
fn checks_build_also_catches_freed_list_corruption() {
    let dir = TempDir::new("security-checks");
    let exe = compile(&dir);
    let library = checks_library();
    for size in SIZES {
        for family in CAUGHT_BY_DEFAULT {
            expect_caught(&exe, &library, family, size);
        }
    }
    for size in [8, 4096] {
        expect_caught(&exe, &library, "write_after_free_reuse", size);
    }
}
