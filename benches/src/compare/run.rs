//! Running: building the `wl_*` binaries, the micro child and its
//! interleaved rounds, one `wl_<allocator>` process per multi-thread run,
//! timeouts and exit statuses. What the children print is parsed in
//! [`measure`].

use std::alloc::GlobalAlloc;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use super::measure::{self, MicroResult, MtRun};
use super::opts::Opts;
use super::table::{fmt_si, fmt_sig};
use crate::micro::{self, Micro};
use crate::peer_names;
use crate::workload::Workload;

// ---------------------------------------------------------------------------
// Building the workload binaries

/// `cargo run --bin compare` builds only `compare`; the `wl_*` siblings it
/// runs are built here with the same profile and features.
pub fn build_workload_bins() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", "tinyalloc-bench"]);
    // Only the wl_* binaries: rebuilding `compare` itself (when a source
    // changed since the outer build) would replace the running executable.
    for name in peer_names() {
        cmd.arg("--bin").arg(format!("wl_{name}"));
    }
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let mut features = Vec::new();
    if cfg!(feature = "snmalloc") {
        features.push("snmalloc");
    }
    if cfg!(feature = "rpmalloc") {
        features.push("rpmalloc");
    }
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    eprintln!("compare: building workload binaries: {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "building the wl_* binaries failed ({status}); fix the build or pass --no-build"
        ))
    }
}

fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

// ---------------------------------------------------------------------------
// Child processes

/// Waits for `child` up to `timeout`, killing it past that; returns its
/// stdout and whether it exited successfully (with a reason if not).
fn wait_output(mut child: Child, timeout: Duration) -> (String, Result<(), String>) {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "timed out after {:.0} s, killed",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(format!("wait failed: {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    let result = match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(describe_exit(s)),
        Err(e) => Err(e),
    };
    (out, result)
}

fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match s.signal() {
        Some(sig) => format!(
            "killed by signal {sig}{}",
            match sig {
                6 => " (SIGABRT)",
                11 => " (SIGSEGV)",
                7 => " (SIGBUS)",
                9 => " (SIGKILL)",
                _ => "",
            }
        ),
        None => format!("exited with {s}"),
    }
}

// ---------------------------------------------------------------------------
// Micro workloads (run in a child: `compare --micro-child KINDS ALLOCS ROUNDS MS`)

type RunFn = Box<dyn Fn(Micro, u64) -> (Duration, u64)>;
type CalibrateFn = Box<dyn Fn(Micro, Duration) -> u64>;

/// One allocator of the micro child, called directly (not as the global
/// allocator).
pub struct DirectPeer {
    name: &'static str,
    run: RunFn,
    calibrate: CalibrateFn,
}

/// Adds `a` to `peers`; the callback of `for_each_peer!`, which must expand
/// in the `compare` binary (see the crate docs on why).
pub fn register<A: GlobalAlloc + Sync + 'static>(
    name: &'static str,
    a: &'static A,
    peers: &mut Vec<DirectPeer>,
) {
    peers.push(DirectPeer {
        name,
        run: Box::new(move |k, n| micro::run_ops(a, k, n)),
        calibrate: Box::new(move |k, t| micro::calibrate(a, k, t)),
    });
}

/// Arguments that make the `--micro-child` run the same micro plan.
fn micro_child_args(o: &Opts) -> Vec<String> {
    vec![
        "--micro-child".into(),
        o.micro
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(","),
        o.allocators.join(","),
        o.rounds.to_string(),
        o.micro_target.as_millis().to_string(),
    ]
}

/// The micro child: `args` are what follows `--micro-child`; `peers` every
/// allocator of this build. Prints one `MICRO` line per kind × allocator.
pub fn micro_child(args: &[String], mut peers: Vec<DirectPeer>) -> ExitCode {
    let [kinds, allocs, rounds, ms] = args else {
        eprintln!("compare --micro-child: expected KINDS ALLOCATORS ROUNDS MS");
        return ExitCode::from(2);
    };
    let kinds: Vec<Micro> = kinds.split(',').filter_map(Micro::from_name).collect();
    let wanted: Vec<&str> = allocs.split(',').collect();
    let rounds: usize = rounds.parse().unwrap_or(21).max(1);
    let target = Duration::from_millis(ms.parse().unwrap_or(20));
    peers.retain(|p| wanted.contains(&p.name));

    for kind in kinds {
        // Calibration doubles as warm-up: each allocator gets an op count
        // that takes about `target`, so every sample is long enough to time.
        let ops: Vec<u64> = peers.iter().map(|p| (p.calibrate)(kind, target)).collect();
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); peers.len()];
        for r in 0..rounds {
            for k in 0..peers.len() {
                let i = (r + k) % peers.len();
                let (t, n) = (peers[i].run)(kind, ops[i]);
                samples[i].push(t.as_secs_f64() * 1e9 / n as f64);
            }
        }
        for (p, s) in peers.iter().zip(&mut samples) {
            s.sort_by(f64::total_cmp);
            let median = s[s.len() / 2];
            eprintln!(
                "  micro {:<12} {:<10} {:>10} ns/op  (median of {}, min {})",
                kind.name(),
                p.name,
                fmt_sig(median),
                s.len(),
                fmt_sig(s[0])
            );
            println!(
                "MICRO kind={} allocator={} median_ns={median} min_ns={} max_ns={} samples={}",
                kind.name(),
                p.name,
                s[0],
                s[s.len() - 1],
                s.len()
            );
        }
    }
    ExitCode::SUCCESS
}

/// Runs the micro workloads in a child (a re-run of this binary with
/// `--micro-child`, so an allocator that crashes does not take the report
/// with it) and collects its results.
pub fn run_micro_child(o: &Opts) -> Result<Vec<MicroResult>, String> {
    // /proc/self/exe is this very program even if its file was replaced
    // since it started (current_exe() would then name a deleted file).
    let exe = match Path::new("/proc/self/exe") {
        p if p.exists() => p.to_path_buf(),
        _ => std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?,
    };
    eprintln!(
        "compare: micro workloads, {} interleaved rounds of ~{} ms per allocator, all allocators in one process",
        o.rounds,
        o.micro_target.as_millis()
    );
    let child = Command::new(exe)
        .args(micro_child_args(o))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawning micro child: {e}"))?;
    let budget =
        o.micro_target * (o.rounds as u32 + 20) * (o.micro.len() * o.allocators.len()) as u32;
    let (out, status) = wait_output(child, budget + Duration::from_secs(120));
    let results = measure::parse_micro(&out);
    match status {
        Ok(()) => Ok(results),
        Err(e) => {
            eprintln!(
                "compare: micro child failed: {e}; kept {} result(s)",
                results.len()
            );
            if results.is_empty() {
                Err(e)
            } else {
                Ok(results)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Multi-thread workloads: one process per run

/// Runs every workload × thread count × allocator (× repetition) of `o`,
/// one `wl_<allocator>` process each, rotating the allocator order.
pub fn run_mt(o: &Opts) -> Vec<MtRun> {
    let plan: Vec<(Workload, usize)> = o
        .workloads
        .iter()
        .flat_map(|&w| {
            o.threads
                .iter()
                .filter(move |&&t| w.supports(t))
                .map(move |&t| (w, t))
        })
        .collect();
    if plan.is_empty() {
        return Vec::new();
    }
    let total = plan.len() * o.allocators.len() * o.reps;
    eprintln!(
        "compare: multi-thread workloads, {total} runs of {:.2} s warm-up + {:.2} s measured, one process each",
        o.warmup.as_secs_f64(),
        o.measure.as_secs_f64()
    );
    let dir = exe_dir().unwrap_or_default();
    let mut runs = Vec::with_capacity(total);
    let mut n = 0;
    for rep in 0..o.reps {
        for (cell, &(w, t)) in plan.iter().enumerate() {
            // Rotate the allocator order per cell and repetition, so no
            // allocator always runs right after the same neighbour.
            let k = o.allocators.len();
            for j in 0..k {
                let allocator = o.allocators[(cell + rep + j) % k];
                n += 1;
                let started = Instant::now();
                let result = run_one(&dir, allocator, w, t, o);
                let line = match &result {
                    Ok(s) => format!(
                        "{:>7} ops/s  peak RSS {:>5} MiB",
                        fmt_si(s.ops_per_sec),
                        fmt_sig(s.peak_rss_kb as f64 / 1024.0)
                    ),
                    Err(e) => format!("FAILED: {e}"),
                };
                eprintln!(
                    "  [{n:>3}/{total}] {:<8} t={t:<2} {allocator:<10} {line}  ({:.1} s)",
                    w.name(),
                    started.elapsed().as_secs_f64()
                );
                runs.push(MtRun {
                    workload: w,
                    threads: t,
                    allocator,
                    result,
                });
            }
        }
    }
    runs
}

fn run_one(
    dir: &Path,
    allocator: &str,
    w: Workload,
    threads: usize,
    o: &Opts,
) -> Result<measure::MtSample, String> {
    let exe = dir.join(format!("wl_{allocator}"));
    if !exe.exists() {
        return Err(format!(
            "{} not found (build with `cargo build --release -p tinyalloc-bench --bins`)",
            exe.display()
        ));
    }
    let child = Command::new(&exe)
        .arg(w.name())
        .arg(threads.to_string())
        .arg("--warmup-ms")
        .arg(o.warmup.as_millis().to_string())
        .arg("--measure-ms")
        .arg(o.measure.as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", exe.display()))?;
    let (out, status) = wait_output(child, o.warmup + o.measure + Duration::from_secs(60));
    status?;
    measure::parse_mt(&out)
}
