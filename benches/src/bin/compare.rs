//! `compare`: tinyalloc against its peers, the project's main job.
//!
//! ```text
//! cargo run --release -p tinyalloc-bench --bin compare            # quick, ~2-3 min
//! cargo run --release -p tinyalloc-bench --bin compare -- --full  # longer, more precise
//! cargo run --release -p tinyalloc-bench --bin compare -- --help
//! ```
//!
//! 1. Builds the sibling `wl_<allocator>` binaries (`cargo build -p
//!    tinyalloc-bench --bin wl_...`, a no-op when they are fresh), because
//!    `cargo run --bin compare` builds only `compare` itself.
//! 2. Single-thread micro workloads ([`tinyalloc_bench::micro`]): all
//!    allocators in one child process (a re-run of this binary with
//!    `--micro-child`, so an allocator that crashes does not take the report
//!    with it), called directly through their `GlobalAlloc` impls, in
//!    interleaved rounds whose order rotates; the median per allocator.
//! 3. Multi-thread workloads ([`tinyalloc_bench::workload`]): one process
//!    per allocator × workload × thread count, each allocator installed as
//!    the global allocator of its own `wl_<allocator>` binary; the process
//!    reports its throughput and peak RSS.
//! 4. Prints the tables on stdout (progress goes to stderr) and writes
//!    `compare.csv`, `compare.txt` and SVG figures to `papers/figures/`.

use std::alloc::GlobalAlloc;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use tinyalloc_bench::micro::{self, Micro};
use tinyalloc_bench::svg::{self, Series};
use tinyalloc_bench::workload::Workload;
use tinyalloc_bench::{for_each_peer, peer_names};

const USAGE: &str = "\
usage: compare [--quick | --full] [options]

  --quick              default: ~2-3 minutes (1 s per multi-thread run, threads 1,2,4,8)
  --full               longer and more precise (3 repetitions, threads 1,2,4,8,16)
  --micro-only         skip the multi-thread workloads
  --mt-only            skip the single-thread micro workloads
  --micro LIST         micro workloads to run (comma-separated): small-pair,small-batch,mixed,large,realloc,large-realloc,buffer-cycle
  --workloads LIST     multi-thread workloads: churn,prodcons,swap,larson,ini,epoch,falseshare
  --threads LIST       thread counts, e.g. 1,2,4
  --allocators LIST    allocators to run (default: all in this build)
  --out DIR            where to write compare.csv/.txt and the SVGs (default: <workspace>/papers/figures)
  --no-build           do not run `cargo build` for the wl_* binaries first
  --no-files           print the tables only
";

#[derive(Clone, Debug)]
struct Opts {
    full: bool,
    build: bool,
    files: bool,
    out: PathBuf,
    micro: Vec<Micro>,
    workloads: Vec<Workload>,
    threads: Vec<usize>,
    allocators: Vec<&'static str>,
    /// Micro: interleaved rounds and target time of one measurement.
    rounds: usize,
    micro_target: Duration,
    /// Multi-thread: warm-up and measured window per run, repetitions.
    warmup: Duration,
    measure: Duration,
    reps: usize,
}

fn parse_list<T>(s: &str, f: impl Fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| f(x.trim()).ok_or_else(|| format!("unknown {what} `{x}`")))
        .collect()
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let full = args.iter().any(|a| a == "--full");
    let mut o = Opts {
        full,
        build: true,
        files: true,
        out: workspace_root().join("papers/figures"),
        micro: Micro::ALL.to_vec(),
        workloads: Workload::ALL.to_vec(),
        threads: if full {
            vec![1, 2, 4, 8, 16]
        } else {
            vec![1, 2, 4, 8]
        },
        allocators: peer_names(),
        rounds: if full { 41 } else { 21 },
        micro_target: Duration::from_millis(if full { 50 } else { 20 }),
        warmup: Duration::from_millis(if full { 500 } else { 250 }),
        measure: Duration::from_millis(if full { 2000 } else { 1000 }),
        reps: if full { 3 } else { 1 },
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--full" | "--quick" => {}
            "--no-build" => o.build = false,
            "--no-files" => o.files = false,
            "--micro-only" => o.workloads.clear(),
            "--mt-only" => o.micro.clear(),
            "--micro" => o.micro = parse_list(&value()?, Micro::from_name, "micro workload")?,
            "--workloads" => o.workloads = parse_list(&value()?, Workload::from_name, "workload")?,
            "--threads" => {
                o.threads = parse_list(
                    &value()?,
                    |x| x.parse().ok().filter(|&n| n > 0),
                    "thread count",
                )?
            }
            "--allocators" => {
                let known = peer_names();
                o.allocators = parse_list(
                    &value()?,
                    |x| known.iter().copied().find(|k| *k == x),
                    "allocator",
                )?;
            }
            "--out" => o.out = PathBuf::from(value()?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--micro-child") {
        return micro_child(&args[1..]);
    }
    let opts = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("compare: {e}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("compare: WARNING: this is a debug build; numbers are meaningless. Use `cargo run --release ...`.");
    }
    let started = Instant::now();
    if opts.build && !opts.workloads.is_empty() {
        if let Err(e) = build_workload_bins() {
            eprintln!("compare: {e}");
            return ExitCode::FAILURE;
        }
    }
    let micro = if opts.micro.is_empty() {
        Ok(Vec::new())
    } else {
        run_micro_child(&opts)
    };
    let mt = run_mt(&opts);
    let report = Report::new(&opts, micro, mt);
    let text = report.tables(started.elapsed());
    print!("{text}");
    if opts.files {
        match report.write_files(&opts.out, &text) {
            Ok(files) => {
                eprintln!("compare: wrote {}", files.join(", "));
            }
            Err(e) => {
                eprintln!("compare: writing figures to {}: {e}", opts.out.display());
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("compare: done in {:.0} s", started.elapsed().as_secs_f64());
    if report.failures > 0 {
        eprintln!(
            "compare: {} run(s) failed; see FAIL cells above",
            report.failures
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------
// Building the workload binaries

/// `cargo run --bin compare` builds only `compare`; the `wl_*` siblings it
/// runs are built here with the same profile and features.
fn build_workload_bins() -> Result<(), String> {
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

/// The workspace root: the parent of this package's directory.
fn workspace_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_path_buf()
}

fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

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

/// `key=value` fields of a result line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

// ---------------------------------------------------------------------------
// Micro workloads (run in a child: `compare --micro-child KINDS ALLOCS ROUNDS MS`)

#[derive(Clone, Debug)]
struct MicroResult {
    kind: Micro,
    allocator: String,
    median_ns: f64,
    min_ns: f64,
    max_ns: f64,
    samples: usize,
}

type RunFn = Box<dyn Fn(Micro, u64) -> (Duration, u64)>;
type CalibrateFn = Box<dyn Fn(Micro, Duration) -> u64>;

struct DirectPeer {
    name: &'static str,
    run: RunFn,
    calibrate: CalibrateFn,
}

fn register<A: GlobalAlloc + Sync + 'static>(
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

fn micro_child(args: &[String]) -> ExitCode {
    let [kinds, allocs, rounds, ms] = args else {
        eprintln!("compare --micro-child: expected KINDS ALLOCATORS ROUNDS MS");
        return ExitCode::from(2);
    };
    let kinds: Vec<Micro> = kinds.split(',').filter_map(Micro::from_name).collect();
    let wanted: Vec<&str> = allocs.split(',').collect();
    let rounds: usize = rounds.parse().unwrap_or(21).max(1);
    let target = Duration::from_millis(ms.parse().unwrap_or(20));
    let mut peers = Vec::new();
    for_each_peer!(register, &mut peers);
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

fn run_micro_child(o: &Opts) -> Result<Vec<MicroResult>, String> {
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
    let results: Vec<MicroResult> = BufReader::new(out.as_bytes())
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with("MICRO "))
        .filter_map(|l| {
            let f = fields(&l);
            Some(MicroResult {
                kind: Micro::from_name(f.get("kind")?)?,
                allocator: f.get("allocator")?.to_string(),
                median_ns: f.get("median_ns")?.parse().ok()?,
                min_ns: f.get("min_ns")?.parse().ok()?,
                max_ns: f.get("max_ns")?.parse().ok()?,
                samples: f.get("samples")?.parse().ok()?,
            })
        })
        .collect();
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

#[derive(Clone, Debug)]
struct MtRun {
    workload: Workload,
    threads: usize,
    allocator: &'static str,
    /// `Err` holds why the run failed.
    result: Result<MtSample, String>,
}

#[derive(Clone, Copy, Debug)]
struct MtSample {
    ops_per_sec: f64,
    peak_rss_kb: u64,
    end_rss_kb: u64,
}

fn run_mt(o: &Opts) -> Vec<MtRun> {
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
) -> Result<MtSample, String> {
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
    let line = out
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or("no RESULT line in the output")?;
    let f = fields(line);
    let num = |k: &str| -> Result<f64, String> {
        f.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("RESULT line lacks {k}: {line}"))
    };
    Ok(MtSample {
        ops_per_sec: num("ops_per_sec")?,
        peak_rss_kb: num("peak_rss_kb")? as u64,
        end_rss_kb: num("end_rss_kb")? as u64,
    })
}

// ---------------------------------------------------------------------------
// Report: tables, CSV, SVG

/// Three significant digits, without exponent for the ranges we print.
fn fmt_sig(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// Three significant digits with an SI suffix: 32.3M, 26.7k, 950.
fn fmt_si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", fmt_sig(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", fmt_sig(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", fmt_sig(v / 1e3))
    } else {
        fmt_sig(v)
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Aggregated multi-thread cell: medians over repetitions.
#[derive(Clone, Copy, Debug)]
struct MtCell {
    ops_per_sec: f64,
    peak_rss_kb: f64,
    end_rss_kb: f64,
    samples: usize,
}

struct Report {
    full: bool,
    allocators: Vec<&'static str>,
    micro: Result<Vec<MicroResult>, String>,
    micro_kinds: Vec<Micro>,
    rounds: usize,
    /// (workload, threads) in plan order.
    mt_rows: Vec<(Workload, usize)>,
    /// (workload, threads, allocator) -> cell; absent = every run failed.
    mt: BTreeMap<(usize, usize, &'static str), MtCell>,
    mt_errors: BTreeMap<(usize, usize, &'static str), String>,
    failures: usize,
    measure: Duration,
    reps: usize,
}

fn widx(w: Workload) -> usize {
    Workload::ALL.iter().position(|&x| x == w).unwrap()
}

impl Report {
    fn new(o: &Opts, micro: Result<Vec<MicroResult>, String>, runs: Vec<MtRun>) -> Report {
        let mut mt_rows = Vec::new();
        let mut grouped: BTreeMap<(usize, usize, &'static str), Vec<MtSample>> = BTreeMap::new();
        let mut mt_errors = BTreeMap::new();
        let mut failures = 0;
        for r in &runs {
            if !mt_rows.contains(&(r.workload, r.threads)) {
                mt_rows.push((r.workload, r.threads));
            }
            let key = (widx(r.workload), r.threads, r.allocator);
            match &r.result {
                Ok(s) => grouped.entry(key).or_default().push(*s),
                Err(e) => {
                    failures += 1;
                    mt_errors.insert(key, e.clone());
                }
            }
        }
        let mt = grouped
            .into_iter()
            .map(|(k, v)| {
                let cell = MtCell {
                    ops_per_sec: median(v.iter().map(|s| s.ops_per_sec).collect()).unwrap(),
                    peak_rss_kb: median(v.iter().map(|s| s.peak_rss_kb as f64).collect()).unwrap(),
                    end_rss_kb: median(v.iter().map(|s| s.end_rss_kb as f64).collect()).unwrap(),
                    samples: v.len(),
                };
                (k, cell)
            })
            .collect();
        if let Err(e) = &micro {
            if !o.micro.is_empty() {
                eprintln!("compare: micro workloads failed: {e}");
                failures += 1;
            }
        }
        Report {
            full: o.full,
            allocators: o.allocators.clone(),
            micro,
            micro_kinds: o.micro.clone(),
            rounds: o.rounds,
            mt_rows,
            mt,
            mt_errors,
            failures,
            measure: o.measure,
            reps: o.reps,
        }
    }

    fn micro_value(&self, kind: Micro, allocator: &str) -> Option<&MicroResult> {
        self.micro
            .as_ref()
            .ok()?
            .iter()
            .find(|m| m.kind == kind && m.allocator == allocator)
    }

    fn mt_cell(&self, w: Workload, t: usize, allocator: &str) -> Option<&MtCell> {
        self.mt
            .iter()
            .find(|((wi, ti, a), _)| *wi == widx(w) && *ti == t && *a == allocator)
            .map(|(_, c)| c)
    }

    fn peers(&self) -> Vec<&'static str> {
        self.allocators
            .iter()
            .copied()
            .filter(|a| *a != "tinyalloc")
            .collect()
    }

    fn has_tiny(&self) -> bool {
        self.allocators.contains(&"tinyalloc")
    }

    fn tables(&self, elapsed: Duration) -> String {
        let mut s = String::new();
        let peers = self.peers();
        let _ = writeln!(
            s,
            "tinyalloc compare ({} mode, {} allocators: {}; took {:.0} s)\n",
            if self.full { "full" } else { "quick" },
            self.allocators.len(),
            self.allocators.join(", "),
            elapsed.as_secs_f64()
        );

        if !self.micro_kinds.is_empty() {
            let _ = writeln!(
                s,
                "Single-thread micro workloads: ns per op, median of {} interleaved rounds, all allocators in one process\n\
                 (lower is better; ratio = tinyalloc time / peer time, < 1.00 means tinyalloc is faster)",
                self.rounds
            );
            match &self.micro {
                Err(e) => {
                    let _ = writeln!(s, "  FAILED: {e}");
                }
                Ok(_) => {
                    let mut head = vec!["workload".to_string()];
                    head.extend(self.allocators.iter().map(|a| a.to_string()));
                    if self.has_tiny() {
                        head.extend(peers.iter().map(|p| format!("tiny/{}", short(p))));
                    }
                    let mut rows = Vec::new();
                    for &kind in &self.micro_kinds {
                        let mut row = vec![kind.name().to_string()];
                        for a in &self.allocators {
                            row.push(
                                self.micro_value(kind, a)
                                    .map_or("FAIL".into(), |m| fmt_sig(m.median_ns)),
                            );
                        }
                        if self.has_tiny() {
                            let tiny = self.micro_value(kind, "tinyalloc").map(|m| m.median_ns);
                            for p in &peers {
                                let peer = self.micro_value(kind, p).map(|m| m.median_ns);
                                row.push(ratio(tiny, peer));
                            }
                        }
                        rows.push(row);
                    }
                    let groups = [1, self.allocators.len()];
                    s.push_str(&table(&head, &rows, &groups));
                    for &kind in &self.micro_kinds {
                        let _ = writeln!(s, "  {:<12} op = {}", kind.name(), kind.op());
                    }
                }
            }
            s.push('\n');
        }

        if !self.mt_rows.is_empty() {
            let _ = writeln!(
                s,
                "Multi-thread workloads: one process per allocator x workload x threads, {:.1} s measured{}\n\
                 throughput in ops/s, k = 10^3, M = 10^6 (higher is better; ratio = tinyalloc / peer throughput, > 1.00 means tinyalloc is faster)\n\
                 peak RSS in MiB = the run's VmHWM (lower is better)",
                self.measure.as_secs_f64(),
                if self.reps > 1 {
                    format!(", median of {} repetitions", self.reps)
                } else {
                    String::new()
                }
            );
            let mut head = vec!["workload".to_string(), "thr".to_string()];
            head.extend(self.allocators.iter().map(|a| a.to_string()));
            if self.has_tiny() {
                head.extend(peers.iter().map(|p| format!("tiny/{}", short(p))));
            }
            head.extend(self.allocators.iter().map(|a| format!("RSS {}", short(a))));
            let mut rows = Vec::new();
            for &(w, t) in &self.mt_rows {
                let mut row = vec![w.name().to_string(), t.to_string()];
                let get = |a: &str| self.mt_cell(w, t, a);
                for a in &self.allocators {
                    row.push(get(a).map_or("FAIL".into(), |c| fmt_si(c.ops_per_sec)));
                }
                if self.has_tiny() {
                    let tiny = get("tinyalloc").map(|c| c.ops_per_sec);
                    for p in &peers {
                        row.push(ratio(tiny, get(p).map(|c| c.ops_per_sec)));
                    }
                }
                for a in &self.allocators {
                    row.push(get(a).map_or("FAIL".into(), |c| fmt_sig(c.peak_rss_kb / 1024.0)));
                }
                rows.push(row);
            }
            let groups = [
                2,
                self.allocators.len(),
                if self.has_tiny() { peers.len() } else { 0 },
            ];
            s.push_str(&table(&head, &rows, &groups));
            for w in Workload::ALL {
                if self.mt_rows.iter().any(|(x, _)| *x == w) {
                    let _ = writeln!(s, "  {:<9} op = {}", w.name(), w.op());
                }
            }
            if !self.mt_errors.is_empty() {
                let _ = writeln!(s, "failed runs:");
                for ((wi, t, a), e) in &self.mt_errors {
                    let _ = writeln!(s, "  {} t={t} {a}: {e}", Workload::ALL[*wi].name());
                }
            }
        }
        s
    }

    fn csv(&self) -> String {
        let mut s = String::from(
            "section,workload,threads,allocator,value,unit,min,max,samples,peak_rss_kb,end_rss_kb\n",
        );
        if let Ok(micro) = &self.micro {
            for m in micro {
                let _ = writeln!(
                    s,
                    "micro,{},1,{},{:.4},ns_per_op,{:.4},{:.4},{},,",
                    m.kind.name(),
                    m.allocator,
                    m.median_ns,
                    m.min_ns,
                    m.max_ns,
                    m.samples
                );
            }
        }
        for &(w, t) in &self.mt_rows {
            for a in &self.allocators {
                if let Some(c) = self.mt_cell(w, t, a) {
                    let _ = writeln!(
                        s,
                        "mt,{},{t},{a},{:.1},ops_per_sec,,,{},{:.0},{:.0}",
                        w.name(),
                        c.ops_per_sec,
                        c.samples,
                        c.peak_rss_kb,
                        c.end_rss_kb
                    );
                }
            }
        }
        s
    }

    fn write_files(&self, dir: &Path, text: &str) -> std::io::Result<Vec<String>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let mut put = |name: &str, body: &str| -> std::io::Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, body)?;
            written.push(path.display().to_string());
            Ok(())
        };
        put("compare.csv", &self.csv())?;
        put("compare.txt", text)?;

        if let Ok(micro) = &self.micro {
            if !micro.is_empty() {
                let groups: Vec<String> = self
                    .micro_kinds
                    .iter()
                    .map(|k| k.name().to_string())
                    .collect();
                let series: Vec<Series> = self
                    .allocators
                    .iter()
                    .map(|a| Series {
                        name: a.to_string(),
                        values: self
                            .micro_kinds
                            .iter()
                            .map(|&k| self.micro_value(k, a).map(|m| m.median_ns))
                            .collect(),
                    })
                    .collect();
                put(
                    "compare_micro.svg",
                    &svg::bar_chart(
                        "Single-thread micro workloads (ns per op, log scale, lower is better)",
                        "ns per op",
                        &groups,
                        &series,
                        true,
                    ),
                )?;
            }
        }

        for w in Workload::ALL {
            let threads: Vec<usize> = self
                .mt_rows
                .iter()
                .filter(|(x, _)| *x == w)
                .map(|&(_, t)| t)
                .collect();
            if threads.is_empty() {
                continue;
            }
            let xs: Vec<String> = threads.iter().map(usize::to_string).collect();
            let max = threads
                .iter()
                .flat_map(|&t| {
                    self.allocators
                        .iter()
                        .filter_map(move |a| self.mt_cell(w, t, a))
                })
                .map(|c| c.ops_per_sec)
                .fold(0.0, f64::max);
            let (scale, unit) = if max >= 1e6 {
                (1e6, "Mops/s")
            } else {
                (1e3, "kops/s")
            };
            let series: Vec<Series> = self
                .allocators
                .iter()
                .map(|a| Series {
                    name: a.to_string(),
                    values: threads
                        .iter()
                        .map(|&t| self.mt_cell(w, t, a).map(|c| c.ops_per_sec / scale))
                        .collect(),
                })
                .collect();
            put(
                &format!("compare_mt_{}.svg", w.name()),
                &svg::line_chart(
                    &format!("{}: throughput vs threads (2-core machine)", w.name()),
                    "threads",
                    unit,
                    &xs,
                    &series,
                ),
            )?;
        }

        if !self.mt_rows.is_empty() {
            let groups: Vec<String> = self
                .mt_rows
                .iter()
                .map(|(w, t)| format!("{} t={t}", w.name()))
                .collect();
            let series: Vec<Series> = self
                .allocators
                .iter()
                .map(|a| Series {
                    name: a.to_string(),
                    values: self
                        .mt_rows
                        .iter()
                        .map(|&(w, t)| self.mt_cell(w, t, a).map(|c| c.peak_rss_kb / 1024.0))
                        .collect(),
                })
                .collect();
            put(
                "compare_rss.svg",
                &svg::bar_chart(
                    "Peak RSS per run (MiB, lower is better)",
                    "MiB",
                    &groups,
                    &series,
                    false,
                ),
            )?;
        }
        Ok(written)
    }
}

/// Column-header abbreviation of an allocator's name.
fn short(name: &str) -> &str {
    match name {
        "tinyalloc" => "tiny",
        "system" => "sys",
        "mimalloc" => "mi",
        "jemalloc" => "je",
        "snmalloc" => "sn",
        "rpmalloc" => "rp",
        other => other,
    }
}

fn ratio(tiny: Option<f64>, peer: Option<f64>) -> String {
    match (tiny, peer) {
        // Two decimals, but never a ratio that reads as 0.00: below 0.01,
        // scientific notation.
        (Some(t), Some(p)) if p > 0.0 && t / p < 0.01 => format!("{:.1e}", t / p),
        (Some(t), Some(p)) if p > 0.0 => format!("{:.2}", t / p),
        _ => "-".into(),
    }
}

/// Formats rows as an aligned text table. `groups` are the widths (in
/// columns) of the leading groups, separated by `|`; the first column is
/// left-aligned, the rest right-aligned.
fn table(head: &[String], rows: &[Vec<String>], groups: &[usize]) -> String {
    let cols = head.len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut bars = Vec::new();
    let mut at = 0;
    for g in groups {
        at += g;
        bars.push(at);
    }
    let line = |cells: &[String]| {
        let mut s = String::from(" ");
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 && bars.contains(&c) {
                s.push_str(" |");
            }
            if c == 0 {
                let _ = write!(s, " {:<w$}", cell, w = widths[c]);
            } else {
                let _ = write!(s, " {:>w$}", cell, w = widths[c]);
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(head);
    let rule: usize = out.len() - 1;
    out.push_str(&"-".repeat(rule));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
    }
    out
}
