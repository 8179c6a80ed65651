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
 * Also here: the mapping budget and the reclaimer (see vm.h), and the
 * VM's system calls with the failure injection of the test builds.
 *
 * Lock order: table_lock -> vf->lock. Neither is taken by the handler.
 * reclaim_lock is a leaf but for the region locks it tries.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* ---- the mapping budget ---- */

/* Below this a budget leaves too little to make progress. */
#define BUDGET_MIN 32

static atomic_long maps_used;	 /* upper bound, all regions */
static atomic_long budget;	 /* 0 until first use */
static long budget_default;
static atomic_ulong reclaims, reclaim_passes;
static pthread_mutex_t reclaim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t budget_once = PTHREAD_ONCE_INIT;
/* The reclaim clock: a position in the region table and a window. */
static unsigned int hand_region;
static uint64_t hand_window;

/* vm.max_map_count, or the kernel's default if it cannot be read. */
static long max_map_count(void)
{
	char buf[32];
	long v = 65530;
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = 0;
			v = strtol(buf, NULL, 10);
		}
		close(fd);
	}
	return v > 0 ? v : 65530;
}

/*
 * The default budget: vm.max_map_count less a quarter (at least 1024) for
 * the application's own mappings, thread stacks and libraries; the
 * environment's UDAX_MAP_BUDGET if set (tests use a few hundred).
 */
static void budget_init(void)
{
	long max = max_map_count(), room = max / 4;
	const char *env = getenv("UDAX_MAP_BUDGET");

	if (room < 1024)
		room = 1024;
	budget_default = max - room > BUDGET_MIN ? max - room : BUDGET_MIN;
	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);

		if (*end || v < BUDGET_MIN)
			fprintf(stderr,
				"udax: UDAX_MAP_BUDGET=%s ignored (a number of "
				"mappings, at least %d)\n",
				env, BUDGET_MIN);
		else
			budget_default = v;
	}
	atomic_store(&budget, budget_default);
}

/*
 * dax_vm_set_budget() - set the mapping budget of the process; 0 restores
 * the default. Return: 0 or -EINVAL (below BUDGET_MIN).
 */
int dax_vm_set_budget(long b)
{
	pthread_once(&budget_once, budget_init);
	if (b && b < BUDGET_MIN)
		return -EINVAL;
	atomic_store(&budget, b ? b : budget_default);
	return 0;
}

void dax_vm_get_stats(struct dax_vm_stats *st)
{
	pthread_once(&budget_once, budget_init);
	st->maps = atomic_load(&maps_used);
	st->budget = atomic_load(&budget);
	st->reclaims = atomic_load(&reclaims);
	st->reclaim_passes = atomic_load(&reclaim_passes);
}

void dax_vm_maps_add(long delta)
{
	atomic_fetch_add_explicit(&maps_used, delta, memory_order_relaxed);
}

/* Mark windows of region pages [a, b] referenced and maybe mapped. */
void dax_vm_win_touch(struct dax_region *r, uint64_t a, uint64_t b)
{
	for (uint64_t w = dax_vm_window_of(r, a); w <= dax_vm_window_of(r, b);
	     w++)
		if ((atomic_load_explicit(&r->win[w], memory_order_relaxed) &
		     (DAX_WIN_REF | DAX_WIN_MAPPED)) !=
		    (DAX_WIN_REF | DAX_WIN_MAPPED))
			atomic_fetch_or_explicit(&r->win[w],
						 DAX_WIN_REF | DAX_WIN_MAPPED,
						 memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * dax_vm_reclaim() - reset cold windows until the mappings in use are
 * @need below the low mark (the budget less an eighth): a clock over the
 * windows of every region; a window mapped into since the hand last
 * passed gets a second chance. Regions are locked by trylock, and @held
 * (whose lock the caller has) is skipped, so this never waits for a
 * region. Gives up after two turns of the clock.
 * Context: any thread, also the SIGSEGV handler; no region lock but
 * @held's.
 * Return: the windows reset.
 */
long dax_vm_reclaim(long need, struct dax_region *held)
{
	long target, done = 0;
	uint64_t steps = 0, limit = 0;
	struct region_table *t;

	pthread_once(&budget_once, budget_init);
	target = atomic_load(&budget);
	target -= (target / 8 > need ? target / 8 : need);
	pthread_mutex_lock(&reclaim_lock);
	atomic_fetch_add_explicit(&reclaim_passes, 1, memory_order_relaxed);
	dax_rcu_read_lock();
	t = atomic_load_explicit(&table, memory_order_acquire);
	for (unsigned int i = 0; t && i < t->nr; i++)
		limit += 2 * t->r[i]->nr_windows;
	while (t && t->nr && steps < limit &&
	       atomic_load_explicit(&maps_used, memory_order_relaxed) >
		       target) {
		struct dax_region *r = t->r[hand_region % t->nr];
		uint64_t w = hand_window++;
		uint8_t f;

		steps++;
		if (w >= r->nr_windows) {
			hand_region++;
			hand_window = 0;
			continue;
		}
		f = atomic_load_explicit(&r->win[w], memory_order_relaxed);
		if (!(f & DAX_WIN_MAPPED))
			continue;
		if (f & DAX_WIN_REF) {
			atomic_fetch_and_explicit(&r->win[w],
						  (uint8_t)~DAX_WIN_REF,
						  memory_order_relaxed);
			continue;
		}
		if (r == held || pthread_rwlock_trywrlock(&r->lock))
			continue;
		if (r->nr_pages && dax_vm_reset_window(r, w)) {
			done++;
			atomic_fetch_add_explicit(&reclaims, 1,
						  memory_order_relaxed);
		}
		pthread_rwlock_unlock(&r->lock);
	}
	dax_rcu_read_unlock();
	pthread_mutex_unlock(&reclaim_lock);
	return done;
}

/*
 * dax_vm_budget_charge() - about to make a call that may add up to @need
 * kernel mappings: reclaim first if that would go over the budget. The
 * call goes ahead either way (the kernel's limit lies beyond the budget;
 * if it is reached the call fails and is retried after a reclaim).
 * Return: 0.
 */
int dax_vm_budget_charge(long need, struct dax_region *held)
{
	long b = atomic_load_explicit(&budget, memory_order_relaxed);

	if (!b) {
		pthread_once(&budget_once, budget_init);
		b = atomic_load(&budget);
	}
	if (atomic_load_explicit(&maps_used, memory_order_relaxed) + need > b)
		dax_vm_reclaim(need, held);
	return 0;
}

/* ---- system calls, with injected failures in the test builds ---- */

#ifdef UDAX_HOOKS
static atomic_uint fail_one_in;
static _Atomic uint64_t fail_state;
static atomic_ulong fail_count;

void dax_vm_fail_set(unsigned int one_in, uint64_t seed)
{
	atomic_store(&fail_state, seed * 2 + 1);
	atomic_store(&fail_one_in, one_in);
}

unsigned long dax_vm_fail_count(void)
{
	return atomic_load(&fail_count);
}

static bool fail_now(void)
{
	unsigned int n = atomic_load_explicit(&fail_one_in,
					      memory_order_relaxed);
	uint64_t x;

	if (!n)
		return false;
	/* splitmix64 step, shared by all threads (tests need no more). */
	x = atomic_fetch_add(&fail_state, 0x9E3779B97F4A7C15ULL);
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	x ^= x >> 31;
	if (x % n)
		return false;
	atomic_fetch_add(&fail_count, 1);
	return true;
}
#else
void dax_vm_fail_set(unsigned int one_in, uint64_t seed)
{
	(void)one_in;
	(void)seed;
}

unsigned long dax_vm_fail_count(void)
{
	return 0;
}

static inline bool fail_now(void)
{
	return false;
}
#endif

void *dax_vm_sys_mmap(void *addr, size_t len, int prot, int flags, int fd,
		      off_t off)
{
	if (fail_now()) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return mmap(addr, len, prot, flags, fd, off);
}

int dax_vm_sys_mprotect(void *addr, size_t len, int prot)
{
	if (fail_now()) {
		errno = ENOMEM;
		return -1;
	}
	return mprotect(addr, len, prot);
}

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
	pthread_rwlockattr_t attr;
	struct dax_region *r;
	uint64_t base;
	int err;

	err = dax_vm_init();
	if (err)
		return err;
	pthread_once(&budget_once, budget_init);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->len = len;
	r->nr_pages = len >> DAX_PAGE_SHIFT;
	r->pgoff = pgoff;
	r->prot = prot;
	r->flags = flags;
	r->vf = vf;
	/*
	 * Writer-preferring: faults hold it shared all the time, and zap,
	 * mkclean and reclaim must not starve behind them.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&r->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	r->pte = calloc(r->nr_pages, sizeof(*r->pte));
	r->addr = reserve(hint, len, pgoff << DAX_PAGE_SHIFT);
	if (r->addr) {
		base = (uintptr_t)r->addr >> DAX_PAGE_SHIFT;
		r->nr_windows = ((base + r->nr_pages - 1) >> DAX_PMD_ORDER) -
				(base >> DAX_PMD_ORDER) + 1;
		r->win = calloc(r->nr_windows, sizeof(*r->win));
	}
	if (!r->pte || !r->addr || !r->win) {
		err = -ENOMEM;
		goto fail;
	}
	/* The mapping thread will fault first: register it with RCU here. */
	dax_rcu_thread_online();
	dax_vm_maps_add(1); /* the reservation */
	atomic_fetch_add(&dax_vm_live, 1);
	pthread_mutex_lock(&vf->lock);
	r->next = vf->regions;
	vf->regions = r;
	pthread_mutex_unlock(&vf->lock);
	err = table_update(r, NULL);
	if (err) {
		pthread_mutex_lock(&vf->lock);
		vf->regions = r->next;
		pthread_mutex_unlock(&vf->lock);
		dax_vm_maps_add(-1);
		atomic_fetch_sub(&dax_vm_live, 1);
		goto fail;
	}
	*rp = r;
	return 0;
fail:
	if (r->addr)
		munmap(r->addr, len);
	free((void *)r->pte);
	free((void *)r->win);
	pthread_rwlock_destroy(&r->lock);
	free(r);
	return err;
}

static void region_free_rcu(struct rcu_head *head)
{
	struct dax_region *r = container_of(head, struct dax_region, rcu);

	dax_rcu_before_free();
	pthread_rwlock_destroy(&r->lock);
	free((void *)r->pte);
	free((void *)r->win);
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
	pthread_rwlock_wrlock(&r->lock);
	munmap(r->addr, r->len);
	r->nr_pages = 0;
	dax_vm_maps_add(-1 - atomic_load(&r->edges));
	atomic_store(&r->edges, 0);
	pthread_rwlock_unlock(&r->lock);
	dax_call_rcu(&r->rcu, region_free_rcu);
	atomic_fetch_sub(&dax_vm_live, 1);
	return 0;
}
