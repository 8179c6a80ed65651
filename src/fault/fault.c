/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault.c - the entry point the VM calls for a fault of either size, and
 * the step both sizes share once their entry is locked and the filesystem
 * has answered (the kernel's dax_fault_iter()): a hole gets a zero entry;
 * blocks fill a hole or update the entry; a store tags it DIRTY (and, in
 * a MAP_SYNC region, commits metadata first); then the VM maps it.
 *
 * @f is the file mapping, @s the fault step (fault_priv.h), @e an entry,
 * @wa the extra entries a sequential writer locks (write-around).
 *
 * The seed's rule: lock the entry *before* asking the filesystem. A read
 * fault and a write fault on one hole then run one after the other: the
 * write allocates and maps the block, and the read finds it mapped; or
 * the read maps the zero page first and the write replaces it (hole fill)
 * by zapping it everywhere, so no region keeps showing stale zeros.
 *
 * Dirty tracking: a page is mapped writable only after its entry is
 * tagged DIRTY (under the entry lock); writeback clears DIRTY only after
 * write-protecting the page everywhere, under the same lock.
 */
#include <errno.h>

#include "fault_priv.h"
#include "../util/compiler.h"

/*
 * dax_fault() - resolve a fault at @vmf, trying a 2 MiB mapping first
 * when @order is DAX_PMD_ORDER (the VM asks only when the aligned 2 MiB
 * around the address lies inside the region), else or on fallback 4 KiB.
 * Context: as dax_pte_fault().
 * Return: DAX_FAULT_* bits (never FALLBACK).
 */
int dax_fault(struct dax_fmap *f, const struct dax_vmf *vmf,
	      unsigned int order)
{
	if (order == DAX_PMD_ORDER) {
		int ret = dax_pmd_fault(f, vmf);

		if (!(ret & DAX_FAULT_FALLBACK))
			return ret;
	}
	return dax_pte_fault(f, vmf);
}

/*
 * dax_fault_begin() - ask the filesystem about @nr pages from @s->index
 * (iomap_begin with DAX_IOMAP_FAULT | @flags) into @s->map. Reads
 * hole_gen first, for a zero span built from the answer (see
 * dax_fmap.hole_gen); bumps it after an iomap that may allocate.
 * Context: @s->cur locked; may sleep.
 * Return: 0 or -errno (nothing to end).
 */
int dax_fault_begin(struct dax_fmap *f, struct dax_fault_step *s,
		    uint64_t nr, unsigned int flags)
{
	int err;

	s->span.gen = &f->hole_gen;
	s->span.gen_seen = atomic_load_explicit(&f->hole_gen,
					       memory_order_seq_cst);
	err = f->fs->iomap_begin(f->file, s->index, nr,
				 DAX_IOMAP_FAULT | flags, &s->map);
	if (err)
		return err;
	if (flags & DAX_IOMAP_WRITE)
		dax_fmap_hole_gen_bump(f);
	DAX_HOOK(f, DAX_HOOK_FAULT_MAPPED, s->vmf->index);
	if (!s->order) {
		/* The span: the extent, cut at EOF (the VM cuts it to the
		 * region). */
		s->span.first = s->map.index;
		s->span.last = s->map.index + s->map.nr - 1;
		if (s->span.last >= s->pages)
			s->span.last = s->pages - 1;
		s->span.block = s->map.block;
	}
	return 0;
}

/*
 * dax_fault_put_entry() - give up the entry after a fault: an entry still
 * EMPTY maps nothing and is erased (so an error leaves nothing half-made;
 * a PMD placeholder must not outlive us either, PTE faults would split
 * it); an entry whose identity changed from the zero page to a block
 * wakes all its waiters; any other is unlocked, waking the next.
 */
void dax_fault_put_entry(struct dax_fmap *f, struct dax_fault_step *s)
{
	if (dax_entry_is_empty(s->e))
		dax_entry_delete_locked(&f->m, s->cur);
	else if (s->filled)
		dax_entry_replace(&f->m, s->cur, s->e);
	else
		dax_entry_unlock(&f->m, s->cur);
}

/* A hole: the (huge) zero page, read-only, in a ZERO entry. */
static int fault_hole(struct dax_fmap *f, struct dax_fault_step *s)
{
	dax_entry_t pmd = s->order ? DAX_ENTRY_PMD : 0;
	dax_entry_t e = s->e;
	int err;

	/* A write got no block, or fs and index disagree. */
	if (s->write || !(dax_entry_is_zero(e) || dax_entry_is_empty(e)))
		return -EIO;
	if (!dax_entry_is_zero(e))
		s->e = dax_entry_update(&f->m, s->cur,
					dax_mk_entry(0, DAX_ENTRY_ZERO | pmd));
	err = f->vm->insert(f->vm_ctx, s->vmf->region, s->index, s->order, 0,
			    DAX_VM_ZERO, s->order ? NULL : &s->span);
	fault_stat(f, hole);
	return err;
}

/*
 * Make the entry say @block (the block of @s->index): hole fill of a ZERO
 * entry, a placeholder getting its block, or an entry the filesystem
 * moved. A 4 KiB fault under a PMD entry keeps it (and maps its 4 KiB).
 * Return: 0 or -errno.
 */
static int fault_set_block(struct dax_fmap *f, struct dax_fault_step *s,
			   uint64_t block)
{
	dax_entry_t e = s->e;
	bool zero = dax_entry_is_zero(e), zap;
	int err;

	if (!s->order && dax_entry_is_pmd(e)) {
		uint64_t pidx = s->index & DAX_PMD_MASK;

		return dax_entry_block(e) + (s->index - pidx) == block ? 0
								       : -EIO;
	}
	if (!zero && !dax_entry_is_empty(e) && dax_entry_block(e) == block)
		return 0;
	/*
	 * Hole fill (a ZERO entry), or a page getting its block entry: a
	 * zero span may have put the zero page here without an entry while
	 * it was a hole (and the zap of whoever allocated may have failed).
	 * Nobody may keep it once the page has a block entry: later faults
	 * and mkwrite zap only for ZERO entries. A PMD fault zaps for a
	 * store only (its blocks are new to a range that 4 KiB zero spans of
	 * other regions may show), as it always has.
	 */
	zap = zero || (s->order ? s->write : dax_entry_is_empty(e));
	if (zap) {
		err = f->vm->zap(f->vm_ctx, s->index,
				 s->index + ((uint64_t)1 << s->order) - 1,
				 zero ? DAX_ZAP_SHARED : DAX_ZAP_ZERO);
		if (err)
			return err; /* still ZERO: the next fill zaps */
	}
	if (zero) {
		s->filled = true;
		fault_stat(f, hole_fill);
	}
	s->e = dax_entry_update(&f->m, s->cur,
				dax_mk_entry(block,
					     s->order ? DAX_ENTRY_PMD : 0));
	return 0;
}

/*
 * Mark the locked entry dirty before a writable mapping of it exists; for
 * a synchronous fault whose mapping changed metadata, commit that first.
 * Return: 0 or -errno.
 */
static int fault_dirty(struct dax_fmap *f, struct dax_fault_step *s)
{
	if (s->sync && (s->map.flags & DAX_IOMAP_F_DIRTY)) {
		int err = f->fs->sync(f->file);

		fault_stat(f, sync);
		if (err)
			return err;
	}
	dax_entry_tag_set(&f->m, s->cur, DAX_TAG_DIRTY);
	return 0;
}

/*
 * Write-around. A store fault where the region's last write fault ended
 * (DAX_VMF_SEQ: a sequential writer, as the VM sees it) also makes the next
 * DAX_WRITE_AROUND - 1 pages, as far as they continue the run of blocks
 * (and the file): one signal then serves DAX_WRITE_AROUND pages, as
 * the kernel's fault-around does for reads. Each such page must be DIRTY
 * before it is writable, so its entry is locked (without sleeping: we
 * hold one already, so only DAX_GRAB_NOWAIT, in ascending order), set to
 * its block and tagged. Random stores (no DIRTY neighbour) stay 4 KiB, so
 * writeback flushes no more than was written.
 */
#define DAX_WRITE_AROUND 16

struct write_around {
	unsigned int nr;
	struct dax_cursor cur[DAX_WRITE_AROUND - 1];
};

/*
 * Lock, fill and tag DIRTY the next pages after @index that continue its
 * block run (@map covers it); stop at the first that cannot be had at
 * once. Return: the last page of the write span.
 */
static uint64_t write_around_lock(struct dax_fmap *f, struct write_around *wa,
				  uint64_t index, uint64_t block,
				  const struct dax_iomap *map, uint64_t pages)
{
	uint64_t end = index + DAX_WRITE_AROUND - 1, k;

	if (end > map->index + map->nr - 1)
		end = map->index + map->nr - 1;
	if (end > pages - 1)
		end = pages - 1;
	wa->nr = 0;
	for (k = index + 1; k <= end; k++) {
		struct dax_cursor *cur = &wa->cur[wa->nr];
		uint64_t b = block + (k - index);
		dax_entry_t e;

		*cur = (struct dax_cursor){ .idx = &f->m.idx, .index = k };
		if (dax_entry_grab(&f->m, cur, DAX_GRAB_NOWAIT, &e))
			break;
		if (dax_entry_is_empty(e)) {
			e = dax_entry_update(&f->m, cur, dax_mk_entry(b, 0));
		} else if (dax_entry_is_pmd(e) || dax_entry_is_zero(e) ||
			   dax_entry_block(e) != b) {
			dax_entry_unlock(&f->m, cur);
			break;
		}
		dax_entry_tag_set(&f->m, cur, DAX_TAG_DIRTY);
		wa->nr++;
	}
	return index + wa->nr;
}

static void write_around_unlock(struct dax_fmap *f, struct write_around *wa)
{
	for (unsigned int i = 0; i < wa->nr; i++)
		dax_entry_unlock(&f->m, &wa->cur[i]);
}

/*
 * A 4 KiB store of a sequential writer to @block: lock the pages after it
 * that continue its run into @wa and make @s->span their write span.
 * Return: whether there is a write span (@wa to unlock after the insert).
 */
static bool write_around(struct dax_fmap *f, struct dax_fault_step *s,
			 uint64_t block, struct write_around *wa)
{
	uint64_t index = s->index;
	struct dax_iomap run = { 0 };
	bool around = false;

	if (s->sync || dax_entry_is_pmd(s->e) ||
	    (s->map.flags & DAX_IOMAP_F_NEW) ||
	    !(s->vmf->flags & DAX_VMF_SEQ))
		return false;
	/* Ask how far the run goes (no allocation: reads only). */
	if (f->fs->iomap_begin(f->file, index, DAX_WRITE_AROUND,
			       DAX_IOMAP_FAULT, &run))
		return false;
	/*
	 * Pages that get block entries here must show no zero page anywhere
	 * (see fault_set_block): zap first, and only if that worked take
	 * them. No zero span can come back over them: they have blocks, and
	 * hole_gen moved when they got them.
	 */
	if (run.type == DAX_IOMAP_MAPPED &&
	    run.block + (index - run.index) == block &&
	    run.index + run.nr > index + 1 &&
	    !f->vm->zap(f->vm_ctx, index + 1, run.index + run.nr - 1,
			DAX_ZAP_ZERO)) {
		s->span.first = index;
		s->span.block = block;
		s->span.last = write_around_lock(f, wa, index, block, &run,
						 s->pages);
		around = true;
	}
	f->fs->iomap_end(f->file, &run);
	return around;
}

/*
 * Map @block at @s->index: read-only with the span around it, or
 * writable, a 4 KiB store with its write span if it has one.
 */
static int fault_insert(struct dax_fmap *f, struct dax_fault_step *s,
			uint64_t block)
{
	const struct dax_vm_span *span = s->order ? NULL : &s->span;
	struct write_around wa;
	bool around = false;
	int err;

	if (!s->order && s->write) {
		around = write_around(f, s, block, &wa);
		span = around ? &s->span : NULL;
	}
	err = f->vm->insert(f->vm_ctx, s->vmf->region, s->index, s->order,
			    block, s->write ? DAX_VM_WRITE : 0, span);
	if (around)
		write_around_unlock(f, &wa);
	if (!err && s->order)
		fault_stat(f, pmd);
	return err;
}

/*
 * dax_fault_iter() - the step both fault sizes share: make the entry at
 * @s->cur what @s->map says (a hole, or blocks), tag it DIRTY for a
 * store, and map it into the region.
 * Context: @s->cur locked, @s->map from dax_fault_begin(); may sleep.
 * Return: DAX_FAULT_* bits.
 */
int dax_fault_iter(struct dax_fmap *f, struct dax_fault_step *s)
{
	int ret = DAX_FAULT_DONE, err;
	uint64_t block;

	if (s->map.flags & DAX_IOMAP_F_NEW) {
		ret |= DAX_FAULT_MAJOR;
		fault_stat(f, major);
	}
	if (s->map.type == DAX_IOMAP_HOLE)
		return ret | dax_errno_to_fault(fault_hole(f, s));
	block = s->map.block + (s->index - s->map.index);
	err = fault_set_block(f, s, block);
	if (!err && s->write)
		err = fault_dirty(f, s);
	if (!err)
		err = fault_insert(f, s, block);
	return ret | dax_errno_to_fault(err);
}
