/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_fs.c - the lean filesystem ("bfs"), VM ("bvm") and device the
 * fault benchmarks drive the engine with. See bench_fs.h.
 *
 * @fs is the filesystem of one file, @vm its VM, @bf both with the file
 * mapping on them; @index a file page, @c a 2 MiB chunk of it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "bench_fs.h"
#include "util/compiler.h"

/* ---- filesystem ---- */

/*
 * Give page @index a block, or the whole chunk one aligned 2 MiB extent
 * when @nr asks for it and the chunk is empty; fill in @map.
 */
static void bfs_alloc(struct bfs *fs, uint64_t index, uint64_t nr,
		      struct dax_iomap *map)
{
	uint64_t c = index >> DAX_PMD_ORDER, b, n;

	pthread_mutex_lock(&fs->alloc_lock);
	if (nr >= DAX_PMD_NR && !(index & (DAX_PMD_NR - 1)) &&
	    index + DAX_PMD_NR <= fs->nr_pages && !fs->chunk_used[c]) {
		b = fs->next_chunk++ << DAX_PMD_ORDER;
		for (uint64_t i = 0; i < DAX_PMD_NR; i++)
			fs->map[index + i] = b + i;
		fs->chunk_used[c] = DAX_PMD_NR;
		fs->chunk_whole[c] = 1;
		n = DAX_PMD_NR;
	} else {
		if (fs->small_next == fs->small_end) {
			fs->small_next = fs->next_chunk++ << DAX_PMD_ORDER;
			fs->small_end = fs->small_next + DAX_PMD_NR;
		}
		b = fs->small_next++;
		fs->map[index] = b;
		fs->chunk_used[c]++;
		n = 1;
	}
	fs->allocs += n;
	pthread_mutex_unlock(&fs->alloc_lock);
	map->type = DAX_IOMAP_MAPPED;
	map->index = index;
	map->nr = n;
	map->block = b;
	map->flags = DAX_IOMAP_F_NEW | DAX_IOMAP_F_DIRTY;
}

static int bfs_iomap_begin(void *file, uint64_t index, uint64_t nr,
			   unsigned int flags, struct dax_iomap *map)
{
	struct bfs *fs = file;
	uint64_t c = index >> DAX_PMD_ORDER, b;

	if (index >= fs->nr_pages)
		return (flags & DAX_IOMAP_WRITE) ? -EFBIG : -EIO;
	b = fs->map[index];
	map->flags = 0;
	if (b != BFS_HOLE) {
		map->type = DAX_IOMAP_MAPPED;
		if (nr > 1 && fs->chunk_whole[c]) {
			map->index = c << DAX_PMD_ORDER;
			map->nr = DAX_PMD_NR;
			map->block = b - (index - map->index);
		} else {
			map->index = index;
			map->nr = 1;
			map->block = b;
		}
		return 0;
	}
	if (flags & DAX_IOMAP_WRITE) {
		bfs_alloc(fs, index, nr, map);
		return 0;
	}
	map->type = DAX_IOMAP_HOLE;
	map->index = index;
	map->block = 0;
	map->nr = 1;
	if (nr >= DAX_PMD_NR && !(index & (DAX_PMD_NR - 1)) &&
	    index + DAX_PMD_NR <= fs->nr_pages && !fs->chunk_used[c])
		map->nr = DAX_PMD_NR;
	else if ((flags & DAX_IOMAP_AROUND) && nr > 1 && !fs->chunk_used[c]) {
		/* A whole empty chunk is one hole: from its start on. */
		uint64_t end = index + nr;

		if (end > fs->nr_pages)
			end = fs->nr_pages;
		map->index = c << DAX_PMD_ORDER;
		map->nr = end - map->index;
	}
	return 0;
}

static void bfs_iomap_end(void *file, struct dax_iomap *map)
{
}

static uint64_t bfs_size(void *file)
{
	struct bfs *fs = file;

	return fs->size;
}

static int bfs_set_size(void *file, uint64_t size)
{
	struct bfs *fs = file;

	if (size > fs->nr_pages * DAX_PAGE_SIZE)
		return -EFBIG;
	fs->size = size;
	return 0;
}

/* Blocks are not reused: forgetting them is enough. */
static int bfs_free_range(void *file, uint64_t first, uint64_t last)
{
	struct bfs *fs = file;

	pthread_mutex_lock(&fs->alloc_lock);
	for (uint64_t p = first; p <= last && p < fs->nr_pages; p++) {
		uint64_t c = p >> DAX_PMD_ORDER;

		if (fs->map[p] == BFS_HOLE)
			continue;
		fs->map[p] = BFS_HOLE;
		fs->chunk_used[c]--;
		fs->chunk_whole[c] = 0;
	}
	pthread_mutex_unlock(&fs->alloc_lock);
	return 0;
}

static int bfs_sync(void *file)
{
	return 0;
}

/* ---- the distributed reader lock ---- */

static atomic_uint bfs_next_slot;
static __thread int bfs_my_slot = -1;

/* The calling thread's reader slot. */
static atomic_long *rd_slot(struct bfs *fs)
{
	if (unlikely(bfs_my_slot < 0))
		bfs_my_slot =
		    (int)(atomic_fetch_add(&bfs_next_slot, 1) % BFS_RD_SLOTS);
	return &fs->rd[bfs_my_slot].readers;
}

/*
 * A reader counts itself in, then looks for a writer; a writer raises
 * its flag, then waits for the counts to drain. Both steps are seq_cst,
 * so one of the two sees the other.
 */
static void rd_lock(struct bfs *fs)
{
	atomic_long *slot = rd_slot(fs);

	for (;;) {
		atomic_fetch_add(slot, 1);
		if (likely(!atomic_load(&fs->writer)))
			return;
		atomic_fetch_sub(slot, 1);
		while (atomic_load(&fs->writer))
			sched_yield();
	}
}

static void rd_unlock(struct bfs *fs)
{
	atomic_fetch_sub_explicit(rd_slot(fs), 1, memory_order_release);
}

static void wr_lock(struct bfs *fs)
{
	pthread_mutex_lock(&fs->writer_lock);
	atomic_store(&fs->writer, true);
	for (unsigned int i = 0; i < BFS_RD_SLOTS; i++)
		while (atomic_load(&fs->rd[i].readers))
			sched_yield();
}

static void wr_unlock(struct bfs *fs)
{
	atomic_store(&fs->writer, false);
	pthread_mutex_unlock(&fs->writer_lock);
}

static void bfs_mmap_lock(void *file, bool exclusive)
{
	struct bfs *fs = file;

	if (fs->scalable_lock) {
		if (exclusive)
			wr_lock(fs);
		else
			rd_lock(fs);
	} else if (exclusive) {
		pthread_rwlock_wrlock(&fs->mmap_lock);
	} else {
		pthread_rwlock_rdlock(&fs->mmap_lock);
	}
}

static void bfs_mmap_unlock(void *file, bool exclusive)
{
	struct bfs *fs = file;

	if (!fs->scalable_lock)
		pthread_rwlock_unlock(&fs->mmap_lock);
	else if (exclusive)
		wr_unlock(fs);
	else
		rd_unlock(fs);
}

const struct dax_iomap_ops bfs_ops = {
    .iomap_begin = bfs_iomap_begin,
    .iomap_end = bfs_iomap_end,
    .size = bfs_size,
    .set_size = bfs_set_size,
    .free_range = bfs_free_range,
    .sync = bfs_sync,
    .mmap_lock = bfs_mmap_lock,
    .mmap_unlock = bfs_mmap_unlock,
};

/*
 * bfs_prealloc() - give pages [first, first + nr) blocks before any fault:
 * whole aligned 2 MiB extents where a chunk lies inside the range, single
 * blocks elsewhere.
 */
void bfs_prealloc(struct bfs *fs, uint64_t first, uint64_t nr)
{
	uint64_t end = first + nr, p = first;
	struct dax_iomap map;

	while (p < end) {
		uint64_t want = 1;

		if (!(p & (DAX_PMD_NR - 1)) && p + DAX_PMD_NR <= end)
			want = DAX_PMD_NR;
		if (fs->map[p] == BFS_HOLE)
			bfs_alloc(fs, p, want, &map);
		p += want;
	}
}

/* ---- VM ---- */

/*
 * A span is ignored: mapping the pages around is the VM's work, not the
 * engine's, and the benchmarks call the engine for every page anyway.
 */
static int bvm_insert(void *ctx, void *region, uint64_t index,
		      unsigned int order, uint64_t block, unsigned int flags,
		      const struct dax_vm_span *span)
{
	struct bvm *vm = ctx;
	uint8_t st = BVM_MAPPED;

	if (index + ((uint64_t)1 << order) > vm->nr_pages)
		return -EFAULT;
	if (flags & DAX_VM_WRITE)
		st |= BVM_WRITE;
	if (flags & DAX_VM_ZERO)
		st |= BVM_ZERO;
	if (order) {
		memset(vm->state + index, st | BVM_PMD, DAX_PMD_NR);
		return 0;
	}
	vm->state[index] = st;
	return 0;
}

static int bvm_insert_private(void *ctx, void *region, uint64_t index,
			      const void *src)
{
	return -EOPNOTSUPP;
}

static int bvm_mkwrite(void *ctx, void *region, uint64_t index,
		       unsigned int order)
{
	struct bvm *vm = ctx;
	uint64_t nr = (uint64_t)1 << order;
	uint8_t st = vm->state[index];

	if (!(st & BVM_MAPPED) || (st & BVM_ZERO))
		return -ENOENT;
	for (uint64_t i = 0; i < nr; i++)
		vm->state[index + i] |= BVM_WRITE;
	return 0;
}

/* There are no private copies: DAX_ZAP_PRIVATE changes nothing. */
static int bvm_zap(void *ctx, uint64_t first, uint64_t last,
		   unsigned int what)
{
	struct bvm *vm = ctx;

	if (first >= vm->nr_pages)
		return 0;
	if (last >= vm->nr_pages)
		last = vm->nr_pages - 1;
	if ((what & DAX_ZAP_SHARED) == DAX_ZAP_SHARED) {
		memset(vm->state + first, 0, last - first + 1);
		return 0;
	}
	for (uint64_t p = first; p <= last; p++) {
		bool zero = vm->state[p] & BVM_ZERO;

		if ((zero && (what & DAX_ZAP_ZERO)) ||
		    (!zero && (what & DAX_ZAP_BLOCKS)))
			vm->state[p] = 0;
	}
	return 0;
}

static int bvm_mkclean(void *ctx, uint64_t first, uint64_t last)
{
	struct bvm *vm = ctx;

	if (last >= vm->nr_pages)
		last = vm->nr_pages - 1;
	for (uint64_t p = first; p <= last; p++)
		vm->state[p] &= (uint8_t)~BVM_WRITE;
	return 0;
}

const struct dax_vm_ops bvm_ops = {
    .insert = bvm_insert,
    .insert_private = bvm_insert_private,
    .mkwrite = bvm_mkwrite,
    .zap = bvm_zap,
    .mkclean = bvm_mkclean,
};

/* ---- device ---- */

static const uint8_t bdev_zero_page[DAX_PAGE_SIZE];

static void *bdev_addr(void *dev, uint64_t block)
{
	return (void *)bdev_zero_page;
}

static void bdev_flush(void *dev, uint64_t block, uint64_t nr)
{
}

const struct dax_dev_ops bdev_ops = {
    .addr = bdev_addr,
    .flush = bdev_flush,
};

/* ---- a file ---- */

/* Empty the file, the VM state and the allocator (not the fmap). */
static void bench_file_clear(struct bench_file *bf)
{
	struct bfs *fs = &bf->fs;
	uint64_t chunks = (fs->nr_pages + DAX_PMD_NR - 1) >> DAX_PMD_ORDER;

	memset(fs->map, 0xff, fs->nr_pages * sizeof(*fs->map));
	memset(fs->chunk_used, 0, chunks * sizeof(*fs->chunk_used));
	memset(fs->chunk_whole, 0, chunks);
	fs->next_chunk = 0;
	fs->small_next = 0;
	fs->small_end = 0;
	fs->allocs = 0;
	memset(bf->vm.state, 0, bf->vm.nr_pages);
}

/*
 * bench_file_init() - a file of @nr_pages pages, all holes, its size
 * @nr_pages pages, with an empty file mapping; its mmap lock is the
 * distributed reader lock if @scalable_lock, else a pthread rwlock.
 * Context: @bf 64-byte aligned.
 * Return: 0 or -errno.
 */
int bench_file_init(struct bench_file *bf, uint64_t nr_pages,
		    bool scalable_lock)
{
	uint64_t chunks = (nr_pages + DAX_PMD_NR - 1) >> DAX_PMD_ORDER;
	struct bfs *fs = &bf->fs;
	int err;

	memset(bf, 0, sizeof(*bf));
	fs->scalable_lock = scalable_lock;
	fs->nr_pages = nr_pages;
	fs->size = nr_pages * DAX_PAGE_SIZE;
	fs->map = malloc(nr_pages * sizeof(*fs->map));
	fs->chunk_used = malloc(chunks * sizeof(*fs->chunk_used));
	fs->chunk_whole = malloc(chunks);
	fs->rd = aligned_alloc(64, BFS_RD_SLOTS * sizeof(*fs->rd));
	bf->vm.nr_pages = nr_pages;
	bf->vm.state = malloc(nr_pages);
	if (!fs->map || !fs->chunk_used || !fs->chunk_whole || !fs->rd ||
	    !bf->vm.state)
		goto nomem;
	for (unsigned int i = 0; i < BFS_RD_SLOTS; i++)
		atomic_init(&fs->rd[i].readers, 0);
	atomic_init(&fs->writer, false);
	err = pthread_rwlock_init(&fs->mmap_lock, NULL);
	if (err)
		goto fail;
	err = pthread_mutex_init(&fs->alloc_lock, NULL);
	if (err)
		goto fail_rwlock;
	err = pthread_mutex_init(&fs->writer_lock, NULL);
	if (err)
		goto fail_alloc_lock;
	bench_file_clear(bf);
	err = -dax_fmap_init(&bf->f, &bfs_ops, fs, &bvm_ops, &bf->vm, &bdev_ops,
			     NULL);
	if (!err)
		return 0;
	pthread_mutex_destroy(&fs->writer_lock);
fail_alloc_lock:
	pthread_mutex_destroy(&fs->alloc_lock);
fail_rwlock:
	pthread_rwlock_destroy(&fs->mmap_lock);
	goto fail;
nomem:
	err = ENOMEM;
fail:
	free(fs->map);
	free(fs->chunk_used);
	free(fs->chunk_whole);
	free(fs->rd);
	free(bf->vm.state);
	return -err;
}

/*
 * bench_file_destroy() - free everything of @bf.
 * Context: no thread uses @bf any more.
 */
void bench_file_destroy(struct bench_file *bf)
{
	dax_fmap_destroy(&bf->f);
	pthread_mutex_destroy(&bf->fs.writer_lock);
	pthread_mutex_destroy(&bf->fs.alloc_lock);
	pthread_rwlock_destroy(&bf->fs.mmap_lock);
	free(bf->fs.map);
	free(bf->fs.chunk_used);
	free(bf->fs.chunk_whole);
	free(bf->fs.rd);
	free(bf->vm.state);
}

/*
 * bench_file_reset() - make @bf all holes again, with an empty file
 * mapping (the old one is destroyed, not truncated: cheaper, and outside
 * any timed part anyway).
 * Context: no thread uses @bf.
 * Return: 0 or -errno.
 */
int bench_file_reset(struct bench_file *bf)
{
	dax_fmap_destroy(&bf->f);
	bench_file_clear(bf);
	return dax_fmap_init(&bf->f, &bfs_ops, &bf->fs, &bvm_ops, &bf->vm,
			     &bdev_ops, NULL);
}
