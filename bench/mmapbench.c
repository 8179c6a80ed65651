/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mmapbench - what udax mappings cost, through real faults on real
 * mappings, against the kernel's own page faults on tmpfs mappings (and,
 * for 4 KiB faults, against the bare mechanism udax is built on), in one
 * run.
 *
 * How udax maps (src/vm/vm.h): a read fault maps the whole run of
 * contiguous blocks around the page inside its 2 MiB window with one
 * mmap, without MAP_POPULATE: one signal per span, and the other loads in
 * it are the kernel's own minor faults on the device file (with its
 * fault-around). A store maps its page writable (a sequential writer gets
 * the next pages of the run too). Every region counts an upper bound of
 * its kernel mappings against a budget, and past it cold 2 MiB windows are
 * reclaimed. So udax's cost is the kernel's faults plus one signal per
 * span (loads) or per store, plus reclaim when the budget is short.
 *
 * The pool is a file on /dev/shm (or /tmp when there is no /dev/shm), in
 * a private directory removed at exit (also on error and on SIGINT,
 * SIGTERM, SIGHUP, SIGPIPE, SIGABRT and a genuine SIGSEGV); the kernel's
 * files are tmpfs files beside it, written in full first. udax files are
 * fallocated in full, which zeroes their blocks through the device: on
 * both sides every page touched exists in the page cache, so each side
 * measures mapping pages, not allocating them (except the allocating
 * stores, below).
 *
 * "No 2 MiB pieces": a region placed at a virtual address 4 KiB past a
 * 2 MiB boundary while the file offset is 0 (udax_mmap's address hint),
 * so no 2 MiB mapping is possible (checked: faults_pmd and
 * faults_fallback stay 0); the kernel's mapping gets the same placement.
 * Sizes below are the full run's; -q uses smaller ones, and the 1 GiB and
 * 4 GiB files are halved while memory is short (the output says so).
 *
 * 1. Random 4 KiB first-touch loads over a fully allocated 1 GiB file, no
 *    2 MiB pieces, in the order of a seeded shuffle of its pages: the
 *    first @touches (30,000) of it, and all of it (every page once);
 *    each run maps afresh and touches @reps (4) or @reps_all (3) times,
 *    about 0.25 s, and counts the mean. Sides: udax; the kernel's
 *    MAP_SHARED mapping of 1 GiB of a tmpfs file (the start of test 5's);
 *    and the bare mechanism: a PROT_NONE reservation of the same size and
 *    placement and a SIGSEGV handler of this benchmark's own that maps
 *    what udax maps (the run of contiguous blocks around the page in its
 *    2 MiB window, looked up in a table made before the run) with the
 *    same mmap call, of the same pool file. No engine, no fs, no region
 *    table. Printed: ns per touch, signals per touch, the kernel's minor
 *    faults per touch under each side. Target udax/kernel <= 2.0.
 * 1b. Random 4 KiB first stores over a 32 MiB file (one signal per store):
 *    udax on allocated blocks, the bare mechanism (one page, writable),
 *    the kernel, and udax on a sparse file (punched whole before each
 *    run: the fs allocates, zeroes and persists a block and commits a
 *    journal transaction per fault). Target udax/bare <= 1.2.
 * 2. Sequential first-touch stores at 4 KiB stride over 256 MiB (the
 *    start of the 1 GiB file), no 2 MiB pieces, against the kernel's
 *    mapping. Target udax/kernel <= 1.5. For comparison, sequential loads
 *    and stores over the whole 1 GiB file through regions udax_mmap
 *    aligns (2 MiB mappings, one signal per 2 MiB) and the kernel's.
 * 3. Two threads against one: random first-touch loads of every page of
 *    one shared mapping of the 1 GiB file (no 2 MiB pieces), each thread
 *    touching its own random half (the two halves of the shuffle), wall
 *    time for the same total touches: throughput 2 threads / 1 thread,
 *    udax (target >= 1.3) and the kernel's beside it; a run is the mean
 *    of @reps_all fresh mappings.
 * 4. udax_msync(MS_SYNC) of dirty pages, stored through a region with no
 *    2 MiB pieces, the call alone timed: 64 contiguous pages (best of
 *    @wb_rounds rounds per run), 65,536 contiguous pages, 4,096 scattered
 *    pages (random pages of the 1 GiB mapping; msync of all of it). Time
 *    ratio 65,536 / 64: target <= 100. Printed: cost per call and per
 *    page, the pages written back, those still mapped writable at the
 *    msync and the map reclaims while dirtying (the default budget).
 * 5. A 4 GiB file, no 2 MiB pieces, under a mapping budget of 2000
 *    (udax_set_map_budget: reclaim active) and the default: 65,536 random
 *    first stores, and a sweep of loads of every page once in shuffled
 *    order, against the kernel's 4 GiB tmpfs mapping; map_reclaims,
 *    map_count at the end, signals and kernel minor faults per touch
 *    for udax. (A budget below the 2 MiB windows a sweep keeps mapped
 *    makes the clock reset windows that are touched again soon: the
 *    figure shows what that costs.)
 *
 * Every side runs once to warm up, then @runs times (5; 3 for test 5,
 * whose sweep at the small budget takes seconds a run; 2 with -q), the
 * sides of a test interleaved run by run in an order that reverses run
 * by run (so udax and kernel alternate); the best run counts, the median is
 * printed beside it, and beside each ratio of best runs the median of the
 * per-run ratios (steadier on a loaded machine). The benchmark reports
 * and never judges: exit 0 whatever the figures ("met" / "MISSED" beside
 * a target is information), 1 if something fails, 2 on a bad command
 * line. -q: quick run (a few seconds). -o FILE: the figures as one JSON
 * object. -s SEED: the shuffles' seed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <udax/udax.h>

#include "api/api.h"
#include "bench_util.h"
#include "index/rcu.h"

#define PG 4096ULL
#define HUGE_SZ (2ULL << 20)
#define HUGE_PAGES (HUGE_SZ / PG)
#define MAX_RUNS 16

struct config {
	uint64_t rnd_pages;  /* the 1 GiB file: tests 1, 2, 3, 4 */
	uint64_t touches;    /* random loads of the short test 1 */
	uint64_t st_pages;   /* the 32 MiB file of the 4 KiB stores */
	uint64_t sst_pages;  /* sequential stores, no 2 MiB pieces */
	uint64_t wb_large;   /* msync: contiguous dirty pages */
	uint64_t wb_small;   /* msync: the small contiguous case */
	uint64_t wb_scatter; /* msync: scattered dirty pages */
	unsigned int wb_rounds; /* small msyncs per run */
	uint64_t big_pages;  /* the 4 GiB file */
	uint64_t big_stores; /* random stores into it */
	uint64_t budget;     /* the small mapping budget of test 5 */
	unsigned int runs, big_runs; /* big_runs: test 5 */
	unsigned int reps, reps_all; /* mappings per run of test 1 */
	uint64_t seed;
	bool quick;
	const char *json;
};

/* Everything measured: one value per run of each. */
enum series {
	A_UDAX,	    /* 1: @touches random loads, ns per touch */
	A_KERN,
	A_BARE,
	A_UDAX_ALL, /* 1: every page, shuffled */
	A_KERN_ALL,
	A_BARE_ALL,
	B_UDAX,	    /* 1b: random stores, ns per page */
	B_BARE,
	B_KERN,
	B_ALLOC,
	C_UDAX,	    /* 2: sequential stores, no 2 MiB, ns per page */
	C_KERN,
	Q_UDAX_LD,  /* 2: sequential, 2 MiB mappings, ns per page */
	Q_KERN_LD,
	Q_UDAX_ST,
	Q_KERN_ST,
	T_UDAX1,    /* 3: wall ns for all the touches */
	T_UDAX2,
	T_KERN1,
	T_KERN2,
	M_SMALL,    /* 4: ns per msync call */
	M_LARGE,
	M_SCATTER,
	G_ST_BUDGET, /* 5: ns per touch */
	G_ST_DEFAULT,
	G_ST_KERN,
	G_SW_BUDGET,
	G_SW_DEFAULT,
	G_SW_KERN,
	NS,
};

/* What else a side reports (the last run's), as JSON keys. */
#define D_SIG 0x1   /* signals (udax faults_pte + faults_pmd) per touch */
#define D_FLT 0x2   /* kernel minor faults per touch */
#define D_MAP 0x4   /* map_reclaims, map_count */
#define D_MSYNC 0x8 /* pages written back, mapped writable at the msync */
#define D_MAJ 0x10  /* major faults (allocations) */
#define D_PMD 0x20  /* faults_pmd, faults_pte */

static const struct {
	const char *key;
	unsigned int diag;
} sinfo[NS] = {
    [A_UDAX] = {"rnd_udax_ns", D_SIG | D_FLT | D_PMD},
    [A_KERN] = {"rnd_kernel_ns", D_FLT},
    [A_BARE] = {"rnd_bare_ns", D_SIG | D_FLT},
    [A_UDAX_ALL] = {"rnd_all_udax_ns", D_SIG | D_FLT | D_PMD},
    [A_KERN_ALL] = {"rnd_all_kernel_ns", D_FLT},
    [A_BARE_ALL] = {"rnd_all_bare_ns", D_SIG | D_FLT},
    [B_UDAX] = {"store_udax_ns", D_SIG},
    [B_BARE] = {"store_bare_ns", D_SIG},
    [B_KERN] = {"store_kernel_ns", D_FLT},
    [B_ALLOC] = {"store_alloc_udax_ns", D_SIG | D_MAJ},
    [C_UDAX] = {"seq_store_nohuge_udax_ns", D_SIG | D_FLT | D_MAP},
    [C_KERN] = {"seq_store_nohuge_kernel_ns", D_FLT},
    [Q_UDAX_LD] = {"seq_load_udax_ns", D_SIG | D_PMD},
    [Q_KERN_LD] = {"seq_load_kernel_ns", D_FLT},
    [Q_UDAX_ST] = {"seq_store_udax_ns", D_SIG | D_PMD},
    [Q_KERN_ST] = {"seq_store_kernel_ns", D_FLT},
    [T_UDAX1] = {"threads1_udax_ns", D_SIG},
    [T_UDAX2] = {"threads2_udax_ns", D_SIG},
    [T_KERN1] = {"threads1_kernel_ns", 0},
    [T_KERN2] = {"threads2_kernel_ns", 0},
    [M_SMALL] = {"msync_small_ns", D_MSYNC | D_MAP},
    [M_LARGE] = {"msync_large_ns", D_MSYNC | D_MAP},
    [M_SCATTER] = {"msync_scatter_ns", D_MSYNC | D_MAP},
    [G_ST_BUDGET] = {"big_store_budget_udax_ns", D_SIG | D_FLT | D_MAP},
    [G_ST_DEFAULT] = {"big_store_default_udax_ns", D_SIG | D_FLT | D_MAP},
    [G_ST_KERN] = {"big_store_kernel_ns", D_FLT},
    [G_SW_BUDGET] = {"big_sweep_budget_udax_ns", D_SIG | D_FLT | D_MAP},
    [G_SW_DEFAULT] = {"big_sweep_default_udax_ns", D_SIG | D_FLT | D_MAP},
    [G_SW_KERN] = {"big_sweep_kernel_ns", D_FLT},
};

/* Ratios of two series (run next to each other). */
enum ratio {
	X_RND,
	X_RND_ALL,
	X_RND_BARE,
	X_RND_ALL_BARE,
	X_ST_BARE,
	X_ST_KERN,
	X_ALLOC_BARE,
	X_SEQ_NOHUGE,
	X_SEQ_LD,
	X_SEQ_ST,
	X_THR_UDAX, /* time of 1 thread / of 2: throughput 2 / 1 */
	X_THR_KERN,
	X_MSYNC,
	X_MSYNC_SCATTER,
	X_BIG_ST_BUDGET,
	X_BIG_ST_DEFAULT,
	X_BIG_SW_BUDGET,
	X_BIG_SW_DEFAULT,
	NX,
};

static const struct {
	const char *key;
	enum series a, b;
} xinfo[NX] = {
    [X_RND] = {"ratio_rnd_vs_kernel", A_UDAX, A_KERN},
    [X_RND_ALL] = {"ratio_rnd_all_vs_kernel", A_UDAX_ALL, A_KERN_ALL},
    [X_RND_BARE] = {"ratio_rnd_vs_bare", A_UDAX, A_BARE},
    [X_RND_ALL_BARE] = {"ratio_rnd_all_vs_bare", A_UDAX_ALL, A_BARE_ALL},
    [X_ST_BARE] = {"ratio_store_vs_bare", B_UDAX, B_BARE},
    [X_ST_KERN] = {"ratio_store_vs_kernel", B_UDAX, B_KERN},
    [X_ALLOC_BARE] = {"ratio_store_alloc_vs_bare", B_ALLOC, B_BARE},
    [X_SEQ_NOHUGE] = {"ratio_seq_store_nohuge_vs_kernel", C_UDAX, C_KERN},
    [X_SEQ_LD] = {"ratio_seq_load_vs_kernel", Q_UDAX_LD, Q_KERN_LD},
    [X_SEQ_ST] = {"ratio_seq_store_vs_kernel", Q_UDAX_ST, Q_KERN_ST},
    [X_THR_UDAX] = {"ratio_threads_udax", T_UDAX1, T_UDAX2},
    [X_THR_KERN] = {"ratio_threads_kernel", T_KERN1, T_KERN2},
    [X_MSYNC] = {"ratio_msync_large_vs_small", M_LARGE, M_SMALL},
    [X_MSYNC_SCATTER] = {"ratio_msync_scatter_vs_small", M_SCATTER,
			 M_SMALL},
    [X_BIG_ST_BUDGET] = {"ratio_big_store_budget_vs_kernel", G_ST_BUDGET,
			 G_ST_KERN},
    [X_BIG_ST_DEFAULT] = {"ratio_big_store_default_vs_kernel",
			  G_ST_DEFAULT, G_ST_KERN},
    [X_BIG_SW_BUDGET] = {"ratio_big_sweep_budget_vs_kernel", G_SW_BUDGET,
			 G_SW_KERN},
    [X_BIG_SW_DEFAULT] = {"ratio_big_sweep_default_vs_kernel",
			  G_SW_DEFAULT, G_SW_KERN},
};

struct diag {
	double signals, minflt; /* per touch */
	uint64_t reclaims, maps, pmd, pte, major;
	uint64_t written, mapped_rw;
};

struct results {
	double v[NS][MAX_RUNS];
	unsigned int n[NS]; /* runs counted */
	struct diag d[NS];
	uint64_t budget_default;
	double test_s[6]; /* wall seconds of each test, all runs */
	double setup_s;
	double load[2]; /* 1-minute load average at start and end */
};

/* ---- files, cleanup ---- */

static char dir[256], pool_path[300], krnd_path[300], kst_path[300],
	kbig_path[300];

static void cleanup(void)
{
	/* Async-signal-safe: unlink and rmdir only. */
	if (pool_path[0])
		unlink(pool_path);
	if (krnd_path[0])
		unlink(krnd_path);
	if (kst_path[0])
		unlink(kst_path);
	if (kbig_path[0])
		unlink(kbig_path);
	if (dir[0])
		rmdir(dir);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "mmapbench: %s: %s\n", what, strerror(err));
	exit(1); /* atexit: cleanup() */
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A tmpfs file of @bytes bytes, every page written (so it exists). */
static int kernel_file(const char *path, uint64_t bytes)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		die(path, errno);
	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t off = 0; off < bytes; off += sizeof(buf)) {
		size_t n = bytes - off < sizeof(buf) ? bytes - off : sizeof(buf);

		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			die(path, errno ? errno : EIO);
	}
	return fd;
}

/*
 * An address at which @len bytes are free and which is 4 KiB past a
 * 2 MiB boundary: a region there can hold no 2 MiB mapping of a file
 * mapped from offset 0.
 */
static void *misaligned_hint(uint64_t len)
{
	char *p = mmap(NULL, len + 2 * HUGE_SZ, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		die("mmap", errno);
	a = (((uintptr_t)p + HUGE_SZ - 1) & ~(HUGE_SZ - 1)) + PG;
	munmap(p, len + 2 * HUGE_SZ);
	return (void *)a;
}

/* ---- the bare mechanism ---- */

/* What the bare handler maps for one file. */
struct bare_file {
	uint64_t *blocks;  /* device block of each page */
	uint32_t *lo, *hi; /* read span of each page (NULL: the page) */
};

static struct {
	char *base;
	uint64_t len;
	int fd;
	const struct bare_file *bf;
	volatile uint64_t faults, errors;
} bare;

static void bare_handler(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	char *a = si->si_addr;
	int saved = errno;
	uint64_t i, lo, hi;
	bool write;

	(void)sig;
	if (a < bare.base || a >= bare.base + bare.len) {
		signal(SIGSEGV, SIG_DFL); /* a real crash: fault again */
		return;
	}
	i = (uint64_t)(a - bare.base) / PG;
	write = uc->uc_mcontext.gregs[REG_ERR] & 0x2;
	lo = hi = i;
	if (!write && bare.bf->lo) {
		/* Spans partition the file: none covers a mapped page. */
		lo = bare.bf->lo[i];
		hi = bare.bf->hi[i];
	}
	if (mmap(bare.base + lo * PG, (hi - lo + 1) * PG,
		 PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED | MAP_FIXED,
		 bare.fd, (off_t)(bare.bf->blocks[lo] * PG)) == MAP_FAILED) {
		bare.errors++;
		signal(SIGSEGV, SIG_DFL);
	}
	bare.faults++;
	errno = saved;
}

/* ---- one run of each side ---- */

static atomic_ulong sink;

/* Touch page order[k] of @base for every k: one load or one store. */
static double touch(char *base, const uint64_t *order, uint64_t n, bool write)
{
	volatile char *b = base;
	uint64_t acc = 0;
	double t0 = now_ns();

	if (write)
		for (uint64_t k = 0; k < n; k++)
			b[order[k] * PG] = 1;
	else
		for (uint64_t k = 0; k < n; k++)
			acc += (uint64_t)b[order[k] * PG];
	t0 = now_ns() - t0;
	atomic_fetch_add_explicit(&sink, acc, memory_order_relaxed);
	return t0;
}

struct env {
	struct config cfg;
	struct results res;
	struct udax_pool *pool;
	int pool_fd;	  /* the pool file, for the bare mechanism */
	int krnd_fd, kst_fd, kbig_fd;
	uint64_t *order;  /* shuffled pages of "rnd" */
	uint64_t *sorder; /* shuffled pages of "st" */
	uint64_t *border; /* shuffled pages of "big" */
	uint64_t *seq;	  /* 0, 1, 2, ... */
	struct bare_file brnd, bst;
};

static struct udax_file *open_file(struct env *e, const char *name)
{
	struct udax_file *f;
	int err = udax_open(e->pool, name, O_RDWR, 0, &f);

	if (err)
		die(name, -err);
	return f;
}

/* A udax mapping for one run; a fresh open, so the entry index is empty. */
struct umap {
	struct udax_file *f;
	char *p;
	uint64_t len;
	bool nohuge;
	struct udax_stats st0;
};

static void umap_open(struct env *e, struct umap *m, const char *name,
		      uint64_t len, bool nohuge, bool punch)
{
	void *hint = nohuge ? misaligned_hint(len) : NULL, *p;
	int err;

	m->f = open_file(e, name);
	m->len = len;
	m->nohuge = nohuge;
	if (punch) {
		err = udax_fallocate(m->f, UDAX_FALLOC_PUNCH_HOLE |
						   UDAX_FALLOC_KEEP_SIZE,
				     0, len);
		if (err)
			die("punch", -err);
	}
	err = udax_mmap(m->f, hint, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
			&p);
	if (err)
		die("udax_mmap", -err);
	if (hint && p != hint)
		die("udax_mmap did not take the hint", EINVAL);
	m->p = p;
	udax_file_stats(m->f, &m->st0, sizeof(m->st0));
}

/*
 * The counters of @m since umap_open into @d (signals per @n touches),
 * checked: no SIGBUS, and no 2 MiB fault where none is possible.
 */
static void umap_diag(struct umap *m, uint64_t n, const char *what,
		      struct diag *d)
{
	struct udax_stats st;

	udax_file_stats(m->f, &st, sizeof(st));
	d->pte = st.faults_pte - m->st0.faults_pte;
	d->pmd = st.faults_pmd - m->st0.faults_pmd;
	d->major = st.faults_major - m->st0.faults_major;
	d->reclaims = st.map_reclaims - m->st0.map_reclaims;
	d->maps = st.map_count;
	d->signals = (double)(d->pte + d->pmd) / (double)n;
	if (st.sigbus != m->st0.sigbus ||
	    (m->nohuge && (d->pmd || st.faults_fallback !=
					     m->st0.faults_fallback))) {
		fprintf(stderr, "mmapbench: %s: pte %llu pmd %llu fallback "
				"%llu sigbus %llu for %llu touches\n", what,
			(unsigned long long)d->pte, (unsigned long long)d->pmd,
			(unsigned long long)(st.faults_fallback -
					     m->st0.faults_fallback),
			(unsigned long long)(st.sigbus - m->st0.sigbus),
			(unsigned long long)n);
		exit(1);
	}
}

static void umap_close(struct umap *m)
{
	int err;

	if ((err = udax_munmap(m->p, m->len)) || (err = udax_close(m->f)))
		die("udax_munmap/close", -err);
}

/* A kernel MAP_SHARED mapping of @fd, placed like udax's. */
static char *kmap(int fd, uint64_t len, bool nohuge)
{
	void *p;

	if (nohuge)
		p = mmap(misaligned_hint(len), len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	else
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	return p;
}

/* udax: @n touches of file @name through a fresh mapping; ns per touch. */
static double udax_side(struct env *e, enum series s, const char *name,
			uint64_t len, bool nohuge, const uint64_t *order,
			uint64_t n, bool write)
{
	struct umap m;
	long f0;
	double ns;

	umap_open(e, &m, name, len, nohuge, s == B_ALLOC);
	f0 = minflt();
	ns = touch(m.p, order, n, write);
	e->res.d[s].minflt = (double)(minflt() - f0) / (double)n;
	umap_diag(&m, n, sinfo[s].key, &e->res.d[s]);
	umap_close(&m);
	return ns / (double)n;
}

static double kernel_side(struct env *e, enum series s, int fd, uint64_t len,
			  bool nohuge, const uint64_t *order, uint64_t n,
			  bool write)
{
	char *p = kmap(fd, len, nohuge);
	long f0 = minflt();
	double ns = touch(p, order, n, write);

	e->res.d[s].minflt = (double)(minflt() - f0) / (double)n;
	munmap(p, len);
	return ns / (double)n;
}

static double bare_side(struct env *e, enum series s,
			const struct bare_file *bf, uint64_t len,
			const uint64_t *order, uint64_t n, bool write)
{
	struct sigaction sa, saved;
	char *p = misaligned_hint(len);
	long f0;
	double ns;

	/* The reservation udax makes, at the same kind of address. */
	p = mmap(p, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_FIXED_NOREPLACE,
		 -1, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	bare.base = p;
	bare.len = len;
	bare.fd = e->pool_fd;
	bare.bf = bf;
	bare.faults = bare.errors = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = bare_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &saved))
		die("sigaction", errno);
	/* The handler reads and writes @bare: no caching across the run. */
	atomic_signal_fence(memory_order_seq_cst);
	f0 = minflt();
	ns = touch(p, order, n, write);
	e->res.d[s].minflt = (double)(minflt() - f0) / (double)n;
	atomic_signal_fence(memory_order_seq_cst);
	if (sigaction(SIGSEGV, &saved, NULL))
		die("sigaction", errno);
	if (bare.errors || bare.faults > n || (write && bare.faults != n)) {
		fprintf(stderr, "mmapbench: bare mechanism: %llu faults, %llu "
				"errors for %llu touches\n",
			(unsigned long long)bare.faults,
			(unsigned long long)bare.errors, (unsigned long long)n);
		exit(1);
	}
	e->res.d[s].signals = (double)bare.faults / (double)n;
	munmap(p, len);
	return ns / (double)n;
}

/* ---- threads ---- */

struct worker {
	pthread_t t;
	char *base;
	const uint64_t *order;
	uint64_t n;
};

static atomic_int w_ready, w_go;

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	atomic_fetch_add(&w_ready, 1);
	while (!atomic_load_explicit(&w_go, memory_order_acquire))
		sched_yield();
	touch(w->base, w->order, w->n, false);
	return NULL;
}

/* @nt threads, each loading its share of order[0..n); wall ns. */
static double run_threads(char *base, const uint64_t *order, uint64_t n,
			  int nt)
{
	struct worker w[2];
	double t0;
	int err;

	atomic_store(&w_ready, 0);
	atomic_store(&w_go, 0);
	for (int k = 0; k < nt; k++) {
		w[k].base = base;
		w[k].order = order + (uint64_t)k * n / nt;
		w[k].n = (uint64_t)(k + 1) * n / nt - (uint64_t)k * n / nt;
		err = pthread_create(&w[k].t, NULL, worker_main, &w[k]);
		if (err)
			die("pthread_create", err);
	}
	while (atomic_load(&w_ready) < nt)
		sched_yield();
	t0 = now_ns();
	atomic_store_explicit(&w_go, 1, memory_order_release);
	for (int k = 0; k < nt; k++)
		pthread_join(w[k].t, NULL);
	return now_ns() - t0;
}

static double threads_side(struct env *e, enum series s)
{
	uint64_t n = e->cfg.rnd_pages, len = n * PG;
	int nt = s == T_UDAX2 || s == T_KERN2 ? 2 : 1;
	double ns;

	if (s == T_UDAX1 || s == T_UDAX2) {
		struct umap m;

		umap_open(e, &m, "rnd", len, true, false);
		ns = run_threads(m.p, e->order, n, nt);
		umap_diag(&m, n, sinfo[s].key, &e->res.d[s]);
		umap_close(&m);
	} else {
		char *p = kmap(e->krnd_fd, len, true);

		ns = run_threads(p, e->order, n, nt);
		munmap(p, len);
	}
	return ns;
}

/* ---- msync ---- */

/* Pages [0, n) of the udax mapping at @p that are mapped writable. */
static uint64_t pages_writable(const char *p, uint64_t n)
{
	struct dax_region *r;
	uint64_t c = 0;

	dax_rcu_read_lock();
	r = dax_vm_find(p);
	for (uint64_t i = 0; r && i < n && i < r->nr_pages; i++)
		c += (atomic_load_explicit(&r->pte[i], memory_order_relaxed) &
		      DAX_PTE_STATE_MASK) == DAX_PTE_RW;
	dax_rcu_read_unlock();
	return c;
}

/* One timed udax_msync of [p, p + pages), with its diagnostics. */
/*
 * The floor under any msync that write-protects: the kernel's own
 * mprotect(PROT_READ) of @pages dirty pages of a MAP_SHARED tmpfs
 * mapping (udax's writeback makes that call per run of dirty pages, the
 * kernel's own DAX msync changes the same page table entries), on a
 * memfd. Best of 5, in ns; 0 if it could not be measured.
 */
static double mprotect_floor(uint64_t pages)
{
	int fd = memfd_create("mmapbench-floor", MFD_CLOEXEC);
	double best = 0;
	char *m;

	if (fd < 0)
		return 0;
	if (ftruncate(fd, (off_t)(pages * PG))) {
		close(fd);
		return 0;
	}
	m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return 0;
	for (int run = 0; run < 5; run++) {
		uint64_t t0, t1;

		if (mprotect(m, pages * PG, PROT_READ | PROT_WRITE))
			break;
		for (uint64_t p = 0; p < pages; p++)
			m[p * PG] = (char)run;
		t0 = now_ns();
		if (mprotect(m, pages * PG, PROT_READ))
			break;
		t1 = now_ns();
		if (!best || (double)(t1 - t0) < best)
			best = (double)(t1 - t0);
	}
	munmap(m, pages * PG);
	return best;
}

static double msync_once(struct umap *m, uint64_t pages, struct diag *d)
{
	struct udax_stats a, b;
	double t0;
	int err;

	d->mapped_rw = pages_writable(m->p, m->len / PG);
	udax_file_stats(m->f, &a, sizeof(a));
	d->reclaims = a.map_reclaims - m->st0.map_reclaims;
	d->maps = a.map_count;
	t0 = now_ns();
	err = udax_msync(m->p, pages * PG, MS_SYNC);
	t0 = now_ns() - t0;
	if (err)
		die("udax_msync", -err);
	udax_file_stats(m->f, &b, sizeof(b));
	d->written = b.writeback_pages - a.writeback_pages;
	return t0;
}

static double msync_side(struct env *e, enum series s)
{
	uint64_t len = e->cfg.rnd_pages * PG;
	struct diag *d = &e->res.d[s];
	struct umap m;
	double ns = INFINITY;

	umap_open(e, &m, "rnd", len, true, false);
	switch (s) {
	case M_SMALL:
		/* Round 1 stores fault afresh, later ones hit clean pages. */
		for (unsigned int k = 0; k < e->cfg.wb_rounds; k++) {
			double t;

			touch(m.p, e->seq, e->cfg.wb_small, true);
			t = msync_once(&m, e->cfg.wb_small, d);
			ns = t < ns ? t : ns;
		}
		break;
	case M_LARGE:
		touch(m.p, e->seq, e->cfg.wb_large, true);
		ns = msync_once(&m, e->cfg.wb_large, d);
		break;
	default:
		touch(m.p, e->order, e->cfg.wb_scatter, true);
		ns = msync_once(&m, e->cfg.rnd_pages, d);
	}
	umap_close(&m);
	return ns;
}

/* ---- the 4 GiB file ---- */

static double big_side(struct env *e, enum series s)
{
	bool write = s == G_ST_BUDGET || s == G_ST_DEFAULT || s == G_ST_KERN;
	uint64_t n = write ? e->cfg.big_stores : e->cfg.big_pages;
	uint64_t len = e->cfg.big_pages * PG;
	struct umap m;
	long f0;
	double ns;
	int err;

	if (s == G_ST_KERN || s == G_SW_KERN)
		return kernel_side(e, s, e->kbig_fd, len, true, e->border, n,
				   write);
	if (s == G_ST_BUDGET || s == G_SW_BUDGET) {
		err = udax_set_map_budget(e->cfg.budget);
		if (err)
			die("udax_set_map_budget", -err);
	}
	umap_open(e, &m, "big", len, true, false);
	f0 = minflt();
	ns = touch(m.p, e->border, n, write);
	e->res.d[s].minflt = (double)(minflt() - f0) / (double)n;
	umap_diag(&m, n, sinfo[s].key, &e->res.d[s]);
	umap_close(&m);
	udax_set_map_budget(0);
	return ns / (double)n;
}

static double run_one(struct env *e, enum series s)
{
	const struct config *c = &e->cfg;
	uint64_t rlen = c->rnd_pages * PG, slen = c->st_pages * PG;

	switch (s) {
	case A_UDAX:
	case A_UDAX_ALL:
		return udax_side(e, s, "rnd", rlen, true, e->order,
				 s == A_UDAX ? c->touches : c->rnd_pages,
				 false);
	case A_KERN:
	case A_KERN_ALL:
		return kernel_side(e, s, e->krnd_fd, rlen, true, e->order,
				   s == A_KERN ? c->touches : c->rnd_pages,
				   false);
	case A_BARE:
	case A_BARE_ALL:
		return bare_side(e, s, &e->brnd, rlen, e->order,
				 s == A_BARE ? c->touches : c->rnd_pages,
				 false);
	case B_UDAX:
		return udax_side(e, s, "st", slen, true, e->sorder,
				 c->st_pages, true);
	case B_ALLOC:
		return udax_side(e, s, "alloc", slen, true, e->sorder,
				 c->st_pages, true);
	case B_BARE:
		return bare_side(e, s, &e->bst, slen, e->sorder, c->st_pages,
				 true);
	case B_KERN:
		return kernel_side(e, s, e->kst_fd, slen, true, e->sorder,
				   c->st_pages, true);
	case C_UDAX:
		return udax_side(e, s, "rnd", c->sst_pages * PG, true, e->seq,
				 c->sst_pages, true);
	case C_KERN:
		return kernel_side(e, s, e->krnd_fd, c->sst_pages * PG, true,
				   e->seq, c->sst_pages, true);
	case Q_UDAX_LD:
	case Q_UDAX_ST:
		return udax_side(e, s, "rnd", rlen, false, e->seq,
				 c->rnd_pages, s == Q_UDAX_ST);
	case Q_KERN_LD:
	case Q_KERN_ST:
		return kernel_side(e, s, e->krnd_fd, rlen, false, e->seq,
				   c->rnd_pages, s == Q_KERN_ST);
	case T_UDAX1:
	case T_UDAX2:
	case T_KERN1:
	case T_KERN2:
		return threads_side(e, s);
	case M_SMALL:
	case M_LARGE:
	case M_SCATTER:
		return msync_side(e, s);
	default:
		return big_side(e, s);
	}
}

/*
 * One run of side @s. The runs of tests 1 and 3 are short (tens of ms):
 * each maps afresh and touches @reps (@reps_all) times, the mean counts.
 */
static double run_side(struct env *e, enum series s)
{
	unsigned int reps = 1;
	double sum = 0;

	if (s == A_UDAX || s == A_KERN || s == A_BARE)
		reps = e->cfg.reps;
	else if (s == A_UDAX_ALL || s == A_KERN_ALL || s == A_BARE_ALL ||
		 (s >= T_UDAX1 && s <= T_KERN2))
		reps = e->cfg.reps_all;
	for (unsigned int k = 0; k < reps; k++)
		sum += run_one(e, s);
	return sum / reps;
}

/*
 * Run the @n sides of one test: a warm-up, then @runs runs, the sides in
 * an order that reverses run by run, so that drift in the machine's load
 * hits them alike.
 */
static void run_test(struct env *e, int test, const enum series *sides,
		     int n, unsigned int runs)
{
	double t0 = now_ns();

	for (int k = 0; k < n; k++)
		e->res.n[sides[k]] = runs;
	for (unsigned int run = 0; run <= runs; run++) {
		/* Run 0 warms up and is not counted. */
		unsigned int i = run ? run - 1 : 0;

		for (int k = 0; k < n; k++) {
			enum series s = sides[run & 1 ? n - 1 - k : k];

			e->res.v[s][i] = run_side(e, s);
		}
	}
	e->res.test_s[test] = (now_ns() - t0) / 1e9;
}

/* ---- setup ---- */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t *shuffled(uint64_t n, uint64_t *seed)
{
	uint64_t *v = malloc(n * sizeof(*v));

	if (!v)
		die("malloc", ENOMEM);
	for (uint64_t i = 0; i < n; i++)
		v[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = xorshift(seed) % (i + 1), t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
	return v;
}

static void make_file(struct env *e, const char *name, uint64_t bytes,
		      bool allocate)
{
	struct udax_file *f;
	int err = udax_open(e->pool, name, O_RDWR | O_CREAT | O_EXCL, 0600,
			    &f);

	if (err)
		die(name, -err);
	err = allocate ? udax_fallocate(f, 0, 0, bytes)
		       : udax_ftruncate(f, bytes);
	if (err)
		die(name, -err);
	udax_close(f);
}

/*
 * The device block of every page of @name, and with @spans the read span
 * of each: the run of contiguous blocks around it inside its 2 MiB window
 * of the file (what a udax read fault maps).
 */
static void block_table(struct env *e, const char *name, uint64_t n,
			bool spans, struct bare_file *bf)
{
	struct udax_file *f = open_file(e, name);

	bf->blocks = malloc(n * sizeof(*bf->blocks));
	if (!bf->blocks)
		die("malloc", ENOMEM);
	for (uint64_t i = 0; i < n;) {
		struct dax_iomap map;
		int err = dax_inode_iomap(f->fst->ip, i, n - i, 0, &map);

		if (err)
			die("iomap", -err);
		if (map.type != DAX_IOMAP_MAPPED)
			die("a fallocated file has a hole", EIO);
		for (uint64_t k = i - map.index; k < map.nr && i < n; k++, i++)
			bf->blocks[i] = map.block + k;
	}
	udax_close(f);
	bf->lo = bf->hi = NULL;
	if (!spans)
		return;
	bf->lo = malloc(n * sizeof(*bf->lo));
	bf->hi = malloc(n * sizeof(*bf->hi));
	if (!bf->lo || !bf->hi)
		die("malloc", ENOMEM);
	for (uint64_t i = 0; i < n; i++)
		bf->lo[i] = i % HUGE_PAGES &&
				    bf->blocks[i - 1] + 1 == bf->blocks[i]
			    ? bf->lo[i - 1]
			    : (uint32_t)i;
	for (uint64_t i = n; i-- > 0;)
		bf->hi[i] = (i + 1) % HUGE_PAGES && i + 1 < n &&
				    bf->blocks[i] + 1 == bf->blocks[i + 1]
			    ? bf->hi[i + 1]
			    : (uint32_t)i;
}

/* The 1-minute load average: other work skews the figures. */
static double loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb ? kb << 10 : UINT64_MAX;
}

static void setup(struct env *e)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	const struct config *c = &e->cfg;
	uint64_t s = c->seed | 1, bytes;
	struct udax_stats st;
	int err;

	snprintf(dir, sizeof(dir), "%s/mmapbench-XXXXXX", base);
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		die("mkdtemp", errno);
	}
	snprintf(pool_path, sizeof(pool_path), "%s/pool", dir);
	snprintf(krnd_path, sizeof(krnd_path), "%s/kernel-rnd", dir);
	snprintf(kst_path, sizeof(kst_path), "%s/kernel-st", dir);
	snprintf(kbig_path, sizeof(kbig_path), "%s/kernel-big", dir);

	bytes = (c->rnd_pages + 2 * c->st_pages + c->big_pages) * PG;
	err = udax_pool_create(pool_path, bytes + bytes / 64 + (64ULL << 20),
			       &e->pool);
	if (err)
		die("udax_pool_create", -err);
	e->pool_fd = open(pool_path, O_RDWR | O_CLOEXEC);
	if (e->pool_fd < 0)
		die(pool_path, errno);
	make_file(e, "rnd", c->rnd_pages * PG, true);
	make_file(e, "st", c->st_pages * PG, true);
	make_file(e, "alloc", c->st_pages * PG, false);
	make_file(e, "big", c->big_pages * PG, true);
	block_table(e, "rnd", c->rnd_pages, true, &e->brnd);
	block_table(e, "st", c->st_pages, false, &e->bst);
	e->kst_fd = kernel_file(kst_path, c->st_pages * PG);
	e->kbig_fd = kernel_file(kbig_path, c->big_pages * PG);
	/* The kernel's 1 GiB mappings map the start of its 4 GiB file. */
	if (c->big_pages >= c->rnd_pages)
		e->krnd_fd = dup(e->kbig_fd);
	else
		e->krnd_fd = kernel_file(krnd_path, c->rnd_pages * PG);
	if (e->krnd_fd < 0)
		die("dup", errno);

	e->order = shuffled(c->rnd_pages, &s);
	e->sorder = shuffled(c->st_pages, &s);
	e->border = shuffled(c->big_pages, &s);
	e->seq = malloc(c->rnd_pages * sizeof(*e->seq));
	if (!e->seq)
		die("malloc", ENOMEM);
	for (uint64_t i = 0; i < c->rnd_pages; i++)
		e->seq[i] = i;
	udax_pool_stats(e->pool, &st, sizeof(st));
	e->res.budget_default = st.map_budget;
}

static void teardown(struct env *e)
{
	int err = udax_pool_close(e->pool);

	if (err)
		die("udax_pool_close", -err);
	close(e->pool_fd);
	close(e->krnd_fd);
	close(e->kst_fd);
	close(e->kbig_fd);
	free(e->order);
	free(e->sorder);
	free(e->border);
	free(e->seq);
	free(e->brnd.blocks);
	free(e->brnd.lo);
	free(e->brnd.hi);
	free(e->bst.blocks);
	cleanup();
}

/* ---- statistics, output ---- */

/* Median over runs of a[i] / b[i] (the two ran next to each other). */
static double paired(const double *a, const double *b, unsigned int n)
{
	double t[MAX_RUNS];

	for (unsigned int i = 0; i < n; i++)
		t[i] = a[i] / b[i];
	return median(t, n);
}

struct figures {
	double b[NS], med[NS]; /* best and median run */
	double x[NX], xmed[NX]; /* ratio of best runs, median of per-run */
};

static void figures(const struct env *e, struct figures *f)
{
	for (int s = 0; s < NS; s++) {
		f->b[s] = min_of(e->res.v[s], e->res.n[s]);
		f->med[s] = median(e->res.v[s], e->res.n[s]);
	}
	for (int x = 0; x < NX; x++) {
		f->x[x] = f->b[xinfo[x].a] / f->b[xinfo[x].b];
		f->xmed[x] = paired(e->res.v[xinfo[x].a], e->res.v[xinfo[x].b],
				    e->res.n[xinfo[x].a]);
	}
}

static void json_num(FILE *f, const char *key, const char *suffix, double v,
		     const char *fmt)
{
	fprintf(f, ",\"%s%s\":", key, suffix);
	fprintf(f, fmt, v);
}

static void write_json(const struct env *e, const struct figures *x)
{
	const struct config *c = &e->cfg;
	FILE *f = fopen(c->json, "w");

	if (!f)
		die(c->json, errno);
	fprintf(f, "{\"bench\":\"mmapbench\",\"quick\":%s",
		c->quick ? "true" : "false");
	json_num(f, "rnd_pages", "", (double)c->rnd_pages, "%.0f");
	json_num(f, "rnd_bytes", "", (double)(c->rnd_pages * PG), "%.0f");
	json_num(f, "touches", "", (double)c->touches, "%.0f");
	json_num(f, "st_pages", "", (double)c->st_pages, "%.0f");
	json_num(f, "seq_store_nohuge_pages", "", (double)c->sst_pages,
		 "%.0f");
	json_num(f, "msync_small_pages", "", (double)c->wb_small, "%.0f");
	json_num(f, "msync_large_pages", "", (double)c->wb_large, "%.0f");
	json_num(f, "msync_scatter_pages", "", (double)c->wb_scatter, "%.0f");
	json_num(f, "big_pages", "", (double)c->big_pages, "%.0f");
	json_num(f, "big_bytes", "", (double)(c->big_pages * PG), "%.0f");
	json_num(f, "big_stores", "", (double)c->big_stores, "%.0f");
	json_num(f, "map_budget_small", "", (double)c->budget, "%.0f");
	json_num(f, "map_budget_default", "", (double)e->res.budget_default,
		 "%.0f");
	json_num(f, "runs", "", c->runs, "%.0f");
	json_num(f, "big_runs", "", c->big_runs, "%.0f");
	json_num(f, "seed", "", (double)c->seed, "%.0f");
	json_num(f, "loadavg_start", "", e->res.load[0], "%.2f");
	json_num(f, "loadavg_end", "", e->res.load[1], "%.2f");
	for (int s = 0; s < NS; s++) {
		const char *k = sinfo[s].key;
		const struct diag *d = &e->res.d[s];
		unsigned int dg = sinfo[s].diag;

		json_num(f, k, "", x->b[s], "%.1f");
		json_num(f, k, "_median", x->med[s], "%.1f");
		if (dg & D_SIG)
			json_num(f, k, "_signals_per_touch", d->signals,
				 "%.5f");
		if (dg & D_FLT)
			json_num(f, k, "_minflt_per_touch", d->minflt, "%.4f");
		if (dg & D_MAP) {
			json_num(f, k, "_map_reclaims", (double)d->reclaims,
				 "%.0f");
			json_num(f, k, "_map_count", (double)d->maps, "%.0f");
		}
		if (dg & D_MSYNC) {
			json_num(f, k, "_written", (double)d->written, "%.0f");
			json_num(f, k, "_mapped_rw", (double)d->mapped_rw,
				 "%.0f");
		}
		if (dg & D_MAJ)
			json_num(f, k, "_major", (double)d->major, "%.0f");
		if (dg & D_PMD) {
			json_num(f, k, "_faults_pmd", (double)d->pmd, "%.0f");
			json_num(f, k, "_faults_pte", (double)d->pte, "%.0f");
		}
	}
	/* Throughputs of the thread test, million touches per second. */
	json_num(f, "threads1_udax_mtps", "",
		 (double)c->rnd_pages / x->b[T_UDAX1] * 1e3, "%.3f");
	json_num(f, "threads2_udax_mtps", "",
		 (double)c->rnd_pages / x->b[T_UDAX2] * 1e3, "%.3f");
	json_num(f, "threads1_kernel_mtps", "",
		 (double)c->rnd_pages / x->b[T_KERN1] * 1e3, "%.3f");
	json_num(f, "threads2_kernel_mtps", "",
		 (double)c->rnd_pages / x->b[T_KERN2] * 1e3, "%.3f");
	for (int r = 0; r < NX; r++) {
		json_num(f, xinfo[r].key, "", x->x[r], "%.3f");
		json_num(f, xinfo[r].key, "_median", x->xmed[r], "%.3f");
	}
	fputs("}\n", f);
	if (ferror(f) | fclose(f))
		die(c->json, errno);
}

/* "met" or "MISSED": the ratio of best runs against a target. */
static const char *verdict(double v, double limit, bool at_most)
{
	return (at_most ? v <= limit : v >= limit) ? "met" : "MISSED";
}

#define MIB(pages) ((unsigned long long)((pages) * PG >> 20))
#define ULL(v) ((unsigned long long)(v))

static void report(const struct env *e, const struct figures *x)
{
	const struct config *c = &e->cfg;
	const struct diag *d = e->res.d;
	const char *P = "mmapbench:    ";

	printf("mmapbench: %s run: best of %u interleaved runs after a "
	       "warm-up (median in brackets; beside a ratio, the median of "
	       "the per-run ratios); seed %llu\n",
	       c->quick ? "quick" : "full", c->runs, ULL(c->seed));
	printf("mmapbench: \"no 2 MiB\": region 4 KiB past a 2 MiB boundary, "
	       "file offset 0 (udax faults_pmd 0, checked); kernel: MAP_SHARED "
	       "of a tmpfs file written in full, same placement, same order\n");

	printf("mmapbench: [1] random 4 KiB first-touch loads, %llu MiB file "
	       "fully allocated, no 2 MiB; a run: %u / %u fresh mappings, the "
	       "mean\n", MIB(c->rnd_pages), c->reps, c->reps_all);
	for (int k = 0; k < 2; k++) {
		enum series u = k ? A_UDAX_ALL : A_UDAX;
		enum ratio r = k ? X_RND_ALL : X_RND;

		printf("%s%7llu touches%s: udax %.0f ns/touch (%.0f), kernel "
		       "%.0f (%.0f), bare mechanism %.0f (%.0f)\n", P,
		       ULL(k ? c->rnd_pages : c->touches),
		       k ? " (all pages)" : "", x->b[u], x->med[u],
		       x->b[u + 1], x->med[u + 1], x->b[u + 2], x->med[u + 2]);
		printf("%s    udax/kernel %.2f (%.2f; target <= 2.0: %s), "
		       "udax/bare %.2f (%.2f; target <= 1.2: %s)\n", P,
		       x->x[r], x->xmed[r], verdict(x->x[r], 2.0, true),
		       x->x[r + 2], x->xmed[r + 2],
		       verdict(x->x[r + 2], 1.2, true));
		printf("%s    signals/touch: udax %.4f (faults_pte %llu, "
		       "faults_pmd %llu), bare %.4f; kernel minor faults/touch: "
		       "under udax %.3f, kernel %.3f, under bare %.3f\n", P,
		       d[u].signals, ULL(d[u].pte), ULL(d[u].pmd),
		       d[u + 2].signals, d[u].minflt, d[u + 1].minflt,
		       d[u + 2].minflt);
	}

	printf("mmapbench: [1b] random 4 KiB first stores, %llu MiB, no "
	       "2 MiB: udax %.0f ns/page (%.0f), bare %.0f (%.0f), kernel "
	       "%.0f (%.0f), udax allocating %.0f (%.0f)\n",
	       MIB(c->st_pages), x->b[B_UDAX], x->med[B_UDAX], x->b[B_BARE],
	       x->med[B_BARE], x->b[B_KERN], x->med[B_KERN], x->b[B_ALLOC],
	       x->med[B_ALLOC]);
	printf("%s    udax/bare %.2f (%.2f; target <= 1.2: %s), udax/kernel "
	       "%.2f (%.2f), allocating/bare %.2f (no target: allocation, "
	       "zeroing, journal commit; %llu major faults); signals/page "
	       "udax %.3f\n", P,
	       x->x[X_ST_BARE], x->xmed[X_ST_BARE],
	       verdict(x->x[X_ST_BARE], 1.2, true), x->x[X_ST_KERN],
	       x->xmed[X_ST_KERN], x->x[X_ALLOC_BARE], ULL(d[B_ALLOC].major),
	       d[B_UDAX].signals);

	printf("mmapbench: [2] sequential first-touch stores, 4 KiB stride, "
	       "%llu MiB, no 2 MiB: udax %.0f ns/page (%.0f; %.1f ms), kernel "
	       "%.0f (%.0f; %.1f ms)\n",
	       MIB(c->sst_pages), x->b[C_UDAX], x->med[C_UDAX],
	       x->b[C_UDAX] * (double)c->sst_pages / 1e6, x->b[C_KERN],
	       x->med[C_KERN], x->b[C_KERN] * (double)c->sst_pages / 1e6);
	printf("%s    udax/kernel %.2f (%.2f; target <= 1.5: %s); udax "
	       "signals/page %.4f, map reclaims %llu, map_count %llu\n", P,
	       x->x[X_SEQ_NOHUGE], x->xmed[X_SEQ_NOHUGE],
	       verdict(x->x[X_SEQ_NOHUGE], 1.5, true), d[C_UDAX].signals,
	       ULL(d[C_UDAX].reclaims), ULL(d[C_UDAX].maps));
	printf("%s    with 2 MiB mappings (aligned region), %llu MiB: loads "
	       "udax %.0f ns/page (%.0f), kernel %.0f (%.0f): %.2f (%.2f); "
	       "stores udax %.0f (%.0f), kernel %.0f (%.0f): %.2f (%.2f); "
	       "udax faults pmd %llu, pte %llu\n", P,
	       MIB(c->rnd_pages), x->b[Q_UDAX_LD], x->med[Q_UDAX_LD],
	       x->b[Q_KERN_LD], x->med[Q_KERN_LD], x->x[X_SEQ_LD],
	       x->xmed[X_SEQ_LD], x->b[Q_UDAX_ST], x->med[Q_UDAX_ST],
	       x->b[Q_KERN_ST], x->med[Q_KERN_ST], x->x[X_SEQ_ST],
	       x->xmed[X_SEQ_ST], ULL(d[Q_UDAX_LD].pmd),
	       ULL(d[Q_UDAX_LD].pte));

	printf("mmapbench: [3] 2 threads vs 1: random first-touch loads of "
	       "all %llu pages of one %llu MiB mapping (no 2 MiB), each thread "
	       "its own random half\n", ULL(c->rnd_pages), MIB(c->rnd_pages));
	printf("%s    udax: 1 thread %.2f Mtouch/s (%.1f ms), 2 threads %.2f "
	       "(%.1f ms): 2/1 = %.2f (%.2f; target >= 1.3: %s)\n", P,
	       (double)c->rnd_pages / x->b[T_UDAX1] * 1e3,
	       x->b[T_UDAX1] / 1e6,
	       (double)c->rnd_pages / x->b[T_UDAX2] * 1e3,
	       x->b[T_UDAX2] / 1e6, x->x[X_THR_UDAX], x->xmed[X_THR_UDAX],
	       verdict(x->x[X_THR_UDAX], 1.3, false));
	printf("%s    kernel: 1 thread %.2f Mtouch/s (%.1f ms), 2 threads "
	       "%.2f (%.1f ms): 2/1 = %.2f (%.2f)\n", P,
	       (double)c->rnd_pages / x->b[T_KERN1] * 1e3,
	       x->b[T_KERN1] / 1e6,
	       (double)c->rnd_pages / x->b[T_KERN2] * 1e3,
	       x->b[T_KERN2] / 1e6, x->x[X_THR_KERN], x->xmed[X_THR_KERN]);

	printf("mmapbench: [4] udax_msync(MS_SYNC) of dirty pages (stored "
	       "through a %llu MiB region, no 2 MiB; the call alone timed; "
	       "default map budget)\n", MIB(c->rnd_pages));
	for (int s = M_SMALL; s <= M_SCATTER; s++) {
		uint64_t pages = s == M_SMALL	? c->wb_small
				 : s == M_LARGE ? c->wb_large
						: c->wb_scatter;

		printf("%s%6llu %s: %.1f us per call (%.1f), %.0f ns per page; "
		       "%llu written back, %llu mapped writable at the msync, "
		       "%llu map reclaims while dirtying\n", P, ULL(pages),
		       s == M_SCATTER ? "scattered " : "contiguous",
		       x->b[s] / 1e3, x->med[s] / 1e3,
		       x->b[s] / (double)pages, ULL(d[s].written),
		       ULL(d[s].mapped_rw), ULL(d[s].reclaims));
	}
	printf("%s    %llu/%llu time ratio %.1f (%.1f; target <= 100: %s); "
	       "scattered/%llu %.1f\n", P, ULL(c->wb_large), ULL(c->wb_small),
	       x->x[X_MSYNC], x->xmed[X_MSYNC],
	       verdict(x->x[X_MSYNC], 100, true), ULL(c->wb_small),
	       x->x[X_MSYNC_SCATTER]);
	{
		double fl = mprotect_floor(c->wb_large);
		double fs = mprotect_floor(c->wb_small);

		printf("%s    floor: the kernel's mprotect(PROT_READ) of %llu "
		       "dirty tmpfs pages %.1f us, of %llu %.1f us: ratio "
		       "%.1f; udax's msync of %llu is %.2fx that\n", P,
		       ULL(c->wb_large), fl / 1e3, ULL(c->wb_small), fs / 1e3,
		       fs ? fl / fs : 0, ULL(c->wb_large),
		       fl ? x->b[M_LARGE] / fl : 0);
	}

	printf("mmapbench: [5] %llu MiB file, no 2 MiB, map budget %llu "
	       "(reclaim) and the default %llu; kernel: %llu MiB tmpfs; best "
	       "of %u runs\n", MIB(c->big_pages), ULL(c->budget),
	       ULL(e->res.budget_default), MIB(c->big_pages), c->big_runs);
	for (int k = 0; k < 2; k++) {
		enum series b = k ? G_SW_BUDGET : G_ST_BUDGET;
		enum ratio r = k ? X_BIG_SW_BUDGET : X_BIG_ST_BUDGET;

		printf("%s%8llu %s: kernel %.0f ns/touch (%.0f); udax at "
		       "budget %llu %.0f (%.0f): %.2f (%.2f); udax at the "
		       "default %.0f (%.0f): %.2f (%.2f)\n", P,
		       ULL(k ? c->big_pages : c->big_stores),
		       k ? "loads, every page once, shuffled"
			 : "random first stores",
		       x->b[b + 2], x->med[b + 2], ULL(c->budget), x->b[b],
		       x->med[b], x->x[r], x->xmed[r], x->b[b + 1],
		       x->med[b + 1], x->x[r + 1], x->xmed[r + 1]);
		printf("%s    udax at budget %llu: map_reclaims %llu, "
		       "map_count %llu, signals/touch %.4f, kernel minor "
		       "faults/touch %.3f; at the default: map_reclaims %llu, "
		       "map_count %llu, signals/touch %.4f, minor faults/touch "
		       "%.3f (kernel side %.3f)\n", P, ULL(c->budget),
		       ULL(d[b].reclaims), ULL(d[b].maps), d[b].signals,
		       d[b].minflt, ULL(d[b + 1].reclaims), ULL(d[b + 1].maps),
		       d[b + 1].signals, d[b + 1].minflt, d[b + 2].minflt);
	}
	printf("mmapbench: seconds taken: setup %.1f, [1] %.1f, [1b] %.1f, "
	       "[2] %.1f, [3] %.1f, [4] %.1f, [5] %.1f; load average %.2f at "
	       "the start, %.2f at the end (%ld CPUs: other work skews the "
	       "figures, the thread test most)\n", e->res.setup_s,
	       e->res.test_s[0], e->res.test_s[1], e->res.test_s[2],
	       e->res.test_s[3], e->res.test_s[4], e->res.test_s[5],
	       e->res.load[0], e->res.load[1], sysconf(_SC_NPROCESSORS_ONLN));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mmapbench [-q] [-o FILE] [-s SEED]\n"
		   "  -q       quick run (smoke test, a few seconds)\n"
		   "  -o FILE  also write the figures as JSON to FILE\n"
		   "  -s SEED  seed of the random page orders (default 1)\n");
}

/* -q (the quick run, a smoke test) and -s SEED. */
static bool opt_own(int letter, const char *val, void *arg)
{
	struct config *c = arg;

	switch (letter) {
	case 'q':
		c->quick = true;
		c->rnd_pages = 32768;
		c->touches = 5000;
		c->st_pages = 2048;
		c->sst_pages = 16384;
		c->wb_large = 16384;
		c->wb_scatter = 1024;
		c->wb_rounds = 5;
		c->big_pages = 65536;
		c->big_stores = 4096;
		c->budget = 125;
		c->runs = 2;
		c->big_runs = 2;
		c->reps = c->reps_all = 1;
		return true;
	case 's':
		c->seed = strtoull(val, NULL, 0);
		return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	static struct env e = {
	    .cfg = {.rnd_pages = 262144, .touches = 30000, .st_pages = 8192,
		    .sst_pages = 65536, .wb_large = 65536, .wb_small = 64,
		    .wb_scatter = 4096, .wb_rounds = 20, .big_pages = 1048576,
		    .big_stores = 65536, .budget = 2000, .runs = 5,
		    .big_runs = 3, .reps = 4, .reps_all = 3, .seed = 1},
	};
	struct config *c = &e.cfg;
	struct figures x;
	uint64_t avail = mem_available();
	int ret;

	ret = bench_args(argc, argv, "qs:", opt_own, c, &c->json, usage);
	if (ret >= 0)
		return ret;
	/*
	 * Memory: each file lives twice in tmpfs (the pool's copy and the
	 * kernel's), with page tables and the order arrays beside them.
	 */
	while (c->rnd_pages > 16384 && 6 * c->rnd_pages * PG > avail) {
		c->rnd_pages /= 2;
		printf("mmapbench: little memory: the %llu MiB file of tests "
		       "1-4 reduced to %llu MiB\n", MIB(2 * c->rnd_pages),
		       MIB(c->rnd_pages));
	}
	while (c->big_pages > 65536 &&
	       (2 * (c->big_pages + c->rnd_pages) * PG + (1ULL << 30)) >
		       avail) {
		c->big_pages /= 2;
		printf("mmapbench: little memory: the %llu MiB file of test 5 "
		       "reduced to %llu MiB\n", MIB(2 * c->big_pages),
		       MIB(c->big_pages));
	}
	if (c->touches > c->rnd_pages)
		c->touches = c->rnd_pages;
	if (c->sst_pages > c->rnd_pages)
		c->sst_pages = c->rnd_pages;
	if (c->wb_large > c->rnd_pages)
		c->wb_large = c->rnd_pages;
	if (c->wb_scatter > c->rnd_pages / 4)
		c->wb_scatter = c->rnd_pages / 4;
	if (c->big_stores > c->big_pages)
		c->big_stores = c->big_pages;

	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);
	/* Before udax installs its handler, which passes it other faults. */
	signal(SIGSEGV, on_signal);
	signal(SIGABRT, on_signal);
	e.res.load[0] = loadavg();
	e.res.setup_s = now_ns();
	setup(&e);
	e.res.setup_s = (now_ns() - e.res.setup_s) / 1e9;

	{
		static const enum series t1[] = {A_UDAX, A_KERN, A_BARE,
						 A_UDAX_ALL, A_KERN_ALL,
						 A_BARE_ALL};
		static const enum series t1b[] = {B_UDAX, B_BARE, B_KERN,
						  B_ALLOC};
		static const enum series t2[] = {C_UDAX, C_KERN, Q_UDAX_LD,
						 Q_KERN_LD, Q_UDAX_ST,
						 Q_KERN_ST};
		static const enum series t3[] = {T_UDAX1, T_UDAX2, T_KERN1,
						 T_KERN2};
		static const enum series t4[] = {M_SMALL, M_LARGE, M_SCATTER};
		static const enum series t5[] = {G_ST_BUDGET, G_ST_KERN,
						 G_ST_DEFAULT, G_SW_BUDGET,
						 G_SW_KERN, G_SW_DEFAULT};

		run_test(&e, 0, t1, 6, c->runs);
		run_test(&e, 1, t1b, 4, c->runs);
		run_test(&e, 2, t2, 6, c->runs);
		run_test(&e, 3, t3, 4, c->runs);
		run_test(&e, 4, t4, 3, c->runs);
		run_test(&e, 5, t5, 6, c->big_runs);
	}
	e.res.load[1] = loadavg();
	figures(&e, &x);
	teardown(&e);
	report(&e, &x);
	if (c->json)
		write_json(&e, &x);
	return 0;
}
