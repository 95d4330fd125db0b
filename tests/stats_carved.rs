//! `stats()` splits the pages in use into carved (blocks: live or free in
//! the page, committed) and never touched: carving grows with the blocks a
//! thread takes, stays within the pages in use, and goes when the pages go.
//! Its own binary, one test: the figures are process-wide.
#![cfg(not(feature = "loom"))]

use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const SMALL: usize = 48;
const MEDIUM: usize = 20 * 1024;

#[test]
fn carved_bytes_follow_the_blocks_and_the_pages() {
    // A thread of its own, so the pages it carves are its heap's alone and
    // go back when it collects.
    std::thread::spawn(|| {
        let before = tinyalloc::stats();
        let small: Vec<Box<[u8; SMALL]>> = (0..2000).map(|i| Box::new([i as u8; SMALL])).collect();
        let medium: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8 + 1; MEDIUM]).collect();
        let during = tinyalloc::stats();
        for (kind, b, d, live) in [
            ("small", before.small, during.small, 2000 * SMALL),
            ("medium", before.medium, during.medium, 8 * MEDIUM),
        ] {
            assert!(
                d.carved <= d.in_pages,
                "{kind}: carved beyond the pages: {d:?}"
            );
            let grew = d.carved - b.carved.min(d.carved);
            assert!(
                grew >= live,
                "{kind}: {live} live bytes but carving grew by {grew}: {b:?} -> {d:?}"
            );
            // At most one first carve (4 KiB, or one block) per class beyond
            // what is live, plus the doubling of a busy page.
            assert!(
                grew <= 2 * live + 2 * MEDIUM,
                "{kind}: carving grew by {grew} for {live} live bytes: {b:?} -> {d:?}"
            );
        }
        assert!(small
            .iter()
            .enumerate()
            .all(|(i, b)| b[SMALL - 1] == i as u8));
        assert!(medium
            .iter()
            .enumerate()
            .all(|(i, v)| v[MEDIUM - 1] == i as u8 + 1));
        drop(small);
        drop(medium);
        tinyalloc::collect();
        let after = tinyalloc::stats();
        for (kind, d, a) in [
            ("small", during.small, after.small),
            ("medium", during.medium, after.medium),
        ] {
            assert!(
                a.carved <= a.in_pages,
                "{kind}: carved beyond the pages: {a:?}"
            );
            assert!(
                a.carved < d.carved,
                "{kind}: pages given back but carving stayed: {d:?} -> {a:?}"
            );
        }
    })
    .join()
    .unwrap();
}
