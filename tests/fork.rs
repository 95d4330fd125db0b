//! fork() while other threads allocate: the child allocates and frees
//! normally (nothing in tinyalloc is a lock that a vanished thread could hold).
#![cfg(not(feature = "loom"))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

/// The child's work: allocate, hand blocks between its own threads, verify.
/// Returns the exit code (0 on success).
fn child_work() -> i32 {
    let mut blocks: Vec<Vec<u32>> = Vec::new();
    for i in 0..20_000u32 {
        blocks.push(vec![i; (i % 300) as usize + 1]);
        if i % 3 == 0 {
            blocks.swap_remove((i as usize * 7) % blocks.len());
        }
    }
    let ok_local = blocks.iter().all(|b| b.iter().all(|&x| x == b[0]));
    // A thread in the child frees blocks the child's main thread made.
    let handle = std::thread::spawn(move || {
        let ok = blocks.iter().all(|b| b.iter().all(|&x| x == b[0]));
        drop(blocks);
        ok
    });
    let ok_remote = handle.join().unwrap_or(false);
    if ok_local && ok_remote {
        0
    } else {
        1
    }
}

#[test]
fn a_child_forked_while_threads_allocate_allocates_normally() {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut kept: Vec<Box<[u8]>> = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    kept.push(vec![t as u8; 1 + n % 5000].into_boxed_slice());
                    if kept.len() > 500 {
                        kept.drain(..250);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    for round in 0..20 {
        // SAFETY (test): the child only runs `child_work` and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = child_work();
            // SAFETY (test): leave the child without running the parent's
            // destructors or test harness.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY (test): waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status),
            "child {round} died: status {status:#x}"
        );
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "child {round} found corrupted blocks"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let ops: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(ops > 0);
}
