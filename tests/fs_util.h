/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_util.h - what the filesystem tests share: a pool file in a private
 * temporary directory (mkdtemp under $TMPDIR or /tmp, removed at the
 * end), a printable description of a mounted filesystem's whole state
 * (names, sizes, every mapped run, free counts) to compare images, and
 * an fsck reporter that prints and counts.
 */
#ifndef UDAX_TEST_FS_UTIL_H
#define UDAX_TEST_FS_UTIL_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "fs/fs.h"

struct t_pool {
	char dir[PATH_MAX];
	char path[PATH_MAX + 8];
};

/*
 * Make a directory for a pool; the pool path is DIR/pool. Under $TMPDIR if
 * set, else /dev/shm if usable (persisting is an msync: on a disk-backed
 * /tmp every commit would wait for the disk), else /tmp.
 */
static inline void t_pool_dir(struct t_pool *p)
{
	const char *tmp = getenv("TMPDIR");

	if ((!tmp || !*tmp) && access("/dev/shm", W_OK | X_OK) == 0)
		tmp = "/dev/shm";
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(p->dir, sizeof(p->dir), "%s/udax-fs-XXXXXX", tmp);
	REQUIRE(mkdtemp(p->dir) != NULL);
	snprintf(p->path, sizeof(p->path), "%s/pool", p->dir);
}

/* Create a pool file of @size bytes and open it. */
static inline struct dax_dev *t_pool_create(struct t_pool *p, uint64_t size)
{
	struct dax_dev *dev = NULL;

	t_pool_dir(p);
	REQUIRE(dax_dev_create(p->path, size, &dev) == 0);
	return dev;
}

static inline void t_pool_remove(struct t_pool *p)
{
	unlink(p->path);
	rmdir(p->dir);
}

/* fsck reporter: print each problem (unless quiet) and count them. */
struct t_fsck {
	int nr;
	bool quiet;
	char first[512];
};

static inline void t_fsck_report(void *ctx, const char *problem)
{
	struct t_fsck *f = ctx;

	if (!f->nr)
		snprintf(f->first, sizeof(f->first), "%s", problem);
	f->nr++;
	if (!f->quiet)
		printf("  fsck: %s\n", problem);
}

/* fsck @dev; the number of problems in *@nr (may be NULL). */
static inline int t_fsck(struct dax_dev *dev, bool quiet, int *nr)
{
	struct t_fsck f = { .quiet = quiet };
	int err = dax_fs_fsck(dev, t_fsck_report, &f);

	if (nr)
		*nr = f.nr;
	return err;
}

/* A growing string. */
struct t_buf {
	char *s;
	size_t len, cap;
};

static inline __attribute__((format(printf, 2, 3))) void
t_buf_add(struct t_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		REQUIRE(n >= 0);
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		REQUIRE(b->s);
	}
}

static inline int t_state_name(void *ctx, const char *name, uint64_t size)
{
	struct t_buf *names = ctx;

	(void)size;
	t_buf_add(names, "%s\n", name);
	return 0;
}

/* Every mapped run of @ip as " page:block+nr". */
static inline void t_state_extents(struct t_buf *b, struct dax_inode *ip)
{
	struct dax_iomap map;
	uint64_t index = 0;

	while (index < DAX_FS_MAX_FILE_PAGES) {
		uint64_t left = DAX_FS_MAX_FILE_PAGES - index;

		REQUIRE(dax_inode_iomap(ip, index, left, 0, &map) == 0);
		REQUIRE(map.index == index && map.nr > 0);
		if (map.type == DAX_IOMAP_MAPPED)
			t_buf_add(b, " %" PRIu64 ":%" PRIu64 "+%" PRIu64,
				  map.index, map.block, map.nr);
		index += map.nr;
	}
}

/*
 * The state of mounted @fs as a string (caller frees): free counts, then
 * per name (readdir order) its size and mapped runs.
 */
static inline char *t_state(struct dax_fs *fs)
{
	struct t_buf names = { 0 }, out = { 0 };
	struct dax_fs_stats st;
	char *line, *save = NULL;

	dax_fs_get_stats(fs, &st);
	t_buf_add(&out, "free blocks %" PRIu64 " inodes %" PRIu64 "\n",
		  st.free_blocks, st.free_inodes);
	t_buf_add(&names, "%s", "");
	REQUIRE(dax_fs_readdir(fs, t_state_name, &names) == 0);
	for (line = strtok_r(names.s, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct dax_inode *ip;

		REQUIRE(dax_fs_lookup(fs, line, &ip) == 0);
		t_buf_add(&out, "%s size %" PRIu64 ":", line,
			  dax_inode_size(ip));
		t_state_extents(&out, ip);
		t_buf_add(&out, "\n");
		dax_fs_iput(fs, ip);
	}
	free(names.s);
	return out.s;
}

#endif /* UDAX_TEST_FS_UTIL_H */
