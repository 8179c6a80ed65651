/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dev.h - the device a pool lives on: a regular file (on tmpfs or any
 * filesystem), an fsdax file, or a device-DAX character device, mapped
 * once through libpmem2 and made durable through the flush/drain
 * functions libpmem2 picks for the store granularity it detects (cache
 * line flushes on real persistent memory, msync on page-cache files).
 *
 * @dev is a struct dax_dev. Opening is exclusive (flock): a second opener,
 * in this process or another, gets -EBUSY, so a pool never has two
 * writers.
 *
 * A recorder can be attached to see every range made durable, in order
 * (the crash simulator rebuilds images from it).
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

struct dax_dev {
	int fd;
	char *base;	    /* the whole device, mapped shared */
	uint64_t size;	    /* bytes, a multiple of DAX_BLOCK_SIZE */
	uint64_t nr_blocks;
	bool devdax;	    /* a /dev/daxX.Y character device */
	int granularity;    /* enum pmem2_granularity */
	struct pmem2_source *src;
	struct pmem2_map *map;
	void (*persist)(const void *ptr, size_t size);
	void (*flush)(const void *ptr, size_t size);
	void (*drain)(void);
	dax_dev_record_fn record;
	void *record_ctx;
};

int dax_dev_create(const char *path, uint64_t size, struct dax_dev **devp);
int dax_dev_open(const char *path, struct dax_dev **devp);
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
void dax_dev_flush(struct dax_dev *dev, const void *addr, size_t len);
void dax_dev_drain(struct dax_dev *dev);
const char *dax_dev_granularity_name(const struct dax_dev *dev);

#endif /* UDAX_DEV_DEV_H */
