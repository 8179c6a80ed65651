/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pmd_fault.c - 2 MiB faults.
 *
 * @f is the file mapping, @vmf the fault, @cur the cursor on the PMD
 * entry (order DAX_PMD_ORDER at the aligned index @pidx), @s the fault
 * step (fault_priv.h): the entry, what the filesystem said.
 *
 * A PMD fault maps one 2 MiB block extent, or the huge zero page for a
 * 2 MiB hole, with one PMD entry. It falls back to 4 KiB faults when that
 * is impossible: the caller (the VM) only asks for aligned ranges inside
 * the region; here we refuse private writes, a range that EOF cuts, a
 * range where smaller entries exist (the grab reports the conflict at
 * once, without sleeping), and extents that are not one aligned 2 MiB
 * run of blocks. Once the extent is good, the fault takes the step both
 * sizes share (dax_fault_iter(), fault.c).
 */
#include <errno.h>

#include "fault_priv.h"
#include "../util/compiler.h"

/*
 * Can a 2 MiB mapping serve @vmf, before the filesystem is asked? Not a
 * private store (copy on write is per page), nor a range that EOF cuts.
 * Context: fs mmap lock held (@pages is stable).
 * Return: 0 (go on), DAX_FAULT_SIGBUS (beyond EOF) or DAX_FAULT_FALLBACK.
 */
static int pmd_fault_check_fallback(const struct dax_vmf *vmf, uint64_t pidx,
				    uint64_t pages)
{
	if ((vmf->flags & DAX_VMF_WRITE) && !(vmf->flags & DAX_VMF_SHARED))
		return DAX_FAULT_FALLBACK;
	if (vmf->index >= pages)
		return DAX_FAULT_SIGBUS;
	if (pidx + DAX_PMD_NR > pages)
		return DAX_FAULT_FALLBACK;
	return 0;
}

/*
 * And after it answered: does @map cover all of [pidx, pidx + 512) as one
 * usable extent (for a store, of blocks)?
 */
static bool pmd_extent_ok(const struct dax_iomap *map, uint64_t pidx,
			  bool write)
{
	if (map->index > pidx || map->index + map->nr < pidx + DAX_PMD_NR)
		return false;
	if (map->type == DAX_IOMAP_MAPPED)
		return ((map->block + (pidx - map->index)) &
			(DAX_PMD_NR - 1)) == 0;
	return !write;
}

/*
 * No 2 MiB mapping after the filesystem answered (iomap ended): give up
 * the entry for the PTE faults that follow.
 * Return: DAX_FAULT_FALLBACK, or DAX_FAULT_OOM if a zero PMD could not be
 * unmapped (the entry is kept).
 */
static int pmd_fault_fallback(struct dax_fmap *f, struct dax_fault_step *s)
{
	uint64_t pidx = s->index;

	if (dax_entry_is_zero(s->e) && s->map.type == DAX_IOMAP_MAPPED) {
		/*
		 * A write under the huge zero page got blocks, but no usable
		 * 2 MiB extent: the zero PMD must not stay mapped over them
		 * until the PTE fault downgrades it (a write(2) to those
		 * blocks, which are not new to it, would stay hidden behind
		 * zeros). Unmap it everywhere and drop the entry now.
		 */
		if (f->vm->zap(f->vm_ctx, pidx, pidx + DAX_PMD_NR - 1,
			       DAX_ZAP_SHARED)) {
			/* Still mapped: keep the entry, fail the fault. */
			dax_entry_unlock(&f->m, s->cur);
			return DAX_FAULT_OOM;
		}
		dax_entry_delete_locked(&f->m, s->cur);
		return DAX_FAULT_FALLBACK;
	}
	dax_fault_put_entry(f, s);
	return DAX_FAULT_FALLBACK;
}

/*
 * dax_pmd_fault() - resolve a fault at @vmf->index with a 2 MiB mapping.
 * Context: takes the fs mmap lock shared and one entry lock; may sleep.
 * Return: DAX_FAULT_* bits; DAX_FAULT_FALLBACK asks for a PTE fault.
 */
int dax_pmd_fault(struct dax_fmap *f, const struct dax_vmf *vmf)
{
	uint64_t pidx = vmf->index & DAX_PMD_MASK;
	DAX_CURSOR(cur, pidx, &f->m.idx, DAX_PMD_ORDER);
	struct dax_fault_step s = {
		.vmf = vmf,
		.cur = &cur,
		.index = pidx,
		.order = DAX_PMD_ORDER,
		.write = vmf->flags & DAX_VMF_WRITE,
		.sync = (vmf->flags & DAX_VMF_WRITE) &&
			(vmf->flags & DAX_VMF_SYNC),
	};
	int ret;

	f->fs->mmap_lock(f->file, false);
	s.pages = dax_size_pages(f);
	ret = pmd_fault_check_fallback(vmf, pidx, s.pages);
	if (ret)
		goto out;
	if (dax_entry_grab(&f->m, &cur, 0, &s.e)) {
		/* A conflict with 4 KiB entries, or ENOMEM. */
		ret = DAX_FAULT_FALLBACK;
		goto out;
	}
	DAX_HOOK(f, DAX_HOOK_FAULT_GRABBED, vmf->index);
	if (dax_fault_begin(f, &s, DAX_PMD_NR, s.write ? DAX_IOMAP_WRITE : 0)) {
		/* e.g. no 2 MiB extent left: try 4 KiB */
		dax_fault_put_entry(f, &s);
		ret = DAX_FAULT_FALLBACK;
	} else if (!pmd_extent_ok(&s.map, pidx, s.write)) {
		f->fs->iomap_end(f->file, &s.map);
		ret = pmd_fault_fallback(f, &s);
	} else {
		ret = dax_fault_iter(f, &s);
		if (s.write)
			fault_stat(f, write);
		else
			fault_stat(f, read);
		f->fs->iomap_end(f->file, &s.map);
		dax_fault_put_entry(f, &s);
	}
out:
	f->fs->mmap_unlock(f->file, false);
	if (ret & DAX_FAULT_FALLBACK)
		fault_stat(f, fallback);
	if (ret & DAX_FAULT_ERROR_MASK)
		fault_stat(f, sigbus);
	return ret;
}
