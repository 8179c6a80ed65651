/*
 * zero_span.pml - the hole_gen protocol that keeps a zero span (zero
 * pages mapped by a read fault around its page, without their entry
 * locks: src/vm/pte.c insert_pte, src/fault/pte_fault.c) from showing
 * zeros over a page that got a block and data.
 *
 * One page K of one file, one region A. A Reader is a read fault on
 * another page of A whose span covers K: it reads hole_gen, asks the
 * filesystem (K is a hole), takes A's lock shared, claims K (NONE ->
 * BUSY), checks hole_gen, maps the zero page (ZERO) or gives K back. An
 * Allocator gives K a block (a write fault, pwrite or fallocate: the fs
 * publishes the block), bumps hole_gen, then zaps the zero pages of K:
 * a lock-free look at A's page state (anything but NONE: go on), then
 * A's lock exclusive, ZERO -> NONE. A Writer is a second write(2) that
 * finds K's block already there: it bumps and zaps the same way. Each
 * then stores data into the block (through another region, or the copy
 * of write(2)). The property: never data in K's block while A shows the
 * zero page at K (the stale zero page, Linux's t_mmap_stale_pmd).
 *
 * SPIN's interleaving semantics are sequential consistency: the code
 * makes the claim, the hole_gen loads and bump, and the lock-free look
 * sequentially consistent atomics for that reason.
 *
 * Bug variants (run.sh: each must be rejected by the assertion):
 *   BUG_BUMP_BEFORE     hole_gen bumped before the block is published
 *                       (udax's first cut)
 *   BUG_NO_GEN_CHECK    the span maps without checking hole_gen
 *   BUG_LOOK_ZERO_ONLY  the lock-free look skips BUSY pages
 *   BUG_ZAP_UNLOCKED    the zap does not wait for inserts in flight
 */

#define NONE 0
#define BUSY 1
#define ZERO 2
#define WRITER_LOCK 255

byte gen = 0;
bool block = false;	/* K has a block */
bool data = false;	/* non-zero data in K's block */
byte state = NONE;	/* A's page state of K */
byte rlock = 0;		/* A's lock: readers, or WRITER_LOCK */

active proctype Reader()
{
	byte seen;

	seen = gen;
	if
	:: block -> goto done	/* the fs says mapped: a block span */
	:: else -> skip
	fi;
	atomic { rlock != WRITER_LOCK -> rlock++ };
	atomic {
		if
		:: state == NONE -> state = BUSY
		:: else -> rlock--; goto done
		fi
	};
#ifndef BUG_NO_GEN_CHECK
	if
	:: gen != seen -> state = NONE; goto unlock
	:: else -> skip
	fi;
#endif
	state = ZERO;
unlock:
	rlock--;
done:
	skip
}

/* Zap the zero page of K from A, as vm_zap with DAX_ZAP_ZERO does. */
inline zap_zero()
{
#ifdef BUG_LOOK_ZERO_ONLY
	if
	:: state == ZERO -> skip
	:: else -> goto zapped
	fi;
#else
	if
	:: state != NONE -> skip
	:: else -> goto zapped
	fi;
#endif
#ifndef BUG_ZAP_UNLOCKED
	atomic { rlock == 0 -> rlock = WRITER_LOCK };
#endif
	if
	:: state == ZERO -> state = NONE
	:: else -> skip
	fi;
#ifndef BUG_ZAP_UNLOCKED
	rlock = 0;
#endif
zapped:
	skip
}

active proctype Allocator()
{
#ifdef BUG_BUMP_BEFORE
	gen++;
	block = true;
#else
	block = true;
	gen++;
#endif
	zap_zero();
	data = true
}

active proctype Writer()
{
	block;			/* its iomap finds the block */
	gen++;
	zap_zero();
	data = true
}

/* Checked in every reachable state. */
active proctype Monitor()
{
	assert(!(data && state == ZERO))
}
