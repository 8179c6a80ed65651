/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hello.c - the smallest udax program: create a pool, map a file, write
 * through the mapping (the page *is* the pool's block), msync, and read
 * the bytes back with udax_pread.
 *
 * Build against the installed library:
 *     cc -o hello examples/hello.c $(pkg-config --cflags --libs udax)
 * Run:
 *     ./hello /dev/shm/hello.pool
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <udax/udax.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "hello.pool";
	const char msg[] = "hello, direct access";
	struct udax_pool *pool;
	struct udax_file *file;
	char back[sizeof(msg)];
	void *addr;
	int err;

	unlink(path);
	err = udax_pool_create(path, 16 << 20, &pool);
	if (err) {
		fprintf(stderr, "udax_pool_create: %s\n", strerror(-err));
		return 1;
	}
	err = udax_open(pool, "greeting", O_RDWR | O_CREAT, 0644, &file);
	if (!err)
		err = udax_ftruncate(file, 4096);
	if (!err)
		err = udax_mmap(file, NULL, 4096, PROT_READ | PROT_WRITE,
				MAP_SHARED, 0, &addr);
	if (err) {
		fprintf(stderr, "udax: %s\n", strerror(-err));
		return 1;
	}
	memcpy(addr, msg, sizeof(msg)); /* a write fault maps the block */
	udax_msync(addr, 4096, MS_SYNC);
	if (udax_pread(file, back, sizeof(back), 0) != (ssize_t)sizeof(back) ||
	    memcmp(back, msg, sizeof(msg))) {
		fprintf(stderr, "read back something else\n");
		return 1;
	}
	printf("%s (udax %d)\n", back, udax_version());
	udax_munmap(addr, 4096);
	udax_close(file);
	udax_pool_close(pool);
	unlink(path);
	return 0;
}
