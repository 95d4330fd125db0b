//! The JSON service with mimalloc as the global allocator.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tinyalloc_server_example::serve_main("mimalloc");
}
