/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_util.h - the helpers every benchmark uses (lockbench, faultbench,
 * mmapbench): clocks, the median and the minimum of a set of runs, the
 * option loop (-o FILE, -h and their own), and the start gate and
 * counting of a timed throughput run. Static inline: each benchmark is one program.
 *
 * @v is an array of @n run results (n >= 1). @g is a throughput run's
 * gate, shared by the main thread and its workers; @c is what one
 * worker counted.
 */
#ifndef UDAX_BENCH_UTIL_H
#define UDAX_BENCH_UTIL_H

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic time in nanoseconds. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time the calling thread has used. */
static inline uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* qsort() order of doubles. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of @n values; sorts a copy. */
static inline double median(const double *v, unsigned int n)
{
	double s[n];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The smallest of @n values (the best run, for times). */
static inline double min_of(const double *v, unsigned int n)
{
	double m = v[0];

	for (unsigned int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

/*
 * The getopt() loop of a benchmark's main(): its own option letters
 * @opts (getopt syntax) go to @opt(letter, optarg, @arg), which returns
 * false for a bad one; -o FILE (into *@json) and -h every benchmark
 * takes; no operands.
 *
 * Return: -1 to go on, else the status main() returns (0 after -h, 2
 * after a usage error, @usage printed to stderr).
 */
static inline int
bench_args(int argc, char **argv, const char *opts,
	   bool (*opt)(int letter, const char *val, void *arg), void *arg,
	   const char **json, void (*usage)(FILE *))
{
	char optstring[32];
	int c;

	if (strlen(opts) + sizeof("o:h") > sizeof(optstring)) {
		usage(stderr);
		return 2;
	}
	snprintf(optstring, sizeof(optstring), "%so:h", opts);
	while ((c = getopt(argc, argv, optstring)) != -1) {
		switch (c) {
		case 'o':
			*json = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (c != '?' && opt(c, optarg, arg))
				break;
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* What one throughput run (or the best of several) gave. */
struct tput {
	double mops;	 /* aggregate, per second of wall time */
	double cpu;	 /* least share of a CPU a worker got */
	double cpu_mops; /* aggregate, per CPU-second each worker got */
};

/* The start line of a throughput run's workers and their stop flag. */
struct tput_gate {
	atomic_uint ready; /* workers at the start line */
	atomic_bool go;
	atomic_bool stop;
};

/* What one worker did in the timed part. */
struct tput_count {
	uint64_t ops;
	uint64_t ns;	 /* wall time of the timed part */
	uint64_t cpu_ns; /* CPU time the worker got in it */
};

/*
 * The timed part of a throughput worker: say it is ready, wait for go,
 * then call @batch(@arg) (which does @per_batch operations) until stop,
 * counting into @c. Anything the worker must not time (pinning, RCU
 * registration) comes before.
 */
static inline void tput_worker_run(struct tput_gate *g, void (*batch)(void *),
				   void *arg, unsigned int per_batch,
				   struct tput_count *c)
{
	uint64_t ops = 0, t0, c0;

	atomic_fetch_add(&g->ready, 1);
	while (!atomic_load_explicit(&g->go, memory_order_acquire))
		;
	t0 = now_ns();
	c0 = thread_cpu_ns();
	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		batch(arg);
		ops += per_batch;
	}
	c->cpu_ns = thread_cpu_ns() - c0;
	c->ns = now_ns() - t0;
	c->ops = ops;
}

/*
 * The main thread's part: wait until @nthreads workers are ready, let
 * them go, sleep @ms milliseconds, stop them. The caller joins them.
 */
static inline void tput_gate_run(struct tput_gate *g, unsigned int nthreads,
				 unsigned int ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000,
	    .tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (atomic_load(&g->ready) < nthreads)
		sched_yield();
	atomic_store_explicit(&g->go, true, memory_order_release);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	atomic_store(&g->stop, true);
}

/* Add a joined worker's count @c to @t, which starts as {.cpu = 1}. */
static inline void tput_add(struct tput *t, const struct tput_count *c)
{
	double share = (double)c->cpu_ns / (double)c->ns;

	t->mops += (double)c->ops * 1e3 / (double)c->ns;
	t->cpu_mops += (double)c->ops * 1e3 / (double)c->cpu_ns;
	if (share < t->cpu)
		t->cpu = share;
}

#endif /* UDAX_BENCH_UTIL_H */
