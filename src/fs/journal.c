/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * journal.c - the redo journal: one transaction at a time, built in memory
 * and committed before the call that made it returns.
 *
 * @fs is the filesystem, @tx its transaction (fs->tx), @jr a record.
 *
 * Commit, each step made durable before the next:
 *   1. the records (header, then (offset, len, bytes) writes) go to the
 *      journal's records area;
 *   2. the commit word (DAX_FS_JCOMMIT_MAGIC << 32 | crc32c of the
 *      records) goes to the journal's first 8 bytes, in one 8-byte store;
 *   3. the writes are applied in place, in log order (a later write to
 *      the same bytes wins);
 *   4. the commit word is cleared;
 *   5. blocks the transaction freed are punched out of a regular pool
 *      file (alloc.c; not durable, and needs no durability).
 * A crash before 2 leaves the old metadata and a zero commit word; after
 * 2, mount replays the records (idempotent: they are absolute bytes). The
 * commit word cannot be torn, so a commit word whose checksum does not
 * match its records was never validly written: mount ignores it as a torn
 * transaction, fsck reports it.
 *
 * Dirty lists: inodes and extent blocks changed in a transaction are
 * logged once at commit with their checksum recomputed; tx->pending is
 * the room that logging will take, so fs_tx_room() is what is really left.
 *
 * Locking: everything here runs under fs->lock (or on fsck's private
 * copy). Invariant: between calls no transaction is open and the commit
 * word on the device is zero.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_priv.h"

#define JHEAD_SIZE sizeof(struct dax_fs_jhead)

static uint64_t *commit_word(struct dax_fs *fs)
{
	return dax_dev_ptr(fs->dev, fs->jstart << DAX_BLOCK_SHIFT);
}

static char *records_area(struct dax_fs *fs)
{
	return dax_dev_ptr(fs->dev, (fs->jstart + 1) << DAX_BLOCK_SHIFT);
}

static void set_commit_word(struct dax_fs *fs, uint64_t word)
{
	uint64_t *w = commit_word(fs);

	/* One aligned 8-byte store: never torn on the device. */
	__atomic_store_n(w, word, __ATOMIC_RELEASE);
	dax_dev_persist(fs->dev, w, sizeof(*w));
}

/*
 * fs_tx_init() / fs_tx_destroy() - allocate / free the buffer the
 * transactions are built in.
 * Context: mount or unmount.
 * Return: 0 or -ENOMEM.
 */
int fs_tx_init(struct dax_fs *fs)
{
	fs->tx_cap = DAX_FS_JREC_AREA;
	fs->tx.buf = malloc(DAX_FS_JREC_AREA);
	if (!fs->tx.buf)
		return -ENOMEM;
	if (!dax_dev_can_punch(fs->dev))
		return 0;
	/* Each freed run logs at least one bitmap byte: this is enough. */
	fs->tx.cap_freed = DAX_FS_JREC_AREA / FS_TX_REC_COST(1);
	fs->tx.freed = malloc(fs->tx.cap_freed * sizeof(*fs->tx.freed));
	return fs->tx.freed ? 0 : -ENOMEM;
}

void fs_tx_destroy(struct dax_fs *fs)
{
	free(fs->tx.buf);
	fs->tx.buf = NULL;
	free(fs->tx.freed);
	fs->tx.freed = NULL;
}

/*
 * fs_tx_begin() - open an empty transaction.
 * Context: fs->lock held, no transaction open.
 */
void fs_tx_begin(struct dax_fs *fs)
{
	struct fs_tx *tx = &fs->tx;

	if (tx->open || fs->fsck) {
		UDAX_BUG("fs: transaction misuse");
	}
	tx->len = JHEAD_SIZE;
	tx->pending = 0;
	tx->nr = 0;
	tx->inodes = NULL;
	tx->eblks = NULL;
	tx->nr_freed = 0;
	tx->open = true;
}

/*
 * fs_tx_room() - bytes that can still be logged in the open transaction.
 * Context: fs->lock held, a transaction open.
 * Return: the room, in journal bytes (see FS_TX_REC_COST()).
 */
size_t fs_tx_room(struct dax_fs *fs)
{
	struct fs_tx *tx = &fs->tx;

	return fs->tx_cap - tx->len - tx->pending;
}

/*
 * fs_tx_log() - log that @len bytes from @src are to be written at device
 * byte @offset. The bytes are copied now: later changes to @src need
 * logging again.
 * Context: fs->lock held, a transaction open with the room (the caller
 * reserved it: running out is a bug and aborts).
 */
void fs_tx_log(struct dax_fs *fs, uint64_t offset, const void *src,
	       size_t len)
{
	struct fs_tx *tx = &fs->tx;
	struct dax_fs_jrec jr = { .offset = offset, .len = (uint32_t)len };
	size_t cost = FS_TX_REC_COST(len);

	if (!tx->open || !len || cost > fs_tx_room(fs)) {
		UDAX_BUG("fs: journal overflow (%zu bytes)", len);
	}
	memcpy(tx->buf + tx->len, &jr, sizeof(jr));
	memcpy(tx->buf + tx->len + sizeof(jr), src, len);
	memset(tx->buf + tx->len + sizeof(jr) + len, 0,
	       cost - sizeof(jr) - len);
	tx->len += cost;
	tx->nr++;
}

/*
 * fs_tx_dirty_inode() - log @ip's on-device image at commit.
 * Context: fs->lock held, a transaction open.
 */
void fs_tx_dirty_inode(struct dax_fs *fs, struct dax_inode *ip)
{
	if (ip->dirty)
		return;
	if (fs_tx_room(fs) < FS_TX_REC_COST(DAX_FS_INODE_SIZE)) {
		UDAX_BUG("fs: journal overflow (inode)");
	}
	ip->dirty = true;
	ip->tx_next = fs->tx.inodes;
	fs->tx.inodes = ip;
	fs->tx.pending += FS_TX_REC_COST(DAX_FS_INODE_SIZE);
}

static size_t eblk_cost(const struct fs_eblk *eb)
{
	return FS_TX_REC_COST(eb->fresh ? DAX_BLOCK_SIZE : sizeof(uint32_t));
}

/*
 * fs_tx_dirty_eblk() - log @eb's checksum (or, if fresh, all of it) at
 * commit; the records changed in it are logged by the caller.
 * Context: fs->lock held, a transaction open.
 */
void fs_tx_dirty_eblk(struct dax_fs *fs, struct fs_eblk *eb)
{
	if (eb->dirty)
		return;
	if (fs_tx_room(fs) < eblk_cost(eb)) {
		UDAX_BUG("fs: journal overflow (extent block)");
	}
	eb->dirty = true;
	eb->tx_next = fs->tx.eblks;
	fs->tx.eblks = eb;
	fs->tx.pending += eblk_cost(eb);
}

/*
 * fs_tx_dead_eblk() - @eb was freed in this transaction: forget it and
 * free its memory (nothing refers to it any more).
 * Context: fs->lock held, a transaction open.
 */
void fs_tx_dead_eblk(struct dax_fs *fs, struct fs_eblk *eb)
{
	struct fs_eblk **pp;

	if (eb->dirty) {
		for (pp = &fs->tx.eblks; *pp != eb; pp = &(*pp)->tx_next)
			;
		*pp = eb->tx_next;
		fs->tx.pending -= eblk_cost(eb);
	}
	free(eb);
}

/* Log the dirty inodes and extent blocks, checksums recomputed. */
static void tx_log_dirty(struct dax_fs *fs)
{
	struct fs_tx *tx = &fs->tx;
	struct dax_inode *ip;
	struct fs_eblk *eb;

	/* Their room is in tx->pending: hand it back as we use it. */
	while ((ip = tx->inodes)) {
		tx->inodes = ip->tx_next;
		tx->pending -= FS_TX_REC_COST(DAX_FS_INODE_SIZE);
		ip->dirty = false;
		if (ip->disk.flags)
			ip->disk.csum =
				fs_csum(&ip->disk, sizeof(ip->disk),
					offsetof(struct dax_fs_inode, csum));
		else
			memset(&ip->disk, 0, sizeof(ip->disk)); /* freed */
		fs_tx_log(fs, fs_inode_offset(fs, ip->ino), &ip->disk,
			  sizeof(ip->disk));
	}
	while ((eb = tx->eblks)) {
		tx->eblks = eb->tx_next;
		tx->pending -= eblk_cost(eb);
		eb->dirty = false;
		eb->img.csum = fs_csum(&eb->img, sizeof(eb->img),
				       offsetof(struct dax_fs_eblock, csum));
		if (eb->fresh)
			fs_tx_log(fs, eb->blkno << DAX_BLOCK_SHIFT, &eb->img,
				  sizeof(eb->img));
		else
			fs_tx_log(fs,
				  (eb->blkno << DAX_BLOCK_SHIFT) +
					  offsetof(struct dax_fs_eblock, csum),
				  &eb->img.csum, sizeof(eb->img.csum));
		eb->fresh = false;
	}
}

/* Write every record of @buf (validated) in place; flush, then drain. */
static void apply_records(struct dax_fs *fs, const char *buf, size_t bytes)
{
	size_t pos = JHEAD_SIZE;

	while (pos < bytes) {
		struct dax_fs_jrec jr;
		char *dst;

		memcpy(&jr, buf + pos, sizeof(jr));
		dst = dax_dev_ptr(fs->dev, jr.offset);
		memcpy(dst, buf + pos + sizeof(jr), jr.len);
		dax_dev_flush(fs->dev, dst, jr.len);
		pos += FS_TX_REC_COST(jr.len);
	}
	dax_dev_drain(fs->dev);
}

/*
 * fs_tx_commit() - make the open transaction durable and apply it, then
 * close it. An empty transaction writes nothing.
 * Context: fs->lock held, a transaction open. Cannot fail.
 */
void fs_tx_commit(struct dax_fs *fs)
{
	struct fs_tx *tx = &fs->tx;
	struct dax_fs_jhead jh = { .magic = DAX_FS_JHEAD_MAGIC };
	uint32_t crc;

	tx_log_dirty(fs);
	tx->open = false;
	if (!tx->nr)
		return;
	jh.nr = tx->nr;
	jh.seq = fs->seq++;
	jh.bytes = tx->len;
	memcpy(tx->buf, &jh, sizeof(jh));
	crc = ~fs_crc32c(~0U, tx->buf, tx->len);

	memcpy(records_area(fs), tx->buf, tx->len);
	dax_dev_persist(fs->dev, records_area(fs), tx->len);
	set_commit_word(fs, (uint64_t)DAX_FS_JCOMMIT_MAGIC << 32 | crc);
	apply_records(fs, tx->buf, tx->len);
	set_commit_word(fs, 0);
	fs->commits++;
	/* Only now are the freed blocks free for good, even after a crash. */
	fs_punch_freed(fs);
}

/*
 * fs_tx_make_room() - make sure @need bytes can be logged: if they do not
 * fit, commit what is logged and open a new transaction. Only for calls
 * whose work may span several transactions, each consistent on its own.
 * Context: fs->lock held, a transaction open.
 */
void fs_tx_make_room(struct dax_fs *fs, size_t need)
{
	if (fs_tx_room(fs) >= need)
		return;
	fs_tx_commit(fs);
	fs_tx_begin(fs);
}

/*
 * Walk the records of a transaction of @bytes bytes at @buf (checksum
 * already verified) and check that each targets the inode table, the
 * bitmap or the data area, and that they fill @bytes exactly.
 */
static bool records_valid(struct dax_fs *fs, const char *buf, uint64_t bytes,
			  uint32_t nr, struct fs_report *rep)
{
	uint64_t lo = fs->istart << DAX_BLOCK_SHIFT;
	uint64_t hi = fs->nr_blocks << DAX_BLOCK_SHIFT;
	uint64_t pos = JHEAD_SIZE;

	for (uint32_t i = 0; i < nr; i++) {
		struct dax_fs_jrec jr;

		if (bytes - pos < sizeof(jr)) {
			fs_report(rep, "journal: record %u runs past the end",
				  i);
			return false;
		}
		memcpy(&jr, buf + pos, sizeof(jr));
		if (!jr.len || FS_TX_REC_COST(jr.len) > bytes - pos) {
			fs_report(rep, "journal: record %u has length %u", i,
				  jr.len);
			return false;
		}
		if (jr.offset < lo || jr.offset > hi ||
		    jr.len > hi - jr.offset) {
			fs_report(rep,
				  "journal: record %u writes outside the "
				  "metadata (offset %llu, length %u)",
				  i, (unsigned long long)jr.offset, jr.len);
			return false;
		}
		pos += FS_TX_REC_COST(jr.len);
	}
	if (pos != bytes) {
		fs_report(rep, "journal: %llu stray bytes after the records",
			  (unsigned long long)(bytes - pos));
		return false;
	}
	return true;
}

/*
 * fs_journal_check() - look at the journal: no transaction, a committed
 * one to replay, or a torn one to ignore (reported only by fsck).
 * Context: mount or fsck, before anything else reads the metadata.
 * Return: 0 and *@state, or -EUCLEAN (reported) if the journal is corrupt.
 */
int fs_journal_check(struct dax_fs *fs, struct fs_report *rep,
		     enum fs_jstate *state)
{
	const char *blk = (const char *)commit_word(fs);
	const char *recs = records_area(fs);
	struct dax_fs_jhead jh;
	uint64_t word;
	int err = 0;

	*state = FS_JOURNAL_CLEAN;
	for (size_t i = sizeof(word); i < DAX_BLOCK_SIZE; i++) {
		if (blk[i]) {
			fs_report(rep,
				  "journal: commit block byte %zu is 0x%02x, "
				  "should be zero",
				  i, (unsigned char)blk[i]);
			err = -EUCLEAN;
			break;
		}
	}
	memcpy(&word, blk, sizeof(word));
	if (!word)
		return err;
	if (word >> 32 != DAX_FS_JCOMMIT_MAGIC) {
		fs_report(rep, "journal: bad commit word 0x%016llx",
			  (unsigned long long)word);
		return -EUCLEAN;
	}
	memcpy(&jh, recs, sizeof(jh));
	if (jh.magic != DAX_FS_JHEAD_MAGIC || jh.bytes < JHEAD_SIZE ||
	    jh.bytes > DAX_FS_JREC_AREA ||
	    (uint32_t)~fs_crc32c(~0U, recs, jh.bytes) != (uint32_t)word) {
		*state = FS_JOURNAL_TORN;
		if (fs->fsck)
			fs_report(rep,
				  "journal: the commit word does not match "
				  "the records (torn transaction, mount "
				  "discards it)");
		return err;
	}
	if (!records_valid(fs, recs, jh.bytes, jh.nr, rep))
		return -EUCLEAN;
	*state = FS_JOURNAL_COMMITTED;
	return err;
}

/*
 * fs_journal_replay() - mount: apply a committed transaction (again) and
 * clear the commit word; clear a torn one.
 * Context: mount, after fs_journal_check() returned 0 and @state.
 */
void fs_journal_replay(struct dax_fs *fs, enum fs_jstate state)
{
	const char *recs = records_area(fs);
	struct dax_fs_jhead jh;

	if (state == FS_JOURNAL_CLEAN)
		return;
	if (state == FS_JOURNAL_COMMITTED) {
		memcpy(&jh, recs, sizeof(jh));
		apply_records(fs, recs, jh.bytes);
		fs->seq = jh.seq + 1;
		fs->replayed++;
	}
	set_commit_word(fs, 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * fs_overlay_build() - fsck: make fs_meta() see the metadata as it will
 * be after the committed transaction in the journal is replayed, without
 * writing the device.
 * Context: fsck, after fs_journal_check() said FS_JOURNAL_COMMITTED.
 * Return: 0 or -ENOMEM.
 */
int fs_overlay_build(struct dax_fs *fs)
{
	const char *recs = records_area(fs);
	struct fs_overlay *ov;
	struct dax_fs_jhead jh;
	uint64_t n = 0, pos;

	memcpy(&jh, recs, sizeof(jh));
	ov = calloc(1, sizeof(*ov));
	if (!ov)
		return -ENOMEM;
	fs->ov = ov;
	/* A record spans at most len / 4096 + 2 blocks. */
	for (pos = JHEAD_SIZE; pos < jh.bytes;) {
		struct dax_fs_jrec jr;

		memcpy(&jr, recs + pos, sizeof(jr));
		n += jr.len / DAX_BLOCK_SIZE + 2;
		pos += FS_TX_REC_COST(jr.len);
	}
	ov->blkno = malloc(n * sizeof(*ov->blkno) + 1);
	if (!ov->blkno)
		return -ENOMEM;
	for (pos = JHEAD_SIZE; pos < jh.bytes;) {
		struct dax_fs_jrec jr;
		uint64_t b;

		memcpy(&jr, recs + pos, sizeof(jr));
		for (b = jr.offset >> DAX_BLOCK_SHIFT;
		     b <= (jr.offset + jr.len - 1) >> DAX_BLOCK_SHIFT; b++)
			ov->blkno[ov->nr++] = b;
		pos += FS_TX_REC_COST(jr.len);
	}
	qsort(ov->blkno, ov->nr, sizeof(*ov->blkno), cmp_u64);
	n = 0;
	for (uint64_t i = 0; i < ov->nr; i++)
		if (!n || ov->blkno[n - 1] != ov->blkno[i])
			ov->blkno[n++] = ov->blkno[i];
	ov->nr = n;
	ov->data = calloc(n + 1, sizeof(*ov->data));
	if (!ov->data)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		ov->data[i] = malloc(DAX_BLOCK_SIZE);
		if (!ov->data[i])
			return -ENOMEM;
		memcpy(ov->data[i], dax_dev_block(fs->dev, ov->blkno[i]),
		       DAX_BLOCK_SIZE);
	}
	for (pos = JHEAD_SIZE; pos < jh.bytes;) {
		struct dax_fs_jrec jr;
		uint64_t off, done = 0;

		memcpy(&jr, recs + pos, sizeof(jr));
		while (done < jr.len) {
			uint64_t at = jr.offset + done;
			uint64_t b = at >> DAX_BLOCK_SHIFT;
			uint64_t *hit;
			uint64_t chunk;

			off = at & (DAX_BLOCK_SIZE - 1);
			chunk = DAX_BLOCK_SIZE - off;
			if (chunk > jr.len - done)
				chunk = jr.len - done;
			hit = bsearch(&b, ov->blkno, ov->nr, sizeof(b),
				      cmp_u64);
			memcpy(ov->data[hit - ov->blkno] + off,
			       recs + pos + sizeof(jr) + done, chunk);
			done += chunk;
		}
		pos += FS_TX_REC_COST(jr.len);
	}
	return 0;
}

/*
 * fs_overlay_free() - drop fsck's overlay (if any).
 * Context: fsck.
 */
void fs_overlay_free(struct dax_fs *fs)
{
	struct fs_overlay *ov = fs->ov;

	if (!ov)
		return;
	if (ov->data)
		for (uint64_t i = 0; i < ov->nr; i++)
			free(ov->data[i]);
	free(ov->data);
	free(ov->blkno);
	free(ov);
	fs->ov = NULL;
}

/*
 * fs_meta() - the current contents of metadata block @blkno (which the
 * caller checked is on the device): the device itself, or fsck's overlay.
 * Context: mount or fsck (loading).
 * Return: a read-only pointer to DAX_BLOCK_SIZE bytes.
 */
const void *fs_meta(struct dax_fs *fs, uint64_t blkno)
{
	if (fs->ov && fs->ov->nr) {
		uint64_t *hit = bsearch(&blkno, fs->ov->blkno, fs->ov->nr,
					sizeof(blkno), cmp_u64);

		if (hit)
			return fs->ov->data[hit - fs->ov->blkno];
	}
	return dax_dev_block(fs->dev, blkno);
}
