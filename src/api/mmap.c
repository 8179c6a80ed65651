/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mmap.c - udax_mmap, udax_munmap, udax_msync, udax_prefault.
 *
 * @file is a handle, @r a region (one mapping), @fst the file state the
 * region holds a reference on (so a mapping outlives udax_close()).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <stdio.h>
#include <sys/mman.h>

#include "api.h"
#include "../index/rcu.h"

int udax_mmap(struct udax_file *file, void *addr_hint, size_t len, int prot,
	      int flags, uint64_t offset, void **addrp)
{
	DAX_API_ENTER();
	int type = flags & (MAP_SHARED | MAP_PRIVATE);
	unsigned int rflags = 0;
	struct dax_region *r;
	uint64_t pages;
	int err;

	if (!file || !addrp || !len || (offset & (DAX_PAGE_SIZE - 1)))
		return -EINVAL;
	if (flags & ~(MAP_SHARED | MAP_PRIVATE | MAP_SYNC |
		      MAP_SHARED_VALIDATE))
		return -EINVAL;
	if ((flags & MAP_SHARED_VALIDATE) == MAP_SHARED_VALIDATE)
		type = MAP_SHARED;
	if (type != MAP_SHARED && type != MAP_PRIVATE)
		return -EINVAL;
	if ((flags & MAP_SYNC) && type != MAP_SHARED)
		return -EINVAL;
	if (prot & ~(PROT_READ | PROT_WRITE))
		return -EINVAL;
	if ((file->oflags & O_ACCMODE) == O_WRONLY)
		return -EACCES;
	if (type == MAP_SHARED && (prot & PROT_WRITE) &&
	    (file->oflags & O_ACCMODE) == O_RDONLY)
		return -EACCES;
	pages = (len + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
	if (pages > DAX_FS_MAX_FILE_PAGES ||
	    (offset >> DAX_PAGE_SHIFT) + pages > DAX_FS_MAX_FILE_PAGES)
		return -EINVAL;
	if (type == MAP_SHARED)
		rflags |= DAX_REGION_SHARED;
	if (flags & MAP_SYNC)
		rflags |= DAX_REGION_SYNC;
	err = dax_vm_init();
	if (err)
		return err;
	if (!dax_api_chaining() && !dax_vm_handler_installed()) {
		/*
		 * Someone replaced udax's SIGSEGV handler: faults on the new
		 * mapping would never reach udax. Say so rather than map.
		 */
		fprintf(stderr, "udax: SIGSEGV is not handled by udax (a "
				"handler was installed after it); call "
				"udax_handle_fault() from yours and declare it "
				"with udax_set_fault_chaining(1)\n");
		return -EBUSY;
	}
	dax_fstate_ref(file->fst);
	err = dax_vm_map(&file->fst->vf, addr_hint, pages << DAX_PAGE_SHIFT,
			 prot, rflags, offset >> DAX_PAGE_SHIFT, &r);
	if (err) {
		dax_fstate_put(file->fst);
		return err;
	}
	r->owner = file->fst;
	*addrp = r->addr;
	return 0;
}

/* Find the region that starts at @addr, with a reference on its file. */
static struct dax_region *region_get(const void *addr, struct dax_fstate **fstp)
{
	struct dax_region *r;

	dax_rcu_read_lock();
	r = dax_vm_find(addr);
	if (r && r->nr_pages) {
		*fstp = r->owner;
		dax_fstate_ref(*fstp);
	} else {
		r = NULL;
	}
	dax_rcu_read_unlock();
	return r;
}

int udax_munmap(void *addr, size_t len)
{
	DAX_API_ENTER();
	struct dax_fstate *fst;
	struct dax_region *r;
	int err;

	if (!addr)
		return -EINVAL;
	r = region_get(addr, &fst);
	if (!r)
		return -EINVAL;
	if ((char *)addr != r->addr ||
	    ((len + DAX_PAGE_SIZE - 1) & ~(DAX_PAGE_SIZE - 1)) != r->len) {
		dax_fstate_put(fst);
		return -EINVAL; /* only whole mappings */
	}
	err = dax_vm_unmap(r);
	dax_fstate_put(fst); /* region_get's */
	if (!err)
		dax_fstate_put(fst); /* the mapping's */
	return err;
}

int udax_msync(void *addr, size_t len, int flags)
{
	DAX_API_ENTER();
	struct dax_fstate *fst;
	struct dax_region *r;
	uint64_t first, last;
	int err;

	if (!addr || ((uintptr_t)addr & (DAX_PAGE_SIZE - 1)))
		return -EINVAL;
	if (flags & ~(MS_SYNC | MS_ASYNC | MS_INVALIDATE))
		return -EINVAL;
	if (!len)
		return 0;
	r = region_get(addr, &fst);
	if (!r)
		return -ENOMEM; /* as msync(2) for unmapped memory */
	if ((char *)addr + len > r->addr + r->len) {
		dax_fstate_put(fst);
		return -ENOMEM;
	}
	first = r->pgoff + (uint64_t)((char *)addr - r->addr) / DAX_PAGE_SIZE;
	last = r->pgoff +
	       (uint64_t)((char *)addr + len - 1 - r->addr) / DAX_PAGE_SIZE;
	err = dax_writeback(&fst->fmap, first, last);
	dax_fstate_put(fst);
	return err;
}

int udax_prefault(void *addr, size_t len, int write)
{
	DAX_API_ENTER();
	char *p = (char *)((uintptr_t)addr & ~(DAX_PAGE_SIZE - 1));
	char *end = (char *)addr + len;
	int err = 0;

	if (!addr || (char *)addr + len < (char *)addr)
		return -EINVAL;
	for (; p < end && !err; p += DAX_PAGE_SIZE) {
		struct dax_region *r;

		dax_rcu_read_lock();
		r = dax_vm_find(p);
		if (!r) {
			err = -EFAULT;
		} else {
			uint64_t i = (uint64_t)(p - r->addr) >> DAX_PAGE_SHIFT;
			uint8_t s = atomic_load(&r->pte[i]) &
				    DAX_PTE_STATE_MASK;

			if (s == DAX_PTE_NONE ||
			    (write && s != DAX_PTE_RW && s != DAX_PTE_PRIVATE))
				err = dax_vm_fault(r, p, write);
		}
		dax_rcu_read_unlock();
	}
	return err;
}

ssize_t udax_retry_efault(ssize_t (*call)(void *arg), void *arg, void *buf,
			  size_t len, int write)
{
	ssize_t ret = -EFAULT;

	if (!call || (!buf && len))
		return -EINVAL;
	for (int tries = 0; tries < 16; tries++) {
		int err = len ? udax_prefault(buf, len, write) : 0;

		if (err)
			return err;
		/* Outside udax while the call runs: its faults are ours. */
		errno = 0;
		ret = call(arg);
		if (!(ret == -EFAULT || (ret == -1 && errno == EFAULT)))
			return ret;
	}
	return ret;
}
