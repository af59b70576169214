/* Pure rendering of the adapter's answers as Kubernetes JSON: MetricValueList (custom v1beta1
 * and v1beta2 differ in field names), ExternalMetricValueList, APIResourceList, APIGroupList,
 * APIGroup and Status. Every function returns a new malloc'ed NUL-terminated string (free())
 * and its length, or NULL when out of memory.
 * Thread notes: runs on HTTP worker threads; no shared state. */
#ifndef KOS_RENDER_H
#define KOS_RENDER_H

#include "route.h"
#include "selector.h"

#include <stddef.h>
#include <stdint.h>

/* One served value. For custom metrics the described object; for external metrics the labels
 * of the series (group, and topic when the selector pinned one). */
typedef struct {
        char kind[64];         /* "Pod", "Deployment", "Namespace", ... */
        char api_version[128]; /* "v1", "apps/v1", ... */
        char namespace_[254];  /* "" for cluster-scoped objects */
        char name[254];
        char metric[254];
        char label_group[256]; /* external metricLabels.group, "" = absent */
        char label_topic[256]; /* external metricLabels.topic, "" = absent */
        int64_t value;         /* value * 10^-scale */
        int scale;             /* 0 = integer, 3 = milli */
        int64_t timestamp_ms;  /* the snapshot time */
} kos_value_t;

typedef struct {
        kos_value_t *items; /* owned */
        size_t n, cap;
} kos_values_t;

/* Appends a zeroed item and returns it (never NULL: out of memory aborts, common/xalloc.h). */
kos_value_t *kos_values_add(kos_values_t *v);
void kos_values_clear(kos_values_t *v);

char *kos_render_metric_list(kos_api_t api, const kos_values_t *v,
                             const kos_selector_t *metric_selector, size_t *len);
char *kos_render_external_list(const kos_values_t *v, size_t *len);
/* A metav1.Status with status Failure; code is also the HTTP status to send. */
char *kos_render_status(int code, const char *reason, const char *message, size_t *len);
/* names: "pods/kafka_consumer_lag", ... for custom; bare metric names for external. */
char *kos_render_resource_list(kos_api_t api, const char *const *names, size_t n, size_t *len);
char *kos_render_api_group_list(size_t *len);
/* group: "custom.metrics.k8s.io" or "external.metrics.k8s.io"; NULL if unknown. */
char *kos_render_api_group(const char *group, size_t *len);

/* RFC 3339 UTC with second precision, as metav1.Time marshals. buf >= 21 bytes. */
void kos_render_time(int64_t ms, char *buf, size_t size);

/* Kind and apiVersion of a described object from the URL's resource and group, for the kinds
 * the HPA targets; others get a capitalised singular guess. */
void kos_render_object_kind(const char *resource, const char *group, char *kind, size_t kind_size,
                            char *api_version, size_t av_size);

#endif
