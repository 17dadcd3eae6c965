#!/bin/sh
# `anysock resolve` end to end (CLI.md) against the dnsmasq fixture.
# usage: cli_resolve.sh ANYSOCK_BINARY DNSMASQ_DIR
set -u
bin=$1
port=$(cat "$2/dnsmasq.port" 2>/dev/null) || {
    echo "dnsmasq fixture not running" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
export ANYSOCK_DNS_SERVERS=127.0.0.1:$port
export ANYSOCK_HOSTS=$tmp/hosts
unset ANYSOCK_PROTOCOLS
printf '::1 a.anysock.test\n127.0.0.90 hostsonly.anysock.test\n' >"$tmp/hosts"
Z=anysock.test

# check WANT-EXIT WANT-STDOUT ARGS...: stdout exact, exit status exact,
# stderr one line exactly when stdout is empty
check() {
    want_rc=$1 want=$2
    shift 2
    out=$("$bin" resolve "$@" 2>"$tmp/err")
    rc=$?
    nerr=$(wc -l <"$tmp/err")
    if [ "$rc" != "$want_rc" ] || [ "$out" != "$want" ] ||
       { [ -z "$want" ] && [ "$want_rc" = 1 ] && [ "$nerr" != 1 ]; }; then
        echo "FAIL: anysock resolve $*"
        echo "  want exit $want_rc: $(echo "$want" | tr '\n' '|')"
        echo "  got  exit $rc: $(echo "$out" | tr '\n' '|') / $(cat "$tmp/err")"
        fail=1
    else
        echo "ok: anysock resolve $*"
    fi
}
nl='
'
check 0 "inet stream 6 127.0.0.1 80" 127.0.0.1 80
check 0 "inet stream 6 127.0.0.1 80" 127.1 http
check 0 "inet6 stream 6 ::1 443" ::1 443
check 0 "inet stream 6 127.0.0.1 22${nl}inet6 stream 6 ::1 22" localhost 22
check 0 "inet6 stream 6 ::1 22" -6 localhost 22
check 0 "inet stream 6 127.0.0.1 22" -4 localhost 22
check 0 "unix stream 0 unix/ /tmp/x.sock" unix/ /tmp/x.sock
check 1 "" unix/ relative.sock
check 0 "inet stream 6 127.0.0.1 8080" 127.0.0.1 foo=8080
check 0 "inet dgram 17 127.0.0.1 53" --proto udp 127.0.0.1 domain
check 0 "inet seqpacket 6 127.0.0.1 1" --type seqpacket 127.0.0.1 1
check 0 "inet stream 6 127.0.0.12 80${nl}inet6 stream 6 ::1 80" both.$Z 80
check 0 "inet6 stream 6 ::1 80" -6 both.$Z 80
check 0 "inet stream 6 127.0.0.11 80${nl}inet6 stream 6 ::1 80" a.$Z 80
check 0 "inet stream 6 127.0.0.90 80" hostsonly.$Z 80
check 1 "" nosuch.$Z 80
check 1 "" dot.$Z http
# 7.17 asks SRV for the name of name=port even when no database knows it
check 0 "inet stream 6 127.0.0.22 7001" srvhost.$Z foo=5
check 0 "inet stream 6 127.0.0.40 5" srvhost.$Z bar=5
check 0 "inet dgram 17 127.0.0.21 5061" --proto udp srvhost.$Z sip
check 0 "inet stream 6 127.0.0.24 8004" -4 --dns-server 127.0.0.1:$port \
    t4.$Z 8004
out=$("$bin" resolve srvhost.$Z http)
first=$(echo "$out" | head -n 1) last=$(echo "$out" | tail -n 1)
second=$(echo "$out" | sed -n 2p)
if [ "$first" = "inet stream 6 127.0.0.24 8004" ] &&
   [ "$second" = "inet stream 6 127.0.0.21 8001" ] &&
   [ "$last" = "inet6 stream 6 ::1 8004" ]; then
    echo "ok: SRV order"
else
    echo "FAIL: SRV order: $out"; fail=1
fi
ANYSOCK_PROTOCOLS=ipv6,ipv4 check 0 \
    "inet6 stream 6 ::1 80${nl}inet stream 6 127.0.0.12 80" both.$Z 80
ANYSOCK_PROTOCOLS=ipv4,ipv6 check 0 \
    "inet stream 6 127.0.0.12 80${nl}inet6 stream 6 ::1 80" both.$Z 80
ANYSOCK_PROTOCOLS=ipv4 check 1 "" -6 both.$Z 80
check 1 "" 127.0.0.1 nosuchservice
check 2 "" 127.0.0.1
check 2 "" --type bogus 127.0.0.1 1
check 2 "" -x 127.0.0.1 1
for v in ANYSOCK_PROTOCOLS=ipv5 ANYSOCK_DNS_SERVERS=1.2.3 ANYSOCK_HOSTS=/; do
    name=${v%%=*}
    err=$(env "$v" "$bin" resolve 127.0.0.1 1 2>&1 >/dev/null)
    rc=$?
    case $err in
    *"$name"*) [ $rc -ne 0 ] && echo "ok: $v" && continue ;;
    esac
    echo "FAIL: $v: exit $rc, stderr: $err"; fail=1
done
# a DNS failure names DNS, never reads like a refused connect (a closed
# DNS port: refused at once, or timed out when Linux rate-limits ICMP)
out=$("$bin" resolve --dns-server 127.0.0.1:9 nosuch.example 80 2>"$tmp/err")
rc=$?
case $(cat "$tmp/err") in
*DNS*) dnsmsg=1 ;;
*) dnsmsg=0 ;;
esac
if [ $dnsmsg = 1 ] && [ $rc = 1 ] && [ -z "$out" ]; then
    echo "ok: $(cat "$tmp/err")"
else
    echo "FAIL: DNS failure: exit $rc, stderr: $(cat "$tmp/err")"; fail=1
fi
exit $fail
