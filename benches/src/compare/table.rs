//! Tables: the aligned text tables `compare` prints (and writes to
//! `compare.txt`), `compare.csv`, and the number formats they share.

use std::fmt::Write as _;
use std::time::Duration;

use super::measure::Report;
use crate::workload::Workload;

/// Three significant digits, without exponent for the ranges we print.
pub fn fmt_sig(v: f64) -> String {
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
pub fn fmt_si(v: f64) -> String {
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

/// Column-header abbreviation of an allocator's name.
pub fn short(name: &str) -> &str {
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
pub fn table(head: &[String], rows: &[Vec<String>], groups: &[usize]) -> String {
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

/// The same rows as a Markdown (GitHub) table: first column left-aligned,
/// the rest right-aligned. Column groups have no separator in Markdown.
pub fn markdown_table(head: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = line(head);
    let rule: Vec<String> = (0..head.len())
        .map(|c| if c == 0 { ":---" } else { "---:" }.to_string())
        .collect();
    out.push_str(&line(&rule));
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// How [`Report::tables_as`] lays out its tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Aligned columns, groups separated by `|` (stdout, `compare.txt`).
    Text,
    /// Markdown tables, for pasting into a report (`--markdown`).
    Markdown,
}

impl Style {
    fn table(self, head: &[String], rows: &[Vec<String>], groups: &[usize]) -> String {
        match self {
            Style::Text => table(head, rows, groups),
            // Blank lines around: a table neither interrupts the paragraph
            // above nor takes in the lines below as rows.
            Style::Markdown => format!("\n{}\n", markdown_table(head, rows)),
        }
    }
}

impl Report {
    /// The tables as printed on stdout and written to `compare.txt`.
    pub fn tables(&self, elapsed: Duration) -> String {
        self.tables_as(elapsed, Style::Text)
    }

    /// The tables in `style`; the lines around them are the same in both.
    pub fn tables_as(&self, elapsed: Duration, style: Style) -> String {
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
                    s.push_str(&style.table(&head, &rows, &groups));
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
            s.push_str(&style.table(&head, &rows, &groups));
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

    /// `compare.csv`: `section,workload,threads,allocator,value,unit,min,max,samples,peak_rss_kb,end_rss_kb`.
    pub fn csv(&self) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(fmt_sig(123.4), "123");
        assert_eq!(fmt_sig(0.01234), "0.0123");
        assert_eq!(fmt_si(32_300_000.0), "32.3M");
        assert_eq!(ratio(Some(1.0), Some(1000.0)), "1.0e-3");
        assert_eq!(ratio(Some(1.0), None), "-");
    }

    #[test]
    fn tables_align_and_separate_groups() {
        let head: Vec<String> = ["w", "a", "bb"].map(String::from).to_vec();
        let rows = vec![["x".to_string(), "10".into(), "2".into()].to_vec()];
        assert_eq!(
            table(&head, &rows, &[1, 1]),
            "  w |  a | bb\n-------------\n  x | 10 |  2\n"
        );
    }

    #[test]
    fn markdown_tables() {
        let head: Vec<String> = ["w", "a"].map(String::from).to_vec();
        let rows = vec![["x".to_string(), "10".into()].to_vec()];
        assert_eq!(
            markdown_table(&head, &rows),
            "| w | a |\n| :--- | ---: |\n| x | 10 |\n"
        );
    }

    #[test]
    fn csv_round_trips_through_from_csv() {
        let csv = "section,workload,threads,allocator,value,unit,min,max,samples,peak_rss_kb,end_rss_kb\n\
                   micro,mixed,1,tinyalloc,5.0000,ns_per_op,4.0000,6.0000,21,,\n\
                   mt,churn,2,system,1000.0,ops_per_sec,,,1,2048,1024\n";
        let r = Report::from_csv(csv).unwrap();
        assert_eq!(r.csv(), csv);
    }
}
