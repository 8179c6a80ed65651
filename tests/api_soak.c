/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_soak - random stress of one file through the public API and REAL
 * mappings (every access a real load or store, every fault a real
 * SIGSEGV), checked word for word against a shadow copy of the file kept
 * by the test, with zero mismatches allowed.
 *
 *   api_soak [-s SEED] [-m MINUTES] [-l]
 *
 * Default: about 3 seconds (make check); -l: one minute; -m MINUTES: a
 * soak (make soak MINUTES=N). Prints the seed, the operations done, the
 * faults by kind (udax_file_stats) and "mismatches: N"; exits 1 unless
 * N is 0 and the pool checks clean at the end.
 *
 * The file is at most NPAGES pages (8 MiB, four 2 MiB ranges); it is
 * mapped three times, shared, over its largest size:
 *   A  offset 0, 2 MiB-aligned: 2 MiB faults where the file allows;
 *   B  file pages 1..1023, at an address that puts no aligned 2 MiB of
 *      the file on an aligned 2 MiB of memory: 4 KiB faults only (and
 *      its 4 KiB entries keep A and C from 2 MiB faults there);
 *   C  offset 0, MAP_SYNC, 2 MiB-eligible: write faults commit metadata.
 *
 * Threads:
 *   owners (NW): page p belongs to owner (p / CHUNK) % NW. An owner alone
 *     changes its pages while the file's size is fixed: stores of stamps
 *     through a random mapping, udax_pwrite of a word range, a self-copy
 *     (udax_pwrite from / udax_pread into the mapping of that very range,
 *     which must change nothing), and punch holes inside one of its
 *     chunks; and it reads any page, through a mapping or udax_pread.
 *   racer: without any test lock, loads through the mappings, udax_pread,
 *     udax_msync of random mapping ranges, udax_fsync, and
 *     udax_fallocate(KEEP_SIZE) of random ranges (content unchanged),
 *     racing with everything including truncate.
 *   main: truncate down and up, pwrite past EOF (growing), fallocate
 *     (growing), punch across owners; and, every quarter second, a full
 *     check of the quiescent file.
 *
 * The shadow is exact under concurrency:
 *  - a test rwlock (writer-preferring): owners hold it shared around each
 *    operation (access + shadow update, or read + compare); main takes it
 *    exclusive for anything that changes the size or other owners' pages,
 *    and updates the shadow itself (zeros for what is cut or punched).
 *    So while an owner holds it, the size is fixed (owners never write
 *    past EOF) and is known exactly: an access to page p succeeds iff p is
 *    inside EOF, and raises SIGBUS (caught, api_util.h) iff it is not;
 *  - a seqlock per page: its owner makes it odd around every change of
 *    the page and its shadow. A reader compares a word with the shadow
 *    only if the page's seqlock was even and unchanged across the read
 *    (always, for its own pages), and otherwise checks only validity;
 *  - validity, checked on every value read by anyone, locked or not: a
 *    word is 0 or a stamp naming that very page and word, written by a
 *    known thread with a counter it had already reached;
 *  - the racer holds no lock; its accesses are checked for validity, and
 *    for SIGBUS exactly when no size change overlapped them (an EOF
 *    seqcount that main makes odd around each size change).
 * Words of the last page past EOF are never stored to (their shadow is
 * 0, and so must they read). At the end the pool is closed, fsck must be
 * clean, and the reopened file must match the shadow. Hangs: main
 * re-arms a 120 s alarm at every step, and fails if a worker has not
 * moved for 30 s.
 *
 * The pool is in $TMPDIR, else /dev/shm (on a disk, every flush waits
 * for it and the run is a hundred times thinner). Under ThreadSanitizer
 * preads keep to the reader's own pages (see SOAK_TSAN).
 *
 * Bugs it catches (checked by breaking the library on purpose): punch
 * hole that does not unmap what it frees (stale blocks through the
 * mappings, SIGBUS inside EOF), a pwrite that leaves zero pages over the
 * blocks it filled (mappings read zeros where pread sees the data); and
 * by design: truncate that leaves pages mapped or unzeroed, faults that
 * map past EOF or fail inside it, a mapping that misses another's
 * stores, stale data after regrowth, lost stores around msync and
 * mkwrite, wrong bytes from a self-copy, leaked or doubly freed blocks.
 */
#define _GNU_SOURCE
#include "api_util.h"

#include <stdarg.h>
#include <sys/mman.h>

#define MiB (1ULL << 20)
#define PG 4096ULL
#define WPP 512U       /* words per page */
#define NPAGES 2048ULL /* largest file size: 8 MiB */
#define MAXSIZE (NPAGES * PG)
#define HUGE_PG 512ULL
#define CHUNK 8ULL /* pages per ownership chunk */
#define NCHUNKS (NPAGES / CHUNK)
#define NW 3	    /* owner threads */
#define TID_MAIN NW /* stamps written by main */
#define NMAP 3
#define BPAGES (NPAGES / 2 - 1) /* mapping B: file pages 1..1023 */
#define CTR_BITS 36

static struct udax_file *f;

struct map {
	const char *name;
	uint64_t *base;
	uint64_t first, npages; /* file pages it covers */
	size_t len;
	bool huge_ok;
};
static struct map maps[NMAP];

static _Atomic uint64_t *shadow; /* NPAGES * WPP words */
static atomic_uint pseq[NPAGES]; /* per-page seqlock (odd: owner busy) */
static pthread_rwlock_t ex_lock; /* the test's lock: see the top */
static uint64_t cur_size;	 /* written by main under ex_lock exclusive */
static atomic_ulong eof_seq;	 /* odd while main may change the size */
static _Atomic uint64_t eof_pub; /* the size, when eof_seq is even */
static _Atomic uint64_t ctr_pub[NW + 1]; /* last counter of each thread */
static atomic_bool stop;
static atomic_ulong mismatches;
static atomic_ulong progress[NW + 1]; /* ops of owners and racer */

#define SHADOW(pg, w) (&shadow[(pg)*WPP + (w)])

/*
 * udax lets a udax_pread copy bytes that a concurrent udax_pwrite is
 * copying (both hold the file's mmap lock shared; a reader may see the
 * write in part, as with Linux buffered I/O). ThreadSanitizer rightly
 * calls those two memcpys a data race; under it, preads stay inside the
 * reader's own pages and the racer does no pread. Nor is there a
 * self-copy under it: the library's memcpy to or from a mapping cannot
 * be kept from TSan the way the test's own accesses are (T_NO_TSAN), and
 * it races in TSan's eyes with another thread's fault mapping a run over
 * the same page (an mmap is a write of the range to TSan; the real
 * ordering is the MMU's). Everything else runs as usual.
 */
#if defined(__SANITIZE_THREAD__)
#define SOAK_TSAN 1
#else
#define SOAK_TSAN 0
#endif

/* ---- stamps ---- */

static uint64_t stamp(uint64_t pg, unsigned int w, unsigned int tid,
		      uint64_t ctr)
{
	return 1ULL << 63 | pg << 49 | (uint64_t)w << 40 |
	       (uint64_t)tid << CTR_BITS | (ctr & ((1ULL << CTR_BITS) - 1));
}

/* Take the next counter of thread @tid and publish it. */
static uint64_t next_ctr(unsigned int tid, uint64_t *ctr)
{
	++*ctr;
	atomic_store(&ctr_pub[tid], *ctr & ((1ULL << CTR_BITS) - 1));
	return *ctr;
}

/* Is @v a value that may be at word @w of page @pg? */
static bool valid(uint64_t v, uint64_t pg, unsigned int w)
{
	unsigned int tid = (v >> CTR_BITS) & 0xf;
	uint64_t ctr = v & ((1ULL << CTR_BITS) - 1);

	if (!v)
		return true;
	return (v >> 63) && ((v >> 49) & 0x3fff) == pg &&
	       ((v >> 40) & 0x1ff) == w && tid <= NW && ctr &&
	       ctr <= atomic_load(&ctr_pub[tid]);
}

/* ---- reporting ---- */

static void mismatch(const char *who, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mismatch(const char *who, const char *fmt, ...)
{
	unsigned long n = atomic_fetch_add(&mismatches, 1);
	va_list ap;

	if (n >= 30)
		return;
	fprintf(stderr, "MISMATCH (%s): ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- accesses through the mappings (SIGBUS caught) ---- */

static uint64_t *word_ptr(const struct map *m, uint64_t pg, unsigned int w)
{
	return m->base + (pg - m->first) * WPP + w;
}

/*
 * Load @n words from @p into @out with one SIGBUS catcher; false on
 * SIGBUS. Not seen by ThreadSanitizer, like t_aload() (api_util.h).
 */
static T_NO_TSAN bool load_words(uint64_t *p, uint64_t *out, unsigned int n)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_bus_jmp = NULL;
		return false;
	}
	t_bus_jmp = &jb;
	for (unsigned int i = 0; i < n; i++)
		out[i] = __atomic_load_n(&p[i], __ATOMIC_RELAXED);
	t_bus_jmp = NULL;
	return true;
}

static uint64_t size_pages(uint64_t size)
{
	return (size + PG - 1) / PG;
}

/* A random mapping that covers page @pg. */
static const struct map *pick_map(struct t_rng *r, uint64_t pg)
{
	for (;;) {
		const struct map *m = &maps[t_rand_below(r, NMAP)];

		if (pg >= m->first && pg < m->first + m->npages)
			return m;
	}
}

/* A page: mostly anywhere, often near EOF (@spg pages inside it). */
static uint64_t pick_page(struct t_rng *r, uint64_t spg)
{
	uint64_t pg;

	if (t_rand_below(r, 3))
		return t_rand_below(r, NPAGES);
	pg = spg + t_rand_below(r, 9);
	pg = pg >= 4 ? pg - 4 : 0;
	return pg < NPAGES ? pg : NPAGES - 1;
}

static bool owns(unsigned int tid, uint64_t pg)
{
	return (pg / CHUNK) % NW == tid;
}

/* A page of owner @tid: anywhere, or its page closest to EOF. */
static uint64_t pick_own_page(struct t_rng *r, unsigned int tid, uint64_t spg)
{
	uint64_t c;

	if (t_rand_below(r, 3))
		c = t_rand_below(r, NCHUNKS);
	else
		c = (pick_page(r, spg)) / CHUNK;
	while (!owns(tid, c * CHUNK))
		c = c + 1 < NCHUNKS ? c + 1 : 0;
	if (t_rand_below(r, 3) == 0 && spg > c * CHUNK &&
	    spg <= (c + 1) * CHUNK)
		return spg - 1; /* the last page inside EOF: partial ones */
	return c * CHUNK + t_rand_below(r, CHUNK);
}

/* ---- per-page seqlock ---- */

static void seq_begin(uint64_t pg)
{
	unsigned int s = atomic_load_explicit(&pseq[pg], memory_order_relaxed);

	atomic_store_explicit(&pseq[pg], s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void seq_end(uint64_t pg)
{
	unsigned int s = atomic_load_explicit(&pseq[pg], memory_order_relaxed);

	atomic_store_explicit(&pseq[pg], s + 1, memory_order_release);
}

static unsigned int seq_read(uint64_t pg)
{
	return atomic_load_explicit(&pseq[pg], memory_order_acquire);
}

static bool seq_stable(uint64_t pg, unsigned int s1)
{
	atomic_thread_fence(memory_order_acquire);
	return !(s1 & 1) &&
	       atomic_load_explicit(&pseq[pg], memory_order_relaxed) == s1;
}

/* ---- counters ---- */

struct counts {
	unsigned long stores, store_words, pwrites, selfcopies, punches;
	unsigned long loads, preads, compared, unstable, bus_expected;
	unsigned long racy_loads, racy_bus, racy_unchecked, racy_preads;
	unsigned long msyncs, fsyncs, fallocs;
	unsigned long truncs_down, truncs_up, extends, grows, big_punches;
	unsigned long checks;
};

static void add_counts(struct counts *t, const struct counts *c)
{
	const unsigned long *s = (const unsigned long *)c;
	unsigned long *d = (unsigned long *)t;

	for (size_t i = 0; i < sizeof(*c) / sizeof(long); i++)
		d[i] += s[i];
}

struct worker {
	pthread_t thread;
	unsigned int tid;
	struct t_rng rng;
	struct counts c;
	uint64_t ctr;
	char name[16];
};

/*
 * Compare words [w0, w0 + n) of page @pg, read as @v (@ok: the access
 * succeeded), with what must be there. Caller holds ex_lock shared; @s1
 * is the page's seqlock read before the access.
 */
static void check_read(struct worker *wk, uint64_t pg, unsigned int w0,
		       unsigned int n, const uint64_t *v, bool ok,
		       unsigned int s1, const char *how)
{
	uint64_t sh[WPP];
	bool inside = pg < size_pages(cur_size);

	if (ok != inside) {
		mismatch(wk->name, "%s of page %llu %s, size %llu", how,
			 (unsigned long long)pg,
			 ok ? "succeeded past EOF" : "raised SIGBUS inside EOF",
			 (unsigned long long)cur_size);
		return;
	}
	if (!ok) {
		wk->c.bus_expected++;
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		sh[i] = atomic_load_explicit(SHADOW(pg, w0 + i),
					     memory_order_relaxed);
		if (!valid(v[i], pg, w0 + i))
			mismatch(wk->name,
				 "%s page %llu word %u: invalid %#llx", how,
				 (unsigned long long)pg, w0 + i,
				 (unsigned long long)v[i]);
	}
	if (!seq_stable(pg, s1)) {
		wk->c.unstable++;
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		wk->c.compared++;
		if (v[i] != sh[i])
			mismatch(wk->name,
				 "%s page %llu word %u: %#llx, shadow %#llx "
				 "(size %llu)",
				 how, (unsigned long long)pg, w0 + i,
				 (unsigned long long)v[i],
				 (unsigned long long)sh[i],
				 (unsigned long long)cur_size);
	}
}

/* Load a few words of any page through a mapping. ex_lock shared. */
static void op_load(struct worker *wk)
{
	uint64_t pg = pick_page(&wk->rng, size_pages(cur_size)), v[16];
	const struct map *m = pick_map(&wk->rng, pg);
	unsigned int n = 1 + (unsigned int)t_rand_below(&wk->rng, 16);
	unsigned int w0 = (unsigned int)t_rand_below(&wk->rng, WPP - n + 1);
	unsigned int s1 = seq_read(pg);
	bool ok = load_words(word_ptr(m, pg, w0), v, n);

	wk->c.loads++;
	check_read(wk, pg, w0, n, v, ok, s1, m->name);
}

/* udax_pread of a range of up to three pages. ex_lock shared. */
static void op_pread(struct worker *wk)
{
	static __thread uint64_t buf[3 * WPP];
	uint64_t pg = pick_page(&wk->rng, size_pages(cur_size));
	uint64_t nw = 1 + t_rand_below(&wk->rng, 3 * WPP);
	uint64_t off, len, want, first, last;
	unsigned int s1[4];
	ssize_t got;

	if (SOAK_TSAN) { /* one page of our own */
		pg = pick_own_page(&wk->rng, wk->tid, size_pages(cur_size));
		nw = 1 + nw % WPP;
	}
	off = pg * PG + t_rand_below(&wk->rng, WPP) * 8;
	len = nw * 8;
	first = pg;
	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	if (SOAK_TSAN && off + len > (pg + 1) * PG)
		len = (pg + 1) * PG - off;
	last = (off + len - 1) / PG;
	for (uint64_t p = first; p <= last; p++)
		s1[p - first] = seq_read(p);
	got = udax_pread(f, buf, len, off);
	wk->c.preads++;
	want = 0;
	if (off < cur_size)
		want = cur_size - off < len ? cur_size - off : len;
	if (got != (ssize_t)want) {
		mismatch(wk->name,
			 "pread [%llu, +%llu) returned %zd, size %llu",
			 (unsigned long long)off, (unsigned long long)len, got,
			 (unsigned long long)cur_size);
		return;
	}
	/* Compare page by page (cur_size is a multiple of 8). */
	for (uint64_t p = first; p <= last; p++) {
		uint64_t a = p == first ? off : p * PG;
		uint64_t b =
		    (p + 1) * PG < off + want ? (p + 1) * PG : off + want;

		if (b <= a)
			break;
		check_read(wk, p, (unsigned int)((a % PG) / 8),
			   (unsigned int)((b - a) / 8), &buf[(a - off) / 8],
			   true, s1[p - first], "pread");
	}
}

/* Words of page @pg an owner may store to: [0, *max). */
static unsigned int storable_words(uint64_t pg)
{
	if (pg >= size_pages(cur_size))
		return WPP; /* all of them must fault with SIGBUS */
	if ((pg + 1) * PG <= cur_size)
		return WPP;
	return (unsigned int)((cur_size - pg * PG) / 8);
}

/* Store stamps to words of an own page through a mapping. */
static void op_store(struct worker *wk)
{
	uint64_t pg = pick_own_page(&wk->rng, wk->tid, size_pages(cur_size));
	const struct map *m = pick_map(&wk->rng, pg);
	unsigned int max = storable_words(pg), n, w0;
	bool inside = pg < size_pages(cur_size);

	if (!max)
		return;
	n = 1 + (unsigned int)t_rand_below(&wk->rng, 8);
	if (n > max)
		n = max;
	w0 = (unsigned int)t_rand_below(&wk->rng, max - n + 1);
	wk->c.stores++;
	seq_begin(pg);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t v =
		    stamp(pg, w0 + i, wk->tid, next_ctr(wk->tid, &wk->ctr));
		bool ok = t_astore(word_ptr(m, pg, w0 + i), v);

		if (ok != inside) {
			mismatch(wk->name,
				 "store %s page %llu word %u %s, "
				 "size %llu",
				 m->name, (unsigned long long)pg, w0 + i,
				 ok ? "succeeded past EOF"
				    : "raised SIGBUS inside EOF",
				 (unsigned long long)cur_size);
			break;
		}
		if (!ok) {
			wk->c.bus_expected++;
			break;
		}
		wk->c.store_words++;
		atomic_store_explicit(SHADOW(pg, w0 + i), v,
				      memory_order_relaxed);
	}
	seq_end(pg);
}

/* udax_pwrite of a word range of an own page (inside EOF). */
static void op_pwrite(struct worker *wk)
{
	uint64_t pg = pick_own_page(&wk->rng, wk->tid, size_pages(cur_size));
	unsigned int max, n, w0;
	uint64_t buf[WPP];
	ssize_t got;

	if (pg >= size_pages(cur_size))
		return; /* would grow the file: main's business */
	max = storable_words(pg);
	if (!max)
		return;
	n = 1 + (unsigned int)t_rand_below(&wk->rng, max);
	if (t_rand_below(&wk->rng, 2) && n > 16)
		n = 1 + n % 16;
	w0 = (unsigned int)t_rand_below(&wk->rng, max - n + 1);
	for (unsigned int i = 0; i < n; i++)
		buf[i] =
		    stamp(pg, w0 + i, wk->tid, next_ctr(wk->tid, &wk->ctr));
	seq_begin(pg);
	got = udax_pwrite(f, buf, n * 8, pg * PG + w0 * 8);
	if (got != (ssize_t)n * 8)
		mismatch(wk->name, "pwrite page %llu words %u+%u: %zd",
			 (unsigned long long)pg, w0, n, got);
	else
		for (unsigned int i = 0; i < n; i++)
			atomic_store_explicit(SHADOW(pg, w0 + i), buf[i],
					      memory_order_relaxed);
	seq_end(pg);
	wk->c.pwrites++;
}

/*
 * A range of an own page (inside EOF) copied onto itself through the
 * library, with the buffer a mapping of that very range: udax_pwrite
 * from it, or udax_pread into it. Nothing may change.
 */
static void op_selfcopy(struct worker *wk)
{
	uint64_t pg = pick_own_page(&wk->rng, wk->tid, size_pages(cur_size));
	const struct map *m = pick_map(&wk->rng, pg);
	unsigned int max, n, w0;
	uint64_t v[WPP];
	ssize_t got;

	if (pg >= size_pages(cur_size))
		return;
	max = storable_words(pg);
	if (!max)
		return;
	n = 1 + (unsigned int)t_rand_below(&wk->rng, max);
	w0 = (unsigned int)t_rand_below(&wk->rng, max - n + 1);
	if (t_rand_below(&wk->rng, 2))
		got = udax_pwrite(f, word_ptr(m, pg, w0), n * 8,
				  pg * PG + w0 * 8);
	else
		got =
		    udax_pread(f, word_ptr(m, pg, w0), n * 8, pg * PG + w0 * 8);
	wk->c.selfcopies++;
	if (got != (ssize_t)n * 8) {
		mismatch(wk->name, "self-copy %s page %llu words %u+%u: %zd",
			 m->name, (unsigned long long)pg, w0, n, got);
		return;
	}
	if (!load_words(word_ptr(m, pg, w0), v, n)) {
		mismatch(wk->name, "SIGBUS after self-copy, page %llu",
			 (unsigned long long)pg);
		return;
	}
	check_read(wk, pg, w0, n, v, true, seq_read(pg), "self-copy");
}

/* Punch a hole inside one own chunk (8-byte granular or whole pages). */
static void op_punch(struct worker *wk)
{
	uint64_t pg = pick_own_page(&wk->rng, wk->tid, size_pages(cur_size));
	uint64_t c0 = pg / CHUNK * CHUNK * PG, c1 = c0 + CHUNK * PG;
	uint64_t a, b, e;
	int err;

	if (t_rand_below(&wk->rng, 2)) {
		a = c0 + t_rand_below(&wk->rng, CHUNK) * PG;
		b = a + (1 + t_rand_below(&wk->rng, CHUNK)) * PG;
	} else {
		a = c0 + t_rand_below(&wk->rng, CHUNK * WPP) * 8;
		b = a + 8 + t_rand_below(&wk->rng, 2 * WPP) * 8;
	}
	if (b > c1)
		b = c1;
	for (uint64_t p = a / PG; p <= (b - 1) / PG; p++)
		seq_begin(p);
	err = udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE | UDAX_FALLOC_KEEP_SIZE,
			     a, b - a);
	if (err)
		mismatch(wk->name, "punch [%llu, %llu): %d",
			 (unsigned long long)a, (unsigned long long)b, err);
	e = b < cur_size ? b : cur_size;
	for (uint64_t o = a; o < e; o += 8)
		atomic_store_explicit(&shadow[o / 8], 0, memory_order_relaxed);
	for (uint64_t p = a / PG; p <= (b - 1) / PG; p++)
		seq_end(p);
	wk->c.punches++;
}

static void *owner(void *arg)
{
	struct worker *wk = arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = t_rand_below(&wk->rng, 100);

		pthread_rwlock_rdlock(&ex_lock);
		if (r < 35)
			op_store(wk);
		else if (r < 50)
			op_pwrite(wk);
		else if (r < 53 && !SOAK_TSAN)
			op_selfcopy(wk);
		else if (r < 58)
			op_punch(wk);
		else if (r < 85)
			op_load(wk);
		else
			op_pread(wk);
		pthread_rwlock_unlock(&ex_lock);
		atomic_fetch_add_explicit(&progress[wk->tid], 1,
					  memory_order_relaxed);
	}
	return NULL;
}

/* ---- the racer: no test lock at all ---- */

/* Size stable across [g0, g1]? Then *@size is it. */
static bool eof_stable(unsigned long g0, uint64_t *size)
{
	*size = atomic_load(&eof_pub);
	return !(g0 & 1) && atomic_load(&eof_seq) == g0;
}

static void racy_load(struct worker *wk)
{
	uint64_t pg = pick_page(&wk->rng, size_pages(atomic_load(&eof_pub)));
	const struct map *m = pick_map(&wk->rng, pg);
	unsigned int n = 1 + (unsigned int)t_rand_below(&wk->rng, 8);
	unsigned int w0 = (unsigned int)t_rand_below(&wk->rng, WPP - n + 1);
	unsigned long g0 = atomic_load(&eof_seq);
	uint64_t v[8], size;
	bool ok = load_words(word_ptr(m, pg, w0), v, n);

	wk->c.racy_loads++;
	if (ok) {
		for (unsigned int i = 0; i < n; i++)
			if (!valid(v[i], pg, w0 + i))
				mismatch(wk->name,
					 "racy load %s page %llu word %u: "
					 "invalid %#llx",
					 m->name, (unsigned long long)pg,
					 w0 + i, (unsigned long long)v[i]);
	} else {
		wk->c.racy_bus++;
	}
	if (!eof_stable(g0, &size)) {
		wk->c.racy_unchecked++;
		return;
	}
	if (ok != (pg < size_pages(size)))
		mismatch(wk->name, "racy load %s page %llu %s, size %llu",
			 m->name, (unsigned long long)pg,
			 ok ? "succeeded past EOF" : "raised SIGBUS inside EOF",
			 (unsigned long long)size);
}

static void racy_pread(struct worker *wk)
{
	static __thread uint64_t buf[4 * WPP];
	uint64_t off = t_rand_below(&wk->rng, NPAGES * WPP) * 8;
	uint64_t len = (1 + t_rand_below(&wk->rng, 4 * WPP)) * 8;
	ssize_t got;

	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	got = udax_pread(f, buf, len, off);
	wk->c.racy_preads++;
	if (got < 0 || got > (ssize_t)len || got % 8) {
		mismatch(wk->name, "racy pread [%llu, +%llu): %zd",
			 (unsigned long long)off, (unsigned long long)len, got);
		return;
	}
	for (uint64_t i = 0; i < (uint64_t)got / 8; i++) {
		uint64_t o = off + i * 8;

		if (!valid(buf[i], o / PG, (unsigned int)(o % PG / 8)))
			mismatch(wk->name, "racy pread at %llu: invalid %#llx",
				 (unsigned long long)o,
				 (unsigned long long)buf[i]);
	}
}

static void *racer(void *arg)
{
	struct worker *wk = arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = t_rand_below(&wk->rng, 100);
		int err = 0;

		if (r < 60) {
			racy_load(wk);
		} else if (r < 75) {
			if (SOAK_TSAN)
				racy_load(wk);
			else
				racy_pread(wk);
		} else if (r < 88) {
			const struct map *m =
			    &maps[t_rand_below(&wk->rng, NMAP)];
			uint64_t p = t_rand_below(&wk->rng, m->npages);
			uint64_t n = 1 + t_rand_below(&wk->rng, m->npages - p);

			if (t_rand_below(&wk->rng, 2) && n > 64)
				n = 1 + n % 64;
			err = udax_msync(m->base + p * WPP, n * PG, MS_SYNC);
			wk->c.msyncs++;
		} else if (r < 92) {
			err = udax_fsync(f);
			wk->c.fsyncs++;
		} else if (r < 96) {
			/* A few pages anywhere, or one whole aligned 2 MiB
			 * (which a 2 MiB fault can then map, if the blocks
			 * come out aligned). */
			uint64_t a = t_rand_below(&wk->rng, NPAGES * WPP) * 8;
			uint64_t n = (1 + t_rand_below(&wk->rng, 16 * WPP)) * 8;

			if (t_rand_below(&wk->rng, 2)) {
				a = t_rand_below(&wk->rng, NPAGES / HUGE_PG) *
				    HUGE_PG * PG;
				n = HUGE_PG * PG;
			}
			if (a + n > MAXSIZE)
				n = MAXSIZE - a;
			err = udax_fallocate(f, UDAX_FALLOC_KEEP_SIZE, a, n);
			wk->c.fallocs++;
		} else {
			racy_load(wk);
		}
		if (err)
			mismatch(wk->name, "op %llu failed: %d",
				 (unsigned long long)r, err);
		atomic_fetch_add_explicit(&progress[NW], 1,
					  memory_order_relaxed);
	}
	return NULL;
}

/* ---- main: exclusive operations and full checks ---- */

static struct worker mainw = {.tid = TID_MAIN, .name = "main"};

static void size_changing(void)
{
	atomic_fetch_add(&eof_seq, 1);
}

static void size_changed(void)
{
	atomic_store(&eof_pub, cur_size);
	atomic_fetch_add(&eof_seq, 1);
}

/* The shadow: zero every word at or past byte @from. */
static void shadow_cut(uint64_t from)
{
	for (uint64_t o = from; o < MAXSIZE; o += 8)
		if (atomic_load_explicit(&shadow[o / 8], memory_order_relaxed))
			atomic_store_explicit(&shadow[o / 8], 0,
					      memory_order_relaxed);
}

static uint64_t pick_size(struct t_rng *r)
{
	uint64_t x = t_rand_below(r, 100);
	int64_t s;

	if (x < 40) { /* a few pages up or down */
		s = (int64_t)cur_size +
		    ((int64_t)t_rand_below(r, 17) - 8) * (int64_t)PG +
		    ((int64_t)t_rand_below(r, WPP) - WPP / 2) * 8;
		if (s < 0)
			s = 0;
		if (s > (int64_t)MAXSIZE)
			s = MAXSIZE;
		return (uint64_t)s & ~7ULL;
	}
	if (x < 60)
		return MAXSIZE;
	if (x < 75)
		return t_rand_below(r, MAXSIZE / 8 + 1) * 8;
	if (x < 88)
		return t_rand_below(r, NPAGES + 1) * PG;
	if (x < 94) /* a whole number of 2 MiB ranges */
		return t_rand_below(r, NPAGES / HUGE_PG + 1) * HUGE_PG * PG;
	/* just inside or past a 2 MiB boundary */
	s = (int64_t)(t_rand_below(r, NPAGES / HUGE_PG) + 1) * HUGE_PG * PG +
	    ((int64_t)t_rand_below(r, 3 * WPP) - WPP) * 8;
	return s > (int64_t)MAXSIZE ? MAXSIZE : (uint64_t)s;
}

static void ex_truncate(void)
{
	uint64_t size = pick_size(&mainw.rng);
	int err;

	size_changing();
	err = udax_ftruncate(f, size);
	if (err) {
		mismatch("main", "ftruncate %llu: %d", (unsigned long long)size,
			 err);
	} else {
		if (size < cur_size) {
			shadow_cut(size);
			mainw.c.truncs_down++;
		} else {
			mainw.c.truncs_up++;
		}
		cur_size = size;
	}
	size_changed();
}

/* pwrite of stamps around or past EOF: may grow the file. */
static void ex_extend(void)
{
	static uint64_t buf[4 * WPP];
	uint64_t back = cur_size < 16 * PG ? cur_size : 16 * PG;
	uint64_t off = (cur_size - back) / 8 * 8 +
		       t_rand_below(&mainw.rng, (back + 16 * PG) / 8) * 8;
	uint64_t n = 1 + t_rand_below(&mainw.rng, 4 * WPP);
	ssize_t got;

	if (off >= MAXSIZE)
		return;
	if (off + n * 8 > MAXSIZE)
		n = (MAXSIZE - off) / 8;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t o = off + i * 8;

		buf[i] = stamp(o / PG, (unsigned int)(o % PG / 8), TID_MAIN,
			       next_ctr(TID_MAIN, &mainw.ctr));
	}
	size_changing();
	got = udax_pwrite(f, buf, n * 8, off);
	if (got != (ssize_t)(n * 8)) {
		mismatch("main", "pwrite [%llu, +%llu): %zd",
			 (unsigned long long)off, (unsigned long long)n * 8,
			 got);
	} else {
		for (uint64_t i = 0; i < n; i++)
			atomic_store_explicit(&shadow[off / 8 + i], buf[i],
					      memory_order_relaxed);
		if (off + n * 8 > cur_size)
			cur_size = off + n * 8;
	}
	size_changed();
	mainw.c.extends++;
}

/* fallocate mode 0 (grows the file) of a random range. */
static void ex_grow(void)
{
	uint64_t a = t_rand_below(&mainw.rng, NPAGES * WPP) * 8;
	uint64_t n = (1 + t_rand_below(&mainw.rng, 256 * WPP)) * 8;
	int err;

	if (a + n > MAXSIZE)
		n = MAXSIZE - a;
	size_changing();
	err = udax_fallocate(f, 0, a, n);
	if (err)
		mismatch("main", "fallocate [%llu, +%llu): %d",
			 (unsigned long long)a, (unsigned long long)n, err);
	else if (a + n > cur_size)
		cur_size = a + n;
	size_changed();
	mainw.c.grows++;
}

/* A punch across owners (size unchanged). */
static void ex_punch(void)
{
	uint64_t a = t_rand_below(&mainw.rng, NPAGES * WPP) * 8;
	uint64_t n = (1 + t_rand_below(&mainw.rng, 600 * WPP)) * 8, e;
	int err;

	if (t_rand_below(&mainw.rng, 2))
		a &= ~(PG - 1);
	if (a + n > MAXSIZE)
		n = MAXSIZE - a;
	err = udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE | UDAX_FALLOC_KEEP_SIZE,
			     a, n);
	if (err)
		mismatch("main", "punch [%llu, +%llu): %d",
			 (unsigned long long)a, (unsigned long long)n, err);
	e = a + n < cur_size ? a + n : cur_size;
	for (uint64_t o = a; o < e; o += 8)
		atomic_store_explicit(&shadow[o / 8], 0, memory_order_relaxed);
	mainw.c.big_punches++;
}

/* Everything, with nothing but the racer running. ex_lock exclusive. */
static void full_check(void)
{
	static uint64_t buf[NPAGES * WPP];
	uint64_t spg = size_pages(cur_size), v[WPP];
	struct stat st;
	ssize_t got;

	REQUIRE(udax_fstat(f, &st) == 0);
	if ((uint64_t)st.st_size != cur_size)
		mismatch("check", "fstat size %lld, expected %llu",
			 (long long)st.st_size, (unsigned long long)cur_size);
	got = udax_pread(f, buf, MAXSIZE, 0);
	if (got != (ssize_t)cur_size)
		mismatch("check", "pread of the file: %zd, size %llu", got,
			 (unsigned long long)cur_size);
	for (uint64_t i = 0; i < (uint64_t)(got > 0 ? got : 0) / 8; i++)
		if (buf[i] != atomic_load(&shadow[i])) {
			mismatch("check",
				 "pread word %llu (page %llu): %#llx, "
				 "shadow %#llx",
				 (unsigned long long)i,
				 (unsigned long long)(i / WPP),
				 (unsigned long long)buf[i],
				 (unsigned long long)atomic_load(&shadow[i]));
			break;
		}
	for (unsigned int k = 0; k < NMAP; k++) {
		const struct map *m = &maps[k];

		for (uint64_t pg = m->first; pg < m->first + m->npages; pg++) {
			bool ok = load_words(word_ptr(m, pg, 0), v,
					     pg < spg ? WPP : 1);

			if (ok != (pg < spg)) {
				mismatch("check", "%s page %llu: %s, size %llu",
					 m->name, (unsigned long long)pg,
					 ok ? "readable past EOF"
					    : "SIGBUS inside EOF",
					 (unsigned long long)cur_size);
				continue;
			}
			if (!ok)
				continue;
			for (unsigned int w = 0; w < WPP; w++)
				if (v[w] != atomic_load(SHADOW(pg, w))) {
					mismatch(
					    "check",
					    "%s page %llu word %u: %#llx, "
					    "shadow %#llx",
					    m->name, (unsigned long long)pg, w,
					    (unsigned long long)v[w],
					    (unsigned long long)atomic_load(
						SHADOW(pg, w)));
					break;
				}
		}
	}
	mainw.c.checks++;
}

/* ---- setup ---- */

static void set_map(unsigned int k, const char *name, void *p, uint64_t first,
		    uint64_t npages)
{
	maps[k].name = name;
	maps[k].base = p;
	maps[k].first = first;
	maps[k].npages = npages;
	maps[k].len = npages * PG;
	/* 2 MiB faults need file and memory to agree modulo 2 MiB. */
	maps[k].huge_ok = ((uintptr_t)p / PG - first) % HUGE_PG == 0;
}

static void map_all(void)
{
	const uint64_t huge = HUGE_PG * PG;
	void *p;
	char *res;

	/* A: offset 0, placed by udax on a 2 MiB boundary. */
	REQUIRE(udax_mmap(f, NULL, MAXSIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			  0, &p) == 0);
	set_map(0, "A", p, 0, NPAGES);
	/* B: file pages 1..1023 at a 2 MiB-aligned address, so no aligned
	 * 2 MiB of the file lands on an aligned 2 MiB of memory: never
	 * huge. Its 4 KiB entries keep A and C from 2 MiB faults in the
	 * first 4 MiB; the last 4 MiB are A's and C's alone. */
	res = mmap(NULL, MAXSIZE + 2 * huge, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	REQUIRE(res != MAP_FAILED);
	REQUIRE(munmap(res, MAXSIZE + 2 * huge) == 0);
	res = (char *)(((uintptr_t)res + huge - 1) & ~(huge - 1));
	REQUIRE(udax_mmap(f, res, BPAGES * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, PG, &p) == 0);
	set_map(1, "B", p, 1, BPAGES);
	/* C: offset 0, MAP_SYNC. */
	REQUIRE(udax_mmap(f, NULL, MAXSIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_SYNC, 0, &p) == 0);
	set_map(2, "C(sync)", p, 0, NPAGES);
	for (unsigned int k = 0; k < NMAP; k++)
		printf("mapping %s: file pages %llu..%llu at %p, 2 MiB faults "
		       "%s\n",
		       maps[k].name, (unsigned long long)maps[k].first,
		       (unsigned long long)(maps[k].first + maps[k].npages - 1),
		       (void *)maps[k].base,
		       maps[k].huge_ok ? "possible" : "impossible");
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SEED] [-m MINUTES] [-l]\n", prog);
	exit(T_FAIL);
}

static void print_stats(const struct udax_stats *s)
{
	printf("faults: pte %llu pmd %llu read %llu write %llu cow %llu "
	       "hole %llu fallback %llu mkwrite %llu major %llu; hole fills "
	       "%llu, SIGBUS %llu, sync commits %llu, pages written back "
	       "%llu\n",
	       (unsigned long long)s->faults_pte,
	       (unsigned long long)s->faults_pmd,
	       (unsigned long long)s->faults_read,
	       (unsigned long long)s->faults_write,
	       (unsigned long long)s->faults_cow,
	       (unsigned long long)s->faults_hole,
	       (unsigned long long)s->faults_fallback,
	       (unsigned long long)s->faults_mkwrite,
	       (unsigned long long)s->faults_major,
	       (unsigned long long)s->hole_fills, (unsigned long long)s->sigbus,
	       (unsigned long long)s->sync_commits,
	       (unsigned long long)s->writeback_pages);
	printf("entry locks: %llu waits, %llu wake-ups, %llu PMD conflicts, "
	       "%llu PMD downgrades; %llu map calls, %llu map errors\n",
	       (unsigned long long)s->lock_waits,
	       (unsigned long long)s->lock_wakeups,
	       (unsigned long long)s->pmd_conflicts,
	       (unsigned long long)s->pmd_downgrades,
	       (unsigned long long)s->map_calls,
	       (unsigned long long)s->map_errors);
}

int main(int argc, char **argv)
{
	struct worker wk[NW + 1];
	unsigned long last_progress[NW + 1] = {0};
	struct counts tot = {0};
	pthread_rwlockattr_t attr;
	struct udax_pool *pool;
	struct udax_stats st;
	double secs = 3, start, end, next_check, next_progress;
	const char *env = getenv("UDAX_TEST_LONG");
	char path[300];
	int opt;

	t_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	if (env && *env && strcmp(env, "0") != 0)
		secs = 60;
	while ((opt = getopt(argc, argv, "s:m:l")) != -1) {
		switch (opt) {
		case 's':
			t_seed = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			secs = strtod(optarg, NULL) * 60;
			if (!(secs > 0))
				usage(argv[0]);
			break;
		case 'l':
			secs = 60;
			break;
		default:
			usage(argv[0]);
		}
	}
	printf("api_soak: seed %" PRIu64 ", %.0f s (replay with -s %" PRIu64
	       ")\n",
	       t_seed, secs, t_seed);
	fflush(stdout);
	/* Re-armed by the main loop: fires only if main itself hangs. */
	t_watchdog(120);

	shadow = calloc(NPAGES * WPP, sizeof(*shadow));
	REQUIRE(shadow);
	t_rng_init(&mainw.rng, t_seed);
	/*
	 * The pool goes to TMPDIR if set, else to /dev/shm: on a disk every
	 * flush (pwrite, msync, fsync, journal commits) is an msync(2) that
	 * waits for the disk, and the run would be a hundred times thinner.
	 */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	printf("pool in %s\n", t_tmpdir());
	t_catch_sigbus();
	pthread_rwlockattr_init(&attr);
	/* Writer-preferring: main's exclusive operations must not starve. */
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	REQUIRE(pthread_rwlock_init(&ex_lock, &attr) == 0);
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	REQUIRE(udax_open(pool, "soak", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, MAXSIZE / 2) == 0);
	cur_size = MAXSIZE / 2;
	atomic_store(&eof_pub, cur_size);
	map_all();

	for (unsigned int i = 0; i <= NW; i++) {
		wk[i].tid = i;
		wk[i].ctr = 0;
		memset(&wk[i].c, 0, sizeof(wk[i].c));
		t_rng_init(&wk[i].rng, t_seed * 31 + i + 1);
		if (i < NW)
			snprintf(wk[i].name, sizeof(wk[i].name), "owner %u", i);
		else
			snprintf(wk[i].name, sizeof(wk[i].name), "racer");
		REQUIRE(pthread_create(&wk[i].thread, NULL,
				       i < NW ? owner : racer, &wk[i]) == 0);
	}

	start = t_now();
	end = start + secs;
	next_check = start + 0.25;
	next_progress = start + 30;
	while (t_now() < end && !atomic_load(&mismatches)) {
		uint64_t r = t_rand_below(&mainw.rng, 100);

		alarm(120);
		usleep((useconds_t)t_rand_below(&mainw.rng, 2000));
		pthread_rwlock_wrlock(&ex_lock);
		if (r < 50)
			ex_truncate();
		else if (r < 70)
			ex_extend();
		else if (r < 80)
			ex_grow();
		else
			ex_punch();
		if (t_now() >= next_check) {
			full_check();
			next_check = t_now() + 0.25;
		}
		pthread_rwlock_unlock(&ex_lock);
		if (t_now() >= next_progress) {
			/* Every worker must have moved in 30 s. */
			for (unsigned int i = 0; i <= NW; i++) {
				unsigned long p = atomic_load(&progress[i]);

				if (p == last_progress[i]) {
					fprintf(stderr,
						"%s made no progress "
						"in 30 s: hung\n",
						wk[i].name);
					_exit(T_FAIL);
				}
				last_progress[i] = p;
			}
			next_progress = t_now() + 30;
		}
	}
	atomic_store(&stop, true);
	for (unsigned int i = 0; i <= NW; i++) {
		REQUIRE(pthread_join(wk[i].thread, NULL) == 0);
		add_counts(&tot, &wk[i].c);
	}
	alarm(120);
	full_check();
	add_counts(&tot, &mainw.c);
	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	REQUIRE(udax_fsync(f) == 0);
	for (unsigned int k = 0; k < NMAP; k++)
		REQUIRE(udax_munmap(maps[k].base, maps[k].len) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);

	/* What the pool holds after closing is the shadow. */
	{
		static uint64_t buf[NPAGES * WPP];
		ssize_t got;

		REQUIRE(udax_pool_open(path, 0, &pool) == 0);
		REQUIRE(udax_open(pool, "soak", O_RDONLY, 0, &f) == 0);
		got = udax_pread(f, buf, MAXSIZE, 0);
		if (got != (ssize_t)cur_size)
			mismatch("reopen", "size %zd, expected %llu", got,
				 (unsigned long long)cur_size);
		for (uint64_t i = 0; got > 0 && i < (uint64_t)got / 8; i++)
			if (buf[i] != atomic_load(&shadow[i])) {
				mismatch("reopen",
					 "word %llu: %#llx, shadow "
					 "%#llx",
					 (unsigned long long)i,
					 (unsigned long long)buf[i],
					 (unsigned long long)atomic_load(
					     &shadow[i]));
				break;
			}
		REQUIRE(udax_close(f) == 0);
		REQUIRE(udax_pool_close(pool) == 0);
	}

	printf("ran %.1f s, %u owners + racer + main\n", t_now() - start, NW);
	printf("owners: %lu stores (%lu words), %lu pwrites, %lu self-copies, "
	       "%lu punches, %lu loads, %lu preads; %lu words compared with "
	       "the shadow, %lu reads of pages busy (validity only), %lu "
	       "SIGBUS past EOF as expected\n",
	       tot.stores, tot.store_words, tot.pwrites, tot.selfcopies,
	       tot.punches, tot.loads, tot.preads, tot.compared, tot.unstable,
	       tot.bus_expected);
	printf("racer: %lu loads (%lu SIGBUS, %lu across a size change), %lu "
	       "preads, %lu msyncs, %lu fsyncs, %lu fallocates\n",
	       tot.racy_loads, tot.racy_bus, tot.racy_unchecked,
	       tot.racy_preads, tot.msyncs, tot.fsyncs, tot.fallocs);
	printf("main: %lu truncates down, %lu up, %lu pwrites at EOF, %lu "
	       "growing fallocates, %lu punches, %lu full checks; final size "
	       "%llu\n",
	       tot.truncs_down, tot.truncs_up, tot.extends, tot.grows,
	       tot.big_punches, tot.checks, (unsigned long long)cur_size);
	print_stats(&st);
	printf("mismatches: %lu\n", atomic_load(&mismatches));
	CHECK_EQ(atomic_load(&mismatches), 0);
	/* The run must have exercised what it is about. */
	CHECK(tot.compared > 0 && tot.bus_expected > 0 && tot.store_words > 0);
	pthread_rwlock_destroy(&ex_lock);
	free(shadow);
	t_cleanup();
	return t_done("api_soak");
}
