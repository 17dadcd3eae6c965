#!/bin/sh
# Build and run tests/consumer/consumer.c against libanysock one way:
#   run.sh find_package|pkg-config|fetchcontent SOURCE_DIR BINARY_DIR
# find_package and pkg-config use a fresh `cmake --install` of BINARY_DIR.
set -eu
style=$1 src=$2 bin=$3
cflags=${ANYSOCK_CONSUMER_CFLAGS:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/anysock-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

install_prefix() {
    cmake --install "$bin" --prefix "$work/prefix" >/dev/null
}

case $style in
find_package)
    install_prefix
    cmake -S "$src/tests/consumer" -B "$work/build" -DSTYLE=find_package \
        -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="$cflags" >/dev/null
    cmake --build "$work/build" >/dev/null
    LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/build/consumer"
    ;;
pkg-config)
    install_prefix
    pcdir=$(dirname "$(find "$work/prefix" -name anysock.pc | head -n 1)")
    flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs anysock)
    # shellcheck disable=SC2086 # word splitting of the flags is wanted
    ${CC:-cc} $cflags -o "$work/consumer" "$src/tests/consumer/consumer.c" $flags -lev
    LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/consumer"
    ;;
fetchcontent)
    cmake -S "$src/tests/consumer" -B "$work/build" -DSTYLE=fetchcontent \
        -DANYSOCK_SOURCE="$src" -DCMAKE_C_FLAGS="$cflags" >/dev/null
    cmake --build "$work/build" -j2 >/dev/null
    "$work/build/consumer"
    ;;
*)
    echo "usage: run.sh find_package|pkg-config|fetchcontent SRC BIN" >&2
    exit 2
    ;;
esac
