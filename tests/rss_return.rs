//! Memory goes back to the kernel: after 1 GiB in large and small blocks is
//! freed and `collect` runs, the process RSS is back within 10% (of the peak
//! above baseline) of where it started. Its own binary: RSS is per process.
#![cfg(not(feature = "loom"))]

use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_bytes;

/// The two phases share one test: RSS is per process, so they must not overlap.
#[test]
fn freed_memory_returns_to_the_os() {
    freed_memory_returns_to_the_os_after_collect();
    free_pages_of_partly_used_segments_return_to_the_os_after_collect();
}

fn freed_memory_returns_to_the_os_after_collect() {
    let baseline = rss_bytes();
    let mut large: Vec<Vec<u8>> = Vec::new();
    let mut small: Vec<Box<[u8]>> = Vec::new();
    // 512 MiB in large blocks of 1..8 MiB.
    let mut total = 0usize;
    let mut i = 0usize;
    while total < 512 << 20 {
        let size = (1 + i % 8) << 20;
        large.push(vec![(i % 255) as u8 + 1; size]);
        total += size;
        i += 1;
    }
    // 512 MiB in small blocks of 16 B .. 16 KiB.
    let mut total_small = 0usize;
    while total_small < 512 << 20 {
        let size = 16 << (i % 11);
        small.push(vec![(i % 255) as u8 + 1; size].into_boxed_slice());
        total_small += size;
        i += 1;
    }
    let peak = rss_bytes();
    assert!(
        peak >= baseline + (900 << 20),
        "the blocks were not touched? rss {peak} vs baseline {baseline}"
    );
    assert!(large.iter().all(|b| b[0] != 0 && b[b.len() - 1] == b[0]));
    assert!(small.iter().all(|b| b[0] != 0 && b[b.len() - 1] == b[0]));
    drop(large);
    drop(small);
    tinyalloc::collect();
    let after = rss_bytes();
    let bound = baseline + (peak - baseline) / 10;
    eprintln!(
        "rss: baseline {} MiB, peak {} MiB, after collect {} MiB (bound {} MiB)",
        baseline >> 20,
        peak >> 20,
        after >> 20,
        bound >> 20
    );
    assert!(
        after <= bound,
        "rss after collect {after} above {bound} (baseline {baseline}, peak {peak})"
    );
}

fn free_pages_of_partly_used_segments_return_to_the_os_after_collect() {
    let baseline = rss_bytes();
    let mut blocks: Vec<Box<[u8; 256]>> = (0..1_000_000)
        .map(|i| Box::new([(i % 251) as u8 + 1; 256]))
        .collect();
    let peak = rss_bytes();
    // Keep one block in 20,000 (a segment holds 16,384 such blocks): nearly
    // every segment keeps a live block, yet nearly all of its pages are empty.
    let kept: Vec<Box<[u8; 256]>> = blocks.drain(..).step_by(20_000).collect();
    drop(blocks);
    tinyalloc::collect();
    let after = rss_bytes();
    let bound = baseline + (peak - baseline) / 10;
    eprintln!(
        "fragmented: baseline {} MiB, peak {} MiB, after {} MiB (bound {} MiB)",
        baseline >> 20,
        peak >> 20,
        after >> 20,
        bound >> 20
    );
    assert!(
        kept.iter().all(|b| b[0] != 0 && b[255] == b[0]),
        "kept blocks corrupted by purging"
    );
    assert!(
        after <= bound,
        "rss after collect {after} above {bound} (baseline {baseline}, peak {peak})"
    );
}
