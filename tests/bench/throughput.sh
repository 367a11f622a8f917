#!/usr/bin/env bash
# throughput.sh [N]: requests per second of llmbatch against nginx on loopback,
# compared with curl --parallel (same libcurl, same concurrency) and with wrk
# (the machine's ceiling).
#
# nginx (see nginx.conf.in, one worker) answers every POST with the same ~470-byte
# chat completion.  N OpenAI batch jobs with distinct prompts are generated, then:
#   llmbatch       run jobs.jsonl -o out.jsonl     results written, checkpoint on
#                  (the default: every --commit-every 10000 results and every second)
#   llmbatch .gz   the same with -o out.jsonl.gz
#   curl           curl --parallel --parallel-max CONC --parallel-immediate, N POSTs
#                  of one job's body, responses to /dev/null
#   wrk            wrk -tWRK_THREADS -cCONC -dWRK_SECS with the same body (post.lua)
# Wall time is measured from process start to exit, so llmbatch's pre-count and
# validation pass over the input count against it.  Each client runs RUNS times
# (interleaved) and the median wall time is reported.  The script checks that
# llmbatch wrote N result lines and no errors, that nginx saw N requests from
# curl, and reports how many connections each client opened (nginx's counter).
#
# Environment: CONC (64), RUNS (3), WRK_SECS (10), WRK_THREADS (2), plus lib.sh's.
# Target: llmbatch >= 1.0x curl --parallel.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${1:-${N:-200000}}
CONC=${CONC:-64}
RUNS=${RUNS:-3}
WRK_SECS=${WRK_SECS:-10}
WRK_THREADS=${WRK_THREADS:-2}
CMD="CONC=$CONC tests/bench/throughput.sh $N"
bound=$(bound_for "$N")

bench_init
nginx_start
same_libcurl
echo "nginx workers: ${NGINX_WORKERS:-1}; N=$N, concurrency $CONC, $RUNS runs each; load: $(cut -d' ' -f1-3 /proc/loadavg)"

gen_jobs "$N" "$TMP/jobs.jsonl"
first_body "$TMP/jobs.jsonl" >"$TMP/body.json"
curl_config "$N" "$TMP/curl.cfg" "$TMP/body.json"
python3 - "$TMP/body.json" "$OPENAI_API_KEY" >"$TMP/post.lua" <<'PY'
import json, sys
body = open(sys.argv[1]).read()
print('wrk.method = "POST"')
print('wrk.body = %s' % json.dumps(body))
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Authorization"] = "Bearer %s"' % sys.argv[2])
PY

declare -A walls cpus conns
for r in $(seq "$RUNS"); do
    for client in llmbatch llmbatch_gz curl; do
        read -r a0 q0 < <(nginx_counters)
        case $client in
            llmbatch)    llmb_run "$bound" "$TMP/jobs.jsonl" "$TMP/out.jsonl" --concurrency "$CONC"
                         llmb_check "$TMP/out.jsonl" "$N" ;;
            llmbatch_gz) llmb_run "$bound" "$TMP/jobs.jsonl" "$TMP/out.jsonl.gz" --concurrency "$CONC"
                         llmb_check "$TMP/out.jsonl.gz" "$N" ;;
            curl)        curl_run "$bound" "$TMP/curl.cfg" "$CONC"
                         [ "$RC" = 0 ] || exit 1 ;;
        esac
        read -r a1 q1 < <(nginx_counters)
        sent=$(( q1 - q0 - 1 ))
        [ "$sent" = "$N" ] || { echo "bench: $client sent $sent requests, want $N" >&2; exit 1; }
        walls[$client]+=" $WALL"
        cpus[$client]+=" $(calc "($CPU_U + $CPU_S) * 1e6 / $N" 1)"
        conns[$client]=$(( a1 - a0 - 1 ))
        printf '  run %d %-12s %8.2f s  %9.0f req/s\n' "$r" "$client" "$WALL" "$(calc "$N / $WALL" 0)"
    done
done

wrk -t"$WRK_THREADS" -c"$CONC" -d"${WRK_SECS}s" -s "$TMP/post.lua" "$URL/v1/chat/completions" >"$TMP/wrk.out" 2>&1 ||
    { cat "$TMP/wrk.out" >&2; exit 1; }
wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk.out")
grep -q 'Non-2xx' "$TMP/wrk.out" && { echo "bench: wrk got non-2xx responses" >&2; cat "$TMP/wrk.out" >&2; exit 1; }

echo
printf '%-14s %10s %12s %14s %8s\n' client "wall s" "req/s" "CPU us/req" conns
for client in llmbatch llmbatch_gz curl; do
    # shellcheck disable=SC2086
    w=$(median ${walls[$client]}); c=$(median ${cpus[$client]})
    printf '%-14s %10.2f %12.0f %14.1f %8s\n' "$client" "$w" "$(calc "$N / $w" 0)" "$c" "${conns[$client]}"
    declare "rps_$client=$(calc "$N / $w" 0)"
done
printf '%-14s %10s %12.0f %14s %8s\n' wrk "${WRK_SECS}.00" "$wrk_rps" - "$CONC"
echo
result "llmbatch req/s (results + checkpoint)" "$rps_llmbatch" "-" "$CMD"
result "llmbatch req/s (.gz results)" "$rps_llmbatch_gz" "-" "$CMD"
result "curl --parallel req/s" "$rps_curl" "-" "$CMD"
result "wrk req/s (ceiling)" "$(calc "$wrk_rps" 0)" "-" "$CMD"
result "llmbatch / curl --parallel" "$(calc "$rps_llmbatch / $rps_curl")x" ">= 1.0x" "$CMD"
result "llmbatch .gz / curl --parallel" "$(calc "$rps_llmbatch_gz / $rps_curl")x" ">= 1.0x" "$CMD"
result "llmbatch / wrk" "$(calc "$rps_llmbatch / $wrk_rps")x" "-" "$CMD"
