/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_pmd - 2 MiB faults, their fallbacks to 4 KiB, and PMD against
 * PTE faults on the same ranges.
 *
 *  - A read of an untouched, aligned 2 MiB hole maps the huge zero page:
 *    one PMD ZERO entry, all 512 pages zero-mapped as one PMD, no block
 *    allocated (stats.hole). A second huge region shares it.
 *  - A write maps one 2 MiB extent, aligned to 512 blocks, with one PMD
 *    entry tagged DIRTY (stats.pmd, MAJOR).
 *  - Fallback (stats.fallback, then a 4 KiB fault): a private write, EOF
 *    inside the 2 MiB, an extent shorter than 2 MiB (fs.pmd_alloc off),
 *    a 4 KiB entry in the range - reported at once, without sleeping,
 *    even while another thread holds that entry locked.
 *  - A PTE fault inside a ZERO PMD downgrades it: the huge zero page is
 *    unmapped from every region (lock stats.downgrades), and the range
 *    continues as 4 KiB entries (later PMD faults there fall back).
 *  - A PTE fault inside a block PMD maps the right 4 KiB block (PMD block
 *    + offset) and keeps the PMD entry.
 *  - A write PMD fault over the huge zero page fills the hole at 2 MiB:
 *    the zero PMD is unmapped everywhere, one PMD block entry replaces it.
 *  - A PMD fault that falls back after the filesystem allocated less
 *    than 2 MiB under a ZERO PMD leaves no zero page over those blocks.
 *  - Threads doing PMD and PTE faults (huge and 4 KiB regions, shared and
 *    private) with random stamped reads and writes over overlapping
 *    ranges: no error, no invariant violation, stamps always valid, and
 *    at every pause no PMD entry shares its range with another entry,
 *    and every PMD mapping in a region sits on a PMD entry.
 *
 * Bugs it catches: a PMD fault that maps a misaligned or short extent,
 * allocates for a read, forgets DIRTY, or maps past EOF; a PMD grab that
 * sleeps on a locked 4 KiB entry (hang); a downgrade that leaves the huge
 * zero page in some region (stale zeros over the blocks a PTE write
 * allocates); a PTE fault in a PMD that maps block + 0 or splits the
 * block PMD entry; a PMD hole fill that leaves zero pages behind; PMD
 * and PTE entries overlapping under concurrency.
 */
#include "test_util.h"

#include <errno.h>

#include "fault_harness.h"
#include "fault_test.h"

#define NR_PMDS 4
#define NR_PAGES (NR_PMDS * DAX_PMD_NR)
#define NR_BLOCKS (2 * NR_PAGES)

/*
 * Walk the index: no EMPTY or locked entry, and a PMD entry has its range
 * to itself (the index cannot store both, but a bad walk or insert would
 * show up as a second entry found inside the range).
 * Return: the number of entries.
 */
static uint64_t check_index(struct th_env *env)
{
	uint64_t index = 0, n = 0, pmd_end = 0;
	dax_entry_t e;

	for (;;) {
		bool found;

		dax_rcu_read_lock();
		found = dax_idx_next_entry(&env->f.m.idx, &index, UINT64_MAX,
					   &e);
		dax_rcu_read_unlock();
		if (!found)
			break;
		n++;
		CHECK(!dax_entry_is_empty(e) && !dax_entry_locked(e));
		if (index < pmd_end) {
			fprintf(stderr, "entry at %llu inside a PMD entry\n",
				(unsigned long long)index);
			CHECK(index >= pmd_end);
		}
		if (dax_entry_is_pmd(e)) {
			CHECK_EQ(index & (DAX_PMD_NR - 1), 0);
			pmd_end = index + DAX_PMD_NR;
		}
		index += (uint64_t)1 << dax_entry_order(e);
	}
	return n;
}

/*
 * Every PMD mapping in a region lies on a PMD entry of the same kind and
 * block, and covers the whole aligned range; no 4 KiB zero page maps a
 * page that a ZERO PMD entry covers. Context: quiescent.
 */
static void check_pmd_mappings(struct th_env *env)
{
	for (int r = 0; r < env->vm.nr_regions; r++) {
		struct th_region *reg = &env->vm.regions[r];

		for (uint64_t p = 0; p < env->fs.max_pages; p++) {
			struct th_pte *pte = &reg->ptes[p];
			uint64_t pidx = p & DAX_PMD_MASK;
			dax_entry_t e = th_peek(env, p);

			if (pte->kind == TH_NONE || pte->kind == TH_PRIVATE)
				continue;
			if (pte->pmd) {
				struct th_pte *head = &reg->ptes[pidx];
				bool ok = e && dax_entry_is_pmd(e) &&
					  head->pmd && head->kind == pte->kind;

				if (ok && pte->kind == TH_BLOCK)
					ok = dax_entry_block(e) + (p - pidx) ==
						     pte->block &&
					     head->block + (p - pidx) ==
						     pte->block;
				if (ok && pte->kind == TH_ZERO)
					ok = dax_entry_is_zero(e);
				if (!ok) {
					fprintf(stderr,
						"region %d page %llu: PMD "
						"mapping without its entry\n",
						r, (unsigned long long)p);
					CHECK(ok);
				}
			} else if (pte->kind == TH_ZERO && reg->shared &&
				   e && dax_entry_is_pmd(e)) {
				fprintf(stderr, "region %d page %llu: 4 KiB "
						"zero page under a PMD entry\n",
					r, (unsigned long long)p);
				CHECK(!dax_entry_is_pmd(e));
			}
		}
	}
}

static void env_setup(struct th_env *env, uint64_t pages)
{
	th_env_setup(env, NR_BLOCKS, NR_PAGES, pages * DAX_PAGE_SIZE);
}

static void env_teardown(struct th_env *env)
{
	th_check_quiescent(env);
	check_index(env);
	check_pmd_mappings(env);
	th_env_destroy(env);
}

/* Is all of PMD range @pidx mapped in @r as one PMD of @kind? */
static bool pmd_mapped(struct th_region *r, uint64_t pidx, int kind,
		       bool writable)
{
	for (uint64_t i = 0; i < DAX_PMD_NR; i++) {
		struct th_pte *pte = &r->ptes[pidx + i];

		if (pte->kind != kind || !pte->pmd ||
		    (bool)pte->writable != writable)
			return false;
	}
	return true;
}

static bool range_unmapped(struct th_region *r, uint64_t pidx)
{
	for (uint64_t i = 0; i < DAX_PMD_NR; i++)
		if (r->ptes[pidx + i].kind != TH_NONE)
			return false;
	return true;
}

/* ---- zero PMD, block PMD ---- */

static void test_zero_pmd(void)
{
	struct th_env env;
	struct th_region *a, *b;
	dax_entry_t e;

	env_setup(&env, NR_PAGES);
	a = th_region_add(&env, true, false, true);
	b = th_region_add(&env, true, false, true);

	CHECK_EQ(th_load(&env, a, 5, 9), 0);
	CHECK(pmd_mapped(a, 0, TH_ZERO, false));
	e = th_peek(&env, 0);
	CHECK(e && dax_entry_is_pmd(e) && dax_entry_is_zero(e));
	CHECK(dax_entry_same(th_peek(&env, 511), e));
	CHECK_EQ(env.f.m.idx.nr_entries, 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pte), 0);
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK(!th_entry_dirty(&env.f, 0));
	/* Nothing next door. */
	CHECK_EQ(a->ptes[DAX_PMD_NR].kind, TH_NONE);
	CHECK(!th_entry_present(&env.f, DAX_PMD_NR));

	/* Another huge region shares the entry. */
	CHECK_EQ(th_load(&env, b, 300, 0), 0);
	CHECK(pmd_mapped(b, 0, TH_ZERO, false));
	CHECK_EQ(env.f.m.idx.nr_entries, 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 2);
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	env_teardown(&env);
}

static void test_block_pmd(void)
{
	struct th_env env;
	struct th_region *a, *b, *c;
	const uint64_t pidx = DAX_PMD_NR;
	struct dax_vmf vmf;
	uint64_t blk;
	dax_entry_t e;
	int ret;

	env_setup(&env, NR_PAGES);
	a = th_region_add(&env, true, false, true);
	b = th_region_add(&env, true, false, true);
	c = th_region_add(&env, true, false, false);

	vmf = th_vmf(a, pidx + 7, true);
	ret = dax_fault(&env.f, &vmf, DAX_PMD_ORDER);
	CHECK_EQ(ret, DAX_FAULT_MAJOR);
	CHECK_EQ(th_cnt(&env.fs.allocs), DAX_PMD_NR);
	blk = th_fs_block_of(&env.fs, pidx);
	REQUIRE(blk != TH_HOLE);
	CHECK_EQ(blk & (DAX_PMD_NR - 1), 0);
	for (uint64_t i = 0; i < DAX_PMD_NR; i++)
		if (th_fs_block_of(&env.fs, pidx + i) != blk + i ||
		    a->ptes[pidx + i].block != blk + i)
			CHECK(!"PMD extent not contiguous");
	CHECK(pmd_mapped(a, pidx, TH_BLOCK, true));
	e = th_peek(&env, pidx + 100);
	CHECK(dax_entry_is_pmd(e) && !dax_entry_is_zero(e) &&
	      !dax_entry_is_empty(e));
	CHECK_EQ(dax_entry_block(e), blk);
	CHECK(th_entry_dirty(&env.f, pidx));
	CHECK_EQ(env.f.m.idx.nr_entries, 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, major), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pte), 0);

	/* The same write again: not major, nothing allocated. */
	ret = dax_fault(&env.f, &vmf, DAX_PMD_ORDER);
	CHECK_EQ(ret, DAX_FAULT_DONE);
	CHECK_EQ(th_cnt(&env.fs.allocs), DAX_PMD_NR);

	th_store(&env, a, pidx + 33, 2, th_stamp(pidx + 33, 1));
	/* A read through another huge region: the PMD, read-only. */
	CHECK_EQ(th_load(&env, b, pidx + 33, 2), th_stamp(pidx + 33, 1));
	CHECK(pmd_mapped(b, pidx, TH_BLOCK, false));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 3);

	/* A 4 KiB fault inside the block PMD maps block + offset. */
	vmf = th_vmf(c, pidx + 33, false);
	CHECK_EQ(dax_pte_fault(&env.f, &vmf), DAX_FAULT_DONE);
	CHECK_EQ(c->ptes[pidx + 33].kind, TH_BLOCK);
	CHECK_EQ(c->ptes[pidx + 33].block, blk + 33);
	CHECK(!c->ptes[pidx + 33].pmd);
	CHECK(!c->ptes[pidx + 33].writable);
	CHECK_EQ(th_load(&env, c, pidx + 33, 2), th_stamp(pidx + 33, 1));
	/* Its span: the rest of the 2 MiB, read-only, without entries. */
	CHECK_EQ(c->ptes[pidx + 40].kind, TH_BLOCK);
	CHECK_EQ(c->ptes[pidx + 40].block, blk + 40);
	CHECK(!c->ptes[pidx + 40].writable);
	th_store(&env, c, pidx + 40, 0, th_stamp(pidx + 40, 1)); /* mkwrite */
	CHECK_EQ(c->ptes[pidx + 40].block, blk + 40);
	CHECK(c->ptes[pidx + 40].writable);
	CHECK_EQ(th_load(&env, a, pidx + 40, 0), th_stamp(pidx + 40, 1));
	/* Still one PMD entry, never split for a block-mapped range. */
	e = th_peek(&env, pidx + 40);
	CHECK(dax_entry_is_pmd(e));
	CHECK_EQ(dax_entry_block(e), blk);
	CHECK_EQ(env.f.m.idx.nr_entries, 1);
	CHECK_EQ(th_cnt(&env.f.m.stats.downgrades), 0);
	CHECK_EQ(th_cnt(&env.fs.allocs), DAX_PMD_NR);

	/* Clean, then a store through the PMD mapping: mkwrite, 2 MiB. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK(!th_entry_dirty(&env.f, pidx));
	CHECK(pmd_mapped(a, pidx, TH_BLOCK, false));
	th_store(&env, a, pidx + 500, 0, th_stamp(pidx + 500, 1));
	CHECK(th_entry_dirty(&env.f, pidx));
	CHECK(pmd_mapped(a, pidx, TH_BLOCK, true));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, mkwrite), 2);
	env_teardown(&env);
}

/* ---- fallbacks ---- */

static void check_pte_entry(struct th_env *env, uint64_t index)
{
	dax_entry_t e = th_peek(env, index);

	CHECK(e != 0);
	CHECK(!dax_entry_is_pmd(e));
}

static void test_fallback_private_eof(void)
{
	struct th_env env;
	struct th_region *a, *p;
	const uint64_t size = NR_PAGES - 10;
	const uint64_t last = (NR_PMDS - 1) * DAX_PMD_NR;
	struct dax_vmf vmf;
	unsigned long fb;

	env_setup(&env, size);
	a = th_region_add(&env, true, false, true);
	p = th_region_add(&env, false, false, true);

	/* Private write: copy one page, never a 2 MiB anything. */
	th_store(&env, p, 100, 0, th_stamp(100, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), 1);
	CHECK_EQ(p->ptes[100].kind, TH_PRIVATE);
	CHECK(!p->ptes[100].pmd);
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 0);
	CHECK(!th_entry_present(&env.f, 100));
	vmf = th_vmf(p, 101, true);
	CHECK_EQ(dax_pmd_fault(&env.f, &vmf), DAX_FAULT_FALLBACK);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), 2);

	/* EOF inside the last 2 MiB: read and write fall back. */
	fb = DAX_FAULT_STAT(&env.f, fallback);
	CHECK_EQ(th_load(&env, a, last + 5, 0), 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), fb + 1);
	CHECK_EQ(a->ptes[last + 5].kind, TH_ZERO);
	CHECK(!a->ptes[last + 5].pmd);
	/* The zero span reaches EOF, no further. */
	CHECK_EQ(a->ptes[last + 6].kind, TH_ZERO);
	CHECK_EQ(a->ptes[size - 1].kind, TH_ZERO);
	CHECK_EQ(a->ptes[size].kind, TH_NONE);
	check_pte_entry(&env, last + 5);
	th_store(&env, a, last + 6, 0, th_stamp(last + 6, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), fb + 2);
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	CHECK(!a->ptes[last + 6].pmd);
	check_pte_entry(&env, last + 6);
	/* Beyond EOF: SIGBUS, not fallback. */
	vmf = th_vmf(a, size + 2, false);
	CHECK_EQ(dax_pmd_fault(&env.f, &vmf), DAX_FAULT_SIGBUS);
	CHECK_EQ(dax_fault(&env.f, &vmf, DAX_PMD_ORDER), DAX_FAULT_SIGBUS);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), fb + 2);
	env_teardown(&env);
}

static void test_fallback_short_extent(void)
{
	struct th_env env;
	struct th_region *a;
	const uint64_t pidx = 2 * DAX_PMD_NR;
	dax_entry_t e;

	env_setup(&env, NR_PAGES);
	a = th_region_add(&env, true, false, true);
	env.fs.pmd_alloc = false;

	th_store(&env, a, pidx + 9, 0, th_stamp(pidx + 9, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 0);
	CHECK(th_cnt(&env.fs.allocs) < DAX_PMD_NR);
	CHECK_EQ(a->ptes[pidx + 9].kind, TH_BLOCK);
	CHECK_EQ(a->ptes[pidx + 9].block, th_fs_block_of(&env.fs, pidx + 9));
	CHECK(!a->ptes[pidx + 9].pmd);
	CHECK(a->ptes[pidx + 9].writable);
	e = th_peek(&env, pidx + 9);
	CHECK(e && !dax_entry_is_pmd(e));
	CHECK_EQ(dax_entry_block(e), th_fs_block_of(&env.fs, pidx + 9));
	CHECK(!dax_entry_is_pmd(th_peek(&env, pidx)));
	env_teardown(&env);
}

/* A thread that holds a 4 KiB entry lock until told to let go. */
struct holder {
	struct th_env *env;
	uint64_t index;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool locked, release;
};

static void *holder_thread(void *arg)
{
	struct holder *h = arg;
	DAX_CURSOR(cur, h->index, &h->env->f.m.idx, 0);
	dax_entry_t e;

	REQUIRE(dax_entry_grab(&h->env->f.m, &cur, 0, &e) == 0);
	pthread_mutex_lock(&h->lock);
	h->locked = true;
	pthread_cond_broadcast(&h->cond);
	while (!h->release)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	/* A placeholder we made: leave nothing behind. */
	if (dax_entry_is_empty(e))
		dax_entry_delete_locked(&h->env->f.m, &cur);
	else
		dax_entry_unlock(&h->env->f.m, &cur);
	return NULL;
}

struct pmd_job {
	struct th_env *env;
	struct dax_vmf vmf;
	atomic_int ret;
	atomic_bool done;
};

static void *pmd_fault_thread(void *arg)
{
	struct pmd_job *j = arg;

	atomic_store(&j->ret, dax_pmd_fault(&j->env->f, &j->vmf));
	atomic_store(&j->done, true);
	return NULL;
}

static void test_fallback_conflict(void)
{
	struct th_env env;
	struct th_region *a;
	const uint64_t pidx = DAX_PMD_NR;
	struct holder h = { .index = pidx + 20 };
	struct pmd_job j;
	struct dax_vmf vmf;
	pthread_t ht, jt;
	unsigned long waits, conflicts;
	double t0;

	env_setup(&env, NR_PAGES);
	a = th_region_add(&env, true, false, true);
	h.env = &env;
	pthread_mutex_init(&h.lock, NULL);
	pthread_cond_init(&h.cond, NULL);

	REQUIRE(pthread_create(&ht, NULL, holder_thread, &h) == 0);
	pthread_mutex_lock(&h.lock);
	while (!h.locked)
		pthread_cond_wait(&h.cond, &h.lock);
	pthread_mutex_unlock(&h.lock);

	waits = th_cnt(&env.f.m.stats.waits);
	conflicts = th_cnt(&env.f.m.stats.conflicts);
	for (int write = 0; write < 2; write++) {
		j = (struct pmd_job){.env = &env,
				     .vmf = th_vmf(a, pidx + 3 + write, write)};
		REQUIRE(pthread_create(&jt, NULL, pmd_fault_thread, &j) == 0);
		t0 = t_now();
		while (!atomic_load(&j.done) && t_now() - t0 < 5)
			usleep(1000);
		if (!atomic_load(&j.done)) {
			fprintf(stderr, "PMD fault sleeps on a locked 4 KiB "
					"entry in its range\n");
			CHECK(atomic_load(&j.done));
			break; /* the holder's release will wake it */
		}
		pthread_join(jt, NULL);
		CHECK_EQ(atomic_load(&j.ret), DAX_FAULT_FALLBACK);
	}
	CHECK_EQ(th_cnt(&env.f.m.stats.waits), waits);
	CHECK(th_cnt(&env.f.m.stats.conflicts) >= conflicts + 2);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), 2);
	CHECK_EQ(th_cnt(&env.fs.allocs), 0);
	CHECK(range_unmapped(a, pidx));
	/* The 4 KiB fault that follows works next to the locked entry. */
	vmf = th_vmf(a, pidx + 3, false);
	CHECK_EQ(dax_pte_fault(&env.f, &vmf), DAX_FAULT_DONE);
	CHECK_EQ(a->ptes[pidx + 3].kind, TH_ZERO);
	CHECK(!a->ptes[pidx + 3].pmd);

	pthread_mutex_lock(&h.lock);
	h.release = true;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.lock);
	pthread_join(ht, NULL);
	if (!atomic_load(&j.done))
		pthread_join(jt, NULL);

	/* Unlocked 4 KiB entries conflict too: through th_access. */
	th_store(&env, a, pidx + 4, 0, th_stamp(pidx + 4, 1));
	CHECK(!a->ptes[pidx + 4].pmd);
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	check_pte_entry(&env, pidx + 4);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 0);
	pthread_mutex_destroy(&h.lock);
	pthread_cond_destroy(&h.cond);
	env_teardown(&env);
}

/* ---- downgrade, hole fill ---- */

static void test_downgrade(void)
{
	struct th_env env;
	struct th_region *a, *b, *c;
	unsigned long fb;
	dax_entry_t e;

	env_setup(&env, NR_PAGES);
	a = th_region_add(&env, true, false, true);
	b = th_region_add(&env, true, false, true);
	c = th_region_add(&env, true, false, false);

	/* A write by a 4 KiB fault inside a zero PMD. */
	CHECK_EQ(th_load(&env, a, 5, 0), 0);
	CHECK_EQ(th_load(&env, b, 6, 0), 0);
	CHECK(pmd_mapped(a, 0, TH_ZERO, false));
	CHECK(pmd_mapped(b, 0, TH_ZERO, false));
	th_store(&env, c, 7, 0, th_stamp(7, 1));
	CHECK_EQ(th_cnt(&env.f.m.stats.downgrades), 1);
	CHECK(range_unmapped(a, 0));
	CHECK(range_unmapped(b, 0));
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	CHECK(!th_entry_present(&env.f, 0));
	e = th_peek(&env, 7);
	CHECK(e && !dax_entry_is_pmd(e) && !dax_entry_is_zero(e));
	CHECK_EQ(env.f.m.idx.nr_entries, 1);
	/* The huge regions see the data; PMD faults there now fall back. */
	fb = DAX_FAULT_STAT(&env.f, fallback);
	CHECK_EQ(th_load(&env, a, 7, 0), th_stamp(7, 1));
	CHECK_EQ(th_load(&env, b, 8, 0), 0);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), fb + 2);
	CHECK(!a->ptes[7].pmd);
	CHECK_EQ(b->ptes[8].kind, TH_ZERO);
	CHECK(!b->ptes[8].pmd);
	check_pte_entry(&env, 8);

	/* A read by a 4 KiB fault inside a zero PMD downgrades as well. */
	CHECK_EQ(th_load(&env, a, DAX_PMD_NR + 1, 0), 0);
	CHECK(pmd_mapped(a, DAX_PMD_NR, TH_ZERO, false));
	CHECK_EQ(th_load(&env, c, DAX_PMD_NR + 2, 0), 0);
	CHECK_EQ(th_cnt(&env.f.m.stats.downgrades), 2);
	CHECK(range_unmapped(a, DAX_PMD_NR));
	CHECK_EQ(c->ptes[DAX_PMD_NR + 2].kind, TH_ZERO);
	check_pte_entry(&env, DAX_PMD_NR + 2);
	CHECK_EQ(th_cnt(&env.fs.allocs), 1);
	env_teardown(&env);
}

static void test_pmd_hole_fill(void)
{
	struct th_env env;
	struct th_region *a, *b;
	uint64_t blk;
	dax_entry_t e;

	env_setup(&env, NR_PAGES);
	a = th_region_add(&env, true, false, true);
	b = th_region_add(&env, true, false, true);

	CHECK_EQ(th_load(&env, a, 3, 0), 0);
	CHECK_EQ(th_load(&env, b, 4, 0), 0);
	th_store(&env, a, 3, 1, th_stamp(3, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, fallback), 0);
	CHECK_EQ(th_cnt(&env.f.m.stats.downgrades), 0);
	CHECK_EQ(th_cnt(&env.fs.allocs), DAX_PMD_NR);
	blk = th_fs_block_of(&env.fs, 0);
	CHECK_EQ(blk & (DAX_PMD_NR - 1), 0);
	CHECK(pmd_mapped(a, 0, TH_BLOCK, true));
	CHECK(range_unmapped(b, 0));
	e = th_peek(&env, 0);
	CHECK(dax_entry_is_pmd(e) && !dax_entry_is_zero(e));
	CHECK_EQ(dax_entry_block(e), blk);
	CHECK(th_entry_dirty(&env.f, 0));
	CHECK_EQ(th_load(&env, b, 3, 1), th_stamp(3, 1));
	CHECK(pmd_mapped(b, 0, TH_BLOCK, false));
	env_teardown(&env);
}

/*
 * Under a ZERO PMD, a write PMD fault whose filesystem hands out less
 * than 2 MiB falls back. Whatever it allocated must not stay covered by
 * the huge zero page: a write(2) to those blocks would otherwise be
 * hidden behind zeros in every region that mapped the zero PMD.
 */
static void test_short_extent_under_zero_pmd(void)
{
	struct th_env env;
	struct th_region *a, *c;
	struct dax_vmf vmf;
	uint64_t v = 0, word = th_stamp(0, 5);

	env_setup(&env, NR_PAGES);
	a = th_region_add(&env, true, false, true);
	c = th_region_add(&env, true, false, false);

	CHECK_EQ(th_load(&env, a, 5, 0), 0);
	CHECK(pmd_mapped(a, 0, TH_ZERO, false));
	env.fs.pmd_alloc = false;
	vmf = th_vmf(a, 7, true);
	CHECK_EQ(dax_pmd_fault(&env.f, &vmf), DAX_FAULT_FALLBACK);
	/* Before the PTE fault that would follow: consistent already. */
	th_check_quiescent(&env);
	check_pmd_mappings(&env);
	CHECK_EQ(dax_write(&env.f, &word, sizeof(word), 0), sizeof(word));
	CHECK_EQ(th_access(&env, a, 0, 0, false, &v), 0);
	CHECK_EQ(v, word);
	/* And the PTE fault of the fallback, then a 4 KiB reader. */
	CHECK_EQ(dax_pte_fault(&env.f, &vmf), DAX_FAULT_MAJOR);
	CHECK(a->ptes[7].writable);
	CHECK_EQ(th_load(&env, c, 0, 0), word);
	CHECK_EQ(th_load(&env, a, 0, 0), word);
	env_teardown(&env);
}

/* ---- concurrency ---- */

#define NR_THREADS 4

struct worker {
	struct th_env *env;
	struct th_region *regions[4];
	uint64_t seed;
	double until;
	unsigned long ops, errors, bad;
	pthread_t thread;
};

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	struct t_rng rng;
	uint64_t n = 0;

	t_rng_init(&rng, w->seed);
	while (t_now() < w->until) {
		for (int k = 0; k < 64; k++) {
			/* Huge shared regions most, so PMD faults get a
			 * chance before a 4 KiB entry pins the range. */
			uint64_t pick = t_rand_below(&rng, 16);
			/* A few pages of three ranges: PMD and PTE meet. */
			uint64_t pidx = t_rand_below(&rng, 3) * DAX_PMD_NR;
			uint64_t index = pidx + t_rand_below(&rng, 8) * 61;
			bool write = t_rand_below(&rng, 3) == 0;
			struct th_region *r;
			unsigned int word;
			uint64_t v;
			int ret;

			if (pick < 10)
				r = w->regions[pick & 1];
			else
				r = w->regions[pick < 13 ? 2 : 3];
			word = (unsigned int)t_rand_below(&rng, 512);
			if (t_rand_below(&rng, 4) == 0)
				index = t_rand_below(&rng, NR_PAGES);
			v = write ? th_stamp(index, ++n) : 0;
			ret = th_access(w->env, r, index, word, write, &v);
			w->ops++;
			if (ret)
				w->errors++;
			else if (!write && !th_stamp_ok(index, v))
				w->bad++;
		}
		if (t_rand_below(&rng, 16) == 0)
			dax_writeback(&w->env->f, 0, NR_PAGES - 1);
	}
	return NULL;
}

static void test_concurrent(void)
{
	struct th_env env;
	struct th_region *regions[4];
	struct worker w[NR_THREADS];
	double secs = t_long ? 10.0 : 1.5, end;
	unsigned long ops = 0, rounds = 0;

	env_setup(&env, NR_PAGES);
	regions[0] = th_region_add(&env, true, false, true);
	regions[1] = th_region_add(&env, true, false, true);
	regions[2] = th_region_add(&env, true, false, false);
	regions[3] = th_region_add(&env, false, false, true);

	end = t_now() + secs;
	while (t_now() < end) {
		for (int i = 0; i < NR_THREADS; i++) {
			w[i] = (struct worker){ .env = &env,
						.seed = t_seed * 131 +
							rounds * 17 + i,
						.until = t_now() + 0.1 };
			memcpy(w[i].regions, regions, sizeof(regions));
			REQUIRE(pthread_create(&w[i].thread, NULL,
					       worker_thread, &w[i]) == 0);
		}
		for (int i = 0; i < NR_THREADS; i++) {
			pthread_join(w[i].thread, NULL);
			ops += w[i].ops;
			CHECK_EQ(w[i].errors, 0);
			CHECK_EQ(w[i].bad, 0);
		}
		/* A pause: everything must be consistent now. */
		th_check_quiescent(&env);
		check_index(&env);
		check_pmd_mappings(&env);
		CHECK_EQ(th_violations(), 0);
		rounds++;
		/* Start over from holes most rounds, so zero PMDs recur. */
		if (rounds % 4 != 0) {
			CHECK_EQ(dax_truncate(&env.f, 0), 0);
			CHECK_EQ(dax_truncate(&env.f,
					      NR_PAGES * DAX_PAGE_SIZE), 0);
		}
	}
	printf("concurrent: %lu accesses in %lu rounds, %lu PMD maps, %lu "
	       "fallbacks, %lu downgrades, %lu hole fills\n",
	       ops, rounds, DAX_FAULT_STAT(&env.f, pmd),
	       DAX_FAULT_STAT(&env.f, fallback),
	       th_cnt(&env.f.m.stats.downgrades),
	       DAX_FAULT_STAT(&env.f, hole_fill));
	CHECK(DAX_FAULT_STAT(&env.f, pmd) > 0);
	CHECK(DAX_FAULT_STAT(&env.f, fallback) > 0);
	env_teardown(&env);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(t_long ? 120 : 60);
	test_zero_pmd();
	test_block_pmd();
	test_fallback_private_eof();
	test_fallback_short_extent();
	test_fallback_conflict();
	test_downgrade();
	test_pmd_hole_fill();
	test_short_extent_under_zero_pmd();
	test_concurrent();
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_pmd");
}
