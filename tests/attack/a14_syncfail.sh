#!/bin/sh
# 100,000 lookups whose every send fails synchronously (nft drops UDP/TCP
# to the DNS port in the output hook: sendto() gets EPERM), in a private
# namespace: all must end with an error, no crash, short loop iterations.
# usage: a14_syncfail.sh [N]
cd "$(dirname "$0")"
NS=atk$$
ip netns add $NS || exit 77
trap 'ip netns del $NS' EXIT
ip netns exec $NS sh -c "
ip link set lo up
nft add table inet atk
nft add chain inet atk out '{ type filter hook output priority 0; }'
nft add rule inet atk out udp dport 5301 drop
nft add rule inet atk out tcp dport 5301 drop
ANYSOCK_DNS_SERVERS=127.0.0.53:5301 ./a2_dns_cancel.dev ${1:-100000} run 0 0.01
"
