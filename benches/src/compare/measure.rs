//! Measuring: what the children report (time per op, throughput, peak and
//! end RSS; the children read RSS with [`crate::peak_rss_kb`] and
//! [`crate::current_rss_kb`]), parsed from their result lines, and the
//! [`Report`] that reduces repetitions to medians for the tables and figures.

use std::collections::BTreeMap;
use std::time::Duration;

use super::opts::Opts;
use crate::micro::Micro;
use crate::workload::Workload;

/// One micro workload × allocator: ns per op over the interleaved rounds.
#[derive(Clone, Debug)]
pub struct MicroResult {
    pub kind: Micro,
    pub allocator: String,
    pub median_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
    pub samples: usize,
}

/// One multi-thread run (one process).
#[derive(Clone, Debug)]
pub struct MtRun {
    pub workload: Workload,
    pub threads: usize,
    pub allocator: &'static str,
    /// `Err` holds why the run failed.
    pub result: Result<MtSample, String>,
}

/// What a successful multi-thread run reported.
#[derive(Clone, Copy, Debug)]
pub struct MtSample {
    pub ops_per_sec: f64,
    pub peak_rss_kb: u64,
    pub end_rss_kb: u64,
}

/// Aggregated multi-thread cell: medians over repetitions, and the
/// throughput's range over them (the figures' error bars).
#[derive(Clone, Copy, Debug)]
pub struct MtCell {
    pub ops_per_sec: f64,
    pub min_ops_per_sec: f64,
    pub max_ops_per_sec: f64,
    pub peak_rss_kb: f64,
    pub end_rss_kb: f64,
    pub samples: usize,
}

/// `key=value` fields of a result line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// The micro child's `MICRO kind=.. allocator=.. median_ns=..` lines.
pub fn parse_micro(out: &str) -> Vec<MicroResult> {
    out.lines()
        .filter(|l| l.starts_with("MICRO "))
        .filter_map(|l| {
            let f = fields(l);
            Some(MicroResult {
                kind: Micro::from_name(f.get("kind")?)?,
                allocator: f.get("allocator")?.to_string(),
                median_ns: f.get("median_ns")?.parse().ok()?,
                min_ns: f.get("min_ns")?.parse().ok()?,
                max_ns: f.get("max_ns")?.parse().ok()?,
                samples: f.get("samples")?.parse().ok()?,
            })
        })
        .collect()
}

/// A `wl_*` child's `RESULT ops_per_sec=.. peak_rss_kb=.. end_rss_kb=..` line.
pub fn parse_mt(out: &str) -> Result<MtSample, String> {
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

/// The median (upper median for even counts), `None` for no values.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Position of `w` in [`Workload::ALL`] (the report's key order).
pub fn widx(w: Workload) -> usize {
    Workload::ALL.iter().position(|&x| x == w).unwrap()
}

/// Everything one `compare` run measured, grouped for output.
pub struct Report {
    pub full: bool,
    pub allocators: Vec<&'static str>,
    pub micro: Result<Vec<MicroResult>, String>,
    pub micro_kinds: Vec<Micro>,
    pub rounds: usize,
    /// (workload, threads) in plan order.
    pub mt_rows: Vec<(Workload, usize)>,
    /// (workload, threads, allocator) -> cell; absent = every run failed.
    pub mt: BTreeMap<(usize, usize, &'static str), MtCell>,
    pub mt_errors: BTreeMap<(usize, usize, &'static str), String>,
    pub failures: usize,
    pub measure: Duration,
    pub reps: usize,
}

impl Report {
    /// Groups the runs by (workload, threads, allocator) and takes medians.
    pub fn new(o: &Opts, micro: Result<Vec<MicroResult>, String>, runs: Vec<MtRun>) -> Report {
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
                let ops = || v.iter().map(|s| s.ops_per_sec);
                let cell = MtCell {
                    ops_per_sec: median(ops().collect()).unwrap(),
                    min_ops_per_sec: ops().fold(f64::INFINITY, f64::min),
                    max_ops_per_sec: ops().fold(0.0, f64::max),
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

    /// Rebuilds a report from a `compare.csv` (for redrawing the figures
    /// without measuring again). Allocator, workload and row order are the
    /// file's; allocators this build does not know are skipped. The
    /// run-time settings (mode, rounds, window) are not in the file and are
    /// left at the quick defaults; multi-thread min/max are the median.
    pub fn from_csv(csv: &str) -> Result<Report, String> {
        let known = crate::peer_names();
        let mut r = Report {
            full: false,
            allocators: Vec::new(),
            micro: Ok(Vec::new()),
            micro_kinds: Vec::new(),
            rounds: 0,
            mt_rows: Vec::new(),
            mt: BTreeMap::new(),
            mt_errors: BTreeMap::new(),
            failures: 0,
            measure: Duration::ZERO,
            reps: 1,
        };
        let mut micro = Vec::new();
        for (n, line) in csv.lines().enumerate().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            let bad = || format!("compare.csv line {}: cannot read `{line}`", n + 1);
            if c.len() != 11 {
                return Err(bad());
            }
            let Some(allocator) = known.iter().copied().find(|k| *k == c[3]) else {
                continue;
            };
            if !r.allocators.contains(&allocator) {
                r.allocators.push(allocator);
            }
            let num = |i: usize| c[i].parse::<f64>().map_err(|_| bad());
            match c[0] {
                "micro" => {
                    let kind = Micro::from_name(c[1]).ok_or_else(bad)?;
                    if !r.micro_kinds.contains(&kind) {
                        r.micro_kinds.push(kind);
                    }
                    micro.push(MicroResult {
                        kind,
                        allocator: allocator.to_string(),
                        median_ns: num(4)?,
                        min_ns: num(6)?,
                        max_ns: num(7)?,
                        samples: c[8].parse().map_err(|_| bad())?,
                    });
                }
                "mt" => {
                    let w = Workload::from_name(c[1]).ok_or_else(bad)?;
                    let t: usize = c[2].parse().map_err(|_| bad())?;
                    if !r.mt_rows.contains(&(w, t)) {
                        r.mt_rows.push((w, t));
                    }
                    let ops = num(4)?;
                    r.mt.insert(
                        (widx(w), t, allocator),
                        MtCell {
                            ops_per_sec: ops,
                            min_ops_per_sec: ops,
                            max_ops_per_sec: ops,
                            peak_rss_kb: num(9)?,
                            end_rss_kb: num(10)?,
                            samples: c[8].parse().map_err(|_| bad())?,
                        },
                    );
                }
                _ => return Err(bad()),
            }
        }
        r.micro = Ok(micro);
        Ok(r)
    }

    pub fn micro_value(&self, kind: Micro, allocator: &str) -> Option<&MicroResult> {
        self.micro
            .as_ref()
            .ok()?
            .iter()
            .find(|m| m.kind == kind && m.allocator == allocator)
    }

    pub fn mt_cell(&self, w: Workload, t: usize, allocator: &str) -> Option<&MtCell> {
        self.mt
            .iter()
            .find(|((wi, ti, a), _)| *wi == widx(w) && *ti == t && *a == allocator)
            .map(|(_, c)| c)
    }

    /// The allocators other than tinyalloc, in report order.
    pub fn peers(&self) -> Vec<&'static str> {
        self.allocators
            .iter()
            .copied()
            .filter(|a| *a != "tinyalloc")
            .collect()
    }

    pub fn has_tiny(&self) -> bool {
        self.allocators.contains(&"tinyalloc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_parse_and_medians_are_upper() {
        let m = parse_micro(
            "noise\nMICRO kind=mixed allocator=tinyalloc median_ns=5.5 min_ns=5 max_ns=7 samples=21\n",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].kind, m[0].median_ns, m[0].samples),
            (Micro::Mixed, 5.5, 21)
        );
        let s = parse_mt("RESULT ops_per_sec=1e6 peak_rss_kb=2048 end_rss_kb=1024\n").unwrap();
        assert_eq!(
            (s.ops_per_sec, s.peak_rss_kb, s.end_rss_kb),
            (1e6, 2048, 1024)
        );
        assert!(parse_mt("RESULT ops_per_sec=1\n").is_err());
        assert_eq!(median(vec![3.0, 1.0, 2.0, 4.0]), Some(3.0));
        assert_eq!(median(Vec::new()), None);
    }
}
