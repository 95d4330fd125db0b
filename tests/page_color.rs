//! Pages of different classes start their blocks at different cache lines
//! (their colour: `class % 8` lines, for blocks aligned to at most 64
//! bytes), and every block keeps the alignment its class promises.
#![cfg(not(feature = "loom"))]

use std::alloc::{alloc, dealloc, Layout};
use std::collections::HashSet;
use tinyalloc::size_class::{class_of, class_size};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// Bytes of a small page (`segment::SMALL_PAGE_SHIFT`).
const PAGE: usize = 64 * 1024;

/// Where a class's blocks start in their page.
fn color(size: usize) -> usize {
    if size.trailing_zeros() <= 6 {
        (class_of(size) % 8) * 64
    } else {
        0
    }
}

#[test]
fn classes_start_their_blocks_on_different_cache_lines() {
    std::thread::spawn(|| {
        let sizes = [
            16, 24, 32, 40, 48, 56, 64, 72, 80, 96, 128, 192, 256, 320, 448, 512,
        ];
        let mut colors = HashSet::new();
        for &size in &sizes {
            assert_eq!(class_size(class_of(size)), size, "{size} is a class size");
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero size; each block is freed below.
            let blocks: Vec<*mut u8> = (0..40).map(|_| unsafe { alloc(layout) }).collect();
            for &block in &blocks {
                assert!(!block.is_null());
                let offset = block as usize % PAGE;
                let want = color(size);
                assert!(
                    offset >= want && (offset - want) % size == 0,
                    "a block of {size} bytes at page offset {offset}: its class starts at {want}"
                );
                // SAFETY: the block is live, `size` bytes.
                unsafe { block.write_bytes(size as u8, size) };
            }
            for block in blocks {
                // SAFETY: as allocated above, filled with `size`.
                unsafe {
                    assert!((0..size).all(|i| *block.add(i) == size as u8));
                    dealloc(block, layout);
                }
            }
            if size.trailing_zeros() <= 6 {
                colors.insert(color(size) / 64 % 8);
            }
        }
        assert_eq!(
            colors.len(),
            8,
            "the classes of 16 to 72 bytes cover every colour"
        );
        // Alignment: a request aligned to its size up to 64 bytes lands on a
        // coloured page and stays aligned; a larger one gets no colour.
        for (size, align) in [
            (16, 16),
            (48, 16),
            (64, 64),
            (192, 64),
            (128, 128),
            (4096, 4096),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero size; freed at once.
            unsafe {
                let block = alloc(layout);
                assert!(!block.is_null());
                assert_eq!(block as usize % align, 0, "{size} bytes aligned to {align}");
                dealloc(block, layout);
            }
        }
    })
    .join()
    .unwrap();
}
