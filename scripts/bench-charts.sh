#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-charts.sh DIR - draw PNG charts from the JSON the benchmarks wrote
# into DIR (lockbench.json, faultbench.json, mmapbench.json), with gnuplot:
#   DIR/fault-cost.png   cost of one fault by kind (engine only)
#   DIR/mmap-4k.png      4 KiB first-touch faults: udax, the bare
#                        mechanism (SIGSEGV + mmap), the kernel's own
#   DIR/mmap-seq.png     sequential first touch of a large file
#   DIR/threads.png      throughput with 1 and 2 threads
# A chart whose JSON is missing is skipped with a note.
set -euo pipefail
dir=${1:-bench/results}
command -v gnuplot >/dev/null || { echo "bench-charts: gnuplot not installed" >&2; exit 1; }

# get FILE KEY: the number stored under KEY in a flat JSON object.
get() {
	grep -o "\"$2\":[-0-9.eE+]*" "$1" | head -n 1 | cut -d: -f2
}

term='set terminal pngcairo size 900,540 font "DejaVu Sans,11"'
style='set style data histogram; set style histogram clustered gap 1; set style fill solid 0.85 border -1; set boxwidth 0.9; set grid ytics; set key top left'

fb=$dir/faultbench.json
if [ -f "$fb" ]; then
	cat >"$dir/fault-cost.dat" <<DAT
"read, mapped block" $(get "$fb" read_fault_ns)
"read, hole (zero page)" $(get "$fb" hole_fault_ns)
"read, new hole" $(get "$fb" hole_fresh_fault_ns)
"write, allocates" $(get "$fb" write_alloc_ns)
"write, dirty page" $(get "$fb" write_mapped_ns)
"mkwrite" $(get "$fb" mkwrite_ns)
"2 MiB read" $(get "$fb" pmd_fault_ns)
"2 MiB write, allocates" $(get "$fb" pmd_write_alloc_ns)
"fs + VM calls alone" $(get "$fb" fs_vm_only_ns)
DAT
	gnuplot <<GP
$term
set output "$dir/fault-cost.png"
set title "udax fault engine: cost of one fault by kind (in-memory fs and VM, no MMU)"
set ylabel "nanoseconds per fault (best run)"
set style fill solid 0.85 border -1
set boxwidth 0.7
set grid ytics
set yrange [0:*]
set offsets 0,0,graph 0.1,0
set xtics rotate by -30 left
unset key
plot "$dir/fault-cost.dat" using 0:2:xtic(1) with boxes lc rgb "#3b75af", \
     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.7 notitle
GP
	echo "bench-charts: $dir/fault-cost.png"
else
	echo "bench-charts: no $fb, skipping fault-cost.png"
fi

mb=$dir/mmapbench.json
if [ -f "$mb" ]; then
	cat >"$dir/mmap-4k.dat" <<DAT
# kind udax bare kernel
"4 KiB read fault" $(get "$mb" udax_read_4k_ns) $(get "$mb" bare_read_4k_ns) $(get "$mb" kernel_read_4k_ns)
"4 KiB write fault" $(get "$mb" udax_write_4k_ns) $(get "$mb" bare_write_4k_ns) $(get "$mb" kernel_write_4k_ns)
DAT
	gnuplot <<GP
$term
set output "$dir/mmap-4k.png"
set title "First touch of random 4 KiB pages: udax vs the bare mechanism vs the kernel"
set ylabel "nanoseconds per fault"
set yrange [0:*]
set offsets 0,0,graph 0.1,0
$style
plot "$dir/mmap-4k.dat" using 2:xtic(1) title "udax (SIGSEGV + engine + mmap)", \
     "" using 3 title "bare mechanism (SIGSEGV + mmap)", \
     "" using 4 title "kernel mmap of a tmpfs file"
GP
	cat >"$dir/mmap-seq.dat" <<DAT
# kind value
"udax" $(get "$mb" seq_1g_udax_ms)
"kernel (tmpfs)" $(get "$mb" seq_1g_kernel_ms)
DAT
	gnuplot <<GP
$term
set output "$dir/mmap-seq.png"
set title "Sequential first touch of a fully allocated file (one access per 4 KiB page)"
set ylabel "milliseconds for the whole file"
set style fill solid 0.85 border -1
set boxwidth 0.5
set grid ytics
set yrange [0:*]
set offsets 0,0,graph 0.1,0
unset key
plot "$dir/mmap-seq.dat" using 0:2:xtic(1) with boxes lc rgb "#c0504d", \
     "" using 0:2:(sprintf("%.1f ms", \$2)) with labels offset 0,0.7 notitle
GP
	echo "bench-charts: $dir/mmap-4k.png $dir/mmap-seq.png"
else
	echo "bench-charts: no $mb, skipping mmap charts"
fi

lb=$dir/lockbench.json
if [ -f "$lb" ] && [ -f "$fb" ]; then
	cat >"$dir/threads.dat" <<DAT
# threads grab fault control
1 $(get "$lb" threads1_mops) $(get "$fb" threads1_mops) $(get "$lb" control_mutex_threads1_mops)
2 $(get "$lb" threads2_mops) $(get "$fb" threads2_mops) $(get "$lb" control_mutex_threads2_mops)
DAT
	gnuplot <<GP
$term
set output "$dir/threads.png"
set title "Throughput with 1 and 2 threads on one mapping (2-core machine)"
set xlabel "threads"
set ylabel "million operations per second"
set xrange [0.8:2.2]
set xtics 1
set yrange [0:*]
set offsets 0,0,graph 0.1,0
set grid
set key top left
plot "$dir/threads.dat" using 1:2 with linespoints lw 2 pt 7 title "entry grab+unlock, distinct indexes", \
     "" using 1:3 with linespoints lw 2 pt 5 title "4 KiB read faults (engine), distinct pages", \
     "" using 1:4 with linespoints lw 2 pt 9 dt 2 title "control: a private mutex per thread"
GP
	echo "bench-charts: $dir/threads.png"
fi
