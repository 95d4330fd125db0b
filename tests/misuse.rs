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

const SEGMENT: usize = 4 << 20;
const PAGE: usize = 64 << 10;

/// Free an address that no allocator could have handed out.
///
/// # Safety
/// Must abort.
unsafe fn low_address(address: usize) {
    let q = address as *mut u8;
    announce(q);
    // SAFETY (test): deliberately wrong.
    unsafe { TinyAlloc.dealloc(q, layout(64)) };
}

/// mimalloc-bench's `write_after_free_reuse`: free a block, overwrite it
/// (its link word), then allocate and free the same size until it comes back.
///
/// # Safety
/// Must abort.
unsafe fn write_after_free_reuse(size: usize) {
    // SAFETY (test): deliberately wrong.
    unsafe {
        let p = TinyAlloc.alloc(layout(size));
        announce(p);
        TinyAlloc.dealloc(p, layout(size));
        std::ptr::write_bytes(p, b'A', size);
        for _ in 0..256 * 1024 {
            let q = std::hint::black_box(TinyAlloc.alloc(layout(size)));
            TinyAlloc.dealloc(q, layout(size));
        }
    }
}

/// Free a block of `size` bytes twice.
///
/// # Safety
/// Must abort.
unsafe fn double_free(size: usize) {
    // SAFETY (test): deliberately wrong.
    unsafe {
        let p = TinyAlloc.alloc(layout(size));
        announce(p);
        TinyAlloc.dealloc(p, layout(size));
        TinyAlloc.dealloc(p, layout(size));
    }
}

/// mimalloc-bench's `invalid_free_close` (`free(p + 4096)`): at 8 and 4096
/// bytes, the start of a block carved with `p`'s but never handed out.
///
/// # Safety
/// Must abort.
unsafe fn never_handed_out(size: usize) {
    // SAFETY (test): deliberately wrong.
    unsafe {
        let p = TinyAlloc.alloc(layout(size));
        let q = p.add(4096);
        announce(q);
        TinyAlloc.dealloc(q, layout(size));
    }
}

/// The last block of `p`'s 64 KiB page (16-byte blocks): a block start of
/// an in-use page that the page has not carved (its memory holds zeros, not
/// the freed mark), caught by the block test (`block_limit` is the blocks
/// carved).
///
/// # Safety
/// Must abort.
unsafe fn never_carved() {
    // SAFETY (test): deliberately wrong.
    unsafe {
        let p = TinyAlloc.alloc(layout(16));
        let q = p.map_addr(|a| (a & !0xffff) + 0x10000 - 16);
        announce(q);
        TinyAlloc.dealloc(q, layout(16));
    }
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
            "double-free-after-reclaim" => {
                // An idle thread's parked page whose blocks all came back
                // from another thread has its memory given back (freed
                // marks and all); a second free of one of its blocks is
                // still caught.
                let (tx, rx) = std::sync::mpsc::channel::<Vec<usize>>();
                let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
                let owner = std::thread::spawn(move || {
                    // Three pages of 512 B blocks: the first two are parked.
                    let blocks = (0..384)
                        .map(|_| TinyAlloc.alloc(layout(512)) as usize)
                        .collect();
                    tx.send(blocks).unwrap();
                    done_rx.recv().unwrap();
                });
                let blocks = rx.recv().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
                let purges = tinyalloc::stats().os.purge_calls;
                for &b in &blocks {
                    TinyAlloc.dealloc(b as *mut u8, layout(512));
                }
                if tinyalloc::stats().os.purge_calls < purges + 2 {
                    eprintln!("the parked pages were not reclaimed");
                    std::process::exit(0);
                }
                let p = blocks[0] as *mut u8;
                announce(p);
                TinyAlloc.dealloc(p, layout(512));
                done_tx.send(()).unwrap();
                owner.join().unwrap();
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
            "header-page" => {
                // `p - 8` for the first block of page 1: a pointer into the
                // header page (page 0), as a C++ `delete` of a `new[]`'d
                // array of objects with destructors frees.
                let p = TinyAlloc.alloc(layout(32));
                let segment = p as usize & !(SEGMENT - 1);
                let q = (segment + PAGE - 8) as *mut u8;
                announce(q);
                TinyAlloc.dealloc(q, layout(32));
            }
            "unused-page" => {
                // The last page of a live small segment, never assigned a
                // class (the test touches a few classes only).
                let p = TinyAlloc.alloc(layout(32));
                let segment = p as usize & !(SEGMENT - 1);
                let q = (segment + SEGMENT - PAGE) as *mut u8;
                announce(q);
                TinyAlloc.dealloc(q, layout(32));
            }
            "past-last-block" => {
                // 48-byte blocks: 1365 fit in a 64 KiB page, leaving 16
                // bytes; the boundary at 1365 * 48 is no block.
                let p = TinyAlloc.alloc(layout(48));
                let page = p as usize & !(PAGE - 1);
                let q = (page + 1365 * 48) as *mut u8;
                announce(q);
                TinyAlloc.dealloc(q, layout(48));
            }
            "low-1" => low_address(1),
            "low-0x1000" => low_address(0x1000),
            "low-0x400000" => low_address(0x40_0000),
            "high-half" => low_address(0xffff_8000_0000_1000),
            "stack" => {
                let mut local = [0u64; 4];
                let q = std::hint::black_box(local.as_mut_ptr()).cast::<u8>();
                announce(q);
                TinyAlloc.dealloc(q, layout(32));
            }
            "global" => {
                static mut GLOBAL_WORDS: [u64; 4] = [0; 4];
                let q = std::ptr::addr_of_mut!(GLOBAL_WORDS).cast::<u8>();
                announce(q);
                TinyAlloc.dealloc(q, layout(32));
            }
            "far" => {
                let p = TinyAlloc.alloc(layout(64));
                let q = p.wrapping_add(1 << 30);
                announce(q);
                TinyAlloc.dealloc(q, layout(64));
            }
            "unaligned-4096" => {
                let p = TinyAlloc.alloc(layout(4096));
                announce(p.add(8));
                TinyAlloc.dealloc(p.add(8), layout(4096));
            }
            "unaligned-8" => {
                let p = TinyAlloc.alloc(layout(8));
                announce(p.add(1));
                TinyAlloc.dealloc(p.add(1), layout(8));
            }
            "released-page" => {
                // A page whose every block was freed and that went back to
                // its segment: fill one page of 2 KiB blocks (32), start a
                // second, then empty the first (it is retired, the second
                // stays) and free into it again.
                let l = layout(2048);
                let blocks: Vec<*mut u8> = (0..33).map(|_| TinyAlloc.alloc(l)).collect();
                let first_page = blocks[0] as usize & !(PAGE - 1);
                let (in_first, rest): (Vec<_>, Vec<_>) = blocks
                    .iter()
                    .copied()
                    .partition(|&b| b as usize & !(PAGE - 1) == first_page);
                assert!(!rest.is_empty() && !in_first.is_empty());
                for &b in &in_first {
                    TinyAlloc.dealloc(b, l);
                }
                let q = in_first[0];
                announce(q);
                TinyAlloc.dealloc(q, l);
            }
            "double-free-8" => double_free(8),
            "double-free-16" => double_free(16),
            "double-free-48" => double_free(48),
            "double-free-4096" => double_free(4096),
            "double-free-after-other-frees" => {
                // The freed block is not the head of the local free list.
                let l = layout(64);
                let p = TinyAlloc.alloc(l);
                let others: Vec<*mut u8> = (0..4).map(|_| TinyAlloc.alloc(l)).collect();
                announce(p);
                TinyAlloc.dealloc(p, l);
                for &q in &others {
                    TinyAlloc.dealloc(q, l);
                }
                TinyAlloc.dealloc(p, l);
            }
            "remote-double-free" => {
                // Freed twice by one thread that does not own the block.
                let p = TinyAlloc.alloc(layout(256)) as usize;
                announce(p as *mut u8);
                std::thread::spawn(move || {
                    TinyAlloc.dealloc(p as *mut u8, layout(256));
                    TinyAlloc.dealloc(p as *mut u8, layout(256));
                })
                .join()
                .ok();
            }
            "local-then-remote-double-free" => {
                let p = TinyAlloc.alloc(layout(32));
                announce(p);
                TinyAlloc.dealloc(p, layout(32));
                let q = p as usize;
                std::thread::spawn(move || TinyAlloc.dealloc(q as *mut u8, layout(32)))
                    .join()
                    .ok();
            }
            "never-handed-out-8" => never_handed_out(8),
            "never-carved-16" => never_carved(),
            "never-handed-out-4096" => never_handed_out(4096),
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
            "write-after-free-reuse-8" => write_after_free_reuse(8),
            "write-after-free-reuse-4096" => write_after_free_reuse(4096),
            "overflow-into-link" => {
                // A one-byte overflow into the link of a freed block (`b`,
                // on its page's local free list): caught when `b` is popped,
                // before its link is followed.
                let a = TinyAlloc.alloc(layout(64));
                let b = TinyAlloc.alloc(layout(64));
                announce(b);
                TinyAlloc.dealloc(b, layout(64));
                b.write(b.read() ^ 0x41);
                let _ = a;
                for _ in 0..10_000 {
                    let _ = TinyAlloc.alloc(layout(64));
                }
            }
            "remote-garbage-link" => {
                // A block freed by another thread, whose link the program
                // then overwrites: caught when its page's remote list is
                // merged, before the garbage link is followed.
                let l = layout(256);
                let blocks: Vec<usize> = (0..64).map(|_| TinyAlloc.alloc(l) as usize).collect();
                let victim = blocks[10];
                announce(victim as *mut u8);
                std::thread::spawn(move || {
                    for &b in &blocks {
                        TinyAlloc.dealloc(b as *mut u8, l);
                    }
                })
                .join()
                .unwrap();
                (victim as *mut u64).write(0x4141_4141_4141_4141);
                for _ in 0..100_000 {
                    let _ = TinyAlloc.alloc(l);
                }
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
            "heap-destroy-then-free" | "heap-destroy-then-free-large" => {
                // A free after the block's heap was destroyed: the segment
                // (or region) is released, so its tag says so.
                let size = if case.ends_with("large") { 1 << 20 } else { 64 };
                let heap = tinyalloc::Heap::new();
                let p = heap.alloc(layout(size));
                announce(p);
                heap.destroy();
                TinyAlloc.dealloc(p, layout(size));
            }
            "heap-large-remote-double-free" => {
                // Freed twice through the ordinary path while its heap is
                // alive: the second finds the region marked freed.
                let heap = tinyalloc::Heap::new();
                let p = heap.alloc(layout(1 << 20));
                announce(p);
                TinyAlloc.dealloc(p, layout(1 << 20));
                TinyAlloc.dealloc(p, layout(1 << 20));
                drop(heap);
            }
            "heap-large-owner-double-free" => {
                let heap = tinyalloc::Heap::new();
                let p = heap.alloc(layout(1 << 20));
                announce(p);
                heap.dealloc(p, layout(1 << 20));
                heap.dealloc(p, layout(1 << 20));
            }
            "heap-small-double-free" => {
                let heap = tinyalloc::Heap::new();
                let p = heap.alloc(layout(48));
                let _keep = heap.alloc(layout(48));
                announce(p);
                heap.dealloc(p, layout(48));
                heap.dealloc(p, layout(48));
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
fn double_free_into_a_reclaimed_page_aborts_naming_the_pointer() {
    expect_abort("double-free-after-reclaim", "double free");
}

#[test]
fn large_interior_free_aborts_naming_the_pointer() {
    expect_abort("large-interior", "not the start of a block");
}

#[test]
fn foreign_pointer_aborts_naming_the_pointer() {
    expect_abort("foreign-mapped", "does not own");
}

/// Issue 15, bug 1: a pointer into a segment's header page was accepted.
#[test]
fn free_into_the_header_page_aborts() {
    expect_abort("header-page", "not the start of a block");
}

#[test]
fn free_into_an_unused_page_aborts() {
    expect_abort("unused-page", "not the start of a block");
}

#[test]
fn free_past_the_last_block_of_a_page_aborts() {
    expect_abort("past-last-block", "not the start of a block");
}

#[test]
fn free_into_a_released_page_aborts() {
    expect_abort("released-page", "not the start of a block");
}

/// Issue 15, bug 2: low addresses were read as headers (SIGSEGV).
#[test]
fn free_of_low_addresses_aborts() {
    for case in ["low-1", "low-0x1000", "low-0x400000", "high-half"] {
        expect_abort(case, "does not own");
    }
}

#[test]
fn free_of_stack_and_global_pointers_aborts() {
    expect_abort("stack", "does not own");
    expect_abort("global", "does not own");
}

#[test]
fn free_far_from_a_block_aborts() {
    expect_abort("far", "does not own");
}

#[test]
fn free_of_an_unaligned_pointer_aborts() {
    expect_abort("unaligned-4096", "not the start of a block");
    expect_abort("unaligned-8", "not the start of a block");
    expect_abort("small-interior", "not the start of a block");
}

#[test]
fn free_of_a_glibc_pointer_aborts() {
    expect_abort("foreign-malloc", "does not own");
}

/// No block is smaller than 16 bytes: the freed mark needs a second word.
#[test]
fn tiny_requests_get_sixteen_byte_blocks() {
    for size in 0..=16 {
        for align in [1, 8, 16] {
            let l = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a valid layout; the block is freed once.
            unsafe {
                let p = TinyAlloc.alloc(l);
                assert!(!p.is_null() && p as usize % align == 0);
                assert_eq!(tinyalloc::usable_size(p), 16, "size {size} align {align}");
                TinyAlloc.dealloc(p, l);
            }
        }
    }
}

/// Every build: a free block carries the freed mark, so a small block freed
/// twice aborts, at every size (8-byte requests get 16-byte blocks).
#[test]
fn small_double_free_aborts_at_every_size() {
    for case in [
        "double-free-8",
        "double-free-16",
        "double-free-48",
        "double-free-4096",
        "double-free-after-other-frees",
    ] {
        expect_abort(case, "double free");
    }
}

#[test]
fn remote_double_free_aborts() {
    expect_abort("remote-double-free", "double free");
    expect_abort("local-then-remote-double-free", "double free");
    expect_abort("cross-thread-double-free", "double free");
}

/// Carved blocks carry the freed mark until they are handed out.
#[test]
fn free_of_a_block_never_handed_out_aborts() {
    expect_abort("never-handed-out-8", "never handed out");
    expect_abort("never-handed-out-4096", "never handed out");
}

/// A block start past the blocks its page has carved.
#[test]
fn free_of_a_block_never_carved_aborts() {
    expect_abort("never-carved-16", "never carved");
}

/// A block freed after its `tinyalloc::Heap` was destroyed, while its
/// memory is not in use again (the rule on `Heap`).
#[test]
fn free_after_heap_destroy_aborts() {
    expect_abort("heap-destroy-then-free", "double free");
    expect_abort("heap-destroy-then-free-large", "double free");
}

#[test]
fn heap_double_frees_abort() {
    expect_abort("heap-large-remote-double-free", "double free");
    expect_abort("heap-large-owner-double-free", "double free");
    expect_abort("heap-small-double-free", "double free");
}

#[cfg(feature = "checks")]
mod with_checks {
    use super::expect_abort;

    #[test]
    fn write_after_free_reuse_is_caught_when_popped() {
        expect_abort("write-after-free-reuse-8", "corrupted free list");
        expect_abort("write-after-free-reuse-4096", "corrupted free list");
    }

    #[test]
    fn overflow_into_a_link_is_caught_when_popped() {
        expect_abort("overflow-into-link", "corrupted free list");
    }

    #[test]
    fn garbage_link_on_the_remote_list_is_caught() {
        expect_abort("remote-garbage-link", "corrupted free list");
    }

    #[test]
    fn corrupted_free_list_aborts() {
        expect_abort("corrupted-free-list", "corrupted free list");
    }
}
