/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * path.c - which paths are the pool's, and the working directory.
 *
 * A path names a pool file when, made absolute and folded lexically ("//",
 * "." and ".." removed; symbolic links of the host are not followed), it
 * is UDAX_MOUNT/NAME with NAME a single component: the pool is one flat
 * directory. UDAX_MOUNT itself is the mount directory. Everything else is
 * the host's and goes to libc unchanged, except that a relative path is
 * rewritten as absolute while the working directory is the mount (the
 * kernel's working directory stays where it was: the mount need not exist
 * on the host).
 *
 * The working directory is kept as a string (pl_cwd) that chdir and
 * fchdir replace; it is published with one atomic store and old strings
 * are never freed (a reader may still hold one), so reading it takes no
 * lock and path resolution is safe in a signal handler.
 */
#include "preload.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *_Atomic pl_cwd; /* absolute, normalised; or NULL */
static atomic_bool pl_cwd_virtual; /* pl_cwd is the mount */

int pl_normalize(const char *abs, char *out, size_t size, bool *slash)
{
	size_t n = 0, len;
	const char *p = abs, *q;

	*slash = false;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p) {
			*slash = p > abs + 1 || n; /* "x/" but not "/" */
			break;
		}
		q = strchrnul(p, '/');
		len = (size_t)(q - p);
		if (len == 1 && p[0] == '.') {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the '/' before the component */
		} else {
			if (n + 1 + len + 1 > size)
				return -ENAMETOOLONG;
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = q;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = 0;
	return 0;
}

/* Set the working directory to @dir (a malloc'd string, or NULL: unknown). */
static void cwd_set(const char *dir, bool virt)
{
	atomic_store_explicit(&pl_cwd_virtual, virt, memory_order_relaxed);
	atomic_store_explicit(&pl_cwd, dir, memory_order_release);
}

/* Learn the kernel's working directory again (after a chdir of ours). */
static void cwd_refresh(void)
{
	char *buf = malloc(PATH_MAX), *dir = NULL;
	bool slash;

	if (buf && PL_REAL(getcwd)(buf, PATH_MAX)) {
		dir = malloc(PATH_MAX);
		if (dir && pl_normalize(buf, dir, PATH_MAX, &slash)) {
			free(dir);
			dir = NULL;
		}
	}
	free(buf);
	cwd_set(dir, false);
}

void pl_cwd_init(void)
{
	if (!atomic_load(&pl_cwd))
		cwd_refresh();
}

static int is_under_mount(const char *norm, struct pl_path *p)
{
	size_t m = pl_cfg.mount_len;
	const char *name;

	if (strncmp(norm, pl_cfg.mount, m))
		return 0;
	if (!norm[m]) {
		p->where = PL_MOUNT;
		return 1;
	}
	if (norm[m] != '/')
		return 0;
	name = norm + m + 1;
	if (strchr(name, '/'))
		return -ENOENT; /* a directory below the mount */
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	strcpy(p->name, name);
	p->where = PL_FILE;
	return 1;
}

/*
 * /proc/self/fd/N and /dev/fd/N of a pool descriptor would reach the
 * placeholder (/dev/null) through the kernel: refused instead.
 */
static bool fd_link_is_pool(const char *path)
{
	static const char *const pre[] = {"/proc/self/fd/", "/dev/fd/"};
	char *end;
	long fd;

	for (unsigned int i = 0; i < 2; i++) {
		size_t n = strlen(pre[i]);

		if (strncmp(path, pre[i], n) || path[n] < '0' || path[n] > '9')
			continue;
		fd = strtol(path + n, &end, 10);
		return (!*end || *end == '/') && fd <= INT_MAX &&
		       pl_fd_is_pool((int)fd);
	}
	return false;
}

int pl_resolve(int dirfd, const char *path, struct pl_path *p)
{
	char abs[PATH_MAX], norm[PATH_MAX];
	const char *base = NULL;
	bool slash, rewrite = false;
	int err;

	p->where = PL_HOST;
	p->host = path;
	if (!path || !pl_active())
		return 0;
	if (fd_link_is_pool(path))
		return -ENXIO;
	if (path[0] == '/') {
		if (strlen(path) >= sizeof(abs))
			return 0; /* the kernel says ENAMETOOLONG */
		strcpy(abs, path);
	} else {
		struct pl_ofd *o = NULL;

		if (dirfd == AT_FDCWD) {
			base =
			    atomic_load_explicit(&pl_cwd, memory_order_acquire);
			rewrite = atomic_load_explicit(&pl_cwd_virtual,
						       memory_order_relaxed);
		} else if (pl_fd_is_pool(dirfd) && (o = pl_fd_get(dirfd))) {
			bool dir = o->kind == PL_KIND_DIR;

			pl_ofd_put(o);
			if (!dir)
				return -ENOTDIR;
			base = pl_cfg.mount;
			rewrite = true;
		}
		if (!base)
			return 0; /* a host directory: the host's business */
		if (!*path)
			return -ENOENT;
		if (strlen(base) + 1 + strlen(path) >= sizeof(abs))
			return -ENAMETOOLONG;
		strcpy(abs, base);
		strcat(abs, "/");
		strcat(abs, path);
	}
	if (pl_normalize(abs, norm, sizeof(norm), &slash))
		return path[0] == '/' ? 0 : -ENAMETOOLONG;
	err = is_under_mount(norm, p);
	if (err < 0)
		return err;
	if (err > 0) {
		if (p->where == PL_FILE && slash)
			return -ENOTDIR;
		return 0;
	}
	/* A host path relative to the mount (or its descriptor), or one
	 * that passes through it ("/mnt/../etc"): the kernel cannot walk
	 * the mount, so it gets the folded path. */
	if (!rewrite && !strncmp(abs, pl_cfg.mount, pl_cfg.mount_len) &&
	    abs[pl_cfg.mount_len] == '/')
		rewrite = true;
	if (rewrite) {
		strcpy(p->buf, norm);
		if (slash && strlen(p->buf) + 2 <= sizeof(p->buf))
			strcat(p->buf, "/");
		p->host = p->buf;
	}
	return 0;
}

/* ---- chdir, fchdir, getcwd ---- */

PL_EXPORT int chdir(const char *path)
{
	struct pl_path p;
	int err = pl_resolve(AT_FDCWD, path, &p);

	if (err)
		return pl_err(err);
	if (p.where == PL_FILE) {
		struct stat st;

		err = pl_stat_path(&p, &st);
		return pl_err(err ? err : -ENOTDIR);
	}
	if (p.where == PL_MOUNT) {
		struct udax_pool *pool;

		err = pl_pool(&pool);
		if (err)
			return pl_err(err);
		cwd_set(pl_cfg.mount, true);
		return 0;
	}
	if (PL_REAL(chdir)(p.host))
		return -1;
	if (pl_active())
		cwd_refresh();
	return 0;
}

PL_EXPORT int fchdir(int fd)
{
	struct pl_ofd *o = pl_fd_get(fd);

	if (o) {
		bool dir = o->kind == PL_KIND_DIR;

		pl_ofd_put(o);
		if (!dir)
			return pl_err(-ENOTDIR);
		cwd_set(pl_cfg.mount, true);
		return 0;
	}
	if (PL_REAL(fchdir)(fd))
		return -1;
	if (pl_active())
		cwd_refresh();
	return 0;
}

PL_EXPORT char *getcwd(char *buf, size_t size)
{
	size_t len;

	if (!pl_active() || !atomic_load(&pl_cwd_virtual))
		return PL_REAL(getcwd)(buf, size);
	len = pl_cfg.mount_len + 1;
	if (!buf) {
		if (size && size < len) {
			errno = ERANGE;
			return NULL;
		}
		buf = malloc(size > len ? size : len);
		if (!buf)
			return NULL;
	} else if (size < len) {
		errno = size ? ERANGE : EINVAL;
		return NULL;
	}
	memcpy(buf, pl_cfg.mount, len);
	return buf;
}
