/* Figures for /metrics: a lock-free latency histogram with percentiles (log-linear buckets,
 * relative error under 4 %) and helpers that render counters, gauges and histograms as
 * Prometheus text. Recording is wait-free so the hot path never blocks on a scrape. */
#ifndef KOS_METRICS_H
#define KOS_METRICS_H

#include "strbuf.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* 16 sub-buckets per power of two up to 2^40 units; larger values land in the last bucket. */
#define KOS_HIST_SUB     16
#define KOS_HIST_BUCKETS (KOS_HIST_SUB + (40 - 4) * KOS_HIST_SUB)

/* Zero-initialised (static or calloc) is an empty histogram. Safe to record from any thread. */
typedef struct {
        atomic_ullong b[KOS_HIST_BUCKETS];
        atomic_ullong count;
        atomic_ullong sum;
} kos_hist_t;

/* A plain copy, for percentiles over the whole run or (with kos_hist_snap_sub) an interval. */
typedef struct {
        uint64_t b[KOS_HIST_BUCKETS];
        uint64_t count;
        uint64_t sum;
} kos_hist_snap_t;

void kos_hist_record(kos_hist_t *h, uint64_t v);
void kos_hist_snapshot(kos_hist_t *h, kos_hist_snap_t *out);
/* a -= b, where b is an earlier snapshot of the same histogram. */
void kos_hist_snap_sub(kos_hist_snap_t *a, const kos_hist_snap_t *b);
/* Estimated value at quantile q (0..1): the middle of the bucket holding it; 0 when empty. */
uint64_t kos_hist_snap_quantile(const kos_hist_snap_t *s, double q);
/* Number of recorded values whose bucket lies entirely at or below v (for "le" buckets). */
uint64_t kos_hist_snap_count_le(const kos_hist_snap_t *s, uint64_t v);
/* Bucket arithmetic, exposed for tests: index of v, and the bucket's [low, low + width). */
size_t kos_hist_index(uint64_t v);
uint64_t kos_hist_bucket_low(size_t i);
uint64_t kos_hist_bucket_width(size_t i);

/* Prometheus text helpers. labels is "" or a rendered set such as topic="x" (no braces). */
void kos_prom_meta(kos_strbuf_t *b, const char *name, const char *type, const char *help);
void kos_prom_u64(kos_strbuf_t *b, const char *name, const char *labels, uint64_t v);
/* Doubles print with %.10g; infinities as +Inf/-Inf, NaN as NaN. */
void kos_prom_double(kos_strbuf_t *b, const char *name, const char *labels, double v);
/* A histogram family: name_bucket{le=...} for each bound (in output units), +Inf, _sum, _count.
 * unit converts recorded units to output units (1e-6 for microseconds -> seconds). */
void kos_prom_histogram(kos_strbuf_t *b, const char *name, const char *help,
                        const kos_hist_snap_t *s, double unit, const double *bounds,
                        size_t n_bounds);

#endif
