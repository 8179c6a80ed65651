/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool_fuzz - libFuzzer harness: open mutated pool images.
 *
 * Each input (format: fuzz_image.h) becomes a pool file, one per process,
 * created in /dev/shm if writable (else $TMPDIR or /tmp) and unlinked at
 * once: udax opens it as /proc/self/fd/N, so no crash leaves it behind
 * (where /proc is missing, it keeps its name and is removed at exit).
 * Then:
 *
 *   1. udax_pool_fsck(): every report must be one non-empty line of
 *      printable characters; a rejected image must have at least one
 *      (a reason), a clean one none; fsck must not change the file;
 *   2. udax_pool_open() must agree with fsck: an image fsck finds clean
 *      opens, a foreign one (-EINVAL) is refused as foreign by both, and
 *      open refuses as corrupt (-EUCLEAN) only what fsck found corrupt; an
 *      image fsck found corrupt opens only for a torn journal transaction
 *      (which mount discards);
 *   3. on a pool that opens: list, then the script of operations (open,
 *      create, pread, pwrite, ftruncate, fallocate, mmap with prefault,
 *      stores, msync, munmap, unlink, fsync, fstat, close), each result
 *      checked: an error is one of the documented negative errno values,
 *      a success has the effect it should (data written reads back, sizes
 *      follow, punched ranges read as zeros);
 *   4. close every file and the pool (which must not be busy), and fsck
 *      again: after a session on a pool that opened it must be clean,
 *      and udax_pool_repair() must find nothing to do.
 *
 * Before that, every image is opened with UDAX_POOL_RDONLY: it must open
 * unless fsck found it foreign (or no superblock is sound), every listed
 * file opens (or says -EUCLEAN) and reads, and the pool file is left as
 * it was. An image that does not open read-write goes to
 * udax_pool_repair(): a foreign one must be refused as foreign, and
 * after a repair that returns 0, fsck must be clean and the pool must
 * open read-write.
 *
 * Any violation prints "pool_fuzz: BUG: ..." and aborts, which libFuzzer
 * reports as a crash with the input saved. UDAX_FUZZ_VERBOSE=1 in the
 * environment prints every fsck report and every operation's result.
 *
 * Built with libFuzzer (make fuzz), or with replay_main.c as a plain
 * program that runs inputs given on the command line (ctest replays the
 * regression inputs and the seeds that way).
 *
 * A failure leaves build/fuzz/artifacts/crash-<sha1>. Replay it with
 * build/fuzz/fuzz/pool_fuzz FILE, or see every step with
 * UDAX_FUZZ_VERBOSE=1 build/fuzz/fuzz/pool_fuzz_replay FILE. Once fixed,
 * keep it in fuzz/regressions/ under a name that says what it caught:
 * make fuzz and ctest (fuzz_regressions) replay every file there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <udax/udax.h>

#include "fs/fs.h"
#include "fuzz_image.h"

#define FZ_INPUT_MAX (4u << 20) /* bigger inputs are ignored */
#define FZ_MAX_OPS 64
#define FZ_SLOTS 4
#define FZ_NAMES 16
#define FZ_MAX_FILE ((uint64_t)DAX_FS_MAX_FILE_PAGES * FZ_BLOCK)
#define FZ_RAW_SCRIPT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char pool_path[PATH_MAX];
static int pool_fd = -1; /* the pool file, open for the harness's I/O */
static char named[PATH_MAX]; /* its name, if it could not be unlinked */
static bool verbose;

static void __attribute__((format(printf, 1, 2), noreturn))
bug(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pool_fuzz: BUG: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void remove_pool(void)
{
	if (named[0])
		unlink(named);
}

static void setup(void)
{
	const char *dir = NULL, *v = getenv("UDAX_FUZZ_VERBOSE");

	if (pool_path[0])
		return;
	verbose = v && *v && strcmp(v, "0");
	if (access("/dev/shm", W_OK | X_OK) == 0)
		dir = "/dev/shm";
	if (!dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(named, sizeof(named), "%s/udax-fuzz-XXXXXX", dir);
	pool_fd = mkostemp(named, O_CLOEXEC);
	if (pool_fd < 0)
		bug("creating a pool file in %s: %s", dir, strerror(errno));
	snprintf(pool_path, sizeof(pool_path), "/proc/self/fd/%d", pool_fd);
	if (access(pool_path, R_OK | W_OK) == 0) {
		unlink(named);
		named[0] = 0;
	} else {
		snprintf(pool_path, sizeof(pool_path), "%s", named);
		atexit(remove_pool);
	}
}

/* ---- the input, written as a pool file ---- */

struct fz_case {
	bool packed;
	uint8_t flags;
	uint8_t *img;	     /* packed blocks (a copy, checksums fixed) */
	uint64_t nblocks;    /* packed blocks */
	const uint8_t *raw;  /* raw image */
	size_t raw_len;
	uint64_t file_size;
	bool backup; /* block 0 copied to the file's last block */
	const uint8_t *script;
	size_t script_len;
	uint8_t raw_script[FZ_RAW_SCRIPT];
};

static void write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n <= 0)
			bug("writing the pool file %s: %s", pool_path,
			    n ? strerror(errno) : "short write");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

/* Are the bytes at @off of @fd equal to @buf? */
static bool same_as(int fd, const void *buf, size_t len, uint64_t off)
{
	static char tmp[1 << 16];
	const char *p = buf;

	while (len) {
		size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
		ssize_t got = pread(fd, tmp, n, (off_t)off);

		if (got != (ssize_t)n || memcmp(tmp, p, n))
			return false;
		p += n;
		len -= n;
		off += n;
	}
	return true;
}

/* The regions of the file the input gives (the rest is zeros). */
static void for_each_region(const struct fz_case *c, int fd,
			    bool (*fn)(int, const void *, size_t, uint64_t),
			    bool *ok)
{
	if (!c->packed) {
		*ok = fn(fd, c->raw, c->raw_len, 0);
		return;
	}
	uint64_t head = c->nblocks < FZ_PACK_HEAD ? c->nblocks : FZ_PACK_HEAD;

	*ok = fn(fd, c->img, head * FZ_BLOCK, 0);
	if (*ok && c->nblocks > FZ_PACK_HEAD)
		*ok = fn(fd, c->img + FZ_PACK_HEAD * FZ_BLOCK,
			 (c->nblocks - FZ_PACK_HEAD) * FZ_BLOCK,
			 fz_image_block(FZ_PACK_HEAD) * FZ_BLOCK);
	if (*ok && c->backup)
		*ok = fn(fd, c->img, FZ_BLOCK, c->file_size - FZ_BLOCK);
}

static bool write_region(int fd, const void *buf, size_t len, uint64_t off)
{
	write_all(fd, buf, len, off);
	return true;
}

static void write_pool(const struct fz_case *c)
{
	bool ok;

	/* Empty first: what the last input left must not show through. */
	if (ftruncate(pool_fd, 0))
		bug("emptying %s: %s", pool_path, strerror(errno));
	for_each_region(c, pool_fd, write_region, &ok);
	if (ftruncate(pool_fd, (off_t)c->file_size))
		bug("sizing %s: %s", pool_path, strerror(errno));
}

/* fsck must not write: the file still holds what the input gave. */
static void check_unchanged(const struct fz_case *c)
{
	struct stat st;
	bool ok;

	if (fstat(pool_fd, &st))
		bug("fstat %s: %s", pool_path, strerror(errno));
	if ((uint64_t)st.st_size != c->file_size)
		bug("fsck changed the pool file's size");
	for_each_region(c, pool_fd, same_as, &ok);
	if (!ok)
		bug("fsck or a read-only open wrote to the pool file");
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool parse(const uint8_t *data, size_t size, struct fz_case *c)
{
	size_t tail = size % FZ_BLOCK;

	memset(c, 0, sizeof(*c));
	if (!tail) {
		/* Raw: the operations come from a hash of the input. */
		uint64_t h = 0xcbf29ce484222325ULL ^ size;
		size_t n = size < (64u << 10) ? size : (64u << 10);

		for (size_t i = 0; i < n; i++)
			h = (h ^ data[i]) * 0x100000001b3ULL;
		for (size_t i = 0; i < FZ_RAW_SCRIPT; i += 8) {
			uint64_t v = splitmix(&h);

			memcpy(c->raw_script + i, &v, 8);
		}
		c->raw = data;
		c->raw_len = size;
		c->file_size = size;
		c->script = c->raw_script;
		c->script_len = FZ_RAW_SCRIPT;
		return true;
	}
	c->packed = true;
	c->nblocks = (size - tail) / FZ_BLOCK;
	c->flags = data[size - tail];
	c->script = data + size - tail + 1;
	c->script_len = tail - 1;
	c->file_size = fz_packed_file_size(c->nblocks ? data : NULL,
					   c->nblocks);
	c->img = malloc(c->nblocks * FZ_BLOCK + 1);
	if (!c->img)
		return false;
	memcpy(c->img, data, c->nblocks * FZ_BLOCK);
	if (c->flags & FZ_FLAG_FIXCSUM)
		fz_fix_csums(c->img, c->nblocks);
	c->backup = c->nblocks && fz_packed_backup(c->img) &&
		    fz_image_block(c->nblocks - 1) + 1 < c->file_size / FZ_BLOCK;
	return true;
}

/* ---- fsck ---- */

struct fz_report {
	unsigned int nr;
	bool torn;
	const char *when;
};

static void report(void *ctx, const char *problem)
{
	struct fz_report *r = ctx;

	if (!problem || !*problem)
		bug("fsck (%s): empty report", r->when);
	for (const unsigned char *p = (const void *)problem; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			bug("fsck (%s): report with control character 0x%02x: "
			    "\"%s\"",
			    r->when, *p, problem);
	if (strstr(problem, "torn transaction"))
		r->torn = true;
	r->nr++;
	note("  fsck (%s): %s", r->when, problem);
}

static int fsck(struct fz_report *r, const char *when)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->when = when;
	err = udax_pool_fsck(pool_path, report, r);
	note("fsck (%s): %d, %u problems", when, err, r->nr);
	if (err != 0 && err != -EUCLEAN && err != -EINVAL && err != -ENOMEM)
		bug("fsck (%s) returned %d", when, err);
	if (!err && r->nr)
		bug("fsck (%s) is clean but reported %u problems", when, r->nr);
	if ((err == -EUCLEAN || err == -EINVAL) && !r->nr)
		bug("fsck (%s) returned %d without saying why", when, err);
	return err;
}

/* ---- read-only open and repair ---- */

static int ro_list_cb(void *ctx, const char *name, uint64_t size)
{
	struct udax_pool *pool = ctx;
	static uint8_t buf[16 << 10];
	struct udax_file *f;
	ssize_t n;
	int err;

	if (!*name || strlen(name) > 255 || size > FZ_MAX_FILE)
		bug("read-only list: name of %zu bytes, size %" PRIu64,
		    strlen(name), size);
	err = udax_open(pool, name, O_RDONLY, 0, &f);
	note("read-only open \"%.20s\": %d", name, err);
	if (err == -EUCLEAN || err == -ENOMEM)
		return 0;
	if (err)
		bug("read-only open of listed \"%.20s\": %d", name, err);
	if (udax_open(pool, name, O_RDWR, 0, &f) != -EROFS ||
	    udax_unlink(pool, name) != -EROFS)
		bug("read-only pool: a change did not say -EROFS");
	n = udax_pread(f, buf, sizeof(buf), 0);
	if (n < 0 && n != -ENOMEM)
		bug("read-only pread of \"%.20s\": %zd", name, n);
	if (n >= 0 && (uint64_t)n != (size < sizeof(buf) ? size : sizeof(buf)))
		bug("read-only pread of \"%.20s\" (%" PRIu64 " bytes): %zd",
		    name, size, n);
	if (udax_pwrite(f, buf, 1, 0) != -EROFS)
		bug("read-only pwrite did not say -EROFS");
	err = udax_close(f);
	if (err)
		bug("read-only close: %d", err);
	return 0;
}

/* Open @c read-only, read every file, and check nothing was written. */
static void rdonly_check(const struct fz_case *c, int fsck_err)
{
	struct udax_pool *pool;
	int err = udax_pool_open(pool_path, UDAX_POOL_RDONLY, &pool);

	note("read-only open: %d", err);
	if (err != 0 && err != -EUCLEAN && err != -EINVAL && err != -ENOMEM)
		bug("read-only open returned %d", err);
	if (!err && fsck_err == -EINVAL)
		bug("fsck found the image foreign, it opens read-only");
	if (err && !fsck_err)
		bug("fsck found the image clean, read-only open says %d", err);
	if (err)
		return;
	err = udax_list(pool, ro_list_cb, pool);
	if (err)
		bug("read-only list: %d", err);
	err = udax_pool_close(pool);
	if (err)
		bug("read-only pool close: %d", err);
	check_unchanged(c);
}

/* Repair an image that did not open; if it says 0, it must be sound. */
static void repair_check(int fsck_err)
{
	struct fz_report r = { .when = "repair" };
	struct fz_report after;
	struct udax_pool *pool;
	int err = udax_pool_repair(pool_path, report, &r);

	note("repair: %d, %u actions", err, r.nr);
	if (err != 0 && err != -EUCLEAN && err != -EINVAL && err != -ENOMEM)
		bug("repair returned %d", err);
	if (fsck_err == -EINVAL && err != -EINVAL && err != -ENOMEM)
		bug("fsck found the image foreign, repair says %d", err);
	if (err)
		return;
	if (fsck(&after, "after repair"))
		bug("repair returned 0, fsck is not clean");
	err = udax_pool_open(pool_path, 0, &pool);
	if (err)
		bug("repair returned 0, open says %d", err);
	err = udax_pool_close(pool);
	if (err)
		bug("pool close after repair: %d", err);
}

/* ---- the operations ---- */

struct rd {
	const uint8_t *p;
	size_t n, i;
};

static uint8_t rd8(struct rd *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

static uint16_t rd16(struct rd *r)
{
	return (uint16_t)(rd8(r) | rd8(r) << 8);
}

/* An offset: mostly small, sometimes page-scaled, sometimes at the limit. */
static uint64_t rd_off(struct rd *r)
{
	uint8_t k = rd8(r);
	uint64_t v = rd16(r);

	switch (k % 8) {
	case 0:
		return 0;
	case 5:
		return v << 12;
	case 6:
		return (v << 12) + (FZ_BLOCK - (k >> 3));
	case 7:
		return FZ_MAX_FILE - v;
	default:
		return v;
	}
}

/* A length: mostly small, sometimes up to a few MiB. */
static uint64_t rd_len(struct rd *r, uint64_t small)
{
	uint8_t k = rd8(r);
	uint64_t v = rd16(r);

	if (k % 8 == 7)
		return (v << 8) % (4u << 20);
	return v % (small + 1);
}

struct slot {
	struct udax_file *f;
	int acc; /* O_RDONLY, O_WRONLY, O_RDWR */
};

struct session {
	struct udax_pool *pool;
	struct slot slot[FZ_SLOTS];
	char *names[FZ_NAMES];
	unsigned int nr_names;
	uint8_t pattern;
	uint8_t buf[64 << 10];
	uint8_t chk[64 << 10];
};

static bool readable(const struct slot *s)
{
	return s->acc != O_WRONLY;
}

static bool writable(const struct slot *s)
{
	return s->acc != O_RDONLY;
}

/* The errors a call may return on a pool that opened. */
static void check_err(const char *what, long err)
{
	switch (err) {
	case -EINVAL:
	case -ENOSPC:
	case -ENOENT:
	case -EEXIST:
	case -EFBIG:
	case -ENAMETOOLONG:
	case -EBADF:
	case -EACCES:
	case -EFAULT:
	case -EOPNOTSUPP:
	case -ENOMEM:
		return;
	default:
		bug("%s returned %ld, not a documented error", what, err);
	}
}

static int list_cb(void *ctx, const char *name, uint64_t size)
{
	struct session *s = ctx;
	size_t len = strlen(name);

	if (!len || len > 255)
		bug("list: name of %zu bytes", len);
	if (size > FZ_MAX_FILE)
		bug("list: %s has size %" PRIu64, name, size);
	if (s->nr_names < FZ_NAMES) {
		s->names[s->nr_names] = strdup(name);
		if (s->names[s->nr_names])
			s->nr_names++;
	}
	return 0;
}

static uint64_t file_size(struct slot *sl)
{
	struct stat st;
	int err = udax_fstat(sl->f, &st);

	if (err)
		bug("fstat: %d", err);
	if (st.st_size < 0 || (uint64_t)st.st_size > FZ_MAX_FILE)
		bug("fstat: size %lld", (long long)st.st_size);
	return (uint64_t)st.st_size;
}

/* pread [@off, @off + @len) (@len <= sizeof(s->chk)) into s->chk. */
static ssize_t read_back(struct session *s, struct slot *sl, uint64_t off,
			 size_t len)
{
	ssize_t n = udax_pread(sl->f, s->chk, len, off);

	if (n < 0)
		bug("pread back at %" PRIu64 "+%zu: %zd", off, len, n);
	return n;
}

/* Bytes [@from, @to) (up to 64 KiB of them) must read as zeros. */
static void check_zero(struct session *s, struct slot *sl, uint64_t from,
		       uint64_t to, const char *what)
{
	size_t n;

	if (from >= to || !readable(sl))
		return;
	n = to - from < sizeof(s->chk) ? (size_t)(to - from) : sizeof(s->chk);
	if (read_back(s, sl, from, n) != (ssize_t)n || !fz_all_zero(s->chk, n))
		bug("%s: [%" PRIu64 ", %" PRIu64 ") does not read as zeros",
		    what, from, from + n);
}

static void op_open(struct session *s, struct rd *r, struct slot *sl)
{
	static const int accs[] = { O_RDWR, O_RDWR, O_RDONLY, O_WRONLY };
	uint8_t k = rd8(r), how = rd8(r);
	char name[300];
	int oflags, err;

	if (sl->f)
		return;
	if (k < 200 && s->nr_names) {
		snprintf(name, sizeof(name), "%s",
			 s->names[k % s->nr_names]);
		oflags = accs[how & 3];
		if ((how & 4) && oflags != O_RDONLY)
			oflags |= O_TRUNC;
	} else {
		switch (k % 8) {
		case 0:
			memset(name, 'n', 256); /* too long */
			name[256] = 0;
			break;
		case 1:
			snprintf(name, sizeof(name), "a/b");
			break;
		case 2:
			name[0] = 0;
			break;
		default:
			snprintf(name, sizeof(name), "fuzz%u", how % 8);
		}
		oflags = O_RDWR | O_CREAT | ((how & 8) ? O_EXCL : 0);
	}
	err = udax_open(s->pool, name, oflags, 0644, &sl->f);
	note("open \"%.20s\" 0%o: %d", name, oflags, err);
	if (err) {
		check_err("open", err);
		sl->f = NULL;
		return;
	}
	sl->acc = oflags & O_ACCMODE;
	if ((oflags & O_TRUNC) && file_size(sl))
		bug("open with O_TRUNC left size %" PRIu64, file_size(sl));
	if ((oflags & O_CREAT) && s->nr_names < FZ_NAMES) {
		s->names[s->nr_names] = strdup(name);
		if (s->names[s->nr_names])
			s->nr_names++;
	}
}

static void op_pread(struct session *s, struct rd *r, struct slot *sl)
{
	uint64_t off = rd_off(r), size = file_size(sl);
	size_t len = (size_t)rd_len(r, sizeof(s->buf));
	ssize_t n;

	if (len > sizeof(s->buf))
		len = sizeof(s->buf);
	n = udax_pread(sl->f, s->buf, len, off);
	note("pread %" PRIu64 "+%zu: %zd", off, len, n);
	if (n < 0) {
		check_err("pread", n);
		if (readable(sl) && n == -EBADF)
			bug("pread on a readable file: -EBADF");
		return;
	}
	if (!readable(sl))
		bug("pread on a write-only file: %zd", n);
	if ((size_t)n > len ||
	    (uint64_t)n != (off >= size ? 0 : size - off < len ? size - off
								 : len))
		bug("pread %" PRIu64 "+%zu of a %" PRIu64 "-byte file: %zd",
		    off, len, size, n);
}

static void op_pwrite(struct session *s, struct rd *r, struct slot *sl)
{
	uint64_t off = rd_off(r), before = file_size(sl);
	size_t len = (size_t)rd_len(r, 3 * FZ_BLOCK);
	ssize_t n;

	if (len > sizeof(s->buf))
		len = sizeof(s->buf);
	s->pattern++;
	for (size_t i = 0; i < len; i++)
		s->buf[i] = (uint8_t)(s->pattern + i * 7);
	n = udax_pwrite(sl->f, s->buf, len, off);
	note("pwrite %" PRIu64 "+%zu: %zd", off, len, n);
	if (n < 0) {
		check_err("pwrite", n);
		if (file_size(sl) != before)
			bug("failed pwrite changed the size");
		return;
	}
	if (!writable(sl))
		bug("pwrite on a read-only file: %zd", n);
	/* Short only when the pool fills up (as pwrite(2) on ENOSPC). */
	if ((size_t)n > len || (len && !n))
		bug("pwrite %" PRIu64 "+%zu: wrote %zd", off, len, n);
	if (n && file_size(sl) < off + (size_t)n)
		bug("pwrite %" PRIu64 "+%zu: size %" PRIu64, off, len,
		    file_size(sl));
	if (readable(sl) &&
	    (read_back(s, sl, off, (size_t)n) != n ||
	     memcmp(s->chk, s->buf, (size_t)n)))
		bug("pwrite %" PRIu64 "+%zu: data does not read back", off,
		    len);
	/* A write past EOF: the gap reads as zeros. */
	if (n)
		check_zero(s, sl, before, off, "pwrite past EOF");
}

static void op_truncate(struct session *s, struct rd *r, struct slot *sl)
{
	uint64_t size = rd8(r) & 1 ? rd_off(r) : rd_len(r, 5 * FZ_BLOCK);
	uint64_t before = file_size(sl);
	int err = udax_ftruncate(sl->f, size);

	note("ftruncate %" PRIu64 ": %d", size, err);
	if (err) {
		check_err("ftruncate", err);
		if (file_size(sl) != before)
			bug("failed ftruncate changed the size");
		return;
	}
	if (!writable(sl))
		bug("ftruncate on a read-only file succeeded");
	if (file_size(sl) != size)
		bug("ftruncate %" PRIu64 ": size %" PRIu64, size,
		    file_size(sl));
	/* What grew reads as zeros. */
	check_zero(s, sl, before, size, "ftruncate up");
}

static void op_fallocate(struct session *s, struct rd *r, struct slot *sl)
{
	static const int modes[] = {
		0, UDAX_FALLOC_KEEP_SIZE,
		UDAX_FALLOC_KEEP_SIZE | UDAX_FALLOC_PUNCH_HOLE,
		UDAX_FALLOC_KEEP_SIZE | UDAX_FALLOC_PUNCH_HOLE,
		UDAX_FALLOC_PUNCH_HOLE, 0x10,
	};
	int mode = modes[rd8(r) % 6];
	uint64_t off = rd_off(r), len = rd_len(r, 9 * FZ_BLOCK);
	uint64_t before = file_size(sl), after;
	int err = udax_fallocate(sl->f, mode, off, len);

	note("fallocate %d %" PRIu64 "+%" PRIu64 ": %d", mode, off, len, err);
	after = file_size(sl);
	if (err) {
		check_err("fallocate", err);
		if (after != before)
			bug("failed fallocate changed the size");
		return;
	}
	if (!writable(sl) || !len || (mode & ~3) ||
	    mode == UDAX_FALLOC_PUNCH_HOLE)
		bug("fallocate mode %d %" PRIu64 "+%" PRIu64 " succeeded", mode,
		    off, len);
	if (mode & UDAX_FALLOC_KEEP_SIZE ? after != before
					 : after != (before > off + len
							     ? before
							     : off + len))
		bug("fallocate mode %d %" PRIu64 "+%" PRIu64
		    ": size %" PRIu64 " -> %" PRIu64,
		    mode, off, len, before, after);
	if (mode & UDAX_FALLOC_PUNCH_HOLE)
		check_zero(s, sl, off, off + len < after ? off + len : after,
			   "punch hole");
	else /* what grew reads as zeros */
		check_zero(s, sl, before, after, "fallocate growing the file");
}

static void op_mmap(struct session *s, struct rd *r, struct slot *sl)
{
	uint8_t how = rd8(r);
	uint64_t off = (rd8(r) & 1 ? rd_off(r) : rd_len(r, 16 * FZ_BLOCK)) &
		       ~(uint64_t)(FZ_BLOCK - 1);
	size_t pages = 1 + rd8(r) % 8, len = pages * FZ_BLOCK;
	/* The byte of each page stored to: may be past EOF in the last. */
	size_t in = rd16(r) % FZ_BLOCK;
	bool shared = !(how & 1), wr = how & 2;
	int prot = PROT_READ | (wr ? PROT_WRITE : 0);
	int flags = (shared ? MAP_SHARED : MAP_PRIVATE) |
		    (shared && (how & 4) ? MAP_SYNC : 0);
	uint8_t stored[8] = { 0 };
	bool did[8] = { false };
	char *addr;
	int err;

	err = udax_mmap(sl->f, NULL, len, prot, flags, off, (void **)&addr);
	note("mmap %" PRIu64 "+%zu prot %d flags 0x%x: %d", off, len, prot,
	     flags, err);
	if (err) {
		check_err("mmap", err);
		return;
	}
	for (size_t i = 0; i < pages; i++) {
		bool store = wr && (how >> (3 + i % 5) & 1);
		uint64_t at = off + i * FZ_BLOCK;

		err = udax_prefault(addr + i * FZ_BLOCK, 1, store);
		note("  prefault page %zu %s: %d", i, store ? "w" : "r", err);
		if (err) {
			check_err("prefault", err);
			continue;
		}
		if (at >= file_size(sl))
			bug("prefault beyond EOF succeeded");
		if (store) {
			stored[i] = (uint8_t)(++s->pattern | 1);
			addr[i * FZ_BLOCK + in] = (char)stored[i];
			did[i] = true;
		} else if (shared && readable(sl)) {
			uint8_t v = (uint8_t)addr[i * FZ_BLOCK];

			if (read_back(s, sl, at, 1) != 1 || s->chk[0] != v)
				bug("mapping at %" PRIu64 " reads 0x%02x, "
				    "pread 0x%02x",
				    at, v, s->chk[0]);
		}
	}
	err = udax_msync(addr, len, MS_SYNC);
	if (err)
		bug("msync: %d", err);
	err = udax_munmap(addr, len);
	if (err)
		bug("munmap: %d", err);
	for (size_t i = 0; i < pages; i++) {
		uint64_t at = off + i * FZ_BLOCK;

		at += in;
		if (!did[i] || !shared || !readable(sl) ||
		    at >= file_size(sl))
			continue;
		if (read_back(s, sl, at, 1) != 1 || s->chk[0] != stored[i])
			bug("store through the mapping at %" PRIu64
			    " is not in the file",
			    at);
	}
}

/*
 * pread into / pwrite from a mapping of the file (udax bounces such
 * buffers): map up to 8 pages, populate them all, then move up to their
 * length between the mapping and another range of the file.
 */
static void op_map_io(struct session *s, struct rd *r, struct slot *sl)
{
	uint8_t how = rd8(r);
	uint64_t off = rd_len(r, 16 * FZ_BLOCK) & ~(uint64_t)(FZ_BLOCK - 1);
	uint64_t at = rd8(r) & 1 ? rd_off(r) : rd_len(r, 16 * FZ_BLOCK);
	size_t pages = 1 + rd8(r) % 8, len = pages * FZ_BLOCK;
	size_t n = (size_t)rd16(r) % (len + 1);
	bool into = how & 1; /* pread into the mapping, else pwrite from it */
	int prot = PROT_READ | (into ? PROT_WRITE : 0);
	int flags = how & 2 ? MAP_PRIVATE : MAP_SHARED;
	ssize_t got;
	char *addr;
	int err;

	err = udax_mmap(sl->f, NULL, len, prot, flags, off, (void **)&addr);
	note("mmap for I/O %" PRIu64 "+%zu prot %d flags 0x%x: %d", off, len,
	     prot, flags, err);
	if (err) {
		check_err("mmap", err);
		return;
	}
	/* Populated first: a fault past EOF would be a SIGBUS. */
	err = udax_prefault(addr, n, into);
	note("  prefault %zu bytes: %d", n, err);
	if (err) {
		check_err("prefault", err);
		n = 0;
	}
	if (n && into) {
		/* What the file holds there now, read the ordinary way. */
		got = readable(sl) ? udax_pread(sl->f, s->buf, n, at) : -EBADF;
		if (got >= 0) {
			ssize_t m = udax_pread(sl->f, addr, n, at);

			note("  pread into the mapping %" PRIu64 "+%zu: %zd", at,
			     n, m);
			if (m != got || memcmp(addr, s->buf, (size_t)got))
				bug("pread into a mapping: %zd bytes, not the "
				    "%zd pread gives",
				    m, got);
		}
	} else if (n) {
		memcpy(s->buf, addr, n);
		got = udax_pwrite(sl->f, addr, n, at);
		note("  pwrite from the mapping %" PRIu64 "+%zu: %zd", at, n,
		     got);
		if (got < 0)
			check_err("pwrite", got);
		else if (got == 0 || (size_t)got > n)
			bug("pwrite from a mapping: %zd of %zu", got, n);
		else if (readable(sl) &&
			 (read_back(s, sl, at, (size_t)got) != got ||
			  memcmp(s->chk, s->buf, (size_t)got)))
			bug("pwrite from a mapping: data does not read back");
	}
	err = udax_munmap(addr, len);
	if (err)
		bug("munmap: %d", err);
}

/*
 * Map 2 MiB at a 2 MiB-aligned offset and touch its first page: a PMD
 * fault when the file has an aligned 2 MiB extent there and EOF does not
 * cut it, else the 4 KiB fallback.
 */
static void op_map_huge(struct session *s, struct rd *r, struct slot *sl)
{
	const size_t len = 2u << 20;
	uint8_t how = rd8(r);
	uint64_t off = (uint64_t)(how >> 4) * len;
	bool wr = (how & 1) && writable(sl);
	char *addr;
	int err;

	err = udax_mmap(sl->f, NULL, len, PROT_READ | (wr ? PROT_WRITE : 0),
			MAP_SHARED | (how & 2 ? MAP_SYNC : 0), off,
			(void **)&addr);
	note("mmap 2 MiB at %" PRIu64 ": %d", off, err);
	if (err) {
		check_err("mmap", err);
		return;
	}
	err = udax_prefault(addr + (how & 4 ? len - FZ_BLOCK : 0), 1, wr);
	note("  prefault %s: %d", wr ? "w" : "r", err);
	if (err) {
		check_err("prefault", err);
	} else {
		size_t i = how & 4 ? len - FZ_BLOCK : 0;
		uint8_t v = (uint8_t)addr[i];

		if (wr)
			addr[i] = (char)(v = (uint8_t)(++s->pattern | 1));
		err = udax_msync(addr, len, MS_SYNC);
		if (err)
			bug("msync: %d", err);
		if (readable(sl) &&
		    (read_back(s, sl, off + i, 1) != 1 || s->chk[0] != v))
			bug("2 MiB mapping at %" PRIu64 ": byte %zu is 0x%02x, "
			    "pread says 0x%02x",
			    off, i, v, s->chk[0]);
	}
	err = udax_munmap(addr, len);
	if (err)
		bug("munmap: %d", err);
}

static void op_unlink(struct session *s, struct rd *r)
{
	uint8_t k = rd8(r);
	const char *name = s->nr_names ? s->names[k % s->nr_names] : "fuzz0";
	int err = udax_unlink(s->pool, name);

	note("unlink \"%.20s\": %d", name, err);
	if (err)
		check_err("unlink", err);
}

static void close_slot(struct slot *sl)
{
	int err;

	if (!sl->f)
		return;
	err = udax_close(sl->f);
	if (err)
		bug("close: %d", err);
	sl->f = NULL;
}

static void run_ops(struct session *s, const uint8_t *script, size_t len)
{
	struct rd r = { .p = script, .n = len };
	struct udax_stats st;
	int err;

	for (unsigned int nr = 0; nr < FZ_MAX_OPS && r.i < r.n; nr++) {
		uint8_t op = rd8(&r);
		struct slot *sl = &s->slot[(op >> 4) % FZ_SLOTS];

		switch (op % 13) {
		case 0:
		case 1:
			op_open(s, &r, sl);
			continue;
		case 2:
			op_unlink(s, &r);
			continue;
		default:
			break;
		}
		if (!sl->f) {
			op_open(s, &r, sl);
			continue;
		}
		switch (op % 13) {
		case 3:
			op_pread(s, &r, sl);
			break;
		case 4:
		case 5:
			op_pwrite(s, &r, sl);
			break;
		case 6:
			op_truncate(s, &r, sl);
			break;
		case 7:
			op_fallocate(s, &r, sl);
			break;
		case 8:
			op_mmap(s, &r, sl);
			break;
		case 11:
			op_map_io(s, &r, sl);
			break;
		case 12:
			op_map_huge(s, &r, sl);
			break;
		case 9:
			err = udax_fsync(sl->f);
			note("fsync: %d", err);
			if (err)
				bug("fsync: %d", err);
			break;
		default:
			close_slot(sl);
			break;
		}
	}
	err = udax_pool_stats(s->pool, &st, sizeof(st));
	if (err || st.pool_free_blocks > st.pool_blocks)
		bug("pool stats: %d, %" PRIu64 " free of %" PRIu64, err,
		    st.pool_free_blocks, st.pool_blocks);
}

/* A hash of the listing (names and sizes, in order), to compare two. */
static int hash_cb(void *ctx, const char *name, uint64_t size)
{
	uint64_t *h = ctx;

	for (const char *p = name;; p++) {
		*h = (*h ^ (uint8_t)*p) * 0x100000001b3ULL;
		if (!*p)
			break;
	}
	for (int i = 0; i < 8; i++)
		*h = (*h ^ (uint8_t)(size >> (8 * i))) * 0x100000001b3ULL;
	return 0;
}

static uint64_t list_hash(struct udax_pool *pool)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int err = udax_list(pool, hash_cb, &h);

	if (err)
		bug("list: %d", err);
	return h;
}

static void session(struct udax_pool *pool, const struct fz_case *c)
{
	struct session *s = calloc(1, sizeof(*s));
	uint64_t seen;
	int err;

	if (!s)
		bug("out of memory");
	s->pool = pool;
	err = udax_list(pool, list_cb, s);
	if (err)
		bug("list: %d", err);
	note("list: %u files", s->nr_names);
	run_ops(s, c->script, c->script_len);
	for (unsigned int i = 0; i < FZ_SLOTS; i++)
		close_slot(&s->slot[i]);
	for (unsigned int i = 0; i < s->nr_names; i++)
		free(s->names[i]);
	free(s);
	seen = list_hash(pool);
	err = udax_pool_close(pool);
	if (err)
		bug("pool close with every file closed: %d", err);
	/* What the session left is what the next open finds. */
	err = udax_pool_open(pool_path, 0, &pool);
	if (err)
		bug("reopening the pool after a session: %d", err);
	if (list_hash(pool) != seen)
		bug("the files (names, sizes) differ after reopening");
	err = udax_pool_close(pool);
	if (err)
		bug("pool close: %d", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_report before, after;
	struct udax_pool *pool = NULL;
	struct fz_case c;
	int fsck_err, err;

	if (size > FZ_INPUT_MAX)
		return 0;
	setup();
	if (!parse(data, size, &c))
		return 0;
	note("input: %s, %zu bytes, file %" PRIu64 " bytes, flags 0x%x, "
	     "script %zu bytes",
	     c.packed ? "packed" : "raw", size, c.file_size, c.flags,
	     c.script_len);
	write_pool(&c);

	fsck_err = fsck(&before, "before open");
	check_unchanged(&c);
	if (c.file_size >= FZ_BLOCK)
		rdonly_check(&c, fsck_err);

	err = udax_pool_open(pool_path, 0, &pool);
	note("open: %d", err);
	if (c.file_size < FZ_BLOCK) {
		/* No block at all: the device layer refuses it. */
		if (err != -EINVAL || fsck_err != -EINVAL)
			bug("an empty image: fsck %d, open %d", fsck_err, err);
		free(c.img);
		return 0;
	}
	if (err != 0 && err != -EUCLEAN && err != -EINVAL && err != -ENOMEM)
		bug("open returned %d", err);
	if (!fsck_err && err && err != -ENOMEM)
		bug("fsck found the image clean, open says %d", err);
	if ((fsck_err == -EINVAL) != (err == -EINVAL) && err != -ENOMEM &&
	    fsck_err != -ENOMEM)
		bug("fsck says %d, open %d: not the same verdict", fsck_err,
		    err);
	if (err == -EUCLEAN && fsck_err != -EUCLEAN)
		bug("open found the image corrupt, fsck said %d", fsck_err);
	if (!err && fsck_err == -EUCLEAN && !before.torn)
		bug("fsck found the image corrupt (%u problems, no torn "
		    "journal), yet it opens",
		    before.nr);
	if (err) {
		if (err != -ENOMEM)
			repair_check(fsck_err);
		free(c.img);
		return 0;
	}

	session(pool, &c);
	if (fsck(&after, "after the session")) {
		if (!verbose) {
			verbose = true;
			fsck(&after, "after the session");
		}
		bug("fsck is not clean after a session on a pool that opened");
	}
	{
		struct fz_report r = { .when = "repair of a clean pool" };

		err = udax_pool_repair(pool_path, report, &r);
		if (err != -ENOMEM && (err || r.nr))
			bug("repair of a clean pool: %d, %u actions", err,
			    r.nr);
	}
	free(c.img);
	return 0;
}
