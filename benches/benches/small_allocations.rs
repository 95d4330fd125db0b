//! `small_allocations/<allocator>/{pair_64B, batch_1000x64B}`: every
//! allocator's `GlobalAlloc` called directly, all in one binary.

use std::alloc::GlobalAlloc;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use tinyalloc_bench::{for_each_peer, micro};

#[path = "common/mod.rs"]
mod common;

fn pair<A: GlobalAlloc + Sync>(name: &str, a: &'static A, g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(BenchmarkId::new(name, "pair_64B"), |b| {
        b.iter(|| micro::small_pair(a))
    });
}

fn batch<A: GlobalAlloc + Sync>(name: &str, a: &'static A, g: &mut BenchmarkGroup<'_, WallTime>) {
    let mut slots = Vec::with_capacity(micro::BATCH);
    g.bench_function(BenchmarkId::new(name, "batch_1000x64B"), |b| {
        b.iter(|| micro::small_batch(a, &mut slots))
    });
}

fn small_allocations(c: &mut Criterion) {
    let mut g = c.benchmark_group("small_allocations");
    g.throughput(Throughput::Elements(1));
    for_each_peer!(pair, &mut g);
    g.throughput(Throughput::Elements(micro::BATCH as u64));
    for_each_peer!(batch, &mut g);
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = small_allocations
}
criterion_main!(benches);
