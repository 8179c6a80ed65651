/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dev.c - open, map and persist a pool device through libpmem2.
 *
 * @dev is the device. Persisting is flush (write back the CPU caches or
 * the page cache for the range) followed by drain (wait for it); a caller
 * that persists several ranges may flush each and drain once.
 *
 * Freed blocks are punched out of a regular pool file (dax_dev_punch).
 *
 * Recording mode (dev.h) appends each flush (with the bytes) and each
 * drain to a log file, under dev->log->lock so the log is in call order.
 */
#define _GNU_SOURCE /* fallocate, FALLOC_FL_* */
#include <errno.h>
#include <fcntl.h>
#include <libpmem2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dev.h"

/*
 * Map a libpmem2 error to -errno: system errors come back as -errno
 * already; libpmem2's own codes (PMEM2_E_*, all far below -4095) mean the
 * source or the request does not fit, or the file type is not one it can
 * map. (pmem2_err_to_errno() is declared but not exported by the Debian
 * build.)
 */
static int pmem2_errno(int ret)
{
	if (ret >= -4095)
		return ret < 0 ? ret : -EIO;
	if (ret == PMEM2_E_INVALID_FILE_TYPE || ret == PMEM2_E_NOSUPP)
		return -ENODEV;
	return -EINVAL;
}

/*
 * Map all of @dev shared, read-write, or read-only for a read-only
 * device (a store through the mapping then faults: the backstop behind
 * every -EROFS check above).
 */
static int dev_map(struct dax_dev *dev)
{
	struct pmem2_config *cfg = NULL;
	int ret;

	ret = pmem2_source_from_fd(&dev->src, dev->fd);
	if (ret)
		return pmem2_errno(ret);
	ret = pmem2_config_new(&cfg);
	if (ret)
		return pmem2_errno(ret);
	/* Any granularity will do: we persist with what libpmem2 gives. */
	ret = pmem2_config_set_required_store_granularity(
		cfg, PMEM2_GRANULARITY_PAGE);
	if (!ret)
		ret = pmem2_config_set_length(cfg, dev->size);
	if (!ret && dev->rdonly)
		ret = pmem2_config_set_protection(cfg, PMEM2_PROT_READ);
	if (!ret)
		ret = pmem2_map_new(&dev->map, cfg, dev->src);
	pmem2_config_delete(&cfg);
	if (ret)
		return pmem2_errno(ret);
	dev->base = pmem2_map_get_address(dev->map);
	dev->granularity = pmem2_map_get_store_granularity(dev->map);
	dev->persist = pmem2_get_persist_fn(dev->map);
	dev->flush = pmem2_get_flush_fn(dev->map);
	dev->drain = pmem2_get_drain_fn(dev->map);
	return 0;
}

struct dax_dev_log {
	pthread_mutex_t lock;
	int fd;
	bool failed; /* a write failed: recording stopped */
};

/* Write all of @iov (@n entries) to @fd. Return: 0 or -errno. */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n) {
		ssize_t done = writev(fd, iov, n);

		if (done < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n && (size_t)done >= iov->iov_len) {
			done -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

/* Append one entry (and @len bytes at @data) to the log. */
static void log_append(struct dax_dev_log *log, uint32_t kind,
		       uint64_t offset, const void *data, uint64_t len)
{
	static const char zeros[8];
	struct dax_dev_rec r = { .kind = kind, .offset = offset, .len = len };
	struct iovec iov[3] = {
		{ &r, sizeof(r) },
		{ (void *)data, len },
		{ (void *)zeros, (8 - (len & 7)) & 7 },
	};
	int err;

	pthread_mutex_lock(&log->lock);
	if (!log->failed) {
		err = write_all(log->fd, iov, 3);
		if (err) {
			log->failed = true;
			fprintf(stderr,
				"udax dev: recording stopped: log write: %s\n",
				strerror(-err));
		}
	}
	pthread_mutex_unlock(&log->lock);
}

/*
 * dax_dev_record_start() - log every flush and drain on @dev from now on
 * to the file @path (created or truncated), after a header and, unless
 * @zero, a BASE record of the whole device.
 * Return: 0, -EINVAL, -EBUSY (already recording), -ENOMEM or -errno.
 */
int dax_dev_record_start(struct dax_dev *dev, const char *path, bool zero)
{
	struct dax_dev_rec_head h = {
		.magic = DAX_DEV_REC_MAGIC,
		.version = DAX_DEV_REC_VERSION,
		.flags = zero ? DAX_DEV_REC_ZERO : 0,
		.dev_size = dev ? dev->size : 0,
	};
	struct dax_dev_log *log;
	struct iovec iov = { &h, sizeof(h) };
	int err;

	if (!dev || !path || !*path)
		return -EINVAL;
	if (dev->log)
		return -EBUSY;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log->fd < 0) {
		err = -errno;
		free(log);
		return err;
	}
	err = write_all(log->fd, &iov, 1);
	if (err) {
		close(log->fd);
		free(log);
		return err;
	}
	pthread_mutex_init(&log->lock, NULL);
	if (!zero) {
		log_append(log, DAX_DEV_REC_BASE, 0, dev->base, dev->size);
		if (log->failed) {
			dev->log = log;
			dax_dev_record_stop(dev);
			return -EIO;
		}
	}
	dev->log = log;
	return 0;
}

/* dax_dev_record_stop() - stop recording (if on) and close the log. */
void dax_dev_record_stop(struct dax_dev *dev)
{
	struct dax_dev_log *log = dev ? dev->log : NULL;

	if (!log)
		return;
	dev->log = NULL;
	close(log->fd);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

static void dev_free(struct dax_dev *dev)
{
	dax_dev_record_stop(dev);
	if (dev->map)
		pmem2_map_delete(&dev->map);
	if (dev->src)
		pmem2_source_delete(&dev->src);
	if (dev->fd >= 0)
		close(dev->fd); /* drops the flock too */
	free(dev);
}

/*
 * Lock @fd as an opener of its pool: exclusively to write, shared to
 * only read (@rdonly), never waiting.
 * Return: 0, -EBUSY (a conflicting opener holds it), or -errno.
 */
static int dev_lock(int fd, bool rdonly)
{
	if (!flock(fd, (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB))
		return 0;
	return errno == EWOULDBLOCK ? -EBUSY : -errno;
}

/*
 * Take @fd (opened O_RDONLY if @rdonly, else O_RDWR), lock it, find its
 * size; map it. @created: the file was just created (all zeros). In test
 * builds, start recording if UDAX_DEV_RECORD asks for it (never on a
 * read-only device: it flushes nothing, and the log may be another
 * opener's).
 */
static int dev_setup(int fd, uint64_t size, bool created, bool rdonly,
		     struct dax_dev **devp)
{
	struct dax_dev *dev;
	struct stat st;
	int err;

	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		close(fd);
		return -ENOMEM;
	}
	dev->fd = fd;
	dev->rdonly = rdonly;
	dev->fresh = created;
	err = dev_lock(fd, rdonly);
	if (err)
		goto fail;
	if (fstat(fd, &st)) {
		err = -errno;
		goto fail;
	}
	dev->devdax = S_ISCHR(st.st_mode);
	dev->regular = S_ISREG(st.st_mode);
	if (!size) {
		if (dev->devdax) {
			struct pmem2_source *src;
			size_t sz;

			err = pmem2_source_from_fd(&src, fd);
			if (err) {
				err = pmem2_errno(err);
				goto fail;
			}
			err = pmem2_source_size(src, &sz);
			pmem2_source_delete(&src);
			if (err) {
				err = pmem2_errno(err);
				goto fail;
			}
			size = sz;
		} else if (S_ISREG(st.st_mode)) {
			size = (uint64_t)st.st_size;
		} else {
			err = -ENODEV;
			goto fail;
		}
	}
	size &= ~(DAX_BLOCK_SIZE - 1);
	if (!size) {
		err = -EINVAL;
		goto fail;
	}
	dev->size = size;
	dev->nr_blocks = size >> DAX_BLOCK_SHIFT;
	err = dev_map(dev);
	if (err)
		goto fail;
#ifdef UDAX_HOOKS
	{
		const char *rec = getenv(DAX_DEV_REC_ENV);

		if (rec && *rec && !rdonly) {
			err = dax_dev_record_start(dev, rec, created);
			if (err)
				goto fail;
		}
	}
#else
	(void)created;
#endif
	*devp = dev;
	return 0;
fail:
	dev_free(dev);
	return err;
}

/*
 * dax_dev_create() - create a new pool file of @size bytes at @path
 * (sparse) and map it. Fails with -EEXIST if @path exists.
 * Return: 0 or -errno.
 */
int dax_dev_create(const char *path, uint64_t size, struct dax_dev **devp)
{
	int fd, err;

	if (!path || !devp || size < DAX_BLOCK_SIZE)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size)) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	err = dev_setup(fd, size, true, false, devp);
	if (err)
		unlink(path);
	return err;
}

static int dev_open(const char *path, bool rdonly, struct dax_dev **devp)
{
	int fd;

	if (!path || !devp)
		return -EINVAL;
	fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return dev_setup(fd, 0, false, rdonly, devp);
}

/*
 * dax_dev_open() - open and map an existing pool file or DAX device to
 * read and write it.
 * Return: 0, -EBUSY if another opener holds it (to write or only to
 * read), or what open(2) says: -EACCES, -EPERM (an immutable file),
 * -EROFS (a read-only mount)...; or -errno.
 */
int dax_dev_open(const char *path, struct dax_dev **devp)
{
	return dev_open(path, false, devp);
}

/*
 * dax_dev_open_rdonly() - open an existing pool file or DAX device
 * O_RDONLY and map it read-only, with a shared lock: other read-only
 * openers may hold it too, a read-write one may not. Nothing can write
 * it through this @dev: dax_dev_punch() is -EROFS, and a store through
 * the mapping (or a writable shared mapping of dev->fd) faults.
 * Return: 0, -EBUSY if it is open to write, or -errno (what open(2) or
 * libpmem2 say).
 */
int dax_dev_open_rdonly(const char *path, struct dax_dev **devp)
{
	return dev_open(path, true, devp);
}

/*
 * Unless its first 4 KiB (or all of it, if shorter) are zeros, refuse a
 * regular file: -EEXIST (a udax pool, or anybody's data).
 */
static int first_block_zero(int fd, uint64_t have)
{
	char buf[DAX_BLOCK_SIZE];
	size_t want = have < sizeof(buf) ? (size_t)have : sizeof(buf);
	size_t got = 0;

	while (got < want) {
		ssize_t n = pread(fd, buf + got, want - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		got += (size_t)n;
	}
	for (size_t i = 0; i < got; i++)
		if (buf[i])
			return -EEXIST;
	return 0;
}

/* Map regular file @fd for formatting: @have bytes now, @want wanted. */
static int format_regular(int fd, uint64_t have, uint64_t want,
			  struct dax_dev **devp)
{
	int keep, err;

	if (have >= want)
		return dev_setup(fd, want, false, false, devp);
	/* Grown sparse; shrunk back if mapping fails (dev_setup closes fd). */
	keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (keep < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (ftruncate(fd, (off_t)want)) {
		err = -errno;
		close(fd);
		close(keep);
		return err;
	}
	err = dev_setup(fd, want, false, false, devp);
	if (err && ftruncate(keep, (off_t)have))
		fprintf(stderr, "udax dev: could not shrink the file back to "
				"%llu bytes: %s\n",
			(unsigned long long)have, strerror(errno));
	close(keep);
	return err;
}

/*
 * dax_dev_open_format() - open the existing file or device at @path to be
 * formatted, locked as dax_dev_open() locks it: a regular file (on any
 * file system; an fsdax file is one) or a device-DAX character device.
 * @size 0: all of it; a regular file shorter than @size is grown
 * (sparse); a device must hold @size bytes, of which the pool then uses
 * the first @size. Nothing is written before every check passed: the
 * size (at least @min bytes), the lock, and, unless @force, that the
 * first 4 KiB are all zero.
 * Return: 0 and *@devp; -ENOENT; -EBUSY (a pool is open on it, here or in
 * another process; a block device that is mounted or in use); -EEXIST (it
 * holds something: a udax pool or other data); -EINVAL (smaller than
 * @min, or than @size for a device); -ENODEV (a block device, or a
 * character device that is not device-DAX, or another kind of file:
 * nothing udax can map); or what open(2) / libpmem2 report.
 */
int dax_dev_open_format(const char *path, uint64_t size, uint64_t min,
			bool force, struct dax_dev **devp)
{
	struct dax_dev *dev;
	struct stat st;
	int fd, xfd, err;

	if (!path || !*path || !devp)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		/* Exclusive open: EBUSY if mounted or claimed by anybody. */
		xfd = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
		err = xfd < 0 ? -errno : -ENODEV;
		if (xfd >= 0)
			close(xfd);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		err = -ENODEV;
		goto fail;
	}
	err = dev_lock(fd, false);
	if (err)
		goto fail;
	if (S_ISREG(st.st_mode)) {
		uint64_t have = (uint64_t)st.st_size;
		uint64_t want = (size ? size : have) & ~(DAX_BLOCK_SIZE - 1);

		if (want < min || want < DAX_BLOCK_SIZE) {
			err = -EINVAL;
			goto fail;
		}
		err = force ? 0 : first_block_zero(fd, have);
		if (err)
			goto fail;
		return format_regular(fd, have, want, devp); /* owns fd */
	}
	/* A character device: libpmem2 maps it only if it is device-DAX. */
	err = dev_setup(fd, 0, false, false, &dev); /* owns fd */
	if (err)
		return err;
	if (dev->size < min || dev->size < size) {
		dax_dev_close(&dev);
		return -EINVAL;
	}
	if (!force) {
		for (uint64_t i = 0; i < DAX_BLOCK_SIZE; i++) {
			if (dev->base[i]) {
				dax_dev_close(&dev);
				return -EEXIST;
			}
		}
	}
	if (size) {
		/* The pool is the first @size bytes (whole blocks). */
		dev->size = size & ~(DAX_BLOCK_SIZE - 1);
		dev->nr_blocks = dev->size >> DAX_BLOCK_SHIFT;
	}
	*devp = dev;
	return 0;
fail:
	close(fd);
	return err;
}

/* dax_dev_close() - unmap, unlock and close; NULLs *@devp. */
void dax_dev_close(struct dax_dev **devp)
{
	if (!devp || !*devp)
		return;
	dev_free(*devp);
	*devp = NULL;
}

/*
 * dax_dev_flush() / dax_dev_drain() / dax_dev_persist() - make stores to
 * [@addr, @addr + @len) durable: flush starts it, drain waits for every
 * flush so far, persist is both.
 */
void dax_dev_flush(struct dax_dev *dev, const void *addr, size_t len)
{
	if (!len)
		return;
	dev->flush(addr, len);
	if (dev->record)
		dev->record(dev->record_ctx, (uint64_t)((const char *)addr -
							 dev->base),
			    len);
	if (dev->log)
		log_append(dev->log, DAX_DEV_REC_FLUSH,
			   (uint64_t)((const char *)addr - dev->base), addr,
			   len);
}

void dax_dev_drain(struct dax_dev *dev)
{
	dev->drain();
	if (dev->log)
		log_append(dev->log, DAX_DEV_REC_DRAIN, 0, NULL, 0);
}

void dax_dev_persist(struct dax_dev *dev, const void *addr, size_t len)
{
	dax_dev_flush(dev, addr, len);
	dax_dev_drain(dev);
}

/*
 * dax_dev_punch() - give blocks [@block, @block + @nr) of a regular pool
 * file back to the host (they read as zeros afterwards). See the top of
 * dev.h: not durable, a failure loses nothing. The recorder hook sees the
 * range.
 * Context: the blocks are free, unmapped everywhere but the device
 * mapping, and cannot be handed out meanwhile; the caller serialises
 * punches (the counters are not atomic).
 * Return: 0; -EOPNOTSUPP (device-DAX, or the file system cannot punch:
 * never tried again); -EROFS (a read-only device); another -errno from
 * fallocate(2) (counted in dev->punch_failed).
 */
int dax_dev_punch(struct dax_dev *dev, uint64_t block, uint64_t nr)
{
	off_t off = (off_t)(block << DAX_BLOCK_SHIFT);
	off_t len = (off_t)(nr << DAX_BLOCK_SHIFT);
	int err = 0, tries = 0;

	if (dev->rdonly)
		return -EROFS;
	if (!dax_dev_can_punch(dev))
		return -EOPNOTSUPP;
	if (!nr || block > dev->nr_blocks || nr > dev->nr_blocks - block)
		return -EINVAL;
	do {
#ifdef UDAX_HOOKS
		if (dev->punch_inject) {
			err = -dev->punch_inject;
			break;
		}
#endif
		err = fallocate(dev->fd, FALLOC_FL_PUNCH_HOLE |
					     FALLOC_FL_KEEP_SIZE,
				off, len)
			      ? -errno
			      : 0;
	} while (err == -EINTR && ++tries < 3);
	if (err == -EOPNOTSUPP || err == -ENOSYS) {
		dev->punch_off = true; /* not an error: space stays used */
		return -EOPNOTSUPP;
	}
	if (err) {
		dev->punch_failed += nr;
		return err;
	}
	dev->punched += nr;
	if (dev->record)
		dev->record(dev->record_ctx, (uint64_t)off, (uint64_t)len);
	return 0;
}

static bool block_is_zero(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < DAX_BLOCK_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/*
 * dax_dev_zero() - make blocks [@block, @block + @nr) read as zeros, at
 * no host space where the device allows: on a fresh device (dev->fresh)
 * they already are; blocks of a regular file are punched out
 * (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE; the recorder hook sees the
 * range); elsewhere (device-DAX, a file system that cannot punch, a
 * failed punch, recording mode, whose log must hold the zeros) the blocks
 * that are not zero are stored to and the whole range is flushed (a block
 * that reads as zero may have its zeros still in a cache).
 * Durability: stores are flushed, not drained; a punch is durable only
 * after dax_dev_sync_zeroed(), and *@synced is set false when one needs
 * it (the caller sets it true first).
 * Context: nothing else uses the range; the caller serialises zeroing and
 * punching (punch_off, punch_inject).
 * Return: 0; -EROFS (a read-only device); -EINVAL (out of range).
 */
int dax_dev_zero(struct dax_dev *dev, uint64_t block, uint64_t nr,
		 bool *synced)
{
	off_t off = (off_t)(block << DAX_BLOCK_SHIFT);
	off_t len = (off_t)(nr << DAX_BLOCK_SHIFT);
	int tries = 0, ret;

	if (dev->rdonly)
		return -EROFS;
	if (block > dev->nr_blocks || nr > dev->nr_blocks - block)
		return -EINVAL;
	if (!nr || dev->fresh)
		return 0;
	if (dax_dev_can_punch(dev) && !dev->log) {
		do {
#ifdef UDAX_HOOKS
			if (dev->punch_inject) {
				ret = -1;
				errno = dev->punch_inject;
				break;
			}
#endif
			ret = fallocate(dev->fd, FALLOC_FL_PUNCH_HOLE |
							 FALLOC_FL_KEEP_SIZE,
					off, len);
		} while (ret && errno == EINTR && ++tries < 3);
		if (!ret) {
			*synced = false;
			if (dev->record)
				dev->record(dev->record_ctx, (uint64_t)off,
					    (uint64_t)len);
			return 0;
		}
		if (errno == EOPNOTSUPP || errno == ENOSYS)
			dev->punch_off = true;
		/* Any other failure: the stores below do it as well. */
	}
	for (uint64_t b = block; b < block + nr; b++) {
		char *p = dax_dev_block(dev, b);

		if (!block_is_zero(p))
			memset(p, 0, DAX_BLOCK_SIZE);
	}
	dax_dev_flush(dev, dax_dev_block(dev, block), (size_t)len);
	return 0;
}

/*
 * dax_dev_sync_zeroed() - make the punches of dax_dev_zero() durable
 * (fsync(2): a hole is file system metadata, which no flush of the
 * mapping writes).
 * Context: after the dax_dev_zero() calls it covers.
 * Return: 0, -EROFS (a read-only device), or -errno from fsync(2) (-EIO:
 * the zeros may not be durable).
 */
int dax_dev_sync_zeroed(struct dax_dev *dev)
{
	if (dev->rdonly)
		return -EROFS;
	return fsync(dev->fd) ? -errno : 0;
}

/*
 * dax_dev_next_data() - the first range of the pool file at or after byte
 * @from that takes space on the host (SEEK_DATA, SEEK_HOLE), rounded out
 * to whole blocks: [*@start, *@end). A file system that cannot tell says
 * the whole rest is data.
 * Context: uses the file offset of dev->fd (nothing else does).
 * Return: 0; -ENXIO (no data from @from on; always on device-DAX);
 * another -errno from lseek(2).
 */
int dax_dev_next_data(struct dax_dev *dev, uint64_t from, uint64_t *start,
		      uint64_t *end)
{
	off_t s, e;

	if (!dev->regular || from >= dev->size)
		return -ENXIO;
	s = lseek(dev->fd, (off_t)from, SEEK_DATA);
	if (s < 0)
		return errno == ENXIO ? -ENXIO : -errno;
	e = lseek(dev->fd, s, SEEK_HOLE);
	if (e < 0)
		return -errno;
	if ((uint64_t)e > dev->size)
		e = (off_t)dev->size;
	*start = (uint64_t)s & ~(DAX_BLOCK_SIZE - 1);
	*end = ((uint64_t)e + DAX_BLOCK_SIZE - 1) & ~(DAX_BLOCK_SIZE - 1);
	return *start < *end ? 0 : -ENXIO;
}

const char *dax_dev_granularity_name(const struct dax_dev *dev)
{
	switch (dev->granularity) {
	case PMEM2_GRANULARITY_BYTE:
		return "byte";
	case PMEM2_GRANULARITY_CACHE_LINE:
		return "cache line";
	default:
		return "page";
	}
}
