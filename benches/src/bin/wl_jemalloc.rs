//! Runs one multi-thread workload with jemalloc as the global allocator;
//! see `tinyalloc_bench::workload::child_main` for the arguments.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    tinyalloc_bench::workload::child_main("jemalloc");
}
