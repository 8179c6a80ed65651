/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * alloc.c - the block allocator: an in-memory copy of the on-device
 * bitmap, searched for free runs, changed and logged by the transaction
 * that hands blocks out or takes them back.
 *
 * @fs is the filesystem, @b a device block, @n a count of blocks. A
 * "chunk" here is a 2 MiB-aligned run of 512 blocks (DAX_PMD_NR): the
 * unit of a PMD mapping.
 *
 * Policy: 2 MiB requests take a wholly free chunk (next fit from
 * huge_cursor). Smaller requests first try the block after the file's
 * previous page (so sequential writes stay contiguous and their extents
 * merge), then the first run long enough in a chunk that is already partly
 * used (so free chunks stay whole for PMD faults), then the first run long
 * enough anywhere, then the longest run there is.
 *
 * Space back to the host: blocks a transaction frees are noted (runs,
 * merged as they come) and punched out of a regular pool file once it has
 * committed, still under fs->lock, so none is handed out in between;
 * blocks handed out are zeroed and persisted all the same (device-DAX,
 * and a punch that failed, keep their old bytes).
 *
 * Locking: fs->lock. Invariant: fs->bitmap equals the on-device bitmap
 * between transactions, and free_blocks counts its zero bits in the data
 * area.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_priv.h"

#define CHUNK_BLOCKS 512ULL
#define CHUNK_WORDS (CHUNK_BLOCKS / 64)

/*
 * fs_bm_test() - is block @b in use?
 * Context: fs->lock held (or loading).
 * Return: true if its bit is set.
 */
bool fs_bm_test(const struct dax_fs *fs, uint64_t b)
{
	return fs->bitmap[b >> 6] >> (b & 63) & 1;
}

/*
 * fs_bm_mark() - set (@used) or clear the bits of blocks [@b, @b + @n) in
 * memory only; fs_bm_log() logs them.
 * Context: fs->lock held.
 */
void fs_bm_mark(struct dax_fs *fs, uint64_t b, uint64_t n, bool used)
{
	while (n) {
		uint64_t bit = b & 63;
		uint64_t k = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = (k == 64 ? ~0ULL : ((1ULL << k) - 1)) << bit;

		if (used)
			fs->bitmap[b >> 6] |= mask;
		else
			fs->bitmap[b >> 6] &= ~mask;
		b += k;
		n -= k;
	}
}

/*
 * fs_bm_log_cost() - journal bytes fs_bm_log() takes for [@b, @b + @n).
 * Context: any.
 * Return: the cost.
 */
size_t fs_bm_log_cost(uint64_t b, uint64_t n)
{
	return FS_TX_REC_COST(((b + n - 1) >> 3) - (b >> 3) + 1);
}

/*
 * fs_bm_log() - log the bitmap bytes that hold blocks [@b, @b + @n).
 * Context: fs->lock held, a transaction open with the room.
 */
void fs_bm_log(struct dax_fs *fs, uint64_t b, uint64_t n)
{
	uint64_t first = b >> 3, last = (b + n - 1) >> 3;

	fs_tx_log(fs, (fs->bstart << DAX_BLOCK_SHIFT) + first,
		  (const char *)fs->bitmap + first, last - first + 1);
}

/*
 * fs_blocks_take() / fs_blocks_give() - mark [@b, @b + @n) used / free,
 * log it and count it.
 * Context: fs->lock held, a transaction open with the room.
 */
void fs_blocks_take(struct dax_fs *fs, uint64_t b, uint64_t n)
{
	fs_bm_mark(fs, b, n, true);
	fs_bm_log(fs, b, n);
	fs->free_blocks -= n;
}

void fs_blocks_give(struct dax_fs *fs, uint64_t b, uint64_t n)
{
	struct fs_tx *tx = &fs->tx;
	struct fs_run *last =
		tx->nr_freed ? &tx->freed[tx->nr_freed - 1] : NULL;

	fs_bm_mark(fs, b, n, false);
	fs_bm_log(fs, b, n);
	fs->free_blocks += n;
	if (!tx->freed)
		return;
	if (last && last->block + last->nr == b) {
		last->nr += n;
	} else if (last && b + n == last->block) {
		last->block = b;
		last->nr += n;
	} else if (tx->nr_freed < tx->cap_freed) {
		tx->freed[tx->nr_freed].block = b;
		tx->freed[tx->nr_freed].nr = n;
		tx->nr_freed++;
	} else {
		/* Cannot happen (each run logged a bitmap byte): keep them. */
		fs->dev->punch_failed += n;
	}
}

static int cmp_run(const void *a, const void *b)
{
	const struct fs_run *x = a, *y = b;

	return x->block < y->block ? -1 : x->block > y->block;
}

/*
 * fs_punch_freed() - give the blocks the transaction just committed freed
 * back to the host: sorted, adjacent runs merged, one punch per run. A
 * failed punch costs host space, never data (dax_dev_punch()).
 * Context: fs->lock held (so none of them is handed out again meanwhile),
 * right after the commit; the engine unmapped them before they were freed.
 */
void fs_punch_freed(struct dax_fs *fs)
{
	struct fs_tx *tx = &fs->tx;
	size_t n = 0;

	if (!tx->nr_freed)
		return;
	qsort(tx->freed, tx->nr_freed, sizeof(*tx->freed), cmp_run);
	for (size_t i = 1; i < tx->nr_freed; i++) {
		struct fs_run *r = &tx->freed[n];

		if (r->block + r->nr == tx->freed[i].block)
			r->nr += tx->freed[i].nr;
		else
			tx->freed[++n] = tx->freed[i];
	}
	n++;
	for (size_t i = 0; i < n; i++)
		if (dax_dev_punch(fs->dev, tx->freed[i].block,
				  tx->freed[i].nr) == -EOPNOTSUPP)
			break; /* cannot punch here: nothing more to do */
	tx->nr_freed = 0;
}

/* First block >= @b and < @end whose bit is @used; @end if none. */
static uint64_t next_bit(const struct dax_fs *fs, uint64_t b, uint64_t end,
			 bool used)
{
	while (b < end) {
		uint64_t w = fs->bitmap[b >> 6];

		if (!used)
			w = ~w;
		w &= ~0ULL << (b & 63);
		if (w) {
			b = (b & ~63ULL) + (uint64_t)__builtin_ctzll(w);
			return b < end ? b : end;
		}
		b = (b | 63) + 1;
	}
	return end;
}

/*
 * The first free run of at least @want blocks in [@from, @to): true and
 * its start in *@start. Otherwise false, with the longest run seen kept in
 * *@best / *@best_len.
 */
static bool scan_runs(const struct dax_fs *fs, uint64_t from, uint64_t to,
		      uint64_t want, uint64_t *start, uint64_t *best,
		      uint64_t *best_len)
{
	uint64_t b = from;

	while (b < to) {
		uint64_t s = next_bit(fs, b, to, false), e, lim;

		if (s >= to)
			break;
		lim = to - s > want ? s + want : to;
		e = next_bit(fs, s, lim, true);
		if (e - s >= want) {
			*start = s;
			return true;
		}
		if (e - s > *best_len) {
			*best = s;
			*best_len = e - s;
		}
		b = e;
	}
	return false;
}

static bool chunk_free(const struct dax_fs *fs, uint64_t c)
{
	for (uint64_t i = 0; i < CHUNK_WORDS; i++)
		if (fs->bitmap[(c >> 6) + i])
			return false;
	return true;
}

/*
 * Pass 1: a run of @want in [@from, @to), looking only inside chunks that
 * are partly used (runs are cut at chunk boundaries).
 */
static bool scan_partial(const struct dax_fs *fs, uint64_t from, uint64_t to,
			 uint64_t want, uint64_t *start)
{
	uint64_t best = 0, best_len = 0;

	for (uint64_t c = from & ~(CHUNK_BLOCKS - 1); c < to;
	     c += CHUNK_BLOCKS) {
		uint64_t lo = c > from ? c : from;
		uint64_t hi = c + CHUNK_BLOCKS < to ? c + CHUNK_BLOCKS : to;

		if (c + CHUNK_BLOCKS <= fs->nr_blocks && chunk_free(fs, c))
			continue;
		if (scan_runs(fs, lo, hi, want, start, &best, &best_len))
			return true;
	}
	return false;
}

/*
 * fs_alloc_huge() - find a wholly free 2 MiB-aligned chunk of the data
 * area. Nothing is marked.
 * Context: fs->lock held.
 * Return: true and its first block in *@block, or false.
 */
bool fs_alloc_huge(struct dax_fs *fs, uint64_t *block)
{
	uint64_t first = (fs->data_start + CHUNK_BLOCKS - 1) &
			 ~(CHUNK_BLOCKS - 1);
	uint64_t end = fs->nr_blocks & ~(CHUNK_BLOCKS - 1);
	uint64_t n, c;

	if (first >= end || fs->free_blocks < CHUNK_BLOCKS)
		return false;
	n = (end - first) / CHUNK_BLOCKS;
	c = fs->huge_cursor;
	if (c < first || c >= end || (c & (CHUNK_BLOCKS - 1)))
		c = first;
	for (uint64_t i = 0; i < n; i++) {
		if (chunk_free(fs, c)) {
			*block = c;
			fs->huge_cursor = c + CHUNK_BLOCKS;
			return true;
		}
		c += CHUNK_BLOCKS;
		if (c >= end)
			c = first;
	}
	return false;
}

/*
 * fs_alloc_search() - find free blocks for a request of @want (1..512)
 * blocks, trying @goal first (0: none). Nothing is marked.
 * Context: fs->lock held.
 * Return: the number found (up to @want, contiguous, from *@block), or 0
 * if no block is free.
 */
uint64_t fs_alloc_search(struct dax_fs *fs, uint64_t goal, uint64_t want,
			 uint64_t *block)
{
	uint64_t lo = fs->data_start, hi = fs->nr_blocks;
	uint64_t cur = fs->small_cursor, best = 0, best_len = 0, s, e;

	if (!fs->free_blocks || !want)
		return 0;
	if (goal >= lo && goal < hi && !fs_bm_test(fs, goal)) {
		e = next_bit(fs, goal, hi - goal > want ? goal + want : hi,
			     true);
		*block = goal;
		return e - goal;
	}
	if (cur < lo || cur >= hi)
		cur = lo;
	if (want < CHUNK_BLOCKS &&
	    (scan_partial(fs, cur, hi, want, &s) ||
	     scan_partial(fs, lo, cur, want, &s)))
		goto found;
	if (scan_runs(fs, cur, hi, want, &s, &best, &best_len) ||
	    scan_runs(fs, lo, cur, want, &s, &best, &best_len))
		goto found;
	if (!best_len)
		return 0;
	*block = best;
	fs->small_cursor = best + best_len;
	return best_len;
found:
	*block = s;
	fs->small_cursor = s + want;
	return want;
}

/*
 * fs_punch_free_all() - mount: punch out every free data block that still
 * takes space on the host (freed before a crash got between a commit and
 * its punch, or by a udax that did not punch). Walks only the ranges the
 * host says hold data, so a pool that gave its space back costs a few
 * lseeks.
 * Context: mount, fs->lock held, after the orphans are freed.
 */
void fs_punch_free_all(struct dax_fs *fs)
{
	uint64_t pos = fs->data_start << DAX_BLOCK_SHIFT, s, e;

	while (dax_dev_can_punch(fs->dev) &&
	       !dax_dev_next_data(fs->dev, pos, &s, &e)) {
		uint64_t b = s >> DAX_BLOCK_SHIFT, end = e >> DAX_BLOCK_SHIFT;

		if (b < fs->data_start)
			b = fs->data_start;
		if (end > fs->nr_blocks)
			end = fs->nr_blocks;
		while (b < end) {
			uint64_t f = next_bit(fs, b, end, false);
			uint64_t u = next_bit(fs, f, end, true);

			if (f < u && dax_dev_punch(fs->dev, f, u - f) ==
					     -EOPNOTSUPP)
				return;
			b = u;
		}
		pos = e;
	}
}
