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
 */
#ifndef UDAX_TEST_SHADOW_DEV_H
#define UDAX_TEST_SHADOW_DEV_H

#include <stdlib.h>
#include <string.h>

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

#endif /* UDAX_TEST_SHADOW_DEV_H */
