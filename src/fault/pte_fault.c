/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pte_fault.c - 4 KiB faults: read, write, private copy-on-write, holes,
 * hole fill, synchronous (MAP_SYNC) writes, and mkwrite.
 *
 * @f is the file mapping, @vmf the fault, @cur the cursor on the entry
 * we lock, @s the fault step (fault_priv.h): the entry, what the
 * filesystem said. What a fault does once the filesystem has answered is
 * the step both sizes share, dax_fault_iter() in fault.c, with the seed's
 * rule (lock the entry before asking the filesystem) and the dirty
 * tracking explained there; this file adds what only 4 KiB faults do.
 */
#include <errno.h>

#include "fault_priv.h"
#include "../util/compiler.h"

/*
 * A private store: a copy of the block (or zeros for a hole) mapped into
 * the region alone; the file is not touched (the iomap did not allocate).
 */
static int pte_fault_cow(struct dax_fmap *f, struct dax_fault_step *s)
{
	const void *src = NULL;
	int err;

	if (s->map.type == DAX_IOMAP_MAPPED)
		src = f->dev->addr(f->dev_ctx,
				   s->map.block + (s->index - s->map.index));
	/* Copy under the entry lock: the block cannot be freed. */
	err = f->vm->insert_private(f->vm_ctx, s->vmf->region, s->index, src);
	fault_stat(f, cow);
	return dax_errno_to_fault(err);
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
	DAX_CURSOR(cur, vmf->index, &f->m.idx, 0);
	struct dax_fault_step s = {
		.vmf = vmf,
		.cur = &cur,
		.index = vmf->index,
		.write = write && !cow,
		.sync = write && !cow && (vmf->flags & DAX_VMF_SYNC),
	};
	uint64_t nr = 1;
	int ret, err;

	fault_stat(f, pte);
	if (write)
		fault_stat(f, write);
	else
		fault_stat(f, read);
	f->fs->mmap_lock(f->file, false);
	/* Truncate holds the mmap lock exclusive: this check is stable. */
	s.pages = dax_size_pages(f);
	if (vmf->index >= s.pages) {
		ret = DAX_FAULT_SIGBUS;
		goto out;
	}
	err = dax_entry_grab(&f->m, &cur, 0, &s.e);
	if (err) {
		ret = dax_errno_to_fault(err);
		goto out;
	}
	DAX_HOOK(f, DAX_HOOK_FAULT_GRABBED, vmf->index);
	if (!s.write) {
		/* A read: describe the whole run around us in its window. */
		nr = (vmf->index | (DAX_PMD_NR - 1)) - vmf->index + 1;
		if (nr > s.pages - vmf->index)
			nr = s.pages - vmf->index;
	}
	err = dax_fault_begin(f, &s, nr,
			      s.write ? DAX_IOMAP_WRITE : DAX_IOMAP_AROUND);
	if (err) {
		ret = dax_errno_to_fault(err);
	} else {
		ret = cow ? pte_fault_cow(f, &s) : dax_fault_iter(f, &s);
		f->fs->iomap_end(f->file, &s.map);
	}
	dax_fault_put_entry(f, &s);
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
