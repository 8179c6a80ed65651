/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * truncate.c - truncate and punch hole.
 *
 * @f is the file mapping. Both run with the fs mmap lock exclusive, so no
 * fault or read/write runs; then, in this order: unmap the range from
 * every region, delete its entries (waiting for entry locks still held
 * by writeback, and waking all waiters), and only then let the filesystem
 * free the blocks. A block is therefore never freed while mapped or while
 * someone holds its entry.
 *
 * Partial pages are zeroed on the device, so that bytes cut off by a
 * truncate never come back when the file grows again.
 *
 * Fail closed: if the kernel refuses to unmap (the VM reports -ENOMEM),
 * the call returns that error before anything is freed or resized.
 */
#include <errno.h>

#include "fault_priv.h"

/*
 * dax_truncate() - set the size of @f's file to @size bytes.
 * Shrinking unmaps and deletes every entry beyond the new last page and
 * frees the blocks; growing only zeroes the old partial last page.
 * Context: takes the fs mmap lock exclusive; may sleep.
 * Return: 0 or -errno (-ENOMEM: could not unmap; nothing changed).
 */
int dax_truncate(struct dax_fmap *f, uint64_t size)
{
	uint64_t old, first;
	int err = 0;

	f->fs->mmap_lock(f->file, true);
	old = f->fs->size(f->file);
	if (size < old) {
		/*
		 * Free the blocks and zero the tail first, set the size last
		 * (with the mmap lock exclusive nobody sees the steps). The
		 * other order let a crash (or a failing free_range) between
		 * the size commit and the freeing leave blocks beyond EOF that
		 * still held the cut-off data: mount keeps them, and the next
		 * ftruncate up, write past EOF or fallocate showed that data
		 * again where zeros belong (found by tests/api_crash). Now a
		 * crash leaves the old size over holes and a zeroed tail: the
		 * truncate partly done, nothing stale beyond EOF.
		 */
		first = (size + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
		err = dax_unmap_entries(f, first, UINT64_MAX);
		if (!err)
			err = f->fs->free_range(f->file, first, UINT64_MAX);
		if (!err)
			err = dax_zero_page_tail(f, size);
		if (!err)
			err = f->fs->set_size(f->file, size);
	} else if (size > old) {
		err = dax_zero_page_tail(f, old);
		if (!err)
			err = f->fs->set_size(f->file, size);
	}
	f->fs->mmap_unlock(f->file, true);
	return err;
}

/*
 * dax_punch_hole() - deallocate bytes [@offset, @offset + @len) of @f's
 * file, keeping its size: whole pages lose their blocks, partial pages at
 * either end are zeroed.
 * Context: takes the fs mmap lock exclusive; may sleep.
 * Return: 0 or -errno (-EINVAL for a range that wraps).
 */
int dax_punch_hole(struct dax_fmap *f, uint64_t offset, uint64_t len)
{
	uint64_t end, size, first, stop;
	int err = 0;

	if (offset + len < offset)
		return -EINVAL;
	f->fs->mmap_lock(f->file, true);
	size = f->fs->size(f->file);
	end = offset + len < size ? offset + len : size;
	if (offset >= end)
		goto out;
	first = (offset + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
	stop = end >> DAX_PAGE_SHIFT; /* first page not wholly punched */
	if (first > stop) {
		/* Inside one page. */
		err = dax_zero_in_page(f, offset, end);
		goto out;
	}
	/*
	 * Free the whole pages before zeroing the partial ones: freeing can
	 * fail (-ENOSPC: splitting the extent needs an extent block), and a
	 * failed call must change nothing; zeroing first had already cleared
	 * the bytes at both ends (found by tests/api_crash on a full pool).
	 */
	if (first < stop) {
		err = dax_unmap_entries(f, first, stop - 1);
		if (!err)
			err = f->fs->free_range(f->file, first, stop - 1);
		if (err)
			goto out;
	}
	err = dax_zero_in_page(f, offset, first << DAX_PAGE_SHIFT);
	if (!err && stop < (size + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT)
		err = dax_zero_in_page(f, stop << DAX_PAGE_SHIFT, end);
out:
	f->fs->mmap_unlock(f->file, true);
	return err;
}
