/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_hole_pwrite - a hole that a read fault mapped as zeros, then
 * written or allocated by a system call rather than through the mapping,
 * must never keep showing zeros:
 *
 *  - 4 KiB: a read fault on a hole of a small mapping (too small for a
 *    2 MiB mapping) maps the zero page; udax_pwrite of that page, of part
 *    of it, and of a range across pages must show through the mapping;
 *  - 2 MiB: a read fault in a 2 MiB-aligned hole of a large mapping maps
 *    the huge zero page (no fallback); udax_pwrite of 4 KiB inside it,
 *    of a whole 2 MiB, and across a 2 MiB boundary must show through it;
 *  - fallocate(0) over a zero-mapped hole allocates blocks that read as
 *    zeros (mapping, pread), and a later pwrite there (to blocks that are
 *    no longer new) still shows through the mapping; KEEP_SIZE does not
 *    grow the file, mode 0 does;
 *  - fallocate(PUNCH_HOLE | KEEP_SIZE) of block-mapped data (4 KiB
 *    pages, a whole 2 MiB mapping, part of one, unaligned edges) reads as
 *    zeros through the mapping and through pread, frees the blocks, keeps
 *    the size and the data around it.
 *
 * Bugs it would catch: pwrite or fallocate not invalidating a ZERO entry
 * (stale zero page, 4 KiB or huge), a hole fill that forgets other
 * regions, punch hole not unmapping (stale data, or a freed block still
 * mapped), a punched partial page not zeroed, a punch of part of a 2 MiB
 * mapping that loses the rest of it.
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL
#define HUGE (2 * MiB)

static struct udax_pool *pool;

/* The byte pattern written at file offset @off by generation @gen. */
static unsigned char pat(uint64_t off, unsigned int gen)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL + gen * 0x1234567ULL;

	return (unsigned char)((x >> 29) | 1); /* never 0 */
}

static void fill(unsigned char *buf, uint64_t off, size_t len,
		 unsigned int gen)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(off + i, gen);
}

/* Write @len bytes of generation @gen at @off with udax_pwrite. */
static void put(struct udax_file *f, uint64_t off, size_t len,
		unsigned int gen)
{
	unsigned char *buf = malloc(len);

	REQUIRE(buf);
	fill(buf, off, len, gen);
	REQUIRE(udax_pwrite(f, buf, len, off) == (ssize_t)len);
	free(buf);
}

/*
 * Does [@off, @off + @len) of mapping @map (of file offset 0 at @map -
 * @map_off) hold generation @gen (or zeros if @gen is 0)? Compared
 * through the mapping and through pread; reports the first difference.
 */
static bool same(struct udax_file *f, const unsigned char *map,
		 uint64_t map_off, uint64_t off, size_t len, unsigned int gen,
		 int line)
{
	unsigned char *buf = malloc(len);
	bool ok = true;

	REQUIRE(buf);
	REQUIRE(udax_pread(f, buf, len, off) == (ssize_t)len);
	for (size_t i = 0; i < len && ok; i++) {
		unsigned char want = gen ? pat(off + i, gen) : 0;
		unsigned char got = map[off - map_off + i];

		if (got != want || buf[i] != want) {
			fprintf(stderr,
				"line %d: offset %llu: mapping %u pread %u "
				"want %u\n",
				line, (unsigned long long)(off + i), got,
				buf[i], want);
			ok = false;
		}
	}
	free(buf);
	return ok;
}

#define SAME(f, map, moff, off, len, gen)                                      \
	CHECK(same(f, map, moff, off, len, gen, __LINE__))

static struct udax_stats stats(struct udax_file *f)
{
	struct udax_stats st;

	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	return st;
}

static uint64_t blocks(struct udax_file *f)
{
	struct stat sb;

	REQUIRE(udax_fstat(f, &sb) == 0);
	return (uint64_t)sb.st_blocks / (PG / 512);
}

static uint64_t fsize(struct udax_file *f)
{
	struct stat sb;

	REQUIRE(udax_fstat(f, &sb) == 0);
	return (uint64_t)sb.st_size;
}

/* Read one byte through the mapping (faulting it in). */
static unsigned char touch(const unsigned char *p)
{
	return *(const volatile unsigned char *)p;
}

/* 4 KiB: a 1 MiB mapping, at an offset, of a 3 MiB file. */
static void small_pages(void)
{
	const uint64_t moff = 1 * MiB + 5 * PG, len = 1 * MiB;
	struct udax_stats a, b;
	struct udax_file *f;
	unsigned char *m, *m2;
	void *p;

	REQUIRE(udax_open(pool, "small", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, 3 * MiB) == 0);
	REQUIRE(udax_mmap(f, NULL, len, PROT_READ, MAP_SHARED, moff, &p) == 0);
	m = p;
	/* A second region of the same pages: hole fill must reach it too. */
	REQUIRE(udax_mmap(f, NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			  moff, &p) == 0);
	m2 = p;

	/*
	 * Read faults on holes: zero pages, no block, no 2 MiB mapping. The
	 * first fault in each region maps the zero span over the whole run
	 * of holes in its 2 MiB window: the other 15 pages are the kernel's.
	 */
	a = stats(f);
	for (uint64_t pg = 0; pg < 16; pg++) {
		CHECK_EQ(touch(m + pg * PG + 17), 0);
		CHECK_EQ(touch(m2 + pg * PG + 17), 0);
	}
	b = stats(f);
	CHECK_EQ(b.faults_hole - a.faults_hole, 2);
	CHECK_EQ(b.faults_pmd, a.faults_pmd);
	CHECK_EQ(b.faults_fallback, a.faults_fallback);
	CHECK_EQ(b.faults_major, a.faults_major);
	CHECK_EQ(blocks(f), 0);

	/* A whole page, part of a page, a range across three pages. */
	put(f, moff + 2 * PG, PG, 1);
	SAME(f, m, moff, moff + 2 * PG, PG, 1);
	SAME(f, m2, moff, moff + 2 * PG, PG, 1);
	put(f, moff + 5 * PG + 100, 200, 2);
	SAME(f, m, moff, moff + 5 * PG, 100, 0);
	SAME(f, m2, moff, moff + 5 * PG + 100, 200, 2);
	SAME(f, m, moff, moff + 5 * PG + 300, PG - 300, 0);
	put(f, moff + 8 * PG + 4000, 2 * PG + 500, 3);
	SAME(f, m, moff, moff + 8 * PG, 4000, 0);
	SAME(f, m, moff, moff + 8 * PG + 4000, 2 * PG + 500, 3);
	SAME(f, m2, moff, moff + 11 * PG + 404, PG - 404, 0);
	/* Pages around stay zero. */
	SAME(f, m, moff, moff + 3 * PG, 2 * PG, 0);
	b = stats(f);
	CHECK(b.faults_pmd == a.faults_pmd);

	/* Writable region: a store now goes to the block pwrite made. */
	m2[2 * PG + 7] = 0;
	CHECK_EQ(touch(m + 2 * PG + 7), 0);
	m2[2 * PG + 7] = pat(moff + 2 * PG + 7, 1);
	SAME(f, m, moff, moff + 2 * PG, PG, 1);

	/* fallocate KEEP_SIZE over zero pages: zeros, blocks, same size. */
	uint64_t nb = blocks(f);

	CHECK_EQ(touch(m + 12 * PG), 0);
	CHECK_EQ(touch(m + 13 * PG), 0);
	REQUIRE(udax_fallocate(f, UDAX_FALLOC_KEEP_SIZE, moff + 12 * PG,
			       2 * PG) == 0);
	CHECK_EQ(blocks(f), nb + 2);
	CHECK_EQ(fsize(f), 3 * MiB);
	SAME(f, m, moff, moff + 12 * PG, 2 * PG, 0);
	/* The blocks are not new to this pwrite: it must still show. */
	put(f, moff + 12 * PG + 10, PG, 4);
	SAME(f, m, moff, moff + 12 * PG + 10, PG, 4);
	SAME(f, m2, moff, moff + 12 * PG + 10, PG, 4);
	SAME(f, m, moff, moff + 12 * PG, 10, 0);

	/* fallocate 0 past EOF grows the file; the new pages read 0. */
	REQUIRE(udax_fallocate(f, 0, 3 * MiB - PG, 3 * PG) == 0);
	CHECK_EQ(fsize(f), 3 * MiB + 2 * PG);

	/* Punch whole pages, and unaligned edges. */
	nb = blocks(f);
	REQUIRE(udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE |
					  UDAX_FALLOC_KEEP_SIZE,
			       moff + 2 * PG, PG) == 0);
	CHECK_EQ(blocks(f), nb - 1);
	SAME(f, m, moff, moff + 2 * PG, PG, 0);
	SAME(f, m2, moff, moff + 2 * PG, PG, 0);
	REQUIRE(udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE |
					  UDAX_FALLOC_KEEP_SIZE,
			       moff + 8 * PG + 4050, PG + 100) == 0);
	SAME(f, m, moff, moff + 8 * PG + 4000, 50, 3);
	SAME(f, m, moff, moff + 8 * PG + 4050, PG + 100, 0);
	SAME(f, m2, moff, moff + 10 * PG + 54, PG + 350, 3);
	CHECK_EQ(fsize(f), 3 * MiB + 2 * PG);

	/* Punched pages fault again: a store through m2 allocates anew. */
	m2[2 * PG] = 0x5a;
	CHECK_EQ(touch(m + 2 * PG), 0x5a);
	unsigned char c;

	REQUIRE(udax_pread(f, &c, 1, moff + 2 * PG) == 1);
	CHECK_EQ(c, 0x5a);

	REQUIRE(udax_munmap(m, len) == 0);
	REQUIRE(udax_munmap(m2, len) == 0);
	REQUIRE(udax_close(f) == 0);
}

/* 2 MiB: a 10 MiB file mapped whole (2 MiB-aligned by udax_mmap). */
static void huge_pages(void)
{
	const uint64_t len = 10 * MiB;
	struct udax_stats a, b;
	struct udax_file *f;
	unsigned char *m;
	void *p;

	REQUIRE(udax_open(pool, "huge", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, len) == 0);
	REQUIRE(udax_mmap(f, NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
			  &p) == 0);
	m = p;
	CHECK_EQ((uintptr_t)m % HUGE, 0);

	/* One read fault per 2 MiB: the huge zero page. */
	a = stats(f);
	for (uint64_t h = 0; h < 5; h++)
		for (uint64_t pg = 3; pg < 512; pg += 50)
			CHECK_EQ(touch(m + h * HUGE + pg * PG), 0);
	b = stats(f);
	CHECK_EQ(b.faults_hole - a.faults_hole, 5);
	CHECK_EQ(b.faults_fallback, a.faults_fallback);
	CHECK_EQ(b.faults_pte, a.faults_pte);
	CHECK_EQ(blocks(f), 0);

	/* 4 KiB written inside the first huge zero page. */
	put(f, 100 * PG, PG, 1);
	SAME(f, m, 0, 100 * PG, PG, 1);
	SAME(f, m, 0, 0, 100 * PG, 0);
	SAME(f, m, 0, 101 * PG, HUGE - 101 * PG, 0);

	/* A whole 2 MiB written under the second. */
	put(f, HUGE, HUGE, 2);
	SAME(f, m, 0, HUGE, HUGE, 2);

	/* Across the boundary of the third and the fourth, unaligned. */
	put(f, 3 * HUGE - 3 * PG - 11, 5 * PG, 3);
	SAME(f, m, 0, 3 * HUGE - 3 * PG - 11, 5 * PG, 3);
	SAME(f, m, 0, 2 * HUGE, HUGE - 3 * PG - 11, 0);
	SAME(f, m, 0, 3 * HUGE + 2 * PG - 11, HUGE - 2 * PG + 11, 0);

	/* Stores through the mapping go to the blocks pwrite made. */
	m[100 * PG + 1] = pat(100 * PG + 1, 1) ^ 0xff;
	unsigned char c;

	REQUIRE(udax_pread(f, &c, 1, 100 * PG + 1) == 1);
	CHECK_EQ(c, pat(100 * PG + 1, 1) ^ 0xff);
	m[100 * PG + 1] = pat(100 * PG + 1, 1);

	/* Punch a whole 2 MiB, then 4 KiB inside another. */
	uint64_t nb = blocks(f);

	CHECK_EQ(touch(m + HUGE + 5), pat(HUGE + 5, 2));
	REQUIRE(udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE |
					  UDAX_FALLOC_KEEP_SIZE,
			       HUGE, HUGE) == 0);
	CHECK_EQ(blocks(f), nb - 512);
	SAME(f, m, 0, HUGE, HUGE, 0);
	SAME(f, m, 0, 100 * PG, PG, 1);

	/* A 2 MiB of data written through the mapping (a PMD write fault,
	 * if a 2 MiB extent is free), then part of it punched. */
	a = stats(f);
	for (uint64_t off = 0; off < HUGE; off += 512)
		m[HUGE + off] = pat(HUGE + off, 5);
	b = stats(f);
	printf("2 MiB store: pmd faults %llu, pte faults %llu\n",
	       (unsigned long long)(b.faults_pmd - a.faults_pmd),
	       (unsigned long long)(b.faults_pte - a.faults_pte));
	REQUIRE(udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE |
					  UDAX_FALLOC_KEEP_SIZE,
			       HUGE + 10 * PG + 512, 3 * PG) == 0);
	for (uint64_t off = 0; off < HUGE; off += 512) {
		bool punched = off >= 10 * PG + 512 && off < 13 * PG + 512;
		unsigned char want = punched ? 0 : pat(HUGE + off, 5);

		if (touch(m + HUGE + off) != want) {
			CHECK_EQ(touch(m + HUGE + off), want);
			break;
		}
	}
	CHECK_EQ(fsize(f), len);

	/* fallocate 0 under the huge zero page of the last 2 MiB. */
	a = stats(f);
	CHECK_EQ(touch(m + 4 * HUGE + 300 * PG), 0);
	b = stats(f);
	CHECK_EQ(b.faults_hole, a.faults_hole); /* still mapped */
	nb = blocks(f);
	REQUIRE(udax_fallocate(f, 0, 4 * HUGE + 256 * PG, 8 * PG) == 0);
	CHECK_EQ(blocks(f), nb + 8);
	CHECK_EQ(fsize(f), len);
	SAME(f, m, 0, 4 * HUGE + 250 * PG, 20 * PG, 0);
	put(f, 4 * HUGE + 257 * PG, 2 * PG, 6);
	SAME(f, m, 0, 4 * HUGE + 257 * PG, 2 * PG, 6);
	SAME(f, m, 0, 4 * HUGE, 257 * PG, 0);
	SAME(f, m, 0, 4 * HUGE + 259 * PG, HUGE - 259 * PG, 0);
	/* mode 0 reaching past EOF grows it. */
	REQUIRE(udax_fallocate(f, 0, len - PG, 2 * PG) == 0);
	CHECK_EQ(fsize(f), len + PG);
	SAME(f, m, 0, len - PG, PG, 0);

	REQUIRE(udax_munmap(m, len) == 0);
	REQUIRE(udax_close(f) == 0);
}

int main(int argc, char **argv)
{
	char path[300];

	t_init(argc, argv);
	t_watchdog(60);
	t_tmpdir();
	t_catch_sigbus();
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	small_pages();
	huge_pages();
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_hole_pwrite");
}
