#!/usr/bin/perl
# The address commands' contract (CLI.md) beyond what the vectors cover:
# exit codes, usage errors, HEX rules, defaults, and batch-mode framing
# (a last line without LF, NUL and CR bytes, one output line per input).
#
#   perl tests/cli_address_contract.pl PATH/TO/anysock
use strict;
use warnings;
use File::Temp qw(tempfile);

my $cli = shift;
die "usage: $0 ANYSOCK\n" unless $cli && -x $cli;

my ($pass, $fail) = (0, 0);

sub esc {
    my ($s) = @_;
    $s =~ s/([^\x20-\x5b\x5d-\x7e])/sprintf "\\x%02x", ord $1/ge;
    $s;
}

# Run the command with `stdin` bytes; returns (stdout, stderr, exit code).
sub run {
    my ($stdin, @args) = @_;
    my ($ifh, $in) = tempfile(UNLINK => 1);
    my ($efh, $err) = tempfile(UNLINK => 1);
    binmode $ifh;
    print $ifh $stdin;
    close $ifh;
    my $pid = open my $out, '-|';
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        open STDIN, '<', $in or die "$in: $!\n";
        open STDERR, '>', $err or die "$err: $!\n";
        exec $cli, @args or die "exec: $!\n";
    }
    binmode $out;
    local $/;
    my $o = <$out> // '';
    close $out;
    my $rc = $? >> 8;
    open my $e, '<', $err or die;
    my $eo = <$e> // '';
    return ($o, $eo, $rc);
}

sub check {
    my ($name, $args, $stdin, $want_out, $want_rc) = @_;
    my ($o, $e, $rc) = run($stdin, @$args);
    my $ok = $rc == $want_rc && (!defined $want_out || $o eq $want_out);
    $ok &&= $e =~ /^usage:/ && $o eq '' if $want_rc == 2;
    if ($ok) {
        $pass++;
    } else {
        $fail++;
        printf "FAIL %s: anysock %s -> rc=%d out=\"%s\" "
            . "(want rc=%d out=\"%s\")\n",
            $name, join(" ", map esc($_), @$args), $rc, esc($o), $want_rc,
            esc($want_out // "(any)");
    }
}

# single mode: results and exit codes
check("parse ipv4 ok",    [qw(parse ipv4 127.1)],        "", "7f000001\n", 0);
check("parse ipv4 undef", [qw(parse ipv4 1.2.3.256)],    "", "undef\n", 1);
check("parse ipv6",       [qw(parse ipv6 ::1)],          "",
    "00000000000000000000000000000001\n", 0);
check("parse ipv6 plain v4", [qw(parse ipv6 1.2.3.4)],   "",
    "00000000000000000000ffff01020304\n", 0);
check("parse unix",       [qw(parse unix unix/)],        "", "unix\n", 0);
check("parse unix undef", [qw(parse unix unix)],         "", "undef\n", 1);
check("parse address unix", [qw(parse address unix/)],   "", "unix\n", 0);
check("parse address mapped", [qw(parse address ::ffff:1.2.3.4)], "",
    "01020304\n", 0);
check("parse ipv4 trailing LF", ["parse", "ipv4", "1.2.3.4\n"], "",
    "01020304\n", 0);
check("format ipv4 any case", [qw(format ipv4 7F00000a)], "", "127.0.0.10\n",
    0);
check("format ipv4 wrong length",
    [qw(format ipv4 0000000000000000000000000000000a)], "", "undef\n", 1);
check("format ipv4 not hex", [qw(format ipv4 0x7f0001)], "", "undef\n", 1);
check("format ipv6", [qw(format ipv6 20010DB8000000000000000000000001)], "",
    "2001:db8::1\n", 0);
check("format ipv6 8 digits", [qw(format ipv6 7f000001)], "", "undef\n", 1);
check("format address 8", [qw(format address 01020305)], "", "1.2.3.5\n", 0);
check("format address mapped",
    [qw(format address 00000000000000000000FFFF01020304)], "", "1.2.3.4\n", 0);
check("format address 16 digits", [qw(format address 0000000000000000)], "",
    "undef\n", 1);
check("hostport", [qw(hostport [::1]:80)], "", "::1\t80\n", 0);
check("hostport default", [qw(hostport localhost https)], "",
    "localhost\thttps\n", 0);
check("hostport default 0 counts", [qw(hostport localhost 0)], "",
    "localhost\t0\n", 0);
check("hostport empty default is none", ["hostport", "localhost", ""], "",
    "undef\n", 1);
check("hostport unix path", [qw(hostport /tmp/s)], "", "unix/\t/tmp/s\n", 0);
check("format-hostport v6", [qw(format-hostport ::1 80)], "", "[::1]:80\n",
    0);
check("format-hostport no port", [qw(format-hostport host)], "", "host\n",
    0);
check("format-hostport empty port", ["format-hostport", "h", ""], "",
    "h\n", 0);
check("format-hostport port 0", [qw(format-hostport h 0)], "", "h:0\n", 0);

# usage errors: exit 2, usage on stderr, nothing on stdout
check("no command",         [],                          "", undef, 2);
check("unknown command",    [qw(frobnicate)],            "", undef, 2);
check("unknown parse mode", [qw(parse ipv5 1)],          "", undef, 2);
check("format unix",        [qw(format unix 00)],        "", undef, 2);
check("parse missing arg",  [qw(parse ipv4)],            "", undef, 2);
check("parse extra arg",    [qw(parse ipv4 1 2)],        "", undef, 2);
check("format missing arg", [qw(format ipv6)],           "", undef, 2);
check("hostport no arg",    [qw(hostport)],              "", undef, 2);
check("hostport extra arg", [qw(hostport a b c)],        "", undef, 2);
check("format-hostport no arg", [qw(format-hostport)],   "", undef, 2);
check("format-hostport extra",  [qw(format-hostport a b c)], "", undef, 2);

# batch mode framing
check("batch exit 0 with undef", [qw(parse ipv4 -)], "x\ny\n",
    "undef\nundef\n", 0);
check("batch last line without LF", [qw(parse ipv4 -)], "1.2.3.4\n10.1",
    "01020304\n0a000001\n", 0);
check("batch empty input", [qw(parse ipv6 -)], "", "", 0);
check("batch empty line", [qw(parse address -)], "\n\n", "undef\nundef\n",
    0);
check("batch CR is input", [qw(parse ipv4 -)], "1.2.3.4\r\n",
    "undef\n", 0);
check("batch NUL is input", [qw(parse ipv4 -)], "1.2\x003.4\n1.2.3.4\n",
    "undef\n01020304\n", 0);
check("batch hostport keeps NUL and CR", [qw(hostport -)], "a\x00b:8\r0\n",
    "undef\n", 0);
check("batch hostport NUL in host", [qw(hostport -)], "a\x00b:80\n",
    "a\x00b\t80\n", 0);
check("batch hostport with default", [qw(hostport - 0)], "h\n[::1]\nh:1\n",
    "h\t0\n::1\t0\nh\t1\n", 0);
check("batch format any case", [qw(format address -)],
    "0A000001\nzz\n0000000000000000000000000000000A\n",
    "10.0.0.1\nundef\n::0.0.0.10\n", 0);
check("batch format-hostport lines", [qw(format-hostport -)],
    "a\tb\n::1\t\nx\n1:2\t3\t4\n\tp\n",
    "a:b\n[::1]\nx\n[1:2]:3\t4\n:p\n", 0);
check("batch format-hostport last line without LF", [qw(format-hostport -)],
    "h\t1", "h:1\n", 0);

my $many = join "", map "$_.0.0.1\n", 1 .. 100000;
my ($o, undef, $rc) = run($many, qw(parse ipv4 -));
my $lines = () = $o =~ /\n/g;
if ($rc == 0 && $lines == 100000 && $o =~ /\A01000001\n/ &&
    $o =~ /undef\n\z/) {
    $pass++;
} else {
    $fail++;
    print "FAIL batch 100000 lines: rc=$rc lines=$lines\n";
}

print "cli contract: $pass passed, $fail failed\n";
exit($fail ? 1 : 0);
