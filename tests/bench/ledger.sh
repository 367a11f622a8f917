#!/usr/bin/env bash
# ledger.sh [SECONDS]: Redis ledger calls per second on loopback.
#
# Starts redis-server on a free 127.0.0.1 port (no persistence), then runs
# tests/bench/ledger_bench.c: each ledger operation (a lease with a settle,
# a rate-slot grant, a key-state read, a heartbeat) in a loop for SECONDS
# (default 3) from 1 client, then from CLIENTS (default 4) processes at once.
# Each call is one EVALSHA round trip.  The figure that matters for a run:
# a process at ~15k requests/s that leases ~1 s of budget and of slots per
# call makes only a few calls per second, far below what one Redis serves.
#
# Environment: CLIENTS (4), LLMB_BUILD (build dir, default build/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-3}
CLIENTS=${CLIENTS:-4}
BUILD=${LLMB_BUILD:-$ROOT/build}
command -v redis-server >/dev/null || { echo "ledger.sh: redis-server not installed" >&2; exit 2; }
[ -d "$BUILD" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target ledger_bench >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --save '' --appendonly no --bind 127.0.0.1 >/dev/null 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; wait $RPID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
    sleep 0.05
done
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$PORT, $(nproc) cores"
"$BUILD/ledger_bench" "redis://127.0.0.1:$PORT/0" "$SECS" 1
"$BUILD/ledger_bench" "redis://127.0.0.1:$PORT/0" "$SECS" "$CLIENTS"
