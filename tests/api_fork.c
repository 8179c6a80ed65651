/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_fork - a child forked from a process that uses udax can never
 * corrupt the pool or change what the parent sees: every udax call fails
 * at once with -EPERM, a fault on a udax page the parent had not mapped
 * (or a store to one it had mapped read-only) raises SIGBUS there, pages
 * mapped writable before fork stay shared as the kernel shares them; and
 * fork + exec (system()) works. Then the parent's data is intact and
 * fsck is clean.
 */
#define _GNU_SOURCE
#include <sys/wait.h>
#include <unistd.h>

#include "api_util.h"

#define PG 4096ULL
#define PAGES 600 /* two 2 MiB windows of the file */

static uint64_t stamp(uint64_t page)
{
	return 0x5eed000000000000ULL | page;
}

/* The child: each check failed adds a bit to the exit status. */
static int child(struct udax_pool *pool, struct udax_file *f, char *map)
{
	uint64_t v = 0;
	struct udax_file *g;
	struct stat st;
	int bad = 0;

	if (udax_pwrite(f, &v, 8, 0) != -EPERM)
		bad |= 1;
	if (udax_ftruncate(f, 0) != -EPERM)
		bad |= 2;
	if (udax_open(pool, "other", O_RDWR | O_CREAT, 0644, &g) != -EPERM)
		bad |= 4;
	if (udax_fstat(f, &st) != -EPERM || udax_msync(map, PG, MS_SYNC) !=
						    -EPERM)
		bad |= 8;
	/* Page 550 (the second window) was never touched: SIGBUS. */
	if (t_load((volatile uint64_t *)(map + 550 * PG), &v))
		bad |= 16;
	/* Page 2 was read (read-only): a store gets SIGBUS too. */
	if (t_store((volatile uint64_t *)(map + 2 * PG), 1))
		bad |= 32;
	/* Page 3 was written before fork: shared, as the kernel shares it. */
	if (!t_store((volatile uint64_t *)(map + 3 * PG + 8), 0xc41d))
		bad |= 64;
	/* Reads of pages mapped before fork work. */
	if (!t_load((volatile uint64_t *)(map + 2 * PG), &v) || v != stamp(2))
		bad |= 128;
	return bad;
}

int main(int argc, char **argv)
{
	struct udax_pool *pool;
	struct udax_file *f;
	char path[300], *map;
	uint64_t v;
	void *m;
	pid_t pid;
	int status;

	t_init(argc, argv);
	t_watchdog(60);
	t_catch_sigbus();
	t_tmpdir();
	t_path(path, sizeof(path), "p.pool");
	REQUIRE(udax_pool_create(path, 16 << 20, &pool) == 0);
	REQUIRE(udax_open(pool, "f", O_RDWR | O_CREAT, 0644, &f) == 0);
	for (uint64_t p = 0; p < PAGES; p++) {
		v = stamp(p);
		REQUIRE(udax_pwrite(f, &v, 8, p * PG) == 8);
	}
	REQUIRE(udax_mmap(f, NULL, PAGES * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &m) == 0);
	map = m;
	/*
	 * Page 2 read (its span maps the rest of the first window
	 * read-only), page 3 written; the second window untouched.
	 */
	CHECK_EQ(*(volatile uint64_t *)(map + 2 * PG), stamp(2));
	*(volatile uint64_t *)(map + 3 * PG + 8) = 0x9a7e;
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(child(pool, f, map));
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);

	/* fork + exec is fine while a pool is open. */
	CHECK_EQ(system("true"), 0);

	/* The parent: nothing changed but the shared page's word. */
	for (uint64_t p = 0; p < PAGES; p++) {
		REQUIRE(udax_pread(f, &v, 8, p * PG) == 8);
		CHECK_EQ(v, stamp(p));
	}
	REQUIRE(udax_pread(f, &v, 8, 3 * PG + 8) == 8);
	CHECK_EQ(v, 0xc41d);
	CHECK_EQ(udax_msync(map, PAGES * PG, MS_SYNC), 0);
	REQUIRE(udax_munmap(map, PAGES * PG) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);

	/* No pool open, no mapping: a child may use udax on its own. */
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int err = udax_pool_open(path, 0, &pool);

		if (!err)
			err = udax_pool_close(pool);
		_exit(err ? 1 : 0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	t_cleanup();
	return t_done("api_fork");
}
