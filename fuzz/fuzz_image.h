/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_image.h - the input format of the pool fuzzer, shared by the
 * harness (pool_fuzz.c) and the seed generator (make_corpus.c).
 *
 * An input is one of two things, told apart by its length:
 *
 *   raw     (length a multiple of 4 KiB): the pool image, byte for byte.
 *           An input shorter than its superblock says is a truncated
 *           image. Checksums are left as they are; the operations run on
 *           a pool that opens come from a hash of the input.
 *
 *   packed  (any other length): k whole blocks, then a tail of
 *           length % 4096 bytes. The blocks are the image without the
 *           bulk of the journal and without its trailing zeros:
 *
 *              packed block 0     image block 0 (superblock)
 *              packed blocks 1-2  image blocks 1-2 (journal commit block,
 *                                 first block of the journal records)
 *              packed block i>=3  image block i + 62 (inode table
 *                                 onwards)
 *
 *           image blocks 3..64 (journal records past the first 4 KiB) and
 *           everything past the last given block are zero; the file is as
 *           long as the superblock's nr_blocks says (at most
 *           FZ_IMAGE_MAX; at least the blocks given), one block more
 *           for a version 2 superblock, whose last block is then a copy
 *           of block 0 (the backup superblock) unless the blocks given
 *           reach it (see fz_packed_backup()). The tail: byte 0
 *           holds flags (FZ_FLAG_FIXCSUM: recompute every checksum the
 *           format has - superblock, inodes, extent blocks, journal commit
 *           word - before writing, so mutations reach past them), the
 *           rest is the script of operations run on a pool that opens.
 *
 * Packed inputs keep what the fuzzer mutates small and dense (a 4 MiB
 * pool with a few files is some 30 KiB); raw ones cover truncated images,
 * checksum failures and journals of any size.
 */
#ifndef UDAX_FUZZ_IMAGE_H
#define UDAX_FUZZ_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fs/layout.h"

#define FZ_BLOCK 4096u
#define FZ_IMAGE_MAX (16u << 20) /* largest pool file the harness makes */
#define FZ_PACK_HEAD 3		/* packed blocks mapped to image 0..2 */
#define FZ_PACK_GAP (DAX_FS_JOURNAL_BLOCKS + 1 - FZ_PACK_HEAD) /* 62 */
#define FZ_FLAG_FIXCSUM 0x01

/* src/fs/crc.c (internal to the library, linked statically here). */
uint32_t fs_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t fs_csum(const void *buf, size_t len, size_t csum_off);

/* Image block of packed block @i. */
static inline uint64_t fz_image_block(uint64_t i)
{
	return i < FZ_PACK_HEAD ? i : i + FZ_PACK_GAP;
}

/*
 * Does a packed image whose first block is @blk0 (NULL if none) carry a
 * backup superblock (a version 2 superblock)? Then the file is one block
 * longer than nr_blocks, and its last block, unless the given blocks
 * reach it, is a copy of block 0 (after checksum fixing).
 */
static inline bool fz_packed_backup(const uint8_t *blk0)
{
	uint32_t version = 0;

	if (blk0)
		memcpy(&version,
		       blk0 + offsetof(struct dax_fs_super, version),
		       sizeof(version));
	return version == DAX_FS_VERSION;
}

/*
 * The file size of a packed image of @nblocks blocks whose first block
 * is @blk0 (NULL if none): the superblock's nr_blocks (plus the backup's
 * block), capped, and at least what the given blocks need.
 */
static inline uint64_t fz_packed_file_size(const uint8_t *blk0,
					   uint64_t nblocks)
{
	uint64_t need = nblocks ? (fz_image_block(nblocks - 1) + 1) : 1;
	uint64_t nr = 0;

	if (blk0)
		memcpy(&nr, blk0 + offsetof(struct dax_fs_super, nr_blocks),
		       sizeof(nr));
	if (nr < FZ_IMAGE_MAX / FZ_BLOCK)
		nr += fz_packed_backup(blk0);
	if (nr > FZ_IMAGE_MAX / FZ_BLOCK)
		nr = FZ_IMAGE_MAX / FZ_BLOCK;
	if (nr < need)
		nr = need;
	return nr * FZ_BLOCK;
}

static inline uint32_t fz_load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t fz_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline bool fz_all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * fz_fix_csums() - recompute, in the @nblocks packed blocks at @p, the
 * superblock's checksum, every used inode's, every extent block's (any
 * data-area block with the extent block magic) and a committed journal
 * word's. Geometry is taken from the (possibly nonsensical) superblock
 * and bounded by what is there.
 */
static inline void fz_fix_csums(uint8_t *p, uint64_t nblocks)
{
	struct dax_fs_super sb;
	uint64_t itab_end = 0;

	if (!nblocks)
		return;
	memcpy(&sb, p, sizeof(sb));
	if (sb.magic == DAX_FS_MAGIC) {
		sb.csum = fs_csum(&sb, sizeof(sb),
				  offsetof(struct dax_fs_super, csum));
		memcpy(p, &sb, sizeof(sb));
		if (sb.itable_start == DAX_FS_JOURNAL_BLOCKS + 1 &&
		    sb.itable_blocks <= FZ_IMAGE_MAX / FZ_BLOCK)
			itab_end = sb.itable_start + sb.itable_blocks;
	}
	for (uint64_t i = FZ_PACK_HEAD; i < nblocks; i++) {
		uint64_t b = fz_image_block(i);
		uint8_t *blk = p + i * FZ_BLOCK;

		if (b < itab_end) {
			for (unsigned s = 0; s < DAX_FS_INODES_PER_BLOCK; s++) {
				uint8_t *ino = blk + s * DAX_FS_INODE_SIZE;
				uint32_t c;

				if (fz_all_zero(ino, DAX_FS_INODE_SIZE))
					continue;
				c = fs_csum(ino, DAX_FS_INODE_SIZE,
					    offsetof(struct dax_fs_inode,
						     csum));
				memcpy(ino + offsetof(struct dax_fs_inode, csum),
				       &c, sizeof(c));
			}
		} else if (fz_load32(blk) == DAX_FS_EBLOCK_MAGIC) {
			uint32_t c = fs_csum(blk, FZ_BLOCK,
					     offsetof(struct dax_fs_eblock,
						      csum));

			memcpy(blk + offsetof(struct dax_fs_eblock, csum), &c,
			       sizeof(c));
		}
	}
	if (nblocks >= FZ_PACK_HEAD) {
		uint64_t word = fz_load64(p + FZ_BLOCK);
		const uint8_t *recs = p + 2 * FZ_BLOCK;
		uint64_t bytes = fz_load64(
			recs + offsetof(struct dax_fs_jhead, bytes));
		static const uint8_t zero[FZ_BLOCK];
		uint32_t crc;

		if (word >> 32 != DAX_FS_JCOMMIT_MAGIC ||
		    bytes < sizeof(struct dax_fs_jhead) ||
		    bytes > DAX_FS_JREC_AREA)
			return;
		/* Records past the first block are zeros in a packed image. */
		crc = fs_crc32c(~0U, recs, bytes < FZ_BLOCK ? bytes : FZ_BLOCK);
		for (uint64_t done = FZ_BLOCK; done < bytes; done += FZ_BLOCK)
			crc = fs_crc32c(crc, zero,
					bytes - done < FZ_BLOCK ? bytes - done
								: FZ_BLOCK);
		word = (uint64_t)DAX_FS_JCOMMIT_MAGIC << 32 | (uint32_t)~crc;
		memcpy(p + FZ_BLOCK, &word, sizeof(word));
	}
}

#endif /* UDAX_FUZZ_IMAGE_H */
