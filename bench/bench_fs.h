/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_fs.h - a minimal in-memory filesystem and VM for benchmarking the
 * fault engine (bench/faultbench.c): the least work an fs_ops / vm_ops /
 * dev_ops implementation can do, so that what a benchmark measures is the
 * engine and not its test doubles. tests/harness/ is the opposite: it
 * checks invariants on every call and must not be used to time anything.
 *
 * The filesystem ("bfs") is one file of @nr_pages pages:
 *
 *   map[page]        device block of the page, or BFS_HOLE;
 *   chunk_used[c]    pages of 2 MiB chunk c that have a block;
 *   chunk_whole[c]   chunk c is one 2 MiB-aligned extent of blocks, so a
 *                    2 MiB iomap there is answered at once;
 *   allocator        a bump allocator over the block space: 4 KiB blocks
 *                    come from the current "small" 2 MiB chunk, and 2 MiB
 *                    requests take the next whole aligned chunk. Blocks
 *                    are never freed (there is no device memory behind
 *                    them: new blocks count as zeroed);
 *   mmap_lock        a pthread rwlock, shared for faults; or, for a
 *                    file made with @scalable_lock, a distributed reader
 *                    lock: a reader counts itself in a per-thread slot of
 *                    its own cache line (two atomic RMWs, as the rwlock,
 *                    but no line shared between readers), a writer raises
 *                    a flag and waits for every slot to drain. With it,
 *                    two threads faulting one file share no fs line, so
 *                    what they share is the engine's.
 *
 * Every iomap_begin is O(1) except the 2 MiB allocation, which writes the
 * 512 map words of the chunk. Allocation takes a mutex; lookups take
 * nothing: a map word is written only by an allocation, which holds the
 * entry lock of the page (the engine calls iomap_begin under it), and
 * chunk_used is read unlocked, which is enough because the benchmarks
 * allocate from one thread at a time.
 *
 * With DAX_IOMAP_AROUND, a hole in a chunk without blocks is described
 * from the chunk's start (the one extent found in O(1)); anything else is
 * described from @index, as without it.
 *
 * The VM ("bvm") records one byte of state per page of one region
 * (BVM_MAPPED, BVM_WRITE, BVM_ZERO, BVM_PMD); insert/zap/mkclean/mkwrite
 * only store bytes, with no lock and no cross-region check, and never
 * fail. Fault-around spans are ignored (the VM may always map less).
 * Private copies are not supported (the benchmarks map shared regions
 * only).
 *
 * The device ("dev" ops) has no memory: addr returns one static zero page,
 * flush does nothing.
 */
#ifndef UDAX_BENCH_FS_H
#define UDAX_BENCH_FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fault/fault.h"

#define BFS_HOLE UINT64_MAX

#define BVM_MAPPED 0x1
#define BVM_WRITE 0x2
#define BVM_ZERO 0x4
#define BVM_PMD 0x8

/* Slots of the distributed reader lock (threads share one past this). */
#define BFS_RD_SLOTS 16

struct bfs_rd_slot {
	_Alignas(64) atomic_long readers;
};

struct bfs {
	/* On its own cache line: faults of two threads write it. */
	_Alignas(64) pthread_rwlock_t mmap_lock;
	/* The distributed reader lock, when @scalable_lock. */
	_Alignas(64) atomic_bool writer;
	bool scalable_lock;
	pthread_mutex_t writer_lock; /* writers, one at a time */
	struct bfs_rd_slot *rd;	     /* BFS_RD_SLOTS of them */
	_Alignas(64) uint64_t nr_pages;
	uint64_t size; /* bytes */
	uint64_t *map;
	uint32_t *chunk_used;
	uint8_t *chunk_whole;
	/* Allocator, under alloc_lock. */
	pthread_mutex_t alloc_lock;
	uint64_t next_chunk; /* next free 2 MiB chunk of the device */
	uint64_t small_next; /* next 4 KiB block of the small chunk */
	uint64_t small_end;  /* end of the small chunk (0: none) */
	uint64_t allocs;     /* blocks handed out */
};

struct bvm {
	uint64_t nr_pages;
	uint8_t *state; /* per page: BVM_* bits, 0 when unmapped */
};

/* A file, its VM and the engine's file mapping on them. */
struct bench_file {
	struct bfs fs;
	struct bvm vm;
	struct dax_fmap f;
	int region; /* the region pointer handed to the engine points here */
};

extern const struct dax_iomap_ops bfs_ops;
extern const struct dax_vm_ops bvm_ops;
extern const struct dax_dev_ops bdev_ops;

int bench_file_init(struct bench_file *bf, uint64_t nr_pages,
		    bool scalable_lock);
void bench_file_destroy(struct bench_file *bf);
int bench_file_reset(struct bench_file *bf);
void bfs_prealloc(struct bfs *fs, uint64_t first, uint64_t nr);

#endif /* UDAX_BENCH_FS_H */
