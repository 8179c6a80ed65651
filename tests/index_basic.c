/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_basic - insert, load, erase and store on the entry index, at
 * indexes that force growing and shrinking the tree, including the very
 * last index; node count back to zero at the end.
 */
#include "test_util.h"

#include <errno.h>

#include "index/index.h"
#include "index/rcu.h"
#include "index_util.h"

int main(int argc, char **argv)
{
	static const uint64_t probes[] = {
		0, 1, 7, 8, 63, 64, 65, 511, 512, 4095, 4096, 1u << 20,
		(1ULL << 32) + 5, (1ULL << 40), UINT64_MAX >> 1,
		UINT64_MAX - 1, UINT64_MAX,
	};
	struct dax_index idx;
	size_t n = sizeof(probes) / sizeof(probes[0]);

	t_init(argc, argv);
	REQUIRE(dax_idx_init(&idx) == 0);

	CHECK_EQ(t_idx_load(&idx, 0), 0);
	CHECK(!t_idx_erase(&idx, 0));
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(
		    t_idx_insert(&idx, probes[i], 0, dax_mk_entry(i + 1, 0)),
		    0);
		for (size_t j = 0; j <= i; j++)
			CHECK_EQ(t_idx_load(&idx, probes[j]),
				 dax_mk_entry(j + 1, 0));
	}
	CHECK_EQ(idx.nr_entries, n);
	/* Occupied index: -EEXIST, and the old value is intact. */
	CHECK_EQ(t_idx_insert(&idx, 64, 0, dax_mk_entry(99, 0)), -EEXIST);
	CHECK_EQ(t_idx_load(&idx, 64), dax_mk_entry(6, 0));
	/* Neighbours of present indexes are absent. */
	CHECK_EQ(t_idx_load(&idx, 2), 0);
	CHECK_EQ(t_idx_load(&idx, 4097), 0);
	CHECK_EQ(t_idx_load(&idx, UINT64_MAX - 2), 0);

	/* Store replaces in place. */
	{
		DAX_CURSOR(cur, 4096, &idx, 0);
		pthread_mutex_lock(&idx.lock);
		REQUIRE(dax_idx_load(&cur) == dax_mk_entry(11, 0));
		dax_idx_store(&cur, dax_mk_entry(1234, DAX_ENTRY_ZERO));
		pthread_mutex_unlock(&idx.lock);
		CHECK_EQ(t_idx_load(&idx, 4096),
			 dax_mk_entry(1234, DAX_ENTRY_ZERO));
		CHECK(dax_entry_is_zero(t_idx_load(&idx, 4096)));
		CHECK_EQ(dax_entry_block(t_idx_load(&idx, 4096)), 1234);
	}

	/* Erase in reverse order; the tree shrinks back to nothing. */
	for (size_t i = n; i-- > 0;) {
		CHECK(t_idx_erase(&idx, probes[i]));
		CHECK_EQ(t_idx_load(&idx, probes[i]), 0);
		for (size_t j = 0; j < i; j++)
			CHECK(t_idx_load(&idx, probes[j]) != 0);
	}
	CHECK_EQ(idx.nr_entries, 0);
	CHECK_EQ(idx.nr_nodes, 0);
	CHECK_EQ(atomic_load(&idx.root), 0);

	/* Erase from the front: the root shrinks while entries remain. */
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(t_idx_insert(&idx, probes[i], 0, dax_mk_entry(i, 0)),
			 0);
	for (size_t i = 0; i < n; i++)
		CHECK(t_idx_erase(&idx, probes[i]));
	CHECK_EQ(idx.nr_nodes, 0);

	dax_idx_destroy(&idx);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("index_basic");
}
