//! `mixed_workload/<allocator>`: one step of the sliding window of 256 live
//! blocks of sizes 8..=4096 (free the oldest, allocate a new one), every
//! allocator's `GlobalAlloc` called directly, all in one binary.

use std::alloc::GlobalAlloc;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use tinyalloc_bench::{for_each_peer, micro};

#[path = "common/mod.rs"]
mod common;

fn step<A: GlobalAlloc + Sync>(name: &str, a: &'static A, g: &mut BenchmarkGroup<'_, WallTime>) {
    let mut window = micro::MixedWindow::new(a);
    g.bench_function(name, |b| b.iter(|| window.step(a)));
    window.finish(a);
}

fn mixed_workload(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixed_workload");
    for_each_peer!(step, &mut g);
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = mixed_workload
}
criterion_main!(benches);
