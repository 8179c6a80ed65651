/*
 * writeback.pml - WRITEBACK scenario: dax_writeback() of index 1 against
 * a writer that stores to the page and takes write-protect faults
 * (dax_mkwrite), plus a read fault and a get/put_unlocked on the same
 * entry so that the entry lock is contended.
 *
 * Initial state: a block-mapped PTE entry at index 1, tagged DIRTY,
 * mapped writable, with a store not yet flushed (written).
 */

#ifndef NSTORES
#define NSTORES 2
#endif

/*
 * writeback_one() (writeback.c), entry locked by us in slot ws: if still
 * TOWRITE, write-protect (mkclean), flush, then clear TOWRITE and DIRTY
 * (two dax_entry_tag_clear() calls: two idx->lock sections, two steps).
 */
inline writeback_one(ws)
{
	atomic {	/* dax_entry_tag_get under idx->lock */
		if
#ifdef BUG_WB_TOWRITE_FIRST
		/* the old order: TOWRITE cleared at once, before the flush */
		:: (tag[ws] & TOWRITE) != 0 -> tag[ws] = tag[ws] & ~TOWRITE; act = 1
#else
		:: (tag[ws] & TOWRITE) != 0 -> act = 1
#endif
		:: else -> act = 0	/* written back by someone else */
		fi
	}
	if
	:: act == 1 ->
		act = 0;
#if defined(BUG_WB_FLUSH_BEFORE_WP)
		/* flush, and only then write-protect (tags still last) */
		atomic { written = 0; flushed = 1; flushed_upto = nstores };	/* flush */
		atomic { writable = 0 };			/* mkclean */
#elif defined(WB_DIRTY_FIRST)
		/* clear DIRTY first, but write-protect before the flush */
		atomic { tag[ws] = tag[ws] & ~DIRTY };		/* clean */
		atomic { writable = 0 };			/* mkclean */
		atomic { written = 0; flushed = 1; flushed_upto = nstores };	/* flush */
#else
		atomic { writable = 0 };			/* mkclean */
		atomic { written = 0; flushed = 1; flushed_upto = nstores };	/* flush */
#endif
#ifndef BUG_WB_TOWRITE_FIRST
		/* TOWRITE only after the flush: another msync that owes the
		 * page finds it tagged and waits for our entry lock */
		atomic { tag[ws] = tag[ws] & ~TOWRITE };
#endif
#ifndef WB_DIRTY_FIRST
		atomic { tag[ws] = tag[ws] & ~DIRTY };		/* clean, last */
#endif
	:: else
	fi
}

/*
 * dax_writeback(1, 1). Ghost `start`: stores made before this call; at
 * its return they must all be flushed (checked with FSYNC_CHECK).
 */
proctype writeback()
{
	LOCALS;
	byte start;
	atomic {	/* dax_idx_retag(DIRTY -> TOWRITE) under idx->lock */
		start = nstores;
		if
		:: (tag[1] & DIRTY) != 0 -> tag[1] = tag[1] | TOWRITE
		:: else
		fi
	}
	if
	:: (tag[1] & TOWRITE) != 0 ->	/* dax_idx_next_tagged */
		grab(0, 1, 1);
		if
		:: res == OK ->
			writeback_one(s);
			unlock_entry(s, 0)
		:: else
		fi
	:: else
	fi;
#ifdef FSYNC_CHECK
	/* msync/fsync semantics: what was stored before we began is durable */
	assert(flushed_upto >= start);
#endif
	start = 0
}

/*
 * A thread storing NSTORES times to the page through a shared mapping: a
 * store needs a writable mapping; otherwise it takes a write-protect
 * fault, dax_mkwrite(): grab EXISTING, tag DIRTY, make writable, unlock.
 */
proctype writer()
{
	LOCALS;
	byte n;
	do
	:: n == NSTORES -> break
	:: else ->
		if
		:: atomic { writable -> written = 1; n++; nstores++ }	/* the store */
		:: atomic { !writable -> skip };		/* wp fault */
			grab(0, 1, 1);
			if
			:: res == OK ->
				assert((e & (ZERO | EMPTY)) == 0);
				atomic { tag[s] = tag[s] | DIRTY };
				atomic { writable = 1 };
				unlock_entry(s, 0)
			:: else	/* entry gone: retry the access */
			fi
		fi
	od;
	n = 0
}

/* PTE read fault at i (entry is mapped here: just lock and unlock) */
proctype read_fault(byte i)
{
	LOCALS;
	grab(0, i, 0);
	assert(res == OK);
	if
	:: (e & EMPTY) != 0 -> unlock_entry(s, VAL | ZERO)
	:: else -> unlock_entry(s, 0)
	fi
}

/* a thread that waits for the entry to be unlocked, then gives up */
proctype getput(byte i)
{
	LOCALS;
	get_unlocked(i);
	put_unlocked(i)
}

init {
	atomic {
		slot[1] = VAL;
		tag[1] = DIRTY;
		writable = 1;
		written = 1;
		nstores = 1;
		run writeback();	/* pid 1 */
		run writer();		/* pid 2 */
#ifdef WB2
		run writeback();	/* pid 3: a second, concurrent msync */
#else
		run read_fault(1);	/* pid 3 */
		run getput(1);		/* pid 4 */
#endif
		run watchdog()

	}
}
