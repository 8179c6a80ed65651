/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_syscall - system calls given udax buffers, as udax.h states: read(2)
 * into a page that is not mapped writable fails with EFAULT (the kernel
 * cannot fault udax pages in); after udax_prefault it works; writeback
 * revokes write access (read(2) into the page fails again) but never read
 * access (write(2) from it keeps working); udax_retry_efault runs the
 * call with prefaults and works in every case.
 */
#define _GNU_SOURCE
#include <unistd.h>

#include "api_util.h"

#define PG 4096ULL

static int fds[2];

struct rw {
	int fd;
	void *buf;
	size_t len;
};

static ssize_t do_read(void *arg)
{
	struct rw *a = arg;

	return read(a->fd, a->buf, a->len);
}

/* Put @n bytes of @c into the pipe. */
static void feed(char c, size_t n)
{
	char b[64];

	memset(b, c, sizeof(b));
	REQUIRE(n <= sizeof(b) && write(fds[1], b, n) == (ssize_t)n);
}

int main(int argc, char **argv)
{
	struct udax_pool *pool;
	struct udax_file *f;
	char path[300], *m, out[64];
	struct rw a;
	void *p;

	t_init(argc, argv);
	t_watchdog(60);
	t_tmpdir();
	t_path(path, sizeof(path), "p.pool");
	REQUIRE(pipe(fds) == 0);
	REQUIRE(udax_pool_create(path, 16 << 20, &pool) == 0);
	REQUIRE(udax_open(pool, "f", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_fallocate(f, 0, 0, 64 * PG) == 0);
	REQUIRE(udax_mmap(f, NULL, 64 * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	m = p;

	/* Untouched: EFAULT. */
	feed('a', 16);
	CHECK(read(fds[0], m + 3 * PG, 16) == -1 && errno == EFAULT);
	/* Prefaulted for writing: works. */
	CHECK_EQ(udax_prefault(m + 3 * PG, 16, 1), 0);
	CHECK_EQ(read(fds[0], m + 3 * PG, 16), 16);
	CHECK_EQ(m[3 * PG + 15], 'a');
	/* Writeback takes write access away ... */
	CHECK_EQ(udax_msync(m, 64 * PG, MS_SYNC), 0);
	feed('b', 16);
	CHECK(read(fds[0], m + 3 * PG, 16) == -1 && errno == EFAULT);
	/* ... never read access: write(2) from the page works. */
	CHECK_EQ(write(fds[1], m + 3 * PG, 16), 16);
	/* The helper: 16 'b' then 16 'a' from the page are in the pipe. */
	a = (struct rw){ .fd = fds[0], .buf = m + 3 * PG, .len = 32 };
	CHECK_EQ(udax_retry_efault(do_read, &a, a.buf, a.len, 1), 32);
	CHECK_EQ(m[3 * PG], 'b');
	CHECK_EQ(m[3 * PG + 31], 'a');
	/* A page the helper sees for the first time, across two pages. */
	feed('c', 40);
	a = (struct rw){ .fd = fds[0], .buf = m + 9 * PG - 20, .len = 40 };
	CHECK_EQ(udax_retry_efault(do_read, &a, a.buf, a.len, 1), 40);
	CHECK_EQ(udax_pread(f, out, 40, 9 * PG - 20), 40);
	CHECK(!memcmp(out, "cccccccccccccccccccccccccccccccccccccccc", 40));
	CHECK_EQ(udax_retry_efault(NULL, NULL, m, 1, 0), -EINVAL);

	REQUIRE(udax_munmap(m, 64 * PG) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_syscall");
}
