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
 * Manual: udax(3), and a page per call (udax_mmap(3), ...).
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

/*
 * UDAX_API marks the public calls: the library is compiled with
 * -fvisibility=hidden, and these are the only names it exports (under the
 * version node UDAX_0.1 of src/udax.map).
 */
#if defined(__GNUC__) || defined(__clang__)
#define UDAX_API __attribute__((visibility("default")))
#else
#define UDAX_API
#endif

#define UDAX_VERSION_MAJOR 0
#define UDAX_VERSION_MINOR 1
#define UDAX_VERSION_PATCH 0

/* The library's version as MAJOR * 10000 + MINOR * 100 + PATCH. */
UDAX_API int udax_version(void);

struct udax_pool;
struct udax_file;

/* ---- pools ---- */

/*
 * udax_pool_create() - create a pool file of @size bytes at @path (sparse;
 * at least 4 MiB) holding an empty filesystem, and open it. The file takes
 * host space only for what is in use: blocks freed later (truncate, punch
 * hole, unlink, rename over a file) are punched out of it again, on any
 * file system that can punch holes.
 * Errors: -EEXIST (path exists), -EINVAL (size too small, bad arguments),
 * -ENOSPC, -EBUSY, or what open(2) / libpmem2 report.
 */
UDAX_API int udax_pool_create(const char *path, uint64_t size,
			      struct udax_pool **poolp);

#define UDAX_FORMAT_FORCE 0x1 /* format over a pool or other data */

/*
 * udax_pool_format() - make an empty pool on the EXISTING file or device
 * at @path, and open it into *@poolp (@poolp NULL: format only): a
 * regular file (on any file system; an fsdax file is one) or a
 * device-DAX device (/dev/daxX.Y). @size 0: the whole file or device; a
 * regular file shorter than @size is grown (sparse; a longer one keeps its
 * length, the pool using the first @size bytes: its backup superblock is
 * then not in the file's last block, where repair looks for it when the
 * primary is lost, so prefer whole files); a device must hold
 * @size bytes. Without UDAX_FORMAT_FORCE a target that already holds a
 * udax pool or any non-zero byte in its first 4 KiB is refused. A target
 * in use is always refused: a pool open on it (in this or another
 * process) or a mounted block device. Nothing is written unless every
 * check passes.
 * Errors: -ENOENT (no such file: udax_pool_create() makes new ones),
 * -EBUSY (in use), -EEXIST (holds a pool or data; FORCE formats it),
 * -EINVAL (smaller than 4 MiB, the file's size when @size is 0; a device
 * smaller than @size; bad arguments), -ENODEV (a block device, a
 * character device that is not device-DAX, a FIFO...), -EISDIR, -EACCES,
 * or what open(2) / libpmem2 report. -ENOMEM after formatting: the pool
 * is formatted but not opened.
 */
UDAX_API int udax_pool_format(const char *path, uint64_t size, int flags,
			      struct udax_pool **poolp);

/* In @flags of udax_pool_open: open read-only, even a corrupt pool. */
#define UDAX_POOL_RDONLY 0x1

/*
 * udax_pool_open() - open an existing pool (a pool file, an fsdax file or
 * a device-DAX device). @flags: 0 or UDAX_POOL_RDONLY. Opening
 * read-write is exclusive: a second opener, in this or another process,
 * gets -EBUSY. Read-only openers share a pool with each other, never with
 * a read-write one (-EBUSY both ways: a reader loads the metadata once
 * and would not see a writer's changes). A committed journal transaction left by a crash is replayed; unlinked
 * files still open at the crash are freed.
 *
 * UDAX_POOL_RDONLY: nothing is written to the device, and a corrupt pool
 * opens as long as its superblock or the backup superblock is sound, so
 * that the intact files can be copied out before (or instead of) a
 * repair. A committed journal transaction is applied in memory only; a
 * torn or garbage journal is ignored (the files are as before it).
 * Files whose metadata is damaged are listed when their name can still
 * be read, and udax_open() of them fails with -EUCLEAN; intact files read
 * normally. Every modifying call returns -EROFS (udax_open() with
 * O_WRONLY, O_RDWR, O_CREAT or O_TRUNC, udax_unlink(), udax_pwrite(),
 * udax_ftruncate(), udax_fallocate()); a shared writable mapping is
 * refused with -EACCES as for any read-only handle. The pool file is
 * opened O_RDONLY and mapped read-only, so a file the caller may not
 * write (its mode, an immutable file, a read-only mount) opens, and a
 * stray store through the library's mapping of it faults.
 * Errors: -ENOENT, -EBUSY, -EINVAL (not a udax pool, unknown version, bad
 * @flags), -EUCLEAN (corrupt: run `udax fsck`; with UDAX_POOL_RDONLY: no
 * sound superblock), -EACCES, -EPERM or -EROFS (read-write, a file the
 * caller may not write: open(2)'s error; UDAX_POOL_RDONLY opens it),
 * -ENOMEM.
 */
UDAX_API int udax_pool_open(const char *path, int flags,
			    struct udax_pool **poolp);

/*
 * udax_pool_close() - close @pool. Every file must be closed and every
 * mapping unmapped first (-EBUSY otherwise, and nothing is closed).
 */
UDAX_API int udax_pool_close(struct udax_pool *pool);

/*
 * udax_pool_fsck() - check the pool at @path and call @report once per
 * problem found. It writes nothing and opens the pool read-only, so it
 * runs beside UDAX_POOL_RDONLY openers and on a file the caller may not
 * write, but not while the pool is open read-write (-EBUSY). Returns 0
 * if clean, -EUCLEAN if problems were found, -EINVAL for something that
 * is not a udax pool.
 */
UDAX_API int udax_pool_fsck(const char *path,
			    void (*report)(void *ctx, const char *problem),
			    void *ctx);

/*
 * udax_pool_repair() - repair the pool at @path (not open anywhere) and
 * call @report (may be NULL) once per action taken, with a line naming
 * the file it concerns (e.g. "removed file 'b' (inode 3): checksum
 * mismatch; its blocks are freed"). What can be derived is rebuilt: the
 * block bitmap (from the extents of the intact files), a committed
 * journal transaction replayed, a torn or garbage journal cleared,
 * orphans (files deleted while open) freed, a bad superblock copy
 * rewritten from the other. What is damaged beyond trust is removed: a
 * file whose inode, extents or extent blocks fail a check (its name goes
 * with it, its blocks are freed). Of two files claiming one block, the
 * one with the higher inode number is removed; of two with one name, the
 * later is renamed NAME~INODE. Every intact file keeps its data.
 * Return: 0 when the pool is now consistent (udax_pool_fsck() is clean
 * and it opens read-write; also when there was nothing to repair),
 * -EINVAL (not a udax pool), -EUCLEAN (damage repair cannot undo, such
 * as both superblocks bad: reported), -EBUSY (in use, read-only openers
 * too), -EACCES, -EPERM or -EROFS (the caller may not write the file),
 * -ENOMEM.
 */
UDAX_API int udax_pool_repair(const char *path,
			      void (*report)(void *ctx, const char *action),
			      void *ctx);

/* ---- files ---- */

/*
 * udax_open() - open the file @name in @pool. @oflags: O_RDONLY, O_WRONLY
 * or O_RDWR, with O_CREAT, O_EXCL, O_TRUNC; @mode for a new file.
 * Errors: -ENOENT, -EEXIST, -ENAMETOOLONG (over 255 bytes), -EINVAL
 * (empty name, a '/' in it, bad flags), -ENOSPC (no free inode); on a
 * pool opened with UDAX_POOL_RDONLY: -EROFS (any flag but O_RDONLY),
 * -EUCLEAN (the file's metadata is damaged).
 */
UDAX_API int udax_open(struct udax_pool *pool, const char *name, int oflags,
		       mode_t mode, struct udax_file **filep);

/* udax_close() - close @file. Its mappings stay valid until unmapped. */
UDAX_API int udax_close(struct udax_file *file);

/*
 * udax_unlink() - remove @name. Open handles and mappings keep working;
 * the blocks are freed when the last of them goes.
 */
UDAX_API int udax_unlink(struct udax_pool *pool, const char *name);

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
 * name, a '/' in it, unknown flags), -EROFS (pool opened UDAX_POOL_RDONLY).
 */
UDAX_API int udax_rename(struct udax_pool *pool, const char *from,
			  const char *to, int flags);

/*
 * udax_list() - call @fn for each file in @pool (name, size in bytes).
 * A non-zero return from @fn stops the walk and is returned.
 */
UDAX_API int udax_list(struct udax_pool *pool,
		       int (*fn)(void *ctx, const char *name, uint64_t size),
		       void *ctx);

/*
 * udax_pread() / udax_pwrite() - like pread(2) / pwrite(2). The buffer
 * may itself be a udax mapping, even of the same file range. pwrite
 * extends the file and makes the data durable before returning.
 * Errors: -EBADF (file not open for it), -ENOSPC, -EFBIG, -EINVAL.
 */
UDAX_API ssize_t udax_pread(struct udax_file *file, void *buf, size_t len,
			    uint64_t offset);
UDAX_API ssize_t udax_pwrite(struct udax_file *file, const void *buf,
			     size_t len, uint64_t offset);

/*
 * udax_ftruncate() - set the size. Pages beyond the new size are unmapped
 * from every mapping (accesses there raise SIGBUS) and their blocks freed;
 * the rest of a partial last page reads as zeros.
 */
UDAX_API int udax_ftruncate(struct udax_file *file, uint64_t size);

#define UDAX_FALLOC_KEEP_SIZE 0x1  /* as FALLOC_FL_KEEP_SIZE */
#define UDAX_FALLOC_PUNCH_HOLE 0x2 /* as FALLOC_FL_PUNCH_HOLE */

/*
 * udax_fallocate() - @mode 0 (or KEEP_SIZE): allocate blocks for
 * [@offset, @offset + @len), growing the file unless KEEP_SIZE; PUNCH_HOLE
 * (which requires KEEP_SIZE): free the blocks, which then read as zeros.
 * Errors: -EINVAL, -EOPNOTSUPP (other modes), -ENOSPC.
 */
UDAX_API int udax_fallocate(struct udax_file *file, int mode, uint64_t offset,
			    uint64_t len);

/*
 * udax_fsync() - make the file durable: every page written through a
 * mapping is flushed and write-protected again (the next store is seen);
 * metadata is committed.
 */
UDAX_API int udax_fsync(struct udax_file *file);

/* udax_fstat() - size, blocks (512-byte units), mode, times. */
UDAX_API int udax_fstat(struct udax_file *file, struct stat *st);

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
UDAX_API int udax_mmap(struct udax_file *file, void *addr_hint, size_t len,
		       int prot, int flags, uint64_t offset, void **addrp);

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
UDAX_API int udax_handle_fault(int sig, siginfo_t *info, void *ucontext);
UDAX_API int udax_set_fault_chaining(int on);

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
UDAX_API int udax_munmap(void *addr, size_t len);

/*
 * udax_msync() - with MS_SYNC or MS_ASYNC: write back the dirty pages of
 * the mapping range [@addr, @addr + @len) (both are done synchronously).
 */
UDAX_API int udax_msync(void *addr, size_t len, int flags);

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
UDAX_API int udax_prefault(void *addr, size_t len, int write);

/*
 * udax_retry_efault() - prefault [@buf, @buf + @len) (for writing if
 * @write: the call stores into it), then return @call(@arg); while the
 * call fails with EFAULT (returns -1 with errno EFAULT, or -EFAULT),
 * prefault and call again, up to 16 times.
 * Return: what @call returned last, or the prefault's -errno.
 */
UDAX_API ssize_t udax_retry_efault(ssize_t (*call)(void *arg), void *arg,
				   void *buf, size_t len, int write);

/* ---- statistics ---- */

/*
 * struct udax_stats grows at its end: a later release may append fields,
 * never reorder or remove one. The caller passes the size it was compiled
 * with (sizeof *st); the library fills min(that size, its own) bytes and
 * sets @size to the number of bytes it filled, so a program built against
 * an older header gets the fields it knows, and one built against a newer
 * header running on an older library sees by @size which fields are
 * valid: bytes past @size are not written.
 */
struct udax_stats {
	uint64_t size; /* bytes filled by the library */
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
	/* pool only: the inode table's size, and its free inodes (files
	 * that can still be created) */
	uint64_t pool_inodes;
	uint64_t pool_free_inodes;
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
UDAX_API int udax_set_map_budget(uint64_t maps);

/*
 * udax_file_stats() - counters of @file (all handles of that file) into
 * @st, of @size bytes (pass sizeof *st; see struct udax_stats).
 * Errors: -EINVAL (NULL argument, @size smaller than the @size field).
 */
UDAX_API int udax_file_stats(struct udax_file *file, struct udax_stats *st,
			     size_t size);

/*
 * udax_pool_stats() - counters summed over the files open in @pool, and
 * the pool's space, into @st of @size bytes (as udax_file_stats).
 */
UDAX_API int udax_pool_stats(struct udax_pool *pool, struct udax_stats *st,
			     size_t size);

#ifdef __cplusplus
}
#endif

#endif /* UDAX_UDAX_H */
