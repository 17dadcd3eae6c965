#!/bin/sh
# build one attack program against the asan static library: ./build.sh a1_trace_cancel
set -e
cd "$(dirname "$0")"
R=..
for p in "$@"; do
cc -g -O1 -std=gnu11 -Wall -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -I$R/include -o $p $p.c $R/build/asan/libanysock_internal.a -lev -lcares -lidn2 -lm
done
# and a non-sanitized -O2 copy against the dev build for timings: NAME.dev
for p in "$@"; do
cc -g -O2 -std=gnu11 -I$R/include -o $p.dev $p.c $R/build/dev/libanysock_internal.a -lev -lcares -lidn2 -lm
done
