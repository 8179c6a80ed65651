/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preload_fdrace - two threads change what one descriptor number is at
 * the same moment, and afterwards the library's table and the kernel
 * must agree about it. Run under LD_PRELOAD=libudax-preload.so (by
 * preload_fdrace.sh) with UDAX_MOUNT set.
 *
 * Each round starts with number N a pool descriptor, then two threads
 * released by a barrier race:
 *   close(N)              against dup2(pool, N)
 *   close(N)              against dup2(pipe, N)
 *   dup2(pipe, N)         against dup2(pool, N)
 *   close_range(N, N + 2) against dup2(pool, N + 1)
 * Any order of the two calls is a correct outcome; what is checked is
 * that the outcome is one of them: N is, for the kernel (a raw fcntl
 * system call, not the wrapper), closed, the library's placeholder
 * (/dev/null, then fstat through the library must say pool file) or the
 * pipe (then fstat must say FIFO). A table that says "pool" for a number
 * the kernel closed, or gave to a pipe, is the bug this test is for.
 * Seeded (-s); -l runs longer.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "preload_util.h"

/* The library's synthetic device of pool files (src/preload/preload.h). */
#define POOL_DEV makedev(0x75d, 0xa)
#define N 300 /* the number raced over: above anything the test opens */

enum race { CLOSE_DUP_POOL, CLOSE_DUP_PIPE, DUP_PIPE_DUP_POOL, RANGE_DUP };

static pthread_barrier_t start, done;
static int pool_fd, pipe_fd[2];
static atomic_int round_kind = -1;
static atomic_bool stop;
static struct t_rng rng;

/* Spin a few hundred iterations: spreads the two calls over the window. */
static void jitter(unsigned int n)
{
	for (volatile unsigned int i = 0; i < n; i++)
		;
}

static void act(int who, enum race r)
{
	switch (r) {
	case CLOSE_DUP_POOL:
		if (who == 0)
			close(N);
		else
			dup2(pool_fd, N);
		break;
	case CLOSE_DUP_PIPE:
		if (who == 0)
			close(N);
		else
			dup2(pipe_fd[0], N);
		break;
	case DUP_PIPE_DUP_POOL:
		if (who == 0)
			dup2(pipe_fd[0], N);
		else
			dup2(pool_fd, N);
		break;
	case RANGE_DUP:
		if (who == 0)
			close_range(N, N + 2, 0);
		else
			dup2(pool_fd, N + 1);
		break;
	}
}

static unsigned int jit[2];

static void *racer(void *arg)
{
	int who = (int)(intptr_t)arg;

	for (;;) {
		pthread_barrier_wait(&start);
		if (atomic_load(&stop))
			return NULL;
		jitter(jit[who]);
		act(who, (enum race)atomic_load(&round_kind));
		pthread_barrier_wait(&done);
	}
}

/* What the kernel has at @fd: 0 closed, 1 the placeholder, 2 a pipe,
 * 3 something else. */
static int kernel_view(int fd)
{
	char link[64], target[256];
	ssize_t n;

	if (syscall(SYS_fcntl, fd, F_GETFD) < 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = syscall(SYS_readlink, link, target, sizeof(target) - 1);
	if (n < 0)
		return 3;
	target[n] = '\0';
	if (!strcmp(target, "/dev/null"))
		return 1;
	if (!strncmp(target, "pipe:", 5))
		return 2;
	return 3;
}

/* The library's view agrees with the kernel's at @fd. */
#define FAILR(...)                                                             \
	do {                                                                   \
		fprintf(stderr, "preload_fdrace: descriptor %d: ", fd);        \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		t_failures++;                                                  \
	} while (0)

static void check_agree(int fd)
{
	struct stat st;
	int k = kernel_view(fd), ok;

	errno = 0;
	ok = fstat(fd, &st) == 0;
	if (k == 0 && (ok || errno != EBADF))
		FAILR("closed for the kernel, the library says %s",
		      ok ? "open" : strerror(errno));
	else if (k == 1 && (!ok || st.st_dev != POOL_DEV))
		FAILR("a placeholder for the kernel, not a pool file for the "
		      "library (%s)",
		      ok ? "another file" : strerror(errno));
	else if (k == 2 && (!ok || !S_ISFIFO(st.st_mode)))
		FAILR("a pipe for the kernel, the library says %s",
		      ok ? "a pool file" : strerror(errno));
	else if (k == 3)
		FAILR("an unexpected file for the kernel");
}

int main(int argc, char **argv)
{
	const char *m = getenv("UDAX_MOUNT");
	pthread_t th[2];
	int rounds, bad_before;

	t_init(argc, argv);
	if (!m) {
		fprintf(stderr, "usage: UDAX_POOL=.. UDAX_MOUNT=.. "
				"LD_PRELOAD=libudax-preload.so %s [-s SEED] "
				"[-l]\n",
			argv[0]);
		return T_FAIL;
	}
	snprintf(mnt, sizeof(mnt), "%s", m);
	t_watchdog(t_long ? 900 : 240);
	t_rng_init(&rng, t_seed);
	pool_fd = open(P("race"), O_RDWR | O_CREAT, 0644);
	REQUIRE(pool_fd >= 0);
	REQUIRE(!pipe(pipe_fd));
	REQUIRE(pthread_barrier_init(&start, NULL, 3) == 0);
	REQUIRE(pthread_barrier_init(&done, NULL, 3) == 0);
	for (int i = 0; i < 2; i++)
		REQUIRE(!pthread_create(&th[i], NULL, racer,
					(void *)(intptr_t)i));
	rounds = t_long ? 400000 : 40000;
	for (int round = 0; round < rounds && t_failures < 10; round++) {
		enum race r = (enum race)t_rand_below(&rng, 4);

		/* N (and N + 1, N + 2) pool descriptors before the race. */
		for (int fd = N; fd <= N + 2; fd++)
			REQUIRE(dup2(pool_fd, fd) == fd);
		jit[0] = (unsigned int)t_rand_below(&rng, 2000);
		jit[1] = (unsigned int)t_rand_below(&rng, 2000);
		atomic_store(&round_kind, (int)r);
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
		bad_before = t_failures;
		for (int fd = N; fd <= N + 2; fd++)
			check_agree(fd);
		if (t_failures != bad_before)
			fprintf(stderr, "  (round %d, race %d)\n", round, r);
	}
	atomic_store(&stop, true);
	pthread_barrier_wait(&start);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int fd = N; fd <= N + 2; fd++)
		close(fd);
	close(pool_fd);
	close(pipe_fd[0]);
	close(pipe_fd[1]);
	return t_done("preload_fdrace");
}
