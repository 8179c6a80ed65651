/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * demo.c - `udax demo [POOL]`: udax at work in a few seconds.
 *
 * A sparse 256 MiB file is mapped three ways (a shared mapping aligned
 * for 2 MiB faults, a shared mapping 4 KiB off so every fault is a 4 KiB
 * one, and a private one). Worker threads read and write random pages
 * through them (each store writes a stamp naming its page), while another
 * thread truncates the file down and back up and punches holes in it; an
 * access beyond EOF gets SIGBUS, which the workers catch as a DAX program
 * would. Then msync, a check that every page reads the same through the
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
	atomic_ulong loads, stores, sigbus, truncates, punches;
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

/* One access; false if it raised SIGBUS (the page was beyond EOF). */
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

		if (how == 15 && page > 0)
			p = &d->offset[(page - 1) * 512 + word];
		else if (how == 13 || how == 14)
			p = &d->private[page * 512 + word];
		else
			p = &d->shared[page * 512 + word];
		if (!access_word(p, store, stamp(page, ++n), &v)) {
			atomic_fetch_add(&d->sigbus, 1);
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

static void *shrinker_fn(void *arg)
{
	struct demo *d = arg;
	uint64_t seed = 12345;

	while (!atomic_load(&d->stop)) {
		uint64_t r = rnd(&seed);

		if (r & 1) {
			/* Cut the last quarter off, then grow back. */
			udax_ftruncate(d->f, DEMO_FILE_SIZE * 3 / 4);
			usleep(2000);
			udax_ftruncate(d->f, DEMO_FILE_SIZE);
			atomic_fetch_add(&d->truncates, 1);
		} else {
			uint64_t off = (r >> 8) % (DEMO_FILE_SIZE - (4 << 20));

			udax_fallocate(d->f,
				       UDAX_FALLOC_PUNCH_HOLE |
					       UDAX_FALLOC_KEEP_SIZE,
				       off & ~4095ULL, 1 << 20);
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
	bool created = false;
	int err;

	memset(&d, 0, sizeof(d));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	err = udax_pool_open(path, 0, &pool);
	if (err == -ENOENT) {
		err = udax_pool_create(path, DEMO_POOL_SIZE, &pool);
		created = true;
	}
	if (err)
		die("cannot open pool '%s': %s", path, pool_error(err));
	if (!cli.json)
		printf("udax demo: pool %s (%s), a sparse %llu MiB file, %d "
		       "threads for %.0f s\n",
		       path, created ? "created" : "reused",
		       DEMO_FILE_SIZE >> 20, DEMO_WORKERS, DEMO_SECONDS);
	err = udax_open(pool, "demo", O_RDWR | O_CREAT | O_TRUNC, 0644, &d.f);
	if (err)
		die_err(err, "udax_open");
	err = udax_ftruncate(d.f, DEMO_FILE_SIZE);
	if (err)
		die_err(err, "udax_ftruncate");
	map(&d, &d.shared, DEMO_FILE_SIZE, MAP_SHARED, 0);
	map(&d, &d.offset, DEMO_FILE_SIZE - 4096, MAP_SHARED, 4096);
	map(&d, &d.private, DEMO_FILE_SIZE, MAP_PRIVATE, 0);

	t0 = now_sec();
	for (int i = 0; i < DEMO_WORKERS; i++) {
		w[i] = (struct worker){ .d = &d, .id = i };
		pthread_create(&w[i].t, NULL, worker_fn, &w[i]);
	}
	pthread_create(&shrinker, NULL, shrinker_fn, &d);
	usleep((useconds_t)(DEMO_SECONDS * 1e6));
	atomic_store(&d.stop, true);
	for (int i = 0; i < DEMO_WORKERS; i++) {
		pthread_join(w[i].t, NULL);
		bad += w[i].bad;
	}
	pthread_join(shrinker, NULL);
	udax_ftruncate(d.f, DEMO_FILE_SIZE);

	err = udax_msync(d.shared, DEMO_FILE_SIZE, MS_SYNC);
	if (err)
		die_err(err, "udax_msync");
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
	udax_pool_stats(pool, &st, sizeof(st));
	udax_munmap(d.shared, DEMO_FILE_SIZE);
	udax_munmap(d.offset, DEMO_FILE_SIZE - 4096);
	udax_munmap(d.private, DEMO_FILE_SIZE);
	udax_close(d.f);
	err = udax_pool_close(pool);
	if (err)
		die_err(err, "udax_pool_close");

	/* Reopen: the data is still there. */
	err = udax_pool_open(path, 0, &pool);
	if (err)
		die("cannot reopen pool '%s': %s", path, pool_error(err));
	err = udax_open(pool, "demo", O_RDONLY, 0, &d.f);
	if (err)
		die_err(err, "reopening the file");
	sum2 = file_checksum(d.f);
	udax_close(d.f);
	udax_pool_close(pool);

	if (cli.json) {
		print_stats(&st, t1 - t0);
	} else {
		printf("  %lu loads, %lu stores, %lu SIGBUS beyond EOF caught, "
		       "%lu truncates, %lu punches\n",
		       atomic_load(&d.loads), atomic_load(&d.stores),
		       atomic_load(&d.sigbus), atomic_load(&d.truncates),
		       atomic_load(&d.punches));
		printf("  check through udax_pread: %s (%lu pages differ, "
		       "%lu foreign words)\n",
		       !mismatch && !bad ? "ok" : "FAILED", mismatch, bad);
		printf("  after reopening the pool: checksum %016llx %s\n",
		       (unsigned long long)sum2,
		       sum1 == sum2 ? "matches: the data persisted"
				    : "DIFFERS");
		printf("\n");
		print_stats(&st, t1 - t0);
	}
	if (mismatch || bad || sum1 != sum2)
		die("the data check failed");
	return 0;
}
