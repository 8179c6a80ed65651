/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shadow_dev.h - a harness device that remembers what each flush made
 * durable (a shadow copy per block), for the writeback tests
 * (fault_wb_mkwrite, fault_wb_pmd_pte): a page written after its last
 * flush differs from its shadow. Include after fault_harness.h and
 * test_util.h, in one test file only (it defines static functions).
 *
 * @sd is the shadow device, @env the harness whose filesystem's blocks
 * it shadows.
 *
 * Also the random part both tests end with: writer threads and a
 * flusher racing over the file (wb_race_round, wb_racer_access; include
 * hook_gate.h first), then the check that
 * every page written after its flush is DIRTY (shadow_dirty_check), and
 * a last writeback that leaves all durable and clean
 * (shadow_final_writeback).
 */
#ifndef UDAX_TEST_SHADOW_DEV_H
#define UDAX_TEST_SHADOW_DEV_H

#include <stdlib.h>
#include <string.h>

#include "fault_harness.h"

struct shadow_dev {
	struct th_fs *fs;
	uint8_t *durable; /* per block: its contents at its last flush */
};

static void *sdev_addr(void *ctx, uint64_t block)
{
	struct shadow_dev *sd = ctx;

	return th_dev_ops.addr(sd->fs, block);
}

/* Called under the entry lock, with the pages write-protected. */
static void sdev_flush(void *ctx, uint64_t block, uint64_t nr)
{
	struct shadow_dev *sd = ctx;

	memcpy(sd->durable + block * DAX_PAGE_SIZE,
	       th_dev_ops.addr(sd->fs, block), nr * DAX_PAGE_SIZE);
	th_dev_ops.flush(sd->fs, block, nr);
}

static const struct dax_dev_ops sdev_ops = {
    .addr = sdev_addr,
    .flush = sdev_flush,
};

/* Put @sd under @env's engine, shadowing @nr_blocks blocks. */
static void shadow_dev_attach(struct shadow_dev *sd, struct th_env *env,
			      uint64_t nr_blocks)
{
	sd->fs = &env->fs;
	/* Blocks start zeroed by the allocator: durable zeros. */
	sd->durable = calloc(nr_blocks, DAX_PAGE_SIZE);
	REQUIRE(sd->durable);
	env->f.dev = &sdev_ops;
	env->f.dev_ctx = sd;
}

static void shadow_dev_free(struct shadow_dev *sd)
{
	free(sd->durable);
	sd->durable = NULL;
}

/* The end of a test's part: @env and the shadow device @sd go. */
static void shadow_env_teardown(struct th_env *env, struct shadow_dev *sd)
{
	th_env_destroy(env);
	shadow_dev_free(sd);
}

/* Has page @index been written since its block was last flushed? */
static bool not_durable(struct th_env *env, struct shadow_dev *sd,
			uint64_t index)
{
	uint64_t b = th_fs_block_of(&env->fs, index);

	if (b == TH_HOLE)
		return false;
	return memcmp(sd->durable + b * DAX_PAGE_SIZE,
		      th_dev_ops.addr(&env->fs, b), DAX_PAGE_SIZE) != 0;
}

/*
 * Every page of the first @nr_pages written after its last flush is
 * DIRTY (the first few that are not are printed). Return: how many are
 * not.
 */
static int shadow_dirty_check(struct th_env *env, struct shadow_dev *sd,
			      uint64_t nr_pages)
{
	int bad = 0;

	for (uint64_t p = 0; p < nr_pages; p++)
		if (not_durable(env, sd, p) && !th_entry_dirty(&env->f, p)) {
			if (bad++ < 5)
				fprintf(stderr,
					"page %llu written after its "
					"flush, entry clean\n",
					(unsigned long long)p);
		}
	return bad;
}

/*
 * A last writeback of the first @nr_pages: it succeeds and leaves every
 * page durable, its entry clean and no region mapping it writable; the
 * harness quiescent, with no violation.
 */
static void shadow_final_writeback(struct th_env *env, struct shadow_dev *sd,
				   uint64_t nr_pages)
{
	CHECK_EQ(dax_writeback(&env->f, 0, nr_pages - 1), 0);
	for (uint64_t p = 0; p < nr_pages; p++) {
		CHECK(!not_durable(env, sd, p));
		CHECK(!th_entry_dirty(&env->f, p));
		for (int r = 0; r < env->vm.nr_regions; r++)
			CHECK(!env->vm.regions[r].ptes[p].writable);
	}
	th_check_quiescent(env);
	CHECK_EQ(th_violations(), 0);
}

/* A thread of wb_race_round(): a writer or the flusher. */
struct wb_racer {
	pthread_t thread;
	struct th_env *env;
	uint64_t seed;	   /* of the thread's my_rng */
	long ops;	   /* writer: stores and loads to make; flusher: made */
	atomic_bool *stop; /* flusher: set once the writers are done */
	unsigned long bad; /* writer: failed accesses and bad loads */
};

/*
 * A writer's access number @n to page @p through @r: a load or (3 in 4)
 * a store of th_stamp(@p, @n) to a random word, drawn from the thread's
 * my_rng (hook_gate.h). A failed access or a load of a bad stamp counts
 * in @x->bad.
 */
static void wb_racer_access(struct wb_racer *x, struct th_region *r, uint64_t p,
			    long n)
{
	uint64_t v = th_stamp(p, (uint64_t)n);
	unsigned int w = (unsigned int)t_rand_below(&my_rng, 512);
	bool write = t_rand_below(&my_rng, 4) != 0;

	if (th_access(x->env, r, p, w, write, &v) ||
	    (!write && !th_stamp_ok(p, v)))
		x->bad++;
}

/*
 * One round of the random part: a @flusher thread calling writeback
 * until the @nr_writers (at most 8) @writer threads, each making @ops
 * accesses, are done; every thread's seed is drawn from @rng. Adds the
 * flusher's writebacks to *@wbs. Return: the writers' failures.
 */
static int wb_race_round(struct th_env *env, struct t_rng *rng, int nr_writers,
			 long ops, void *(*writer)(void *),
			 void *(*flusher)(void *), unsigned long *wbs)
{
	struct wb_racer w[8], fl = {0};
	atomic_bool stop = false;
	int bad = 0;

	REQUIRE(nr_writers <= 8);
	fl.env = env;
	fl.seed = t_rand(rng);
	fl.stop = &stop;
	REQUIRE(pthread_create(&fl.thread, NULL, flusher, &fl) == 0);
	for (int i = 0; i < nr_writers; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].env = env;
		w[i].seed = t_rand(rng);
		w[i].ops = ops;
		REQUIRE(pthread_create(&w[i].thread, NULL, writer, &w[i]) == 0);
	}
	for (int i = 0; i < nr_writers; i++) {
		pthread_join(w[i].thread, NULL);
		bad += (int)w[i].bad;
	}
	atomic_store(&stop, true);
	pthread_join(fl.thread, NULL);
	*wbs += (unsigned long)fl.ops;
	return bad;
}

#endif /* UDAX_TEST_SHADOW_DEV_H */
