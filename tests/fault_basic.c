/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_basic - single-threaded 4 KiB faults, mkwrite and read/write,
 * through th_access() (as the MMU would) and direct engine calls.
 *
 *  - A read of a hole maps the zero page read-only under a ZERO entry;
 *    nothing is allocated on the device, and thousands of holes cost no
 *    memory beyond the index nodes that hold their entries.
 *  - A write allocates exactly one block, maps it writable with its entry
 *    DIRTY, and reports DAX_FAULT_MAJOR (stats.major); a second write
 *    fault on the page is not major and allocates nothing.
 *  - A write over the zero page fills the hole: the zero page is unmapped
 *    from every region (stats.hole_fill) and readers see the new data.
 *  - A store through a MAP_PRIVATE region copies the page (stats.cow):
 *    the file, other regions and dax_read() keep the old data, and a
 *    private store over a hole allocates no block.
 *  - Faults beyond EOF return SIGBUS and map nothing.
 *  - ENOSPC, an iomap error and ENOMEM in the index end the fault with
 *    SIGBUS or OOM, nothing mapped, no entry left behind (no EMPTY
 *    placeholder, nothing locked); when the cause is gone, faults work.
 *    ENOMEM strikes before the filesystem is asked at all.
 *  - After dax_writeback() a page is clean and read-only; a store goes
 *    through dax_mkwrite(), which tags the entry DIRTY again and makes
 *    the mapping writable (stats.mkwrite); mkwrite on an entry that a
 *    truncate deleted returns DAX_FAULT_RETRY and creates nothing.
 *  - dax_read()/dax_write(): holes read as zeros, writes extend the file
 *    and read back, partial pages, short reads at EOF, and bytes beyond
 *    the old EOF in its last page do not resurface when a write extends
 *    the file past them.
 *
 * Bugs it catches: a zero page mapped writable or a hole read that
 * allocates; a write fault that maps before tagging DIRTY, allocates
 * twice or misreports MAJOR; a hole fill that leaves the zero page in a
 * second region (stale zeros over data); CoW that writes through to the
 * file or allocates; error paths that leak an EMPTY or locked entry, map
 * something, or (ENOMEM) ask the filesystem before the entry is locked;
 * mkwrite that skips DIRTY or resurrects a truncated entry; read/write
 * off-by-one errors at page boundaries and EOF.
 */
#include "test_util.h"

#include <errno.h>
#include <malloc.h>

#include "fault_harness.h"
#include "fault_test.h"

#define NR_PAGES 64

/* Allocation counter of the sanitizer runtime, when there is one. */
extern size_t __sanitizer_get_current_allocated_bytes(void)
	__attribute__((weak));

static size_t heap_bytes(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	return mallinfo2().uordblks;
}

static void env_setup(struct th_env *env, uint64_t blocks, uint64_t size)
{
	th_env_setup(env, blocks, NR_PAGES, size);
}

static void env_teardown(struct th_env *env)
{
	th_check_quiescent(env);
	th_check_entries_settled(env);
	th_env_destroy(env);
}

static int fault(struct th_env *env, struct th_region *r, uint64_t index,
		 bool write)
{
	struct dax_vmf vmf = {
		.region = r,
		.index = index,
		.flags = (write ? DAX_VMF_WRITE : 0) |
			 (r->shared ? DAX_VMF_SHARED : 0) |
			 (r->sync ? DAX_VMF_SYNC : 0),
	};

	return dax_pte_fault(&env->f, &vmf);
}

/* ---- holes ---- */

static void test_hole_read(void)
{
	struct th_env env;
	struct th_region *a;
	dax_entry_t e;
	int ret;

	env_setup(&env, 16, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);

	CHECK_EQ(th_load(&env, a, 3, 7), 0);
	CHECK_EQ(a->ptes[3].kind, TH_ZERO);
	CHECK(!a->ptes[3].writable);
	e = th_peek(&env, 3);
	CHECK(e && dax_entry_is_zero(e) && !dax_entry_is_pmd(e));
	CHECK(!th_entry_dirty(&env.f, 3));
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK_EQ(th_fs_block_of(&env.fs, 3), TH_HOLE);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 1);

	/* The engine called directly: same result, no major fault. */
	ret = fault(&env, a, 4, false);
	CHECK_EQ(ret, DAX_FAULT_DONE);
	CHECK_EQ(a->ptes[4].kind, TH_ZERO);
	CHECK(dax_entry_is_zero(th_peek(&env, 4)));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 2);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, major), 0);
	/* A second read fault of a zero-mapped hole changes nothing. */
	CHECK_EQ(fault(&env, a, 4, false), DAX_FAULT_DONE);
	CHECK_EQ(a->ptes[4].kind, TH_ZERO);
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK_EQ(env.f.m.idx.nr_entries, 2);
	env_teardown(&env);
}

/* Index nodes needed at most for @n consecutive indexes from 0. */
static uint64_t node_bound(uint64_t n)
{
	uint64_t total = 0;

	do {
		n = (n + DAX_IDX_FANOUT - 1) / DAX_IDX_FANOUT;
		total += n;
	} while (n > 1);
	return total + 1;
}

static void test_many_holes(void)
{
	const uint64_t nr = 8192;
	struct th_env env;
	struct th_region *a;
	uint64_t nodes0;
	size_t bytes0, bytes1, node_bytes, node_cost;
	void *probe;

	th_env_setup(&env, 16, nr, nr * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);
	/* Warm up (per-thread RCU state and the like). */
	CHECK_EQ(th_load(&env, a, 0, 0), 0);
	/* What one node costs this allocator (sanitizers round up). */
	bytes0 = heap_bytes();
	probe = calloc(1, sizeof(struct dax_idx_node));
	REQUIRE(probe);
	node_cost = heap_bytes() - bytes0;
	free(probe);
	if (node_cost < sizeof(struct dax_idx_node))
		node_cost = sizeof(struct dax_idx_node);
	nodes0 = env.f.m.idx.nr_nodes;
	bytes0 = heap_bytes();
	for (uint64_t p = 1; p < nr; p++)
		if (th_load(&env, a, p, (unsigned int)(p % 512)) != 0)
			CHECK(!"hole read non-zero");
	bytes1 = heap_bytes();
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK_EQ(th_cnt(&env.vm.privates), 0);
	/* One fault per 2 MiB window: its zero span covers the rest. */
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), nr / DAX_PMD_NR);
	CHECK_EQ(env.f.m.idx.nr_entries, nr / DAX_PMD_NR);
	CHECK(env.f.m.idx.nr_nodes <= node_bound(nr));
	node_bytes = (env.f.m.idx.nr_nodes - nodes0) * node_cost;
	/* Per hole, only what the nodes hold: a byte per hole is too much. */
	if (bytes1 > bytes0 + node_bytes + nr / 2) {
		fprintf(stderr, "%zu bytes for %llu holes, nodes %zu\n",
			bytes1 - bytes0, (unsigned long long)nr, node_bytes);
		CHECK(!"memory allocated per hole");
	}
	for (uint64_t p = 0; p < nr; p += 97)
		CHECK_EQ(a->ptes[p].kind, TH_ZERO);
	env_teardown(&env);
}

/* ---- writes ---- */

static void test_write(void)
{
	struct th_env env;
	struct th_region *a, *b;
	uint64_t blk;
	dax_entry_t e;
	int ret;

	env_setup(&env, 16, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);
	b = th_region_add(&env, true, false, false);

	th_store(&env, a, 10, 5, th_stamp(10, 1));
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	blk = th_fs_block_of(&env.fs, 10);
	REQUIRE(blk != TH_HOLE);
	CHECK_EQ(a->ptes[10].kind, TH_BLOCK);
	CHECK_EQ(a->ptes[10].block, blk);
	CHECK(a->ptes[10].writable);
	e = th_peek(&env, 10);
	CHECK(e && !dax_entry_is_zero(e) && !dax_entry_is_empty(e) &&
	      !dax_entry_is_pmd(e));
	CHECK_EQ(dax_entry_block(e), blk);
	CHECK(th_entry_dirty(&env.f, 10));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, major), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 0);
	CHECK_EQ(th_load(&env, a, 10, 5), th_stamp(10, 1));
	/* Freshly allocated blocks are zeroed. */
	CHECK_EQ(th_load(&env, a, 10, 6), 0);

	/* Direct: the first write fault is major, the second is not. */
	ret = fault(&env, a, 11, true);
	CHECK_EQ(ret, DAX_FAULT_MAJOR);
	CHECK_EQ(th_cnt(&env.fs.allocs), 2);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, major), 2);
	CHECK(a->ptes[11].writable);
	ret = fault(&env, a, 11, true);
	CHECK_EQ(ret, DAX_FAULT_DONE);
	CHECK_EQ(th_cnt(&env.fs.allocs), 2);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, major), 2);
	CHECK_EQ(dax_entry_block(th_peek(&env, 11)),
		 th_fs_block_of(&env.fs, 11));

	/* A read fault in another region maps the same block read-only. */
	ret = fault(&env, b, 10, false);
	CHECK_EQ(ret, DAX_FAULT_DONE);
	CHECK_EQ(b->ptes[10].kind, TH_BLOCK);
	CHECK_EQ(b->ptes[10].block, blk);
	CHECK(!b->ptes[10].writable);
	CHECK_EQ(th_load(&env, b, 10, 5), th_stamp(10, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, major), 2);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 0);
	CHECK_EQ(env.f.m.idx.nr_entries, 2);
	env_teardown(&env);
}

/*
 * Write-around: a store where the region's last write span ended (a
 * sequential writer) makes the next pages of the block run writable in
 * the same fault, each DIRTY first; random stores stay 4 KiB; the span
 * stops where the run of blocks does.
 */
static void test_write_around(void)
{
	struct th_env env;
	struct th_region *a;
	unsigned long pte0;

	env_setup(&env, NR_PAGES + 16, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);
	CHECK_EQ(dax_allocate(&env.f, 0, 41 * DAX_PAGE_SIZE, true), 0);
	pte0 = DAX_FAULT_STAT(&env.f, pte);
	for (uint64_t p = 0; p <= 40; p++)
		th_store(&env, a, p, 1, th_stamp(p, 1));
	/* 0 alone, then 1-16, 17-32, 33-40 (the run ends at 40). */
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pte) - pte0, 4);
	for (uint64_t p = 0; p <= 40; p++) {
		CHECK(a->ptes[p].writable);
		CHECK(th_entry_dirty(&env.f, p));
	}
	CHECK(!th_entry_present(&env.f, 41));
	CHECK_EQ(a->ptes[41].kind, TH_NONE);
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, writeback), 41);
	/* Random stores (not where the last span ended): one page each. */
	th_store(&env, a, 5, 2, th_stamp(5, 2));
	th_store(&env, a, 20, 2, th_stamp(20, 2));
	CHECK(th_entry_dirty(&env.f, 5) && th_entry_dirty(&env.f, 20));
	CHECK(!th_entry_dirty(&env.f, 6) && !th_entry_dirty(&env.f, 21));
	CHECK(!a->ptes[6].writable && !a->ptes[21].writable);
	for (uint64_t p = 0; p <= 40; p++)
		CHECK_EQ(th_load(&env, a, p, 1), th_stamp(p, 1));
	env_teardown(&env);
}

static void test_hole_fill(void)
{
	struct th_env env;
	struct th_region *a, *b, *p;
	dax_entry_t e;

	env_setup(&env, 16, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);
	b = th_region_add(&env, true, false, false);
	p = th_region_add(&env, false, false, false);

	CHECK_EQ(th_load(&env, a, 5, 0), 0);
	CHECK_EQ(th_load(&env, b, 5, 0), 0);
	CHECK_EQ(th_load(&env, p, 5, 0), 0);
	CHECK_EQ(a->ptes[5].kind, TH_ZERO);
	CHECK_EQ(b->ptes[5].kind, TH_ZERO);
	CHECK_EQ(p->ptes[5].kind, TH_ZERO);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 3);
	CHECK_EQ(env.f.m.idx.nr_entries, 1);

	th_store(&env, a, 5, 1, th_stamp(5, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	CHECK_EQ(a->ptes[5].kind, TH_BLOCK);
	CHECK(a->ptes[5].writable);
	/* The zero page is gone from every region, private ones too. */
	CHECK_EQ(b->ptes[5].kind, TH_NONE);
	CHECK_EQ(p->ptes[5].kind, TH_NONE);
	e = th_peek(&env, 5);
	CHECK(!dax_entry_is_zero(e) && !dax_entry_is_empty(e));
	CHECK_EQ(dax_entry_block(e), th_fs_block_of(&env.fs, 5));
	CHECK(th_entry_dirty(&env.f, 5));
	/* And they now read the data. */
	CHECK_EQ(th_load(&env, b, 5, 1), th_stamp(5, 1));
	CHECK_EQ(th_load(&env, p, 5, 1), th_stamp(5, 1));
	CHECK_EQ(b->ptes[5].kind, TH_BLOCK);
	CHECK_EQ(p->ptes[5].kind, TH_BLOCK);
	CHECK(!p->ptes[5].writable);
	env_teardown(&env);
}

/* ---- MAP_PRIVATE ---- */

static void test_private(void)
{
	struct th_env env;
	struct th_region *a, *p;
	uint64_t v = 0;
	unsigned long allocs;

	env_setup(&env, 16, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);
	p = th_region_add(&env, false, false, false);

	th_store(&env, a, 7, 3, th_stamp(7, 1));
	th_store(&env, a, 7, 4, th_stamp(7, 2));
	allocs = th_cnt(&env.fs.allocs);

	/* A private read maps the file's block, read-only. */
	CHECK_EQ(th_load(&env, p, 7, 3), th_stamp(7, 1));
	CHECK_EQ(p->ptes[7].kind, TH_BLOCK);
	CHECK(!p->ptes[7].writable);
	/* A private store copies it. */
	th_store(&env, p, 7, 3, th_stamp(7, 99));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, cow), 1);
	CHECK_EQ(p->ptes[7].kind, TH_PRIVATE);
	CHECK(p->ptes[7].writable);
	CHECK_EQ(th_load(&env, p, 7, 3), th_stamp(7, 99));
	CHECK_EQ(th_load(&env, p, 7, 4), th_stamp(7, 2));
	/* The file is untouched. */
	CHECK_EQ(th_load(&env, a, 7, 3), th_stamp(7, 1));
	CHECK_EQ(dax_read(&env.f, &v, sizeof(v), 7 * DAX_PAGE_SIZE + 3 * 8),
		 (ssize_t)sizeof(v));
	CHECK_EQ(v, th_stamp(7, 1));
	CHECK_EQ(th_cnt(&env.fs.allocs), allocs);
	/* Later shared stores do not reach the private copy. */
	th_store(&env, a, 7, 4, th_stamp(7, 3));
	CHECK_EQ(th_load(&env, p, 7, 4), th_stamp(7, 2));

	/* A private store over a hole: zeros, no block. */
	th_store(&env, p, 9, 0, th_stamp(9, 1));
	CHECK_EQ(p->ptes[9].kind, TH_PRIVATE);
	CHECK_EQ(th_load(&env, p, 9, 0), th_stamp(9, 1));
	CHECK_EQ(th_load(&env, p, 9, 1), 0);
	CHECK_EQ(th_fs_block_of(&env.fs, 9), TH_HOLE);
	CHECK_EQ(th_cnt(&env.fs.allocs), allocs);
	CHECK_EQ(th_load(&env, a, 9, 0), 0);
	CHECK_EQ(a->ptes[9].kind, TH_ZERO);

	/* Over a zero page this region mapped first: same. */
	CHECK_EQ(th_load(&env, p, 12, 2), 0);
	CHECK_EQ(p->ptes[12].kind, TH_ZERO);
	th_store(&env, p, 12, 2, th_stamp(12, 1));
	CHECK_EQ(p->ptes[12].kind, TH_PRIVATE);
	CHECK_EQ(th_fs_block_of(&env.fs, 12), TH_HOLE);
	CHECK(dax_entry_is_zero(th_peek(&env, 12)));
	CHECK_EQ(th_cnt(&env.fs.allocs), allocs);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, cow), 3);
	CHECK(!th_entry_dirty(&env.f, 9));
	CHECK(!th_entry_dirty(&env.f, 12));
	env_teardown(&env);
}

/* ---- errors ---- */

static void test_eof(void)
{
	struct th_env env;
	struct th_region *a;
	unsigned long sigbus;
	uint64_t v = 1;
	struct dax_vmf vmf;

	/* 10 pages and 100 bytes: page 10 is the partial last page. */
	env_setup(&env, 16, 10 * DAX_PAGE_SIZE + 100);
	a = th_region_add(&env, true, false, false);

	CHECK_EQ(th_load(&env, a, 10, 0), 0);
	th_store(&env, a, 10, 500, th_stamp(10, 1));
	sigbus = DAX_FAULT_STAT(&env.f, sigbus);
	CHECK_EQ(th_access(&env, a, 11, 0, false, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(th_access(&env, a, 11, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(fault(&env, a, 11, true), DAX_FAULT_SIGBUS);
	CHECK_EQ(fault(&env, a, 40, false), DAX_FAULT_SIGBUS);
	vmf = (struct dax_vmf){ .region = a,
				.index = 12,
				.flags = DAX_VMF_WRITE | DAX_VMF_SHARED };
	CHECK_EQ(dax_mkwrite(&env.f, &vmf, 0), DAX_FAULT_SIGBUS);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, sigbus), sigbus + 5);
	CHECK_EQ(a->ptes[11].kind, TH_NONE);
	CHECK_EQ(a->ptes[40].kind, TH_NONE);
	CHECK(!th_entry_present(&env.f, 11));
	CHECK(!th_entry_present(&env.f, 12));
	CHECK(!th_entry_present(&env.f, 40));
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	env_teardown(&env);
}

static void test_enospc(void)
{
	struct th_env env;
	struct th_region *a;
	uint64_t v = th_stamp(3, 1);
	unsigned long allocs;
	dax_entry_t e;

	env_setup(&env, 8, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);

	/* No block available (all reserved). */
	env.fs.reserve = env.fs.free_blocks;
	CHECK_EQ(th_access(&env, a, 3, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(fault(&env, a, 3, true), DAX_FAULT_SIGBUS);
	CHECK_EQ(a->ptes[3].kind, TH_NONE);
	CHECK(!th_entry_present(&env.f, 3));
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK_EQ(env.f.m.idx.nr_entries, 0);

	/* Over a zero page: the zero page stays, read-only, entry clean. */
	CHECK_EQ(th_load(&env, a, 4, 0), 0);
	CHECK_EQ(th_access(&env, a, 4, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(a->ptes[4].kind, TH_ZERO);
	CHECK(!a->ptes[4].writable);
	e = th_peek(&env, 4);
	CHECK(dax_entry_is_zero(e) && !dax_entry_locked(e));
	CHECK(!th_entry_dirty(&env.f, 4));
	th_check_entries_settled(&env);
	th_check_quiescent(&env);

	/* Give the blocks back: both writes work. */
	env.fs.reserve = 0;
	th_store(&env, a, 3, 0, th_stamp(3, 1));
	th_store(&env, a, 4, 0, th_stamp(4, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);

	/* Fill the device, fail, free one block by punching, succeed. */
	for (uint64_t p = 10; th_cnt(&env.fs.allocs) < 8; p++)
		th_store(&env, a, p, 0, th_stamp(p, 1));
	allocs = th_cnt(&env.fs.allocs);
	v = th_stamp(30, 1);
	CHECK_EQ(th_access(&env, a, 30, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK(!th_entry_present(&env.f, 30));
	CHECK_EQ(dax_punch_hole(&env.f, 3 * DAX_PAGE_SIZE, DAX_PAGE_SIZE), 0);
	CHECK_EQ(th_cnt(&env.fs.frees), 1);
	th_store(&env, a, 30, 0, th_stamp(30, 1));
	CHECK_EQ(th_cnt(&env.fs.allocs), allocs + 1);
	CHECK_EQ(th_load(&env, a, 30, 0), th_stamp(30, 1));
	CHECK_EQ(th_load(&env, a, 3, 0), 0);
	env_teardown(&env);
}

static void test_enomem(void)
{
	struct th_env env;
	struct th_region *a;
	uint64_t v = 0;
	long live;

	th_env_setup(&env, 16, 2048, 2048 * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);
	dax_rcu_barrier();
	live = dax_idx_live_nodes();

	/* The very first node allocation fails. */
	dax_idx_fail_alloc_after(0);
	CHECK_EQ(th_access(&env, a, 1000, 0, false, &v), DAX_FAULT_OOM);
	CHECK_EQ(fault(&env, a, 1000, true), DAX_FAULT_OOM);
	CHECK_EQ(fault(&env, a, 5, false), DAX_FAULT_OOM);
	/* One node allocated, the next fails (deeper trees). */
	dax_idx_fail_alloc_after(1);
	CHECK_EQ(fault(&env, a, 1500, true), DAX_FAULT_OOM);
	dax_idx_fail_alloc_after(-1);
	/* The entry is locked before the filesystem is asked. */
	CHECK_EQ(th_cnt(&env.fs.iomaps), 0);
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK_EQ(env.f.m.idx.nr_entries, 0);
	CHECK_EQ(env.f.m.idx.nr_nodes, 0);
	CHECK_EQ(a->ptes[1000].kind, TH_NONE);
	CHECK_EQ(a->ptes[1500].kind, TH_NONE);
	CHECK_EQ(a->ptes[5].kind, TH_NONE);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), live);

	/* Memory is back. */
	th_store(&env, a, 1000, 0, th_stamp(1000, 1));
	CHECK_EQ(th_load(&env, a, 5, 0), 0);
	CHECK_EQ(th_load(&env, a, 1000, 0), th_stamp(1000, 1));
	CHECK_EQ(env.f.m.idx.nr_entries, 2);
	env_teardown(&env);
}

static void test_iomap_error(void)
{
	struct th_env env;
	struct th_region *a;
	uint64_t v = th_stamp(6, 1);
	dax_entry_t e;

	env_setup(&env, 16, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);

	/* Fresh page: the EMPTY placeholder is removed. */
	atomic_store(&env.fs.fail_next_iomap, 1);
	CHECK_EQ(th_access(&env, a, 6, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(a->ptes[6].kind, TH_NONE);
	CHECK(!th_entry_present(&env.f, 6));
	atomic_store(&env.fs.fail_next_iomap, 1);
	CHECK_EQ(fault(&env, a, 6, false), DAX_FAULT_SIGBUS);
	CHECK(!th_entry_present(&env.f, 6));
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);

	/* Over a zero page: the ZERO entry stays, unlocked, still mapped. */
	CHECK_EQ(th_load(&env, a, 7, 0), 0);
	atomic_store(&env.fs.fail_next_iomap, 1);
	CHECK_EQ(th_access(&env, a, 7, 0, true, &v), DAX_FAULT_SIGBUS);
	e = th_peek(&env, 7);
	CHECK(dax_entry_is_zero(e) && !dax_entry_locked(e));
	CHECK_EQ(a->ptes[7].kind, TH_ZERO);
	CHECK(!a->ptes[7].writable);

	/* Over a block: still unlocked, mapping untouched. */
	th_store(&env, a, 8, 0, th_stamp(8, 1));
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	atomic_store(&env.fs.fail_next_iomap, 1);
	CHECK_EQ(fault(&env, a, 8, true), DAX_FAULT_SIGBUS);
	e = th_peek(&env, 8);
	CHECK(e && !dax_entry_locked(e));
	CHECK(!a->ptes[8].writable);
	th_check_entries_settled(&env);

	/* Nothing stuck: the same faults now succeed. */
	v = th_stamp(6, 1);
	CHECK_EQ(th_access(&env, a, 6, 0, true, &v), 0);
	v = th_stamp(7, 1);
	CHECK_EQ(th_access(&env, a, 7, 0, true, &v), 0);
	CHECK_EQ(th_load(&env, a, 8, 0), th_stamp(8, 1));
	CHECK_EQ(th_load(&env, a, 6, 0), th_stamp(6, 1));
	CHECK_EQ(th_load(&env, a, 7, 0), th_stamp(7, 1));
	CHECK_EQ(th_cnt(&env.fs.allocs), 3);
	env_teardown(&env);
}

/* ---- mkwrite ---- */

static void test_mkwrite(void)
{
	struct th_env env;
	struct th_region *a, *b;
	unsigned long mkw, allocs;
	struct dax_vmf vmf;

	env_setup(&env, 16, NR_PAGES * DAX_PAGE_SIZE);
	a = th_region_add(&env, true, false, false);
	b = th_region_add(&env, true, false, false);

	th_store(&env, a, 3, 0, th_stamp(3, 1));
	CHECK_EQ(th_load(&env, b, 3, 0), th_stamp(3, 1));
	allocs = th_cnt(&env.fs.allocs);
	CHECK(a->ptes[3].writable);

	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK(!a->ptes[3].writable);
	CHECK_EQ(a->ptes[3].kind, TH_BLOCK);
	CHECK(!th_entry_dirty(&env.f, 3));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, writeback), 1);
	/* Nothing dirty: a second writeback writes nothing. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, writeback), 1);

	mkw = DAX_FAULT_STAT(&env.f, mkwrite);
	th_store(&env, a, 3, 0, th_stamp(3, 2));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, mkwrite), mkw + 1);
	CHECK(th_entry_dirty(&env.f, 3));
	CHECK(a->ptes[3].writable);
	CHECK(!b->ptes[3].writable);
	CHECK_EQ(th_cnt(&env.fs.allocs), allocs);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, major), 1);
	CHECK_EQ(th_load(&env, b, 3, 0), th_stamp(3, 2));

	/* Again through the other region. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK(!th_entry_dirty(&env.f, 3));
	th_store(&env, b, 3, 1, th_stamp(3, 3));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, mkwrite), mkw + 2);
	CHECK(th_entry_dirty(&env.f, 3));
	CHECK(b->ptes[3].writable);
	CHECK(!a->ptes[3].writable);

	/*
	 * mkwrite after truncate deleted the entry: no entry is also what a
	 * page mapped by a span has, so it becomes a write fault, which
	 * sorts out either case (here: a new, zeroed block, writable).
	 */
	th_store(&env, a, 40, 0, th_stamp(40, 1));
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(dax_truncate(&env.f, 40 * DAX_PAGE_SIZE), 0);
	CHECK_EQ(dax_truncate(&env.f, NR_PAGES * DAX_PAGE_SIZE), 0);
	CHECK(!th_entry_present(&env.f, 40));
	CHECK_EQ(a->ptes[40].kind, TH_NONE);
	mkw = DAX_FAULT_STAT(&env.f, mkwrite);
	vmf = (struct dax_vmf){ .region = a,
				.index = 40,
				.flags = DAX_VMF_WRITE | DAX_VMF_SHARED };
	CHECK_EQ(dax_mkwrite(&env.f, &vmf, 0), DAX_FAULT_MAJOR);
	CHECK(th_entry_present(&env.f, 40));
	CHECK(th_entry_dirty(&env.f, 40));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, mkwrite), mkw);
	CHECK_EQ(a->ptes[40].kind, TH_BLOCK);
	CHECK(a->ptes[40].writable);
	CHECK_EQ(th_load(&env, a, 40, 0), 0);
	th_store(&env, a, 40, 1, th_stamp(40, 2));
	CHECK_EQ(th_load(&env, a, 40, 0), 0);
	CHECK_EQ(th_load(&env, a, 40, 1), th_stamp(40, 2));
	env_teardown(&env);
}

/* ---- read(2) / write(2) ---- */

static void fill(uint8_t *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static bool all_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

static void test_rw(void)
{
	struct th_env env;
	struct th_region *a;
	static uint8_t in[3 * 4096], out[4 * 4096];
	uint64_t size;

	env_setup(&env, 32, 0);
	a = th_region_add(&env, true, false, false);

	CHECK_EQ(dax_read(&env.f, out, 100, 0), 0);
	/* 5000 bytes at 100: pages 0 and 1, size 5100. */
	fill(in, 5000, 1);
	CHECK_EQ(dax_write(&env.f, in, 5000, 100), 5000);
	CHECK_EQ(atomic_load(&env.fs.size), 5100);
	CHECK_EQ(th_cnt(&env.fs.allocs), 2);
	memset(out, 0xff, sizeof(out));
	CHECK_EQ(dax_read(&env.f, out, sizeof(out), 0), 5100);
	CHECK(all_zero(out, 100));
	CHECK(memcmp(out + 100, in, 5000) == 0);
	CHECK_EQ(dax_read(&env.f, out, 10, 5100), 0);
	CHECK_EQ(dax_read(&env.f, out, 10, 5095), 5);
	CHECK(memcmp(out, in + 4995, 5) == 0);

	/* Across a page boundary, inside the file. */
	fill(in, 10, 77);
	CHECK_EQ(dax_write(&env.f, in, 10, 4090), 10);
	CHECK_EQ(dax_read(&env.f, out, 12, 4089), 12);
	CHECK(memcmp(out + 1, in, 10) == 0);
	CHECK_EQ(atomic_load(&env.fs.size), 5100);
	CHECK_EQ(th_cnt(&env.fs.allocs), 2);

	/* A store through a mapping beyond EOF, inside the last page. */
	th_store(&env, a, 1, 300, th_stamp(1, 1));
	/* Extending past it: the gap, old tail included, reads zeros. */
	fill(in, 10, 9);
	CHECK_EQ(dax_write(&env.f, in, 10, 3 * DAX_PAGE_SIZE + 10), 10);
	size = 3 * DAX_PAGE_SIZE + 20;
	CHECK_EQ(atomic_load(&env.fs.size), size);
	memset(out, 0xff, sizeof(out));
	CHECK_EQ(dax_read(&env.f, out, sizeof(out), 5100), size - 5100);
	CHECK(all_zero(out, 3 * DAX_PAGE_SIZE + 10 - 5100));
	CHECK(memcmp(out + 3 * DAX_PAGE_SIZE + 10 - 5100, in, 10) == 0);
	CHECK_EQ(th_fs_block_of(&env.fs, 2), TH_HOLE);
	CHECK_EQ(th_load(&env, a, 1, 300), 0);

	/* Grow by truncate: holes read zeros, writes inside keep the size. */
	CHECK_EQ(dax_truncate(&env.f, 20 * DAX_PAGE_SIZE), 0);
	memset(out, 0xff, sizeof(out));
	CHECK_EQ(dax_read(&env.f, out, sizeof(out), 10 * DAX_PAGE_SIZE),
		 (ssize_t)sizeof(out));
	CHECK(all_zero(out, sizeof(out)));
	fill(in, 3, 5);
	CHECK_EQ(dax_write(&env.f, in, 3, 12 * DAX_PAGE_SIZE + 7), 3);
	CHECK_EQ(atomic_load(&env.fs.size), 20 * DAX_PAGE_SIZE);
	CHECK_EQ(dax_read(&env.f, out, 12, 12 * DAX_PAGE_SIZE), 12);
	CHECK(all_zero(out, 7));
	CHECK(memcmp(out + 7, in, 3) == 0);
	CHECK(all_zero(out + 10, 2));
	/* A mapping of the page sees what write(2) put there. */
	CHECK_EQ(th_load(&env, a, 12, 0), (uint64_t)in[0] << 56);
	/* Whole pages at once, across three pages. */
	fill(in, sizeof(in), 3);
	CHECK_EQ(dax_write(&env.f, in, sizeof(in), 14 * DAX_PAGE_SIZE + 2048),
		 (ssize_t)sizeof(in));
	CHECK_EQ(dax_read(&env.f, out, sizeof(in), 14 * DAX_PAGE_SIZE + 2048),
		 (ssize_t)sizeof(in));
	CHECK(memcmp(out, in, sizeof(in)) == 0);
	/* Beyond what the filesystem can hold. */
	CHECK_EQ(dax_write(&env.f, in, 8, NR_PAGES * DAX_PAGE_SIZE), -EFBIG);
	CHECK_EQ(dax_write(&env.f, in, 0, 0), 0);
	env_teardown(&env);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(60);
	test_hole_read();
	test_many_holes();
	test_write();
	test_write_around();
	test_hole_fill();
	test_private();
	test_eof();
	test_enospc();
	test_enomem();
	test_iomap_error();
	test_mkwrite();
	test_rw();
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_basic");
}
