#!/usr/bin/env bash
# cpu.sh [N]: CPU microseconds per request, llmbatch and curl --parallel.
#
# Against nginx on loopback (see nginx.conf.in), N jobs (default 200000) with
# distinct prompts at concurrency CONC (64).  CPU = user + system time of the
# client process from getrusage (GNU /usr/bin/time -f "%U %S"), divided by N.
# llmbatch writes results and checkpoints (the default); its figure includes the
# pre-count and validation pass over the input.  curl sends one job's body N
# times (see lib.sh) with the responses going to /dev/null.  Each client runs
# RUNS (3) times; the median is reported.  Unlike wall time, CPU time is not
# much disturbed by other load on the machine.
#
# Environment: CONC (64), RUNS (3), plus lib.sh's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${1:-${N:-200000}}
CONC=${CONC:-64}
RUNS=${RUNS:-3}
CMD="tests/bench/cpu.sh $N"
bound=$(bound_for "$N")

bench_init
nginx_start
same_libcurl
echo "N=$N, concurrency $CONC, $RUNS runs each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
gen_jobs "$N" "$TMP/jobs.jsonl"
first_body "$TMP/jobs.jsonl" >"$TMP/body.json"
curl_config "$N" "$TMP/curl.cfg" "$TMP/body.json"

l_us=() l_u=() l_s=() c_us=() c_u=() c_s=()
for r in $(seq "$RUNS"); do
    llmb_run "$bound" "$TMP/jobs.jsonl" "$TMP/out.jsonl" --concurrency "$CONC"
    llmb_check "$TMP/out.jsonl" "$N"
    l_u+=("$CPU_U"); l_s+=("$CPU_S"); l_us+=("$(calc "($CPU_U + $CPU_S) * 1e6 / $N" 1)")
    echo "  run $r llmbatch: user $CPU_U s, sys $CPU_S s, ${l_us[-1]} us/request"
    curl_run "$bound" "$TMP/curl.cfg" "$CONC"
    [ "$RC" = 0 ] || exit 1
    c_u+=("$CPU_U"); c_s+=("$CPU_S"); c_us+=("$(calc "($CPU_U + $CPU_S) * 1e6 / $N" 1)")
    echo "  run $r curl:     user $CPU_U s, sys $CPU_S s, ${c_us[-1]} us/request"
done
lm=$(calc "$(median "${l_us[@]}")" 1); cm=$(calc "$(median "${c_us[@]}")" 1)
echo
printf '%-10s %10s %10s %12s\n' client "user us/r" "sys us/r" "total us/r"
printf '%-10s %10.1f %10.1f %12.1f\n' llmbatch "$(calc "$(median "${l_u[@]}") * 1e6 / $N" 1)" \
    "$(calc "$(median "${l_s[@]}") * 1e6 / $N" 1)" "$lm"
printf '%-10s %10.1f %10.1f %12.1f\n' curl "$(calc "$(median "${c_u[@]}") * 1e6 / $N" 1)" \
    "$(calc "$(median "${c_s[@]}") * 1e6 / $N" 1)" "$cm"
echo
result "llmbatch CPU per request" "$lm us" "-" "$CMD"
result "curl --parallel CPU per request" "$cm us" "-" "$CMD"
result "llmbatch / curl CPU per request" "$(calc "$lm / $cm")x" "-" "$CMD"
