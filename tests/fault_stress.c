/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_stress - many threads, one file, every engine entry point at once.
 *
 * NR_THREADS threads run a random mix for a bounded time on one file of
 * MAX_PAGES pages (4 PMD ranges, the fs hands out 2 MiB-aligned extents so
 * PMD faults happen), through four regions:
 *
 *   R_HUGE  shared, 2 MiB faults tried first
 *   R_4K    shared, 4 KiB faults only
 *   R_SYNC  shared MAP_SYNC, 2 MiB faults tried first
 *   R_PRIV  private (copy-on-write), 2 MiB read faults tried first
 *
 * Operations: loads and stores through the regions (th_access: read and
 * write faults, hole fill, CoW in R_PRIV, mkwrite after writeback),
 * dax_writeback of random ranges, dax_read/dax_write of random ranges
 * (sometimes a whole aligned 2 MiB), dax_truncate down and back up (sizes
 * stay page-aligned), dax_punch_hole of random word-aligned ranges
 * (sometimes a whole aligned 2 MiB). Pages are drawn half from a shared
 * "hot" window that moves around PMD boundaries, so threads collide, and
 * at the engine's hook points (mostly with an entry lock held) threads
 * now and then yield or sleep a little, so that even on two cores others
 * run into held locks.
 *
 * Before the stress, two deterministic regressions replay, with a hook
 * stopping one thread, the two engine bugs this stress found: a write(2)
 * that returned with its data hidden behind a zero page another write(2)
 * had not yet removed, and a punch that deleted a dirty 2 MiB entry whose
 * other pages then never got written back.
 *
 * What is checked:
 *  1. No access fails except with SIGBUS, and SIGBUS only when the page
 *     was beyond EOF at some point during the access: every truncate (one
 *     "up" may shrink what another thread grew meanwhile) bumps
 *     shrink_start before and shrink_end after; an access that saw
 *     no shrink in flight at its start, the page below EOF, and no new
 *     shrink by its end must succeed. dax_read must not come back short
 *     under the same condition; dax_write, truncate, punch never fail.
 *  2. Every word read (regions or dax_read) satisfies th_stamp_ok for its
 *     page: never poison, never another page's stamp. Stamps carry the
 *     writer's thread id. Word w of every page is "owned" by thread
 *     w % NR_THREADS: only its owner stores to it through the shared
 *     regions (dax_write of other threads may overwrite it). The owner
 *     remembers the last value it put there; when it reads the word back
 *     through a shared region or dax_read, a value with its own id must
 *     be that last value (no lost or resurrected store, no private CoW
 *     store leaking into the file), and 0 is allowed only if a punch or
 *     truncate covering the page started since that store (per-page
 *     destroy counters, like the shrink counters above).
 *  3. th_violations() == 0 (the harness checks its invariants on every
 *     engine call) and th_check_quiescent() after joining. On top, the
 *     test wraps two ops: mkclean fails if it finds a writable mapping
 *     whose entry is no longer DIRTY (writeback cleared the tag before
 *     write-protecting), and flush copies blocks to a "durable" image.
 *  4. No deadlock or lost wake-up: t_watchdog.
 *  5. After joining, deterministically: a full writeback leaves no DIRTY
 *     entry, no writable shared mapping, and every block of the file
 *     equal to its durable image (no store escaped dirty tracking, the
 *     seed's second problem); every page below EOF read through a fresh
 *     fault in each shared region equals dax_read of it (whole pages
 *     compared), and R_PRIV shows the same unless it holds a private
 *     copy; the owner model holds for every word; pages beyond EOF have
 *     no block, no entry, and SIGBUS; blocks are accounted for.
 *
 * Duration: STRESS_SECS seconds by default (make check runs this under
 * ASan and TSan, in two builds each); -l (or UDAX_TEST_LONG=1) runs
 * LONG_SECS; UDAX_STRESS_SECS=N in the environment overrides both.
 * Threads seed their generators from the main seed (-s SEED), so a run's
 * operation sequence per thread is reproducible (the interleaving is not).
 *
 * Under ThreadSanitizer the device memory is declared a benign race: like
 * real DAX, stores through mappings race with read(2)/write(2) copies, the
 * CoW copy and flushes by design; the stamp and durability checks above
 * judge that data instead.
 */
#include "test_util.h"

#include <errno.h>
#include <sched.h>

#include "fault_harness.h"
#include "util/compiler.h"

#ifdef UDAX_TSAN
/* Dynamic annotation exported by the TSan runtime (no header has it). */
void AnnotateBenignRaceSized(const char *file, int line, const void *mem,
			     unsigned long size, const char *desc);

/*
 * Every thread is joined before exit: skip TSan's default one-second
 * sleep at exit (meant for threads still running then).
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "atexit_sleep_ms=0";
}
#endif

#define NR_THREADS 6
#define MAX_PAGES 2048ULL /* four 2 MiB ranges */
#define NR_BLOCKS 4096ULL /* room for aligned extents despite holes */
#define WORDS (DAX_PAGE_SIZE / 8)
#define MAX_RW_PAGES 520ULL /* a whole 2 MiB plus a bit */
#define STRESS_SECS 2.0
#define LONG_SECS 60.0

enum { R_HUGE, R_4K, R_SYNC, R_PRIV, NR_REGIONS };
static const char *const region_name[NR_REGIONS] = { "huge", "4k", "sync",
						      "private" };

enum op {
	OP_READ,
	OP_WRITE,
	OP_COW,
	OP_SWEEP,
	OP_WRITEBACK,
	OP_DAX_READ,
	OP_DAX_WRITE,
	OP_TRUNCATE,
	OP_PUNCH,
	OP_NR,
};
static const char *const op_name[OP_NR] = {
	"read", "write", "cow", "sweep", "writeback",
	"dax_read", "dax_write", "truncate", "punch",
};

static struct th_env env;
static struct th_region *regions[NR_REGIONS];
static atomic_bool stop;
static atomic_int failures;
static atomic_uint_fast64_t hot_base; /* first page of the hot window */

/* Truncates (possible shrinks), started and finished. */
static atomic_uint shrink_start, shrink_end;
/* Per page: punches/truncates that may zero or free it, started/ended. */
static atomic_uint destroy_start[MAX_PAGES], destroy_end[MAX_PAGES];

/* The owner's memory of word w of page p (owner: w % NR_THREADS). */
#define NO_VALUE 0
#define SNAP_UNSURE UINT32_MAX
static uint64_t *last_val;  /* [MAX_PAGES * WORDS], 0: never written */
static uint32_t *last_snap; /* destroy_start when written, or UNSURE */

struct worker {
	int id;
	pthread_t thread;
	struct t_rng rng;
	uint64_t seq;
	uint64_t *buf; /* MAX_RW_PAGES pages */
	unsigned long ops[OP_NR], sigbus, short_reads;
};

static struct worker workers[NR_THREADS];

#define FAIL(...)                                                              \
	do {                                                                   \
		if (atomic_fetch_add(&failures, 1) < 20) {                     \
			fprintf(stderr, "FAIL: " __VA_ARGS__);                 \
			fputc('\n', stderr);                                   \
		}                                                              \
	} while (0)

static uint64_t size_pages_now(void)
{
	return (atomic_load(&env.fs.size) + DAX_PAGE_SIZE - 1) >>
	       DAX_PAGE_SHIFT;
}

/* ---- check 1: "was it beyond EOF at some point" ---- */

struct eof_snap {
	unsigned int start, end;
	uint64_t pages;
};

static void eof_begin(struct eof_snap *s)
{
	s->start = atomic_load(&shrink_start);
	s->end = atomic_load(&shrink_end);
	s->pages = size_pages_now();
}

/*
 * True if pages below @limit were inside EOF for the whole time since
 * eof_begin(): no shrink was in flight then, none started since, and the
 * file only grows otherwise.
 */
static bool eof_stable_below(const struct eof_snap *s, uint64_t limit)
{
	return s->start == s->end && limit <= s->pages &&
	       atomic_load(&shrink_start) == s->start;
}

/* ---- the owner model ---- */

static inline uint64_t wslot(uint64_t page, uint64_t word)
{
	return page * WORDS + word;
}

static inline int owner_of(uint64_t word)
{
	return (int)(word % NR_THREADS);
}

/* Writer id carried by a stamp (1..NR_THREADS), 0 for a zero word. */
static inline int writer_of(uint64_t v)
{
	return v ? (int)((v >> 24) & 0x7f) : 0;
}

static uint64_t next_stamp_n(struct worker *w)
{
	w->seq++;
	return ((uint64_t)(w->id + 1) << 24) | (w->seq & 0xffffff);
}

/* Before a store of the owner's: snapshot the page's destroy counters. */
static uint32_t destroy_snap(uint64_t page)
{
	uint32_t s = atomic_load(&destroy_start[page]);

	return s == atomic_load(&destroy_end[page]) ? s : SNAP_UNSURE;
}

static void remember(uint64_t page, uint64_t word, uint64_t v, uint32_t snap)
{
	last_val[wslot(page, word)] = v;
	last_snap[wslot(page, word)] = snap;
}

/*
 * Judge word @word of @page read as @v by worker @me (-1: the main
 * thread after joining, which may judge every owner's words). Owner
 * checks apply to file data only (@file: shared region or dax_read).
 */
static void judge(int me, uint64_t page, uint64_t word, uint64_t v, bool file,
		  const char *how)
{
	int owner = owner_of(word);
	uint64_t last;
	uint32_t snap;

	if (!th_stamp_ok(page, v)) {
		FAIL("%s: page %llu word %llu reads %#llx (%s)", how,
		     (unsigned long long)page, (unsigned long long)word,
		     (unsigned long long)v,
		     v == TH_POISON ? "poison: freed block" : "wrong page");
		return;
	}
	if (!file || (me >= 0 && me != owner))
		return;
	last = last_val[wslot(page, word)];
	snap = last_snap[wslot(page, word)];
	if (writer_of(v) == owner + 1 && v != last)
		FAIL("%s: page %llu word %llu reads %#llx, owner %d last "
		     "stored %#llx (lost or leaked store)",
		     how, (unsigned long long)page, (unsigned long long)word,
		     (unsigned long long)v, owner, (unsigned long long)last);
	if (v == 0 && last != NO_VALUE && snap != SNAP_UNSURE &&
	    atomic_load(&destroy_start[page]) == snap)
		FAIL("%s: page %llu word %llu reads 0, owner %d stored %#llx "
		     "and nothing punched or truncated it since",
		     how, (unsigned long long)page, (unsigned long long)word,
		     owner, (unsigned long long)last);
}

/* ---- durability and writeback checks: wrapped vm and dev ops ---- */

/*
 * What the device has made durable: flush copies blocks here. Every change
 * to a block is either flushed by its maker (write(2), partial-page
 * zeroing) or made through a writable mapping, whose entry is DIRTY until
 * a writeback has write-protected and flushed it; so after the final full
 * writeback every block of the file must equal its durable copy. A store
 * that escaped dirty tracking (the seed's second problem) shows up here.
 */
static uint8_t *durable;
/*
 * A flush writes back what the cache holds when it runs: two flushes of a
 * block must not interleave their copies, or the earlier one could put
 * back words older than what the later one saw.
 */
static pthread_mutex_t durable_lock = PTHREAD_MUTEX_INITIALIZER;

static void stress_flush(void *dev, uint64_t block, uint64_t nr)
{
	pthread_mutex_lock(&durable_lock);
	memcpy(durable + block * DAX_PAGE_SIZE,
	       env.fs.dev + block * DAX_PAGE_SIZE, nr * DAX_PAGE_SIZE);
	pthread_mutex_unlock(&durable_lock);
	th_dev_ops.flush(dev, block, nr);
}

/* Writeback write-protects only pages whose entry is still DIRTY. */
static int stress_mkclean(void *ctx, uint64_t first, uint64_t last)
{
	struct th_vm *vm = ctx;

	if (last >= MAX_PAGES)
		last = MAX_PAGES - 1;
	pthread_mutex_lock(&vm->lock);
	for (int r = 0; r < R_PRIV; r++)
		for (uint64_t p = first; p <= last; p++) {
			struct th_pte *pte = &regions[r]->ptes[p];

			if (pte->kind == TH_BLOCK && pte->writable &&
			    !th_entry_dirty(&env.f, p))
				FAIL("mkclean of page %llu: region %s maps it "
				     "writable, entry not DIRTY",
				     (unsigned long long)p, region_name[r]);
		}
	pthread_mutex_unlock(&vm->lock);
	return th_vm_ops.mkclean(ctx, first, last);
}

static struct dax_vm_ops stress_vm_ops;
static struct dax_dev_ops stress_dev_ops;

/* ---- widening race windows ---- */

static __thread struct t_rng hook_rng;
static __thread bool hook_on;
static atomic_ulong hook_yields, hook_sleeps;

/*
 * At the engine's named points (most with an entry lock held) sometimes
 * yield or sleep a little, so that on a machine with few cores other
 * threads do run into the held lock, the zapped range, the cleaned entry.
 */
static void stress_hook(struct dax_fmap *f, enum dax_hook_point point,
			uint64_t index, void *arg)
{
	uint64_t k;

	(void)f;
	(void)point;
	(void)index;
	(void)arg;
	if (!hook_on)
		return;
	k = t_rand_below(&hook_rng, 1000);
	if (k < 60) {
		sched_yield();
		atomic_fetch_add_explicit(&hook_yields, 1,
					  memory_order_relaxed);
	} else if (k < 66) {
		usleep(1 + (useconds_t)t_rand_below(&hook_rng, 200));
		atomic_fetch_add_explicit(&hook_sleeps, 1,
					  memory_order_relaxed);
	}
}

/* ---- operations ---- */

static uint64_t pick_page(struct worker *w)
{
	if (t_rand_below(&w->rng, 100) < 45) {
		uint64_t p = atomic_load(&hot_base) + t_rand_below(&w->rng, 16);

		return p < 8 ? p : (p - 8) % MAX_PAGES;
	}
	return t_rand_below(&w->rng, MAX_PAGES);
}

/* A word of @page owned by worker @w. */
static uint64_t pick_owned_word(struct worker *w)
{
	uint64_t n = (WORDS - w->id + NR_THREADS - 1) / NR_THREADS;

	return (uint64_t)w->id + NR_THREADS * t_rand_below(&w->rng, n);
}

static void check_access_ret(int ret, const struct eof_snap *s, uint64_t page,
			     struct worker *w, const char *how)
{
	if (ret == DAX_FAULT_SIGBUS) {
		w->sigbus++;
		if (eof_stable_below(s, page + 1))
			FAIL("%s: SIGBUS at page %llu, inside EOF (%llu pages) "
			     "all along",
			     how, (unsigned long long)page,
			     (unsigned long long)s->pages);
	} else if (ret) {
		FAIL("%s: page %llu: fault error %#x", how,
		     (unsigned long long)page, ret);
	}
}

static void do_load(struct worker *w, int r, uint64_t page, uint64_t word)
{
	struct eof_snap s;
	uint64_t v = 0;
	int ret;

	eof_begin(&s);
	ret = th_access(&env, regions[r], page, (unsigned int)word, false, &v);
	check_access_ret(ret, &s, page, w, region_name[r]);
	if (!ret)
		judge(w->id, page, word, v, r != R_PRIV, region_name[r]);
}

static void do_store(struct worker *w, int r, uint64_t page, uint64_t word)
{
	struct eof_snap s;
	uint64_t v = th_stamp(page, next_stamp_n(w));
	uint32_t snap = destroy_snap(page);
	int ret;

	eof_begin(&s);
	ret = th_access(&env, regions[r], page, (unsigned int)word, true, &v);
	check_access_ret(ret, &s, page, w, region_name[r]);
	if (!ret && r != R_PRIV)
		remember(page, word, v, snap);
}

static void op_read(struct worker *w)
{
	do_load(w, (int)t_rand_below(&w->rng, NR_REGIONS), pick_page(w),
		t_rand_below(&w->rng, WORDS));
}

static void op_write(struct worker *w)
{
	do_store(w, (int)t_rand_below(&w->rng, R_PRIV), pick_page(w),
		 pick_owned_word(w));
}

static void op_cow(struct worker *w)
{
	do_store(w, R_PRIV, pick_page(w), t_rand_below(&w->rng, WORDS));
}

/* Touch a run of pages in one region: PMD faults meet PTE faults. */
static void op_sweep(struct worker *w)
{
	int r = (int)t_rand_below(&w->rng, NR_REGIONS);
	uint64_t page = pick_page(w), n = 1 + t_rand_below(&w->rng, 48);
	bool write = t_rand_below(&w->rng, 2);

	for (uint64_t p = page; p < page + n && p < MAX_PAGES; p++) {
		if (write && r != R_PRIV)
			do_store(w, r, p, pick_owned_word(w));
		else if (write)
			do_store(w, r, p, t_rand_below(&w->rng, WORDS));
		else
			do_load(w, r, p, t_rand_below(&w->rng, WORDS));
	}
}

static void op_writeback(struct worker *w)
{
	uint64_t first, last;
	int err;

	if (t_rand_below(&w->rng, 5) == 0) {
		first = 0;
		last = t_rand_below(&w->rng, 2) ? UINT64_MAX : MAX_PAGES - 1;
	} else {
		first = pick_page(w);
		last = first + t_rand_below(&w->rng, 600);
	}
	err = dax_writeback(&env.f, first, last);
	if (err)
		FAIL("dax_writeback(%llu, %llu) = %d",
		     (unsigned long long)first, (unsigned long long)last, err);
}

/* A random word-aligned byte range [*pos, *pos + *len) inside the file's
 * maximum size; sometimes a whole aligned 2 MiB. */
static void pick_range(struct worker *w, uint64_t *pos, uint64_t *len)
{
	uint64_t k = t_rand_below(&w->rng, 100), pages;

	if (k < 12) {
		*pos = t_rand_below(&w->rng, MAX_PAGES / DAX_PMD_NR) *
		       DAX_PMD_NR * DAX_PAGE_SIZE;
		*len = DAX_PMD_NR * DAX_PAGE_SIZE;
		return;
	}
	*pos = pick_page(w) * DAX_PAGE_SIZE + t_rand_below(&w->rng, WORDS) * 8;
	pages = k < 60 ? 2 : k < 90 ? 64 : MAX_RW_PAGES - 1;
	*len = 8 * (1 + t_rand_below(&w->rng, pages * WORDS));
	if (*pos + *len > MAX_PAGES * DAX_PAGE_SIZE)
		*len = MAX_PAGES * DAX_PAGE_SIZE - *pos;
}

static void op_dax_read(struct worker *w)
{
	uint64_t pos, len, want, i;
	struct eof_snap s;
	ssize_t got;

	pick_range(w, &pos, &len);
	eof_begin(&s);
	got = dax_read(&env.f, w->buf, len, pos);
	if (got < 0) {
		FAIL("dax_read(%llu, %llu) = %zd", (unsigned long long)pos,
		     (unsigned long long)len, got);
		return;
	}
	/* What a file of s.pages pages holds from pos on, at most len. */
	want = 0;
	if (pos < s.pages * DAX_PAGE_SIZE)
		want = s.pages * DAX_PAGE_SIZE - pos < len
			       ? s.pages * DAX_PAGE_SIZE - pos
			       : len;
	if ((uint64_t)got < want) {
		w->short_reads++;
		if (eof_stable_below(&s, s.pages))
			FAIL("dax_read(%llu, %llu) = %zd, size %llu pages all "
			     "along",
			     (unsigned long long)pos, (unsigned long long)len,
			     got, (unsigned long long)s.pages);
	}
	if (got % 8)
		FAIL("dax_read returned %zd, sizes are page-aligned", got);
	for (i = 0; i < (uint64_t)got / 8; i++) {
		uint64_t at = pos + i * 8;

		judge(w->id, at >> DAX_PAGE_SHIFT,
		      (at & (DAX_PAGE_SIZE - 1)) / 8, w->buf[i], true,
		      "dax_read");
	}
}

static void op_dax_write(struct worker *w)
{
	uint64_t pos, len, end, n = next_stamp_n(w), i;
	uint64_t first_page, last_page;
	uint32_t snap[MAX_RW_PAGES + 1];
	ssize_t got;

	pick_range(w, &pos, &len);
	/* End on a page boundary: the size stays page-aligned, so no
	 * partial-page zeroing ever touches stored words. */
	end = (pos + len + DAX_PAGE_SIZE - 1) & ~(DAX_PAGE_SIZE - 1);
	len = end - pos;
	first_page = pos >> DAX_PAGE_SHIFT;
	last_page = (end - 1) >> DAX_PAGE_SHIFT;
	for (i = 0; i < len / 8; i++) {
		uint64_t at = pos + i * 8;

		w->buf[i] = th_stamp(at >> DAX_PAGE_SHIFT, n);
	}
	for (uint64_t p = first_page; p <= last_page; p++)
		snap[p - first_page] = destroy_snap(p);
	got = dax_write(&env.f, w->buf, len, pos);
	if (got != (ssize_t)len) {
		FAIL("dax_write(%llu, %llu) = %zd", (unsigned long long)pos,
		     (unsigned long long)len, got);
		return;
	}
	for (i = 0; i < len / 8; i++) {
		uint64_t at = pos + i * 8, p = at >> DAX_PAGE_SHIFT;
		uint64_t word = (at & (DAX_PAGE_SIZE - 1)) / 8;

		if (owner_of(word) == w->id)
			remember(p, word, w->buf[i], snap[p - first_page]);
	}
}

static void destroy_begin(uint64_t first, uint64_t last)
{
	for (uint64_t p = first; p <= last && p < MAX_PAGES; p++)
		atomic_fetch_add(&destroy_start[p], 1);
}

static void destroy_done(uint64_t first, uint64_t last)
{
	for (uint64_t p = first; p <= last && p < MAX_PAGES; p++)
		atomic_fetch_add(&destroy_end[p], 1);
}

/*
 * dax_truncate to @pages, as a possible shrink: even a truncate "up" may
 * shrink the file if another thread grew it meanwhile.
 */
static void truncate_to(uint64_t pages)
{
	int err;

	atomic_fetch_add(&shrink_start, 1);
	destroy_begin(pages, MAX_PAGES - 1);
	err = dax_truncate(&env.f, pages * DAX_PAGE_SIZE);
	destroy_done(pages, MAX_PAGES - 1);
	atomic_fetch_add(&shrink_end, 1);
	if (err)
		FAIL("dax_truncate(%llu pages) = %d", (unsigned long long)pages,
		     err);
}

/* Truncate down to a random page-aligned size, mostly back up again. */
static void op_truncate(struct worker *w)
{
	uint64_t pages;

	if (t_rand_below(&w->rng, 2))
		pages = MAX_PAGES - t_rand_below(&w->rng, 700);
	else
		pages = t_rand_below(&w->rng, MAX_PAGES + 1);
	truncate_to(pages);
	if (t_rand_below(&w->rng, 4) == 0)
		return; /* stay short for a while; dax_write grows it too */
	if (t_rand_below(&w->rng, 3))
		truncate_to(MAX_PAGES);
	else
		truncate_to(pages +
			    t_rand_below(&w->rng, MAX_PAGES - pages + 1));
}

static void op_punch(struct worker *w)
{
	uint64_t pos, len;
	int err;

	pick_range(w, &pos, &len);
	if (len > 96 * DAX_PAGE_SIZE && len != DAX_PMD_NR * DAX_PAGE_SIZE)
		len = 8 * (1 + t_rand_below(&w->rng, 96 * WORDS));
	if (pos + len > MAX_PAGES * DAX_PAGE_SIZE)
		len = MAX_PAGES * DAX_PAGE_SIZE - pos;
	/* Partial pages at either end are zeroed: they count too. */
	destroy_begin(pos >> DAX_PAGE_SHIFT, (pos + len - 1) >> DAX_PAGE_SHIFT);
	err = dax_punch_hole(&env.f, pos, len);
	destroy_done(pos >> DAX_PAGE_SHIFT, (pos + len - 1) >> DAX_PAGE_SHIFT);
	if (err)
		FAIL("dax_punch_hole(%llu, %llu) = %d", (unsigned long long)pos,
		     (unsigned long long)len, err);
}

/* Per mille. */
static const struct {
	enum op op;
	unsigned int weight;
	void (*fn)(struct worker *w);
} mix[] = {
	{ OP_READ, 300, op_read },	   { OP_WRITE, 300, op_write },
	{ OP_COW, 80, op_cow },		   { OP_SWEEP, 40, op_sweep },
	{ OP_WRITEBACK, 80, op_writeback }, { OP_DAX_READ, 70, op_dax_read },
	{ OP_DAX_WRITE, 80, op_dax_write }, { OP_TRUNCATE, 15, op_truncate },
	{ OP_PUNCH, 35, op_punch },
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned long moves = 0;

	t_rng_init(&hook_rng, t_seed ^ ((uint64_t)(w->id + 1) << 48));
	hook_on = true;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int k = (unsigned int)t_rand_below(&w->rng, 1000);
		size_t i;

		for (i = 0; i < sizeof(mix) / sizeof(mix[0]) - 1; i++) {
			if (k < mix[i].weight)
				break;
			k -= mix[i].weight;
		}
		mix[i].fn(w);
		w->ops[mix[i].op]++;
		/* Thread 0 moves the hot window now and then: to a PMD
		 * boundary, or anywhere. */
		if (w->id == 0 && (++moves & 511) == 0) {
			uint64_t b = t_rand_below(&w->rng, MAX_PAGES);

			if (t_rand_below(&w->rng, 2))
				b &= ~(DAX_PMD_NR - 1);
			atomic_store(&hot_base, b);
		}
	}
	return NULL;
}

/* ---- after joining ---- */

static void final_check(void)
{
	uint64_t pages = size_pages_now(), owned = 0;
	uint64_t *file = calloc(MAX_PAGES, DAX_PAGE_SIZE);
	ssize_t got;

	REQUIRE(file);
	th_check_quiescent(&env);

	/* A full writeback leaves nothing dirty and nothing writable. */
	CHECK_EQ(dax_writeback(&env.f, 0, UINT64_MAX), 0);
	for (uint64_t p = 0; p < MAX_PAGES; p++) {
		if (th_entry_dirty(&env.f, p))
			FAIL("page %llu still DIRTY after full writeback",
			     (unsigned long long)p);
		for (int r = 0; r < R_PRIV; r++)
			if (regions[r]->ptes[p].kind == TH_BLOCK &&
			    regions[r]->ptes[p].writable)
				FAIL("region %s page %llu writable after "
				     "writeback",
				     region_name[r], (unsigned long long)p);
	}

	/*
	 * ... and everything in the file is durable. The harness zeroes new
	 * blocks without a flush where a real filesystem zeroes them durably
	 * (a PMD fault that falls back may leave such a block at the start of
	 * its range, written by nobody): an all-zero block counts as durable.
	 */
	for (uint64_t p = 0; p < pages; p++) {
		uint64_t b = th_fs_block_of(&env.fs, p);
		const uint64_t *data;
		bool zero = true;

		if (b == TH_HOLE)
			continue;
		data = (const uint64_t *)(env.fs.dev + b * DAX_PAGE_SIZE);
		for (uint64_t word = 0; zero && word < WORDS; word++)
			zero = data[word] == 0;
		if (!zero && memcmp(durable + b * DAX_PAGE_SIZE, data,
				    DAX_PAGE_SIZE) != 0)
			FAIL("page %llu (block %llu) differs from its durable "
			     "copy after full writeback: a store escaped dirty "
			     "tracking",
			     (unsigned long long)p, (unsigned long long)b);
	}

	/* The file through read(2), judged word by word. */
	got = dax_read(&env.f, file, MAX_PAGES * DAX_PAGE_SIZE, 0);
	CHECK_EQ(got, (ssize_t)(pages * DAX_PAGE_SIZE));
	for (uint64_t p = 0; p < pages; p++)
		for (uint64_t word = 0; word < WORDS; word++)
			judge(-1, p, word, file[wslot(p, word)], true,
			      "final dax_read");

	/* Every region, freshly faulted, shows the same bytes. */
	CHECK_EQ(th_vm_ops.zap(&env.vm, 0, MAX_PAGES - 1, DAX_ZAP_SHARED), 0);
	for (int r = 0; r < NR_REGIONS; r++) {
		struct th_region *reg = regions[r];

		for (uint64_t p = 0; p < pages; p++) {
			struct th_pte *pte = &reg->ptes[p];
			const uint64_t *src = NULL;
			uint64_t v;
			int ret;

			ret = th_access(&env, reg, p, 0, false, &v);
			if (ret) {
				FAIL("final: region %s page %llu: fault %#x",
				     region_name[r], (unsigned long long)p,
				     ret);
				continue;
			}
			if (pte->kind == TH_PRIVATE) {
				for (uint64_t word = 0; word < WORDS; word++)
					judge(-1, p, word,
					      pte->private_page[word], false,
					      "final private copy");
				continue;
			}
			if (pte->kind == TH_BLOCK)
				src = (const uint64_t *)(env.fs.dev +
							 pte->block *
								 DAX_PAGE_SIZE);
			else if (pte->kind != TH_ZERO)
				FAIL("final: region %s page %llu not mapped "
				     "after a fault",
				     region_name[r], (unsigned long long)p);
			if (src && memcmp(src, &file[wslot(p, 0)],
					  DAX_PAGE_SIZE) != 0)
				FAIL("final: region %s page %llu differs from "
				     "dax_read",
				     region_name[r], (unsigned long long)p);
			for (uint64_t word = 0; !src && word < WORDS; word++)
				if (file[wslot(p, word)]) {
					FAIL("final: region %s page %llu maps "
					     "the zero page over data",
					     region_name[r],
					     (unsigned long long)p);
					break;
				}
		}
		/* Beyond EOF: SIGBUS. */
		if (pages < MAX_PAGES) {
			uint64_t v;

			CHECK_EQ(th_access(&env, reg, pages, 0, false, &v),
				 DAX_FAULT_SIGBUS);
		}
	}

	/* Beyond EOF: no block, no entry; below: blocks accounted for. */
	for (uint64_t p = 0; p < MAX_PAGES; p++) {
		uint64_t b = th_fs_block_of(&env.fs, p);

		if (b != TH_HOLE)
			owned++;
		if (p < pages)
			continue;
		if (b != TH_HOLE)
			FAIL("page %llu beyond EOF owns block %llu",
			     (unsigned long long)p, (unsigned long long)b);
		if (th_entry_present(&env.f, p))
			FAIL("page %llu beyond EOF has an entry",
			     (unsigned long long)p);
	}
	CHECK_EQ(owned + env.fs.free_blocks, NR_BLOCKS);
	th_check_quiescent(&env);
	free(file);
}

/* ---- setting up the file ---- */

/* The file of MAX_PAGES pages, the four regions, the wrapped ops. */
static void env_setup(void)
{
	REQUIRE(th_env_init(&env, NR_BLOCKS, MAX_PAGES) == 0);
#ifdef UDAX_TSAN
	AnnotateBenignRaceSized(__FILE__, __LINE__, env.fs.dev,
				NR_BLOCKS * DAX_PAGE_SIZE,
				"device data: stores vs read/write/CoW copies");
#endif
	regions[R_HUGE] = th_region_add(&env, true, false, true);
	regions[R_4K] = th_region_add(&env, true, false, false);
	regions[R_SYNC] = th_region_add(&env, true, true, true);
	regions[R_PRIV] = th_region_add(&env, false, false, true);
	for (int r = 0; r < NR_REGIONS; r++)
		REQUIRE(regions[r]);
	atomic_store(&env.fs.size, MAX_PAGES * DAX_PAGE_SIZE);
	stress_vm_ops = th_vm_ops;
	stress_vm_ops.mkclean = stress_mkclean;
	env.f.vm = &stress_vm_ops;
	stress_dev_ops = th_dev_ops;
	stress_dev_ops.flush = stress_flush;
	env.f.dev = &stress_dev_ops;
	durable = malloc(NR_BLOCKS * DAX_PAGE_SIZE);
	REQUIRE(durable);
	memcpy(durable, env.fs.dev, NR_BLOCKS * DAX_PAGE_SIZE);
}

/* ---- regressions: what this stress found, replayed step by step ---- */

/* Stop one thread at one hook point until released. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t who;
	enum dax_hook_point point;
	int stage; /* -1 not armed, 0 armed, 1 stopped there, 2 released */
} gate = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .cond = PTHREAD_COND_INITIALIZER };

static void gate_hook(struct dax_fmap *f, enum dax_hook_point point,
		      uint64_t index, void *arg)
{
	(void)f;
	(void)index;
	(void)arg;
	pthread_mutex_lock(&gate.lock);
	if (gate.stage == 0 && point == gate.point &&
	    pthread_equal(pthread_self(), gate.who)) {
		gate.stage = 1;
		pthread_cond_broadcast(&gate.cond);
		while (gate.stage != 2)
			pthread_cond_wait(&gate.cond, &gate.lock);
	}
	pthread_mutex_unlock(&gate.lock);
}

static void gate_set(int stage)
{
	pthread_mutex_lock(&gate.lock);
	gate.stage = stage;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_wait(int stage)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.stage != stage)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void *gated_write(void *arg)
{
	uint64_t buf[8];

	(void)arg;
	gate_wait(0);
	for (int i = 0; i < 8; i++)
		buf[i] = th_stamp(3, 1);
	CHECK_EQ(dax_write(&env.f, buf, sizeof(buf), 3 * DAX_PAGE_SIZE + 256),
		 sizeof(buf));
	return NULL;
}

/*
 * Two write(2)s on one hole page, the second returns while the first,
 * which allocated the block, has not yet removed the zero page a read
 * fault mapped there: the second write's data must still be what the
 * mapping shows once it returns. (Found as a "lost" store reading 0; the
 * second write used to clear zero pages only from blocks it allocated.)
 */
static void regression_write_behind_zero_page(void)
{
	struct th_region *r = regions[R_4K];
	uint64_t v = 1, buf[8];
	pthread_t t;

	env.f.hook = gate_hook;
	CHECK_EQ(th_access(&env, r, 3, 0, false, &v), 0);
	CHECK_EQ(v, 0); /* the zero page */
	gate_set(-1);
	REQUIRE(pthread_create(&t, NULL, gated_write, NULL) == 0);
	pthread_mutex_lock(&gate.lock);
	gate.who = t;
	gate.point = DAX_HOOK_RW_MAPPED;
	pthread_mutex_unlock(&gate.lock);
	gate_set(0);
	gate_wait(1); /* it allocated page 3 and stopped */
	for (int i = 0; i < 8; i++)
		buf[i] = th_stamp(3, 2);
	CHECK_EQ(dax_write(&env.f, buf, sizeof(buf), 3 * DAX_PAGE_SIZE),
		 sizeof(buf));
	CHECK_EQ(th_access(&env, r, 3, 0, false, &v), 0);
	if (v != buf[0])
		FAIL("write(2) returned, mapping still reads %#llx at page 3",
		     (unsigned long long)v);
	gate_set(2);
	pthread_join(t, NULL);
	env.f.hook = NULL;
	th_check_quiescent(&env);
}

/*
 * Store through a 2 MiB mapping, punch one page of it, write everything
 * back: the stored page stays in the file and must be durable. (Found as
 * blocks differing from their durable image; punch used to delete the
 * dirty PMD entry whole without writing it back.)
 */
static void regression_punch_dirty_pmd(void)
{
	struct th_region *r = regions[R_HUGE];
	const uint64_t page = DAX_PMD_NR + 1;
	uint64_t v = th_stamp(page, 7), b;

	CHECK_EQ(th_access(&env, r, page, 0, true, &v), 0);
	if (!r->ptes[page].pmd) {
		FAIL("setup: no 2 MiB mapping at page %llu",
		     (unsigned long long)page);
		return;
	}
	CHECK_EQ(dax_punch_hole(&env.f, (DAX_PMD_NR + 100) * DAX_PAGE_SIZE,
				DAX_PAGE_SIZE),
		 0);
	CHECK_EQ(dax_writeback(&env.f, 0, UINT64_MAX), 0);
	b = th_fs_block_of(&env.fs, page);
	REQUIRE(b != TH_HOLE);
	if (((uint64_t *)(durable + b * DAX_PAGE_SIZE))[0] != v)
		FAIL("store at page %llu not durable after punching page %llu "
		     "of its 2 MiB entry and a full writeback",
		     (unsigned long long)page,
		     (unsigned long long)(DAX_PMD_NR + 100));
	th_check_quiescent(&env);
}

/* ---- main ---- */

static double run_seconds(void)
{
	const char *s = getenv("UDAX_STRESS_SECS");

	if (s && *s)
		return strtod(s, NULL);
	return t_long ? LONG_SECS : STRESS_SECS;
}

int main(int argc, char **argv)
{
	double secs, t0;
	unsigned long total[OP_NR] = { 0 }, sigbus = 0, short_reads = 0;
	struct dax_lock_stats *ls;

	t_init(argc, argv);
	secs = run_seconds();
	t_watchdog((unsigned int)secs + 120);

	/* The regressions leave data in pages 3 and 513, stamps with no
	 * worker's id: the stress runs on from there. */
	env_setup();
	regression_write_behind_zero_page();
	regression_punch_dirty_pmd();
	CHECK_EQ(th_violations(), 0);
	REQUIRE(atomic_load(&failures) == 0 && !t_failures);
	printf("regressions: write(2) behind a zero page, punch in a dirty "
	       "2 MiB entry: ok\n");

	env.f.hook = stress_hook;
	last_val = calloc(MAX_PAGES * WORDS, sizeof(*last_val));
	last_snap = calloc(MAX_PAGES * WORDS, sizeof(*last_snap));
	REQUIRE(last_val && last_snap);

	t0 = t_now();
	for (int i = 0; i < NR_THREADS; i++) {
		struct worker *w = &workers[i];

		w->id = i;
		t_rng_init(&w->rng, t_seed ^ ((uint64_t)(i + 1) << 40));
		w->buf = malloc(MAX_RW_PAGES * DAX_PAGE_SIZE);
		REQUIRE(w->buf);
		REQUIRE(pthread_create(&w->thread, NULL, worker_main, w) == 0);
	}
	while (t_now() - t0 < secs && atomic_load(&failures) == 0)
		usleep(10000);
	atomic_store(&stop, true);
	for (int i = 0; i < NR_THREADS; i++) {
		pthread_join(workers[i].thread, NULL);
		for (int o = 0; o < OP_NR; o++)
			total[o] += workers[i].ops[o];
		sigbus += workers[i].sigbus;
		short_reads += workers[i].short_reads;
		free(workers[i].buf);
	}

	final_check();
	CHECK_EQ(th_violations(), 0);
	CHECK_EQ(atomic_load(&failures), 0);

	printf("ops in %.1fs:", t_now() - t0);
	for (int o = 0; o < OP_NR; o++)
		printf(" %s %lu", op_name[o], total[o]);
	printf("; sigbus %lu, short reads %lu\n", sigbus, short_reads);
	ls = &env.f.m.stats;
	printf("faults: pte %lu pmd %lu read %lu write %lu cow %lu hole %lu "
	       "fallback %lu mkwrite %lu major %lu hole_fill %lu sigbus %lu "
	       "sync %lu writeback %lu zapped_zero %lu\n",
	       DAX_FAULT_STAT(&env.f, pte), DAX_FAULT_STAT(&env.f, pmd),
	       DAX_FAULT_STAT(&env.f, read), DAX_FAULT_STAT(&env.f, write),
	       DAX_FAULT_STAT(&env.f, cow), DAX_FAULT_STAT(&env.f, hole),
	       DAX_FAULT_STAT(&env.f, fallback),
	       DAX_FAULT_STAT(&env.f, mkwrite),
	       DAX_FAULT_STAT(&env.f, major), DAX_FAULT_STAT(&env.f, hole_fill),
	       DAX_FAULT_STAT(&env.f, sigbus), DAX_FAULT_STAT(&env.f, sync),
	       DAX_FAULT_STAT(&env.f, writeback),
	       DAX_FAULT_STAT(&env.f, zapped_zero));
	printf("locks: waits %lu wakeups %lu conflicts %lu downgrades %lu "
	       "inserts %lu; fs: allocs %lu frees %lu syncs %lu; hook yields "
	       "%lu sleeps %lu\n",
	       atomic_load(&ls->waits), atomic_load(&ls->wakeups),
	       atomic_load(&ls->conflicts), atomic_load(&ls->downgrades),
	       atomic_load(&ls->inserts), atomic_load(&env.fs.allocs),
	       atomic_load(&env.fs.frees), atomic_load(&env.fs.syncs),
	       atomic_load(&hook_yields), atomic_load(&hook_sleeps));

	th_env_destroy(&env);
	free(durable);
	free(last_val);
	free(last_snap);
	dax_rcu_barrier();
	CHECK_EQ(dax_idx_live_nodes(), 0);
	return t_done("fault_stress");
}
