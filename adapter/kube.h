/* The only code that talks to kube-apiserver: a small libcurl JSON client (connections kept
 * alive in a handle pool, 5 s timeout), plus the cached reads the request path needs: pods of
 * a namespace (for Pods metrics) and the consumer-group annotation of a workload. Request
 * threads only look into the caches: a miss is returned as a fact (fact.h) that fetch.c reads
 * once, however many requests wait, and stores here; failures are kept for a second too, so
 * the apiserver sees at most one list per namespace per TTL, failing or not.
 * Thread notes: the lookups run on HTTP worker threads and never wait on the network; the
 * facts' store callbacks run on the fetcher's thread (fetch.h); kos_kube_call blocks and is
 * for the main thread at start and the ConfigMap watcher (authz.h). One mutex guards the
 * caches and the pool of curl handles; a pod list handed out is reference-counted, so a
 * request keeps reading it while a newer one replaces it. */
#ifndef KOS_KUBE_H
#define KOS_KUBE_H

#include "fact.h"
#include "kubeconfig.h"
#include "pods.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kos_kube_s kos_kube_t;

/* Takes ownership of *t (cleared on return). Never NULL. */
kos_kube_t *kos_kube_new(kos_kube_target_t *t);
void kos_kube_destroy(kos_kube_t *k);

/* One blocking request (setup code and the ConfigMap watcher, never a request thread). body
 * is borrowed (may be NULL). Returns the HTTP status with *out the parsed JSON answer (new
 * reference, may be NULL for a non-JSON body), or -1 on a transport error with errstr set. */
int kos_kube_call(kos_kube_t *k, const char *method, const char *path, json_t *body, json_t **out,
                  char *errstr, size_t errstr_size);

/* The same request split for a curl multi (fetch.c): _new prepares it (accept NULL =
 * application/json; body borrowed), _handle is its CURL easy handle (CURLOPT_PRIVATE = the
 * request), _finish takes the transfer's CURLcode, returns as kos_kube_call and frees it. */
typedef struct kos_kube_req_s kos_kube_req_t;
kos_kube_req_t *kos_kube_req_new(kos_kube_t *k, const char *method, const char *path,
                                 const char *accept, json_t *body, char *errstr,
                                 size_t errstr_size);
void *kos_kube_req_handle(kos_kube_req_t *r);
int kos_kube_req_finish(kos_kube_t *k, kos_kube_req_t *r, int curl_rc, json_t **out, char *errstr,
                        size_t errstr_size);

/* ---- pods -------------------------------------------------------------------------------- */

/* Pods of namespace ns (not terminating, not Failed/Succeeded) from the cache: 0 with *out a
 * reference (release with kos_kube_pods_release); -1 with errstr (the list failed within the
 * last second); 1 with *need, the fact to fetch (caller owns it; ttl_ms is how long the
 * answer will be kept). */
int kos_kube_pods_lookup(kos_kube_t *k, const char *ns, int ttl_ms, kos_pod_list_t **out,
                         char *errstr, size_t errstr_size, kos_fact_t **need);
void kos_kube_pods_release(kos_kube_t *k, kos_pod_list_t *l);

/* ---- workload annotations --------------------------------------------------------------- */

#define KOS_ANNOTATION_GROUP  "kos.io/consumer-group"
#define KOS_ANNOTATION_TOPICS "kos.io/topics"

/* The kos annotations of <resource>.<group> ns/name (deployments.apps, statefulsets.apps)
 * from the cache: 1 with group (and topics, comma-separated, or "") copied out; 0 when the
 * object has no such annotation; -1 when it could not be read (errstr; a 404 says so); 2 with
 * *need, the fact to fetch (caller owns it; kept ttl_ms). */
int kos_kube_workload_lookup(kos_kube_t *k, const char *resource, const char *api_group,
                             const char *ns, const char *name, int ttl_ms, char *group,
                             size_t group_size, char *topics, size_t topics_size, char *errstr,
                             size_t errstr_size, kos_fact_t **need);

#endif
