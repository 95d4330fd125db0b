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
//!
//! Each step lives in a module of [`tinyalloc_bench::compare`]: `opts`,
//! `run`, `measure`, `table`, `figures`.

use std::process::ExitCode;
use std::time::Instant;

use tinyalloc_bench::compare::opts::{parse_opts, USAGE};
use tinyalloc_bench::compare::run::{self, register};
use tinyalloc_bench::compare::table::Style;
use tinyalloc_bench::compare::{self, figures, Report};
use tinyalloc_bench::for_each_peer;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--micro-child") {
        // The peers are named here, not in the library, so that the wl_*
        // binaries link none of the other allocators (see the crate docs).
        let mut peers = Vec::new();
        for_each_peer!(register, &mut peers);
        return run::micro_child(&args[1..], peers);
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
    if let Some(csv) = &opts.replot {
        return replot(csv, &opts.out);
    }
    if cfg!(debug_assertions) {
        eprintln!("compare: WARNING: this is a debug build; numbers are meaningless. Use `cargo run --release ...`.");
    }
    let started = Instant::now();
    if opts.build && !opts.workloads.is_empty() {
        if let Err(e) = run::build_workload_bins() {
            eprintln!("compare: {e}");
            return ExitCode::FAILURE;
        }
    }
    let micro = if opts.micro.is_empty() {
        Ok(Vec::new())
    } else {
        run::run_micro_child(&opts)
    };
    let mt = run::run_mt(&opts);
    let report = Report::new(&opts, micro, mt);
    let text = report.tables(started.elapsed());
    if opts.markdown {
        print!("{}", report.tables_as(started.elapsed(), Style::Markdown));
    } else {
        print!("{text}");
    }
    if opts.files {
        match compare::write_files(&report, &opts.out, &text) {
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

/// `--replot CSV`: the figures of an earlier run, redrawn without measuring.
fn replot(csv: &std::path::Path, out: &std::path::Path) -> ExitCode {
    let drawn = std::fs::read_to_string(csv)
        .map_err(|e| format!("reading {}: {e}", csv.display()))
        .and_then(|text| Report::from_csv(&text))
        .and_then(|report| figures::all(&report).map_err(|e| e.to_string()))
        .and_then(|figs| {
            let mut written = Vec::new();
            for (name, svg) in figs {
                let path = out.join(name);
                std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
                written.push(path.display().to_string());
            }
            Ok(written)
        });
    match drawn {
        Ok(files) => {
            eprintln!("compare: wrote {}", files.join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare: --replot: {e}");
            ExitCode::FAILURE
        }
    }
}
