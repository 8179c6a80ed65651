/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_basic - the filesystem's calls one by one: mkfs and mount, create,
 * lookup, readdir, unlink, names of 255 and 256 bytes, -EEXIST; iomap on
 * holes and mapped pages, allocation of zeroed blocks, merging of
 * sequential allocations, 2 MiB-aligned allocation, -EFBIG; size and
 * stat; freeing ranges (split); everything surviving a remount, fsck
 * clean; orphans (freed at the last iput, or by mount after a "crash");
 * -ENOSPC for blocks and inodes changing nothing, on the device or in
 * memory.
 */
#include "fs_util.h"

#include <sys/stat.h>

#include "fs/layout.h"

#define POOL_SIZE (64ULL << 20)

static struct dax_inode *create(struct dax_fs *fs, const char *name)
{
	struct dax_inode *ip = NULL;

	REQUIRE(dax_fs_create(fs, name, 0644, &ip) == 0);
	return ip;
}

static struct dax_iomap wmap(struct dax_inode *ip, uint64_t index,
			     uint64_t nr)
{
	struct dax_iomap map;

	REQUIRE(dax_inode_iomap(ip, index, nr, DAX_IOMAP_WRITE, &map) == 0);
	CHECK_EQ(map.type, DAX_IOMAP_MAPPED);
	CHECK_EQ(map.index, index);
	CHECK(map.nr >= 1 && map.nr <= nr);
	CHECK(!(map.flags & DAX_IOMAP_F_DIRTY));
	return map;
}

static struct dax_iomap rmap(struct dax_inode *ip, uint64_t index,
			     uint64_t nr)
{
	struct dax_iomap map;

	REQUIRE(dax_inode_iomap(ip, index, nr, 0, &map) == 0);
	CHECK_EQ(map.index, index);
	CHECK_EQ(map.flags, 0);
	return map;
}

static bool block_zero(struct dax_dev *dev, uint64_t block, uint64_t nr)
{
	const char *p = dax_dev_block(dev, block);

	for (uint64_t i = 0; i < nr << DAX_BLOCK_SHIFT; i++)
		if (p[i])
			return false;
	return true;
}

static int count_names(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

static int stop_at_first(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(int *)ctx)++;
	return 42;
}

static void test_names(struct dax_fs *fs)
{
	char long_name[DAX_FS_NAME_MAX + 2];
	struct dax_inode *ip, *ip2;
	struct dax_fs_stats st0, st;
	int n = 0;

	dax_fs_get_stats(fs, &st0);
	ip = create(fs, "alpha");
	CHECK_EQ(dax_fs_create(fs, "alpha", 0644, &ip2), -EEXIST);
	CHECK_EQ(dax_fs_lookup(fs, "alpha", &ip2), 0);
	CHECK(ip2 == ip);
	dax_fs_iput(fs, ip2);
	CHECK_EQ(dax_fs_lookup(fs, "beta", &ip2), -ENOENT);
	CHECK_EQ(dax_fs_create(fs, "", 0644, &ip2), -EINVAL);
	CHECK_EQ(dax_fs_unlink(fs, "beta"), -ENOENT);

	memset(long_name, 'n', sizeof(long_name));
	long_name[DAX_FS_NAME_MAX] = 0;
	ip2 = create(fs, long_name);
	dax_fs_iput(fs, ip2);
	CHECK_EQ(dax_fs_lookup(fs, long_name, &ip2), 0);
	dax_fs_iput(fs, ip2);
	long_name[DAX_FS_NAME_MAX] = 'n';
	long_name[DAX_FS_NAME_MAX + 1] = 0;
	CHECK_EQ(dax_fs_create(fs, long_name, 0644, &ip2), -ENAMETOOLONG);
	CHECK_EQ(dax_fs_lookup(fs, long_name, &ip2), -ENAMETOOLONG);
	CHECK_EQ(dax_fs_unlink(fs, long_name), -ENAMETOOLONG);

	CHECK_EQ(dax_fs_readdir(fs, count_names, &n), 0);
	CHECK_EQ(n, 2);
	n = 0;
	CHECK_EQ(dax_fs_readdir(fs, stop_at_first, &n), 42);
	CHECK_EQ(n, 1);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_inodes, st0.free_inodes - 2);

	long_name[DAX_FS_NAME_MAX] = 0;
	CHECK_EQ(dax_fs_unlink(fs, long_name), 0);
	CHECK_EQ(dax_fs_lookup(fs, long_name, &ip2), -ENOENT);
	dax_fs_iput(fs, ip);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_inodes, st0.free_inodes - 1);
}

static void test_iomap(struct dax_fs *fs)
{
	struct dax_dev *dev = dax_fs_dev(fs);
	struct dax_fs_stats st0, st;
	struct dax_iomap m, m2;
	struct dax_inode *ip;
	struct stat sb;

	REQUIRE(dax_fs_lookup(fs, "alpha", &ip) == 0);
	dax_fs_get_stats(fs, &st0);

	m = rmap(ip, 0, 10);
	CHECK_EQ(m.type, DAX_IOMAP_HOLE);
	CHECK_EQ(m.nr, 10);
	CHECK_EQ(dax_inode_iomap(ip, DAX_FS_MAX_FILE_PAGES, 1, 0, &m),
		 -EFBIG);
	CHECK_EQ(dax_inode_iomap(ip, DAX_FS_MAX_FILE_PAGES, 1,
				 DAX_IOMAP_WRITE, &m),
		 -EFBIG);

	/* One page: zeroed, flagged new; then found mapped, not new. */
	m = wmap(ip, 0, 1);
	CHECK_EQ(m.nr, 1);
	CHECK(m.flags & DAX_IOMAP_F_NEW);
	CHECK(block_zero(dev, m.block, 1));
	m2 = rmap(ip, 0, 1);
	CHECK_EQ(m2.type, DAX_IOMAP_MAPPED);
	CHECK_EQ(m2.block, m.block);
	m2 = wmap(ip, 0, 1);
	CHECK_EQ(m2.block, m.block);
	CHECK(!(m2.flags & DAX_IOMAP_F_NEW));

	/* Sequential pages stay contiguous. */
	for (uint64_t i = 1; i < 100; i++) {
		m2 = wmap(ip, i, 1);
		CHECK_EQ(m2.block, m.block + i);
		CHECK(block_zero(dev, m2.block, 1));
	}
	m2 = rmap(ip, 0, 1000);
	CHECK_EQ(m2.type, DAX_IOMAP_MAPPED);
	CHECK_EQ(m2.nr, 100);
	m2 = rmap(ip, 50, 1000);
	CHECK_EQ(m2.block, m.block + 50);
	CHECK_EQ(m2.nr, 50);
	m2 = rmap(ip, 100, 1000);
	CHECK_EQ(m2.type, DAX_IOMAP_HOLE);
	CHECK_EQ(m2.nr, 1000);

	/* A 2 MiB-aligned allocation for an aligned 512-page hole. */
	m = wmap(ip, 512, 512);
	CHECK_EQ(m.nr, 512);
	CHECK_EQ(m.block % 512, 0);
	CHECK(m.flags & DAX_IOMAP_F_NEW);
	CHECK(block_zero(dev, m.block, 512));
	m2 = rmap(ip, 700, 512);
	CHECK_EQ(m2.block, m.block + 188);
	CHECK_EQ(m2.nr, 324);
	/* Unaligned or short requests take what they can, up to nr. */
	m = wmap(ip, 2000, 30);
	CHECK_EQ(m.nr, 30);
	CHECK(block_zero(dev, m.block, 30));
	/* A hole run shorter than nr: only the hole is filled. */
	m = wmap(ip, 99 + 2, 5); /* 101..105 */
	CHECK_EQ(m.nr, 5);
	m = wmap(ip, 100, 10); /* page 100 only: 101 is mapped */
	CHECK_EQ(m.nr, 1);

	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_blocks, st0.free_blocks - (100 + 512 + 30 + 5 + 1));

	/* Size and stat. */
	CHECK_EQ(dax_inode_set_size(ip, 3 << 20), 0);
	CHECK_EQ(dax_inode_size(ip), 3 << 20);
	dax_inode_stat(ip, &sb);
	CHECK_EQ(sb.st_size, 3 << 20);
	CHECK(S_ISREG(sb.st_mode));
	CHECK_EQ(sb.st_mode & 0777, 0644);
	CHECK_EQ(sb.st_nlink, 1);
	CHECK_EQ(sb.st_blocks, (100 + 512 + 30 + 5 + 1) * 8);
	CHECK_EQ(dax_inode_set_size(ip, (DAX_FS_MAX_FILE_PAGES << 12) + 1),
		 -EFBIG);
	CHECK_EQ(dax_inode_sync(ip), 0);

	/* Free inside the 2 MiB extent: it splits. */
	m = rmap(ip, 512, 1);
	CHECK_EQ(dax_inode_free_range(ip, 600, 700), 0);
	m2 = rmap(ip, 599, 10);
	CHECK_EQ(m2.type, DAX_IOMAP_MAPPED);
	CHECK_EQ(m2.nr, 1);
	m2 = rmap(ip, 600, 200);
	CHECK_EQ(m2.type, DAX_IOMAP_HOLE);
	CHECK_EQ(m2.nr, 101);
	m2 = rmap(ip, 701, 1000);
	CHECK_EQ(m2.type, DAX_IOMAP_MAPPED);
	CHECK_EQ(m2.block, m.block + 189);
	CHECK_EQ(m2.nr, 1024 - 701);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_blocks,
		 st0.free_blocks - (100 + 512 + 30 + 5 + 1) + 101);
	/* Refill the hole: blocks come back (contiguous with page 599). */
	m2 = wmap(ip, 600, 101);
	CHECK_EQ(m2.nr, 101);
	CHECK(block_zero(dev, m2.block, 101));
	/* Free a range overlapping several extents' ends, past the end. */
	CHECK_EQ(dax_inode_free_range(ip, 50, 520), 0);
	m2 = rmap(ip, 0, 1000);
	CHECK_EQ(m2.nr, 50);
	m2 = rmap(ip, 50, 1000);
	CHECK_EQ(m2.type, DAX_IOMAP_HOLE);
	CHECK_EQ(m2.nr, 521 - 50);
	CHECK_EQ(dax_inode_free_range(ip, 5, 4), -EINVAL);
	dax_fs_iput(fs, ip);
}

static void test_orphans(struct dax_fs **fsp, struct dax_dev *dev)
{
	struct dax_fs *fs = *fsp;
	struct dax_fs_stats st0, st;
	struct dax_inode *ip, *ip2;
	struct dax_iomap m;
	struct stat sb;
	int n = 0;

	/* Unlinked while open: blocks stay until the last iput. */
	dax_fs_get_stats(fs, &st0);
	ip = create(fs, "orphan");
	m = wmap(ip, 0, 512);
	CHECK_EQ(dax_fs_lookup(fs, "orphan", &ip2), 0);
	CHECK_EQ(dax_fs_unlink(fs, "orphan"), 0);
	CHECK_EQ(dax_fs_lookup(fs, "orphan", &ip2), -ENOENT);
	CHECK_EQ(dax_fs_readdir(fs, count_names, &n), 0);
	CHECK_EQ(n, 1);
	dax_inode_stat(ip, &sb);
	CHECK_EQ(sb.st_nlink, 0);
	m = rmap(ip, 0, 512);
	CHECK_EQ(m.type, DAX_IOMAP_MAPPED);
	CHECK_EQ(m.nr, 512);
	/* A new file may take the name. */
	ip2 = create(fs, "orphan");
	CHECK_EQ(dax_fs_unlink(fs, "orphan"), 0);
	dax_fs_iput(fs, ip2);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_blocks, st0.free_blocks - 512);
	dax_fs_iput(fs, ip);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_blocks, st0.free_blocks - 512);
	dax_fs_iput(fs, ip);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_blocks, st0.free_blocks);
	CHECK_EQ(st.free_inodes, st0.free_inodes);

	/* Unlinked while open, then a "crash": mount frees it. */
	ip = create(fs, "crash");
	wmap(ip, 0, 512);
	wmap(ip, 4096, 3);
	CHECK_EQ(dax_fs_unlink(fs, "crash"), 0);
	dax_fs_unmount(fsp); /* the reference is lost with the memory */
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	REQUIRE(dax_fs_mount(dev, fsp) == 0);
	fs = *fsp;
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.orphans, 1);
	CHECK_EQ(st.free_blocks, st0.free_blocks);
	CHECK_EQ(st.free_inodes, st0.free_inodes);
}

static void test_remount(struct dax_fs **fsp, struct dax_dev *dev)
{
	char *before, *after;

	before = t_state(*fsp);
	dax_fs_unmount(fsp);
	CHECK(*fsp == NULL);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	REQUIRE(dax_fs_mount(dev, fsp) == 0);
	after = t_state(*fsp);
	CHECK(strcmp(before, after) == 0);
	if (strcmp(before, after))
		printf("before:\n%s\nafter:\n%s\n", before, after);
	free(before);
	free(after);
}

/* Fill a small filesystem until -ENOSPC; then a failing call changes
 * nothing, on the device or in memory. */
static void test_enospc(void)
{
	struct t_pool pool;
	struct dax_dev *dev = t_pool_create(&pool, 4ULL << 20);
	struct dax_fs_stats st0, st;
	struct dax_inode *ip, *ips[4];
	struct dax_iomap m;
	struct dax_fs *fs;
	char *image, *state0, *state;
	uint64_t page = 0;
	int err;

	REQUIRE(dax_fs_mkfs(dev, 4) == 0);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	/* Inodes: 4 and no more. */
	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		ips[i] = create(fs, name);
	}
	image = malloc(dev->size);
	REQUIRE(image);
	memcpy(image, dev->base, dev->size);
	CHECK_EQ(dax_fs_create(fs, "f4", 0644, &ip), -ENOSPC);
	CHECK(memcmp(image, dev->base, dev->size) == 0);
	for (int i = 1; i < 4; i++)
		dax_fs_iput(fs, ips[i]);
	ip = ips[0];

	/* A contiguous extent, then one-page extents at every other page
	 * (many records: extent blocks), until the blocks run out. */
	wmap(ip, 0, 10);
	page = 20;
	for (;;) {
		err = dax_inode_iomap(ip, page, 1, DAX_IOMAP_WRITE, &m);
		if (err)
			break;
		page += 2;
	}
	CHECK_EQ(err, -ENOSPC);
	dax_fs_get_stats(fs, &st0);
	CHECK(st0.free_blocks <= 1);
	state0 = t_state(fs);
	memcpy(image, dev->base, dev->size);
	CHECK_EQ(dax_inode_iomap(ip, page, 1, DAX_IOMAP_WRITE, &m), -ENOSPC);
	CHECK_EQ(dax_inode_iomap(ip, 1 << 20, 512, DAX_IOMAP_WRITE, &m),
		 -ENOSPC);
	CHECK(memcmp(image, dev->base, dev->size) == 0);
	dax_fs_get_stats(fs, &st);
	CHECK(memcmp(&st, &st0, sizeof(st)) == 0);
	state = t_state(fs);
	CHECK(strcmp(state, state0) == 0);
	free(state);

	/* Splitting an extent may need an extent block: all or nothing. */
	err = dax_inode_free_range(ip, 5, 5);
	if (err) {
		CHECK_EQ(err, -ENOSPC);
		CHECK(memcmp(image, dev->base, dev->size) == 0);
		state = t_state(fs);
		CHECK(strcmp(state, state0) == 0);
		free(state);
	} else {
		m = rmap(ip, 5, 1);
		CHECK_EQ(m.type, DAX_IOMAP_HOLE);
	}
	free(state0);

	/* Freeing everything gives every block back. */
	CHECK_EQ(dax_inode_free_range(ip, 0, UINT64_MAX), 0);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.free_blocks, st.data_blocks);
	dax_fs_iput(fs, ip);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	free(image);
	dax_dev_close(&dev);
	t_pool_remove(&pool);
}

int main(int argc, char **argv)
{
	struct t_pool pool;
	struct dax_dev *dev;
	struct dax_fs_stats st;
	struct dax_fs *fs = NULL;
	int nr;

	t_init(argc, argv);
	dev = t_pool_create(&pool, POOL_SIZE);
	CHECK_EQ(dax_fs_mount(dev, &fs), -EINVAL); /* no filesystem yet */
	REQUIRE(dax_fs_mkfs(dev, 0) == 0);
	CHECK_EQ(t_fsck(dev, false, &nr), 0);
	CHECK_EQ(nr, 0);
	/* Garbage in every free data block: allocation must zero. */
	{
		struct dax_fs_super *sb = dax_dev_block(dev, 0);

		memset(dax_dev_block(dev, sb->data_start), 0xa5,
		       (sb->nr_blocks - sb->data_start) << DAX_BLOCK_SHIFT);
	}
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.nr_blocks, (POOL_SIZE >> 12) - 1); /* + the backup */
	CHECK_EQ(st.free_blocks, st.data_blocks);
	CHECK_EQ(st.nr_inodes, (POOL_SIZE >> 12) / 16);
	CHECK_EQ(st.free_inodes, st.nr_inodes);
	CHECK_EQ(st.replayed, 0);
	CHECK_EQ(st.orphans, 0);

	test_names(fs);
	test_iomap(fs);
	dax_fs_get_stats(fs, &st);
	CHECK(st.commits > 0);
	test_remount(&fs, dev);
	test_orphans(&fs, dev);
	test_remount(&fs, dev);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	dax_dev_close(&dev);
	t_pool_remove(&pool);

	test_enospc();
	return t_done("fs_basic");
}
