/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_priv.h - what the fault engine's own files share and nobody else
 * includes (tests of the engine's internals excepted): the sharded
 * counters, the hook points, small helpers, and the one step both fault
 * sizes take (the kernel's dax_fault_iter()).
 *
 * @f is the file mapping, @s a fault step: the fault, its locked entry,
 * what the filesystem said, and what the step did to the entry.
 */
#ifndef UDAX_FAULT_FAULT_PRIV_H
#define UDAX_FAULT_FAULT_PRIV_H

#include "fault.h"

extern __thread unsigned int dax_stat_slot
	__attribute__((tls_model("initial-exec")));
unsigned int dax_stat_slot_new(void);

static inline unsigned int dax_stat_shard(void)
{
	if (__builtin_expect(!dax_stat_slot, 0))
		dax_stat_slot = dax_stat_slot_new();
	return dax_stat_slot % DAX_STAT_SHARDS;
}

#define fault_stat(f, field)                                                   \
	atomic_fetch_add_explicit(&(f)->stats[dax_stat_shard()].c.field, 1,   \
				  memory_order_relaxed)

#ifdef UDAX_HOOKS
#define DAX_HOOK(f, point, index)                                              \
	do {                                                                   \
		if ((f)->hook)                                                 \
			(f)->hook((f), (point), (index), (f)->hook_arg);       \
	} while (0)
#else
#define DAX_HOOK(f, point, index)                                              \
	do {                                                                   \
	} while (0)
#endif

/* fmap.c */
uint64_t dax_size_pages(struct dax_fmap *f);
int dax_errno_to_fault(int err);
int dax_unmap_entries(struct dax_fmap *f, uint64_t first, uint64_t last);
int dax_fmap_pmd_downgrade(struct dax_mapping *m, uint64_t index,
			   dax_entry_t entry);
void dax_fmap_hole_gen_bump(struct dax_fmap *f);
int dax_zero_in_page(struct dax_fmap *f, uint64_t pos, uint64_t end);
int dax_zero_page_tail(struct dax_fmap *f, uint64_t pos);

/*
 * One fault of either size, from the grab of its entry to the put. The
 * caller fills the fields above @e, grabs @cur into @e, and calls
 * dax_fault_begin(), dax_fault_iter() (unless it falls back or copies on
 * write), iomap_end and dax_fault_put_entry().
 */
struct dax_fault_step {
	const struct dax_vmf *vmf;
	struct dax_cursor *cur;
	uint64_t index;	    /* first page mapped: vmf->index, or the PMD's */
	unsigned int order; /* 0 or DAX_PMD_ORDER */
	uint64_t pages;	    /* file size in pages, under the mmap lock */
	bool write;	    /* a store through a shared region */
	bool sync;	    /* ... of a MAP_SYNC region */
	dax_entry_t e;	    /* the locked entry, as the step leaves it */
	bool filled;	    /* a ZERO entry got a block: wake every waiter */
	struct dax_iomap map;	 /* what iomap_begin said */
	struct dax_vm_span span; /* order 0: the extent around the page */
};

int dax_fault_begin(struct dax_fmap *f, struct dax_fault_step *s,
		    uint64_t nr, unsigned int flags);
int dax_fault_iter(struct dax_fmap *f, struct dax_fault_step *s);
void dax_fault_put_entry(struct dax_fmap *f, struct dax_fault_step *s);

#endif /* UDAX_FAULT_FAULT_PRIV_H */
