/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.c - the configuration (UDAX_POOL, UDAX_MOUNT, UDAX_POOL_SIZE,
 * UDAX_PRELOAD_DEBUG), the pool (opened, or created, at the first call
 * that names a path under the mount), diagnostics, and the process
 * lifetime: fork (the child's udax calls fail with EPERM, by the library's
 * contract; this library adds nothing) and exit (streams flushed, pool
 * descriptors closed, mappings unmapped, pool closed).
 *
 * pl_pool_lock serialises the opening and the closing of the pool; udax
 * calls made under it come back through the wrappers for host paths only.
 */
#include "preload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pl_config pl_cfg;
atomic_bool pl_forked;

static pthread_once_t pl_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pl_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udax_pool *_Atomic pl_the_pool;
static bool pl_closed; /* at exit: no reopening */

uint64_t pl_parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return 0;
	return (uint64_t)v << shift;
}

void pl_debug(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (!pl_cfg.debug)
		return;
	memcpy(buf, "udax-preload: ", 14);
	va_start(ap, fmt);
	n = vsnprintf(buf + 14, sizeof(buf) - 15, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += 14;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!PL_REAL(write)(STDERR_FILENO, buf, (size_t)n);
}

/*
 * fork: the descriptor table's lock is held across it (a thread holding
 * it would leave it locked forever in the child). Not the mapping
 * table's: udax's own fork handlers unmap, and munmap looks there.
 */
static void pl_atfork_prepare(void)
{
	pl_fd_fork_lock();
}

static void pl_atfork_parent(void)
{
	pl_fd_fork_unlock();
}

static void pl_atfork_child(void)
{
	atomic_store(&pl_forked, true);
	pl_fd_fork_child();
}

static void pl_do_init(void)
{
	const char *pool = getenv("UDAX_POOL");
	const char *mount = getenv("UDAX_MOUNT");
	const char *size = getenv("UDAX_POOL_SIZE");
	const char *dbg = getenv("UDAX_PRELOAD_DEBUG");
	bool slash;

	pl_cfg.debug = dbg && !strcmp(dbg, "1");
	pl_cfg.size = 1ULL << 30;
	pl_cfg.umask = umask(022);
	umask(pl_cfg.umask);
	pthread_atfork(pl_atfork_prepare, pl_atfork_parent, pl_atfork_child);
	if (!pool || !*pool || !mount || !*mount) {
		pl_debug("UDAX_POOL or UDAX_MOUNT unset: inactive");
		return;
	}
	if (size && *size) {
		pl_cfg.size = pl_parse_size(size);
		if (!pl_cfg.size) {
			pl_debug("UDAX_POOL_SIZE=%s: not a size: inactive",
				 size);
			return;
		}
	}
	if (mount[0] != '/' ||
	    pl_normalize(mount, pl_cfg.mount, sizeof(pl_cfg.mount), &slash) ||
	    !strcmp(pl_cfg.mount, "/")) {
		pl_debug("UDAX_MOUNT=%s: need an absolute path other than /: "
			 "inactive",
			 mount);
		return;
	}
	if (strlen(pool) >= sizeof(pl_cfg.pool)) {
		pl_debug("UDAX_POOL: path too long: inactive");
		return;
	}
	strcpy(pl_cfg.pool, pool);
	pl_cfg.mount_len = strlen(pl_cfg.mount);
	/* The pool file itself must be a host path. */
	if (pool[0] == '/') {
		char norm[PATH_MAX];

		if (!pl_normalize(pool, norm, sizeof(norm), &slash) &&
		    !strncmp(norm, pl_cfg.mount, pl_cfg.mount_len) &&
		    (norm[pl_cfg.mount_len] == '/' ||
		     !norm[pl_cfg.mount_len])) {
			pl_debug("UDAX_POOL is under UDAX_MOUNT: inactive");
			return;
		}
	}
	pl_cfg.active = true;
	pl_debug("pool %s (size %llu if created) at %s", pl_cfg.pool,
		 (unsigned long long)pl_cfg.size, pl_cfg.mount);
}

void pl_init(void)
{
	pthread_once(&pl_once, pl_do_init);
}

struct udax_pool *pl_pool_if_open(void)
{
	return atomic_load_explicit(&pl_the_pool, memory_order_acquire);
}

/*
 * pl_pool() - the pool, opened on the first call; created (UDAX_POOL_SIZE
 * bytes) if it does not exist. A failure is not remembered: the next call
 * tries again (the pool is one process's at a time, and another process
 * holding it gives -EBUSY until it exits).
 * Context: takes pl_pool_lock; may sleep.
 */
int pl_pool(struct udax_pool **poolp)
{
	struct udax_pool *pool = pl_pool_if_open();
	int err = 0;

	if (pool) {
		*poolp = pool;
		return 0;
	}
	if (!pl_active())
		return -ENOENT;
	pthread_mutex_lock(&pl_pool_lock);
	pool = pl_pool_if_open();
	if (!pool && pl_closed)
		err = -ESHUTDOWN;
	if (!pool && !err) {
		err = udax_pool_open(pl_cfg.pool, 0, &pool);
		if (err == -ENOENT) {
			err = udax_pool_create(pl_cfg.pool, pl_cfg.size, &pool);
			if (err == -EEXIST) /* another process was first */
				err = udax_pool_open(pl_cfg.pool, 0, &pool);
			if (!err)
				pl_debug("created %s", pl_cfg.pool);
		}
		if (err)
			pl_debug("cannot open pool %s: %s", pl_cfg.pool,
				 strerror(-err));
		else
			atomic_store_explicit(&pl_the_pool, pool,
					      memory_order_release);
	}
	pthread_mutex_unlock(&pl_pool_lock);
	if (!err)
		*poolp = pool;
	return err;
}

/* Constructor: look up libc's functions, the environment and the working
 * directory early, while the program is single-threaded. */
__attribute__((constructor)) static void pl_ctor(void)
{
	pl_real_init();
	pl_init();
	if (pl_cfg.active)
		pl_cwd_init();
}

/*
 * Exit: every stream flushed first (stdio's own flush at exit runs after
 * the destructors, when the pool is gone), then every pool descriptor and
 * mapping released, then the pool closed. A forked child leaves the pool
 * to its parent.
 */
__attribute__((destructor)) static void pl_dtor(void)
{
	struct udax_pool *pool;
	int err;

	if (!pl_cfg.active || atomic_load(&pl_forked))
		return;
	pl_stdio_flush();
	pthread_mutex_lock(&pl_pool_lock);
	pl_closed = true;
	pool = pl_pool_if_open();
	pthread_mutex_unlock(&pl_pool_lock);
	if (!pool)
		return;
	pl_fd_close_all();
	pl_map_unmap_all();
	err = udax_pool_close(pool);
	if (err)
		pl_debug("closing the pool: %s", strerror(-err));
	else
		atomic_store(&pl_the_pool, NULL);
}
