//! Figures: `compare`'s SVGs, drawn with plotters' SVG backend (no font
//! files: text sizes are estimated).
//!
//! - `compare_micro.svg`: ns per op of each micro workload, one bar per
//!   allocator, log y axis, error bars from the fastest to the slowest round.
//! - `compare_mt_<workload>.svg`: throughput vs threads (log2 x axis), one
//!   line per allocator, error bars from the slowest to the fastest
//!   repetition (`--full`; a quick run has one repetition).
//! - `compare_rss.svg`: peak RSS of every multi-thread run, log y axis.
//!
//! Every figure shows an allocator in the same colour ([`color_for`]).

use std::io;

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::measure::Report;
use crate::workload::Workload;

/// One bar colour or line: a name (legend) and one value per x category;
/// `None` leaves a gap (failed or unsupported run). `range` is the error
/// bar (low, high) of a value, where there is one.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub range: Vec<Option<(f64, f64)>>,
}

/// Fixed colours so every figure shows an allocator the same way;
/// tinyalloc is the saturated red.
pub fn color_for(name: &str) -> RGBColor {
    match name {
        "tinyalloc" => RGBColor(0xd6, 0x27, 0x28),
        "system" => RGBColor(0x7f, 0x7f, 0x7f),
        "mimalloc" => RGBColor(0x1f, 0x77, 0xb4),
        "jemalloc" => RGBColor(0x2c, 0xa0, 0x2c),
        "snmalloc" => RGBColor(0x94, 0x67, 0xbd),
        "rpmalloc" => RGBColor(0xff, 0x7f, 0x0e),
        _ => RGBColor(0x17, 0xbe, 0xcf),
    }
}

/// A compact tick label: 1.5k, 2M, 0.025 (at most four decimals).
pub fn fmt_tick(v: f64) -> String {
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

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Every figure of `report`, as (file name, SVG text).
pub fn all(report: &Report) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Ok(micro) = &report.micro {
        if !micro.is_empty() {
            let groups: Vec<String> = report
                .micro_kinds
                .iter()
                .map(|k| k.name().to_string())
                .collect();
            let series = report
                .allocators
                .iter()
                .map(|a| {
                    let m: Vec<_> = report
                        .micro_kinds
                        .iter()
                        .map(|&k| report.micro_value(k, a))
                        .collect();
                    Series {
                        name: a.to_string(),
                        values: m.iter().map(|m| m.map(|m| m.median_ns)).collect(),
                        range: m.iter().map(|m| m.map(|m| (m.min_ns, m.max_ns))).collect(),
                    }
                })
                .collect::<Vec<_>>();
            out.push((
                "compare_micro.svg".to_string(),
                bar_chart(
                    "Single-thread micro workloads (ns per op, log scale, lower is better)",
                    "ns per op (median; bars: fastest..slowest round)",
                    &groups,
                    &series,
                )?,
            ));
        }
    }

    for w in Workload::ALL {
        let threads: Vec<usize> = report
            .mt_rows
            .iter()
            .filter(|(x, _)| *x == w)
            .map(|&(_, t)| t)
            .collect();
        if threads.is_empty() {
            continue;
        }
        let max = threads
            .iter()
            .flat_map(|&t| {
                report
                    .allocators
                    .iter()
                    .filter_map(move |a| report.mt_cell(w, t, a))
            })
            .map(|c| c.max_ops_per_sec.max(c.ops_per_sec))
            .fold(0.0, f64::max);
        let (scale, unit) = if max >= 1e6 {
            (1e6, "Mops/s")
        } else {
            (1e3, "kops/s")
        };
        let series: Vec<Series> = report
            .allocators
            .iter()
            .map(|a| {
                let cells: Vec<_> = threads.iter().map(|&t| report.mt_cell(w, t, a)).collect();
                Series {
                    name: a.to_string(),
                    values: cells
                        .iter()
                        .map(|c| c.map(|c| c.ops_per_sec / scale))
                        .collect(),
                    range: cells
                        .iter()
                        .map(|c| c.map(|c| (c.min_ops_per_sec / scale, c.max_ops_per_sec / scale)))
                        .collect(),
                }
            })
            .collect();
        out.push((
            format!("compare_mt_{}.svg", w.name()),
            line_chart(
                &format!("{}: throughput vs threads (2-core machine)", w.name()),
                "threads",
                unit,
                &threads,
                &series,
            )?,
        ));
    }

    if !report.mt_rows.is_empty() {
        let groups: Vec<String> = report
            .mt_rows
            .iter()
            .map(|(w, t)| format!("{} t={t}", w.name()))
            .collect();
        let series: Vec<Series> = report
            .allocators
            .iter()
            .map(|a| Series {
                name: a.to_string(),
                values: report
                    .mt_rows
                    .iter()
                    .map(|&(w, t)| report.mt_cell(w, t, a).map(|c| c.peak_rss_kb / 1024.0))
                    .collect(),
                range: Vec::new(),
            })
            .collect();
        out.push((
            "compare_rss.svg".to_string(),
            bar_chart(
                "Peak RSS per run (MiB, log scale, lower is better)",
                "MiB (VmHWM)",
                &groups,
                &series,
            )?,
        ));
    }
    Ok(out)
}

/// An f64 axis (linear or log) with ticks exactly at `points`. (plotters'
/// own `with_key_points` loses the f64 axes' label formatter.)
struct Ticks<R> {
    inner: R,
    points: Vec<f64>,
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticks<R> {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.points.clone()
        }
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> Range<i32> {
        self.inner.axis_pixel_range(limit)
    }
}

fn linear(range: Range<f64>, points: Vec<f64>) -> Ticks<RangedCoordf64> {
    Ticks {
        inner: range.into(),
        points,
    }
}

fn log(range: Range<f64>, base: f64, points: Vec<f64>) -> Ticks<LogCoord<f64>> {
    Ticks {
        inner: range.log_scale().base(base).into(),
        points,
    }
}

/// The decades spanning `values` (log axes start and end on a power of ten).
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if hi == 0.0 {
        return (1.0, 10.0, vec![1.0, 10.0]);
    }
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let b = b.max(a + 1);
    let ticks = (a..=b).map(|e| 10f64.powi(e)).collect();
    (10f64.powi(a), 10f64.powi(b), ticks)
}

/// Title, white background; returns the drawing area.
fn canvas<'a>(
    svg: &'a mut String,
    size: (u32, u32),
) -> io::Result<DrawingArea<SVGBackend<'a>, Shift>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE).map_err(io_err)?;
    Ok(root)
}

fn legend<'a, DB, X, Y>(chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>) -> io::Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(io_err)
}

/// A grouped bar chart on a log y axis: one group per entry of `groups`,
/// one bar per series in each group, error bars where a series has a range.
pub fn bar_chart(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[Series],
) -> io::Result<String> {
    let all = series.iter().flat_map(|s| {
        let ranges = s.range.iter().flatten().flat_map(|&(a, b)| [a, b]);
        s.values.iter().flatten().copied().chain(ranges)
    });
    let (lo, hi, ticks) = decades(all);
    // Room above the tallest bar for the legend.
    let hi = hi * 10f64.powf(0.25 * series.len() as f64);
    let n = groups.len().max(1);
    let width = (160 + n * (series.len() * 10 + 14)).max(820) as u32;
    let group_px = (width as usize - 160) / n;
    let longest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
    let mut svg = String::new();
    {
        let label_room = if longest * 7 + 4 > group_px {
            longest as u32 * 7 + 16
        } else {
            30
        };
        let root = canvas(&mut svg, (width, 420 + label_room))?;
        let x_keys: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(label_room)
            .y_label_area_size(64)
            .build_cartesian_2d(
                linear(-0.5..n as f64 - 0.5, x_keys),
                log(lo..hi, 10.0, ticks),
            )
            .map_err(io_err)?;
        // Labels wider than their group are turned to read downwards from
        // the tick, drawn here (the mesh centres turned labels on the tick).
        let rotate = longest * 7 + 4 > group_px;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_style(("sans-serif", 12))
            .x_label_formatter(&|x| {
                let i = x.round();
                if !rotate && (x - i).abs() < 1e-6 && i >= 0.0 {
                    groups.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .y_label_formatter(&|y| fmt_tick(*y))
            .draw()
            .map_err(io_err)?;
        if rotate {
            let style = ("sans-serif", 12)
                .into_font()
                .transform(FontTransform::Rotate90)
                .into_text_style(&root)
                .pos(Pos::new(HPos::Left, VPos::Center));
            for (g, name) in groups.iter().enumerate() {
                let (x, y) = chart.backend_coord(&(g as f64, lo));
                root.draw(&Text::new(name.as_str(), (x, y + 8), style.clone()))
                    .map_err(io_err)?;
            }
        }
        let bw = 0.8 / series.len().max(1) as f64;
        for (k, s) in series.iter().enumerate() {
            let c = color_for(&s.name);
            let left = |g: usize| g as f64 - 0.4 + k as f64 * bw;
            chart
                .draw_series(s.values.iter().enumerate().filter_map(|(g, v)| {
                    v.map(|v| Rectangle::new([(left(g), lo), (left(g) + bw * 0.9, v)], c.filled()))
                }))
                .map_err(io_err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
            chart
                .draw_series(
                    s.values
                        .iter()
                        .zip(&s.range)
                        .enumerate()
                        .filter_map(|(g, (v, r))| {
                            let (v, (a, b)) = (v.as_ref()?, r.as_ref()?);
                            let x = left(g) + bw * 0.45;
                            Some(ErrorBar::new_vertical(
                                x,
                                *a,
                                *v,
                                *b,
                                BLACK.stroke_width(1),
                                4,
                            ))
                        }),
                )
                .map_err(io_err)?;
        }
        legend(&mut chart)?;
        root.present().map_err(io_err)?;
    }
    Ok(svg)
}

/// Throughput vs threads: one line with markers (and error bars, where a
/// series has ranges) per series; x is log2 over the thread counts, y is
/// linear from zero.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    threads: &[usize],
    series: &[Series],
) -> io::Result<String> {
    let xs: Vec<f64> = threads.iter().map(|&t| t as f64).collect();
    let (x_lo, x_hi) = xs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let y_max = series
        .iter()
        .flat_map(|s| {
            let ranges = s.range.iter().flatten().map(|r| r.1);
            s.values.iter().flatten().copied().chain(ranges)
        })
        .fold(0.0, f64::max);
    // Room above the highest point for the legend.
    let y_hi = if y_max > 0.0 {
        y_max * (1.15 + 0.07 * series.len() as f64)
    } else {
        1.0
    };
    let mut svg = String::new();
    {
        let root = canvas(&mut svg, (680, 420))?;
        let x_range = log(x_lo / 1.3..x_hi * 1.3, 2.0, xs.clone());
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, linear(0.0..y_hi, linear_ticks(y_hi)))
            .map_err(io_err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_label_formatter(&|x| format!("{}", x.round()))
            .y_desc(y_label)
            .y_label_formatter(&|y| fmt_tick(*y))
            .draw()
            .map_err(io_err)?;
        for s in series {
            let c = color_for(&s.name);
            let width = if s.name == "tinyalloc" { 3 } else { 2 };
            let points: Vec<(f64, Option<f64>)> =
                xs.iter().copied().zip(s.values.iter().copied()).collect();
            // Consecutive present points form one line; a gap breaks it.
            for run in points.split(|(_, v)| v.is_none()).filter(|r| r.len() > 1) {
                chart
                    .draw_series(LineSeries::new(
                        run.iter().map(|&(x, v)| (x, v.unwrap_or_default())),
                        c.stroke_width(width),
                    ))
                    .map_err(io_err)?;
            }
            chart
                .draw_series(
                    points
                        .iter()
                        .filter_map(|&(x, v)| Some(Circle::new((x, v?), 4, c.filled()))),
                )
                .map_err(io_err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(width))
                });
            chart
                .draw_series(xs.iter().zip(s.values.iter().zip(&s.range)).filter_map(
                    |(&x, (v, r))| {
                        let (v, (a, b)) = (v.as_ref()?, r.as_ref()?);
                        (b > a).then(|| ErrorBar::new_vertical(x, *a, *v, *b, c.stroke_width(1), 6))
                    },
                ))
                .map_err(io_err)?;
        }
        legend(&mut chart)?;
        root.present().map_err(io_err)?;
    }
    Ok(svg)
}

/// Ticks at a 1, 2 or 5 × 10^k step, about five of them, from 0 to `hi`.
fn linear_ticks(hi: f64) -> Vec<f64> {
    let raw = (hi / 5.0).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|f| f * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|&t| t <= hi * (1.0 + 1e-9))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> Vec<Series> {
        vec![
            Series {
                name: "tinyalloc".into(),
                values: vec![Some(1.0), None, Some(3.0)],
                range: vec![Some((0.5, 2.0)), None, Some((3.0, 3.0))],
            },
            Series {
                name: "a<b".into(),
                values: vec![Some(2.0), Some(2.5), Some(1.0)],
                range: Vec::new(),
            },
        ]
    }

    #[test]
    fn tick_labels_and_steps() {
        assert_eq!(fmt_tick(0.005), "0.005");
        assert_eq!(fmt_tick(0.0), "0");
        assert_eq!(fmt_tick(2500.0), "2.5k");
        assert_eq!(fmt_tick(3e7), "30M");
        assert_eq!(linear_ticks(10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(
            decades([3.0, 250.0].into_iter()).2,
            vec![1.0, 10.0, 100.0, 1000.0]
        );
    }

    #[test]
    fn charts_are_svg_with_escaped_legends() {
        let groups: Vec<String> = ["1", "2", "4"].map(String::from).to_vec();
        for svg in [
            bar_chart("t", "ns", &groups, &series()).unwrap(),
            line_chart("t", "threads", "Mops/s", &[1, 2, 4], &series()).unwrap(),
        ] {
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains("a&lt;b"), "legend text is XML-escaped");
            assert!(svg.contains("tinyalloc"));
        }
        let line = line_chart("t", "threads", "Mops/s", &[1, 2, 4], &series()).unwrap();
        // One marker per present value (5), and one error bar (tinyalloc at
        // 1 thread; the zero-length range at 4 threads draws none), whose
        // centre is a circle too.
        assert_eq!(line.matches("<circle").count(), 6);
    }
}
