/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.c - error reporting, size parsing and the progress bar of the
 * udax tool (its output buffer, JSON writer and name escaping are in
 * output.c).
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
	case EROFS:
		return "the pool file is on a read-only file system";
	case EACCES:
		return "no permission to write the pool file";
	case EPERM:
		return "the pool file may not be written (immutable?)";
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

void pool_stats(struct udax_pool *pool, struct udax_stats *st)
{
	int err = udax_pool_stats(pool, st, sizeof(*st));

	if (err)
		die_err(err, "reading the pool's counters");
}
