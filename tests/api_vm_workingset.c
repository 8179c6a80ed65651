/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_vm_workingset - a working set of pages far beyond what the kernel
 * would let a process map one 4 KiB piece at a time, through a real udax
 * mapping: the mapping budget must keep udax under vm.max_map_count by
 * reclaiming cold 2 MiB windows, and reclaim must lose nothing.
 *
 * The mapping is placed 4 KiB past a 2 MiB boundary of address space
 * with file offset 0, so no 2 MiB of the file lands on an aligned 2 MiB
 * of memory: every fault maps 4 KiB pieces or spans inside a window, the
 * case that eats kernel mappings (checked: faults_pmd stays 0). Cases:
 *   a  a fully allocated file (udax_fallocate), 1 GiB (4 GiB with -l);
 *   b  a 64 GiB sparse file (udax_ftruncate only) in a small pool;
 * each with the default budget and with udax_set_map_budget(300).
 *
 * Each run: N random loads and N random stores (N = 60,000, 1,000,000
 * with -l) in random order; a store puts a stamp naming page, word and
 * round at a random word of a random page, and a shadow (a hash of word
 * -> stamp) remembers it, so every load is checked exactly (a word never
 * stored reads 0: fallocated blocks and holes are zeros). Then:
 *  - no SIGBUS at all (nothing is beyond EOF, the pool has room, and
 *    running out of kernel mappings is what the budget prevents);
 *  - udax_msync of the whole mapping returns 0, writeback_pages grows by
 *    at least the number of distinct pages stored to (most of them were
 *    reclaimed meanwhile with budget 300: a reclaimed dirty page keeps
 *    its DIRTY tag), and every stamp reads back through udax_pread;
 *  - a second round of stores into pages written in the first, msync
 *    again: writeback_pages must grow by at least the number of distinct
 *    pages dirtied again (a page written after its writeback is seen,
 *    by mkwrite or, reclaimed, by a full fault), and every stamp reads
 *    back again;
 *  - map_errors 0 (the kernel never refused a call), map_count within
 *    the budget plus a small slack, and no more kernel mappings inside
 *    the region (counted in /proc/self/maps) than map_count claims as an
 *    upper bound; with budget 300, map_reclaims must have grown.
 * The pool is closed and checked with fsck after each run.
 *
 * Bugs it catches: SIGBUS from a mapping refused at vm.max_map_count
 * (no reclaim, or an edge count that undercounts and lets the process
 * run into the limit), a reclaim that drops DIRTY or resets a window
 * while an insert is in flight (lost or unflushed stores, stale zero
 * pages over blocks: the exact load and pread checks), a reset that
 * splits a mapping (more VMAs than counted), a reclaim whose cost grows
 * with the region instead of the window (the run crawls: "slow" lines,
 * then the watchdog).
 *
 * Pools go to /dev/shm (else $TMPDIR): the sparse pool then uses memory
 * only for the blocks written, and a flush costs nothing.
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define PG 4096ULL
#define WORDS 512U
#define HUGE (2 * MiB)
#define SLACK 64 /* map_count over the budget that we tolerate */

/* ---- the shadow: word number (page * WORDS + word) -> last stamp ---- */

struct shadow {
	uint64_t *key; /* word number + 1; 0 = empty slot */
	uint64_t *val;
	uint64_t mask; /* slots - 1 */
	uint64_t nr;
	/* Distinct words in order of first store, to pick written pages. */
	uint64_t *order;
};

static void shadow_init(struct shadow *s, uint64_t max)
{
	uint64_t slots = 1;

	while (slots < 2 * max)
		slots <<= 1;
	s->key = calloc(slots, sizeof(*s->key));
	s->val = calloc(slots, sizeof(*s->val));
	s->order = calloc(max, sizeof(*s->order));
	REQUIRE(s->key && s->val && s->order);
	s->mask = slots - 1;
	s->nr = 0;
}

static void shadow_free(struct shadow *s)
{
	free(s->key);
	free(s->val);
	free(s->order);
}

static uint64_t slot_of(const struct shadow *s, uint64_t word)
{
	/* Fibonacci hashing: pages close together spread over the table. */
	uint64_t i = ((word + 1) * 0x9E3779B97F4A7C15ULL) >> 20;

	for (;; i++) {
		uint64_t k = s->key[i & s->mask];

		if (!k || k == word + 1)
			return i & s->mask;
	}
}

static uint64_t shadow_get(const struct shadow *s, uint64_t word)
{
	uint64_t i = slot_of(s, word);

	return s->key[i] ? s->val[i] : 0;
}

static void shadow_set(struct shadow *s, uint64_t word, uint64_t v)
{
	uint64_t i = slot_of(s, word);

	if (!s->key[i]) {
		s->key[i] = word + 1;
		s->order[s->nr++] = word;
	}
	s->val[i] = v;
}

static uint64_t stamp(uint64_t pg, unsigned int w, unsigned int round,
		      uint64_t seq)
{
	return 1ULL << 63 | (pg & 0xffffff) << 32 | (uint64_t)w << 20 |
	       (uint64_t)round << 16 | (seq & 0xffff);
}

/* ---- the run ---- */

struct run {
	const char *name;
	bool sparse;	    /* case b: ftruncate only */
	uint64_t file_size; /* bytes */
	uint64_t pool_size;
	uint64_t budget;    /* 0: the default */
};

static struct udax_stats file_stats(struct udax_file *f)
{
	struct udax_stats st;

	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	return st;
}

/*
 * An address 4 KiB past a 2 MiB boundary with @len bytes free after it:
 * reserve room, note the boundary and give the room back. The room goes
 * on well past the end: udax_mmap allocates its page-state arrays (1 byte
 * per page: 16 MiB for 64 GiB) before it reserves, and the allocator's
 * mmap takes the top of the highest hole that fits, which would be ours.
 */
static void *misaligned_hint(uint64_t len)
{
	uint64_t room = len + 2 * HUGE + len / PG * 2 + 64 * MiB;
	void *p = mmap(NULL, room, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	REQUIRE(p != MAP_FAILED);
	a = ((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
	REQUIRE(munmap(p, room) == 0);
	return (void *)(a + PG);
}

/*
 * Map all of @f at a misaligned hint; if something took the hole in the
 * meantime udax places the mapping elsewhere (aligned), so try again.
 */
static void *map_misaligned(struct udax_file *f, uint64_t len)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		void *hint = misaligned_hint(len), *p;

		REQUIRE(udax_mmap(f, hint, len, PROT_READ | PROT_WRITE,
				  MAP_SHARED, 0, &p) == 0);
		if (p == hint)
			return p;
		REQUIRE(udax_munmap(p, len) == 0);
	}
	fprintf(stderr, "udax_mmap never used the hint\n");
	exit(T_FAIL);
}

/* Kernel mappings (lines of /proc/self/maps) inside [lo, hi). */
static uint64_t vmas_inside(const char *lo, const char *hi)
{
	FILE *fp = fopen("/proc/self/maps", "r");
	unsigned long s, e;
	uint64_t n = 0;
	char line[512];

	REQUIRE(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 &&
		    (uintptr_t)lo < e && s < (uintptr_t)hi)
			n++;
	fclose(fp);
	return n;
}

/* Read back every stamp of @s through udax_pread. */
static uint64_t check_stamps(struct udax_file *f, const struct shadow *s)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < s->nr; i++) {
		uint64_t w = s->order[i], v = 0, want = shadow_get(s, w);

		REQUIRE(udax_pread(f, &v, 8, w * 8) == 8);
		if (v != want && bad++ < 5)
			fprintf(stderr, "pread page %llu word %llu: %#llx, "
				"stored %#llx\n",
				(unsigned long long)(w / WORDS),
				(unsigned long long)(w % WORDS),
				(unsigned long long)v,
				(unsigned long long)want);
	}
	return bad;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Distinct values among @nr page numbers (sorts them; UINT64_MAX = none). */
static uint64_t distinct_pages(uint64_t *pg, uint64_t nr)
{
	uint64_t d = 0;

	qsort(pg, nr, sizeof(*pg), cmp_u64);
	for (uint64_t i = 0; i < nr && pg[i] != UINT64_MAX; i++)
		if (!i || pg[i] != pg[i - 1])
			d++;
	return d;
}

/*
 * The pool of the run in progress. A run the watchdog stops leaves no
 * pool behind: on /dev/shm a gigabyte pool holds hundreds of megabytes
 * of memory until someone removes it.
 */
static char pool_path[300];

static void watchdog_fire(int sig)
{
	/* unlink and rmdir are async-signal-safe. */
	if (pool_path[0])
		unlink(pool_path);
	rmdir(t_dir);
	t_watchdog_fire(sig);
}

static void one_run(const struct run *run, uint64_t n, uint64_t seed)
{
	uint64_t pages = run->file_size / PG, n2 = n / 2, seq = 0;
	uint64_t loads = 0, stores = 0, bus = 0, bad_loads = 0, bad;
	uint64_t reclaims0, wb0, distinct, *redirtied;
	struct udax_stats st, st0;
	struct udax_pool *pool;
	struct udax_file *f;
	struct shadow sh;
	struct t_rng rng;
	char *path = pool_path, budget[24];
	double t0 = t_now(), t1, t_slow = t0;
	uint64_t *m;
	void *p;

	if (run->budget)
		snprintf(budget, sizeof(budget), "%llu",
			 (unsigned long long)run->budget);
	else
		snprintf(budget, sizeof(budget), "default");
	printf("%s: %llu MiB %s file, budget %s, %llu loads + %llu stores\n",
	       run->name, (unsigned long long)(run->file_size / MiB),
	       run->sparse ? "sparse" : "allocated", budget,
	       (unsigned long long)n, (unsigned long long)n);
	fflush(stdout);
	t_rng_init(&rng, seed);
	REQUIRE(udax_set_map_budget(run->budget) == 0);
	t_path(pool_path, sizeof(pool_path), "pool");
	REQUIRE(udax_pool_create(path, run->pool_size, &pool) == 0);
	REQUIRE(udax_open(pool, "ws", O_RDWR | O_CREAT, 0644, &f) == 0);
	if (run->sparse)
		REQUIRE(udax_ftruncate(f, run->file_size) == 0);
	else
		REQUIRE(udax_fallocate(f, 0, 0, run->file_size) == 0);

	p = map_misaligned(f, run->file_size);
	m = p;
	st0 = file_stats(f);
	reclaims0 = st0.map_reclaims;
	shadow_init(&sh, n + n2);
	redirtied = calloc(n2 ? n2 : 1, sizeof(*redirtied));
	REQUIRE(redirtied);

	/* Round 1: loads and stores, in random order. */
	while (loads < n || stores < n) {
		uint64_t r = t_rand(&rng);
		uint64_t pg = t_rand_below(&rng, pages);
		unsigned int w = (unsigned int)(r >> 8) % WORDS;
		uint64_t word = pg * WORDS + w, v;
		bool store = stores < n && (loads >= n || (r & 1));

		/*
		 * Say so when it crawls, before the watchdog calls it a hang:
		 * a reclaim whose cost grows with the region looks like one.
		 */
		if (!((loads + stores) & 0xff) && t_now() - t_slow > 30) {
			t_slow = t_now();
			printf("%s: slow: %llu of %llu accesses after %.0f s "
			       "(%llu reclaims)\n",
			       run->name,
			       (unsigned long long)(loads + stores),
			       (unsigned long long)(2 * n), t_slow - t0,
			       (unsigned long long)(file_stats(f).map_reclaims -
						    reclaims0));
			fflush(stdout);
		}
		if (store) {
			v = stamp(pg, w, 1, ++seq);
			stores++;
			if (!t_store(&m[word], v)) {
				bus++;
				continue;
			}
			shadow_set(&sh, word, v);
			continue;
		}
		loads++;
		if (!t_load(&m[word], &v)) {
			bus++;
			continue;
		}
		if (v != shadow_get(&sh, word) && bad_loads++ < 5)
			fprintf(stderr, "load page %llu word %u: %#llx, "
				"stored %#llx\n",
				(unsigned long long)pg, w,
				(unsigned long long)v,
				(unsigned long long)shadow_get(&sh, word));
	}
	t1 = t_now();
	CHECK_EQ(bus, 0);
	CHECK_EQ(bad_loads, 0);
	/*
	 * Every page stored to is DIRTY, reclaimed since or not, and this
	 * msync writes back each one.
	 */
	{
		uint64_t *pgs = malloc((sh.nr ? sh.nr : 1) * sizeof(*pgs));
		uint64_t written, wb;

		REQUIRE(pgs);
		for (uint64_t i = 0; i < sh.nr; i++)
			pgs[i] = sh.order[i] / WORDS;
		written = distinct_pages(pgs, sh.nr);
		free(pgs);
		CHECK_EQ(udax_msync(p, run->file_size, MS_SYNC), 0);
		wb = file_stats(f).writeback_pages - st0.writeback_pages;
		if (wb < written) {
			fprintf(stderr, "%s: %llu pages stored to, only %llu "
				"written back\n",
				run->name, (unsigned long long)written,
				(unsigned long long)wb);
			CHECK(wb >= written);
		}
	}
	bad = check_stamps(f, &sh);
	CHECK_EQ(bad, 0);

	/*
	 * Round 2: pages written in round 1 (clean and write-protected by the
	 * msync, or reclaimed since) are written again. Each must come back
	 * DIRTY and be written back by the next msync.
	 */
	st = file_stats(f);
	wb0 = st.writeback_pages;
	{
		uint64_t written = sh.nr;

		for (uint64_t i = 0; i < n2; i++) {
			uint64_t pg = sh.order[t_rand_below(&rng, written)] /
				      WORDS;
			unsigned int w = (unsigned int)t_rand_below(&rng,
								    WORDS);
			uint64_t v = stamp(pg, w, 2, ++seq);

			redirtied[i] = UINT64_MAX;
			if (!t_store(&m[pg * WORDS + w], v)) {
				bus++;
				continue;
			}
			shadow_set(&sh, pg * WORDS + w, v);
			redirtied[i] = pg;
		}
	}
	distinct = distinct_pages(redirtied, n2);
	CHECK_EQ(bus, 0);
	CHECK_EQ(udax_msync(p, run->file_size, MS_SYNC), 0);
	st = file_stats(f);
	if (st.writeback_pages - wb0 < distinct) {
		fprintf(stderr, "%s: %llu pages written again, only %llu "
			"written back\n",
			run->name, (unsigned long long)distinct,
			(unsigned long long)(st.writeback_pages - wb0));
		CHECK(st.writeback_pages - wb0 >= distinct);
	}
	bad = check_stamps(f, &sh);
	CHECK_EQ(bad, 0);

	{
		uint64_t vmas = vmas_inside((char *)p,
					    (char *)p + run->file_size);

		printf("%s: %.1f s (round 1 %.1f s); map_count %llu (%llu "
		       "VMAs in the region) map_budget %llu map_reclaims "
		       "%llu; faults pte %llu pmd %llu read %llu write %llu "
		       "mkwrite %llu hole %llu; map_calls %llu map_errors "
		       "%llu; writeback %llu (%llu pages dirtied again); "
		       "%llu words stamped\n",
		       run->name, t_now() - t0, t1 - t0,
		       (unsigned long long)st.map_count,
		       (unsigned long long)vmas,
		       (unsigned long long)st.map_budget,
		       (unsigned long long)(st.map_reclaims - reclaims0),
		       (unsigned long long)st.faults_pte,
		       (unsigned long long)st.faults_pmd,
		       (unsigned long long)st.faults_read,
		       (unsigned long long)st.faults_write,
		       (unsigned long long)st.faults_mkwrite,
		       (unsigned long long)st.faults_hole,
		       (unsigned long long)st.map_calls,
		       (unsigned long long)st.map_errors,
		       (unsigned long long)(st.writeback_pages - wb0),
		       (unsigned long long)distinct,
		       (unsigned long long)sh.nr);
		fflush(stdout);
		CHECK_EQ(st.faults_pmd, 0);
		CHECK_EQ(st.sigbus, 0);
		/* Under the budget, the kernel never has to refuse. */
		CHECK_EQ(st.map_errors, 0);
		CHECK(st.map_count <= st.map_budget + SLACK);
		/* map_count is an upper bound of the kernel's own count. */
		CHECK(vmas <= st.map_count);
		if (run->budget) {
			CHECK_EQ(st.map_budget, run->budget);
			CHECK(st.map_reclaims > reclaims0);
		}
	}

	REQUIRE(udax_munmap(p, run->file_size) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	REQUIRE(unlink(path) == 0);
	pool_path[0] = 0;
	shadow_free(&sh);
	free(redirtied);
}

int main(int argc, char **argv)
{
	uint64_t n, alloc_size;
	struct run runs[4];

	t_init(argc, argv);
	t_watchdog(t_long ? 3600 : 240);
	signal(SIGALRM, watchdog_fire);
	n = t_long ? 1000000 : 60000;
	alloc_size = t_long ? 4 * GiB : 1 * GiB;
	/*
	 * /dev/shm first: the 64 GiB file's pool is sparse there and uses
	 * memory only for the blocks written (fallocate writes zeros into
	 * all of case a's, 4 GiB at most), and a flush costs nothing.
	 */
	if (access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	t_tmpdir();
	t_catch_sigbus();

	/* Case b writes n + n / 2 blocks at most, one per store. */
	runs[0] = (struct run){ "a/default", false, alloc_size,
				alloc_size + 256 * MiB, 0 };
	runs[1] = (struct run){ "a/300", false, alloc_size,
				alloc_size + 256 * MiB, 300 };
	runs[2] = (struct run){ "b/default", true, 64 * GiB,
				t_long ? 8 * GiB : 1 * GiB, 0 };
	runs[3] = (struct run){ "b/300", true, 64 * GiB,
				t_long ? 8 * GiB : 1 * GiB, 300 };
	for (unsigned int i = 0; i < 4 && !t_failures; i++)
		one_run(&runs[i], n, t_seed * 4 + i);
	REQUIRE(udax_set_map_budget(0) == 0);
	t_cleanup();
	return t_done("api_vm_workingset");
}
