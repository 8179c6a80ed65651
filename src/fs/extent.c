/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * extent.c - a file's blocks: the page map, the extent records and
 * extent blocks that make it persistent, iomap (lookup and allocation)
 * and freeing page ranges.
 *
 * @ip is the inode, @fs its filesystem, @h a record handle (index into
 * ip->recs), @r a record, @eb an extent block, @slot a record's place in
 * the inode (inline) or in its extent block.
 *
 * A record covers pages [page, page + count) with blocks [block, block +
 * count). Every mapped page's chunk holds the block and the handle of its
 * record. Allocation merges the new run into the record that ends just
 * before it and/or the one that starts just after it when the blocks are
 * contiguous too, so sequential writes make one record. Freeing a range
 * inside one record splits it (one new record) before trimming.
 *
 * Locking: fs->lock for everything, except fs_map_block() and the lookup
 * half of dax_inode_iomap(), which read the page map with acquire loads
 * and no lock. Block words are stored (release) only after the
 * transaction that assigns the blocks commits, and the blocks were zeroed
 * and persisted before it, so a lock-free reader that sees a block sees
 * it durable and zeroed. Words are cleared before the blocks are freed;
 * the engine has unmapped those pages and holds the mmap lock exclusive,
 * so no fault is looking them up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_priv.h"

#define PMD_PAGES 512U

/* ---- page map ---- */

static struct fs_chunk *chunk_get(struct dax_inode *ip, uint64_t c)
{
	struct fs_l1 *l1 =
		atomic_load_explicit(&ip->pmap, memory_order_acquire);
	struct fs_l2 *l2;

	if (!l1)
		return NULL;
	l2 = atomic_load_explicit(&l1->l2[c >> FS_L2_SHIFT],
				  memory_order_acquire);
	if (!l2)
		return NULL;
	return atomic_load_explicit(&l2->chunk[c & (FS_L2_SIZE - 1)],
				    memory_order_acquire);
}

/*
 * fs_map_block() - the device block of @page of @ip.
 * Context: any; no lock needed (see the file comment).
 * Return: the block, or 0 for a hole.
 */
uint64_t fs_map_block(struct dax_inode *ip, uint64_t page)
{
	struct fs_chunk *ch;

	if (page >= DAX_FS_MAX_FILE_PAGES)
		return 0;
	ch = chunk_get(ip, page >> FS_CHUNK_SHIFT);
	if (!ch)
		return 0;
	return atomic_load_explicit(&ch->block[page & (FS_CHUNK_PAGES - 1)],
				    memory_order_acquire);
}

/*
 * fs_map_handle() - the record of mapped @page of @ip.
 * Context: fs->lock held.
 * Return: its handle, or FS_NONE for a hole.
 */
uint32_t fs_map_handle(struct dax_inode *ip, uint64_t page)
{
	struct fs_chunk *ch;

	if (!fs_map_block(ip, page))
		return FS_NONE;
	ch = chunk_get(ip, page >> FS_CHUNK_SHIFT);
	return ch->handle[page & (FS_CHUNK_PAGES - 1)];
}

/*
 * fs_map_reserve() - make sure the page map has the levels for pages
 * [@page, @page + @nr) (new levels are all holes, so nothing visible
 * changes).
 * Context: fs->lock held (or loading).
 * Return: 0 or -ENOMEM.
 */
int fs_map_reserve(struct dax_inode *ip, uint64_t page, uint64_t nr)
{
	uint64_t c, last = (page + nr - 1) >> FS_CHUNK_SHIFT;
	struct fs_l1 *l1 =
		atomic_load_explicit(&ip->pmap, memory_order_relaxed);

	if (!l1) {
		l1 = calloc(1, sizeof(*l1));
		if (!l1)
			return -ENOMEM;
		atomic_store_explicit(&ip->pmap, l1, memory_order_release);
	}
	for (c = page >> FS_CHUNK_SHIFT; c <= last; c++) {
		struct fs_l2 *l2 = atomic_load_explicit(
			&l1->l2[c >> FS_L2_SHIFT], memory_order_relaxed);
		struct fs_chunk *ch;

		if (!l2) {
			l2 = calloc(1, sizeof(*l2));
			if (!l2)
				return -ENOMEM;
			atomic_store_explicit(&l1->l2[c >> FS_L2_SHIFT], l2,
					      memory_order_release);
		}
		ch = atomic_load_explicit(&l2->chunk[c & (FS_L2_SIZE - 1)],
					  memory_order_relaxed);
		if (ch)
			continue;
		ch = calloc(1, sizeof(*ch));
		if (!ch)
			return -ENOMEM;
		memset(ch->handle, 0xff, sizeof(ch->handle));
		atomic_store_explicit(&l2->chunk[c & (FS_L2_SIZE - 1)], ch,
				      memory_order_release);
	}
	return 0;
}

/* Set @page's block (0: hole) and record; its chunk exists. */
static void map_set(struct dax_inode *ip, uint64_t page, uint64_t block,
		    uint32_t h)
{
	struct fs_chunk *ch = chunk_get(ip, page >> FS_CHUNK_SHIFT);
	uint64_t i = page & (FS_CHUNK_PAGES - 1);

	ch->handle[i] = h;
	atomic_store_explicit(&ch->block[i], block, memory_order_release);
}

static void map_set_handle(struct dax_inode *ip, uint64_t page, uint64_t nr,
			   uint32_t h)
{
	for (uint64_t p = page; p < page + nr; p++)
		chunk_get(ip, p >> FS_CHUNK_SHIFT)
			->handle[p & (FS_CHUNK_PAGES - 1)] = h;
}

/*
 * fs_map_range_free() - are pages [@page, @page + @nr) all holes?
 * Context: loading.
 * Return: true if none is mapped.
 */
bool fs_map_range_free(struct dax_inode *ip, uint64_t page, uint64_t nr)
{
	for (uint64_t p = page; p < page + nr; p++) {
		if (!chunk_get(ip, p >> FS_CHUNK_SHIFT)) {
			p |= FS_CHUNK_PAGES - 1;
			continue;
		}
		if (fs_map_block(ip, p))
			return false;
	}
	return true;
}

/*
 * fs_map_free() - free the page map of @ip.
 * Context: the inode is unreachable (no lock-free reader left).
 */
void fs_map_free(struct dax_inode *ip)
{
	struct fs_l1 *l1 =
		atomic_load_explicit(&ip->pmap, memory_order_relaxed);

	if (!l1)
		return;
	for (uint32_t i = 0; i < FS_L1_SIZE; i++) {
		struct fs_l2 *l2 = atomic_load_explicit(&l1->l2[i],
							memory_order_relaxed);

		if (!l2)
			continue;
		for (uint32_t j = 0; j < FS_L2_SIZE; j++)
			free(atomic_load_explicit(&l2->chunk[j],
						  memory_order_relaxed));
		free(l2);
	}
	free(l1);
	atomic_store_explicit(&ip->pmap, NULL, memory_order_relaxed);
}

/* Pages from @index (mapped at @block) that map contiguously, up to @nr. */
static uint64_t mapped_run(struct dax_inode *ip, uint64_t index,
			   uint64_t block, uint64_t nr)
{
	uint64_t run = 1;

	while (run < nr) {
		uint64_t p = index + run;
		struct fs_chunk *ch = chunk_get(ip, p >> FS_CHUNK_SHIFT);

		if (!ch)
			break;
		for (uint64_t i = p & (FS_CHUNK_PAGES - 1);
		     i < FS_CHUNK_PAGES && run < nr; i++, run++)
			if (atomic_load_explicit(&ch->block[i],
						 memory_order_acquire) !=
			    block + run)
				return run;
	}
	return run;
}

/*
 * The chunk holding @page, or NULL and in *@skip the pages from @page to
 * the end of the missing level (chunk, l2 or the whole map).
 */
static struct fs_chunk *chunk_or_skip(struct dax_inode *ip, uint64_t page,
				      uint64_t *skip)
{
	struct fs_l1 *l1 =
		atomic_load_explicit(&ip->pmap, memory_order_acquire);
	uint64_t c = page >> FS_CHUNK_SHIFT;
	struct fs_chunk *ch;
	struct fs_l2 *l2;

	if (!l1) {
		*skip = DAX_FS_MAX_FILE_PAGES - page;
		return NULL;
	}
	l2 = atomic_load_explicit(&l1->l2[c >> FS_L2_SHIFT],
				  memory_order_acquire);
	if (!l2) {
		*skip = (((c >> FS_L2_SHIFT) + 1)
			 << (FS_L2_SHIFT + FS_CHUNK_SHIFT)) - page;
		return NULL;
	}
	ch = atomic_load_explicit(&l2->chunk[c & (FS_L2_SIZE - 1)],
				  memory_order_acquire);
	if (!ch)
		*skip = FS_CHUNK_PAGES - (page & (FS_CHUNK_PAGES - 1));
	return ch;
}

/* Holes from @index on, up to @nr (@index + @nr within the maximum). */
static uint64_t hole_run(struct dax_inode *ip, uint64_t index, uint64_t nr)
{
	uint64_t run = 0, skip;

	while (run < nr) {
		uint64_t p = index + run;
		struct fs_chunk *ch = chunk_or_skip(ip, p, &skip);
		uint64_t i = p & (FS_CHUNK_PAGES - 1);

		if (!ch) {
			run += skip;
			continue;
		}
		for (; i < FS_CHUNK_PAGES && run < nr; i++, run++)
			if (atomic_load_explicit(&ch->block[i],
						 memory_order_acquire))
				return run;
	}
	return run < nr ? run : nr;
}

/*
 * Extend the run @map describes backwards inside its 2 MiB window (one
 * chunk of the page map): mapped pages whose blocks continue the run, or
 * holes before a hole. Lock-free, as the forward scans.
 */
static void run_back(struct dax_inode *ip, struct dax_iomap *map)
{
	uint64_t start = map->index & ~(uint64_t)(FS_CHUNK_PAGES - 1);
	struct fs_chunk *ch = chunk_get(ip, map->index >> FS_CHUNK_SHIFT);

	while (map->index > start) {
		uint64_t p = map->index - 1;
		uint64_t b = ch ? atomic_load_explicit(
					  &ch->block[p & (FS_CHUNK_PAGES - 1)],
					  memory_order_acquire)
				: 0;

		if (map->type == DAX_IOMAP_MAPPED ? b != map->block - 1 : b)
			break;
		map->index = p;
		map->nr++;
		if (map->type == DAX_IOMAP_MAPPED)
			map->block--;
	}
}

/* ---- record handles ---- */

/*
 * fs_rec_reserve() - make sure @nr record handles are free.
 * Context: fs->lock held (or loading).
 * Return: 0 or -ENOMEM.
 */
int fs_rec_reserve(struct dax_inode *ip, uint32_t nr)
{
	uint32_t grow, n;
	struct fs_rec *recs;

	if (ip->nr_free_recs >= nr)
		return 0;
	grow = ip->nr_recs / 2 > 16 ? ip->nr_recs / 2 : 16;
	if (grow < nr)
		grow = nr;
	if (ip->nr_recs > FS_NONE - 1 - grow)
		return -ENOMEM;
	n = ip->nr_recs + grow;
	recs = realloc(ip->recs, (size_t)n * sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	ip->recs = recs;
	for (uint32_t h = n; h-- > ip->nr_recs;) {
		memset(&recs[h], 0, sizeof(recs[h]));
		recs[h].slot = ip->free_rec;
		ip->free_rec = h;
	}
	ip->nr_free_recs += grow;
	ip->nr_recs = n;
	return 0;
}

/*
 * fs_rec_get() - take a reserved record handle.
 * Context: fs->lock held (or loading), after fs_rec_reserve().
 * Return: the handle.
 */
uint32_t fs_rec_get(struct dax_inode *ip)
{
	uint32_t h = ip->free_rec;

	ip->free_rec = ip->recs[h].slot;
	ip->nr_free_recs--;
	memset(&ip->recs[h], 0, sizeof(ip->recs[h]));
	return h;
}

static void rec_put(struct dax_inode *ip, uint32_t h)
{
	memset(&ip->recs[h], 0, sizeof(ip->recs[h]));
	ip->recs[h].slot = ip->free_rec;
	ip->free_rec = h;
	ip->nr_free_recs++;
}

/* ---- slots and extent blocks ---- */

static bool slot_avail(struct dax_inode *ip)
{
	for (int i = 0; i < DAX_FS_INLINE_EXT; i++)
		if (ip->inline_handle[i] == FS_NONE)
			return true;
	for (struct fs_eblk *eb = ip->eb_head; eb; eb = eb->next)
		if (eb->live < DAX_FS_EXT_PER_BLOCK)
			return true;
	return false;
}

/* Give record @h a free on-device slot (one exists). */
static void slot_assign(struct dax_inode *ip, uint32_t h)
{
	struct fs_rec *r = &ip->recs[h];

	for (uint32_t i = 0; i < DAX_FS_INLINE_EXT; i++) {
		if (ip->inline_handle[i] == FS_NONE) {
			ip->inline_handle[i] = h;
			r->eb = NULL;
			r->slot = i;
			return;
		}
	}
	for (struct fs_eblk *eb = ip->eb_head; eb; eb = eb->next) {
		if (eb->live == DAX_FS_EXT_PER_BLOCK)
			continue;
		for (uint32_t i = 0; i < DAX_FS_EXT_PER_BLOCK; i++) {
			if (eb->handle[i] == FS_NONE) {
				eb->handle[i] = h;
				eb->live++;
				r->eb = eb;
				r->slot = i;
				return;
			}
		}
	}
	UDAX_BUG("no extent slot: callers check slot_avail() first");
}

/* Write record @h (count 0: a cleared slot) to its slot and log it. */
static void rec_write(struct dax_inode *ip, uint32_t h)
{
	struct fs_rec *r = &ip->recs[h];
	struct dax_fs_extent e = { 0 };
	struct fs_eblk *eb = r->eb;

	if (r->count) {
		e.page = r->page;
		e.count = r->count;
		e.block = r->block;
	}
	if (!eb) {
		ip->disk.ext[r->slot] = e;
		fs_tx_dirty_inode(ip->fs, ip);
		return;
	}
	eb->img.rec[r->slot] = e;
	if (!eb->fresh)
		fs_tx_log(ip->fs,
			  (eb->blkno << DAX_BLOCK_SHIFT) +
				  offsetof(struct dax_fs_eblock, rec) +
				  r->slot * sizeof(e),
			  &e, sizeof(e));
	fs_tx_dirty_eblk(ip->fs, eb);
}

/* Point @eb's predecessor (or the inode) at @next, and log it. */
static void eblk_set_prev_link(struct dax_inode *ip, struct fs_eblk *prev,
			       uint64_t next)
{
	if (!prev) {
		ip->disk.ext_head = next;
		fs_tx_dirty_inode(ip->fs, ip);
		return;
	}
	prev->img.next = next;
	if (!prev->fresh)
		fs_tx_log(ip->fs,
			  (prev->blkno << DAX_BLOCK_SHIFT) +
				  offsetof(struct dax_fs_eblock, next),
			  &prev->img.next, sizeof(prev->img.next));
	fs_tx_dirty_eblk(ip->fs, prev);
}

/* Put new extent block @eb, at free block @blkno, at the chain's end. */
static void eblk_link(struct dax_inode *ip, struct fs_eblk *eb, uint64_t blkno)
{
	struct dax_fs *fs = ip->fs;

	memset(&eb->img, 0, sizeof(eb->img));
	eb->img.magic = DAX_FS_EBLOCK_MAGIC;
	eb->img.ino = ip->ino;
	eb->img.generation = ip->disk.generation;
	memset(eb->handle, 0xff, sizeof(eb->handle));
	eb->blkno = blkno;
	eb->live = 0;
	eb->fresh = true;
	eb->dirty = false;
	fs_blocks_take(fs, blkno, 1);
	eblk_set_prev_link(ip, ip->eb_tail, blkno);
	eb->prev = ip->eb_tail;
	eb->next = NULL;
	if (ip->eb_tail)
		ip->eb_tail->next = eb;
	else
		ip->eb_head = eb;
	ip->eb_tail = eb;
	ip->nr_eblks++;
	ip->disk.nr_eblocks = ip->nr_eblks;
	fs_tx_dirty_inode(fs, ip);
	fs_tx_dirty_eblk(fs, eb);
}

/* Take empty extent block @eb out of the chain and free it. */
static void eblk_unlink(struct dax_inode *ip, struct fs_eblk *eb)
{
	struct dax_fs *fs = ip->fs;

	eblk_set_prev_link(ip, eb->prev, eb->next ? eb->next->blkno : 0);
	if (eb->prev)
		eb->prev->next = eb->next;
	else
		ip->eb_head = eb->next;
	if (eb->next)
		eb->next->prev = eb->prev;
	else
		ip->eb_tail = eb->prev;
	ip->nr_eblks--;
	ip->disk.nr_eblocks = ip->nr_eblks;
	fs_tx_dirty_inode(fs, ip);
	fs_blocks_give(fs, eb->blkno, 1);
	fs_tx_dead_eblk(fs, eb);
}

/* Clear record @h's slot, free the handle (and an emptied extent block). */
static void rec_drop(struct dax_inode *ip, uint32_t h)
{
	struct fs_rec *r = &ip->recs[h];
	struct fs_eblk *eb = r->eb;

	r->count = 0;
	rec_write(ip, h);
	if (!eb) {
		ip->inline_handle[r->slot] = FS_NONE;
	} else {
		eb->handle[r->slot] = FS_NONE;
		if (!--eb->live)
			eblk_unlink(ip, eb);
	}
	rec_put(ip, h);
}

/*
 * fs_rec_load() - loading: install on-device record @e of @ip, found in
 * @slot of @eb (NULL: inline). The caller has checked it: in bounds, its
 * blocks owned by nobody else, its pages holes.
 * Context: loading, single-threaded.
 * Return: 0 or -ENOMEM.
 */
int fs_rec_load(struct dax_inode *ip, struct fs_eblk *eb, uint32_t slot,
		const struct dax_fs_extent *e)
{
	struct fs_rec *r;
	uint32_t h;
	int err;

	err = fs_map_reserve(ip, e->page, e->count);
	if (!err)
		err = fs_rec_reserve(ip, 1);
	if (err)
		return err;
	h = fs_rec_get(ip);
	r = &ip->recs[h];
	r->page = e->page;
	r->count = e->count;
	r->block = e->block;
	r->eb = eb;
	r->slot = slot;
	if (eb) {
		eb->handle[slot] = h;
		eb->live++;
	} else {
		ip->inline_handle[slot] = h;
	}
	for (uint32_t i = 0; i < e->count; i++)
		map_set(ip, e->page + i, e->block + i, h);
	ip->nr_blocks += e->count;
	return 0;
}

/* ---- iomap ---- */

/* Space for one new record: a free slot, or a new extent block. */
struct slot_resv {
	struct fs_eblk *eb; /* NULL: a slot is free, or none reserved */
	uint64_t blkno;
};

static int slot_reserve(struct dax_inode *ip, struct slot_resv *sr)
{
	struct dax_fs *fs = ip->fs;

	sr->eb = NULL;
	if (slot_avail(ip))
		return 0;
	sr->eb = malloc(sizeof(*sr->eb));
	if (!sr->eb)
		return -ENOMEM;
	if (!fs_alloc_search(fs, 0, 1, &sr->blkno)) {
		free(sr->eb);
		sr->eb = NULL;
		return -ENOSPC;
	}
	/* Keep it from the data search until the transaction takes it. */
	fs_bm_mark(fs, sr->blkno, 1, true);
	fs->free_blocks--;
	return 0;
}

static void slot_unreserve(struct dax_inode *ip, struct slot_resv *sr)
{
	if (!sr->eb)
		return;
	fs_bm_mark(ip->fs, sr->blkno, 1, false);
	ip->fs->free_blocks++;
	free(sr->eb);
	sr->eb = NULL;
}

/* In a transaction: turn the reservation into a linked extent block. */
static void slot_commit(struct dax_inode *ip, struct slot_resv *sr)
{
	if (!sr->eb)
		return;
	fs_bm_mark(ip->fs, sr->blkno, 1, false);
	ip->fs->free_blocks++;
	eblk_link(ip, sr->eb, sr->blkno);
	sr->eb = NULL;
}

/*
 * Allocate blocks for the hole at @index (at most @nr pages, not past the
 * hole) and describe them in @map.
 */
static int iomap_alloc(struct dax_inode *ip, uint64_t index, uint64_t nr,
		       struct dax_iomap *map)
{
	struct dax_fs *fs = ip->fs;
	uint64_t run, prev, goal, b = 0, got = 0, np, nb;
	uint32_t hp = FS_NONE, hn = FS_NONE, h;
	struct slot_resv sr;
	int err;

	run = hole_run(ip, index, nr < FS_MAX_ALLOC ? nr : FS_MAX_ALLOC);
	err = fs_map_reserve(ip, index, run);
	if (!err)
		err = fs_rec_reserve(ip, 1);
	if (!err)
		err = slot_reserve(ip, &sr);
	if (err)
		return err;
	prev = index ? fs_map_block(ip, index - 1) : 0;
	goal = prev ? prev + 1 : 0;
	if (nr >= PMD_PAGES && !(index & (PMD_PAGES - 1)) &&
	    run == PMD_PAGES && fs_alloc_huge(fs, &b))
		got = PMD_PAGES;
	if (!got)
		got = fs_alloc_search(fs, goal, run, &b);
	if (!got && sr.eb && prev) {
		/* The last block may still do if it extends the previous. */
		slot_unreserve(ip, &sr);
		got = fs_alloc_search(fs, goal, run, &b);
		if (got && b != goal)
			got = 0;
	}
	if (!got) {
		slot_unreserve(ip, &sr);
		return -ENOSPC;
	}
	if (prev && b == goal)
		hp = fs_map_handle(ip, index - 1);
	np = index + got;
	nb = fs_map_block(ip, np);
	if (nb && nb == b + got)
		hn = fs_map_handle(ip, np);
	if (hp != FS_NONE || hn != FS_NONE)
		slot_unreserve(ip, &sr);

	/* Zeroed and durable before any metadata points at them. */
	memset(dax_dev_block(fs->dev, b), 0, got << DAX_BLOCK_SHIFT);
	dax_dev_persist(fs->dev, dax_dev_block(fs->dev, b),
			got << DAX_BLOCK_SHIFT);

	fs_tx_begin(fs);
	slot_commit(ip, &sr);
	fs_blocks_take(fs, b, got);
	if (hp != FS_NONE && hn != FS_NONE) {
		struct fs_rec *rn = &ip->recs[hn];

		ip->recs[hp].count += (uint32_t)got + rn->count;
		rec_write(ip, hp);
		map_set_handle(ip, rn->page, rn->count, hp);
		rec_drop(ip, hn);
		h = hp;
	} else if (hp != FS_NONE) {
		ip->recs[hp].count += (uint32_t)got;
		rec_write(ip, hp);
		h = hp;
	} else if (hn != FS_NONE) {
		ip->recs[hn].page = (uint32_t)index;
		ip->recs[hn].block = b;
		ip->recs[hn].count += (uint32_t)got;
		rec_write(ip, hn);
		h = hn;
	} else {
		h = fs_rec_get(ip);
		ip->recs[h].page = (uint32_t)index;
		ip->recs[h].count = (uint32_t)got;
		ip->recs[h].block = b;
		slot_assign(ip, h);
		rec_write(ip, h);
	}
	ip->nr_blocks += got;
	fs_tx_commit(fs);
	for (uint64_t i = 0; i < got; i++)
		map_set(ip, index + i, b + i, h);

	map->type = DAX_IOMAP_MAPPED;
	map->block = b;
	map->nr = got;
	map->flags = DAX_IOMAP_F_NEW;
	return 0;
}

/*
 * dax_inode_iomap() - describe the blocks of @ip from page @index on,
 * looking at most @nr pages ahead, for the fault engine's iomap_begin.
 * Mapped: map->nr pages from map->index (= @index) live in blocks from
 * map->block on. Hole: map->nr pages from @index have no block; with
 * DAX_IOMAP_WRITE the hole is filled first: zeroed blocks are allocated
 * (a 2 MiB-aligned run of 512 when @nr >= 512, @index is 512-aligned and
 * all 512 pages are holes and such a run is free; otherwise as many
 * contiguous blocks as can be found, up to @nr and 512), committed in one
 * transaction before returning, and flagged DAX_IOMAP_F_NEW. The metadata
 * is durable on return, so DAX_IOMAP_F_DIRTY is never set.
 * Context: any thread with a reference on @ip; takes fs->lock only to
 * allocate. Called by the engine with an entry lock held.
 * Return: 0; -EINVAL (bad arguments), -EFBIG (@index beyond
 * DAX_FS_MAX_FILE_PAGES), -ENOSPC (no block left: nothing changed),
 * -ENOMEM.
 */
int dax_inode_iomap(struct dax_inode *ip, uint64_t index, uint64_t nr,
		    unsigned int flags, struct dax_iomap *map)
{
	uint64_t b;
	int err = 0;

	if (!ip || !map || !nr)
		return -EINVAL;
	if (index >= DAX_FS_MAX_FILE_PAGES)
		return -EFBIG;
	if (nr > DAX_FS_MAX_FILE_PAGES - index)
		nr = DAX_FS_MAX_FILE_PAGES - index;
	memset(map, 0, sizeof(*map));
	map->index = index;
	b = fs_map_block(ip, index);
	if (!b && (flags & DAX_IOMAP_WRITE) && ip->fs->rdonly)
		return -EROFS;
	if (!b && (flags & DAX_IOMAP_WRITE)) {
		pthread_mutex_lock(&ip->fs->lock);
		b = fs_map_block(ip, index);
		if (!b)
			err = iomap_alloc(ip, index, nr, map);
		pthread_mutex_unlock(&ip->fs->lock);
		if (!b)
			return err;
	}
	if (b) {
		map->type = DAX_IOMAP_MAPPED;
		map->block = b;
		map->nr = mapped_run(ip, index, b, nr);
	} else {
		map->type = DAX_IOMAP_HOLE;
		map->nr = hole_run(ip, index, nr);
	}
	if ((flags & DAX_IOMAP_AROUND) && !(flags & DAX_IOMAP_WRITE))
		run_back(ip, map);
	return 0;
}

/* ---- freeing ---- */

/*
 * Journal room one trimming step needs besides its bitmap bytes: the
 * record, its extent block's checksum, unlinking an emptied extent block
 * (its predecessor's link and checksum, its bitmap bit) and the inode.
 */
#define FREE_STEP_FIXED                                                        \
	(FS_TX_REC_COST(16) + 2 * FS_TX_REC_COST(4) + FS_TX_REC_COST(8) +      \
	 FS_TX_REC_COST(1) + FS_TX_REC_COST(DAX_FS_INODE_SIZE) + 64)

/* Fewer blocks than this in a step: rather commit and start afresh. */
#define FREE_MIN_BITS 512

/*
 * fs_free_pages() - free the blocks of pages [@first, @last] of @ip. No
 * record may straddle both ends (the caller split it). Large ranges are
 * freed over several transactions, each leaving a consistent file.
 * Context: fs->lock held, a transaction open (possibly a different one on
 * return). Cannot fail.
 */
void fs_free_pages(struct dax_inode *ip, uint64_t first, uint64_t last)
{
	struct dax_fs *fs = ip->fs;

	for (uint32_t h = 0; h < ip->nr_recs; h++) {
		struct fs_rec *r = &ip->recs[h];

		while (r->count) {
			uint64_t end = (uint64_t)r->page + r->count - 1;
			uint64_t a = first > r->page ? first : r->page;
			uint64_t z = last < end ? last : end;
			uint64_t n, p, blk, room, bits;

			if (a > z)
				break;
			n = z - a + 1;
			room = fs_tx_room(fs);
			if (room < FREE_STEP_FIXED + fs_bm_log_cost(0, n) + 8) {
				bits = room > FREE_STEP_FIXED + 32 ?
					       (room - FREE_STEP_FIXED - 32) *
						       8 :
					       0;
				if (bits < FREE_MIN_BITS &&
				    (fs->tx.nr || fs->tx.pending)) {
					/* Commit what is done, go on afresh. */
					fs_tx_commit(fs);
					fs_tx_begin(fs);
					continue;
				}
				if (!bits)
					UDAX_BUG("tx_cap below one step");
				if (bits < n)
					n = bits;
			}
			if (z == end) {
				p = z - n + 1; /* trim the tail */
				r->count -= (uint32_t)n;
			} else {
				if (a != r->page)
					UDAX_BUG("extent straddles the range: not split");
				p = a; /* trim the head */
				r->page += (uint32_t)n;
				r->block += n;
				r->count -= (uint32_t)n;
			}
			blk = fs_map_block(ip, p);
			for (uint64_t i = 0; i < n; i++)
				map_set(ip, p + i, 0, FS_NONE);
			fs_blocks_give(fs, blk, n);
			ip->nr_blocks -= n;
			if (r->count)
				rec_write(ip, h);
			else
				rec_drop(ip, h);
		}
	}
}

/*
 * fs_eblk_free_all() - free the extent blocks left in @ip's chain (empty
 * ones: fs_free_pages() of every page empties them all).
 * Context: fs->lock held, a transaction open.
 */
void fs_eblk_free_all(struct dax_inode *ip)
{
	while (ip->eb_tail) {
		struct fs_eblk *eb = ip->eb_tail;

		fs_tx_make_room(ip->fs, FREE_STEP_FIXED);
		for (uint32_t i = 0; i < DAX_FS_EXT_PER_BLOCK; i++)
			if (eb->handle[i] != FS_NONE)
				UDAX_BUG("extent block freed with pages left");
		eblk_unlink(ip, eb);
	}
}

/*
 * dax_inode_free_range() - free the blocks of pages [@first, @last] of
 * @ip (@last may be UINT64_MAX: to the end), splitting the extent that
 * straddles the range. The size is not changed. Freeing a huge range may
 * take several transactions; each leaves a consistent file, and the first
 * does any split, so a crash frees a prefix of the work.
 * Context: the engine has unmapped the pages and holds the mmap lock
 * exclusive; takes fs->lock.
 * Return: 0; -EINVAL (@first > @last); -ENOSPC or -ENOMEM if a split
 * needs a new extent block and there is none (nothing changed).
 */
int dax_inode_free_range(struct dax_inode *ip, uint64_t first, uint64_t last)
{
	struct dax_fs *fs;
	struct slot_resv sr = { 0 };
	uint32_t split = FS_NONE;
	int err = 0;

	if (!ip || first > last)
		return -EINVAL;
	if (ip->fs->rdonly)
		return -EROFS;
	if (first >= DAX_FS_MAX_FILE_PAGES)
		return 0;
	if (last >= DAX_FS_MAX_FILE_PAGES)
		last = DAX_FS_MAX_FILE_PAGES - 1;
	fs = ip->fs;
	pthread_mutex_lock(&fs->lock);
	if (first && last + 1 < DAX_FS_MAX_FILE_PAGES) {
		uint32_t h = fs_map_handle(ip, first - 1);

		if (h != FS_NONE && h == fs_map_handle(ip, last + 1))
			split = h;
	}
	if (split != FS_NONE) {
		err = fs_rec_reserve(ip, 1);
		if (!err)
			err = slot_reserve(ip, &sr);
		if (err)
			goto out;
	}
	fs_tx_begin(fs);
	if (split != FS_NONE) {
		struct fs_rec *r = &ip->recs[split];
		uint32_t head = (uint32_t)(last + 1 - r->page);
		uint32_t h;

		slot_commit(ip, &sr);
		h = fs_rec_get(ip);
		r = &ip->recs[split];
		ip->recs[h].page = (uint32_t)last + 1;
		ip->recs[h].count = r->count - head;
		ip->recs[h].block = r->block + head;
		r->count = head;
		slot_assign(ip, h);
		rec_write(ip, split);
		rec_write(ip, h);
		map_set_handle(ip, last + 1, ip->recs[h].count, h);
	}
	fs_free_pages(ip, first, last);
	fs_tx_commit(fs);
out:
	pthread_mutex_unlock(&fs->lock);
	return err;
}
