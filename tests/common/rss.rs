//! The process's resident set, for the tests that check memory goes back
//! (each in its own binary: RSS is per process).
#![allow(dead_code)]

/// Resident bytes of this process now (`/proc/self/statm`).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident field of statm");
    // SAFETY: `sysconf` reads a value and touches no memory of ours.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}
