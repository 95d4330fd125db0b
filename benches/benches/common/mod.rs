//! Shared by the criterion bench binaries (included with `#[path]`).

#![allow(dead_code)] // each bench binary uses part of this module

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use tinyalloc_bench::ini;

/// Criterion settings: shorter than the defaults (5 s per benchmark) so the
/// whole suite runs in a few minutes on a 2-core machine.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// `ini_parsing/<allocator>`: parse a generated ~8 KiB INI document into
/// nested `HashMap`s with `allocator` installed as the global allocator.
pub fn ini_parsing(c: &mut Criterion, allocator: &str) {
    let doc = ini::generate(ini::DocShape::default(), 1);
    let mut g = c.benchmark_group("ini_parsing");
    g.bench_function(allocator, |b| {
        b.iter(|| ini::digest(&ini::parse(black_box(&doc))))
    });
    g.finish();
}

/// The whole `ini_parsing` bench binary for one allocator:
/// `ini_parsing_bench!("name", path::To::Allocator)` installs the
/// allocator (a unit struct) as `#[global_allocator]`, which is fixed per
/// binary, hence one small bench file per allocator, and runs
/// [`ini_parsing`] under the id `ini_parsing/name`.
#[allow(unused_macros)] // only the ini_parsing* binaries use it
macro_rules! ini_parsing_bench {
    ($name:literal, $allocator:path) => {
        #[global_allocator]
        static GLOBAL: $allocator = $allocator;

        fn ini_parsing(c: &mut criterion::Criterion) {
            common::ini_parsing(c, $name);
        }

        criterion::criterion_group! {
            name = benches;
            config = common::config();
            targets = ini_parsing
        }
        criterion::criterion_main!(benches);
    };
}
