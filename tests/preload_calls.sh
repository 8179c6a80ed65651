#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_calls.sh LIB BIN - run tests/preload_calls (BIN) under
# LD_PRELOAD=LIB on a fresh pool (the library must look no symbol up once
# BIN has started), then again on the same pool (reopened:
# what the first run left must be there); then the environment: the
# size of a pool created on first use (UDAX_POOL_SIZE), a bad size or a
# missing variable (the library passes everything through), diagnostics
# only with UDAX_PRELOAD_DEBUG=1.
set -u
. "$(dirname "$0")/preload_env.sh"
preload_setup "$1"
bin=$2
pl_no_late_lookups "$bin" "$pl_host" || exit 1
# The pool was closed at exit; the second process finds the files.
out=$(pl stat -c '%s %F' "$UDAX_MOUNT/a") || exit 1
[ "$out" = "21 regular file" ] || { echo "FAIL: reopened: $out"; exit 1; }
echo "preload_calls: reopened pool ok"

fail=0
bad() { echo "FAIL: $*"; fail=1; }
echo data >"$pl_dir/in"
# UDAX_POOL_SIZE: bytes or K/M/G.
for sz in 67108864:67108864 48M:50331648 1G:1073741824; do
	rm -f "$pl_dir/p2"
	UDAX_POOL=$pl_dir/p2 UDAX_POOL_SIZE=${sz%%:*} pl cp "$pl_dir/in" \
		"$UDAX_MOUNT/x" || bad "cp with UDAX_POOL_SIZE=${sz%%:*}"
	got=$(stat -c %s "$pl_dir/p2" 2>/dev/null)
	[ "$got" = "${sz##*:}" ] || bad "UDAX_POOL_SIZE=${sz%%:*}: pool of $got bytes"
done
# Not a size, or no UDAX_MOUNT: inactive, the mount is a host path.
rm -f "$pl_dir/p3"
UDAX_POOL=$pl_dir/p3 UDAX_POOL_SIZE=12Q pl cat "$UDAX_MOUNT/x" 2>/dev/null &&
	bad "UDAX_POOL_SIZE=12Q: the pool was used"
[ -e "$pl_dir/p3" ] && bad "UDAX_POOL_SIZE=12Q: a pool was created"
env -u UDAX_MOUNT LD_PRELOAD="$pl_preload" UDAX_POOL=$pl_dir/p3 \
	cat "$pl_dir/in" >/dev/null || bad "no UDAX_MOUNT: host file unreadable"
[ -e "$pl_dir/p3" ] && bad "no UDAX_MOUNT: a pool was created"
# Diagnostics: none by default, some with UDAX_PRELOAD_DEBUG=1.
err=$(pl cat "$UDAX_MOUNT/a" 2>&1 >/dev/null)
[ -z "$err" ] || bad "stderr without UDAX_PRELOAD_DEBUG: $err"
err=$(UDAX_PRELOAD_DEBUG=1 pl cat "$UDAX_MOUNT/a" 2>&1 >/dev/null)
case $err in *"udax-preload: open a"*) ;; *) bad "no debug line: $err" ;; esac
# The pool in use by another process: EBUSY. (The holder waits in bash:
# a command bash would exec instead would drop the pool, close-on-exec.)
exec 3< <(pl bash -c "exec 4<'$UDAX_MOUNT/a'; echo held; sleep 5 & wait" 2>/dev/null)
holder=$!
read -r _ <&3
err=$(pl cat "$UDAX_MOUNT/a" 2>&1)
case $err in *"busy"*) ;; *) bad "second process: '$err'" ;; esac
exec 3<&-
kill "$holder" 2>/dev/null
# A failure to open is not remembered: once the holder is gone, the same
# process opens the pool.
exec 3< <(pl bash -c "exec 4<'$UDAX_MOUNT/a'; echo held; sleep 1 & wait" 2>/dev/null)
read -r _ <&3
out=$(pl bash -c "exec 5<'$UDAX_MOUNT/a' || echo busy
	sleep 2; exec 5<'$UDAX_MOUNT/a' && echo opened" 2>/dev/null)
exec 3<&-
[ "$out" = "$(printf 'busy\nopened')" ] || bad "retry after EBUSY: '$out'"
[ $fail = 0 ] && echo "preload_calls: environment ok"
exit $fail
