/* Delegated authentication and authorization through kube-apiserver, as extension API servers
 * do it (research/api.md §5). Request threads only look into the caches: a miss returns the
 * review to make as a fact (fact.h), which fetch.c makes once and stores here; a review that
 * could not be made is kept for a second, so the requests that waited for it get its error.
 *  - SubjectAccessReview for every request but the health paths and group system:masters,
 *    with the attributes kube-apiserver itself would use (wildcard = get with name "*",
 *    external = list on the metric), answers cached for a short TTL (allow and deny alike);
 *  - TokenReview for bearer tokens of direct callers, cached the same way;
 *  - kube-system/extension-apiserver-authentication: the request-header and client CAs and
 *    the header names, re-read periodically so CA rotation is followed. */
#ifndef KOS_KAUTHZ_H
#define KOS_KAUTHZ_H

#include "auth.h"
#include "fact.h"
#include "kube.h"
#include "route.h"

typedef struct kos_authz_s kos_authz_t;

/* kube is borrowed. ttl_ms: cache lifetime of SAR/TokenReview answers. */
kos_authz_t *kos_authz_new(kos_kube_t *kube, int ttl_ms);
void kos_authz_destroy(kos_authz_t *z);

typedef enum {
        KOS_AUTHZ_ALLOW = 0,
        KOS_AUTHZ_DENY = 1,
        KOS_AUTHZ_MISSING = 2, /* not known yet: *need says which review to make */
        KOS_AUTHZ_ERROR = -1
} kos_authz_result_t;

/* Decides whether id may make the routed request (path = the raw URL path, for non-resource
 * requests) from the cache. On DENY, msg is the Kubernetes-style "... is forbidden: User ..."
 * text; on ERROR, the reason the review could not be made; on MISSING, *need is the review to
 * fetch (the caller owns it). */
kos_authz_result_t kos_authz_check(kos_authz_t *z, const kos_identity_t *id,
                                   const kos_request_t *req, const char *path, char *msg,
                                   size_t msg_size, kos_fact_t **need);

/* A kos_token_review_fn (opaque = kos_authz_t *): the cached TokenReview of token, or 1 with
 * *need. */
int kos_authz_token_review(void *opaque, const char *token, kos_identity_t *id, char *msg,
                           size_t msg_size, kos_fact_t **need);

/* Reads the extension-apiserver-authentication ConfigMap into auth (kos_auth_update).
 * 0, or -1 with errstr (auth unchanged). *changed is set when the content differed. */
int kos_authz_load_cluster_auth(kos_authz_t *z, kos_auth_t *auth, int *changed, char *errstr,
                                size_t errstr_size);

/* Starts a thread that re-reads the ConfigMap every interval_ms. */
int kos_authz_watch_cluster_auth(kos_authz_t *z, kos_auth_t *auth, int interval_ms, char *errstr,
                                 size_t errstr_size);

#endif
