#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tool_cli.sh UDAX - the udax command-line tool, end to end: every
# subcommand on a real pool, --json output, --help, and each error case
# (missing pool, corrupt pool, foreign file, bad size, name too long,
# unknown command, wrong arguments, pool in use) giving exit status 1
# and one clear line on stderr.
set -u
udax=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/udax-cli.XXXXXX")
trap 'rm -rf "$dir"' EXIT
pool=$dir/p.pool
fail=0
pass=0

ok() { # ok NAME CMD...: must exit 0
	local name=$1
	shift
	if "$@" >"$dir/out" 2>"$dir/err"; then
		pass=$((pass + 1))
	else
		echo "FAIL $name: exit $? ($(head -c 300 "$dir/err"))"
		fail=$((fail + 1))
	fi
}

err() { # err NAME PATTERN CMD...: exit 1, one stderr line matching PATTERN
	local name=$1 pat=$2
	shift 2
	"$@" >"$dir/out" 2>"$dir/err"
	local st=$?
	local lines
	lines=$(wc -l <"$dir/err")
	if [ "$st" -eq 1 ] && [ "$lines" -eq 1 ] && grep -q -- "$pat" "$dir/err"; then
		pass=$((pass + 1))
	else
		echo "FAIL $name: exit $st, $lines stderr lines: $(head -c 300 "$dir/err")"
		fail=$((fail + 1))
	fi
}

expect() { # expect NAME PATTERN: the last command's stdout matches
	if grep -q -- "$2" "$dir/out"; then
		pass=$((pass + 1))
	else
		echo "FAIL $1: output lacks '$2': $(head -c 300 "$dir/out")"
		fail=$((fail + 1))
	fi
}

head -c 300000 /dev/urandom >"$dir/host"

ok help "$udax" --help
expect help "mkfs"
ok help-sub "$udax" put --help
expect help-sub "usage: udax put POOL HOSTFILE NAME"
ok mkfs "$udax" mkfs "$pool" 64M
ok put "$udax" put "$pool" "$dir/host" blob
ok ls "$udax" ls "$pool"
expect ls "300000  blob"
ok ls-json "$udax" --json ls "$pool"
expect ls-json '\[{"name":"blob","size":300000}\]'
ok stat "$udax" stat "$pool" blob
expect stat "size: *300000"
ok stat-json "$udax" stat --json "$pool" blob
expect stat-json '"size":300000'
ok get "$udax" get "$pool" blob "$dir/back"
ok same cmp "$dir/host" "$dir/back"
ok cat sh -c "'$udax' cat '$pool' blob > '$dir/cat'"
ok same-cat cmp "$dir/host" "$dir/cat"
ok punch "$udax" punch "$pool" blob 4096 8K
ok truncate "$udax" truncate "$pool" blob 10000
ok stat2 "$udax" --json stat "$pool" blob
expect stat2 '"size":10000'
ok cat-punched bash -c "'$udax' cat '$pool' blob | tail -c +4097 | cmp - <(head -c 5904 /dev/zero)"
ok fsck "$udax" fsck "$pool"
expect fsck "clean"
ok fsck-json "$udax" --json fsck "$pool"
expect fsck-json '"result":"clean"'
ok stats "$udax" stats "$pool"
expect stats "1 files"
ok rm "$udax" rm "$pool" blob
ok ls-empty "$udax" --json ls "$pool"
expect ls-empty '^\[\]$'

err missing-pool "cannot open pool.*no such file" "$udax" ls "$dir/nope.pool"
err bad-size "invalid size '12Q'" "$udax" mkfs "$dir/q.pool" 12Q
err small-size "too small" "$udax" mkfs "$dir/q.pool" 4K
err exists "already exists" "$udax" mkfs "$pool" 64M
long=$(printf 'n%.0s' $(seq 1 256))
err long-name "name too long" "$udax" put "$pool" "$dir/host" "$long"
err no-file "no file 'ghost'" "$udax" cat "$pool" ghost
err no-file-rm "no file 'ghost'" "$udax" rm "$pool" ghost
err unknown-cmd "unknown command 'frob'" "$udax" frob
err arity "expected 2 arguments" "$udax" stat "$pool"
err bad-offset "invalid offset 'x1'" "$udax" punch "$pool" x x1 4K
err dash-arg "unknown option '-1'" "$udax" punch "$pool" x -1 4K
err no-host "cannot open host file" "$udax" put "$pool" "$dir/none" x
head -c 8M /dev/urandom >"$dir/foreign.pool"
err foreign "not a udax pool" "$udax" ls "$dir/foreign.pool"
err foreign-fsck "not a udax pool" "$udax" fsck "$dir/foreign.pool"
cp "$pool" "$dir/bad.pool"
# Damage the inode table (block 65 onward holds it): corrupt, not foreign.
printf 'garbage!garbage!' | dd of="$dir/bad.pool" bs=1 seek=$((65 * 4096 + 8)) conv=notrunc 2>/dev/null
err corrupt "corrupt" "$udax" ls "$dir/bad.pool"
"$udax" fsck "$dir/bad.pool" >"$dir/out" 2>&1
st=$?
if [ $st -eq 1 ] && grep -q "CORRUPT" "$dir/out"; then pass=$((pass + 1)); else
	echo "FAIL fsck-corrupt: exit $st: $(head -c 300 "$dir/out")"; fail=$((fail + 1)); fi

# A pool held open by another process.
"$udax" demo "$dir/busy.pool" >/dev/null 2>&1 &
demo=$!
for _ in $(seq 1 100); do [ -e "$dir/busy.pool" ] && break; sleep 0.05; done
sleep 0.3
err busy "in use by another process" "$udax" ls "$dir/busy.pool"
wait $demo

echo "tool_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
