/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_rename - dax_fs_rename(): a plain rename; replacing a file nobody
 * holds (its blocks and inode free at once); replacing a file that is
 * still referenced (it lives on as an orphan, its blocks readable, freed
 * at the last iput, or by mount when the reference dies with a "crash");
 * NOREPLACE; from == to; every error changing nothing; a seeded random
 * sequence of renames and creates against a model of which name holds
 * which file (names of 2 to 255 bytes), remounted and fsck clean at the
 * end. Crashes inside a rename: tests/fs_journal.c.
 */
#include "fs_util.h"

#include <sys/stat.h>

#include "fs/layout.h"

#define POOL_SIZE (16ULL << 20)

static struct dax_fs *mount(struct dax_dev *dev)
{
	struct dax_fs *fs = NULL;

	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	return fs;
}

static struct dax_fs_stats stats(struct dax_fs *fs)
{
	struct dax_fs_stats st;

	dax_fs_get_stats(fs, &st);
	return st;
}

/*
 * Create @name, @pages pages long, each page's first word @tag + page;
 * its size (a tag too) is @tag pages (@tag >= @pages: mount zeroes blocks
 * past EOF).
 */
static void make(struct dax_fs *fs, const char *name, uint64_t tag,
		 uint64_t pages)
{
	struct dax_dev *dev = dax_fs_dev(fs);
	struct dax_inode *ip = NULL;
	struct dax_iomap map;

	REQUIRE(dax_fs_create(fs, name, 0644, &ip) == 0);
	for (uint64_t p = 0; p < pages; p += map.nr) {
		REQUIRE(dax_inode_iomap(ip, p, pages - p, DAX_IOMAP_WRITE,
					&map) == 0);
		for (uint64_t i = 0; i < map.nr; i++) {
			uint64_t *w = dax_dev_block(dev, map.block + i);

			*w = tag + p + i;
			dax_dev_persist(dev, w, sizeof(*w));
		}
	}
	REQUIRE(dax_inode_set_size(ip, tag << DAX_BLOCK_SHIFT) == 0);
	dax_fs_iput(fs, ip);
}

/* Does @ip hold what make(@tag, @pages) wrote? */
static bool holds(struct dax_fs *fs, struct dax_inode *ip, uint64_t tag,
		  uint64_t pages)
{
	struct dax_iomap map;

	if (dax_inode_size(ip) != tag << DAX_BLOCK_SHIFT)
		return false;
	for (uint64_t p = 0; p < pages; p++) {
		if (dax_inode_iomap(ip, p, 1, 0, &map) ||
		    map.type != DAX_IOMAP_MAPPED)
			return false;
		if (*(uint64_t *)dax_dev_block(dax_fs_dev(fs), map.block) !=
		    tag + p)
			return false;
	}
	return true;
}

/* Is @name the file make(@tag, @pages) made? */
static bool named(struct dax_fs *fs, const char *name, uint64_t tag,
		  uint64_t pages)
{
	struct dax_inode *ip;
	bool ok;

	if (dax_fs_lookup(fs, name, &ip))
		return false;
	ok = holds(fs, ip, tag, pages);
	dax_fs_iput(fs, ip);
	return ok;
}

static bool absent(struct dax_fs *fs, const char *name)
{
	struct dax_inode *ip;

	if (dax_fs_lookup(fs, name, &ip) == -ENOENT)
		return true;
	dax_fs_iput(fs, ip);
	return false;
}

static void test_plain(struct dax_fs *fs)
{
	struct dax_fs_stats a, b;
	struct dax_inode *ip, *ip2;
	struct stat st;

	make(fs, "a", 1000, 3);
	a = stats(fs);
	REQUIRE(dax_fs_lookup(fs, "a", &ip) == 0);
	dax_inode_stat(ip, &st);
	CHECK_EQ(dax_fs_rename(fs, "a", "c", 0), 0);
	CHECK(absent(fs, "a"));
	REQUIRE(dax_fs_lookup(fs, "c", &ip2) == 0);
	CHECK(ip2 == ip); /* the same inode, still referenced */
	CHECK(holds(fs, ip, 1000, 3));
	dax_inode_stat(ip, &st);
	CHECK_EQ(st.st_nlink, 1);
	dax_fs_iput(fs, ip2);
	dax_fs_iput(fs, ip);
	b = stats(fs);
	CHECK_EQ(b.free_blocks, a.free_blocks);
	CHECK_EQ(b.free_inodes, a.free_inodes);
	CHECK_EQ(b.commits, a.commits + 1);
	CHECK(named(fs, "c", 1000, 3));
	/* Back again, and to a name of the maximum length. */
	char longest[DAX_FS_NAME_MAX + 1];

	memset(longest, 'x', DAX_FS_NAME_MAX);
	longest[DAX_FS_NAME_MAX] = 0;
	CHECK_EQ(dax_fs_rename(fs, "c", longest, 0), 0);
	CHECK(named(fs, longest, 1000, 3));
	CHECK_EQ(dax_fs_rename(fs, longest, "a", 0), 0);
	CHECK(named(fs, "a", 1000, 3));
	CHECK(absent(fs, longest) && absent(fs, "c"));
}

/* "a" (3 pages) over "b" (5 pages), which nobody holds: freed at once. */
static void test_replace(struct dax_fs *fs)
{
	struct dax_fs_stats a, b;

	make(fs, "b", 2000, 5);
	a = stats(fs);
	CHECK_EQ(dax_fs_rename(fs, "a", "b", 0), 0);
	b = stats(fs);
	CHECK(absent(fs, "a"));
	CHECK(named(fs, "b", 1000, 3));
	CHECK_EQ(b.free_blocks, a.free_blocks + 5);
	CHECK_EQ(b.free_inodes, a.free_inodes + 1);
	CHECK_EQ(b.commits, a.commits + 1); /* one transaction */
}

/*
 * "b" over "d" while "d" is referenced: "d"'s inode keeps its blocks and
 * data, nameless (nlink 0), until the last iput.
 */
static void test_replace_open(struct dax_fs *fs)
{
	struct dax_fs_stats a, b;
	struct dax_inode *old;
	struct stat st;

	make(fs, "d", 3000, 7);
	REQUIRE(dax_fs_lookup(fs, "d", &old) == 0);
	a = stats(fs);
	CHECK_EQ(dax_fs_rename(fs, "b", "d", 0), 0);
	b = stats(fs);
	CHECK(absent(fs, "b"));
	CHECK(named(fs, "d", 1000, 3));
	CHECK(holds(fs, old, 3000, 7));
	dax_inode_stat(old, &st);
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(b.free_blocks, a.free_blocks);
	CHECK_EQ(b.free_inodes, a.free_inodes);
	/* The orphan can still grow. */
	struct dax_iomap map;

	CHECK_EQ(dax_inode_iomap(old, 7, 1, DAX_IOMAP_WRITE, &map), 0);
	dax_fs_iput(fs, old);
	b = stats(fs);
	CHECK_EQ(b.free_blocks, a.free_blocks + 7);
	CHECK_EQ(b.free_inodes, a.free_inodes + 1);
	CHECK(named(fs, "d", 1000, 3));
}

/*
 * A referenced file replaced, then the reference dies with the mount (a
 * crash): the image is fsck clean, and mount frees the orphan.
 */
static void test_replace_crash(struct dax_fs **fsp, struct dax_dev *dev)
{
	struct dax_fs *fs = *fsp;
	struct dax_fs_stats a, b;
	struct dax_inode *old;

	make(fs, "e", 4000, 4);
	a = stats(fs);
	REQUIRE(dax_fs_lookup(fs, "e", &old) == 0);
	CHECK_EQ(dax_fs_rename(fs, "d", "e", 0), 0);
	dax_fs_unmount(fsp); /* old's reference is lost */
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	*fsp = fs = mount(dev);
	b = stats(fs);
	CHECK_EQ(b.orphans, 1);
	CHECK_EQ(b.free_blocks, a.free_blocks + 4);
	CHECK_EQ(b.free_inodes, a.free_inodes + 1);
	CHECK(named(fs, "e", 1000, 3));
	CHECK(absent(fs, "d"));
}

static void test_noreplace_errors(struct dax_fs *fs)
{
	char toolong[DAX_FS_NAME_MAX + 2];
	struct dax_fs_stats a, b;
	char *before, *after;

	make(fs, "f", 5000, 2);
	memset(toolong, 'y', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = 0;
	a = stats(fs);
	before = t_state(fs);
	CHECK_EQ(dax_fs_rename(fs, "e", "f", DAX_FS_RENAME_NOREPLACE),
		 -EEXIST);
	CHECK_EQ(dax_fs_rename(fs, "e", "e", DAX_FS_RENAME_NOREPLACE),
		 -EEXIST);
	CHECK_EQ(dax_fs_rename(fs, "e", "e", 0), 0);
	CHECK_EQ(dax_fs_rename(fs, "nosuch", "nosuch", 0), -ENOENT);
	CHECK_EQ(dax_fs_rename(fs, "nosuch", "g", 0), -ENOENT);
	CHECK_EQ(dax_fs_rename(fs, "nosuch", "f", 0), -ENOENT);
	CHECK_EQ(dax_fs_rename(fs, "", "g", 0), -ENOENT);
	CHECK_EQ(dax_fs_rename(fs, "e", "", 0), -EINVAL);
	CHECK_EQ(dax_fs_rename(fs, "e", "g", 0x2), -EINVAL);
	CHECK_EQ(dax_fs_rename(fs, "e", "g", ~0U), -EINVAL);
	CHECK_EQ(dax_fs_rename(fs, NULL, "g", 0), -EINVAL);
	CHECK_EQ(dax_fs_rename(fs, "e", NULL, 0), -EINVAL);
	CHECK_EQ(dax_fs_rename(NULL, "e", "g", 0), -EINVAL);
	CHECK_EQ(dax_fs_rename(fs, toolong, "g", 0), -ENAMETOOLONG);
	CHECK_EQ(dax_fs_rename(fs, "e", toolong, 0), -ENAMETOOLONG);
	after = t_state(fs);
	b = stats(fs);
	CHECK(strcmp(before, after) == 0);
	CHECK_EQ(b.commits, a.commits); /* nothing written */
	free(before);
	free(after);
	/* NOREPLACE to a free name renames. */
	CHECK_EQ(dax_fs_rename(fs, "e", "g", DAX_FS_RENAME_NOREPLACE), 0);
	CHECK(named(fs, "g", 1000, 3));
	CHECK(absent(fs, "e"));
}

#define NSLOTS 24
#define NFILES 12

/*
 * Random renames among NSLOTS names (some 255 bytes long, so chains and
 * long names mix) holding NFILES files at first; model: slot -> file tag
 * or 0. Some renames hold a reference on the target. Checked after every
 * step for the two names involved, all of them at the end and after a
 * remount.
 */
static void test_random(struct dax_fs **fsp, struct dax_dev *dev)
{
	char names[NSLOTS][DAX_FS_NAME_MAX + 1];
	uint64_t model[NSLOTS] = { 0 };
	struct dax_fs *fs = *fsp;
	struct t_rng rng;
	int steps = t_long ? 20000 : 2000, live = NFILES;
	uint64_t next_tag = 100000 + NFILES * 16;

	t_rng_init(&rng, t_seed);
	for (int i = 0; i < NSLOTS; i++) {
		if (i % 5 == 4) {
			memset(names[i], 'a' + i, DAX_FS_NAME_MAX);
			names[i][DAX_FS_NAME_MAX] = 0;
		} else {
			snprintf(names[i], sizeof(names[i]), "r%d", i);
		}
		(void)dax_fs_unlink(fs, names[i]);
	}
	for (int i = 0; i < NFILES; i++) {
		model[i] = 100000 + (uint64_t)i * 16;
		make(fs, names[i], model[i], 1 + (uint64_t)i % 3);
	}
	for (int s = 0; s < steps; s++) {
		int from = (int)t_rand_below(&rng, NSLOTS);
		int to = (int)t_rand_below(&rng, NSLOTS);
		bool norep = t_rand_below(&rng, 4) == 0;
		struct dax_inode *held = NULL;
		int want, got;

		if (live < NFILES && !model[to]) {
			/* Keep the population up: a new file. */
			model[to] = next_tag;
			next_tag += 16;
			make(fs, names[to], model[to],
			     1 + (model[to] - 100000) / 16 % 3);
			live++;
			continue;
		}

		if (model[to] && from != to && t_rand_below(&rng, 3) == 0)
			REQUIRE(dax_fs_lookup(fs, names[to], &held) == 0);
		if (!model[from])
			want = -ENOENT;
		else if (norep && model[to])
			want = -EEXIST;
		else
			want = 0;
		got = dax_fs_rename(fs, names[from], names[to],
				    norep ? DAX_FS_RENAME_NOREPLACE : 0);
		if (got != want) {
			printf("step %d: rename %d -> %d%s: %d, want %d\n", s,
			       from, to, norep ? " (noreplace)" : "", got,
			       want);
			CHECK(0);
		}
		if (!want && from != to) {
			if (model[to])
				live--;
			model[to] = model[from];
			model[from] = 0;
		}
		if (held) {
			/* Replaced or not, it still holds its own data. */
			struct dax_iomap map;

			CHECK_EQ(dax_inode_iomap(held, 0, 1, 0, &map), 0);
			CHECK_EQ(map.type, DAX_IOMAP_MAPPED);
			dax_fs_iput(fs, held);
		}
		for (int k = 0; k < 2; k++) {
			int i = k ? to : from;
			uint64_t tag = model[i];

			CHECK(tag ? named(fs, names[i], tag,
					  1 + (tag - 100000) / 16 % 3)
				  : absent(fs, names[i]));
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		struct dax_fs_stats st = stats(fs);
		int n = 0;

		for (int i = 0; i < NSLOTS; i++) {
			uint64_t tag = model[i];

			n += tag != 0;
			CHECK(tag ? named(fs, names[i], tag,
					  1 + (tag - 100000) / 16 % 3)
				  : absent(fs, names[i]));
		}
		CHECK_EQ(n, live);
		CHECK_EQ(st.nr_inodes - st.free_inodes, (uint64_t)live + 2);
		dax_fs_unmount(fsp);
		CHECK_EQ(t_fsck(dev, false, NULL), 0);
		*fsp = fs = mount(dev);
		CHECK_EQ(stats(fs).orphans, 0);
	}
	printf("random: %d steps, %" PRIu64 " files made\n", steps,
	       (next_tag - 100000) / 16);
}

int main(int argc, char **argv)
{
	struct t_pool pool;
	struct dax_dev *dev;
	struct dax_fs *fs;
	char *before, *after;

	t_init(argc, argv);
	t_watchdog(120);
	dev = t_pool_create(&pool, POOL_SIZE);
	REQUIRE(dax_fs_mkfs(dev, 64) == 0);
	fs = mount(dev);

	test_plain(fs);
	test_replace(fs);
	test_replace_open(fs);
	test_replace_crash(&fs, dev);
	test_noreplace_errors(fs);

	/* Everything so far survives a remount. */
	before = t_state(fs);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	fs = mount(dev);
	after = t_state(fs);
	CHECK(strcmp(before, after) == 0);
	free(before);
	free(after);

	test_random(&fs, dev);

	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	dax_dev_close(&dev);
	t_pool_remove(&pool);
	return t_done("fs_rename");
}
