/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * region.c - regions of address space: reserving them, the global table
 * the SIGSEGV handler searches, and the per-file rmap.
 *
 * @r is a region, @vf the file's VM state, @t a region table: a sorted
 * array of live regions, replaced as a whole (copy, publish, free the old
 * one after a grace period) whenever a region is added or removed, so the
 * handler can binary-search it under RCU without any lock.
 *
 * Lock order: table_lock -> vf->lock. Neither is taken by the handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vm.h"
#include "../index/rcu.h"
#include "../util/compiler.h"

struct region_table {
	struct rcu_head rcu;
	unsigned int nr;
	struct dax_region *r[];
};

static struct region_table *_Atomic table;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static void table_free_rcu(struct rcu_head *head)
{
	dax_rcu_before_free();
	free(container_of(head, struct region_table, rcu));
}

/* Publish a copy of the table with @add inserted or @del removed. */
static int table_update(struct dax_region *add, struct dax_region *del)
{
	struct region_table *old, *t;
	unsigned int n, j = 0;

	pthread_mutex_lock(&table_lock);
	old = atomic_load_explicit(&table, memory_order_relaxed);
	n = (old ? old->nr : 0) + (add ? 1 : 0) - (del ? 1 : 0);
	t = malloc(sizeof(*t) + n * sizeof(t->r[0]));
	if (!t) {
		pthread_mutex_unlock(&table_lock);
		return -ENOMEM;
	}
	for (unsigned int i = 0; old && i < old->nr; i++) {
		if (old->r[i] == del)
			continue;
		if (add && add->addr < old->r[i]->addr) {
			t->r[j++] = add;
			add = NULL;
		}
		t->r[j++] = old->r[i];
	}
	if (add)
		t->r[j++] = add;
	t->nr = j;
	atomic_store_explicit(&table, t, memory_order_release);
	if (old)
		dax_call_rcu(&old->rcu, table_free_rcu);
	pthread_mutex_unlock(&table_lock);
	return 0;
}

/*
 * dax_vm_find() - the region containing @addr.
 * Context: under dax_rcu_read_lock(); the region stays valid until the
 * read-side critical section ends. Async-signal-safe once the thread is
 * registered with RCU.
 * Return: the region, or NULL.
 */
struct dax_region *dax_vm_find(const void *addr)
{
	struct region_table *t = atomic_load_explicit(&table,
						      memory_order_acquire);
	unsigned int lo = 0, hi;
	const char *a = addr;

	if (!t)
		return NULL;
	hi = t->nr;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		struct dax_region *r = t->r[mid];

		if (a < r->addr)
			hi = mid;
		else if (a >= r->addr + r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/*
 * dax_vm_overlaps() - does [@addr, @addr + @len) touch any udax region?
 * The I/O paths use it to decide whether a user buffer could fault into
 * udax while locks are held. Context: any thread.
 */
bool dax_vm_overlaps(const void *addr, uint64_t len)
{
	struct region_table *t;
	const char *a = addr;
	bool hit = false;

	dax_rcu_read_lock();
	t = atomic_load_explicit(&table, memory_order_acquire);
	for (unsigned int i = 0; t && i < t->nr && !hit; i++)
		hit = a < t->r[i]->addr + t->r[i]->len &&
		      t->r[i]->addr < a + len;
	dax_rcu_read_unlock();
	return hit;
}

void dax_vm_file_init(struct dax_vm_file *vf, struct dax_fmap *fmap, int devfd,
		      uint64_t dev_offset)
{
	memset(vf, 0, sizeof(*vf));
	pthread_mutex_init(&vf->lock, NULL);
	vf->fmap = fmap;
	vf->devfd = devfd;
	vf->dev_offset = dev_offset;
}

/*
 * Reserve @len bytes of PROT_NONE address space whose address is
 * congruent to file byte offset @off modulo 2 MiB, so that 2 MiB file
 * ranges land on 2 MiB-aligned addresses. @hint, if not NULL, is tried
 * first as is.
 */
static char *reserve(void *hint, uint64_t len, uint64_t off)
{
	const uint64_t huge = DAX_PMD_NR << DAX_PAGE_SHIFT;
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	char *p, *start;
	uint64_t want, lead;

	if (hint) {
		p = mmap(hint, len, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1,
			 0);
		if (p != MAP_FAILED)
			return p;
	}
	if (len < huge) {
		p = mmap(NULL, len, PROT_NONE, flags, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	p = mmap(NULL, len + huge, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	want = off & (huge - 1);
	lead = (want - ((uintptr_t)p & (huge - 1))) & (huge - 1);
	start = p + lead;
	if (lead)
		munmap(p, lead);
	munmap(start + len, huge - lead);
	return start;
}

/*
 * dax_vm_map() - create a region of @len bytes mapping @vf from file page
 * @pgoff, with @prot and DAX_REGION_* @flags. Nothing is mapped yet:
 * every first access faults.
 * Context: may sleep; takes table_lock and vf->lock.
 * Return: 0 and *@rp, or -ENOMEM (address space, memory).
 */
int dax_vm_map(struct dax_vm_file *vf, void *hint, uint64_t len, int prot,
	       unsigned int flags, uint64_t pgoff, struct dax_region **rp)
{
	struct dax_region *r;
	int err;

	err = dax_vm_init();
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->len = len;
	r->nr_pages = len >> DAX_PAGE_SHIFT;
	r->pgoff = pgoff;
	r->prot = prot;
	r->flags = flags;
	r->vf = vf;
	pthread_mutex_init(&r->lock, NULL);
	r->pte = calloc(r->nr_pages, sizeof(*r->pte));
	r->addr = reserve(hint, len, pgoff << DAX_PAGE_SHIFT);
	if (!r->pte || !r->addr) {
		err = -ENOMEM;
		goto fail;
	}
	/* The mapping thread will fault first: register it with RCU here. */
	dax_rcu_thread_online();
	pthread_mutex_lock(&vf->lock);
	r->next = vf->regions;
	vf->regions = r;
	pthread_mutex_unlock(&vf->lock);
	err = table_update(r, NULL);
	if (err) {
		pthread_mutex_lock(&vf->lock);
		vf->regions = r->next;
		pthread_mutex_unlock(&vf->lock);
		goto fail;
	}
	*rp = r;
	return 0;
fail:
	if (r->addr)
		munmap(r->addr, len);
	free((void *)r->pte);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return err;
}

static void region_free_rcu(struct rcu_head *head)
{
	struct dax_region *r = container_of(head, struct dax_region, rcu);

	dax_rcu_before_free();
	pthread_mutex_destroy(&r->lock);
	free((void *)r->pte);
	free(r);
}

/*
 * dax_vm_unmap() - remove @r: no new fault finds it, it leaves the rmap,
 * its address range is returned to the system, and it is freed after a
 * grace period (a handler may still be looking at it).
 * Context: may sleep; no entry lock held.
 * Return: 0 or -ENOMEM (the region table could not be copied).
 */
int dax_vm_unmap(struct dax_region *r)
{
	struct dax_vm_file *vf = r->vf;
	struct dax_region **pp;
	int err;

	err = table_update(NULL, r);
	if (err)
		return err;
	pthread_mutex_lock(&vf->lock);
	for (pp = &vf->regions; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	pthread_mutex_unlock(&vf->lock);
	/* Engine calls in flight hold r->lock while they touch its pages. */
	pthread_mutex_lock(&r->lock);
	munmap(r->addr, r->len);
	r->nr_pages = 0;
	pthread_mutex_unlock(&r->lock);
	dax_call_rcu(&r->rcu, region_free_rcu);
	return 0;
}
