/* Request routing for kos-adapter: turns the HTTP method, the raw (still percent-encoded) path
 * and the raw query string into a kos_request_t naming the API, the object and the metric, or
 * into a ready-made Kubernetes Status error. Pure: no sockets, no globals.
 * Thread notes: runs on HTTP worker threads; safe from any thread. */
#ifndef KOS_ROUTE_H
#define KOS_ROUTE_H

#include "selector.h"

#define KOS_ROUTE_MAX_PATH  8192  /* longer raw paths get 414 */
#define KOS_ROUTE_MAX_QUERY 16384 /* longer raw queries get 414 */

typedef enum {
        KOS_API_NONE,
        KOS_API_CUSTOM_V1BETA1,
        KOS_API_CUSTOM_V1BETA2,
        KOS_API_EXTERNAL_V1BETA1
} kos_api_t;

typedef enum {
        KOS_REQ_HEALTHZ,
        KOS_REQ_LIVEZ,
        KOS_REQ_READYZ,
        KOS_REQ_METRICS,      /* /metrics */
        KOS_REQ_VERSION,      /* /version */
        KOS_REQ_OPENAPI_V2,   /* /openapi/v2 */
        KOS_REQ_OPENAPI_V3,   /* /openapi/v3 and anything below it */
        KOS_REQ_APIS,         /* /apis */
        KOS_REQ_API_GROUP,    /* /apis/<custom.metrics.k8s.io|external.metrics.k8s.io>; api is the
                                 group's preferred version (custom v1beta2, external v1beta1) */
        KOS_REQ_DISCOVERY,    /* /apis/<g>/<v> */
        KOS_REQ_OBJECT,       /* one named object: namespaced, root-scoped, or the
                                 namespaces/<ns>/metrics/<m> path */
        KOS_REQ_WILDCARD,     /* name "*" (arrives as %2A or *) */
        KOS_REQ_EXTERNAL,     /* external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric> */
        KOS_REQ_DEBUG_GROUPS, /* /debug/groups: every group's status (read-only JSON) */
        KOS_REQ_DEBUG_GROUP   /* /debug/groups/<group id> (in name): one group's history */
} kos_req_kind_t;

typedef struct {
        kos_req_kind_t kind;
        kos_api_t api;                  /* KOS_API_NONE for the non-/apis routes and /apis itself */
        char namespace_[254];           /* "" for root-scoped */
        char resource[254];             /* plural, as given: "deployments", "pods", "namespaces" */
        char resource_group[254];       /* "apps" for deployments.apps; "" for the core group */
        char name[254];                 /* object name, "*" for wildcard; for the namespace-metrics
                                           path: the namespace, with resource "namespaces" and
                                           namespace_ "" */
        char metric[254];               /* external metric names are lowercased */
        kos_selector_t *label_selector; /* owned; custom labelSelector, NULL when absent/empty */
        kos_selector_t *metric_selector; /* owned; custom metricLabelSelector, or for external
                                            the labelSelector (it selects series); NULL when
                                            absent/empty */
} kos_request_t;

typedef struct {
        int http_status; /* 400, 404, 405, 414 */
        char reason[32]; /* "BadRequest", "NotFound", "MethodNotAllowed", "RequestURITooLong" */
        char message[512];
} kos_route_error_t;

/* Routes one request. `path` is the raw path as received (percent-encoded, no query); `query`
 * is the raw query string without '?' (may be NULL). Methods: GET and HEAD, others get 405.
 * Path rules: every segment is percent-decoded on its own, so `%2F` (and `%`, control bytes,
 * `%00` or bad escapes) inside a segment is a 400; one trailing slash is ignored; an empty
 * segment (`//`) is a 404. Query rules: `&`-separated, `+` is a space; labelSelector and
 * metricLabelSelector are parsed, a repeated one is a 400 "duplicate parameter"; other keys
 * are ignored; only object, wildcard and external routes read the query.
 * @returns 0 with req filled (the caller must kos_request_clear it), or -1 with err filled
 * and nothing in req left to free. */
int kos_route_parse(const char *method, const char *path, const char *query, kos_request_t *req,
                    kos_route_error_t *err);

/* Frees the selectors in req and sets them to NULL. Idempotent. */
void kos_request_clear(kos_request_t *req);

/* @returns the apiVersion string of api ("custom.metrics.k8s.io/v1beta2", ...), or "" for
 * KOS_API_NONE. Static storage. */
const char *kos_api_group_version(kos_api_t api);

#endif
