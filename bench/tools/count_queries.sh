#!/bin/bash
# How many A and AAAA queries reach dnsmasq per name, for c-ares 1.18's
# ares_getaddrinfo and for ours (the `anysock resolve` command), in the
# bench's three zones (bench/dns.c): dual stack, A-only with AAAA NODATA,
# and the first round's A-only zone, where dnsmasq answers AAAA REFUSED.
# Root: it runs in its own network and mount namespace, dnsmasq on :53.
#   bash bench/tools/count_queries.sh build/dev/examples/anysock [N]
set -euo pipefail
anysock=$(realpath "${1:?path to the anysock command}")
n=${2:-100}
here=$(cd "$(dirname "$0")" && pwd)
if [ "${COUNT_QUERIES_INNER:-}" != 1 ]; then
    exec env COUNT_QUERIES_INNER=1 unshare -n -m bash "$0" "$anysock" "$n"
fi
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
cc -O1 -o "$tmp/cq" "$here/cares_queries.c" -lcares
ip link set lo up
printf 'nameserver 127.0.0.1\noptions ndots:1\n' > "$tmp/resolv.conf"
mount --bind "$tmp/resolv.conf" /etc/resolv.conf
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=127.0.0.1 --bind-interfaces --port=53 \
    --address=/bench.test/127.0.0.1 --address=/bench.test/::1 \
    --local=/a4.test/ --address=/a4.test/127.0.0.1 \
    --address=/r4.test/127.0.0.1 --cache-size=0 --pid-file= \
    --user=root --group=root --log-queries --log-facility="$tmp/q.log" &
pid=$!
sleep 0.5
count() { # what zone
    printf '%-7s %-10s %d names: %4d A, %4d AAAA\n' "$1" "$2" "$n" \
        "$(grep -c 'query\[A\] ' "$tmp/q.log" || true)" \
        "$(grep -c 'query\[AAAA\] ' "$tmp/q.log" || true)"
}
for zone in bench.test a4.test r4.test; do
    : > "$tmp/q.log"
    "$tmp/cq" 127.0.0.1:53 "$zone" "$n" 2>/dev/null || true
    sleep 0.3
    count c-ares "$zone"
    : > "$tmp/q.log"
    for i in $(seq 0 $((n - 1))); do
        "$anysock" resolve --dns-server 127.0.0.1 "n$i.$zone" 80 >/dev/null ||
            true
    done
    sleep 0.3
    count ours "$zone"
done
