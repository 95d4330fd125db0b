//! Scratch (not committed): stats() at the highest-RSS sample of a workload.
#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

fn rss_kb() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 4
}

fn main() {
    std::thread::spawn(|| {
        let mut best = 0;
        let mut line = String::with_capacity(1024);
        loop {
            std::thread::sleep(std::time::Duration::from_micros(500));
            let r = rss_kb();
            if r > best {
                best = r;
                let s = tinyalloc::stats();
                let k = |x: usize| x / 1024;
                line.clear();
                use std::fmt::Write;
                let _ = write!(line,
                    "rss {r} | segs {}+{} cached {} cdirty {} | small in_pages {} carved {} live {} fdirty {} ab {} abl {} | med in_pages {} carved {} live {} fdirty {} | heaps {} large {}",
                    s.small.segments, s.medium.segments, k(s.cached_bytes), k(s.cached_dirty_bytes),
                    k(s.small.in_pages), k(s.small.carved), k(s.small.live), k(s.small.free_dirty), s.small.abandoned_segments, k(s.small.abandoned_live),
                    k(s.medium.in_pages), k(s.medium.carved), k(s.medium.live), k(s.medium.free_dirty),
                    s.live_heaps, k(s.large_bytes));
                eprintln!("{line}");
            }
        }
    });
    tinyalloc_bench::workload::child_main("tinyalloc");
}
