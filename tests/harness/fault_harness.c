/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_harness.c - in-memory filesystem ("th_fs") and recording VM
 * ("th_vm") for the fault engine tests. See fault_harness.h for the
 * invariants checked on every call.
 *
 * @fs is the filesystem, @vm the VM, @r (or @self) a region, @pte one
 * page of it, @index or @p a file page, @b a device block.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_harness.h"
#include "index/rcu.h"

atomic_int th_violation_count;

void th_violation(const char *fmt, ...)
{
	va_list ap;
	int n = atomic_fetch_add(&th_violation_count, 1);

	if (n >= 10)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "INVARIANT VIOLATION: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

int th_violations(void)
{
	return atomic_load(&th_violation_count);
}

/* A word that says "page @index, write number @n". Never 0 or poison. */
uint64_t th_stamp(uint64_t index, uint64_t n)
{
	return (index << 32) | ((n & 0x7fffffff) | 0x80000000ULL);
}

bool th_stamp_ok(uint64_t index, uint64_t word)
{
	return word == 0 ||
	       ((word >> 32) == index && (word & 0x80000000ULL));
}

uint64_t th_fs_block_of(struct th_fs *fs, uint64_t index)
{
	if (index >= fs->max_pages)
		return TH_HOLE;
	return atomic_load(&fs->map[index]);
}

/* Peek at the entry covering @index (its state is stable if locked). */
static dax_entry_t peek_entry(struct dax_fmap *f, uint64_t index,
			      struct dax_cursor *cur, bool *dirty)
{
	dax_entry_t e;

	dax_cursor_set(cur, index, 0);
	dax_rcu_read_lock();
	e = dax_idx_load(cur);
	*dirty = e && dax_idx_tag_get(cur, DAX_TAG_DIRTY);
	dax_rcu_read_unlock();
	return e;
}

bool th_entry_dirty(struct dax_fmap *f, uint64_t index)
{
	DAX_CURSOR(cur, index, &f->m.idx, 0);
	bool dirty;

	peek_entry(f, index, &cur, &dirty);
	return dirty;
}

bool th_entry_present(struct dax_fmap *f, uint64_t index)
{
	DAX_CURSOR(cur, index, &f->m.idx, 0);
	bool dirty;

	return peek_entry(f, index, &cur, &dirty) != 0;
}

/* ---- filesystem ---- */

static uint64_t size_pages(struct th_fs *fs)
{
	return (atomic_load(&fs->size) + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
}

static void *dev_block(struct th_fs *fs, uint64_t block)
{
	return fs->dev + block * DAX_PAGE_SIZE;
}

/* Does @block hold only zeros on the device? */
static bool block_zeroed(struct th_fs *fs, uint64_t block)
{
	const uint64_t *w = dev_block(fs, block);

	for (size_t i = 0; i < DAX_PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/* Allocate @nr blocks aligned to @align; fs->lock held. */
static uint64_t alloc_blocks(struct th_fs *fs, uint64_t nr, uint64_t align)
{
	if (fs->free_blocks < nr + fs->reserve)
		return TH_HOLE;
	for (uint64_t b = 0; b + nr <= fs->nr_blocks; b += align) {
		uint64_t i;

		for (i = 0; i < nr && !fs->used[b + i]; i++)
			;
		if (i < nr)
			continue;
		for (i = 0; i < nr; i++)
			fs->used[b + i] = 1;
		fs->free_blocks -= nr;
		memset(dev_block(fs, b), 0, nr * DAX_PAGE_SIZE);
		/* New blocks are zeroed and made durable before use. */
		if (fs->durable)
			memset(fs->durable + b * DAX_PAGE_SIZE, 0,
			       nr * DAX_PAGE_SIZE);
		atomic_fetch_add(&fs->allocs, nr);
		return b;
	}
	return TH_HOLE;
}

/*
 * Does page @p continue the run of page @index, whose block is @b (or
 * TH_HOLE)? For a mapped run, @p must hold the block at the same distance.
 */
static bool same_run(struct th_fs *fs, uint64_t p, uint64_t index, uint64_t b)
{
	uint64_t pb = atomic_load(&fs->map[p]);

	if (b == TH_HOLE)
		return pb == TH_HOLE;
	if (pb == TH_HOLE)
		return false;
	if (p < index)
		return b >= index - p && pb == b - (index - p);
	return pb == b + (p - index);
}

static int fs_iomap_begin(void *file, uint64_t index, uint64_t nr,
			  unsigned int flags, struct dax_iomap *map)
{
	struct th_fs *fs = file;
	uint64_t b, run, lo;

	atomic_fetch_add(&fs->iomaps, 1);
	if (atomic_exchange(&fs->fail_next_iomap, 0))
		return -EIO;
	if (index >= fs->max_pages)
		return (flags & DAX_IOMAP_WRITE) ? -EFBIG : -EIO;
	if (nr > fs->max_pages - index)
		nr = fs->max_pages - index;
	memset(map, 0, sizeof(*map));
	pthread_mutex_lock(&fs->lock);
	b = atomic_load(&fs->map[index]);
	/*
	 * DAX_IOMAP_AROUND: the run may begin before @index, down to the
	 * start of its 2 MiB window (a read asks, to map around itself).
	 */
	lo = index;
	if ((flags & DAX_IOMAP_AROUND) && !(flags & DAX_IOMAP_WRITE))
		while (lo > (index & DAX_PMD_MASK) &&
		       same_run(fs, lo - 1, index, b))
			lo--;
	for (run = 1; run < nr && same_run(fs, index + run, index, b); run++)
		;
	map->index = lo;
	if (b != TH_HOLE) {
		map->type = DAX_IOMAP_MAPPED;
		map->block = b - (index - lo);
		map->nr = index - lo + run;
		/*
		 * Like ext4's datasync check: a write is told when the
		 * allocation of these blocks (by write(2), or a fault through
		 * a region without MAP_SYNC) is not durable yet.
		 */
		for (uint64_t i = 0; (flags & DAX_IOMAP_WRITE) && i < run; i++)
			if (fs->unsynced[index + i]) {
				map->flags = DAX_IOMAP_F_DIRTY;
				break;
			}
		goto out;
	}
	if (!(flags & DAX_IOMAP_WRITE)) {
		map->type = DAX_IOMAP_HOLE;
		map->nr = index - lo + run;
		goto out;
	}
	b = TH_HOLE;
	if (fs->pmd_alloc && nr >= DAX_PMD_NR && run >= DAX_PMD_NR &&
	    !(index & (DAX_PMD_NR - 1))) {
		b = alloc_blocks(fs, DAX_PMD_NR, DAX_PMD_NR);
		run = DAX_PMD_NR;
	}
	if (b == TH_HOLE) {
		run = 1;
		b = alloc_blocks(fs, 1, 1);
	}
	if (b == TH_HOLE) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOSPC;
	}
	for (uint64_t i = 0; i < run; i++) {
		/* fresh first: whoever sees the block sees it flagged. */
		atomic_store(&fs->fresh[index + i], 1);
		atomic_store(&fs->owner[b + i], index + i);
		atomic_store(&fs->map[index + i], b + i);
		fs->unsynced[index + i] = 1;
	}
	map->type = DAX_IOMAP_MAPPED;
	map->block = b;
	map->nr = run;
	map->flags = DAX_IOMAP_F_NEW | DAX_IOMAP_F_DIRTY;
out:
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

static void fs_iomap_end(void *file, struct dax_iomap *map)
{
	struct th_fs *fs = file;

	/* The allocating call is done: its zero pages must be gone. */
	if (map && map->type == DAX_IOMAP_MAPPED &&
	    (map->flags & DAX_IOMAP_F_NEW))
		for (uint64_t i = 0; i < map->nr; i++)
			atomic_store(&fs->fresh[map->index + i], 0);
}

static uint64_t fs_size(void *file)
{
	struct th_fs *fs = file;

	return atomic_load(&fs->size);
}

static int fs_set_size(void *file, uint64_t size)
{
	struct th_fs *fs = file;

	if (size > fs->max_pages * DAX_PAGE_SIZE)
		return -EFBIG;
	atomic_store(&fs->size, size);
	return 0;
}

/*
 * Is @block mapped in any region? Blocks are mapped only at the page that
 * owns them (checked at every insert), so looking at page @index suffices.
 */
static bool block_mapped_anywhere(struct th_vm *vm, uint64_t index,
				  uint64_t block)
{
	for (int r = 0; r < vm->nr_regions; r++) {
		struct th_pte *pte = &vm->regions[r].ptes[index];

		if (pte->kind == TH_BLOCK && pte->block == block)
			return true;
	}
	return false;
}

static int fs_free_range(void *file, uint64_t first, uint64_t last)
{
	struct th_fs *fs = file;

	if (last >= fs->max_pages)
		last = fs->max_pages - 1;
	pthread_mutex_lock(&fs->lock);
	pthread_mutex_lock(&fs->vm->lock);
	for (uint64_t p = first; p <= last && first < fs->max_pages; p++) {
		uint64_t b = atomic_load(&fs->map[p]);

		if (b == TH_HOLE)
			continue;
		if (block_mapped_anywhere(fs->vm, p, b))
			th_violation("freeing block %llu of page %llu while "
				     "it is mapped",
				     (unsigned long long)b,
				     (unsigned long long)p);
		if (th_entry_present(fs->f, p))
			th_violation("freeing block of page %llu that still "
				     "has an entry",
				     (unsigned long long)p);
		atomic_store(&fs->map[p], TH_HOLE);
		atomic_store(&fs->fresh[p], 0);
		atomic_store(&fs->owner[b], TH_HOLE);
		fs->used[b] = 0;
		fs->free_blocks++;
		/* Poison: a stale mapping that reads it sees garbage. */
		memset(dev_block(fs, b), 0xA5, DAX_PAGE_SIZE);
		atomic_fetch_add(&fs->frees, 1);
	}
	pthread_mutex_unlock(&fs->vm->lock);
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

static int fs_sync(void *file)
{
	struct th_fs *fs = file;

	pthread_mutex_lock(&fs->lock);
	memset(fs->unsynced, 0, fs->max_pages);
	pthread_mutex_unlock(&fs->lock);
	atomic_fetch_add(&fs->syncs, 1);
	return 0;
}

static void fs_mmap_lock(void *file, bool exclusive)
{
	struct th_fs *fs = file;

	if (exclusive)
		pthread_rwlock_wrlock(&fs->mmap_lock);
	else
		pthread_rwlock_rdlock(&fs->mmap_lock);
}

static void fs_mmap_unlock(void *file, bool exclusive)
{
	struct th_fs *fs = file;

	(void)exclusive;
	pthread_rwlock_unlock(&fs->mmap_lock);
}

const struct dax_iomap_ops th_fs_ops = {
	.iomap_begin = fs_iomap_begin,
	.iomap_end = fs_iomap_end,
	.size = fs_size,
	.set_size = fs_set_size,
	.free_range = fs_free_range,
	.sync = fs_sync,
	.mmap_lock = fs_mmap_lock,
	.mmap_unlock = fs_mmap_unlock,
};

/* ---- device ---- */

static void *dev_addr(void *dev, uint64_t block)
{
	return dev_block(dev, block);
}

/*
 * A flush logs each block (and its contents, when tracked) under
 * vm->lock, so that it is atomic with respect to stores through mappings.
 * The data flushed is what written data looks like from now on: no
 * region may show the zero page over it.
 */
static void dev_flush(void *dev, uint64_t block, uint64_t nr)
{
	struct th_fs *fs = dev;
	struct th_vm *vm = fs->vm;

	pthread_mutex_lock(&vm->lock);
	for (uint64_t b = block; b < block + nr && b < fs->nr_blocks; b++) {
		uint64_t p = atomic_load(&fs->owner[b]);

		if (!fs->used[b])
			th_violation("flushing block %llu, which is free",
				     (unsigned long long)b);
		for (int r = 0; p != TH_HOLE && r < vm->nr_regions; r++)
			if (vm->regions[r].ptes[p].kind == TH_ZERO &&
			    !block_zeroed(fs, b))
				th_violation("page %llu: block %llu flushed "
					     "with data while region %d "
					     "shows the zero page",
					     (unsigned long long)p,
					     (unsigned long long)b, r);
		atomic_fetch_add(&fs->block_flushes[b], 1);
		if (fs->durable)
			memcpy(fs->durable + b * DAX_PAGE_SIZE,
			       dev_block(fs, b), DAX_PAGE_SIZE);
	}
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&fs->flushes, nr);
}

const struct dax_dev_ops th_dev_ops = {
	.addr = dev_addr,
	.flush = dev_flush,
};

/*
 * th_fs_track_durable() - from now on keep, per block, its contents at
 * its last flush (th_block_durable() compares). What the device holds
 * now counts as durable.
 * Context: before any thread uses @env.
 * Return: 0 or -ENOMEM.
 */
int th_fs_track_durable(struct th_env *env)
{
	struct th_fs *fs = &env->fs;

	if (fs->durable)
		return 0;
	fs->durable = malloc(fs->nr_blocks * DAX_PAGE_SIZE);
	if (!fs->durable)
		return -ENOMEM;
	memcpy(fs->durable, fs->dev, fs->nr_blocks * DAX_PAGE_SIZE);
	return 0;
}

/*
 * th_block_durable() - does @block hold what its last flush made
 * durable (nothing stored since)? Needs th_fs_track_durable().
 */
bool th_block_durable(struct th_fs *fs, uint64_t block)
{
	bool same;

	if (!fs->durable) {
		th_violation("th_block_durable() needs "
			     "th_fs_track_durable()");
		return false;
	}
	pthread_mutex_lock(&fs->vm->lock);
	same = !memcmp(fs->durable + block * DAX_PAGE_SIZE,
		       dev_block(fs, block), DAX_PAGE_SIZE);
	pthread_mutex_unlock(&fs->vm->lock);
	return same;
}

/* How many times @block was flushed. */
unsigned long th_block_flushes(struct th_fs *fs, uint64_t block)
{
	return atomic_load(&fs->block_flushes[block]);
}

/* ---- failure injection ---- */

/*
 * th_vm_fail_set() - from now on each call of a VM operation (of those
 * th_vm_fail_ops() allows, all by default) that has something to do fails
 * with -ENOMEM with probability 1/@one_in (0: never), drawn from a
 * generator seeded with @seed. A failed insert, insert_private or mkwrite
 * changes nothing; a failed zap or mkclean does a random part of its work
 * (in region and page order) and leaves at least one page undone, as a
 * real one whose mmap or mprotect failed partway.
 */
void th_vm_fail_set(struct th_vm *vm, unsigned int one_in, uint64_t seed)
{
	pthread_mutex_lock(&vm->lock);
	vm->fail_one_in = one_in;
	vm->fail_rng = seed * 0x9E3779B97F4A7C15ULL + 0x5DEECE66DULL;
	pthread_mutex_unlock(&vm->lock);
}

/* th_vm_fail_ops() - the operations (TH_VM_OP() bits) random failures hit. */
void th_vm_fail_ops(struct th_vm *vm, unsigned int ops)
{
	pthread_mutex_lock(&vm->lock);
	vm->fail_ops = ops & TH_VM_OPS_ALL;
	pthread_mutex_unlock(&vm->lock);
}

/*
 * th_vm_fail_next() - the next call of each operation in @ops (TH_VM_OP()
 * bits) fails with -ENOMEM, whatever it had to do, and does none of it.
 */
void th_vm_fail_next(struct th_vm *vm, unsigned int ops)
{
	atomic_fetch_or(&vm->fail_next, ops & TH_VM_OPS_ALL);
}

/* th_vm_failed() - failures injected so far into the operations in @ops. */
unsigned long th_vm_failed(struct th_vm *vm, unsigned int ops)
{
	unsigned long n = 0;

	for (int op = 0; op < TH_VM_NR_OPS; op++)
		if (ops & TH_VM_OP(op))
			n += atomic_load(&vm->failed[op]);
	return n;
}

/* splitmix64 step of the failure generator; vm->lock held. */
static uint64_t fail_rand(struct th_vm *vm)
{
	uint64_t z = (vm->fail_rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

enum th_fail {
	TH_FAIL_NO,
	TH_FAIL_ONCE,	/* th_vm_fail_next(): do nothing */
	TH_FAIL_RANDOM, /* th_vm_fail_set(): do part of the work */
};

/* Does this call of @op fail? @work: it has something to do. vm->lock held. */
static enum th_fail fail_now(struct th_vm *vm, enum th_vm_op op, bool work)
{
	enum th_fail fail = TH_FAIL_NO;

	if (atomic_fetch_and(&vm->fail_next, ~TH_VM_OP(op)) & TH_VM_OP(op))
		fail = TH_FAIL_ONCE;
	else if (work && vm->fail_one_in && (vm->fail_ops & TH_VM_OP(op)) &&
		 fail_rand(vm) % vm->fail_one_in == 0)
		fail = TH_FAIL_RANDOM;
	if (fail)
		atomic_fetch_add(&vm->failed[op], 1);
	return fail;
}

/* How much of @todo units a failed zap or mkclean still does. */
static uint64_t fail_cut(struct th_vm *vm, enum th_fail fail, uint64_t todo)
{
	if (fail == TH_FAIL_NO)
		return todo;
	if (fail == TH_FAIL_ONCE || !todo)
		return 0;
	return fail_rand(vm) % todo;
}

/* ---- recording VM ---- */

static void pte_clear(struct th_pte *pte)
{
	free(pte->private_page);
	memset(pte, 0, sizeof(*pte));
}

static const char *kind_name(int kind)
{
	return kind == TH_ZERO ? "zero" : "block";
}

/* Check that mapping @kind/@block at @index in @self agrees with all. */
static void check_insert(struct th_vm *vm, struct th_region *self,
			 uint64_t index, int kind, uint64_t block,
			 bool writable)
{
	struct th_fs *fs = vm->fs;
	uint64_t owned = th_fs_block_of(fs, index);

	if (index >= size_pages(fs))
		th_violation("mapping page %llu beyond EOF (%llu pages)",
			     (unsigned long long)index,
			     (unsigned long long)size_pages(fs));
	if (kind == TH_BLOCK && owned != block)
		th_violation("mapping block %llu at page %llu, file has %lld",
			     (unsigned long long)block,
			     (unsigned long long)index, (long long)owned);
	/* Unless just allocated: the allocating call will zap us. */
	if (kind == TH_ZERO && owned != TH_HOLE &&
	    !atomic_load(&fs->fresh[index]))
		th_violation("zero page over block %llu at page %llu",
			     (unsigned long long)owned,
			     (unsigned long long)index);
	if (writable && !th_entry_dirty(vm->f, index))
		th_violation("writable mapping of page %llu without DIRTY",
			     (unsigned long long)index);
	for (int r = 0; r < vm->nr_regions; r++) {
		struct th_pte *o = &vm->regions[r].ptes[index];
		uint64_t b;

		if (&vm->regions[r] == self || o->kind == TH_NONE ||
		    o->kind == TH_PRIVATE)
			continue;
		if (o->kind == kind && (kind == TH_ZERO || o->block == block))
			continue;
		/*
		 * A zero page beside a block of zeros, neither writable: what
		 * a failed zap of zero pages leaves. Stale only once the
		 * block is written, which needs a writable mapping.
		 */
		b = kind == TH_BLOCK ? block : o->block;
		if (o->kind != kind && !writable && !o->writable &&
		    b < fs->nr_blocks && block_zeroed(fs, b))
			continue;
		th_violation("page %llu: region %d maps %s %llu%s, "
			     "region %d gets %s %llu%s",
			     (unsigned long long)index, r, kind_name(o->kind),
			     (unsigned long long)o->block,
			     o->writable ? " writable" : "", self->id,
			     kind_name(kind), (unsigned long long)block,
			     writable ? " writable" : "");
	}
}

static struct th_region *region_of(struct th_vm *vm, void *region)
{
	return region;
}

/* Is the span the engine passed with a fault at @index well formed? */
static void check_span(uint64_t index, unsigned int order, uint64_t block,
		       unsigned int flags, const struct dax_vm_span *span)
{
	if (order)
		th_violation("span with a 2 MiB insert at %llu",
			     (unsigned long long)index);
	if (span->first > index || index > span->last)
		th_violation("span [%llu, %llu] without its page %llu",
			     (unsigned long long)span->first,
			     (unsigned long long)span->last,
			     (unsigned long long)index);
	if (!(flags & DAX_VM_ZERO) &&
	    span->block + (index - span->first) != block)
		th_violation("span of blocks from %llu at page %llu puts "
			     "block %llu at %llu",
			     (unsigned long long)span->block,
			     (unsigned long long)span->first,
			     (unsigned long long)block,
			     (unsigned long long)index);
	if ((flags & DAX_VM_ZERO) && !span->gen)
		th_violation("zero span at %llu without a hole generation",
			     (unsigned long long)index);
}

/*
 * Map the other pages of @span around @index in @r where nothing is
 * mapped, as the real VM does: read-only, or with DAX_VM_WRITE (a write
 * span: the engine holds those entries, DIRTY) writable, also over a
 * read-only mapping of the same block. A zero span only if no hole got a
 * block since the engine looked (hole_gen unchanged), checked here under
 * vm->lock as the real VM checks it holding the pages it claimed.
 * Context: vm->lock held.
 */
static void map_span(struct th_vm *vm, struct th_region *r, uint64_t index,
		     unsigned int flags, const struct dax_vm_span *span)
{
	bool zero = flags & DAX_VM_ZERO, writable = flags & DAX_VM_WRITE;
	uint64_t last = span->last, n = 0;

	atomic_fetch_add(&vm->spans, 1);
	if (zero && (!span->gen || atomic_load(span->gen) != span->gen_seen)) {
		atomic_fetch_add(&vm->spans_refused, 1);
		return;
	}
	if (last >= vm->fs->max_pages)
		last = vm->fs->max_pages - 1;
	for (uint64_t p = span->first; p <= last && span->first <= last; p++) {
		struct th_pte *pte = &r->ptes[p];
		uint64_t b = zero ? 0 : span->block + (p - span->first);

		if (p == index)
			continue;
		if (pte->kind != TH_NONE &&
		    !(writable && pte->kind == TH_BLOCK && !pte->writable &&
		      pte->block == b))
			continue;
		check_insert(vm, r, p, zero ? TH_ZERO : TH_BLOCK, b, writable);
		if (pte->pmd) {
			/* A 4 KiB mapping inside a 2 MiB one splits it. */
			uint64_t pidx = p & DAX_PMD_MASK;

			for (uint64_t i = 0; i < DAX_PMD_NR; i++)
				if (pidx + i < vm->fs->max_pages)
					r->ptes[pidx + i].pmd = 0;
		}
		pte->kind = zero ? TH_ZERO : TH_BLOCK;
		pte->block = b;
		pte->writable = writable;
		n++;
	}
	atomic_fetch_add(&vm->span_pages, n);
}

static int vm_insert(void *ctx, void *region, uint64_t index,
		     unsigned int order, uint64_t block, unsigned int flags,
		     const struct dax_vm_span *span)
{
	struct th_vm *vm = ctx;
	struct th_region *r = region_of(vm, region);
	uint64_t nr = (uint64_t)1 << order;
	bool zero = flags & DAX_VM_ZERO, writable = flags & DAX_VM_WRITE;

	if (zero && writable)
		th_violation("writable zero page at %llu",
			     (unsigned long long)index);
	if (!r->shared && writable)
		th_violation("shared block mapped writable in a private "
			     "region at %llu",
			     (unsigned long long)index);
	if (span)
		check_span(index, order, block, flags, span);
	if (index + nr > vm->fs->max_pages)
		return -EFAULT;
	pthread_mutex_lock(&vm->lock);
	if (fail_now(vm, TH_VM_INSERT, true)) {
		/* mmap refused: nothing new is mapped. */
		pthread_mutex_unlock(&vm->lock);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < nr; i++) {
		struct th_pte *pte = &r->ptes[index + i];

		check_insert(vm, r, index + i, zero ? TH_ZERO : TH_BLOCK,
			     zero ? 0 : block + i, writable);
		if (pte->kind == TH_PRIVATE)
			continue; /* a private copy stays */
		pte_clear(pte);
		pte->kind = zero ? TH_ZERO : TH_BLOCK;
		pte->block = zero ? 0 : block + i;
		pte->writable = writable;
		pte->pmd = order != 0;
	}
	if (span && !order)
		map_span(vm, r, index, flags, span);
	if (writable && !order)
		atomic_store(&r->next_write,
			     (span ? span->last : index) + 2);
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->inserts, 1);
	return 0;
}

static int vm_insert_private(void *ctx, void *region, uint64_t index,
			     const void *src)
{
	struct th_vm *vm = ctx;
	struct th_region *r = region_of(vm, region);
	uint64_t *page = malloc(DAX_PAGE_SIZE);
	uint64_t pidx = index & DAX_PMD_MASK;

	if (!page)
		return -ENOMEM;
	if (r->shared)
		th_violation("private copy in a shared region at %llu",
			     (unsigned long long)index);
	if (index >= size_pages(vm->fs))
		th_violation("private copy beyond EOF at %llu",
			     (unsigned long long)index);
	pthread_mutex_lock(&vm->lock);
	if (fail_now(vm, TH_VM_INSERT_PRIVATE, true)) {
		pthread_mutex_unlock(&vm->lock);
		free(page);
		return -ENOMEM;
	}
	/*
	 * Copy under vm->lock: the copy reads the block like any access
	 * through a mapping, which th_access() makes atomic with this lock
	 * (stores through other regions may hit the block meanwhile).
	 */
	if (src)
		memcpy(page, src, DAX_PAGE_SIZE);
	else
		memset(page, 0, DAX_PAGE_SIZE);
	/* Split a 2 MiB mapping of this region around the page. */
	if (r->ptes[index].pmd)
		for (uint64_t i = 0; i < DAX_PMD_NR &&
				     pidx + i < vm->fs->max_pages;
		     i++)
			r->ptes[pidx + i].pmd = 0;
	pte_clear(&r->ptes[index]);
	r->ptes[index].kind = TH_PRIVATE;
	r->ptes[index].writable = 1;
	r->ptes[index].private_page = page;
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->privates, 1);
	return 0;
}

/* Does a region other than @self show the zero page at @index? */
static int zero_elsewhere(struct th_vm *vm, struct th_region *self,
			  uint64_t index)
{
	for (int r = 0; r < vm->nr_regions; r++)
		if (&vm->regions[r] != self &&
		    vm->regions[r].ptes[index].kind == TH_ZERO)
			return r;
	return -1;
}

static int vm_mkwrite(void *ctx, void *region, uint64_t index,
		      unsigned int order)
{
	struct th_vm *vm = ctx;
	struct th_region *r = region_of(vm, region);
	uint64_t nr = (uint64_t)1 << order;
	int err = 0, z;

	if (index + nr > vm->fs->max_pages)
		return -ENOENT;
	pthread_mutex_lock(&vm->lock);
	for (uint64_t i = 0; i < nr; i++) {
		struct th_pte *pte = &r->ptes[index + i];

		if (pte->kind != TH_BLOCK) {
			err = -ENOENT;
			break;
		}
	}
	if (fail_now(vm, TH_VM_MKWRITE, !err)) {
		/* mprotect refused: the mapping stays read-only. */
		pthread_mutex_unlock(&vm->lock);
		return -ENOMEM;
	}
	for (uint64_t i = 0; !err && i < nr; i++) {
		if (!th_entry_dirty(vm->f, index + i))
			th_violation("mkwrite of page %llu without DIRTY",
				     (unsigned long long)(index + i));
		z = zero_elsewhere(vm, r, index + i);
		if (z >= 0)
			th_violation("mkwrite of page %llu while region %d "
				     "shows the zero page there",
				     (unsigned long long)(index + i), z);
	}
	for (uint64_t i = 0; !err && i < nr; i++)
		r->ptes[index + i].writable = 1;
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->mkwrites, 1);
	return err;
}

/* Does a zap of @what remove @pte? */
static bool zap_this(const struct th_pte *pte, unsigned int what)
{
	switch (pte->kind) {
	case TH_ZERO:
		return what & DAX_ZAP_ZERO;
	case TH_BLOCK:
		return what & DAX_ZAP_BLOCKS;
	case TH_PRIVATE:
		return what & DAX_ZAP_PRIVATE;
	}
	return false;
}

/*
 * Whatever put the page there (a span has no entry behind it), a zap
 * removes what @what names; a failed one removes only a first part.
 */
static int vm_zap(void *ctx, uint64_t first, uint64_t last, unsigned int what)
{
	struct th_vm *vm = ctx;
	uint64_t todo = 0, cut;
	enum th_fail fail;

	if (!what || (what & ~DAX_ZAP_ALL))
		th_violation("zap of pages [%llu, %llu] with what 0x%x",
			     (unsigned long long)first,
			     (unsigned long long)last, what);
	if (last >= vm->fs->max_pages)
		last = vm->fs->max_pages - 1;
	pthread_mutex_lock(&vm->lock);
	for (int r = 0; r < vm->nr_regions; r++)
		for (uint64_t p = first; p <= last; p++)
			todo += zap_this(&vm->regions[r].ptes[p], what);
	fail = fail_now(vm, TH_VM_ZAP, todo != 0);
	cut = fail_cut(vm, fail, todo);
	for (int r = 0; r < vm->nr_regions && cut; r++)
		for (uint64_t p = first; p <= last && cut; p++) {
			struct th_pte *pte = &vm->regions[r].ptes[p];

			if (!zap_this(pte, what))
				continue;
			if (pte->pmd) {
				/* Unmapping part of a PMD splits it. */
				uint64_t pidx = p & DAX_PMD_MASK;

				for (uint64_t i = 0; i < DAX_PMD_NR; i++)
					if (pidx + i < vm->fs->max_pages)
						vm->regions[r]
							.ptes[pidx + i]
							.pmd = 0;
			}
			pte_clear(pte);
			cut--;
		}
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->zaps, 1);
	return fail ? -ENOMEM : 0;
}

/* Write-protect; a failed one write-protects only a first part. */
static int vm_mkclean(void *ctx, uint64_t first, uint64_t last)
{
	struct th_vm *vm = ctx;
	uint64_t todo = 0, cut;
	enum th_fail fail;

	if (last >= vm->fs->max_pages)
		last = vm->fs->max_pages - 1;
	pthread_mutex_lock(&vm->lock);
	for (int r = 0; r < vm->nr_regions; r++)
		for (uint64_t p = first; vm->regions[r].shared && p <= last;
		     p++)
			todo += vm->regions[r].ptes[p].kind == TH_BLOCK &&
				vm->regions[r].ptes[p].writable;
	fail = fail_now(vm, TH_VM_MKCLEAN, todo != 0);
	cut = fail_cut(vm, fail, todo);
	for (int r = 0; r < vm->nr_regions && cut; r++) {
		if (!vm->regions[r].shared)
			continue;
		for (uint64_t p = first; p <= last && cut; p++) {
			struct th_pte *pte = &vm->regions[r].ptes[p];

			if (pte->kind == TH_BLOCK && pte->writable) {
				pte->writable = 0;
				cut--;
			}
		}
	}
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->mkcleans, 1);
	return fail ? -ENOMEM : 0;
}

const struct dax_vm_ops th_vm_ops = {
	.insert = vm_insert,
	.insert_private = vm_insert_private,
	.mkwrite = vm_mkwrite,
	.zap = vm_zap,
	.mkclean = vm_mkclean,
};

/* ---- environment ---- */

int th_env_init(struct th_env *env, uint64_t nr_blocks, uint64_t max_pages)
{
	struct th_fs *fs = &env->fs;
	int err;

	memset(env, 0, sizeof(*env));
	pthread_rwlock_init(&fs->mmap_lock, NULL);
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&env->vm.lock, NULL);
	fs->nr_blocks = nr_blocks;
	fs->free_blocks = nr_blocks;
	fs->max_pages = max_pages;
	fs->pmd_alloc = true;
	fs->dev = aligned_alloc(DAX_PAGE_SIZE, nr_blocks * DAX_PAGE_SIZE);
	fs->used = calloc(nr_blocks, 1);
	fs->map = malloc(max_pages * sizeof(*fs->map));
	fs->owner = malloc(nr_blocks * sizeof(*fs->owner));
	fs->fresh = calloc(max_pages, sizeof(*fs->fresh));
	fs->block_flushes = calloc(nr_blocks, sizeof(*fs->block_flushes));
	fs->unsynced = calloc(max_pages, 1);
	if (!fs->dev || !fs->used || !fs->map || !fs->owner || !fs->fresh ||
	    !fs->block_flushes || !fs->unsynced)
		return -ENOMEM;
	memset(fs->dev, 0xA5, nr_blocks * DAX_PAGE_SIZE);
	for (uint64_t p = 0; p < max_pages; p++)
		atomic_init(&fs->map[p], TH_HOLE);
	for (uint64_t b = 0; b < nr_blocks; b++)
		atomic_init(&fs->owner[b], TH_HOLE);
	fs->vm = &env->vm;
	fs->f = &env->f;
	env->vm.fs = fs;
	env->vm.f = &env->f;
	env->vm.fail_ops = TH_VM_OPS_ALL;
	err = dax_fmap_init(&env->f, &th_fs_ops, fs, &th_vm_ops, &env->vm,
			    &th_dev_ops, fs);
	return err;
}

void th_env_destroy(struct th_env *env)
{
	for (int r = 0; r < env->vm.nr_regions; r++) {
		for (uint64_t p = 0; p < env->fs.max_pages; p++)
			pte_clear(&env->vm.regions[r].ptes[p]);
		free(env->vm.regions[r].ptes);
	}
	dax_fmap_destroy(&env->f);
	free(env->fs.dev);
	free(env->fs.used);
	free((void *)env->fs.map);
	free((void *)env->fs.owner);
	free((void *)env->fs.fresh);
	free((void *)env->fs.block_flushes);
	free(env->fs.durable);
	free(env->fs.unsynced);
	pthread_rwlock_destroy(&env->fs.mmap_lock);
	pthread_mutex_destroy(&env->fs.lock);
	pthread_mutex_destroy(&env->vm.lock);
}

/*
 * th_region_add() - a new region mapping the whole file; @huge lets
 * th_access() try 2 MiB faults. Context: before any thread uses the env.
 */
struct th_region *th_region_add(struct th_env *env, bool shared, bool sync,
				bool huge)
{
	struct th_region *r;

	if (env->vm.nr_regions >= TH_MAX_REGIONS)
		return NULL;
	r = &env->vm.regions[env->vm.nr_regions];
	r->ptes = calloc(env->fs.max_pages, sizeof(*r->ptes));
	if (!r->ptes)
		return NULL;
	r->id = env->vm.nr_regions++;
	r->shared = shared;
	r->sync = sync;
	r->huge = huge;
	atomic_store(&r->next_write, 0);
	return r;
}

/*
 * th_access() - a load (or store of *@value) of 8-byte word @word of page
 * @index through region @r, faulting as the MMU would until it succeeds.
 * The access itself happens under vm->lock, as if the TLB made it atomic
 * with respect to zap and mkclean.
 * Return: 0, or the DAX_FAULT_* error bits (SIGBUS, OOM).
 */
int th_access(struct th_env *env, struct th_region *r, uint64_t index,
	      unsigned int word, bool write, uint64_t *value)
{
	struct th_vm *vm = &env->vm;

	for (int tries = 0;; tries++) {
		struct th_pte *pte;
		bool present, block, pmd;
		struct dax_vmf vmf;
		int ret, z;

		if (index >= env->fs.max_pages)
			return DAX_FAULT_SIGBUS;
		pthread_mutex_lock(&vm->lock);
		pte = &r->ptes[index];
		if (pte->kind != TH_NONE && (!write || pte->writable)) {
			uint64_t *p;

			if (pte->kind == TH_PRIVATE)
				p = pte->private_page;
			else if (pte->kind == TH_ZERO)
				p = NULL;
			else
				p = (uint64_t *)(env->fs.dev +
						 pte->block * DAX_PAGE_SIZE);
			if (write && pte->kind == TH_BLOCK &&
			    !th_entry_dirty(&env->f, index))
				th_violation("store to page %llu through a "
					     "writable mapping, entry clean",
					     (unsigned long long)index);
			z = write && pte->kind == TH_BLOCK
				    ? zero_elsewhere(vm, r, index)
				    : -1;
			if (z >= 0)
				th_violation("store to page %llu while region "
					     "%d shows the zero page there",
					     (unsigned long long)index, z);
			if (write)
				p[word] = *value;
			else
				*value = p ? p[word] : 0;
			pthread_mutex_unlock(&vm->lock);
			return 0;
		}
		present = pte->kind != TH_NONE;
		block = pte->kind == TH_BLOCK;
		pmd = pte->pmd;
		pthread_mutex_unlock(&vm->lock);

		if (tries > 1000) {
			th_violation("access to page %llu never succeeds",
				     (unsigned long long)index);
			return DAX_FAULT_SIGBUS;
		}
		vmf.region = r;
		vmf.index = index;
		vmf.flags = (write ? DAX_VMF_WRITE : 0) |
			    (r->shared ? DAX_VMF_SHARED : 0) |
			    (r->sync ? DAX_VMF_SYNC : 0) |
			    (write && atomic_load(&r->next_write) == index + 1
				     ? DAX_VMF_SEQ
				     : 0);
		if (write && present && block && r->shared)
			ret = dax_mkwrite(&env->f, &vmf,
					  pmd ? DAX_PMD_ORDER : 0);
		else
			ret = dax_fault(&env->f, &vmf,
					r->huge ? DAX_PMD_ORDER : 0);
		if (ret & DAX_FAULT_ERROR_MASK)
			return ret & DAX_FAULT_ERROR_MASK;
	}
}

/*
 * Check mapped page @p of region @r against the fs (@pages in the file)
 * and the index (see th_check_quiescent); note in *@zero / *@writable if
 * it shows the zero page or a writable block. Context: vm->lock held.
 */
static void quiescent_pte(struct th_env *env, int r, uint64_t p,
			  uint64_t pages, int *zero, int *writable)
{
	struct th_fs *fs = &env->fs;
	struct th_pte *pte = &env->vm.regions[r].ptes[p];
	uint64_t owned = th_fs_block_of(fs, p);
	unsigned long long page = p, block = pte->block;

	if (p >= pages)
		th_violation("region %d maps page %llu beyond EOF", r, page);
	if (pte->kind == TH_BLOCK) {
		if (owned != pte->block)
			th_violation("region %d page %llu maps block %llu, "
				     "file has %lld",
				     r, page, block, (long long)owned);
		if (pte->block >= fs->nr_blocks || !fs->used[pte->block])
			th_violation("region %d page %llu maps block %llu, "
				     "which is free",
				     r, page, block);
		if (pte->writable && !th_entry_dirty(&env->f, p))
			th_violation("region %d page %llu writable, entry "
				     "clean",
				     r, page);
		if (pte->writable)
			*writable = r;
	}
	if (pte->kind == TH_ZERO) {
		*zero = r;
		if (pte->writable)
			th_violation("region %d page %llu: writable zero page",
				     r, page);
		if (owned != TH_HOLE &&
		    (owned >= fs->nr_blocks || !block_zeroed(fs, owned)))
			th_violation("region %d page %llu: stale zero page "
				     "over block %llu",
				     r, page, (unsigned long long)owned);
	}
}

/*
 * Check every mapping of every region against the fs and the index: none
 * beyond EOF; a block only where the file owns it, never a freed one; a
 * writable block only with a DIRTY entry; a zero page only over a hole or
 * over a block of zeros (a failed zap's leftover) that nobody can write.
 */
void th_check_quiescent(struct th_env *env)
{
	struct th_vm *vm = &env->vm;
	uint64_t pages = size_pages(&env->fs);

	pthread_mutex_lock(&vm->lock);
	for (uint64_t p = 0; p < env->fs.max_pages; p++) {
		int zero = -1, writable = -1;

		for (int r = 0; r < vm->nr_regions; r++)
			if (vm->regions[r].ptes[p].kind != TH_NONE)
				quiescent_pte(env, r, p, pages, &zero,
					      &writable);
		if (zero >= 0 && writable >= 0)
			th_violation("page %llu: zero page in region %d, "
				     "writable block in region %d",
				     (unsigned long long)p, zero, writable);
	}
	pthread_mutex_unlock(&vm->lock);
}
