/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.c - error reporting, size parsing, progress bar and JSON output
 * for the udax tool.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct cli cli;

/* Messages are short; a name in them is shown() and at most ~1 KiB. */
#define MSG_MAX 4096

static void json_error(const char *msg);

static void __attribute__((noreturn)) vreport(int err, const char *fmt,
						va_list ap)
{
	char msg[MSG_MAX];
	size_t n;
	void (*cleanup)(void *) = cli.cleanup;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (err)
		snprintf(msg + n, sizeof(msg) - n, ": %s",
			 strerror(err < 0 ? -err : err));
	fprintf(stderr, "udax%s%s: %s\n", cli.cmd ? " " : "",
		cli.cmd ? cli.cmd : "", msg);
	/* Once: a cleanup that fails itself dies without looping. */
	cli.cleanup = NULL;
	if (cleanup)
		cleanup(cli.cleanup_ctx);
	if (cli.json)
		json_error(msg);
	exit(1);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(0, fmt, ap);
	va_end(ap);
}

void die_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(err ? err : -EIO, fmt, ap);
	va_end(ap);
}

void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "udax%s%s: note: ", cli.cmd ? " " : "",
		cli.cmd ? cli.cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *out_buf;
static size_t out_len;

void output_begin(void)
{
	cli.out = stdout;
	if (!cli.json)
		return;
	cli.out = open_memstream(&out_buf, &out_len);
	if (!cli.out) {
		cli.out = stdout;
		die_err(-errno, "cannot buffer the JSON output");
	}
}

void output_end(void)
{
	if (cli.json && cli.out != stdout) {
		if (fclose(cli.out))
			die_err(-errno, "cannot buffer the JSON output");
		cli.out = stdout;
		fwrite(out_buf, 1, out_len, stdout);
		free(out_buf);
		out_buf = NULL;
	}
	if (fflush(stdout) || ferror(stdout)) {
		/* stdout is what failed: a message on stderr only. */
		cli.json = false;
		die_err(-errno, "writing the output");
	}
}

/* Drop what the command printed; print {"command","error"} alone. */
static void json_error(const char *msg)
{
	if (cli.out && cli.out != stdout) {
		fclose(cli.out);
		free(out_buf);
		out_buf = NULL;
	}
	cli.out = stdout;
	json_begin();
	if (cli.cmd)
		json_str("command", cli.cmd);
	json_str("error", msg);
	json_end();
	fflush(stdout);
}

/* What an error from opening a pool means, in words a user can act on. */
const char *pool_error(int err)
{
	switch (-err) {
	case EINVAL:
		return "not a udax pool (or an unsupported version)";
	case EUCLEAN:
		return "the pool is corrupt; `udax fsck` lists the damage, "
		       "`udax fsck --repair` repairs it (ls, stat, get and cat "
		       "read it as it is)";
	case EBUSY:
		return "the pool is in use by another process";
	case ENOENT:
		return "no such file";
	default:
		return strerror(-err);
	}
}

const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/*
 * Length of the UTF-8 sequence at @s (1 to 4), or 0 if it is not one:
 * overlong forms, UTF-16 surrogates and code points past U+10FFFF are
 * refused, as RFC 3629 says.
 */
static int utf8_len(const unsigned char *s, uint32_t *cp)
{
	uint32_t c;
	int n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

#define SHOWN_MAX 4096
#define SHOWN_BUFS 4

const char *shown(const char *s)
{
	static char bufs[SHOWN_BUFS][SHOWN_MAX * 4 + 8];
	static unsigned int next;
	char *buf = bufs[next++ % SHOWN_BUFS], *o = buf;
	const unsigned char *c = (const unsigned char *)s;
	size_t in = 0;

	while (*c && in < SHOWN_MAX) {
		uint32_t cp;
		int n = utf8_len(c, &cp);

		if (n == 1 && cp >= 0x20 && cp < 0x7f && cp != '\\') {
			*o++ = (char)cp;
		} else if (n > 1 && cp >= 0xa0) {
			memcpy(o, c, (size_t)n);
			o += n;
		} else if (n == 1 && (cp == '\\' || cp == '\n' || cp == '\t' ||
				      cp == '\r')) {
			*o++ = '\\';
			*o++ = cp == '\\' ? '\\' : cp == '\n' ? 'n' :
			       cp == '\t' ? 't' : 'r';
		} else {
			/* A control (C0, DEL, C1) or a byte that is not UTF-8. */
			if (!n)
				n = 1;
			for (int i = 0; i < n; i++)
				o += sprintf(o, "\\%03o", c[i]);
		}
		c += n;
		in += (size_t)n;
	}
	if (*c)
		o += sprintf(o, "...");
	*o = '\0';
	return buf;
}

/*
 * parse_size() - "4096", "64K", "16M", "1G", "2T" (powers of 1024; an
 * optional trailing "iB" or "B" is accepted). Return: 0 or -EINVAL.
 */
int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mul = 1ULL << 10;
		end++;
		break;
	case 'M':
		mul = 1ULL << 20;
		end++;
		break;
	case 'G':
		mul = 1ULL << 30;
		end++;
		break;
	case 'T':
		mul = 1ULL << 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (mul > 1 && (!strcasecmp(end, "iB") || !strcasecmp(end, "B")))
		end += strlen(end);
	if (*end || (v && mul > UINT64_MAX / v))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

const char *human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_start(struct progress *p, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->start = p->last = now_sec();
}

static void progress_draw(struct progress *p)
{
	const int width = 30;
	double frac = p->total ? (double)p->done / (double)p->total : 0;
	int fill = (int)(frac * width);

	if (frac > 1)
		frac = 1;
	fprintf(stderr, "\r%-8s [", p->what);
	for (int i = 0; i < width; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %3d%%", (int)(frac * 100));
	fflush(stderr);
	p->shown = true;
}

/* Redraw at most 10 times a second, and only after the first second. */
void progress_update(struct progress *p, uint64_t done)
{
	double t;

	p->done = done;
	if (!isatty(2))
		return;
	t = now_sec();
	if (t - p->start < 1.0 || t - p->last < 0.1)
		return;
	p->last = t;
	progress_draw(p);
}

void progress_end(struct progress *p)
{
	if (!p->shown)
		return;
	p->done = p->total;
	progress_draw(p);
	fputc('\n', stderr);
}

/* ---- JSON ---- */

#define JSON_DEPTH 8

static bool json_first[JSON_DEPTH];
static int json_depth;

/* The comma and the key before a value (@key NULL: none). */
static void json_sep(const char *key)
{
	if (json_depth > 0 && !json_first[json_depth - 1])
		fputc(',', cli.out);
	if (json_depth > 0)
		json_first[json_depth - 1] = false;
	if (key)
		fprintf(cli.out, "\"%s\":", key);
}

static void json_open(const char *key, char c)
{
	json_sep(key);
	fputc(c, cli.out);
	if (json_depth < JSON_DEPTH)
		json_first[json_depth] = true;
	json_depth++;
}

static void json_close(char c)
{
	fputc(c, cli.out);
	json_depth--;
}

void json_begin(void)
{
	json_depth = 0;
	json_open(NULL, '{');
}

void json_end(void)
{
	json_close('}');
	fputc('\n', cli.out);
}

void json_obj(const char *key)
{
	json_open(key, '{');
}

void json_obj_end(void)
{
	json_close('}');
}

void json_arr(const char *key)
{
	json_open(key, '[');
}

void json_arr_end(void)
{
	json_close(']');
}

/*
 * The JSON string of @val. Bytes that are not UTF-8 are written as
 * U+FFFD (@hex_bad) or as the text \xHH; returns whether there was one.
 */
static bool json_string(const char *val, bool hex_bad)
{
	const unsigned char *c = (const unsigned char *)val;
	bool bad = false;

	fputc('"', cli.out);
	while (*c) {
		uint32_t cp;
		int n = utf8_len(c, &cp);

		if (!n) {
			bad = true;
			if (hex_bad)
				fputs("\\ufffd", cli.out);
			else
				fprintf(cli.out, "\\\\x%02x", *c);
			c++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(cli.out, "\\%c", (int)cp);
		else if (cp == '\n')
			fputs("\\n", cli.out);
		else if (cp == '\t')
			fputs("\\t", cli.out);
		else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			fprintf(cli.out, "\\u%04x", (unsigned int)cp);
		else
			fwrite(c, 1, (size_t)n, cli.out);
		c += n;
	}
	fputc('"', cli.out);
	return bad;
}

void json_str(const char *key, const char *val)
{
	json_sep(key);
	json_string(val, false);
}

void json_name(const char *key, const char *name)
{
	json_sep(key);
	if (!json_string(name, true) || !key)
		return;
	fprintf(cli.out, ",\"%s_hex\":\"", key);
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		fprintf(cli.out, "%02x", *c);
	fputc('"', cli.out);
}

void json_u64(const char *key, uint64_t val)
{
	json_sep(key);
	fprintf(cli.out, "%llu", (unsigned long long)val);
}

void json_f64(const char *key, double val)
{
	json_sep(key);
	fprintf(cli.out, "%.6g", val);
}

void json_bool(const char *key, bool val)
{
	json_sep(key);
	fputs(val ? "true" : "false", cli.out);
}

void pool_stats(struct udax_pool *pool, struct udax_stats *st)
{
	int err = udax_pool_stats(pool, st, sizeof(*st));

	if (err)
		die_err(err, "reading the pool's counters");
}
