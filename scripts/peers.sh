#!/usr/bin/env bash
# Build or install the peer allocators as preloadable shared libraries, for
# the C-level benchmarks (LD_PRELOAD) and the instruction counts:
#   target/peers/libmimalloc.so   mimalloc v3, from the sources its crate vendors
#   target/peers/libjemalloc.so   Debian's libjemalloc2
#   target/peers/libtcmalloc.so   Debian's libtcmalloc-minimal4
# and target/release/libtinyalloc.so (cargo build --release -p tinyalloc-capi).
# Prints nothing but errors; idempotent. Needs apt-get (root) for the Debian
# packages the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/peers
mkdir -p "$out"

multiarch=$(gcc -print-multiarch)
libdir=/usr/lib/$multiarch
if [ ! -e "$libdir/libjemalloc.so.2" ] || [ ! -e "$libdir/libtcmalloc_minimal.so.4" ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 libtcmalloc-minimal4 >/dev/null
fi
ln -sf "$libdir/libjemalloc.so.2" "$out/libjemalloc.so"
ln -sf "$libdir/libtcmalloc_minimal.so.4" "$out/libtcmalloc.so"

# The flags mimalloc's own CMake release build uses for its shared library:
# notably initial-exec TLS (gcc's default for -fPIC, general-dynamic, costs a
# __tls_get_addr call per malloc and per free). Rebuilt when they change.
mi_flags="-O3 -DNDEBUG -DMI_MALLOC_OVERRIDE -fvisibility=hidden -ftls-model=initial-exec -fno-builtin-malloc"
if [ ! -e "$out/libmimalloc.so" ] || [ "$(cat "$out/libmimalloc.flags" 2>/dev/null)" != "$mi_flags" ]; then
    cargo fetch -q
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/libmimalloc-sys-*/c_src/mimalloc/v3 | sort -V | tail -1)
    # shellcheck disable=SC2086 # the flags are words
    gcc $mi_flags -shared -fPIC -I"$src/include" \
        "$src/src/static.c" -o "$out/libmimalloc.so" -pthread
    echo "$mi_flags" >"$out/libmimalloc.flags"
fi

cargo build -q --release -p tinyalloc-capi
