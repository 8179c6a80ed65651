/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replay_main - run the pool fuzzer's inputs once each, without libFuzzer:
 * for builds with any compiler (ctest replays fuzz/regressions with it
 * under ASan+UBSan) and for debugging one input under gdb.
 *
 *   pool_fuzz_replay PATH...   each PATH a file, or a directory whose
 *                              regular files are all run
 *
 * An input that breaks an invariant aborts (see pool_fuzz.c); otherwise
 * the exit status is 0, or 1 if a PATH cannot be read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "pool_fuzz_replay: %s: %s\n", path,
			strerror(errno));
		if (f)
			fclose(f);
		return 1;
	}
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "pool_fuzz_replay: %s: cannot read\n", path);
		free(buf);
		fclose(f);
		return 1;
	}
	fclose(f);
	printf("%s (%ld bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path, unsigned int *nr)
{
	struct dirent *de;
	struct stat st;
	char **names = NULL;
	size_t n = 0;
	int err = 0;
	DIR *d;

	if (stat(path, &st)) {
		fprintf(stderr, "pool_fuzz_replay: %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*nr)++;
		return run_file(path);
	}
	d = opendir(path);
	if (!d)
		return 1;
	while ((de = readdir(d))) {
		char full[PATH_MAX];
		char **v;

		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (de->d_name[0] == '.' || stat(full, &st) ||
		    !S_ISREG(st.st_mode))
			continue;
		v = realloc(names, (n + 1) * sizeof(*names));
		if (!v || !(v[n] = strdup(full))) {
			free(v ? v : names);
			closedir(d);
			return 1;
		}
		names = v;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (!err) {
			(*nr)++;
			err = run_file(names[i]);
		}
		free(names[i]);
	}
	free(names);
	return err;
}

int main(int argc, char **argv)
{
	unsigned int nr = 0;
	int err = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc && !err; i++)
		err = run_path(argv[i], &nr);
	if (!err)
		printf("pool_fuzz_replay: %u inputs, all passed\n", nr);
	return err;
}
