/* Datagen accounting, progress line and /metrics (see stats.h). */
#include "stats.h"
#include "log.h"
#include "rate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))

void kos_stats_init(kos_stats_t *s, const char *rq_topic, const char *rs_topic, uint64_t seed,
                    int64_t start_ns)
{
        memset(s, 0, sizeof(*s));
        s->topics[KOS_T_RQ] = rq_topic;
        s->topics[KOS_T_RS] = rs_topic;
        snprintf(s->seed, sizeof(s->seed), "%" PRIu64, seed);
        pthread_mutex_init(&s->lock, NULL);
        s->start_ns = s->last_tick_ns = start_ns;
}

void kos_stats_destroy(kos_stats_t *s)
{
        pthread_mutex_destroy(&s->lock);
}

uint64_t kos_stats_sum(atomic_ullong *per_topic)
{
        uint64_t n = 0;
        for (int t = 0; t < KOS_T_COUNT; t++)
                n += LOAD(per_topic[t]);
        return n;
}

/* Records produced but neither acknowledged nor failed yet. */
static uint64_t inflight(kos_stats_t *s)
{
        uint64_t done = kos_stats_sum(s->acked) + kos_stats_sum(s->failed);
        uint64_t produced = kos_stats_sum(s->produced);
        return produced > done ? produced - done : 0;
}

static void fmt_latency(char *buf, size_t size, double s)
{
        if (s < 0.001)
                snprintf(buf, size, "%.0fus", s * 1e6);
        else if (s < 1)
                snprintf(buf, size, "%.1fms", s * 1e3);
        else
                snprintf(buf, size, "%.2fs", s);
}

void kos_stats_tick(kos_stats_t *s, int64_t now_ns, int log)
{
        double dt = (double)(now_ns - s->last_tick_ns) / 1e9;
        if (dt <= 0)
                return;
        uint64_t frames = LOAD(s->frames);
        uint64_t acked = kos_stats_sum(s->acked);
        uint64_t acked_bytes = kos_stats_sum(s->acked_bytes);
        kos_hist_snap_t *now = &s->scratch, *win = &s->window;
        kos_hist_snapshot(&s->latency_us, now);
        *win = *now;
        kos_hist_snap_sub(win, &s->last_hist);

        double frame_rate = (double)(frames - s->last_frames) / dt;
        double acked_rate = (double)(acked - s->last_acked) / dt;
        double mbps = (double)(acked_bytes - s->last_acked_bytes) / dt / 1e6;
        double p50 = (double)kos_hist_snap_quantile(win, 0.5) / 1e6;
        double p99 = (double)kos_hist_snap_quantile(win, 0.99) / 1e6;
        pthread_mutex_lock(&s->lock);
        s->frame_rate = frame_rate;
        s->acked_rate = acked_rate;
        s->acked_mbps = mbps;
        s->p50_s = p50;
        s->p99_s = p99;
        pthread_mutex_unlock(&s->lock);

        s->last_tick_ns = now_ns;
        s->last_frames = frames;
        s->last_acked = acked;
        s->last_acked_bytes = acked_bytes;
        s->last_hist = *now;
        if (!log)
                return;
        char target[32], l50[16], l99[16];
        kos_rate_format(atomic_load_explicit(&s->target_rate, memory_order_relaxed), target,
                        sizeof(target));
        fmt_latency(l50, sizeof(l50), p50);
        fmt_latency(l99, sizeof(l99), p99);
        KOS_INFO("stats",
                 "target %s/s achieved %.0f frames/s; produced %" PRIu64 " acked %" PRIu64
                 " (%.0f rec/s, %.2f MB/s) failed %" PRIu64 " inflight %" PRIu64
                 "; latency p50 %s p99 %s",
                 target, frame_rate, kos_stats_sum(s->produced), acked, acked_rate, mbps,
                 kos_stats_sum(s->failed), inflight(s), win->count ? l50 : "-",
                 win->count ? l99 : "-");
}

void kos_stats_report(kos_stats_t *s, int64_t now_ns)
{
        kos_hist_snap_t *all = &s->scratch;
        kos_hist_snapshot(&s->latency_us, all);
        double secs = (double)(now_ns - s->start_ns) / 1e9;
        uint64_t frames = LOAD(s->frames);
        char l50[16], l99[16];
        fmt_latency(l50, sizeof(l50), (double)kos_hist_snap_quantile(all, 0.5) / 1e6);
        fmt_latency(l99, sizeof(l99), (double)kos_hist_snap_quantile(all, 0.99) / 1e6);
        KOS_INFO("stats",
                 "done: %" PRIu64 " frames in %.3f s (%.0f frames/s); produced %" PRIu64
                 " (requests %" PRIu64 ", responses %" PRIu64 ") acked %" PRIu64 " (%" PRIu64
                 " bytes) failed %" PRIu64 "; latency p50 %s p99 %s",
                 frames, secs, secs > 0 ? (double)frames / secs : 0.0, kos_stats_sum(s->produced),
                 LOAD(s->produced[KOS_T_RQ]), LOAD(s->produced[KOS_T_RS]), kos_stats_sum(s->acked),
                 kos_stats_sum(s->acked_bytes), kos_stats_sum(s->failed), all->count ? l50 : "-",
                 all->count ? l99 : "-");
}

static void per_topic(kos_strbuf_t *out, kos_stats_t *s, const char *name, const char *help,
                      atomic_ullong *v)
{
        kos_prom_meta(out, name, "counter", help);
        for (int t = 0; t < KOS_T_COUNT; t++) {
                char labels[300];
                snprintf(labels, sizeof(labels), "topic=\"%s\"", s->topics[t]);
                kos_prom_u64(out, name, labels, LOAD(v[t]));
        }
}

void kos_stats_render(kos_stats_t *s, kos_strbuf_t *out)
{
        static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,    30};
        pthread_mutex_lock(&s->lock);
        double frame_rate = s->frame_rate, acked_rate = s->acked_rate, p50 = s->p50_s,
               p99 = s->p99_s;
        pthread_mutex_unlock(&s->lock);

        kos_prom_meta(out, "kos_datagen_info", "gauge", "Build and run information.");
        kos_strbuf_printf(out, "kos_datagen_info{seed=\"%s\"} 1\n", s->seed);
        kos_prom_meta(out, "kos_datagen_frames_total", "counter",
                      "Frames generated (one request record each).");
        kos_prom_u64(out, "kos_datagen_frames_total", "", LOAD(s->frames));
        per_topic(out, s, "kos_datagen_records_produced_total", "Records handed to the producer.",
                  s->produced);
        per_topic(out, s, "kos_datagen_records_acked_total",
                  "Records acknowledged by the broker (acks per producer config).", s->acked);
        per_topic(out, s, "kos_datagen_records_failed_total",
                  "Records that failed for good (delivery error, purged at shutdown).", s->failed);
        per_topic(out, s, "kos_datagen_bytes_acked_total",
                  "Key plus value bytes of acknowledged records.", s->acked_bytes);
        kos_prom_meta(out, "kos_datagen_queue_full_total", "counter",
                      "Times the producer queue was full and the loop waited.");
        kos_prom_u64(out, "kos_datagen_queue_full_total", "", LOAD(s->queue_full));
        kos_prom_meta(out, "kos_datagen_inflight_records", "gauge",
                      "Records produced and not yet acknowledged or failed.");
        kos_prom_u64(out, "kos_datagen_inflight_records", "", inflight(s));
        kos_prom_meta(out, "kos_datagen_target_rate", "gauge",
                      "Target frames/s (+Inf: as fast as the broker takes, 0: paused).");
        kos_prom_double(out, "kos_datagen_target_rate", "",
                        atomic_load_explicit(&s->target_rate, memory_order_relaxed));
        kos_prom_meta(out, "kos_datagen_achieved_rate", "gauge",
                      "Frames/s generated over the last stats interval.");
        kos_prom_double(out, "kos_datagen_achieved_rate", "", frame_rate);
        kos_prom_meta(out, "kos_datagen_acked_rate", "gauge",
                      "Records/s acknowledged over the last stats interval.");
        kos_prom_double(out, "kos_datagen_acked_rate", "", acked_rate);
        kos_prom_meta(out, "kos_datagen_delivery_latency_p50_seconds", "gauge",
                      "Median delivery latency over the last stats interval.");
        kos_prom_double(out, "kos_datagen_delivery_latency_p50_seconds", "", p50);
        kos_prom_meta(out, "kos_datagen_delivery_latency_p99_seconds", "gauge",
                      "99th percentile delivery latency over the last stats interval.");
        kos_prom_double(out, "kos_datagen_delivery_latency_p99_seconds", "", p99);
        static kos_hist_snap_t all;
        static pthread_mutex_t render_lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&render_lock);
        kos_hist_snapshot(&s->latency_us, &all);
        kos_prom_histogram(out, "kos_datagen_delivery_latency_seconds",
                           "Produce call to delivery report, whole run.", &all, 1e-6, bounds,
                           sizeof(bounds) / sizeof(bounds[0]));
        pthread_mutex_unlock(&render_lock);
}
