/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dir.c - the flat namespace: names live inline in their inodes; in
 * memory a hash table (FNV-1a, chained through ip->hnext) maps a name to
 * its inode. Lookup, create, unlink, rename, readdir.
 *
 * @fs is the filesystem, @ip an inode, @name a NUL-terminated name of
 * 1..DAX_FS_NAME_MAX bytes.
 *
 * Locking: fs->lock guards the hash table and every call here. Invariant:
 * an inode is in the hash iff it is used and not an orphan, and no two
 * inodes in it have the same name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_priv.h"

/*
 * fs_name_hash() - hash of the @len bytes of @name.
 * Context: any.
 * Return: 64-bit FNV-1a.
 */
uint64_t fs_name_hash(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * fs_names_init() - allocate the hash table, sized for the inode count.
 * Context: mount or fsck.
 * Return: 0 or -ENOMEM.
 */
int fs_names_init(struct dax_fs *fs)
{
	uint64_t n = 16;

	while (n < fs->nr_inodes && n < (1U << 20))
		n <<= 1;
	fs->htab = calloc(n, sizeof(*fs->htab));
	if (!fs->htab)
		return -ENOMEM;
	fs->hmask = n - 1;
	return 0;
}

/*
 * fs_name_find() - the inode named by the @len bytes at @name.
 * Context: fs->lock held (or loading).
 * Return: the inode (no reference taken) or NULL.
 */
struct dax_inode *fs_name_find(struct dax_fs *fs, const char *name,
			       size_t len)
{
	struct dax_inode *ip = fs->htab[fs_name_hash(name, len) & fs->hmask];

	for (; ip; ip = ip->hnext)
		if (ip->disk.name_len == len &&
		    !memcmp(ip->disk.name, name, len))
			return ip;
	return NULL;
}

/*
 * fs_name_insert() / fs_name_remove() - add @ip under its name / take it
 * out.
 * Context: fs->lock held (or loading).
 */
void fs_name_insert(struct dax_fs *fs, struct dax_inode *ip)
{
	struct dax_inode **head =
		&fs->htab[fs_name_hash(ip->disk.name, ip->disk.name_len) &
			  fs->hmask];

	ip->hnext = *head;
	*head = ip;
}

void fs_name_remove(struct dax_fs *fs, struct dax_inode *ip)
{
	struct dax_inode **pp =
		&fs->htab[fs_name_hash(ip->disk.name, ip->disk.name_len) &
			  fs->hmask];

	while (*pp && *pp != ip)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = ip->hnext;
	ip->hnext = NULL;
}

/* Length of @name, or -errno if it cannot be a name. */
static long name_check(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, DAX_FS_NAME_MAX + 1);
	if (len > DAX_FS_NAME_MAX)
		return -ENAMETOOLONG;
	return (long)len;
}

/*
 * dax_fs_lookup() - find @name and take a reference on its inode.
 * Context: takes fs->lock.
 * Return: 0 and *@ip; -ENOENT, -ENAMETOOLONG, -EINVAL.
 */
int dax_fs_lookup(struct dax_fs *fs, const char *name, struct dax_inode **ip)
{
	long len = name_check(name);
	struct dax_inode *found;

	if (len < 0)
		return (int)len;
	if (!fs || !ip)
		return -EINVAL;
	if (!len)
		return -ENOENT;
	pthread_mutex_lock(&fs->lock);
	found = fs_name_find(fs, name, (size_t)len);
	if (found)
		found->refs++;
	pthread_mutex_unlock(&fs->lock);
	if (!found)
		return -ENOENT;
	*ip = found;
	return 0;
}

/* A free inode slot, searching from the hint; one exists. */
static uint32_t ino_find(struct dax_fs *fs)
{
	for (uint64_t i = 0; i < fs->nr_inodes; i++) {
		uint64_t ino = (fs->ino_hint + i) % fs->nr_inodes;

		if (!fs->inodes[ino])
			return (uint32_t)ino;
	}
	abort(); /* free_inodes said there was one */
}

/*
 * dax_fs_create() - create an empty regular file @name with permission
 * bits @mode and take a reference on it. One transaction.
 * Context: takes fs->lock.
 * Return: 0 and *@ip; -EEXIST, -ENAMETOOLONG, -EINVAL (empty name),
 * -ENOSPC (no free inode), -ENOMEM.
 */
int dax_fs_create(struct dax_fs *fs, const char *name, mode_t mode,
		  struct dax_inode **ip)
{
	long len = name_check(name);
	struct dax_inode *new;
	uint32_t ino;
	int err = 0;

	if (len < 0)
		return (int)len;
	if (!fs || !ip || !len)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	if (fs_name_find(fs, name, (size_t)len)) {
		err = -EEXIST;
		goto out;
	}
	if (!fs->free_inodes) {
		err = -ENOSPC;
		goto out;
	}
	ino = ino_find(fs);
	new = fs_inode_new(fs, ino);
	if (!new) {
		err = -ENOMEM;
		goto out;
	}
	new->disk.flags = DAX_FS_INODE_USED;
	new->disk.mode = S_IFREG | (mode & 07777);
	new->disk.generation = fs->next_gen++;
	new->disk.mtime_ns = new->disk.ctime_ns = fs_now_ns();
	new->disk.name_len = (uint16_t)len;
	memcpy(new->disk.name, name, (size_t)len);
	fs_tx_begin(fs);
	fs_tx_dirty_inode(fs, new);
	fs_tx_commit(fs);
	fs->inodes[ino] = new;
	fs->free_inodes--;
	fs->ino_hint = ino + 1;
	fs_name_insert(fs, new);
	new->refs = 1;
	*ip = new;
out:
	pthread_mutex_unlock(&fs->lock);
	return err;
}

/*
 * dax_fs_unlink() - remove @name. Its inode is freed now if nobody holds
 * a reference, else it becomes an orphan (nameless, flagged on the
 * device) freed by the last dax_fs_iput() or, after a crash, by mount.
 * Context: takes fs->lock.
 * Return: 0; -ENOENT, -ENAMETOOLONG, -EINVAL.
 */
int dax_fs_unlink(struct dax_fs *fs, const char *name)
{
	long len = name_check(name);
	struct dax_inode *ip;

	if (len < 0)
		return (int)len;
	if (!fs)
		return -EINVAL;
	if (!len)
		return -ENOENT;
	pthread_mutex_lock(&fs->lock);
	ip = fs_name_find(fs, name, (size_t)len);
	if (!ip) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOENT;
	}
	fs_name_remove(fs, ip);
	if (ip->refs) {
		fs_tx_begin(fs);
		ip->disk.flags |= DAX_FS_INODE_ORPHAN;
		ip->disk.name_len = 0;
		memset(ip->disk.name, 0, sizeof(ip->disk.name));
		ip->disk.ctime_ns = fs_now_ns();
		fs_tx_dirty_inode(fs, ip);
		fs_tx_commit(fs);
	} else {
		fs_inode_evict(ip);
	}
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

/* Give @ip the name of the @len bytes at @name (in memory only). */
static void name_set(struct dax_inode *ip, const char *name, size_t len)
{
	memset(ip->disk.name, 0, sizeof(ip->disk.name));
	memcpy(ip->disk.name, name, len);
	ip->disk.name_len = (uint16_t)len;
}

/*
 * dax_fs_rename() - give the inode named @from the name @to. One
 * transaction moves the name; if @to named another inode, that inode
 * loses its name in the same transaction and is then dealt with as
 * dax_fs_unlink() does: an orphan while referenced (freed by its last
 * dax_fs_iput(), or by mount after a crash), else freed now (a big file
 * may take more transactions; the first one holds the rename, so a crash
 * leaves either the old names or the new binding, and at worst an orphan
 * that mount frees). With DAX_FS_RENAME_NOREPLACE an existing @to fails
 * with -EEXIST. @from == @to changes nothing and returns 0 (-EEXIST with
 * NOREPLACE, as renameat2()).
 * Context: takes fs->lock.
 * Return: 0; -ENOENT (no @from), -EEXIST, -ENAMETOOLONG, -EINVAL (bad
 * flags, empty @to).
 */
int dax_fs_rename(struct dax_fs *fs, const char *from, const char *to,
		  unsigned int flags)
{
	long flen = name_check(from), tlen = name_check(to);
	struct dax_inode *ip, *old;
	int64_t now;
	int err = 0;

	if (flen < 0)
		return (int)flen;
	if (tlen < 0)
		return (int)tlen;
	if (!fs || (flags & ~DAX_FS_RENAME_NOREPLACE))
		return -EINVAL;
	if (!flen)
		return -ENOENT;
	if (!tlen)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	ip = fs_name_find(fs, from, (size_t)flen);
	if (!ip) {
		err = -ENOENT;
		goto out;
	}
	old = fs_name_find(fs, to, (size_t)tlen);
	if (old && (flags & DAX_FS_RENAME_NOREPLACE)) {
		err = -EEXIST;
		goto out;
	}
	if (old == ip)
		goto out;
	now = fs_now_ns();
	fs_name_remove(fs, ip);
	if (old)
		fs_name_remove(fs, old);
	fs_tx_begin(fs);
	name_set(ip, to, (size_t)tlen);
	ip->disk.ctime_ns = now;
	fs_tx_dirty_inode(fs, ip);
	if (old) {
		old->disk.flags |= DAX_FS_INODE_ORPHAN;
		name_set(old, "", 0);
		old->disk.ctime_ns = now;
		fs_tx_dirty_inode(fs, old);
	}
	fs_name_insert(fs, ip);
	if (old && !old->refs)
		fs_inode_evict_tx(old); /* commits */
	else
		fs_tx_commit(fs);
out:
	pthread_mutex_unlock(&fs->lock);
	return err;
}

struct dirent_copy {
	uint64_t size;
	char name[DAX_FS_NAME_MAX + 1];
};

/*
 * dax_fs_readdir() - call @fn(@ctx, name, size) for every name, in inode
 * order, from a snapshot taken under fs->lock (so @fn may call into the
 * filesystem). Stops at the first non-zero return of @fn.
 * Context: takes fs->lock (not held while calling @fn).
 * Return: 0, what @fn returned, -EINVAL or -ENOMEM.
 */
int dax_fs_readdir(struct dax_fs *fs,
		   int (*fn)(void *ctx, const char *name, uint64_t size),
		   void *ctx)
{
	struct dirent_copy *d = NULL;
	uint64_t n = 0, cap = 0;
	int ret = 0;

	if (!fs || !fn)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	cap = fs->nr_inodes - fs->free_inodes;
	if (cap) {
		d = malloc(cap * sizeof(*d));
		if (!d) {
			pthread_mutex_unlock(&fs->lock);
			return -ENOMEM;
		}
	}
	for (uint64_t ino = 0; ino < fs->nr_inodes && n < cap; ino++) {
		struct dax_inode *ip = fs->inodes[ino];

		if (!ip || (ip->disk.flags & DAX_FS_INODE_ORPHAN))
			continue;
		d[n].size = ip->disk.size;
		memcpy(d[n].name, ip->disk.name, ip->disk.name_len);
		d[n].name[ip->disk.name_len] = 0;
		n++;
	}
	pthread_mutex_unlock(&fs->lock);
	for (uint64_t i = 0; i < n && !ret; i++)
		ret = fn(ctx, d[i].name, d[i].size);
	free(d);
	return ret;
}
