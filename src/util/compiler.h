/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compiler.h - small helpers shared by every layer of udax.
 *
 * Two assertions, for invariants the code itself keeps (API misuse by a
 * caller gets -EINVAL, never these):
 *
 * UDAX_BUG(fmt, ...): always on. A broken invariant that cannot be
 * carried on from (the journal would overflow, a lock call failed):
 * prints "udax: BUG at file:line: " and the message, then aborts.
 *
 * UDAX_BUG_ON(cond): debug-only (UDAX_DEBUG, on in Debug builds and the
 * fuzzer): UDAX_BUG with the text of @cond when @cond is true; in other
 * builds nothing, though @cond is still type-checked. For checks too
 * costly or too hot for release builds (every entry lock and index
 * store).
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

#define UDAX_BUG(fmt, ...)                                                     \
	do {                                                                   \
		fprintf(stderr, "udax: BUG at %s:%d: " fmt "\n", __FILE__,    \
			__LINE__, ##__VA_ARGS__);                              \
		abort();                                                       \
	} while (0)

#ifdef UDAX_DEBUG
#define UDAX_BUG_ON_COND(cond)                                                 \
	do {                                                                   \
		if (unlikely(cond))                                            \
			UDAX_BUG("%s", #cond);                                 \
	} while (0)
#else
#define UDAX_BUG_ON_COND(cond)                                                 \
	do {                                                                   \
		(void)sizeof(cond);                                            \
	} while (0)
#endif

/* UDAX_BUG_ON(cond): a broken invariant, checked in debug builds only. */
#define UDAX_BUG_ON(cond) UDAX_BUG_ON_COND(cond)

/* Sanitizer detection, for annotations that only make sense under them. */
#if defined(__SANITIZE_THREAD__)
#define UDAX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UDAX_TSAN 1
#endif
#endif

#endif /* UDAX_UTIL_COMPILER_H */
