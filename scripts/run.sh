#!/usr/bin/env bash
# One entry point for people and CI on a fresh Debian machine (as root):
#   scripts/run.sh demo    install what is missing, build, run the demo
#   scripts/run.sh test    install what is missing, build (dev and asan
#                          presets) and run every test with ctest
#   scripts/run.sh deps    only install the Debian packages
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(gcc make cmake pkg-config libev-dev libc-ares-dev libidn2-dev
          libcmocka-dev dnsmasq-base nftables iproute2 valgrind procps netbase
          mandoc systemd nsd)

deps() {
    local missing=() p
    for p in "${PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages (run as root to install): ${missing[*]}" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

jobs=$(nproc 2>/dev/null || echo 2)

build() {   # build PRESET
    cmake --preset "$1" >/dev/null
    cmake --build --preset "$1" -j "$jobs"
}

case "${1:-}" in
deps)
    shift
    deps "$@"
    ;;
demo)
    deps
    build release >/dev/null
    ./build/release/examples/demo
    ;;
test)
    deps
    build dev
    ctest --preset dev -j "$jobs"
    build asan
    ctest --preset asan -j "$jobs"
    ;;
*)
    echo "usage: $0 demo|test|deps" >&2
    exit 2
    ;;
esac
