/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udax - command-line tool for udax pools.
 *
 * Each subcommand is a function taking its own arguments (after options
 * are removed). Output is for people by default, JSON with --json. Exit
 * status 0 on success, 1 with one line on stderr on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct command {
	const char *name;
	const char *args;
	const char *help;
	int nargs; /* exact number of positional arguments, -1: any */
	int (*fn)(int argc, char **argv);
};

static const struct command *find_command(const char *name);

/* ---- helpers ---- */

static struct udax_pool *open_pool(const char *path)
{
	struct udax_pool *pool;
	int err = udax_pool_open(path, 0, &pool);

	if (err)
		die("cannot open pool '%s': %s", path, pool_error(err));
	return pool;
}

static void close_pool(struct udax_pool *pool)
{
	int err = udax_pool_close(pool);

	if (err)
		die_err(err, "closing the pool");
}

static struct udax_file *open_file(struct udax_pool *pool, const char *name,
				   int flags)
{
	struct udax_file *f;
	int err = udax_open(pool, name, flags, 0644, &f);

	if (err == -ENAMETOOLONG)
		die("name too long (the limit is 255 bytes): '%.40s...'", name);
	if (err == -ENOENT)
		die("no file '%s' in the pool", name);
	if (err)
		die_err(err, "cannot open '%s'", name);
	return f;
}

static uint64_t size_arg(const char *s, const char *what)
{
	uint64_t v;

	if (parse_size(s, &v))
		die("invalid %s '%s' (use a number with an optional K, M, G "
		    "or T suffix)",
		    what, s);
	return v;
}

/* ---- subcommands ---- */

static int cmd_mkfs(int argc, char **argv)
{
	uint64_t size = size_arg(argv[1], "size");
	struct udax_pool *pool;
	char buf[32];
	int err;

	(void)argc;
	err = udax_pool_create(argv[0], size, &pool);
	if (err == -EEXIST)
		die("'%s' already exists", argv[0]);
	if (err == -EINVAL)
		die("size %s is too small (the minimum is 4M)", argv[1]);
	if (err)
		die_err(err, "cannot create pool '%s'", argv[0]);
	close_pool(pool);
	if (cli.json) {
		json_begin();
		json_str("pool", argv[0]);
		json_u64("size", size);
		json_end();
	} else {
		printf("created pool %s (%s)\n", argv[0],
		       human_size(size, buf, sizeof(buf)));
	}
	return 0;
}

struct ls_ctx {
	int n;
};

static int ls_one(void *arg, const char *name, uint64_t size)
{
	struct ls_ctx *c = arg;

	if (cli.json)
		printf("%s{\"name\":\"%s\",\"size\":%llu}", c->n ? "," : "",
		       name, (unsigned long long)size);
	else
		printf("%12llu  %s\n", (unsigned long long)size, name);
	c->n++;
	return 0;
}

static int cmd_ls(int argc, char **argv)
{
	struct udax_pool *pool = open_pool(argv[0]);
	struct ls_ctx c = { 0 };
	int err;

	(void)argc;
	if (cli.json)
		printf("[");
	err = udax_list(pool, ls_one, &c);
	if (cli.json)
		printf("]\n");
	close_pool(pool);
	if (err)
		die_err(err, "listing");
	return 0;
}

static int cmd_stat(int argc, char **argv)
{
	struct udax_pool *pool = open_pool(argv[0]);
	struct udax_file *f = open_file(pool, argv[1], O_RDONLY);
	struct stat st;
	char buf[32];

	(void)argc;
	udax_fstat(f, &st);
	udax_close(f);
	close_pool(pool);
	if (cli.json) {
		json_begin();
		json_str("name", argv[1]);
		json_u64("size", (uint64_t)st.st_size);
		json_u64("allocated", (uint64_t)st.st_blocks * 512);
		json_u64("mode", st.st_mode & 07777);
		json_end();
	} else {
		printf("name:      %s\n", argv[1]);
		printf("size:      %llu (%s)\n", (unsigned long long)st.st_size,
		       human_size((uint64_t)st.st_size, buf, sizeof(buf)));
		printf("allocated: %s\n",
		       human_size((uint64_t)st.st_blocks * 512, buf,
				  sizeof(buf)));
		printf("mode:      %04o\n", st.st_mode & 07777);
	}
	return 0;
}

#define COPY_CHUNK ((size_t)1 << 20)

static int cmd_put(int argc, char **argv)
{
	int fd = open(argv[1], O_RDONLY);
	struct udax_pool *pool;
	struct udax_file *f;
	struct progress pr;
	struct stat st;
	uint64_t off = 0;
	char *buf;

	(void)argc;
	if (fd < 0)
		die_err(-errno, "cannot open host file '%s'", argv[1]);
	if (fstat(fd, &st))
		die_err(-errno, "stat '%s'", argv[1]);
	pool = open_pool(argv[0]);
	f = open_file(pool, argv[2], O_RDWR | O_CREAT | O_TRUNC);
	buf = malloc(COPY_CHUNK);
	if (!buf)
		die("out of memory");
	progress_start(&pr, "put", (uint64_t)st.st_size);
	for (;;) {
		ssize_t n = read(fd, buf, COPY_CHUNK), w;

		if (n < 0)
			die_err(-errno, "reading '%s'", argv[1]);
		if (!n)
			break;
		w = udax_pwrite(f, buf, (size_t)n, off);
		if (w == -ENOSPC)
			die("the pool is full after %llu bytes",
			    (unsigned long long)off);
		if (w != n)
			die_err(w < 0 ? (int)w : -EIO, "writing '%s'", argv[2]);
		off += (uint64_t)n;
		progress_update(&pr, off);
	}
	progress_end(&pr);
	free(buf);
	close(fd);
	udax_fsync(f);
	udax_close(f);
	close_pool(pool);
	if (cli.json) {
		json_begin();
		json_str("name", argv[2]);
		json_u64("bytes", off);
		json_end();
	}
	return 0;
}

/* Copy @name out of the pool to fd @out. */
static void copy_out(const char *pool_path, const char *name, int out,
		     const char *what, bool progress)
{
	struct udax_pool *pool = open_pool(pool_path);
	struct udax_file *f = open_file(pool, name, O_RDONLY);
	struct progress pr;
	struct stat st;
	uint64_t off = 0;
	char *buf = malloc(COPY_CHUNK);

	if (!buf)
		die("out of memory");
	udax_fstat(f, &st);
	progress_start(&pr, what, (uint64_t)st.st_size);
	for (;;) {
		ssize_t n = udax_pread(f, buf, COPY_CHUNK, off);

		if (n < 0)
			die_err((int)n, "reading '%s'", name);
		if (!n)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));

			if (w < 0)
				die_err(-errno, "writing output");
			done += w;
		}
		off += (uint64_t)n;
		if (progress)
			progress_update(&pr, off);
	}
	if (progress)
		progress_end(&pr);
	free(buf);
	udax_close(f);
	close_pool(pool);
}

static int cmd_get(int argc, char **argv)
{
	int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);

	(void)argc;
	if (fd < 0)
		die_err(-errno, "cannot create host file '%s'", argv[2]);
	copy_out(argv[0], argv[1], fd, "get", true);
	if (close(fd))
		die_err(-errno, "closing '%s'", argv[2]);
	return 0;
}

static int cmd_cat(int argc, char **argv)
{
	(void)argc;
	copy_out(argv[0], argv[1], 1, "cat", false);
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	struct udax_pool *pool = open_pool(argv[0]);
	int err = udax_unlink(pool, argv[1]);

	(void)argc;
	if (err == -ENOENT)
		die("no file '%s' in the pool", argv[1]);
	if (err)
		die_err(err, "cannot remove '%s'", argv[1]);
	close_pool(pool);
	return 0;
}

static int cmd_truncate(int argc, char **argv)
{
	uint64_t size = size_arg(argv[2], "size");
	struct udax_pool *pool = open_pool(argv[0]);
	struct udax_file *f = open_file(pool, argv[1], O_RDWR);
	int err = udax_ftruncate(f, size);

	(void)argc;
	if (err)
		die_err(err, "cannot truncate '%s'", argv[1]);
	udax_close(f);
	close_pool(pool);
	return 0;
}

static int cmd_punch(int argc, char **argv)
{
	uint64_t off = size_arg(argv[2], "offset");
	uint64_t len = size_arg(argv[3], "length");
	struct udax_pool *pool = open_pool(argv[0]);
	struct udax_file *f = open_file(pool, argv[1], O_RDWR);
	int err = udax_fallocate(f,
				 UDAX_FALLOC_PUNCH_HOLE | UDAX_FALLOC_KEEP_SIZE,
				 off, len);

	(void)argc;
	if (err)
		die_err(err, "cannot punch '%s'", argv[1]);
	udax_close(f);
	close_pool(pool);
	return 0;
}

struct fsck_ctx {
	int problems;
};

static void fsck_report(void *arg, const char *problem)
{
	struct fsck_ctx *c = arg;

	if (!cli.json)
		printf("problem: %s\n", problem);
	c->problems++;
}

static int cmd_fsck(int argc, char **argv)
{
	struct fsck_ctx c = { 0 };
	struct progress pr;
	int err;

	(void)argc;
	progress_start(&pr, "fsck", 1);
	err = udax_pool_fsck(argv[0], fsck_report, &c);
	progress_end(&pr);
	if (err && err != -EUCLEAN)
		die("cannot check '%s': %s", argv[0], pool_error(err));
	if (cli.json) {
		json_begin();
		json_str("pool", argv[0]);
		json_str("result", err ? "corrupt" : "clean");
		json_u64("problems", (uint64_t)c.problems);
		json_end();
	} else {
		printf("%s: %s (%d problem%s)\n", argv[0],
		       err ? "CORRUPT" : "clean", c.problems,
		       c.problems == 1 ? "" : "s");
	}
	return err ? 1 : 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct udax_pool *pool = open_pool(argv[0]);
	struct udax_stats st;
	char a[32], b[32];

	(void)argc;
	udax_pool_stats(pool, &st, sizeof(st));
	close_pool(pool);
	if (cli.json) {
		print_stats(&st, -1);
		return 0;
	}
	printf("pool %s: %llu files, %s free of %s\n", argv[0],
	       (unsigned long long)st.pool_files,
	       human_size(st.pool_free_blocks * 4096, a, sizeof(a)),
	       human_size(st.pool_blocks * 4096, b, sizeof(b)));
	return 0;
}

static const struct command commands[] = {
	{ "mkfs", "POOL SIZE", "create a pool file of SIZE bytes (e.g. 1G)",
	  2, cmd_mkfs },
	{ "ls", "POOL", "list the files in POOL", 1, cmd_ls },
	{ "stat", "POOL NAME", "show size and allocation of a file", 2,
	  cmd_stat },
	{ "put", "POOL HOSTFILE NAME", "copy a host file into the pool", 3,
	  cmd_put },
	{ "get", "POOL NAME HOSTFILE", "copy a file out of the pool", 3,
	  cmd_get },
	{ "cat", "POOL NAME", "write a file's contents to stdout", 2,
	  cmd_cat },
	{ "rm", "POOL NAME", "remove a file", 2, cmd_rm },
	{ "truncate", "POOL NAME SIZE", "set a file's size", 3,
	  cmd_truncate },
	{ "punch", "POOL NAME OFFSET LENGTH",
	  "deallocate a byte range (reads as zeros)", 4, cmd_punch },
	{ "fsck", "POOL", "check a pool's consistency (exit 1 if corrupt)", 1,
	  cmd_fsck },
	{ "stats", "POOL", "show space and file count", 1, cmd_stats },
	{ "demo", "[POOL]",
	  "show udax at work on a sparse file (default pool: ./udax-demo.pool)",
	  -1, cmd_demo },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: udax [--json] COMMAND ARGS...\n\n"
		     "Linux DAX in user space: manage udax pools.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %-24s %s\n", commands[i].name,
			commands[i].args, commands[i].help);
	fprintf(out, "\nSizes take K, M, G, T suffixes (powers of 1024). "
		     "`udax COMMAND --help` shows one command.\n");
}

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	char **args = argv + 1; /* positional arguments, compacted in place */
	int nargs = 0;
	bool help = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			cli.json = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			help = true;
		else if (!c && argv[i][0] != '-') {
			c = find_command(argv[i]);
			if (!c)
				die("unknown command '%s' (see udax --help)",
				    argv[i]);
			cli.cmd = c->name;
		} else
			args[nargs++] = argv[i];
	}
	if (!c) {
		usage(help ? stdout : stderr);
		return help ? 0 : 1;
	}
	if (help) {
		printf("usage: udax %s %s\n  %s\n", c->name, c->args, c->help);
		return 0;
	}
	if (c->nargs >= 0 && nargs != c->nargs)
		die("expected %d argument%s: %s (see udax %s --help)", c->nargs,
		    c->nargs == 1 ? "" : "s", c->args, c->name);
	for (int i = 0; c->nargs >= 0 && i < nargs; i++)
		if (args[i][0] == '-' && args[i][1])
			die("unknown option '%s'", args[i]);
	return c->fn(nargs, args);
}
