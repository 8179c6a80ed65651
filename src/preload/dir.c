/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dir.c - reading the mount directory: opendir, fdopendir, readdir,
 * readdir64, closedir, dirfd, rewinddir, telldir, seekdir.
 *
 * A stream of the mount (struct pl_dir) is this library's, not glibc's
 * DIR: it holds a snapshot of the names taken at opendir (and at
 * rewinddir), with "." and ".." first, and the descriptor it reads (a pool
 * descriptor of the mount, closed by closedir). The streams are kept on a
 * list (under dir_lock, a leaf) so that every DIR call can tell them from
 * glibc's.
 */
#include "preload.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pl_ent {
	ino_t ino;
	unsigned char type;
	char name[NAME_MAX + 1];
};

struct pl_dir {
	struct pl_dir *next;
	int fd;
	size_t pos, nr, cap;
	struct pl_ent *ents;
	struct dirent64 de;
};

static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_dir *dirs;

static struct pl_dir *ours(void *d)
{
	struct pl_dir *p;

	if (!d || !pl_cfg.active)
		return NULL;
	pthread_mutex_lock(&dir_lock);
	for (p = dirs; p && p != d; p = p->next)
		;
	pthread_mutex_unlock(&dir_lock);
	return p;
}

static int add_ent(struct pl_dir *d, const char *name, ino_t ino,
		   unsigned char type)
{
	if (d->nr == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct pl_ent *e = realloc(d->ents, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		d->ents = e;
		d->cap = cap;
	}
	d->ents[d->nr].ino = ino;
	d->ents[d->nr].type = type;
	strcpy(d->ents[d->nr].name, name);
	d->nr++;
	return 0;
}

struct list_ctx {
	struct udax_pool *pool;
	struct pl_dir *d;
};

static int list_one(void *arg, const char *name, uint64_t size)
{
	struct list_ctx *c = arg;
	struct udax_file *f;
	struct stat st;
	ino_t ino = 0;

	(void)size;
	/* d_ino must be the file's: ls and fts compare it with stat's. */
	if (!udax_open(c->pool, name, O_RDONLY, 0, &f)) {
		if (!udax_fstat(f, &st))
			ino = st.st_ino;
		udax_close(f);
	}
	if (!ino)
		return 0; /* gone meanwhile */
	return add_ent(c->d, name, ino, DT_REG);
}

static int snapshot(struct pl_dir *d)
{
	struct list_ctx c = {.d = d};
	int err = pl_pool(&c.pool);

	if (err)
		return err;
	d->nr = 0;
	d->pos = 0;
	err = add_ent(d, ".", PL_DIR_INO, DT_DIR);
	if (!err)
		err = add_ent(d, "..", 2, DT_DIR);
	if (!err)
		err = udax_list(c.pool, list_one, &c);
	return err;
}

/* A stream for mount descriptor @fd (which the stream then owns). */
static DIR *dir_new(int fd)
{
	struct pl_dir *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return errno = ENOMEM, NULL;
	d->fd = fd;
	err = snapshot(d);
	if (err) {
		free(d->ents);
		free(d);
		errno = -err;
		return NULL;
	}
	pthread_mutex_lock(&dir_lock);
	d->next = dirs;
	dirs = d;
	pthread_mutex_unlock(&dir_lock);
	return (DIR *)d;
}

PL_EXPORT DIR *opendir(const char *path)
{
	struct pl_path p;
	DIR *d;
	int err = pl_resolve(AT_FDCWD, path, &p), fd;

	if (err)
		return errno = -err, NULL;
	if (p.where == PL_HOST)
		return PL_REAL(opendir)(p.host);
	if (p.where == PL_FILE) {
		struct stat st;

		err = pl_stat_path(&p, &st);
		return errno = err ? -err : ENOTDIR, NULL;
	}
	fd = pl_open_path(&p, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return errno = -fd, NULL;
	d = dir_new(fd);
	if (!d) {
		err = errno;
		pl_fd_close(fd);
		errno = err;
	}
	return d;
}

PL_EXPORT DIR *fdopendir(int fd)
{
	struct pl_ofd *o = pl_fd_get(fd);
	bool dir, opath;

	if (!o)
		return PL_REAL(fdopendir)(fd);
	dir = o->kind == PL_KIND_DIR;
	opath = atomic_load(&o->flags) & O_PATH;
	pl_ofd_put(o);
	if (!dir || opath)
		return errno = dir ? EBADF : ENOTDIR, NULL;
	return dir_new(fd);
}

static struct dirent64 *next_ent(struct pl_dir *d)
{
	struct pl_ent *e;

	if (d->pos >= d->nr)
		return NULL; /* errno untouched: the end */
	e = &d->ents[d->pos];
	memset(&d->de, 0, offsetof(struct dirent64, d_name));
	d->de.d_ino = e->ino;
	d->de.d_off = (off64_t)++d->pos;
	d->de.d_reclen = sizeof(d->de);
	d->de.d_type = e->type;
	strcpy(d->de.d_name, e->name);
	return &d->de;
}

PL_EXPORT struct dirent *readdir(DIR *dir)
{
	struct pl_dir *d = ours(dir);

	if (!d)
		return PL_REAL(readdir)(dir);
	/* struct dirent is struct dirent64 on LP64. */
	return (struct dirent *)next_ent(d);
}

PL_EXPORT struct dirent64 *readdir64(DIR *dir)
{
	struct pl_dir *d = ours(dir);

	if (!d)
		return PL_REAL(readdir64)(dir);
	return next_ent(d);
}

PL_EXPORT int closedir(DIR *dir)
{
	struct pl_dir *d = ours(dir);

	if (!d)
		return PL_REAL(closedir)(dir);
	pthread_mutex_lock(&dir_lock);
	for (struct pl_dir **pp = &dirs; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	pthread_mutex_unlock(&dir_lock);
	pl_fd_close(d->fd);
	free(d->ents);
	free(d);
	return 0;
}

PL_EXPORT int dirfd(DIR *dir)
{
	struct pl_dir *d = ours(dir);

	return d ? d->fd : PL_REAL(dirfd)(dir);
}

PL_EXPORT void rewinddir(DIR *dir)
{
	struct pl_dir *d = ours(dir);

	if (!d) {
		PL_REAL(rewinddir)(dir);
		return;
	}
	if (snapshot(d))
		d->pos = d->nr; /* nothing more to read */
}

PL_EXPORT long telldir(DIR *dir)
{
	struct pl_dir *d = ours(dir);

	return d ? (long)d->pos : PL_REAL(telldir)(dir);
}

PL_EXPORT void seekdir(DIR *dir, long pos)
{
	struct pl_dir *d = ours(dir);

	if (!d) {
		PL_REAL(seekdir)(dir, pos);
		return;
	}
	if (pos >= 0 && (size_t)pos <= d->nr)
		d->pos = (size_t)pos;
}
