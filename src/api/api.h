/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api.h - what the public calls share: the pool, the per-file state that
 * ties the filesystem's inode to the fault engine and the VM, and handles.
 *
 * @pool is a struct udax_pool, @fst a struct dax_fstate (one per open
 * inode, however many handles and mappings use it: it holds the file's
 * entry index, so every mapping of a file shares the same entry locks),
 * @file a struct udax_file (one per udax_open()).
 *
 * References: each handle and each mapping holds one reference on its
 * fstate; an fstate holds the inode reference. pool->lock protects the
 * reference counts and the fstate list. A fault runs inside an RCU
 * read-side critical section from the moment it finds its region (the
 * SIGSEGV handler, udax_prefault), and holds no reference: so the last
 * put waits for a grace period before it frees the fstate (index, inode
 * reference). Lock order: pool->lock -> fs
 * locks. pool->lock is never held across a fault or I/O.
 */
#ifndef UDAX_API_API_H
#define UDAX_API_API_H

#include <pthread.h>

#include <udax/udax.h>

#include "../dev/dev.h"
#include "../fault/fault.h"
#include "../fs/fs.h"
#include "../vm/vm.h"
#include "../index/rcu.h"

struct dax_fstate {
	struct udax_pool *pool;
	struct dax_inode *ip;
	struct dax_fmap fmap;
	struct dax_vm_file vf;
	unsigned long refs; /* under pool->lock */
	struct dax_fstate *next;
};

struct udax_pool {
	struct dax_dev *dev;
	struct dax_fs *fs;
	pthread_mutex_t lock;
	unsigned long users; /* handles + mappings, under lock */
	bool rdonly;	     /* UDAX_POOL_RDONLY: every change is -EROFS */
	struct dax_fstate *files;
};

struct udax_file {
	struct dax_fstate *fst;
	int oflags;
};

bool dax_api_chaining(void);
int dax_fstate_get(struct udax_pool *pool, struct dax_inode *ip,
		   struct dax_fstate **fstp);
void dax_fstate_put(struct dax_fstate *fst);
void dax_fstate_ref(struct dax_fstate *fst);

#endif /* UDAX_API_API_H */
