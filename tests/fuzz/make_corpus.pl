#!/usr/bin/perl
# Seed corpora for the fuzzers in tests/fuzz/corpus/<target>/: a spread of
# the oracle vectors (tests/vectors, half parsing, half not) plus hand-picked
# edge cases. Deterministic; rerun after changing the vectors:
#   perl tests/fuzz/make_corpus.pl
# File names are the SHA-1 of the content, as libFuzzer names its own.
use strict;
use warnings;
use Digest::SHA qw(sha1_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);

my $fuzz = dirname(__FILE__);
my $vec = "$fuzz/../vectors";
my $out = "$fuzz/corpus";

sub unesc { my $s = shift; $s =~ s/\\x([0-9a-f]{2})/chr hex $1/ge; $s }

# Up to $n rows of a TSV, evenly spread, $n/2 with a result and $n/2 undef.
sub pick {
    my ($file, $n) = @_;
    open my $fh, '<', "$vec/$file" or die "$vec/$file: $!";
    my (@ok, @bad);
    while (<$fh>) {
        chomp;
        my @f = map { unesc($_) } split /\t/, $_, -1;
        push @{ $f[-1] eq 'undef' ? \@bad : \@ok }, \@f;
    }
    my @r;
    for my $set (\@ok, \@bad) {
        my $k = int($n / 2);
        my $step = @$set > $k ? @$set / $k : 1;
        for (my $i = 0; $i < @$set && @r < $n; $i += $step) {
            push @r, $set->[int $i];
        }
    }
    @r;
}

my %seeds;
sub add { my $t = shift; push @{ $seeds{$t} }, @_ }

my @v4_edge = ('1.2.3.4', '255.255.255.255', '0.0.0.0', '256.1.1.1',
    '01.2.3.4', '0x7f.1', '0x7F.1', '0X7f.1', '4294967295', '4294967296',
    '0xffffffff', '0x100000000', '037777777777', '040000000000',
    '1.2.3.4\n' =~ s/\\n/\n/r, '0x1\n' =~ s/\\n/\n/r, '1.2.3.4.', '.1.2.3',
    '1..2', '08', '0x', '1.2.65535', '1.2.65536', '99999999999999999999');
my @v6_edge = ('::', '::1', '1::', ':::', '1:2:3:4:5:6:7:8',
    '1:2:3:4::5:6:7:8', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.4',
    '::1.2.3.4', '::1:2:3:4:5:1.2.3.4', '1:2:3:4:5:6:1.2.3.4',
    '::ffff:0x7f.1', '::ffff:010.0.0.1', 'fe80::1%eth0', '[::1]',
    '12345::', 'g::', '::1\n' =~ s/\\n/\n/r, '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
    '1::2::3', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '1.2.3.4');

add(parse_ipv4 => (map { $_->[0] } pick('parse_ipv4.tsv', 40)), @v4_edge);
add(parse_ipv6 => (map { $_->[0] } pick('parse_ipv6.tsv', 40)), @v6_edge);
add(parse_address => (map { $_->[0] } pick('parse_address.tsv', 40)),
    'unix/', 'unix', 'unix//', '::ffff:127.0.0.1', '::ffff:0:1.2.3.4',
    '10.0.0.1', '::');
# hostport: low 3 bits of byte 0 = default-service length, at the end
for my $r (pick('hostport.tsv', 50)) {
    my ($in, $def) = @$r;
    next if length $def > 7;
    add(parse_hostport => chr(length $def) . $in . $def);
}
add(parse_hostport => map { chr(length $_->[1]) . $_->[0] . $_->[1] }
    ['/tmp/sock', ''], ['unix/:/tmp/sock', ''], ['[::1]:80', ''],
    ['[::1] 80', ''], ['::1 80', ''], ['::1#80', ''], ['::1', '80'],
    ['localhost', 'https'], [' localhost:80', ''], ["a\tb:80", ''],
    ['1:2:3:4:5:6:7:8:80', ''], ['[1.2.3.4]:http', ''], ['host: 80', '1']);

# sockaddrs: native-order family, then the family's fields
my ($INET, $INET6, $UNIX) = (2, 10, 1);
my $in = pack('S n a4 x8', $INET, 80, "\x7f\0\0\1");
my $in6 = pack('S n N a16 N', $INET6, 443, 0, ("\0" x 15) . "\1", 0);
my @un = map { pack('S', $UNIX) . $_ }
    ('', "\0", '/tmp/s', "/tmp/s\0junk", 'x' x 108, ('y' x 107) . "\0",
     "\0abstract", 'z' x 120);
add(unpack_sockaddr => $in, $in6, @un, substr($in, 0, 15), substr($in6, 0, 27),
    substr($in, 0, 1), pack('S', $UNIX), pack('S a14', 0, ''),
    pack('S a14', 17, 'x'), pack('S', 0xffff) . 'abc', '');

add(roundtrip => (map { $_->[0] } pick('parse_ipv6.tsv', 20)),
    (map { $_->[0] } pick('parse_ipv4.tsv', 10)),
    "\0\x50\x7f\0\0\1", "\1\xbb" . ("\0" x 15) . "\1",
    "\x12\x34" . ("\0" x 10) . "\xff\xff\x0a\0\0\1",
    "\0\0\0" . ('a' x 40), "\0\x05\1" . "\x20\x01\x0d\xb8" . ("\0" x 12),
    "\0\x08\2" . 'example.org', "\0\0" . ('p' x 110), "\0\0/tmp/s\0x");

add(diff_inet_pton => (map { "\0" . $_->[0] } pick('parse_ipv4.tsv', 20)),
    (map { "\1" . $_->[0] } pick('parse_ipv6.tsv', 20)),
    (map { "\0$_" } '1.2.3.4', '255.255.255.255', '256.0.0.0', '0.0.0.0',
        '1.2.3.04', '1.2.3.', '1.2..3'),
    (map { "\1$_" } '::', '::1', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4',
        '1:2:3:4:5:6:1.2.3.4', '::1:2:3:4:5:6:7', '1::2::3', 'fe80::',
        '::1.2.3.256', '1:2:3:4:5:6:7:', ':1:2:3:4:5:6:7'));

remove_tree($out);
for my $t (sort keys %seeds) {
    make_path("$out/$t");
    my %seen;
    for my $s (@{ $seeds{$t} }) {
        my $name = sha1_hex($s);
        next if $seen{$name}++;
        open my $fh, '>:raw', "$out/$t/$name" or die "$out/$t/$name: $!";
        print $fh $s;
        close $fh or die;
    }
    printf "%-16s %d seeds\n", $t, scalar keys %seen;
}
