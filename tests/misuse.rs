//! Misuse gets a clear answer: each misuse runs in a child process (this
//! same test binary, re-run with `TINYALLOC_MISUSE=<case>`), which must abort
//! with a message on stderr that names the pointer.
//!
//! Cases that need the `checks` feature run only with it:
//! `cargo test --features checks --test misuse`.
#![cfg(not(feature = "loom"))]

#[path = "common/child.rs"]
mod child;

use std::alloc::{GlobalAlloc, Layout};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const CASE_VAR: &str = "TINYALLOC_MISUSE";

/// Print the pointer the child is about to misuse, so the parent can check
/// the abort message names it.
fn announce(ptr: *mut u8) {
    eprintln!("misusing {:#018x}", ptr as usize);
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Run the misuse (only in the child).
fn misuse(case: &str) {
    // SAFETY (test): deliberately wrong, in a child process that must abort.
    unsafe {
        match case {
            "large-double-free" => {
                let p = TinyAlloc.alloc(layout(1 << 20));
                announce(p);
                TinyAlloc.dealloc(p, layout(1 << 20));
                TinyAlloc.dealloc(p, layout(1 << 20));
            }
            "large-interior" => {
                let p = TinyAlloc.alloc(layout(1 << 20)).add(64);
                announce(p);
                TinyAlloc.dealloc(p, layout(1 << 20));
            }
            "foreign-mapped" => {
                // Our own mapping, with a segment boundary inside it: the
                // would-be header reads as zero, not as a tinyalloc tag.
                let size = 16 << 20;
                let base = libc::mmap(
                    std::ptr::null_mut(),
                    size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                ) as usize;
                let boundary = (base + (4 << 20)) & !((4 << 20) - 1);
                let p = (boundary + 4096) as *mut u8;
                announce(p);
                TinyAlloc.dealloc(p, layout(64));
            }
            "small-double-free" => {
                let p = TinyAlloc.alloc(layout(48));
                announce(p);
                TinyAlloc.dealloc(p, layout(48));
                TinyAlloc.dealloc(p, layout(48));
            }
            "tiny-double-free" => {
                let p = TinyAlloc.alloc(layout(8));
                announce(p);
                TinyAlloc.dealloc(p, layout(8));
                TinyAlloc.dealloc(p, layout(8));
            }
            "cross-thread-double-free" => {
                let p = TinyAlloc.alloc(layout(256)) as usize;
                announce(p as *mut u8);
                for _ in 0..2 {
                    std::thread::spawn(move || TinyAlloc.dealloc(p as *mut u8, layout(256)))
                        .join()
                        .ok();
                }
            }
            "small-interior" => {
                let p = TinyAlloc.alloc(layout(128)).add(8);
                announce(p);
                TinyAlloc.dealloc(p, layout(128));
            }
            "foreign-malloc" => {
                let p = libc::malloc(64).cast::<u8>();
                announce(p);
                TinyAlloc.dealloc(p, layout(64));
            }
            "corrupted-free-list" => {
                // Overflow a block into the next free one, then allocate it.
                let p = TinyAlloc.alloc(layout(32));
                let next = p.add(32);
                announce(next);
                next.cast::<usize>().write(0xdead_beef_dead_beef);
                let q = TinyAlloc.alloc(layout(32));
                let _ = TinyAlloc.alloc(layout(32));
                let _ = q;
            }
            other => panic!("unknown misuse case {other}"),
        }
    }
    // Reaching here means the misuse went unnoticed.
    std::process::exit(0);
}

/// Run `case` in a child and assert it aborted with `expected` and the pointer.
fn expect_abort(case: &str, expected: &str) {
    let output = child::self_as_child("misuse_child", CASE_VAR, case)
        .output()
        .expect("run child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let announced = stderr
        .lines()
        .find_map(|l| l.strip_prefix("misusing "))
        .unwrap_or_else(|| panic!("{case}: child did not reach the misuse:\n{stderr}"))
        .to_string();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "{case}: child did not abort (status {:?}); stderr:\n{stderr}",
        output.status
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("tinyalloc: "))
        .unwrap_or_else(|| panic!("{case}: no tinyalloc message; stderr:\n{stderr}"));
    assert!(
        line.contains(expected),
        "{case}: message {line:?} does not say {expected:?}"
    );
    assert!(
        line.contains(&announced),
        "{case}: message {line:?} does not name {announced}"
    );
}

#[test]
fn misuse_child() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        misuse(&case);
    }
}

#[test]
fn large_double_free_aborts_naming_the_pointer() {
    expect_abort("large-double-free", "double free");
}

#[test]
fn large_interior_free_aborts_naming_the_pointer() {
    expect_abort("large-interior", "not the start of a block");
}

#[test]
fn foreign_pointer_aborts_naming_the_pointer() {
    expect_abort("foreign-mapped", "does not own");
}

#[cfg(feature = "checks")]
mod with_checks {
    use super::expect_abort;

    #[test]
    fn small_double_free_aborts() {
        expect_abort("small-double-free", "double free");
    }

    /// With `checks`, 8-byte requests get 16-byte blocks, which have room
    /// for the freed mark.
    #[test]
    fn eight_byte_double_free_aborts() {
        expect_abort("tiny-double-free", "double free");
    }

    #[test]
    fn cross_thread_double_free_aborts() {
        expect_abort("cross-thread-double-free", "double free");
    }

    #[test]
    fn small_interior_free_aborts() {
        expect_abort("small-interior", "not the start of a block");
    }

    #[test]
    fn free_of_a_glibc_pointer_aborts() {
        expect_abort("foreign-malloc", "does not own");
    }

    #[test]
    fn corrupted_free_list_aborts() {
        expect_abort("corrupted-free-list", "corrupted free list");
    }
}
