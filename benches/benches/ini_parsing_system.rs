//! `ini_parsing/system`: the INI parse with system as the global allocator
//! (the bench itself is `common::ini_parsing_bench!`).

#[path = "common/mod.rs"]
#[macro_use]
mod common;

ini_parsing_bench!("system", std::alloc::System);
