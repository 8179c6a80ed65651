/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * entry_lock.c - lock bits inside index entries, with sleeping waiters in
 * the hashed wait table.
 *
 * @m is the mapping, @cur a cursor on m->idx, @e an entry value, @b a wait
 * bucket, @w a waiter. The lock is bit LOCKED of the value in the entry's
 * canonical slot: taking it is one compare-and-swap on that slot, with no
 * index lock. See entry_lock.h for the synchronisation table.
 *
 * Why no wake-up is lost. A waiter W, under its bucket lock, first queues
 * itself and then sets WAITERS on the value it saw locked, with a CAS that
 * fails if the value changed (unlocked, replaced or erased): then W leaves
 * the queue and looks again. Every operation that unlocks, replaces or
 * erases the value does so with one atomic read-modify-write and, if the
 * old value had WAITERS, takes the bucket lock and wakes. Both touch the
 * same word, so either W's CAS comes first (the waker sees WAITERS, and W
 * is already queued) or W's CAS fails. WAITERS is cleared only under the
 * bucket lock by a waker that found no queued waiter left for the key, so
 * a waiter that sets it cannot race with its clearing.
 *
 * Why a wake-up is never used up by the wrong thread. Wake-ups are keyed
 * (mapping, first index of the entry), and all waiters are exclusive: a
 * WAKE_NEXT wakes only a waiter whose key matches. A woken waiter always
 * looks the entry up again and either locks it (its unlock later wakes the
 * next) or, when it gives up, passes the wake-up on (put_unlocked).
 */
#include <errno.h>
#include <string.h>

#include "entry_lock.h"
#include "../index/rcu.h"
#include "../util/compiler.h"

#define LOCK_BITS (DAX_ENTRY_LOCKED | DAX_ENTRY_WAITERS)

static inline void stat_add(atomic_ulong *c, unsigned long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/*
 * dax_mapping_init() - set up an empty mapping.
 * Return: 0 or -errno from pthread_mutex_init.
 */
int dax_mapping_init(struct dax_mapping *m)
{
	memset(m, 0, sizeof(*m));
	return dax_idx_init(&m->idx);
}

/*
 * dax_mapping_destroy() - free every entry and node of @m.
 * Context: no other thread uses @m; no entry is locked.
 */
void dax_mapping_destroy(struct dax_mapping *m)
{
	dax_idx_destroy(&m->idx);
}

/*
 * Wake waiters for @key; if none is left for it, clear WAITERS from the
 * value now in @slot (if any). Context: under dax_rcu_read_lock() when
 * @slot is not NULL, so the slot's node cannot be freed under us.
 */
static void wake_key(struct dax_mapping *m, _Atomic uintptr_t *slot,
		     uint64_t key, enum dax_wake_mode mode)
{
	struct dax_wait_bucket *b = dax_wait_bucket(m, key);
	unsigned int n;
	bool more;

	pthread_mutex_lock(&b->lock);
	n = dax_wake_locked(b, m, key, mode, &more);
	if (!more && slot) {
		uintptr_t v = atomic_load_explicit(slot, memory_order_relaxed);

		while (dax_slot_is_value(v) && (v & DAX_ENTRY_WAITERS) &&
		       !atomic_compare_exchange_weak_explicit(
			       slot, &v, v & ~DAX_ENTRY_WAITERS,
			       memory_order_relaxed, memory_order_relaxed))
			;
	}
	pthread_mutex_unlock(&b->lock);
	if (n)
		stat_add(&m->stats.wakeups, n);
}

/*
 * Sleep until the value @e, seen locked in @cur->slot, is unlocked or
 * replaced. Context: inside dax_rcu_read_lock(), which is left while
 * sleeping and entered again before returning; the caller must look the
 * entry up again (its node may be gone).
 */
static void wait_unlocked(struct dax_mapping *m, struct dax_cursor *cur,
			  dax_entry_t e)
{
	uint64_t key = dax_entry_key(cur, e);
	struct dax_wait_bucket *b = dax_wait_bucket(m, key);
	struct dax_waiter w = { .mapping = m, .index = key };
	_Atomic uintptr_t *slot = cur->slot;
	uintptr_t v;

	pthread_mutex_lock(&b->lock);
	dax_wait_enqueue(b, &w);
	v = atomic_load_explicit(slot, memory_order_acquire);
	for (;;) {
		if (!dax_slot_is_value(v) || !dax_entry_locked(v)) {
			/* Changed while we queued: look again. */
			dax_wait_dequeue(&w);
			pthread_mutex_unlock(&b->lock);
			return;
		}
		if (v & DAX_ENTRY_WAITERS)
			break;
		if (atomic_compare_exchange_weak_explicit(
			    slot, &v, v | DAX_ENTRY_WAITERS,
			    memory_order_acq_rel, memory_order_acquire))
			break;
	}
	pthread_mutex_unlock(&b->lock);
	stat_add(&m->stats.waits, 1);
	dax_rcu_read_unlock();
	dax_wait_sleep(&w);
	dax_rcu_read_lock();
}

/*
 * dax_entry_get_unlocked() - wait until the entry at @cur is not locked.
 *
 * Does not lock it: the caller either decides to lock it later with
 * dax_entry_grab(), or must call dax_entry_put_unlocked() so that a
 * wake-up it may have consumed reaches the next waiter. For a PMD cursor
 * with smaller entries in its range, returns 0 at once with
 * @cur->conflict set (nobody would wake us on that key).
 *
 * Context: no entry lock held; may sleep.
 * Return: the unlocked entry as seen, or 0 if there is none.
 */
dax_entry_t dax_entry_get_unlocked(struct dax_mapping *m,
				   struct dax_cursor *cur)
{
	dax_entry_t e;

	dax_rcu_read_lock();
	for (;;) {
		e = dax_idx_load(cur);
		if (!e || !dax_entry_locked(e))
			break;
		wait_unlocked(m, cur, e);
	}
	dax_rcu_read_unlock();
	return e & ~DAX_ENTRY_WAITERS;
}

/*
 * dax_entry_put_unlocked() - done with an entry from get_unlocked that
 * was not locked: wake the next waiter if there is one.
 * Context: no entry lock held.
 */
void dax_entry_put_unlocked(struct dax_mapping *m, struct dax_cursor *cur)
{
	dax_entry_t e;

	dax_rcu_read_lock();
	e = dax_idx_load(cur);
	if (e && (e & DAX_ENTRY_WAITERS) && !dax_entry_locked(e))
		wake_key(m, cur->slot, dax_entry_key(cur, e), DAX_WAKE_NEXT);
	dax_rcu_read_unlock();
}

/* Insert an EMPTY locked entry at @cur, allocating outside the lock. */
static int insert_empty(struct dax_mapping *m, struct dax_cursor *cur,
			dax_entry_t *entryp)
{
	dax_entry_t e = dax_mk_entry(0, DAX_ENTRY_EMPTY |
						(cur->order ? DAX_ENTRY_PMD : 0)) |
			DAX_ENTRY_LOCKED;
	int err = dax_idx_insert_alloc(cur, e);

	dax_cursor_release(cur);
	if (!err) {
		stat_add(&m->stats.inserts, 1);
		*entryp = e;
	}
	return err;
}

/* Erase the entry locked at @cur and wake everybody waiting on it. */
static void erase_locked(struct dax_mapping *m, struct dax_cursor *cur)
{
	uint64_t key;
	dax_entry_t old;

	pthread_mutex_lock(&m->idx.lock);
	old = dax_idx_erase(cur);
	pthread_mutex_unlock(&m->idx.lock);
	UDAX_BUG_ON(!dax_entry_locked(old));
	key = dax_entry_key(cur, old);
	if (old & DAX_ENTRY_WAITERS)
		wake_key(m, NULL, key, DAX_WAKE_ALL);
}

/* Walk, wait, insert or downgrade: everything but the fast path. */
static __attribute__((noinline)) int
grab_slow(struct dax_mapping *m, struct dax_cursor *cur, unsigned int flags,
	  dax_entry_t *entryp);

/*
 * dax_entry_grab() - lock the entry at @cur, creating an EMPTY locked one
 * if there is none (the seed's grab_mapping_entry).
 *
 * @cur->order 0: the entry at @cur->index, which may be a PMD entry
 * covering it. A ZERO or EMPTY PMD entry is downgraded instead: locked,
 * handed to m->pmd_downgrade, erased (waking all its waiters) and
 * replaced by a 4 KiB EMPTY entry.
 * @cur->order DAX_PMD_ORDER: the PMD entry at the aligned @cur->index; if
 * smaller entries exist in its range, fails at once with -EEXIST.
 * With DAX_GRAB_EXISTING, no entry is created and none is downgraded:
 * the entry covering @cur->index is locked as it is (writeback, delete,
 * mkwrite want the entry, not a new one).
 *
 * Context: no entry lock held; may sleep; allocates outside all locks.
 * Return: 0 with *@entryp the locked entry (WAITERS masked off) and @cur
 * on its slot; -EEXIST
 * (PMD conflict), -ENOENT (DAX_GRAB_EXISTING and no entry), -EBUSY
 * (DAX_GRAB_NOWAIT and the entry is locked), -ENOMEM, or
 * the error of m->pmd_downgrade, with nothing locked and the index
 * unchanged.
 */
int dax_entry_grab(struct dax_mapping *m, struct dax_cursor *cur,
		   unsigned int flags, dax_entry_t *entryp)
{
	_Atomic uintptr_t *slot = dax_idx_cached_slot(cur);

	UDAX_BUG_ON(cur->idx != &m->idx);
	/*
	 * Fast path: the entry is in this thread's cached leaf and unlocked.
	 * No RCU section and no index lock: the leaf is pinned, so it cannot
	 * be freed under the CAS, and a leaf holds only 4 KiB entries, so
	 * there is nothing to downgrade. The CAS is the same lock-taking
	 * step as below (acquire: what the previous holder did under the lock
	 * is seen); it fails if the value changed since the load (locked,
	 * replaced, or erased: then it is 0 and the slow path walks).
	 */
	if (likely(slot)) {
		dax_entry_t e = atomic_load_explicit(slot,
						     memory_order_relaxed);

		if (likely((e & (DAX_ENTRY_VALUE | DAX_ENTRY_LOCKED)) ==
			   DAX_ENTRY_VALUE) &&
		    likely(atomic_compare_exchange_strong_explicit(
			    slot, &e, e | DAX_ENTRY_LOCKED,
			    memory_order_acquire, memory_order_relaxed))) {
			UDAX_BUG_ON(dax_entry_is_pmd(e));
			*entryp = (e | DAX_ENTRY_LOCKED) & ~DAX_ENTRY_WAITERS;
			return 0;
		}
	}
	return grab_slow(m, cur, flags, entryp);
}

static int grab_slow(struct dax_mapping *m, struct dax_cursor *cur,
		     unsigned int flags, dax_entry_t *entryp)
{
	dax_entry_t e;
	int err;

	dax_rcu_read_lock();
retry:
	e = dax_idx_load(cur);
	if (cur->conflict) {
		dax_rcu_read_unlock();
		stat_add(&m->stats.conflicts, 1);
		return -EEXIST;
	}
	if (e) {
		if (dax_entry_locked(e)) {
			if (flags & DAX_GRAB_NOWAIT) {
				dax_rcu_read_unlock();
				return -EBUSY;
			}
			wait_unlocked(m, cur, e);
			goto retry;
		}
		if (!atomic_compare_exchange_strong_explicit(
			    cur->slot, &e, e | DAX_ENTRY_LOCKED,
			    memory_order_acquire, memory_order_relaxed))
			goto retry;
		e |= DAX_ENTRY_LOCKED;
		if (!cur->order && !(flags & DAX_GRAB_EXISTING) &&
		    dax_entry_is_pmd(e) &&
		    (dax_entry_is_zero(e) || dax_entry_is_empty(e))) {
			dax_rcu_read_unlock();
			err = m->pmd_downgrade ? m->pmd_downgrade(
							 m,
							 cur->index &
								 DAX_PMD_MASK,
							 e)
					       : 0;
			if (err) {
				/*
				 * The huge zero page may still be mapped: the
				 * entry must stay, so that whatever fills the
				 * hole later unmaps it. Give it back.
				 */
				dax_entry_unlock(m, cur);
				return err;
			}
			erase_locked(m, cur);
			stat_add(&m->stats.downgrades, 1);
			dax_rcu_read_lock();
			goto retry;
		}
		dax_rcu_read_unlock();
		/* WAITERS is the wait table's business, not the caller's. */
		*entryp = e & ~DAX_ENTRY_WAITERS;
		return 0;
	}
	dax_rcu_read_unlock();
	if (flags & DAX_GRAB_EXISTING)
		return -ENOENT;
	err = insert_empty(m, cur, entryp);
	if (err == -EEXIST) {
		/* Lost an insert race, or a PMD range filled up: look again. */
		dax_rcu_read_lock();
		goto retry;
	}
	return err;
}

/*
 * dax_entry_unlock() - unlock the entry locked at @cur and wake the next
 * waiter for it, if the entry says there may be one.
 * Context: entry locked by the caller through @cur.
 */
void dax_entry_unlock(struct dax_mapping *m, struct dax_cursor *cur)
{
	uintptr_t old = atomic_load_explicit(cur->slot, memory_order_relaxed);

	UDAX_BUG_ON(!dax_slot_is_value(old) || !dax_entry_locked(old));
	/*
	 * Nobody waits: one CAS and no RCU section. We hold the lock, so the
	 * slot cannot be freed before the CAS, and we do not touch it after.
	 * If a waiter sets WAITERS meanwhile the CAS fails: slow path.
	 */
	if (likely(!(old & DAX_ENTRY_WAITERS)) &&
	    atomic_compare_exchange_strong_explicit(
		    cur->slot, &old, old & ~DAX_ENTRY_LOCKED,
		    memory_order_release, memory_order_relaxed))
		return;
	dax_rcu_read_lock();
	/* Release: what we did under the lock is seen by the next owner. */
	old = atomic_fetch_and_explicit(cur->slot, ~DAX_ENTRY_LOCKED,
					memory_order_release);
	UDAX_BUG_ON(!dax_slot_is_value(old) || !dax_entry_locked(old));
	if (old & DAX_ENTRY_WAITERS)
		wake_key(m, cur->slot, dax_entry_key(cur, old), DAX_WAKE_NEXT);
	dax_rcu_read_unlock();
}

/*
 * dax_entry_update() - change the locked entry at @cur to @entry (same
 * order), keeping it locked; waiters keep waiting for the unlock.
 * Context: entry locked by the caller through @cur.
 * Return: the new value (locked).
 */
dax_entry_t dax_entry_update(struct dax_mapping *m, struct dax_cursor *cur,
			     dax_entry_t entry)
{
	uintptr_t old = atomic_load_explicit(cur->slot, memory_order_relaxed);
	uintptr_t new;

	(void)m;
	UDAX_BUG_ON(!dax_entry_locked(old));
	UDAX_BUG_ON(dax_entry_order(old) != dax_entry_order(entry));
	do {
		new = (entry & ~LOCK_BITS) | DAX_ENTRY_LOCKED |
		      (old & DAX_ENTRY_WAITERS);
	} while (!atomic_compare_exchange_weak_explicit(
		cur->slot, &old, new, memory_order_release,
		memory_order_relaxed));
	return new;
}

/*
 * dax_entry_replace() - put @entry (same order, stored unlocked) in place
 * of the entry locked at @cur, and wake all its waiters: whatever they
 * were waiting for has changed, so each looks again.
 * Context: entry locked by the caller through @cur; it is not any more.
 */
void dax_entry_replace(struct dax_mapping *m, struct dax_cursor *cur,
		       dax_entry_t entry)
{
	uintptr_t old;

	dax_rcu_read_lock();
	old = atomic_exchange_explicit(cur->slot, entry & ~LOCK_BITS,
				       memory_order_acq_rel);
	UDAX_BUG_ON(!dax_entry_locked(old));
	UDAX_BUG_ON(dax_entry_order(old) != dax_entry_order(entry));
	if (old & DAX_ENTRY_WAITERS)
		wake_key(m, cur->slot, dax_entry_key(cur, old), DAX_WAKE_ALL);
	dax_rcu_read_unlock();
}

/*
 * dax_entry_delete_locked() - erase the entry locked at @cur; wake all waiters.
 * Context: entry locked by the caller through @cur; afterwards @cur has
 * no slot.
 */
void dax_entry_delete_locked(struct dax_mapping *m, struct dax_cursor *cur)
{
	erase_locked(m, cur);
}

/*
 * dax_entry_delete() - wait for the entry covering @index to be unlocked,
 * then erase it and wake all its waiters. Finding no entry is not an
 * error (a concurrent delete may have won; the seed's review asked for
 * no false warning there).
 * Context: no entry lock held; may sleep.
 * Return: 1 if an entry was erased, 0 if there was none.
 */
int dax_entry_delete(struct dax_mapping *m, uint64_t index)
{
	DAX_CURSOR(cur, index, &m->idx, 0);
	dax_entry_t e;

	if (dax_entry_grab(m, &cur, DAX_GRAB_EXISTING, &e))
		return 0;
	erase_locked(m, &cur);
	return 1;
}

/*
 * dax_entry_invalidate() - like dax_entry_delete(), but leave an entry
 * tagged DIRTY or TOWRITE in place (it still has data to write back).
 * Context: no entry lock held; may sleep.
 * Return: 1 if erased, 0 if there was none or it was kept.
 */
int dax_entry_invalidate(struct dax_mapping *m, uint64_t index)
{
	DAX_CURSOR(cur, index, &m->idx, 0);
	dax_entry_t e;
	bool dirty;

	if (dax_entry_grab(m, &cur, DAX_GRAB_EXISTING, &e))
		return 0;
	pthread_mutex_lock(&m->idx.lock);
	dirty = dax_idx_tag_get(&cur, DAX_TAG_DIRTY) ||
		dax_idx_tag_get(&cur, DAX_TAG_TOWRITE);
	pthread_mutex_unlock(&m->idx.lock);
	if (dirty) {
		dax_entry_unlock(m, &cur);
		return 0;
	}
	erase_locked(m, &cur);
	return 1;
}

/*
 * dax_entry_tag_set() - tag the entry locked at @cur. May block briefly.
 * An entry's tags are cleared only by its lock holder (writeback, erase),
 * so if the bit is already set it stays set while we hold the lock, and
 * so do the parents' bits above it: no need for the index lock then (a
 * write fault on a dirty page is the common case).
 */
void dax_entry_tag_set(struct dax_mapping *m, struct dax_cursor *cur,
		       enum dax_tag tag)
{
	if (dax_idx_tag_get(cur, tag))
		return;
	pthread_mutex_lock(&m->idx.lock);
	dax_idx_tag_set(cur, tag);
	pthread_mutex_unlock(&m->idx.lock);
}

/* dax_entry_tag_clear() - untag the entry locked at @cur. */
void dax_entry_tag_clear(struct dax_mapping *m, struct dax_cursor *cur,
			 enum dax_tag tag)
{
	pthread_mutex_lock(&m->idx.lock);
	dax_idx_tag_clear(cur, tag);
	pthread_mutex_unlock(&m->idx.lock);
}

/* dax_entry_tag_get() - is the entry locked at @cur tagged @tag? */
bool dax_entry_tag_get(struct dax_mapping *m, struct dax_cursor *cur,
		       enum dax_tag tag)
{
	bool set;

	pthread_mutex_lock(&m->idx.lock);
	set = dax_idx_tag_get(cur, tag);
	pthread_mutex_unlock(&m->idx.lock);
	return set;
}
