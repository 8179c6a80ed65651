/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock_basic - the single-threaded contract of the entry-lock API: what
 * grab, update, unlock, replace, get_unlocked, the tag calls, delete and
 * invalidate leave in the index, and that their failures (-ENOENT,
 * -ENOMEM) leave nothing behind.
 *
 * Bugs it catches: grab inserting a placeholder that is not EMPTY and
 * locked (or not counting it), or inserting with DAX_GRAB_EXISTING;
 * update or tag calls dropping the lock; unlock leaving LOCKED set or
 * setting WAITERS with nobody waiting (every later unlock would then take
 * the bucket lock); get_unlocked locking what it returns; delete
 * reporting an erase that did not happen (the seed's false warning on a
 * missing entry); invalidate erasing an entry that still has data to
 * write back; an -ENOMEM grab that leaves a half-built path, leaked
 * spare nodes or a locked entry behind.
 */
#include "test_util.h"

#include <errno.h>

#include "index/rcu.h"
#include "lock/entry_lock.h"
#include "lock_util.h"

/* Grab @index (which must work), store a mapped entry for @block, unlock. */
static void make_mapped(struct dax_mapping *m, uint64_t index, uint64_t block)
{
	DAX_CURSOR(cur, index, &m->idx, 0);
	dax_entry_t e;

	REQUIRE(dax_entry_grab(m, &cur, 0, &e) == 0);
	dax_entry_update(m, &cur, dax_mk_entry(block, 0));
	dax_entry_unlock(m, &cur);
}

/* Grab on an empty index, update, unlock, grab again. */
static void check_grab_update_unlock(struct dax_mapping *m)
{
	DAX_CURSOR(cur, 10, &m->idx, 0);
	dax_entry_t e = 0, e2;

	CHECK_EQ(dax_entry_grab(m, &cur, 0, &e), 0);
	CHECK(dax_slot_is_value(e));
	CHECK(dax_entry_locked(e));
	CHECK(dax_entry_is_empty(e));
	CHECK(!dax_entry_is_pmd(e));
	CHECK(!dax_entry_is_zero(e));
	CHECK(!(e & DAX_ENTRY_WAITERS));
	CHECK_EQ(dax_entry_block(e), 0);
	CHECK_EQ(t_stat(&m->stats.inserts), 1);
	CHECK_EQ(m->idx.nr_entries, 1);
	/* The cursor is left on the entry's slot, and the index agrees. */
	REQUIRE(cur.slot != NULL);
	CHECK_EQ(atomic_load(cur.slot), e);
	CHECK_EQ(t_load(m, 10, 0, NULL), e);

	/* Update changes block and kind but keeps the entry locked. */
	e2 = dax_entry_update(m, &cur, dax_mk_entry(1234, 0));
	CHECK(dax_entry_locked(e2));
	CHECK(!dax_entry_is_empty(e2));
	CHECK_EQ(dax_entry_block(e2), 1234);
	CHECK_EQ(t_load(m, 10, 0, NULL), e2);
	e2 = dax_entry_update(m, &cur, dax_mk_entry(0, DAX_ENTRY_ZERO));
	CHECK(dax_entry_locked(e2));
	CHECK(dax_entry_is_zero(e2));
	CHECK_EQ(t_load(m, 10, 0, NULL), e2);
	/* An update is not an insert. */
	CHECK_EQ(t_stat(&m->stats.inserts), 1);

	/* Unlock clears LOCKED and, with nobody waiting, sets nothing. */
	dax_entry_unlock(m, &cur);
	e = t_load(m, 10, 0, NULL);
	CHECK_EQ(e, dax_mk_entry(0, DAX_ENTRY_ZERO));
	CHECK(!dax_entry_locked(e));
	CHECK(!(e & DAX_ENTRY_WAITERS));

	/* Grab of an existing entry locks that entry, inserts nothing. */
	dax_cursor_set(&cur, 10, 0);
	CHECK_EQ(dax_entry_grab(m, &cur, 0, &e), 0);
	CHECK_EQ(e, dax_mk_entry(0, DAX_ENTRY_ZERO) | DAX_ENTRY_LOCKED);
	CHECK_EQ(t_load(m, 10, 0, NULL), e);
	CHECK_EQ(t_stat(&m->stats.inserts), 1);
	CHECK_EQ(m->idx.nr_entries, 1);
	dax_entry_unlock(m, &cur);
	CHECK_EQ(t_load(m, 10, 0, NULL), dax_mk_entry(0, DAX_ENTRY_ZERO));

	/* DAX_GRAB_EXISTING locks a present entry just the same. */
	dax_cursor_set(&cur, 10, 0);
	CHECK_EQ(dax_entry_grab(m, &cur, DAX_GRAB_EXISTING, &e), 0);
	CHECK(dax_entry_locked(t_load(m, 10, 0, NULL)));
	dax_entry_unlock(m, &cur);
	CHECK(!dax_entry_locked(t_load(m, 10, 0, NULL)));

	/* Nobody ever slept or was woken. */
	CHECK_EQ(t_stat(&m->stats.waits), 0);
	CHECK_EQ(t_stat(&m->stats.wakeups), 0);
}

/* DAX_GRAB_EXISTING on absent indexes: -ENOENT and no trace. */
static void check_grab_existing_absent(struct dax_mapping *m)
{
	static const uint64_t absent[] = {11, 9, 0, 1ULL << 30, UINT64_MAX};
	unsigned long inserts = t_stat(&m->stats.inserts);
	uint64_t entries = m->idx.nr_entries, nodes = m->idx.nr_nodes;
	long live = dax_idx_live_nodes();

	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		DAX_CURSOR(cur, absent[i], &m->idx, 0);
		dax_entry_t e = 0x5a5a;

		CHECK_EQ(dax_entry_grab(m, &cur, DAX_GRAB_EXISTING, &e),
			 -ENOENT);
		CHECK_EQ(e, 0x5a5a); /* *entryp untouched on failure */
		CHECK_EQ(t_load(m, absent[i], 0, NULL), 0);
	}
	CHECK_EQ(t_stat(&m->stats.inserts), inserts);
	CHECK_EQ(m->idx.nr_entries, entries);
	CHECK_EQ(m->idx.nr_nodes, nodes);
	CHECK_EQ(dax_idx_live_nodes(), live);
}

/* get_unlocked returns what is there and locks nothing. */
static void check_get_unlocked(struct dax_mapping *m)
{
	DAX_CURSOR(cur, 11, &m->idx, 0);
	dax_entry_t e;

	CHECK_EQ(dax_entry_get_unlocked(m, &cur), 0);
	dax_entry_put_unlocked(m, &cur);
	CHECK_EQ(t_load(m, 11, 0, NULL), 0);

	dax_cursor_set(&cur, 10, 0);
	e = dax_entry_get_unlocked(m, &cur);
	CHECK_EQ(e, dax_mk_entry(0, DAX_ENTRY_ZERO));
	CHECK_EQ(t_load(m, 10, 0, NULL), e);
	dax_entry_put_unlocked(m, &cur);
	CHECK_EQ(t_load(m, 10, 0, NULL), e);
	CHECK_EQ(t_stat(&m->stats.wakeups), 0);
}

/* Tags set and cleared under the entry lock, kept across unlock. */
static void check_tags(struct dax_mapping *m)
{
	DAX_CURSOR(cur, 12, &m->idx, 0);
	dax_entry_t e;

	make_mapped(m, 12, 77);
	REQUIRE(dax_entry_grab(m, &cur, 0, &e) == 0);
	CHECK(!dax_entry_tag_get(m, &cur, DAX_TAG_DIRTY));
	CHECK(!dax_entry_tag_get(m, &cur, DAX_TAG_TOWRITE));
	dax_entry_tag_set(m, &cur, DAX_TAG_DIRTY);
	CHECK(dax_entry_tag_get(m, &cur, DAX_TAG_DIRTY));
	CHECK(!dax_entry_tag_get(m, &cur, DAX_TAG_TOWRITE));
	dax_entry_tag_set(m, &cur, DAX_TAG_TOWRITE);
	CHECK(dax_entry_tag_get(m, &cur, DAX_TAG_TOWRITE));
	dax_entry_tag_clear(m, &cur, DAX_TAG_DIRTY);
	CHECK(!dax_entry_tag_get(m, &cur, DAX_TAG_DIRTY));
	CHECK(dax_entry_tag_get(m, &cur, DAX_TAG_TOWRITE));
	/* Tagging does not touch the entry word: still ours, still locked. */
	CHECK_EQ(t_load(m, 12, 0, NULL), e);
	dax_entry_tag_clear(m, &cur, DAX_TAG_TOWRITE);
	CHECK(!dax_entry_tag_get(m, &cur, DAX_TAG_TOWRITE));

	/* The tag belongs to the entry, not to the lock holder. */
	dax_entry_tag_set(m, &cur, DAX_TAG_DIRTY);
	dax_entry_unlock(m, &cur);
	dax_cursor_set(&cur, 12, 0);
	REQUIRE(dax_entry_grab(m, &cur, 0, &e) == 0);
	CHECK(dax_entry_tag_get(m, &cur, DAX_TAG_DIRTY));
	/* A neighbour is not tagged by it. */
	{
		DAX_CURSOR(other, 10, &m->idx, 0);
		dax_entry_t o;

		REQUIRE(dax_entry_grab(m, &other, 0, &o) == 0);
		CHECK(!dax_entry_tag_get(m, &other, DAX_TAG_DIRTY));
		dax_entry_unlock(m, &other);
	}
	dax_entry_unlock(m, &cur);
}

/* Delete returns 1 only when it erased something. */
static void check_delete(struct dax_mapping *m)
{
	unsigned long inserts = t_stat(&m->stats.inserts);
	uint64_t entries = m->idx.nr_entries;

	/* 12 is tagged DIRTY: delete does not care, invalidate would. */
	CHECK_EQ(dax_entry_delete(m, 12), 1);
	CHECK_EQ(t_load(m, 12, 0, NULL), 0);
	CHECK_EQ(m->idx.nr_entries, entries - 1);
	CHECK_EQ(dax_entry_delete(m, 12), 0);
	CHECK_EQ(dax_entry_delete(m, 13), 0);
	CHECK_EQ(dax_entry_delete(m, UINT64_MAX), 0);
	CHECK_EQ(m->idx.nr_entries, entries - 1);
	CHECK_EQ(t_stat(&m->stats.inserts), inserts);

	/* A deleted entry is gone for good: grab inserts a fresh EMPTY one. */
	{
		DAX_CURSOR(cur, 12, &m->idx, 0);
		dax_entry_t e;

		CHECK_EQ(dax_entry_grab(m, &cur, 0, &e), 0);
		CHECK(dax_entry_is_empty(e));
		CHECK_EQ(t_stat(&m->stats.inserts), inserts + 1);
		/* Its tags went with the old entry. */
		CHECK(!dax_entry_tag_get(m, &cur, DAX_TAG_DIRTY));
		/* dax_entry_delete_locked erases what we hold. */
		dax_entry_delete_locked(m, &cur);
		CHECK(cur.slot == NULL);
		CHECK_EQ(t_load(m, 12, 0, NULL), 0);
		CHECK_EQ(m->idx.nr_entries, entries - 1);
	}
}

/* Replace stores the new value unlocked. */
static void check_replace(struct dax_mapping *m)
{
	DAX_CURSOR(cur, 14, &m->idx, 0);
	dax_entry_t e;

	REQUIRE(dax_entry_grab(m, &cur, 0, &e) == 0);
	/* Even when handed a value with lock bits, it stores it unlocked. */
	dax_entry_replace(m, &cur, dax_mk_entry(99, 0) | DAX_ENTRY_LOCKED);
	e = t_load(m, 14, 0, NULL);
	CHECK_EQ(e, dax_mk_entry(99, 0));
	CHECK(!dax_entry_locked(e));
	CHECK(!(e & DAX_ENTRY_WAITERS));
	CHECK_EQ(dax_entry_delete(m, 14), 1);
}

/* Invalidate keeps entries with data to write back. */
static void check_invalidate(struct dax_mapping *m)
{
	static const struct {
		uint64_t index;
		int tag; /* -1: clean */
	} cases[] = {
	    {20, DAX_TAG_DIRTY},
	    {21, DAX_TAG_TOWRITE},
	    {22, -1},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	for (size_t i = 0; i < n; i++) {
		DAX_CURSOR(cur, cases[i].index, &m->idx, 0);
		dax_entry_t e;

		REQUIRE(dax_entry_grab(m, &cur, 0, &e) == 0);
		dax_entry_update(m, &cur, dax_mk_entry(500 + i, 0));
		if (cases[i].tag >= 0)
			dax_entry_tag_set(m, &cur, (enum dax_tag)cases[i].tag);
		dax_entry_unlock(m, &cur);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t index = cases[i].index;

		if (cases[i].tag >= 0) {
			CHECK_EQ(dax_entry_invalidate(m, index), 0);
			/* Still there, unchanged, and not left locked. */
			CHECK_EQ(t_load(m, index, 0, NULL),
				 dax_mk_entry(500 + i, 0));
		} else {
			CHECK_EQ(dax_entry_invalidate(m, index), 1);
			CHECK_EQ(t_load(m, index, 0, NULL), 0);
		}
	}
	CHECK_EQ(dax_entry_invalidate(m, 22), 0);
	CHECK_EQ(dax_entry_invalidate(m, 23), 0);
	CHECK_EQ(t_load(m, 23, 0, NULL), 0);

	/* Once written back (tag cleared), the entry can go. */
	for (size_t i = 0; i < 2; i++) {
		DAX_CURSOR(cur, cases[i].index, &m->idx, 0);
		dax_entry_t e;

		REQUIRE(dax_entry_grab(m, &cur, 0, &e) == 0);
		dax_entry_tag_clear(m, &cur, (enum dax_tag)cases[i].tag);
		dax_entry_unlock(m, &cur);
		CHECK_EQ(dax_entry_invalidate(m, cases[i].index), 1);
		CHECK_EQ(t_load(m, cases[i].index, 0, NULL), 0);
	}
}

/*
 * Allocation failure. 1 << 40 lies far above everything in the tree, so
 * grabbing it needs new roots and a new path: several allocations.
 */
static void check_nomem(struct dax_mapping *m)
{
	uint64_t far = 1ULL << 40;
	unsigned long inserts = t_stat(&m->stats.inserts);
	uint64_t entries = m->idx.nr_entries, nodes = m->idx.nr_nodes;
	uintptr_t root = atomic_load(&m->idx.root);
	long live;

	/* Nodes retired earlier must be freed before we count: no RCU
	 * callback may run between the two counts below. */
	dax_rcu_barrier();
	live = dax_idx_live_nodes();

	/* 0: the first allocation fails; 1: the second, after one worked. */
	for (long after = 0; after < 2; after++) {
		DAX_CURSOR(cur, far, &m->idx, 0);
		dax_entry_t e = 0;

		dax_idx_fail_alloc_after(after);
		CHECK_EQ(dax_entry_grab(m, &cur, 0, &e), -ENOMEM);
		dax_idx_fail_alloc_after(-1);
		CHECK_EQ(e, 0);
		CHECK_EQ(t_load(m, far, 0, NULL), 0);
		CHECK_EQ(t_stat(&m->stats.inserts), inserts);
		CHECK_EQ(m->idx.nr_entries, entries);
		CHECK_EQ(m->idx.nr_nodes, nodes);
		CHECK_EQ(atomic_load(&m->idx.root), root);
		/* Spare nodes allocated before the failure were freed. */
		CHECK_EQ(dax_idx_live_nodes(), live);
	}
	/* Nothing stays locked: the old entry can be grabbed at once. */
	CHECK(!dax_entry_locked(t_load(m, 10, 0, NULL)));
	{
		DAX_CURSOR(cur, 10, &m->idx, 0);
		dax_entry_t e;

		CHECK_EQ(dax_entry_grab(m, &cur, 0, &e), 0);
		dax_entry_unlock(m, &cur);
	}
	/* With memory back, the same grab works. */
	{
		DAX_CURSOR(cur, far, &m->idx, 0);
		dax_entry_t e;

		CHECK_EQ(dax_entry_grab(m, &cur, 0, &e), 0);
		CHECK(dax_entry_is_empty(e) && dax_entry_locked(e));
		CHECK_EQ(t_stat(&m->stats.inserts), inserts + 1);
		dax_entry_unlock(m, &cur);
		CHECK_EQ(dax_entry_delete(m, far), 1);
	}
}

struct one_waiter {
	struct dax_mapping *m;
	uint64_t index;
	dax_entry_t got;
	int ret;
};

static void *one_waiter_fn(void *arg)
{
	struct one_waiter *w = arg;
	DAX_CURSOR(cur, w->index, &w->m->idx, 0);

	w->ret = dax_entry_grab(w->m, &cur, 0, &w->got);
	if (!w->ret)
		dax_entry_unlock(w->m, &cur);
	return NULL;
}

/*
 * A waiter sleeps only once WAITERS is set in the entry it waits for
 * (unlock takes the bucket lock only if it is), and its waker clears the
 * bit when it leaves nobody waiting.
 */
static void check_waiter_sets_waiters(struct dax_mapping *m)
{
	DAX_CURSOR(cur, 20, &m->idx, 0);
	struct one_waiter w = { .m = m, .index = 20 };
	unsigned long waits = t_stat(&m->stats.waits);
	unsigned long wakeups = t_stat(&m->stats.wakeups);
	struct timespec ts = { 0, 20000 };
	pthread_t t;
	dax_entry_t e;

	make_mapped(m, 20, 5);
	REQUIRE(dax_entry_grab(m, &cur, 0, &e) == 0);
	CHECK(!(t_load(m, 20, 0, NULL) & DAX_ENTRY_WAITERS));
	REQUIRE(pthread_create(&t, NULL, one_waiter_fn, &w) == 0);
	/* The waiter counts its sleep after marking the entry. */
	while (t_stat(&m->stats.waits) == waits)
		nanosleep(&ts, NULL);
	e = t_load(m, 20, 0, NULL);
	CHECK(dax_entry_locked(e));
	/* Without the bit our unlock would wake nobody: fail, do not hang. */
	REQUIRE(e & DAX_ENTRY_WAITERS);
	dax_entry_unlock(m, &cur);
	REQUIRE(pthread_join(t, NULL) == 0);
	CHECK_EQ(w.ret, 0);
	CHECK_EQ(w.got, dax_mk_entry(5, 0) | DAX_ENTRY_LOCKED);
	CHECK_EQ(t_load(m, 20, 0, NULL), dax_mk_entry(5, 0));
	CHECK_EQ(t_stat(&m->stats.waits) - waits, 1);
	CHECK_EQ(t_stat(&m->stats.wakeups) - wakeups, 1);
	CHECK_EQ(dax_entry_delete(m, 20), 1);
}

int main(int argc, char **argv)
{
	struct dax_mapping m;

	t_init(argc, argv);
	REQUIRE(dax_mapping_init(&m) == 0);

	check_grab_update_unlock(&m);
	check_grab_existing_absent(&m);
	check_get_unlocked(&m);
	check_tags(&m);
	check_delete(&m);
	check_replace(&m);
	check_invalidate(&m);
	check_nomem(&m);

	/* Whatever is left is unlocked and has no waiter bit. */
	{
		uint64_t index = 0;
		dax_entry_t e;
		unsigned int left = 0;

		dax_rcu_read_lock();
		while (dax_idx_next_entry(&m.idx, &index, UINT64_MAX, &e)) {
			CHECK(!(e & (DAX_ENTRY_LOCKED | DAX_ENTRY_WAITERS)));
			left++;
			if (index == UINT64_MAX)
				break;
			index++;
		}
		dax_rcu_read_unlock();
		CHECK_EQ(left, m.idx.nr_entries);
		CHECK_EQ(left, 1); /* index 10 */
	}
	CHECK_EQ(dax_entry_delete(&m, 10), 1);
	CHECK_EQ(m.idx.nr_entries, 0);
	CHECK_EQ(t_stat(&m.stats.waits), 0);
	CHECK_EQ(t_stat(&m.stats.wakeups), 0);
	check_waiter_sets_waiters(&m);

	dax_mapping_destroy(&m);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("lock_basic");
}
