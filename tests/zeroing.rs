//! `alloc_zeroed` returns zeroed memory whichever way its memory was recycled:
//! a region that was a large block, then a paged segment, then purged back to
//! its arena, must read as zero when it comes back. Its own binary, so the
//! cache and the arenas hold only what these steps put there.
#![cfg(not(feature = "loom"))]

use std::alloc::{GlobalAlloc, Layout};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const SEGMENT: usize = 4 << 20;

/// Allocate a zeroed large block of `size` bytes and return the offset of its
/// first non-zero byte, if any (the block is then dirtied and freed).
fn first_nonzero_of_zeroed(size: usize) -> Option<usize> {
    let layout = Layout::from_size_align(size, 8).unwrap();
    // SAFETY (test): non-zero size; freed with its own layout.
    unsafe {
        let p = TinyAlloc.alloc_zeroed(layout);
        assert!(!p.is_null());
        let bytes = std::slice::from_raw_parts(p, size);
        let found = bytes.iter().position(|&b| b != 0);
        p.write_bytes(0xee, size);
        TinyAlloc.dealloc(p, layout);
        found
    }
}

/// A two-segment large region, dirtied to its end, is taken from the cache by a
/// thread's first paged segment (the cache may serve a one-segment request
/// with a bigger region). When that segment goes back, the region's second
/// segment is still dirty: purging must cover it, or a later zeroed
/// allocation of the same slots returns 0xee bytes.
#[test]
fn a_region_reused_as_a_paged_segment_keeps_its_dirty_extent() {
    for round in 0..8 {
        tinyalloc::collect();
        // Dirty two whole segments and cache them as one region.
        let size = 2 * SEGMENT - 64 * 1024;
        assert_eq!(first_nonzero_of_zeroed(size), None, "round {round}: fresh");
        // A new thread's first small block takes a segment; the cache's only
        // region is the two-segment one.
        std::thread::spawn(|| {
            let v: Vec<u8> = std::iter::repeat_n(1, 100).collect();
            assert_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), 100);
        })
        .join()
        .unwrap();
        // Purge everything back to the arena, then ask for the slots again.
        tinyalloc::collect();
        assert_eq!(
            first_nonzero_of_zeroed(size),
            None,
            "round {round}: recycled memory is not zero"
        );
    }
}

/// Every size from a page to several segments, recycled through the thread's
/// kept region, the cache and the arena in turn, comes back zero.
#[test]
fn zeroed_large_blocks_are_zero_after_every_kind_of_reuse() {
    let sizes = [
        130 << 10,
        300 << 10,
        SEGMENT - 8192,
        SEGMENT,
        3 * SEGMENT / 2,
        5 * SEGMENT,
    ];
    for round in 0..4 {
        for &a in &sizes {
            for &b in &sizes {
                assert_eq!(first_nonzero_of_zeroed(a), None, "{a} after reuse");
                assert_eq!(first_nonzero_of_zeroed(b), None, "{b} after {a}");
                if round % 2 == 1 {
                    tinyalloc::collect();
                }
            }
        }
    }
}

/// Small zeroed blocks from freshly carved pages (the fast zeroing path,
/// which writes only the link word: the freed mark in the second word must
/// have been cleared when the block was popped) and from freed, dirtied
/// blocks, at sizes whose second word is inside the request.
#[test]
fn small_zeroed_blocks_are_zero_including_the_freed_mark_word() {
    for size in [1, 8, 9, 16, 24, 48, 64] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY (test): non-zero sizes; each block freed once with its layout.
        unsafe {
            let fresh: Vec<*mut u8> = (0..2000).map(|_| TinyAlloc.alloc_zeroed(layout)).collect();
            for &p in &fresh {
                assert!(!p.is_null());
                let bytes = std::slice::from_raw_parts(p, size);
                assert!(bytes.iter().all(|&b| b == 0), "fresh {size}: {bytes:?}");
                p.write_bytes(0xee, size);
            }
            for &p in &fresh {
                TinyAlloc.dealloc(p, layout);
            }
            for _ in 0..2000 {
                let p = TinyAlloc.alloc_zeroed(layout);
                let bytes = std::slice::from_raw_parts(p, size);
                assert!(bytes.iter().all(|&b| b == 0), "reused {size}: {bytes:?}");
                p.write_bytes(0xee, size);
                TinyAlloc.dealloc(p, layout);
            }
        }
    }
}
