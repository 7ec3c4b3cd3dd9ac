#!/bin/sh
# Runs every fuzz target of mm for N seconds each (default 600), one after the other, and prints the number of
# executions libFuzzer reports per target. Usage: ./run.sh [seconds-per-target]
# Crashes are written to mm/fuzz/artifacts/<target>/; new corpus entries to mm/fuzz/corpus/<target>/.
set -u
secs=${1:-600}
cd "$(dirname "$0")/.." || exit 1
targets="layout_memmap dmesg acpi cmdline buddy_ops"
status=0
summary=""
for t in $targets; do
    log=$(mktemp)
    echo "== $t: ${secs}s"
    cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tee "$log" | grep -E '^(==|INFO: |#[0-9]+ +DONE)|panicked|ERROR' 
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1)
    if grep -q 'Done [0-9]* runs' "$log"; then
        res=ok
    else
        res=FAILED
        status=1
    fi
    summary="$summary$t: ${secs}s, executions ${execs:-?}, $res
"
    rm -f "$log"
done
printf '\n%s' "$summary"
exit $status
