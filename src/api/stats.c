/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.c - udax_file_stats and udax_pool_stats: the engine's, the entry
 * locks' and the VM's counters of a file, summed over files for a pool.
 */
#include <errno.h>
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

int udax_file_stats(struct udax_file *file, struct udax_stats *st)
{
	DAX_API_ENTER();
	if (!file || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	add_file(file->fst, st);
	add_process(st);
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

int udax_pool_stats(struct udax_pool *pool, struct udax_stats *st)
{
	DAX_API_ENTER();
	struct dax_fs_stats fss;

	if (!pool || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&pool->lock);
	for (struct dax_fstate *fst = pool->files; fst; fst = fst->next)
		add_file(fst, st);
	pthread_mutex_unlock(&pool->lock);
	dax_fs_get_stats(pool->fs, &fss);
	st->pool_blocks = fss.data_blocks;
	st->pool_free_blocks = fss.free_blocks;
	st->journal_commits = fss.commits;
	dax_fs_readdir(pool->fs, count_file, &st->pool_files);
	add_process(st);
	return 0;
}
