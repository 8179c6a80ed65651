/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_enospc - running out of space through a mapping: an 8 MiB pool, a
 * file mapped (and sized) well beyond the free space, written page by
 * page by a second thread until a store raises SIGBUS in that thread
 * (t_store returns false, si_addr is the page; the main thread, waiting,
 * gets no signal). Then:
 *
 *  - every page stored before still reads back, through the mapping and
 *    udax_pread; the failed page reads as zeros;
 *  - the store keeps failing while there is no space; udax_pwrite into a
 *    hole gets -ENOSPC, also beyond EOF (the size does not change),
 *    fallocate -ENOSPC; overwriting allocated pages still works;
 *  - punching a hole frees space: the same store now succeeds, as does
 *    pwrite into a hole; fill to SIGBUS again, then truncating frees
 *    space again;
 *  - after close, fsck is clean (no block leaked or doubly owned by the
 *    failed allocations).
 *
 * Bugs it would catch: a write fault that crashes, hangs or maps
 * something on ENOSPC, SIGBUS sent to the process rather than the
 * faulting thread, a failed allocation that leaves a half-made entry
 * (later faults see garbage or -EIO), a pwrite that grows the file
 * although it wrote nothing, space freed by punch/truncate that cannot
 * be reused, leaked blocks.
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL

static struct udax_pool *pool;
static struct udax_file *f;
static uint64_t *map;
static uint64_t npages;

static uint64_t stamp(uint64_t pg, unsigned int w)
{
	return (pg << 16) | ((uint64_t)w << 4) | 0xa;
}

struct fill {
	uint64_t from;	/* first page to write */
	uint64_t failed; /* page whose store raised SIGBUS, or npages */
	void *bus_addr;
};

/* Store two words per page from @from on, until a store faults. */
static void *filler(void *arg)
{
	struct fill *fl = arg;
	uint64_t pg;

	for (pg = fl->from; pg < npages; pg++) {
		if (!t_store(&map[pg * 512], stamp(pg, 0)))
			break;
		if (!t_store(&map[pg * 512 + 511], stamp(pg, 511))) {
			fprintf(stderr, "second store of page %llu failed\n",
				(unsigned long long)pg);
			break;
		}
	}
	fl->failed = pg;
	fl->bus_addr = t_bus_addr;
	return NULL;
}

static uint64_t fill_from(uint64_t from)
{
	struct fill fl = { .from = from };
	pthread_t t;

	REQUIRE(pthread_create(&t, NULL, filler, &fl) == 0);
	REQUIRE(pthread_join(t, NULL) == 0);
	REQUIRE(fl.failed < npages);
	CHECK(fl.bus_addr == &map[fl.failed * 512]);
	return fl.failed;
}

/* Pages [first, last) hold their stamps (mapping and pread). */
static void check_pages(uint64_t first, uint64_t last, bool zero)
{
	uint64_t v, w[2];

	for (uint64_t pg = first; pg < last; pg++) {
		uint64_t want0 = zero ? 0 : stamp(pg, 0);
		uint64_t want1 = zero ? 0 : stamp(pg, 511);

		CHECK(t_load(&map[pg * 512], &v));
		if (v != want0) {
			CHECK_EQ(v, want0);
			break;
		}
		REQUIRE(udax_pread(f, &w[0], 8, pg * PG) == 8);
		REQUIRE(udax_pread(f, &w[1], 8, pg * PG + 511 * 8) == 8);
		if (w[0] != want0 || w[1] != want1) {
			CHECK_EQ(w[0], want0);
			CHECK_EQ(w[1], want1);
			break;
		}
	}
}

static uint64_t free_blocks(void)
{
	struct udax_stats st;

	REQUIRE(udax_pool_stats(pool, &st, sizeof(st)) == 0);
	return st.pool_free_blocks;
}

static uint64_t fsize(void)
{
	struct stat sb;

	REQUIRE(udax_fstat(f, &sb) == 0);
	return (uint64_t)sb.st_size;
}

int main(int argc, char **argv)
{
	const int punch = UDAX_FALLOC_PUNCH_HOLE | UDAX_FALLOC_KEEP_SIZE;
	uint64_t k, k2, v, before, buf[512];
	struct udax_stats st;
	char path[300];
	void *p;

	t_init(argc, argv);
	t_watchdog(60);
	t_tmpdir();
	t_catch_sigbus();
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 8 * MiB, &pool) == 0);
	before = free_blocks();
	printf("free blocks: %llu\n", (unsigned long long)before);
	REQUIRE(before > 256 && before < 2048);

	REQUIRE(udax_open(pool, "big", O_RDWR | O_CREAT, 0644, &f) == 0);
	npages = 2 * 2048; /* 16 MiB: twice the pool */
	REQUIRE(udax_ftruncate(f, npages * PG) == 0);
	REQUIRE(udax_mmap(f, NULL, npages * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	map = p;

	/* Fill until the store of page k raises SIGBUS. */
	k = fill_from(0);
	printf("first SIGBUS at page %llu, %llu blocks free\n",
	       (unsigned long long)k, (unsigned long long)free_blocks());
	CHECK(k > 200 && k <= before);
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	CHECK(st.sigbus >= 1);
	check_pages(0, k, false);
	check_pages(k, k + 1, true);
	CHECK(!t_store(&map[k * 512], 1)); /* still no space */
	CHECK(!t_store(&map[(npages - 1) * 512], 1));

	/* System calls that need a block fail and change nothing. */
	memset(buf, 0x77, sizeof(buf));
	CHECK_EQ(udax_pwrite(f, buf, PG, k * PG), -ENOSPC);
	CHECK_EQ(udax_pwrite(f, buf, 8, npages * PG + 5 * PG), -ENOSPC);
	CHECK_EQ(fsize(), npages * PG);
	CHECK_EQ(udax_fallocate(f, 0, (npages - 8) * PG, PG), -ENOSPC);
	CHECK_EQ(udax_fallocate(f, 0, npages * PG, PG), -ENOSPC);
	CHECK_EQ(fsize(), npages * PG);
	check_pages(k, k + 1, true);
	/* Overwriting allocated blocks needs no space. */
	buf[0] = stamp(3, 0);
	buf[511] = stamp(3, 511);
	CHECK_EQ(udax_pwrite(f, buf, PG, 3 * PG), PG);
	check_pages(0, k, false);

	/* Free 64 blocks: the store that failed now succeeds. */
	REQUIRE(udax_fallocate(f, punch, 0, 64 * PG) == 0);
	CHECK(free_blocks() >= 64);
	check_pages(0, 64, true);
	check_pages(64, k, false);
	CHECK(t_store(&map[k * 512], stamp(k, 0)));
	CHECK(t_store(&map[k * 512 + 511], stamp(k, 511)));
	buf[0] = stamp(k + 1, 0);
	buf[511] = stamp(k + 1, 511);
	CHECK_EQ(udax_pwrite(f, buf, PG, (k + 1) * PG), PG);
	check_pages(64, k + 2, false);

	/* Fill on with the freed blocks, to SIGBUS again. */
	k2 = fill_from(k + 2);
	printf("second SIGBUS at page %llu\n", (unsigned long long)k2);
	CHECK(k2 > k + 2);
	check_pages(64, k2, false);
	/* Reading a hole needs no block. */
	CHECK(t_load(&map[npages * 512 - 1], &v) && v == 0);
	CHECK_EQ(udax_pwrite(f, buf, 8, k2 * PG), -ENOSPC);

	/* Truncating frees the blocks past the new size. */
	REQUIRE(udax_ftruncate(f, (k / 2) * PG) == 0);
	CHECK(free_blocks() >= k2 - k / 2 - 64);
	CHECK(!t_load(&map[(k / 2) * 512], &v));
	REQUIRE(udax_ftruncate(f, npages * PG) == 0);
	check_pages(k / 2, k2, true);
	check_pages(64, k / 2, false);
	k = fill_from(k / 2);
	CHECK(k > k2 - 64 && k < npages);
	check_pages(64, k, false);

	REQUIRE(udax_munmap(map, npages * PG) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_unlink(pool, "big") == 0);
	CHECK_EQ(free_blocks(), before);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_enospc");
}
