/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * real.c - finding the functions this library wraps: the next definition
 * after it in the lookup order (libc's, or a sanitizer's when one is
 * preloaded first).
 */
#include "preload.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * pl_dlsym() - the next definition of @name. A libc without it cannot run
 * the program correctly through this library: say so and stop.
 * Context: any thread; the first lookup of a name may allocate (dlsym).
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
