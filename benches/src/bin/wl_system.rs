//! Runs one multi-thread workload with the system allocator (glibc malloc) as the global allocator;
//! see `tinyalloc_bench::workload::child_main` for the arguments.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    tinyalloc_bench::workload::child_main("system");
}
