#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-charts.sh DIR - draw PNG charts from the JSON the benchmarks wrote
# into DIR (lockbench.json, faultbench.json, mmapbench.json), with gnuplot:
#   DIR/fault-cost.png   cost of one fault by kind (engine only)
#   DIR/mmap-4k.png      4 KiB first touch with no 2 MiB mappings: udax,
#                        the bare mechanism (SIGSEGV + mmap), the kernel
#   DIR/mmap-seq.png     sequential first touch: 2 MiB mappings, and
#                        stores with no 2 MiB mappings
#   DIR/mmap-threads.png random first-touch loads, 1 and 2 threads
#   DIR/mmap-msync.png   udax_msync of 64, 65,536 contiguous and 4,096
#                        scattered dirty pages
#   DIR/mmap-budget.png  a 4 GiB file under the mapping budget
#   DIR/threads.png      engine and entry lock throughput, 1 and 2
#                        threads
# A chart whose JSON is missing is skipped with a note.
set -euo pipefail
dir=${1:-bench/results}
command -v gnuplot >/dev/null || { echo "bench-charts: gnuplot not installed" >&2; exit 1; }

# get FILE KEY: the number stored under KEY in a flat JSON object.
get() {
	grep -o "\"$2\":[-0-9.eE+]*" "$1" | head -n 1 | cut -d: -f2
}

term='set terminal pngcairo size 900,540 font "DejaVu Sans,11"'

# bars DAT PNG TITLE YLABEL lin|log FMT SERIES...: a clustered bar chart,
# one cluster per line of DAT ("label" v1 v2 ...; "-" for no value), each
# bar labelled with its value in FMT.
bars() {
	local dat=$1 png=$2 title=$3 ylabel=$4 scale=$5 fmt=$6
	shift 6
	local n=$# k=0 w plot="" off c rows
	rows=$(grep -vc '^#' "$dat")
	w=$(awk "BEGIN { print 0.8 / $n }")
	for t in "$@"; do
		# One colour per kind of side, the same in every chart.
		case $t in
		kernel*) c="#c0504d" ;;
		bare*) c="#8c8c8c" ;;
		*budget\ [0-9]*) c="#9bbb59" ;;
		*) c="#3b75af" ;;
		esac
		off=$(awk "BEGIN { print ($k - ($n - 1) / 2) * $w }")
		[ -n "$plot" ] && plot+=", "
		if [ $k -eq 0 ]; then
			plot+="\"$dat\" using (\$0 + $off):$((k + 2)):xtic(1) with boxes lc rgb \"$c\" title \"$t\""
		else
			plot+="\"$dat\" using (\$0 + $off):$((k + 2)) with boxes lc rgb \"$c\" title \"$t\""
		fi
		plot+=", \"\" using (\$0 + $off):$((k + 2)):(sprintf(\"$fmt\", column($((k + 2))))) with labels offset 0,0.7 font \",9\" notitle"
		k=$((k + 1))
	done
	gnuplot <<GP
$term
set output "$png"
set title "$title" noenhanced
set ylabel "$ylabel"
set datafile missing "-"
set style fill solid 0.85 border -1
set boxwidth $w
set grid ytics
set key top left noenhanced
set xrange [-0.6:$rows - 0.4]
set bmargin 4.5
$(if [ "$scale" = log ]; then echo 'set logscale y; set yrange [10:*]; set autoscale yfixmax; set offsets 0,0,graph 0.4,0'; else echo 'set yrange [0:*]; set offsets 0,0,graph 0.3,0'; fi)
plot $plot
GP
}

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
	mib() { echo $(($(get "$mb" "$1") / 1048576)); }
	rnd=$(mib rnd_bytes)
	big=$(mib big_bytes)
	st=$(($(get "$mb" st_pages) * 4 / 1024))
	sst=$(($(get "$mb" seq_store_nohuge_pages) * 4 / 1024))
	cat >"$dir/mmap-4k.dat" <<DAT
# kind udax bare kernel (ns per touch; - where not measured)
"random loads\n$(get "$mb" touches) of $rnd MiB" $(get "$mb" rnd_udax_ns) $(get "$mb" rnd_bare_ns) $(get "$mb" rnd_kernel_ns)
"random loads\nall of $rnd MiB" $(get "$mb" rnd_all_udax_ns) $(get "$mb" rnd_all_bare_ns) $(get "$mb" rnd_all_kernel_ns)
"sequential stores\n$sst MiB" $(get "$mb" seq_store_nohuge_udax_ns) - $(get "$mb" seq_store_nohuge_kernel_ns)
"random stores\n$st MiB" $(get "$mb" store_udax_ns) $(get "$mb" store_bare_ns) $(get "$mb" store_kernel_ns)
"random stores\nallocating, $st MiB" $(get "$mb" store_alloc_udax_ns) - -
DAT
	bars "$dir/mmap-4k.dat" "$dir/mmap-4k.png" \
		"First touch of 4 KiB pages, no 2 MiB mappings possible: udax vs the bare mechanism vs the kernel" \
		"nanoseconds per touch (log scale)" log "%.0f" \
		"udax (SIGSEGV + engine + mmap of the span)" \
		"bare mechanism (own SIGSEGV handler + the same mmap)" \
		"kernel: MAP_SHARED of a tmpfs file"
	cat >"$dir/mmap-seq.dat" <<DAT
# kind udax kernel (ns per page)
"loads, 2 MiB mappings\n$rnd MiB" $(get "$mb" seq_load_udax_ns) $(get "$mb" seq_load_kernel_ns)
"stores, 2 MiB mappings\n$rnd MiB" $(get "$mb" seq_store_udax_ns) $(get "$mb" seq_store_kernel_ns)
"stores, no 2 MiB mappings\n$sst MiB" $(get "$mb" seq_store_nohuge_udax_ns) $(get "$mb" seq_store_nohuge_kernel_ns)
DAT
	bars "$dir/mmap-seq.dat" "$dir/mmap-seq.png" \
		"Sequential first touch, one access per 4 KiB page (udax/kernel, no 2 MiB: $(printf %.2f "$(get "$mb" ratio_seq_store_nohuge_vs_kernel)"); target <= 1.5)" \
		"nanoseconds per page" lin "%.0f" \
		"udax" "kernel: MAP_SHARED of a tmpfs file"
	cat >"$dir/mmap-threads.dat" <<DAT
# threads udax kernel (million touches per second)
"1 thread" $(get "$mb" threads1_udax_mtps) $(get "$mb" threads1_kernel_mtps)
"2 threads" $(get "$mb" threads2_udax_mtps) $(get "$mb" threads2_kernel_mtps)
DAT
	bars "$dir/mmap-threads.dat" "$dir/mmap-threads.png" \
		"Random first-touch loads of one $rnd MiB mapping, each thread its own half: 2/1 = $(printf %.2f "$(get "$mb" ratio_threads_udax)") udax, $(printf %.2f "$(get "$mb" ratio_threads_kernel)") kernel" \
		"million touches per second" lin "%.2f" \
		"udax" "kernel: MAP_SHARED of a tmpfs file"
	cat >"$dir/mmap-msync.dat" <<DAT
# kind us-per-call ns-per-page
"$(get "$mb" msync_small_pages) contiguous" $(awk "BEGIN { print $(get "$mb" msync_small_ns) / 1000 }") $(awk "BEGIN { print $(get "$mb" msync_small_ns) / $(get "$mb" msync_small_pages) }")
"$(get "$mb" msync_large_pages) contiguous" $(awk "BEGIN { print $(get "$mb" msync_large_ns) / 1000 }") $(awk "BEGIN { print $(get "$mb" msync_large_ns) / $(get "$mb" msync_large_pages) }")
"$(get "$mb" msync_scatter_pages) scattered" $(awk "BEGIN { print $(get "$mb" msync_scatter_ns) / 1000 }") $(awk "BEGIN { print $(get "$mb" msync_scatter_ns) / $(get "$mb" msync_scatter_pages) }")
DAT
	gnuplot <<GP
$term
set output "$dir/mmap-msync.png"
set title "udax_msync(MS_SYNC) of dirty pages (no 2 MiB mappings): time large/small = $(printf %.0f "$(get "$mb" ratio_msync_large_vs_small)") (target <= 100)" noenhanced
set ylabel "microseconds per call (log scale)"
set logscale y
set yrange [1:*]
set autoscale yfixmax
set offsets 0.3,0.3,graph 0.15,0
set style fill solid 0.85 border -1
set boxwidth 0.5
set grid ytics
unset key
plot "$dir/mmap-msync.dat" using 0:2:xtic(1) with boxes lc rgb "#3b75af", \
     "" using 0:2:(sprintf("%.1f us, %.0f ns/page", \$2, \$3)) with labels offset 0,0.8 notitle
GP
	cat >"$dir/mmap-budget.dat" <<DAT
# kind kernel udax-default udax-budget (ns per touch)
"$(get "$mb" big_stores) random first stores" $(get "$mb" big_store_kernel_ns) $(get "$mb" big_store_default_udax_ns) $(get "$mb" big_store_budget_udax_ns)
"loads of all $(get "$mb" big_pages) pages, shuffled" $(get "$mb" big_sweep_kernel_ns) $(get "$mb" big_sweep_default_udax_ns) $(get "$mb" big_sweep_budget_udax_ns)
DAT
	bars "$dir/mmap-budget.dat" "$dir/mmap-budget.png" \
		"$big MiB file, no 2 MiB mappings: the mapping budget (reclaim of cold 2 MiB windows)" \
		"nanoseconds per touch (log scale)" log "%.0f" \
		"kernel: MAP_SHARED of a tmpfs file" \
		"udax, default budget ($(get "$mb" map_budget_default))" \
		"udax, budget $(get "$mb" map_budget_small)"
	echo "bench-charts: $dir/mmap-4k.png $dir/mmap-seq.png $dir/mmap-threads.png $dir/mmap-msync.png $dir/mmap-budget.png"
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
