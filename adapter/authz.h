/* Delegated authentication and authorization through kube-apiserver, as extension API servers
 * do it (k8s.io/apiserver pkg/server/options: DelegatingAuthenticationOptions,
 * DelegatingAuthorizationOptions). Request threads only look into the caches: a miss returns the
 * review to make as a fact (fact.h), which fetch.c makes once and stores here; a review that
 * could not be made is kept for a second, so the requests that waited for it get its error.
 *  - SubjectAccessReview for every request but the health paths and group system:masters,
 *    with the attributes kube-apiserver itself would use (wildcard = get with name "*",
 *    external = list on the metric) and the whole user (name, uid, groups, extra), answers
 *    cached for a short TTL (allow and deny alike) under a key that covers all of the spec
 *    (plugin/pkg/authorizer/webhook/webhook.go Authorize);
 *  - TokenReview for bearer tokens of direct callers, cached the same way;
 *  - kube-system/extension-apiserver-authentication: the settings no flag gives (see
 *    kos_authz_load_cluster_auth), re-read periodically so CA rotation is followed.
 * Cache keys are HMAC-SHA256 under a random per-process key: no token is kept in memory and
 * no client can choose the slot its request lands in. The facts (fact.h) are keyed by the same
 * digest ("<kind>\n" + its hex), so fetch.c coalesces exactly the reviews the cache tells
 * apart. A review whose URL-given attributes pass webhook.go's shouldCache bound is kept only
 * as long as a failure, for the requests that waited for it.
 * Thread notes: the check functions run on HTTP worker threads, the store callbacks on the
 * fetcher's thread; one mutex guards both caches. */
#ifndef KOS_AUTHZ_H
#define KOS_AUTHZ_H

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
 * requests) from the cache. On DENY, msg is kube-apiserver's "... is forbidden: User ..." text
 * for the client; on ERROR, the reason the review could not be made, for the log only (it may
 * quote the apiserver); on MISSING, *need is the review to fetch (the caller owns it). */
kos_authz_result_t kos_authz_check(kos_authz_t *z, const kos_identity_t *id,
                                   const kos_request_t *req, const char *path, char *msg,
                                   size_t msg_size, kos_fact_t **need);

/* status of a TokenReview into a zeroed id (user, uid, every group, every extra). 0, or -1
 * with why. Pure: for tests. */
int kos_authz_parse_token_review(json_t *status, kos_identity_t *id, char *why, size_t why_size);

/* A kos_token_review_fn (opaque = kos_authz_t *): the cached TokenReview of token, or 1 with
 * *need. */
int kos_authz_token_review(void *opaque, const char *token, kos_identity_t *id, char *msg,
                           size_t msg_size, kos_fact_t **need);

/* The pure part of kos_authz_load_cluster_auth: the ConfigMap's data (may be NULL) under the
 * flags, into c (kos_auth_conf_clear it; its CA PEMs point into data or *kept_*, the bundles
 * last loaded, which an empty key keeps). 0, or -1 with errstr (c cleared) when a list is not
 * a JSON list of strings. */
int kos_authz_merge_configmap(json_t *data, const kos_auth_conf_t *flags, char **kept_client_ca,
                              char **kept_rh_ca, kos_auth_conf_t *c, char *errstr,
                              size_t errstr_size);

/* Reads the extension-apiserver-authentication ConfigMap into auth (kos_auth_update), for
 * the settings the flags (borrowed, must outlive z) do not give, as
 * DelegatingAuthenticationOptions.ApplyTo decides: without --client-ca-file its client-ca-file;
 * without --requestheader-client-ca-file all of its requestheader-* keys (lists are JSON
 * arrays, taken as stored). A missing ConfigMap configures nothing. 0, or -1 with errstr (auth
 * unchanged). *changed is set when the content differed. */
int kos_authz_load_cluster_auth(kos_authz_t *z, kos_auth_t *auth, const kos_auth_conf_t *flags,
                                int *changed, char *errstr, size_t errstr_size);

/* Starts a thread that re-reads the ConfigMap every interval_ms. */
int kos_authz_watch_cluster_auth(kos_authz_t *z, kos_auth_t *auth, const kos_auth_conf_t *flags,
                                 int interval_ms, char *errstr, size_t errstr_size);

#endif
