//! Repeated large allocations recycle through the segment cache: the kernel
//! is entered a handful of times, not once per allocation. One test in this
//! binary, so nothing else moves the process-wide kernel-call counters.
#![cfg(not(feature = "loom"))]

use std::alloc::{GlobalAlloc, Layout};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

fn alloc_free_loop(layout: Layout, rounds: usize) {
    for i in 0..rounds {
        // SAFETY (test): non-zero size; freed with its own layout.
        unsafe {
            let p = TinyAlloc.alloc(layout);
            assert!(!p.is_null());
            p.write(i as u8);
            p.add(layout.size() - 1).write(i as u8);
            TinyAlloc.dealloc(p, layout);
        }
    }
}

#[test]
fn ten_thousand_large_pairs_make_a_handful_of_kernel_calls() {
    for size in [200 << 10, 1 << 20, 3 << 20, 9 << 20] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        alloc_free_loop(layout, 10); // warm up
        let before = tinyalloc::stats().os;
        alloc_free_loop(layout, 10_000);
        let after = tinyalloc::stats().os;
        let maps = after.map_calls - before.map_calls;
        let unmaps = after.unmap_calls - before.unmap_calls;
        let purges = after.purge_calls - before.purge_calls;
        eprintln!("{size} B x 10000: {maps} mmap, {unmaps} munmap, {purges} madvise");
        assert!(
            maps <= 4,
            "{maps} mmap calls for 10,000 pairs of {size} bytes"
        );
        assert!(
            unmaps <= 4,
            "{unmaps} munmap calls for 10,000 pairs of {size} bytes"
        );
        assert!(
            purges <= 10,
            "{purges} madvise calls for 10,000 pairs of {size} bytes"
        );
    }
}
