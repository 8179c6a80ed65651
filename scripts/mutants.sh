#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# mutants.sh [LIST] - apply each mutation of LIST (default
# scripts/mutants.list; its header describes the format) to the source
# tree, one at a time, build the tests it names in build/mutants (plain
# Debug: UDAX_BUG_ON on, no sanitizer, for speed), run them, and report
# which catch it. The file is restored after each mutation, and on any
# exit (trap), byte for byte.
#
# Fails (exit 1) if any mutation survives (no listed test fails), if a
# mutated tree does not build, if an original snippet is not found
# exactly once (so a refactor makes the list fail loudly), or if a listed
# test fails on the unmutated tree. Environment: MUTANTS_BUILD (build
# dir), MUTANTS_TIMEOUT (seconds per test run, default 120: a mutation
# that makes a test hang is caught by its watchdog or by this), MUTANTS_ONLY
# (a regular expression: run only the mutations whose name matches).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
list=${1:-$top/scripts/mutants.list}
build=${MUTANTS_BUILD:-$top/build/mutants}
timeout_s=${MUTANTS_TIMEOUT:-120}
only=${MUTANTS_ONLY:-}
jobs=${JOBS:-2}

# The list parser and applier, in Perl (part of every Debian base system).
# Modes: "names" prints one "NAME<TAB>FILE<TAB>TESTS<TAB>DESC" per record;
# "check" verifies every snippet against the tree; "apply N" mutates the
# file of record N in place.
read -r -d '' PERL <<'EOF' || true
use strict; use warnings;
my ($mode, $list, $top, $want) = @ARGV;
open(my $fh, '<', $list) or die "mutants: $list: $!\n";
my (@recs, $r, $part);
while (my $l = <$fh>) {
	if ($l =~ /^=== (\S+)\s*$/) {
		$r = { name => $1, edits => [], line => $. }; push @recs, $r;
		$part = undef; next;
	}
	if (!defined $r) { next if $l =~ /^(#.*)?$/; die "mutants: $list:$.: text before the first record\n"; }
	if (!defined $part) {
		if ($l =~ /^(file|tests|desc): (.*?)\s*$/) { $r->{$1} = $2; next; }
		next if $l =~ /^(#.*)?$/;
	}
	if ($l eq "--- original\n") { push @{$r->{edits}}, ['', '']; $part = 0; next; }
	if ($l eq "+++ replacement\n") {
		die "mutants: $list:$.: replacement without original\n" unless defined $part;
		$part = 1; next;
	}
	die "mutants: $list:$.: unexpected line\n" unless defined $part;
	# A comment or blank line after a replacement ends the record's text.
	if ($part == 1 && $l =~ /^(#.*)?$/) { $part = 2; next; }
	if ($part == 2) {
		next if $l =~ /^(#.*)?$/;
		die "mutants: $list:$.: text after a record's end\n";
	}
	$r->{edits}[-1][$part] .= $l;
}
die "mutants: $list: no mutations\n" unless @recs;
my %seen;
for my $x (@recs) {
	for my $k (qw(file tests desc)) {
		die "mutants: $list:$x->{line}: $x->{name}: no $k\n" unless $x->{$k};
	}
	die "mutants: $list:$x->{line}: $x->{name}: no edit\n" unless @{$x->{edits}};
	die "mutants: $list: $x->{name} listed twice\n" if $seen{$x->{name}}++;
	for my $e (@{$x->{edits}}) {
		die "mutants: $x->{name}: empty original\n" if $e->[0] eq '';
	}
}
sub slurp { my $p = shift; open(my $f, '<', $p) or die "mutants: $p: $!\n"; local $/; my $s = <$f>; return $s; }
sub mutate {
	my ($x) = @_;
	my $s = slurp("$top/$x->{file}");
	my $i = 0;
	for my $e (@{$x->{edits}}) {
		$i++;
		my $n = () = $s =~ /\Q$e->[0]\E/g;
		die "mutants: $x->{name}: original $i of $x->{file} found $n times (must be once); re-point it\n"
			unless $n == 1;
		$s =~ s/\Q$e->[0]\E/$e->[1]/;
	}
	return $s;
}
if ($mode eq 'names') {
	print join("\t", $_->{name}, $_->{file}, $_->{tests}, $_->{desc}), "\n" for @recs;
} elsif ($mode eq 'check') {
	mutate($_) for @recs;
} elsif ($mode eq 'apply') {
	my $x = $recs[$want] or die "mutants: no record $want\n";
	my $s = mutate($x);
	open(my $o, '>', "$top/$x->{file}") or die "mutants: $x->{file}: $!\n";
	print $o $s; close($o) or die "mutants: $x->{file}: $!\n";
} else { die "mutants: bad mode $mode\n"; }
EOF

mperl() { perl -e "$PERL" "$@"; }

# Validate the whole list before touching anything.
mperl check "$list" "$top"
mapfile -t recs < <(mperl names "$list" "$top")

saved=""   # file currently mutated (relative), backed up in $build/saved
restore() {
	if [ -n "$saved" ]; then
		# cat, not cp -p: the file gets a new mtime, so it is rebuilt.
		cat "$build/saved" >"$top/$saved"
		cmp -s "$build/saved" "$top/$saved" ||
			echo "mutants: RESTORE OF $saved FAILED: see $build/saved" >&2
		saved=""
	fi
}
trap restore EXIT
trap 'restore; exit 130' INT TERM

mkdir -p "$build"
# No -Werror: a mutation may leave a variable unused.
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DUDAX_BENCH=OFF \
	-DUDAX_WERROR=OFF >"$build/configure.log" || { cat "$build/configure.log"; exit 1; }

sel=()
for rec in "${recs[@]}"; do
	IFS=$'\t' read -r name file tests desc <<<"$rec"
	if [ -z "$only" ] || [[ $name =~ $only ]]; then
		sel+=("$rec")
	fi
done
[ ${#sel[@]} -gt 0 ] || { echo "mutants: no mutation matches '$only'" >&2; exit 1; }

# Every test a selected mutation names.
all_tests=$(for rec in "${sel[@]}"; do
	IFS=$'\t' read -r name file tests desc <<<"$rec"
	printf '%s\n' $tests
done | sort -u)

build_tests() { # TESTS...
	cmake --build "$build" -j"$jobs" --target "$@" >"$build/build.log" 2>&1
}

run_test() { # TEST -> 0 pass, else fail; output in $build/logs/
	local t=$1 log=$2
	timeout -k 5 "$timeout_s" "$build/tests/$t" >"$log" 2>&1
}

start=$(date +%s)
mkdir -p "$build/logs"
echo "mutants: baseline: building and running $(echo $all_tests | wc -w) tests on the unmutated tree"
# shellcheck disable=SC2086
build_tests $all_tests || { tail -30 "$build/build.log"; exit 1; }
for t in $all_tests; do
	if ! run_test "$t" "$build/logs/baseline-$t.log"; then
		echo "mutants: $t fails on the unmutated tree ($build/logs/baseline-$t.log)" >&2
		exit 1
	fi
done

survived=0
table=()
idx=-1
for rec in "${recs[@]}"; do
	idx=$((idx + 1))
	IFS=$'\t' read -r name file tests desc <<<"$rec"
	if [ -n "$only" ] && ! [[ $name =~ $only ]]; then
		continue
	fi
	t0=$(date +%s)
	cp "$top/$file" "$build/saved"
	saved=$file
	mperl apply "$list" "$top" "$idx"
	# shellcheck disable=SC2086
	if ! build_tests $tests; then
		restore
		echo "mutants: $name: the mutated tree does not build:" >&2
		tail -20 "$build/build.log" >&2
		exit 1
	fi
	caught=()
	for t in $tests; do
		if ! run_test "$t" "$build/logs/$name-$t.log"; then
			caught+=("$t")
		fi
	done
	restore
	secs=$(($(date +%s) - t0))
	if [ ${#caught[@]} -eq 0 ]; then
		survived=$((survived + 1))
		verdict="SURVIVED"
	else
		verdict="caught by ${caught[*]}"
	fi
	line=$(printf '%-28s %-26s %4ss  %s' "$name" "$file" "$secs" "$verdict")
	echo "mutants: $line"
	table+=("$line  -- $desc")
done

# Leave the build dir matching the restored tree.
# shellcheck disable=SC2086
build_tests $all_tests || true

echo
echo "mutants: $(( ${#table[@]} )) mutations, $survived survived, $(($(date +%s) - start)) s"
printf '  %s\n' "${table[@]}"
[ "$survived" -eq 0 ]
