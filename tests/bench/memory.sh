#!/usr/bin/env bash
# memory.sh: peak RSS of llmbatch on a small and a large gzip input at
# --concurrency 256 against nginx on loopback (see nginx.conf.in).
#
# Two inputs of M1 (default 100k) and M2 (default 2M) OpenAI batch lines with
# distinct prompts, gzip-compressed, each run once with results written to
# .jsonl.gz and checkpointing on.  Peak RSS is the kernel's ru_maxrss for the
# process (GNU /usr/bin/time -f %M).  Bounded memory means the two peaks are
# about equal: only the done-bitmap (1 bit per job: 250 KB at 2M) may grow.
# The 2M run takes a few minutes (2M requests at the machine's rate).
#
# Environment: M1, M2, CONC (256), plus lib.sh's.
# Target: at most 64 MB, and flat.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

M1=${M1:-100000}
M2=${M2:-2000000}
CONC=${CONC:-256}
CMD="M1=$M1 M2=$M2 tests/bench/memory.sh"

bench_init
nginx_start
echo "N=$M1 and $M2, concurrency $CONC; load: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A rss
for n in "$M1" "$M2"; do
    gen_jobs "$n" "$TMP/jobs-$n.jsonl.gz"
    llmb_run "$(bound_for "$n")" "$TMP/jobs-$n.jsonl.gz" "$TMP/out-$n.jsonl.gz" --concurrency "$CONC"
    llmb_check "$TMP/out-$n.jsonl.gz" "$n"
    rss[$n]=$(calc "$MAXRSS_KB / 1024" 1)
    printf '  %8d jobs: peak RSS %6.1f MB, %.1f s, %.0f req/s\n' "$n" "${rss[$n]}" "$WALL" "$(calc "$n / $WALL" 0)"
    rm -f "$TMP/jobs-$n.jsonl.gz" $(llmb_outputs "$TMP/out-$n.jsonl.gz")
done
echo
result "peak RSS, $M1 jobs, conc $CONC" "${rss[$M1]} MB" "<= 64 MB" "$CMD"
result "peak RSS, $M2 jobs, conc $CONC" "${rss[$M2]} MB" "<= 64 MB" "$CMD"
result "peak RSS growth, $M1 -> $M2 jobs" "$(calc "${rss[$M2]} - ${rss[$M1]}" 1) MB" "flat" "$CMD"
