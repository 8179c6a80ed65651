/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_truncate_sigbus - truncate racing with real page faults. Accessor
 * threads load from and store to random words of a 4 MiB shared mapping
 * (holes, blocks, 4 KiB and 2 MiB mappings, words near EOF most of the
 * time) while a truncator thread sets the size down and up, to random
 * page or partial-page sizes, as fast as it can.
 *
 * Three mappings of the file take part: shared writable, shared
 * read-only and private writable (copy-on-write copies, which truncate
 * must remove too). What must hold, for every access:
 *  - SIGBUS (caught per thread: t_aload/t_astore return false) only for a
 *    page at or past EOF at some moment during the access; and an access
 *    that succeeds was to a page inside EOF at some moment during it.
 *    "During" is tracked with a generation counter: the truncator
 *    publishes the range of sizes possible in each generation (the old
 *    and the new size while udax_ftruncate runs, one size otherwise), and
 *    an access checks against every generation it overlapped;
 *  - a loaded value is 0 or a stamp a writer stored to that very word
 *    (page, word, thread, a count the thread had reached);
 *  - no other signal (a stray SIGSEGV kills the test), no hang (watchdog).
 * Every few dozen truncates the truncator stops the accessors (a test
 * rwlock) and checks, with nothing racing: every page past a new EOF
 * raises SIGBUS on load and store, every page before it reads the same
 * through the mapping and pread; after growing again the cut pages and
 * the cut tail of the last page read zeros both ways. After the run the
 * pool is closed and fsck must be clean.
 *
 * Bugs it would catch: a fault that checks EOF outside the mmap lock
 * (maps a page truncate is freeing: stale data, a block freed while
 * mapped, a success past EOF), truncate that does not unmap every region
 * or the pages of a 2 MiB mapping past EOF, an entry deleted while a
 * fault holds it, SIGBUS for a page inside EOF (a spurious error from a
 * fault that lost a race), a partial page not zeroed, stale data after
 * growing, lost wake-ups (hang), leaked or doubly freed blocks (fsck).
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL
#define NPAGES 1024ULL /* 4 MiB: two 2 MiB ranges */
#define NACC 3
#define HIST 4096 /* generations remembered */

static struct udax_file *f;
/* Three mappings of the file: shared writable, shared read-only,
 * private writable (its stores are copies, zapped by truncate too). */
static uint64_t *map, *ro, *priv;
static atomic_bool stop;
static pthread_rwlock_t pause_lock;

/*
 * Generations: even = a stable size, odd = an udax_ftruncate running.
 * hist[g % HIST] packs the lowest and highest page count (pages inside
 * EOF, counting a partial last page) possible in generation g.
 */
static atomic_ulong gen;
static _Atomic uint64_t hist[HIST];
static atomic_ulong ctr_pub[NACC]; /* last count each accessor used */
static atomic_int bad; /* failures seen by accessors */

struct acc_stats {
	unsigned long loads, stores, bus, zeros, skipped;
};

static uint64_t size_pages(uint64_t size)
{
	return (size + PG - 1) / PG;
}

static uint64_t pack(uint64_t lo, uint64_t hi)
{
	return lo | hi << 32;
}

/* Truncator only: set the size, publishing the transition. */
static uint64_t cur_size;

static void set_size(uint64_t size)
{
	unsigned long g = atomic_load(&gen);
	uint64_t a = size_pages(cur_size), b = size_pages(size);

	atomic_store(&hist[(g + 1) % HIST], pack(a < b ? a : b, a < b ? b : a));
	atomic_store(&gen, g + 1);
	REQUIRE(udax_ftruncate(f, size) == 0);
	atomic_store(&hist[(g + 2) % HIST], pack(b, b));
	atomic_store(&gen, g + 2);
	cur_size = size;
}

static uint64_t stamp(uint64_t pg, unsigned int w, unsigned int tid,
		      unsigned long ctr)
{
	return 1ULL << 63 | pg << 44 | (uint64_t)w << 32 |
	       (uint64_t)tid << 28 | (ctr & 0xfffffff);
}

/* Is @v a value some writer may have stored at word @w of page @pg? */
static bool valid(uint64_t v, uint64_t pg, unsigned int w)
{
	unsigned int tid = (v >> 28) & 0xf;
	unsigned long ctr = v & 0xfffffff;

	if (!v)
		return true;
	return (v >> 63) && ((v >> 44) & 0xffff) == pg &&
	       ((v >> 32) & 0x3ff) == w && tid < NACC && ctr &&
	       ctr <= atomic_load(&ctr_pub[tid]);
}

/*
 * The lowest and highest page counts of generations [g0, g1]; false if
 * the history has moved on meanwhile.
 */
static bool window(unsigned long g0, unsigned long g1, uint64_t *lo,
		   uint64_t *hi)
{
	*lo = UINT64_MAX;
	*hi = 0;
	if (g1 - g0 >= HIST / 2)
		return false;
	for (unsigned long g = g0; g <= g1; g++) {
		uint64_t h = atomic_load(&hist[g % HIST]);

		if ((h & 0xffffffff) < *lo)
			*lo = h & 0xffffffff;
		if ((h >> 32) > *hi)
			*hi = h >> 32;
	}
	return atomic_load(&gen) - g0 < HIST / 2;
}

struct accessor {
	pthread_t thread;
	unsigned int tid;
	struct t_rng rng;
	struct acc_stats st;
};

static void *accessor(void *arg)
{
	struct accessor *a = arg;
	unsigned long ctr = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = t_rand(&a->rng), pg, lo, hi, v = 0;
		unsigned long g0, g1;
		bool write = r & 1, ok;
		unsigned int w;

		/* Mostly near EOF, where the races are. */
		if (r & 2) {
			pg = t_rand_below(&a->rng, NPAGES);
		} else {
			uint64_t h = atomic_load(&hist[atomic_load(&gen) %
						       HIST]);
			uint64_t near = (h & 0xffffffff) + (r >> 8) % 9;

			pg = near >= 4 ? near - 4 : near;
			if (pg >= NPAGES)
				pg = NPAGES - 1;
		}
		w = (r >> 16) % 4 == 0 ? 0 : (unsigned int)((r >> 20) % 512);
		/* Half shared writable, a quarter each read-only, private. */
		uint64_t *m = (r >> 40) % 4 == 2 ? ro
			      : (r >> 40) % 4 == 3 ? priv : map;

		if (m == ro)
			write = false;
		pthread_rwlock_rdlock(&pause_lock);
		if (write) {
			ctr++;
			atomic_store(&ctr_pub[a->tid], ctr);
			v = stamp(pg, w, a->tid, ctr);
		}
		g0 = atomic_load(&gen);
		if (write)
			ok = t_astore(&m[pg * 512 + w], v);
		else
			ok = t_aload(&m[pg * 512 + w], &v);
		g1 = atomic_load(&gen);
		pthread_rwlock_unlock(&pause_lock);

		if (write)
			a->st.stores++;
		else
			a->st.loads++;
		if (!ok)
			a->st.bus++;
		else if (!write && !v)
			a->st.zeros++;
		if (ok && !write && !valid(v, pg, w)) {
			fprintf(stderr,
				"thread %u: page %llu word %u: read %#llx\n",
				a->tid, (unsigned long long)pg, w,
				(unsigned long long)v);
			atomic_fetch_add(&bad, 1);
		}
		if (!window(g0, g1, &lo, &hi)) {
			a->st.skipped++;
			continue;
		}
		if (!ok && pg < lo) {
			fprintf(stderr,
				"thread %u: SIGBUS at page %llu, EOF was at "
				"least %llu pages (gen %lu..%lu)\n",
				a->tid, (unsigned long long)pg,
				(unsigned long long)lo, g0, g1);
			atomic_fetch_add(&bad, 1);
		}
		if (ok && pg >= hi) {
			fprintf(stderr,
				"thread %u: %s page %llu succeeded, EOF was at "
				"most %llu pages (gen %lu..%lu)\n",
				a->tid, write ? "store to" : "load from",
				(unsigned long long)pg, (unsigned long long)hi,
				g0, g1);
			atomic_fetch_add(&bad, 1);
		}
	}
	return NULL;
}

/* Sample words of a page: first, last, and two in between. */
static const unsigned int sample[] = { 0, 1, 255, 511 };

/* With the accessors stopped: cut to @size, check, grow back, check. */
static void quiescent_check(struct t_rng *rng)
{
	uint64_t size, sp, v, w;
	unsigned char tail[PG];

	/* A change of size: stores past EOF in the last page are allowed
	 * (as with mmap(2)), and only a change of size zeroes them. */
	do
		size = t_rand_below(rng, NPAGES * PG / 8 + 1) * 8;
	while (size == cur_size);
	pthread_rwlock_wrlock(&pause_lock);
	set_size(size);
	sp = size_pages(size);
	for (uint64_t pg = 0; pg < NPAGES; pg++) {
		for (unsigned int i = 0; i < 4; i++) {
			uint64_t *p = &map[pg * 512 + sample[i]];
			bool ok = t_aload(p, &v);

			if (pg >= sp) {
				if (ok) {
					fprintf(stderr, "page %llu readable "
						"past EOF %llu\n",
						(unsigned long long)pg,
						(unsigned long long)size);
					CHECK(!ok);
				}
				continue;
			}
			CHECK(ok);
			if (pg * PG + sample[i] * 8 >= size) {
				CHECK_EQ(v, 0); /* cut tail of the last page */
				continue;
			}
			CHECK(valid(v, pg, sample[i]));
			REQUIRE(udax_pread(f, &w, 8, pg * PG + sample[i] * 8) ==
				8);
			CHECK_EQ(w, v);
		}
		if (pg >= sp && pg % 16 == 0) {
			CHECK(!t_astore(&map[pg * 512], 1));
			CHECK(!t_aload(&ro[pg * 512 + 1], &v));
			CHECK(!t_astore(&priv[pg * 512 + 2], 1));
		}
	}
	/* The rest of a partial last page reads as zeros at once. */
	if (size % PG) {
		const unsigned char *c = (const void *)&map[(sp - 1) * 512];

		for (uint64_t b = size % PG; b < PG; b += 8) {
			CHECK(t_aload((uint64_t *)(c + b), &v));
			if (v) {
				fprintf(stderr, "byte %llu past EOF %llu: "
					"%#llx\n",
					(unsigned long long)((sp - 1) * PG + b),
					(unsigned long long)size,
					(unsigned long long)v);
				CHECK_EQ(v, 0);
				break;
			}
		}
	}
	set_size(NPAGES * PG);
	/* What was cut reads as zeros, mapped or not. */
	if (size % PG) {
		REQUIRE(udax_pread(f, tail, PG, size & ~(PG - 1)) == PG);
		for (uint64_t b = size % PG; b < PG; b++)
			if (tail[b]) {
				CHECK_EQ(tail[b], 0);
				break;
			}
	}
	for (uint64_t pg = sp; pg < NPAGES; pg++) {
		for (unsigned int i = 0; i < 4; i++) {
			uint64_t v2 = 0, v3 = 0;

			CHECK(t_aload(&map[pg * 512 + sample[i]], &v));
			CHECK(t_aload(&ro[pg * 512 + sample[i]], &v2));
			CHECK(t_aload(&priv[pg * 512 + sample[i]], &v3));
			v |= v2 | v3;
			REQUIRE(udax_pread(f, &w, 8, pg * PG + sample[i] * 8) ==
				8);
			if (v || w) {
				fprintf(stderr, "page %llu word %u: %#llx / "
					"%#llx after regrow\n",
					(unsigned long long)pg, sample[i],
					(unsigned long long)v,
					(unsigned long long)w);
				CHECK(!v && !w);
			}
		}
	}
	pthread_rwlock_unlock(&pause_lock);
}

static uint64_t pick_size(struct t_rng *rng)
{
	uint64_t r = t_rand(rng);

	switch (r % 8) {
	case 0:
		return 0;
	case 1:
		return NPAGES * PG;
	case 2:
	case 3:
		return t_rand_below(rng, NPAGES + 1) * PG;
	case 4:
	case 5:
		return t_rand_below(rng, NPAGES * PG / 8 + 1) * 8;
	default: {
		/* A few pages up or down from here. */
		int64_t d = (int64_t)t_rand_below(rng, 17) - 8;
		int64_t s = (int64_t)cur_size + d * (int64_t)PG;

		if (s < 0)
			s = 0;
		if (s > (int64_t)(NPAGES * PG))
			s = NPAGES * PG;
		return (uint64_t)s & ~7ULL;
	}
	}
}

int main(int argc, char **argv)
{
	struct accessor acc[NACC];
	struct acc_stats tot = { 0 };
	pthread_rwlockattr_t attr;
	struct udax_stats st;
	struct udax_pool *pool;
	unsigned long truncs = 0, checks = 0;
	double secs, end;
	struct t_rng rng;
	char path[300];
	void *p;

	t_init(argc, argv);
	secs = t_long ? 30 : 4;
	t_watchdog(t_long ? 120 : 60);
	t_rng_init(&rng, t_seed);
	/*
	 * Every truncate commits a transaction, which a pool file on a disk
	 * filesystem makes durable with msync (milliseconds): unless told
	 * where, race on tmpfs, where it costs nothing.
	 */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 0);
	t_tmpdir();
	t_catch_sigbus();
	pthread_rwlockattr_init(&attr);
	/* Writer-preferring: the checks must not starve. */
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	REQUIRE(pthread_rwlock_init(&pause_lock, &attr) == 0);
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	REQUIRE(udax_open(pool, "t", O_RDWR | O_CREAT, 0644, &f) == 0);
	cur_size = 0;
	atomic_store(&hist[0], pack(0, 0));
	set_size(NPAGES * PG);
	REQUIRE(udax_mmap(f, NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	map = p;
	REQUIRE(udax_mmap(f, NULL, NPAGES * PG, PROT_READ, MAP_SHARED, 0,
			  &p) == 0);
	ro = p;
	REQUIRE(udax_mmap(f, NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE, 0, &p) == 0);
	priv = p;

	for (unsigned int i = 0; i < NACC; i++) {
		acc[i].tid = i;
		t_rng_init(&acc[i].rng, t_seed * 31 + i + 1);
		memset(&acc[i].st, 0, sizeof(acc[i].st));
		REQUIRE(pthread_create(&acc[i].thread, NULL, accessor,
				       &acc[i]) == 0);
	}
	end = t_now() + secs;
	while (t_now() < end && !t_failures && !atomic_load(&bad)) {
		set_size(pick_size(&rng));
		truncs++;
		if (t_rand_below(&rng, 4) == 0)
			usleep((useconds_t)t_rand_below(&rng, 300));
		if (truncs % 40 == 0) {
			quiescent_check(&rng);
			checks++;
		}
	}
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < NACC; i++) {
		REQUIRE(pthread_join(acc[i].thread, NULL) == 0);
		tot.loads += acc[i].st.loads;
		tot.stores += acc[i].st.stores;
		tot.bus += acc[i].st.bus;
		tot.zeros += acc[i].st.zeros;
		tot.skipped += acc[i].st.skipped;
	}
	quiescent_check(&rng);
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	printf("%lu truncates, %lu checks; %lu loads (%lu zero), %lu stores, "
	       "%lu SIGBUS, %lu unchecked; faults pte %llu pmd %llu hole "
	       "%llu\n",
	       truncs, checks, tot.loads, tot.zeros, tot.stores, tot.bus,
	       tot.skipped, (unsigned long long)st.faults_pte,
	       (unsigned long long)st.faults_pmd,
	       (unsigned long long)st.faults_hole);
	CHECK_EQ(atomic_load(&bad), 0);
	/* The run must have exercised both outcomes. */
	CHECK(tot.bus > 0);
	CHECK(tot.loads + tot.stores > tot.bus);

	REQUIRE(udax_munmap(map, NPAGES * PG) == 0);
	REQUIRE(udax_munmap(ro, NPAGES * PG) == 0);
	REQUIRE(udax_munmap(priv, NPAGES * PG) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	pthread_rwlock_destroy(&pause_lock);
	t_cleanup();
	return t_done("api_truncate_sigbus");
}
