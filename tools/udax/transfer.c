/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transfer.c - the udax commands that copy file contents in and out of a
 * pool: put, get and cat, with what keeps a failed copy from destroying
 * anything: temporary names (in the pool for put, beside the destination
 * for get) renamed into place only when complete and fsynced, the
 * cleanups that remove them on an error exit (cli.cleanup), and the
 * SIGINT/SIGTERM/SIGHUP flag the copy loops check.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/*
 * SIGINT, SIGTERM, SIGHUP during a copy: the copy loop sees the flag and
 * dies, so the cleanup removes what was half written. No SA_RESTART, so
 * a read from a terminal or pipe returns EINTR instead of blocking on.
 */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = sig;
}

static void catch_interrupts(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			die_err(-errno, "sigaction");
}

static void check_interrupted(void)
{
	if (interrupted)
		die("interrupted by signal %d; nothing was changed",
		    (int)interrupted);
}

/* Six random letters and digits for a temporary name. */
static void random_suffix(char *out)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[6];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* No entropy yet: unique enough with O_EXCL and retries. */
		unsigned long v = (unsigned long)getpid() ^
				  (unsigned long)(now_sec() * 1e9);

		for (int i = 0; i < 6; i++, v /= 37)
			r[i] = (unsigned char)(v + (unsigned long)i * 7);
	}
	for (int i = 0; i < 6; i++)
		out[i] = set[r[i] % 36];
	out[6] = '\0';
}

#define COPY_CHUNK ((size_t)1 << 20)

/* A put in progress: what to undo if it fails. */
struct put_state {
	struct udax_pool *pool;
	struct udax_file *f;
	const char *tmp; /* the pool name being written */
};

/* Remove the partial copy; the pool's other files are untouched. */
static void put_cleanup(void *ctx)
{
	struct put_state *p = ctx;
	int err = 0;

	if (p->f)
		err = udax_close(p->f);
	if (!err && p->tmp)
		err = udax_unlink(p->pool, p->tmp);
	if (err) {
		fprintf(stderr,
			"udax put: could not remove the partial copy '%s' "
			"(%s): remove it with udax rm\n",
			shown(p->tmp ? p->tmp : ""), strerror(-err));
		return;
	}
	err = udax_pool_close(p->pool);
	if (err)
		fprintf(stderr, "udax put: closing the pool: %s\n",
			strerror(-err));
}

static void __attribute__((noreturn)) die_nospace(uint64_t need, bool exact,
						  uint64_t free_bytes)
{
	char a[32], b[32];

	die("no space left in the pool (need %s%s, free %s)",
	    exact ? "" : "more than ", human_size(need, a, sizeof(a)),
	    human_size(free_bytes, b, sizeof(b)));
}

int cmd_put(int argc, char **argv)
{
	const char *host = argv[1], *name = argv[2];
	bool from_stdin = !strcmp(host, "-"), replace = false;
	struct put_state ps = { 0 };
	struct udax_stats pst;
	struct progress pr;
	struct stat st, old;
	uint64_t off = 0, free_bytes;
	mode_t mode = 0644;
	char tmp[32], sfx[8];
	char *buf;
	int fd, err;

	(void)argc;
	check_name(name);
	fd = from_stdin ? 0 : open(host, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_err(-errno, "cannot open host file '%s'", shown(host));
	if (fstat(fd, &st))
		die_err(-errno, "stat '%s'", shown(host));
	if (S_ISDIR(st.st_mode))
		die("'%s' is a directory", shown(host));
	if (is_pool(argv[0], &st))
		die("'%s' is the pool itself", shown(host));
	ps.pool = open_pool(argv[0]);
	pool_stats(ps.pool, &pst);
	free_bytes = pst.pool_free_blocks * 4096;

	err = udax_open(ps.pool, name, O_RDONLY, 0, &ps.f);
	if (!err) {
		replace = true;
		file_stat(ps.f, name, &old);
		mode = old.st_mode & 07777;
		close_file(ps.f, name);
		ps.f = NULL;
	} else if (err == -EUCLEAN) {
		replace = true; /* a damaged file: the copy replaces it */
	} else if (err != -ENOENT) {
		die_err(err, "cannot open '%s'", shown(name));
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > free_bytes)
		die_nospace((uint64_t)st.st_size, true, free_bytes);

	/*
	 * The copy goes to a new, temporary name; only once it is complete
	 * and durable does it take @name (replacing the old file in the same
	 * journal transaction). A failure removes the temporary file.
	 */
	cli.cleanup = put_cleanup;
	cli.cleanup_ctx = &ps;
	for (int tries = 0;; tries++) {
		random_suffix(sfx);
		snprintf(tmp, sizeof(tmp), ".udax-put-%s", sfx);
		err = udax_open(ps.pool, tmp, O_RDWR | O_CREAT | O_EXCL, mode,
				&ps.f);
		if (err != -EEXIST || tries > 100)
			break;
	}
	if (err == -ENOSPC)
		die("no space left in the pool for a new file (no free inode)");
	if (err)
		die_err(err, "cannot create a file in the pool");
	ps.tmp = tmp;
	catch_interrupts();

	buf = malloc(COPY_CHUNK);
	if (!buf)
		die("out of memory");
	progress_start(&pr, "put", (uint64_t)st.st_size);
	for (;;) {
		ssize_t n = read(fd, buf, COPY_CHUNK), w;

		check_interrupted();
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_err(-errno, "reading '%s'", shown(host));
		if (!n)
			break;
		w = udax_pwrite(ps.f, buf, (size_t)n, off);
		if (w == -ENOSPC || (w >= 0 && w < n))
			die_nospace(S_ISREG(st.st_mode) ? (uint64_t)st.st_size
							: off + (uint64_t)n,
				    S_ISREG(st.st_mode), free_bytes);
		if (w < 0)
			die_err((int)w, "writing '%s'", shown(name));
		off += (uint64_t)n;
		progress_update(&pr, off);
	}
	progress_end(&pr);
	free(buf);
	if (!from_stdin && close(fd))
		die_err(-errno, "closing '%s'", shown(host));
	err = udax_fsync(ps.f);
	if (err)
		die_err(err, "syncing '%s'", shown(name));
	err = udax_close(ps.f);
	ps.f = NULL;
	if (err)
		die_err(err, "closing '%s'", shown(name));
	err = udax_rename(ps.pool, tmp, name,
			  replace ? 0 : UDAX_RENAME_NOREPLACE);
	if (err)
		die_err(err, "cannot rename the copy to '%s'", shown(name));
	cli.cleanup = NULL;
	close_pool(ps.pool);
	if (cli.json) {
		json_begin();
		json_name("name", name);
		json_u64("bytes", off);
		json_bool("replaced", replace);
		json_end();
	}
	return 0;
}

/* Copy open file @f (@name) to fd @out, close @f; return the bytes copied. */
static uint64_t copy_out(struct udax_file *f, const char *name, int out,
			 const char *what, bool progress)
{
	struct progress pr;
	struct stat st;
	uint64_t off = 0;
	char *buf = malloc(COPY_CHUNK);

	if (!buf)
		die("out of memory");
	file_stat(f, name, &st);
	progress_start(&pr, what, (uint64_t)st.st_size);
	for (;;) {
		ssize_t n = udax_pread(f, buf, COPY_CHUNK, off);

		check_interrupted();
		if (n < 0)
			die_err((int)n, "reading '%s'", shown(name));
		if (!n)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));

			check_interrupted();
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				die_err(-errno, "writing the output");
			done += w;
		}
		off += (uint64_t)n;
		if (progress)
			progress_update(&pr, off);
	}
	if (progress)
		progress_end(&pr);
	free(buf);
	close_file(f, name);
	return off;
}

/* A get in progress: the temporary host file to remove if it fails. */
struct get_state {
	char tmp[PATH_MAX];
	bool have_tmp;
};

static void get_cleanup(void *ctx)
{
	struct get_state *g = ctx;

	if (g->have_tmp && unlink(g->tmp))
		fprintf(stderr,
			"udax get: could not remove the temporary file '%s': "
			"%s\n",
			shown(g->tmp), strerror(errno));
}

/*
 * Where `get POOL NAME DEST` writes: DEST itself, the file a symbolic
 * link DEST points to, or DEST/NAME for a directory. Refuses the pool.
 * Return: 1 if the target exists as a regular file (its mode in *@mode),
 * 0 if it does not exist, 2 if it is something else to write into
 * directly (a character device, a FIFO).
 */
static int get_target(const char *pool_path, const char *dest,
		      const char *name, char *target, mode_t *mode)
{
	bool joined = false; /* DEST was a directory: NAME appended */
	struct stat st;

	if (snprintf(target, PATH_MAX, "%s", dest) >= PATH_MAX)
		die("'%s': path too long", shown(dest));
	for (;;) {
		if (lstat(target, &st)) {
			if (errno != ENOENT)
				die_err(-errno, "'%s'", shown(target));
			return 0;
		}
		if (S_ISLNK(st.st_mode)) {
			char real[PATH_MAX];

			if (!realpath(target, real)) {
				if (errno == ENOENT)
					die("'%s' is a symbolic link to a "
					    "missing file",
					    shown(target));
				die_err(-errno, "'%s'", shown(target));
			}
			memcpy(target, real, strlen(real) + 1);
			continue;
		}
		if (is_pool(pool_path, &st))
			die("'%s' is the pool itself: refusing to overwrite it",
			    shown(target));
		if (S_ISDIR(st.st_mode) && !joined) {
			size_t len = strlen(target);

			joined = true;
			if (snprintf(target + len, PATH_MAX - len, "/%s",
				     name) >= (int)(PATH_MAX - len))
				die("'%s/%s': path too long", shown(dest),
				    shown(name));
			continue;
		}
		if (S_ISDIR(st.st_mode))
			die("'%s' is a directory", shown(target));
		*mode = st.st_mode & 07777;
		return S_ISREG(st.st_mode) ? 1 : 2;
	}
}

/* Make the rename durable: fsync the directory holding @path. */
static void sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		die_err(-errno, "the copy is in place, but syncing its "
				"directory '%s' failed",
			shown(dir));
	if (close(fd))
		die_err(-errno, "closing the directory '%s'", shown(dir));
}

int cmd_get(int argc, char **argv)
{
	const char *name = argv[1], *dest = argv[2];
	static struct get_state g;
	char target[PATH_MAX];
	struct udax_pool *pool;
	struct udax_file *f;
	struct stat st;
	mode_t mode = 0;
	uint64_t bytes;
	int kind = 2, fd;

	(void)argc;
	check_name(name);
	if (!strcmp(dest, "-")) {
		/* stdout redirected onto the pool (>>) is refused too. */
		if (!fstat(1, &st) && is_pool(argv[0], &st))
			die("standard output is the pool itself: refusing to "
			    "write to it");
		snprintf(target, sizeof(target), "(standard output)");
	} else {
		kind = get_target(argv[0], dest, name, target, &mode);
	}
	/* Nothing is created on the host before the file opened. */
	pool = open_pool_read(argv[0]);
	f = open_file(pool, name, O_RDONLY);
	catch_interrupts();
	if (!strcmp(dest, "-")) {
		fd = 1;
	} else if (kind == 2) {
		fd = open(target, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die_err(-errno, "cannot open '%s'", shown(target));
	} else {
		char *slash = strrchr(target, '/');
		size_t dlen = slash ? (size_t)(slash - target) + 1 : 0;
		char sfx[8];

		for (int tries = 0;; tries++) {
			random_suffix(sfx);
			if (snprintf(g.tmp, sizeof(g.tmp), "%.*s.udax-get-%s",
				     (int)dlen, target, sfx) >= PATH_MAX)
				die("'%s': path too long", shown(target));
			fd = open(g.tmp,
				  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				  0666);
			if (fd >= 0 || errno != EEXIST || tries > 100)
				break;
		}
		if (fd < 0)
			die_err(-errno, "cannot create a file beside '%s'",
				shown(target));
		g.have_tmp = true;
		cli.cleanup = get_cleanup;
		cli.cleanup_ctx = &g;
		/* Replacing a file keeps its permission bits. */
		if (kind == 1 && fchmod(fd, mode))
			die_err(-errno, "chmod '%s'", shown(g.tmp));
	}
	bytes = copy_out(f, name, fd, "get", fd != 1);
	close_pool(pool);
	if (fd != 1) {
		if (kind != 2 && fsync(fd))
			die_err(-errno, "syncing '%s'", shown(g.tmp));
		if (close(fd))
			die_err(-errno, "closing '%s'", shown(target));
	}
	if (g.have_tmp) {
		if (rename(g.tmp, target))
			die_err(-errno, "cannot rename the copy to '%s'",
				shown(target));
		g.have_tmp = false;
		cli.cleanup = NULL;
		sync_dir_of(target);
	}
	if (cli.json && fd != 1) {
		json_begin();
		json_name("name", name);
		json_name("dest", target);
		json_u64("bytes", bytes);
		json_end();
	}
	return 0;
}

int cmd_cat(int argc, char **argv)
{
	struct udax_pool *pool = open_pool_read(argv[0]);

	(void)argc;
	copy_out(open_file(pool, argv[1], O_RDONLY), argv[1], 1, "cat", false);
	close_pool(pool);
	return 0;
}
