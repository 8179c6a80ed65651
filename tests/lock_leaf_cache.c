/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock_leaf_cache - the entry lock's fast path (a CAS in the thread's
 * cached, pinned leaf, with no RCU section) against leaves leaving the
 * tree under it.
 *
 * Part 1, one thread, forced order: grab+unlock an entry (its leaf is
 * cached and pinned), erase every entry of that leaf (the leaf leaves the
 * tree), let its grace period pass: the leaf must still be allocated
 * (live node count one above the tree's), grab at the same index must
 * not lock anything in the dead leaf but insert a fresh EMPTY entry in a
 * new one, and moving the cache on must free the dead leaf. A leaf freed
 * while pinned is a use-after-free (ASan) and a wrong count here.
 *
 * Part 2, threads: NR_GRABBERS threads grab+unlock indexes of one leaf in
 * a loop (mostly the fast path), each claiming an owner word under the
 * lock and bumping the entry's block; an eraser thread keeps deleting
 * every entry of that leaf, so the leaf leaves the tree again and again
 * while the grabbers cache it. Grabbers exit with a dead leaf cached
 * (their exit must free it). At the end: no double owner, counts add up,
 * every live node is in the tree. Run under ASan and TSan.
 */
#include "lock_util.h"

#define NR_GRABBERS 2
#define LEAF 5 /* indexes [LEAF * fan-out, +NR_IDX) share a shift-0 node */
#define NR_IDX 4

static struct dax_mapping m;
static atomic_int owner[NR_IDX];
static atomic_bool stop;

static uint64_t idx_of(int i)
{
	return (uint64_t)LEAF * DAX_IDX_FANOUT + (uint64_t)i;
}

static void grab_unlock(uint64_t index, dax_entry_t *ep)
{
	DAX_CURSOR(cur, index, &m.idx, 0);

	REQUIRE(dax_entry_grab(&m, &cur, 0, ep) == 0);
	dax_entry_unlock(&m, &cur);
}

/* dax_rcu_barrier() drops the caller's cache: run it on another thread. */
static void *barrier_fn(void *arg)
{
	(void)arg;
	dax_rcu_barrier();
	return NULL;
}

static void part1(void)
{
	DAX_CURSOR(cur, idx_of(1), &m.idx, 0);
	dax_entry_t e;
	long live;

	for (int i = 0; i < NR_IDX; i++) {
		DAX_CURSOR(c, idx_of(i), &m.idx, 0);

		REQUIRE(dax_entry_grab(&m, &c, 0, &e) == 0);
		dax_entry_update(&m, &c, dax_mk_entry(100 + (uint64_t)i, 0));
		dax_entry_unlock(&m, &c);
	}
	/* A far entry keeps the tree (and its upper nodes) alive. */
	grab_unlock(1 << 20, &e);
	dax_rcu_barrier();
	/* The second grab is the fast path, on the cached leaf. */
	grab_unlock(idx_of(1), &e);
	grab_unlock(idx_of(1), &e);
	CHECK_EQ(dax_entry_block(e), 101);
	CHECK(!dax_entry_is_empty(e));

	for (int i = 0; i < NR_IDX; i++)
		CHECK_EQ(dax_entry_delete(&m, idx_of(i)), 1);
	/* Grace period over, callbacks run, our cache untouched. */
	t_join(t_spawn(barrier_fn, NULL));
	live = dax_idx_live_nodes();
	CHECK_EQ(live, (long)m.idx.nr_nodes + 1);

	/* Nothing to lock in the dead leaf: a fresh entry, in a new leaf. */
	REQUIRE(dax_entry_grab(&m, &cur, 0, &e) == 0);
	CHECK(dax_entry_is_empty(e));
	CHECK(cur.node != NULL);
	dax_entry_update(&m, &cur, dax_mk_entry(7, 0));
	dax_entry_unlock(&m, &cur);
	grab_unlock(idx_of(1), &e); /* caches the new leaf, frees the old */
	CHECK_EQ(dax_entry_block(e), 7);
	CHECK_EQ(dax_idx_live_nodes(), (long)m.idx.nr_nodes);
	CHECK_EQ(dax_entry_delete(&m, idx_of(1)), 1);
	CHECK_EQ(dax_entry_delete(&m, 1 << 20), 1);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
}

struct grabber {
	pthread_t thread;
	int id;
	struct t_rng rng;
	uint64_t grabs[NR_IDX];
};

static void *grabber_fn(void *arg)
{
	struct grabber *g = arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int i = (int)t_rand_below(&g->rng, NR_IDX);
		DAX_CURSOR(cur, idx_of(i), &m.idx, 0);
		dax_entry_t e;

		REQUIRE(dax_entry_grab(&m, &cur, 0, &e) == 0);
		CHECK_EQ(t_owner_swap(&owner[i], g->id + 1), 0);
		e = dax_entry_update(&m, &cur,
				     dax_mk_entry(dax_entry_block(e) + 1, 0));
		CHECK_EQ(t_owner_swap(&owner[i], 0), g->id + 1);
		dax_entry_unlock(&m, &cur);
		g->grabs[i]++;
	}
	return NULL;
}

static void *eraser_fn(void *arg)
{
	uint64_t *rounds = arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < NR_IDX; i++)
			dax_entry_delete(&m, idx_of(i));
		(*rounds)++;
		sched_yield();
	}
	return NULL;
}

static void part2(double secs)
{
	static struct grabber g[NR_GRABBERS];
	uint64_t rounds = 0, grabs = 0;
	pthread_t eraser;
	dax_entry_t e;
	double end;

	grab_unlock(1 << 20, &e);
	for (int i = 0; i < NR_GRABBERS; i++) {
		g[i].id = i;
		t_rng_init(&g[i].rng, t_seed + (uint64_t)i);
		g[i].thread = t_spawn(grabber_fn, &g[i]);
	}
	eraser = t_spawn(eraser_fn, &rounds);
	end = t_now() + secs;
	while (t_now() < end)
		t_relax();
	atomic_store(&stop, true);
	for (int i = 0; i < NR_GRABBERS; i++) {
		t_join(g[i].thread);
		for (int k = 0; k < NR_IDX; k++)
			grabs += g[i].grabs[k];
	}
	t_join(eraser);
	CHECK(rounds > 0);
	CHECK(grabs > 0);
	for (int i = 0; i < NR_IDX; i++)
		CHECK_EQ(atomic_load(&owner[i]), 0);
	t_check_all_idle(&m);
	dax_rcu_barrier();
	/* The grabbers' exits dropped their pins: no leaf is left over. */
	CHECK_EQ(dax_idx_live_nodes(), (long)m.idx.nr_nodes);
	printf("lock_leaf_cache: %" PRIu64 " grabs, %" PRIu64
	       " erase rounds, %lu sleeps\n",
	       grabs, rounds, t_stat(&m.stats.waits));
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(t_long ? 900 : 60);
	REQUIRE(dax_mapping_init(&m) == 0);
	dax_rcu_thread_online();
	part1();
	part2(t_long ? 30.0 : 1.0);
	dax_mapping_destroy(&m);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("lock_leaf_cache");
}
