/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_fsck - fsck and mount on damaged images: never a crash, always
 * -EUCLEAN (corrupt) or -EINVAL (foreign), with the problem reported.
 *
 *  - the CRC32C matches the standard check value;
 *  - a fresh mkfs and a populated image (2 MiB extent, two extent blocks,
 *    an orphan) are clean;
 *  - random bytes flipped in the superblock, the journal's commit block,
 *    used and free inodes, the bitmap (and its unused tail), and each
 *    extent block: fsck and mount refuse the image;
 *  - targeted damage with checksums recomputed, so the deeper checks must
 *    see it: bad name length, duplicate names, an extent in the metadata,
 *    a block owned twice, an extent beyond the maximum file size, bitmap
 *    bits wrong both ways, a looping extent chain, an extent block of
 *    another inode, bad flags, impossible superblock geometry, version;
 *  - the journal: a committed transaction is clean for fsck (overlay)
 *    and replayed by mount; one writing the superblock is corrupt; a
 *    commit word that does not match its records is reported by fsck and
 *    discarded by mount;
 *  - structured fuzz (random inodes and extent blocks with valid
 *    checksums): fsck and mount agree, nothing crashes;
 *  - a truncated image, a file of random bytes, and garbage behind a
 *    valid superblock.
 */
#include "fs_util.h"

#include <sys/stat.h>

#include "fs/fs_priv.h"

#define POOL_SIZE (16ULL << 20)
#define NR_INODES 128

static struct dax_dev *dev;
static char *good;
static struct dax_fs_super sb;
static struct t_rng rng;

static void restore(void)
{
	memcpy(dev->base, good, dev->size);
}

static struct dax_fs_inode *inode_at(uint32_t ino)
{
	char *table = dax_dev_block(dev, sb.itable_start);

	return (struct dax_fs_inode *)(table +
				       (uint64_t)ino * DAX_FS_INODE_SIZE);
}

static uint32_t find_inode(const char *name)
{
	for (uint32_t i = 0; i < NR_INODES; i++) {
		struct dax_fs_inode *d = inode_at(i);

		if (d->flags && d->name_len == strlen(name) &&
		    !memcmp(d->name, name, d->name_len))
			return i;
	}
	REQUIRE(0);
	return 0;
}

static void inode_csum(struct dax_fs_inode *d)
{
	d->csum = fs_csum(d, sizeof(*d), offsetof(struct dax_fs_inode, csum));
}

static void eblock_csum(struct dax_fs_eblock *e)
{
	e->csum = fs_csum(e, sizeof(*e), offsetof(struct dax_fs_eblock, csum));
}

static void super_csum(struct dax_fs_super *s)
{
	s->csum = fs_csum(s, sizeof(*s), offsetof(struct dax_fs_super, csum));
}

static void set_bit(uint64_t b, bool on)
{
	uint8_t *bm = dax_dev_block(dev, sb.bitmap_start);

	if (on)
		bm[b >> 3] |= 1U << (b & 7);
	else
		bm[b >> 3] &= ~(1U << (b & 7));
}

/* fsck then mount the damaged image: both refuse it with @want. */
static void expect_bad(const char *what, int want, const char *msg)
{
	struct t_fsck f = { .quiet = true };
	struct dax_fs *fs = NULL;
	int err;

	err = dax_fs_fsck(dev, t_fsck_report, &f);
	if (err != want || !f.nr || (msg && !strstr(f.first, msg))) {
		printf("%s: fsck %d (want %d), %d problems, first: %s\n", what,
		       err, want, f.nr, f.first);
		CHECK(0);
	}
	err = dax_fs_mount(dev, &fs);
	if (err != want) {
		printf("%s: mount %d (want %d)\n", what, err, want);
		CHECK(0);
		if (!err)
			dax_fs_unmount(&fs);
	}
}

/* As expect_bad, for random damage: -EUCLEAN or -EINVAL will do. */
static void expect_refused(const char *what)
{
	struct t_fsck f = { .quiet = true };
	struct dax_fs *fs = NULL;
	int err;

	err = dax_fs_fsck(dev, t_fsck_report, &f);
	if ((err != -EUCLEAN && err != -EINVAL) || !f.nr) {
		printf("%s: fsck %d with %d problems\n", what, err, f.nr);
		CHECK(0);
	}
	err = dax_fs_mount(dev, &fs);
	if (err != -EUCLEAN && err != -EINVAL) {
		printf("%s: mount %d\n", what, err);
		CHECK(0);
		if (!err)
			dax_fs_unmount(&fs);
	}
}

static void populate(void)
{
	struct dax_inode *ip, *orphan;
	struct dax_iomap m;
	struct dax_fs *fs;

	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	REQUIRE(dax_fs_create(fs, "f1", 0644, &ip) == 0);
	REQUIRE(dax_inode_iomap(ip, 0, 512, DAX_IOMAP_WRITE, &m) == 0);
	REQUIRE(m.nr == 512);
	/* 300 one-page extents: 8 inline, two extent blocks. */
	for (uint64_t i = 0; i < 300; i++)
		REQUIRE(dax_inode_iomap(ip, 1000 + 2 * i, 1, DAX_IOMAP_WRITE,
					&m) == 0);
	REQUIRE(dax_inode_set_size(ip, 2 << 20) == 0);
	dax_fs_iput(fs, ip);
	REQUIRE(dax_fs_create(fs, "f2", 0600, &ip) == 0);
	REQUIRE(dax_inode_iomap(ip, 0, 3, DAX_IOMAP_WRITE, &m) == 0);
	REQUIRE(m.nr == 3);
	dax_fs_iput(fs, ip);
	REQUIRE(dax_fs_create(fs, "gone", 0600, &orphan) == 0);
	REQUIRE(dax_inode_iomap(orphan, 7, 2, DAX_IOMAP_WRITE, &m) == 0);
	REQUIRE(dax_fs_unlink(fs, "gone") == 0);
	dax_fs_unmount(&fs); /* leaves the orphan on the device */
}

struct region {
	const char *name;
	uint64_t off, len;
};

static void random_damage(const struct region *r, int rounds)
{
	char what[96];

	for (int i = 0; i < rounds; i++) {
		int n = 1 + (int)t_rand_below(&rng, 4);

		restore();
		for (int j = 0; j < n; j++) {
			uint64_t at = r->off + t_rand_below(&rng, r->len);

			dev->base[at] ^= (char)(1 + t_rand_below(&rng, 255));
		}
		if (!memcmp(dev->base + r->off, good + r->off, r->len))
			continue; /* flips cancelled out */
		snprintf(what, sizeof(what), "%s, round %d", r->name, i);
		expect_refused(what);
	}
}

static void targeted_damage(uint32_t f1, uint32_t f2, uint64_t eb1,
			    uint64_t eb2)
{
	struct dax_fs_eblock *e;
	struct dax_fs_inode *d;
	struct dax_fs_super *s;

	restore();
	d = inode_at(f1);
	d->name_len = 300;
	inode_csum(d);
	expect_bad("name length", -EUCLEAN, "bad name length");

	restore();
	d = inode_at(f2);
	memcpy(d->name, "f1", 2);
	inode_csum(d);
	expect_bad("duplicate name", -EUCLEAN, "already used");

	restore();
	d = inode_at(f2);
	d->ext[0].block = sb.data_start - 1;
	d->ext[0].count = 1;
	inode_csum(d);
	expect_bad("extent in metadata", -EUCLEAN, "outside the data area");

	restore();
	d = inode_at(f2);
	d->ext[0].block = inode_at(f1)->ext[0].block;
	inode_csum(d);
	expect_bad("block owned twice", -EUCLEAN, NULL);

	restore();
	d = inode_at(f2);
	d->ext[0].page = DAX_FS_MAX_FILE_PAGES - 1;
	inode_csum(d);
	expect_bad("beyond max size", -EUCLEAN, "beyond the maximum");

	restore();
	set_bit(inode_at(f1)->ext[0].block + 5, false);
	expect_bad("bitmap bit cleared", -EUCLEAN, "marked free");

	restore();
	set_bit(sb.nr_blocks - 1, true);
	expect_bad("bitmap bit set", -EUCLEAN, "nothing owns it");

	restore();
	set_bit(sb.nr_blocks, true); /* past the end */
	expect_bad("bitmap tail", -EUCLEAN, "past the last block");

	restore();
	e = dax_dev_block(dev, eb2);
	e->next = eb1;
	eblock_csum(e);
	d = inode_at(f1);
	d->nr_eblocks = 3;
	inode_csum(d);
	expect_bad("extent chain loop", -EUCLEAN, NULL);

	restore();
	e = dax_dev_block(dev, eb1);
	e->ino = f2;
	eblock_csum(e);
	expect_bad("foreign extent block", -EUCLEAN, "belongs to inode");

	restore();
	d = inode_at(f2);
	d->flags |= 0x10;
	inode_csum(d);
	expect_bad("inode flags", -EUCLEAN, "bad flags");

	restore();
	s = dax_dev_block(dev, 0);
	s->nr_inodes = NR_INODES * 2;
	super_csum(s);
	expect_bad("superblock geometry", -EINVAL, "impossible geometry");

	restore();
	s = dax_dev_block(dev, 0);
	s->data_start--;
	super_csum(s);
	expect_bad("overlapping areas", -EINVAL, "impossible geometry");

	restore();
	s = dax_dev_block(dev, 0);
	s->nr_blocks = dev->nr_blocks * 2;
	super_csum(s);
	expect_bad("bigger than the device", -EINVAL, "only");

	restore();
	s = dax_dev_block(dev, 0);
	s->version = DAX_FS_VERSION + 1;
	super_csum(s);
	expect_bad("version", -EINVAL, "version");
}

/* Write a transaction of one record into the journal, committed. */
static void journal_put(uint64_t offset, const void *data, uint32_t len,
			bool good_crc)
{
	char *recs = dax_dev_block(dev, sb.journal_start + 1);
	struct dax_fs_jhead jh = { .magic = DAX_FS_JHEAD_MAGIC, .nr = 1 };
	struct dax_fs_jrec jr = { .offset = offset, .len = len };
	uint64_t word;
	uint32_t crc;

	jh.seq = 77;
	jh.bytes = sizeof(jh) + FS_TX_REC_COST(len);
	memset(recs, 0, jh.bytes);
	memcpy(recs, &jh, sizeof(jh));
	memcpy(recs + sizeof(jh), &jr, sizeof(jr));
	memcpy(recs + sizeof(jh) + sizeof(jr), data, len);
	crc = ~fs_crc32c(~0U, recs, jh.bytes);
	word = (uint64_t)DAX_FS_JCOMMIT_MAGIC << 32 | (good_crc ? crc : ~crc);
	memcpy(dax_dev_block(dev, sb.journal_start), &word, sizeof(word));
}

static void journal_cases(uint32_t f2)
{
	struct dax_fs_stats st;
	struct dax_fs_inode d;
	struct dax_inode *ip;
	struct dax_fs *fs;
	int nr;

	/* Committed, not replayed: rename f2 to g2. */
	restore();
	d = *inode_at(f2);
	memcpy(d.name, "g2", 2);
	inode_csum(&d);
	journal_put((sb.itable_start << DAX_BLOCK_SHIFT) +
			    (uint64_t)f2 * DAX_FS_INODE_SIZE,
		    &d, sizeof(d), true);
	CHECK_EQ(t_fsck(dev, false, &nr), 0);
	CHECK_EQ(nr, 0);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.replayed, 1);
	CHECK_EQ(dax_fs_lookup(fs, "f2", &ip), -ENOENT);
	CHECK_EQ(dax_fs_lookup(fs, "g2", &ip), 0);
	dax_fs_iput(fs, ip);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);

	/* A record that would overwrite the superblock. */
	restore();
	journal_put(0, &d, sizeof(d), true);
	expect_bad("journal writes the superblock", -EUCLEAN, "journal");

	/* A commit word that does not match: torn, discarded by mount. */
	restore();
	journal_put((sb.itable_start << DAX_BLOCK_SHIFT) +
			    (uint64_t)f2 * DAX_FS_INODE_SIZE,
		    &d, sizeof(d), false);
	CHECK_EQ(t_fsck(dev, true, &nr), -EUCLEAN);
	CHECK(nr >= 1);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	dax_fs_get_stats(fs, &st);
	CHECK_EQ(st.replayed, 0);
	CHECK_EQ(dax_fs_lookup(fs, "f2", &ip), 0);
	dax_fs_iput(fs, ip);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
}

static uint64_t rand_block(void)
{
	switch (t_rand_below(&rng, 4)) {
	case 0:
		return t_rand_below(&rng, sb.nr_blocks + 16);
	case 1:
		return sb.data_start + t_rand_below(&rng, 64);
	case 2:
		return t_rand(&rng);
	default:
		return sb.nr_blocks - 1 - t_rand_below(&rng, 64);
	}
}

static void rand_extent(struct dax_fs_extent *e)
{
	if (t_rand_below(&rng, 3) == 0) {
		memset(e, 0, sizeof(*e));
		return;
	}
	e->page = t_rand_below(&rng, 2) ? (uint32_t)t_rand_below(&rng, 4096)
					 : (uint32_t)t_rand(&rng);
	e->count = t_rand_below(&rng, 4) ? (uint32_t)t_rand_below(&rng, 40)
					 : (uint32_t)t_rand(&rng);
	e->block = rand_block();
}

/* Random inodes and extent blocks with valid checksums. */
static void fuzz(int rounds)
{
	int clean = 0;

	for (int i = 0; i < rounds; i++) {
		struct dax_fs *fs = NULL;
		int n = 1 + (int)t_rand_below(&rng, 3), err, merr;

		restore();
		for (int j = 0; j < n; j++) {
			struct dax_fs_inode *d =
				inode_at((uint32_t)t_rand_below(&rng, 8));
			uint64_t eb = sb.data_start + 8 +
				      t_rand_below(&rng, sb.nr_blocks -
								 sb.data_start -
								 8);

			memset(d, 0, sizeof(*d));
			d->flags = (uint32_t)t_rand_below(&rng, 5);
			d->mode = S_IFREG | 0644;
			if (!t_rand_below(&rng, 4))
				d->mode = (uint32_t)t_rand(&rng);
			d->size = t_rand_below(&rng, 1 << 30);
			if (!t_rand_below(&rng, 2))
				d->size = t_rand(&rng);
			d->name_len = (uint16_t)t_rand_below(&rng, 258);
			for (uint16_t k = 0; k < d->name_len && k < 256; k++)
				d->name[k] =
					(char)('a' + t_rand_below(&rng, 3));
			for (int k = 0; k < DAX_FS_INLINE_EXT; k++)
				rand_extent(&d->ext[k]);
			if (t_rand_below(&rng, 2)) {
				struct dax_fs_eblock *e =
					dax_dev_block(dev, eb);

				memset(e, 0, sizeof(*e));
				e->magic = DAX_FS_EBLOCK_MAGIC;
				e->ino = (uint32_t)(d - inode_at(0));
				e->generation = d->generation;
				e->next = 0;
				if (t_rand_below(&rng, 2))
					e->next = rand_block();
				for (int k = 0; k < DAX_FS_EXT_PER_BLOCK; k++)
					if (t_rand_below(&rng, 8) == 0)
						rand_extent(&e->rec[k]);
				eblock_csum(e);
				d->ext_head = eb;
				d->nr_eblocks = 1 + (uint32_t)t_rand_below(&rng,
									  2);
			}
			inode_csum(d);
			if (t_rand_below(&rng, 2))
				set_bit(rand_block() % sb.nr_blocks,
					t_rand_below(&rng, 2));
		}
		err = t_fsck(dev, true, NULL);
		CHECK(err == 0 || err == -EUCLEAN);
		merr = dax_fs_mount(dev, &fs);
		CHECK_EQ(merr, err);
		if (!merr) {
			clean++;
			dax_fs_unmount(&fs);
			CHECK_EQ(t_fsck(dev, false, NULL), 0);
		}
	}
	printf("fuzz: %d rounds, %d clean images\n", rounds, clean);
}

static void foreign_images(void)
{
	struct t_pool pool;
	struct dax_dev *d2;
	struct dax_fs *fs;
	struct t_rng r2;
	char *p;

	/* Truncated: mkfs on 16 MiB, then cut to 8 MiB. */
	d2 = t_pool_create(&pool, POOL_SIZE);
	REQUIRE(dax_fs_mkfs(d2, 0) == 0);
	dax_dev_close(&d2);
	REQUIRE(truncate(pool.path, POOL_SIZE / 2) == 0);
	REQUIRE(dax_dev_open(pool.path, &d2) == 0);
	CHECK_EQ(t_fsck(d2, false, NULL), -EINVAL);
	CHECK_EQ(dax_fs_mount(d2, &fs), -EINVAL);
	dax_dev_close(&d2);
	/* Cut to less than a superblock's worth of metadata. */
	REQUIRE(truncate(pool.path, 8192) == 0);
	REQUIRE(dax_dev_open(pool.path, &d2) == 0);
	CHECK_EQ(t_fsck(d2, true, NULL), -EINVAL);
	CHECK_EQ(dax_fs_mount(d2, &fs), -EINVAL);
	CHECK_EQ(dax_fs_mkfs(d2, 0), -EINVAL); /* too small */
	dax_dev_close(&d2);
	unlink(pool.path);

	/* Random bytes. */
	REQUIRE(dax_dev_create(pool.path, 1 << 20, &d2) == 0);
	t_rng_init(&r2, t_seed + 1);
	for (uint64_t i = 0; i < d2->size; i += 8) {
		uint64_t v = t_rand(&r2);

		memcpy(d2->base + i, &v, 8);
	}
	CHECK_EQ(t_fsck(d2, false, NULL), -EINVAL);
	CHECK_EQ(dax_fs_mount(d2, &fs), -EINVAL);

	/* A valid superblock in front of garbage. */
	REQUIRE(dax_fs_mkfs(d2, 0) == 0);
	p = dax_dev_block(d2, 2); /* after the commit block */
	for (uint64_t i = 2 << DAX_BLOCK_SHIFT; i < d2->size; i++)
		*p++ = (char)t_rand(&r2);
	CHECK_EQ(t_fsck(d2, true, NULL), -EUCLEAN);
	CHECK_EQ(dax_fs_mount(d2, &fs), -EUCLEAN);
	/* And with a garbage commit block too. */
	memset(dax_dev_block(d2, 1), 0x5a, DAX_BLOCK_SIZE);
	CHECK_EQ(t_fsck(d2, true, NULL), -EUCLEAN);
	CHECK_EQ(dax_fs_mount(d2, &fs), -EUCLEAN);
	dax_dev_close(&d2);
	t_pool_remove(&pool);
}

int main(int argc, char **argv)
{
	int rounds, nr;
	uint32_t f1, f2;
	uint64_t eb1, eb2;
	struct t_pool pool;
	struct dax_fs *fs;

	t_init(argc, argv);
	t_rng_init(&rng, t_seed);
	rounds = t_long ? 400 : 40;
	CHECK_EQ(~fs_crc32c(~0U, "123456789", 9), 0xe3069283);

	dev = t_pool_create(&pool, POOL_SIZE);
	REQUIRE(dax_fs_mkfs(dev, NR_INODES) == 0);
	CHECK_EQ(t_fsck(dev, false, &nr), 0);
	CHECK_EQ(nr, 0);
	populate();
	CHECK_EQ(t_fsck(dev, false, &nr), 0);
	CHECK_EQ(nr, 0);
	good = malloc(dev->size);
	REQUIRE(good);
	memcpy(good, dev->base, dev->size);
	memcpy(&sb, dev->base, sizeof(sb));

	f1 = find_inode("f1");
	f2 = find_inode("f2");
	eb1 = inode_at(f1)->ext_head;
	REQUIRE(eb1);
	eb2 = ((struct dax_fs_eblock *)dax_dev_block(dev, eb1))->next;
	REQUIRE(eb2);
	CHECK_EQ(inode_at(f1)->nr_eblocks, 2);

	{
		uint64_t ib = sb.itable_start << DAX_BLOCK_SHIFT;
		uint64_t bb = sb.bitmap_start << DAX_BLOCK_SHIFT;
		const struct region regions[] = {
			{ "superblock", 0, DAX_BLOCK_SIZE },
			{ "journal commit block",
			  sb.journal_start << DAX_BLOCK_SHIFT, DAX_BLOCK_SIZE },
			{ "used inodes", ib, 3 * DAX_FS_INODE_SIZE },
			{ "free inodes", ib + 3 * DAX_FS_INODE_SIZE,
			  (NR_INODES - 3) * DAX_FS_INODE_SIZE },
			{ "bitmap", bb, sb.nr_blocks / 8 },
			{ "bitmap tail", bb + sb.nr_blocks / 8,
			  (sb.bitmap_blocks << DAX_BLOCK_SHIFT) -
				  sb.nr_blocks / 8 },
			{ "extent block 1", eb1 << DAX_BLOCK_SHIFT,
			  DAX_BLOCK_SIZE },
			{ "extent block 2", eb2 << DAX_BLOCK_SHIFT,
			  DAX_BLOCK_SIZE },
		};

		for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]);
		     i++)
			random_damage(&regions[i], rounds);
	}
	targeted_damage(f1, f2, eb1, eb2);
	journal_cases(f2);
	fuzz(rounds * 5);

	/* The good image is still good, and mounts (freeing the orphan). */
	restore();
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	dax_fs_unmount(&fs);
	CHECK_EQ(t_fsck(dev, false, NULL), 0);
	free(good);
	dax_dev_close(&dev);
	t_pool_remove(&pool);

	foreign_images();
	return t_done("fs_fsck");
}
