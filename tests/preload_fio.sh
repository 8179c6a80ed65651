#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_fio.sh LIB [SIZE] - fio on pool files: ioengine=psync and
# ioengine=mmap, thread=1, 2 jobs, sequential and random writes then
# reads, verify=crc32c; every verification must pass. SIZE is each job's
# file (default 256m, as the issue asks: about 10 s in a release build,
# a minute under ASan, on 2 cores).
set -u
. "$(dirname "$0")/preload_env.sh"
size=${2:-256m}
export UDAX_POOL_SIZE=2G
preload_setup "$1"
need fio fio
fail=0

job() { # job ENGINE RW: one fio run, 2 threads, each on its own file
	local eng=$1 rw=$2 out
	out=$(pl fio --name="$eng" --directory="$UDAX_MOUNT" \
		--ioengine="$eng" --thread=1 --numjobs=2 --rw="$rw" \
		--bs=4k --size="$size" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --verify_state_save=0 --randrepeat=1 \
		--group_reporting \
		--output-format=terse --terse-version=3 2>&1)
	local st=$? errs
	errs=$(printf '%s\n' "$out" | awk -F';' 'NF > 10 { print $5 }')
	if [ $st -ne 0 ] || [ "$errs" != 0 ]; then
		echo "FAIL fio $eng $rw (exit $st, error '$errs'):"
		printf '%s\n' "$out" | head -20
		fail=1
	else
		echo "ok   fio ioengine=$eng rw=$rw size=$size x2 verify=crc32c"
	fi
}

for eng in psync mmap; do
	# Writes lay down checksummed blocks and read them back; the read
	# jobs then check every block of the same files again.
	job "$eng" write
	job "$eng" read
	job "$eng" randwrite
	job "$eng" randread
	job "$eng" randrw
	pl ls -l "$UDAX_MOUNT"
	pl rm -f "$UDAX_MOUNT/$eng.0.0" "$UDAX_MOUNT/$eng.1.0"
done
exit $fail
