/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preload_forms - the other names of the calls libudax-preload.so wraps:
 * the 64-bit forms (stat64, pwrite64, mmap64...), the _FORTIFY_SOURCE
 * entries (__open_2...), the socket calls that get the EFAULT retry,
 * the descriptor forms of the metadata calls (fchmod, fgetxattr...),
 * the kernel copies a pool file cannot take part in, and the calls
 * that make up the rest (syncfs, readahead, closefrom, statfs64...).
 * preload_calls tests the behaviour through the common names; here each
 * other name is called once on a pool file, where it must act as its
 * common name does, and where it matters once on a host file, where it
 * must reach the kernel. A missing wrapper shows: the pool paths do not
 * exist on the host, so the kernel answers ENOENT or EBADF.
 * Run by tests/preload_forms.sh with LD_PRELOAD set (UDAX_POOL and
 * UDAX_MOUNT in the environment; argv[1] a host directory).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "preload_util.h"

/* glibc's fortify entries: what open() becomes with _FORTIFY_SOURCE */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* A pool file "f" with 8 KiB of known bytes: f[i] = i % 251. */
static void make_file(void)
{
	char buf[8192];
	int fd, i;

	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = (char)(i % 251);
	fd = creat64(P("f"), 0644);
	REQUIRE(fd >= 0);
	CHECK_EQ(pwrite64(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK_EQ(close(fd), 0);
}

static int byte_ok(const char *p, long off, long n)
{
	for (long i = 0; i < n; i++)
		if (p[i] != (char)((off + i) % 251))
			return 0;
	return 1;
}

static void test_open_forms(void)
{
	int fd, dfd;
	char c;

	fd = __open_2(P("f"), O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(pread(fd, &c, 1, 7), 1);
	CHECK_EQ(c, 7);
	CHECK_EQ(close(fd), 0);
	fd = __open64_2(P("f"), O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	ERRNO(__open_2(P("none"), O_RDONLY), ENOENT);
	ERRNO(__open64_2(P("none"), O_RDONLY), ENOENT);
	dfd = open(mnt, O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	fd = __openat_2(dfd, "f", O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	fd = __openat64_2(dfd, "f", O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	fd = openat64(dfd, "f", O_RDWR);
	CHECK(fd >= 0);
	close(fd);
	ERRNO(__openat_2(dfd, "none", O_RDONLY), ENOENT);
	close(dfd);
	/* the host still opens through the fortify entry */
	fd = open(H("h"), O_RDWR | O_CREAT, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	fd = __open_2(H("h"), O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
}

static void test_io64(void)
{
	char buf[32], b1[5], b2[6];
	struct iovec iov[2] = {{b1, sizeof(b1)}, {b2, sizeof(b2)}};
	struct stat64 st;
	int fd = open(P("f"), O_RDWR);

	REQUIRE(fd >= 0);
	CHECK_EQ(pread64(fd, buf, 4, 100), 4);
	CHECK(byte_ok(buf, 100, 4));
	CHECK_EQ(preadv64(fd, iov, 2, 200), 11);
	CHECK(byte_ok(b1, 200, 5) && byte_ok(b2, 205, 6));
	CHECK_EQ(preadv64v2(fd, iov, 2, 300, 0), 11);
	CHECK(byte_ok(b1, 300, 5) && byte_ok(b2, 305, 6));
	CHECK_EQ(lseek64(fd, 10, SEEK_SET), 10);
	CHECK_EQ(preadv64v2(fd, iov, 1, -1, 0), 5); /* -1: at the offset */
	CHECK(byte_ok(b1, 10, 5));
	CHECK_EQ(lseek64(fd, 0, SEEK_CUR), 15);
	ERRNO(preadv64v2(fd, iov, 1, 0, 0x40000000), EOPNOTSUPP);
	memcpy(b1, "ABCDE", 5);
	memcpy(b2, "FGHIJK", 6);
	CHECK_EQ(pwritev64(fd, iov, 2, 8192), 11);
	CHECK_EQ(pwritev64v2(fd, iov, 1, 8192 + 11, 0), 5);
	CHECK_EQ(pread(fd, buf, 16, 8192), 16);
	CHECK(!memcmp(buf, "ABCDEFGHIJKABCDE", 16));
	CHECK_EQ(fstat64(fd, &st), 0);
	CHECK_EQ(st.st_size, 8192 + 16);
	CHECK_EQ(ftruncate64(fd, 8192), 0);
	CHECK_EQ(stat64(P("f"), &st), 0);
	CHECK_EQ(st.st_size, 8192);
	CHECK_EQ(lstat64(P("f"), &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(fstatat64(AT_FDCWD, P("f"), &st, 0), 0);
	CHECK_EQ(st.st_size, 8192);
	ERRNO(stat64(P("none"), &st), ENOENT);
	CHECK_EQ(truncate64(P("f"), 16384), 0);
	CHECK_EQ(stat64(P("f"), &st), 0);
	CHECK_EQ(st.st_size, 16384);
	CHECK_EQ(pread(fd, buf, 4, 12000), 4);
	CHECK(!memcmp(buf, "\0\0\0\0", 4)); /* grown: zeros */
	CHECK_EQ(truncate64(P("f"), 8192), 0);
	CHECK_EQ(fallocate64(fd, 0, 0, 65536), 0);
	CHECK_EQ(fstat64(fd, &st), 0);
	CHECK_EQ(st.st_size, 65536);
	CHECK_EQ(posix_fallocate64(fd, 0, 131072), 0);
	CHECK_EQ(fstat64(fd, &st), 0);
	CHECK_EQ(st.st_size, 131072);
	CHECK_EQ(posix_fallocate64(fd, -1, 10), EINVAL); /* the error number */
	CHECK_EQ(posix_fadvise64(fd, 0, 0, POSIX_FADV_SEQUENTIAL), 0);
	CHECK_EQ(posix_fadvise64(fd, 0, 0, 99), EINVAL);
	CHECK_EQ(readahead(fd, 0, 4096), 0);
	CHECK_EQ(ftruncate64(fd, 8192), 0);
	CHECK_EQ(syncfs(fd), 0);
	CHECK_EQ(fcntl64(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	CHECK(fcntl64(fd, F_GETFD) & FD_CLOEXEC);
	{
		struct flock64 fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
				     .l_start = 0, .l_len = 10};

		CHECK_EQ(fcntl64(fd, F_SETLK64, &fl), 0);
		fl.l_type = F_UNLCK;
		CHECK_EQ(fcntl64(fd, F_SETLK64, &fl), 0);
	}
	CHECK_EQ(close(fd), 0);
}

static void test_mmap64(void)
{
	int fd = open(P("f"), O_RDWR);
	char *p;

	REQUIRE(fd >= 0);
	p = mmap64(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
	REQUIRE(p != MAP_FAILED);
	CHECK(byte_ok(p, 4096, 16));
	p[0] = 'X';
	CHECK_EQ(msync(p, 4096, MS_SYNC), 0);
	{
		char c = 0;

		CHECK_EQ(pread(fd, &c, 1, 4096), 1);
		CHECK_EQ(c, 'X');
		CHECK_EQ(pwrite(fd, &(char){4096 % 251}, 1, 4096), 1);
	}
	CHECK_EQ(munmap(p, 8192), 0);
	ERRNO(mmap64(NULL, 4096, PROT_READ, MAP_SHARED, fd, 100), EINVAL);
	close(fd);
}

/*
 * Sockets: a pool descriptor is not one (ENOTSOCK, not EBADF from the
 * placeholder); a socket sends from and receives into udax pages the
 * kernel cannot fault in itself (the EFAULT retry).
 */
static void test_sockets(void)
{
	int sv[2], fd = open(P("f"), O_RDWR);
	char buf[64], *p;
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	REQUIRE(fd >= 0);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ERRNO(send(fd, "x", 1, 0), ENOTSOCK);
	ERRNO(sendto(fd, "x", 1, 0, NULL, 0), ENOTSOCK);
	ERRNO(recv(fd, buf, 1, MSG_DONTWAIT), ENOTSOCK);
	ERRNO(recvfrom(fd, buf, 1, MSG_DONTWAIT, NULL, NULL), ENOTSOCK);
	iov = (struct iovec){buf, 1};
	ERRNO(sendmsg(fd, &mh, 0), ENOTSOCK);
	ERRNO(recvmsg(fd, &mh, MSG_DONTWAIT), ENOTSOCK);

	/* fresh mappings: no page of them is mapped before the calls */
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(send(sv[0], p + 4090, 10, 0), 10); /* across two pages */
	CHECK_EQ(recv(sv[1], buf, 10, 0), 10);
	CHECK(byte_ok(buf, 4090, 10));
	CHECK_EQ(munmap(p, 8192), 0);

	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(sendto(sv[0], "sendto", 6, 0, NULL, 0), 6);
	CHECK_EQ(recvfrom(sv[1], p + 100, 6, 0, NULL, NULL), 6);
	CHECK(!memcmp(p + 100, "sendto", 6));
	CHECK_EQ(munmap(p, 8192), 0);

	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	iov = (struct iovec){p + 4000, 200};
	CHECK_EQ(sendmsg(sv[0], &mh, 0), 200);
	{
		char got[200];

		CHECK_EQ(recv(sv[1], got, 200, MSG_WAITALL), 200);
		CHECK(byte_ok(got, 4000, 200));
	}
	CHECK_EQ(munmap(p, 8192), 0);

	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(send(sv[0], "recvmsg!", 8, 0), 8);
	iov = (struct iovec){p + 4092, 8};
	CHECK_EQ(recvmsg(sv[1], &mh, 0), 8);
	CHECK(!memcmp(p + 4092, "recvmsg!", 8));
	CHECK_EQ(munmap(p, 8192), 0);
	CHECK_EQ(pread(fd, buf, 8, 4092), 8);
	CHECK(!memcmp(buf, "recvmsg!", 8));
	/* put the file back as make_file left it */
	{
		char orig[8192];

		for (int i = 0; i < 8192; i++)
			orig[i] = (char)(i % 251);
		CHECK_EQ(pwrite(fd, orig, 8192, 0), 8192);
	}
	close(sv[0]);
	close(sv[1]);
	close(fd);
}

/* Kernel-to-kernel copies cannot reach a pool file: callers fall back. */
static void test_kernel_copies(void)
{
	int fd = open(P("f"), O_RDWR), hfd = open(H("h"), O_RDWR), pfd[2];
	off_t off = 0;

	REQUIRE(fd >= 0 && hfd >= 0);
	REQUIRE(pipe(pfd) == 0);
	ERRNO(sendfile(hfd, fd, &off, 10), EINVAL);
	ERRNO(sendfile64(fd, hfd, NULL, 10), EINVAL);
	ERRNO(splice(fd, NULL, pfd[1], NULL, 10, 0), EINVAL);
	ERRNO(splice(pfd[0], NULL, fd, NULL, 10, 0), EINVAL);
	ERRNO(copy_file_range(fd, NULL, hfd, NULL, 10, 0), EXDEV);
	/* host to host still copies */
	CHECK_EQ(write(hfd, "0123456789", 10), 10);
	off = 0;
	CHECK_EQ(sendfile64(pfd[1], hfd, &off, 10), 10);
	{
		char buf[10];

		CHECK_EQ(read(pfd[0], buf, 10), 10);
		CHECK(!memcmp(buf, "0123456789", 10));
	}
	close(pfd[0]);
	close(pfd[1]);
	close(hfd);
	close(fd);
}

/* The descriptor and l-forms of the metadata calls. */
static void test_meta_forms(void)
{
	int fd = open(P("f"), O_RDWR), dfd = open(mnt, O_RDONLY | O_DIRECTORY);
	struct stat st;
	char buf[64];

	REQUIRE(fd >= 0 && dfd >= 0);
	REQUIRE(fstat(fd, &st) == 0);
	CHECK_EQ(fchmod(fd, st.st_mode & 07777), 0);
	ERRNO(fchmod(fd, (st.st_mode ^ 0100) & 07777), EOPNOTSUPP);
	CHECK_EQ(fchmodat(dfd, "f", st.st_mode & 07777, 0), 0);
	ERRNO(fchmodat(dfd, "none", 0644, 0), ENOENT);
	CHECK_EQ(fchown(fd, st.st_uid, st.st_gid), 0);
	CHECK_EQ(fchown(fd, (uid_t)-1, (gid_t)-1), 0);
	ERRNO(fchown(fd, st.st_uid + 1, (gid_t)-1), EPERM);
	CHECK_EQ(fchownat(dfd, "f", st.st_uid, (gid_t)-1, 0), 0);
	CHECK_EQ(lchown(P("f"), (uid_t)-1, st.st_gid), 0);
	ERRNO(lchown(P("none"), 0, 0), ENOENT);
	CHECK_EQ(lutimes(P("f"), NULL), 0);
	CHECK_EQ(utime(P("f"), NULL), 0);
	ERRNO(utime(P("none"), NULL), ENOENT);
	ERRNO(utime(P("f"), &(struct utimbuf){1, 1}), EOPNOTSUPP);
	/* no extended attributes on a pool file, in any form */
	ERRNO(lgetxattr(P("f"), "user.x", buf, sizeof(buf)), ENOTSUP);
	ERRNO(fgetxattr(fd, "user.x", buf, sizeof(buf)), ENOTSUP);
	ERRNO(setxattr(P("f"), "user.x", "v", 1, 0), ENOTSUP);
	ERRNO(lsetxattr(P("f"), "user.x", "v", 1, 0), ENOTSUP);
	ERRNO(fsetxattr(fd, "user.x", "v", 1, 0), ENOTSUP);
	ERRNO(listxattr(P("f"), buf, sizeof(buf)), ENOTSUP);
	ERRNO(llistxattr(P("f"), buf, sizeof(buf)), ENOTSUP);
	ERRNO(flistxattr(fd, buf, sizeof(buf)), ENOTSUP);
	/* the names: no links, no directories below the mount */
	ERRNO(linkat(dfd, "f", dfd, "g", 0), EPERM);
	ERRNO(linkat(AT_FDCWD, H("h"), dfd, "g", 0), EXDEV);
	ERRNO(symlinkat("f", dfd, "s"), EPERM);
	ERRNO(readlinkat(dfd, "f", buf, sizeof(buf)), EINVAL);
	ERRNO(readlinkat(dfd, "none", buf, sizeof(buf)), ENOENT);
	ERRNO(mkdirat(dfd, "d", 0755), EPERM);
	ERRNO(mkdirat(dfd, "f", 0755), EEXIST);
	ERRNO(mkdirat(AT_FDCWD, mnt, 0755), EEXIST);
	/* host names pass through */
	CHECK_EQ(mkdirat(AT_FDCWD, H("dir"), 0755), 0);
	CHECK_EQ(symlinkat("h", AT_FDCWD, H("sl")), 0);
	CHECK_EQ(readlinkat(AT_FDCWD, H("sl"), buf, sizeof(buf)), 1);
	CHECK_EQ(linkat(AT_FDCWD, H("h"), AT_FDCWD, H("hl"), 0), 0);
	CHECK_EQ(lstat(H("sl"), &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	close(dfd);
	close(fd);
}

static void test_statfs_forms(void)
{
	struct statfs64 sf, hsf;
	struct statvfs64 sv;
	int fd = open(P("f"), O_RDONLY);

	REQUIRE(fd >= 0);
	CHECK_EQ(statfs64(P("f"), &sf), 0);
	CHECK_EQ(sf.f_bsize, 4096);
	CHECK(sf.f_blocks > 0 && sf.f_bfree <= sf.f_blocks);
	CHECK_EQ(fstatfs64(fd, &sf), 0);
	CHECK_EQ(sf.f_bsize, 4096);
	CHECK_EQ(statvfs64(mnt, &sv), 0);
	CHECK_EQ(sv.f_frsize, 4096);
	CHECK_EQ(sv.f_blocks, sf.f_blocks);
	CHECK_EQ(fstatvfs64(fd, &sv), 0);
	CHECK_EQ(sv.f_blocks, sf.f_blocks);
	ERRNO(statfs64(P("none"), &sf), ENOENT);
	CHECK_EQ(statfs64(host, &hsf), 0);
	CHECK(hsf.f_type != sf.f_type);
	close(fd);
}

/* closefrom: pool descriptors above the bound go, the rest stay. */
static void test_closefrom(void)
{
	int low = open(P("f"), O_RDONLY), a, b, h;
	char c;

	REQUIRE(low >= 0);
	a = fcntl(low, F_DUPFD, 200);
	b = open(P("f"), O_RDONLY);
	REQUIRE(a == 200 && b >= 0);
	h = open(H("h"), O_RDONLY);
	REQUIRE(h >= 0);
	CHECK_EQ(dup2(h, 210), 210);
	close(h);
	h = 210;
	b = dup2(b, 220);
	REQUIRE(b == 220);
	closefrom(200);
	ERRNO(fcntl(a, F_GETFD), EBADF);
	ERRNO(fcntl(b, F_GETFD), EBADF);
	ERRNO(fcntl(h, F_GETFD), EBADF);
	ERRNO(pread(a, &c, 1, 0), EBADF);
	CHECK_EQ(pread(low, &c, 1, 3), 1);
	CHECK_EQ(c, 3);
	/* the numbers are free again, and a host file there is the host's */
	h = open(H("h"), O_RDONLY);
	CHECK_EQ(dup2(h, 200), 200);
	CHECK_EQ(pread(200, &c, 1, 0), 1);
	CHECK_EQ(c, '0');
	close(200);
	close(h);
	close(low);
}

int main(int argc, char **argv)
{
	const char *m = getenv("UDAX_MOUNT");

	if (!m || argc < 2) {
		fprintf(stderr,
			"usage: UDAX_POOL=.. UDAX_MOUNT=.. "
			"LD_PRELOAD=libudax-preload.so %s HOSTDIR\n",
			argv[0]);
		return T_FAIL;
	}
	snprintf(mnt, sizeof(mnt), "%s", m);
	snprintf(host, sizeof(host), "%s", argv[1]);
	t_watchdog(120);
	make_file();
	test_open_forms();
	test_io64();
	test_mmap64();
	test_sockets();
	test_kernel_copies();
	test_meta_forms();
	test_statfs_forms();
	test_closefrom();
	if (t_failures) {
		fprintf(stderr, "preload_forms: %d failures\n", t_failures);
		return T_FAIL;
	}
	printf("preload_forms: ok\n");
	return T_PASS;
}
