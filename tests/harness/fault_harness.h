/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_harness.h - an in-memory filesystem and a recording VM to drive
 * the fault engine without real page faults, checking invariants on every
 * call the engine makes:
 *
 *   - no two mappings of one page disagree (a zero page in one region and
 *     a block in another is a stale zero page);
 *   - nothing is mapped beyond EOF;
 *   - a block is mapped only where the file owns it, and a zero page only
 *     over a hole (or, until that write's iomap_end, over a block a
 *     write(2) has just allocated: the write then zaps it);
 *   - a freed block is mapped nowhere and has no entry;
 *   - a writable mapping always has a DIRTY entry.
 *
 * A violation is counted and the first few are printed; tests check
 * th_violations() == 0. Freed blocks are poisoned, so a reader that reaches
 * one through a stale mapping sees garbage, which the tests' stamped data
 * (every 8-byte word names its page) detects.
 *
 * Locks: fs->lock (allocator, block map writes) and vm->lock (all mapping
 * state) are leaves; the block map is read without fs->lock (atomics), so
 * vm code never takes fs->lock. Order: entry lock -> fs->lock -> vm->lock.
 */
#ifndef UDAX_TEST_FAULT_HARNESS_H
#define UDAX_TEST_FAULT_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fault/fault.h"
#include "index/rcu.h"

#define TH_HOLE UINT64_MAX
#define TH_MAX_REGIONS 8
#define TH_POISON 0xA5A5A5A5A5A5A5A5ULL

struct th_fs {
	pthread_rwlock_t mmap_lock;
	pthread_mutex_t lock;
	uint8_t *dev;		  /* nr_blocks * 4 KiB, the "device" */
	uint64_t nr_blocks;
	uint8_t *used;		  /* per block: allocated */
	uint64_t free_blocks;
	uint64_t reserve;	  /* allocations fail (ENOSPC) below this */
	_Atomic uint64_t *map;	  /* page -> block or TH_HOLE */
	uint8_t *unsynced;	  /* per page: allocated, sync not done since */
	/*
	 * Per page: block allocated by write(2) (iomap_begin without
	 * DAX_IOMAP_FAULT), between that iomap_begin and its iomap_end. A
	 * read fault that saw the hole just before may map the zero page
	 * over it then; the write's invalidation removes it before iomap_end.
	 */
	_Atomic uint8_t *rw_new;
	uint64_t max_pages;
	_Atomic uint64_t size;	  /* bytes */
	bool pmd_alloc;		  /* hand out aligned 2 MiB extents */
	atomic_ulong allocs, frees, syncs, flushes, iomaps;
	atomic_int fail_next_iomap; /* inject: next iomap_begin fails */
	struct th_vm *vm;
	struct dax_fmap *f;
};

enum th_kind {
	TH_NONE,
	TH_BLOCK,
	TH_ZERO,
	TH_PRIVATE,
};

struct th_pte {
	uint8_t kind;
	uint8_t writable;
	uint8_t pmd; /* part of a 2 MiB mapping */
	uint64_t block;
	uint64_t *private_page;
};

struct th_region {
	int id;
	bool shared, sync, huge;
	struct th_pte *ptes; /* max_pages of them */
};

struct th_vm {
	pthread_mutex_t lock;
	struct th_region regions[TH_MAX_REGIONS];
	int nr_regions;
	struct th_fs *fs;
	struct dax_fmap *f;
	atomic_ulong inserts, zaps, mkcleans, mkwrites, privates;
};

struct th_env {
	struct th_fs fs;
	struct th_vm vm;
	struct dax_fmap f;
};

extern atomic_int th_violation_count;

int th_env_init(struct th_env *env, uint64_t nr_blocks, uint64_t max_pages);
void th_env_destroy(struct th_env *env);
struct th_region *th_region_add(struct th_env *env, bool shared, bool sync,
				bool huge);
int th_access(struct th_env *env, struct th_region *r, uint64_t index,
	      unsigned int word, bool write, uint64_t *value);
void th_check_quiescent(struct th_env *env);
int th_violations(void);
void th_violation(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
uint64_t th_fs_block_of(struct th_fs *fs, uint64_t index);
bool th_entry_dirty(struct dax_fmap *f, uint64_t index);
bool th_entry_present(struct dax_fmap *f, uint64_t index);
uint64_t th_stamp(uint64_t index, uint64_t n);
bool th_stamp_ok(uint64_t index, uint64_t word);

extern const struct dax_fs_ops th_fs_ops;
extern const struct dax_vm_ops th_vm_ops;
extern const struct dax_dev_ops th_dev_ops;

#endif /* UDAX_TEST_FAULT_HARNESS_H */
