#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_coreutils.sh LIB - coreutils on pool files behave as on a kernel
# filesystem: every operation is done on a host file and on a pool file,
# and the results compared (cp in and out + cmp, cat, ls -l, stat, rm,
# truncate -s, dd conv=notrunc).
set -u
. "$(dirname "$0")/preload_env.sh"
preload_setup "$1"
need cp coreutils
need cmp diffutils
m=$UDAX_MOUNT h=$pl_host
fail=0
check() { # check NAME CMD...: must succeed
	local name=$1
	shift
	if "$@" >"$pl_dir/out" 2>"$pl_dir/err"; then
		echo "ok   $name"
	else
		echo "FAIL $name: $(head -c 400 "$pl_dir/err")"
		fail=1
	fi
}
same() { # same NAME A B: A (run as is) and B (run under the library) print the same
	local name=$1 a=$2 b=$3
	local x y
	x=$(bash -c "$a" 2>&1)
	y=$(LD_PRELOAD="$pl_preload" bash -c "$b" 2>&1)
	if [ "$x" = "$y" ]; then
		echo "ok   $name"
	else
		echo "FAIL $name: host '$x' pool '$y'"
		fail=1
	fi
}

head -c 5000000 /dev/urandom >"$h/src"
printf 'one\ntwo\nthree\n' >"$h/text"

check "cp into the mount" pl cp "$h/src" "$m/a"
check "cmp host and pool" pl cmp "$h/src" "$m/a"
check "cp out of the mount" pl cp "$m/a" "$h/back"
check "cmp the copy back" cmp "$h/src" "$h/back"
check "cp within the mount" pl cp "$m/a" "$m/b"
check "cmp in the mount" pl cmp "$m/a" "$m/b"
check "cp text" pl cp "$h/text" "$m/text"
same "cat" "cat $h/text" "cat $m/text"
same "cat | wc" "cat $h/src | wc -c" "cat $m/a | wc -c"
same "stat" "stat -c '%s %F %a %h' $h/src" "stat -c '%s %F %a %h' $m/a"
same "ls -l (mode, links, size)" \
	"ls -l $h/src $h/text | awk '{print \$1, \$2, \$5}'" \
	"ls -l $m/a $m/text | awk '{print \$1, \$2, \$5}'"
same "ls of the mount" "printf 'a\nb\ntext\n'" "ls $m"
same "ls -la has . and .." "echo 2" "ls -la $m | grep -c ' \\.\\.\\?$'"
check "cp for truncate" cp "$h/src" "$h/t"
check "cp for truncate (pool)" pl cp "$h/src" "$m/t"
for s in 1000 3M 0 12345; do
	truncate -s "$s" "$h/t"
	check "truncate -s $s" pl truncate -s "$s" "$m/t"
	same "size after truncate -s $s" "stat -c %s $h/t" "stat -c %s $m/t"
	check "content after truncate -s $s" pl cmp "$h/t" "$m/t"
done
check "cp for dd" cp "$h/src" "$h/d"
check "cp for dd (pool)" pl cp "$h/src" "$m/d"
# Byte offsets with a 4 KiB buffer: dd's buffer is aligned_alloc(4096, bs),
# which the ASan runtime (loaded for a sanitizer build) refuses unless bs
# is a multiple of 4096.
for args in "seek=100 count=3 oflag=seek_bytes iflag=count_bytes" \
	"seek=7 count=5" \
	"seek=4999000 count=2000 oflag=seek_bytes iflag=count_bytes"; do
	dd if="$h/src" of="$h/d" bs=4096 conv=notrunc $args status=none
	check "dd conv=notrunc $args" pl dd if="$h/src" of="$m/d" bs=4096 \
		conv=notrunc $args status=none
	check "content after dd $args" pl cmp "$h/d" "$m/d"
done
check "dd out of the mount" pl dd if="$m/d" of="$h/d2" bs=64k status=none
check "cmp dd copy" cmp "$h/d" "$h/d2"
check "rm" pl rm "$m/b"
same "rm: gone" "ls $h/nope 2>&1 >/dev/null | sed 's|$h/nope|X|'" \
	"ls $m/b 2>&1 >/dev/null | sed 's|$m/b|X|'"
check "rm -f of a missing file" pl rm -f "$m/nope"
same "cat of a missing file" "cat $h/nope 2>&1 | sed 's|$h/nope|X|'" \
	"cat $m/nope 2>&1 | sed 's|$m/nope|X|'"
check "mv within the mount" pl mv "$m/text" "$m/text2"
same "mv: the new name" "cat $h/text" "cat $m/text2"
same "mv: the old name gone" "printf '0\n1\n'" "ls $m/text 2>/dev/null | wc -l; ls $m/text2 | wc -l"
check "mv out of the mount (a copy: EXDEV)" pl mv "$m/text2" "$h/text3"
check "mv out: content" cmp "$h/text" "$h/text3"
same "mv out: the pool name gone" "echo 0" "ls $m | grep -c text"
# The pool reopens in a later process with everything in it.
check "cmp after reopening" pl cmp "$h/src" "$m/a"
exit $fail
