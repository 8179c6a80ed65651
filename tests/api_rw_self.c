/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_rw_self - udax_pread/udax_pwrite whose buffer is itself a udax
 * mapping, and udax_prefault for handing a mapping to the kernel:
 *
 *  - pwrite from, and pread into, a mapping of another file, of the same
 *    file at another range, and of the very same range, with buffers
 *    larger than the library's bounce buffer, unaligned, covering pages
 *    never faulted (holes read as zeros through the buffer) and pread
 *    into holes (the copy's stores allocate blocks by write faults);
 *    every call completes (watchdog) and leaves exactly the bytes a
 *    plain memory buffer would have;
 *  - a pwrite that grows the file (its mmap lock taken exclusive) from a
 *    mapping of that same file, and of another;
 *  - pread into a MAP_PRIVATE mapping copies, the file does not change,
 *    and the private copies survive a later 2 MiB read fault around them;
 *  - write(2) from a never-faulted mapping to a host file fails with
 *    EFAULT (the kernel cannot fault udax pages), succeeds with the right
 *    bytes after udax_prefault(read); read(2) into the mapping fails with
 *    EFAULT even after a read prefault (pages read-only), succeeds after
 *    udax_prefault(write), and the bytes are then in the file.
 *
 * Bugs it would catch: a deadlock when the copy faults on the file whose
 * mmap lock or entry lock the I/O path holds; a self-copy that reads its
 * own half-written output or a bounce chunk at the wrong offset; a pread
 * that copies into a mapping without going through the fault path (the
 * store lands on a zero page or a stale block); udax_prefault that maps
 * too little, read-only for writing, or nothing at all; a 2 MiB fault in
 * a private mapping that maps the file over the region's private copies
 * (found by this test, fixed in src/vm/pte.c).
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL
#define FSIZE (4 * MiB)

static struct udax_pool *pool;
static struct t_rng rng;

/* Reference copies of both files, kept in ordinary memory. */
static unsigned char *ref[2];
static struct udax_file *file[2];
static unsigned char *map[2];

/* Fill [off, off + len) of file @i with random bytes (pwrite). */
static void randomize(int i, uint64_t off, size_t len)
{
	for (size_t k = 0; k < len; k++)
		ref[i][off + k] = (unsigned char)t_rand(&rng);
	REQUIRE(udax_pwrite(file[i], ref[i] + off, len, off) ==
		(ssize_t)len);
}

/* Does file @i match its reference, through pread and its mapping? */
static bool matches(int i, int line)
{
	unsigned char *buf = malloc(FSIZE);
	bool ok;

	REQUIRE(buf);
	REQUIRE(udax_pread(file[i], buf, FSIZE, 0) == (ssize_t)FSIZE);
	ok = !memcmp(buf, ref[i], FSIZE) && !memcmp(map[i], ref[i], FSIZE);
	if (!ok) {
		for (uint64_t k = 0; k < FSIZE; k++)
			if (buf[k] != ref[i][k] || map[i][k] != ref[i][k]) {
				fprintf(stderr,
					"line %d: file %d byte %llu: pread %u "
					"mapping %u want %u\n",
					line, i, (unsigned long long)k, buf[k],
					map[i][k], ref[i][k]);
				break;
			}
	}
	free(buf);
	return ok;
}

#define MATCHES(i) CHECK(matches(i, __LINE__))

/* pwrite @len bytes of mapping @src at @soff to file @dst at @doff. */
static void copy_out(int src, uint64_t soff, int dst, uint64_t doff,
		     size_t len)
{
	memmove(ref[dst] + doff, ref[src] + soff, len);
	CHECK_EQ(udax_pwrite(file[dst], map[src] + soff, len, doff), len);
}

/* pread @len bytes of file @src at @soff into mapping @dst at @doff. */
static void copy_in(int src, uint64_t soff, int dst, uint64_t doff,
		    size_t len)
{
	memmove(ref[dst] + doff, ref[src] + soff, len);
	CHECK_EQ(udax_pread(file[src], map[dst] + doff, len, soff), len);
}

static uint64_t nblocks(int i)
{
	struct stat sb;

	REQUIRE(udax_fstat(file[i], &sb) == 0);
	return (uint64_t)sb.st_blocks / 8;
}

static void rw_through_mappings(void)
{
	uint64_t b;

	/* File 0: data in its first half and a few pages; file 1: holes. */
	randomize(0, 0, 2 * MiB);
	randomize(0, 3 * MiB + 10 * PG, 3 * PG);

	/*
	 * Cold buffers first: no page of either mapping has been touched.
	 * pwrite from A's mapping (data and holes, 1 MiB + 100 bytes: more
	 * than one bounce buffer) into B.
	 */
	copy_out(0, 2 * MiB - 512 * 1024 - 100, 1, 7, 1 * MiB + 100);
	/* pread from B into holes of A's mapping: the copy allocates. */
	b = nblocks(0);
	copy_in(1, 5, 0, 3 * MiB + 13 * PG + 1, 300 * 1024);
	CHECK(nblocks(0) > b);
	/* Same file, another range. */
	copy_in(0, 100, 0, 2 * MiB + 40 * PG + 9, 200 * 1024);
	/* Same file, same range, over holes: both ways. */
	copy_out(1, 3 * MiB + 8 * PG, 1, 3 * MiB + 8 * PG, 64 * PG);
	copy_in(1, 3 * MiB + 100 * PG + 50, 1, 3 * MiB + 100 * PG + 50,
		64 * PG);
	MATCHES(0);
	MATCHES(1);

	/* Warm buffers: pages mapped read-only, zero pages, writable. */
	copy_out(0, 100, 0, 2 * MiB + 5 * PG + 3, 600 * 1024);
	MATCHES(0);
	copy_in(1, 1 * MiB, 1, 2 * MiB + 17, 700 * 1024);
	MATCHES(1);
	copy_out(0, 1 * MiB + 33, 0, 1 * MiB + 33, 2 * MiB);
	MATCHES(0);
	copy_in(0, 1 * MiB + 33, 0, 1 * MiB + 33, 2 * MiB);
	MATCHES(0);
	/* The whole file at once, onto itself. */
	copy_out(1, 0, 1, 0, FSIZE);
	copy_in(1, 0, 1, 0, FSIZE);
	MATCHES(1);
	MATCHES(0);

	/* pread into a private mapping of the same range: a copy. */
	void *p;
	unsigned char *priv, *buf = malloc(1 * MiB);

	REQUIRE(buf);
	REQUIRE(udax_mmap(file[0], NULL, FSIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE, 0, &p) == 0);
	priv = p;
	for (uint64_t k = 0; k < 1 * MiB; k++)
		buf[k] = (unsigned char)t_rand(&rng);
	REQUIRE(udax_pwrite(file[1], buf, 1 * MiB, 0) == (ssize_t)(1 * MiB));
	memcpy(ref[1], buf, 1 * MiB);
	CHECK_EQ(udax_pread(file[1], priv + 1 * MiB, 1 * MiB, 0), 1 * MiB);
	CHECK(!memcmp(priv + 1 * MiB, buf, 1 * MiB));
	/*
	 * A read fault in the same 2 MiB (a 2 MiB fault if the file's blocks
	 * there are one aligned extent) must not map the file over the
	 * private copies just made.
	 */
	CHECK(!memcmp(priv, ref[0], 1 * MiB));
	CHECK(!memcmp(priv + 1 * MiB, buf, 1 * MiB));
	CHECK_EQ(udax_pwrite(file[0], priv + 1 * MiB, 100, 0), 100);
	memcpy(ref[0], buf, 100);
	MATCHES(0);
	MATCHES(1);
	REQUIRE(udax_munmap(priv, FSIZE) == 0);
	free(buf);
}

/*
 * A pwrite that grows the file holds its mmap lock exclusive: a buffer
 * that is a mapping of that same file must not fault under it.
 */
static void growing_writes(void)
{
	const uint64_t half = 1 * MiB;
	struct udax_file *g, *h;
	unsigned char *m, *want = malloc(2 * half), *buf = malloc(2 * half);
	struct stat sb;
	void *p;

	REQUIRE(want && buf);
	memset(want, 0, 2 * half);
	for (uint64_t k = 0; k < 600 * 1024; k++)
		want[k] = (unsigned char)t_rand(&rng);
	REQUIRE(udax_open(pool, "g", O_RDWR | O_CREAT, 0644, &g) == 0);
	REQUIRE(udax_pwrite(g, want, 600 * 1024, 0) == 600 * 1024);
	REQUIRE(udax_ftruncate(g, half) == 0);
	REQUIRE(udax_mmap(g, NULL, 2 * half, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	m = p;

	/* The first half (never faulted: data, then holes) appended. */
	CHECK_EQ(udax_pwrite(g, m, half, half), half);
	memcpy(want + half, want, half);
	REQUIRE(udax_fstat(g, &sb) == 0);
	CHECK_EQ(sb.st_size, 2 * half);
	CHECK_EQ(udax_pread(g, buf, 2 * half, 0), 2 * half);
	CHECK(!memcmp(buf, want, 2 * half));
	CHECK(!memcmp(m, want, 2 * half));

	/* Another file grown from this mapping, at an unaligned offset. */
	REQUIRE(udax_open(pool, "h", O_RDWR | O_CREAT, 0644, &h) == 0);
	CHECK_EQ(udax_pwrite(h, m + 100, 300 * 1024, 5000), 300 * 1024);
	REQUIRE(udax_fstat(h, &sb) == 0);
	CHECK_EQ(sb.st_size, 5000 + 300 * 1024);
	CHECK_EQ(udax_pread(h, buf, 300 * 1024, 5000), 300 * 1024);
	CHECK(!memcmp(buf, want + 100, 300 * 1024));

	REQUIRE(udax_munmap(m, 2 * half) == 0);
	REQUIRE(udax_close(g) == 0);
	REQUIRE(udax_close(h) == 0);
	free(want);
	free(buf);
}

/* The kernel cannot fault udax pages: udax_prefault first. */
static void prefault_syscalls(void)
{
	const uint64_t off = 2 * MiB - 4 * PG, len = 8 * PG + 100;
	struct udax_file *f;
	char host[300];
	unsigned char *m, *buf = malloc(len);
	void *p;
	int fd;

	REQUIRE(buf);
	/* A fresh file: first four pages data, then holes. */
	REQUIRE(udax_open(pool, "pf", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, FSIZE) == 0);
	for (uint64_t k = 0; k < 4 * PG; k++)
		buf[k] = (unsigned char)(k * 7 + 1);
	REQUIRE(udax_pwrite(f, buf, 4 * PG, off) == (ssize_t)(4 * PG));
	memset(buf + 4 * PG, 0, len - 4 * PG);
	REQUIRE(udax_mmap(f, NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			  0, &p) == 0);
	m = p;

	t_path(host, sizeof(host), "host");
	fd = open(host, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);

	/* write(2) from never-faulted pages: EFAULT. */
	errno = 0;
	CHECK(write(fd, m + off, len) == -1 && errno == EFAULT);
	REQUIRE(udax_prefault(m + off, len, 0) == 0);
	CHECK_EQ(write(fd, m + off, len), len);
	unsigned char *back = malloc(len);

	REQUIRE(back);
	CHECK_EQ(pread(fd, back, len, 0), len);
	CHECK(!memcmp(back, buf, len));

	/* read(2) into read-only pages: EFAULT; writable: fine. */
	for (uint64_t k = 0; k < len; k++)
		back[k] = (unsigned char)(k * 13 + 5);
	CHECK_EQ(pwrite(fd, back, len, 0), len);
	errno = 0;
	CHECK(pread(fd, m + off, len, 0) == -1 && errno == EFAULT);
	CHECK(!memcmp(m + off, buf, len));
	REQUIRE(udax_prefault(m + off, len, 1) == 0);
	CHECK_EQ(pread(fd, m + off, len, 0), len);
	CHECK(!memcmp(m + off, back, len));
	REQUIRE(udax_msync(m + (off & ~(PG - 1)), len + PG, MS_SYNC) == 0);
	memset(buf, 0, len);
	CHECK_EQ(udax_pread(f, buf, len, off), len);
	CHECK(!memcmp(buf, back, len));

	/* Pages never touched, prefaulted for writing at once. */
	errno = 0;
	CHECK(pread(fd, m + 3 * MiB, len, 0) == -1 && errno == EFAULT);
	REQUIRE(udax_prefault(m + 3 * MiB, len, 1) == 0);
	CHECK_EQ(pread(fd, m + 3 * MiB, len, 0), len);
	memset(buf, 0, len);
	CHECK_EQ(udax_pread(f, buf, len, 3 * MiB), len);
	CHECK(!memcmp(buf, back, len));

	close(fd);
	free(back);
	free(buf);
	REQUIRE(udax_munmap(m, FSIZE) == 0);
	REQUIRE(udax_close(f) == 0);
}

int main(int argc, char **argv)
{
	static const char *names[] = { "a", "b" };
	char path[300];
	void *p;

	t_init(argc, argv);
	t_watchdog(60);
	t_rng_init(&rng, t_seed);
	t_tmpdir();
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	for (int i = 0; i < 2; i++) {
		ref[i] = calloc(1, FSIZE);
		REQUIRE(ref[i]);
		REQUIRE(udax_open(pool, names[i], O_RDWR | O_CREAT, 0644,
				  &file[i]) == 0);
		REQUIRE(udax_ftruncate(file[i], FSIZE) == 0);
		REQUIRE(udax_mmap(file[i], NULL, FSIZE,
				  PROT_READ | PROT_WRITE, MAP_SHARED, 0,
				  &p) == 0);
		map[i] = p;
	}
	rw_through_mappings();
	growing_writes();
	prefault_syscalls();
	for (int i = 0; i < 2; i++) {
		REQUIRE(udax_munmap(map[i], FSIZE) == 0);
		REQUIRE(udax_close(file[i]) == 0);
		free(ref[i]);
	}
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_rw_self");
}
