#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tool_cli.sh UDAX - the udax command-line tool, end to end: every
# subcommand on a real pool, --json output (parsed by python3 for every
# command, with hostile names), --help, --version, `--`, and each error
# case (missing pool, corrupt, truncated or foreign file, bad size, name
# too long or with a '/', unknown command, wrong arguments, pool in use,
# a full pool, a pool file on a read-only mount) giving exit status 1
# and one clear line on stderr; read-only commands still read such a
# pool (read-only, with a note), and fsck checks it. That
# get never destroys a host file (a failed get, the pool as destination)
# and put never loses the old copy (a full pool).
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

# The last command's stdout is exactly one JSON value.
isjson() { # isjson NAME [PYTHON-EXPR on v [ARGS]]: and the expression is true
	local name=$1 expr=${2:-True}
	shift 2 2>/dev/null || shift
	if python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$dir/out" "$expr" "$@" 2>"$dir/pyerr"; then
		pass=$((pass + 1))
	else
		echo "FAIL $name: not JSON or not ($expr): $(head -c 300 "$dir/out") $(tail -n 1 "$dir/pyerr")"
		fail=$((fail + 1))
	fi
}

check() { # check NAME CMD...: a shell condition
	local name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		echo "FAIL $name"
		fail=$((fail + 1))
	fi
}

head -c 300000 /dev/urandom >"$dir/host"

ok help "$udax" --help
expect help "mkfs"
ok help-sub "$udax" put --help
expect help-sub "usage: udax put POOL HOSTFILE NAME"
ok help-json "$udax" --json --help
isjson help-json 'v["usage"].startswith("udax ") and "mkfs" in [c["command"] for c in v["commands"]]'
ok help-sub-json "$udax" put --help --json
isjson help-sub-json 'v == {"command": "put", "args": "POOL HOSTFILE NAME", "help": v["help"]} and v["help"]'
err no-command-json "no command given" "$udax" --json
isjson no-command-json 'v["error"].startswith("no command given")'
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
expect stats "1 file,"
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
err corrupt "the pool is corrupt" "$udax" rm "$dir/bad.pool" x
"$udax" fsck "$dir/bad.pool" >"$dir/out" 2>&1
st=$?
if [ $st -eq 1 ] && grep -q "CORRUPT" "$dir/out"; then pass=$((pass + 1)); else
	echo "FAIL fsck-corrupt: exit $st: $(head -c 300 "$dir/out")"; fail=$((fail + 1)); fi
"$udax" --json fsck "$dir/bad.pool" >"$dir/out" 2>"$dir/err"
check fsck-json-corrupt-exit [ $? -eq 1 ]
isjson fsck-json-corrupt 'v["result"] == "corrupt" and len(v["problems"]) == v["problem_count"] > 0'

# ---- get never destroys a host file ----
ok put-again "$udax" put "$pool" "$dir/host" blob
printf 'keep me\n' >"$dir/keep.txt"
err get-nosuch "no file 'nosuch'" "$udax" get "$pool" nosuch "$dir/keep.txt"
check get-nosuch-kept grep -qx 'keep me' "$dir/keep.txt"
err get-bad-pool "cannot open pool" "$udax" get "$dir/nope.pool" blob "$dir/keep.txt"
check get-bad-pool-kept grep -qx 'keep me' "$dir/keep.txt"
size_before=$(stat -c %s "$pool")
err get-onto-pool "the pool itself" "$udax" get "$pool" blob "$pool"
ln -s "$pool" "$dir/link.pool"
err get-onto-symlink "the pool itself" "$udax" get "$pool" blob "$dir/link.pool"
ln "$pool" "$dir/hard.pool"
err get-onto-hardlink "the pool itself" "$udax" get "$pool" blob "$dir/hard.pool"
err get-stdout-pool "the pool itself" sh -c "'$udax' get '$pool' blob - >>'$pool'"
rm -f "$dir/hard.pool"
check get-pool-kept [ "$(stat -c %s "$pool")" = "$size_before" ]
ok get-pool-fsck "$udax" fsck "$pool"
check get-no-temp [ -z "$(find "$dir" -name '.udax-get-*')" ]
ok get-stdout sh -c "'$udax' get '$pool' blob - >'$dir/stdout'"
ok get-stdout-same cmp "$dir/host" "$dir/stdout"
chmod 600 "$dir/keep.txt"
ok get-replace "$udax" get "$pool" blob "$dir/keep.txt"
ok get-replace-same cmp "$dir/host" "$dir/keep.txt"
check get-replace-mode [ "$(stat -c %a "$dir/keep.txt")" = 600 ]
mkdir "$dir/sub"
ok get-into-dir "$udax" get "$pool" blob "$dir/sub"
ok get-into-dir-same cmp "$dir/host" "$dir/sub/blob"

# ---- put into a full pool keeps the old copy ----
small=$dir/small.pool
ok mkfs-small "$udax" mkfs "$small" 8M
head -c 100000 /dev/urandom >"$dir/old"
head -c 12000000 /dev/urandom >"$dir/big"
ok put-old "$udax" put "$small" "$dir/old" a
err put-full "no space left in the pool (need 11.4 MiB, free" "$udax" put "$small" "$dir/big" a
ok put-full-kept sh -c "'$udax' cat '$small' a | cmp - '$dir/old'"
err put-full-new "no space left in the pool (need" "$udax" put "$small" "$dir/big" b
# From a pipe the size is unknown: the writes fill the pool and fail.
err put-pipe-new "no space left in the pool (need more than" sh -c "cat '$dir/big' | '$udax' put '$small' - c"
err put-pipe-replace "no space left in the pool (need more than" sh -c "cat '$dir/big' | '$udax' put '$small' - a"
ok put-pipe-replace-kept sh -c "'$udax' cat '$small' a | cmp - '$dir/old'"
ok put-full-ls "$udax" --json ls "$small"
isjson put-full-nothing-left 'len(v) == 1 and v[0]["name"] == "a"'
ok put-full-fsck "$udax" fsck "$small"
ok put-stdin sh -c "'$udax' put '$small' - d <'$dir/old'"
ok put-stdin-same sh -c "'$udax' cat '$small' d | cmp - '$dir/old'"
head -c 200000 /dev/urandom >"$dir/new"
ok put-replace "$udax" --json put "$small" "$dir/new" a
isjson put-replace 'v["replaced"] is True and v["bytes"] == 200000'
ok put-replace-same sh -c "'$udax' cat '$small' a | cmp - '$dir/new'"
ok put-replace-ls "$udax" --json ls "$small"
isjson put-replace-no-temp 'sorted(e["name"] for e in v) == ["a", "d"]'
err put-slash "pool file names cannot contain '/'" "$udax" put "$small" "$dir/old" a/b
err put-empty-name "cannot be empty" "$udax" put "$small" "$dir/old" ''
err put-pool-itself "the pool itself" "$udax" put "$small" "$small" x

# ---- messages ----
err mkfs-empty "the pool path is empty" "$udax" mkfs '' 8M
cp "$small" "$dir/trunc.pool"
truncate -s 1M "$dir/trunc.pool"
err truncated "the pool file is truncated" "$udax" ls "$dir/trunc.pool"
head -c 100 /dev/zero >"$dir/tiny.pool"
err tiny "too short to be a udax pool" "$udax" ls "$dir/tiny.pool"
ok stats-plural "$udax" stats "$small"
expect stats-plural ": 2 files,"
ok version "$udax" --version
expect version "^udax [0-9]*\.[0-9]*\.[0-9]* (library [0-9.]*)$"
ok version-json "$udax" --json --version
isjson version-json '"version" in v and "library" in v'
err misplaced-opt "does not apply" "$udax" ls --force "$pool"

# ---- mkfs over an existing file ----
printf 'precious\n' >"$dir/data.img"
err mkfs-data "use --force" "$udax" mkfs "$dir/data.img" 8M
check mkfs-data-kept grep -qx precious "$dir/data.img"
ok mkfs-force "$udax" --json mkfs --force "$dir/data.img" 8M
isjson mkfs-force 'v["formatted"] is True and v["size"] == 8 << 20'
ok mkfs-force-ls "$udax" --json ls "$dir/data.img"
isjson mkfs-force-empty 'v == []'
err mkfs-force-pool "use --force" "$udax" mkfs "$dir/data.img"
ok mkfs-force-again "$udax" mkfs -f "$dir/data.img"
expect mkfs-force-again "formatted pool"
err mkfs-chardev "neither a regular file nor a device-DAX device" "$udax" mkfs --force /dev/null 8M
err mkfs-nosize "SIZE is needed" "$udax" mkfs "$dir/nosize.pool"

# ---- space back to the host: rm shrinks the pool file ----
sp=$dir/space.pool
ok mkfs-space "$udax" mkfs "$sp" 64M
head -c 20000000 /dev/urandom >"$dir/20m"
ok put-space "$udax" put "$sp" "$dir/20m" big
b1=$(stat -c %b "$sp")
ok rm-space "$udax" rm "$sp" big
b2=$(stat -c %b "$sp")
# 20 MB are 39062 blocks of 512 bytes: at least 90% of them given back
# (where the host file system can punch holes).
head -c 8192 /dev/urandom >"$dir/probe"
if fallocate -p -o 0 -l 4096 "$dir/probe" 2>/dev/null; then
	check "rm-shrinks ($b1 -> $b2 blocks of 512)" [ $((b1 - b2)) -gt 35000 ]
else
	echo "note: $dir cannot punch holes: rm-shrinks not checked"
fi
ok stats-host "$udax" --json stats "$sp"
isjson stats-host "v[\"host_allocated_bytes\"] == $b2 * 512"
rm -f "$dir/20m"

# ---- a damaged pool: copy the intact files out read-only, repair ----
rp=$dir/repair.pool
ok mkfs-repair "$udax" mkfs "$rp" 16M
ok put-repair-a "$udax" put "$rp" "$dir/old" a
ok put-repair-b "$udax" put "$rp" "$dir/new" b
ok put-repair-c "$udax" put "$rp" "$dir/host" c
# Inode 1 (b, the second file made) is 512 bytes from the inode table's
# start (block 65): garbage in its extents fails its checksum.
printf 'garbage!' | dd of="$rp" bs=1 seek=$((65 * 4096 + 512 + 100)) conv=notrunc 2>/dev/null
ok ls-damaged "$udax" ls "$rp"
expect ls-damaged "damaged  b$"
expect ls-damaged-a "100000  a$"
check ls-damaged-note grep -q "opened read-only" "$dir/err"
ok ls-damaged-json "$udax" --json ls -r "$rp"
isjson ls-damaged-json '[e.get("damaged", False) for e in v] == [False, True, False]'
ok get-intact "$udax" get -r "$rp" a "$dir/a.out"
ok get-intact-same cmp "$dir/old" "$dir/a.out"
ok cat-intact sh -c "'$udax' cat -r '$rp' c | cmp - '$dir/host'"
err get-damaged "the file 'b' is damaged" "$udax" get -r "$rp" b "$dir/b.out"
check get-damaged-nothing [ ! -e "$dir/b.out" ]
err put-damaged "the pool is corrupt" "$udax" put "$rp" "$dir/old" z
"$udax" fsck "$rp" >"$dir/out" 2>&1
check fsck-damaged [ $? -eq 1 ]
expect fsck-damaged "inode 1: checksum mismatch"
ok fsck-repair "$udax" --json fsck --repair "$rp"
isjson fsck-repair 'v["result"] == "clean" and any("\x27b\x27" in a for a in v["repaired"])'
ok fsck-repaired "$udax" fsck "$rp"
expect fsck-repaired "clean (0 problems)"
ok ls-repaired "$udax" --json ls "$rp"
isjson ls-repaired '[e["name"] for e in v] == ["a", "c"]'
ok cat-repaired-a sh -c "'$udax' cat '$rp' a | cmp - '$dir/old'"
ok cat-repaired-c sh -c "'$udax' cat '$rp' c | cmp - '$dir/host'"
ok put-repaired "$udax" put "$rp" "$dir/new" b
ok fsck-repair-clean "$udax" fsck --repair "$rp"
expect fsck-repair-clean "clean (0 problems) after 0 repairs"
err repair-foreign "cannot repair.*not a udax pool" "$udax" fsck --repair "$dir/foreign.pool"

# ---- a pool file that cannot be written: a read-only bind mount ----
# In a mount namespace of its own (unshare -m), so nothing outside sees
# it; where that is not allowed (not root), these checks are skipped.
rodir=$dir/ro
mkdir "$rodir"
ro() { # ro CMD...: run CMD with $rodir mounted read-only
	unshare -m sh -c 'mount --bind "$1" "$1" 2>/dev/null &&
		mount -o remount,bind,ro "$1" 2>/dev/null || exit 99
		shift; exec "$@"' sh "$rodir" "$@"
}
if ro true 2>/dev/null && ! ro touch "$rodir/probe" 2>/dev/null; then
	rop=$rodir/p.pool
	ok mkfs-ro-setup "$udax" mkfs "$rop" 8M
	ok put-ro-setup "$udax" put "$rop" "$dir/old" f
	err put-ro "read-only file system.*read it with -r" ro "$udax" put "$rop" "$dir/new" g
	err rm-ro "cannot open pool .* to write it" ro "$udax" rm "$rop" f
	ok ls-ro-fallback ro "$udax" ls "$rop"
	expect ls-ro-fallback "  f$"
	check ls-ro-note grep -q "read-only file system: opened read-only" "$dir/err"
	ok ls-ro ro "$udax" ls -r "$rop"
	check ls-ro-quiet [ ! -s "$dir/err" ]
	ok get-ro ro "$udax" get -r "$rop" f "$dir/f.out"
	ok get-ro-same cmp "$dir/old" "$dir/f.out"
	ok fsck-ro ro "$udax" fsck "$rop"
	expect fsck-ro "clean (0 problems)"
	err repair-ro "cannot repair .*read-only file system" ro "$udax" fsck --repair "$rop"
	err mkfs-ro "cannot format .*read-only file system" ro "$udax" mkfs --force "$rop"
	ok fsck-after-ro "$udax" fsck "$rop"
else
	echo "tool_cli: no read-only bind mount here (unshare -m): read-only checks skipped"
fi

# ---- hostile names: --, plain escaping, JSON ----
hp=$dir/hostile.pool
ok mkfs-json "$udax" --json mkfs "$hp" 16M
isjson mkfs-json 'v["size"] == 16 << 20'
names=(-lead $'new\nline' $'\xff\xfe' 'q"uote' 'back\slash' $'tab\there' $'esc\e[31m')
for n in "${names[@]}"; do
	ok "put-json:$n" "$udax" --json put -- "$hp" "$dir/old" "$n"
	isjson "put-json:$n" 'v["bytes"] == 100000'
	ok "stat-json:$n" "$udax" --json stat -- "$hp" "$n"
	isjson "stat-json:$n" 'v["size"] == 100000'
	ok "truncate-json:$n" "$udax" --json truncate -- "$hp" "$n" 50000
	isjson "truncate-json:$n" 'v["size"] == 50000'
	ok "punch-json:$n" "$udax" --json punch -- "$hp" "$n" 0 8K
	isjson "punch-json:$n" 'v["offset"] == 0 and v["length"] == 8192'
	ok "get-json:$n" "$udax" --json get -- "$hp" "$n" "$dir/hostile.out"
	isjson "get-json:$n" 'v["bytes"] == 50000'
done
err dash-name "unknown option '-lead'" "$udax" stat "$hp" -lead
ok dash-name-stat "$udax" stat "$hp" -- -lead
ok ls-plain "$udax" ls "$hp"
check ls-plain-lines [ "$(wc -l <"$dir/out")" -eq ${#names[@]} ]
expect ls-plain-newline 'new\\nline$'
expect ls-plain-bytes '\\377\\376$'
expect ls-plain-esc 'esc\\033\[31m$'
expect ls-plain-backslash 'back\\\\slash$'
check ls-plain-no-esc-byte [ "$(tr -cd '\033' <"$dir/out" | wc -c)" -eq 0 ]
ok ls-json "$udax" --json ls "$hp"
isjson ls-json-names 'sorted(bytes.fromhex(e["name_hex"]) if "name_hex" in e else e["name"].encode() for e in v) == sorted(n.encode("utf-8", "surrogateescape") for n in sys.argv[3:])' "${names[@]}"
isjson ls-json-hex '[e for e in v if e.get("name_hex") == "fffe"][0]["name"] == "\ufffd\ufffd"'
for n in "${names[@]}"; do
	ok "rm-json:$n" "$udax" --json rm -- "$hp" "$n"
	isjson "rm-json:$n" 'v["removed"] is True and v["freed"] > 0'
done
ok ls-json-empty "$udax" --json ls "$hp"
isjson ls-json-empty 'v == []'
ok stats-json "$udax" --json stats "$hp"
isjson stats-json 'v["files"] == 0 and v["free_inodes"] == v["inodes"] > 0 and "faults_pte" not in v and v["free_bytes"] > 0'
ok fsck-json-clean "$udax" --json fsck "$hp"
isjson fsck-json-clean 'v["result"] == "clean" and v["problems"] == []'
err cat-json-error "no file 'ghost'" "$udax" --json cat "$hp" ghost
isjson cat-json-error '"ghost" in v["error"] and v["command"] == "cat"'
err ls-json-error "cannot open pool" "$udax" --json ls "$dir/nope.pool"
isjson ls-json-error '"error" in v'

# A pool held open by another process (its demo output: JSON).
"$udax" --json demo "$dir/busy.pool" >"$dir/demo.json" 2>&1 &
demo=$!
for _ in $(seq 1 100); do [ -e "$dir/busy.pool" ] && break; sleep 0.05; done
sleep 0.3
err busy "in use by another process" "$udax" ls "$dir/busy.pool"
err busy-mkfs "is in use" "$udax" mkfs --force "$dir/busy.pool"
err busy-ro "in use by another process" "$udax" ls -r "$dir/busy.pool"
wait $demo
check demo-exit [ $? -eq 0 ]
cp "$dir/demo.json" "$dir/out"
isjson demo-json 'v["pass"] is True and v["faults"]["pte"] > 0'

echo "tool_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
