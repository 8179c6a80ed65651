/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_multiorder - PMD entries (order DAX_PMD_ORDER) in the entry index,
 * at index 0, 512, 1 << 40 and the last PMD-aligned index, alone and with
 * 4 KiB neighbours right outside their range:
 *
 *  - an order-0 load at every index of the range finds the PMD entry, with
 *    @cur->slot the canonical slot and dax_idx_entry_index() the aligned
 *    first index; the indexes just outside do not;
 *  - a 4 KiB insert anywhere inside, or a second PMD, gives -EEXIST;
 *  - a PMD-order load over a range holding any 4 KiB entry (first, middle
 *    or last index; also when that entry is the whole tree and the root is
 *    a leaf) returns 0 with @cur->conflict set, and a PMD insert there
 *    gives -EEXIST; entries just outside the range do not conflict;
 *  - dax_idx_next_entry started inside a PMD returns it with *indexp set
 *    to its first index; adjacent PMDs are visited once each;
 *  - tags on a PMD entry (set through any index it covers) are seen by
 *    next_tagged and retag from inside the range, and go when it is erased;
 *  - erasing a PMD frees its whole range for 4 KiB entries.
 */
#include "test_util.h"

#include <errno.h>

#include "index/index.h"
#include "index/rcu.h"
#include "index_check.h"
#include "index_util.h"

#define PMD DAX_PMD_ORDER
#define LAST_PMD (UINT64_MAX & DAX_PMD_MASK)

static int insert(struct dax_index *idx, uint64_t index, unsigned int order,
		  uint64_t block)
{
	return t_idx_insert(idx, index, order,
			    dax_mk_entry(block, order ? DAX_ENTRY_PMD : 0));
}

/* What a walk of @order at @index finds: entry, canonical slot, etc. */
struct found {
	dax_entry_t e;
	_Atomic uintptr_t *slot;
	bool conflict;
	uint64_t first; /* dax_idx_entry_index(), if e */
};

static struct found lookup(struct dax_index *idx, uint64_t index,
			   unsigned int order)
{
	DAX_CURSOR(cur, index, idx, order);
	struct found f;

	pthread_mutex_lock(&idx->lock);
	f.e = dax_idx_load(&cur);
	f.slot = cur.slot;
	f.conflict = cur.conflict;
	f.first = f.e ? dax_idx_entry_index(&cur, f.e) : 0;
	pthread_mutex_unlock(&idx->lock);
	CHECK(!f.e == !f.slot);
	return f;
}

static dax_entry_t load(struct dax_index *idx, uint64_t index)
{
	return lookup(idx, index, 0).e;
}

#define NONE 0x1234567ULL /* never an index used below */

/* First entry in [start, last]: its first index (or NONE) and value. */
static uint64_t next_entry(struct dax_index *idx, uint64_t start,
			   uint64_t last, dax_entry_t *ep)
{
	uint64_t index = start;
	dax_entry_t e = 0;
	bool found;

	dax_rcu_read_lock();
	found = dax_idx_next_entry(idx, &index, last, &e);
	dax_rcu_read_unlock();
	if (ep)
		*ep = found ? e : 0;
	return found ? index : NONE;
}

static uint64_t next_tagged(struct dax_index *idx, uint64_t start,
			    uint64_t last, enum dax_tag t)
{
	uint64_t index = start;
	bool found;

	pthread_mutex_lock(&idx->lock);
	found = dax_idx_next_tagged(idx, &index, last, t);
	pthread_mutex_unlock(&idx->lock);
	return found ? index : NONE;
}

/* 4 KiB neighbours of the PMD range at @base, where they exist. */
static bool has_before(uint64_t base)
{
	return base > 0;
}

static bool has_after(uint64_t base)
{
	return base != LAST_PMD;
}

/*
 * A PMD entry at @base, with 4 KiB entries right outside its range if
 * @neighbours, and one far away so the tree has several levels.
 */
static void test_pmd_at(struct dax_index *idx, uint64_t base, bool neighbours)
{
	const uint64_t far = base < (1ULL << 50) ? (1ULL << 50) + 3 : 3;
	const uint64_t offs[] = { 0, 1, 7, 8, 255, 256, 510, 511 };
	dax_entry_t pmd = dax_mk_entry(4242, DAX_ENTRY_PMD);
	dax_entry_t before = dax_mk_entry(1, 0), after = dax_mk_entry(2, 0);
	uint64_t nr;
	struct found f, g;
	dax_entry_t e;

	REQUIRE(insert(idx, far, 0, 3) == 0);
	if (neighbours && has_before(base))
		REQUIRE(insert(idx, base - 1, 0, 1) == 0);
	if (neighbours && has_after(base))
		REQUIRE(insert(idx, base + DAX_PMD_NR, 0, 2) == 0);
	REQUIRE(insert(idx, base, PMD, 4242) == 0);
	nr = idx->nr_entries;
	t_idx_check_locked(idx);

	/* Every index inside: same entry, same canonical slot. */
	f = lookup(idx, base, PMD);
	CHECK_EQ(f.e, pmd);
	CHECK(!f.conflict);
	CHECK_EQ(f.first, base);
	for (uint64_t i = 0; i < DAX_PMD_NR; i++) {
		g = lookup(idx, base + i, 0);
		CHECK_EQ(g.e, pmd);
		CHECK(g.slot == f.slot);
		CHECK_EQ(g.first, base);
	}
	/* Just outside: the neighbours, or nothing. */
	if (has_before(base))
		CHECK_EQ(load(idx, base - 1), neighbours ? before : 0);
	if (has_after(base))
		CHECK_EQ(load(idx, base + DAX_PMD_NR), neighbours ? after : 0);

	/* Occupied: no 4 KiB entry inside, no second PMD. */
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		CHECK_EQ(insert(idx, base + offs[i], 0, 9), -EEXIST);
	CHECK_EQ(insert(idx, base, PMD, 9), -EEXIST);
	CHECK_EQ(idx->nr_entries, nr);
	CHECK_EQ(load(idx, base + 5), pmd);

	/* next_entry from inside the range returns the PMD, at its start. */
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		CHECK_EQ(next_entry(idx, base + offs[i], UINT64_MAX, &e), base);
		CHECK_EQ(e, pmd);
		CHECK_EQ(next_entry(idx, base + offs[i], base + offs[i], &e),
			 base);
		CHECK_EQ(e, pmd);
	}
	if (has_before(base)) {
		CHECK_EQ(next_entry(idx, base - 1, UINT64_MAX, &e),
			 neighbours ? base - 1 : base);
		CHECK_EQ(e, neighbours ? before : pmd);
		CHECK_EQ(next_entry(idx, base - 1, base - 1, NULL),
			 neighbours ? base - 1 : NONE);
	}
	if (has_after(base))
		CHECK_EQ(next_entry(idx, base + DAX_PMD_NR,
				    base + 2 * DAX_PMD_NR - 1, &e),
			 neighbours ? base + DAX_PMD_NR : NONE);

	/* Tags, set through an index in the middle, seen from anywhere. */
	CHECK_EQ(next_tagged(idx, 0, UINT64_MAX, DAX_TAG_DIRTY), NONE);
	t_idx_tag(idx, base + 300, 0, DAX_TAG_DIRTY, true);
	CHECK(t_idx_tagged(idx, base, DAX_TAG_DIRTY));
	CHECK(t_idx_tagged(idx, base + 511, DAX_TAG_DIRTY));
	CHECK(!t_idx_tagged(idx, base + 1, DAX_TAG_TOWRITE));
	if (has_before(base))
		CHECK(!t_idx_tagged(idx, base - 1, DAX_TAG_DIRTY));
	if (has_after(base))
		CHECK(!t_idx_tagged(idx, base + DAX_PMD_NR, DAX_TAG_DIRTY));
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		CHECK_EQ(next_tagged(idx, base + offs[i], UINT64_MAX,
				     DAX_TAG_DIRTY),
			 base);
	CHECK_EQ(next_tagged(idx, 0, UINT64_MAX, DAX_TAG_DIRTY), base);
	if (has_after(base))
		CHECK_EQ(next_tagged(idx, base + DAX_PMD_NR, UINT64_MAX,
				     DAX_TAG_DIRTY),
			 NONE);
	if (has_before(base))
		CHECK_EQ(next_tagged(idx, 0, base - 1, DAX_TAG_DIRTY), NONE);
	/* Retag from inside the range counts the PMD once. */
	pthread_mutex_lock(&idx->lock);
	CHECK_EQ(dax_idx_retag(idx, base + 200, UINT64_MAX, DAX_TAG_DIRTY,
			       DAX_TAG_TOWRITE, UINT64_MAX),
		 1);
	pthread_mutex_unlock(&idx->lock);
	CHECK(t_idx_tagged(idx, base + 17, DAX_TAG_TOWRITE));
	CHECK_EQ(next_tagged(idx, base + 511, base + 511, DAX_TAG_TOWRITE),
		 base);
	t_idx_check_locked(idx);
	/* Clearing through the PMD-order cursor. */
	t_idx_tag(idx, base, PMD, DAX_TAG_TOWRITE, false);
	CHECK(!t_idx_tagged(idx, base + 17, DAX_TAG_TOWRITE));
	CHECK(t_idx_tagged(idx, base + 17, DAX_TAG_DIRTY));
	CHECK_EQ(next_tagged(idx, 0, UINT64_MAX, DAX_TAG_TOWRITE), NONE);

	/* Erase through an index in the middle: the whole range goes. */
	CHECK_EQ(t_idx_erase(idx, base + 100), pmd);
	CHECK_EQ(idx->nr_entries, nr - 1);
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		CHECK_EQ(load(idx, base + offs[i]), 0);
	f = lookup(idx, base, PMD);
	CHECK_EQ(f.e, 0);
	CHECK(!f.conflict);
	CHECK_EQ(next_tagged(idx, 0, UINT64_MAX, DAX_TAG_DIRTY), NONE);
	t_idx_check_locked(idx);

	/* 4 KiB entries now fit anywhere in the range; they conflict. */
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		CHECK_EQ(insert(idx, base + offs[i], 0, 100 + i), 0);
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		CHECK_EQ(load(idx, base + offs[i]), dax_mk_entry(100 + i, 0));
		CHECK(!t_idx_tagged(idx, base + offs[i], DAX_TAG_DIRTY));
	}
	CHECK_EQ(load(idx, base + 2), 0);
	f = lookup(idx, base, PMD);
	CHECK_EQ(f.e, 0);
	CHECK(f.conflict);
	CHECK_EQ(insert(idx, base, PMD, 9), -EEXIST);
	CHECK_EQ(next_entry(idx, base + 2, UINT64_MAX, &e), base + 7);
	CHECK_EQ(e, dax_mk_entry(102, 0));
	t_idx_check_locked(idx);

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		CHECK(t_idx_erase(idx, base + offs[i]) != 0);
	if (neighbours && has_before(base))
		CHECK_EQ(t_idx_erase(idx, base - 1), before);
	if (neighbours && has_after(base))
		CHECK_EQ(t_idx_erase(idx, base + DAX_PMD_NR), after);
	CHECK(t_idx_erase(idx, far) != 0);
	CHECK_EQ(idx->nr_entries, 0);
	CHECK_EQ(idx->nr_nodes, 0);
}

/*
 * A single 4 KiB entry at @base + @pos, alone in the tree (@alone) or with
 * entries right outside [base, base + DAX_PMD_NR): the PMD range
 * conflicts, and a PMD insert there fails without changing anything.
 */
static void test_conflict(struct dax_index *idx, uint64_t base, uint64_t pos,
			  bool alone)
{
	struct found f;
	uint64_t nr, nodes;

	if (!alone) {
		if (has_before(base))
			REQUIRE(insert(idx, base - 1, 0, 1) == 0);
		if (has_after(base))
			REQUIRE(insert(idx, base + DAX_PMD_NR, 0, 2) == 0);
		/* Outside entries alone are no conflict. */
		f = lookup(idx, base, PMD);
		CHECK_EQ(f.e, 0);
		CHECK(!f.conflict);
	}
	REQUIRE(insert(idx, base + pos, 0, 7) == 0);
	nr = idx->nr_entries;
	nodes = idx->nr_nodes;

	f = lookup(idx, base, PMD);
	CHECK_EQ(f.e, 0);
	CHECK(f.slot == NULL);
	CHECK(f.conflict);
	CHECK_EQ(insert(idx, base, PMD, 9), -EEXIST);
	CHECK_EQ(idx->nr_entries, nr);
	CHECK_EQ(idx->nr_nodes, nodes);
	CHECK_EQ(load(idx, base + pos), dax_mk_entry(7, 0));
	if (pos)
		CHECK_EQ(load(idx, base), 0);
	t_idx_check_locked(idx);
	/* Order-0 loads never report a conflict. */
	CHECK(!lookup(idx, base + pos, 0).conflict);
	CHECK(!lookup(idx, base + (pos ^ 1), 0).conflict);

	/* Once it is gone the PMD fits. */
	CHECK(t_idx_erase(idx, base + pos) != 0);
	f = lookup(idx, base, PMD);
	CHECK(!f.conflict);
	CHECK_EQ(insert(idx, base, PMD, 8), 0);
	CHECK_EQ(load(idx, base + pos), dax_mk_entry(8, DAX_ENTRY_PMD));
	CHECK(t_idx_erase(idx, base) != 0);
	if (!alone) {
		if (has_before(base))
			CHECK(t_idx_erase(idx, base - 1) != 0);
		if (has_after(base))
			CHECK(t_idx_erase(idx, base + DAX_PMD_NR) != 0);
	}
	CHECK_EQ(idx->nr_entries, 0);
	CHECK_EQ(idx->nr_nodes, 0);
}

/*
 * A run of adjacent PMDs crossing a node boundary (with fan-out 64 a
 * shift-6 node holds 8 PMDs): next_entry visits each once, in order, and
 * erasing every other one leaves the rest intact.
 */
static void test_adjacent(struct dax_index *idx)
{
	const uint64_t start = 5 * DAX_PMD_NR, n = 12;
	uint64_t index = 0, seen = 0;
	dax_entry_t e;

	for (uint64_t i = 0; i < n; i++)
		REQUIRE(insert(idx, start + i * DAX_PMD_NR, PMD, 10 + i) == 0);
	t_idx_check_locked(idx);
	dax_rcu_read_lock();
	while (dax_idx_next_entry(idx, &index, UINT64_MAX, &e)) {
		CHECK_EQ(index, start + seen * DAX_PMD_NR);
		CHECK_EQ(e, dax_mk_entry(10 + seen, DAX_ENTRY_PMD));
		seen++;
		REQUIRE(seen <= n);
		index += DAX_PMD_NR;
	}
	dax_rcu_read_unlock();
	CHECK_EQ(seen, n);

	for (uint64_t i = 0; i < n; i += 2)
		CHECK(t_idx_erase(idx, start + i * DAX_PMD_NR + i) != 0);
	t_idx_check_locked(idx);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t b = start + i * DAX_PMD_NR;

		CHECK_EQ(load(idx, b + 511),
			 i % 2 ? dax_mk_entry(10 + i, DAX_ENTRY_PMD) : 0);
		CHECK_EQ(next_entry(idx, b, UINT64_MAX, NULL),
			 i % 2 ? b : b + DAX_PMD_NR);
	}
	for (uint64_t i = 1; i < n; i += 2)
		CHECK(t_idx_erase(idx, start + i * DAX_PMD_NR) != 0);
	CHECK_EQ(idx->nr_nodes, 0);
}

int main(int argc, char **argv)
{
	const uint64_t bases[] = { 0, DAX_PMD_NR, 1ULL << 40, LAST_PMD };
	const uint64_t tiny[] = {
		0, 3, DAX_IDX_FANOUT - 1, DAX_IDX_FANOUT, 256, 511,
	};
	const uint64_t pos[] = { 0, 256, 511 };
	struct dax_index idx;

	t_init(argc, argv);
	t_watchdog(60); /* a walk that never ends fails, not hangs */
	REQUIRE(dax_idx_init(&idx) == 0);

	for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
		test_pmd_at(&idx, bases[i], false);
		test_pmd_at(&idx, bases[i], true);
	}
	/* Tiny trees: the only entry is inside the PMD range at 0. */
	for (size_t i = 0; i < ARRAY_SIZE(tiny); i++)
		test_conflict(&idx, 0, tiny[i], true);
	for (size_t i = 0; i < ARRAY_SIZE(bases); i++)
		for (size_t j = 0; j < ARRAY_SIZE(pos); j++) {
			test_conflict(&idx, bases[i], pos[j], true);
			test_conflict(&idx, bases[i], pos[j], false);
		}
	test_adjacent(&idx);

	dax_idx_destroy(&idx);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("index_multiorder");
}
