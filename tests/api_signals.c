/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_signals - the signal contract of udax.h:
 *  1. a SIGSEGV handler installed after udax's takes its faults: the next
 *     udax_mmap() refuses (-EBUSY); a handler that gives udax first look
 *     (udax_handle_fault) and says so (udax_set_fault_chaining) works,
 *     and still sees the faults that are not udax's;
 *  2. a signal handler that touches a udax page while its thread is
 *     inside udax (forced: a hook inside write(2), with the mmap lock
 *     held, raises the signal) gets SIGBUS, and nothing deadlocks;
 *  3. faults served on an alternate signal stack of SIGSTKSZ bytes (read,
 *     write-around, hole, private copy, 2 MiB): the stack depth used is
 *     measured and printed.
 * A watchdog turns a hang into a failure.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>

#include "api_util.h"
#include "api/api.h"

#define PG 4096ULL
#define MiB (1ULL << 20)

static struct udax_pool *pool;
static struct udax_file *f;

/* ---- 1: chaining ---- */

static sigjmp_buf not_udax_jmp;
static volatile sig_atomic_t app_saw;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	if (udax_handle_fault(sig, si, uc))
		return;
	app_saw++;
	siglongjmp(not_udax_jmp, 1);
}

static void test_chaining(void)
{
	struct sigaction sa = { 0 }, old;
	void *m, *m2;
	char *guard;

	REQUIRE(udax_mmap(f, NULL, 4 * MiB, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &m) == 0);
	sa.sa_sigaction = app_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGSEGV, &sa, &old) == 0);
	/* Not declared: refused, with a line on stderr. */
	CHECK_EQ(udax_mmap(f, NULL, PG, PROT_READ, MAP_SHARED, 0, &m2),
		 -EBUSY);
	CHECK_EQ(udax_set_fault_chaining(1), 0);
	REQUIRE(udax_mmap(f, NULL, PG, PROT_READ, MAP_SHARED, 0, &m2) == 0);
	/* udax's faults through the application's handler. */
	((volatile char *)m)[3 * MiB] = 7;
	CHECK_EQ(((volatile char *)m)[3 * MiB], 7);
	CHECK_EQ(((volatile char *)m2)[0], 0);
	/* A fault that is not udax's still reaches the application. */
	guard = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(guard != MAP_FAILED);
	if (!sigsetjmp(not_udax_jmp, 1))
		(void)*(volatile char *)guard;
	CHECK_EQ(app_saw, 1);
	munmap(guard, PG);
	CHECK_EQ(udax_munmap(m2, PG), 0);
	CHECK_EQ(udax_munmap(m, 4 * MiB), 0);
	REQUIRE(sigaction(SIGSEGV, &old, NULL) == 0);
	CHECK_EQ(udax_set_fault_chaining(0), 0);
	printf("chaining: refused without it; with it faults served, "
	       "others passed on\n");
}

/* ---- 2: a fault from a signal handler inside udax ---- */

static char *reentry_page;
static sigjmp_buf *volatile reentry_jmp;
static volatile sig_atomic_t reentry_bus, reentry_done;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (reentry_jmp)
		siglongjmp(*reentry_jmp, 1);
	abort();
}

static void on_usr1(int sig)
{
	sigjmp_buf jb;

	(void)sig;
	if (!sigsetjmp(jb, 1)) {
		reentry_jmp = &jb;
		reentry_page[8] = 1; /* a store to an unmapped udax page */
	} else {
		reentry_bus = 1;
	}
	reentry_jmp = NULL;
	reentry_done = 1;
}

static void raise_hook(struct dax_fmap *fm, enum dax_hook_point point,
		       uint64_t index, void *arg)
{
	(void)fm;
	(void)index;
	(void)arg;
	if (point == DAX_HOOK_RW_MAPPED && !reentry_done)
		pthread_kill(pthread_self(), SIGUSR1);
}

static void test_reentry(void)
{
	struct sigaction sa = { 0 }, old_bus;
	char buf[64] = "written while a handler faulted";
	void *m;

	REQUIRE(udax_mmap(f, NULL, 4 * MiB, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &m) == 0);
	reentry_page = (char *)m + 2 * MiB + 5 * PG;
	sa.sa_sigaction = on_bus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGBUS, &sa, &old_bus) == 0);
	signal(SIGUSR1, on_usr1);
	f->fst->fmap.hook = raise_hook;
	CHECK_EQ(udax_pwrite(f, buf, sizeof(buf), 100), (ssize_t)sizeof(buf));
	f->fst->fmap.hook = NULL;
	CHECK(reentry_done);
	CHECK(reentry_bus);
	/* Out of the handler, the same page faults normally. */
	reentry_page[8] = 2;
	CHECK_EQ(reentry_page[8], 2);
	REQUIRE(sigaction(SIGBUS, &old_bus, NULL) == 0);
	CHECK_EQ(udax_munmap(m, 4 * MiB), 0);
	printf("reentry: the handler's store got SIGBUS, write(2) went on\n");
}

/* ---- 3: alternate signal stack ---- */

#define PATTERN 0xa5

struct alt_job {
	char *map;
	size_t size, used;
	bool ok;
};

static void *alt_thread(void *arg)
{
	struct alt_job *j = arg;
	stack_t ss = { 0 };
	char *stack;

	stack = malloc(j->size);
	REQUIRE(stack);
	memset(stack, PATTERN, j->size);
	ss.ss_sp = stack;
	ss.ss_size = j->size;
	REQUIRE(sigaltstack(&ss, NULL) == 0);
	/* A 2 MiB read, 4 KiB reads, a hole, sequential stores. */
	j->ok = ((volatile char *)j->map)[0] == 0;
	for (uint64_t p = 0; p < 64; p++)
		j->map[2 * MiB + 4 * PG + p * PG] = (char)p;
	j->ok &= ((volatile char *)j->map)[2 * MiB + 4 * PG + 9 * PG] == 9;
	ss.ss_flags = SS_DISABLE;
	REQUIRE(sigaltstack(&ss, NULL) == 0);
	for (j->used = j->size; j->used > 0; j->used--)
		if ((unsigned char)stack[j->size - j->used] != PATTERN)
			break;
	free(stack);
	return NULL;
}

static void test_altstack(void)
{
	struct alt_job j = { 0 };
	struct udax_file *g;
	pthread_t t;
	void *m;

	REQUIRE(udax_open(pool, "alt", O_RDWR | O_CREAT, 0644, &g) == 0);
	REQUIRE(udax_ftruncate(g, 8 * MiB) == 0);
	REQUIRE(udax_fallocate(g, 0, 2 * MiB, 2 * MiB) == 0);
	REQUIRE(udax_mmap(g, NULL, 8 * MiB, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &m) == 0);
	j.map = m;
	j.size = SIGSTKSZ;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	j.size *= 8; /* sanitizers' frames are much larger */
#endif
	REQUIRE(pthread_create(&t, NULL, alt_thread, &j) == 0);
	pthread_join(t, NULL);
	CHECK(j.ok);
	CHECK(j.used < j.size);
	printf("alternate stack: %zu of %zu bytes used by udax's handler\n",
	       j.used, j.size);
	CHECK_EQ(udax_munmap(m, 8 * MiB), 0);
	CHECK_EQ(udax_close(g), 0);
}

int main(int argc, char **argv)
{
	char path[300];

	t_init(argc, argv);
	t_watchdog(60);
	t_tmpdir();
	t_path(path, sizeof(path), "p.pool");
	REQUIRE(udax_pool_create(path, 64 << 20, &pool) == 0);
	REQUIRE(udax_open(pool, "f", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, 4 * MiB) == 0);

	test_chaining();
	test_reentry();
	test_altstack();

	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_signals");
}
