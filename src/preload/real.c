/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * real.c - finding the functions this library wraps (see real.h).
 */
#include "preload.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct pl_real_fns pl_real;

/*
 * pl_real_init() - look every wrapped name up, so that no wrapper calls
 * dlsym later (it may allocate: not in a signal handler). A name libc
 * lacks stays NULL here; its wrapper says so only if it is called.
 * Context: the constructor, before the program's threads.
 */
void pl_real_init(void)
{
#define PL_REAL_LOOKUP(name)                                                   \
	if (!pl_real.name)                                                     \
		__atomic_store_n(&pl_real.name,                                \
				 (__typeof__(&name))dlsym(RTLD_NEXT, #name),   \
				 __ATOMIC_RELEASE);
	PL_REAL_NAMES(PL_REAL_LOOKUP)
#undef PL_REAL_LOOKUP
}

/*
 * pl_dlsym() - the next definition of @name. A libc without it cannot run
 * the program correctly through this library: say so and stop.
 * Context: a wrapper whose function the constructor did not find, or
 * called before it; the lookup may allocate (dlsym).
 */
void *pl_dlsym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		static const char msg[] = "libudax-preload: libc has no ";

		/* Not write(): this library wraps it. */
		syscall(SYS_write, STDERR_FILENO, msg, sizeof(msg) - 1);
		syscall(SYS_write, STDERR_FILENO, name, strlen(name));
		syscall(SYS_write, STDERR_FILENO, "\n", 1);
		abort();
	}
	return p;
}
