/* SubjectAccessReview / TokenReview with caches, and the cluster's authentication ConfigMap
 * (see authz.h). All kube I/O goes through kube.c; this file builds the review objects and
 * keeps the answers. */
#include "authz.h"
#include "xalloc.h"
#include "clock.h"
#include "log.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 4096
/* webhook.go shouldCache: requester-controlled attributes this long are not cached; here they
 * are kept only as long as a failure, so the requests that waited for the review find it */
#define MAX_CONTROLLED_ATTR_CACHE_SIZE 10000
#define ERROR_TTL_MS                   1000 /* a review that could not be made is kept this long */

/* Cache keys are HMAC-SHA256 digests under a per-process random key, as k8s.io/apiserver's
 * token cache keys them (pkg/authentication/token/cache/cached_token_authenticator.go
 * keyFunc): no token is kept in memory, and nobody can aim a request at a chosen slot. */
typedef struct {
        int used;
        unsigned char key[32];
        int64_t expires_ms;
        int result; /* SAR: kos_authz_result_t; TokenReview: 0 ok, -1 unauthenticated */
        char msg[384];
        kos_identity_t id; /* TokenReview answers */
} slot_t;

struct kos_authz_s {
        kos_kube_t *kube;
        int ttl_ms;
        unsigned char secret[32];
        pthread_mutex_t lock;
        slot_t sar[CACHE_SLOTS];
        slot_t tokens[CACHE_SLOTS];
        char *last_cm;                     /* the ConfigMap data last applied, to detect changes */
        char *kept_client_ca, *kept_rh_ca; /* the ConfigMap's CA bundles last loaded */
        pthread_t watcher;
        int watching;
        int stop;
        pthread_cond_t wake;
        kos_auth_t *watched;
        const kos_auth_conf_t *flags;
        int watch_interval_ms;
};

/* HMAC-SHA256(secret, len32(a) || a || len32(b) || b): length prefixes keep "xy"+"z" apart
 * from "x"+"yz" (keyFunc's writeLengthPrefixedString). b may be NULL (then len32(0)). */
static int cache_key(const kos_authz_t *z, const char *a, size_t alen, const char *b, size_t blen,
                     unsigned char out[32])
{
        gnutls_hmac_hd_t h;
        if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, z->secret, sizeof(z->secret)) < 0)
                return -1;
        unsigned char l[4];
        const char *parts[2] = {a, b};
        size_t lens[2] = {alen, b ? blen : 0};
        for (int i = 0; i < 2; i++) {
                l[0] = (unsigned char)(lens[i] >> 24);
                l[1] = (unsigned char)(lens[i] >> 16);
                l[2] = (unsigned char)(lens[i] >> 8);
                l[3] = (unsigned char)lens[i];
                gnutls_hmac(h, l, 4);
                if (lens[i])
                        gnutls_hmac(h, parts[i], lens[i]);
        }
        gnutls_hmac_deinit(h, out);
        return 0;
}

static size_t slot_of(const unsigned char key[32])
{
        uint64_t v;
        memcpy(&v, key, sizeof(v));
        return (size_t)(v % CACHE_SLOTS);
}

kos_authz_t *kos_authz_new(kos_kube_t *kube, int ttl_ms)
{
        kos_authz_t *z = kos_xcalloc(1, sizeof(*z));
        if (gnutls_rnd(GNUTLS_RND_KEY, z->secret, sizeof(z->secret)) < 0) {
                free(z);
                return NULL;
        }
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
        for (int i = 0; i < CACHE_SLOTS; i++)
                kos_identity_clear(&z->tokens[i].id);
        free(z->last_cm);
        free(z->kept_client_ca);
        free(z->kept_rh_ca);
        pthread_cond_destroy(&z->wake);
        pthread_mutex_destroy(&z->lock);
        free(z);
}

static int cache_get(kos_authz_t *z, slot_t *table, const unsigned char key[32], int *result,
                     char *msg, size_t msg_size, kos_identity_t *id)
{
        int hit = 0;
        pthread_mutex_lock(&z->lock);
        slot_t *s = &table[slot_of(key)];
        if (s->used && memcmp(s->key, key, 32) == 0 && s->expires_ms > kos_mono_ms()) {
                *result = s->result;
                snprintf(msg, msg_size, "%s", s->msg);
                hit = 1;
                if (id)
                        kos_identity_copy(id, &s->id);
        }
        pthread_mutex_unlock(&z->lock);
        return hit;
}

static void cache_put(kos_authz_t *z, slot_t *table, const unsigned char key[32], int result,
                      const char *msg, const kos_identity_t *id, int ttl_ms)
{
        kos_identity_t copy = {0};
        if (id)
                kos_identity_copy(&copy, id);
        pthread_mutex_lock(&z->lock);
        slot_t *s = &table[slot_of(key)];
        s->used = 1;
        memcpy(s->key, key, 32);
        s->expires_ms = kos_mono_ms() + ttl_ms;
        s->result = result;
        snprintf(s->msg, sizeof(s->msg), "%s", msg);
        kos_identity_t old = s->id;
        s->id = copy;
        pthread_mutex_unlock(&z->lock);
        kos_identity_clear(&old);
}

/* A review to fetch (fact.h). Its key is "<kind>\n" + the hex of the cache key, so fetch.c
 * coalesces exactly what the cache tells apart, and no token or identity is kept in it. */
static kos_fact_t *review_fact(kos_authz_t *z, const char *kind, const unsigned char key[32],
                               const char *path, json_t *review, kos_fact_store_fn store,
                               int ttl_ms)
{
        char hex[65];
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", key[i]);
        kos_fact_t *f = kos_fact_new(kind, hex, "POST", path, review, store, z);
        f->ttl_ms = ttl_ms;
        return f;
}

/* The cache key back from a fact made by review_fact. */
static void fact_key(const kos_fact_t *f, unsigned char key[32])
{
        const char *hex = strchr(f->key, '\n') + 1;
        for (int i = 0; i < 32; i++) {
                unsigned v = 0;
                sscanf(hex + 2 * i, "%2x", &v);
                key[i] = (unsigned char)v;
        }
}

/* ---- SubjectAccessReview ---------------------------------------------------------------- */

static int is_master(const kos_identity_t *id)
{
        for (size_t i = 0; i < id->n_groups; i++)
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

/* What a denial message names, as kube-apiserver words it (k8s.io/apiserver
 * pkg/endpoints/handlers/responsewriters: forbiddenMessage). */
typedef struct {
        char object[800];   /* pods.custom.metrics.k8s.io "*" */
        char resource[600]; /* pods/kafka_consumer_lag */
        char scope[400];    /* in the namespace "default" | at the cluster scope */
} denial_t;

/* The attributes kube-apiserver's RequestInfoFactory derives from the URL (k8s.io/apiserver
 * pkg/endpoints/request/requestinfo.go), so our answer matches what RBAC would say for the same
 * request. */
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

/* A JSON string of bytes as Go's encoding/json writes a Go string: every byte that is not
 * part of valid UTF-8 becomes U+FFFD (jansson refuses invalid UTF-8 outright). */
static json_t *go_string(const char *s, size_t n)
{
        char *buf = kos_xmalloc(n * 3 + 1);
        size_t k = 0;
        const unsigned char *u = (const unsigned char *)s;
        for (size_t i = 0; i < n;) {
                unsigned c = u[i];
                size_t len = 0;
                unsigned lo = 0x80, hi = 0xbf;
                if (c < 0x80)
                        len = 1;
                else if (c >= 0xc2 && c <= 0xdf)
                        len = 2;
                else if (c >= 0xe0 && c <= 0xef) {
                        len = 3;
                        lo = c == 0xe0 ? 0xa0 : 0x80;
                        hi = c == 0xed ? 0x9f : 0xbf;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        len = 4;
                        lo = c == 0xf0 ? 0x90 : 0x80;
                        hi = c == 0xf4 ? 0x8f : 0xbf;
                }
                int ok = len > 0 && i + len <= n;
                if (ok && len > 1) {
                        ok = u[i + 1] >= lo && u[i + 1] <= hi;
                        for (size_t j = 2; ok && j < len; j++)
                                ok = u[i + j] >= 0x80 && u[i + j] <= 0xbf;
                }
                if (!ok) { /* utf8.RuneError, one byte consumed */
                        memcpy(buf + k, "\xef\xbf\xbd", 3);
                        k += 3;
                        i++;
                        continue;
                }
                memcpy(buf + k, s + i, len);
                k += len;
                i += len;
        }
        json_t *j = json_stringn(buf, k);
        free(buf);
        return j;
}

static json_t *go_str(const char *s)
{
        return go_string(s, strlen(s));
}

/* The user part of a SubjectAccessReviewSpec as webhook.go Authorize fills it: user, uid,
 * groups and extra (convertToSARExtra). NULL when out of memory. */
static json_t *sar_spec_user(const kos_identity_t *id)
{
        json_t *spec = json_object();
        json_t *groups = json_array();
        if (!spec || !groups)
                goto fail;
        if (json_object_set_new(spec, "user", go_str(id->user)) ||
            (id->uid && id->uid[0] && json_object_set_new(spec, "uid", go_str(id->uid))))
                goto fail;
        for (size_t i = 0; i < id->n_groups; i++)
                if (json_array_append_new(groups, go_str(id->groups[i])))
                        goto fail;
        if (json_object_set_new(spec, "groups", groups)) {
                groups = NULL;
                goto fail;
        }
        groups = NULL;
        if (id->n_extra) {
                json_t *extra = json_object();
                if (!extra || json_object_set_new(spec, "extra", extra))
                        goto fail;
                for (size_t i = 0; i < id->n_extra; i++) {
                        json_t *vals = json_array(),
                               *key = go_string(id->extra[i].key, id->extra[i].key_len);
                        int bad = !vals || !key;
                        for (size_t j = 0; !bad && j < id->extra[i].n_values; j++)
                                bad = json_array_append_new(vals, go_str(id->extra[i].values[j]));
                        /* the key as Go encodes it (NUL bytes and all) */
                        bad = bad || json_object_setn_new(extra, json_string_value(key),
                                                          json_string_length(key), vals);
                        vals = bad ? vals : NULL;
                        json_decref(key);
                        json_decref(vals);
                        if (bad)
                                goto fail;
                }
        }
        return spec;
fail:
        json_decref(groups);
        json_decref(spec);
        return NULL;
}

/* webhook.go shouldCache: the requester-controlled attributes stay under the bound */
static int should_cache(json_t *attrs)
{
        static const char *const keys[] = {"namespace", "verb",        "group", "version",
                                           "resource",  "subresource", "name",  "path"};
        size_t n = 0;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                n += json_string_length(json_object_get(attrs, keys[i]));
        return n < MAX_CONTROLLED_ATTR_CACHE_SIZE;
}

/* The answer of a SubjectAccessReview (f->note: the denial without the reason), or why it
 * could not be made (kept briefly, never for the client: it may quote the apiserver). Runs on
 * the fetcher's thread. */
static void sar_store(void *owner, const kos_fact_t *f, int st, json_t *out, const char *err)
{
        kos_authz_t *z = owner;
        unsigned char key[32];
        char msg[384];
        fact_key(f, key);
        if (st != 201 && st != 200) {
                const char *m = json_string_value(json_object_get(out, "message"));
                if (st >= 0)
                        snprintf(msg, sizeof(msg), "SubjectAccessReview failed: HTTP %d%s%.200s",
                                 st, m ? ": " : "", m ? m : "");
                else
                        snprintf(msg, sizeof(msg), "SubjectAccessReview failed: %s", err);
                cache_put(z, z->sar, key, KOS_AUTHZ_ERROR, msg, NULL, ERROR_TTL_MS);
                return;
        }
        json_t *status = json_object_get(out, "status");
        const char *reason = json_string_value(json_object_get(status, "reason"));
        int allowed = json_is_true(json_object_get(status, "allowed"));
        int denied = json_is_true(json_object_get(status, "denied"));
        if (allowed && !denied) {
                cache_put(z, z->sar, key, KOS_AUTHZ_ALLOW, "", NULL, f->ttl_ms);
                return;
        }
        /* responsewriters.ForbiddenStatusError: the message, then ": <reason>" */
        snprintf(msg, sizeof(msg), "%s%s%.200s", f->note ? f->note : "forbidden",
                 reason && reason[0] ? ": " : "", reason && reason[0] ? reason : "");
        cache_put(z, z->sar, key, KOS_AUTHZ_DENY, msg, NULL, f->ttl_ms);
}

kos_authz_result_t kos_authz_check(kos_authz_t *z, const kos_identity_t *id,
                                   const kos_request_t *req, const char *path, char *msg,
                                   size_t msg_size, kos_fact_t **need)
{
        *need = NULL;
        /* options/authorization.go: PrivilegedGroups system:masters needs no review */
        if (is_master(id))
                return KOS_AUTHZ_ALLOW;
        denial_t d = {"", "", ""};
        json_t *spec = sar_spec_user(id);
        json_t *attrs = attributes(req, path, &d);
        if (!spec || !attrs) {
                json_decref(spec);
                json_decref(attrs);
                snprintf(msg, msg_size, "out of memory");
                return KOS_AUTHZ_ERROR;
        }
        int resource = json_object_get(attrs, "resource") != NULL;
        int cacheable = should_cache(attrs);
        const char *verb = req->kind == KOS_REQ_EXTERNAL ? "list" : "get";
        json_object_set_new(spec, resource ? "resourceAttributes" : "nonResourceAttributes", attrs);
        /* the key is the whole spec, extras included (webhook.go: json.Marshal(r.Spec)) */
        char *dump = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
        unsigned char key[32];
        int keyed = dump && cache_key(z, dump, strlen(dump), NULL, 0, key) == 0;
        free(dump);
        int result;
        if (!keyed) {
                json_decref(spec);
                snprintf(msg, msg_size, "out of memory");
                return KOS_AUTHZ_ERROR;
        }
        if (cache_get(z, z->sar, key, &result, msg, msg_size, NULL)) {
                json_decref(spec);
                return (kos_authz_result_t)result;
        }
        /* the denial as kube-apiserver words it, for sar_store (which adds the reason) */
        char denial[384];
        if (resource)
                snprintf(denial, sizeof(denial),
                         "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group "
                         "\"%s\" %s",
                         d.object, id->user, verb, d.resource, api_group(req->api), d.scope);
        else
                snprintf(denial, sizeof(denial), "forbidden: User \"%s\" cannot get %s", id->user,
                         d.object);
        json_t *review = json_object();
        json_object_set_new(review, "apiVersion", json_string("authorization.k8s.io/v1"));
        json_object_set_new(review, "kind", json_string("SubjectAccessReview"));
        json_object_set_new(review, "spec", spec);
        kos_fact_t *f =
            review_fact(z, "sar", key, "/apis/authorization.k8s.io/v1/subjectaccessreviews", review,
                        sar_store, cacheable ? z->ttl_ms : ERROR_TTL_MS);
        f->note = kos_xstrdup(denial);
        *need = f;
        return KOS_AUTHZ_MISSING;
}

/* ---- TokenReview ------------------------------------------------------------------------ */

/* status.user of a TokenReview into id (webhook token authenticator: Name, UID, Groups,
 * Extra, all of them). 0, or -1 with why. */
int kos_authz_parse_token_review(json_t *status, kos_identity_t *id, char *why, size_t why_size)
{
        memset(id, 0, sizeof(*id));
        if (!json_is_true(json_object_get(status, "authenticated"))) {
                const char *e = json_string_value(json_object_get(status, "error"));
                snprintf(why, why_size, "token not authenticated%s%.200s", e ? ": " : "",
                         e ? e : "");
                return -1;
        }
        json_t *user = json_object_get(status, "user");
        const char *name = json_string_value(json_object_get(user, "username"));
        const char *uid = json_string_value(json_object_get(user, "uid"));
        if (!name || !name[0]) {
                snprintf(why, why_size, "token review named no user");
                return -1;
        }
        kos_identity_set_user(id, name, uid && uid[0] ? uid : NULL);
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(user, "groups"), i, g)
        {
                if (json_is_string(g))
                        kos_identity_add_group(id, json_string_value(g));
        }
        const char *k;
        json_t *vals;
        json_object_foreach(json_object_get(user, "extra"), k, vals)
        {
                json_t *v;
                json_array_foreach(vals, i, v)
                {
                        if (json_is_string(v))
                                kos_identity_add_extra(id, k, strlen(k), json_string_value(v));
                }
        }
        return 0;
}

/* The answer of a TokenReview, or why it could not be made (kept briefly: an apiserver hiccup
 * must not lock a user out for longer). Runs on the fetcher's thread. */
static void token_store(void *owner, const kos_fact_t *f, int st, json_t *out, const char *err)
{
        kos_authz_t *z = owner;
        unsigned char key[32];
        char msg[384];
        fact_key(f, key);
        if (st != 201 && st != 200) {
                const char *m = json_string_value(json_object_get(out, "message"));
                if (st >= 0)
                        snprintf(msg, sizeof(msg), "TokenReview failed: HTTP %d%s%.200s", st,
                                 m ? ": " : "", m ? m : "");
                else
                        snprintf(msg, sizeof(msg), "TokenReview failed: %s", err);
                cache_put(z, z->tokens, key, -1, msg, NULL, ERROR_TTL_MS);
                return;
        }
        kos_identity_t id;
        int result =
            kos_authz_parse_token_review(json_object_get(out, "status"), &id, msg, sizeof(msg));
        if (result == 0)
                msg[0] = '\0';
        cache_put(z, z->tokens, key, result, msg, result == 0 ? &id : NULL, f->ttl_ms);
        kos_identity_clear(&id);
}

int kos_authz_token_review(void *opaque, const char *token, kos_identity_t *id, char *msg,
                           size_t msg_size, kos_fact_t **need)
{
        kos_authz_t *z = opaque;
        int result;
        unsigned char key[32];
        *need = NULL;
        memset(id, 0, sizeof(*id));
        /* keyFunc(hashPool, audiences = none, token) */
        if (cache_key(z, token, strlen(token), NULL, 0, key) == -1) {
                snprintf(msg, msg_size, "TokenReview failed: out of memory");
                return -1;
        }
        if (cache_get(z, z->tokens, key, &result, msg, msg_size, id))
                return result;
        json_t *review = json_object();
        json_object_set_new(review, "apiVersion", json_string("authentication.k8s.io/v1"));
        json_object_set_new(review, "kind", json_string("TokenReview"));
        json_t *spec = json_object();
        json_object_set_new(spec, "token", json_string(token));
        json_object_set_new(review, "spec", spec);
        kos_fact_t *f = review_fact(z, "token", key, "/apis/authentication.k8s.io/v1/tokenreviews",
                                    review, token_store, z->ttl_ms);
        *need = f;
        return 1;
}

/* ---- extension-apiserver-authentication ------------------------------------------------- */

/* requestheader_controller.go deserializeStrings: "" is no list; anything else must be a JSON
 * array of strings (json.Unmarshal into []string; null is no list), taken as it is. */
static int json_list(json_t *data, const char *key, kos_strlist_t *out, char *errstr,
                     size_t errstr_size)
{
        const char *v = json_string_value(json_object_get(data, key));
        if (!v || !v[0])
                return 0;
        json_error_t je;
        json_t *arr = json_loads(v, JSON_DECODE_ANY, &je);
        int bad = !arr || !(json_is_array(arr) || json_is_null(arr));
        size_t i;
        json_t *e;
        json_array_foreach(bad ? NULL : arr, i, e)
        {
                if (!json_is_string(e)) {
                        bad = 1;
                        break;
                }
                kos_strlist_add(out, json_string_value(e), json_string_length(e));
        }
        json_decref(arr);
        if (bad)
                snprintf(errstr, errstr_size, "%s: not a JSON list of strings", key);
        return bad ? -1 : 0;
}

/* A CA bundle of the ConfigMap (ConfigMapCAController.loadCABundle): an empty or missing key
 * keeps the bundle loaded before (none at first). */
static const char *cm_ca(json_t *data, const char *key, char **kept)
{
        const char *v = json_string_value(json_object_get(data, key));
        if (v && v[0]) {
                free(*kept);
                *kept = kos_xstrdup(v);
        }
        return *kept;
}

int kos_authz_merge_configmap(json_t *data, const kos_auth_conf_t *flags, char **kept_client_ca,
                              char **kept_rh_ca, kos_auth_conf_t *c, char *errstr,
                              size_t errstr_size)
{
        /* options/authentication.go DelegatingAuthenticationOptions.ApplyTo, per setting:
         *  - --client-ca-file given: the flag; else the ConfigMap's client-ca-file;
         *  - --requestheader-client-ca-file given: every requestheader-* setting from the
         *    flags; else every one of them from the ConfigMap (CA, allowed names, username,
         *    group and extra headers, lists exactly as stored: no defaults). */
        *c = *flags;
        memset(&c->requestheader_allowed_names, 0, sizeof(kos_strlist_t));
        memset(&c->requestheader_username_headers, 0, sizeof(kos_strlist_t));
        memset(&c->requestheader_group_headers, 0, sizeof(kos_strlist_t));
        memset(&c->requestheader_extra_headers_prefix, 0, sizeof(kos_strlist_t));
        if (!flags->client_ca_file)
                c->client_ca_pem = cm_ca(data, "client-ca-file", kept_client_ca);
        if (flags->requestheader_client_ca_file) {
                kos_strlist_copy(&c->requestheader_allowed_names,
                                 &flags->requestheader_allowed_names);
                kos_strlist_copy(&c->requestheader_username_headers,
                                 &flags->requestheader_username_headers);
                kos_strlist_copy(&c->requestheader_group_headers,
                                 &flags->requestheader_group_headers);
                kos_strlist_copy(&c->requestheader_extra_headers_prefix,
                                 &flags->requestheader_extra_headers_prefix);
                return 0;
        }
        c->requestheader_client_ca_pem = cm_ca(data, "requestheader-client-ca-file", kept_rh_ca);
        if (json_list(data, "requestheader-allowed-names", &c->requestheader_allowed_names, errstr,
                      errstr_size) ||
            json_list(data, "requestheader-username-headers", &c->requestheader_username_headers,
                      errstr, errstr_size) ||
            json_list(data, "requestheader-group-headers", &c->requestheader_group_headers, errstr,
                      errstr_size) ||
            json_list(data, "requestheader-extra-headers-prefix",
                      &c->requestheader_extra_headers_prefix, errstr, errstr_size)) {
                kos_auth_conf_clear(c);
                return -1;
        }
        return 0;
}

int kos_authz_load_cluster_auth(kos_authz_t *z, kos_auth_t *auth, const kos_auth_conf_t *flags,
                                int *changed, char *errstr, size_t errstr_size)
{
        *changed = 0;
        json_t *cm = NULL;
        char err[256];
        int st = kos_kube_call(z->kube, "GET",
                               "/api/v1/namespaces/kube-system/configmaps/"
                               "extension-apiserver-authentication",
                               NULL, &cm, err, sizeof(err));
        if (st != 200 && st != 404) { /* NotFound is "nothing configured", as in k8s */
                snprintf(errstr, errstr_size,
                         "reading kube-system/extension-apiserver-authentication: %s",
                         st >= 0 ? (st == 403 ? "forbidden (RoleBinding to "
                                                "extension-apiserver-authentication-reader?)"
                                              : "unexpected HTTP status")
                                 : err);
                json_decref(cm);
                return -1;
        }
        json_t *data = st == 200 ? json_object_get(cm, "data") : NULL;
        char *dump = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : kos_xstrdup("{}");
        pthread_mutex_lock(&z->lock);
        int same = z->last_cm && dump && strcmp(z->last_cm, dump) == 0;
        pthread_mutex_unlock(&z->lock);
        if (same) {
                free(dump);
                json_decref(cm);
                return 0;
        }
        kos_auth_conf_t c;
        int rc = kos_authz_merge_configmap(data, flags, &z->kept_client_ca, &z->kept_rh_ca, &c, err,
                                           sizeof(err));
        if (rc == 0)
                rc = kos_auth_update(auth, &c, err, sizeof(err));
        kos_auth_conf_clear(&c);
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
                int64_t until = kos_mono_ms() + z->watch_interval_ms;
                while (!z->stop && kos_mono_ms() < until) {
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
                if (kos_authz_load_cluster_auth(z, z->watched, z->flags, &changed, err,
                                                sizeof(err)) == -1)
                        KOS_WARN("authz", "%s (keeping the previous settings)", err);
                else if (changed)
                        KOS_INFO("authz", "authentication settings reloaded from the cluster");
        }
}

int kos_authz_watch_cluster_auth(kos_authz_t *z, kos_auth_t *auth, const kos_auth_conf_t *flags,
                                 int interval_ms, char *errstr, size_t errstr_size)
{
        z->watched = auth;
        z->flags = flags;
        z->watch_interval_ms = interval_ms;
        if (pthread_create(&z->watcher, NULL, watch_main, z)) {
                snprintf(errstr, errstr_size, "pthread_create failed");
                return -1;
        }
        z->watching = 1;
        return 0;
}
