#!/usr/bin/env bash
# checkpoint.sh [N]: what checkpointing costs in throughput.
#
# llmbatch has no switch to turn the checkpoint off for a file input, so "off"
# is approximated two ways, next to the default and a more frequent setting.
# All runs: N jobs (default 200000) with distinct prompts, plain .jsonl results,
# against nginx on loopback (see nginx.conf.in), concurrency CONC (64).
#
#   default      FILE input.  A commit every --commit-every 10000 results and
#                every second: outputs fsynced, checkpoint (with its done-bitmap)
#                written to a temp file, fsynced, renamed, directory fsynced.
#   every-1000   --commit-every 1000: ten times as many commits; the difference
#                from default is the cost of the extra commits.
#   timer-only   --commit-every 100000000: commits only on the one-second timer
#                (and at the end); the fewest commits a file input can make.
#   stdin        INPUT "-": llmbatch spools stdin to a temp file, then runs with
#                no checkpoint at all (the outputs are still fsynced every
#                second).  Its wall time includes the spool, so the spool cost
#                is measured separately (cat INPUT > temp file in the same
#                directory, fsync excluded, as llmbatch does) and subtracted:
#                "stdin - spool" is the closest to "checkpointing off".
# Each variant runs RUNS (3) times, interleaved; medians are reported.
#
# Environment: CONC (64), RUNS (3), plus lib.sh's.
# Target: none given; checkpointing should cost little.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${1:-${N:-200000}}
CONC=${CONC:-64}
RUNS=${RUNS:-3}
CMD="tests/bench/checkpoint.sh $N"
bound=$(bound_for "$N")

bench_init
nginx_start
echo "N=$N, concurrency $CONC, $RUNS runs each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
gen_jobs "$N" "$TMP/jobs.jsonl"
STDIN_FILE=$TMP/jobs.jsonl
export TMPDIR=$TMP                  # where llmbatch spools stdin

variants=(default every-1000 timer-only stdin)
declare -A walls
spools=()
for r in $(seq "$RUNS"); do
    for v in "${variants[@]}"; do
        case $v in
            default)    llmb_run "$bound" "$TMP/jobs.jsonl" "$TMP/out.jsonl" --concurrency "$CONC" ;;
            every-1000) llmb_run "$bound" "$TMP/jobs.jsonl" "$TMP/out.jsonl" --concurrency "$CONC" --commit-every 1000 ;;
            timer-only) llmb_run "$bound" "$TMP/jobs.jsonl" "$TMP/out.jsonl" --concurrency "$CONC" --commit-every 100000000 ;;
            stdin)      llmb_run "$bound" - "$TMP/out.jsonl" --concurrency "$CONC" ;;
        esac
        llmb_check "$TMP/out.jsonl" "$N"
        walls[$v]+=" $WALL"
        printf '  run %d %-11s %8.2f s  %9.0f req/s\n' "$r" "$v" "$WALL" "$(calc "$N / $WALL" 0)"
    done
    sync
    t0=$EPOCHREALTIME
    cat "$TMP/jobs.jsonl" >"$TMP/spool.tmp"
    spools+=("$(calc "$EPOCHREALTIME - $t0" 3)")
    rm -f "$TMP/spool.tmp"
done
[ -z "$(ls "$TMP"/llmbatch-stdin-* 2>/dev/null)" ] || echo "bench: WARNING: llmbatch left its stdin spool file behind" >&2

spool=$(median "${spools[@]}")
# shellcheck disable=SC2086
base=$(median ${walls[default]})
echo
printf '%-16s %10s %12s %14s\n' variant "wall s" "req/s" "vs default"
for v in "${variants[@]}"; do
    # shellcheck disable=SC2086
    w=$(median ${walls[$v]})
    printf '%-16s %10.2f %12.0f %13.2fx\n' "$v" "$w" "$(calc "$N / $w" 0)" "$(calc "$base / $w")"
    declare "w_${v//-/_}=$w"
done
w_nockpt=$(calc "$w_stdin - $spool" 3)
printf '%-16s %10.2f %12.0f %13.2fx   (spool: %.3f s)\n' "stdin - spool" "$w_nockpt" \
    "$(calc "$N / $w_nockpt" 0)" "$(calc "$base / $w_nockpt")" "$spool"
echo
result "req/s, checkpoint on (default)" "$(calc "$N / $w_default" 0)" "-" "$CMD"
result "req/s, --commit-every 1000" "$(calc "$N / $w_every_1000" 0)" "-" "$CMD"
result "req/s, commits on the 1 s timer only" "$(calc "$N / $w_timer_only" 0)" "-" "$CMD"
result "req/s, no checkpoint (stdin, minus spool)" "$(calc "$N / $w_nockpt" 0)" "-" "$CMD"
result "checkpoint on / off throughput" "$(calc "$w_nockpt / $w_default")x" "~1.0x" "$CMD"
