/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock_remove - removing or replacing a locked entry wakes ALL its
 * waiters, and each of them looks the index up again.
 *
 *  - Delete: NR_WAITERS threads sleep on a locked, block-mapped entry;
 *    the holder erases it with dax_entry_delete_locked. All are woken by that
 *    one call. With grab, the first inserts a fresh EMPTY entry and the
 *    others take it in turn (or each deletes and the next inserts again);
 *    none ever sees the old block. With DAX_GRAB_EXISTING each gets
 *    -ENOENT. The erased entry is the only one in the tree, so its nodes
 *    are freed (an RCU barrier hurries that) while the waiters wake: a
 *    waiter that reused its old slot pointer would touch freed memory,
 *    which ASan reports.
 *  - Replace: waiters on a locked EMPTY entry that is replaced by a ZERO
 *    entry (the review's "hole page replaced the lock entry, who wakes
 *    the waiters?") all wake at once and find the ZERO entry; grabbers
 *    lock it, lookers see it with get_unlocked.
 *  - Two dax_entry_delete() calls on one index, forced to overlap and
 *    then racing freely: exactly one returns 1.
 *  - dax_entry_invalidate() racing with grabbers that make the entry
 *    dirty or clean: a dirty entry is never erased, a clean one may be,
 *    and every erase is followed by exactly one fresh insert.
 *
 * Bugs it catches: delete or replace waking only one waiter (or none:
 * the seed's missed wake-up when a hole page replaced the entry), which
 * shows up as a short wake-up count or a hang; a waiter that trusts its
 * stale slot after waking (use after free, or it locks an erased
 * entry); a grab that returns the erased entry; delete returning 1 for
 * an entry another delete already erased; invalidate erasing an entry
 * that is tagged DIRTY or TOWRITE, or erasing it without the entry lock.
 */
#include "lock_util.h"

#define NR_WAITERS 6
#define R 4242 /* the index everything here happens at */

static struct dax_mapping m;

enum waiter_mode {
	W_GRAB,	       /* dax_entry_grab(), then unlock */
	W_GRAB_DELETE, /* dax_entry_grab(), then dax_entry_delete_locked() */
	W_EXISTING,    /* dax_entry_grab(DAX_GRAB_EXISTING), then unlock */
	W_LOOK,	       /* dax_entry_get_unlocked() + put_unlocked() */
};

struct waiter {
	pthread_t thread;
	int id;
	enum waiter_mode mode;
	int err;	  /* what grab returned */
	dax_entry_t seen; /* the entry it got (lock bits cleared) */
};

static atomic_int owner;

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;
	DAX_CURSOR(cur, R, &m.idx, 0);
	dax_entry_t e = 0;
	int prev;

	if (w->mode == W_LOOK) {
		e = dax_entry_get_unlocked(&m, &cur);
		w->err = 0;
		w->seen = e & ~(DAX_ENTRY_LOCKED | DAX_ENTRY_WAITERS);
		dax_entry_put_unlocked(&m, &cur);
		return NULL;
	}
	w->err = dax_entry_grab(
	    &m, &cur, w->mode == W_EXISTING ? DAX_GRAB_EXISTING : 0, &e);
	if (w->err)
		return NULL;
	CHECK(dax_entry_locked(e));
	w->seen = e & ~(DAX_ENTRY_LOCKED | DAX_ENTRY_WAITERS);
	prev = t_owner_swap(&owner, w->id + 1);
	CHECK_EQ(prev, 0);
	prev = t_owner_swap(&owner, 0);
	CHECK_EQ(prev, w->id + 1);
	if (w->mode == W_GRAB_DELETE)
		dax_entry_delete_locked(&m, &cur);
	else
		dax_entry_unlock(&m, &cur);
	return NULL;
}

/* Lock R as @kind, start the waiters, return once all of them sleep. */
static void hold_with_waiters(struct dax_cursor *cur, dax_entry_t kind,
			      struct waiter *w, const enum waiter_mode *modes)
{
	unsigned long waits = t_stat(&m.stats.waits);
	dax_entry_t e;

	dax_cursor_set(cur, R, 0);
	REQUIRE(dax_entry_grab(&m, cur, 0, &e) == 0);
	REQUIRE(dax_entry_is_empty(e));
	if (!dax_entry_is_empty(kind))
		dax_entry_update(&m, cur, kind);
	for (int i = 0; i < NR_WAITERS; i++) {
		w[i].id = i;
		w[i].mode = modes[i];
		w[i].err = 1;
		w[i].seen = 0;
		w[i].thread = t_spawn(waiter_fn, &w[i]);
	}
	t_wait_sleepers(&m, waits + NR_WAITERS);
	CHECK(t_load(&m, R, 0, NULL) & DAX_ENTRY_WAITERS);
}

static void test_delete_wakes_all(unsigned int rounds)
{
	static struct waiter w[NR_WAITERS];
	static const enum waiter_mode grab[NR_WAITERS] = {
	    W_GRAB, W_GRAB, W_GRAB, W_GRAB, W_GRAB, W_GRAB,
	};
	static const enum waiter_mode grab_delete[NR_WAITERS] = {
	    W_GRAB_DELETE, W_GRAB_DELETE, W_GRAB_DELETE,
	    W_GRAB_DELETE, W_GRAB_DELETE, W_GRAB_DELETE,
	};
	static const enum waiter_mode existing[NR_WAITERS] = {
	    W_EXISTING, W_EXISTING, W_EXISTING,
	    W_EXISTING, W_EXISTING, W_EXISTING,
	};
	static const enum waiter_mode *const modes[] = {grab, grab_delete,
							existing};
	const dax_entry_t old = dax_mk_entry(77, 0);
	DAX_CURSOR(cur, R, &m.idx, 0);

	for (unsigned int r = 0; r < rounds; r++) {
		const enum waiter_mode *mode = modes[r % 3];
		unsigned long wakeups, inserts;

		REQUIRE(m.idx.nr_entries == 0);
		hold_with_waiters(&cur, old, w, mode);
		wakeups = t_stat(&m.stats.wakeups);
		inserts = t_stat(&m.stats.inserts);
		dax_entry_delete_locked(&m, &cur);
		/*
		 * Every waiter was woken by the delete itself (woken ones may
		 * already be waking each other: at least, not exactly).
		 */
		CHECK(t_stat(&m.stats.wakeups) - wakeups >= NR_WAITERS);
		/* Let the tree's nodes be freed while the waiters retry. */
		dax_rcu_barrier();
		for (int i = 0; i < NR_WAITERS; i++) {
			t_join(w[i].thread);
			if (mode == existing) {
				CHECK_EQ(w[i].err, -ENOENT);
				continue;
			}
			CHECK_EQ(w[i].err, 0);
			/* A fresh EMPTY entry, never the erased one. */
			CHECK_EQ(w[i].seen, dax_mk_entry(0, DAX_ENTRY_EMPTY));
		}
		CHECK_EQ(atomic_load(&owner), 0);
		if (mode == grab) {
			/* One insert; the others found it. */
			CHECK_EQ(t_stat(&m.stats.inserts) - inserts, 1);
			CHECK_EQ(t_load(&m, R, 0, NULL),
				 dax_mk_entry(0, DAX_ENTRY_EMPTY));
			CHECK_EQ(dax_entry_delete(&m, R), 1);
		} else if (mode == grab_delete) {
			/* Each found the previous one's entry gone. */
			CHECK_EQ(t_stat(&m.stats.inserts) - inserts,
				 NR_WAITERS);
		} else {
			CHECK_EQ(t_stat(&m.stats.inserts), inserts);
			/* Nobody slept twice or was woken twice. */
			CHECK_EQ(t_stat(&m.stats.wakeups) - wakeups,
				 NR_WAITERS);
		}
		CHECK_EQ(t_load(&m, R, 0, NULL), 0);
		CHECK_EQ(m.idx.nr_entries, 0);
		CHECK_EQ(m.idx.nr_nodes, 0);
	}
}

static void test_replace_wakes_all(unsigned int rounds)
{
	static struct waiter w[NR_WAITERS];
	static const enum waiter_mode mixed[NR_WAITERS] = {
	    W_GRAB, W_LOOK, W_EXISTING, W_GRAB, W_LOOK, W_EXISTING,
	};
	DAX_CURSOR(cur, R, &m.idx, 0);

	for (unsigned int r = 0; r < rounds; r++) {
		/* The hole case of the review, then a block-mapped one. */
		dax_entry_t new = (r & 1) ? dax_mk_entry(55, 0)
					  : dax_mk_entry(0, DAX_ENTRY_ZERO);
		unsigned long wakeups, inserts;

		REQUIRE(m.idx.nr_entries == 0);
		hold_with_waiters(&cur, dax_mk_entry(0, DAX_ENTRY_EMPTY), w,
				  mixed);
		wakeups = t_stat(&m.stats.wakeups);
		inserts = t_stat(&m.stats.inserts);
		dax_entry_replace(&m, &cur, new);
		/* All woken by the replace itself (see the delete test). */
		CHECK(t_stat(&m.stats.wakeups) - wakeups >= NR_WAITERS);
		for (int i = 0; i < NR_WAITERS; i++) {
			t_join(w[i].thread);
			CHECK_EQ(w[i].err, 0);
			CHECK_EQ(w[i].seen, new);
		}
		CHECK_EQ(t_stat(&m.stats.inserts), inserts);
		CHECK_EQ(t_load(&m, R, 0, NULL), new);
		CHECK_EQ(dax_entry_delete(&m, R), 1);
	}
}

/* Two deleters of one index. */
struct deleter {
	pthread_t thread;
	pthread_barrier_t *start;
	int ret;
};

static void *deleter_fn(void *arg)
{
	struct deleter *d = arg;

	if (d->start)
		pthread_barrier_wait(d->start);
	d->ret = dax_entry_delete(&m, R);
	return NULL;
}

static void make_entry(uint64_t block)
{
	DAX_CURSOR(cur, R, &m.idx, 0);
	dax_entry_t e;

	REQUIRE(dax_entry_grab(&m, &cur, 0, &e) == 0);
	dax_entry_update(&m, &cur, dax_mk_entry(block, 0));
	dax_entry_unlock(&m, &cur);
}

static void test_double_delete(unsigned int forced, unsigned int racing)
{
	struct deleter d[2];
	pthread_barrier_t start;
	DAX_CURSOR(cur, R, &m.idx, 0);
	dax_entry_t e;

	/* Forced: both sleep on the entry before either can delete it. */
	for (unsigned int r = 0; r < forced; r++) {
		unsigned long waits = t_stat(&m.stats.waits);

		make_entry(r + 1);
		dax_cursor_set(&cur, R, 0);
		REQUIRE(dax_entry_grab(&m, &cur, 0, &e) == 0);
		for (int i = 0; i < 2; i++) {
			d[i].start = NULL;
			d[i].ret = -1;
			d[i].thread = t_spawn(deleter_fn, &d[i]);
		}
		t_wait_sleepers(&m, waits + 2);
		dax_entry_unlock(&m, &cur);
		for (int i = 0; i < 2; i++)
			t_join(d[i].thread);
		CHECK_EQ(d[0].ret + d[1].ret, 1);
		CHECK(d[0].ret == 0 || d[0].ret == 1);
		CHECK(d[1].ret == 0 || d[1].ret == 1);
		CHECK_EQ(t_load(&m, R, 0, NULL), 0);
	}

	/* Racing freely, released together by a barrier. */
	REQUIRE(pthread_barrier_init(&start, NULL, 3) == 0);
	for (unsigned int r = 0; r < racing; r++) {
		make_entry(r + 1);
		for (int i = 0; i < 2; i++) {
			d[i].start = &start;
			d[i].ret = -1;
			d[i].thread = t_spawn(deleter_fn, &d[i]);
		}
		pthread_barrier_wait(&start);
		for (int i = 0; i < 2; i++)
			t_join(d[i].thread);
		CHECK_EQ(d[0].ret + d[1].ret, 1);
		CHECK_EQ(t_load(&m, R, 0, NULL), 0);
	}
	pthread_barrier_destroy(&start);
	CHECK_EQ(m.idx.nr_entries, 0);
}

/* Invalidate against grabbers that dirty and clean the entry. */
static struct {
	bool dirty;	/* entry tagged DIRTY or TOWRITE; under its lock */
	uint64_t block; /* block the last holder stored; under its lock */
	uint64_t fresh; /* EMPTY entries found (each one an insert) */
} inv;
static atomic_int grabbers_done;
static uint64_t next_block;

struct grabber {
	pthread_t thread;
	struct t_rng rng;
	uint64_t iters;
};

static void *grabber_fn(void *arg)
{
	struct grabber *g = arg;

	for (uint64_t i = 0; i < g->iters; i++) {
		DAX_CURSOR(cur, R, &m.idx, 0);
		dax_entry_t e;
		uint64_t how = t_rand_below(&g->rng, 4);

		REQUIRE(dax_entry_grab(&m, &cur, 0, &e) == 0);
		if (dax_entry_is_empty(e)) {
			/* Only a clean entry may have been invalidated. */
			CHECK(!inv.dirty);
			inv.fresh++;
		} else {
			CHECK_EQ(dax_entry_block(e), inv.block);
		}
		inv.block = ++next_block;
		dax_entry_update(&m, &cur, dax_mk_entry(inv.block, 0));
		dax_entry_tag_clear(&m, &cur, DAX_TAG_DIRTY);
		dax_entry_tag_clear(&m, &cur, DAX_TAG_TOWRITE);
		inv.dirty = how < 2;
		if (how == 0)
			dax_entry_tag_set(&m, &cur, DAX_TAG_DIRTY);
		else if (how == 1)
			dax_entry_tag_set(&m, &cur, DAX_TAG_TOWRITE);
		if (t_rand_below(&g->rng, 8) == 0)
			sched_yield();
		dax_entry_unlock(&m, &cur);
	}
	atomic_fetch_add(&grabbers_done, 1);
	return NULL;
}

static void test_invalidate_race(uint64_t iters)
{
	struct grabber g[2];
	uint64_t erased = 0, kept = 0;
	unsigned long inserts = t_stat(&m.stats.inserts);
	dax_entry_t e;

	REQUIRE(m.idx.nr_entries == 0);
	inv.dirty = false;
	inv.fresh = 0;
	atomic_store(&grabbers_done, 0);
	for (int i = 0; i < 2; i++) {
		t_rng_init(&g[i].rng, t_seed ^ (0x1000 + (uint64_t)i));
		g[i].iters = iters;
		g[i].thread = t_spawn(grabber_fn, &g[i]);
	}
	/* This thread is the invalidator, until both grabbers are done. */
	while (atomic_load(&grabbers_done) < 2) {
		if (dax_entry_invalidate(&m, R))
			erased++;
		else
			kept++;
	}
	for (int i = 0; i < 2; i++)
		t_join(g[i].thread);
	e = t_load(&m, R, 0, NULL);
	/* Every erase was followed by one insert, and nothing else inserts. */
	CHECK_EQ(t_stat(&m.stats.inserts) - inserts, inv.fresh);
	CHECK_EQ(inv.fresh, erased + (e ? 1 : 0));
	if (e)
		CHECK_EQ(dax_entry_block(e), inv.block);
	printf("lock_remove: invalidate erased %" PRIu64 ", kept %" PRIu64 "\n",
	       erased, kept);
	if (e)
		CHECK_EQ(dax_entry_delete(&m, R), 1);
}

int main(int argc, char **argv)
{
	unsigned int rounds;

	t_init(argc, argv);
	t_watchdog(t_long ? 900 : 60);
	rounds = t_long ? 600 : 30;
	REQUIRE(dax_mapping_init(&m) == 0);

	test_delete_wakes_all(rounds);
	test_replace_wakes_all(rounds);
	test_double_delete(rounds, t_long ? 20000 : 500);
	test_invalidate_race(t_long ? 500000 : 20000);

	t_check_all_idle(&m);
	CHECK_EQ(m.idx.nr_entries, 0);
	dax_mapping_destroy(&m);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("lock_remove");
}
