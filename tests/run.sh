#!/usr/bin/env bash
# run.sh: installs what is missing, builds llmbatch with CMake and runs the
# whole test suite (unit tests, end-to-end tests against the mock API server
# on 127.0.0.1, and a short fuzz smoke run).
#
#   tests/run.sh            release build (warnings are errors) in build/
#   tests/run.sh --asan     AddressSanitizer build in build-asan/
#   tests/run.sh --ubsan    UndefinedBehaviorSanitizer build in build-ubsan/
#   tests/run.sh --san      both sanitizers in one build (build-san/)
#   tests/run.sh --no-fuzz  skip the fuzz smoke run
#   tests/run.sh -R REGEX   only the ctest tests matching REGEX
#   tests/run.sh --browser  also the HTML report in headless chromium
#                           (tests/browser/; installs chromium; about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh

flags=() dir=build fuzz=1 filter=() browser=()
while [ $# -gt 0 ]; do
    case "$1" in
        --asan)  flags+=(-DLLMB_ASAN=ON); dir=build-asan; export LLMB_SANITIZED=1 ;;
        --ubsan) flags+=(-DLLMB_UBSAN=ON); dir=build-ubsan ;;
        --san)   flags+=(-DLLMB_ASAN=ON -DLLMB_UBSAN=ON); dir=build-san; export LLMB_SANITIZED=1 ;;
        --no-fuzz) fuzz=0 ;;
        --browser) browser=(--browser) ;;
        -R) filter=(-R "$2"); shift ;;
        *) echo "usage: tests/run.sh [--asan|--ubsan|--san] [--no-fuzz] [--browser] [-R REGEX]" >&2; exit 2 ;;
    esac
    shift
done
[ ${#filter[@]} -gt 0 ] && fuzz=0

llmb_install_deps --test "${browser[@]}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
ctest --test-dir "$dir" --output-on-failure -j2 "${filter[@]}" || rc=$?

if [ ${#browser[@]} -gt 0 ]; then
    LLMBATCH="$PWD/$dir/llmbatch" LLMB_SRC="$PWD" python3 tests/browser/test_html_report.py || rc=1
fi

if [ "$fuzz" = 1 ] && [ -x tests/fuzz_smoke.sh ]; then
    tests/fuzz_smoke.sh || rc=1
fi
exit $rc
