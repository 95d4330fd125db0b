//! Runs one multi-thread workload with rpmalloc as the global allocator;
//! see `tinyalloc_bench::workload::child_main` for the arguments.

#[global_allocator]
static GLOBAL: rpmalloc::RpMalloc = rpmalloc::RpMalloc;

fn main() {
    tinyalloc_bench::workload::child_main("rpmalloc");
}
