//! The `compare` job (tinyalloc against its peers), split by concern; the
//! binary `src/bin/compare.rs` only wires these together:
//!
//! - [`opts`]: the command line (modes, lists of workloads, threads, peers).
//! - [`run`]: running things: building the `wl_*` binaries, spawning the
//!   micro child and one `wl_<allocator>` process per multi-thread run, the
//!   interleaved rounds, timeouts and exit statuses.
//! - [`measure`]: what a run measured (time per op, throughput, peak and end
//!   RSS), parsed from the children's result lines and reduced to medians.
//! - [`table`]: the text tables printed on stdout (and `compare.txt`) and
//!   `compare.csv`.
//! - [`figures`]: the SVG figures, drawn with plotters.
//!
//! Output formats (the tables, `compare.csv`'s columns, the figure file
//! names) are what `papers/evaluation.md` and `benches/README.md` describe.

pub mod figures;
pub mod measure;
pub mod opts;
pub mod run;
pub mod table;

use std::path::Path;

pub use measure::Report;

/// Writes `compare.csv`, `compare.txt` (= `text`, the printed tables) and
/// the figures into `dir`; returns the paths written.
pub fn write_files(report: &Report, dir: &Path, text: &str) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut put = |name: &str, body: &str| -> std::io::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, body)?;
        written.push(path.display().to_string());
        Ok(())
    };
    put("compare.csv", &report.csv())?;
    put("compare.txt", text)?;
    for (name, svg) in figures::all(report)? {
        put(&name, &svg)?;
    }
    Ok(written)
}
