/* A fact the request path needs from kube-apiserver and does not have yet: a TokenReview, a
 * SubjectAccessReview, a namespace's pods, a workload's annotations. The module that found it
 * missing (authz.c, kube.c) describes here the call that fetches it and how to keep the
 * answer where its next lookup finds it; fetch.c makes the call once per key, however many
 * requests wait for it, and wakes them all. */
#ifndef KOS_FACT_H
#define KOS_FACT_H

#include <jansson.h>

typedef struct kos_fact_s kos_fact_t;

/* Keeps the answer of f's call in the owner's cache: status = the HTTP status and answer the
 * parsed body (borrowed; may be NULL), or status -1 with err (transport failure). Must store
 * something, errors included (briefly), so the woken requests find it. Called once, on the
 * fetcher's thread. */
typedef void (*kos_fact_store_fn)(void *owner, const kos_fact_t *f, int status, json_t *answer,
                                  const char *err);

struct kos_fact_s {
        char *key;          /* what makes two needs the same: "<kind>\n<key text>" */
        const char *method; /* static */
        char *path;
        const char *accept; /* static; NULL = application/json */
        json_t *body;       /* owned; NULL for GET */
        kos_fact_store_fn store;
        void *owner; /* borrowed; outlives the fetcher */
        char *note;  /* the owner's text for store (a denial message); may be NULL */
        int ttl_ms;  /* the owner's cache lifetime for this answer */
};

/* @returns a new fact (free with kos_fact_free); takes ownership of body. kind and key_text are
 * copied into key. */
kos_fact_t *kos_fact_new(const char *kind, const char *key_text, const char *method,
                         const char *path, json_t *body, kos_fact_store_fn store, void *owner);
void kos_fact_free(kos_fact_t *f);

#endif
