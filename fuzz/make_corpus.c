/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * make_corpus - write the seed inputs of the pool fuzzer into DIR.
 *
 *   make_corpus DIR
 *
 * Seeds (files seed-NAME, in the format of fuzz_image.h; packed unless
 * "raw" is in the name):
 *
 *   empty-min          mkfs of the smallest pool (84 blocks, 8 inodes)
 *   raw-empty-min      the same, raw
 *   min-file           the smallest pool with one small file
 *   files              a 4 MiB pool, 16 inodes: a small file, a file of
 *                      12 scattered pages (8 inline extents and an
 *                      extent block), a 2 MiB extent, a sparse 1 GiB file
 *   files-orphan       the same, taken while an unlinked file was still
 *                      open (an orphan, freed by the next mount)
 *   files-chain        "files" edited by hand into a valid image where
 *                      the 12-page file's extent chain has a second
 *                      block (udax makes one only after 260 extents,
 *                      some 1 MiB of blocks: too big a seed)
 *   journal-create     a create committed in the journal, not applied
 *                      (as a crash right after the commit word leaves it)
 *   journal-unlink     the same for the unlink of the extent-block file
 *   journal-torn       journal-create with a record byte changed and
 *                      checksums left alone: a torn transaction
 *   raw-journal-min    a committed create on the smallest pool, raw
 *
 * Each packed seed is written with checksum fixing on (flag 1), and the
 * clean ones also with it off. Every image is checked with fsck before it
 * is written (clean, or only a torn transaction) and every seed is run
 * once through the harness, so a seed that trips it fails here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <udax/udax.h>

#include "dev/dev.h"
#include "fs/fs.h"
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MIN_INODES 8
#define MIN_BLOCKS                                                             \
	(1 + DAX_FS_JOURNAL_BLOCKS + MIN_INODES / DAX_FS_INODES_PER_BLOCK +   \
	 1 + DAX_FS_MIN_DATA_BLOCKS + 1) /* + the backup superblock */
#define BIG_SIZE (4ULL << 20)
#define BIG_INODES 16
#define SCRIPT_LEN 255

static const char *outdir;
static char pool[PATH_MAX], scratch[PATH_MAX];
static unsigned int nr_seeds;

#define DIE(...)                                                               \
	do {                                                                   \
		fprintf(stderr, "make_corpus: " __VA_ARGS__);                  \
		fprintf(stderr, "\n");                                         \
		exit(1);                                                       \
	} while (0)

#define OK(call)                                                               \
	do {                                                                   \
		long _e = (long)(call);                                        \
		if (_e < 0)                                                    \
			DIE("%s:%d: %s: %ld", __FILE__, __LINE__, #call, _e);  \
	} while (0)

struct image {
	uint8_t *p;
	size_t len;
};

static void read_file(const char *path, struct image *img)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		DIE("%s: %s", path, strerror(errno));
	img->len = (size_t)st.st_size;
	img->p = malloc(img->len);
	if (!img->p || pread(fd, img->p, img->len, 0) != (ssize_t)img->len)
		DIE("reading %s", path);
	close(fd);
}

static void write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, p, len) != (ssize_t)len || close(fd))
		DIE("writing %s: %s", path, strerror(errno));
}

static void fsck_report(void *ctx, const char *problem)
{
	bool *torn = ctx;

	if (!strstr(problem, "torn transaction"))
		DIE("seed image not clean: %s", problem);
	*torn = true;
}

/* The image must be clean (or, if @torn, hold only a torn transaction). */
static void check_image(const struct image *img, bool torn)
{
	bool seen = false;
	int err;

	write_file(scratch, img->p, img->len);
	err = udax_pool_fsck(scratch, fsck_report, &seen);
	if (torn ? err != -EUCLEAN || !seen : err != 0)
		DIE("seed image: fsck %d", err);
	unlink(scratch);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void emit(const char *name, const uint8_t *p, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/seed-%s", outdir, name);
	write_file(path, p, len);
	printf("  %-28s %8zu bytes\n", name, len);
	LLVMFuzzerTestOneInput(p, len);
	nr_seeds++;
}

/*
 * Write @img as seed @name: packed (journal blocks past the first record
 * block dropped, trailing zero blocks trimmed) with a tail of @flags and
 * an operations script, or raw.
 */
static void emit_image(const char *name, const struct image *img, bool raw,
		       uint8_t flags)
{
	uint64_t nblocks = img->len / FZ_BLOCK, n = 0, h = 0;
	char full[128];
	uint8_t *out;

	if (raw) {
		emit(name, img->p, img->len);
		return;
	}
	for (uint64_t b = FZ_PACK_HEAD; b < FZ_PACK_HEAD + FZ_PACK_GAP; b++)
		if (!fz_all_zero(img->p + b * FZ_BLOCK, FZ_BLOCK))
			DIE("%s: journal longer than one block: cannot pack",
			    name);
	/* The backup superblock: the harness puts block 0 there again. */
	if (nblocks > FZ_PACK_HEAD && fz_packed_backup(img->p) &&
	    !memcmp(img->p + (nblocks - 1) * FZ_BLOCK, img->p, FZ_BLOCK))
		nblocks--;
	out = calloc(nblocks + 1, FZ_BLOCK);
	if (!out)
		DIE("out of memory");
	for (uint64_t b = 0; b < nblocks; b++) {
		if (b >= FZ_PACK_HEAD && b < FZ_PACK_HEAD + FZ_PACK_GAP)
			continue;
		memcpy(out + n * FZ_BLOCK, img->p + b * FZ_BLOCK, FZ_BLOCK);
		n++;
	}
	while (n > FZ_PACK_HEAD &&
	       fz_all_zero(out + (n - 1) * FZ_BLOCK, FZ_BLOCK))
		n--;
	snprintf(full, sizeof(full), "%s%s", name,
		 flags & FZ_FLAG_FIXCSUM ? "" : "-nofix");
	for (const char *c = full; *c; c++)
		h = h * 131 + (uint8_t)*c;
	out[n * FZ_BLOCK] = flags;
	for (size_t i = 1; i <= SCRIPT_LEN; i++)
		out[n * FZ_BLOCK + i] = (uint8_t)splitmix(&h);
	emit(full, out, n * FZ_BLOCK + 1 + SCRIPT_LEN);
	free(out);
}

static void emit_both(const char *name, const struct image *img)
{
	emit_image(name, img, false, FZ_FLAG_FIXCSUM);
	emit_image(name, img, false, 0);
}

/* A new pool file at @pool of @blocks blocks with @inodes inodes. */
static void mkpool(uint64_t blocks, uint64_t inodes)
{
	struct dax_dev *dev;

	unlink(pool);
	OK(dax_dev_create(pool, blocks * DAX_BLOCK_SIZE, &dev));
	OK(dax_fs_mkfs(dev, inodes));
	dax_dev_close(&dev);
}

static struct udax_file *create(struct udax_pool *p, const char *name)
{
	struct udax_file *f;

	OK(udax_open(p, name, O_RDWR | O_CREAT | O_EXCL, 0644, &f));
	return f;
}

static void put(struct udax_file *f, uint64_t off, size_t len, uint8_t v)
{
	uint8_t buf[8192];

	memset(buf, v, sizeof(buf));
	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		if (udax_pwrite(f, buf, n, off) != (ssize_t)n)
			DIE("pwrite");
		off += n;
		len -= n;
	}
}

/* Snapshot of the device taken when the journal's commit word is set. */
static struct {
	struct dax_dev *dev;
	uint64_t jword_off;
	struct image img;
} cap;

static void capture_hook(void *ctx, uint64_t off, uint64_t len)
{
	uint64_t word;

	(void)ctx;
	if (cap.img.p || off != cap.jword_off || len != sizeof(word))
		return;
	memcpy(&word, cap.dev->base + off, sizeof(word));
	if (!word)
		return;
	cap.img.len = cap.dev->size;
	cap.img.p = malloc(cap.img.len);
	if (!cap.img.p)
		DIE("out of memory");
	memcpy(cap.img.p, cap.dev->base, cap.img.len);
}

static bool bm_test(const uint8_t *bm, uint64_t b)
{
	return bm[b / 8] >> (b % 8) & 1;
}

static void bm_set(uint8_t *bm, uint64_t b)
{
	bm[b / 8] |= (uint8_t)(1u << (b % 8));
}

/*
 * Give the file @name of image @img a second extent block, holding one
 * extent of one page (at page @page) of bytes @fill: both blocks taken
 * from the first free ones, every checksum recomputed.
 */
static void add_chain_block(struct image *img, const char *name,
			    uint32_t page, uint8_t fill)
{
	struct dax_fs_super sb;
	struct dax_fs_inode *d = NULL;
	struct dax_fs_eblock *e1, *e2;
	uint64_t blk[2], n = 0;
	uint8_t *bm;

	memcpy(&sb, img->p, sizeof(sb));
	bm = img->p + sb.bitmap_start * DAX_BLOCK_SIZE;
	for (uint64_t i = 0; i < sb.nr_inodes && !d; i++) {
		struct dax_fs_inode *x = (void *)(img->p + sb.itable_start *
							DAX_BLOCK_SIZE +
						  i * DAX_FS_INODE_SIZE);

		if (x->flags && x->name_len == strlen(name) &&
		    !memcmp(x->name, name, x->name_len))
			d = x;
	}
	if (!d || d->nr_eblocks != 1)
		DIE("%s: no file with one extent block", name);
	for (uint64_t b = sb.data_start; b < sb.nr_blocks && n < 2; b++)
		if (!bm_test(bm, b))
			blk[n++] = b;
	if (n < 2)
		DIE("no free blocks");
	e1 = (void *)(img->p + d->ext_head * DAX_BLOCK_SIZE);
	e2 = (void *)(img->p + blk[0] * DAX_BLOCK_SIZE);
	memset(e2, 0, sizeof(*e2));
	e2->magic = DAX_FS_EBLOCK_MAGIC;
	e2->ino = e1->ino;
	e2->generation = e1->generation;
	e2->rec[0].page = page;
	e2->rec[0].count = 1;
	e2->rec[0].block = blk[1];
	e2->csum = fs_csum(e2, sizeof(*e2), offsetof(struct dax_fs_eblock, csum));
	e1->next = blk[0];
	e1->csum = fs_csum(e1, sizeof(*e1), offsetof(struct dax_fs_eblock, csum));
	memset(img->p + blk[1] * DAX_BLOCK_SIZE, fill, DAX_BLOCK_SIZE);
	d->nr_eblocks = 2;
	if (d->size < ((uint64_t)page + 1) * DAX_BLOCK_SIZE)
		d->size = ((uint64_t)page + 1) * DAX_BLOCK_SIZE;
	d->csum = fs_csum(d, sizeof(*d), offsetof(struct dax_fs_inode, csum));
	bm_set(bm, blk[0]);
	bm_set(bm, blk[1]);
}

enum jop { J_CREATE, J_UNLINK };

/* The image of @pool as a crash right after @op's first commit leaves it. */
static void journal_image(enum jop op, const char *name, struct image *img)
{
	struct dax_inode *ip;
	struct dax_fs *fs;

	OK(dax_dev_open(pool, &cap.dev));
	OK(dax_fs_mount(cap.dev, &fs));
	cap.jword_off = DAX_BLOCK_SIZE; /* journal block 1, word first */
	cap.img.p = NULL;
	cap.dev->record = capture_hook;
	if (op == J_CREATE) {
		OK(dax_fs_create(fs, name, 0644, &ip));
		dax_fs_iput(fs, ip);
	} else {
		OK(dax_fs_unlink(fs, name));
	}
	cap.dev->record = NULL;
	dax_fs_unmount(&fs);
	dax_dev_close(&cap.dev);
	if (!cap.img.p)
		DIE("no commit seen");
	*img = cap.img;
}

static void min_seeds(void)
{
	struct udax_pool *p;
	struct udax_file *f;
	struct image img;

	mkpool(MIN_BLOCKS, MIN_INODES);
	read_file(pool, &img);
	check_image(&img, false);
	emit_both("empty-min", &img);
	emit_image("raw-empty-min", &img, true, 0);
	free(img.p);

	OK(udax_pool_open(pool, 0, &p));
	f = create(p, "a");
	put(f, 0, 100, 'a');
	OK(udax_close(f));
	OK(udax_pool_close(p));
	read_file(pool, &img);
	check_image(&img, false);
	emit_both("min-file", &img);
	free(img.p);

	journal_image(J_CREATE, "b", &img);
	check_image(&img, false);
	emit_image("raw-journal-min", &img, true, 0);
	free(img.p);
}

static void big_seeds(void)
{
	struct udax_file *f, *orphan;
	struct udax_pool *p;
	struct image img;

	mkpool(BIG_SIZE / DAX_BLOCK_SIZE, BIG_INODES);
	OK(udax_pool_open(pool, 0, &p));
	f = create(p, "small");
	put(f, 0, 100, 's');
	put(f, 8192, 5000, 't');
	OK(udax_close(f));
	f = create(p, "frag");
	for (int i = 0; i < 12; i++) /* 12 extents: 8 inline, 4 in a block */
		put(f, (uint64_t)i * 2 * DAX_BLOCK_SIZE, 64, (uint8_t)('0' + i));
	OK(udax_close(f));
	f = create(p, "huge");
	OK(udax_fallocate(f, 0, 0, 2u << 20)); /* one aligned 2 MiB run */
	OK(udax_close(f));
	f = create(p, "sparse");
	OK(udax_ftruncate(f, 1ULL << 30));
	put(f, 512ULL << 20, 10, 'z');
	OK(udax_close(f));
	orphan = create(p, "orphan");
	put(orphan, 0, 3 * DAX_BLOCK_SIZE, 'o');
	OK(udax_unlink(p, "orphan"));
	/* A crash now leaves the orphan for the next mount to free. */
	read_file(pool, &img);
	check_image(&img, false);
	emit_both("files-orphan", &img);
	free(img.p);
	OK(udax_close(orphan));
	OK(udax_pool_close(p));
	read_file(pool, &img);
	check_image(&img, false);
	emit_both("files", &img);
	add_chain_block(&img, "frag", 100, 'c');
	check_image(&img, false);
	emit_both("files-chain", &img);
	free(img.p);

	journal_image(J_UNLINK, "frag", &img);
	check_image(&img, false);
	emit_image("journal-unlink", &img, false, FZ_FLAG_FIXCSUM);
	free(img.p);

	journal_image(J_CREATE, "new", &img);
	check_image(&img, false);
	emit_image("journal-create", &img, false, FZ_FLAG_FIXCSUM);
	/* A changed record byte: the commit word no longer matches. */
	img.p[2 * DAX_BLOCK_SIZE + sizeof(struct dax_fs_jhead) +
	      sizeof(struct dax_fs_jrec)] ^= 0x40;
	check_image(&img, true);
	emit_image("journal-torn", &img, false, 0);
	free(img.p);
}

static void cleanup(void)
{
	unlink(pool);
	unlink(scratch);
}

int main(int argc, char **argv)
{
	const char *tmp = NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST)
		DIE("%s: %s", outdir, strerror(errno));
	if (access("/dev/shm", W_OK | X_OK) == 0)
		tmp = "/dev/shm";
	if (!tmp)
		tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(pool, sizeof(pool), "%s/udax-corpus-%ld.pool", tmp,
		 (long)getpid());
	snprintf(scratch, sizeof(scratch), "%s/udax-corpus-%ld.check", tmp,
		 (long)getpid());
	atexit(cleanup); /* DIE() exits */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("make_corpus: seeds in %s\n", outdir);
	min_seeds();
	big_seeds();
	printf("make_corpus: %u seeds\n", nr_seeds);
	return 0;
}
