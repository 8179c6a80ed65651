/*
 * entry_lock.pml - Promela model of udax's DAX entry locking, as
 * implemented in src/lock/entry_lock.c and src/lock/wait.c (after Jan
 * Kara's "dax: New fault locking"), with the fault users of
 * src/fault/pte_fault.c, pmd_fault.c and writeback.c reduced to their
 * locking skeleton. See model/README.md for every abstraction.
 *
 * Two PTE indexes, 0 and 1, and one PMD entry position (index 0) that
 * covers both. Keys: PTE i -> i, PMD -> 0 (its aligned index; it collides
 * with PTE 0 just as in the implementation). One wait bucket for all.
 *
 * Scenarios (pick one with -D):
 *   (default)     FAULTS (faults.pml): PMD read fault at 0, PTE read
 *                 and write faults at 0, PTE write fault at 1 (hole fill
 *                 of a ZERO entry = replace), delete at 1,
 *                 get_unlocked + put_unlocked at 1.
 *   SCEN_WB       WRITEBACK (writeback.pml): msync of index 1 vs a
 *                 writer (stores + mkwrite), plus a read fault and a
 *                 get/put at 1; with WB2: two msyncs and the writer.
 *
 * Bug variants (each must be rejected):
 *   BUG_REPLACE_WAKE_ONE   dax_entry_replace() wakes only one waiter
 *   BUG_NO_PASS_ON         put_unlocked() does not pass the wake-up on
 *   BUG_PMD_WAIT_PTE       a PMD grab over a locked PTE entry sleeps on
 *                          it keyed at the PMD index, instead of -EEXIST
 *   BUG_WB_FLUSH_BEFORE_WP writeback flushes before write-protecting
 *                          (tags still cleared last)
 *   BUG_WB_TOWRITE_FIRST   writeback clears TOWRITE before the flush (the
 *                          order writeback.c had until the model found
 *                          it; rejected by FSYNC_CHECK with WB2)
 * Properties and observations (see README):
 *   FSYNC_CHECK            an msync returns only after flushing every
 *                          store made before it began
 *   WB_DIRTY_FIRST         writeback clears DIRTY first, but still
 *                          write-protects before flushing (passes)
 */

/* ---- entry word bits (src/index/entry.h) ---- */
#define VAL	1	/* DAX_ENTRY_VALUE */
#define LK	2	/* DAX_ENTRY_LOCKED */
#define WT	4	/* DAX_ENTRY_WAITERS */
#define PMDB	8	/* DAX_ENTRY_PMD */
#define ZERO	16	/* DAX_ENTRY_ZERO */
#define EMPTY	32	/* DAX_ENTRY_EMPTY */
/* a value with neither ZERO nor EMPTY maps a block */

/* ---- tags ---- */
#define DIRTY	1
#define TOWRITE	2

/* ---- slots: canonical slot of each possible entry ---- */
#define PMDS	2	/* the PMD entry at index 0, covers indexes 0 and 1 */
#define NONE	3	/* no slot / NULL */
#define KEY(s)	((s) == 1 -> 1 : 0)	/* dax_entry_key(): PMD keyed at 0 */

/* ---- results and local actions ---- */
#define OK	0
#define EEXIST	1
#define ENOENT	2
#define RNONE	3
#define A_SLEEP	1
#define A_DOWNGRADE 2
#define A_INSERT 3
#define A_DONE	4
#define A_WAKE	5

#define NEXT	0
#define ALL	1

#ifdef BUG_REPLACE_WAKE_ONE
#define REPLACE_WAKE NEXT
#else
#define REPLACE_WAKE ALL
#endif

#if defined(SCEN_WB) && defined(WB2)
#define NWORK	3
#elif defined(SCEN_WB)
#define NWORK	4
#else
#define NWORK	6
#endif
/*
 * NO_LOST_CHECK: drop the watchdog's lost-wake-up assertion and
 * NO_DURABLE the durability assertions; run.sh uses them (with pan -E) to
 * show that a bug variant breaks only the property it is meant to break.
 */
#define NPROC	(NWORK + 2)	/* + init (pid 0) + watchdog */
#define NQ	NWORK

#include "wait.pml"

byte slot[3];		/* slot words: 0 = nothing, else a value entry */
byte tag[3];		/* per-slot tags, DIRTY | TOWRITE */
byte holder[3];		/* ghost: pid + 1 holding the entry in slot s */
byte cover[3];		/* ghost: entry locks held that cover index 0 / 1 ([2] unused) */
/* writeback scenario: the one page at index 1 */
bit writable;		/* some mapping of the page is writable */
bit written;		/* stored to since the last flush */
bit flushed;		/* a flush happened */
byte nstores;		/* ghost: stores made so far */
byte flushed_upto;	/* ghost: stores made before the last flush */

#define LOCALS byte s, e, res, old, act; bit cf, more

/* ---- mutual exclusion ghost ---- */
inline own(os)
{
	assert(holder[os] == 0);
	holder[os] = _pid + 1;
	if
	:: os == PMDS -> cover[0]++; cover[1]++
	:: else -> cover[os]++
	fi;
	assert(cover[0] <= 1 && cover[1] <= 1)	/* MUTEX */
}

inline disown(os)
{
	assert(holder[os] == _pid + 1);
	holder[os] = 0;
	if
	:: os == PMDS -> cover[0]--; cover[1]--
	:: else -> cover[os]--
	fi
}

/*
 * dax_idx_load(): the entry covering index i (ord 0), or the PMD entry
 * at 0 (ord 1), with conflict if smaller entries are in its range.
 * Sets s (slot or NONE) and cf.
 */
inline lookup(ord, i)
{
	cf = 0;
	if
	:: slot[PMDS] != 0 -> s = PMDS
	:: else ->
		if
		:: ord == 0 ->
			if
			:: slot[i] != 0 -> s = i
			:: else -> s = NONE
			fi
		:: else ->
			s = NONE;
			if
			:: slot[0] != 0 || slot[1] != 0 -> cf = 1
			:: else
			fi
		fi
	fi
}

/* would a grab/get_unlocked of (ord, i) go to sleep right now? */
#define PTE_WOULD_WAIT(i) \
	((slot[PMDS] != 0 && (slot[PMDS] & LK) != 0) || \
	 (slot[PMDS] == 0 && (slot[i] & LK) != 0))
#ifdef BUG_PMD_WAIT_PTE
#define PMD_WOULD_WAIT \
	((slot[PMDS] & LK) != 0 || \
	 (slot[PMDS] == 0 && ((slot[0] | slot[1]) & LK) != 0))
#else
#define PMD_WOULD_WAIT ((slot[PMDS] & LK) != 0)
#endif
#define WOULD_WAIT(ord, i) ((ord) == 0 -> PTE_WOULD_WAIT(i) : PMD_WOULD_WAIT)

/*
 * wake_key(): bucket lock, wake NEXT/ALL waiters for @key; if none is
 * left, clear WAITERS from the value now in slot @ws (unless NONE).
 * Step 1 is acquire + queue work + futex stores (a right mover followed
 * by left movers), step 2 is the CAS on the slot + release.
 */
inline wake_key(ws, key, all)
{
	atomic {
		bl == 0 -> bl = _pid + 1;
		wake_locked(key, all, more);
		if
		:: ws == NONE -> more = 0; bl = 0
		:: else
		fi
	}
	if
	:: ws != NONE ->
		atomic {
			if
			:: !more && (slot[ws] & WT) -> slot[ws] = slot[ws] & ~WT
			:: else
			fi;
			more = 0;
			bl = 0
		}
	:: else
	fi
}

/*
 * wait_unlocked(), first half, for the entry in slot s (seen locked):
 * bucket lock held (the caller's step required bl == 0), enqueue, CAS
 * WAITERS onto the locked value, drop the bucket lock. The caller then
 * sleeps.
 */
inline wait_enqueue(ws, key)
{
	enqueue(key);
	slot[ws] = slot[ws] | WT;
	act = A_SLEEP
}

/* insert_empty(): under idx->lock; fails (-EEXIST) if the range is used */
inline insert_empty(ord, i)
{
	atomic {
		if
		:: ord == 0 && slot[PMDS] == 0 && slot[i] == 0 ->
			s = i;
			slot[s] = VAL | LK | EMPTY;
			tag[s] = 0;
			e = slot[s];
			own(s);
			res = OK
		:: ord != 0 && slot[PMDS] == 0 && slot[0] == 0 && slot[1] == 0 ->
			s = PMDS;
			slot[s] = VAL | LK | EMPTY | PMDB;
			tag[s] = 0;
			e = slot[s];
			own(s);
			res = OK
		:: else -> skip	/* lost the insert race: look again */
		fi
	}
}

/* erase_locked(): under idx->lock exchange the slot with 0; wake all. */
inline erase_locked(es)
{
	atomic {
		old = slot[es];
		assert((old & LK) != 0);
		slot[es] = 0;
		tag[es] = 0;
		disown(es)
	}
	if
	:: (old & WT) != 0 -> old = 0; wake_key(NONE, KEY(es), ALL)
	:: else -> old = 0
	fi
}

/*
 * dax_entry_grab(ord, i, existing): on return res is OK (s, e: the
 * locked entry), EEXIST (PMD conflict) or ENOENT (existing, none).
 */
inline grab(ord, i, existing)
{
	res = RNONE;
	do
	:: res != RNONE -> break
	:: else ->
		atomic {
			(bl == 0 || !WOULD_WAIT(ord, i)) ->
			lookup(ord, i);
			if
#ifdef BUG_PMD_WAIT_PTE
			:: cf && (slot[1] & LK) != 0 -> s = 1; wait_enqueue(1, 0)
			:: cf && (slot[0] & LK) != 0 -> s = 0; wait_enqueue(0, 0)
			:: cf && ((slot[0] | slot[1]) & LK) == 0 -> res = EEXIST
#else
			:: cf -> res = EEXIST	/* never sleep on a PTE key */
#endif
			:: !cf && s != NONE && (slot[s] & LK) == 0 ->
				slot[s] = slot[s] | LK;	/* CAS */
				e = slot[s];
				own(s);
				if
				:: ord == 0 && !existing && s == PMDS &&
				   (e & (ZERO | EMPTY)) != 0 -> act = A_DOWNGRADE
				:: else -> res = OK
				fi
			:: !cf && s != NONE && (slot[s] & LK) != 0 ->
				wait_enqueue(s, KEY(s))
			:: !cf && s == NONE && existing -> res = ENOENT
			:: !cf && s == NONE && !existing -> act = A_INSERT
			fi
		}
		if
		:: act == A_SLEEP -> act = 0; sleep_until_woken()
		:: act == A_DOWNGRADE ->
			/* pmd_downgrade callback (no effect here), erase */
			act = 0;
			erase_locked(PMDS)
		:: act == A_INSERT -> act = 0; insert_empty(ord, i)
		:: act == 0 -> skip
		fi
	od
}

/*
 * dax_entry_unlock(): fetch_and(~LOCKED); wake next if WAITERS was set.
 * If nv != 0, a dax_entry_update() to nv is folded into the same step
 * (nobody but the holder reads the kind bits of a locked entry).
 */
inline unlock_entry(us, nv)
{
	atomic {
		old = slot[us];
		assert((old & LK) != 0 && holder[us] == _pid + 1);
		if
		:: nv != 0 -> slot[us] = nv | (old & WT)
		:: else -> slot[us] = old & ~LK
		fi;
		disown(us)
	}
	if
	:: (old & WT) != 0 -> old = 0; wake_key(us, KEY(us), NEXT)
	:: else -> old = 0
	fi
}

/* dax_entry_replace(): exchange in an unlocked value; wake all */
inline replace_entry(us, v)
{
	atomic {
		old = slot[us];
		assert((old & LK) != 0);
		slot[us] = v;
		disown(us)
	}
	if
	:: (old & WT) != 0 -> old = 0; wake_key(us, KEY(us), REPLACE_WAKE)
	:: else -> old = 0
	fi
}

/* dax_entry_get_unlocked() at PTE index i: e is the entry seen, or 0 */
inline get_unlocked(i)
{
	do
	:: atomic {
		(bl == 0 || !PTE_WOULD_WAIT(i)) ->
		lookup(0, i);
		if
		:: s != NONE && (slot[s] & LK) != 0 -> wait_enqueue(s, KEY(s))
		:: else ->
			if
			:: s == NONE -> e = 0
			:: else -> e = slot[s]
			fi;
			act = A_DONE
		fi
	   }
	   if
	   :: act == A_SLEEP -> act = 0; sleep_until_woken()
	   :: act == A_DONE -> act = 0; break
	   fi
	od
}

/* dax_entry_put_unlocked() at PTE index i */
inline put_unlocked(i)
{
#ifdef BUG_NO_PASS_ON
	skip	/* the wake-up this thread may have used up is lost */
#else
	atomic {
		lookup(0, i);
		if
		:: s != NONE && (slot[s] & WT) != 0 && (slot[s] & LK) == 0 ->
			act = A_WAKE
		:: else -> s = NONE
		fi
	}
	if
	:: act == A_WAKE -> act = 0; wake_key(s, KEY(s), NEXT)
	:: else
	fi
#endif
}

/* checks once nothing can run any more (every worker has finished) */
inline final_check()
{
	assert(qlen == 0);
	assert(holder[0] == 0 && holder[1] == 0 && holder[PMDS] == 0);
	assert((slot[0] & LK) == 0 && (slot[1] & LK) == 0 &&
	       (slot[PMDS] & LK) == 0);
#if defined(SCEN_WB) && !defined(NO_DURABLE)
	/* a page written after its flush is never left clean */
	assert(!(flushed && written) || (tag[1] & DIRTY) != 0);
	/* stronger: any store not yet flushed is tagged DIRTY */
	assert(!written || (tag[1] & DIRTY) != 0);
	/* and a writable mapping is always of a DIRTY entry */
	assert(!writable || (tag[1] & DIRTY) != 0)
#else
	skip
#endif
}

#ifndef SCEN_WB
#include "faults.pml"
#else
#include "writeback.pml"
#endif

/*
 * A waiter left asleep when nothing else can run: a lost wake-up. (Any
 * other global block is reported by pan as an invalid end state.)
 */
proctype watchdog()
{
	timeout ->
	if
	:: sleepers == 0 -> final_check()
	:: else ->
#ifndef NO_LOST_CHECK
		assert(sleepers == 0)	/* LOST WAKE-UP */
#else
		skip	/* (pan -E: the stuck sleeper is not reported) */
#endif
	fi
}

/*
 * No lost wake-up, as liveness: every process that sleeps is eventually
 * woken (checked with pan -a -f; a stuck waiter is an acceptance cycle
 * through the stutter extension of the final state).
 */
#define SLEEPS(p) ((sleepers & (1 << (p))) != 0)
ltl nolost {
	[] ((SLEEPS(1) -> <> !SLEEPS(1)) && (SLEEPS(2) -> <> !SLEEPS(2)) &&
	    (SLEEPS(3) -> <> !SLEEPS(3)) && (SLEEPS(4) -> <> !SLEEPS(4)) &&
	    (SLEEPS(5) -> <> !SLEEPS(5)) && (SLEEPS(6) -> <> !SLEEPS(6)))
}
