//! What `libtinyalloc.so` costs a process before it allocates: its
//! writable data. Initialised data (`.data`) is mapped from the file and
//! the kernel maps it in whole around the first access, so every byte of
//! it is resident in every process that preloads the library; zeroed data
//! (`.bss`) costs only the pages written. The allocator's shared state
//! (`state::Globals`, 44 KiB, most of it the arena table) must stay
//! all-zero at start, so that it lands in `.bss`.

mod common;

use std::process::Command;

/// The standard output of `program option <the library>` (binutils).
fn inspect(program: &str, option: &str) -> String {
    let out = Command::new(program)
        .arg(option)
        .arg(common::shared_library())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(out.status.success(), "{program} {option} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `readelf -SW` of the library: (section name, size in bytes) pairs.
fn section_sizes() -> Vec<(String, u64)> {
    inspect("readelf", "-SW")
        .lines()
        .filter_map(|line| {
            // "  [27] .data  PROGBITS  addr off size ..."
            let rest = line.trim_start().strip_prefix('[')?;
            let fields: Vec<&str> = rest.split(']').nth(1)?.split_whitespace().collect();
            let size = u64::from_str_radix(fields.get(4)?, 16).ok()?;
            Some((fields[0].to_string(), size))
        })
        .collect()
}

#[test]
fn initialised_data_is_small() {
    let sections = section_sizes();
    let data = sections
        .iter()
        .find(|(name, _)| name == ".data")
        .map(|&(_, size)| size)
        .expect("the library has a .data section");
    // About 6 KiB now (the sentinel heap, whose pages point at the empty
    // page, and the tunables); the global state put 50 KiB there when one
    // of its fields started non-zero.
    assert!(
        data <= 16 * 1024,
        ".data is {data} bytes: a large static with a non-zero initial value?"
    );
}

#[test]
fn global_state_is_zero_initialised() {
    let symbols = inspect("nm", "-S");
    let line = symbols
        .lines()
        .find(|line| line.contains("5state7GLOBALS"))
        .expect("the library has tinyalloc::state::GLOBALS");
    // "<address> <size> <type> <name>": `b`/`B` is `.bss`.
    let kind = line.split_whitespace().nth(2).expect("a symbol type");
    assert!(
        kind.eq_ignore_ascii_case("b"),
        "GLOBALS is not in .bss: {line}"
    );
}
