/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preload_calls - every call libudax-preload.so wraps, on pool files
 * under UDAX_MOUNT: its result, its errors, and the passthrough of host
 * paths and descriptors. Run by tests/preload_run.sh with LD_PRELOAD set
 * (UDAX_POOL, UDAX_MOUNT in the environment; argv[1] a host directory);
 * the binary itself knows nothing of udax.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "preload_util.h"

static void test_open_errors(void)
{
	int fd;

	ERRNO(open(P("nope"), O_RDONLY), ENOENT);
	ERRNO(open(P("sub/x"), O_RDWR | O_CREAT, 0644), ENOENT);
	fd = open(P("a"), O_RDWR | O_CREAT | O_EXCL, 0644);
	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, "hello", 5), 5);
	ERRNO(open(P("a"), O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	ERRNO(open(P("a"), O_RDONLY | O_DIRECTORY), ENOTDIR);
	ERRNO(open(P("a/"), O_RDONLY), ENOTDIR);
	ERRNO(open(mnt, O_RDWR), EISDIR);
	ERRNO(open(P(""), O_WRONLY), EISDIR);
	ERRNO(open(mnt, O_RDWR | O_TMPFILE, 0600), EOPNOTSUPP);
	CHECK_EQ(close(fd), 0);
	ERRNO(close(fd), EBADF);
}

/* A pool descriptor is a kernel descriptor no one else gets, that fails
 * any kernel call that reaches it, and is closed by exec. */
static void test_placeholder(void)
{
	int fd = open(P("a"), O_RDWR), hfd, n;
	char c;

	REQUIRE(fd >= 0);
	hfd = open(H("h"), O_RDWR | O_CREAT, 0644);
	REQUIRE(hfd >= 0);
	CHECK(hfd != fd);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	n = (int)syscall(SYS_read, fd, &c, 1);
	CHECK(n == -1 && errno == EBADF);
	n = (int)syscall(SYS_write, fd, &c, 1);
	CHECK(n == -1 && errno == EBADF);
	ERRNO(ioctl(fd, FIONREAD, &n), ENOTTY);
	/* openat relative to a pool file */
	ERRNO(openat(fd, "x", O_RDONLY), ENOTDIR);
	close(hfd);
	close(fd);
}

static void test_rw(void)
{
	char buf[64] = {0}, b1[3], b2[4];
	struct iovec iov[2];
	int fd = open(P("a"), O_RDWR);
	off_t off;

	REQUIRE(fd >= 0);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 5);
	CHECK(!memcmp(buf, "hello", 5));
	CHECK_EQ(read(fd, buf, sizeof(buf)), 0);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 5);
	CHECK_EQ(lseek(fd, -2, SEEK_END), 3);
	CHECK_EQ(write(fd, "LOWORLD", 7), 7);
	CHECK_EQ(pread(fd, buf, 10, 0), 10);
	CHECK(!memcmp(buf, "helLOWORLD", 10));
	CHECK_EQ(pwrite(fd, "H", 1, 0), 1);
	CHECK_EQ(pread64(fd, buf, 1, 0), 1);
	CHECK_EQ(buf[0], 'H');
	ERRNO(pread(fd, buf, 1, -1), EINVAL);
	ERRNO(lseek(fd, -100, SEEK_SET), EINVAL);
	ERRNO(lseek(fd, 0, 99), EINVAL);
	CHECK_EQ(lseek(fd, 2, SEEK_DATA), 2);
	CHECK_EQ(lseek(fd, 2, SEEK_HOLE), 10);
	ERRNO(lseek(fd, 10, SEEK_DATA), ENXIO);
	/* vectors */
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	iov[0] = (struct iovec){b1, 3};
	iov[1] = (struct iovec){b2, 4};
	CHECK_EQ(readv(fd, iov, 2), 7);
	CHECK(!memcmp(b1, "Hel", 3) && !memcmp(b2, "LOWO", 4));
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 7);
	CHECK_EQ(preadv(fd, iov, 2, 3), 7);
	CHECK(!memcmp(b1, "LOW", 3) && !memcmp(b2, "ORLD", 4));
	iov[0] = (struct iovec){"ab", 2};
	iov[1] = (struct iovec){"cd", 2};
	CHECK_EQ(pwritev(fd, iov, 2, 10), 4);
	CHECK_EQ(lseek(fd, 0, SEEK_END), 14);
	CHECK_EQ(writev(fd, iov, 2), 4);
	CHECK_EQ(pwritev2(fd, iov, 1, -1, 0), 2); /* at the offset: 18 */
	iov[0] = (struct iovec){b1, 2};
	CHECK_EQ(preadv2(fd, iov, 1, 0, 0), 2);
	CHECK(!memcmp(b1, "He", 2));
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 20);
	CHECK_EQ(pread(fd, buf, 64, 0), 20);
	CHECK(!memcmp(buf, "HelLOWORLDabcdabcdab", 20));
	close(fd);
	/* access modes */
	fd = open(P("a"), O_RDONLY);
	ERRNO(write(fd, "x", 1), EBADF);
	ERRNO(ftruncate(fd, 0), EINVAL);
	ERRNO(fallocate(fd, 0, 0, 4096), EBADF);
	close(fd);
	fd = open(P("a"), O_WRONLY);
	ERRNO(read(fd, buf, 1), EBADF);
	close(fd);
	fd = open(mnt, O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	ERRNO(read(fd, buf, 1), EISDIR);
	CHECK_EQ(fsync(fd), 0);
	close(fd);
	/* O_APPEND, and F_SETFL turning it off */
	fd = open(P("a"), O_WRONLY | O_APPEND);
	CHECK(fcntl(fd, F_GETFL) & O_APPEND);
	CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
	CHECK_EQ(write(fd, "Z", 1), 1);
	off = lseek(fd, 0, SEEK_CUR);
	CHECK_EQ(off, 21);
	CHECK_EQ(fcntl(fd, F_SETFL, 0), 0);
	CHECK(!(fcntl(fd, F_GETFL) & O_APPEND));
	CHECK_EQ(pwrite(fd, "h", 1, 0), 1);
	close(fd);
	/* O_TRUNC, creat */
	fd = creat(P("c"), 0600);
	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, "12345", 5), 5);
	close(fd);
	fd = open(P("c"), O_WRONLY | O_TRUNC);
	close(fd);
	fd = open64(P("c"), O_RDONLY);
	CHECK_EQ(read(fd, buf, 5), 0);
	close(fd);
}

static void test_stat(void)
{
	struct stat st, st2;
	struct statx stx;
	struct statvfs sv;
	struct statfs sf;
	char fdlink[64];
	int fd;

	CHECK_EQ(stat(P("a"), &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_size, 21);
	CHECK_EQ(st.st_mode & 0777, 0644 & ~022);
	CHECK_EQ(lstat(P("a"), &st2), 0);
	CHECK_EQ(st2.st_ino, st.st_ino);
	fd = open(P("a"), O_RDONLY);
	CHECK_EQ(fstat(fd, &st2), 0);
	CHECK_EQ(st2.st_ino, st.st_ino);
	CHECK_EQ(st2.st_dev, st.st_dev);
	CHECK_EQ(fstatat(fd, "", &st2, AT_EMPTY_PATH), 0);
	CHECK_EQ(st2.st_size, 21);
	close(fd);
	CHECK_EQ(fstatat(AT_FDCWD, P("a"), &st2, 0), 0);
	CHECK_EQ(st2.st_size, 21);
	CHECK_EQ(statx(AT_FDCWD, P("a"), 0, STATX_BASIC_STATS, &stx), 0);
	CHECK_EQ(stx.stx_size, 21);
	CHECK_EQ(stx.stx_ino, st.st_ino);
	CHECK(S_ISREG(stx.stx_mode));
	CHECK_EQ(stat(mnt, &st2), 0);
	CHECK(S_ISDIR(st2.st_mode));
	CHECK(st2.st_dev == st.st_dev);
	fd = open(mnt, O_RDONLY | O_DIRECTORY);
	CHECK_EQ(fstatat(fd, "a", &st2, 0), 0);
	CHECK_EQ(st2.st_ino, st.st_ino);
	close(fd);
	ERRNO(stat(P("nope"), &st), ENOENT);
	ERRNO(stat(P("a/b"), &st), ENOENT);
	/* access */
	CHECK_EQ(access(P("a"), F_OK), 0);
	CHECK_EQ(access(P("a"), R_OK | W_OK), 0);
	CHECK_EQ(faccessat(AT_FDCWD, P("a"), R_OK, 0), 0);
	ERRNO(access(P("a"), X_OK), EACCES);
	ERRNO(access(P("nope"), F_OK), ENOENT);
	CHECK_EQ(access(mnt, R_OK | X_OK), 0);
	/* statfs, statvfs */
	CHECK_EQ(statfs(P("a"), &sf), 0);
	CHECK_EQ(sf.f_type, 0x75646178);
	CHECK(sf.f_bfree > 0 && sf.f_bfree <= sf.f_blocks);
	/* inodes: the table's size, less the files (a, and any others) */
	CHECK(sf.f_ffree > 0 && sf.f_ffree < sf.f_files);
	CHECK_EQ(statvfs(mnt, &sv), 0);
	CHECK_EQ(sv.f_blocks, sf.f_blocks);
	CHECK_EQ(sv.f_files, sf.f_files);
	CHECK_EQ(sv.f_ffree, sf.f_ffree);
	CHECK_EQ(sv.f_favail, sf.f_ffree);
	fd = open(P("a"), O_RDONLY);
	CHECK_EQ(fstatvfs(fd, &sv), 0);
	CHECK_EQ(sv.f_namemax, 255);
	CHECK_EQ(fstatfs(fd, &sf), 0);
	CHECK_EQ(sf.f_type, 0x75646178);
	/* the kernel's links to a descriptor would reach the placeholder */
	snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d", fd);
	ERRNO(open(fdlink, O_RDONLY), ENXIO);
	ERRNO(stat(fdlink, &st2), ENXIO);
	close(fd);
	/* attributes the pool does not have */
	CHECK_EQ(chmod(P("a"), 0644 & ~022), 0);
	ERRNO(chmod(P("a"), 0600), EOPNOTSUPP);
	CHECK_EQ(chown(P("a"), geteuid(), (gid_t)-1), 0);
	CHECK_EQ(utimensat(AT_FDCWD, P("a"), NULL, 0), 0);
	CHECK_EQ(utimes(P("a"), NULL), 0);
	ERRNO(utimes(P("a"), ((struct timeval[2]){{1, 0}, {1, 0}})),
	      EOPNOTSUPP);
	fd = open(P("a"), O_RDONLY);
	ERRNO(futimes(fd, ((struct timeval[2]){{1, 0}, {1, 0}})), EOPNOTSUPP);
	ERRNO(futimens(fd, ((struct timespec[2]){{1, 0}, {1, 0}})), EOPNOTSUPP);
	close(fd);
	ERRNO(getxattr(P("a"), "user.x", NULL, 0), ENOTSUP);
	ERRNO(mkdir(P("d"), 0755), EPERM);
	ERRNO(mkdir(mnt, 0755), EEXIST);
	ERRNO(link(P("a"), P("b")), EPERM);
	ERRNO(link(P("a"), H("b")), EXDEV);
	ERRNO(symlink("a", P("s")), EPERM);
	ERRNO(readlink(P("a"), (char[8]){0}, 8), EINVAL);
}

static void test_size(void)
{
	char buf[8192];
	struct stat st;
	int fd = open(P("f"), O_RDWR | O_CREAT, 0644);

	REQUIRE(fd >= 0);
	CHECK_EQ(ftruncate(fd, 10000), 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 10000);
	CHECK_EQ(truncate(P("f"), 5000), 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 5000);
	ERRNO(ftruncate(fd, -1), EINVAL);
	CHECK_EQ(fallocate(fd, 0, 0, 65536), 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 65536);
	CHECK_EQ(posix_fallocate(fd, 0, 131072), 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 131072);
	CHECK_EQ(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 262144), 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 131072);
	memset(buf, 'x', sizeof(buf));
	CHECK_EQ(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK_EQ(
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
	    0);
	CHECK_EQ(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK(buf[0] == 0 && buf[4095] == 0 && buf[4096] == 'x');
	ERRNO(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), EOPNOTSUPP);
	CHECK_EQ(posix_fallocate(fd, -1, 1), EINVAL);
	CHECK_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL), 0);
	CHECK_EQ(fsync(fd), 0);
	CHECK_EQ(fdatasync(fd), 0);
	CHECK_EQ(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE), 0);
	ERRNO(sync_file_range(fd, -1, 0, 0), EINVAL);
	close(fd);
	ERRNO(truncate(P("nope"), 0), ENOENT);
}

static void test_mmap(void)
{
	int fd = open(P("m"), O_RDWR | O_CREAT, 0644), rfd, wfd, pfd[2];
	char buf[16], *p, *q, *r;

	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, 1 << 20) == 0);
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	memcpy(p + 8192, "mapped", 6);
	CHECK_EQ(pread(fd, buf, 6, 8192), 6);
	CHECK(!memcmp(buf, "mapped", 6));
	CHECK_EQ(pwrite(fd, "PWRITE", 6, 12288), 6);
	CHECK(!memcmp(p + 12288, "PWRITE", 6));
	CHECK_EQ(msync(p, 1 << 20, MS_SYNC), 0);
	CHECK_EQ(msync(p + 4096, 4096, MS_ASYNC), 0);
	CHECK_EQ(madvise(p, 1 << 20, MADV_SEQUENTIAL), 0);
	CHECK_EQ(madvise(p, 1 << 20, MADV_WILLNEED), 0);
	CHECK_EQ(posix_madvise(p, 1 << 20, POSIX_MADV_RANDOM), 0);
	ERRNO(madvise(p, 4096, MADV_REMOVE), EOPNOTSUPP);
	CHECK(mremap(p, 1 << 20, 2 << 20, MREMAP_MAYMOVE) == MAP_FAILED &&
	      errno == EOPNOTSUPP);
	ERRNO(munmap(p, 4096), EINVAL); /* part of a udax mapping */
	/* a private mapping's stores stay private */
	q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 8192);
	REQUIRE(q != MAP_FAILED);
	CHECK(!memcmp(q, "mapped", 6));
	q[0] = 'M';
	CHECK_EQ(p[8192], 'm');
	CHECK_EQ(munmap(q, 4096), 0);
	/* EFAULT retry: pipes read from and into untouched udax pages */
	REQUIRE(pipe(pfd) == 0);
	CHECK_EQ(write(pfd[1], p + 65536 * 4 - 3, 9), 9); /* 2 pages */
	CHECK_EQ(write(pfd[1], "piped", 5), 5);
	CHECK_EQ(read(pfd[0], buf, 9), 9);
	CHECK_EQ(read(pfd[0], p + 65536 * 8 - 2, 5), 5);
	CHECK(!memcmp(p + 65536 * 8 - 2, "piped", 5));
	close(pfd[0]);
	close(pfd[1]);
	CHECK_EQ(munmap(p, 1 << 20), 0);
	CHECK_EQ(pread(fd, buf, 5, 65536 * 8 - 2), 5);
	CHECK(!memcmp(buf, "piped", 5));
	/* access checks, as the kernel makes them */
	rfd = open(P("m"), O_RDONLY);
	wfd = open(P("m"), O_WRONLY);
	ERRNO(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0),
	      EACCES);
	ERRNO(mmap(NULL, 4096, PROT_READ, MAP_SHARED, wfd, 0), EACCES);
	ERRNO(mmap(NULL, 4096, PROT_READ, MAP_SHARED, rfd, 100), EINVAL);
	ERRNO(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, rfd, 0),
	      EPERM);
	r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, rfd, 0);
	CHECK(r != MAP_FAILED);
	if (r != MAP_FAILED)
		CHECK_EQ(munmap(r, 4096), 0);
	/* a mapping outlives its descriptor */
	r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, rfd, 8192);
	REQUIRE(r != MAP_FAILED);
	close(rfd);
	CHECK(!memcmp(r, "mapped", 6));
	CHECK_EQ(munmap(r, 4096), 0);
	close(wfd);
	close(fd);
	/* host mappings are the kernel's */
	fd = open(H("hm"), O_RDWR | O_CREAT, 0644);
	REQUIRE(fd >= 0 && ftruncate(fd, 4096) == 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	p[0] = 'k';
	CHECK_EQ(msync(p, 4096, MS_SYNC), 0);
	CHECK_EQ(madvise(p, 4096, MADV_DONTNEED), 0);
	CHECK_EQ(munmap(p, 4096), 0);
	close(fd);
}

static void test_dup_fcntl(void)
{
	int fd = open(P("a"), O_RDWR), d1, d2, d3, d4, hfd, fd2;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char c;

	REQUIRE(fd >= 0);
	d1 = dup(fd);
	CHECK(d1 >= 0 && d1 != fd);
	CHECK_EQ(lseek(d1, 3, SEEK_SET), 3);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 3); /* one description */
	d2 = fcntl(fd, F_DUPFD, 100);
	CHECK(d2 >= 100);
	d3 = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	CHECK(d3 >= 0);
	hfd = open(H("h"), O_RDWR);
	REQUIRE(hfd >= 0);
	/* dup2 of a pool fd over a host fd, and of a host fd over it */
	CHECK_EQ(dup2(fd, hfd), hfd);
	CHECK_EQ(read(hfd, &c, 1), 1);
	CHECK_EQ(c, 'L');
	CHECK(fcntl(hfd, F_GETFD) & FD_CLOEXEC);
	d4 = open(H("h"), O_RDONLY);
	CHECK_EQ(dup2(d4, hfd), hfd);
	CHECK_EQ(read(hfd, &c, 1), 0); /* the empty host file now */
	CHECK_EQ(dup3(fd, hfd, O_CLOEXEC), hfd);
	ERRNO(dup3(fd, fd, 0), EINVAL);
	CHECK_EQ(dup2(fd, fd), fd);
	close(fd);
	CHECK_EQ(pread(d1, &c, 1, 0), 1); /* the others still work */
	CHECK_EQ(c, 'h');
	close(d1);
	close(d2);
	close(d3);
	close(d4);
	CHECK_EQ(read(hfd, &c, 1), 1);
	close(hfd);
	/* close_range forgets pool descriptors */
	fd = open(P("a"), O_RDONLY);
	CHECK_EQ(close_range((unsigned)fd, (unsigned)fd, 0), 0);
	hfd = open(H("h"), O_RDONLY);
	CHECK_EQ(hfd, fd); /* the number is the host's again */
	CHECK_EQ(read(hfd, &c, 1), 0);
	close(hfd);
	/* record locks: one process's never conflict */
	fd = open(P("a"), O_RDWR);
	CHECK_EQ(fcntl(fd, F_SETLK, &fl), 0);
	CHECK_EQ(fcntl(fd, F_SETLKW, &fl), 0);
	CHECK_EQ(fcntl(fd, F_GETLK, &fl), 0);
	CHECK_EQ(fl.l_type, F_UNLCK);
	fl.l_type = F_UNLCK;
	CHECK_EQ(fcntl(fd, F_SETLK, &fl), 0);
	fl.l_type = 42;
	ERRNO(fcntl(fd, F_SETLK, &fl), EINVAL);
	fl.l_type = F_RDLCK;
	ERRNO(fcntl(fd, F_OFD_SETLK, &fl), EINVAL);
	CHECK_EQ(fcntl(fd, F_SETFD, 0), 0);
	CHECK_EQ(fcntl(fd, F_GETFD), 0);
	CHECK_EQ(fcntl(fd, F_SETFD, FD_CLOEXEC), 0);
	/* flock: per open file description */
	fd2 = open(P("a"), O_RDONLY);
	CHECK_EQ(flock(fd, LOCK_EX), 0);
	ERRNO(flock(fd2, LOCK_SH | LOCK_NB), EWOULDBLOCK);
	d1 = dup(fd);
	close(fd);
	ERRNO(flock(fd2, LOCK_SH | LOCK_NB), EWOULDBLOCK); /* d1 holds it */
	close(d1);
	CHECK_EQ(flock(fd2, LOCK_SH | LOCK_NB), 0);
	fd = open(P("a"), O_RDONLY);
	CHECK_EQ(flock(fd, LOCK_SH | LOCK_NB), 0);
	ERRNO(flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	CHECK_EQ(flock(fd2, LOCK_UN), 0);
	CHECK_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	close(fd2);
	/* kernel copies: none with a pool file */
	fd = open(P("a"), O_RDONLY);
	hfd = open(H("h"), O_RDWR);
	ERRNO(copy_file_range(fd, NULL, hfd, NULL, 5, 0), EXDEV);
	close(fd);
	close(hfd);
}

static void test_dirs(void)
{
	bool seen_a = false, seen_dot = false, seen_dotdot = false;
	struct dirent *de;
	struct stat st;
	long pos;
	int n = 0, fd;
	DIR *d = opendir(mnt);

	REQUIRE(d);
	CHECK(dirfd(d) >= 0);
	while ((de = readdir(d))) {
		n++;
		if (!strcmp(de->d_name, "a")) {
			seen_a = true;
			CHECK_EQ(de->d_type, DT_REG);
			CHECK_EQ(stat(P("a"), &st), 0);
			CHECK_EQ(de->d_ino, st.st_ino);
		}
		seen_dot |= !strcmp(de->d_name, ".");
		seen_dotdot |= !strcmp(de->d_name, "..");
	}
	CHECK(seen_a && seen_dot && seen_dotdot);
	pos = telldir(d);
	rewinddir(d);
	CHECK(readdir(d) != NULL);
	seekdir(d, pos);
	CHECK(readdir(d) == NULL);
	CHECK_EQ(closedir(d), 0);
	CHECK(!opendir(P("a")) && errno == ENOTDIR);
	CHECK(!opendir(P("nope")) && errno == ENOENT);
	fd = open(mnt, O_RDONLY | O_DIRECTORY);
	d = fdopendir(fd);
	REQUIRE(d);
	CHECK(readdir64(d) != NULL);
	CHECK_EQ(closedir(d), 0);
	ERRNO(fcntl(fd, F_GETFD), EBADF); /* closedir closed it */
	/* host directories are glibc's */
	d = opendir(host);
	REQUIRE(d);
	n = 0;
	while ((de = readdir(d)))
		n += !strcmp(de->d_name, "h");
	CHECK_EQ(n, 1);
	closedir(d);
}

static void test_stdio(void)
{
	char line[64];
	FILE *f = fopen(P("s.txt"), "w");
	int fd;

	REQUIRE(f);
	CHECK(fileno(f) >= 0);
	CHECK_EQ(fprintf(f, "line %d\n", 1), 7);
	CHECK(fputs("line 2\n", f) >= 0);
	CHECK_EQ(fclose(f), 0);
	f = fopen64(P("s.txt"), "a+");
	REQUIRE(f);
	fputs("line 3\n", f);
	CHECK_EQ(fseek(f, 0, SEEK_SET), 0);
	CHECK(fgets(line, sizeof(line), f) && !strcmp(line, "line 1\n"));
	fclose(f);
	fd = open(P("s.txt"), O_RDONLY);
	f = fdopen(fd, "r");
	REQUIRE(f);
	CHECK_EQ(fileno(f), fd);
	CHECK(fgets(line, sizeof(line), f) && !strcmp(line, "line 1\n"));
	CHECK(fgets(line, sizeof(line), f) && !strcmp(line, "line 2\n"));
	CHECK(fgets(line, sizeof(line), f) && !strcmp(line, "line 3\n"));
	CHECK(!fgets(line, sizeof(line), f) && feof(f));
	CHECK_EQ(fclose(f), 0);
	ERRNO(fcntl(fd, F_GETFD), EBADF);
	CHECK(!fopen(P("nope"), "r") && errno == ENOENT);
	CHECK(!fopen(P("s.txt"), "wx") && errno == EEXIST);
	fd = open(P("s.txt"), O_RDONLY);
	CHECK(!fdopen(fd, "w") && errno == EINVAL);
	close(fd);
}

static void test_names(void)
{
	struct stat st;
	char buf[8];
	int fd;

	/* unlink: open handles keep the data */
	fd = open(P("u"), O_RDWR | O_CREAT, 0644);
	CHECK_EQ(write(fd, "keep", 4), 4);
	CHECK_EQ(unlink(P("u")), 0);
	ERRNO(stat(P("u"), &st), ENOENT);
	CHECK_EQ(pread(fd, buf, 4, 0), 4);
	CHECK(!memcmp(buf, "keep", 4));
	close(fd);
	ERRNO(unlink(P("u")), ENOENT);
	ERRNO(unlink(mnt), EISDIR);
	ERRNO(rmdir(mnt), EBUSY);
	ERRNO(rmdir(P("a")), ENOTDIR);
	ERRNO(unlinkat(AT_FDCWD, P("a"), AT_REMOVEDIR), ENOTDIR);
	fd = open(mnt, O_RDONLY);
	close(open(P("v"), O_CREAT | O_WRONLY, 0644));
	CHECK_EQ(unlinkat(fd, "v", 0), 0);
	close(fd);
	close(open(P("w"), O_CREAT | O_WRONLY, 0644));
	CHECK_EQ(remove(P("w")), 0);
	/* rename: across the mount never (EXDEV); inside, udax_rename */
	ERRNO(rename(P("a"), H("a")), EXDEV);
	ERRNO(rename(H("h"), P("h")), EXDEV);
	close(open(P("r1"), O_CREAT | O_WRONLY, 0644));
	fd = open(P("r1"), O_RDWR);
	CHECK_EQ(write(fd, "old", 3), 3);
	CHECK_EQ(rename(P("r1"), P("r2")), 0);
	ERRNO(stat(P("r1"), &st), ENOENT);
	CHECK_EQ(stat(P("r2"), &st), 0);
	CHECK_EQ(st.st_size, 3);
	CHECK_EQ(pwrite(fd, "O", 1, 0), 1); /* the handle follows the name */
	close(fd);
	CHECK_EQ(rename(P("r2"), P("r2")), 0);
	close(open(P("r1"), O_CREAT | O_WRONLY, 0644));
	ERRNO(renameat2(AT_FDCWD, P("r2"), AT_FDCWD, P("r1"), RENAME_NOREPLACE),
	      EEXIST);
	ERRNO(renameat2(AT_FDCWD, P("r2"), AT_FDCWD, P("r1"), RENAME_EXCHANGE),
	      EINVAL);
	/* replacing: r1 is now r2's file */
	CHECK_EQ(renameat(AT_FDCWD, P("r2"), AT_FDCWD, P("r1")), 0);
	fd = open(P("r1"), O_RDONLY);
	CHECK_EQ(read(fd, buf, 8), 3);
	CHECK(!memcmp(buf, "Old", 3));
	close(fd);
	ERRNO(rename(P("r2"), P("r3")), ENOENT);
	ERRNO(rename(P("r1"), mnt), EBUSY);
	CHECK_EQ(unlink(P("r1")), 0);
	/* host names pass through */
	CHECK_EQ(rename(H("h"), H("h2")), 0);
	CHECK_EQ(rename(H("h2"), H("h")), 0);
}

static void test_cwd(void)
{
	char cwd[512], buf[1024];
	struct stat st;
	int fd, dfd;

	REQUIRE(getcwd(cwd, sizeof(cwd)));
	CHECK_EQ(chdir(mnt), 0);
	CHECK(getcwd(buf, sizeof(buf)) && !strcmp(buf, mnt));
	CHECK_EQ(stat("a", &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(stat(".", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	fd = open("rel", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(stat(P("rel"), &st), 0);
	CHECK_EQ(unlink("rel"), 0);
	ERRNO(chdir("a"), ENOTDIR);
	CHECK_EQ(chdir(cwd), 0);
	CHECK(getcwd(buf, sizeof(buf)) && !strcmp(buf, cwd));
	dfd = open(mnt, O_RDONLY | O_DIRECTORY);
	CHECK_EQ(fchdir(dfd), 0);
	CHECK(getcwd(buf, sizeof(buf)) && !strcmp(buf, mnt));
	CHECK_EQ(stat("a", &st), 0);
	CHECK_EQ(chdir(host), 0);
	CHECK_EQ(stat("h", &st), 0); /* the host's relative path again */
	CHECK_EQ(chdir(cwd), 0);
	close(dfd);
	/* a path through the mount to the host (HOSTDIR is its sibling) */
	snprintf(buf, sizeof(buf), "%s/../%s/h", mnt, strrchr(host, '/') + 1);
	CHECK_EQ(stat(buf, &st), 0);
}

static void test_host_passthrough(void)
{
	struct stat st;
	char buf[8];
	FILE *f;
	int fd = open(H("p"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, "host", 4), 4);
	CHECK_EQ(pread(fd, buf, 4, 0), 4);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 4);
	CHECK_EQ(ftruncate(fd, 2), 0);
	CHECK_EQ(fsync(fd), 0);
	CHECK_EQ(flock(fd, LOCK_EX), 0);
	close(fd);
	CHECK_EQ(stat(H("p"), &st), 0);
	CHECK_EQ(st.st_size, 2);
	f = fopen(H("p"), "r");
	REQUIRE(f);
	CHECK_EQ(fread(buf, 1, 8, f), 2);
	fclose(f);
	CHECK_EQ(access(H("p"), W_OK), 0);
	CHECK_EQ(unlink(H("p")), 0);
	ERRNO(stat(H("p"), &st), ENOENT);
}

/* fork: the child's calls on pool descriptors fail, the parent's work. */
static void test_fork(void)
{
	int fd = open(P("a"), O_RDONLY), st;
	char c;
	pid_t pid;

	REQUIRE(fd >= 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		ssize_t n = pread(fd, &c, 1, 0);

		_exit(n == -1 && errno == EPERM ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(pread(fd, &c, 1, 0), 1);
	close(fd);
}

/* Threads sharing descriptors while others open and close. */
static void *thr_fail(const char *what, int i)
{
	fprintf(stderr, "thread: %s failed at %d: %s\n", what, i,
		strerror(errno));
	return (void *)1;
}

static void *thr(void *arg)
{
	int id = (int)(intptr_t)arg;
	char name[300], buf[4096];

	/* not P(): its buffers are not per thread */
	snprintf(name, sizeof(name), "%s/t%d", mnt, id);
	for (int i = 0; i < 200; i++) {
		int fd = open(name, O_RDWR | O_CREAT, 0644), d;

		if (fd < 0)
			return thr_fail("open", i);
		memset(buf, 'a' + id, sizeof(buf));
		if (pwrite(fd, buf, sizeof(buf), (off_t)i * 512) != 4096)
			return thr_fail("pwrite", i);
		d = dup(fd);
		close(fd);
		if (pread(d, buf, 1, 0) != 1 || buf[0] != 'a' + id)
			return thr_fail("pread", i);
		close(d);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[4];
	void *r;

	for (int i = 0; i < 4; i++)
		REQUIRE(!pthread_create(&t[i], NULL, thr, (void *)(intptr_t)i));
	for (int i = 0; i < 4; i++) {
		REQUIRE(!pthread_join(t[i], &r));
		CHECK(r == NULL);
	}
}

int main(int argc, char **argv)
{
	const char *m = getenv("UDAX_MOUNT");

	if (!m || argc < 2) {
		fprintf(stderr,
			"usage: UDAX_POOL=.. UDAX_MOUNT=.. "
			"LD_PRELOAD=libudax-preload.so %s HOSTDIR\n"
			"(HOSTDIR a sibling of UDAX_MOUNT)\n",
			argv[0]);
		return T_FAIL;
	}
	snprintf(mnt, sizeof(mnt), "%s", m);
	snprintf(host, sizeof(host), "%s", argv[1]);
	t_watchdog(120);
	test_open_errors();
	test_placeholder();
	test_rw();
	test_stat();
	test_size();
	test_mmap();
	test_dup_fcntl();
	test_dirs();
	test_stdio();
	test_names();
	test_cwd();
	test_host_passthrough();
	test_fork();
	test_threads();
	if (t_failures) {
		fprintf(stderr, "preload_calls: %d failures\n", t_failures);
		return T_FAIL;
	}
	printf("preload_calls: ok\n");
	return T_PASS;
}
