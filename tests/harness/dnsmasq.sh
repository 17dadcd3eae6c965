#!/bin/sh
# ctest fixture: start|stop a dnsmasq serving the test zone anysock.test on
# 127.0.0.1 and a free port. The port goes to DIR/dnsmasq.port, the pid to
# DIR/dnsmasq.pid. Only loopback addresses appear, in records and sockets.
set -eu
cmd=$1
dir=$2
mkdir -p "$dir"
pidf=$dir/dnsmasq.pid
portf=$dir/dnsmasq.port

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
bin=${DNSMASQ:-/usr/sbin/dnsmasq}
[ -x "$bin" ] || { echo "dnsmasq not found at $bin" >&2; exit 1; }
user=
[ "$(id -u)" = 0 ] && user=--user=root

z=anysock.test
for try in 1 2 3 4 5 6 7 8 9 10; do
    # a port the kernel just handed out is very likely free
    port=$(python3 -c 'import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000)))
    # shellcheck disable=SC2086
    if "$bin" $user --conf-file=/dev/null --no-resolv --no-hosts \
        --no-poll --bind-interfaces --listen-address=127.0.0.1 \
        --port="$port" --pid-file="$pidf" --cache-size=0 \
        --local=/$z/ --domain-needed \
        --host-record=a.$z,127.0.0.11 \
        --host-record=aaaa.$z,::1 \
        --host-record=both.$z,127.0.0.12,::1 \
        --host-record=t1.$z,127.0.0.21 \
        --host-record=t2.$z,127.0.0.22 \
        --host-record=t3.$z,127.0.0.23 \
        --host-record=t4.$z,127.0.0.24,::1 \
        --host-record=w1.$z,127.0.0.31 \
        --host-record=w2.$z,127.0.0.32 \
        --host-record=srvhost.$z,127.0.0.40 \
        --host-record=dot.$z,127.0.0.41 \
        --host-record=xn--bcher-kva.$z,127.0.0.42 \
        --srv-host=_http._tcp.srvhost.$z,t1.$z,8001,10,0 \
        --srv-host=_http._tcp.srvhost.$z,t2.$z,8002,20,90 \
        --srv-host=_http._tcp.srvhost.$z,t3.$z,8003,20,10 \
        --srv-host=_http._tcp.srvhost.$z,t4.$z,8004,5,0 \
        --srv-host=_http._tcp.dot.$z \
        --srv-host=_http._tcp.w.$z,w1.$z,9001,1,90 \
        --srv-host=_http._tcp.w.$z,w2.$z,9002,1,10 \
        --srv-host=_sip._udp.srvhost.$z,t1.$z,5061,1,0 \
        --srv-host=_foo._tcp.srvhost.$z,t2.$z,7001,1,0 \
        --address=/many.$z/127.0.0.50 \
        --txt-record=txt.$z,anysock \
        2>"$dir/dnsmasq.err"; then
        echo "$port" >"$portf"
        exit 0
    fi
    if ! grep -qi "in use" "$dir/dnsmasq.err"; then
        cat "$dir/dnsmasq.err" >&2
        exit 1
    fi
done
echo "no free port for dnsmasq" >&2
exit 1
