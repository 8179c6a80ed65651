/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_rename - udax_rename() through the public API: a rename moves an
 * open, mapped file without disturbing its handle or mapping; replacing a
 * file that is open and mapped keeps its handle reading and writing and
 * its mapping loading and storing the old bytes (the new name shows the
 * new file), and its blocks come back to the pool only when the last
 * handle and mapping go; NOREPLACE; from == to; every error changing
 * nothing; the names and data as renamed after the pool is closed and
 * opened again, fsck clean; -EPERM in a forked child.
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL

static uint64_t free_blocks(struct udax_pool *pool)
{
	struct udax_stats st;

	REQUIRE(udax_pool_stats(pool, &st) == 0);
	return st.pool_free_blocks;
}

/* Create @name with @pages pages, page p's words all @tag + p. */
static void make(struct udax_pool *pool, const char *name, uint64_t tag,
		 uint64_t pages)
{
	static uint64_t buf[PG / 8];
	struct udax_file *f;

	REQUIRE(udax_open(pool, name, O_RDWR | O_CREAT | O_EXCL, 0644, &f) ==
		0);
	for (uint64_t p = 0; p < pages; p++) {
		for (size_t i = 0; i < PG / 8; i++)
			buf[i] = tag + p;
		REQUIRE(udax_pwrite(f, buf, PG, p * PG) == (ssize_t)PG);
	}
	REQUIRE(udax_close(f) == 0);
}

/* Does @f hold make(@tag, @pages)'s bytes (read with pread)? */
static bool holds(struct udax_file *f, uint64_t tag, uint64_t pages)
{
	static uint64_t buf[PG / 8];
	struct stat st;

	if (udax_fstat(f, &st) || (uint64_t)st.st_size != pages * PG)
		return false;
	for (uint64_t p = 0; p < pages; p++) {
		if (udax_pread(f, buf, PG, p * PG) != (ssize_t)PG)
			return false;
		for (size_t i = 0; i < PG / 8; i++)
			if (buf[i] != tag + p)
				return false;
	}
	return true;
}

static bool named(struct udax_pool *pool, const char *name, uint64_t tag,
		  uint64_t pages)
{
	struct udax_file *f;
	bool ok;

	if (udax_open(pool, name, O_RDONLY, 0, &f))
		return false;
	ok = holds(f, tag, pages);
	udax_close(f);
	return ok;
}

static bool absent(struct udax_pool *pool, const char *name)
{
	struct udax_file *f;
	int err = udax_open(pool, name, O_RDONLY, 0, &f);

	if (!err)
		udax_close(f);
	return err == -ENOENT;
}

static int list_names(void *ctx, const char *name, uint64_t size)
{
	char *s = ctx;

	(void)size;
	strcat(s, name);
	strcat(s, " ");
	return 0;
}

static void names(struct udax_pool *pool, char *s)
{
	s[0] = 0;
	REQUIRE(udax_list(pool, list_names, s) == 0);
}

int main(int argc, char **argv)
{
	char path[300], toolong[300], before[1024], after[1024];
	struct udax_pool *pool;
	struct udax_file *f, *old;
	uint64_t v, free0, free1;
	uint64_t *map, *omap;
	struct stat st;
	void *p;
	int status;
	pid_t pid;

	t_init(argc, argv);
	t_watchdog(120);
	t_tmpdir();
	t_catch_sigbus();
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 16 * MiB, &pool) == 0);

	/* A plain rename of an open, mapped file. */
	make(pool, "a", 100, 4);
	REQUIRE(udax_open(pool, "a", O_RDWR, 0, &f) == 0);
	REQUIRE(udax_mmap(f, NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			  0, &p) == 0);
	map = p;
	CHECK(t_load(&map[0], &v) && v == 100);
	CHECK_EQ(udax_rename(pool, "a", "b", 0), 0);
	CHECK(absent(pool, "a"));
	CHECK(named(pool, "b", 100, 4));
	CHECK(t_load(&map[512 * 3], &v) && v == 103);
	CHECK(t_store(&map[512 * 3 + 1], 103)); /* same value: data intact */
	CHECK(holds(f, 100, 4));
	REQUIRE(udax_fstat(f, &st) == 0);
	CHECK_EQ(st.st_nlink, 1);
	REQUIRE(udax_munmap(map, 4 * PG) == 0);
	REQUIRE(udax_close(f) == 0);

	/*
	 * Replace "c" while it is open and mapped: the handle and mapping
	 * keep the old file (loads, stores, pread, pwrite), "c" is the new
	 * one, and the old blocks are freed only at the last close/unmap.
	 */
	make(pool, "c", 200, 8);
	REQUIRE(udax_open(pool, "c", O_RDWR, 0, &old) == 0);
	REQUIRE(udax_mmap(old, NULL, 8 * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	omap = p;
	CHECK(t_load(&omap[0], &v) && v == 200); /* page 0 mapped before */
	free0 = free_blocks(pool);
	CHECK_EQ(udax_rename(pool, "b", "c", 0), 0);
	CHECK_EQ(free_blocks(pool), free0);
	CHECK(absent(pool, "b"));
	CHECK(named(pool, "c", 100, 4));
	names(pool, after);
	CHECK(strcmp(after, "c ") == 0);
	CHECK(t_load(&omap[0], &v) && v == 200);
	CHECK(t_load(&omap[512 * 7], &v) && v == 207); /* faulted after */
	CHECK(holds(old, 200, 8));
	REQUIRE(udax_fstat(old, &st) == 0);
	CHECK_EQ(st.st_nlink, 0);
	CHECK(t_store(&omap[512 * 5 + 9], 0xdead));
	CHECK(udax_pread(old, &v, 8, 5 * PG + 9 * 8) == 8 && v == 0xdead);
	v = 205;
	CHECK(udax_pwrite(old, &v, 8, 5 * PG + 9 * 8) == 8);
	CHECK(t_load(&omap[512 * 5 + 9], &v) && v == 205);
	CHECK(holds(old, 200, 8));
	CHECK(named(pool, "c", 100, 4)); /* untouched by the stores */
	REQUIRE(udax_close(old) == 0);
	CHECK_EQ(free_blocks(pool), free0); /* the mapping still holds it */
	CHECK(t_load(&omap[512 * 6], &v) && v == 206);
	REQUIRE(udax_munmap(omap, 8 * PG) == 0);
	CHECK_EQ(free_blocks(pool), free0 + 8);

	/* Replace a closed file: its blocks are free at once. */
	make(pool, "d", 300, 3);
	free0 = free_blocks(pool);
	CHECK_EQ(udax_rename(pool, "d", "c", 0), 0);
	CHECK_EQ(free_blocks(pool), free0 + 4);
	CHECK(named(pool, "c", 300, 3));

	/* NOREPLACE, from == to, errors: nothing changes. */
	make(pool, "e", 400, 2);
	memset(toolong, 'n', 256);
	toolong[256] = 0;
	names(pool, before);
	free0 = free_blocks(pool);
	CHECK_EQ(udax_rename(pool, "e", "c", UDAX_RENAME_NOREPLACE), -EEXIST);
	CHECK_EQ(udax_rename(pool, "e", "e", UDAX_RENAME_NOREPLACE), -EEXIST);
	CHECK_EQ(udax_rename(pool, "e", "e", 0), 0);
	CHECK_EQ(udax_rename(pool, "x", "x", 0), -ENOENT);
	CHECK_EQ(udax_rename(pool, "x", "c", 0), -ENOENT);
	CHECK_EQ(udax_rename(pool, "x", "y", UDAX_RENAME_NOREPLACE), -ENOENT);
	CHECK_EQ(udax_rename(pool, "e", "", 0), -EINVAL);
	CHECK_EQ(udax_rename(pool, "", "y", 0), -EINVAL);
	CHECK_EQ(udax_rename(pool, "e", "d/y", 0), -EINVAL);
	CHECK_EQ(udax_rename(pool, "e/", "y", 0), -EINVAL);
	CHECK_EQ(udax_rename(pool, NULL, "y", 0), -EINVAL);
	CHECK_EQ(udax_rename(pool, "e", NULL, 0), -EINVAL);
	CHECK_EQ(udax_rename(NULL, "e", "y", 0), -EINVAL);
	CHECK_EQ(udax_rename(pool, "e", "y", 2), -EINVAL);
	CHECK_EQ(udax_rename(pool, "e", "y", -1), -EINVAL);
	CHECK_EQ(udax_rename(pool, "e", toolong, 0), -ENAMETOOLONG);
	CHECK_EQ(udax_rename(pool, toolong, "y", 0), -ENAMETOOLONG);
	names(pool, after);
	CHECK(strcmp(before, after) == 0);
	CHECK_EQ(free_blocks(pool), free0);
	CHECK(named(pool, "c", 300, 3) && named(pool, "e", 400, 2));
	CHECK_EQ(udax_rename(pool, "e", "f", UDAX_RENAME_NOREPLACE), 0);
	CHECK(absent(pool, "e") && named(pool, "f", 400, 2));

	/* A forked child may not rename (its copy would corrupt the pool). */
	pid = fork();
	REQUIRE(pid >= 0);
	if (!pid)
		_exit(udax_rename(pool, "f", "g", 0) == -EPERM ? 0 : 1);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(named(pool, "f", 400, 2) && absent(pool, "g"));

	/* Durable: as renamed after a close and reopen, fsck clean. */
	names(pool, before);
	free1 = free_blocks(pool);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	names(pool, after);
	CHECK(strcmp(before, after) == 0);
	CHECK_EQ(free_blocks(pool), free1);
	CHECK(named(pool, "c", 300, 3) && named(pool, "f", 400, 2));
	REQUIRE(udax_pool_close(pool) == 0);
	t_cleanup();
	return t_done("api_rename");
}
