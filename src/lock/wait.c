/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wait.c - hashed wait table with keyed exclusive wake-ups on futexes.
 *
 * @b is a bucket, @w a waiter. A bucket's list and every waiter on it are
 * protected by b->lock. A waiter is on at most one list; "woken" goes from
 * 0 to 1 once, after the waker has taken it off the list, so a waiter that
 * sees woken == 1 may return (and its stack frame vanish) at once. The
 * futex wake after that store may then hit a dead address, which is
 * harmless: it wakes nobody, or causes a spurious wake-up that every
 * sleeper tolerates by re-checking its word.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wait.h"

static struct dax_wait_bucket wait_table[DAX_WAIT_TABLE_SIZE];
static pthread_once_t wait_table_once = PTHREAD_ONCE_INIT;

static void wait_table_init(void)
{
	for (unsigned int i = 0; i < DAX_WAIT_TABLE_SIZE; i++) {
		pthread_mutex_init(&wait_table[i].lock, NULL);
		wait_table[i].head.next = &wait_table[i].head;
		wait_table[i].head.prev = &wait_table[i].head;
	}
}

/*
 * dax_wait_bucket() - the bucket for key (@mapping, @index).
 * Context: any thread; the table is set up on first use.
 */
struct dax_wait_bucket *dax_wait_bucket(const void *mapping, uint64_t index)
{
	uint64_t h = ((uintptr_t)mapping >> 6) ^ index;

	pthread_once(&wait_table_once, wait_table_init);
#if UDAX_WAIT_TABLE_BITS == 0
	(void)h;
	return &wait_table[0];
#else
	/* Fibonacci hashing: the top bits of a multiply mix all input bits. */
	h *= 0x9E3779B97F4A7C15ULL;
	return &wait_table[h >> (64 - UDAX_WAIT_TABLE_BITS)];
#endif
}

/* Add @w at the tail of @b. Context: b->lock held. */
void dax_wait_enqueue(struct dax_wait_bucket *b, struct dax_waiter *w)
{
	atomic_store_explicit(&w->woken, 0, memory_order_relaxed);
	w->prev = b->head.prev;
	w->next = &b->head;
	b->head.prev->next = w;
	b->head.prev = w;
}

/* Take @w off its bucket. Context: that bucket's lock held. */
void dax_wait_dequeue(struct dax_waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = w;
}

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

/*
 * dax_wait_sleep() - sleep until a waker has set @w->woken.
 * Context: @w enqueued by this thread, bucket lock not held, no entry
 * lock, index lock or RCU read-side critical section held.
 */
void dax_wait_sleep(struct dax_waiter *w)
{
	/* Pairs with the release store in dax_wake_locked(). */
	while (!atomic_load_explicit(&w->woken, memory_order_acquire))
		futex(&w->woken, FUTEX_WAIT_PRIVATE, 0);
}

static inline bool key_matches(const struct dax_waiter *w, const void *mapping,
			       uint64_t index)
{
	return w->mapping == mapping && w->index == index;
}

/*
 * dax_wake_locked() - wake the first (WAKE_NEXT) or every (WAKE_ALL)
 * waiter on @b whose key is (@mapping, @index). Waiters with other keys
 * are skipped and keep their place.
 *
 * Context: b->lock held.
 * Return: the number of waiters woken; *@more (if not NULL) tells whether
 * waiters with this key remain on the bucket.
 */
unsigned int dax_wake_locked(struct dax_wait_bucket *b, const void *mapping,
			     uint64_t index, enum dax_wake_mode mode,
			     bool *more)
{
	struct dax_waiter *w = b->head.next, *next;
	unsigned int woken = 0;
	bool remain = false;

	for (; w != &b->head; w = next) {
		next = w->next;
		if (!key_matches(w, mapping, index))
			continue;
		if (mode == DAX_WAKE_NEXT && woken) {
			remain = true;
			break;
		}
		dax_wait_dequeue(w);
		atomic_store_explicit(&w->woken, 1, memory_order_release);
		futex(&w->woken, FUTEX_WAKE_PRIVATE, 1);
		woken++;
	}
	if (more)
		*more = remain;
	return woken;
}

/* Does any waiter on @b wait for (@mapping, @index)? Context: b->lock. */
bool dax_wait_key_queued(struct dax_wait_bucket *b, const void *mapping,
			 uint64_t index)
{
	for (struct dax_waiter *w = b->head.next; w != &b->head; w = w->next)
		if (key_matches(w, mapping, index))
			return true;
	return false;
}
