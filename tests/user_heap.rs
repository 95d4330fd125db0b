//! `tinyalloc::Heap`: allocation with fill patterns, frees from other
//! threads, drop (blocks stay valid and are freed elsewhere), destroy of
//! 100,000 live blocks, the allocator-api2 collections and hashbrown, and the
//! counts `tinyalloc::stats()` gives before and after.
//!
//! The figures are process-wide: the tests that compare them exactly run in
//! a child process of their own (this binary, re-run with
//! `TINYALLOC_USER_HEAP_CASE=<case>`), where nothing else allocates; the
//! others hold one lock so that they do not run at once.
#![cfg(not(feature = "loom"))]

#[path = "common/child.rs"]
mod child;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::{Mutex, MutexGuard};
use tinyalloc::{Heap, TinyAlloc};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const CASE_VAR: &str = "TINYALLOC_USER_HEAP_CASE";

/// Run `case` in a child process and assert it passed.
fn in_child(case: &str) {
    let _serial = serial();
    let mut command = child::self_as_child("case_child", CASE_VAR, case);
    let line = child::success_line(&mut command, "CASE OK");
    assert_eq!(line, format!("CASE OK {case}"));
}

#[test]
fn case_child() {
    let Ok(case) = std::env::var(CASE_VAR) else {
        return;
    };
    match case.as_str() {
        "remote-frees" => remote_frees(),
        "drop" => dropped_heap(),
        "drop-race" => drop_race(),
        "destroy" => destroy_100k(),
        "many-threads" => many_threads(),
        #[cfg(feature = "allocator-api2")]
        "allocator-api2" => collections(),
        other => panic!("unknown case {other}"),
    }
    println!("CASE OK {case}");
}

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// A size over every class and some large: log-uniform 1 B ..= 256 KiB.
fn random_size(rng: &mut Rng) -> usize {
    let bits = rng.below(18) as u32;
    1 + rng.below(1u64 << bits.max(1))
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// A byte of block `id`'s pattern at `offset`.
fn pattern(id: usize, offset: usize) -> u8 {
    (id.wrapping_mul(31) ^ offset.wrapping_mul(7)) as u8
}

/// Fill `size` bytes at `block` with `id`'s pattern.
///
/// # Safety
/// `block` is live and holds `size` bytes.
unsafe fn fill(block: *mut u8, size: usize, id: usize) {
    for offset in 0..size {
        // SAFETY: in bounds.
        unsafe { *block.add(offset) = pattern(id, offset) };
    }
}

/// Assert `block` still holds `id`'s pattern.
///
/// # Safety
/// As [`fill`].
unsafe fn check(block: *mut u8, size: usize, id: usize) {
    for offset in 0..size {
        // SAFETY: in bounds.
        let byte = unsafe { *block.add(offset) };
        assert_eq!(byte, pattern(id, offset), "block {id} byte {offset}");
    }
}

/// A block address that may cross threads.
#[derive(Clone, Copy)]
struct Block(usize, usize, usize);
// (address, size, id)

/// Check and free `blocks` through the global allocator (the ordinary
/// path), then exit (threads are joined with `join`, which also waits for
/// their exit clean-up, unlike a scope).
fn free_all(blocks: &[Block]) {
    for &Block(address, size, id) in blocks {
        // SAFETY: each block is live and freed once, here.
        unsafe {
            check(address as *mut u8, size, id);
            TinyAlloc.dealloc(address as *mut u8, layout(size));
        }
    }
}

#[test]
fn fill_patterns_survive_alloc_realloc_and_frees() {
    let _serial = serial();
    let heap = Heap::new();
    let mut rng = Rng(0x1234_5678);
    let mut blocks: Vec<Block> = Vec::with_capacity(4000);
    for id in 0..4000 {
        let size = random_size(&mut rng);
        let block = heap.alloc(layout(size));
        assert!(!block.is_null());
        assert_eq!(block as usize % 8, 0);
        // SAFETY: live, `size` bytes.
        unsafe { fill(block, size, id) };
        blocks.push(Block(block as usize, size, id));
    }
    // Free every third block, grow or shrink every third.
    for (index, entry) in blocks.iter_mut().enumerate() {
        let Block(address, size, id) = *entry;
        // SAFETY: each block is live with its layout; checked, then freed
        // or replaced once.
        unsafe {
            check(address as *mut u8, size, id);
            match index % 3 {
                0 => {
                    heap.dealloc(address as *mut u8, layout(size));
                    *entry = Block(0, 0, id);
                }
                1 => {
                    let new_size = random_size(&mut rng);
                    let moved = heap.realloc(address as *mut u8, layout(size), new_size);
                    assert!(!moved.is_null());
                    check(moved, size.min(new_size), id);
                    fill(moved, new_size, id);
                    *entry = Block(moved as usize, new_size, id);
                }
                _ => {}
            }
        }
    }
    // Allocate again over the freed blocks (zeroed), then check everything.
    for id in 4000..6000 {
        let size = random_size(&mut rng);
        let block = heap.alloc_zeroed(layout(size));
        assert!(!block.is_null());
        // SAFETY: live, `size` bytes.
        unsafe {
            assert!(std::slice::from_raw_parts(block, size)
                .iter()
                .all(|&b| b == 0));
            fill(block, size, id);
        }
        blocks.push(Block(block as usize, size, id));
    }
    for &Block(address, size, id) in &blocks {
        if address != 0 {
            // SAFETY: live.
            unsafe {
                check(address as *mut u8, size, id);
                heap.dealloc(address as *mut u8, layout(size));
            }
        }
    }
    heap.destroy();
}

#[test]
fn big_alignments_come_from_the_heap() {
    let _serial = serial();
    let heap = Heap::new();
    for align in [16, 64, 4096, 64 << 10, 1 << 20, 4 << 20, 8 << 20] {
        for size in [1, 100, 5000, 300_000] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let block = heap.alloc(layout);
            assert!(!block.is_null(), "{size} at {align}");
            assert_eq!(block as usize % align, 0, "{size} at {align}");
            // SAFETY: live, `size` bytes.
            unsafe {
                fill(block, size, align);
                check(block, size, align);
            }
            if size == 100 {
                // SAFETY: live, of `layout`.
                unsafe { heap.dealloc(block, layout) };
            }
        }
    }
    heap.destroy();
}

/// Blocks of a heap freed by other threads through the ordinary path (the
/// global allocator): contents intact when they arrive; the heap reuses
/// small ones and releases large ones (its `collect`).
#[test]
fn blocks_are_freed_from_other_threads() {
    in_child("remote-frees");
}

fn remote_frees() {
    let heap = Heap::new();
    let mut rng = Rng(99);
    let mut batches: Vec<Vec<Block>> = (0..4).map(|_| Vec::with_capacity(2000)).collect();
    for id in 0..8000 {
        let size = if id % 500 == 0 {
            200_000 + id
        } else {
            random_size(&mut rng).min(100_000)
        };
        let block = heap.alloc(layout(size));
        assert!(!block.is_null());
        // SAFETY: live.
        unsafe { fill(block, size, id) };
        batches[id % 4].push(Block(block as usize, size, id));
    }
    let before = tinyalloc::stats();
    let freers: Vec<_> = batches
        .into_iter()
        .map(|batch| std::thread::spawn(move || free_all(&batch)))
        .collect();
    freers.into_iter().for_each(|t| t.join().unwrap());
    // The large ones are marked, not released yet: the heap releases them.
    let freed = tinyalloc::stats();
    assert_eq!(freed.large_regions, before.large_regions);
    // The small ones came back to the heap's pages (remote lists): it hands
    // them out again with no new page.
    for _ in 0..4000 {
        assert!(!heap.alloc(layout(64)).is_null());
    }
    let reused = tinyalloc::stats();
    assert!(reused.small.in_pages <= freed.small.in_pages);
    assert!(reused.small.segments <= freed.small.segments);
    heap.collect();
    let collected = tinyalloc::stats();
    assert_eq!(
        collected.large_regions,
        before.large_regions - 16,
        "16 large blocks freed remotely"
    );
    heap.destroy();
}

/// Dropping a heap frees nothing: its blocks stay valid, other threads free
/// them later, and its segments are adopted and end up released.
#[test]
fn dropped_heap_blocks_stay_valid_and_are_freed_elsewhere() {
    in_child("drop");
}

fn dropped_heap() {
    let mut blocks = Vec::with_capacity(3000);
    let baseline = tinyalloc::stats();
    let heap = Heap::new();
    assert_eq!(tinyalloc::stats().user_heaps, baseline.user_heaps + 1);
    let mut rng = Rng(7);
    for id in 0..3000 {
        let size = if id % 1000 == 0 {
            1 << 20
        } else {
            random_size(&mut rng).min(50_000)
        };
        let block = heap.alloc(layout(size));
        assert!(!block.is_null());
        // SAFETY: live.
        unsafe { fill(block, size, id) };
        blocks.push(Block(block as usize, size, id));
    }
    let full = tinyalloc::stats();
    assert!(full.live_regions > baseline.live_regions);
    let parts: Vec<Vec<Block>> = (0..3)
        .map(|part| blocks.iter().skip(part).step_by(3).copied().collect())
        .collect();
    drop(heap);
    let dropped = tinyalloc::stats();
    assert_eq!(dropped.user_heaps, baseline.user_heaps);
    assert!(dropped.abandoned_segments > baseline.abandoned_segments);
    // Other threads check and free everything, then every thread with a
    // heap collects: the abandoned segments (adopted by whichever thread
    // needed memory first, here perhaps this one) all go back.
    let freers: Vec<_> = parts
        .into_iter()
        .map(|mine| std::thread::spawn(move || free_all(&mine)))
        .collect();
    freers.into_iter().for_each(|t| t.join().unwrap());
    tinyalloc::collect();
    std::thread::spawn(|| {
        // A thread with a heap (its first allocation) adopts what is left.
        drop(std::hint::black_box(Box::new(1u8)));
        tinyalloc::collect();
    })
    .join()
    .unwrap();
    let after = tinyalloc::stats();
    assert_eq!(after.abandoned_segments, baseline.abandoned_segments);
    assert!(after.small.segments <= baseline.small.segments, "{after:?}");
    assert!(
        after.medium.segments <= baseline.medium.segments,
        "{after:?}"
    );
    assert_eq!(after.large_regions, baseline.large_regions);
}

/// A large block freed by another thread while its heap is being dropped:
/// whichever comes first, the region is released exactly once.
#[test]
fn remote_large_frees_racing_with_drop() {
    in_child("drop-race");
}

fn drop_race() {
    let baseline = tinyalloc::stats().large_regions;
    for round in 0..50 {
        let heap = Heap::new();
        let blocks: Vec<usize> = (0..8)
            .map(|i| {
                let block = heap.alloc(layout(300_000 + i * 4096));
                assert!(!block.is_null());
                // SAFETY: live.
                unsafe { fill(block, 64, round) };
                block as usize
            })
            .collect();
        let freer = std::thread::spawn(move || {
            for block in blocks {
                // SAFETY: live, freed once, here.
                unsafe {
                    check(block as *mut u8, 64, round);
                    TinyAlloc.dealloc(block as *mut u8, layout(300_000));
                }
            }
        });
        drop(heap);
        // `join`, not a scope: it waits for the thread's exit clean-up too.
        freer.join().unwrap();
    }
    // Every region is back, released once (a second release would
    // underflow the count or abort).
    assert_eq!(tinyalloc::stats().large_regions, baseline);
}

/// Destroy with 100,000 live blocks of 16..1024 B (and a few large): every
/// page, segment and region of the heap goes, and the figures come back.
#[test]
fn destroy_frees_100k_live_blocks_at_once() {
    in_child("destroy");
}

fn destroy_100k() {
    let baseline = tinyalloc::stats();
    let heap = Heap::new();
    let mut rng = Rng(2024);
    let mut sum = 0usize;
    for id in 0..100_000 {
        let size = 16 + rng.below(1009);
        let block = heap.alloc(layout(size));
        assert!(!block.is_null());
        // SAFETY: live; the first and last byte.
        unsafe {
            *block = id as u8;
            *block.add(size - 1) = id as u8;
        }
        sum += size;
    }
    for _ in 0..4 {
        assert!(!heap.alloc(layout(3 << 20)).is_null());
    }
    let full = tinyalloc::stats();
    assert!(full.small.in_pages >= baseline.small.in_pages + sum);
    assert_eq!(full.large_regions, baseline.large_regions + 4);
    heap.destroy();
    let after = tinyalloc::stats();
    assert_eq!(after.small.in_pages, baseline.small.in_pages);
    assert_eq!(after.small.segments, baseline.small.segments);
    assert_eq!(after.medium.segments, baseline.medium.segments);
    assert_eq!(after.large_regions, baseline.large_regions);
    assert_eq!(after.live_regions, baseline.live_regions);
    assert_eq!(after.user_heaps, baseline.user_heaps);
    // The memory is reusable at once: a new heap of the same load maps
    // nothing new.
    let heap = Heap::new();
    for _ in 0..20_000 {
        assert!(!heap.alloc(layout(512)).is_null());
    }
    assert_eq!(tinyalloc::stats().os.mapped_bytes, after.os.mapped_bytes);
    heap.destroy();
}

#[cfg(feature = "allocator-api2")]
#[test]
fn allocator_api2_collections_live_in_the_heap() {
    in_child("allocator-api2");
}

#[cfg(feature = "allocator-api2")]
fn collections() {
    use allocator_api2::boxed::Box as HeapBox;
    use allocator_api2::vec::Vec as HeapVec;

    let baseline = tinyalloc::stats();
    let heap = Heap::new();
    {
        let mut numbers = HeapVec::new_in(&heap);
        for i in 0..200_000u64 {
            numbers.push(i * 3);
        }
        let mut map = hashbrown::HashMap::new_in(&heap);
        for i in 0..50_000u64 {
            map.insert(i, HeapBox::new_in(i.to_string(), &heap));
        }
        let mut zeroed = HeapVec::<u8, _>::with_capacity_in(10_000, &heap);
        zeroed.resize(10_000, 0);
        numbers.shrink_to_fit();
        assert_eq!(numbers.len(), 200_000);
        assert!(numbers.iter().enumerate().all(|(i, &n)| n == i as u64 * 3));
        assert_eq!(map.len(), 50_000);
        assert!(map.iter().all(|(k, v)| **v == k.to_string()));
        assert!(zeroed.iter().all(|&b| b == 0));
        // The collections' memory is the heap's: the large vector is a
        // region of its own, the map's table and boxes fill pages.
        let live = tinyalloc::stats();
        assert!(live.large_regions > baseline.large_regions);
        assert!(live.small.in_pages > baseline.small.in_pages);
    }
    heap.destroy();
    let after = tinyalloc::stats();
    assert_eq!(after.large_regions, baseline.large_regions);
    assert_eq!(after.small.segments, baseline.small.segments);
}

/// A heap may move to another thread (an async task's, say) and be used
/// and destroyed there.
#[test]
fn a_heap_moves_between_threads() {
    let _serial = serial();
    let heap = Heap::new();
    let first = heap.alloc(layout(100)) as usize;
    // SAFETY: live.
    unsafe { fill(first as *mut u8, 100, 1) };
    let heap = std::thread::spawn(move || {
        let second = heap.alloc(layout(100));
        // SAFETY: both live; the first is freed once, by its heap.
        unsafe {
            check(first as *mut u8, 100, 1);
            heap.dealloc(first as *mut u8, layout(100));
            fill(second, 100, 2);
        }
        (heap, second as usize)
    })
    .join()
    .unwrap();
    let (heap, second) = heap;
    // SAFETY: live.
    unsafe { check(second as *mut u8, 100, 2) };
    heap.destroy();
}

/// Many heaps on many threads at once: each thread makes heaps, fills
/// blocks, hands half of a heap's blocks to the next thread (which checks
/// and frees them through the global allocator, possibly while the heap is
/// being dropped) and then drops the heap; or keeps all of them and
/// destroys the heap. Every handed-on block is checked when freed, and at
/// the end no heap is left and every abandoned segment can be adopted.
#[test]
fn heaps_on_many_threads_with_frees_racing_drops() {
    in_child("many-threads");
}

fn many_threads() {
    use std::sync::mpsc;
    const THREADS: usize = 4;
    const HEAPS: usize = 40;
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Vec<Block>>()).unzip();
    let workers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(index, inbox)| {
            let next = senders[(index + 1) % THREADS].clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x5EED + index as u64);
                let mut freed = 0usize;
                for round in 0..HEAPS {
                    let heap = Heap::new();
                    let mut mine = Vec::with_capacity(600);
                    let mut handed = Vec::with_capacity(300);
                    for i in 0..600 {
                        let size = if i == 0 {
                            200_000
                        } else {
                            random_size(&mut rng).min(20_000)
                        };
                        let id = (index << 24) | (round << 12) | i;
                        let block = heap.alloc(layout(size));
                        assert!(!block.is_null());
                        // SAFETY: live.
                        unsafe { fill(block, size, id) };
                        if round % 2 == 0 && i % 2 == 0 {
                            handed.push(Block(block as usize, size, id));
                        } else {
                            mine.push(Block(block as usize, size, id));
                        }
                    }
                    // Frees from the previous thread arrive meanwhile.
                    while let Ok(blocks) = inbox.try_recv() {
                        freed += blocks.len();
                        free_all(&blocks);
                    }
                    for &Block(address, size, id) in mine.iter().step_by(3) {
                        // SAFETY: live (not handed on).
                        unsafe { check(address as *mut u8, size, id) };
                    }
                    if round % 2 == 0 {
                        next.send(handed).unwrap();
                        // Dropped while the next thread frees: the kept
                        // blocks stay valid, freed here after the drop.
                        drop(heap);
                        free_all(&mine);
                    } else {
                        heap.destroy();
                    }
                }
                drop(next);
                for blocks in inbox {
                    freed += blocks.len();
                    free_all(&blocks);
                }
                freed
            })
        })
        .collect();
    drop(senders);
    let freed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(freed, THREADS * (HEAPS / 2) * 300);
    let stats = tinyalloc::stats();
    assert_eq!(stats.user_heaps, 0);
    // Every segment the dropped heaps left is adoptable and empty now.
    tinyalloc::collect();
    assert_eq!(tinyalloc::stats().abandoned_segments, 0);
}
