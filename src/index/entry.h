/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * entry.h - encoding of the words stored in the slots of the entry index.
 *
 * A slot holds one machine word (a "slot word"). It is one of:
 *
 *   0                      nothing at this index
 *   value entry            bit 0 set: a DAX entry (see below)
 *   node pointer           low bits 10: a child node (nodes are aligned)
 *   sibling                low bits 10, value < DAX_SIBLING_LIMIT: this
 *                          slot is covered by the multi-order entry whose
 *                          canonical slot is at offset (word >> 2)
 *
 * A value entry ("entry" in the rest of udax) is
 *
 *   bit 0      VALUE    always set
 *   bit 1      LOCKED   the entry lock (the seed's RADIX_DAX_ENTRY_LOCK)
 *   bit 2      WAITERS  somebody may sleep in the wait table on this entry
 *   bit 3      PMD      covers DAX_PMD_NR indexes, from a PMD-aligned index
 *   bit 4      ZERO     mapped to the (huge) zero page; no block
 *   bit 5      EMPTY    placeholder that exists only to be locked
 *   bits 6-63  block    device block number (4 KiB units) for mapped entries
 *
 * LOCKED and WAITERS change by compare-and-swap without the index lock;
 * every other bit changes only while the entry is locked (or under the
 * index lock for entries being inserted or erased).
 */
#ifndef UDAX_INDEX_ENTRY_H
#define UDAX_INDEX_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

typedef uintptr_t dax_entry_t;

#define DAX_ENTRY_VALUE ((dax_entry_t)1 << 0)
#define DAX_ENTRY_LOCKED ((dax_entry_t)1 << 1)
#define DAX_ENTRY_WAITERS ((dax_entry_t)1 << 2)
#define DAX_ENTRY_PMD ((dax_entry_t)1 << 3)
#define DAX_ENTRY_ZERO ((dax_entry_t)1 << 4)
#define DAX_ENTRY_EMPTY ((dax_entry_t)1 << 5)
#define DAX_ENTRY_SHIFT 6
#define DAX_ENTRY_FLAG_MASK (((dax_entry_t)1 << DAX_ENTRY_SHIFT) - 1)
/* Bits that describe what the entry is, as opposed to its lock state. */
#define DAX_ENTRY_KIND_MASK (DAX_ENTRY_PMD | DAX_ENTRY_ZERO | DAX_ENTRY_EMPTY)
#define DAX_ENTRY_MAX_BLOCK (UINTPTR_MAX >> DAX_ENTRY_SHIFT)

/* Internal slot words (node pointers and siblings) have bits 1:0 == 10. */
#define DAX_SLOT_INTERNAL ((uintptr_t)2)
#define DAX_SLOT_TYPE_MASK ((uintptr_t)3)
#define DAX_SIBLING_LIMIT ((uintptr_t)4096)

/* A PMD entry covers 2 MiB of 4 KiB pages. */
#define DAX_PAGE_SHIFT 12
#define DAX_PMD_ORDER 9
#define DAX_PMD_NR ((uint64_t)1 << DAX_PMD_ORDER)
#define DAX_PMD_MASK (~(DAX_PMD_NR - 1))

_Static_assert(sizeof(dax_entry_t) == 8, "udax needs 64-bit slot words");
_Static_assert(DAX_ENTRY_EMPTY < ((dax_entry_t)1 << DAX_ENTRY_SHIFT),
	       "entry flags overlap the block number");
_Static_assert((DAX_ENTRY_VALUE & DAX_SLOT_TYPE_MASK) != DAX_SLOT_INTERNAL,
	       "value entries must not look like internal slot words");
_Static_assert(DAX_ENTRY_LOCKED == DAX_SLOT_INTERNAL,
	       "bit 1 is LOCKED in values, the internal marker otherwise: "
	       "bit 0 alone tells them apart");

static inline bool dax_slot_is_value(uintptr_t w)
{
	return w & DAX_ENTRY_VALUE;
}

static inline bool dax_slot_is_internal(uintptr_t w)
{
	return (w & DAX_SLOT_TYPE_MASK) == DAX_SLOT_INTERNAL;
}

static inline bool dax_slot_is_sibling(uintptr_t w)
{
	return dax_slot_is_internal(w) && w < DAX_SIBLING_LIMIT;
}

static inline bool dax_slot_is_node(uintptr_t w)
{
	return dax_slot_is_internal(w) && w >= DAX_SIBLING_LIMIT;
}

static inline uintptr_t dax_mk_sibling(unsigned int offset)
{
	return ((uintptr_t)offset << 2) | DAX_SLOT_INTERNAL;
}

static inline unsigned int dax_sibling_offset(uintptr_t w)
{
	return (unsigned int)(w >> 2);
}

/* Make a value entry for @block with kind flags @flags (PMD/ZERO/EMPTY). */
static inline dax_entry_t dax_mk_entry(uint64_t block, dax_entry_t flags)
{
	return ((dax_entry_t)block << DAX_ENTRY_SHIFT) |
	       (flags & DAX_ENTRY_FLAG_MASK) | DAX_ENTRY_VALUE;
}

static inline uint64_t dax_entry_block(dax_entry_t e)
{
	return e >> DAX_ENTRY_SHIFT;
}

static inline bool dax_entry_locked(dax_entry_t e)
{
	return e & DAX_ENTRY_LOCKED;
}

static inline bool dax_entry_is_pmd(dax_entry_t e)
{
	return e & DAX_ENTRY_PMD;
}

static inline bool dax_entry_is_zero(dax_entry_t e)
{
	return e & DAX_ENTRY_ZERO;
}

static inline bool dax_entry_is_empty(dax_entry_t e)
{
	return e & DAX_ENTRY_EMPTY;
}

/* Order of the entry: 0 for a 4 KiB entry, DAX_PMD_ORDER for a PMD. */
static inline unsigned int dax_entry_order(dax_entry_t e)
{
	return dax_entry_is_pmd(e) ? DAX_PMD_ORDER : 0;
}

/* Two entries are the same entry if they differ only in lock state. */
static inline bool dax_entry_same(dax_entry_t a, dax_entry_t b)
{
	dax_entry_t lock_bits = DAX_ENTRY_LOCKED | DAX_ENTRY_WAITERS;

	return (a & ~lock_bits) == (b & ~lock_bits);
}

#endif /* UDAX_INDEX_ENTRY_H */
