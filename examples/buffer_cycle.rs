//! A program that allocates, fills and frees one big buffer over and over
//! (a per-request decode buffer, say): time per cycle and RSS after the
//! loop, by buffer size. Whether freed memory stays committed between cycles
//! decides the time: refaulting costs every page again.
//!
//! `cargo run --release --example buffer_cycle`

/// The measurement (the allocator is not built under loom).
#[cfg(not(feature = "loom"))]
mod measure {
    use std::alloc::{GlobalAlloc, Layout};
    use std::time::Instant;
    use tinyalloc::TinyAlloc;

    const MIB: usize = 1 << 20;

    fn rss_mib() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let pages: usize = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        pages * 4096 / MIB
    }

    pub fn main() {
        for size in [8 * MIB, 64 * MIB, 256 * MIB] {
            let layout = Layout::from_size_align(size, 16).unwrap();
            let cycles = 40;
            let start = Instant::now();
            for cycle in 0..cycles {
                // SAFETY: non-zero size; freed with its layout.
                unsafe {
                    let p = TinyAlloc.alloc(layout);
                    assert!(!p.is_null());
                    for offset in (0..size).step_by(4096) {
                        p.add(offset).write(cycle as u8);
                    }
                    TinyAlloc.dealloc(p, layout);
                }
            }
            let per_cycle = start.elapsed().as_secs_f64() * 1e3 / cycles as f64;
            let rss = rss_mib();
            tinyalloc::collect();
            println!(
                "{:>4} MiB buffer: {per_cycle:>7.2} ms per cycle; RSS {rss} MiB after the loop, {} MiB after collect()",
                size / MIB,
                rss_mib()
            );
        }
    }
}

fn main() {
    #[cfg(not(feature = "loom"))]
    measure::main();
}
