/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udax.h - Linux DAX (direct access) in user space.
 *
 * A pool is a device (a file on any filesystem, by default; or an fsdax
 * file or a /dev/daxX.Y device) holding a small crash-consistent
 * filesystem. Its files are read and written with udax_pread() and
 * udax_pwrite(), and mapped with udax_mmap(): the pages of a mapping are
 * the device blocks themselves, mapped on first access by a SIGSEGV
 * handler that udax installs (it passes every other fault on to the
 * handler installed before it).
 *
 * Conventions: every int function returns 0 on success or a negative
 * errno value; ssize_t functions return a byte count or a negative errno
 * value. A failed call changes nothing. Handles are freed by the call that
 * closes them, which NULLs nothing the caller owns except through the
 * pointer-to-pointer forms. All functions are thread-safe.
 *
 * Compile against the installed library with
 *     cc prog.c $(pkg-config --cflags --libs udax)
 */
#ifndef UDAX_UDAX_H
#define UDAX_UDAX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDAX_VERSION_MAJOR 0
#define UDAX_VERSION_MINOR 1
#define UDAX_VERSION_PATCH 0

/* The library's version as MAJOR * 10000 + MINOR * 100 + PATCH. */
int udax_version(void);

struct udax_pool;
struct udax_file;

/* ---- pools ---- */

/*
 * udax_pool_create() - create a pool file of @size bytes at @path (sparse;
 * at least 4 MiB) holding an empty filesystem, and open it.
 * Errors: -EEXIST (path exists), -EINVAL (size too small, bad arguments),
 * -ENOSPC, -EBUSY, or what open(2) / libpmem2 report.
 */
int udax_pool_create(const char *path, uint64_t size, struct udax_pool **poolp);

/*
 * udax_pool_open() - open an existing pool (a pool file, an fsdax file or
 * a device-DAX device). @flags must be 0. Opening is exclusive: a second
 * opener, in this or another process, gets -EBUSY. A committed journal
 * transaction left by a crash is replayed; unlinked files still open at
 * the crash are freed.
 * Errors: -ENOENT, -EBUSY, -EINVAL (not a udax pool, unknown version),
 * -EUCLEAN (corrupt: run `udax fsck`), -ENOMEM.
 */
int udax_pool_open(const char *path, int flags, struct udax_pool **poolp);

/*
 * udax_pool_close() - close @pool. Every file must be closed and every
 * mapping unmapped first (-EBUSY otherwise, and nothing is closed).
 */
int udax_pool_close(struct udax_pool *pool);

/*
 * udax_pool_fsck() - check the pool at @path (not open anywhere) and call
 * @report once per problem found. Returns 0 if clean, -EUCLEAN if
 * problems were found, -EINVAL for something that is not a udax pool.
 */
int udax_pool_fsck(const char *path,
		   void (*report)(void *ctx, const char *problem), void *ctx);

/* ---- files ---- */

/*
 * udax_open() - open the file @name in @pool. @oflags: O_RDONLY, O_WRONLY
 * or O_RDWR, with O_CREAT, O_EXCL, O_TRUNC; @mode for a new file.
 * Errors: -ENOENT, -EEXIST, -ENAMETOOLONG (over 255 bytes), -EINVAL
 * (empty name, a '/' in it, bad flags), -ENOSPC (no free inode).
 */
int udax_open(struct udax_pool *pool, const char *name, int oflags,
	      mode_t mode, struct udax_file **filep);

/* udax_close() - close @file. Its mappings stay valid until unmapped. */
int udax_close(struct udax_file *file);

/*
 * udax_unlink() - remove @name. Open handles and mappings keep working;
 * the blocks are freed when the last of them goes.
 */
int udax_unlink(struct udax_pool *pool, const char *name);

#define UDAX_RENAME_NOREPLACE 0x1 /* as RENAME_NOREPLACE */

/*
 * udax_rename() - give the file @from the name @to, atomically: after a
 * crash the pool holds either the old names or the new one, never both or
 * neither. If @to exists it is replaced, as by rename(2): open handles and
 * mappings of the replaced file keep working, and its blocks are freed
 * when the last of them goes (as with udax_unlink()). Handles and mappings
 * of @from keep working under its new name. @flags: 0, or
 * UDAX_RENAME_NOREPLACE to fail with -EEXIST if @to exists. @from equal to
 * @to changes nothing and returns 0 (-EEXIST with NOREPLACE, as
 * renameat2(2)).
 * Errors: -ENOENT (no file @from), -EEXIST, -ENAMETOOLONG, -EINVAL (empty
 * name, a '/' in it, unknown flags).
 */
int udax_rename(struct udax_pool *pool, const char *from, const char *to,
		int flags);

/*
 * udax_list() - call @fn for each file in @pool (name, size in bytes).
 * A non-zero return from @fn stops the walk and is returned.
 */
int udax_list(struct udax_pool *pool,
	      int (*fn)(void *ctx, const char *name, uint64_t size),
	      void *ctx);

/*
 * udax_pread() / udax_pwrite() - like pread(2) / pwrite(2). The buffer
 * may itself be a udax mapping, even of the same file range. pwrite
 * extends the file and makes the data durable before returning.
 * Errors: -EBADF (file not open for it), -ENOSPC, -EFBIG, -EINVAL.
 */
ssize_t udax_pread(struct udax_file *file, void *buf, size_t len,
		   uint64_t offset);
ssize_t udax_pwrite(struct udax_file *file, const void *buf, size_t len,
		    uint64_t offset);

/*
 * udax_ftruncate() - set the size. Pages beyond the new size are unmapped
 * from every mapping (accesses there raise SIGBUS) and their blocks freed;
 * the rest of a partial last page reads as zeros.
 */
int udax_ftruncate(struct udax_file *file, uint64_t size);

#define UDAX_FALLOC_KEEP_SIZE 0x1  /* as FALLOC_FL_KEEP_SIZE */
#define UDAX_FALLOC_PUNCH_HOLE 0x2 /* as FALLOC_FL_PUNCH_HOLE */

/*
 * udax_fallocate() - @mode 0 (or KEEP_SIZE): allocate blocks for
 * [@offset, @offset + @len), growing the file unless KEEP_SIZE; PUNCH_HOLE
 * (which requires KEEP_SIZE): free the blocks, which then read as zeros.
 * Errors: -EINVAL, -EOPNOTSUPP (other modes), -ENOSPC.
 */
int udax_fallocate(struct udax_file *file, int mode, uint64_t offset,
		   uint64_t len);

/*
 * udax_fsync() - make the file durable: every page written through a
 * mapping is flushed and write-protected again (the next store is seen);
 * metadata is committed.
 */
int udax_fsync(struct udax_file *file);

/* udax_fstat() - size, blocks (512-byte units), mode, times. */
int udax_fstat(struct udax_file *file, struct stat *st);

/* ---- mappings ---- */

/* In @flags of udax_mmap: MAP_SHARED or MAP_PRIVATE, and MAP_SYNC. */

/*
 * udax_mmap() - map @len bytes of @file from byte @offset (a multiple of
 * 4 KiB). @prot: PROT_READ, PROT_WRITE. @flags: MAP_SHARED or MAP_PRIVATE;
 * MAP_SYNC (shared only): a write fault that changes metadata commits it
 * before the page becomes writable. @addr_hint may be NULL. Accessing a
 * page beyond EOF raises SIGBUS. Running out of kernel mappings
 * (vm.max_map_count) also raises SIGBUS at the access.
 * Errors: -EINVAL, -EACCES (PROT_WRITE on a shared mapping of a file not
 * open for writing), -ENOMEM.
 */
int udax_mmap(struct udax_file *file, void *addr_hint, size_t len, int prot,
	      int flags, uint64_t offset, void **addrp);

/*
 * Signals. udax serves faults on its mappings from a SIGSEGV handler it
 * installs at the first udax_mmap(), keeping the one installed before for
 * every other fault. A program that installs its own SIGSEGV handler
 * after that must give udax first look: call udax_handle_fault() at the
 * top of its handler (it returns 1 if the fault was udax's: served, or a
 * SIGBUS queued to the thread; 0 if not: handle it yourself) and say so
 * once with udax_set_fault_chaining(1); otherwise udax_mmap() fails with
 * -EBUSY and a line on stderr. A thread must not block SIGSEGV while it
 * touches udax pages (the kernel then kills the process). A fault on a
 * udax page from a signal handler that interrupted a udax call on the
 * same thread is not served: it gets SIGBUS and a line on stderr (udax
 * may hold locks there). The handler runs on an alternate signal stack
 * (SA_ONSTACK) if the thread has one; SIGSTKSZ is enough.
 */
int udax_handle_fault(int sig, siginfo_t *info, void *ucontext);
int udax_set_fault_chaining(int on);

/*
 * fork(). A child forked while the parent has a pool open or a udax
 * mapping inherits the mappings but not a usable udax: there, every udax
 * call returns -EPERM at once (its copy of the filesystem and
 * engine would corrupt the pool), a fault on a udax page not mapped
 * before fork, or a store to one mapped read-only, raises SIGBUS (with a
 * line on stderr), and pages already mapped stay shared with the parent
 * as the kernel shares them: a store to a page the parent had writable
 * reaches the parent's file, and the parent's next msync flushes it.
 * fork followed by exec (system(), posix_spawn) is unaffected, and so is
 * a child forked while no pool was open and no mapping left.
 */

/* udax_munmap() - unmap a whole mapping made by udax_mmap(). */
int udax_munmap(void *addr, size_t len);

/*
 * udax_msync() - with MS_SYNC or MS_ASYNC: write back the dirty pages of
 * the mapping range [@addr, @addr + @len) (both are done synchronously).
 */
int udax_msync(void *addr, size_t len, int flags);

/*
 * System calls. The kernel cannot fault udax pages in: a system call
 * given a buffer in a udax mapping (read(2) into it, write(2) from it,
 * ...) fails with EFAULT where a page of the buffer is not mapped the way
 * the call needs it: for reading from the buffer, mapped at all; for
 * writing into it, mapped writable. udax_prefault() maps [@addr, @addr +
 * @len) as accesses would (for writing if @write). What it mapped stays
 * until one of: udax_munmap; truncate or punch hole over it; a block
 * replacing a zero page (a store, write(2) or fallocate filling a hole
 * read before); the split of a 2 MiB zero mapping; udax reclaiming the
 * 2 MiB window under the mapping budget (udax_set_map_budget); and, for
 * write access only, writeback (msync, fsync, the close of the last
 * handle) making the page read-only again. Writeback never revokes read
 * access. So a system call can still meet EFAULT after a prefault when
 * another thread does one of these meanwhile: udax_retry_efault() runs a
 * call, prefaulting first and again after each EFAULT.
 * Errors: -EFAULT (not a udax mapping, or beyond EOF), -EACCES, -ENOMEM.
 */
int udax_prefault(void *addr, size_t len, int write);

/*
 * udax_retry_efault() - prefault [@buf, @buf + @len) (for writing if
 * @write: the call stores into it), then return @call(@arg); while the
 * call fails with EFAULT (returns -1 with errno EFAULT, or -EFAULT),
 * prefault and call again, up to 16 times.
 * Return: what @call returned last, or the prefault's -errno.
 */
ssize_t udax_retry_efault(ssize_t (*call)(void *arg), void *arg, void *buf,
			  size_t len, int write);

/* ---- statistics ---- */

struct udax_stats {
	/* faults */
	uint64_t faults_pte;
	uint64_t faults_pmd;
	uint64_t faults_read;
	uint64_t faults_write;
	uint64_t faults_cow;
	uint64_t faults_hole;
	uint64_t faults_fallback;
	uint64_t faults_mkwrite;
	uint64_t faults_major;
	uint64_t hole_fills;
	uint64_t sigbus;
	uint64_t sync_commits;
	uint64_t writeback_pages;
	/* entry locks */
	uint64_t lock_waits;
	uint64_t lock_wakeups;
	uint64_t pmd_conflicts;
	uint64_t pmd_downgrades;
	/* mappings */
	uint64_t map_calls;
	uint64_t map_errors;
	/* pool only (0 for a file) */
	uint64_t pool_blocks;
	uint64_t pool_free_blocks;
	uint64_t pool_files;
	uint64_t journal_commits;
	/*
	 * The process's kernel mappings used by udax regions (an upper
	 * bound), the budget they are kept under, and the 2 MiB windows
	 * reclaimed to stay under it (see udax_set_map_budget).
	 */
	uint64_t map_count;
	uint64_t map_budget;
	uint64_t map_reclaims;
};

/*
 * udax_set_map_budget() - the kernel limits a process to vm.max_map_count
 * mappings (VMAs); past it every mmap fails. udax counts the mappings its
 * regions use and keeps them under a budget, unmapping cold 2 MiB windows
 * of its regions when it would go over (their pages fault back in on the
 * next access; dirty data is kept: it is already on the device and the
 * next msync/fsync flushes it). Default: vm.max_map_count less a quarter
 * (at least 1024) left to the application, or the environment's
 * UDAX_MAP_BUDGET. @maps sets it for the process; 0 restores the default.
 * Return: 0 or -EINVAL (fewer than 32).
 */
int udax_set_map_budget(uint64_t maps);

/* udax_file_stats() - counters of @file (all handles of that file). */
int udax_file_stats(struct udax_file *file, struct udax_stats *st);

/* udax_pool_stats() - counters summed over the files open in @pool, and
 * the pool's space. */
int udax_pool_stats(struct udax_pool *pool, struct udax_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* UDAX_UDAX_H */
