/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * check.c - load the metadata into memory and check it, for mount and
 * fsck alike: the bitmap, every inode, every extent record and extent
 * block, and that the bitmap marks exactly the blocks in use.
 *
 * @fs is the filesystem being loaded (fsck's copy reads through its
 * journal overlay, via fs_meta()), @rep counts the problems and passes
 * each one on, @seen is the bitmap of blocks found in use so far.
 *
 * Everything read from the device is bounds-checked before it is used as
 * an index or a block number, so garbage never makes the loader crash:
 * a bad inode is reported and skipped, a bad extent block ends its chain,
 * a bad record is reported and not loaded. Mount fails with -EUCLEAN if
 * anything was reported.
 *
 * Locking: runs alone (mount or fsck), before anyone can see @fs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_priv.h"

#define BITMAP_REPORTS 8 /* bitmap mismatches reported one by one */

/*
 * fs_report() - count a problem and pass its description to the
 * reporter's callback, if any.
 * Context: mount or fsck.
 */
void fs_report(struct fs_report *rep, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	rep->problems++;
	if (!rep->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rep->fn(rep->ctx, line);
}

static bool seen_any(const uint64_t *seen, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n;) {
		if (!(i & 63) && i + 64 <= b + n) {
			if (seen[i >> 6])
				return true;
			i += 64;
			continue;
		}
		if (seen[i >> 6] >> (i & 63) & 1)
			return true;
		i++;
	}
	return false;
}

static void seen_mark(uint64_t *seen, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n; i++)
		seen[i >> 6] |= 1ULL << (i & 63);
}

/* Copy the on-device bitmap into fs->bitmap; bits past the end are 0. */
static void load_bitmap(struct dax_fs *fs, struct fs_report *rep)
{
	uint64_t bytes = fs->nr_words * sizeof(uint64_t);
	uint64_t tail_bad = 0;

	for (uint64_t i = 0; i < fs->sb.bitmap_blocks; i++) {
		const char *src = fs_meta(fs, fs->bstart + i);
		uint64_t at = i << DAX_BLOCK_SHIFT, n = DAX_BLOCK_SIZE;

		if (at < bytes) {
			if (n > bytes - at)
				n = bytes - at;
			memcpy((char *)fs->bitmap + at, src, n);
		} else {
			n = 0;
		}
		for (uint64_t j = n; j < DAX_BLOCK_SIZE; j++)
			tail_bad += src[j] != 0;
	}
	if (fs->nr_blocks & 63) {
		uint64_t past = ~0ULL << (fs->nr_blocks & 63);

		tail_bad += (fs->bitmap[fs->nr_words - 1] & past) != 0;
		fs->bitmap[fs->nr_words - 1] &= ~past;
	}
	if (tail_bad)
		fs_report(rep, "bitmap: bits set past the last block");
}

/* Check the on-device inode @d of slot @ino; report what is wrong. */
static bool inode_ok(struct dax_fs *fs, uint32_t ino,
		     const struct dax_fs_inode *d, struct fs_report *rep)
{
	bool orphan = d->flags & DAX_FS_INODE_ORPHAN;

	if (fs_csum(d, sizeof(*d), offsetof(struct dax_fs_inode, csum)) !=
	    d->csum) {
		fs_report(rep, "inode %u: checksum mismatch", ino);
		return false;
	}
	if (!(d->flags & DAX_FS_INODE_USED) ||
	    (d->flags & ~DAX_FS_INODE_FLAGS)) {
		fs_report(rep, "inode %u: bad flags 0x%x", ino, d->flags);
		return false;
	}
	if ((d->mode & S_IFMT) != S_IFREG || (d->mode & ~(S_IFMT | 07777))) {
		fs_report(rep, "inode %u: bad mode 0%o", ino, d->mode);
		return false;
	}
	if (orphan ? d->name_len != 0
		   : (!d->name_len || d->name_len > DAX_FS_NAME_MAX)) {
		fs_report(rep, "inode %u: bad name length %u%s", ino,
			  d->name_len, orphan ? " (orphan)" : "");
		return false;
	}
	if (memchr(d->name, 0, d->name_len)) {
		fs_report(rep, "inode %u: NUL byte inside the name", ino);
		return false;
	}
	for (size_t i = d->name_len; i < sizeof(d->name); i++) {
		if (d->name[i]) {
			fs_report(rep, "inode %u: bytes after the name", ino);
			return false;
		}
	}
	if (d->size > DAX_FS_MAX_FILE_PAGES << DAX_BLOCK_SHIFT) {
		fs_report(rep, "inode %u: size %llu beyond the maximum", ino,
			  (unsigned long long)d->size);
		return false;
	}
	if (d->nr_eblocks > fs->nr_blocks - fs->data_start ||
	    !d->ext_head != !d->nr_eblocks) {
		fs_report(rep,
			  "inode %u: extent chain head %llu with %u blocks",
			  ino, (unsigned long long)d->ext_head,
			  d->nr_eblocks);
		return false;
	}
	return true;
}

/* Check record @e (@where: inline or block N, @slot) and load it. */
static int load_rec(struct dax_fs *fs, struct dax_inode *ip,
		    struct fs_eblk *eb, uint32_t slot,
		    const struct dax_fs_extent *e, uint64_t *seen,
		    struct fs_report *rep)
{
	char where[48];
	int err;

	if (eb)
		snprintf(where, sizeof(where), "extent block %llu slot %u",
			 (unsigned long long)eb->blkno, slot);
	else
		snprintf(where, sizeof(where), "inline extent %u", slot);
	if (!e->count) {
		if (e->page || e->block)
			fs_report(rep, "inode %u: %s: free slot not zero",
				  ip->ino, where);
		return 0;
	}
	if ((uint64_t)e->page + e->count > DAX_FS_MAX_FILE_PAGES) {
		fs_report(rep,
			  "inode %u: %s: pages %u+%u beyond the maximum file "
			  "size",
			  ip->ino, where, e->page, e->count);
		return 0;
	}
	if (e->block < fs->data_start || e->block >= fs->nr_blocks ||
	    e->count > fs->nr_blocks - e->block) {
		fs_report(rep,
			  "inode %u: %s: blocks %llu+%u outside the data area",
			  ip->ino, where, (unsigned long long)e->block,
			  e->count);
		return 0;
	}
	if (seen_any(seen, e->block, e->count)) {
		rep->conflicts++;
		fs_report(rep,
			  "inode %u: %s: blocks %llu+%u already in use "
			  "(owned twice)",
			  ip->ino, where, (unsigned long long)e->block,
			  e->count);
		return 0;
	}
	if (!fs_map_range_free(ip, e->page, e->count)) {
		fs_report(rep, "inode %u: %s: pages %u+%u mapped twice",
			  ip->ino, where, e->page, e->count);
		return 0;
	}
	err = fs_rec_load(ip, eb, slot, e);
	if (err)
		return err;
	seen_mark(seen, e->block, e->count);
	return 0;
}

/* Load the extent block chain of @ip (on-device image @d). */
static int load_chain(struct dax_fs *fs, struct dax_inode *ip,
		      const struct dax_fs_inode *d, uint64_t *seen,
		      struct fs_report *rep)
{
	uint64_t b = d->ext_head;
	uint32_t n = 0;
	int err;

	for (; b; n++) {
		const struct dax_fs_eblock *img;
		struct fs_eblk *eb;

		if (n >= d->nr_eblocks) {
			fs_report(rep,
				  "inode %u: extent chain longer than its %u "
				  "blocks",
				  ip->ino, d->nr_eblocks);
			return 0;
		}
		if (b < fs->data_start || b >= fs->nr_blocks) {
			fs_report(rep,
				  "inode %u: extent block %llu outside the "
				  "data area",
				  ip->ino, (unsigned long long)b);
			return 0;
		}
		if (seen_any(seen, b, 1)) {
			rep->conflicts++;
			fs_report(rep,
				  "inode %u: extent block %llu already in use "
				  "(owned twice)",
				  ip->ino, (unsigned long long)b);
			return 0;
		}
		img = fs_meta(fs, b);
		if (img->magic != DAX_FS_EBLOCK_MAGIC ||
		    fs_csum(img, sizeof(*img),
			    offsetof(struct dax_fs_eblock, csum)) !=
			    img->csum) {
			fs_report(rep,
				  "inode %u: extent block %llu: bad magic or "
				  "checksum",
				  ip->ino, (unsigned long long)b);
			return 0;
		}
		if (img->ino != ip->ino ||
		    img->generation != d->generation) {
			fs_report(rep,
				  "inode %u: extent block %llu belongs to "
				  "inode %u generation %llu",
				  ip->ino, (unsigned long long)b, img->ino,
				  (unsigned long long)img->generation);
			return 0;
		}
		seen_mark(seen, b, 1);
		eb = calloc(1, sizeof(*eb));
		if (!eb)
			return -ENOMEM;
		eb->blkno = b;
		eb->img = *img;
		memset(eb->handle, 0xff, sizeof(eb->handle));
		eb->prev = ip->eb_tail;
		if (ip->eb_tail)
			ip->eb_tail->next = eb;
		else
			ip->eb_head = eb;
		ip->eb_tail = eb;
		ip->nr_eblks++;
		for (uint32_t i = 0; i < DAX_FS_EXT_PER_BLOCK; i++) {
			err = load_rec(fs, ip, eb, i, &img->rec[i], seen, rep);
			if (err)
				return err;
		}
		if (!eb->live)
			fs_report(rep,
				  "inode %u: extent block %llu holds no extent",
				  ip->ino, (unsigned long long)b);
		b = img->next;
	}
	if (n != d->nr_eblocks)
		fs_report(rep, "inode %u: extent chain of %u blocks, not %u",
			  ip->ino, n, d->nr_eblocks);
	return 0;
}

/*
 * fs_name_escape() - write @name (@len bytes, any but NUL) into @out for
 * a report: bytes below 0x20, 0x7f, '"' and '\\' as \xNN, so that a
 * report stays one printable line whatever the image holds (the pool
 * fuzzer found a name with a newline in it splitting fsck's "already
 * used" line in two).
 * Context: any.
 * Return: @out.
 */
const char *fs_name_escape(const char *name, size_t len,
			   char out[4 * DAX_FS_NAME_MAX + 1])
{
	char *o = out;

	for (size_t i = 0; i < len && i < DAX_FS_NAME_MAX; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = 0;
	return out;
}

static bool all_zero(const void *p, size_t len)
{
	const char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return false;
	return true;
}

/*
 * fs_inode_guess_name() - does the name field of @d (an inode that may
 * have failed its checksum) look like a name: 1 to 255 bytes, no NUL in
 * it, zeros after it? Repair names a damaged file by it in its report, a
 * read-only mount keeps it so that opening the file says -EUCLEAN.
 * Context: any.
 * Return: true if it does.
 */
bool fs_inode_guess_name(const struct dax_fs_inode *d)
{
	if (!d->name_len || d->name_len > DAX_FS_NAME_MAX ||
	    memchr(d->name, 0, d->name_len))
		return false;
	return all_zero(d->name + d->name_len, sizeof(d->name) - d->name_len);
}

/* Salvage: give inode @ino @verdict, and remember why. */
static void salvage_mark(struct dax_fs *fs, uint32_t ino, uint8_t verdict,
			 uint64_t blocks)
{
	struct fs_salvage *sv = fs->salvage;

	sv->verdict[ino] = verdict;
	sv->blocks[ino] = blocks;
	sv->marked++;
	if (!sv->why[ino] && sv->have)
		sv->why[ino] = strdup(sv->line); /* NULL: reported without */
}

/*
 * Load inode @ino if its slot is used. In a salvage load an inode judged
 * by an earlier pass is skipped, a problem gives the inode its verdict
 * (the caller loads again without it), and names are left to the caller.
 */
static int load_inode(struct dax_fs *fs, uint32_t ino, uint64_t *seen,
		      struct fs_report *rep)
{
	uint64_t blkno = fs->istart + ino / DAX_FS_INODES_PER_BLOCK;
	const char *blk = fs_meta(fs, blkno);
	const struct dax_fs_inode *d =
		(const void *)(blk + (ino % DAX_FS_INODES_PER_BLOCK) *
					     DAX_FS_INODE_SIZE);
	unsigned long problems = rep->problems, conflicts = rep->conflicts;
	struct fs_salvage *sv = fs->salvage;
	struct dax_inode *ip;
	int err;

	if (all_zero(d, sizeof(*d)))
		return 0;
	if (sv) {
		if (sv->verdict[ino] != FS_INO_OK)
			return 0;
		sv->have = false;
	}
	if (!inode_ok(fs, ino, d, rep)) {
		if (sv)
			salvage_mark(fs, ino, FS_INO_BAD, 0);
		return 0;
	}
	ip = fs_inode_new(fs, ino);
	if (!ip)
		return -ENOMEM;
	ip->disk = *d;
	atomic_store_explicit(&ip->size, d->size, memory_order_relaxed);
	fs->inodes[ino] = ip;
	fs->free_inodes--;
	if (d->generation >= fs->next_gen)
		fs->next_gen = d->generation + 1;
	if (!(d->flags & DAX_FS_INODE_ORPHAN) && !sv) {
		char esc[4 * DAX_FS_NAME_MAX + 1];

		if (fs_name_find(fs, d->name, d->name_len))
			fs_report(rep, "inode %u: name \"%s\" already used",
				  ino, fs_name_escape(d->name, d->name_len, esc));
		else
			fs_name_insert(fs, ip);
	}
	for (uint32_t i = 0; i < DAX_FS_INLINE_EXT; i++) {
		err = load_rec(fs, ip, NULL, i, &d->ext[i], seen, rep);
		if (err)
			return err;
	}
	err = load_chain(fs, ip, d, seen, rep);
	if (!err && sv && rep->problems != problems)
		salvage_mark(fs, ino,
			     rep->problems - problems ==
					     rep->conflicts - conflicts
				     ? FS_INO_CONFLICT
				     : FS_INO_BROKEN,
			     ip->nr_blocks + ip->nr_eblks);
	return err;
}

/* Compare the bitmap with @seen; count the free blocks. */
static void check_bitmap(struct dax_fs *fs, const uint64_t *seen,
			 struct fs_report *rep)
{
	uint64_t bad = 0;

	for (uint64_t w = 0; w < fs->nr_words; w++) {
		uint64_t diff = fs->bitmap[w] ^ seen[w];

		while (diff) {
			uint64_t b = w * 64 + (uint64_t)__builtin_ctzll(diff);

			diff &= diff - 1;
			if (++bad > BITMAP_REPORTS)
				continue;
			if (fs_bm_test(fs, b))
				fs_report(rep,
					  "bitmap: block %llu marked in use, "
					  "but nothing owns it",
					  (unsigned long long)b);
			else
				fs_report(rep,
					  "bitmap: block %llu in use, but "
					  "marked free",
					  (unsigned long long)b);
		}
	}
	if (bad > BITMAP_REPORTS)
		fs_report(rep, "bitmap: %llu more blocks marked wrongly",
			  (unsigned long long)(bad - BITMAP_REPORTS));
	fs->free_blocks = fs->nr_blocks - fs->data_start;
	for (uint64_t b = fs->data_start; b < fs->nr_blocks;) {
		if (!(b & 63) && b + 64 <= fs->nr_blocks) {
			fs->free_blocks -= (uint64_t)__builtin_popcountll(
				fs->bitmap[b >> 6]);
			b += 64;
		} else {
			fs->free_blocks -= fs_bm_test(fs, b++);
		}
	}
}

/*
 * Is inode table block @blkno a hole in the pool file (so all free slots,
 * zeros), not overridden by fsck's overlay? Loading skips such blocks
 * without reading them: a new pool's inode table is one big hole, and on
 * tmpfs a read fault allocates the page it reads (mounting a new 1 GiB
 * pool took 8 MiB of host memory). [*@s, *@e): the host's data range at
 * or after the last block asked about (both 0 at first; UINT64_MAX: no
 * data left; a host that cannot tell says all is data).
 */
static bool itable_hole(struct dax_fs *fs, uint64_t blkno, uint64_t *s,
			uint64_t *e)
{
	uint64_t off = blkno << DAX_BLOCK_SHIFT;
	int err;

	if (!fs->dev->regular ||
	    fs_meta(fs, blkno) != dax_dev_block(fs->dev, blkno))
		return false;
	if (off >= *e) {
		err = dax_dev_next_data(fs->dev, off, s, e);
		if (err == -ENXIO) {
			*s = *e = UINT64_MAX;
		} else if (err) {
			*s = 0;
			*e = UINT64_MAX;
		}
	}
	return off < *s;
}

/*
 * fs_load() - load every inode with its extents into @fs and check the
 * whole image, reporting each problem to @rep. Inode table blocks that
 * are holes in a pool file are not read (free slots).
 * Context: mount (after journal replay) or fsck; runs alone.
 * Return: 0 (look at rep->problems) or -ENOMEM.
 */
int fs_load(struct dax_fs *fs, struct fs_report *rep)
{
	uint64_t *seen = calloc(fs->nr_words, sizeof(*seen));
	uint64_t ds = 0, de = 0; /* itable_hole()'s data range */
	int err = 0;

	if (!seen)
		return -ENOMEM;
	load_bitmap(fs, rep);
	seen_mark(seen, 0, fs->data_start);
	for (uint64_t ino = 0; ino < fs->nr_inodes && !err; ino++) {
		if (!(ino % DAX_FS_INODES_PER_BLOCK) &&
		    itable_hole(fs, fs->istart + ino / DAX_FS_INODES_PER_BLOCK,
				&ds, &de)) {
			ino += DAX_FS_INODES_PER_BLOCK - 1;
			continue;
		}
		err = load_inode(fs, (uint32_t)ino, seen, rep);
	}
	if (!err)
		check_bitmap(fs, seen, rep);
	free(seen);
	return err;
}
