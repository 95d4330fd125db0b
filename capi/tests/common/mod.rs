//! Shared helpers of the C ABI tests: where the built library is, compiling
//! the C programs, running programs with and without `LD_PRELOAD`, and
//! reading the `TINYALLOC_SHOW_STATS` summary that proves tinyalloc served
//! them.
//!
//! The tests need `target/release/libtinyalloc.so`; they do not build it
//! (a `cargo build` from inside `cargo test` can wait forever on the build
//! directory's lock). Build it first:
//!
//! ```text
//! cargo build --release -p tinyalloc-capi && cargo test --release -p tinyalloc-capi
//! ```
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// Where the release build puts the libraries.
pub fn release_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir).join("release"),
        None => root().join("target").join("release"),
    }
}

fn built(name: &str) -> PathBuf {
    let path = release_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build --release -p tinyalloc-capi` \
         (scripts/test.sh does), then rerun `cargo test --release -p tinyalloc-capi`",
        path.display()
    );
    // `cargo test` does not rebuild the cdylib: say so loudly if the sources
    // changed since it was built (a warning, not a failure: a file saved
    // while the tests run should not fail them).
    let built = modified(&path);
    let sources = [root().join("src"), root().join("capi").join("src")];
    if let Some((newest, source)) = sources.iter().filter_map(|dir| newest_file(dir)).max() {
        static WARN_ONCE: std::sync::Once = std::sync::Once::new();
        if newest > built {
            WARN_ONCE.call_once(|| {
                eprintln!(
                    "WARNING: {} is older than {}: these tests run the old build; \
                 rebuild with `cargo build --release -p tinyalloc-capi`",
                    path.display(),
                    source.display()
                )
            });
        }
    }
    path
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH)
}

/// The most recently modified file under `dir`, with its time.
fn newest_file(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_file(&path)
        } else {
            Some((modified(&path), path))
        };
        if candidate > newest {
            newest = candidate;
        }
    }
    newest
}

/// `libtinyalloc.so`, which must have been built.
pub fn shared_library() -> PathBuf {
    built("libtinyalloc.so")
}

/// `libtinyalloc.a`, which must have been built.
pub fn static_library() -> PathBuf {
    built("libtinyalloc.a")
}

/// A C test program's source.
pub fn c_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("c")
        .join(name)
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "tinyalloc-capi-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `program` can be run (for the real-program tests' tools).
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Compile C `sources` into `output` with gcc, plus `extra` arguments
/// (libraries go after the sources). Panics with gcc's messages on failure.
pub fn compile_c(sources: &[&Path], output: &Path, extra: &[&OsStr]) {
    let mut command = Command::new("gcc");
    command.args([
        "-O2",
        "-g",
        "-fno-builtin",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pthread",
    ]);
    command.args(sources).arg("-o").arg(output).args(extra);
    let result = command.output().expect("run gcc (is it installed?)");
    assert!(
        result.status.success(),
        "gcc failed: {:?}\n{}",
        command,
        String::from_utf8_lossy(&result.stderr)
    );
}

/// How a program is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alloc {
    /// glibc's malloc (no preload).
    Glibc,
    /// tinyalloc through `LD_PRELOAD`.
    Preload,
    /// tinyalloc through `LD_PRELOAD`, with the exit summary on.
    PreloadStats,
    /// The program links tinyalloc itself; the exit summary on.
    LinkedStats,
}

impl Alloc {
    pub fn name(self) -> &'static str {
        match self {
            Alloc::Glibc => "glibc",
            Alloc::Preload => "tinyalloc",
            Alloc::PreloadStats => "tinyalloc+stats",
            Alloc::LinkedStats => "tinyalloc (linked)+stats",
        }
    }
}

/// Set up `command`'s environment for `alloc`.
pub fn configure(command: &mut Command, alloc: Alloc) {
    command
        .env_remove("LD_PRELOAD")
        .env_remove("TINYALLOC_SHOW_STATS");
    match alloc {
        Alloc::Glibc => {}
        Alloc::Preload => {
            command.env("LD_PRELOAD", shared_library());
        }
        Alloc::PreloadStats => {
            command
                .env("LD_PRELOAD", shared_library())
                .env("TINYALLOC_SHOW_STATS", "1");
        }
        Alloc::LinkedStats => {
            command.env("TINYALLOC_SHOW_STATS", "1");
        }
    }
}

/// The outcome of one run.
pub struct Run {
    pub output: Output,
    pub wall: Duration,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Standard error without tinyalloc's summary lines.
    pub fn stderr_without_summary(&self) -> String {
        self.stderr()
            .lines()
            .filter(|line| !line.starts_with("tinyalloc: "))
            .map(|line| format!("{line}\n"))
            .collect()
    }

    /// Panic with the program's output unless it exited with status 0.
    pub fn assert_success(&self, what: &str) {
        assert!(
            self.output.status.success(),
            "{what} failed: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status,
            tail(&self.stdout()),
            tail(&self.stderr())
        );
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(8000);
    let start = (start..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// Run `command` as `alloc` says, with a deadline (a hang is a failure).
pub fn run(command: &mut Command, alloc: Alloc, deadline: Duration) -> Run {
    configure(command, alloc);
    run_as_set_up(command, alloc.name(), deadline)
}

/// Run `command` with the environment its caller set up (`label` names the
/// allocator in failures), with a deadline (a hang is a failure).
pub fn run_as_set_up(command: &mut Command, label: &str, deadline: Duration) -> Run {
    command.stdin(Stdio::null());
    let started = Instant::now();
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    let id = child.id();
    // A watchdog kills the child if it outlives the deadline.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(deadline).is_err() {
            // SAFETY: sending a signal to our own child's pid.
            unsafe { libc::kill(id as libc::pid_t, libc::SIGKILL) };
            true
        } else {
            false
        }
    });
    let output = child.wait_with_output().expect("wait for child");
    let wall = started.elapsed();
    let _ = done_tx.send(());
    let killed = watchdog.join().unwrap_or(false);
    assert!(
        !killed,
        "{command:?} under {label} did not finish within {deadline:?} (hang or deadlock?)\n--- stderr\n{}",
        tail(&String::from_utf8_lossy(&output.stderr))
    );
    Run { output, wall }
}

/// The call counts of one exit summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub malloc: u64,
    pub calloc: u64,
    pub realloc: u64,
    pub aligned: u64,
    pub free: u64,
    /// C++ `operator new` calls (all forms).
    pub new: u64,
    /// C++ `operator delete` calls (all forms).
    pub delete: u64,
}

/// Every exit summary in `stderr` (one per process that exited normally).
pub fn summaries(stderr: &str) -> Vec<Summary> {
    stderr
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("tinyalloc: malloc ")?;
            let mut fields = rest.split_whitespace();
            let mut summary = Summary {
                malloc: fields.next()?.parse().ok()?,
                ..Summary::default()
            };
            while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                let value = value.parse().ok()?;
                match name {
                    "calloc" => summary.calloc = value,
                    "realloc" => summary.realloc = value,
                    "aligned" => summary.aligned = value,
                    "free" => summary.free = value,
                    "new" => summary.new = value,
                    "delete" => summary.delete = value,
                    _ => return None,
                }
            }
            Some(summary)
        })
        .collect()
}

/// Assert that tinyalloc served the run: an exit summary is present, with
/// calls counted, and the figures line follows it. Returns the summaries.
pub fn assert_served(run: &Run, what: &str) -> Vec<Summary> {
    let stderr = run.stderr();
    let found = summaries(&stderr);
    assert!(
        !found.is_empty(),
        "{what}: no tinyalloc summary on stderr, so tinyalloc did not serve it\n{}",
        tail(&stderr)
    );
    assert!(
        found.iter().any(|s| s.malloc > 0),
        "{what}: summaries count no malloc call: {found:?}"
    );
    assert!(
        stderr.contains("tinyalloc: mapped "),
        "{what}: figures line missing"
    );
    let total: u64 = found.iter().map(|s| s.malloc + s.calloc + s.realloc).sum();
    eprintln!(
        "{what}: tinyalloc served {} process(es), {total} malloc/calloc/realloc calls (first: {:?})",
        found.len(),
        found[0]
    );
    found
}

/// Print a wall-time comparison line (shown with `--nocapture`).
pub fn report_times(what: &str, glibc: Duration, tinyalloc: Duration) {
    let ratio = tinyalloc.as_secs_f64() / glibc.as_secs_f64().max(1e-9);
    println!(
        "wall time [{what}]: glibc {:.3} s, tinyalloc {:.3} s (tinyalloc/glibc = {ratio:.2})",
        glibc.as_secs_f64(),
        tinyalloc.as_secs_f64()
    );
}

/// The fastest of `rounds` runs of `make()` under `alloc`, after checking
/// that each succeeds; returns the last run too (for output comparisons).
pub fn best_of(
    rounds: usize,
    alloc: Alloc,
    deadline: Duration,
    what: &str,
    mut make: impl FnMut() -> Command,
) -> (Duration, Run) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..rounds {
        let run = run(&mut make(), alloc, deadline);
        run.assert_success(&format!("{what} under {}", alloc.name()));
        best = best.min(run.wall);
        last = Some(run);
    }
    (best, last.expect("at least one round"))
}
