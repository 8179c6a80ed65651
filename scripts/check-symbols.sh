#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-symbols.sh HEADER MAP LIBUDAX.SO LIBUDAX.A - the libraries export
# exactly the calls HEADER declares: every udax_* function declared in
# udax.h is listed in the version script MAP and exported, under MAP's
# version node, by the shared library, and defined globally by the static
# one; neither defines any other global symbol. The shared library also
# shows the version node's own name (an absolute symbol the linker adds,
# `A UDAX_0.1`): that one is expected. A name MAP lists that the header
# does not declare (a call whose work has not landed yet) is a note, not
# a failure: it is not exported, since the linker only versions what is
# defined.
set -euo pipefail
header=$1 map=$2 so=$3 ar=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/udax-syms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0

# The declarations, comments removed by the preprocessor.
${CC:-cc} -E -P -x c "$header" |
	grep -oE '\budax_[a-z0-9_]+[[:space:]]*\(' | sed 's/[[:space:](]//g' |
	sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || { echo "no udax_* declarations in $header"; exit 1; }

# The map's global names and its version node.
node=$(sed 's|/\*.*\*/||' "$map" | grep -oE '^[A-Z][A-Z0-9_.]* *\{' |
	head -1 | tr -d ' {')
sed -e 's|/\*.*||' -e 's|^ \*.*||' "$map" | awk '
	/global:/ { g = 1; next } /local:/ { g = 0 }
	g { gsub(/[ \t;]/, ""); if ($0 != "") print }' | sort -u >"$tmp/map"

# What the libraries define globally.
nm -D --defined-only "$so" | awk '{ print $NF }' | sort -u >"$tmp/so.raw"
nm -g --defined-only "$ar" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/ar"
grep -v '@' "$tmp/so.raw" >"$tmp/so.plain" || true
grep '@' "$tmp/so.raw" | sed 's/@.*//' | sort -u >"$tmp/so"

report() { # report FILE MESSAGE: fail with MESSAGE and the names in FILE
	if [ -s "$1" ]; then
		echo "$2: $(tr '\n' ' ' <"$1")"
		fail=1
	fi
}
comm -23 "$tmp/declared" "$tmp/map" >"$tmp/x"
report "$tmp/x" "declared in udax.h but not in $map"
comm -23 "$tmp/declared" "$tmp/so" >"$tmp/x"
report "$tmp/x" "declared but not exported by $(basename "$so")"
comm -13 "$tmp/declared" "$tmp/so" >"$tmp/x"
report "$tmp/x" "exported by $(basename "$so") but not declared"
grep -vxF "$node" "$tmp/so.plain" >"$tmp/x" || true
report "$tmp/x" "unversioned symbols in $(basename "$so")"
grep '@' "$tmp/so.raw" | grep -v "@@\?$node\$" >"$tmp/x" || true
report "$tmp/x" "symbols outside version $node"
comm -23 "$tmp/declared" "$tmp/ar" >"$tmp/x"
report "$tmp/x" "declared but not defined by $(basename "$ar")"
comm -13 "$tmp/declared" "$tmp/ar" >"$tmp/x"
report "$tmp/x" "global in $(basename "$ar") but not declared"
comm -13 "$tmp/declared" "$tmp/map" >"$tmp/x"
if [ -s "$tmp/x" ]; then
	echo "note: $map lists names udax.h does not declare yet:" \
		"$(tr '\n' ' ' <"$tmp/x")"
fi
[ $fail -eq 0 ] || exit 1
echo "symbols: $(wc -l <"$tmp/declared") calls, each exported as" \
	"$node by $(basename "$so") and global in $(basename "$ar"); nothing else"
