/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fsck.c - check an unmounted image without writing it.
 *
 * @dev is the device, @rep the reporter around the caller's callback.
 *
 * The checks are mount's own (super.c, journal.c, check.c), run on a
 * private in-memory copy of the filesystem. A committed transaction still
 * in the journal is not replayed on the device: the copy reads the
 * metadata through an overlay with the transaction applied, so fsck
 * judges the image mount would see. Orphans are not problems (mount frees
 * them).
 *
 * A primary superblock whose magic or checksum fails is reported and the
 * backup (if sound) used to check the rest, so one bad block does not
 * hide every other problem.
 *
 * Locking: none; the device must not be mounted.
 */
#include <errno.h>

#include "fs_priv.h"

/*
 * dax_fs_fsck() - check the filesystem on @dev: superblock, journal,
 * every inode (checksum, flags, mode, name, unique names), every extent
 * and extent block (bounds, owner, checksum, no block owned twice, no page
 * mapped twice, within DAX_FS_MAX_FILE_PAGES) and that the bitmap marks
 * exactly the metadata, extent blocks and extents. @report (may be NULL)
 * is called once per problem with a line describing it.
 * Context: @dev open and not mounted; never writes it.
 * Return: 0 if clean; -EUCLEAN if problems were found; -EINVAL for a
 * foreign image (bad magic, version or geometry); -ENOMEM.
 */
int dax_fs_fsck(struct dax_dev *dev, dax_fsck_report_fn report, void *ctx)
{
	struct fs_report rep = { .fn = report, .ctx = ctx };
	struct dax_fs_super sb;
	enum fs_jstate state;
	enum fs_sb_state which;
	struct dax_fs *fs;
	int err;

	if (!dev)
		return -EINVAL;
	err = fs_super_check(dev, &sb, &rep, &which);
	if (err)
		return err;
	err = fs_new(dev, &sb, true, &fs);
	if (err)
		return err;
	/* A corrupt journal is reported; the rest is checked as it is. */
	fs_journal_check(fs, &rep, &state);
	if (state == FS_JOURNAL_COMMITTED)
		err = fs_overlay_build(fs);
	if (!err)
		err = fs_load(fs, &rep);
	fs_free(fs);
	if (err)
		return err;
	return rep.problems ? -EUCLEAN : 0;
}
