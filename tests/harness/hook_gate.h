/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hook_gate.h - stopping a thread at one of the fault engine's hook
 * points, shared by the interleaving tests (fault_review, fault_rw_hole,
 * fault_wb_mkwrite, fault_wb_pmd_pte, fault_seed_race, fault_truncate).
 * Include after fault_harness.h and test_util.h, in one test file only (it
 * defines static state).
 */
#ifndef UDAX_TEST_HOOK_GATE_H
#define UDAX_TEST_HOOK_GATE_H

/* ---- stopping a thread at a hook point ---- */

/*
 * Each thread names the hook points it stops at (once each) itself, before
 * it calls the engine, so arming never races with the thread's start.
 * One thread at a time is parked; the test waits for it to arrive and
 * lets it go.
 */
static __thread unsigned int my_stops;
static __thread bool my_jitter;
static __thread struct t_rng my_rng;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int point; /* where the parked thread is */
	unsigned long arrived, released, left;
} gate = { .lock = PTHREAD_MUTEX_INITIALIZER,
	   .cond = PTHREAD_COND_INITIALIZER,
	   .point = -1 };

static void hook(struct dax_fmap *f, enum dax_hook_point point,
		 uint64_t index, void *arg)
{
	(void)f;
	(void)index;
	(void)arg;
	if (my_jitter) {
		uint64_t r = t_rand_below(&my_rng, 16);

		if (r == 0)
			usleep((useconds_t)t_rand_below(&my_rng, 100));
		else if (r < 6)
			sched_yield();
	}
	if (!(my_stops & (1U << point)))
		return;
	my_stops &= ~(1U << point);
	pthread_mutex_lock(&gate.lock);
	gate.point = (int)point;
	gate.arrived++;
	pthread_cond_broadcast(&gate.cond);
	while (gate.released < gate.arrived)
		pthread_cond_wait(&gate.cond, &gate.lock);
	gate.left++;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_wait(enum dax_hook_point point)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.arrived == gate.left || gate.point != (int)point)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.released = gate.arrived;
	pthread_cond_broadcast(&gate.cond);
	while (gate.left < gate.released)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

/*
 * Wait until threads have gone to sleep on entry locks @n times in all;
 * fail if that does not happen within 10 seconds (nobody waited).
 */
static __attribute__((unused)) void wait_sleepers(struct th_env *env,
					      unsigned long n)
{
	double end = t_now() + 10;

	while (atomic_load(&env->f.m.stats.waits) < n) {
		if (t_now() > end) {
			fprintf(stderr, "no thread slept on the entry lock "
					"(%lu waits, expected %lu)\n",
				atomic_load(&env->f.m.stats.waits), n);
			exit(T_FAIL);
		}
		usleep(50);
	}
}

#endif /* UDAX_TEST_HOOK_GATE_H */
