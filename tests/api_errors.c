/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_errors - every public call, given bad arguments, returns the -errno
 * udax.h documents and changes nothing: NULL pointers, empty, too long
 * (256 bytes) and '/'-holding names, O_EXCL on an existing file, a
 * read-only handle that pwrite (-EBADF), ftruncate, fallocate and a
 * shared writable mmap (-EACCES) refuse, bad mmap flags, protections and
 * offsets, munmap of memory that is not a udax mapping or of part of one,
 * msync of unmapped memory (-ENOMEM), fallocate modes (-EOPNOTSUPP,
 * -EINVAL), pool_create too small (-EINVAL, no file left) or over an
 * existing path (-EEXIST, the file untouched), pool_open of a missing
 * path (-ENOENT), of random bytes (-EINVAL, untouched), a second opener
 * in this process and in a forked child (-EBUSY), pool_close with a file
 * or a mapping still open (-EBUSY, then 0 once they are gone).
 *
 * "Changes nothing" is checked by what can be seen afterwards: names
 * listed, sizes, contents, mappings that still work, and a pool that
 * closes (a failed call that leaked a reference would keep it -EBUSY)
 * and passes fsck.
 *
 * Bugs it would catch: a check missing or in the wrong order (a call
 * that half-happens before failing: a file created by an open that then
 * fails, a pool file left behind or truncated by a failed create, a
 * mapping reference leaked by a failed mmap), a wrong errno, a crash on
 * NULL, a lock that a second opener or child does not see.
 */
#include <limits.h>

#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL

static int count_names(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

static int nr_files(struct udax_pool *pool)
{
	int n = 0;

	REQUIRE(udax_list(pool, count_names, &n) == 0);
	return n;
}

static int stop_at_first(void *ctx, const char *name, uint64_t size)
{
	(void)ctx;
	(void)name;
	(void)size;
	return 42;
}

static uint64_t fsize(struct udax_file *f)
{
	struct stat st;

	REQUIRE(udax_fstat(f, &st) == 0);
	return (uint64_t)st.st_size;
}

/* Write @len bytes of a seeded pattern to the host file @path. */
static void host_fill(const char *path, size_t len, uint64_t seed)
{
	struct t_rng rng;
	char *buf = malloc(len);
	int fd;

	REQUIRE(buf);
	t_rng_init(&rng, seed);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)t_rand(&rng);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, buf, len) == (ssize_t)len);
	close(fd);
	free(buf);
}

/* Is the host file @path still exactly the pattern host_fill wrote? */
static bool host_same(const char *path, size_t len, uint64_t seed)
{
	struct t_rng rng;
	char *buf = malloc(len + 1);
	bool same;
	int fd;

	REQUIRE(buf);
	fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0);
	same = read(fd, buf, len + 1) == (ssize_t)len;
	close(fd);
	t_rng_init(&rng, seed);
	for (size_t i = 0; same && i < len; i++)
		same = buf[i] == (char)t_rand(&rng);
	free(buf);
	return same;
}

static void check_pools(const char *dir)
{
	char path[300], missing[300], rnd[300], small[300], tiny[300];
	struct udax_pool *pool = (struct udax_pool *)&pool, *p2;
	const uint64_t seed = t_seed;
	struct udax_file *f;
	struct stat sb;
	pid_t pid;
	int status;

	t_path(path, sizeof(path), "pool");
	t_path(missing, sizeof(missing), "missing/pool");
	t_path(rnd, sizeof(rnd), "random");
	t_path(small, sizeof(small), "small");
	t_path(tiny, sizeof(tiny), "tiny");
	(void)dir;

	/* pool_create: bad arguments, no file left behind. */
	CHECK_EQ(udax_pool_create(NULL, 64 * MiB, &pool), -EINVAL);
	CHECK_EQ(udax_pool_create("", 64 * MiB, &pool), -EINVAL);
	CHECK_EQ(udax_pool_create(path, 64 * MiB, NULL), -EINVAL);
	CHECK_EQ(udax_pool_create(small, 4 * MiB - 1, &pool), -EINVAL);
	CHECK_EQ(udax_pool_create(small, 0, &pool), -EINVAL);
	CHECK(stat(small, &sb) != 0 && errno == ENOENT);
	CHECK_EQ(udax_pool_create(missing, 64 * MiB, &pool), -ENOENT);
	CHECK(pool == (struct udax_pool *)&pool); /* not written on error */

	/* ... over an existing path: -EEXIST, the file untouched. */
	host_fill(rnd, 1 * MiB + 100, seed);
	CHECK_EQ(udax_pool_create(rnd, 64 * MiB, &pool), -EEXIST);
	CHECK(host_same(rnd, 1 * MiB + 100, seed));

	/* pool_open: missing, not a pool, bad flags. */
	CHECK_EQ(udax_pool_open(NULL, 0, &pool), -EINVAL);
	CHECK_EQ(udax_pool_open("", 0, &pool), -EINVAL);
	CHECK_EQ(udax_pool_open(missing, 0, &pool), -ENOENT);
	CHECK_EQ(udax_pool_open(small, 0, &pool), -ENOENT);
	CHECK_EQ(udax_pool_open(rnd, 0, &pool), -EINVAL);
	CHECK(host_same(rnd, 1 * MiB + 100, seed));
	host_fill(tiny, 100, seed + 1); /* less than one block */
	CHECK_EQ(udax_pool_open(tiny, 0, &pool), -EINVAL);
	CHECK(host_same(tiny, 100, seed + 1));
	CHECK_EQ(udax_pool_fsck(rnd, NULL, NULL), -EINVAL);
	CHECK_EQ(udax_pool_fsck(missing, NULL, NULL), -ENOENT);
	CHECK_EQ(udax_pool_fsck(NULL, NULL, NULL), -EINVAL);
	CHECK(host_same(rnd, 1 * MiB + 100, seed));
	CHECK(pool == (struct udax_pool *)&pool);

	/* The smallest pool is 4 MiB. */
	REQUIRE(udax_pool_create(small, 4 * MiB, &p2) == 0);
	CHECK_EQ(udax_pool_close(p2), 0);
	CHECK_EQ(t_fsck(small), 0);

	REQUIRE(udax_pool_create(path, 64 * MiB, &pool) == 0);
	CHECK_EQ(udax_pool_open(path, 0x100, &p2), -EINVAL); /* unknown */
	/* Opening is exclusive, in this process ... */
	CHECK_EQ(udax_pool_open(path, 0, &p2), -EBUSY);
	CHECK_EQ(udax_pool_create(path, 64 * MiB, &p2), -EEXIST);
	/*
	 * ... and in another one (a new program: a forked child of a process
	 * with a pool open may not use udax at all, -EPERM).
	 */
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct udax_pool *cp;

		if (udax_pool_open(path, 0, &cp) != -EPERM)
			_exit(9);
		execl("/proc/self/exe", "api_errors", "--try-open", path,
		      (char *)NULL);
		_exit(8);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);

	/* pool_close refuses while a file is open, or a mapping exists. */
	void *m;

	REQUIRE(udax_open(pool, "f", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, PG) == 0);
	REQUIRE(udax_mmap(f, NULL, PG, PROT_READ, MAP_SHARED, 0, &m) == 0);
	CHECK_EQ(udax_pool_close(pool), -EBUSY);
	CHECK_EQ(udax_close(f), 0);
	CHECK_EQ(udax_pool_close(pool), -EBUSY); /* the mapping */
	CHECK_EQ(*(volatile char *)m, 0);	  /* still works */
	CHECK_EQ(udax_munmap(m, PG), 0);
	CHECK_EQ(udax_pool_close(NULL), -EINVAL);
	CHECK_EQ(udax_pool_close(pool), 0);
	CHECK_EQ(t_fsck(path), 0);

	/* Closed: another process may open it now. */
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct udax_pool *cp;
		int err = udax_pool_open(path, 0, &cp);

		_exit(err == 0 ? 0 : 10 + (err < 0 ? -err : 99));
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

static void check_files(struct udax_pool *pool)
{
	struct udax_file *f = NULL, *ro, *wo, *keep = (struct udax_file *)&f;
	char name[300], buf[64];
	struct udax_stats st;
	struct stat sb;
	int n;

	REQUIRE(udax_open(pool, "data", O_RDWR | O_CREAT, 0644, &f) == 0);
	memset(buf, 0xab, sizeof(buf));
	REQUIRE(udax_pwrite(f, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
	n = nr_files(pool);
	CHECK_EQ(n, 1);

	/* Names. */
	memset(name, 'n', 256);
	name[256] = 0;
	CHECK_EQ(udax_open(pool, name, O_RDWR | O_CREAT, 0644, &keep),
		 -ENAMETOOLONG);
	CHECK_EQ(udax_unlink(pool, name), -ENAMETOOLONG);
	CHECK_EQ(udax_open(pool, "", O_RDWR | O_CREAT, 0644, &keep), -EINVAL);
	CHECK_EQ(udax_open(pool, "a/b", O_RDWR | O_CREAT, 0644, &keep),
		 -EINVAL);
	CHECK_EQ(udax_open(pool, "/", O_RDWR | O_CREAT, 0644, &keep), -EINVAL);
	CHECK_EQ(udax_open(pool, NULL, O_RDWR | O_CREAT, 0644, &keep),
		 -EINVAL);
	CHECK_EQ(udax_open(NULL, "x", O_RDWR | O_CREAT, 0644, &keep), -EINVAL);
	CHECK_EQ(udax_open(pool, "x", O_RDWR | O_CREAT, 0644, NULL), -EINVAL);
	CHECK_EQ(udax_unlink(pool, ""), -EINVAL);
	CHECK_EQ(udax_unlink(pool, "a/b"), -EINVAL);
	CHECK_EQ(udax_unlink(pool, NULL), -EINVAL);
	CHECK_EQ(udax_unlink(NULL, "data"), -EINVAL);
	CHECK_EQ(udax_unlink(pool, "nothere"), -ENOENT);
	/* Flags. */
	CHECK_EQ(udax_open(pool, "x", O_RDWR | O_CREAT | O_APPEND, 0644,
			   &keep),
		 -EINVAL);
	CHECK_EQ(udax_open(pool, "x", O_ACCMODE | O_CREAT, 0644, &keep),
		 -EINVAL);
	CHECK_EQ(udax_open(pool, "x", O_RDONLY, 0, &keep), -ENOENT);
	CHECK_EQ(udax_open(pool, "data", O_RDWR | O_CREAT | O_EXCL, 0644,
			   &keep),
		 -EEXIST);
	/* O_TRUNC with O_RDONLY must not truncate. */
	CHECK_EQ(udax_open(pool, "data", O_RDONLY | O_TRUNC, 0, &keep),
		 -EINVAL);
	CHECK(keep == (struct udax_file *)&f);
	CHECK_EQ(nr_files(pool), 1);
	CHECK_EQ(fsize(f), sizeof(buf));

	/* 255 bytes is a valid name. */
	name[255] = 0;
	REQUIRE(udax_open(pool, name, O_RDWR | O_CREAT | O_EXCL, 0600, &wo) ==
		0);
	CHECK_EQ(udax_close(wo), 0);
	CHECK_EQ(nr_files(pool), 2);
	CHECK_EQ(udax_unlink(pool, name), 0);
	CHECK_EQ(nr_files(pool), 1);

	CHECK_EQ(udax_list(pool, NULL, NULL), -EINVAL);
	CHECK_EQ(udax_list(NULL, count_names, &n), -EINVAL);
	CHECK_EQ(udax_list(pool, stop_at_first, NULL), 42);

	/* A read-only handle refuses every change. */
	REQUIRE(udax_open(pool, "data", O_RDONLY, 0, &ro) == 0);
	CHECK_EQ(udax_pwrite(ro, buf, 1, 0), -EBADF);
	CHECK_EQ(udax_pwrite(ro, buf, 1, 1 * MiB), -EBADF);
	CHECK_EQ(udax_ftruncate(ro, 0), -EBADF);
	CHECK_EQ(udax_fallocate(ro, 0, 0, PG), -EBADF);
	CHECK_EQ(udax_fallocate(ro, UDAX_FALLOC_PUNCH_HOLE |
					     UDAX_FALLOC_KEEP_SIZE,
				0, PG),
		 -EBADF);
	void *m = NULL;

	CHECK_EQ(udax_mmap(ro, NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			   0, &m),
		 -EACCES);
	CHECK_EQ(udax_mmap(ro, NULL, PG, PROT_WRITE, MAP_SHARED, 0, &m),
		 -EACCES);
	CHECK(m == NULL);
	/* A private writable mapping of it is fine (copies). */
	REQUIRE(udax_mmap(ro, NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			  0, &m) == 0);
	((volatile char *)m)[0] = 1;
	CHECK_EQ(udax_munmap(m, PG), 0);
	CHECK_EQ(udax_pread(ro, buf, sizeof(buf), 0), sizeof(buf));
	CHECK_EQ((unsigned char)buf[0], 0xab);
	CHECK_EQ(fsize(ro), sizeof(buf));
	CHECK_EQ(udax_close(ro), 0);

	/* A write-only handle cannot be read nor mapped. */
	REQUIRE(udax_open(pool, "data", O_WRONLY, 0, &wo) == 0);
	CHECK_EQ(udax_pread(wo, buf, 1, 0), -EBADF);
	m = NULL;
	CHECK_EQ(udax_mmap(wo, NULL, PG, PROT_READ, MAP_SHARED, 0, &m),
		 -EACCES);
	CHECK(m == NULL);
	CHECK_EQ(udax_close(wo), 0);

	/* pread / pwrite / ftruncate / fstat. */
	CHECK_EQ(udax_pread(NULL, buf, 1, 0), -EINVAL);
	CHECK_EQ(udax_pread(f, NULL, 1, 0), -EINVAL);
	CHECK_EQ(udax_pwrite(NULL, buf, 1, 0), -EINVAL);
	CHECK_EQ(udax_pwrite(f, NULL, 1, 0), -EINVAL);
	CHECK_EQ(udax_pwrite(f, buf, 16, UINT64_MAX - 8), -EFBIG);
	CHECK_EQ(udax_pwrite(f, buf, 16, 1ULL << 50), -EFBIG);
	CHECK_EQ(udax_ftruncate(NULL, 0), -EINVAL);
	CHECK_EQ(udax_ftruncate(f, 1ULL << 50), -EFBIG);
	CHECK_EQ(udax_fstat(NULL, &sb), -EINVAL);
	CHECK_EQ(udax_fstat(f, NULL), -EINVAL);
	CHECK_EQ(udax_fsync(NULL), -EINVAL);
	CHECK_EQ(udax_close(NULL), -EINVAL);
	CHECK_EQ(udax_file_stats(NULL, &st, sizeof(st)), -EINVAL);
	CHECK_EQ(udax_file_stats(f, NULL, sizeof(st)), -EINVAL);
	CHECK_EQ(udax_pool_stats(NULL, &st, sizeof(st)), -EINVAL);
	CHECK_EQ(udax_pool_stats(pool, NULL, sizeof(st)), -EINVAL);
	CHECK_EQ(fsize(f), sizeof(buf));

	/* fallocate modes. */
	CHECK_EQ(udax_fallocate(NULL, 0, 0, PG), -EINVAL);
	CHECK_EQ(udax_fallocate(f, 0x4, 0, PG), -EOPNOTSUPP);
	CHECK_EQ(udax_fallocate(f, 0x10 | UDAX_FALLOC_KEEP_SIZE, 0, PG),
		 -EOPNOTSUPP);
	CHECK_EQ(udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE, 0, PG), -EINVAL);
	CHECK_EQ(udax_fallocate(f, 0, 0, 0), -EINVAL);
	CHECK_EQ(udax_fallocate(f, UDAX_FALLOC_PUNCH_HOLE |
					    UDAX_FALLOC_KEEP_SIZE,
				0, 0),
		 -EINVAL);
	CHECK_EQ(udax_fallocate(f, 0, UINT64_MAX - PG, 2 * PG), -EINVAL);
	CHECK_EQ(fsize(f), sizeof(buf));
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(udax_pread(f, buf, sizeof(buf), 0), sizeof(buf));
	CHECK_EQ((unsigned char)buf[0], 0xab);
	CHECK_EQ((unsigned char)buf[63], 0xab);
	CHECK_EQ(udax_fstat(f, &sb), 0);
	CHECK_EQ(sb.st_blocks, PG / 512);

	CHECK_EQ(udax_close(f), 0);
}

static void check_maps(struct udax_pool *pool)
{
	const uint64_t len = 16 * PG;
	struct udax_stats before, after;
	struct udax_file *f;
	void *m, *bad = (void *)&m;
	char *heap, *p;

	REQUIRE(udax_open(pool, "map", O_RDWR | O_CREAT, 0644, &f) == 0);
	REQUIRE(udax_ftruncate(f, len) == 0);
	REQUIRE(udax_pool_stats(pool, &before, sizeof(before)) == 0);

	m = bad;
	CHECK_EQ(udax_mmap(NULL, NULL, len, PROT_READ, MAP_SHARED, 0, &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ, MAP_SHARED, 0, NULL),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, 0, PROT_READ, MAP_SHARED, 0, &m), -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ, MAP_SHARED, 100, &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ, MAP_SHARED, PG / 2, &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ, 0, 0, &m), -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ, MAP_SHARED | MAP_FIXED, 0,
			   &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ,
			   MAP_SHARED | MAP_ANONYMOUS, 0, &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ, MAP_PRIVATE | MAP_SYNC, 0,
			   &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ | PROT_EXEC, MAP_SHARED, 0,
			   &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, len, PROT_READ, MAP_SHARED,
			   1ULL << 52, &m),
		 -EINVAL);
	CHECK_EQ(udax_mmap(f, NULL, SIZE_MAX - PG, PROT_READ, MAP_SHARED, 0,
			   &m),
		 -EINVAL);
	CHECK(m == bad);
	REQUIRE(udax_pool_stats(pool, &after, sizeof(after)) == 0);
	CHECK_EQ(after.map_calls, before.map_calls);

	/* A good mapping, for the calls that take one. */
	REQUIRE(udax_mmap(f, NULL, len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_SYNC, 0, &m) == 0);
	p = m;
	p[0] = 'x';

	/* munmap: only whole udax mappings. */
	heap = aligned_alloc(PG, 4 * PG);
	REQUIRE(heap);
	CHECK_EQ(udax_munmap(NULL, len), -EINVAL);
	CHECK_EQ(udax_munmap(heap, 4 * PG), -EINVAL);
	CHECK_EQ(udax_munmap(&m, 8), -EINVAL);
	CHECK_EQ(udax_munmap(p, len - PG), -EINVAL);
	CHECK_EQ(udax_munmap(p, len + PG), -EINVAL);
	CHECK_EQ(udax_munmap(p + PG, len - PG), -EINVAL);
	CHECK_EQ(udax_munmap(p, 0), -EINVAL);
	/* Still mapped and working, untouched pages too. */
	CHECK_EQ(p[0], 'x');
	p[len - 1] = 'y';
	CHECK_EQ(p[len - 1], 'y');

	/* msync. */
	CHECK_EQ(udax_msync(heap, PG, MS_SYNC), -ENOMEM);
	CHECK_EQ(udax_msync(p, len + PG, MS_SYNC), -ENOMEM);
	CHECK_EQ(udax_msync(p + 1, PG, MS_SYNC), -EINVAL);
	CHECK_EQ(udax_msync(NULL, PG, MS_SYNC), -EINVAL);
	CHECK_EQ(udax_msync(p, len, 0x1000), -EINVAL);
	CHECK_EQ(udax_msync(p, len, MS_SYNC), 0);
	CHECK_EQ(udax_msync(p, len, MS_ASYNC), 0);

	/* prefault: only udax mappings, only inside the file. */
	CHECK_EQ(udax_prefault(heap, PG, 0), -EFAULT);
	CHECK_EQ(udax_prefault(NULL, PG, 0), -EINVAL);
	CHECK_EQ(udax_prefault(p, len, 1), 0);
	REQUIRE(udax_ftruncate(f, len - 2 * PG) == 0);
	CHECK_EQ(udax_prefault(p + len - PG, PG, 0), -EFAULT);
	CHECK_EQ(udax_prefault(p, len, 0), -EFAULT);
	CHECK_EQ(udax_prefault(p, len - 2 * PG, 0), 0);

	/* After unmapping, the address is no longer udax's. */
	CHECK_EQ(udax_munmap(p, len), 0);
	CHECK_EQ(udax_munmap(p, len), -EINVAL);
	CHECK_EQ(udax_msync(p, PG, MS_SYNC), -ENOMEM);
	CHECK_EQ(udax_prefault(p, PG, 0), -EFAULT);

	/* A read-only mapping cannot be prefaulted for writing. */
	REQUIRE(udax_mmap(f, NULL, PG, PROT_READ, MAP_SHARED, 0, &m) == 0);
	CHECK_EQ(udax_prefault(m, PG, 1), -EACCES);
	CHECK_EQ(*(volatile char *)m, 'x');
	CHECK_EQ(udax_munmap(m, PG), 0);

	free(heap);
	CHECK_EQ(udax_close(f), 0);
}

int main(int argc, char **argv)
{
	struct udax_pool *pool;
	char path[300];

	if (argc == 3 && !strcmp(argv[1], "--try-open")) {
		/* The other process: the pool is open elsewhere. */
		int err = udax_pool_open(argv[2], 0, &pool);

		return err == -EBUSY ? 0 : 10 + (err < 0 ? -err : 99);
	}
	t_init(argc, argv);
	t_watchdog(60);
	t_tmpdir();
	check_pools(t_dir);

	t_path(path, sizeof(path), "pool2");
	REQUIRE(udax_pool_create(path, 16 * MiB, &pool) == 0);
	check_files(pool);
	check_maps(pool);
	/* Nothing leaked a reference: the pool closes. */
	CHECK_EQ(udax_pool_close(pool), 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_errors");
}
