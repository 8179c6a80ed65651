/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compiler.h - small helpers shared by every layer of udax.
 *
 * UDAX_BUG_ON(obj_dump, cond): a debug-only assertion. In builds with
 * UDAX_DEBUG defined it calls @obj_dump (a statement that prints the
 * structure involved, or a no-op) and aborts when @cond is true; in other
 * builds it compiles to nothing but still type-checks @cond.
 */
#ifndef UDAX_UTIL_COMPILER_H
#define UDAX_UTIL_COMPILER_H

#include <stdio.h>
#include <stdlib.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-__builtin_offsetof(type, member)))

#ifdef UDAX_DEBUG
#define UDAX_BUG_ON(dump, cond)                                                \
	do {                                                                   \
		if (unlikely(cond)) {                                          \
			fprintf(stderr, "udax: BUG at %s:%d: %s\n", __FILE__,  \
				__LINE__, #cond);                              \
			dump;                                                  \
			abort();                                               \
		}                                                              \
	} while (0)
#else
#define UDAX_BUG_ON(dump, cond)                                                \
	do {                                                                   \
		(void)sizeof(cond);                                            \
	} while (0)
#endif

/* Sanitizer detection, for annotations that only make sense under them. */
#if defined(__SANITIZE_THREAD__)
#define UDAX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UDAX_TSAN 1
#endif
#endif

#endif /* UDAX_UTIL_COMPILER_H */
