/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.h - shared pieces of the udax command-line tool: option state,
 * error reporting (one clear line on stderr, exit status 1; with --json
 * also one error object on stdout), a cleanup hook run before an error
 * exit, size parsing, a progress bar for long work on a terminal, name
 * escaping for people and a small JSON writer.
 *
 * Output: in JSON mode everything a command prints goes to a memory
 * buffer (cli.out) that main() writes to stdout once the command has
 * succeeded; die() drops it and prints the error object instead, so the
 * output is always exactly one JSON value.
 */
#ifndef UDAX_TOOL_CLI_H
#define UDAX_TOOL_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <udax/udax.h>

struct cli {
	bool json;
	bool read_only, repair, force; /* command options */
	const char *cmd; /* subcommand being run, for messages */
	FILE *out;       /* where results go: stdout, or the JSON buffer */
	/* Run once by die() before it exits: undo a half-done command. */
	void (*cleanup)(void *ctx);
	void *cleanup_ctx;
};

extern struct cli cli;

/* Print "udax CMD: message" to stderr and exit 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* die() with the text of -errno @err appended. */
void die_err(int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
/* A line on stderr that is not an error ("udax CMD: note: ..."). */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set up cli.out; flush it to stdout at the end of a successful run. */
void output_begin(void);
void output_end(void);
/* For die(): drop the buffered output, print {"command","error"} alone. */
void json_error(const char *msg);

int parse_size(const char *s, uint64_t *out);
const char *human_size(uint64_t bytes, char *buf, size_t len);
const char *pool_error(int err);
/* Plural suffix: "" for 1, "s" otherwise. */
const char *plural(uint64_t n);

/*
 * shown() - @s as it may be printed for people (ls -b style): control
 * characters, C1 controls, backslashes and bytes that are not UTF-8 are
 * written as C escapes (\n, \t, \\, \ooo). The result lives in one of a
 * few rotating static buffers: use it in the same statement.
 */
const char *shown(const char *s);

/* Progress on stderr, shown only on a terminal and after one second. */
struct progress {
	const char *what;
	uint64_t total, done;
	double start, last;
	bool shown;
};

void progress_start(struct progress *p, const char *what, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);
double now_sec(void);

/*
 * JSON writer on cli.out. @key is NULL for a top-level value or an array
 * element. json_name() writes a name or path: as a JSON string with each
 * byte that is not UTF-8 replaced by U+FFFD and, only when there was
 * one, a second member "<key>_hex" with every byte of it in hex, so the
 * exact bytes are never lost. json_str() writes other text (messages):
 * bytes that are not UTF-8 become the four characters \xHH.
 */
void json_begin(void);
void json_end(void);
void json_obj(const char *key);
void json_obj_end(void);
void json_arr(const char *key);
void json_arr_end(void);
void json_str(const char *key, const char *val);
void json_name(const char *key, const char *name);
void json_u64(const char *key, uint64_t val);
void json_f64(const char *key, double val);
void json_bool(const char *key, bool val);

/* udax_pool_stats() checked: dies on an error. */
void pool_stats(struct udax_pool *pool, struct udax_stats *st);

/*
 * main.c: pools and files opened for a command, dying with a message
 * that says what is wrong. open_pool_read() is for the commands that only
 * read: read-only with -r, or when the pool turns out corrupt.
 */
struct stat;
struct udax_pool *open_pool(const char *path);
struct udax_pool *open_pool_read(const char *path);
void close_pool(struct udax_pool *pool);
/* A pool file name given by the user: dies saying what is wrong. */
void check_name(const char *name);
struct udax_file *open_file(struct udax_pool *pool, const char *name,
			    int flags);
void close_file(struct udax_file *f, const char *name);
void file_stat(struct udax_file *f, const char *name, struct stat *st);
/* Is @st the file (or device) that holds the pool at @pool_path? */
bool is_pool(const char *pool_path, const struct stat *st);

/* transfer.c */
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_cat(int argc, char **argv);

/* demo.c */
int cmd_demo(int argc, char **argv);

#endif /* UDAX_TOOL_CLI_H */
