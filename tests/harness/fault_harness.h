/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault_harness.h - an in-memory filesystem and a recording VM to drive
 * the fault engine without real page faults, checking invariants on every
 * call the engine makes:
 *
 *   - no two mappings of one page disagree (a zero page in one region and
 *     a block in another is a stale zero page), unless the block still
 *     holds only zeros and neither mapping is writable: a zap that failed
 *     may leave such a zero page, harmless until the block is written,
 *     and every way of writing it is checked (a writable mapping, a store,
 *     a flush of the block);
 *   - nothing is mapped beyond EOF;
 *   - a block is mapped only where the file owns it, and a zero page only
 *     over a hole (or, until that allocation's iomap_end, over a block
 *     just allocated: the allocating call then zaps the zero pages of
 *     what it allocated);
 *   - a freed block is mapped nowhere and has no entry;
 *   - a writable mapping always has a DIRTY entry.
 *
 * The VM also maps fault-around spans (struct dax_vm_span) as the real
 * one does (where nothing is mapped; a zero span only while hole_gen is
 * unchanged; a write span writable, also over read-only mappings of its
 * blocks), and can be told to fail (th_vm_fail_set, th_vm_fail_next):
 * a failed call leaves the state it would leave for real (a zap or
 * mkclean done for part of the range only), so the checks above catch an
 * engine that goes on as if it had succeeded.
 *
 * A violation is counted and the first few are printed; tests check
 * th_violations() == 0. Freed blocks are poisoned, so a reader that reaches
 * one through a stale mapping sees garbage, which the tests' stamped data
 * (every 8-byte word names its page) detects.
 *
 * Locks: fs->lock (allocator, block map writes) and vm->lock (all mapping
 * state, the flush log) are leaves; the block map is read without
 * fs->lock (atomics), so vm code never takes fs->lock. Order: entry lock
 * -> fs->lock -> vm->lock.
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
	_Atomic uint64_t *owner;  /* block -> page or TH_HOLE */
	uint8_t *unsynced;	  /* per page: allocated, sync not done since */
	/*
	 * Per page: block just allocated, between that iomap_begin and its
	 * iomap_end. A write(2) allocates without the entry lock, so a read
	 * fault that saw the hole just before may map the zero page over it
	 * then; and a zero span may be mapped over a block a fault is
	 * allocating (its hole_gen check passed just before). The allocating
	 * call removes those zero pages before its iomap_end.
	 */
	_Atomic uint8_t *fresh;
	/*
	 * The flush log: per block, how many times it was flushed, and (once
	 * th_fs_track_durable() is called) its contents at its last flush,
	 * zeros when allocated (new blocks are zeroed and made durable).
	 */
	atomic_ulong *block_flushes;
	uint8_t *durable;
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
	/*
	 * As the real VM: one past the end of the last write span, + 1 (0:
	 * none). A store there is sequential (DAX_VMF_SEQ: write-around).
	 */
	_Atomic uint64_t next_write;
};

/* The VM operations, for failure injection (TH_VM_OP() bits). */
enum th_vm_op {
	TH_VM_INSERT,
	TH_VM_INSERT_PRIVATE,
	TH_VM_MKWRITE,
	TH_VM_ZAP,
	TH_VM_MKCLEAN,
	TH_VM_NR_OPS,
};
#define TH_VM_OP(op) (1U << (op))
#define TH_VM_OPS_ALL (TH_VM_OP(TH_VM_NR_OPS) - 1)

struct th_vm {
	pthread_mutex_t lock;
	struct th_region regions[TH_MAX_REGIONS];
	int nr_regions;
	struct th_fs *fs;
	struct dax_fmap *f;
	atomic_ulong inserts, zaps, mkcleans, mkwrites, privates;
	/* Spans seen, pages they mapped, zero spans refused (hole_gen). */
	atomic_ulong spans, span_pages, spans_refused;
	/* Failure injection, under lock (th_vm_fail_set). */
	unsigned int fail_one_in; /* 0: no random failures */
	unsigned int fail_ops;	  /* TH_VM_OP() bits they may hit */
	uint64_t fail_rng;
	atomic_uint fail_next;	  /* TH_VM_OP() bits: fail next call */
	atomic_ulong failed[TH_VM_NR_OPS]; /* failures injected */
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

/*
 * The flush log: th_block_durable() says whether a block still holds what
 * its last flush made durable (needs th_fs_track_durable() first);
 * th_block_flushes() counts its flushes.
 */
int th_fs_track_durable(struct th_env *env);
bool th_block_durable(struct th_fs *fs, uint64_t block);
unsigned long th_block_flushes(struct th_fs *fs, uint64_t block);

/*
 * Failure injection, -ENOMEM from the VM: at random, 1 call in @one_in
 * (0: never) of the operations th_vm_fail_ops() names (all by default)
 * among those that have work to do, a zap or mkclean then doing only a
 * random first part of it; or the next call of each operation in @ops,
 * doing none of it (th_vm_fail_next). th_vm_failed() counts them.
 */
void th_vm_fail_set(struct th_vm *vm, unsigned int one_in, uint64_t seed);
void th_vm_fail_ops(struct th_vm *vm, unsigned int ops);
void th_vm_fail_next(struct th_vm *vm, unsigned int ops);
unsigned long th_vm_failed(struct th_vm *vm, unsigned int ops);

extern const struct dax_iomap_ops th_fs_ops;
extern const struct dax_vm_ops th_vm_ops;
extern const struct dax_dev_ops th_dev_ops;

#endif /* UDAX_TEST_FAULT_HARNESS_H */
