/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_punch - freed blocks punched out of a regular pool file, at the
 * filesystem level: the counters say exactly how many blocks were
 * punched (data and extent blocks, freed in one transaction or over
 * several, by free_range, unlink, an orphan's last iput, rename); a
 * punch that fails with EOPNOTSUPP (injected) turns punching off for the
 * device without an error or a count, one that fails otherwise (EIO) is
 * counted and loses nothing, and punching goes on afterwards; in both
 * cases the blocks keep their old bytes on the host, and handing them out
 * again still zeroes them (as on device-DAX). Mount punches free blocks
 * that still take space (left by a failed punch, or by a udax that never
 * punched). mkfs over old data punches the journal, the inode table and
 * the bitmap (or stores zeros where a punch fails). Every image stays
 * fsck clean.
 *
 * Skipped (77) where the pool's file system cannot punch holes.
 */
#include "fs_util.h"

#include <sys/stat.h>

#include "fs/fs_priv.h"

#define POOL_SIZE (16ULL << 20)

static struct dax_dev *dev;

static uint64_t host_blocks(void)
{
	struct stat st;

	REQUIRE(fstat(dev->fd, &st) == 0);
	return (uint64_t)st.st_blocks / 8; /* 4 KiB blocks */
}

static struct dax_fs *mount(void)
{
	struct dax_fs *fs = NULL;

	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	return fs;
}

static void remount(struct dax_fs **fsp)
{
	dax_fs_unmount(fsp);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	*fsp = mount();
}

static struct dax_fs_stats stats(struct dax_fs *fs)
{
	struct dax_fs_stats st;

	dax_fs_get_stats(fs, &st);
	return st;
}

/* Map @nr pages at @page (every @stride-th page), each block's bytes @c. */
static void fill(struct dax_fs *fs, struct dax_inode *ip, uint64_t page,
		 uint64_t nr, uint64_t stride, int c)
{
	struct dax_iomap map;

	for (uint64_t i = 0; i < nr; i++) {
		uint64_t p = page + i * stride;

		REQUIRE(dax_inode_iomap(ip, p, 1, DAX_IOMAP_WRITE, &map) == 0);
		memset(dax_dev_block(dev, map.block), c, DAX_BLOCK_SIZE);
		dax_dev_persist(dev, dax_dev_block(dev, map.block),
				DAX_BLOCK_SIZE);
	}
	(void)fs;
}

static struct dax_inode *create(struct dax_fs *fs, const char *name)
{
	struct dax_inode *ip;

	REQUIRE(dax_fs_create(fs, name, 0644, &ip) == 0);
	return ip;
}

/*
 * Blocks freed and punched must match one for one: data blocks, then the
 * extent blocks of a file with far more records than its inode holds.
 */
static void test_counts(struct dax_fs *fs)
{
	struct dax_fs_stats a, b;
	struct dax_inode *ip = create(fs, "a");
	uint64_t h;

	fill(fs, ip, 0, 600, 1, 0x11);	    /* big contiguous runs */
	fill(fs, ip, 1000, 300, 2, 0x22);   /* 300 records: extent blocks */
	a = stats(fs);
	h = host_blocks();
	CHECK(dax_inode_free_range(ip, 100, 199) == 0);
	b = stats(fs);
	CHECK_EQ(b.punched - a.punched, 100);
	CHECK_EQ(b.free_blocks - a.free_blocks, 100);
	/* The host may take a block back for its own records: a hole in
	 * the middle of a run splits the host file system's extent (ext4
	 * adds an extent tree block), so one block of slack. */
	CHECK(host_blocks() <= h - 100 + 1);
	dax_fs_iput(fs, ip);
	a = b;
	CHECK_EQ(dax_fs_unlink(fs, "a"), 0);
	b = stats(fs);
	CHECK(b.free_blocks - a.free_blocks > 800); /* and extent blocks */
	CHECK_EQ(b.punched - a.punched, b.free_blocks - a.free_blocks);
	CHECK_EQ(b.punch_failed, 0);
	CHECK(!b.punch_off);

	/* Freed over several transactions (a small journal): the same. */
	ip = create(fs, "b");
	fill(fs, ip, 0, 200, 3, 0x33);
	fs->tx_cap = 1024;
	a = stats(fs);
	CHECK(dax_inode_free_range(ip, 0, UINT64_MAX) == 0);
	b = stats(fs);
	fs->tx_cap = DAX_FS_JREC_AREA;
	CHECK(b.commits - a.commits > 2);
	CHECK_EQ(b.punched - a.punched, b.free_blocks - a.free_blocks);
	CHECK(b.free_blocks - a.free_blocks >= 200);

	/* An orphan's blocks go at its last iput; a rename over a file. */
	fill(fs, ip, 0, 50, 1, 0x44);
	CHECK_EQ(dax_fs_unlink(fs, "b"), 0);
	a = stats(fs);
	CHECK_EQ(a.punched, b.punched);
	dax_fs_iput(fs, ip);
	b = stats(fs);
	CHECK_EQ(b.punched - a.punched, 50);
	ip = create(fs, "c");
	fill(fs, ip, 0, 40, 1, 0x55);
	dax_fs_iput(fs, ip);
	dax_fs_iput(fs, create(fs, "d"));
	a = stats(fs);
	CHECK_EQ(dax_fs_rename(fs, "d", "c", 0), 0);
	b = stats(fs);
	CHECK_EQ(b.punched - a.punched, 40);
	CHECK_EQ(dax_fs_unlink(fs, "c"), 0);
}

static bool zero(uint64_t block)
{
	const uint64_t *w = dax_dev_block(dev, block);

	for (size_t i = 0; i < DAX_BLOCK_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Fill the whole data area with bytes @c, free it all, then fill it again
 * with a file whose every block must come back zeroed (every block is
 * reused: the pool is full).
 */
static void fill_free_refill(struct dax_fs *fs, int c)
{
	struct dax_inode *ip = create(fs, "full");
	struct dax_iomap map;
	uint64_t p, n = 0, bad = 0;

	for (p = 0;; p++) {
		int err = dax_inode_iomap(ip, p, 1, DAX_IOMAP_WRITE, &map);

		if (err == -ENOSPC)
			break;
		REQUIRE(err == 0);
		memset(dax_dev_block(dev, map.block), c, DAX_BLOCK_SIZE);
		dax_dev_persist(dev, dax_dev_block(dev, map.block),
				DAX_BLOCK_SIZE);
	}
	CHECK(p > 3000);
	CHECK(dax_inode_free_range(ip, 0, UINT64_MAX) == 0);
	for (p = 0;; p++) {
		int err = dax_inode_iomap(ip, p, 1, DAX_IOMAP_WRITE, &map);

		if (err == -ENOSPC)
			break;
		REQUIRE(err == 0);
		n++;
		bad += !zero(map.block);
	}
	CHECK(n > 3000);
	CHECK_EQ(bad, 0);
	dax_fs_iput(fs, ip);
	CHECK_EQ(dax_fs_unlink(fs, "full"), 0);
}

/* Injected failures: EOPNOTSUPP turns punching off, EIO is counted. */
static void test_failures(struct dax_fs **fsp)
{
	struct dax_fs *fs = *fsp;
	struct dax_fs_stats a, b;
	struct dax_inode *ip;
	struct dax_iomap map;
	uint64_t h;

	/* EIO: counted, the bytes stay, punching goes on. */
	ip = create(fs, "e");
	fill(fs, ip, 0, 64, 1, 0x66);
	REQUIRE(dax_inode_iomap(ip, 10, 1, 0, &map) == 0);
	a = stats(fs);
	h = host_blocks();
	dev->punch_inject = EIO;
	CHECK(dax_inode_free_range(ip, 0, 31) == 0);
	dev->punch_inject = 0;
	b = stats(fs);
	CHECK_EQ(b.punch_failed - a.punch_failed, 32);
	CHECK_EQ(b.punched, a.punched);
	CHECK(!b.punch_off);
	CHECK_EQ(b.free_blocks - a.free_blocks, 32);
	CHECK(host_blocks() >= h);
	CHECK(*(uint8_t *)dax_dev_block(dev, map.block) == 0x66);
	CHECK(dax_inode_free_range(ip, 32, UINT64_MAX) == 0);
	a = stats(fs);
	CHECK_EQ(a.punched - b.punched, 32);
	dax_fs_iput(fs, ip);
	CHECK_EQ(dax_fs_unlink(fs, "e"), 0);

	/* Mount punches what the failed punch left. */
	h = host_blocks();
	remount(fsp);
	fs = *fsp;
	b = stats(fs);
	CHECK(b.punched - a.punched >= 32);
	CHECK(host_blocks() <= h - 32);
	CHECK(zero(map.block));

	/* EOPNOTSUPP: punching stops, silently; blocks are still zeroed. */
	ip = create(fs, "o");
	fill(fs, ip, 0, 64, 1, 0x77);
	a = stats(fs);
	h = host_blocks();
	dev->punch_inject = EOPNOTSUPP;
	CHECK(dax_inode_free_range(ip, 0, 31) == 0);
	b = stats(fs);
	CHECK(b.punch_off);
	CHECK_EQ(b.punched, a.punched);
	CHECK_EQ(b.punch_failed, a.punch_failed);
	dev->punch_inject = 0; /* off stays off */
	CHECK(dax_inode_free_range(ip, 32, UINT64_MAX) == 0);
	b = stats(fs);
	CHECK_EQ(b.punched, a.punched);
	CHECK(host_blocks() >= h);
	dax_fs_iput(fs, ip);
	CHECK_EQ(dax_fs_unlink(fs, "o"), 0);
	/* As on device-DAX: old bytes in free blocks, zeroed when reused. */
	fill_free_refill(fs, 0x5a);
	CHECK_EQ(stats(fs).punched, b.punched);

	/* Back on (a new mount of a device that can punch): all of it. */
	dev->punch_off = false;
	remount(fsp);
	fs = *fsp;
	a = stats(fs);
	CHECK(a.punched - b.punched > 3000);
	CHECK(host_blocks() < 100);
	fill_free_refill(fs, 0xa5);
	b = stats(fs);
	CHECK(b.punched - a.punched > 3000);
}

/*
 * mkfs over old data zeroes the journal, the inode table and the bitmap
 * by punching them (they take no host space afterwards); where punching fails
 * (EOPNOTSUPP: turned off; EIO) it stores the zeros instead. Either way
 * the new filesystem is fsck clean and its inode table reads as zeros.
 */
static void test_mkfs(struct dax_fs **fsp)
{
	static const int inject[] = { EOPNOTSUPP, EIO, 0 };
	const struct dax_fs_super *sb = dax_dev_block(dev, 0);

	dax_fs_unmount(fsp);
	for (size_t i = 0; i < sizeof(inject) / sizeof(inject[0]); i++) {
		uint64_t h, meta, nonzero = 0;

		memset(dev->base, 0xc3, dev->size);
		dax_dev_persist(dev, dev->base, dev->size);
		h = host_blocks();
		CHECK(h >= dev->nr_blocks);
		dev->punch_inject = inject[i];
		REQUIRE(dax_fs_mkfs(dev, 2048) == 0); /* 256 table blocks */
		dev->punch_inject = 0;
		/* The journal, the inode table and the bitmap. */
		meta = sb->data_start - sb->journal_start;
		CHECK_EQ(sb->itable_blocks, 256);
		if (!inject[i])
			/* Punched: all of it but the bitmap's first block. */
			CHECK(host_blocks() <= h - meta + 1);
		else
			CHECK(host_blocks() >= h); /* stored */
		CHECK_EQ(dev->punch_off, inject[i] == EOPNOTSUPP);
		if (!inject[i]) {
			/* A hole (reading it would fill it in on tmpfs). */
			uint64_t s, e;

			REQUIRE(dax_dev_next_data(dev, sb->itable_start *
							       DAX_BLOCK_SIZE,
						  &s, &e) == 0);
			CHECK(s >= (sb->itable_start + sb->itable_blocks) *
					   DAX_BLOCK_SIZE);
		}
		for (uint64_t b = 0; inject[i] && b < sb->itable_blocks; b++)
			nonzero += !zero(sb->itable_start + b);
		CHECK_EQ(nonzero, 0);
		CHECK_EQ(t_fsck(dev, false, NULL), 0);
		dev->punch_off = false;
	}
	*fsp = mount();
	/*
	 * The old data was free: mount punched it. Left: the superblock and
	 * its backup, the bitmap's first block, what a mount writes.
	 */
	printf("after mkfs over old data and a mount: %llu blocks\n",
	       (unsigned long long)host_blocks());
	CHECK(host_blocks() <= 8);
}

int main(int argc, char **argv)
{
	struct t_pool pool;
	struct dax_fs *fs;
	uint64_t h;

	t_init(argc, argv);
	/* On a disk each journal commit waits for the device: minutes. */
	t_watchdog(600);
	dev = t_pool_create(&pool, POOL_SIZE);
	if (!dax_dev_can_punch(dev) ||
	    (dax_dev_punch(dev, dev->nr_blocks - 1, 1) == -EOPNOTSUPP)) {
		printf("fs_punch: %s cannot punch holes: skipped\n", pool.dir);
		dax_dev_close(&dev);
		t_pool_remove(&pool);
		return T_SKIP;
	}
	REQUIRE(dax_fs_mkfs(dev, 64) == 0);
	h = host_blocks();
	printf("a new %llu MiB pool takes %llu blocks on the host\n",
	       (unsigned long long)(POOL_SIZE >> 20), (unsigned long long)h);
	CHECK(h < 100);
	fs = mount();
	test_counts(fs);
	remount(&fs);
	CHECK(host_blocks() < h + 80); /* the journal's records area */
	test_failures(&fs);
	test_mkfs(&fs);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	dax_dev_close(&dev);
	t_pool_remove(&pool);
	return t_done("fs_punch");
}
