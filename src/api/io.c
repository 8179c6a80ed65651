/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io.c - pread, pwrite, ftruncate, fallocate, fsync, fstat.
 *
 * @file is the handle, @fst its file state.
 *
 * The engine copies with the file's mmap lock held, so a user buffer that
 * is itself a udax mapping (even of the same range) must not fault during
 * the copy: the fault would need that lock or an entry lock this thread
 * may need again. Such buffers go through a bounce buffer, copied to or
 * from the user buffer with no lock held (faults there are ordinary).
 * Other buffers are used directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define BOUNCE_SIZE ((size_t)256 << 10)

static bool can_read(const struct udax_file *file)
{
	return (file->oflags & O_ACCMODE) != O_WRONLY;
}

static bool can_write(const struct udax_file *file)
{
	return (file->oflags & O_ACCMODE) != O_RDONLY;
}

/* A handle of a read-only pool: every change is -EROFS (before -EBADF). */
static bool pool_rdonly(const struct udax_file *file)
{
	return file->fst->pool->rdonly;
}

/*
 * Read into (@write false) or write from @buf, @len bytes at @offset of
 * @f, through a bounce buffer: @buf may be a udax mapping, so it is
 * touched only with no lock held, a piece at a time.
 * Return: bytes done (short at EOF or on an error after some), or -errno
 * if none.
 */
static ssize_t bounce_rw(struct dax_fmap *f, char *buf, size_t len,
			 uint64_t offset, bool write)
{
	char *bounce = malloc(len < BOUNCE_SIZE ? len : BOUNCE_SIZE);
	size_t done = 0;
	ssize_t ret = 0;

	if (!bounce)
		return -ENOMEM;
	while (done < len) {
		size_t n = len - done < BOUNCE_SIZE ? len - done : BOUNCE_SIZE;

		/* No lock held: faults on a udax buffer are fine here. */
		if (write) {
			DAX_API_OUTSIDE(memcpy(bounce, buf + done, n));
			ret = dax_write(f, bounce, n, offset + done);
		} else {
			ret = dax_read(f, bounce, n, offset + done);
			if (ret > 0)
				DAX_API_OUTSIDE(memcpy(buf + done, bounce,
						       (size_t)ret));
		}
		if (ret <= 0)
			break;
		done += (size_t)ret;
		if ((size_t)ret < n)
			break;
	}
	free(bounce);
	return done || ret >= 0 ? (ssize_t)done : ret;
}

ssize_t udax_pread(struct udax_file *file, void *buf, size_t len,
		   uint64_t offset)
{
	DAX_API_ENTER();
	struct dax_fmap *f;

	if (!file || (!buf && len))
		return -EINVAL;
	if (!can_read(file))
		return -EBADF;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	f = &file->fst->fmap;
	if (!dax_vm_overlaps(buf, len))
		return dax_read(f, buf, len, offset);
	return bounce_rw(f, buf, len, offset, false);
}

ssize_t udax_pwrite(struct udax_file *file, const void *buf, size_t len,
		    uint64_t offset)
{
	DAX_API_ENTER();
	struct dax_fmap *f;

	if (!file || (!buf && len))
		return -EINVAL;
	if (pool_rdonly(file))
		return -EROFS;
	if (!can_write(file))
		return -EBADF;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (offset + len < offset)
		return -EFBIG;
	f = &file->fst->fmap;
	if (!dax_vm_overlaps(buf, len))
		return dax_write(f, buf, len, offset);
	/* bounce_rw() only reads @buf for a write. */
	return bounce_rw(f, (char *)buf, len, offset, true);
}

int udax_ftruncate(struct udax_file *file, uint64_t size)
{
	DAX_API_ENTER();
	if (!file)
		return -EINVAL;
	if (pool_rdonly(file))
		return -EROFS;
	if (!can_write(file))
		return -EBADF;
	if (size > DAX_FS_MAX_FILE_PAGES << DAX_PAGE_SHIFT)
		return -EFBIG;
	return dax_truncate(&file->fst->fmap, size);
}

int udax_fallocate(struct udax_file *file, int mode, uint64_t offset,
		   uint64_t len)
{
	DAX_API_ENTER();
	struct dax_fmap *f;

	if (!file || !len || offset + len < offset)
		return -EINVAL;
	if (pool_rdonly(file))
		return -EROFS;
	if (!can_write(file))
		return -EBADF;
	if (mode & ~(UDAX_FALLOC_KEEP_SIZE | UDAX_FALLOC_PUNCH_HOLE))
		return -EOPNOTSUPP;
	f = &file->fst->fmap;
	if (mode & UDAX_FALLOC_PUNCH_HOLE) {
		if (!(mode & UDAX_FALLOC_KEEP_SIZE))
			return -EINVAL; /* as fallocate(2) */
		return dax_punch_hole(f, offset, len);
	}
	if (offset + len > DAX_FS_MAX_FILE_PAGES << DAX_PAGE_SHIFT)
		return -EFBIG;
	return dax_allocate(f, offset, len, mode & UDAX_FALLOC_KEEP_SIZE);
}

int udax_fsync(struct udax_file *file)
{
	DAX_API_ENTER();
	int err;

	if (!file)
		return -EINVAL;
	err = dax_writeback(&file->fst->fmap, 0, UINT64_MAX);
	if (!err)
		err = dax_inode_sync(file->fst->ip);
	return err;
}

int udax_fstat(struct udax_file *file, struct stat *st)
{
	DAX_API_ENTER();
	if (!file || !st)
		return -EINVAL;
	dax_inode_stat(file->fst->ip, st);
	return 0;
}
