#!/usr/bin/env bash
# The whole test suite: unit and integration tests (debug assertions on), the
# loom models of every lock-free protocol, and, when the nightly components
# are installed, Miri over the data-structure unit tests and ThreadSanitizer
# over the multi-threaded stress test and the idle-owner reclaim.
#
#   bash scripts/test.sh          # everything available here
#   TINYALLOC_SKIP_NIGHTLY=1 ...  # stable-only checks
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "unit, integration and doc tests"
cargo test -p tinyalloc

step "hardening checks (--features checks): misuse cases and the stress test"
cargo test -p tinyalloc --features checks --test misuse --test stress

if [ -d capi ]; then
    step "C ABI: exported functions and real programs under LD_PRELOAD"
    cargo build --release -p tinyalloc-capi
    cargo test --release -p tinyalloc-capi
fi

step "differential fuzzing, short (bash scripts/fuzz.sh 30)"
bash scripts/fuzz.sh 30

# Exactly the command users run: every target of the crate builds under the
# feature (the allocator builds with per-execution state; the tests that need
# the real kernel compile to nothing, the doc tests are no-ops), and the
# models run, the building blocks' and the real allocator's (loom_real_*).
step "loom models (cargo test --features loom)"
cargo test --features loom -- --nocapture

if [ "${TINYALLOC_SKIP_NIGHTLY:-0}" = 1 ]; then
    echo "nightly checks skipped (TINYALLOC_SKIP_NIGHTLY=1)"
    exit 0
fi

if cargo +nightly miri --version >/dev/null 2>&1; then
    # Strict provenance: the tagged stack, the remote list and the segment
    # cache keep tag and flag bits in pointer words (map_addr), never in
    # integers cast back to pointers.
    step "Miri (strict provenance): data-structure unit tests"
    MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-strict-provenance" cargo +nightly miri test -p tinyalloc --lib
    # The allocator itself as the global allocator (OS mocked): Stacked
    # Borrows over headers found by masking, free lists, remote frees, large
    # regions. Default provenance: headers take the reservation's exposed
    # provenance (see segment::segment_of).
    step "Miri: the allocator's own paths (tests/miri_smoke.rs)"
    cargo +nightly miri test -p tinyalloc --test miri_smoke
else
    echo "SKIPPED Miri: the nightly miri component is not installed (rustup +nightly component add miri rust-src)"
fi

if rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then
    step "ThreadSanitizer: the multi-threaded stress test, the idle-owner reclaim and heaps given up mid-life"
    host=$(rustc -vV | sed -n 's/^host: //p')
    RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1" \
        TINYALLOC_STRESS_ROUNDS=3 TINYALLOC_STRESS_OPS=2000 \
        cargo +nightly test -Zbuild-std --target "$host" -p tinyalloc \
        --target-dir target/tsan --test stress --test global --test idle_reclaim \
        --test release_thread_heap_churn
else
    echo "SKIPPED ThreadSanitizer: the nightly rust-src component is not installed"
fi
