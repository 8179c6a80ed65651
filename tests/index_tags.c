/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_tags - the DIRTY and TOWRITE tags of the entry index:
 *
 *  - set, clear and get through cursors under idx->lock; the two tags are
 *    independent of each other and of neighbouring entries;
 *  - dax_idx_next_tagged over ranges: from 0, from the middle of a gap,
 *    from exactly a tagged index, with @last just below / at a tagged
 *    index, over sparse indexes far apart (0, 5, 4096, 1 << 30, UINT64_MAX)
 *    so that the bitmaps of several levels are used;
 *  - dax_idx_retag (DIRTY -> TOWRITE) over a range, with and without @max;
 *  - tags survive dax_idx_store and growing / shrinking the root;
 *  - erasing a tagged entry clears its tags and the parent bits above it
 *    (next_tagged finds nothing, a new entry at the same index is
 *    untagged, and the white-box check sees no stale bit).
 */
#include "test_util.h"

#include <errno.h>

#include "index/index.h"
#include "index/rcu.h"
#include "index_check.h"

static int insert(struct dax_index *idx, uint64_t index, dax_entry_t e)
{
	DAX_CURSOR(cur, index, idx, 0);
	int err;

	err = dax_idx_insert_alloc(&cur, e);
	dax_cursor_release(&cur);
	return err;
}

static void erase(struct dax_index *idx, uint64_t index)
{
	DAX_CURSOR(cur, index, idx, 0);

	pthread_mutex_lock(&idx->lock);
	REQUIRE(dax_idx_load(&cur) != 0);
	dax_idx_erase(&cur);
	pthread_mutex_unlock(&idx->lock);
}

/* Set (@set) or clear the tag of the entry at @index, which must exist. */
static void tag(struct dax_index *idx, uint64_t index, enum dax_tag t,
		bool set)
{
	DAX_CURSOR(cur, index, idx, 0);

	pthread_mutex_lock(&idx->lock);
	REQUIRE(dax_idx_load(&cur) != 0);
	if (set)
		dax_idx_tag_set(&cur, t);
	else
		dax_idx_tag_clear(&cur, t);
	pthread_mutex_unlock(&idx->lock);
}

static bool tagged(struct dax_index *idx, uint64_t index, enum dax_tag t)
{
	DAX_CURSOR(cur, index, idx, 0);
	bool ret;

	pthread_mutex_lock(&idx->lock);
	dax_idx_load(&cur);
	ret = dax_idx_tag_get(&cur, t);
	pthread_mutex_unlock(&idx->lock);
	return ret;
}

/* next_tagged from @start; returns the index found or @none. */
static uint64_t next(struct dax_index *idx, uint64_t start, uint64_t last,
		     enum dax_tag t, uint64_t none)
{
	uint64_t index = start;
	bool found;

	pthread_mutex_lock(&idx->lock);
	found = dax_idx_next_tagged(idx, &index, last, t);
	pthread_mutex_unlock(&idx->lock);
	if (!found) {
		CHECK_EQ(index, start); /* untouched on a miss */
		return none;
	}
	CHECK(index >= start && index <= last);
	return index;
}

static uint64_t retag(struct dax_index *idx, uint64_t first, uint64_t last,
		      uint64_t max)
{
	uint64_t n;

	pthread_mutex_lock(&idx->lock);
	n = dax_idx_retag(idx, first, last, DAX_TAG_DIRTY, DAX_TAG_TOWRITE,
			  max);
	pthread_mutex_unlock(&idx->lock);
	return n;
}

static void check_tree(struct dax_index *idx)
{
	pthread_mutex_lock(&idx->lock);
	t_idx_check(idx);
	pthread_mutex_unlock(&idx->lock);
}

/*
 * Collect every index tagged @t in [first, last] by repeated next_tagged
 * calls into @out (at most @max); return how many.
 */
static size_t collect(struct dax_index *idx, uint64_t first, uint64_t last,
		      enum dax_tag t, uint64_t *out, size_t max)
{
	uint64_t index = first;
	size_t n = 0;

	pthread_mutex_lock(&idx->lock);
	while (n < max && dax_idx_next_tagged(idx, &index, last, t)) {
		out[n++] = index;
		if (index == last)
			break;
		index++;
	}
	pthread_mutex_unlock(&idx->lock);
	return n;
}

#define NONE 0xdeadULL /* never an index used below */

static const uint64_t sparse[] = {
	0, 5, 4096, 1ULL << 30, UINT64_MAX,
};
#define NR_SPARSE (sizeof(sparse) / sizeof(sparse[0]))

static void test_sparse(struct dax_index *idx)
{
	uint64_t found[NR_SPARSE + 1];

	for (size_t i = 0; i < NR_SPARSE; i++)
		REQUIRE(insert(idx, sparse[i], dax_mk_entry(i + 1, 0)) == 0);
	/* Fresh entries carry no tag. */
	for (size_t i = 0; i < NR_SPARSE; i++) {
		CHECK(!tagged(idx, sparse[i], DAX_TAG_DIRTY));
		CHECK(!tagged(idx, sparse[i], DAX_TAG_TOWRITE));
	}
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);

	/* A tag on every entry, one by one, found from anywhere before it. */
	for (size_t i = 0; i < NR_SPARSE; i++) {
		tag(idx, sparse[i], DAX_TAG_DIRTY, true);
		CHECK(tagged(idx, sparse[i], DAX_TAG_DIRTY));
		CHECK(!tagged(idx, sparse[i], DAX_TAG_TOWRITE));
		CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE),
			 sparse[0]);
		CHECK_EQ(next(idx, sparse[i], UINT64_MAX, DAX_TAG_DIRTY, NONE),
			 sparse[i]);
		if (i > 0)
			CHECK_EQ(next(idx, sparse[i - 1] + 1, UINT64_MAX,
				      DAX_TAG_DIRTY, NONE),
				 sparse[i]);
		CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE),
			 NONE);
		check_tree(idx);
	}
	CHECK_EQ(collect(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, found,
			 NR_SPARSE + 1),
		 NR_SPARSE);
	for (size_t i = 0; i < NR_SPARSE; i++)
		CHECK_EQ(found[i], sparse[i]);

	/* Bounds: start in a gap, last just below and exactly at an entry. */
	CHECK_EQ(next(idx, 1, UINT64_MAX, DAX_TAG_DIRTY, NONE), 5);
	CHECK_EQ(next(idx, 6, 4095, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 6, 4096, DAX_TAG_DIRTY, NONE), 4096);
	CHECK_EQ(next(idx, 4096, 4096, DAX_TAG_DIRTY, NONE), 4096);
	CHECK_EQ(next(idx, 4097, (1ULL << 30) - 1, DAX_TAG_DIRTY, NONE),
		 NONE);
	CHECK_EQ(next(idx, 4097, 1ULL << 30, DAX_TAG_DIRTY, NONE), 1ULL << 30);
	CHECK_EQ(next(idx, (1ULL << 30) + 1, UINT64_MAX - 1, DAX_TAG_DIRTY,
		      NONE),
		 NONE);
	CHECK_EQ(next(idx, (1ULL << 30) + 1, UINT64_MAX, DAX_TAG_DIRTY, NONE),
		 UINT64_MAX);
	CHECK_EQ(next(idx, UINT64_MAX, UINT64_MAX, DAX_TAG_DIRTY, NONE),
		 UINT64_MAX);
	CHECK_EQ(next(idx, 3, 2, DAX_TAG_DIRTY, NONE), NONE); /* empty range */

	/* Clearing one tag leaves the other entries and the other tag. */
	tag(idx, 5, DAX_TAG_TOWRITE, true);
	tag(idx, 4096, DAX_TAG_DIRTY, false);
	CHECK(!tagged(idx, 4096, DAX_TAG_DIRTY));
	CHECK(tagged(idx, 5, DAX_TAG_DIRTY));
	CHECK(tagged(idx, 5, DAX_TAG_TOWRITE));
	CHECK_EQ(next(idx, 6, UINT64_MAX, DAX_TAG_DIRTY, NONE), 1ULL << 30);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), 5);
	CHECK_EQ(next(idx, 6, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	/* Clearing an untagged entry is a no-op. */
	tag(idx, 4096, DAX_TAG_DIRTY, false);
	CHECK(!tagged(idx, 4096, DAX_TAG_DIRTY));
	check_tree(idx);

	/* Clear everything: the parent bits must go too. */
	for (size_t i = 0; i < NR_SPARSE; i++) {
		tag(idx, sparse[i], DAX_TAG_DIRTY, false);
		tag(idx, sparse[i], DAX_TAG_TOWRITE, false);
	}
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	check_tree(idx);

	/* Tags survive dax_idx_store. */
	tag(idx, 1ULL << 30, DAX_TAG_DIRTY, true);
	tag(idx, 1ULL << 30, DAX_TAG_TOWRITE, true);
	{
		DAX_CURSOR(cur, 1ULL << 30, idx, 0);

		pthread_mutex_lock(&idx->lock);
		REQUIRE(dax_idx_load(&cur) == dax_mk_entry(4, 0));
		dax_idx_store(&cur, dax_mk_entry(77, DAX_ENTRY_ZERO));
		pthread_mutex_unlock(&idx->lock);
	}
	CHECK(tagged(idx, 1ULL << 30, DAX_TAG_DIRTY));
	CHECK(tagged(idx, 1ULL << 30, DAX_TAG_TOWRITE));
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), 1ULL << 30);

	/* Erase clears the tags of the entry and of the path above it. */
	erase(idx, 1ULL << 30);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	check_tree(idx);
	REQUIRE(insert(idx, 1ULL << 30, dax_mk_entry(5, 0)) == 0);
	CHECK(!tagged(idx, 1ULL << 30, DAX_TAG_DIRTY));
	CHECK(!tagged(idx, 1ULL << 30, DAX_TAG_TOWRITE));
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);

	/* A tagged entry sharing its leaf with an untagged one (0 and 5). */
	tag(idx, 5, DAX_TAG_DIRTY, true);
	erase(idx, 5);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK(!tagged(idx, 0, DAX_TAG_DIRTY));
	check_tree(idx);
	REQUIRE(insert(idx, 5, dax_mk_entry(2, 0)) == 0);
	CHECK(!tagged(idx, 5, DAX_TAG_DIRTY));

	for (size_t i = 0; i < NR_SPARSE; i++)
		erase(idx, sparse[i]);
	CHECK_EQ(idx->nr_nodes, 0);
}

/* Tags of the old root stay reachable when the root grows and shrinks. */
static void test_grow_shrink(struct dax_index *idx)
{
	REQUIRE(insert(idx, 3, dax_mk_entry(1, 0)) == 0);
	REQUIRE(insert(idx, 4, dax_mk_entry(2, 0)) == 0);
	tag(idx, 3, DAX_TAG_DIRTY, true);
	tag(idx, 4, DAX_TAG_TOWRITE, true);
	/* Grow the root from a leaf to the full height. */
	REQUIRE(insert(idx, UINT64_MAX - 7, dax_mk_entry(3, 0)) == 0);
	check_tree(idx);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), 3);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), 4);
	CHECK_EQ(next(idx, 5, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	/* A tag far away, then shrink back by erasing it. */
	tag(idx, UINT64_MAX - 7, DAX_TAG_TOWRITE, true);
	CHECK_EQ(next(idx, 5, UINT64_MAX, DAX_TAG_TOWRITE, NONE),
		 UINT64_MAX - 7);
	erase(idx, UINT64_MAX - 7);
	check_tree(idx);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), 3);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), 4);
	CHECK_EQ(next(idx, 5, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	CHECK(tagged(idx, 3, DAX_TAG_DIRTY));
	CHECK(!tagged(idx, 3, DAX_TAG_TOWRITE));
	erase(idx, 3);
	erase(idx, 4);
	CHECK_EQ(idx->nr_nodes, 0);
}

/*
 * Retag over a dense run spanning several leaves (7 with fan-out 64, 49
 * with fan-out 8): DIRTY on every third index of [base, base + n), then
 * TOWRITE copied over sub-ranges.
 */
static void test_retag(struct dax_index *idx)
{
	const uint64_t base = 1000, n = 384;
	uint64_t got[512];
	uint64_t nr_dirty = 0;
	size_t cnt;

	for (uint64_t i = 0; i < n; i++)
		REQUIRE(insert(idx, base + i, dax_mk_entry(i + 1, 0)) == 0);
	for (uint64_t i = 0; i < n; i += 3) {
		tag(idx, base + i, DAX_TAG_DIRTY, true);
		nr_dirty++;
	}
	/* Nothing outside the run, nothing TOWRITE yet. */
	CHECK_EQ(retag(idx, 0, base - 1, UINT64_MAX), 0);
	CHECK_EQ(retag(idx, base + n, UINT64_MAX, UINT64_MAX), 0);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);

	/* @max stops early; the first ones in index order are done. */
	CHECK_EQ(retag(idx, base + 1, UINT64_MAX, 5), 5);
	cnt = collect(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, got, 512);
	CHECK_EQ(cnt, 5);
	for (size_t i = 0; i < cnt; i++)
		CHECK_EQ(got[i], base + 3 * (i + 1));

	/* A middle range with bounds that are not tagged themselves. */
	CHECK_EQ(retag(idx, base + 100, base + 200, UINT64_MAX),
		 (198 - 102) / 3 + 1);
	/* Bounds that are tagged: both ends count. */
	CHECK_EQ(retag(idx, base + 201, base + 210, UINT64_MAX), 4);
	for (uint64_t i = 0; i < n; i++) {
		bool d = i % 3 == 0;
		bool w = d && ((i >= 3 && i <= 15) ||
			       (i >= 100 && i <= 210));

		CHECK_EQ(tagged(idx, base + i, DAX_TAG_DIRTY), d);
		CHECK_EQ(tagged(idx, base + i, DAX_TAG_TOWRITE), w);
	}
	check_tree(idx);

	/* The whole range: every DIRTY entry, already TOWRITE or not. */
	CHECK_EQ(retag(idx, 0, UINT64_MAX, UINT64_MAX), nr_dirty);
	cnt = collect(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, got, 512);
	CHECK_EQ(cnt, nr_dirty);
	for (size_t i = 0; i < cnt; i++)
		CHECK_EQ(got[i], base + 3 * i);
	CHECK_EQ(retag(idx, 0, UINT64_MAX, 0), 0);

	/* Retag at the very end of the index space. */
	REQUIRE(insert(idx, UINT64_MAX, dax_mk_entry(9, 0)) == 0);
	REQUIRE(insert(idx, UINT64_MAX - 1, dax_mk_entry(8, 0)) == 0);
	tag(idx, UINT64_MAX, DAX_TAG_DIRTY, true);
	tag(idx, UINT64_MAX - 1, DAX_TAG_DIRTY, true);
	CHECK_EQ(retag(idx, UINT64_MAX, UINT64_MAX, UINT64_MAX), 1);
	CHECK(tagged(idx, UINT64_MAX, DAX_TAG_TOWRITE));
	CHECK(!tagged(idx, UINT64_MAX - 1, DAX_TAG_TOWRITE));
	CHECK_EQ(retag(idx, base + n, UINT64_MAX, UINT64_MAX), 2);
	CHECK(tagged(idx, UINT64_MAX - 1, DAX_TAG_TOWRITE));
	check_tree(idx);

	/* Erasing the tagged entries empties both tags. */
	for (uint64_t i = 0; i < n; i += 3)
		erase(idx, base + i);
	erase(idx, UINT64_MAX);
	erase(idx, UINT64_MAX - 1);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	CHECK_EQ(retag(idx, 0, UINT64_MAX, UINT64_MAX), 0);
	check_tree(idx);
	for (uint64_t i = 0; i < n; i++)
		if (i % 3)
			erase(idx, base + i);
	CHECK_EQ(idx->nr_nodes, 0);
}

int main(int argc, char **argv)
{
	struct dax_index idx;

	t_init(argc, argv);
	t_watchdog(60); /* a walk that never ends fails, not hangs */
	REQUIRE(dax_idx_init(&idx) == 0);

	test_sparse(&idx);
	test_grow_shrink(&idx);
	test_retag(&idx);

	CHECK_EQ(idx.nr_entries, 0);
	CHECK_EQ(atomic_load(&idx.root), 0);
	dax_idx_destroy(&idx);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("index_tags");
}
