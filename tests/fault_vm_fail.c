/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_vm_fail - the fault engine when the VM fails. Every vm_ops call
 * may return -ENOMEM (the kernel refusing mmap or mprotect, e.g. at
 * vm.max_map_count), a zap or mkclean after doing part of its range. The
 * engine must fail closed: report the error, free nothing that may still
 * be mapped, clear no DIRTY tag of a page that may still be writable,
 * and leave nothing that a later call cannot finish. The harness VM
 * injects the failures (th_vm_fail_next, th_vm_fail_set) and checks its
 * invariants on every call.
 *
 * Part 1, one failure point at a time:
 *   a  zap fails during truncate: -ENOMEM, size and blocks unchanged, the
 *      data intact and mapped consistently; the same again with zaps that
 *      unmap part of the range; then the retry frees, and the range reads
 *      zeros when the file grows again.
 *   b  mkclean fails during writeback: -ENOMEM, the entry stays DIRTY, a
 *      store through the still-writable mapping is legal, and the next
 *      writeback flushes the new data; the same with mkcleans that
 *      write-protect part of a range of dirty pages.
 *   c  insert fails: a read, write, CoW and 2 MiB fault give
 *      DAX_FAULT_OOM (or fall back) and map nothing new; mkwrite fails:
 *      DAX_FAULT_OOM, the page stays read-only; each access then succeeds.
 *   d  the zap of a zero page fails: in a hole fill the write fault fails
 *      and no region shows zeros over data; in write(2) the write fails
 *      and writes nothing; both succeed once the VM does. And after a
 *      write fault that allocated under a zero span (no entry) but could
 *      not zap it, a read fault and a store to the page: the zero page
 *      must be gone before the block is writable.
 *   e  a zero span against an allocation: a read fault that saw the hole
 *      after a write fault bumped hole_gen, but before that fault got its
 *      block, must not map the zero page over the block afterwards.
 * Part 2, random, on two files: stores of stamped words through shared,
 *   MAP_SYNC and private regions, loads, writeback, truncate down and up,
 *   punch hole, write(2) and read(2), with VM failures injected at random
 *   in some phases. After every step: no invariant violation; a call that
 *   returned 0 (or its whole length) did all of its job (a writeback left
 *   every page in its range flushed, clean and read-only; a truncate or
 *   punch freed the blocks); a call that failed changed nothing it must
 *   not (no block freed, no data lost). The expected contents are kept in
 *   a shadow. At the end, with the VM working again, one writeback of
 *   everything must succeed and leave every page's durable copy (the
 *   harness keeps what each flush made durable) equal to the shadow:
 *   a store that escaped dirty tracking (say, DIRTY cleared after a
 *   failed mkclean, the page still writable) is caught here if not
 *   already by the harness at the store. Words never show another page's
 *   or the other file's stamp.
 * Part 3, concurrent: two threads store to and write(2) their own pages
 *   of one file, a third writes back random ranges, a fourth loads
 *   anywhere, with VM failures at random; then the end checks of part 2.
 */
#include "test_util.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>

#include "fault_harness.h"
#include "util/compiler.h"

#ifdef UDAX_TSAN
/* Dynamic annotation exported by the TSan runtime (no header has it). */
void AnnotateBenignRaceSized(const char *file, int line, const void *mem,
			     unsigned long size, const char *desc);
#endif

#define NR_PAGES 1024 /* two 2 MiB windows */
#define NR_BLOCKS 2048
#define WORDS (DAX_PAGE_SIZE / sizeof(uint64_t))
#define UNKNOWN UINT64_MAX /* a word whose value is not known */

#define ALL_OPS TH_VM_OPS_ALL
#define OP(x) TH_VM_OP(TH_VM_##x)

static uint64_t pages_of(uint64_t size)
{
	return (size + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
}

/* ---- a file under test ---- */

enum { R_HUGE, R_4K, R_SYNC, R_PRIV, NR_REGIONS };

static const char *const region_name[NR_REGIONS] = {
	"shared 2M", "shared 4K", "sync 4K", "private 2M",
};

struct tfile {
	int id;
	struct th_env env;
	struct th_region *r[NR_REGIONS];
	/*
	 * shadow: what each word of the file must read, for words below the
	 * size; zero at and beyond it (what they must read once the file
	 * grows over them). priv: the private region's copy of a page, where
	 * it has one; UNKNOWN for words beyond EOF when the copy was made.
	 */
	uint64_t *shadow, *priv;
	/*
	 * Per page: its data on the device may have changed since it was
	 * last seen durable (a store, write(2), a partial page zeroed). Only
	 * such pages can be found not durable after a writeback.
	 */
	uint8_t *touched;
	atomic_uint_fast64_t stamps;
	struct t_rng rng;
};

static struct tfile files[2];

/* A stamp for page @p of @tf: names the page, and the file in bit 0. */
static uint64_t next_stamp(struct tfile *tf, uint64_t p)
{
	uint64_t n = atomic_fetch_add(&tf->stamps, 1) + 1;

	return th_stamp(p, (n << 1) | (uint64_t)tf->id);
}

static uint64_t fsize(struct tfile *tf)
{
	return atomic_load(&tf->env.fs.size);
}

static void tfile_init(struct tfile *tf, int id, uint64_t size)
{
	memset(tf, 0, sizeof(*tf));
	tf->id = id;
	REQUIRE(th_env_init(&tf->env, NR_BLOCKS, NR_PAGES) == 0);
	REQUIRE(th_fs_track_durable(&tf->env) == 0);
	tf->r[R_HUGE] = th_region_add(&tf->env, true, false, true);
	tf->r[R_4K] = th_region_add(&tf->env, true, false, false);
	tf->r[R_SYNC] = th_region_add(&tf->env, true, true, false);
	tf->r[R_PRIV] = th_region_add(&tf->env, false, false, true);
	for (int r = 0; r < NR_REGIONS; r++)
		REQUIRE(tf->r[r]);
	tf->shadow = calloc(NR_PAGES * WORDS, sizeof(uint64_t));
	tf->priv = calloc(NR_PAGES * WORDS, sizeof(uint64_t));
	tf->touched = calloc(NR_PAGES + 1, 1);
	REQUIRE(tf->shadow && tf->priv && tf->touched);
	atomic_store(&tf->env.fs.size, size);
#ifdef UDAX_TSAN
	AnnotateBenignRaceSized(__FILE__, __LINE__, tf->env.fs.dev,
				NR_BLOCKS * DAX_PAGE_SIZE,
				"device data: write(2) copies vs flush copies");
	AnnotateBenignRaceSized(__FILE__, __LINE__, tf->env.fs.durable,
				NR_BLOCKS * DAX_PAGE_SIZE,
				"durable copies of blocks being written");
#endif
}

static void tfile_destroy(struct tfile *tf)
{
	th_env_destroy(&tf->env);
	free(tf->shadow);
	free(tf->priv);
	free(tf->touched);
}

/* The data of bytes [from, to) may have changed on the device. */
static void touch(struct tfile *tf, uint64_t from, uint64_t to)
{
	for (uint64_t p = from / DAX_PAGE_SIZE;
	     p <= (to - 1) / DAX_PAGE_SIZE && p < NR_PAGES && from < to; p++)
		tf->touched[p] = 1;
}

/* A small environment for part 1: @nr_regions shared 4 KiB regions. */
static void small_env(struct th_env *env, uint64_t pages, int nr_regions)
{
	REQUIRE(th_env_init(env, 2 * pages, pages) == 0);
	REQUIRE(th_fs_track_durable(env) == 0);
	for (int i = 0; i < nr_regions; i++)
		REQUIRE(th_region_add(env, true, false, false));
	atomic_store(&env->fs.size, pages * DAX_PAGE_SIZE);
}

static int store(struct th_env *env, struct th_region *r, uint64_t p,
		 unsigned int w, uint64_t v)
{
	return th_access(env, r, p, w, true, &v);
}

/* A load that must succeed. */
static uint64_t load(struct th_env *env, struct th_region *r, uint64_t p,
		     unsigned int w)
{
	uint64_t v = UNKNOWN;

	CHECK_EQ(th_access(env, r, p, w, false, &v), 0);
	return v;
}

/* Word @w of page @p through read(2). */
static uint64_t read_word(struct th_env *env, uint64_t p, unsigned int w)
{
	uint64_t v = UNKNOWN;

	CHECK_EQ(dax_read(&env->f, &v, sizeof(v),
			  p * DAX_PAGE_SIZE + w * sizeof(v)),
		 (ssize_t)sizeof(v));
	return v;
}

/* What a flush of page @p's block made durable, word @w. */
static uint64_t durable_word(struct th_env *env, uint64_t p, unsigned int w)
{
	uint64_t b = th_fs_block_of(&env->fs, p);

	if (b == TH_HOLE)
		return 0;
	return ((const uint64_t *)(env->fs.durable +
				   b * DAX_PAGE_SIZE))[w];
}

static void quiet(struct th_env *env, int line)
{
	th_check_quiescent(env);
	if (th_violations()) {
		fprintf(stderr, "%s:%d: %d invariant violations\n", __FILE__,
			line, th_violations());
		t_failures++;
		atomic_store(&th_violation_count, 0);
	}
}
#define QUIET(env) quiet((env), __LINE__)

/* Save the ptes of every region of @env, to compare with later. */
static struct th_pte *ptes_save(struct th_env *env)
{
	uint64_t n = env->fs.max_pages;
	struct th_pte *s = malloc(TH_MAX_REGIONS * n * sizeof(*s));

	REQUIRE(s);
	pthread_mutex_lock(&env->vm.lock);
	for (int r = 0; r < env->vm.nr_regions; r++)
		memcpy(s + r * n, env->vm.regions[r].ptes, n * sizeof(*s));
	pthread_mutex_unlock(&env->vm.lock);
	return s;
}

/* Nothing was mapped anew since @s: each pte is as it was, or gone. */
static bool nothing_new(struct th_env *env, struct th_pte *s)
{
	uint64_t n = env->fs.max_pages;
	bool ok = true;

	for (int r = 0; r < env->vm.nr_regions; r++)
		for (uint64_t p = 0; p < n; p++) {
			const struct th_pte *a = &s[r * n + p];
			const struct th_pte *b = &env->vm.regions[r].ptes[p];

			if (b->kind == TH_NONE ||
			    (b->kind == a->kind && b->block == a->block &&
			     b->writable <= a->writable))
				continue;
			fprintf(stderr, "region %d page %llu: kind %d->%d, "
					"writable %d->%d\n",
				r, (unsigned long long)p, a->kind, b->kind,
				a->writable, b->writable);
			ok = false;
		}
	free(s);
	return ok;
}

/* Print what part @name showed, or that its checks failed. */
static void part_done(const char *name, int failures0, const char *what)
{
	if (t_failures > failures0)
		printf("%s: FAILED (%d checks)\n", name,
		       t_failures - failures0);
	else
		printf("%s: %s\n", name, what);
	fflush(stdout);
}

/* ---- part 1a: zap fails during truncate ---- */

static void part_a(void)
{
	int f0 = t_failures;
	const uint64_t pages = 64;
	struct th_env env;
	struct th_region *a, *b;
	unsigned long frees;
	uint64_t blk5, s5 = th_stamp(5, 1), s20 = th_stamp(20, 1);

	small_env(&env, pages, 2);
	a = &env.vm.regions[0];
	b = &env.vm.regions[1];
	CHECK_EQ(store(&env, a, 5, 0, s5), 0);
	CHECK_EQ(store(&env, a, 20, 3, s20), 0);
	CHECK_EQ(load(&env, b, 5, 0), s5);
	blk5 = th_fs_block_of(&env.fs, 5);
	frees = atomic_load(&env.fs.frees);

	/* Nothing unmapped: nothing may be freed, nothing change. */
	th_vm_fail_next(&env.vm, OP(ZAP));
	CHECK_EQ(dax_truncate(&env.f, 2 * DAX_PAGE_SIZE), -ENOMEM);
	CHECK_EQ(th_vm_failed(&env.vm, ALL_OPS), 1);
	CHECK_EQ(atomic_load(&env.fs.size), pages * DAX_PAGE_SIZE);
	CHECK_EQ(atomic_load(&env.fs.frees), frees);
	CHECK_EQ(th_fs_block_of(&env.fs, 5), blk5);
	CHECK(env.fs.used[blk5]);
	CHECK_EQ(a->ptes[5].kind, TH_BLOCK);
	CHECK_EQ(a->ptes[5].block, blk5);
	CHECK_EQ(b->ptes[5].kind, TH_BLOCK);
	CHECK_EQ(read_word(&env, 5, 0), s5);
	CHECK_EQ(load(&env, b, 5, 0), s5);
	CHECK_EQ(load(&env, b, 20, 3), s20);
	QUIET(&env);
	/* Still writable where it was: the entry must still be DIRTY. */
	CHECK(th_entry_dirty(&env.f, 5));
	s5 = th_stamp(5, 2);
	CHECK_EQ(store(&env, a, 5, 0, s5), 0);
	CHECK_EQ(load(&env, b, 5, 0), s5);
	QUIET(&env);

	/* Zaps that unmap part of the range, every time. */
	for (uint64_t p = 2; p < 40; p++) {
		CHECK_EQ(store(&env, a, p, 1, th_stamp(p, 3)), 0);
		CHECK_EQ(load(&env, b, p, 1), th_stamp(p, 3));
	}
	frees = atomic_load(&env.fs.frees);
	th_vm_fail_set(&env.vm, 1, t_seed);
	th_vm_fail_ops(&env.vm, OP(ZAP));
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(dax_truncate(&env.f, 2 * DAX_PAGE_SIZE), -ENOMEM);
		CHECK_EQ(atomic_load(&env.fs.size), pages * DAX_PAGE_SIZE);
		CHECK_EQ(atomic_load(&env.fs.frees), frees);
		QUIET(&env);
	}
	th_vm_fail_set(&env.vm, 0, 0);
	for (uint64_t p = 2; p < 40; p++)
		CHECK_EQ(read_word(&env, p, 1), th_stamp(p, 3));
	CHECK_EQ(read_word(&env, 20, 3), s20);
	for (uint64_t p = 2; p < 40; p += 7)
		CHECK_EQ(load(&env, b, p, 1), th_stamp(p, 3));
	QUIET(&env);

	/* The VM works again: the truncate goes through. */
	CHECK_EQ(dax_truncate(&env.f, 2 * DAX_PAGE_SIZE), 0);
	CHECK_EQ(atomic_load(&env.fs.size), 2 * DAX_PAGE_SIZE);
	CHECK(atomic_load(&env.fs.frees) > frees);
	CHECK_EQ(th_fs_block_of(&env.fs, 5), TH_HOLE);
	CHECK(!th_entry_present(&env.f, 5));
	CHECK_EQ(a->ptes[5].kind, TH_NONE);
	QUIET(&env);
	CHECK_EQ(dax_truncate(&env.f, pages * DAX_PAGE_SIZE), 0);
	CHECK_EQ(read_word(&env, 5, 0), 0);
	CHECK_EQ(load(&env, b, 5, 0), 0);
	CHECK_EQ(load(&env, a, 20, 3), 0);
	QUIET(&env);
	th_env_destroy(&env);
	part_done("part a", f0,
		  "truncate whose zap failed freed nothing, kept the data; "
		  "the retry freed it");
}

/* ---- part 1b: mkclean fails during writeback ---- */

static void part_b(void)
{
	int f0 = t_failures;
	const uint64_t pages = 64;
	struct th_env env;
	struct th_region *a, *b;
	uint64_t blk, v = th_stamp(3, 2);
	unsigned long flushes;

	small_env(&env, pages, 2);
	a = &env.vm.regions[0];
	b = &env.vm.regions[1];
	CHECK_EQ(store(&env, a, 3, 0, th_stamp(3, 1)), 0);
	blk = th_fs_block_of(&env.fs, 3);
	flushes = th_block_flushes(&env.fs, blk);

	th_vm_fail_next(&env.vm, OP(MKCLEAN));
	CHECK_EQ(dax_writeback(&env.f, 0, pages - 1), -ENOMEM);
	CHECK(th_entry_dirty(&env.f, 3));
	CHECK(a->ptes[3].writable);
	QUIET(&env);
	/* No fault: the mapping is writable, and the entry says so. */
	CHECK_EQ(store(&env, a, 3, 0, v), 0);
	QUIET(&env);
	CHECK_EQ(dax_writeback(&env.f, 0, pages - 1), 0);
	CHECK(!th_entry_dirty(&env.f, 3));
	CHECK(!a->ptes[3].writable);
	CHECK(th_block_flushes(&env.fs, blk) > flushes);
	CHECK(th_block_durable(&env.fs, blk));
	CHECK_EQ(durable_word(&env, 3, 0), v);
	QUIET(&env);

	/* mkcleans that write-protect part of their range, every time. */
	for (uint64_t p = 10; p < 40; p++)
		CHECK_EQ(store(&env, p & 1 ? a : b, p, 2, th_stamp(p, 3)), 0);
	th_vm_fail_set(&env.vm, 1, t_seed);
	th_vm_fail_ops(&env.vm, OP(MKCLEAN));
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(dax_writeback(&env.f, 0, pages - 1), -ENOMEM);
		QUIET(&env); /* writable only with DIRTY */
		for (uint64_t p = 10; p < 40; p++)
			CHECK_EQ(store(&env, p & 1 ? a : b, p, 2,
				       th_stamp(p, 4 + i)),
				 0);
		QUIET(&env);
	}
	th_vm_fail_set(&env.vm, 0, 0);
	CHECK_EQ(dax_writeback(&env.f, 0, pages - 1), 0);
	for (uint64_t p = 10; p < 40; p++) {
		CHECK(!th_entry_dirty(&env.f, p));
		CHECK(!a->ptes[p].writable && !b->ptes[p].writable);
		CHECK(th_block_durable(&env.fs, th_fs_block_of(&env.fs, p)));
		CHECK_EQ(durable_word(&env, p, 2), th_stamp(p, 6));
	}
	QUIET(&env);
	th_env_destroy(&env);
	part_done("part b", f0,
		  "writeback whose mkclean failed kept DIRTY; the next one "
		  "flushed the later stores");
}

/* ---- part 1c: insert and mkwrite fail ---- */

static struct dax_vmf vmf_of(struct th_region *r, uint64_t p, bool write)
{
	return (struct dax_vmf){
		.region = r,
		.index = p,
		.flags = (write ? DAX_VMF_WRITE : 0) |
			 (r->shared ? DAX_VMF_SHARED : 0),
	};
}

static void part_c(void)
{
	int f0 = t_failures;
	struct th_env env;
	struct th_region *a, *b, *h, *pr;
	struct dax_vmf vmf;
	struct th_pte *s;
	int ret;

	small_env(&env, NR_PAGES, 2);
	a = &env.vm.regions[0];
	b = &env.vm.regions[1];
	h = th_region_add(&env, true, false, true);
	pr = th_region_add(&env, false, false, false);
	REQUIRE(h && pr);

	/* Read fault on a hole. */
	s = ptes_save(&env);
	th_vm_fail_next(&env.vm, OP(INSERT));
	vmf = vmf_of(a, 7, false);
	CHECK_EQ(dax_pte_fault(&env.f, &vmf), DAX_FAULT_OOM);
	CHECK(nothing_new(&env, s));
	CHECK_EQ(a->ptes[7].kind, TH_NONE);
	CHECK_EQ(atomic_load(&env.vm.fail_next), 0);
	QUIET(&env);
	CHECK_EQ(load(&env, a, 7, 0), 0);

	/* Write fault on a hole (a zero page there, maybe, from a span). */
	s = ptes_save(&env);
	th_vm_fail_next(&env.vm, OP(INSERT));
	vmf = vmf_of(a, 9, true);
	CHECK_EQ(dax_pte_fault(&env.f, &vmf) & ~DAX_FAULT_MAJOR,
		 DAX_FAULT_OOM);
	CHECK(nothing_new(&env, s));
	CHECK(!a->ptes[9].writable);
	CHECK_EQ(atomic_load(&env.vm.fail_next), 0);
	QUIET(&env);
	CHECK_EQ(store(&env, a, 9, 0, th_stamp(9, 1)), 0);
	CHECK_EQ(load(&env, b, 9, 0), th_stamp(9, 1));

	/* CoW fault in a private region. */
	s = ptes_save(&env);
	th_vm_fail_next(&env.vm, OP(INSERT_PRIVATE));
	CHECK_EQ(store(&env, pr, 9, 0, th_stamp(9, 50)), DAX_FAULT_OOM);
	CHECK(nothing_new(&env, s));
	CHECK(pr->ptes[9].kind != TH_PRIVATE);
	CHECK_EQ(atomic_load(&env.vm.fail_next), 0);
	CHECK_EQ(read_word(&env, 9, 0), th_stamp(9, 1));
	CHECK_EQ(store(&env, pr, 9, 0, th_stamp(9, 51)), 0);
	CHECK_EQ(pr->ptes[9].kind, TH_PRIVATE);
	CHECK_EQ(read_word(&env, 9, 0), th_stamp(9, 1));
	QUIET(&env);

	/* mkwrite of a clean page mapped read-only. */
	CHECK_EQ(dax_writeback(&env.f, 0, NR_PAGES - 1), 0);
	CHECK_EQ(a->ptes[9].kind, TH_BLOCK);
	CHECK(!a->ptes[9].writable);
	th_vm_fail_next(&env.vm, OP(MKWRITE));
	vmf = vmf_of(a, 9, true);
	CHECK_EQ(dax_mkwrite(&env.f, &vmf, 0), DAX_FAULT_OOM);
	CHECK(!a->ptes[9].writable);
	CHECK_EQ(atomic_load(&env.vm.fail_next), 0);
	QUIET(&env);
	CHECK_EQ(store(&env, a, 9, 0, th_stamp(9, 2)), 0);
	CHECK(a->ptes[9].writable);
	CHECK_EQ(load(&env, b, 9, 0), th_stamp(9, 2));

	/* A 2 MiB read and write fault: OOM, or a 4 KiB fallback. */
	s = ptes_save(&env);
	th_vm_fail_next(&env.vm, OP(INSERT));
	vmf = vmf_of(h, DAX_PMD_NR + 3, false);
	ret = dax_pmd_fault(&env.f, &vmf);
	CHECK(ret == DAX_FAULT_OOM || ret == DAX_FAULT_FALLBACK);
	CHECK(nothing_new(&env, s));
	atomic_store(&env.vm.fail_next, 0); /* unused if it fell back first */
	s = ptes_save(&env);
	th_vm_fail_next(&env.vm, OP(INSERT));
	vmf = vmf_of(h, DAX_PMD_NR + 3, true);
	ret = dax_pmd_fault(&env.f, &vmf) & ~DAX_FAULT_MAJOR;
	CHECK(ret == DAX_FAULT_OOM || ret == DAX_FAULT_FALLBACK);
	CHECK(nothing_new(&env, s));
	atomic_store(&env.vm.fail_next, 0);
	QUIET(&env);
	CHECK_EQ(store(&env, h, DAX_PMD_NR + 3, 0, th_stamp(DAX_PMD_NR + 3, 1)),
		 0);
	CHECK_EQ(load(&env, a, DAX_PMD_NR + 3, 0),
		 th_stamp(DAX_PMD_NR + 3, 1));
	CHECK_EQ(load(&env, h, DAX_PMD_NR + 100, 0), 0);
	QUIET(&env);
	th_env_destroy(&env);
	part_done("part c", f0,
		  "failed inserts and mkwrite mapped nothing new, faults "
		  "said OOM");
}

/* ---- part 1d: the zap of a zero page fails ---- */

static void part_d(void)
{
	int f0 = t_failures;
	const uint64_t pages = 64;
	uint64_t buf[WORDS];
	struct th_env env;
	struct th_region *a, *b;
	int ret;

	small_env(&env, pages, 2);
	a = &env.vm.regions[0];
	b = &env.vm.regions[1];

	/* Hole fill: b shows the zero page, a write fault in a. */
	CHECK_EQ(load(&env, b, 4, 0), 0);
	CHECK_EQ(b->ptes[4].kind, TH_ZERO);
	th_vm_fail_next(&env.vm, OP(ZAP));
	ret = store(&env, a, 4, 0, th_stamp(4, 1));
	CHECK_EQ(ret, DAX_FAULT_OOM);
	CHECK(a->ptes[4].kind != TH_BLOCK || !a->ptes[4].writable);
	CHECK_EQ(read_word(&env, 4, 0), 0);
	QUIET(&env); /* zeros may show only over zeros */
	CHECK_EQ(store(&env, a, 4, 0, th_stamp(4, 2)), 0);
	CHECK_EQ(load(&env, b, 4, 0), th_stamp(4, 2));
	QUIET(&env);

	/* write(2) over a zero page (entry or span) whose zap fails. */
	CHECK_EQ(load(&env, b, 30, 0), 0);
	CHECK_EQ(b->ptes[30].kind, TH_ZERO);
	for (unsigned int w = 0; w < WORDS; w++)
		buf[w] = th_stamp(30, 3);
	th_vm_fail_next(&env.vm, OP(ZAP));
	CHECK_EQ(dax_write(&env.f, buf, sizeof(buf), 30 * DAX_PAGE_SIZE),
		 -ENOMEM);
	CHECK_EQ(read_word(&env, 30, 0), 0);
	CHECK_EQ(load(&env, b, 30, 0), 0);
	QUIET(&env);
	CHECK_EQ(dax_write(&env.f, buf, sizeof(buf), 30 * DAX_PAGE_SIZE),
		 (ssize_t)sizeof(buf));
	CHECK_EQ(load(&env, b, 30, 7), th_stamp(30, 3));
	CHECK_EQ(read_word(&env, 30, 7), th_stamp(30, 3));
	QUIET(&env);

	/*
	 * A write fault under a zero span (no entry) whose zap fails after
	 * the allocation: the block stays, zeros over it in b, no entry. A
	 * read fault then gives the page an entry, a store makes it
	 * writable: b must not still show zeros by then.
	 */
	CHECK_EQ(load(&env, b, 40, 0), 0);
	CHECK_EQ(b->ptes[41].kind, TH_ZERO);
	CHECK(!th_entry_present(&env.f, 41));
	th_vm_fail_next(&env.vm, OP(ZAP));
	CHECK_EQ(store(&env, a, 41, 0, th_stamp(41, 1)), DAX_FAULT_OOM);
	CHECK(a->ptes[41].kind != TH_BLOCK || !a->ptes[41].writable);
	QUIET(&env);
	CHECK_EQ(load(&env, a, 41, 0), 0);
	CHECK_EQ(store(&env, a, 41, 0, th_stamp(41, 2)), 0);
	CHECK(b->ptes[41].kind != TH_ZERO);
	CHECK_EQ(load(&env, b, 41, 0), th_stamp(41, 2));
	QUIET(&env);
	th_env_destroy(&env);
	part_done("part d", f0,
		  "failed zero-page zaps failed the write; no zeros over "
		  "data");
}

/* ---- part 1e: a zero span against an allocation ---- */

/*
 * Thread A's write fault is held inside its allocating iomap_begin (after
 * it bumped hole_gen); thread B's read fault is held at FAULT_MAPPED
 * (its iomap saw the whole window as a hole, after A's bump).
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int a_at, b_at; /* 1: arrived, 2: released */
} race = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
static __thread bool race_a, race_b;

static void race_park(int *at)
{
	pthread_mutex_lock(&race.lock);
	*at = 1;
	pthread_cond_broadcast(&race.cond);
	while (*at != 2)
		pthread_cond_wait(&race.cond, &race.lock);
	pthread_mutex_unlock(&race.lock);
}

static void race_wait(int *at)
{
	pthread_mutex_lock(&race.lock);
	while (*at != 1)
		pthread_cond_wait(&race.cond, &race.lock);
	pthread_mutex_unlock(&race.lock);
}

static void race_release(int *at)
{
	pthread_mutex_lock(&race.lock);
	*at = 2;
	pthread_cond_broadcast(&race.cond);
	pthread_mutex_unlock(&race.lock);
}

static int race_iomap_begin(void *file, uint64_t index, uint64_t nr,
			    unsigned int flags, struct dax_iomap *map)
{
	if (race_a && (flags & DAX_IOMAP_WRITE)) {
		race_a = false;
		race_park(&race.a_at);
	}
	return th_fs_ops.iomap_begin(file, index, nr, flags, map);
}

static void race_hook(struct dax_fmap *f, enum dax_hook_point point,
		      uint64_t index, void *arg)
{
	if (race_b && point == DAX_HOOK_FAULT_MAPPED) {
		race_b = false;
		race_park(&race.b_at);
	}
}

struct race_job {
	struct th_env *env;
	struct th_region *r;
	uint64_t p, v;
	bool write;
	int ret;
};

static void *race_main(void *arg)
{
	struct race_job *j = arg;

	if (j->write)
		race_a = true;
	else
		race_b = true;
	j->ret = th_access(j->env, j->r, j->p, 0, j->write, &j->v);
	return NULL;
}

static void part_e(void)
{
	int f0 = t_failures;
	const uint64_t pages = 64, p = 10, q = 12;
	static struct dax_iomap_ops fs_ops;
	struct race_job ja, jb;
	pthread_t ta, tb;
	struct th_env env;
	struct th_region *ra, *rb;
	unsigned long refused;
	int before;

	small_env(&env, pages, 2);
	ra = &env.vm.regions[0];
	rb = &env.vm.regions[1];
	fs_ops = th_fs_ops;
	fs_ops.iomap_begin = race_iomap_begin;
	env.f.fs = &fs_ops;
	env.f.hook = race_hook;
	refused = atomic_load(&env.vm.spans_refused);
	before = th_violations();

	ja = (struct race_job){ &env, ra, p, th_stamp(p, 1), true, -1 };
	jb = (struct race_job){ &env, rb, q, UNKNOWN, false, -1 };
	REQUIRE(pthread_create(&ta, NULL, race_main, &ja) == 0);
	race_wait(&race.a_at);
	REQUIRE(pthread_create(&tb, NULL, race_main, &jb) == 0);
	race_wait(&race.b_at);
	race_release(&race.a_at);
	pthread_join(ta, NULL);
	CHECK_EQ(ja.ret, 0);
	race_release(&race.b_at);
	pthread_join(tb, NULL);
	CHECK_EQ(jb.ret, 0);
	CHECK_EQ(jb.v, 0);

	if (th_violations() > before)
		printf("part e: the zero span was mapped over the new block "
		       "(see the violations above)\n");
	CHECK_EQ(th_violations(), before);
	CHECK(rb->ptes[p].kind != TH_ZERO);
	CHECK_EQ(load(&env, rb, p, 0), th_stamp(p, 1));
	atomic_store(&th_violation_count, before);
	QUIET(&env);
	printf("part e: zero span vs allocation: %lu span(s) refused, page "
	       "%llu in the reader's region: %s\n",
	       atomic_load(&env.vm.spans_refused) - refused,
	       (unsigned long long)p,
	       rb->ptes[p].kind == TH_ZERO ? "zero page" : "not zero");
	part_done("part e", f0, "no zero page over the new block");
	env.f.hook = NULL;
	th_env_destroy(&env);
}

/* ---- part 2: random ---- */

static unsigned long step_no;
static const char *step_what;
static unsigned long ok_calls, failed_calls;

/* VM failures injected into @tf so far: a call may fail only if it grew. */
static unsigned long vm_failed(struct tfile *tf)
{
	return th_vm_failed(&tf->env.vm, ALL_OPS);
}

/* What the word must read through a shared mapping or read(2). */
static uint64_t expect_shared(struct tfile *tf, uint64_t p, unsigned int w)
{
	if ((p * WORDS + w) * sizeof(uint64_t) >= fsize(tf))
		return UNKNOWN; /* beyond EOF in the last page */
	return tf->shadow[p * WORDS + w];
}

static void bad_word(struct tfile *tf, const char *how, uint64_t p,
		     unsigned int w, uint64_t got, uint64_t want)
{
	fprintf(stderr,
		"step %lu (%s), file %d: %s page %llu word %u: got %#llx, "
		"want %#llx\n",
		step_no, step_what, tf->id, how, (unsigned long long)p, w,
		(unsigned long long)got, (unsigned long long)want);
	t_failures++;
	if (t_failures > 20)
		exit(T_FAIL);
}

/* Something wrong with page @p of @tf other than a word's value. */
static void bad_page(struct tfile *tf, const char *what, uint64_t p,
		     long long detail)
{
	fprintf(stderr, "step %lu (%s), file %d: %s, page %llu (%lld)\n",
		step_no, step_what, tf->id, what, (unsigned long long)p,
		detail);
	t_failures++;
	if (t_failures > 20)
		exit(T_FAIL);
}

/* A word read from @tf must be 0 or a stamp of its page and file. */
static void judge_stamp(struct tfile *tf, const char *how, uint64_t p,
			unsigned int w, uint64_t v)
{
	if (!v)
		return;
	if (!th_stamp_ok(p, v))
		bad_word(tf, how, p, w, v, 0);
	else if ((v & 1) != (uint64_t)tf->id)
		bad_word(tf, "the other file's stamp", p, w, v, 0);
}

/* Load word @w of page @p through region @ri and judge it. */
static void check_load(struct tfile *tf, int ri, uint64_t p, unsigned int w)
{
	struct th_region *r = tf->r[ri];
	unsigned long failed = vm_failed(tf);
	uint64_t v = UNKNOWN, want;
	int ret;

	ret = th_access(&tf->env, r, p, w, false, &v);
	if (p >= pages_of(fsize(tf))) {
		if (ret != DAX_FAULT_SIGBUS)
			bad_page(tf, "load beyond EOF: result", p, ret);
		return;
	}
	if (ret == DAX_FAULT_OOM && vm_failed(tf) > failed)
		return;
	if (ret) {
		bad_page(tf, "load: result", p, ret);
		return;
	}
	want = expect_shared(tf, p, w);
	if (ri == R_PRIV && r->ptes[p].kind == TH_PRIVATE)
		want = tf->priv[p * WORDS + w];
	if (want != UNKNOWN && v != want)
		bad_word(tf, region_name[ri], p, w, v, want);
	if (want == UNKNOWN && ri != R_PRIV)
		judge_stamp(tf, region_name[ri], p, w, v);
}

/* read(2) of pages [first, last] against the shadow. */
static void check_read(struct tfile *tf, uint64_t first, uint64_t last)
{
	uint64_t size = fsize(tf), n, *buf;
	ssize_t got;

	if (first * DAX_PAGE_SIZE >= size)
		return;
	n = (last - first + 1) * WORDS;
	buf = malloc(n * sizeof(*buf));
	REQUIRE(buf);
	got = dax_read(&tf->env.f, buf, n * sizeof(*buf),
		       first * DAX_PAGE_SIZE);
	if (n * sizeof(*buf) > size - first * DAX_PAGE_SIZE)
		n = (size - first * DAX_PAGE_SIZE) / sizeof(*buf);
	if (got != (ssize_t)(n * sizeof(*buf)))
		bad_page(tf, "read(2): length", first, (long long)got);
	for (uint64_t i = 0; i < n && got > 0; i++) {
		uint64_t p = first + i / WORDS;
		unsigned int w = (unsigned int)(i % WORDS);

		judge_stamp(tf, "read(2)", p, w, buf[i]);
		if (buf[i] != tf->shadow[p * WORDS + w])
			bad_word(tf, "read(2)", p, w, buf[i],
				 tf->shadow[p * WORDS + w]);
	}
	free(buf);
}

/* Everything a quiescent file must satisfy, after every step. */
static void check_step(struct tfile *tf)
{
	th_check_quiescent(&tf->env);
	if (th_violations()) {
		fprintf(stderr, "step %lu (%s), file %d: invariant violated "
				"(seed %" PRIu64 ")\n",
			step_no, step_what, tf->id, t_seed);
		exit(T_FAIL);
	}
}

/* A store of a new stamp through region @ri; the shadow follows. */
static void do_store(struct tfile *tf, int ri, uint64_t p, unsigned int w)
{
	struct th_region *r = tf->r[ri];
	uint64_t v = next_stamp(tf, p), *priv = &tf->priv[p * WORDS];
	bool past_eof = (p * WORDS + w) * sizeof(uint64_t) >= fsize(tf);
	unsigned long failed = vm_failed(tf);
	bool had_copy;
	int ret;

	if (p >= pages_of(fsize(tf))) {
		ret = store(&tf->env, r, p, w, v);
		if (ret != DAX_FAULT_SIGBUS)
			bad_page(tf, "store beyond EOF: result", p, ret);
		return;
	}
	had_copy = r->ptes[p].kind == TH_PRIVATE;
	ret = store(&tf->env, r, p, w, v);
	if (ret && !(ret == DAX_FAULT_OOM && vm_failed(tf) > failed)) {
		bad_page(tf, "store: result", p, ret);
		return;
	}
	if (ri == R_PRIV) {
		/* A new copy holds the file as it is now. */
		if (!had_copy && r->ptes[p].kind == TH_PRIVATE)
			for (unsigned int i = 0; i < WORDS; i++)
				priv[i] = expect_shared(tf, p, i);
		if (!ret) {
			CHECK_EQ(r->ptes[p].kind, TH_PRIVATE);
			priv[w] = v;
		}
		return;
	}
	if (!ret) {
		ok_calls++;
		tf->touched[p] = 1;
		if (!past_eof)
			tf->shadow[p * WORDS + w] = v;
		/* Done: the store shows in every shared region. */
		check_load(tf, (ri + 1) % R_PRIV, p, w);
	} else {
		failed_calls++;
	}
}

/* A writeback of [first, last]; 0 means all of it is durable and clean. */
static void do_writeback(struct tfile *tf, uint64_t first, uint64_t last)
{
	struct th_env *env = &tf->env;
	uint64_t end = pages_of(fsize(tf));
	unsigned long failed = vm_failed(tf);
	int ret = dax_writeback(&env->f, first, last);

	if (ret == -ENOMEM && vm_failed(tf) > failed) {
		failed_calls++;
		return;
	}
	CHECK_EQ(ret, 0);
	ok_calls++;
	for (uint64_t p = first; p <= last && p < end; p++) {
		uint64_t b = th_fs_block_of(&env->fs, p);

		if (th_entry_dirty(&env->f, p))
			bad_page(tf, "DIRTY after writeback", p, 0);
		for (int r = 0; r < R_PRIV; r++)
			if (tf->r[r]->ptes[p].writable)
				bad_page(tf, "writable after writeback, region",
					 p, r);
		if (!tf->touched[p])
			continue; /* durable when last seen, unchanged since */
		if (b != TH_HOLE && !th_block_durable(&env->fs, b))
			bad_page(tf, "not durable after writeback, block", p,
				 (long long)b);
		tf->touched[p] = 0;
	}
}

/* Snapshot of the block map, to see that a failed call freed nothing. */
static uint64_t *map_save(struct tfile *tf)
{
	uint64_t *m = malloc(NR_PAGES * sizeof(*m));

	REQUIRE(m);
	for (uint64_t p = 0; p < NR_PAGES; p++)
		m[p] = th_fs_block_of(&tf->env.fs, p);
	return m;
}

static void map_same(struct tfile *tf, uint64_t *m, const char *what)
{
	for (uint64_t p = 0; p < NR_PAGES; p++)
		if (m[p] != th_fs_block_of(&tf->env.fs, p)) {
			bad_page(tf, what, p, (long long)m[p]);
			break;
		}
	free(m);
}

/* Zero shadow words [from, to) (bytes, 8-aligned). */
static void shadow_zero(struct tfile *tf, uint64_t from, uint64_t to)
{
	for (uint64_t i = from / 8; i < to / 8 && i < NR_PAGES * WORDS; i++)
		tf->shadow[i] = 0;
}

static void do_truncate(struct tfile *tf, uint64_t size)
{
	struct th_env *env = &tf->env;
	uint64_t old = fsize(tf), *m = map_save(tf);
	unsigned long failed = vm_failed(tf);
	int ret = dax_truncate(&env->f, size);

	if (ret == -ENOMEM && vm_failed(tf) > failed) {
		/* Nothing changed: size, blocks, data. */
		failed_calls++;
		CHECK_EQ(fsize(tf), old);
		map_same(tf, m, "block changed by a failed truncate");
		if (size < old)
			check_read(tf, size / DAX_PAGE_SIZE, pages_of(old) - 1);
		return;
	}
	free(m);
	CHECK_EQ(ret, 0);
	ok_calls++;
	CHECK_EQ(fsize(tf), size);
	/* The partial page at the new or the old EOF is zeroed. */
	touch(tf, size, size + 1);
	touch(tf, old, old + 1);
	if (size > old) {
		/* What grew reads zeros (the shadow has them): some of it. */
		uint64_t first = old / DAX_PAGE_SIZE;

		check_read(tf, first, first + t_rand_below(&tf->rng, 16));
		check_load(tf, (int)t_rand_below(&tf->rng, NR_REGIONS),
			   first + t_rand_below(&tf->rng,
						pages_of(size) - first),
			   (unsigned int)t_rand_below(&tf->rng, WORDS));
	}
	if (size < old) {
		shadow_zero(tf, size, old);
		for (uint64_t p = pages_of(size); p < pages_of(old); p++) {
			if (th_fs_block_of(&env->fs, p) != TH_HOLE)
				bad_page(tf, "block kept by truncate", p,
					 (long long)th_fs_block_of(&env->fs,
								   p));
			if (th_entry_present(&env->f, p))
				bad_page(tf, "entry kept by truncate", p, 0);
		}
	}
}

static void do_punch(struct tfile *tf, uint64_t off, uint64_t len)
{
	struct th_env *env = &tf->env;
	uint64_t size = fsize(tf), end = off + len, *m = map_save(tf);
	unsigned long failed = vm_failed(tf);
	int ret = dax_punch_hole(&env->f, off, len);

	if (ret == -ENOMEM && vm_failed(tf) > failed) {
		/* Nothing changed: blocks, data. */
		failed_calls++;
		CHECK_EQ(fsize(tf), size);
		map_same(tf, m, "block changed by a failed punch");
		check_read(tf, off / DAX_PAGE_SIZE,
			   (off + len - 1) / DAX_PAGE_SIZE);
		return;
	}
	free(m);
	CHECK_EQ(ret, 0);
	ok_calls++;
	CHECK_EQ(fsize(tf), size);
	if (end > size)
		end = size;
	if (off >= end)
		return;
	touch(tf, off, end);
	shadow_zero(tf, off, end);
	for (uint64_t p = pages_of(off); p < end / DAX_PAGE_SIZE; p++)
		if (th_fs_block_of(&env->fs, p) != TH_HOLE)
			bad_page(tf, "block kept by punch", p,
				 (long long)th_fs_block_of(&env->fs, p));
}

static void do_write(struct tfile *tf, uint64_t pos, uint64_t len)
{
	struct th_env *env = &tf->env;
	uint64_t size = fsize(tf), *buf = malloc(len), *now;
	unsigned long failed = vm_failed(tf);
	uint64_t done, want;
	ssize_t ret;

	REQUIRE(buf);
	for (uint64_t i = 0; i < len / 8; i++)
		buf[i] = next_stamp(tf, (pos + i * 8) / DAX_PAGE_SIZE);
	ret = dax_write(&env->f, buf, len, pos);
	touch(tf, size < pos ? size : pos, pos + len);
	if (ret == (ssize_t)len) {
		ok_calls++;
	} else if (ret == -ENOMEM || (ret > 0 && ret < (ssize_t)len)) {
		failed_calls++;
		if (vm_failed(tf) == failed)
			bad_page(tf, "write(2) failed, the VM did not",
				 pos / DAX_PAGE_SIZE, (long long)ret);
	} else {
		bad_page(tf, "write(2): result", pos / DAX_PAGE_SIZE,
			 (long long)ret);
		free(buf);
		return;
	}
	done = ret > 0 ? (uint64_t)ret : 0;
	/* Nothing written changes nothing, even past EOF (dax_write). */
	want = done && pos + done > size ? pos + done : size;
	CHECK_EQ(fsize(tf), want);
	/* (The gap between the old EOF and @pos is zero in the shadow.) */
	for (uint64_t i = 0; i < done / 8; i++)
		tf->shadow[pos / 8 + i] = buf[i];
	/*
	 * What was not reported written must be as it was: -errno (or a
	 * short count) says the rest was not written.
	 */
	if (done < len && pos + done < fsize(tf)) {
		uint64_t n = len - done;

		if (pos + done + n > fsize(tf))
			n = fsize(tf) - pos - done;
		now = malloc(n);
		REQUIRE(now);
		CHECK_EQ(dax_read(&env->f, now, n, pos + done), (ssize_t)n);
		for (uint64_t i = 0; i < n / 8; i++) {
			uint64_t at = (pos + done) / 8 + i;

			if (now[i] != tf->shadow[at])
				bad_word(tf, "unreported write(2) data",
					 at / WORDS, (unsigned int)(at % WORDS),
					 now[i], tf->shadow[at]);
		}
		free(now);
	}
	free(buf);
}

/* Failures for a phase: none, or 1 in 2..32 calls of some or all ops. */
static void set_failures(struct t_rng *rng, bool on)
{
	unsigned int one_in = 0, ops = ALL_OPS;

	if (on) {
		one_in = 2u << t_rand_below(rng, 5);
		if (t_rand_below(rng, 2))
			ops = (unsigned int)t_rand_below(rng, ALL_OPS) + 1;
	}
	for (int i = 0; i < 2; i++) {
		th_vm_fail_set(&files[i].env.vm, one_in, t_rand(rng));
		th_vm_fail_ops(&files[i].env.vm, ops);
	}
}

/* A random page, mostly inside the file, sometimes just beyond it. */
static uint64_t some_page(struct tfile *tf)
{
	uint64_t n = pages_of(fsize(tf));

	if (!n || !t_rand_below(&tf->rng, 16))
		return n + t_rand_below(&tf->rng, 3);
	return t_rand_below(&tf->rng, n);
}

/* A random 8-byte aligned size, pages and words, sometimes whole. */
static uint64_t some_size(struct t_rng *rng, uint64_t max_pages)
{
	uint64_t size = t_rand_below(rng, max_pages + 1) * DAX_PAGE_SIZE;

	if (size && t_rand_below(rng, 3) == 0)
		size -= 8 * (1 + t_rand_below(rng, WORDS - 1));
	return size;
}

static void random_step(struct tfile *tf)
{
	struct t_rng *rng = &tf->rng;
	uint64_t pages = pages_of(fsize(tf)), p, n;
	unsigned int what = (unsigned int)t_rand_below(rng, 100);

	if (what < 45) {
		int ri = (int)t_rand_below(rng, NR_REGIONS);

		step_what = "store";
		p = some_page(tf);
		do_store(tf, ri, p, (unsigned int)t_rand_below(rng, WORDS));
		/* A run of stores nearby: spans, PMDs, the same entries. */
		for (n = t_rand_below(rng, 8); n; n--)
			do_store(tf, (int)t_rand_below(rng, NR_REGIONS),
				 p + t_rand_below(rng, 16),
				 (unsigned int)t_rand_below(rng, WORDS));
	} else if (what < 60) {
		step_what = "load";
		for (n = 1 + t_rand_below(rng, 8); n; n--)
			check_load(tf, (int)t_rand_below(rng, NR_REGIONS),
				   some_page(tf),
				   (unsigned int)t_rand_below(rng, WORDS));
	} else if (what < 72) {
		step_what = "writeback";
		if (t_rand_below(rng, 3) == 0) {
			do_writeback(tf, 0, NR_PAGES - 1);
		} else {
			p = t_rand_below(rng, NR_PAGES);
			do_writeback(tf, p, p + t_rand_below(rng, 64));
		}
	} else if (what < 79) {
		step_what = "truncate";
		if (t_rand_below(rng, 2))
			do_truncate(tf, some_size(rng, pages));
		else
			do_truncate(tf, some_size(rng, NR_PAGES));
	} else if (what < 85) {
		step_what = "punch hole";
		p = t_rand_below(rng, pages + 1);
		do_punch(tf, p * DAX_PAGE_SIZE + 8 * t_rand_below(rng, WORDS),
			 8 * (1 + t_rand_below(rng, 4 * WORDS)));
	} else if (what < 95) {
		step_what = "write(2)";
		p = t_rand_below(rng, pages + 2);
		if (p >= NR_PAGES - 3)
			p = NR_PAGES - 4;
		do_write(tf, p * DAX_PAGE_SIZE + 8 * t_rand_below(rng, WORDS),
			 8 * (1 + t_rand_below(rng, 3 * WORDS)));
	} else {
		step_what = "read(2)";
		p = t_rand_below(rng, pages + 1);
		check_read(tf, p, p + t_rand_below(rng, 4));
	}
}

/*
 * The end checks: with the VM working, one writeback of everything
 * succeeds, and then every page's durable copy, read(2) and every region
 * (faulted in anew) show the shadow.
 */
static void final_check(struct tfile *tf)
{
	struct th_env *env = &tf->env;
	uint64_t pages = pages_of(fsize(tf));

	step_what = "final";
	th_vm_fail_set(&env->vm, 0, 0);
	CHECK_EQ(dax_writeback(&env->f, 0, NR_PAGES - 1), 0);
	for (uint64_t p = 0; p < pages; p++) {
		uint64_t b = th_fs_block_of(&env->fs, p);

		CHECK(!th_entry_dirty(&env->f, p));
		if (b == TH_HOLE)
			continue;
		if (!th_block_durable(&env->fs, b))
			bad_page(tf, "not durable at the end, block", p,
				 (long long)b);
		for (unsigned int w = 0; w < WORDS; w++) {
			uint64_t want = expect_shared(tf, p, w);

			if (want != UNKNOWN && durable_word(env, p, w) != want)
				bad_word(tf, "durable at the end", p, w,
					 durable_word(env, p, w), want);
		}
	}
	check_read(tf, 0, NR_PAGES - 1);
	CHECK_EQ(th_vm_ops.zap(&env->vm, 0, NR_PAGES - 1, DAX_ZAP_SHARED), 0);
	for (uint64_t p = 0; p < pages; p++)
		for (int r = 0; r < NR_REGIONS; r++)
			check_load(tf, r, p,
				   (unsigned int)((p * 7 + (uint64_t)r * 131) %
						  WORDS));
	check_step(tf);
}

static void part2_random(void)
{
	unsigned long steps = t_long ? 400000 : 20000, failed = 0;
	struct t_rng rng;
	bool on = false;
	double t0 = t_now();

#ifdef UDAX_TSAN
	/* One thread here: what ThreadSanitizer is run for is part 3. */
	steps /= 4;
#endif

	t_rng_init(&rng, t_seed);
	for (int i = 0; i < 2; i++) {
		tfile_init(&files[i], i, some_size(&rng, NR_PAGES));
		t_rng_init(&files[i].rng, t_seed + 1 + (uint64_t)i);
	}
	for (step_no = 0; step_no < steps; step_no++) {
		struct tfile *tf = &files[t_rand_below(&rng, 2)];

		/* Phases of a few dozen steps, with failures or without. */
		if (step_no % 40 == 0) {
			on = step_no && t_rand_below(&rng, 3) != 0;
			set_failures(&rng, on);
		}
		random_step(tf);
		check_step(tf);
		if (step_no % 499 == 0)
			check_read(tf, 0, NR_PAGES - 1);
	}
	for (int i = 0; i < 2; i++) {
		failed += th_vm_failed(&files[i].env.vm, ALL_OPS);
		final_check(&files[i]);
	}
	printf("part 2: %lu steps in %.1f s, %lu VM failures injected, %lu "
	       "calls succeeded, %lu failed; spans %lu (%lu pages, %lu "
	       "refused)\n",
	       steps, t_now() - t0, failed, ok_calls, failed_calls,
	       atomic_load(&files[0].env.vm.spans) +
		       atomic_load(&files[1].env.vm.spans),
	       atomic_load(&files[0].env.vm.span_pages) +
		       atomic_load(&files[1].env.vm.span_pages),
	       atomic_load(&files[0].env.vm.spans_refused) +
		       atomic_load(&files[1].env.vm.spans_refused));
	CHECK(failed > 0);
	for (int i = 0; i < 2; i++)
		tfile_destroy(&files[i]);
}

/* ---- part 3: concurrent ---- */

#define GROUP 8 /* pages a storer owns in a row */

struct worker {
	pthread_t thread;
	int id; /* 0, 1: storers; 2: writeback; 3: loads */
	struct tfile *tf;
	struct t_rng rng;
	unsigned long ops, errors;
	atomic_bool *stop;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct tfile *tf = wk->tf;
	struct th_env *env = &tf->env;
	uint64_t buf[WORDS];

	while (!atomic_load(wk->stop)) {
		uint64_t p = t_rand_below(&wk->rng, NR_PAGES), v;
		unsigned int w = (unsigned int)t_rand_below(&wk->rng, WORDS);
		int ri = (int)t_rand_below(&wk->rng, R_PRIV), ret;

		wk->ops++;
		if (wk->id == 2) {
			ret = dax_writeback(&env->f, p,
					    p + t_rand_below(&wk->rng, 128));
			wk->errors += ret != 0;
			continue;
		}
		if (wk->id == 3) {
			ri = (int)t_rand_below(&wk->rng, NR_REGIONS);
			ret = th_access(env, tf->r[ri], p, w, false, &v);
			if (!ret && ri != R_PRIV && v && !th_stamp_ok(p, v))
				th_violation("page %llu word %u reads %#llx",
					     (unsigned long long)p, w,
					     (unsigned long long)v);
			wk->errors += ret != 0;
			continue;
		}
		/* One of our own pages. */
		p = p / (2 * GROUP) * (2 * GROUP) + (uint64_t)wk->id * GROUP +
		    p % GROUP;
		if (t_rand_below(&wk->rng, 8) == 0) {
			ssize_t got;

			/* A whole page through write(2). */
			for (unsigned int i = 0; i < WORDS; i++)
				buf[i] = next_stamp(tf, p);
			got = dax_write(&env->f, buf, sizeof(buf),
					p * DAX_PAGE_SIZE);
			if (got > 0)
				memcpy(&tf->shadow[p * WORDS], buf,
				       (size_t)got);
			wk->errors += got != (ssize_t)sizeof(buf);
			continue;
		}
		v = next_stamp(tf, p);
		ret = store(env, tf->r[ri], p, w, v);
		if (!ret)
			tf->shadow[p * WORDS + w] = v;
		else
			wk->errors++;
		/* Our own page: what we stored last, whatever failed. */
		ret = th_access(env, tf->r[(ri + 1) % R_PRIV], p, w, false,
				&v);
		if (!ret && v != tf->shadow[p * WORDS + w])
			th_violation("page %llu word %u reads %#llx, stored "
				     "%#llx",
				     (unsigned long long)p, w,
				     (unsigned long long)v,
				     (unsigned long long)
					     tf->shadow[p * WORDS + w]);
	}
	return NULL;
}

static void part3_concurrent(void)
{
	struct worker wk[4];
	struct tfile *tf = &files[0];
	atomic_bool stop = false;
	double secs = t_long ? 20 : 2, t0 = t_now();
	unsigned long ops = 0, errors = 0, failed;

	tfile_init(tf, 0, NR_PAGES * DAX_PAGE_SIZE);
	th_vm_fail_set(&tf->env.vm, 8, t_seed ^ 0x3);
	for (int i = 0; i < 4; i++) {
		wk[i] = (struct worker){ .id = i, .tf = tf, .stop = &stop };
		t_rng_init(&wk[i].rng, t_seed + 100 + (uint64_t)i);
		REQUIRE(pthread_create(&wk[i].thread, NULL, worker_main,
				       &wk[i]) == 0);
	}
	while (t_now() - t0 < secs && !th_violations())
		usleep(10000);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(wk[i].thread, NULL);
		ops += wk[i].ops;
		errors += wk[i].errors;
	}
	failed = th_vm_failed(&tf->env.vm, ALL_OPS);
	step_no = 0;
	check_step(tf);
	final_check(tf);
	printf("part 3: %lu operations by 4 threads, %lu VM failures "
	       "injected, %lu calls failed\n",
	       ops, failed, errors);
	CHECK(failed > 0);
	tfile_destroy(tf);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(t_long ? 1200 : 240);
	part_a();
	part_b();
	part_c();
	part_d();
	part_e();
	CHECK_EQ(th_violations(), 0);
	part2_random();
	part3_concurrent();
	CHECK_EQ(th_violations(), 0);
	return t_done("fault_vm_fail");
}
