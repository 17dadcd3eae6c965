#!/bin/bash
# `anysock connect` with the Happy Eyeballs flags (--deadline,
# --resolution-delay, --attempt-delay, -v) against hedns (A and AAAA
# delayed or dropped per name) and listeners on 127.0.0.1 and ::1.
# With $ANYSOCK_NETNS_BLACKHOLE (tests/harness/netns.sh) also the
# black-holed-address cases. Usage: cli_he.sh PATH/TO/anysock PATH/TO/hedns
set -u
A=$1
HEDNS=$2
tmp=$(mktemp -d /tmp/anysock-clihe-XXXXXX)
pids=()
failures=0
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a<b)}'; }
# Under valgrind (ANYSOCK_VG_TARGET, tests/harness/valgrind_exec.sh) the
# program starts seconds slower: upper bounds get SLOW seconds more.
SLOW=0
[ -n "${ANYSOCK_VG_TARGET:-}" ] && SLOW=5
# ASan builds start slower too (1.09 s seen for a 1 s bound under load).
[ -n "${ANYSOCK_TEST_SANITIZED:-}" ] && SLOW=1
up() { awk -v a="$1" -v s="$SLOW" 'BEGIN{print a+s}'; }

ip -6 addr show lo 2>/dev/null | grep -q '::1' ||
    { echo "SKIPPED: no ::1 on lo" >&2; exit 77; }

mkfifo "$tmp/dns.fifo"
"$HEDNS" > "$tmp/dns.fifo" &
pids+=($!)
exec {DFD}< "$tmp/dns.fifo"
read -r server <&"$DFD" || { echo "FAIL: hedns" >&2; exit 1; }
export ANYSOCK_DNS_SERVERS=$server
export ANYSOCK_HOSTS=/dev/null

# listeners on ::1 and 127.0.0.1, one port
listen() { # NAME HOST PORT
    mkfifo "$tmp/$1.fifo"
    "$A" listen --echo "$2" "$3" > "$tmp/$1.fifo" 2>/dev/null &
    pids+=($!)
    exec {fd}< "$tmp/$1.fifo"
    read -r word LHOST LPORT <&"$fd"
}
listen v6 ::1 0 || { echo "FAIL: listen ::1" >&2; exit 1; }
P=$LPORT
listen v4 127.0.0.1 "$P" || { echo "FAIL: listen 127.0.0.1 $P" >&2; exit 1; }

# conn NAME ARGS...: runs connect (stdin closed at once), sets RC, TOOK,
# and leaves stderr in $tmp/err
conn() {
    local t0
    t0=$(now)
    "$A" connect "$@" < /dev/null > /dev/null 2> "$tmp/err"
    RC=$?
    TOOK=$(since "$t0")
}
vlines_ok() { # every line of stderr is a -v event or the outcome line
    grep -Ev '^\+[0-9]+\.[0-9]{3} (answer (inet|inet6|unix) [0-9]+( .*)?|(start|won) (inet|inet6|unix) [^ ]+ [0-9]+|fail (inet|inet6|unix) [^ ]+ [0-9]+ (resolve|socket|timeout|connect|deadline|cancel) .+|transport .+)$' "$tmp/err" |
        grep -Ev "^connected |$1" && return 1
    return 0
}

# 1. preferred answers at once, the other 3 s later: well under 1 s, and
#    -v shows the race; the connected line is unchanged
conn -v h-0-3000.x.test "$P"
if [ $RC -eq 0 ] && lt "$TOOK" "$(up 1.0)" &&
   grep -q "^connected 127.0.0.1 $P\$" "$tmp/err" &&
   grep -Eq '^\+[0-9.]+ answer inet 1$' "$tmp/err" &&
   grep -Eq "^\+[0-9.]+ start inet 127.0.0.1 $P\$" "$tmp/err" &&
   grep -Eq "^\+[0-9.]+ won inet 127.0.0.1 $P\$" "$tmp/err" &&
   vlines_ok '^$'; then
    ok "connect -v, AAAA 3 s late: $TOOK s"
else
    fail "connect -v h-0-3000: rc=$RC took=$TOOK err=$(cat "$tmp/err")"
fi

# 2. without -v: no event lines, same connected line
conn h-0-x.x.test "$P"
if [ $RC -eq 0 ] && [ "$(cat "$tmp/err")" = "connected 127.0.0.1 $P" ] &&
   lt "$TOOK" "$(up 1.0)"; then
    ok "connect without -v prints only the connected line ($TOOK s)"
else
    fail "connect h-0-x: rc=$RC took=$TOOK err=$(cat "$tmp/err")"
fi

# 3. --resolution-delay: only AAAA answers, used after the delay
conn --resolution-delay 0.5 h-x-0.x.test "$P"
if [ $RC -eq 0 ] && grep -q "^connected ::1 $P\$" "$tmp/err" &&
   lt 0.49 "$TOOK" && lt "$TOOK" "$(up 1.5)"; then
    ok "--resolution-delay 0.5: ::1 after $TOOK s"
else
    fail "--resolution-delay: rc=$RC took=$TOOK err=$(cat "$tmp/err")"
fi

# 4. --deadline while DNS is mute: "Connection timed out" at the deadline
conn --deadline 0.5 -v h-x-x.x.test "$P"
if [ $RC -eq 1 ] && [ "$(tail -n 1 "$tmp/err")" = "Connection timed out" ] &&
   lt 0.45 "$TOOK" && lt "$TOOK" "$(up 1.2)"; then
    ok "--deadline 0.5 with a mute DNS server: $TOOK s"
else
    fail "--deadline: rc=$RC took=$TOOK err=$(cat "$tmp/err")"
fi

# 5. DNS errors name DNS (issue 15)
conn h-f-f.x.test "$P"
[ $RC -eq 1 ] && [ "$(cat "$tmp/err")" = "DNS server failure" ] &&
    ok "SERVFAIL reads as a DNS error" ||
    fail "servfail: rc=$RC err=$(cat "$tmp/err")"
conn --deadline 5 nosuchname.test "$P"
[ $RC -eq 1 ] && [ "$(cat "$tmp/err")" = "No such device or address" ] &&
    ok "NXDOMAIN: No such device or address" ||
    fail "nxdomain: rc=$RC err=$(cat "$tmp/err")"
ANYSOCK_DNS_SERVERS=127.0.0.1:1 conn h-0-0.x.test "$P"
[ $RC -eq 1 ] && [ "$(cat "$tmp/err")" = "connection to DNS server failed" ] &&
    ok "closed DNS port reads as a DNS error" ||
    fail "dns port closed: rc=$RC err=$(cat "$tmp/err")"

# 6. bad values are usage errors
for bad in "--deadline -1" "--deadline x" "--resolution-delay nan" \
           "--attempt-delay" "--attempt-delay -0.5"; do
    # shellcheck disable=SC2086
    "$A" connect $bad h-0-0.x.test "$P" < /dev/null > /dev/null 2>&1
    rc=$?
    [ $rc -eq 2 ] && ok "usage error: $bad" || fail "$bad: rc=$rc"
done

# 7. black-holed 127.0.0.2 (namespace only): the AAAA answer arriving at
#    0.3 s is tried at once with --attempt-delay 0.1, at the next step
#    with --attempt-delay 1; --deadline ends three hanging attempts
if [ -n "${ANYSOCK_NETNS_BLACKHOLE:-}" ]; then
    conn -v --attempt-delay 0.1 h-0-300.bh.test "$P"
    if [ $RC -eq 0 ] && grep -q "^connected ::1 $P\$" "$tmp/err" &&
       lt 0.28 "$TOOK" && lt "$TOOK" "$(up 0.8)"; then
        ok "late AAAA tried at once beside a black-holed attempt: $TOOK s"
    else
        fail "late AAAA: rc=$RC took=$TOOK err=$(cat "$tmp/err")"
    fi
    conn --attempt-delay 1 h-0-300.bh.test "$P"
    if [ $RC -eq 0 ] && lt 0.95 "$TOOK" && lt "$TOOK" "$(up 1.6)"; then
        ok "--attempt-delay 1: the late AAAA waits for the step ($TOOK s)"
    else
        fail "--attempt-delay 1: rc=$RC took=$TOOK err=$(cat "$tmp/err")"
    fi
    conn -v --deadline 1 h-0-n.bh3.test "$P"
    if [ $RC -eq 1 ] && [ "$(tail -n 1 "$tmp/err")" = "Connection timed out" ] &&
       [ "$(grep -c "fail inet 127.0.0.2 $P deadline" "$tmp/err")" = 3 ] &&
       lt 0.9 "$TOOK" && lt "$TOOK" "$(up 1.4)"; then
        ok "--deadline 1 ends three black-holed attempts: $TOOK s"
    else
        fail "--deadline bh3: rc=$RC took=$TOOK err=$(cat "$tmp/err")"
    fi
else
    echo "(black-holed cases run in cli_he_netns)"
fi

[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all passed"
