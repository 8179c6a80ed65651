/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_vm_fail - the VM's mmap and mprotect calls fail at random (the
 * test builds' dax_vm_fail_set(), as the kernel would refuse them at
 * vm.max_map_count or out of memory) under a real workload, through real
 * mappings. udax must fail closed: report every failure it cannot absorb
 * (-ENOMEM from the call, or SIGBUS for the access), never report one
 * that did not happen, and never lose a store or leave a stale mapping.
 *
 * Two files of one pool, A and B, at most MAXP pages each, mapped shared
 * read-write over their largest size, and A mapped once more, private.
 * Random steps: stores of stamped words through each mapping (a stamp
 * names file, kind, page and word), loads, udax_msync, udax_ftruncate
 * down and up, punch hole, udax_pwrite of stamped words, fallocate. A
 * shadow of each file is exact (a store that raised SIGBUS did not
 * happen), and so is a model of the private mapping: a page without a
 * private copy shows the file; one with a copy shows the copy (the file
 * as it was at the first private store, plus private stores); a copy that
 * a failed truncate or punch may or may not have dropped is "unknown" and
 * only checked for plausible stamps.
 *
 * Phases: no failures (every error is a bug), then failures one call in
 * 40 and one in 7, with the default budget and with a budget of 64 (so
 * reclaim, itself failing now and then, runs among them). Checked at
 * every step:
 *  - a call returns 0 (a pwrite its length) or -ENOMEM; a short pwrite
 *    counts as a reported failure. An error or a SIGBUS inside EOF only
 *    if some VM call failed during that very step (dax_vm_fail_count()):
 *    no invented failure, no failure carried over from an earlier call;
 *  - a failed truncate, punch, pwrite or fallocate leaves the size and
 *    every byte of the file as they were (pread against the shadow);
 *  - an access beyond EOF raises SIGBUS, always; a load that succeeds
 *    reads exactly the shadow (a stale mapping of a freed or reused block,
 *    or a zero page over data, reads something else); a successful
 *    truncate or punch is probed at once through the mappings;
 *  - after an msync of a whole shared mapping returns 0, no part of it is
 *    writable (/proc/self/maps), and a store to a page written before it
 *    faults: no store can escape dirty tracking behind a successful
 *    writeback.
 * The SIGBUSes caught equal the stats' sigbus of the two files. Over a
 * one-in-7 phase failures must have been reported at least once (each
 * VM call is retried once, so about one in 49 calls fails for good).
 *
 * At the end, with the VM working again: udax_msync of every mapping and
 * udax_fsync of both files return 0; every word of both files equals the
 * shadow (no stamp of A in B or of B in A, no private stamp in A); every
 * page loads as the shadow or the private model says; the write-protect
 * check runs over every written page. The pool is closed, checked with
 * fsck, reopened and compared again, closed, and checked again.
 */
#include "api_util.h"

#include "vm/vm.h"

#define MiB (1ULL << 20)
#define PG 4096ULL
#define WPP 512U	       /* words per page */
#define MAXP 1024ULL	       /* pages per file, at most: 4 MiB */
#define MAXB (MAXP * PG)
#define MAXW (MAXP * WPP)
#define NF 2

enum { K_STORE, K_PRIV, K_PWRITE };
static const char *const kind_name[] = { "store", "private store", "pwrite",
					  "?" };

/* Private page states (the model of A's private mapping). */
enum { P_NOCOPY, P_COPY, P_UNKNOWN };

struct tfile {
	const char *name;
	unsigned int id;
	struct udax_file *f;
	uint64_t *map;	 /* shared, read-write, MAXB bytes */
	uint64_t size;	 /* bytes, a multiple of 8 */
	uint64_t *sh;	 /* MAXW words: what the file holds */
	uint8_t *dirty;	 /* pages stored to since the last whole msync */
};

static struct tfile tf[NF];
static uint64_t *priv;	/* A, private */
static uint64_t *psh;	/* what the private copies hold */
static uint8_t *pst;	/* P_* per page of A */
static uint64_t seq;
static bool inj;	/* failures are being injected */

struct counts {
	unsigned long steps, stores, loads, bus_eof, bus_inj, enomem,
		short_writes, msyncs, truncs, punches, pwrites, fallocs,
		wp_checks;
};
static struct counts cnt;

static uint64_t pages_of(uint64_t size)
{
	return (size + PG - 1) / PG;
}

static uint64_t stamp(unsigned int file, unsigned int kind, uint64_t pg,
		      unsigned int w)
{
	return 1ULL << 63 | (uint64_t)file << 62 | (uint64_t)kind << 60 |
	       (pg & 0xfffff) << 40 | (uint64_t)w << 31 |
	       (++seq & 0x7fffffff);
}

/* Print what @v is, for a mismatch at word @w of page @pg of @t. */
static void describe(const char *what, const struct tfile *t, uint64_t pg,
		     unsigned int w, uint64_t v, uint64_t want)
{
	char about[160] = "";

	if (v >> 63)
		snprintf(about, sizeof(about),
			 " (a %s of file %s, page %llu word %llu)",
			 kind_name[(v >> 60) & 3], (v >> 62) & 1 ? "B" : "A",
			 (unsigned long long)((v >> 40) & 0xfffff),
			 (unsigned long long)((v >> 31) & 0x1ff));
	fprintf(stderr, "%s: file %s page %llu word %u: %#llx%s, expected "
		"%#llx\n",
		what, t->name, (unsigned long long)pg, w,
		(unsigned long long)v, about, (unsigned long long)want);
}

/* Could @v be at word @w of page @pg of file @id (private stamps too)? */
static bool plausible(uint64_t v, unsigned int id, uint64_t pg,
		      unsigned int w)
{
	return !v || ((v >> 63) && ((v >> 62) & 1) == id &&
		      ((v >> 40) & 0xfffff) == pg &&
		      ((v >> 31) & 0x1ff) == w && ((v >> 60) & 3) <= K_PWRITE);
}

static unsigned long fails(void)
{
	return dax_vm_fail_count();
}

/*
 * A failure was reported (-ENOMEM, a short pwrite, a SIGBUS inside EOF)
 * in a step that began with @f0 failures injected: some VM call must
 * have failed since.
 */
static void reported(unsigned long f0, const char *what)
{
	if (fails() == f0) {
		fprintf(stderr, "%s failed, but no VM call did (injection "
			"%s)\n",
			what, inj ? "on" : "off");
		CHECK(fails() != f0);
	}
}

static void bus_inside(unsigned long f0, const char *what)
{
	cnt.bus_inj++;
	reported(f0, what);
}

static uint64_t faults_of(const struct tfile *t)
{
	struct udax_stats st;

	REQUIRE(udax_file_stats(t->f, &st, sizeof(st)) == 0);
	/* Every engine fault inside EOF counts in one of these. */
	return st.faults_read + st.faults_write + st.faults_mkwrite +
	       st.sigbus;
}

/* The size and every word of @t equal the shadow. */
static void compare_file(const struct tfile *t, const char *when)
{
	static uint64_t buf[MAXW];
	struct stat st;
	ssize_t n;
	int bad = 0;

	REQUIRE(udax_fstat(t->f, &st) == 0);
	if ((uint64_t)st.st_size != t->size) {
		fprintf(stderr, "%s: file %s size %lld, expected %llu\n", when,
			t->name, (long long)st.st_size,
			(unsigned long long)t->size);
		CHECK_EQ(st.st_size, t->size);
	}
	memset(buf, 0xa5, sizeof(buf));
	n = udax_pread(t->f, buf, MAXB, 0);
	CHECK_EQ(n, t->size);
	for (uint64_t i = 0; i < t->size / 8; i++)
		if (buf[i] != t->sh[i]) {
			if (bad++ < 5)
				describe(when, t, i / WPP,
					 (unsigned int)(i % WPP), buf[i],
					 t->sh[i]);
		}
	if (bad) {
		fprintf(stderr, "%s: file %s: %d words differ\n", when,
			t->name, bad);
		CHECK_EQ(bad, 0);
	}
}

/* Can word @w of page @pg of @t be stored to (wholly inside EOF)? */
static bool inside(const struct tfile *t, uint64_t pg, unsigned int w)
{
	return pg * PG + (uint64_t)w * 8 + 8 <= t->size;
}

/* A page for an access: beyond EOF now and then (it must raise SIGBUS). */
static uint64_t pick_page(const struct tfile *t, struct t_rng *rng,
			  bool *beyond)
{
	uint64_t pages = pages_of(t->size);

	*beyond = pages < MAXP &&
		  (pages == 0 || t_rand_below(rng, 16) == 0);
	return *beyond ? pages + t_rand_below(rng, MAXP - pages)
		       : t_rand_below(rng, pages);
}

/* An access beyond EOF that did not raise SIGBUS. */
static void past_eof(const struct tfile *t, const char *what, uint64_t pg)
{
	fprintf(stderr, "%s file %s page %llu succeeded beyond EOF (%llu "
		"bytes)\n",
		what, t->name, (unsigned long long)pg,
		(unsigned long long)t->size);
	CHECK(!"access beyond EOF succeeded");
}

/* ---- steps ---- */

static void do_store(struct tfile *t, struct t_rng *rng)
{
	bool beyond;
	uint64_t pg = pick_page(t, rng, &beyond), v;
	unsigned int w = (unsigned int)t_rand_below(rng, WPP);
	unsigned long f0 = fails();

	if (!beyond && !inside(t, pg, w))
		return; /* the tail of the last page, beyond EOF */
	v = stamp(t->id, K_STORE, pg, w);
	cnt.stores++;
	if (t_store(&t->map[pg * WPP + w], v)) {
		if (beyond) {
			past_eof(t, "store to", pg);
			return;
		}
		t->sh[pg * WPP + w] = v;
		t->dirty[pg] = 1;
	} else if (beyond) {
		cnt.bus_eof++;
	} else {
		bus_inside(f0, "store");
	}
}

static void do_load(struct tfile *t, struct t_rng *rng)
{
	bool beyond;
	uint64_t pg = pick_page(t, rng, &beyond), v;
	unsigned int w = (unsigned int)t_rand_below(rng, WPP);
	unsigned long f0 = fails();

	cnt.loads++;
	if (!t_load(&t->map[pg * WPP + w], &v)) {
		if (beyond)
			cnt.bus_eof++;
		else
			bus_inside(f0, "load");
		return;
	}
	if (beyond) {
		past_eof(t, "load from", pg);
		return;
	}
	if (v != t->sh[pg * WPP + w]) {
		describe("load", t, pg, w, v, t->sh[pg * WPP + w]);
		CHECK_EQ(v, t->sh[pg * WPP + w]);
	}
}

/* Check a value loaded from the private mapping against the model. */
static void check_private(uint64_t pg, unsigned int w, uint64_t v)
{
	uint64_t want;

	switch (pst[pg]) {
	case P_NOCOPY:
		want = tf[0].sh[pg * WPP + w];
		break;
	case P_COPY:
		want = psh[pg * WPP + w];
		break;
	default:
		if (!plausible(v, 0, pg, w)) {
			describe("private load (unknown copy)", &tf[0], pg, w,
				 v, 0);
			CHECK(plausible(v, 0, pg, w));
		}
		return;
	}
	if (v != want) {
		describe(pst[pg] == P_COPY ? "private load (copy)"
					   : "private load (no copy)",
			 &tf[0], pg, w, v, want);
		CHECK_EQ(v, want);
	}
}

static void do_priv_store(struct t_rng *rng)
{
	struct tfile *t = &tf[0];
	bool beyond;
	uint64_t pg = pick_page(t, rng, &beyond), v;
	unsigned int w = (unsigned int)t_rand_below(rng, WPP);
	unsigned long f0 = fails();

	if (!beyond && !inside(t, pg, w))
		return;
	v = stamp(0, K_PRIV, pg, w);
	cnt.stores++;
	if (!t_store(&priv[pg * WPP + w], v)) {
		if (beyond)
			cnt.bus_eof++;
		else
			bus_inside(f0, "private store");
		return;
	}
	if (beyond) {
		past_eof(t, "private store to", pg);
		return;
	}
	/* The first store copies the page as the file has it now. */
	if (pst[pg] == P_NOCOPY) {
		memcpy(&psh[pg * WPP], &t->sh[pg * WPP], PG);
		pst[pg] = P_COPY;
	}
	psh[pg * WPP + w] = v;
}

static void do_priv_load(struct t_rng *rng)
{
	struct tfile *t = &tf[0];
	bool beyond;
	uint64_t pg = pick_page(t, rng, &beyond), v;
	unsigned int w = (unsigned int)t_rand_below(rng, WPP);
	unsigned long f0 = fails();

	cnt.loads++;
	if (!t_load(&priv[pg * WPP + w], &v)) {
		if (beyond)
			cnt.bus_eof++;
		else
			bus_inside(f0, "private load");
		return;
	}
	if (beyond)
		past_eof(t, "private load from", pg);
	else
		check_private(pg, w, v);
}

/*
 * Writable kernel mappings inside @t's shared mapping. After an msync of
 * all of it returned 0 there must be none: every page written back is
 * write-protected, so the next store to it is seen. /proc/self/maps shows
 * what the kernel enforces, whatever udax believes.
 */
static unsigned int writable_vmas(const struct tfile *t)
{
	uintptr_t lo = (uintptr_t)t->map, hi = lo + MAXB;
	FILE *fp = fopen("/proc/self/maps", "r");
	unsigned long s, e;
	unsigned int n = 0;
	char line[512], perm[8];

	REQUIRE(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perm) == 3 &&
		    lo < e && s < hi && perm[1] == 'w') {
			if (n++ < 3)
				fprintf(stderr, "file %s: writable after "
					"msync: pages %llu-%llu (%s)\n",
					t->name,
					(unsigned long long)((s - lo) / PG),
					(unsigned long long)((e - lo) / PG - 1),
					perm);
		}
	fclose(fp);
	return n;
}

/*
 * Pages of @t stored to through its mapping before an msync that returned
 * 0 must all be write-protected now: a store of the value a page already
 * holds must fault. Such a store makes its page writable again, and with
 * it the whole 2 MiB if the page was part of a 2 MiB mapping, so one page
 * per 2 MiB of the file is checked; with @all (only with the VM working)
 * every written page, with an msync whenever its 2 MiB was made writable
 * by an earlier check.
 */
static void wp_check(struct tfile *t, struct t_rng *rng, bool all)
{
	uint64_t start = t_rand_below(rng, MAXP), pages = pages_of(t->size);
	bool touched[MAXP / WPP] = { false };
	unsigned int done = 0;
	uint8_t *again = calloc(MAXP, 1);

	REQUIRE(again);
	for (uint64_t k = 0; k < MAXP && (all || done < 16); k++) {
		uint64_t pg = (start + k) % MAXP, f0, v;
		unsigned long i0 = fails();
		uint64_t *p = &t->map[pg * WPP];

		if (!t->dirty[pg] || pg >= pages || !inside(t, pg, 0))
			continue;
		if (touched[pg / WPP]) {
			if (!all)
				continue;
			CHECK_EQ(udax_msync(t->map, MAXB, MS_SYNC), 0);
			CHECK_EQ(writable_vmas(t), 0);
			memset(touched, 0, sizeof(touched));
			memset(again, 0, MAXP);
		}
		done++;
		cnt.wp_checks++;
		if (!t_load(p, &v)) {
			bus_inside(i0, "load (write-protect check)");
			continue;
		}
		if (v != t->sh[pg * WPP]) {
			describe("load (write-protect check)", t, pg, 0, v,
				 t->sh[pg * WPP]);
			CHECK_EQ(v, t->sh[pg * WPP]);
			continue;
		}
		f0 = faults_of(t);
		if (!t_store(p, v)) {
			bus_inside(i0, "store (write-protect check)");
		} else {
			again[pg] = 1; /* writable again: dirty */
			touched[pg / WPP] = true;
		}
		if (faults_of(t) == f0) {
			fprintf(stderr, "file %s page %llu was still writable "
				"after msync returned 0\n",
				t->name, (unsigned long long)pg);
			CHECK(!"store escaped dirty tracking");
		}
	}
	memcpy(t->dirty, again, MAXP);
	free(again);
}

static void do_msync(struct t_rng *rng)
{
	unsigned int which = (unsigned int)t_rand_below(rng, 3);
	struct tfile *t = &tf[which == 1];
	uint64_t *m = which == 2 ? priv : t->map;
	uint64_t a = 0, n = MAXP;
	unsigned long f0 = fails();
	int err;

	/* A private mapping's msync writes back its file's range too. */
	if (t_rand_below(rng, 4) == 0) {
		a = t_rand_below(rng, MAXP);
		n = 1 + t_rand_below(rng, MAXP - a);
	}
	cnt.msyncs++;
	err = udax_msync(m + a * WPP, n * PG, MS_SYNC);
	if (err == -ENOMEM) {
		cnt.enomem++;
		reported(f0, "msync");
	} else if (err) {
		fprintf(stderr, "msync: %d\n", err);
		CHECK_EQ(err, 0);
	} else if (n == MAXP) {
		CHECK_EQ(writable_vmas(t), 0);
		wp_check(t, rng, false);
	}
}

/* Load word @wd (of the file) of @t through its mappings and check it. */
static void probe_word(struct tfile *t, uint64_t wd)
{
	uint64_t pages = pages_of(t->size), pg = wd / WPP;
	unsigned int w = (unsigned int)(wd % WPP);
	uint64_t *maps[2] = { t->map, t->id ? NULL : priv };

	for (unsigned int i = 0; i < 2 && maps[i]; i++) {
		unsigned long f0 = fails();
		uint64_t v;

		if (!t_load(&maps[i][wd], &v)) {
			if (pg >= pages)
				cnt.bus_eof++;
			else
				bus_inside(f0, "probe");
			continue;
		}
		if (pg >= pages)
			past_eof(t, "probe of", pg);
		else if (i == 1)
			check_private(pg, w, v);
		else if (v != t->sh[wd]) {
			describe("probe", t, pg, w, v, t->sh[wd]);
			CHECK_EQ(v, t->sh[wd]);
		}
	}
}

/*
 * Probe words [a, b) of @t through its mappings, right after a call
 * changed them: the two at each end and a few at random (not all: each
 * SIGBUS beyond EOF costs a signal round trip). A stale mapping left by
 * the call (a freed block, a zero page over new data) reads wrong here.
 */
static void probe(struct tfile *t, struct t_rng *rng, uint64_t a, uint64_t b)
{
	if (b > MAXW)
		b = MAXW;
	for (unsigned int n = 0; n < 8 && a < b; n++) {
		uint64_t wd = n < 2   ? a + n
			      : n < 4 ? b - 1 - (n - 2)
				      : a + t_rand_below(rng, b - a);

		if (wd < b)
			probe_word(t, wd);
	}
}

/* After a failed call that may have dropped A's copies in [a, b). */
static void copies_unknown(const struct tfile *t, uint64_t a, uint64_t b)
{
	for (uint64_t pg = a; t->id == 0 && pg < b && pg < MAXP; pg++)
		if (pst[pg] == P_COPY)
			pst[pg] = P_UNKNOWN;
}

/* After a call that dropped A's copies in [a, b). */
static void copies_dropped(const struct tfile *t, uint64_t a, uint64_t b)
{
	for (uint64_t pg = a; t->id == 0 && pg < b && pg < MAXP; pg++)
		pst[pg] = P_NOCOPY;
}

/* A size: page-aligned mostly, else any multiple of 8, in [lo, hi]. */
static uint64_t pick_size(struct t_rng *rng, uint64_t lo, uint64_t hi)
{
	uint64_t s;

	if (t_rand_below(rng, 3)) {
		s = (lo + PG - 1) / PG +
		    t_rand_below(rng, hi / PG - (lo + PG - 1) / PG + 1);
		s *= PG;
		if (s >= lo && s <= hi)
			return s;
	}
	return lo / 8 * 8 + t_rand_below(rng, (hi - lo) / 8 + 1) * 8;
}

static void do_truncate(struct tfile *t, struct t_rng *rng, bool down)
{
	uint64_t old = t->size, s;
	unsigned long f0 = fails();
	int err;

	if (down ? !old : old >= MAXB)
		return;
	s = down ? pick_size(rng, 0, old - 8) : pick_size(rng, old + 8, MAXB);
	cnt.truncs++;
	err = udax_ftruncate(t->f, s);
	if (err == -ENOMEM) {
		cnt.enomem++;
		reported(f0, "truncate");
		compare_file(t, "after a failed truncate");
		copies_unknown(t, pages_of(s), pages_of(old));
		return;
	}
	if (err) {
		fprintf(stderr, "truncate %s to %llu: %d\n", t->name,
			(unsigned long long)s, err);
		CHECK_EQ(err, 0);
		return;
	}
	if (s < old) {
		/* Cut words read as zeros if the file grows again. */
		memset(&t->sh[s / 8], 0, old - s);
		copies_dropped(t, pages_of(s), pages_of(old));
	}
	t->size = s;
	/* What was cut or added, and the first page beyond EOF. */
	probe(t, rng, (s < old ? s : old) / 8,
	      (pages_of(s < old ? old : s) + 1) * WPP);
}

static void do_punch(struct tfile *t, struct t_rng *rng)
{
	uint64_t off, len, end, first, stop;
	unsigned long f0 = fails();
	int err;

	off = t_rand_below(rng, 4) ? t_rand_below(rng, MAXP) * PG
				   : t_rand_below(rng, MAXW) * 8;
	len = t_rand_below(rng, 4) ? (1 + t_rand_below(rng, 64)) * PG
				   : (1 + t_rand_below(rng, 64 * WPP)) * 8;
	end = off + len < t->size ? off + len : t->size;
	first = pages_of(off);
	stop = end / PG;
	cnt.punches++;
	err = udax_fallocate(t->f,
			     UDAX_FALLOC_PUNCH_HOLE | UDAX_FALLOC_KEEP_SIZE,
			     off, len);
	if (err == -ENOMEM) {
		cnt.enomem++;
		reported(f0, "punch");
		compare_file(t, "after a failed punch");
		copies_unknown(t, first, stop);
		return;
	}
	if (err) {
		fprintf(stderr, "punch %s [%llu, +%llu): %d\n", t->name,
			(unsigned long long)off, (unsigned long long)len, err);
		CHECK_EQ(err, 0);
		return;
	}
	if (off >= end)
		return;
	memset(&t->sh[off / 8], 0, end - off);
	/* Whole pages were unmapped (copies too); partial ones zeroed. */
	copies_dropped(t, first, stop);
	probe(t, rng, off / 8, end / 8);
}

static void do_pwrite(struct tfile *t, struct t_rng *rng)
{
	static uint64_t buf[64 * WPP];
	uint64_t w0 = t_rand_below(rng, MAXW - 1), nw, len;
	unsigned long f0 = fails();
	ssize_t n;

	/* Near EOF often, so the file grows too. */
	if (t_rand_below(rng, 3) == 0 && t->size / 8 + 64 < MAXW)
		w0 = t->size / 8 + t_rand_below(rng, 64);
	nw = 1 + t_rand_below(rng, 4 * WPP);
	if (w0 + nw > MAXW)
		nw = MAXW - w0;
	for (uint64_t i = 0; i < nw; i++)
		buf[i] = stamp(t->id, K_PWRITE, (w0 + i) / WPP,
			       (unsigned int)((w0 + i) % WPP));
	len = nw * 8;
	cnt.pwrites++;
	n = udax_pwrite(t->f, buf, len, w0 * 8);
	if (n == -ENOMEM) {
		cnt.enomem++;
		reported(f0, "pwrite");
		compare_file(t, "after a failed pwrite");
		return;
	}
	if (n <= 0 || n % 8) {
		fprintf(stderr, "pwrite %s %llu bytes at %llu: %zd\n", t->name,
			(unsigned long long)len, (unsigned long long)(w0 * 8),
			n);
		CHECK(n > 0 && n % 8 == 0);
		return;
	}
	if ((uint64_t)n < len) {
		cnt.short_writes++;
		reported(f0, "pwrite (short)");
	}
	memcpy(&t->sh[w0], buf, (size_t)n);
	if (w0 * 8 + (uint64_t)n > t->size)
		t->size = w0 * 8 + (uint64_t)n;
	/* Through the mappings at once: no zero page may hide the data. */
	probe(t, rng, w0, w0 + (uint64_t)n / 8);
	if ((uint64_t)n < len)
		compare_file(t, "after a short pwrite");
}

static void do_fallocate(struct tfile *t, struct t_rng *rng)
{
	uint64_t off = t_rand_below(rng, MAXP) * PG;
	uint64_t len = (1 + t_rand_below(rng, 96)) * PG;
	int keep = t_rand_below(rng, 2) ? UDAX_FALLOC_KEEP_SIZE : 0;
	unsigned long f0 = fails();
	int err;

	if (off + len > MAXB)
		len = MAXB - off;
	cnt.fallocs++;
	err = udax_fallocate(t->f, keep, off, len);
	if (err == -ENOMEM) {
		cnt.enomem++;
		reported(f0, "fallocate");
		compare_file(t, "after a failed fallocate");
		return;
	}
	if (err) {
		fprintf(stderr, "fallocate %s [%llu, +%llu): %d\n", t->name,
			(unsigned long long)off, (unsigned long long)len, err);
		CHECK_EQ(err, 0);
		return;
	}
	if (!keep && off + len > t->size)
		t->size = off + len;
	probe(t, rng, off / 8, (off + len) / 8);
}

static void step(struct t_rng *rng)
{
	struct tfile *t = &tf[t_rand_below(rng, NF)];
	unsigned int r = (unsigned int)t_rand_below(rng, 100);

	cnt.steps++;
	if (r < 34)
		do_store(t, rng);
	else if (r < 54)
		do_load(t, rng);
	else if (r < 62)
		do_priv_store(rng);
	else if (r < 70)
		do_priv_load(rng);
	else if (r < 77)
		do_msync(rng);
	else if (r < 82)
		do_truncate(t, rng, true);
	else if (r < 87)
		do_truncate(t, rng, false);
	else if (r < 92)
		do_punch(t, rng);
	else if (r < 97)
		do_pwrite(t, rng);
	else
		do_fallocate(t, rng);
}

/* ---- phases ---- */

struct phase {
	const char *name;
	unsigned int one_in;
	uint64_t budget;
};

static unsigned long stat_sigbus(void)
{
	unsigned long n = 0;

	for (unsigned int i = 0; i < NF; i++) {
		struct udax_stats st;

		REQUIRE(udax_file_stats(tf[i].f, &st, sizeof(st)) == 0);
		n += st.sigbus;
	}
	return n;
}

static void run_phase(const struct phase *ph, unsigned long steps,
		      uint64_t seed)
{
	struct counts c0 = cnt;
	struct udax_stats st0, st;
	unsigned long f0 = fails();
	struct t_rng rng;
	double t0 = t_now();

	t_rng_init(&rng, seed);
	REQUIRE(udax_set_map_budget(ph->budget) == 0);
	REQUIRE(udax_file_stats(tf[0].f, &st0, sizeof(st0)) == 0);
	inj = ph->one_in != 0;
	dax_vm_fail_set(ph->one_in, seed);
	for (unsigned long i = 0; i < steps && !t_failures; i++)
		step(&rng);
	dax_vm_fail_set(0, 0);
	inj = false;
	REQUIRE(udax_file_stats(tf[0].f, &st, sizeof(st)) == 0);
	{
		unsigned long injected = fails() - f0;
		unsigned long rep = (cnt.enomem - c0.enomem) +
				    (cnt.bus_inj - c0.bus_inj) +
				    (cnt.short_writes - c0.short_writes);

		printf("%s (1 in %u, budget %llu): %lu steps in %.1f s; VM "
		       "failures injected %lu, reported %lu (-ENOMEM %lu, "
		       "SIGBUS %lu, short pwrite %lu); SIGBUS beyond EOF %lu; "
		       "reclaims %llu, map_count %llu\n",
		       ph->name, ph->one_in, (unsigned long long)st.map_budget,
		       cnt.steps - c0.steps, t_now() - t0, injected, rep,
		       cnt.enomem - c0.enomem, cnt.bus_inj - c0.bus_inj,
		       cnt.short_writes - c0.short_writes,
		       cnt.bus_eof - c0.bus_eof,
		       (unsigned long long)(st.map_reclaims - st0.map_reclaims),
		       (unsigned long long)st.map_count);
		fflush(stdout);
		if (!injected)
			CHECK_EQ(rep, 0);
		/*
		 * One VM call in 7 failing, each retried once: about one in
		 * 49 fails for good and must be reported. Absorbing hundreds
		 * of failures without one report means some went unseen.
		 */
		if (ph->one_in && ph->one_in <= 10 && injected >= 100)
			CHECK(rep > 0);
	}
	/* Every SIGBUS we caught is one udax counted, and no other. */
	CHECK_EQ(atomic_load(&t_bus_count), stat_sigbus());
}

/* ---- the end ---- */

static void final_checks(struct t_rng *rng)
{
	for (unsigned int i = 0; i < NF; i++) {
		CHECK_EQ(udax_msync(tf[i].map, MAXB, MS_SYNC), 0);
		CHECK_EQ(udax_fsync(tf[i].f), 0);
	}
	CHECK_EQ(udax_msync(priv, MAXB, MS_SYNC), 0);
	for (unsigned int i = 0; i < NF; i++) {
		struct tfile *t = &tf[i];
		uint64_t pages = pages_of(t->size);

		compare_file(t, "at the end");
		/* Every word through the mapping; one beyond EOF per page. */
		for (uint64_t pg = 0; pg < MAXP; pg++) {
			uint64_t v;

			if (pg >= pages) {
				if (t_load(&t->map[pg * WPP], &v))
					past_eof(t, "final load from", pg);
				else
					cnt.bus_eof++;
				continue;
			}
			for (unsigned int w = 0; w < WPP; w++) {
				if (!t_load(&t->map[pg * WPP + w], &v)) {
					fprintf(stderr, "file %s page %llu: "
						"SIGBUS inside EOF at the "
						"end\n",
						t->name,
						(unsigned long long)pg);
					CHECK(!"SIGBUS at the end");
					break;
				}
				if (v != t->sh[pg * WPP + w]) {
					describe("final load", t, pg, w, v,
						 t->sh[pg * WPP + w]);
					CHECK_EQ(v, t->sh[pg * WPP + w]);
				}
			}
		}
	}
	for (uint64_t pg = 0; pg < pages_of(tf[0].size); pg++)
		for (unsigned int w = 0; w < WPP; w++) {
			uint64_t v;

			if (!t_load(&priv[pg * WPP + w], &v)) {
				CHECK(!"private SIGBUS at the end");
				break;
			}
			check_private(pg, w, v);
		}
	/*
	 * Every page inside EOF is write-protected now (or unmapped), not
	 * only those the steps stored to: the loads above mapped them all.
	 */
	for (unsigned int i = 0; i < NF; i++)
		memset(tf[i].dirty, 1, MAXP);
	for (unsigned int i = 0; i < NF; i++) {
		CHECK_EQ(writable_vmas(&tf[i]), 0);
		wp_check(&tf[i], rng, true);
	}
	for (unsigned int i = 0; i < NF; i++)
		CHECK_EQ(udax_msync(tf[i].map, MAXB, MS_SYNC), 0);
	CHECK_EQ(atomic_load(&t_bus_count), stat_sigbus());
}

static void open_files(struct udax_pool *pool, int oflags)
{
	for (unsigned int i = 0; i < NF; i++)
		REQUIRE(udax_open(pool, tf[i].name, O_RDWR | oflags, 0644,
				  &tf[i].f) == 0);
}

int main(int argc, char **argv)
{
	static const struct phase phases[] = {
		{ "clean", 0, 0 },
		{ "1/40", 40, 0 },
		{ "1/7", 7, 0 },
		{ "1/7 budget 64", 7, 64 },
		{ "1/40 budget 64", 40, 64 },
		{ "clean budget 64", 0, 64 },
	};
	unsigned long steps;
	struct udax_pool *pool;
	struct t_rng rng;
	char path[300];
	void *p;

	t_init(argc, argv);
	t_watchdog(t_long ? 1800 : 240);
	steps = t_long ? 200000 : 25000;
	t_rng_init(&rng, t_seed);
	if (access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	t_tmpdir();
	t_catch_sigbus();
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	tf[0] = (struct tfile){ .name = "A", .id = 0 };
	tf[1] = (struct tfile){ .name = "B", .id = 1 };
	open_files(pool, O_CREAT);
	for (unsigned int i = 0; i < NF; i++) {
		struct tfile *t = &tf[i];

		t->sh = calloc(MAXW, sizeof(*t->sh));
		t->dirty = calloc(MAXP, 1);
		REQUIRE(t->sh && t->dirty);
		t->size = MAXB / 2;
		REQUIRE(udax_ftruncate(t->f, t->size) == 0);
		REQUIRE(udax_mmap(t->f, NULL, MAXB, PROT_READ | PROT_WRITE,
				  MAP_SHARED, 0, &p) == 0);
		t->map = p;
	}
	REQUIRE(udax_mmap(tf[0].f, NULL, MAXB, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE, 0, &p) == 0);
	priv = p;
	psh = calloc(MAXW, sizeof(*psh));
	pst = calloc(MAXP, 1);
	REQUIRE(psh && pst);

	for (unsigned int i = 0; i < sizeof(phases) / sizeof(phases[0]) &&
				 !t_failures;
	     i++)
		run_phase(&phases[i], steps, t_seed * 8 + i);
	REQUIRE(udax_set_map_budget(0) == 0);
	printf("%lu steps: %lu stores, %lu loads, %lu msyncs, %lu truncates, "
	       "%lu punches, %lu pwrites, %lu fallocates, %lu write-protect "
	       "checks; %lu VM failures injected in all\n",
	       cnt.steps, cnt.stores, cnt.loads, cnt.msyncs, cnt.truncs,
	       cnt.punches, cnt.pwrites, cnt.fallocs, cnt.wp_checks, fails());
	final_checks(&rng);

	REQUIRE(udax_munmap(priv, MAXB) == 0);
	for (unsigned int i = 0; i < NF; i++) {
		REQUIRE(udax_munmap(tf[i].map, MAXB) == 0);
		REQUIRE(udax_close(tf[i].f) == 0);
	}
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	/* What is on the device is what the shadow says, after a reopen. */
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	open_files(pool, 0);
	for (unsigned int i = 0; i < NF; i++) {
		compare_file(&tf[i], "after reopening");
		REQUIRE(udax_close(tf[i].f) == 0);
	}
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	for (unsigned int i = 0; i < NF; i++) {
		free(tf[i].sh);
		free(tf[i].dirty);
	}
	free(psh);
	free(pst);
	t_cleanup();
	return t_done("api_vm_fail");
}
