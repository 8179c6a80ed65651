/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_util.h - helpers for the end-to-end tests of the public API: a
 * private temporary directory for pool files, and catching SIGBUS on the
 * current thread with sigsetjmp (as an application using DAX would).
 */
#ifndef UDAX_TEST_API_UTIL_H
#define UDAX_TEST_API_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <udax/udax.h>

#include "test_util.h"

static char t_dir[256];

/* Make a fresh directory for this test's pools; removed by t_cleanup(). */
static inline __attribute__((unused)) const char *t_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(t_dir, sizeof(t_dir), "%s/udax-test-XXXXXX",
		 base && *base ? base : "/tmp");
	REQUIRE(mkdtemp(t_dir) != NULL);
	return t_dir;
}

static inline __attribute__((unused)) void t_path(char *buf, size_t len,
						  const char *name)
{
	snprintf(buf, len, "%s/%s", t_dir, name);
}

static inline __attribute__((unused)) void t_cleanup(void)
{
	char cmd[300];

	if (!t_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", t_dir);
}

/* Per-thread SIGBUS catching. */
/*
 * volatile: t_load() and friends set it, make one access and clear it;
 * to the compiler the first store is dead (nothing it can see reads it
 * before the second), and -O2 deleted it, so in Release builds every
 * SIGBUS was "unexpected" (api_basic, api_enospc failed).
 */
static __thread sigjmp_buf *volatile t_bus_jmp;
static __thread void *t_bus_addr;
static atomic_long t_bus_count __attribute__((unused));
/*
 * SIGBUS handlers that ran with SIGSEGV blocked: udax's SIGSEGV handler
 * must let its SIGBUS arrive after it returns, not nested inside it (a
 * handler jumping out of a nested one would leave SIGSEGV blocked).
 */
static atomic_long t_bus_nested __attribute__((unused));

static void t_bus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sigset_t cur;

	atomic_fetch_add(&t_bus_count, 1);
	if (!pthread_sigmask(SIG_BLOCK, NULL, &cur) &&
	    sigismember(&cur, SIGSEGV))
		atomic_fetch_add(&t_bus_nested, 1);
	if (!t_bus_jmp) {
		static const char m[] = "unexpected SIGBUS\n";

		if (write(2, m, sizeof(m) - 1) < 0) {
		}
		_exit(T_FAIL);
	}
	t_bus_addr = si->si_addr;
	siglongjmp(*t_bus_jmp, 1);
}

static inline __attribute__((unused)) void t_catch_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = t_bus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGBUS, &sa, NULL) == 0);
}

/* Load the word at @p into *@out; false if the access raised SIGBUS. */
static inline __attribute__((unused)) bool t_load(volatile uint64_t *p,
						  uint64_t *out)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_bus_jmp = NULL;
		return false;
	}
	t_bus_jmp = &jb;
	*out = *p;
	t_bus_jmp = NULL;
	return true;
}

/* Store @v at @p; false if the access raised SIGBUS. */
static inline __attribute__((unused)) bool t_store(volatile uint64_t *p,
						   uint64_t v)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_bus_jmp = NULL;
		return false;
	}
	t_bus_jmp = &jb;
	*p = v;
	t_bus_jmp = NULL;
	return true;
}

/*
 * Relaxed-atomic forms of t_load()/t_store(), for words that several
 * threads access at once through a mapping (ThreadSanitizer would call
 * plain accesses a data race). Not instrumented by ThreadSanitizer
 * either: it models each mmap() as a plain write of the range by the
 * mapping thread, so an access to a page another thread's fault mapped
 * looks like a race with that mmap(); the real ordering is the MMU's,
 * which it cannot see (and when the mmap's stack has left its history,
 * no suppression can match the report).
 */
#if defined(__SANITIZE_THREAD__) || defined(__has_feature)
#define T_NO_TSAN __attribute__((no_sanitize("thread")))
#else
#define T_NO_TSAN
#endif

static inline __attribute__((unused)) T_NO_TSAN bool t_aload(uint64_t *p,
							     uint64_t *out)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_bus_jmp = NULL;
		return false;
	}
	t_bus_jmp = &jb;
	*out = __atomic_load_n(p, __ATOMIC_RELAXED);
	t_bus_jmp = NULL;
	return true;
}

static inline __attribute__((unused)) T_NO_TSAN bool t_astore(uint64_t *p,
								 uint64_t v)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_bus_jmp = NULL;
		return false;
	}
	t_bus_jmp = &jb;
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
	t_bus_jmp = NULL;
	return true;
}

static void t_fsck_report(void *ctx, const char *problem)
{
	(*(int *)ctx)++;
	fprintf(stderr, "fsck: %s\n", problem);
}

/* Check the (closed) pool at @path; print each problem. 0 if clean. */
static inline __attribute__((unused)) int t_fsck(const char *path)
{
	int problems = 0;
	int err = udax_pool_fsck(path, t_fsck_report, &problems);

	if (err)
		fprintf(stderr, "fsck %s: %d (%d problems)\n", path, err,
			problems);
	return err;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
/*
 * SIGBUS is caught by siglongjmp out of the handler. With an alternate
 * signal stack (which ASan sets up for every thread) ASan's longjmp hook
 * looks up the thread's normal stack through pthread_getattr_np, which
 * reads /proc/self/maps: with one kernel mapping per 4 KiB udax page that
 * is milliseconds per SIGBUS. Without ASan's alternate stack the hook
 * returns at once; only stack-overflow reports lose their stack.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "use_sigaltstack=0";
}
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
/*
 * udax serves page faults from a SIGSEGV handler that allocates (index
 * nodes, page-map levels) and takes locks, by design: the signal is
 * synchronous, raised by the faulting access itself. ThreadSanitizer
 * reports every malloc inside any signal handler ("signal-unsafe call
 * inside of a signal") without telling synchronous faults from
 * asynchronous signals; turn only that report off.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "report_signal_unsafe=0";
}

/*
 * ThreadSanitizer models mmap() as a plain write of the whole range by
 * the calling thread. When one thread's fault maps a page (vm_mmap) and
 * another thread then uses it without faulting, it reports a race
 * between that "write" and the access; the real ordering is the MMU's
 * (page tables), which it cannot see. Suppress only reports with vm_mmap
 * in a stack: every other race in the library is still reported.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:vm_mmap\n";
}
#endif

#endif /* UDAX_TEST_API_UTIL_H */
