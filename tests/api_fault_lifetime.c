/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_fault_lifetime - a fault in flight holds no reference on its file,
 * yet udax_munmap() and udax_close() of the last handle on other threads
 * must never free what it still uses (the entry index, the file state,
 * the inode), as the kernel's mmap_lock and VMA keep a faulting file
 * alive.
 *
 * 1. Forced: a read fault (udax_prefault, so a lost region is an error
 *    code and not a signal) is stopped by a hook right after it locked
 *    its entry; another thread unmaps the region and closes the file,
 *    and must not finish before the fault does (it waits for the fault's
 *    RCU read-side critical section); the fault is let go, finds its
 *    region gone and maps nothing; everything is freed once, and the
 *    pool then closes and checks clean. ASan reports any use after free.
 * 2. Stress: threads prefault random pages of whatever mapping is
 *    current while another thread keeps unmapping, closing, reopening and
 *    remapping the same file (-l: longer). Under ASan and TSan.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>

#include "api_util.h"
#include "api/api.h"

#define PG 4096ULL
#define FILE_PAGES 1024

static struct udax_pool *pool;
static char path[300];

/* ---- 1: the stalled fault ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool parked, released;
static __thread bool stop_here;

static void stall_hook(struct dax_fmap *f, enum dax_hook_point point,
		       uint64_t index, void *arg)
{
	(void)f;
	(void)index;
	(void)arg;
	if (point != DAX_HOOK_FAULT_GRABBED || !stop_here)
		return;
	stop_here = false;
	pthread_mutex_lock(&gate_lock);
	parked = true;
	pthread_cond_broadcast(&gate_cond);
	while (!released)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

struct job {
	struct udax_file *f;
	void *map;
	atomic_bool done;
	int ret;
};

static void *stalled_fault(void *arg)
{
	struct job *j = arg;

	stop_here = true;
	j->ret = udax_prefault((char *)j->map + 5 * PG, PG, 0);
	atomic_store(&j->done, true);
	return NULL;
}

static void *unmap_close(void *arg)
{
	struct job *j = arg;

	j->ret = udax_munmap(j->map, FILE_PAGES * PG);
	if (!j->ret)
		j->ret = udax_close(j->f);
	atomic_store(&j->done, true);
	return NULL;
}

static void test_stalled_fault(void)
{
	struct job fault = { 0 }, closer = { 0 };
	struct udax_file *f;
	pthread_t a, b;
	void *map;

	REQUIRE(udax_open(pool, "f", O_RDWR, 0, &f) == 0);
	REQUIRE(udax_mmap(f, NULL, FILE_PAGES * PG, PROT_READ, MAP_SHARED, 0,
			  &map) == 0);
	f->fst->fmap.hook = stall_hook;
	fault.f = closer.f = f;
	fault.map = closer.map = map;
	REQUIRE(pthread_create(&a, NULL, stalled_fault, &fault) == 0);
	pthread_mutex_lock(&gate_lock);
	while (!parked)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	/* The fault holds its entry lock, in the engine, on f's state. */
	REQUIRE(pthread_create(&b, NULL, unmap_close, &closer) == 0);
	usleep(100 * 1000);
	CHECK(!atomic_load(&closer.done)); /* waits for the fault */
	pthread_mutex_lock(&gate_lock);
	released = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK_EQ(closer.ret, 0);
	/* Its region went away under it: nothing mapped, an error. */
	CHECK(fault.ret == 0 || fault.ret == -EFAULT);
	printf("stalled fault: closer waited for it; fault returned %d\n",
	       fault.ret);
}

/* ---- 2: stress ---- */

static _Atomic(char *) current;
static atomic_bool stop;
static atomic_ulong prefaults, prefault_errors, cycles;

static void *faulter(void *arg)
{
	struct t_rng rng;

	t_rng_init(&rng, (uint64_t)(uintptr_t)arg);
	while (!atomic_load(&stop)) {
		char *m = atomic_load(&current);
		uint64_t pg = t_rand_below(&rng, FILE_PAGES);

		if (!m)
			continue;
		if (udax_prefault(m + pg * PG, PG, (int)(pg & 1)))
			atomic_fetch_add(&prefault_errors, 1);
		atomic_fetch_add(&prefaults, 1);
	}
	return NULL;
}

static void *remapper(void *arg)
{
	double end = t_now() + *(double *)arg;

	while (t_now() < end) {
		struct udax_file *f;
		void *m;

		REQUIRE(udax_open(pool, "f", O_RDWR, 0, &f) == 0);
		REQUIRE(udax_mmap(f, NULL, FILE_PAGES * PG,
				  PROT_READ | PROT_WRITE, MAP_SHARED, 0,
				  &m) == 0);
		atomic_store(&current, m);
		usleep(200);
		atomic_store(&current, NULL);
		REQUIRE(udax_munmap(m, FILE_PAGES * PG) == 0);
		REQUIRE(udax_close(f) == 0);
		atomic_fetch_add(&cycles, 1);
	}
	atomic_store(&stop, true);
	return NULL;
}

static void test_stress(double seconds)
{
	pthread_t t[4], r;

	for (uintptr_t i = 0; i < 3; i++)
		REQUIRE(pthread_create(&t[i], NULL, faulter,
				       (void *)(t_seed + i)) == 0);
	REQUIRE(pthread_create(&r, NULL, remapper, &seconds) == 0);
	pthread_join(r, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("stress: %lu open/mmap/munmap/close cycles, %lu prefaults "
	       "(%lu on a region gone meanwhile)\n",
	       atomic_load(&cycles), atomic_load(&prefaults),
	       atomic_load(&prefault_errors));
	CHECK(atomic_load(&cycles) > 0);
}

int main(int argc, char **argv)
{
	struct udax_file *f;
	char buf[PG];

	t_init(argc, argv);
	t_watchdog(t_long ? 300 : 120);
	t_tmpdir();
	t_path(path, sizeof(path), "p.pool");
	REQUIRE(udax_pool_create(path, 64 << 20, &pool) == 0);
	REQUIRE(udax_open(pool, "f", O_RDWR | O_CREAT, 0644, &f) == 0);
	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t p = 0; p < FILE_PAGES; p++)
		REQUIRE(udax_pwrite(f, buf, PG, p * PG) == (ssize_t)PG);
	REQUIRE(udax_close(f) == 0);

	test_stalled_fault();
	test_stress(t_long ? 30.0 : 3.0);

	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	t_cleanup();
	return t_done("api_fault_lifetime");
}
