/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_rdonly - a pool opened with UDAX_POOL_RDONLY is read-only on the
 * host too: its file is open O_RDONLY (/proc/self/fdinfo) and nothing of
 * it is mapped writable (/proc/self/maps), with files open and mapped,
 * read faults served (data and holes), a private writable mapping written
 * to (the stores stay private) and a shared writable one refused
 * (-EACCES). Several read-only openers coexist (in this process: each
 * open is its own open file description, as another process's would be);
 * a read-only and a read-write opener exclude each other both ways
 * (-EBUSY), and so do a reader and udax_pool_format() or
 * udax_pool_repair(); udax_pool_fsck() (which only reads) runs beside
 * readers but not beside a writer. The checks of the host state are
 * checked themselves on a read-write pool, where they must see O_RDWR and
 * a writable mapping.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>

#include "api_util.h"
#include "rdonly_pool.h"

#define NR_READERS 3

static char pool_path[PATH_MAX + 16];

/* The pool file's descriptors in this process: how many, how many O_RDWR. */
static void pool_fds(int *nr, int *rdwr)
{
	char link[PATH_MAX + 64], target[PATH_MAX], line[256];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	REQUIRE(d);
	*nr = *rdwr = 0;
	while ((de = readdir(d))) {
		ssize_t n;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strcmp(target, pool_path))
			continue;
		(*nr)++;
		snprintf(link, sizeof(link), "/proc/self/fdinfo/%s",
			 de->d_name);
		f = fopen(link, "r");
		REQUIRE(f);
		while (fgets(line, sizeof(line), f)) {
			unsigned long flags;

			if (sscanf(line, "flags: %lo", &flags) == 1 &&
			    (flags & O_ACCMODE) != O_RDONLY)
				(*rdwr)++;
		}
		fclose(f);
	}
	closedir(d);
}

/* Mappings of the pool file in this process: how many, how many writable. */
static void pool_maps(int *nr, int *writable)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 256];

	REQUIRE(f);
	*nr = *writable = 0;
	while (fgets(line, sizeof(line), f)) {
		char perms[8], *path = strchr(line, '/');
		size_t len;

		if (!path)
			continue;
		len = strlen(path);
		if (len && path[len - 1] == '\n')
			path[len - 1] = 0;
		if (strcmp(path, pool_path))
			continue;
		REQUIRE(sscanf(line, "%*s %7s", perms) == 1);
		(*nr)++;
		if (perms[1] == 'w')
			(*writable)++;
	}
	fclose(f);
}

/* Does a shared read-only mapping of @f read "a"'s contents? */
static bool maps_a(struct udax_file *f)
{
	uint64_t *m, v;
	bool ok = true;
	void *p;

	if (udax_mmap(f, NULL, MiB, PROT_READ, MAP_SHARED, 0, &p))
		return false;
	m = p;
	for (uint64_t i = 0; i < MiB / 8 && ok; i += 61)
		ok = t_load(&m[i], &v) && v == word(i * 8);
	REQUIRE(udax_munmap(p, MiB) == 0);
	return ok;
}

/* The read-write control: the host checks see a writer. */
static void control_rw(void)
{
	struct udax_pool *pool;
	struct udax_file *f;
	int nr, w;
	void *p;

	REQUIRE(udax_pool_open(pool_path, 0, &pool) == 0);
	REQUIRE(udax_open(pool, "a", O_RDWR, 0, &f) == 0);
	REQUIRE(udax_mmap(f, NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
			  &p) == 0);
	CHECK(t_store(p, word(0)));
	pool_fds(&nr, &w);
	CHECK(nr == 1 && w == 1);
	pool_maps(&nr, &w);
	CHECK(nr >= 1 && w >= 1);
	REQUIRE(udax_munmap(p, MiB) == 0);
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(pool) == 0);
}

/* Several readers at once: each file read, mapped, faulted; no write. */
static void readers(void)
{
	struct udax_pool *pool[NR_READERS], *rw;
	struct udax_file *f[NR_READERS], *h;
	uint64_t *m, v, buf[8];
	int nr, w, problems = 0;
	void *p;

	for (int i = 0; i < NR_READERS; i++) {
		REQUIRE(udax_pool_open(pool_path, UDAX_POOL_RDONLY, &pool[i]) ==
			0);
		REQUIRE(udax_open(pool[i], "a", O_RDONLY, 0, &f[i]) == 0);
	}
	for (int i = 0; i < NR_READERS; i++) {
		CHECK(maps_a(f[i]));
		CHECK(udax_pread(f[i], buf, sizeof(buf), 8 * 100) ==
		      (ssize_t)sizeof(buf));
		CHECK(buf[0] == word(8 * 100));
	}

	/* A writer, format and repair are refused while readers hold it. */
	CHECK_EQ(udax_pool_open(pool_path, 0, &rw), -EBUSY);
	CHECK_EQ(udax_pool_format(pool_path, 0, UDAX_FORMAT_FORCE, NULL),
		 -EBUSY);
	CHECK_EQ(udax_pool_repair(pool_path, NULL, NULL), -EBUSY);
	/* fsck only reads: it runs beside them. */
	CHECK_EQ(udax_pool_fsck(pool_path, t_fsck_report, &problems), 0);
	CHECK_EQ(problems, 0);

	/* Shared writable: refused; private writable: stores stay private. */
	CHECK_EQ(udax_mmap(f[0], NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED,
			   0, &p),
		 -EACCES);
	REQUIRE(udax_mmap(f[0], NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			  0, &p) == 0);
	m = p;
	CHECK(t_load(&m[3], &v) && v == word(3 * 8));
	CHECK(t_store(&m[3], 0xdead));
	CHECK(t_store(&m[MiB / 16], 0xbeef));
	CHECK(t_load(&m[3], &v) && v == 0xdead);
	CHECK(udax_pread(f[1], buf, 8, 3 * 8) == 8 && buf[0] == word(3 * 8));

	/* Holes read as zeros, data as written, through a mapping. */
	REQUIRE(udax_open(pool[1], "h", O_RDONLY, 0, &h) == 0);
	{
		uint64_t *hm;
		void *hp;

		REQUIRE(udax_mmap(h, NULL, MiB, PROT_READ, MAP_SHARED, 0,
				  &hp) == 0);
		hm = hp;
		CHECK(t_load(&hm[0], &v) && v == 0);
		CHECK(t_load(&hm[MiB / 8 - 1], &v) && v == 0);
		CHECK(t_load(&hm[512 * 1024 / 8 + 1], &v) && v == word(8));
		/* The host: O_RDONLY only, nothing mapped writable. */
		pool_fds(&nr, &w);
		CHECK_EQ(nr, NR_READERS);
		CHECK_EQ(w, 0);
		pool_maps(&nr, &w);
		CHECK(nr >= NR_READERS);
		CHECK_EQ(w, 0);
		REQUIRE(udax_munmap(hp, MiB) == 0);
	}
	CHECK_EQ(udax_fsync(h), 0); /* nothing to write */
	REQUIRE(udax_close(h) == 0);
	REQUIRE(udax_munmap(p, MiB) == 0);

	for (int i = 0; i < NR_READERS; i++) {
		REQUIRE(udax_close(f[i]) == 0);
		REQUIRE(udax_pool_close(pool[i]) == 0);
	}
}

/* A writer holds it: readers and fsck are refused, then welcome. */
static void writer(void)
{
	struct udax_pool *rw, *ro;
	struct udax_file *f;
	uint64_t v;

	REQUIRE(udax_pool_open(pool_path, 0, &rw) == 0);
	CHECK_EQ(udax_pool_open(pool_path, UDAX_POOL_RDONLY, &ro), -EBUSY);
	CHECK_EQ(udax_pool_fsck(pool_path, NULL, NULL), -EBUSY);
	REQUIRE(udax_pool_close(rw) == 0);
	REQUIRE(udax_pool_open(pool_path, UDAX_POOL_RDONLY, &ro) == 0);
	/* The private stores of readers() never reached the pool. */
	REQUIRE(udax_open(ro, "a", O_RDONLY, 0, &f) == 0);
	CHECK(udax_pread(f, &v, 8, 3 * 8) == 8 && v == word(3 * 8));
	CHECK(udax_pread(f, &v, 8, MiB / 2) == 8 && v == word(MiB / 2));
	CHECK(maps_a(f));
	REQUIRE(udax_close(f) == 0);
	REQUIRE(udax_pool_close(ro) == 0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(120);
	t_catch_sigbus();
	t_tmpdir();
	t_path(pool_path, sizeof(pool_path), "pool");
	/* /proc shows the resolved path. */
	{
		char real[PATH_MAX];

		REQUIRE(realpath(t_dir, real));
		snprintf(pool_path, sizeof(pool_path), "%s/pool", real);
	}
	make_pool(pool_path, 512 * 1024);
	control_rw();
	readers();
	writer();
	CHECK_EQ(t_fsck(pool_path), 0);
	t_cleanup();
	return t_done("api_rdonly");
}
