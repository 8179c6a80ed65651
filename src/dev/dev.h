/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dev.h - the device a pool lives on: a regular file (on tmpfs or any
 * filesystem), an fsdax file, or a device-DAX character device, mapped
 * once through libpmem2 and made durable through the flush/drain
 * functions libpmem2 picks for the store granularity it detects (cache
 * line flushes on real persistent memory, msync on page-cache files).
 *
 * @dev is a struct dax_dev. Opening to write is exclusive (flock
 * LOCK_EX): a second opener, in this process or another, gets -EBUSY, so
 * a pool never has two writers. Opening read-only (dax_dev_open_rdonly:
 * the file is opened O_RDONLY and mapped PROT_READ, so it works on a
 * file the caller may not write or on a read-only mount) takes the lock
 * shared (LOCK_SH): read-only openers coexist, and a writer and a reader
 * exclude each other both ways (-EBUSY), because a reader loads the
 * metadata once at mount and would not see a writer's changes (nor a
 * writer's replay, orphan cleanup and punches under its feet).
 *
 * Space back to the host: dax_dev_punch() punches blocks nobody uses out
 * of a regular pool file (FALLOC_FL_PUNCH_HOLE), so a sparse pool file
 * shrinks as files are removed; device-DAX memory is not the host's to
 * take back. A punch is not made durable (after a host crash the range
 * may hold its old bytes again: harmless, blocks are zeroed when handed
 * out) and a failed one loses nothing: the blocks stay allocated on the
 * host, counted in dev->punch_failed. A file system that cannot punch
 * (EOPNOTSUPP) is asked once.
 *
 * Zeroing at no host space (mkfs's journal, inode table and bitmap):
 * dax_dev_zero() does nothing on a device just created (dev->fresh: a
 * sparse file reads as zeros), punches a regular file, and stores zeros
 * elsewhere (device-DAX, no punching); unlike dax_dev_punch() its punches
 * are meant to last: dax_dev_sync_zeroed() (fsync) makes them durable
 * before anything that relies on the zeros is written.
 *
 * A recorder can be attached to see every range made durable, in order
 * (the crash simulator rebuilds images from it): either the dev->record
 * hook (offset and length, called after each flush, and after each punch:
 * the range now reads as zeros), or the recording mode below, which writes
 * a log of the ranges with their bytes (punches are not logged: an image
 * without them is one a host crash can leave).
 *
 * Recording mode (for tests: the crash simulator, tests/crash_sim.c).
 * dax_dev_record_start() appends to a log file every range flushed from
 * then on, in order, with its bytes as they were at the flush, and every
 * drain. In builds with the test hooks compiled in (UDAX_HOOKS: the
 * udax_core_* libraries the tests link), dax_dev_create() and
 * dax_dev_open() start it themselves when the environment variable
 * UDAX_DEV_RECORD names a log file (created or truncated); the installed
 * library ignores the variable. The log is:
 *
 *   struct dax_dev_rec_head      magic, version, device size, and flags:
 *                                DAX_DEV_REC_ZERO if the device was all
 *                                zeros when recording began (a device
 *                                just created), else the first record
 *                                is a BASE one holding the whole device;
 *   struct dax_dev_rec, ...      FLUSH (offset, len, then len bytes,
 *                                zero-padded to 8), DRAIN (no bytes), or
 *                                BASE (as FLUSH, the device's contents
 *                                when recording began).
 *
 * Every entry is written with one write(2) under a mutex, in the order
 * the flushes and drains were called, so the log's size at any moment
 * tells how many entries precede it. A power cut after the k-th FLUSH
 * leaves (at least) the base image plus FLUSH records 1..k; flushes after
 * the last DRAIN before that cut may also have landed in part. If a
 * write to the log fails, recording stops (a warning on stderr) and the
 * log ends early.
 */
#ifndef UDAX_DEV_DEV_H
#define UDAX_DEV_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAX_BLOCK_SHIFT 12
#define DAX_BLOCK_SIZE ((uint64_t)1 << DAX_BLOCK_SHIFT)

struct pmem2_map;
struct pmem2_source;

typedef void (*dax_dev_record_fn)(void *ctx, uint64_t offset, uint64_t len);

#define DAX_DEV_REC_MAGIC 0x3143455258414455ULL /* "UDAXREC1" */
#define DAX_DEV_REC_VERSION 1
#define DAX_DEV_REC_ZERO 0x1 /* the device started all zero: no BASE */
#define DAX_DEV_REC_ENV "UDAX_DEV_RECORD"

enum dax_dev_rec_kind {
	DAX_DEV_REC_FLUSH = 1,
	DAX_DEV_REC_DRAIN = 2,
	DAX_DEV_REC_BASE = 3,
};

struct dax_dev_rec_head {
	uint64_t magic;
	uint32_t version;
	uint32_t flags;
	uint64_t dev_size;
	uint64_t reserved;
};

struct dax_dev_rec {
	uint32_t kind;
	uint32_t reserved;
	uint64_t offset;
	uint64_t len; /* bytes that follow, padded to 8 */
};

_Static_assert(sizeof(struct dax_dev_rec_head) == 32, "record log header");
_Static_assert(sizeof(struct dax_dev_rec) == 24, "record log entry");

struct dax_dev_log;

struct dax_dev {
	int fd;
	char *base;	    /* the whole device, mapped shared */
	uint64_t size;	    /* bytes, a multiple of DAX_BLOCK_SIZE */
	uint64_t nr_blocks;
	bool devdax;	    /* a /dev/daxX.Y character device */
	bool regular;	    /* a regular file: freed blocks are punched */
	bool rdonly;	    /* opened O_RDONLY, mapped read-only */
	bool fresh;	    /* just created: reads as zeros (until mkfs) */
	bool punch_off;	    /* its file system cannot punch holes */
	int punch_inject;   /* tests (UDAX_HOOKS): punches fail with it */
	uint64_t punched;   /* blocks punched out (dax_dev_punch) */
	uint64_t punch_failed; /* blocks a punch failed for */
	int granularity;    /* enum pmem2_granularity */
	struct pmem2_source *src;
	struct pmem2_map *map;
	void (*persist)(const void *ptr, size_t size);
	void (*flush)(const void *ptr, size_t size);
	void (*drain)(void);
	dax_dev_record_fn record;
	void *record_ctx;
	struct dax_dev_log *log; /* recording mode, or NULL */
};

int dax_dev_create(const char *path, uint64_t size, struct dax_dev **devp);
int dax_dev_open(const char *path, struct dax_dev **devp);
int dax_dev_open_rdonly(const char *path, struct dax_dev **devp);
int dax_dev_open_format(const char *path, uint64_t size, uint64_t min,
			bool force, struct dax_dev **devp);
void dax_dev_close(struct dax_dev **devp);

/* Address of byte @offset / of @block in the device mapping. */
static inline void *dax_dev_ptr(struct dax_dev *dev, uint64_t offset)
{
	return dev->base + offset;
}

static inline void *dax_dev_block(struct dax_dev *dev, uint64_t block)
{
	return dev->base + (block << DAX_BLOCK_SHIFT);
}

void dax_dev_persist(struct dax_dev *dev, const void *addr, size_t len);
int dax_dev_punch(struct dax_dev *dev, uint64_t block, uint64_t nr);
int dax_dev_zero(struct dax_dev *dev, uint64_t block, uint64_t nr,
		 bool *synced);
int dax_dev_sync_zeroed(struct dax_dev *dev);
int dax_dev_next_data(struct dax_dev *dev, uint64_t from, uint64_t *start,
		      uint64_t *end);

/* Does dax_dev_punch() give space back on @dev (a regular file)? */
static inline bool dax_dev_can_punch(const struct dax_dev *dev)
{
	return dev->regular && !dev->punch_off && !dev->rdonly;
}
void dax_dev_flush(struct dax_dev *dev, const void *addr, size_t len);
void dax_dev_drain(struct dax_dev *dev);
const char *dax_dev_granularity_name(const struct dax_dev *dev);

/*
 * Recording mode (see the top of this file). dax_dev_record_start() logs
 * to a new or truncated file at @path; @zero says the device is all zeros
 * now (else its contents are logged first as a BASE record). Stopping
 * (also done by dax_dev_close()) closes the log.
 * Context: no flush or drain running on @dev.
 * Return: 0, -EBUSY (already recording), or -errno.
 */
int dax_dev_record_start(struct dax_dev *dev, const char *path, bool zero);
void dax_dev_record_stop(struct dax_dev *dev);

#endif /* UDAX_DEV_DEV_H */
