//! The large path: huge alignments, in-place realloc, zeroing of recycled
//! regions. (Kernel-call counting has its own binary, `large_cache.rs`: the
//! counters are process-wide and these tests map memory.)
#![cfg(not(feature = "loom"))]

use std::alloc::{GlobalAlloc, Layout};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

#[test]
fn huge_alignments_are_honoured_and_impossible_ones_refused() {
    let mut align = 1usize << 20;
    while align <= 1 << 30 {
        let layout = Layout::from_size_align(3 << 20, align).unwrap();
        // SAFETY (test): non-zero size; freed with its layout.
        unsafe {
            let p = TinyAlloc.alloc_zeroed(layout);
            assert!(!p.is_null(), "alignment {align} refused");
            assert_eq!(p as usize % align, 0, "{p:p} not aligned to {align}");
            assert_eq!(p.add(layout.size() - 1).read(), 0, "fresh block not zero");
            p.write_bytes(0x5A, layout.size());
            TinyAlloc.dealloc(p, layout);
        }
        align <<= 1;
    }
    // A size the address space cannot hold.
    let layout = Layout::from_size_align(isize::MAX as usize - (1 << 30), 1 << 30).unwrap();
    // SAFETY (test): non-zero size.
    let impossible = unsafe { TinyAlloc.alloc(layout) };
    assert!(
        impossible.is_null(),
        "an impossible request must return null"
    );
}

#[test]
fn large_realloc_grows_and_shrinks_in_place_when_it_can() {
    let layout = Layout::from_size_align(1 << 20, 8).unwrap();
    // SAFETY (test): sizes are non-zero; every pointer is freed once with the
    // layout it has at that moment.
    unsafe {
        let p = TinyAlloc.alloc(layout);
        assert!(!p.is_null());
        p.write_bytes(0x11, layout.size());
        // Within the same segment: in place.
        let q = TinyAlloc.realloc(p, layout, 2 << 20);
        assert_eq!(q, p, "growth within the region should not move");
        assert!(
            std::slice::from_raw_parts(q, 1 << 20)
                .iter()
                .all(|&b| b == 0x11),
            "realloc lost contents"
        );
        // Shrink: always in place.
        let r = TinyAlloc.realloc(q, Layout::from_size_align(2 << 20, 8).unwrap(), 512 << 10);
        assert_eq!(r, p, "shrinking a large block should not move");
        // Grow a lot: may move, must keep contents.
        let s = TinyAlloc.realloc(r, Layout::from_size_align(512 << 10, 8).unwrap(), 40 << 20);
        assert!(!s.is_null());
        assert!(
            std::slice::from_raw_parts(s, 512 << 10)
                .iter()
                .all(|&b| b == 0x11),
            "realloc lost contents"
        );
        TinyAlloc.dealloc(s, Layout::from_size_align(40 << 20, 8).unwrap());
    }
}

#[test]
fn a_recycled_region_written_to_its_usable_end_comes_back_zeroed() {
    let layout = Layout::from_size_align(1 << 20, 8).unwrap();
    // SAFETY (test): the block is written only within its usable size, freed
    // once; the zeroed block is read within its size.
    unsafe {
        let p = TinyAlloc.alloc(layout);
        let usable = tinyalloc::usable_size(p);
        assert!(usable >= layout.size());
        p.write_bytes(0x5A, usable);
        TinyAlloc.dealloc(p, layout);
        let big = Layout::from_size_align(usable, 8).unwrap();
        let q = TinyAlloc.alloc_zeroed(big);
        let bytes = std::slice::from_raw_parts(q, usable);
        assert!(
            bytes.iter().all(|&b| b == 0),
            "recycled block has {} non-zero bytes",
            bytes.iter().filter(|&&b| b != 0).count()
        );
        TinyAlloc.dealloc(q, big);
    }
}
