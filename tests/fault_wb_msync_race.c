/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_wb_msync_race - two msyncs and a store, in the order the SPIN
 * model (model/writeback.pml, BUG_WB_TOWRITE_FIRST) found: an msync must
 * not return before the store it owes is durable, even when another msync
 * is writing the page back at that moment.
 *
 * A stamp is stored through a shared mapping (the entry is DIRTY). msync
 * B tags the page TOWRITE and is stopped there (WB_TAGGED). msync A tags
 * it too (already TOWRITE), locks the entry, write-protects the page and
 * is stopped before its flush (WB_CLEANED). Then B goes on: it finds the
 * page still owed (TOWRITE is cleared only after the flush) and must sleep
 * on the entry lock until A has flushed. A writeback that clears TOWRITE
 * before its flush lets B find nothing owed and return with the store not
 * yet durable: B checks the block's flush log the moment it returns.
 *
 * Each thread stops at its own hook point (two threads are parked at once
 * here, which tests/harness/hook_gate.h does not do). Run in both builds.
 */
#include "test_util.h"

#include <sched.h>
#include <stdatomic.h>

#include "fault_harness.h"

#define NR_PAGES 64
#define PAGE 9

/* Where the calling thread stops, once; the test lets it go. */
struct stop {
	int point;
	atomic_bool arrived;
	atomic_bool go;
};

static __thread struct stop *my_stop;

static void hook(struct dax_fmap *f, enum dax_hook_point point,
		 uint64_t index, void *arg)
{
	struct stop *s = my_stop;

	(void)f;
	(void)index;
	(void)arg;
	if (!s || s->point != (int)point)
		return;
	my_stop = NULL;
	atomic_store(&s->arrived, true);
	while (!atomic_load(&s->go))
		sched_yield();
}

struct msync {
	pthread_t thread;
	struct th_env *env;
	struct stop stop;
	int ret;
	bool durable_at_return; /* the page's block, when msync returned */
	atomic_bool done;
};

static void *msync_main(void *arg)
{
	struct msync *ms = arg;
	struct th_fs *fs = &ms->env->fs;

	my_stop = &ms->stop;
	ms->ret = dax_writeback(&ms->env->f, PAGE, PAGE);
	ms->durable_at_return = th_block_durable(fs, th_fs_block_of(fs, PAGE));
	atomic_store(&ms->done, true);
	return NULL;
}

static void start(struct msync *ms, struct th_env *env,
		  enum dax_hook_point at)
{
	ms->env = env;
	ms->stop.point = (int)at;
	REQUIRE(pthread_create(&ms->thread, NULL, msync_main, ms) == 0);
	while (!atomic_load(&ms->stop.arrived))
		sched_yield();
}

int main(int argc, char **argv)
{
	static struct msync a, b;
	struct th_env env;
	struct th_region *r;
	uint64_t v = 0;
	unsigned long waits;
	double end;

	t_init(argc, argv);
	t_watchdog(t_long ? 900 : 60);
	REQUIRE(th_env_init(&env, NR_PAGES, NR_PAGES) == 0);
	r = th_region_add(&env, true, false, false);
	REQUIRE(r);
	atomic_store(&env.fs.size, NR_PAGES * DAX_PAGE_SIZE);
	env.f.hook = hook;
	REQUIRE(th_fs_track_durable(&env) == 0);

	/* The store: a write fault, the page DIRTY and writable. */
	v = th_stamp(PAGE, 1);
	CHECK_EQ(th_access(&env, r, PAGE, 0, true, &v), 0);
	CHECK(th_entry_dirty(&env.f, PAGE));
	CHECK(!th_block_durable(&env.fs, th_fs_block_of(&env.fs, PAGE)));

	start(&b, &env, DAX_HOOK_WB_TAGGED); /* B owes the page */
	start(&a, &env, DAX_HOOK_WB_CLEANED); /* A holds it, not flushed */
	CHECK(!r->ptes[PAGE].writable);
	CHECK(!th_block_durable(&env.fs, th_fs_block_of(&env.fs, PAGE)));

	waits = atomic_load(&env.f.m.stats.waits);
	atomic_store(&b.stop.go, true);
	/* B must now sleep on A's entry lock; it must not return. */
	end = t_now() + 10;
	while (!atomic_load(&b.done) &&
	       atomic_load(&env.f.m.stats.waits) == waits && t_now() < end)
		sched_yield();
	if (atomic_load(&b.done)) {
		fprintf(stderr, "msync B returned while msync A had not "
				"flushed the page B owes (durable: %d)\n",
			b.durable_at_return);
		CHECK(b.durable_at_return);
	} else {
		CHECK(atomic_load(&env.f.m.stats.waits) > waits);
	}

	atomic_store(&a.stop.go, true);
	REQUIRE(pthread_join(a.thread, NULL) == 0);
	REQUIRE(pthread_join(b.thread, NULL) == 0);
	CHECK_EQ(a.ret, 0);
	CHECK_EQ(b.ret, 0);
	CHECK(a.durable_at_return);
	CHECK(b.durable_at_return);
	CHECK(!th_entry_dirty(&env.f, PAGE));
	CHECK_EQ(th_block_flushes(&env.fs, th_fs_block_of(&env.fs, PAGE)), 1);
	th_check_quiescent(&env);
	CHECK_EQ(th_violations(), 0);
	th_env_destroy(&env);
	dax_rcu_barrier();
	return t_done("fault_wb_msync_race");
}
