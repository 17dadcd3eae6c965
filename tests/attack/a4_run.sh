#!/bin/sh
# a4_run.sh DNSMODE DNSARG HOST PORT DEADLINE ATTEMPT_DELAY [PREPARE_TIMEOUT]:
# a private namespace, lo up, SYNs to port 9 dropped (v4 and v6), a
# dnsd.py DNSMODE DNSARG on 127.0.0.53:5301, then a4_he_deadline with the rest
cd "$(dirname "$0")"
NS=atk$$
ip netns add $NS || exit 77
trap 'ip netns del $NS' EXIT
M=$1; A=$2; shift 2
ip netns exec $NS sh -c "
ip link set lo up
nft add table inet atk
nft add chain inet atk in '{ type filter hook input priority 0; }'
nft add rule inet atk in tcp dport 9 drop
python3 dnsd.py 127.0.0.53 5301 $M $A & P=\$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do ss -uan | grep -q 127.0.0.53:5301 && break; sleep 0.3; done
ANYSOCK_DNS_SERVERS=127.0.0.53:5301 ./a4_he_deadline $*
kill \$P
"
