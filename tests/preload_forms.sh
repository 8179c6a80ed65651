#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_forms.sh LIB BIN - run tests/preload_forms (BIN) under
# LD_PRELOAD=LIB on a fresh pool, with a host directory beside the mount.
set -u
. "$(dirname "$0")/preload_env.sh"
preload_setup "$1"
pl "$2" "$pl_host"
