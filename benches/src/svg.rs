//! A small hand-written SVG writer for `compare`'s figures: line charts
//! (throughput vs threads) and grouped bar charts (peak RSS, micro timings).
//! No plotting dependency; the output is plain SVG 1.1 that browsers,
//! Inkscape and LaTeX (via svg/inkscape) read.

use std::fmt::Write as _;

/// One line or one bar colour: a name (legend) and one value per x
/// category / group; `None` leaves a gap (failed or unsupported run).
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// Fixed colours so every figure shows an allocator the same way;
/// tinyalloc is the saturated red.
pub fn color_for(name: &str) -> &'static str {
    match name {
        "tinyalloc" => "#d62728",
        "system" => "#7f7f7f",
        "mimalloc" => "#1f77b4",
        "jemalloc" => "#2ca02c",
        "snmalloc" => "#9467bd",
        "rpmalloc" => "#ff7f0e",
        _ => "#17becf",
    }
}

/// Room for a title in 15 px bold, with margins.
fn title_width(title: &str) -> f64 {
    (title.chars().count() as f64 * 9.0 + 40.0).max(480.0)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

/// Formats a tick label compactly (1.5k, 2M, 0.025): at most four
/// decimals, trailing zeros trimmed.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

/// Maps data values to the plot's y pixel range, linear from 0 or log10.
struct YAxis {
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl YAxis {
    fn new(values: impl Iterator<Item = f64>, log: bool) -> YAxis {
        let vals: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
        let max = vals.iter().copied().fold(0.0, f64::max);
        if log {
            let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let (lo, hi) = if vals.is_empty() {
                (0.0, 1.0)
            } else {
                (
                    min.log10().floor(),
                    max.log10().ceil().max(min.log10().floor() + 1.0),
                )
            };
            let ticks = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
            YAxis { log, lo, hi, ticks }
        } else {
            let max = if max > 0.0 { max } else { 1.0 };
            let step = nice_step(max, 5.0);
            let hi = (max / step).ceil() * step;
            let ticks = (0..=((hi / step).round() as usize))
                .map(|i| i as f64 * step)
                .collect();
            YAxis {
                log,
                lo: 0.0,
                hi,
                ticks,
            }
        }
    }

    /// Fraction of the plot height (0 = bottom, 1 = top).
    fn frac(&self, v: f64) -> f64 {
        let x = if self.log { v.max(1e-300).log10() } else { v };
        ((x - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }
}

struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn plot_w(&self) -> f64 {
        self.width - self.left - self.right
    }
    fn plot_h(&self) -> f64 {
        self.height - self.top - self.bottom
    }
    fn y(&self, axis: &YAxis, v: f64) -> f64 {
        self.top + self.plot_h() * (1.0 - axis.frac(v))
    }
}

fn open(out: &mut String, f: &Frame, title: &str) {
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#,
        w = f.width,
        h = f.height
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        f.width / 2.0,
        esc(title)
    );
}

fn y_axis(out: &mut String, f: &Frame, axis: &YAxis, label: &str) {
    for &t in &axis.ticks {
        let y = f.y(axis, t);
        let _ = writeln!(
            out,
            r##"<line x1="{l}" y1="{y:.1}" x2="{r}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{}</text>"##,
            fmt_num(t),
            l = f.left,
            r = f.left + f.plot_w(),
            tx = f.left - 6.0,
            ty = y + 4.0
        );
    }
    let cy = f.top + f.plot_h() / 2.0;
    let _ = writeln!(
        out,
        r#"<text x="16" y="{cy:.1}" text-anchor="middle" transform="rotate(-90 16 {cy:.1})">{}</text>"#,
        esc(label)
    );
    let _ = writeln!(
        out,
        r#"<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="black"/><line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/>"#,
        l = f.left,
        t = f.top,
        b = f.top + f.plot_h(),
        r = f.left + f.plot_w()
    );
}

fn legend(out: &mut String, f: &Frame, series: &[Series]) {
    let x = f.width - f.right + 14.0;
    for (i, s) in series.iter().enumerate() {
        let y = f.top + 8.0 + i as f64 * 20.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{ry}" width="14" height="10" fill="{c}"/><text x="{tx}" y="{ty}">{}</text>"#,
            esc(&s.name),
            ry = y - 9.0,
            c = color_for(&s.name),
            tx = x + 20.0,
            ty = y
        );
    }
}

/// A line chart over categorical x values (e.g. thread counts 1, 2, 4, 8),
/// one line with markers per series; y is linear from zero.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    xs: &[String],
    series: &[Series],
) -> String {
    let f = Frame {
        width: 640.0,
        height: 400.0,
        left: 70.0,
        right: 120.0,
        top: 40.0,
        bottom: 50.0,
    };
    let axis = YAxis::new(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied()),
        false,
    );
    let mut out = String::new();
    open(&mut out, &f, title);
    y_axis(&mut out, &f, &axis, y_label);
    let n = xs.len().max(1) as f64;
    let x_at = |i: usize| f.left + f.plot_w() * (i as f64 + 0.5) / n;
    for (i, x) in xs.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x_at(i),
            f.top + f.plot_h() + 18.0,
            esc(x)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        f.left + f.plot_w() / 2.0,
        f.height - 10.0,
        esc(x_label)
    );
    for s in series {
        let c = color_for(&s.name);
        let width = if s.name == "tinyalloc" { 3.0 } else { 2.0 };
        // Consecutive present points form one polyline; a gap breaks it.
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() > 1 {
                let _ = writeln!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="{width}"/>"#,
                    run.join(" ")
                );
            }
            run.clear();
        };
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let (x, y) = (x_at(i), f.y(&axis, *v));
                    run.push(format!("{x:.1},{y:.1}"));
                    let _ = writeln!(
                        out,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{c}"/>"#
                    );
                }
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
    }
    legend(&mut out, &f, series);
    out.push_str("</svg>\n");
    out
}

/// A grouped bar chart: one group per entry of `groups`, one bar per series
/// in each group. `log_y` uses a log10 axis (for values spanning decades).
pub fn bar_chart(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[Series],
    log_y: bool,
) -> String {
    let group_w = (series.len() as f64 * 12.0 + 18.0).max(48.0);
    let f = Frame {
        width: (70.0 + 120.0 + groups.len() as f64 * group_w).max(title_width(title)),
        height: 430.0,
        left: 70.0,
        right: 120.0,
        top: 40.0,
        bottom: 80.0,
    };
    let axis = YAxis::new(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied()),
        log_y,
    );
    let mut out = String::new();
    open(&mut out, &f, title);
    y_axis(&mut out, &f, &axis, y_label);
    let gw = f.plot_w() / groups.len().max(1) as f64;
    let bw = (gw - 12.0) / series.len().max(1) as f64;
    let base = f.top + f.plot_h();
    for (g, name) in groups.iter().enumerate() {
        let gx = f.left + g as f64 * gw + 6.0;
        for (i, s) in series.iter().enumerate() {
            if let Some(Some(v)) = s.values.get(g) {
                let y = f.y(&axis, *v);
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                    gx + i as f64 * bw,
                    (bw - 1.0).max(1.0),
                    (base - y).max(0.0),
                    color_for(&s.name),
                    esc(&s.name),
                    esc(name),
                    fmt_num(*v)
                );
            }
        }
        let cx = gx + (gw - 12.0) / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="{cx:.1}" y="{ty:.1}" text-anchor="end" transform="rotate(-35 {cx:.1} {ty:.1})">{}</text>"#,
            esc(name),
            ty = base + 14.0
        );
    }
    legend(&mut out, &f, series);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_1_2_5_times_a_power_of_ten() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(47.0, 5.0), 10.0);
        assert_eq!(nice_step(0.3, 5.0), 0.1);
    }

    #[test]
    fn tick_labels_keep_small_steps_distinct() {
        assert_eq!(fmt_num(0.005), "0.005");
        assert_eq!(fmt_num(0.015), "0.015");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(2500.0), "2.5k");
        assert_eq!(fmt_num(3e7), "30M");
    }

    #[test]
    fn charts_are_closed_svg_and_skip_missing_values() {
        let series = vec![
            Series {
                name: "tinyalloc".into(),
                values: vec![Some(1.0), None, Some(3.0)],
            },
            Series {
                name: "a<b".into(),
                values: vec![Some(2.0), Some(2.5), Some(1.0)],
            },
        ];
        let xs: Vec<String> = ["1", "2", "4"].map(String::from).to_vec();
        let line = line_chart("t", "threads", "Mops/s", &xs, &series);
        assert!(line.starts_with("<svg") && line.ends_with("</svg>\n"));
        assert!(line.contains("a&lt;b"), "labels are XML-escaped");
        assert_eq!(
            line.matches("<circle").count(),
            5,
            "one marker per present value"
        );
        let bars = bar_chart("t", "KiB", &xs, &series, true);
        assert_eq!(
            bars.matches("<rect x=").count() - 2,
            5,
            "one bar per present value (+2 legend swatches)"
        );
    }
}
