#!/bin/bash
# The address parsers of the work tree against those of another commit,
# on random structured texts: once optimised, once under ASan+UBSan.
#   bash bench/tools/parser_diff.sh <commit> [texts] [seed]
set -euo pipefail
base=${1:?commit whose parsers are the reference}
n=${2:-20000000}
seed=${3:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$root" show "$base:src/address.c" > "$tmp/old_address.c"
cp "$root/src/address.c" "$tmp/new_address.c"
inc=(-I"$root/include" -I"$root/src" -D_GNU_SOURCE)
build() { # flags... -> $tmp/diff
    for v in old new; do
        cc "$@" "${inc[@]}" -c "$tmp/${v}_address.c" -o "$tmp/$v.o"
    done
    objcopy --redefine-sym anysock_parse_ipv4=old_parse_ipv4 \
        --redefine-sym anysock_parse_ipv6=old_parse_ipv6 \
        --keep-global-symbol=old_parse_ipv4 \
        --keep-global-symbol=old_parse_ipv6 "$tmp/old.o" "$tmp/old2.o"
    objcopy --keep-global-symbol=anysock_parse_ipv4 \
        --keep-global-symbol=anysock_parse_ipv6 "$tmp/new.o" "$tmp/new2.o"
    cc "$@" -o "$tmp/diff" "$root/bench/tools/parser_diff.c" \
        "$tmp/old2.o" "$tmp/new2.o"
}
build -O2
"$tmp/diff" "$n" "$seed"
build -O1 -g -fsanitize=address,undefined -fno-sanitize-recover
"$tmp/diff" $((n / 7)) $((seed + 1))
