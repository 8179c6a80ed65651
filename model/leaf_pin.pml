/*
 * leaf_pin.pml - the leaf cache's pins (src/index/index.c, struct
 * dax_leaf_cache in index.h): the entry lock's fast path reads and
 * compare-and-swaps a slot of a thread's cached leaf with no RCU section,
 * so a cached leaf must never be freed while it is cached, and every
 * leaf must still be freed in the end.
 *
 * One leaf L. Two Readers each find L by a walk inside a read-side
 * critical section and pin it (cache it), leave the section, use L any
 * number of times with no protection but the pin (the fast path), and
 * unpin it (the cache moves on, or the thread exits). An Eraser unlinks L
 * (it is empty) under the index lock, waits for a grace period (every
 * read-side section that could have seen L linked has ended) and kills
 * it: DEAD is or-ed into the pin word and L is freed if no pin was there.
 * An unpin that takes the word from DEAD|1 to DEAD frees L. The pin word
 * is one atomic: each RMW is one atomic step here.
 *
 * Properties: L is never used or freed after it was freed, never pinned
 * once dead, and it is freed once everybody is done (no leak).
 *
 * Bug variants (run.sh: each must be rejected by an assertion):
 *   BUG_KILL_IGNORES_PINS  the kill frees L whatever its pins
 *   BUG_PIN_OUTSIDE_RCU    a reader pins L after leaving its read-side
 *                          section (the walk's result is then stale)
 *   BUG_UNPIN_NO_FREE      the last unpin of a dead leaf does not free it
 */

#define DEAD 4	/* above any pin count of two readers */

bool linked = true;
byte pins = 0;		/* count | DEAD */
bool freed = false;
byte in_cs = 0;		/* readers inside a read-side critical section */
byte done = 0;

inline use()
{
	assert(!freed)
}

inline free_it()
{
	assert(!freed);
	freed = true
}

proctype Reader()
{
	bool found = false;

	atomic { in_cs++ };
	if
	:: linked -> found = true	/* the walk reaches L */
	:: else -> skip
	fi;
#ifdef BUG_PIN_OUTSIDE_RCU
	atomic { in_cs-- };
#endif
	if
	:: found ->
		atomic { assert(!freed && (pins & DEAD) == 0); pins++ }
	:: else -> skip
	fi;
#ifndef BUG_PIN_OUTSIDE_RCU
	atomic { in_cs-- };
#endif
	if
	:: found ->
		do
		:: use()	/* fast path: a load and a CAS in L */
		:: break
		od;
		atomic {
			assert(!freed);
			pins--;
#ifndef BUG_UNPIN_NO_FREE
			if
			:: pins == DEAD -> free_it()
			:: else -> skip
			fi
#endif
		}
	:: else -> skip
	fi;
	atomic { done++ }
}

active proctype Eraser()
{
	linked = false;		/* erase the last entry: unlink L */
	in_cs == 0;		/* the grace period (call_rcu) */
	atomic {
#ifdef BUG_KILL_IGNORES_PINS
		pins = pins | DEAD;
		free_it()
#else
		if
		:: pins == 0 -> pins = DEAD; free_it()
		:: else -> pins = pins | DEAD
		fi
#endif
	};
	atomic { done++ }
}

init
{
	atomic { run Reader(); run Reader() };
	done == 3;
	assert(freed)	/* no leak */
}
