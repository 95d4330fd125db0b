//! The JSON service with tinyalloc as the global allocator.

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

fn main() {
    tinyalloc_server_example::serve_main("tinyalloc");
}
