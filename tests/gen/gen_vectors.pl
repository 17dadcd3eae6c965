#!/usr/bin/perl
# Oracle vectors for the address layer, from AnyEvent::Socket 7.17 itself.
#
#   perl tests/gen/gen_vectors.pl [--seed N] [--scale F] [OUTDIR]
#
# OUTDIR defaults to tests/vectors; the committed files are made with the
# defaults (seed 20261124, scale 1). Another seed or a larger scale gives a
# fresh corpus for differential fuzzing (tests/cli_vectors.pl runs any).
# Deterministic for a given seed and perl. Every input is a byte string (no
# UTF-8 decoding); every oracle call runs in eval, and where 7.17 dies (fatal
# 'non-portable' or 'Illegal hexadecimal digit' warnings) the answer is
# "undef", as for any input that does not parse.
#
# TSV format, one vector per line; fields are escaped: every byte outside
# 0x20..0x7e, and the backslash, is written as \xNN (lowercase hex).
#   parse_{ipv4,ipv6,unix,address}.tsv   IN  RESULT
#       RESULT: lowercase hex of the octets, "unix", or "undef"
#   format_{ipv4,ipv6,address}.tsv       HEX RESULT    (RESULT or "undef")
#   hostport.tsv                         IN  DEFAULT  HOST  PORT
#                                        IN  DEFAULT  undef
#       DEFAULT: the default service, empty for none ("0" counts)
#   format_hostport.tsv                  HOST PORT RESULT (PORT empty: none)
use strict;
use warnings;
use AnyEvent::Socket ();

die "AnyEvent::Socket 7.17 required, found $AnyEvent::Socket::VERSION\n"
    unless $AnyEvent::Socket::VERSION eq '7.17';

my ($seed, $scale) = (20261124, 1);
while (@ARGV && $ARGV[0] =~ /^--/) {
    my $opt = shift;
    if ($opt eq '--seed') { $seed = shift }
    elsif ($opt eq '--scale') { $scale = shift }
    else { die "usage: $0 [--seed N] [--scale F] [OUTDIR]\n" }
}
my $outdir = shift // 'tests/vectors';
srand $seed;
sub count { int($_[0] * $scale) }
$SIG{__WARN__} = sub { };    # non-fatal oracle warnings are noise here

sub esc {
    my ($s) = @_;
    $s =~ s/([^\x20-\x5b\x5d-\x7e])/sprintf "\\x%02x", ord $1/ge;
    $s;
}

sub pick { $_[ int rand @_ ] }

# ---- oracle wrappers ------------------------------------------------------

sub o_hex {
    my ($f, $s) = @_;
    my $r = eval { $f->($s) };
    return "undef" if $@ || !defined $r;
    return length $r == 4 || length $r == 16 ? unpack "H*", $r : "unix";
}

sub o_parse_ipv4    { o_hex(\&AnyEvent::Socket::parse_ipv4,    $_[0]) }
sub o_parse_ipv6    { o_hex(\&AnyEvent::Socket::parse_ipv6,    $_[0]) }
sub o_parse_unix    { o_hex(\&AnyEvent::Socket::parse_unix,    $_[0]) }
sub o_parse_address { o_hex(\&AnyEvent::Socket::parse_address, $_[0]) }

# HEX is exactly 8 (ipv4), 32 (ipv6) or either (address) hex digits.
sub o_format {
    my ($f, $hex, @lens) = @_;
    return "undef" unless $hex =~ /\A[0-9a-fA-F]*\z/
        && grep length $hex == $_, @lens;
    my $r = eval { $f->(pack "H*", $hex) };
    return "undef" if $@ || !defined $r;
    $r;
}

# ---- building blocks ------------------------------------------------------

my @ws = (" ", "\t", "\n", "\r", "\x0b", "\x0c");
my @junk = (@ws, "[", "]", "#", ":", ".", "/", "%", "x", "X", "0", "\0",
    "\xff", "\x80", "\xc3\xa9", "\xe2\x80\x8b", "\xc2\xa0", "\xc2\x85",
    "\x85", "\xa0", "-", "+", "_", ",", "=", "g", "G", "z", "\\");

sub rand_bytes {
    my $n = int rand(shift);
    join "", map chr(int rand 256), 1 .. $n;
}

# Random text over an alphabet that hits the parsers' classes.
sub rand_text {
    my ($n, @alpha) = @_;
    join "", map pick(@alpha), 1 .. int rand $n;
}

my @alpha4 = ('0' .. '9', '.', '.', '.', 'x', 'a', 'f', 'F', 'g', @ws);
my @alpha6 = ('0' .. '9', 'a' .. 'f', 'A' .. 'F', ':', ':', ':', ':', '.',
    'g', @ws);

sub dec_digits { join "", map int(rand 10), 1 .. shift }

sub ipv4_part {
    my ($max) = @_;
    my $r = rand;
    my @bound = (0, 1, 7, 8, 9, 10, 99, 100, 127, 128, 254, 255, 256, 257,
        511, 512, 65535, 65536, 16777215, 16777216, 4294967295, 4294967296,
        4294967297, 18446744073709551615, 18446744073709551616);
    my $v = rand() < 0.5 ? pick(@bound) : int rand($max // 256);
    if ($r < 0.40) {
        return "$v";
    } elsif ($r < 0.60) {
        my $o = $v =~ /e/ ? "7" x 30 : sprintf "%o", $v;
        return ("0" x (1 + int rand 3)) . $o;
    } elsif ($r < 0.80) {
        my $h = $v =~ /e/ ? "f" x 20 : sprintf(pick("%x", "%X"), $v);
        return pick("0x", "0x", "0x0", "0x00000000", "0X") . $h;
    } elsif ($r < 0.85) {
        return dec_digits(1 + int rand 40);
    } elsif ($r < 0.90) {
        return "0" . rand_text(30, '0' .. '9');
    } elsif ($r < 0.95) {
        return "0x" . rand_text(20, '0' .. '9', 'a' .. 'f', 'A' .. 'F');
    } else {
        return pick("", "0x", "08", "09", "0xg", "00", "0", "-1", "+1",
            "1e3", "0b1", "1_0", " 1");
    }
}

sub ipv4_text {
    my $n = pick(1, 2, 3, 4, 4, 4, 5);
    my @p;
    for my $i (1 .. $n) {
        my $last = $i == $n;
        push @p, ipv4_part($last ? 2**(8 * (5 - $n)) * 1.1 : 300);
    }
    join ".", @p;
}

sub decorate {
    my ($s) = @_;
    my $r = rand;
    if ($r < 0.55) {
        return $s;
    } elsif ($r < 0.65) {
        return $s . "\n";
    } elsif ($r < 0.75) {
        return pick(@ws, @junk) . $s;
    } elsif ($r < 0.85) {
        return $s . pick(@ws, @junk, ".", "\n\n", " \n", "\n ");
    } else {
        return mutate($s);
    }
}

sub mutate {
    my ($s) = @_;
    for (1 .. 1 + int rand 3) {
        my $i = int rand(length($s) + 1);
        my $op = int rand 4;
        if ($op == 0 && length $s) {
            substr($s, $i < length $s ? $i : $i - 1, 1) = "";
        } elsif ($op == 1) {
            substr($s, $i, 0) = pick(@junk, '0' .. '9', 'a' .. 'f');
        } elsif ($op == 2 && length $s) {
            my $j = $i < length $s ? $i : $i - 1;
            substr($s, $j, 1) = pick(@junk, '0' .. '9', 'a' .. 'f');
        } else {
            my $j = int rand(length($s) + 1);
            my ($a, $b) = $i < $j ? ($i, $j) : ($j, $i);
            substr($s, $j, 0) = substr($s, $a, $b - $a) if $b > $a;
        }
    }
    $s;
}

sub group_text {
    my $r = rand;
    return "0" if $r < 0.30;
    return pick(qw(1 f ff fff ffff FFFF 0000 000 00 0001 abcd ABCD aBcD
        10 100 1000 ffff0 12345 g 1g))
        if $r < 0.50;
    sprintf pick("%x", "%X", "%04x", "%02x"), int rand 65536;
}

# 8 groups, maybe a "::" over any run (any position, any length), maybe an
# IPv4 tail in any parse_ipv4 form, sometimes a group too many or few.
sub ipv6_text {
    my $ng = pick(8, 8, 8, 8, 7, 9, 6, 1 + int rand 10);
    my @g = map group_text(), 1 .. $ng;
    my $tail;
    if (rand() < 0.25) {
        $tail = rand() < 0.6
            ? join(".", map int rand 256, 1 .. 4)
            : ipv4_text();
        splice @g, -2, 2, $tail if @g >= 2;
    }
    my $s;
    if (rand() < 0.7) {
        my $from = int rand(@g + 1);
        my $len = int rand(@g - $from + 1);
        $s = join(":", @g[0 .. $from - 1]) . "::"
            . join(":", @g[$from + $len .. $#g]);
    } else {
        $s = join ":", @g;
    }
    $s;
}

sub uniq_push {
    my ($seen, $list, $s) = @_;
    push @$list, $s unless $seen->{$s}++;
}

# Every string of up to $max bytes over @alpha: the regex corners.
sub all_strings {
    my ($max, @alpha) = @_;
    my @all = ("");
    my @cur = ("");
    for (1 .. $max) {
        @cur = map { my $p = $_; map "$p$_", @alpha } @cur;
        push @all, @cur;
    }
    @all;
}

# ---- corpora --------------------------------------------------------------

my @fixed4 = ("", ".", "0", "1", "00", "0x", "0x0", "0X0", "1.", ".1", "1..1",
    "1.2.3.4", "1.2.3.4.", "1.2.3.4.5", "255.255.255.255", "256.0.0.0",
    "0.0.0.256", "127.1", "127.0.1", "0x7f.1", "0x7f000001", "017700000001",
    "4294967295", "4294967296", "037777777777", "040000000000",
    "0xffffffff", "0x100000000", "0xFFFFFFFF", "1.16777215", "1.16777216",
    "1.1.65535", "1.1.65536", "08", "09", "0.8", "1.2.3.4\n", "1.2.3.4\n\n",
    "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\t", "0x1f\n", "07\n", "0\n", "1\n",
    "1.2.3.0x4\n", "\n", "1 .2", "1e3", "0b1", "\x{31}\x{00}",
    "1" . ("0" x 30), "0" x 50, "0x" . ("0" x 50) . "1", "0" x 40 . "377",
    "99999999999999999999999999999999999999",
    "1.2.3.999999999999999999999", "0x0000000000000000ffffffff");

my (%s4, @in4);
uniq_push(\%s4, \@in4, $_) for @fixed4,
    all_strings(4, qw(0 1 9 . x f 8), "\n", " ");
while (@in4 < count(20000)) {
    my $r = rand;
    my $s = $r < 0.75 ? decorate(ipv4_text())
          : $r < 0.90 ? rand_text(24, @alpha4)
          : rand_bytes(20);
    uniq_push(\%s4, \@in4, $s);
}

my @fixed6 = ("", ":", "::", ":::", "::::", "::1", "1::", "::1:", ":1::",
    "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4::5:6:7:8",
    "1::2::3", "::ffff:1.2.3.4", "::1.2.3.4", "::ffff:0:1.2.3.4",
    "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5::1.2.3.4",
    "::127.1", "::0x7f.1", "::1\n", "::1.2.3.4\n", "1.2.3.4\n", "::1 ",
    " ::1", "fe80::1%eth0", "[::1]", "::12345", "::fffff", "::g",
    "2002:5345::10.0.0.1", "192.89.98.1", "1:2:3:4:5:6:7:8\n", "1\n::",
    "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::8", ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:", "1::2:3:4:5:6:7:8", "a:b:c:d:e:f:0:1", "A:B::C",
    "::1.2.3", "::1.2", "::1", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
    "1.2.3.4::", "::.", "::1.", "::.1", "::ffff:256.1.1.1",
    "::ffff:4294967295");

my (%s6, @in6);
uniq_push(\%s6, \@in6, $_) for @fixed6,
    all_strings(4, qw(0 1 f g : . x), "\n", " ");
# Every "::" position and length over 8 groups, with and without a tail.
for my $from (0 .. 8) {
    for my $len (0 .. 8 - $from) {
        my @g = (1 .. 8);
        uniq_push(\%s6, \@in6,
            join(":", @g[0 .. $from - 1]) . "::"
                . join(":", @g[$from + $len .. 7]));
        my @h = (1 .. 6);
        next if $from > 6;
        my $l = $len > 6 - $from ? 6 - $from : $len;
        uniq_push(\%s6, \@in6,
            join(":", @h[0 .. $from - 1]) . "::"
                . join(":", @h[$from + $l .. 5], "9.8.7.6"));
    }
}
while (@in6 < count(24000)) {
    my $r = rand;
    my $s = $r < 0.70 ? decorate(ipv6_text())
          : $r < 0.80 ? decorate(ipv4_text())
          : $r < 0.93 ? rand_text(40, @alpha6)
          : rand_bytes(40);
    uniq_push(\%s6, \@in6, $s);
}

my @fixedu = ("unix/", "unix", "UNIX/", "unix//", "unix/\n", " unix/",
    "unix/ ", "unix/\0", "/unix/", "unix\\", "Unix/", "unix/:", "");
my (%su, @inu);
uniq_push(\%su, \@inu, $_) for @fixedu;
while (@inu < count(10000)) {
    my $s = rand() < 0.5 ? mutate("unix/") : pick(@in4, @in6);
    uniq_push(\%su, \@inu, $s);
}

my (%sa, @ina);
uniq_push(\%sa, \@ina, $_) for @fixedu, @fixed4, @fixed6;
while (@ina < count(20000)) {
    my $r = rand;
    my $s = $r < 0.35 ? pick(@in6)
          : $r < 0.55 ? pick(@in4)
          : $r < 0.70 ? decorate("::ffff:" . pick(ipv4_text(),
                            join ".", map int rand 256, 1 .. 4))
          : $r < 0.80 ? decorate(pick("unix/", "::ffff:0:1.2.3.4",
                            "::ffff:" . group_text() . ":" . group_text()))
          : decorate(ipv6_text());
    uniq_push(\%sa, \@ina, $s);
}

# format: random octets, every zero/non-zero group mask, the special
# prefixes, and malformed HEX.
sub rand_group_bytes {
    my $r = rand;
    return "\0\0" if $r < 0.4;
    return pack "n", pick(1, 0xffff, 0x100, 0x10, 0xf, 0x1000) if $r < 0.6;
    pack "n", int rand 65536;
}

sub rand_hex_case {
    my ($h) = @_;
    return $h if rand() < 0.8;
    join "", map { rand() < 0.5 ? uc : $_ } split //, $h;
}

my @badhex = ("", "0", "0102030", "010203040", "0x010203", "g1020304",
    "01020304 ", " 01020304", "0102 304", "0" x 31, "0" x 33, "0" x 16,
    "z" x 32, "0" x 30 . "0g", "01020304\r", "-1020304");

my (%sf4, @f4);
uniq_push(\%sf4, \@f4, $_) for @badhex, "00000000", "ffffffff", "7f000001";
while (@f4 < count(10000)) {
    my $b = rand() < 0.5
        ? pack("C4", map pick(0, 1, 9, 10, 99, 100, 199, 200, 255,
            int rand 256), 1 .. 4)
        : pack("C4", map int rand 256, 1 .. 4);
    uniq_push(\%sf4, \@f4, rand_hex_case(unpack "H*", $b));
}

my @hex6;
for my $mask (0 .. 255) {
    for (1 .. 20) {
        my $b = join "", map { $mask & (1 << $_) ? rand_group_bytes()
                                                 : "\0\0" } 0 .. 7;
        push @hex6, unpack "H*", $b;
    }
}
for my $mid ("00000000", "0000ffff", "ffff0000", "00000001", "0000fffe",
    "00010000", "ffffffff", "00ff0000", "0000ff00") {
    for my $low ("00000000", "00000001", "00000002", "01020304", "ffffffff",
        "7f000001", "00010000", "0a000001") {
        push @hex6, "0" x 16 . $mid . $low;
        push @hex6, "0" x 15 . "1" . $mid . $low;
    }
}
my (%sf6, @f6);
uniq_push(\%sf6, \@f6, $_) for @badhex, "0" x 8;
uniq_push(\%sf6, \@f6, rand_hex_case($_)) for @hex6;
while (@f6 < count(16000)) {
    uniq_push(\%sf6, \@f6,
        rand_hex_case(unpack "H*", join "", map rand_group_bytes(), 1 .. 8));
}

my (%sfa, @fa);
uniq_push(\%sfa, \@fa, $_) for @badhex;
while (@fa < count(12000)) {
    my $r = rand;
    my $h = $r < 0.3 ? pick(@f4)
          : $r < 0.5 ? "00000000000000000000ffff" . unpack("H*",
                pack "C4", map int rand 256, 1 .. 4)
          : pick(@f6);
    uniq_push(\%sfa, \@fa, rand_hex_case($h));
}

# hostport: every documented form, assembled from hosts, separators and
# ports, then decorated and mutated.
my @hosts = ("localhost", "www.x.de", "a", "127.1", "10.0.0.1", "::1",
    "affe::1", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "[::1]", "[10.0.1]",
    "[www.x.org]", "[127.0.0.1]", "unix/", "1.2.3.4", "a:b", "1:2",
    "fe80::1%eth0", "[fe80::1%eth0]", "[]", "[", "]", "[[::1]]", "::",
    "12:34:56:78::g", "1::2::3", "x\ty", "h#x", "::1.2.3.4", "a:b:c",
    "1:2:3", "ab:cd::ef", "[a:b]", "[1:2:3:4:5:6:7:8]", "\xc3\xa9.de",
    "1:2:zz", "::1.", "dead:beef::", "0x7f.1", "[::1", "::1]");
my @seps = (":", " ", "  ", "\t", "#", ": ", " :", ":\t", "\n", "", "::",
    " # ", "\r", "\x0b", "\x0c", "##", "[", "]");
my @ports = ("80", "443", "https", "smtp", "https=443", "0", "", "65535",
    "a:b", "x y", "8 0", "[80]", "#", "/p", "80\n", "80 ", "80\t", "-",
    "\xff", "80:", ":80", "9" x 30);
my @defaults = ("", "0", "80", "https");

my (%shp, @hp);
for my $h (@hosts) {
    for my $sep (@seps) {
        for my $p (@ports) {
            uniq_push(\%shp, \@hp, "$h$sep$p");
        }
    }
}
uniq_push(\%shp, \@hp, $_)
    for all_strings(4, qw(1 : . [ ] a), "#", " ", "\t", "/", "\n");
uniq_push(\%shp, \@hp, $_) for "", " ", "/", "/tmp/debug.sock",
    "unix/:/path/to/socket", "/ x", "\t/x", " /x", "/x\n", "unix/:",
    "[::1] 80 ", " ::1 80", " host:80", "host\t80", "::1#80", "::1:80";
while (@hp < count(7000)) {
    my $s = pick(@hosts) . pick(@seps) . pick(@ports);
    uniq_push(\%shp, \@hp, decorate($s));
}
while (@hp < count(8500)) {
    uniq_push(\%shp, \@hp, rand_text(30, @alpha6, '[', ']', '#', ' ', '/',
        'h', 'o', 's', 't', '=', 'z'));
}
while (@hp < count(9000)) {
    uniq_push(\%shp, \@hp, rand_bytes(30));
}

my (%sfh, @fh);
my @fhosts = (@hosts, "", "h", "[::1]", "a:", ":", "::1", "\xff:",
    "with space", "\r");
my @fports = (@ports, "", "", "0");
for my $h (@fhosts) {
    for my $p (@fports) {
        uniq_push(\%sfh, \@fh, "$h\t$p");
    }
}
while (@fh < count(12000)) {
    my $h = rand() < 0.5 ? pick(@fhosts) : rand_text(20, @alpha6, 'h', '[');
    my $p = rand() < 0.3 ? "" : rand() < 0.5 ? pick(@fports)
                                             : rand_text(8, @alpha6, 'p');
    $h =~ s/[\t\n]//g;
    $p =~ s/\n//g;
    uniq_push(\%sfh, \@fh, "$h\t$p");
}

# ---- write ----------------------------------------------------------------

sub write_tsv {
    my ($name, $rows) = @_;
    my $path = "$outdir/$name";
    open my $fh, '>:raw', $path or die "$path: $!\n";
    print $fh join("\t", map esc($_), @$_), "\n" for @$rows;
    close $fh or die "$path: $!\n";
    printf STDERR "%-22s %6d vectors\n", $name, scalar @$rows;
}

write_tsv("parse_ipv4.tsv",    [map [$_, o_parse_ipv4($_)],    @in4]);
write_tsv("parse_ipv6.tsv",    [map [$_, o_parse_ipv6($_)],    @in6]);
write_tsv("parse_unix.tsv",    [map [$_, o_parse_unix($_)],    @inu]);
write_tsv("parse_address.tsv", [map [$_, o_parse_address($_)], @ina]);
write_tsv("format_ipv4.tsv",
    [map [$_, o_format(\&AnyEvent::Socket::format_ipv4, $_, 8)], @f4]);
write_tsv("format_ipv6.tsv",
    [map [$_, o_format(\&AnyEvent::Socket::format_ipv6, $_, 32)], @f6]);
write_tsv("format_address.tsv",
    [map [$_, o_format(\&AnyEvent::Socket::format_address, $_, 8, 32)], @fa]);

# Each input once without a default and once with one of the others.
my @hprows;
for my $s (@hp) {
    for my $d ("", pick(@defaults[1 .. $#defaults])) {
        my @r = eval { AnyEvent::Socket::parse_hostport($s, $d) };
        push @hprows, @r == 2 && !$@ ? [$s, $d, @r] : [$s, $d, "undef"];
    }
}
write_tsv("hostport.tsv", \@hprows);

write_tsv("format_hostport.tsv", [map {
    my ($h, $p) = split /\t/, $_, 2;
    [$h, $p, AnyEvent::Socket::format_hostport($h, length $p ? $p : undef)]
} @fh]);
