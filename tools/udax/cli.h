/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.h - shared pieces of the udax command-line tool: option state,
 * error reporting (one clear line on stderr, exit status 1), size
 * parsing, a progress bar for long work on a terminal, and minimal JSON
 * output.
 */
#ifndef UDAX_TOOL_CLI_H
#define UDAX_TOOL_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <udax/udax.h>

struct cli {
	bool json;
	const char *cmd; /* subcommand being run, for messages */
};

extern struct cli cli;

/* Print "udax CMD: message" to stderr and exit 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* die() with the text of -errno @err appended. */
void die_err(int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

int parse_size(const char *s, uint64_t *out);
const char *human_size(uint64_t bytes, char *buf, size_t len);
const char *pool_error(int err);

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

/* JSON helpers: a flat object printed field by field. */
void json_begin(void);
void json_str(const char *key, const char *val);
void json_u64(const char *key, uint64_t val);
void json_f64(const char *key, double val);
void json_end(void);

void print_stats(const struct udax_stats *st, double seconds);

int cmd_demo(int argc, char **argv);

#endif /* UDAX_TOOL_CLI_H */
