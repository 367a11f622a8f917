#!/usr/bin/env bash
# resume.sh: how soon a resumed run sends its first new request.
#
# A RESUME_N-job input (default 1M lines, plain .jsonl, distinct prompts) is run
# against nginx on loopback (see nginx.conf.in) until about half the jobs are
# done (read from --status-file), then stopped with SIGINT (llmbatch commits and
# exits 130).  nginx is restarted on the same port with a per-request access log
# ($msec), and the same command is run again.  Measured: the time from starting
# the rerun to the first request nginx logs, i.e. reading the checkpoint, the
# input's fingerprint (a pass over the whole file), truncating the outputs, and
# skipping the done jobs.  For comparison, the same figure for the first run
# (which pre-counts and validates every line before sending).
# The rerun is then left to finish, and the script checks exactly-once: N result
# lines, N distinct custom_ids.  Set RESUME_FINISH=0 to stop it instead.
#
# Environment: RESUME_N, CONC (64), RESUME_FINISH (1), plus lib.sh's.
# Target: the first new request within 2 s of the rerun's start.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${RESUME_N:-1000000}
CONC=${CONC:-64}
RESUME_FINISH=${RESUME_FINISH:-1}
CMD="RESUME_N=$N tests/bench/resume.sh"
bound=$(bound_for "$N")
half=$(( N / 2 ))

bench_init
echo "N=$N, concurrency $CONC; load: $(cut -d' ' -f1-3 /proc/loadavg)"
gen_jobs "$N" "$TMP/jobs.jsonl"
echo "input: $(( $(stat -c %s "$TMP/jobs.jsonl") / 1048576 )) MB"
run_cmd=("$LLMB" run "$TMP/jobs.jsonl" -o "$TMP/out.jsonl" --concurrency "$CONC" --timeout 30 -q
         --no-dedup --status-file "$TMP/status.json")

# first_request LOG T0: seconds from T0 (epoch) to the first request in LOG,
# waiting up to 120 s for it
first_request() {
    local t=""
    for _ in $(seq 12000); do
        t=$(awk -v t0="$2" '$3 == "POST" { printf "%.3f", $1 - t0; exit }' "$1" 2>/dev/null)
        [ -n "$t" ] && break
        sleep 0.01
    done
    [ -n "$t" ] || { echo "bench: no request reached nginx" >&2; return 1; }
    echo "$t"
}

# status_done: jobs done so far according to --status-file
status_done() {
    python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["done"])
except Exception: print(0)' "$TMP/status.json"
}

# run 1: until half done, then SIGINT
nginx_start "$TMP/access1.log"
t0=$EPOCHREALTIME
timeout --signal=INT --kill-after=30 "$bound" "${run_cmd[@]}" --base-url "$URL" &
pid=$!
first1=$(first_request "$TMP/access1.log" "$t0")
while kill -0 "$pid" 2>/dev/null && [ "$(status_done)" -lt "$half" ]; do sleep 0.2; done
kill -INT "$pid" 2>/dev/null || true      # timeout(1) passes it on to llmbatch
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || { echo "bench: the first run exited $rc, want 130 (interrupted)" >&2; exit 1; }
done1=$(count_lines "$TMP/out.jsonl")
echo "run 1: first request after ${first1} s; stopped with $done1 of $N results committed"
nginx_stop

# run 2: the same command, nginx now logging to access2.log
nginx_start "$TMP/access2.log"
t0=$EPOCHREALTIME
timeout --signal=INT --kill-after=30 "$bound" "${run_cmd[@]}" --base-url "$URL" &
pid=$!
first2=$(first_request "$TMP/access2.log" "$t0")
echo "run 2: first new request after ${first2} s"
[ "$RESUME_FINISH" = 0 ] && kill -INT "$pid" 2>/dev/null
rc=0; wait "$pid" || rc=$?
if [ "$RESUME_FINISH" != 0 ]; then
    [ "$rc" = 0 ] || { echo "bench: the rerun exited $rc, want 0" >&2; exit 1; }
    read -r lines ids < <(python3 -c 'import json,sys
ids=set(); n=0
for l in open(sys.argv[1]):
    n+=1; ids.add(json.loads(l)["custom_id"])
print(n, len(ids))' "$TMP/out.jsonl")
    sent2=$(grep -c ' POST ' "$TMP/access2.log")
    echo "run 2: finished; $lines result lines, $ids distinct custom_ids; it sent $sent2 requests"
    [ "$lines" = "$N" ] && [ "$ids" = "$N" ] || { echo "bench: FAILED exactly-once" >&2; exit 1; }
fi
echo
result "first request, fresh run of $N jobs" "$first1 s" "-" "$CMD"
result "first new request, resume at ~50% of $N jobs" "$first2 s" "< 2 s" "$CMD"
