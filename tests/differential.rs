//! Property test: random sequences of alloc / alloc_zeroed / realloc / free
//! with random layouts, checked against the allocator contract by
//! `common::alloc_model` (alignment, no overlap, contents kept, zeroing).
#![cfg(not(feature = "loom"))]

#[path = "common/alloc_model.rs"]
mod alloc_model;

use alloc_model::{Model, Op};
use proptest::prelude::*;
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// Sizes spread over every class and the large path.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..=256,
        4 => 257usize..=16 * 1024,
        2 => 16 * 1024usize..=128 * 1024,
        1 => 128 * 1024usize..=3 << 20,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size(), prop_oneof![6 => 0u8..=4, 2 => 5u8..=12, 1 => 13u8..=22], any::<bool>())
            .prop_map(|(size, align_log2, zeroed)| Op::Alloc { size, align_log2, zeroed }),
        2 => (any::<usize>(), size()).prop_map(|(index, new_size)| Op::Realloc { index, new_size }),
        3 => any::<usize>().prop_map(|index| Op::Free { index }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("TINYALLOC_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operation_sequences_keep_the_allocator_contract(ops in proptest::collection::vec(op(), 1..400)) {
        let mut model = Model::new(&TinyAlloc);
        for op in &ops {
            model.apply(op);
        }
    }
}
