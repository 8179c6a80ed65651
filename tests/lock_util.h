/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock_util.h - helpers shared by the threaded lock_* tests: peeking at
 * the index, starting and joining threads, and waiting until a known
 * number of threads sleep on entries.
 *
 * Forcing an interleaving: hold an entry lock, start the threads that
 * should block on it, then t_wait_sleepers() until m->stats.waits says
 * they are queued (a waiter bumps it after it is on its bucket list with
 * WAITERS set in the entry, so a wake-up from now on reaches it). Only
 * then act. No sleeps, no timing assumptions; a hang is caught by the
 * test's watchdog.
 */
#ifndef UDAX_TESTS_LOCK_UTIL_H
#define UDAX_TESTS_LOCK_UTIL_H

#include "test_util.h"

#include <errno.h>
#include <sched.h>

#include "index/rcu.h"
#include "lock/entry_lock.h"

/*
 * The value covering @index (order 0) or the PMD entry at @index (order
 * DAX_PMD_ORDER), as a lock-free reader sees it; *@conflict (if not NULL)
 * tells whether a PMD walk found smaller entries in the range.
 */
static inline dax_entry_t t_load(struct dax_mapping *m, uint64_t index,
				 unsigned int order, bool *conflict)
{
	DAX_CURSOR(cur, index, &m->idx, order);
	dax_entry_t e;

	dax_rcu_read_lock();
	e = dax_idx_load(&cur);
	dax_rcu_read_unlock();
	if (conflict)
		*conflict = cur.conflict;
	return e;
}

static inline unsigned long t_stat(atomic_ulong *c)
{
	return atomic_load(c);
}

/* Let other threads run while we poll (2 cores, sanitizers). */
static inline void t_relax(void)
{
	struct timespec ts = {0, 20000};

	nanosleep(&ts, NULL);
}

/* Wait until at least @n sleeps have been counted on @m. */
static inline void t_wait_sleepers(struct dax_mapping *m, unsigned long n)
{
	while (atomic_load(&m->stats.waits) < n)
		t_relax();
}

/*
 * Claim (@v = 1 + thread id) or give back (@v = 0) an owner word that
 * proves mutual exclusion: the exchange returns the previous owner, which
 * must be 0 when claiming. Relaxed on purpose: the exchange still sees a
 * second owner, but orders nothing, so that ThreadSanitizer finds the
 * plain data written under an entry lock ordered by that lock alone (an
 * unlock without release semantics shows up as a data race).
 */
static inline int t_owner_swap(atomic_int *owner, int v)
{
	return atomic_exchange_explicit(owner, v, memory_order_relaxed);
}

static inline pthread_t t_spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	REQUIRE(pthread_create(&t, NULL, fn, arg) == 0);
	return t;
}

static inline void t_join(pthread_t t)
{
	REQUIRE(pthread_join(t, NULL) == 0);
}

/*
 * Every entry of @m is unlocked and has WAITERS clear, as it must be once
 * all threads are done. Return: the number of entries seen.
 */
static inline uint64_t t_check_all_idle(struct dax_mapping *m)
{
	uint64_t index = 0, n = 0;
	dax_entry_t e;

	dax_rcu_read_lock();
	while (dax_idx_next_entry(&m->idx, &index, UINT64_MAX, &e)) {
		CHECK(!dax_entry_locked(e));
		CHECK(!(e & DAX_ENTRY_WAITERS));
		n++;
		index += (uint64_t)1 << dax_entry_order(e);
		if (index == 0)
			break; /* wrapped past UINT64_MAX */
	}
	dax_rcu_read_unlock();
	CHECK_EQ(n, m->idx.nr_entries);
	return n;
}

#endif /* UDAX_TESTS_LOCK_UTIL_H */
