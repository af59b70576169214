/* The metrics derived from the history of refreshes (history.h) — produce and consume rates,
 * time to drain, stuck partitions, Burrow status — as the provider serves them: an
 * accumulator over the partitions a request selects and the value it ends with, and the
 * excludePersistentLag selector parameter. Pure. */
#ifndef KOS_DERIVED_H
#define KOS_DERIVED_H

#include "selector.h"
#include "snapshot.h"

#include <stddef.h>
#include <stdint.h>

#define KOS_METRIC_PRODUCE_RATE  "kafka_consumergroup_produce_rate"
#define KOS_METRIC_CONSUME_RATE  "kafka_consumergroup_consume_rate"
#define KOS_METRIC_TIME_TO_DRAIN "kafka_consumergroup_time_to_drain_seconds"
#define KOS_METRIC_STUCK         "kafka_consumergroup_stuck_partitions"
#define KOS_METRIC_STATUS        "kafka_consumergroup_status"

/* KEDA's name: stuck partitions (history.h) count for nothing in the selected series. */
#define KOS_PARAM_EXCLUDE_STUCK "excludePersistentLag"

/* @returns the i-th derived metric name (i < KOS_DERIVED_METRICS), for discovery. */
#define KOS_DERIVED_METRICS 5
const char *kos_derived_metric(size_t i);
int kos_derived_is_metric(const char *name);

/* Reads excludePersistentLag from sel into *exclude (0 when absent). Only `=`/`==` with true
 * or false is accepted: -1 with msg otherwise (a 400 for the client). */
int kos_derived_exclude_param(const kos_selector_t *sel, int *exclude, char *msg, size_t msg_size);

typedef struct {
        int64_t lag;    /* sum over counted partitions, -1 unknown */
        double produce; /* sum of known rates */
        double consume;
        size_t n_rates;      /* partitions with both rates known */
        size_t n_parts;      /* counted partitions (stuck ones excluded on request) */
        size_t n_stuck;      /* selected partitions that are stuck, excluded or not */
        kos_status_t status; /* Burrow's fold over the selected partitions */
} kos_derived_acc_t;

void kos_derived_init(kos_derived_acc_t *a);
/* Adds a selected partition; counted = 0 for a stuck partition the request excludes. */
void kos_derived_add(kos_derived_acc_t *a, const kos_part_lag_t *p, int counted);

/* The value of metric for what was added, as value * 10^-scale. 0, or -1 with msg when it is
 * not known (no history yet, no rates yet, an unknown lag): a 503 for the client. */
int kos_derived_value(const kos_derived_acc_t *a, const kos_snapshot_t *snap, const char *metric,
                      int64_t *value, int *scale, char *msg, size_t msg_size);

#endif
