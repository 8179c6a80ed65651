/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_wb_mkwrite - writeback racing stores through shared mappings: a
 * page written after its flush must never be left with a clean entry (the
 * second problem of the seed's commit message, "no race-free way to clear
 * dirty tag").
 *
 * The device here remembers what each flush made durable (a shadow copy
 * per block), so "written after its last flush" is simply "device and
 * shadow differ", and the invariant checked is: such a page is DIRTY.
 *
 * Part 1, the engine, forced: a stamp is stored through a shared mapping
 *   (DIRTY, writable); dax_writeback() is stopped at WB_CLEANED (page
 *   write-protected, not flushed) and then at WB_FLUSHED (flushed, DIRTY
 *   still set). A store starting at either point faults into mkwrite (or
 *   a write fault in a region that had no mapping) and must sleep on the
 *   entry lock until writeback has cleared DIRTY and unlocked; then it
 *   tags DIRTY again and the page is writable. A second writeback flushes
 *   it (one more device flush). Catches mkwrite or a write fault that does
 *   not take the entry lock, and writeback clearing DIRTY without it.
 * Part 2, the bug orders, by hand in the test (never in the library):
 *   2a writeback that clears DIRTY before write-protecting: a store in
 *      between goes through the still-writable mapping, and the page ends
 *      clean, read-only and not durable; the next writeback skips it;
 *   2b mkwrite without the entry lock while writeback has flushed but not
 *      yet cleared DIRTY: writeback then clears the fresh DIRTY, leaving a
 *      writable page with a clean entry.
 *   Both are reported by the checks parts 1 and 3 rely on.
 * Part 3, random: writer threads store to random pages through 4 KiB and
 *   2 MiB shared regions while a thread calls dax_writeback() on random
 *   ranges, with random delays at the hook points. At quiescence every
 *   page that differs from its durable copy is DIRTY; after a final store
 *   to every page all are DIRTY; after a last writeback all are durable,
 *   clean and write-protected.
 */
#include "test_util.h"

#include <sched.h>
#include <stdatomic.h>

#include "fault_harness.h"
#include "fault_test.h"

#define NR_PAGES 1024

#include "hook_gate.h"

#include "shadow_dev.h"

/* Shared regions (@huge[i] for each), the file full, the shadow device. */
static void env_setup(struct th_env *env, struct shadow_dev *sd,
		      const bool *huge, int nr_regions)
{
	th_env_setup_shared(env, NR_PAGES, huge, nr_regions, hook);
	shadow_dev_attach(sd, env, NR_PAGES);
}

/* Store @v in word 0 of page @index through @r. */
static void store(struct th_env *env, struct th_region *r, uint64_t index,
		  uint64_t v)
{
	th_store(env, r, index, 0, v);
}

static uint64_t dev_word(struct th_env *env, uint64_t index)
{
	uint64_t b = th_fs_block_of(&env->fs, index);

	return *(uint64_t *)th_dev_ops.addr(&env->fs, b);
}

/* ---- the threads ---- */

struct job {
	pthread_t thread;
	struct th_env *env;
	struct th_region *r; /* store: through this region */
	uint64_t index;	     /* store: page; writeback: first page */
	uint64_t arg;	     /* store: value; writeback: last page */
	bool writeback;
	unsigned int stops;
	long ret;
	atomic_bool done;
};

static void *job_main(void *arg)
{
	struct job *j = arg;

	my_stops = j->stops;
	if (j->writeback)
		j->ret = dax_writeback(&j->env->f, j->index, j->arg);
	else
		j->ret = th_access(j->env, j->r, j->index, 0, true, &j->arg);
	atomic_store(&j->done, true);
	return NULL;
}

static void job_run(struct job *j)
{
	atomic_store(&j->done, false);
	REQUIRE(pthread_create(&j->thread, NULL, job_main, j) == 0);
}

/* ---- part 1: the engine, with the store at a chosen point ---- */

/*
 * @at: where writeback is stopped when the store starts. @other: store
 * through a second region that has the page mapped read-only (mkwrite
 * there), or, with @other > 1, not mapped at all (a write fault).
 */
static void part1_engine(enum dax_hook_point at, int other)
{
	const bool huge[2] = { false, false };
	const uint64_t p = 11;
	struct shadow_dev sd;
	struct th_env env;
	struct th_region *rw, *rs;
	struct job wb = { 0 }, st = { 0 };
	unsigned long waits, flushes, mkwrites;
	uint64_t v;

	env_setup(&env, &sd, huge, 2);
	rw = &env.vm.regions[0];
	rs = other ? &env.vm.regions[1] : rw;
	store(&env, rw, p, th_stamp(p, 1));
	if (other == 1)
		CHECK_EQ(th_access(&env, rs, p, 0, false, &v), 0);
	CHECK(th_entry_dirty(&env.f, p));
	CHECK(rw->ptes[p].writable);
	CHECK(not_durable(&env, &sd, p));
	flushes = atomic_load(&env.fs.flushes);
	mkwrites = DAX_FAULT_STAT(&env.f, mkwrite);

	wb.env = st.env = &env;
	wb.writeback = true;
	wb.index = wb.arg = p;
	wb.stops = 1U << DAX_HOOK_WB_CLEANED | 1U << DAX_HOOK_WB_FLUSHED;
	st.r = rs;
	st.index = p;
	st.arg = th_stamp(p, 2);
	job_run(&wb);
	gate_wait(DAX_HOOK_WB_CLEANED);
	/* Write-protected everywhere, not flushed, still DIRTY. */
	CHECK(!rw->ptes[p].writable);
	CHECK(!rs->ptes[p].writable);
	CHECK(th_entry_dirty(&env.f, p));
	CHECK_EQ(atomic_load(&env.fs.flushes), flushes);

	waits = atomic_load(&env.f.m.stats.waits);
	if (at == DAX_HOOK_WB_CLEANED) {
		job_run(&st);
		wait_sleepers(&env, waits + 1);
	}
	gate_open();
	gate_wait(DAX_HOOK_WB_FLUSHED);
	CHECK_EQ(atomic_load(&env.fs.flushes), flushes + 1);
	CHECK(!not_durable(&env, &sd, p));
	CHECK(th_entry_dirty(&env.f, p));
	if (at == DAX_HOOK_WB_FLUSHED) {
		job_run(&st);
		wait_sleepers(&env, waits + 1);
	}
	/* The store sleeps on the entry: nothing written, nothing tagged. */
	CHECK(!atomic_load(&st.done));
	CHECK_EQ(dev_word(&env, p), th_stamp(p, 1));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, mkwrite), mkwrites);

	gate_open();
	pthread_join(wb.thread, NULL);
	pthread_join(st.thread, NULL);
	CHECK_EQ(st.ret, 0);
	/* Written after the flush, so DIRTY, and writable again. */
	CHECK_EQ(dev_word(&env, p), th_stamp(p, 2));
	CHECK(not_durable(&env, &sd, p));
	CHECK(th_entry_dirty(&env.f, p));
	CHECK(rs->ptes[p].writable);
	if (other <= 1)
		CHECK_EQ(DAX_FAULT_STAT(&env.f, mkwrite), mkwrites + 1);
	th_check_quiescent(&env);

	/* The next writeback flushes it. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(atomic_load(&env.fs.flushes), flushes + 2);
	CHECK(!not_durable(&env, &sd, p));
	CHECK(!th_entry_dirty(&env.f, p));
	CHECK(!rs->ptes[p].writable && !rw->ptes[p].writable);
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 1: store at %s through %s slept on the entry, re-tagged "
	       "DIRTY, flushed by the next writeback\n",
	       at == DAX_HOOK_WB_CLEANED ? "WB_CLEANED" : "WB_FLUSHED",
	       other == 0   ? "the same region (mkwrite)"
	       : other == 1 ? "a read-only region (mkwrite)"
			    : "an unmapped region (write fault)");
	shadow_env_teardown(&env, &sd);
}

/* ---- part 2: the bug orders, by hand ---- */

/*
 * The start of a part 2 (@part names it): one 4 KiB region, page @p
 * stored (stamp 1), the harness's violations counted so far returned.
 */
static int part2_start(const char *part, struct th_env *env,
		       struct shadow_dev *sd, uint64_t p)
{
	static const bool huge[1] = { false };

	printf("part %s: INVARIANT VIOLATION lines below are expected\n",
	       part);
	fflush(stdout);
	env_setup(env, sd, huge, 1);
	store(env, &env->vm.regions[0], p, th_stamp(p, 1));
	return th_violations();
}

/* 2a: flush, clear DIRTY, (store), write-protect. */
static void part2a_clear_before_protect(void)
{
	const uint64_t p = 12;
	DAX_CURSOR(cur, p, NULL, 0);
	struct shadow_dev sd;
	struct th_env env;
	struct th_region *r;
	unsigned long flushes;
	dax_entry_t e;
	int before;

	before = part2_start("2a", &env, &sd, p);
	r = &env.vm.regions[0];
	cur.idx = &env.f.m.idx;

	REQUIRE(dax_entry_grab(&env.f.m, &cur, DAX_GRAB_EXISTING, &e) == 0);
	sdev_ops.flush(&sd, dax_entry_block(e), 1);
	dax_entry_tag_clear(&env.f.m, &cur, DAX_TAG_DIRTY);
	dax_entry_unlock(&env.f.m, &cur);
	/* The store needs no fault: the mapping is still writable. */
	store(&env, r, p, th_stamp(p, 2));
	CHECK_EQ(th_vm_ops.mkclean(&env.vm, p, p), 0);

	CHECK(th_violations() > before); /* the harness saw the store */
	CHECK(not_durable(&env, &sd, p));
	CHECK(!th_entry_dirty(&env.f, p));
	/* And writeback never flushes it. */
	flushes = atomic_load(&env.fs.flushes);
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(atomic_load(&env.fs.flushes), flushes);
	CHECK(not_durable(&env, &sd, p));
	printf("part 2a: clearing DIRTY before write-protecting lost a store: "
	       "page clean, not durable, skipped by writeback\n");
	atomic_store(&th_violation_count, before);
	shadow_env_teardown(&env, &sd);
}

/* 2b: an mkwrite that does not take the entry lock. */
static void part2b_unlocked_mkwrite(void)
{
	const uint64_t p = 13;
	DAX_CURSOR(cur, p, NULL, 0);
	struct shadow_dev sd;
	struct th_env env;
	struct th_region *r;
	struct job wb = { 0 };
	int before;

	before = part2_start("2b", &env, &sd, p);
	r = &env.vm.regions[0];
	cur.idx = &env.f.m.idx;

	wb.env = &env;
	wb.writeback = true;
	wb.index = wb.arg = p;
	wb.stops = 1U << DAX_HOOK_WB_FLUSHED;
	job_run(&wb);
	gate_wait(DAX_HOOK_WB_FLUSHED);
	/* Tag and make writable under the index lock only, then store. */
	pthread_mutex_lock(&env.f.m.idx.lock);
	dax_idx_load(&cur);
	dax_idx_tag_set(&cur, DAX_TAG_DIRTY);
	pthread_mutex_unlock(&env.f.m.idx.lock);
	CHECK_EQ(th_vm_ops.mkwrite(&env.vm, r, p, 0), 0);
	store(&env, r, p, th_stamp(p, 2));
	gate_open();
	pthread_join(wb.thread, NULL);

	th_check_quiescent(&env); /* writable page, clean entry */
	CHECK(th_violations() > before);
	CHECK(r->ptes[p].writable);
	CHECK(!th_entry_dirty(&env.f, p));
	CHECK(not_durable(&env, &sd, p));
	printf("part 2b: mkwrite without the entry lock: writeback cleared "
	       "its DIRTY, page writable and not durable\n");
	atomic_store(&th_violation_count, before);
	shadow_env_teardown(&env, &sd);
}

/* ---- part 3: random ---- */

#define NR_WRITERS 3
#define WINDOW 24 /* pages in each of the two windows the writers use */

static uint64_t window_page(struct t_rng *rng)
{
	uint64_t i = t_rand_below(rng, 2 * WINDOW);

	return i < WINDOW ? i : 512 + (i - WINDOW);
}

static void *writer(void *arg)
{
	struct wb_racer *x = arg;
	struct th_env *env = x->env;

	t_rng_init(&my_rng, x->seed);
	my_jitter = true;
	for (long n = 1; n <= x->ops; n++) {
		struct th_region *r =
			&env->vm.regions[t_rand_below(&my_rng,
						      env->vm.nr_regions)];

		wb_racer_access(x, r, window_page(&my_rng), n);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	struct wb_racer *x = arg;

	t_rng_init(&my_rng, x->seed);
	my_jitter = true;
	while (!atomic_load(x->stop)) {
		uint64_t a = window_page(&my_rng), b = window_page(&my_rng);

		if (t_rand_below(&my_rng, 4) == 0)
			dax_writeback(&x->env->f, 0, NR_PAGES - 1);
		else
			dax_writeback(&x->env->f, a < b ? a : b, a < b ? b : a);
		x->ops++;
		usleep(100 + (useconds_t)t_rand_below(&my_rng, 400));
	}
	return NULL;
}

static void part3_random(struct t_rng *rng)
{
	const bool huge[3] = { false, false, true };
	int rounds = t_long ? 100 : 12, bad = 0;
	unsigned long wbs = 0;
	struct shadow_dev sd;
	struct th_env env;

	env_setup(&env, &sd, huge, 3);
	for (int round = 0; round < rounds && !bad; round++) {
		bad += wb_race_round(&env, rng, NR_WRITERS,
				     t_long ? 20000 : 2000, writer, flusher,
				     &wbs);
		bad += shadow_dirty_check(&env, &sd, NR_PAGES);
		th_check_quiescent(&env);
		bad += th_violations();
	}
	CHECK_EQ(bad, 0);

	/* A last store to every page: all DIRTY. */
	for (uint64_t i = 0; i < 2 * WINDOW; i++) {
		uint64_t p = i < WINDOW ? i : 512 + (i - WINDOW);

		store(&env, &env.vm.regions[t_rand_below(rng, 3)], p,
		      th_stamp(p, 0x7fffffff));
		CHECK(th_entry_dirty(&env.f, p));
	}
	/* A last writeback: all durable, clean, write-protected. */
	shadow_final_writeback(&env, &sd, NR_PAGES);
	printf("part 3: %d rounds, %lu writebacks, %lu entries written back, "
	       "%lu mkwrites, %lu PMD faults, %lu waits\n",
	       rounds, wbs, DAX_FAULT_STAT(&env.f, writeback),
	       DAX_FAULT_STAT(&env.f, mkwrite),
	       DAX_FAULT_STAT(&env.f, pmd),
	       atomic_load(&env.f.m.stats.waits));
	shadow_env_teardown(&env, &sd);
}

int main(int argc, char **argv)
{
	struct t_rng rng;

	t_init(argc, argv);
	t_watchdog(t_long ? 600 : 60);
	t_rng_init(&rng, t_seed);

	part1_engine(DAX_HOOK_WB_CLEANED, 0);
	part1_engine(DAX_HOOK_WB_FLUSHED, 0);
	part1_engine(DAX_HOOK_WB_CLEANED, 1);
	part1_engine(DAX_HOOK_WB_FLUSHED, 2);
	part2a_clear_before_protect();
	part2b_unlocked_mkwrite();
	part3_random(&rng);

	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_wb_mkwrite");
}
