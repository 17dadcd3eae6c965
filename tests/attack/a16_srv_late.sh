#!/bin/sh
# SRV order vs the 256-entry table: bigdns.py (64 KiB SRV reply; target t0
# has priority 0 and its A/AAAA answers come 0.3 s late; the 63 other kept
# targets have priority 10 and answer at once with 4,000 A / 2,000 AAAA)
# inside a private namespace where every target (127.N.x.y port 9, and
# ::ffff:127.N.x.y) is black-holed. `anysock connect -v` with a 1.5 s
# deadline shows whether t0's addresses (127.0.x.y) are ever tried.
# usage: a16_srv_late.sh [DELAY_T0 (default 0.3; 0 is the control)]
cd "$(dirname "$0")"
NS=atk$$
ip netns add $NS || exit 77
trap 'ip netns del $NS' EXIT
ip netns exec $NS sh -c "
ip link set lo up
nft add table inet atk
nft add chain inet atk in '{ type filter hook input priority 0; }'
nft add rule inet atk in tcp dport 9 drop
python3 bigdns.py 127.0.0.53 5301 9 ${1:-0.3} & P=\$!
for i in \$(seq 30); do ss -tln | grep -q 127.0.0.53:5301 && break; sleep 0.3; done
ANYSOCK_DNS_SERVERS=127.0.0.53:5301 ../build/dev/examples/anysock connect -v --deadline 1.5 big.test http </dev/null > /tmp/a16_\$\$.txt 2>&1
grep -v 'start\|fail' /tmp/a16_\$\$.txt | head -8
echo ...
grep 'answer' /tmp/a16_\$\$.txt | tail -3
echo \"attempts started: \$(grep -c start /tmp/a16_\$\$.txt); to t0's addresses (127.0.x.y): \$(grep -c 'start inet6\{0,1\} [:f]*127\.0\.' /tmp/a16_\$\$.txt)\"
tail -1 /tmp/a16_\$\$.txt
rm -f /tmp/a16_\$\$.txt
kill \$P
"
