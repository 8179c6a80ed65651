/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_priv.h - the in-memory filesystem, shared by the files of src/fs.
 *
 * @fs is the mounted filesystem (or, for fsck, a private unmounted copy
 * with a journal overlay), @ip an in-memory inode, @eb the in-memory copy
 * of one extent block, @h a record handle, @rep a problem reporter.
 *
 * Every inode of the image is in memory while mounted (mount loads and
 * checks them all). Per inode:
 *
 *   disk      the image of its on-device inode (inline records included);
 *   pmap      page -> block map, three levels (l1: 512 x l2: 1024 x
 *             chunk: 512 pages), missing levels are holes. Block 0 is
 *             the superblock, so 0 means hole;
 *   recs      the extent records, indexed by handle; a chunk also keeps
 *             the handle of each mapped page's record, so the record of a
 *             page is found in O(1). A record knows its on-device slot
 *             (inline slot, or extent block and slot);
 *   eblks     the extent blocks, in chain order, each with a full image.
 *
 * Locking: fs->lock guards everything but three things read without it:
 * the block words of pmap and the pointers to its levels (written with
 * release stores under fs->lock, after the transaction that makes them
 * true has committed, or before the one that frees the blocks; read with
 * acquire loads by iomap), ip->size (atomic) and ip->mmap_lock. Levels of
 * pmap are freed only with the inode. ip->refs is under fs->lock.
 *
 * Transactions: a metadata change first reserves everything that can fail
 * (memory, blocks, journal room), then changes the in-memory state and
 * logs the new bytes into fs->tx, then commits. Inodes and extent blocks
 * changed by a transaction are put on its dirty lists and logged once, with
 * their checksum recomputed, at commit.
 */
#ifndef UDAX_FS_FS_PRIV_H
#define UDAX_FS_FS_PRIV_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "layout.h"

#define FS_NONE UINT32_MAX /* no record handle / no slot */

#define FS_CHUNK_SHIFT 9
#define FS_CHUNK_PAGES (1U << FS_CHUNK_SHIFT)
#define FS_L2_SHIFT 10
#define FS_L2_SIZE (1U << FS_L2_SHIFT)
#define FS_L1_SIZE                                                             \
	((uint32_t)(DAX_FS_MAX_FILE_PAGES >> (FS_CHUNK_SHIFT + FS_L2_SHIFT)))
#define FS_MAX_ALLOC 512 /* blocks per allocation */

_Static_assert(DAX_FS_MAX_FILE_PAGES <= UINT32_MAX, "pages fit records");
_Static_assert(FS_L1_SIZE == 512, "page map geometry");

struct fs_chunk {
	_Atomic uint64_t block[FS_CHUNK_PAGES]; /* 0: hole */
	uint32_t handle[FS_CHUNK_PAGES];	/* record of the page */
};

struct fs_l2 {
	struct fs_chunk *_Atomic chunk[FS_L2_SIZE];
};

struct fs_l1 {
	struct fs_l2 *_Atomic l2[FS_L1_SIZE];
};

struct fs_eblk;

struct fs_rec {
	uint32_t page;
	uint32_t count;	    /* 0: free handle */
	uint64_t block;
	struct fs_eblk *eb; /* NULL: inline in the inode */
	uint32_t slot;	    /* free handle: the next free one */
};

struct fs_eblk {
	uint64_t blkno;
	struct fs_eblk *prev, *next; /* chain order */
	struct fs_eblk *tx_next;     /* on fs->tx.eblks while dirty */
	uint32_t live;		     /* records in use */
	bool dirty;
	bool fresh; /* not on the device yet: logged whole */
	uint32_t handle[DAX_FS_EXT_PER_BLOCK];
	struct dax_fs_eblock img;
};

struct dax_inode {
	struct dax_fs *fs;
	uint32_t ino;
	uint32_t refs;
	_Atomic uint64_t size;
	pthread_rwlock_t mmap_lock;
	void *private;
	struct fs_l1 *_Atomic pmap;
	struct fs_rec *recs;
	uint32_t nr_recs;  /* handles allocated */
	uint32_t free_rec; /* free handle list */
	uint32_t nr_free_recs;
	uint32_t inline_handle[DAX_FS_INLINE_EXT];
	struct fs_eblk *eb_head, *eb_tail;
	uint32_t nr_eblks;
	uint64_t nr_blocks; /* data blocks mapped */
	bool dirty;	    /* on fs->tx.inodes */
	struct dax_inode *tx_next;
	struct dax_inode *hnext; /* name hash chain */
	struct dax_fs_inode disk;
};

struct fs_tx {
	char *buf;	 /* the records area being built */
	size_t len;	 /* bytes used in buf */
	size_t pending;	 /* bytes the dirty lists will log at commit */
	uint32_t nr;	 /* records */
	bool open;
	struct dax_inode *inodes; /* dirty */
	struct fs_eblk *eblks;	  /* dirty */
	struct fs_eblk *dead;	  /* freed: released after commit */
};

/* fsck's view of a committed but unreplayed journal. */
struct fs_overlay {
	uint64_t nr;
	uint64_t *blkno; /* sorted */
	char **data;	 /* a block each, with the records applied */
};

struct fs_report {
	dax_fsck_report_fn fn;
	void *ctx;
	unsigned long problems;
};

struct dax_fs {
	struct dax_dev *dev;
	pthread_mutex_t lock;
	bool lock_init;
	bool fsck; /* a check-only copy: never written */
	struct dax_fs_super sb;
	/* Geometry, from the superblock. */
	uint64_t nr_blocks, nr_inodes;
	uint64_t jstart, istart, bstart, data_start;
	/* Allocator. */
	uint64_t *bitmap; /* in-memory copy, nr_words words */
	uint64_t nr_words;
	uint64_t free_blocks;
	uint64_t small_cursor, huge_cursor;
	/* Inodes and names. */
	struct dax_inode **inodes; /* by ino, NULL: free slot */
	uint64_t free_inodes;
	uint64_t ino_hint;
	struct dax_inode **htab;
	uint64_t hmask;
	uint64_t next_gen;
	/* Journal. */
	struct fs_tx tx;
	size_t tx_cap; /* bytes a transaction may log: the records area,
			* or less (tests lower it to force the paths that
			* split big frees over several transactions) */
	uint64_t seq;
	struct fs_overlay *ov;
	/* Stats. */
	uint64_t commits, replayed, orphans;
};

/* crc.c */
uint32_t fs_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t fs_csum(const void *buf, size_t len, size_t csum_off);

/* super.c */
int fs_super_check(struct dax_dev *dev, struct dax_fs_super *sb,
		   struct fs_report *rep);
int fs_new(struct dax_dev *dev, const struct dax_fs_super *sb, bool fsck,
	   struct dax_fs **fsp);
void fs_free(struct dax_fs *fs);

/* journal.c */
enum fs_jstate { FS_JOURNAL_CLEAN, FS_JOURNAL_COMMITTED, FS_JOURNAL_TORN };
int fs_journal_check(struct dax_fs *fs, struct fs_report *rep,
		     enum fs_jstate *state);
void fs_journal_replay(struct dax_fs *fs, enum fs_jstate state);
int fs_overlay_build(struct dax_fs *fs);
void fs_overlay_free(struct dax_fs *fs);
const void *fs_meta(struct dax_fs *fs, uint64_t blkno);
void fs_tx_begin(struct dax_fs *fs);
void fs_tx_log(struct dax_fs *fs, uint64_t offset, const void *src,
	       size_t len);
size_t fs_tx_room(struct dax_fs *fs);
void fs_tx_make_room(struct dax_fs *fs, size_t need);
void fs_tx_dirty_inode(struct dax_fs *fs, struct dax_inode *ip);
void fs_tx_dirty_eblk(struct dax_fs *fs, struct fs_eblk *eb);
void fs_tx_dead_eblk(struct dax_fs *fs, struct fs_eblk *eb);
void fs_tx_commit(struct dax_fs *fs);
int fs_tx_init(struct dax_fs *fs);
void fs_tx_destroy(struct dax_fs *fs);

#define FS_TX_REC_COST(len) (sizeof(struct dax_fs_jrec) + (((len) + 7) & ~7UL))

/* alloc.c */
bool fs_bm_test(const struct dax_fs *fs, uint64_t block);
void fs_bm_mark(struct dax_fs *fs, uint64_t block, uint64_t nr, bool used);
void fs_bm_log(struct dax_fs *fs, uint64_t block, uint64_t nr);
size_t fs_bm_log_cost(uint64_t block, uint64_t nr);
bool fs_alloc_huge(struct dax_fs *fs, uint64_t *block);
uint64_t fs_alloc_search(struct dax_fs *fs, uint64_t goal, uint64_t want,
			 uint64_t *block);
void fs_blocks_take(struct dax_fs *fs, uint64_t block, uint64_t nr);
void fs_blocks_give(struct dax_fs *fs, uint64_t block, uint64_t nr);

/* extent.c */
uint64_t fs_map_block(struct dax_inode *ip, uint64_t page);
uint32_t fs_map_handle(struct dax_inode *ip, uint64_t page);
int fs_map_reserve(struct dax_inode *ip, uint64_t page, uint64_t nr);
void fs_map_free(struct dax_inode *ip);
int fs_rec_reserve(struct dax_inode *ip, uint32_t nr);
uint32_t fs_rec_get(struct dax_inode *ip);
bool fs_map_range_free(struct dax_inode *ip, uint64_t page, uint64_t nr);
int fs_rec_load(struct dax_inode *ip, struct fs_eblk *eb, uint32_t slot,
		const struct dax_fs_extent *e);
void fs_free_pages(struct dax_inode *ip, uint64_t first, uint64_t last);
void fs_eblk_free_all(struct dax_inode *ip);

/* inode.c */
struct dax_inode *fs_inode_new(struct dax_fs *fs, uint32_t ino);
void fs_inode_destroy(struct dax_inode *ip);
void fs_inode_evict(struct dax_inode *ip);
void fs_inode_evict_tx(struct dax_inode *ip);
uint64_t fs_inode_offset(const struct dax_fs *fs, uint32_t ino);
int64_t fs_now_ns(void);

/* dir.c */
uint64_t fs_name_hash(const char *name, size_t len);
struct dax_inode *fs_name_find(struct dax_fs *fs, const char *name,
			       size_t len);
void fs_name_insert(struct dax_fs *fs, struct dax_inode *ip);
void fs_name_remove(struct dax_fs *fs, struct dax_inode *ip);
int fs_names_init(struct dax_fs *fs);

/* check.c */
void fs_report(struct fs_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int fs_load(struct dax_fs *fs, struct fs_report *rep);

#endif /* UDAX_FS_FS_PRIV_H */
