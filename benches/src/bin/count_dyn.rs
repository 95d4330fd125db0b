//! Alloc + free through `&dyn GlobalAlloc` with a run-time `Layout`, for
//! instruction counting (`scripts/count-instructions.sh`): the path a Rust
//! collection takes when the allocator's code cannot inline into it.
//!
//! ```text
//! count_dyn tinyalloc|mimalloc|jemalloc|system N [SIZE]
//! ```
//!
//! Runs N alloc + dealloc pairs of SIZE bytes (default 64), align 8. Count
//! under callgrind with N and 2N; the difference divided by N is one pair.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: count_dyn tinyalloc|mimalloc|jemalloc|system N [SIZE]");
        std::process::exit(2);
    }
    let allocator: &dyn GlobalAlloc = match args[1].as_str() {
        "tinyalloc" => &tinyalloc::TinyAlloc,
        "mimalloc" => &mimalloc::MiMalloc,
        "jemalloc" => &tikv_jemallocator::Jemalloc,
        "system" => &System,
        other => {
            eprintln!("unknown allocator {other}");
            std::process::exit(2);
        }
    };
    let count: usize = args[2].parse().expect("N is a number");
    let size: usize = args
        .get(3)
        .map_or(64, |s| s.parse().expect("SIZE is a number"));
    let layout = Layout::from_size_align(size, 8).expect("valid layout");
    run(black_box(allocator), count, layout);
}

#[inline(never)]
fn run(allocator: &dyn GlobalAlloc, count: usize, layout: Layout) {
    for _ in 0..count {
        let layout = black_box(layout);
        // SAFETY: a non-zero size; the block is freed with its own layout.
        unsafe {
            let block = allocator.alloc(layout);
            assert!(!block.is_null());
            black_box(block);
            allocator.dealloc(block, layout);
        }
    }
}
