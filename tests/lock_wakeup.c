/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock_wakeup - no wake-up is lost, wasted on the wrong waiter, or
 * swallowed by a waiter that gives up.
 *
 *  (a) NR_MANY threads sleep on one locked entry; one unlock starts a
 *      chain in which every waiter gets the lock in turn. Each sleeps
 *      exactly once and is woken exactly once: unlock wakes one waiter,
 *      not the herd.
 *  (b) Waiters on two keys that share a wait bucket (any two keys in the
 *      one-bucket _small build; two found with dax_wait_bucket() in the
 *      default one). B's waiters queue first; unlocking A must wake A's
 *      waiters, all of them in turn, while B stays locked and its waiters
 *      stay asleep.
 *  (c) Waiters that only look (get_unlocked) queue before one that grabs.
 *      The unlock wakes the first looker only; each looker's put_unlocked
 *      must pass the wake-up on, or the grabber sleeps for ever.
 *  (e) NR_MANY threads sleep on one locked entry that is then replaced:
 *      all of them are woken at once (each must look at the new value),
 *      not one: the first to get the new entry holds it while we count.
 *  (d) Stress: threads grab, look at and delete a handful of entries
 *      sharing a bucket, with random short holds, in short phases for a
 *      bounded time. Every thread makes progress and finishes each phase,
 *      and at each phase end no entry is locked or has WAITERS set.
 *
 * Bugs it catches: the seed's lost wake-ups (a waker that misses a waiter
 * queued between its check and its wake, WAITERS cleared while a waiter
 * is still queued), a WAKE_NEXT that picks the first waiter of the bucket
 * whatever its key (that waiter goes back to sleep and the wake-up is
 * gone), unlock waking all waiters, replace waking only one, a put_unlocked that does not wake
 * the next waiter, and a waiter that goes to sleep without re-checking
 * the entry once queued (it sleeps on an entry already unlocked). A lost
 * wake-up shows up as a hang: the watchdog, or in (d) the phase deadline,
 * fails the test.
 */
#include "lock_util.h"

#define NR_MANY 12
#define NR_SIDE 4
#define NR_LOOKERS 3
#define NR_STRESS_THREADS 4
#define NR_STRESS_IDX 4

static struct dax_mapping m;

/* One entry that threads take turns on. */
struct target {
	uint64_t index;
	atomic_int owner; /* 1 + thread id while held */
	uint64_t holds;	  /* grabs of it; under its lock */
	atomic_uint done; /* threads that finished with it */
	/* Stepped mode: the n-th holder waits for allowed >= n to unlock. */
	bool stepped;
	atomic_uint acquired;
	atomic_uint allowed;
};

struct waiter {
	pthread_t thread;
	int id;
	struct target *t;
	unsigned int flags; /* for dax_entry_grab() */
};

/* Grab @t, prove we are alone, count, unlock. */
static void take_turn(int id, struct target *t, unsigned int flags)
{
	DAX_CURSOR(cur, t->index, &m.idx, 0);
	dax_entry_t e;
	int prev;

	REQUIRE(dax_entry_grab(&m, &cur, flags, &e) == 0);
	prev = t_owner_swap(&t->owner, id + 1);
	CHECK_EQ(prev, 0);
	t->holds++;
	if (t->stepped) {
		unsigned int n = atomic_fetch_add(&t->acquired, 1) + 1;

		while (atomic_load(&t->allowed) < n)
			t_relax();
	}
	prev = t_owner_swap(&t->owner, 0);
	CHECK_EQ(prev, id + 1);
	dax_entry_unlock(&m, &cur);
}

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;

	take_turn(w->id, w->t, w->flags);
	atomic_fetch_add(&w->t->done, 1);
	return NULL;
}

static void start_waiters(struct waiter *w, int n, int first_id,
			  struct target *t)
{
	for (int i = 0; i < n; i++) {
		w[i].id = first_id + i;
		w[i].t = t;
		w[i].flags = (i & 1) ? DAX_GRAB_EXISTING : 0;
		w[i].thread = t_spawn(waiter_fn, &w[i]);
	}
}

static void hold(struct target *t, struct dax_cursor *cur)
{
	dax_entry_t e;

	dax_cursor_set(cur, t->index, 0);
	REQUIRE(dax_entry_grab(&m, cur, 0, &e) == 0);
}

/*
 * The start of a round of (a) or (e): @t's counts reset, @t held through
 * @cur, and NR_MANY waiters @w asleep on it (@waits: the sleeps counted
 * before the round).
 */
static void hold_under_many(struct target *t, struct dax_cursor *cur,
			    struct waiter *w, unsigned long waits)
{
	atomic_store(&t->done, 0);
	atomic_store(&t->acquired, 0);
	atomic_store(&t->allowed, 0);
	t->holds = 0;
	hold(t, cur);
	start_waiters(w, NR_MANY, 0, t);
	t_wait_sleepers(&m, waits + NR_MANY);
}

/* The end of such a round: the waiters joined, each held @t once. */
static void join_many(struct target *t, struct waiter *w)
{
	for (int i = 0; i < NR_MANY; i++)
		t_join(w[i].thread);
	CHECK_EQ(atomic_load(&t->done), NR_MANY);
	CHECK_EQ(t->holds, NR_MANY);
}

/*
 * (a) One unlock, NR_MANY waiters, each served once. Each holder keeps
 * the lock until we have counted: when the k-th holder has it and the
 * one before has finished unlocking, exactly k wake-ups have happened
 * (one per unlock) and every waiter has slept exactly once. An unlock
 * that wakes the herd is caught at k = 1, however the herd then races.
 */
static void test_many_waiters(unsigned int rounds)
{
	static struct waiter w[NR_MANY];
	struct target t = {.index = 1000, .stepped = true};
	DAX_CURSOR(cur, 0, &m.idx, 0);

	for (unsigned int r = 0; r < rounds; r++) {
		unsigned long waits = t_stat(&m.stats.waits);
		unsigned long wakeups = t_stat(&m.stats.wakeups);

		hold_under_many(&t, &cur, w, waits);
		CHECK_EQ(atomic_load(&t.done), 0);
		CHECK(t_load(&m, t.index, 0, NULL) & DAX_ENTRY_WAITERS);
		dax_entry_unlock(&m, &cur);
		for (unsigned int k = 1; k <= NR_MANY; k++) {
			while (atomic_load(&t.acquired) < k ||
			       atomic_load(&t.done) < k - 1)
				t_relax();
			CHECK_EQ(atomic_load(&t.acquired), k);
			CHECK_EQ(t_stat(&m.stats.wakeups) - wakeups, k);
			CHECK_EQ(t_stat(&m.stats.waits) - waits, NR_MANY);
			atomic_store(&t.allowed, k);
		}
		join_many(&t, w);
		CHECK_EQ(t_stat(&m.stats.waits) - waits, NR_MANY);
		CHECK_EQ(t_stat(&m.stats.wakeups) - wakeups, NR_MANY);
		t_check_all_idle(&m);
	}
	CHECK_EQ(dax_entry_delete(&m, t.index), 1);
}

/*
 * (e) Replace wakes all. The waiters hold in stepped mode, so once the
 * first has the new entry nothing else can wake anybody: the wake-ups
 * counted then are those of the replace. (A replace that wakes one also
 * clears WAITERS with its exchange: the rest would sleep for ever.)
 */
static void test_replace_wakes_all(unsigned int rounds)
{
	static struct waiter w[NR_MANY];
	struct target t = {.index = 2000, .stepped = true};
	DAX_CURSOR(cur, 0, &m.idx, 0);

	for (unsigned int r = 0; r < rounds; r++) {
		unsigned long waits = t_stat(&m.stats.waits);
		unsigned long wakeups = t_stat(&m.stats.wakeups);
		dax_entry_t e;

		hold_under_many(&t, &cur, w, waits);
		dax_entry_replace(&m, &cur, dax_mk_entry(77 + r, 0));
		while (atomic_load(&t.acquired) < 1)
			t_relax();
		if (t_stat(&m.stats.wakeups) - wakeups != NR_MANY) {
			/* The others sleep on for ever: fail now. */
			fprintf(stderr, "replace woke %lu of %d waiters\n",
				t_stat(&m.stats.wakeups) - wakeups, NR_MANY);
			exit(T_FAIL);
		}
		e = t_load(&m, t.index, 0, NULL);
		CHECK_EQ(dax_entry_block(e), 77 + r);
		CHECK(dax_entry_locked(e));
		atomic_store(&t.allowed, NR_MANY);
		join_many(&t, w);
		t_check_all_idle(&m);
	}
	CHECK_EQ(dax_entry_delete(&m, t.index), 1);
}

/* Find an index other than @a whose wait key shares @a's bucket. */
static uint64_t bucket_mate(uint64_t a)
{
	struct dax_wait_bucket *b = dax_wait_bucket(&m, a);

	for (uint64_t i = a + 1; i < a + (1 << 24); i++)
		if (dax_wait_bucket(&m, i) == b)
			return i;
	REQUIRE(!"no index shares a bucket with a");
	return 0;
}

/* (b) A's wake-ups reach A's waiters even with B's queued before them. */
static void test_shared_bucket(unsigned int rounds)
{
	static struct waiter wa[NR_SIDE], wb[NR_SIDE];
	struct target a = {.index = 5000}, b = {0};
	DAX_CURSOR(ca, 0, &m.idx, 0);
	DAX_CURSOR(cb, 0, &m.idx, 0);

	b.index = bucket_mate(a.index);
	REQUIRE(dax_wait_bucket(&m, a.index) == dax_wait_bucket(&m, b.index));
	for (unsigned int r = 0; r < rounds; r++) {
		unsigned long waits = t_stat(&m.stats.waits);
		unsigned long wakeups;

		atomic_store(&a.done, 0);
		atomic_store(&b.done, 0);
		a.holds = b.holds = 0;
		/* We hold two entry locks, but never wait on a third. */
		hold(&a, &ca);
		hold(&b, &cb);
		start_waiters(wb, NR_SIDE, 0, &b);
		t_wait_sleepers(&m, waits + NR_SIDE);
		start_waiters(wa, NR_SIDE, NR_SIDE, &a);
		t_wait_sleepers(&m, waits + 2 * NR_SIDE);

		wakeups = t_stat(&m.stats.wakeups);
		dax_entry_unlock(&m, &ca);
		for (int i = 0; i < NR_SIDE; i++)
			t_join(wa[i].thread);
		CHECK_EQ(a.holds, NR_SIDE);
		/* B's waiters were neither woken nor served. */
		CHECK_EQ(t_stat(&m.stats.wakeups) - wakeups, NR_SIDE);
		CHECK_EQ(atomic_load(&b.done), 0);
		CHECK_EQ(b.holds, 0);
		CHECK(dax_entry_locked(t_load(&m, b.index, 0, NULL)));
		/* A's last unlock cleared A's WAITERS, not B's. */
		CHECK(!(t_load(&m, a.index, 0, NULL) & DAX_ENTRY_WAITERS));
		CHECK(t_load(&m, b.index, 0, NULL) & DAX_ENTRY_WAITERS);

		dax_entry_unlock(&m, &cb);
		for (int i = 0; i < NR_SIDE; i++)
			t_join(wb[i].thread);
		CHECK_EQ(b.holds, NR_SIDE);
		CHECK_EQ(t_stat(&m.stats.waits) - waits, 2 * NR_SIDE);
		t_check_all_idle(&m);
	}
	CHECK_EQ(dax_entry_delete(&m, a.index), 1);
	CHECK_EQ(dax_entry_delete(&m, b.index), 1);
}

/* (c) Lookers pass the wake-up on with put_unlocked. */
struct looker {
	pthread_t thread;
	struct target *t;	/* what the lookers count into */
	struct target *grabber; /* the same index, counted by the grabber */
};

static void *looker_fn(void *arg)
{
	struct looker *l = arg;
	DAX_CURSOR(cur, l->t->index, &m.idx, 0);
	dax_entry_t e;

	e = dax_entry_get_unlocked(&m, &cur);
	CHECK(e != 0);
	CHECK(!dax_entry_locked(e));
	/*
	 * The grabber, queued after every looker, can only be woken through
	 * the lookers: the unlock woke one waiter, the first looker.
	 */
	CHECK_EQ(atomic_load(&l->grabber->done), 0);
	dax_entry_put_unlocked(&m, &cur);
	atomic_fetch_add(&l->t->done, 1);
	return NULL;
}

static void test_put_unlocked(unsigned int rounds)
{
	static struct looker l[NR_LOOKERS];
	static struct waiter g;
	struct target looked = {.index = 7000}, grabbed = {.index = 7000};
	DAX_CURSOR(cur, 0, &m.idx, 0);

	for (unsigned int r = 0; r < rounds; r++) {
		unsigned long waits = t_stat(&m.stats.waits);
		unsigned long wakeups;

		atomic_store(&looked.done, 0);
		atomic_store(&grabbed.done, 0);
		grabbed.holds = 0;
		hold(&looked, &cur);
		for (int i = 0; i < NR_LOOKERS; i++) {
			l[i].t = &looked;
			l[i].grabber = &grabbed;
			/* One at a time, so that the queue order is known. */
			l[i].thread = t_spawn(looker_fn, &l[i]);
			t_wait_sleepers(&m, waits + i + 1);
		}
		g.id = 0;
		g.t = &grabbed;
		g.flags = 0;
		g.thread = t_spawn(waiter_fn, &g);
		t_wait_sleepers(&m, waits + NR_LOOKERS + 1);

		wakeups = t_stat(&m.stats.wakeups);
		dax_entry_unlock(&m, &cur);
		t_join(g.thread);
		for (int i = 0; i < NR_LOOKERS; i++)
			t_join(l[i].thread);
		CHECK_EQ(atomic_load(&looked.done), NR_LOOKERS);
		CHECK_EQ(atomic_load(&grabbed.done), 1);
		CHECK_EQ(grabbed.holds, 1);
		/* One wake-up from the unlock, one from each put_unlocked. */
		CHECK_EQ(t_stat(&m.stats.wakeups) - wakeups, NR_LOOKERS + 1);
		CHECK_EQ(t_stat(&m.stats.waits) - waits, NR_LOOKERS + 1);
		t_check_all_idle(&m);
	}
	CHECK_EQ(dax_entry_delete(&m, looked.index), 1);
}

/*
 * (d) Stress, in phases of a few tens of milliseconds. At the end of each
 * phase the threads finish their operation and park; once all have
 * parked, nothing runs and nobody waits, so every entry must be idle. A
 * thread that went to sleep on an entry nobody will touch again (a lost
 * wake-up) never parks: that is reported after a generous deadline. Many
 * phase ends give a lost wake-up many chances to be the last thing that
 * happened to an entry, where no later unlock can hide it.
 */
struct stresser {
	pthread_t thread;
	int id;
	struct t_rng rng;
	uint64_t grabs, looks, deletes;
};

static struct target stress_t[NR_STRESS_IDX];
static atomic_bool stress_stop; /* leave after this phase */
static atomic_bool phase_stop;	/* finish the current phase */
static atomic_uint phase;	/* bumped to start the next phase */
static atomic_uint parked;	/* threads done with this phase */

static void stress_op(struct stresser *s)
{
	struct target *t = &stress_t[t_rand_below(&s->rng, NR_STRESS_IDX)];
	uint64_t op = t_rand_below(&s->rng, 16);
	DAX_CURSOR(cur, t->index, &m.idx, 0);
	dax_entry_t e;
	int prev;

	if (op < 3) {
		e = dax_entry_get_unlocked(&m, &cur);
		CHECK(!dax_entry_locked(e));
		dax_entry_put_unlocked(&m, &cur);
		s->looks++;
		return;
	}
	if (op < 4) {
		dax_entry_delete(&m, t->index);
		s->deletes++;
		return;
	}
	REQUIRE(dax_entry_grab(&m, &cur, 0, &e) == 0);
	prev = t_owner_swap(&t->owner, s->id + 1);
	CHECK_EQ(prev, 0);
	t->holds++;
	/* Short random hold: sometimes nothing, sometimes a yield. */
	switch (t_rand_below(&s->rng, 4)) {
	case 0:
		sched_yield();
		break;
	case 1:
		for (volatile int i = 0; i < 200; i++)
			;
		break;
	default:
		break;
	}
	prev = t_owner_swap(&t->owner, 0);
	CHECK_EQ(prev, s->id + 1);
	dax_entry_unlock(&m, &cur);
	s->grabs++;
}

static void *stress_fn(void *arg)
{
	struct stresser *s = arg;
	unsigned int seen = 0;

	for (;;) {
		while (!atomic_load(&phase_stop))
			stress_op(s);
		atomic_fetch_add(&parked, 1);
		while (atomic_load(&phase) == seen)
			t_relax();
		seen++;
		if (atomic_load(&stress_stop))
			return NULL;
	}
}

static void test_stress(double secs)
{
	static struct stresser s[NR_STRESS_THREADS];
	uint64_t holds = 0, grabs = 0;
	struct t_rng rng;
	unsigned int phases = 0;
	double end;
	bool last;

	/* Two neighbours and two of their bucket-mates. */
	stress_t[0].index = 9000;
	stress_t[1].index = 9001;
	stress_t[2].index = bucket_mate(9000);
	stress_t[3].index = bucket_mate(stress_t[2].index);
	t_rng_init(&rng, t_seed * 29);
	atomic_store(&stress_stop, false);
	atomic_store(&phase_stop, false);
	for (int i = 0; i < NR_STRESS_THREADS; i++) {
		s[i].id = i;
		t_rng_init(&s[i].rng, t_seed * 31 + (uint64_t)i);
		s[i].thread = t_spawn(stress_fn, &s[i]);
	}
	end = t_now() + secs;
	do {
		double until =
		    t_now() + 0.002 + 0.0005 * t_rand_below(&rng, 20);
		double deadline;

		while (t_now() < until)
			t_relax();
		atomic_store(&phase_stop, true);
		deadline = t_now() + 10.0;
		while (atomic_load(&parked) < NR_STRESS_THREADS) {
			if (t_now() > deadline) {
				fprintf(stderr,
					"phase %u: a thread never "
					"finished: lost wake-up\n",
					phases);
				exit(T_FAIL);
			}
			t_relax();
		}
		/* Nothing runs, nobody waits. */
		t_check_all_idle(&m);
		for (int i = 0; i < NR_STRESS_IDX; i++)
			CHECK_EQ(atomic_load(&stress_t[i].owner), 0);
		phases++;
		last = t_now() >= end;
		atomic_store(&parked, 0);
		atomic_store(&phase_stop, false);
		atomic_store(&stress_stop, last);
		atomic_fetch_add(&phase, 1);
	} while (!last);
	for (int i = 0; i < NR_STRESS_THREADS; i++) {
		t_join(s[i].thread);
		CHECK(s[i].grabs > 0);
		CHECK(s[i].looks > 0);
		grabs += s[i].grabs;
	}
	for (int i = 0; i < NR_STRESS_IDX; i++)
		holds += stress_t[i].holds;
	CHECK_EQ(holds, grabs);
	t_check_all_idle(&m);
	printf("lock_wakeup: stress %" PRIu64 " grabs, %lu sleeps, %u phases\n",
	       grabs, t_stat(&m.stats.waits), phases);
}

int main(int argc, char **argv)
{
	unsigned int rounds;

	t_init(argc, argv);
	t_watchdog(t_long ? 900 : 60);
	rounds = t_long ? 500 : 20;
	REQUIRE(dax_mapping_init(&m) == 0);

	test_many_waiters(rounds);
	test_shared_bucket(rounds);
	test_put_unlocked(rounds);
	test_replace_wakes_all(rounds);
	test_stress(t_long ? 60.0 : 2.0);

	dax_mapping_destroy(&m);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("lock_wakeup");
}
