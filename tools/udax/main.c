/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udax - command-line tool for udax pools.
 *
 * Each subcommand is a function taking its own arguments (after options
 * are removed). Output is for people by default, JSON with --json. Exit
 * status 0 on success, 1 with one line on stderr on any error.
 *
 * What the tool must never do is destroy data it was not asked to: get
 * writes a temporary file beside the destination and renames it into
 * place only once it is complete and fsynced; put writes a new pool file
 * and, when complete and fsynced, renames it over the old one
 * (udax_rename), so a full pool keeps the old copy. Every result is
 * checked; a failure undoes what the command had begun (cli.cleanup).
 * put, get and cat are in transfer.c, demo in demo.c, the output and
 * error helpers in util.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Options a command accepts (struct command.opts). */
#define OPT_READ_ONLY 0x1 /* -r, --read-only */
#define OPT_REPAIR 0x2	  /* --repair */
#define OPT_FORCE 0x4	  /* -f, --force */

struct command {
	const char *name;
	const char *args;
	const char *help;
	int min_args, max_args; /* positional arguments */
	unsigned int opts;	/* OPT_* it accepts */
	int (*fn)(int argc, char **argv);
};

static unsigned int opts; /* OPT_* given */

/* ---- helpers ---- */

static void first_problem(void *ctx, const char *problem)
{
	char *why = ctx;

	if (!*why)
		snprintf(why, 256, "%s", problem);
}

/* Did a read-write open fail because the pool file cannot be written? */
static bool cannot_write(int err)
{
	return err == -EROFS || err == -EACCES || err == -EPERM;
}

/*
 * Why @path did not open as a pool (-EINVAL from the library means
 * "not a pool" for anything from an empty file to a foreign one): look at
 * the file's size, then let fsck name the first problem.
 */
static void __attribute__((noreturn)) die_pool(const char *path, int err)
{
	unsigned long long want, have;
	char why[256] = "";
	struct stat st;

	if (err == -EINVAL && !stat(path, &st) && S_ISREG(st.st_mode) &&
	    st.st_size < 4096)
		die("cannot open pool '%s': the file is %lld byte%s long, too "
		    "short to be a udax pool (truncated?)",
		    shown(path), (long long)st.st_size,
		    plural((uint64_t)st.st_size));
	if (err == -EINVAL)
		udax_pool_fsck(path, first_problem, why);
	/*
	 * The library says "-EINVAL" for a truncated pool as for a foreign
	 * file; only fsck's words tell them apart.
	 */
	if (strstr(why, "truncated")) {
		const char *h = strstr(why, "has "), *o = strstr(why, "only ");

		if (h && o && sscanf(h, "has %llu", &want) == 1 &&
		    sscanf(o, "only %llu", &have) == 1)
			die("cannot open pool '%s': the pool file is truncated: "
			    "its filesystem has %llu blocks of 4 KiB, the file "
			    "only %llu",
			    shown(path), want, have);
		die("cannot open pool '%s': the pool file is truncated (%s)",
		    shown(path), shown(why));
	}
	if (*why)
		die("cannot open pool '%s': not a udax pool (%s)", shown(path),
		    shown(why));
	if (cannot_write(err))
		die("cannot open pool '%s' to write it: %s (ls, stat, get, cat "
		    "and stats read it with -r)",
		    shown(path), pool_error(err));
	die("cannot open pool '%s': %s", shown(path), pool_error(err));
}

struct udax_pool *open_pool(const char *path)
{
	struct udax_pool *pool;
	int err = udax_pool_open(path, 0, &pool);

	if (err)
		die_pool(path, err);
	return pool;
}

static bool pool_rdonly; /* the pool was opened with UDAX_POOL_RDONLY */

/*
 * For the commands that only read (ls, stat, get, cat, stats): read-only
 * with -r, and read-only anyway when the pool turns out corrupt, so that
 * the intact files can be copied out before a repair, or when the pool
 * file cannot be written (a read-only mount, its mode, an immutable
 * file).
 */
struct udax_pool *open_pool_read(const char *path)
{
	struct udax_pool *pool;
	int err = udax_pool_open(path, cli.read_only ? UDAX_POOL_RDONLY : 0,
				 &pool);

	pool_rdonly = cli.read_only;
	if (err == -EUCLEAN && !cli.read_only) {
		err = udax_pool_open(path, UDAX_POOL_RDONLY, &pool);
		pool_rdonly = true;
		if (!err)
			note("the pool is corrupt: opened read-only (intact "
			     "files read normally; udax fsck --repair "
			     "repairs it)");
	} else if (cannot_write(err) && !cli.read_only) {
		int why = err;

		err = udax_pool_open(path, UDAX_POOL_RDONLY, &pool);
		pool_rdonly = true;
		if (!err)
			note("%s: opened read-only", pool_error(why));
	}
	if (err)
		die_pool(path, err);
	return pool;
}

void close_pool(struct udax_pool *pool)
{
	int err = udax_pool_close(pool);

	if (err)
		die_err(err, "closing the pool");
}

/* A pool file name given by the user: say what is wrong with it. */
void check_name(const char *name)
{
	if (!*name)
		die("pool file names cannot be empty");
	if (strchr(name, '/'))
		die("pool file names cannot contain '/': '%s'", shown(name));
	if (strlen(name) > 255)
		die("name too long (the limit is 255 bytes): '%.40s...'",
		    shown(name));
}

static struct udax_file *open_file_mode(struct udax_pool *pool,
					const char *name, int flags, mode_t mode)
{
	struct udax_file *f;
	int err;

	check_name(name);
	err = udax_open(pool, name, flags, mode, &f);
	if (err == -ENOENT)
		die("no file '%s' in the pool", shown(name));
	if (err == -EUCLEAN)
		die("the file '%s' is damaged: its metadata failed a check "
		    "(udax fsck --repair removes it)",
		    shown(name));
	if (err == -EROFS)
		die("the pool is open read-only");
	if (err == -ENOSPC)
		die("no space left in the pool for a new file (no free inode)");
	if (err)
		die_err(err, "cannot open '%s'", shown(name));
	return f;
}

struct udax_file *open_file(struct udax_pool *pool, const char *name,
				   int flags)
{
	return open_file_mode(pool, name, flags, 0644);
}

void close_file(struct udax_file *f, const char *name)
{
	int err = udax_close(f);

	if (err)
		die_err(err, "closing '%s'", shown(name));
}

void file_stat(struct udax_file *f, const char *name, struct stat *st)
{
	int err = udax_fstat(f, st);

	if (err)
		die_err(err, "stat '%s'", shown(name));
}

static uint64_t size_arg(const char *s, const char *what)
{
	uint64_t v;

	if (parse_size(s, &v))
		die("invalid %s '%s' (use a number with an optional K, M, G "
		    "or T suffix)",
		    what, shown(s));
	return v;
}

/* Is @st the file (or device) that holds the pool at @pool_path? */
bool is_pool(const char *pool_path, const struct stat *st)
{
	struct stat ps;

	return !stat(pool_path, &ps) && ps.st_dev == st->st_dev &&
	       ps.st_ino == st->st_ino;
}

/* ---- subcommands ---- */

#define POOL_MIN (4ULL << 20)

/* udax_pool_format() on an existing @path: why it refused, in words. */
static void __attribute__((noreturn)) die_format(const char *path, int err)
{
	const char *p = shown(path);

	switch (-err) {
	case EEXIST:
		die("'%s' already exists and holds a udax pool or other data: "
		    "use --force to format it (its contents are lost)", p);
	case EBUSY:
		die("'%s' is in use (a pool open on it, here or in another "
		    "process, or a mounted device)", p);
	case EINVAL:
		die("'%s' is too small for a pool (the minimum is 4M)", p);
	case ENODEV:
		die("'%s' is neither a regular file nor a device-DAX device", p);
	case EISDIR:
		die("'%s' is a directory", p);
	case EROFS:
	case EACCES:
	case EPERM:
		die("cannot format '%s': %s", p, pool_error(err));
	default:
		die_err(err, "cannot format '%s'", p);
	}
}

static int cmd_mkfs(int argc, char **argv)
{
	const char *path = argv[0];
	uint64_t size = 0;
	struct udax_pool *pool;
	struct udax_stats st;
	struct stat hs;
	bool exists;
	char buf[32];
	int err;

	if (!*path)
		die("the pool path is empty");
	exists = !stat(path, &hs);
	if (argc > 1) {
		size = size_arg(argv[1], "size");
		if (size < POOL_MIN)
			die("size %s is too small (the minimum is 4M)",
			    shown(argv[1]));
	} else if (!exists) {
		die("expected POOL SIZE: '%s' does not exist, so SIZE is "
		    "needed (see udax mkfs --help)",
		    shown(path));
	}
	if (!exists) {
		err = udax_pool_create(path, size, &pool);
		if (err == -EEXIST)
			die("'%s' already exists", shown(path));
		if (err)
			die_err(err, "cannot create pool '%s'", shown(path));
	} else {
		/*
		 * An existing file or device: the library refuses one that
		 * holds a pool or data unless forced, and one in use always.
		 */
		err = udax_pool_format(path, size,
				       cli.force ? UDAX_FORMAT_FORCE : 0, &pool);
		if (err)
			die_format(path, err);
	}
	pool_stats(pool, &st);
	close_pool(pool);
	if (!size && S_ISREG(hs.st_mode))
		size = (uint64_t)hs.st_size;
	if (cli.json) {
		json_begin();
		json_name("pool", path);
		json_bool("formatted", exists);
		if (size)
			json_u64("size", size);
		json_u64("data_bytes", st.pool_blocks * 4096);
		json_end();
	} else if (size) {
		fprintf(cli.out, "%s pool %s (%s)\n",
			exists ? "formatted" : "created", shown(path),
			human_size(size, buf, sizeof(buf)));
	} else {
		fprintf(cli.out, "formatted pool %s (%s of data space)\n",
			shown(path),
			human_size(st.pool_blocks * 4096, buf, sizeof(buf)));
	}
	return 0;
}

struct ls_entry {
	char *name;
	uint64_t size;
};

struct ls_ctx {
	struct ls_entry *e;
	size_t n, cap;
};

/* Collected first: files are opened (to tell damaged ones) after the walk. */
static int ls_one(void *arg, const char *name, uint64_t size)
{
	struct ls_ctx *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct ls_entry *e = realloc(c->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		c->e = e;
		c->cap = cap;
	}
	c->e[c->n].name = strdup(name);
	if (!c->e[c->n].name)
		return -ENOMEM;
	c->e[c->n++].size = size;
	return 0;
}

/* On a pool opened read-only: does @name fail to open (damaged)? */
static bool damaged(struct udax_pool *pool, const char *name)
{
	struct udax_file *f;
	int err = udax_open(pool, name, O_RDONLY, 0, &f);

	if (err)
		return err == -EUCLEAN;
	close_file(f, name);
	return false;
}

static int cmd_ls(int argc, char **argv)
{
	struct udax_pool *pool = open_pool_read(argv[0]);
	struct ls_ctx c = { 0 };
	int err;

	(void)argc;
	err = udax_list(pool, ls_one, &c);
	if (err)
		die_err(err, "listing");
	if (cli.json)
		json_arr(NULL);
	for (size_t i = 0; i < c.n; i++) {
		bool bad = pool_rdonly && damaged(pool, c.e[i].name);

		if (cli.json) {
			json_obj(NULL);
			json_name("name", c.e[i].name);
			json_u64("size", c.e[i].size);
			if (bad)
				json_bool("damaged", true);
			json_obj_end();
		} else if (bad) {
			fprintf(cli.out, "     damaged  %s\n", shown(c.e[i].name));
		} else {
			fprintf(cli.out, "%12llu  %s\n",
				(unsigned long long)c.e[i].size,
				shown(c.e[i].name));
		}
		free(c.e[i].name);
	}
	free(c.e);
	if (cli.json) {
		json_arr_end();
		fputc('\n', cli.out);
	}
	close_pool(pool);
	return 0;
}

static int cmd_stat(int argc, char **argv)
{
	struct udax_pool *pool = open_pool_read(argv[0]);
	struct udax_file *f = open_file(pool, argv[1], O_RDONLY);
	struct stat st;
	char buf[32];

	(void)argc;
	file_stat(f, argv[1], &st);
	close_file(f, argv[1]);
	close_pool(pool);
	if (cli.json) {
		json_begin();
		json_name("name", argv[1]);
		json_u64("size", (uint64_t)st.st_size);
		json_u64("allocated", (uint64_t)st.st_blocks * 512);
		json_u64("mode", st.st_mode & 07777);
		json_end();
	} else {
		fprintf(cli.out, "name:      %s\n", shown(argv[1]));
		fprintf(cli.out, "size:      %llu (%s)\n",
			(unsigned long long)st.st_size,
			human_size((uint64_t)st.st_size, buf, sizeof(buf)));
		fprintf(cli.out, "allocated: %s\n",
			human_size((uint64_t)st.st_blocks * 512, buf,
				   sizeof(buf)));
		fprintf(cli.out, "mode:      %04o\n", st.st_mode & 07777);
	}
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	struct udax_pool *pool = open_pool(argv[0]);
	struct udax_stats before, after;
	int err;

	(void)argc;
	check_name(argv[1]);
	pool_stats(pool, &before);
	err = udax_unlink(pool, argv[1]);
	if (err == -ENOENT)
		die("no file '%s' in the pool", shown(argv[1]));
	if (err)
		die_err(err, "cannot remove '%s'", shown(argv[1]));
	pool_stats(pool, &after);
	close_pool(pool);
	if (cli.json) {
		json_begin();
		json_name("name", argv[1]);
		json_bool("removed", true);
		json_u64("freed", after.pool_free_blocks > before.pool_free_blocks
					  ? (after.pool_free_blocks -
					     before.pool_free_blocks) * 4096
					  : 0);
		json_end();
	}
	return 0;
}

/* truncate and punch: one result object, the file's size and space after. */
static void print_file_result(struct udax_file *f, const char *name)
{
	struct stat st;

	file_stat(f, name, &st);
	if (!cli.json)
		return;
	json_name("name", name);
	json_u64("size", (uint64_t)st.st_size);
	json_u64("allocated", (uint64_t)st.st_blocks * 512);
}

static int cmd_truncate(int argc, char **argv)
{
	uint64_t size = size_arg(argv[2], "size");
	struct udax_pool *pool = open_pool(argv[0]);
	struct udax_file *f = open_file(pool, argv[1], O_RDWR);
	int err = udax_ftruncate(f, size);

	(void)argc;
	if (err == -ENOSPC)
		die("no space left in the pool to grow '%s'", shown(argv[1]));
	if (err)
		die_err(err, "cannot truncate '%s'", shown(argv[1]));
	if (cli.json)
		json_begin();
	print_file_result(f, argv[1]);
	if (cli.json)
		json_end();
	close_file(f, argv[1]);
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
		die_err(err, "cannot punch '%s'", shown(argv[1]));
	if (cli.json) {
		json_begin();
		json_u64("offset", off);
		json_u64("length", len);
	}
	print_file_result(f, argv[1]);
	if (cli.json)
		json_end();
	close_file(f, argv[1]);
	close_pool(pool);
	return 0;
}

/* Lines kept for JSON (a pool may have thousands: the first 1000). */
#define FSCK_KEEP 1000

struct lines {
	uint64_t n;
	const char *prefix; /* for people: "problem", "repaired" */
	char *v[FSCK_KEEP];
};

static void add_line(void *arg, const char *line)
{
	struct lines *l = arg;

	if (!cli.json)
		fprintf(cli.out, "%s: %s\n", l->prefix, shown(line));
	/* The first one also names why a foreign image is refused. */
	if ((cli.json || !l->n) && l->n < FSCK_KEEP &&
	    !(l->v[l->n] = strdup(line)))
		die("out of memory");
	l->n++;
}

static void json_lines(const char *key, const struct lines *l)
{
	json_arr(key);
	for (uint64_t i = 0; i < l->n && i < FSCK_KEEP; i++)
		json_str(NULL, l->v[i]);
	json_arr_end();
}

static void repair(const char *path, struct lines *actions)
{
	int err = udax_pool_repair(path, add_line, actions);
	const char *first = actions->n && actions->v[0] ? actions->v[0] : "";

	switch (-err) {
	case 0:
		return;
	case EINVAL:
		die("cannot repair '%s': not a udax pool%s%s%s", shown(path),
		    *first ? " (" : "", shown(first), *first ? ")" : "");
	case EUCLEAN:
		die("cannot repair '%s': the damage is beyond repair%s%s%s "
		    "(udax ls -r and get -r may still copy files out)",
		    shown(path), *first ? " (" : "", shown(first),
		    *first ? ")" : "");
	default:
		die("cannot repair '%s': %s", shown(path), pool_error(err));
	}
}

static int cmd_fsck(int argc, char **argv)
{
	static struct lines c = { .prefix = "problem" };
	static struct lines actions = { .prefix = "repaired" };
	struct progress pr;
	int err;

	(void)argc;
	if (cli.repair)
		repair(argv[0], &actions);
	progress_start(&pr, "fsck", 1);
	err = udax_pool_fsck(argv[0], add_line, &c);
	progress_end(&pr);
	if (err && err != -EUCLEAN) {
		if (err == -EINVAL && c.n)
			die("cannot check '%s': not a udax pool (%s)",
			    shown(argv[0]), shown(c.v[0] ? c.v[0] : ""));
		die("cannot check '%s': %s", shown(argv[0]), pool_error(err));
	}
	if (cli.json) {
		json_begin();
		json_name("pool", argv[0]);
		if (cli.repair)
			json_lines("repaired", &actions);
		json_str("result", err ? "corrupt" : "clean");
		json_u64("problem_count", c.n);
		json_lines("problems", &c);
		json_bool("truncated_list", c.n > FSCK_KEEP || actions.n > FSCK_KEEP);
		json_end();
	} else {
		fprintf(cli.out, "%s: %s (%llu problem%s)", shown(argv[0]),
			err ? "CORRUPT" : "clean", (unsigned long long)c.n,
			plural(c.n));
		if (cli.repair)
			fprintf(cli.out, " after %llu repair%s",
				(unsigned long long)actions.n,
				plural(actions.n));
		fputc('\n', cli.out);
	}
	if (err) {
		/* The verdict is the output: exit 1 without an error line. */
		output_end();
		exit(1);
	}
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct udax_pool *pool = open_pool_read(argv[0]);
	struct udax_stats st;
	char a[32], b[32], c[32];
	struct stat hs;
	bool host;

	(void)argc;
	pool_stats(pool, &st);
	close_pool(pool);
	/* What a regular pool file takes on the host (freed blocks are not). */
	host = !stat(argv[0], &hs) && S_ISREG(hs.st_mode);
	/*
	 * The fault and lock counters are those of files open in this
	 * process: none here, always 0. Only the pool's own figures mean
	 * something to this command.
	 */
	if (cli.json) {
		json_begin();
		json_name("pool", argv[0]);
		json_u64("files", st.pool_files);
		json_u64("inodes", st.pool_inodes);
		json_u64("free_inodes", st.pool_free_inodes);
		json_u64("block_size", 4096);
		json_u64("data_blocks", st.pool_blocks);
		json_u64("free_blocks", st.pool_free_blocks);
		json_u64("data_bytes", st.pool_blocks * 4096);
		json_u64("free_bytes", st.pool_free_blocks * 4096);
		if (host)
			json_u64("host_allocated_bytes",
				 (uint64_t)hs.st_blocks * 512);
		json_end();
		return 0;
	}
	fprintf(cli.out, "pool %s: %llu file%s, %s free of %s",
		shown(argv[0]), (unsigned long long)st.pool_files,
		plural(st.pool_files),
		human_size(st.pool_free_blocks * 4096, a, sizeof(a)),
		human_size(st.pool_blocks * 4096, b, sizeof(b)));
	if (host)
		fprintf(cli.out, "; the pool file takes %s on the host",
			human_size((uint64_t)hs.st_blocks * 512, c, sizeof(c)));
	fputc('\n', cli.out);
	return 0;
}

static const struct command commands[] = {
	{ "mkfs", "[--force] POOL [SIZE]",
	  "create a pool file of SIZE bytes (e.g. 1G), or format an existing "
	  "file or /dev/daxX.Y",
	  1, 2, OPT_FORCE, cmd_mkfs },
	{ "ls", "[-r] POOL", "list the files in POOL", 1, 1, OPT_READ_ONLY,
	  cmd_ls },
	{ "stat", "[-r] POOL NAME", "show size and allocation of a file", 2, 2,
	  OPT_READ_ONLY, cmd_stat },
	{ "put", "POOL HOSTFILE NAME",
	  "copy a host file (- for stdin) into the pool", 3, 3, 0, cmd_put },
	{ "get", "[-r] POOL NAME HOSTFILE",
	  "copy a file out of the pool (- for stdout)", 3, 3, OPT_READ_ONLY,
	  cmd_get },
	{ "cat", "[-r] POOL NAME", "write a file's contents to stdout", 2, 2,
	  OPT_READ_ONLY, cmd_cat },
	{ "rm", "POOL NAME", "remove a file", 2, 2, 0, cmd_rm },
	{ "truncate", "POOL NAME SIZE", "set a file's size", 3, 3, 0,
	  cmd_truncate },
	{ "punch", "POOL NAME OFFSET LENGTH",
	  "deallocate a byte range (reads as zeros)", 4, 4, 0, cmd_punch },
	{ "fsck", "[--repair] POOL",
	  "check a pool (exit 1 if corrupt); --repair repairs it", 1, 1,
	  OPT_REPAIR, cmd_fsck },
	{ "stats", "[-r] POOL", "show space and file count", 1, 1,
	  OPT_READ_ONLY, cmd_stats },
	{ "demo", "[POOL]",
	  "show udax at work on a sparse file (default pool: ./udax-demo.pool)",
	  0, 1, 0, cmd_demo },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

#define USAGE "udax [--json] COMMAND [OPTIONS] [--] ARGS..."

/* --help with --json: the usage and the commands as one JSON object. */
static void usage_json(const struct command *c)
{
	size_t n = sizeof(commands) / sizeof(commands[0]);

	json_begin();
	if (c) {
		json_str("command", c->name);
		json_str("args", c->args);
		json_str("help", c->help);
	} else {
		json_str("usage", USAGE);
		json_arr("commands");
		for (size_t i = 0; i < n; i++) {
			json_obj(NULL);
			json_str("command", commands[i].name);
			json_str("args", commands[i].args);
			json_str("help", commands[i].help);
			json_obj_end();
		}
		json_arr_end();
	}
	json_end();
}

static void usage(FILE *out)
{
	fprintf(out, "usage: " USAGE "\n\n"
		     "Linux DAX in user space: manage udax pools.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %-24s %s\n", commands[i].name,
			commands[i].args, commands[i].help);
	fprintf(out,
		"\nSizes take K, M, G, T suffixes (powers of 1024). "
		"`udax COMMAND --help` shows one command;\n"
		"`--` ends the options (for names beginning with '-'). "
		"udax --version shows the version.\n");
}

static void version(void)
{
	int v = udax_version();

	if (cli.json) {
		char lib[32], tool[32];

		snprintf(tool, sizeof(tool), "%d.%d.%d", UDAX_VERSION_MAJOR,
			 UDAX_VERSION_MINOR, UDAX_VERSION_PATCH);
		snprintf(lib, sizeof(lib), "%d.%d.%d", v / 10000,
			 v / 100 % 100, v % 100);
		json_begin();
		json_str("version", tool);
		json_str("library", lib);
		json_end();
	} else {
		fprintf(cli.out, "udax %d.%d.%d (library %d.%d.%d)\n",
			UDAX_VERSION_MAJOR, UDAX_VERSION_MINOR,
			UDAX_VERSION_PATCH, v / 10000, v / 100 % 100, v % 100);
	}
}

static const struct {
	const char *s, *l;
	unsigned int opt;
} options[] = {
	{ "-r", "--read-only", OPT_READ_ONLY },
	{ NULL, "--repair", OPT_REPAIR },
	{ "-f", "--force", OPT_FORCE },
};

/* An option of a command; 0 if unknown. */
static unsigned int find_option(const char *arg)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if ((options[i].s && !strcmp(arg, options[i].s)) ||
		    !strcmp(arg, options[i].l))
			return options[i].opt;
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	char **args = argv + 1; /* positional arguments, compacted in place */
	const char *bad = NULL, *misplaced = NULL;
	bool help = false, ver = false, dashdash = false;
	int nargs = 0;

	cli.out = stdout;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		unsigned int o;

		if (!dashdash && !strcmp(a, "--")) {
			dashdash = true;
		} else if (!dashdash && a[0] == '-' && a[1]) {
			if (!strcmp(a, "--json"))
				cli.json = true;
			else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
				help = true;
			else if (!strcmp(a, "--version") || !strcmp(a, "-V"))
				ver = true;
			else if ((o = find_option(a)))
				opts |= o, misplaced = misplaced ? misplaced : a;
			else if (!bad)
				bad = a;
		} else if (!c) {
			c = find_command(a);
			if (!c)
				die("unknown command '%s' (see udax --help)",
				    shown(a));
			cli.cmd = c->name;
		} else {
			args[nargs++] = argv[i];
		}
	}
	output_begin();
	if (ver) {
		version();
		output_end();
		return 0;
	}
	if (help && cli.json) {
		usage_json(c);
		output_end();
		return 0;
	}
	if (!c && cli.json)
		die("no command given (see udax --help)");
	if (!c) {
		usage(help ? stdout : stderr);
		return help ? 0 : 1;
	}
	if (help) {
		printf("usage: udax %s %s\n  %s\n", c->name, c->args, c->help);
		return 0;
	}
	if (bad)
		die("unknown option '%s' (a name beginning with '-' goes after "
		    "--)",
		    shown(bad));
	if (opts & ~c->opts) {
		for (size_t i = 0; i < sizeof(options) / sizeof(options[0]);
		     i++)
			if (opts & ~c->opts & options[i].opt)
				misplaced = options[i].l;
		die("option %s does not apply to %s", misplaced, c->name);
	}
	if (nargs < c->min_args || nargs > c->max_args) {
		if (c->min_args == c->max_args)
			die("expected %d argument%s: %s (see udax %s --help)",
			    c->min_args, plural((uint64_t)c->min_args),
			    c->args, c->name);
		die("expected %d to %d arguments: %s (see udax %s --help)",
		    c->min_args, c->max_args, c->args, c->name);
	}
	cli.read_only = opts & OPT_READ_ONLY;
	cli.repair = opts & OPT_REPAIR;
	cli.force = opts & OPT_FORCE;
	c->fn(nargs, args);
	output_end();
	return 0;
}
