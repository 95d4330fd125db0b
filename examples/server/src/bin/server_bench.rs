//! Runs the JSON service once per allocator under the load generator and
//! prints requests/s and the server's peak RSS (VmHWM) side by side.
//!
//! `cargo run --release --manifest-path examples/server/Cargo.toml --bin server_bench -- [--reps 3] [--secs 3] [--conns 32] [--workers N] [--loadgen-threads 1] [--allocators tinyalloc,system,jemalloc,mimalloc]`
//!
//! Each rep runs every allocator once, in an order rotated per rep; each
//! run is a fresh server process (binaries next to this one), an idle RSS
//! read once it listens, one load generator process, then the server's
//! VmHWM and VmRSS, and the server is killed. The table gives medians.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

struct Run {
    rps: f64,
    errors: u64,
    idle_kib: u64,
    hwm_kib: u64,
    rss_kib: u64,
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let p = exe.with_file_name(name);
    assert!(
        p.exists(),
        "{} not built: cargo build --release --manifest-path examples/server/Cargo.toml --bins",
        p.display()
    );
    p
}

fn run_one(alloc: &str, secs: f64, conns: usize, workers: usize, lg_threads: usize) -> Run {
    let mut server = Command::new(sibling(&format!("server_{alloc}")))
        .args(["--workers", &workers.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let pid = server.id();
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server's first line");
    let port: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("server said {line:?}"));
    let idle_kib = status_kib(pid, "VmRSS:");
    let out = Command::new(sibling("loadgen"))
        .args([
            "--port",
            &port.to_string(),
            "--conns",
            &conns.to_string(),
            "--secs",
            &secs.to_string(),
            "--threads",
            &lg_threads.to_string(),
        ])
        .output()
        .expect("run loadgen");
    let hwm_kib = status_kib(pid, "VmHWM:");
    let rss_kib = status_kib(pid, "VmRSS:");
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| -> f64 {
        let mut it = text.split_whitespace();
        while let Some(w) = it.next() {
            if w == k {
                return it.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            }
        }
        panic!("loadgen said {text:?}");
    };
    Run {
        rps: field("rps"),
        errors: field("errors") as u64,
        idle_kib,
        hwm_kib,
        rss_kib,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let mut reps = 3usize;
    let mut secs = 3.0f64;
    let mut conns = 32usize;
    let mut workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut lg_threads = 1usize;
    let mut allocs: Vec<String> = ["tinyalloc", "system", "jemalloc", "mimalloc"]
        .map(String::from)
        .to_vec();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--reps" => reps = v.parse().expect("--reps N"),
            "--secs" => secs = v.parse().expect("--secs S"),
            "--conns" => conns = v.parse().expect("--conns N"),
            "--workers" => workers = v.parse().expect("--workers N"),
            "--loadgen-threads" => lg_threads = v.parse().expect("--loadgen-threads N"),
            "--allocators" => allocs = v.split(',').map(String::from).collect(),
            _ => panic!("unknown argument {k}"),
        }
    }
    println!(
        "# server_bench: {conns} connections, {secs} s per run, {reps} reps, server workers {workers}, loadgen threads {lg_threads}"
    );
    println!(
        "{:<10} {:>4} {:>9} {:>7} {:>10} {:>10} {:>10}",
        "allocator", "rep", "req/s", "errors", "idle KiB", "peak KiB", "end KiB"
    );
    let mut runs: Vec<Vec<Run>> = allocs.iter().map(|_| Vec::new()).collect();
    for rep in 0..reps {
        for k in 0..allocs.len() {
            let i = (k + rep) % allocs.len();
            let r = run_one(&allocs[i], secs, conns, workers, lg_threads);
            println!(
                "{:<10} {:>4} {:>9.0} {:>7} {:>10} {:>10} {:>10}",
                allocs[i], rep, r.rps, r.errors, r.idle_kib, r.hwm_kib, r.rss_kib
            );
            runs[i].push(r);
        }
    }
    let med = |i: usize, f: &dyn Fn(&Run) -> f64| median(runs[i].iter().map(f).collect());
    let idx = |name: &str| allocs.iter().position(|a| a == name);
    let glibc_hwm = idx("system").map(|i| med(i, &|r| r.hwm_kib as f64));
    let je_rps = idx("jemalloc").map(|i| med(i, &|r| r.rps));
    println!();
    println!("medians of {reps}:");
    println!(
        "{:<10} {:>9} {:>12} {:>10} {:>12} {:>12}",
        "allocator", "req/s", "rps/jemalloc", "peak MiB", "peak/glibc", "idle MiB"
    );
    for (i, a) in allocs.iter().enumerate() {
        let rps = med(i, &|r| r.rps);
        let hwm = med(i, &|r| r.hwm_kib as f64);
        let idle = med(i, &|r| r.idle_kib as f64);
        let ratio = |x: Option<f64>, v: f64| x.map_or("-".into(), |x| format!("{:.2}", v / x));
        println!(
            "{:<10} {:>9.0} {:>12} {:>10.1} {:>12} {:>12.1}",
            a,
            rps,
            ratio(je_rps, rps),
            hwm / 1024.0,
            ratio(glibc_hwm, hwm),
            idle / 1024.0
        );
    }
}
