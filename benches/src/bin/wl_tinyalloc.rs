//! Runs one multi-thread workload with tinyalloc as the global allocator;
//! see `tinyalloc_bench::workload::child_main` for the arguments.

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

fn main() {
    tinyalloc_bench::workload::child_main_with("tinyalloc", Some(tinyalloc::release_thread_heap));
}
