/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vm.h - the user-mode MMU: regions of address space whose pages are
 * device blocks, mapped on demand from a SIGSEGV handler.
 *
 * @r is a struct dax_region: one udax_mmap() of one file. @vf is a struct
 * dax_vm_file: what the VM knows of one file, chiefly the list of regions
 * that map it (the rmap), which zap and mkclean walk.
 *
 * How a page is mapped (all with MAP_FIXED over the region's reservation,
 * never with MAP_POPULATE for blocks and zero pages: the access that
 * faulted is retried and the kernel's own fault fills the page table):
 *   not present     PROT_NONE anonymous memory (the reservation itself)
 *   hole            anonymous private memory, PROT_READ: the kernel's
 *                   shared zero page, no memory per hole
 *   block           the device file at the block's offset, MAP_SHARED,
 *                   PROT_READ (clean) or PROT_READ|PROT_WRITE (dirty):
 *                   the page *is* the block (zero copy)
 *   private copy    anonymous private memory, read-write, holding a copy
 *
 * A read fault maps the whole span the engine offers (the run of
 * contiguous blocks, or of holes, around the page inside its 2 MiB
 * window) with one mmap, wherever nothing is mapped yet: later loads in
 * the span are the kernel's minor faults, and one kernel mapping (VMA)
 * serves the span. A 2 MiB entry is mapped with one mmap of 2 MiB when
 * the region's virtual address and file offset agree modulo 2 MiB
 * (udax_mmap aligns its reservations so they do).
 *
 * The mapping budget. The kernel refuses mappings past vm.max_map_count
 * (SIGBUS for the application). Every region counts an upper bound of the
 * kernel mappings it uses: 1 plus the number of its pages where a mapping
 * may begin (DAX_PTE_EDGE: set at both ends of every mmap and mprotect,
 * cleared inside an mmap, and dropped where a reset to the reservation
 * merges with its neighbours). Before a call that may add mappings, the VM
 * checks the total against the budget (default: vm.max_map_count less a
 * quarter for the application; UDAX_MAP_BUDGET or udax_set_map_budget()
 * set it) and, if it would go over, reclaims: a clock over the 2 MiB
 * windows of all regions resets cold windows to the reservation (never a
 * private copy; a DIRTY page keeps its tag: its data is on the device and
 * writeback still flushes it), widened over the mappings that cross the
 * window's ends up to their edges, so a reset splits no mapping it knows.
 *
 * Locks: r->lock is a writer-preferring rwlock. Inserts and mkwrite take
 * it shared, claim the pages they map by compare-and-swap of their state
 * to DAX_PTE_BUSY, make the system call, and publish the new state: faults
 * on distinct pages of one region run in parallel, and no lock that they
 * need is held exclusively across a system call. zap, mkclean and
 * reclaim take it exclusive (they wait for inserts in flight; no page is
 * BUSY then). vf->lock protects the rmap list. Lock order: vf->lock ->
 * r->lock; the reclaimer takes other regions' locks only by trylock.
 * Regions are found from the signal handler under RCU (no lock) and freed
 * after a grace period.
 */
#ifndef UDAX_VM_VM_H
#define UDAX_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "../fault/fault.h"

/* Page states in r->pte[]. */
enum dax_pte_state {
	DAX_PTE_NONE = 0,
	DAX_PTE_ZERO,	   /* zero page, read-only */
	DAX_PTE_RO,	   /* block, read-only */
	DAX_PTE_RW,	   /* block, writable */
	DAX_PTE_PRIVATE,   /* private copy */
	DAX_PTE_BUSY,	   /* claimed by an insert in flight */
};
#define DAX_PTE_STATE_MASK 0x7
#define DAX_PTE_HUGE 0x8  /* part of a 2 MiB mapping */
#define DAX_PTE_EDGE 0x10 /* a kernel mapping may begin at this page */

/* Region flags. */
#define DAX_REGION_SHARED 0x1
#define DAX_REGION_SYNC 0x2

/* Per 2 MiB window of a region, for the reclaim clock. */
#define DAX_WIN_REF 0x1	   /* mapped into since the clock last passed */
#define DAX_WIN_MAPPED 0x2 /* may hold something but the reservation */

struct dax_vm_file;

struct dax_region {
	char *addr;		/* first byte */
	uint64_t len;		/* bytes, a multiple of 4 KiB */
	uint64_t pgoff;		/* file page at @addr */
	_Atomic uint64_t nr_pages; /* 0 once unmapped (under r->lock) */
	int prot;		/* PROT_READ, PROT_WRITE */
	unsigned int flags;	/* DAX_REGION_* */
	struct dax_vm_file *vf;
	pthread_rwlock_t lock;
	_Atomic uint8_t *pte;	/* nr_pages states */
	_Atomic uint8_t *win;	/* nr_windows DAX_WIN_* */
	uint64_t nr_windows;
	atomic_long edges;	/* pages with DAX_PTE_EDGE */
	_Atomic uint64_t next_write; /* page after the last write span + 1 */
	struct dax_region *next; /* in vf's rmap, under vf->lock */
	struct rcu_head rcu;
	atomic_ulong faults, sigbus; /* per-region counters */
	void *owner;		/* the API's handle, for callers */
};

struct dax_vm_file {
	pthread_mutex_t lock;
	struct dax_region *regions; /* rmap: every live region of the file */
	struct dax_fmap *fmap;
	int devfd;		/* device to map blocks from */
	uint64_t dev_offset;	/* byte offset of block 0 in @devfd */
	atomic_ulong mmaps;	/* mmap/mprotect calls made */
	atomic_ulong map_errors; /* calls the kernel refused */
};

/* Process-wide mapping counters (udax_stats). */
struct dax_vm_stats {
	long maps;	       /* upper bound of kernel mappings in use */
	long budget;
	unsigned long reclaims; /* windows reset to the reservation */
	unsigned long reclaim_passes;
};

extern const struct dax_vm_ops dax_vm_ops;

int dax_vm_init(void);
void dax_vm_file_init(struct dax_vm_file *vf, struct dax_fmap *fmap, int devfd,
		      uint64_t dev_offset);
int dax_vm_map(struct dax_vm_file *vf, void *hint, uint64_t len, int prot,
	       unsigned int flags, uint64_t pgoff, struct dax_region **rp);
int dax_vm_unmap(struct dax_region *r);
struct dax_region *dax_vm_find(const void *addr);
int dax_vm_fault(struct dax_region *r, const void *addr, bool write);
bool dax_vm_overlaps(const void *addr, uint64_t len);

/*
 * Process semantics (sigsegv.c). dax_vm_forked: this process is a child
 * forked while its parent had a pool open or a mapping (dax_vm_live);
 * every udax call fails with -EPERM and a
 * fault on a udax page that is not mapped gets SIGBUS (the parent's engine
 * state is a stale copy here). dax_vm_depth: how deep the thread is in
 * udax code that may hold locks (API calls, the fault handler); a fault
 * on a udax page that arrives while it is not 0 (a signal handler that
 * interrupted udax touched a udax page) gets SIGBUS and a line on stderr
 * rather than a deadlock.
 */
extern volatile int dax_vm_forked;
extern atomic_long dax_vm_live; /* open pools + live regions */
extern __thread int dax_vm_depth __attribute__((tls_model("initial-exec")));
void dax_vm_fork_guard_init(void);
bool dax_vm_handle_fault(int sig, siginfo_t *si, void *uctx);
bool dax_vm_handler_installed(void);

static inline int dax_vm_api_enter(void)
{
	dax_vm_depth++;
	atomic_signal_fence(memory_order_seq_cst);
	return 0;
}

static inline void dax_vm_api_leave(int *scope)
{
	(void)scope;
	atomic_signal_fence(memory_order_seq_cst);
	dax_vm_depth--;
}

/*
 * At the top of every public call: count the thread as inside udax until
 * the call returns, and refuse at once in a forked child.
 */
#define DAX_API_ENTER()                                                        	int dax_api_scope __attribute__((cleanup(dax_vm_api_leave), unused)) = 		dax_vm_api_enter();                                            	if (__builtin_expect(dax_vm_forked, 0))                               	return -EPERM

/* Around a copy to or from a user buffer with no udax lock held. */
#define DAX_API_OUTSIDE(stmt)                                                  	do {                                                                   		dax_vm_api_leave(NULL);                                        		stmt;                                                          		dax_vm_api_enter();                                            	} while (0)

/* The mapping budget (region.c). */
int dax_vm_set_budget(long budget);
void dax_vm_get_stats(struct dax_vm_stats *st);
void dax_vm_maps_add(long delta);
int dax_vm_budget_charge(long need, struct dax_region *held);
long dax_vm_reclaim(long need, struct dax_region *held);
void dax_vm_win_touch(struct dax_region *r, uint64_t a, uint64_t b);
bool dax_vm_reset_window(struct dax_region *r, uint64_t w);

/* The 2 MiB window (of address space) holding region page @i. */
static inline uint64_t dax_vm_window_of(const struct dax_region *r,
					uint64_t i)
{
	uint64_t base = (uintptr_t)r->addr >> DAX_PAGE_SHIFT;

	return ((base + i) >> DAX_PMD_ORDER) - (base >> DAX_PMD_ORDER);
}

/* Region pages [*a, *b] of window @w. */
static inline void dax_vm_window_pages(const struct dax_region *r, uint64_t w,
				       uint64_t *a, uint64_t *b)
{
	uint64_t base = (uintptr_t)r->addr >> DAX_PAGE_SHIFT;
	uint64_t start = ((base >> DAX_PMD_ORDER) + w) << DAX_PMD_ORDER;
	uint64_t end = start + DAX_PMD_NR - 1;

	*a = start > base ? start - base : 0;
	*b = end - base < r->nr_pages ? end - base : r->nr_pages - 1;
}

/*
 * Test builds only (UDAX_HOOKS): make one in @one_in of the VM's mmap and
 * mprotect calls fail with ENOMEM (0: none), from a seeded generator.
 * Return: the failures injected so far.
 */
void dax_vm_fail_set(unsigned int one_in, uint64_t seed);
unsigned long dax_vm_fail_count(void);
/* The system calls of the VM, with the injection above. */
void *dax_vm_sys_mmap(void *addr, size_t len, int prot, int flags, int fd,
		      off_t off);
int dax_vm_sys_mprotect(void *addr, size_t len, int prot);

#endif /* UDAX_VM_VM_H */
