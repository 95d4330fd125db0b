//! `compare`'s command line: quick / full mode and the lists that narrow a
//! run down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::micro::Micro;
use crate::peer_names;
use crate::workload::Workload;

/// Printed for `--help` and after a bad argument.
pub const USAGE: &str = "\
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
  --markdown           print the tables as Markdown (compare.txt keeps the text tables)
  --replot CSV         measure nothing: redraw the SVGs from a compare.csv into --out
";

/// What one `compare` invocation runs and writes.
#[derive(Clone, Debug)]
pub struct Opts {
    pub full: bool,
    pub build: bool,
    pub files: bool,
    /// `--markdown`: stdout gets Markdown tables.
    pub markdown: bool,
    pub out: PathBuf,
    /// `--replot`: the compare.csv to redraw the figures from.
    pub replot: Option<PathBuf>,
    pub micro: Vec<Micro>,
    pub workloads: Vec<Workload>,
    pub threads: Vec<usize>,
    pub allocators: Vec<&'static str>,
    /// Micro: interleaved rounds and target time of one measurement.
    pub rounds: usize,
    pub micro_target: Duration,
    /// Multi-thread: warm-up and measured window per run, repetitions.
    pub warmup: Duration,
    pub measure: Duration,
    pub reps: usize,
}

fn parse_list<T>(s: &str, f: impl Fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| f(x.trim()).ok_or_else(|| format!("unknown {what} `{x}`")))
        .collect()
}

/// Parses the arguments after the program name; `Err("")` means `--help`.
pub fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let full = args.iter().any(|a| a == "--full");
    let mut o = Opts {
        full,
        build: true,
        files: true,
        markdown: false,
        out: workspace_root().join("papers/figures"),
        replot: None,
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
            "--markdown" => o.markdown = true,
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
            "--replot" => o.replot = Some(PathBuf::from(value()?)),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

/// The workspace root: the parent of this package's directory.
pub fn workspace_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn modes_and_lists() {
        let q = parse_opts(&args("--quick")).unwrap();
        assert_eq!((q.rounds, q.reps, q.threads.len()), (21, 1, 4));
        let f = parse_opts(&args("--full --threads 2,8 --micro mixed --mt-only")).unwrap();
        assert_eq!((f.rounds, f.reps), (41, 3));
        assert_eq!(f.threads, vec![2, 8]);
        assert!(f.micro.is_empty());
        assert_eq!(parse_opts(&args("--help")).unwrap_err(), "");
        assert!(parse_opts(&args("--threads 0")).is_err());
        assert!(parse_opts(&args("--allocators nosuch")).is_err());
    }
}
