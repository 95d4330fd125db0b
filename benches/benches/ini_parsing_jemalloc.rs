//! `ini_parsing/jemalloc`: the INI parse with jemalloc as the global allocator
//! (the bench itself is `common::ini_parsing_bench!`).

#[path = "common/mod.rs"]
#[macro_use]
mod common;

ini_parsing_bench!("jemalloc", tikv_jemallocator::Jemalloc);
