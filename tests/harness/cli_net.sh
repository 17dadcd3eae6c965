#!/bin/bash
# End-to-end checks of `anysock listen` / `anysock connect` (CLI.md),
# loopback only. With $ANYSOCK_NETNS_BLACKHOLE set (tests/harness/netns.sh)
# also the blackholed-address cases.
# Usage: cli_net.sh PATH/TO/anysock
set -u
A=$1
tmp=$(mktemp -d /tmp/anysock-cli-XXXXXX)
pids=()
failures=0
here=$(dirname "$0")
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    sh "$here/dnsmasq.sh" stop "$tmp/dns" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
now() { date +%s.%N; }
elapsed_lt() { awk -v a="$1" -v b="$(now)" -v lim="$2" 'BEGIN{exit !(b-a<lim)}'; }
elapsed_ge() { awk -v a="$1" -v b="$(now)" -v lim="$2" 'BEGIN{exit !(b-a>=lim)}'; }

# Never the network: our own dnsmasq (the resolver's fixture script, run
# here so it lives in the same namespace). 7.17 reads the hosts file only
# when DNS has nothing, and dnsmasq says NXDOMAIN at once for unknown
# names under anysock.test.
sh "$here/dnsmasq.sh" start "$tmp/dns" || { echo "FAIL: dnsmasq" >&2; exit 1; }
export ANYSOCK_DNS_SERVERS=127.0.0.1:$(cat "$tmp/dns/dnsmasq.port")
export ANYSOCK_HOSTS="$tmp/hosts"
: > "$ANYSOCK_HOSTS"

# start_listen NAME ARGS...: runs `anysock listen ARGS`, its stdout on fd
# opened from a fifo; sets LHOST LPORT LPID from the "listening" line.
start_listen() {
    local name=$1; shift
    mkfifo "$tmp/$name.fifo"
    "$A" listen "$@" > "$tmp/$name.fifo" 2> "$tmp/$name.err" &
    LPID=$!
    pids+=("$LPID")
    exec {LFD}< "$tmp/$name.fifo"
    local word
    if ! read -r word LHOST LPORT <&"$LFD" || [ "$word" != listening ]; then
        LHOST= LPORT=
        return 1
    fi
}

echo_check() { # HOST PORT LABEL [connect args...]
    local host=$1 port=$2 label=$3; shift 3
    local out
    out=$(printf 'round trip %s\n' "$label" | "$A" connect "$@" "$host" "$port" 2> "$tmp/c.err")
    local rc=$?
    if [ $rc -eq 0 ] && [ "$out" = "round trip $label" ] &&
       grep -q "^connected " "$tmp/c.err"; then
        ok "echo over $label"
    else
        fail "echo over $label: rc=$rc out='$out' err='$(cat "$tmp/c.err")'"
    fi
}

# IPv4 echo, ephemeral port reported
if start_listen v4 --echo 127.0.0.1 0 && [ "$LHOST" = 127.0.0.1 ] &&
   [ "$LPORT" -gt 0 ]; then
    ok "listen 127.0.0.1 0 reports port $LPORT"
    echo_check 127.0.0.1 "$LPORT" ipv4
    grep -q "^connected 127.0.0.1 $LPORT\$" "$tmp/c.err" ||
        fail "connected line: $(cat "$tmp/c.err")"
    V4PORT=$LPORT
else
    fail "listen 127.0.0.1 0"
fi

# IPv6 echo
if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
    if start_listen v6 --echo ::1 0 && [ "$LHOST" = ::1 ]; then
        echo_check ::1 "$LPORT" ipv6
        echo_check localhost "$LPORT" "localhost -6" -6
    else
        fail "listen ::1 0"
    fi
else
    echo "skipped: no ::1 on lo"
fi

# unix socket echo, file removed on SIGTERM
sock="$tmp/echo.sock"
if start_listen unix --echo unix/ "$sock" && [ "$LHOST" = unix/ ] &&
   [ "$LPORT" = "$sock" ]; then
    echo_check unix/ "$sock" unix
    kill -TERM "$LPID"
    wait "$LPID"; rc=$?
    [ $rc -eq 0 ] || fail "listen exit status after SIGTERM: $rc"
    [ -e "$sock" ] && fail "socket file left after clean stop" ||
        ok "socket file removed after SIGTERM"
else
    fail "listen unix/ $sock"
fi

# refused port
"$A" connect 127.0.0.1 1 > /dev/null 2> "$tmp/c.err" < /dev/null
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/c.err")" = "Connection refused" ] &&
    ok "refused port" || fail "refused: rc=$rc '$(cat "$tmp/c.err")'"

# a name that does not resolve
"$A" connect nosuch.anysock.test 80 > /dev/null 2> "$tmp/c.err" < /dev/null
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/c.err")" = "No such device or address" ] &&
    ok "unknown name" || fail "unknown name: rc=$rc '$(cat "$tmp/c.err")'"

# first address refuses, second listens
if [ -n "${V4PORT:-}" ]; then
    printf '127.0.0.3 two.anysock.test\n127.0.0.1 two.anysock.test\n' > "$ANYSOCK_HOSTS"
    echo_check two.anysock.test "$V4PORT" "refusing-then-listening name"
    grep -q "^connected 127.0.0.1 " "$tmp/c.err" ||
        fail "second address not used: $(cat "$tmp/c.err")"
fi

# listen over a regular file: refused, file intact
printf 'precious\n' > "$tmp/regular"
"$A" listen unix/ "$tmp/regular" > /dev/null 2> "$tmp/l.err"
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/regular")" = precious ] &&
    ok "regular file at unix path left intact" ||
    fail "regular file: rc=$rc content='$(cat "$tmp/regular")'"

# plain listen: received bytes go to stdout
if start_listen plain 127.0.0.1 0; then
    printf 'to stdout\n' | "$A" connect 127.0.0.1 "$LPORT" > /dev/null 2>&1 &
    cpid=$!
    if read -r -t 5 line <&"$LFD" && [ "$line" = "to stdout" ]; then
        ok "listen writes received bytes to stdout"
    else
        fail "listen stdout: '${line:-}'"
    fi
    kill "$cpid" 2>/dev/null
fi

if [ -n "${ANYSOCK_NETNS_BLACKHOLE:-}" ]; then
    hole=$ANYSOCK_NETNS_BLACKHOLE
    t0=$(now)
    "$A" connect --timeout 1 "$hole" 80 > /dev/null 2> "$tmp/c.err" < /dev/null
    rc=$?
    if [ $rc -eq 1 ] && [ "$(cat "$tmp/c.err")" = "Connection timed out" ] &&
       elapsed_ge "$t0" 0.95 && elapsed_lt "$t0" 1.9; then
        ok "--timeout 1 against a blackhole"
    else
        fail "blackhole timeout: rc=$rc '$(cat "$tmp/c.err")'"
    fi
    if [ -n "${V4PORT:-}" ]; then
        printf '%s bh.anysock.test\n127.0.0.1 bh.anysock.test\n' "$hole" > "$ANYSOCK_HOSTS"
        t0=$(now)
        echo_check bh.anysock.test "$V4PORT" "blackholed-first name"
        elapsed_lt "$t0" 2 && ok "blackholed first address: under 2 s" ||
            fail "blackholed first address took too long"
    fi
else
    echo "skipped: blackhole checks (run under tests/harness/netns.sh)"
fi

exit $((failures > 0))
