/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_rw_hole - write(2) racing a read fault on a hole, with 4 KiB and
 * 2 MiB mappings.
 *
 * A read fault on a hole maps the zero page (a ZERO entry). A write(2)
 * that allocates blocks there must take that zero page away from every
 * region before its data can be read, or some region keeps showing zeros
 * over written data. dax_write() locks every entry of the newly allocated
 * range, zaps zero pages and deletes those entries; the entry lock orders
 * this against a fault that is in the middle of mapping the hole.
 *
 * Part 1 forces the fault first: it is stopped at FAULT_MAPPED, having
 *   been told "hole" and holding the entry. The write allocates and must
 *   then sleep on that entry without copying anything. Released, the
 *   fault maps the zero page and the write removes it: every region reads
 *   the written data. Catches a write that does not lock the entries of
 *   the range (it would not wait and would leave the zero page behind),
 *   or that skips entries it finds locked.
 * Part 2 forces the write first: stopped at RW_MAPPED (block allocated,
 *   zero entries not yet removed), a read fault must go through, find the
 *   block and map it, filling the hole if a zero page was there; then the
 *   write completes and every region reads its data. Catches a fault that
 *   trusts a ZERO entry over the filesystem, a write whose invalidation
 *   waits for something the fault holds (hang), or one that deletes a
 *   block entry still mapped.
 * Part 3 leaves the invalidation out, as a write path without it would:
 *   the data goes straight to the newly allocated block. The zero page
 *   stays mapped, th_check_quiescent() reports it and a load through the
 *   mapping reads 0 instead of the data: the checks of parts 1, 2 and 4
 *   can fail.
 * Part 4 races one write against read faults through four regions (4 KiB
 *   and 2 MiB ones) in random order with random delays at the hook
 *   points, many rounds; after each, every region must read the stamp.
 */
#include "test_util.h"

#include <sched.h>
#include <stdatomic.h>

#include "fault_harness.h"
#include "fault_test.h"

#define NR_PAGES 1024 /* two 2 MiB extents */
#define NR_READERS 3

#include "hook_gate.h"

/* ---- the threads ---- */

struct job {
	pthread_t thread;
	struct th_env *env;
	struct th_region *r; /* read fault: in this region */
	uint64_t index;	     /* read fault: at this page; write: from */
	const uint64_t *buf; /* write: @nr pages of data */
	uint64_t nr;
	unsigned int stops;
	bool jitter;
	useconds_t delay; /* before starting */
	uint64_t seed;
	long ret;
	atomic_bool done;
};

static void job_start(struct job *j)
{
	my_stops = j->stops;
	my_jitter = j->jitter;
	t_rng_init(&my_rng, j->seed);
	if (j->delay)
		usleep(j->delay);
}

/*
 * A read fault, as th_access() would take it for a load, but without the
 * load itself: a load racing write(2)'s copy is a data race of the
 * simulated program, not of udax, and the tests load after joining.
 */
static void *read_main(void *arg)
{
	struct job *j = arg;
	struct dax_vmf vmf = { .region = j->r,
			       .index = j->index,
			       .flags = DAX_VMF_SHARED };

	job_start(j);
	j->ret = dax_fault(&j->env->f, &vmf, j->r->huge ? DAX_PMD_ORDER : 0);
	atomic_store(&j->done, true);
	return NULL;
}

static void *write_main(void *arg)
{
	struct job *j = arg;

	job_start(j);
	j->ret = dax_write(&j->env->f, j->buf, j->nr * DAX_PAGE_SIZE,
			   j->index * DAX_PAGE_SIZE);
	atomic_store(&j->done, true);
	return NULL;
}

static void job_run(struct job *j, void *(*fn)(void *))
{
	atomic_store(&j->done, false);
	REQUIRE(pthread_create(&j->thread, NULL, fn, j) == 0);
}

/* Join @j, failing (not hanging) if it does not finish in 10 seconds. */
static void job_join(struct job *j, const char *what)
{
	th_join_within(j->thread, &j->done, what);
}

/* ---- data ---- */

static uint64_t *buf;

/* Every word of page @first + i of the data is th_stamp(page, @gen). */
static void fill(uint64_t first, uint64_t nr, uint64_t gen)
{
	for (uint64_t i = 0; i < nr; i++)
		for (unsigned int w = 0; w < DAX_PAGE_SIZE / 8; w++)
			buf[i * (DAX_PAGE_SIZE / 8) + w] =
				th_stamp(first + i, gen);
}

/*
 * After a write of @nr pages from @first with stamp @gen: no region maps
 * the zero page there, and loads through every region see the stamp (all
 * pages for small ranges, the ends and a few others for 2 MiB).
 */
static int check_written(struct th_env *env, uint64_t first, uint64_t nr,
			 uint64_t gen, struct t_rng *rng)
{
	int bad = 0;

	for (int r = 0; r < env->vm.nr_regions; r++) {
		struct th_region *reg = &env->vm.regions[r];

		for (uint64_t p = first; p < first + nr; p++)
			if (reg->ptes[p].kind == TH_ZERO) {
				fprintf(stderr, "region %d page %llu: zero "
						"page over written data\n",
					r, (unsigned long long)p);
				bad++;
				break;
			}
		for (unsigned int k = 0; k < (nr > 1 ? 6 : 1); k++) {
			uint64_t p = k == 0 ? first
				   : k == 1 ? first + nr - 1
					    : first + t_rand_below(rng, nr);
			unsigned int w = (unsigned int)t_rand_below(
				rng, DAX_PAGE_SIZE / 8);
			uint64_t v = th_load(env, reg, p, w);

			if (v != th_stamp(p, gen)) {
				fprintf(stderr, "region %d page %llu word %u: "
						"read %#llx, wrote %#llx\n",
					r, (unsigned long long)p, w,
					(unsigned long long)v,
					(unsigned long long)th_stamp(p, gen));
				bad++;
			}
		}
	}
	return bad;
}

/* An env with @nr_regions shared regions over NR_PAGES, the file full. */
static void env_setup(struct th_env *env, const bool *huge, int nr_regions)
{
	th_env_setup_shared(env, NR_PAGES, huge, nr_regions, hook);
}

/* ---- part 1: the read fault holds the hole, the write waits ---- */

static void part1_fault_first(bool pmd, struct t_rng *rng)
{
	const bool huge[3] = { pmd, pmd, false };
	uint64_t first = pmd ? 512 : 7, nr = pmd ? DAX_PMD_NR : 1;
	struct job rd = { .index = first + 3 * (nr > 1) };
	struct job wr = { .index = first, .nr = nr };
	struct th_env env;
	unsigned long waits;
	uint64_t block;

	env_setup(&env, huge, 3);
	rd.env = wr.env = &env;
	rd.r = &env.vm.regions[0];
	wr.buf = buf;
	fill(first, nr, 1);

	rd.stops = 1U << DAX_HOOK_FAULT_MAPPED;
	job_run(&rd, read_main);
	gate_wait(DAX_HOOK_FAULT_MAPPED);
	CHECK_EQ(atomic_load(&env.fs.allocs), 0);

	/* The write allocates, then sleeps on the entry the fault holds. */
	waits = atomic_load(&env.f.m.stats.waits);
	job_run(&wr, write_main);
	wait_sleepers(&env, waits + 1);
	block = th_fs_block_of(&env.fs, first);
	CHECK(block != TH_HOLE);
	CHECK_EQ(atomic_load(&env.fs.allocs), nr);
	CHECK(!atomic_load(&wr.done));
	/* Nothing copied yet: the block is as the allocator zeroed it. */
	for (uint64_t i = 0; block != TH_HOLE && i < nr; i++)
		CHECK_EQ(((uint64_t *)(env.fs.dev +
				       (block + i) * DAX_PAGE_SIZE))[5], 0);

	gate_open();
	job_join(&rd, "part 1 read fault");
	job_join(&wr, "part 1 write");
	CHECK_EQ(rd.ret, DAX_FAULT_DONE);
	CHECK_EQ(wr.ret, (long)(nr * DAX_PAGE_SIZE));
	/* The fault's zero page was put in, then taken out by the write. */
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 1);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, zapped_zero), 1);
	CHECK_EQ(env.vm.regions[0].ptes[rd.index].kind, TH_NONE);
	CHECK(!th_entry_present(&env.f, rd.index));
	th_check_quiescent(&env);
	CHECK_EQ(check_written(&env, first, nr, 1, rng), 0);
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 1 (%s): write slept on the fault's entry, then removed "
	       "its zero page\n",
	       pmd ? "2 MiB" : "4 KiB");
	th_env_destroy(&env);
}

/* ---- part 2: the write has allocated, a read fault comes in ---- */

static void part2_write_first(bool pmd, bool zero_first, struct t_rng *rng)
{
	const bool huge[3] = { pmd, pmd, false };
	uint64_t first = pmd ? 0 : 9, nr = pmd ? DAX_PMD_NR : 1;
	struct job rd = { .index = first + 100 * (nr > 1) };
	struct job wr = { .index = first, .nr = nr };
	struct th_env env;
	struct th_region *rr, *rz;
	uint64_t block;

	env_setup(&env, huge, 3);
	rr = &env.vm.regions[0];
	rz = &env.vm.regions[1];
	rd.env = wr.env = &env;
	rd.r = rr;
	wr.buf = buf;
	fill(first, nr, 2);

	if (zero_first) {
		/* Another region shows the hole already. */
		CHECK_EQ(th_load(&env, rz, rd.index, 0), 0);
		CHECK_EQ(rz->ptes[rd.index].kind, TH_ZERO);
		CHECK_EQ(rz->ptes[rd.index].pmd, pmd);
	}
	wr.stops = 1U << DAX_HOOK_RW_MAPPED;
	job_run(&wr, write_main);
	gate_wait(DAX_HOOK_RW_MAPPED);
	block = th_fs_block_of(&env.fs, first);
	CHECK(block != TH_HOLE);

	/* The fault must not wait for the write: the fs says "mapped". */
	job_run(&rd, read_main);
	job_join(&rd, "part 2 read fault");
	CHECK_EQ(rd.ret, DAX_FAULT_DONE);
	CHECK_EQ(rr->ptes[rd.index].kind, TH_BLOCK);
	CHECK_EQ(rr->ptes[rd.index].block, block + (rd.index - first));
	CHECK_EQ(rr->ptes[rd.index].pmd, pmd);
	if (zero_first) {
		/* Filling the hole took the zero page away everywhere. */
		CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);
		CHECK_EQ(rz->ptes[rd.index].kind, TH_NONE);
	}
	/* The data is not there yet: a load sees the zeroed block. */
	CHECK_EQ(th_load(&env, rr, rd.index, 2), 0);
	th_check_quiescent(&env);

	gate_open();
	job_join(&wr, "part 2 write");
	CHECK_EQ(wr.ret, (long)(nr * DAX_PAGE_SIZE));
	/* The block entry the fault made is in use: the write kept it. */
	CHECK(th_entry_present(&env.f, rd.index));
	CHECK_EQ(rr->ptes[rd.index].kind, TH_BLOCK);
	CHECK_EQ(th_load(&env, rr, rd.index, 9), th_stamp(rd.index, 2));
	CHECK_EQ(check_written(&env, first, nr, 2, rng), 0);
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 2 (%s%s): fault mapped the new block while the write "
	       "was stopped\n",
	       pmd ? "2 MiB" : "4 KiB", zero_first ? ", zero page first" : "");
	th_env_destroy(&env);
}

/* ---- part 3: the write without invalidation, in the test only ---- */

static void part3_no_invalidation(bool pmd)
{
	const bool huge[2] = { pmd, false };
	uint64_t nr = pmd ? DAX_PMD_NR : 1;
	uint64_t good = pmd ? 0 : 20, bad = pmd ? 512 : 21;
	struct th_env env;
	struct th_region *rz;
	struct dax_iomap map;
	int before;
	uint64_t v;

	printf("part 3 (%s): INVARIANT VIOLATION lines below are expected\n",
	       pmd ? "2 MiB" : "4 KiB");
	fflush(stdout);
	env_setup(&env, huge, 2);
	rz = &env.vm.regions[0];

	/* With dax_write(): the zero page goes, the data shows. */
	CHECK_EQ(th_load(&env, rz, good, 0), 0);
	CHECK_EQ(rz->ptes[good].kind, TH_ZERO);
	fill(good, nr, 3);
	CHECK_EQ(dax_write(&env.f, buf, nr * DAX_PAGE_SIZE,
			   good * DAX_PAGE_SIZE),
		 (long)(nr * DAX_PAGE_SIZE));
	CHECK_EQ(th_load(&env, rz, good + nr - 1, 1),
		 th_stamp(good + nr - 1, 3));
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);

	/* Without: allocate and copy, but leave the entries alone. */
	CHECK_EQ(th_load(&env, rz, bad, 0), 0);
	CHECK_EQ(rz->ptes[bad].kind, TH_ZERO);
	fill(bad, nr, 3);
	before = th_violations();
	REQUIRE(th_fs_ops.iomap_begin(&env.fs, bad, nr, DAX_IOMAP_WRITE,
				      &map) == 0);
	REQUIRE(map.type == DAX_IOMAP_MAPPED && map.nr == nr);
	memcpy(th_dev_ops.addr(&env.fs, map.block), buf, nr * DAX_PAGE_SIZE);
	th_dev_ops.flush(&env.fs, map.block, nr);
	th_fs_ops.iomap_end(&env.fs, &map);
	th_check_quiescent(&env);
	CHECK(th_violations() > before);
	v = th_load(&env, rz, bad + nr - 1, 1);
	CHECK_EQ(v, 0);
	CHECK(v != th_stamp(bad + nr - 1, 3));
	printf("part 3 (%s): without invalidation the zero page stays over "
	       "the data (%d violations, load reads %llu)\n",
	       pmd ? "2 MiB" : "4 KiB", th_violations() - before,
	       (unsigned long long)v);
	atomic_store(&th_violation_count, before);
	th_env_destroy(&env);
}

/* ---- part 4: random races ---- */

static void part4_random(struct t_rng *rng)
{
	const bool huge[4] = { false, true, true, false };
	int rounds = t_long ? 3000 : 300, failed = 0, round;
	struct th_env env;

	env_setup(&env, huge, 4);
	for (round = 1; round <= rounds && !failed; round++) {
		bool pmd = t_rand_below(rng, 3) == 0;
		uint64_t nr = pmd ? DAX_PMD_NR : 1;
		uint64_t first = pmd ? t_rand_below(rng, 2) * DAX_PMD_NR
				     : t_rand_below(rng, NR_PAGES);
		uint64_t gen = (uint64_t)round;
		struct job rd[NR_READERS], wr = { 0 };
		bool wr_started = false;

		/* A hole again, maybe with zero pages mapped over it. */
		CHECK_EQ(dax_punch_hole(&env.f, first * DAX_PAGE_SIZE,
					nr * DAX_PAGE_SIZE),
			 0);
		for (int r = 0; r < env.vm.nr_regions; r++) {
			uint64_t p = first + t_rand_below(rng, nr);

			if (t_rand_below(rng, 2))
				CHECK_EQ(
				    th_load(&env, &env.vm.regions[r], p, 0), 0);
		}
		fill(first, nr, gen);

		wr.env = &env;
		wr.index = first;
		wr.nr = nr;
		wr.buf = buf;
		wr.jitter = true;
		wr.seed = t_rand(rng);
		wr.delay = (useconds_t)t_rand_below(rng, 200);
		for (int i = 0; i < NR_READERS; i++) {
			memset(&rd[i], 0, sizeof(rd[i]));
			rd[i].env = &env;
			rd[i].r = &env.vm.regions[t_rand_below(rng, 4)];
			rd[i].index = first + t_rand_below(rng, nr);
			rd[i].jitter = true;
			rd[i].seed = t_rand(rng);
			rd[i].delay = (useconds_t)t_rand_below(rng, 200);
		}
		for (int i = 0; i < NR_READERS; i++) {
			if (!wr_started && !t_rand_below(rng, NR_READERS - i)) {
				job_run(&wr, write_main);
				wr_started = true;
			}
			job_run(&rd[i], read_main);
		}
		if (!wr_started)
			job_run(&wr, write_main);
		job_join(&wr, "part 4 write");
		for (int i = 0; i < NR_READERS; i++) {
			job_join(&rd[i], "part 4 read fault");
			CHECK_EQ(rd[i].ret & DAX_FAULT_ERROR_MASK, 0);
		}
		CHECK_EQ(wr.ret, (long)(nr * DAX_PAGE_SIZE));
		failed += check_written(&env, first, nr, gen, rng);
		th_check_quiescent(&env);
		if (th_violations())
			failed++;
	}
	CHECK_EQ(failed, 0);
	CHECK_EQ(th_violations(), 0);
	printf("part 4: %d random rounds, %lu hole fills, %lu zero pages "
	       "removed by writes, %lu waits\n",
	       round - 1, DAX_FAULT_STAT(&env.f, hole_fill),
	       DAX_FAULT_STAT(&env.f, zapped_zero),
	       atomic_load(&env.f.m.stats.waits));
	th_env_destroy(&env);
}

int main(int argc, char **argv)
{
	struct t_rng rng;

	t_init(argc, argv);
	t_watchdog(t_long ? 600 : 60);
	t_rng_init(&rng, t_seed);
	buf = malloc(DAX_PMD_NR * DAX_PAGE_SIZE);
	REQUIRE(buf);

	for (int pmd = 0; pmd < 2; pmd++) {
		part1_fault_first(pmd, &rng);
		part2_write_first(pmd, false, &rng);
		part2_write_first(pmd, true, &rng);
		part3_no_invalidation(pmd);
	}
	part4_random(&rng);

	free(buf);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_rw_hole");
}
