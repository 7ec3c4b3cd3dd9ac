#!/bin/sh
# Regression guard for memmap init and the boot-time hand-over: counts the instructions per struct page with
# valgrind's callgrind and fails when a count grows by more than 20% over the committed baseline
# (scripts/callgrind-baseline.txt): memmap init alone, the hand-over after it (Linux's two passes), and memmap
# init with the hand-over fused into it, hand-over included (the kernel's default).
#
# The count per page is the difference between two runs of mm/examples/memmap_init.rs (N1 and N2 pages), divided
# by N2 - N1, so the fixed cost of a boot cancels. Built for baseline x86-64 (valgrind 3.19 cannot decode
# AVX-512) into its own target directory.
#
#   scripts/callgrind-guard.sh            check against the baseline (exit 1 on a regression)
#   scripts/callgrind-guard.sh --update   write the measured counts as the new baseline
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "callgrind-guard: valgrind not installed (apt-get install -y valgrind)"; exit 2; }
N1=131072
N2=1048576
TARGET_DIR=target/callgrind
RUSTFLAGS="-C target-cpu=x86-64" cargo build -q --release -p mm --example memmap_init --target-dir "$TARGET_DIR"
BIN="$TARGET_DIR/release/examples/memmap_init"
count() { # pages [--handover | --fused]
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$@" >/dev/null 2>&1
    sed -n 's/^summary: //p;s/^totals: //p' "$out" | head -1
    rm -f "$out"
}
per_page() { # args...
    a=$(count $N1 "$@"); b=$(count $N2 "$@")
    echo $(( (b - a) / (N2 - N1) ))
}
init=$(per_page)
handover=$(( $(per_page --handover) - init ))
fused=$(per_page --fused)
echo "callgrind-guard: memmap init $init instructions/page, buddy hand-over $handover instructions/page, fused boot + hand-over $fused instructions/page"
BASE=scripts/callgrind-baseline.txt
if [ "${1:-}" = "--update" ]; then
    printf 'memmap_init %s\nhandover %s\nfused %s\n' "$init" "$handover" "$fused" > "$BASE"
    echo "callgrind-guard: baseline written to $BASE"
    exit 0
fi
fail=0
for key in memmap_init handover fused; do
    base=$(sed -n "s/^$key //p" "$BASE")
    case $key in memmap_init) now=$init ;; handover) now=$handover ;; *) now=$fused ;; esac
    limit=$(( base + base / 5 ))
    if [ "$now" -gt "$limit" ]; then
        echo "callgrind-guard: $key: $now instructions/page > $limit (baseline $base + 20%)"; fail=1
    else
        echo "callgrind-guard: $key: $now instructions/page (baseline $base, limit $limit): ok"
    fi
done
exit $fail
