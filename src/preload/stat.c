/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stat.c - calls on names and attributes: the stat family and statx,
 * access, unlink, rmdir, remove, rename, truncate, mkdir, link and
 * symlink, readlink, chmod and chown, times, extended attributes,
 * statfs.
 *
 * The pool keeps names, sizes, modes and times; it has no owners (files
 * belong to whoever opened the pool), no directories below the mount, no
 * links, no extended attributes, and no way to set a mode or a time after
 * creation. Calls that would need them fail with the errno a kernel
 * filesystem without the feature gives (EPERM, ENOTSUP), except requests
 * that change nothing (chmod to the current mode, chown to the owner,
 * times set to "now", which writes do anyway), which succeed.
 *
 * Each wrapper: resolve; a host path goes to libc (rewritten to absolute
 * while the working directory is the mount); else the pool.
 */
#include "preload.h"

#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <utime.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PL_RESOLVE(dirfd, path, p)                                             \
	do {                                                                   \
		int pl_e = pl_resolve(dirfd, path, p);                         \
		if (pl_e)                                                      \
			return pl_err(pl_e);                                   \
	} while (0)

/* ---- stat ---- */

/* The pool's answer for @dirfd/@path, or 1: ask libc with @p->host. */
static int stat_at(int dirfd, const char *path, struct stat *st, int flags,
		   struct pl_path *p)
{
	struct pl_ofd *o;
	int err;

	if (path && !*path && (flags & AT_EMPTY_PATH)) {
		o = pl_fd_get(dirfd);
		p->where = PL_HOST;
		p->host = path;
		if (!o)
			return 1;
		err = pl_fstat_ofd(o, st);
		pl_ofd_put(o);
		return err;
	}
	err = pl_resolve(dirfd, path, p);
	if (err)
		return err;
	if (p->where == PL_HOST)
		return 1;
	return pl_stat_path(p, st);
}

PL_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	struct pl_path p;
	int ret = stat_at(dirfd, path, st, flags, &p);

	if (ret == 1)
		return PL_REAL(fstatat)(pl_host_dirfd(dirfd, &p, path), p.host,
					st, flags);
	return pl_err(ret);
}

PL_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st,
			int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

PL_EXPORT int stat(const char *path, struct stat *st)
{
	return fstatat(AT_FDCWD, path, st, 0);
}

PL_EXPORT int stat64(const char *path, struct stat64 *st)
{
	return fstatat(AT_FDCWD, path, (struct stat *)st, 0);
}

PL_EXPORT int lstat(const char *path, struct stat *st)
{
	return fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

PL_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}

/* Not through the exported fstat: with ThreadSanitizer's runtime ahead of
 * this library, that name is its interceptor, which calls __fxstat. */
static int fstat_fd(int fd, struct stat *st)
{
	struct pl_ofd *o = pl_fd_get(fd);
	int err;

	if (!o)
		return PL_REAL(fstat)(fd, st);
	err = pl_fstat_ofd(o, st);
	pl_ofd_put(o);
	return pl_err(err);
}

PL_EXPORT int fstat(int fd, struct stat *st)
{
	return fstat_fd(fd, st);
}

PL_EXPORT int fstat64(int fd, struct stat64 *st)
{
	return fstat_fd(fd, (struct stat *)st);
}

/*
 * The stat entry points of glibc before 2.33, which libc still exports:
 * programs built against an older glibc call them instead of stat and
 * fstat, and so does ThreadSanitizer's fstat interceptor (its "real"
 * fstat is __fxstat). @ver is the layout the caller expects; the one
 * struct stat these wrappers fill is version 1 on x86-64
 * (_STAT_VER_LINUX, 0 is the same layout there), version 0 elsewhere.
 */
#if defined(__x86_64__)
#define PL_STAT_VER_OK(ver) ((ver) == 0 || (ver) == 1)
#else
#define PL_STAT_VER_OK(ver) ((ver) == 0)
#endif

int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st,
	       int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st,
		 int flags);

PL_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	if (!PL_STAT_VER_OK(ver))
		return pl_fd_is_pool(fd) ? pl_err(-EINVAL)
					 : PL_REAL(__fxstat)(ver, fd, st);
	return fstat_fd(fd, st);
}

PL_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return __fxstat(ver, fd, (struct stat *)st);
}

PL_EXPORT int __fxstatat(int ver, int dirfd, const char *path,
			 struct stat *st, int flags)
{
	if (!PL_STAT_VER_OK(ver))
		return pl_err(-EINVAL);
	return fstatat(dirfd, path, st, flags);
}

PL_EXPORT int __fxstatat64(int ver, int dirfd, const char *path,
			   struct stat64 *st, int flags)
{
	return __fxstatat(ver, dirfd, path, (struct stat *)st, flags);
}

PL_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	return __fxstatat(ver, AT_FDCWD, path, st, 0);
}

PL_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	return __fxstatat(ver, AT_FDCWD, path, (struct stat *)st, 0);
}

PL_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	return __fxstatat(ver, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

PL_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	return __fxstatat(ver, AT_FDCWD, path, (struct stat *)st,
			  AT_SYMLINK_NOFOLLOW);
}

static void ts_to_statx(struct statx_timestamp *t, const struct timespec *ts)
{
	t->tv_sec = ts->tv_sec;
	t->tv_nsec = (uint32_t)ts->tv_nsec;
}

PL_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask,
		    struct statx *stx)
{
	struct pl_path p;
	struct stat st;
	int ret = stat_at(dirfd, path, &st, flags, &p);

	if (ret == 1)
		return PL_REAL(statx)(pl_host_dirfd(dirfd, &p, path), p.host,
				      flags, mask, stx);
	if (ret)
		return pl_err(ret);
	memset(stx, 0, sizeof(*stx));
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_blksize = (uint32_t)st.st_blksize;
	stx->stx_nlink = (uint32_t)st.st_nlink;
	stx->stx_uid = st.st_uid;
	stx->stx_gid = st.st_gid;
	stx->stx_mode = (uint16_t)st.st_mode;
	stx->stx_ino = st.st_ino;
	stx->stx_size = (uint64_t)st.st_size;
	stx->stx_blocks = (uint64_t)st.st_blocks;
	ts_to_statx(&stx->stx_atime, &st.st_atim);
	ts_to_statx(&stx->stx_mtime, &st.st_mtim);
	ts_to_statx(&stx->stx_ctime, &st.st_ctim);
	stx->stx_dev_major = major(st.st_dev);
	stx->stx_dev_minor = minor(st.st_dev);
	return 0;
}

/* ---- access ---- */

static int access_mode(const struct stat *st, int mode)
{
	if (mode & ~(R_OK | W_OK | X_OK))
		return -EINVAL;
	if (geteuid() == 0) /* root: all but X_OK without any x bit */
		return (mode & X_OK) && !(st->st_mode & 0111) ? -EACCES : 0;
	if (((mode & R_OK) && !(st->st_mode & S_IRUSR)) ||
	    ((mode & W_OK) && !(st->st_mode & S_IWUSR)) ||
	    ((mode & X_OK) && !(st->st_mode & S_IXUSR)))
		return -EACCES;
	return 0;
}

PL_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	struct pl_path p;
	struct stat st;
	int ret = stat_at(dirfd, path, &st, flags & AT_EMPTY_PATH, &p);

	if (ret == 1)
		return PL_REAL(faccessat)(pl_host_dirfd(dirfd, &p, path),
					  p.host, mode, flags);
	if (!ret)
		ret = access_mode(&st, mode);
	return pl_err(ret);
}

PL_EXPORT int access(const char *path, int mode)
{
	return faccessat(AT_FDCWD, path, mode, 0);
}

/* ---- unlink, rmdir, remove ---- */

PL_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	struct udax_pool *pool;
	struct pl_path p;
	struct stat st;
	int err;

	PL_RESOLVE(dirfd, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(unlinkat)(pl_host_dirfd(dirfd, &p, path), p.host,
					 flags);
	if (p.where == PL_MOUNT)
		return pl_err(flags & AT_REMOVEDIR ? -EBUSY : -EISDIR);
	err = pl_pool(&pool);
	if (!err && (flags & AT_REMOVEDIR)) {
		err = pl_stat_path(&p, &st);
		return pl_err(err ? err : -ENOTDIR);
	}
	if (!err)
		err = udax_unlink(pool, p.name);
	pl_debug("unlink %s: %d", p.name, err);
	return pl_err(err);
}

PL_EXPORT int unlink(const char *path)
{
	return unlinkat(AT_FDCWD, path, 0);
}

PL_EXPORT int rmdir(const char *path)
{
	return unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

/* glibc's remove() calls unlink and rmdir internally, past any wrapper. */
PL_EXPORT int remove(const char *path)
{
	struct pl_path p;

	PL_RESOLVE(AT_FDCWD, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(remove)(p.host);
	return unlinkat(AT_FDCWD, path, p.where == PL_MOUNT ? AT_REMOVEDIR : 0);
}

/* ---- rename ---- */

PL_EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd,
			const char *newpath, unsigned int flags)
{
	struct pl_path a, b;
	struct udax_pool *pool;
	int err;

	PL_RESOLVE(olddirfd, oldpath, &a);
	PL_RESOLVE(newdirfd, newpath, &b);
	if (a.where == PL_HOST && b.where == PL_HOST)
		return PL_REAL(renameat2)(
		    pl_host_dirfd(olddirfd, &a, oldpath), a.host,
		    pl_host_dirfd(newdirfd, &b, newpath), b.host, flags);
	if (a.where == PL_HOST || b.where == PL_HOST)
		return pl_err(-EXDEV);
	if (a.where == PL_MOUNT || b.where == PL_MOUNT)
		return pl_err(-EBUSY);
	if (flags & ~RENAME_NOREPLACE)
		return pl_err(-EINVAL);
	err = pl_pool(&pool);
	if (err)
		return pl_err(err);
	err = udax_rename(pool, a.name, b.name,
			  flags & RENAME_NOREPLACE ? UDAX_RENAME_NOREPLACE : 0);
	return pl_err(err);
}

PL_EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd,
		       const char *newpath)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

PL_EXPORT int rename(const char *oldpath, const char *newpath)
{
	return renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

/* ---- truncate ---- */

PL_EXPORT int truncate(const char *path, off_t len)
{
	struct udax_file *file;
	struct udax_pool *pool;
	struct pl_path p;
	int err;

	PL_RESOLVE(AT_FDCWD, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(truncate)(p.host, len);
	if (p.where == PL_MOUNT)
		return pl_err(-EISDIR);
	if (len < 0)
		return pl_err(-EINVAL);
	err = pl_pool(&pool);
	if (!err)
		err = udax_open(pool, p.name, O_WRONLY, 0, &file);
	if (err)
		return pl_err(err);
	err = udax_ftruncate(file, (uint64_t)len);
	udax_close(file);
	return pl_err(err);
}

PL_EXPORT int truncate64(const char *path, off64_t len)
{
	return truncate(path, len);
}

/* ---- what the pool does not have ---- */

PL_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	struct pl_path p;
	struct stat st;

	PL_RESOLVE(dirfd, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(mkdirat)(pl_host_dirfd(dirfd, &p, path), p.host,
					mode);
	if (p.where == PL_MOUNT || !pl_stat_path(&p, &st))
		return pl_err(-EEXIST);
	return pl_err(-EPERM); /* no directories below the mount */
}

PL_EXPORT int mkdir(const char *path, mode_t mode)
{
	return mkdirat(AT_FDCWD, path, mode);
}

PL_EXPORT int linkat(int olddirfd, const char *oldpath, int newdirfd,
		     const char *newpath, int flags)
{
	struct pl_path a, b;

	PL_RESOLVE(olddirfd, oldpath, &a);
	PL_RESOLVE(newdirfd, newpath, &b);
	if (a.where == PL_HOST && b.where == PL_HOST)
		return PL_REAL(linkat)(
		    pl_host_dirfd(olddirfd, &a, oldpath), a.host,
		    pl_host_dirfd(newdirfd, &b, newpath), b.host, flags);
	return pl_err(a.where == PL_HOST || b.where == PL_HOST ? -EXDEV
							       : -EPERM);
}

PL_EXPORT int link(const char *oldpath, const char *newpath)
{
	return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

PL_EXPORT int symlinkat(const char *target, int dirfd, const char *path)
{
	struct pl_path p;

	PL_RESOLVE(dirfd, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(symlinkat)(
		    target, pl_host_dirfd(dirfd, &p, path), p.host);
	return pl_err(-EPERM);
}

PL_EXPORT int symlink(const char *target, const char *path)
{
	return symlinkat(target, AT_FDCWD, path);
}

PL_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf,
			     size_t size)
{
	struct pl_path p;
	struct stat st;
	int err;

	PL_RESOLVE(dirfd, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(readlinkat)(pl_host_dirfd(dirfd, &p, path),
					   p.host, buf, size);
	err = pl_stat_path(&p, &st);
	return pl_err(err ? err : -EINVAL); /* not a symbolic link */
}

PL_EXPORT ssize_t readlink(const char *path, char *buf, size_t size)
{
	return readlinkat(AT_FDCWD, path, buf, size);
}

/* chmod to the current mode, chown to the current owner: nothing to do. */
static int chmod_st(const struct stat *st, mode_t mode)
{
	return (mode & 07777) == (st->st_mode & 07777) ? 0 : -EOPNOTSUPP;
}

static int chown_st(const struct stat *st, uid_t uid, gid_t gid)
{
	if ((uid != (uid_t)-1 && uid != st->st_uid) ||
	    (gid != (gid_t)-1 && gid != st->st_gid))
		return -EPERM;
	return 0;
}

/* The pool's stat for @fd, or 1 for a host descriptor. */
static int fd_stat(int fd, struct stat *st)
{
	struct pl_ofd *o = pl_fd_get(fd);
	int err;

	if (!o)
		return 1;
	err = pl_fstat_ofd(o, st);
	pl_ofd_put(o);
	return err;
}

PL_EXPORT int fchmod(int fd, mode_t mode)
{
	struct stat st;
	int ret = fd_stat(fd, &st);

	if (ret == 1)
		return PL_REAL(fchmod)(fd, mode);
	return pl_err(ret ? ret : chmod_st(&st, mode));
}

PL_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	struct pl_path p;
	struct stat st;
	int ret = stat_at(dirfd, path, &st, flags & AT_EMPTY_PATH, &p);

	if (ret == 1)
		return PL_REAL(fchmodat)(pl_host_dirfd(dirfd, &p, path), p.host,
					 mode, flags);
	return pl_err(ret ? ret : chmod_st(&st, mode));
}

PL_EXPORT int chmod(const char *path, mode_t mode)
{
	return fchmodat(AT_FDCWD, path, mode, 0);
}

PL_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
	struct stat st;
	int ret = fd_stat(fd, &st);

	if (ret == 1)
		return PL_REAL(fchown)(fd, uid, gid);
	return pl_err(ret ? ret : chown_st(&st, uid, gid));
}

PL_EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid,
		       int flags)
{
	struct pl_path p;
	struct stat st;
	int ret = stat_at(dirfd, path, &st, flags & AT_EMPTY_PATH, &p);

	if (ret == 1)
		return PL_REAL(fchownat)(pl_host_dirfd(dirfd, &p, path), p.host,
					 uid, gid, flags);
	return pl_err(ret ? ret : chown_st(&st, uid, gid));
}

PL_EXPORT int chown(const char *path, uid_t uid, gid_t gid)
{
	return fchownat(AT_FDCWD, path, uid, gid, 0);
}

PL_EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
	return fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW);
}

/* Times "now" (or left alone) are what the pool does on every write. */
static int times_ok(const struct timespec t[2])
{
	for (int i = 0; t && i < 2; i++)
		if (t[i].tv_nsec != UTIME_NOW && t[i].tv_nsec != UTIME_OMIT)
			return -EOPNOTSUPP;
	return 0;
}

PL_EXPORT int utimensat(int dirfd, const char *path,
			const struct timespec times[2], int flags)
{
	struct pl_path p;
	struct stat st;
	int ret;

	if (!path) /* futimens(fd) is utimensat(fd, NULL) */
		ret = fd_stat(dirfd, &st);
	else
		ret = stat_at(dirfd, path, &st, flags & AT_EMPTY_PATH, &p);
	if (ret == 1)
		return PL_REAL(utimensat)(path ? pl_host_dirfd(dirfd, &p, path)
					       : dirfd,
					  path ? p.host : NULL, times, flags);
	return pl_err(ret ? ret : times_ok(times));
}

PL_EXPORT int futimens(int fd, const struct timespec times[2])
{
	struct stat st;
	int ret = fd_stat(fd, &st);

	if (ret == 1)
		return PL_REAL(futimens)(fd, times);
	return pl_err(ret ? ret : times_ok(times));
}

/* The timeval forms: glibc implements them with an internal utimensat,
 * which on a pool descriptor would set the placeholder's times. */
static int tv_ok(const struct timeval tv[2])
{
	return tv ? -EOPNOTSUPP : 0;
}

PL_EXPORT int utimes(const char *path, const struct timeval tv[2])
{
	struct pl_path p;
	struct stat st;
	int ret = stat_at(AT_FDCWD, path, &st, 0, &p);

	if (ret == 1)
		return PL_REAL(utimes)(p.host, tv);
	return pl_err(ret ? ret : tv_ok(tv));
}

PL_EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
	struct pl_path p;
	struct stat st;
	int ret = stat_at(AT_FDCWD, path, &st, 0, &p);

	if (ret == 1)
		return PL_REAL(lutimes)(p.host, tv);
	return pl_err(ret ? ret : tv_ok(tv));
}

PL_EXPORT int futimes(int fd, const struct timeval tv[2])
{
	struct stat st;
	int ret = fd_stat(fd, &st);

	if (ret == 1)
		return PL_REAL(futimes)(fd, tv);
	return pl_err(ret ? ret : tv_ok(tv));
}

PL_EXPORT int utime(const char *path, const struct utimbuf *times)
{
	struct pl_path p;
	struct stat st;
	int ret = stat_at(AT_FDCWD, path, &st, 0, &p);

	if (ret == 1)
		return PL_REAL(utime)(p.host, times);
	return pl_err(ret ? ret : times ? -EOPNOTSUPP : 0);
}

/* ---- extended attributes: none ---- */

/* -ENOTSUP for a pool path, 1 for a host one (resolved into @p). */
static int xattr_path(const char *path, struct pl_path *p)
{
	int err = pl_resolve(AT_FDCWD, path, p);

	if (err)
		return err;
	return p->where == PL_HOST ? 1 : -ENOTSUP;
}

#define PL_XATTR_PATH(call, path, ...)                                         \
	({                                                                     \
		struct pl_path pl_p;                                           \
		int pl_r = xattr_path(path, &pl_p);                            \
		pl_r == 1 ? PL_REAL(call)(pl_p.host, __VA_ARGS__)              \
			  : (ssize_t)pl_err(pl_r);                             \
	})

#define PL_XATTR_FD(call, fd, ...)                                             \
	(pl_fd_is_pool(fd) ? (ssize_t)pl_err(-ENOTSUP)                         \
			   : PL_REAL(call)(fd, __VA_ARGS__))

PL_EXPORT ssize_t getxattr(const char *path, const char *name, void *value,
			   size_t size)
{
	return PL_XATTR_PATH(getxattr, path, name, value, size);
}

PL_EXPORT ssize_t lgetxattr(const char *path, const char *name, void *value,
			    size_t size)
{
	return PL_XATTR_PATH(lgetxattr, path, name, value, size);
}

PL_EXPORT ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
{
	return PL_XATTR_FD(fgetxattr, fd, name, value, size);
}

PL_EXPORT int setxattr(const char *path, const char *name, const void *value,
		       size_t size, int flags)
{
	return (int)PL_XATTR_PATH(setxattr, path, name, value, size, flags);
}

PL_EXPORT int lsetxattr(const char *path, const char *name, const void *value,
			size_t size, int flags)
{
	return (int)PL_XATTR_PATH(lsetxattr, path, name, value, size, flags);
}

PL_EXPORT int fsetxattr(int fd, const char *name, const void *value,
			size_t size, int flags)
{
	return (int)PL_XATTR_FD(fsetxattr, fd, name, value, size, flags);
}

PL_EXPORT ssize_t listxattr(const char *path, char *list, size_t size)
{
	return PL_XATTR_PATH(listxattr, path, list, size);
}

PL_EXPORT ssize_t llistxattr(const char *path, char *list, size_t size)
{
	return PL_XATTR_PATH(llistxattr, path, list, size);
}

PL_EXPORT ssize_t flistxattr(int fd, char *list, size_t size)
{
	return PL_XATTR_FD(flistxattr, fd, list, size);
}

/* ---- statfs ---- */

#define PL_STATFS_MAGIC 0x75646178 /* "udax" */

static int pool_statfs(struct statfs *sf)
{
	struct udax_pool *pool;
	struct udax_stats s;
	int err = pl_pool(&pool);

	if (!err)
		err = udax_pool_stats(pool, &s, sizeof s);
	if (err)
		return err;
	memset(sf, 0, sizeof(*sf));
	sf->f_type = PL_STATFS_MAGIC;
	sf->f_bsize = 4096;
	sf->f_frsize = 4096;
	sf->f_blocks = s.pool_blocks;
	sf->f_bfree = s.pool_free_blocks;
	sf->f_bavail = s.pool_free_blocks;
	sf->f_files = s.pool_inodes;
	sf->f_ffree = s.pool_free_inodes;
	sf->f_namelen = NAME_MAX;
	return 0;
}

PL_EXPORT int statfs(const char *path, struct statfs *sf)
{
	struct pl_path p;

	PL_RESOLVE(AT_FDCWD, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(statfs)(p.host, sf);
	if (p.where == PL_FILE) {
		struct stat st;
		int err = pl_stat_path(&p, &st);

		if (err)
			return pl_err(err);
	}
	return pl_err(pool_statfs(sf));
}

PL_EXPORT int statfs64(const char *path, struct statfs64 *sf)
{
	return statfs(path, (struct statfs *)sf);
}

PL_EXPORT int fstatfs(int fd, struct statfs *sf)
{
	if (!pl_fd_is_pool(fd))
		return PL_REAL(fstatfs)(fd, sf);
	return pl_err(pool_statfs(sf));
}

PL_EXPORT int fstatfs64(int fd, struct statfs64 *sf)
{
	return fstatfs(fd, (struct statfs *)sf);
}

/* statvfs: glibc's calls its internal statfs, past the wrappers above. */
static int pool_statvfs(struct statvfs *sv)
{
	struct statfs sf;
	int err = pool_statfs(&sf);

	if (err)
		return err;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = (unsigned long)sf.f_bsize;
	sv->f_frsize = (unsigned long)sf.f_frsize;
	sv->f_blocks = sf.f_blocks;
	sv->f_bfree = sf.f_bfree;
	sv->f_bavail = sf.f_bavail;
	sv->f_files = sf.f_files;
	sv->f_ffree = sf.f_ffree;
	sv->f_favail = sf.f_ffree;
	sv->f_namemax = (unsigned long)sf.f_namelen;
	return 0;
}

PL_EXPORT int statvfs(const char *path, struct statvfs *sv)
{
	struct pl_path p;

	PL_RESOLVE(AT_FDCWD, path, &p);
	if (p.where == PL_HOST)
		return PL_REAL(statvfs)(p.host, sv);
	if (p.where == PL_FILE) {
		struct stat st;
		int err = pl_stat_path(&p, &st);

		if (err)
			return pl_err(err);
	}
	return pl_err(pool_statvfs(sv));
}

PL_EXPORT int statvfs64(const char *path, struct statvfs64 *sv)
{
	return statvfs(path, (struct statvfs *)sv);
}

PL_EXPORT int fstatvfs(int fd, struct statvfs *sv)
{
	if (!pl_fd_is_pool(fd))
		return PL_REAL(fstatvfs)(fd, sv);
	return pl_err(pool_statvfs(sv));
}

PL_EXPORT int fstatvfs64(int fd, struct statvfs64 *sv)
{
	return fstatvfs(fd, (struct statvfs *)sv);
}
