//! A thread that frees one of its own blocks onto one of its parked pages
//! while other threads' frees wait there keeps the page parked
//! (`heap::free_onto_parked`): when the rest of the page's blocks come back
//! while the thread is away, the last free gives the page's memory back.
//! Before, the owner's free took the page back into its queue, where the
//! blocks freed to it later waited until it ran again: `swap` at 16 threads
//! on 2 CPUs held about a table's worth of such blocks per thread. Its own
//! binary: the figures are per process.
#![cfg(not(feature = "loom"))]

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// 128 blocks per 64 KiB page.
const SIZE: usize = 512;
/// About 8 pages' worth, so that the first pages run dry and are parked.
const COUNT: usize = 1_000;
/// Longer than an idle heap's bound (`heap::IDLE_AFTER_MS`).
const IDLE: Duration = Duration::from_millis(50);

fn pattern(i: usize) -> u8 {
    (i % 251) as u8 + 1
}

/// Check block `i`'s contents and free it.
fn check_and_free(i: usize, address: usize) {
    // SAFETY: each address came from `Box::into_raw` below, freed once.
    let block = unsafe { Box::from_raw(address as *mut [u8; SIZE]) };
    assert!(
        block.iter().all(|&b| b == pattern(i)),
        "block {i} was overwritten"
    );
}

#[test]
fn a_parked_page_with_others_frees_stays_parked_when_its_owner_frees_onto_it() {
    let (blocks_tx, blocks_rx) = mpsc::channel::<Vec<usize>>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (own_tx, own_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let owner = std::thread::spawn(move || {
        let blocks: Vec<usize> = (0..COUNT)
            .map(|i| Box::into_raw(Box::new([pattern(i); SIZE])) as usize)
            .collect();
        // The first page's second block: freed by the owner itself, below.
        let own = blocks[1];
        blocks_tx.send(blocks).unwrap();
        go_rx.recv().unwrap();
        check_and_free(1, own);
        own_tx.send(()).unwrap();
        // Now only wait: no allocation, so no slow path.
        done_rx.recv().unwrap();
        // Allocating again works, from whatever pages are there.
        let again: Vec<usize> = (0..COUNT)
            .map(|i| Box::into_raw(Box::new([pattern(i + 7); SIZE])) as usize)
            .collect();
        for (i, address) in again.into_iter().enumerate() {
            check_and_free(i + 7, address);
        }
    });
    let blocks = blocks_rx.recv().unwrap();
    // Blocks by 64 KiB page, in allocation order: the first page ran dry
    // and was parked by the slow path that moved on from it.
    let mut pages: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &address) in blocks.iter().enumerate() {
        pages.entry(address >> 16).or_default().push(i);
    }
    let first_page = blocks[0] >> 16;
    let first: Vec<usize> = pages[&first_page].clone();
    assert!(
        first.len() > 64 && first.contains(&1),
        "unexpected page layout"
    );
    // Another thread's free onto the parked page, then the owner's own.
    check_and_free(0, blocks[0]);
    go_tx.send(()).unwrap();
    own_rx.recv().unwrap();
    std::thread::sleep(IDLE);
    // The rest of the page's blocks, while the owner waits.
    let carved_before = tinyalloc::stats().small.carved;
    for &i in first.iter().filter(|&&i| i > 1) {
        check_and_free(i, blocks[i]);
    }
    let carved_after = tinyalloc::stats().small.carved;
    let page_bytes = first.len() * SIZE;
    assert!(
        carved_before - carved_after.min(carved_before) >= page_bytes,
        "the parked page's {page_bytes} bytes were not given back when its last block came \
         back ({carved_before} -> {carved_after}): the owner's free took it off the parked list"
    );
    // The other pages' blocks are intact.
    for (i, &address) in blocks.iter().enumerate() {
        if address >> 16 != first_page {
            check_and_free(i, address);
        }
    }
    done_tx.send(()).unwrap();
    owner.join().unwrap();
}
