/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io.c - data calls on pool descriptors: read, write and their positional
 * and vector forms, lseek, fsync, fdatasync, sync_file_range, ftruncate,
 * fallocate, posix_fallocate, posix_fadvise, and the kernel-to-kernel
 * copies (copy_file_range, sendfile, splice), which a pool file cannot
 * take part in (EXDEV, EINVAL: callers such as cp fall back to read and
 * write).
 *
 * The offset of an ofd moves under ofd->lock, so concurrent read(2)s on a
 * shared description each get their own range, as the kernel guarantees
 * for regular files. Writes are durable when they return (udax_pwrite),
 * so O_SYNC and O_DSYNC need nothing more, and fsync commits what was
 * stored through mappings.
 */
#include "preload.h"

#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

static inline int acc(struct pl_ofd *o)
{
	return atomic_load_explicit(&o->flags, memory_order_relaxed) &
	       (O_ACCMODE | O_PATH);
}

static int can_read(struct pl_ofd *o)
{
	if (o->kind == PL_KIND_DIR)
		return acc(o) & O_PATH ? -EBADF : -EISDIR;
	return acc(o) == O_RDONLY || acc(o) == O_RDWR ? 0 : -EBADF;
}

static int can_write(struct pl_ofd *o)
{
	if (o->kind == PL_KIND_DIR)
		return -EBADF;
	return acc(o) == O_WRONLY || acc(o) == O_RDWR ? 0 : -EBADF;
}

/* The end of the file, for O_APPEND and SEEK_END. */
static int64_t file_size(struct pl_ofd *o)
{
	struct stat st;
	int err = udax_fstat(o->file, &st);

	return err ? err : st.st_size;
}

static ssize_t rw_at(struct pl_ofd *o, void *buf, size_t len, int64_t off,
		     bool wr)
{
	if (off < 0)
		return -EINVAL;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	return wr ? udax_pwrite(o->file, buf, len, (uint64_t)off)
		  : udax_pread(o->file, buf, len, (uint64_t)off);
}

/*
 * O_APPEND writes through different descriptions of one file must not
 * find the same end: the end is read and written to under a lock of the
 * file (hashed by inode number: a leaf, taken after ofd->lock and held
 * across udax_pwrite, which never writes through an O_APPEND descriptor
 * of ours).
 */
#define PL_APPEND_LOCKS 64
static pthread_mutex_t append_locks[PL_APPEND_LOCKS] = {
    [0 ... PL_APPEND_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t *append_lock(struct pl_ofd *o)
{
	return &append_locks[o->ino % PL_APPEND_LOCKS];
}

/*
 * Vector I/O at @off (or at the offset, moved, if @off is -1); a write
 * with @append goes to the end of the file (O_APPEND, RWF_APPEND).
 */
static ssize_t rwv(struct pl_ofd *o, const struct iovec *iov, int cnt,
		   int64_t off, bool wr, bool append)
{
	bool cur = off == -1;
	ssize_t total = 0, n = 0;
	int err = wr ? can_write(o) : can_read(o);

	if (err)
		return err;
	if (cnt < 0 || cnt > IOV_MAX)
		return -EINVAL;
	if (off < -1)
		return -EINVAL;
	if (cur) {
		pthread_mutex_lock(&o->lock);
		off = o->off;
		append |= wr && (atomic_load(&o->flags) & O_APPEND);
	}
	append &= wr;
	if (append) {
		pthread_mutex_lock(append_lock(o));
		off = file_size(o);
		if (off < 0) {
			n = off;
			goto out;
		}
	}
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len)
			continue;
		n = rw_at(o, iov[i].iov_base, iov[i].iov_len, off + total, wr);
		if (n <= 0)
			break;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
out:
	if (append)
		pthread_mutex_unlock(append_lock(o));
	if (cur) {
		if (off >= 0)
			o->off = off + total;
		pthread_mutex_unlock(&o->lock);
	}
	return total ? total : n;
}

ssize_t pl_ofd_read(struct pl_ofd *o, void *buf, size_t len)
{
	struct iovec iov = {buf, len};

	return rwv(o, &iov, 1, -1, false, false);
}

ssize_t pl_ofd_write(struct pl_ofd *o, const void *buf, size_t len)
{
	struct iovec iov = {(void *)buf, len};

	return rwv(o, &iov, 1, -1, true, false);
}

/*
 * PL_DATA_CALL() - @pool_expr (with @o the ofd, returning a count or
 * -errno) for a pool descriptor, else @host_expr (libc's form).
 */
#define PL_DATA_CALL(fd, pool_expr, host_expr)                                 \
	({                                                                     \
		struct pl_ofd *o = pl_fd_get(fd);                              \
		ssize_t pl_r;                                                  \
		if (!o) {                                                      \
			pl_r = (host_expr);                                    \
		} else {                                                       \
			pl_r = (pool_expr);                                    \
			pl_ofd_put(o);                                         \
			if (pl_r < 0) {                                        \
				errno = (int)-pl_r;                            \
				pl_r = -1;                                     \
			}                                                      \
		}                                                              \
		pl_r;                                                          \
	})

PL_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	return PL_DATA_CALL(fd, pl_ofd_read(o, buf, len),
			    pl_host_read(fd, buf, len));
}

PL_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	return PL_DATA_CALL(fd, pl_ofd_write(o, buf, len),
			    pl_host_write(fd, buf, len));
}

static ssize_t pread_ofd(struct pl_ofd *o, void *buf, size_t len, off_t off)
{
	struct iovec iov = {buf, len};

	return off < 0 ? -EINVAL : rwv(o, &iov, 1, off, false, false);
}

static ssize_t pwrite_ofd(struct pl_ofd *o, const void *buf, size_t len,
			  off_t off)
{
	struct iovec iov = {(void *)buf, len};

	return off < 0 ? -EINVAL : rwv(o, &iov, 1, off, true, false);
}

PL_EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	return PL_DATA_CALL(fd, pread_ofd(o, buf, len, off),
			    PL_REAL(pread)(fd, buf, len, off));
}

PL_EXPORT ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	return pread(fd, buf, len, off);
}

PL_EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return PL_DATA_CALL(fd, pwrite_ofd(o, buf, len, off),
			    PL_REAL(pwrite)(fd, buf, len, off));
}

PL_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return pwrite(fd, buf, len, off);
}

PL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	return PL_DATA_CALL(fd, rwv(o, iov, cnt, -1, false, false),
			    pl_host_readv(fd, iov, cnt));
}

PL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	return PL_DATA_CALL(fd, rwv(o, iov, cnt, -1, true, false),
			    pl_host_writev(fd, iov, cnt));
}

PL_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return PL_DATA_CALL(fd,
			    off < 0 ? -EINVAL : rwv(o, iov, cnt, off, false, false),
			    PL_REAL(preadv)(fd, iov, cnt, off));
}

PL_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt,
			   off64_t off)
{
	return preadv(fd, iov, cnt, off);
}

PL_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return PL_DATA_CALL(fd, off < 0 ? -EINVAL : rwv(o, iov, cnt, off, true, false),
			    PL_REAL(pwritev)(fd, iov, cnt, off));
}

PL_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt,
			    off64_t off)
{
	return pwritev(fd, iov, cnt, off);
}

/* preadv2/pwritev2: offset -1 is the file offset; the RWF_ hints (HIPRI,
 * NOWAIT, SYNC, DSYNC) change nothing for a pool file, except APPEND. */
static ssize_t rwv2(struct pl_ofd *o, const struct iovec *iov, int cnt,
		    off_t off, int flags, bool wr)
{
	if (flags &
	    ~(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND))
		return -EOPNOTSUPP;
	if (off < -1)
		return -EINVAL;
	return rwv(o, iov, cnt, off, wr, (flags & RWF_APPEND) != 0);
}

PL_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off,
			  int flags)
{
	return PL_DATA_CALL(fd, rwv2(o, iov, cnt, off, flags, false),
			    PL_REAL(preadv2)(fd, iov, cnt, off, flags));
}

PL_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt,
			     off64_t off, int flags)
{
	return preadv2(fd, iov, cnt, off, flags);
}

PL_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off,
			   int flags)
{
	return PL_DATA_CALL(fd, rwv2(o, iov, cnt, off, flags, true),
			    PL_REAL(pwritev2)(fd, iov, cnt, off, flags));
}

PL_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt,
			      off64_t off, int flags)
{
	return pwritev2(fd, iov, cnt, off, flags);
}

/* ---- lseek ---- */

/*
 * pl_ofd_seek() - lseek(2) on @o. SEEK_DATA and SEEK_HOLE see the whole
 * file as data (allowed: a hole may always be reported as data).
 * Return: the new offset or -errno.
 */
int64_t pl_ofd_seek(struct pl_ofd *o, int64_t off, int whence)
{
	int64_t base = 0, size = 0, pos;

	if (o->kind == PL_KIND_DIR)
		return whence == SEEK_SET && off == 0 ? 0 : -EINVAL;
	if (whence != SEEK_SET && whence != SEEK_CUR) {
		size = file_size(o);
		if (size < 0)
			return size;
	}
	pthread_mutex_lock(&o->lock);
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = o->off;
		break;
	case SEEK_END:
		base = size;
		break;
	case SEEK_DATA:
	case SEEK_HOLE:
		if (off < 0 || off >= size) {
			pthread_mutex_unlock(&o->lock);
			return -ENXIO;
		}
		pos = whence == SEEK_DATA ? off : size;
		o->off = pos;
		pthread_mutex_unlock(&o->lock);
		return pos;
	default:
		pthread_mutex_unlock(&o->lock);
		return -EINVAL;
	}
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0) {
		pthread_mutex_unlock(&o->lock);
		return off > 0 ? -EOVERFLOW : -EINVAL;
	}
	pos = base + off;
	o->off = pos;
	pthread_mutex_unlock(&o->lock);
	return pos;
}

PL_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	return PL_DATA_CALL(fd, pl_ofd_seek(o, off, whence),
			    PL_REAL(lseek)(fd, off, whence));
}

PL_EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
	return lseek(fd, off, whence);
}

/* ---- sync ---- */

static int sync_ofd(struct pl_ofd *o)
{
	if (o->kind == PL_KIND_DIR)
		return 0; /* names are committed when they change */
	if (acc(o) & O_PATH)
		return -EBADF;
	return udax_fsync(o->file);
}

PL_EXPORT int fsync(int fd)
{
	return (int)PL_DATA_CALL(fd, sync_ofd(o), PL_REAL(fsync)(fd));
}

PL_EXPORT int fdatasync(int fd)
{
	return (int)PL_DATA_CALL(fd, sync_ofd(o), PL_REAL(fdatasync)(fd));
}

PL_EXPORT int syncfs(int fd)
{
	return (int)PL_DATA_CALL(fd, sync_ofd(o), PL_REAL(syncfs)(fd));
}

/* sync_file_range: the whole file, which is more than asked. */
static int sfr_ofd(struct pl_ofd *o, off64_t off, off64_t len,
		   unsigned int flags)
{
	if (off < 0 || len < 0 ||
	    (flags & ~(SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
		       SYNC_FILE_RANGE_WAIT_AFTER)))
		return -EINVAL;
	if (o->kind == PL_KIND_DIR)
		return -ESPIPE;
	return flags & SYNC_FILE_RANGE_WRITE ? sync_ofd(o) : 0;
}

PL_EXPORT int sync_file_range(int fd, off64_t off, off64_t len,
			      unsigned int flags)
{
	return (int)PL_DATA_CALL(fd, sfr_ofd(o, off, len, flags),
				 PL_REAL(sync_file_range)(fd, off, len, flags));
}

/* ---- size and space ---- */

static int ftruncate_ofd(struct pl_ofd *o, off_t len)
{
	if (len < 0)
		return -EINVAL;
	if (o->kind == PL_KIND_DIR || can_write(o))
		return acc(o) & O_PATH ? -EBADF : -EINVAL;
	return udax_ftruncate(o->file, (uint64_t)len);
}

PL_EXPORT int ftruncate(int fd, off_t len)
{
	return (int)PL_DATA_CALL(fd, ftruncate_ofd(o, len),
				 PL_REAL(ftruncate)(fd, len));
}

PL_EXPORT int ftruncate64(int fd, off64_t len)
{
	return ftruncate(fd, len);
}

static int fallocate_ofd(struct pl_ofd *o, int mode, off_t off, off_t len)
{
	int umode = 0;

	if (off < 0 || len <= 0)
		return -EINVAL;
	if (o->kind == PL_KIND_DIR)
		return -ENODEV;
	if (can_write(o))
		return -EBADF;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (mode & FALLOC_FL_KEEP_SIZE)
		umode |= UDAX_FALLOC_KEEP_SIZE;
	if (mode & FALLOC_FL_PUNCH_HOLE)
		umode |= UDAX_FALLOC_PUNCH_HOLE;
	return udax_fallocate(o->file, umode, (uint64_t)off, (uint64_t)len);
}

PL_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	return (int)PL_DATA_CALL(fd, fallocate_ofd(o, mode, off, len),
				 PL_REAL(fallocate)(fd, mode, off, len));
}

PL_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return fallocate(fd, mode, off, len);
}

/* posix_fallocate and posix_fadvise return the error number itself. */
PL_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	struct pl_ofd *o = pl_fd_get(fd);
	int err;

	if (!o)
		return PL_REAL(posix_fallocate)(fd, off, len);
	err = fallocate_ofd(o, 0, off, len);
	pl_ofd_put(o);
	return err == -EOPNOTSUPP ? EINVAL : -err;
}

PL_EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
	return posix_fallocate(fd, off, len);
}

PL_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	struct pl_ofd *o = pl_fd_get(fd);
	int err = 0;

	if (!o)
		return PL_REAL(posix_fadvise)(fd, off, len, advice);
	if (o->kind == PL_KIND_DIR)
		err = ESPIPE;
	else if (len < 0 || advice < POSIX_FADV_NORMAL ||
		 advice > POSIX_FADV_NOREUSE)
		err = EINVAL;
	pl_ofd_put(o);
	return err; /* advice only: the data is already in memory */
}

PL_EXPORT int posix_fadvise64(int fd, off64_t off, off64_t len, int advice)
{
	return posix_fadvise(fd, off, len, advice);
}

PL_EXPORT ssize_t readahead(int fd, off64_t off, size_t len)
{
	return PL_DATA_CALL(fd, o->kind == PL_KIND_DIR ? -EINVAL : 0,
			    PL_REAL(readahead)(fd, off, len));
}

/* ---- kernel copies: not between a pool file and anything ---- */

PL_EXPORT ssize_t copy_file_range(int in, off64_t *inoff, int out,
				  off64_t *outoff, size_t len,
				  unsigned int flags)
{
	if (pl_fd_is_pool(in) || pl_fd_is_pool(out))
		return pl_err(-EXDEV);
	return PL_REAL(copy_file_range)(in, inoff, out, outoff, len, flags);
}

PL_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t len)
{
	if (pl_fd_is_pool(in) || pl_fd_is_pool(out))
		return pl_err(-EINVAL);
	return PL_REAL(sendfile)(out, in, off, len);
}

PL_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t len)
{
	return sendfile(out, in, off, len);
}

PL_EXPORT ssize_t splice(int in, off64_t *inoff, int out, off64_t *outoff,
			 size_t len, unsigned int flags)
{
	if (pl_fd_is_pool(in) || pl_fd_is_pool(out))
		return pl_err(-EINVAL);
	return PL_REAL(splice)(in, inoff, out, outoff, len, flags);
}
