/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rw.c - read(2)/write(2) on a DAX file (the kernel's dax_iomap_rw): data
 * is copied straight between the caller's buffer and the blocks.
 *
 * @f is the file mapping, @map the extent being copied.
 *
 * The one interaction with mappings: a write that allocates blocks may
 * land where a read fault mapped the zero page (a hole), with a ZERO
 * entry or as part of a zero span (no entry). The zero pages of the range
 * are unmapped everywhere and every ZERO entry in the newly allocated
 * range is locked and deleted before the data is copied, so no region
 * keeps showing zeros over written data. hole_gen is bumped after each
 * iomap that may allocate and before the zap, so a zero span that saw the
 * hole earlier is either removed by the zap or not mapped at all. The entry lock orders this against a fault in
 * progress: a fault that saw the hole finishes first and its zero page is
 * then removed; a fault that starts later finds the block.
 *
 * Writes run concurrently (mmap lock shared), so a write may also find
 * blocks that another write has just allocated and not yet cleared of
 * zero pages. It must not return with its data hidden behind them: every
 * write clears zero pages from the range it copies to, not only from what
 * it allocated itself.
 *
 * The buffer must not be a udax mapping (that would fault while we hold
 * the mmap lock): the API layer bounces or prefaults.
 */
#include <errno.h>
#include <string.h>

#include "fault_priv.h"
#include "../index/rcu.h"

/*
 * Remove zero pages from [first, last]: first the zero pages that spans
 * mapped without entries (one zap in every region), then the zero-page
 * entries (and stale placeholders). With @all, lock every entry found;
 * else pass over entries that already hold a block without locking them
 * (a block entry cannot turn back into a zero page while our mmap lock
 * keeps punch hole and truncate out).
 * Return: 0, or -errno if a zero page could not be unmapped (it may
 * still hide the blocks: the caller must not report them written).
 */
static int invalidate_zero_entries(struct dax_fmap *f, uint64_t first,
				   uint64_t last, bool all)
{
	uint64_t index = first;
	dax_entry_t e;
	int err;

	err = f->vm->zap(f->vm_ctx, first, last, DAX_ZAP_ZERO);
	if (err)
		return err;
	for (;;) {
		DAX_CURSOR(cur, 0, &f->m.idx, 0);
		uint64_t next;
		bool found;

		dax_rcu_read_lock();
		found = dax_idx_next_entry(&f->m.idx, &index, last, &e);
		dax_rcu_read_unlock();
		if (!found)
			break;
		/* With @all, lock even entries that look like blocks: a fault
		 * may be turning a placeholder into a zero page right now. */
		cur.index = index;
		next = index + 1;
		if (!all && !dax_entry_is_zero(e) && !dax_entry_is_empty(e))
			next = index + ((uint64_t)1 << dax_entry_order(e));
		else if (dax_entry_grab(&f->m, &cur, DAX_GRAB_EXISTING, &e) ==
			 0) {
			uint64_t eidx = dax_idx_entry_index(&cur, e);
			uint64_t nr = (uint64_t)1 << dax_entry_order(e);

			next = eidx + nr;
			if (dax_entry_is_zero(e) || dax_entry_is_empty(e)) {
				if (dax_entry_is_zero(e))
					err = f->vm->zap(f->vm_ctx, eidx,
							 eidx + nr - 1,
							 DAX_ZAP_ZERO);
				if (err) {
					dax_entry_unlock(&f->m, &cur);
					return err;
				}
				dax_entry_delete_locked(&f->m, &cur);
				fault_stat(f, zapped_zero);
			} else {
				dax_entry_unlock(&f->m, &cur);
			}
		}
		if (next == 0 || next > last || next <= index)
			break;
		index = next;
	}
	return 0;
}

/*
 * dax_read() - copy up to @len bytes at @pos of @f's file into @buf;
 * holes read as zeros.
 * Context: takes the fs mmap lock shared; no entry lock.
 * Return: bytes read (0 at or beyond EOF) or -errno.
 */
ssize_t dax_read(struct dax_fmap *f, void *buf, size_t len, uint64_t pos)
{
	uint64_t size, done = 0;
	int err = 0;

	f->fs->mmap_lock(f->file, false);
	size = f->fs->size(f->file);
	if (pos >= size)
		goto out;
	if (len > size - pos)
		len = (size_t)(size - pos);
	while (done < len) {
		uint64_t at = pos + done, index = at >> DAX_PAGE_SHIFT;
		uint64_t last = (pos + len - 1) >> DAX_PAGE_SHIFT;
		struct dax_iomap map = { 0 };
		uint64_t n;

		err = f->fs->iomap_begin(f->file, index, last - index + 1, 0,
					 &map);
		if (err)
			break;
		n = ((map.index + map.nr) << DAX_PAGE_SHIFT) - at;
		if (n > len - done)
			n = len - done;
		if (map.type == DAX_IOMAP_HOLE) {
			memset((char *)buf + done, 0, n);
		} else {
			char *src = f->dev->addr(f->dev_ctx,
						 map.block + (index - map.index));

			memcpy((char *)buf + done,
			       src + (at & (DAX_PAGE_SIZE - 1)), n);
		}
		f->fs->iomap_end(f->file, &map);
		done += n;
	}
out:
	f->fs->mmap_unlock(f->file, false);
	return done ? (ssize_t)done : err;
}

/*
 * Copy what fits of @buf[0, @len) into the extent at byte @at of the file
 * (allocating it if it is a hole), clear the zero pages over it, flush.
 * @last is the file page of the write's last byte.
 * Return: bytes copied (> 0), or -errno.
 */
static ssize_t write_extent(struct dax_fmap *f, const char *buf, uint64_t len,
			    uint64_t at, uint64_t last)
{
	uint64_t index = at >> DAX_PAGE_SHIFT, n, nr_pages, block;
	struct dax_iomap map = { 0 };
	char *dst;
	int err;

	err = f->fs->iomap_begin(f->file, index, last - index + 1,
				 DAX_IOMAP_WRITE, &map);
	if (err)
		return err;
	dax_fmap_hole_gen_bump(f);
	if (map.type != DAX_IOMAP_MAPPED) {
		err = -EIO;
		goto end;
	}
	DAX_HOOK(f, DAX_HOOK_RW_MAPPED, index);
	n = ((map.index + map.nr) << DAX_PAGE_SHIFT) - at;
	if (n > len)
		n = len;
	nr_pages = ((at + n - 1) >> DAX_PAGE_SHIFT) - index + 1;
	/*
	 * Blocks we did not allocate may be another write's, still behind
	 * its zero pages (see the top of this file): clear those too,
	 * without locking entries that hold blocks.
	 */
	err = invalidate_zero_entries(f, index, index + nr_pages - 1,
				      map.flags & DAX_IOMAP_F_NEW);
	if (err)
		goto end;
	block = map.block + (index - map.index);
	dst = f->dev->addr(f->dev_ctx, block);
	memcpy(dst + (at & (DAX_PAGE_SIZE - 1)), buf, n);
	f->dev->flush(f->dev_ctx, block, nr_pages);
end:
	f->fs->iomap_end(f->file, &map);
	return err ? err : (ssize_t)n;
}

/*
 * After a write of @done of the bytes [@pos, @end) to a file of @size
 * bytes (set to @end before the copy if @sized): make the size say what
 * was written.
 * Return: 0 or -errno.
 */
static int write_set_size(struct dax_fmap *f, uint64_t pos, uint64_t done,
			  uint64_t end, uint64_t size, bool sized)
{
	if (sized && pos + done < end) {
		/*
		 * Short: back to what was written (no block lies beyond). If
		 * nothing was, back to the old size even when @pos lay past
		 * it: a failed write changes nothing (tests/api_enospc: a
		 * pwrite past EOF that got -ENOSPC grew the file to @pos).
		 */
		return f->fs->set_size(f->file, done && pos + done > size
							? pos + done
							: size);
	}
	if (!sized && done && pos + done > f->fs->size(f->file))
		return f->fs->set_size(f->file, pos + done);
	return 0;
}

/*
 * dax_write() - copy @len bytes from @buf to @pos of @f's file,
 * allocating blocks as needed and growing the file; the data is flushed
 * to the device before returning (like the kernel's flushcache copy).
 * Context: takes the fs mmap lock (exclusive when the write grows the
 * file, so concurrent extending writes cannot shrink each other); takes
 * entry locks to invalidate zero pages; may sleep.
 * Return: bytes written, or -errno if none (-ENOSPC, -EFBIG).
 */
ssize_t dax_write(struct dax_fmap *f, const void *buf, size_t len,
		  uint64_t pos)
{
	uint64_t end = pos + len, size, done = 0;
	bool grow, sized = false;
	int err = 0, e2;

	if (end < pos)
		return -EFBIG;
	if (!len)
		return 0;
	f->fs->mmap_lock(f->file, false);
	grow = end > f->fs->size(f->file);
	if (grow) {
		f->fs->mmap_unlock(f->file, false);
		f->fs->mmap_lock(f->file, true);
	}
	size = f->fs->size(f->file);
	/* The gap reads as zeros: clear the old partial page. */
	if (pos > size) {
		err = dax_zero_page_tail(f, size);
		if (err)
			goto out;
	}
	/*
	 * Grow the file before copying, not after (the mmap lock is
	 * exclusive: nobody sees the order). Copying first let a crash
	 * before the size commit leave blocks beyond EOF holding the new
	 * bytes: mount keeps them, and a later ftruncate up, write past EOF
	 * or fallocate showed them where zeros belong (found by
	 * tests/api_crash). Now a crash leaves the new size over zeroed
	 * blocks and part of the data: a torn write. If the size cannot be
	 * set (beyond the largest file), write what fits the old way.
	 */
	if (end > size && f->fs->set_size(f->file, end) == 0)
		sized = true;
	while (done < len) {
		ssize_t n = write_extent(f, (const char *)buf + done,
					 len - done, pos + done,
					 (end - 1) >> DAX_PAGE_SHIFT);

		if (n < 0) {
			err = (int)n;
			break;
		}
		done += (uint64_t)n;
	}
	e2 = write_set_size(f, pos, done, end, size, sized);
	if (e2 && !err)
		err = e2;
out:
	f->fs->mmap_unlock(f->file, grow);
	return done ? (ssize_t)done : err;
}

/*
 * dax_allocate() - give bytes [@offset, @offset + @len) of @f's file
 * blocks (fallocate mode 0), growing the file unless @keep_size. Like a
 * write of zeros, minus the copy: zero-page entries in newly allocated
 * ranges are invalidated so mappings see the (zeroed) blocks.
 * Context: takes the fs mmap lock exclusive; may sleep.
 * Return: 0 or -errno (-ENOSPC: what was allocated stays allocated).
 */
int dax_allocate(struct dax_fmap *f, uint64_t offset, uint64_t len,
		 bool keep_size)
{
	uint64_t end = offset + len, index, last;
	int err = 0;

	if (!len || end < offset)
		return -EINVAL;
	index = offset >> DAX_PAGE_SHIFT;
	last = (end - 1) >> DAX_PAGE_SHIFT;
	f->fs->mmap_lock(f->file, true);
	while (index <= last) {
		struct dax_iomap map = { 0 };
		uint64_t n;

		err = f->fs->iomap_begin(f->file, index, last - index + 1,
					 DAX_IOMAP_WRITE, &map);
		if (err)
			break;
		dax_fmap_hole_gen_bump(f);
		n = map.index + map.nr - index;
		if (n > last - index + 1)
			n = last - index + 1;
		if (map.flags & DAX_IOMAP_F_NEW)
			err = invalidate_zero_entries(f, index, index + n - 1,
						      true);
		f->fs->iomap_end(f->file, &map);
		if (err)
			break;
		index += n;
	}
	if (!err && !keep_size && end > f->fs->size(f->file)) {
		uint64_t size = f->fs->size(f->file);

		/*
		 * The old last page is mapped whole, so stores through a
		 * mapping may have left bytes past EOF in it: zero them
		 * before they become part of the file, as truncate and write
		 * do when they grow it (found by the pool fuzzer: a store
		 * past EOF through a mapping, then fallocate, and pread
		 * returned the store where zeros belong).
		 */
		err = dax_zero_page_tail(f, size);
		if (!err)
			err = f->fs->set_size(f->file, end);
	}
	f->fs->mmap_unlock(f->file, true);
	return err;
}
