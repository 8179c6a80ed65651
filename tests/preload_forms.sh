#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_forms.sh LIB BIN - run tests/preload_forms (BIN) under
# LD_PRELOAD=LIB on a fresh pool, with a host directory beside the mount,
# and check that the library looked no symbol up once BIN had started.
set -u
. "$(dirname "$0")/preload_env.sh"
preload_setup "$1"
pl_no_late_lookups "$2" "$pl_host"
