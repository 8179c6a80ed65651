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
# the throughputs are the medians of each side. Even so, on 2 shared
# cores one pair's ratio spreads with a standard deviation of about 0.3
# (log ratio, tmpfs against tmpfs, 60 pairs of mmap reads, 2026-12):
# a median of 5 pairs moves by about 0.17 from run to run, of 9 by 0.12.
# Beside it: the same median for throughput per CPU second of the job's
# threads (fio's usr+sys, per thread): CPU time another process takes
# from fio's threads cancels out of it (not the memory bandwidth it
# takes), but it would hide time a side spends asleep (locks); and the
# median of fio's minor page faults in the measured phase (after the
# ramp; "minf"), each side's.
# Environment: REPS (default 9), RUNTIME (seconds measured per job,
# default 2), RAMP (default 1: the first pass of an mmap job over its
# 512 MiB, every fault included, takes 0.06-0.3 s here), SIZE (default 256m), DIR (for the pool and
# the tmpfs files, default /dev/shm), ONLY (the jobs to run, as
# ENGINE:RW words, e.g. "mmap:read"; default all 8), SIDES (the two sides
# of a pair, numerator first: default "udax tmpfs"; "tmpfs tmpfs" or
# "udax udax" measure the noise floor, what the ratio of two identical
# sides spreads over on this machine).
set -euo pipefail
lib=$(readlink -f "$1")
out=${2:-}
reps=${REPS:-9}
runtime=${RUNTIME:-2}
ramp=${RAMP:-1}
size=${SIZE:-256m}
base=${DIR:-/dev/shm}
only=${ONLY:-}
read -r side_a side_b <<<"${SIDES:-udax tmpfs}"
for s in "$side_a" "$side_b"; do
	case $s in
	udax | tmpfs) ;;
	*) echo "preload-bench: SIDES: udax or tmpfs, twice" >&2; exit 2 ;;
	esac
done
command -v fio >/dev/null || { echo "preload-bench: fio is missing" >&2; exit 1; }
work=$(mktemp -d "$base/udax-pbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmpfs"
export UDAX_POOL=$work/pool UDAX_MOUNT=$work/mnt UDAX_POOL_SIZE=2G

# bw ENGINE RW SIDE: "MiB/s minor-faults MiB/CPU-s" of one job group
bw() {
	local eng=$1 rw=$2 dir=$work/tmpfs pre=
	local line
	[ "$3" = tmpfs ] || { dir=$UDAX_MOUNT; pre=$lib; }
	line=$(LD_PRELOAD=$pre fio --name="b$eng" --directory="$dir" \
		--ioengine="$eng" --thread=1 --numjobs=2 --rw="$rw" --bs=4k \
		--size="$size" --time_based=1 --runtime="$runtime" \
		--ramp_time="$ramp" --group_reporting \
		--output-format=terse --terse-version=3 2>/dev/null | tail -1)
	# terse v3: field 5 error, 7 read KiB/s, 48 write KiB/s, 88 and 89
	# usr and sys CPU (% of the runtime, per thread), 92 minor faults
	# (getrusage over the measured phase)
	awk -F';' -v rw="$rw" '{
		if ($5 != 0) { print "error error error"; exit }
		kib = (rw ~ /write/) ? $48 : $7
		cpu = ($88 + $89) / 100
		printf "%.1f %d %s\n", kib / 1024, $92,
			(cpu > 0 ? sprintf("%.1f", kib / 1024 / cpu) : "error") }
		END { if (NR == 0) print "error error error" }' <<<"$line"
}

# median of the numbers on stdin ("n/a" if any is an error)
median() {
	sort -g | awk '/error/ { e = 1 } { v[NR] = $1 }
		END { if (e || NR == 0) print "n/a";
		      else if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio ARRAY-A ARRAY-B: the pairs' ratios, one a line
ratios() {
	local -n a=$1 b=$2
	for ((n = 0; n < ${#a[@]}; n++)); do
		awk -v u="${a[n]}" -v k="${b[n]}" 'BEGIN {
			if (u == "error" || k == "error" || k == 0) print "error";
			else printf "%.2f\n", u / k }'
	done
}

# min-max of the numbers on stdin
range() {
	sort -g | awk '/error/ { e = 1 } NR == 1 { lo = $1 } { hi = $1 }
		END { if (e) print "error"; else print lo "-" hi }'
}

printf '%-6s %-10s %12s %12s %7s  %-12s %8s  %-12s %s\n' engine rw \
	"$side_a MiB/s" "$side_b MiB/s" ratio "(pairs)" "per-CPU" "(pairs)" \
	"minflt"
load0=$(cut -d" " -f1-3 /proc/loadavg)
ka=${side_a}_mib_s kb=${side_b}_mib_s
[ "$side_a" != "$side_b" ] || { ka=${side_a}_a_mib_s kb=${side_b}_b_mib_s; }
json="["
for eng in psync mmap; do
	for rw in read randread write randwrite; do
		[ -z "$only" ] || [[ " $only " == *" $eng:$rw "* ]] || continue
		us=() ks=() uf=() kf=() uc=() kc=()
		for ((i = 0; i < reps; i++)); do
			read -r u f c < <(bw "$eng" "$rw" "$side_a")
			us+=("$u") uf+=("$f") uc+=("$c")
			read -r k f c < <(bw "$eng" "$rw" "$side_b")
			ks+=("$k") kf+=("$f") kc+=("$c")
		done
		mapfile -t rs < <(ratios us ks)
		mapfile -t cs < <(ratios uc kc)
		u=$(printf '%s\n' "${us[@]}" | median)
		k=$(printf '%s\n' "${ks[@]}" | median)
		r=$(printf '%s\n' "${rs[@]}" | median)
		c=$(printf '%s\n' "${cs[@]}" | median)
		fl="$(printf '%s\n' "${uf[@]}" | median)/$(printf '%s\n' "${kf[@]}" | median)"
		printf '%-6s %-10s %12s %12s %7s  %-12s %8s  %-12s %s\n' "$eng" \
			"$rw" "$u" "$k" "$r" "$(printf '%s\n' "${rs[@]}" | range)" \
			"$c" "$(printf '%s\n' "${cs[@]}" | range)" "$fl"
		json+="$([ "$json" = "[" ] || echo ,){\"engine\":\"$eng\",\"rw\":\"$rw\",\"sides\":\"$side_a/$side_b\",\"$ka\":\"$u\",\"$kb\":\"$k\",\"ratio\":\"$r\",\"pair_ratios\":\"${rs[*]}\",\"cpu_ratio\":\"$c\",\"pair_cpu_ratios\":\"${cs[*]}\",\"minflt\":\"$fl\"}"
	done
	# Each engine's jobs reuse their files; the next engine starts afresh.
	LD_PRELOAD=$lib rm -f "$UDAX_MOUNT/b$eng.0.0" "$UDAX_MOUNT/b$eng.1.0"
	rm -f "$work/tmpfs/"*
done
json+="]"
echo "(fio $(fio --version), $size x2 files, ${ramp}s warm-up + ${runtime}s per job, $reps alternating pairs $side_a/$side_b, median ratios; minflt: measured-phase minor faults, median per side; pool and tmpfs files in $base; load $load0 at start, $(cut -d" " -f1-3 /proc/loadavg) at end)"
[ -z "$out" ] || printf '%s\n' "$json" >"$out"
