/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iomap.h - the contract between a filesystem and the fault engine (the
 * kernel's include/linux/iomap.h): how a filesystem describes the blocks
 * of a file's pages (struct dax_iomap), and the operations it provides to
 * the engine (struct dax_iomap_ops). src/fs implements it for udax files,
 * tests/harness and bench/ for in-memory files; src/fault calls it.
 *
 * It sits below both and includes nothing of udax, so neither layer
 * reaches into the other for it. Pages are 4 KiB (DAX_PAGE_SHIFT); a
 * 2 MiB window is 512 of them (DAX_PMD_NR).
 *
 * @file is the filesystem's own handle of one file (void * to the engine),
 * @index a page of it, @map one extent.
 */
#ifndef UDAX_IOMAP_H
#define UDAX_IOMAP_H

#include <stdbool.h>
#include <stdint.h>

/* What iomap_begin found or made for a range of pages. */
enum dax_iomap_type {
	DAX_IOMAP_HOLE,	  /* no blocks: reads see zeros */
	DAX_IOMAP_MAPPED, /* blocks from @block on */
};

#define DAX_IOMAP_F_NEW 0x1   /* blocks allocated by this call */
#define DAX_IOMAP_F_DIRTY 0x2 /* metadata changed, not yet durable */

struct dax_iomap {
	enum dax_iomap_type type;
	uint64_t index; /* first page of the extent (<= requested index) */
	uint64_t nr;	/* pages in the extent */
	uint64_t block; /* device block of @index when MAPPED */
	unsigned int flags;
};

/* Flags to iomap_begin. */
#define DAX_IOMAP_WRITE 0x1 /* allocate blocks for holes */
#define DAX_IOMAP_FAULT 0x2 /* called from a page fault */
/*
 * Without DAX_IOMAP_WRITE: describe the whole extent (mapped run or hole)
 * containing @index inside its 2 MiB window [@index & DAX_PMD_MASK,
 * @index + @nr): map->index may then be below @index.
 */
#define DAX_IOMAP_AROUND 0x4

struct dax_iomap_ops {
	/*
	 * Describe the extent containing page @index, looking at most @nr
	 * pages ahead; with DAX_IOMAP_WRITE allocate (zeroed) blocks for a
	 * hole, as many of the @nr as it can from @index on, preferring one
	 * 2 MiB-aligned extent when @nr is DAX_PMD_NR. Return 0 or -errno
	 * (-ENOSPC when no block is left).
	 */
	int (*iomap_begin)(void *file, uint64_t index, uint64_t nr,
			   unsigned int flags, struct dax_iomap *map);
	/* Done with @map (may be NULL). */
	void (*iomap_end)(void *file, struct dax_iomap *map);
	/* File size in bytes. */
	uint64_t (*size)(void *file);
	/* Set the size (truncate); blocks beyond are freed by free_range. */
	int (*set_size)(void *file, uint64_t size);
	/* Free the blocks of pages [first, last]: they are mapped nowhere. */
	int (*free_range)(void *file, uint64_t first, uint64_t last);
	/* Make metadata durable (synchronous faults); 0 or -errno. */
	int (*sync)(void *file);
	/* The per-file mmap lock ("invalidate lock"). */
	void (*mmap_lock)(void *file, bool exclusive);
	void (*mmap_unlock)(void *file, bool exclusive);
};

#endif /* UDAX_IOMAP_H */
