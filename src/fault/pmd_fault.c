/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pmd_fault.c - 2 MiB faults.
 *
 * @f is the file mapping, @vmf the fault, @cur the cursor on the PMD
 * entry (order DAX_PMD_ORDER at the aligned index @pidx), @map what the
 * filesystem said.
 *
 * A PMD fault maps one 2 MiB block extent, or the huge zero page for a
 * 2 MiB hole, with one PMD entry. It falls back to 4 KiB faults when that
 * is impossible: the caller (the VM) only asks for aligned ranges inside
 * the region; here we refuse private writes, a range that EOF cuts, a
 * range where smaller entries exist (the grab reports the conflict at
 * once, without sleeping), and extents that are not one aligned 2 MiB
 * run of blocks.
 */
#include <errno.h>

#include "fault.h"
#include "../util/compiler.h"

/* Does @map cover all of [pidx, pidx + 512) as one usable extent? */
static bool pmd_extent_ok(const struct dax_iomap *map, uint64_t pidx)
{
	if (map->index > pidx || map->index + map->nr < pidx + DAX_PMD_NR)
		return false;
	if (map->type == DAX_IOMAP_MAPPED)
		return ((map->block + (pidx - map->index)) & (DAX_PMD_NR - 1)) ==
		       0;
	return true;
}

/*
 * dax_pmd_fault() - resolve a fault at @vmf->index with a 2 MiB mapping.
 * Context: takes the fs mmap lock shared and one entry lock; may sleep.
 * Return: DAX_FAULT_* bits; DAX_FAULT_FALLBACK asks for a PTE fault.
 */
int dax_pmd_fault(struct dax_fmap *f, const struct dax_vmf *vmf)
{
	bool write = vmf->flags & DAX_VMF_WRITE;
	bool sync = write && (vmf->flags & DAX_VMF_SYNC);
	uint64_t pidx = vmf->index & DAX_PMD_MASK, pages, block;
	DAX_CURSOR(cur, pidx, &f->m.idx, DAX_PMD_ORDER);
	struct dax_iomap map = { 0 };
	bool filled = false;
	dax_entry_t e;
	int ret = DAX_FAULT_DONE, err;

	if (write && !(vmf->flags & DAX_VMF_SHARED))
		goto fallback_nolock;
	f->fs->mmap_lock(f->file, false);
	pages = dax_size_pages(f);
	if (vmf->index >= pages) {
		f->fs->mmap_unlock(f->file, false);
		fault_stat(f, sigbus);
		return DAX_FAULT_SIGBUS;
	}
	if (pidx + DAX_PMD_NR > pages)
		goto fallback_unlock;
	err = dax_entry_grab(&f->m, &cur, 0, &e);
	if (err)
		goto fallback_unlock; /* conflict with 4 KiB entries, ENOMEM */
	DAX_HOOK(f, DAX_HOOK_FAULT_GRABBED, vmf->index);

	err = f->fs->iomap_begin(f->file, pidx, DAX_PMD_NR,
				 DAX_IOMAP_FAULT | (write ? DAX_IOMAP_WRITE : 0),
				 &map);
	if (err)
		goto fallback_put; /* e.g. no 2 MiB extent left: try 4 KiB */
	if (write)
		dax_fmap_hole_gen_bump(f);
	DAX_HOOK(f, DAX_HOOK_FAULT_MAPPED, vmf->index);
	if (!pmd_extent_ok(&map, pidx) ||
	    (write && map.type != DAX_IOMAP_MAPPED))
		goto fallback_end;
	if (map.flags & DAX_IOMAP_F_NEW) {
		ret |= DAX_FAULT_MAJOR;
		fault_stat(f, major);
	}

	if (map.type == DAX_IOMAP_HOLE) {
		if (!dax_entry_is_zero(e) && !dax_entry_is_empty(e)) {
			err = -EIO; /* fs says hole, index says block */
			goto end;
		}
		if (!dax_entry_is_zero(e))
			e = dax_entry_update(&f->m, &cur,
					     dax_mk_entry(0, DAX_ENTRY_PMD |
								     DAX_ENTRY_ZERO));
		err = f->vm->insert(f->vm_ctx, vmf->region, pidx,
				    DAX_PMD_ORDER, 0, DAX_VM_ZERO, NULL);
		fault_stat(f, hole);
		goto end;
	}

	block = map.block + (pidx - map.index);
	if (dax_entry_is_zero(e) || dax_entry_is_empty(e) ||
	    dax_entry_block(e) != block) {
		/*
		 * Hole fill, or blocks new to a range that 4 KiB zero spans
		 * of other regions may show: no zero page may stay.
		 */
		if (dax_entry_is_zero(e) || write)
			err = f->vm->zap(f->vm_ctx, pidx,
					 pidx + DAX_PMD_NR - 1,
					 dax_entry_is_zero(e) ? DAX_ZAP_SHARED
							      : DAX_ZAP_ZERO);
		if (err)
			goto end;
		if (dax_entry_is_zero(e)) {
			filled = true;
			fault_stat(f, hole_fill);
		}
		e = dax_entry_update(&f->m, &cur,
				     dax_mk_entry(block, DAX_ENTRY_PMD));
	}
	if (write) {
		if (sync && (map.flags & DAX_IOMAP_F_DIRTY)) {
			err = f->fs->sync(f->file);
			fault_stat(f, sync);
			if (err)
				goto end;
		}
		dax_entry_tag_set(&f->m, &cur, DAX_TAG_DIRTY);
	}
	err = f->vm->insert(f->vm_ctx, vmf->region, pidx, DAX_PMD_ORDER, block,
			    write ? DAX_VM_WRITE : 0, NULL);
	if (!err)
		fault_stat(f, pmd);
end:
	if (write)
		fault_stat(f, write);
	else
		fault_stat(f, read);
	f->fs->iomap_end(f->file, &map);
	ret |= dax_errno_to_fault(err);
	if (dax_entry_is_empty(e))
		__dax_entry_delete(&f->m, &cur);
	else if (filled)
		dax_entry_replace(&f->m, &cur, e);
	else
		dax_entry_unlock(&f->m, &cur);
	f->fs->mmap_unlock(f->file, false);
	if (ret & DAX_FAULT_ERROR_MASK)
		fault_stat(f, sigbus);
	return ret;

fallback_end:
	f->fs->iomap_end(f->file, &map);
	if (dax_entry_is_zero(e) && map.type == DAX_IOMAP_MAPPED) {
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
			dax_entry_unlock(&f->m, &cur);
			f->fs->mmap_unlock(f->file, false);
			fault_stat(f, sigbus);
			return DAX_FAULT_OOM;
		}
		__dax_entry_delete(&f->m, &cur);
		goto fallback_unlock;
	}
fallback_put:
	/* Our placeholder must not outlive us: PTE faults would split it. */
	if (dax_entry_is_empty(e))
		__dax_entry_delete(&f->m, &cur);
	else
		dax_entry_unlock(&f->m, &cur);
fallback_unlock:
	f->fs->mmap_unlock(f->file, false);
fallback_nolock:
	fault_stat(f, fallback);
	return DAX_FAULT_FALLBACK;
}
