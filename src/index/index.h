/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index.h - the entry index: a radix tree of DAX entries keyed by page
 * index, one per mapping (the kernel's mapping->i_pages).
 *
 * Names: @idx is a struct dax_index (one mapping's tree); @cur is a
 * struct dax_cursor, a position in the tree (index, order, and after a walk
 * the node and slot found there), like the kernel's xa_state.
 *
 * Concurrency:
 *  - Walks (dax_idx_load) run under dax_rcu_read_lock() with no lock; the
 *    slot pointer they return stays valid until dax_rcu_read_unlock(), or
 *    for as long as the entry in it is locked (a locked entry is never
 *    erased, and nodes never move).
 *  - LOCKED and WAITERS bits of a value change by compare-and-swap on the
 *    slot, without the index lock (see src/lock).
 *  - Everything else (insert, erase, replacing a value by another, tags,
 *    node allocation and freeing) happens under idx->lock. Nodes are freed
 *    after an RCU grace period.
 *  - Tags are kept per node, one bitmap per tag, a bit per slot; a bit in
 *    a parent is set iff some slot below it has the tag. Tags are read and
 *    written under idx->lock (relaxed atomics make lock-free peeks safe).
 *
 * Lock order: entry lock -> idx->lock. Never sleep or allocate under
 * idx->lock: allocation happens outside it (dax_idx_nomem) and only when
 * a walk found that nodes are really missing.
 */
#ifndef UDAX_INDEX_INDEX_H
#define UDAX_INDEX_INDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "rcu.h" /* first liburcu include: sets _LGPL_SOURCE */

#ifndef UDAX_INDEX_SHIFT
#define UDAX_INDEX_SHIFT 6
#endif
#define DAX_IDX_FANOUT (1U << UDAX_INDEX_SHIFT)
#define DAX_IDX_MASK ((uint64_t)DAX_IDX_FANOUT - 1)
#define DAX_IDX_TAG_WORDS ((DAX_IDX_FANOUT + 63) / 64)

_Static_assert(UDAX_INDEX_SHIFT >= 2 && UDAX_INDEX_SHIFT <= 8,
	       "fan-out must be 4..256 (siblings store an offset below 4096)");
_Static_assert(DAX_PMD_ORDER >= UDAX_INDEX_SHIFT ||
		       DAX_PMD_ORDER % UDAX_INDEX_SHIFT == 0,
	       "a PMD entry must fit in one node");

/*
 * Shift of the nodes that hold PMD entries, and how many slots of such a
 * node one PMD entry spans (1 canonical + siblings).
 */
#define DAX_IDX_PMD_SHIFT ((DAX_PMD_ORDER / UDAX_INDEX_SHIFT) * UDAX_INDEX_SHIFT)
#define DAX_IDX_PMD_SLOTS (1U << (DAX_PMD_ORDER - DAX_IDX_PMD_SHIFT))

enum dax_tag {
	DAX_TAG_DIRTY = 0,
	DAX_TAG_TOWRITE = 1,
	DAX_NR_TAGS = 2,
};

struct dax_idx_node {
	uint8_t shift;	  /* index bits below this node's slots */
	uint8_t offset;	  /* slot of this node in its parent */
	uint16_t count;	  /* non-empty slots (values, siblings, nodes) */
	uint16_t nr_values; /* value entries (canonical slots only) */
	_Atomic uint16_t pins; /* leaf caches holding it; DAX_NODE_DEAD */
	struct dax_idx_node *parent;
	struct rcu_head rcu;
	uint64_t tags[DAX_NR_TAGS][DAX_IDX_TAG_WORDS];
	_Atomic uintptr_t slots[DAX_IDX_FANOUT];
};

struct dax_index {
	/* Read by every lookup: kept apart from what the lock dirties. */
	_Atomic uintptr_t root; /* node pointer (with DAX_SLOT_INTERNAL) or 0 */
	uint64_t id;		/* unique per dax_idx_init(), never reused */
	pthread_mutex_t lock __attribute__((aligned(64)));
	uint64_t nr_entries;	/* value entries; under lock */
	uint64_t nr_nodes;	/* nodes in the tree; under lock */
};

struct dax_cursor {
	struct dax_index *idx;
	uint64_t index;	      /* requested index (aligned for PMD order) */
	unsigned int order;   /* 0 or DAX_PMD_ORDER */
	/* Results of the last walk: */
	struct dax_idx_node *node; /* node holding the canonical slot */
	unsigned int offset;	   /* canonical offset in @node */
	_Atomic uintptr_t *slot;   /* canonical slot, NULL if no entry */
	bool conflict;		   /* PMD walk: smaller entries in range */
	/* Nodes allocated by dax_idx_nomem() for the next insert: */
	unsigned int need_nodes;
	struct dax_idx_node *spare;
};

#define DAX_CURSOR(name, index_, idx_, order_)                                 \
	struct dax_cursor name = { .idx = (idx_),                              \
				   .index = (index_),                          \
				   .order = (order_) }

/*
 * The leaf cache: each thread remembers the last leaf (shift-0 node) it
 * found a value in, like a one-entry TLB, and holds a pin on it (a count
 * in the node). Faults and writeback touch neighbouring pages, so the
 * next lookup usually lands in the same leaf and costs one slot load
 * instead of a walk from the root, and no read-side critical section: the
 * entry lock's fast path (dax_entry_grab) runs with no RCU at all.
 *
 * Why a cached leaf may be read and compare-and-swapped outside RCU: a
 * pinned node is never freed. A node that leaves the tree is marked dead
 * once its grace period has passed (or when its index is destroyed) and
 * freed then only if nobody pins it; otherwise the last unpin frees it.
 * A pin is taken only on a node reached by a walk (under RCU or idx->lock),
 * so before its grace period ends: the mark cannot have come first.
 *
 * Why what it reads is current: a leaf holds only order-0 values, and it
 * leaves the tree only once empty (every slot 0, see dax_idx_erase); no
 * value is ever stored in it again. So a value found in a cached leaf is
 * the entry at that index now (or was an instant ago: the compare-and-
 * swap that locks it fails if it changed), and a 0 proves nothing: the
 * caller walks from the root.
 */
struct dax_leaf_cache {
	uint64_t id;		   /* dax_index.id, 0: empty */
	uint64_t base;		   /* index >> UDAX_INDEX_SHIFT of the leaf */
	struct dax_idx_node *leaf; /* pinned while cached */
};

extern __thread struct dax_leaf_cache dax_leaf_cache
	__attribute__((tls_model("initial-exec")));

/*
 * dax_idx_cached_slot() - the slot of @cur->index in the calling thread's
 * cached leaf, or NULL if the leaf cached is not that index's (or @cur is
 * a PMD cursor). On success @cur->node, offset and slot are set; the slot
 * may hold 0 or anything else: only a value read from it counts.
 * Context: any; no RCU needed (the leaf is pinned).
 */
static inline _Atomic uintptr_t *dax_idx_cached_slot(struct dax_cursor *cur)
{
	struct dax_leaf_cache *lc = &dax_leaf_cache;
	unsigned int off;

	if (cur->order || lc->id != cur->idx->id ||
	    lc->base != cur->index >> UDAX_INDEX_SHIFT)
		return NULL;
	off = (unsigned int)(cur->index & DAX_IDX_MASK);
	cur->node = lc->leaf;
	cur->offset = off;
	cur->conflict = false;
	cur->slot = &lc->leaf->slots[off];
	return cur->slot;
}

/*
 * Drop the calling thread's cached leaf (freeing it if it left the tree).
 * Called at thread exit, by dax_rcu_barrier() and by dax_idx_destroy().
 */
void dax_idx_leaf_cache_drop(void);

int dax_idx_init(struct dax_index *idx);
void dax_idx_destroy(struct dax_index *idx);

/* Reposition a cursor; forgets the last walk. */
static inline void dax_cursor_set(struct dax_cursor *cur, uint64_t index,
				  unsigned int order)
{
	cur->index = index;
	cur->order = order;
	cur->node = NULL;
	cur->slot = NULL;
	cur->conflict = false;
}

dax_entry_t dax_idx_load(struct dax_cursor *cur);
uint64_t dax_idx_entry_index(const struct dax_cursor *cur, dax_entry_t e);

int dax_idx_insert(struct dax_cursor *cur, dax_entry_t entry);
bool dax_idx_nomem(struct dax_cursor *cur);
int dax_idx_insert_alloc(struct dax_cursor *cur, dax_entry_t entry);
void dax_cursor_release(struct dax_cursor *cur);
void dax_idx_store(struct dax_cursor *cur, dax_entry_t entry);
dax_entry_t dax_idx_erase(struct dax_cursor *cur);

void dax_idx_tag_set(struct dax_cursor *cur, enum dax_tag tag);
void dax_idx_tag_clear(struct dax_cursor *cur, enum dax_tag tag);
bool dax_idx_tag_get(const struct dax_cursor *cur, enum dax_tag tag);

bool dax_idx_next_entry(struct dax_index *idx, uint64_t *indexp, uint64_t last,
			dax_entry_t *entryp);
bool dax_idx_next_tagged(struct dax_index *idx, uint64_t *indexp,
			 uint64_t last, enum dax_tag tag);
uint64_t dax_idx_retag(struct dax_index *idx, uint64_t first, uint64_t last,
		       enum dax_tag from, enum dax_tag to, uint64_t max);

/* Test hooks: live node count (all trees) and allocation failure. */
long dax_idx_live_nodes(void);
void dax_idx_fail_alloc_after(long n);

#endif /* UDAX_INDEX_INDEX_H */
