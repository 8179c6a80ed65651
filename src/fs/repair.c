/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * repair.c - what can be done with a damaged image: mount it read-only
 * (the intact files readable, the damaged ones refused), or repair it.
 *
 * @dev is the device, @sb its superblock (the primary, or the backup when
 * the primary's magic or checksum fails), @sv the salvage state (see
 * fs_priv.h), @fs a check-only in-memory filesystem, @a the reporter of
 * repair's actions.
 *
 * Salvage load. The loader of check.c run so that it judges each inode
 * instead of the whole image: an inode whose own metadata fails (its
 * checksum, flags, mode, name, size, chain head) is BAD and never loaded;
 * one whose extents or extent blocks fail is BROKEN; one that claims a
 * block another file already owns is CONFLICT. Judged inodes are left out
 * and the image loaded again, until a pass judges nobody: what is loaded
 * then is the set of intact files, owning disjoint blocks. A claim can
 * lose to a file the same first pass later judges bad, so the CONFLICT
 * verdicts of the first pass are forgotten (the second pass has only
 * files with sound metadata to collide with). When two intact files claim
 * one block, the one met first (lower inode number; in one file, inline
 * extents before extent blocks) keeps it and the other is removed: udax
 * cannot tell which is right, and a file with another's block in it
 * cannot be trusted.
 *
 * Repair (offline, the device opened exclusively): replay a committed
 * journal transaction or clear a torn or garbage one; salvage-load;
 * remove every judged inode (its slot zeroed: there is no directory
 * apart from the inodes' own names, so its name goes with it); free the
 * orphans; rename the later of two intact files with one name; rewrite
 * the bitmap from the extents and extent blocks of the intact files;
 * rewrite whichever superblock copy is bad. Each step writes only derived
 * or emptied metadata and is durable before the next, so an interrupted
 * repair leaves an image that repair (or fsck) still understands and a
 * second run finishes. Freed blocks keep their bytes until they are
 * handed out again (udax zeroes a block before a file gets it).
 *
 * Locking: none; the device is not mounted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_priv.h"

/* The first problem line of the inode being judged. */
static void salvage_note(void *ctx, const char *problem)
{
	struct fs_salvage *sv = ctx;

	if (sv->have)
		return;
	snprintf(sv->line, sizeof(sv->line), "%s", problem);
	sv->have = true;
}

static int salvage_init(struct fs_salvage *sv, uint64_t nr_inodes)
{
	memset(sv, 0, sizeof(*sv));
	sv->verdict = calloc(nr_inodes, sizeof(*sv->verdict));
	sv->why = calloc(nr_inodes, sizeof(*sv->why));
	sv->blocks = calloc(nr_inodes, sizeof(*sv->blocks));
	return sv->verdict && sv->why && sv->blocks ? 0 : -ENOMEM;
}

static void salvage_destroy(struct fs_salvage *sv, uint64_t nr_inodes)
{
	if (sv->why)
		for (uint64_t i = 0; i < nr_inodes; i++)
			free(sv->why[i]);
	free(sv->why);
	free(sv->verdict);
	free(sv->blocks);
}

/* The journal of @dev: its state, and whether it is corrupt (*@jerr). */
static int journal_state(struct dax_dev *dev, const struct dax_fs_super *sb,
			 struct fs_report *rep, enum fs_jstate *state,
			 int *jerr)
{
	struct dax_fs *fs;
	int err = fs_new(dev, sb, true, &fs);

	if (err)
		return err;
	*jerr = fs_journal_check(fs, rep, state);
	fs_free(fs);
	return 0;
}

/*
 * Salvage-load @dev into a new check-only *@fsp: load passes, each
 * without the inodes judged so far, until one judges nobody (see the top
 * of the file). A committed transaction (@state) is seen through the
 * overlay, not written. The loaded inodes get no names here.
 */
static int salvage_load(struct dax_dev *dev, const struct dax_fs_super *sb,
			enum fs_jstate state, struct fs_salvage *sv,
			struct dax_fs **fsp)
{
	for (unsigned int pass = 0;; pass++) {
		struct fs_report rep = { .fn = salvage_note, .ctx = sv };
		struct dax_fs *fs;
		int err = fs_new(dev, sb, true, &fs);

		if (err)
			return err;
		fs->salvage = sv;
		if (state == FS_JOURNAL_COMMITTED)
			err = fs_overlay_build(fs);
		sv->marked = 0;
		if (!err)
			err = fs_load(fs, &rep);
		if (err) {
			fs_free(fs);
			return err;
		}
		if (!pass) {
			for (uint64_t i = 0; i < fs->nr_inodes; i++) {
				if (sv->verdict[i] != FS_INO_CONFLICT)
					continue;
				sv->verdict[i] = FS_INO_OK;
				free(sv->why[i]);
				sv->why[i] = NULL;
			}
		}
		if (!sv->marked) {
			fs->salvage = NULL;
			*fsp = fs;
			return 0;
		}
		fs_free(fs);
	}
}

/* The on-device inode @ino as loading sees it. */
static const struct dax_fs_inode *raw_inode(struct dax_fs *fs, uint32_t ino)
{
	const char *blk =
		fs_meta(fs, fs->istart + ino / DAX_FS_INODES_PER_BLOCK);

	return (const void *)(blk + (ino % DAX_FS_INODES_PER_BLOCK) *
					    DAX_FS_INODE_SIZE);
}

/*
 * Read-only mount: names for the intact files (in inode order; of two
 * with one name the later is left out: repair renames it), then, for
 * each judged inode whose name can be read and is not taken, a damaged
 * stand-in that carries only the name, so that opening it says -EUCLEAN
 * rather than -ENOENT.
 */
static int rdonly_names(struct dax_fs *fs, const struct fs_salvage *sv)
{
	for (uint64_t ino = 0; ino < fs->nr_inodes; ino++) {
		struct dax_inode *ip = fs->inodes[ino];

		if (!ip || (ip->disk.flags & DAX_FS_INODE_ORPHAN))
			continue;
		if (!fs_name_find(fs, ip->disk.name, ip->disk.name_len)) {
			fs_name_insert(fs, ip);
			continue;
		}
		/* Unreachable by its name, and not to be listed twice. */
		fs->inodes[ino] = NULL;
		fs->free_inodes++;
		fs_inode_destroy(ip);
	}
	for (uint64_t ino = 0; ino < fs->nr_inodes; ino++) {
		const struct dax_fs_inode *d;
		struct dax_inode *ip;
		bool sound;

		if (sv->verdict[ino] == FS_INO_OK || fs->inodes[ino])
			continue;
		d = raw_inode(fs, (uint32_t)ino);
		sound = sv->verdict[ino] != FS_INO_BAD;
		if ((d->flags & DAX_FS_INODE_ORPHAN) ||
		    !fs_inode_guess_name(d) ||
		    fs_name_find(fs, d->name, d->name_len))
			continue;
		ip = fs_inode_new(fs, (uint32_t)ino);
		if (!ip)
			return -ENOMEM;
		ip->damaged = true;
		ip->disk.flags = DAX_FS_INODE_USED;
		ip->disk.mode = sound ? d->mode : S_IFREG | 0600;
		ip->disk.size = sound ? d->size : 0;
		ip->disk.name_len = d->name_len;
		memcpy(ip->disk.name, d->name, d->name_len);
		fs->inodes[ino] = ip;
		fs->free_inodes--;
		fs_name_insert(fs, ip);
	}
	return 0;
}

/*
 * dax_fs_mount_rdonly() - mount @dev read-only, whatever its damage, as
 * long as a superblock (the primary or its backup) is sound. Nothing is
 * ever written to the device: a committed journal transaction is applied
 * in memory only, a torn or garbage journal is ignored (the state before
 * it), orphans stay, nothing past EOF is scrubbed. Files whose metadata
 * fails a check are left out; those whose name can still be read are
 * listed and their lookup gives -EUCLEAN. The bitmap is not needed
 * (nothing is allocated) and is not checked. Modifying calls on the
 * filesystem return -EROFS.
 * Context: @dev not mounted elsewhere.
 * Return: 0 and *@fsp; -EINVAL (foreign image, no sound superblock),
 * -EUCLEAN (no sound superblock, but a udax one), -ENOMEM.
 */
int dax_fs_mount_rdonly(struct dax_dev *dev, struct dax_fs **fsp)
{
	struct fs_report rep = { 0 };
	struct dax_fs_super sb;
	struct fs_salvage sv;
	enum fs_sb_state which;
	enum fs_jstate state;
	struct dax_fs *fs = NULL;
	int err, jerr;

	if (!dev || !fsp || dev->nr_blocks < 1)
		return -EINVAL;
	err = fs_super_check(dev, &sb, &rep, &which);
	if (err)
		return err;
	err = journal_state(dev, &sb, &rep, &state, &jerr);
	if (err)
		return err;
	err = salvage_init(&sv, sb.nr_inodes);
	if (!err)
		err = salvage_load(dev, &sb, state, &sv, &fs);
	if (!err)
		err = rdonly_names(fs, &sv);
	salvage_destroy(&sv, sb.nr_inodes);
	if (err) {
		fs_free(fs);
		return err;
	}
	fs_overlay_free(fs); /* everything it held is loaded */
	fs->rdonly = true;
	*fsp = fs;
	return 0;
}

/* ---- repair ---- */

struct actions {
	dax_fsck_report_fn fn;
	void *ctx;
	unsigned long nr;
};

static void __attribute__((format(printf, 2, 3)))
act(struct actions *a, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	a->nr++;
	if (!a->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	a->fn(a->ctx, line);
}

/* The first problem line of a check, for the action that fixes it. */
struct first_line {
	bool have;
	char line[512];
};

static void first_note(void *ctx, const char *problem)
{
	struct first_line *f = ctx;

	if (f->have)
		return;
	snprintf(f->line, sizeof(f->line), "%s", problem);
	f->have = true;
}

/* "inode 5: extent block 9: bad checksum" -> "extent block 9: ...". */
static const char *why_text(const char *why, uint32_t ino)
{
	char prefix[32];
	size_t n;

	if (!why)
		return "its metadata failed a check";
	n = (size_t)snprintf(prefix, sizeof(prefix), "inode %u: ", ino);
	return strncmp(why, prefix, n) ? why : why + n;
}

static void write_dev(struct dax_dev *dev, uint64_t offset, const void *src,
		      size_t len)
{
	char *dst = dax_dev_ptr(dev, offset);

	memcpy(dst, src, len);
	dax_dev_flush(dev, dst, len);
}

/* Step 1: replay a committed transaction, clear anything else there. */
static int repair_journal(struct dax_dev *dev, const struct dax_fs_super *sb,
			  struct actions *a)
{
	struct first_line why = { 0 };
	struct fs_report rep = { .fn = first_note, .ctx = &why };
	static const char zero[DAX_BLOCK_SIZE];
	enum fs_jstate state;
	struct dax_fs *fs;
	int err, jerr;

	err = journal_state(dev, sb, &rep, &state, &jerr);
	if (err)
		return err;
	if (state == FS_JOURNAL_COMMITTED) {
		err = fs_new(dev, sb, true, &fs);
		if (err)
			return err;
		fs_journal_replay(fs, state);
		fs_free(fs);
		act(a, "journal: replayed the committed transaction it held "
		       "(as mount would)");
	} else if (state == FS_JOURNAL_TORN) {
		act(a, "journal: cleared a torn transaction (never committed: "
		       "the files are as before it)");
	} else if (jerr) {
		const char *w = why.have ? why.line : "garbage in it";

		if (!strncmp(w, "journal: ", 9))
			w += 9;
		act(a, "journal: cleared it: %s", w);
	}
	if (memcmp(dax_dev_block(dev, sb->journal_start), zero,
		   DAX_BLOCK_SIZE)) {
		write_dev(dev, sb->journal_start << DAX_BLOCK_SHIFT, zero,
			  DAX_BLOCK_SIZE);
		dax_dev_drain(dev);
	}
	return 0;
}

static bool bm_get(const uint8_t *bm, uint64_t b)
{
	return bm[b >> 3] >> (b & 7) & 1;
}

static void bm_set(uint8_t *bm, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n; i++)
		bm[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/*
 * Blocks [@b, @b + @n) that repair frees (in use in @old, not in @bm) and
 * that no earlier file was given (@given): count them, mark them given.
 */
static uint64_t freed_run(struct dax_fs *fs, const uint8_t *old,
			  const uint8_t *bm, uint8_t *given, uint64_t b,
			  uint64_t n)
{
	uint64_t c = 0;

	if (b < fs->data_start || b >= fs->nr_blocks ||
	    n > fs->nr_blocks - b)
		return 0;
	for (uint64_t i = b; i < b + n; i++) {
		if (bm_get(old, i) && !bm_get(bm, i) && !bm_get(given, i)) {
			bm_set(given, i, 1);
			c++;
		}
	}
	return c;
}

/*
 * The blocks freed by removing inode @d (whose own checksum is sound):
 * what its inline extents, its extent blocks and their extents (as far as
 * the chain can be followed) name. Blocks only a destroyed extent block
 * named are freed too, but cannot be told apart: the bitmap's action
 * counts them.
 */
static uint64_t freed_blocks(struct dax_fs *fs, const struct dax_fs_inode *d,
			     uint32_t ino, const uint8_t *old,
			     const uint8_t *bm, uint8_t *given)
{
	uint64_t c = 0, b = d->ext_head;

	for (uint32_t i = 0; i < DAX_FS_INLINE_EXT; i++)
		c += freed_run(fs, old, bm, given, d->ext[i].block,
			       d->ext[i].count);
	for (uint32_t n = 0; b && n < d->nr_eblocks; n++) {
		const struct dax_fs_eblock *img;

		if (b < fs->data_start || b >= fs->nr_blocks)
			break;
		c += freed_run(fs, old, bm, given, b, 1);
		img = fs_meta(fs, b);
		if (img->magic != DAX_FS_EBLOCK_MAGIC || img->ino != ino ||
		    img->generation != d->generation ||
		    fs_csum(img, sizeof(*img),
			    offsetof(struct dax_fs_eblock, csum)) != img->csum)
			break;
		for (uint32_t i = 0; i < DAX_FS_EXT_PER_BLOCK; i++)
			c += freed_run(fs, old, bm, given, img->rec[i].block,
				       img->rec[i].count);
		b = img->next;
	}
	return c;
}

/*
 * Step 2: zero the slots of the judged inodes and of the orphans, saying
 * how many blocks each frees (@old: the bitmap on the device, @bm: the
 * rebuilt one, not yet written).
 */
static int repair_inodes(struct dax_fs *fs, const struct fs_salvage *sv,
			 const uint8_t *old, const uint8_t *bm,
			 struct actions *a)
{
	static const char zero[DAX_FS_INODE_SIZE];
	char esc[4 * DAX_FS_NAME_MAX + 1];
	uint8_t *given = calloc(1, fs->sb.bitmap_blocks << DAX_BLOCK_SHIFT);
	bool wrote = false;

	if (!given)
		return -ENOMEM;
	for (uint32_t ino = 0; ino < fs->nr_inodes; ino++) {
		const struct dax_fs_inode *d = raw_inode(fs, ino);
		struct dax_inode *ip = fs->inodes[ino];
		const char *why = why_text(sv->why[ino], ino);

		if (ip && (ip->disk.flags & DAX_FS_INODE_ORPHAN)) {
			uint64_t n = freed_blocks(fs, d, ino, old, bm, given);

			act(a,
			    "freed inode %u: a file deleted while it was open "
			    "(%llu block%s)",
			    ino, (unsigned long long)n, n == 1 ? "" : "s");
		} else if (sv->verdict[ino] == FS_INO_BAD) {
			if (fs_inode_guess_name(d))
				act(a,
				    "removed file '%s' (inode %u): %s; its "
				    "blocks are freed",
				    fs_name_escape(d->name, d->name_len, esc),
				    ino, why);
			else
				act(a,
				    "removed inode %u (its name cannot be "
				    "read): %s; its blocks are freed",
				    ino, why);
		} else if (sv->verdict[ino] != FS_INO_OK) {
			uint64_t n = freed_blocks(fs, d, ino, old, bm, given);

			act(a, "removed file '%s' (inode %u): %s; %llu block%s "
			       "freed",
			    fs_name_escape(d->name, d->name_len, esc), ino,
			    why, (unsigned long long)n, n == 1 ? "" : "s");
		} else {
			continue;
		}
		write_dev(fs->dev, fs_inode_offset(fs, ino), zero,
			  sizeof(zero));
		wrote = true;
	}
	if (wrote)
		dax_dev_drain(fs->dev);
	free(given);
	return 0;
}

/*
 * Step 3: every intact file gets its name; of two with one name, the
 * later (higher inode number) is renamed NAME~INO (cut to fit, with a
 * counter if even that is taken).
 */
static int repair_names(struct dax_fs *fs, struct actions *a)
{
	char esc[4 * DAX_FS_NAME_MAX + 1], esc2[4 * DAX_FS_NAME_MAX + 1];
	bool wrote = false;

	for (uint32_t ino = 0; ino < fs->nr_inodes; ino++) {
		struct dax_inode *ip = fs->inodes[ino];
		char name[DAX_FS_NAME_MAX + 1], suffix[32];
		size_t keep, slen;

		if (!ip || (ip->disk.flags & DAX_FS_INODE_ORPHAN))
			continue;
		if (!fs_name_find(fs, ip->disk.name, ip->disk.name_len)) {
			fs_name_insert(fs, ip);
			continue;
		}
		for (unsigned int k = 0;; k++) {
			if (k)
				snprintf(suffix, sizeof(suffix), "~%u.%u", ino,
					 k);
			else
				snprintf(suffix, sizeof(suffix), "~%u", ino);
			slen = strlen(suffix);
			keep = ip->disk.name_len;
			if (keep > DAX_FS_NAME_MAX - slen)
				keep = DAX_FS_NAME_MAX - slen;
			memcpy(name, ip->disk.name, keep);
			memcpy(name + keep, suffix, slen);
			if (!fs_name_find(fs, name, keep + slen))
				break;
		}
		act(a,
		    "renamed file '%s' (inode %u) to '%s': another file has "
		    "the same name",
		    fs_name_escape(ip->disk.name, ip->disk.name_len, esc), ino,
		    fs_name_escape(name, keep + slen, esc2));
		memset(ip->disk.name, 0, sizeof(ip->disk.name));
		memcpy(ip->disk.name, name, keep + slen);
		ip->disk.name_len = (uint16_t)(keep + slen);
		ip->disk.csum = fs_csum(&ip->disk, sizeof(ip->disk),
					offsetof(struct dax_fs_inode, csum));
		write_dev(fs->dev, fs_inode_offset(fs, ino), &ip->disk,
			  sizeof(ip->disk));
		fs_name_insert(fs, ip);
		wrote = true;
	}
	if (wrote)
		dax_dev_drain(fs->dev);
	return 0;
}

/*
 * The bitmap the intact files make: the metadata areas, their extents
 * and extent blocks (orphans left out: repair frees them).
 */
static uint8_t *bitmap_build(struct dax_fs *fs)
{
	uint8_t *bm = calloc(1, fs->sb.bitmap_blocks << DAX_BLOCK_SHIFT);

	if (!bm)
		return NULL;
	bm_set(bm, 0, fs->data_start);
	for (uint64_t ino = 0; ino < fs->nr_inodes; ino++) {
		struct dax_inode *ip = fs->inodes[ino];

		if (!ip || (ip->disk.flags & DAX_FS_INODE_ORPHAN))
			continue;
		for (uint32_t h = 0; h < ip->nr_recs; h++)
			if (ip->recs[h].count)
				bm_set(bm, ip->recs[h].block,
				       ip->recs[h].count);
		for (struct fs_eblk *eb = ip->eb_head; eb; eb = eb->next)
			bm_set(bm, eb->blkno, 1);
	}
	return bm;
}

/* Step 4: write the rebuilt bitmap @bm if it differs. */
static void repair_bitmap(struct dax_fs *fs, const uint8_t *bm,
			  struct actions *a)
{
	uint64_t bytes = fs->sb.bitmap_blocks << DAX_BLOCK_SHIFT;
	const uint8_t *old = dax_dev_block(fs->dev, fs->bstart);
	uint64_t freed = 0, taken = 0;

	for (uint64_t i = 0; i < bytes; i++) {
		uint8_t diff = old[i] ^ bm[i];

		freed += (unsigned int)__builtin_popcount(diff & old[i]);
		taken += (unsigned int)__builtin_popcount(diff & bm[i]);
	}
	if (!freed && !taken)
		return;
	act(a,
	    "bitmap: rebuilt from the intact files' extents: %llu block%s "
	    "no intact file owns marked free, %llu block%s in use marked "
	    "used",
	    (unsigned long long)freed, freed == 1 ? "" : "s",
	    (unsigned long long)taken, taken == 1 ? "" : "s");
	write_dev(fs->dev, fs->bstart << DAX_BLOCK_SHIFT, bm, bytes);
	dax_dev_drain(fs->dev);
}

/*
 * dax_fs_repair() - repair the filesystem on @dev (see the top of the
 * file), calling @report (may be NULL) once per action taken with a line
 * that says what was done and to which file.
 * Context: @dev open and not mounted.
 * Return: 0 when the image is now consistent (dax_fs_fsck() is clean);
 * -EINVAL (foreign image), -EUCLEAN (damage repair cannot undo, such as
 * both superblocks bad: reported), -ENOMEM.
 */
int dax_fs_repair(struct dax_dev *dev, dax_fsck_report_fn report, void *ctx)
{
	struct actions a = { .fn = report, .ctx = ctx };
	struct first_line why = { 0 };
	struct fs_report rep = { .fn = first_note, .ctx = &why };
	struct dax_fs_super sb;
	struct fs_salvage sv;
	enum fs_sb_state which;
	struct dax_fs *fs = NULL;
	uint8_t *bm = NULL;
	uint64_t at;
	int err;

	if (!dev || dev->nr_blocks < 1)
		return -EINVAL;
	err = fs_super_check(dev, &sb, &rep, &which);
	if (err) {
		if (err == -EUCLEAN)
			act(&a, "cannot repair: %s, and there is no sound "
				"backup superblock",
			    why.have ? why.line : "the superblock is bad");
		return err;
	}
	err = repair_journal(dev, &sb, &a);
	if (err)
		return err;
	err = salvage_init(&sv, sb.nr_inodes);
	if (!err)
		err = salvage_load(dev, &sb, FS_JOURNAL_CLEAN, &sv, &fs);
	if (!err) {
		bm = bitmap_build(fs);
		err = bm ? 0 : -ENOMEM;
	}
	if (!err)
		err = repair_inodes(fs, &sv,
				    dax_dev_block(dev, fs->bstart), bm, &a);
	if (!err)
		err = repair_names(fs, &a);
	if (!err)
		repair_bitmap(fs, bm, &a);
	free(bm);
	salvage_destroy(&sv, sb.nr_inodes);
	fs_free(fs);
	if (err)
		return err;
	at = sb.nr_blocks; /* the backup's block, in either copy */
	if (which == FS_SB_FROM_BACKUP) {
		write_dev(dev, 0, &sb, sizeof(sb));
		dax_dev_drain(dev);
		act(&a, "superblock: rewrote the primary from the backup in "
			"block %llu",
		    (unsigned long long)at);
	} else if (which == FS_SB_BAD_BACKUP) {
		write_dev(dev, at << DAX_BLOCK_SHIFT, &sb, sizeof(sb));
		dax_dev_drain(dev);
		act(&a, "superblock: rewrote the backup in block %llu from "
			"the primary",
		    (unsigned long long)at);
	}
	err = dax_fs_fsck(dev, NULL, NULL);
	if (err == -EUCLEAN) {
		struct first_line still = { 0 };

		dax_fs_fsck(dev, first_note, &still);
		act(&a, "cannot repair: %s",
		    still.have ? still.line : "fsck still finds problems");
	}
	return err;
}
