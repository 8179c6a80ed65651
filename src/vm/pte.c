/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pte.c - the VM operations the fault engine calls (struct dax_vm_ops):
 * insert a block, a span of blocks or of zero pages, a private copy, make
 * writable, zap and write-protect. Each is a few mmap/mprotect calls over
 * the region's reservation, with the page states in r->pte[] kept in step.
 *
 * @vf is the file's VM state (the vm_ctx the engine passes), @r a region,
 * @i, @a, @b page numbers inside a region, @index a file page.
 *
 * Claims. An insert holds r->lock shared. It claims each page it will map
 * by a compare-and-swap of the page's state to DAX_PTE_BUSY (the faulting
 * page whatever its state, waiting while another insert has it; span pages
 * only if nothing is mapped there), makes one system call for the claimed
 * run, then publishes the final state. So two faults never map one page at
 * once, and zap/mkclean/reclaim, which take r->lock exclusive, never see a
 * BUSY page. A failed call restores the claimed states: nothing changed.
 *
 * Edges (the mapping budget, see vm.h): after an mmap of [a, b] pages a
 * and b + 1 get DAX_PTE_EDGE and the pages inside lose it; after an
 * mprotect only the two ends get it; after a reset to the reservation an
 * end next to reservation loses it (the kernel merges them).
 *
 * Fail closed. When the kernel refuses a call (ENOMEM, e.g. at
 * vm.max_map_count), the VM reclaims and tries once more; a zap or mkclean
 * that still cannot unmap or write-protect a run falls back to resetting
 * the run, then the whole region, to the reservation (one call that frees
 * mappings: nothing of the region is kept but what is only in memory, the
 * private copies, so this fallback is taken only for a region without
 * any), and else reports the error with the pages as they are.
 *
 * Context: called by the engine with an entry lock held; each takes
 * r->lock (and vf->lock to walk the rmap). A region being unmapped has
 * nr_pages == 0 under r->lock: operations on it do nothing.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "vm.h"

#define PTE_BITS (DAX_PTE_STATE_MASK | DAX_PTE_HUGE)

static inline char *page_addr(struct dax_region *r, uint64_t i)
{
	return r->addr + (i << DAX_PAGE_SHIFT);
}

static inline uint8_t pte_get(struct dax_region *r, uint64_t i)
{
	return atomic_load_explicit(&r->pte[i], memory_order_acquire);
}

static inline uint8_t pte_state(struct dax_region *r, uint64_t i)
{
	return pte_get(r, i) & DAX_PTE_STATE_MASK;
}

/* Region page where the 2 MiB of address space holding page @i starts. */
static inline uint64_t huge_start(struct dax_region *r, uint64_t i)
{
	uint64_t base = (uintptr_t)r->addr >> DAX_PAGE_SHIFT;

	return ((base + i) & ~(DAX_PMD_NR - 1)) - base;
}

/* Set or clear DAX_PTE_EDGE on page @i, keeping the counts. */
static void edge_set(struct dax_region *r, uint64_t i, bool on)
{
	uint8_t old;

	if (i == 0 || i >= r->nr_pages)
		return; /* the region's own ends are counted apart */
	if (on)
		old = atomic_fetch_or_explicit(&r->pte[i], DAX_PTE_EDGE,
					       memory_order_relaxed);
	else
		old = atomic_fetch_and_explicit(&r->pte[i],
						(uint8_t)~DAX_PTE_EDGE,
						memory_order_relaxed);
	if (!!(old & DAX_PTE_EDGE) != on) {
		atomic_fetch_add_explicit(&r->edges, on ? 1 : -1,
					  memory_order_relaxed);
		dax_vm_maps_add(on ? 1 : -1);
	}
}

/* Give page @i the state and HUGE bits @bits, keeping EDGE as it is. */
static void pte_publish(struct dax_region *r, uint64_t i, uint8_t bits)
{
	uint8_t v = atomic_load_explicit(&r->pte[i], memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(
		&r->pte[i], &v, (uint8_t)((v & ~PTE_BITS) | bits),
		memory_order_release, memory_order_relaxed))
		;
}

/* Page @i leaves a 2 MiB mapping: all its pages become 4 KiB pieces. */
static void split_huge(struct dax_region *r, uint64_t i)
{
	uint64_t h = huge_start(r, i);

	for (uint64_t k = h; k < h + DAX_PMD_NR && k < r->nr_pages; k++)
		atomic_fetch_and_explicit(&r->pte[k], (uint8_t)~DAX_PTE_HUGE,
					  memory_order_relaxed);
}

/*
 * Claim page @i whatever its state, waiting while another insert has it.
 * Return: its byte before the claim.
 */
static uint8_t claim_page(struct dax_region *r, uint64_t i)
{
	uint8_t v = pte_get(r, i);

	for (;;) {
		if ((v & DAX_PTE_STATE_MASK) == DAX_PTE_BUSY) {
			sched_yield(); /* one system call away from done */
			v = pte_get(r, i);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(
			    &r->pte[i], &v,
			    (uint8_t)((v & ~DAX_PTE_STATE_MASK) | DAX_PTE_BUSY),
			    memory_order_seq_cst, memory_order_acquire))
			return v;
	}
}

/*
 * Claim page @i only if nothing is mapped there, or with @or_ro a clean
 * mapping of a block (a write span's page: the engine holds its entry,
 * DIRTY, and the block is the same).
 */
static int claim_if_none(struct dax_region *r, uint64_t i, bool or_ro)
{
	uint8_t v = pte_get(r, i);

	while ((v & DAX_PTE_STATE_MASK) == DAX_PTE_NONE ||
	       (or_ro && (v & PTE_BITS) == DAX_PTE_RO)) {
		if (atomic_compare_exchange_weak_explicit(
			    &r->pte[i], &v,
			    (uint8_t)((v & ~PTE_BITS) | DAX_PTE_BUSY),
			    memory_order_seq_cst, memory_order_acquire))
			return v & DAX_PTE_STATE_MASK; /* what it was */
	}
	return -1;
}

/* Record what an mmap of region pages [a, b] did to the mapping edges. */
static void edges_after_mmap(struct dax_region *r, uint64_t a, uint64_t b)
{
	edge_set(r, a, true);
	for (uint64_t k = a + 1; k <= b; k++)
		if (pte_get(r, k) & DAX_PTE_EDGE)
			edge_set(r, k, false);
	edge_set(r, b + 1, true);
}

static int sys_mmap(struct dax_vm_file *vf, void *addr, uint64_t len, int prot,
		    int flags, int fd, uint64_t off)
{
	void *p = dax_vm_sys_mmap(addr, len, prot, flags | MAP_FIXED, fd,
				  (off_t)off);

	atomic_fetch_add_explicit(&vf->mmaps, 1, memory_order_relaxed);
	if (p == MAP_FAILED) {
		atomic_fetch_add_explicit(&vf->map_errors, 1,
					  memory_order_relaxed);
		return -errno;
	}
	return 0;
}

static int sys_mprotect(struct dax_vm_file *vf, void *addr, uint64_t len,
			int prot)
{
	atomic_fetch_add_explicit(&vf->mmaps, 1, memory_order_relaxed);
	if (dax_vm_sys_mprotect(addr, len, prot)) {
		atomic_fetch_add_explicit(&vf->map_errors, 1,
					  memory_order_relaxed);
		return -errno;
	}
	return 0;
}

/*
 * Map region pages [a, b] to the blocks from @block (or to zero pages
 * with DAX_VM_ZERO), without populating: the access is retried and the
 * kernel fills the page table.
 */
static int map_pages(struct dax_vm_file *vf, struct dax_region *r, uint64_t a,
		     uint64_t b, uint64_t block, unsigned int flags)
{
	uint64_t len = (b - a + 1) << DAX_PAGE_SHIFT;

	if (flags & DAX_VM_ZERO)
		return sys_mmap(vf, page_addr(r, a), len, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/*
	 * A write span is populated: every page of it is about to be stored
	 * to (write-around serves sequential writers), and one populate is
	 * cheaper than a kernel fault per page.
	 */
	return sys_mmap(vf, page_addr(r, a), len,
			PROT_READ | ((flags & DAX_VM_WRITE) ? PROT_WRITE : 0),
			MAP_SHARED | ((flags & DAX_VM_WRITE) && b > a
					      ? MAP_POPULATE
					      : 0),
			vf->devfd, vf->dev_offset + (block << DAX_PAGE_SHIFT));
}

static uint8_t state_for(unsigned int flags)
{
	if (flags & DAX_VM_ZERO)
		return DAX_PTE_ZERO;
	return (flags & DAX_VM_WRITE) ? DAX_PTE_RW : DAX_PTE_RO;
}

/* ---- resets to the reservation (r->lock exclusive) ---- */

/*
 * Put the PROT_NONE reservation back over region pages [a, b] and record
 * it. Context: r->lock exclusive.
 */
static int reset_pages(struct dax_vm_file *vf, struct dax_region *r,
		       uint64_t a, uint64_t b)
{
	int err;

	if (pte_get(r, a) & DAX_PTE_HUGE)
		split_huge(r, a);
	if (pte_get(r, b) & DAX_PTE_HUGE)
		split_huge(r, b);
	err = sys_mmap(vf, page_addr(r, a), (b - a + 1) << DAX_PAGE_SHIFT,
		       PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (err)
		return err;
	for (uint64_t k = a; k <= b; k++)
		pte_publish(r, k, DAX_PTE_NONE);
	edges_after_mmap(r, a, b);
	/* Reservation next to reservation: the kernel merges them. */
	if (a > 0 && pte_state(r, a - 1) == DAX_PTE_NONE)
		edge_set(r, a, false);
	if (b + 1 < r->nr_pages && pte_state(r, b + 1) == DAX_PTE_NONE)
		edge_set(r, b + 1, false);
	return 0;
}

static bool region_has_private(struct dax_region *r)
{
	if (r->flags & DAX_REGION_SHARED)
		return false; /* private copies exist only in private regions */
	for (uint64_t k = 0; k < r->nr_pages; k++)
		if (pte_state(r, k) == DAX_PTE_PRIVATE)
			return true;
	return false;
}

/*
 * reset_region() - the last resort of a zap or mkclean that the
 * kernel refused: one mmap of the reservation over all of @r, which
 * replaces every mapping inside it and so needs no new one. Refused for a
 * region holding private copies (their data would go). Every page faults
 * anew; DIRTY tags stay, so writeback still flushes what was written.
 * Context: r->lock exclusive.
 */
static int reset_region(struct dax_vm_file *vf, struct dax_region *r)
{
	int err;

	if (region_has_private(r))
		return -ENOMEM;
	err = reset_pages(vf, r, 0, r->nr_pages - 1);
	if (!err)
		for (uint64_t w = 0; w < r->nr_windows; w++)
			atomic_store_explicit(&r->win[w], 0,
					      memory_order_relaxed);
	return err;
}

/*
 * Reset region pages [a, b], reclaiming and falling back as the file
 * comment says. Context: r->lock exclusive.
 */
static int reset_pages_hard(struct dax_vm_file *vf, struct dax_region *r,
			    uint64_t a, uint64_t b)
{
	int err = reset_pages(vf, r, a, b);

	if (err == -ENOMEM) {
		dax_vm_reclaim(4, r);
		err = reset_pages(vf, r, a, b);
	}
	if (err)
		err = reset_region(vf, r);
	return err;
}

/* ---- inserts (r->lock shared) ---- */

/*
 * Give back claims: page @i to @old, span pages [a, b] other than @i to
 * nothing mapped, or to clean block mappings where bit k - @i of @ro is
 * set (a write span claims those too, after @i only).
 */
static void unclaim(struct dax_region *r, uint64_t a, uint64_t b, uint64_t i,
		    uint8_t old, uint64_t ro)
{
	for (uint64_t k = a; k <= b; k++) {
		uint8_t s = DAX_PTE_NONE;

		if (k == i)
			s = old & PTE_BITS;
		else if (k > i && k - i < 64 && (ro >> (k - i) & 1))
			s = DAX_PTE_RO;
		pte_publish(r, k, s);
	}
}

/* A 4 KiB insert at region page @i, with the span cut to the region. */
static int insert_pte(struct dax_vm_file *vf, struct dax_region *r, uint64_t i,
		      uint64_t block, unsigned int flags,
		      const struct dax_vm_span *span, bool *retry)
{
	uint8_t want = state_for(flags), old, os;
	uint64_t a = i, b = i, ro = 0;
	int err;

	dax_vm_win_touch(r, i, i);
	old = claim_page(r, i);
	os = old & DAX_PTE_STATE_MASK;
	if (os == DAX_PTE_PRIVATE || os == want ||
	    (want == DAX_PTE_RO && os == DAX_PTE_RW)) {
		/*
		 * Another fault mapped it meanwhile (RW serves a read too),
		 * or it is this region's private copy, which stays.
		 */
		pte_publish(r, i, old & PTE_BITS);
		return 0;
	}
	if (span) {
		bool wr = flags & DAX_VM_WRITE;
		uint64_t end = r->pgoff + r->nr_pages - 1;
		uint64_t lo = (span->first > r->pgoff ? span->first : r->pgoff) -
			      r->pgoff;
		uint64_t hi = (span->last < end ? span->last : end) - r->pgoff;

		dax_vm_win_touch(r, lo, hi);
		if (wr && hi > i + 63)
			hi = i + 63; /* the @ro mask's reach (spans are 16) */
		while (!wr && a > lo && claim_if_none(r, a - 1, false) >= 0)
			a--;
		while (b < hi) {
			int was = claim_if_none(r, b + 1, wr);

			if (was < 0)
				break;
			b++;
			if (was == DAX_PTE_RO)
				ro |= (uint64_t)1 << (b - i);
		}
		if ((flags & DAX_VM_ZERO) && (a < i || b > i) &&
		    atomic_load_explicit(span->gen, memory_order_seq_cst) !=
			    span->gen_seen) {
			/* A hole may have got a block: our page alone. */
			unclaim(r, a, b, i, DAX_PTE_BUSY, 0);
			a = b = i;
		}
		if (!(flags & DAX_VM_ZERO))
			block = span->block + (r->pgoff + a - span->first);
	}
	err = map_pages(vf, r, a, b, block, flags);
	if (err) {
		unclaim(r, a, b, i, old, ro);
		*retry = err == -ENOMEM;
		return err;
	}
	if (old & DAX_PTE_HUGE)
		split_huge(r, i);
	for (uint64_t k = a; k <= b; k++)
		pte_publish(r, k, want);
	edges_after_mmap(r, a, b);
	if (want == DAX_PTE_RW)
		atomic_store_explicit(&r->next_write, b + 2,
				      memory_order_relaxed);
	return 0;
}

/* A 2 MiB insert at region page @i (the first of the 2 MiB). */
static int insert_pmd(struct dax_vm_file *vf, struct dax_region *r, uint64_t i,
		      uint64_t block, unsigned int flags, bool *retry)
{
	uint8_t want = state_for(flags), old[DAX_PMD_NR];
	bool privates = false;
	int err = 0;

	dax_vm_win_touch(r, i, i + DAX_PMD_NR - 1);
	for (uint64_t k = 0; k < DAX_PMD_NR; k++) {
		old[k] = claim_page(r, i + k);
		privates |= (old[k] & DAX_PTE_STATE_MASK) == DAX_PTE_PRIVATE;
	}
	if (!privates) {
		err = map_pages(vf, r, i, i + DAX_PMD_NR - 1, block, flags);
		if (!err) {
			for (uint64_t k = 0; k < DAX_PMD_NR; k++)
				pte_publish(r, i + k, want | DAX_PTE_HUGE);
			edges_after_mmap(r, i, i + DAX_PMD_NR - 1);
		}
	} else {
		/*
		 * A 2 MiB entry over a range of a private region that holds
		 * private copies (the kernel would find page tables there and
		 * fault 4 KiB): the copies are this region's data and must
		 * stay. Map the entry's other pages in 4 KiB pieces around
		 * them, as parts of the entry (state without DAX_PTE_HUGE, as
		 * when a PTE fault maps 4 KiB of a 2 MiB entry).
		 */
		for (uint64_t k = 0; k < DAX_PMD_NR && !err;) {
			uint64_t end = k;

			if ((old[k] & DAX_PTE_STATE_MASK) == DAX_PTE_PRIVATE) {
				pte_publish(r, i + k, old[k] & PTE_BITS);
				old[k] = 0xff; /* done */
				k++;
				continue;
			}
			while (end < DAX_PMD_NR &&
			       (old[end] & DAX_PTE_STATE_MASK) !=
				       DAX_PTE_PRIVATE)
				end++;
			err = map_pages(vf, r, i + k, i + end - 1,
					(flags & DAX_VM_ZERO) ? 0 : block + k,
					flags);
			if (!err) {
				if (old[k] & DAX_PTE_HUGE)
					split_huge(r, i + k);
				for (uint64_t n = k; n < end; n++) {
					pte_publish(r, i + n, want);
					old[n] = 0xff;
				}
				edges_after_mmap(r, i + k, i + end - 1);
			}
			k = end;
		}
	}
	if (err) {
		for (uint64_t k = 0; k < DAX_PMD_NR; k++)
			if (old[k] != 0xff)
				pte_publish(r, i + k, old[k] & PTE_BITS);
		*retry = err == -ENOMEM;
	}
	return err;
}

static int vm_insert(void *ctx, void *region, uint64_t index,
		     unsigned int order, uint64_t block, unsigned int flags,
		     const struct dax_vm_span *span)
{
	struct dax_vm_file *vf = ctx;
	struct dax_region *r = region;
	uint64_t nr = (uint64_t)1 << order;
	bool retry = false;
	int err;

	for (int attempt = 0;; attempt++) {
		dax_vm_budget_charge(2, NULL);
		pthread_rwlock_rdlock(&r->lock);
		if (index < r->pgoff || index - r->pgoff + nr > r->nr_pages) {
			pthread_rwlock_unlock(&r->lock);
			return -EFAULT; /* unmapped meanwhile */
		}
		if (span && (index < span->first || index > span->last))
			span = NULL;
		if (order)
			err = insert_pmd(vf, r, index - r->pgoff, block, flags,
					 &retry);
		else
			err = insert_pte(vf, r, index - r->pgoff, block, flags,
					 span, &retry);
		pthread_rwlock_unlock(&r->lock);
		if (!retry || attempt)
			return err;
		dax_vm_reclaim(4, NULL); /* out of mappings: make room */
		retry = false;
	}
}

static int vm_insert_private(void *ctx, void *region, uint64_t index,
			     const void *src)
{
	struct dax_vm_file *vf = ctx;
	struct dax_region *r = region;
	uint64_t i = index - r->pgoff;
	int err;

	for (int attempt = 0;; attempt++) {
		uint8_t old;

		dax_vm_budget_charge(2, NULL);
		pthread_rwlock_rdlock(&r->lock);
		if (index < r->pgoff || i >= r->nr_pages) {
			pthread_rwlock_unlock(&r->lock);
			return -EFAULT;
		}
		dax_vm_win_touch(r, i, i);
		old = claim_page(r, i);
		if ((old & DAX_PTE_STATE_MASK) == DAX_PTE_PRIVATE) {
			pte_publish(r, i, old & PTE_BITS); /* raced: done */
			pthread_rwlock_unlock(&r->lock);
			return 0;
		}
		err = sys_mmap(vf, page_addr(r, i), DAX_PAGE_SIZE,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
			       0);
		if (!err) {
			/* Fresh anonymous memory, populated: cannot fault. */
			if (src)
				memcpy(page_addr(r, i), src, DAX_PAGE_SIZE);
			if (old & DAX_PTE_HUGE)
				split_huge(r, i);
			pte_publish(r, i, DAX_PTE_PRIVATE);
			edges_after_mmap(r, i, i);
		} else {
			pte_publish(r, i, old & PTE_BITS);
		}
		pthread_rwlock_unlock(&r->lock);
		if (err != -ENOMEM || attempt)
			return err;
		dax_vm_reclaim(4, NULL);
	}
}

static int vm_mkwrite(void *ctx, void *region, uint64_t index,
		      unsigned int order)
{
	struct dax_vm_file *vf = ctx;
	struct dax_region *r = region;
	uint64_t nr = (uint64_t)1 << order, i = index - r->pgoff;
	uint8_t old[DAX_PMD_NR];

	for (int attempt = 0;; attempt++) {
		bool all_rw = true;
		uint64_t k;
		int err = 0;

		dax_vm_budget_charge(2, NULL);
		pthread_rwlock_rdlock(&r->lock);
		if (index < r->pgoff || i + nr > r->nr_pages) {
			pthread_rwlock_unlock(&r->lock);
			return -ENOENT;
		}
		for (k = 0; k < nr; k++) {
			uint8_t s;

			old[k] = claim_page(r, i + k);
			s = old[k] & DAX_PTE_STATE_MASK;
			all_rw &= s == DAX_PTE_RW;
			if (s != DAX_PTE_RO && s != DAX_PTE_RW) {
				err = -ENOENT; /* zapped meanwhile: refault */
				k++;
				break;
			}
		}
		if (!err && !all_rw)
			err = sys_mprotect(vf, page_addr(r, i),
					   nr << DAX_PAGE_SHIFT,
					   PROT_READ | PROT_WRITE);
		if (!err && !all_rw) {
			for (uint64_t n = 0; n < nr; n++)
				pte_publish(r, i + n,
					    (old[n] & DAX_PTE_HUGE) |
						    DAX_PTE_RW);
			edge_set(r, i, true);
			edge_set(r, i + nr, true);
		} else {
			for (uint64_t n = 0; n < k; n++)
				pte_publish(r, i + n, old[n] & PTE_BITS);
		}
		pthread_rwlock_unlock(&r->lock);
		if (err != -ENOMEM || attempt)
			return err;
		dax_vm_reclaim(4, NULL);
	}
}

/* ---- zap and mkclean (r->lock exclusive) ---- */

static bool zap_this(uint8_t s, unsigned int what)
{
	switch (s & DAX_PTE_STATE_MASK) {
	case DAX_PTE_ZERO:
		return what & DAX_ZAP_ZERO;
	case DAX_PTE_RO:
	case DAX_PTE_RW:
		return what & DAX_ZAP_BLOCKS;
	case DAX_PTE_PRIVATE:
		return what & DAX_ZAP_PRIVATE;
	default:
		return false;
	}
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

/*
 * Could region pages [a, b] hold something that @what names, or an insert
 * in flight? Read without the lock, window by window: a window never
 * mapped into is skipped whole. Sequentially consistent loads, paired
 * with the insert's window touch and claim, then its hole_gen load: a zap
 * of zero pages that bumped hole_gen first either sees the insert here or
 * the insert sees the new hole_gen and maps no span (see fault.h).
 */
static bool may_hold(struct dax_region *r, uint64_t a, uint64_t b,
		     unsigned int what)
{
	uint64_t base = (uintptr_t)r->addr >> DAX_PAGE_SHIFT;

	for (uint64_t k = a; k <= b;) {
		uint64_t w = dax_vm_window_of(r, k);
		uint64_t wend = ((base + k) | (DAX_PMD_NR - 1)) - base;

		if (wend > b)
			wend = b;
		if (!(atomic_load_explicit(&r->win[w], memory_order_seq_cst) &
		      DAX_WIN_MAPPED)) {
			k = wend + 1;
			continue;
		}
		for (; k <= wend; k++) {
			uint8_t s = atomic_load_explicit(&r->pte[k],
							 memory_order_seq_cst);

			if ((s & DAX_PTE_STATE_MASK) == DAX_PTE_BUSY ||
			    zap_this(s, what))
				return true;
		}
	}
	return false;
}

static int zap_region(struct dax_vm_file *vf, struct dax_region *r,
		      uint64_t a, uint64_t b, unsigned int what)
{
	int err = 0;

	for (uint64_t i = a; i <= b;) {
		uint64_t j = i;

		if (!zap_this(pte_get(r, i), what)) {
			i++;
			continue;
		}
		while (j + 1 <= b && zap_this(pte_get(r, j + 1), what))
			j++;
		err = reset_pages_hard(vf, r, i, j);
		if (err)
			return err; /* pages [i, b] may still be mapped */
		i = j + 1;
	}
	return 0;
}

static int vm_zap(void *ctx, uint64_t first, uint64_t last, unsigned int what)
{
	struct dax_vm_file *vf = ctx;
	int err = 0;

	dax_vm_budget_charge(2, NULL);
	pthread_mutex_lock(&vf->lock);
	for (struct dax_region *r = vf->regions; r; r = r->next) {
		uint64_t a, b;
		int e;

		if (!clamp(r, first, last, &a, &b) || !may_hold(r, a, b, what))
			continue;
		pthread_rwlock_wrlock(&r->lock);
		e = clamp(r, first, last, &a, &b)
			    ? zap_region(vf, r, a, b, what)
			    : 0;
		pthread_rwlock_unlock(&r->lock);
		if (e)
			err = e;
	}
	pthread_mutex_unlock(&vf->lock);
	return err;
}

/* Write-protect region pages [a, b] of @r, all RW. */
static int mkclean_run(struct dax_vm_file *vf, struct dax_region *r,
		       uint64_t a, uint64_t b)
{
	int err = sys_mprotect(vf, page_addr(r, a),
			       (b - a + 1) << DAX_PAGE_SHIFT, PROT_READ);

	if (err == -ENOMEM) {
		dax_vm_reclaim(4, r);
		err = sys_mprotect(vf, page_addr(r, a),
				   (b - a + 1) << DAX_PAGE_SHIFT, PROT_READ);
	}
	if (err)
		/* Unmapped is write-protected too. */
		return reset_pages_hard(vf, r, a, b);
	for (uint64_t k = a; k <= b; k++)
		pte_publish(r, k,
			    (pte_get(r, k) & DAX_PTE_HUGE) | DAX_PTE_RO);
	edge_set(r, a, true);
	edge_set(r, b + 1, true);
	return 0;
}

static int vm_mkclean(void *ctx, uint64_t first, uint64_t last)
{
	struct dax_vm_file *vf = ctx;
	int err = 0;

	dax_vm_budget_charge(2, NULL);
	pthread_mutex_lock(&vf->lock);
	for (struct dax_region *r = vf->regions; r; r = r->next) {
		uint64_t a, b;

		if (!(r->flags & DAX_REGION_SHARED) ||
		    !clamp(r, first, last, &a, &b) ||
		    !may_hold(r, a, b, DAX_ZAP_BLOCKS))
			continue;
		pthread_rwlock_wrlock(&r->lock);
		if (!clamp(r, first, last, &a, &b)) {
			pthread_rwlock_unlock(&r->lock);
			continue;
		}
		for (uint64_t i = a; i <= b;) {
			uint64_t j = i;
			int e;

			if (pte_state(r, i) != DAX_PTE_RW) {
				i++;
				continue;
			}
			while (j + 1 <= b && pte_state(r, j + 1) == DAX_PTE_RW)
				j++;
			e = mkclean_run(vf, r, i, j);
			if (e)
				err = e;
			i = j + 1;
		}
		pthread_rwlock_unlock(&r->lock);
	}
	pthread_mutex_unlock(&vf->lock);
	return err;
}

/*
 * dax_vm_reset_window() - reclaim: put the reservation back over the
 * mappings in 2 MiB window @w of @r, widened to the nearest mapping edges
 * so that no mapping is split, keeping private copies.
 * Context: r->lock exclusive (by trylock, from the reclaimer).
 * Return: true if something was reset.
 */
static inline bool mapped_not_private(struct dax_region *r, uint64_t i)
{
	uint8_t s = pte_state(r, i);

	return s != DAX_PTE_NONE && s != DAX_PTE_PRIVATE;
}

bool dax_vm_reset_window(struct dax_region *r, uint64_t w)
{
	uint64_t ws, we, a, b;
	bool done = false, left = false;

	dax_vm_window_pages(r, w, &ws, &we);
	/*
	 * Widen to the mappings that cross the window's ends: while the page
	 * outside is mapped (not a private copy) and no mapping may begin
	 * at the edge. Bounded by the size of a mapping (a span is at most
	 * 2 MiB), never by the region.
	 */
	a = ws;
	while (a > 0 && mapped_not_private(r, a) &&
	       mapped_not_private(r, a - 1) && !(pte_get(r, a) & DAX_PTE_EDGE))
		a--;
	b = we;
	while (b + 1 < r->nr_pages && mapped_not_private(r, b) &&
	       mapped_not_private(r, b + 1) &&
	       !(pte_get(r, b + 1) & DAX_PTE_EDGE))
		b++;
	/* Reset each run of mapped pages; reservation and copies stay. */
	for (uint64_t i = a; i <= b;) {
		uint64_t j = i;

		if (!mapped_not_private(r, i)) {
			i++;
			continue;
		}
		while (j + 1 <= b && mapped_not_private(r, j + 1))
			j++;
		if (!reset_pages(r->vf, r, i, j))
			done = true;
		i = j + 1;
	}
	for (uint64_t k = ws; k <= we && !left; k++)
		left = pte_state(r, k) != DAX_PTE_NONE;
	if (!left)
		atomic_fetch_and_explicit(&r->win[w], (uint8_t)~DAX_WIN_MAPPED,
					  memory_order_relaxed);
	return done;
}

const struct dax_vm_ops dax_vm_ops = {
	.insert = vm_insert,
	.insert_private = vm_insert_private,
	.mkwrite = vm_mkwrite,
	.zap = vm_zap,
	.mkclean = vm_mkclean,
};
