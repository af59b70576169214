/* The adapter's request pipeline without sockets: route → authenticate → authorize →
 * provider → render, one direction only. server.c feeds it what arrived on the wire; it either
 * answers, or names the one fact from kube-apiserver it is missing (a TokenReview, a
 * SubjectAccessReview, a pod list, a workload's annotations: fact.h). Nothing here waits on
 * the network: server.c parks the request until fetch.c has stored that fact, then dispatches
 * it again, and this time the caches answer. Health paths never need a fact. Every decision
 * is testable from a unit test.
 * Each dispatch authenticates afresh: the identity (auth.h, heap-owned, no fixed limits) is
 * built from the peer and headers of this call and freed before it returns, so a request
 * dispatched again after a wait is judged on the certificate as verified for that round.
 * Clients see kube-apiserver's generic wording for 401 and 500 (the details go to the log,
 * rate-limited); a 403 names the user and the verb, as kube-apiserver's does.
 * Thread notes: kos_dispatch runs on any HTTP worker thread at once; ctx is read-only, the
 * caches behind it (authz.c, kube.c) lock themselves. */
#ifndef KOS_DISPATCH_H
#define KOS_DISPATCH_H

#include "auth.h"
#include "fact.h"
#include "authz.h"
#include "kube.h"
#include "lag.h"
#include "provider.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Request counters by HTTP status, for /metrics. */
#define KOS_CODE_SLOTS 12
typedef struct {
        atomic_ullong by_code[KOS_CODE_SLOTS];
        atomic_ullong duration_us_sum;
} kos_req_stats_t;

typedef struct {
        const kos_auth_t *auth;        /* borrowed */
        const kos_provider_conf_t *pc; /* borrowed */
        kos_lag_t *lag;                /* borrowed; may be NULL (tests) */
        kos_req_stats_t *stats;        /* borrowed; may be NULL */
        const char *version;           /* for /version */
        kos_authz_t *authz;            /* borrowed; NULL: any authenticated user is allowed */
        kos_kube_t *kube;              /* borrowed; NULL: no pod listing, no workload annotations */
        int kube_cache_ttl_ms;         /* pods and workload annotations */
} kos_dispatch_ctx_t;

typedef struct {
        int status;
        const char *content_type; /* static */
        char *body;               /* malloc'ed; the caller frees */
        size_t body_len;
        char user[256]; /* who asked, for the access log ("" = anonymous) */
} kos_response_t;

typedef enum {
        KOS_DISPATCH_ANSWERED = 0, /* resp is filled */
        KOS_DISPATCH_MISSING = 1   /* *need is the fact to fetch first; resp is zeroed */
} kos_dispatch_result_t;

/* Answers the request in resp (its body the caller frees), or returns MISSING with *need, a
 * new fact the caller owns (hand it to kos_fetch_wait, then dispatch again). peer (NULL: no
 * certificate) and hdrs are borrowed for the call only. */
kos_dispatch_result_t kos_dispatch(const kos_dispatch_ctx_t *ctx, const char *method,
                                   const char *path, const char *query, const kos_peer_t *peer,
                                   const kos_header_t *hdrs, size_t n_hdrs, int64_t now_ms,
                                   kos_response_t *resp, kos_fact_t **need);

/* Records a finished request in stats. */
void kos_req_stats_record(kos_req_stats_t *st, int status, int64_t duration_us);

/* Prometheus text of the adapter's own figures and the lag gauges of snap (may be NULL). */
char *kos_metrics_text(const kos_dispatch_ctx_t *ctx, const kos_snapshot_t *snap, int64_t now_ms,
                       size_t *len);

#endif
