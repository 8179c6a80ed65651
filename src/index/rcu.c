/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rcu.c - lazy registration of threads with liburcu (memb flavour).
 *
 * A thread is registered on its first read-side critical section and
 * unregistered by a thread-specific-data destructor when it exits, so
 * liburcu never waits on a dead thread; the destructor also drops the
 * thread's pin on its cached index leaf (index.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "index.h" /* dax_idx_leaf_cache_drop() */
#include "rcu.h"

__thread int dax_rcu_thread_registered;
#ifdef UDAX_TSAN
char dax_rcu_tsan_sync;
/* Dynamic annotations exported by the TSan runtime (no header has them). */
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
void AnnotateBenignRaceSized(const char *file, int line, const void *mem,
			     unsigned long size, const char *desc);
#endif

static pthread_key_t rcu_exit_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	/* Its pin would keep the leaf (and a dead one in memory) for ever. */
	dax_idx_leaf_cache_drop();
	if (dax_rcu_thread_registered) {
		urcu_memb_unregister_thread();
		dax_rcu_thread_registered = 0;
	}
}

static void rcu_key_init(void)
{
	if (pthread_key_create(&rcu_exit_key, rcu_thread_exit) != 0) {
		UDAX_BUG("cannot create the RCU thread key");
	}
	/*
	 * Start liburcu's call_rcu worker now. It is otherwise created by
	 * the first call_rcu(), which may come when the process is out of
	 * kernel mappings (a thread needs a stack), and liburcu aborts the
	 * process when it cannot create it.
	 */
	(void)urcu_memb_get_default_call_rcu_data();
#if defined(UDAX_TSAN) && defined(_LGPL_SOURCE)
	/*
	 * Only when the read side is inlined (rcu.h does not inline it under
	 * TSan unless the includer asked for _LGPL_SOURCE; without it
	 * urcu_memb_gp is not even declared).
	 *
	 * The read-side unlock (inlined from liburcu's headers, so
	 * instrumented) wakes a waiting grace period by testing and clearing
	 * urcu_memb_gp.futex with plain volatile accesses (uatomic_read/set),
	 * from any number of readers at once: liburcu's design, atomic on
	 * every CPU it supports, but a data race to TSan whenever two readers
	 * leave while synchronize_rcu() waits. Tell TSan about that word only.
	 */
	AnnotateBenignRaceSized(__FILE__, __LINE__, &urcu_memb_gp.futex,
				sizeof(urcu_memb_gp.futex),
				"liburcu reader wake-up of the grace period");
#endif
}

void dax_rcu_register_slow(void)
{
	pthread_once(&rcu_key_once, rcu_key_init);
	urcu_memb_register_thread();
	dax_rcu_thread_registered = 1;
	/* Any non-NULL value makes the destructor run at thread exit. */
	pthread_setspecific(rcu_exit_key, &dax_rcu_thread_registered);
}

void dax_rcu_barrier(void)
{
	/* So that the caller's cached leaf is not kept alive either. */
	dax_idx_leaf_cache_drop();
	dax_rcu_thread_online();
#ifdef UDAX_TSAN
	/*
	 * urcu_memb_barrier() callocs its completion records on this thread
	 * and the call_rcu worker frees them, handed over through liburcu's
	 * uninstrumented queues and futexes: TSan would report each free as
	 * racing with the calloc. No udax code runs on this thread in there,
	 * so ignore its memory accesses (not its synchronisation) meanwhile;
	 * the allocations then start with clean shadow.
	 */
	AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
	urcu_memb_barrier();
#ifdef UDAX_TSAN
	AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
}
