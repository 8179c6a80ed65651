/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * inode.c - in-memory inodes: life cycle (new, evict, destroy), size,
 * stat, the per-inode mmap lock, references.
 *
 * @fs is the filesystem, @ip an inode. An inode lives in memory from
 * mount (or create) to unmount (or eviction). Eviction frees its blocks,
 * extent blocks and on-device slot; it happens when the inode is unlinked
 * with no reference left, or at the last dax_fs_iput() of an orphan (an
 * inode unlinked while referenced: flag ORPHAN on the device, no name),
 * or at mount for orphans a crash left behind.
 *
 * Locking: fs->lock guards refs, disk, nr_blocks; ip->size is atomic
 * (written under fs->lock after the transaction that sets it commits, read
 * without a lock); the mmap lock is a pthread rwlock that prefers
 * writers: faults take it shared all the time, and with readers preferred
 * a truncate could wait for ever. No thread takes it shared twice: the
 * I/O paths never touch a udax mapping while holding it (they bounce).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_priv.h"

/*
 * fs_now_ns() - wall-clock time for inode timestamps.
 * Context: any.
 * Return: nanoseconds since the epoch.
 */
int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * fs_inode_offset() - device byte offset of inode @ino.
 * Context: any.
 * Return: the offset.
 */
uint64_t fs_inode_offset(const struct dax_fs *fs, uint32_t ino)
{
	return (fs->istart << DAX_BLOCK_SHIFT) +
	       (uint64_t)ino * DAX_FS_INODE_SIZE;
}

/*
 * fs_inode_new() - a blank in-memory inode for slot @ino: no blocks, no
 * name, zero references, not yet in fs->inodes.
 * Context: fs->lock held (or loading).
 * Return: the inode, or NULL (no memory).
 */
struct dax_inode *fs_inode_new(struct dax_fs *fs, uint32_t ino)
{
	struct dax_inode *ip = calloc(1, sizeof(*ip));

	if (!ip)
		return NULL;
	pthread_rwlockattr_t attr;
	int err;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&ip->mmap_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (err) {
		free(ip);
		return NULL;
	}
	ip->fs = fs;
	ip->ino = ino;
	ip->free_rec = FS_NONE;
	for (int i = 0; i < DAX_FS_INLINE_EXT; i++)
		ip->inline_handle[i] = FS_NONE;
	return ip;
}

/*
 * fs_inode_destroy() - free @ip's memory (not its blocks).
 * Context: @ip unreachable: no reference, not in fs->inodes nor the name
 * hash (or the whole filesystem is going away).
 */
void fs_inode_destroy(struct dax_inode *ip)
{
	struct fs_eblk *eb = ip->eb_head;

	while (eb) {
		struct fs_eblk *next = eb->next;

		free(eb);
		eb = next;
	}
	fs_map_free(ip);
	free(ip->recs);
	pthread_rwlock_destroy(&ip->mmap_lock);
	free(ip);
}

/*
 * fs_inode_evict() - free everything @ip owns on the device and in memory.
 * The first transaction marks it an orphan, so if freeing takes several, a
 * crash leaves an orphan that mount finishes; the last zeroes its slot.
 * Context: fs->lock held, no transaction open; @ip has no reference and
 * no name in the hash. Cannot fail.
 */
void fs_inode_evict(struct dax_inode *ip)
{
	fs_tx_begin(ip->fs);
	fs_inode_evict_tx(ip);
}

/*
 * fs_inode_evict_tx() - fs_inode_evict() inside the open transaction,
 * which it commits: what the caller logged lands in the same (first)
 * transaction as the orphan flag (rename replacing a file: the new name
 * and the old file's removal are one commit).
 * Context: fs->lock held, a transaction open; @ip as fs_inode_evict().
 */
void fs_inode_evict_tx(struct dax_inode *ip)
{
	struct dax_fs *fs = ip->fs;

	if (!(ip->disk.flags & DAX_FS_INODE_ORPHAN)) {
		ip->disk.flags |= DAX_FS_INODE_ORPHAN;
		ip->disk.name_len = 0;
		memset(ip->disk.name, 0, sizeof(ip->disk.name));
	}
	fs_tx_dirty_inode(fs, ip);
	fs_free_pages(ip, 0, DAX_FS_MAX_FILE_PAGES - 1);
	fs_eblk_free_all(ip);
	fs_tx_make_room(fs, FS_TX_REC_COST(DAX_FS_INODE_SIZE));
	memset(&ip->disk, 0, sizeof(ip->disk)); /* a free slot */
	fs_tx_dirty_inode(fs, ip);
	fs_tx_commit(fs);
	fs->inodes[ip->ino] = NULL;
	fs->free_inodes++;
	if (ip->ino < fs->ino_hint)
		fs->ino_hint = ip->ino;
	fs_inode_destroy(ip);
}

/*
 * dax_fs_iput() - drop a reference on @ip from lookup or create. The last
 * reference on an orphan frees it.
 * Context: takes fs->lock.
 */
void dax_fs_iput(struct dax_fs *fs, struct dax_inode *ip)
{
	if (!fs || !ip)
		return;
	pthread_mutex_lock(&fs->lock);
	if (ip->refs && !--ip->refs &&
	    (ip->disk.flags & DAX_FS_INODE_ORPHAN))
		fs_inode_evict(ip);
	pthread_mutex_unlock(&fs->lock);
}

/*
 * dax_inode_size() - @ip's size in bytes.
 * Context: any; no lock.
 * Return: the size.
 */
uint64_t dax_inode_size(struct dax_inode *ip)
{
	return atomic_load_explicit(&ip->size, memory_order_acquire);
}

/*
 * dax_inode_set_size() - set @ip's size (one transaction, durable on
 * return). Blocks beyond it are not freed: dax_inode_free_range() does
 * that once the engine has unmapped them.
 * Context: the engine holds the mmap lock (exclusive to shrink); takes
 * fs->lock.
 * Return: 0, -EINVAL, or -EFBIG beyond DAX_FS_MAX_FILE_PAGES pages.
 */
int dax_inode_set_size(struct dax_inode *ip, uint64_t size)
{
	struct dax_fs *fs;

	if (!ip)
		return -EINVAL;
	if (size > DAX_FS_MAX_FILE_PAGES << DAX_BLOCK_SHIFT)
		return -EFBIG;
	fs = ip->fs;
	pthread_mutex_lock(&fs->lock);
	if (ip->disk.size != size) {
		fs_tx_begin(fs);
		ip->disk.size = size;
		ip->disk.mtime_ns = ip->disk.ctime_ns = fs_now_ns();
		fs_tx_dirty_inode(fs, ip);
		fs_tx_commit(fs);
		atomic_store_explicit(&ip->size, size, memory_order_release);
	}
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

/*
 * dax_inode_sync() - make @ip's metadata durable. Every metadata change
 * is committed before the call that made it returns (iomap never reports
 * DAX_IOMAP_F_DIRTY), so a MAP_SYNC fault needs no extra commit and this
 * has nothing to do.
 * Context: any.
 * Return: 0.
 */
int dax_inode_sync(struct dax_inode *ip)
{
	(void)ip;
	return 0;
}

/*
 * dax_inode_stat() - fill @st for @ip: st_ino is the inode slot + 1,
 * st_nlink 0 for an orphan, st_blocks counts data blocks in 512-byte
 * units.
 * Context: takes fs->lock.
 */
void dax_inode_stat(struct dax_inode *ip, struct stat *st)
{
	struct dax_fs *fs = ip->fs;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&fs->lock);
	st->st_ino = (ino_t)ip->ino + 1;
	st->st_mode = ip->disk.mode;
	st->st_nlink = (ip->disk.flags & DAX_FS_INODE_ORPHAN) ? 0 : 1;
	st->st_uid = geteuid();
	st->st_gid = getegid();
	st->st_size = (off_t)ip->disk.size;
	st->st_blksize = DAX_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)(ip->nr_blocks << (DAX_BLOCK_SHIFT - 9));
	st->st_mtim.tv_sec = ip->disk.mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = ip->disk.mtime_ns % 1000000000;
	st->st_ctim.tv_sec = ip->disk.ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = ip->disk.ctime_ns % 1000000000;
	st->st_atim = st->st_mtim;
	pthread_mutex_unlock(&fs->lock);
}

/*
 * dax_inode_mmap_lock() / dax_inode_mmap_unlock() - the engine's per-file
 * "invalidate lock": shared for faults and read/write, exclusive for
 * truncate and punch hole.
 * Context: may sleep; taken before entry locks and fs->lock.
 */
void dax_inode_mmap_lock(struct dax_inode *ip, bool exclusive)
{
	int err = exclusive ? pthread_rwlock_wrlock(&ip->mmap_lock)
			    : pthread_rwlock_rdlock(&ip->mmap_lock);

	/*
	 * EDEADLK means this thread already holds it: a udax path touched a
	 * udax mapping while holding the lock. Going on would release the
	 * other holder's lock at our unlock; stop here instead.
	 */
	if (unlikely(err)) {
		fprintf(stderr, "udax: inode mmap lock: %s (a fault inside a "
				"locked section?)\n",
			strerror(err));
		abort();
	}
}

void dax_inode_mmap_unlock(struct dax_inode *ip, bool exclusive)
{
	(void)exclusive;
	pthread_rwlock_unlock(&ip->mmap_lock);
}

/*
 * dax_inode_private() - a pointer-sized slot the layer above owns (the
 * API keeps the file's mapping there). The filesystem never reads it.
 * Context: any; the caller serialises its own use.
 * Return: the slot's address.
 */
void **dax_inode_private(struct dax_inode *ip)
{
	return &ip->private;
}

/*
 * dax_fs_dev() - the device @fs lives on.
 * Context: any.
 * Return: the device.
 */
struct dax_dev *dax_fs_dev(struct dax_fs *fs)
{
	return fs->dev;
}
