//! Out of memory is an answer, not a crash: allocation returns null, the
//! allocator stays usable, and it serves again once memory is freed.
//!
//! Two ways to run out: kernel refusals injected into the OS layer, and a
//! real address-space limit (`RLIMIT_AS`) in a child process.
#![cfg(not(feature = "loom"))]

#[path = "common/child.rs"]
mod child;

use std::alloc::{GlobalAlloc, Layout};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const CHILD_VAR: &str = "TINYALLOC_OOM_CHILD";
const BLOCK: usize = 64 << 20;

fn big() -> Layout {
    Layout::from_size_align(BLOCK, 8).unwrap()
}

/// Allocate `BLOCK`s until the allocator says no (at most `cap`).
fn fill_until_null(cap: usize) -> Vec<*mut u8> {
    let mut blocks = Vec::with_capacity(cap);
    while blocks.len() < cap {
        // SAFETY (test): non-zero size.
        let p = unsafe { TinyAlloc.alloc(big()) };
        if p.is_null() {
            break;
        }
        // SAFETY (test): the block is ours; touch both ends.
        unsafe {
            p.write(1);
            p.add(BLOCK - 1).write(1);
        }
        blocks.push(p);
    }
    blocks
}

fn free_all(blocks: Vec<*mut u8>) {
    for p in blocks {
        // SAFETY (test): each block is live with this layout.
        unsafe { TinyAlloc.dealloc(p, big()) };
    }
}

/// One test for both cases: while the kernel refuses, no other test thread
/// may need a fresh segment (the harness would abort on its null).
#[test]
fn out_of_memory_gives_null_and_the_allocator_recovers() {
    injected_kernel_refusals_give_null_and_the_allocator_recovers();
    an_address_space_limit_gives_null_and_memory_comes_back();
}

fn injected_kernel_refusals_give_null_and_the_allocator_recovers() {
    // Reserve the bookkeeping first, so the harness itself never sees a null.
    let mut blocks = Vec::with_capacity(1024);
    tinyalloc::os::inject_reserve_failures(usize::MAX);
    // Existing arenas can still serve; once they are full, null.
    blocks.extend(fill_until_null(1000));
    // SAFETY (test): non-zero size.
    let huge = unsafe { TinyAlloc.alloc(Layout::from_size_align(3 << 30, 8).unwrap()) };
    assert!(
        huge.is_null(),
        "a 3 GiB block needs the kernel, which refuses"
    );
    assert!(
        blocks.len() < 1000,
        "injected failures never reached the allocator"
    );
    // Still usable while the kernel refuses: small blocks from existing pages.
    let v: Vec<u64> = (0..1000).collect();
    assert_eq!(v.iter().sum::<u64>(), 499_500);
    // Free one block: the next request is served again (from the cache).
    let count = blocks.len();
    if let Some(p) = blocks.pop() {
        // SAFETY (test): live block.
        unsafe { TinyAlloc.dealloc(p, big()) };
        let again = fill_until_null(1);
        assert_eq!(again.len(), 1, "freed memory was not served again");
        blocks.extend(again);
    }
    tinyalloc::os::inject_reserve_failures(0);
    let more = fill_until_null(2);
    assert_eq!(
        more.len(),
        2,
        "the allocator did not recover once the kernel said yes"
    );
    free_all(more);
    free_all(blocks);
    eprintln!("served {count} blocks of 64 MiB before the injected refusals bit");
}

/// In a child with an address-space limit: fill to null, free, fill again.
fn limited_child() {
    // SAFETY (test): plain libc calls on our own process.
    unsafe {
        let limit = 3usize << 30;
        let rl = libc::rlimit {
            rlim_cur: limit as u64,
            rlim_max: limit as u64,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &rl), 0);
    }
    let first = fill_until_null(200);
    let n = first.len();
    assert!(n > 0 && n < 200, "the limit never bit ({n} blocks)");
    free_all(first);
    tinyalloc::collect();
    let second = fill_until_null(200);
    assert!(
        second.len() + 2 >= n,
        "after freeing, only {} of {n} blocks came back",
        second.len()
    );
    println!("OK first={n} second={}", second.len());
    free_all(second);
    std::process::exit(0);
}

#[test]
fn limited_child_runner() {
    if std::env::var(CHILD_VAR).is_ok() {
        limited_child();
    }
}

fn an_address_space_limit_gives_null_and_memory_comes_back() {
    let mut command = child::self_as_child("limited_child_runner", CHILD_VAR, "1");
    let line = child::success_line(&mut command, "OK first=");
    eprintln!("RLIMIT_AS child: {line}");
}
