/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stdio.c - streams on pool files: fopen, fopen64, fdopen.
 *
 * glibc's fopen opens its file with an internal open that no wrapper
 * sees, so fopen of a pool path is done here: the file is opened with
 * this library's open, and the stream is a glibc cookie stream
 * (fopencookie) whose read, write, seek and close are this library's on
 * that descriptor. fread, fwrite, fseek, fflush and fclose then work
 * unchanged. The stream's fileno is set to the descriptor (glibc keeps it
 * in FILE._fileno, which cookie streams leave at -1), so fileno(), and
 * fstat() on it, work too.
 *
 * At exit glibc flushes streams after the library destructors have run,
 * when the pool is closed; pl_stdio_flush(), from the destructor, flushes
 * every stream first.
 */
#include "preload.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static ssize_t ck_read(void *c, char *buf, size_t len)
{
	return read((int)(intptr_t)c, buf, len);
}

static ssize_t ck_write(void *c, const char *buf, size_t len)
{
	ssize_t n = write((int)(intptr_t)c, buf, len);

	/* glibc takes 0 as an error here; a pool write returns 0 only for
	 * len 0. */
	return n < 0 ? -1 : n;
}

static int ck_seek(void *c, off64_t *pos, int whence)
{
	off_t r = lseek((int)(intptr_t)c, *pos, whence);

	if (r < 0)
		return -1;
	*pos = r;
	return 0;
}

static int ck_close(void *c)
{
	return close((int)(intptr_t)c);
}

static const cookie_io_functions_t pl_cookie_io = {
    .read = ck_read,
    .write = ck_write,
    .seek = ck_seek,
    .close = ck_close,
};

/* fopen's @mode as open flags; *@cmode the mode for fopencookie. */
static int mode_flags(const char *mode, char *cmode)
{
	int flags;
	bool plus = strchr(mode, '+') != NULL;

	switch (mode[0]) {
	case 'r':
		flags = plus ? O_RDWR : O_RDONLY;
		break;
	case 'w':
		flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
		break;
	case 'a':
		flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
		break;
	default:
		return -EINVAL;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++)
		if (*m == 'x')
			flags |= O_EXCL;
	cmode[0] = mode[0];
	cmode[1] = plus ? '+' : 0;
	cmode[2] = 0;
	return flags;
}

/* A cookie stream on pool descriptor @fd; NULL with errno on failure. */
static FILE *stream(int fd, const char *cmode)
{
	FILE *fp = fopencookie((void *)(intptr_t)fd, cmode, pl_cookie_io);

	if (fp)
		fp->_fileno = fd;
	return fp;
}

static FILE *do_fopen(const char *path, const char *mode,
		      FILE *(*host)(const char *, const char *))
{
	struct pl_path p;
	char cmode[3];
	int err = pl_resolve(AT_FDCWD, path, &p), flags, fd;
	FILE *fp;

	if (err)
		return errno = -err, NULL;
	if (p.where == PL_HOST)
		return host(p.host, mode);
	flags = mode_flags(mode, cmode);
	if (flags < 0)
		return errno = -flags, NULL;
	fd = pl_open_path(&p, flags, 0666);
	if (fd < 0)
		return errno = -fd, NULL;
	fp = stream(fd, cmode);
	if (!fp) {
		err = errno;
		pl_fd_close(fd);
		errno = err;
	}
	return fp;
}

PL_EXPORT FILE *fopen(const char *path, const char *mode)
{
	return do_fopen(path, mode, PL_REAL(fopen));
}

PL_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return do_fopen(path, mode, PL_REAL(fopen64));
}

PL_EXPORT FILE *fdopen(int fd, const char *mode)
{
	struct pl_ofd *o = pl_fd_get(fd);
	char cmode[3];
	int flags, acc;
	bool dir;

	if (!o)
		return PL_REAL(fdopen)(fd, mode);
	acc = atomic_load(&o->flags) & (O_ACCMODE | O_PATH);
	dir = o->kind == PL_KIND_DIR;
	pl_ofd_put(o);
	flags = mode_flags(mode, cmode);
	if (flags < 0)
		return errno = -flags, NULL;
	if (dir)
		return errno = EISDIR, NULL;
	/* The stream may not ask for more than the descriptor allows. */
	if (((flags & O_ACCMODE) != O_WRONLY && acc != O_RDONLY &&
	     acc != O_RDWR) ||
	    ((flags & O_ACCMODE) != O_RDONLY && acc != O_WRONLY &&
	     acc != O_RDWR))
		return errno = EINVAL, NULL;
	if (flags & O_APPEND) {
		int f = fcntl(fd, F_GETFL);

		if (f >= 0)
			fcntl(fd, F_SETFL, f | O_APPEND);
	}
	return stream(fd, cmode);
}

void pl_stdio_flush(void)
{
	fflush(NULL);
}
