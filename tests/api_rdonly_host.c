/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_rdonly_host - a pool file the caller may not write: it opens with
 * UDAX_POOL_RDONLY (several times at once), its files read through
 * pread and through a mapping (read faults, holes as zeros), a shared
 * writable mapping is refused (-EACCES), udax_pool_fsck() checks it
 * clean; opening it read-write, udax_pool_repair() and udax_pool_format()
 * fail with the open(2) error, and nothing changes.
 *
 * Root may write a file whatever its mode bits say, so the pool is made
 * unwritable, in this order of preference, by: a tmpfs of the test's own
 * (in a private mount namespace, unshare(CLONE_NEWNS)) remounted
 * read-only (-EROFS); the immutable attribute (chattr +i, FS_IOC_SETFLAGS:
 * -EPERM); mode 0444 when not run as root (-EACCES). Skipped (77), saying
 * why, when none of them can be had.
 */
#define _GNU_SOURCE /* unshare */
#include <limits.h>
#include <linux/fs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>

#include "api_util.h"
#include "rdonly_pool.h"


static char pool_path[PATH_MAX + 16], mnt[PATH_MAX];
static const char *how;
static int want_err; /* what a read-write open gets */
static bool mounted, immutable;

/* A tmpfs on t_dir/ro, in a mount namespace of our own. */
static bool try_ro_tmpfs(void)
{
	snprintf(mnt, sizeof(mnt), "%s/ro", t_dir);
	REQUIRE(mkdir(mnt, 0755) == 0);
	if (unshare(CLONE_NEWNS)) {
		printf("unshare(CLONE_NEWNS): %s\n", strerror(errno));
		return false;
	}
	/* Our mounts must not propagate to the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("udax-test", mnt, "tmpfs", 0, "size=64m,mode=0755")) {
		printf("mount: %s\n", strerror(errno));
		return false;
	}
	mounted = true;
	snprintf(pool_path, sizeof(pool_path), "%s/pool", mnt);
	make_pool(pool_path, 256 * 1024);
	if (mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL)) {
		printf("remount read-only: %s\n", strerror(errno));
		return false;
	}
	how = "a tmpfs remounted read-only";
	want_err = -EROFS;
	return true;
}

static bool set_immutable(bool on)
{
	int fd = open(pool_path, O_RDONLY), flags, ok;

	REQUIRE(fd >= 0);
	ok = !ioctl(fd, FS_IOC_GETFLAGS, &flags);
	if (ok) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		ok = !ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	if (!ok)
		printf("chattr %ci: %s\n", on ? '+' : '-', strerror(errno));
	close(fd);
	return ok;
}

static bool try_immutable(void)
{
	snprintf(pool_path, sizeof(pool_path), "%s/pool-i", t_dir);
	make_pool(pool_path, 256 * 1024);
	if (!set_immutable(true))
		return false;
	immutable = true;
	how = "an immutable file (chattr +i)";
	want_err = -EPERM;
	return true;
}

static bool try_mode(void)
{
	if (geteuid() == 0) {
		printf("mode 0444: root writes it anyway\n");
		return false;
	}
	snprintf(pool_path, sizeof(pool_path), "%s/pool-m", t_dir);
	make_pool(pool_path, 256 * 1024);
	REQUIRE(chmod(pool_path, 0444) == 0);
	how = "a file of mode 0444";
	want_err = -EACCES;
	return true;
}

static bool reads_a(struct udax_file *f)
{
	uint64_t *m, v, w;
	bool ok = true;
	void *p;

	if (udax_mmap(f, NULL, MiB, PROT_READ, MAP_SHARED, 0, &p))
		return false;
	m = p;
	for (uint64_t i = 0; i < MiB / 8 && ok; i += 127)
		ok = t_load(&m[i], &v) && v == word(i * 8) &&
		     udax_pread(f, &w, 8, i * 8) == 8 && w == v;
	REQUIRE(udax_munmap(p, MiB) == 0);
	return ok;
}

static void run(void)
{
	struct udax_pool *a, *b, *rw;
	struct udax_file *fa, *fb, *h;
	uint64_t *m, v;
	struct stat st0, st1;
	int problems = 0;
	void *p;

	REQUIRE(stat(pool_path, &st0) == 0);
	CHECK_EQ(udax_pool_open(pool_path, 0, &rw), want_err);
	CHECK_EQ(udax_pool_repair(pool_path, NULL, NULL), want_err);
	CHECK_EQ(udax_pool_format(pool_path, 0, UDAX_FORMAT_FORCE, NULL),
		 want_err);
	CHECK_EQ(udax_pool_fsck(pool_path, t_fsck_report, &problems), 0);
	CHECK_EQ(problems, 0);

	REQUIRE(udax_pool_open(pool_path, UDAX_POOL_RDONLY, &a) == 0);
	REQUIRE(udax_pool_open(pool_path, UDAX_POOL_RDONLY, &b) == 0);
	REQUIRE(udax_open(a, "a", O_RDONLY, 0, &fa) == 0);
	REQUIRE(udax_open(b, "a", O_RDONLY, 0, &fb) == 0);
	CHECK(reads_a(fa));
	CHECK(reads_a(fb));
	CHECK_EQ(udax_open(a, "new", O_RDWR | O_CREAT, 0644, &h), -EROFS);
	CHECK_EQ(udax_unlink(a, "a"), -EROFS);
	CHECK_EQ(
	    udax_mmap(fa, NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &p),
	    -EACCES);
	REQUIRE(udax_open(b, "h", O_RDONLY, 0, &h) == 0);
	REQUIRE(udax_mmap(h, NULL, MiB, PROT_READ, MAP_SHARED, 0, &p) == 0);
	m = p;
	CHECK(t_load(&m[0], &v) && v == 0);
	CHECK(t_load(&m[256 * 1024 / 8 + 2], &v) && v == word(16));
	CHECK(t_load(&m[MiB / 8 - 1], &v) && v == 0);
	REQUIRE(udax_munmap(p, MiB) == 0);
	/* fsck beside two readers. */
	CHECK_EQ(udax_pool_fsck(pool_path, NULL, NULL), 0);
	REQUIRE(udax_close(h) == 0);
	REQUIRE(udax_close(fa) == 0);
	REQUIRE(udax_close(fb) == 0);
	REQUIRE(udax_pool_close(a) == 0);
	REQUIRE(udax_pool_close(b) == 0);

	REQUIRE(stat(pool_path, &st1) == 0);
	CHECK(st0.st_size == st1.st_size &&
	      st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
	      st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
	if (mounted) {
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/new", mnt);
		CHECK_EQ(udax_pool_create(path, 16 * MiB, &a), -EROFS);
	}
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_watchdog(120);
	t_catch_sigbus();
	t_tmpdir();
	if (!try_ro_tmpfs() && !try_immutable() && !try_mode()) {
		printf("api_rdonly_host: no way to make a file this process "
		       "cannot write (see above): skipped\n");
		if (mounted)
			umount2(mnt, MNT_DETACH);
		t_cleanup();
		return T_SKIP;
	}
	printf("the pool is %s (a read-write open: %s)\n", how,
	       strerror(-want_err));
	run();
	if (immutable)
		set_immutable(false);
	if (mounted)
		CHECK(umount2(mnt, MNT_DETACH) == 0);
	t_cleanup();
	return t_done("api_rdonly_host");
}
