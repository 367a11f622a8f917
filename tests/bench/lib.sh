# lib.sh: shared helpers for the llmbatch benchmark scripts (sourced, not run).
#
#   bench_init           temp dir ($TMP), cleanup trap, deps, the llmbatch binary ($LLMB)
#   nginx_start [LOG]    nginx on 127.0.0.1:$PORT serving a fixed chat completion
#                        ($URL is the base URL); LOG = a per-request access log
#                        ("$msec status length"), default none
#   nginx_stop           stops it (also done on exit)
#   nginx_counters       "ACCEPTS REQUESTS" from nginx's stub_status (each call
#                        is itself one connection and one request)
#   gen_jobs N FILE      N OpenAI batch lines with distinct prompts (.gz => gzip)
#   run_timed SECS CMD.. runs CMD under `timeout` and /usr/bin/time; sets
#                        WALL (s), CPU_U, CPU_S (s), MAXRSS_KB, RC
#   llmb_run SECS INPUT OUT [ARGS..]
#                        llmbatch run INPUT -o OUT against nginx (--no-dedup -q),
#                        after removing OUT and its companions; run_timed's vars
#   curl_config N FILE BODY  a curl -K config: one body, N identical URLs
#   curl_run SECS CONFIG CONC  curl --parallel over it; run_timed's vars
#   same_libcurl         prints both libcurl versions, warns if they differ
#   median X..           the median of numbers
#   result NAME VALUE TARGET COMMAND
#                        prints a figure; also appends it to $BENCH_RESULTS
#                        (tab-separated) when run_all.sh collects them
#
# nginx runs with ONE worker by default (NGINX_WORKERS=1): the machine has two
# cores that the client and the server share, and llmbatch, curl --parallel and
# one nginx worker are each a single thread, so 1 + 1 threads fill the two cores
# without the server stealing the client's core.  NGINX_WORKERS=auto to change.
#
# Environment: LLMBATCH=/path/to/binary (default: build it in build/),
# BENCH_TMPDIR (default /tmp), NGINX_WORKERS, LLMB_NO_INSTALL=1 (install nothing).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
export OPENAI_API_KEY=${OPENAI_API_KEY:-sk-bench-not-a-real-key-0000}
NGINX_PID=""
TMP=""

bench_cleanup() {
    local rc=$?
    set +e
    nginx_stop
    [ -n "$TMP" ] && [ -d "$TMP" ] && [ "${BENCH_KEEP:-0}" != 1 ] && rm -rf "$TMP"
    return $rc
}

bench_init() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    bench_deps
    TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/llmb-bench.XXXXXX")
    if [ -n "${LLMBATCH:-}" ]; then
        LLMB=$LLMBATCH
    else
        echo "building llmbatch (RelWithDebInfo) in $ROOT/build ..." >&2
        cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build "$ROOT/build" -j"$(nproc)" --target llmbatch >/dev/null
        LLMB=$ROOT/build/llmbatch
    fi
    [ -x "$LLMB" ] || { echo "bench: no llmbatch binary at $LLMB" >&2; exit 1; }
    # a private copy, so that a rebuild of build/ during the benchmark changes nothing
    cp "$LLMB" "$TMP/llmbatch"
    LLMB=$TMP/llmbatch
}

# Installs what the benchmarks need, if missing (Debian packages).
bench_deps() {
    local need=() sudo=""
    [ "${LLMB_NO_INSTALL:-0}" = 1 ] && return 0
    . "$ROOT/tests/deps.sh"
    llmb_install_deps                         # build deps, curl, python3, gzip
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
        if apt-cache show nginx-light >/dev/null 2>&1; then need+=(nginx-light); else need+=(nginx); fi
    }
    command -v wrk >/dev/null || need+=(wrk)
    [ -x /usr/bin/time ] || need+=(time)
    [ ${#need[@]} -eq 0 ] && return 0
    echo "installing: ${need[*]}" >&2
    [ "$(id -u)" != 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# nginx_start [ACCESS_LOG_PATH]; reuses $PORT if set, else picks a free port.
nginx_start() {
    local log=${1:-} prefix="$TMP/nginx" nginx_bin logdirective=off
    [ -n "$log" ] && logdirective="$log bench"
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    PORT=${PORT:-$(free_port)}
    mkdir -p "$prefix"
    sed -e "s|@PORT@|$PORT|g" -e "s|@PREFIX@|$prefix|g" \
        -e "s|@WORKERS@|${NGINX_WORKERS:-1}|g" \
        -e "s|@ACCESS_LOG@|$logdirective|g" \
        "$BENCH_DIR/nginx.conf.in" >"$prefix/nginx.conf"
    # -e: nginx >= 1.19.5 would otherwise open /var/log/nginx/error.log first
    nginx_launch "$nginx_bin" "$prefix"
}

# nginx_launch BIN PREFIX: starts nginx with PREFIX/nginx.conf on $PORT and
# waits until it answers (sets NGINX_PID and URL); exits on failure.
nginx_launch() {
    local nginx_bin=$1 prefix=$2
    "$nginx_bin" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" \
        >"$prefix/stdout.log" 2>&1 &
    NGINX_PID=$!
    URL="http://127.0.0.1:$PORT"
    for _ in $(seq 100); do
        curl -s -o /dev/null "$URL/nginx_status" && return 0
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "bench: nginx did not start:" >&2
    cat "$prefix/stdout.log" "$prefix/error.log" >&2 2>/dev/null
    exit 1
}

nginx_stop() {
    [ -n "$NGINX_PID" ] || return 0
    kill -QUIT "$NGINX_PID" 2>/dev/null        # graceful: the master stops its workers
    for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}

nginx_counters() {
    curl -s "$URL/nginx_status" | awk '/server accepts handled requests/ { getline; print $1, $3 }'
}

# gen_jobs N FILE: OpenAI batch lines, every prompt distinct (so deduplication
# and caching can do nothing); a FILE ending in .gz is gzip-compressed.
gen_jobs() {
    local n=$1 file=$2
    python3 - "$n" "$file" <<'PY'
import gzip, sys
n, path = int(sys.argv[1]), sys.argv[2]
out = gzip.open(path, "wt", compresslevel=1) if path.endswith(".gz") else open(path, "w")
topics = ["photosynthesis", "the French revolution", "black holes", "compound interest",
          "the water cycle", "TCP handshakes", "plate tectonics", "vaccines"]
buf = []
for i in range(n):
    buf.append('{"custom_id":"job-%08d","method":"POST","url":"/v1/chat/completions",'
               '"body":{"model":"gpt-4o-mini","messages":[{"role":"system","content":'
               '"You are concise."},{"role":"user","content":"Question %d: explain %s to a '
               'ten-year-old in two sentences."}],"max_tokens":64,"temperature":0}}\n'
               % (i, i, topics[i % len(topics)]))
    if len(buf) == 10000:
        out.write("".join(buf)); buf = []
out.write("".join(buf))
out.close()
PY
}

# The request body of the first job (for curl and wrk, which send one body).
first_body() {
    python3 -c 'import gzip,json,sys
p=sys.argv[1]; f=gzip.open(p,"rt") if p.endswith(".gz") else open(p)
print(json.dumps(json.loads(f.readline())["body"], separators=(",",":")), end="")' "$1"
}

# run_timed SECS CMD...: CMD runs under timeout (SIGINT, then SIGKILL 30 s later)
# and GNU time; sets WALL CPU_U CPU_S MAXRSS_KB RC.  stdin/stdout pass through.
run_timed() {
    local secs=$1 t0 t1
    shift
    t0=$EPOCHREALTIME
    RC=0
    /usr/bin/time -f '%U %S %M' -o "$TMP/time.out" \
        timeout --signal=INT --kill-after=30 "$secs" "$@" || RC=$?
    t1=$EPOCHREALTIME
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    read -r CPU_U CPU_S MAXRSS_KB < <(grep -E '^[0-9.]+ [0-9.]+ [0-9]+$' "$TMP/time.out" | tail -1)
    [ "$RC" = 124 ] && echo "bench: TIMEOUT after ${secs}s: $*" >&2
    return 0
}

# A time bound for a run of N requests: generous, for a loaded machine.
bound_for() { echo $(( 60 + $1 / 500 )); }

# Lines in a results file (.gz or not).
count_lines() {
    if [[ $1 == *.gz ]]; then gzip -dc "$1" | wc -l; else wc -l <"$1"; fi
}

llmb_outputs() {             # OUT and the files llmbatch derives from it
    local out=$1 base=${1%.gz}
    base=${base%.jsonl}
    echo "$out" "$out.ckpt" "$base.errors.jsonl${1##*.jsonl}" "$base.report.json"
}

llmb_run() {
    local secs=$1 in=$2 out=$3
    shift 3
    rm -f $(llmb_outputs "$out")
    if [ "$in" = - ]; then
        run_timed "$secs" "$LLMB" run - -o "$out" --base-url "$URL" --timeout 30 -q --no-dedup "$@" <"$STDIN_FILE"
    else
        run_timed "$secs" "$LLMB" run "$in" -o "$out" --base-url "$URL" --timeout 30 -q --no-dedup "$@"
    fi
}

# llmb_check OUT N: the results file has N lines and the errors file none.
llmb_check() {
    local out=$1 n=$2 errs lines
    errs=$(llmb_outputs "$out" | awk '{ print $3 }')
    lines=$(count_lines "$out")
    if [ "$RC" != 0 ] || [ "$lines" != "$n" ] || { [ -e "$errs" ] && [ "$(count_lines "$errs")" != 0 ]; }; then
        echo "bench: FAILED: llmbatch exit $RC, $lines result lines (want $n); errors file $errs" >&2
        return 1
    fi
}

# One operation with N `url` lines shares one body and one header set: a
# `next`-separated config with a distinct body per request would make curl
# hold N full option sets (about 2.5 KB each) before it starts.  The body is a
# real job's body, so the request size matches llmbatch's.
curl_config() {
    local n=$1 cfg=$2 body=$3
    {
        echo 'silent'
        echo 'no-progress-meter'
        echo 'fail'
        echo 'header = "Content-Type: application/json"'
        echo "header = \"Authorization: Bearer $OPENAI_API_KEY\""
        echo "data-binary = \"@$body\""
        awk -v n="$n" -v u="$URL/v1/chat/completions" 'BEGIN { for (i = 0; i < n; i++) printf "url = \"%s\"\n", u }'
    } >"$cfg"
}

# Responses go to stdout, which is /dev/null (cheaper than N `output` entries).
curl_run() {
    run_timed "$1" curl --parallel --parallel-max "$3" --parallel-immediate -K "$2" >/dev/null 2>"$TMP/curl.err"
    [ "$RC" = 0 ] || { echo "bench: curl exit $RC:" >&2; head -5 "$TMP/curl.err" >&2; }
}

same_libcurl() {
    local a b
    a=$(curl --version | head -1 | grep -o 'libcurl/[0-9.]*')
    b=$("$LLMB" --version | grep -o 'libcurl/[0-9.]*')
    echo "curl:     $(ldd "$(command -v curl)" | awk '/libcurl/ { print $3 }') ($a)"
    echo "llmbatch: $(ldd "$LLMB" | awk '/libcurl/ { print $3 }') ($b)"
    [ "$a" = "$b" ] || echo "bench: WARNING: curl and llmbatch use different libcurl versions" >&2
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

result() {
    printf '%-44s %14s   target %-10s\n' "$1" "$2" "$3"
    [ -n "${BENCH_RESULTS:-}" ] && printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$BENCH_RESULTS"
    return 0
}

# The command line to quote for a figure (paths shortened to the repo).
shown_cmd() { echo "tests/bench/$(basename "$0") $*" | sed 's/ *$//'; }
