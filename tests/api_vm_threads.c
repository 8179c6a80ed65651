/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_vm_threads - reclaim racing faults, writeback and truncate, through
 * one real shared mapping, under a mapping budget of 64..200 so that the
 * reclaimer runs all the time and resets windows that other threads are
 * faulting into, writing back and truncating.
 *
 * The file is NP pages: worker pages [0, WP) and a tail [WP, NP). The
 * last 2 MiB of the file holds the tail and the last worker pages, so a
 * truncate of the tail also unmaps (and splits) 2 MiB mappings that the
 * workers use. Threads, for a few seconds each round:
 *   workers: page p of [0, WP) belongs to worker p % nw. In random order
 *     each loads from its pages (the value must be exactly its own last
 *     store there: a stale mapping, a zero page over a block or a lost
 *     store reads something else) and stores stamps (page, word, worker,
 *     count) to them; no SIGBUS is allowed (the pages are always inside
 *     EOF and the pool has room);
 *   msync: udax_msync of the whole mapping or a random range, in a loop;
 *     every call must return 0 (nothing makes the kernel refuse a call);
 *   truncator: cuts the file to a random size inside the tail, then
 *     grows it back to NP pages, in a loop (0 from every call), and now
 *     and then udax_pwrite()s tail stamps so that truncate has blocks to
 *     free under mappings;
 *   checker: loads from and stores its stamps to random tail words: a
 *     load reads 0 or a tail stamp naming that very word (another's is a
 *     block freed by truncate and reused while still mapped), not one
 *     that a completed cut removed after it was written (a stale mapping
 *     of the freed block; cuts are numbered, stamps carry the number),
 *     not one of its own older than its last store there (a lost store);
 *     or raises SIGBUS (beyond EOF at that moment).
 * A watchdog turns a hang into a failure. After each round: udax_msync of
 * the whole mapping returns 0, every worker word reads back as the shadow
 * through the mapping and udax_pread, map_count is within the budget (plus
 * a small slack) and reclaims happened. Rounds: 2 and 4 workers, each
 * with the mapping where udax puts it (2 MiB-aligned) and 4 KiB past a
 * 2 MiB boundary (4 KiB pieces only). At the end the pool is closed and
 * fsck must be clean. Runs under ASan and TSan (CONCURRENCY).
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL
#define WPP 512U
#define NP 2048ULL		  /* 8 MiB: four 2 MiB windows */
#define WP (1536ULL + 128)	  /* worker pages; the tail is the rest */
#define MAXWK 4
#define SLACK 64

/* Stamp kinds: a worker's store, the checker's, the truncator's pwrite. */
enum { K_WORKER, K_CHECKER, K_PWRITE };

/*
 * The cuts: before its k-th cut the truncator sets cut_size[k % HIST] and
 * cut_begun = k, after udax_ftruncate returns cut_done = k. A tail word
 * written before cut k began, at a byte offset the cut removed, must read
 * 0 once cut k is done (until written again): the checker's staleness
 * test.
 */
#define HIST 4096
static _Atomic uint64_t cut_size[HIST];
static atomic_ulong cut_begun, cut_done;

static struct udax_file *f;
static uint64_t *map;
/* WP * WPP words; a word is written only by the worker owning its page. */
static uint64_t *shadow;
static atomic_bool stop;
static atomic_ulong bad;
static unsigned int nwk;

enum {
	C_LOADS, C_STORES, C_MSYNCS, C_TRUNCS, C_TAIL_LOADS, C_TAIL_STORES,
	C_TAIL_PWRITES, C_TAIL_BUS, NR_COUNTS
};
static atomic_ulong cnt[NR_COUNTS];

static void count(unsigned int c, unsigned long n)
{
	atomic_fetch_add_explicit(&cnt[c], n, memory_order_relaxed);
}

static uint64_t ctr_of(uint64_t v)
{
	return v & 0x7ffffff;
}

static uint64_t stamp(unsigned int kind, uint64_t pg, unsigned int w,
		      unsigned int tid, uint64_t ctr)
{
	return 1ULL << 63 | (uint64_t)kind << 61 | (pg & 0xfffff) << 40 |
	       (uint64_t)w << 31 | (uint64_t)tid << 27 | (ctr & 0x7ffffff);
}

static void report(const char *who, uint64_t pg, unsigned int w,
		   uint64_t v, uint64_t want)
{
	fprintf(stderr, "%s: page %llu word %u: %#llx (kind %llu, page %llu, "
		"word %llu), expected %#llx\n",
		who, (unsigned long long)pg, w, (unsigned long long)v,
		(unsigned long long)((v >> 61) & 3),
		(unsigned long long)((v >> 40) & 0xfffff),
		(unsigned long long)((v >> 31) & 0x1ff),
		(unsigned long long)want);
	atomic_fetch_add(&bad, 1);
}

struct worker {
	pthread_t thread;
	unsigned int tid;
	struct t_rng rng;
};

static void *worker(void *arg)
{
	struct worker *wk = arg;
	uint64_t mine = (WP - wk->tid + nwk - 1) / nwk; /* pages it owns */
	unsigned long ctr = 0, loads = 0, stores = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = t_rand(&wk->rng);
		uint64_t pg = wk->tid + t_rand_below(&wk->rng, mine) * nwk;
		unsigned int w = (unsigned int)(r >> 8) % WPP;
		uint64_t *sh = &shadow[pg * WPP + w], v;

		if (r & 1) {
			v = stamp(K_WORKER, pg, w, wk->tid, ++ctr);
			stores++;
			if (!t_astore(&map[pg * WPP + w], v)) {
				fprintf(stderr, "worker %u: SIGBUS storing "
					"to page %llu\n",
					wk->tid, (unsigned long long)pg);
				atomic_fetch_add(&bad, 1);
				continue;
			}
			*sh = v;
			continue;
		}
		loads++;
		if (!t_aload(&map[pg * WPP + w], &v)) {
			fprintf(stderr, "worker %u: SIGBUS loading from page "
				"%llu\n",
				wk->tid, (unsigned long long)pg);
			atomic_fetch_add(&bad, 1);
			continue;
		}
		if (v != *sh)
			report("worker load", pg, w, v, *sh);
	}
	count(C_LOADS, loads);
	count(C_STORES, stores);
	return NULL;
}

static void *msyncer(void *arg)
{
	struct t_rng rng;

	t_rng_init(&rng, (uint64_t)(uintptr_t)arg);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t a = 0, n = NP;
		int err;

		if (t_rand_below(&rng, 2)) {
			a = t_rand_below(&rng, NP);
			n = 1 + t_rand_below(&rng, NP - a);
		}
		err = udax_msync(map + a * WPP, n * PG, MS_SYNC);
		if (err) {
			fprintf(stderr, "msync of pages %llu+%llu: %d\n",
				(unsigned long long)a, (unsigned long long)n,
				err);
			atomic_fetch_add(&bad, 1);
		}
		count(C_MSYNCS, 1);
	}
	return NULL;
}

static void *truncator(void *arg)
{
	struct t_rng rng;
	uint64_t buf[WPP];

	t_rng_init(&rng, (uint64_t)(uintptr_t)arg);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		/* Into the tail, a whole page or a multiple of 8 bytes. */
		uint64_t s = WP * PG +
			     t_rand_below(&rng, (NP - WP) * PG / 8) * 8;
		unsigned long k = atomic_load(&cut_begun) + 1;
		int err;

		if (t_rand_below(&rng, 2))
			s &= ~(PG - 1);
		atomic_store(&cut_size[k % HIST], s);
		atomic_store(&cut_begun, k);
		err = udax_ftruncate(f, s);
		if (!err) {
			atomic_store(&cut_done, k);
			if (t_rand_below(&rng, 4) == 0)
				usleep((useconds_t)t_rand_below(&rng, 200));
			err = udax_ftruncate(f, NP * PG);
		}
		if (err) {
			fprintf(stderr, "truncate: %d\n", err);
			atomic_fetch_add(&bad, 1);
			atomic_store(&cut_done, k);
		}
		count(C_TRUNCS, 1);
		if (t_rand_below(&rng, 2) == 0) {
			/*
			 * Blocks in the tail, for the next cut to free, with
			 * the number of the last cut, which is done.
			 */
			uint64_t pg = WP + t_rand_below(&rng, NP - WP);
			unsigned int w0 = (unsigned int)t_rand_below(&rng, WPP);
			unsigned int nw = 1 + (unsigned int)t_rand_below(
						      &rng, WPP - w0);
			ssize_t got;

			for (unsigned int i = 0; i < nw; i++)
				buf[i] = stamp(K_PWRITE, pg, w0 + i, 0, k);
			got = udax_pwrite(f, buf, nw * 8, pg * PG + w0 * 8);
			if (got != (ssize_t)(nw * 8)) {
				fprintf(stderr, "tail pwrite: %zd\n", got);
				atomic_fetch_add(&bad, 1);
			}
			count(C_TAIL_PWRITES, 1);
		}
	}
	return NULL;
}

/*
 * Was tail word @x (a word number of the file) removed by a cut after
 * cut @g and no later than cut @done? Then what was written there before
 * cut g + 1 began must be gone. Unknown (false) if the history has moved
 * on too far.
 */
static bool cut_since(uint64_t x, unsigned long g, unsigned long done)
{
	if (done <= g || done - g >= HIST / 2)
		return false;
	for (unsigned long k = g + 1; k <= done; k++)
		if (atomic_load(&cut_size[k % HIST]) <= x * 8)
			return atomic_load(&cut_begun) - g < HIST / 2;
	return false;
}

/*
 * The checker. Per tail word it remembers its own last store there, the
 * cut that had begun before it (so every later cut began after it, unless
 * a cut began while the store ran: then the store's order against that
 * cut is unknown and it is not judged).
 */
struct ck_word {
	uint64_t v;
	unsigned long gen;
	bool known;
};

/* Kept across rounds: the tail keeps what earlier rounds stored. */
static struct ck_word ck_last[(NP - WP) * WPP];
static unsigned long ck_ctr;

static void *checker(void *arg)
{
	struct ck_word *last = ck_last;
	struct t_rng rng;

	t_rng_init(&rng, (uint64_t)(uintptr_t)arg);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t pg = WP + t_rand_below(&rng, NP - WP), v;
		unsigned int w = (unsigned int)t_rand_below(&rng, WPP);
		uint64_t x = pg * WPP + w;
		struct ck_word *cw = &last[x - WP * WPP];
		unsigned long g, done;

		if (t_rand_below(&rng, 4) == 0) {
			/* A store makes a block here for truncate to free. */
			v = stamp(K_CHECKER, pg, w, 0, ++ck_ctr);
			g = atomic_load(&cut_begun);
			if (!t_astore(&map[x], v)) {
				count(C_TAIL_BUS, 1);
			} else {
				/* The store is done before we look again. */
				atomic_thread_fence(memory_order_seq_cst);
				cw->v = v;
				cw->gen = g;
				cw->known = atomic_load(&cut_begun) == g;
			}
			count(C_TAIL_STORES, 1);
			continue;
		}
		count(C_TAIL_LOADS, 1);
		done = atomic_load(&cut_done);
		atomic_thread_fence(memory_order_seq_cst);
		if (!t_aload(&map[x], &v)) {
			count(C_TAIL_BUS, 1);
			continue;
		}
		if (!v)
			continue;
		if (v != stamp((unsigned int)(v >> 61) & 3, pg, w, 0,
			       ctr_of(v)) ||
		    (((v >> 61) & 3) != K_CHECKER &&
		     ((v >> 61) & 3) != K_PWRITE)) {
			report("tail load (not this word's)", pg, w, v, 0);
			continue;
		}
		if (((v >> 61) & 3) == K_PWRITE) {
			if (cut_since(x, ctr_of(v), done))
				report("tail load (pwrite before a cut)", pg, w,
				       v, 0);
			continue;
		}
		if (v != cw->v) {
			/* Ours, but not our last: a store was lost. */
			report("tail load (an older store)", pg, w, v, cw->v);
			continue;
		}
		if (cw->known && cut_since(x, cw->gen, done))
			report("tail load (store before a cut)", pg, w, v, 0);
	}
	return NULL;
}

/* With nothing running: every worker word, through the mapping and pread. */
static void check_workers(void)
{
	uint64_t *buf = malloc(WP * PG);
	unsigned long n = 0;

	REQUIRE(buf);
	REQUIRE(udax_pread(f, buf, WP * PG, 0) == (ssize_t)(WP * PG));
	for (uint64_t i = 0; i < WP * WPP; i++) {
		uint64_t v;

		if (buf[i] != shadow[i] && n++ < 5)
			report("pread", i / WPP, (unsigned int)(i % WPP),
			       buf[i], shadow[i]);
		if (!t_aload(&map[i], &v)) {
			if (n++ < 5)
				fprintf(stderr, "SIGBUS at page %llu after "
					"the round\n",
					(unsigned long long)(i / WPP));
			continue;
		}
		if (v != shadow[i] && n++ < 5)
			report("final load", i / WPP, (unsigned int)(i % WPP),
			       v, shadow[i]);
	}
	CHECK_EQ(n, 0);
	free(buf);
}

/*
 * The mapping for a round: where udax puts it (2 MiB-aligned: 2 MiB
 * faults where the file allows), or 4 KiB past a 2 MiB boundary (4 KiB
 * pieces only: many more kernel mappings, so reclaim runs harder).
 */
static uint64_t *map_file(bool misaligned)
{
	void *hint = NULL, *p;

	if (misaligned) {
		uint64_t room = NP * PG + 64 * MiB;
		void *r = mmap(NULL, room, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);

		REQUIRE(r != MAP_FAILED);
		hint = (void *)((((uintptr_t)r + 2 * MiB - 1) &
				 ~(uintptr_t)(2 * MiB - 1)) +
				PG);
		REQUIRE(munmap(r, room) == 0);
	}
	REQUIRE(udax_mmap(f, hint, NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			  0, &p) == 0);
	/* Elsewhere (something took the hole) it is aligned: still a test. */
	if (misaligned && p != hint)
		printf("(the mapping did not get the misaligned hint)\n");
	return p;
}

static void round_of(unsigned int workers, bool misaligned, uint64_t budget,
		     double secs, uint64_t seed)
{
	struct worker wk[MAXWK];
	pthread_t ms, tr, ck;
	struct udax_stats st0, st;
	double t0 = t_now();
	unsigned long c[NR_COUNTS];

	for (unsigned int i = 0; i < NR_COUNTS; i++)
		c[i] = atomic_load(&cnt[i]);
	REQUIRE(udax_set_map_budget(budget) == 0);
	map = map_file(misaligned);
	REQUIRE(udax_file_stats(f, &st0, sizeof(st0)) == 0);
	nwk = workers;
	atomic_store(&stop, false);
	for (unsigned int i = 0; i < workers; i++) {
		wk[i].tid = i;
		t_rng_init(&wk[i].rng, seed * 16 + i);
		REQUIRE(pthread_create(&wk[i].thread, NULL, worker, &wk[i]) ==
			0);
	}
	REQUIRE(pthread_create(&ms, NULL, msyncer,
			       (void *)(uintptr_t)(seed * 16 + 8)) == 0);
	REQUIRE(pthread_create(&tr, NULL, truncator,
			       (void *)(uintptr_t)(seed * 16 + 9)) == 0);
	REQUIRE(pthread_create(&ck, NULL, checker,
			       (void *)(uintptr_t)(seed * 16 + 10)) == 0);
	while (t_now() < t0 + secs && !atomic_load(&bad))
		usleep(20000);
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < workers; i++)
		REQUIRE(pthread_join(wk[i].thread, NULL) == 0);
	REQUIRE(pthread_join(ms, NULL) == 0);
	REQUIRE(pthread_join(tr, NULL) == 0);
	REQUIRE(pthread_join(ck, NULL) == 0);
	/* The truncator always leaves the file whole. */
	CHECK_EQ(udax_msync(map, NP * PG, MS_SYNC), 0);
	check_workers();
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	for (unsigned int i = 0; i < NR_COUNTS; i++)
		c[i] = atomic_load(&cnt[i]) - c[i];
	printf("%u workers, %s, budget %llu: %.1f s; loads %lu stores %lu, "
	       "msyncs %lu, truncates %lu, tail: loads %lu stores %lu "
	       "pwrites %lu SIGBUS %lu; faults pte %llu pmd %llu mkwrite "
	       "%llu, writeback %llu; map_count %llu, reclaims %llu, "
	       "map_errors %llu\n",
	       workers, misaligned ? "4 KiB pieces" : "aligned",
	       (unsigned long long)budget, t_now() - t0,
	       c[C_LOADS], c[C_STORES], c[C_MSYNCS], c[C_TRUNCS],
	       c[C_TAIL_LOADS], c[C_TAIL_STORES], c[C_TAIL_PWRITES],
	       c[C_TAIL_BUS],
	       (unsigned long long)(st.faults_pte - st0.faults_pte),
	       (unsigned long long)(st.faults_pmd - st0.faults_pmd),
	       (unsigned long long)(st.faults_mkwrite - st0.faults_mkwrite),
	       (unsigned long long)(st.writeback_pages - st0.writeback_pages),
	       (unsigned long long)st.map_count,
	       (unsigned long long)(st.map_reclaims - st0.map_reclaims),
	       (unsigned long long)st.map_errors);
	fflush(stdout);
	CHECK_EQ(atomic_load(&bad), 0);
	CHECK_EQ(st.map_budget, budget);
	CHECK(st.map_count <= budget + SLACK);
	CHECK(st.map_reclaims > st0.map_reclaims);
	/* Under the budget the kernel never refuses a call. */
	CHECK_EQ(st.map_errors, 0);
	/* Only the checker's tail accesses may raise SIGBUS. */
	CHECK_EQ(atomic_load(&t_bus_count), atomic_load(&cnt[C_TAIL_BUS]));
	REQUIRE(udax_munmap(map, NP * PG) == 0);
}

int main(int argc, char **argv)
{
	struct udax_pool *pool;
	struct t_rng rng;
	char path[300];
	double secs;

	t_init(argc, argv);
	secs = t_long ? 30 : 3;
	t_watchdog(t_long ? 300 : 120);
	t_rng_init(&rng, t_seed);
	if (access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	t_tmpdir();
	t_catch_sigbus();
	shadow = calloc(WP * WPP, sizeof(*shadow));
	REQUIRE(shadow);
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	REQUIRE(udax_open(pool, "t", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, NP * PG) == 0);

	for (unsigned int workers = 2; workers <= MAXWK && !t_failures;
	     workers *= 2)
		for (int mis = 0; mis < 2 && !t_failures; mis++) {
			uint64_t budget = 64 + t_rand_below(&rng, 137);

			round_of(workers, mis, budget, secs, t_rand(&rng));
		}
	REQUIRE(udax_set_map_budget(0) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	free(shadow);
	t_cleanup();
	return t_done("api_vm_threads");
}
