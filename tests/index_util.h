/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_util.h - the one-call wrappers the index_* tests drive the entry
 * index with: insert (allocating), load under RCU, erase, tag and test a
 * tag under the tree lock. Static inline: each test is one program.
 *
 * @idx is the index under test, @index a page index in it, @order the
 * cursor's order (0 or DAX_PMD_ORDER).
 */
#ifndef UDAX_TESTS_INDEX_UTIL_H
#define UDAX_TESTS_INDEX_UTIL_H

#include "test_util.h"

#include "index/index.h"
#include "index/rcu.h"

/* Insert @e at @index through dax_idx_insert_alloc(). Return: its error. */
static inline __attribute__((unused)) int t_idx_insert(struct dax_index *idx,
						       uint64_t index,
						       unsigned int order,
						       dax_entry_t e)
{
	DAX_CURSOR(cur, index, idx, order);
	int err;

	err = dax_idx_insert_alloc(&cur, e);
	dax_cursor_release(&cur);
	return err;
}

/* The entry covering @index (0 if none), read under RCU. */
static inline __attribute__((unused)) dax_entry_t
t_idx_load(struct dax_index *idx, uint64_t index)
{
	DAX_CURSOR(cur, index, idx, 0);
	dax_entry_t e;

	dax_rcu_read_lock();
	e = dax_idx_load(&cur);
	dax_rcu_read_unlock();
	return e;
}

/* Erase the entry covering @index, if any. Return: it, or 0. */
static inline __attribute__((unused)) dax_entry_t
t_idx_erase(struct dax_index *idx, uint64_t index)
{
	DAX_CURSOR(cur, index, idx, 0);
	dax_entry_t e;

	pthread_mutex_lock(&idx->lock);
	e = dax_idx_load(&cur);
	if (e)
		dax_idx_erase(&cur);
	pthread_mutex_unlock(&idx->lock);
	return e;
}

/* Erase the entry covering @index, which must exist. */
static inline __attribute__((unused)) void
t_idx_erase_present(struct dax_index *idx, uint64_t index)
{
	DAX_CURSOR(cur, index, idx, 0);

	pthread_mutex_lock(&idx->lock);
	REQUIRE(dax_idx_load(&cur) != 0);
	dax_idx_erase(&cur);
	pthread_mutex_unlock(&idx->lock);
}

/*
 * Set (@set) or clear tag @t of the entry at @index, which must exist,
 * through a cursor of @order.
 */
static inline __attribute__((unused)) void t_idx_tag(struct dax_index *idx,
						     uint64_t index,
						     unsigned int order,
						     enum dax_tag t, bool set)
{
	DAX_CURSOR(cur, index, idx, order);

	pthread_mutex_lock(&idx->lock);
	REQUIRE(dax_idx_load(&cur) != 0);
	if (set)
		dax_idx_tag_set(&cur, t);
	else
		dax_idx_tag_clear(&cur, t);
	pthread_mutex_unlock(&idx->lock);
}

/* Does the entry covering @index have tag @t? */
static inline __attribute__((unused)) bool
t_idx_tagged(struct dax_index *idx, uint64_t index, enum dax_tag t)
{
	DAX_CURSOR(cur, index, idx, 0);
	bool ret;

	pthread_mutex_lock(&idx->lock);
	dax_idx_load(&cur);
	ret = dax_idx_tag_get(&cur, t);
	pthread_mutex_unlock(&idx->lock);
	return ret;
}

#endif /* UDAX_TESTS_INDEX_UTIL_H */
