/* common/metrics and common/strbuf: histogram bucket arithmetic, percentiles, interval
 * snapshots, and the Prometheus text they render. */
#include "check.h"
#include "metrics.h"
#include "strbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_buckets(void)
{
        /* Every value falls in the bucket whose range holds it; ranges tile without gaps. */
        uint64_t expect_low = 0;
        for (size_t i = 0; i < KOS_HIST_BUCKETS; i++) {
                CHECK(kos_hist_bucket_low(i) == expect_low);
                expect_low = kos_hist_bucket_low(i) + kos_hist_bucket_width(i);
        }
        for (uint64_t v = 0; v < 100000; v += 7) {
                size_t i = kos_hist_index(v);
                if (!(v >= kos_hist_bucket_low(i) &&
                      v < kos_hist_bucket_low(i) + kos_hist_bucket_width(i)))
                        CHECK(!"value outside its bucket");
                /* Relative width stays under 1/16 (the advertised < 4 % midpoint error). */
                if (v >= 16 && kos_hist_bucket_width(i) * 16 > kos_hist_bucket_low(i))
                        CHECK(!"bucket too wide");
        }
        CHECK_INT(kos_hist_index(UINT64_MAX), KOS_HIST_BUCKETS - 1);
        CHECK_INT(kos_hist_index((uint64_t)1 << 40), KOS_HIST_BUCKETS - 1);
        CHECK_INT(kos_hist_index(((uint64_t)1 << 40) - 1), KOS_HIST_BUCKETS - 1);
}

static void test_quantiles(void)
{
        static kos_hist_t h;
        static kos_hist_snap_t a, b;
        kos_hist_snapshot(&h, &a);
        CHECK_INT(kos_hist_snap_quantile(&a, 0.5), 0);
        for (uint64_t v = 1; v <= 10000; v++)
                kos_hist_record(&h, v);
        kos_hist_snapshot(&h, &a);
        CHECK_INT(a.count, 10000);
        CHECK_INT(a.sum, 50005000);
        uint64_t p50 = kos_hist_snap_quantile(&a, 0.5), p99 = kos_hist_snap_quantile(&a, 0.99);
        CHECK(fabs((double)p50 - 5000) / 5000 < 0.04);
        CHECK(fabs((double)p99 - 9900) / 9900 < 0.04);
        CHECK_INT(kos_hist_snap_quantile(&a, 0), 1);
        CHECK(kos_hist_snap_quantile(&a, 1) >= 9700);
        CHECK_INT(kos_hist_snap_count_le(&a, 15), 15);
        CHECK_INT(kos_hist_snap_count_le(&a, 0), 0);
        CHECK_INT(kos_hist_snap_count_le(&a, UINT64_MAX), 10000);

        /* An interval: only what was recorded since the earlier snapshot. */
        for (int i = 0; i < 100; i++)
                kos_hist_record(&h, 1000000);
        kos_hist_snapshot(&h, &b);
        kos_hist_snap_sub(&b, &a);
        CHECK_INT(b.count, 100);
        CHECK(fabs((double)kos_hist_snap_quantile(&b, 0.5) - 1e6) / 1e6 < 0.04);
}

static void test_render(void)
{
        kos_strbuf_t sb = {0};
        kos_prom_meta(&sb, "x_total", "counter", "Things.");
        kos_prom_u64(&sb, "x_total", "", 42);
        kos_prom_u64(&sb, "x_total", "topic=\"t\"", 7);
        kos_prom_double(&sb, "g", "", INFINITY);
        kos_prom_double(&sb, "g", "", 0.25);
        kos_prom_double(&sb, "g", "", NAN);
        CHECK_STR(sb.data, "# HELP x_total Things.\n# TYPE x_total counter\nx_total 42\n"
                           "x_total{topic=\"t\"} 7\ng +Inf\ng 0.25\ng NaN\n");
        kos_strbuf_free(&sb);

        static kos_hist_t h;
        static kos_hist_snap_t s;
        kos_hist_record(&h, 500);  /* 0.5 ms */
        kos_hist_record(&h, 1000); /* 1 ms: in a bucket ending above 1000 us */
        kos_hist_record(&h, 3000);
        kos_hist_snapshot(&h, &s);
        const double bounds[] = {0.0005, 0.001, 0.005};
        kos_prom_histogram(&sb, "lat_seconds", "Latency.", &s, 1e-6, bounds, 3);
        CHECK_STR(sb.data, "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
                           "lat_seconds_bucket{le=\"0.0005\"} 0\n"
                           "lat_seconds_bucket{le=\"0.001\"} 1\n"
                           "lat_seconds_bucket{le=\"0.005\"} 3\n"
                           "lat_seconds_bucket{le=\"+Inf\"} 3\n"
                           "lat_seconds_sum 0.0045\nlat_seconds_count 3\n");
        size_t len;
        char *text = kos_strbuf_steal(&sb, &len);
        CHECK(text && len == strlen(text));
        CHECK(sb.data == NULL && sb.len == 0);
        free(text);

        /* Growth across many appends; steal of an empty buffer is "". */
        for (int i = 0; i < 10000; i++)
                kos_strbuf_printf(&sb, "%d,", i);
        CHECK(strncmp(sb.data + sb.len - 5, "9999,", 5) == 0);
        kos_strbuf_free(&sb);
        text = kos_strbuf_steal(&sb, &len);
        CHECK_STR(text, "");
        CHECK_INT(len, 0);
        free(text);
}

int main(void)
{
        test_buckets();
        test_quantiles();
        test_render();
        return check_result("test_metrics");
}
