#!/usr/bin/env bash
# Instructions per allocation op, counted by callgrind (repeatable on a loaded
# machine): each row runs with N and 2N ops, and (Ir(2N) - Ir(N)) / N is one
# op. C rows: benches/c/count_ops.c under LD_PRELOAD of each allocator's
# shared library (glibc: no preload). Rust row: benches/src/bin/count_dyn.rs,
# alloc + free of 64 B through `&dyn GlobalAlloc` with a run-time Layout.
#
#   bash scripts/count-instructions.sh [N]     (default N = 100000)
#
# Checks that each preload took over (the program prints which library
# serves `malloc`).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
bash scripts/peers.sh
out=target/count
mkdir -p "$out"
gcc -O2 -fno-builtin benches/c/count_ops.c -o "$out/count_ops" -ldl
cargo build -q --release -p tinyalloc-bench --bin count_dyn

declare -A lib=(
    [tinyalloc]=$PWD/target/release/libtinyalloc.so
    [glibc]=
    [mimalloc]=$PWD/target/peers/libmimalloc.so
    [jemalloc]=$PWD/target/peers/libjemalloc.so
    [tcmalloc]=$PWD/target/peers/libtcmalloc.so
)
allocators=(tinyalloc glibc mimalloc jemalloc tcmalloc)

# Total instructions of one run: collected <preload> <command...>
collected() {
    local preload=$1 log
    shift
    log=$(LD_PRELOAD=$preload valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1)
    if [ -n "$preload" ] && ! grep -q "malloc from $preload" <<<"$log"; then
        echo "preload of $preload did not take over: $(grep 'malloc from' <<<"$log")" >&2
        exit 1
    fi
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' <<<"$log"
}

per_op() { # <preload> <command...> (N is appended, then 2N)
    local preload=$1 one two
    shift
    one=$(collected "$preload" "$@" "$n")
    two=$(collected "$preload" "$@" $((2 * n)))
    awk -v a="$one" -v b="$two" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }'
}

printf '%-34s' "instructions per op (N=$n)"
printf ' %9s' "${allocators[@]}"
printf '\n'
for mode in pair batch calloc realloc; do
    case $mode in
        pair) label='malloc(64) + free' ;;
        batch) label='100 x 16..1024 B, per pair' ;;
        calloc) label='calloc(1, 256) + free' ;;
        realloc) label='realloc 16 B -> 4 KiB, per realloc' ;;
    esac
    printf '%-34s' "$label"
    for a in "${allocators[@]}"; do
        printf ' %9s' "$(per_op "${lib[$a]}" "$out/count_ops" "$mode")"
    done
    printf '\n'
done

printf '%-34s' 'Rust &dyn GlobalAlloc 64 B pair'
for a in tinyalloc system mimalloc jemalloc; do
    printf ' %9s' "$a=$(per_op '' target/release/count_dyn "$a")"
done
printf '\n'
