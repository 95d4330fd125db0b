//! Run a C benchmark program under each allocator's `LD_PRELOAD`.
//!
//! ```text
//! cargo run --release -p tinyalloc-bench --bin preload -- <program> [options] [-- program args]
//!   --threads 1,2,4,8     run once per thread count: `{threads}` in the program
//!                         args is replaced by it, or it is appended as the last arg
//!   --reps 3              repetitions (each runs every allocator once, order rotating)
//!   --allocators a,b,..   default glibc,tinyalloc,mimalloc,jemalloc,tcmalloc;
//!                         `label=path/to/lib.so` adds another library (e.g. a
//!                         saved build of tinyalloc, for before/after runs)
//!   --no-build            skip `scripts/peers.sh` (peers and libtinyalloc.so built already)
//!   --no-csv              do not write papers/figures/preload.csv (trial runs)
//! ```
//!
//! It builds the peers (`scripts/peers.sh`: `target/peers/lib*.so` and
//! `target/release/libtinyalloc.so`; glibc is "no preload"), compiles
//! `benches/c/<program>.c` with `gcc -O2 -pthread` into `target/c/`, checks
//! with a `dladdr` probe that each preload takes over `malloc`, and runs every
//! allocator × thread count, interleaving the allocators within each
//! repetition so machine noise hits all alike.
//!
//! Convention for `benches/c/*.c`: the program prints exactly one line
//! `RESULT key=value key=value ...` on stdout. Every key is shown (numeric
//! values as medians over the repetitions). The speed ratio uses
//! `ops_per_sec` (higher is better) or else `secs` (lower is better), and is
//! always tinyalloc's speed / the peer's: above 1.00, tinyalloc is faster. A
//! `malloc_from` key, if printed, must name the preloaded library. Peak RSS
//! comes from `wait4`'s `ru_maxrss`.
//!
//! The medians go to `papers/figures/preload.csv`
//! (`program,args,threads,allocator,key,median,min,max,samples`), replacing
//! that program's earlier rows.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const ALLOCATORS: [&str; 5] = ["glibc", "tinyalloc", "mimalloc", "jemalloc", "tcmalloc"];

const PROBE: &str = r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    Dl_info info;
    void *p = malloc(16);
    if (!dladdr((void *)&malloc, &info) || !info.dli_fname) return 1;
    printf("%s\n", info.dli_fname);
    free(p);
    return 0;
}
"#;

struct Options {
    program: String,
    threads: Vec<Option<usize>>,
    reps: usize,
    allocators: Vec<String>,
    build: bool,
    csv: bool,
    args: Vec<String>,
}

fn usage() -> String {
    "usage: preload <program> [--threads 1,2,4] [--reps N] [--allocators glibc,tinyalloc,...] \
     [--no-build] [--no-csv] [-- program args]"
        .to_string()
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        program: String::new(),
        threads: vec![None],
        reps: 3,
        allocators: ALLOCATORS.iter().map(|a| a.to_string()).collect(),
        build: true,
        csv: true,
        args: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                let list = args.next().ok_or_else(usage)?;
                options.threads = list
                    .split(',')
                    .map(|t| {
                        t.parse()
                            .map(Some)
                            .map_err(|_| format!("bad thread count {t}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--reps" => {
                let n = args.next().ok_or_else(usage)?;
                options.reps = n.parse().map_err(|_| format!("bad --reps {n}"))?;
            }
            "--allocators" => {
                let list = args.next().ok_or_else(usage)?;
                options.allocators = list.split(',').map(str::to_string).collect();
                for a in &options.allocators {
                    if !a.contains('=') && !ALLOCATORS.contains(&a.as_str()) {
                        return Err(format!("unknown allocator {a} (know {ALLOCATORS:?})"));
                    }
                }
            }
            "--no-build" => options.build = false,
            "--no-csv" => options.csv = false,
            "--help" | "-h" => return Err(usage()),
            "--" => options.args.extend(args.by_ref()),
            _ if options.program.is_empty() => options.program = arg,
            _ => options.args.push(arg),
        }
    }
    if options.program.is_empty() || options.reps == 0 {
        return Err(usage());
    }
    Ok(options)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

/// The library to preload for `allocator` (None: glibc, no preload).
fn library(allocator: &str) -> Option<PathBuf> {
    let root = root();
    if let Some((_, path)) = allocator.split_once('=') {
        return Some(PathBuf::from(path));
    }
    match allocator {
        "glibc" => None,
        "tinyalloc" => Some(root.join("target/release/libtinyalloc.so")),
        peer => Some(root.join(format!("target/peers/lib{peer}.so"))),
    }
}

fn run_checked(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn compile(source: &Path, exe: &Path) -> Result<(), String> {
    run_checked(
        Command::new("gcc")
            .args(["-O2", "-pthread", "-o"])
            .arg(exe)
            .arg(source)
            .args(["-ldl", "-lm"]),
    )
}

/// What one run printed, plus its peak RSS.
struct Run {
    keys: Vec<(String, String)>,
}

/// Run `exe` with `args` under `allocator`'s preload; parse its RESULT line.
fn run_one(exe: &Path, args: &[String], allocator: &str) -> Result<Run, String> {
    let mut cmd = Command::new(exe);
    cmd.args(args).stdout(Stdio::piped());
    cmd.env_remove("LD_PRELOAD");
    if let Some(lib) = library(allocator) {
        cmd.env("LD_PRELOAD", lib);
    }
    let mut child = cmd.spawn().map_err(|e| format!("{exe:?}: {e}"))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).map_err(|e| e.to_string())?;
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the child is ours and not waited for yet; the out-pointers are valid.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    if pid < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!(
            "{exe:?} {args:?} under {allocator}: wait status {status:#x}"
        ));
    }
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("{exe:?} under {allocator} printed no RESULT line"))?;
    let mut keys: Vec<(String, String)> = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some((_, from)) = keys.iter().find(|(k, _)| k == "malloc_from") {
        check_from(allocator, from)?;
    }
    keys.push(("peak_rss_kb".to_string(), usage.ru_maxrss.to_string()));
    Ok(Run { keys })
}

/// The name `allocator` is shown under (`label` of `label=path`).
fn label(allocator: &str) -> &str {
    allocator
        .split_once('=')
        .map_or(allocator, |(label, _)| label)
}

/// Whether `from` (a `dladdr` file name of `malloc`) is `allocator`'s library.
fn check_from(allocator: &str, from: &str) -> Result<(), String> {
    let expected = match library(allocator) {
        None => "libc.so".to_string(),
        Some(lib) if allocator.contains('=') => lib.to_string_lossy().into_owned(),
        Some(lib) => lib.file_name().unwrap().to_string_lossy().into_owned(),
    };
    if from.contains(&expected) {
        Ok(())
    } else {
        Err(format!(
            "under {allocator}, malloc came from {from}, not {expected}"
        ))
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The numeric values of every key over the repetitions of one cell.
#[derive(Default)]
struct Cell {
    numeric: BTreeMap<String, Vec<f64>>,
    text: BTreeMap<String, String>,
    order: Vec<String>,
}

impl Cell {
    fn add(&mut self, run: Run) {
        for (key, value) in run.keys {
            if !self.order.contains(&key) {
                self.order.push(key.clone());
            }
            match value.parse::<f64>() {
                Ok(v) => self.numeric.entry(key).or_default().push(v),
                Err(_) => {
                    self.text.insert(key, value);
                }
            }
        }
    }

    fn median(&self, key: &str) -> Option<f64> {
        let mut values = self.numeric.get(key)?.clone();
        Some(median(&mut values))
    }

    /// Speed (higher is better) for ratios.
    fn speed(&self) -> Option<f64> {
        self.median("ops_per_sec")
            .or_else(|| self.median("secs").map(|s| 1.0 / s))
    }
}

fn format_value(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("preload: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<(), String> {
    let options = parse_args()?;
    let root = root();
    if options.build {
        run_checked(Command::new("bash").arg(root.join("scripts/peers.sh")))?;
    }
    let dir = root.join("target/c");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let source = root.join(format!("benches/c/{}.c", options.program));
    let exe = dir.join(&options.program);
    compile(&source, &exe)?;
    let probe_src = dir.join("preload_probe.c");
    let probe = dir.join("preload_probe");
    std::fs::write(&probe_src, PROBE).map_err(|e| e.to_string())?;
    compile(&probe_src, &probe)?;
    for allocator in &options.allocators {
        if let Some(lib) = library(allocator) {
            if !lib.exists() {
                return Err(format!("{} missing (run scripts/peers.sh)", lib.display()));
            }
        }
        let mut cmd = Command::new(&probe);
        cmd.env_remove("LD_PRELOAD");
        if let Some(lib) = library(allocator) {
            cmd.env("LD_PRELOAD", lib);
        }
        let out = cmd.output().map_err(|e| e.to_string())?;
        let from = String::from_utf8_lossy(&out.stdout);
        check_from(allocator, from.trim())?;
        eprintln!("preload: {allocator}: malloc from {}", from.trim());
    }

    let args_for = |threads: Option<usize>| -> Vec<String> {
        let Some(t) = threads else {
            return options.args.clone();
        };
        let mut args: Vec<String> = options
            .args
            .iter()
            .map(|a| a.replace("{threads}", &t.to_string()))
            .collect();
        if !options.args.iter().any(|a| a.contains("{threads}")) {
            args.push(t.to_string());
        }
        args
    };

    let mut cells: BTreeMap<(usize, String), Cell> = BTreeMap::new();
    let n = options.allocators.len();
    for rep in 0..options.reps {
        for (ti, &threads) in options.threads.iter().enumerate() {
            let args = args_for(threads);
            for k in 0..n {
                let allocator = &options.allocators[(k + rep + ti) % n];
                let run = run_one(&exe, &args, allocator)?;
                eprintln!(
                    "preload: rep {} {} {:?} {allocator}: {}",
                    rep + 1,
                    options.program,
                    args,
                    run.keys
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                cells.entry((ti, allocator.clone())).or_default().add(run);
            }
        }
    }

    let mut table = String::new();
    let mut csv = Vec::new();
    let arg_text = options.args.join(" ");
    for (ti, &threads) in options.threads.iter().enumerate() {
        let thread_text = threads.map_or("-".to_string(), |t| t.to_string());
        table.push_str(&format!(
            "\n{} {}  threads={thread_text}  (medians of {}; ratio = tinyalloc speed / allocator's)\n",
            options.program,
            args_for(threads).join(" "),
            options.reps
        ));
        let tiny_speed = options
            .allocators
            .iter()
            .find(|a| label(a) == "tinyalloc")
            .and_then(|a| cells.get(&(ti, a.clone())))
            .and_then(Cell::speed);
        let keys: Vec<String> = options
            .allocators
            .iter()
            .flat_map(|a| cells[&(ti, a.clone())].order.clone())
            .fold(Vec::new(), |mut acc, k| {
                if !acc.contains(&k) {
                    acc.push(k);
                }
                acc
            });
        table.push_str(&format!("{:<10} {:>9}", "allocator", "tiny/this"));
        for key in &keys {
            table.push_str(&format!(" {:>14}", key));
        }
        table.push('\n');
        for allocator in &options.allocators {
            let cell = &cells[&(ti, allocator.clone())];
            let ratio = match (tiny_speed, cell.speed()) {
                (Some(t), Some(s)) if s > 0.0 => format!("{:.2}", t / s),
                _ => "-".to_string(),
            };
            table.push_str(&format!("{:<10} {ratio:>9}", label(allocator)));
            for key in &keys {
                let shown = match (cell.median(key), cell.text.get(key)) {
                    (Some(v), _) => format_value(v),
                    (None, Some(t)) => Path::new(t)
                        .file_name()
                        .map_or(t.clone(), |f| f.to_string_lossy().into_owned()),
                    _ => "-".to_string(),
                };
                table.push_str(&format!(" {shown:>14}"));
            }
            table.push('\n');
            for (key, values) in &cell.numeric {
                let mut values = values.clone();
                let med = median(&mut values);
                csv.push(format!(
                    "{},{},{thread_text},{},{key},{med},{},{},{}",
                    options.program,
                    arg_text.replace(',', ";"),
                    label(allocator),
                    values[0],
                    values[values.len() - 1],
                    values.len()
                ));
            }
        }
    }
    println!("{table}");
    if !options.csv {
        return Ok(());
    }

    let path = root.join("papers/figures/preload.csv");
    let header = "program,args,threads,allocator,key,median,min,max,samples";
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter(|l| l.split(',').next() != Some(options.program.as_str()))
        .map(str::to_string)
        .collect();
    lines.extend(csv);
    let mut text = String::from(header);
    text.push('\n');
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("preload: wrote {}", path.display());
    Ok(())
}
