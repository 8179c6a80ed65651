/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mmapbench - what a udax page fault costs, through real faults on real
 * mappings, against the bare mechanism udax is built on and against the
 * kernel's own page faults, in one run.
 *
 * The pool is a file on /dev/shm (or /tmp when there is no /dev/shm), in
 * a private directory removed at exit (also on error and on SIGINT,
 * SIGTERM, SIGHUP, SIGPIPE, SIGABRT and a genuine SIGSEGV); the kernel's
 * files are tmpfs files beside it, written in full first, so that every
 * side measures mapping pages that exist, not allocating them (except
 * write_alloc, below). Memory: about twice the sequential size (the
 * pool's copy and the kernel's); the size is halved until six times it
 * fits in MemAvailable.
 *
 * 1. 4 KiB first touch, random order. A file of @rnd_pages pages (8192,
 *    32 MiB; 2048 with -q), mapped afresh for each run, is touched once
 *    per page (one load or one store) in the order of a seeded shuffle.
 *    The regions are placed at a virtual address that is 4 KiB past a
 *    2 MiB boundary while the file offset is 0 (udax_mmap's address
 *    hint), so no 2 MiB mapping is possible and every udax fault is a
 *    4 KiB one (checked: faults_pmd and faults_fallback stay 0). Sides:
 *
 *      udax_read    read faults on allocated blocks (a file fallocated in
 *                   full): SIGSEGV, region lookup, engine (entry lock,
 *                   iomap), mmap(MAP_FIXED|MAP_SHARED|MAP_POPULATE,
 *                   PROT_READ) of the block. Each run opens the file, so
 *                   the entry index starts empty: entries are inserted as
 *                   in a first touch after udax_open();
 *      udax_write   write faults on the same allocated blocks (mapped
 *                   writable at once, entry tagged DIRTY);
 *      udax_write_alloc  write faults on a sparse file (punched whole
 *                   before each run): the fs allocates, zeroes and
 *                   persists a block and commits a journal transaction
 *                   per fault;
 *      bare_read / bare_write  the mechanism alone: a PROT_NONE
 *                   reservation of the same size and placement, and a
 *                   SIGSEGV handler of this benchmark's own that maps the
 *                   faulting page with the same mmap call udax makes, of
 *                   the same pool file at the same block (looked up in a
 *                   table before the run), PROT_READ or PROT_READ|WRITE
 *                   as the fault's error code says. No engine, no fs, no
 *                   region table;
 *      kernel_read / kernel_write  a MAP_SHARED mapping of a tmpfs file
 *                   of the same size, same placement: the kernel's own
 *                   faults (a read fault maps up to 16 neighbouring pages
 *                   already in the page cache, "fault-around": the figure
 *                   is per page touched, and the kernel's fault count per
 *                   page is printed).
 *
 *    Targets: udax/bare <= 1.2 for read and write on allocated blocks.
 *
 * 2. Sequential first touch: one load (or one store) per 4 KiB page of a
 *    @seq_bytes file (1 GiB; 256 MiB with -q) that is allocated in full,
 *    through udax (2 MiB-aligned extents, a region udax_mmap aligns: 2 MiB
 *    mappings, one fault per 2 MiB; faults_pmd is printed) and through
 *    the kernel's mapping of a populated tmpfs file of the same size.
 *    Target: udax/kernel <= 1.5 (loads; stores printed beside).
 *
 * Every side runs once to warm up, then @runs times (4 KiB: 7, 3 with -q;
 * sequential: 5, 2 with -q), the sides interleaved run by run, each pair
 * that is compared next to each other in an order that alternates run by
 * run; the best run counts, the median is printed beside it, and beside
 * each ratio of best runs the median of the per-run ratios (steadier on a
 * loaded machine). The
 * benchmark reports and never judges: exit 0 whatever the figures, 1 if
 * something fails, 2 on a bad command line. -q: quick run (< 5 s).
 * -o FILE: the figures as one JSON object. -s SEED: the shuffle's seed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define PG 4096ULL
#define HUGE_SZ (2ULL << 20)
#define MAX_RUNS 16

struct config {
	uint64_t rnd_pages; /* pages of the 4 KiB tests */
	uint64_t seq_bytes; /* bytes of the sequential test */
	unsigned int runs, seq_runs;
	uint64_t seed;
	bool quick;
	const char *json;
};

enum rside {
	R_UDAX_READ,
	R_UDAX_WRITE,
	R_UDAX_ALLOC,
	R_BARE_READ,
	R_BARE_WRITE,
	R_KERN_READ,
	R_KERN_WRITE,
	R_NR,
};

static const char *const rname[R_NR] = {
    [R_UDAX_READ] = "udax read fault, allocated block",
    [R_UDAX_WRITE] = "udax write fault, allocated block",
    [R_UDAX_ALLOC] = "udax write fault allocating a block",
    [R_BARE_READ] = "bare mechanism, read (own handler + mmap)",
    [R_BARE_WRITE] = "bare mechanism, write (own handler + mmap)",
    [R_KERN_READ] = "kernel, tmpfs mapping, load",
    [R_KERN_WRITE] = "kernel, tmpfs mapping, store",
};

enum sside { S_UDAX_READ, S_UDAX_WRITE, S_KERN_READ, S_KERN_WRITE, S_NR };

static const char *const sname[S_NR] = {
    [S_UDAX_READ] = "udax, loads",
    [S_UDAX_WRITE] = "udax, stores",
    [S_KERN_READ] = "kernel tmpfs mapping, loads",
    [S_KERN_WRITE] = "kernel tmpfs mapping, stores",
};

struct results {
	double rnd[R_NR][MAX_RUNS];  /* ns per page */
	double seq[S_NR][MAX_RUNS];  /* ms per run */
	double kern_flt[2];	     /* kernel faults per page: read, write */
	uint64_t pmd_faults, seq_pte_faults, seq_fallback;
	uint64_t alloc_major;
};

/* ---- files, cleanup ---- */

static char dir[256], pool_path[300], krnd_path[300], kseq_path[300];

static void cleanup(void)
{
	/* Async-signal-safe: unlink and rmdir only. */
	if (pool_path[0])
		unlink(pool_path);
	if (krnd_path[0])
		unlink(krnd_path);
	if (kseq_path[0])
		unlink(kseq_path);
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

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
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

static struct {
	char *base;
	uint64_t len;
	int fd;
	const uint64_t *blocks; /* device block of each page */
	volatile uint64_t faults, errors;
} bare;

static void bare_handler(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	char *a = si->si_addr;
	int saved = errno;
	uint64_t i;
	bool write;

	(void)sig;
	if (a < bare.base || a >= bare.base + bare.len) {
		signal(SIGSEGV, SIG_DFL); /* a real crash: fault again */
		return;
	}
	i = (uint64_t)(a - bare.base) / PG;
	write = uc->uc_mcontext.gregs[REG_ERR] & 0x2;
	if (mmap(bare.base + i * PG, PG, PROT_READ | (write ? PROT_WRITE : 0),
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, bare.fd,
		 (off_t)(bare.blocks[i] * PG)) == MAP_FAILED) {
		bare.errors++;
		signal(SIGSEGV, SIG_DFL);
	}
	bare.faults++;
	errno = saved;
}

/* ---- one run of each side ---- */

static volatile uint64_t sink;

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
	sink += acc;
	return t0;
}

struct env {
	struct config cfg;
	struct udax_pool *pool;
	int pool_fd;	   /* the pool file, for the bare mechanism */
	int krnd_fd, kseq_fd;
	uint64_t *order;   /* shuffled pages, 4 KiB tests */
	uint64_t *seq;	   /* 0, 1, 2, ... */
	uint64_t *blocks;  /* blocks of "rnd" */
};

static struct udax_file *open_file(struct env *e, const char *name)
{
	struct udax_file *f;
	int err = udax_open(e->pool, name, O_RDWR, 0, &f);

	if (err)
		die(name, -err);
	return f;
}

static double run_udax_rnd(struct env *e, enum rside s, struct results *res)
{
	uint64_t n = e->cfg.rnd_pages, len = n * PG;
	const char *name = s == R_UDAX_ALLOC ? "alloc" : "rnd";
	struct udax_file *f = open_file(e, name);
	struct udax_stats st;
	void *hint = misaligned_hint(len), *p;
	double ns;
	int err;

	if (s == R_UDAX_ALLOC) {
		err = udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE |
					     UDAX_FALLOC_KEEP_SIZE, 0, len);
		if (err)
			die("punch", -err);
	}
	err = udax_mmap(f, hint, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
			&p);
	if (err)
		die("udax_mmap", -err);
	if (p != hint)
		die("udax_mmap did not take the hint", EINVAL);
	ns = touch(p, e->order, n, s != R_UDAX_READ);
	udax_file_stats(f, &st);
	if (st.faults_pmd || st.faults_fallback ||
	    st.faults_pte < n || st.sigbus) {
		fprintf(stderr, "mmapbench: %s: pte %llu pmd %llu fallback %llu "
				"sigbus %llu for %llu pages\n", rname[s],
			(unsigned long long)st.faults_pte,
			(unsigned long long)st.faults_pmd,
			(unsigned long long)st.faults_fallback,
			(unsigned long long)st.sigbus, (unsigned long long)n);
		exit(1);
	}
	if (s == R_UDAX_ALLOC)
		res->alloc_major = st.faults_major;
	if ((err = udax_munmap(p, len)) || (err = udax_close(f)))
		die("udax_munmap/close", -err);
	return ns / (double)n;
}

static double run_bare(struct env *e, bool write)
{
	uint64_t n = e->cfg.rnd_pages, len = n * PG;
	struct sigaction sa, saved;
	char *p = misaligned_hint(len);
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
	bare.blocks = e->blocks;
	bare.faults = bare.errors = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = bare_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &saved))
		die("sigaction", errno);
	/* The handler reads and writes @bare: no caching across the run. */
	atomic_signal_fence(memory_order_seq_cst);
	ns = touch(p, e->order, n, write);
	atomic_signal_fence(memory_order_seq_cst);
	if (sigaction(SIGSEGV, &saved, NULL))
		die("sigaction", errno);
	if (bare.faults != n || bare.errors) {
		fprintf(stderr, "mmapbench: bare mechanism: %llu faults, %llu "
				"errors for %llu pages\n",
			(unsigned long long)bare.faults,
			(unsigned long long)bare.errors, (unsigned long long)n);
		exit(1);
	}
	munmap(p, len);
	return ns / (double)n;
}

static double run_kernel(struct env *e, bool write, double *flt)
{
	uint64_t n = e->cfg.rnd_pages, len = n * PG;
	void *p = misaligned_hint(len);
	long f0;
	double ns;

	p = mmap(p, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, e->krnd_fd, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	f0 = minflt();
	ns = touch(p, e->order, n, write);
	*flt = (double)(minflt() - f0) / (double)n;
	munmap(p, len);
	return ns / (double)n;
}

static double run_seq(struct env *e, enum sside s, struct results *res)
{
	uint64_t len = e->cfg.seq_bytes, n = len / PG;
	bool write = s == S_UDAX_WRITE || s == S_KERN_WRITE;
	double ns;

	if (s == S_UDAX_READ || s == S_UDAX_WRITE) {
		struct udax_file *f = open_file(e, "seq");
		struct udax_stats st;
		void *p;
		int err;

		err = udax_mmap(f, NULL, len, PROT_READ | PROT_WRITE,
				MAP_SHARED, 0, &p);
		if (err)
			die("udax_mmap", -err);
		ns = touch(p, e->seq, n, write);
		udax_file_stats(f, &st);
		res->pmd_faults = st.faults_pmd;
		res->seq_pte_faults = st.faults_pte;
		res->seq_fallback = st.faults_fallback;
		if ((err = udax_munmap(p, len)) || (err = udax_close(f)))
			die("udax_munmap/close", -err);
	} else {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       e->kseq_fd, 0);

		if (p == MAP_FAILED)
			die("mmap", errno);
		ns = touch(p, e->seq, n, write);
		munmap(p, len);
	}
	return ns / 1e6;
}

/* ---- setup ---- */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
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

/* The device block of every page of "rnd", for the bare mechanism. */
static void block_table(struct env *e)
{
	struct udax_file *f = open_file(e, "rnd");
	uint64_t n = e->cfg.rnd_pages;

	e->blocks = malloc(n * sizeof(*e->blocks));
	if (!e->blocks)
		die("malloc", ENOMEM);
	for (uint64_t i = 0; i < n;) {
		struct dax_iomap map;
		int err = dax_inode_iomap(f->fst->ip, i, n - i, 0, &map);

		if (err)
			die("iomap", -err);
		if (map.type != DAX_IOMAP_MAPPED)
			die("rnd has a hole", EIO);
		for (uint64_t k = i - map.index; k < map.nr && i < n; k++, i++)
			e->blocks[i] = map.block + k;
	}
	udax_close(f);
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
	uint64_t n = e->cfg.rnd_pages, s = e->cfg.seed | 1;
	int err;

	snprintf(dir, sizeof(dir), "%s/mmapbench-XXXXXX", base);
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		die("mkdtemp", errno);
	}
	snprintf(pool_path, sizeof(pool_path), "%s/pool", dir);
	snprintf(krnd_path, sizeof(krnd_path), "%s/kernel-rnd", dir);
	snprintf(kseq_path, sizeof(kseq_path), "%s/kernel-seq", dir);

	err = udax_pool_create(pool_path,
			       e->cfg.seq_bytes + 2 * n * PG + (64ULL << 20),
			       &e->pool);
	if (err)
		die("udax_pool_create", -err);
	e->pool_fd = open(pool_path, O_RDWR | O_CLOEXEC);
	if (e->pool_fd < 0)
		die(pool_path, errno);
	make_file(e, "rnd", n * PG, true);
	make_file(e, "alloc", n * PG, false);
	make_file(e, "seq", e->cfg.seq_bytes, true);
	block_table(e);
	e->krnd_fd = kernel_file(krnd_path, n * PG);
	e->kseq_fd = kernel_file(kseq_path, e->cfg.seq_bytes);

	e->order = malloc(n * sizeof(*e->order));
	e->seq = malloc(e->cfg.seq_bytes / PG * sizeof(*e->seq));
	if (!e->order || !e->seq)
		die("malloc", ENOMEM);
	for (uint64_t i = 0; i < n; i++)
		e->order[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = xorshift(&s) % (i + 1), t = e->order[i];

		e->order[i] = e->order[j];
		e->order[j] = t;
	}
	for (uint64_t i = 0; i < e->cfg.seq_bytes / PG; i++)
		e->seq[i] = i;
}

static void teardown(struct env *e)
{
	int err = udax_pool_close(e->pool);

	if (err)
		die("udax_pool_close", -err);
	close(e->pool_fd);
	close(e->krnd_fd);
	close(e->kseq_fd);
	free(e->order);
	free(e->seq);
	free(e->blocks);
	cleanup();
}

/* ---- statistics, output ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double best(const double *v, unsigned int n)
{
	double m = v[0];

	for (unsigned int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double median(const double *v, unsigned int n)
{
	double t[MAX_RUNS];

	memcpy(t, v, n * sizeof(*v));
	qsort(t, n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void json_num(FILE *f, const char *key, double v, const char *fmt)
{
	fprintf(f, ",\"%s\":", key);
	fprintf(f, fmt, v);
}

/* Ratios whose per-run values are kept (median printed). */
enum pair {
	P_READ_BARE,
	P_WRITE_BARE,
	P_READ_KERN,
	P_WRITE_KERN,
	P_SEQ,
	P_SEQ_WRITE,
	P_NR,
};

struct figures {
	double r[R_NR], r_med[R_NR], s[S_NR], s_med[S_NR];
	double pr[P_NR]; /* median of the per-run ratios */
};

/* Median over runs of a[i] / b[i] (the two ran next to each other). */
static double paired(const double *a, const double *b, unsigned int n)
{
	double t[MAX_RUNS];

	for (unsigned int i = 0; i < n; i++)
		t[i] = a[i] / b[i];
	return median(t, n);
}

static void write_json(const struct config *cfg, const struct figures *x,
		       const struct results *res)
{
	FILE *f = fopen(cfg->json, "w");

	if (!f)
		die(cfg->json, errno);
	fprintf(f, "{\"bench\":\"mmapbench\",\"quick\":%s",
		cfg->quick ? "true" : "false");
	json_num(f, "rnd_pages", (double)cfg->rnd_pages, "%.0f");
	json_num(f, "seq_bytes", (double)cfg->seq_bytes, "%.0f");
	json_num(f, "runs", cfg->runs, "%.0f");
	json_num(f, "seq_runs", cfg->seq_runs, "%.0f");
	json_num(f, "seed", (double)cfg->seed, "%.0f");
	json_num(f, "udax_read_4k_ns", x->r[R_UDAX_READ], "%.1f");
	json_num(f, "bare_read_4k_ns", x->r[R_BARE_READ], "%.1f");
	json_num(f, "ratio_read_vs_bare",
		 x->r[R_UDAX_READ] / x->r[R_BARE_READ], "%.3f");
	json_num(f, "udax_write_4k_ns", x->r[R_UDAX_WRITE], "%.1f");
	json_num(f, "bare_write_4k_ns", x->r[R_BARE_WRITE], "%.1f");
	json_num(f, "ratio_write_vs_bare",
		 x->r[R_UDAX_WRITE] / x->r[R_BARE_WRITE], "%.3f");
	json_num(f, "udax_write_alloc_4k_ns", x->r[R_UDAX_ALLOC], "%.1f");
	json_num(f, "ratio_write_alloc_vs_bare",
		 x->r[R_UDAX_ALLOC] / x->r[R_BARE_WRITE], "%.3f");
	json_num(f, "kernel_read_4k_ns", x->r[R_KERN_READ], "%.1f");
	json_num(f, "ratio_read_vs_kernel",
		 x->r[R_UDAX_READ] / x->r[R_KERN_READ], "%.3f");
	json_num(f, "kernel_write_4k_ns", x->r[R_KERN_WRITE], "%.1f");
	json_num(f, "ratio_write_vs_kernel",
		 x->r[R_UDAX_WRITE] / x->r[R_KERN_WRITE], "%.3f");
	json_num(f, "kernel_read_faults_per_page", res->kern_flt[0], "%.3f");
	json_num(f, "kernel_write_faults_per_page", res->kern_flt[1], "%.3f");
	json_num(f, "udax_read_4k_ns_median", x->r_med[R_UDAX_READ], "%.1f");
	json_num(f, "bare_read_4k_ns_median", x->r_med[R_BARE_READ], "%.1f");
	json_num(f, "udax_write_4k_ns_median", x->r_med[R_UDAX_WRITE], "%.1f");
	json_num(f, "bare_write_4k_ns_median", x->r_med[R_BARE_WRITE], "%.1f");
	json_num(f, "udax_write_alloc_4k_ns_median", x->r_med[R_UDAX_ALLOC],
		 "%.1f");
	json_num(f, "kernel_read_4k_ns_median", x->r_med[R_KERN_READ], "%.1f");
	json_num(f, "kernel_write_4k_ns_median", x->r_med[R_KERN_WRITE],
		 "%.1f");
	json_num(f, "seq_1g_udax_ms", x->s[S_UDAX_READ], "%.2f");
	json_num(f, "seq_1g_kernel_ms", x->s[S_KERN_READ], "%.2f");
	json_num(f, "ratio_seq_vs_kernel",
		 x->s[S_UDAX_READ] / x->s[S_KERN_READ], "%.3f");
	json_num(f, "seq_1g_udax_write_ms", x->s[S_UDAX_WRITE], "%.2f");
	json_num(f, "seq_1g_kernel_write_ms", x->s[S_KERN_WRITE], "%.2f");
	json_num(f, "ratio_seq_write_vs_kernel",
		 x->s[S_UDAX_WRITE] / x->s[S_KERN_WRITE], "%.3f");
	json_num(f, "ratio_read_vs_bare_median", x->pr[P_READ_BARE], "%.3f");
	json_num(f, "ratio_write_vs_bare_median", x->pr[P_WRITE_BARE], "%.3f");
	json_num(f, "ratio_read_vs_kernel_median", x->pr[P_READ_KERN], "%.3f");
	json_num(f, "ratio_write_vs_kernel_median", x->pr[P_WRITE_KERN],
		 "%.3f");
	json_num(f, "ratio_seq_vs_kernel_median", x->pr[P_SEQ], "%.3f");
	json_num(f, "ratio_seq_write_vs_kernel_median", x->pr[P_SEQ_WRITE],
		 "%.3f");
	json_num(f, "pmd_faults", (double)res->pmd_faults, "%.0f");
	json_num(f, "seq_pte_faults", (double)res->seq_pte_faults, "%.0f");
	fputs("}\n", f);
	if (ferror(f) | fclose(f))
		die(cfg->json, errno);
}

static void report(const struct config *cfg, const struct figures *x,
		   const struct results *res)
{
	printf("mmapbench: %s run; 4 KiB tests: %llu pages (%llu MiB) per "
	       "run, random order (seed %llu), regions 4 KiB off 2 MiB "
	       "alignment; sequential: %llu MiB; best of %u / %u interleaved "
	       "runs after a warm-up\n",
	       cfg->quick ? "quick" : "full",
	       (unsigned long long)cfg->rnd_pages,
	       (unsigned long long)(cfg->rnd_pages * PG >> 20),
	       (unsigned long long)cfg->seed,
	       (unsigned long long)(cfg->seq_bytes >> 20), cfg->runs,
	       cfg->seq_runs);
	for (int s = 0; s < R_NR; s++)
		printf("mmapbench: %-45s %8.0f ns/page (median %.0f)\n",
		       rname[s], x->r[s], x->r_med[s]);
	printf("mmapbench: kernel faults per page touched: %.3f (loads, "
	       "fault-around), %.3f (stores)\n",
	       res->kern_flt[0], res->kern_flt[1]);
	printf("mmapbench: udax/bare read  %.2f (target <= 1.2); median of "
	       "per-run ratios %.2f\n",
	       x->r[R_UDAX_READ] / x->r[R_BARE_READ], x->pr[P_READ_BARE]);
	printf("mmapbench: udax/bare write %.2f (target <= 1.2); median of "
	       "per-run ratios %.2f\n",
	       x->r[R_UDAX_WRITE] / x->r[R_BARE_WRITE], x->pr[P_WRITE_BARE]);
	printf("mmapbench: udax/bare write allocating %.2f (no target: "
	       "allocation, zeroing, journal commit; %llu major faults)\n",
	       x->r[R_UDAX_ALLOC] / x->r[R_BARE_WRITE],
	       (unsigned long long)res->alloc_major);
	printf("mmapbench: udax/kernel read %.2f, write %.2f; medians of "
	       "per-run ratios %.2f, %.2f\n",
	       x->r[R_UDAX_READ] / x->r[R_KERN_READ],
	       x->r[R_UDAX_WRITE] / x->r[R_KERN_WRITE], x->pr[P_READ_KERN],
	       x->pr[P_WRITE_KERN]);
	for (int s = 0; s < S_NR; s++)
		printf("mmapbench: sequential %llu MiB, %-30s %8.2f ms "
		       "(median %.2f)\n",
		       (unsigned long long)(cfg->seq_bytes >> 20), sname[s],
		       x->s[s], x->s_med[s]);
	printf("mmapbench: sequential udax/kernel loads %.2f (target <= "
	       "1.5; median of per-run ratios %.2f), stores %.2f (median "
	       "%.2f); udax faults: pmd %llu, pte %llu, fallback %llu\n",
	       x->s[S_UDAX_READ] / x->s[S_KERN_READ], x->pr[P_SEQ],
	       x->s[S_UDAX_WRITE] / x->s[S_KERN_WRITE], x->pr[P_SEQ_WRITE],
	       (unsigned long long)res->pmd_faults,
	       (unsigned long long)res->seq_pte_faults,
	       (unsigned long long)res->seq_fallback);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mmapbench [-q] [-o FILE] [-s SEED]\n"
		   "  -q       quick run (smoke test, < 5 s)\n"
		   "  -o FILE  also write the figures as JSON to FILE\n"
		   "  -s SEED  seed of the random page order (default 1)\n");
}

int main(int argc, char **argv)
{
	static struct results res;
	struct env e = {
	    .cfg = {.rnd_pages = 8192, .seq_bytes = 1ULL << 30, .runs = 7,
		    .seq_runs = 5, .seed = 1},
	};
	struct figures x;
	int opt;

	while ((opt = getopt(argc, argv, "qo:s:h")) != -1) {
		switch (opt) {
		case 'q':
			e.cfg.quick = true;
			e.cfg.rnd_pages = 2048;
			e.cfg.seq_bytes = 256ULL << 20;
			e.cfg.runs = 3;
			e.cfg.seq_runs = 2;
			break;
		case 'o':
			e.cfg.json = optarg;
			break;
		case 's':
			e.cfg.seed = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Two copies of the sequential file live in memory (tmpfs). */
	while (e.cfg.seq_bytes > (64ULL << 20) &&
	       6 * e.cfg.seq_bytes > mem_available()) {
		e.cfg.seq_bytes /= 2;
		printf("mmapbench: little memory: sequential test reduced to "
		       "%llu MiB\n", (unsigned long long)(e.cfg.seq_bytes >> 20));
	}

	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);
	/* Before udax installs its handler, which passes it other faults. */
	signal(SIGSEGV, on_signal);
	signal(SIGABRT, on_signal);
	setup(&e);

	/*
	 * Sides that are compared run next to each other, in an order that
	 * alternates run by run, so that drift in the machine's load hits
	 * both alike; the median of the per-run ratios is printed beside the
	 * ratio of the best runs.
	 */
	static const enum rside rorder[2][R_NR] = {
	    {R_UDAX_READ, R_BARE_READ, R_UDAX_WRITE, R_BARE_WRITE, R_UDAX_ALLOC,
	     R_KERN_READ, R_KERN_WRITE},
	    {R_BARE_READ, R_UDAX_READ, R_BARE_WRITE, R_UDAX_WRITE, R_UDAX_ALLOC,
	     R_KERN_WRITE, R_KERN_READ},
	};
	static const enum sside sorder[2][S_NR] = {
	    {S_UDAX_READ, S_KERN_READ, S_UDAX_WRITE, S_KERN_WRITE},
	    {S_KERN_READ, S_UDAX_READ, S_KERN_WRITE, S_UDAX_WRITE},
	};
	for (unsigned int run = 0; run <= e.cfg.runs; run++) {
		/* Run 0 warms up and is not counted. */
		unsigned int i = run ? run - 1 : 0;
		double flt;

		for (int k = 0; k < R_NR; k++) {
			enum rside s = rorder[run & 1][k];
			double v;

			switch (s) {
			case R_BARE_READ:
			case R_BARE_WRITE:
				v = run_bare(&e, s == R_BARE_WRITE);
				break;
			case R_KERN_READ:
			case R_KERN_WRITE:
				v = run_kernel(&e, s == R_KERN_WRITE, &flt);
				res.kern_flt[s == R_KERN_WRITE] = flt;
				break;
			default:
				v = run_udax_rnd(&e, s, &res);
			}
			res.rnd[s][i] = v;
		}
	}
	for (unsigned int run = 0; run <= e.cfg.seq_runs; run++) {
		unsigned int i = run ? run - 1 : 0;

		for (int k = 0; k < S_NR; k++) {
			enum sside s = sorder[run & 1][k];

			res.seq[s][i] = run_seq(&e, s, &res);
		}
	}
	for (int s = 0; s < R_NR; s++) {
		x.r[s] = best(res.rnd[s], e.cfg.runs);
		x.r_med[s] = median(res.rnd[s], e.cfg.runs);
	}
	for (int s = 0; s < S_NR; s++) {
		x.s[s] = best(res.seq[s], e.cfg.seq_runs);
		x.s_med[s] = median(res.seq[s], e.cfg.seq_runs);
	}
	x.pr[P_READ_BARE] = paired(res.rnd[R_UDAX_READ], res.rnd[R_BARE_READ],
				   e.cfg.runs);
	x.pr[P_WRITE_BARE] = paired(res.rnd[R_UDAX_WRITE],
				    res.rnd[R_BARE_WRITE], e.cfg.runs);
	x.pr[P_READ_KERN] = paired(res.rnd[R_UDAX_READ], res.rnd[R_KERN_READ],
				   e.cfg.runs);
	x.pr[P_WRITE_KERN] = paired(res.rnd[R_UDAX_WRITE],
				    res.rnd[R_KERN_WRITE], e.cfg.runs);
	x.pr[P_SEQ] = paired(res.seq[S_UDAX_READ], res.seq[S_KERN_READ],
			     e.cfg.seq_runs);
	x.pr[P_SEQ_WRITE] = paired(res.seq[S_UDAX_WRITE], res.seq[S_KERN_WRITE],
				   e.cfg.seq_runs);
	teardown(&e);
	report(&e.cfg, &x, &res);
	if (e.cfg.json)
		write_json(&e.cfg, &x, &res);
	return 0;
}
