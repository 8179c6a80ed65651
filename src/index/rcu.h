/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rcu.h - the RCU flavour udax uses (liburcu "memb"), wrapped so that
 *
 *  - a thread is registered with liburcu the first time it reads, and
 *    unregistered when it exits (callers of a library cannot be asked to
 *    register every thread by hand);
 *  - ThreadSanitizer learns the orderings it cannot see: a node freed
 *    after a grace period was last read by readers whose read-side critical
 *    sections all ended before the free, and last written by the updater
 *    that queued it. Every read-side unlock and every dax_call_rcu()
 *    releases a shared sync object and every deferred free acquires it
 *    first.
 *
 * Context: dax_rcu_read_lock() may be nested; it must not be called from a
 * signal handler on a thread that never called it outside one (first use
 * registers the thread, which takes liburcu's registry mutex). Call
 * dax_rcu_thread_online() early in such threads.
 */
#ifndef UDAX_INDEX_RCU_H
#define UDAX_INDEX_RCU_H

#include "../util/compiler.h"

/*
 * udax is LGPL: inline liburcu's read-side fast path. Not under
 * ThreadSanitizer: the inlined code would be instrumented while the rest
 * of liburcu is not, and TSan would report liburcu's own plain accesses
 * to its grace-period word as races.
 */
#if !defined(_LGPL_SOURCE) && !defined(UDAX_TSAN)
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>

#ifdef UDAX_TSAN
#include <sanitizer/tsan_interface.h>
extern char dax_rcu_tsan_sync;
#endif

extern __thread int dax_rcu_thread_registered
	__attribute__((tls_model("initial-exec")));
void dax_rcu_register_slow(void);

/* Make sure the calling thread is known to liburcu. */
static inline void dax_rcu_thread_online(void)
{
	if (unlikely(!dax_rcu_thread_registered))
		dax_rcu_register_slow();
}

static inline void dax_rcu_read_lock(void)
{
	dax_rcu_thread_online();
	urcu_memb_read_lock();
}

static inline void dax_rcu_read_unlock(void)
{
#ifdef UDAX_TSAN
	__tsan_release(&dax_rcu_tsan_sync);
#endif
	urcu_memb_read_unlock();
}

/*
 * Queue @func(@head) to run after a grace period. Use this rather than
 * urcu_memb_call_rcu(): the hand-over to the call_rcu worker goes through
 * liburcu's uninstrumented queue, so without the release TSan sees the
 * updater's last writes to the object (e.g. a node's count while it was
 * unlinked) racing with the free.
 */
static inline void dax_call_rcu(struct rcu_head *head,
				void (*func)(struct rcu_head *head))
{
#ifdef UDAX_TSAN
	__tsan_release(&dax_rcu_tsan_sync);
#endif
	urcu_memb_call_rcu(head, func);
}

/* Call at the top of every RCU callback that frees memory. */
static inline void dax_rcu_before_free(void)
{
#ifdef UDAX_TSAN
	__tsan_acquire(&dax_rcu_tsan_sync);
#endif
}

/*
 * Wait for every callback queued so far to have run (tests, teardown);
 * first drops the calling thread's cached leaf, so that every node that
 * left an index so far is freed on return unless another live thread
 * caches it.
 */
void dax_rcu_barrier(void);

/*
 * Wait until every read-side critical section that began before the call
 * has ended. Context: not inside one.
 */
static inline void dax_rcu_synchronize(void)
{
	dax_rcu_thread_online();
	urcu_memb_synchronize_rcu();
#ifdef UDAX_TSAN
	__tsan_acquire(&dax_rcu_tsan_sync);
#endif
}

#endif /* UDAX_INDEX_RCU_H */
