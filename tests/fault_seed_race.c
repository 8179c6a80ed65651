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
 * Part 1 plays that interleaving with the pre-patch order (look up, then
 * allocate, no entry lock), written here in the test and never in the
 * library: it must fail, with the -EIO of the old dax_radix_entry() and a
 * zero page left mapped over the new block.
 *
 * Part 2 tries the same interleaving on the engine: the writer is stopped
 * right after the filesystem allocated the block, and the reader must then
 * be asleep on the entry lock, not asking the filesystem. Released, both
 * succeed: one block, both regions map it, no zero page, no error.
 *
 * Part 3 is the other order: the reader stopped after the filesystem said
 * "hole", the writer asleep on the entry; the reader maps the zero page,
 * then the writer fills the hole and zaps that zero page everywhere.
 */
#include "test_util.h"

#include <errno.h>

#include "fault_harness.h"

/* ---- a gate: one thread parks at a hook until the test releases it ---- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum dax_hook_point point;
	pthread_t who;
	bool armed, arrived, released;
};

static struct gate gate = { .lock = PTHREAD_MUTEX_INITIALIZER,
			    .cond = PTHREAD_COND_INITIALIZER };

static void gate_arm(enum dax_hook_point point, pthread_t who)
{
	pthread_mutex_lock(&gate.lock);
	gate.point = point;
	gate.who = who;
	gate.armed = true;
	gate.arrived = gate.released = false;
	pthread_mutex_unlock(&gate.lock);
}

static void gate_hook(struct dax_fmap *f, enum dax_hook_point point,
		      uint64_t index, void *arg)
{
	(void)f;
	(void)index;
	(void)arg;
	pthread_mutex_lock(&gate.lock);
	if (gate.armed && point == gate.point &&
	    pthread_equal(gate.who, pthread_self())) {
		gate.armed = false;
		gate.arrived = true;
		pthread_cond_broadcast(&gate.cond);
		while (!gate.released)
			pthread_cond_wait(&gate.cond, &gate.lock);
	}
	pthread_mutex_unlock(&gate.lock);
}

static void gate_wait_arrived(void)
{
	pthread_mutex_lock(&gate.lock);
	while (!gate.arrived)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_release(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.released = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* ---- fault threads ---- */

struct fault_job {
	struct th_env *env;
	struct th_region *r;
	uint64_t index;
	bool write;
	int ret;
	pthread_t thread;
	bool started;
	pthread_mutex_t *start_lock; /* held by the test until it arms */
};

static void *fault_thread(void *arg)
{
	struct fault_job *j = arg;
	struct dax_vmf vmf = {
		.region = j->r,
		.index = j->index,
		.flags = (j->write ? DAX_VMF_WRITE : 0) | DAX_VMF_SHARED,
	};

	pthread_mutex_lock(j->start_lock);
	pthread_mutex_unlock(j->start_lock);
	j->ret = dax_pte_fault(&j->env->f, &vmf);
	return NULL;
}

static void wait_for_sleepers(struct th_env *env, unsigned long n)
{
	while (atomic_load(&env->f.m.stats.waits) < n)
		usleep(100);
}

/* ---- part 1: the pre-patch order, in the test only ---- */

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

static void part1_racy(void)
{
	struct th_env env;
	struct th_region *ra, *rb;
	struct dax_iomap m0, m1, alloc;
	enum old_slot slot = OLD_NONE;
	const uint64_t index = 3;
	int before = th_violations(), err;

	printf("part 1: the INVARIANT VIOLATION lines below are expected\n");
	fflush(stdout);
	REQUIRE(th_env_init(&env, 64, 64) == 0);
	ra = th_region_add(&env, true, false, false);
	rb = th_region_add(&env, true, false, false);
	atomic_store(&env.fs.size, 64 * DAX_PAGE_SIZE);

	/* CPU0: look up -> hole. CPU1: look up -> hole. */
	REQUIRE(th_fs_ops.iomap_begin(&env.fs, index, 1, 0, &m0) == 0);
	REQUIRE(th_fs_ops.iomap_begin(&env.fs, index, 1, 0, &m1) == 0);
	CHECK_EQ(m0.type, DAX_IOMAP_HOLE);
	CHECK_EQ(m1.type, DAX_IOMAP_HOLE);
	/* CPU0: allocate. */
	REQUIRE(th_fs_ops.iomap_begin(&env.fs, index, 1, DAX_IOMAP_WRITE,
				      &alloc) == 0);
	CHECK_EQ(alloc.type, DAX_IOMAP_MAPPED);
	/* CPU1: still believes in the hole: maps the zero page. */
	slot = OLD_HOLE_PAGE;
	th_vm_ops.insert(&env.vm, rb, index, 0, 0, DAX_VM_ZERO, NULL);
	/* CPU0: insert its block. */
	err = old_insert_block(&slot);
	CHECK_EQ(err, -EIO);
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
	CHECK(th_violations() > before);
	printf("part 1: pre-patch order fails as in the seed (-EIO, %d "
	       "invariant violations)\n",
	       th_violations() - before);
	th_env_destroy(&env);
	atomic_store(&th_violation_count, before);
}

/* ---- parts 2 and 3: the engine ---- */

static void run_engine(bool writer_first)
{
	struct th_env env;
	struct th_region *rw, *rr;
	pthread_mutex_t start = PTHREAD_MUTEX_INITIALIZER;
	struct fault_job w = { .write = true, .index = 5 };
	struct fault_job r = { .write = false, .index = 5 };
	struct fault_job *first = writer_first ? &w : &r;
	struct fault_job *second = writer_first ? &r : &w;
	unsigned long allocs_at_stop;

	REQUIRE(th_env_init(&env, 64, 64) == 0);
	rw = th_region_add(&env, true, false, false);
	rr = th_region_add(&env, true, false, false);
	atomic_store(&env.fs.size, 64 * DAX_PAGE_SIZE);
	env.f.hook = gate_hook;
	w.env = r.env = &env;
	w.r = rw;
	r.r = rr;
	w.start_lock = r.start_lock = &start;

	/* The first thread stops after the filesystem answered. */
	pthread_mutex_lock(&start);
	REQUIRE(pthread_create(&first->thread, NULL, fault_thread, first) ==
		0);
	gate_arm(DAX_HOOK_FAULT_MAPPED, first->thread);
	pthread_mutex_unlock(&start);
	gate_wait_arrived();
	allocs_at_stop = atomic_load(&env.fs.allocs);
	CHECK_EQ(allocs_at_stop, writer_first ? 1 : 0);

	/* The second must sleep on the entry, not ask the filesystem. */
	unsigned long iomaps = atomic_load(&env.fs.iomaps);
	REQUIRE(pthread_create(&second->thread, NULL, fault_thread, second) ==
		0);
	wait_for_sleepers(&env, 1);
	CHECK_EQ(atomic_load(&env.fs.iomaps), iomaps);

	gate_release();
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
	part1_racy();
	run_engine(true);
	run_engine(false);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("fault_seed_race");
}
