#!/usr/bin/env bash
# fuzz_smoke: builds the libFuzzer targets (tests/fuzz/) in build-fuzz/ and
# runs each one for a few seconds over a copy of its seed corpus; fails if
# any target crashes, leaks, trips a sanitizer or an invariant.
#
#   tests/fuzz_smoke.sh                  # ~5 s per target, < 60 s in all
#   FUZZ_TIME=60 tests/fuzz_smoke.sh     # longer per target
#
# Longer runs, by hand (new inputs go into the corpus directory given first;
# use a scratch copy, or tests/fuzz/corpus-run/ which is git-ignored, if the
# committed seeds should stay as they are):
#   CC=clang cmake -S . -B build-fuzz -DLLMB_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-fuzz -j --target fuzz_all
#   mkdir -p tests/fuzz/corpus-run/fuzz_job
#   build-fuzz/tests/fuzz/fuzz_job tests/fuzz/corpus-run/fuzz_job \
#       tests/fuzz/corpus/fuzz_job -max_total_time=3600 -jobs=2
# Replay one crash: build-fuzz/tests/fuzz/fuzz_job crash-<sha1>
# Targets: fuzz_job fuzz_reader fuzz_response fuzz_ratelimit_hdr fuzz_prices
# fuzz_results fuzz_redis_url fuzz_lineid fuzz_report_html (one per tests/fuzz/fuzz_*.c;
# seeds in tests/fuzz/corpus/).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_FUZZ:-$ROOT/build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-5}

die() { echo "fuzz_smoke: $*" >&2; exit 2; }

# clang with libFuzzer (libclang-rt-14-dev on Debian/Ubuntu)
have_libfuzzer() {
    command -v clang >/dev/null 2>&1 || return 1
    local d
    d=$(mktemp -d) || return 1
    printf '%s\n' '#include <stddef.h>' \
        'int LLVMFuzzerTestOneInput(const unsigned char *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const unsigned char *d, size_t n) { (void)d; (void)n; return 0; }' \
        > "$d/t.c"
    clang -fsanitize=fuzzer,address,undefined "$d/t.c" -o "$d/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$d"
    return $rc
}
if ! have_libfuzzer; then
    echo "fuzz_smoke: installing clang and libclang-rt-14-dev" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && \
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev \
        >/dev/null || die "apt-get install failed"
    have_libfuzzer || die "clang cannot link -fsanitize=fuzzer"
fi

if ! grep -q '^LLMB_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
    CC=clang cmake -S "$ROOT" -B "$BUILD" -DLLMB_FUZZ=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.configure.log" 2>&1 ||
        { cat "$BUILD.configure.log" >&2; die "cmake configure failed"; }
    rm -f "$BUILD.configure.log"
fi
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target fuzz_all \
    >/dev/null 2>"$BUILD/fuzz_build.err" ||
    { cat "$BUILD/fuzz_build.err" >&2; die "build of fuzz targets failed"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmb-fuzz-smoke.XXXXXX") || die "mktemp failed"
pass=0
fail=0
failed=""
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    bin="$BUILD/tests/fuzz/$t"
    mkdir -p "$WORK/$t/corpus" "$WORK/$t/artifacts"
    if [ -d "$ROOT/tests/fuzz/corpus/$t" ]; then
        cp -R "$ROOT/tests/fuzz/corpus/$t/." "$WORK/$t/corpus/"
    fi
    if [ ! -x "$bin" ]; then
        echo "FAIL $t (not built)"
        fail=$((fail + 1)); failed="$failed $t"
        continue
    fi
    (cd "$WORK/$t" && timeout $((FUZZ_TIME + 30)) "$bin" corpus \
        -max_total_time="$FUZZ_TIME" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$WORK/$t/artifacts/" -print_final_stats=1 \
        >"$WORK/$t/log" 2>&1)
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t/log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "ok   $t (${runs:-?} runs)"
        pass=$((pass + 1))
    else
        echo "FAIL $t (exit $rc)"
        grep -E 'invariant failed|ERROR: |SUMMARY|runtime error' "$WORK/$t/log" | head -5 | sed 's/^/     /'
        for a in "$WORK/$t"/artifacts/*; do
            [ -e "$a" ] && echo "     input: $a"
        done
        echo "     log: $WORK/$t/log"
        fail=$((fail + 1)); failed="$failed $t"
    fi
done

echo "$pass passed, $fail failed"
if [ $fail -ne 0 ]; then
    echo "failed:$failed (kept $WORK)"
    exit 1
fi
rm -rf "$WORK"
exit 0
