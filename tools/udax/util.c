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

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "udax%s%s: ", cli.cmd ? " " : "", cli.cmd ? cli.cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* What an error from opening a pool means, in words a user can act on. */
const char *pool_error(int err)
{
	switch (-err) {
	case EINVAL:
		return "not a udax pool (or an unsupported version)";
	case EUCLEAN:
		return "the pool is corrupt; run `udax fsck` for details";
	case EBUSY:
		return "the pool is in use by another process";
	case ENOENT:
		return "no such file";
	default:
		return strerror(-err);
	}
}

void die_err(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "udax%s%s: ", cli.cmd ? " " : "", cli.cmd ? cli.cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err < 0 ? -err : err));
	exit(1);
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

static bool json_first;

void json_begin(void)
{
	printf("{");
	json_first = true;
}

static void json_key(const char *key)
{
	printf("%s\"%s\":", json_first ? "" : ",", key);
	json_first = false;
}

void json_str(const char *key, const char *val)
{
	json_key(key);
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)val; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

void json_u64(const char *key, uint64_t val)
{
	json_key(key);
	printf("%llu", (unsigned long long)val);
}

void json_f64(const char *key, double val)
{
	json_key(key);
	printf("%.6g", val);
}

void json_end(void)
{
	printf("}\n");
}

/* The table of what happened, or its JSON form. */
void print_stats(const struct udax_stats *st, double seconds)
{
	const struct {
		const char *name;
		uint64_t v;
	} rows[] = {
		{ "faults, 4 KiB (PTE)", st->faults_pte },
		{ "faults, 2 MiB (PMD)", st->faults_pmd },
		{ "  read", st->faults_read },
		{ "  write", st->faults_write },
		{ "  hole (zero page)", st->faults_hole },
		{ "  copy-on-write", st->faults_cow },
		{ "  mkwrite", st->faults_mkwrite },
		{ "  PMD fallback", st->faults_fallback },
		{ "  major (allocated)", st->faults_major },
		{ "hole fills", st->hole_fills },
		{ "SIGBUS", st->sigbus },
		{ "pages written back", st->writeback_pages },
		{ "entry lock waits", st->lock_waits },
		{ "wake-ups", st->lock_wakeups },
		{ "PMD conflicts", st->pmd_conflicts },
		{ "PMD downgrades", st->pmd_downgrades },
		{ "mmap/mprotect calls", st->map_calls },
		{ "journal commits", st->journal_commits },
	};

	if (cli.json) {
		json_begin();
		json_u64("faults_pte", st->faults_pte);
		json_u64("faults_pmd", st->faults_pmd);
		json_u64("faults_read", st->faults_read);
		json_u64("faults_write", st->faults_write);
		json_u64("faults_hole", st->faults_hole);
		json_u64("faults_cow", st->faults_cow);
		json_u64("faults_mkwrite", st->faults_mkwrite);
		json_u64("faults_fallback", st->faults_fallback);
		json_u64("faults_major", st->faults_major);
		json_u64("hole_fills", st->hole_fills);
		json_u64("sigbus", st->sigbus);
		json_u64("writeback_pages", st->writeback_pages);
		json_u64("lock_waits", st->lock_waits);
		json_u64("lock_wakeups", st->lock_wakeups);
		json_u64("pmd_conflicts", st->pmd_conflicts);
		json_u64("pmd_downgrades", st->pmd_downgrades);
		json_u64("map_calls", st->map_calls);
		json_u64("journal_commits", st->journal_commits);
		json_u64("pool_blocks", st->pool_blocks);
		json_u64("pool_free_blocks", st->pool_free_blocks);
		json_u64("pool_files", st->pool_files);
		if (seconds >= 0)
			json_f64("seconds", seconds);
		json_end();
		return;
	}
	printf("  %-24s %12s\n", "what", "count");
	printf("  %-24s %12s\n", "------------------------",
	       "------------");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("  %-24s %12llu\n", rows[i].name,
		       (unsigned long long)rows[i].v);
	if (seconds >= 0)
		printf("  %-24s %12.2f\n", "time (s)", seconds);
}
