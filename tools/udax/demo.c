/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * demo.c - `udax demo [POOL]`: udax at work in a few seconds.
 *
 * A sparse 256 MiB file is mapped three ways (a shared mapping aligned
 * for 2 MiB faults, a shared mapping 4 KiB off so every fault is a 4 KiB
 * one, and a private one). Worker threads read and write random pages
 * through them (each store writes a stamp naming its page), while another
 * thread truncates the file down and back up and punches holes in it. An
 * access beyond EOF gets SIGBUS, and so does a store that needs a block
 * when the pool has none left; the workers catch it as a DAX program
 * would and count the two apart (a page the truncate had cut off, or a
 * page inside the file: out of space). Then msync, a check that every page reads the same through the
 * mapping and through udax_pread and holds only zeros or stamps of its
 * own page, a checksum, a close and a reopen of the pool, the same
 * checksum again, and the table of what happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

#define DEMO_FILE_SIZE (256ULL << 20)
#define DEMO_POOL_SIZE (1ULL << 30)
#define DEMO_PAGES (DEMO_FILE_SIZE / 4096)
#define DEMO_WORKERS 4
#define DEMO_SECONDS 4.0

struct demo {
	struct udax_file *f;
	uint64_t *shared;   /* 2 MiB-aligned mapping of the whole file */
	uint64_t *offset;   /* shared, from page 1: 4 KiB faults only */
	uint64_t *private;  /* MAP_PRIVATE */
	atomic_bool stop;
	/* Odd while the last quarter is cut off (bumped around the cut). */
	atomic_ulong cut_gen;
	atomic_ulong loads, stores, sigbus_eof, sigbus_inside, truncates,
		punches, shrink_errors;
	atomic_int shrink_err; /* the first error of the shrinker */
};

static __thread sigjmp_buf *bus_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (bus_jmp)
		siglongjmp(*bus_jmp, 1);
	abort();
}

/* One access; false if it raised SIGBUS (beyond EOF, or no space). */
static bool access_word(volatile uint64_t *p, bool store, uint64_t v,
			uint64_t *out)
{
	sigjmp_buf jb;

	/*
	 * No mask to save: the SIGBUS handler runs with SA_NODEFER and an
	 * empty sa_mask, so jumping out of it leaves the mask as it was
	 * (and saving it would cost a system call per access).
	 */
	if (sigsetjmp(jb, 0)) {
		bus_jmp = NULL;
		return false;
	}
	bus_jmp = &jb;
	if (store)
		*p = v;
	else
		*out = *p;
	bus_jmp = NULL;
	return true;
}

static uint64_t stamp(uint64_t page, uint64_t n)
{
	return (page << 32) | 0x80000000ULL | (n & 0x7fffffff);
}

static bool stamp_ok(uint64_t page, uint64_t w)
{
	return !w || ((w >> 32) == page && (w & 0x80000000ULL));
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct worker {
	struct demo *d;
	int id;
	pthread_t t;
	unsigned long bad;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct demo *d = w->d;
	uint64_t seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1), n = 0;

	while (!atomic_load(&d->stop)) {
		uint64_t r = rnd(&seed), page = r % DEMO_PAGES, v = 0;
		unsigned int word = (unsigned int)(r >> 32) % 512;
		int how = (int)((r >> 48) % 16);
		volatile uint64_t *p;
		bool store = how < 6 || how == 13;
		unsigned long gen;

		if (how == 15 && page > 0)
			p = &d->offset[(page - 1) * 512 + word];
		else if (how == 13 || how == 14)
			p = &d->private[page * 512 + word];
		else
			p = &d->shared[page * 512 + word];
		gen = atomic_load(&d->cut_gen);
		if (!access_word(p, store, stamp(page, ++n), &v)) {
			/*
			 * Beyond EOF only if the page is in the quarter the
			 * truncate cuts and a cut overlapped the access;
			 * inside the file, a SIGBUS means no block was left.
			 */
			if (page >= DEMO_PAGES * 3 / 4 &&
			    ((gen & 1) || gen != atomic_load(&d->cut_gen)))
				atomic_fetch_add(&d->sigbus_eof, 1);
			else
				atomic_fetch_add(&d->sigbus_inside, 1);
			continue;
		}
		if (store) {
			atomic_fetch_add(&d->stores, 1);
		} else {
			atomic_fetch_add(&d->loads, 1);
			if (!stamp_ok(page, v))
				w->bad++;
		}
	}
	return NULL;
}

static void shrink_error(struct demo *d, int err)
{
	int none = 0;

	if (!err)
		return;
	atomic_fetch_add(&d->shrink_errors, 1);
	atomic_compare_exchange_strong(&d->shrink_err, &none, err);
}

static void *shrinker_fn(void *arg)
{
	struct demo *d = arg;
	uint64_t seed = 12345;

	while (!atomic_load(&d->stop)) {
		uint64_t r = rnd(&seed);

		if (r & 1) {
			/* Cut the last quarter off, then grow back. */
			atomic_fetch_add(&d->cut_gen, 1);
			shrink_error(d, udax_ftruncate(d->f,
						       DEMO_FILE_SIZE * 3 / 4));
			usleep(2000);
			shrink_error(d, udax_ftruncate(d->f, DEMO_FILE_SIZE));
			atomic_fetch_add(&d->cut_gen, 1);
			atomic_fetch_add(&d->truncates, 1);
		} else {
			uint64_t off = (r >> 8) % (DEMO_FILE_SIZE - (4 << 20));

			shrink_error(d, udax_fallocate(d->f,
						       UDAX_FALLOC_PUNCH_HOLE |
							       UDAX_FALLOC_KEEP_SIZE,
						       off & ~4095ULL, 1 << 20));
			atomic_fetch_add(&d->punches, 1);
		}
		usleep(50000);
	}
	return NULL;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

/* Checksum of the whole file through udax_pread. */
static uint64_t file_checksum(struct udax_file *f)
{
	static char buf[1 << 20];
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint64_t off = 0; off < DEMO_FILE_SIZE; off += sizeof(buf)) {
		ssize_t n = udax_pread(f, buf, sizeof(buf), off);

		if (n != (ssize_t)sizeof(buf))
			die_err(n < 0 ? (int)n : -EIO, "reading back");
		h = fnv(h, buf, sizeof(buf));
	}
	return h;
}

static void map(struct demo *d, uint64_t **p, size_t len, int flags,
		uint64_t off)
{
	void *a;
	int err = udax_mmap(d->f, NULL, len, PROT_READ | PROT_WRITE, flags, off,
			    &a);

	if (err)
		die_err(err, "udax_mmap");
	*p = a;
}

/*
 * The fault counters, grouped so that the rows add up. The engine counts
 * a 4 KiB fault (PTE) per attempt, also after a 2 MiB attempt fell back
 * to 4 KiB, and a 2 MiB one (PMD) only when it mapped 2 MiB; every
 * attempt of either size that reached the filesystem is a read or a
 * write, so reads + writes = PTE + PMD + the 2 MiB attempts that mapped
 * the huge zero page or failed there (computed). mkwrite (a store to a clean page already mapped
 * read-only) is no fault of either size and is counted apart.
 *
 * One table serves the text rows and the JSON members: a row's key (in
 * the "faults" object when @fault), its label and note in the text
 * table, where its value is in struct udax_stats.
 */
#define STAT_PMD_FAILED SIZE_MAX /* computed: see above */

static const struct stat_row {
	const char *key;
	const char *label;
	const char *why;
	size_t off; /* of the counter in struct udax_stats */
	bool fault;
} stat_rows[] = {
#define ST(f) offsetof(struct udax_stats, f)
    {"pte", "4 KiB faults (PTE)", "", ST(faults_pte), true},
    {"pte_after_pmd_fallback", "  of them after a 2 MiB try fell back",
     "(PMD fallback)", ST(faults_fallback), true},
    {"pmd", "2 MiB faults that mapped 2 MiB (PMD)", "", ST(faults_pmd), true},
    {"pmd_zero_or_failed", "2 MiB faults: the zero page, or failed",
     "(reads + writes - PTE - PMD)", STAT_PMD_FAILED, true},
    {"read", "reads", "", ST(faults_read), true},
    {"write", "writes", "(reads + writes: the 3 above)", ST(faults_write),
     true},
    {"hole", "faults that mapped the zero page (hole)", "", ST(faults_hole),
     true},
    {"cow", "faults that copied a private page (COW)", "", ST(faults_cow),
     true},
    {"major", "faults that allocated blocks (major)", "", ST(faults_major),
     true},
    {"hole_fills", "zero pages replaced by a block (hole fill)", "",
     ST(hole_fills), true},
    {"mkwrite", "clean pages made writable (mkwrite)",
     "(no fault: counted apart)", ST(faults_mkwrite), true},
    {"sigbus", "SIGBUS raised by the engine", "", ST(sigbus), true},
    {"writeback_pages", "pages written back (msync, fsync)", "",
     ST(writeback_pages), false},
    {"lock_waits", "entry lock waits", "", ST(lock_waits), false},
    {"lock_wakeups", "  wake-ups", "", ST(lock_wakeups), false},
    {"pmd_conflicts", "2 MiB grabs refused: 4 KiB entries there",
     "(PMD conflicts)", ST(pmd_conflicts), false},
    {"pmd_downgrades", "2 MiB zero entries split for 4 KiB faults",
     "(PMD downgrades)", ST(pmd_downgrades), false},
    {"map_calls", "mmap/mprotect calls", "", ST(map_calls), false},
    {"journal_commits", "journal commits", "", ST(journal_commits), false},
#undef ST
};

static uint64_t stat_value(const struct udax_stats *st,
			   const struct stat_row *r)
{
	uint64_t rw, served;

	if (r->off != STAT_PMD_FAILED)
		return *(const uint64_t *)((const char *)st + r->off);
	rw = st->faults_read + st->faults_write;
	served = st->faults_pte + st->faults_pmd;
	return rw > served ? rw - served : 0;
}

static void print_fault_table(const struct udax_stats *st, double seconds)
{
	fprintf(cli.out, "  %-44s %10s\n", "what", "count");
	fprintf(cli.out, "  %-44s %10s\n",
		"--------------------------------------------", "----------");
	for (size_t i = 0; i < sizeof(stat_rows) / sizeof(stat_rows[0]); i++) {
		const struct stat_row *r = &stat_rows[i];

		fprintf(cli.out, "  %-44s %10llu%s%s\n", r->label,
			(unsigned long long)stat_value(st, r),
			*r->why ? "  " : "", r->why);
	}
	fprintf(cli.out, "  %-44s %10.2f\n", "time (s)", seconds);
}

static void json_fault_stats(const struct udax_stats *st)
{
	bool in_faults = false;

	for (size_t i = 0; i < sizeof(stat_rows) / sizeof(stat_rows[0]); i++) {
		const struct stat_row *r = &stat_rows[i];

		if (r->fault != in_faults) {
			if (r->fault)
				json_obj("faults");
			else
				json_obj_end();
			in_faults = r->fault;
		}
		json_u64(r->key, stat_value(st, r));
	}
	if (in_faults)
		json_obj_end();
	json_u64("pool_free_blocks", st->pool_free_blocks);
}

static void check(int err, const char *what)
{
	if (err)
		die_err(err, "%s", what);
}

int cmd_demo(int argc, char **argv)
{
	const char *path = argc > 0 ? argv[0] : "udax-demo.pool";
	struct worker w[DEMO_WORKERS];
	struct udax_pool *pool;
	struct udax_stats st;
	struct sigaction sa;
	struct demo d;
	pthread_t shrinker;
	unsigned long bad = 0, mismatch = 0;
	uint64_t sum1, sum2;
	double t0, t1;
	bool created = false, pass;
	char a[32];
	int err;

	memset(&d, 0, sizeof(d));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL))
		die_err(-errno, "sigaction");

	if (!*path)
		die("the pool path is empty");
	err = udax_pool_open(path, 0, &pool);
	if (err == -ENOENT) {
		err = udax_pool_create(path, DEMO_POOL_SIZE, &pool);
		created = true;
	}
	if (err)
		die("cannot %s pool '%s': %s", created ? "create" : "open",
		    shown(path), pool_error(err));
	if (!cli.json)
		fprintf(cli.out,
			"udax demo: pool %s (%s), a sparse %llu MiB file, %d "
			"threads for %.0f s\n",
			shown(path), created ? "created, 1 GiB sparse" : "reused",
			DEMO_FILE_SIZE >> 20, DEMO_WORKERS, DEMO_SECONDS);
	check(udax_open(pool, "demo", O_RDWR | O_CREAT | O_TRUNC, 0644, &d.f),
	      "udax_open");
	check(udax_ftruncate(d.f, DEMO_FILE_SIZE), "udax_ftruncate");
	map(&d, &d.shared, DEMO_FILE_SIZE, MAP_SHARED, 0);
	map(&d, &d.offset, DEMO_FILE_SIZE - 4096, MAP_SHARED, 4096);
	map(&d, &d.private, DEMO_FILE_SIZE, MAP_PRIVATE, 0);

	t0 = now_sec();
	for (int i = 0; i < DEMO_WORKERS; i++) {
		w[i] = (struct worker){ .d = &d, .id = i };
		err = pthread_create(&w[i].t, NULL, worker_fn, &w[i]);
		if (err)
			die_err(-err, "pthread_create");
	}
	err = pthread_create(&shrinker, NULL, shrinker_fn, &d);
	if (err)
		die_err(-err, "pthread_create");
	usleep((useconds_t)(DEMO_SECONDS * 1e6));
	atomic_store(&d.stop, true);
	for (int i = 0; i < DEMO_WORKERS; i++) {
		err = pthread_join(w[i].t, NULL);
		if (err)
			die_err(-err, "pthread_join");
		bad += w[i].bad;
	}
	err = pthread_join(shrinker, NULL);
	if (err)
		die_err(-err, "pthread_join");
	if (atomic_load(&d.shrink_err))
		die_err(atomic_load(&d.shrink_err),
			"truncate or punch failed %lu time%s",
			atomic_load(&d.shrink_errors),
			plural(atomic_load(&d.shrink_errors)));
	check(udax_ftruncate(d.f, DEMO_FILE_SIZE), "udax_ftruncate");

	check(udax_msync(d.shared, DEMO_FILE_SIZE, MS_SYNC), "udax_msync");
	/* The mapping and pread must agree on every page. */
	for (uint64_t pg = 0; pg < DEMO_PAGES; pg++) {
		uint64_t buf[512];

		if (udax_pread(d.f, buf, sizeof(buf), pg * 4096) != sizeof(buf))
			die("udax_pread failed at page %llu",
			    (unsigned long long)pg);
		if (memcmp(buf, &d.shared[pg * 512], sizeof(buf)))
			mismatch++;
		for (int k = 0; k < 512; k++)
			if (!stamp_ok(pg, buf[k]))
				bad++;
	}
	sum1 = file_checksum(d.f);
	t1 = now_sec();
	pool_stats(pool, &st);
	check(udax_munmap(d.shared, DEMO_FILE_SIZE), "udax_munmap");
	check(udax_munmap(d.offset, DEMO_FILE_SIZE - 4096), "udax_munmap");
	check(udax_munmap(d.private, DEMO_FILE_SIZE), "udax_munmap");
	check(udax_close(d.f), "udax_close");
	check(udax_pool_close(pool), "udax_pool_close");

	/* Reopen: the data is still there. */
	err = udax_pool_open(path, 0, &pool);
	if (err)
		die("cannot reopen pool '%s': %s", shown(path), pool_error(err));
	check(udax_open(pool, "demo", O_RDONLY, 0, &d.f), "reopening the file");
	sum2 = file_checksum(d.f);
	check(udax_close(d.f), "udax_close");
	check(udax_pool_close(pool), "udax_pool_close");

	pass = !mismatch && !bad && sum1 == sum2;
	if (cli.json) {
		char hex[2][20];

		snprintf(hex[0], sizeof(hex[0]), "%016llx",
			 (unsigned long long)sum1);
		snprintf(hex[1], sizeof(hex[1]), "%016llx",
			 (unsigned long long)sum2);
		json_begin();
		json_bool("pass", pass);
		json_name("pool", path);
		json_bool("created", created);
		json_f64("seconds", t1 - t0);
		json_u64("loads", atomic_load(&d.loads));
		json_u64("stores", atomic_load(&d.stores));
		json_u64("sigbus_beyond_eof", atomic_load(&d.sigbus_eof));
		json_u64("sigbus_no_space", atomic_load(&d.sigbus_inside));
		json_u64("truncates", atomic_load(&d.truncates));
		json_u64("punches", atomic_load(&d.punches));
		json_u64("pages_differ", mismatch);
		json_u64("foreign_words", bad);
		json_str("checksum", hex[0]);
		json_str("checksum_after_reopen", hex[1]);
		json_fault_stats(&st);
		json_end();
	} else {
		fprintf(cli.out,
			"  %lu loads, %lu stores, %lu truncates, %lu punches\n",
			atomic_load(&d.loads), atomic_load(&d.stores),
			atomic_load(&d.truncates), atomic_load(&d.punches));
		fprintf(cli.out,
			"  SIGBUS caught: %lu beyond EOF (a page the truncate "
			"had cut off), %lu out of space (a page inside the "
			"file, no free block: %s free at the end)\n",
			atomic_load(&d.sigbus_eof),
			atomic_load(&d.sigbus_inside),
			human_size(st.pool_free_blocks * 4096, a, sizeof(a)));
		fprintf(cli.out,
			"  check through udax_pread: %s (%lu pages differ, "
			"%lu foreign words)\n",
			!mismatch && !bad ? "ok" : "FAILED", mismatch, bad);
		fprintf(cli.out,
			"  after reopening the pool: checksum %016llx %s\n",
			(unsigned long long)sum2,
			sum1 == sum2 ? "matches: the data persisted"
				     : "DIFFERS");
		fprintf(cli.out, "\n");
		print_fault_table(&st, t1 - t0);
	}
	if (!pass) {
		/* The report is the output; the verdict goes to stderr. */
		output_end();
		fprintf(stderr, "udax demo: the data check failed\n");
		exit(1);
	}
	return 0;
}
