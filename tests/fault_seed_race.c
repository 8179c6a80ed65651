/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_seed_race - the race in the seed's commit message, forced step by
 * step.
 *
 *   CPU0 (write fault)                 CPU1 (read fault)
 *   look up block -> hole
 *                                      look up block -> hole
 *   allocate block
 *                                      map the hole (zero page)
 *   insert the block mapping -> -EIO
 *
 * Part 1 is a demonstration, not a check: it plays that interleaving with
 * the pre-patch order (look up, then allocate, no entry lock), which
 * exists only here in the test, never in the library, and so fails by
 * construction, with the -EIO of the old dax_radix_entry() and a zero
 * page left mapped over the new block. It shows what parts 2 and 3 rule
 * out; its output says so, and nothing in it counts towards the result.
 *
 * Part 2 tries the same interleaving on the engine: the writer is stopped
 * right after the filesystem allocated the block, and the reader must then
 * be asleep on the entry lock, not asking the filesystem. Released, both
 * succeed: one block, both regions map it, no zero page, no error.
 *
 * Part 3 is the other order: the reader stopped after the filesystem said
 * "hole", the writer asleep on the entry; the reader maps the zero page,
 * then the writer fills the hole and zaps that zero page everywhere.
 *
 * Parts 2 and 3 are the checks. An engine that locked the entry after
 * iomap_begin (the seed's bug) fails both: the second thread asks the
 * filesystem instead of sleeping (wait_sleepers() gives up after 10 s,
 * the iomap count moves). Tried by hand on 2026-12-02: moving
 * dax_entry_grab() after dax_fault_begin() in dax_pte_fault().
 */
#include "test_util.h"

#include <errno.h>
#include <sched.h>

#include "fault_harness.h"
#include "hook_gate.h"


/* ---- fault threads ---- */

struct fault_job {
	struct th_env *env;
	struct th_region *r;
	uint64_t index;
	bool write;
	unsigned int stops; /* hook points it stops at (hook_gate.h) */
	int ret;
	pthread_t thread;
};

static void *fault_thread(void *arg)
{
	struct fault_job *j = arg;
	struct dax_vmf vmf = {
		.region = j->r,
		.index = j->index,
		.flags = (j->write ? DAX_VMF_WRITE : 0) | DAX_VMF_SHARED,
	};

	my_stops = j->stops;
	j->ret = dax_pte_fault(&j->env->f, &vmf);
	return NULL;
}

/* ---- part 1: the pre-patch order, in the test only (a demonstration) ---- */

/* What the old radix tree held at the index: nothing, a hole page, or a
 * block entry. The old dax_radix_entry() failed with -EIO when asked to
 * insert a block entry where a hole page was. */
enum old_slot { OLD_NONE, OLD_HOLE_PAGE, OLD_BLOCK };

static int old_insert_block(enum old_slot *slot)
{
	if (*slot == OLD_HOLE_PAGE)
		return -EIO;
	*slot = OLD_BLOCK;
	return 0;
}

/* Part 1: a demonstration of the pre-patch order; it checks nothing. */
static void part1_demo(void)
{
	struct th_env env;
	struct th_region *ra, *rb;
	struct dax_iomap m0, m1, alloc;
	enum old_slot slot = OLD_NONE;
	const uint64_t index = 3;
	int before = th_violations(), err;

	printf("part 1 (demonstration, not a check): the pre-patch order, "
	       "played in the test; the INVARIANT VIOLATION lines below are "
	       "expected\n");
	fflush(stdout);
	REQUIRE(th_env_init(&env, 64, 64) == 0);
	ra = th_region_add(&env, true, false, false);
	rb = th_region_add(&env, true, false, false);
	atomic_store(&env.fs.size, 64 * DAX_PAGE_SIZE);

	/* CPU0: look up -> hole. CPU1: look up -> hole. */
	REQUIRE(th_fs_ops.iomap_begin(&env.fs, index, 1, 0, &m0) == 0);
	REQUIRE(th_fs_ops.iomap_begin(&env.fs, index, 1, 0, &m1) == 0);
	/* CPU0: allocate. */
	REQUIRE(th_fs_ops.iomap_begin(&env.fs, index, 1, DAX_IOMAP_WRITE,
				      &alloc) == 0);
	REQUIRE(alloc.type == DAX_IOMAP_MAPPED);
	/* CPU1: still believes in the hole: maps the zero page. */
	slot = OLD_HOLE_PAGE;
	th_vm_ops.insert(&env.vm, rb, index, 0, 0, DAX_VM_ZERO, NULL);
	/* CPU0: insert its block. */
	err = old_insert_block(&slot);
	/* And had it gone on, the two regions would disagree. */
	{
		DAX_CURSOR(cur, index, &env.f.m.idx, 0);
		dax_entry_t e;

		/* Give the checker a DIRTY entry so only the disagreement
		 * between regions is reported. */
		REQUIRE(dax_entry_grab(&env.f.m, &cur, 0, &e) == 0);
		dax_entry_tag_set(&env.f.m, &cur, DAX_TAG_DIRTY);
		dax_entry_unlock(&env.f.m, &cur);
	}
	th_vm_ops.insert(&env.vm, ra, index, 0, alloc.block, DAX_VM_WRITE,
			 NULL);
	printf("part 1 (demonstration): both looked up a %s, the old insert "
	       "returned %d (-EIO by construction), %d invariant violations "
	       "from the regions left disagreeing\n",
	       m0.type == DAX_IOMAP_HOLE && m1.type == DAX_IOMAP_HOLE
		       ? "hole"
		       : "block",
	       err, th_violations() - before);
	th_env_destroy(&env);
	atomic_store(&th_violation_count, before);
}

/* ---- parts 2 and 3: the engine ---- */

static void run_engine(bool writer_first)
{
	struct th_env env;
	struct th_region *rw, *rr;
	struct fault_job w = { .write = true, .index = 5 };
	struct fault_job r = { .write = false, .index = 5 };
	struct fault_job *first = writer_first ? &w : &r;
	struct fault_job *second = writer_first ? &r : &w;
	unsigned long allocs_at_stop;

	REQUIRE(th_env_init(&env, 64, 64) == 0);
	rw = th_region_add(&env, true, false, false);
	rr = th_region_add(&env, true, false, false);
	atomic_store(&env.fs.size, 64 * DAX_PAGE_SIZE);
	env.f.hook = hook;
	w.env = r.env = &env;
	w.r = rw;
	r.r = rr;

	/* The first thread stops after the filesystem answered. */
	first->stops = 1U << DAX_HOOK_FAULT_MAPPED;
	REQUIRE(pthread_create(&first->thread, NULL, fault_thread, first) ==
		0);
	gate_wait(DAX_HOOK_FAULT_MAPPED);
	allocs_at_stop = atomic_load(&env.fs.allocs);
	CHECK_EQ(allocs_at_stop, writer_first ? 1 : 0);

	/* The second must sleep on the entry, not ask the filesystem. */
	unsigned long iomaps = atomic_load(&env.fs.iomaps);
	REQUIRE(pthread_create(&second->thread, NULL, fault_thread, second) ==
		0);
	wait_sleepers(&env, 1);
	CHECK_EQ(atomic_load(&env.fs.iomaps), iomaps);

	gate_open();
	pthread_join(first->thread, NULL);
	pthread_join(second->thread, NULL);

	CHECK_EQ(w.ret & DAX_FAULT_ERROR_MASK, 0);
	CHECK_EQ(r.ret & DAX_FAULT_ERROR_MASK, 0);
	CHECK_EQ(atomic_load(&env.fs.allocs), 1);
	uint64_t block = th_fs_block_of(&env.fs, 5);
	CHECK(block != TH_HOLE);
	/* The writer's region maps the block writable. */
	CHECK_EQ(rw->ptes[5].kind, TH_BLOCK);
	CHECK_EQ(rw->ptes[5].block, block);
	CHECK(rw->ptes[5].writable);
	if (writer_first) {
		/* The reader found the block. */
		CHECK_EQ(rr->ptes[5].kind, TH_BLOCK);
		CHECK_EQ(rr->ptes[5].block, block);
		CHECK(!rr->ptes[5].writable);
	} else {
		/* The reader's zero page was zapped by the hole fill. */
		CHECK_EQ(rr->ptes[5].kind, TH_NONE);
		CHECK_EQ(DAX_FAULT_STAT(&env.f, hole_fill), 1);
	}
	CHECK(th_entry_dirty(&env.f, 5));
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	printf("part %d: engine, %s first: no error, one block, consistent "
	       "mappings\n",
	       writer_first ? 2 : 3, writer_first ? "writer" : "reader");
	th_env_destroy(&env);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(60);
	part1_demo();
	run_engine(true);
	run_engine(false);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("fault_seed_race");
}
