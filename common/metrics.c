/* Histogram and Prometheus text rendering (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t kos_hist_index(uint64_t v)
{
        if (v < KOS_HIST_SUB)
                return (size_t)v;
        int msb = 63 - __builtin_clzll(v);
        if (msb >= 40)
                return KOS_HIST_BUCKETS - 1;
        int shift = msb - 4;
        return KOS_HIST_SUB + (size_t)(msb - 4) * KOS_HIST_SUB +
               ((v >> shift) & (KOS_HIST_SUB - 1));
}

uint64_t kos_hist_bucket_low(size_t i)
{
        if (i < KOS_HIST_SUB)
                return i;
        size_t octave = (i - KOS_HIST_SUB) / KOS_HIST_SUB, sub = (i - KOS_HIST_SUB) % KOS_HIST_SUB;
        return (uint64_t)(KOS_HIST_SUB + sub) << octave;
}

uint64_t kos_hist_bucket_width(size_t i)
{
        if (i < KOS_HIST_SUB)
                return 1;
        return (uint64_t)1 << ((i - KOS_HIST_SUB) / KOS_HIST_SUB);
}

void kos_hist_record(kos_hist_t *h, uint64_t v)
{
        atomic_fetch_add_explicit(&h->b[kos_hist_index(v)], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void kos_hist_snapshot(kos_hist_t *h, kos_hist_snap_t *out)
{
        /* Count is derived from the buckets so that the copy is self-consistent even while
         * another thread records. */
        uint64_t n = 0;
        for (size_t i = 0; i < KOS_HIST_BUCKETS; i++) {
                out->b[i] = atomic_load_explicit(&h->b[i], memory_order_relaxed);
                n += out->b[i];
        }
        out->count = n;
        out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}

void kos_hist_snap_sub(kos_hist_snap_t *a, const kos_hist_snap_t *b)
{
        for (size_t i = 0; i < KOS_HIST_BUCKETS; i++)
                a->b[i] -= b->b[i];
        a->count -= b->count;
        a->sum -= b->sum;
}

uint64_t kos_hist_snap_quantile(const kos_hist_snap_t *s, double q)
{
        if (!s->count)
                return 0;
        if (q < 0)
                q = 0;
        if (q > 1)
                q = 1;
        uint64_t rank = (uint64_t)ceil(q * (double)s->count);
        if (rank == 0)
                rank = 1;
        uint64_t seen = 0;
        for (size_t i = 0; i < KOS_HIST_BUCKETS; i++) {
                seen += s->b[i];
                if (seen >= rank)
                        return kos_hist_bucket_low(i) + kos_hist_bucket_width(i) / 2;
        }
        return kos_hist_bucket_low(KOS_HIST_BUCKETS - 1);
}

uint64_t kos_hist_snap_count_le(const kos_hist_snap_t *s, uint64_t v)
{
        uint64_t n = 0;
        for (size_t i = 0; i < KOS_HIST_BUCKETS; i++) {
                if (kos_hist_bucket_low(i) + kos_hist_bucket_width(i) - 1 > v)
                        break;
                n += s->b[i];
        }
        return n;
}

void kos_prom_meta(kos_strbuf_t *b, const char *name, const char *type, const char *help)
{
        kos_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void kos_prom_u64(kos_strbuf_t *b, const char *name, const char *labels, uint64_t v)
{
        if (labels && *labels)
                kos_strbuf_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
        else
                kos_strbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void fmt_double(char *out, size_t n, double v)
{
        if (isnan(v))
                snprintf(out, n, "NaN");
        else if (isinf(v))
                snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
        else
                snprintf(out, n, "%.10g", v);
}

void kos_prom_double(kos_strbuf_t *b, const char *name, const char *labels, double v)
{
        char num[64];
        fmt_double(num, sizeof(num), v);
        if (labels && *labels)
                kos_strbuf_printf(b, "%s{%s} %s\n", name, labels, num);
        else
                kos_strbuf_printf(b, "%s %s\n", name, num);
}

void kos_prom_histogram(kos_strbuf_t *b, const char *name, const char *help,
                        const kos_hist_snap_t *s, double unit, const double *bounds,
                        size_t n_bounds)
{
        kos_prom_meta(b, name, "histogram", help);
        char num[64];
        for (size_t i = 0; i < n_bounds; i++) {
                fmt_double(num, sizeof(num), bounds[i]);
                /* Rounded: 0.001 / 1e-6 is 999.99... in binary floating point. */
                uint64_t le = (uint64_t)llround(bounds[i] / unit);
                kos_strbuf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, num,
                                  (unsigned long long)kos_hist_snap_count_le(s, le));
        }
        kos_strbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)s->count);
        fmt_double(num, sizeof(num), (double)s->sum * unit);
        kos_strbuf_printf(b, "%s_sum %s\n%s_count %llu\n", name, num, name,
                          (unsigned long long)s->count);
}
