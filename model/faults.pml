/*
 * faults.pml - FAULTS scenario: the lock protocol under PTE and PMD
 * faults, hole fill (replace), delete and get/put_unlocked.
 *
 * Initial index: a ZERO entry at PTE index 1 (a hole read earlier),
 * nothing at 0, no PMD entry.
 */

/* PMD read fault at 0 (pmd_fault.c): -EEXIST falls back (not modelled) */
proctype pmd_fault()
{
	LOCALS;
	grab(1, 0, 0);
	if
	:: res == OK ->
		if
		:: (e & EMPTY) != 0 -> unlock_entry(s, VAL | PMDB | ZERO)
		:: else -> unlock_entry(s, 0)
		fi
	:: else	/* conflict: smaller entries in the range */
	fi
}

/* PTE read fault at index i: a hole gets a ZERO entry */
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

/*
 * PTE write fault at index i: EMPTY -> block (update + unlock); ZERO ->
 * hole fill (replace, wakes all); a mapped entry is just unlocked.
 */
proctype write_fault(byte i)
{
	LOCALS;
	grab(0, i, 0);
	assert(res == OK);
	if
	:: (e & ZERO) != 0 -> replace_entry(s, VAL)
	:: (e & EMPTY) != 0 -> unlock_entry(s, VAL)
	:: else -> unlock_entry(s, 0)
	fi
}

/* dax_entry_delete(i): grab EXISTING, erase (wake all); none is fine */
proctype deleter(byte i)
{
	LOCALS;
	grab(0, i, 1);
	if
	:: res == OK -> erase_locked(s)
	:: else -> assert(res == ENOENT)
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
		slot[1] = VAL | ZERO;
		run pmd_fault();	/* pid 1 */
		run read_fault(0);	/* pid 2 */
		run write_fault(1);	/* pid 3 */
		run write_fault(0);	/* pid 4 */
		run deleter(1);		/* pid 5 */
		run getput(1);		/* pid 6 */
		run watchdog()		/* pid 7 */
	}
}
