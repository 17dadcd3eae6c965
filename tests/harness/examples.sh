#!/bin/bash
# Run one example program against loopback servers this script starts.
# Usage: examples.sh NAME EXAMPLES_DIR ANYSOCK_CLI
# With ANYSOCK_EXAMPLES_VALGRIND=1 every example program runs under valgrind
# memcheck (any error or a definite/indirect leak fails it).
set -u
name=$1 dir=$2 cli=$3
tmp=$(mktemp -d /tmp/anysock-ex-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export ANYSOCK_DNS_SERVERS=127.0.0.1:9   # never the network
die() { echo "FAIL: $*" >&2; exit 1; }

# ex PROGRAM ARGS...: run an example, under valgrind when asked; exec, so
# that a background one's pid is the program's own (SIGTERM reaches it)
ex() {
    if [ "${ANYSOCK_EXAMPLES_VALGRIND:-0}" = 1 ]; then
        exec valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect "$@"
    fi
    exec "$@"
}

# start NAME CMD...: run CMD with stdout on a fifo; FIRST is its first line
start() {
    local n=$1; shift
    mkfifo "$tmp/$n.fifo"
    "$@" > "$tmp/$n.fifo" &
    SPID=$!
    pids+=("$SPID")
    exec {SFD}< "$tmp/$n.fifo"
    read -r FIRST <&"$SFD" || die "$n printed nothing"
}

case $name in
demo)
    out=$(ex "$dir/demo") || die "demo failed: $out"
    echo "$out"
    grep -q 'answered "HELLO FROM LIBANYSOCK"' <<< "$out" || die "no answer"
    grep -q 'resolve   localhost -> 127.0.0.1' <<< "$out" || die "resolve"
    ;;
internet_full)
    start srv ex "$dir/internet_full" 0
    set -- $FIRST
    [ "$1" = listening ] || die "first line: $FIRST"
    port=$3
    out=$("$cli" connect 127.0.0.1 "$port" < /dev/null 2>/dev/null)
    [[ "$out" == "The internet is full, 127.0.0.1:"*". Go away!"$'\r' ]] ||
        die "got '$out'"
    echo "ok: $out"
    kill -TERM "$SPID"; wait "$SPID" || die "exit status after SIGTERM"
    ;;
http_get)
    # a one-shot HTTP/1.0 server in Perl (always there: AnyEvent needs it)
    start srv perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
            LocalPort => 0, Listen => 5, ReuseAddr => 1) or die;
        $| = 1; print $s->sockport, "\n";
        my $c = $s->accept; my $req = <$c>;
        while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
        $req =~ s/\r?\n$//;
        print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
                 "you asked for: $req\n";
        close $c;'
    port=$FIRST
    out=$(ex "$dir/http_get" 127.0.0.1 "$port" /index.txt) || die "http_get"
    echo "$out"
    grep -q '^HTTP/1.0 200 OK' <<< "$out" || die "status line"
    grep -q '^you asked for: GET /index.txt HTTP/1.0$' <<< "$out" ||
        die "request line"
    ;;
unix)
    sock=$tmp/ex.sock
    start srv ex "$dir/unix_server" "$sock"
    [ "$FIRST" = "listening unix/ $sock" ] || die "first line: $FIRST"
    out=$(ex "$dir/unix_client" "$sock" "hello over unix") || die "client"
    [ "$out" = "you said: hello over unix" ] || die "got '$out'"
    echo "ok: $out"
    kill -TERM "$SPID"; wait "$SPID" || die "exit status after SIGTERM"
    [ ! -e "$sock" ] || die "socket file left behind"
    ;;
reuseport)
    start srv ex "$dir/reuseport_threads" 4 127.0.0.1 0
    set -- $FIRST
    [ "$1" = listening ] && [ "$3" -gt 0 ] || die "first line: $FIRST"
    port=$3
    : > "$tmp/answers"
    for _ in $(seq 64); do
        "$cli" connect 127.0.0.1 "$port" < /dev/null >> "$tmp/answers" \
            2>/dev/null || die "connect"
    done
    distinct=$(sort -u "$tmp/answers" | grep -c '^thread [0-3]$')
    [ "$(wc -l < "$tmp/answers")" -eq 64 ] || die "answers: $(cat "$tmp/answers")"
    echo "ok: 64 connections served by $distinct of 4 threads"
    [ "$distinct" -ge 2 ] || die "SO_REUSEPORT spread nothing"
    kill -TERM "$SPID"
    cat <&"$SFD" > "$tmp/counts"
    wait "$SPID" || die "exit status after SIGTERM"
    total=$(awk '{s += $4} END {print s}' "$tmp/counts")
    cat "$tmp/counts"
    [ "$total" = 64 ] || die "served counts: $(cat "$tmp/counts")"
    ;;
*)
    die "unknown example $name"
    ;;
esac
