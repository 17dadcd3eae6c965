#!/usr/bin/perl
# Keep the man pages in step with the header, the library and the command.
#
#   check.pl [--src DIR] [--lib LIBFILE] [--installed MANDIR]
#
# Checks, each failure printed with what to fix:
# - every page lints clean: `mandoc -T lint` (all levels; only "referenced
#   manual not found" is ignored, since mandoc looks for those in the
#   system's database: our own cross-references are checked below) and
#   `groff -mandoc -ww -z` when groff is installed;
# - .Dt and the first .Nm match the file name; every anysock_* .Xr names a
#   page or an alias that exists;
# - every function declared ANYSOCK_EXTERN in include/anysock.h is in the
#   NAME section of exactly one page (install makes an alias for each) and
#   its SYNOPSIS prototype there equals the header's; every function a page
#   names is declared (no stale pages);
# - every ANYSOCK_E* code of ANYSOCK_ERRNO_MAP is in anysock(3) with its
#   number; every public macro, enum constant and anysock_* type name is on
#   some page; every field of a public struct is on a page that names the
#   struct;
# - a callback type or struct a page shows in a literal display is the
#   header's definition, token for token (comments aside);
# - every exported anysock_* symbol of LIBFILE (nm -D, or nm -g for a .a)
#   is declared and has a page; a declared function the library does not
#   export yet is only reported (other branches may be writing it);
# - every command and option in the anysock command's usage text
#   (examples/anysock/main.c) is in anysock(1);
# - with --installed: every page and alias is installed under MANDIR and,
#   when man-db is there, `man -w` finds each in MANDIR.
# Exit 0 all good, 1 a check failed, 77 all good but mandoc is missing (set
# ANYSOCK_MAN_REQUIRE=1 to make that a failure, as CI does).
use strict;
use warnings;
use File::Basename qw(dirname basename);
use Cwd qw(abs_path);

my $src = abs_path(dirname(abs_path($0)) . '/../..');
my ($lib, $installed);
while (@ARGV) {
    my $a = shift @ARGV;
    if    ($a eq '--src')       { $src = shift @ARGV }
    elsif ($a eq '--lib')       { $lib = shift @ARGV }
    elsif ($a eq '--installed') { $installed = shift @ARGV }
    else { die "usage: $0 [--src DIR] [--lib LIBFILE] [--installed MANDIR]\n" }
}
my $mandir = "$src/docs/man";
my $fails = 0;
my $skipped = '';

sub fail { print "FAIL: @_\n"; $fails++ }
sub note { print "note: @_\n" }

sub slurp
{
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!\n";
    local $/;
    my $t = <$fh>;
    close $fh;
    return $t;
}

sub have
{
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return 1 if -x "$d/$prog";
    }
    return 0;
}

# One spelling for a C declaration: single spaces, none around punctuation.
sub canon
{
    my ($s) = @_;
    $s =~ s/\s+/ /g;
    $s =~ s/ ?([*(),\[\]]) ?/$1/g;
    $s =~ s/^ | $//g;
    return $s;
}

# ---- the header ---------------------------------------------------------

my $htext = slurp("$src/include/anysock.h");
my %errmap;    # ANYSOCK_ESERVICE => -3000
while ($htext =~ /XX\((\w+),\s*(-?\d+),\s*"[^"]*"\)/g) {
    $errmap{"ANYSOCK_$1"} = $2;
}
(my $hcode = $htext) =~ s{/\*.*?\*/}{ }gs;
$hcode =~ s{//[^\n]*}{}g;

my %decl;      # function name => canonical prototype
while ($hcode =~ /\bANYSOCK_EXTERN\s+([^;{}#]+?);/g) {
    my $d = canon($1);
    $d =~ /(\w+)\(/ or next;
    $decl{$1} = $d;
}
fail("no ANYSOCK_EXTERN declarations found in include/anysock.h")
    unless %decl;

my %symbols;   # public macros, enum constants and type names => 1
while ($hcode =~ /^\s*#\s*define\s+(ANYSOCK_\w+)/mg) {
    my $m = $1;
    next if $m =~ /_$/ || $m eq 'ANYSOCK_H' || $m eq 'ANYSOCK_EXTERN';
    $symbols{$m} = 1;
}
while ($hcode =~ /\benum\s+\w*\s*\{([^}]*)\}/g) {
    my $body = $1;
    while ($body =~ /\b(ANYSOCK_\w+)\s*(?:=[^,]*)?(?:,|$)/g) {
        $symbols{$1} = 1 unless $1 =~ /_$/;
    }
}
while ($hcode =~ /\btypedef\b[^;]*?\(\s*\*\s*(anysock_\w+)\s*\)/g) {
    $symbols{$1} = 1;
}
while ($hcode =~ /\btypedef\s+(?:struct|enum)\s+\w+\s+(anysock_\w+)\s*;/g) {
    $symbols{$1} = 1;
}

# Type definitions a page may show in full: callback types and structs.
my %typedef;   # name => canonical definition, comments removed
while ($hcode =~ /\b(typedef\s+[^;{}]*?\(\s*\*\s*(anysock_\w+)\s*\)\s*\([^;]*\))\s*;/g) {
    $typedef{$2} = canon($1);
}
while ($hcode =~ /\b(typedef\s+struct\s+\w+\s*\{(?:[^{}]|\{[^{}]*\})*\}\s*(anysock_\w+))\s*;/g) {
    $typedef{$2} = canon($1);
}

my %fields;    # struct type => [top-level field names]
while ($hcode =~ /\btypedef\s+struct\s+\w+\s*(\{(?:[^{}]|\{[^{}]*\})*\})\s*(anysock_\w+)\s*;/g) {
    my ($body, $type) = ($1, $2);
    $symbols{$type} = 1;
    $body =~ s/^\{|\}$//g;
    $body =~ s/\{[^{}]*\}//g;          # a nested union's members
    my @names;
    for my $d (split /;/, $body) {
        $d =~ s/\[[^\]]*\]//g;
        next unless $d =~ /\S/;
        # "int a, b, c": the last word of each comma part
        my @parts = split /,/, $d;
        for my $p (@parts) {
            push @names, $1 if $p =~ /(\w+)\s*$/;
        }
    }
    $fields{$type} = \@names;
}

# ---- the pages ------------------------------------------------------------

my $typedefs_shown = 0;
sub check_typedef
{
    my ($rel, $name, $def) = @_;
    $typedefs_shown++;
    if (!exists $typedef{$name}) {
        fail("$rel: shows typedef $name, which include/anysock.h does not define");
    } elsif (canon($def) ne $typedef{$name}) {
        fail("$rel: typedef $name differs from the header:\n  header: "
             . "$typedef{$name}\n  page:   " . canon($def));
    }
}

my (%page, %covered_by, %proto_in, @xrefs, %alltext);
for my $f (sort glob("$mandir/man1/*.1"), sort glob("$mandir/man3/*.3")) {
    next if -l $f;
    my $rel = substr($f, length($mandir) + 1);
    my ($base, $sec) = basename($f) =~ /^(.+)\.(\d)$/;
    my $text = slurp($f);
    $alltext{$rel} = $text;
    my ($dt) = $text =~ /^\.Dt\s+(\S+)\s+(\d)/m;
    my ($dtsec) = $text =~ /^\.Dt\s+\S+\s+(\d)/m;
    fail("$rel: .Dt is not '\U$base\E $sec'")
        unless defined $dt && $dt eq uc($base) && $dtsec eq $sec;

    # NAME: the .Nm lines up to the next section
    my ($namesec) = $text =~ /^\.Sh NAME\n(.*?)^\.Sh /ms;
    my @names = defined $namesec ? $namesec =~ /^\.Nm\s+(\S+)/mg : ();
    fail("$rel: the first .Nm in NAME is not $base")
        unless @names && $names[0] eq $base;
    $page{"$base.$sec"} = $rel;
    for my $n (@names) {
        if ($covered_by{"$n.$sec"}) {
            fail("$rel: $n($sec) is also named by $covered_by{\"$n.$sec\"}");
        }
        $covered_by{"$n.$sec"} = $rel;
        if ($sec == 3 && $n ne 'anysock' && !exists $decl{$n}) {
            fail("$rel: names $n, which include/anysock.h does not declare");
        }
    }

    # SYNOPSIS prototypes: .Ft TYPE, then .Fo NAME / .Fa ARG... / .Fc, or
    # .Fn NAME ARG...
    my ($syn) = $text =~ /^\.Sh SYNOPSIS\n(.*?)^\.Sh /ms;
    if (defined $syn) {
        my ($ft, $fo, @fa);
        for my $l (split /\n/, $syn) {
            my @args;
            my $rest = $l;
            $rest =~ s/^\.(\w\w)\s*//;
            my $mac = $1 // '';
            push @args, defined $1 ? $1 : $2
                while $rest =~ /\G\s*(?:"([^"]*)"|(\S+))/gc;
            if ($mac eq 'Ft') {
                $ft = join(' ', @args);
            } elsif ($mac eq 'Fo') {
                ($fo, @fa) = ($args[0]);
            } elsif ($mac eq 'Fa' && defined $fo) {
                push @fa, join(' ', @args);
            } elsif ($mac eq 'Fc' && defined $fo) {
                $proto_in{$fo} = canon("$ft $fo(" . join(', ', @fa) . ')');
                undef $fo;
            } elsif ($mac eq 'Fn' && defined $ft) {
                my ($n, @a) = @args;
                $proto_in{$n} = canon("$ft $n(" . join(', ', @a) . ')');
            }
        }
    }
    # a definition shown in a literal display must be the header's
    while ($text =~ /^\.Bd -literal\n(.*?)^\.Ed$/msg) {
        (my $lit = $1) =~ s{/\*.*?\*/}{ }gs;
        while ($lit =~ /\b(typedef\s+[^;{}]*?\(\s*\*\s*(anysock_\w+)\s*\)\s*\([^;]*\))\s*;/g) {
            check_typedef($rel, $2, $1);
        }
        while ($lit =~ /\b(typedef\s+struct\s+\w+\s*\{(?:[^{}]|\{[^{}]*\})*\}\s*(anysock_\w+))\s*;/g) {
            check_typedef($rel, $2, $1);
        }
    }
    while ($text =~ /^\.Xr\s+(anysock\S*)\s+(\d)/mg) {
        push @xrefs, [$rel, "$1.$2"];
    }
}

for my $fn (sort keys %decl) {
    if (!$covered_by{"$fn.3"}) {
        fail("$fn has no page: add `.Nm $fn` to the NAME section of a"
             . " page in docs/man/man3 (or a page $fn.3)");
        next;
    }
    if (!defined $proto_in{$fn}) {
        fail("$covered_by{\"$fn.3\"}: no SYNOPSIS prototype for $fn");
    } elsif ($proto_in{$fn} ne $decl{$fn}) {
        fail("$covered_by{\"$fn.3\"}: SYNOPSIS of $fn differs from the"
             . " header:\n  header: $decl{$fn}\n  page:   $proto_in{$fn}");
    }
}
for my $x (@xrefs) {
    fail("$x->[0]: .Xr to $x->[1], which no page or alias provides")
        unless $covered_by{$x->[1]};
}
fail("no anysock(1) page") unless $page{'anysock.1'};
fail("no anysock(3) page") unless $page{'anysock.3'};

# ---- errors, symbols and fields ---------------------------------------------

my $overview = $alltext{'man3/anysock.3'} // '';
for my $e (sort keys %errmap) {
    my $num = $errmap{$e};
    fail("man3/anysock.3: error code $e ($num) is not in ERRORS")
        unless $overview =~ /^\.It Bq Er \Q$e\E\n\\?\Q$num\E\b/m;
}
my $all3 = join("\n", map { $alltext{$_} } grep { /^man3/ } keys %alltext);
for my $s (sort keys %symbols) {
    fail("$s from include/anysock.h is on no page")
        unless $all3 =~ /(?<![\w])\Q$s\E(?![\w])/;
}
for my $type (sort keys %fields) {
    my @pages = grep { /^man3/ && $alltext{$_} =~ /(?<![\w])\Q$type\E(?![\w])/ }
                keys %alltext;
    my $t = join("\n", map { $alltext{$_} } @pages);
    for my $f (@{ $fields{$type} }) {
        fail("field $type.$f is not on a page that shows $type")
            unless $t =~ /(?<![\w])\Q$f\E(?![\w])/;
    }
}

# ---- the command's usage ------------------------------------------------------

my $usage_src = "$src/examples/anysock/main.c";
if (-f $usage_src) {
    my $c = slurp($usage_src);
    my $page1 = $alltext{'man1/anysock.1'} // '';
    my ($usage) = $c =~ /\bcli_usage\s*\(void\)\s*\{(.*?)\n\}/s;
    my $lits = join('', ($usage // '') =~ /"((?:[^"\\]|\\.)*)"/g);
    my %opt;
    $opt{$1} = 1 while $lits =~ /(?<![\w-])(--?[a-z0-9][a-z0-9-]*)/g;
    for my $o (sort keys %opt) {
        (my $fl = $o) =~ s/^-//;
        fail("man1/anysock.1: option $o of the usage text is missing")
            unless $page1 =~ /\bFl \Q$fl\E(?![\w-])/;
    }
    while ($c =~ /\{\s*"([a-z][a-z-]*)"\s*,\s*cli_\w+\s*\}/g) {
        fail("man1/anysock.1: command $1 is missing")
            unless $page1 =~ /^\.(?:It )?Cm \Q$1\E\b/m;
    }
    fail("no options found in the usage text of $usage_src") unless %opt;
} else {
    note("$usage_src not found: the command's options are not compared");
}

# ---- the library's exports ---------------------------------------------------

if (defined $lib) {
    if (!have('nm')) {
        fail("nm not found (Debian package binutils): exports not compared");
    } else {
        my @cmd = $lib =~ /\.a$/ ? ('nm', '-g', '--defined-only', $lib)
                                 : ('nm', '-D', '--defined-only', $lib);
        open(my $nm, '-|', @cmd) or die "nm: $!\n";
        my %exp;
        while (<$nm>) {
            $exp{$2} = 1 if /^\S*\s+([A-TV-Z])\s+(anysock_[a-z0-9]\w*)$/;
        }
        close $nm or fail("@cmd failed");
        fail("$lib exports no anysock_* symbol") unless %exp;
        for my $s (sort keys %exp) {
            fail("$lib exports $s, which include/anysock.h does not declare")
                unless exists $decl{$s};
            fail("$lib exports $s, which has no page")
                unless $covered_by{"$s.3"};
        }
        my @missing = grep { !$exp{$_} } sort keys %decl;
        note("declared but not exported by this build (not implemented"
             . " yet?): @missing") if @missing;
        printf "exports: %d anysock_* symbols of %s compared with %d"
            . " declared functions\n", scalar(keys %exp), basename($lib), scalar(keys %decl);
    }
}

# ---- lint ------------------------------------------------------------------------

chdir $mandir or die "$mandir: $!\n";
my @files = sort keys %alltext;
if (have('mandoc')) {
    for my $f (@files) {
        my @out = grep {
            !/STYLE: referenced manual not found/ && !/outdated mandoc\.db/
        } split /\n/, `mandoc -T lint $f 2>&1`;
        fail("mandoc -T lint $f:\n  " . join("\n  ", @out)) if @out;
    }
} else {
    $skipped .= 'mandoc ';
}
if (have('groff')) {
    for my $f (@files) {
        my $out = `groff -mandoc -ww -z $f 2>&1`;
        fail("groff -ww -z $f:\n$out") if $out ne '' || $? != 0;
    }
} else {
    note("groff not found: only mandoc lints the pages");
}

# ---- an installed tree -----------------------------------------------------------

if (defined $installed) {
    my @want = ('man1/anysock.1', map { "man3/$_.3" } 'anysock', sort keys %decl);
    for my $w (@want) {
        fail("$installed/$w is not installed") unless -f "$installed/$w";
    }
    if (have('man')) {
        local $ENV{MANPATH} = $installed;
        for my $q (['anysock'], ['1', 'anysock'],
                   map { ['3', $_] } sort keys %decl) {
            my $got = `man -w @$q 2>&1`;
            chomp $got;
            fail("MANPATH=$installed man -w @$q: $got")
                unless $? == 0 && index($got, $installed) == 0;
        }
        printf "installed: man -w finds anysock(1), anysock(3) and %d"
            . " function pages\n", scalar(keys %decl);
    } else {
        note("man (man-db) not found: installed files checked, man -w not run");
    }
}

if ($fails) {
    print "$fails check(s) failed\n";
    exit 1;
}
if ($skipped ne '') {
    if ($ENV{ANYSOCK_MAN_REQUIRE}) {
        print "FAIL: not installed: $skipped(Debian package mandoc)\n";
        exit 1;
    }
    print "SKIP: pages not linted, not installed: $skipped(Debian package"
        . " mandoc)\n";
    exit 77;
}
printf "ok: %d pages, %d functions, %d type definitions shown\n",
    scalar(@files), scalar(keys %decl), $typedefs_shown;
exit 0;
