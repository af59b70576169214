/* SubjectAccessReview / TokenReview with caches, and the cluster's authentication ConfigMap
 * (see kauthz.h). All kube I/O goes through kube.c; this file builds the review objects and
 * keeps the answers. */
#include "kauthz.h"
#include "log.h"

#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS  4096
#define KEY_MAX      2048 /* longer requester-controlled keys are cached by their digest */
#define ERROR_TTL_MS 1000 /* a review that could not be made is kept this long */

typedef struct {
        char *key;
        int64_t expires_ms;
        int result; /* SAR: kos_authz_result_t; TokenReview: 0 ok, -1 unauthenticated */
        char msg[384];
        kos_identity_t *id; /* TokenReview answers */
} slot_t;

struct kos_authz_s {
        kos_kube_t *kube;
        int ttl_ms;
        pthread_mutex_t lock;
        slot_t sar[CACHE_SLOTS];
        slot_t tokens[CACHE_SLOTS];
        char *last_cm; /* the ConfigMap data last applied, to detect changes */
        pthread_t watcher;
        int watching;
        int stop;
        pthread_cond_t wake;
        kos_auth_t *watched;
        int watch_interval_ms;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a: a direct-mapped cache slot per key; a collision just evicts. */
static size_t slot_of(const char *key)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *key; key++)
                h = (h ^ (unsigned char)*key) * 1099511628211ULL;
        return (size_t)(h % CACHE_SLOTS);
}

kos_authz_t *kos_authz_new(kos_kube_t *kube, int ttl_ms)
{
        kos_authz_t *z = calloc(1, sizeof(*z));
        z->kube = kube;
        z->ttl_ms = ttl_ms;
        pthread_mutex_init(&z->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&z->wake, &ca);
        pthread_condattr_destroy(&ca);
        return z;
}

void kos_authz_destroy(kos_authz_t *z)
{
        if (!z)
                return;
        if (z->watching) {
                pthread_mutex_lock(&z->lock);
                z->stop = 1;
                pthread_cond_signal(&z->wake);
                pthread_mutex_unlock(&z->lock);
                pthread_join(z->watcher, NULL);
        }
        for (int i = 0; i < CACHE_SLOTS; i++) {
                free(z->sar[i].key);
                free(z->tokens[i].key);
                free(z->tokens[i].id);
        }
        free(z->last_cm);
        pthread_cond_destroy(&z->wake);
        pthread_mutex_destroy(&z->lock);
        free(z);
}

static int cache_get(kos_authz_t *z, slot_t *table, const char *key, int *result, char *msg,
                     size_t msg_size, kos_identity_t *id)
{
        int hit = 0;
        pthread_mutex_lock(&z->lock);
        slot_t *s = &table[slot_of(key)];
        if (s->key && strcmp(s->key, key) == 0 && s->expires_ms > now_ms()) {
                *result = s->result;
                snprintf(msg, msg_size, "%s", s->msg);
                if (id && s->id)
                        *id = *s->id;
                hit = 1;
        }
        pthread_mutex_unlock(&z->lock);
        return hit;
}

/* The cache key of a review: the text itself, or for long (requester-controlled) text its
 * SHA-256, so the cache's memory stays bounded. buf holds at least 80 bytes. */
static const char *cache_key(const char *text, char *buf, size_t size)
{
        if (strlen(text) <= KEY_MAX)
                return text;
        unsigned char d[32];
        gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), d);
        int n = snprintf(buf, size, "sha256:");
        for (int i = 0; i < 32 && (size_t)n + 2 < size; i++)
                n += snprintf(buf + n, size - (size_t)n, "%02x", d[i]);
        return buf;
}

static void cache_put(kos_authz_t *z, slot_t *table, const char *key, int result, const char *msg,
                      const kos_identity_t *id, int ttl_ms)
{
        pthread_mutex_lock(&z->lock);
        slot_t *s = &table[slot_of(key)];
        free(s->key);
        s->key = strdup(key);
        s->expires_ms = now_ms() + ttl_ms;
        s->result = result;
        snprintf(s->msg, sizeof(s->msg), "%s", msg);
        free(s->id);
        s->id = NULL;
        if (id) {
                s->id = malloc(sizeof(*id));
                *s->id = *id;
        }
        pthread_mutex_unlock(&z->lock);
}

/* ---- SubjectAccessReview ---------------------------------------------------------------- */

static int is_master(const kos_identity_t *id)
{
        for (int i = 0; i < id->n_groups; i++)
                if (strcmp(id->groups[i], "system:masters") == 0)
                        return 1;
        return 0;
}

static const char *api_group(kos_api_t api)
{
        return api == KOS_API_EXTERNAL_V1BETA1 ? "external.metrics.k8s.io"
                                               : "custom.metrics.k8s.io";
}

static const char *api_version(kos_api_t api)
{
        return api == KOS_API_CUSTOM_V1BETA2 ? "v1beta2" : "v1beta1";
}

/* What a denial message names, as kube-apiserver words it (api.md §6.1). */
typedef struct {
        char object[800];   /* pods.custom.metrics.k8s.io "*" */
        char resource[600]; /* pods/kafka_consumer_lag */
        char scope[400];    /* in the namespace "default" | at the cluster scope */
} denial_t;

/* The attributes kube-apiserver's RequestInfoFactory derives from the URL (api.md §1.2),
 * so our answer matches what RBAC would say for the same request. */
static json_t *attributes(const kos_request_t *req, const char *path, denial_t *d)
{
        json_t *a = json_object();
        char res[600];
        const char *ns = req->namespace_;
        switch (req->kind) {
        case KOS_REQ_OBJECT:
        case KOS_REQ_WILDCARD:
                json_object_set_new(a, "verb", json_string("get"));
                json_object_set_new(a, "group", json_string(api_group(req->api)));
                json_object_set_new(a, "version", json_string(api_version(req->api)));
                if (req->kind == KOS_REQ_OBJECT && !req->namespace_[0] &&
                    strcmp(req->resource, "namespaces") == 0) {
                        /* namespaces/<ns>/metrics/<m> as the URL says it */
                        ns = req->name;
                        json_object_set_new(a, "namespace", json_string(ns));
                        json_object_set_new(a, "resource", json_string("metrics"));
                        json_object_set_new(a, "name", json_string(req->metric));
                        snprintf(d->object, sizeof(d->object), "metrics.%s \"%s\"",
                                 api_group(req->api), req->metric);
                        snprintf(d->resource, sizeof(d->resource), "metrics");
                        break;
                }
                if (req->resource_group[0])
                        snprintf(res, sizeof(res), "%s.%s", req->resource, req->resource_group);
                else
                        snprintf(res, sizeof(res), "%s", req->resource);
                if (ns[0])
                        json_object_set_new(a, "namespace", json_string(ns));
                json_object_set_new(a, "resource", json_string(res));
                json_object_set_new(a, "subresource", json_string(req->metric));
                json_object_set_new(a, "name", json_string(req->name));
                snprintf(d->object, sizeof(d->object), "%s.%s \"%s\"", res, api_group(req->api),
                         req->name);
                snprintf(d->resource, sizeof(d->resource), "%s/%s", res, req->metric);
                break;
        case KOS_REQ_EXTERNAL:
                json_object_set_new(a, "verb", json_string("list"));
                json_object_set_new(a, "group", json_string(api_group(req->api)));
                json_object_set_new(a, "version", json_string(api_version(req->api)));
                json_object_set_new(a, "namespace", json_string(ns));
                json_object_set_new(a, "resource", json_string(req->metric));
                snprintf(d->object, sizeof(d->object), "%s.%s", req->metric, api_group(req->api));
                snprintf(d->resource, sizeof(d->resource), "%s", req->metric);
                break;
        default:
                json_object_set_new(a, "path", json_string(path));
                json_object_set_new(a, "verb", json_string("get"));
                snprintf(d->object, sizeof(d->object), "path \"%s\"", path);
                return a;
        }
        if (ns[0])
                snprintf(d->scope, sizeof(d->scope), "in the namespace \"%s\"", ns);
        else
                snprintf(d->scope, sizeof(d->scope), "at the cluster scope");
        return a;
}

/* The answer of a SubjectAccessReview (f->note: the denial message), or why it could not be
 * made (kept briefly, so the requests that waited see it). */
static void sar_store(void *owner, const kos_fact_t *f, int status, json_t *out, const char *err)
{
        kos_authz_t *z = owner;
        char buf[96], msg[512];
        const char *key = cache_key(strchr(f->key, '\n') + 1, buf, sizeof(buf));
        if (status != 201 && status != 200) {
                if (status >= 0)
                        snprintf(msg, sizeof(msg),
                                 "Internal error occurred: SubjectAccessReview: HTTP %d", status);
                else
                        snprintf(msg, sizeof(msg), "Internal error occurred: %s", err);
                cache_put(z, z->sar, key, KOS_AUTHZ_ERROR, msg, NULL, ERROR_TTL_MS);
                return;
        }
        json_t *st = json_object_get(out, "status");
        int allowed = json_is_true(json_object_get(st, "allowed"));
        cache_put(z, z->sar, key, allowed ? KOS_AUTHZ_ALLOW : KOS_AUTHZ_DENY,
                  allowed ? "" : f->note, NULL, z->ttl_ms);
}

kos_authz_result_t kos_authz_check(kos_authz_t *z, const kos_identity_t *id,
                                   const kos_request_t *req, const char *path, char *msg,
                                   size_t msg_size, kos_fact_t **need)
{
        *need = NULL;
        if (is_master(id))
                return KOS_AUTHZ_ALLOW;
        denial_t d = {"", "", ""};
        json_t *attrs = attributes(req, path, &d);
        int resource = json_object_get(attrs, "resource") != NULL;
        const char *verb = req->kind == KOS_REQ_EXTERNAL ? "list" : "get";
        json_t *spec = json_object();
        json_object_set_new(spec, resource ? "resourceAttributes" : "nonResourceAttributes", attrs);
        json_object_set_new(spec, "user", json_string(id->user));
        json_t *groups = json_array();
        for (int i = 0; i < id->n_groups; i++)
                json_array_append_new(groups, json_string(id->groups[i]));
        json_object_set_new(spec, "groups", groups);
        char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
        char buf[96];
        int result;
        if (!text) {
                json_decref(spec);
                snprintf(msg, msg_size, "Internal error occurred: out of memory");
                return KOS_AUTHZ_ERROR;
        }
        if (cache_get(z, z->sar, cache_key(text, buf, sizeof(buf)), &result, msg, msg_size, NULL)) {
                json_decref(spec);
                free(text);
                return (kos_authz_result_t)result;
        }
        json_t *review = json_object();
        json_object_set_new(review, "apiVersion", json_string("authorization.k8s.io/v1"));
        json_object_set_new(review, "kind", json_string("SubjectAccessReview"));
        json_object_set_new(review, "spec", spec);
        kos_fact_t *f =
            kos_fact_new("sar", text, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                         review, sar_store, z);
        free(text);
        char denial[512];
        if (resource)
                snprintf(denial, sizeof(denial),
                         "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
                         "group \"%s\" %s",
                         d.object, id->user, verb, d.resource, api_group(req->api), d.scope);
        else
                snprintf(denial, sizeof(denial), "forbidden: User \"%s\" cannot get %s", id->user,
                         d.object);
        if (!f || !(f->note = strdup(denial))) {
                kos_fact_free(f);
                snprintf(msg, msg_size, "Internal error occurred: out of memory");
                return KOS_AUTHZ_ERROR;
        }
        *need = f;
        return KOS_AUTHZ_MISSING;
}

/* ---- TokenReview ------------------------------------------------------------------------ */

/* The answer of a TokenReview, or why it could not be made (kept briefly). */
static void token_store(void *owner, const kos_fact_t *f, int st, json_t *out, const char *err)
{
        kos_authz_t *z = owner;
        char buf[96], msg[384];
        const char *key = cache_key(strchr(f->key, '\n') + 1, buf, sizeof(buf));
        if (st != 201 && st != 200) {
                snprintf(msg, sizeof(msg), "Unauthorized: token review failed: %s",
                         st >= 0 ? "kube-apiserver refused the TokenReview" : err);
                cache_put(z, z->tokens, key, -1, msg, NULL, ERROR_TTL_MS);
                return;
        }
        json_t *status = json_object_get(out, "status");
        kos_identity_t id;
        memset(&id, 0, sizeof(id));
        int result;
        if (!json_is_true(json_object_get(status, "authenticated"))) {
                const char *e = json_string_value(json_object_get(status, "error"));
                snprintf(msg, sizeof(msg), "Unauthorized%s%s", e ? ": " : "", e ? e : "");
                result = -1;
        } else {
                json_t *user = json_object_get(status, "user");
                const char *name = json_string_value(json_object_get(user, "username"));
                snprintf(id.user, sizeof(id.user), "%s", name ? name : "");
                size_t i;
                json_t *g;
                json_array_foreach(json_object_get(user, "groups"), i, g)
                {
                        if (id.n_groups < KOS_AUTH_MAX_GROUPS && json_is_string(g))
                                snprintf(id.groups[id.n_groups++], sizeof(id.groups[0]), "%s",
                                         json_string_value(g));
                }
                result = id.user[0] ? 0 : -1;
                if (result)
                        snprintf(msg, sizeof(msg), "Unauthorized: token review named no user");
                else
                        msg[0] = '\0';
        }
        cache_put(z, z->tokens, key, result, msg, result == 0 ? &id : NULL, z->ttl_ms);
}

int kos_authz_token_review(void *opaque, const char *token, kos_identity_t *id, char *msg,
                           size_t msg_size, kos_fact_t **need)
{
        kos_authz_t *z = opaque;
        char buf[96];
        int result;
        *need = NULL;
        if (cache_get(z, z->tokens, cache_key(token, buf, sizeof(buf)), &result, msg, msg_size, id))
                return result;
        json_t *review = json_object();
        json_object_set_new(review, "apiVersion", json_string("authentication.k8s.io/v1"));
        json_object_set_new(review, "kind", json_string("TokenReview"));
        json_t *spec = json_object();
        json_object_set_new(spec, "token", json_string(token));
        json_object_set_new(review, "spec", spec);
        kos_fact_t *f =
            kos_fact_new("token", token, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                         review, token_store, z);
        if (!f) {
                snprintf(msg, msg_size, "Unauthorized: out of memory");
                return -1;
        }
        *need = f;
        return 1;
}

/* ---- extension-apiserver-authentication ------------------------------------------------- */

/* The ConfigMap stores lists as JSON arrays (["X-Remote-User"]); auth.c takes CSV. */
static void json_list_csv(json_t *data, const char *key, char *out, size_t size)
{
        out[0] = '\0';
        const char *v = json_string_value(json_object_get(data, key));
        json_t *arr = v ? json_loads(v, 0, NULL) : NULL;
        size_t i, len = 0;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
                if (!json_is_string(e))
                        continue;
                len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s",
                                        len ? "," : "", json_string_value(e));
        }
        json_decref(arr);
}

int kos_authz_load_cluster_auth(kos_authz_t *z, kos_auth_t *auth, int *changed, char *errstr,
                                size_t errstr_size)
{
        *changed = 0;
        json_t *cm = NULL;
        char err[256];
        int st = kos_kube_call(z->kube, "GET",
                               "/api/v1/namespaces/kube-system/configmaps/"
                               "extension-apiserver-authentication",
                               NULL, &cm, err, sizeof(err));
        if (st != 200) {
                snprintf(errstr, errstr_size,
                         "reading kube-system/extension-apiserver-authentication: %s",
                         st >= 0 ? (st == 403 ? "forbidden (RoleBinding to "
                                                "extension-apiserver-authentication-reader?)"
                                              : "unexpected HTTP status")
                                 : err);
                json_decref(cm);
                return -1;
        }
        json_t *data = json_object_get(cm, "data");
        char *dump = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        pthread_mutex_lock(&z->lock);
        int same = z->last_cm && dump && strcmp(z->last_cm, dump) == 0;
        pthread_mutex_unlock(&z->lock);
        if (same) {
                free(dump);
                json_decref(cm);
                return 0;
        }
        char names[1024], users[512], groups[512], extra[512];
        json_list_csv(data, "requestheader-allowed-names", names, sizeof(names));
        json_list_csv(data, "requestheader-username-headers", users, sizeof(users));
        json_list_csv(data, "requestheader-group-headers", groups, sizeof(groups));
        json_list_csv(data, "requestheader-extra-headers-prefix", extra, sizeof(extra));
        kos_auth_conf_t c = {
            .requestheader_client_ca_pem =
                json_string_value(json_object_get(data, "requestheader-client-ca-file")),
            .client_ca_pem = json_string_value(json_object_get(data, "client-ca-file")),
            .requestheader_allowed_names = names,
            .requestheader_username_headers = users[0] ? users : NULL,
            .requestheader_group_headers = groups[0] ? groups : NULL,
            .requestheader_extra_headers_prefix = extra[0] ? extra : NULL,
        };
        int rc = kos_auth_update(auth, &c, err, sizeof(err));
        if (rc == 0) {
                pthread_mutex_lock(&z->lock);
                free(z->last_cm);
                z->last_cm = dump;
                dump = NULL;
                pthread_mutex_unlock(&z->lock);
                *changed = 1;
        } else {
                snprintf(errstr, errstr_size, "extension-apiserver-authentication: %s", err);
        }
        free(dump);
        json_decref(cm);
        return rc;
}

static void *watch_main(void *arg)
{
        kos_authz_t *z = arg;
        for (;;) {
                pthread_mutex_lock(&z->lock);
                int64_t until = now_ms() + z->watch_interval_ms;
                while (!z->stop && now_ms() < until) {
                        struct timespec ts = {.tv_sec = until / 1000,
                                              .tv_nsec = (until % 1000) * 1000000};
                        pthread_cond_timedwait(&z->wake, &z->lock, &ts);
                }
                int stop = z->stop;
                pthread_mutex_unlock(&z->lock);
                if (stop)
                        return NULL;
                char err[512];
                int changed;
                if (kos_authz_load_cluster_auth(z, z->watched, &changed, err, sizeof(err)) == -1)
                        KOS_WARN("authz", "%s (keeping the previous settings)", err);
                else if (changed)
                        KOS_INFO("authz", "authentication settings reloaded from the cluster");
        }
}

int kos_authz_watch_cluster_auth(kos_authz_t *z, kos_auth_t *auth, int interval_ms, char *errstr,
                                 size_t errstr_size)
{
        z->watched = auth;
        z->watch_interval_ms = interval_ms;
        if (pthread_create(&z->watcher, NULL, watch_main, z)) {
                snprintf(errstr, errstr_size, "pthread_create failed");
                return -1;
        }
        z->watching = 1;
        return 0;
}
