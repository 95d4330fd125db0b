//! Configuration from the environment: the `TINYALLOC_*` variables, read
//! once before `main` by an `.init_array` constructor, with `getenv` and a
//! hand-written parser, so nothing allocates (the constructor may run inside
//! a program whose `malloc` is this allocator).
//!
//! | variable | value | default |
//! |---|---|---|
//! | `TINYALLOC_PURGE_DELAY_MS` | milliseconds a freed region stays committed before it is purged (0 to 3600000) | 100 |
//! | `TINYALLOC_CACHE_LIMIT` | fixed bound of the free-region cache, bytes with an optional `K`, `M` or `G` suffix (binary); 0 disables the cache | 8 MiB plus the memory in use |
//!
//! An empty variable counts as unset. A bad value gets one line on stderr
//! and the default, never a crash. A program's own calls (such as
//! [`crate::raw::set_cache_limit`]) run later and win. `TINYALLOC_SHOW_STATS`
//! belongs to the C library (`libtinyalloc.so`), which reads it itself.
//!
//! Invariant: the values here are written only by the constructor, before
//! `main`; readers may see the default on paths that ran earlier.

// Under loom the environment is not read (models start from the defaults).
#![cfg_attr(feature = "loom", allow(dead_code, unused_imports))]
use crate::segment;
use crate::sync::{AtomicU64, Ordering};
use core::ffi::CStr;

/// The largest purge delay accepted: an hour.
const MAX_PURGE_DELAY_MS: u64 = 3_600_000;

#[cfg(not(feature = "loom"))]
static PURGE_DELAY_MS: AtomicU64 = AtomicU64::new(segment::PURGE_DELAY_MS);

/// Under loom: the default (no environment, no process-wide loom atomic).
#[cfg(feature = "loom")]
#[inline]
pub(crate) fn purge_delay_ms() -> u64 {
    segment::PURGE_DELAY_MS
}

/// How long a free region may stay committed in the cache, in milliseconds.
#[cfg(not(feature = "loom"))]
#[inline]
pub(crate) fn purge_delay_ms() -> u64 {
    // Relaxed: a tunable written once before `main`; a purge pass that reads
    // the default instead only purges earlier or later, never wrongly.
    PURGE_DELAY_MS.load(Ordering::Relaxed)
}

/// glibc and musl call `.init_array` entries once the object is relocated,
/// before `main` (and, in a shared library, before the program's own
/// constructors).
#[cfg(all(not(feature = "loom"), any(target_os = "linux", target_os = "android")))]
#[used]
#[link_section = ".init_array"]
static READ_ENVIRONMENT: extern "C" fn() = read_environment;

#[cfg(not(feature = "loom"))]
extern "C" fn read_environment() {
    if let Some(value) = variable(c"TINYALLOC_PURGE_DELAY_MS") {
        match parse_number(value) {
            Some(ms) if ms <= MAX_PURGE_DELAY_MS => {
                PURGE_DELAY_MS.store(ms, Ordering::Relaxed);
            }
            _ => warn(
                b"TINYALLOC_PURGE_DELAY_MS",
                value,
                b"milliseconds from 0 to 3600000",
            ),
        }
    }
    if let Some(value) = variable(c"TINYALLOC_CACHE_LIMIT") {
        match parse_bytes(value) {
            Some(bytes) => segment::set_cache_limit(bytes),
            None => warn(
                b"TINYALLOC_CACHE_LIMIT",
                value,
                b"a byte count such as 0, 65536, 512K, 64M or 1G",
            ),
        }
    }
}

/// The value of `name`, if set and not empty.
fn variable(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: a NUL-terminated name; `getenv` allocates nothing and returns
    // null or a NUL-terminated string of the environment, which nothing
    // changes before `main`.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: as above: a NUL-terminated string that outlives this read.
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    (!bytes.is_empty()).then_some(bytes)
}

/// A decimal number without sign or spaces; `None` if anything else or if
/// it overflows.
fn parse_number(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A byte count: a decimal number with an optional binary suffix `K`, `M`
/// or `G` (either case, optionally followed by `B` or `iB`).
fn parse_bytes(text: &[u8]) -> Option<usize> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, suffix) = text.split_at(digits);
    let shift = match suffix {
        [] | [b'B' | b'b'] => 0,
        [unit] | [unit, b'B' | b'b'] | [unit, b'i', b'B' | b'b'] => match unit.to_ascii_uppercase()
        {
            b'K' => 10,
            b'M' => 20,
            b'G' => 30,
            _ => return None,
        },
        _ => return None,
    };
    let value = parse_number(number)?;
    let bytes = value.checked_mul(1 << shift)?;
    usize::try_from(bytes).ok()
}

/// One line on stderr: the variable, its value (truncated) and what was
/// expected; formatted on the stack.
fn warn(name: &[u8], value: &[u8], expected: &[u8]) {
    let mut line = [0u8; 256];
    let mut len = 0;
    let value = &value[..value.len().min(64)];
    for part in [
        b"tinyalloc: ignoring " as &[u8],
        name,
        b"=",
        value,
        b" (expected ",
        expected,
        b"); using the default\n",
    ] {
        let take = part.len().min(line.len() - len);
        line[len..len + take].copy_from_slice(&part[..take]);
        len += take;
    }
    // SAFETY: the range lies inside `line`. A failed write is ignored: the
    // default applies either way.
    unsafe { libc::write(2, line.as_ptr().cast(), len) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_and_reject_what_they_should() {
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b"250"), Some(250));
        assert_eq!(parse_number(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"-1",
            b" 1",
            b"1.5",
            b"1e3",
        ] {
            assert_eq!(parse_number(bad), None, "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes(b"0"), Some(0));
        assert_eq!(parse_bytes(b"65536"), Some(65536));
        assert_eq!(parse_bytes(b"512K"), Some(512 << 10));
        assert_eq!(parse_bytes(b"64m"), Some(64 << 20));
        assert_eq!(parse_bytes(b"64MiB"), Some(64 << 20));
        assert_eq!(parse_bytes(b"2GB"), Some(2 << 30));
        assert_eq!(parse_bytes(b"100B"), Some(100));
        for bad in [&b""[..], b"M", b"12T", b"12 M", b"lots", b"12MM", b"-5"] {
            assert_eq!(parse_bytes(bad), None, "{:?}", core::str::from_utf8(bad));
        }
        // Overflow of the shifted value.
        assert_eq!(parse_bytes(b"17179869184G"), None);
    }
}
