/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preload_util.h - what the preload tests that call wrapped functions
 * share: the mount and host directory names (set by main from
 * UDAX_MOUNT and argv[1]), P(name) and H(name) for paths in them (eight
 * rotating buffers: up to eight at once in one call), and ERRNO(call, e),
 * which checks that a call fails with -1 and errno @e.
 */
#ifndef UDAX_TESTS_PRELOAD_UTIL_H
#define UDAX_TESTS_PRELOAD_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

static char mnt[256], host[256];

/* @dir/@name in one of eight rotating buffers (P's and H's together). */
static __attribute__((unused)) const char *join(const char *dir,
						 const char *name)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static __attribute__((unused)) const char *P(const char *name)
{
	return join(mnt, name);
}

static __attribute__((unused)) const char *H(const char *name)
{
	return join(host, name);
}

#define ERRNO(call, e)                                                         \
	do {                                                                   \
		errno = 0;                                                     \
		long _r = (long)(call);                                        \
		if (_r != -1 || errno != (e)) {                                \
			fprintf(stderr,                                        \
				"%s:%d: %s: want -1 errno %d (%s), got %ld "   \
				"errno %d (%s)\n",                             \
				__FILE__, __LINE__, #call, e, strerror(e), _r, \
				errno, strerror(errno));                       \
			t_failures++;                                          \
		}                                                              \
	} while (0)

#endif
