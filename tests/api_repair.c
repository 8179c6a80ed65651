/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * api_repair - one bad block must not cost more than the files it held.
 *
 * A 16 MiB pool with 40 small files of random sizes and bytes, a
 * fragmented file whose extents need an extent block, and a 2 MiB file
 * is damaged, one case at a time from the same pristine image:
 *
 *   inode table   random bytes over the inode-table block of files 8-15;
 *   extent block  random bytes over the fragmented file's extent block;
 *   bitmap        random bytes over the whole block bitmap;
 *   journal       random bytes over the commit block and the first
 *                 records;
 *   superblock    random bytes over the primary superblock;
 *   backup        random bytes over the backup superblock;
 *   owned twice   a file's extent re-pointed (checksum fixed) at a block
 *                 of a file with a lower inode number;
 *   same name     a file renamed (checksum fixed) to another's name;
 *   committed     a committed, unreplayed journal transaction that
 *                 shrinks a file: read-only sees it applied (in memory);
 *   orphan        a file unlinked while open when the power went: repair
 *                 frees it;
 *   random        12 rounds (200 with -l) of bytes flipped over one of
 *                 those blocks, whole or a short run;
 *
 * and for each: fsck reports problems; a read-write open refuses the
 * pool; a UDAX_POOL_RDONLY open lists and reads every intact file with
 * its data, fails the damaged ones with -EUCLEAN (or -ENOENT when their
 * name went with the damage), returns -EROFS for every change, and leaves
 * the pool file's bytes unchanged; udax_pool_repair() succeeds, reporting
 * an action per damaged file (naming it); fsck is then clean; a
 * read-write open works, intact files have their data and a new file can
 * be written and read back; fsck is still clean afterwards. A version 1
 * image (no backup superblock) still opens, checks clean and needs no
 * repair. Random bytes come from the seed (-s SEED).
 */
#include "api_util.h"

#include <fcntl.h>

#include "fs/fs_priv.h"

#define POOL_SIZE (16ULL << 20)
#define NR_SMALL 40
#define FRAG_PAGES 30 /* every other page: 30 extents, > 8 inline */
#define BIG_SIZE (2ULL << 20)
#define MAX_FILES (NR_SMALL + 3)

struct tfile {
	char name[32];
	uint64_t size;
	uint8_t *data; /* size bytes; holes as zeros */
	uint32_t ino;
	bool damaged; /* by the current case */
	bool renamed; /* by the current case's repair: to alt */
	char alt[48];
	uint64_t shrunk; /* committed case: the size read-only must see */
};

static struct tfile files[MAX_FILES];
static unsigned int nr_files;
static char path[300];
static uint8_t *pristine;
static struct dax_fs_super sb;
static struct t_rng rng;
static unsigned int actions;

static uint64_t file_hash(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t buf[1 << 16];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	REQUIRE(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ULL;
	REQUIRE(n == 0);
	close(fd);
	return h;
}

static void image_io(uint8_t *img, bool save)
{
	int fd = open(path, O_RDWR);

	REQUIRE(fd >= 0);
	if (save)
		REQUIRE(pread(fd, img, POOL_SIZE, 0) == (ssize_t)POOL_SIZE);
	else
		REQUIRE(pwrite(fd, img, POOL_SIZE, 0) == (ssize_t)POOL_SIZE);
	close(fd);
}

static void add_file(struct udax_pool *pool, const char *name, uint64_t size,
		     bool frag)
{
	struct tfile *t = &files[nr_files++];
	struct udax_file *f;

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->size = size;
	t->data = calloc(1, size + 1);
	REQUIRE(t->data);
	REQUIRE(udax_open(pool, name, O_RDWR | O_CREAT | O_EXCL, 0644, &f) ==
		0);
	if (frag) {
		for (uint64_t p = 0; p < size / 4096; p += 2) {
			for (int i = 0; i < 4096; i++)
				t->data[p * 4096 + i] = (uint8_t)t_rand(&rng);
			REQUIRE(udax_pwrite(f, t->data + p * 4096, 4096,
					    p * 4096) == 4096);
		}
		REQUIRE(udax_ftruncate(f, size) == 0);
	} else {
		for (uint64_t i = 0; i < size; i++)
			t->data[i] = (uint8_t)t_rand(&rng);
		REQUIRE(udax_pwrite(f, t->data, size, 0) == (ssize_t)size);
	}
	REQUIRE(udax_close(f) == 0);
}

static struct dax_fs_inode *inode_of(uint8_t *img, uint32_t ino)
{
	return (void *)(img + (sb.itable_start << DAX_BLOCK_SHIFT) +
			(uint64_t)ino * DAX_FS_INODE_SIZE);
}

static void inode_csum(struct dax_fs_inode *d)
{
	d->csum = fs_csum(d, sizeof(*d), offsetof(struct dax_fs_inode, csum));
}

/* Build the pool, remember its image and where each file's inode is. */
static void build(void)
{
	struct udax_pool *pool;
	char name[32];

	REQUIRE(udax_pool_create(path, POOL_SIZE, &pool) == 0);
	for (unsigned int i = 0; i < NR_SMALL; i++) {
		snprintf(name, sizeof(name), "f%02u", i);
		add_file(pool, name, 1 + t_rand_below(&rng, 20000), false);
	}
	add_file(pool, "frag", FRAG_PAGES * 2 * 4096ULL, true);
	add_file(pool, "big", BIG_SIZE, false);
	REQUIRE(udax_pool_close(pool) == 0);
	CHECK_EQ(t_fsck(path), 0);
	pristine = malloc(POOL_SIZE);
	REQUIRE(pristine);
	image_io(pristine, true);
	memcpy(&sb, pristine, sizeof(sb));
	CHECK_EQ(sb.version, DAX_FS_VERSION);
	for (uint32_t ino = 0; ino < sb.nr_inodes; ino++) {
		struct dax_fs_inode *d = inode_of(pristine, ino);

		for (unsigned int i = 0; i < nr_files; i++)
			if (d->flags && d->name_len == strlen(files[i].name) &&
			    !memcmp(d->name, files[i].name, d->name_len))
				files[i].ino = ino;
	}
}

static struct tfile *by_name(const char *name)
{
	for (unsigned int i = 0; i < nr_files; i++)
		if (!strcmp(files[i].name, name))
			return &files[i];
	return NULL;
}

static void random_bytes(uint8_t *img, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		img[off + i] = (uint8_t)t_rand(&rng);
}

/* Read @t through @pool and compare with what was written. */
static void check_data(struct udax_pool *pool, struct tfile *t,
		       const char *name, const char *when)
{
	uint64_t size = t->shrunk ? t->shrunk : t->size;
	struct udax_file *f;
	uint8_t *buf = malloc(size + 4096);
	struct stat st;
	ssize_t n;
	int err;

	REQUIRE(buf);
	err = udax_open(pool, name, O_RDONLY, 0, &f);
	if (err) {
		fprintf(stderr, "%s: open %s: %d\n", when, name, err);
		CHECK_EQ(err, 0);
		free(buf);
		return;
	}
	CHECK_EQ(udax_fstat(f, &st), 0);
	CHECK_EQ((uint64_t)st.st_size, size);
	n = udax_pread(f, buf, size + 4096, 0);
	CHECK_EQ(n, (ssize_t)size);
	if (n == (ssize_t)size && memcmp(buf, t->data, size)) {
		fprintf(stderr, "%s: %s: data differs\n", when, name);
		CHECK(0);
	}
	CHECK_EQ(udax_close(f), 0);
	free(buf);
}

static char listed_names[2 * MAX_FILES][64];

/* Count the listed names; each must be listed once. */
static int count_cb(void *ctx, const char *name, uint64_t size)
{
	unsigned int *n = ctx;

	(void)size;
	for (unsigned int i = 0; i < *n && i < 2 * MAX_FILES; i++)
		if (!strcmp(listed_names[i], name)) {
			fprintf(stderr, "list: '%s' twice\n", name);
			CHECK(0);
		}
	if (*n < 2 * MAX_FILES)
		snprintf(listed_names[*n], sizeof(listed_names[0]), "%s",
			 name);
	(*n)++;
	return 0;
}

static void rdonly_session(const char *what)
{
	uint64_t before = file_hash();
	struct udax_pool *pool;
	struct udax_file *f;
	unsigned int listed = 0, intact = 0;
	char buf[16];
	int err;

	err = udax_pool_open(path, UDAX_POOL_RDONLY, &pool);
	CHECK_EQ(err, 0);
	if (err)
		return;
	CHECK_EQ(udax_list(pool, count_cb, &listed), 0);
	for (unsigned int i = 0; i < nr_files; i++) {
		struct tfile *t = &files[i];

		if (!t->damaged) {
			check_data(pool, t, t->name, what);
			intact++;
			continue;
		}
		err = udax_open(pool, t->name, O_RDONLY, 0, &f);
		if (err != -EUCLEAN && err != -ENOENT) {
			fprintf(stderr, "%s: open of damaged %s: %d\n", what,
				t->name, err);
			CHECK(0);
		}
		if (!err)
			udax_close(f);
	}
	CHECK(listed >= intact);
	/* Every change is -EROFS. */
	CHECK_EQ(udax_open(pool, "new", O_RDWR | O_CREAT, 0644, &f), -EROFS);
	CHECK_EQ(udax_open(pool, "f00", O_RDWR, 0, &f), -EROFS);
	CHECK_EQ(udax_rename(pool, "f00", "f01", 0), -EROFS);
	CHECK_EQ(udax_open(pool, "f00", O_WRONLY | O_TRUNC, 0, &f), -EROFS);
	CHECK_EQ(udax_unlink(pool, "f00"), -EROFS);
	if (!by_name("big")->damaged &&
	    udax_open(pool, "big", O_RDONLY, 0, &f) == 0) {
		void *map;

		CHECK_EQ(udax_pwrite(f, "x", 1, 0), -EROFS);
		CHECK_EQ(udax_ftruncate(f, 0), -EROFS);
		CHECK_EQ(udax_fallocate(f, 0, 0, 4096), -EROFS);
		CHECK_EQ(udax_mmap(f, NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED, 0, &map),
			 -EACCES);
		/* A private writable mapping copies; nothing reaches the
		 * pool. */
		CHECK_EQ(udax_mmap(f, NULL, 8192, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, 0, &map),
			 0);
		memcpy(buf, map, sizeof(buf));
		CHECK(!memcmp(buf, by_name("big")->data, sizeof(buf)));
		((char *)map)[0] ^= 1;
		CHECK_EQ(udax_munmap(map, 8192), 0);
		CHECK_EQ(udax_fsync(f), 0);
		CHECK_EQ(udax_close(f), 0);
	}
	CHECK_EQ(udax_pool_close(pool), 0);
	if (file_hash() != before) {
		fprintf(stderr, "%s: the read-only session wrote the pool\n",
			what);
		CHECK(0);
	}
}

static void action_cb(void *ctx, const char *action)
{
	const char *what = ctx;

	printf("  %s: repair: %s\n", what, action);
	actions++;
}

static void problem_cb(void *ctx, const char *problem)
{
	(*(unsigned int *)ctx)++;
	(void)problem;
}

/* After the damage of case @what: the whole sequence of the header. */
static void check_case(const char *what, bool rw_refused)
{
	struct udax_pool *pool;
	struct udax_file *f;
	unsigned int problems = 0;
	uint8_t data[5000];
	int err;

	printf("%s:\n", what);
	err = udax_pool_fsck(path, problem_cb, &problems);
	CHECK_EQ(err, -EUCLEAN);
	CHECK(problems > 0);
	if (rw_refused) {
		err = udax_pool_open(path, 0, &pool);
		CHECK_EQ(err, -EUCLEAN);
		if (!err)
			udax_pool_close(pool);
	}
	rdonly_session(what);

	actions = 0;
	err = udax_pool_repair(path, action_cb, (void *)what);
	CHECK_EQ(err, 0);
	CHECK(actions > 0);
	CHECK_EQ(t_fsck(path), 0);
	err = udax_pool_open(path, 0, &pool);
	CHECK_EQ(err, 0);
	if (err)
		return;
	for (unsigned int i = 0; i < nr_files; i++) {
		struct tfile *t = &files[i];

		if (t->renamed)
			check_data(pool, t, t->alt, what);
		else if (!t->damaged)
			check_data(pool, t, t->name, what);
	}
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)t_rand(&rng);
	REQUIRE(udax_open(pool, "after-repair", O_RDWR | O_CREAT | O_EXCL,
			  0644, &f) == 0);
	CHECK_EQ(udax_pwrite(f, data, sizeof(data), 0), (ssize_t)sizeof(data));
	CHECK_EQ(udax_close(f), 0);
	CHECK_EQ(udax_pool_close(pool), 0);
	CHECK_EQ(udax_pool_open(path, 0, &pool), 0);
	{
		uint8_t back[sizeof(data)];

		CHECK_EQ(udax_open(pool, "after-repair", O_RDONLY, 0, &f), 0);
		CHECK_EQ(udax_pread(f, back, sizeof(back), 0),
			 (ssize_t)sizeof(back));
		CHECK(!memcmp(back, data, sizeof(data)));
		CHECK_EQ(udax_close(f), 0);
	}
	CHECK_EQ(udax_pool_close(pool), 0);
	CHECK_EQ(t_fsck(path), 0);
	/* A second repair has nothing to do. */
	actions = 0;
	CHECK_EQ(udax_pool_repair(path, action_cb, (void *)what), 0);
	CHECK_EQ(actions, 0);
}

/* Start a case: the pristine image, nothing damaged. */
static uint8_t *start(void)
{
	static uint8_t *img;

	if (!img)
		img = malloc(POOL_SIZE);
	REQUIRE(img);
	memcpy(img, pristine, POOL_SIZE);
	for (unsigned int i = 0; i < nr_files; i++) {
		files[i].damaged = false;
		files[i].renamed = false;
		files[i].shrunk = 0;
	}
	return img;
}

static void damage_inode_block(void)
{
	uint8_t *img = start();
	uint32_t first = by_name("f08")->ino / DAX_FS_INODES_PER_BLOCK *
			 DAX_FS_INODES_PER_BLOCK;
	unsigned int hit = 0;

	for (unsigned int i = 0; i < nr_files; i++)
		if (files[i].ino >= first &&
		    files[i].ino < first + DAX_FS_INODES_PER_BLOCK) {
			files[i].damaged = true;
			hit++;
		}
	CHECK_EQ(hit, DAX_FS_INODES_PER_BLOCK);
	random_bytes(img, (sb.itable_start + first / DAX_FS_INODES_PER_BLOCK)
				  << DAX_BLOCK_SHIFT,
		     DAX_BLOCK_SIZE);
	image_io(img, false);
	check_case("inode table", true);
}

static void damage_extent_block(void)
{
	uint8_t *img = start();
	struct tfile *t = by_name("frag");
	uint64_t eb = inode_of(img, t->ino)->ext_head;

	REQUIRE(eb >= sb.data_start && eb < sb.nr_blocks);
	t->damaged = true;
	random_bytes(img, eb << DAX_BLOCK_SHIFT, DAX_BLOCK_SIZE);
	image_io(img, false);
	check_case("extent block", true);
}

static void damage_bitmap(void)
{
	uint8_t *img = start();

	random_bytes(img, sb.bitmap_start << DAX_BLOCK_SHIFT,
		     sb.bitmap_blocks << DAX_BLOCK_SHIFT);
	image_io(img, false);
	check_case("bitmap", true);
}

static void damage_journal(void)
{
	uint8_t *img = start();

	random_bytes(img, sb.journal_start << DAX_BLOCK_SHIFT,
		     4 * DAX_BLOCK_SIZE);
	image_io(img, false);
	check_case("journal", true);
}

static void damage_super(bool primary)
{
	uint8_t *img = start();
	uint64_t at = primary ? 0 : sb.nr_blocks;

	random_bytes(img, at << DAX_BLOCK_SHIFT, DAX_BLOCK_SIZE);
	image_io(img, false);
	check_case(primary ? "superblock" : "backup superblock", true);
}

static void damage_owned_twice(void)
{
	uint8_t *img = start();
	struct tfile *keep = by_name("f03"), *lose = by_name("f04");
	struct dax_fs_inode *k = inode_of(img, keep->ino);
	struct dax_fs_inode *l = inode_of(img, lose->ino);

	REQUIRE(keep->ino < lose->ino);
	REQUIRE(k->ext[0].count && l->ext[0].count);
	l->ext[0].block = k->ext[0].block;
	if (l->ext[0].count > k->ext[0].count)
		l->ext[0].count = k->ext[0].count;
	inode_csum(l);
	lose->damaged = true;
	image_io(img, false);
	check_case("owned twice", true);
}

static void damage_same_name(void)
{
	uint8_t *img = start();
	struct tfile *t = by_name("f12");
	struct dax_fs_inode *d = inode_of(img, t->ino);

	memcpy(d->name, "f11", 3); /* same length */
	inode_csum(d);
	t->renamed = true; /* repair renames it f11~INO */
	snprintf(t->alt, sizeof(t->alt), "f11~%u", t->ino);
	/* Read-only: "f12" is gone, "f11" is the other file. */
	t->damaged = true;
	image_io(img, false);
	check_case("same name", true);
}

/*
 * A committed transaction left in the journal, as a crash after the
 * commit word leaves it: it shrinks f20 to 100 bytes.
 */
static void committed_journal(void)
{
	uint8_t *img = start();
	struct tfile *t = by_name("f20");
	struct dax_fs_inode d = *inode_of(img, t->ino);
	uint8_t *recs = img + ((sb.journal_start + 1) << DAX_BLOCK_SHIFT);
	struct dax_fs_jhead jh = { .magic = DAX_FS_JHEAD_MAGIC, .nr = 1 };
	struct dax_fs_jrec jr = { .len = sizeof(d) };
	struct udax_pool *pool;
	uint64_t word;

	REQUIRE(t->size > 100);
	d.size = 100;
	inode_csum(&d);
	jr.offset = (sb.itable_start << DAX_BLOCK_SHIFT) +
		    (uint64_t)t->ino * DAX_FS_INODE_SIZE;
	jh.seq = 9;
	jh.bytes = sizeof(jh) + FS_TX_REC_COST(sizeof(d));
	memcpy(recs, &jh, sizeof(jh));
	memcpy(recs + sizeof(jh), &jr, sizeof(jr));
	memcpy(recs + sizeof(jh) + sizeof(jr), &d, sizeof(d));
	word = (uint64_t)DAX_FS_JCOMMIT_MAGIC << 32 |
	       (uint32_t)~fs_crc32c(~0U, recs, jh.bytes);
	memcpy(img + (sb.journal_start << DAX_BLOCK_SHIFT), &word,
	       sizeof(word));
	image_io(img, false);
	printf("committed journal:\n");
	CHECK_EQ(t_fsck(path), 0); /* fsck sees it replayed */
	t->shrunk = 100;
	rdonly_session("committed journal");
	/* Repair replays it, as mount would. */
	actions = 0;
	CHECK_EQ(udax_pool_repair(path, action_cb, "committed journal"), 0);
	CHECK_EQ(actions, 1);
	CHECK_EQ(t_fsck(path), 0);
	CHECK_EQ(udax_pool_open(path, 0, &pool), 0);
	check_data(pool, t, t->name, "committed journal");
	CHECK_EQ(udax_pool_close(pool), 0);
}

/*
 * Random rounds: bytes flipped (whole block, or a run of 1 to 64 bytes)
 * in a block picked among the superblock, its backup, the commit block,
 * an inode-table block in use, the bitmap and the extent block; the
 * damaged files are those whose inode slot or extent block was hit.
 */
static void random_rounds(unsigned int rounds)
{
	uint64_t eb = inode_of(pristine, by_name("frag")->ino)->ext_head;

	for (unsigned int r = 0; r < rounds; r++) {
		uint8_t *img = start();
		unsigned int kind = (unsigned int)t_rand_below(&rng, 6);
		uint64_t blk, off = 0, len = DAX_BLOCK_SIZE;
		char what[96];

		switch (kind) {
		case 0:
			blk = 0;
			break;
		case 1:
			blk = sb.nr_blocks;
			break;
		case 2:
			blk = sb.journal_start;
			break;
		case 3:
			blk = sb.itable_start +
			      files[t_rand_below(&rng, nr_files)].ino /
				      DAX_FS_INODES_PER_BLOCK;
			break;
		case 4:
			blk = sb.bitmap_start;
			break;
		default:
			blk = eb;
			by_name("frag")->damaged = true;
			break;
		}
		if (t_rand_below(&rng, 2)) {
			len = 1 + t_rand_below(&rng, 64);
			off = t_rand_below(&rng, DAX_BLOCK_SIZE - len + 1);
		}
		for (uint64_t i = off; i < off + len; i++)
			img[(blk << DAX_BLOCK_SHIFT) + i] ^=
				(uint8_t)(1 + t_rand_below(&rng, 255));
		if (kind == 3) {
			for (unsigned int i = 0; i < nr_files; i++) {
				uint64_t at = ((sb.itable_start << DAX_BLOCK_SHIFT) +
					       (uint64_t)files[i].ino *
						       DAX_FS_INODE_SIZE) -
					      (blk << DAX_BLOCK_SHIFT);

				if (files[i].ino / DAX_FS_INODES_PER_BLOCK ==
					    blk - sb.itable_start &&
				    at < off + len && off < at + DAX_FS_INODE_SIZE)
					files[i].damaged = true;
			}
		}
		snprintf(what, sizeof(what), "round %u: block %llu bytes %llu+%llu",
			 r, (unsigned long long)blk, (unsigned long long)off,
			 (unsigned long long)len);
		image_io(img, false);
		check_case(what, true);
	}
}

/* An orphan (unlinked while open, then a crash): repair frees it. */
static void orphan(void)
{
	uint8_t *img = start();
	struct tfile *t = by_name("f30");
	struct dax_fs_inode *d = inode_of(img, t->ino);
	struct udax_pool *pool;
	struct udax_file *f;

	printf("orphan:\n");
	d->flags |= DAX_FS_INODE_ORPHAN;
	d->name_len = 0;
	memset(d->name, 0, sizeof(d->name));
	inode_csum(d);
	t->damaged = true; /* gone */
	image_io(img, false);
	CHECK_EQ(t_fsck(path), 0); /* not a problem: mount frees it */
	rdonly_session("orphan");
	actions = 0;
	CHECK_EQ(udax_pool_repair(path, action_cb, "orphan"), 0);
	CHECK_EQ(actions, 2); /* the inode, and its blocks in the bitmap */
	CHECK_EQ(t_fsck(path), 0);
	CHECK_EQ(udax_pool_open(path, 0, &pool), 0);
	CHECK_EQ(udax_open(pool, "f30", O_RDONLY, 0, &f), -ENOENT);
	check_data(pool, by_name("f31"), "f31", "orphan");
	CHECK_EQ(udax_pool_close(pool), 0);
}

/* A version 1 image: the whole device, no backup superblock. */
static void version1(void)
{
	uint8_t *img = start();
	struct dax_fs_super *s = (void *)img;
	struct udax_pool *pool;

	printf("version 1 image:\n");
	s->version = DAX_FS_VERSION_NOBACKUP;
	s->nr_blocks = POOL_SIZE >> DAX_BLOCK_SHIFT;
	REQUIRE(s->bitmap_blocks == (s->nr_blocks + 32767) / 32768);
	s->csum = fs_csum(s, sizeof(*s), offsetof(struct dax_fs_super, csum));
	memset(img + POOL_SIZE - DAX_BLOCK_SIZE, 0, DAX_BLOCK_SIZE);
	image_io(img, false);
	CHECK_EQ(t_fsck(path), 0);
	actions = 0;
	CHECK_EQ(udax_pool_repair(path, action_cb, "version 1"), 0);
	CHECK_EQ(actions, 0);
	CHECK_EQ(udax_pool_open(path, 0, &pool), 0);
	for (unsigned int i = 0; i < nr_files; i++)
		check_data(pool, &files[i], files[i].name, "version 1");
	CHECK_EQ(udax_pool_close(pool), 0);
	/* Its superblock damaged: no backup to fall back to. */
	random_bytes(img, 0, DAX_BLOCK_SIZE);
	image_io(img, false);
	CHECK(t_fsck(path) != 0);
	CHECK(udax_pool_repair(path, action_cb, "version 1") != 0);
	CHECK(udax_pool_open(path, UDAX_POOL_RDONLY, &pool) != 0);
}

int main(int argc, char **argv)
{
	struct udax_pool *pool;

	t_init(argc, argv);
	t_watchdog(300);
	t_rng_init(&rng, t_seed);
	t_tmpdir();
	t_path(path, sizeof(path), "repair.pool");
	build();

	damage_inode_block();
	damage_extent_block();
	damage_bitmap();
	damage_journal();
	damage_super(true);
	damage_super(false);
	damage_owned_twice();
	damage_same_name();
	committed_journal();
	orphan();
	random_rounds(t_long ? 200 : 12);
	version1();

	/* Bad arguments; not a pool; in use. */
	CHECK_EQ(udax_pool_repair(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(udax_pool_open(path, 0x2, &pool), -EINVAL);
	image_io(pristine, false);
	REQUIRE(udax_pool_open(path, 0, &pool) == 0);
	CHECK_EQ(udax_pool_repair(path, NULL, NULL), -EBUSY);
	{
		struct udax_pool *second = NULL;

		CHECK_EQ(udax_pool_open(path, UDAX_POOL_RDONLY, &second),
			 -EBUSY);
	}
	CHECK_EQ(udax_pool_close(pool), 0);
	{
		int fd = open(path, O_RDWR);

		REQUIRE(fd >= 0);
		REQUIRE(pwrite(fd, "not a pool", 10, 0) == 10);
		memset(pristine, 0, DAX_BLOCK_SIZE);
		REQUIRE(pwrite(fd, pristine, DAX_BLOCK_SIZE,
			       POOL_SIZE - DAX_BLOCK_SIZE) ==
			DAX_BLOCK_SIZE);
		close(fd);
	}
	CHECK_EQ(udax_pool_repair(path, NULL, NULL), -EINVAL);
	CHECK_EQ(udax_pool_open(path, UDAX_POOL_RDONLY, &pool), -EINVAL);

	for (unsigned int i = 0; i < nr_files; i++)
		free(files[i].data);
	free(pristine);
	t_cleanup();
	return t_done("api_repair");
}
