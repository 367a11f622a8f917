#!/usr/bin/env bash
# burst.sh [N]: the first burst against a server that announces its limits.
#
# The mock API (tests/mockapi/server.py) enforces a request bucket like
# OpenAI's: RPM (2400) per minute refilled continuously, at most BURST (10)
# at once, with x-ratelimit-{limit,remaining,reset}-requests on every reply
# and 429 + retry-after when the bucket is empty.  llmbatch runs N (1200)
# jobs at --concurrency CONC (64), RUNS (3) times.  Per run it prints:
#   429 share   rate-limit 429s / requests sent          target < 1%
#   limit used  jobs / (elapsed x RPM/60)                target >= 95%
# (elapsed is llmbatch's own wall time, from its report; the ideal is
# N / (RPM/60) seconds, since the bucket starts full the ideal is slightly
# less, which this figure ignores).
#
# Environment: RPM, BURST, CONC, RUNS, LLMBATCH (else build/llmbatch).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-${N:-1200}}
RPM=${RPM:-2400}
BURST=${BURST:-10}
CONC=${CONC:-64}
RUNS=${RUNS:-3}
LLMB=${LLMBATCH:-$ROOT/build/llmbatch}
[ -x "$LLMB" ] || { cmake -S "$ROOT" -B "$ROOT/build" >/dev/null &&
                    cmake --build "$ROOT/build" -j"$(nproc)" --target llmbatch >/dev/null; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmb-burst.XXXXXX")
MOCK=""
cleanup() { [ -n "$MOCK" ] && kill "$MOCK" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

python3 - "$N" "$TMP/jobs.jsonl" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({"custom_id": "b-%05d" % i, "method": "POST",
                            "url": "/v1/chat/completions",
                            "body": {"model": "mock-model", "max_tokens": 8,
                                     "messages": [{"role": "user", "content": "burst %d" % i}]}},
                           separators=(",", ":")) + "\n")
PY
echo "burst.sh: $N jobs, concurrency $CONC, server limit $RPM/min with a burst of $BURST"
printf '%-5s %10s %10s %10s %12s\n' run requests 429s "429 share" "limit used"
for run in $(seq "$RUNS"); do
    python3 "$ROOT/tests/mockapi/server.py" --port 0 --port-file "$TMP/port" \
        --rpm "$RPM" --burst "$BURST" >"$TMP/mock.log" 2>&1 &
    MOCK=$!
    for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
    port=$(cat "$TMP/port")
    rm -f "$TMP"/out*
    OPENAI_API_KEY=sk-bench-burst-000000000000 "$LLMB" run "$TMP/jobs.jsonl" \
        -o "$TMP/out.jsonl" --base-url "http://127.0.0.1:$port" --concurrency "$CONC" -q \
        || echo "llmbatch exited $?" >&2
    python3 - "$TMP/out.report.json" "$N" "$RPM" "$run" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, rpm, run = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sent, n429 = r["http"]["requests_sent"], r["http"]["rate_limited_429"]
used = n / (r["elapsed_s"] * rpm / 60.0)
print("%-5s %10d %10d %9.2f%% %11.1f%%" % (run, sent, n429, 100.0 * n429 / sent, 100 * used))
PY
    kill "$MOCK"; wait "$MOCK" 2>/dev/null || true; MOCK=""
    rm -f "$TMP/port"
done
