#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_calls.sh LIB BIN - run tests/preload_calls (BIN) under
# LD_PRELOAD=LIB on a fresh pool, then again on the same pool (reopened:
# what the first run left must be there).
set -u
. "$(dirname "$0")/preload_env.sh"
preload_setup "$1"
bin=$2
pl "$bin" "$pl_host" || exit 1
# The pool was closed at exit; the second process finds the files.
out=$(pl stat -c '%s %F' "$UDAX_MOUNT/a") || exit 1
[ "$out" = "21 regular file" ] || { echo "FAIL: reopened: $out"; exit 1; }
echo "preload_calls: reopened pool ok"
