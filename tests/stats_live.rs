//! `stats()` splits the carved bytes of pages in use into live blocks, free
//! blocks inside the pages, and the live blocks of abandoned segments. A
//! thread's `stats()` counts its own heap afresh; a thread that exits with
//! live blocks moves them to `abandoned_live`, and freeing them (the drain
//! of the last free) takes them out again.
//! Its own binary, one test: the figures are process-wide.
#![cfg(not(feature = "loom"))]

use tinyalloc::{PagedStats, Stats, TinyAlloc};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// A small class's block size (a class of its own: no rounding up).
const SMALL: usize = 48;
/// A medium block (above the small classes' 8 KiB).
const MEDIUM: usize = 20 * 1024;
const SMALL_COUNT: usize = 2000;
const MEDIUM_COUNT: usize = 8;

fn fill(count: usize, size: usize, seed: u8) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| vec![seed.wrapping_add(i as u8); size])
        .collect()
}

fn check(blocks: &[Vec<u8>], seed: u8) {
    for (i, block) in blocks.iter().enumerate() {
        let want = seed.wrapping_add(i as u8);
        assert!(block.iter().all(|&b| b == want), "block {i} overwritten");
    }
}

/// The small and medium figures of two snapshots, with the bytes of blocks
/// of each kind that the test allocated in between.
fn by_kind(before: &Stats, after: &Stats) -> [(&'static str, PagedStats, PagedStats, usize); 2] {
    [
        ("small", before.small, after.small, SMALL_COUNT * SMALL),
        ("medium", before.medium, after.medium, MEDIUM_COUNT * MEDIUM),
    ]
}

/// Assert that a figure grew by the `bytes` allocated: each block counts
/// its class's size, at most 1/4 over for these sizes (and the `Vec`
/// headers of the outer vectors).
fn assert_grew_by(kind: &str, figure: &str, before: usize, after: usize, bytes: usize) {
    let grew = after - before.min(after);
    assert!(
        grew >= bytes && grew <= bytes + bytes / 4 + 64 * 1024,
        "{kind}: {bytes} bytes allocated, {figure} grew by {grew} ({before} -> {after})"
    );
}

#[test]
fn live_bytes_follow_the_blocks_across_frees_and_exits() {
    // The blocks of a thread of its own: its `stats()` counts its heap.
    std::thread::spawn(|| {
        let before = tinyalloc::stats();
        let small = fill(SMALL_COUNT, SMALL, 1);
        let medium = fill(MEDIUM_COUNT, MEDIUM, 2);
        let during = tinyalloc::stats();
        for (kind, b, d, bytes) in by_kind(&before, &during) {
            assert_grew_by(kind, "live", b.live, d.live, bytes);
            assert!(
                d.live + d.abandoned_live + d.free_in_pages == d.carved,
                "{kind}: live and free do not add up to carved: {d:?}"
            );
        }
        check(&small, 1);
        check(&medium, 2);
        drop(small);
        drop(medium);
        let after = tinyalloc::stats();
        for (kind, d, a, bytes) in by_kind(&during, &after) {
            let fell = d.live - a.live.min(d.live);
            assert!(
                fell >= bytes,
                "{kind}: {bytes} bytes freed, live fell by {fell}: {d:?} -> {a:?}"
            );
        }
    })
    .join()
    .unwrap();

    // A thread that exits with live blocks: they are abandoned, and leave
    // `abandoned_live` when another thread frees the last of them.
    let before = tinyalloc::stats();
    let (small, medium) =
        std::thread::spawn(|| (fill(SMALL_COUNT, SMALL, 3), fill(MEDIUM_COUNT, MEDIUM, 4)))
            .join()
            .unwrap();
    // `join` returns after the thread's exit (its heap's abandonment) ran.
    let exited = tinyalloc::stats();
    for (kind, b, e, bytes) in by_kind(&before, &exited) {
        assert_grew_by(
            kind,
            "abandoned_live",
            b.abandoned_live,
            e.abandoned_live,
            bytes,
        );
        assert!(
            e.abandoned_segments >= 1,
            "{kind}: nothing abandoned: {e:?}"
        );
    }
    check(&small, 3);
    check(&medium, 4);
    drop(small);
    drop(medium);
    let freed = tinyalloc::stats();
    for (kind, b, f) in [
        ("small", before.small, freed.small),
        ("medium", before.medium, freed.medium),
    ] {
        assert_eq!(
            f.abandoned_live, b.abandoned_live,
            "{kind}: every abandoned block freed, yet abandoned_live stayed: {b:?} -> {f:?}"
        );
        assert_eq!(
            f.abandoned_segments, b.abandoned_segments,
            "{kind}: every abandoned block freed, yet segments stay abandoned: {f:?}"
        );
    }
}
