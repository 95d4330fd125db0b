//! Memory goes back to the kernel: after 1 GiB in large and small blocks is
//! freed and `collect` runs, the process RSS is back within 10% (of the peak
//! above baseline) of where it started. Its own binary: RSS is per process.
#![cfg(not(feature = "loom"))]

use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
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
