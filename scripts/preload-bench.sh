#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload-bench.sh LIB [OUT.json] - fio through libudax-preload.so against
# the kernel: the same jobs (thread=1, 2 jobs of 256 MiB files, 4 KiB
# blocks, ioengine psync and mmap; sequential and random reads and
# writes) run on pool files and on a tmpfs directory, and the
# udax/kernel throughput ratio of each printed. Every job lays its files
# out first and has a ramp (warm-up) time before it is measured: for mmap
# that is the faults that map the pages in.
# Memory bandwidth on a small shared machine drifts by tens of percent
# from one second to the next, so one pair of runs says little: each job
# runs REPS times on each side, the sides alternating (udax, tmpfs, udax,
# ...), so that the two runs of a pair see the same machine. The ratio
# printed is the median of the pairs' ratios, with their range beside it;
# the throughputs are the medians of each side.
# Environment: REPS (default 5), RUNTIME (seconds measured per job,
# default 3), RAMP (default 2), SIZE (default 256m), DIR (for the pool and
# the tmpfs files, default /dev/shm).
set -euo pipefail
lib=$(readlink -f "$1")
out=${2:-}
reps=${REPS:-5}
runtime=${RUNTIME:-3}
ramp=${RAMP:-2}
size=${SIZE:-256m}
base=${DIR:-/dev/shm}
command -v fio >/dev/null || { echo "preload-bench: fio is missing" >&2; exit 1; }
work=$(mktemp -d "$base/udax-pbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmpfs"
export UDAX_POOL=$work/pool UDAX_MOUNT=$work/mnt UDAX_POOL_SIZE=2G

# bw ENGINE RW DIR [preload]: MiB/s of one job group
bw() {
	local eng=$1 rw=$2 dir=$3 pre=${4:-}
	local line
	line=$(LD_PRELOAD=$pre fio --name="b$eng" --directory="$dir" \
		--ioengine="$eng" --thread=1 --numjobs=2 --rw="$rw" --bs=4k \
		--size="$size" --time_based=1 --runtime="$runtime" \
		--ramp_time="$ramp" --group_reporting \
		--output-format=terse --terse-version=3 2>/dev/null | tail -1)
	# terse v3: field 5 error, 7 read KiB/s, 48 write KiB/s
	awk -F';' -v rw="$rw" '{
		if ($5 != 0) { print "error"; exit }
		kib = (rw ~ /write/) ? $48 : $7
		printf "%.1f\n", kib / 1024 }' <<<"$line"
}

# median of the numbers on stdin ("n/a" if any is an error)
median() {
	sort -g | awk '/error/ { e = 1 } { v[NR] = $1 }
		END { if (e || NR == 0) print "n/a";
		      else if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '%-6s %-10s %12s %12s %7s  %s\n' engine rw "udax MiB/s" "tmpfs MiB/s" \
	ratio "(pairs: min-max)"
json="["
for eng in psync mmap; do
	for rw in read randread write randwrite; do
		us=() ks=() rs=()
		for ((i = 0; i < reps; i++)); do
			us+=("$(bw "$eng" "$rw" "$UDAX_MOUNT" "$lib")")
			ks+=("$(bw "$eng" "$rw" "$work/tmpfs")")
			rs+=("$(awk -v u="${us[i]}" -v k="${ks[i]}" 'BEGIN {
				if (u == "error" || k == "error" || k == 0) print "error";
				else printf "%.2f", u / k }')")
		done
		u=$(printf '%s\n' "${us[@]}" | median)
		k=$(printf '%s\n' "${ks[@]}" | median)
		r=$(printf '%s\n' "${rs[@]}" | median)
		range=$(printf '%s\n' "${rs[@]}" | sort -g | awk '/error/ { e = 1 }
			NR == 1 { lo = $1 } { hi = $1 }
			END { if (e) print "error"; else print lo "-" hi }')
		printf '%-6s %-10s %12s %12s %7s  %s\n' "$eng" "$rw" "$u" "$k" "$r" "$range"
		json+="$([ "$json" = "[" ] || echo ,){\"engine\":\"$eng\",\"rw\":\"$rw\",\"udax_mib_s\":\"$u\",\"tmpfs_mib_s\":\"$k\",\"ratio\":\"$r\",\"pair_ratios\":\"${rs[*]}\"}"
	done
	# Each engine's jobs reuse their files; the next engine starts afresh.
	LD_PRELOAD=$lib rm -f "$UDAX_MOUNT/b$eng.0.0" "$UDAX_MOUNT/b$eng.1.0"
	rm -f "$work/tmpfs/"*
done
json+="]"
echo "(fio $(fio --version), $size x2 files, ${ramp}s warm-up + ${runtime}s per job, $reps alternating pairs, median ratio; pool and tmpfs files in $base; load $(cut -d" " -f1-3 /proc/loadavg))"
[ -z "$out" ] || printf '%s\n' "$json" >"$out"
