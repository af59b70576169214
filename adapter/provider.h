/* Answers a parsed request from the current lag snapshot: which consumer group the described
 * object stands for (mapping.h), which partitions the selectors admit, the values, and the
 * 404/503 decisions. Pure: no I/O, the snapshot and the clock are passed in.
 * Thread notes: runs on HTTP worker threads, any number at once; it only reads its inputs
 * (the configuration, the mapping and the snapshot are immutable while served). */
#ifndef KOS_PROVIDER_H
#define KOS_PROVIDER_H

#include "mapping.h"
#include "pods.h"
#include "render.h"
#include "route.h"
#include "snapshot.h"

#define KOS_METRIC_GROUP_LAG     "kafka_consumergroup_lag"
#define KOS_METRIC_GROUP_LAG_SEC "kafka_consumergroup_lag_seconds"
#define KOS_METRIC_CONSUMER_LAG  "kafka_consumer_lag"
#define KOS_METRIC_TOPIC_PREFIX  "consumer_lag_" /* + topic, lowercased, [^a-z0-9] -> '_' */
/* For the load generator's HPA: max(0, budget - lag). With an AverageValue target of
 * budget/N the generator runs N replicas while the consumers keep up and backs off toward its
 * minimum as the lag approaches the budget (selector label budget=<messages>). */
#define KOS_METRIC_HEADROOM "kafka_consumergroup_lag_headroom"

typedef struct {
        const kos_mapping_t *mapping; /* borrowed; may be NULL */
        int64_t max_staleness_ms;     /* older snapshots are answered with 503 */
        int64_t headroom_budget;      /* default budget of KOS_METRIC_HEADROOM */
} kos_provider_conf_t;

/* What the Kubernetes side adds to a request (dispatch.c fetches it, cached, from kube.c). */
typedef struct {
        const kos_pod_list_t *pods;   /* pods of the namespace, for pods/... requests; NULL =
                                         no Kubernetes: consumers are answered as pods */
        const char *annotated_group;  /* kos.io/consumer-group of the described workload */
        const char *annotated_topics; /* kos.io/topics, comma-separated, or NULL */
} kos_provider_extra_t;

typedef struct {
        int status;         /* 200, or the error code for a Status */
        char reason[32];    /* Status reason when status != 200 */
        char message[1024]; /* Status message when status != 200 */
        kos_values_t values;
} kos_answer_t;

/* Fills ans for KOS_REQ_OBJECT / KOS_REQ_WILDCARD / KOS_REQ_EXTERNAL. `snap` may be NULL (no
 * refresh has succeeded yet). `last_error` (may be NULL) is quoted in 503 messages. extra: the
 * Kubernetes inputs (may be NULL: none). Call kos_answer_clear afterwards. */
void kos_provider_answer(const kos_provider_conf_t *pc, const kos_snapshot_t *snap, int64_t now_ms,
                         const char *last_error, const kos_request_t *req,
                         const kos_provider_extra_t *extra, kos_answer_t *ans);
void kos_answer_clear(kos_answer_t *ans);

/* The resource names discovery lists for api ("pods/kafka_consumer_lag", ...; bare metric names
 * for external), including consumer_lag_<topic> for the topics in snap. Returns a malloc'ed
 * array of malloc'ed strings; free with kos_provider_names_free. */
char **kos_provider_discovery_names(const kos_provider_conf_t *pc, const kos_snapshot_t *snap,
                                    kos_api_t api, size_t *n);
void kos_provider_names_free(char **names, size_t n);

/* "GAME-FRAME-RQ" -> "game_frame_rq" (the original's JMX-exporter naming). */
void kos_topic_metric_suffix(const char *topic, char *out, size_t size);

#endif
