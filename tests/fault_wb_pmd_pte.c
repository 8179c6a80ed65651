/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_wb_pmd_pte - writeback of a 2 MiB entry mapped both as one PMD
 * (region A, huge) and as 4 KiB pages (region B) at the same time.
 *
 * One PMD entry stands for 512 pages. Writeback must treat it as one: it
 * write-protects all 512 pages in every region, the 2 MiB mapping of A
 * and each 4 KiB mapping of B alike, flushes the 512 blocks once, and
 * only then clears DIRTY; a store through either region afterwards must
 * fault (mkwrite of the PMD in A, of one page in B) and tag the entry
 * DIRTY again. Writeback of any sub-range of the entry writes back the
 * whole entry.
 *
 * The device remembers what each flush made durable (a shadow copy per
 * block): a page written after its last flush differs from its shadow,
 * and must then be DIRTY.
 *
 * Part 1 walks through it step by step, checking the recording VM, the
 *   flush count and the tags after each step, for writebacks of the whole
 *   file and of sub-ranges (one page inside, the last page, a range
 *   straddling the entry's end, the first page). Catches a writeback that
 *   write-protects only the PMD mapping or only the faulting region's
 *   pages, flushes a sub-range of the entry, flushes it more than once,
 *   or an mkwrite that makes a PMD mapping writable without tagging.
 * Part 2 does what a writeback treating the entry as the 4 KiB page it
 *   was asked for would do (by hand, in the test): write-protect and flush
 *   that page, clear DIRTY. Stores through A and B elsewhere in the entry
 *   then go through unseen and are lost: the checks of part 1 report it.
 * Part 3 forces the race: writeback stopped at WB_CLEANED holding the PMD
 *   entry, stores through A and B both sleep on it, and both complete
 *   with the entry DIRTY again once writeback is done.
 * Part 4, random: stores through A and B to random pages of two PMD
 *   entries against writebacks of random sub-ranges; at quiescence every
 *   page written after its flush is DIRTY, and a last writeback leaves all
 *   durable, clean and write-protected.
 */
#include "test_util.h"

#include <sched.h>
#include <stdatomic.h>

#include "fault_harness.h"
#include "fault_test.h"

#define NR_PAGES 1024 /* two PMD entries */

#include "hook_gate.h"

#include "shadow_dev.h"

/* Region A (huge) and region B (4 KiB), shared, over the same file. */
static void env_setup(struct th_env *env, struct shadow_dev *sd,
		      struct th_region **a, struct th_region **b)
{
	static const bool huge[] = {true, false};

	th_env_setup_shared(env, NR_PAGES, huge, 2, hook);
	*a = &env->vm.regions[0];
	*b = &env->vm.regions[1];
	shadow_dev_attach(sd, env, NR_PAGES);
}

/* Word 1 of page @index through @r, stored and loaded. */
static void store(struct th_env *env, struct th_region *r, uint64_t index,
		  uint64_t v)
{
	th_store(env, r, index, 1, v);
}

static uint64_t load(struct th_env *env, struct th_region *r, uint64_t index)
{
	return th_load(env, r, index, 1);
}

/* How many of pages [first, first + nr) are writable in @r. */
static int nr_writable(struct th_region *r, uint64_t first, uint64_t nr)
{
	int n = 0;

	for (uint64_t p = first; p < first + nr; p++)
		n += r->ptes[p].writable;
	return n;
}

/* A still maps 0..511 with one 2 MiB mapping of the entry's blocks. */
static bool a_is_pmd(struct th_env *env, struct th_region *a)
{
	uint64_t b = th_fs_block_of(&env->fs, 0);

	for (uint64_t p = 0; p < DAX_PMD_NR; p++)
		if (a->ptes[p].kind != TH_BLOCK || !a->ptes[p].pmd ||
		    a->ptes[p].block != b + p)
			return false;
	return true;
}

static int nr_not_durable(struct th_env *env, struct shadow_dev *sd)
{
	int n = 0;

	for (uint64_t p = 0; p < NR_PAGES; p++)
		n += not_durable(env, sd, p);
	return n;
}

/* Pages of B faulted in; all inside the PMD entry. */
static const uint64_t b_pages[] = { 3, 5, 300, 511 };
#define NR_B (sizeof(b_pages) / sizeof(b_pages[0]))

/*
 * Fault the first extent in: written through A, so that one PMD entry
 * covers pages 0..511, mapped 2 MiB in A; then pages b_pages written
 * through B, as 4 KiB pieces of the same entry.
 */
static void map_both(struct th_env *env, struct th_region *a,
		     struct th_region *b)
{
	store(env, a, 3, th_stamp(3, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env->f, pmd), 1);
	CHECK(a_is_pmd(env, a));
	CHECK_EQ(nr_writable(a, 0, DAX_PMD_NR), (int)DAX_PMD_NR);
	for (unsigned int i = 0; i < NR_B; i++) {
		uint64_t p = b_pages[i];

		store(env, b, p, th_stamp(p, 1));
		CHECK_EQ(b->ptes[p].kind, TH_BLOCK);
		CHECK(!b->ptes[p].pmd && b->ptes[p].writable);
	}
	/* One entry: both regions see each other's stores. */
	CHECK_EQ(load(env, b, 3), th_stamp(3, 1));
	CHECK_EQ(load(env, a, 300), th_stamp(300, 1));
	CHECK(th_entry_dirty(&env->f, 0) && th_entry_dirty(&env->f, 511));
}

/*
 * After a writeback of the entry: flushed once (512 blocks), clean, A
 * still one PMD mapping but read-only, B's pages read-only, all durable.
 */
static void check_written_back(struct th_env *env, struct shadow_dev *sd,
			       struct th_region *a, struct th_region *b,
			       unsigned long flushes, unsigned long wbs)
{
	CHECK_EQ(atomic_load(&env->fs.flushes), flushes + DAX_PMD_NR);
	CHECK_EQ(DAX_FAULT_STAT(&env->f, writeback), wbs + 1);
	CHECK(!th_entry_dirty(&env->f, 0));
	CHECK(a_is_pmd(env, a));
	CHECK_EQ(nr_writable(a, 0, DAX_PMD_NR), 0);
	CHECK_EQ(nr_writable(b, 0, DAX_PMD_NR), 0);
	for (unsigned int i = 0; i < NR_B; i++)
		CHECK_EQ(b->ptes[b_pages[i]].kind, TH_BLOCK);
	CHECK_EQ(nr_not_durable(env, sd), 0);
}

/* ---- part 1 ---- */

static void part1_steps(void)
{
	/* Writeback ranges: all, inside, last page, straddling, first. */
	static const uint64_t ranges[][2] = {
		{ 0, NR_PAGES - 1 }, { 100, 100 }, { 511, 511 },
		{ 400, 700 },	     { 0, 0 },	   { 200, 300 },
	};
	struct shadow_dev sd;
	struct th_env env;
	struct th_region *a, *b;

	env_setup(&env, &sd, &a, &b);
	map_both(&env, a, b);
	for (unsigned int i = 0; i < ARRAY_SIZE(ranges); i++) {
		unsigned long flushes = atomic_load(&env.fs.flushes);
		unsigned long wbs = DAX_FAULT_STAT(&env.f, writeback);
		unsigned long mkw = DAX_FAULT_STAT(&env.f, mkwrite);
		/* Alternate the region the next store goes through. */
		bool via_a = i % 2 == 0;
		uint64_t p = via_a ? 17 + i : b_pages[i % NR_B];

		CHECK_EQ(dax_writeback(&env.f, ranges[i][0], ranges[i][1]),
			 0);
		check_written_back(&env, &sd, a, b, flushes, wbs);

		/* Nothing dirty: a writeback now flushes nothing. */
		CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
		CHECK_EQ(atomic_load(&env.fs.flushes), flushes + DAX_PMD_NR);

		/* A store through A or B is caught by mkwrite. */
		store(&env, via_a ? a : b, p, th_stamp(p, 2 + i));
		CHECK_EQ(DAX_FAULT_STAT(&env.f, mkwrite), mkw + 1);
		CHECK(th_entry_dirty(&env.f, 0));
		CHECK(th_entry_dirty(&env.f, 511));
		CHECK(not_durable(&env, &sd, p));
		if (via_a) {
			/* The whole PMD mapping is writable; B is not. */
			CHECK(a_is_pmd(&env, a));
			CHECK_EQ(nr_writable(a, 0, DAX_PMD_NR),
				 (int)DAX_PMD_NR);
			CHECK_EQ(nr_writable(b, 0, DAX_PMD_NR), 0);
		} else {
			/* That page of B only. */
			CHECK_EQ(nr_writable(a, 0, DAX_PMD_NR), 0);
			CHECK_EQ(nr_writable(b, 0, DAX_PMD_NR), 1);
			CHECK(b->ptes[p].writable);
		}
		CHECK_EQ(load(&env, via_a ? b : a, p), th_stamp(p, 2 + i));
		th_check_quiescent(&env);
		printf("part 1: writeback of [%llu, %llu] wrote back the whole "
		       "PMD entry; a store through %s was caught\n",
		       (unsigned long long)ranges[i][0],
		       (unsigned long long)ranges[i][1], via_a ? "A" : "B");
	}
	/* The second PMD extent, never written, was never flushed. */
	CHECK_EQ(atomic_load(&env.fs.flushes),
		 ARRAY_SIZE(ranges) * DAX_PMD_NR);
	CHECK_EQ(th_violations(), 0);
	shadow_env_teardown(&env, &sd);
}

/* ---- part 2: writeback of one 4 KiB piece, by hand ---- */

static void part2_piecewise(void)
{
	const uint64_t p = 100;
	DAX_CURSOR(cur, p, NULL, 0);
	struct shadow_dev sd;
	struct th_env env;
	struct th_region *a, *b;
	dax_entry_t e;
	int before;

	printf("part 2: INVARIANT VIOLATION lines below are expected\n");
	fflush(stdout);
	env_setup(&env, &sd, &a, &b);
	cur.idx = &env.f.m.idx;
	map_both(&env, a, b);
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	store(&env, a, 17, th_stamp(17, 2)); /* A writable again */
	store(&env, b, 5, th_stamp(5, 2));   /* and B's page 5 */
	before = th_violations();

	/* Write back page 100 as if it were a 4 KiB entry. */
	REQUIRE(dax_entry_grab(&env.f.m, &cur, DAX_GRAB_EXISTING, &e) == 0);
	CHECK(dax_entry_is_pmd(e));
	CHECK_EQ(th_vm_ops.mkclean(&env.vm, p, p), 0);
	sdev_ops.flush(&sd, dax_entry_block(e) + p, 1);
	dax_entry_tag_clear(&env.f.m, &cur, DAX_TAG_DIRTY);
	dax_entry_unlock(&env.f.m, &cur);

	/* A and B are still writable elsewhere: stores go through unseen. */
	store(&env, a, 17, th_stamp(17, 3));
	store(&env, b, 5, th_stamp(5, 3));
	CHECK(th_violations() > before);
	th_check_quiescent(&env);
	CHECK(!th_entry_dirty(&env.f, 17));
	CHECK(not_durable(&env, &sd, 17) && not_durable(&env, &sd, 5));
	printf("part 2: writing back only the page asked for lost stores "
	       "through A and B (%d violations)\n",
	       th_violations() - before);
	atomic_store(&th_violation_count, before);
	shadow_env_teardown(&env, &sd);
}

/* ---- part 3: stores through both regions against a writeback ---- */

struct job {
	pthread_t thread;
	struct th_env *env;
	struct th_region *r; /* store: through this region */
	uint64_t index, value;
	bool writeback; /* else a store */
	unsigned int stops;
	long ret;
};

static void *job_main(void *arg)
{
	struct job *j = arg;

	my_stops = j->stops;
	if (j->writeback)
		j->ret = dax_writeback(&j->env->f, j->index, j->index);
	else
		j->ret = th_access(j->env, j->r, j->index, 1, true, &j->value);
	return NULL;
}

static void part3_forced(void)
{
	struct shadow_dev sd;
	struct th_env env;
	struct th_region *a, *b;
	struct job wb = { 0 }, sa = { 0 }, sb = { 0 };
	unsigned long waits, flushes;

	env_setup(&env, &sd, &a, &b);
	map_both(&env, a, b);
	flushes = atomic_load(&env.fs.flushes);

	/* Writeback of a page inside the entry, stopped holding it. */
	wb.env = sa.env = sb.env = &env;
	wb.writeback = true;
	wb.index = 250;
	wb.stops = 1U << DAX_HOOK_WB_CLEANED;
	REQUIRE(pthread_create(&wb.thread, NULL, job_main, &wb) == 0);
	gate_wait(DAX_HOOK_WB_CLEANED);
	CHECK_EQ(nr_writable(a, 0, DAX_PMD_NR), 0);
	CHECK_EQ(nr_writable(b, 0, DAX_PMD_NR), 0);

	waits = atomic_load(&env.f.m.stats.waits);
	sa.r = a;
	sa.index = 40;
	sa.value = th_stamp(40, 9);
	sb.r = b;
	sb.index = 300;
	sb.value = th_stamp(300, 9);
	REQUIRE(pthread_create(&sa.thread, NULL, job_main, &sa) == 0);
	wait_sleepers(&env, waits + 1);
	REQUIRE(pthread_create(&sb.thread, NULL, job_main, &sb) == 0);
	wait_sleepers(&env, waits + 2);
	gate_open();
	pthread_join(wb.thread, NULL);
	pthread_join(sa.thread, NULL);
	pthread_join(sb.thread, NULL);
	CHECK_EQ(sa.ret, 0);
	CHECK_EQ(sb.ret, 0);

	CHECK_EQ(atomic_load(&env.fs.flushes), flushes + DAX_PMD_NR);
	CHECK(th_entry_dirty(&env.f, 0));
	CHECK(a_is_pmd(&env, a));
	CHECK_EQ(nr_writable(a, 0, DAX_PMD_NR), (int)DAX_PMD_NR);
	CHECK(b->ptes[300].writable);
	CHECK(not_durable(&env, &sd, 40) && not_durable(&env, &sd, 300));
	th_check_quiescent(&env);
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(nr_not_durable(&env, &sd), 0);
	CHECK_EQ(nr_writable(a, 0, DAX_PMD_NR), 0);
	CHECK_EQ(nr_writable(b, 0, DAX_PMD_NR), 0);
	CHECK_EQ(th_violations(), 0);
	printf("part 3: stores through A (PMD) and B (4 KiB) slept on the "
	       "entry writeback held, then re-dirtied it\n");
	shadow_env_teardown(&env, &sd);
}

/* ---- part 4: random ---- */

#define NR_WRITERS 3

static void *writer(void *arg)
{
	struct wb_racer *x = arg;

	t_rng_init(&my_rng, x->seed);
	my_jitter = true;
	for (long n = 1; n <= x->ops; n++) {
		/* Region A or B (env_setup's first and second). */
		struct th_region *r =
			&x->env->vm.regions[t_rand_below(&my_rng, 2) ? 0 : 1];

		wb_racer_access(x, r, t_rand_below(&my_rng, NR_PAGES), n);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	struct wb_racer *x = arg;

	t_rng_init(&my_rng, x->seed);
	my_jitter = true;
	while (!atomic_load(x->stop)) {
		uint64_t first = t_rand_below(&my_rng, NR_PAGES);
		uint64_t n = 1 + t_rand_below(&my_rng, 64);

		dax_writeback(&x->env->f, first,
			      first + n < NR_PAGES ? first + n : NR_PAGES - 1);
		x->ops++;
		/* Each flush of an entry copies 2 MiB to the shadow. */
		usleep(200 + (useconds_t)t_rand_below(&my_rng, 600));
	}
	return NULL;
}

static void part4_random(struct t_rng *rng)
{
	int rounds = t_long ? 60 : 6, bad = 0;
	unsigned long wbs = 0;
	struct shadow_dev sd;
	struct th_env env;
	struct th_region *a, *b;

	env_setup(&env, &sd, &a, &b);
	/* Both extents start as one PMD entry each, mapped 2 MiB in A. */
	store(&env, a, 0, th_stamp(0, 1));
	store(&env, a, 512, th_stamp(512, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, pmd), 2);
	for (int round = 0; round < rounds && !bad; round++) {
		bad += wb_race_round(&env, rng, NR_WRITERS,
				     t_long ? 20000 : 2000, writer, flusher,
				     &wbs);
		bad += shadow_dirty_check(&env, &sd, NR_PAGES);
		th_check_quiescent(&env);
		bad += th_violations();
	}
	CHECK_EQ(bad, 0);
	/* Nothing split the 2 MiB mappings or the entries. */
	CHECK(a_is_pmd(&env, a));
	CHECK(dax_entry_is_pmd(th_peek(&env, 0)));
	CHECK(dax_entry_is_pmd(th_peek(&env, 700)));
	/* A last writeback: all durable, clean, write-protected. */
	shadow_final_writeback(&env, &sd, NR_PAGES);
	printf("part 4: %d rounds, %lu writebacks, %lu entries written back, "
	       "%lu mkwrites, %lu waits\n",
	       rounds, wbs, DAX_FAULT_STAT(&env.f, writeback),
	       DAX_FAULT_STAT(&env.f, mkwrite),
	       atomic_load(&env.f.m.stats.waits));
	shadow_env_teardown(&env, &sd);
}

int main(int argc, char **argv)
{
	struct t_rng rng;

	t_init(argc, argv);
	t_watchdog(t_long ? 600 : 60);
	t_rng_init(&rng, t_seed);

	part1_steps();
	part2_piecewise();
	part3_forced();
	part4_random(&rng);

	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_wb_pmd_pte");
}
