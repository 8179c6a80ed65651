/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_format - udax_pool_format() on existing targets: an empty file
 * grown to the size asked (sparse), a file's own size with size 0 (and a
 * longer file keeping its length when the pool uses only its start); an
 * old pool and a file holding data in its first 4 KiB refused without
 * UDAX_FORMAT_FORCE (unchanged, byte for byte) and formatted with it (the
 * old data's host space given back); data past the first 4 KiB not
 * looked at; a pool open in this process or in another one refused with
 * -EBUSY even with FORCE; too small (-EINVAL), missing (-ENOENT, nothing
 * created), a directory, a FIFO, bad arguments; format only (no pool
 * returned). Every formatted pool is fsck clean and usable.
 *
 * Character devices, without ever touching one of the machine's: /dev/null
 * (not device-DAX) is refused with -ENODEV; a node made with mknod in the
 * test's directory with the "dax" major of /proc/devices and a minor no
 * device has (/sys/dev/char/MAJ:MIN absent) fails to open (-ENXIO). A
 * real device-DAX device is never formatted here: that path is not
 * exercised.
 */
#define _GNU_SOURCE /* ST_NODEV */
#include <limits.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "api_util.h"

#define MiB (1ULL << 20)

static char dir_path[PATH_MAX];

static void path_of(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", t_dir, name);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	REQUIRE(stat(path, &st) == 0);
	return (uint64_t)st.st_size;
}

static uint64_t host_bytes(const char *path)
{
	struct stat st;

	REQUIRE(stat(path, &st) == 0);
	return (uint64_t)st.st_blocks * 512;
}

/* A hash of the whole file, to see that a refused call changed nothing. */
static uint64_t file_hash(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL, n = 0;
	char buf[65536];
	ssize_t got;
	int fd = open(path, O_RDONLY);

	REQUIRE(fd >= 0);
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			h ^= (unsigned char)buf[i];
			h *= 0x100000001b3ULL;
		}
		n += (uint64_t)got;
	}
	REQUIRE(got == 0);
	close(fd);
	return h ^ n;
}

/* Create @path with @len bytes: @c at byte @at (if @at < @len). */
static void make_file(const char *path, uint64_t len, uint64_t at, char c)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, (off_t)len) == 0);
	if (at < len)
		REQUIRE(pwrite(fd, &c, 1, (off_t)at) == 1);
	close(fd);
}

static int count(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

static int nr_files(struct udax_pool *pool)
{
	int n = 0;

	REQUIRE(udax_list(pool, count, &n) == 0);
	return n;
}

static uint64_t pool_blocks(struct udax_pool *pool)
{
	struct udax_stats st;

	REQUIRE(udax_pool_stats(pool, &st, sizeof st) == 0);
	return st.pool_blocks;
}

/* Write @len bytes of @c to a new file @name of @pool. */
static void put(struct udax_pool *pool, const char *name, uint64_t len,
		char c)
{
	static char buf[MiB];
	struct udax_file *f;

	memset(buf, c, sizeof(buf));
	REQUIRE(udax_open(pool, name, O_RDWR | O_CREAT | O_EXCL, 0644, &f) ==
		0);
	for (uint64_t off = 0; off < len; off += MiB)
		REQUIRE(udax_pwrite(f, buf, MiB, off) == (ssize_t)MiB);
	REQUIRE(udax_close(f) == 0);
}

static bool holds(struct udax_pool *pool, const char *name, uint64_t len,
		  char c)
{
	static char buf[MiB];
	struct udax_file *f;
	bool ok = true;

	if (udax_open(pool, name, O_RDONLY, 0, &f))
		return false;
	for (uint64_t off = 0; off < len && ok; off += MiB) {
		ok = udax_pread(f, buf, MiB, off) == (ssize_t)MiB;
		for (size_t i = 0; i < MiB && ok; i++)
			ok = buf[i] == c;
	}
	udax_close(f);
	return ok;
}

/* An empty file grown; an old pool refused, then forced. */
static void test_pool(void)
{
	char path[PATH_MAX];
	struct udax_pool *pool;
	uint64_t h, host;

	path_of(path, "p");
	make_file(path, 0, 1, 0);
	CHECK_EQ(udax_pool_format(path, 0, 0, &pool), -EINVAL); /* 0 bytes */
	CHECK_EQ(file_size(path), 0);
	REQUIRE(udax_pool_format(path, 32 * MiB, 0, &pool) == 0);
	CHECK_EQ(file_size(path), 32 * MiB);
	CHECK(host_bytes(path) < 4 * MiB); /* grown sparse */
	CHECK_EQ(nr_files(pool), 0);
	put(pool, "a", 8 * MiB, 'a');
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);

	/* An old pool: refused without FORCE, byte for byte unchanged. */
	h = file_hash(path);
	CHECK_EQ(udax_pool_format(path, 0, 0, &pool), -EEXIST);
	CHECK_EQ(udax_pool_format(path, 64 * MiB, 0, NULL), -EEXIST);
	CHECK_EQ(file_hash(path), h);
	CHECK_EQ(file_size(path), 32 * MiB);
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	CHECK(holds(pool, "a", 8 * MiB, 'a'));

	/* In use (open here): refused even with FORCE. */
	CHECK_EQ(udax_pool_format(path, 0, UDAX_FORMAT_FORCE, NULL), -EBUSY);
	CHECK(holds(pool, "a", 8 * MiB, 'a'));
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(file_hash(path), h);

	/* FORCE: an empty pool, the old data's host space given back. */
	host = host_bytes(path);
	REQUIRE(udax_pool_format(path, 0, UDAX_FORMAT_FORCE, &pool) == 0);
	CHECK_EQ(nr_files(pool), 0);
	CHECK(host_bytes(path) + 7 * MiB <= host);
	put(pool, "b", 2 * MiB, 'b');
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	CHECK(holds(pool, "b", 2 * MiB, 'b'));
	CHECK_EQ(nr_files(pool), 1);
	REQUIRE(udax_pool_close(pool) == 0);
}

/* A pool open in another process: -EBUSY until it closes it. */
static void test_other_process(void)
{
	char path[PATH_MAX], c;
	int go[2], ready[2], status;
	pid_t pid;

	path_of(path, "p");
	REQUIRE(pipe(go) == 0 && pipe(ready) == 0);
	pid = fork(); /* no pool open here, no mapping: the child may */
	REQUIRE(pid >= 0);
	if (!pid) {
		struct udax_pool *pool;

		if (udax_pool_open(path, 0, &pool))
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(udax_pool_close(pool) ? 1 : 0);
	}
	REQUIRE(read(ready[0], &c, 1) == 1);
	CHECK_EQ(udax_pool_format(path, 0, UDAX_FORMAT_FORCE, NULL), -EBUSY);
	REQUIRE(write(go[1], "g", 1) == 1);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(udax_pool_format(path, 0, UDAX_FORMAT_FORCE, NULL), 0);
	CHECK_EQ(t_fsck(path), 0);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

/* Somebody's data in the first 4 KiB; data past it; size 0; sizes. */
static void test_data(void)
{
	char path[PATH_MAX];
	struct udax_pool *pool;
	uint64_t h, blocks16;

	path_of(path, "d");
	make_file(path, 16 * MiB, 4095, 'x');
	h = file_hash(path);
	CHECK_EQ(udax_pool_format(path, 0, 0, &pool), -EEXIST);
	CHECK_EQ(udax_pool_format(path, 64 * MiB, 0, &pool), -EEXIST);
	CHECK_EQ(file_hash(path), h);
	CHECK_EQ(file_size(path), 16 * MiB);
	REQUIRE(udax_pool_format(path, 0, UDAX_FORMAT_FORCE, &pool) == 0);
	CHECK_EQ(file_size(path), 16 * MiB); /* size 0: the file's */
	blocks16 = pool_blocks(pool);
	CHECK(blocks16 > 16 * MiB / 4096 - 256 && blocks16 < 16 * MiB / 4096);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);

	/* Data only past the first 4 KiB is not looked at. */
	make_file(path, 16 * MiB, 4096, 'y');
	CHECK_EQ(udax_pool_format(path, 0, 0, NULL), 0);
	CHECK_EQ(t_fsck(path), 0);

	/* A longer file keeps its length; the pool is its first 8 MiB. */
	make_file(path, 32 * MiB, 20 * MiB, 'z');
	REQUIRE(udax_pool_format(path, 8 * MiB, 0, &pool) == 0);
	CHECK_EQ(file_size(path), 32 * MiB);
	CHECK(pool_blocks(pool) < 8 * MiB / 4096);
	put(pool, "c", 2 * MiB, 'c');
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	CHECK(pool_blocks(pool) < 8 * MiB / 4096);
	CHECK(holds(pool, "c", 2 * MiB, 'c'));
	REQUIRE(udax_pool_close(pool) == 0);

	/* Too small: the file's size (size 0) or the size asked. */
	make_file(path, 1 * MiB, 1, 0);
	h = file_hash(path);
	CHECK_EQ(udax_pool_format(path, 0, UDAX_FORMAT_FORCE, NULL), -EINVAL);
	CHECK_EQ(udax_pool_format(path, 2 * MiB, 0, NULL), -EINVAL);
	CHECK_EQ(udax_pool_format(path, 4 * MiB - 1, 0, NULL), -EINVAL);
	CHECK_EQ(file_hash(path), h);
	CHECK_EQ(udax_pool_format(path, 4 * MiB, 0, NULL), 0); /* grown */
	CHECK_EQ(file_size(path), 4 * MiB);
	CHECK_EQ(t_fsck(path), 0);
}

static void test_errors(void)
{
	char path[PATH_MAX];
	struct udax_pool *pool = NULL;

	path_of(path, "missing");
	CHECK_EQ(udax_pool_format(path, 8 * MiB, 0, &pool), -ENOENT);
	CHECK(access(path, F_OK) != 0); /* nothing created */
	CHECK_EQ(udax_pool_format(NULL, 8 * MiB, 0, &pool), -EINVAL);
	CHECK_EQ(udax_pool_format("", 8 * MiB, 0, &pool), -EINVAL);
	path_of(path, "p");
	CHECK_EQ(udax_pool_format(path, 8 * MiB, 2, &pool), -EINVAL);
	CHECK_EQ(udax_pool_format(path, 8 * MiB, -1, &pool), -EINVAL);
	CHECK(pool == NULL);
	CHECK_EQ(udax_pool_format(dir_path, 8 * MiB, UDAX_FORMAT_FORCE, NULL),
		 -EISDIR);
	path_of(path, "fifo");
	REQUIRE(mkfifo(path, 0600) == 0);
	CHECK_EQ(udax_pool_format(path, 8 * MiB, UDAX_FORMAT_FORCE, NULL),
		 -ENODEV);
}

/* The "dax" major from /proc/devices, or -1. */
static int dax_major(void)
{
	char line[256];
	bool chr = false;
	int major = -1, m;
	FILE *f = fopen("/proc/devices", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64];

		if (!strncmp(line, "Character", 9))
			chr = true;
		else if (!strncmp(line, "Block", 5))
			chr = false;
		else if (chr && sscanf(line, "%d %63s", &m, name) == 2 &&
			 !strcmp(name, "dax"))
			major = m;
	}
	fclose(f);
	return major;
}

static void test_char_devices(void)
{
	char path[PATH_MAX], sys[128];
	int major = dax_major(), minor;

	/* Not device-DAX: refused, nothing written (it is /dev/null). */
	CHECK_EQ(udax_pool_format("/dev/null", 8 * MiB, UDAX_FORMAT_FORCE,
				  NULL),
		 -ENODEV);
	CHECK_EQ(udax_pool_format("/dev/null", 0, 0, NULL), -ENODEV);

	if (major < 0) {
		printf("no dax driver: no device-DAX stand-in node\n");
		return;
	}
	/* A minor no device-DAX device has: opening reaches no device. */
	for (minor = 200; minor < 256; minor++) {
		snprintf(sys, sizeof(sys), "/sys/dev/char/%d:%d", major,
			 minor);
		if (access(sys, F_OK) != 0)
			break;
	}
	path_of(path, "dax9.9");
	struct statvfs vfs;

	if (statvfs(t_dir, &vfs) == 0 && (vfs.f_flag & ST_NODEV)) {
		printf("%s is mounted nodev: no device-DAX stand-in node\n",
		       t_dir);
		return;
	}
	if (minor == 256 ||
	    mknod(path, S_IFCHR | 0600, makedev(major, minor)) != 0) {
		printf("cannot make a device-DAX stand-in node (%s): that "
		       "part skipped\n",
		       minor == 256 ? "no free minor" : strerror(errno));
		return;
	}
	if (access(sys, F_OK) == 0) { /* appeared meanwhile: leave it */
		unlink(path);
		return;
	}
	CHECK_EQ(udax_pool_format(path, 0, UDAX_FORMAT_FORCE, NULL), -ENXIO);
	CHECK_EQ(udax_pool_format(path, 8 * MiB, 0, NULL), -ENXIO);
	unlink(path);
	printf("device-DAX stand-in %d:%d refused to open, as it should; a "
	       "real device-DAX device is not formatted by this test\n",
	       major, minor);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(120);
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	t_tmpdir();
	snprintf(dir_path, sizeof(dir_path), "%s", t_dir);
	test_pool();
	test_other_process();
	test_data();
	test_errors();
	test_char_devices();
	t_cleanup();
	return t_done("api_format");
}
