/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_sync - synchronous (MAP_SYNC) faults: a page becomes writable in
 * a MAP_SYNC region only once the metadata that maps it is durable.
 *
 * The VM's insert and mkwrite are wrapped to record fs.syncs at the
 * moment a writable mapping is made, and a hook at DAX_HOOK_FAULT_MAPPED
 * records it right after the filesystem allocated. So for each store the
 * test knows whether the commit came after the allocation and before
 * the page became writable, not merely that it happened.
 *
 *  - 4 KiB: a write fault that allocates (fresh hole, or a hole filled
 *    over the zero page) syncs once (fs.syncs, stats.sync), after the
 *    allocation and before the writable insert. A write fault or a
 *    mkwrite on a block whose allocation is already durable does not
 *    sync; a block allocated through a region without MAP_SYNC or by
 *    write(2) is committed when a MAP_SYNC region first maps it writable,
 *    by a write fault or by mkwrite. Read faults never sync, regions
 *    without MAP_SYNC never sync, private (CoW) stores never sync.
 *  - A failed commit ends the fault with SIGBUS, nothing writable and
 *    the entry clean; the next store commits and succeeds.
 *  - 2 MiB: the same for PMD write faults (allocation, hole fill of the
 *    huge zero page), PMD mkwrite, and a PMD fault that falls back.
 *
 * Bugs it catches: no sync at all, a sync after the page is already
 * writable (a store could reach a block the filesystem forgets after a
 * crash), a sync before the allocation (commits nothing), syncs on read
 * faults or in ordinary regions (a slow path for nothing), a mkwrite
 * that skips the commit, an error from the commit that is ignored.
 */
#include "test_util.h"

#include <errno.h>

#include "fault_harness.h"
#include "fault_test.h"

#define NR_PMDS 6
#define NR_PAGES (NR_PMDS * DAX_PMD_NR)

static struct th_env *g_env;

/* What the wrappers and the hook saw. */
static unsigned long writable_calls;   /* writable inserts + mkwrites */
static unsigned long syncs_at_writable; /* fs.syncs at the last of them */
static unsigned int order_at_writable;
static unsigned long mapped_calls;     /* DAX_HOOK_FAULT_MAPPED hits */
static unsigned long syncs_at_mapped;  /* fs.syncs at the last of them */
static bool sync_fails;		       /* next fs sync returns -EIO */

static int rec_insert(void *vm, void *region, uint64_t index,
		      unsigned int order, uint64_t block, unsigned int flags,
		      const struct dax_vm_span *span)
{
	if (flags & DAX_VM_WRITE) {
		writable_calls++;
		syncs_at_writable = th_cnt(&g_env->fs.syncs);
		order_at_writable = order;
	}
	return th_vm_ops.insert(vm, region, index, order, block, flags,
				span);
}

static int rec_mkwrite(void *vm, void *region, uint64_t index,
		       unsigned int order)
{
	writable_calls++;
	syncs_at_writable = th_cnt(&g_env->fs.syncs);
	order_at_writable = order;
	return th_vm_ops.mkwrite(vm, region, index, order);
}

static int failing_sync(void *file)
{
	if (sync_fails) {
		sync_fails = false;
		return -EIO;
	}
	return th_fs_ops.sync(file);
}

static void hook(struct dax_fmap *f, enum dax_hook_point point,
		 uint64_t index, void *arg)
{
	(void)f;
	(void)index;
	(void)arg;
	if (point == DAX_HOOK_FAULT_MAPPED) {
		mapped_calls++;
		syncs_at_mapped = th_cnt(&g_env->fs.syncs);
	}
}

static struct dax_vm_ops rec_vm_ops;
static struct dax_iomap_ops rec_fs_ops;

static void env_setup(struct th_env *env)
{
	th_env_setup(env, 2 * NR_PAGES, NR_PAGES, NR_PAGES * DAX_PAGE_SIZE);
	rec_vm_ops = th_vm_ops;
	rec_vm_ops.insert = rec_insert;
	rec_vm_ops.mkwrite = rec_mkwrite;
	rec_fs_ops = th_fs_ops;
	rec_fs_ops.sync = failing_sync;
	env->f.vm = &rec_vm_ops;
	env->f.fs = &rec_fs_ops;
	env->f.hook = hook;
	g_env = env;
	sync_fails = false;
}

static void env_teardown(struct th_env *env)
{
	th_check_quiescent(env);
	th_env_destroy(env);
	g_env = NULL;
}

enum how { VIA_FAULT, VIA_MKWRITE };

/*
 * Store through @r at @index and check: with @want_sync, exactly one
 * commit, after the fault's allocation (VIA_FAULT: the hook saw the old
 * count) and before the page became writable; without, none at all.
 */
static void store_check(struct th_env *env, struct th_region *r,
			uint64_t index, bool want_sync, enum how how,
			unsigned int order, int line)
{
	unsigned long s0 = th_cnt(&env->fs.syncs),
		      st0 = DAX_FAULT_STAT(&env->f, sync);
	unsigned long w0 = writable_calls, m0 = mapped_calls;
	unsigned long mk0 = DAX_FAULT_STAT(&env->f, mkwrite);
	uint64_t v = th_stamp(index, s0 + 1);
	int fails = t_failures;

	CHECK_EQ(th_access(env, r, index, 0, true, &v), 0);
	CHECK_EQ(th_cnt(&env->fs.syncs), s0 + want_sync);
	CHECK_EQ(DAX_FAULT_STAT(&env->f, sync), st0 + want_sync);
	CHECK(writable_calls > w0);
	CHECK_EQ(order_at_writable, order);
	/* Committed before it became writable. */
	CHECK_EQ(syncs_at_writable, s0 + want_sync);
	if (how == VIA_FAULT) {
		/* A fault ran, and the commit followed its allocation. */
		CHECK(mapped_calls > m0);
		CHECK_EQ(syncs_at_mapped, s0);
	} else {
		CHECK(DAX_FAULT_STAT(&env->f, mkwrite) > mk0);
		CHECK_EQ(mapped_calls, m0);
	}
	CHECK(r->ptes[index].writable);
	CHECK(th_entry_dirty(&env->f, index));
	if (t_failures != fails)
		fprintf(stderr, "  (store at page %llu, from line %d)\n",
			(unsigned long long)index, line);
}

#define STORE(env, r, index, want, how, order)                                 \
	store_check(env, r, index, want, how, order, __LINE__)

static void load_nosync(struct th_env *env, struct th_region *r,
			uint64_t index)
{
	unsigned long s0 = th_cnt(&env->fs.syncs),
		      st0 = DAX_FAULT_STAT(&env->f, sync);
	uint64_t v = 0;

	CHECK_EQ(th_access(env, r, index, 0, false, &v), 0);
	CHECK(th_stamp_ok(index, v));
	CHECK_EQ(th_cnt(&env->fs.syncs), s0);
	CHECK_EQ(DAX_FAULT_STAT(&env->f, sync), st0);
}

/* ---- 4 KiB ---- */

static void test_pte(void)
{
	struct th_env env;
	struct th_region *s, *s2, *n, *p, *s3;
	struct dax_vmf vmf;
	unsigned long s0;
	uint64_t v;

	env_setup(&env);
	s = th_region_add(&env, true, true, false);
	s2 = th_region_add(&env, true, true, false);
	n = th_region_add(&env, true, false, false);
	p = th_region_add(&env, false, true, false);
	s3 = th_region_add(&env, true, true, false);

	/* Allocating write fault: one commit, between alloc and insert. */
	STORE(&env, s, 3, true, VIA_FAULT, 0);
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	/* Again, directly: the block is durable, nothing to commit. */
	s0 = th_cnt(&env.fs.syncs);
	vmf = th_vmf(s, 3, true);
	CHECK_EQ(dax_pte_fault(&env.f, &vmf), DAX_FAULT_DONE);
	CHECK_EQ(th_cnt(&env.fs.syncs), s0);
	/* Another MAP_SYNC region: read, then mkwrite, no commit. */
	load_nosync(&env, s2, 3);
	CHECK(!s2->ptes[3].writable);
	STORE(&env, s2, 3, false, VIA_MKWRITE, 0);
	/* After writeback, mkwrite again: still nothing to commit. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	STORE(&env, s, 3, false, VIA_MKWRITE, 0);

	/* Hole fill over the zero page allocates: one commit. */
	load_nosync(&env, s, 4);
	CHECK_EQ(s->ptes[4].kind, TH_ZERO);
	STORE(&env, s, 4, true, VIA_FAULT, 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);

	/* A region without MAP_SYNC never commits... */
	STORE(&env, n, 5, false, VIA_FAULT, 0);
	STORE(&env, n, 6, false, VIA_FAULT, 0);
	CHECK_EQ(th_cnt(&env.fs.allocs), 4);
	/* ...so a MAP_SYNC write fault on that block must. */
	STORE(&env, s, 5, true, VIA_FAULT, 0);
	/* The commit covered page 6 too: its MAP_SYNC fault has none. */
	STORE(&env, s, 6, false, VIA_FAULT, 0);

	/* write(2) allocates, not durable; MAP_SYNC mkwrite commits. */
	v = th_stamp(7, 1);
	CHECK_EQ(dax_write(&env.f, &v, sizeof(v), 7 * DAX_PAGE_SIZE),
		 sizeof(v));
	load_nosync(&env, s, 7);
	CHECK(!s->ptes[7].writable);
	STORE(&env, s, 7, true, VIA_MKWRITE, 0);
	/* write(2) into an allocated block changes no metadata. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(dax_write(&env.f, &v, sizeof(v), 7 * DAX_PAGE_SIZE + 64),
		 sizeof(v));
	STORE(&env, s, 7, false, VIA_MKWRITE, 0);

	/* Private stores copy: no allocation, no commit. */
	s0 = th_cnt(&env.fs.syncs);
	v = th_stamp(8, 1);
	CHECK_EQ(th_access(&env, p, 8, 0, true, &v), 0);
	CHECK_EQ(th_access(&env, p, 3, 0, true, &v), 0);
	CHECK_EQ(p->ptes[8].kind, TH_PRIVATE);
	CHECK_EQ(th_cnt(&env.fs.syncs), s0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, cow), 2);
	CHECK_EQ(th_fs_block_of(&env.fs, 8), TH_HOLE);

	/* Reads never commit: holes, blocks, through every region. */
	for (uint64_t i = 0; i < 16; i++) {
		load_nosync(&env, s3, i);
		load_nosync(&env, n, i);
		load_nosync(&env, s, i);
	}
	/* Even over blocks not yet durable. */
	v = th_stamp(12, 1);
	CHECK_EQ(dax_write(&env.f, &v, sizeof(v), 12 * DAX_PAGE_SIZE),
		 sizeof(v));
	load_nosync(&env, s2, 12);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, sync), th_cnt(&env.fs.syncs));
	CHECK_EQ(th_violations(), 0);
	env_teardown(&env);
}

static void test_sync_error(void)
{
	struct th_env env;
	struct th_region *s, *n;
	uint64_t v = th_stamp(9, 1);
	unsigned long s0, st0, sigbus;

	env_setup(&env);
	s = th_region_add(&env, true, true, false);
	n = th_region_add(&env, true, false, false);

	/* The commit of an allocating write fault fails. */
	sync_fails = true;
	st0 = DAX_FAULT_STAT(&env.f, sync);
	sigbus = DAX_FAULT_STAT(&env.f, sigbus);
	CHECK_EQ(th_access(&env, s, 9, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, sync), st0 + 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, sigbus), sigbus + 1);
	CHECK(!s->ptes[9].writable);
	CHECK(!th_entry_dirty(&env.f, 9));
	CHECK_EQ(th_cnt(&env.fs.syncs), 0);
	/* Not durable yet: the next store commits, and works. */
	STORE(&env, s, 9, true, VIA_FAULT, 0);

	/* The commit of a mkwrite fails. */
	STORE(&env, n, 10, false, VIA_FAULT, 0);
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	load_nosync(&env, s, 10);
	sync_fails = true;
	s0 = th_cnt(&env.fs.syncs);
	v = th_stamp(10, 2);
	CHECK_EQ(th_access(&env, s, 10, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(th_cnt(&env.fs.syncs), s0);
	CHECK(!s->ptes[10].writable);
	CHECK(!th_entry_dirty(&env.f, 10));
	STORE(&env, s, 10, true, VIA_MKWRITE, 0);
	CHECK_EQ(th_violations(), 0);
	env_teardown(&env);
}

/* ---- 2 MiB ---- */

static bool pmd_writable(struct th_region *r, uint64_t pidx)
{
	for (uint64_t i = 0; i < DAX_PMD_NR; i++)
		if (r->ptes[pidx + i].kind != TH_BLOCK ||
		    !r->ptes[pidx + i].pmd || !r->ptes[pidx + i].writable)
			return false;
	return true;
}

static void test_pmd(void)
{
	struct th_env env;
	struct th_region *hs, *hn, *s4;
	struct dax_vmf vmf;
	unsigned long s0;

	env_setup(&env);
	hs = th_region_add(&env, true, true, true);
	hn = th_region_add(&env, true, false, true);
	s4 = th_region_add(&env, true, true, false);

	/* Allocating PMD write fault: one commit before the PMD insert. */
	STORE(&env, hs, DAX_PMD_NR + 3, true, VIA_FAULT, DAX_PMD_ORDER);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 1);
	CHECK_EQ(th_cnt(&env.fs.allocs), DAX_PMD_NR);
	CHECK(pmd_writable(hs, DAX_PMD_NR));
	/* The same fault again: durable, no commit. */
	s0 = th_cnt(&env.fs.syncs);
	vmf = th_vmf(hs, DAX_PMD_NR + 3, true);
	CHECK_EQ(dax_pmd_fault(&env.f, &vmf), DAX_FAULT_DONE);
	CHECK_EQ(th_cnt(&env.fs.syncs), s0);
	/* Clean, then PMD mkwrite: no commit. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	STORE(&env, hs, DAX_PMD_NR + 4, false, VIA_MKWRITE, DAX_PMD_ORDER);

	/* The huge zero page, then a store: a 2 MiB hole fill commits. */
	load_nosync(&env, hs, 2 * DAX_PMD_NR + 1);
	CHECK_EQ(hs->ptes[2 * DAX_PMD_NR + 1].kind, TH_ZERO);
	STORE(&env, hs, 2 * DAX_PMD_NR + 1, true, VIA_FAULT, DAX_PMD_ORDER);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);
	CHECK(pmd_writable(hs, 2 * DAX_PMD_NR));

	/* No MAP_SYNC: no commit; MAP_SYNC then faults it: commit. */
	STORE(&env, hn, 3 * DAX_PMD_NR, false, VIA_FAULT, DAX_PMD_ORDER);
	STORE(&env, hs, 3 * DAX_PMD_NR + 7, true, VIA_FAULT, DAX_PMD_ORDER);

	/* No MAP_SYNC allocates; MAP_SYNC maps it read-only, then PMD
	 * mkwrite must commit. */
	STORE(&env, hn, 5, false, VIA_FAULT, DAX_PMD_ORDER);
	load_nosync(&env, hs, 6);
	CHECK(!hs->ptes[6].writable && hs->ptes[6].pmd);
	STORE(&env, hs, 6, true, VIA_MKWRITE, DAX_PMD_ORDER);
	CHECK(pmd_writable(hs, 0));

	/* A PMD fault that falls back: the 4 KiB fault commits. */
	env.fs.pmd_alloc = false;
	STORE(&env, hs, 4 * DAX_PMD_NR + 9, true, VIA_FAULT, 0);
	CHECK(DAX_FAULT_STAT(&env.f, fallback) > 0);
	CHECK(!hs->ptes[4 * DAX_PMD_NR + 9].pmd);
	env.fs.pmd_alloc = true;

	/* A 4 KiB MAP_SYNC fault inside a PMD others allocated commits. */
	STORE(&env, hn, 5 * DAX_PMD_NR, false, VIA_FAULT, DAX_PMD_ORDER);
	STORE(&env, s4, 5 * DAX_PMD_NR + 17, true, VIA_FAULT, 0);
	CHECK_EQ(s4->ptes[5 * DAX_PMD_NR + 17].block,
		 th_fs_block_of(&env.fs, 5 * DAX_PMD_NR + 17));
	STORE(&env, s4, 5 * DAX_PMD_NR + 18, false, VIA_FAULT, 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, sync), th_cnt(&env.fs.syncs));
	CHECK_EQ(th_violations(), 0);
	env_teardown(&env);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(60);
	test_pte();
	test_sync_error();
	test_pmd();
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_sync");
}
