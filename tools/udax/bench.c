/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.c - `udax bench [--quick]`: run the benchmark programs built next
 * to this binary (bench/lockbench, bench/faultbench, bench/mmapbench in
 * the build tree), one after the other, and say where their JSON went.
 * `make bench` does the same and draws the charts.
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
	mkdir("bench-results", 0755);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char prog[PATH_MAX + 64], out[128];
		struct stat st;
		pid_t pid;
		int status;

		snprintf(prog, sizeof(prog), "%s/bench/%s", dir, names[i]);
		if (stat(prog, &st))
			die("%s not found next to udax (run `make bench` from "
			    "the source tree)",
			    names[i]);
		snprintf(out, sizeof(out), "bench-results/%s.json", names[i]);
		pid = fork();
		if (pid < 0)
			die_err(-errno, "fork");
		if (!pid) {
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
		if (!cli.json)
			printf("%s: results in %s\n", names[i], out);
	}
	return 0;
}
