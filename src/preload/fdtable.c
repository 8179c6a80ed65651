/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdtable.c - open file descriptions and the table of pool descriptors.
 *
 * A pool descriptor is a real kernel descriptor, so that the numbers the
 * program sees never collide with its other descriptors: an O_PATH,
 * close-on-exec descriptor of /dev/null (the "placeholder"). Kernel calls
 * this library does not wrap fail on it with EBADF (read, write, mmap,
 * ioctl...) or ENOTDIR (the *at calls), and exec closes it: a pool file
 * never leaks into another program, which would not have the pool.
 *
 * The table has two levels, PL_CHUNKS chunks of PL_CHUNK slots, each
 * chunk allocated at its first use and never freed, so a reader can test
 * a slot without a lock (pl_fd_is_pool). Slots change under fd_lock
 * (written), with the kernel call that changes the number if there is
 * one, and a reader takes a reference on the ofd under fd_lock (read),
 * so close() in one thread cannot free an ofd another thread is using.
 * Lock order: fd_lock > ofd->lock; no ofd is released under fd_lock.
 */
#include "preload.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define PL_CHUNK_SHIFT 10
#define PL_CHUNK (1 << PL_CHUNK_SHIFT)
#define PL_CHUNKS 1024 /* descriptors up to 2^20 */

typedef struct pl_ofd *_Atomic pl_slot;

static pl_slot *_Atomic pl_chunks[PL_CHUNKS];
static pthread_rwlock_t fd_lock = PTHREAD_RWLOCK_INITIALIZER;

struct pl_ofd *pl_ofd_new(enum pl_kind kind, struct udax_file *file, int flags,
			  ino_t ino)
{
	struct pl_ofd *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	atomic_init(&o->ref, 1);
	o->kind = kind;
	atomic_init(&o->flags, flags);
	o->file = file;
	o->ino = ino;
	pthread_mutex_init(&o->lock, NULL);
	return o;
}

void pl_ofd_get(struct pl_ofd *o)
{
	atomic_fetch_add_explicit(&o->ref, 1, memory_order_relaxed);
}

/*
 * pl_ofd_put() - drop a reference to @o; the last releases its flock and
 * closes its udax handle (whose mappings stay, as with close(2)).
 * Context: no table lock held (udax_close may call back into wrappers).
 */
void pl_ofd_put(struct pl_ofd *o)
{
	int err;

	if (atomic_fetch_sub_explicit(&o->ref, 1, memory_order_acq_rel) != 1)
		return;
	pl_flock_release(o);
	if (o->file) {
		err = udax_close(o->file);
		if (err)
			pl_debug("udax_close: %s", strerror(-err));
	}
	pthread_mutex_destroy(&o->lock);
	free(o);
}

static pl_slot *slot_of(int fd, bool create)
{
	unsigned int c = (unsigned int)fd >> PL_CHUNK_SHIFT;
	pl_slot *chunk;

	if (fd < 0 || c >= PL_CHUNKS)
		return NULL;
	chunk = atomic_load_explicit(&pl_chunks[c], memory_order_acquire);
	if (!chunk && create) {
		/* Under fd_lock (written): no other creator. */
		chunk = calloc(PL_CHUNK, sizeof(*chunk));
		if (!chunk)
			return NULL;
		atomic_store_explicit(&pl_chunks[c], chunk,
				      memory_order_release);
	}
	return chunk ? &chunk[fd & (PL_CHUNK - 1)] : NULL;
}

bool pl_fd_is_pool(int fd)
{
	pl_slot *s = slot_of(fd, false);

	return s && atomic_load_explicit(s, memory_order_relaxed);
}

struct pl_ofd *pl_fd_get(int fd)
{
	struct pl_ofd *o;
	pl_slot *s;

	if (!pl_fd_is_pool(fd))
		return NULL;
	pthread_rwlock_rdlock(&fd_lock);
	s = slot_of(fd, false);
	o = atomic_load_explicit(s, memory_order_relaxed);
	if (o)
		pl_ofd_get(o);
	pthread_rwlock_unlock(&fd_lock);
	return o;
}

/*
 * Put @o into slot @fd and return what was there (the caller puts it once
 * the lock is dropped). Context: fd_lock written.
 */
static struct pl_ofd *slot_xchg(int fd, struct pl_ofd *o, int *err)
{
	pl_slot *s = slot_of(fd, o != NULL);

	*err = 0;
	if (s)
		return atomic_exchange_explicit(s, o, memory_order_relaxed);
	if (o)
		*err = fd < 0 || fd >= PL_CHUNK * PL_CHUNKS ? -EMFILE : -ENOMEM;
	return NULL;
}

/*
 * A kernel call that changes what a descriptor number is (dup2 over it,
 * close) runs under fd_lock written, together with the change of its
 * slot: otherwise a close(n) and a dup2(p, n) in two threads could end
 * with the table and the kernel disagreeing about n (the slot says pool,
 * the kernel has closed n and given it to a pipe). A new number from the
 * kernel (open, F_DUPFD) needs no such care: its slot is empty, since
 * each number's slot is emptied before the number is free.
 */
int pl_fd_install(struct pl_ofd *o, int srcfd, int minfd)
{
	struct pl_ofd *old;
	int fd, err;

	if (srcfd < 0)
		fd = PL_REAL(open)("/dev/null", O_PATH | O_CLOEXEC);
	else
		fd = PL_REAL(fcntl)(srcfd, F_DUPFD_CLOEXEC, minfd);
	if (fd < 0) {
		err = -errno;
		pl_ofd_put(o);
		return err;
	}
	pthread_rwlock_wrlock(&fd_lock);
	old = slot_xchg(fd, o, &err);
	if (err)
		PL_REAL(close)(fd);
	pthread_rwlock_unlock(&fd_lock);
	if (err) {
		pl_ofd_put(o);
		return err;
	}
	if (old) /* a stale entry: the kernel gave us the number, so it was */
		pl_ofd_put(old);
	return fd;
}

int pl_fd_dup2(struct pl_ofd *o, int oldfd, int newfd, int flags)
{
	struct pl_ofd *old = NULL;
	int fd, err = 0;

	/* Close-on-exec whatever the caller asked: see the file comment. */
	(void)flags;
	pl_ofd_get(o);
	pthread_rwlock_wrlock(&fd_lock);
	fd = PL_REAL(dup3)(oldfd, newfd, O_CLOEXEC);
	if (fd < 0)
		err = -errno;
	else
		old = slot_xchg(fd, o, &err);
	if (err && fd >= 0)
		PL_REAL(close)(fd); /* no slot for it: the number is free */
	pthread_rwlock_unlock(&fd_lock);
	if (err) {
		pl_ofd_put(o);
		return err;
	}
	if (old)
		pl_ofd_put(old);
	return fd;
}

int pl_fd_host_dup(int oldfd, int newfd, int flags, bool is_dup2)
{
	struct pl_ofd *old = NULL;
	int fd, err;

	pthread_rwlock_wrlock(&fd_lock);
	fd = is_dup2 ? PL_REAL(dup2)(oldfd, newfd)
		     : PL_REAL(dup3)(oldfd, newfd, flags);
	err = errno;
	if (fd >= 0) {
		int ign;

		old = slot_xchg(fd, NULL, &ign);
	}
	pthread_rwlock_unlock(&fd_lock);
	if (old)
		pl_ofd_put(old);
	errno = err;
	return fd;
}

int pl_fd_close(int fd)
{
	struct pl_ofd *old;
	int err;

	if (!pl_fd_is_pool(fd))
		return -EBADF;
	pthread_rwlock_wrlock(&fd_lock);
	old = slot_xchg(fd, NULL, &err);
	if (old)
		PL_REAL(close)(fd);
	pthread_rwlock_unlock(&fd_lock);
	if (!old)
		return -EBADF;
	pl_ofd_put(old);
	return 0;
}

/* The lowest pool descriptor in [@fd, @last], or -1. Context: fd_lock. */
static int next_pool_fd(unsigned int fd, unsigned int last)
{
	while (fd <= last && fd < PL_CHUNK * PL_CHUNKS) {
		pl_slot *chunk = atomic_load_explicit(
		    &pl_chunks[fd >> PL_CHUNK_SHIFT], memory_order_acquire);

		if (!chunk) {
			fd = (fd | (PL_CHUNK - 1)) + 1; /* the next chunk */
			continue;
		}
		if (atomic_load_explicit(&chunk[fd & (PL_CHUNK - 1)],
					 memory_order_relaxed))
			return (int)fd;
		fd++;
	}
	return -1;
}

int pl_fd_close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int run = first;
	struct pl_ofd *old;
	int fd, err = 0, ign;

	pthread_rwlock_wrlock(&fd_lock);
	while ((fd = next_pool_fd(run, last)) >= 0) {
		if ((unsigned int)fd > run &&
		    PL_REAL(close_range)(run, (unsigned int)fd - 1, flags)) {
			err = -errno;
			break;
		}
		old = slot_xchg(fd, NULL, &ign);
		PL_REAL(close)(fd);
		/* No ofd is released under the lock (udax_close calls back). */
		pthread_rwlock_unlock(&fd_lock);
		pl_ofd_put(old);
		if ((unsigned int)fd == last)
			return 0;
		run = (unsigned int)fd + 1;
		pthread_rwlock_wrlock(&fd_lock);
	}
	if (!err && PL_REAL(close_range)(run, last, flags))
		err = -errno;
	pthread_rwlock_unlock(&fd_lock);
	return err;
}

/* fork: no other thread holds the table lock in the child. */
void pl_fd_fork_lock(void)
{
	pthread_rwlock_wrlock(&fd_lock);
}

void pl_fd_fork_unlock(void)
{
	pthread_rwlock_unlock(&fd_lock);
}

/* In the child the lock's writer is a thread id that no longer exists:
 * it is made anew rather than unlocked. */
void pl_fd_fork_child(void)
{
	pthread_rwlock_init(&fd_lock, NULL);
}

void pl_fd_close_all(void)
{
	for (int c = 0; c < PL_CHUNKS; c++) {
		if (!atomic_load(&pl_chunks[c]))
			continue;
		for (int i = 0; i < PL_CHUNK; i++) {
			int fd = c * PL_CHUNK + i;

			if (pl_fd_is_pool(fd))
				pl_fd_close(fd);
		}
	}
}
