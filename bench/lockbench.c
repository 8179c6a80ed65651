/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lockbench - what the entry lock costs, in one run:
 *
 *  1. Latency. An uncontended dax_entry_grab() + dax_entry_unlock() of an
 *     entry that already exists, in a mapping holding nr_entries dense
 *     4 KiB entries (1M by default, so the tree has its real height: four
 *     levels of 64 slots), against an uncontended pthread_mutex_lock() +
 *     pthread_mutex_unlock() pair. Each operation builds a fresh cursor
 *     with DAX_CURSOR, as a fault handler would. One run is @iters pairs
 *     timed with CLOCK_MONOTONIC; the sides alternate run by run (after
 *     one warm-up run each) and the best (smallest) run of each side
 *     counts, the median being printed beside it as a noise gauge. A
 *     third side, for reference, is the seed's own scheme: the lock bit
 *     set and cleared under the tree lock, each time after a lookup
 *     (grab_mapping_entry + unlock_mapping_entry), same index, same runs.
 *
 *  2. Scaling. Aggregate grab+unlock throughput of two threads working on
 *     indexes of one mapping that lie in different leaf nodes (no shared
 *     cache line but the read-only upper nodes), against one thread. The
 *     threads start together, run until the main thread raises a stop
 *     flag after @tput_ms, and each times itself; the aggregate is the
 *     sum of ops/elapsed. One- and two-thread runs alternate; the best of
 *     each counts. Each worker also measures the CPU time it got: a share
 *     well below 100% means something else ran (2 cores leave no slack);
 *     the ratio is then also printed counted per CPU-second the workers
 *     got, which such interference disturbs less. A control does the
 *     same with a private pthread mutex per thread: what the machine
 *     itself scales to.
 *
 *  3. Memory. Heap bytes per entry, from mallinfo2() (uordblks + hblkhd:
 *     chunk headers and rounding included) before and after populating,
 *     after dax_rcu_barrier(): for nr_entries dense 4 KiB entries, and
 *     for nr_pmd PMD entries at consecutive PMD-aligned indexes. The
 *     nr_nodes * sizeof(struct dax_idx_node) figure is printed beside
 *     it. Entries are made as a fault does: grab (inserts EMPTY locked),
 *     update to a block entry, unlock. Under a sanitizer's allocator
 *     mallinfo2() sees nothing: the heap figure is then n/a (JSON null).
 *
 * Figures go to stdout, and as one JSON object to the file given with
 * -o. -q makes a quick run (smaller runs; same populations). The
 * benchmark reports and does not judge: it exits 0 whatever the figures,
 * 1 only if something fails, 2 on a bad command line.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "index/index.h"
#include "index/rcu.h"
#include "lock/entry_lock.h"
#include "util/compiler.h"

#define MAX_RUNS 16
/* Throughput workers look at the stop flag once per this many ops. */
#define STOP_CHECK_EVERY 256

struct config {
	uint64_t nr_entries;  /* dense 4 KiB entries in the main mapping */
	uint64_t nr_pmd;      /* PMD entries in the PMD mapping */
	unsigned long iters;  /* operations in one latency run */
	unsigned int runs;    /* runs per side; the best one counts */
	unsigned int tput_ms; /* length of one throughput run */
	bool quick;
	const char *json;
};

struct results {
	double grab_ns, grab_ns_med;
	double mutex_ns, mutex_ns_med;
	double lookup_ns, lookup_ns_med;
	struct tput t1, t2; /* grab+unlock, 1 and 2 threads, best runs */
	struct tput c1, c2; /* control: private mutexes */
	double t1_mops_med, t2_mops_med;
	uint64_t pte_heap, pte_nodes;
	uint64_t pmd_heap, pmd_nodes;
	double populate_ns; /* per 4 KiB entry, grab+update+unlock */
};

static void die(const char *what, int err)
{
	fprintf(stderr, "lockbench: %s: %s\n", what, strerror(err));
	exit(1);
}

/* Bytes the allocator has handed out; 0 where it cannot tell. */
static size_t heap_in_use(void)
{
#ifdef __GLIBC__
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

/*
 * Fill @m with @nr entries of @order at indexes i << @order, the way a
 * fault does: grab (an EMPTY locked entry is inserted), give it a block,
 * unlock.
 */
static void populate(struct dax_mapping *m, uint64_t nr, unsigned int order)
{
	dax_entry_t kind = order ? DAX_ENTRY_PMD : 0;

	for (uint64_t i = 0; i < nr; i++) {
		DAX_CURSOR(cur, i << order, &m->idx, order);
		dax_entry_t e;
		int err;

		err = dax_entry_grab(m, &cur, 0, &e);
		if (err)
			die("populate: dax_entry_grab", -err);
		if (!dax_entry_is_empty(e)) {
			fprintf(stderr, "lockbench: index %llu already set\n",
				(unsigned long long)(i << order));
			exit(1);
		}
		dax_entry_update(m, &cur, dax_mk_entry(i << order, kind));
		dax_entry_unlock(m, &cur);
	}
}

/* Populate a fresh mapping; report heap bytes and nodes it took. */
static void measure_memory(struct dax_mapping *m, uint64_t nr,
			   unsigned int order, uint64_t *heap, uint64_t *nodes,
			   double *ns_per_entry)
{
	size_t before, after;
	uint64_t t0, t1;

	dax_rcu_barrier();
	before = heap_in_use();
	t0 = now_ns();
	populate(m, nr, order);
	t1 = now_ns();
	dax_rcu_barrier();
	after = heap_in_use();
	*heap = after > before ? after - before : 0;
	*nodes = m->idx.nr_nodes;
	if (ns_per_entry)
		*ns_per_entry = (double)(t1 - t0) / (double)nr;
	if (m->idx.nr_entries != nr) {
		fprintf(stderr, "lockbench: %llu entries, expected %llu\n",
			(unsigned long long)m->idx.nr_entries,
			(unsigned long long)nr);
		exit(1);
	}
}

/* Grab the entry at @index and unlock it: the operation measured. */
static inline void grab_unlock(struct dax_mapping *m, uint64_t index)
{
	DAX_CURSOR(cur, index, &m->idx, 0);
	dax_entry_t e;
	int err;

	err = dax_entry_grab(m, &cur, 0, &e);
	if (unlikely(err))
		die("dax_entry_grab", -err);
	dax_entry_unlock(m, &cur);
}

/* One latency run of grab+unlock at @index: ns per pair. */
static double run_grab(struct dax_mapping *m, uint64_t index,
		       unsigned long iters)
{
	uint64_t t0 = now_ns();

	for (unsigned long i = 0; i < iters; i++)
		grab_unlock(m, index);
	return (double)(now_ns() - t0) / (double)iters;
}

/* One latency run of pthread mutex lock+unlock: ns per pair. */
static double run_mutex(pthread_mutex_t *mu, unsigned long iters)
{
	uint64_t t0 = now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		pthread_mutex_lock(mu);
		pthread_mutex_unlock(mu);
	}
	return (double)(now_ns() - t0) / (double)iters;
}

/*
 * One latency run of the seed's own scheme, uncontended: grab takes the
 * tree lock, looks the entry up and sets its lock bit; unlock takes the
 * tree lock again, looks it up again and clears the bit (the seed's
 * grab_mapping_entry() and unlock_mapping_entry()). ns per pair.
 */
static double run_lookup_locked(struct dax_mapping *m, uint64_t index,
				unsigned long iters)
{
	uint64_t t0 = now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		DAX_CURSOR(cur, index, &m->idx, 0);
		dax_entry_t e;

		pthread_mutex_lock(&m->idx.lock);
		e = dax_idx_load(&cur);
		if (unlikely(!e)) {
			fprintf(stderr, "lockbench: no entry at %llu\n",
				(unsigned long long)index);
			exit(1);
		}
		atomic_store_explicit(cur.slot, e | DAX_ENTRY_LOCKED,
				      memory_order_relaxed);
		pthread_mutex_unlock(&m->idx.lock);

		pthread_mutex_lock(&m->idx.lock);
		e = dax_idx_load(&cur);
		atomic_store_explicit(cur.slot, e & ~DAX_ENTRY_LOCKED,
				      memory_order_relaxed);
		pthread_mutex_unlock(&m->idx.lock);
	}
	return (double)(now_ns() - t0) / (double)iters;
}

static void bench_latency(const struct config *cfg, struct dax_mapping *m,
			  struct results *r)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint64_t index = cfg->nr_entries / 2 + 7;
	double g[MAX_RUNS], x[MAX_RUNS], l[MAX_RUNS];

	/* Warm up caches, branch predictors and the CPU clock. */
	run_grab(m, index, cfg->iters);
	run_mutex(&mu, cfg->iters);
	run_lookup_locked(m, index, cfg->iters);
	for (unsigned int i = 0; i < cfg->runs; i++) {
		g[i] = run_grab(m, index, cfg->iters);
		x[i] = run_mutex(&mu, cfg->iters);
		l[i] = run_lookup_locked(m, index, cfg->iters);
	}
	r->grab_ns = min_of(g, cfg->runs);
	r->grab_ns_med = median(g, cfg->runs);
	r->mutex_ns = min_of(x, cfg->runs);
	r->mutex_ns_med = median(x, cfg->runs);
	r->lookup_ns = min_of(l, cfg->runs);
	r->lookup_ns_med = median(l, cfg->runs);
	pthread_mutex_destroy(&mu);
}

struct tput_shared {
	struct dax_mapping *m;
	bool control; /* private mutexes instead of entry locks */
	struct tput_gate g;
};

struct tput_worker {
	/* The control run's lock, on its own lines (no false sharing). */
	_Alignas(128) pthread_mutex_t mu;
	struct tput_shared *sh;
	uint64_t index;
	struct tput_count c;
	pthread_t tid;
};

static void tput_batch(void *arg)
{
	struct tput_worker *w = arg;

	for (unsigned int i = 0; i < STOP_CHECK_EVERY; i++)
		grab_unlock(w->sh->m, w->index);
}

static void tput_batch_control(void *arg)
{
	struct tput_worker *w = arg;

	for (unsigned int i = 0; i < STOP_CHECK_EVERY; i++) {
		pthread_mutex_lock(&w->mu);
		pthread_mutex_unlock(&w->mu);
	}
}

static void *tput_thread(void *arg)
{
	struct tput_worker *w = arg;

	/* Register with RCU outside the timed part. */
	dax_rcu_thread_online();
	tput_worker_run(&w->sh->g,
			w->sh->control ? tput_batch_control : tput_batch, w,
			STOP_CHECK_EVERY, &w->c);
	return NULL;
}

/*
 * One throughput run with @nthreads workers: grab+unlock with worker k on
 * index k * nr_entries / 2 + 3 (the first far from the second, each in
 * its own leaf), or with @control lock+unlock of a private mutex each.
 */
static struct tput run_tput(const struct config *cfg, struct dax_mapping *m,
			    unsigned int nthreads, bool control)
{
	struct tput_shared sh = {.m = m, .control = control};
	struct tput_worker w[2];
	struct tput t = {.cpu = 1};
	int err;

	for (unsigned int k = 0; k < nthreads; k++) {
		w[k] = (struct tput_worker){
		    .sh = &sh,
		    .index = k * (cfg->nr_entries / 2) + 3,
		};
		pthread_mutex_init(&w[k].mu, NULL);
		err = pthread_create(&w[k].tid, NULL, tput_thread, &w[k]);
		if (err)
			die("pthread_create", err);
	}
	tput_gate_run(&sh.g, nthreads, cfg->tput_ms);
	for (unsigned int k = 0; k < nthreads; k++) {
		pthread_join(w[k].tid, NULL);
		pthread_mutex_destroy(&w[k].mu);
		tput_add(&t, &w[k].c);
	}
	return t;
}

/* Keep in @best the run with the highest throughput (and its CPU share). */
static void tput_best(struct tput *best, const struct tput *t)
{
	double cpu_mops = best->cpu_mops;

	if (t->mops > best->mops)
		*best = *t;
	best->cpu_mops = cpu_mops > t->cpu_mops ? cpu_mops : t->cpu_mops;
}

static void bench_scaling(const struct config *cfg, struct dax_mapping *m,
			  struct results *r)
{
	double t1[MAX_RUNS], t2[MAX_RUNS];
	struct tput t;

	for (unsigned int i = 0; i < cfg->runs; i++) {
		t = run_tput(cfg, m, 1, false);
		t1[i] = t.mops;
		tput_best(&r->t1, &t);
		t = run_tput(cfg, m, 2, false);
		t2[i] = t.mops;
		tput_best(&r->t2, &t);
		t = run_tput(cfg, m, 1, true);
		tput_best(&r->c1, &t);
		t = run_tput(cfg, m, 2, true);
		tput_best(&r->c2, &t);
	}
	r->t1_mops_med = median(t1, cfg->runs);
	r->t2_mops_med = median(t2, cfg->runs);
}

/* Heap bytes per entry, or a negative value if mallinfo2() saw nothing. */
static double heap_per_entry(uint64_t heap, uint64_t nr)
{
	return heap ? (double)heap / (double)nr : -1;
}

static double nodes_per_entry(uint64_t nodes, uint64_t nr)
{
	return (double)(nodes * sizeof(struct dax_idx_node)) / (double)nr;
}

/* One "key":value member; a negative @v (not measured) is null. */
static void json_num(FILE *f, const char *key, double v, const char *fmt)
{
	fprintf(f, ",\"%s\":", key);
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, fmt, v);
}

static void write_json(const struct config *cfg, const struct results *r)
{
	FILE *f = fopen(cfg->json, "w");

	if (!f)
		die(cfg->json, errno);
	fprintf(f, "{\"bench\":\"lockbench\",\"quick\":%s",
		cfg->quick ? "true" : "false");
	json_num(f, "nr_entries", (double)cfg->nr_entries, "%.0f");
	json_num(f, "nr_pmd", (double)cfg->nr_pmd, "%.0f");
	json_num(f, "runs", cfg->runs, "%.0f");
	json_num(f, "iters", (double)cfg->iters, "%.0f");
	json_num(f, "tput_ms", cfg->tput_ms, "%.0f");
	json_num(f, "grab_unlock_ns", r->grab_ns, "%.3f");
	json_num(f, "grab_unlock_ns_median", r->grab_ns_med, "%.3f");
	json_num(f, "mutex_ns", r->mutex_ns, "%.3f");
	json_num(f, "mutex_ns_median", r->mutex_ns_med, "%.3f");
	json_num(f, "ratio_grab_vs_mutex", r->grab_ns / r->mutex_ns, "%.4f");
	json_num(f, "seed_grab_unlock_ns", r->lookup_ns, "%.3f");
	json_num(f, "seed_grab_unlock_ns_median", r->lookup_ns_med, "%.3f");
	json_num(f, "ratio_grab_vs_seed", r->grab_ns / r->lookup_ns,
		 "%.4f");
	json_num(f, "threads1_mops", r->t1.mops, "%.3f");
	json_num(f, "threads1_mops_median", r->t1_mops_med, "%.3f");
	json_num(f, "threads2_mops", r->t2.mops, "%.3f");
	json_num(f, "threads2_mops_median", r->t2_mops_med, "%.3f");
	json_num(f, "ratio_2t_vs_1t", r->t2.mops / r->t1.mops, "%.4f");
	json_num(f, "threads1_cpu_share", r->t1.cpu, "%.3f");
	json_num(f, "threads2_cpu_share", r->t2.cpu, "%.3f");
	json_num(f, "ratio_2t_vs_1t_per_cpu_second",
		 r->t2.cpu_mops / r->t1.cpu_mops, "%.4f");
	json_num(f, "control_mutex_threads1_mops", r->c1.mops, "%.3f");
	json_num(f, "control_mutex_threads2_mops", r->c2.mops, "%.3f");
	json_num(f, "control_ratio_2t_vs_1t", r->c2.mops / r->c1.mops, "%.4f");
	json_num(f, "populate_ns_per_entry", r->populate_ns, "%.1f");
	json_num(f, "node_size", sizeof(struct dax_idx_node), "%.0f");
	json_num(f, "nodes_pte", (double)r->pte_nodes, "%.0f");
	json_num(f, "bytes_per_entry_pte",
		 heap_per_entry(r->pte_heap, cfg->nr_entries), "%.3f");
	json_num(f, "node_bytes_per_entry_pte",
		 nodes_per_entry(r->pte_nodes, cfg->nr_entries), "%.3f");
	json_num(f, "nodes_pmd", (double)r->pmd_nodes, "%.0f");
	json_num(f, "bytes_per_entry_pmd",
		 heap_per_entry(r->pmd_heap, cfg->nr_pmd), "%.3f");
	json_num(f, "node_bytes_per_entry_pmd",
		 nodes_per_entry(r->pmd_nodes, cfg->nr_pmd), "%.3f");
	fputs("}\n", f);
	if (ferror(f) | fclose(f))
		die(cfg->json, errno);
}

/*
 * "12.34 bytes/entry" (with the figure per 4 KiB page when an entry
 * covers @pages > 1), or "n/a" when mallinfo2() saw nothing.
 */
static const char *heap_str(char *buf, size_t len, uint64_t heap, uint64_t nr,
			    uint64_t pages)
{
	double per = heap_per_entry(heap, nr);

	if (!heap)
		return "n/a (mallinfo2 sees no allocation: sanitizer?)";
	if (pages > 1)
		snprintf(buf, len, "%.2f bytes/entry (%.3f per 4 KiB page)",
			 per, per / (double)pages);
	else
		snprintf(buf, len, "%.2f bytes/entry", per);
	return buf;
}

static void report(const struct config *cfg, const struct results *r)
{
	size_t nsz = sizeof(struct dax_idx_node);
	char buf[80];

	printf("lockbench: %s run; latency: best of %u interleaved runs of "
	       "%lu ops per side (after one warm-up run each); throughput: "
	       "best of %u interleaved runs of %u ms per thread count\n",
	       cfg->quick ? "quick" : "full", cfg->runs, cfg->iters, cfg->runs,
	       cfg->tput_ms);
	printf("lockbench: grab+unlock %.2f ns/op (median %.2f), mutex "
	       "lock+unlock %.2f ns/op (median %.2f), ratio %.2f "
	       "(target <= 1.5)\n",
	       r->grab_ns, r->grab_ns_med, r->mutex_ns, r->mutex_ns_med,
	       r->grab_ns / r->mutex_ns);
	printf("lockbench: reference: the seed's tree-lock grab+unlock "
	       "%.2f ns/op (median %.2f); udax / seed %.2f\n",
	       r->lookup_ns, r->lookup_ns_med, r->grab_ns / r->lookup_ns);
	printf("lockbench: 1 thread %.2f Mops/s (median %.2f), 2 threads "
	       "%.2f Mops/s (median %.2f), ratio %.2f (target >= 1.6)\n",
	       r->t1.mops, r->t1_mops_med, r->t2.mops, r->t2_mops_med,
	       r->t2.mops / r->t1.mops);
	printf("lockbench: scaling context: workers of the best runs had "
	       "%.0f%% / %.0f%% of a CPU; ratio per CPU-second they got "
	       "%.2f; control, private mutex per thread: ratio %.2f\n",
	       100 * r->t1.cpu, 100 * r->t2.cpu,
	       r->t2.cpu_mops / r->t1.cpu_mops, r->c2.mops / r->c1.mops);
	printf("lockbench: %llu dense 4 KiB entries: heap %s (target <= 10), "
	       "%llu nodes * %zu = %.2f bytes/entry; populate %.1f "
	       "ns/entry\n",
	       (unsigned long long)cfg->nr_entries,
	       heap_str(buf, sizeof(buf), r->pte_heap, cfg->nr_entries, 1),
	       (unsigned long long)r->pte_nodes, nsz,
	       nodes_per_entry(r->pte_nodes, cfg->nr_entries), r->populate_ns);
	printf("lockbench: %llu PMD entries: heap %s, %llu nodes * %zu = "
	       "%.2f bytes/entry\n",
	       (unsigned long long)cfg->nr_pmd,
	       heap_str(buf, sizeof(buf), r->pmd_heap, cfg->nr_pmd, DAX_PMD_NR),
	       (unsigned long long)r->pmd_nodes, nsz,
	       nodes_per_entry(r->pmd_nodes, cfg->nr_pmd));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: lockbench [-q] [-o FILE]\n"
		   "  -q       quick run (smoke test)\n"
		   "  -o FILE  also write the figures as JSON to FILE\n");
}

/* -q: the quick run (a smoke test). */
static bool opt_quick(int letter, const char *val, void *arg)
{
	struct config *cfg = arg;

	(void)val;
	if (letter != 'q')
		return false;
	cfg->quick = true;
	cfg->iters = 200000;
	cfg->runs = 3;
	cfg->tput_ms = 60;
	return true;
}

int main(int argc, char **argv)
{
	struct config cfg = {
	    .nr_entries = 1u << 20,
	    .nr_pmd = 1u << 16,
	    .iters = 2000000,
	    .runs = 5,
	    .tput_ms = 200,
	};
	struct results r = {0};
	struct dax_mapping m, pm;
	int err;

	err = bench_args(argc, argv, "q", opt_quick, &cfg, &cfg.json, usage);
	if (err >= 0)
		return err;

	err = dax_mapping_init(&m);
	if (!err)
		err = dax_mapping_init(&pm);
	if (err)
		die("dax_mapping_init", -err);
	/* Registering with RCU may allocate: do it before measuring. */
	dax_rcu_thread_online();

	measure_memory(&m, cfg.nr_entries, 0, &r.pte_heap, &r.pte_nodes,
		       &r.populate_ns);
	measure_memory(&pm, cfg.nr_pmd, DAX_PMD_ORDER, &r.pmd_heap,
		       &r.pmd_nodes, NULL);
	dax_mapping_destroy(&pm);

	bench_latency(&cfg, &m, &r);
	bench_scaling(&cfg, &m, &r);

	report(&cfg, &r);
	if (cfg.json)
		write_json(&cfg, &r);

	dax_mapping_destroy(&m);
	dax_rcu_barrier();
	return 0;
}
