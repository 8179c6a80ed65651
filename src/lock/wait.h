/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wait.h - the hashed wait table: where threads sleep while an entry they
 * want is locked (the seed's wait_table[DAX_WAIT_TABLE_ENTRIES]).
 *
 * A waiter is keyed by (mapping, index); PMD entries are keyed at their
 * PMD-aligned index. Keys are hashed into UDAX_WAIT_TABLE_BITS buckets
 * (4096 by default; a test build uses a single bucket so that every key
 * collides). All waiters are exclusive: a WAKE_NEXT wake-up goes to the
 * first waiter with a matching key and is never used up by a waiter with
 * another key that shares the bucket; WAKE_ALL wakes every matching one.
 *
 * A waiter sleeps on a futex word in its own (stack) struct; the waker
 * removes it from the bucket, then sets the word, then wakes the futex.
 */
#ifndef UDAX_LOCK_WAIT_H
#define UDAX_LOCK_WAIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef UDAX_WAIT_TABLE_BITS
#define UDAX_WAIT_TABLE_BITS 12
#endif
#define DAX_WAIT_TABLE_SIZE (1U << UDAX_WAIT_TABLE_BITS)

_Static_assert(UDAX_WAIT_TABLE_BITS >= 0 && UDAX_WAIT_TABLE_BITS <= 20,
	       "wait table size out of range");

struct dax_waiter {
	struct dax_waiter *next, *prev;
	const void *mapping;
	uint64_t index;
	_Atomic uint32_t woken;
};

struct dax_wait_bucket {
	pthread_mutex_t lock;
	struct dax_waiter head; /* list head; only next/prev are used */
} __attribute__((aligned(64)));

enum dax_wake_mode {
	DAX_WAKE_NEXT,
	DAX_WAKE_ALL,
};

struct dax_wait_bucket *dax_wait_bucket(const void *mapping, uint64_t index);
void dax_wait_enqueue(struct dax_wait_bucket *b, struct dax_waiter *w);
void dax_wait_dequeue(struct dax_waiter *w);
void dax_wait_sleep(struct dax_waiter *w);
unsigned int dax_wake_locked(struct dax_wait_bucket *b, const void *mapping,
			     uint64_t index, enum dax_wake_mode mode,
			     bool *more);
bool dax_wait_key_queued(struct dax_wait_bucket *b, const void *mapping,
			 uint64_t index);

#endif /* UDAX_LOCK_WAIT_H */
