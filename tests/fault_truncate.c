/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_truncate - truncate and punch hole against mappings, entries and
 * blocks.
 *
 *  - Shrinking unmaps everything beyond the new EOF from every region,
 *    private copies included, deletes those entries and frees their
 *    blocks (fs.frees); later accesses there get SIGBUS, below they work
 *    and see the old data; growing again shows holes.
 *  - A size inside a page zeroes the rest of that page on the device:
 *    after growing, both dax_read() and the mapping read zeros there,
 *    including bytes stored through the mapping beyond EOF.
 *  - Punching whole pages frees their blocks and unmaps them; they read
 *    zeros through a refault and dax_read(). A partial-page punch zeroes
 *    exactly its bytes and frees nothing. Punching part of a PMD-mapped
 *    extent deletes the PMD entry and unmaps the whole 2 MiB; the rest
 *    faults back as 4 KiB pages of the same blocks.
 *  - Truncate and punch wait for an entry lock held by writeback (parked
 *    at DAX_HOOK_WB_CLEANED) and free the block only after it unlocks.
 *  - Threads storing and loading stamps through shared, huge and private
 *    regions (and writing back) while another thread truncates down and
 *    up and punches holes for a while: an access fails only with SIGBUS,
 *    and only when its page was beyond EOF at some time during it; no
 *    access beyond a stable EOF succeeds; no load ever sees poison (a
 *    freed block through a stale mapping); no invariant violation.
 *
 * Bugs it catches: truncate that forgets a region or private copies,
 * leaves entries (or frees blocks before deleting them), frees blocks
 * still mapped, does not zero the partial page (stale data resurfaces on
 * growth), zeroes too much; punch that frees partial pages or zeroes the
 * wrong bytes, leaves a PMD mapping over freed blocks; deletion that
 * does not wait for the entry lock (use-after-free of the block by
 * writeback); faults that race truncate and map beyond EOF.
 */
#include "test_util.h"

#include <errno.h>

#include <sched.h>

#include "fault_harness.h"
#include "fault_test.h"
#include "hook_gate.h"

static uint64_t size_pages(struct th_env *env)
{
	return (atomic_load(&env->fs.size) + DAX_PAGE_SIZE - 1) >>
	       DAX_PAGE_SHIFT;
}

/* Entries covering any of [first, last]. */
static uint64_t entries_in(struct th_env *env, uint64_t first, uint64_t last)
{
	uint64_t index = first, n = 0;
	dax_entry_t e;

	for (;;) {
		bool found;

		dax_rcu_read_lock();
		found = dax_idx_next_entry(&env->f.m.idx, &index, last, &e);
		dax_rcu_read_unlock();
		if (!found)
			break;
		n++;
		index += (uint64_t)1 << dax_entry_order(e);
		if (index > last)
			break;
	}
	return n;
}

static void env_setup(struct th_env *env, uint64_t blocks, uint64_t pages)
{
	th_env_setup(env, blocks, pages, pages * DAX_PAGE_SIZE);
}

static void env_teardown(struct th_env *env)
{
	th_check_quiescent(env);
	th_check_entries_settled(env);
	th_env_destroy(env);
}

/* Word @word of page @index by dax_read(); ~0 if not read in full. */
static uint64_t read_word(struct th_env *env, uint64_t index,
			  unsigned int word)
{
	uint64_t v = ~0ULL;

	if (dax_read(&env->f, &v, sizeof(v),
		     index * DAX_PAGE_SIZE + word * 8) != sizeof(v))
		return ~0ULL;
	return v;
}

/* Word value stamped into every word of a page by fill_page(). */
static uint64_t wstamp(uint64_t index, unsigned int word)
{
	return th_stamp(index, word + 1);
}

static void fill_page(struct th_env *env, struct th_region *r, uint64_t index)
{
	for (unsigned int w = 0; w < DAX_PAGE_SIZE / 8; w++)
		th_store(env, r, index, w, wstamp(index, w));
}

/* ---- shrink ---- */

static void test_shrink(void)
{
	struct th_env env;
	struct th_region *a, *b, *p;
	const uint64_t pages = 64, keep = 16;
	uint64_t v = 1, blocks[32];
	unsigned long frees, free_blocks;

	env_setup(&env, 64, pages);
	a = th_region_add(&env, true, false, false);
	b = th_region_add(&env, true, false, false);
	p = th_region_add(&env, false, false, false);

	for (uint64_t i = 0; i < 32; i++) {
		th_store(&env, a, i, 0, th_stamp(i, 1));
		th_store(&env, a, i, 511, th_stamp(i, 2));
		CHECK_EQ(th_load(&env, b, i, 0), th_stamp(i, 1));
		blocks[i] = th_fs_block_of(&env.fs, i);
	}
	CHECK_EQ(th_load(&env, p, 18, 0), th_stamp(18, 1));
	th_store(&env, p, 20, 0, th_stamp(20, 9));
	th_store(&env, p, 25, 0, th_stamp(25, 9));
	th_store(&env, p, 40, 0, th_stamp(40, 9));
	th_store(&env, p, 3, 0, th_stamp(3, 9));
	CHECK_EQ(th_load(&env, a, 50, 0), 0);
	CHECK_EQ(th_load(&env, b, 45, 0), 0);
	CHECK_EQ(p->ptes[40].kind, TH_PRIVATE);
	frees = th_cnt(&env.fs.frees);
	free_blocks = env.fs.free_blocks;

	CHECK_EQ(dax_truncate(&env.f, keep * DAX_PAGE_SIZE), 0);
	CHECK_EQ(atomic_load(&env.fs.size), keep * DAX_PAGE_SIZE);
	for (uint64_t i = keep; i < pages; i++) {
		CHECK_EQ(a->ptes[i].kind, TH_NONE);
		CHECK_EQ(b->ptes[i].kind, TH_NONE);
		CHECK_EQ(p->ptes[i].kind, TH_NONE);
		CHECK_EQ(th_fs_block_of(&env.fs, i), TH_HOLE);
	}
	CHECK_EQ(entries_in(&env, keep, UINT64_MAX), 0);
	CHECK_EQ(entries_in(&env, 0, keep - 1), keep);
	CHECK_EQ(th_cnt(&env.fs.frees), frees + 32 - keep);
	CHECK_EQ(env.fs.free_blocks, free_blocks + 32 - keep);
	th_check_quiescent(&env);

	/* Beyond EOF: SIGBUS through every region, reads and writes. */
	CHECK_EQ(th_access(&env, a, keep, 0, false, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(th_access(&env, a, 20, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(th_access(&env, b, 31, 0, false, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(th_access(&env, p, 20, 0, false, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(th_access(&env, p, 40, 0, true, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(entries_in(&env, keep, UINT64_MAX), 0);
	/* Below: untouched, mappings and data. */
	for (uint64_t i = 0; i < keep; i++) {
		CHECK_EQ(a->ptes[i].kind, TH_BLOCK);
		CHECK_EQ(a->ptes[i].block, blocks[i]);
		CHECK_EQ(th_load(&env, b, i, 511), th_stamp(i, 2));
	}
	CHECK_EQ(p->ptes[3].kind, TH_PRIVATE);
	CHECK_EQ(th_load(&env, p, 3, 0), th_stamp(3, 9));
	th_store(&env, a, keep - 1, 1, th_stamp(keep - 1, 3));
	CHECK_EQ(read_word(&env, keep - 1, 1), th_stamp(keep - 1, 3));

	/* Grow again: holes, and the private copies are gone for good. */
	CHECK_EQ(dax_truncate(&env.f, pages * DAX_PAGE_SIZE), 0);
	CHECK_EQ(th_load(&env, a, 20, 0), 0);
	CHECK_EQ(th_load(&env, p, 20, 0), 0);
	CHECK_EQ(th_load(&env, p, 40, 0), 0);
	CHECK_EQ(p->ptes[40].kind, TH_ZERO);
	CHECK_EQ(read_word(&env, 25, 0), 0);
	CHECK_EQ(read_word(&env, 31, 511), 0);

	/* To zero and back. */
	CHECK_EQ(dax_truncate(&env.f, 0), 0);
	CHECK_EQ(entries_in(&env, 0, UINT64_MAX), 0);
	CHECK_EQ(env.fs.free_blocks, 64);
	CHECK_EQ(th_access(&env, a, 0, 0, false, &v), DAX_FAULT_SIGBUS);
	CHECK_EQ(dax_truncate(&env.f, DAX_PAGE_SIZE), 0);
	CHECK_EQ(th_load(&env, a, 0, 0), 0);
	env_teardown(&env);
}

/* ---- partial pages ---- */

static void test_partial_page(void)
{
	struct th_env env;
	struct th_region *a;
	const uint64_t cut = 3 * DAX_PAGE_SIZE + 1000; /* word 125 of page 3 */
	unsigned long allocs;

	env_setup(&env, 64, 64);
	a = th_region_add(&env, true, false, false);
	fill_page(&env, a, 3);
	fill_page(&env, a, 4);

	CHECK_EQ(dax_truncate(&env.f, cut), 0);
	/* Page 3 is still in the file, still mapped; page 4 is not. */
	CHECK_EQ(a->ptes[3].kind, TH_BLOCK);
	CHECK_EQ(a->ptes[4].kind, TH_NONE);
	CHECK_EQ(th_fs_block_of(&env.fs, 4), TH_HOLE);
	CHECK_EQ(th_load(&env, a, 3, 124), wstamp(3, 124));
	CHECK_EQ(th_load(&env, a, 3, 125), 0);
	CHECK_EQ(th_load(&env, a, 3, 511), 0);
	CHECK_EQ(read_word(&env, 3, 124), wstamp(3, 124));
	/* A store beyond EOF, in the last page, through the mapping. */
	th_store(&env, a, 3, 300, th_stamp(3, 77));

	/* Growing must not bring back anything past the old EOF. */
	CHECK_EQ(dax_truncate(&env.f, 8 * DAX_PAGE_SIZE), 0);
	for (unsigned int w = 0; w < 512; w++) {
		uint64_t want = w < 125 ? wstamp(3, w) : 0;

		if (read_word(&env, 3, w) != want ||
		    th_load(&env, a, 3, w) != want) {
			fprintf(stderr, "page 3 word %u after regrow\n", w);
			CHECK(!"partial page not zeroed");
			break;
		}
	}
	CHECK_EQ(read_word(&env, 4, 0), 0);
	CHECK_EQ(th_load(&env, a, 4, 0), 0);

	/* A cut inside a hole page allocates nothing. */
	allocs = th_cnt(&env.fs.allocs);
	CHECK_EQ(dax_truncate(&env.f, 6 * DAX_PAGE_SIZE + 8), 0);
	CHECK_EQ(dax_truncate(&env.f, 8 * DAX_PAGE_SIZE), 0);
	CHECK_EQ(th_cnt(&env.fs.allocs), allocs);
	CHECK_EQ(read_word(&env, 6, 0), 0);
	env_teardown(&env);
}

/* ---- punch hole ---- */

static void test_punch(void)
{
	struct th_env env;
	struct th_region *a, *b;
	uint64_t size = 64 * DAX_PAGE_SIZE, blk3, blk8;
	unsigned long frees;

	env_setup(&env, 64, 64);
	a = th_region_add(&env, true, false, false);
	b = th_region_add(&env, true, false, false);
	for (uint64_t i = 0; i < 16; i++) {
		fill_page(&env, a, i);
		CHECK_EQ(th_load(&env, b, i, 7), wstamp(i, 7));
	}
	blk3 = th_fs_block_of(&env.fs, 3);
	blk8 = th_fs_block_of(&env.fs, 8);

	/* Whole pages 4..7. */
	frees = th_cnt(&env.fs.frees);
	CHECK_EQ(dax_punch_hole(&env.f, 4 * DAX_PAGE_SIZE, 4 * DAX_PAGE_SIZE),
		 0);
	CHECK_EQ(th_cnt(&env.fs.frees), frees + 4);
	CHECK_EQ(atomic_load(&env.fs.size), size);
	for (uint64_t i = 4; i < 8; i++) {
		CHECK_EQ(a->ptes[i].kind, TH_NONE);
		CHECK_EQ(b->ptes[i].kind, TH_NONE);
		CHECK_EQ(th_fs_block_of(&env.fs, i), TH_HOLE);
		CHECK_EQ(read_word(&env, i, 100), 0);
	}
	CHECK_EQ(entries_in(&env, 4, 7), 0);
	th_check_quiescent(&env);
	CHECK_EQ(th_load(&env, a, 5, 9), 0);
	CHECK_EQ(a->ptes[5].kind, TH_ZERO);
	CHECK_EQ(th_load(&env, b, 7, 511), 0);
	/* Neighbours untouched, still mapped. */
	CHECK_EQ(a->ptes[3].kind, TH_BLOCK);
	CHECK_EQ(a->ptes[3].block, blk3);
	CHECK_EQ(a->ptes[8].block, blk8);
	CHECK_EQ(th_load(&env, b, 3, 511), wstamp(3, 511));
	CHECK_EQ(th_load(&env, b, 8, 0), wstamp(8, 0));

	/* Inside one page: bytes [800, 1600) = words 100..199. */
	frees = th_cnt(&env.fs.frees);
	CHECK_EQ(dax_punch_hole(&env.f, 10 * DAX_PAGE_SIZE + 800, 800), 0);
	CHECK_EQ(th_cnt(&env.fs.frees), frees);
	CHECK_EQ(a->ptes[10].kind, TH_BLOCK);
	for (unsigned int w = 0; w < 512; w++) {
		uint64_t want = w >= 100 && w < 200 ? 0 : wstamp(10, w);

		if (th_load(&env, a, 10, w) != want ||
		    read_word(&env, 10, w) != want) {
			fprintf(stderr, "page 10 word %u after punch\n", w);
			CHECK(!"partial punch zeroed the wrong bytes");
			break;
		}
	}

	/* Across pages: tail of 11, all of 12, head of 13. */
	CHECK_EQ(dax_punch_hole(&env.f, 11 * DAX_PAGE_SIZE + 2048,
				2 * DAX_PAGE_SIZE - 1024),
		 0);
	CHECK_EQ(th_cnt(&env.fs.frees), frees + 1);
	CHECK_EQ(th_fs_block_of(&env.fs, 12), TH_HOLE);
	CHECK(th_fs_block_of(&env.fs, 11) != TH_HOLE);
	CHECK(th_fs_block_of(&env.fs, 13) != TH_HOLE);
	CHECK_EQ(b->ptes[12].kind, TH_NONE);
	CHECK_EQ(th_load(&env, b, 11, 255), wstamp(11, 255));
	CHECK_EQ(th_load(&env, b, 11, 256), 0);
	CHECK_EQ(th_load(&env, b, 11, 511), 0);
	CHECK_EQ(th_load(&env, b, 12, 0), 0);
	CHECK_EQ(th_load(&env, b, 13, 0), 0);
	CHECK_EQ(th_load(&env, b, 13, 127), 0);
	CHECK_EQ(th_load(&env, b, 13, 128), wstamp(13, 128));
	CHECK_EQ(read_word(&env, 13, 128), wstamp(13, 128));

	/* Past EOF: clipped to the file; nothing to do beyond it. */
	CHECK_EQ(dax_punch_hole(&env.f, 15 * DAX_PAGE_SIZE, 1ULL << 40), 0);
	CHECK_EQ(th_fs_block_of(&env.fs, 15), TH_HOLE);
	CHECK_EQ(atomic_load(&env.fs.size), size);
	CHECK_EQ(dax_punch_hole(&env.f, 100 * DAX_PAGE_SIZE, 10), 0);
	CHECK_EQ(dax_punch_hole(&env.f, 1, UINT64_MAX), -EINVAL);
	CHECK_EQ(th_load(&env, a, 14, 3), wstamp(14, 3));

	/* A punched page can be written again. */
	th_store(&env, a, 5, 0, th_stamp(5, 50));
	CHECK_EQ(read_word(&env, 5, 0), th_stamp(5, 50));
	CHECK_EQ(read_word(&env, 5, 1), 0);
	env_teardown(&env);
}

static void test_punch_pmd(void)
{
	struct th_env env;
	struct th_region *h, *c;
	const uint64_t pidx = DAX_PMD_NR;
	uint64_t blk;
	unsigned long frees, pmds;

	env_setup(&env, 4 * DAX_PMD_NR, 2 * DAX_PMD_NR);
	h = th_region_add(&env, true, false, true);
	c = th_region_add(&env, true, false, false);

	for (uint64_t i = 0; i < 32; i++)
		th_store(&env, h, pidx + i, 0, th_stamp(pidx + i, 1));
	blk = th_fs_block_of(&env.fs, pidx);
	CHECK_EQ(blk & (DAX_PMD_NR - 1), 0);
	CHECK(h->ptes[pidx].pmd && h->ptes[pidx + 511].pmd);
	CHECK_EQ(entries_in(&env, pidx, pidx + DAX_PMD_NR - 1), 1);
	CHECK_EQ(th_load(&env, c, pidx + 5, 0), th_stamp(pidx + 5, 1));
	frees = th_cnt(&env.fs.frees);
	pmds = DAX_FAULT_STAT(&env.f, pmd);

	CHECK_EQ(dax_punch_hole(&env.f, (pidx + 10) * DAX_PAGE_SIZE,
				10 * DAX_PAGE_SIZE),
		 0);
	CHECK_EQ(th_cnt(&env.fs.frees), frees + 10);
	CHECK_EQ(entries_in(&env, pidx, pidx + DAX_PMD_NR - 1), 0);
	for (uint64_t i = 0; i < DAX_PMD_NR; i++) {
		if (h->ptes[pidx + i].kind != TH_NONE ||
		    c->ptes[pidx + i].kind != TH_NONE) {
			fprintf(stderr, "page %llu still mapped\n",
				(unsigned long long)(pidx + i));
			CHECK(!"PMD range not unmapped");
			break;
		}
		if ((i >= 10 && i < 20) !=
		    (th_fs_block_of(&env.fs, pidx + i) == TH_HOLE))
			CHECK(!"wrong blocks freed");
	}
	th_check_quiescent(&env);

	/* The rest refaults as 4 KiB pages of the same blocks. */
	CHECK_EQ(th_load(&env, h, pidx + 5, 0), th_stamp(pidx + 5, 1));
	CHECK(!h->ptes[pidx + 5].pmd);
	CHECK_EQ(h->ptes[pidx + 5].block, blk + 5);
	CHECK_EQ(th_load(&env, h, pidx + 15, 0), 0);
	CHECK_EQ(h->ptes[pidx + 15].kind, TH_ZERO);
	CHECK_EQ(th_load(&env, h, pidx + 25, 0), th_stamp(pidx + 25, 1));
	CHECK_EQ(h->ptes[pidx + 25].block, blk + 25);
	th_store(&env, h, pidx + 300, 0, th_stamp(pidx + 300, 1));
	CHECK_EQ(h->ptes[pidx + 300].block, blk + 300);
	CHECK(!h->ptes[pidx + 300].pmd);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), pmds);
	CHECK_EQ(entries_in(&env, pidx, pidx + DAX_PMD_NR - 1), 4);

	/* Truncate through a huge zero page, too. */
	CHECK_EQ(th_load(&env, h, 7, 0), 0);
	CHECK(h->ptes[7].pmd);
	CHECK_EQ(dax_truncate(&env.f, 100 * DAX_PAGE_SIZE), 0);
	CHECK_EQ(h->ptes[7].kind, TH_NONE);
	CHECK_EQ(entries_in(&env, 0, UINT64_MAX), 0);
	CHECK_EQ(th_load(&env, h, 7, 0), 0);
	CHECK(!h->ptes[7].pmd);
	env_teardown(&env);
}

/* ---- truncate waits for writeback's entry lock ---- */

struct op_job {
	struct th_env *env;
	bool punch;
	atomic_bool done;
	int ret;
};

static void *writeback_thread(void *arg)
{
	struct op_job *j = arg;

	my_stops = 1U << DAX_HOOK_WB_CLEANED;
	j->ret = dax_writeback(&j->env->f, 0, UINT64_MAX);
	atomic_store(&j->done, true);
	return NULL;
}

static void *shrink_thread(void *arg)
{
	struct op_job *j = arg;

	if (j->punch)
		j->ret = dax_punch_hole(&j->env->f, 20 * DAX_PAGE_SIZE,
					DAX_PAGE_SIZE);
	else
		j->ret = dax_truncate(&j->env->f, 10 * DAX_PAGE_SIZE);
	atomic_store(&j->done, true);
	return NULL;
}

static void test_waits_for_writeback(bool punch)
{
	struct th_env env;
	struct th_region *a;
	struct op_job wb = { 0 }, tr = { .punch = punch };
	pthread_t wt, tt;
	unsigned long waits, frees;
	uint64_t blk;
	int kind;

	env_setup(&env, 64, 64);
	a = th_region_add(&env, true, false, false);
	th_store(&env, a, 20, 0, th_stamp(20, 1));
	blk = th_fs_block_of(&env.fs, 20);
	env.f.hook = hook;
	wb.env = tr.env = &env;

	/* Writeback stops with the entry locked, page write-protected. */
	REQUIRE(pthread_create(&wt, NULL, writeback_thread, &wb) == 0);
	gate_wait(DAX_HOOK_WB_CLEANED);

	waits = th_cnt(&env.f.m.stats.waits);
	frees = th_cnt(&env.fs.frees);
	REQUIRE(pthread_create(&tt, NULL, shrink_thread, &tr) == 0);
	/* It must go to sleep on the entry, not free the block. */
	for (double t0 = t_now(); th_cnt(&env.f.m.stats.waits) == waits &&
				  !atomic_load(&tr.done) && t_now() - t0 < 5;)
		usleep(200);
	CHECK(!atomic_load(&tr.done));
	CHECK_EQ(th_cnt(&env.f.m.stats.waits), waits + 1);
	CHECK_EQ(th_cnt(&env.fs.frees), frees);
	CHECK_EQ(th_fs_block_of(&env.fs, 20), blk);
	CHECK(th_entry_present(&env.f, 20));
	/* Unmapped already: the zap comes before the deletion. */
	pthread_mutex_lock(&env.vm.lock);
	kind = a->ptes[20].kind;
	pthread_mutex_unlock(&env.vm.lock);
	CHECK_EQ(kind, TH_NONE);

	gate_open();
	pthread_join(wt, NULL);
	pthread_join(tt, NULL);
	CHECK_EQ(wb.ret, 0);
	CHECK_EQ(tr.ret, 0);
	CHECK_EQ(th_cnt(&env.fs.frees), frees + 1);
	CHECK_EQ(th_fs_block_of(&env.fs, 20), TH_HOLE);
	CHECK(!th_entry_present(&env.f, 20));
	CHECK(!th_entry_dirty(&env.f, 20));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, writeback), 1);
	env.f.hook = NULL;
	CHECK_EQ(th_violations(), 0);
	env_teardown(&env);
}

/* ---- concurrency ---- */

#define C_PAGES (2 * DAX_PMD_NR)
#define C_MIN 256 /* never truncated below: no SIGBUS allowed there */
#define C_WORKERS 3

struct cstate {
	struct th_env env;
	struct th_region *regions[4];
	atomic_ulong gen; /* odd while a truncate runs */
	double until;
};

struct cworker {
	struct cstate *st;
	uint64_t seed;
	unsigned long ops, sigbus, errors, bad, stale;
	pthread_t thread;
};

static void *cworker_thread(void *arg)
{
	struct cworker *w = arg;
	struct cstate *st = w->st;
	struct t_rng rng;
	uint64_t n = 0;

	t_rng_init(&rng, w->seed);
	while (t_now() < st->until) {
		for (int k = 0; k < 64; k++) {
			struct th_region *r = st->regions[t_rand_below(&rng,
								       4)];
			uint64_t index = t_rand_below(&rng, C_PAGES);
			unsigned int word = (unsigned int)t_rand_below(&rng,
								       512);
			bool write = t_rand_below(&rng, 2);
			uint64_t v = write ? th_stamp(index, ++n) : 0;
			unsigned long g1, g2;
			uint64_t s1;
			bool stable;
			int ret;

			g1 = atomic_load(&st->gen);
			s1 = size_pages(&st->env);
			ret = th_access(&st->env, r, index, word, write, &v);
			g2 = atomic_load(&st->gen);
			stable = g1 == g2 && !(g1 & 1);
			w->ops++;
			if (ret == DAX_FAULT_SIGBUS) {
				w->sigbus++;
				if (index < C_MIN || (stable && index < s1))
					w->errors++;
			} else if (ret) {
				w->errors++;
			} else if (stable && index >= s1) {
				w->stale++; /* a mapping survived truncate */
			} else if (!write && !th_stamp_ok(index, v)) {
				w->bad++;
			}
		}
		if (t_rand_below(&rng, 8) == 0)
			dax_writeback(&st->env.f, 0, C_PAGES - 1);
	}
	return NULL;
}

static void test_concurrent(void)
{
	static struct cstate st;
	struct cworker w[C_WORKERS];
	double secs = t_long ? 10.0 : 1.5;
	unsigned long ops = 0, sigbus = 0, truncs = 0, punches = 0;
	struct t_rng rng;

	env_setup(&st.env, 2 * C_PAGES, C_PAGES);
	st.regions[0] = th_region_add(&st.env, true, false, false);
	st.regions[1] = th_region_add(&st.env, true, false, false);
	st.regions[2] = th_region_add(&st.env, true, false, true);
	st.regions[3] = th_region_add(&st.env, false, false, false);
	atomic_store(&st.gen, 0);
	st.until = t_now() + secs;
	t_rng_init(&rng, t_seed);

	for (int i = 0; i < C_WORKERS; i++) {
		w[i] = (struct cworker){ .st = &st, .seed = t_seed + 1 + i };
		REQUIRE(pthread_create(&w[i].thread, NULL, cworker_thread,
				       &w[i]) == 0);
	}
	/*
	 * Page-aligned sizes and ranges only: zeroing a partial page races
	 * with stores through mappings by design (as on real hardware),
	 * which ThreadSanitizer would rightly report.
	 */
	while (t_now() < st.until) {
		uint64_t r = t_rand_below(&rng, 3), pages;

		if (r == 0) {
			uint64_t first = t_rand_below(&rng, C_PAGES);
			uint64_t len = 1 + t_rand_below(&rng, DAX_PMD_NR);

			CHECK_EQ(dax_punch_hole(&st.env.f,
						first * DAX_PAGE_SIZE,
						len * DAX_PAGE_SIZE),
				 0);
			punches++;
		} else {
			pages = r == 1 ? C_MIN + t_rand_below(&rng,
							      C_PAGES - C_MIN)
				       : C_PAGES;
			atomic_fetch_add(&st.gen, 1);
			CHECK_EQ(dax_truncate(&st.env.f,
					      pages * DAX_PAGE_SIZE),
				 0);
			atomic_fetch_add(&st.gen, 1);
			truncs++;
		}
		usleep(500);
	}
	for (int i = 0; i < C_WORKERS; i++) {
		pthread_join(w[i].thread, NULL);
		ops += w[i].ops;
		sigbus += w[i].sigbus;
		CHECK_EQ(w[i].errors, 0);
		CHECK_EQ(w[i].bad, 0);
		CHECK_EQ(w[i].stale, 0);
	}
	printf("concurrent: %lu accesses (%lu SIGBUS), %lu truncates, %lu "
	       "punches, %lu frees, %lu PMD maps\n",
	       ops, sigbus, truncs, punches, th_cnt(&st.env.fs.frees),
	       DAX_FAULT_STAT(&st.env.f, pmd));
	CHECK(sigbus > 0);
	CHECK(th_cnt(&st.env.fs.frees) > 0);
	CHECK_EQ(th_violations(), 0);
	env_teardown(&st.env);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(t_long ? 120 : 60);
	test_shrink();
	test_partial_page();
	test_punch();
	test_punch_pmd();
	test_waits_for_writeback(false);
	test_waits_for_writeback(true);
	test_concurrent();
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_truncate");
}
