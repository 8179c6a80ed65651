/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vm.h - the user-mode MMU: regions of address space whose pages are
 * device blocks, mapped on demand from a SIGSEGV handler.
 *
 * @r is a struct dax_region: one udax_mmap() of one file. @vf is a struct
 * dax_vm_file: what the VM knows of one file, chiefly the list of regions
 * that map it (the rmap), which zap and mkclean walk.
 *
 * How a page is mapped (all with MAP_FIXED over the region's reservation):
 *   not present     PROT_NONE anonymous memory (the reservation itself)
 *   hole            anonymous private memory, PROT_READ: the kernel's
 *                   shared zero page, no memory per hole
 *   block           the device file at the block's offset, MAP_SHARED,
 *                   PROT_READ (clean) or PROT_READ|PROT_WRITE (dirty):
 *                   the page *is* the block (zero copy)
 *   private copy    anonymous private memory, read-write, holding a copy
 *
 * A 2 MiB entry is mapped with one mmap of 2 MiB when the region's
 * virtual address and file offset agree modulo 2 MiB (udax_mmap aligns
 * its reservations so they do).
 *
 * Locks: r->lock protects r->pte[] and serialises the mmap/mprotect calls
 * on the region; vf->lock protects the rmap list. Both are leaves, taken
 * under entry locks (the engine calls vm_ops with an entry locked).
 * Regions are found from the signal handler under RCU (no lock) and freed
 * after a grace period.
 */
#ifndef UDAX_VM_VM_H
#define UDAX_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../fault/fault.h"

/* Page states in r->pte[]. */
enum dax_pte_state {
	DAX_PTE_NONE = 0,
	DAX_PTE_ZERO,	   /* zero page, read-only */
	DAX_PTE_RO,	   /* block, read-only */
	DAX_PTE_RW,	   /* block, writable */
	DAX_PTE_PRIVATE,   /* private copy */
};
#define DAX_PTE_STATE_MASK 0x7
#define DAX_PTE_HUGE 0x8 /* part of a 2 MiB mapping */

/* Region flags. */
#define DAX_REGION_SHARED 0x1
#define DAX_REGION_SYNC 0x2

struct dax_vm_file;

struct dax_region {
	char *addr;		/* first byte */
	uint64_t len;		/* bytes, a multiple of 4 KiB */
	uint64_t pgoff;		/* file page at @addr */
	uint64_t nr_pages;
	int prot;		/* PROT_READ, PROT_WRITE */
	unsigned int flags;	/* DAX_REGION_* */
	struct dax_vm_file *vf;
	pthread_mutex_t lock;
	_Atomic uint8_t *pte;	/* nr_pages states */
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
	atomic_ulong map_errors; /* mmap failures (e.g. vm.max_map_count) */
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

#endif /* UDAX_VM_VM_H */
