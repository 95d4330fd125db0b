//! `tinyalloc_config_*` from C (tests/c/config.c, linked against
//! `libtinyalloc.so`): the values in effect at start come from the
//! `TINYALLOC_*` environment; the setters check their ranges and take
//! effect; turning the exit figures on at run time prints them.

mod common;

use common::{Alloc, TempDir};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const VARIABLES: [&str; 4] = [
    "TINYALLOC_PURGE_DELAY_MS",
    "TINYALLOC_CACHE_LIMIT",
    "TINYALLOC_ARENA_SIZE",
    "TINYALLOC_SHOW_STATS",
];

fn build() -> (TempDir, PathBuf) {
    let library = common::shared_library();
    let lib_dir = library.parent().expect("library directory");
    let dir = TempDir::new("config");
    let exe = dir.join("config");
    let args = [
        "-std=c11".to_string(),
        "-pedantic".to_string(),
        format!(
            "-I{}",
            common::root().join("capi").join("include").display()
        ),
        format!("-L{}", lib_dir.display()),
        "-ltinyalloc".to_string(),
        format!("-Wl,-rpath,{}", lib_dir.display()),
    ];
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    common::compile_c(&[&common::c_source("config.c")], &exe, &args);
    (dir, exe)
}

fn command(exe: &PathBuf, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(exe);
    for name in VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

fn start_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("START "))
        .unwrap_or_else(|| panic!("no START line:\n{stdout}"))
}

#[test]
fn configuration_from_c() {
    let (_dir, exe) = build();
    let run = common::run(
        &mut command(&exe, &[]),
        Alloc::Glibc,
        Duration::from_secs(60),
    );
    run.assert_success("config.c linked with -ltinyalloc");
    let stdout = run.stdout();
    assert_eq!(
        start_line(&stdout),
        "purge=100 cache=-1 arena=1073741824 show=0"
    );
    assert!(
        stdout.contains("tinyalloc.h configuration checks passed"),
        "{stdout}"
    );
    // Switched on at run time: the figures' line at exit (and no call
    // counts: those need the variable at start-up).
    let stderr = run.stderr();
    assert_eq!(
        stderr
            .lines()
            .filter(|line| line.starts_with("tinyalloc: mapped "))
            .count(),
        1,
        "{stderr}"
    );
    assert!(common::summaries(&stderr).is_empty(), "{stderr}");
}

#[test]
fn environment_seen_from_c() {
    let (_dir, exe) = build();
    let mut command = command(
        &exe,
        &[
            ("TINYALLOC_PURGE_DELAY_MS", "250"),
            ("TINYALLOC_CACHE_LIMIT", "2M"),
            ("TINYALLOC_ARENA_SIZE", "128M"),
        ],
    );
    command.arg("start-only");
    // LinkedStats sets TINYALLOC_SHOW_STATS=1.
    let run = common::run(&mut command, Alloc::LinkedStats, Duration::from_secs(60));
    run.assert_success("config.c with TINYALLOC_*");
    assert_eq!(
        start_line(&run.stdout()),
        "purge=250 cache=2097152 arena=134217728 show=1"
    );
    let stderr = run.stderr();
    assert_eq!(common::summaries(&stderr).len(), 1, "{stderr}");
    let figures: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("tinyalloc: mapped "))
        .collect();
    assert_eq!(figures.len(), 1, "{stderr}");
    // The first arena had the configured size: 128 MiB mapped plus the
    // heap area (16 MiB).
    assert!(
        figures[0].starts_with("tinyalloc: mapped 144.0 MiB"),
        "{stderr}"
    );
}
