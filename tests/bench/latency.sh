#!/usr/bin/env bash
# latency.sh [N]: hiding latency at high concurrency.  nginx on loopback
# answers every POST after LAT seconds (libnginx-mod-http-echo, `echo_sleep`)
# with a fixed chat completion; llmbatch runs N jobs (default 20000) at each
# concurrency in CONCS, over plain HTTP/1.1 and over TLS + HTTP/2 (a
# self-signed certificate made by openssl at run time, passed with --cacert).
#
# For each run it prints the wall time, the ideal (N * LAT / concurrency: every
# slot busy all the time), the share of the ideal (ideal / wall), llmbatch's
# peak RSS (GNU time), the connections nginx accepted, and, from nginx's access
# log ($msec - $request_time = when the server had read the request):
#   first  seconds from llmbatch's launch to the first request (validation)
#   ramp   seconds from the first request to the moment `concurrency` requests
#          were in flight at once (connection set-up in a burst shows here)
#   peak   the most requests in flight at once
# and from the kernel (nstat, machine-wide): `drops`, connection attempts the
# listen queue dropped or answered with SYN cookies (ListenDrops +
# SyncookiesSent); a dropped SYN is retried by the client after 1 s, then 3 s.
# The last wave is partial when N is not a multiple of the concurrency, so even
# a perfect client needs ceil(N / concurrency) * LAT seconds.
#
# Environment: CONCS ("1024 4096"), LAT (2), MODES ("http h2"; "" for none), BIG ("" or
# "CONC:N", e.g. 16384:65536, one more plain-HTTP run), H2_STREAMS (nginx's
# http2_max_concurrent_streams, 128 = nginx's default), EXTRA (more llmbatch
# arguments), plus lib.sh's.  Needs an open-file limit above the concurrency.
# Target (issue 15): at concurrency 4096, >= 90% of the ideal, peak RSS <= 64 MB.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${1:-${N:-20000}}
CONCS=${CONCS-1024 4096}
LAT=${LAT:-2}
MODES=${MODES-http h2}
BIG=${BIG:-}
H2_STREAMS=${H2_STREAMS:-128}
EXTRA=${EXTRA:-}
CMD="tests/bench/latency.sh $N"

echo_module() {
    local d
    for d in /usr/lib/nginx/modules /usr/share/nginx/modules; do
        [ -f "$d/ngx_http_echo_module.so" ] && { echo "$d/ngx_http_echo_module.so"; return 0; }
    done
    return 1
}

# The reply nginx sends after the sleep (the throughput benchmark's body).
REPLY='{"id":"chatcmpl-bench","object":"chat.completion","created":1732579200,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France. It is on the Seine.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":14,"total_tokens":38,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_bench"}'

# slow_nginx_start: nginx on $PORT (plain) and $TPORT (TLS + http2), with a
# per-request log in $TMP/access.log.
slow_nginx_start() {
    local prefix="$TMP/slow" mod nginx_bin
    mod=$(echo_module) || {
        echo "bench: ngx_http_echo_module.so not found (apt-get install libnginx-mod-http-echo)" >&2
        exit 1
    }
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    PORT=$(free_port); TPORT=$(free_port)
    mkdir -p "$prefix"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$prefix/key.pem" -out "$prefix/cert.pem" >/dev/null 2>&1
    cat >"$prefix/nginx.conf" <<EOF
load_module $mod;
daemon off;
master_process on;
worker_processes ${NGINX_WORKERS:-1};
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 65536; multi_accept on; }
http {
    log_format lat '\$msec \$request_time \$status \$server_port';
    access_log $TMP/access.log lat buffer=256k;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    client_body_buffer_size 64k;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams $H2_STREAMS;
    tcp_nodelay on;
    server_tokens off;
    server {
        listen 127.0.0.1:$PORT backlog=65535;
        listen 127.0.0.1:$TPORT ssl http2 backlog=65535;
        ssl_certificate $prefix/cert.pem;
        ssl_certificate_key $prefix/key.pem;
        location = /v1/chat/completions {
            default_type application/json;
            echo_read_request_body;
            echo_sleep $LAT;
            echo '$REPLY';
        }
        location = /nginx_status { access_log off; stub_status; }
        location / { return 404; }
    }
}
EOF
    nginx_launch "$nginx_bin" "$prefix"
}

# in_flight LOG CONC PORT T0: "first ramp peak" from the access log lines of PORT.
in_flight() {
    python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys
path, conc, port, launch = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
ev = []
for line in open(path):
    f = line.split()
    if len(f) < 4 or f[3] != port or f[2] != "200":
        continue
    end, dur = float(f[0]), float(f[1])
    ev.append((end - dur, 1))
    ev.append((end, -1))
ev.sort()
cur = peak = 0
t0 = ev[0][0] if ev else 0.0
ramp = None
for t, d in ev:
    cur += d
    if cur > peak:
        peak = cur
    if ramp is None and cur >= conc:
        ramp = t - t0
print("%.2f %.2f %d" % (t0 - launch, ramp if ramp is not None else -1, peak))
PY
}

bench_init
slow_nginx_start
echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //'), 1 worker, echo_sleep $LAT, http2_max_concurrent_streams $H2_STREAMS"
echo "llmbatch: $("$LLMB" --version | head -1); open files: soft $(ulimit -Sn), hard $(ulimit -Hn); somaxconn $(cat /proc/sys/net/core/somaxconn 2>/dev/null || echo ?)"
echo "N=$N, latency ${LAT}s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
gen_jobs "$N" "$TMP/jobs.jsonl"

runs=()
for m in $MODES; do for c in $CONCS; do runs+=("$m:$c:$N"); done; done
[ -n "$BIG" ] && runs+=("http:${BIG%%:*}:${BIG##*:}")
[ -n "$BIG" ] && [ "${BIG##*:}" != "$N" ] && gen_jobs "${BIG##*:}" "$TMP/big.jsonl"

printf '\n%-5s %6s %7s %8s %8s %7s %8s %6s %7s %7s %7s %6s %6s\n' mode conc jobs "wall s" "ideal s" share "RSS MB" "CPU s" conns "first s" "ramp s" peak drops
for r in "${runs[@]}"; do
    IFS=: read -r mode conc n <<<"$r"
    in=$TMP/jobs.jsonl
    [ "$n" != "$N" ] && in=$TMP/big.jsonl
    args=(--concurrency "$conc")
    if [ "$mode" = h2 ]; then
        URL="https://127.0.0.1:$TPORT"; args+=(--cacert "$TMP/slow/cert.pem"); port=$TPORT
    else
        URL="http://127.0.0.1:$PORT"; port=$PORT
    fi
    : >"$TMP/access.log"
    kill -USR1 "$NGINX_PID"                      # reopen the log
    read -r a0 _ < <(URL="http://127.0.0.1:$PORT" nginx_counters)
    # shellcheck disable=SC2086
    nstat -n >/dev/null 2>&1 || true
    launch=$EPOCHREALTIME
    llmb_run $(( 120 + n * LAT / conc * 3 )) "$in" "$TMP/out.jsonl" "${args[@]}" $EXTRA
    llmb_check "$TMP/out.jsonl" "$n" || exit 1
    read -r a1 _ < <(URL="http://127.0.0.1:$PORT" nginx_counters)
    drops=$(nstat 2>/dev/null | awk '$1 == "TcpExtListenDrops" || $1 == "TcpExtSyncookiesSent" { n += $2 } END { print n + 0 }')
    sleep 1                                      # let nginx flush its log buffer
    kill -USR1 "$NGINX_PID"; sleep 0.3
    read -r first ramp peak < <(in_flight "$TMP/access.log" "$conc" "$port" "$launch")
    ideal=$(calc "$n * $LAT / $conc" 2)
    share=$(calc "100 * $ideal / $WALL" 0)
    rss=$(calc "$MAXRSS_KB / 1024" 1)
    printf '%-5s %6d %7d %8.2f %8.2f %6s%% %8s %6s %7d %7s %7s %6s %6s\n' "$mode" "$conc" "$n" "$WALL" "$ideal" \
        "$share" "$rss" "$(calc "$CPU_U + $CPU_S" 1)" $(( a1 - a0 - 1 )) "$first" "$ramp" "$peak" "$drops"
    result "latency $mode c=$conc n=$n: share of ideal" "$share%" \
        "$([ "$conc" = 4096 ] && echo '>= 90%' || echo -)" "$CMD"
    result "latency $mode c=$conc n=$n: peak RSS" "$rss MB" "<= 64 MB" "$CMD"
done
