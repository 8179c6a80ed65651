/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_random - the entry index against a simple reference model (a sorted
 * array of entries, PMD entries covering DAX_PMD_NR indexes), under a
 * seeded random mix of operations: insert (4 KiB and PMD), erase, store,
 * order-0 and PMD-order loads (with the conflict flag), tag set / clear /
 * get, next_entry, next_tagged, retag with a random @max, emptying and
 * refilling a leaf the last lookups went through, and now and then a
 * truncate (erase everything from a random index on, or everything) so
 * the root shrinks.
 *
 * Indexes come from a few clusters (tiny and dense small indexes, indexes
 * around PMD boundaries, a pool of huge sparse indexes up to UINT64_MAX)
 * so that trees get deep and PMD ranges, leaves and far subtrees mix;
 * phases enabling only some clusters make the root shrink as well.
 *
 * Every result is compared with the model at once; periodically (and
 * after each truncate) the whole tree is: all entries by next_entry, all
 * tagged entries by next_tagged, nr_entries, the white-box structure
 * check, and (after an RCU barrier) that no node leaked. Short by default;
 * -l runs many more operations; -s replays.
 */
#include "test_util.h"

#include <errno.h>

#include "index/index.h"
#include "index/rcu.h"
#include "index_check.h"

#define MAX_ENTRIES 4096
#define NONE_POS ((size_t)-1)

struct ment {
	uint64_t first;
	unsigned int order;
	dax_entry_t e;
	unsigned int tags; /* bit t: tagged with tag t */
};

static struct ment model[MAX_ENTRIES];
static size_t nr_model;

static struct t_rng rng;
static uint64_t next_block = 1;
static uint64_t pool[48];
static unsigned long nr_ops[16];
static size_t max_model;
static uint64_t max_nodes;

static inline uint64_t m_last(const struct ment *m)
{
	return m->first + (((uint64_t)1 << m->order) - 1);
}

/* First position whose entry starts at or after @index. */
static size_t m_lower(uint64_t index)
{
	size_t lo = 0, hi = nr_model;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (model[mid].first < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Position of the entry covering @index, or NONE_POS. */
static size_t m_find(uint64_t index)
{
	size_t pos = m_lower(index);

	if (pos < nr_model && model[pos].first == index)
		return pos;
	if (pos > 0 && m_last(&model[pos - 1]) >= index)
		return pos - 1;
	return NONE_POS;
}

/* Does any entry cover an index in [first, last]? */
static bool m_busy(uint64_t first, uint64_t last)
{
	size_t pos = m_lower(first);

	if (m_find(first) != NONE_POS)
		return true;
	return pos < nr_model && model[pos].first <= last;
}

/*
 * First entry covering an index in [start, last] and (tag >= 0) tagged
 * @tag; the model of find_next().
 */
static size_t m_next(uint64_t start, uint64_t last, int tag)
{
	size_t pos = m_find(start);

	if (start > last)
		return NONE_POS;
	if (pos == NONE_POS)
		pos = m_lower(start);
	for (; pos < nr_model && model[pos].first <= last; pos++)
		if (tag < 0 || (model[pos].tags >> tag) & 1)
			return pos;
	return NONE_POS;
}

static void m_insert(uint64_t first, unsigned int order, dax_entry_t e)
{
	size_t pos = m_lower(first);

	REQUIRE(nr_model < MAX_ENTRIES);
	memmove(&model[pos + 1], &model[pos],
		(nr_model - pos) * sizeof(model[0]));
	model[pos] = (struct ment){ first, order, e, 0 };
	nr_model++;
}

static void m_remove(size_t pos)
{
	memmove(&model[pos], &model[pos + 1],
		(nr_model - pos - 1) * sizeof(model[0]));
	nr_model--;
}

/*
 * Index clusters. Each phase of the run enables a random subset of them,
 * so that the tree fills in one region and drains in others (entries
 * outside the enabled clusters are still hit through rand_index()'s "near
 * an existing entry" case): the root grows, shrinks, and sometimes gets
 * as small as one leaf.
 */
enum {
	C_TINY,	 /* [0, 2 * fan-out): the root can be a leaf */
	C_DENSE, /* [0, 3000) */
	C_PMD,	 /* a few indexes either side of PMD boundaries */
	C_HUGE,	 /* the pool: huge, sparse, up to UINT64_MAX */
	NR_CLUSTERS,
};

static unsigned int phase_mask = (1U << NR_CLUSTERS) - 1;

static void new_phase(void)
{
	if (t_rand_below(&rng, 3) == 0)
		phase_mask = (1U << NR_CLUSTERS) - 1;
	else
		phase_mask = 1 + (unsigned int)t_rand_below(
					 &rng, (1U << NR_CLUSTERS) - 1);
}

/*
 * An index: near an existing entry with @near_pct % chance, else from an
 * enabled cluster.
 */
static uint64_t rand_index_near(unsigned int near_pct)
{
	unsigned int c;
	uint64_t base, d;

	if (nr_model && t_rand_below(&rng, 100) < near_pct) {
		/* Inside or right next to an existing entry. */
		const struct ment *m = &model[t_rand_below(&rng, nr_model)];

		d = t_rand_below(&rng, ((uint64_t)1 << m->order) + 2);
		return m->first + d - 1;
	}
	do {
		c = (unsigned int)t_rand_below(&rng, NR_CLUSTERS);
	} while (!(phase_mask & (1U << c)));
	switch (c) {
	case C_TINY:
		return t_rand_below(&rng, 2 * DAX_IDX_FANOUT);
	case C_DENSE:
		return t_rand_below(&rng, 3000);
	case C_PMD:
		/* Around PMD boundaries, low and high in the index space. */
		base = t_rand_below(&rng, 24) * DAX_PMD_NR;
		if (t_rand_below(&rng, 2))
			base += (1ULL << 33);
		d = t_rand_below(&rng, 9);
		return base + d >= 4 ? base + d - 4 : base + d;
	default:
		base = pool[t_rand_below(&rng, ARRAY_SIZE(pool))];
		d = t_rand_below(&rng, 4);
		return base > UINT64_MAX - d ? base : base + d;
	}
}

static uint64_t rand_index(void)
{
	return rand_index_near(15);
}

/* A bound for a range search starting at @start. */
static uint64_t rand_last(uint64_t start)
{
	uint64_t span;

	switch (t_rand_below(&rng, 4)) {
	case 0:
		return UINT64_MAX;
	case 1:
		span = t_rand_below(&rng, 4);
		break;
	case 2:
		span = t_rand_below(&rng, 2 * DAX_PMD_NR);
		break;
	default:
		span = t_rand(&rng) >> t_rand_below(&rng, 64);
		break;
	}
	if (t_rand_below(&rng, 16) == 0)
		return start ? start - 1 : 0; /* empty or one-index range */
	return start > UINT64_MAX - span ? UINT64_MAX : start + span;
}

static dax_entry_t rand_entry(unsigned int order)
{
	dax_entry_t flags = order ? DAX_ENTRY_PMD : 0;

	if (t_rand_below(&rng, 8) == 0)
		flags |= DAX_ENTRY_ZERO;
	return dax_mk_entry(next_block++, flags);
}

static int idx_insert(struct dax_index *idx, uint64_t index,
		      unsigned int order, dax_entry_t e)
{
	DAX_CURSOR(cur, index, idx, order);
	int err;

	err = dax_idx_insert_alloc(&cur, e);
	dax_cursor_release(&cur);
	return err;
}

static void op_insert(struct dax_index *idx, bool pmd)
{
	unsigned int order = pmd ? DAX_PMD_ORDER : 0;
	uint64_t index = rand_index();
	dax_entry_t e = rand_entry(order);
	bool busy;
	int err;

	if (pmd)
		index &= DAX_PMD_MASK;
	busy = m_busy(index, index + (((uint64_t)1 << order) - 1));
	if (!busy && nr_model == MAX_ENTRIES)
		return;
	err = idx_insert(idx, index, order, e);
	CHECK_EQ(err, busy ? -EEXIST : 0);
	if (err == 0)
		m_insert(index, order, e);
}

static void op_erase(struct dax_index *idx)
{
	uint64_t index = rand_index_near(60);
	size_t pos = m_find(index);
	DAX_CURSOR(cur, index, idx, 0);
	dax_entry_t e;

	pthread_mutex_lock(&idx->lock);
	e = dax_idx_load(&cur);
	if (e)
		CHECK_EQ(dax_idx_erase(&cur), e);
	pthread_mutex_unlock(&idx->lock);
	CHECK_EQ(e, pos == NONE_POS ? 0 : model[pos].e);
	if (pos != NONE_POS)
		m_remove(pos);
}

static void op_store(struct dax_index *idx)
{
	uint64_t index = rand_index();
	size_t pos = m_find(index);
	DAX_CURSOR(cur, index, idx, 0);
	dax_entry_t e, ne = 0;

	pthread_mutex_lock(&idx->lock);
	e = dax_idx_load(&cur);
	if (e) {
		ne = rand_entry(dax_entry_order(e));
		dax_idx_store(&cur, ne);
	}
	pthread_mutex_unlock(&idx->lock);
	CHECK_EQ(e, pos == NONE_POS ? 0 : model[pos].e);
	if (pos != NONE_POS && e)
		model[pos].e = ne;
}

static void op_load(struct dax_index *idx)
{
	uint64_t index = rand_index();
	size_t pos = m_find(index);
	DAX_CURSOR(cur, index, idx, 0);
	dax_entry_t e;

	dax_rcu_read_lock();
	e = dax_idx_load(&cur);
	dax_rcu_read_unlock();
	CHECK_EQ(e, pos == NONE_POS ? 0 : model[pos].e);
	CHECK(!cur.conflict);
	if (e && pos != NONE_POS)
		CHECK_EQ(dax_idx_entry_index(&cur, e), model[pos].first);
}

static void op_load_pmd(struct dax_index *idx)
{
	uint64_t index = rand_index() & DAX_PMD_MASK;
	size_t pos = m_find(index);
	DAX_CURSOR(cur, index, idx, DAX_PMD_ORDER);
	dax_entry_t e, want = 0;
	bool conflict = false;

	if (pos != NONE_POS && model[pos].order)
		want = model[pos].e;
	else
		conflict = m_busy(index, index + DAX_PMD_NR - 1);
	dax_rcu_read_lock();
	e = dax_idx_load(&cur);
	dax_rcu_read_unlock();
	CHECK_EQ(e, want);
	CHECK_EQ(cur.conflict, conflict);
}

static void op_tag(struct dax_index *idx)
{
	uint64_t index = rand_index();
	size_t pos = m_find(index);
	enum dax_tag t = (enum dax_tag)t_rand_below(&rng, DAX_NR_TAGS);
	bool set = t_rand_below(&rng, 3) != 0;
	DAX_CURSOR(cur, index, idx, 0);
	dax_entry_t e;
	bool before = false, after = false;

	pthread_mutex_lock(&idx->lock);
	e = dax_idx_load(&cur);
	if (e) {
		before = dax_idx_tag_get(&cur, t);
		if (set)
			dax_idx_tag_set(&cur, t);
		else
			dax_idx_tag_clear(&cur, t);
		after = dax_idx_tag_get(&cur, t);
	}
	pthread_mutex_unlock(&idx->lock);
	CHECK_EQ(e, pos == NONE_POS ? 0 : model[pos].e);
	if (!e || pos == NONE_POS)
		return;
	CHECK_EQ(before, (model[pos].tags >> t) & 1);
	CHECK_EQ(after, set);
	if (set)
		model[pos].tags |= 1U << t;
	else
		model[pos].tags &= ~(1U << t);
}

static void op_next(struct dax_index *idx, int tag)
{
	uint64_t start = rand_index(), last = rand_last(start);
	uint64_t index = start;
	size_t pos = m_next(start, last, tag);
	dax_entry_t e = 0;
	bool found;

	if (tag < 0) {
		dax_rcu_read_lock();
		found = dax_idx_next_entry(idx, &index, last, &e);
		dax_rcu_read_unlock();
	} else {
		pthread_mutex_lock(&idx->lock);
		found = dax_idx_next_tagged(idx, &index, last,
					    (enum dax_tag)tag);
		pthread_mutex_unlock(&idx->lock);
	}
	CHECK_EQ(found, pos != NONE_POS);
	if (!found || pos == NONE_POS) {
		CHECK_EQ(index, start);
		return;
	}
	CHECK_EQ(index, model[pos].first);
	if (tag < 0)
		CHECK_EQ(e, model[pos].e);
}

static void op_retag(struct dax_index *idx)
{
	uint64_t first = rand_index(), last = rand_last(first);
	uint64_t max = t_rand_below(&rng, 2) ? UINT64_MAX
					     : t_rand_below(&rng, 6);
	int from = (int)t_rand_below(&rng, DAX_NR_TAGS);
	int to = 1 - from;
	uint64_t done = 0, got;
	size_t pos = m_next(first, last, from);

	pthread_mutex_lock(&idx->lock);
	got = dax_idx_retag(idx, first, last, (enum dax_tag)from,
			    (enum dax_tag)to, max);
	pthread_mutex_unlock(&idx->lock);
	for (; pos < nr_model && model[pos].first <= last && done < max;
	     pos++) {
		if (!((model[pos].tags >> from) & 1))
			continue;
		model[pos].tags |= 1U << to;
		done++;
	}
	CHECK_EQ(got, done);
}

/*
 * Erase every entry covering an index at or after @from, front to back, as
 * a truncate would: the top of the tree goes, so the root shrinks (to a
 * leaf when @from is tiny, to nothing when it is 0).
 */
static void op_truncate(struct dax_index *idx, uint64_t from)
{
	uint64_t index = from;
	size_t pos;
	dax_entry_t e;

	pthread_mutex_lock(&idx->lock);
	for (;;) {
		DAX_CURSOR(cur, 0, idx, 0);

		pos = m_next(from, UINT64_MAX, -1);
		if (!dax_idx_next_entry(idx, &index, UINT64_MAX, &e))
			break;
		REQUIRE(pos != NONE_POS);
		CHECK_EQ(model[pos].first, index);
		CHECK_EQ(model[pos].e, e);
		dax_cursor_set(&cur, index, 0);
		REQUIRE(dax_idx_load(&cur) == e);
		dax_idx_erase(&cur);
		m_remove(pos);
		if (index < from)
			index = from; /* it was a PMD covering @from */
	}
	CHECK_EQ(pos, NONE_POS);
	CHECK_EQ(idx->nr_entries, nr_model);
	t_idx_check(idx); /* shrunk as far as it goes */
	if (from == 0) {
		CHECK_EQ(idx->nr_nodes, 0);
		CHECK_EQ(atomic_load(&idx->root), 0);
	}
	pthread_mutex_unlock(&idx->lock);
}

/*
 * Empty the leaf (shift-0 node) under an existing 4 KiB entry, so that the
 * leaf is unlinked and, after an RCU barrier now and then, really freed;
 * then refill the same index. The thread's last lookups went through that
 * leaf: a lookup shortcut that kept using it would now read a freed node
 * (ASan) or miss the new value.
 */
static void op_refill_leaf(struct dax_index *idx)
{
	uint64_t index, first, last;
	dax_entry_t e;
	size_t pos;

	if (!nr_model)
		return;
	pos = t_rand_below(&rng, nr_model);
	if (model[pos].order)
		return;
	index = model[pos].first;
	first = index & ~DAX_IDX_MASK;
	last = index | DAX_IDX_MASK;
	{
		DAX_CURSOR(cur, index, idx, 0);

		dax_rcu_read_lock();
		CHECK_EQ(dax_idx_load(&cur), model[pos].e);
		dax_rcu_read_unlock();
	}
	pthread_mutex_lock(&idx->lock);
	while ((pos = m_next(first, last, -1)) != NONE_POS) {
		DAX_CURSOR(cur, model[pos].first, idx, 0);

		REQUIRE(model[pos].order == 0);
		CHECK_EQ(dax_idx_load(&cur), model[pos].e);
		if (cur.slot)
			dax_idx_erase(&cur);
		m_remove(pos);
	}
	pthread_mutex_unlock(&idx->lock);
	if (t_rand_below(&rng, 64) == 0)
		dax_rcu_barrier(); /* slow (a grace period): not every time */
	for (uint64_t i = first;; i++) {
		DAX_CURSOR(cur, i, idx, 0);

		dax_rcu_read_lock();
		CHECK_EQ(dax_idx_load(&cur), 0);
		dax_rcu_read_unlock();
		if (i == last)
			break;
	}
	e = rand_entry(0);
	CHECK_EQ(idx_insert(idx, index, 0, e), 0);
	m_insert(index, 0, e);
	{
		DAX_CURSOR(cur, index, idx, 0);

		dax_rcu_read_lock();
		CHECK_EQ(dax_idx_load(&cur), e);
		dax_rcu_read_unlock();
	}
}

/* Shift of the root node, -1 for an empty tree (white-box). */
static int root_shift(struct dax_index *idx)
{
	uintptr_t w = atomic_load(&idx->root);

	return w ? t_to_node(w)->shift : -1;
}

/* Compare the whole tree with the model. */
static void full_check(struct dax_index *idx, bool barrier)
{
	uint64_t index = 0;
	size_t pos = 0;
	dax_entry_t e;

	pthread_mutex_lock(&idx->lock);
	CHECK_EQ(idx->nr_entries, nr_model);
	t_idx_check(idx);
	while (dax_idx_next_entry(idx, &index, UINT64_MAX, &e)) {
		DAX_CURSOR(cur, index, idx, 0);

		REQUIRE(pos < nr_model);
		CHECK_EQ(index, model[pos].first);
		CHECK_EQ(e, model[pos].e);
		CHECK_EQ(dax_idx_load(&cur), e);
		for (int t = 0; t < DAX_NR_TAGS; t++)
			CHECK_EQ(dax_idx_tag_get(&cur, (enum dax_tag)t),
				 (model[pos].tags >> t) & 1);
		index += ((uint64_t)1 << dax_entry_order(e)) - 1;
		pos++;
		if (index == UINT64_MAX)
			break;
		index++;
	}
	CHECK_EQ(pos, nr_model);
	for (int t = 0; t < DAX_NR_TAGS; t++) {
		index = 0;
		pos = 0;
		while (dax_idx_next_tagged(idx, &index, UINT64_MAX,
					   (enum dax_tag)t)) {
			while (pos < nr_model && !((model[pos].tags >> t) & 1))
				pos++;
			REQUIRE(pos < nr_model);
			CHECK_EQ(index, model[pos].first);
			index = m_last(&model[pos]);
			pos++;
			if (index == UINT64_MAX)
				break;
			index++;
		}
		while (pos < nr_model && !((model[pos].tags >> t) & 1))
			pos++;
		CHECK_EQ(pos, nr_model);
	}
	pthread_mutex_unlock(&idx->lock);
	if (barrier) {
		/* Everything unlinked is freed by now: no leaked node. */
		dax_rcu_barrier();
		CHECK_EQ(dax_idx_live_nodes(), (long)idx->nr_nodes);
	}
}

static void init_pool(void)
{
	size_t i = 0;

	pool[i++] = UINT64_MAX;
	pool[i++] = UINT64_MAX - DAX_PMD_NR;
	pool[i++] = UINT64_MAX & DAX_PMD_MASK;
	pool[i++] = 1ULL << 63;
	pool[i++] = (1ULL << 63) - 2;
	pool[i++] = 1ULL << 40;
	pool[i++] = (1ULL << 32) - 1;
	pool[i++] = 1ULL << 20;
	while (i < ARRAY_SIZE(pool)) {
		/* Random magnitudes, half of them PMD-aligned. */
		uint64_t v = t_rand(&rng) >> t_rand_below(&rng, 50);

		pool[i] = i % 2 ? v & DAX_PMD_MASK : v;
		i++;
	}
}

int main(int argc, char **argv)
{
	static const char *const names[] = {
		"insert", "insert_pmd", "erase", "store", "load", "load_pmd",
		"tag", "next_entry", "next_tagged", "retag", "truncate",
		"refill_leaf",
	};
	struct dax_index idx;
	unsigned long ops, checks = 0, nr_shrinks = 0;
	int shift, last_shift = -1;

	t_init(argc, argv);
	t_rng_init(&rng, t_seed);
	init_pool();
	ops = t_long ? 5000000 : 400000;
	t_watchdog(t_long ? 3600 : 120); /* a looping walk fails, not hangs */
	REQUIRE(dax_idx_init(&idx) == 0);

	for (unsigned long i = 1; i <= ops; i++) {
		/* Keep the tree from filling up: erase more when big. */
		unsigned int erase_w = nr_model > 2000 ? 45 : 18;
		unsigned int r =
			(unsigned int)t_rand_below(&rng, 100 + erase_w);
		unsigned int op;

		if (t_rand_below(&rng, 3000) == 0)
			op = 10;
		else if (r < 24)
			op = 0;
		else if (r < 30)
			op = 1;
		else if (r < 40)
			op = 3;
		else if (r < 51)
			op = 4;
		else if (r < 52)
			op = 11;
		else if (r < 58)
			op = 5;
		else if (r < 72)
			op = 6;
		else if (r < 84)
			op = 7;
		else if (r < 94)
			op = 8;
		else if (r < 100)
			op = 9;
		else
			op = 2;
		nr_ops[op]++;
		switch (op) {
		case 0:
			op_insert(&idx, false);
			break;
		case 1:
			op_insert(&idx, true);
			break;
		case 2:
			op_erase(&idx);
			break;
		case 3:
			op_store(&idx);
			break;
		case 4:
			op_load(&idx);
			break;
		case 5:
			op_load_pmd(&idx);
			break;
		case 6:
			op_tag(&idx);
			break;
		case 7:
			op_next(&idx, -1);
			break;
		case 8:
			op_next(&idx, (int)t_rand_below(&rng, DAX_NR_TAGS));
			break;
		case 9:
			op_retag(&idx);
			break;
		case 11:
			op_refill_leaf(&idx);
			break;
		default:
			op_truncate(&idx,
				    t_rand_below(&rng, 8) ? rand_index() : 0);
			break;
		}
		CHECK_EQ(idx.nr_entries, nr_model);
		if (nr_model > max_model)
			max_model = nr_model;
		if (idx.nr_nodes > max_nodes)
			max_nodes = idx.nr_nodes;
		shift = root_shift(&idx);
		if (shift < last_shift)
			nr_shrinks++;
		last_shift = shift;
		if (t_failures) {
			fprintf(stderr, "first failure at op %lu (%s)\n", i,
				names[op]);
			break;
		}
		if (i % 1000 == 0)
			full_check(&idx, ++checks % 16 == 0);
		if (i % 4000 == 0)
			new_phase();
	}
	full_check(&idx, true);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		printf("  %-12s %lu\n", names[i], nr_ops[i]);
	printf("  entries at end %zu (max %zu), nodes %" PRIu64
	       " (max %" PRIu64 "), root shrinks %lu\n",
	       nr_model, max_model, idx.nr_nodes, max_nodes, nr_shrinks);

	op_truncate(&idx, 0);
	dax_idx_destroy(&idx);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("index_random");
}
