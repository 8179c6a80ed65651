/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * file.c - opening, closing and duplicating descriptors: open, openat,
 * creat (and their 64-bit and fortified forms), close, close_range, dup,
 * dup2, dup3, fcntl, ioctl.
 *
 * @p is a resolved path, @o an ofd. An ofd's status flags are the open
 * flags the program sees with F_GETFL; the udax handle may have been
 * opened wider (O_RDONLY|O_TRUNC opens it read-write, as Linux truncates
 * there): every wrapper checks the ofd's flags, never the handle's.
 */
#include "preload.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PL_STATUS_FLAGS                                                        \
	(O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_DIRECT | O_NOATIME |     \
	 O_PATH)
#define PL_SETFL_FLAGS (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME)

/* The stat of the mount directory: owned by us, rwxr-xr-x, with the
 * pool file's times. */
void pl_stat_dir(struct stat *st)
{
	struct stat pst;

	memset(st, 0, sizeof(*st));
	if (!PL_REAL(stat)(pl_cfg.pool, &pst)) {
		st->st_atim = pst.st_atim;
		st->st_mtim = pst.st_mtim;
		st->st_ctim = pst.st_ctim;
	}
	st->st_dev = PL_DEV;
	st->st_ino = PL_DIR_INO;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = geteuid();
	st->st_gid = getegid();
	st->st_size = 4096;
	st->st_blksize = 4096;
}

static int fstat_file(struct udax_file *file, struct stat *st)
{
	int err = udax_fstat(file, st);

	if (err)
		return err;
	st->st_mode = S_IFREG | (st->st_mode & 07777);
	st->st_dev = PL_DEV;
	st->st_rdev = 0;
	return 0;
}

int pl_fstat_ofd(struct pl_ofd *o, struct stat *st)
{
	if (o->kind == PL_KIND_DIR) {
		pl_stat_dir(st);
		return 0;
	}
	return fstat_file(o->file, st);
}

int pl_stat_path(const struct pl_path *p, struct stat *st)
{
	struct udax_file *file;
	struct udax_pool *pool;
	int err = pl_pool(&pool);

	if (err)
		return err;
	if (p->where == PL_MOUNT) {
		pl_stat_dir(st);
		return 0;
	}
	err = udax_open(pool, p->name, O_RDONLY, 0, &file);
	if (err)
		return err;
	err = fstat_file(file, st);
	udax_close(file);
	return err;
}

static int open_dir(int flags)
{
	struct pl_ofd *o;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EISDIR;
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		return -EEXIST;
	if (flags & O_CREAT)
		return -EISDIR;
	o = pl_ofd_new(PL_KIND_DIR, NULL, flags & (O_ACCMODE | O_PATH),
		       PL_DIR_INO);
	if (!o)
		return -ENOMEM;
	return pl_fd_install(o, -1, 0);
}

/*
 * pl_open_path() - open the pool file or the mount directory @p.
 * Return: the new descriptor or -errno: -EISDIR (the mount for writing),
 * -ENOTDIR (O_DIRECTORY on a file), -EOPNOTSUPP (O_TMPFILE), udax_open's.
 */
int pl_open_path(struct pl_path *p, int flags, mode_t mode)
{
	int acc = flags & O_ACCMODE, uflags, err;
	struct udax_file *file;
	struct udax_pool *pool;
	struct pl_ofd *o;
	struct stat st;

	err = pl_pool(&pool);
	if (err)
		return err;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return -EOPNOTSUPP;
	if (p->where == PL_MOUNT)
		return open_dir(flags);
	if (acc == O_ACCMODE)
		return -EINVAL;
	if (flags & O_PATH)
		acc = O_RDONLY;
	uflags = acc | (flags & (O_CREAT | O_EXCL | O_TRUNC));
	if (flags & O_PATH)
		uflags = O_RDONLY;
	if ((uflags & O_TRUNC) && acc == O_RDONLY)
		uflags = (uflags & ~O_ACCMODE) | O_RDWR;
	if (flags & O_DIRECTORY)
		uflags &= ~(O_CREAT | O_TRUNC);
	err = udax_open(pool, p->name, uflags, mode & 07777 & ~pl_cfg.umask,
			&file);
	if (err)
		return err;
	if (flags & O_DIRECTORY) {
		udax_close(file);
		return -ENOTDIR;
	}
	err = fstat_file(file, &st);
	if (err) {
		udax_close(file);
		return err;
	}
	o = pl_ofd_new(PL_KIND_FILE, file,
		       acc | (flags & PL_STATUS_FLAGS) | O_LARGEFILE,
		       st.st_ino);
	if (!o) {
		udax_close(file);
		return -ENOMEM;
	}
	err = pl_fd_install(o, -1, 0);
	pl_debug("open %s flags %#x: %d", p->name, flags, err);
	return err;
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct pl_path p;
	int err = pl_resolve(dirfd, path, &p);

	if (err)
		return pl_err(err);
	if (p.where == PL_HOST)
		return PL_REAL(openat)(dirfd, p.host, flags, mode);
	err = pl_open_path(&p, flags, mode);
	return err < 0 ? pl_err(err) : err;
}

static inline bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define PL_MODE_ARG(flags, mode)                                               \
	do {                                                                   \
		if (needs_mode(flags)) {                                       \
			va_list ap;                                            \
			va_start(ap, flags);                                   \
			mode = va_arg(ap, mode_t);                             \
			va_end(ap);                                            \
		}                                                              \
	} while (0)

PL_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	PL_MODE_ARG(flags, mode);
	return do_openat(AT_FDCWD, path, flags, mode);
}

PL_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	PL_MODE_ARG(flags, mode);
	return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}

PL_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	PL_MODE_ARG(flags, mode);
	return do_openat(dirfd, path, flags, mode);
}

PL_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	PL_MODE_ARG(flags, mode);
	return do_openat(dirfd, path, flags | O_LARGEFILE, mode);
}

/* The _FORTIFY_SOURCE forms (no mode: they reject O_CREAT without one). */
PL_EXPORT int __open_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

PL_EXPORT int __open64_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}

PL_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

PL_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags | O_LARGEFILE, 0);
}

PL_EXPORT int creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

PL_EXPORT int creat64(const char *path, mode_t mode)
{
	return creat(path, mode);
}

/* ---- close and duplication ---- */

PL_EXPORT int close(int fd)
{
	if (pl_fd_is_pool(fd)) {
		int err = pl_fd_close(fd);

		if (err != -EBADF)
			return pl_err(err);
	}
	return PL_REAL(close)(fd);
}

/*
 * close_range: upwards, as the kernel does, runs of host descriptors by
 * the kernel and each pool descriptor as close() does (its slot emptied
 * with its number freed; see fdtable.c). With CLOSE_RANGE_CLOEXEC
 * nothing is closed (pool descriptors are close-on-exec already); with
 * CLOSE_RANGE_UNSHARE the pool descriptors are closed for every thread,
 * since the table of pool descriptors is the process's.
 */
PL_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (first > last ||
	    (flags & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)))
		return pl_err(-EINVAL);
	if (flags & CLOSE_RANGE_CLOEXEC)
		return PL_REAL(close_range)(first, last, flags);
	return pl_err(pl_fd_close_range(first, last, flags));
}

PL_EXPORT void closefrom(int lowfd)
{
	(void)close_range(lowfd < 0 ? 0 : (unsigned int)lowfd, ~0u, 0);
}

PL_EXPORT int dup(int fd)
{
	struct pl_ofd *o = pl_fd_get(fd);
	int ret;

	if (!o)
		return PL_REAL(dup)(fd);
	ret = pl_fd_install(o, fd, 0); /* takes our reference */
	return ret < 0 ? pl_err(ret) : ret;
}

static int do_dup3(int oldfd, int newfd, int flags, bool is_dup2)
{
	struct pl_ofd *o = pl_fd_get(oldfd);
	int ret;

	if (!o)
		return pl_fd_host_dup(oldfd, newfd, flags, is_dup2);
	if (oldfd == newfd) {
		pl_ofd_put(o);
		return is_dup2 ? newfd : pl_err(-EINVAL);
	}
	if (flags & ~O_CLOEXEC) {
		pl_ofd_put(o);
		return pl_err(-EINVAL);
	}
	ret = pl_fd_dup2(o, oldfd, newfd, flags);
	pl_ofd_put(o);
	return ret < 0 ? pl_err(ret) : ret;
}

PL_EXPORT int dup2(int oldfd, int newfd)
{
	return do_dup3(oldfd, newfd, 0, true);
}

PL_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	return do_dup3(oldfd, newfd, flags, false);
}

/* ---- fcntl ---- */

static int pool_fcntl(struct pl_ofd *o, int fd, int cmd, void *arg)
{
	int flags, ret;

	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if ((intptr_t)arg < 0)
			return -EINVAL;
		pl_ofd_get(o);
		return pl_fd_install(o, fd, (int)(intptr_t)arg);
	case F_GETFD:
	case F_SETFD:
		/* The placeholder's descriptor flags are the descriptor's. */
		ret = PL_REAL(fcntl)(fd, cmd, arg);
		return ret < 0 ? -errno : ret;
	case F_GETFL:
		return atomic_load(&o->flags);
	case F_SETFL:
		flags = atomic_load(&o->flags);
		while (!atomic_compare_exchange_weak(
		    &o->flags, &flags,
		    (flags & ~PL_SETFL_FLAGS) |
			((int)(intptr_t)arg & PL_SETFL_FLAGS)))
			;
		return 0;
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return pl_fcntl_lock(o, cmd, arg);
	case F_GETOWN:
	case F_SETOWN:
	case F_GETSIG:
	case F_SETSIG:
	case F_SETLEASE:
	case F_GETLEASE:
	case F_NOTIFY:
	case F_GETPIPE_SZ:
	case F_SETPIPE_SZ:
	case F_ADD_SEALS:
	case F_GET_SEALS:
		return -EINVAL;
	default:
		return -EINVAL;
	}
}

static int do_fcntl(int fd, int cmd, void *arg)
{
	struct pl_ofd *o = pl_fd_get(fd);
	int ret;

	if (!o) {
		ret = PL_REAL(fcntl)(fd, cmd, arg);
		return ret;
	}
	ret = pool_fcntl(o, fd, cmd, arg);
	pl_ofd_put(o);
	return ret < 0 ? pl_err(ret) : ret;
}

/* The third argument is an int or a pointer: fetched as a pointer, which
 * carries either (as libc itself does). */
PL_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

/* The same function on LP64 (off_t is 64-bit, struct flock is flock64). */
PL_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

PL_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (pl_fd_is_pool(fd)) {
		struct pl_ofd *o = pl_fd_get(fd);

		if (o) {
			pl_ofd_put(o);
			pl_debug("ioctl %#lx on a pool descriptor: ENOTTY",
				 req);
			return pl_err(-ENOTTY);
		}
	}
	return PL_REAL(ioctl)(fd, req, arg);
}
