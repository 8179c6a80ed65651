/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault.h - the fault engine: page faults, holes, copy-on-write, mkwrite,
 * synchronous faults, writeback, truncate and the read/write path of one
 * file mapping, built on the entry locks (src/lock).
 *
 * @f is a struct dax_fmap: one file's entry index plus the three tables the
 * engine works through, so that tests can drive it with an in-memory
 * filesystem and a recording VM and force any interleaving:
 *
 *   fs       struct dax_iomap_ops (src/iomap.h), what the filesystem
 *            knows: size, extents (hole, mapped, or allocate on write),
 *            block freeing, metadata commit, and the per-file mmap lock
 *            (shared for faults and read/write, exclusive for truncate
 *            and punch hole);
 *   vm_ops   what the MMU does: insert a block or the zero page into one
 *            region, a private copy into one region, make a mapping
 *            writable; zap or write-protect a range in every region;
 *   dev_ops  the device: address of a block, flush a range of blocks.
 *
 * @vmf describes one fault: the region, the file page index, the access.
 *
 * Lock order: fs mmap lock -> entry lock -> index lock / fs internal
 * locks. vm_ops and dev_ops are called with an entry lock held and must
 * not take entry locks themselves (nor fault into udax mappings).
 */
#ifndef UDAX_FAULT_FAULT_H
#define UDAX_FAULT_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../iomap.h"
#include "../lock/entry_lock.h"

#define DAX_PAGE_SIZE ((uint64_t)1 << DAX_PAGE_SHIFT)

/* Flags to vm insert. */
#define DAX_VM_WRITE 0x1 /* map writable */
#define DAX_VM_ZERO 0x2	 /* map the (huge) zero page, read-only */

/*
 * A span: file pages [first, last] around the faulting page that the VM
 * may map in the same call. Without DAX_VM_WRITE read-only, although their
 * entries are not locked (fault-around). With DAX_VM_WRITE (write-around,
 * pages from the faulting one on) writable: the caller holds every one of
 * their entry locks and has tagged them DIRTY, and the VM may map them
 * over a clean mapping of the same block too. For a block span, blocks
 * are contiguous on the device from @block at @first; for a zero span
 * (DAX_VM_ZERO) all of it was a hole when the engine asked the
 * filesystem, after reading *@gen
 * into @gen_seen. The VM maps the span's other pages only where nothing
 * is mapped (never over a private copy or another mapping), and a zero
 * span only if *@gen still equals @gen_seen while it holds the region
 * against zaps (see dax_fmap.hole_gen); else it maps the faulting page
 * alone. It may always map less than the span.
 */
struct dax_vm_span {
	uint64_t first, last;
	uint64_t block;
	const atomic_ulong *gen;
	unsigned long gen_seen;
};

/* What a zap removes (bits). */
#define DAX_ZAP_ZERO 0x1    /* zero pages */
#define DAX_ZAP_BLOCKS 0x2  /* mappings of the file's blocks */
#define DAX_ZAP_PRIVATE 0x4 /* private copies (truncate) */
#define DAX_ZAP_SHARED (DAX_ZAP_ZERO | DAX_ZAP_BLOCKS)
#define DAX_ZAP_ALL (DAX_ZAP_SHARED | DAX_ZAP_PRIVATE)

/*
 * Every operation can fail (the kernel refuses mmap or mprotect, e.g. at
 * vm.max_map_count) and says so. Fail closed: on an error the state is
 * never weaker than asked: a failed insert or mkwrite maps nothing new
 * writable; a failed zap may leave some of the pages mapped (the caller
 * must not free their blocks); a failed mkclean may leave some of them
 * writable (the caller must not clear their DIRTY tags).
 */
struct dax_vm_ops {
	/*
	 * Map @index (order 0 or DAX_PMD_ORDER) in @region; with a @span
	 * (order 0 only, may be NULL) also pages around it. 0 or -errno.
	 */
	int (*insert)(void *vm, void *region, uint64_t index,
		      unsigned int order, uint64_t block, unsigned int flags,
		      const struct dax_vm_span *span);
	/*
	 * Map a private, writable copy of @src (DAX_PAGE_SIZE bytes, or
	 * zeros if NULL) at @index in @region. 0 or -errno.
	 */
	int (*insert_private)(void *vm, void *region, uint64_t index,
			      const void *src);
	/*
	 * Make the existing mapping of @index in @region writable. 0,
	 * -ENOENT (not mapped that way any more: fault again) or -errno.
	 */
	int (*mkwrite)(void *vm, void *region, uint64_t index,
		       unsigned int order);
	/*
	 * Unmap pages [first, last] from every region of this file: what
	 * DAX_ZAP_* bits @what name. Waits for inserts in flight in each
	 * region. 0, or -errno with some of those pages still mapped.
	 */
	int (*zap)(void *vm, uint64_t first, uint64_t last, unsigned int what);
	/*
	 * Write-protect pages [first, last] in every shared region. 0, or
	 * -errno with some of them maybe still writable.
	 */
	int (*mkclean)(void *vm, uint64_t first, uint64_t last);
};

struct dax_dev_ops {
	/* Address of @block in the device mapping. */
	void *(*addr)(void *dev, uint64_t block);
	/* Make @nr blocks from @block durable (flush caches, drain). */
	void (*flush)(void *dev, uint64_t block, uint64_t nr);
};

/* Access flags of a fault. */
#define DAX_VMF_WRITE 0x1  /* a store */
#define DAX_VMF_SHARED 0x2 /* MAP_SHARED region (else private: CoW) */
#define DAX_VMF_SYNC 0x4   /* MAP_SYNC region */
#define DAX_VMF_SEQ 0x8	   /* a store just after the last write span of
			    * this region: a sequential writer (the engine
			    * may make the next pages writable too) */

struct dax_vmf {
	void *region;
	uint64_t index;	   /* file page of the access */
	unsigned int flags;
};

/* Fault results (bits), like the kernel's vm_fault_t. */
#define DAX_FAULT_DONE 0x00	/* mapped or nothing to do: access again */
#define DAX_FAULT_SIGBUS 0x01	/* beyond EOF, no space, I/O error */
#define DAX_FAULT_OOM 0x02	/* out of memory */
#define DAX_FAULT_FALLBACK 0x04 /* PMD fault not possible: use PTE */
#define DAX_FAULT_RETRY 0x08	/* entry vanished (truncate): access again */
#define DAX_FAULT_MAJOR 0x10	/* blocks were allocated */
#define DAX_FAULT_ERROR_MASK (DAX_FAULT_SIGBUS | DAX_FAULT_OOM)

struct dax_fmap;

struct dax_fault_stats {
	atomic_ulong pte;      /* PTE faults handled */
	atomic_ulong pmd;      /* PMD faults that mapped a PMD */
	atomic_ulong read;
	atomic_ulong write;
	atomic_ulong cow;      /* private copies made */
	atomic_ulong hole;     /* zero page mapped (PTE or PMD) */
	atomic_ulong fallback; /* PMD faults that fell back to PTE */
	atomic_ulong mkwrite;  /* clean read-only pages made writable */
	atomic_ulong major;    /* faults that allocated blocks */
	atomic_ulong hole_fill; /* ZERO entries replaced by blocks */
	atomic_ulong sigbus;
	atomic_ulong sync;     /* metadata commits for synchronous faults */
	atomic_ulong writeback; /* entries written back */
	atomic_ulong zapped_zero; /* ZERO entries invalidated by writes */
};

/*
 * The counters are sharded: each thread adds to the shard of its slot
 * (assigned round-robin on first use, fault_priv.h), so two threads
 * faulting on one file do not bounce a cache line between cores. Readers
 * sum the shards (DAX_FAULT_STAT).
 */
#define DAX_STAT_SHARDS 16

struct dax_fault_stat_shard {
	struct dax_fault_stats c;
} __attribute__((aligned(64)));

unsigned long dax_fault_stat_sum(const struct dax_fmap *f, size_t offset);

/* The total of counter @field of file mapping @f, over all shards. */
#define DAX_FAULT_STAT(f, field)                                               \
	dax_fault_stat_sum((f), offsetof(struct dax_fault_stats, field))

/* Named points where a test can stop a thread (hooks build only). */
enum dax_hook_point {
	DAX_HOOK_FAULT_GRABBED,	 /* fault: entry locked, fs not asked yet */
	DAX_HOOK_FAULT_MAPPED,	 /* fault: iomap done, nothing inserted */
	DAX_HOOK_MKWRITE_GRABBED, /* mkwrite: entry locked */
	DAX_HOOK_WB_TAGGED,	 /* writeback: DIRTY moved to TOWRITE */
	DAX_HOOK_WB_CLEANED,	 /* writeback: entry write-protected */
	DAX_HOOK_WB_FLUSHED,	 /* writeback: flushed, DIRTY still set */
	DAX_HOOK_RW_MAPPED,	 /* write(2) path: blocks allocated */
	DAX_HOOK_TRUNC_ZAPPED,	 /* truncate/punch: regions unmapped */
	DAX_HOOK_NR,
};

struct dax_fmap;
typedef void (*dax_hook_fn)(struct dax_fmap *f, enum dax_hook_point point,
			    uint64_t index, void *arg);

struct dax_fmap {
	struct dax_mapping m; /* first: entry locks key on its address */
	const struct dax_iomap_ops *fs;
	void *file;
	const struct dax_vm_ops *vm;
	void *vm_ctx;
	const struct dax_dev_ops *dev;
	void *dev_ctx;
	dax_hook_fn hook;
	void *hook_arg;
	/*
	 * A seqcount of hole filling: bumped after every filesystem call
	 * that may have given holes blocks (iomap with DAX_IOMAP_WRITE), and
	 * before the caller removes the zero pages of those pages
	 * (DAX_ZAP_ZERO). A zero span is mapped only if this has not changed
	 * since before the iomap that saw the hole (the VM checks it while
	 * it holds the span's pages against zaps): a span that saw a hole
	 * before the allocation either fails the check or is mapped before
	 * the zap, which removes it. So a zero page is never left, without
	 * its entry lock, over a page that got a block.
	 */
	atomic_ulong hole_gen;
	/* Last: written on every fault, kept off the lines read above. */
	struct dax_fault_stat_shard stats[DAX_STAT_SHARDS];
};

int dax_fmap_init(struct dax_fmap *f, const struct dax_iomap_ops *fs, void *file,
		  const struct dax_vm_ops *vm, void *vm_ctx,
		  const struct dax_dev_ops *dev, void *dev_ctx);
void dax_fmap_destroy(struct dax_fmap *f);

int dax_fault(struct dax_fmap *f, const struct dax_vmf *vmf,
	      unsigned int order);
int dax_pte_fault(struct dax_fmap *f, const struct dax_vmf *vmf);
int dax_pmd_fault(struct dax_fmap *f, const struct dax_vmf *vmf);
int dax_mkwrite(struct dax_fmap *f, const struct dax_vmf *vmf,
		unsigned int order);
int dax_writeback(struct dax_fmap *f, uint64_t first, uint64_t last);
int dax_truncate(struct dax_fmap *f, uint64_t size);
int dax_punch_hole(struct dax_fmap *f, uint64_t offset, uint64_t len);
int dax_allocate(struct dax_fmap *f, uint64_t offset, uint64_t len,
		 bool keep_size);
ssize_t dax_read(struct dax_fmap *f, void *buf, size_t len, uint64_t pos);
ssize_t dax_write(struct dax_fmap *f, const void *buf, size_t len,
		  uint64_t pos);

#endif /* UDAX_FAULT_FAULT_H */
