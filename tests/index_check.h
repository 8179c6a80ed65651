/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_check.h - white-box consistency check of an entry index, shared by
 * the index_* tests. It walks every node and checks what the public API
 * cannot show directly:
 *
 *  - parent/offset/shift links agree with where each node hangs;
 *  - count and nr_values match the slots, and no node in the tree is empty;
 *  - PTE values sit in shift-0 nodes, PMD values in DAX_IDX_PMD_SHIFT nodes
 *    at a DAX_IDX_PMD_SLOTS-aligned offset followed by siblings naming it;
 *  - a tag bit is set only on canonical values and on node slots, and on a
 *    node slot exactly when the child has that tag somewhere (so stale
 *    parent bits after a clear or an erase are caught);
 *  - the root is not shrinkable (no single child in slot 0);
 *  - idx->nr_nodes and idx->nr_entries match what the walk found.
 *
 * Context: the caller holds idx->lock or is the only user of the index.
 */
#ifndef UDAX_TESTS_INDEX_CHECK_H
#define UDAX_TESTS_INDEX_CHECK_H

#include "test_util.h"

#include "index/index.h"

struct t_idx_count {
	uint64_t nodes;
	uint64_t values;
};

static inline const struct dax_idx_node *t_to_node(uintptr_t w)
{
	return (const struct dax_idx_node *)(w & ~DAX_SLOT_TYPE_MASK);
}

static inline bool t_node_tag(const struct dax_idx_node *n, int tag,
			      unsigned int off)
{
	return (n->tags[tag][off / 64] >> (off % 64)) & 1;
}

/* Check @n and below; return a bitmask of the tags present in it. */
static unsigned int t_idx_check_node(const struct dax_idx_node *n,
				     const struct dax_idx_node *parent,
				     unsigned int offset,
				     struct t_idx_count *cnt)
{
	unsigned int tags_here = 0, count = 0, values = 0;

	cnt->nodes++;
	CHECK(n->parent == parent);
	if (parent) {
		CHECK_EQ(n->offset, offset);
		CHECK_EQ(n->shift + UDAX_INDEX_SHIFT, parent->shift);
	}
	CHECK_EQ(n->shift % UDAX_INDEX_SHIFT, 0);
	for (unsigned int i = 0; i < DAX_IDX_FANOUT; i++) {
		uintptr_t w = atomic_load_explicit(&n->slots[i],
						   memory_order_relaxed);
		unsigned int child_tags = 0;

		if (w)
			count++;
		if (dax_slot_is_value(w)) {
			values++;
			cnt->values++;
			if (dax_entry_is_pmd(w)) {
				CHECK_EQ(n->shift, DAX_IDX_PMD_SHIFT);
				CHECK_EQ(i % DAX_IDX_PMD_SLOTS, 0);
				for (unsigned int j = 1; j < DAX_IDX_PMD_SLOTS;
				     j++) {
					uintptr_t s = atomic_load_explicit(
						&n->slots[i + j],
						memory_order_relaxed);

					CHECK(dax_slot_is_sibling(s));
					CHECK_EQ(dax_sibling_offset(s), i);
				}
			} else {
				CHECK_EQ(n->shift, 0);
			}
			CHECK(!dax_entry_locked(w));
			for (int t = 0; t < DAX_NR_TAGS; t++)
				if (t_node_tag(n, t, i))
					child_tags |= 1U << t;
		} else if (dax_slot_is_sibling(w)) {
			unsigned int c = dax_sibling_offset(w);
			uintptr_t v;

			REQUIRE(c < i && i - c < DAX_IDX_PMD_SLOTS);
			v = atomic_load_explicit(&n->slots[c],
						 memory_order_relaxed);
			CHECK(dax_slot_is_value(v) && dax_entry_is_pmd(v));
			for (int t = 0; t < DAX_NR_TAGS; t++)
				CHECK(!t_node_tag(n, t, i));
		} else if (dax_slot_is_node(w)) {
			REQUIRE(n->shift > 0);
			child_tags = t_idx_check_node(t_to_node(w), n, i, cnt);
			for (int t = 0; t < DAX_NR_TAGS; t++)
				CHECK_EQ(t_node_tag(n, t, i),
					 (child_tags >> t) & 1);
		} else {
			REQUIRE(w == 0);
			for (int t = 0; t < DAX_NR_TAGS; t++)
				CHECK(!t_node_tag(n, t, i));
		}
		tags_here |= child_tags;
	}
	/* Bits past the fan-out (fan-out 8) must stay clear. */
	for (int t = 0; t < DAX_NR_TAGS; t++)
		for (unsigned int i = DAX_IDX_FANOUT;
		     i < DAX_IDX_TAG_WORDS * 64; i++)
			CHECK(!t_node_tag(n, t, i));
	CHECK(count > 0);
	CHECK_EQ(n->count, count);
	CHECK_EQ(n->nr_values, values);
	return tags_here;
}

static inline __attribute__((unused)) void t_idx_check(struct dax_index *idx)
{
	uintptr_t w = atomic_load(&idx->root);
	struct t_idx_count cnt = { 0, 0 };

	if (w) {
		const struct dax_idx_node *root = t_to_node(w);
		uintptr_t first;

		REQUIRE(dax_slot_is_node(w));
		t_idx_check_node(root, NULL, 0, &cnt);
		first = atomic_load(&root->slots[0]);
		/* An erase must have shrunk such a root away. */
		CHECK(!(root->count == 1 && dax_slot_is_node(first)));
	}
	CHECK_EQ(cnt.nodes, idx->nr_nodes);
	CHECK_EQ(cnt.values, idx->nr_entries);
}

/* t_idx_check() under the tree lock. */
static inline __attribute__((unused)) void
t_idx_check_locked(struct dax_index *idx)
{
	pthread_mutex_lock(&idx->lock);
	t_idx_check(idx);
	pthread_mutex_unlock(&idx->lock);
}

#endif /* UDAX_TESTS_INDEX_CHECK_H */
