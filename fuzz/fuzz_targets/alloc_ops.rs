//! Differential fuzzing: the input bytes are a sequence of alloc / alloc_zeroed
//! / realloc / free operations with random layouts, applied to tinyalloc and
//! checked against the allocator contract (the same model as the property
//! test in `tests/differential.rs`).
//!
//!     cargo +nightly fuzz run alloc_ops -- -max_total_time=60
#![no_main]

#[path = "../../tests/common/alloc_model.rs"]
mod alloc_model;

use alloc_model::{Model, Op};
use libfuzzer_sys::fuzz_target;
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// Decode 4 bytes into one op: a selector, then a size spread over every class
/// and (rarely) the large path.
fn decode(chunk: &[u8]) -> Op {
    let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    let selector = chunk[0] % 10;
    let raw = (word >> 8) as usize;
    let size = match chunk[1] % 8 {
        0..=3 => raw % 512,
        4..=5 => raw % (16 << 10),
        6 => raw % (128 << 10),
        _ => raw % (3 << 20),
    };
    match selector {
        0..=4 => Op::Alloc {
            size,
            align_log2: chunk[2] % 14,
            zeroed: chunk[3] & 1 == 1,
        },
        5..=6 => Op::Realloc {
            index: chunk[3] as usize,
            new_size: size,
        },
        _ => Op::Free {
            index: chunk[2] as usize,
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut model = Model::new(&TinyAlloc);
    for chunk in data.chunks_exact(4).take(2000) {
        model.apply(&decode(chunk));
    }
});
