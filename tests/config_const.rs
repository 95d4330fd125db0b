//! A `const` configuration on the global allocator value
//! (`TinyAlloc::with_config`), applied before the first allocation; the
//! environment overrides it and run-time calls override both. Each case runs
//! this binary again as a child (with the `TINYALLOC_*` variables it names,
//! and no others), which reports the settings in effect and the size of the
//! first arena, reserved by the process's first allocation.

#![cfg(not(feature = "loom"))]

use std::process::Command;
use tinyalloc::{Config, TinyAlloc};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc::with_config(
    Config::new()
        .purge_delay_ms(1234)
        .cache_limit(3 << 20)
        .arena_size(64 << 20)
        .show_stats(true),
);

const CHILD_VAR: &str = "TINYALLOC_CONFIG_CONST_CHILD";
const VARIABLES: [&str; 4] = [
    "TINYALLOC_PURGE_DELAY_MS",
    "TINYALLOC_CACHE_LIMIT",
    "TINYALLOC_ARENA_SIZE",
    "TINYALLOC_SHOW_STATS",
];

fn report(when: &str) {
    let now = tinyalloc::config::current();
    let arena = tinyalloc::arena::arenas()
        .arena_span(0)
        .map_or(0, |(_, size)| size);
    println!(
        "RESULT-{when} purge={} cache={} arena_size={} show={} first_arena={arena}",
        now.purge_delay_ms,
        now.cache_limit.map_or(-1, |bytes| bytes as i64),
        now.arena_size,
        now.show_stats,
    );
}

/// The child's work (a no-op in the normal test run).
#[test]
fn child_probe() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    report("start");
    // Run-time calls win over the environment and the const configuration.
    assert!(tinyalloc::config::set_purge_delay_ms(7));
    tinyalloc::config::set_cache_limit(5 << 20);
    assert!(tinyalloc::config::set_arena_size(16 << 20));
    assert!(!tinyalloc::config::set_arena_size(1 << 20));
    assert!(!tinyalloc::config::set_purge_delay_ms(3_600_001));
    report("runtime");
}

struct Child {
    start: String,
    runtime: String,
    stderr: String,
}

fn run_child(vars: &[(&str, &str)]) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args(["--exact", "child_probe", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1");
    for name in VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "child with {vars:?} failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    let line = |marker: &str| {
        stdout
            .lines()
            .find_map(|line| line.split(marker).nth(1))
            .unwrap_or_else(|| panic!("no {marker} line from the child with {vars:?}:\n{stdout}"))
            .trim()
            .to_string()
    };
    Child {
        start: line("RESULT-start "),
        runtime: line("RESULT-runtime "),
        stderr,
    }
}

fn stats_lines(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|line| line.starts_with("tinyalloc: mapped "))
        .count()
}

#[test]
fn const_config_applies_before_the_first_allocation() {
    let child = run_child(&[]);
    // The first arena (reserved by the process's first allocation, before
    // `main`) already has the configured size.
    assert_eq!(
        child.start,
        "purge=1234 cache=3145728 arena_size=67108864 show=true first_arena=67108864"
    );
    assert_eq!(stats_lines(&child.stderr), 1, "{}", child.stderr);
    assert!(
        !child.stderr.contains("tinyalloc: ignoring"),
        "{}",
        child.stderr
    );
}

#[test]
fn environment_overrides_the_const_config() {
    let child = run_child(&[
        ("TINYALLOC_PURGE_DELAY_MS", "50"),
        ("TINYALLOC_CACHE_LIMIT", "1M"),
        ("TINYALLOC_ARENA_SIZE", "32M"),
        ("TINYALLOC_SHOW_STATS", "0"),
    ]);
    assert_eq!(
        child.start,
        "purge=50 cache=1048576 arena_size=33554432 show=false first_arena=33554432"
    );
    assert_eq!(stats_lines(&child.stderr), 0, "{}", child.stderr);
    // A variable left unset leaves the const value; a bad one warns and
    // leaves it too.
    let partial = run_child(&[("TINYALLOC_PURGE_DELAY_MS", "soon")]);
    assert_eq!(
        partial.start,
        "purge=1234 cache=3145728 arena_size=67108864 show=true first_arena=67108864"
    );
    assert!(
        partial
            .stderr
            .contains("tinyalloc: ignoring TINYALLOC_PURGE_DELAY_MS=soon"),
        "{}",
        partial.stderr
    );
}

#[test]
fn run_time_calls_override_both() {
    let child = run_child(&[("TINYALLOC_PURGE_DELAY_MS", "50")]);
    assert_eq!(
        child.runtime,
        "purge=7 cache=5242880 arena_size=16777216 show=true first_arena=67108864"
    );
}

#[test]
fn the_unit_like_value_still_names_the_default_allocator() {
    // `static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;` (as
    // every user has it) compiles, and is the default configuration.
    static DEFAULT: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;
    assert_eq!(DEFAULT, TinyAlloc::with_config(Config::new()));
    assert_eq!(DEFAULT, TinyAlloc::default());
    assert_eq!(*DEFAULT.config(), Config::new());
    assert_ne!(GLOBAL, DEFAULT);
}
