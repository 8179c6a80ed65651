/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs.h - the udax filesystem: a small, flat, crash-consistent filesystem
 * on a struct dax_dev whose file pages are device blocks (what the fault
 * engine maps).
 *
 * @fs is a mounted struct dax_fs, @ip an in-memory inode (struct
 * dax_inode), reference counted: lookup and create return a reference,
 * dax_fs_iput() drops it.
 *
 * Errors: every int function returns 0 or -errno. A foreign or unknown
 * image (bad magic, unsupported version, impossible geometry) gives
 * -EINVAL; a corrupt one (bad checksum, inconsistent metadata) -EUCLEAN;
 * out of blocks -ENOSPC, out of inodes -ENOSPC, name too long
 * -ENAMETOOLONG. A failed call changes nothing, in memory or on the
 * device.
 *
 * Crash consistency: every metadata change is one transaction of a redo
 * journal, committed before the call returns (see docs/design.md). Data
 * blocks are zeroed and made durable before the metadata that hands them
 * to a file, so a crash never exposes a previous owner's bytes.
 *
 * Blocks are freed only when no mapping can reach them: the engine
 * unmaps and deletes entries before calling dax_inode_free_range(), and an
 * unlinked file keeps its blocks until its last reference is dropped (an
 * orphan, cleaned up at mount after a crash).
 *
 * Locks: fs->lock (a mutex: namespace, allocator, journal; held briefly,
 * never while faulting), per inode the mmap lock (a rwlock, the engine's
 * "invalidate lock"). Order: inode mmap lock -> entry lock -> fs->lock.
 */
#ifndef UDAX_FS_FS_H
#define UDAX_FS_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "../dev/dev.h"
#include "../fault/fault.h"

#define DAX_FS_NAME_MAX 255
#define DAX_FS_MAX_FILE_PAGES ((uint64_t)1 << 28) /* 1 TiB files */

struct dax_fs;
struct dax_inode;

struct dax_fs_stats {
	uint64_t nr_blocks;	/* device blocks */
	uint64_t data_blocks;	/* blocks files can use */
	uint64_t free_blocks;
	uint64_t nr_inodes;
	uint64_t free_inodes;
	uint64_t commits;	/* journal transactions committed */
	uint64_t replayed;	/* transactions replayed at mount */
	uint64_t orphans;	/* orphans cleaned at mount */
};

/* fsck: one call per problem found, with a human-readable line. */
typedef void (*dax_fsck_report_fn)(void *ctx, const char *problem);

int dax_fs_mkfs(struct dax_dev *dev, uint64_t nr_inodes);
int dax_fs_mount(struct dax_dev *dev, struct dax_fs **fsp);
void dax_fs_unmount(struct dax_fs **fsp);
int dax_fs_fsck(struct dax_dev *dev, dax_fsck_report_fn report, void *ctx);
void dax_fs_get_stats(struct dax_fs *fs, struct dax_fs_stats *st);

int dax_fs_lookup(struct dax_fs *fs, const char *name, struct dax_inode **ip);
int dax_fs_create(struct dax_fs *fs, const char *name, mode_t mode,
		  struct dax_inode **ip);
int dax_fs_unlink(struct dax_fs *fs, const char *name);
#define DAX_FS_RENAME_NOREPLACE 0x1
int dax_fs_rename(struct dax_fs *fs, const char *from, const char *to,
		  unsigned int flags);
void dax_fs_iput(struct dax_fs *fs, struct dax_inode *ip);
int dax_fs_readdir(struct dax_fs *fs,
		   int (*fn)(void *ctx, const char *name, uint64_t size),
		   void *ctx);

uint64_t dax_inode_size(struct dax_inode *ip);
int dax_inode_set_size(struct dax_inode *ip, uint64_t size);
int dax_inode_iomap(struct dax_inode *ip, uint64_t index, uint64_t nr,
		    unsigned int flags, struct dax_iomap *map);
int dax_inode_free_range(struct dax_inode *ip, uint64_t first, uint64_t last);
int dax_inode_sync(struct dax_inode *ip);
void dax_inode_stat(struct dax_inode *ip, struct stat *st);
void dax_inode_mmap_lock(struct dax_inode *ip, bool exclusive);
void dax_inode_mmap_unlock(struct dax_inode *ip, bool exclusive);
/* Slot for the layer above (the API keeps its file mapping here). */
void **dax_inode_private(struct dax_inode *ip);
struct dax_dev *dax_fs_dev(struct dax_fs *fs);

#endif /* UDAX_FS_FS_H */
