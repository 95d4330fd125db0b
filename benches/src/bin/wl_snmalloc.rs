//! Runs one multi-thread workload with snmalloc as the global allocator;
//! see `tinyalloc_bench::workload::child_main` for the arguments.

#[global_allocator]
static GLOBAL: snmalloc_rs::SnMalloc = snmalloc_rs::SnMalloc;

fn main() {
    tinyalloc_bench::workload::child_main("snmalloc");
}
