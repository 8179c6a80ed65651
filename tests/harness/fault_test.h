/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_test.h - the test-side helpers the fault engine tests share: an
 * environment of the usual shapes, a lock-free look at an entry, the
 * end-of-test check that no entry is left EMPTY or locked, and joining a
 * thread that may hang. Include after test_util.h and fault_harness.h;
 * static inline, as the checks count into the including test's failures
 * (CHECK, REQUIRE).
 *
 * @env is the harness; @index a page of its file.
 */
#ifndef UDAX_TEST_FAULT_TEST_H
#define UDAX_TEST_FAULT_TEST_H

#include "index_util.h"

/* A statistics counter's value. */
static inline __attribute__((unused)) unsigned long th_cnt(atomic_ulong *c)
{
	return atomic_load(c);
}

/*
 * A harness with @nr_blocks blocks, room for @max_pages pages, the file
 * @size bytes long, no region; the test stops if it cannot be set up.
 */
static inline __attribute__((unused)) void th_env_setup(struct th_env *env,
							uint64_t nr_blocks,
							uint64_t max_pages,
							uint64_t size)
{
	REQUIRE(th_env_init(env, nr_blocks, max_pages) == 0);
	atomic_store(&env->fs.size, size);
}

/*
 * The interleaving tests' harness: @nr_pages blocks and pages, the file
 * full, 2 MiB extents (fs.pmd_alloc), @nr_regions shared regions (huge
 * where @huge[i]), and @hook (hook_gate.h's) at the engine's hook points.
 */
static inline __attribute__((unused)) void
th_env_setup_shared(struct th_env *env, uint64_t nr_pages, const bool *huge,
		    int nr_regions, dax_hook_fn hook)
{
	REQUIRE(th_env_init(env, nr_pages, nr_pages) == 0);
	env->fs.pmd_alloc = true;
	for (int i = 0; i < nr_regions; i++)
		REQUIRE(th_region_add(env, true, false, huge[i]));
	atomic_store(&env->fs.size, nr_pages * DAX_PAGE_SIZE);
	env->f.hook = hook;
}

/* The entry covering @index now (0 if none), with its lock bits. */
static inline __attribute__((unused)) dax_entry_t th_peek(struct th_env *env,
							  uint64_t index)
{
	return t_idx_load(&env->f.m.idx, index);
}

/* No entry may be left EMPTY or locked once every call has returned. */
static inline __attribute__((unused)) void
th_check_entries_settled(struct th_env *env)
{
	uint64_t index = 0;
	dax_entry_t e;

	for (;;) {
		bool found;

		dax_rcu_read_lock();
		found =
		    dax_idx_next_entry(&env->f.m.idx, &index, UINT64_MAX, &e);
		dax_rcu_read_unlock();
		if (!found)
			break;
		if (dax_entry_is_empty(e) || dax_entry_locked(e)) {
			fprintf(stderr, "entry at %llu left %s\n",
				(unsigned long long)index,
				dax_entry_locked(e) ? "locked" : "EMPTY");
			CHECK(!dax_entry_is_empty(e) && !dax_entry_locked(e));
		}
		index += (uint64_t)1 << dax_entry_order(e);
	}
}

/* Word @word of page @index, loaded through @r (the access must work). */
static inline __attribute__((unused)) uint64_t th_load(struct th_env *env,
						       struct th_region *r,
						       uint64_t index,
						       unsigned int word)
{
	uint64_t v = 0xdeadULL;

	CHECK_EQ(th_access(env, r, index, word, false, &v), 0);
	return v;
}

/* Store @v in word @word of page @index through @r (it must work). */
static inline __attribute__((unused)) void
th_store(struct th_env *env, struct th_region *r, uint64_t index,
	 unsigned int word, uint64_t v)
{
	CHECK_EQ(th_access(env, r, index, word, true, &v), 0);
}

/* A fault request for @index through @r, as the MMU would make it. */
static inline __attribute__((unused)) struct dax_vmf
th_vmf(struct th_region *r, uint64_t index, bool write)
{
	return (struct dax_vmf){.region = r,
				.index = index,
				.flags = (write ? DAX_VMF_WRITE : 0) |
					 (r->shared ? DAX_VMF_SHARED : 0) |
					 (r->sync ? DAX_VMF_SYNC : 0)};
}

/*
 * Join @thread once it has set *@done, failing the test (not hanging it)
 * if that takes more than 10 seconds; @what names the thread.
 */
static inline __attribute__((unused)) void
th_join_within(pthread_t thread, atomic_bool *done, const char *what)
{
	double end = t_now() + 10;

	while (!atomic_load(done)) {
		if (t_now() > end) {
			fprintf(stderr,
				"%s: thread never finished (lost "
				"wake-up?)\n",
				what);
			exit(T_FAIL);
		}
		usleep(100);
	}
	pthread_join(thread, NULL);
}

#endif /* UDAX_TEST_FAULT_TEST_H */
