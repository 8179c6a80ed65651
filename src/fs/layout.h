/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layout.h - the on-device format of the udax filesystem.
 *
 * Every number is little-endian; blocks are DAX_BLOCK_SIZE (4 KiB). The
 * filesystem's nr_blocks blocks are cut into five areas, in this order,
 * none overlapping:
 *
 *   block 0                    superblock (struct dax_fs_super), written
 *                              once by mkfs and never again (repair may
 *                              rewrite it from the backup);
 *   [jstart, jstart + 64)      redo journal: block jstart holds the
 *                              commit word, the next 63 the records of
 *                              at most one transaction;
 *   [istart, + nr_inodes / 8)  inode table, 8 inodes of 512 bytes a block;
 *   [bstart, + nr_blocks / 32768)
 *                              block bitmap, one bit a device block (bit
 *                              b is bit b % 8 of byte b / 8), set = in
 *                              use; the metadata blocks are in use, bits
 *                              past nr_blocks are zero;
 *   [data_start, nr_blocks)    data area: file blocks and extent blocks.
 *
 * mkfs lays the areas out back to back from block 1 (the superblock
 * stores every start and size; mount recomputes and compares them), so
 * an image is fully described by (nr_blocks, nr_inodes).
 *
 * Backup superblock (version 2). mkfs gives the filesystem every device
 * block but the last (nr_blocks = device blocks - 1) and writes a copy of
 * the superblock, byte for byte, in block nr_blocks: the last block of
 * the device, found without reading the primary. fsck and mount check
 * that it equals the primary; a read-only mount, fsck and repair use it
 * when the primary's magic or checksum fails (but not when it is all
 * zeros: mkfs zeroes it first and writes it last, after the backup, so
 * that is an unfinished mkfs, not a pool), and repair rewrites whichever
 * copy is bad. Version 1 images (udax before the backup) span
 * the whole device and have no backup; they are read and written as
 * before.
 *
 * Inodes. A free inode slot is 512 zero bytes. A used one has flags USED
 * (and ORPHAN once unlinked while still open: then its name is empty);
 * its name is inline (1..255 bytes, no NUL, zero-padded), unique in the
 * flat namespace. Its checksum covers all 512 bytes (the csum field taken
 * as zero).
 *
 * Extents. A file's blocks are described by extent records (page, count,
 * block): pages [page, page + count) live in blocks [block, block +
 * count). count == 0 marks a free record slot (all zero). The first
 * DAX_FS_INLINE_EXT records are in the inode, the rest in extent blocks
 * chained from inode->ext_head through eblock->next (0 ends the chain),
 * each tagged with its owner (ino, generation) and checksummed. Records
 * of one file never overlap in pages; no block belongs to two records or
 * to a record and an extent block. Records are not ordered. Extents may
 * lie beyond the file size (a truncate frees them in a second
 * transaction) but never beyond DAX_FS_MAX_FILE_PAGES.
 *
 * Journal. The commit word (first 8 bytes of the journal's first block;
 * the rest of that block is zero) is either 0 (no transaction) or
 * DAX_FS_JCOMMIT_MAGIC << 32 | crc32c(records), where the records are
 * bytes [0, jhead.bytes) of the records area: a struct dax_fs_jhead, then
 * jhead.nr records, each a struct dax_fs_jrec and len bytes padded to 8.
 * A commit writes and persists the records, then the commit word (one
 * 8-byte store, so it is never torn), applies the records in place,
 * persists them and clears the commit word. Records may only target the
 * inode table, the bitmap and the data area.
 */
#ifndef UDAX_FS_LAYOUT_H
#define UDAX_FS_LAYOUT_H

#include <stdint.h>

#include "../dev/dev.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the on-device format is read in place: little-endian only");
_Static_assert(DAX_BLOCK_SIZE == 4096, "the format assumes 4 KiB blocks");

#define DAX_FS_MAGIC 0x3130534658414455ULL /* "UDAXFS01" */
#define DAX_FS_VERSION 2 /* mkfs writes this one */
#define DAX_FS_VERSION_NOBACKUP 1 /* still read: no backup superblock */

#define DAX_FS_JOURNAL_BLOCKS 64 /* 256 KiB: commit block + records */
#define DAX_FS_JREC_AREA ((DAX_FS_JOURNAL_BLOCKS - 1) * DAX_BLOCK_SIZE)
#define DAX_FS_JCOMMIT_MAGIC 0x4c4e524aU /* "JRNL" */
#define DAX_FS_JHEAD_MAGIC 0x4345524aU	/* "JREC" */

#define DAX_FS_INODE_SIZE 512
#define DAX_FS_INODES_PER_BLOCK (DAX_BLOCK_SIZE / DAX_FS_INODE_SIZE)
#define DAX_FS_MAX_INODES (1U << 22)
#define DAX_FS_INLINE_EXT 8

#define DAX_FS_EBLOCK_MAGIC 0x4b4c4245U /* "EBLK" */
#define DAX_FS_EXT_PER_BLOCK 252

#define DAX_FS_BITS_PER_BLOCK (DAX_BLOCK_SIZE * 8)
#define DAX_FS_MIN_DATA_BLOCKS 16

/* Inode flags. */
#define DAX_FS_INODE_USED 0x1
#define DAX_FS_INODE_ORPHAN 0x2 /* unlinked, blocks freed at last close */
#define DAX_FS_INODE_FLAGS (DAX_FS_INODE_USED | DAX_FS_INODE_ORPHAN)

struct dax_fs_super {
	uint64_t magic;
	uint32_t version;
	uint32_t block_size;
	uint64_t nr_blocks;
	uint64_t nr_inodes;
	uint64_t journal_start;
	uint64_t journal_blocks;
	uint64_t itable_start;
	uint64_t itable_blocks;
	uint64_t bitmap_start;
	uint64_t bitmap_blocks;
	uint64_t data_start;
	uint64_t mkfs_time; /* ns since the epoch */
	uint8_t reserved[4096 - 96 - 4];
	uint32_t csum; /* crc32c of the block, this field as zero */
};

struct dax_fs_extent {
	uint32_t page;
	uint32_t count; /* 0: free slot */
	uint64_t block;
};

struct dax_fs_inode {
	uint32_t flags;
	uint32_t mode;
	uint64_t size;
	uint64_t generation; /* tags the inode's extent blocks */
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ext_head; /* first extent block, 0: none */
	uint32_t nr_eblocks; /* length of the chain */
	uint16_t name_len;
	uint16_t reserved0;
	uint8_t reserved1[8];
	struct dax_fs_extent ext[DAX_FS_INLINE_EXT];
	char name[256];
	uint8_t reserved2[60];
	uint32_t csum; /* crc32c of the 512 bytes, this field as zero */
};

struct dax_fs_eblock {
	uint32_t magic;
	uint32_t csum; /* crc32c of the block, this field as zero */
	uint32_t ino;
	uint32_t reserved0;
	uint64_t generation;
	uint64_t next; /* next extent block of the chain, 0: last */
	uint8_t reserved1[32];
	struct dax_fs_extent rec[DAX_FS_EXT_PER_BLOCK];
};

struct dax_fs_jhead {
	uint32_t magic;
	uint32_t nr;	/* records */
	uint64_t seq;
	uint64_t bytes; /* header plus records */
	uint64_t reserved;
};

struct dax_fs_jrec {
	uint64_t offset; /* device byte offset of the write */
	uint32_t len;	 /* bytes that follow, padded to 8 */
	uint32_t reserved;
};

_Static_assert(sizeof(struct dax_fs_super) == DAX_BLOCK_SIZE, "super");
_Static_assert(sizeof(struct dax_fs_extent) == 16, "extent");
_Static_assert(sizeof(struct dax_fs_inode) == DAX_FS_INODE_SIZE, "inode");
_Static_assert(__builtin_offsetof(struct dax_fs_inode, ext) == 64, "inode");
_Static_assert(__builtin_offsetof(struct dax_fs_inode, csum) == 508, "inode");
_Static_assert(sizeof(struct dax_fs_eblock) == DAX_BLOCK_SIZE, "eblock");
_Static_assert(__builtin_offsetof(struct dax_fs_eblock, rec) == 64, "eblock");
_Static_assert(sizeof(struct dax_fs_jhead) == 32, "journal header");
_Static_assert(sizeof(struct dax_fs_jrec) == 16, "journal record");
_Static_assert(DAX_BLOCK_SIZE % DAX_FS_INODE_SIZE == 0, "inodes per block");

#endif /* UDAX_FS_LAYOUT_H */
