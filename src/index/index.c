/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index.c - radix tree of DAX entries with per-node tag bitmaps and
 * multi-order (PMD) entries.
 *
 * @idx is the tree, @cur a cursor (index, order, and what the last walk
 * found), @n a node. A node of shift s has DAX_IDX_FANOUT slots, slot k
 * covering indexes [base + k<<s, base + (k+1)<<s). Value entries of order 0
 * live in shift-0 nodes; PMD entries live in nodes of shift
 * DAX_IDX_PMD_SHIFT and span DAX_IDX_PMD_SLOTS slots: the first (canonical)
 * holds the value, the others hold sibling words pointing back at it.
 *
 * Invariants (under idx->lock):
 *  - every node in the tree has count > 0; an empty node is unlinked and
 *    freed after a grace period, and the root is 0 when the tree is empty;
 *  - a tag bit is set only on canonical value slots and on node slots whose
 *    child has that tag somewhere;
 *  - the root's slot 0 covers index 0 (the tree grows upward by adding a
 *    new root whose slot 0 is the old one, and shrinks the same way).
 *
 * Lock-free readers may see a slot an instant before or after a change;
 * they always see either a complete value, a node that is (or was until a
 * grace period from now) part of the tree, or 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "rcu.h"
#include "../util/compiler.h"

static atomic_long live_nodes;
static atomic_long fail_alloc_countdown = -1;

long dax_idx_live_nodes(void)
{
	return atomic_load(&live_nodes);
}

/*
 * dax_idx_fail_alloc_after() - make node allocation fail after @n more
 * successful allocations (0: the next one fails); a negative @n turns
 * failure injection off. Test hook.
 */
void dax_idx_fail_alloc_after(long n)
{
	atomic_store(&fail_alloc_countdown, n);
}

static bool alloc_should_fail(void)
{
	long c = atomic_load_explicit(&fail_alloc_countdown,
				      memory_order_relaxed);

	while (c >= 0) {
		if (c == 0)
			return true;
		if (atomic_compare_exchange_weak(&fail_alloc_countdown, &c,
						 c - 1))
			return false;
	}
	return false;
}

static inline struct dax_idx_node *to_node(uintptr_t w)
{
	return (struct dax_idx_node *)(w & ~DAX_SLOT_TYPE_MASK);
}

static inline uintptr_t mk_node(struct dax_idx_node *n)
{
	return (uintptr_t)n | DAX_SLOT_INTERNAL;
}

static inline uintptr_t slot_read(_Atomic uintptr_t *slot)
{
	return atomic_load_explicit(slot, memory_order_acquire);
}

static inline void slot_write(_Atomic uintptr_t *slot, uintptr_t w)
{
	atomic_store_explicit(slot, w, memory_order_release);
}

/* Highest index a node of @shift covers when its first index is 0. */
static inline uint64_t span_max(unsigned int shift)
{
	if (shift + UDAX_INDEX_SHIFT >= 64)
		return UINT64_MAX;
	return ((uint64_t)1 << (shift + UDAX_INDEX_SHIFT)) - 1;
}

/* First index covered by the node of @shift that covers @index. */
static inline uint64_t node_base(uint64_t index, unsigned int shift)
{
	return index & ~span_max(shift);
}

static inline unsigned int slot_offset(uint64_t index, unsigned int shift)
{
	return (unsigned int)((index >> shift) & DAX_IDX_MASK);
}

/* Smallest multiple of UDAX_INDEX_SHIFT that lets a root hold @index. */
static unsigned int shift_for(uint64_t index)
{
	unsigned int shift = 0;

	while (index > span_max(shift))
		shift += UDAX_INDEX_SHIFT;
	return shift;
}

int dax_idx_init(struct dax_index *idx)
{
	static atomic_ulong next_id;

	memset(idx, 0, sizeof(*idx));
	atomic_init(&idx->root, 0);
	idx->id = atomic_fetch_add(&next_id, 1) + 1;
	return -pthread_mutex_init(&idx->lock, NULL);
}

static struct dax_idx_node *node_alloc(void)
{
	struct dax_idx_node *n;

	if (alloc_should_fail())
		return NULL;
	n = calloc(1, sizeof(*n));
	if (n)
		atomic_fetch_add_explicit(&live_nodes, 1, memory_order_relaxed);
	return n;
}

static void node_free_now(struct dax_idx_node *n)
{
	free(n);
	atomic_fetch_sub_explicit(&live_nodes, 1, memory_order_relaxed);
}

/*
 * Pins (see struct dax_leaf_cache in index.h): the count of leaf caches
 * holding the node, and DAX_NODE_DEAD once nobody can reach it by a walk.
 * Whoever makes the word exactly DEAD (the killer finding no pin, or the
 * last unpin after the kill) frees the node. Both are acq_rel RMWs on the
 * one word, so the freer has seen every access made under a pin; the
 * killer has seen the tree's writers (dax_rcu_before_free, or no other
 * thread at dax_idx_destroy()).
 */
#define DAX_NODE_DEAD ((uint16_t)0x8000)
#define DAX_NODE_PIN_MAX ((uint16_t)0x7fff)

/* No walk can reach @n any more: free it, or leave it to its last pin. */
static void node_kill(struct dax_idx_node *n)
{
	uint16_t old = atomic_fetch_or_explicit(&n->pins, DAX_NODE_DEAD,
						memory_order_acq_rel);

	UDAX_BUG_ON(old & DAX_NODE_DEAD);
	if (!old)
		node_free_now(n);
}

/*
 * Pin @n, reached by a walk. Context: under RCU or idx->lock, so @n is not
 * dead yet. Return: false if it has too many pins (then do not cache it).
 */
static bool node_pin(struct dax_idx_node *n)
{
	uint16_t p = atomic_load_explicit(&n->pins, memory_order_relaxed);

	do {
		UDAX_BUG_ON(p & DAX_NODE_DEAD);
		if (p >= DAX_NODE_PIN_MAX)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&n->pins, &p, (uint16_t)(p + 1), memory_order_relaxed,
		memory_order_relaxed));
	return true;
}

static void node_unpin(struct dax_idx_node *n)
{
	uint16_t old = atomic_fetch_sub_explicit(&n->pins, 1,
						 memory_order_acq_rel);

	UDAX_BUG_ON(!(old & DAX_NODE_PIN_MAX));
	if (old == (DAX_NODE_DEAD | 1))
		node_free_now(n);
}

static void node_free_rcu(struct rcu_head *head)
{
	dax_rcu_before_free();
	node_kill(container_of(head, struct dax_idx_node, rcu));
}

static void node_retire(struct dax_index *idx, struct dax_idx_node *n)
{
	idx->nr_nodes--;
	dax_call_rcu(&n->rcu, node_free_rcu);
}

static void destroy_subtree(struct dax_idx_node *n)
{
	for (unsigned int i = 0; i < DAX_IDX_FANOUT; i++) {
		uintptr_t w = atomic_load_explicit(&n->slots[i],
						   memory_order_relaxed);
		if (dax_slot_is_node(w))
			destroy_subtree(to_node(w));
	}
	node_kill(n); /* a leaf may be pinned by a thread's leaf cache */
}

/*
 * dax_idx_destroy() - free every node of @idx at once.
 * Context: no other thread may use @idx, nor still be inside a read-side
 * critical section that walked it.
 */
void dax_idx_destroy(struct dax_index *idx)
{
	uintptr_t root = atomic_load(&idx->root);

	if (dax_leaf_cache.id == idx->id)
		dax_idx_leaf_cache_drop();
	if (root)
		destroy_subtree(to_node(root));
	atomic_store(&idx->root, 0);
	idx->nr_entries = 0;
	idx->nr_nodes = 0;
	pthread_mutex_destroy(&idx->lock);
}

/* The leaf cache and why it is safe: see struct dax_leaf_cache. */
__thread struct dax_leaf_cache dax_leaf_cache
	__attribute__((tls_model("initial-exec")));

void dax_idx_leaf_cache_drop(void)
{
	struct dax_leaf_cache *lc = &dax_leaf_cache;

	if (lc->leaf)
		node_unpin(lc->leaf);
	lc->id = 0;
	lc->leaf = NULL;
}

/*
 * Cache @n, the leaf of @cur->index. Only in threads known to liburcu:
 * their exit drops the pin (rcu.c); a thread that never registered would
 * keep it, and a dead leaf, for ever.
 */
static void leaf_cache_fill(struct dax_cursor *cur, struct dax_idx_node *n)
{
	struct dax_leaf_cache *lc = &dax_leaf_cache;

	if (!dax_rcu_thread_registered)
		return;
	if (lc->leaf != n) {
		if (!node_pin(n))
			return;
		dax_idx_leaf_cache_drop();
		lc->leaf = n;
	}
	lc->id = cur->idx->id;
	lc->base = cur->index >> UDAX_INDEX_SHIFT;
}

/*
 * dax_idx_load() - find the entry covering @cur->index.
 *
 * For order 0, the entry at that index, which may be a PMD entry covering
 * it. For DAX_PMD_ORDER (@cur->index PMD-aligned), the PMD entry at that
 * index; if there is none but smaller entries exist in its range,
 * @cur->conflict is set. On return @cur->slot is the canonical slot of the
 * entry (NULL if none) and @cur->node / @cur->offset locate it.
 *
 * Context: under dax_rcu_read_lock() or idx->lock.
 * Return: the value entry, or 0 if there is none.
 */
dax_entry_t dax_idx_load(struct dax_cursor *cur)
{
	unsigned int target = cur->order ? DAX_IDX_PMD_SHIFT : 0;
	struct dax_idx_node *n;
	unsigned int shift;
	uintptr_t w;

	cur->conflict = false;
	if (dax_idx_cached_slot(cur)) {
		w = slot_read(cur->slot);
		if (dax_slot_is_value(w))
			return w;
	}
	cur->node = NULL;
	cur->slot = NULL;
	w = slot_read(&cur->idx->root);
	if (!w)
		return 0;
	n = to_node(w);
	shift = n->shift;
	if (cur->index > span_max(shift))
		return 0;
	if (shift < target) {
		/* The whole (non-empty) tree lies inside this PMD range. */
		cur->conflict = true;
		return 0;
	}
	/*
	 * A child's shift is its parent's minus UDAX_INDEX_SHIFT: computing
	 * it saves a dependent load per level on the hottest path.
	 */
	for (;; shift -= UDAX_INDEX_SHIFT) {
		unsigned int off = slot_offset(cur->index, shift);

		w = slot_read(&n->slots[off]);
		if (likely(dax_slot_is_node(w)) &&
		    !(cur->order && shift == target)) {
			n = to_node(w);
			continue;
		}
		if (dax_slot_is_sibling(w)) {
			/*
			 * Under RCU the PMD entry may have been erased and a
			 * node put in its slot since: only a value counts,
			 * anything else is "no entry" (never descend from
			 * here, that node covers other indexes).
			 */
			off = dax_sibling_offset(w);
			w = slot_read(&n->slots[off]);
		}
		if (dax_slot_is_value(w)) {
			cur->node = n;
			cur->offset = off;
			cur->slot = &n->slots[off];
			if (!shift)
				leaf_cache_fill(cur, n);
			return w;
		}
		if (cur->order && shift == target) {
			for (unsigned int i = 0; i < DAX_IDX_PMD_SLOTS; i++)
				if (slot_read(&n->slots[off + i]))
					cur->conflict = true;
		}
		return 0;
	}
}

/* dax_idx_entry_index() - first index covered by @e found by @cur. */
uint64_t dax_idx_entry_index(const struct dax_cursor *cur, dax_entry_t e)
{
	return dax_entry_is_pmd(e) ? cur->index & DAX_PMD_MASK : cur->index;
}

/*
 * dax_idx_nomem() - allocate the nodes the last dax_idx_insert() on @cur
 * asked for.
 * Context: must not hold idx->lock (it allocates).
 * Return: true if the caller should retake the lock and retry, false if
 * memory really is exhausted.
 */
bool dax_idx_nomem(struct dax_cursor *cur)
{
	while (cur->need_nodes) {
		struct dax_idx_node *n = node_alloc();

		if (!n)
			return false;
		n->parent = cur->spare;
		cur->spare = n;
		cur->need_nodes--;
	}
	return true;
}

/*
 * dax_idx_insert_alloc() - dax_idx_insert() of @entry at @cur under
 * idx->lock, allocating the nodes it needs outside the lock
 * (dax_idx_nomem) and retrying, as often as that succeeds. The caller
 * releases @cur (dax_cursor_release) afterwards.
 * Context: must not hold idx->lock; takes it.
 * Return: as dax_idx_insert(); -ENOMEM only if allocation failed.
 */
int dax_idx_insert_alloc(struct dax_cursor *cur, dax_entry_t entry)
{
	int err;

	do {
		pthread_mutex_lock(&cur->idx->lock);
		err = dax_idx_insert(cur, entry);
		pthread_mutex_unlock(&cur->idx->lock);
	} while (err == -ENOMEM && dax_idx_nomem(cur));
	return err;
}

/* dax_cursor_release() - free the spare nodes @cur did not use. */
void dax_cursor_release(struct dax_cursor *cur)
{
	while (cur->spare) {
		struct dax_idx_node *n = cur->spare;

		cur->spare = n->parent;
		node_free_now(n);
	}
	cur->need_nodes = 0;
}

static unsigned int spare_count(const struct dax_cursor *cur)
{
	unsigned int c = 0;

	for (struct dax_idx_node *n = cur->spare; n; n = n->parent)
		c++;
	return c;
}

static struct dax_idx_node *take_spare(struct dax_cursor *cur,
				       unsigned int shift,
				       struct dax_idx_node *parent,
				       unsigned int offset)
{
	struct dax_idx_node *n = cur->spare;

	cur->spare = n->parent;
	memset(n, 0, sizeof(*n));
	n->shift = (uint8_t)shift;
	n->parent = parent;
	n->offset = (uint8_t)offset;
	cur->idx->nr_nodes++;
	return n;
}

static bool node_has_tag(const struct dax_idx_node *n, enum dax_tag tag)
{
	for (unsigned int i = 0; i < DAX_IDX_TAG_WORDS; i++)
		if (atomic_load_explicit((_Atomic uint64_t *)&n->tags[tag][i],
					 memory_order_relaxed))
			return true;
	return false;
}

static inline bool tag_test(const struct dax_idx_node *n, enum dax_tag tag,
			    unsigned int off)
{
	uint64_t w = atomic_load_explicit(
		(_Atomic uint64_t *)&n->tags[tag][off / 64],
		memory_order_relaxed);

	return (w >> (off % 64)) & 1;
}

static inline void tag_write(struct dax_idx_node *n, enum dax_tag tag,
			     unsigned int off, bool set)
{
	_Atomic uint64_t *w = (_Atomic uint64_t *)&n->tags[tag][off / 64];
	uint64_t bit = (uint64_t)1 << (off % 64);

	if (set)
		atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
	else
		atomic_fetch_and_explicit(w, ~bit, memory_order_relaxed);
}

/*
 * Count the nodes an insert at @cur needs, or find that it cannot be done.
 * Return: number of nodes, or -EEXIST.
 */
static int insert_plan(struct dax_cursor *cur)
{
	unsigned int target = cur->order ? DAX_IDX_PMD_SHIFT : 0;
	unsigned int want = shift_for(cur->index);
	uintptr_t w = atomic_load_explicit(&cur->idx->root,
					   memory_order_relaxed);
	struct dax_idx_node *n;
	int need = 0;

	if (want < target)
		want = target;
	if (!w)
		return (int)(want - target) / UDAX_INDEX_SHIFT + 1;
	n = to_node(w);
	if (n->shift < target && cur->index == 0)
		return -EEXIST; /* the whole tree is inside this PMD */
	if (n->shift < want)
		need += (int)(want - n->shift) / UDAX_INDEX_SHIFT;
	if (cur->index > span_max(n->shift)) {
		/* New root(s) above, and a fresh path down to target. */
		return need + (int)(want - target) / UDAX_INDEX_SHIFT;
	}
	if (n->shift < target) {
		/* Grown roots reach target; the PMD range there is free. */
		return need;
	}
	for (;;) {
		unsigned int off = slot_offset(cur->index, n->shift);

		w = atomic_load_explicit(&n->slots[off], memory_order_relaxed);
		if (n->shift == target) {
			unsigned int nr = cur->order ? DAX_IDX_PMD_SLOTS : 1;

			for (unsigned int i = 0; i < nr; i++)
				if (atomic_load_explicit(&n->slots[off + i],
							 memory_order_relaxed))
					return -EEXIST;
			return need;
		}
		if (dax_slot_is_value(w) || dax_slot_is_sibling(w))
			return -EEXIST; /* covered by a PMD entry */
		if (!w)
			return need + (int)(n->shift - target) /
					      UDAX_INDEX_SHIFT;
		n = to_node(w);
	}
}

/* Propagate tag bits of @child (now at @parent's slot 0) upward. */
static void inherit_tags(struct dax_idx_node *parent,
			 struct dax_idx_node *child)
{
	for (int t = 0; t < DAX_NR_TAGS; t++)
		if (node_has_tag(child, (enum dax_tag)t))
			tag_write(parent, (enum dax_tag)t, 0, true);
}

/*
 * dax_idx_insert() - insert @entry at @cur->index with order @cur->order.
 *
 * The index range must be free: for order 0 no entry (and no PMD entry
 * covering it); for PMD order no entry at all in the PMD range.
 *
 * Context: idx->lock held. Never allocates: when nodes are missing it
 * records how many in @cur and returns -ENOMEM; the caller drops the lock,
 * calls dax_idx_nomem(@cur) and retries. Call dax_cursor_release(@cur)
 * when done, to free nodes left over.
 * Return: 0, -EEXIST if the range is occupied, -ENOMEM (see above). The
 * tree is unchanged on error.
 */
int dax_idx_insert(struct dax_cursor *cur, dax_entry_t entry)
{
	struct dax_index *idx = cur->idx;
	unsigned int target = cur->order ? DAX_IDX_PMD_SHIFT : 0;
	unsigned int want = shift_for(cur->index);
	int need = insert_plan(cur);
	struct dax_idx_node *n;
	uintptr_t w;
	unsigned int off;

	UDAX_BUG_ON(!dax_slot_is_value(entry));
	UDAX_BUG_ON(!!cur->order != dax_entry_is_pmd(entry));
	UDAX_BUG_ON(cur->index & ((1ULL << cur->order) - 1));
	if (need < 0)
		return need;
	if ((unsigned int)need > spare_count(cur)) {
		cur->need_nodes = (unsigned int)need - spare_count(cur);
		return -ENOMEM;
	}
	if (want < target)
		want = target;

	w = atomic_load_explicit(&idx->root, memory_order_relaxed);
	if (!w) {
		n = take_spare(cur, want, NULL, 0);
		slot_write(&idx->root, mk_node(n));
	} else {
		n = to_node(w);
		while (n->shift < want) {
			struct dax_idx_node *top;

			top = take_spare(cur, n->shift + UDAX_INDEX_SHIFT,
					 NULL, 0);
			n->parent = top;
			n->offset = 0;
			atomic_init(&top->slots[0], mk_node(n));
			top->count = 1;
			inherit_tags(top, n);
			slot_write(&idx->root, mk_node(top));
			n = top;
		}
	}
	/* Walk down to the target shift, creating nodes on the way. */
	while (n->shift > target) {
		off = slot_offset(cur->index, n->shift);
		w = atomic_load_explicit(&n->slots[off], memory_order_relaxed);
		if (!w) {
			struct dax_idx_node *child;

			child = take_spare(cur, n->shift - UDAX_INDEX_SHIFT, n,
					   off);
			slot_write(&n->slots[off], mk_node(child));
			n->count++;
			w = mk_node(child);
		}
		n = to_node(w);
	}
	off = slot_offset(cur->index, n->shift);
	if (cur->order) {
		for (unsigned int i = 1; i < DAX_IDX_PMD_SLOTS; i++)
			slot_write(&n->slots[off + i], dax_mk_sibling(off));
		n->count += DAX_IDX_PMD_SLOTS;
	} else {
		n->count++;
	}
	slot_write(&n->slots[off], entry);
	n->nr_values++;
	idx->nr_entries++;
	cur->node = n;
	cur->offset = off;
	cur->slot = &n->slots[off];
	cur->conflict = false;
	return 0;
}

/*
 * dax_idx_store() - replace the value in @cur->slot with @entry, of the
 * same order. Context: idx->lock held, or the entry locked by the caller
 * (then only via compare-and-swap in src/lock, since WAITERS can change).
 */
void dax_idx_store(struct dax_cursor *cur, dax_entry_t entry)
{
	UDAX_BUG_ON(!cur->slot);
	UDAX_BUG_ON(dax_entry_order(entry) !=
		    dax_entry_order(slot_read(cur->slot)));
	slot_write(cur->slot, entry);
}

static void tag_clear_at(struct dax_idx_node *n, unsigned int off,
			 enum dax_tag tag)
{
	while (n) {
		if (!tag_test(n, tag, off))
			return;
		tag_write(n, tag, off, false);
		if (node_has_tag(n, tag))
			return;
		off = n->offset;
		n = n->parent;
	}
}

static void tag_set_at(struct dax_idx_node *n, unsigned int off,
		       enum dax_tag tag)
{
	while (n) {
		if (tag_test(n, tag, off))
			return;
		tag_write(n, tag, off, true);
		off = n->offset;
		n = n->parent;
	}
}

/*
 * dax_idx_erase() - remove the entry at @cur->slot, with its tags, and the
 * nodes that become empty.
 * Context: idx->lock held; nodes are freed after a grace period.
 * Return: the value that was in the slot, read and cleared in one atomic
 * exchange (so a WAITERS bit set concurrently is not missed).
 */
dax_entry_t dax_idx_erase(struct dax_cursor *cur)
{
	struct dax_index *idx = cur->idx;
	struct dax_idx_node *n = cur->node;
	unsigned int off = cur->offset;
	dax_entry_t e = atomic_exchange_explicit(cur->slot, 0,
						 memory_order_acq_rel);
	unsigned int nr = dax_entry_is_pmd(e) ? DAX_IDX_PMD_SLOTS : 1;

	UDAX_BUG_ON(!dax_slot_is_value(e));
	for (int t = 0; t < DAX_NR_TAGS; t++)
		tag_clear_at(n, off, (enum dax_tag)t);
	for (unsigned int i = 1; i < nr; i++)
		slot_write(&n->slots[off + i], 0);
	n->count -= nr;
	n->nr_values--;
	idx->nr_entries--;
	cur->slot = NULL;

	/* Unlink empty nodes, bottom up. */
	while (n->count == 0) {
		struct dax_idx_node *parent = n->parent;

		if (!parent) {
			slot_write(&idx->root, 0);
			node_retire(idx, n);
			cur->node = NULL;
			return e;
		}
		slot_write(&parent->slots[n->offset], 0);
		parent->count--;
		node_retire(idx, n);
		n = parent;
	}
	cur->node = NULL;

	/* Shrink: a root whose only child sits in slot 0 is not needed. */
	for (;;) {
		uintptr_t w = atomic_load_explicit(&idx->root,
						   memory_order_relaxed);
		struct dax_idx_node *root = to_node(w), *child;
		uintptr_t first;

		if (root->count != 1 || root->shift == 0)
			break;
		first = atomic_load_explicit(&root->slots[0],
					     memory_order_relaxed);
		if (!dax_slot_is_node(first))
			break;
		child = to_node(first);
		child->parent = NULL;
		slot_write(&idx->root, first);
		/* Readers still in @root follow slot 0 to @child: keep it. */
		node_retire(idx, root);
	}
	return e;
}

/* dax_idx_tag_set() - tag the entry at @cur. Context: idx->lock held. */
void dax_idx_tag_set(struct dax_cursor *cur, enum dax_tag tag)
{
	UDAX_BUG_ON(!cur->slot);
	tag_set_at(cur->node, cur->offset, tag);
}

/* dax_idx_tag_clear() - untag the entry at @cur. Context: idx->lock held. */
void dax_idx_tag_clear(struct dax_cursor *cur, enum dax_tag tag)
{
	UDAX_BUG_ON(!cur->slot);
	tag_clear_at(cur->node, cur->offset, tag);
}

/*
 * dax_idx_tag_get() - is the entry at @cur tagged?
 * Context: idx->lock held for a stable answer; under RCU a peek.
 */
bool dax_idx_tag_get(const struct dax_cursor *cur, enum dax_tag tag)
{
	if (!cur->slot)
		return false;
	return tag_test(cur->node, tag, cur->offset);
}

/* Next offset >= @off in @n whose slot is worth visiting, or FANOUT. */
static unsigned int next_offset(struct dax_idx_node *n, unsigned int off,
				int tag)
{
	if (tag < 0) {
		while (off < DAX_IDX_FANOUT &&
		       !atomic_load_explicit(&n->slots[off],
					     memory_order_acquire))
			off++;
		return off;
	}
	while (off < DAX_IDX_FANOUT) {
		uint64_t w = atomic_load_explicit(
			(_Atomic uint64_t *)&n->tags[tag][off / 64],
			memory_order_relaxed);

		w &= ~(uint64_t)0 << (off % 64);
		if (w)
			return (off & ~63U) + (unsigned int)__builtin_ctzll(w);
		off = (off & ~63U) + 64;
	}
	return DAX_IDX_FANOUT;
}

/*
 * Find the first entry (tag < 0) or tagged entry covering an index in
 * [*indexp, last]. A PMD entry covering *indexp counts, and *indexp is set
 * to the first index of the entry found. Each restart from the root skips
 * at least one exhausted node, so a hit costs O(height) node visits plus
 * the bitmap scans.
 */
static bool find_next(struct dax_index *idx, uint64_t *indexp, uint64_t last,
		      int tag, struct dax_cursor *cur, dax_entry_t *entryp)
{
	uint64_t start = *indexp;

restart:
	if (start > last)
		return false;
	uintptr_t w = slot_read(&idx->root);
	struct dax_idx_node *n;

	if (!w)
		return false;
	n = to_node(w);
	if (start > span_max(n->shift))
		return false;
	for (;;) {
		unsigned int off = slot_offset(start, n->shift);
		unsigned int next;
		uint64_t base = node_base(start, n->shift);

		/* Started inside a PMD entry: step back to its canonical slot. */
		w = slot_read(&n->slots[off]);
		if (dax_slot_is_sibling(w)) {
			unsigned int canon = dax_sibling_offset(w);

			if (tag < 0 || tag_test(n, (enum dax_tag)tag, canon)) {
				off = canon;
				start = base + ((uint64_t)off << n->shift);
			}
		}
		next = next_offset(n, off, tag);
		for (; next < DAX_IDX_FANOUT;
		     next = next_offset(n, next + 1, tag)) {
			w = slot_read(&n->slots[next]);
			if (dax_slot_is_sibling(w) || !w)
				continue;
			break;
		}
		if (next >= DAX_IDX_FANOUT) {
			/* Nothing left in this node: go past its range. */
			uint64_t end = base + span_max(n->shift);

			if (end >= last || end == UINT64_MAX)
				return false;
			start = end + 1;
			goto restart;
		}
		if (next > off || dax_slot_is_value(w))
			start = base + ((uint64_t)next << n->shift);
		if (start > last)
			return false;
		if (dax_slot_is_value(w)) {
			*indexp = start;
			if (entryp)
				*entryp = w;
			if (cur) {
				cur->index = start;
				cur->order = dax_entry_order(w);
				cur->node = n;
				cur->offset = next;
				cur->slot = &n->slots[next];
			}
			return true;
		}
		n = to_node(w);
	}
}

/*
 * dax_idx_next_entry() - first entry covering an index in [*indexp, last].
 * Context: under dax_rcu_read_lock() or idx->lock.
 * Return: true and *indexp (first index of the entry) and *entryp set, or
 * false if there is none.
 */
bool dax_idx_next_entry(struct dax_index *idx, uint64_t *indexp, uint64_t last,
			dax_entry_t *entryp)
{
	return find_next(idx, indexp, last, -1, NULL, entryp);
}

/*
 * dax_idx_next_tagged() - first entry tagged @tag covering an index in
 * [*indexp, last]; O(height) per hit thanks to the tag bitmaps.
 * Context: idx->lock held (under RCU alone, a peek).
 * Return: true with *indexp set, or false.
 */
bool dax_idx_next_tagged(struct dax_index *idx, uint64_t *indexp,
			 uint64_t last, enum dax_tag tag)
{
	return find_next(idx, indexp, last, (int)tag, NULL, NULL);
}

/*
 * dax_idx_retag() - set tag @to on every entry tagged @from whose first
 * index is in [first, last], at most @max of them (the kernel's
 * tag_pages_for_writeback); a PMD entry that covers @first counts.
 * Context: idx->lock held.
 * Return: how many entries were visited.
 */
uint64_t dax_idx_retag(struct dax_index *idx, uint64_t first, uint64_t last,
		       enum dax_tag from, enum dax_tag to, uint64_t max)
{
	struct dax_cursor cur = { .idx = idx };
	uint64_t index = first, done = 0;

	while (done < max &&
	       find_next(idx, &index, last, (int)from, &cur, NULL)) {
		tag_set_at(cur.node, cur.offset, to);
		done++;
		if (index + ((uint64_t)1 << cur.order) - 1 >= last)
			break;
		index += (uint64_t)1 << cur.order;
	}
	return done;
}
