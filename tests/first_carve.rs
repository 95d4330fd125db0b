//! What a thread commits for the little it allocates: one OS page per size
//! class it takes a few blocks of, the page records of the pages it uses
//! (not its segment's whole header), about 8 KiB for a class of big blocks
//! it cycles one at a time, and no more than an OS page past what it hands
//! out of a class it takes many blocks of. Its own binary, one test: the
//! figures are process-wide, and the thread's segment must be fresh.
#![cfg(not(feature = "loom"))]

use std::hint::black_box;
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const OS_PAGE: usize = 4096;
const SEGMENT: usize = 4 << 20;

/// Whether the OS page holding `addr` is resident.
fn resident(addr: usize) -> bool {
    let mut status = 0u8;
    // SAFETY: one page-aligned page of a mapping this process owns (a
    // segment of the allocator's arena); `status` has room for its one byte.
    let result = unsafe { libc::mincore((addr & !(OS_PAGE - 1)) as *mut _, OS_PAGE, &mut status) };
    assert_eq!(result, 0, "mincore failed on {addr:#x}");
    status & 1 == 1
}

#[test]
fn a_thread_commits_what_it_uses() {
    std::thread::spawn(|| {
        let sizes = [16, 48, 96, 200, 320, 640, 1280, 2560, 5000];
        let before = tinyalloc::stats().small.carved;
        let blocks = sizes.map(|size| vec![1u8; size]);
        // The thread's first segment is fresh: its header commits the
        // records of the pages in use (the first OS page), not all 64.
        // Checked before `stats()`, which reads every record (a read of an
        // untouched page maps the shared zero page, which `mincore` counts
        // as resident and the process's RSS does not).
        let segment = blocks[0].as_ptr() as usize & !(SEGMENT - 1);
        let header_pages = [resident(segment), resident(segment + OS_PAGE)];
        let grew = tinyalloc::stats().small.carved - before;
        // A first carve is the blocks that fit in one OS page, or one
        // block bigger than that (a class rounds a size up by less than a
        // quarter). Two OS pages a class, as before stop 26, would be 72
        // KiB; blocks whose headers lay in one OS page (before stop 29)
        // up to 48 KiB.
        let bound: usize = sizes.iter().map(|&s| OS_PAGE.max(s + s / 4)).sum();
        assert!(
            grew <= bound,
            "one block of each of {} classes carved {grew} bytes (bound {bound})",
            sizes.len()
        );
        assert_eq!(
            header_pages,
            [true, false],
            "the header's pages resident (the second holds unused pages' records)"
        );

        // One block of a big class at a time, a hundred times: the page
        // cycles through a few blocks (6 KiB), it is not topped up to 16.
        let before = tinyalloc::stats().small.carved;
        for round in 0..100u8 {
            let block = black_box(vec![round; 3000]);
            assert!(block.iter().all(|&b| b == round));
        }
        let grew = tinyalloc::stats().small.carved - before;
        assert!(
            grew <= 12 * 1024,
            "cycling one 3,000-byte block carved {grew} bytes"
        );

        // Many blocks of one class: the carves stay within one OS page of
        // what is handed out. (Carves that doubled up to 16 KiB had carved
        // 681 blocks of 48 bytes for these 401, 14 KiB never used.)
        let mut many: Vec<Box<[u8; 48]>> = Vec::with_capacity(400);
        let before = tinyalloc::stats().small.carved;
        many.extend((0..400).map(|i| Box::new([i as u8; 48])));
        let grew = tinyalloc::stats().small.carved - before;
        let bound = 400 * 48 + OS_PAGE;
        assert!(
            grew <= bound,
            "400 blocks of 48 bytes carved {grew} bytes (bound {bound})"
        );
        assert!(many
            .iter()
            .enumerate()
            .all(|(i, b)| b.iter().all(|&x| x == i as u8)));
        for (block, size) in blocks.iter().zip(sizes) {
            assert_eq!(block.len(), size);
            assert!(block.iter().all(|&b| b == 1));
        }
    })
    .join()
    .unwrap();
}
