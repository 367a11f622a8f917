#!/usr/bin/env bash
# deps: installs what building and testing llmbatch needs, if missing
# (Debian packages; run as root or with sudo).  Sourced by samples/demo.sh
# and tests/run.sh.  Set LLMB_NO_INSTALL=1 to skip.
#   llmb_install_deps [--test] [--browser] [PACKAGE...]
#   --test adds what the test suite needs, --browser chromium (the HTML
#   report's browser test, tests/browser/).
llmb_install_deps() {
    local need=() pkgs="cmake make gcc pkg-config libcurl4-openssl-dev libjansson-dev zlib1g-dev libsqlite3-dev libhiredis-dev python3 curl gzip"
    while [ $# -gt 0 ]; do
        case "$1" in
            --test) pkgs="$pkgs nginx-light openssl clang libclang-rt-14-dev redis-server" ;;
            --browser) pkgs="$pkgs chromium" ;;
            *) break ;;
        esac
        shift
    done
    [ "${LLMB_NO_INSTALL:-0}" = 1 ] && return 0
    for p in $pkgs "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    echo "installing: ${need[*]}" >&2
    local sudo=""
    [ "$(id -u)" != 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}
