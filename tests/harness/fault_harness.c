/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_harness.c - in-memory filesystem ("th_fs") and recording VM
 * ("th_vm") for the fault engine tests. See fault_harness.h for the
 * invariants checked on every call.
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
		atomic_fetch_add(&fs->allocs, nr);
		return b;
	}
	return TH_HOLE;
}

static int fs_iomap_begin(void *file, uint64_t index, uint64_t nr,
			  unsigned int flags, struct dax_iomap *map)
{
	struct th_fs *fs = file;
	uint64_t b, run;

	atomic_fetch_add(&fs->iomaps, 1);
	if (atomic_exchange(&fs->fail_next_iomap, 0))
		return -EIO;
	if (index >= fs->max_pages)
		return (flags & DAX_IOMAP_WRITE) ? -EFBIG : -EIO;
	if (nr > fs->max_pages - index)
		nr = fs->max_pages - index;
	memset(map, 0, sizeof(*map));
	map->index = index;
	pthread_mutex_lock(&fs->lock);
	b = atomic_load(&fs->map[index]);
	if (b != TH_HOLE) {
		for (run = 1; run < nr &&
			      atomic_load(&fs->map[index + run]) == b + run;
		     run++)
			;
		map->type = DAX_IOMAP_MAPPED;
		map->block = b;
		map->nr = run;
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
	for (run = 1;
	     run < nr && atomic_load(&fs->map[index + run]) == TH_HOLE; run++)
		;
	if (!(flags & DAX_IOMAP_WRITE)) {
		map->type = DAX_IOMAP_HOLE;
		map->nr = run;
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
		/* rw_new first: whoever sees the block sees it flagged. */
		if (!(flags & DAX_IOMAP_FAULT))
			atomic_store(&fs->rw_new[index + i], 1);
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

	/* A write(2) is done with its new blocks: zero pages are gone. */
	if (map && map->type == DAX_IOMAP_MAPPED &&
	    (map->flags & DAX_IOMAP_F_NEW))
		for (uint64_t i = 0; i < map->nr; i++)
			atomic_store(&fs->rw_new[map->index + i], 0);
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
		atomic_store(&fs->rw_new[p], 0);
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

const struct dax_fs_ops th_fs_ops = {
	.iomap_begin = fs_iomap_begin,
	.iomap_end = fs_iomap_end,
	.size = fs_size,
	.set_size = fs_set_size,
	.free_range = fs_free_range,
	.sync = fs_sync,
	.mmap_lock = fs_mmap_lock,
	.mmap_unlock = fs_mmap_unlock,
};

static void *dev_addr(void *dev, uint64_t block)
{
	return dev_block(dev, block);
}

static void dev_flush(void *dev, uint64_t block, uint64_t nr)
{
	struct th_fs *fs = dev;

	(void)block;
	atomic_fetch_add(&fs->flushes, nr);
}

const struct dax_dev_ops th_dev_ops = {
	.addr = dev_addr,
	.flush = dev_flush,
};

/* ---- recording VM ---- */

static void pte_clear(struct th_pte *pte)
{
	free(pte->private_page);
	memset(pte, 0, sizeof(*pte));
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
	/* Unless a write(2) allocated it just now and will zap us. */
	if (kind == TH_ZERO && owned != TH_HOLE &&
	    !atomic_load(&fs->rw_new[index]))
		th_violation("zero page over block %llu at page %llu",
			     (unsigned long long)owned,
			     (unsigned long long)index);
	if (writable && !th_entry_dirty(vm->f, index))
		th_violation("writable mapping of page %llu without DIRTY",
			     (unsigned long long)index);
	for (int r = 0; r < vm->nr_regions; r++) {
		struct th_pte *o = &vm->regions[r].ptes[index];

		if (&vm->regions[r] == self || o->kind == TH_NONE ||
		    o->kind == TH_PRIVATE)
			continue;
		if (o->kind != kind || (kind == TH_BLOCK && o->block != block))
			th_violation("page %llu: region %d maps %s %llu, "
				     "region %d gets %s %llu",
				     (unsigned long long)index, r,
				     o->kind == TH_ZERO ? "zero" : "block",
				     (unsigned long long)o->block, self->id,
				     kind == TH_ZERO ? "zero" : "block",
				     (unsigned long long)block);
	}
}

static struct th_region *region_of(struct th_vm *vm, void *region)
{
	return region;
}

static int vm_insert(void *ctx, void *region, uint64_t index,
		     unsigned int order, uint64_t block, unsigned int flags)
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
	if (index + nr > vm->fs->max_pages)
		return -EFAULT;
	pthread_mutex_lock(&vm->lock);
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

static int vm_mkwrite(void *ctx, void *region, uint64_t index,
		      unsigned int order)
{
	struct th_vm *vm = ctx;
	struct th_region *r = region_of(vm, region);
	uint64_t nr = (uint64_t)1 << order;
	int err = 0;

	pthread_mutex_lock(&vm->lock);
	for (uint64_t i = 0; i < nr; i++) {
		struct th_pte *pte = &r->ptes[index + i];

		if (pte->kind != TH_BLOCK) {
			err = -ENOENT;
			break;
		}
		if (!th_entry_dirty(vm->f, index + i))
			th_violation("mkwrite of page %llu without DIRTY",
				     (unsigned long long)(index + i));
	}
	for (uint64_t i = 0; !err && i < nr; i++)
		r->ptes[index + i].writable = 1;
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->mkwrites, 1);
	return err;
}

static void vm_zap(void *ctx, uint64_t first, uint64_t last,
		   bool even_private)
{
	struct th_vm *vm = ctx;

	if (last >= vm->fs->max_pages)
		last = vm->fs->max_pages - 1;
	pthread_mutex_lock(&vm->lock);
	for (int r = 0; r < vm->nr_regions; r++)
		for (uint64_t p = first; p <= last && first < vm->fs->max_pages;
		     p++) {
			struct th_pte *pte = &vm->regions[r].ptes[p];

			if (pte->kind == TH_PRIVATE && !even_private)
				continue;
			if (pte->pmd) {
				/* Unmapping part of a PMD splits it. */
				uint64_t pidx = p & DAX_PMD_MASK;

				for (uint64_t i = 0; i < DAX_PMD_NR; i++)
					vm->regions[r].ptes[pidx + i].pmd = 0;
			}
			pte_clear(pte);
		}
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->zaps, 1);
}

static void vm_mkclean(void *ctx, uint64_t first, uint64_t last)
{
	struct th_vm *vm = ctx;

	if (last >= vm->fs->max_pages)
		last = vm->fs->max_pages - 1;
	pthread_mutex_lock(&vm->lock);
	for (int r = 0; r < vm->nr_regions; r++) {
		if (!vm->regions[r].shared)
			continue;
		for (uint64_t p = first; p <= last; p++)
			if (vm->regions[r].ptes[p].kind == TH_BLOCK)
				vm->regions[r].ptes[p].writable = 0;
	}
	pthread_mutex_unlock(&vm->lock);
	atomic_fetch_add(&vm->mkcleans, 1);
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
	fs->rw_new = calloc(max_pages, sizeof(*fs->rw_new));
	fs->unsynced = calloc(max_pages, 1);
	if (!fs->dev || !fs->used || !fs->map || !fs->rw_new || !fs->unsynced)
		return -ENOMEM;
	memset(fs->dev, 0xA5, nr_blocks * DAX_PAGE_SIZE);
	for (uint64_t p = 0; p < max_pages; p++)
		atomic_init(&fs->map[p], TH_HOLE);
	fs->vm = &env->vm;
	fs->f = &env->f;
	env->vm.fs = fs;
	env->vm.f = &env->f;
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
	free((void *)env->fs.rw_new);
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
		int ret;

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
			    (r->sync ? DAX_VMF_SYNC : 0);
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

/* Check every mapping of every region against the fs and the index. */
void th_check_quiescent(struct th_env *env)
{
	struct th_vm *vm = &env->vm;

	pthread_mutex_lock(&vm->lock);
	for (int r = 0; r < vm->nr_regions; r++)
		for (uint64_t p = 0; p < env->fs.max_pages; p++) {
			struct th_pte *pte = &vm->regions[r].ptes[p];
			uint64_t owned = th_fs_block_of(&env->fs, p);

			if (pte->kind == TH_NONE)
				continue;
			if (p >= size_pages(&env->fs))
				th_violation("region %d maps page %llu beyond "
					     "EOF",
					     r, (unsigned long long)p);
			if (pte->kind == TH_BLOCK && owned != pte->block)
				th_violation("region %d page %llu maps block "
					     "%llu, file has %lld",
					     r, (unsigned long long)p,
					     (unsigned long long)pte->block,
					     (long long)owned);
			if (pte->kind == TH_ZERO && owned != TH_HOLE)
				th_violation("region %d page %llu: stale zero "
					     "page over block %llu",
					     r, (unsigned long long)p,
					     (unsigned long long)owned);
			if (pte->kind == TH_BLOCK && pte->writable &&
			    !th_entry_dirty(&env->f, p))
				th_violation("region %d page %llu writable, "
					     "entry clean",
					     r, (unsigned long long)p);
		}
	pthread_mutex_unlock(&vm->lock);
}
