#!/usr/bin/env bash
# model/run.sh - verify the Promela model of udax's entry locking with SPIN.
#
# Builds every verifier in a temporary directory (JOBS at a time, default
# the number of CPUs), runs the correct model for every property and each
# bug variant (which must be rejected, by the property it breaks), and
# prints one line per run with SPIN's figures. Exits non-zero if the
# correct model fails, or a bug variant is not rejected or is rejected by
# the wrong property. All searches are exhaustive (no bitstate).
#
# Environment: TRAILS=DIR keeps every counterexample in DIR (NAME.trail,
# and NAME.txt, its replay with spin -t -p); JOBS; CC; CFLAGS (default
# -O0: compiling pan costs more than these small searches).
set -e
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/udax-model.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-gcc}
CFLAGS=${CFLAGS:-"-O0"}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
status=0
start=$(date +%s)

command -v spin >/dev/null || { echo "run.sh: spin not found" >&2; exit 2; }

# job NAME KIND "SPIN-DEFINES" PAN-ARGS...: build and run one verifier
# (KIND safety or liveness); leaves pan.out in $tmp/NAME.
# MAIN (default entry_lock.pml) names the model file.
job() {
	local name=$1 kind=$2 defs=$3 d=$tmp/$1 main=${MAIN:-entry_lock.pml}
	shift 3
	mkdir -p "$d"
	cp "$here"/*.pml "$d"/
	cd "$d"
	# shellcheck disable=SC2086
	if ! spin $defs -a "$main" >spin.out 2>&1; then
		cp spin.out pan.out
		return 0
	fi
	if [ "$kind" = safety ]; then
		$CC $CFLAGS -w -DSAFETY -DNOCLAIM -o pan pan.c >cc.out 2>&1
	else
		$CC $CFLAGS -w -DNFAIR=3 -o pan pan.c >cc.out 2>&1
	fi || { cp cc.out pan.out; return 0; }
	./pan "$@" >pan.out 2>&1 || true
	if [ -n "$TRAILS" ] && [ -f "$main.trail" ]; then
		mkdir -p "$TRAILS"
		cp "$main.trail" "$TRAILS/$name.trail"
		# shellcheck disable=SC2086
		spin $defs -t -p -g "$main" >"$TRAILS/$name.txt" 2>&1 || true
	fi
}

names=()
# add NAME KIND "SPIN-DEFINES" PAN-ARGS...: start a job, JOBS at a time
add() {
	names+=("$1")
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
	(job "$@") &
}

SAFE="-m100000"
LIVE="-a -f -A -m500000"	# acceptance cycles, weak fairness, no asserts

# correct model
add faults-safety safety "" $SAFE
add faults-live liveness "" $LIVE
add wb-safety safety "-DSCEN_WB -DFSYNC_CHECK" $SAFE
add wb-live liveness "-DSCEN_WB -DFSYNC_CHECK" $LIVE
add wb2-safety safety "-DSCEN_WB -DWB2 -DFSYNC_CHECK" $SAFE
add wb2-live liveness "-DSCEN_WB -DWB2 -DFSYNC_CHECK" $LIVE
# bug variants: the failing run, and the rest of the properties
for b in REPLACE_WAKE_ONE NO_PASS_ON PMD_WAIT_PTE; do
	n=$(echo "$b" | tr 'A-Z_' 'a-z-')
	add "$n" safety "-DBUG_$b" $SAFE
	add "$n-live" liveness "-DBUG_$b" $LIVE
	add "$n-rest" safety "-DBUG_$b -DNO_LOST_CHECK" -E $SAFE
done
add wb-flush-before-wp safety "-DSCEN_WB -DFSYNC_CHECK -DBUG_WB_FLUSH_BEFORE_WP" $SAFE
add wb-flush-before-wp-rest safety "-DSCEN_WB -DFSYNC_CHECK -DBUG_WB_FLUSH_BEFORE_WP -DNO_DURABLE" $SAFE
add wb-flush-before-wp-live liveness "-DSCEN_WB -DFSYNC_CHECK -DBUG_WB_FLUSH_BEFORE_WP" $LIVE
add wb-towrite-first safety "-DSCEN_WB -DWB2 -DFSYNC_CHECK -DBUG_WB_TOWRITE_FIRST" $SAFE
add wb-towrite-first-rest safety "-DSCEN_WB -DWB2 -DBUG_WB_TOWRITE_FIRST" $SAFE
add wb-towrite-first-live liveness "-DSCEN_WB -DWB2 -DBUG_WB_TOWRITE_FIRST" $LIVE
add wb-towrite-first-one safety "-DSCEN_WB -DFSYNC_CHECK -DBUG_WB_TOWRITE_FIRST" $SAFE
# the zero-span protocol (zero_span.pml)
MAIN=zero_span.pml add zs-safety safety "" $SAFE
for b in BUMP_BEFORE NO_GEN_CHECK LOOK_ZERO_ONLY ZAP_UNLOCKED; do
	MAIN=zero_span.pml add "zs-$(echo "$b" | tr 'A-Z_' 'a-z-')" safety \
		"-DBUG_$b" $SAFE
done
# the leaf cache's pins (leaf_pin.pml)
MAIN=leaf_pin.pml add pin-safety safety "" $SAFE
for b in KILL_IGNORES_PINS PIN_OUTSIDE_RCU UNPIN_NO_FREE; do
	MAIN=leaf_pin.pml add "pin-$(echo "$b" | tr 'A-Z_' 'a-z-')" safety \
		"-DBUG_$b" $SAFE
done
# observations
add wb-dirty-first safety "-DSCEN_WB -DFSYNC_CHECK -DWB_DIRTY_FIRST" $SAFE
add wb2-dirty-first safety "-DSCEN_WB -DWB2 -DFSYNC_CHECK -DWB_DIRTY_FIRST" $SAFE
wait

# get NAME: sets errors, states, trans, why from $tmp/NAME/pan.out
get() {
	local f=$tmp/$1/pan.out
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$f" | tail -1)
	states=$(awk '/states, stored/ { print $1; exit }' "$f")
	trans=$(awk '/transitions \(=/ { print $1; exit }' "$f")
	why=$(grep -m1 -E '^pan:1: ' "$f" | sed 's/^pan:1: //; s/ (at depth [0-9]*)//' || true)
	if [ -z "$errors" ] || [ -z "$states" ]; then
		echo "run.sh: $1 did not run:" >&2
		tail -20 "$f" >&2
		errors=X
		why="no result"
	fi
}
figures() { echo "$states states stored, $trans transitions"; }

# ok NAME LABEL: no error expected
ok() {
	get "$1"
	if [ "$errors" = 0 ]; then
		echo "model ok: $2: $(figures), 0 errors"
	else
		echo "MODEL FAILED: $2: $errors error(s): $why ($(figures))"
		status=1
	fi
}

# rejected NAME LABEL PATTERN: an error matching PATTERN expected
rejected() {
	get "$1"
	if [ "$errors" != 0 ] && [ "$errors" != X ] && echo "$why" | grep -qE "$3"; then
		echo "bug $2: rejected ($why; counterexample found after $(figures))"
	elif [ "$errors" = 0 ]; then
		echo "BUG NOT REJECTED: $2 ($(figures), 0 errors)"
		status=1
	else
		echo "BUG REJECTED FOR THE WRONG REASON: $2: $why ($(figures))"
		status=1
	fi
}

# holds NAME LABEL: for a bug variant, the properties it must not break
holds() {
	get "$1"
	if [ "$errors" = 0 ]; then
		echo "bug $2: other properties hold: $(figures), 0 errors"
	else
		echo "BUG REJECTED FOR THE WRONG REASON: $2: $why ($(figures))"
		status=1
	fi
}

LOST='^assertion violated \(sleepers==0\)$'
CYCLE='^acceptance cycle$'
DURABLE='^assertion violated .*flushed&&written'
FSYNC='^assertion violated \(flushed_upto>=start\)$'

echo "== correct model (as implemented)"
ok faults-safety "faults: safety (mutual exclusion, invalid end states, no waiter left asleep)"
ok faults-live "faults: liveness (ltl nolost, weak fairness)"
ok wb-safety "writeback: safety (+ written after flush => DIRTY, msync flushes what it owes)"
ok wb-live "writeback: liveness (ltl nolost, weak fairness)"
ok wb2-safety "two msyncs + writer: safety (+ durability, each msync flushes what it owes)"
ok wb2-live "two msyncs + writer: liveness (ltl nolost, weak fairness)"

echo "== bug variants (each rejected by the property it breaks, and only by it)"
for n in replace-wake-one no-pass-on pmd-wait-pte; do
	rejected "$n" "$n: safety" "$LOST"
	rejected "$n-live" "$n: liveness" "$CYCLE"
	holds "$n-rest" "$n (mutex, invalid end states except the stuck waiter)"
done
rejected wb-flush-before-wp "wb-flush-before-wp: safety" "$DURABLE"
holds wb-flush-before-wp-rest "wb-flush-before-wp (mutex, end states, no lost wake-up, msync)"
holds wb-flush-before-wp-live "wb-flush-before-wp: liveness"
rejected wb-towrite-first "wb-towrite-first: two msyncs, safety" "$FSYNC"
holds wb-towrite-first-rest "wb-towrite-first: two msyncs (mutex, end states, no lost wake-up, durability)"
holds wb-towrite-first-live "wb-towrite-first: two msyncs, liveness"
holds wb-towrite-first-one "wb-towrite-first: one msync, every property"

echo "== zero spans (zero_span.pml: hole_gen against allocation)"
STALE='^assertion violated .*data&&'
ok zs-safety "zero span vs allocation and write(2): no zero page over data"
for n in bump-before no-gen-check look-zero-only zap-unlocked; do
	rejected "zs-$n" "zs-$n: safety" "$STALE"
done

echo "== leaf-cache pins (leaf_pin.pml: no RCU on the fast path)"
ok pin-safety "pinned leaf never freed, never pinned dead, freed in the end"
rejected pin-kill-ignores-pins "pin-kill-ignores-pins: safety" '^assertion violated  ?!\(freed\)$'
rejected pin-pin-outside-rcu "pin-pin-outside-rcu: safety" 'assertion violated .*pins&4'
rejected pin-unpin-no-free "pin-unpin-no-free: safety (leak)" '^assertion violated freed$'

echo "== observations (do not affect the exit status; see README)"
get wb-dirty-first
echo "note: DIRTY cleared first, write-protect still before the flush, one msync:" \
	"$([ "$errors" = 0 ] && echo "all properties hold" || echo "fails: $why") ($(figures))"
get wb2-dirty-first
echo "note: the same with two msyncs:" \
	"$([ "$errors" = 0 ] && echo "all properties hold" || echo "fails: $why") ($(figures))"

echo "== done in $(($(date +%s) - start)) s: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
