/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preload_threads - libudax-preload.so under threads: several threads
 * open, close, duplicate, read, write, lock, map, rename and list pool
 * files and host descriptors (pipes, /dev/null, host files) at once, and
 * check what a race in the wrappers would break:
 *  - read(2)s on one shared description return disjoint ranges, and
 *    together the whole file;
 *  - O_APPEND writes through separate descriptions never overwrite each
 *    other;
 *  - a descriptor number the kernel gives to a pipe after a pool file is
 *    closed (close, close_range) is the pipe's: what is written comes out
 *    of the pipe, and fstat says FIFO;
 *  - pwrite then pread gives the data back; the close of one duplicate
 *    leaves the others working; dup2 of a host descriptor over a pool
 *    one makes it the host's;
 *  - flock(LOCK_EX) through separate descriptions excludes;
 *  - stores through a mapping are read back by pread after msync;
 *  - a file renamed, truncated and unlinked while open keeps working;
 *  - readdir of the mount lists the files that exist throughout;
 *  - a signal handler's write(2) to a pipe works at any point;
 *  - no descriptor is leaked (/proc/self/fd);
 *  - under ThreadSanitizer: the calls its runtime makes itself while it
 *    builds a report (its symbolizer's open, fcntl, lstat, readlink, mmap,
 *    munmap, close, which reach the library as their next definition),
 *    made with synchronisation invisible to TSan as it is then, report
 *    nothing: such a report would deadlock on the runtime's own thread
 *    registry lock (a hang in one run in three before).
 * Run by preload_threads.sh with LD_PRELOAD set, UDAX_MOUNT in the
 * environment; argv: [-s SEED] [-l] HOSTDIR. Randomised: prints its
 * seed. Short by default, -l for minutes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

#define NR_WORKERS 3
#define NR_RECORDS 4096 /* records of the shared-read file */
#define REC 16
#define NR_APPENDS 300 /* per thread */
#define SLOT 65536     /* each worker's part of the shared file */
#define CR_BASE 1024   /* close_range numbers start here */
#define CR_STEP 16
#define CR_NR 8

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
/*
 * udax's SIGSEGV handler allocates and takes locks by design (the signal
 * is synchronous: see tests/api_util.h); every other signal-unsafe call
 * (in this test's SIGUSR1 handler, and the wrappers it reaches) is still
 * reported. Mappings: ThreadSanitizer takes each mmap() for a write of
 * the range, and cannot see that the MMU orders a fault's mapping before
 * the access that retries (api_util.h again).
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "atexit_sleep_ms=0";
}

const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "signal:dax_vm_handle_fault\nrace:vm_mmap\n";
}
#endif

static char mnt[256], host[256];
static double deadline;
static atomic_bool stop;
static pthread_barrier_t barrier;
static int sig_pipe[2];
static atomic_long sig_count;

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "FAIL: " __VA_ARGS__);                         \
		fputc('\n', stderr);                                           \
		t_failures++;                                                  \
		if (t_failures > 20)                                           \
			exit(T_FAIL);                                          \
	} while (0)

static void P(char *buf, size_t n, const char *fmt, int i)
{
	int len = snprintf(buf, n, "%s/", mnt);

	snprintf(buf + len, n - (size_t)len, fmt, i);
}

static bool time_up(void)
{
	return atomic_load(&stop) || t_now() > deadline;
}

/* ---- phase 0 (ThreadSanitizer only): the runtime's own calls ---- */

#if defined(__SANITIZE_THREAD__)
/* Dynamic annotations exported by the TSan runtime (no header has them). */
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);

static atomic_int rt_step;

/* Changes the tables the host paths consult (descriptors, mappings),
 * then waits, with no synchronisation TSan would see (relaxed). */
static void *rt_mapper(void *arg)
{
	char path[512];
	void *p;
	int fd;

	(void)arg;
	snprintf(path, sizeof(path), "%s/rtmap", mnt);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0 && !ftruncate(fd, 4096));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	atomic_store_explicit(&rt_step, 1, memory_order_relaxed);
	while (atomic_load_explicit(&rt_step, memory_order_relaxed) != 2)
		sched_yield();
	REQUIRE(!munmap(p, 4096));
	close(fd);
	return NULL;
}

/*
 * TSan's symbolizer (libbacktrace, while the runtime holds its thread
 * registry lock to build a report) opens the binaries and maps views of
 * them through the library, with interceptors ignored: locks and atomics
 * are invisible to TSan, plain accesses still checked. A race the
 * library's host paths show in that state is reported from inside the
 * report and deadlocks. Ignoring synchronisation (AnnotateIgnoreSync) is
 * the nearest state a program can ask for: a race there is printed.
 */
static void runtime_calls(void)
{
	char buf[PATH_MAX];
	struct stat st;
	pthread_t t;
	void *anon, *view;
	int fd;

	anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(anon != MAP_FAILED);
	REQUIRE(!pthread_create(&t, NULL, rt_mapper, NULL));
	while (atomic_load_explicit(&rt_step, memory_order_relaxed) != 1)
		sched_yield();
	AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) ||
	    lstat("/proc/self/exe", &st) ||
	    readlink("/proc/self/exe", buf, sizeof(buf)) <= 0)
		FAIL("open/fcntl/lstat/readlink of /proc/self/exe: %s",
		     strerror(errno));
	view = fd < 0 ? MAP_FAILED
		      : mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	if (view == MAP_FAILED || munmap(view, 4096))
		FAIL("a view of /proc/self/exe: %s", strerror(errno));
	if (munmap(anon, 4096))
		FAIL("munmap of an anonymous page: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
	atomic_store_explicit(&rt_step, 2, memory_order_relaxed);
	REQUIRE(!pthread_join(t, NULL));
}
#else
static void runtime_calls(void)
{
}
#endif

/* ---- phase 1: one shared offset, appends through separate opens ---- */

static int seq_fd;
static atomic_uchar seen[NR_RECORDS];
static char append_path[512];

static void fill_record(unsigned char *r, uint64_t a, uint64_t b)
{
	memcpy(r, &a, 8);
	memcpy(r + 8, &b, 8);
}

static void shared_reads(int tid)
{
	unsigned char buf[REC * 8];
	struct t_rng rng;
	ssize_t n;

	t_rng_init(&rng, t_seed + (uint64_t)tid);
	for (;;) {
		size_t want = REC * (1 + t_rand_below(&rng, 8));

		n = read(seq_fd, buf, want);
		if (n <= 0)
			break;
		if (n % REC) {
			FAIL("read(%zu) of the shared description gave %zd "
			     "bytes, not whole records",
			     want, n);
			return;
		}
		for (ssize_t i = 0; i < n; i += REC) {
			uint64_t k, nk;

			memcpy(&k, buf + i, 8);
			memcpy(&nk, buf + i + 8, 8);
			if (k >= NR_RECORDS || nk != ~k) {
				FAIL("shared read: record garbled (%#llx %#llx)",
				     (unsigned long long)k,
				     (unsigned long long)nk);
				return;
			}
			if (atomic_fetch_add(&seen[k], 1))
				FAIL("two read(2)s on one description both "
				     "returned record %llu: their ranges "
				     "overlap",
				     (unsigned long long)k);
		}
	}
	if (n < 0)
		FAIL("read of the shared description: %s", strerror(errno));
}

static void appends(int tid)
{
	unsigned char r[REC];
	int fd = open(append_path, O_WRONLY | O_APPEND);

	if (fd < 0) {
		FAIL("open O_APPEND: %s", strerror(errno));
		return;
	}
	for (uint64_t i = 0; i < NR_APPENDS; i++) {
		fill_record(r, (uint64_t)tid, i);
		if (write(fd, r, REC) != REC)
			FAIL("O_APPEND write: %s", strerror(errno));
	}
	close(fd);
}

static void check_appends(int nthreads)
{
	unsigned char r[REC];
	int fd = open(append_path, O_RDONLY);
	int *count = calloc((size_t)nthreads * NR_APPENDS, sizeof(int));
	struct stat st;

	REQUIRE(fd >= 0 && count);
	REQUIRE(!fstat(fd, &st));
	if (st.st_size != (off_t)nthreads * NR_APPENDS * REC)
		FAIL("%d threads appended %d records each through their own "
		     "O_APPEND descriptions: the file has %lld bytes, not "
		     "%d (appends overwrote each other)",
		     nthreads, NR_APPENDS, (long long)st.st_size,
		     nthreads * NR_APPENDS * REC);
	while (read(fd, r, REC) == REC) {
		uint64_t t, i;

		memcpy(&t, r, 8);
		memcpy(&i, r + 8, 8);
		if (t < (uint64_t)nthreads && i < NR_APPENDS)
			count[t * NR_APPENDS + i]++;
	}
	for (int k = 0; k < nthreads * NR_APPENDS; k++)
		if (count[k] != 1) {
			FAIL("appended record (thread %d, %d) found %d times",
			     k / NR_APPENDS, k % NR_APPENDS, count[k]);
			break;
		}
	free(count);
	close(fd);
}

/* ---- phase 2: everything at once ---- */

static int shared_fd;	   /* one description, positional I/O only */
static atomic_int cr_next; /* the close_range thread's current range */

static void fill(unsigned char *b, size_t n, uint64_t tag)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(tag * 131 + i * 7 + (i >> 8));
}

/* A pipe that just got a number a pool descriptor may have had: what is
 * written must come out of it. */
static void check_pipe(int rfd, int wfd, const char *how)
{
	uint64_t tok = (uint64_t)rfd << 32 | (uint64_t)wfd, got = 0;
	struct stat st;

	if (fstat(wfd, &st) || !S_ISFIFO(st.st_mode))
		FAIL("%s: fstat of pipe descriptor %d says mode %o: taken "
		     "for a pool file",
		     how, wfd, st.st_mode);
	if (write(wfd, &tok, 8) != 8) {
		FAIL("%s: write to pipe descriptor %d: %s", how, wfd,
		     strerror(errno));
		return;
	}
	if (read(rfd, &got, 8) != 8 || got != tok)
		FAIL("%s: the pipe (descriptors %d, %d) did not give back "
		     "what was written to it (%s): a pool file got it",
		     how, rfd, wfd, strerror(errno));
}

static void op_fd_reuse(int tid, uint64_t it)
{
	char path[512];
	int fd, p[2];

	P(path, sizeof(path), "reuse%d", tid);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		FAIL("open %s: %s", path, strerror(errno));
		return;
	}
	if (pwrite(fd, &it, 8, 0) != 8)
		FAIL("pwrite %s: %s", path, strerror(errno));
	close(fd);
	if (pipe2(p, O_NONBLOCK)) {
		FAIL("pipe: %s", strerror(errno));
		return;
	}
	check_pipe(p[0], p[1], "pipe after close of a pool file");
	close(p[0]);
	close(p[1]);
}

static void op_dup(int tid, struct t_rng *rng)
{
	char path[512];
	uint64_t tag = t_rand(rng), got;
	int fd, d1, d2, d3, h, h2;
	struct stat st;

	P(path, sizeof(path), "dup%d", tid);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	h = open("/dev/null", O_RDWR);
	h2 = open("/dev/null", O_RDWR);
	if (fd < 0 || h < 0 || h2 < 0) {
		FAIL("open %s or /dev/null: %s", path, strerror(errno));
		return;
	}
	if (write(fd, &tag, 8) != 8)
		FAIL("write %s: %s", path, strerror(errno));
	d1 = dup(fd);
	d2 = dup2(fd, h);   /* a host descriptor becomes a pool one */
	d3 = dup3(fd, h2, O_CLOEXEC);
	if (d1 < 0 || d2 != h || d3 != h2) {
		FAIL("dup/dup2/dup3 of a pool descriptor: %d %d %d (%s)", d1,
		     d2, d3, strerror(errno));
		return;
	}
	close(fd);
	if (pread(d1, &got, 8, 0) != 8 || got != tag)
		FAIL("pread through dup after close of the original");
	close(d1);
	if (lseek(d2, 0, SEEK_CUR) != 8)
		FAIL("dup2'd descriptor lost the shared offset: %lld",
		     (long long)lseek(d2, 0, SEEK_CUR));
	/* /dev/null over the pool descriptor: writes go to /dev/null. */
	h = open("/dev/null", O_WRONLY);
	if (h < 0 || dup2(h, d2) != d2) {
		FAIL("dup2 /dev/null over pool descriptor %d: %s", d2,
		     strerror(errno));
		return;
	}
	close(h);
	if (fstat(d2, &st) || !S_ISCHR(st.st_mode))
		FAIL("descriptor %d is /dev/null again, fstat says mode %o", d2,
		     st.st_mode);
	if (write(d2, "overwrite", 9) != 9)
		FAIL("write to /dev/null through %d: %s", d2, strerror(errno));
	if (fstat(d3, &st) || st.st_size != 8)
		FAIL("the pool file grew to %lld bytes: a write to /dev/null "
		     "reached it",
		     (long long)st.st_size);
	if (pread(d3, &got, 8, 0) != 8 || got != tag)
		FAIL("the last duplicate (%d) does not read the data", d3);
	close(d2);
	close(d3);
}

static void op_rw(int tid, struct t_rng *rng, int priv)
{
	unsigned char w[4096], r[4096];
	size_t len = 1 + t_rand_below(rng, sizeof(w));
	off_t off = (off_t)t_rand_below(rng, SLOT - len);
	uint64_t tag = t_rand(rng);
	int fd = t_rand_below(rng, 2) ? priv : shared_fd;
	off_t base = fd == shared_fd ? (off_t)tid * SLOT : 0;

	fill(w, len, tag);
	if (pwrite(fd, w, len, base + off) != (ssize_t)len) {
		FAIL("pwrite: %s", strerror(errno));
		return;
	}
	memset(r, 0, len);
	if (pread(fd, r, len, base + off) != (ssize_t)len ||
	    memcmp(r, w, len))
		FAIL("pread of %zu bytes at %lld after pwrite (%s "
		     "descriptor): different data",
		     len, (long long)(base + off),
		     fd == shared_fd ? "shared" : "private");
	/* The private one's offset is this thread's alone. */
	if (fd == priv) {
		if (lseek(priv, base + off, SEEK_SET) != base + off ||
		    read(priv, r, len) != (ssize_t)len || memcmp(r, w, len))
			FAIL("lseek+read after pwrite: different data");
	}
}

static void op_locks(int tid, struct t_rng *rng)
{
	static atomic_int holders;
	struct flock fl = {.l_type = F_WRLCK,
			   .l_whence = SEEK_SET,
			   .l_start = (off_t)tid * SLOT,
			   .l_len = SLOT};
	char path[512];
	int fd;

	if (fcntl(shared_fd, F_SETLK, &fl))
		FAIL("F_SETLK: %s", strerror(errno));
	fl.l_type = F_WRLCK;
	if (fcntl(shared_fd, F_GETLK, &fl) || fl.l_type != F_UNLCK)
		FAIL("F_GETLK: our own lock conflicts");
	fl.l_type = F_UNLCK;
	if (fcntl(shared_fd, F_SETLK, &fl))
		FAIL("F_SETLK F_UNLCK: %s", strerror(errno));

	snprintf(path, sizeof(path), "%s/lockfile", mnt);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		FAIL("open lockfile: %s", strerror(errno));
		return;
	}
	if (flock(fd, LOCK_EX)) {
		FAIL("flock LOCK_EX: %s", strerror(errno));
	} else {
		if (atomic_fetch_add(&holders, 1))
			FAIL("two descriptions hold flock LOCK_EX at once");
		if (t_rand_below(rng, 4) == 0)
			sched_yield();
		atomic_fetch_sub(&holders, 1);
		if (t_rand_below(rng, 2))
			flock(fd, LOCK_UN);
	}
	close(fd); /* releases the lock if still held */
}

static void op_mmap(int tid, struct t_rng *rng)
{
	size_t len = 4096 * (1 + t_rand_below(rng, 8));
	uint64_t tag = t_rand(rng);
	unsigned char *p, buf[4096];
	char path[512];
	int fd;

	P(path, sizeof(path), "map%d", tid);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)len)) {
		FAIL("open/ftruncate %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		FAIL("mmap %s: %s", path, strerror(errno));
		close(fd);
		return;
	}
	for (size_t off = 0; off < len; off += 4096)
		fill(p + off, 64, tag + off);
	if (msync(p, len, MS_SYNC))
		FAIL("msync: %s", strerror(errno));
	for (size_t off = 0; off < len; off += 4096) {
		unsigned char want[64];

		fill(want, 64, tag + off);
		if (pread(fd, buf, 64, (off_t)off) != 64 ||
		    memcmp(buf, want, 64))
			FAIL("pread after a store through a mapping and "
			     "msync: different data at %zu",
			     off);
		/* and a pwrite seen through the mapping */
		fill(want, 64, ~tag + off);
		if (pwrite(fd, want, 64, (off_t)off + 64) != 64 ||
		    memcmp(p + off + 64, want, 64))
			FAIL("a pwrite is not seen through the mapping");
	}
	if (munmap(p, len))
		FAIL("munmap: %s", strerror(errno));
	close(fd);
}

static void op_rename(int tid, struct t_rng *rng)
{
	char a[512], b[512];
	uint64_t tag = t_rand(rng), got = 0;
	struct stat st;
	int fd;

	P(a, sizeof(a), "ren%d", tid);
	P(b, sizeof(b), "ren%d.new", tid);
	fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		FAIL("open %s: %s", a, strerror(errno));
		return;
	}
	if (pwrite(fd, &tag, 8, 0) != 8 || pwrite(fd, &tag, 8, 4096) != 8)
		FAIL("pwrite %s: %s", a, strerror(errno));
	if (rename(a, b))
		FAIL("rename of a file in use: %s", strerror(errno));
	if (ftruncate(fd, 16) || fstat(fd, &st) || st.st_size != 16)
		FAIL("ftruncate of a renamed file in use: size %lld (%s)",
		     (long long)st.st_size, strerror(errno));
	if (unlink(b))
		FAIL("unlink of a file in use: %s", strerror(errno));
	if (pread(fd, &got, 8, 0) != 8 || got != tag)
		FAIL("an unlinked file's descriptor lost its data");
	close(fd);
	if (!access(b, F_OK) || !access(a, F_OK))
		FAIL("%s or %s exists after unlink", a, b);
}

static void op_readdir(int tid)
{
	bool dot = false, dotdot = false, keep[NR_WORKERS + 1] = {0};
	struct dirent *de;
	DIR *d = opendir(mnt);

	(void)tid;
	if (!d) {
		FAIL("opendir of the mount: %s", strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		int k;

		dot |= !strcmp(de->d_name, ".");
		dotdot |= !strcmp(de->d_name, "..");
		if (sscanf(de->d_name, "keep%d", &k) == 1 && k >= 0 &&
		    k <= NR_WORKERS)
			keep[k] = true;
	}
	closedir(d);
	if (!dot || !dotdot)
		FAIL("readdir of the mount: no . or ..");
	for (int k = 0; k <= NR_WORKERS; k++)
		if (!keep[k])
			FAIL("readdir of the mount did not list keep%d", k);
}

static void op_host(int tid, struct t_rng *rng)
{
	unsigned char w[512], r[512];
	char path[512];
	uint64_t tag = t_rand(rng);
	int fd;

	snprintf(path, sizeof(path), "%s/host%d", host, tid);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		FAIL("open host %s: %s", path, strerror(errno));
		return;
	}
	fill(w, sizeof(w), tag);
	if (pwrite(fd, w, sizeof(w), 0) != sizeof(w) ||
	    pread(fd, r, sizeof(r), 0) != sizeof(r) ||
	    memcmp(w, r, sizeof(w)))
		FAIL("host file pwrite/pread: different data");
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || read(fd, r, 1) != 0)
		FAIL("read of /dev/null did not return 0");
	if (fd >= 0)
		close(fd);
}

static void *worker(void *arg)
{
	int tid = (int)(intptr_t)arg, priv;
	char path[512];
	struct t_rng rng;

	pthread_barrier_wait(&barrier);
	shared_reads(tid);
	appends(tid);
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier); /* the checks of phase 1 */

	t_rng_init(&rng, t_seed * 31 + (uint64_t)tid);
	P(path, sizeof(path), "priv%d", tid);
	priv = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(priv >= 0);
	for (uint64_t it = 0; !time_up(); it++) {
		switch (t_rand_below(&rng, 9)) {
		case 0:
			op_fd_reuse(tid, it);
			break;
		case 1:
			op_dup(tid, &rng);
			break;
		case 2:
		case 3:
			op_rw(tid, &rng, priv);
			break;
		case 4:
			op_locks(tid, &rng);
			break;
		case 5:
			op_mmap(tid, &rng);
			break;
		case 6:
			op_rename(tid, &rng);
			break;
		case 7:
			op_readdir(tid);
			break;
		case 8:
			op_host(tid, &rng);
			break;
		}
	}
	close(priv);
	return NULL;
}

/*
 * close_range over pool descriptors while another thread dups a pipe to
 * the lowest free number at or above the range: the numbers it gets are
 * the pipe's. Each range is closed once and never refilled (no
 * legitimate way for the pipe's number to become a pool descriptor).
 */
static void *closer(void *arg)
{
	char path[512];
	int fd, lim = (int)(intptr_t)arg;

	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	snprintf(path, sizeof(path), "%s/close", mnt);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	REQUIRE(fd >= 0);
	for (int k = 0; !time_up(); k++) {
		int base = CR_BASE + k * CR_STEP, got[CR_NR], n;
		bool all = true;

		if (base + CR_STEP >= lim)
			break;
		atomic_store(&cr_next, base);
		for (n = 0; n < CR_NR; n++) {
			got[n] = fcntl(fd, F_DUPFD_CLOEXEC, base);
			if (got[n] < 0) {
				FAIL("F_DUPFD of a pool descriptor: %s",
				     strerror(errno));
				break;
			}
			all &= got[n] >= base && got[n] < base + CR_NR;
		}
		if (!all || n < CR_NR) {
			/* the piper got in first: not this range */
			for (int i = 0; i < n; i++)
				close(got[i]);
			continue;
		}
		if (close_range((unsigned)base, (unsigned)(base + CR_NR - 1),
				0))
			FAIL("close_range: %s", strerror(errno));
	}
	atomic_store(&cr_next, -1);
	close(fd);
	return NULL;
}

static void *piper(void *arg)
{
	int p[2];

	(void)arg;
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	REQUIRE(!pipe2(p, O_NONBLOCK));
	while (!time_up()) {
		int base = atomic_load(&cr_next), n;

		if (base < 0)
			break;
		if (!base)
			continue;
		n = fcntl(p[1], F_DUPFD_CLOEXEC, base);
		if (n < 0) {
			FAIL("F_DUPFD of a pipe: %s", strerror(errno));
			break;
		}
		if (n < base + CR_NR)
			check_pipe(p[0], n, "pipe dup'd after close_range");
		close(n);
	}
	close(p[0]);
	close(p[1]);
	return NULL;
}

/* Signals at random points of the workers: the handler's write(2) and
 * read(2) of a pipe go through the wrappers. */
static void on_usr1(int sig)
{
	int e = errno;
	char c = 'x';

	(void)sig;
	if (write(sig_pipe[1], &c, 1) == 1 && read(sig_pipe[0], &c, 1) == 1)
		atomic_fetch_add(&sig_count, 1);
	errno = e;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	REQUIRE(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

static void setup_files(void)
{
	unsigned char r[REC];
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/seq", mnt);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	for (uint64_t k = 0; k < NR_RECORDS; k++) {
		fill_record(r, k, ~k);
		REQUIRE(write(fd, r, REC) == REC);
	}
	REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
	seq_fd = fd;
	snprintf(append_path, sizeof(append_path), "%s/append", mnt);
	fd = open(append_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/shared", mnt);
	shared_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(shared_fd >= 0);
	for (int k = 0; k <= NR_WORKERS; k++) {
		P(path, sizeof(path), "keep%d", k);
		fd = open(path, O_WRONLY | O_CREAT, 0644);
		REQUIRE(fd >= 0);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	pthread_t th[NR_WORKERS + 2];
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
	const char *m = getenv("UDAX_MOUNT");
	struct rlimit rl;
	int fds0, fds1, lim;
	double secs;

	t_init(argc, argv);
	if (!m || optind != argc - 1) {
		fprintf(stderr,
			"usage: UDAX_POOL=.. UDAX_MOUNT=.. LD_PRELOAD=.. %s "
			"[-s SEED] [-l] HOSTDIR\n",
			argv[0]);
		return T_FAIL;
	}
	snprintf(mnt, sizeof(mnt), "%s", m);
	snprintf(host, sizeof(host), "%s", argv[optind]);
	secs = t_long ? 120 : 2;
	t_watchdog((unsigned)secs + 120);
	/* Room for the close_range ranges. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 8192) {
			rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	lim = getrlimit(RLIMIT_NOFILE, &rl) ? 1024 : (int)rl.rlim_cur;
	REQUIRE(!pipe2(sig_pipe, O_NONBLOCK));
	REQUIRE(!sigaction(SIGUSR1, &sa, NULL));
	runtime_calls();
	setup_files();
	fds0 = count_fds();

	REQUIRE(!pthread_barrier_init(&barrier, NULL, NR_WORKERS + 3));
	for (int i = 0; i < NR_WORKERS; i++)
		REQUIRE(!pthread_create(&th[i], NULL, worker,
					(void *)(intptr_t)i));
	REQUIRE(!pthread_create(&th[NR_WORKERS], NULL, closer,
				(void *)(intptr_t)lim));
	REQUIRE(!pthread_create(&th[NR_WORKERS + 1], NULL, piper, NULL));
	/* phase 1 */
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	for (int k = 0; k < NR_RECORDS; k++)
		if (atomic_load(&seen[k]) != 1) {
			FAIL("record %d was read %d times by the concurrent "
			     "read(2)s of one description (want once)",
			     k, atomic_load(&seen[k]));
			break;
		}
	check_appends(NR_WORKERS);
	close(seq_fd);
	/* phase 2, with signals */
	deadline = t_now() + secs;
	pthread_barrier_wait(&barrier);
	while (!time_up()) {
		usleep(2000);
		for (int i = 0; i < NR_WORKERS; i++)
			pthread_kill(th[i], SIGUSR1);
	}
	for (int i = 0; i < NR_WORKERS + 2; i++)
		pthread_join(th[i], NULL);
	close(shared_fd);
	fds1 = count_fds();
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	if (fds1 != fds0 - 2) /* seq and shared are closed */
		FAIL("%d descriptors open at the start, %d at the end (want "
		     "%d): leaked",
		     fds0, fds1, fds0 - 2);
	if (!atomic_load(&sig_count))
		FAIL("no signal handler's write(2) and read(2) went through");
	printf("preload_threads: %.1f s, %ld signals handled\n", secs,
	       (long)atomic_load(&sig_count));
	return t_done("preload_threads");
}
