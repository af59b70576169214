/* The lag engine: the only code that talks to Kafka. A background thread refreshes every
 * interval: ListConsumerGroups → ListConsumerGroupOffsets (all groups in flight at once) and
 * DescribeConsumerGroups → Metadata (partition counts, against which every partition named by
 * group metadata is checked: groupparts.h) → end offsets batched per broker (offsets_for_times
 * END) → log start offsets (every partition: retention, per-request policy) → timestamps of the
 * first unconsumed records; then it publishes one immutable snapshot (snapshot.h). A failed refresh
 * publishes nothing, so the served snapshot ages and the provider answers 503 past the staleness
 * bound.
 * Thread notes: new, start and destroy run on the main thread; the refresh thread (and
 * librdkafka's threads under it) is the only one that touches the Kafka clients and builds
 * snapshots. kos_lag_get_stats is safe from any thread (HTTP workers render /metrics and
 * /readyz with it): the stats are copied under the engine's mutex. kos_lag_refresh_once is
 * the refresh thread's step; nothing else may call it while the thread runs. */
#ifndef KOS_LAG_H
#define KOS_LAG_H

#include "groupparts.h"
#include "history.h"
#include "kconf.h"
#include "snapshot.h"

#include <stdint.h>

typedef struct {
        int refresh_interval_ms; /* pause between refreshes */
        int kafka_timeout_ms;    /* all Kafka calls of one refresh together */
        kos_nocommit_policy_t policy;
        int read_committed;         /* end = last stable offset instead of high watermark */
        int head_timestamps;        /* fetch the record at the committed offset (lag seconds) */
        int head_budget_ms;         /* time allowed per refresh for those fetches */
        kos_history_opts_t history; /* stuck partitions, status, rates (history.h) */
} kos_lag_opts_t;

void kos_lag_opts_defaults(kos_lag_opts_t *o);

typedef struct {
        uint64_t refreshes_ok;
        uint64_t refreshes_failed;
        int64_t last_refresh_us; /* duration of the last successful refresh */
        int64_t last_ok_ms;      /* wall clock of the last successful refresh, 0 = never */
        uint64_t head_fetched;   /* records fetched for head timestamps, total */
        /* Entries of group metadata refused (groupparts.h), in total and in the last refresh. */
        uint64_t rejected_total[KOS_GP_REASONS];
        uint64_t rejected_last[KOS_GP_REASONS];
        char last_error[256]; /* "" when the last refresh succeeded */
} kos_lag_stats_t;

typedef struct kos_lag_s kos_lag_t;

/* Creates the Kafka clients (copies of kc). Does not start the thread. NULL + errstr on error. */
kos_lag_t *kos_lag_new(const kos_kconf_t *kc, const kos_lag_opts_t *opts, char *errstr,
                       size_t errstr_size);
/* Runs one refresh synchronously and publishes it on success. -1 + errstr on failure. */
int kos_lag_refresh_once(kos_lag_t *lag, char *errstr, size_t errstr_size);
/* Starts the refresh thread. */
int kos_lag_start(kos_lag_t *lag, char *errstr, size_t errstr_size);
/* Stops the thread (if started) and frees everything. NULL is a no-op. */
void kos_lag_destroy(kos_lag_t *lag);
void kos_lag_get_stats(kos_lag_t *lag, kos_lag_stats_t *out);

/* Pause in ms after the n-th failed probe of an unreachable Kafka (n >= 1): backoff_ms doubled
 * per failed probe up to backoff_max_ms (librdkafka's reconnect.backoff.ms and
 * reconnect.backoff.max.ms), never shorter than refresh_interval_ms. Pure. */
int kos_lag_probe_backoff_ms(int failed_probes, int backoff_ms, int backoff_max_ms,
                             int refresh_interval_ms);

#endif
