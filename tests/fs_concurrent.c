/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_concurrent - the filesystem under threads: several threads allocate
 * random pages of one shared file (sometimes the same page at once) and
 * of their own files, readers look pages up without the lock, another
 * thread creates and unlinks files. Every page keeps the first block any
 * thread saw for it; no block is handed out twice; at the end fsck is
 * clean and a remount shows the same state.
 */
#include "fs_util.h"

#include <stdatomic.h>

#define NR_WRITERS 3
#define SHARED_PAGES 4096

static struct dax_fs *fs;
static struct dax_inode *shared;
static _Atomic uint64_t seen[SHARED_PAGES]; /* block + 1, 0: unknown */
static atomic_bool stop;
static int iterations;

static void note(uint64_t page, uint64_t block)
{
	uint64_t want = 0;

	if (!atomic_compare_exchange_strong(&seen[page], &want, block + 1))
		CHECK_EQ(want, block + 1);
}

static void *writer(void *arg)
{
	struct t_rng r;
	struct dax_inode *own;
	struct dax_iomap m;
	char name[32];

	t_rng_init(&r, t_seed + (uintptr_t)arg);
	snprintf(name, sizeof(name), "own%lu", (unsigned long)(uintptr_t)arg);
	REQUIRE(dax_fs_create(fs, name, 0644, &own) == 0);
	for (int i = 0; i < iterations; i++) {
		uint64_t page = t_rand_below(&r, SHARED_PAGES);
		uint64_t nr = 1 + t_rand_below(&r, 8);
		int err;

		err = dax_inode_iomap(shared, page, nr, DAX_IOMAP_WRITE, &m);
		if (err == -ENOSPC)
			break;
		REQUIRE(err == 0);
		for (uint64_t j = 0; j < m.nr && page + j < SHARED_PAGES; j++)
			note(page + j, m.block + j);
		err = dax_inode_iomap(own, t_rand_below(&r, 1 << 16), 1,
				      DAX_IOMAP_WRITE, &m);
		REQUIRE(err == 0 || err == -ENOSPC);
	}
	dax_fs_iput(fs, own);
	return NULL;
}

static void *reader(void *arg)
{
	struct dax_iomap m;
	struct t_rng r;

	(void)arg;
	t_rng_init(&r, t_seed + 100);
	while (!atomic_load(&stop)) {
		uint64_t page = t_rand_below(&r, SHARED_PAGES);

		REQUIRE(dax_inode_iomap(shared, page, 64, 0, &m) == 0);
		if (m.type == DAX_IOMAP_MAPPED)
			for (uint64_t j = 0;
			     j < m.nr && page + j < SHARED_PAGES; j++)
				note(page + j, m.block + j);
	}
	return NULL;
}

static void *namer(void *arg)
{
	struct dax_inode *ip;
	struct dax_iomap m;
	int n = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		char name[32];

		snprintf(name, sizeof(name), "tmp%d", n++ % 8);
		if (dax_fs_create(fs, name, 0600, &ip) == 0) {
			if (dax_inode_iomap(ip, 0, 4, DAX_IOMAP_WRITE, &m) ==
			    0)
				CHECK(m.nr >= 1);
			dax_fs_iput(fs, ip);
		}
		dax_fs_unlink(fs, name);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t w[NR_WRITERS], rd, nm;
	struct dax_iomap m;
	struct t_pool pool;
	struct dax_dev *dev;
	char *before, *after;

	t_init(argc, argv);
	t_watchdog(240);
	iterations = t_long ? 20000 : 2000;
	dev = t_pool_create(&pool, 64ULL << 20);
	REQUIRE(dax_fs_mkfs(dev, 0) == 0);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	REQUIRE(dax_fs_create(fs, "shared", 0644, &shared) == 0);

	REQUIRE(pthread_create(&rd, NULL, reader, NULL) == 0);
	REQUIRE(pthread_create(&nm, NULL, namer, NULL) == 0);
	for (uintptr_t i = 0; i < NR_WRITERS; i++)
		REQUIRE(pthread_create(&w[i], NULL, writer, (void *)i) == 0);
	for (int i = 0; i < NR_WRITERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&stop, true);
	pthread_join(rd, NULL);
	pthread_join(nm, NULL);

	/* Every page seen keeps its block. */
	for (uint64_t p = 0; p < SHARED_PAGES; p++) {
		uint64_t b = atomic_load(&seen[p]);

		REQUIRE(dax_inode_iomap(shared, p, 1, 0, &m) == 0);
		if (b)
			CHECK_EQ(m.block + 1, b);
	}
	dax_fs_iput(fs, shared);
	before = t_state(fs);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	after = t_state(fs);
	CHECK(strcmp(before, after) == 0);
	free(before);
	free(after);
	dax_fs_unmount(&fs);
	dax_dev_close(&dev);
	t_pool_remove(&pool);
	return t_done("fs_concurrent");
}
