#!/usr/bin/perl
# examples/tcp_proxy end to end, loopback only.
#   tcp_proxy.pl EXAMPLES_DIR ANYSOCK_CLI
# With ANYSOCK_EXAMPLES_VALGRIND=1 every proxy runs under valgrind memcheck
# (smaller transfers; RSS bounds skipped, since valgrind's allocator is not
# glibc's). Checks:
#  - 8 clients at once, 8 MiB each, through the proxy to an echo server
#    and back: byte-identical, and each client's half-close comes back as
#    EOF once everything is echoed
#  - a slow reader: 16 MiB while the client drains slowly; the proxy's
#    RSS may not grow by more than 4 MiB (it keeps only unsent bytes)
#  - the upstream half-closes first: the client reads it all and EOF, then
#    still sends 2 MiB, which the upstream receives in full
#  - 50 clients that leave while the target is still being resolved
#    (a mute DNS server): the pending connects are cancelled at once
#  - a client that resets in the middle of a transfer
#  - the deadline: a target that never answers ends the client's
#    connection after --deadline
#  - every proxy's fd count is back to where it started; on SIGTERM each
#    exits 0 and reports guards_finished 0
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER SO_RCVBUF SHUT_WR);
use Digest::MD5 qw(md5_hex);
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my ($dir, $cli) = @ARGV;
die "usage: tcp_proxy.pl EXAMPLES_DIR ANYSOCK_CLI\n" unless defined $cli;
my $vg = ($ENV{ANYSOCK_EXAMPLES_VALGRIND} // '') eq '1';
my $MiB = 1 << 20;
my $tmp = tempdir('anysock-proxy-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my (@pids, $failures);
$SIG{PIPE} = 'IGNORE';

sub ok { print "ok: $_[0]\n" }
sub fail { print STDERR "FAIL: $_[0]\n"; $failures++ }
END {
    kill 'KILL', @pids if @pids;
}

# spawn(NAME, ENV, CMD...): stdout on a pipe, stderr to $tmp/NAME.err;
# returns (pid, port) from the "listening HOST PORT" line.
sub spawn {
    my ($name, $env, @cmd) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        open STDOUT, '>&', $w or die;
        open STDERR, '>', "$tmp/$name.err" or die;
        $ENV{$_} = $env->{$_} for keys %$env;
        @cmd = ('valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
                '--errors-for-leak-kinds=definite,indirect', @cmd) if $vg;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    close $w;
    push @pids, $pid;
    my $line = <$r>;
    die "$name printed no listening line: " . slurp("$tmp/$name.err")
        unless defined $line && $line =~ /^listening \S+ (\d+)$/;
    return ($pid, $1);
}

sub slurp {
    open my $f, '<', $_[0] or return '';
    local $/;
    return <$f>;
}

# The process's fds, less UDP sockets talking to the mute DNS server:
# c-ares 1.18 keeps its socket until a query's retry schedule ends, even
# for a cancelled lookup (the DNS engine's business, not the proxy's).
my $mute_port_hex = '';
sub nfds {
    my $pid = shift;
    my %dns;
    for my $f ("/proc/$pid/net/udp", "/proc/$pid/net/udp6") {
        for (split /\n/, slurp($f)) {
            my @c = split ' ';
            next unless @c > 9 && $c[2] =~ /:([0-9A-F]{4})$/;
            $dns{$c[9]} = 1 if $mute_port_hex ne '' && $1 eq $mute_port_hex;
        }
    }
    opendir my $d, "/proc/$pid/fd" or return -1;
    my $n = 0;
    for (grep { !/^\.\.?$/ } readdir $d) {
        my $l = readlink("/proc/$pid/fd/$_") // '';
        $n++ unless $l =~ /^socket:\[(\d+)\]$/ && $dns{$1};
    }
    return $n;
}

sub rss_kb {
    my $s = slurp("/proc/$_[0]/status");
    return $s =~ /^VmRSS:\s+(\d+)/m ? $1 : -1;
}

# Wait up to $secs for the proxy's fd count to come back to $want.
sub fds_back {
    my ($pid, $want, $secs) = @_;
    my $end = time + $secs;
    while (time < $end) {
        return 1 if nfds($pid) == $want;
        sleep 0.05;
    }
    return nfds($pid) == $want;
}

sub random_bytes {
    open my $f, '<:raw', '/dev/urandom' or die;
    my $got = read($f, my $b, $_[0]);
    die "urandom" unless $got == $_[0];
    return $b;
}

sub connect_to {
    my $port = shift;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp')
        // die "connect 127.0.0.1:$port: $!\n";
}

sub write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, 65536, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# Send $data and shut down the write side (from a child process) while
# reading everything back until EOF; $slow sleeps between reads. Returns
# (md5 of what came back, its length).
sub echo_through {
    my ($port, $data, $slow) = @_;
    my $s = connect_to($port);
    # a small receive window: the proxy's writes to this client stall often
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 32768) if $slow;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $ok = write_all($s, $data);
        shutdown($s, SHUT_WR);
        POSIX::_exit($ok ? 0 : 1);
    }
    my $md5 = Digest::MD5->new;
    my ($len, $reads) = (0, 0);
    while (1) {
        my $n = sysread($s, my $b, 65536);
        last unless $n;
        $md5->add($b);
        $len += $n;
        sleep 0.005 if $slow && ++$reads % 2 == 0;
    }
    waitpid($pid, 0);
    close $s;
    return ($md5->hexdigest, $len, $? == 0);
}

# ---- processes ----------------------------------------------------------

# A mute DNS server: a UDP socket nobody reads.
my $mute = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Proto => 'udp') // die "udp: $!";
my $mute_port = $mute->sockport;
$mute_port_hex = sprintf('%04X', $mute_port);
open my $hf, '>', "$tmp/hosts" or die;
close $hf;
my %env = (ANYSOCK_DNS_SERVERS => "127.0.0.1:$mute_port",
           ANYSOCK_HOSTS => "$tmp/hosts");

my ($echo_pid, $echo_port) =
    spawn('echo', \%env, $cli, 'listen', '--echo', '127.0.0.1', '0');
my ($pa, $porta) = spawn('proxy_echo', \%env, "$dir/tcp_proxy",
                         '127.0.0.1', '0', '127.0.0.1', $echo_port);
my ($pb, $portb) = spawn('proxy_mute', \%env, "$dir/tcp_proxy",
                         '--deadline', '60', '127.0.0.1', '0',
                         'mute.example', '80');
my ($pc, $portc) = spawn('proxy_deadline', \%env, "$dir/tcp_proxy",
                         '--deadline', '1', '127.0.0.1', '0',
                         'mute.example', '80');
my %fds0 = map { $_ => nfds($_) } ($pa, $pb, $pc);

# ---- large transfers, 8 clients at once ---------------------------------

{
    my $size = ($vg ? 1 : 8) * $MiB;
    my @kids;
    for my $i (1 .. 8) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $data = random_bytes($size);
            my ($md5, $len, $wok) = echo_through($porta, $data, 0);
            POSIX::_exit($wok && $len == $size && $md5 eq md5_hex($data)
                         ? 0 : 1);
        }
        push @kids, $pid;
    }
    my $bad = 0;
    for (@kids) { waitpid($_, 0); $bad++ if $? != 0 }
    $bad ? fail("$bad of 8 parallel transfers differ")
         : ok("8 clients x " . $size / $MiB . " MiB both ways, "
              . "byte-identical, half-close returned as EOF");
}

# ---- a slow reader: back-pressure, bounded memory -----------------------

{
    my $size = ($vg ? 2 : 16) * $MiB;
    my $data = random_bytes($size);
    my $rss0 = rss_kb($pa);
    # ASan's allocator is not glibc's either: print, do not judge
    my $judge = !$vg && slurp("/proc/$pa/maps") !~ /libasan/;
    my $peak = $rss0;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($md5, $len, $wok) = echo_through($porta, $data, 1);
        POSIX::_exit($wok && $len == $size && $md5 eq md5_hex($data) ? 0 : 1);
    }
    while (waitpid($pid, WNOHANG) == 0) {
        my $r = rss_kb($pa);
        $peak = $r if $r > $peak;
        sleep 0.02;
    }
    if ($? != 0) {
        fail("slow reader: " . $size / $MiB . " MiB differ");
    } elsif ($judge && $peak - $rss0 > 4096) {
        fail("slow reader: proxy RSS $rss0 kB -> $peak kB (bound +4096)");
    } else {
        ok("slow reader: " . $size / $MiB . " MiB identical, proxy RSS "
           . "$rss0 kB, at most $peak kB during the transfer"
           . ($judge ? "" : " (bound not judged: valgrind or ASan)"));
    }
}

# ---- the upstream half-closes first --------------------------------------

{
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                    Listen => 4, Proto => 'tcp', ReuseAddr => 1)
        // die "listen: $!";
    my $banner = 1 * $MiB;
    my $reply = 2 * $MiB;
    my ($pd, $portd) = spawn('proxy_banner', \%env, "$dir/tcp_proxy",
                             '127.0.0.1', '0', '127.0.0.1', $srv->sockport);
    my $fds_d = nfds($pd);
    my $up = fork // die "fork: $!";
    if ($up == 0) {
        # upstream: banner, shutdown(WR), then count what arrives until EOF
        my $c = $srv->accept // POSIX::_exit(2);
        write_all($c, 'b' x $banner) or POSIX::_exit(3);
        shutdown($c, SHUT_WR);
        my $got = 0;
        while (my $n = sysread($c, my $b, 65536)) { $got += $n }
        POSIX::_exit($got == $reply ? 0 : 1);
    }
    close $srv;
    my $s = connect_to($portd);
    my $got = 0;
    while (my $n = sysread($s, my $b, 65536)) { $got += $n }
    my $sent = write_all($s, 'r' x $reply);
    shutdown($s, SHUT_WR);
    my $tail = sysread($s, my $b, 1);   # 0: the proxy closed after both
    waitpid($up, 0);
    my $upst = $? >> 8;
    if ($got == $banner && $sent && defined $tail && $tail == 0
        && $upst == 0) {
        ok("upstream half-close: client got 1 MiB and EOF, then sent "
           . "2 MiB that arrived in full");
    } else {
        fail("upstream half-close: got $got of $banner, sent=$sent, "
             . "upstream status $upst");
    }
    close $s;
    fds_back($pd, $fds_d, 5) or fail("banner proxy fds: " . nfds($pd)
                                     . ", want $fds_d");
    kill 'TERM', $pd;
    waitpid($pd, 0);
    $? == 0 or fail("banner proxy exit status $?");
}

# ---- clients leaving before the target answers ---------------------------

{
    # all 50 accepted and waiting for the name first, then they leave
    my @s = map { connect_to($portb) } 1 .. 50;
    fds_back($pb, $fds0{$pb} + 50, $vg ? 20 : 5)
        or fail("early leavers: proxy has " . nfds($pb) . " fds, want "
                . ($fds0{$pb} + 50) . " with 50 pending");
    my $t0 = time;
    close $_ for @s;
    my $back = fds_back($pb, $fds0{$pb}, $vg ? 20 : 5);
    my $dt = time - $t0;
    # no failure line: the sessions ended by cancel, not by the deadline
    if ($back && slurp("$tmp/proxy_mute.err") !~ /mute\.example 80: /) {
        ok(sprintf("50 clients left during resolution: connects cancelled, "
                   . "fds back in %.2f s (deadline 60 s)", $dt));
    } else {
        fail("early leavers: proxy fds " . nfds($pb) . ", want $fds0{$pb}");
    }
}

# ---- a client that resets in the middle of a transfer -------------------

{
    my $s = connect_to($porta);
    # relaying: the proxy holds the client and the upstream connection
    fds_back($pa, $fds0{$pa} + 2, $vg ? 20 : 5)
        or fail("reset mid-transfer: proxy has " . nfds($pa) . " fds, want "
                . ($fds0{$pa} + 2));
    write_all($s, random_bytes(4 * $MiB));   # nobody reads the echo
    setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $s;                                # RST
    fds_back($pa, $fds0{$pa}, $vg ? 20 : 5)
        ? ok("client reset mid-transfer: both sides closed")
        : fail("reset mid-transfer: proxy fds " . nfds($pa)
               . ", want $fds0{$pa}");
}

# ---- the deadline --------------------------------------------------------

{
    my $s = connect_to($portc);
    my $t0 = time;
    my $n = sysread($s, my $b, 1);
    my $dt = time - $t0;
    if (defined $n && $n == 0 && $dt >= 0.8 && $dt < ($vg ? 20 : 6)
        && slurp("$tmp/proxy_deadline.err") =~ /mute\.example 80: /) {
        ok(sprintf("deadline 1 s: client closed after %.2f s", $dt));
    } else {
        fail(sprintf("deadline: read gave %s after %.2f s",
                     $n // "error $!", $dt));
    }
    close $s;
}

# ---- fds, clean exit -----------------------------------------------------

for my $p ([$pa, 'proxy_echo'], [$pb, 'proxy_mute'], [$pc, 'proxy_deadline']) {
    my ($pid, $name) = @$p;
    fds_back($pid, $fds0{$pid}, $vg ? 20 : 5)
        or fail("$name fds " . nfds($pid) . ", want $fds0{$pid}");
    kill 'TERM', $pid;
    waitpid($pid, 0);
    my $st = $?;
    my $err = slurp("$tmp/$name.err");
    if ($st == 0 && $err =~ /guards_finished 0\b/) {
        ok("$name: fds back to $fds0{$pid}, clean exit, guards_finished 0");
    } else {
        fail("$name: exit status $st, stderr: $err");
    }
}
kill 'TERM', $echo_pid;
waitpid($echo_pid, 0);
@pids = ();

if ($failures) {
    print STDERR "$failures check(s) failed\n";
    exit 1;
}
exit 0;
