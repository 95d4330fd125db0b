//! Running one test of the current test binary again in a child process, for
//! tests whose subject is the process itself (an abort, a resource limit).

use std::process::{Command, Output};

/// A command that runs only the test `name` of this binary, with `var` set to
/// `value` (the child's cue to do the real work).
pub fn self_as_child(name: &str, var: &str, value: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(var, value);
    command
}

/// Run `command`, assert that it succeeded, and return its stdout line from
/// `marker` on (the child prints one result line). (Unused by the binaries
/// whose child is expected to abort.)
#[allow(dead_code)]
pub fn success_line(command: &mut Command, marker: &str) -> String {
    let output: Output = command.output().expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
        .lines()
        .find_map(|l| l.find(marker).map(|at| l[at..].to_string()))
        .unwrap_or_else(|| panic!("no {marker:?} line:\n{stdout}"))
}
