/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_review - the findings of the seed's review (Ross Zwisler on "dax:
 * New fault locking"), each played against the engine.
 *
 * Part 1, "who wakes up anyone waiting on the old lock entry that we just
 * killed?": in the seed, dax_load_hole() replaced the locked entry of a
 * hole with a zero page without waking the faults sleeping on it.
 *   1a plays that by hand (in the test, never in the library): the
 *      waiters stay asleep, until the test wakes them itself.
 *   1b the engine: a read fault stopped at FAULT_MAPPED holds the EMPTY
 *      entry of a hole, three more faults sleep on it; released, it makes
 *      the entry ZERO and every waiter must complete and map the zero page.
 *   1c a write fault fills that hole (ZERO entry -> block, which wakes
 *      all) while three read faults sleep on it: all complete and map the
 *      block.
 *   1d the same with a 2 MiB entry: PMD and 4 KiB faults sleep on a PMD
 *      EMPTY entry that becomes the huge zero page; the 4 KiB ones split it.
 *   Catches a replace or a split that forgets the wake-up (hang, turned
 *   into a failure by a bounded wait), or one that wakes only one waiter
 *   when the entry changed for all.
 *
 * Part 2, "we may want to silence the WARN_ON_ONCE()": deleting an entry
 * in truncate must not complain when the entry it looked up is gone, or
 * has changed kind, by the time it deletes.
 *   2a entries already gone (never there, deleted by someone else, a PMD
 *      entry deleted under an index inside it): dax_entry_delete() and
 *      dax_entry_invalidate() return 0, dax_unmap_entries() and truncate
 *      go through. The seed's check is evaluated on the same states and
 *      would have warned.
 *   2b the entry changes from EMPTY to ZERO to a block (two faults run
 *      while the deletion sleeps on the entry): the deletion erases what
 *      is there now, returns 1, and the faults complete.
 *   2c truncate deleting an entry that writeback holds waits for it and
 *      frees the block only after (the harness reports a block freed with
 *      its entry still present, or still mapped).
 *   2d truncate and punch hole race faults and writeback on the same pages
 *      for a bounded time: no invariant violation, no hang, every load
 *      sees its page's data or zeros.
 */
#include "test_util.h"

#include <sched.h>
#include <stdatomic.h>

#include "fault_harness.h"
#include "fault_test.h"
#include "fault/fault_priv.h" /* dax_unmap_entries() */

#define NR_PAGES 1024

#include "hook_gate.h"

/* ---- the threads ---- */

enum op { OP_READ, OP_WRITE, OP_DELETE, OP_TRUNCATE, OP_WRITEBACK };

struct job {
	pthread_t thread;
	struct th_env *env;
	enum op op;
	struct th_region *r; /* faults: in this region */
	uint64_t index;	     /* faults, delete: this page */
	uint64_t arg;	     /* truncate: size; writeback: last page */
	unsigned int stops;
	long ret;
	atomic_bool done;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct dax_fmap *f = &j->env->f;
	struct dax_vmf vmf = { .region = j->r, .index = j->index };

	my_stops = j->stops;
	switch (j->op) {
	case OP_READ:
	case OP_WRITE:
		/* One fault, as th_access() takes it; no load or store. */
		vmf.flags = (j->op == OP_WRITE ? DAX_VMF_WRITE : 0) |
			    DAX_VMF_SHARED;
		j->ret = dax_fault(f, &vmf, j->r->huge ? DAX_PMD_ORDER : 0);
		break;
	case OP_DELETE:
		j->ret = dax_entry_delete(&f->m, j->index);
		break;
	case OP_TRUNCATE:
		j->ret = dax_truncate(f, j->arg);
		break;
	case OP_WRITEBACK:
		j->ret = dax_writeback(f, j->index, j->arg);
		break;
	}
	atomic_store(&j->done, true);
	return NULL;
}

static void job_run(struct job *j, struct th_env *env, enum op op,
		    struct th_region *r, uint64_t index, unsigned int stops)
{
	j->env = env;
	j->op = op;
	j->r = r;
	j->index = index;
	j->stops = stops;
	atomic_store(&j->done, false);
	REQUIRE(pthread_create(&j->thread, NULL, job_main, j) == 0);
}

/* Start @j and wait until it sleeps on an entry lock. */
static void job_run_sleep(struct job *j, struct th_env *env, enum op op,
			  struct th_region *r, uint64_t index)
{
	unsigned long waits = atomic_load(&env->f.m.stats.waits);

	job_run(j, env, op, r, index, 0);
	wait_sleepers(env, waits + 1);
}

/* Join @j, failing (not hanging) if it does not finish in 10 seconds. */
static void job_join(struct job *j, const char *what)
{
	th_join_within(j->thread, &j->done, what);
}

/* ---- helpers ---- */

static void env_setup(struct th_env *env, const bool *huge, int nr_regions)
{
	th_env_setup_shared(env, NR_PAGES, huge, nr_regions, hook);
}

/* Word 0 of page @index through @r. */
static uint64_t load(struct th_env *env, struct th_region *r, uint64_t index)
{
	return th_load(env, r, index, 0);
}

static void store(struct th_env *env, struct th_region *r, uint64_t index,
		  uint64_t v)
{
	th_store(env, r, index, 0, v);
}

/*
 * Would the seed's dax_delete_mapping_entry() WARN on @index now? It
 * warned when it found no entry, or one that was not exceptional: the
 * seed's zero page was a page cache page, so a ZERO entry here.
 */
static bool seed_would_warn(struct th_env *env, uint64_t index)
{
	dax_entry_t e = th_peek(env, index);

	return !e || dax_entry_is_zero(e);
}

/* ---- part 1: waiters on an entry replaced by the zero page ---- */

#define NR_WAITERS 3

/* 1a: the seed's dax_load_hole(), by hand: replace, do not wake. */
static void part1a_seed_lost_wakeup(void)
{
	const bool huge[4] = { false, false, false, false };
	const uint64_t index = 4;
	DAX_CURSOR(cur, index, NULL, 0);
	struct job w[NR_WAITERS];
	struct th_env env;
	dax_entry_t e, zero = dax_mk_entry(0, DAX_ENTRY_ZERO);
	int done = 0;

	env_setup(&env, huge, 4);
	cur.idx = &env.f.m.idx;
	/* "CPU0" takes the hole's entry, as grab_mapping_entry() did. */
	REQUIRE(dax_entry_grab(&env.f.m, &cur, 0, &e) == 0);
	CHECK(dax_entry_is_empty(e));
	for (int i = 0; i < NR_WAITERS; i++)
		job_run_sleep(&w[i], &env, OP_READ, &env.vm.regions[i + 1],
			      index);
	/* The zero page takes the entry's place; nobody is woken. */
	th_vm_ops.insert(&env.vm, &env.vm.regions[0], index, 0, 0,
			 DAX_VM_ZERO, NULL);
	atomic_store(cur.slot, zero);
	usleep(300 * 1000);
	for (int i = 0; i < NR_WAITERS; i++)
		done += atomic_load(&w[i].done);
	CHECK_EQ(done, 0);
	printf("part 1a: seed order: %d of %d waiters finished in 300 ms "
	       "(lost wake-up)\n",
	       done, NR_WAITERS);

	/* Let them go the plain way: hold the entry again and unlock it,
	 * each waiter waking the next (parts 1b-1d test the engine's own
	 * wake-ups). */
	atomic_store(cur.slot, zero | DAX_ENTRY_LOCKED | DAX_ENTRY_WAITERS);
	dax_entry_unlock(&env.f.m, &cur);
	for (int i = 0; i < NR_WAITERS; i++) {
		job_join(&w[i], "1a waiter");
		CHECK_EQ(w[i].ret, DAX_FAULT_DONE);
		CHECK_EQ(env.vm.regions[i + 1].ptes[index].kind, TH_ZERO);
	}
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	th_env_destroy(&env);
}

/* 1b, 1c: the engine, 4 KiB. */
static void part1bc_engine(void)
{
	const bool huge[5] = { false, false, false, false, false };
	const uint64_t index = 6;
	struct job a, wr, w[NR_WAITERS];
	struct th_env env;
	unsigned long wakeups;
	uint64_t block;
	dax_entry_t e;

	env_setup(&env, huge, 5);

	/* 1b: A holds the hole's EMPTY entry; B..D sleep on it. */
	job_run(&a, &env, OP_READ, &env.vm.regions[0], index,
		1U << DAX_HOOK_FAULT_MAPPED);
	gate_wait(DAX_HOOK_FAULT_MAPPED);
	CHECK(dax_entry_is_empty(th_peek(&env, index)));
	for (int i = 0; i < NR_WAITERS; i++)
		job_run_sleep(&w[i], &env, OP_READ, &env.vm.regions[i + 1],
			      index);
	CHECK_EQ(atomic_load(&env.fs.iomaps), 1); /* only A asked the fs */
	gate_open();
	job_join(&a, "1b zero page fault");
	CHECK_EQ(a.ret, DAX_FAULT_DONE);
	for (int i = 0; i < NR_WAITERS; i++) {
		job_join(&w[i], "1b waiter");
		CHECK_EQ(w[i].ret, DAX_FAULT_DONE);
	}
	for (int r = 0; r < 1 + NR_WAITERS; r++)
		CHECK_EQ(env.vm.regions[r].ptes[index].kind, TH_ZERO);
	e = th_peek(&env, index);
	CHECK(dax_entry_is_zero(e) && !dax_entry_locked(e));
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole), 1 + NR_WAITERS);
	printf("part 1b: %d faults asleep on a hole's entry all woke and "
	       "mapped the zero page\n",
	       NR_WAITERS);

	/* 1c: a write fills the hole while B..D sleep on the ZERO entry. */
	job_run(&wr, &env, OP_WRITE, &env.vm.regions[4], index,
		1U << DAX_HOOK_FAULT_MAPPED);
	gate_wait(DAX_HOOK_FAULT_MAPPED);
	block = th_fs_block_of(&env.fs, index);
	CHECK(block != TH_HOLE);
	for (int i = 0; i < NR_WAITERS; i++)
		job_run_sleep(&w[i], &env, OP_READ, &env.vm.regions[i + 1],
			      index);
	wakeups = atomic_load(&env.f.m.stats.wakeups);
	gate_open();
	job_join(&wr, "1c hole fill");
	CHECK_EQ(wr.ret, DAX_FAULT_MAJOR);
	for (int i = 0; i < NR_WAITERS; i++) {
		job_join(&w[i], "1c waiter");
		CHECK_EQ(w[i].ret, DAX_FAULT_DONE);
		CHECK_EQ(env.vm.regions[i + 1].ptes[index].kind, TH_BLOCK);
		CHECK_EQ(env.vm.regions[i + 1].ptes[index].block, block);
	}
	/* The replace woke all three at once. */
	CHECK(atomic_load(&env.f.m.stats.wakeups) >= wakeups + NR_WAITERS);
	CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);
	CHECK_EQ(env.vm.regions[0].ptes[index].kind, TH_NONE);
	store(&env, &env.vm.regions[4], index, th_stamp(index, 1));
	for (int r = 0; r < 5; r++)
		CHECK_EQ(load(&env, &env.vm.regions[r], index),
			 th_stamp(index, 1));
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 1c: %d faults asleep on a ZERO entry woke when a write "
	       "filled the hole, and mapped the block\n",
	       NR_WAITERS);
	th_env_destroy(&env);
}

/* 1d: a PMD EMPTY entry becomes the huge zero page; PTE waiters split it. */
static void part1d_pmd(void)
{
	const bool huge[4] = { true, true, false, false };
	const uint64_t pidx = 512;
	const uint64_t at[NR_WAITERS] = { pidx + 1, pidx + 7, pidx + 300 };
	struct job a, w[NR_WAITERS];
	struct th_env env;

	env_setup(&env, huge, 4);
	job_run(&a, &env, OP_READ, &env.vm.regions[0], pidx + 100,
		1U << DAX_HOOK_FAULT_MAPPED);
	gate_wait(DAX_HOOK_FAULT_MAPPED);
	CHECK(dax_entry_is_pmd(th_peek(&env, pidx + 300)));
	/* A 2 MiB fault, then two 4 KiB faults, all on the PMD entry. */
	for (int i = 0; i < NR_WAITERS; i++)
		job_run_sleep(&w[i], &env, OP_READ, &env.vm.regions[i + 1],
			      at[i]);
	gate_open();
	job_join(&a, "1d huge zero page fault");
	CHECK_EQ(a.ret, DAX_FAULT_DONE);
	for (int i = 0; i < NR_WAITERS; i++) {
		job_join(&w[i], "1d waiter");
		CHECK_EQ(w[i].ret, DAX_FAULT_DONE);
	}
	/* The 4 KiB faults split the PMD entry, unmapping the huge zero
	 * page; each maps the 4 KiB zero page. */
	CHECK(atomic_load(&env.f.m.stats.downgrades) >= 1);
	CHECK_EQ(env.vm.regions[2].ptes[at[1]].kind, TH_ZERO);
	CHECK_EQ(env.vm.regions[3].ptes[at[2]].kind, TH_ZERO);
	CHECK(!dax_entry_is_pmd(th_peek(&env, at[2])));
	for (int r = 0; r < 4; r++)
		for (int i = 0; i < NR_WAITERS; i++)
			CHECK_EQ(load(&env, &env.vm.regions[r], at[i]), 0);
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 1d: PMD and 4 KiB faults asleep on a 2 MiB hole all "
	       "completed (%lu split)\n",
	       atomic_load(&env.f.m.stats.downgrades));
	th_env_destroy(&env);
}

/* ---- part 2: deletions that find something else ---- */

/* 2a: entries already gone when the deletion comes. */
static int part2a_gone(void)
{
	const bool huge[2] = { false, true };
	struct th_env env;
	struct th_region *rs, *rh;
	uint64_t index;
	dax_entry_t e;
	int warns = 0;
	bool found;

	env_setup(&env, huge, 2);
	rs = &env.vm.regions[0];
	rh = &env.vm.regions[1];

	/* Never there. */
	warns += seed_would_warn(&env, 3);
	CHECK_EQ(dax_entry_delete(&env.f.m, 3), 0);
	CHECK_EQ(dax_entry_invalidate(&env.f.m, 3), 0);

	/* Looked up, then deleted by someone else first. */
	CHECK_EQ(load(&env, rs, 30), 0);
	index = 0;
	dax_rcu_read_lock();
	found = dax_idx_next_entry(&env.f.m.idx, &index, NR_PAGES - 1, &e);
	dax_rcu_read_unlock();
	CHECK(found && index == 30 && dax_entry_is_zero(e));
	CHECK_EQ(dax_punch_hole(&env.f, 30 * DAX_PAGE_SIZE, DAX_PAGE_SIZE),
		 0);
	warns += seed_would_warn(&env, 30);
	CHECK_EQ(dax_entry_delete(&env.f.m, 30), 0);
	CHECK_EQ(dax_entry_invalidate(&env.f.m, 30), 0);

	/* A PMD entry, looked up through an index inside it. */
	CHECK_EQ(load(&env, rh, 700), 0);
	CHECK(dax_entry_is_pmd(th_peek(&env, 700)));
	CHECK_EQ(dax_punch_hole(&env.f, 512 * DAX_PAGE_SIZE,
				DAX_PMD_NR * DAX_PAGE_SIZE),
		 0);
	warns += seed_would_warn(&env, 700);
	CHECK_EQ(dax_entry_delete(&env.f.m, 700), 0);
	CHECK_EQ(dax_entry_delete(&env.f.m, 512), 0);

	/* Unmapping and truncating ranges with nothing in them. */
	th_fs_ops.mmap_lock(&env.fs, true);
	dax_unmap_entries(&env.f, 100, 200);
	dax_unmap_entries(&env.f, 512, NR_PAGES - 1);
	th_fs_ops.mmap_unlock(&env.fs, true);
	CHECK_EQ(dax_truncate(&env.f, 40 * DAX_PAGE_SIZE), 0);
	CHECK_EQ(dax_truncate(&env.f, NR_PAGES * DAX_PAGE_SIZE), 0);
	CHECK_EQ(load(&env, rs, 30), 0);
	CHECK_EQ(load(&env, rh, 600), 0);
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 2a: deleting entries already gone: quiet (the seed would "
	       "have warned %d times)\n",
	       warns);
	th_env_destroy(&env);
	return warns;
}

/*
 * 2b: a deletion looks the entry up while a read fault holds it EMPTY,
 * and sleeps on it. With @fill, a write fault queued before the deletion
 * fills the hole first: EMPTY -> ZERO -> block, and the deletion erases
 * the block entry. Without, it erases the ZERO entry the read fault made
 * (which the seed took for a page cache page and warned about).
 *
 * Truncate would have unmapped the range first and kept faults out with
 * the mmap lock; calling dax_entry_delete() alone, the test finishes the
 * job with dax_truncate() before anything else faults there.
 */
static int part2b_changed(bool fill)
{
	const bool huge[2] = { false, false };
	const uint64_t index = 40;
	struct job rd, wr, del;
	struct th_env env;
	uint64_t at, block;
	dax_entry_t e;

	env_setup(&env, huge, 2);
	job_run(&rd, &env, OP_READ, &env.vm.regions[0], index,
		1U << DAX_HOOK_FAULT_GRABBED);
	gate_wait(DAX_HOOK_FAULT_GRABBED);
	/* Truncate's lookup: an EMPTY entry. */
	at = 0;
	dax_rcu_read_lock();
	CHECK(dax_idx_next_entry(&env.f.m.idx, &at, NR_PAGES - 1, &e));
	dax_rcu_read_unlock();
	CHECK(at == index && dax_entry_is_empty(e) && dax_entry_locked(e));
	/* Waiters are woken in the order they came: the write first. */
	if (fill)
		job_run_sleep(&wr, &env, OP_WRITE, &env.vm.regions[1], index);
	job_run_sleep(&del, &env, OP_DELETE, NULL, index);
	/* The read fault makes the entry ZERO and wakes the first waiter. */
	gate_open();
	job_join(&rd, "2b read fault");
	job_join(&del, "2b deletion");
	CHECK_EQ(rd.ret, DAX_FAULT_DONE);
	CHECK_EQ(del.ret, 1);
	CHECK(!th_entry_present(&env.f, index));
	if (fill) {
		job_join(&wr, "2b write fault");
		CHECK_EQ(wr.ret, DAX_FAULT_MAJOR);
		/* The hole was filled before the deletion ran. */
		CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);
		CHECK_EQ(env.vm.regions[0].ptes[index].kind, TH_NONE);
		block = th_fs_block_of(&env.fs, index);
		CHECK(block != TH_HOLE);
		CHECK_EQ(env.vm.regions[1].ptes[index].block, block);
	} else {
		/* The read fault's zero page, over a hole still. */
		CHECK_EQ(env.vm.regions[0].ptes[index].kind, TH_ZERO);
		CHECK_EQ(th_fs_block_of(&env.fs, index), TH_HOLE);
	}
	/* Finish what truncate would have done: unmap, delete, free. */
	CHECK_EQ(dax_truncate(&env.f, index * DAX_PAGE_SIZE), 0);
	CHECK_EQ(th_fs_block_of(&env.fs, index), TH_HOLE);
	CHECK_EQ(env.vm.regions[0].ptes[index].kind, TH_NONE);
	CHECK_EQ(env.vm.regions[1].ptes[index].kind, TH_NONE);
	CHECK_EQ(dax_truncate(&env.f, NR_PAGES * DAX_PAGE_SIZE), 0);
	store(&env, &env.vm.regions[1], index, th_stamp(index, 2));
	CHECK_EQ(load(&env, &env.vm.regions[0], index), th_stamp(index, 2));
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 2b: deletion that saw EMPTY erased the %s entry, "
	       "quietly\n",
	       fill ? "block" : "ZERO");
	th_env_destroy(&env);
	return fill ? 0 : 1;
}

/* 2c: truncate waits for writeback's entry lock before freeing. */
static void part2c_truncate_waits(void)
{
	const bool huge[1] = { false };
	const uint64_t index = 50;
	struct job wb, tr;
	struct th_env env;

	env_setup(&env, huge, 1);
	store(&env, &env.vm.regions[0], index, th_stamp(index, 1));
	wb.arg = index;
	job_run(&wb, &env, OP_WRITEBACK, NULL, index,
		1U << DAX_HOOK_WB_CLEANED);
	gate_wait(DAX_HOOK_WB_CLEANED);
	tr.arg = index * DAX_PAGE_SIZE;
	job_run_sleep(&tr, &env, OP_TRUNCATE, NULL, 0);
	CHECK(!atomic_load(&tr.done));
	CHECK_EQ(atomic_load(&env.fs.frees), 0);
	CHECK(th_entry_present(&env.f, index));
	gate_open();
	job_join(&wb, "2c writeback");
	job_join(&tr, "2c truncate");
	CHECK_EQ(tr.ret, 0);
	CHECK_EQ(atomic_load(&env.fs.frees), 1);
	CHECK_EQ(atomic_load(&env.fs.flushes), 1);
	CHECK(!th_entry_present(&env.f, index));
	CHECK_EQ(env.vm.regions[0].ptes[index].kind, TH_NONE);
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part 2c: truncate waited for writeback's entry lock, then "
	       "freed the block\n");
	th_env_destroy(&env);
}

/* ---- 2d: truncate racing faults ---- */

struct racer {
	pthread_t thread;
	struct th_env *env;
	uint64_t seed;
	int id;
	atomic_bool *stop;
	unsigned long ops, bad;
};

/* Pages the racers favour, so that they collide: a few 4 KiB pages and
 * some inside the second 2 MiB extent. */
static uint64_t racy_page(struct t_rng *rng)
{
	switch (t_rand_below(rng, 4)) {
	case 0:
	case 1:
		return t_rand_below(rng, 16);
	case 2:
		return 512 + t_rand_below(rng, 32);
	default:
		return t_rand_below(rng, NR_PAGES);
	}
}

static void *fault_racer(void *arg)
{
	struct racer *x = arg;
	struct th_env *env = x->env;

	t_rng_init(&my_rng, x->seed);
	my_jitter = true;
	while (!atomic_load(x->stop)) {
		struct th_region *r =
			&env->vm.regions[t_rand_below(&my_rng,
						      env->vm.nr_regions)];
		uint64_t p = racy_page(&my_rng), v;
		unsigned int w = (unsigned int)t_rand_below(&my_rng, 512);
		bool write = r->shared && t_rand_below(&my_rng, 2);
		int ret;

		v = th_stamp(p, x->ops);
		ret = th_access(env, r, p, w, write, &v);
		if (ret & ~DAX_FAULT_SIGBUS)
			x->bad++;
		else if (!ret && !th_stamp_ok(p, v)) {
			fprintf(stderr, "page %llu word %u reads %#llx\n",
				(unsigned long long)p, w,
				(unsigned long long)v);
			x->bad++;
		}
		/* Let truncate in: the mmap rwlock favours readers. */
		if (!(++x->ops & 7))
			usleep((useconds_t)t_rand_below(&my_rng, 50));
	}
	return NULL;
}

/* Truncate, punch hole and writeback, page-aligned (see below). */
static void *trunc_racer(void *arg)
{
	struct racer *x = arg;
	struct dax_fmap *f = &x->env->f;

	t_rng_init(&my_rng, x->seed);
	my_jitter = true;
	while (!atomic_load(x->stop)) {
		uint64_t a = racy_page(&my_rng);
		uint64_t n = 1 + t_rand_below(&my_rng, 40);
		int err = 0;

		switch (t_rand_below(&my_rng, 4)) {
		case 0:
			err = dax_truncate(f, a * DAX_PAGE_SIZE);
			if (!err)
				err = dax_truncate(f, NR_PAGES * DAX_PAGE_SIZE);
			break;
		case 1:
			err = dax_punch_hole(f, a * DAX_PAGE_SIZE,
					     n * DAX_PAGE_SIZE);
			break;
		case 2:
			err = dax_punch_hole(f, (a & DAX_PMD_MASK) *
							DAX_PAGE_SIZE,
					     DAX_PMD_NR * DAX_PAGE_SIZE);
			break;
		default:
			err = dax_writeback(f, a, a + n);
			break;
		}
		if (err)
			x->bad++;
		x->ops++;
	}
	return NULL;
}

/*
 * Sizes and holes are page-aligned: zeroing a partial page while another
 * thread loads from it through a mapping is a race of the simulated
 * program (ThreadSanitizer would report it), not of the engine.
 */
static void part2d_random(struct t_rng *rng)
{
	const bool huge[4] = { false, true, false, true };
	const int nr_faulters = 3;
	struct racer x[4];
	atomic_bool stop = false;
	double secs = t_long ? 20 : 1.5, end;
	unsigned long faults = 0, truncs = 0, bad = 0;
	struct th_env env;

	env_setup(&env, huge, 4);
	/* One private region: loads only (a copy-on-write copy racing a
	 * store through a shared mapping is the program's race). */
	REQUIRE(th_region_add(&env, false, false, false));
	for (int i = 0; i <= nr_faulters; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].env = &env;
		x[i].seed = t_rand(rng);
		x[i].id = i;
		x[i].stop = &stop;
		REQUIRE(pthread_create(&x[i].thread, NULL,
				       i < nr_faulters ? fault_racer
						       : trunc_racer,
				       &x[i]) == 0);
	}
	end = t_now() + secs;
	while (t_now() < end && !th_violations())
		usleep(10 * 1000);
	atomic_store(&stop, true);
	for (int i = 0; i <= nr_faulters; i++) {
		pthread_join(x[i].thread, NULL);
		bad += x[i].bad;
		if (i < nr_faulters)
			faults += x[i].ops;
		else
			truncs += x[i].ops;
	}
	CHECK_EQ(bad, 0);
	CHECK(faults > 0 && truncs > 0);
	th_check_quiescent(&env);
	for (int r = 0; r < env.vm.nr_regions; r++)
		for (uint64_t p = 0; p < 16; p++)
			CHECK(th_stamp_ok(p,
					  load(&env, &env.vm.regions[r], p)));
	CHECK_EQ(th_violations(), 0);
	printf("part 2d: %.1f s, %lu accesses against %lu truncate/punch/"
	       "writeback calls, %lu waits, %lu sigbus\n",
	       secs, faults, truncs, atomic_load(&env.f.m.stats.waits),
	       DAX_FAULT_STAT(&env.f, sigbus));
	th_env_destroy(&env);
}

int main(int argc, char **argv)
{
	struct t_rng rng;
	int warns = 0;

	t_init(argc, argv);
	t_watchdog(t_long ? 600 : 60);
	t_rng_init(&rng, t_seed);

	part1a_seed_lost_wakeup();
	part1bc_engine();
	part1d_pmd();

	warns += part2a_gone();
	warns += part2b_changed(true);
	warns += part2b_changed(false);
	/* The states are real: the seed's check would have fired on them. */
	CHECK(warns >= 4);
	part2c_truncate_waits();
	part2d_random(&rng);

	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_review");
}
