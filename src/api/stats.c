/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.c - udax_file_stats and udax_pool_stats: the engine's, the entry
 * locks' and the VM's counters of a file, summed over files for a pool.
 * Both fill a struct udax_stats of this library's size and copy out as
 * much of it as the caller's size holds (copy_out), so the struct can grow.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "api.h"

static uint64_t ld(atomic_ulong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void add_file(struct dax_fstate *fst, struct udax_stats *st)
{
	const struct dax_fmap *f = &fst->fmap;
	struct dax_lock_stats *ls = &fst->fmap.m.stats;

	st->faults_pte += DAX_FAULT_STAT(f, pte);
	st->faults_pmd += DAX_FAULT_STAT(f, pmd);
	st->faults_read += DAX_FAULT_STAT(f, read);
	st->faults_write += DAX_FAULT_STAT(f, write);
	st->faults_cow += DAX_FAULT_STAT(f, cow);
	st->faults_hole += DAX_FAULT_STAT(f, hole);
	st->faults_fallback += DAX_FAULT_STAT(f, fallback);
	st->faults_mkwrite += DAX_FAULT_STAT(f, mkwrite);
	st->faults_major += DAX_FAULT_STAT(f, major);
	st->hole_fills += DAX_FAULT_STAT(f, hole_fill);
	st->sigbus += DAX_FAULT_STAT(f, sigbus);
	st->sync_commits += DAX_FAULT_STAT(f, sync);
	st->writeback_pages += DAX_FAULT_STAT(f, writeback);
	st->lock_waits += ld(&ls->waits);
	st->lock_wakeups += ld(&ls->wakeups);
	st->pmd_conflicts += ld(&ls->conflicts);
	st->pmd_downgrades += ld(&ls->downgrades);
	st->map_calls += ld(&fst->vf.mmaps);
	st->map_errors += ld(&fst->vf.map_errors);
}

/* The process-wide mapping counters (the same in every result). */
static void add_process(struct udax_stats *st)
{
	struct dax_vm_stats vs;

	dax_vm_get_stats(&vs);
	st->map_count = vs.maps > 0 ? (uint64_t)vs.maps : 0;
	st->map_budget = (uint64_t)vs.budget;
	st->map_reclaims = vs.reclaims;
}

_Static_assert(offsetof(struct udax_stats, size) == 0,
	       "struct udax_stats must start with its size");

/* The caller's struct is @size bytes: it must hold at least @size itself. */
static bool size_ok(size_t size)
{
	return size >= sizeof(((struct udax_stats *)0)->size);
}

/* Copy the first min(@size, sizeof *@full) bytes of @full to @st. */
static void copy_out(struct udax_stats *full, struct udax_stats *st,
		     size_t size)
{
	size_t n = size < sizeof(*full) ? size : sizeof(*full);

	full->size = n;
	memcpy(st, full, n);
}

int udax_file_stats(struct udax_file *file, struct udax_stats *st,
		    size_t size)
{
	DAX_API_ENTER();
	struct udax_stats full;

	if (!file || !st || !size_ok(size))
		return -EINVAL;
	memset(&full, 0, sizeof(full));
	add_file(file->fst, &full);
	add_process(&full);
	copy_out(&full, st, size);
	return 0;
}

int udax_set_map_budget(uint64_t maps)
{
	DAX_API_ENTER();
	if (maps > (uint64_t)1 << 40)
		return -EINVAL;
	return dax_vm_set_budget((long)maps);
}

static int count_file(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(uint64_t *)ctx)++;
	return 0;
}

int udax_pool_stats(struct udax_pool *pool, struct udax_stats *st,
		    size_t size)
{
	DAX_API_ENTER();
	struct dax_fs_stats fss;
	struct udax_stats full;

	if (!pool || !st || !size_ok(size))
		return -EINVAL;
	memset(&full, 0, sizeof(full));
	pthread_mutex_lock(&pool->lock);
	for (struct dax_fstate *fst = pool->files; fst; fst = fst->next)
		add_file(fst, &full);
	pthread_mutex_unlock(&pool->lock);
	dax_fs_get_stats(pool->fs, &fss);
	full.pool_blocks = fss.data_blocks;
	full.pool_free_blocks = fss.free_blocks;
	full.journal_commits = fss.commits;
	full.pool_inodes = fss.nr_inodes;
	full.pool_free_inodes = fss.free_inodes;
	dax_fs_readdir(pool->fs, count_file, &full.pool_files);
	add_process(&full);
	copy_out(&full, st, size);
	return 0;
}
