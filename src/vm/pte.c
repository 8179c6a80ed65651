/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pte.c - the VM operations the fault engine calls (struct dax_vm_ops):
 * insert a block or the zero page, a private copy, make writable, zap and
 * write-protect. Each is a few mmap/mprotect calls over the region's
 * reservation, with the page states in r->pte[] kept in step.
 *
 * @vf is the file's VM state (the vm_ctx the engine passes), @r a region,
 * @i a page number inside a region, @index a file page.
 *
 * Context: called by the engine with an entry lock held; each takes
 * r->lock (and vf->lock to walk the rmap). A region being unmapped has
 * nr_pages == 0 under r->lock: operations on it do nothing.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vm.h"

static inline char *page_addr(struct dax_region *r, uint64_t i)
{
	return r->addr + (i << DAX_PAGE_SHIFT);
}

/* Region page where the 2 MiB mapping holding region page @i starts. */
static inline uint64_t huge_start(struct dax_region *r, uint64_t i)
{
	uint64_t base = (uintptr_t)r->addr >> DAX_PAGE_SHIFT;

	return ((base + i) & ~(DAX_PMD_NR - 1)) - base;
}

/* Page @i leaves a 2 MiB mapping: all its pages become 4 KiB pieces. */
static void split_huge(struct dax_region *r, uint64_t i)
{
	uint64_t h = huge_start(r, i);

	for (uint64_t k = h; k < h + DAX_PMD_NR && k < r->nr_pages; k++)
		atomic_store_explicit(&r->pte[k],
				      atomic_load_explicit(&r->pte[k],
							   memory_order_relaxed) &
					      ~DAX_PTE_HUGE,
				      memory_order_relaxed);
}

static inline uint8_t pte_get(struct dax_region *r, uint64_t i)
{
	return atomic_load_explicit(&r->pte[i], memory_order_relaxed);
}

static inline void pte_set(struct dax_region *r, uint64_t i, uint8_t v)
{
	atomic_store_explicit(&r->pte[i], v, memory_order_relaxed);
}

/* Region pages [*a, *b] that file pages [first, last] cover; false if none. */
static bool clamp(struct dax_region *r, uint64_t first, uint64_t last,
		  uint64_t *a, uint64_t *b)
{
	uint64_t end = r->pgoff + r->nr_pages - 1;

	if (!r->nr_pages || last < r->pgoff || first > end)
		return false;
	*a = (first > r->pgoff ? first : r->pgoff) - r->pgoff;
	*b = (last < end ? last : end) - r->pgoff;
	return true;
}

static int vm_mmap(struct dax_vm_file *vf, void *addr, uint64_t len, int prot,
		   int flags, int fd, uint64_t off)
{
	void *p = mmap(addr, len, prot, flags | MAP_FIXED, fd, (off_t)off);

	atomic_fetch_add_explicit(&vf->mmaps, 1, memory_order_relaxed);
	if (p == MAP_FAILED) {
		atomic_fetch_add_explicit(&vf->map_errors, 1,
					  memory_order_relaxed);
		return -errno;
	}
	return 0;
}

/* Put PROT_NONE reservation back over region pages [a, b]. */
static int unmap_pages(struct dax_vm_file *vf, struct dax_region *r,
		       uint64_t a, uint64_t b)
{
	return vm_mmap(vf, page_addr(r, a), (b - a + 1) << DAX_PAGE_SHIFT,
		       PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
}

/*
 * Map region pages [i, i + nr) to the blocks from @block (or to zeros
 * with DAX_VM_ZERO) and give them state @huge | their kind.
 * Context: r->lock held.
 */
static int map_run(struct dax_vm_file *vf, struct dax_region *r, uint64_t i,
		   uint64_t nr, uint64_t block, unsigned int flags,
		   uint8_t huge)
{
	bool writable = flags & DAX_VM_WRITE;
	uint8_t state;
	int err;

	if (flags & DAX_VM_ZERO) {
		err = vm_mmap(vf, page_addr(r, i), nr << DAX_PAGE_SHIFT,
			      PROT_READ,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
			      0);
		state = DAX_PTE_ZERO;
	} else {
		int prot = PROT_READ | (writable ? PROT_WRITE : 0);

		err = vm_mmap(vf, page_addr(r, i), nr << DAX_PAGE_SHIFT, prot,
			      MAP_SHARED | MAP_POPULATE, vf->devfd,
			      vf->dev_offset + (block << DAX_PAGE_SHIFT));
		state = writable ? DAX_PTE_RW : DAX_PTE_RO;
	}
	if (!err)
		for (uint64_t k = 0; k < nr; k++)
			pte_set(r, i + k, state | huge);
	return err;
}

static bool is_private(struct dax_region *r, uint64_t i)
{
	return (pte_get(r, i) & DAX_PTE_STATE_MASK) == DAX_PTE_PRIVATE;
}

static int vm_insert(void *ctx, void *region, uint64_t index,
		     unsigned int order, uint64_t block, unsigned int flags)
{
	struct dax_vm_file *vf = ctx;
	struct dax_region *r = region;
	uint64_t nr = (uint64_t)1 << order, i = index - r->pgoff, k;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	if (index < r->pgoff || i + nr > r->nr_pages) {
		pthread_mutex_unlock(&r->lock);
		return -EFAULT; /* unmapped meanwhile */
	}
	for (k = 0; order && k < nr && !is_private(r, i + k); k++)
		;
	if (!order || k == nr) {
		err = map_run(vf, r, i, nr, block, flags,
			      order ? DAX_PTE_HUGE : 0);
		pthread_mutex_unlock(&r->lock);
		return err;
	}
	/*
	 * A 2 MiB entry over a range of a private region that holds private
	 * copies (the kernel would find page tables there and fault 4 KiB):
	 * the copies are this region's data and must stay. Map the entry's
	 * other pages in 4 KiB pieces around them, as parts of the entry
	 * (state without DAX_PTE_HUGE, as when a PTE fault maps 4 KiB of a
	 * 2 MiB entry).
	 */
	for (k = 0; k < nr && !err;) {
		uint64_t end = k;

		if (is_private(r, i + k)) {
			k++;
			continue;
		}
		while (end < nr && !is_private(r, i + end))
			end++;
		err = map_run(vf, r, i + k, end - k,
			      (flags & DAX_VM_ZERO) ? 0 : block + k, flags, 0);
		k = end;
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}

static int vm_insert_private(void *ctx, void *region, uint64_t index,
			     const void *src)
{
	struct dax_vm_file *vf = ctx;
	struct dax_region *r = region;
	uint64_t i = index - r->pgoff;
	int err;

	pthread_mutex_lock(&r->lock);
	if (index < r->pgoff || i >= r->nr_pages) {
		pthread_mutex_unlock(&r->lock);
		return -EFAULT;
	}
	err = vm_mmap(vf, page_addr(r, i), DAX_PAGE_SIZE,
		      PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (!err) {
		/* Fresh anonymous memory, already populated: cannot fault. */
		if (src)
			memcpy(page_addr(r, i), src, DAX_PAGE_SIZE);
		if (pte_get(r, i) & DAX_PTE_HUGE)
			split_huge(r, i);
		pte_set(r, i, DAX_PTE_PRIVATE);
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}

static int vm_mkwrite(void *ctx, void *region, uint64_t index,
		      unsigned int order)
{
	struct dax_vm_file *vf = ctx;
	struct dax_region *r = region;
	uint64_t nr = (uint64_t)1 << order, i = index - r->pgoff;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	if (index < r->pgoff || i + nr > r->nr_pages) {
		err = -ENOENT;
		goto out;
	}
	for (uint64_t k = 0; k < nr; k++) {
		uint8_t s = pte_get(r, i + k) & DAX_PTE_STATE_MASK;

		if (s != DAX_PTE_RO && s != DAX_PTE_RW) {
			err = -ENOENT; /* zapped meanwhile: fault again */
			goto out;
		}
	}
	if (mprotect(page_addr(r, i), nr << DAX_PAGE_SHIFT,
		     PROT_READ | PROT_WRITE)) {
		err = -errno;
		atomic_fetch_add_explicit(&vf->map_errors, 1,
					  memory_order_relaxed);
		goto out;
	}
	atomic_fetch_add_explicit(&vf->mmaps, 1, memory_order_relaxed);
	for (uint64_t k = 0; k < nr; k++)
		pte_set(r, i + k,
			(pte_get(r, i + k) & DAX_PTE_HUGE) | DAX_PTE_RW);
out:
	pthread_mutex_unlock(&r->lock);
	return err;
}

static bool zap_this(uint8_t s, bool even_private)
{
	s &= DAX_PTE_STATE_MASK;
	return s != DAX_PTE_NONE && (even_private || s != DAX_PTE_PRIVATE);
}

static void vm_zap(void *ctx, uint64_t first, uint64_t last,
		   bool even_private)
{
	struct dax_vm_file *vf = ctx;

	pthread_mutex_lock(&vf->lock);
	for (struct dax_region *r = vf->regions; r; r = r->next) {
		uint64_t a, b;

		pthread_mutex_lock(&r->lock);
		if (!clamp(r, first, last, &a, &b)) {
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		for (uint64_t i = a; i <= b;) {
			uint64_t j = i;

			if (!zap_this(pte_get(r, i), even_private)) {
				i++;
				continue;
			}
			while (j + 1 <= b && zap_this(pte_get(r, j + 1),
						      even_private))
				j++;
			/* Unmapping part of a 2 MiB mapping splits it. */
			if (pte_get(r, i) & DAX_PTE_HUGE)
				split_huge(r, i);
			if (pte_get(r, j) & DAX_PTE_HUGE)
				split_huge(r, j);
			if (unmap_pages(vf, r, i, j) == 0)
				for (uint64_t k = i; k <= j; k++)
					pte_set(r, k, DAX_PTE_NONE);
			i = j + 1;
		}
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_unlock(&vf->lock);
}

static void vm_mkclean(void *ctx, uint64_t first, uint64_t last)
{
	struct dax_vm_file *vf = ctx;

	pthread_mutex_lock(&vf->lock);
	for (struct dax_region *r = vf->regions; r; r = r->next) {
		uint64_t a, b;

		if (!(r->flags & DAX_REGION_SHARED))
			continue;
		pthread_mutex_lock(&r->lock);
		if (!clamp(r, first, last, &a, &b)) {
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		for (uint64_t i = a; i <= b;) {
			uint64_t j = i;

			if ((pte_get(r, i) & DAX_PTE_STATE_MASK) !=
			    DAX_PTE_RW) {
				i++;
				continue;
			}
			while (j + 1 <= b &&
			       (pte_get(r, j + 1) & DAX_PTE_STATE_MASK) ==
				       DAX_PTE_RW)
				j++;
			if (mprotect(page_addr(r, i),
				     (j - i + 1) << DAX_PAGE_SHIFT, PROT_READ) ==
			    0) {
				for (uint64_t k = i; k <= j; k++)
					pte_set(r, k,
						(pte_get(r, k) & DAX_PTE_HUGE) |
							DAX_PTE_RO);
			} else {
				atomic_fetch_add_explicit(&vf->map_errors, 1,
							  memory_order_relaxed);
			}
			atomic_fetch_add_explicit(&vf->mmaps, 1,
						  memory_order_relaxed);
			i = j + 1;
		}
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_unlock(&vf->lock);
}

const struct dax_vm_ops dax_vm_ops = {
	.insert = vm_insert,
	.insert_private = vm_insert_private,
	.mkwrite = vm_mkwrite,
	.zap = vm_zap,
	.mkclean = vm_mkclean,
};
