#!/usr/bin/perl
# Seeds for fuzz_dns_reply in tests/fuzz/corpus/dns_reply/: byte 0 picks
# the lookup and flags, then one chunk (2-byte length, bit 15 "another
# datagram follows") per query, in the order the resolver sends them (see
# the comment at the top of fuzz_dns_reply.c). Replies carry id 0: the
# target patches in the query's. Deterministic; rerun after changing it:
#   perl tests/fuzz/make_dns_corpus.pl
# File names are the SHA-1 of the content, as libFuzzer names its own.
use strict;
use warnings;
use Digest::SHA qw(sha1_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);

my $out = dirname(__FILE__) . '/corpus/dns_reply';
my $node = 'a.fuzz.test';

# lookups[] in fuzz_dns_reply.c; flags
my ($ANY, $V4, $V6, $SRV, $SRV4, $SRV6, $UDP, $SRVUDP) = (0 .. 7);
my ($NOPATCH, $SPLICE, $CANCEL, $NOGUARD) = (0x08, 0x10, 0x20, 0x40);
my ($A, $AAAA, $CNAME, $SRVT, $TXT) = (1, 28, 5, 33, 16);

sub name {
    my $n = shift;
    return "\0" if $n eq '' || $n eq '.';
    join('', map { chr(length) . $_ } split /\./, $n) . "\0";
}

# header: flags word (QR|RD|RA = 0x8180 plus rcode/TC), counts
sub hdr {
    my ($flags, $qd, $an, $ns, $ar) = @_;
    pack 'n6', 0, $flags, $qd, $an, $ns // 0, $ar // 0;
}
sub qsec { my ($n, $t) = @_; name($n) . pack('nn', $t, 1) }
sub rr {
    my ($n, $t, $rdata, $ttl) = @_;
    my $nm = $n =~ /^\xc0/ ? $n : name($n);
    $nm . pack('nnNn', $t, 1, $ttl // 60, length $rdata) . $rdata;
}
sub a { pack 'C4', @_ }
sub aaaa { pack 'n8', @_ }
sub srv { my ($pri, $w, $port, $t) = @_; pack('nnn', $pri, $w, $port) . name($t) }

# a whole reply to (name, type) with answers
sub reply {
    my ($n, $t, $rcode, @an) = @_;
    hdr(0x8180 | $rcode, 1, scalar @an) . qsec($n, $t) . join '', @an;
}
sub ok_a { my $n = shift; reply($n, $A, 0, map { rr($n, $A, a(@$_)) } @_) }
sub ok_aaaa { my $n = shift; reply($n, $AAAA, 0, map { rr($n, $AAAA, aaaa(@$_)) } @_) }

sub chunk { my ($b, $more) = @_; pack('n', length($b) | ($more ? 0x8000 : 0)) . $b }
my $SILENT = pack 'n', 0x7fff;

my %seeds;
sub seed { my ($ctl, @chunks) = @_; my $s = chr($ctl) . join '', @chunks; $seeds{sha1_hex($s)} = $s }

my $a1 = ok_a($node, [192, 0, 2, 1]);
my $a2 = ok_a($node, [192, 0, 2, 1], [198, 51, 100, 7]);
my $q6 = ok_aaaa($node, [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
my $nodata_a = reply($node, $A, 0);
my $nodata_6 = reply($node, $AAAA, 0);
my $nx_a = reply($node, $A, 3);
my $nx_6 = reply($node, $AAAA, 3);

# plain A + AAAA, each family alone, udp
seed($ANY, chunk($a1), chunk($q6));
seed($ANY, chunk($a2), chunk($nodata_6));
seed($ANY, chunk($nodata_a), chunk($q6));
seed($V4, chunk($a2));
seed($V6, chunk($q6));
seed($UDP, chunk($a1), chunk($q6));
# error rcodes: NXDOMAIN, SERVFAIL, NOTIMP, REFUSED, FORMERR
seed($ANY, chunk($nx_a), chunk($nx_6));
seed($ANY, chunk(reply($node, $A, 2)), chunk(reply($node, $AAAA, 2)));
seed($V4, chunk(reply($node, $A, 4)));
seed($V6, chunk(reply($node, $AAAA, 5)));
seed($V4, chunk(reply($node, $A, 1)));
# one family fails, the other answers
seed($ANY, chunk(reply($node, $A, 2)), chunk($q6));
# CNAME chain, then the address; a CNAME loop
seed($V4, chunk(reply($node, $A, 0, rr($node, $CNAME, name('b.fuzz.test')),
    rr('b.fuzz.test', $A, a(203, 0, 113, 9)))));
seed($V4, chunk(reply($node, $A, 0, rr($node, $CNAME, name('b.fuzz.test')),
    rr('b.fuzz.test', $CNAME, name($node)))));
# answers of another type, class or name; an odd rdata length
seed($V4, chunk(reply($node, $A, 0, rr($node, $TXT, "\3abc"))));
seed($V4, chunk(reply($node, $A, 0, rr('other.test', $A, a(192, 0, 2, 2)))));
seed($V6, chunk(reply($node, $AAAA, 0, rr($node, $AAAA, a(192, 0, 2, 2)))));
seed($V4, chunk(reply($node, $A, 0, rr($node, $A, "\1\2\3"))));
# compression: a pointer to the question, a pointer loop, a forward one
seed($V4, chunk(reply($node, $A, 0, rr("\xc0\x0c", $A, a(192, 0, 2, 3)))));
seed($V4, chunk(reply($node, $A, 0, rr("\xc0\x1d", $A, a(192, 0, 2, 3)))));
seed($V4, chunk(hdr(0x8180, 1, 1) . "\xc0\x0c" . pack('nn', $A, 1)
    . rr("\xc0\x0c", $A, a(192, 0, 2, 3))));
seed($V4, chunk(reply($node, $A, 0, rr("\xc0\xff", $A, a(192, 0, 2, 3)))));
# truncated at a few offsets, empty, header only, absurd counts
for my $cut (1, 11, 12, 20, length($a1) - 1) {
    seed($V4, chunk(substr $a1, 0, $cut));
}
seed($V4, chunk(''));
seed($ANY, chunk(hdr(0x8180, 1, 65535, 65535, 65535) . qsec($node, $A)), chunk($q6));
# TC: the query goes again over TCP, answered by the next chunk
seed($V4, chunk(hdr(0x8380, 1, 0) . qsec($node, $A)), chunk($a2));
seed($ANY, chunk(hdr(0x8380, 1, 0) . qsec($node, $A)), chunk($q6), chunk($a1));
# no reply at all (the input ends: ECONNREFUSED), one query unanswered
seed($ANY);
seed($ANY, chunk($a1), $SILENT);
# garbage first, then the real reply for the same query
seed($V4, chunk("\xff" x 12, 1), chunk($a1));
seed($V4, chunk(reply('other.test', $A, 0, rr('other.test', $A, a(192, 0, 2, 9))), 1),
    chunk($a1));
# flags: id left alone (ignored, times out), splice (header + question
# from the query + answers with a pointer to it), cancel, no guard
seed($V4 | $NOPATCH, chunk($a1));
seed($ANY | $SPLICE, chunk(hdr(0x8180, 1, 1) . rr("\xc0\x0c", $A, a(192, 0, 2, 4))),
    chunk(hdr(0x8180, 1, 1) . rr("\xc0\x0c", $AAAA, aaaa(0x2001, 0xdb8, 0, 0, 0, 0, 0, 4))));
seed($ANY | $CANCEL, chunk($a1), chunk($q6));
seed($ANY | $NOGUARD, chunk($a1), chunk($q6));
seed($ANY | $CANCEL | $NOGUARD, chunk($a2), chunk($nx_6));

# SRV: _x._tcp.a.fuzz.test, then A/AAAA per target in SRV order
my $sq = "_x._tcp.$node";
my $srv2 = reply($sq, $SRVT, 0, rr($sq, $SRVT, srv(10, 0, 5269, 't1.fuzz.test')),
    rr($sq, $SRVT, srv(20, 0, 5270, 't2.fuzz.test')));
seed($SRV, chunk($srv2), chunk(ok_a('t1.fuzz.test', [192, 0, 2, 11])),
    chunk(ok_aaaa('t1.fuzz.test', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 11])),
    chunk(ok_a('t2.fuzz.test', [192, 0, 2, 12])),
    chunk(reply('t2.fuzz.test', $AAAA, 3)));
seed($SRV4, chunk($srv2), chunk(ok_a('t1.fuzz.test', [192, 0, 2, 11])),
    chunk(ok_a('t2.fuzz.test', [192, 0, 2, 12])));
seed($SRV6, chunk($srv2), chunk(ok_aaaa('t1.fuzz.test', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 11])),
    chunk(ok_aaaa('t2.fuzz.test', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 12])));
# no SRV records: A/AAAA on the node with the fallback port
seed($SRV, chunk(reply($sq, $SRVT, 3)), chunk($a1), chunk($q6));
seed($SRV, chunk(reply($sq, $SRVT, 0)), chunk($a1), chunk($nodata_6));
seed($SRV, chunk(reply($sq, $SRVT, 2)), chunk($a1), chunk($q6));
# target "." (no service), port 0, a target name no query can carry
seed($SRV, chunk(reply($sq, $SRVT, 0, rr($sq, $SRVT, srv(0, 0, 5269, '.')))));
seed($SRV4, chunk(reply($sq, $SRVT, 0, rr($sq, $SRVT, srv(0, 0, 0, 't1.fuzz.test')))),
    chunk(ok_a('t1.fuzz.test', [192, 0, 2, 13])));
seed($SRV, chunk(reply($sq, $SRVT, 0,
    rr($sq, $SRVT, srv(0, 0, 1, ('x' x 63 . '.') x 4 . 'y')))));
# weights (the target fixes the random choice per input)
seed($SRV4, chunk(reply($sq, $SRVT, 0, rr($sq, $SRVT, srv(0, 5, 5269, 't1.fuzz.test')),
    rr($sq, $SRVT, srv(0, 60, 5270, 't2.fuzz.test')))),
    chunk(ok_a('t1.fuzz.test', [192, 0, 2, 11])), chunk(ok_a('t2.fuzz.test', [192, 0, 2, 12])));
# truncated SRV, SRV over TCP, silent SRV (the hosts file answers: empty)
seed($SRV, chunk(substr $srv2, 0, 40), chunk($a1), chunk($q6));
seed($SRV4, chunk(hdr(0x8380, 1, 0) . qsec($sq, $SRVT)), chunk($srv2),
    chunk(ok_a('t1.fuzz.test', [192, 0, 2, 11])), chunk(ok_a('t2.fuzz.test', [192, 0, 2, 12])));
seed($SRV, $SILENT);
# udp service: _x._udp
my $uq = "_x._udp.$node";
seed($SRVUDP, chunk(reply($uq, $SRVT, 0, rr($uq, $SRVT, srv(1, 0, 7000, 't1.fuzz.test')))),
    chunk(ok_a('t1.fuzz.test', [192, 0, 2, 21])), chunk(reply('t1.fuzz.test', $AAAA, 0)));

remove_tree($out);
make_path($out);
for my $k (sort keys %seeds) {
    open my $fh, '>:raw', "$out/$k" or die "$out/$k: $!";
    print $fh $seeds{$k};
    close $fh or die;
}
printf "%d seeds in %s\n", scalar keys %seeds, $out;
