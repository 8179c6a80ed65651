/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crash_sim - a power cut at every persist point of a metadata-heavy
 * workload.
 *
 * The pool is created with the device in recording mode (src/dev/dev.h:
 * UDAX_DEV_RECORD names a log that gets every flushed range with its
 * bytes at flush time, and every drain, in order). A seeded random
 * workload then runs through the public API on NFILES named files and a
 * few orphans: create, pwrite (allocating, extending, leaving gaps,
 * unaligned), ftruncate down and up (unaligned sizes too), fallocate
 * (plain, KEEP_SIZE), punch hole (unaligned too), stores through shared
 * mappings (some MAP_SYNC), msync of ranges, fsync, close and reopen
 * (sometimes O_TRUNC), unlink (closed, or open and mapped: the handle
 * lives on as an orphan that keeps being written, then closed).
 *
 * It keeps a byte model of every file and notes what is durable, as a
 * claim that holds from the log position where it was made until the
 * position where an operation that may change it starts:
 *
 *   page      the 4 KiB page's bytes (a hash; bytes past EOF count as
 *             zero): after udax_pwrite() returns, for pages it wrote whole
 *             or that were durable already (udax.h: pwrite makes the data
 *             durable); after udax_msync() for pages of its range stored
 *             to through the mapping; after udax_fsync() for every page;
 *             after ftruncate / fallocate / punch hole for pages that
 *             became holes or were zeroed in part and were durable
 *             (src/fs/fs.h: metadata is committed before the call
 *             returns; partial pages are zeroed and flushed);
 *   size      after every call that sets it returns (fs.h), and fsync;
 *   exists /  when udax_open(O_CREAT) / udax_unlink() return (fs.h: the
 *   absent    public API has no directory fsync to wait for).
 *
 * Persist point k is a power cut after the k-th flush of the log (M
 * flushes in all; the points are those from the k0-th flush, when
 * udax_pool_create() returned, to M: the M - k0 + 1 "persist points").
 * Its image is the initial image (zeros) plus the first k flushed ranges,
 * with their bytes as they were when flushed: nothing not yet flushed
 * survives (the pessimistic cut). For k < M a second, torn image adds a
 * random half of the 64-byte cache lines of every range flushed after
 * point k and before the next drain (the flushes in flight at the cut; at
 * least the (k+1)-th range; a line is the unit the hardware writes).
 *
 * For every point checked (all of them if there are at most SAMPLE, else
 * a seeded random sample of SAMPLE, with the first and the last; -l: a
 * workload 4.7 times longer, all points), each image is written to a
 * temporary pool file, then:
 *
 *   - udax_pool_fsck() is clean (0, no report at all);
 *   - udax_pool_open() succeeds and lists only the names f0..f5;
 *   - every claim in force at the cut holds (for the torn image, only
 *     claims that no range in flight may have withdrawn);
 *   - every page nobody claims is made of 64-byte lines that are zero or
 *     that this incarnation of the file had at some moment (fs.h: a crash
 *     never exposes a previous owner's bytes; nor garbage);
 *   - every file reads as zeros past its size once grown (by ftruncate,
 *     fallocate or a pwrite past the end, in turn): no bytes cut off by a
 *     truncate, nor written past EOF by a write that did not finish,
 *     come back;
 *   - after udax_pool_close() (replay, orphan cleanup and the probes
 *     written), fsck is clean again.
 *
 * The k0 cuts inside mkfs must leave no pool (fsck and open: -EINVAL,
 * the superblock is written last) or a clean empty one.
 *
 * Prints "crash points checked: N (of M - k0 + 1 persist points), fsck
 * clean: N, claims checked: K" (a point is fsck clean when all its images
 * are, before open and after close). Options: -s SEED, -l, -n SAMPLE
 * (default 3000), -p K (check point K only, keep its images and print
 * their paths: replay a failure with -s SEED -p K, then `udax fsck` the
 * image), -T (no torn images), -Z (no zeros-past-EOF probe), -v (list
 * the operations with the flushes each made). A failure names the
 * operation the point cuts and how many of its flushes made it.
 *
 * Pools live in a private directory under $TMPDIR if set, else /dev/shm
 * (persisting is an msync there), else /tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mman.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <udax/udax.h>

#include "test_util.h"
#include "dev/dev.h"

#define NFILES 6
#define NORPHANS 2
#define MAXPAGES 64
#define PG 4096ULL
#define FILE_MAX (MAXPAGES * PG)
#define POOL_SIZE (4ULL << 20)
#define LINE 64
#define NEVER UINT64_MAX

/* ---- claims ---- */

enum claim_kind { CL_EXISTS, CL_ABSENT, CL_SIZE, CL_PAGE };

struct claim {
	uint64_t from, to; /* log positions: made, withdrawn (NEVER) */
	uint64_t p, q;	   /* the same in flushes before them */
	uint64_t val;	   /* size, or page hash */
	uint32_t page;
	uint8_t kind, file;
};

static struct {
	struct claim *v;
	size_t n, cap;
} cl;

/* ---- workload state ---- */

struct slot {
	bool exists;
	struct udax_file *fh; /* open handle, or NULL */
	char *map;	      /* shared mapping of FILE_MAX bytes, or NULL */
	uint64_t size;
	unsigned char *data; /* the model: FILE_MAX bytes, zero past size */
	int64_t pclaim[MAXPAGES]; /* open page claim, or -1 */
	bool mapdirty[MAXPAGES];  /* stored to through the mapping since the
				   * last msync / fsync of that page */
	int64_t sclaim, eclaim;	  /* open size, existence/absence claim */
};

struct orphan {
	struct udax_file *fh;
	char *map;
	uint64_t size;
};

static struct slot slots[NFILES];
static struct orphan orphans[NORPHANS];
static struct udax_pool *pool;
static struct t_rng rng;
static int logfd = -1;
static bool no_probe; /* -Z: skip the zeros-past-EOF probe */
static bool verbose;  /* -v: list the operations with their flushes */
static char dir[PATH_MAX], pool_path[PATH_MAX + 16], log_path[PATH_MAX + 16],
	img_path[PATH_MAX + 16];
static unsigned long nr_ops[16];

/* What each operation was and where it lies in the log, for reports. */
struct trace {
	uint64_t from, to; /* log positions, then flush counts */
	char desc[80];
};

static struct {
	struct trace *v;
	size_t n, cap;
	char desc[80]; /* of the operation running */
} tr;

#define DESC(...) snprintf(tr.desc, sizeof(tr.desc), __VA_ARGS__)

static const char *const op_names[] = {
	"create", "pwrite", "store", "msync", "fsync", "truncate",
	"fallocate", "punch", "unlink", "close", "reopen", "orphan",
};

/*
 * Every 64-byte line content a file ever had, by (slot, incarnation,
 * page, line): a page nobody claims must still be made of such lines (or
 * zeros), so a crash never shows another file's bytes, an earlier
 * incarnation's, or garbage. An open-addressing set of mixed keys.
 */
static struct {
	uint64_t *t;
	size_t mask, n;
} vs;

static uint32_t incarn[NFILES]; /* creates of each slot so far */

/* Creates, by slot: where each started (log position, then flushes). */
static struct {
	uint64_t from[4096];
	uint8_t file[4096];
	size_t n;
} cr;

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t line_key(int f, uint32_t inc, uint64_t page, uint64_t line,
			 const unsigned char *bytes)
{
	uint64_t h = mix(((uint64_t)f << 56) ^ ((uint64_t)inc << 32) ^
			 (page << 8) ^ line);
	uint64_t w;

	for (int i = 0; i < LINE; i += 8) {
		memcpy(&w, bytes + i, 8);
		h = mix(h ^ w);
	}
	return h | 1;
}

static const unsigned char zeros[FILE_MAX];

static bool all_zero(const unsigned char *p, size_t len)
{
	return memcmp(p, zeros, len) == 0;
}

static void vs_insert(uint64_t key)
{
	size_t i;

	if (2 * (vs.n + 1) > vs.mask + 1) {
		uint64_t *old = vs.t;
		size_t cap = vs.t ? 2 * (vs.mask + 1) : (1 << 16);

		vs.t = calloc(cap, sizeof(*vs.t));
		REQUIRE(vs.t);
		vs.mask = cap - 1;
		vs.n = 0;
		if (old) {
			for (i = 0; i <= (cap / 2) - 1; i++)
				if (old[i])
					vs_insert(old[i]);
			free(old);
		}
	}
	for (i = key & vs.mask; vs.t[i]; i = (i + 1) & vs.mask)
		if (vs.t[i] == key)
			return;
	vs.t[i] = key;
	vs.n++;
}

static bool vs_has(uint64_t key)
{
	if (!vs.t)
		return false;
	for (size_t i = key & vs.mask; vs.t[i]; i = (i + 1) & vs.mask)
		if (vs.t[i] == key)
			return true;
	return false;
}

/* The model of slot @f changed in [@off, @off + @len): note its lines. */
static void note_lines(int f, uint64_t off, uint64_t len)
{
	const unsigned char *d = slots[f].data;

	if (!len)
		return;
	for (uint64_t a = off / LINE * LINE; a < off + len; a += LINE)
		if (!all_zero(d + a, LINE))
			vs_insert(line_key(f, incarn[f], a / PG, a % PG / LINE,
					   d + a));
}

static uint64_t hash_page(const unsigned char *p)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL, w;

	for (size_t i = 0; i < PG; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	return h;
}

static uint64_t logpos(void)
{
	struct stat st;

	REQUIRE(fstat(logfd, &st) == 0);
	return (uint64_t)st.st_size;
}

static int64_t claim_add(int kind, int file, uint32_t page, uint64_t val)
{
	struct claim *c;

	if (cl.n == cl.cap) {
		cl.cap = cl.cap ? 2 * cl.cap : 1024;
		cl.v = realloc(cl.v, cl.cap * sizeof(*cl.v));
		REQUIRE(cl.v);
	}
	c = &cl.v[cl.n];
	memset(c, 0, sizeof(*c));
	c->from = logpos();
	c->to = NEVER;
	c->kind = (uint8_t)kind;
	c->file = (uint8_t)file;
	c->page = page;
	c->val = val;
	return (int64_t)cl.n++;
}

/* Withdraw claim *@idx (if any) as of now. Return: whether there was one. */
static bool claim_end(int64_t *idx)
{
	if (*idx < 0)
		return false;
	cl.v[*idx].to = logpos();
	*idx = -1;
	return true;
}

static void page_claim(int f, uint64_t page)
{
	struct slot *s = &slots[f];

	REQUIRE(s->pclaim[page] < 0);
	s->pclaim[page] = claim_add(CL_PAGE, f, (uint32_t)page,
				    hash_page(s->data + page * PG));
}

static void size_claim(int f)
{
	claim_end(&slots[f].sclaim);
	slots[f].sclaim = claim_add(CL_SIZE, f, 0, slots[f].size);
}

static uint64_t pages_of(uint64_t size)
{
	return (size + PG - 1) / PG;
}

static void fill_random(unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = t_rand(&rng);

		memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
	}
}

static void slot_name(int f, char *name, size_t len)
{
	snprintf(name, len, "f%d", f);
}

/* ---- the workload ---- */

static void map_file(struct udax_file *fh, char **map)
{
	int flags = MAP_SHARED;

	if (t_rand_below(&rng, 4) == 0)
		flags = MAP_SHARED_VALIDATE | MAP_SYNC;
	REQUIRE(udax_mmap(fh, NULL, FILE_MAX, PROT_READ | PROT_WRITE, flags, 0,
			  (void **)map) == 0);
}

static void slot_open(int f, bool trunc);

static void op_create(int f)
{
	struct slot *s = &slots[f];
	char name[16];

	slot_name(f, name, sizeof(name));
	claim_end(&s->eclaim);
	REQUIRE(cr.n < sizeof(cr.from) / sizeof(cr.from[0]));
	cr.from[cr.n] = logpos();
	cr.file[cr.n++] = (uint8_t)f;
	incarn[f]++;
	REQUIRE(udax_open(pool, name, O_RDWR | O_CREAT | O_EXCL, 0644,
			  &s->fh) == 0);
	s->exists = true;
	s->size = 0;
	memset(s->data, 0, FILE_MAX);
	memset(s->mapdirty, 0, sizeof(s->mapdirty));
	s->eclaim = claim_add(CL_EXISTS, f, 0, 0);
	size_claim(f);
	map_file(s->fh, &s->map);
}

/* Make sure slot @f (existing) is open and mapped. */
static void slot_open(int f, bool trunc)
{
	struct slot *s = &slots[f];
	char name[16];
	uint64_t p;

	if (s->fh)
		return;
	slot_name(f, name, sizeof(name));
	if (trunc) {
		claim_end(&s->sclaim);
		for (p = 0; p < MAXPAGES; p++)
			claim_end(&s->pclaim[p]);
	}
	REQUIRE(udax_open(pool, name, O_RDWR | (trunc ? O_TRUNC : 0), 0,
			  &s->fh) == 0);
	if (trunc) {
		s->size = 0;
		memset(s->data, 0, FILE_MAX);
		memset(s->mapdirty, 0, sizeof(s->mapdirty));
		size_claim(f);
	}
	map_file(s->fh, &s->map);
}

static void slot_close(int f)
{
	struct slot *s = &slots[f];

	if (!s->fh)
		return;
	REQUIRE(udax_munmap(s->map, FILE_MAX) == 0);
	REQUIRE(udax_close(s->fh) == 0);
	s->fh = NULL;
	s->map = NULL;
}

/* A random range: whole pages, or bytes anywhere (never past FILE_MAX). */
static void random_range(uint64_t limit, bool aligned, uint64_t *off,
			 uint64_t *len)
{
	if (aligned) {
		uint64_t pages = limit / PG;
		uint64_t first = t_rand_below(&rng, pages);
		uint64_t n = 1 + t_rand_below(&rng, 8);

		if (first + n > pages)
			n = pages - first;
		*off = first * PG;
		*len = n * PG;
	} else {
		*off = t_rand_below(&rng, limit);
		*len = 1 + t_rand_below(&rng, 3 * PG);
		if (*off + *len > limit)
			*len = limit - *off;
	}
}

/*
 * pwrite: pages written whole, or that were durable already, are
 * durable on return. Past EOF the old last page's tail reads as zeros
 * (it is zero in the model already: its claim stands).
 */
static void write_model(int f, struct udax_file *fh, uint64_t off, uint64_t len,
			bool claims)
{
	struct slot *s = &slots[f];
	unsigned char *buf = malloc(len);
	bool was[MAXPAGES];
	uint64_t p, first = off / PG, last = (off + len - 1) / PG;

	REQUIRE(buf);
	fill_random(buf, len);
	if (claims) {
		for (p = first; p <= last; p++)
			was[p] = claim_end(&s->pclaim[p]);
		if (off + len > s->size)
			claim_end(&s->sclaim);
	}
	DESC("pwrite f%d [%" PRIu64 ", +%" PRIu64 ") size %" PRIu64, f, off,
	     len, s->size);
	REQUIRE(udax_pwrite(fh, buf, len, off) == (ssize_t)len);
	if (claims) {
		memcpy(s->data + off, buf, len);
		note_lines(f, off, len);
		if (off + len > s->size)
			s->size = off + len;
		for (p = first; p <= last; p++) {
			bool whole = off <= p * PG && off + len >= (p + 1) * PG;

			if (whole)
				s->mapdirty[p] = false;
			if (whole || was[p])
				page_claim(f, p);
		}
		if (s->sclaim < 0)
			size_claim(f);
	}
	free(buf);
}

static void op_pwrite(int f)
{
	uint64_t off, len;

	slot_open(f, false);
	random_range(FILE_MAX, t_rand_below(&rng, 2), &off, &len);
	write_model(f, slots[f].fh, off, len, true);
}

/*
 * Copy to a mapping one page at a time, in order: memcpy may copy
 * backwards (glibc does, depending on how far apart the buffers are,
 * which ASLR changes), and the page that faults first gets its block
 * first: the workload's allocations, so its log, would vary from run to
 * run, and -p K would not replay the same cut.
 */
static void store(char *map, uint64_t off, const unsigned char *buf,
		  uint64_t len)
{
	while (len) {
		uint64_t n = PG - off % PG;

		if (n > len)
			n = len;
		memcpy(map + off, buf, n);
		off += n;
		buf += n;
		len -= n;
	}
}

/* Store through the mapping inside EOF; the page's claim is withdrawn. */
static void op_store(int f)
{
	struct slot *s = &slots[f];
	uint64_t off, len, p;
	unsigned char buf[8 * PG];

	slot_open(f, false);
	if (!s->size)
		return;
	random_range(s->size, t_rand_below(&rng, 2), &off, &len);
	if (!len)
		return;
	fill_random(buf, len);
	for (p = off / PG; p <= (off + len - 1) / PG; p++) {
		claim_end(&s->pclaim[p]);
		s->mapdirty[p] = true;
	}
	DESC("store f%d [%" PRIu64 ", +%" PRIu64 ")", f, off, len);
	store(s->map, off, buf, len);
	memcpy(s->data + off, buf, len);
	note_lines(f, off, len);
}

/* msync a page range: its pages stored to become durable. */
static void op_msync(int f)
{
	struct slot *s = &slots[f];
	uint64_t first, n, p, end;

	slot_open(f, false);
	first = t_rand_below(&rng, MAXPAGES);
	n = 1 + t_rand_below(&rng, MAXPAGES - first);
	DESC("msync f%d pages [%" PRIu64 ", +%" PRIu64 ")", f, first, n);
	REQUIRE(udax_msync(s->map + first * PG, n * PG, MS_SYNC) == 0);
	end = pages_of(s->size);
	for (p = first; p < first + n; p++) {
		if (!s->mapdirty[p] || p >= end || s->sclaim < 0)
			continue;
		s->mapdirty[p] = false;
		if (s->pclaim[p] < 0)
			page_claim(f, p);
	}
}

static void op_fsync(int f)
{
	struct slot *s = &slots[f];
	uint64_t p;

	slot_open(f, false);
	REQUIRE(udax_fsync(s->fh) == 0);
	memset(s->mapdirty, 0, sizeof(s->mapdirty));
	for (p = 0; p < pages_of(s->size); p++)
		if (s->pclaim[p] < 0)
			page_claim(f, p);
	if (s->sclaim < 0)
		size_claim(f);
}

/*
 * ftruncate: shrinking zeroes the model past the new size; the cut
 * page's claim is withdrawn and, if it was durable, made again (the
 * zeroing is flushed). Growing exposes holes: durable zeros.
 */
static void op_truncate(int f)
{
	struct slot *s = &slots[f];
	uint64_t size, p, old = s->size;
	bool was = false;

	slot_open(f, false);
	switch (t_rand_below(&rng, 4)) {
	case 0:
		size = 0;
		break;
	case 1:
		size = t_rand_below(&rng, MAXPAGES + 1) * PG;
		break;
	default:
		size = t_rand_below(&rng, FILE_MAX + 1);
		break;
	}
	claim_end(&s->sclaim);
	if (size < old) {
		for (p = size / PG; p < MAXPAGES; p++) {
			bool w = claim_end(&s->pclaim[p]);

			if (p == size / PG)
				was = w && !s->mapdirty[p];
			if (p >= pages_of(size))
				s->mapdirty[p] = false;
		}
	}
	DESC("ftruncate f%d %" PRIu64 " -> %" PRIu64, f, old, size);
	REQUIRE(udax_ftruncate(s->fh, size) == 0);
	if (size < old) {
		memset(s->data + size, 0, FILE_MAX - size);
		note_lines(f, size, 1);
		if (size % PG && was)
			page_claim(f, size / PG);
	} else {
		for (p = pages_of(old); p < pages_of(size); p++)
			if (s->pclaim[p] < 0)
				page_claim(f, p);
	}
	s->size = size;
	size_claim(f);
}

static void op_fallocate(int f)
{
	struct slot *s = &slots[f];
	uint64_t off, len, p, old = s->size;
	int mode = t_rand_below(&rng, 2) ? UDAX_FALLOC_KEEP_SIZE : 0;

	slot_open(f, false);
	random_range(FILE_MAX, t_rand_below(&rng, 2), &off, &len);
	if (!mode && off + len > old)
		claim_end(&s->sclaim);
	DESC("fallocate%s f%d [%" PRIu64 ", +%" PRIu64 ") size %" PRIu64,
	     mode ? " KEEP_SIZE" : "", f, off, len, old);
	REQUIRE(udax_fallocate(s->fh, mode, off, len) == 0);
	if (!mode && off + len > old) {
		s->size = off + len;
		for (p = pages_of(old); p < pages_of(s->size); p++)
			if (s->pclaim[p] < 0)
				page_claim(f, p);
		size_claim(f);
	}
}

/* punch hole: whole pages become durable holes; partial pages are
 * zeroed and flushed (durable if they were). */
static void op_punch(int f)
{
	struct slot *s = &slots[f];
	uint64_t off, len, end, p;
	bool was[MAXPAGES];

	slot_open(f, false);
	random_range(FILE_MAX, t_rand_below(&rng, 2), &off, &len);
	end = off + len < s->size ? off + len : s->size;
	for (p = off / PG; off < end && p <= (end - 1) / PG; p++)
		was[p] = claim_end(&s->pclaim[p]) && !s->mapdirty[p];
	DESC("punch f%d [%" PRIu64 ", +%" PRIu64 ") size %" PRIu64, f, off, len,
	     s->size);
	REQUIRE(udax_fallocate(s->fh,
			       UDAX_FALLOC_PUNCH_HOLE | UDAX_FALLOC_KEEP_SIZE,
			       off, len) == 0);
	if (off >= end)
		return;
	memset(s->data + off, 0, end - off);
	note_lines(f, off, 1);
	note_lines(f, end - 1, 1);
	for (p = off / PG; p <= (end - 1) / PG; p++) {
		bool whole = off <= p * PG && end >= (p + 1) * PG;

		if (whole)
			s->mapdirty[p] = false;
		if (whole || was[p])
			page_claim(f, p);
	}
}

static void op_unlink(int f, bool keep_open)
{
	struct slot *s = &slots[f];
	char name[16];
	uint64_t p;
	int o;

	slot_name(f, name, sizeof(name));
	for (o = 0; o < NORPHANS && orphans[o].fh; o++)
		;
	if (o == NORPHANS || !s->fh)
		keep_open = false;
	if (!keep_open)
		slot_close(f);
	claim_end(&s->eclaim);
	claim_end(&s->sclaim);
	for (p = 0; p < MAXPAGES; p++)
		claim_end(&s->pclaim[p]);
	DESC("unlink f%d%s", f, keep_open ? " (open: orphan)" : "");
	REQUIRE(udax_unlink(pool, name) == 0);
	s->exists = false;
	s->eclaim = claim_add(CL_ABSENT, f, 0, 0);
	if (keep_open) {
		orphans[o].fh = s->fh;
		orphans[o].map = s->map;
		orphans[o].size = s->size;
		s->fh = NULL;
		s->map = NULL;
	}
}

/* Work on an orphan: write, store, truncate, or close it (frees it). */
static void op_orphan(void)
{
	int o = (int)t_rand_below(&rng, NORPHANS);
	struct orphan *op = &orphans[o];
	unsigned char buf[8 * PG];
	uint64_t off, len;

	DESC("orphan %d%s", o, op->fh ? "" : " (none open)");
	if (!op->fh)
		return;
	switch (t_rand_below(&rng, 4)) {
	case 0:
		random_range(FILE_MAX, t_rand_below(&rng, 2), &off, &len);
		fill_random(buf, len < sizeof(buf) ? len : sizeof(buf));
		REQUIRE(udax_pwrite(op->fh, buf,
				    len < sizeof(buf) ? len : sizeof(buf),
				    off) > 0);
		if (off + len > op->size)
			op->size =
			    off + (len < sizeof(buf) ? len : sizeof(buf));
		break;
	case 1:
		if (op->size) {
			random_range(op->size, false, &off, &len);
			len = len < sizeof(buf) ? len : sizeof(buf);
			fill_random(buf, len);
			store(op->map, off, buf, len);
		}
		break;
	case 2:
		op->size = t_rand_below(&rng, FILE_MAX + 1);
		REQUIRE(udax_ftruncate(op->fh, op->size) == 0);
		break;
	default:
		REQUIRE(udax_munmap(op->map, FILE_MAX) == 0);
		REQUIRE(udax_close(op->fh) == 0);
		memset(op, 0, sizeof(*op));
		break;
	}
}

static void run_workload(unsigned long ops)
{
	for (unsigned long i = 0; i < ops; i++) {
		int f = (int)t_rand_below(&rng, NFILES);
		struct slot *s = &slots[f];
		unsigned int r = (unsigned int)t_rand_below(&rng, 100);
		uint64_t from = logpos();
		int op;

		if (!s->exists) {
			op = 0;
			op_create(f);
		} else if (r < 22) {
			op = 1;
			op_pwrite(f);
		} else if (r < 34) {
			op = 2;
			op_store(f);
		} else if (r < 42) {
			op = 3;
			op_msync(f);
		} else if (r < 50) {
			op = 4;
			op_fsync(f);
		} else if (r < 62) {
			op = 5;
			op_truncate(f);
		} else if (r < 70) {
			op = 6;
			op_fallocate(f);
		} else if (r < 80) {
			op = 7;
			op_punch(f);
		} else if (r < 86) {
			op = 8;
			op_unlink(f, t_rand_below(&rng, 2));
		} else if (r < 91) {
			op = 9;
			slot_close(f);
		} else if (r < 94) {
			op = 10;
			slot_close(f);
			slot_open(f, true);
		} else {
			op = 11;
			op_orphan();
		}
		nr_ops[op]++;
		if (tr.n == tr.cap) {
			tr.cap = tr.cap ? 2 * tr.cap : 1024;
			tr.v = realloc(tr.v, tr.cap * sizeof(*tr.v));
			REQUIRE(tr.v);
		}
		tr.v[tr.n].from = from;
		tr.v[tr.n].to = logpos();
		if (!tr.desc[0])
			snprintf(tr.desc, sizeof(tr.desc), "%s f%d",
				 op_names[op], f);
		memcpy(tr.v[tr.n].desc, tr.desc, sizeof(tr.desc));
		tr.desc[0] = 0;
		tr.n++;
	}
}

/* Check the model against the pool with no crash at all. */
static void check_model(void)
{
	unsigned char *buf = malloc(FILE_MAX);

	REQUIRE(buf);
	for (int f = 0; f < NFILES; f++) {
		struct slot *s = &slots[f];

		if (!s->exists)
			continue;
		slot_open(f, false);
		CHECK_EQ(udax_pread(s->fh, buf, FILE_MAX, 0), s->size);
		CHECK(memcmp(buf, s->data, s->size) == 0);
	}
	free(buf);
}

static void finish_workload(void)
{
	for (int f = 0; f < NFILES; f++)
		slot_close(f);
	for (int o = 0; o < NORPHANS; o++) {
		if (!orphans[o].fh)
			continue;
		REQUIRE(udax_munmap(orphans[o].map, FILE_MAX) == 0);
		REQUIRE(udax_close(orphans[o].fh) == 0);
	}
	REQUIRE(udax_pool_close(pool) == 0);
	pool = NULL;
}

/* ---- the log ---- */

struct flush {
	uint64_t off, len;
	const unsigned char *data;
	uint64_t end;	/* log position after this entry */
	uint64_t epoch; /* flushes before the first drain after this one */
};

static struct {
	unsigned char *base; /* the mapped log */
	size_t size;
	uint64_t dev_size;
	struct flush *f;
	uint64_t m;		       /* flushes */
	const unsigned char *base_img; /* BASE record, or NULL: zeros */
} lg;

static void load_log(void)
{
	struct dax_dev_rec_head h;
	struct stat st;
	size_t pos, cap = 0;
	uint64_t last_drain_fix = 0;
	int fd = open(log_path, O_RDONLY);

	REQUIRE(fd >= 0);
	REQUIRE(fstat(fd, &st) == 0);
	lg.size = (size_t)st.st_size;
	REQUIRE(lg.size >= sizeof(h));
	lg.base = mmap(NULL, lg.size, PROT_READ, MAP_PRIVATE, fd, 0);
	REQUIRE(lg.base != MAP_FAILED);
	close(fd);
	memcpy(&h, lg.base, sizeof(h));
	REQUIRE(h.magic == DAX_DEV_REC_MAGIC);
	REQUIRE(h.version == DAX_DEV_REC_VERSION);
	REQUIRE(h.flags & DAX_DEV_REC_ZERO);
	lg.dev_size = h.dev_size;
	for (pos = sizeof(h); pos < lg.size;) {
		struct dax_dev_rec r;

		REQUIRE(lg.size - pos >= sizeof(r));
		memcpy(&r, lg.base + pos, sizeof(r));
		REQUIRE(r.len <= lg.size - pos - sizeof(r));
		REQUIRE(r.offset <= lg.dev_size &&
			r.len <= lg.dev_size - r.offset);
		if (r.kind == DAX_DEV_REC_FLUSH) {
			if (lg.m == cap) {
				cap = cap ? 2 * cap : 4096;
				lg.f = realloc(lg.f, cap * sizeof(*lg.f));
				REQUIRE(lg.f);
			}
			lg.f[lg.m].off = r.offset;
			lg.f[lg.m].len = r.len;
			lg.f[lg.m].data = lg.base + pos + sizeof(r);
		} else {
			REQUIRE(r.kind == DAX_DEV_REC_DRAIN);
		}
		pos += sizeof(r) + ((r.len + 7) & ~7ULL);
		if (r.kind == DAX_DEV_REC_FLUSH) {
			lg.f[lg.m].end = pos;
			lg.m++;
		} else {
			for (; last_drain_fix < lg.m; last_drain_fix++)
				lg.f[last_drain_fix].epoch = lg.m;
		}
	}
	REQUIRE(pos == lg.size);
	for (; last_drain_fix < lg.m; last_drain_fix++)
		lg.f[last_drain_fix].epoch = lg.m;
}

/* Flushes wholly in the log before position @pos. */
static uint64_t flushes_before(uint64_t pos)
{
	uint64_t lo = 0, hi = lg.m;

	if (pos == NEVER)
		return NEVER;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (lg.f[mid].end <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- checking one image ---- */

static struct {
	uint64_t points, images, torn, fsck_clean, claims, probes, pages;
	uint64_t mkfs_points;
	uint64_t fsck_fail; /* fsck runs that were not clean */
} st;

/* Say which operation point @k cuts (once per point). */
static void where(uint64_t k)
{
	static uint64_t said = NEVER;
	size_t lo = 0, hi = tr.n;

	if (said == k)
		return;
	said = k;
	/* The first operation that ends after flush k. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (tr.v[mid].to <= k)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < tr.n && tr.v[lo].from <= k)
		fprintf(stderr,
			"point %" PRIu64 " cuts operation %zu (%s) after "
			"%" PRIu64 " of its %" PRIu64 " flushes\n",
			k, lo, tr.v[lo].desc, k - tr.v[lo].from,
			tr.v[lo].to - tr.v[lo].from);
	else
		fprintf(stderr, "point %" PRIu64 " is between operations\n", k);
}

static __attribute__((format(printf, 3, 4))) void failf(uint64_t k, bool torn,
							const char *fmt, ...)
{
	va_list ap;

	if (tr.v)
		where(k);

	fprintf(stderr, "point %" PRIu64 "%s: ", k, torn ? " (torn)" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	t_failures++;
	if (t_failures > 20) {
		fprintf(stderr, "too many failures (seed %" PRIu64 ")\n",
			t_seed);
		exit(T_FAIL);
	}
}

struct fsck_ctx {
	uint64_t k;
	bool torn;
	const char *when;
	int n;
};

static void fsck_report(void *ctx, const char *problem)
{
	struct fsck_ctx *c = ctx;

	c->n++;
	failf(c->k, c->torn, "fsck %s: %s", c->when, problem);
}

static int list_name(void *ctx, const char *name, uint64_t size)
{
	unsigned int *seen = ctx;
	int f;

	(void)size;
	if (name[0] == 'f' && name[1] >= '0' && name[1] < '0' + NFILES &&
	    !name[2]) {
		f = name[1] - '0';
		*seen |= 1U << f;
		return 0;
	}
	*seen |= 1U << 31;
	return 0;
}

/* Extend @fh from @size to FILE_MAX (one of three ways) and require
 * zeros past @size. */
static void probe_zeros(uint64_t k, bool torn, int f, struct udax_file *fh,
			uint64_t size, unsigned char *buf)
{
	static const unsigned char one;
	ssize_t got;
	int err = 0;

	if (size >= FILE_MAX || no_probe)
		return;
	switch ((k + torn) % 3) {
	case 0:
		err = udax_ftruncate(fh, FILE_MAX);
		break;
	case 1:
		/* Only the last page gets a block: the rest is the gap. */
		err = udax_fallocate(fh, 0, FILE_MAX - 1, 1);
		break;
	default:
		if (udax_pwrite(fh, &one, 1, FILE_MAX - 1) != 1)
			err = -EIO;
		break;
	}
	if (err) {
		failf(k, torn, "f%d: extending from %" PRIu64 ": %d", f, size,
		      err);
		return;
	}
	got = udax_pread(fh, buf, FILE_MAX - size, size);
	if (got != (ssize_t)(FILE_MAX - size)) {
		failf(k, torn, "f%d: read past the old size: %zd", f, got);
		return;
	}
	st.probes++;
	if (memcmp(buf, zeros, FILE_MAX - size) == 0)
		return;
	for (uint64_t i = 0; i < FILE_MAX - size; i++) {
		if (buf[i]) {
			failf(k, torn,
			      "f%d: byte %" PRIu64 " (page %" PRIu64
			      ") past the size %" PRIu64
			      " reads 0x%02x after growing the file, not zero",
			      f, size + i, (uint64_t)((size + i) / PG), size,
			      buf[i]);
			return;
		}
	}
}

/* The incarnation of slot @f that a name f<f> is at cut @k. */
static uint32_t incarn_at(int f, uint64_t k)
{
	uint32_t inc = 0;

	for (size_t i = 0; i < cr.n && cr.from[i] < k; i++)
		inc += cr.file[i] == f;
	return inc;
}

/* Pages nobody claims: every line zero, or one this file once had. */
static void check_lines(uint64_t k, bool torn, int f, struct udax_file *fh,
			uint64_t size, const bool *claimed, unsigned char *buf)
{
	uint32_t inc = incarn_at(f, k);
	ssize_t got;

	if (!size)
		return;
	memset(buf, 0, pages_of(size) * PG);
	got = udax_pread(fh, buf, size, 0);
	if (got != (ssize_t)size) {
		failf(k, torn, "f%d: read %zd of %" PRIu64 " bytes", f, got,
		      size);
		return;
	}
	for (uint64_t p = 0; p < pages_of(size); p++) {
		const unsigned char *pg = buf + p * PG;

		if (claimed[p] || all_zero(pg, PG))
			continue;
		st.pages++;
		for (uint64_t l = 0; l < PG / LINE; l++) {
			const unsigned char *ln = pg + l * LINE;

			if (all_zero(ln, LINE) ||
			    vs_has(line_key(f, inc, p, l, ln)))
				continue;
			failf(k, torn,
			      "f%d: page %" PRIu64 " line %" PRIu64
			      " holds bytes this file never had (another "
			      "file's, an earlier one's, or garbage)",
			      f, p, l);
			break;
		}
	}
}

/*
 * Check the pool image now in img_path as the cut at @k: @active are the
 * claims in force (n of them).
 */
static void check_image(uint64_t k, bool torn, struct claim **active, size_t n)
{
	struct fsck_ctx fc = { .k = k, .torn = torn, .when = "before open" };
	unsigned char page[PG], *buf = malloc(FILE_MAX);
	struct udax_pool *p = NULL;
	unsigned int seen = 0;
	bool claimed[MAXPAGES];
	int err;

	REQUIRE(buf);
	st.images++;
	err = udax_pool_fsck(img_path, fsck_report, &fc);
	if (err || fc.n) {
		failf(k, torn, "fsck before open: %d (%d problems)", err, fc.n);
		st.fsck_fail++;
	}
	err = udax_pool_open(img_path, 0, &p);
	if (err) {
		failf(k, torn, "udax_pool_open: %d", err);
		free(buf);
		return;
	}
	REQUIRE(udax_list(p, list_name, &seen) == 0);
	if (seen >> 31)
		failf(k, torn, "an unknown name is listed");
	for (int f = 0; f < NFILES; f++) {
		struct udax_file *fh = NULL;
		char name[16];
		struct stat sb;
		uint64_t size = 0;

		slot_name(f, name, sizeof(name));
		memset(claimed, 0, sizeof(claimed));
		if (seen & (1U << f)) {
			err = udax_open(p, name, O_RDWR, 0, &fh);
			if (err) {
				failf(k, torn, "open %s: %d", name, err);
				fh = NULL;
			} else {
				REQUIRE(udax_fstat(fh, &sb) == 0);
				size = (uint64_t)sb.st_size;
			}
		}
		for (size_t i = 0; i < n; i++) {
			struct claim *c = active[i];
			ssize_t got;

			if (c->file != f)
				continue;
			st.claims++;
			switch (c->kind) {
			case CL_EXISTS:
				if (!(seen & (1U << f)))
					failf(k, torn,
					      "%s was created (claim at point "
					      "%" PRIu64 ") but is missing",
					      name, c->p);
				break;
			case CL_ABSENT:
				if (seen & (1U << f))
					failf(k, torn,
					      "%s was unlinked (claim at point "
					      "%" PRIu64 ") but exists",
					      name, c->p);
				break;
			case CL_SIZE:
				if (fh && size != c->val)
					failf(k, torn,
					      "%s: size %" PRIu64
					      ", claimed %" PRIu64
					      " at point %" PRIu64,
					      name, size, c->val, c->p);
				break;
			case CL_PAGE:
				if (!fh)
					break;
				claimed[c->page] = true;
				memset(page, 0, PG);
				got = udax_pread(fh, page, PG, c->page * PG);
				if (got < 0 || c->page * PG >= size) {
					failf(k, torn,
					      "%s: page %u claimed at point "
					      "%" PRIu64 " is past the size "
					      "%" PRIu64 " (read %zd)",
					      name, c->page, c->p, size, got);
				} else if (hash_page(page) != c->val) {
					failf(k, torn,
					      "%s: page %u differs from what "
					      "was durable at point %" PRIu64,
					      name, c->page, c->p);
				}
				break;
			}
		}
		if (fh) {
			check_lines(k, torn, f, fh, size, claimed, buf);
			probe_zeros(k, torn, f, fh, size, buf);
			REQUIRE(udax_close(fh) == 0);
		}
	}
	REQUIRE(udax_pool_close(p) == 0);
	fc.when = "after close";
	fc.n = 0;
	err = udax_pool_fsck(img_path, fsck_report, &fc);
	if (err || fc.n) {
		failf(k, torn, "fsck after close: %d (%d problems)", err, fc.n);
		st.fsck_fail++;
	}
	free(buf);
}

/* ---- driving the checks ---- */

static int cmp_claim_p(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The points to check, from @k0 (the pool created) to lg.m: all, or
 * @sample of them (the first and the last among them).
 */
static uint64_t *pick_points(uint64_t k0, uint64_t sample, uint64_t *np)
{
	uint64_t total = lg.m + 1 - k0, n, *v;

	if (t_long || total <= sample) {
		v = malloc(total * sizeof(*v));
		REQUIRE(v);
		for (uint64_t i = 0; i < total; i++)
			v[i] = k0 + i;
		*np = total;
		return v;
	}
	/*
	 * The first and the last, and by Floyd's algorithm @sample - 2
	 * distinct points of the r = total - 2 between them.
	 */
	{
		uint64_t r = total - 2, cnt = 0;
		char *in = calloc(r, 1);

		v = malloc(sample * sizeof(*v));
		REQUIRE(v && in);
		v[cnt++] = 0;
		v[cnt++] = total - 1;
		for (uint64_t j = r - (sample - 2); j < r; j++) {
			uint64_t t = t_rand_below(&rng, j + 1);

			if (in[t])
				t = j;
			in[t] = 1;
			v[cnt++] = 1 + t;
		}
		free(in);
		n = cnt;
	}
	for (uint64_t i = 0; i < n; i++)
		v[i] += k0;
	qsort(v, n, sizeof(*v), cmp_u64);
	*np = n;
	return v;
}

/*
 * Make the image file (mapped shared at @imap) equal @img. Only blocks
 * that differ are written: the last check changed a few (mount's replay
 * and orphan cleanup, the probes), the log a few more.
 */
static void img_sync(unsigned char *imap, const unsigned char *img)
{
	for (uint64_t off = 0; off < lg.dev_size; off += PG)
		if (memcmp(imap + off, img + off, PG))
			memcpy(imap + off, img + off, PG);
}

/* -p: copy the image file to IMAGE.K@suffix before it is checked. */
static void keep_image(const unsigned char *imap, uint64_t k,
		       const char *suffix)
{
	char keep[PATH_MAX + 64];
	int out;

	snprintf(keep, sizeof(keep), "%s.%" PRIu64 "%s", img_path, k, suffix);
	out = open(keep, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(out >= 0);
	REQUIRE(pwrite(out, imap, lg.dev_size, 0) == (ssize_t)lg.dev_size);
	close(out);
	printf("point %" PRIu64 ": image kept at %s\n", k, keep);
}

/*
 * A cut inside mkfs (before udax_pool_create() returned, point @k < k0)
 * leaves either no pool (fsck and open say -EINVAL: the superblock is
 * written last) or a clean empty one.
 */
static void check_mkfs_image(uint64_t k)
{
	struct fsck_ctx fc = { .k = k, .when = "in mkfs" };
	struct udax_pool *p = NULL;
	unsigned int seen = 0;
	int err = udax_pool_fsck(img_path, NULL, NULL);

	st.mkfs_points++;
	if (err == -EINVAL) {
		CHECK_EQ(udax_pool_open(img_path, 0, &p), -EINVAL);
		return;
	}
	err = udax_pool_fsck(img_path, fsck_report, &fc);
	if (err) {
		failf(k, false, "fsck of a pool cut in mkfs: %d", err);
		return;
	}
	err = udax_pool_open(img_path, 0, &p);
	if (err) {
		failf(k, false, "open of a pool cut in mkfs: %d", err);
		return;
	}
	REQUIRE(udax_list(p, list_name, &seen) == 0);
	CHECK_EQ(seen, 0);
	REQUIRE(udax_pool_close(p) == 0);
}

static void run_checks(uint64_t k0, uint64_t sample, int64_t only,
		       bool torn_too)
{
	unsigned char *img = calloc(1, lg.dev_size);
	struct claim **active = malloc(cl.n * sizeof(*active) + 1);
	struct claim **tact = malloc(cl.n * sizeof(*tact) + 1);
	uint64_t applied = 0, npts, *pts, next = 0;
	struct t_rng trng;
	unsigned char *imap;
	size_t na = 0;
	double t0 = t_now();
	int fd;

	REQUIRE(img && active && tact);
	fd = open(img_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, (off_t)lg.dev_size) == 0);
	imap =
	    mmap(NULL, lg.dev_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(imap != MAP_FAILED);
	for (size_t i = 0; i < cl.n; i++) {
		cl.v[i].p = flushes_before(cl.v[i].from);
		cl.v[i].q = flushes_before(cl.v[i].to);
	}
	for (size_t i = 0; i < cr.n; i++)
		cr.from[i] = flushes_before(cr.from[i]);
	for (size_t i = 0; i < tr.n; i++) {
		tr.v[i].from = flushes_before(tr.v[i].from);
		tr.v[i].to = flushes_before(tr.v[i].to);
		if (verbose)
			printf("op %zu: flushes [%" PRIu64 ", %" PRIu64
			       "): %s\n",
			       i, tr.v[i].from, tr.v[i].to, tr.v[i].desc);
	}
	qsort(cl.v, cl.n, sizeof(*cl.v), cmp_claim_p);
	if (only >= 0) {
		REQUIRE((uint64_t)only <= lg.m);
		pts = malloc(sizeof(*pts));
		REQUIRE(pts);
		pts[0] = (uint64_t)only;
		npts = 1;
	} else {
		for (; applied < k0; applied++) {
			img_sync(imap, img);
			check_mkfs_image(applied);
			memcpy(img + lg.f[applied].off, lg.f[applied].data,
			       lg.f[applied].len);
		}
		pts = pick_points(k0, sample, &npts);
	}
	for (uint64_t i = 0; i < npts; i++) {
		uint64_t k = pts[i], e, failed = st.fsck_fail;
		size_t j, nt = 0;

		for (; applied < k; applied++)
			memcpy(img + lg.f[applied].off, lg.f[applied].data,
			       lg.f[applied].len);
		/* Claims in force at k: made by k, not withdrawn before. */
		for (; next < cl.n && cl.v[next].p <= k; next++)
			active[na++] = &cl.v[next];
		for (j = 0; j < na;)
			if (active[j]->q < k)
				active[j] = active[--na];
			else
				j++;
		img_sync(imap, img);
		if (only >= 0)
			keep_image(imap, k, "");
		check_image(k, false, active, na);
		st.points++;
		if (!torn_too || k == lg.m) {
			st.fsck_clean += st.fsck_fail == failed;
			continue;
		}
		/*
		 * Torn: a random half of the lines of every flush in flight,
		 * drawn from the seed and k alone (so -p K sees the same).
		 */
		t_rng_init(&trng, t_seed ^ mix(k + 1));
		e = lg.f[k].epoch;
		img_sync(imap, img);
		for (uint64_t r = k; r < e; r++) {
			const struct flush *fl = &lg.f[r];
			uint64_t a = fl->off;

			while (a < fl->off + fl->len) {
				uint64_t b = (a / LINE + 1) * LINE;

				if (b > fl->off + fl->len)
					b = fl->off + fl->len;
				if (t_rand(&trng) >> 63)
					memcpy(imap + a,
					       fl->data + (a - fl->off), b - a);
				a = b;
			}
		}
		for (j = 0; j < na; j++)
			if (active[j]->q >= e)
				tact[nt++] = active[j];
		if (only >= 0) {
			printf("point %" PRIu64 ": torn image has %" PRIu64
			       " flushes in flight\n",
			       k, e - k);
			keep_image(imap, k, ".torn");
		}
		check_image(k, true, tact, nt);
		st.torn++;
		st.fsck_clean += st.fsck_fail == failed;
		if (!(st.points % 500))
			printf("  %" PRIu64 " points, %.1f s\n", st.points,
			       t_now() - t0);
	}
	munmap(imap, lg.dev_size);
	close(fd);
	free(pts);
	free(active);
	free(tact);
	free(img);
}

static void pick_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if ((!tmp || !*tmp) && access("/dev/shm", W_OK | X_OK) == 0)
		tmp = "/dev/shm";
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/udax-crash-XXXXXX", tmp);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(pool_path, sizeof(pool_path), "%s/pool", dir);
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	snprintf(img_path, sizeof(img_path), "%s/image", dir);
}

static void remove_dir(void)
{
	unlink(pool_path);
	unlink(log_path);
	unlink(img_path);
	rmdir(dir);
}

/* The options of main() beyond -s and -l. */
struct cs_opts {
	uint64_t sample; /* -n: crash points checked */
	int64_t only;	 /* -p: check this point alone, keep its images */
	bool torn_too;	 /* -T turns off the torn-line images */
};

static bool cs_opt(int letter, const char *val, void *arg)
{
	struct cs_opts *o = arg;

	switch (letter) {
	case 'n':
		o->sample = strtoull(val, NULL, 0);
		return true;
	case 'p':
		o->only = strtoll(val, NULL, 0);
		return true;
	case 'T':
		o->torn_too = false;
		return true;
	case 'Z':
		no_probe = true;
		return true;
	case 'v':
		verbose = true;
		return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct cs_opts o = {.sample = 3000, .only = -1, .torn_too = true};
	uint64_t sample;
	int64_t only;
	bool torn_too;
	unsigned long ops;
	uint64_t created, k0;
	double t0;

	t_init_opts(argc, argv, "n:p:TZv", cs_opt, &o,
		    " [-n SAMPLE] [-p POINT] [-T] [-Z] [-v]");
	sample = o.sample < 2 ? 2 : o.sample;
	only = o.only;
	torn_too = o.torn_too;
	t_rng_init(&rng, t_seed);
	ops = t_long ? 1500 : 320;

	pick_dir();
	/* Also when a check gives up (exit): -p keeps the images, though. */
	if (only < 0)
		atexit(remove_dir);
	for (int f = 0; f < NFILES; f++) {
		slots[f].data = calloc(1, FILE_MAX);
		REQUIRE(slots[f].data);
		slots[f].sclaim = slots[f].eclaim = -1;
		for (int p = 0; p < MAXPAGES; p++)
			slots[f].pclaim[p] = -1;
	}

	/* Record from the pool's creation: the log starts from zeros. */
	REQUIRE(setenv(DAX_DEV_REC_ENV, log_path, 1) == 0);
	if (udax_pool_create(pool_path, POOL_SIZE, &pool)) {
		printf("cannot create a pool under %s: skipped\n", dir);
		remove_dir();
		return T_SKIP;
	}
	REQUIRE(unsetenv(DAX_DEV_REC_ENV) == 0);
	logfd = open(log_path, O_RDONLY);
	REQUIRE(logfd >= 0);
	created = logpos();
	for (int f = 0; f < NFILES; f++)
		slots[f].eclaim = claim_add(CL_ABSENT, f, 0, 0);

	t0 = t_now();
	run_workload(ops);
	check_model();
	finish_workload();
	close(logfd);
	load_log();
	k0 = flushes_before(created);
	printf("workload: %lu operations (", ops);
	for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		printf("%s%s %lu", i ? ", " : "", op_names[i], nr_ops[i]);
	printf("), %" PRIu64 " flushes (%" PRIu64 " in mkfs), %zu claims, "
	       "log %zu KiB, %.1f s\n",
	       lg.m, k0, cl.n, lg.size >> 10, t_now() - t0);
	fflush(stdout);

	t0 = t_now();
	run_checks(k0, sample, only, torn_too);
	printf("crash points checked: %" PRIu64 " (of %" PRIu64
	       " persist points), fsck clean: %" PRIu64 ", claims checked: "
	       "%" PRIu64 "\n",
	       st.points, lg.m + 1 - k0, st.fsck_clean, st.claims);
	printf("images: %" PRIu64 " (%" PRIu64 " torn), unclaimed pages "
	       "checked line by line: %" PRIu64 ", zero-past-EOF probes: "
	       "%" PRIu64 ", cuts inside mkfs: %" PRIu64 ", %.1f s\n",
	       st.images, st.torn, st.pages, st.probes, st.mkfs_points,
	       t_now() - t0);
	munmap(lg.base, lg.size);
	if (only >= 0)
		printf("pool directory kept: %s\n", dir);
	return t_done("crash_sim");
}
