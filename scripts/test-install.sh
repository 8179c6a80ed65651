#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-install.sh BUILD_DIR SOURCE_DIR - install the build into a private
# prefix, build examples/hello.c against the installed library only (its
# header, udax.pc, libudax.so) and run it; also link it statically.
set -euo pipefail
build=$1
src=$2
prefix=$(mktemp -d "${TMPDIR:-/tmp}/udax-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name udax.pc -print -quit)
[ -n "$pc" ] || { echo "udax.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
# The .pc file names the configured prefix; point it at ours.
sed -i "s|^prefix=.*|prefix=$prefix|" "$pc"
cc -Wall -Werror -o "$prefix/hello" "$src/examples/hello.c" \
	$(pkg-config --cflags --libs udax) -Wl,-rpath,"$prefix/lib" \
	-Wl,-rpath,"$(pkg-config --variable=libdir udax)"
"$prefix/hello" "$prefix/hello.pool"
cc -Wall -Werror -o "$prefix/hello-static" "$src/examples/hello.c" \
	$(pkg-config --cflags udax) "$(pkg-config --variable=libdir udax)/libudax.a" \
	$(pkg-config --libs --static udax | sed 's/-ludax//')
"$prefix/hello-static" "$prefix/hello2.pool"
echo "install test: shared and static builds of examples/hello.c ran"
# libudax-preload.so, installed next to libudax.so, finds it there.
pre=$(pkg-config --variable=libdir udax)/libudax-preload.so
[ -f "$pre" ] || { echo "libudax-preload.so not installed"; exit 1; }
echo "through the installed preload library" >"$prefix/in.txt"
UDAX_POOL=$prefix/pre.pool UDAX_MOUNT=$prefix/mnt UDAX_POOL_SIZE=64M \
	LD_PRELOAD=$pre cp "$prefix/in.txt" "$prefix/mnt/f"
UDAX_POOL=$prefix/pre.pool UDAX_MOUNT=$prefix/mnt \
	LD_PRELOAD=$pre cmp "$prefix/in.txt" "$prefix/mnt/f"
echo "install test: cp and cmp ran through the installed libudax-preload.so"
