/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.c - pools and files: create, open, close, unlink, rename, list; and the
 * per-file state (struct dax_fstate) that binds an inode to the fault
 * engine and the VM.
 *
 * @pool is a pool, @fst a file state, @file a handle. See api.h for the
 * reference rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"

#define POOL_MIN_SIZE (4ULL << 20)

/* ---- the engine's view of a udax file ---- */

static int fs_iomap_begin(void *file, uint64_t index, uint64_t nr,
			  unsigned int flags, struct dax_iomap *map)
{
	struct dax_fstate *fst = file;

	return dax_inode_iomap(fst->ip, index, nr, flags, map);
}

static void fs_iomap_end(void *file, struct dax_iomap *map)
{
	(void)file;
	(void)map;
}

static uint64_t fs_size(void *file)
{
	return dax_inode_size(((struct dax_fstate *)file)->ip);
}

static int fs_set_size(void *file, uint64_t size)
{
	return dax_inode_set_size(((struct dax_fstate *)file)->ip, size);
}

static int fs_free_range(void *file, uint64_t first, uint64_t last)
{
	return dax_inode_free_range(((struct dax_fstate *)file)->ip, first,
				    last);
}

static int fs_sync(void *file)
{
	return dax_inode_sync(((struct dax_fstate *)file)->ip);
}

static void fs_mmap_lock(void *file, bool exclusive)
{
	dax_inode_mmap_lock(((struct dax_fstate *)file)->ip, exclusive);
}

static void fs_mmap_unlock(void *file, bool exclusive)
{
	dax_inode_mmap_unlock(((struct dax_fstate *)file)->ip, exclusive);
}

static const struct dax_iomap_ops udax_iomap_ops = {
	.iomap_begin = fs_iomap_begin,
	.iomap_end = fs_iomap_end,
	.size = fs_size,
	.set_size = fs_set_size,
	.free_range = fs_free_range,
	.sync = fs_sync,
	.mmap_lock = fs_mmap_lock,
	.mmap_unlock = fs_mmap_unlock,
};

static void *dev_addr(void *dev, uint64_t block)
{
	return dax_dev_block(dev, block);
}

static void dev_flush(void *dev, uint64_t block, uint64_t nr)
{
	dax_dev_persist(dev, dax_dev_block(dev, block), nr << DAX_BLOCK_SHIFT);
}

static const struct dax_dev_ops udax_dev_ops = {
	.addr = dev_addr,
	.flush = dev_flush,
};

/* ---- file states ---- */

/*
 * dax_fstate_get() - the state of @ip, created on first use; takes a
 * reference on it. Consumes the caller's inode reference.
 * Return: 0 or -ENOMEM (the inode reference is dropped then).
 */
int dax_fstate_get(struct udax_pool *pool, struct dax_inode *ip,
		   struct dax_fstate **fstp)
{
	struct dax_fstate *fst;
	void **priv;
	int err;

	pthread_mutex_lock(&pool->lock);
	priv = dax_inode_private(ip);
	fst = *priv;
	if (fst) {
		/* Already open: its state holds an inode reference. */
		fst->refs++;
		pool->users++;
		pthread_mutex_unlock(&pool->lock);
		dax_fs_iput(pool->fs, ip);
		*fstp = fst;
		return 0;
	}
	fst = calloc(1, sizeof(*fst));
	if (!fst) {
		err = -ENOMEM;
		goto fail;
	}
	fst->pool = pool;
	fst->ip = ip;
	err = dax_fmap_init(&fst->fmap, &udax_iomap_ops, fst, &dax_vm_ops,
			    &fst->vf, &udax_dev_ops, pool->dev);
	if (err) {
		free(fst);
		goto fail;
	}
	dax_vm_file_init(&fst->vf, &fst->fmap, pool->dev->fd, 0);
	fst->refs = 1;
	fst->next = pool->files;
	pool->files = fst;
	pool->users++;
	*priv = fst;
	pthread_mutex_unlock(&pool->lock);
	*fstp = fst;
	return 0;
fail:
	pthread_mutex_unlock(&pool->lock);
	dax_fs_iput(pool->fs, ip);
	return err;
}

/* dax_fstate_ref() - one more reference (a new mapping). */
void dax_fstate_ref(struct dax_fstate *fst)
{
	pthread_mutex_lock(&fst->pool->lock);
	fst->refs++;
	fst->pool->users++;
	pthread_mutex_unlock(&fst->pool->lock);
}

/*
 * dax_fstate_put() - drop a reference; the last one tears the state down
 * and releases the inode (freeing an unlinked file's blocks).
 * Context: no entry lock held; no fault or I/O on the file in progress
 * by this reference.
 */
void dax_fstate_put(struct dax_fstate *fst)
{
	struct udax_pool *pool = fst->pool;
	struct dax_fstate **pp;

	pthread_mutex_lock(&pool->lock);
	if (--fst->refs) {
		pool->users--;
		pthread_mutex_unlock(&pool->lock);
		return;
	}
	for (pp = &pool->files; *pp; pp = &(*pp)->next)
		if (*pp == fst) {
			*pp = fst->next;
			break;
		}
	*dax_inode_private(fst->ip) = NULL;
	pthread_mutex_unlock(&pool->lock);
	/*
	 * Write back what mappings left dirty before the entry index (and
	 * its DIRTY tags) goes: the next open starts with an empty index,
	 * so its udax_fsync() would never flush stores made through a
	 * mapping of an earlier open (found by tests/crash_sim: mmap,
	 * store, munmap, close, reopen, fsync, power cut: the stores were
	 * lost). The kernel writes a DAX inode's dirty entries back before
	 * it evicts the inode. No region is left, so nothing is mapped.
	 */
	/*
	 * A fault that found one of the file's regions before it was
	 * unmapped may still run in the engine on this state (inside its
	 * RCU read-side critical section, holding no reference): wait for
	 * it to finish before anything goes. Such a fault maps nothing any
	 * more (its region is gone); whatever it allocated stays the file's
	 * and whatever it tagged is written back below. Then free at once,
	 * so an unlinked file's blocks are free when udax_close returns.
	 */
	dax_rcu_synchronize();
	dax_writeback(&fst->fmap, 0, UINT64_MAX);
	dax_fmap_destroy(&fst->fmap);
	pthread_mutex_destroy(&fst->vf.lock);
	dax_fs_iput(pool->fs, fst->ip);
	free(fst);
	/* Only now may udax_pool_close() take the filesystem away. */
	pthread_mutex_lock(&pool->lock);
	pool->users--;
	pthread_mutex_unlock(&pool->lock);
}

/* ---- pools ---- */

static int pool_alloc(struct dax_dev *dev, int flags,
		      struct udax_pool **poolp)
{
	dax_vm_fork_guard_init();
	struct udax_pool *pool = calloc(1, sizeof(*pool));
	int err;

	if (!pool)
		return -ENOMEM;
	pool->dev = dev;
	pool->rdonly = flags & UDAX_POOL_RDONLY;
	err = pool->rdonly ? dax_fs_mount_rdonly(dev, &pool->fs)
			   : dax_fs_mount(dev, &pool->fs);
	if (err) {
		free(pool);
		return err;
	}
	pthread_mutex_init(&pool->lock, NULL);
	atomic_fetch_add(&dax_vm_live, 1);
	*poolp = pool;
	return 0;
}

int udax_pool_create(const char *path, uint64_t size, struct udax_pool **poolp)
{
	DAX_API_ENTER();
	struct dax_dev *dev;
	int err;

	if (!path || !*path || !poolp || size < POOL_MIN_SIZE)
		return -EINVAL;
	err = dax_dev_create(path, size, &dev);
	if (err)
		return err;
	err = dax_fs_mkfs(dev, 0);
	if (!err)
		err = pool_alloc(dev, 0, poolp);
	if (err) {
		dax_dev_close(&dev);
		unlink(path);
	}
	return err;
}

int udax_pool_format(const char *path, uint64_t size, int flags,
		     struct udax_pool **poolp)
{
	DAX_API_ENTER();
	struct udax_pool *pool;
	struct dax_dev *dev;
	int err;

	if (!path || !*path || (flags & ~UDAX_FORMAT_FORCE) ||
	    (size && size < POOL_MIN_SIZE))
		return -EINVAL;
	err = dax_dev_open_format(path, size, POOL_MIN_SIZE,
				  flags & UDAX_FORMAT_FORCE, &dev);
	if (err)
		return err;
	err = dax_fs_mkfs(dev, 0);
	/*
	 * Mounted even when the caller does not want the pool: mount gives
	 * the old contents' host space back (free blocks that hold data).
	 */
	if (!err)
		err = pool_alloc(dev, 0, &pool);
	if (err) {
		dax_dev_close(&dev);
		return err;
	}
	if (poolp)
		*poolp = pool;
	else
		udax_pool_close(pool);
	return 0;
}

int udax_pool_open(const char *path, int flags, struct udax_pool **poolp)
{
	DAX_API_ENTER();
	struct dax_dev *dev;
	int err;

	if (!path || !*path || !poolp || (flags & ~UDAX_POOL_RDONLY))
		return -EINVAL;
	/* Read-only on the host too: O_RDONLY, mapped PROT_READ, shared lock. */
	err = (flags & UDAX_POOL_RDONLY) ? dax_dev_open_rdonly(path, &dev)
					 : dax_dev_open(path, &dev);
	if (err)
		return err;
	err = pool_alloc(dev, flags, poolp);
	if (err)
		dax_dev_close(&dev);
	return err;
}

int udax_pool_close(struct udax_pool *pool)
{
	DAX_API_ENTER();
	if (!pool)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	if (pool->users) {
		pthread_mutex_unlock(&pool->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&pool->lock);
	dax_fs_unmount(&pool->fs);
	dax_dev_close(&pool->dev);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	atomic_fetch_sub(&dax_vm_live, 1);
	return 0;
}

static void report_nothing(void *ctx, const char *problem)
{
	(void)ctx;
	(void)problem;
}

/*
 * Open the device at @path (read-only for @rdonly) and run @action
 * (fsck or repair) on it with the caller's @report (NULL: nothing
 * reported). A device the library refuses as too small or unmappable
 * (-EINVAL) is reported as "@refused: ...": every rejected image gets a
 * reason (the pool fuzzer's empty input got none).
 */
static int pool_offline(const char *path, bool rdonly,
			int (*action)(struct dax_dev *dev,
				      dax_fsck_report_fn report, void *ctx),
			const char *refused, dax_fsck_report_fn report,
			void *ctx)
{
	struct dax_dev *dev;
	char line[160];
	int err;

	if (!path || !*path)
		return -EINVAL;
	if (!report)
		report = report_nothing;
	err = rdonly ? dax_dev_open_rdonly(path, &dev)
		     : dax_dev_open(path, &dev);
	if (err == -EINVAL) {
		snprintf(line, sizeof(line),
			 "%s: not even one 4 KiB block, or it cannot be "
			 "mapped: not a udax pool",
			 refused);
		report(ctx, line);
	}
	if (err)
		return err;
	err = action(dev, report, ctx);
	dax_dev_close(&dev);
	return err;
}

/* fsck only reads: the pool opens read-only, beside read-only openers. */
int udax_pool_fsck(const char *path,
		   void (*report)(void *ctx, const char *problem), void *ctx)
{
	DAX_API_ENTER();
	return pool_offline(path, true, dax_fs_fsck, "device", report, ctx);
}

int udax_pool_repair(const char *path,
		     void (*report)(void *ctx, const char *action), void *ctx)
{
	DAX_API_ENTER();
	return pool_offline(path, false, dax_fs_repair, "cannot repair",
			    report, ctx);
}

/* ---- files ---- */

static int check_name(const char *name)
{
	size_t len;

	if (!name || !*name || strchr(name, '/'))
		return -EINVAL;
	len = strnlen(name, DAX_FS_NAME_MAX + 1);
	return len > DAX_FS_NAME_MAX ? -ENAMETOOLONG : 0;
}

int udax_open(struct udax_pool *pool, const char *name, int oflags,
	      mode_t mode, struct udax_file **filep)
{
	DAX_API_ENTER();
	int acc = oflags & O_ACCMODE, err;
	struct dax_inode *ip = NULL;
	struct dax_fstate *fst;
	struct udax_file *file;
	const int known = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC;

	if (!pool || !filep || (oflags & ~known) || acc == O_ACCMODE)
		return -EINVAL;
	err = check_name(name);
	if (err)
		return err;
	if ((oflags & O_TRUNC) && acc == O_RDONLY)
		return -EINVAL;
	if (pool->rdonly && (acc != O_RDONLY || (oflags & (O_CREAT | O_TRUNC))))
		return -EROFS;
	err = dax_fs_lookup(pool->fs, name, &ip);
	if (err == -ENOENT && (oflags & O_CREAT))
		err = dax_fs_create(pool->fs, name, mode & 07777, &ip);
	else if (!err && (oflags & O_CREAT) && (oflags & O_EXCL)) {
		dax_fs_iput(pool->fs, ip);
		return -EEXIST;
	}
	if (err)
		return err;
	file = calloc(1, sizeof(*file));
	if (!file) {
		dax_fs_iput(pool->fs, ip);
		return -ENOMEM;
	}
	err = dax_fstate_get(pool, ip, &fst);
	if (err) {
		free(file);
		return err;
	}
	file->fst = fst;
	file->oflags = oflags;
	if (oflags & O_TRUNC) {
		err = dax_truncate(&fst->fmap, 0);
		if (err) {
			dax_fstate_put(fst);
			free(file);
			return err;
		}
	}
	*filep = file;
	return 0;
}

int udax_close(struct udax_file *file)
{
	DAX_API_ENTER();
	if (!file)
		return -EINVAL;
	dax_fstate_put(file->fst);
	free(file);
	return 0;
}

int udax_unlink(struct udax_pool *pool, const char *name)
{
	DAX_API_ENTER();
	int err;

	if (!pool)
		return -EINVAL;
	err = check_name(name);
	if (err)
		return err;
	if (pool->rdonly)
		return -EROFS;
	return dax_fs_unlink(pool->fs, name);
}

int udax_rename(struct udax_pool *pool, const char *from, const char *to,
		int flags)
{
	DAX_API_ENTER();
	int err;

	if (!pool || (flags & ~UDAX_RENAME_NOREPLACE))
		return -EINVAL;
	err = check_name(from);
	if (!err)
		err = check_name(to);
	if (err)
		return err;
	if (pool->rdonly)
		return -EROFS;
	return dax_fs_rename(pool->fs, from, to,
			     (flags & UDAX_RENAME_NOREPLACE) ?
				     DAX_FS_RENAME_NOREPLACE :
				     0);
}

int udax_list(struct udax_pool *pool,
	      int (*fn)(void *ctx, const char *name, uint64_t size), void *ctx)
{
	DAX_API_ENTER();
	if (!pool || !fn)
		return -EINVAL;
	return dax_fs_readdir(pool->fs, fn, ctx);
}
