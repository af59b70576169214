/* Scaling parameters carried in a metric's label selector, with the semantics of KEDA's Kafka
 * scaler (lagThreshold, allowIdleConsumers, limitToPartitionsWithLag, activationLagThreshold,
 * offsetResetPolicy, scaleToZeroOnInvalidOffset) plus kos's own topicRegex and per-topic
 * weights, and the pure arithmetic that turns a group's partitions into the served value.
 * The selector carries them because the adapter is stateless: no HPA watch, each metric
 * request says everything its answer depends on. Pure: no I/O, no globals. */
#ifndef KOS_SCALING_H
#define KOS_SCALING_H

#include "selector.h"
#include "snapshot.h"

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#define KOS_SCALING_MAX_WEIGHTS   64
#define KOS_SCALING_WEIGHT_PREFIX "weight.kos.io/" /* weight.kos.io/<topic>=<number> */
#define KOS_SCALING_WEIGHT_MAX    1000000          /* largest weight accepted */
#define KOS_SCALING_REGEX_MAX     256              /* bytes of a decoded topicRegex */

typedef struct {
        const char *topic; /* borrowed from the selector */
        int64_t milli;     /* weight x 1000 */
} kos_topic_weight_t;

typedef struct {
        int64_t lag_threshold; /* lagThreshold; 0 = not given: no cap */
        int allow_idle;        /* allowIdleConsumers=true: no cap */
        int limit_to_lagging;  /* limitToPartitionsWithLag=true: cap at partitions with lag */
        int64_t activation;    /* activationLagThreshold: value served as 0 while <= this */
        int policy;            /* offsetResetPolicy: -1 = the adapter's --no-commit-policy */
        int zero_on_invalid;   /* scaleToZeroOnInvalidOffset=true (latest: 0 instead of 1) */
        int has_regex;
        regex_t topic_re; /* topicRegex, anchored at both ends; valid when has_regex */
        kos_topic_weight_t weights[KOS_SCALING_MAX_WEIGHTS];
        size_t n_weights;
        /* excludePersistentLag=true: left 0 by kos_scaling_parse; the provider sets it from
         * kos_derived_exclude_param (derived.h: its own, stricter true|false syntax), once per
         * request rather than once per group. */
        int exclude_stuck;
} kos_scaling_t;

/* @returns 1 if `key` names a scaling parameter (or the headroom metric's budget) rather than
 * a series label: such keys never restrict which partitions a selector admits. */
int kos_scaling_is_param(const char *key);

/* Reads the parameters from sel (NULL: none). Every parameter must be given once, as `k=v`
 * (or `k in (v)`). On error returns -1 with errstr naming the key and what it accepts; the
 * caller answers 400. On success call kos_scaling_clear afterwards. */
int kos_scaling_parse(const kos_selector_t *sel, kos_scaling_t *sc, char *errstr,
                      size_t errstr_size);
void kos_scaling_clear(kos_scaling_t *sc);

/* @returns 1 if the topic is selected by topicRegex (always 1 without one). */
int kos_scaling_topic_selected(const kos_scaling_t *sc, const char *topic);

/* @returns the weight of topic in thousandths (1000 when the selector names no weight for it). */
int64_t kos_scaling_weight_milli(const kos_scaling_t *sc, const char *topic);

/* The lag of one partition under the request's offsetResetPolicy. Only a partition without a
 * committed offset depends on it (KEDA): latest counts 1 (0 with scaleToZeroOnInvalidOffset),
 * so a group that has never committed still keeps one consumer but never scales out on it;
 * earliest counts what a consumer starting there can read, end - log start. Without a policy
 * in the selector, the snapshot's lag (the adapter's --no-commit-policy). -1 when unknown. */
int64_t kos_scaling_part_lag(const kos_scaling_t *sc, const kos_part_lag_t *p);

/* The value served for kafka_consumergroup_lag from the (weighted) lag total of n_parts
 * partitions, n_lagging of which have lag: 0 while total <= activationLagThreshold; else,
 * with a lagThreshold and unless allowIdleConsumers, at most lagThreshold x n_parts (or x
 * n_lagging with limitToPartitionsWithLag), so ceil(value / lagThreshold), the HPA's replica
 * count for an AverageValue target of lagThreshold, never exceeds the partitions. */
int64_t kos_scaling_value(const kos_scaling_t *sc, int64_t total, size_t n_parts, size_t n_lagging);

/* Decodes base64url without padding (RFC 4648 section 5: a label value cannot hold "=").
 * @returns the decoded length, or -1 on a bad character/length or if out is too small. */
int kos_base64url_decode(const char *in, char *out, size_t out_size);

#endif
