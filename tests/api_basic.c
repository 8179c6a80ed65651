/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_basic - the whole stack through real page faults: a pool file, a
 * file in it, a shared mapping written by first-touch faults, holes read
 * as zeros, msync, pread of the same bytes, 2 MiB mappings, MAP_PRIVATE
 * copies that never reach the file, and everything still there after the
 * pool is closed and opened again.
 */
#include "api_util.h"

#define MiB (1ULL << 20)

static uint64_t pattern(uint64_t page, unsigned int word)
{
	return (page << 20) ^ (word * 0x9E3779B97F4A7C15ULL) ^ 0x5A5A;
}

int main(int argc, char **argv)
{
	struct udax_pool *pool;
	struct udax_file *f;
	struct udax_stats st;
	struct stat sb;
	char path[300];
	uint64_t *map, v;
	const uint64_t size = 8 * MiB, pages = size / 4096;
	void *p;

	t_init(argc, argv);
	t_watchdog(120);
	t_tmpdir();
	t_catch_sigbus();
	t_path(path, sizeof(path), "pool");

	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	REQUIRE(udax_open(pool, "data", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, size) == 0);
	REQUIRE(udax_mmap(f, NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			  0, &p) == 0);
	map = p;

	/* Holes read as zeros and allocate nothing. */
	for (uint64_t pg = 0; pg < pages; pg += 7) {
		CHECK(t_load(&map[pg * 512], &v));
		CHECK_EQ(v, 0);
	}
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	CHECK(st.faults_hole > 0);
	CHECK_EQ(st.faults_major, 0);

	/* Write every other page of the first 4 MiB, every page after. */
	for (uint64_t pg = 0; pg < pages; pg++) {
		if (pg < pages / 2 && (pg & 1))
			continue;
		for (unsigned int w = 0; w < 512; w += 61)
			map[pg * 512 + w] = pattern(pg, w);
	}
	REQUIRE(udax_msync(map, size, MS_SYNC) == 0);
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	CHECK(st.faults_write > 0);
	CHECK(st.faults_major > 0);
	CHECK(st.writeback_pages > 0);
	printf("faults: pte %llu pmd %llu hole %llu write %llu mkwrite %llu "
	       "fallback %llu major %llu\n",
	       (unsigned long long)st.faults_pte,
	       (unsigned long long)st.faults_pmd,
	       (unsigned long long)st.faults_hole,
	       (unsigned long long)st.faults_write,
	       (unsigned long long)st.faults_mkwrite,
	       (unsigned long long)st.faults_fallback,
	       (unsigned long long)st.faults_major);

	/* After msync the pages are clean: the next store is seen. */
	unsigned long long mk = st.faults_mkwrite;
	map[5] = pattern(0, 5);
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	CHECK_EQ(st.faults_mkwrite, mk + 1);

	/* pread sees what the mapping wrote. */
	for (uint64_t pg = 0; pg < pages; pg += 3) {
		uint64_t buf[512];
		bool written = !(pg < pages / 2 && (pg & 1));

		REQUIRE(udax_pread(f, buf, sizeof(buf), pg * 4096) ==
			sizeof(buf));
		for (unsigned int w = 0; w < 512; w += 61)
			CHECK_EQ(buf[w], written ? pattern(pg, w) : 0);
	}

	/* A private mapping: copies on write, the file never changes. */
	REQUIRE(udax_mmap(f, NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			  0, &p) == 0);
	uint64_t *priv = p;
	CHECK_EQ(priv[0], pattern(0, 0));
	priv[0] = 12345;
	CHECK_EQ(priv[0], 12345);
	CHECK_EQ(map[0], pattern(0, 0));
	REQUIRE(udax_pread(f, &v, 8, 0) == 8);
	CHECK_EQ(v, pattern(0, 0));
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	CHECK(st.faults_cow >= 1);
	REQUIRE(udax_munmap(priv, size) == 0);

	/* Beyond EOF: SIGBUS, delivered after udax's SIGSEGV handler. */
	REQUIRE(udax_ftruncate(f, size - 4096) == 0);
	CHECK(!t_load(&map[(pages - 1) * 512], &v));
	CHECK_EQ(atomic_load(&t_bus_nested), 0);
	CHECK(t_load(&map[(pages - 2) * 512], &v));
	CHECK_EQ(v, pattern(pages - 2, 0));

	REQUIRE(udax_fstat(f, &sb) == 0);
	CHECK_EQ(sb.st_size, (long long)(size - 4096));
	REQUIRE(udax_munmap(map, size) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);

	/* Reopen: the data persisted. */
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	REQUIRE(udax_open(pool, "data", O_RDONLY, 0, &f) == 0);
	REQUIRE(udax_mmap(f, NULL, size - 4096, PROT_READ, MAP_SHARED, 0,
			  &p) == 0);
	map = p;
	for (uint64_t pg = 0; pg < pages - 1; pg += 5) {
		bool written = !(pg < pages / 2 && (pg & 1));

		CHECK_EQ(map[pg * 512 + 61], written ? pattern(pg, 61) : 0);
	}
	REQUIRE(udax_munmap(map, size - 4096) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(udax_pool_fsck(path, NULL, NULL), 0);
	t_cleanup();
	return t_done("api_basic");
}
