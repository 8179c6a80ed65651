/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * entry_lock.h - entry locks: the protocol of the seed ("dax: New fault
 * locking"), with what Linux fs/dax.c learned after it.
 *
 * @m is a struct dax_mapping (an entry index plus what the lock layer
 * needs), @cur a cursor on it, @e an entry value. Functions that take a
 * locked entry expect the @cur that locked it (its slot is stable while
 * the entry is locked).
 *
 * Synchronisation table. "yes": may run concurrently on the same entry;
 * "excl": the entry lock serialises them; "idx": serialised by the index
 * lock (short, never held while sleeping).
 *
 *                   load  get_unl  grab  unlock  update  replace delete tag
 *   load (RCU)      yes   yes      yes   yes     yes     yes     yes    yes
 *   get_unlocked    yes   yes      yes   yes     yes     yes     yes    yes
 *   grab/lock       yes   yes      excl  excl    excl    excl    excl   excl
 *   tag set/clear   yes   yes      excl  excl    excl    excl    excl   idx
 *
 * Only the holder of an entry lock may update, replace, delete or tag
 * it; unlocked entries are inserted (EMPTY and locked) and erased only
 * under the index lock. Wake-ups:
 *   - unlock and put_unlocked wake the NEXT waiter on the entry's key;
 *   - replace and delete wake ALL waiters (their entry is gone or changed
 *     shape, so each must look up again);
 *   - WAITERS in the entry is set by a waiter (under its bucket lock,
 *     after queueing itself) and cleared by a waker that saw no waiter left
 *     for the key (under the same bucket lock): an unlock that finds it
 *     clear takes no bucket lock at all.
 *
 * Lock order: entry lock -> index lock; entry lock -> bucket lock; index
 * lock -> bucket lock is never taken (wake-ups happen after the index
 * lock is dropped). A thread sleeps on an entry only while it holds no
 * entry lock; holding one, it may take more only with DAX_GRAB_NOWAIT
 * (writeback batches neighbours that way), so no cycle can form.
 */
#ifndef UDAX_LOCK_ENTRY_LOCK_H
#define UDAX_LOCK_ENTRY_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../index/index.h"
#include "wait.h"

struct dax_mapping;

/*
 * Called with a ZERO or EMPTY PMD entry locked, just before a PTE grab
 * erases it to put 4 KiB entries in its place: the owner removes any
 * mapping of the huge zero page there. May sleep; holds no other lock.
 * Return: 0, or -errno if it could not (the grab then fails with it and
 * the PMD entry stays).
 */
typedef int (*dax_pmd_downgrade_fn)(struct dax_mapping *m, uint64_t index,
				    dax_entry_t entry);

struct dax_lock_stats {
	atomic_ulong waits;	 /* times a thread slept on an entry */
	atomic_ulong wakeups;	 /* waiters woken */
	atomic_ulong conflicts;	 /* PMD grabs refused: smaller entries */
	atomic_ulong downgrades; /* ZERO/EMPTY PMD entries split for PTEs */
	atomic_ulong inserts;	 /* EMPTY locked entries inserted */
};

struct dax_mapping {
	struct dax_index idx;
	dax_pmd_downgrade_fn pmd_downgrade;
	void *private;
	struct dax_lock_stats stats;
};

/* Flags for dax_entry_grab(). */
#define DAX_GRAB_EXISTING 0x1 /* lock the existing entry as is: no insert,
			      * no PMD downgrade */
#define DAX_GRAB_NOWAIT 0x2   /* locked by someone else: -EBUSY, no sleep
			      * (lets a holder of one entry lock try more,
			      * in ascending order, without deadlock) */

int dax_mapping_init(struct dax_mapping *m);
void dax_mapping_destroy(struct dax_mapping *m);

dax_entry_t dax_entry_get_unlocked(struct dax_mapping *m,
				   struct dax_cursor *cur);
void dax_entry_put_unlocked(struct dax_mapping *m, struct dax_cursor *cur);
int dax_entry_grab(struct dax_mapping *m, struct dax_cursor *cur,
		   unsigned int flags, dax_entry_t *entryp);
void dax_entry_unlock(struct dax_mapping *m, struct dax_cursor *cur);
dax_entry_t dax_entry_update(struct dax_mapping *m, struct dax_cursor *cur,
			     dax_entry_t entry);
void dax_entry_replace(struct dax_mapping *m, struct dax_cursor *cur,
		       dax_entry_t entry);
void dax_entry_delete_locked(struct dax_mapping *m, struct dax_cursor *cur);
int dax_entry_delete(struct dax_mapping *m, uint64_t index);
int dax_entry_invalidate(struct dax_mapping *m, uint64_t index);
void dax_entry_tag_set(struct dax_mapping *m, struct dax_cursor *cur,
		       enum dax_tag tag);
void dax_entry_tag_clear(struct dax_mapping *m, struct dax_cursor *cur,
			 enum dax_tag tag);
bool dax_entry_tag_get(struct dax_mapping *m, struct dax_cursor *cur,
		       enum dax_tag tag);

/* The key a waiter on the entry @e found by @cur sleeps on. */
static inline uint64_t dax_entry_key(const struct dax_cursor *cur,
				     dax_entry_t e)
{
	return dax_idx_entry_index(cur, e);
}

#endif /* UDAX_LOCK_ENTRY_LOCK_H */
