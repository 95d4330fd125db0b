//! C++ `operator new`/`delete` exported by `libtinyalloc.so`
//! (tests/cxx/operator_new.cpp, compiled with g++): plain, array, aligned,
//! sized, nothrow; `std::bad_alloc` thrown through tinyalloc's frames and
//! caught by the program; a new-handler that frees a reserve. The program
//! passes against libstdc++'s own `operator new` (so its expectations are
//! C++'s), and against tinyalloc preloaded and linked, where `dladdr` on
//! `&operator new` and the exit summary's `new`/`delete` counts prove that
//! tinyalloc's `operator new` served it. tests/cxx/no_runtime.c checks the
//! C side: no libstdc++ pulled in, and a failed throwing `new` aborts with
//! one line.

mod common;

use common::{Alloc, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(120);

fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("cxx")
        .join(name)
}

/// `-L<dir> -ltinyalloc -Wl,-rpath,<dir>` for the built shared library.
fn link_tinyalloc() -> Vec<String> {
    let library = common::shared_library();
    let dir = library.parent().expect("library directory").display();
    vec![
        format!("-L{dir}"),
        "-ltinyalloc".into(),
        format!("-Wl,-rpath,{dir}"),
    ]
}

/// Compile with `compiler` (g++ or gcc), warnings as errors.
fn compile(compiler: &str, source: &Path, output: &Path, extra: &[String]) {
    let mut command = Command::new(compiler);
    command.args(["-O2", "-g", "-Wall", "-Wextra", "-Werror"]);
    if compiler == "g++" {
        command.arg("-std=c++17");
    }
    command.arg(source).arg("-o").arg(output).args(extra);
    command.arg("-ldl");
    let result = command
        .output()
        .unwrap_or_else(|e| panic!("run {compiler} (is it installed?): {e}"));
    assert!(
        result.status.success(),
        "{compiler} failed: {command:?}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn operator_new_program(dir: &TempDir, linked: bool) -> PathBuf {
    let exe = dir.join("operator_new");
    let extra = if linked { link_tinyalloc() } else { Vec::new() };
    compile("g++", &source("operator_new.cpp"), &exe, &extra);
    exe
}

/// The exit summary's C++ counts: tinyalloc's `operator new` and `delete`
/// were called (the program makes tens of thousands of each).
fn assert_new_served(run: &common::Run, what: &str) {
    let summaries = common::summaries(&run.stderr());
    let summary = summaries
        .first()
        .unwrap_or_else(|| panic!("{what}: no tinyalloc summary\n{}", run.stderr()));
    assert!(
        summary.new >= 20_000 && summary.delete >= 20_000,
        "{what}: tinyalloc's operator new/delete counted {} / {} calls, expected >= 20000 each",
        summary.new,
        summary.delete
    );
    eprintln!("{what}: {summary:?}");
}

#[test]
fn expectations_hold_for_libstdcxx() {
    let dir = TempDir::new("cxx-libstdcxx");
    let exe = operator_new_program(&dir, false);
    let run = common::run(Command::new(&exe).arg("libstdc++"), Alloc::Glibc, DEADLINE);
    run.assert_success("operator_new against libstdc++");
    assert!(run
        .stdout()
        .contains("all operator new/delete checks passed"));
}

#[test]
fn operator_new_under_ld_preload() {
    let dir = TempDir::new("cxx-preload");
    let exe = operator_new_program(&dir, false);
    let run = common::run(
        Command::new(&exe).arg("libtinyalloc.so"),
        Alloc::PreloadStats,
        DEADLINE,
    );
    run.assert_success("operator_new under LD_PRELOAD");
    assert!(
        run.stdout().contains("libtinyalloc.so\n")
            && run
                .stdout()
                .contains("all operator new/delete checks passed"),
        "{}",
        run.stdout()
    );
    assert_new_served(&run, "operator_new (LD_PRELOAD)");
}

#[test]
fn operator_new_linked_against_the_shared_library() {
    let dir = TempDir::new("cxx-linked");
    let exe = operator_new_program(&dir, true);
    let run = common::run(
        Command::new(&exe).arg("libtinyalloc.so"),
        Alloc::LinkedStats,
        DEADLINE,
    );
    run.assert_success("operator_new linked with -ltinyalloc");
    assert_new_served(&run, "operator_new (linked)");
}

#[test]
fn a_c_program_gets_no_cxx_runtime_and_a_failed_new_aborts_with_one_line() {
    let dir = TempDir::new("cxx-c");
    let exe = dir.join("no_runtime");
    compile("gcc", &source("no_runtime.c"), &exe, &link_tinyalloc());
    let run = common::run(&mut Command::new(&exe), Alloc::Glibc, DEADLINE);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        run.output.status.signal(),
        Some(libc::SIGABRT),
        "expected an abort after a failed throwing new: {}\n--- stdout\n{}\n--- stderr\n{}",
        run.output.status,
        run.stdout(),
        run.stderr()
    );
    assert_eq!(run.stdout(), "nothrow ok\n");
    assert_eq!(
        run.stderr(),
        "tinyalloc: operator new: out of memory and no C++ runtime to throw std::bad_alloc\n"
    );
    // The library itself does not depend on a C++ runtime.
    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(common::shared_library())
        .output()
        .expect("run readelf");
    let dynamic = String::from_utf8_lossy(&dynamic.stdout);
    assert!(
        dynamic.contains("NEEDED") && !dynamic.contains("libstdc++") && !dynamic.contains("libc++"),
        "libtinyalloc.so needs a C++ runtime:\n{dynamic}"
    );
}

#[test]
fn operator_new_frames_have_unwind_tables() {
    // `std::bad_alloc` unwinds through `operator new`'s frames: each
    // throwing form must be covered by an FDE in .eh_frame.
    let library = common::shared_library();
    let symbols = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&library)
        .output()
        .expect("run nm");
    let symbols = String::from_utf8_lossy(&symbols.stdout).into_owned();
    let frames = Command::new("readelf")
        .arg("--debug-dump=frames")
        .arg(&library)
        .output()
        .expect("run readelf");
    let frames = String::from_utf8_lossy(&frames.stdout).into_owned();
    let ranges: Vec<(u64, u64)> = frames
        .lines()
        .filter_map(|line| {
            let pc = line.split("pc=").nth(1)?;
            let (start, end) = pc.trim().split_once("..")?;
            Some((
                u64::from_str_radix(start.trim(), 16).ok()?,
                u64::from_str_radix(end.trim(), 16).ok()?,
            ))
        })
        .collect();
    assert!(!ranges.is_empty(), "no FDEs found in readelf output");
    for name in [
        "_Znwm",
        "_Znam",
        "_ZnwmSt11align_val_t",
        "_ZnamSt11align_val_t",
    ] {
        let address = symbols
            .lines()
            .find_map(|line| {
                let mut fields = line.split_whitespace();
                let address = fields.next()?;
                let _kind = fields.next()?;
                (fields.next()? == name).then(|| u64::from_str_radix(address, 16).ok())?
            })
            .unwrap_or_else(|| panic!("{name} is not exported by {}", library.display()));
        assert!(
            ranges
                .iter()
                .any(|&(start, end)| start <= address && address < end),
            "{name} at {address:#x} has no unwind table entry"
        );
    }
}
