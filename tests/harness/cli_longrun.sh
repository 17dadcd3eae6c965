#!/bin/sh
# `anysock resolve --cache / --hosts-first` (issue 17) against the dnsmasq
# fixture, which answers a.anysock.test with 127.0.0.11; the hosts file
# says 127.0.0.91.
# usage: cli_longrun.sh ANYSOCK_BINARY DNSMASQ_DIR
set -u
bin=$1
port=$(cat "$2/dnsmasq.port" 2>/dev/null) || {
    echo "dnsmasq fixture not running" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
export ANYSOCK_DNS_SERVERS=127.0.0.1:$port
export ANYSOCK_HOSTS=$tmp/hosts
unset ANYSOCK_PROTOCOLS ANYSOCK_DNS_CACHE ANYSOCK_HOSTS_FIRST
printf '127.0.0.91 a.anysock.test\n' >"$tmp/hosts"

# check WANT-EXIT WANT-STDOUT WANT-STDERR-SUBSTRING ARGS...
check() {
    want_rc=$1 want=$2 want_err=$3
    shift 3
    out=$("$bin" resolve "$@" 2>"$tmp/err")
    rc=$?
    if [ "$rc" != "$want_rc" ] || [ "$out" != "$want" ] ||
       { [ -n "$want_err" ] && ! grep -q -e "$want_err" "$tmp/err"; }; then
        echo "FAIL: anysock resolve $* (env: ${ENVDESC:-})"
        echo "  want exit $want_rc: $want / stderr ~ $want_err"
        echo "  got  exit $rc: $out / $(cat "$tmp/err")"
        fail=1
    else
        echo "ok: anysock resolve $* ${ENVDESC:-}"
    fi
}
dns="inet stream 6 127.0.0.11 80"
hosts="inet stream 6 127.0.0.91 80"
check 0 "$dns" "" -4 a.anysock.test 80
check 0 "$hosts" "" --hosts-first -4 a.anysock.test 80
check 0 "$dns" "" --cache -4 a.anysock.test 80
check 0 "$hosts" "" -4 --cache --hosts-first a.anysock.test 80
ENVDESC=ANYSOCK_HOSTS_FIRST=1
export ANYSOCK_HOSTS_FIRST=1
check 0 "$hosts" "" -4 a.anysock.test 80
export ANYSOCK_HOSTS_FIRST=yes
check 1 "" "malformed ANYSOCK_HOSTS_FIRST" -4 a.anysock.test 80
unset ANYSOCK_HOSTS_FIRST
ENVDESC=ANYSOCK_DNS_CACHE=16
export ANYSOCK_DNS_CACHE=16
check 0 "$dns" "" -4 a.anysock.test 80
export ANYSOCK_DNS_CACHE=lots
ENVDESC=ANYSOCK_DNS_CACHE=lots
check 1 "" "malformed ANYSOCK_DNS_CACHE" -4 a.anysock.test 80
# --cache is a number in the config: the environment is not consulted
check 0 "$dns" "" --cache -4 a.anysock.test 80
unset ANYSOCK_DNS_CACHE
exit $fail
