#!/bin/bash
# The transport options of `anysock connect` / `anysock listen` end to end
# (CLI.md, issue 13), loopback only: abstract unix sockets, socket
# activation by the real systemd-socket-activate (TCP port and unix path)
# and its error cases, connect's --keepalive/--user-timeout/--bind/
# --mptcp/-v seen on the live socket with ss, listen's --v6only,
# --reuseport and --mptcp, and a live unix path that must not be stolen.
# Usage: cli_transport.sh PATH/TO/anysock. Exit 77 when nothing could run.
set -u
A=$1
tmp=$(mktemp -d /tmp/anysock-clit-XXXXXX)
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
skipped() { echo "skipped: $*"; }

# start_listen NAME ARGS...: `anysock listen ARGS` (or any command, with
# START_CMD), sets LHOST LPORT LPID from the first "listening" line.
start_listen() {
    local name=$1; shift
    mkfifo "$tmp/$name.fifo"
    "$@" > "$tmp/$name.fifo" 2> "$tmp/$name.err" &
    LPID=$!
    pids+=("$LPID")
    exec {LFD}< "$tmp/$name.fifo"
    local word
    if ! read -r -t 10 word LHOST LPORT <&"$LFD" || [ "$word" != listening ]
    then
        LHOST= LPORT=
        return 1
    fi
}

echo_check() { # LABEL HOST PORT [connect args...]
    local label=$1 host=$2 port=$3; shift 3
    local out
    out=$(printf 'round trip %s\n' "$label" |
          timeout 10 "$A" connect "$@" "$host" "$port" 2> "$tmp/c.err")
    local rc=$?
    if [ $rc -eq 0 ] && [ "$out" = "round trip $label" ]; then
        ok "echo over $label"
    else
        fail "echo over $label: rc=$rc out='$out' err='$(cat "$tmp/c.err")'"
    fi
}

cd "$tmp" || exit 1

# ---- abstract unix sockets: nothing created or removed -----------------
name="@anysock-cli-$$ odd"
if start_listen abs "$A" listen --echo unix/ "$name" &&
   [ "$LHOST" = unix/ ]; then
    echo_check "abstract socket" unix/ "$name"
    grep -q "^connected unix/ $name\$" "$tmp/c.err" ||
        fail "connected line: $(cat "$tmp/c.err")"
    # exactly the name, no NUL padding: ss prints "@name", not "@name@@@"
    if command -v ss >/dev/null; then
        ss -xlH | grep -qF " $name " && ok "ss shows $name exactly" ||
            fail "ss does not show '$name': $(ss -xlH | grep anysock-cli)"
    fi
    "$A" listen unix/ "$name" > /dev/null 2> "$tmp/l2.err" < /dev/null
    rc=$?
    [ $rc -eq 1 ] && [ "$(cat "$tmp/l2.err")" = "Address already in use" ] &&
        ok "second server on the same abstract name fails" ||
        fail "second abstract server: rc=$rc '$(cat "$tmp/l2.err")'"
    echo_check "abstract socket, still served" unix/ "$name"
    kill -TERM "$LPID"; wait "$LPID"
    # fifos and err files are ours; nothing else appeared
    extra=$(ls -A "$tmp" | grep -v -e '\.fifo$' -e '\.err$' | grep -c '@')
    [ "$extra" -eq 0 ] && ok "no file created for an abstract socket" ||
        fail "files appeared: $(ls -A "$tmp")"
else
    fail "listen unix/ $name: $(cat "$tmp/abs.err")"
fi

# ---- a live unix path is not stolen -----------------------------------
sock="$tmp/live.sock"
if start_listen live "$A" listen --echo unix/ "$sock"; then
    "$A" listen unix/ "$sock" > /dev/null 2> "$tmp/l2.err" < /dev/null
    rc=$?
    [ $rc -eq 1 ] && [ "$(cat "$tmp/l2.err")" = "Address already in use" ] &&
        ok "live unix path refused" ||
        fail "live unix path: rc=$rc '$(cat "$tmp/l2.err")'"
    echo_check "first server keeps its path" unix/ "$sock"
    kill -TERM "$LPID"; wait "$LPID"
fi

# ---- listen options ----------------------------------------------------
if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
    if start_listen v6 "$A" listen --echo --v6only :: 0; then
        echo_check "--v6only, IPv6 client" ::1 "$LPORT"
        timeout 10 "$A" connect 127.0.0.1 "$LPORT" < /dev/null \
            > /dev/null 2> "$tmp/c.err"
        [ "$(cat "$tmp/c.err")" = "Connection refused" ] &&
            ok "--v6only refuses IPv4" ||
            fail "--v6only IPv4: '$(cat "$tmp/c.err")'"
        kill "$LPID"
    fi
else
    skipped "no ::1 on lo"
fi

if start_listen rp1 "$A" listen --echo --reuseport 127.0.0.1 0; then
    P=$LPORT
    if start_listen rp2 "$A" listen --echo --reuseport 127.0.0.1 "$P"; then
        ok "--reuseport: two servers on port $P"
        echo_check "--reuseport" 127.0.0.1 "$P"
    else
        fail "--reuseport second server: $(cat "$tmp/rp2.err")"
    fi
    "$A" listen 127.0.0.1 "$P" > /dev/null 2> "$tmp/l2.err" < /dev/null
    [ "$(cat "$tmp/l2.err")" = "Address already in use" ] &&
        ok "without --reuseport the port is taken" ||
        fail "plain listen on a reuseport port: '$(cat "$tmp/l2.err")'"
fi

mptcp=$(cat /proc/sys/net/mptcp/enabled 2>/dev/null || echo none)
if start_listen mp "$A" listen --echo -v --mptcp --fastopen 16 127.0.0.1 0
then
    want=tcp; [ "$mptcp" = 1 ] && want=mptcp
    grep -q "^transport $want\$" "$tmp/mp.err" &&
        ok "listen --mptcp -v says $want (net.mptcp.enabled=$mptcp)" ||
        fail "listen -v: '$(cat "$tmp/mp.err")' want $want"
    echo_check "--mptcp both ends" 127.0.0.1 "$LPORT" --mptcp -v
    grep -q " transport inet 127.0.0.1 $LPORT $want\$" "$tmp/c.err" &&
        ok "connect --mptcp -v says $want" ||
        fail "connect -v: '$(cat "$tmp/c.err")' want $want"
    MPORT=$LPORT
fi

# ---- connect options on the live socket (ss) ---------------------------
if [ -n "${MPORT:-}" ] && command -v ss >/dev/null; then
    (sleep 8; printf 'late\n') | "$A" connect --keepalive 7,3,4 \
        --user-timeout 3000 --bind 127.0.0.9 --interface lo 127.0.0.1 \
        "$MPORT" > "$tmp/k.out" 2> "$tmp/k.err" &
    kpid=$!
    pids+=("$kpid")
    line=
    for _ in $(seq 150); do
        line=$(ss -tnoH state established "( dport = :$MPORT )" |
               grep 127.0.0.9)
        [ -n "$line" ] && break
        sleep 0.1
    done
    case $line in
    # ss writes a socket bound to a device as ADDR%DEV
    *127.0.0.9%lo:*timer:\(keepalive*)
        ok "--bind 127.0.0.9, --interface lo and --keepalive seen by ss:" \
           "$line" ;;
    *) fail "ss did not show the bound keepalive connection: '$line'" \
            "$(cat "$tmp/k.err")" ;;
    esac
    wait "$kpid"
    [ "$(cat "$tmp/k.out")" = late ] && ok "data through the bound socket" ||
        fail "bound socket data: '$(cat "$tmp/k.out")'"
fi

"$A" connect --bind ::1 127.0.0.1 1 < /dev/null > /dev/null 2> "$tmp/c.err"
rc=$?
[ $rc -eq 1 ] &&
    [ "$(cat "$tmp/c.err")" = "Address family not supported by protocol" ] &&
    ok "--bind of the other family fails clearly" ||
    fail "--bind ::1 to IPv4: rc=$rc '$(cat "$tmp/c.err")'"
"$A" connect --bind nonsense 127.0.0.1 1 < /dev/null > /dev/null \
    2> "$tmp/c.err"
[ $? -eq 1 ] && [ "$(cat "$tmp/c.err")" = "Invalid argument" ] &&
    ok "--bind nonsense is EINVAL" || fail "--bind nonsense: $(cat "$tmp/c.err")"
"$A" connect --keepalive 1,2 127.0.0.1 1 < /dev/null > /dev/null 2>&1
[ $? -eq 2 ] && ok "--keepalive needs three values" ||
    fail "--keepalive 1,2 not a usage error"

# ---- socket activation ------------------------------------------------
if command -v systemd-socket-activate >/dev/null; then
    # a free port: ask the kernel, then hand it to systemd-socket-activate
    if start_listen probe "$A" listen 127.0.0.1 0; then
        SP=$LPORT
        kill "$LPID"; wait "$LPID" 2>/dev/null
        usock="$tmp/activated.sock"
        mkfifo "$tmp/sa.fifo"
        # it passes no environment but what -E names (the valgrind
        # wrapper needs these two)
        systemd-socket-activate -E PATH -E ANYSOCK_VG_TARGET \
            -l "127.0.0.1:$SP" -l "$usock" \
            "$A" listen --echo -v --systemd > "$tmp/sa.fifo" \
            2> "$tmp/sa.err" &
        pids+=($!)
        exec {SFD}< "$tmp/sa.fifo"
        for _ in $(seq 50); do [ -S "$usock" ] && break; sleep 0.1; done
        # the first client makes it start anysock with both sockets
        echo_check "socket activation, TCP" 127.0.0.1 "$SP"
        l1= l2=
        read -r -t 10 l1 <&"$SFD"
        read -r -t 10 l2 <&"$SFD"
        [ "$l1" = "listening 127.0.0.1 $SP" ] &&
            [ "$l2" = "listening unix/ $usock" ] &&
            ok "--systemd prints both adopted sockets" ||
            fail "--systemd lines: '$l1' '$l2' $(cat "$tmp/sa.err")"
        echo_check "socket activation, unix path" unix/ "$usock"
    fi
    # wrong values are clear errors
    LISTEN_PID=1 LISTEN_FDS=1 "$A" listen --systemd > /dev/null \
        2> "$tmp/e.err" < /dev/null
    [ $? -eq 1 ] && grep -q "LISTEN_PID=1 is not this process" "$tmp/e.err" &&
        ok "wrong LISTEN_PID: $(cat "$tmp/e.err")" ||
        fail "wrong LISTEN_PID: '$(cat "$tmp/e.err")'"
    sh -c 'LISTEN_PID=$$ LISTEN_FDS=abc exec "$0" listen --systemd' "$A" \
        > /dev/null 2> "$tmp/e.err" < /dev/null
    [ $? -eq 1 ] && grep -q "Invalid argument.*LISTEN_FDS=abc" "$tmp/e.err" &&
        ok "malformed LISTEN_FDS: $(cat "$tmp/e.err")" ||
        fail "malformed LISTEN_FDS: '$(cat "$tmp/e.err")'"
    sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" listen --systemd 3</dev/null' \
        "$A" > /dev/null 2> "$tmp/e.err" < /dev/null
    [ $? -eq 1 ] && grep -q "Socket operation on non-socket" "$tmp/e.err" &&
        ok "LISTEN_FDS=1 with fd 3 not a socket: $(cat "$tmp/e.err")" ||
        fail "fd 3 not a socket: '$(cat "$tmp/e.err")'"
    env -u LISTEN_PID -u LISTEN_FDS "$A" listen --systemd > /dev/null \
        2> "$tmp/e.err" < /dev/null
    [ $? -eq 1 ] && grep -q "not set" "$tmp/e.err" &&
        ok "not socket-activated: $(cat "$tmp/e.err")" ||
        fail "no LISTEN_*: '$(cat "$tmp/e.err")'"
else
    fail "systemd-socket-activate not installed (Debian package systemd;" \
         "scripts/run.sh installs it)"
fi

[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all cli transport checks passed"
