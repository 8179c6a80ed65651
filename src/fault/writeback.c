/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writeback.c - msync/fsync of a range: flush every dirty entry and make
 * it clean again, without ever leaving a page that was written after its
 * flush with a clean tag (the second problem of the seed's commit
 * message: no race-free way to clear the dirty tag).
 *
 * @f is the file mapping, @cur a cursor on the entry being written back.
 *
 * Two passes, as Linux does. First, under the index lock, every DIRTY
 * entry in the range also gets TOWRITE: the set of entries this call owes
 * a flush is fixed, and entries dirtied later are left for the next call
 * (no livelock against a steady writer). Then for each TOWRITE entry:
 *
 *   lock the entry;
 *   write-protect the page(s) in every region (mkclean);
 *   flush the block(s) to the device;
 *   clear TOWRITE and DIRTY; unlock.
 *
 * The write-protect comes before the flush: a store after mkclean faults
 * into mkwrite, which needs the entry lock, so it tags DIRTY again only
 * after we are done and the page stays dirty for the next writeback; a
 * store before it is covered by the flush. Flushing first would let a
 * store land between flush and write-protect and then be marked clean.
 * Tags are cleared last, under the entry lock; TOWRITE in particular is
 * shared by every writeback in progress (see writeback_one()).
 */
#include <errno.h>

#include "fault.h"
#include "../index/rcu.h"

/* Write back the locked entry @e at @cur, if it is still owed. */
static void writeback_one(struct dax_fmap *f, struct dax_cursor *cur,
			  dax_entry_t e)
{
	uint64_t first = dax_idx_entry_index(cur, e);
	uint64_t nr = (uint64_t)1 << dax_entry_order(e);

	if (!dax_entry_tag_get(&f->m, cur, DAX_TAG_TOWRITE))
		return; /* written back by someone else meanwhile */
	f->vm->mkclean(f->vm_ctx, first, first + nr - 1);
	DAX_HOOK(f, DAX_HOOK_WB_CLEANED, first);
	if (!dax_entry_is_zero(e) && !dax_entry_is_empty(e))
		f->dev->flush(f->dev_ctx, dax_entry_block(e), nr);
	DAX_HOOK(f, DAX_HOOK_WB_FLUSHED, first);
	/*
	 * TOWRITE goes only now, after the flush: a concurrent writeback
	 * that also owes this page finds it still tagged, waits for our
	 * entry lock, and so returns only after the flush (clearing it
	 * first let a second msync return early; found by the SPIN model).
	 */
	dax_entry_tag_clear(&f->m, cur, DAX_TAG_TOWRITE);
	dax_entry_tag_clear(&f->m, cur, DAX_TAG_DIRTY);
	fault_stat(f, writeback);
}

/*
 * dax_writeback() - flush dirty pages [first, last] of @f and
 * write-protect them, so the next store is seen.
 * Context: no entry lock held; takes entry locks one at a time; may sleep.
 * Does not take the fs mmap lock (truncate's deletions wait for the entry
 * lock we hold).
 * Return: 0.
 */
int dax_writeback(struct dax_fmap *f, uint64_t first, uint64_t last)
{
	uint64_t index = first;

	if (first > last)
		return 0;
	pthread_mutex_lock(&f->m.idx.lock);
	dax_idx_retag(&f->m.idx, first, last, DAX_TAG_DIRTY, DAX_TAG_TOWRITE,
		      UINT64_MAX);
	pthread_mutex_unlock(&f->m.idx.lock);
	DAX_HOOK(f, DAX_HOOK_WB_TAGGED, first);

	for (;;) {
		DAX_CURSOR(cur, 0, &f->m.idx, 0);
		uint64_t next;
		dax_entry_t e;
		bool found;

		dax_rcu_read_lock();
		found = dax_idx_next_tagged(&f->m.idx, &index, last,
					    DAX_TAG_TOWRITE);
		dax_rcu_read_unlock();
		if (!found)
			break;
		cur.index = index;
		next = index + 1;
		if (dax_entry_grab(&f->m, &cur, DAX_GRAB_EXISTING, &e) == 0) {
			writeback_one(f, &cur, e);
			next = dax_idx_entry_index(&cur, e) +
			       ((uint64_t)1 << dax_entry_order(e));
			dax_entry_unlock(&f->m, &cur);
		}
		if (next == 0 || next > last || next <= index)
			break;
		index = next;
	}
	return 0;
}
