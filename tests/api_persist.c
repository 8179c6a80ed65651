/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_persist - what is written through a shared mapping is the file:
 *
 *  - stores through a MAP_SHARED mapping, then udax_msync (file "ms") or
 *    udax_fsync (file "fs"), are read back by udax_pread at once, and the
 *    pages are clean again (the next store is seen by mkwrite);
 *  - stores through a MAP_PRIVATE mapping of "ms", to data pages and to
 *    holes, never reach the file: not pread, not the shared mapping, not
 *    after msync/fsync, not after the pool is closed;
 *  - after the pool is closed, a new process (this binary, exec'd with
 *    --child) opens the pool and finds the same bytes through udax_pread
 *    and through a read-only shared mapping, holes as zeros, the sizes
 *    unchanged, and the private stores nowhere;
 *  - after the child closes the pool, fsck finds it clean.
 *
 * Bugs it would catch: msync/fsync that skip dirty pages or leave them
 * writable (a later store unseen), write faults whose allocation is not
 * committed (the data is lost at reopen, or the child sees a hole), a
 * private copy that writes to the device block, a size not made durable.
 */
#include "api_util.h"

#define MiB (1ULL << 20)
#define PG 4096ULL

/* Files: name, size, how the parent makes them durable. */
#define MS_SIZE (3 * MiB + 5 * PG + 123) /* partial last page */
#define FS_SIZE (2 * MiB + 8 * PG)

/* The word stored at word @w of page @pg of file @id (never 0). */
static uint64_t stamp(unsigned int id, uint64_t pg, unsigned int w)
{
	return ((uint64_t)(id + 1) << 56) | (pg << 20) | (w << 4) | 0x5;
}

/* Is page @pg of file @id written? (the others are holes) */
static bool written(unsigned int id, uint64_t pg)
{
	return id == 0 ? pg % 3 != 1 : pg < 512 || pg % 2 == 0;
}

/* Words of a page the test writes and checks. */
static const unsigned int words[] = { 0, 1, 77, 256, 510, 511 };
#define NWORDS (sizeof(words) / sizeof(words[0]))

static uint64_t npages(uint64_t size)
{
	return (size + PG - 1) / PG;
}

/* Check file @f (@id, @size) through pread, and through @map if set. */
static int check_file(struct udax_file *f, unsigned int id, uint64_t size,
		      const uint64_t *map)
{
	uint64_t buf[PG / 8];
	struct stat sb;
	int bad = 0;

	REQUIRE(udax_fstat(f, &sb) == 0);
	if ((uint64_t)sb.st_size != size) {
		fprintf(stderr, "file %u: size %lld, want %llu\n", id,
			(long long)sb.st_size, (unsigned long long)size);
		bad++;
	}
	for (uint64_t pg = 0; pg < npages(size) && bad < 10; pg++) {
		uint64_t n = size - pg * PG < PG ? size - pg * PG : PG;

		REQUIRE(udax_pread(f, buf, PG, pg * PG) == (ssize_t)n);
		for (unsigned int i = 0; i < NWORDS; i++) {
			unsigned int w = words[i];
			uint64_t want = written(id, pg) ? stamp(id, pg, w) : 0;

			if (w * 8 >= n)
				continue;
			if (buf[w] != want) {
				fprintf(stderr,
					"file %u page %llu word %u: pread "
					"%#llx want %#llx\n",
					id, (unsigned long long)pg, w,
					(unsigned long long)buf[w],
					(unsigned long long)want);
				bad++;
			}
			if (map && map[pg * 512 + w] != want) {
				fprintf(stderr,
					"file %u page %llu word %u: mapping "
					"%#llx want %#llx\n",
					id, (unsigned long long)pg, w,
					(unsigned long long)map[pg * 512 + w],
					(unsigned long long)want);
				bad++;
			}
		}
		/* Bytes of the partial last page past EOF read as zeros. */
		if (map && n < PG) {
			const unsigned char *c = (const void *)&map[pg * 512];

			for (uint64_t b = n; b < PG; b++)
				if (c[b]) {
					fprintf(stderr, "byte %llu past EOF\n",
						(unsigned long long)b);
					bad++;
					break;
				}
		}
	}
	return bad;
}

/* The new process: open the pool, check both files, close. */
static int child(const char *path)
{
	static const char *names[] = { "ms", "fs" };
	static const uint64_t sizes[] = { MS_SIZE, FS_SIZE };
	struct udax_pool *pool;
	int bad = 0, err;

	err = udax_pool_open(path, 0, &pool);
	if (err) {
		fprintf(stderr, "child: pool_open: %d\n", err);
		return T_FAIL;
	}
	for (unsigned int id = 0; id < 2; id++) {
		struct udax_file *f;
		void *m;

		REQUIRE(udax_open(pool, names[id], O_RDONLY, 0, &f) == 0);
		REQUIRE(udax_mmap(f, NULL, sizes[id], PROT_READ, MAP_SHARED, 0,
				  &m) == 0);
		bad += check_file(f, id, sizes[id], m);
		REQUIRE(udax_munmap(m, sizes[id]) == 0);
		/* A private mapping starts from the same bytes. */
		REQUIRE(udax_mmap(f, NULL, sizes[id], PROT_READ | PROT_WRITE,
				  MAP_PRIVATE, 0, &m) == 0);
		bad += check_file(f, id, sizes[id], m);
		REQUIRE(udax_munmap(m, sizes[id]) == 0);
		REQUIRE(udax_close(f) == 0);
	}
	REQUIRE(udax_pool_close(pool) == 0);
	printf("child: %s\n", bad ? "FAIL" : "ok");
	return bad ? T_FAIL : T_PASS;
}

/* Store the stamps of file @id into @map (written pages only). */
static void write_file(uint64_t *map, unsigned int id, uint64_t size)
{
	for (uint64_t pg = 0; pg < npages(size); pg++) {
		if (!written(id, pg))
			continue;
		for (unsigned int i = 0; i < NWORDS; i++)
			if (pg * PG + words[i] * 8 < size)
				map[pg * 512 + words[i]] =
					stamp(id, pg, words[i]);
	}
}

static struct udax_stats stats(struct udax_file *f)
{
	struct udax_stats st;

	REQUIRE(udax_file_stats(f, &st, sizeof(st)) == 0);
	return st;
}

int main(int argc, char **argv)
{
	struct udax_file *ms, *fs;
	struct udax_stats a, b;
	struct udax_pool *pool;
	uint64_t *mm, *fm, *pm;
	char path[300];
	int status;
	pid_t pid;
	void *p;

	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child(argv[2]);
	t_init(argc, argv);
	t_watchdog(60);
	t_tmpdir();
	t_path(path, sizeof(path), "pool");
	REQUIRE(udax_pool_create(path, 32 * MiB, &pool) == 0);

	/* "ms": stores, msync, pread. */
	REQUIRE(udax_open(pool, "ms", O_RDWR | O_CREAT, 0644, &ms) == 0);
	REQUIRE(udax_ftruncate(ms, MS_SIZE) == 0);
	REQUIRE(udax_mmap(ms, NULL, MS_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	mm = p;
	write_file(mm, 0, MS_SIZE);
	a = stats(ms);
	REQUIRE(udax_msync(mm, npages(MS_SIZE) * PG, MS_SYNC) == 0);
	b = stats(ms);
	CHECK(b.writeback_pages > a.writeback_pages);
	CHECK_EQ(check_file(ms, 0, MS_SIZE, mm), 0);
	/* Clean again: one store, one mkwrite. */
	mm[0] = 0;
	CHECK_EQ(stats(ms).faults_mkwrite, b.faults_mkwrite + 1);
	mm[0] = stamp(0, 0, 0);
	REQUIRE(udax_msync(mm, PG, MS_ASYNC) == 0);

	/* "fs": stores, fsync, pread. */
	REQUIRE(udax_open(pool, "fs", O_RDWR | O_CREAT, 0644, &fs) == 0);
	REQUIRE(udax_ftruncate(fs, FS_SIZE) == 0);
	REQUIRE(udax_mmap(fs, NULL, FS_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, 0, &p) == 0);
	fm = p;
	write_file(fm, 1, FS_SIZE);
	a = stats(fs);
	REQUIRE(udax_fsync(fs) == 0);
	b = stats(fs);
	CHECK(b.writeback_pages > a.writeback_pages);
	CHECK_EQ(check_file(fs, 1, FS_SIZE, fm), 0);
	fm[512 * 3 + 1] = 0;
	CHECK_EQ(stats(fs).faults_mkwrite, b.faults_mkwrite + 1);
	fm[512 * 3 + 1] = stamp(1, 3, 1);
	REQUIRE(udax_fsync(fs) == 0);

	/* A private mapping of "ms": stores to data pages and to holes. */
	REQUIRE(udax_mmap(ms, NULL, MS_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE, 0, &p) == 0);
	pm = p;
	CHECK_EQ(pm[2 * 512 + 77], stamp(0, 2, 77));
	a = stats(ms);
	for (uint64_t pg = 0; pg < npages(MS_SIZE); pg++)
		for (unsigned int i = 0; i < NWORDS; i++)
			if (pg * PG + words[i] * 8 < MS_SIZE)
				pm[pg * 512 + words[i]] = ~stamp(0, pg, i);
	b = stats(ms);
	CHECK_EQ(b.faults_cow - a.faults_cow, npages(MS_SIZE));
	CHECK_EQ(b.faults_major, a.faults_major); /* holes stay holes */
	CHECK_EQ(pm[1 * 512 + 1], ~stamp(0, 1, 1));
	REQUIRE(udax_msync(pm, npages(MS_SIZE) * PG, MS_SYNC) == 0);
	REQUIRE(udax_fsync(ms) == 0);
	CHECK_EQ(check_file(ms, 0, MS_SIZE, mm), 0);
	REQUIRE(udax_munmap(pm, MS_SIZE) == 0);

	/* Close everything; nothing must depend on this process. */
	REQUIRE(udax_munmap(mm, MS_SIZE) == 0);
	REQUIRE(udax_munmap(fm, FS_SIZE) == 0);
	REQUIRE(udax_close(ms) == 0);
	REQUIRE(udax_close(fs) == 0);
	REQUIRE(udax_pool_close(pool) == 0);

	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "--child", path, (char *)NULL);
		perror("exec");
		_exit(T_FAIL);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), T_PASS);

	/* And this process, reopening. */
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	REQUIRE(udax_open(pool, "ms", O_RDONLY, 0, &ms) == 0);
	CHECK_EQ(check_file(ms, 0, MS_SIZE, NULL), 0);
	REQUIRE(udax_close(ms) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_persist");
}
