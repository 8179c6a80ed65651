/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock_mutex - the entry lock is a mutex: while a thread holds the lock
 * on an index, no other thread holds it, and what the holder wrote is
 * seen by the next holder.
 *
 * NR_THREADS threads hammer grab/unlock on a few indexes at once: one
 * index, its neighbours in the same index node (the same shift-0 node in
 * both builds), and two indexes whose wait keys share a bucket with the
 * first (every index does in the one-bucket _small build). Holding the
 * lock, a thread claims a per-index owner word (nobody else may have it),
 * checks that the entry carries the count of the last holder, and bumps
 * a plain (non-atomic) per-index counter across a yield. Some threads
 * delete the entry instead of unlocking, so the next grab inserts a fresh
 * one; some only look with get_unlocked/put_unlocked. At the end each
 * counter equals the grabs made on its index.
 *
 * Bugs it catches: a lock CAS that can succeed on a locked entry, an
 * unlock or a WAITERS update that loses a concurrent change of the word
 * (two owners, or a stale block), a missing acquire/release pairing
 * (lost counter updates; TSan reports the race), a grab that inserts a
 * second entry over one that exists, a woken waiter that takes the lock
 * without re-checking, and a lost wake-up (the watchdog fires).
 */
#include "lock_util.h"

#define NR_THREADS 4
#define NR_NEAR 6	     /* neighbours in one node, from BASE */
#define NR_IDX (NR_NEAR + 2) /* + two bucket-mates of BASE */
#define BASE 320 /* = 5 * 64: starts a shift-0 node in both builds */

struct slot_state {
	uint64_t index;
	uint64_t count;	  /* grabs so far; under the entry lock */
	bool deleted;	  /* last holder erased the entry; under the lock */
	atomic_int owner; /* 1 + id of the thread holding the lock, or 0 */
};

static struct dax_mapping m;
static struct slot_state st[NR_IDX];
static uint64_t iters;

struct worker {
	pthread_t thread;
	int id;
	struct t_rng rng;
	uint64_t grabs[NR_IDX];
	uint64_t looks;
};

static void hold_and_count(struct worker *w, struct slot_state *s,
			   struct dax_cursor *cur, dax_entry_t e)
{
	uint64_t c;
	dax_entry_t now;
	int prev;

	prev = t_owner_swap(&s->owner, w->id + 1);
	CHECK_EQ(prev, 0);
	CHECK(dax_entry_locked(e));
	/* Waiters may have set WAITERS since; nothing else may change. */
	CHECK(dax_entry_same(t_load(&m, s->index, 0, NULL), e));
	if (dax_entry_is_empty(e))
		CHECK(s->deleted || s->count == 0);
	else
		CHECK_EQ(dax_entry_block(e), s->count);

	/* A read-modify-write split by a yield: only a lock keeps it whole. */
	c = s->count;
	if (t_rand_below(&w->rng, 8) == 0)
		sched_yield();
	s->count = c + 1;
	w->grabs[s - st]++;

	now = dax_entry_update(&m, cur, dax_mk_entry(s->count, 0));
	CHECK(dax_entry_locked(now));
	CHECK_EQ(dax_entry_block(now), s->count);
	CHECK_EQ(atomic_load_explicit(&s->owner, memory_order_relaxed),
		 w->id + 1);

	if (t_rand_below(&w->rng, 8) == 0) {
		s->deleted = true;
		prev = t_owner_swap(&s->owner, 0);
		CHECK_EQ(prev, w->id + 1);
		dax_entry_delete_locked(&m, cur);
	} else {
		s->deleted = false;
		prev = t_owner_swap(&s->owner, 0);
		CHECK_EQ(prev, w->id + 1);
		dax_entry_unlock(&m, cur);
	}
}

static void grab_one(struct worker *w, struct slot_state *s, unsigned int flags)
{
	DAX_CURSOR(cur, s->index, &m.idx, 0);
	dax_entry_t e;
	int err;

	err = dax_entry_grab(&m, &cur, flags, &e);
	if (err == -ENOENT && (flags & DAX_GRAB_EXISTING))
		return; /* deleted by someone else: fine */
	CHECK_EQ(err, 0);
	if (err)
		return;
	hold_and_count(w, s, &cur, e);
}

static void look_one(struct worker *w, struct slot_state *s)
{
	DAX_CURSOR(cur, s->index, &m.idx, 0);
	dax_entry_t e;

	e = dax_entry_get_unlocked(&m, &cur);
	CHECK(!dax_entry_locked(e));
	dax_entry_put_unlocked(&m, &cur);
	w->looks++;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	/* First op: index BASE, which main holds until we all sleep on it. */
	grab_one(w, &st[0], 0);
	for (uint64_t i = 1; i < iters; i++) {
		struct slot_state *s = &st[t_rand_below(&w->rng, NR_IDX)];
		uint64_t op = t_rand_below(&w->rng, 16);

		if (op < 2)
			look_one(w, s);
		else if (op < 4)
			grab_one(w, s, DAX_GRAB_EXISTING);
		else
			grab_one(w, s, 0);
	}
	return NULL;
}

/* Two more indexes whose wait keys share a bucket with BASE. */
static void pick_bucket_mates(void)
{
	struct dax_wait_bucket *b = dax_wait_bucket(&m, BASE);
	int found = 0;

	for (uint64_t i = BASE + 4096; found < 2 && i < BASE + (1 << 24); i++)
		if (dax_wait_bucket(&m, i) == b)
			st[NR_NEAR + found++].index = i;
	REQUIRE(found == 2);
}

int main(int argc, char **argv)
{
	static struct worker w[NR_THREADS];
	DAX_CURSOR(cur, BASE, &m.idx, 0);
	uint64_t total = 0, counted = 0;
	dax_entry_t e;

	t_init(argc, argv);
	t_watchdog(t_long ? 900 : 60);
	iters = t_long ? 2000000 : 100000;
	REQUIRE(dax_mapping_init(&m) == 0);
	for (int i = 0; i < NR_NEAR; i++)
		st[i].index = BASE + (uint64_t)i;
	pick_bucket_mates();

	/* Everybody starts by sleeping on BASE, which we hold. */
	REQUIRE(dax_entry_grab(&m, &cur, 0, &e) == 0);
	for (int i = 0; i < NR_THREADS; i++) {
		w[i].id = i;
		t_rng_init(&w[i].rng, t_seed + (uint64_t)i);
		w[i].thread = t_spawn(worker_fn, &w[i]);
	}
	t_wait_sleepers(&m, NR_THREADS);
	/* Still ours: nobody got in while we held it. */
	CHECK_EQ(atomic_load(&st[0].owner), 0);
	CHECK_EQ(st[0].count, 0);
	dax_entry_unlock(&m, &cur);
	for (int i = 0; i < NR_THREADS; i++)
		t_join(w[i].thread);

	for (int i = 0; i < NR_IDX; i++) {
		uint64_t grabs = 0;

		for (int t = 0; t < NR_THREADS; t++)
			grabs += w[t].grabs[i];
		CHECK_EQ(st[i].count, grabs);
		CHECK_EQ(atomic_load(&st[i].owner), 0);
		counted += st[i].count;
		/* The entry, if any, carries the last count. */
		e = t_load(&m, st[i].index, 0, NULL);
		if (e)
			CHECK_EQ(dax_entry_block(e), st[i].count);
	}
	for (int t = 0; t < NR_THREADS; t++) {
		for (int i = 0; i < NR_IDX; i++)
			total += w[t].grabs[i];
		CHECK(w[t].grabs[0] > 0);
	}
	CHECK_EQ(counted, total);
	t_check_all_idle(&m);
	printf("lock_mutex: %" PRIu64 " grabs, %lu sleeps, %lu wake-ups\n",
	       total, t_stat(&m.stats.waits), t_stat(&m.stats.wakeups));

	dax_mapping_destroy(&m);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("lock_mutex");
}
