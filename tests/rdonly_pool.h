/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rdonly_pool.h - the pool the read-only tests (api_rdonly,
 * api_rdonly_host) open: "a" holds 1 MiB of word() (word(off) at byte
 * @off), "h" is 1 MiB of hole but one page of word() at @h_page.
 * Include after api_util.h.
 */
#ifndef UDAX_TESTS_RDONLY_POOL_H
#define UDAX_TESTS_RDONLY_POOL_H

#define MiB (1ULL << 20)
#define PG 4096ULL

static uint64_t word(uint64_t off)
{
	return off * 0x9E3779B97F4A7C15ULL + 1;
}

static void make_pool(const char *path, uint64_t h_page)
{
	static uint64_t buf[MiB / 8];
	struct udax_pool *pool;
	struct udax_file *f;

	REQUIRE(udax_pool_create(path, 16 * MiB, &pool) == 0);
	REQUIRE(udax_open(pool, "a", O_RDWR | O_CREAT, 0644, &f) == 0);
	for (uint64_t i = 0; i < MiB / 8; i++)
		buf[i] = word(i * 8);
	REQUIRE(udax_pwrite(f, buf, MiB, 0) == (ssize_t)MiB);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_open(pool, "h", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, MiB) == 0);
	REQUIRE(udax_pwrite(f, buf, PG, h_page) == (ssize_t)PG);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
}

#endif
