/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock_pmd - PMD entries against 4 KiB (PTE) entries in their range.
 *
 *  - A PMD grab over a range holding any 4 KiB entry fails with -EEXIST
 *    at once, even while another thread holds that entry locked: it must
 *    not sleep (nobody would wake it on the PMD key). Entries just
 *    outside the range do not conflict.
 *  - A PTE grab inside a locked, block-mapped PMD entry sleeps on the
 *    PMD's key, is woken by the PMD unlock, and gets the PMD entry
 *    locked (no downgrade); its unlock through the PTE cursor wakes
 *    waiters on the PMD key.
 *  - A PTE grab inside an EMPTY or ZERO PMD entry downgrades it: the
 *    pmd_downgrade callback runs once, with the aligned index and the PMD
 *    entry still locked in the index; the PMD entry is erased; the grab
 *    returns a 4 KiB EMPTY locked entry; all other threads sleeping on
 *    the PMD (PTE grabs for other indexes of the range) wake and proceed.
 *  - Delete and invalidate of an index covered by a ZERO PMD entry erase
 *    that entry (and return 1) instead of splitting it.
 *  - Threads mixing PMD and PTE grabs, updates, replaces and deletes on
 *    two neighbouring ranges for a bounded time never deadlock, and a
 *    PMD lock and a 4 KiB lock in its range are never held at once.
 *
 * Bugs it catches: a PMD grab that sleeps on a locked PTE (hang) or
 * checks only part of its range; a PTE waiter keyed on its own index
 * (never woken: hang) or an unlock through a PTE cursor that wakes the
 * wrong key; a downgrade that calls the callback unlocked, twice or not
 * at all, leaves the PMD entry behind, or wakes only one of its waiters
 * (hang); a block-mapped PMD split by a PTE fault; a PMD inserted over
 * 4 KiB entries or 4 KiB entries under a PMD.
 */
#include "lock_util.h"

#define A ((uint64_t)3 * DAX_PMD_NR) /* a PMD-aligned index */
#define NR_PTE_WAITERS 4
#define NR_STRESS_THREADS 4
#define NR_RANGES 2

static struct dax_mapping m;

/* What the pmd_downgrade callback saw. */
static atomic_ulong downgrade_calls;
static atomic_ulong downgrade_last_index;
static atomic_ulong downgrade_last_entry;
static atomic_bool downgrade_yield;

static atomic_int downgrade_fail; /* the next call returns this */

static int on_downgrade(struct dax_mapping *mm, uint64_t index, dax_entry_t e)
{
	int fail = atomic_exchange(&downgrade_fail, 0);

	bool conflict;
	dax_entry_t now;

	CHECK(mm == &m);
	CHECK_EQ(index & (DAX_PMD_NR - 1), 0);
	CHECK(dax_entry_is_pmd(e));
	CHECK(dax_entry_locked(e));
	CHECK(dax_entry_is_zero(e) || dax_entry_is_empty(e));
	/* Still in the index, and still locked, while we are called. */
	now = t_load(mm, index, DAX_PMD_ORDER, &conflict);
	CHECK(dax_entry_same(now, e));
	CHECK(dax_entry_locked(now));
	CHECK(!conflict);
	atomic_store(&downgrade_last_index, index);
	atomic_store(&downgrade_last_entry, e);
	atomic_fetch_add(&downgrade_calls, 1);
	if (atomic_load(&downgrade_yield))
		sched_yield(); /* it may sleep: let others pile up */
	return fail;
}

static int grab(struct dax_cursor *cur, uint64_t index, unsigned int order,
		unsigned int flags, dax_entry_t *e)
{
	dax_cursor_set(cur, index, order);
	return dax_entry_grab(&m, cur, flags, e);
}

/* Is somebody queued on wait key @key? */
static bool key_queued(uint64_t key)
{
	struct dax_wait_bucket *b = dax_wait_bucket(&m, key);
	bool q;

	pthread_mutex_lock(&b->lock);
	q = dax_wait_key_queued(b, &m, key);
	pthread_mutex_unlock(&b->lock);
	return q;
}

/* A thread that holds a 4 KiB entry until told to let go. */
struct pte_holder {
	pthread_t thread;
	uint64_t index;
	atomic_int held;
	atomic_int release;
};

static void *pte_holder_fn(void *arg)
{
	struct pte_holder *h = arg;
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;

	REQUIRE(grab(&cur, h->index, 0, 0, &e) == 0);
	CHECK(!dax_entry_is_pmd(e));
	atomic_store(&h->held, 1);
	while (!atomic_load(&h->release))
		t_relax();
	dax_entry_unlock(&m, &cur);
	return NULL;
}

static void test_conflict_does_not_sleep(void)
{
	static const uint64_t offsets[] = {0, 1, 63, 64, 255, 256, 510, 511};
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;

	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		struct pte_holder h = {.index = A + offsets[i]};
		unsigned long conflicts = t_stat(&m.stats.conflicts);
		unsigned long waits = t_stat(&m.stats.waits);

		h.thread = t_spawn(pte_holder_fn, &h);
		while (!atomic_load(&h.held))
			t_relax();
		/* The holder lets go only after we return: no sleeping here. */
		CHECK_EQ(grab(&cur, A, DAX_PMD_ORDER, 0, &e), -EEXIST);
		CHECK_EQ(grab(&cur, A, DAX_PMD_ORDER, DAX_GRAB_EXISTING, &e),
			 -EEXIST);
		CHECK_EQ(t_stat(&m.stats.conflicts) - conflicts, 2);
		dax_cursor_set(&cur, A, DAX_PMD_ORDER);
		CHECK_EQ(dax_entry_get_unlocked(&m, &cur), 0);
		CHECK(cur.conflict);
		CHECK_EQ(t_stat(&m.stats.waits), waits);
		CHECK(dax_entry_locked(t_load(&m, h.index, 0, NULL)));
		atomic_store(&h.release, 1);
		t_join(h.thread);

		/* Unlocked, it still conflicts; deleted, it does not. */
		CHECK_EQ(grab(&cur, A, DAX_PMD_ORDER, 0, &e), -EEXIST);
		CHECK_EQ(dax_entry_delete(&m, h.index), 1);
		CHECK_EQ(grab(&cur, A, DAX_PMD_ORDER, 0, &e), 0);
		CHECK(dax_entry_is_pmd(e) && dax_entry_is_empty(e));
		CHECK(dax_entry_locked(e));
		/* A PMD now covers the index: no 4 KiB entry can go there. */
		CHECK(dax_entry_same(t_load(&m, h.index, 0, NULL), e));
		dax_entry_delete_locked(&m, &cur);
		CHECK_EQ(m.idx.nr_entries, 0);
	}

	/* Locked neighbours just outside the range do not conflict. */
	{
		struct pte_holder lo = {.index = A - 1};
		struct pte_holder hi = {.index = A + DAX_PMD_NR};

		lo.thread = t_spawn(pte_holder_fn, &lo);
		hi.thread = t_spawn(pte_holder_fn, &hi);
		while (!atomic_load(&lo.held) || !atomic_load(&hi.held))
			t_relax();
		CHECK_EQ(grab(&cur, A, DAX_PMD_ORDER, 0, &e), 0);
		CHECK(dax_entry_is_pmd(e));
		CHECK(!dax_entry_is_pmd(t_load(&m, A - 1, 0, NULL)));
		CHECK(!dax_entry_is_pmd(t_load(&m, A + DAX_PMD_NR, 0, NULL)));
		dax_entry_delete_locked(&m, &cur);
		atomic_store(&lo.release, 1);
		atomic_store(&hi.release, 1);
		t_join(lo.thread);
		t_join(hi.thread);
		CHECK_EQ(dax_entry_delete(&m, A - 1), 1);
		CHECK_EQ(dax_entry_delete(&m, A + DAX_PMD_NR), 1);
	}
	CHECK_EQ(m.idx.nr_entries, 0);
}

/* A PTE grab that waits on a block-mapped PMD. */
struct pte_grabber {
	pthread_t thread;
	uint64_t index;
	dax_entry_t got;  /* what grab returned */
	atomic_int state; /* 0 waiting, 1 holding, 2 done */
	atomic_int go;	  /* may unlock */
	bool hold;	  /* wait for @go before unlocking */
};

static void *pte_grabber_fn(void *arg)
{
	struct pte_grabber *g = arg;
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;

	REQUIRE(grab(&cur, g->index, 0, 0, &e) == 0);
	g->got = e;
	/* The cursor is on the entry we hold, whichever it is. */
	CHECK(dax_entry_same(atomic_load(cur.slot), e));
	atomic_store(&g->state, 1);
	while (g->hold && !atomic_load(&g->go))
		t_relax();
	dax_entry_unlock(&m, &cur);
	atomic_store(&g->state, 2);
	return NULL;
}

/* A PMD grab at A that just takes its turn. */
static void *pmd_grabber_fn(void *arg)
{
	atomic_int *done = arg;
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;

	REQUIRE(grab(&cur, A, DAX_PMD_ORDER, 0, &e) == 0);
	CHECK(dax_entry_is_pmd(e));
	dax_entry_unlock(&m, &cur);
	atomic_store(done, 1);
	return NULL;
}

static void test_pte_waits_on_pmd(void)
{
	const dax_entry_t huge = dax_mk_entry(1000, DAX_ENTRY_PMD);
	struct pte_grabber g = {.index = A + 77, .hold = true};
	DAX_CURSOR(cur, 0, &m.idx, 0);
	unsigned long waits = t_stat(&m.stats.waits);
	unsigned long calls = atomic_load(&downgrade_calls);
	unsigned long downgrades = t_stat(&m.stats.downgrades);
	atomic_int pmd_done = 0;
	pthread_t p;
	dax_entry_t e;

	REQUIRE(grab(&cur, A, DAX_PMD_ORDER, 0, &e) == 0);
	dax_entry_update(&m, &cur, huge);
	g.thread = t_spawn(pte_grabber_fn, &g);
	t_wait_sleepers(&m, waits + 1);
	/* Queued on the PMD's key, not on its own index. */
	CHECK(key_queued(A));
	CHECK(!key_queued(g.index));
	CHECK_EQ(atomic_load(&g.state), 0);
	dax_entry_unlock(&m, &cur);

	/* It got the PMD entry itself: a mapped PMD is not split. */
	while (atomic_load(&g.state) != 1)
		t_relax();
	/* (WAITERS may still be set: the unlock clears it after the wake) */
	CHECK(dax_entry_same(g.got, huge));
	CHECK(dax_entry_locked(g.got));
	CHECK_EQ(atomic_load(&downgrade_calls), calls);
	CHECK_EQ(t_stat(&m.stats.downgrades), downgrades);

	/* Its unlock, through the PTE cursor, must wake a PMD waiter. */
	p = t_spawn(pmd_grabber_fn, &pmd_done);
	t_wait_sleepers(&m, waits + 2);
	CHECK(key_queued(A));
	atomic_store(&g.go, 1);
	t_join(g.thread);
	t_join(p);
	CHECK_EQ(atomic_load(&pmd_done), 1);
	CHECK_EQ(t_load(&m, A, DAX_PMD_ORDER, NULL), huge);
	CHECK_EQ(t_load(&m, g.index, 0, NULL), huge);
	CHECK_EQ(dax_entry_delete(&m, A + 5), 1);
	CHECK_EQ(m.idx.nr_entries, 0);
}

/* Several PTE grabs sleep on an EMPTY PMD; one downgrade frees them all. */
static void test_downgrade_wakes_all(unsigned int rounds)
{
	static struct pte_grabber g[NR_PTE_WAITERS];
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;

	for (unsigned int r = 0; r < rounds; r++) {
		unsigned long waits = t_stat(&m.stats.waits);
		unsigned long calls = atomic_load(&downgrade_calls);
		unsigned long downgrades = t_stat(&m.stats.downgrades);
		unsigned long inserts;
		bool conflict;

		REQUIRE(grab(&cur, A, DAX_PMD_ORDER, 0, &e) == 0);
		REQUIRE(dax_entry_is_empty(e));
		inserts = t_stat(&m.stats.inserts);
		for (int i = 0; i < NR_PTE_WAITERS; i++) {
			/* Spread over the range (several slots in both builds).
			 */
			g[i].index = A + 1 + (uint64_t)i * 131 + r % 7;
			g[i].hold = false;
			atomic_store(&g[i].state, 0);
			g[i].thread = t_spawn(pte_grabber_fn, &g[i]);
		}
		t_wait_sleepers(&m, waits + NR_PTE_WAITERS);
		CHECK(key_queued(A));
		atomic_store(&downgrade_yield, r & 1);
		dax_entry_unlock(&m, &cur);
		for (int i = 0; i < NR_PTE_WAITERS; i++) {
			t_join(g[i].thread);
			CHECK(!dax_entry_is_pmd(g[i].got));
			CHECK(dax_entry_is_empty(g[i].got));
			CHECK(dax_entry_locked(g[i].got));
			CHECK_EQ(t_load(&m, g[i].index, 0, NULL),
				 dax_mk_entry(0, DAX_ENTRY_EMPTY));
		}
		atomic_store(&downgrade_yield, false);
		CHECK_EQ(atomic_load(&downgrade_calls) - calls, 1);
		CHECK_EQ(atomic_load(&downgrade_last_index), A);
		/* (with WAITERS, most likely: the others slept on it) */
		CHECK(dax_entry_same(
		    atomic_load(&downgrade_last_entry),
		    dax_mk_entry(0, DAX_ENTRY_PMD | DAX_ENTRY_EMPTY)));
		CHECK_EQ(t_stat(&m.stats.downgrades) - downgrades, 1);
		CHECK_EQ(t_stat(&m.stats.inserts) - inserts, NR_PTE_WAITERS);
		/* The PMD is gone; the range holds 4 KiB entries. */
		CHECK_EQ(t_load(&m, A, DAX_PMD_ORDER, &conflict), 0);
		CHECK(conflict);
		CHECK_EQ(m.idx.nr_entries, NR_PTE_WAITERS);
		for (int i = 0; i < NR_PTE_WAITERS; i++)
			CHECK_EQ(dax_entry_delete(&m, g[i].index), 1);
		CHECK_EQ(m.idx.nr_entries, 0);
	}
}

/* Make an unlocked ZERO PMD entry at A. */
static void make_zero_pmd(void)
{
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;

	REQUIRE(grab(&cur, A, DAX_PMD_ORDER, 0, &e) == 0);
	dax_entry_replace(&m, &cur,
			  dax_mk_entry(0, DAX_ENTRY_PMD | DAX_ENTRY_ZERO));
}

static void test_downgrade_zero(void)
{
	static const uint64_t offsets[] = {0, 100, 511};
	const dax_entry_t zero =
	    dax_mk_entry(0, DAX_ENTRY_PMD | DAX_ENTRY_ZERO);
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;

	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		unsigned long calls, downgrades, inserts;
		bool conflict;

		make_zero_pmd();
		calls = atomic_load(&downgrade_calls);
		downgrades = t_stat(&m.stats.downgrades);
		inserts = t_stat(&m.stats.inserts);
		CHECK_EQ(grab(&cur, A + offsets[i], 0, 0, &e), 0);
		CHECK_EQ(e,
			 dax_mk_entry(0, DAX_ENTRY_EMPTY) | DAX_ENTRY_LOCKED);
		CHECK_EQ(atomic_load(&downgrade_calls) - calls, 1);
		CHECK_EQ(atomic_load(&downgrade_last_index), A);
		CHECK_EQ(atomic_load(&downgrade_last_entry),
			 zero | DAX_ENTRY_LOCKED);
		CHECK_EQ(t_stat(&m.stats.downgrades) - downgrades, 1);
		CHECK_EQ(t_stat(&m.stats.inserts) - inserts, 1);
		CHECK_EQ(t_load(&m, A + offsets[i], 0, NULL), e);
		CHECK_EQ(t_load(&m, A, DAX_PMD_ORDER, &conflict), 0);
		CHECK(conflict);
		CHECK_EQ(m.idx.nr_entries, 1);
		dax_entry_delete_locked(&m, &cur);
	}
	CHECK_EQ(m.idx.nr_entries, 0);

	/*
	 * A downgrade that fails (the zero page could not be unmapped) fails
	 * the grab with its error and leaves the PMD entry as it was,
	 * unlocked: the zero page it stands for may still be mapped.
	 */
	make_zero_pmd();
	atomic_store(&downgrade_fail, -ENOMEM);
	CHECK_EQ(grab(&cur, A + 7, 0, 0, &e), -ENOMEM);
	CHECK_EQ(t_load(&m, A, DAX_PMD_ORDER, NULL), zero);
	CHECK_EQ(grab(&cur, A + 7, 0, 0, &e), 0); /* works once it can */
	CHECK_EQ(e, dax_mk_entry(0, DAX_ENTRY_EMPTY) | DAX_ENTRY_LOCKED);
	dax_entry_delete_locked(&m, &cur);
	CHECK_EQ(m.idx.nr_entries, 0);
}

/*
 * Removing entries is not faulting them: delete and invalidate of an
 * index under a ZERO PMD erase the PMD entry and say so, without calling
 * the downgrade hook or inserting anything; DAX_GRAB_EXISTING of such an
 * index locks the PMD entry.
 */
static void test_existing_does_not_split(void)
{
	const dax_entry_t zero =
	    dax_mk_entry(0, DAX_ENTRY_PMD | DAX_ENTRY_ZERO);
	unsigned long calls = atomic_load(&downgrade_calls);
	unsigned long inserts;
	DAX_CURSOR(cur, 0, &m.idx, 0);
	dax_entry_t e;
	int err;

	make_zero_pmd();
	inserts = t_stat(&m.stats.inserts);
	err = grab(&cur, A + 3, 0, DAX_GRAB_EXISTING, &e);
	CHECK_EQ(err, 0);
	if (!err) {
		CHECK_EQ(e, zero | DAX_ENTRY_LOCKED);
		dax_entry_unlock(&m, &cur);
	}
	CHECK_EQ(t_load(&m, A, DAX_PMD_ORDER, NULL), zero);

	CHECK_EQ(dax_entry_delete(&m, A + 9), 1);
	CHECK_EQ(t_load(&m, A + 9, 0, NULL), 0);
	CHECK_EQ(m.idx.nr_entries, 0);

	make_zero_pmd();
	CHECK_EQ(dax_entry_invalidate(&m, A + 300), 1);
	CHECK_EQ(m.idx.nr_entries, 0);

	CHECK_EQ(atomic_load(&downgrade_calls), calls);
	/* Only make_zero_pmd() inserted. */
	CHECK_EQ(t_stat(&m.stats.inserts) - inserts, 1);
}

/*
 * Stress. Each range counts the threads holding its PMD lock and those
 * holding a 4 KiB lock inside it; the two must never overlap.
 */
struct range {
	uint64_t base;
	atomic_int pmd_held;
	atomic_int pte_held;
};

static struct range ranges[NR_RANGES];

/*
 * 4 KiB faults hit a few offsets only (first and last slots of the
 * range's node slots among them), so that deletes can empty a range
 * again and PMD grabs get their chance.
 */
static const uint64_t pte_offsets[] = {0, 1, 63, 64, 200, 300, 450, 511};
#define NR_PTE_OFFSETS (sizeof(pte_offsets) / sizeof(pte_offsets[0]))
static atomic_bool stress_stop;
static atomic_ulong next_block = 1;

struct stresser {
	pthread_t thread;
	struct t_rng rng;
	uint64_t pmd_locks, pte_locks, ops;
};

static void enter_pmd(struct range *r)
{
	CHECK_EQ(atomic_fetch_add(&r->pmd_held, 1), 0);
	CHECK_EQ(atomic_load(&r->pte_held), 0);
}

static void enter_pte(struct range *r)
{
	atomic_fetch_add(&r->pte_held, 1);
	CHECK_EQ(atomic_load(&r->pmd_held), 0);
}

/* We hold PMD entry @e of @r through @cur: use it, then let it go. */
static void stress_pmd_held(struct stresser *s, struct range *r,
			    struct dax_cursor *cur, dax_entry_t e)
{
	uint64_t probe = r->base + t_rand_below(&s->rng, DAX_PMD_NR);
	dax_entry_t kind;

	CHECK(dax_entry_is_pmd(e) && dax_entry_locked(e));
	enter_pmd(r);
	s->pmd_locks++;
	/* Every index of the range finds this PMD entry. */
	CHECK(dax_entry_same(t_load(&m, probe, 0, NULL), e));

	switch (t_rand_below(&s->rng, 6)) {
	case 0: /* map it */
		kind = dax_mk_entry(atomic_fetch_add(&next_block, 1),
				    DAX_ENTRY_PMD);
		dax_entry_update(&m, cur, kind);
		break;
	case 1: /* turn it into a huge zero page, unlocking it */
		atomic_fetch_sub(&r->pmd_held, 1);
		dax_entry_replace(
		    &m, cur, dax_mk_entry(0, DAX_ENTRY_PMD | DAX_ENTRY_ZERO));
		return;
	case 2: /* truncate it */
		atomic_fetch_sub(&r->pmd_held, 1);
		dax_entry_delete_locked(&m, cur);
		return;
	default:
		break;
	}
	if (t_rand_below(&s->rng, 8) == 0)
		sched_yield();
	atomic_fetch_sub(&r->pmd_held, 1);
	dax_entry_unlock(&m, cur);
}

/* We hold the 4 KiB entry @e at @index of @r through @cur. */
static void stress_pte_held(struct stresser *s, struct range *r, uint64_t index,
			    struct dax_cursor *cur, dax_entry_t e)
{
	bool conflict;

	CHECK(!dax_entry_is_pmd(e) && dax_entry_locked(e));
	enter_pte(r);
	s->pte_locks++;
	/* No PMD entry can cover a range with a 4 KiB entry in it. */
	CHECK_EQ(t_load(&m, r->base, DAX_PMD_ORDER, &conflict), 0);
	CHECK(conflict);
	CHECK(dax_entry_same(t_load(&m, index, 0, NULL), e));
	if (t_rand_below(&s->rng, 2))
		dax_entry_update(
		    &m, cur, dax_mk_entry(atomic_fetch_add(&next_block, 1), 0));
	if (t_rand_below(&s->rng, 8) == 0)
		sched_yield();
	atomic_fetch_sub(&r->pte_held, 1);
	if (t_rand_below(&s->rng, 3) == 0)
		dax_entry_delete_locked(&m, cur);
	else
		dax_entry_unlock(&m, cur);
}

static void *stress_fn(void *arg)
{
	struct stresser *s = arg;

	while (!atomic_load_explicit(&stress_stop, memory_order_relaxed)) {
		struct range *r = &ranges[t_rand_below(&s->rng, NR_RANGES)];
		uint64_t index =
		    r->base +
		    pte_offsets[t_rand_below(&s->rng, NR_PTE_OFFSETS)];
		uint64_t op = t_rand_below(&s->rng, 16);
		unsigned int flags =
		    t_rand_below(&s->rng, 4) ? 0 : DAX_GRAB_EXISTING;
		DAX_CURSOR(cur, 0, &m.idx, 0);
		dax_entry_t e;
		int err;

		s->ops++;
		if (op < 6) {
			err = grab(&cur, r->base, DAX_PMD_ORDER, flags, &e);
			if (!err)
				stress_pmd_held(s, r, &cur, e);
			else if (err != -EEXIST && err != -ENOENT)
				CHECK_EQ(err, 0);
		} else if (op < 12) {
			err = grab(&cur, index, 0, flags, &e);
			if (err) {
				CHECK_EQ(err, -ENOENT);
				CHECK(flags & DAX_GRAB_EXISTING);
			} else if (dax_entry_is_pmd(e)) {
				/* Only a mapped PMD is used whole by a fault.
				 */
				CHECK((!dax_entry_is_empty(e) &&
				       !dax_entry_is_zero(e)) ||
				      (flags & DAX_GRAB_EXISTING));
				stress_pmd_held(s, r, &cur, e);
			} else {
				stress_pte_held(s, r, index, &cur, e);
			}
		} else if (op < 14) {
			unsigned int order = (op & 1) ? DAX_PMD_ORDER : 0;

			dax_cursor_set(&cur, order ? r->base : index, order);
			e = dax_entry_get_unlocked(&m, &cur);
			CHECK(!dax_entry_locked(e));
			dax_entry_put_unlocked(&m, &cur);
		} else if (op < 15) {
			dax_entry_delete(&m, index);
		} else {
			/* Truncate the range. */
			for (size_t i = 0; i < NR_PTE_OFFSETS; i++)
				dax_entry_delete(&m, r->base + pte_offsets[i]);
		}
	}
	return NULL;
}

/* Quiescent check: per range, one PMD entry or only 4 KiB entries. */
static void check_ranges(void)
{
	for (int i = 0; i < NR_RANGES; i++) {
		uint64_t base = ranges[i].base;
		bool conflict;
		dax_entry_t pmd = t_load(&m, base, DAX_PMD_ORDER, &conflict);

		if (pmd)
			CHECK(!conflict);
		for (uint64_t j = 0; j < DAX_PMD_NR; j++) {
			dax_entry_t e = t_load(&m, base + j, 0, NULL);

			if (pmd)
				CHECK_EQ(e, pmd);
			else
				CHECK(!dax_entry_is_pmd(e));
		}
	}
}

static void test_stress(double secs)
{
	static struct stresser s[NR_STRESS_THREADS];
	unsigned long calls = atomic_load(&downgrade_calls);
	unsigned long downgrades = t_stat(&m.stats.downgrades);
	uint64_t pmd_locks = 0, pte_locks = 0;

	/* Neighbours: one node holds both PMD ranges in the default build. */
	ranges[0].base = 8 * DAX_PMD_NR;
	ranges[1].base = 9 * DAX_PMD_NR;
	atomic_store(&stress_stop, false);
	for (int i = 0; i < NR_STRESS_THREADS; i++) {
		t_rng_init(&s[i].rng, t_seed * 7 + (uint64_t)i);
		s[i].thread = t_spawn(stress_fn, &s[i]);
	}
	for (double end = t_now() + secs; t_now() < end;)
		t_relax();
	atomic_store(&stress_stop, true);
	for (int i = 0; i < NR_STRESS_THREADS; i++) {
		t_join(s[i].thread);
		CHECK(s[i].ops > 0);
		pmd_locks += s[i].pmd_locks;
		pte_locks += s[i].pte_locks;
	}
	CHECK(pmd_locks > 0);
	CHECK(pte_locks > 0);
	CHECK_EQ(atomic_load(&downgrade_calls) - calls,
		 t_stat(&m.stats.downgrades) - downgrades);
	check_ranges();
	t_check_all_idle(&m);
	printf("lock_pmd: stress %" PRIu64 " PMD and %" PRIu64
	       " 4 KiB locks, %lu downgrades, %lu conflicts\n",
	       pmd_locks, pte_locks, t_stat(&m.stats.downgrades) - downgrades,
	       t_stat(&m.stats.conflicts));
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(t_long ? 900 : 60);
	REQUIRE(dax_mapping_init(&m) == 0);
	m.pmd_downgrade = on_downgrade;

	test_conflict_does_not_sleep();
	test_pte_waits_on_pmd();
	test_downgrade_wakes_all(t_long ? 500 : 20);
	test_downgrade_zero();
	test_existing_does_not_split();
	test_stress(t_long ? 60.0 : 2.0);

	dax_mapping_destroy(&m);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("lock_pmd");
}
