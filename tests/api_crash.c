/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_crash - crash consistency through the public API.
 *
 * Each round forks a worker that opens the pool and runs a seeded random,
 * metadata-heavy workload on NSLOTS named files ("f0".."f7") and a few
 * orphans: create, unlink (closed first, or while open and mapped, the
 * handle then living on as an orphan), pwrite (allocating, extending,
 * leaving gaps), ftruncate down and up (sometimes to a size that is not
 * a multiple of 4 KiB, always of 8 bytes: the checker looks at words),
 * fallocate (plain, KEEP_SIZE, 2 MiB-aligned), punch hole (sometimes
 * unaligned), stores through a shared 4 MiB mapping of every file (2 MiB
 * extents map as 2 MiB pages), msync of ranges, fsync, close and reopen
 * (sometimes with O_TRUNC); it also checks its own reads (pread and
 * loads through the mappings) against what it wrote. The pool is small
 * (8 MiB for up to 40 MiB of files), so allocations fail with -ENOSPC
 * now and then (stores through a mapping then get SIGBUS), and a failed
 * call must have changed nothing.
 *
 * The parent SIGKILLs the worker at a random moment: one round in four
 * once the worker's operation count, published in shared memory, reaches
 * a random target below 300; one in six at a random time within 1.5 times
 * the last measured duration of the worker's udax_pool_open() (journal
 * replay, orphan cleanup), counted from its start; otherwise 0-30 ms
 * after udax_pool_open() returned.
 * A killed process loses nothing it stored to the pool's shared mapping,
 * so what this checks is that the filesystem is consistent and recovers
 * at every instant between its stores: no torn transaction, no half-done
 * truncate, no leaked or doubly owned block.
 *
 * What the worker claims is durable is kept in an anonymous MAP_SHARED
 * log set up before the first fork (struct shared): per file, whether it
 * exists, its size, and per 4 KiB page a stamp (the write that produced
 * the page; 0 for zeros). A claim is withdrawn (set to "unknown") before
 * the call that may change it starts, and made again only when that is
 * guaranteed:
 *
 *   page data   after udax_pwrite() returns (udax.h: "makes the data
 *               durable before returning"); after udax_fsync() for every
 *               page changed since (mapping stores, truncate, punch,
 *               extension); after udax_msync() for pages of its range
 *               last changed by mapping stores, when the claimed size
 *               already covers them. A page changed by a partial-page
 *               truncate or punch, or torn by an earlier crash, is never
 *               claimed until rewritten whole;
 *   size        after udax_fsync();
 *   existence   when udax_open(O_CREAT) / udax_unlink() return: the
 *               filesystem commits every metadata change before the call
 *               returns (src/fs/fs.h); the public API has no directory
 *               fsync to wait for instead.
 *
 * Pages a file gains by growing (ftruncate up, pwrite past EOF, fallocate)
 * are zeros in the model, claimed as such at the next fsync: this is what
 * caught blocks left beyond EOF by a truncate or an extending pwrite that
 * a crash interrupted, whose old bytes a later extension showed again
 * (fixed in src/fault/truncate.c and rw.c: free before shrinking the
 * size, grow the size before copying); and a punch hole that failed with
 * -ENOSPC after zeroing its partial pages (truncate.c: free first).
 *
 * After the kill a checker process (the parent itself never calls udax,
 * so the workers and checkers fork from a process with no liburcu threads
 * or locks) requires: udax_pool_fsck() clean (no report at all), then
 * udax_pool_open() success, only f0..f7 listed, and every claim true
 * (contents read with udax_pread()). Pages without a claim must still hold
 * only bytes this file could have had: zeros, or words stamped for this
 * file and page (each 8-byte word carries its stamp and a hash of stamp,
 * file, page and word, so a torn page is fine but a block of another file,
 * an orphan, or garbage is not). The checker then settles the log to what
 * it saw (the state it observed is durable: it closes the pool cleanly),
 * so claims carry over from round to round, checks fsck again after the
 * clean close, and the next worker continues from there. At the end every
 * file is unlinked and the pool must have all its blocks free (orphans of
 * crashed workers freed by mount, nothing leaked).
 *
 * Default: 100 crash points (a few seconds with ASan); -l: 1000. The seed
 * drives the workloads and the kill delays; where the kill lands in the
 * workload depends on timing and is not reproducible exactly.
 */
#include "api_util.h"

#include <stdarg.h>
#include <sys/wait.h>

#define NSLOTS 8
#define NORPHANS 2
#define MAXPAGES 1024 /* 4 MiB files at most */
#define PG 4096ULL
#define WORDS 512
#define MAP_LEN (MAXPAGES * PG)
#define POOL_SIZE (8ULL << 20) /* small: ENOSPC happens */
#define ORPHAN_ID 100 /* file id of orphan k in its words: 100 + k */

#define UNKNOWN UINT32_MAX
#define SIZE_UNKNOWN UINT64_MAX

enum { EX_UNKNOWN, EX_ABSENT, EX_PRESENT };

/* Why a page of the worker's model is not yet claimed. */
enum { D_CLEAN, D_MAP, D_META };

struct claims {
	_Atomic uint32_t exist;
	_Atomic uint64_t size;
	_Atomic uint32_t page[MAXPAGES];
};

struct shared {
	_Atomic uint32_t stamp;	  /* last stamp issued (never reused) */
	_Atomic uint64_t ops;	  /* worker's operations this round */
	_Atomic int opening;	  /* worker called udax_pool_open */
	_Atomic int mounted;	  /* worker's udax_pool_open returned */
	_Atomic uint64_t mount_ns; /* how long that took */
	_Atomic uint32_t worker_errors;
	char worker_msg[512];
	struct claims c[NSLOTS];
	/* counters, summed over rounds */
	_Atomic uint64_t total_ops, enospc, sigbus;
	uint64_t files_checked, pages_checked, claims_checked, torn_pages,
		size_claims, exist_claims;
};

static struct shared *sh;
static pid_t parent_pid;

/* Keep the compiler from moving later stores (to the pool, through a
 * mapping) before a withdrawn claim: a SIGKILL stops the thread between
 * two instructions, and all it stored before is there. Also around the
 * accesses that may raise SIGBUS: t_bus_jmp is an ordinary variable, and
 * without it its "= &jb" is a dead store that -O2 deletes. */
#define FENCE() atomic_signal_fence(memory_order_seq_cst)

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 31;
	return x;
}

/* Word @w of page @p of file @id written with stamp @t (t >= 1). */
static uint64_t word_of(uint32_t t, unsigned int id, uint64_t p, unsigned int w)
{
	uint64_t h = mix64((uint64_t)t * 0x9E3779B97F4A7C15ULL ^
			   (uint64_t)(id + 1) << 48 ^ p << 20 ^ w);

	return (uint64_t)t << 32 | (h & 0xFFFFFFFFULL);
}

static void fill_page(uint64_t *dst, uint32_t t, unsigned int id, uint64_t p)
{
	for (unsigned int w = 0; w < WORDS; w++)
		dst[w] = word_of(t, id, p, w);
}

enum { PG_ZERO, PG_STAMP, PG_TORN, PG_BAD };

/*
 * What @nw words of page @p of file @id hold: all zeros, all of one
 * stamp, a mix of zeros and words of this page (torn), or something that
 * was never written there (*@bad_word says which word).
 */
static int classify(const uint64_t *w, unsigned int nw, unsigned int id,
		    uint64_t p, uint32_t max_stamp, uint32_t *stamp,
		    unsigned int *bad_word)
{
	bool zeros = false, mixed = false;
	uint32_t first = 0;

	for (unsigned int i = 0; i < nw; i++) {
		uint32_t t = (uint32_t)(w[i] >> 32);

		if (!w[i]) {
			zeros = true;
			continue;
		}
		if (!t || t > max_stamp || w[i] != word_of(t, id, p, i)) {
			*bad_word = i;
			return PG_BAD;
		}
		if (!first)
			first = t;
		else if (t != first)
			mixed = true;
	}
	if (!first)
		return PG_ZERO;
	if (mixed || zeros)
		return PG_TORN;
	*stamp = first;
	return PG_STAMP;
}

/* ---- the worker ---- */

struct cslot {
	struct udax_file *f; /* NULL: absent */
	char *map;
	uint64_t size;
	uint32_t cur[MAXPAGES]; /* what each page holds (UNKNOWN: partial) */
	uint8_t dirty[MAXPAGES];
};

struct orphan {
	struct udax_file *f; /* NULL: free slot */
	char *map;
	uint64_t size;
};

static struct udax_pool *wpool;
static struct cslot cs[NSLOTS];
static struct orphan orph[NORPHANS];
static uint64_t wbuf[64 * WORDS];

static void worker_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void worker_error(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&sh->worker_errors, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(sh->worker_msg, sizeof(sh->worker_msg), fmt, ap);
		va_end(ap);
	}
}

static uint32_t new_stamp(void)
{
	return atomic_fetch_add(&sh->stamp, 1) + 1;
}

static void slot_name(char *buf, size_t len, int s)
{
	snprintf(buf, len, "f%d", s);
}

static uint64_t full_pages(uint64_t size)
{
	return size / PG;
}

static uint64_t ceil_pages(uint64_t size)
{
	return (size + PG - 1) / PG;
}

/* Withdraw the claims on pages [a, b) of slot @s. */
static void unclaim(int s, uint64_t a, uint64_t b)
{
	for (uint64_t p = a; p < b && p < MAXPAGES; p++)
		atomic_store(&sh->c[s].page[p], UNKNOWN);
	FENCE();
}

static void unclaim_size(int s)
{
	atomic_store(&sh->c[s].size, SIZE_UNKNOWN);
	FENCE();
}

static void claim(int s, uint64_t p, uint32_t v)
{
	atomic_store(&sh->c[s].page[p], v);
}

/* Store a whole page through a mapping; false on SIGBUS. */
static bool map_store_page(char *addr, uint32_t t, unsigned int id,
			   uint64_t p)
{
	volatile uint64_t *d = (volatile uint64_t *)addr;
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_bus_jmp = NULL;
		atomic_fetch_add(&sh->sigbus, 1);
		return false;
	}
	t_bus_jmp = &jb;
	FENCE(); /* else the store above is dead to the compiler */
	for (unsigned int w = 0; w < WORDS; w++)
		d[w] = word_of(t, id, p, w);
	FENCE();
	t_bus_jmp = NULL;
	return true;
}

static bool map_load_page(const char *addr, uint64_t *out)
{
	const volatile uint64_t *s = (const volatile uint64_t *)addr;
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_bus_jmp = NULL;
		return false;
	}
	t_bus_jmp = &jb;
	FENCE();
	for (unsigned int w = 0; w < WORDS; w++)
		out[w] = s[w];
	FENCE();
	t_bus_jmp = NULL;
	return true;
}

/* Compare a page the worker read with its model. */
static void check_read(int s, uint64_t p, const uint64_t *w, const char *how)
{
	uint32_t t = cs[s].cur[p];

	if (t == UNKNOWN)
		return;
	for (unsigned int i = 0; i < WORDS; i++) {
		uint64_t want = t ? word_of(t, (unsigned int)s, p, i) : 0;

		if (w[i] != want) {
			worker_error("%s of f%d page %llu word %u: %#llx, "
				     "expected %#llx (stamp %u)",
				     how, s, (unsigned long long)p, i,
				     (unsigned long long)w[i],
				     (unsigned long long)want, t);
			return;
		}
	}
}

static void slot_reset(struct cslot *c)
{
	c->f = NULL;
	c->map = NULL;
	c->size = 0;
	for (uint64_t p = 0; p < MAXPAGES; p++) {
		c->cur[p] = 0;
		c->dirty[p] = D_CLEAN;
	}
}

static void slot_map(int s)
{
	void *m;
	int err = udax_mmap(cs[s].f, NULL, MAP_LEN, PROT_READ | PROT_WRITE,
			    MAP_SHARED, 0, &m);

	if (err) {
		fprintf(stderr, "worker: udax_mmap f%d: %s\n", s,
			strerror(-err));
		exit(T_FAIL);
	}
	cs[s].map = m;
}

static void slot_unmap_close(struct cslot *c)
{
	if (c->map)
		REQUIRE(udax_munmap(c->map, MAP_LEN) == 0);
	REQUIRE(udax_close(c->f) == 0);
	c->map = NULL;
	c->f = NULL;
}

static void worker_load(void)
{
	for (int s = 0; s < NSLOTS; s++) {
		struct cslot *c = &cs[s];
		char name[16];
		struct stat st;
		int err;

		slot_reset(c);
		slot_name(name, sizeof(name), s);
		err = udax_open(wpool, name, O_RDWR, 0, &c->f);
		if (err == -ENOENT) {
			c->f = NULL;
			continue;
		}
		REQUIRE(err == 0);
		REQUIRE(udax_fstat(c->f, &st) == 0);
		c->size = (uint64_t)st.st_size;
		REQUIRE(c->size <= MAP_LEN);
		for (uint64_t p = 0; p < MAXPAGES; p++) {
			if (p < full_pages(c->size))
				c->cur[p] = atomic_load(&sh->c[s].page[p]);
			else if (p * PG >= c->size)
				c->cur[p] = 0;
			else
				c->cur[p] = UNKNOWN; /* partial last page */
		}
		slot_map(s);
	}
}

/* A slot that is (@present) or is not open; -1 if none. */
static int pick_slot(struct t_rng *r, bool present)
{
	int start = (int)t_rand_below(r, NSLOTS);

	for (int k = 0; k < NSLOTS; k++) {
		int s = (start + k) % NSLOTS;

		if (!!cs[s].f == present)
			return s;
	}
	return -1;
}

static void op_create(int s)
{
	struct cslot *c = &cs[s];
	char name[16];
	int err;

	slot_name(name, sizeof(name), s);
	atomic_store(&sh->c[s].exist, EX_UNKNOWN);
	unclaim_size(s);
	err = udax_open(wpool, name, O_RDWR | O_CREAT | O_EXCL, 0644, &c->f);
	if (err == -ENOSPC) {
		atomic_fetch_add(&sh->enospc, 1);
		c->f = NULL;
		return;
	}
	if (err) {
		worker_error("create f%d: %s", s, strerror(-err));
		c->f = NULL;
		return;
	}
	atomic_store(&sh->c[s].exist, EX_PRESENT);
	{
		struct udax_file *f = c->f;

		slot_reset(c); /* an empty file */
		c->f = f;
	}
	slot_map(s);
}

static void op_unlink(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	bool close_first = t_rand_below(r, 2) == 0;
	char name[16];
	int err, o = -1;

	slot_name(name, sizeof(name), s);
	atomic_store(&sh->c[s].exist, EX_UNKNOWN);
	unclaim_size(s);
	unclaim(s, 0, MAXPAGES);
	if (close_first)
		slot_unmap_close(c);
	err = udax_unlink(wpool, name);
	if (err) {
		worker_error("unlink f%d: %s", s, strerror(-err));
		return;
	}
	atomic_store(&sh->c[s].exist, EX_ABSENT);
	if (!close_first) {
		for (int k = 0; k < NORPHANS; k++)
			if (!orph[k].f) {
				o = k;
				break;
			}
		if (o >= 0 && t_rand_below(r, 3)) {
			orph[o].f = c->f;
			orph[o].map = c->map;
			orph[o].size = c->size;
		} else {
			slot_unmap_close(c);
		}
	}
	slot_reset(c);
}

/* Mark pages [a, b) of @s changed (zero extension etc.): fsync claims. */
static void set_dirty(int s, uint64_t a, uint64_t b, uint8_t why)
{
	for (uint64_t p = a; p < b && p < MAXPAGES; p++)
		cs[s].dirty[p] = why;
}

static void op_pwrite(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	uint64_t n = 1 + t_rand_below(r, t_rand_below(r, 8) ? 8 : 64);
	uint64_t p, old = c->size, end;
	uint32_t t;
	ssize_t ret;

	/* Mostly inside or just past the file, sometimes anywhere. */
	if (t_rand_below(r, 4) && ceil_pages(old) + 8 < MAXPAGES)
		p = t_rand_below(r, ceil_pages(old) + 8);
	else
		p = t_rand_below(r, MAXPAGES);
	if (p + n > MAXPAGES)
		n = MAXPAGES - p;
	end = (p + n) * PG;
	t = new_stamp();
	for (uint64_t k = 0; k < n; k++)
		fill_page(wbuf + k * WORDS, t, (unsigned int)s, p + k);
	unclaim(s, p, p + n);
	if (end > old)
		unclaim_size(s);
	ret = udax_pwrite(c->f, wbuf, n * PG, p * PG);
	if (ret < 0) {
		if (ret != -ENOSPC)
			worker_error("pwrite f%d: %s", s, strerror((int)-ret));
		atomic_fetch_add(&sh->enospc, 1);
		/* A failed call changes nothing: fsync may claim again. */
		set_dirty(s, p, p + n, D_META);
		return;
	}
	uint64_t whole = (uint64_t)ret / PG;

	for (uint64_t k = 0; k < whole; k++) {
		c->cur[p + k] = t;
		c->dirty[p + k] = D_CLEAN;
		claim(s, p + k, t); /* durable on return */
	}
	if ((uint64_t)ret % PG) {
		c->cur[p + whole] = UNKNOWN;
		c->dirty[p + whole] = D_META;
		whole++;
	}
	set_dirty(s, p + whole, p + n, D_META);
	if (p * PG + (uint64_t)ret > old) {
		/* The gap [old, p) now reads as zeros (cur is 0 there). */
		if (ceil_pages(old) < p)
			set_dirty(s, ceil_pages(old), p, D_META);
		c->size = p * PG + (uint64_t)ret;
	}
}

static void op_map_write(struct t_rng *r, int s, int max_n)
{
	struct cslot *c = &cs[s];
	uint64_t full = full_pages(c->size), p, n;
	uint32_t t;

	if (!full)
		return;
	n = 1 + t_rand_below(r, (uint64_t)max_n);
	p = t_rand_below(r, full);
	if (p + n > full)
		n = full - p;
	unclaim(s, p, p + n);
	t = new_stamp();
	for (uint64_t k = 0; k < n; k++) {
		c->dirty[p + k] = D_MAP;
		if (!map_store_page(c->map + (p + k) * PG, t, (unsigned int)s,
				    p + k)) {
			c->cur[p + k] = UNKNOWN; /* maybe partly written */
			break;
		}
		c->cur[p + k] = t;
	}
}

static void op_map_read(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	uint64_t full = full_pages(c->size), p;
	static uint64_t page[WORDS];

	if (!full)
		return;
	p = t_rand_below(r, full);
	if (!map_load_page(c->map + p * PG, page)) {
		worker_error("load f%d page %llu: SIGBUS inside the file", s,
			     (unsigned long long)p);
		return;
	}
	check_read(s, p, page, "mapping load");
}

static void op_pread(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	uint64_t full = full_pages(c->size), p, n;
	ssize_t ret;

	if (!full)
		return;
	p = t_rand_below(r, full);
	n = 1 + t_rand_below(r, 16);
	if (p + n > full)
		n = full - p;
	ret = udax_pread(c->f, wbuf, n * PG, p * PG);
	if (ret != (ssize_t)(n * PG)) {
		worker_error("pread f%d: %zd, expected %llu", s, ret,
			     (unsigned long long)(n * PG));
		return;
	}
	for (uint64_t k = 0; k < n; k++)
		check_read(s, p + k, wbuf + k * WORDS, "pread");
}

static void op_msync(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	uint64_t full = full_pages(c->size), p, n, csize;
	int err;

	if (!full)
		return;
	p = t_rand_below(r, full);
	n = 1 + t_rand_below(r, 64);
	if (p + n > full)
		n = full - p;
	err = udax_msync(c->map + p * PG, n * PG, MS_SYNC);
	if (err) {
		worker_error("msync f%d: %s", s, strerror(-err));
		return;
	}
	csize = atomic_load(&sh->c[s].size);
	for (uint64_t k = p; k < p + n; k++)
		if (c->dirty[k] == D_MAP && c->cur[k] != UNKNOWN &&
		    csize != SIZE_UNKNOWN && (k + 1) * PG <= csize) {
			claim(s, k, c->cur[k]);
			c->dirty[k] = D_CLEAN;
		}
}

static void op_fsync(int s)
{
	struct cslot *c = &cs[s];
	uint64_t full = full_pages(c->size);
	int err = udax_fsync(c->f);

	if (err) {
		worker_error("fsync f%d: %s", s, strerror(-err));
		return;
	}
	for (uint64_t p = 0; p < MAXPAGES; p++) {
		if (c->dirty[p] && p < full && c->cur[p] != UNKNOWN)
			claim(s, p, c->cur[p]);
		c->dirty[p] = D_CLEAN;
	}
	atomic_store(&sh->c[s].size, c->size);
}

/* The model of a size change to @size that succeeded (truncate). */
static void model_resize(int s, uint64_t size)
{
	struct cslot *c = &cs[s];
	uint64_t old = c->size;

	if (size < old) {
		for (uint64_t p = ceil_pages(size); p < ceil_pages(old); p++) {
			c->cur[p] = 0;
			c->dirty[p] = D_CLEAN;
		}
		if (size % PG) {
			c->cur[size / PG] = UNKNOWN;
			c->dirty[size / PG] = D_META;
		}
	} else if (size > old) {
		set_dirty(s, ceil_pages(old), ceil_pages(size), D_META);
	}
	c->size = size;
}

static void unclaim_resize(int s, uint64_t size)
{
	unclaim_size(s);
	if (size < cs[s].size)
		unclaim(s, size / PG, MAXPAGES);
}

static void op_ftruncate(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	uint64_t size;
	int err;

	switch (t_rand_below(r, 4)) {
	case 0:
		size = t_rand_below(r, MAXPAGES + 1) * PG;
		break;
	case 1: /* unaligned (to a word: the checker checks words) */
		size = t_rand_below(r, MAP_LEN) & ~7ULL;
		break;
	default: /* a small change */
		size = ceil_pages(c->size) * PG;
		if (t_rand_below(r, 2)) {
			size += t_rand_below(r, 16) * PG;
		} else {
			uint64_t d = t_rand_below(r, 16) * PG;

			size = d < size ? size - d : 0;
		}
		if (size > MAP_LEN)
			size = MAP_LEN;
	}
	unclaim_resize(s, size);
	err = udax_ftruncate(c->f, size);
	if (err) {
		worker_error("ftruncate f%d to %llu: %s", s,
			     (unsigned long long)size, strerror(-err));
		return;
	}
	model_resize(s, size);
}

static void op_punch(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	uint64_t off, len, end, a, b;
	int err;

	if (!c->size)
		return;
	if (t_rand_below(r, 4)) {
		off = t_rand_below(r, ceil_pages(c->size)) * PG;
		len = (1 + t_rand_below(r, t_rand_below(r, 4) ? 16 : 600)) *
		      PG;
	} else {
		off = t_rand_below(r, c->size) & ~7ULL;
		len = (1 + t_rand_below(r, 20 * PG / 8)) * 8;
	}
	end = off + len;
	a = off / PG;			/* first page touched */
	b = ceil_pages(end < c->size ? end : c->size); /* past last */
	unclaim(s, a, b);
	err = udax_fallocate(c->f,
			     UDAX_FALLOC_PUNCH_HOLE | UDAX_FALLOC_KEEP_SIZE,
			     off, len);
	if (err == -ENOSPC) {
		/* No extent block to split with: nothing changed. */
		atomic_fetch_add(&sh->enospc, 1);
		set_dirty(s, a, b, D_META);
		return;
	}
	if (err) {
		worker_error("punch f%d [%llu, +%llu): %s", s,
			     (unsigned long long)off, (unsigned long long)len,
			     strerror(-err));
		return;
	}
	for (uint64_t p = a; p < b; p++) {
		bool whole = p * PG >= off && (p + 1) * PG <= end;

		if (whole)
			c->cur[p] = 0;
		else if (c->cur[p] != 0)
			c->cur[p] = UNKNOWN; /* partly zeroed */
		c->dirty[p] = D_META;
	}
}

static void op_fallocate(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	bool keep = t_rand_below(r, 2);
	uint64_t off, len;
	int err;

	if (t_rand_below(r, 5) == 0) {
		off = t_rand_below(r, 2) * (2ULL << 20);
		len = 2ULL << 20;
	} else {
		off = t_rand_below(r, MAXPAGES) * PG;
		len = (1 + t_rand_below(r, 32)) * PG;
		if (off + len > MAP_LEN)
			len = MAP_LEN - off;
	}
	if (!keep && off + len > c->size)
		unclaim_size(s);
	err = udax_fallocate(c->f, keep ? UDAX_FALLOC_KEEP_SIZE : 0, off,
			     len);
	if (err == -ENOSPC) {
		atomic_fetch_add(&sh->enospc, 1);
		return;
	}
	if (err) {
		worker_error("fallocate f%d [%llu, +%llu): %s", s,
			     (unsigned long long)off, (unsigned long long)len,
			     strerror(-err));
		return;
	}
	/* Contents do not change; the file may grow (zeros). */
	if (!keep && off + len > c->size)
		model_resize(s, off + len);
}

static void op_reopen(struct t_rng *r, int s)
{
	struct cslot *c = &cs[s];
	bool trunc = t_rand_below(r, 5) == 0;
	char name[16];
	int err;

	slot_name(name, sizeof(name), s);
	slot_unmap_close(c);
	if (trunc)
		unclaim_resize(s, 0);
	err = udax_open(wpool, name, O_RDWR | (trunc ? O_TRUNC : 0), 0,
			&c->f);
	if (err) {
		fprintf(stderr, "worker: reopen f%d: %s\n", s, strerror(-err));
		exit(T_FAIL);
	}
	if (trunc)
		model_resize(s, 0);
	slot_map(s);
}

static void op_orphan(struct t_rng *r)
{
	int k = (int)t_rand_below(r, NORPHANS);
	struct orphan *o = &orph[k];
	unsigned int id = ORPHAN_ID + (unsigned int)k;

	if (!o->f)
		return;
	switch (t_rand_below(r, 4)) {
	case 0: { /* pwrite */
		uint64_t p = t_rand_below(r, MAXPAGES - 8);
		uint32_t t = new_stamp();
		ssize_t ret;

		for (uint64_t i = 0; i < 8; i++)
			fill_page(wbuf + i * WORDS, t, id, p + i);
		ret = udax_pwrite(o->f, wbuf, 8 * PG, p * PG);
		if (ret > 0 && p * PG + (uint64_t)ret > o->size)
			o->size = p * PG + (uint64_t)ret;
		break;
	}
	case 1: { /* stores */
		uint64_t full = full_pages(o->size);

		if (full) {
			uint64_t p = t_rand_below(r, full);

			map_store_page(o->map + p * PG, new_stamp(), id, p);
		}
		break;
	}
	case 2:
		udax_fsync(o->f);
		break;
	default: /* last reference: the orphan is freed */
		REQUIRE(udax_munmap(o->map, MAP_LEN) == 0);
		REQUIRE(udax_close(o->f) == 0);
		o->f = NULL;
		o->map = NULL;
	}
}

static void worker(const char *path, uint64_t seed)
{
	struct t_rng r;
	int err;

	t_rng_init(&r, seed);
	double t0 = t_now();

	atomic_store(&sh->opening, 1);
	err = udax_pool_open(path, 0, &wpool);
	if (err) {
		fprintf(stderr, "worker: udax_pool_open: %s\n", strerror(-err));
		exit(T_FAIL);
	}
	atomic_store(&sh->mount_ns, (uint64_t)((t_now() - t0) * 1e9));
	atomic_store(&sh->mounted, 1);
	worker_load();
	for (;;) {
		unsigned int op = (unsigned int)t_rand_below(&r, 100);
		int s = pick_slot(&r, true);

		if (s < 0 || op < 5) {
			int a = pick_slot(&r, false);

			if (a >= 0)
				op_create(a);
		} else if (op < 25) {
			op_pwrite(&r, s);
		} else if (op < 39) {
			op_map_write(&r, s, t_rand_below(&r, 30) ? 8 : 512);
		} else if (op < 46) {
			op_fsync(s);
		} else if (op < 52) {
			op_msync(&r, s);
		} else if (op < 61) {
			op_ftruncate(&r, s);
		} else if (op < 69) {
			op_punch(&r, s);
		} else if (op < 76) {
			op_fallocate(&r, s);
		} else if (op < 81) {
			op_unlink(&r, s);
		} else if (op < 85) {
			op_reopen(&r, s);
		} else if (op < 90) {
			op_orphan(&r);
		} else if (op < 95) {
			op_map_read(&r, s);
		} else {
			op_pread(&r, s);
		}
		atomic_fetch_add(&sh->ops, 1);
		atomic_fetch_add(&sh->total_ops, 1);
	}
}

/* ---- the checker ---- */

static unsigned long fsck_problems;
static bool checker_leak_check; /* exit() rather than _exit() */

static void fsck_report(void *ctx, const char *problem)
{
	(void)ctx;
	fsck_problems++;
	if (fsck_problems <= 10)
		fprintf(stderr, "fsck: %s\n", problem);
}

static int list_fn(void *ctx, const char *name, uint64_t size)
{
	int *seen = ctx;
	int s;

	(void)size;
	if (name[0] != 'f' || name[1] < '0' || name[1] >= '0' + NSLOTS ||
	    name[2]) {
		fprintf(stderr, "checker: unexpected file \"%s\"\n", name);
		t_failures++;
		return 0;
	}
	s = name[1] - '0';
	if (seen[s]++) {
		fprintf(stderr, "checker: f%d listed twice\n", s);
		t_failures++;
	}
	return 0;
}

static void check_fsck(const char *path, const char *when)
{
	int err;

	fsck_problems = 0;
	err = udax_pool_fsck(path, fsck_report, NULL);
	if (err || fsck_problems) {
		fprintf(stderr, "checker: fsck %s: %s, %lu problems\n", when,
			strerror(-err), fsck_problems);
		t_failures++;
	}
}

/* Check slot @s against its claims, then settle them to what is there. */
static void check_slot(struct udax_pool *pool, int s, bool listed,
		       uint64_t *buf)
{
	struct claims *cl = &sh->c[s];
	uint32_t exist = atomic_load(&cl->exist), max = atomic_load(&sh->stamp);
	uint64_t csize = atomic_load(&cl->size), size;
	struct udax_file *f;
	char name[16];
	struct stat st;
	ssize_t got;
	int err;

	slot_name(name, sizeof(name), s);
	err = udax_open(pool, name, O_RDONLY, 0, &f);
	if (err && err != -ENOENT) {
		fprintf(stderr, "checker: open f%d: %s\n", s, strerror(-err));
		t_failures++;
		return;
	}
	if (exist != EX_UNKNOWN)
		sh->exist_claims++;
	if ((err == 0) != listed) {
		fprintf(stderr, "checker: f%d %s but %s\n", s,
			err ? "cannot be opened" : "opens",
			listed ? "listed" : "not listed");
		t_failures++;
	}
	if (err) {
		if (exist == EX_PRESENT) {
			fprintf(stderr, "checker: f%d was created and is "
					"gone\n", s);
			t_failures++;
		}
		atomic_store(&cl->exist, EX_ABSENT);
		atomic_store(&cl->size, SIZE_UNKNOWN);
		for (uint64_t p = 0; p < MAXPAGES; p++)
			atomic_store(&cl->page[p], UNKNOWN);
		return;
	}
	if (exist == EX_ABSENT) {
		fprintf(stderr, "checker: f%d was unlinked and is back\n", s);
		t_failures++;
	}
	sh->files_checked++;
	REQUIRE(udax_fstat(f, &st) == 0);
	size = (uint64_t)st.st_size;
	if (csize != SIZE_UNKNOWN) {
		sh->size_claims++;
		if (size != csize) {
			fprintf(stderr, "checker: f%d size %llu, fsynced "
					"%llu\n", s, (unsigned long long)size,
				(unsigned long long)csize);
			t_failures++;
		}
	}
	if (size > MAP_LEN) {
		fprintf(stderr, "checker: f%d size %llu beyond any written\n",
			s, (unsigned long long)size);
		t_failures++;
		size = MAP_LEN;
	}
	got = udax_pread(f, buf, size, 0);
	if (got != (ssize_t)size) {
		fprintf(stderr, "checker: pread f%d: %zd of %llu\n", s, got,
			(unsigned long long)size);
		t_failures++;
		size = got > 0 ? (uint64_t)got : 0;
	}
	for (uint64_t p = 0; p < MAXPAGES; p++) {
		uint32_t want = atomic_load(&cl->page[p]), t = 0;
		uint64_t in = p * PG < size ? size - p * PG : 0;
		unsigned int nw = (unsigned int)((in > PG ? PG : in) / 8);
		unsigned int bad = 0;
		int kind;

		if (want != UNKNOWN) {
			sh->claims_checked++;
			if (in < PG) {
				fprintf(stderr, "checker: f%d page %llu "
						"claimed (stamp %u) but "
						"size is %llu\n", s,
					(unsigned long long)p, want,
					(unsigned long long)size);
				t_failures++;
			}
		}
		if (!nw) {
			atomic_store(&cl->page[p], UNKNOWN);
			continue;
		}
		sh->pages_checked++;
		kind = classify(buf + p * WORDS, nw, (unsigned int)s, p, max,
				&t, &bad);
		if (kind == PG_BAD) {
			uint64_t v = buf[p * WORDS + bad];

			fprintf(stderr, "checker: f%d page %llu word %u: "
					"%#llx was never written there "
					"(stamp %llu%s)\n", s,
				(unsigned long long)p, bad,
				(unsigned long long)v,
				(unsigned long long)(v >> 32),
				(v >> 32) > max ? ", never issued" : "");
			t_failures++;
		} else if (want != UNKNOWN && in >= PG &&
			   !(want == 0 ? kind == PG_ZERO
				       : kind == PG_STAMP && t == want)) {
			fprintf(stderr, "checker: f%d page %llu: claimed "
					"stamp %u, found %s %u\n", s,
				(unsigned long long)p, want,
				kind == PG_ZERO	   ? "zeros"
				: kind == PG_TORN ? "a torn page, first stamp"
						   : "stamp",
				t);
			t_failures++;
		}
		if (kind == PG_TORN)
			sh->torn_pages++;
		/* Settle: what is there now is durable. */
		if (nw < WORDS || (kind != PG_ZERO && kind != PG_STAMP))
			atomic_store(&cl->page[p], UNKNOWN);
		else
			atomic_store(&cl->page[p],
				     kind == PG_ZERO ? 0 : t);
	}
	atomic_store(&cl->exist, EX_PRESENT);
	atomic_store(&cl->size, size);
	REQUIRE(udax_close(f) == 0);
}

static void checker(const char *path)
{
	static uint64_t buf[MAXPAGES * WORDS];
	struct udax_pool *pool;
	int seen[NSLOTS] = {0};
	int err;

	check_fsck(path, "after the crash");
	err = udax_pool_open(path, 0, &pool);
	if (err) {
		fprintf(stderr, "checker: udax_pool_open: %s\n",
			strerror(-err));
		exit(T_FAIL);
	}
	REQUIRE(udax_list(pool, list_fn, seen) == 0);
	for (int s = 0; s < NSLOTS; s++)
		check_slot(pool, s, seen[s] != 0, buf);
	REQUIRE(udax_pool_close(pool) == 0);
	check_fsck(path, "after recovery and a clean close");
	if (checker_leak_check)
		exit(t_failures ? T_FAIL : T_PASS);
	/* Skip LeakSanitizer's exit scan (a third of a round under ASan). */
	fflush(stdout);
	fflush(stderr);
	_exit(t_failures ? T_FAIL : T_PASS);
}

/* At the end: remove every file; every block must be free again. */
static void final_check(const char *path)
{
	struct udax_pool *pool;
	struct udax_stats st;

	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	for (int s = 0; s < NSLOTS; s++) {
		char name[16];
		int err;

		slot_name(name, sizeof(name), s);
		err = udax_unlink(pool, name);
		CHECK(err == 0 || err == -ENOENT);
	}
	REQUIRE(udax_pool_stats(pool, &st, sizeof(st)) == 0);
	printf("api_crash: after unlinking everything: %llu of %llu blocks "
	       "free, %llu files\n",
	       (unsigned long long)st.pool_free_blocks,
	       (unsigned long long)st.pool_blocks,
	       (unsigned long long)st.pool_files);
	CHECK_EQ(st.pool_free_blocks, st.pool_blocks);
	CHECK_EQ(st.pool_files, 0);
	REQUIRE(udax_pool_close(pool) == 0);
	check_fsck(path, "at the end");
	fflush(stdout);
	exit(t_failures ? T_FAIL : T_PASS);
}

static void create_pool(const char *path)
{
	struct udax_pool *pool;

	REQUIRE(udax_pool_create(path, POOL_SIZE, &pool) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	exit(T_PASS);
}

/* ---- the parent ---- */

static void parent_cleanup(void)
{
	if (getpid() == parent_pid)
		t_cleanup();
}

/* Run @fn(@path) in a child; its exit status (or 128 + signal). */
static int run_child(void (*fn)(const char *), const char *path,
		     unsigned int timeout_s)
{
	double deadline = t_now() + timeout_s;
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	REQUIRE(pid >= 0);
	if (!pid) {
		fn(path);
		exit(T_FAIL);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		REQUIRE(w >= 0);
		if (w == pid)
			break;
		if (t_now() > deadline) {
			fprintf(stderr, "child hung for %u s: killing it\n",
				timeout_s);
			kill(pid, SIGKILL);
			REQUIRE(waitpid(pid, &status, 0) == pid);
			return 255;
		}
		usleep(1000);
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000),
			       .tv_nsec = (long)(ns % 1000000000) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Wait until *@flag (or, if NULL, the worker's operation count) reaches
 * @value, or the worker ends (then reaped: true and its *@status), or 5 s.
 */
static bool wait_until(pid_t pid, _Atomic int *flag, uint64_t value,
		       int *status)
{
	double end = t_now() + 5.0;

	while ((flag ? (uint64_t)atomic_load(flag) : atomic_load(&sh->ops)) <
		       value &&
	       t_now() < end) {
		pid_t w = waitpid(pid, status, WNOHANG);

		REQUIRE(w >= 0);
		if (w == pid)
			return true;
		sleep_ns(20000);
	}
	return false;
}

int main(int argc, char **argv)
{
	unsigned int rounds, done = 0, killed_mounting = 0,
		     killed_by_count = 0;
	uint64_t mount_ns = 2000000; /* until a worker measured it */
	double t0;
	char path[300];
	struct t_rng r;

	t_init(argc, argv);
	rounds = t_long ? 1000 : 100;
	t_watchdog(t_long ? 1200 : 280);
	/* The pool's commits msync: keep it off a disk unless told. */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	t_tmpdir();
	parent_pid = getpid();
	atexit(parent_cleanup);
	t_catch_sigbus(); /* inherited: the worker's SIGBUS handling */
	t_path(path, sizeof(path), "pool");
	t_rng_init(&r, t_seed);
	t0 = t_now();

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(sh != MAP_FAILED);
	for (int s = 0; s < NSLOTS; s++) {
		sh->c[s].exist = EX_ABSENT;
		sh->c[s].size = SIZE_UNKNOWN;
		for (int p = 0; p < MAXPAGES; p++)
			sh->c[s].page[p] = UNKNOWN;
	}

	if (run_child(create_pool, path, 60) != 0) {
		fprintf(stderr, "cannot create the pool\n");
		return T_FAIL;
	}

	for (unsigned int round = 0; round < rounds; round++) {
		uint64_t wseed = mix64(t_seed ^ (round + 1) * 0xA0761D6478BD642FULL);
		unsigned int mode = (unsigned int)t_rand_below(&r, 12);
		uint64_t target = 0, delay_ns = 0;
		bool reaped = false;
		int status, rc;
		pid_t pid;

		atomic_store(&sh->ops, 0);
		atomic_store(&sh->opening, 0);
		atomic_store(&sh->mounted, 0);
		if (mode < 3) /* at an operation count */
			target = t_rand_below(&r, 300);
		else if (mode < 5) /* in udax_pool_open (replay, orphans) */
			delay_ns = t_rand_below(&r, mount_ns * 3 / 2 + 1);
		else /* in the workload */
			delay_ns = t_rand_below(&r, 30000000);
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		REQUIRE(pid >= 0);
		if (!pid) {
			worker(path, wseed);
			_exit(T_FAIL);
		}
		if (mode < 3) {
			reaped = wait_until(pid, &sh->mounted, 1, &status);
			if (!reaped)
				reaped = wait_until(pid, NULL, target,
						    &status);
			killed_by_count++;
		} else {
			reaped = wait_until(pid, mode < 5 ? &sh->opening
							  : &sh->mounted,
					    1, &status);
			if (!reaped)
				sleep_ns(delay_ns);
		}
		if (!reaped) {
			kill(pid, SIGKILL);
			REQUIRE(waitpid(pid, &status, 0) == pid);
		}
		if (atomic_load(&sh->mounted))
			mount_ns = atomic_load(&sh->mount_ns);
		if (atomic_load(&sh->opening) && !atomic_load(&sh->mounted))
			killed_mounting++;
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
			fprintf(stderr, "round %u: the worker ended by itself "
					"(status %#x)\n", round, status);
			t_failures++;
		}
		if (atomic_load(&sh->worker_errors)) {
			fprintf(stderr, "round %u: the worker saw %u errors; "
					"first: %s\n", round,
				atomic_load(&sh->worker_errors),
				sh->worker_msg);
			t_failures++;
			atomic_store(&sh->worker_errors, 0);
		}
		checker_leak_check = round % 8 == 7;
		rc = run_child(checker, path, 120);
		if (rc != 0) {
			fprintf(stderr, "round %u (worker seed %#llx, killed "
					"after %llu ops): the checker failed "
					"(%d)\n", round,
				(unsigned long long)wseed,
				(unsigned long long)atomic_load(&sh->ops), rc);
			t_failures++;
		}
		done++;
		if (t_failures)
			break;
	}
	if (!t_failures && run_child(final_check, path, 60) != 0)
		t_failures++;
	printf("api_crash: %u crash points checked (seed %" PRIu64 ") in "
	       "%.1f s: %u killed by operation count, %u while mounting; "
	       "%llu operations, %llu files, %llu pages (%llu torn), %llu "
	       "page claims, %llu size claims, %llu existence claims "
	       "checked; %llu ENOSPC, %llu SIGBUS\n",
	       done, t_seed, t_now() - t0, killed_by_count, killed_mounting,
	       (unsigned long long)sh->total_ops,
	       (unsigned long long)sh->files_checked,
	       (unsigned long long)sh->pages_checked,
	       (unsigned long long)sh->torn_pages,
	       (unsigned long long)sh->claims_checked,
	       (unsigned long long)sh->size_claims,
	       (unsigned long long)sh->exist_claims,
	       (unsigned long long)sh->enospc,
	       (unsigned long long)sh->sigbus);
	return t_done("api_crash");
}
