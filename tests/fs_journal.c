/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs_journal - crash consistency of every kind of transaction.
 *
 * Each operation (create, allocate, merge, 2 MiB allocate, set size, a
 * new extent block, free with split, free that empties an extent block,
 * unlink, unlink while open, rename, rename replacing a file, rename
 * replacing an open file) runs on a mounted filesystem with the
 * device's recorder attached: it keeps a copy of every range made durable,
 * in order. A crash after the k-th flush is then the image from before
 * the operation plus the first k copies; a torn flush adds only the first
 * half of copy k + 1. For every such image: fsck (which sees a committed
 * transaction through its overlay) is clean, mount succeeds, the state is
 * exactly the old or exactly the new one, and fsck is clean after mount
 * (for a rename: the old names or the new binding, never both or
 * neither).
 * For images whose journal holds a committed transaction, mount's own
 * replay is interrupted at every flush too, and must still end in the new
 * state.
 *
 * Freeing a huge file takes several transactions, each consistent. The
 * journal is far too big for a test to reach that, so those operations
 * run with fs->tx_cap lowered to 1 KiB (a few extents per transaction, a
 * big extent trimmed in parts; 2 KiB for a rename, which logs two inodes
 * before it frees); a crash may then also leave any state reached after
 * one of the operation's commits.
 */
#include "fs_util.h"

#include "fs/fs_priv.h"

#define POOL_SIZE (16ULL << 20)

struct snap {
	uint64_t off, len;
	char *data;
};

struct recorder {
	struct snap *v;
	size_t n, cap;
};

/*
 * The device's record hook stays attached for the whole test: it notes
 * every range the filesystem writes (all its writes are flushed), so that
 * going back to an image copies only those ranges, and while a recorder
 * is set it also keeps a copy of each range for the crash images.
 */
struct range {
	uint64_t off, len;
};

static struct {
	struct range *v;
	size_t n, cap;
	const char *synced;   /* image the device equals outside v[], or NULL */
	struct recorder *rec; /* recording */
} trk;

static void dirty(uint64_t off, uint64_t len)
{
	if (trk.n == trk.cap) {
		trk.cap = trk.cap ? 2 * trk.cap : 256;
		trk.v = realloc(trk.v, trk.cap * sizeof(*trk.v));
		REQUIRE(trk.v);
	}
	trk.v[trk.n].off = off;
	trk.v[trk.n].len = len;
	trk.n++;
}

static void hook(void *ctx, uint64_t off, uint64_t len)
{
	struct dax_dev *dev = ctx;
	struct recorder *r = trk.rec;

	dirty(off, len);
	if (!r)
		return;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		REQUIRE(r->v);
	}
	r->v[r->n].off = off;
	r->v[r->n].len = len;
	r->v[r->n].data = malloc(len);
	REQUIRE(r->v[r->n].data);
	memcpy(r->v[r->n].data, dev->base + off, len);
	r->n++;
}

static void recorder_reset(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].data);
	r->n = 0;
}

static void recorder_start(struct recorder *r)
{
	recorder_reset(r);
	trk.rec = r;
}

static void recorder_stop(void)
{
	trk.rec = NULL;
}

/* The test rewrote the device or an image wholesale: copy all next time. */
static void unsync(void)
{
	trk.synced = NULL;
	trk.n = 0;
}

/* Make the device equal @img. */
static void restore(struct dax_dev *dev, const char *img)
{
	if (trk.synced != img) {
		memcpy(dev->base, img, dev->size);
		trk.synced = img;
	} else {
		for (size_t i = 0; i < trk.n; i++)
			memcpy(dev->base + trk.v[i].off, img + trk.v[i].off,
			       trk.v[i].len);
	}
	trk.n = 0;
}

/* Apply the first @k snapshots of @r, and @tear bytes of snapshot k. */
static void apply(struct dax_dev *dev, const struct recorder *r, size_t k,
		  uint64_t tear)
{
	for (size_t i = 0; i < k; i++) {
		memcpy(dev->base + r->v[i].off, r->v[i].data, r->v[i].len);
		dirty(r->v[i].off, r->v[i].len);
	}
	if (tear) {
		memcpy(dev->base + r->v[k].off, r->v[k].data, tear);
		dirty(r->v[k].off, tear);
	}
}

/* The device as @base plus the first @k snapshots, and @tear bytes of
 * snapshot k (8-byte multiples) if @tear. */
static void build(struct dax_dev *dev, const char *base,
		  const struct recorder *r, size_t k, uint64_t tear)
{
	restore(dev, base);
	apply(dev, r, k, tear);
}

static bool committed(struct dax_dev *dev)
{
	const struct dax_fs_super *sb = dax_dev_block(dev, 0);
	uint64_t word;

	memcpy(&word, dax_dev_block(dev, sb->journal_start), sizeof(word));
	return word != 0;
}

/* Mount the device as it is and describe it; fsck before and after. */
static char *mount_state(struct dax_dev *dev, const char *what)
{
	struct dax_fs *fs = NULL;
	char *s;
	int err;

	err = t_fsck(dev, false, NULL);
	if (err)
		printf("%s: fsck before mount: %d\n", what, err);
	CHECK_EQ(err, 0);
	err = dax_fs_mount(dev, &fs);
	if (err) {
		printf("%s: mount: %d\n", what, err);
		CHECK_EQ(err, 0);
		return strdup("(mount failed)");
	}
	s = t_state(fs);
	dax_fs_unmount(&fs);
	err = t_fsck(dev, false, NULL);
	if (err)
		printf("%s: fsck after mount: %d\n", what, err);
	CHECK_EQ(err, 0);
	return s;
}

enum op_kind {
	OP_CREATE,
	OP_ALLOC,
	OP_SIZE,
	OP_FREE,
	OP_UNLINK,
	OP_UNLINK_OPEN,
	OP_FILL, /* @a contiguous pages from 0, @b single pages after */
	OP_RENAME,	/* @name to @to */
	OP_RENAME_OPEN, /* the same, holding a reference on @to */
};

struct op {
	enum op_kind kind;
	const char *name;
	uint64_t a, b;
	const char *what;
	size_t cap;   /* fs->tx_cap for the operation, 0: default */
	bool nocheck; /* set-up only: no crash images */
	const char *to; /* OP_RENAME* */
};

#define OP(k, n, a, b, w) { k, n, a, b, w, 0, false, NULL }
#define PARTS(k, n, a, b, w) { k, n, a, b, w, 1024, false, NULL } /* 1 KiB tx */
#define SETUP(k, n, a, b, w) { k, n, a, b, w, 0, true, NULL }
#define RENAME(k, n, to, w, cap) { k, n, 0, 0, w, cap, false, to }

static void run(struct dax_fs *fs, const struct op *op)
{
	struct dax_inode *ip = NULL;
	struct dax_iomap map;

	switch (op->kind) {
	case OP_CREATE:
		REQUIRE(dax_fs_create(fs, op->name, 0600, &ip) == 0);
		dax_fs_iput(fs, ip);
		return;
	case OP_UNLINK:
		REQUIRE(dax_fs_unlink(fs, op->name) == 0);
		return;
	case OP_UNLINK_OPEN:
		/* The reference dies with the mount: an orphan on disk. */
		REQUIRE(dax_fs_lookup(fs, op->name, &ip) == 0);
		REQUIRE(dax_fs_unlink(fs, op->name) == 0);
		return;
	case OP_RENAME_OPEN:
		/* As above: the replaced file is left an orphan on disk. */
		REQUIRE(dax_fs_lookup(fs, op->to, &ip) == 0);
		/* fall through */
	case OP_RENAME:
		REQUIRE(dax_fs_rename(fs, op->name, op->to, 0) == 0);
		return;
	default:
		break;
	}
	REQUIRE(dax_fs_lookup(fs, op->name, &ip) == 0);
	switch (op->kind) {
	case OP_ALLOC:
		REQUIRE(dax_inode_iomap(ip, op->a, op->b, DAX_IOMAP_WRITE,
					&map) == 0);
		CHECK(map.flags & DAX_IOMAP_F_NEW);
		break;
	case OP_SIZE:
		REQUIRE(dax_inode_set_size(ip, op->a) == 0);
		break;
	case OP_FREE:
		REQUIRE(dax_inode_free_range(ip, op->a, op->b) == 0);
		break;
	case OP_FILL:
		for (uint64_t p = 0; p < op->a; p += map.nr)
			REQUIRE(dax_inode_iomap(ip, p, op->a - p,
						DAX_IOMAP_WRITE, &map) == 0);
		REQUIRE(dax_inode_iomap(ip, 0, op->a, 0, &map) == 0);
		CHECK_EQ(map.nr, op->a); /* one extent */
		for (uint64_t i = 0; i < op->b; i++)
			REQUIRE(dax_inode_iomap(ip, op->a + 100 + 2 * i, 1,
						DAX_IOMAP_WRITE, &map) == 0);
		break;
	default:
		break;
	}
	dax_fs_iput(fs, ip);
}

/*
 * The crash image @base + @k snapshots of @outer (+ @tear) holds a
 * committed transaction: interrupt its replay by mount at every flush;
 * mounting what is left must give what an uninterrupted mount gives.
 */
static void check_replay_crashes(struct dax_dev *dev, const char *base,
				 const struct recorder *outer, size_t k,
				 uint64_t tear, const char *what)
{
	struct recorder r = { 0 };
	struct dax_fs *fs = NULL;
	char *s, *want;

	build(dev, base, outer, k, tear);
	recorder_start(&r);
	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	recorder_stop();
	want = t_state(fs);
	dax_fs_unmount(&fs);
	for (size_t j = 0; j <= r.n; j++) {
		build(dev, base, outer, k, tear);
		apply(dev, &r, j, 0);
		s = mount_state(dev, what);
		CHECK(strcmp(s, want) == 0);
		free(s);
	}
	recorder_reset(&r);
	free(r.v);
	free(want);
}

/* Is snapshot @s the clearing of the commit word (a commit's end)? */
static bool commit_end(struct dax_dev *dev, const struct snap *s)
{
	const struct dax_fs_super *sb = (const void *)dev->base;
	uint64_t word;

	if (s->off != sb->journal_start << DAX_BLOCK_SHIFT ||
	    s->len != sizeof(word))
		return false;
	memcpy(&word, s->data, sizeof(word));
	return word == 0;
}

static bool in_states(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static void check_op(struct dax_dev *dev, const struct op *op, char *before,
		     char *after, unsigned long *images)
{
	struct recorder r = { 0 };
	struct dax_fs *fs = NULL;
	char *old, *new, *s, what[160];
	char **mid = NULL;
	size_t nr_mid = 0, commits = 0;

	REQUIRE(dax_fs_mount(dev, &fs) == 0);
	memcpy(before, dev->base, dev->size);
	unsync();
	if (op->cap)
		fs->tx_cap = op->cap;
	recorder_start(&r);
	run(fs, op);
	recorder_stop();
	memcpy(after, dev->base, dev->size);
	dax_fs_unmount(&fs);
	if (op->nocheck)
		goto out;

	snprintf(what, sizeof(what), "%s (old)", op->what);
	restore(dev, before);
	old = mount_state(dev, what);
	snprintf(what, sizeof(what), "%s (new)", op->what);
	restore(dev, after);
	new = mount_state(dev, what);
	CHECK(strcmp(old, new) != 0);

	/* The states after each of the operation's commits. */
	mid = calloc(r.n + 1, sizeof(*mid));
	REQUIRE(mid);
	for (size_t k = 0; k < r.n; k++) {
		if (!commit_end(dev, &r.v[k]))
			continue;
		commits++;
		if (!op->cap)
			continue;
		snprintf(what, sizeof(what), "%s: commit %zu", op->what,
			 commits);
		build(dev, before, &r, k + 1, 0);
		mid[nr_mid++] = mount_state(dev, what);
	}
	if (op->cap)
		CHECK(commits > 2);
	else
		CHECK_EQ(commits, 1);

	for (size_t k = 0; k <= r.n; k++) {
		for (int torn = 0; torn < 2; torn++) {
			uint64_t tear = 0;

			if (torn) {
				if (k == r.n)
					continue;
				tear = (r.v[k].len / 2) & ~7ULL;
				if (!tear)
					continue;
			}
			snprintf(what, sizeof(what),
				 "%s: crash after flush %zu/%zu%s", op->what,
				 k, r.n, torn ? " + torn" : "");
			build(dev, before, &r, k, tear);
			if (committed(dev))
				check_replay_crashes(dev, before, &r, k, tear,
						     what);
			build(dev, before, &r, k, tear);
			s = mount_state(dev, what);
			if (strcmp(s, old) && strcmp(s, new) &&
			    !in_states(mid, nr_mid, s)) {
				printf("%s: neither old nor new\nold:\n%s"
				       "new:\n%s got:\n%s",
				       what, old, new, s);
				CHECK(0);
			}
			free(s);
			(*images)++;
		}
	}
	printf("%s: %zu commits, %zu flushes\n", op->what, commits, r.n);
	free(old);
	free(new);
	for (size_t i = 0; i < nr_mid; i++)
		free(mid[i]);
	free(mid);
out:
	/* Go on from the new state. */
	restore(dev, after);
	unsync();
	recorder_reset(&r);
	free(r.v);
}

int main(int argc, char **argv)
{
	static const struct op ops[] = {
		OP(OP_CREATE, "f1", 0, 0, "create"),
		OP(OP_ALLOC, "f1", 0, 1, "allocate one page"),
		OP(OP_ALLOC, "f1", 1, 1, "allocate, merging"),
		OP(OP_ALLOC, "f1", 512, 512, "allocate 2 MiB"),
		OP(OP_SIZE, "f1", 4 << 20, 0, "set size"),
		OP(OP_ALLOC, "f1", 2000, 1, "inline record 3"),
		OP(OP_ALLOC, "f1", 2002, 1, "inline record 4"),
		OP(OP_ALLOC, "f1", 2004, 1, "inline record 5"),
		OP(OP_ALLOC, "f1", 2006, 1, "inline record 6"),
		OP(OP_ALLOC, "f1", 2008, 1, "inline record 7"),
		OP(OP_ALLOC, "f1", 2010, 1, "inline record 8"),
		OP(OP_ALLOC, "f1", 2012, 1, "first extent block"),
		OP(OP_ALLOC, "f1", 2014, 1, "record in extent block"),
		OP(OP_ALLOC, "f1", 2016, 3, "record in extent block"),
		OP(OP_FREE, "f1", 600, 700, "free with split"),
		OP(OP_FREE, "f1", 2000, 2010, "free inline records"),
		OP(OP_FREE, "f1", 2011, 2030, "free emptying extent block"),
		OP(OP_ALLOC, "f1", 3000, 40, "allocate 40"),
		OP(OP_FREE, "f1", 3010, UINT64_MAX, "truncate to page 3010"),
		OP(OP_CREATE, "f2", 0, 0, "create second"),
		OP(OP_ALLOC, "f2", 0, 700, "allocate 512 of 700"),
		OP(OP_ALLOC, "f2", 1000, 1, "allocate one more"),
		OP(OP_UNLINK_OPEN, "f2", 0, 0, "unlink while open"),
		OP(OP_UNLINK, "f1", 0, 0, "unlink"),
		SETUP(OP_CREATE, "big", 0, 0, "create big"),
		SETUP(OP_FILL, "big", 2048, 24, "fill big"),
		PARTS(OP_FREE, "big", 2148, 2180, "free in parts"),
		PARTS(OP_FREE, "big", 0, UINT64_MAX, "free all in parts"),
		SETUP(OP_FILL, "big", 2048, 12, "fill big again"),
		PARTS(OP_UNLINK, "big", 0, 0, "unlink in parts"),
		SETUP(OP_CREATE, "r1", 0, 0, "create r1"),
		SETUP(OP_ALLOC, "r1", 0, 3, "allocate r1"),
		RENAME(OP_RENAME, "r1", "r2", "rename", 0),
		SETUP(OP_CREATE, "r3", 0, 0, "create r3"),
		SETUP(OP_FILL, "r3", 20, 3, "fill r3"),
		RENAME(OP_RENAME, "r2", "r3", "rename replacing", 0),
		SETUP(OP_CREATE, "r4", 0, 0, "create r4"),
		SETUP(OP_FILL, "r4", 30, 2, "fill r4"),
		RENAME(OP_RENAME_OPEN, "r3", "r4", "rename replacing open file",
		       0),
		SETUP(OP_CREATE, "big", 0, 0, "create big"),
		SETUP(OP_FILL, "big", 2048, 24, "fill big"),
		RENAME(OP_RENAME, "r4", "big", "rename replacing in parts",
		       2048),
	};
	struct t_pool pool;
	struct dax_dev *dev;
	char *before, *after;
	unsigned long images = 0;

	t_init(argc, argv);
	dev = t_pool_create(&pool, POOL_SIZE);
	REQUIRE(dax_fs_mkfs(dev, 64) == 0);
	dev->record = hook;
	dev->record_ctx = dev;
	before = malloc(dev->size);
	after = malloc(dev->size);
	REQUIRE(before && after);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		check_op(dev, &ops[i], before, after, &images);
	printf("%lu crash images checked\n", images);
	free(before);
	free(after);
	free(trk.v);
	dev->record = NULL;
	dax_dev_close(&dev);
	t_pool_remove(&pool);
	return t_done("fs_journal");
}
