//! A `const` configuration with values out of range: one warning line each
//! on stderr when it is applied (at the first allocation), the defaults,
//! and no crash. Runs this binary again as a child with no `TINYALLOC_*`
//! variables set.

#![cfg(not(feature = "loom"))]

use std::process::Command;
use tinyalloc::{Config, TinyAlloc};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc::with_config(
    Config::new()
        .purge_delay_ms(u64::MAX)
        .arena_size(1 << 20)
        .cache_limit(0),
);

const CHILD_VAR: &str = "TINYALLOC_CONFIG_BAD_CHILD";

#[test]
fn child_probe() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let now = tinyalloc::config::current();
    let arena = tinyalloc::arena::arenas()
        .arena_span(0)
        .map_or(0, |(_, size)| size);
    println!(
        "RESULT purge={} cache={:?} arena_size={} first_arena={arena}",
        now.purge_delay_ms, now.cache_limit, now.arena_size
    );
}

#[test]
fn bad_const_values_warn_and_keep_the_defaults() {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args(["--exact", "child_probe", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1");
    for name in [
        "TINYALLOC_PURGE_DELAY_MS",
        "TINYALLOC_CACHE_LIMIT",
        "TINYALLOC_ARENA_SIZE",
        "TINYALLOC_SHOW_STATS",
    ] {
        command.env_remove(name);
    }
    let output = command.output().expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("tinyalloc: "))
        .collect();
    assert_eq!(
        warnings,
        [
            "tinyalloc: ignoring Config::purge_delay_ms=18446744073709551615 (expected \
             milliseconds from 0 to 3600000); using the default",
            "tinyalloc: ignoring Config::arena_size=1048576 (expected a byte count from 4M \
             to 1G); using the default",
        ],
        "{stderr}"
    );
    // The good value in the same configuration still applies.
    let result = stdout
        .lines()
        .find_map(|line| line.split("RESULT ").nth(1))
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}"));
    assert_eq!(
        result,
        "purge=100 cache=Some(0) arena_size=1073741824 first_arena=1073741824"
    );
}
