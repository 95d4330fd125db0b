//! `ini_parsing/mimalloc`: the INI parse with mimalloc as the global allocator
//! (the bench itself is `common::ini_parsing_bench!`).

#[path = "common/mod.rs"]
#[macro_use]
mod common;

ini_parsing_bench!("mimalloc", mimalloc::MiMalloc);
