/* The only code that talks to kube-apiserver: a small libcurl JSON client (connections kept
 * alive in a handle pool, 5 s timeout), plus the cached reads the request path needs: pods of
 * a namespace (for Pods metrics) and the consumer-group annotation of a workload. Callers are
 * request threads; every read is served from a cache when fresh, so the apiserver sees at
 * most one list per namespace per TTL. */
#ifndef KOS_KUBE_H
#define KOS_KUBE_H

#include "kubeconfig.h"
#include "pods.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kos_kube_s kos_kube_t;

/* Takes ownership of *t (cleared on return). NULL + errstr on error. */
kos_kube_t *kos_kube_new(kos_kube_target_t *t, char *errstr, size_t errstr_size);
void kos_kube_destroy(kos_kube_t *k);

/* One request. body is borrowed (may be NULL). Returns the HTTP status with *out the parsed
 * JSON answer (new reference, may be NULL for a non-JSON body), or -1 on a transport error
 * with errstr set. */
int kos_kube_call(kos_kube_t *k, const char *method, const char *path, json_t *body, json_t **out,
                  char *errstr, size_t errstr_size);

/* ---- pods -------------------------------------------------------------------------------- */

/* Pods of namespace ns (not terminating, not Failed/Succeeded), cached for ttl_ms.
 * @returns a reference (release with kos_kube_pods_release) or NULL with errstr. */
kos_pod_list_t *kos_kube_pods(kos_kube_t *k, const char *ns, int ttl_ms, char *errstr,
                              size_t errstr_size);
void kos_kube_pods_release(kos_kube_t *k, kos_pod_list_t *l);

/* ---- workload annotations --------------------------------------------------------------- */

#define KOS_ANNOTATION_GROUP  "kos.io/consumer-group"
#define KOS_ANNOTATION_TOPICS "kos.io/topics"

/* Reads the kos annotations of <resource>.<group> ns/name (deployments.apps, statefulsets.apps),
 * cached for ttl_ms. 1 with group (and topics, comma-separated, or "") copied out; 0 when the
 * object has no such annotation; -1 when the object cannot be read (errstr; a 404 says so). */
int kos_kube_workload_group(kos_kube_t *k, const char *resource, const char *api_group,
                            const char *ns, const char *name, int ttl_ms, char *group,
                            size_t group_size, char *topics, size_t topics_size, char *errstr,
                            size_t errstr_size);

#endif
