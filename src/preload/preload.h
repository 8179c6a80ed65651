/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preload.h - internals of libudax-preload.so, the LD_PRELOAD library that
 * makes a udax pool look like a directory (UDAX_MOUNT) to unmodified
 * programs.
 *
 * Names: an @ofd is an open file description (struct pl_ofd: what open()
 * creates and dup() shares: the udax handle, the offset, the status
 * flags); a pool descriptor is a kernel descriptor number reserved for an
 * ofd (a placeholder: an O_PATH descriptor of /dev/null, close-on-exec, so
 * that any kernel call that reaches it by mistake fails with EBADF); the
 * fd table maps descriptor numbers to ofds. A path "resolves" to the host
 * (passed through), to the mount directory itself, or to a pool file.
 *
 * Lock order: pl_pool_lock (pool opening) > fd table lock > ofd->lock >
 * flock lock; the mapping table lock and the DIR registry lock are leaves.
 * No lock is held across a call into udax except ofd->lock (read/write
 * offsets) and pl_pool_lock (udax_pool_open): udax's own libc calls come
 * back through these wrappers and must find every other lock free.
 *
 * Signal handlers: the wrappers' test "is this a pool descriptor?" reads
 * the table without a lock and allocates nothing, so a handler's read(2)
 * or write(2) on a host descriptor is as safe as libc's.
 *
 * Sanitizers: ThreadSanitizer's runtime calls open, fcntl, lstat,
 * readlink, mmap, munmap and close itself (its symbolizer, holding its
 * report locks with interceptors ignored). On host objects those paths
 * take no lock that can be held where a report is raised and read shared
 * state only through atomics (see map.c); tests/preload_threads' phase 0
 * makes those calls the way the runtime does.
 */
#ifndef UDAX_PRELOAD_H
#define UDAX_PRELOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <udax/udax.h>

/* Only LP64 glibc: there the 64-bit forms (open64, stat64...) are the same
 * functions with the same types, and each wrapper serves both names. */
_Static_assert(sizeof(off_t) == 8, "libudax-preload needs a 64-bit off_t");

#define PL_EXPORT __attribute__((visibility("default")))

/* ---- the real libc functions: real.h ---- */

#include "real.h"

/* ---- configuration, the pool, diagnostics (pool.c) ---- */

struct pl_config {
	bool active; /* UDAX_POOL and UDAX_MOUNT are both usable */
	bool debug;  /* UDAX_PRELOAD_DEBUG=1 */
	char pool[PATH_MAX];
	char mount[PATH_MAX]; /* normalised, no trailing '/' */
	size_t mount_len;
	uint64_t size; /* for a pool created on first use */
	mode_t umask;
};

extern struct pl_config pl_cfg;
extern atomic_bool pl_forked; /* this process is a fork() child */

/* pl_init() - read the environment once. Safe to call from anywhere. */
void pl_init(void);
static inline bool pl_active(void)
{
	pl_init();
	return pl_cfg.active;
}
/* pl_pool() - the pool, opened (created if missing) on first use. */
int pl_pool(struct udax_pool **poolp);
/* The pool if it is open already, else NULL (never opens it). */
struct udax_pool *pl_pool_if_open(void);
void pl_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set errno from a -errno (or 0) and return -1 (or 0). */
static inline int pl_err(int err)
{
	if (err < 0) {
		errno = -err;
		return -1;
	}
	return 0;
}
/* Parse "123", "4K", "16M", "1G" into bytes; 0 on a bad string. */
uint64_t pl_parse_size(const char *s);

/* ---- open file descriptions and the fd table (fdtable.c) ---- */

enum pl_kind { PL_KIND_FILE = 1, PL_KIND_DIR = 2 };

struct pl_ofd {
	atomic_int ref;
	enum pl_kind kind;
	atomic_int flags;	/* O_ACCMODE | O_APPEND | O_NONBLOCK | O_PATH */
	struct udax_file *file; /* PL_KIND_FILE */
	ino_t ino;
	pthread_mutex_t lock; /* serialises the offset */
	int64_t off;
	/* flock(2) state, under the flock lock (lock.c) */
	int flock; /* 0, LOCK_SH or LOCK_EX */
	struct pl_ofd *flock_next;
};

/* pl_ofd_new() - an ofd with one reference (for the descriptor). */
struct pl_ofd *pl_ofd_new(enum pl_kind kind, struct udax_file *file, int flags,
			  ino_t ino);
void pl_ofd_get(struct pl_ofd *o);
/* Drop a reference; the last one releases locks and closes the file. */
void pl_ofd_put(struct pl_ofd *o);

/* pl_fd_is_pool() - does @fd look like a pool descriptor? No lock, no
 * allocation: for fast paths; confirm with pl_fd_get(). */
bool pl_fd_is_pool(int fd);
/* pl_fd_get() - the ofd of pool descriptor @fd with a reference, or NULL. */
struct pl_ofd *pl_fd_get(int fd);
/*
 * pl_fd_install() - reserve a kernel descriptor for @o, which gives it its
 * reference: a new placeholder if @srcfd < 0, else a duplicate of
 * placeholder @srcfd numbered @minfd or above. Return: the descriptor or
 * -errno (then @o's reference is dropped).
 */
int pl_fd_install(struct pl_ofd *o, int srcfd, int minfd);
/* pl_fd_dup2() - make @newfd another descriptor of @o (one new reference);
 * the previous pool entry of @newfd, if any, is released. */
int pl_fd_dup2(struct pl_ofd *o, int oldfd, int newfd, int flags);
/* pl_fd_host_dup() - dup2 (@is_dup2) or dup3 of host descriptor @oldfd
 * over @newfd, whose pool entry, if any, is released. Return: as dup2. */
int pl_fd_host_dup(int oldfd, int newfd, int flags, bool is_dup2);
/* pl_fd_close() - close pool descriptor @fd. Return 0 or -EBADF. */
int pl_fd_close(int fd);
/* pl_fd_close_range() - close_range(2) without CLOSE_RANGE_CLOEXEC: pool
 * descriptors closed as by pl_fd_close, the rest by the kernel, upwards.
 * Return: 0 or -errno. */
int pl_fd_close_range(unsigned int first, unsigned int last, int flags);
/* Around fork(): the table lock taken, so the child finds it free. */
void pl_fd_fork_lock(void);
void pl_fd_fork_unlock(void);
void pl_fd_fork_child(void);
/* Close every pool descriptor (at exit). */
void pl_fd_close_all(void);

/* ---- paths (path.c) ---- */

enum pl_where { PL_HOST = 0, PL_MOUNT = 1, PL_FILE = 2 };

struct pl_path {
	enum pl_where where;
	char name[NAME_MAX + 1]; /* PL_FILE: the name in the pool */
	const char *host;	 /* PL_HOST: the path to give libc */
	char buf[PATH_MAX];	 /* storage for @host when rewritten */
};

/*
 * pl_resolve() - where @path (relative to @dirfd: AT_FDCWD, the mount's
 * descriptor, or a host directory) is. Return: 0 or -errno (-ENOENT for
 * a path into a directory below the mount: the pool is flat; -ENOTDIR
 * for a path relative to a pool file; -ENAMETOOLONG).
 */
int pl_resolve(int dirfd, const char *path, struct pl_path *p);
/* The directory descriptor to give libc with @p->host. */
static inline int pl_host_dirfd(int dirfd, const struct pl_path *p,
				const char *path)
{
	return p->host != path ? AT_FDCWD : dirfd;
}
/* pl_normalize() - @abs (absolute) with "//", "." and ".." folded, no
 * trailing '/' (except "/" itself); *@slash says whether @abs had one.
 * Return: 0 or -ENAMETOOLONG. */
int pl_normalize(const char *abs, char *out, size_t size, bool *slash);
/* pl_cwd_init() - learn the working directory (at the first use). */
void pl_cwd_init(void);

/* ---- calls shared between files ---- */

/* file.c */
int pl_open_path(struct pl_path *p, int flags, mode_t mode);
int pl_stat_path(const struct pl_path *p, struct stat *st);
void pl_stat_dir(struct stat *st);
int pl_fstat_ofd(struct pl_ofd *o, struct stat *st);
ssize_t pl_ofd_read(struct pl_ofd *o, void *buf, size_t len);
ssize_t pl_ofd_write(struct pl_ofd *o, const void *buf, size_t len);
int64_t pl_ofd_seek(struct pl_ofd *o, int64_t off, int whence);
/* lock.c */
int pl_flock(struct pl_ofd *o, int op);
void pl_flock_release(struct pl_ofd *o);
int pl_fcntl_lock(struct pl_ofd *o, int cmd, void *arg);
/* map.c */
void pl_map_unmap_all(void);
/* stdio.c */
void pl_stdio_flush(void);
/* efault.c: host calls, retried through udax_prefault on EFAULT */
ssize_t pl_host_read(int fd, void *buf, size_t len);
ssize_t pl_host_write(int fd, const void *buf, size_t len);
ssize_t pl_host_readv(int fd, const struct iovec *iov, int cnt);
ssize_t pl_host_writev(int fd, const struct iovec *iov, int cnt);

/* The synthetic device number of pool files and the mount directory. */
#define PL_DEV makedev(0x75d, 0xa)
#define PL_DIR_INO ((ino_t)0x7fffffffu)

#endif /* UDAX_PRELOAD_H */
