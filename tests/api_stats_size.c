/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_stats_size - struct udax_stats can grow: udax_file_stats and
 * udax_pool_stats fill min(caller's size, library's size) bytes, set the
 * size field to that count and write nothing past it, so a program built
 * against an older (shorter) or newer (longer) header works; a size that
 * cannot hold the size field is -EINVAL and writes nothing.
 */
#include <stddef.h>

#include "api_util.h"

#define MiB (1ULL << 20)

/* The caller's buffer: a struct udax_stats and room past it. */
union buf {
	struct udax_stats st;
	unsigned char b[sizeof(struct udax_stats) + 64];
};

/* 1 if b[from, to) all hold @v. */
static int all(const union buf *u, size_t from, size_t to, unsigned char v)
{
	for (size_t i = from; i < to; i++)
		if (u->b[i] != v)
			return 0;
	return 1;
}

typedef int (*stats_fn)(void *obj, struct udax_stats *st, size_t size);

static int file_fn(void *obj, struct udax_stats *st, size_t size)
{
	return udax_file_stats(obj, st, size);
}

static int pool_fn(void *obj, struct udax_stats *st, size_t size)
{
	return udax_pool_stats(obj, st, size);
}

/* Nothing changes the counters between calls: results compare equal. */
static void check(stats_fn fn, void *obj)
{
	const size_t full = sizeof(struct udax_stats);
	const size_t old = offsetof(struct udax_stats, faults_read);
	union buf a, u;

	/* The caller's own size: all of it, size says so. */
	memset(&a, 0xab, sizeof(a));
	REQUIRE(fn(obj, &a.st, full) == 0);
	CHECK_EQ(a.st.size, full);
	CHECK(all(&a, full, sizeof(a), 0xab));

	/* An older, shorter struct: only its fields, nothing past them. */
	memset(&u, 0xab, sizeof(u));
	REQUIRE(fn(obj, &u.st, old) == 0);
	CHECK_EQ(u.st.size, old);
	CHECK_EQ(u.st.faults_pte, a.st.faults_pte);
	CHECK_EQ(u.st.faults_pmd, a.st.faults_pmd);
	CHECK(all(&u, old, sizeof(u), 0xab));

	/* Just the size field. */
	memset(&u, 0xab, sizeof(u));
	REQUIRE(fn(obj, &u.st, sizeof(u.st.size)) == 0);
	CHECK_EQ(u.st.size, sizeof(u.st.size));
	CHECK(all(&u, sizeof(u.st.size), sizeof(u), 0xab));

	/* A newer, longer struct: the library's fields, size tells. */
	memset(&u, 0xab, sizeof(u));
	REQUIRE(fn(obj, &u.st, sizeof(u)) == 0);
	CHECK_EQ(u.st.size, full);
	CHECK(!memcmp(&u, &a, full));
	CHECK(all(&u, full, sizeof(u), 0xab));

	/* Too small for the size field, or no size: refused, untouched. */
	for (size_t bad = 0; bad < sizeof(u.st.size); bad++) {
		memset(&u, 0xab, sizeof(u));
		CHECK_EQ(fn(obj, &u.st, bad), -EINVAL);
		CHECK(all(&u, 0, sizeof(u), 0xab));
	}
}

int main(int argc, char **argv)
{
	struct udax_pool *pool;
	struct udax_file *f, *f2;
	struct udax_stats st;
	char path[300], buf[4096];
	void *p;

	t_init(argc, argv);
	t_watchdog(60);
	t_tmpdir();
	t_path(path, sizeof(path), "pool");

	REQUIRE(udax_pool_create(path, 16 * MiB, &pool) == 0);
	REQUIRE(udax_open(pool, "data", O_RDWR | O_CREAT, 0644, &f) == 0);
	memset(buf, 0x5a, sizeof(buf));
	REQUIRE(udax_pwrite(f, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
	REQUIRE(udax_ftruncate(f, 4 * 4096) == 0);
	REQUIRE(udax_mmap(f, NULL, 4 * 4096, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	((volatile char *)p)[0] = 1;      /* a write fault */
	(void)((volatile char *)p)[8192]; /* a hole */
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	CHECK(st.faults_pte > 0);

	check(file_fn, f);
	check(pool_fn, pool);
	REQUIRE(udax_pool_stats(pool, &st, sizeof(st)) == 0);
	CHECK_EQ(st.pool_files, 1);
	/* the inode table: one file taken, the rest free */
	CHECK(st.pool_inodes > 1);
	CHECK_EQ(st.pool_free_inodes, st.pool_inodes - 1);
	REQUIRE(udax_open(pool, "second", O_RDWR | O_CREAT, 0644, &f2) == 0);
	REQUIRE(udax_pool_stats(pool, &st, sizeof(st)) == 0);
	CHECK_EQ(st.pool_free_inodes, st.pool_inodes - 2);
	REQUIRE(udax_close(f2) == 0);
	REQUIRE(udax_unlink(pool, "second") == 0);
	REQUIRE(udax_pool_stats(pool, &st, sizeof(st)) == 0);
	CHECK_EQ(st.pool_free_inodes, st.pool_inodes - 1);

	REQUIRE(udax_munmap(p, 4 * 4096) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	t_cleanup();
	return t_done("api_stats_size");
}
