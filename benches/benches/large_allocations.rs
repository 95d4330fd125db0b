//! `large_allocations/<allocator>/{pair_1MiB, realloc_16B_to_256KiB}`:
//! every allocator's `GlobalAlloc` called directly, all in one binary.

use std::alloc::GlobalAlloc;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use tinyalloc_bench::{for_each_peer, micro};

#[path = "common/mod.rs"]
mod common;

fn pair<A: GlobalAlloc + Sync>(name: &str, a: &'static A, g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(BenchmarkId::new(name, "pair_1MiB"), |b| {
        b.iter(|| micro::large_pair(a))
    });
}

fn realloc<A: GlobalAlloc + Sync>(name: &str, a: &'static A, g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(BenchmarkId::new(name, "realloc_16B_to_256KiB"), |b| {
        b.iter(|| micro::realloc_chain(a))
    });
}

fn large_allocations(c: &mut Criterion) {
    let mut g = c.benchmark_group("large_allocations");
    for_each_peer!(pair, &mut g);
    for_each_peer!(realloc, &mut g);
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = large_allocations
}
criterion_main!(benches);
