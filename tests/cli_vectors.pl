#!/usr/bin/perl
# Runs the built `anysock` command in batch mode over every committed oracle
# vector (tests/vectors/*.tsv, see tests/gen/gen_vectors.pl) and requires
# 100% agreement.
#
#   perl tests/cli_vectors.pl PATH/TO/anysock tests/vectors
#
# Vectors whose input holds a LF cannot be one batch line; they are counted
# as such (the cmocka test checks them through the C API) and never as
# passes.
use strict;
use warnings;
use File::Temp qw(tempfile);

my ($cli, $dir) = @ARGV;
die "usage: $0 ANYSOCK VECTOR_DIR\n" unless $cli && $dir && -x $cli;

sub unesc {
    my ($s) = @_;
    $s =~ s/\\x([0-9a-f]{2})/chr hex $1/ge;
    $s;
}

sub esc {
    my ($s) = @_;
    $s =~ s/([^\x20-\x5b\x5d-\x7e])/sprintf "\\x%02x", ord $1/ge;
    $s;
}

sub load {
    my ($name) = @_;
    open my $fh, '<:raw', "$dir/$name" or die "$dir/$name: $!\n";
    my @rows;
    while (my $l = <$fh>) {
        chomp $l;
        push @rows, [map unesc($_), split /\t/, $l, -1];
    }
    \@rows;
}

# Feed lines to `anysock ARGS`, return its output lines.
sub run_batch {
    my ($lines, @args) = @_;
    my ($tfh, $tmp) = tempfile(UNLINK => 1);
    binmode $tfh;
    print $tfh map "$_\n", @$lines;
    close $tfh;
    my $pid = open my $out, '-|';
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        open STDIN, '<', $tmp or die "$tmp: $!\n";
        exec $cli, @args or die "exec $cli: $!\n";
    }
    binmode $out;
    my @got = <$out>;
    close $out;
    die "anysock @args exited with status " . ($? >> 8) . "\n" if $?;
    chomp @got;
    \@got;
}

my ($total, $bad, $nolf) = (0, 0, 0);

# cases: [input line, expected output line, description]
sub check {
    my ($label, $cases, @args) = @_;
    my @ok = grep { $_->[0] !~ /\n/ } @$cases;
    my $skip = @$cases - @ok;
    my $got = run_batch([map $_->[0], @ok], @args);
    my $mism = 0;
    if (@$got != @ok) {
        printf "FAIL %s: %d output lines for %d inputs\n", $label,
            scalar @$got, scalar @ok;
        $bad += @ok;
        return;
    }
    for my $i (0 .. $#ok) {
        next if $got->[$i] eq $ok[$i][1];
        $mism++;
        printf "MISMATCH %s: in=\"%s\" want=\"%s\" got=\"%s\"\n", $label,
            esc($ok[$i][2] // $ok[$i][0]), esc($ok[$i][1]), esc($got->[$i])
            if $mism <= 20;
    }
    printf "%-34s %6d checked %6d mismatches %4d not batchable (LF)\n",
        $label, scalar @ok, $mism, $skip;
    $total += @ok;
    $bad += $mism;
    $nolf += $skip;
}

for my $m (qw(ipv4 ipv6 unix address)) {
    check("parse $m", [map [$_->[0], $_->[1]], @{load("parse_$m.tsv")}],
        "parse", $m, "-");
}
for my $m (qw(ipv4 ipv6 address)) {
    check("format $m", [map [$_->[0], $_->[1]], @{load("format_$m.tsv")}],
        "format", $m, "-");
}

my %bydef;
for my $r (@{load("hostport.tsv")}) {
    my ($in, $def, @res) = @$r;
    push @{$bydef{$def}}, [$in, join "\t", @res];
}
for my $def (sort keys %bydef) {
    check("hostport default=\"$def\"", $bydef{$def}, "hostport", "-",
        length $def ? $def : ());
}

check("format-hostport", [map {
    my ($h, $p, $want) = @$_;
    ["$h\t$p", $want, "$h\t$p"]
} @{load("format_hostport.tsv")}], "format-hostport", "-");

printf "total: %d vectors checked through the CLI, %d mismatches, "
    . "%d not batchable\n", $total, $bad, $nolf;
exit($bad || !$total ? 1 : 0);
