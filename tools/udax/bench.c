/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.c - `udax bench [--quick]`: run the benchmark programs built next
 * to this binary (bench/lockbench, bench/faultbench, bench/mmapbench in
 * the build tree), one after the other, and say where their JSON went:
 * bench/results/ under the current directory, where `make bench` writes
 * too (it also draws the charts). An installed udax has no benchmark
 * programs beside it and says so. With --json their tables go to stderr
 * and stdout gets one object naming the result files.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

int cmd_bench(int argc, char **argv)
{
	static const char *const names[] = { "lockbench", "faultbench",
					     "mmapbench" };
	char self[PATH_MAX], dir[PATH_MAX];
	bool quick = cli.quick;
	ssize_t n;

	(void)argc;
	(void)argv;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		die_err(-errno, "cannot find this program");
	self[n] = '\0';
	snprintf(dir, sizeof(dir), "%s", dirname(self));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char prog[PATH_MAX + 64];
		struct stat st;

		snprintf(prog, sizeof(prog), "%s/bench/%s", dir, names[i]);
		if (stat(prog, &st))
			die("no %s beside this udax (%s/bench/): udax bench runs "
			    "the benchmarks of a build tree; in the source tree, "
			    "run `make bench`",
			    names[i], shown(dir));
	}
	if ((mkdir("bench", 0755) && errno != EEXIST) ||
	    (mkdir("bench/results", 0755) && errno != EEXIST))
		die_err(-errno, "cannot create bench/results");
	if (cli.json) {
		json_begin();
		json_arr("results");
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char prog[PATH_MAX + 64], out[128];
		pid_t pid;
		int status;

		snprintf(prog, sizeof(prog), "%s/bench/%s", dir, names[i]);
		snprintf(out, sizeof(out), "bench/results/%s.json", names[i]);
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			die_err(-errno, "fork");
		if (!pid) {
			/* stdout holds the JSON: their tables go to stderr. */
			if (cli.json && dup2(2, 1) < 0)
				_exit(127);
			if (quick)
				execl(prog, names[i], "-q", "-o", out,
				      (char *)NULL);
			else
				execl(prog, names[i], "-o", out, (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			die("%s failed", names[i]);
		if (cli.json) {
			json_obj(NULL);
			json_str("bench", names[i]);
			json_str("json", out);
			json_obj_end();
		} else {
			fprintf(cli.out, "%s: results in %s\n", names[i], out);
			fflush(cli.out);
		}
	}
	if (cli.json) {
		json_arr_end();
		json_end();
	}
	return 0;
}
