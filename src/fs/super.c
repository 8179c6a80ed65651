/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * super.c - the superblock and the filesystem's life: mkfs, checking the
 * superblock, mount (replay, load and check, orphan cleanup), unmount,
 * statistics.
 *
 * @dev is the device, @sb a superblock, @fs the filesystem, @rep where
 * problems are reported.
 *
 * Geometry: an image is fully determined by (nr_blocks, nr_inodes):
 * geo_compute() lays the areas out back to back and a superblock is valid
 * only if it says exactly that. A bad magic or version, or a geometry
 * that is impossible (areas out of order, bigger than the device, no room
 * for data) is a foreign image: -EINVAL. A checksum mismatch is
 * corruption: -EUCLEAN.
 *
 * Locking: mount and unmount run alone; get_stats takes fs->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_priv.h"

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* Lay out an image of @nr_blocks blocks and @nr_inodes inodes in @sb. */
static void geo_compute(uint64_t nr_blocks, uint64_t nr_inodes,
			uint32_t version, struct dax_fs_super *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->magic = DAX_FS_MAGIC;
	sb->version = version;
	sb->block_size = DAX_BLOCK_SIZE;
	sb->nr_blocks = nr_blocks;
	sb->nr_inodes = nr_inodes;
	sb->journal_start = 1;
	sb->journal_blocks = DAX_FS_JOURNAL_BLOCKS;
	sb->itable_start = sb->journal_start + sb->journal_blocks;
	sb->itable_blocks = div_up(nr_inodes, DAX_FS_INODES_PER_BLOCK);
	sb->bitmap_start = sb->itable_start + sb->itable_blocks;
	sb->bitmap_blocks = div_up(nr_blocks, DAX_FS_BITS_PER_BLOCK);
	sb->data_start = sb->bitmap_start + sb->bitmap_blocks;
}

static bool geo_fits(const struct dax_fs_super *sb)
{
	return sb->data_start < sb->nr_blocks &&
	       sb->nr_blocks - sb->data_start >= DAX_FS_MIN_DATA_BLOCKS;
}

static bool block_is_zero(const void *p)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < DAX_BLOCK_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/*
 * fs_super_backup_block() - where to look for the backup superblock of
 * @dev when the primary cannot say: the device's last block (0: the
 * device is too small to have one). A sound primary says it itself: the
 * backup is block nr_blocks, which is the last block only when the pool
 * spans the device (udax_pool_format may give it only the start).
 * Context: any.
 * Return: the block number.
 */
uint64_t fs_super_backup_block(const struct dax_dev *dev)
{
	return dev->nr_blocks >= 2 ? dev->nr_blocks - 1 : 0;
}

/*
 * Check the superblock image @sb, read from block @at of @dev (0: the
 * primary), reporting as "@what: ...". *@damaged is set when its magic or
 * checksum fails (so the other copy is worth a look).
 */
static int super_check_one(struct dax_dev *dev, const struct dax_fs_super *sb,
			   uint64_t at, const char *what,
			   struct fs_report *rep, bool *damaged)
{
	struct dax_fs_super want;
	uint64_t need;

	*damaged = false;
	if (sb->magic != DAX_FS_MAGIC) {
		fs_report(rep, "%s: bad magic 0x%016llx: not a udax "
			       "filesystem",
			  what, (unsigned long long)sb->magic);
		*damaged = true;
		return -EINVAL;
	}
	if (sb->version != DAX_FS_VERSION &&
	    sb->version != DAX_FS_VERSION_NOBACKUP) {
		fs_report(rep, "%s: unsupported version %u (want %u)", what,
			  sb->version, DAX_FS_VERSION);
		return -EINVAL;
	}
	if (fs_csum(sb, sizeof(*sb), offsetof(struct dax_fs_super, csum)) !=
	    sb->csum) {
		fs_report(rep, "%s: checksum mismatch", what);
		*damaged = true;
		return -EUCLEAN;
	}
	/* Version 2 keeps its backup in the block after the filesystem. */
	need = sb->nr_blocks + (sb->version == DAX_FS_VERSION);
	if (need > dev->nr_blocks || need < sb->nr_blocks) {
		fs_report(rep,
			  "%s: filesystem has %llu blocks%s, the device "
			  "only %llu (truncated image?)",
			  what, (unsigned long long)sb->nr_blocks,
			  sb->version == DAX_FS_VERSION ? " and a backup" : "",
			  (unsigned long long)dev->nr_blocks);
		return -EINVAL;
	}
	if (at && sb->nr_blocks != at) {
		fs_report(rep,
			  "%s: says the filesystem has %llu blocks, but it "
			  "is at block %llu",
			  what, (unsigned long long)sb->nr_blocks,
			  (unsigned long long)at);
		*damaged = true;
		return -EUCLEAN;
	}
	if (!sb->nr_inodes || sb->nr_inodes > DAX_FS_MAX_INODES) {
		fs_report(rep, "%s: impossible inode count %llu", what,
			  (unsigned long long)sb->nr_inodes);
		return -EINVAL;
	}
	geo_compute(sb->nr_blocks, sb->nr_inodes, sb->version, &want);
	want.mkfs_time = sb->mkfs_time;
	want.csum = sb->csum;
	if (memcmp(&want, sb, sizeof(want)) || !geo_fits(sb)) {
		fs_report(rep,
			  "%s: impossible geometry (blocks %llu, "
			  "inodes %llu, journal %llu+%llu, inode table "
			  "%llu+%llu, bitmap %llu+%llu, data from %llu)",
			  what, (unsigned long long)sb->nr_blocks,
			  (unsigned long long)sb->nr_inodes,
			  (unsigned long long)sb->journal_start,
			  (unsigned long long)sb->journal_blocks,
			  (unsigned long long)sb->itable_start,
			  (unsigned long long)sb->itable_blocks,
			  (unsigned long long)sb->bitmap_start,
			  (unsigned long long)sb->bitmap_blocks,
			  (unsigned long long)sb->data_start);
		return -EINVAL;
	}
	return 0;
}

/*
 * fs_super_check() - read and check the superblock of @dev into @sb. A
 * version 2 primary must also have an identical backup. With @which (may
 * be NULL: no fallback) the damage is tolerated where a sound copy
 * exists, and *@which says what was found:
 *   FS_SB_SOUND        the primary (and its backup, if any) are sound;
 *   FS_SB_BAD_BACKUP   the primary is sound, the backup damaged;
 *   FS_SB_FROM_BACKUP  the primary's magic or checksum fails and @sb is
 *                      the (sound) backup.
 * A primary of all zeros (an unfinished mkfs) never falls back. Each
 * problem is reported. Without @which, a damaged backup, or a sound
 * backup behind a damaged primary, is -EUCLEAN (repairable, not foreign).
 * Context: mount, fsck or repair.
 * Return: 0; -EINVAL (foreign: magic, version, geometry) or -EUCLEAN
 * (checksum, a bad backup), reported to @rep.
 */
int fs_super_check(struct dax_dev *dev, struct dax_fs_super *sb,
		   struct fs_report *rep, enum fs_sb_state *which)
{
	struct fs_report quiet = { 0 };
	uint64_t at = fs_super_backup_block(dev);
	const void *copy = at ? dax_dev_block(dev, at) : NULL;
	bool damaged, bdamaged;
	struct dax_fs_super b;
	int err;

	if (which)
		*which = FS_SB_SOUND;
	memcpy(sb, dax_dev_block(dev, 0), sizeof(*sb));
	err = super_check_one(dev, sb, 0, "superblock", rep, &damaged);
	if (!err) {
		/* Checked: nr_blocks + 1 <= the device's blocks (version 2). */
		at = sb->nr_blocks;
		copy = dax_dev_block(dev, at);
		if (sb->version == DAX_FS_VERSION &&
		    memcmp(copy, sb, sizeof(*sb))) {
			fs_report(rep,
				  "superblock: the backup in block %llu is "
				  "damaged (not a copy of the primary)",
				  (unsigned long long)at);
			if (!which)
				return -EUCLEAN;
			*which = FS_SB_BAD_BACKUP;
		}
		return 0;
	}
	/*
	 * A primary of all zeros is no damage: mkfs zeroes it first and
	 * writes it last, so it is a mkfs that never finished (the backup
	 * may already be there): no pool.
	 */
	if (!damaged || !copy || block_is_zero(sb))
		return err;
	memcpy(&b, copy, sizeof(b));
	if (super_check_one(dev, &b, at, "backup superblock", &quiet,
			    &bdamaged) ||
	    b.version != DAX_FS_VERSION)
		return err;
	if (!which)
		return -EUCLEAN;
	fs_report(rep,
		  "superblock: the backup in block %llu is sound and is used "
		  "instead (repair rewrites the primary)",
		  (unsigned long long)at);
	*sb = b;
	*which = FS_SB_FROM_BACKUP;
	return 0;
}

/*
 * fs_new() - an empty in-memory filesystem for @dev with the geometry of
 * (checked) @sb: no inode loaded yet. @fsck makes a check-only copy that
 * has no journal buffer and never writes.
 * Context: mount or fsck.
 * Return: 0 and *@fsp, or -ENOMEM.
 */
int fs_new(struct dax_dev *dev, const struct dax_fs_super *sb, bool fsck,
	   struct dax_fs **fsp)
{
	struct dax_fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return -ENOMEM;
	fs->dev = dev;
	fs->fsck = fsck;
	fs->sb = *sb;
	fs->nr_blocks = sb->nr_blocks;
	fs->nr_inodes = sb->nr_inodes;
	fs->jstart = sb->journal_start;
	fs->istart = sb->itable_start;
	fs->bstart = sb->bitmap_start;
	fs->data_start = sb->data_start;
	fs->small_cursor = fs->huge_cursor = fs->data_start;
	fs->free_inodes = fs->nr_inodes;
	fs->seq = 1;
	fs->nr_words = div_up(fs->nr_blocks, 64);
	fs->bitmap = calloc(fs->nr_words, sizeof(uint64_t));
	fs->inodes = calloc(fs->nr_inodes, sizeof(*fs->inodes));
	if (!fs->bitmap || !fs->inodes || fs_names_init(fs) ||
	    (!fsck && fs_tx_init(fs))) {
		fs_free(fs);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&fs->lock, NULL)) {
		fs_free(fs);
		return -ENOMEM;
	}
	fs->lock_init = true;
	*fsp = fs;
	return 0;
}

/*
 * fs_free() - free @fs and every in-memory inode (the device is not
 * touched).
 * Context: nobody else uses @fs.
 */
void fs_free(struct dax_fs *fs)
{
	if (!fs)
		return;
	if (fs->inodes)
		for (uint64_t i = 0; i < fs->nr_inodes; i++)
			if (fs->inodes[i])
				fs_inode_destroy(fs->inodes[i]);
	fs_overlay_free(fs);
	fs_tx_destroy(fs);
	free(fs->inodes);
	free(fs->htab);
	free(fs->bitmap);
	if (fs->lock_init)
		pthread_mutex_destroy(&fs->lock);
	free(fs);
}

/*
 * dax_fs_mkfs() - make an empty filesystem on all of @dev but its last
 * block with @nr_inodes inodes (0: one per 16 blocks, at least 64 and at
 * most 65536); the last block holds the backup superblock. The old
 * superblock and its backup are invalidated first, the new ones written
 * last (the backup before the primary), once everything else is durable.
 * The journal, the inode table and the bitmap are zeroed at no host
 * space on a pool file (dax_dev_zero: a new file is left as it is, an
 * old one punched and then fsynced before the superblocks go out).
 * Context: @dev not mounted.
 * Return: 0; -EINVAL (bad arguments, or a device too small for the
 * metadata plus DAX_FS_MIN_DATA_BLOCKS data blocks); -EROFS (a read-only
 * device); -errno from fsync(2) (no superblock written: no pool).
 */
int dax_fs_mkfs(struct dax_dev *dev, uint64_t nr_inodes)
{
	struct dax_fs_super sb;
	bool synced = true;
	uint64_t *bm;
	char *p;
	int err;

	if (!dev)
		return -EINVAL;
	if (dev->rdonly)
		return -EROFS;
	if (!nr_inodes) {
		nr_inodes = dev->nr_blocks / 16;
		nr_inodes = nr_inodes < 64 ? 64 : nr_inodes;
		nr_inodes = nr_inodes > 65536 ? 65536 : nr_inodes;
	}
	if (nr_inodes > DAX_FS_MAX_INODES)
		return -EINVAL;
	if (dev->nr_blocks < 2)
		return -EINVAL;
	geo_compute(dev->nr_blocks - 1, nr_inodes, DAX_FS_VERSION, &sb);
	if (!geo_fits(&sb))
		return -EINVAL;
	sb.mkfs_time = (uint64_t)fs_now_ns();
	sb.csum = fs_csum(&sb, sizeof(sb), offsetof(struct dax_fs_super, csum));

	p = dax_dev_block(dev, 0);
	memset(p, 0, DAX_BLOCK_SIZE);
	dax_dev_flush(dev, p, DAX_BLOCK_SIZE);
	p = dax_dev_block(dev, sb.nr_blocks);
	memset(p, 0, DAX_BLOCK_SIZE);
	dax_dev_persist(dev, p, DAX_BLOCK_SIZE);

	/*
	 * The journal (its commit block above all), the inode table (8 MiB
	 * per GiB of pool) and the bitmap, back to back, are zeroed at no
	 * host space where the device allows (dax_dev_zero: nothing on a
	 * new file, a punch on an old one, stores on device-DAX).
	 */
	err = dax_dev_zero(dev, sb.journal_start,
			   sb.data_start - sb.journal_start, &synced);
	if (err)
		return err;
	/* The metadata blocks are in use: the bitmap's first words. */
	bm = dax_dev_block(dev, sb.bitmap_start);
	for (uint64_t b = 0; b < sb.data_start; b++)
		bm[b >> 6] |= 1ULL << (b & 63);
	dax_dev_flush(dev, bm, div_up(sb.data_start, 64) * sizeof(*bm));
	dax_dev_drain(dev);
	/* Punched zeros must be durable before a superblock points at them. */
	if (!synced) {
		err = dax_dev_sync_zeroed(dev);
		if (err)
			return err;
	}
	dev->fresh = false;

	memcpy(dax_dev_block(dev, sb.nr_blocks), &sb, sizeof(sb));
	dax_dev_persist(dev, dax_dev_block(dev, sb.nr_blocks), sizeof(sb));
	memcpy(dax_dev_block(dev, 0), &sb, sizeof(sb));
	dax_dev_persist(dev, dax_dev_block(dev, 0), sizeof(sb));
	return 0;
}

/*
 * Zero what @ip's blocks wholly past its EOF hold. They must read as
 * zeros when the file grows over them, and udax leaves nothing there now
 * (new blocks are zeroed; truncate frees before it commits the smaller
 * size), but the format allows extents past EOF (fallocate KEEP_SIZE),
 * and a crash between a truncate's size commit and its freeing, in the
 * order udax used before, kept the cut-off data there: ftruncate up, a
 * write past EOF or fallocate showed it again (found by the pool fuzzer
 * on a fsck-clean image with a file's size lowered). Reads each such
 * block, writes only those that are not zero; no metadata changes.
 */
static void scrub_past_eof(struct dax_fs *fs, struct dax_inode *ip)
{
	uint64_t first = (ip->disk.size + DAX_BLOCK_SIZE - 1) >> DAX_BLOCK_SHIFT;
	bool wrote = false;

	for (uint32_t h = 0; h < ip->nr_recs; h++) {
		const struct fs_rec *r = &ip->recs[h]; /* count 0: free */
		uint64_t p = r->page > first ? r->page : first;

		for (; p < (uint64_t)r->page + r->count; p++) {
			char *b = dax_dev_block(fs->dev,
						r->block + (p - r->page));

			if (block_is_zero(b))
				continue;
			memset(b, 0, DAX_BLOCK_SIZE);
			dax_dev_flush(fs->dev, b, DAX_BLOCK_SIZE);
			wrote = true;
		}
	}
	if (wrote)
		dax_dev_drain(fs->dev);
}

/*
 * dax_fs_mount() - check @dev's superblock, replay its journal, load and
 * check every inode, extent and the bitmap (as fsck does), then free the
 * orphans a crash left and zero any data left in blocks past a file's
 * EOF; give free blocks still taking space back to the host.
 * Context: @dev not mounted elsewhere (the device is opened exclusively).
 * Return: 0 and *@fsp; -EINVAL (foreign image), -EUCLEAN (corrupt image;
 * dax_fs_fsck() says why), -ENOMEM.
 */
int dax_fs_mount(struct dax_dev *dev, struct dax_fs **fsp)
{
	struct fs_report rep = { 0 };
	struct dax_fs_super sb;
	enum fs_jstate state;
	struct dax_fs *fs;
	int err;

	if (!dev || !fsp)
		return -EINVAL;
	if (dev->nr_blocks < 1)
		return -EINVAL;
	err = fs_super_check(dev, &sb, &rep, NULL);
	if (err)
		return err;
	err = fs_new(dev, &sb, false, &fs);
	if (err)
		return err;
	err = fs_journal_check(fs, &rep, &state);
	if (err)
		goto fail;
	fs_journal_replay(fs, state);
	err = fs_load(fs, &rep);
	if (!err && rep.problems)
		err = -EUCLEAN;
	if (err)
		goto fail;
	pthread_mutex_lock(&fs->lock);
	for (uint64_t i = 0; i < fs->nr_inodes; i++) {
		struct dax_inode *ip = fs->inodes[i];

		if (ip && (ip->disk.flags & DAX_FS_INODE_ORPHAN)) {
			fs_inode_evict(ip);
			fs->orphans++;
		} else if (ip) {
			scrub_past_eof(fs, ip);
		}
	}
	fs_punch_free_all(fs);
	pthread_mutex_unlock(&fs->lock);
	*fsp = fs;
	return 0;
fail:
	fs_free(fs);
	return err;
}

/*
 * dax_fs_unmount() - forget @*fsp; NULLs it. The device needs no write:
 * every change was committed when made. Inodes still referenced are
 * freed from memory; orphans among them stay on the device for the next
 * mount to free.
 * Context: no other call on the filesystem is running or will run.
 */
void dax_fs_unmount(struct dax_fs **fsp)
{
	if (!fsp || !*fsp)
		return;
	fs_free(*fsp);
	*fsp = NULL;
}

/*
 * dax_fs_get_stats() - a snapshot of @fs's counters into @st.
 * Context: takes fs->lock.
 */
void dax_fs_get_stats(struct dax_fs *fs, struct dax_fs_stats *st)
{
	memset(st, 0, sizeof(*st)); /* padding too: callers compare */
	pthread_mutex_lock(&fs->lock);
	st->nr_blocks = fs->nr_blocks;
	st->data_blocks = fs->nr_blocks - fs->data_start;
	st->free_blocks = fs->free_blocks;
	st->nr_inodes = fs->nr_inodes;
	st->free_inodes = fs->free_inodes;
	st->commits = fs->commits;
	st->replayed = fs->replayed;
	st->orphans = fs->orphans;
	st->punched = fs->dev->punched;
	st->punch_failed = fs->dev->punch_failed;
	st->punch_off = fs->dev->punch_off;
	pthread_mutex_unlock(&fs->lock);
}
