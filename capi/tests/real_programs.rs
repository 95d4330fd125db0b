//! Real programs under `LD_PRELOAD=libtinyalloc.so`: Python, gcc, git and
//! ls. Each test first proves tinyalloc served the program (the
//! `TINYALLOC_SHOW_STATS` exit summary, with calls counted), then compares
//! the program's results with a run on glibc and prints both wall times
//! (best of two; see them with `--nocapture`).
//!
//! A tool that is not installed is skipped with a message, not failed.

mod common;

use common::{Alloc, Run, TempDir};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(600);
const ROUNDS: usize = 2;

fn skip(tool: &str) -> bool {
    if common::have(tool) {
        false
    } else {
        eprintln!("SKIPPED: `{tool}` is not installed");
        true
    }
}

/// Run `make()` with the summary on (proof), then best-of-`ROUNDS` on glibc
/// and on tinyalloc; returns (proof, glibc, tinyalloc) and prints the times.
fn compare(what: &str, mut make: impl FnMut() -> Command) -> (Run, Run, Run) {
    let proof = common::run(&mut make(), Alloc::PreloadStats, DEADLINE);
    proof.assert_success(&format!("{what} under LD_PRELOAD"));
    common::assert_served(&proof, what);
    let (glibc_time, glibc) = common::best_of(ROUNDS, Alloc::Glibc, DEADLINE, what, &mut make);
    let (tiny_time, tiny) = common::best_of(ROUNDS, Alloc::Preload, DEADLINE, what, &mut make);
    common::report_times(what, glibc_time, tiny_time);
    (proof, glibc, tiny)
}

// ---------------------------------------------------------------- python

/// Builds dicts, lists and strings, round-trips them through JSON, indexes
/// them and hashes everything: deterministic output, heavy allocation.
const PYTHON_WORKLOAD: &str = r#"
import collections, hashlib, json, random, re
random.seed(12345)
letters = "abcdefghijklmnopqrstuvwxyz"
words = ["".join(random.choice(letters) for _ in range(random.randint(3, 12))) for _ in range(5000)]
records = []
for i in range(40000):
    records.append({
        "id": i,
        "name": " ".join(random.choice(words) for _ in range(random.randint(1, 6))),
        "tags": [random.choice(words) for _ in range(i % 7)],
        "score": random.random() * 1000,
        "nested": {"a": [i, i * 2, str(i)], "b": {"c": words[i % len(words)] * (i % 5)}},
    })
text = json.dumps(records, sort_keys=True)
back = json.loads(text)
assert back == records
counts = collections.Counter(w for r in back for w in r["name"].split())
index = collections.defaultdict(list)
for r in back:
    for t in r["tags"]:
        index[t].append(r["id"])
blob = bytearray()
for i in range(10000):
    blob += (words[i % len(words)] * (1 + i % 300)).encode()
big = [bytes(random.getrandbits(8) for _ in range(64)) * random.randint(1, 4000) for _ in range(200)]
found = sorted(set(re.findall(r"[aeiou]{2}[a-z]+", text[:2000000])))
h = hashlib.sha256()
h.update(text.encode())
h.update(bytes(blob))
for b in big:
    h.update(b)
h.update("|".join(found).encode())
print(len(text), len(counts), len(index), len(blob), sum(map(len, big)), len(found))
print(counts.most_common(3))
print(h.hexdigest())
"#;

/// The real interpreter (not a pyenv-style shim script).
fn python() -> Option<PathBuf> {
    if skip("python3") {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .env_remove("LD_PRELOAD")
        .output()
        .ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(path.trim()))
}

fn python_workload(pymalloc: bool) {
    let Some(python) = python() else { return };
    let what = if pymalloc {
        "python3 -c: JSON/dict/string workload"
    } else {
        "python3 -c with PYTHONMALLOC=malloc (every object through malloc)"
    };
    let (proof, glibc, tiny) = compare(what, || {
        let mut command = Command::new(&python);
        command.args(["-c", PYTHON_WORKLOAD]);
        if !pymalloc {
            command.env("PYTHONMALLOC", "malloc");
        }
        command
    });
    assert_eq!(tiny.stdout(), glibc.stdout(), "{what}: output differs");
    assert_eq!(proof.stdout(), glibc.stdout(), "{what}: output differs");
    assert_eq!(glibc.stdout().lines().count(), 3);
}

#[test]
fn python_json_workload() {
    python_workload(true);
}

#[test]
fn python_workload_with_every_object_in_malloc() {
    python_workload(false);
}

// ------------------------------------------------------------------- gcc

/// A C program big enough to keep gcc's optimiser busy: many functions with
/// loops, switches, structs and string formatting. Deterministic output.
fn generated_c_program(functions: usize) -> String {
    let mut src = String::from(
        "#include <stdio.h>\n#include <string.h>\n\
         struct acc { long sum; int hist[16]; char name[32]; };\n",
    );
    for f in 0..functions {
        let _ = write!(
            src,
            r#"
static long f{f}(int x, struct acc *a) {{
    long table[{n}];
    for (int i = 0; i < {n}; i++)
        table[i] = (long)i * {m} + x;
    long total = 0;
    for (int i = 0; i < {n}; i++) {{
        switch ((table[i] ^ x) % 8) {{
        case 0: total += table[i] * 3; break;
        case 1: total -= table[i] / 7; break;
        case 2: total ^= table[i] << 2; break;
        case 3: total += (table[i] % 13) * {f}; break;
        case 4: a->hist[i % 16] += 1; break;
        case 5: total += a->hist[(i + {f}) % 16]; break;
        default: total += i; break;
        }}
    }}
    snprintf(a->name, sizeof a->name, "f{f}:%ld", total % 100000);
    a->sum += total + (long)strlen(a->name);
    return total;
}}
"#,
            n = 16 + f % 48,
            m = 3 + f % 11,
        );
    }
    src.push_str(
        "int main(void) {\n    struct acc a;\n    memset(&a, 0, sizeof a);\n    long grand = 0;\n",
    );
    for f in 0..functions {
        let _ = writeln!(src, "    grand += f{f}({}, &a);", f % 97);
    }
    src.push_str(
        "    printf(\"grand %ld sum %ld last %s\\n\", grand, a.sum, a.name);\n\
         for (int i = 0; i < 16; i++) printf(\"%d \", a.hist[i]);\n\
         printf(\"\\n\");\n    return 0;\n}\n",
    );
    src
}

#[test]
fn gcc_compiles_a_generated_program() {
    if skip("gcc") {
        return;
    }
    let dir = TempDir::new("gcc");
    std::fs::write(dir.join("gen.c"), generated_c_program(400)).expect("write gen.c");
    let mut round = 0;
    let what = "gcc -O2 -S on a generated 400-function C file";
    let (_, glibc, tiny) = compare(what, || {
        round += 1;
        let mut command = Command::new("gcc");
        command
            .current_dir(dir.path())
            .args(["-O2", "-S", "gen.c", "-o"])
            .arg(format!("gen{round}.s"));
        command
    });
    let _ = (glibc, tiny);
    // Every compilation must produce the same assembly, whatever the
    // allocator: rounds 1 (tinyalloc+stats), 2-3 (glibc), 4-5 (tinyalloc).
    let reference = std::fs::read_to_string(dir.join("gen2.s")).expect("glibc's assembly");
    for r in [1, 4, 5] {
        let other = std::fs::read_to_string(dir.join(format!("gen{r}.s"))).expect("assembly");
        assert!(
            other == reference,
            "gcc's output under tinyalloc (gen{r}.s) differs from glibc's (gen2.s)"
        );
    }
    // And the program built (under tinyalloc) runs as the glibc-built one.
    let output_of = |assembly: &str, exe: &str, alloc: Alloc| {
        let build = common::run(
            Command::new("gcc")
                .current_dir(dir.path())
                .args([assembly, "-o", exe]),
            alloc,
            DEADLINE,
        );
        build.assert_success("gcc (assemble and link)");
        let run = common::run(&mut Command::new(dir.join(exe)), Alloc::Glibc, DEADLINE);
        run.assert_success(exe);
        run.stdout()
    };
    let with_glibc = output_of("gen2.s", "prog_glibc", Alloc::Glibc);
    let with_tiny = output_of("gen4.s", "prog_tiny", Alloc::PreloadStats);
    assert_eq!(with_tiny, with_glibc);
    assert!(with_glibc.starts_with("grand "));
}

// ------------------------------------------------------------------- git

/// Build a repository of `commits` commits, each touching files across
/// directories, then log, repack and verify it. Returns the combined output
/// of the commands whose output is deterministic.
fn git_session(root: &Path, alloc: Alloc, commits: usize) -> (Run, String) {
    let repo = root.join(format!(
        "repo-{}",
        alloc.name().replace(['+', ' ', '(', ')'], "")
    ));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo).expect("repo dir");
    let git = |args: &[&str], when: usize| {
        let mut command = Command::new("git");
        let date = format!("{} +0000", 1_700_000_000 + when * 3600);
        command
            .current_dir(&repo)
            .args(args)
            .env("HOME", root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Tiny Alloc")
            .env("GIT_AUTHOR_EMAIL", "tiny@example.com")
            .env("GIT_COMMITTER_NAME", "Tiny Alloc")
            .env("GIT_COMMITTER_EMAIL", "tiny@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
        command
    };
    let mut stderr = String::new();
    let mut stdout = String::new();
    let mut wall = Duration::ZERO;
    let mut last = None;
    let mut step = |command: &mut Command, keep: bool, stdout: &mut String| {
        let run = common::run(command, alloc, DEADLINE);
        run.assert_success(&format!("{command:?} under {}", alloc.name()));
        wall += run.wall;
        stderr.push_str(&run.stderr());
        if keep {
            stdout.push_str(&run.stdout());
        }
        last = Some(run.output.clone());
    };
    step(
        git(&["init", "-q", "-b", "main"], 0).arg("."),
        false,
        &mut stdout,
    );
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for c in 0..commits {
        for f in 0..40 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if c > 0 && state % 3 != 0 {
                continue;
            }
            let path = repo.join(format!("dir{}/file{f}.txt", f % 7));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let mut text = String::new();
            for line in 0..(50 + state % 400) {
                let _ = writeln!(
                    text,
                    "commit {c} file {f} line {line} {}",
                    state >> (line % 40)
                );
            }
            std::fs::write(&path, text).expect("write file");
        }
        step(git(&["add", "-A"], c).arg("."), false, &mut stdout);
        step(
            git(&["commit", "-q", "-m"], c).arg(format!("commit {c}")),
            false,
            &mut stdout,
        );
    }
    step(
        &mut git(&["log", "--stat", "--format=%H %an %ad %s"], commits),
        true,
        &mut stdout,
    );
    step(
        &mut git(&["gc", "-q", "--aggressive"], commits),
        false,
        &mut stdout,
    );
    step(
        &mut git(&["fsck", "--full", "--strict"], commits),
        false,
        &mut stdout,
    );
    step(
        &mut git(&["log", "-p", "--format=%H", "-n", "5"], commits),
        true,
        &mut stdout,
    );
    step(
        &mut git(&["ls-tree", "-r", "HEAD"], commits),
        true,
        &mut stdout,
    );
    let output = last.expect("at least one step");
    let run = Run {
        output: std::process::Output {
            status: output.status,
            stdout: Vec::new(),
            stderr: stderr.into_bytes(),
        },
        wall,
    };
    (run, stdout)
}

#[test]
fn git_builds_logs_repacks_and_verifies_a_repository() {
    if skip("git") {
        return;
    }
    let dir = TempDir::new("git");
    const COMMITS: usize = 40;
    let (proof, proof_out) = git_session(dir.path(), Alloc::PreloadStats, COMMITS);
    common::assert_served(&proof, "git session");
    let best = |alloc| {
        let mut time = Duration::MAX;
        let mut out = String::new();
        for _ in 0..ROUNDS {
            let (run, text) = git_session(dir.path(), alloc, COMMITS);
            time = time.min(run.wall);
            out = text;
        }
        (time, out)
    };
    let (glibc_time, glibc_out) = best(Alloc::Glibc);
    let (tiny_time, tiny_out) = best(Alloc::Preload);
    assert!(glibc_out.contains("commit 39"), "{glibc_out}");
    assert!(
        tiny_out == glibc_out,
        "git's output differs under tinyalloc"
    );
    assert!(
        proof_out == glibc_out,
        "git's output differs under tinyalloc"
    );
    common::report_times(
        "git: init, 40 x (add, commit), log --stat, gc --aggressive, fsck, log -p, ls-tree",
        glibc_time,
        tiny_time,
    );
}

// -------------------------------------------------------------------- ls

#[test]
fn ls_lists_the_root_directory() {
    let (proof, glibc, tiny) = compare("ls -la /", || {
        let mut command = Command::new("ls");
        command.args(["-la", "/"]);
        command
    });
    // The listing itself may change between runs (/tmp), so compare names.
    let names = |run: &Run| -> Vec<String> {
        run.stdout()
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect()
    };
    assert_eq!(names(&tiny), names(&glibc));
    assert_eq!(names(&proof), names(&glibc));
    assert!(names(&glibc).contains(&"usr".to_owned()));
}
