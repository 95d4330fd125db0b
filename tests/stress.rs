//! Multi-threaded stress: random sizes across every class (and some large),
//! blocks handed between threads through a shared slot array and freed
//! remotely, threads re-created every round. Every block carries a fill
//! pattern checked on free; every block is accounted for at the end.
//!
//! `TINYALLOC_STRESS_ROUNDS` / `TINYALLOC_STRESS_THREADS` / `TINYALLOC_STRESS_OPS`
//! scale it up (defaults keep CI short).
#![cfg(not(feature = "loom"))]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: deterministic per thread and round.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A size spread over every class: log-uniform 8 B ..= 128 KiB, 1% large.
fn random_size(rng: &mut Rng) -> usize {
    if rng.below(400) == 0 {
        return 128 * 1024 + rng.below(1 << 20) as usize;
    }
    let bits = 3 + rng.below(15) as u32; // 8 .. 128 KiB
    let lo = 1usize << bits;
    (lo + rng.below(lo as u64) as usize).min(128 * 1024)
}

fn random_align(rng: &mut Rng) -> usize {
    match rng.below(20) {
        0 => 64,
        1 => 4096,
        2 => 16,
        _ => 8,
    }
}

/// The pattern word at word index `w` (w >= 1) of a block with `seed`.
fn pattern_word(seed: u64, w: usize) -> u64 {
    (seed | 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// The pattern byte at offset `i` (i >= 8).
fn pattern(seed: u64, i: usize) -> u8 {
    (pattern_word(seed, i / 8) >> (8 * (i % 8))) as u8
}

/// Block header (first word): size, log2 align, seed; then the pattern.
fn fill(ptr: *mut u8, size: usize, align: usize, seed: u64) {
    let seed = seed & 0xffff_ffff;
    // SAFETY (test): `ptr` is a fresh block of `size >= 8` bytes, 8-aligned.
    unsafe {
        ptr.cast::<u64>()
            .write((size as u64) << 40 | (align.trailing_zeros() as u64) << 32 | seed);
        let words = std::slice::from_raw_parts_mut(ptr.cast::<u64>(), size / 8);
        for (w, word) in words.iter_mut().enumerate().skip(1) {
            *word = pattern_word(seed, w);
        }
        for i in (size / 8 * 8).max(8)..size {
            ptr.add(i).write(pattern(seed, i));
        }
    }
}

/// Check the pattern; returns (size, align) or None if corrupted.
fn check(ptr: *mut u8) -> Option<(usize, usize)> {
    // SAFETY (test): `ptr` is a live block written by `fill`.
    unsafe {
        let head = ptr.cast::<u64>().read();
        let size = (head >> 40) as usize;
        let align = 1usize << ((head >> 32) & 0xff);
        let seed = head & 0xffff_ffff;
        if size < 8 || ptr as usize % align != 0 {
            return None;
        }
        let words = std::slice::from_raw_parts(ptr.cast::<u64>(), size / 8);
        if words
            .iter()
            .enumerate()
            .skip(1)
            .any(|(w, &word)| word != pattern_word(seed, w))
        {
            return None;
        }
        if ((size / 8 * 8).max(8)..size).any(|i| ptr.add(i).read() != pattern(seed, i)) {
            return None;
        }
        Some((size, align))
    }
}

#[test]
fn stress_blocks_survive_remote_frees_and_thread_churn() {
    let rounds = knob("TINYALLOC_STRESS_ROUNDS", 8);
    let threads = knob("TINYALLOC_STRESS_THREADS", 8);
    let ops = knob("TINYALLOC_STRESS_OPS", 6_000);
    const SLOTS: usize = 4096;
    let slots: Vec<AtomicPtr<u8>> = (0..SLOTS)
        .map(|_| AtomicPtr::new(std::ptr::null_mut()))
        .collect();
    let allocated = AtomicUsize::new(0);
    let freed = AtomicUsize::new(0);
    let corrupted = AtomicUsize::new(0);
    let reallocated = AtomicUsize::new(0);

    let free_checked = |ptr: *mut u8| {
        match check(ptr) {
            Some((size, align)) => {
                // SAFETY (test): the block is live and was allocated with this layout.
                unsafe { TinyAlloc.dealloc(ptr, Layout::from_size_align(size, align).unwrap()) };
            }
            None => {
                corrupted.fetch_add(1, Ordering::Relaxed);
            }
        }
        freed.fetch_add(1, Ordering::Relaxed);
    };

    for round in 0..rounds {
        std::thread::scope(|s| {
            for t in 0..threads {
                let (slots, allocated, reallocated, free_checked) =
                    (&slots, &allocated, &reallocated, &free_checked);
                s.spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((round * 1000 + t) as u64 + 1));
                    let mut own: Vec<*mut u8> = Vec::new();
                    for _ in 0..ops {
                        let size = random_size(&mut rng);
                        let align = random_align(&mut rng);
                        let layout = Layout::from_size_align(size.max(8), align).unwrap();
                        // SAFETY (test): non-zero size.
                        let mut ptr = unsafe { TinyAlloc.alloc(layout) };
                        assert!(!ptr.is_null(), "out of memory for {layout:?}");
                        assert_eq!(ptr as usize % align, 0, "{ptr:p} not aligned to {align}");
                        allocated.fetch_add(1, Ordering::Relaxed);
                        fill(ptr, layout.size(), align, rng.next());
                        if rng.below(16) == 0 {
                            // Resize, check the prefix survived, refill.
                            let new_size = random_size(&mut rng).max(8);
                            let before = check(ptr).expect("fresh block corrupted");
                            // SAFETY (test): live block with this layout.
                            let moved = unsafe { TinyAlloc.realloc(ptr, layout, new_size) };
                            assert!(!moved.is_null());
                            let keep = before.0.min(new_size);
                            // Rewrite the header for the new size, then verify the
                            // rest of the kept prefix against the old pattern.
                            // SAFETY (test): `moved` holds at least `keep` bytes.
                            let head = unsafe { moved.cast::<u64>().read() };
                            let seed = head & 0xffff_ffff;
                            for i in 8..keep {
                                // SAFETY (test): in bounds.
                                let byte = unsafe { moved.add(i).read() };
                                assert_eq!(byte, pattern(seed, i), "realloc lost byte {i}");
                            }
                            if moved as usize % align != 0 {
                                panic!("realloc broke alignment {align}");
                            }
                            fill(moved, new_size, align, seed);
                            ptr = moved;
                            reallocated.fetch_add(1, Ordering::Relaxed);
                        }
                        match rng.below(4) {
                            // Keep it for later, free locally.
                            0 => own.push(ptr),
                            // Free now (local).
                            1 => free_checked(ptr),
                            // Hand it to the slot array; whatever was there is
                            // freed here (often another thread's block: remote).
                            _ => {
                                let slot = rng.below(SLOTS as u64) as usize;
                                let old = slots[slot].swap(ptr, Ordering::AcqRel);
                                if !old.is_null() {
                                    free_checked(old);
                                }
                            }
                        }
                        if own.len() > 256 {
                            let victim = own.swap_remove(rng.below(own.len() as u64) as usize);
                            free_checked(victim);
                        }
                    }
                    for ptr in own {
                        free_checked(ptr);
                    }
                });
            }
        });
    }
    for slot in &slots {
        let ptr = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !ptr.is_null() {
            free_checked(ptr);
        }
    }
    let (a, f, c) = (
        allocated.load(Ordering::Relaxed),
        freed.load(Ordering::Relaxed),
        corrupted.load(Ordering::Relaxed),
    );
    eprintln!(
        "stress: {rounds} rounds x {threads} threads x {ops} ops: {a} blocks allocated, {f} freed, {} resized, {c} corrupted",
        reallocated.load(Ordering::Relaxed)
    );
    assert_eq!(c, 0, "{c} blocks failed their pattern check");
    assert_eq!(a, f, "blocks allocated and freed differ: {a} vs {f}");
    assert_eq!(a, rounds * threads * ops);
}
