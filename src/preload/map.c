/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * map.c - mappings of pool files: mmap (real udax mappings, served by
 * udax's fault handler), munmap, msync, madvise, posix_madvise, mremap.
 *
 * The mappings this library made are kept in a table (@maps, under
 * map_lock, a leaf lock never held across a udax call: udax_mmap and
 * udax_munmap call mmap and munmap themselves, which come back here and
 * must find the table unlocked). munmap, msync and madvise look their
 * address up there; an address that is not in it is the host's.
 *
 * ThreadSanitizer calls munmap itself: its symbolizer (libbacktrace)
 * maps and unmaps views of the binaries while the runtime builds a
 * report, holding its thread registry lock and ignoring interceptors,
 * so it reaches this (instrumented) library as munmap's next definition.
 * Synchronisation is invisible to TSan then (map_lock goes to libc
 * unrecorded; atomics are done but not modelled) while plain accesses
 * are still checked: a plain read of the table would be reported as
 * racing with the last map_add, and that nested report waits for the
 * registry lock its own thread holds (the process hangs). So the lookup
 * reads the table with relaxed atomic loads (ignored by TSan in that
 * state, checked against unlocked writes otherwise; map_lock orders
 * them). And a report raised while this thread holds map_lock (a race
 * found in here) would have the symbolizer's munmap wait for map_lock:
 * a thread that holds it is never looking up one of its own mappings
 * (no udax or libc call is made under it), so the lookup says "host".
 *
 * mprotect is not wrapped: udax changes the protection of its own pages
 * from its fault handler, and a program's mprotect on a udax mapping
 * would be undone by the next fault (documented as unsupported).
 */
#include "preload.h"

#include <linux/mman.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PL_PAGE 4096UL

struct pl_map {
	char *addr;
	size_t len; /* rounded up to pages */
};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_map *maps;
static size_t nr_maps, cap_maps;
/* This thread holds map_lock (see the top of the file). */
static __thread bool map_lock_mine __attribute__((tls_model("initial-exec")));

static void map_lock_take(void)
{
	pthread_mutex_lock(&map_lock);
	map_lock_mine = true;
}

static void map_lock_drop(void)
{
	map_lock_mine = false;
	pthread_mutex_unlock(&map_lock);
}

static int map_add(void *addr, size_t len)
{
	int err = 0;

	map_lock_take();
	if (nr_maps == cap_maps) {
		size_t cap = cap_maps ? cap_maps * 2 : 64;
		struct pl_map *m = realloc(maps, cap * sizeof(*m));

		if (!m)
			err = -ENOMEM;
		else {
			maps = m;
			cap_maps = cap;
		}
	}
	if (!err)
		maps[nr_maps++] = (struct pl_map){addr, len};
	map_lock_drop();
	return err;
}

/*
 * Look up [@addr, @addr + @len): 0 if no udax mapping overlaps it, 1 if it
 * lies inside one (*@m filled; removed from the table if @remove and it
 * is the whole mapping), -EINVAL if it overlaps one only partly.
 */
static int map_find(const void *addr, size_t len, struct pl_map *m, bool remove)
{
	const char *a = addr, *end = a + len;
	struct pl_map *t;
	size_t n;
	int ret = 0;

	if (map_lock_mine)
		return 0; /* the sanitizer runtime, reporting from in here */
	map_lock_take();
	t = __atomic_load_n(&maps, __ATOMIC_RELAXED);
	n = __atomic_load_n(&nr_maps, __ATOMIC_RELAXED);
	for (size_t i = 0; i < n; i++) {
		char *s = __atomic_load_n(&t[i].addr, __ATOMIC_RELAXED);
		size_t l = __atomic_load_n(&t[i].len, __ATOMIC_RELAXED);
		const char *e = s + l;

		if (end <= s || a >= e)
			continue;
		if (a < s || end > e) {
			ret = -EINVAL;
			break;
		}
		*m = (struct pl_map){s, l};
		ret = 1;
		if (remove) {
			if (a != s || end != e) {
				ret = -EINVAL; /* part of a mapping */
				break;
			}
			/* Only for udax mappings: never the runtime's. */
			t[i] = t[--nr_maps];
		}
		break;
	}
	map_lock_drop();
	return ret;
}

static size_t round_len(size_t len)
{
	return (len + PL_PAGE - 1) & ~(PL_PAGE - 1);
}

#define PL_MAP_OK                                                              \
	(MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE | MAP_SYNC |           \
	 MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE | MAP_POPULATE |      \
	 MAP_NONBLOCK | MAP_STACK | MAP_DENYWRITE | MAP_EXECUTABLE |           \
	 MAP_LOCKED)

static void *pool_mmap(struct pl_ofd *o, void *addr, size_t len, int prot,
		       int flags, off_t off)
{
	int acc = atomic_load(&o->flags) & (O_ACCMODE | O_PATH);
	int type = flags & MAP_SHARED_VALIDATE, uflags, err;
	void *p = NULL;

	if (o->kind == PL_KIND_DIR)
		err = -ENODEV;
	else if (acc & O_PATH)
		err = -EBADF;
	else if (!len || (off & (PL_PAGE - 1)) || off < 0 ||
		 ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) &&
		  ((uintptr_t)addr & (PL_PAGE - 1))))
		err = -EINVAL;
	else if (type == MAP_SHARED_VALIDATE && (flags & ~PL_MAP_OK))
		err = -EOPNOTSUPP;
	else if (prot & ~(PROT_READ | PROT_WRITE))
		err = -EPERM; /* as a noexec mount */
	else if (acc == O_WRONLY ||
		 (type != MAP_PRIVATE && (prot & PROT_WRITE) && acc != O_RDWR))
		err = -EACCES;
	else
		err = 0;
	if (err)
		goto fail;
	/* MAP_SYNC means something only with MAP_SHARED_VALIDATE. */
	uflags = type == MAP_PRIVATE ? MAP_PRIVATE : MAP_SHARED;
	if (type == MAP_SHARED_VALIDATE && (flags & MAP_SYNC))
		uflags |= MAP_SYNC;
	if (flags & MAP_FIXED) {
		struct pl_map m;

		/* Replace what is there, as the kernel does, unless it is a
		 * udax mapping (which only udax_munmap may remove). */
		if (map_find(addr, round_len(len), &m, false)) {
			err = -EOPNOTSUPP;
			goto fail;
		}
		PL_REAL(munmap)(addr, round_len(len));
	}
	err = udax_mmap(o->file, addr, len, prot, uflags, (uint64_t)off, &p);
	if (err)
		goto fail;
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && p != addr) {
		udax_munmap(p, len);
		err = flags & MAP_FIXED_NOREPLACE ? -EEXIST : -ENOMEM;
		goto fail;
	}
	err = map_add(p, round_len(len));
	if (err) {
		udax_munmap(p, len);
		goto fail;
	}
	if (flags & MAP_POPULATE)
		(void)udax_prefault(p, len, (prot & PROT_WRITE) != 0);
	pl_debug("mmap %zu bytes at %lld: %p", len, (long long)off, p);
	return p;
fail:
	pl_debug("mmap %zu bytes at %lld: %s", len, (long long)off,
		 strerror(-err));
	errno = -err;
	return MAP_FAILED;
}

PL_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		     off_t off)
{
	struct pl_ofd *o;
	void *p;

	if ((flags & MAP_ANONYMOUS) || !pl_fd_is_pool(fd) ||
	    !(o = pl_fd_get(fd)))
		return PL_REAL(mmap)(addr, len, prot, flags, fd, off);
	p = pool_mmap(o, addr, len, prot, flags, off);
	pl_ofd_put(o);
	return p;
}

PL_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
		       off64_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

PL_EXPORT int munmap(void *addr, size_t len)
{
	struct pl_map m;
	int ret = map_find(addr, round_len(len), &m, true);

	if (!ret)
		return PL_REAL(munmap)(addr, len);
	if (ret < 0) {
		pl_debug("munmap of part of a udax mapping: unsupported");
		return pl_err(ret);
	}
	ret = udax_munmap(m.addr, m.len);
	if (ret)
		map_add(m.addr, m.len); /* still mapped */
	return pl_err(ret);
}

PL_EXPORT int msync(void *addr, size_t len, int flags)
{
	struct pl_map m;
	int ret = map_find(addr, len ? len : 1, &m, false);

	if (!ret)
		return PL_REAL(msync)(addr, len, flags);
	if (ret < 0)
		return pl_err(-ENOMEM); /* the range leaves the mapping */
	return pl_err(udax_msync(addr, len, flags));
}

/* The advice a udax mapping takes: none changes what it holds. */
static int advise(void *addr, size_t len, int advice, bool *host)
{
	struct pl_map m;
	int ret = map_find(addr, len ? len : 1, &m, false);

	*host = !ret;
	if (!ret)
		return 0;
	if (ret < 0)
		return -EINVAL;
	switch (advice) {
	case MADV_WILLNEED:
		(void)udax_prefault(addr, len, 0);
		return 0;
	case MADV_NORMAL:
	case MADV_RANDOM:
	case MADV_SEQUENTIAL:
	case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE:
	case MADV_DODUMP:
	case MADV_DONTDUMP:
	case MADV_COLD:
	case MADV_PAGEOUT:
	case MADV_DONTNEED: /* shared or not: the pages stay the file's */
		return 0;
	default:
		/* MADV_REMOVE, MADV_FREE, MADV_DONTFORK... */
		return -EOPNOTSUPP;
	}
}

PL_EXPORT int madvise(void *addr, size_t len, int advice)
{
	bool host;
	int err = advise(addr, len, advice, &host);

	if (host)
		return PL_REAL(madvise)(addr, len, advice);
	return pl_err(err);
}

PL_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	bool host;
	int err;

	/* POSIX_MADV_* equal MADV_* for 0..4 on Linux. */
	err =
	    advise(addr, len,
		   advice == POSIX_MADV_DONTNEED ? MADV_NORMAL : advice, &host);
	if (host)
		return PL_REAL(posix_madvise)(addr, len, advice);
	return -err;
}

PL_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	struct pl_map m;
	void *newaddr = NULL;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		newaddr = va_arg(ap, void *);
		va_end(ap);
	}
	if (map_find(old, oldlen ? oldlen : 1, &m, false)) {
		/* Callers (SQLite) fall back to munmap and mmap. */
		pl_debug("mremap of a udax mapping: unsupported");
		errno = EOPNOTSUPP;
		return MAP_FAILED;
	}
	return PL_REAL(mremap)(old, oldlen, newlen, flags, newaddr);
}

void pl_map_unmap_all(void)
{
	struct pl_map m;

	for (;;) {
		map_lock_take();
		if (!nr_maps) {
			map_lock_drop();
			return;
		}
		m = maps[--nr_maps];
		map_lock_drop();
		(void)udax_msync(m.addr, m.len, MS_SYNC);
		(void)udax_munmap(m.addr, m.len);
	}
}
