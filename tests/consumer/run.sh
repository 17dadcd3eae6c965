#!/bin/sh
# Build and run tests/consumer/consumer.c against libanysock one way,
# linking only what the README's "Using it from your project" says:
#   run.sh STYLE SOURCE_DIR BINARY_DIR
# STYLE:
#   find_package        find_package(anysock) on a fresh `cmake --install`
#                       of BINARY_DIR (shared in the presets)
#   pkg-config          cc app.c $(pkg-config --cflags --libs anysock)
#   fetchcontent        FetchContent of SOURCE_DIR (a static library, the
#                       default when the parent sets no BUILD_SHARED_LIBS)
#   fetchcontent-shared the same with BUILD_SHARED_LIBS=ON
#   static              a static-only build of SOURCE_DIR, installed, then
#                       used through find_package and through pkg-config
#   command             PREFIX/bin/anysock from a fresh install runs with
#                       an empty environment (its RUNPATH finds the library)
set -eu
style=$1 src=$2 bin=$3
cflags=${ANYSOCK_CONSUMER_CFLAGS:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/anysock-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

install_prefix() {   # install_prefix BUILD_DIR
    cmake --install "$1" --prefix "$work/prefix" >/dev/null
}

use_find_package() {
    cmake -S "$src/tests/consumer" -B "$work/build" -DSTYLE=find_package \
        -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="$cflags" >/dev/null
    cmake --build "$work/build" >/dev/null
    # no LD_LIBRARY_PATH: CMake gives the build tree's program an RPATH to
    # the imported library, as it does in any consumer's build
    "$work/build/consumer"
}

use_pkg_config() {
    pcdir=$(dirname "$(find "$work/prefix" -name anysock.pc | head -n 1)")
    flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs anysock)
    echo "pkg-config --cflags --libs anysock: $flags"
    # shellcheck disable=SC2086 # word splitting of the flags is wanted
    ${CC:-cc} $cflags -o "$work/consumer" "$src/tests/consumer/consumer.c" $flags
    # a prefix outside ld.so's directories: the README's LD_LIBRARY_PATH
    LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer"
}

use_fetchcontent() {   # use_fetchcontent [cmake args...]
    cmake -S "$src/tests/consumer" -B "$work/build" -DSTYLE=fetchcontent \
        -DANYSOCK_SOURCE="$src" -DCMAKE_C_FLAGS="$cflags" "$@" >/dev/null
    cmake --build "$work/build" -j2 >/dev/null
    "$work/build/consumer"
}

case $style in
find_package)
    install_prefix "$bin"
    use_find_package
    ;;
pkg-config)
    install_prefix "$bin"
    use_pkg_config
    # shared: c-ares and libidn2 stay private (only --static adds them)
    case " $flags " in
    *" -lcares "* | *" -lidn2 "*)
        echo "pkg-config --libs names private dependencies: $flags" >&2
        exit 1
        ;;
    esac
    ;;
fetchcontent)
    use_fetchcontent
    ;;
fetchcontent-shared)
    use_fetchcontent -DBUILD_SHARED_LIBS=ON
    ;;
static)
    cmake -S "$src" -B "$work/lib" -DBUILD_SHARED_LIBS=OFF \
        -DANYSOCK_BUILD_TESTS=OFF -DANYSOCK_BUILD_EXAMPLES=OFF \
        -DANYSOCK_INSTALL=ON -DCMAKE_C_FLAGS="$cflags" >/dev/null
    cmake --build "$work/lib" -j2 >/dev/null
    install_prefix "$work/lib"
    test -f "$work/prefix/lib/libanysock.a"
    test ! -e "$work/prefix/lib/libanysock.so"
    use_find_package
    use_pkg_config
    ;;
command)
    install_prefix "$bin"
    # env -i: no LD_LIBRARY_PATH, nothing inherited
    out=$(env -i "$work/prefix/bin/anysock" parse ipv4 1.2.3.4)
    if [ "$out" != "01020304" ]; then
        echo "installed anysock printed '$out', want 01020304" >&2
        exit 1
    fi
    echo "installed $work/prefix/bin/anysock runs: $out"
    ;;
*)
    echo "usage: run.sh find_package|pkg-config|fetchcontent|fetchcontent-shared|static|command SRC BIN" >&2
    exit 2
    ;;
esac
