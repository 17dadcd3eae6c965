#!/bin/sh
# ctest fixture: start|stop an NSD (authoritative, with its DEFAULT
# response-rate limiting: 200 answers a second per bucket, slip 2) serving
# the zone rrl.test on 127.0.0.1 and a free port: n0 .. n1999.rrl.test each
# with one A (127.0.x.y) and one AAAA (::ffff:127.0.x.y), ok.rrl.test, and
# a wildcard *.w.rrl.test (A 127.0.0.9, AAAA ::ffff:127.0.0.9). NSD's rate
# limit counts positive answers per name, and every name under a wildcard
# as the wildcard: 2,000 names under w.rrl.test share 200 answers a second.
# The port goes to DIR/nsd.port. Only loopback addresses, in records and
# sockets. Without nsd the start fails with a message (scripts/run.sh
# installs it).
set -eu
cmd=$1
dir=$2
mkdir -p "$dir"
pidf=$dir/nsd.pid
portf=$dir/nsd.port

stop() {
    if [ -s "$pidf" ]; then
        pid=$(cat "$pidf")
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1; i=$((i + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf" "$portf"
}

case $cmd in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

stop
bin=${NSD:-/usr/sbin/nsd}
[ -x "$bin" ] || { echo "nsd not found at $bin (Debian package nsd)" >&2; exit 1; }

z=rrl.test
{
    printf '$ORIGIN %s.\n$TTL 60\n' $z
    printf '@ IN SOA ns.%s. host.%s. 1 3600 600 86400 60\n' $z $z
    printf '@ IN NS ns.%s.\nns IN A 127.0.0.1\nok IN A 127.0.0.9\n' $z
    printf '*.w IN A 127.0.0.9\n*.w IN AAAA ::ffff:127.0.0.9\n' 
    i=0
    while [ $i -lt 2000 ]; do
        a=$((i / 250)); b=$((i % 250 + 1))
        printf 'n%d IN A 127.0.%d.%d\nn%d IN AAAA ::ffff:127.0.%d.%d\n' \
            $i $a $b $i $a $b
        i=$((i + 1))
    done
} >"$dir/$z.zone"

for try in 1 2 3 4 5 6 7 8 9 10; do
    port=$(python3 -c 'import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000)))
    cat >"$dir/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1
    port: $port
    server-count: 1
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$dir"
    database: ""
    zonelistfile: "$dir/zone.list"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    pidfile: "$pidf"
    logfile: "$dir/nsd.log"
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: $z
    zonefile: "$dir/$z.zone"
EOF
    rm -f "$pidf"
    if "$bin" -c "$dir/nsd.conf" 2>"$dir/nsd.err"; then
        # up once it answers (it daemonizes before loading the zone)
        i=0
        while [ $i -lt 100 ]; do
            if ! command -v python3 >/dev/null 2>&1; then
                sleep 3   # no way to ask it: give it the time it needs
                echo "$port" >"$portf"
                exit 0
            fi
            if [ -s "$pidf" ] && python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
q = bytes.fromhex("abcd01000001000000000000") + b"\x02ok\x03rrl\x04test\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
r = s.recv(512)
sys.exit(0 if r[:2] == b"\xab\xcd" and (r[3] & 15) == 0 else 1)
PY
            then
                echo "$port" >"$portf"
                exit 0
            fi
            sleep 0.1; i=$((i + 1))
        done
        stop
    fi
    if ! grep -qi "in use" "$dir/nsd.err" "$dir/nsd.log" 2>/dev/null; then
        cat "$dir/nsd.err" "$dir/nsd.log" >&2 2>/dev/null || true
        exit 1
    fi
done
echo "no free port for nsd" >&2
exit 1
