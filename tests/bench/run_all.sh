#!/usr/bin/env bash
# run_all.sh: runs every benchmark and prints a summary as a markdown table
# (figure, value, target, the command that produced it) to paste into the README.
#
# Full sizes (the defaults) take roughly 15-25 minutes on a quiet 2-core machine:
# throughput 200k x 3 clients x 3 runs, memory 100k + 2M, cpu 200k x 2 x 3,
# checkpoint 200k x 4 x 3, resume 1M.  Run it on a quiet machine: the client,
# nginx and the machine's other load share the same cores.
# Smaller: N=20000 M2=200000 RESUME_N=100000 RUNS=1 tests/bench/run_all.sh
# Environment: N, CONC, RUNS, M1, M2, RESUME_N, plus lib.sh's (LLMBATCH, ...);
# ONLY="throughput cpu" runs a subset.  Each script runs under a time bound.
set -uo pipefail
cd "$(dirname "$0")/../.."
export N=${N:-200000}
BENCH_RESULTS=$(mktemp "${BENCH_TMPDIR:-/tmp}/llmb-bench-results.XXXXXX")
export BENCH_RESULTS
trap 'rm -f "$BENCH_RESULTS"' EXIT

failed=()
for b in ${ONLY:-throughput memory cpu checkpoint resume}; do
    echo "=== $b"
    timeout --signal=INT --kill-after=60 "${BENCH_BOUND:-3600}" "tests/bench/$b.sh" || failed+=("$b")
    echo
done

echo "=== summary ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), nginx ${NGINX_WORKERS:-1} worker)"
echo
echo "| Figure | Value | Target | Command |"
echo "|---|---:|---|---|"
while IFS=$'\t' read -r name value target cmd; do
    echo "| $name | $value | $target | \`$cmd\` |"
done <"$BENCH_RESULTS"
if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
