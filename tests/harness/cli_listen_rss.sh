#!/bin/bash
# `anysock listen --echo` memory per connection (issue 15 item 4): RSS of
# the server before, with N idle connections open (each echoed one byte
# first, so every connection has been read and written), and after they
# have all closed. The bound: after within 2 MiB of before. Then a
# second server echoes 16 MiB to a slow reader (the kept-unsent-bytes path)
# and the bytes must come back identical.
# Usage: cli_listen_rss.sh PATH/TO/anysock [N]   (N defaults to 5000)
set -u
A=$1
N=${2:-5000}
LIMIT_KB=2048
tmp=$(mktemp -d /tmp/anysock-rss-XXXXXX)
lpid=
cleanup() {
    [ -n "$lpid" ] && kill "$lpid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# both ends of N connections live in processes started here
need=$((N + 64))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    echo "SKIP: hard RLIMIT_NOFILE $(ulimit -Hn) < $need" >&2
    exit 77
fi
ulimit -n "$need"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$lpid/status"; }
nfds() { ls "/proc/$lpid/fd" | wc -l; }

mkfifo "$tmp/out"
"$A" listen --echo 127.0.0.1 0 > "$tmp/out" 2> "$tmp/err" &
lpid=$!
exec {lfd}< "$tmp/out"
read -r word host port <&"$lfd"
if [ "$word" != listening ]; then
    echo "FAIL: no listening line: $(cat "$tmp/err")" >&2
    exit 1
fi
fds0=$(nfds)
before=$(rss_kb)
# ASan's allocator (quarantine, shadow memory) is not glibc's: the figures
# are printed, the bound is not judged
judge=1
if grep -q libasan "/proc/$lpid/maps"; then
    judge=0
fi

# The client opens N connections, echoes one byte over each, signals
# "open" (then the RSS with all of them is taken), waits, closes all.
mkfifo "$tmp/go" "$tmp/open"
perl -MIO::Socket::INET -e '
    my ($host, $port, $n, $open, $go) = @ARGV;
    my @s;
    for my $i (1 .. $n) {
        my $c = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                      Proto => "tcp")
            or die "connect $i: $!\n";
        push @s, $c;
    }
    for my $c (@s) {
        syswrite($c, "x") == 1 or die "write: $!\n";
    }
    for my $c (@s) {
        my $b;
        sysread($c, $b, 1) == 1 && $b eq "x" or die "echo: $!\n";
    }
    open(my $o, ">", $open) or die; print $o "open\n"; close $o;
    open(my $g, "<", $go) or die; <$g>; close $g;
    close $_ for @s;
' "$host" "$port" "$N" "$tmp/open" "$tmp/go" &
cpid=$!
if ! read -r _ < "$tmp/open"; then
    echo "FAIL: client did not open $N connections" >&2
    exit 1
fi
open_fds=$(nfds)
peak=$(rss_kb)
echo go > "$tmp/go"
wait "$cpid" || { echo "FAIL: client failed" >&2; exit 1; }
# the server sees each EOF and closes: wait for its fd count to come back
for _ in $(seq 1 200); do
    [ "$(nfds)" -le "$fds0" ] && break
    sleep 0.05
done
after=$(rss_kb)
fds1=$(nfds)
echo "connections=$N fds_before=$fds0 fds_open=$open_fds fds_after=$fds1" \
     "rss_before_kb=$before rss_open_kb=$peak rss_after_kb=$after" \
     "growth_kb=$((after - before)) limit_kb=$LIMIT_KB"
rc=0
if [ "$open_fds" -lt $((fds0 + N)) ]; then
    echo "FAIL: server had $open_fds fds, want >= $((fds0 + N))" >&2
    rc=1
fi
if [ "$fds1" -ne "$fds0" ]; then
    echo "FAIL: server fds $fds0 before, $fds1 after" >&2
    rc=1
fi
if [ "$judge" = 0 ]; then
    echo "RSS bound not judged: built with AddressSanitizer"
elif [ $((after - before)) -gt "$LIMIT_KB" ]; then
    echo "FAIL: RSS grew by $((after - before)) kB (limit $LIMIT_KB)" >&2
    rc=1
fi

# 16 MiB through the echo while the reader drains slowly: the server's
# sends hit EAGAIN, it keeps only the unsent bytes and stops reading.
kill "$lpid"; wait "$lpid" 2>/dev/null
exec {lfd}<&-
rm -f "$tmp/out"; mkfifo "$tmp/out"
"$A" listen --echo 127.0.0.1 0 > "$tmp/out" 2> "$tmp/err" &
lpid=$!
exec {lfd}< "$tmp/out"
read -r word host port <&"$lfd"
head -c $((16 << 20)) /dev/urandom > "$tmp/big"
"$A" connect "$host" "$port" < "$tmp/big" 2> "$tmp/cerr" |
    perl -e 'my $i; while (sysread(STDIN, my $b, 4096)) {
                 print $b; select(undef, undef, undef, 0.001) if ++$i % 32 == 0 }' \
    > "$tmp/back"
if cmp -s "$tmp/big" "$tmp/back"; then
    echo "ok: 16 MiB echoed byte-identical to a slow reader"
else
    echo "FAIL: echo of 16 MiB differs ($(wc -c < "$tmp/back") bytes back):" \
         "$(cat "$tmp/cerr")" >&2
    rc=1
fi
exit $rc
