/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_busy - a pool has one opener: a second dax_dev_open() of the same
 * pool gets -EBUSY, from this process and from a forked child, with the
 * filesystem mounted or not; once the first opener closes, the pool can
 * be opened (and mounted) again, by either process.
 */
#include "fs_util.h"

#include <sys/wait.h>

/* In a child process: try to open @path; exit 0 if we got @want. */
static int child_open(const char *path, int want)
{
	pid_t pid = fork();
	int status;

	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct dax_dev *d = NULL;
		int err = dax_dev_open(path, &d);

		if (!err)
			dax_dev_close(&d);
		_exit(err == want ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

int main(int argc, char **argv)
{
	struct dax_dev *dev, *dev2 = NULL;
	struct dax_inode *ip;
	struct dax_fs *fs;
	struct t_pool pool;

	t_init(argc, argv);
	dev = t_pool_create(&pool, 8ULL << 20);
	CHECK_EQ(dax_dev_open(pool.path, &dev2), -EBUSY);
	CHECK(dev2 == NULL);
	CHECK_EQ(child_open(pool.path, -EBUSY), 0);

	REQUIRE(dax_fs_mkfs(dev, 0) == 0);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	REQUIRE(dax_fs_create(fs, "file", 0644, &ip) == 0);
	CHECK_EQ(dax_dev_open(pool.path, &dev2), -EBUSY);
	CHECK_EQ(child_open(pool.path, -EBUSY), 0);
	dax_fs_iput(fs, ip);
	dax_fs_unmount(&fs);
	CHECK_EQ(dax_dev_open(pool.path, &dev2), -EBUSY);
	dax_dev_close(&dev);
	CHECK(dev == NULL);

	/* Free again: a child can open it, then this process. */
	CHECK_EQ(child_open(pool.path, 0), 0);
	REQUIRE(dax_dev_open(pool.path, &dev) == 0);
	CHECK_EQ(dax_dev_open(pool.path, &dev2), -EBUSY);
	CHECK_EQ(child_open(pool.path, -EBUSY), 0);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	CHECK_EQ(dax_fs_lookup(fs, "file", &ip), 0);
	dax_fs_iput(fs, ip);
	dax_fs_unmount(&fs);
	dax_dev_close(&dev);
	/* Creating over an existing pool is refused. */
	CHECK_EQ(dax_dev_create(pool.path, 8ULL << 20, &dev2), -EEXIST);
	t_pool_remove(&pool);
	return t_done("fs_busy");
}
