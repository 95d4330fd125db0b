#![cfg(feature = "loom")]
//! Loom model over the real allocator (issue 14; design.md §6): a remote
//! free of a first-class heap's blocks racing the heap's reap and drop,
//! through `user_heap`, `heap` and `large`.
//!
//! - owner: creates a `tinyalloc::Heap`, allocates two large blocks (160 KiB:
//!   above the largest class, regions owned by the heap: `own_large`; two,
//!   so that the reap and the drop walk a list) and a small one (64 B, in a
//!   segment the heap owns), fills them, hands them to the freer, then
//!   `collect`s (`reap_large`: `large_freed.swap`, then a walk of its list
//!   releasing what is marked) and drops the heap (`abandon_user`: each
//!   region's `owner` CAS from H to 0, a release if it fails on H|FREED;
//!   then `abandon_all`), or, in the second test, joins the freer and
//!   destroys the heap (`destroy_user`: every region still on its list);
//! - freer: checks the patterns and frees the blocks through the ordinary
//!   path (`raw::deallocate`: first large, small, second large): a large one
//!   by `large::free` → `free_large_remote` (CAS H → H|FREED and the heap's
//!   flag, or, seeing 0, an ordinary release), the small one by a remote
//!   free into the heap's segment (owned, or abandoned by then).
//!
//! Covered orders: the freer marks before the reap (the reap releases),
//! after the reap's swap but before the drop (the drop's CAS fails and the
//! drop releases), after the drop (the freer sees 0 and releases), and each
//! CAS between the other's load and CAS. Checked: patterns (the freer sees
//! the owner's fill), the live set, and at the end no user heap, thread
//! heap, live region, abandoned segment, cached byte or arena slot
//! (`allocator::finish`): a region released twice trips the arena's
//! "released bits that were not claimed", a region never released the leak
//! check.
//!
//! Preemption bound 2: drop 13,752 interleavings, ~7 s debug; destroy 9,
//! ~5 ms (bound 3: 114,860 in 59 s, and 14). With one large block the drop model
//! runs to the end (370 interleavings at bounds 10 and 20 alike), and every
//! path above was taken (counted once with temporary prints: reap releases,
//! drop releases, freer marks, freer sees 0). The yields (see there) make
//! loom try the mark before the reap: without the owner's, no execution
//! had the reap release anything.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

use std::alloc::Layout;

const LARGE: usize = 160 * 1024;
const SMALL: usize = 64;

/// A block of `heap` with `size` bytes, filled with `pattern`.
fn heap_alloc(heap: &tinyalloc::Heap, size: usize, pattern: u8) -> usize {
    let block = heap.alloc(Layout::from_size_align(size, 16).unwrap());
    assert!(!block.is_null(), "out of memory");
    // SAFETY: the block is ours, `size` bytes.
    unsafe { block.write_bytes(pattern, size) };
    block as usize
}

/// Check `block`'s pattern, then free it through the ordinary path.
fn free(block: usize, size: usize, pattern: u8) {
    let block = block as *mut u8;
    allocator::check(block, size, pattern);
    // SAFETY: live, freed once, not used afterwards.
    unsafe { tinyalloc::raw::deallocate(block) };
}

/// How the owner ends its heap after the reap.
#[derive(Clone, Copy)]
enum End {
    /// Drop it while the freer runs.
    Drop,
    /// Wait for the freer, then destroy it (every free before the destroy,
    /// as `Heap::destroy` requires).
    Destroy,
}

/// The model: the owner's heap, its blocks freed by another thread racing
/// the owner's reap and then its drop (or, after the frees, its destroy).
fn model(name: &str, end: End) {
    support::check(name, 2, move || {
        allocator::reset();
        let owner = allocator::spawn(move || {
            let heap = tinyalloc::Heap::new();
            let large = heap_alloc(&heap, LARGE, 0x3c);
            let small = heap_alloc(&heap, SMALL, 0x4d);
            let second = heap_alloc(&heap, LARGE, 0x5e);
            assert_eq!(tinyalloc::stats().user_heaps, 1);
            let freer = allocator::spawn(move || {
                // A schedule point: loom switches only where pending
                // operations conflict, so without it the freer's first load
                // of `owner` would never run before the owner's steps.
                loom::thread::yield_now();
                free(large, LARGE, 0x3c);
                free(small, SMALL, 0x4d);
                free(second, LARGE, 0x5e);
            });
            // The reap (and the drop) race the freer's mark; schedule points
            // before each let the mark land before, between or after them.
            loom::thread::yield_now();
            heap.collect();
            match end {
                End::Drop => {
                    loom::thread::yield_now();
                    drop(heap);
                    freer.join().unwrap();
                }
                End::Destroy => {
                    freer.join().unwrap();
                    heap.destroy();
                }
            }
        });
        owner.join().unwrap();
        let stats = tinyalloc::stats();
        assert_eq!(stats.user_heaps, 0, "{stats:#?}");
        allocator::finish();
    });
}

#[test]
fn remote_free_races_user_heap_reap_and_drop() {
    model("real_user_heap (drop)", End::Drop);
}

#[test]
fn remote_free_races_user_heap_reap_then_destroy() {
    model("real_user_heap (destroy)", End::Destroy);
}
