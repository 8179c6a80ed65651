/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_nomem - node allocation failure during insert.
 *
 * For inserts that need several nodes (a deep index into an empty tree, an
 * index that makes the root grow to full height, a PMD that needs the root
 * to grow and a path down to the PMD level, a path in the middle of a
 * tree), node allocation is made to fail at every position k = 0, 1, 2...
 * with dax_idx_fail_alloc_after(k). dax_idx_insert_alloc (the insert /
 * -ENOMEM / dax_idx_nomem loop) must then return -ENOMEM and leave the
 * tree exactly as it was: same entries, values and tags, same nr_entries,
 * nr_nodes and root, structure still consistent, and no node leaked once
 * dax_cursor_release has run. The first k that succeeds must equal the
 * number of nodes the insert added (no over- or under-allocation), and
 * with injection off (-1) the insert succeeds.
 *
 * Also: inserts that need no node, and -EEXIST, never allocate; and a
 * cursor whose dax_idx_nomem failed half way keeps its spares, so a later
 * dax_idx_nomem + insert on it completes without leaking.
 */
#include "test_util.h"

#include <errno.h>

#include "index/index.h"
#include "index/rcu.h"
#include "index_check.h"
#include "index_util.h"

#define MAX_SNAP 64

struct snap {
	size_t n;
	uint64_t index[MAX_SNAP];
	dax_entry_t e[MAX_SNAP];
	unsigned int tags[MAX_SNAP];
	uint64_t nr_entries, nr_nodes;
	uintptr_t root;
	long live;
};

static void take_snap(struct dax_index *idx, struct snap *s)
{
	uint64_t index = 0;
	dax_entry_t e;

	pthread_mutex_lock(&idx->lock);
	t_idx_check(idx);
	s->n = 0;
	while (dax_idx_next_entry(idx, &index, UINT64_MAX, &e)) {
		DAX_CURSOR(cur, index, idx, 0);

		REQUIRE(s->n < MAX_SNAP);
		REQUIRE(dax_idx_load(&cur) == e);
		s->index[s->n] = index;
		s->e[s->n] = e;
		s->tags[s->n] = 0;
		for (int t = 0; t < DAX_NR_TAGS; t++)
			if (dax_idx_tag_get(&cur, (enum dax_tag)t))
				s->tags[s->n] |= 1U << t;
		s->n++;
		index += ((uint64_t)1 << dax_entry_order(e)) - 1;
		if (index == UINT64_MAX)
			break;
		index++;
	}
	s->nr_entries = idx->nr_entries;
	s->nr_nodes = idx->nr_nodes;
	s->root = atomic_load(&idx->root);
	pthread_mutex_unlock(&idx->lock);
	/* No insert here retires nodes, so no grace period is involved. */
	s->live = dax_idx_live_nodes();
}

static void check_same(const struct snap *a, const struct snap *b)
{
	CHECK_EQ(a->n, b->n);
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		CHECK_EQ(a->index[i], b->index[i]);
		CHECK_EQ(a->e[i], b->e[i]);
		CHECK_EQ(a->tags[i], b->tags[i]);
	}
	CHECK_EQ(a->nr_entries, b->nr_entries);
	CHECK_EQ(a->nr_nodes, b->nr_nodes);
	CHECK_EQ(a->root, b->root);
	CHECK_EQ(a->live, b->live);
}

static void erase_all(struct dax_index *idx)
{
	uint64_t index = 0;
	dax_entry_t e;
	bool found;

	for (;;) {
		dax_rcu_read_lock();
		found = dax_idx_next_entry(idx, &index, UINT64_MAX, &e);
		dax_rcu_read_unlock();
		if (!found)
			break;
		t_idx_erase_present(idx, index);
	}
	CHECK_EQ(idx->nr_entries, 0);
	CHECK_EQ(idx->nr_nodes, 0);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
}

/*
 * Insert (@index, @order) into the current tree with allocation failing at
 * k = 0, 1, ...; the insert must need at least @min_nodes nodes.
 */
static void fail_each(struct dax_index *idx, const char *what, uint64_t index,
		      unsigned int order, unsigned int min_nodes)
{
	dax_entry_t e = dax_mk_entry(0xabcdef, order ? DAX_ENTRY_PMD : 0);
	struct snap before, now;
	long k;
	int err;

	dax_rcu_barrier(); /* nodes retired by the set-up are gone */
	take_snap(idx, &before);
	for (k = 0;; k++) {
		REQUIRE(k < 64);
		dax_idx_fail_alloc_after(k);
		err = t_idx_insert(idx, index, order, e);
		dax_idx_fail_alloc_after(-1);
		if (err == 0)
			break;
		CHECK_EQ(err, -ENOMEM);
		take_snap(idx, &now);
		check_same(&before, &now);
		if (t_failures) {
			fprintf(stderr, "%s: tree changed at k=%ld\n", what, k);
			return;
		}
	}
	/* The first k that works is the number of nodes the insert used. */
	take_snap(idx, &now);
	printf("%s: %ld nodes\n", what, k);
	CHECK_EQ((uint64_t)k, now.nr_nodes - before.nr_nodes);
	CHECK_EQ(now.live - before.live, k);
	CHECK((unsigned int)k >= min_nodes);
	CHECK_EQ(now.nr_entries, before.nr_entries + 1);
	{
		DAX_CURSOR(cur, index, idx, order);

		pthread_mutex_lock(&idx->lock);
		CHECK_EQ(dax_idx_load(&cur), e);
		CHECK(!dax_idx_tag_get(&cur, DAX_TAG_DIRTY));
		CHECK(!dax_idx_tag_get(&cur, DAX_TAG_TOWRITE));
		pthread_mutex_unlock(&idx->lock);
	}

	/* Undo it: the tree is back to what it was... */
	t_idx_erase_present(idx, index);
	dax_rcu_barrier();
	take_snap(idx, &now);
	check_same(&before, &now);
	/* ...and with injection off the same insert just works. */
	CHECK_EQ(t_idx_insert(idx, index, order, e), 0);
	take_snap(idx, &now);
	CHECK_EQ(now.nr_entries, before.nr_entries + 1);
	CHECK_EQ(now.nr_nodes - before.nr_nodes, (uint64_t)k);
	erase_all(idx);
}

/* A cursor keeps what a failed dax_idx_nomem allocated; a retry uses it. */
static void test_partial_spares(struct dax_index *idx)
{
	const uint64_t index = (1ULL << 40) + 5;
	dax_entry_t e = dax_mk_entry(5, 0);
	DAX_CURSOR(cur, index, idx, 0);
	long live0 = dax_idx_live_nodes();
	int err;

	pthread_mutex_lock(&idx->lock);
	err = dax_idx_insert(&cur, e);
	pthread_mutex_unlock(&idx->lock);
	CHECK_EQ(err, -ENOMEM);
	REQUIRE(cur.need_nodes >= 2);
	dax_idx_fail_alloc_after(1);
	CHECK(!dax_idx_nomem(&cur));
	dax_idx_fail_alloc_after(-1);
	CHECK_EQ(dax_idx_live_nodes(), live0 + 1);
	CHECK(atomic_load(&idx->root) == 0);
	/* Still -ENOMEM with too few spares, and the tree is untouched. */
	pthread_mutex_lock(&idx->lock);
	err = dax_idx_insert(&cur, e);
	pthread_mutex_unlock(&idx->lock);
	CHECK_EQ(err, -ENOMEM);
	CHECK(atomic_load(&idx->root) == 0);
	CHECK(dax_idx_nomem(&cur));
	pthread_mutex_lock(&idx->lock);
	err = dax_idx_insert(&cur, e);
	pthread_mutex_unlock(&idx->lock);
	CHECK_EQ(err, 0);
	dax_cursor_release(&cur);
	CHECK_EQ(dax_idx_live_nodes(), live0 + (long)idx->nr_nodes);
	erase_all(idx);
}

/* Inserts that need no node, and -EEXIST, never allocate. */
static void test_no_alloc(struct dax_index *idx)
{
	struct snap before, now;

	REQUIRE(t_idx_insert(idx, 0, 0, dax_mk_entry(1, 0)) == 0);
	REQUIRE(t_idx_insert(idx, 1ULL << 30, 0, dax_mk_entry(2, 0)) == 0);
	REQUIRE(t_idx_insert(idx, 3 * DAX_PMD_NR, DAX_PMD_ORDER,
			     dax_mk_entry(3, DAX_ENTRY_PMD)) == 0);
	take_snap(idx, &before);
	dax_idx_fail_alloc_after(0);
	CHECK_EQ(t_idx_insert(idx, 1, 0, dax_mk_entry(4, 0)), 0);
	CHECK_EQ(t_idx_insert(idx, (1ULL << 30) + 1, 0, dax_mk_entry(5, 0)), 0);
	CHECK_EQ(t_idx_insert(idx, 0, 0, dax_mk_entry(6, 0)), -EEXIST);
	CHECK_EQ(t_idx_insert(idx, 3 * DAX_PMD_NR + 9, 0, dax_mk_entry(7, 0)),
		 -EEXIST);
	CHECK_EQ(
	    t_idx_insert(idx, 0, DAX_PMD_ORDER, dax_mk_entry(8, DAX_ENTRY_PMD)),
	    -EEXIST);
	dax_idx_fail_alloc_after(-1);
	take_snap(idx, &now);
	CHECK_EQ(now.nr_entries, before.nr_entries + 2);
	CHECK_EQ(now.nr_nodes, before.nr_nodes);
	CHECK_EQ(now.live, before.live);
	erase_all(idx);
}

int main(int argc, char **argv)
{
	/* Nodes for a path from the root to a leaf at 1 << 40. */
	const unsigned int deep = (40 + UDAX_INDEX_SHIFT) / UDAX_INDEX_SHIFT;
	struct dax_index idx;

	t_init(argc, argv);
	t_watchdog(60); /* a walk that never ends fails, not hangs */
	REQUIRE(dax_idx_init(&idx) == 0);

	/* A deep index into an empty tree. */
	fail_each(&idx, "deep", (1ULL << 40) + 5, 0, deep);

	/* Root growth to full height, with tagged entries below. */
	REQUIRE(t_idx_insert(&idx, 0, 0, dax_mk_entry(1, 0)) == 0);
	REQUIRE(t_idx_insert(&idx, 7, 0, dax_mk_entry(2, DAX_ENTRY_ZERO)) == 0);
	REQUIRE(t_idx_insert(&idx, 100, 0, dax_mk_entry(3, 0)) == 0);
	REQUIRE(t_idx_insert(&idx, 1 << 20, 0, dax_mk_entry(4, 0)) == 0);
	t_idx_tag(&idx, 0, 0, DAX_TAG_DIRTY, true);
	t_idx_tag(&idx, 100, 0, DAX_TAG_TOWRITE, true);
	t_idx_tag(&idx, 1 << 20, 0, DAX_TAG_DIRTY, true);
	t_idx_tag(&idx, 1 << 20, 0, DAX_TAG_TOWRITE, true);
	fail_each(&idx, "grow", UINT64_MAX, 0, 2);

	/* A PMD that needs the root to grow from a leaf and a path down. */
	for (uint64_t i = 0; i < 4; i++)
		REQUIRE(t_idx_insert(&idx, i, 0, dax_mk_entry(10 + i, 0)) == 0);
	t_idx_tag(&idx, 2, 0, DAX_TAG_DIRTY, true);
	fail_each(&idx, "pmd-grow", 1ULL << 30, DAX_PMD_ORDER, 2);

	/* A PMD into an empty tree: one node. */
	fail_each(&idx, "pmd-empty", 0, DAX_PMD_ORDER, 1);

	/* A path in the middle of a full-height tree. */
	REQUIRE(t_idx_insert(&idx, 0, 0, dax_mk_entry(1, 0)) == 0);
	REQUIRE(t_idx_insert(&idx, UINT64_MAX, 0, dax_mk_entry(2, 0)) == 0);
	t_idx_tag(&idx, UINT64_MAX, 0, DAX_TAG_TOWRITE, true);
	fail_each(&idx, "middle", 1ULL << 35, 0, 2);

	/* A PMD next to another one, in a tree that has the upper levels. */
	REQUIRE(t_idx_insert(&idx, 0, 0, dax_mk_entry(1, 0)) == 0);
	REQUIRE(t_idx_insert(&idx, (1ULL << 33), DAX_PMD_ORDER,
			     dax_mk_entry(2, DAX_ENTRY_PMD)) == 0);
	t_idx_tag(&idx, (1ULL << 33) + 1, 0, DAX_TAG_DIRTY, true);
	fail_each(&idx, "pmd-sub", (1ULL << 33) + (1ULL << 25), DAX_PMD_ORDER,
		  1);

	test_partial_spares(&idx);
	test_no_alloc(&idx);

	dax_idx_destroy(&idx);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("index_nomem");
}
