#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-install.sh BUILD_DIR SOURCE_DIR - install the build into a private
# prefix chosen now (cmake --install --prefix, not the configured one),
# then with nothing but that tree and pkg-config (PKG_CONFIG_PATH into it):
# build examples/hello.c against libudax.so and run it; build it against
# libudax.a (pkg-config --static) and run it; check that both libraries
# export only the udax_* calls of the installed udax.h, under the version
# node of src/udax.map (scripts/check-symbols.sh); check that the man
# pages were installed and render without warnings.
set -euo pipefail
build=$1
src=$2
prefix=$(mktemp -d "${TMPDIR:-/tmp}/udax-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name udax.pc -print -quit)
[ -n "$pc" ] || { echo "udax.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
libdir=$(pkg-config --variable=libdir udax)
incdir=$(pkg-config --variable=includedir udax)
# The .pc must point into the prefix it was installed to.
for d in "$libdir" "$incdir"; do
	case $(realpath "$d") in
	"$(realpath "$prefix")"/*) ;;
	*) echo "udax.pc points at $d, outside $prefix"; exit 1 ;;
	esac
done
[ -f "$incdir/udax/udax.h" ] || { echo "no udax.h under $incdir"; exit 1; }

# Shared: the runtime path from pkg-config's libdir, nothing else.
cc -Wall -Wextra -Werror -o "$prefix/hello" "$src/examples/hello.c" \
	$(pkg-config --cflags --libs udax) -Wl,-rpath,"$libdir"
"$prefix/hello" "$prefix/hello.pool"
readelf -d "$prefix/hello" | grep -q 'NEEDED.*libudax\.so' ||
	{ echo "hello does not use libudax.so"; exit 1; }

# Static: pkg-config --static, with -ludax asked for as the archive (a
# plain -ludax picks the .so when both are installed).
cc -Wall -Wextra -Werror -o "$prefix/hello-static" "$src/examples/hello.c" \
	$(pkg-config --cflags udax) \
	$(pkg-config --libs --static udax | sed 's/-ludax\b/-l:libudax.a/')
"$prefix/hello-static" "$prefix/hello2.pool"
if readelf -d "$prefix/hello-static" | grep -q 'NEEDED.*libudax'; then
	echo "hello-static still needs libudax.so"
	exit 1
fi

bash "$src/scripts/check-symbols.sh" "$incdir/udax/udax.h" \
	"$src/src/udax.map" "$libdir/libudax.so" "$libdir/libudax.a"

# The man pages: each renders without a warning; every page named by a
# .so alias is there.
mandir=$(find "$prefix" -type d -name man3 -print -quit)
[ -n "$mandir" ] && [ -f "$mandir/udax.3" ] && [ -f "$mandir/../man1/udax.1" ] ||
	{ echo "man pages not installed"; exit 1; }
n=0
for page in "$mandir"/*.3 "$mandir"/../man1/udax.1; do
	if target=$(sed -n 's/^\.so //p' "$page") && [ -n "$target" ]; then
		[ -f "$mandir/../$target" ] ||
			{ echo "$page: no $target"; exit 1; }
		continue
	fi
	if command -v groff >/dev/null; then
		out=$(LC_ALL=C groff -man -ww -z -t "$page" 2>&1)
		[ -z "$out" ] || { echo "$page: $out"; exit 1; }
	fi
	n=$((n + 1))
done
command -v groff >/dev/null || echo "note: no groff, man pages not rendered"
echo "install test: pkg-config from $prefix: shared and static builds of" \
	"examples/hello.c ran; $n man pages"
# libudax-preload.so, installed next to libudax.so, finds it there.
pre=$(pkg-config --variable=libdir udax)/libudax-preload.so
[ -f "$pre" ] || { echo "libudax-preload.so not installed"; exit 1; }
echo "through the installed preload library" >"$prefix/in.txt"
UDAX_POOL=$prefix/pre.pool UDAX_MOUNT=$prefix/mnt UDAX_POOL_SIZE=64M \
	LD_PRELOAD=$pre cp "$prefix/in.txt" "$prefix/mnt/f"
UDAX_POOL=$prefix/pre.pool UDAX_MOUNT=$prefix/mnt \
	LD_PRELOAD=$pre cmp "$prefix/in.txt" "$prefix/mnt/f"
echo "install test: cp and cmp ran through the installed libudax-preload.so"
