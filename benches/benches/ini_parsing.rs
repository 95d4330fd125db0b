//! `ini_parsing/tinyalloc`: the INI parse with tinyalloc as the global allocator
//! (the bench itself is `common::ini_parsing_bench!`).

#[path = "common/mod.rs"]
#[macro_use]
mod common;

ini_parsing_bench!("tinyalloc", tinyalloc::TinyAlloc);
