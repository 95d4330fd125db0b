//! Large `realloc`: in place when the arena has room after the block, else by
//! moving pages (`mremap`) into a new region, else by copying; contents and
//! alignment survive every path, and moved-from memory comes back zeroed.
//! Its own binary: the tests count kernel calls.
#![cfg(not(feature = "loom"))]

use std::alloc::{GlobalAlloc, Layout};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const MIB: usize = 1 << 20;

/// Serialises the tests: each counts process-wide kernel calls.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The word written at byte `offset` of a block tagged `tag`.
fn word(tag: usize, offset: usize) -> u64 {
    (tag as u64) << 40 | offset as u64
}

/// Write a word every `stride` bytes of `[0, len)` (strided, so that huge
/// blocks stay cheap in resident memory).
///
/// # Safety
/// `p` is valid for `len` bytes and 8-aligned; `stride` is a multiple of 8.
unsafe fn fill(p: *mut u8, len: usize, stride: usize, tag: usize) {
    for offset in (0..len.saturating_sub(7)).step_by(stride) {
        // SAFETY: in bounds and aligned, per the contract.
        unsafe { p.add(offset).cast::<u64>().write(word(tag, offset)) };
    }
}

/// Check what [`fill`] wrote over `[0, len)`.
///
/// # Safety
/// As for [`fill`].
unsafe fn check(p: *mut u8, len: usize, stride: usize, tag: usize) {
    for offset in (0..len.saturating_sub(7)).step_by(stride) {
        // SAFETY: in bounds and aligned, per the contract.
        let found = unsafe { p.add(offset).cast::<u64>().read() };
        assert_eq!(found, word(tag, offset), "block {tag}, offset {offset}");
    }
}

/// Blocks that grow while a neighbour is allocated right after each of them
/// cannot grow in place: they move by remapping, keep every byte, and the
/// kernel copies nothing (one `mremap` per move, no `madvise`).
#[test]
fn growing_blocks_boxed_in_by_neighbours_move_their_pages() {
    let _serial = serial();
    let before = tinyalloc::stats().os;
    let mut blocks = Vec::new();
    for tag in 0..4 {
        let mut size = MIB;
        let layout = Layout::from_size_align(size, 16).unwrap();
        // SAFETY (test): each block is used within its current size and freed
        // with its current layout.
        unsafe {
            let mut p = TinyAlloc.alloc(layout);
            assert!(!p.is_null());
            fill(p, size, 512, tag);
            let mut neighbours = Vec::new();
            while size < 64 * MIB {
                // Take the slots right after the block, so it cannot grow there.
                let neighbour = Layout::from_size_align(3 * MIB, 16).unwrap();
                let n = TinyAlloc.alloc(neighbour);
                assert!(!n.is_null());
                neighbours.push(n);
                let new_size = size * 2;
                p = TinyAlloc.realloc(p, Layout::from_size_align(size, 16).unwrap(), new_size);
                assert!(!p.is_null());
                assert_eq!(p as usize % 16, 0);
                check(p, size, 512, tag);
                fill(p, new_size, 512, tag);
                size = new_size;
            }
            for n in neighbours {
                TinyAlloc.dealloc(n, Layout::from_size_align(3 * MIB, 16).unwrap());
            }
            blocks.push((p, size, tag));
        }
    }
    let after = tinyalloc::stats().os;
    let moves = after.move_calls - before.move_calls;
    eprintln!("4 blocks x 6 doublings: {moves} mremap");
    assert!(moves >= 4, "only {moves} moves by remapping");
    for (p, size, tag) in blocks {
        // SAFETY (test): live blocks of `size` bytes.
        unsafe {
            check(p, size, 512, tag);
            TinyAlloc.dealloc(p, Layout::from_size_align(size, 16).unwrap());
        }
    }
    // The moved-from slots were refilled with zero pages: every zeroed block
    // that reuses them reads as zero.
    tinyalloc::collect();
    for size in [MIB, 8 * MIB, 40 * MIB] {
        let layout = Layout::from_size_align(size, 16).unwrap();
        // SAFETY (test): freed with its own layout.
        unsafe {
            let p = TinyAlloc.alloc_zeroed(layout);
            assert!(!p.is_null());
            let bytes = std::slice::from_raw_parts(p, size);
            assert_eq!(bytes.iter().position(|&b| b != 0), None, "{size}");
            TinyAlloc.dealloc(p, layout);
        }
    }
}

/// Blocks with an alignment of whole segments live in direct mappings; a
/// grown one moves with its alignment intact.
#[test]
fn huge_aligned_blocks_keep_alignment_and_contents_when_moved() {
    let _serial = serial();
    for align in [4 * MIB, 16 * MIB, 64 * MIB] {
        let mut size = 2 * MIB;
        let layout = Layout::from_size_align(size, align).unwrap();
        // SAFETY (test): used within its size, freed with its layout.
        unsafe {
            let mut p = TinyAlloc.alloc(layout);
            assert!(!p.is_null());
            fill(p, size, 4096, align);
            for _ in 0..4 {
                let new_size = size * 3;
                p = TinyAlloc.realloc(p, Layout::from_size_align(size, align).unwrap(), new_size);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "align {align}");
                check(p, size, 4096, align);
                fill(p, new_size, 4096, align);
                size = new_size;
            }
            TinyAlloc.dealloc(p, Layout::from_size_align(size, align).unwrap());
        }
    }
}

/// A huge-aligned block's mapping is its size rounded to pages plus one
/// segment, not whole segments: resizes within it stay in place, and
/// resizes past it move into a mapping big enough for the old one's pages.
#[test]
fn huge_aligned_blocks_resize_by_less_than_a_segment() {
    let _serial = serial();
    let align = 4 * MIB;
    let mut size = 5 * MIB;
    // SAFETY (test): used within its size, freed with its layout.
    unsafe {
        let mut p = TinyAlloc.alloc(Layout::from_size_align(size, align).unwrap());
        assert!(!p.is_null());
        fill(p, size, 4096, 1);
        for new_size in [
            9 * MIB / 2,
            11 * MIB / 2,
            9 * MIB,
            3 * MIB,
            13 * MIB / 4,
            20 * MIB,
        ] {
            let q = TinyAlloc.realloc(p, Layout::from_size_align(size, align).unwrap(), new_size);
            assert!(!q.is_null());
            assert_eq!(q as usize % align, 0);
            let kept = size.min(new_size);
            check(q, kept, 4096, 1);
            if new_size <= size {
                assert_eq!(q, p, "{size} -> {new_size} fits the mapping");
            }
            fill(q, new_size, 4096, 1);
            p = q;
            size = new_size;
        }
        TinyAlloc.dealloc(p, Layout::from_size_align(size, align).unwrap());
    }
}

/// A block bigger than an arena is a direct mapping: growing it moves the
/// mapping (no copy of its gigabytes), shrinking keeps it in place.
#[test]
fn a_block_beyond_an_arena_grows_without_a_copy() {
    let _serial = serial();
    let size = 1536 * MIB;
    let layout = Layout::from_size_align(size, 16).unwrap();
    // SAFETY (test): used within its size, freed with its layout.
    unsafe {
        let p = TinyAlloc.alloc(layout);
        assert!(!p.is_null());
        fill(p, size, MIB, 7);
        let before = tinyalloc::stats().os;
        let grown = TinyAlloc.realloc(p, layout, 2048 * MIB);
        let after = tinyalloc::stats().os;
        assert!(!grown.is_null());
        assert_eq!(after.move_calls - before.move_calls, 1);
        check(grown, size, MIB, 7);
        let shrunk = TinyAlloc.realloc(
            grown,
            Layout::from_size_align(2048 * MIB, 16).unwrap(),
            size,
        );
        assert_eq!(shrunk, grown, "a shrink stays in place");
        check(shrunk, size, MIB, 7);
        TinyAlloc.dealloc(shrunk, layout);
    }
}
