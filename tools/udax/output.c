/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * output.c - what the udax tool prints: the output buffer (in JSON mode
 * a command's output is held until it succeeds, so stdout gets exactly
 * one JSON value: the result or the error object), names escaped for
 * people (shown), and the JSON writer with its UTF-8 checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
void json_error(const char *msg)
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
