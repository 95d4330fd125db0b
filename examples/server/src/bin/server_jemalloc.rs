//! The JSON service with jemalloc as the global allocator.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    tinyalloc_server_example::serve_main("jemalloc");
}
