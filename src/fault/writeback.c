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
#include <stdlib.h>

#include "fault_priv.h"
#include "../index/rcu.h"

/*
 * Writeback works in batches: the first owed entry is locked (waiting if
 * need be), then the entries that follow it without a gap are added while
 * they are owed too and can be locked at once (DAX_GRAB_NOWAIT: holding
 * one entry lock we may not sleep on another). One mkclean covers the
 * batch and one flush each run of contiguous blocks in it, so the system
 * calls grow with the number of dirty runs, not of pages.
 */
#define WB_BATCH 512	 /* a 2 MiB window of 4 KiB entries */
#define WB_BATCH_SMALL 16 /* on the stack, if the big one cannot be had */

struct wb_batch {
	unsigned int nr, max;
	uint64_t first, next;	/* file pages [first, next) */
	struct wb_slot {
		struct dax_cursor cur;
		dax_entry_t e;
	} s[];
};

/* Flush the blocks of the batch, one call per contiguous run. */
static void wb_flush(struct dax_fmap *f, struct wb_batch *b)
{
	uint64_t start = 0, nr = 0;

	for (unsigned int i = 0; i < b->nr; i++) {
		dax_entry_t e = b->s[i].e;
		uint64_t n = (uint64_t)1 << dax_entry_order(e);

		if (dax_entry_is_zero(e) || dax_entry_is_empty(e))
			continue;
		if (nr && dax_entry_block(e) == start + nr) {
			nr += n;
			continue;
		}
		if (nr)
			f->dev->flush(f->dev_ctx, start, nr);
		start = dax_entry_block(e);
		nr = n;
	}
	if (nr)
		f->dev->flush(f->dev_ctx, start, nr);
}

/*
 * Write back the locked entries of @b: write-protect them in every region,
 * flush, then clear their tags. If the write-protect fails, some page may
 * still be writable: its tags stay (the next writeback tries again) and
 * the error is returned.
 */
static int wb_batch_run(struct dax_fmap *f, struct wb_batch *b)
{
	int err;

	err = f->vm->mkclean(f->vm_ctx, b->first, b->next - 1);
	if (err)
		return err;
	DAX_HOOK(f, DAX_HOOK_WB_CLEANED, b->first);
	wb_flush(f, b);
	DAX_HOOK(f, DAX_HOOK_WB_FLUSHED, b->first);
	/*
	 * TOWRITE goes only now, after the flush: a concurrent writeback
	 * that also owes these pages finds them still tagged, waits for our
	 * entry locks, and so returns only after the flush (clearing it
	 * first let a second msync return early; found by the SPIN model).
	 */
	pthread_mutex_lock(&f->m.idx.lock);
	for (unsigned int i = 0; i < b->nr; i++) {
		dax_idx_tag_clear(&b->s[i].cur, DAX_TAG_TOWRITE);
		dax_idx_tag_clear(&b->s[i].cur, DAX_TAG_DIRTY);
	}
	pthread_mutex_unlock(&f->m.idx.lock);
	for (unsigned int i = 0; i < b->nr; i++)
		fault_stat(f, writeback);
	return 0;
}

/*
 * Lock the entry at @index into @b if it is still owed (TOWRITE) and
 * continues @b without a gap; with @wait sleep for it. Return: true if
 * it was added.
 */
static bool wb_batch_add(struct dax_fmap *f, struct wb_batch *b,
			 uint64_t index, bool wait)
{
	struct dax_cursor *cur = &b->s[b->nr].cur;
	dax_entry_t e;

	dax_cursor_set(cur, index, 0);
	if (dax_entry_grab(&f->m, cur,
			   DAX_GRAB_EXISTING | (wait ? 0 : DAX_GRAB_NOWAIT),
			   &e))
		return false;
	/*
	 * A peek, without the index lock, is enough: seen clear, the entry
	 * was written back meanwhile (a writeback that tags it again after
	 * this owes it itself); seen set, at worst one flush too many.
	 */
	if (!dax_idx_tag_get(cur, DAX_TAG_TOWRITE) ||
	    (b->nr && dax_idx_entry_index(cur, e) != b->next)) {
		/* Written back by someone else meanwhile, or not adjacent. */
		if (!b->nr)
			b->next = dax_idx_entry_index(cur, e) +
				  ((uint64_t)1 << dax_entry_order(e));
		dax_entry_unlock(&f->m, cur);
		return false;
	}
	if (!b->nr)
		b->first = dax_idx_entry_index(cur, e);
	b->s[b->nr++].e = e;
	b->next = dax_idx_entry_index(cur, e) +
		  ((uint64_t)1 << dax_entry_order(e));
	return true;
}

/*
 * dax_writeback() - flush dirty pages [first, last] of @f and
 * write-protect them, so the next store is seen.
 * Context: no entry lock held; takes entry locks in ascending order (the
 * first of each batch may sleep); may sleep. Does not take the fs mmap
 * lock (truncate's deletions wait for the entry locks we hold).
 * Return: 0, or -ENOMEM if some page could not be write-protected: those
 * pages stay DIRTY (nothing is lost; a later writeback retries them).
 */
int dax_writeback(struct dax_fmap *f, uint64_t first, uint64_t last)
{
	char small[sizeof(struct wb_batch) +
		   WB_BATCH_SMALL * sizeof(struct wb_slot)]
		__attribute__((aligned(16)));
	struct wb_batch *b;
	uint64_t index = first;
	int err = 0;

	if (first > last)
		return 0;
	b = malloc(sizeof(*b) + WB_BATCH * sizeof(b->s[0]));
	if (b) {
		b->max = WB_BATCH;
	} else {
		b = (struct wb_batch *)small;
		b->max = WB_BATCH_SMALL;
	}
	for (unsigned int i = 0; i < b->max; i++)
		b->s[i].cur = (struct dax_cursor){ .idx = &f->m.idx };
	pthread_mutex_lock(&f->m.idx.lock);
	dax_idx_retag(&f->m.idx, first, last, DAX_TAG_DIRTY, DAX_TAG_TOWRITE,
		      UINT64_MAX);
	pthread_mutex_unlock(&f->m.idx.lock);
	DAX_HOOK(f, DAX_HOOK_WB_TAGGED, first);

	for (;;) {
		bool found;

		dax_rcu_read_lock();
		found = dax_idx_next_tagged(&f->m.idx, &index, last,
					    DAX_TAG_TOWRITE);
		dax_rcu_read_unlock();
		if (!found)
			break;
		b->nr = 0;
		b->next = index + 1;
		if (wb_batch_add(f, b, index, true)) {
			while (b->nr < b->max && b->next - 1 < last &&
			       b->next != 0 &&
			       wb_batch_add(f, b, b->next, false))
				;
			if (wb_batch_run(f, b))
				err = -ENOMEM;
			for (unsigned int i = 0; i < b->nr; i++)
				dax_entry_unlock(&f->m, &b->s[i].cur);
		}
		if (b->next == 0 || b->next > last || b->next <= index)
			break;
		index = b->next;
	}
	if (b != (struct wb_batch *)small)
		free(b);
	return err;
}
