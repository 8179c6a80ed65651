/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * real.h - the libc functions this library wraps, found once.
 *
 * Each wrapper ends in the "real" function of its name: the next
 * definition after this library in the lookup order (libc's, or a
 * sanitizer's interceptor when one is preloaded first). They are all
 * looked up by the library's constructor (pl_real_init), because a
 * lookup (dlsym) may allocate and take the loader's locks, and a wrapper
 * can run inside a signal handler: udax's SIGSEGV handler maps through
 * mmap(), which this library wraps. A wrapper called before the
 * constructor has run (from another library's constructor) looks its
 * function up then, once.
 *
 * PL_REAL_NAMES lists every name; PL_REAL(name) of a name not in it does
 * not compile, so the list cannot fall behind the wrappers.
 */
#ifndef UDAX_PRELOAD_REAL_H
#define UDAX_PRELOAD_REAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/ioctl.h>
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

/* glibc 2.33 and later no longer declare the stat version entry points;
 * they are still exported, and some interceptors call them. */
int __fxstat(int ver, int fd, struct stat *st);

#define PL_REAL_NAMES(X)                                                       \
	/* descriptors */                                                      \
	X(open) X(openat) X(close) X(close_range) X(dup) X(dup2) X(dup3)       \
	X(fcntl) X(flock) X(ioctl)                                             \
	/* data */                                                             \
	X(read) X(write) X(pread) X(pwrite) X(readv) X(writev) X(preadv)       \
	X(pwritev) X(preadv2) X(pwritev2) X(lseek) X(readahead)                \
	X(posix_fadvise) X(sendfile) X(splice) X(copy_file_range)              \
	X(send) X(sendto) X(sendmsg) X(recv) X(recvfrom) X(recvmsg)            \
	/* size and durability */                                              \
	X(ftruncate) X(truncate) X(fallocate) X(posix_fallocate) X(fsync)      \
	X(fdatasync) X(sync_file_range) X(syncfs)                              \
	/* mappings */                                                         \
	X(mmap) X(munmap) X(mremap) X(msync) X(madvise) X(posix_madvise)       \
	/* names and attributes */                                             \
	X(stat) X(fstat) X(fstatat) X(statx) X(__fxstat) X(statfs) X(fstatfs)  \
	X(statvfs) X(fstatvfs) X(faccessat) X(unlinkat) X(renameat2)          \
	X(remove) X(linkat) X(symlinkat) X(readlinkat) X(mkdirat) X(fchmod)    \
	X(fchmodat) X(fchown) X(fchownat) X(utime) X(utimes) X(lutimes)        \
	X(futimes) X(futimens) X(utimensat) X(getxattr) X(lgetxattr)           \
	X(fgetxattr) X(setxattr) X(lsetxattr) X(fsetxattr) X(listxattr)        \
	X(llistxattr) X(flistxattr)                                            \
	/* directories and streams */                                          \
	X(chdir) X(fchdir) X(getcwd) X(opendir) X(fdopendir) X(readdir)        \
	X(readdir64) X(rewinddir) X(seekdir) X(telldir) X(closedir) X(dirfd)   \
	X(fopen) X(fopen64) X(fdopen)

#define PL_REAL_FIELD(name) __typeof__(&name) name;
struct pl_real_fns {
	PL_REAL_NAMES(PL_REAL_FIELD)
};
#undef PL_REAL_FIELD

extern struct pl_real_fns pl_real;

/* pl_real_init() - look every name up (the constructor, first of all). */
void pl_real_init(void);
/* pl_dlsym() - the next definition of @name; stops the program if libc
 * has none (it cannot run correctly through this library). */
void *pl_dlsym(const char *name);

/* PL_REAL(name) - the real @name, looked up now if the constructor has not
 * run yet (or found none: then pl_dlsym says so and stops). */
#define PL_REAL(name)                                                          \
	({                                                                     \
		__typeof__(&name) pl_real_f =                                  \
		    __atomic_load_n(&pl_real.name, __ATOMIC_ACQUIRE);          \
		if (__builtin_expect(!pl_real_f, 0)) {                         \
			pl_real_f = (__typeof__(&name))pl_dlsym(#name);        \
			__atomic_store_n(&pl_real.name, pl_real_f,             \
					 __ATOMIC_RELEASE);                    \
		}                                                              \
		pl_real_f;                                                     \
	})

#endif /* UDAX_PRELOAD_REAL_H */
