# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_env.sh - sourced by the preload_*.sh tests: `preload_setup LIB`
# makes a private directory ($pl_dir, removed at exit) with a host
# directory ($pl_host), a pool file ($UDAX_POOL, created on first use, in
# /dev/shm when there is one) and a mount path that does not exist on the
# host ($UDAX_MOUNT); `pl CMD...` runs CMD with LD_PRELOAD=LIB.
#
# A sanitizer-built library needs its runtime loaded first: ASan's is put
# ahead of LIB in LD_PRELOAD, and leak reports of the (uninstrumented)
# programs run are turned off. ThreadSanitizer's goes first too: its
# start-up (the symbolizer's allocator) calls mmap, which would otherwise
# land in the instrumented library before the runtime has a thread to
# record it for, and crash; with it first, its interceptors call the
# library's wrappers as the next definition (and the library exports the
# __fxstat names its fstat interceptor calls).

preload_setup() {
	pl_lib=$1
	local base=/dev/shm
	[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
	pl_dir=$(mktemp -d "$base/udax-preload.XXXXXX") || exit 1
	trap 'rm -rf "$pl_dir"' EXIT
	pl_host=$pl_dir/host
	mkdir "$pl_host"
	export UDAX_POOL=$pl_dir/pool
	export UDAX_MOUNT=$pl_dir/mnt
	export UDAX_POOL_SIZE=${UDAX_POOL_SIZE:-1G}
	pl_preload=$pl_lib
	local asan tsan
	asan=$(ldd "$pl_lib" 2>/dev/null | awk '/libasan/ { print $3 }')
	tsan=$(ldd "$pl_lib" 2>/dev/null | awk '/libtsan/ { print $3 }')
	if [ -n "$asan" ]; then
		pl_preload="$asan $pl_lib"
		export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
	elif [ -n "$tsan" ]; then
		pl_preload="$tsan $pl_lib"
	fi
}

pl() {
	LD_PRELOAD="$pl_preload" "$@"
}

# need PROGRAM PACKAGE: make sure PROGRAM exists (installing PACKAGE the
# way the build's other dependencies are), or skip the test.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	local here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	"$here/scripts/install-deps.sh" "$2" >&2 || true
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "SKIP: $1 (package $2) cannot be installed"
		exit 77
	fi
}

# pl_no_late_lookups CMD... - run CMD like pl, and fail if the library
# looked a symbol up after the program started (every real libc function
# is found by its constructor: a lookup later, dlsym, may allocate, and a
# wrapper can run in a signal handler). The dynamic linker reports each
# lookup (LD_DEBUG=bindings; LD_BIND_NOW=1 so that lazy binding does not
# look like one); CMD's own stderr lines are passed on.
pl_no_late_lookups() {
	local log=$pl_dir/lookups.log rc late
	LD_BIND_NOW=1 LD_DEBUG=bindings,files pl "$@" 2>"$log"
	rc=$?
	grep -Ev '^ *[0-9]+:' "$log" >&2
	late=$(awk '/transferring control:/ { go = 1 }
		go && /binding file [^ ]*libudax-preload[^ ]* / { print }' "$log")
	rm -f "$log"
	if [ -n "$late" ]; then
		echo "FAIL: symbols looked up after start:"
		printf '%s\n' "$late" | sed 's/.*symbol/  symbol/' | sort | uniq -c
		return 1
	fi
	return $rc
}
