/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_rcu - lock-free readers against a writer that keeps allocating and
 * freeing nodes.
 *
 * Reader threads run dax_idx_load (order 0 and PMD order) and
 * dax_idx_next_entry under dax_rcu_read_lock only, while one writer, under
 * idx->lock, inserts, stores and erases 4 KiB and PMD entries at indexes
 * spread from 0 to UINT64_MAX: leaves and whole paths come and go, and the
 * root grows to full height and shrinks back to a leaf or to nothing all
 * the time, with every unlinked node freed after a grace period.
 *
 * Every value written for index i carries hash(i) in its block number, so
 * a reader can tell that what it saw is 0 or a complete value written for
 * that very index (for a PMD, for its aligned first index), that
 * next_entry only returns entries in the range asked for (or a PMD entry
 * covering its start), and that a full scan only moves forward. A reader
 * touching a freed node shows up as a use-after-free under ASan, or as a
 * garbage value here.
 * Runs ~2 s (-l: 20 s) under a watchdog; labelled for ThreadSanitizer.
 */
#include "test_util.h"

#include <errno.h>
#include <stdatomic.h>

#include "index/index.h"
#include "index/rcu.h"
#include "index_check.h"

#define NR_READERS 3
#define GEN_BITS 20
#define MAX_ITEMS 128

/* An index the writer uses: a 4 KiB entry, or a PMD at an aligned index. */
struct item {
	uint64_t index;
	unsigned int order;
};

/* Read-only once the threads run. */
static struct item items[MAX_ITEMS];
/* The writer's view of which items are in the tree. */
static bool present[MAX_ITEMS];
static size_t nr_items;

static struct dax_index idx;
static atomic_bool stop;
static atomic_ulong bad;
static atomic_ulong reads[NR_READERS];
static unsigned long writes, grows, shrinks, empties;

/* 38 bits of hash; with GEN_BITS of generation it fills a block number. */
static uint64_t hash(uint64_t index)
{
	return (index * 0x9E3779B97F4A7C15ULL) >> (64 - 38);
}

static dax_entry_t mk_value(uint64_t index, unsigned int order, uint64_t gen)
{
	uint64_t block = hash(index) << GEN_BITS |
			 (gen & ((1ULL << GEN_BITS) - 1));

	return dax_mk_entry(block, order ? DAX_ENTRY_PMD : 0);
}

static void report(const char *what, uint64_t index, dax_entry_t e)
{
	if (atomic_fetch_add(&bad, 1) < 10)
		fprintf(stderr, "reader: %s: index %#" PRIx64 " entry %#" PRIx64
				"\n",
			what, index, (uint64_t)e);
}

/* Is @e a value the writer could have stored with first index @first? */
static bool valid(dax_entry_t e, uint64_t first)
{
	dax_entry_t kind = e & DAX_ENTRY_KIND_MASK;

	if (!dax_slot_is_value(e) || dax_entry_locked(e))
		return false;
	if (kind != 0 && kind != DAX_ENTRY_PMD)
		return false;
	if (dax_entry_is_pmd(e) && (first & ~DAX_PMD_MASK))
		return false;
	return dax_entry_block(e) >> GEN_BITS == hash(first);
}

static void add_item(uint64_t index, unsigned int order)
{
	REQUIRE(nr_items < MAX_ITEMS);
	items[nr_items].index = index;
	items[nr_items].order = order;
	nr_items++;
}

static void init_items(void)
{
	const uint64_t pmds[] = {
		0, 3 * DAX_PMD_NR, 1ULL << 33, UINT64_MAX & DAX_PMD_MASK,
	};
	const uint64_t huge[] = {
		UINT64_MAX, UINT64_MAX - 1, 1ULL << 63, 1ULL << 40,
		(1ULL << 50) + 12345, 1ULL << 25,
	};

	for (uint64_t i = 0; i < 2 * DAX_IDX_FANOUT + 3; i += 3)
		add_item(DAX_PMD_NR + i, 0);
	for (size_t i = 0; i < ARRAY_SIZE(pmds); i++) {
		add_item(pmds[i], DAX_PMD_ORDER);
		add_item(pmds[i], 0);
		add_item(pmds[i] + 1, 0);
		add_item(pmds[i] + 300, 0);
		add_item(pmds[i] + DAX_PMD_NR - 1, 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(huge); i++)
		add_item(huge[i], 0);
}

/* Is @index one the writer may put a value at (or inside a PMD item)? */
static bool maybe_present(uint64_t index)
{
	for (size_t i = 0; i < nr_items; i++) {
		uint64_t first = items[i].index;
		uint64_t last = first + (((uint64_t)1 << items[i].order) - 1);

		if (index >= first && index <= last)
			return true;
	}
	return false;
}

static unsigned int root_shift(void)
{
	uintptr_t w = atomic_load_explicit(&idx.root, memory_order_relaxed);

	return w ? t_to_node(w)->shift : 0;
}

static void *writer(void *arg)
{
	struct t_rng rng;
	uint64_t gen = 0;
	uintptr_t last_root = 0;
	unsigned int last_shift = 0;

	(void)arg;
	t_rng_init(&rng, t_seed + 1);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		/* Favour the huge indexes at the end: they move the root. */
		size_t i = t_rand_below(&rng, 4) == 0
				   ? nr_items - 1 - t_rand_below(&rng, 6)
				   : t_rand_below(&rng, nr_items);
		struct item *it = &items[i];
		DAX_CURSOR(cur, it->index, &idx, it->order);
		int err;

		if (t_rand_below(&rng, 5000) == 0) {
			/* Empty the tree completely now and then. */
			pthread_mutex_lock(&idx.lock);
			for (size_t j = 0; j < nr_items; j++) {
				dax_cursor_set(&cur, items[j].index,
					       items[j].order);
				if (present[j] && dax_idx_load(&cur))
					dax_idx_erase(&cur);
				present[j] = false;
			}
			if (idx.nr_entries != 0 || atomic_load(&idx.root))
				atomic_fetch_add(&bad, 1);
			pthread_mutex_unlock(&idx.lock);
			empties++;
			continue;
		}
		if (present[i]) {
			pthread_mutex_lock(&idx.lock);
			if (!dax_idx_load(&cur)) {
				atomic_fetch_add(&bad, 1);
			} else if (t_rand_below(&rng, 4) == 0) {
				dax_idx_store(&cur, mk_value(it->index,
							     it->order, ++gen));
			} else {
				dax_idx_erase(&cur);
				present[i] = false;
			}
			pthread_mutex_unlock(&idx.lock);
		} else {
			dax_entry_t e = mk_value(it->index, it->order, ++gen);

			err = dax_idx_insert_alloc(&cur, e);
			dax_cursor_release(&cur);
			if (err == 0)
				present[i] = true;
			else if (err != -EEXIST)
				atomic_fetch_add(&bad, 1);
		}
		writes++;
		pthread_mutex_lock(&idx.lock);
		if (atomic_load(&idx.root) != last_root) {
			unsigned int shift = root_shift();

			if (!last_root || (atomic_load(&idx.root) &&
					   shift > last_shift))
				grows++;
			else
				shrinks++;
			last_root = atomic_load(&idx.root);
			last_shift = shift;
		}
		pthread_mutex_unlock(&idx.lock);
	}
	return NULL;
}

static uint64_t pick_index(struct t_rng *rng)
{
	const struct item *it = &items[t_rand_below(rng, nr_items)];

	switch (t_rand_below(rng, 4)) {
	case 0:
		return t_rand(rng); /* almost surely never present */
	case 1:
		/* Anywhere inside or right around the item. */
		return it->index + t_rand_below(rng, 3 << it->order) -
		       (it->index ? 1 : 0);
	default:
		return it->index;
	}
}

static void read_load(struct t_rng *rng)
{
	uint64_t index = pick_index(rng);
	DAX_CURSOR(cur, index, &idx, 0);
	dax_entry_t e;
	uint64_t first = 0;

	dax_rcu_read_lock();
	e = dax_idx_load(&cur);
	if (e)
		first = dax_idx_entry_index(&cur, e);
	if (e && !cur.slot)
		report("load without slot", index, e);
	dax_rcu_read_unlock();
	if (!e)
		return;
	if (!valid(e, first))
		report("load: foreign value", index, e);
	else if (!maybe_present(index))
		report("load: value at an unused index", index, e);
}

static void read_load_pmd(struct t_rng *rng)
{
	uint64_t index = pick_index(rng) & DAX_PMD_MASK;
	DAX_CURSOR(cur, index, &idx, DAX_PMD_ORDER);
	dax_entry_t e;

	dax_rcu_read_lock();
	e = dax_idx_load(&cur);
	dax_rcu_read_unlock();
	if (e && (!dax_entry_is_pmd(e) || !valid(e, index)))
		report("PMD load: foreign value", index, e);
	if (e && cur.conflict)
		report("PMD load: entry and conflict", index, e);
}

static void read_next(struct t_rng *rng)
{
	uint64_t start = pick_index(rng), index = start;
	uint64_t span = t_rand(rng) >> t_rand_below(rng, 64);
	uint64_t last = start > UINT64_MAX - span ? UINT64_MAX : start + span;
	dax_entry_t e;
	bool found;

	dax_rcu_read_lock();
	found = dax_idx_next_entry(&idx, &index, last, &e);
	dax_rcu_read_unlock();
	if (!found)
		return;
	if (!valid(e, index))
		report("next_entry: foreign value", index, e);
	if (index > last)
		report("next_entry: past last", index, e);
	if (index < start &&
	    (!dax_entry_is_pmd(e) || index != (start & DAX_PMD_MASK)))
		report("next_entry: before start", index, e);
}

/*
 * A whole scan: each entry found covers an index at or after where the
 * search started (a PMD entry inserted meanwhile may cover the start and
 * so begin before it: that is allowed, going back further is not), and
 * carries its own value. The start only moves forward.
 */
static void read_scan(void)
{
	uint64_t start = 0, index;
	dax_entry_t e;
	unsigned long n = 0;

	dax_rcu_read_lock();
	for (;;) {
		index = start;
		if (!dax_idx_next_entry(&idx, &index, UINT64_MAX, &e))
			break;
		if (!valid(e, index))
			report("scan: foreign value", index, e);
		if (index < start &&
		    (!dax_entry_is_pmd(e) || index != (start & DAX_PMD_MASK))) {
			report("scan: went back", index, e);
			break;
		}
		if (++n > 4 * MAX_ITEMS) {
			report("scan: too many entries", index, e);
			break;
		}
		index += ((uint64_t)1 << dax_entry_order(e)) - 1;
		if (index == UINT64_MAX)
			break;
		start = index + 1;
	}
	dax_rcu_read_unlock();
}

static void *reader(void *arg)
{
	size_t id = (size_t)(uintptr_t)arg;
	struct t_rng rng;
	unsigned long n = 0;

	t_rng_init(&rng, t_seed + 100 + id);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int r = (unsigned int)t_rand_below(&rng, 100);

		if (r < 50)
			read_load(&rng);
		else if (r < 65)
			read_load_pmd(&rng);
		else if (r < 97)
			read_next(&rng);
		else
			read_scan();
		n++;
	}
	atomic_store(&reads[id], n);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t w, r[NR_READERS];
	double secs;
	unsigned long total = 0;

	t_init(argc, argv);
	secs = t_long ? 20.0 : 2.0;
	t_watchdog((unsigned int)secs + 60);
	REQUIRE(dax_idx_init(&idx) == 0);
	init_items();

	for (size_t i = 0; i < NR_READERS; i++)
		REQUIRE(pthread_create(&r[i], NULL, reader,
				       (void *)(uintptr_t)i) == 0);
	REQUIRE(pthread_create(&w, NULL, writer, NULL) == 0);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, true);
	REQUIRE(pthread_join(w, NULL) == 0);
	for (size_t i = 0; i < NR_READERS; i++) {
		REQUIRE(pthread_join(r[i], NULL) == 0);
		total += atomic_load(&reads[i]);
		CHECK(atomic_load(&reads[i]) > 0);
	}
	printf("reads %lu, writes %lu, root grows %lu, shrinks %lu, "
	       "emptied %lu\n",
	       total, writes, grows, shrinks, empties);
	CHECK_EQ(atomic_load(&bad), 0);
	CHECK(writes > 0);
	CHECK(grows > 0 && shrinks > 0);

	pthread_mutex_lock(&idx.lock);
	t_idx_check(&idx);
	for (size_t i = 0; i < nr_items; i++) {
		DAX_CURSOR(cur, items[i].index, &idx, items[i].order);
		dax_entry_t e = dax_idx_load(&cur);

		if (present[i])
			CHECK(e && valid(e, items[i].index) &&
			      dax_entry_order(e) == items[i].order);
	}
	pthread_mutex_unlock(&idx.lock);

	dax_idx_destroy(&idx);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("index_rcu");
}
