/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_util.h - the timing and statistics helpers every benchmark uses
 * (lockbench, faultbench, mmapbench): clocks, the median and the minimum
 * of a set of runs. Static inline: each benchmark is one program.
 *
 * @v is an array of @n run results (n >= 1).
 */
#ifndef UDAX_BENCH_UTIL_H
#define UDAX_BENCH_UTIL_H

#include <stdint.h>
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

#endif /* UDAX_BENCH_UTIL_H */
