//! `ini_parsing/tinyalloc`: the INI parse with tinyalloc as the global allocator.
//! One bench binary per allocator (a global allocator is fixed per binary);
//! all of them report into the criterion group `ini_parsing`.

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

fn ini_parsing(c: &mut Criterion) {
    common::ini_parsing(c, "tinyalloc");
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = ini_parsing
}
criterion_main!(benches);
