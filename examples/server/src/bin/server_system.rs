//! The JSON service with the system allocator (glibc malloc) as the global allocator.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    tinyalloc_server_example::serve_main("system");
}
