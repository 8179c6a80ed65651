/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_util.h - the few things every udax test needs: checks that report
 * file and line, a seeded random generator (-s SEED, printed at start), a
 * long mode (-l, or UDAX_TEST_LONG=1 in the environment), a watchdog
 * that turns a hang into a failure, and the exit codes ctest expects
 * (0 pass, 1 fail, 77 skip).
 */
#ifndef UDAX_TEST_UTIL_H
#define UDAX_TEST_UTIL_H

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

static int t_failures __attribute__((unused));

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			t_failures++;                                          \
			if (t_failures > 20)                                   \
				exit(T_FAIL);                                  \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);            \
		if (_a != _b) {                                                \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);           \
			t_failures++;                                          \
			if (t_failures > 20)                                   \
				exit(T_FAIL);                                  \
		}                                                              \
	} while (0)

/* Fatal: the test cannot go on meaningfully. */
#define REQUIRE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: required: %s\n", __FILE__,     \
				__LINE__, #cond);                              \
			exit(T_FAIL);                                          \
		}                                                              \
	} while (0)

static uint64_t t_seed __attribute__((unused));
static bool t_long __attribute__((unused));

/* xorshift64*: fast, good enough, reproducible from the seed. */
struct t_rng {
	uint64_t s;
};

static inline uint64_t t_rand(struct t_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t t_rand_below(struct t_rng *r, uint64_t n)
{
	return n ? t_rand(r) % n : 0;
}

static inline void t_rng_init(struct t_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
	if (!r->s)
		r->s = 1;
}

static inline __attribute__((unused)) void t_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SEED] [-l]\n", prog);
	exit(T_FAIL);
}

/*
 * t_init() for a test with options of its own: getopt letters @opts
 * (after "s:l") go to @opt(letter, optarg, @arg), which returns false on
 * a bad value; @usage_extra is their part of the usage line. A usage
 * error exits T_FAIL.
 */
static inline __attribute__((unused)) void
t_init_opts(int argc, char **argv, const char *opts,
	    bool (*opt)(int letter, const char *val, void *arg), void *arg,
	    const char *usage_extra)
{
	const char *env = getenv("UDAX_TEST_LONG");
	char optstring[64];
	int c;

	REQUIRE(strlen(opts) < sizeof(optstring) - 4);
	snprintf(optstring, sizeof(optstring), "s:l%s", opts);
	t_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	t_long = env && *env && strcmp(env, "0") != 0;
	while ((c = getopt(argc, argv, optstring)) != -1) {
		switch (c) {
		case 's':
			t_seed = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			t_long = true;
			break;
		default:
			if (c != '?' && opt && opt(c, optarg, arg))
				break;
			fprintf(stderr, "usage: %s [-s SEED] [-l]%s\n",
				argv[0], usage_extra ? usage_extra : "");
			exit(T_FAIL);
		}
	}
	printf("%s: seed %" PRIu64 "%s (replay with -s %" PRIu64 ")\n",
	       argv[0], t_seed, t_long ? ", long mode" : "", t_seed);
	fflush(stdout);
}

/* Parse -s SEED and -l; print the seed so a failure can be replayed. */
static inline __attribute__((unused)) void t_init(int argc, char **argv)
{
	t_init_opts(argc, argv, "", NULL, NULL, NULL);
}

static unsigned int t_watchdog_secs __attribute__((unused));

static inline __attribute__((unused)) void t_watchdog_fire(int sig)
{
	static const char msg[] = "watchdog: test hung (deadlock or lost "
				  "wake-up), failing\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(T_FAIL);
}

/* Fail the test if it is still running after @secs seconds. */
static inline __attribute__((unused)) void t_watchdog(unsigned int secs)
{
	t_watchdog_secs = secs;
	signal(SIGALRM, t_watchdog_fire);
	alarm(secs);
}

static inline double t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline __attribute__((unused)) int t_done(const char *name)
{
	if (t_failures) {
		printf("%s: FAIL (%d checks failed, seed %" PRIu64 ")\n", name,
		       t_failures, t_seed);
		return T_FAIL;
	}
	printf("%s: PASS\n", name);
	return T_PASS;
}

#endif /* UDAX_TEST_UTIL_H */
