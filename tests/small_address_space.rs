//! Under an address-space limit too small for a 1 GiB arena (`ulimit -v`,
//! some batch schedulers and sandboxes), tinyalloc reserves smaller arenas
//! and keeps recycling regions through them: repeated large allocations stay
//! out of the kernel, and running out still gives null, then memory back.
//!
//! The limit must hold from the process's first allocation, so the test runs
//! this binary again as a child with `RLIMIT_AS` set before `exec`.
#![cfg(not(feature = "loom"))]

#[path = "common/child.rs"]
mod child;

use std::alloc::{GlobalAlloc, Layout};
use std::os::unix::process::CommandExt;
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const CHILD_VAR: &str = "TINYALLOC_SMALL_AS_CHILD";
/// Below one 1 GiB arena, above a 256 MiB one plus the test binary's needs.
const LIMIT: u64 = 768 << 20;
const MIB: usize = 1 << 20;

fn pairs(size: usize, rounds: usize) {
    let layout = Layout::from_size_align(size, 16).unwrap();
    for round in 0..rounds {
        // SAFETY (test): non-zero size; freed with its layout.
        unsafe {
            let p = TinyAlloc.alloc(layout);
            assert!(!p.is_null(), "{size} B: null at round {round}");
            p.add(size - 1).write(round as u8);
            TinyAlloc.dealloc(p, layout);
        }
    }
}

/// Allocate 64 MiB blocks until null (at most `cap`).
fn fill_until_null(cap: usize) -> Vec<*mut u8> {
    let layout = Layout::from_size_align(64 * MIB, 16).unwrap();
    let mut blocks = Vec::with_capacity(cap);
    while blocks.len() < cap {
        // SAFETY (test): non-zero size.
        let p = unsafe { TinyAlloc.alloc(layout) };
        if p.is_null() {
            break;
        }
        // SAFETY (test): the block is ours.
        unsafe { p.write(1) };
        blocks.push(p);
    }
    blocks
}

fn free_all(blocks: Vec<*mut u8>) {
    let layout = Layout::from_size_align(64 * MIB, 16).unwrap();
    for p in blocks {
        // SAFETY (test): each block is live with this layout.
        unsafe { TinyAlloc.dealloc(p, layout) };
    }
}

fn child() {
    let stats = tinyalloc::stats();
    assert!(stats.arenas >= 1, "no arena under the limit: {stats:?}");
    for size in [MIB, 3 * MIB, 9 * MIB] {
        pairs(size, 10);
        let before = tinyalloc::stats().os;
        pairs(size, 10_000);
        let after = tinyalloc::stats().os;
        let maps = after.map_calls - before.map_calls;
        let unmaps = after.unmap_calls - before.unmap_calls;
        assert!(
            maps <= 4 && unmaps <= 4,
            "{size} B x 10000 under RLIMIT_AS: {maps} mmap, {unmaps} munmap"
        );
    }
    let first = fill_until_null(64);
    let n = first.len();
    assert!(
        n > 0 && n < 64,
        "the limit never bit ({n} blocks of 64 MiB)"
    );
    free_all(first);
    tinyalloc::collect();
    let second = fill_until_null(64);
    assert!(
        second.len() + 1 >= n,
        "after freeing, {} of {n} came back",
        second.len()
    );
    println!(
        "OK arenas={} first={n} second={}",
        tinyalloc::stats().arenas,
        second.len()
    );
    free_all(second);
}

#[test]
fn child_runner() {
    if std::env::var(CHILD_VAR).is_ok() {
        child();
    }
}

#[test]
fn smaller_arenas_serve_under_an_address_space_limit() {
    let mut command = child::self_as_child("child_runner", CHILD_VAR, "1");
    // SAFETY (test): between fork and exec, only an async-signal-safe
    // setrlimit on the child's own process.
    unsafe {
        command.pre_exec(|| {
            let rl = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let line = child::success_line(&mut command, "OK arenas=");
    eprintln!("RLIMIT_AS {} MiB child: {line}", LIMIT >> 20);
}
