/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock.c - file locks on pool files.
 *
 * A pool is open in one process at a time (udax_pool_open is exclusive),
 * so every lock on a pool file is this process's. POSIX record locks
 * (F_SETLK, F_SETLKW, F_GETLK) belong to the process: its own locks never
 * conflict with each other, so setting one always succeeds and F_GETLK
 * always reports F_UNLCK, which is what a single process sees on a kernel
 * filesystem too. Open-file-description locks (F_OFD_*) would conflict
 * between two opens in one process; they are not kept: EINVAL, as a
 * kernel without them says.
 *
 * flock(2) locks belong to the open file description, so two opens of a
 * file in one process do conflict: they are kept here, one per ofd, on a
 * list under flock_lock; a blocking LOCK_SH/LOCK_EX waits on flock_cond.
 * An ofd's lock goes with its last descriptor (pl_flock_release).
 */
#include "preload.h"

#include <fcntl.h>
#include <sys/file.h>

static pthread_mutex_t flock_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flock_cond = PTHREAD_COND_INITIALIZER;
static struct pl_ofd *flock_list; /* ofds holding a flock */

static void unlink_locked(struct pl_ofd *o)
{
	for (struct pl_ofd **pp = &flock_list; *pp; pp = &(*pp)->flock_next)
		if (*pp == o) {
			*pp = o->flock_next;
			break;
		}
	o->flock = 0;
	o->flock_next = NULL;
}

static bool conflicts_locked(struct pl_ofd *o, int type)
{
	for (struct pl_ofd *h = flock_list; h; h = h->flock_next)
		if (h != o && h->ino == o->ino &&
		    (type == LOCK_EX || h->flock == LOCK_EX))
			return true;
	return false;
}

/*
 * pl_flock() - flock(2) on @o: LOCK_SH, LOCK_EX (with LOCK_NB: -EWOULDBLOCK
 * instead of waiting), LOCK_UN. Converting a lock is not atomic (as in
 * the kernel: the old lock goes first).
 * Context: may sleep (blocking requests).
 */
int pl_flock(struct pl_ofd *o, int op)
{
	int type = op & ~LOCK_NB;

	if (type != LOCK_SH && type != LOCK_EX && type != LOCK_UN)
		return -EINVAL;
	pthread_mutex_lock(&flock_lock);
	if (type == LOCK_UN || o->flock != type) {
		if (o->flock) {
			unlink_locked(o);
			pthread_cond_broadcast(&flock_cond);
		}
	}
	if (type != LOCK_UN && o->flock != type) {
		while (conflicts_locked(o, type)) {
			if (op & LOCK_NB) {
				pthread_mutex_unlock(&flock_lock);
				return -EWOULDBLOCK;
			}
			pthread_cond_wait(&flock_cond, &flock_lock);
		}
		o->flock = type;
		o->flock_next = flock_list;
		flock_list = o;
	}
	pthread_mutex_unlock(&flock_lock);
	return 0;
}

void pl_flock_release(struct pl_ofd *o)
{
	pthread_mutex_lock(&flock_lock);
	if (o->flock) {
		unlink_locked(o);
		pthread_cond_broadcast(&flock_cond);
	}
	pthread_mutex_unlock(&flock_lock);
}

PL_EXPORT int flock(int fd, int op)
{
	struct pl_ofd *o = pl_fd_get(fd);
	int err;

	if (!o)
		return PL_REAL(flock)(fd, op);
	err = pl_flock(o, op);
	pl_ofd_put(o);
	return pl_err(err);
}

/*
 * pl_fcntl_lock() - F_GETLK, F_SETLK, F_SETLKW on @o (struct flock at
 * @arg): validated as the kernel does, then granted (see above).
 */
int pl_fcntl_lock(struct pl_ofd *o, int cmd, void *arg)
{
	struct flock *fl = arg;
	int acc = atomic_load(&o->flags) & (O_ACCMODE | O_PATH);

	if (cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW)
		return -EINVAL;
	if (!fl)
		return -EFAULT;
	if (o->kind == PL_KIND_DIR && fl->l_type != F_UNLCK && cmd != F_GETLK)
		return -EBADF;
	if (fl->l_whence != SEEK_SET && fl->l_whence != SEEK_CUR &&
	    fl->l_whence != SEEK_END)
		return -EINVAL;
	switch (fl->l_type) {
	case F_RDLCK:
		if (cmd != F_GETLK && acc != O_RDONLY && acc != O_RDWR)
			return -EBADF;
		break;
	case F_WRLCK:
		if (cmd != F_GETLK && acc != O_WRONLY && acc != O_RDWR)
			return -EBADF;
		break;
	case F_UNLCK:
		if (cmd == F_GETLK)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (cmd == F_GETLK)
		fl->l_type = F_UNLCK; /* our own locks never conflict */
	return 0;
}
