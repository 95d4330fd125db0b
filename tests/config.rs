//! Configuration from the environment (`TINYALLOC_CACHE_LIMIT`,
//! `TINYALLOC_PURGE_DELAY_MS`, `TINYALLOC_ARENA_SIZE`,
//! `TINYALLOC_SHOW_STATS`), read before `main`: each case runs this binary
//! again as a child with the variables set, and the child reports what the
//! allocator did with two freed 8 MiB blocks (12 MiB regions with their
//! headers): how many bytes the cache kept, whether their memory was purged
//! while the child drove allocator slow paths for 500 ms, and the size of
//! the first arena; at exit it may print its figures.

#![cfg(not(feature = "loom"))]

use std::process::Command;
use std::time::{Duration, Instant};
use tinyalloc::raw;

const CHILD_VAR: &str = "TINYALLOC_CONFIG_CHILD";
const BLOCK: usize = 8 << 20;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_bytes as resident_bytes;

/// The child's work (a no-op in the normal test run).
#[test]
fn child_probe() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    // SAFETY: 16 is a power of two; each block is written within its size
    // and freed once.
    unsafe {
        // First a small block: the first arena then has the configured size
        // (a larger first run would size it).
        let small = raw::allocate(64, 16);
        assert!(!small.is_null());
        raw::deallocate(small);
        let blocks = [raw::allocate(BLOCK, 16), raw::allocate(BLOCK, 16)];
        for &block in &blocks {
            assert!(!block.is_null());
            block.write_bytes(0x5a, BLOCK);
        }
        for block in blocks {
            raw::deallocate(block);
        }
    }
    let cached = tinyalloc::stats().cached_bytes;
    let resident = resident_bytes();
    // Drive region slow paths (each acquires a 40 MiB region, never touched,
    // so it adds nothing resident) until the freed blocks' memory is purged.
    let started = Instant::now();
    let mut purged = false;
    while started.elapsed() < Duration::from_millis(500) {
        // SAFETY: as above.
        unsafe {
            let probe = raw::allocate(40 << 20, 16);
            assert!(!probe.is_null());
            raw::deallocate(probe);
        }
        if resident.saturating_sub(resident_bytes()) >= BLOCK {
            purged = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let arena = tinyalloc::arena::arenas()
        .arena_span(0)
        .map_or(0, |(_, size)| size);
    println!("RESULT cached={cached} purged={purged} arena={arena}");
}

struct Outcome {
    cached: usize,
    purged: bool,
    arena: usize,
    stderr: String,
}

fn run_child(vars: &[(&str, &str)]) -> Outcome {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args(["--exact", "child_probe", "--nocapture", "--test-threads=1"])
        .env_remove("TINYALLOC_CACHE_LIMIT")
        .env_remove("TINYALLOC_PURGE_DELAY_MS")
        .env_remove("TINYALLOC_ARENA_SIZE")
        .env_remove("TINYALLOC_SHOW_STATS")
        .env(CHILD_VAR, "1");
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
    let line = stdout
        .lines()
        .find_map(|line| line.split("RESULT ").nth(1))
        .unwrap_or_else(|| panic!("no RESULT line from the child with {vars:?}:\n{stdout}"));
    let mut cached = None;
    let mut purged = None;
    let mut arena = None;
    for field in line.split_whitespace() {
        match field.split_once('=') {
            Some(("cached", value)) => cached = value.parse().ok(),
            Some(("purged", value)) => purged = value.parse().ok(),
            Some(("arena", value)) => arena = value.parse().ok(),
            _ => {}
        }
    }
    eprintln!("child {vars:?}: {line}");
    Outcome {
        cached: cached.expect("cached field"),
        purged: purged.expect("purged field"),
        arena: arena.expect("arena field"),
        stderr,
    }
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("tinyalloc: "))
        .collect()
}

#[test]
fn cache_limit_from_the_environment_bounds_the_cache() {
    let default = run_child(&[]);
    // The default bound is 8 MiB plus what is in use, counting the region
    // being freed: the first freed block's region stays cached.
    assert!(
        default.cached >= BLOCK,
        "by default a freed block stays cached: {} bytes",
        default.cached
    );
    let bounded = run_child(&[("TINYALLOC_CACHE_LIMIT", "16M")]);
    assert!(
        bounded.cached > 0 && bounded.cached <= 16 << 20,
        "TINYALLOC_CACHE_LIMIT=16M: {} bytes cached",
        bounded.cached
    );
    let none = run_child(&[("TINYALLOC_CACHE_LIMIT", "0")]);
    assert_eq!(none.cached, 0, "TINYALLOC_CACHE_LIMIT=0 still cached");
    for outcome in [&default, &bounded, &none] {
        assert!(warnings(&outcome.stderr).is_empty(), "{}", outcome.stderr);
    }
}

#[test]
fn purge_delay_from_the_environment_decides_when_freed_memory_goes_back() {
    let at_once = run_child(&[
        ("TINYALLOC_CACHE_LIMIT", "64M"),
        ("TINYALLOC_PURGE_DELAY_MS", "0"),
    ]);
    assert!(at_once.cached >= 2 * BLOCK);
    assert!(
        at_once.purged,
        "TINYALLOC_PURGE_DELAY_MS=0: cached memory still resident after 500 ms of slow paths"
    );
    let hour = run_child(&[
        ("TINYALLOC_CACHE_LIMIT", "64M"),
        ("TINYALLOC_PURGE_DELAY_MS", "3600000"),
    ]);
    assert!(hour.cached >= 2 * BLOCK);
    assert!(
        !hour.purged,
        "TINYALLOC_PURGE_DELAY_MS=3600000: cached memory purged within 500 ms"
    );
}

#[test]
fn bad_values_warn_once_each_and_keep_the_defaults() {
    let bad = run_child(&[
        ("TINYALLOC_CACHE_LIMIT", "lots"),
        ("TINYALLOC_PURGE_DELAY_MS", "-5"),
    ]);
    assert_eq!(
        warnings(&bad.stderr),
        [
            "tinyalloc: ignoring TINYALLOC_PURGE_DELAY_MS=-5 (expected milliseconds from 0 \
             to 3600000); using the default",
            "tinyalloc: ignoring TINYALLOC_CACHE_LIMIT=lots (expected a byte count such as \
             0, 65536, 512K, 64M or 1G); using the default",
        ],
        "stderr:\n{}",
        bad.stderr
    );
    assert!(
        bad.cached >= BLOCK,
        "the default cache bound applies: {} bytes cached",
        bad.cached
    );
    for value in ["3M", "2G", "lots", "-1"] {
        let bad = run_child(&[("TINYALLOC_ARENA_SIZE", value)]);
        assert_eq!(
            warnings(&bad.stderr),
            [format!(
                "tinyalloc: ignoring TINYALLOC_ARENA_SIZE={value} (expected a byte count from \
                 4M to 1G); using the default"
            )],
            "stderr:\n{}",
            bad.stderr
        );
        assert_eq!(bad.arena, 1 << 30, "TINYALLOC_ARENA_SIZE={value}");
    }
    // Empty counts as unset: no warning.
    let empty = run_child(&[("TINYALLOC_CACHE_LIMIT", "")]);
    assert!(warnings(&empty.stderr).is_empty(), "{}", empty.stderr);
}

#[test]
fn arena_size_from_the_environment_sizes_the_first_reservation() {
    assert_eq!(run_child(&[]).arena, 1 << 30, "default arena");
    for (value, expected) in [("64M", 64 << 20), ("6M", 8 << 20), ("1G", 1 << 30)] {
        let outcome = run_child(&[("TINYALLOC_ARENA_SIZE", value)]);
        assert_eq!(outcome.arena, expected, "TINYALLOC_ARENA_SIZE={value}");
        assert!(warnings(&outcome.stderr).is_empty(), "{}", outcome.stderr);
    }
}

/// The `tinyalloc: mapped ...` lines of `stderr`, as (name, value) pairs.
fn stats_lines(stderr: &str) -> Vec<Vec<(String, f64)>> {
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix("tinyalloc: "))
        .filter(|rest| rest.starts_with("mapped "))
        .map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().filter(|w| *w != "MiB").collect();
            words
                .chunks(2)
                .map(|pair| (pair[0].to_string(), pair[1].parse().expect("a number")))
                .collect()
        })
        .collect()
}

#[test]
fn stats_on_exit_from_the_environment() {
    let shown = run_child(&[("TINYALLOC_SHOW_STATS", "1")]);
    let lines = stats_lines(&shown.stderr);
    assert_eq!(lines.len(), 1, "one stats line at exit:\n{}", shown.stderr);
    let names: Vec<&str> = lines[0].iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "mapped",
            "cached",
            "mmap",
            "munmap",
            "madvise",
            "arenas",
            "regions",
            "abandoned",
            "heaps"
        ]
    );
    let value = |name: &str| lines[0].iter().find(|(n, _)| n == name).unwrap().1;
    assert!(value("mapped") >= 1024.0, "{}", shown.stderr);
    assert!(
        value("arenas") >= 1.0 && value("mmap") >= 1.0,
        "{}",
        shown.stderr
    );
    for off in ["0", ""] {
        let quiet = run_child(&[("TINYALLOC_SHOW_STATS", off)]);
        assert!(stats_lines(&quiet.stderr).is_empty(), "{}", quiet.stderr);
    }
    assert!(stats_lines(&run_child(&[]).stderr).is_empty());
}

const PAGE_CHILD_VAR: &str = "TINYALLOC_PAGE_PURGE_CHILD";

/// The page-purge child: frees 1 MiB of 256-byte blocks (free pages, dirty,
/// in its own segment) and a 9 MiB block (a 3-slot region, dirty, in the
/// cache), then takes allocation slow paths (a 12 KiB block every 2 ms,
/// each its own carve) and reports after how many milliseconds the free
/// pages were purged and whether the cached region was still dirty then.
#[test]
fn child_page_probe() {
    if std::env::var_os(PAGE_CHILD_VAR).is_none() {
        return;
    }
    const SMALL: usize = 256;
    const COUNT: usize = (1 << 20) / SMALL;
    const LARGE: usize = 9 << 20;
    let mut kept = Vec::with_capacity(1000);
    // SAFETY: 16 is a power of two; each block is written within its size
    // and freed once.
    let dirty_pages = unsafe {
        let small: Vec<*mut u8> = (0..COUNT).map(|_| raw::allocate(SMALL, 16)).collect();
        for &block in &small {
            assert!(!block.is_null());
            block.write_bytes(0xa5, SMALL);
        }
        let large = raw::allocate(LARGE, 16);
        assert!(!large.is_null());
        large.write_bytes(0x5a, LARGE);
        raw::deallocate(large);
        let before = tinyalloc::stats().small.free_dirty;
        for block in small {
            raw::deallocate(block);
        }
        tinyalloc::stats().small.free_dirty - before
    };
    let region_dirty = tinyalloc::stats().cached_dirty_bytes;
    let started = Instant::now();
    let mut purged_after = None;
    let mut region_dirty_then = 0;
    while started.elapsed() < Duration::from_millis(700) {
        // SAFETY: as above; the blocks are freed at the end.
        unsafe {
            let block = raw::allocate(12 << 10, 16);
            assert!(!block.is_null());
            kept.push(block);
        }
        let stats = tinyalloc::stats();
        if stats.small.free_dirty + dirty_pages / 2 <= dirty_pages {
            purged_after = Some(started.elapsed().as_millis());
            region_dirty_then = stats.cached_dirty_bytes;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for block in kept {
        // SAFETY: allocated above, freed once.
        unsafe { raw::deallocate(block) };
    }
    println!(
        "PAGES dirty_pages={dirty_pages} region_dirty={region_dirty} purged_after_ms={} \
         region_dirty_then={region_dirty_then}",
        purged_after.map_or(-1, |ms| ms as i64)
    );
}

/// Runs the page-purge child with `TINYALLOC_PURGE_DELAY_MS=delay`; returns
/// (dirty page bytes freed, cached region dirty bytes, ms until the pages
/// were purged or -1, cached region dirty bytes then).
fn run_page_child(delay: &str) -> (usize, usize, i64, usize) {
    let output = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "child_page_probe",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("TINYALLOC_CACHE_LIMIT")
        .env_remove("TINYALLOC_ARENA_SIZE")
        .env_remove("TINYALLOC_SHOW_STATS")
        .env("TINYALLOC_PURGE_DELAY_MS", delay)
        .env(PAGE_CHILD_VAR, "1")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "page child with delay {delay} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.split("PAGES ").nth(1))
        .unwrap_or_else(|| panic!("no PAGES line from the page child:\n{stdout}"));
    eprintln!("page child, delay {delay}: {line}");
    let field = |name: &str| -> i64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    (
        field("dirty_pages") as usize,
        field("region_dirty") as usize,
        field("purged_after_ms"),
        field("region_dirty_then") as usize,
    )
}

#[test]
fn free_pages_are_purged_after_a_tenth_of_the_purge_delay() {
    // Delay 1000 ms: pages wait 100 ms, the cached region 1000 ms. The
    // pages must go first, while the region is still dirty in the cache.
    let (pages, region, purged_after, region_then) = run_page_child("1000");
    assert!(
        pages >= 512 << 10,
        "the child freed only {pages} bytes of pages"
    );
    assert!(
        region >= 8 << 20,
        "the 9 MiB block was not cached dirty: {region}"
    );
    assert!(
        purged_after >= 0,
        "free pages still dirty after 700 ms of slow paths (page delay 100 ms)"
    );
    assert!(
        region_then >= 8 << 20,
        "the cached region was purged (region delay 1000 ms) before the free pages \
         (page delay 100 ms), {purged_after} ms in: {region_then} bytes dirty then"
    );
    // An hour: pages wait 6 minutes.
    let (pages, _, purged_after, _) = run_page_child("3600000");
    assert!(
        pages >= 512 << 10,
        "the child freed only {pages} bytes of pages"
    );
    assert_eq!(
        purged_after, -1,
        "free pages purged after {purged_after} ms with a page delay of 6 minutes"
    );
}
