//! Runs one multi-thread workload with mimalloc as the global allocator;
//! see `tinyalloc_bench::workload::child_main` for the arguments.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tinyalloc_bench::workload::child_main("mimalloc");
}
