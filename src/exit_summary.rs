//! Stats on exit: one line of [`stats()`](crate::stats) on stderr when the
//! process exits, if `config`'s stats-on-exit tunable is on then.
//!
//! Allocation-free: the handler is registered once with `atexit` when the
//! tunable is first switched on (by the environment before `main`, a const
//! configuration on the first allocation, or a run-time call), and the line
//! is formatted on the stack and written with `write(2)`. It goes to a
//! duplicate of the standard error the process had at registration
//! (programs may close fd 2 in their own exit handlers, which run before
//! ours), and only while that descriptor still refers to the same file.
//!
//! [`Line`], [`capture_stderr`] and [`write_line`] are also the C library's
//! (`raw::ExitLine` ...), for its call-count line.
//!
//! Invariant: the handler is registered at most once per process.

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::ffi::c_int;

static REGISTERED: AtomicBool = AtomicBool::new(false);
static CAPTURED: AtomicBool = AtomicBool::new(false);
/// Where exit lines go: a duplicate of the standard error.
static OUTPUT: AtomicUsize = AtomicUsize::new(2);
/// What `OUTPUT` must still refer to (see [`identity_of`]).
static OUTPUT_IDENTITY: AtomicU64 = AtomicU64::new(0);

/// Register the exit handler, once.
pub(crate) fn register() {
    // Relaxed: only decides which caller registers; the handler reads the
    // tunable and the output at exit, after every registration.
    if REGISTERED.load(Ordering::Relaxed) || REGISTERED.swap(true, Ordering::Relaxed) {
        return;
    }
    if capture_stderr() {
        // SAFETY: `at_exit` is an `extern "C" fn()` that lives as long as the
        // program (or the library, whose unload runs it).
        unsafe { libc::atexit(at_exit) };
    }
}

/// Keep a duplicate of the standard error the process has now, for lines
/// written at exit ([`write_line`]); once per process, later calls do
/// nothing. False if fd 2 is not open. Allocates nothing.
pub fn capture_stderr() -> bool {
    // Relaxed: as in `register`; the output is read at exit.
    if CAPTURED.load(Ordering::Relaxed) || CAPTURED.swap(true, Ordering::Relaxed) {
        return OUTPUT_IDENTITY.load(Ordering::Relaxed) != 0;
    }
    let Some(identity) = identity_of(2) else {
        return false;
    };
    // Close-on-exec, placed high, out of the way of programs that expect
    // the lowest free descriptors.
    // SAFETY: duplicating a descriptor touches no memory.
    let mut fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 200) };
    if fd < 0 {
        // SAFETY: as above (a descriptor limit below 200).
        fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
    }
    OUTPUT.store(if fd < 0 { 2 } else { fd as usize }, Ordering::Relaxed);
    OUTPUT_IDENTITY.store(identity | 1, Ordering::Relaxed);
    true
}

/// The device and inode behind `fd`, folded into one non-zero word.
fn identity_of(fd: c_int) -> Option<u64> {
    // SAFETY: `stat` is plain data, valid zeroed; `fstat` only writes it.
    let mut stat: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return None;
    }
    Some(((stat.st_dev as u64).rotate_left(32) ^ stat.st_ino as u64) | 1)
}

/// Write `line` to the standard error captured by [`capture_stderr`] if it
/// is still that file (programs may close fd 2 in their own exit handlers,
/// which run before ours), else to fd 2 if that still is; otherwise the line
/// has nowhere safe to go and is dropped.
pub fn write_line(line: &Line) {
    let expected = OUTPUT_IDENTITY.load(Ordering::Relaxed);
    let Some(fd) = [OUTPUT.load(Ordering::Relaxed) as c_int, 2]
        .into_iter()
        .find(|&fd| identity_of(fd) == Some(expected))
    else {
        return;
    };
    let mut written = 0;
    while written < line.len {
        // SAFETY: the range lies inside `line.bytes`.
        let done = unsafe {
            libc::write(
                fd,
                line.bytes[written..].as_ptr().cast(),
                line.len - written,
            )
        };
        if done <= 0 {
            break;
        }
        written += done as usize;
    }
}

/// A fixed buffer on the stack, appended to without allocating (text past
/// its 512 bytes is cut).
pub struct Line {
    bytes: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Line {
            bytes: [0; 512],
            len: 0,
        }
    }

    /// Append `text`.
    pub fn push(&mut self, text: &[u8]) {
        let take = text.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&text[..take]);
        self.len += take;
    }

    /// Append `value` in decimal.
    pub fn number(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        self.push(crate::config::decimal(value, &mut digits));
    }

    /// Append `bytes` in MiB with one decimal.
    pub fn mebibytes(&mut self, bytes: u64) {
        let tenths = (bytes * 10 + (1 << 19)) >> 20;
        self.number(tenths / 10);
        self.push(b".");
        self.number(tenths % 10);
        self.push(b" MiB");
    }
}

/// The line: `tinyalloc: mapped .. cached .. mmap .. munmap .. madvise ..
/// arenas .. regions .. abandoned .. heaps ..`.
fn format(line: &mut Line) {
    let stats = crate::stats();
    line.push(b"tinyalloc: mapped ");
    line.mebibytes(stats.os.mapped_bytes as u64);
    line.push(b" cached ");
    line.mebibytes(stats.cached_bytes as u64);
    for (name, value) in [
        (&b" mmap "[..], stats.os.map_calls),
        (b" munmap ", stats.os.unmap_calls),
        (b" madvise ", stats.os.purge_calls),
        (b" arenas ", stats.arenas),
        (b" regions ", stats.live_regions),
        (b" abandoned ", stats.abandoned_segments),
        (b" heaps ", stats.live_heaps),
    ] {
        line.push(name);
        line.number(value as u64);
    }
    line.push(b"\n");
}

extern "C" fn at_exit() {
    if !crate::config::show_stats() {
        return;
    }
    let mut line = Line::new();
    format(&mut line);
    write_line(&line);
}
