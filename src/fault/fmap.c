/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fmap.c - a file mapping (@f): its entry index, the ops tables it works
 * through, and the helpers the engine's files share.
 */
#include <errno.h>
#include <string.h>

#include "fault_priv.h"
#include "../index/rcu.h"
#include "../util/compiler.h"

/*
 * dax_fmap_init() - set up @f for @file, empty.
 * Return: 0 or -errno.
 */
int dax_fmap_init(struct dax_fmap *f, const struct dax_iomap_ops *fs, void *file,
		  const struct dax_vm_ops *vm, void *vm_ctx,
		  const struct dax_dev_ops *dev, void *dev_ctx)
{
	int err;

	if (!fs || !vm || !dev)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	err = dax_mapping_init(&f->m);
	if (err)
		return err;
	f->m.pmd_downgrade = dax_fmap_pmd_downgrade;
	f->m.private = f;
	f->fs = fs;
	f->file = file;
	f->vm = vm;
	f->vm_ctx = vm_ctx;
	f->dev = dev;
	f->dev_ctx = dev_ctx;
	return 0;
}

/*
 * dax_fmap_destroy() - drop every entry of @f.
 * Context: no fault, writeback or I/O runs on @f any more.
 */
void dax_fmap_destroy(struct dax_fmap *f)
{
	dax_mapping_destroy(&f->m);
}

/* Pages in the file, counting a partial last page. */
uint64_t dax_size_pages(struct dax_fmap *f)
{
	uint64_t size = f->fs->size(f->file);

	return (size + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
}

/* Turn a filesystem or VM error into a fault result. */
int dax_errno_to_fault(int err)
{
	if (!err)
		return DAX_FAULT_DONE;
	if (err == -ENOMEM)
		return DAX_FAULT_OOM;
	return DAX_FAULT_SIGBUS;
}

/*
 * Zero bytes [pos, end) of one page on the device, if it has a block, and
 * flush them. Context: fs mmap lock held. Return: 0 or -errno.
 */
int dax_zero_in_page(struct dax_fmap *f, uint64_t pos, uint64_t end)
{
	uint64_t index = pos >> DAX_PAGE_SHIFT;
	struct dax_iomap map = { 0 };
	int err;

	if (pos >= end)
		return 0;
	err = f->fs->iomap_begin(f->file, index, 1, 0, &map);
	if (err)
		return err;
	if (map.type == DAX_IOMAP_MAPPED) {
		uint64_t block = map.block + (index - map.index);
		char *p = f->dev->addr(f->dev_ctx, block);

		memset(p + (pos & (DAX_PAGE_SIZE - 1)), 0, end - pos);
		f->dev->flush(f->dev_ctx, block, 1);
	}
	f->fs->iomap_end(f->file, &map);
	return 0;
}

/* Zero from @pos to the end of its page (nothing if @pos is aligned). */
int dax_zero_page_tail(struct dax_fmap *f, uint64_t pos)
{
	uint64_t off = pos & (DAX_PAGE_SIZE - 1);

	if (!off)
		return 0;
	return dax_zero_in_page(f, pos, pos - off + DAX_PAGE_SIZE);
}

/*
 * A PTE fault is about to split a ZERO or EMPTY PMD entry at @index: the
 * huge zero page may be mapped there, so unmap it everywhere first.
 * Context: the PMD entry is locked by the caller.
 * Return: 0 or -errno (the zero page may still be mapped: keep the entry).
 */
int dax_fmap_pmd_downgrade(struct dax_mapping *m, uint64_t index,
			   dax_entry_t entry)
{
	struct dax_fmap *f = container_of(m, struct dax_fmap, m);

	if (!dax_entry_is_zero(entry))
		return 0;
	return f->vm->zap(f->vm_ctx, index, index + DAX_PMD_NR - 1,
			  DAX_ZAP_SHARED);
}

/*
 * dax_fmap_hole_gen_bump() - @f's filesystem may just have given holes
 * blocks: zero spans whose iomap ran before this and that are not mapped
 * yet will map their faulting page alone. Call it before zapping the zero
 * pages of those blocks. Sequentially consistent, paired with the VM's
 * claim of a span's pages and its load of hole_gen after it (vm.h).
 */
void dax_fmap_hole_gen_bump(struct dax_fmap *f)
{
	atomic_fetch_add_explicit(&f->hole_gen, 1, memory_order_seq_cst);
}

/*
 * dax_unmap_entries() - unmap pages [first, last] from every region and
 * delete their entries, waiting for entry locks and waking all waiters:
 * what truncate and punch hole do before the filesystem frees blocks.
 * A PMD entry reaching outside the range is written back if dirty, then
 * deleted whole, and its whole range unmapped (the pages outside fault
 * back in as 4 KiB pages).
 *
 * Fails closed: if a zap or a writeback fails, nothing more is deleted
 * and the error is returned; the caller must not free the blocks (some
 * may still be mapped, and an entry still DIRTY keeps its tag).
 *
 * Context: fs mmap lock held exclusive, so no fault inserts entries; only
 * writeback can still hold entry locks, and deletion waits for it.
 * Return: 0 or -errno (-ENOMEM: the kernel refused to unmap).
 */
int dax_unmap_entries(struct dax_fmap *f, uint64_t first, uint64_t last)
{
	uint64_t index = first;
	dax_entry_t e;
	int err;

	err = f->vm->zap(f->vm_ctx, first, last, DAX_ZAP_ALL);
	if (err)
		return err;
	DAX_HOOK(f, DAX_HOOK_TRUNC_ZAPPED, first);
	for (;;) {
		bool found;

		dax_rcu_read_lock();
		found = dax_idx_next_entry(&f->m.idx, &index, last, &e);
		dax_rcu_read_unlock();
		if (!found)
			break;
		if (dax_entry_is_pmd(e) &&
		    (index < first || index + DAX_PMD_NR - 1 > last)) {
			err = f->vm->zap(f->vm_ctx, index,
					 index + DAX_PMD_NR - 1,
					 DAX_ZAP_SHARED);
			/*
			 * Its pages outside [first, last] stay in the file,
			 * but its DIRTY tag goes with it: write it back first
			 * (as the kernel's filesystems do before a punch), or
			 * stores made through the 2 MiB mapping would never
			 * be flushed. Nothing dirties it again meanwhile:
			 * faults and mkwrite wait for the mmap lock, and its
			 * mappings are gone.
			 */
			if (!err)
				err = dax_writeback(f, index,
						    index + DAX_PMD_NR - 1);
			if (err)
				return err;
		}
		dax_entry_delete(&f->m, index);
		index += (uint64_t)1 << dax_entry_order(e);
		if (index == 0 || index > last)
			break;
	}
	return 0;
}

__thread unsigned int dax_stat_slot;

/* A counter shard slot for the calling thread (never 0). */
unsigned int dax_stat_slot_new(void)
{
	static atomic_uint next;

	return atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) + 1;
}

/*
 * dax_fault_stat_sum() - the counter at byte @offset of struct
 * dax_fault_stats, summed over @f's shards. Use DAX_FAULT_STAT().
 * Context: any; the total is exact once no fault runs on @f.
 */
unsigned long dax_fault_stat_sum(const struct dax_fmap *f, size_t offset)
{
	unsigned long sum = 0;

	for (unsigned int i = 0; i < DAX_STAT_SHARDS; i++) {
		const atomic_ulong *c =
			(const atomic_ulong *)((const char *)&f->stats[i].c +
					       offset);

		sum += atomic_load_explicit(c, memory_order_relaxed);
	}
	return sum;
}
