//! The per-request arena pattern: a request allocates 100,000 blocks of
//! 16..1024 B (and keeps them all live), then everything goes at once.
//! Compared, with tinyalloc as the global allocator:
//!
//! - `heap-destroy`: the blocks in a `tinyalloc::Heap`, ended by `destroy`;
//! - `heap-free-each`: the same heap, every block freed with `Heap::dealloc`;
//! - `global-free-each`: the blocks from the global allocator (the thread's
//!   heap), every block freed one by one;
//! - `bumpalo-reset`: the blocks in a `bumpalo::Bump` kept across requests
//!   (its chunks come from tinyalloc), ended by `reset` (for reference: a
//!   bump arena cannot free one block, and reuses its largest chunk).
//!
//! For each, per round: the time of the allocation phase and of the end
//! phase, and the kernel calls (`tinyalloc::stats().os`) and minor page
//! faults (`getrusage`) of each phase. Each measured request follows an
//! unmeasured one of the same contender (the steady state of a server);
//! rounds interleave the four so that machine noise hits them alike; the
//! table gives medians (min..max).
//!
//! A second table shows that destroy costs pages, not blocks: 32 MiB of
//! live blocks of one size, 16 B to 4 KiB (2,097,152 to 8,192 blocks).
//!
//! `cargo run --release -p tinyalloc-bench --bin request_arena [-- ROUNDS]`

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::time::Instant;
use tinyalloc::{Heap, TinyAlloc};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const BLOCKS: usize = 100_000;

/// xorshift64*: the same sizes for every contender.
fn sizes() -> Vec<usize> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..BLOCKS)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            16 + (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % 1009) as usize
        })
        .collect()
}

/// Kernel calls so far (mmap + munmap + madvise + mremap) and minor faults.
fn counters() -> (usize, u64) {
    let os = tinyalloc::stats().os;
    // SAFETY: `usage` is a valid out-pointer.
    let faults = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_minflt as u64
    };
    (
        os.map_calls + os.unmap_calls + os.purge_calls + os.move_calls,
        faults,
    )
}

/// One phase's figures.
#[derive(Clone, Copy, Default)]
struct Phase {
    ns: f64,
    syscalls: usize,
    faults: u64,
}

/// Run `f`, timing it and counting its kernel calls and faults.
fn phase<T>(f: impl FnOnce() -> T) -> (T, Phase) {
    let (calls, faults) = counters();
    let start = Instant::now();
    let out = f();
    let ns = start.elapsed().as_nanos() as f64;
    let (calls_after, faults_after) = counters();
    (
        out,
        Phase {
            ns,
            syscalls: calls_after - calls,
            faults: faults_after - faults,
        },
    )
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Touch a block as a request would (first and last byte).
///
/// # Safety
/// `block` is live and holds `size` bytes.
unsafe fn touch(block: *mut u8, size: usize) {
    // SAFETY: in bounds.
    unsafe {
        block.write(size as u8);
        block.add(size - 1).write(1);
    }
}

fn heap_round(sizes: &[usize], ptrs: &mut Vec<*mut u8>, destroy: bool) -> (Phase, Phase) {
    let heap = Heap::new();
    let ((), alloc) = phase(|| {
        for &size in sizes {
            let block = heap.alloc(layout(size));
            assert!(!block.is_null());
            // SAFETY: live, `size` bytes.
            unsafe { touch(block, size) };
            ptrs.push(block);
        }
    });
    let ((), end) = if destroy {
        phase(|| heap.destroy())
    } else {
        phase(|| {
            for (&block, &size) in ptrs.iter().zip(sizes) {
                // SAFETY: each block is live, freed once.
                unsafe { heap.dealloc(block, layout(size)) };
            }
            drop(heap);
        })
    };
    ptrs.clear();
    (alloc, end)
}

fn global_round(sizes: &[usize], ptrs: &mut Vec<*mut u8>) -> (Phase, Phase) {
    let ((), alloc) = phase(|| {
        for &size in sizes {
            // SAFETY: the size is not zero.
            let block = unsafe { TinyAlloc.alloc(layout(size)) };
            assert!(!block.is_null());
            // SAFETY: live, `size` bytes.
            unsafe { touch(block, size) };
            ptrs.push(block);
        }
    });
    let ((), end) = phase(|| {
        for (&block, &size) in ptrs.iter().zip(sizes) {
            // SAFETY: each block is live, freed once.
            unsafe { TinyAlloc.dealloc(block, layout(size)) };
        }
    });
    ptrs.clear();
    (alloc, end)
}

fn bump_round(
    bump: &mut bumpalo::Bump,
    sizes: &[usize],
    ptrs: &mut Vec<*mut u8>,
) -> (Phase, Phase) {
    let ((), alloc) = phase(|| {
        for &size in sizes {
            let block = bump.alloc_layout(layout(size)).as_ptr();
            // SAFETY: live, `size` bytes.
            unsafe { touch(block, size) };
            ptrs.push(block);
        }
    });
    black_box(&ptrs);
    ptrs.clear();
    let ((), end) = phase(|| bump.reset());
    (alloc, end)
}

fn median_min_max(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(21);
    let sizes = sizes();
    let total: usize = sizes.iter().sum();
    let mut ptrs = Vec::with_capacity(BLOCKS);
    let mut bump = bumpalo::Bump::new();
    const NAMES: [&str; 4] = [
        "heap-destroy",
        "heap-free-each",
        "global-free-each",
        "bumpalo-reset",
    ];
    let mut results: Vec<Vec<(Phase, Phase)>> =
        (0..4).map(|_| Vec::with_capacity(rounds)).collect();
    for _ in 0..rounds {
        for (which, result) in results.iter_mut().enumerate() {
            // Each measured request follows an unmeasured one of the same
            // contender: the steady state of a server repeating the pattern
            // (not the state another contender left behind).
            let mut run = || match which {
                0 => heap_round(&sizes, &mut ptrs, true),
                1 => heap_round(&sizes, &mut ptrs, false),
                2 => global_round(&sizes, &mut ptrs),
                _ => bump_round(&mut bump, &sizes, &mut ptrs),
            };
            run();
            result.push(run());
        }
    }
    println!(
        "{BLOCKS} live blocks of 16..1024 B ({:.1} MiB), {rounds} rounds; medians (min..max); \
         syscalls = mmap+munmap+madvise+mremap per phase, faults = minor page faults",
        total as f64 / (1 << 20) as f64
    );
    println!(
        "{:<17} {:>22} {:>9} {:>8} | {:>22} {:>9} {:>8} {:>9}",
        "contender",
        "alloc phase us",
        "syscalls",
        "faults",
        "end phase us",
        "syscalls",
        "faults",
        "ns/block"
    );
    for (name, result) in NAMES.iter().zip(&results) {
        let line = |pick: fn(&(Phase, Phase)) -> Phase| {
            let (median, min, max) =
                median_min_max(result.iter().map(|r| pick(r).ns / 1e3).collect());
            let syscalls = median_min_max(result.iter().map(|r| pick(r).syscalls as f64).collect());
            let faults = median_min_max(result.iter().map(|r| pick(r).faults as f64).collect());
            (
                format!("{median:.0} ({min:.0}..{max:.0})"),
                syscalls.0,
                faults.0,
                median,
            )
        };
        let (alloc, alloc_calls, alloc_faults, _) = line(|r| r.0);
        let (end, end_calls, end_faults, end_us) = line(|r| r.1);
        println!(
            "{name:<17} {alloc:>22} {alloc_calls:>9} {alloc_faults:>8} | {end:>22} {end_calls:>9} {end_faults:>8} {:>9.2}",
            end_us * 1e3 / BLOCKS as f64
        );
    }
    println!();
    println!("destroy of 32 MiB of live blocks of one size (medians of {rounds}):");
    println!(
        "{:>8} {:>9} {:>12} {:>12}",
        "size", "blocks", "destroy us", "ns/block"
    );
    for size in [16usize, 64, 256, 1024, 4096] {
        let count = (32 << 20) / size;
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let heap = Heap::new();
            for _ in 0..count {
                let block = heap.alloc(layout(size));
                assert!(!block.is_null());
                // SAFETY: live, `size` bytes.
                unsafe { touch(block, size) };
            }
            let ((), end) = phase(|| heap.destroy());
            times.push(end.ns / 1e3);
        }
        let (median, _, _) = median_min_max(times);
        println!(
            "{size:>8} {count:>9} {median:>12.1} {:>12.3}",
            median * 1e3 / count as f64
        );
    }
}
