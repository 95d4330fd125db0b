//! `ini_parsing/jemalloc`: the INI parse with jemalloc as the global allocator.
//! One bench binary per allocator (a global allocator is fixed per binary);
//! all of them report into the criterion group `ini_parsing`.

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn ini_parsing(c: &mut Criterion) {
    common::ini_parsing(c, "jemalloc");
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = ini_parsing
}
criterion_main!(benches);
