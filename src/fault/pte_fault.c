/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pte_fault.c - 4 KiB faults: read, write, private copy-on-write, holes,
 * hole fill, synchronous (MAP_SYNC) writes, and mkwrite.
 *
 * @f is the file mapping, @vmf the fault, @cur the cursor on the entry
 * we lock, @e its value, @map what the filesystem said.
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

#include "fault.h"
#include "../util/compiler.h"

/* Entry value for a 4 KiB page at @block. */
static inline dax_entry_t pte_entry(uint64_t block)
{
	return dax_mk_entry(block, 0);
}

/*
 * Give up the entry at @cur after a fault: an entry still EMPTY maps
 * nothing and is erased (so an error leaves nothing half-made); an entry
 * whose identity changed from the zero page to a block wakes all its
 * waiters; any other is unlocked, waking the next.
 */
static void fault_put_entry(struct dax_fmap *f, struct dax_cursor *cur,
			    dax_entry_t e, bool filled)
{
	if (dax_entry_is_empty(e))
		__dax_entry_delete(&f->m, cur);
	else if (filled)
		dax_entry_replace(&f->m, cur, e);
	else
		dax_entry_unlock(&f->m, cur);
}

/*
 * Mark the locked entry dirty before a writable mapping of it exists; for
 * a synchronous fault whose mapping changed metadata, commit that first.
 * Return: 0 or -errno.
 */
static int fault_dirty(struct dax_fmap *f, struct dax_cursor *cur,
		       const struct dax_iomap *map, bool sync)
{
	if (sync && (map->flags & DAX_IOMAP_F_DIRTY)) {
		int err = f->fs->sync(f->file);

		fault_stat(f, sync);
		if (err)
			return err;
	}
	dax_entry_tag_set(&f->m, cur, DAX_TAG_DIRTY);
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
			e = dax_entry_update(&f->m, cur, pte_entry(b));
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
 * dax_pte_fault() - resolve a 4 KiB fault at @vmf->index of @f.
 *
 * Read of a hole: the zero page, read-only, in a ZERO entry (no memory
 * per hole). Write: the filesystem allocates if needed; the page is
 * mapped writable with its entry DIRTY. Private write: a copy of the
 * block (or zeros) is mapped into the region alone; the file is not
 * touched. Beyond EOF: SIGBUS.
 *
 * Context: takes the fs mmap lock shared and one entry lock; may sleep.
 * Return: DAX_FAULT_* bits.
 */
int dax_pte_fault(struct dax_fmap *f, const struct dax_vmf *vmf)
{
	bool write = vmf->flags & DAX_VMF_WRITE;
	bool cow = write && !(vmf->flags & DAX_VMF_SHARED);
	bool sync = write && !cow && (vmf->flags & DAX_VMF_SYNC);
	bool allocates = write && !cow;
	DAX_CURSOR(cur, vmf->index, &f->m.idx, 0);
	struct dax_iomap map = { 0 };
	struct dax_vm_span span, *wspan = NULL;
	struct write_around wa;
	bool filled = false;
	uint64_t block, pages, nr = 1;
	dax_entry_t e;
	int ret = DAX_FAULT_DONE, err;

	fault_stat(f, pte);
	if (write)
		fault_stat(f, write);
	else
		fault_stat(f, read);
	f->fs->mmap_lock(f->file, false);
	/* Truncate holds the mmap lock exclusive: this check is stable. */
	pages = dax_size_pages(f);
	if (vmf->index >= pages) {
		ret = DAX_FAULT_SIGBUS;
		goto out;
	}
	err = dax_entry_grab(&f->m, &cur, 0, &e);
	if (err) {
		ret = dax_errno_to_fault(err);
		goto out;
	}
	DAX_HOOK(f, DAX_HOOK_FAULT_GRABBED, vmf->index);

	if (!allocates) {
		/* A read: describe the whole run around us in its window. */
		nr = (vmf->index | (DAX_PMD_NR - 1)) - vmf->index + 1;
		if (nr > pages - vmf->index)
			nr = pages - vmf->index;
	}
	span.gen = &f->hole_gen;
	span.gen_seen = atomic_load_explicit(&f->hole_gen,
					     memory_order_seq_cst);
	err = f->fs->iomap_begin(f->file, vmf->index, nr,
				 DAX_IOMAP_FAULT |
					 (allocates ? DAX_IOMAP_WRITE
						    : DAX_IOMAP_AROUND),
				 &map);
	if (err) {
		ret = dax_errno_to_fault(err);
		goto put;
	}
	if (allocates)
		dax_fmap_hole_gen_bump(f);
	DAX_HOOK(f, DAX_HOOK_FAULT_MAPPED, vmf->index);
	if (map.flags & DAX_IOMAP_F_NEW) {
		ret |= DAX_FAULT_MAJOR;
		fault_stat(f, major);
	}
	block = map.block + (vmf->index - map.index);
	/* The span: the extent, cut at EOF (the VM cuts it to the region). */
	span.first = map.index;
	span.last = map.index + map.nr - 1;
	if (span.last >= pages)
		span.last = pages - 1;
	span.block = map.block;

	if (cow) {
		const void *src = NULL;

		if (map.type == DAX_IOMAP_MAPPED)
			src = f->dev->addr(f->dev_ctx, block);
		/* Copy under the entry lock: the block cannot be freed. */
		err = f->vm->insert_private(f->vm_ctx, vmf->region, vmf->index,
					    src);
		fault_stat(f, cow);
		goto end;
	}

	if (map.type == DAX_IOMAP_HOLE) {
		if (write || !(dax_entry_is_zero(e) || dax_entry_is_empty(e))) {
			/* A write got no block, or fs and index disagree. */
			err = -EIO;
			goto end;
		}
		if (!dax_entry_is_zero(e))
			e = dax_entry_update(&f->m, &cur,
					     dax_mk_entry(0, DAX_ENTRY_ZERO));
		err = f->vm->insert(f->vm_ctx, vmf->region, vmf->index, 0, 0,
				    DAX_VM_ZERO, &span);
		fault_stat(f, hole);
		goto end;
	}

	if (dax_entry_is_pmd(e)) {
		/* A 2 MiB mapping covers us: map our 4 KiB of it. */
		uint64_t pidx = vmf->index & DAX_PMD_MASK;

		if (dax_entry_block(e) + (vmf->index - pidx) != block) {
			err = -EIO;
			goto end;
		}
	} else if (dax_entry_is_zero(e) || dax_entry_is_empty(e) ||
		   dax_entry_block(e) != block) {
		if (dax_entry_is_zero(e) || dax_entry_is_empty(e)) {
			/*
			 * Hole fill (a ZERO entry), or a page getting its
			 * block entry: a zero span may have put the zero page
			 * here without an entry while it was a hole (and the
			 * zap of whoever allocated may have failed). Nobody
			 * may keep it once the page has a block entry: later
			 * faults and mkwrite zap only for ZERO entries.
			 */
			err = f->vm->zap(f->vm_ctx, vmf->index, vmf->index,
					 dax_entry_is_zero(e) ? DAX_ZAP_SHARED
							      : DAX_ZAP_ZERO);
			if (err)
				goto end; /* still ZERO: the next fill zaps */
			if (dax_entry_is_zero(e)) {
				filled = true;
				fault_stat(f, hole_fill);
			}
		}
		e = dax_entry_update(&f->m, &cur, pte_entry(block));
	}
	if (write) {
		err = fault_dirty(f, &cur, &map, sync);
		if (err)
			goto end;
	}
	if (write && !sync && !dax_entry_is_pmd(e) &&
	    !(map.flags & DAX_IOMAP_F_NEW) &&
	    (vmf->flags & DAX_VMF_SEQ)) {
		struct dax_iomap run = { 0 };

		/* Ask how far the run goes (no allocation: reads only). */
		if (f->fs->iomap_begin(f->file, vmf->index, DAX_WRITE_AROUND,
				       DAX_IOMAP_FAULT, &run) == 0) {
			/*
			 * Pages that get block entries here must show no zero
			 * page anywhere (see above): zap first, and only if
			 * that worked take them. No zero span can come back
			 * over them: they have blocks, and hole_gen moved
			 * when they got them.
			 */
			if (run.type == DAX_IOMAP_MAPPED &&
			    run.block + (vmf->index - run.index) == block &&
			    run.index + run.nr > vmf->index + 1 &&
			    !f->vm->zap(f->vm_ctx, vmf->index + 1,
					run.index + run.nr - 1, DAX_ZAP_ZERO)) {
				span.first = vmf->index;
				span.block = block;
				span.last = write_around_lock(f, &wa, vmf->index,
							      block, &run,
							      pages);
				wspan = &span;
			}
			f->fs->iomap_end(f->file, &run);
		}
	}
	err = f->vm->insert(f->vm_ctx, vmf->region, vmf->index, 0, block,
			    write ? DAX_VM_WRITE : 0, write ? wspan : &span);
	if (wspan)
		write_around_unlock(f, &wa);
end:
	f->fs->iomap_end(f->file, &map);
	ret |= dax_errno_to_fault(err);
put:
	fault_put_entry(f, &cur, e, filled);
out:
	f->fs->mmap_unlock(f->file, false);
	if (ret & DAX_FAULT_ERROR_MASK)
		fault_stat(f, sigbus);
	return ret;
}

/*
 * A store through a MAP_SYNC region is about to make the block(s) of the
 * locked entry writable without a fault that allocated them: their
 * allocation (by write(2), or a fault through a region without MAP_SYNC)
 * may still not be durable. Ask the filesystem, as the write fault does,
 * and commit first if so.
 * Return: 0 or -errno.
 */
static int mkwrite_sync(struct dax_fmap *f, uint64_t index, unsigned int order)
{
	struct dax_iomap map = { 0 };
	int err;

	err = f->fs->iomap_begin(f->file, index, (uint64_t)1 << order,
				 DAX_IOMAP_FAULT | DAX_IOMAP_WRITE, &map);
	if (err)
		return err;
	if (map.flags & DAX_IOMAP_F_DIRTY) {
		err = f->fs->sync(f->file);
		fault_stat(f, sync);
	}
	f->fs->iomap_end(f->file, &map);
	return err;
}

/*
 * dax_mkwrite() - a store hit a clean, read-only mapping of a block at
 * @vmf->index (of a mapping of @order): tag the entry DIRTY under its
 * lock, then make the mapping writable (the seed's dax_pfn_mkwrite). If
 * the entry is gone, truncate or punch hole won the race: the access is
 * retried and faults anew. If it is now a hole or placeholder, this is a
 * write fault. In a MAP_SYNC region, metadata that is not durable yet is
 * committed before the mapping becomes writable (mkwrite_sync).
 *
 * Context: takes the fs mmap lock shared and one entry lock; may sleep.
 * Return: DAX_FAULT_* bits.
 */
int dax_mkwrite(struct dax_fmap *f, const struct dax_vmf *vmf,
		unsigned int order)
{
	DAX_CURSOR(cur, vmf->index, &f->m.idx, 0);
	dax_entry_t e;
	int ret, err;

	if (!(vmf->flags & DAX_VMF_SHARED))
		return dax_pte_fault(f, vmf); /* private: copy on write */
	f->fs->mmap_lock(f->file, false);
	if (vmf->index >= dax_size_pages(f)) {
		f->fs->mmap_unlock(f->file, false);
		fault_stat(f, sigbus);
		return DAX_FAULT_SIGBUS;
	}
	err = dax_entry_grab(&f->m, &cur, DAX_GRAB_EXISTING, &e);
	if (err) {
		f->fs->mmap_unlock(f->file, false);
		/*
		 * No entry: the page was mapped by a span (fault-around,
		 * read-only, without an entry of its own), or truncate won
		 * and it is gone. A write fault sorts out either.
		 */
		return err == -ENOENT ? dax_pte_fault(f, vmf)
				      : dax_errno_to_fault(err);
	}
	DAX_HOOK(f, DAX_HOOK_MKWRITE_GRABBED, vmf->index);
	if (dax_entry_is_zero(e) || dax_entry_is_empty(e)) {
		dax_entry_unlock(&f->m, &cur);
		f->fs->mmap_unlock(f->file, false);
		return dax_pte_fault(f, vmf);
	}
	if (order && !dax_entry_is_pmd(e)) {
		/* The PMD mapping was split meanwhile: fault again. */
		ret = DAX_FAULT_RETRY;
		goto unlock;
	}
	if (vmf->flags & DAX_VMF_SYNC) {
		err = mkwrite_sync(f, order ? vmf->index & DAX_PMD_MASK
					    : vmf->index,
				   order);
		if (err) {
			ret = dax_errno_to_fault(err);
			goto unlock;
		}
	}
	dax_entry_tag_set(&f->m, &cur, DAX_TAG_DIRTY);
	err = f->vm->mkwrite(f->vm_ctx, vmf->region,
			     order ? vmf->index & DAX_PMD_MASK : vmf->index,
			     order);
	/* Not mapped any more (zapped): let the access fault again. */
	ret = err == -ENOENT ? DAX_FAULT_RETRY : dax_errno_to_fault(err);
	fault_stat(f, mkwrite);
unlock:
	dax_entry_unlock(&f->m, &cur);
	f->fs->mmap_unlock(f->file, false);
	if (ret & DAX_FAULT_ERROR_MASK)
		fault_stat(f, sigbus);
	return ret;
}
