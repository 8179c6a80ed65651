/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rcu.c - lazy registration of threads with liburcu (memb flavour).
 *
 * A thread is registered on its first read-side critical section and
 * unregistered by a thread-specific-data destructor when it exits, so
 * liburcu never waits on a dead thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "rcu.h"

__thread int dax_rcu_thread_registered;
#ifdef UDAX_TSAN
char dax_rcu_tsan_sync;
#endif

static pthread_key_t rcu_exit_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	if (dax_rcu_thread_registered) {
		urcu_memb_unregister_thread();
		dax_rcu_thread_registered = 0;
	}
}

static void rcu_key_init(void)
{
	if (pthread_key_create(&rcu_exit_key, rcu_thread_exit) != 0) {
		fprintf(stderr, "udax: cannot create the RCU thread key\n");
		abort();
	}
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
	dax_rcu_thread_online();
	urcu_memb_barrier();
}
