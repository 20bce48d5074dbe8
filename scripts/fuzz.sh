#!/usr/bin/env bash
# Runs every target of keyhold-fuzz (Fuzz/, docs/ARCHITECTURE.md "Fuzzing") for SECONDS each:
#
#     scripts/fuzz.sh BINARY SECONDS WORKDIR [TARGET...]
#
# Each target starts from its committed seeds (Fuzz/corpus/TARGET, only read) and the inputs
# it found before (WORKDIR/corpus/TARGET, where new ones are written). An input that crashes,
# traps, breaks a property or takes over 10 s is saved as WORKDIR/artifacts/TARGET-crash-...
# (or -timeout-..., -oom-...), and this script exits 1 after running the rest.
# Reproduce one with: BINARY TARGET WORKDIR/artifacts/FILE
set -uo pipefail
bin=$1 seconds=$2 work=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("$bin" list)
mkdir -p "$work/artifacts"
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t"
    log="$work/$t.log"
    # The Swift runtime's backtracer would take the crash signal before libFuzzer could save the input.
    SWIFT_BACKTRACE=enable=no "$bin" "$t" "$work/corpus/$t" "$root/Fuzz/corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=16384 \
        -artifact_prefix="$work/artifacts/$t-" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ${runs:-?} inputs in ${seconds} s, no failure"
    else
        echo "fuzz $t: FAILED (exit $rc); the input is in $work/artifacts/, the log in $log:"
        grep -E 'property broken|Fatal error|ERROR:|SUMMARY|Test unit written' "$log" | head -8
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
    exit 1
fi
