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
#include "index_util.h"

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
		REQUIRE(t_idx_insert(idx, sparse[i], 0,
				     dax_mk_entry(i + 1, 0)) == 0);
	/* Fresh entries carry no tag. */
	for (size_t i = 0; i < NR_SPARSE; i++) {
		CHECK(!t_idx_tagged(idx, sparse[i], DAX_TAG_DIRTY));
		CHECK(!t_idx_tagged(idx, sparse[i], DAX_TAG_TOWRITE));
	}
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);

	/* A tag on every entry, one by one, found from anywhere before it. */
	for (size_t i = 0; i < NR_SPARSE; i++) {
		t_idx_tag(idx, sparse[i], 0, DAX_TAG_DIRTY, true);
		CHECK(t_idx_tagged(idx, sparse[i], DAX_TAG_DIRTY));
		CHECK(!t_idx_tagged(idx, sparse[i], DAX_TAG_TOWRITE));
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
		t_idx_check_locked(idx);
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
	t_idx_tag(idx, 5, 0, DAX_TAG_TOWRITE, true);
	t_idx_tag(idx, 4096, 0, DAX_TAG_DIRTY, false);
	CHECK(!t_idx_tagged(idx, 4096, DAX_TAG_DIRTY));
	CHECK(t_idx_tagged(idx, 5, DAX_TAG_DIRTY));
	CHECK(t_idx_tagged(idx, 5, DAX_TAG_TOWRITE));
	CHECK_EQ(next(idx, 6, UINT64_MAX, DAX_TAG_DIRTY, NONE), 1ULL << 30);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), 5);
	CHECK_EQ(next(idx, 6, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	/* Clearing an untagged entry is a no-op. */
	t_idx_tag(idx, 4096, 0, DAX_TAG_DIRTY, false);
	CHECK(!t_idx_tagged(idx, 4096, DAX_TAG_DIRTY));
	t_idx_check_locked(idx);

	/* Clear everything: the parent bits must go too. */
	for (size_t i = 0; i < NR_SPARSE; i++) {
		t_idx_tag(idx, sparse[i], 0, DAX_TAG_DIRTY, false);
		t_idx_tag(idx, sparse[i], 0, DAX_TAG_TOWRITE, false);
	}
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	t_idx_check_locked(idx);

	/* Tags survive dax_idx_store. */
	t_idx_tag(idx, 1ULL << 30, 0, DAX_TAG_DIRTY, true);
	t_idx_tag(idx, 1ULL << 30, 0, DAX_TAG_TOWRITE, true);
	{
		DAX_CURSOR(cur, 1ULL << 30, idx, 0);

		pthread_mutex_lock(&idx->lock);
		REQUIRE(dax_idx_load(&cur) == dax_mk_entry(4, 0));
		dax_idx_store(&cur, dax_mk_entry(77, DAX_ENTRY_ZERO));
		pthread_mutex_unlock(&idx->lock);
	}
	CHECK(t_idx_tagged(idx, 1ULL << 30, DAX_TAG_DIRTY));
	CHECK(t_idx_tagged(idx, 1ULL << 30, DAX_TAG_TOWRITE));
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), 1ULL << 30);

	/* Erase clears the tags of the entry and of the path above it. */
	t_idx_erase_present(idx, 1ULL << 30);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	t_idx_check_locked(idx);
	REQUIRE(t_idx_insert(idx, 1ULL << 30, 0, dax_mk_entry(5, 0)) == 0);
	CHECK(!t_idx_tagged(idx, 1ULL << 30, DAX_TAG_DIRTY));
	CHECK(!t_idx_tagged(idx, 1ULL << 30, DAX_TAG_TOWRITE));
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);

	/* A tagged entry sharing its leaf with an untagged one (0 and 5). */
	t_idx_tag(idx, 5, 0, DAX_TAG_DIRTY, true);
	t_idx_erase_present(idx, 5);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK(!t_idx_tagged(idx, 0, DAX_TAG_DIRTY));
	t_idx_check_locked(idx);
	REQUIRE(t_idx_insert(idx, 5, 0, dax_mk_entry(2, 0)) == 0);
	CHECK(!t_idx_tagged(idx, 5, DAX_TAG_DIRTY));

	for (size_t i = 0; i < NR_SPARSE; i++)
		t_idx_erase_present(idx, sparse[i]);
	CHECK_EQ(idx->nr_nodes, 0);
}

/* Tags of the old root stay reachable when the root grows and shrinks. */
static void test_grow_shrink(struct dax_index *idx)
{
	REQUIRE(t_idx_insert(idx, 3, 0, dax_mk_entry(1, 0)) == 0);
	REQUIRE(t_idx_insert(idx, 4, 0, dax_mk_entry(2, 0)) == 0);
	t_idx_tag(idx, 3, 0, DAX_TAG_DIRTY, true);
	t_idx_tag(idx, 4, 0, DAX_TAG_TOWRITE, true);
	/* Grow the root from a leaf to the full height. */
	REQUIRE(t_idx_insert(idx, UINT64_MAX - 7, 0, dax_mk_entry(3, 0)) == 0);
	t_idx_check_locked(idx);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), 3);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), 4);
	CHECK_EQ(next(idx, 5, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	/* A tag far away, then shrink back by erasing it. */
	t_idx_tag(idx, UINT64_MAX - 7, 0, DAX_TAG_TOWRITE, true);
	CHECK_EQ(next(idx, 5, UINT64_MAX, DAX_TAG_TOWRITE, NONE),
		 UINT64_MAX - 7);
	t_idx_erase_present(idx, UINT64_MAX - 7);
	t_idx_check_locked(idx);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), 3);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), 4);
	CHECK_EQ(next(idx, 5, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	CHECK(t_idx_tagged(idx, 3, DAX_TAG_DIRTY));
	CHECK(!t_idx_tagged(idx, 3, DAX_TAG_TOWRITE));
	t_idx_erase_present(idx, 3);
	t_idx_erase_present(idx, 4);
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
		REQUIRE(t_idx_insert(idx, base + i, 0,
				     dax_mk_entry(i + 1, 0)) == 0);
	for (uint64_t i = 0; i < n; i += 3) {
		t_idx_tag(idx, base + i, 0, DAX_TAG_DIRTY, true);
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

		CHECK_EQ(t_idx_tagged(idx, base + i, DAX_TAG_DIRTY), d);
		CHECK_EQ(t_idx_tagged(idx, base + i, DAX_TAG_TOWRITE), w);
	}
	t_idx_check_locked(idx);

	/* The whole range: every DIRTY entry, already TOWRITE or not. */
	CHECK_EQ(retag(idx, 0, UINT64_MAX, UINT64_MAX), nr_dirty);
	cnt = collect(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, got, 512);
	CHECK_EQ(cnt, nr_dirty);
	for (size_t i = 0; i < cnt; i++)
		CHECK_EQ(got[i], base + 3 * i);
	CHECK_EQ(retag(idx, 0, UINT64_MAX, 0), 0);

	/* Retag at the very end of the index space. */
	REQUIRE(t_idx_insert(idx, UINT64_MAX, 0, dax_mk_entry(9, 0)) == 0);
	REQUIRE(t_idx_insert(idx, UINT64_MAX - 1, 0, dax_mk_entry(8, 0)) == 0);
	t_idx_tag(idx, UINT64_MAX, 0, DAX_TAG_DIRTY, true);
	t_idx_tag(idx, UINT64_MAX - 1, 0, DAX_TAG_DIRTY, true);
	CHECK_EQ(retag(idx, UINT64_MAX, UINT64_MAX, UINT64_MAX), 1);
	CHECK(t_idx_tagged(idx, UINT64_MAX, DAX_TAG_TOWRITE));
	CHECK(!t_idx_tagged(idx, UINT64_MAX - 1, DAX_TAG_TOWRITE));
	CHECK_EQ(retag(idx, base + n, UINT64_MAX, UINT64_MAX), 2);
	CHECK(t_idx_tagged(idx, UINT64_MAX - 1, DAX_TAG_TOWRITE));
	t_idx_check_locked(idx);

	/* Erasing the tagged entries empties both tags. */
	for (uint64_t i = 0; i < n; i += 3)
		t_idx_erase_present(idx, base + i);
	t_idx_erase_present(idx, UINT64_MAX);
	t_idx_erase_present(idx, UINT64_MAX - 1);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_DIRTY, NONE), NONE);
	CHECK_EQ(next(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE, NONE), NONE);
	CHECK_EQ(retag(idx, 0, UINT64_MAX, UINT64_MAX), 0);
	t_idx_check_locked(idx);
	for (uint64_t i = 0; i < n; i++)
		if (i % 3)
			t_idx_erase_present(idx, base + i);
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
