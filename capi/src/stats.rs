//! `TINYALLOC_SHOW_STATS=1`: count the C ABI's calls and print them on
//! standard error at exit, proving which allocator served the program (the
//! core library reads the same variable and prints its figures' line).
//!
//! Everything here is allocation-free: the variable is read with `getenv` in
//! an `.init_array` constructor, the summary is registered with `atexit`,
//! formatted by hand into a stack buffer and written with `write(2)` to a
//! duplicate of the standard error the process started with (programs may
//! close fd 2 in their own exit handlers, which run before ours), and only
//! while that descriptor still refers to the same file.
//!
//! Counting costs `malloc`, `calloc` and `free` nothing when the summary is
//! off: turning it on empties the heaps' `malloc` slots and keeps paged
//! segments' page shifts off the segment map
//! (`raw::route_calls_to_slow_paths`), so every call misses its fast path
//! and is counted on the slow one. `realloc` folds the switch into the
//! bound its fast path tests anyway ([`realloc_fast_below`]: one load),
//! which turning the summary on moves past every value. Other calls test
//! [`enabled`] (a relaxed load and a branch not taken).
//! When it is on, each call adds one to a counter in one of [`SHARDS`]
//! cache-line-sized shards picked by thread, so threads rarely share a line.
//! These atomics are statistics only: no allocator protocol depends on them.

use core::ffi::{c_char, c_int};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tinyalloc_core::raw;

/// The counted entry points.
#[derive(Clone, Copy)]
pub(crate) enum Call {
    Malloc,
    Calloc,
    Realloc,
    Aligned,
    Free,
    /// C++ `operator new` in all its forms.
    New,
    /// C++ `operator delete` in all its forms.
    Delete,
}

const CALLS: usize = 7;
const NAMES: [&[u8]; CALLS] = [
    b"malloc ",
    b" calloc ",
    b" realloc ",
    b" aligned ",
    b" free ",
    b" new ",
    b" delete ",
];
/// Counter shards; threads pick one by hashing their thread id.
const SHARDS: usize = 16;

#[repr(align(64))]
struct Shard([AtomicU64; CALLS]);

static ENABLED: AtomicBool = AtomicBool::new(false);
/// `realloc` of a live block takes its fast path when `size - 1` (wrapping)
/// is below this: sizes 1..=`isize::MAX`, or none while counting.
static REALLOC_FAST_BELOW: AtomicUsize = AtomicUsize::new(isize::MAX as usize);
static COUNTS: [Shard; SHARDS] = [const { Shard([const { AtomicU64::new(0) }; CALLS]) }; SHARDS];

/// `realloc(ptr, size)` of a live block may take its fast path if
/// `size.wrapping_sub(1)` is below this (so never for 0 or past `isize::MAX`).
#[inline(always)]
pub(crate) fn realloc_fast_below() -> usize {
    // Relaxed: a statistics switch, set once before `main`.
    REALLOC_FAST_BELOW.load(Ordering::Relaxed)
}

/// Whether the summary is on (calls are counted).
#[inline(always)]
pub(crate) fn enabled() -> bool {
    // Relaxed: a statistics switch, set once before `main`.
    ENABLED.load(Ordering::Relaxed)
}

/// Count one call of `call` (when the summary is on).
#[inline(always)]
pub(crate) fn count(call: Call) {
    if enabled() {
        count_slow(call);
    }
}

/// Count one call of `call`.
#[cold]
#[inline(never)]
pub(crate) fn count_slow(call: Call) {
    // SAFETY: `pthread_self` only reads the thread pointer.
    let id = unsafe { libc::pthread_self() } as u64;
    // Thread ids are addresses of thread control blocks: mix the high bits in.
    let shard = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS;
    COUNTS[shard].0[call as usize].fetch_add(1, Ordering::Relaxed);
}

fn total(call: usize) -> u64 {
    COUNTS
        .iter()
        .map(|shard| shard.0[call].load(Ordering::Relaxed))
        .sum()
}

/// The constructor: glibc calls `.init_array` entries with `argc`, `argv`
/// and `envp` once the library is relocated, before `main`.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = init;

extern "C" fn init(_argc: c_int, _argv: *const *const c_char, _envp: *const *const c_char) {
    // SAFETY: a NUL-terminated name; `getenv` returns a pointer into the
    // environment (or null) and allocates nothing.
    let value = unsafe { libc::getenv(c"TINYALLOC_SHOW_STATS".as_ptr()) };
    if !is_set(value) {
        return;
    }
    // Keep a private copy of standard error: programs may close fd 2 in
    // their own exit handlers (GNU coreutils' `close_stdout` does), which run
    // before ours (`raw::capture_stderr`, shared with the core's stats line).
    if !raw::capture_stderr() {
        return;
    }
    ENABLED.store(true, Ordering::Relaxed);
    raw::route_calls_to_slow_paths();
    REALLOC_FAST_BELOW.store(0, Ordering::Relaxed);
    // SAFETY: `summary` is an `extern "C" fn()` that lives as long as the
    // process (or this library, whose unload runs it).
    unsafe { libc::atexit(summary) };
}

/// Whether a `getenv` result switches the summary on: set, and neither
/// empty nor "0".
fn is_set(value: *const c_char) -> bool {
    if value.is_null() {
        return false;
    }
    // SAFETY: a non-null `getenv` result is a NUL-terminated string, so its
    // second byte is readable when its first is not the terminator.
    let (first, second) = unsafe {
        (
            *value as u8,
            if *value == 0 { 0 } else { *value.add(1) as u8 },
        )
    };
    !(first == 0 || (first == b'0' && second == 0))
}

/// The exit handler: one line of call counts (the allocator's figures are
/// the core's stats-on-exit line, switched on by the same variable).
extern "C" fn summary() {
    let mut line = raw::ExitLine::new();
    line.push(b"tinyalloc: ");
    for (call, name) in NAMES.iter().enumerate() {
        line.push(name);
        line.number(total(call));
    }
    line.push(b"\n");
    raw::write_line(&line);
}
