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
	struct dax_fault_stats *fs = &fst->fmap.stats;
	struct dax_lock_stats *ls = &fst->fmap.m.stats;

	st->faults_pte += ld(&fs->pte);
	st->faults_pmd += ld(&fs->pmd);
	st->faults_read += ld(&fs->read);
	st->faults_write += ld(&fs->write);
	st->faults_cow += ld(&fs->cow);
	st->faults_hole += ld(&fs->hole);
	st->faults_fallback += ld(&fs->fallback);
	st->faults_mkwrite += ld(&fs->mkwrite);
	st->faults_major += ld(&fs->major);
	st->hole_fills += ld(&fs->hole_fill);
	st->sigbus += ld(&fs->sigbus);
	st->sync_commits += ld(&fs->sync);
	st->writeback_pages += ld(&fs->writeback);
	st->lock_waits += ld(&ls->waits);
	st->lock_wakeups += ld(&ls->wakeups);
	st->pmd_conflicts += ld(&ls->conflicts);
	st->pmd_downgrades += ld(&ls->downgrades);
	st->map_calls += ld(&fst->vf.mmaps);
	st->map_errors += ld(&fst->vf.map_errors);
}

int udax_file_stats(struct udax_file *file, struct udax_stats *st)
{
	if (!file || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	add_file(file->fst, st);
	return 0;
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
	return 0;
}
