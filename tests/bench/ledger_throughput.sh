#!/usr/bin/env bash
# ledger_throughput.sh [N]: llmbatch's requests per second with a shared
# ledger in Redis on loopback, against the same run without one, in
# throughput.sh's setup (nginx on loopback answering every POST, N jobs).
#
# Variants, run interleaved RUNS times each (median wall time reported), each
# ledger variant against the same run without a ledger:
#   local / ledger                 llmbatch run jobs.jsonl -o out.jsonl [--ledger NAME
#                                  --redis URL]  (shared spend, no cap)
#   local_budget / ledger_budget   ... --budget 1000000: every reservation inside a
#                                  lease (a --budget run parses each job exactly, so it
#                                  is compared with a local --budget run)
#   local_rpm / ledger_rpm         ... --rpm 60000000: slot blocks, the pacing path (the
#                                  ceiling itself is far above what the machine does)
# Each ledger run uses a fresh ledger name.  redis-server is started on a free
# 127.0.0.1 port (no persistence) and stopped at the end.
#
# Environment: CONC (64), RUNS (3), VARIANTS (a subset of the six, in pairs),
# plus lib.sh's.  Target: ledger >= 0.8x local.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${1:-${N:-100000}}
CONC=${CONC:-64}
RUNS=${RUNS:-3}
CMD="CONC=$CONC RUNS=$RUNS tests/bench/ledger_throughput.sh $N"
bound=$(bound_for "$N")
command -v redis-server >/dev/null || { echo "ledger_throughput.sh: redis-server not installed" >&2; exit 2; }

bench_init
nginx_start
RPORT=$(free_port)
redis-server --port "$RPORT" --save '' --appendonly no --bind 127.0.0.1 >/dev/null 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; wait $RPID 2>/dev/null; bench_cleanup' EXIT
for _ in $(seq 1 100); do
    redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break
    sleep 0.05
done
REDIS="redis://127.0.0.1:$RPORT/0"
echo "N=$N, concurrency $CONC, $RUNS runs each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
gen_jobs "$N" "$TMP/jobs.jsonl"

declare -A walls
variants=${VARIANTS:-"local ledger local_budget ledger_budget local_rpm ledger_rpm"}
for r in $(seq "$RUNS"); do
    for v in $variants; do
        name="bench-$$-$r-$v"
        case $v in
            local)         extra=() ;;
            local_budget)  extra=(--budget 1000000) ;;
            local_rpm)     extra=(--rpm 60000000) ;;
            ledger)        extra=(--ledger "$name" --redis "$REDIS") ;;
            ledger_budget) extra=(--ledger "$name" --redis "$REDIS" --budget 1000000) ;;
            ledger_rpm)    extra=(--ledger "$name" --redis "$REDIS" --rpm 60000000) ;;
        esac
        llmb_run "$bound" "$TMP/jobs.jsonl" "$TMP/out.jsonl" --concurrency "$CONC" "${extra[@]}"
        llmb_check "$TMP/out.jsonl" "$N"
        walls[$v]+=" $WALL"
        printf '  run %d %-14s %8.2f s  %9.0f req/s\n' "$r" "$v" "$WALL" "$(calc "$N / $WALL" 0)"
    done
done

echo
for v in $variants; do
    # shellcheck disable=SC2086
    w=$(median ${walls[$v]})
    declare "rps_$v=$(calc "$N / $w" 0)"
    printf '%-14s %10.2f s %12.0f req/s\n' "$v" "$w" "$(calc "$N / $w" 0)"
done
echo
for pair in ":" "_budget:--budget: " "_rpm:--rpm: "; do
    sfx=${pair%%:*} label=${pair#*:}
    a=rps_local$sfx b=rps_ledger$sfx
    [ -n "${!a:-}" ] && [ -n "${!b:-}" ] || continue
    result "${label}llmbatch req/s without a ledger" "${!a}" "-" "$CMD"
    result "${label}with --ledger / without" "$(calc "${!b} / ${!a}")x" ">= 0.8x" "$CMD"
done
