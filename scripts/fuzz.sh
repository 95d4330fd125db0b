#!/usr/bin/env bash
# Differential fuzzing of tinyalloc (fuzz/fuzz_targets/alloc_ops.rs) with
# libFuzzer, without needing cargo-fuzz: the target is built with the same
# coverage flags cargo-fuzz passes, for the host target (so build scripts are
# not instrumented).
#
#   bash scripts/fuzz.sh [seconds]     # default 30; CI runs the default
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions" \
    cargo build --release --target "$host" --bin alloc_ops
mkdir -p corpus/alloc_ops artifacts/alloc_ops
"target/$host/release/alloc_ops" corpus/alloc_ops -artifact_prefix=artifacts/alloc_ops/ \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 | grep -E "^(#|Done|stat::number_of_executed_units|stat::peak_rss)|ERROR|panicked|SUMMARY" | tail -n 8
# libFuzzer exits non-zero (and pipefail fails this script) on a crash.
