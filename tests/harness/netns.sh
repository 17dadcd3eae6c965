#!/bin/sh
# Run a command in a fresh network namespace where only loopback exists
# and TCP SYNs to 127.0.0.2 are dropped (nftables): a blackholed address
# that never answers, as a dead host on the internet would.
# Usage: netns.sh COMMAND [ARGS...]. Exit 77 (ctest SKIP_RETURN_CODE)
# with a reason when namespaces cannot be made here (not root, no ip/nft).
set -u

skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}

[ "$(id -u)" = 0 ] || skip "network namespaces need root (CI runs as root)"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not installed"
command -v nft >/dev/null 2>&1 || skip "nft (nftables) not installed"

ns="anysock-test-$$"
ip netns add "$ns" 2>/dev/null || skip "ip netns add failed (no CAP_SYS_ADMIN?)"
trap 'ip netns del "$ns" 2>/dev/null' EXIT INT TERM

ip -n "$ns" link set lo up || exit 1
ip netns exec "$ns" nft -f - <<'NFT' || skip "nftables rules cannot be loaded here"
table inet anysock_test {
    chain out {
        type filter hook output priority 0;
        ip daddr 127.0.0.2 tcp flags & (syn | ack) == syn drop
    }
}
NFT

ANYSOCK_NETNS_BLACKHOLE=127.0.0.2
export ANYSOCK_NETNS_BLACKHOLE
ip netns exec "$ns" "$@"
