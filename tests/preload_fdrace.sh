#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_fdrace.sh LIB BIN [ARGS...] - run tests/preload_fdrace (BIN)
# under LD_PRELOAD=LIB on a fresh pool (ARGS: -s SEED, -l).
set -u
. "$(dirname "$0")/preload_env.sh"
preload_setup "$1"
bin=$2
shift 2
pl "$bin" "$@"
