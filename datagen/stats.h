/* The datagen's accounting: counters bumped by the produce loop and the delivery reports,
 * a periodic progress line on stderr and the /metrics page. Counters are atomics (the HTTP
 * thread reads them); the interval figures are computed by kos_stats_tick on the loop thread. */
#ifndef KOS_DG_STATS_H
#define KOS_DG_STATS_H

#include "metrics.h"
#include "strbuf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum { KOS_T_RQ, KOS_T_RS, KOS_T_COUNT }; /* topic index: requests, responses */

typedef struct {
        const char *topics[KOS_T_COUNT]; /* borrowed */
        char seed[24];                   /* for the info metric */

        /* Written by the produce loop (frames, produced, queue_full) and by delivery reports
         * (the rest); read from any thread. */
        atomic_ullong frames;
        atomic_ullong produced[KOS_T_COUNT];
        atomic_ullong produced_bytes[KOS_T_COUNT];
        atomic_ullong acked[KOS_T_COUNT];
        atomic_ullong acked_bytes[KOS_T_COUNT];
        atomic_ullong failed[KOS_T_COUNT];
        atomic_ullong queue_full;
        kos_hist_t latency_us; /* produce call -> delivery report */

        /* Set by the loop; gauges. */
        _Atomic double target_rate;

        /* Interval figures, under lock (written once per tick, read by /metrics). */
        pthread_mutex_t lock;
        double frame_rate, acked_rate, acked_mbps, p50_s, p99_s;

        /* Previous tick (loop thread only). */
        int64_t last_tick_ns;
        uint64_t last_frames, last_acked, last_acked_bytes;
        kos_hist_snap_t last_hist;
        kos_hist_snap_t scratch, window; /* working copies for tick and report */
        int64_t start_ns;
} kos_stats_t;

/* start_ns on the monotonic clock; topics are borrowed. */
void kos_stats_init(kos_stats_t *s, const char *rq_topic, const char *rs_topic, uint64_t seed,
                    int64_t start_ns);
void kos_stats_destroy(kos_stats_t *s);

/* Computes the interval figures since the last tick; logs the progress line if log is set. */
void kos_stats_tick(kos_stats_t *s, int64_t now_ns, int log);
/* Logs the final report ("done: ..."). */
void kos_stats_report(kos_stats_t *s, int64_t now_ns);

uint64_t kos_stats_sum(atomic_ullong *per_topic);

/* Appends the Prometheus text of all figures. */
void kos_stats_render(kos_stats_t *s, kos_strbuf_t *out);

#endif
