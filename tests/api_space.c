/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_space - freed space goes back to the host: a pool file is created
 * sparse, grows on the host (st_blocks) as files are written, and shrinks
 * again when blocks are freed: ftruncate, punch hole, unlink (of a closed
 * file at once; of an open and mapped one only when the last handle and
 * mapping go), rename over a file, blocks of an extent block chain. What
 * is left is intact (interleaved files: removing one leaves the other's
 * bytes), blocks handed out again read as zeros where not written, and
 * the pool is fsck clean and the same after a reopen. mkfs itself takes
 * next to no host space, for a new pool file as for an old file of data.
 *
 * Runs on tmpfs (/dev/shm) and on the file system of the current
 * directory (ctest: the build directory); a file system that cannot
 * punch holes (fallocate EOPNOTSUPP) is skipped, and the test is skipped
 * (77) if neither can.
 */
#define _GNU_SOURCE /* fallocate */
#include <fcntl.h>
#include <limits.h>

#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL
#define POOL_SIZE (64 * MiB)
/*
 * What the host file system's own metadata may add or take (ext4 extent
 * tree blocks come and go as the pool file gets holes).
 */
#define SLACK (64 * 1024ULL)

static char pool_path[PATH_MAX + 16];

/* Bytes the pool file takes on the host. */
static uint64_t host(void)
{
	struct stat st;

	REQUIRE(stat(pool_path, &st) == 0);
	return (uint64_t)st.st_blocks * 512;
}

static uint64_t word(uint64_t tag, uint64_t off)
{
	return tag * 0x9E3779B97F4A7C15ULL ^ off;
}

/* Write [@off, @off + @len) of @f (8-byte multiples) with word(@tag). */
static void fill(struct udax_file *f, uint64_t tag, uint64_t off,
		 uint64_t len)
{
	static uint64_t buf[MiB / 8];

	while (len) {
		uint64_t n = len < MiB ? len : MiB;

		for (uint64_t i = 0; i < n / 8; i++)
			buf[i] = word(tag, off + i * 8);
		REQUIRE(udax_pwrite(f, buf, n, off) == (ssize_t)n);
		off += n;
		len -= n;
	}
}

/* Does [@off, @off + @len) of @f hold word(@tag)? */
static bool check(struct udax_file *f, uint64_t tag, uint64_t off,
		  uint64_t len)
{
	static uint64_t buf[MiB / 8];

	while (len) {
		uint64_t n = len < MiB ? len : MiB;

		if (udax_pread(f, buf, n, off) != (ssize_t)n)
			return false;
		for (uint64_t i = 0; i < n / 8; i++)
			if (buf[i] != word(tag, off + i * 8))
				return false;
		off += n;
		len -= n;
	}
	return true;
}

static struct udax_file *create(struct udax_pool *pool, const char *name,
				uint64_t tag, uint64_t len)
{
	struct udax_file *f;

	REQUIRE(udax_open(pool, name, O_RDWR | O_CREAT | O_EXCL, 0644, &f) ==
		0);
	fill(f, tag, 0, len);
	return f;
}

/* Can the file system of @dir punch holes? */
static bool can_punch(const char *dir)
{
	char path[PATH_MAX + 16];
	char buf[8192];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/probe", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	REQUIRE(fd >= 0);
	memset(buf, 1, sizeof(buf));
	REQUIRE(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	ok = !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			4096);
	if (!ok)
		REQUIRE(errno == EOPNOTSUPP);
	close(fd);
	unlink(path);
	return ok;
}

/*
 * mkfs costs the host next to nothing. A new 1 GiB pool takes the blocks
 * mkfs writes (the superblock, its backup, the bitmap's first block) and
 * those a mount or fsck reads (the bitmap's 8 blocks: on tmpfs a read
 * fault fills a page in), 12 blocks, plus SLACK for the host's own
 * metadata; before, mkfs stored zeros over its 8 MiB inode table. A
 * pool formatted over a file full of data keeps none of the data: its
 * 256 KiB journal and 128 KiB inode table were stored over before.
 */
static void mkfs_space(const char *dir)
{
	static char buf[MiB];
	struct udax_pool *pool;
	uint64_t h;
	int fd;

	snprintf(pool_path, sizeof(pool_path), "%s/fresh", dir);
	REQUIRE(udax_pool_create(pool_path, 1024 * MiB, &pool) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(pool_path), 0);
	h = host();
	printf("%s: a new 1 GiB pool takes %llu KiB\n", dir,
	       (unsigned long long)(h >> 10));
	CHECK(h <= 12 * PG + SLACK);
	REQUIRE(unlink(pool_path) == 0);

	snprintf(pool_path, sizeof(pool_path), "%s/old", dir);
	fd = open(pool_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	REQUIRE(fd >= 0);
	memset(buf, 0x5c, sizeof(buf));
	for (int i = 0; i < 16; i++)
		REQUIRE(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	REQUIRE(close(fd) == 0);
	CHECK(host() >= 16 * MiB);
	REQUIRE(udax_pool_format(pool_path, 0, UDAX_FORMAT_FORCE, NULL) == 0);
	CHECK_EQ(t_fsck(pool_path), 0);
	h = host();
	printf("%s: a 16 MiB file of data formatted: %llu KiB\n", dir,
	       (unsigned long long)(h >> 10));
	CHECK(h <= 5 * PG + SLACK);
	REQUIRE(unlink(pool_path) == 0);
}

/* Return: false if @base cannot punch holes (nothing run). */
static bool run(const char *base)
{
	char dir[PATH_MAX];
	struct udax_pool *pool;
	struct udax_file *a, *b, *e, *g;
	uint64_t h0, h1, h, *map, v;
	double t0 = t_now();
	void *p;

	snprintf(dir, sizeof(dir), "%s/udax-space-XXXXXX", base);
	REQUIRE(mkdtemp(dir) != NULL);
	if (!can_punch(dir)) {
		printf("%s: the file system cannot punch holes: skipped\n",
		       base);
		rmdir(dir);
		return false;
	}
	mkfs_space(dir);
	snprintf(pool_path, sizeof(pool_path), "%s/pool", dir);
	REQUIRE(udax_pool_create(pool_path, POOL_SIZE, &pool) == 0);
	h0 = host();
	printf("%s: a new %llu MiB pool takes %llu KiB\n", base,
	       (unsigned long long)(POOL_SIZE / MiB),
	       (unsigned long long)(h0 >> 10));
	CHECK(h0 < 4 * MiB); /* created sparse */

	/* Grow, then shrink with truncate, punch hole and unlink. */
	a = create(pool, "a", 1, 16 * MiB);
	h1 = host();
	CHECK(h1 + SLACK >= h0 + 16 * MiB);
	REQUIRE(udax_ftruncate(a, 8 * MiB) == 0);
	h = host();
	CHECK(h <= h1 - 8 * MiB + SLACK);
	REQUIRE(udax_fallocate(a, UDAX_FALLOC_PUNCH_HOLE |
					  UDAX_FALLOC_KEEP_SIZE,
			       2 * MiB, 4 * MiB) == 0);
	CHECK(host() <= h - 4 * MiB + SLACK);
	CHECK(check(a, 1, 0, 2 * MiB) && check(a, 1, 6 * MiB, 2 * MiB));
	REQUIRE(udax_close(a) == 0);
	REQUIRE(udax_unlink(pool, "a") == 0);
	CHECK(host() <= h0 + 256 * 1024 + SLACK);

	/* Unlinked while open and mapped: the space goes with the last. */
	b = create(pool, "b", 2, 8 * MiB);
	REQUIRE(udax_mmap(b, NULL, 8 * MiB, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	map = p;
	CHECK(t_store(&map[3 * MiB / 8], 77));
	h = host();
	REQUIRE(udax_unlink(pool, "b") == 0);
	REQUIRE(udax_close(b) == 0);
	CHECK(host() + SLACK >= h);
	CHECK(t_load(&map[3 * MiB / 8], &v) && v == 77);
	CHECK(t_load(&map[5 * MiB / 8], &v) && v == word(2, 5 * MiB));
	REQUIRE(udax_munmap(map, 8 * MiB) == 0);
	CHECK(host() <= h - 8 * MiB + SLACK);

	/* Renamed over: the old file's space goes. */
	REQUIRE(udax_close(create(pool, "c", 3, 8 * MiB)) == 0);
	REQUIRE(udax_close(create(pool, "d", 4, 1 * MiB)) == 0);
	h = host();
	REQUIRE(udax_rename(pool, "d", "c", 0) == 0);
	CHECK(host() <= h - 8 * MiB + SLACK);

	/*
	 * Interleaved files (256 KiB at a time each), then one removed: the
	 * other keeps every byte.
	 */
	REQUIRE(udax_open(pool, "e", O_RDWR | O_CREAT, 0644, &e) == 0);
	REQUIRE(udax_open(pool, "f", O_RDWR | O_CREAT, 0644, &b) == 0);
	for (uint64_t off = 0; off < 8 * MiB; off += 256 * 1024) {
		fill(e, 5, off, 256 * 1024);
		fill(b, 6, off, 256 * 1024);
	}
	REQUIRE(udax_close(b) == 0);
	h = host();
	REQUIRE(udax_unlink(pool, "f") == 0);
	CHECK(host() <= h - 8 * MiB + SLACK);
	CHECK(check(e, 5, 0, 8 * MiB));

	/*
	 * Single pages far apart: more records than the inode holds, so an
	 * extent block chain, freed (and punched) with them.
	 */
	h = host();
	for (uint64_t i = 0; i < 64; i++)
		fill(e, 5, 16 * MiB + i * 2 * PG, PG);
	CHECK(host() + SLACK >= h + 64 * PG);
	REQUIRE(udax_ftruncate(e, 8 * MiB) == 0);
	CHECK(host() <= h + SLACK);
	CHECK(check(e, 5, 0, 8 * MiB));

	/* Punched blocks handed out again read as zeros where unwritten. */
	REQUIRE(udax_open(pool, "g", O_RDWR | O_CREAT, 0644, &g) == 0);
	REQUIRE(udax_ftruncate(g, 16 * MiB) == 0);
	REQUIRE(udax_mmap(g, NULL, 16 * MiB, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	map = p;
	for (uint64_t pg = 0; pg < 16 * MiB / PG; pg++)
		CHECK(t_store(&map[pg * PG / 8 + pg % 512], pg));
	for (uint64_t pg = 0; pg < 16 * MiB / PG; pg++)
		for (uint64_t w = 0; w < PG / 8; w += 7)
			CHECK(t_load(&map[pg * PG / 8 + w], &v) &&
			      v == (w == pg % 512 ? pg : 0));
	REQUIRE(udax_munmap(map, 16 * MiB) == 0);
	REQUIRE(udax_close(g) == 0);
	CHECK(check(e, 5, 0, 8 * MiB));
	REQUIRE(udax_close(e) == 0);

	/* The same after a reopen; fsck clean. */
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(pool_path), 0);
	REQUIRE(udax_pool_open(pool_path, 0, &pool) == 0);
	REQUIRE(udax_open(pool, "e", O_RDONLY, 0, &e) == 0);
	CHECK(check(e, 5, 0, 8 * MiB));
	REQUIRE(udax_close(e) == 0);
	h = host();
	REQUIRE(udax_unlink(pool, "g") == 0);
	REQUIRE(udax_unlink(pool, "e") == 0);
	REQUIRE(udax_unlink(pool, "c") == 0);
	CHECK(host() <= h - 24 * MiB + SLACK);
	CHECK(host() <= h0 + 256 * 1024 + SLACK);
	printf("%s: empty again, %llu KiB on the host (%.2f s)\n", base,
	       (unsigned long long)(host() >> 10), t_now() - t0);
	REQUIRE(udax_pool_close(pool) == 0);
	unlink(pool_path);
	rmdir(dir);
	return true;
}

int main(int argc, char **argv)
{
	char cwd[PATH_MAX];
	int ran = 0;

	t_init(argc, argv);
	t_watchdog(240);
	t_catch_sigbus();
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	if (access("/dev/shm", W_OK | X_OK) == 0)
		ran += run("/dev/shm");
	ran += run(cwd);
	if (!ran) {
		printf("api_space: no file system here can punch holes: "
		       "skipped\n");
		return T_SKIP;
	}
	return t_done("api_space");
}
