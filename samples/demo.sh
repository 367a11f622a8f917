#!/usr/bin/env bash
# demo.sh: installs what is missing, builds llmbatch, starts the bundled mock
# API on 127.0.0.1 (no internet, no real key, nothing is billed), and runs
# the sample batch samples/demo.jsonl.gz (300 prompts, OpenAI batch format)
# with a $1 spend cap, a few injected faults and a live progress line.
# It shows where the results and the cost report are.  Rerunning resumes
# (then finds nothing left to do); pass --fresh to start over.
# Environment: LLMBATCH=path uses that binary instead of building one into
# build/; LLMB_DEMO_OUT=dir puts the outputs there (default demo-out);
# LLMB_NO_INSTALL=1 installs nothing.  Exits with llmbatch's exit status.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
llmb_install_deps

if [ -n "${LLMBATCH:-}" ]; then
    llmbatch=$LLMBATCH
else
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j"$(nproc)" >/dev/null
    llmbatch=build/llmbatch
fi

out=${LLMB_DEMO_OUT:-demo-out}
mkdir -p "$out"
port_file=$(mktemp)
python3 tests/mockapi/server.py --port 0 --port-file "$port_file" --seed 1 \
    --faults "429=0.03,500=0.03,reset=0.02" --latency-ms 40 >"$out/mock.log" 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null; wait $mock 2>/dev/null; rm -f "$port_file"' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.05; done
[ -s "$port_file" ] || { echo "demo: the mock server did not start (see $out/mock.log)" >&2; exit 1; }
port=$(cat "$port_file")

echo "== llmbatch estimate (sends nothing)"
"$llmbatch" estimate samples/demo.jsonl.gz --budget 1
echo
echo "== llmbatch run against the mock API on 127.0.0.1:$port"
rc=0
OPENAI_API_KEY=sk-demo-not-a-real-key-0000 "$llmbatch" run samples/demo.jsonl.gz \
    -o "$out/results.jsonl.gz" --base-url "http://127.0.0.1:$port" \
    --budget 1 --alert-at 50,80 --concurrency 32 --timeout 10 "$@" || rc=$?
echo
echo "results:  $out/results.jsonl.gz   ($(gzip -dc "$out/results.jsonl.gz" | wc -l) lines)"
echo "errors:   $out/results.errors.jsonl.gz   ($(gzip -dc "$out/results.errors.jsonl.gz" | wc -l) lines)"
echo "report:   $out/results.report.json"
echo "first result:"
# sed reads to the end: `head` would close the pipe early, and gzip's SIGPIPE
# would make the demo exit 141 under pipefail
gzip -dc "$out/results.jsonl.gz" | sed -n 1p | cut -c1-400
exit $rc
