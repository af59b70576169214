/* Pods as the adapter sees them: a name and labels, listed from kube-apiserver (kube.c) and
 * matched against the HPA's labelSelector by the provider.
 * Thread notes: a list is immutable once built (on the fetcher's thread) and read by any
 * number of HTTP worker threads under kube.c's reference. */
#ifndef KOS_PODS_H
#define KOS_PODS_H

#include <stddef.h>

typedef struct {
        char *name;
        char **labels; /* key, value, key, value, ..., NULL */
} kos_pod_t;

typedef struct kos_pod_list_s {
        kos_pod_t *pods;
        size_t n;
        int refcnt; /* owned by kube.c's cache */
} kos_pod_list_t;

/* Label lookup for kos_selector_matches (opaque = const kos_pod_t *). */
const char *kos_pod_label(void *opaque, const char *key);

#endif
