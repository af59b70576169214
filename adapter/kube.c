/* kube-apiserver client (see kube.h). libcurl easy handles are pooled so connections and TLS
 * sessions are reused across threads; the same request setup serves the blocking calls and
 * the fetcher's curl-multi transfers. */
#include "kube.h"
#include "strbuf.h"
#include "xalloc.h"
#include "clock.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX     8
#define CACHE_MAX    128
#define BODY_MAX     (64u << 20) /* a pod list of a huge namespace still fits */
#define TIMEOUT_MS   5000
#define ERROR_TTL_MS 1000 /* failed reads are kept this long (see pods_store) */

typedef struct {
        char key[512];
        int64_t expires_ms;
        kos_pod_list_t *pods; /* pods cache */
        int found;            /* workload cache: 1 annotated, 0 not, -1 error */
        char group[256], topics[1024], err[256];
} cache_entry_t;

struct kos_kube_s {
        kos_kube_target_t t;
        pthread_mutex_t lock; /* pool and caches */
        CURL *pool[POOL_MAX];
        int n_pool;
        cache_entry_t pods[CACHE_MAX];
        cache_entry_t workloads[CACHE_MAX];
};

static void global_init(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

kos_kube_t *kos_kube_new(kos_kube_target_t *t)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, global_init);
        kos_kube_t *k = kos_xcalloc(1, sizeof(*k));
        k->t = *t;
        memset(t, 0, sizeof(*t));
        pthread_mutex_init(&k->lock, NULL);
        return k;
}

static void pods_free(kos_pod_list_t *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                free(l->pods[i].name);
                for (char **p = l->pods[i].labels; p && *p; p++)
                        free(*p);
                free(l->pods[i].labels);
        }
        free(l->pods);
        free(l);
}

void kos_kube_destroy(kos_kube_t *k)
{
        if (!k)
                return;
        for (int i = 0; i < k->n_pool; i++)
                curl_easy_cleanup(k->pool[i]);
        for (int i = 0; i < CACHE_MAX; i++)
                if (k->pods[i].pods && --k->pods[i].pods->refcnt == 0)
                        pods_free(k->pods[i].pods);
        kos_kube_target_clear(&k->t);
        pthread_mutex_destroy(&k->lock);
        free(k);
}

typedef struct {
        kos_strbuf_t s; /* doubles as it grows: a large pod list arrives in many chunks */
        int overflow;
} body_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
        body_t *b = opaque;
        size_t n = size * nmemb;
        if (b->s.len + n > BODY_MAX) {
                b->overflow = 1;
                return 0;
        }
        kos_strbuf_append(&b->s, data, n);
        return n;
}

static CURL *take_handle(kos_kube_t *k)
{
        pthread_mutex_lock(&k->lock);
        CURL *c = k->n_pool ? k->pool[--k->n_pool] : NULL;
        pthread_mutex_unlock(&k->lock);
        return c ? c : curl_easy_init();
}

static void give_handle(kos_kube_t *k, CURL *c)
{
        pthread_mutex_lock(&k->lock);
        if (k->n_pool < POOL_MAX) {
                k->pool[k->n_pool++] = c;
                c = NULL;
        }
        pthread_mutex_unlock(&k->lock);
        if (c)
                curl_easy_cleanup(c);
}

/* Projected service-account tokens rotate: read the file on every request (it is tiny). */
static char *current_token(const kos_kube_t *k)
{
        if (k->t.token)
                return kos_xstrdup(k->t.token);
        if (!k->t.token_file)
                return NULL;
        FILE *f = fopen(k->t.token_file, "r");
        if (!f)
                return NULL;
        char buf[8192];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        return n ? kos_xstrdup(buf) : NULL;
}

struct kos_kube_req_s {
        CURL *c;
        struct curl_slist *hdrs;
        char *payload;
        body_t b;
        char what[600]; /* "METHOD path" for errors */
};

kos_kube_req_t *kos_kube_req_new(kos_kube_t *k, const char *method, const char *path,
                                 const char *accept, json_t *body, char *errstr, size_t errstr_size)
{
        kos_kube_req_t *r = kos_xcalloc(1, sizeof(*r));
        if (!(r->c = take_handle(k))) {
                free(r);
                snprintf(errstr, errstr_size, "%s %s: no curl handle", method, path);
                return NULL;
        }
        snprintf(r->what, sizeof(r->what), "%s %.500s", method, path);
        CURL *c = r->c;
        curl_easy_reset(c);
        char url[4096];
        snprintf(url, sizeof(url), "%s%s", k->t.server, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (k->t.ca_pem) {
                struct curl_blob ca = {k->t.ca_pem, strlen(k->t.ca_pem), CURL_BLOB_NOCOPY};
                curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
        }
        if (k->t.insecure) {
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (k->t.cert_pem) {
                struct curl_blob cert = {k->t.cert_pem, strlen(k->t.cert_pem), CURL_BLOB_NOCOPY};
                struct curl_blob key = {k->t.key_pem, strlen(k->t.key_pem), CURL_BLOB_NOCOPY};
                curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
                curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
                curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
                curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
        }
        char accept_hdr[256];
        snprintf(accept_hdr, sizeof(accept_hdr), "Accept: %s",
                 accept ? accept : "application/json");
        r->hdrs = curl_slist_append(r->hdrs, accept_hdr);
        char *token = current_token(k);
        if (token) {
                size_t n = strlen(token) + 32;
                char *h = kos_xmalloc(n);
                snprintf(h, n, "Authorization: Bearer %s", token);
                r->hdrs = curl_slist_append(r->hdrs, h);
                free(h);
                free(token);
        }
        if (body) {
                r->payload = json_dumps(body, JSON_COMPACT);
                r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->payload ? r->payload : "");
        }
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->b);
        curl_easy_setopt(c, CURLOPT_PRIVATE, r);
        return r;
}

void *kos_kube_req_handle(kos_kube_req_t *r)
{
        return r->c;
}

int kos_kube_req_finish(kos_kube_t *k, kos_kube_req_t *r, int curl_rc, json_t **out, char *errstr,
                        size_t errstr_size)
{
        *out = NULL;
        long status = -1;
        if (curl_rc == CURLE_OK) {
                curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &status);
                if (r->b.s.data)
                        *out = json_loadb(r->b.s.data, r->b.s.len, 0, NULL);
        } else {
                snprintf(errstr, errstr_size, "%s: %s", r->what,
                         r->b.overflow ? "answer larger than 64 MiB"
                                       : curl_easy_strerror((CURLcode)curl_rc));
        }
        curl_slist_free_all(r->hdrs);
        free(r->payload);
        kos_strbuf_free(&r->b.s);
        give_handle(k, r->c);
        free(r);
        return (int)status;
}

int kos_kube_call(kos_kube_t *k, const char *method, const char *path, json_t *body, json_t **out,
                  char *errstr, size_t errstr_size)
{
        *out = NULL;
        kos_kube_req_t *r = kos_kube_req_new(k, method, path, NULL, body, errstr, errstr_size);
        if (!r)
                return -1;
        CURLcode rc = curl_easy_perform(r->c);
        return kos_kube_req_finish(k, r, rc, out, errstr, errstr_size);
}

/* ---- pods ------------------------------------------------------------------------------- */

const char *kos_pod_label(void *opaque, const char *key)
{
        const kos_pod_t *p = opaque;
        for (char **l = p->labels; l && l[0]; l += 2)
                if (strcmp(l[0], key) == 0)
                        return l[1];
        return NULL;
}

static kos_pod_list_t *parse_pods(json_t *doc)
{
        json_t *items = json_object_get(doc, "items");
        if (!json_is_array(items))
                return NULL;
        kos_pod_list_t *l = kos_xcalloc(1, sizeof(*l));
        l->pods = kos_xcalloc(json_array_size(items) + 1, sizeof(*l->pods));
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
                json_t *md = json_object_get(it, "metadata");
                const char *name = json_string_value(json_object_get(md, "name"));
                const char *phase =
                    json_string_value(json_object_get(json_object_get(it, "status"), "phase"));
                /* What the HPA itself counts: not deleted, not finished. */
                if (!name || json_object_get(md, "deletionTimestamp") ||
                    (phase && (!strcmp(phase, "Failed") || !strcmp(phase, "Succeeded"))))
                        continue;
                kos_pod_t *p = &l->pods[l->n++];
                p->name = kos_xstrdup(name);
                json_t *labels = json_object_get(md, "labels");
                size_t nl = json_is_object(labels) ? json_object_size(labels) : 0, k = 0;
                p->labels = kos_xcalloc(2 * nl + 1, sizeof(char *));
                const char *key;
                json_t *val;
                json_object_foreach(labels, key, val)
                {
                        if (!json_is_string(val))
                                continue;
                        p->labels[k++] = kos_xstrdup(key);
                        p->labels[k++] = kos_xstrdup(json_string_value(val));
                }
        }
        return l;
}

static cache_entry_t *cache_slot(cache_entry_t *c, const char *key, int64_t now, int *hit)
{
        cache_entry_t *free_slot = NULL, *oldest = &c[0];
        for (int i = 0; i < CACHE_MAX; i++) {
                if (c[i].key[0] && strcmp(c[i].key, key) == 0) {
                        *hit = c[i].expires_ms > now;
                        return &c[i];
                }
                if (!c[i].key[0] && !free_slot)
                        free_slot = &c[i];
                if (c[i].expires_ms < oldest->expires_ms)
                        oldest = &c[i];
        }
        *hit = 0;
        return free_slot ? free_slot : oldest;
}

/* The answer of a pod LIST, or why there is none: a failure is kept too (ERROR_TTL_MS), so
 * the requests that waited for it get it and a failing apiserver sees one LIST per second
 * per namespace, not one per request. */
static void pods_store(void *owner, const kos_fact_t *f, int status, json_t *doc, const char *err)
{
        kos_kube_t *k = owner;
        const char *ns = strchr(f->key, '\n') + 1;
        kos_pod_list_t *l = status == 200 ? parse_pods(doc) : NULL;
        char why[256] = "";
        if (!l) {
                const char *msg = json_string_value(json_object_get(doc, "message"));
                if (status >= 0)
                        snprintf(why, sizeof(why), "listing pods in %s: HTTP %d%s%s", ns, status,
                                 msg ? ": " : "", msg ? msg : "");
                else
                        snprintf(why, sizeof(why), "listing pods in %s: %s", ns, err);
        } else {
                l->refcnt = 1; /* the cache's */
        }
        int64_t now = kos_mono_ms();
        int hit;
        pthread_mutex_lock(&k->lock);
        cache_entry_t *e = cache_slot(k->pods, ns, now, &hit);
        if (e->pods && --e->pods->refcnt == 0)
                pods_free(e->pods);
        snprintf(e->key, sizeof(e->key), "%s", ns);
        e->pods = l;
        snprintf(e->err, sizeof(e->err), "%s", why);
        e->expires_ms = now + (l ? f->ttl_ms : ERROR_TTL_MS);
        pthread_mutex_unlock(&k->lock);
}

int kos_kube_pods_lookup(kos_kube_t *k, const char *ns, int ttl_ms, kos_pod_list_t **out,
                         char *errstr, size_t errstr_size, kos_fact_t **need)
{
        *out = NULL;
        *need = NULL;
        int hit;
        pthread_mutex_lock(&k->lock);
        cache_entry_t *e = cache_slot(k->pods, ns, kos_mono_ms(), &hit);
        if (hit) {
                int rc = -1;
                if (e->pods) {
                        e->pods->refcnt++;
                        *out = e->pods;
                        rc = 0;
                } else {
                        snprintf(errstr, errstr_size, "%s", e->err);
                }
                pthread_mutex_unlock(&k->lock);
                return rc;
        }
        pthread_mutex_unlock(&k->lock);
        /* Only what the HPA counts (not Failed/Succeeded, filtered by the apiserver) and only
         * metadata (names, labels, deletion): a small part of the bytes to move and parse. */
        char path[512];
        snprintf(path, sizeof(path),
                 "/api/v1/namespaces/%s/pods"
                 "?fieldSelector=status.phase%%21%%3DFailed%%2Cstatus.phase%%21%%3DSucceeded",
                 ns);
        kos_fact_t *f = kos_fact_new("pods", ns, "GET", path, NULL, pods_store, k);
        f->accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                    "application/json";
        f->ttl_ms = ttl_ms;
        *need = f;
        return 1;
}

void kos_kube_pods_release(kos_kube_t *k, kos_pod_list_t *l)
{
        if (!l)
                return;
        pthread_mutex_lock(&k->lock);
        int last = --l->refcnt == 0;
        pthread_mutex_unlock(&k->lock);
        if (last)
                pods_free(l);
}

/* ---- workload annotations --------------------------------------------------------------- */

/* A workload's annotations, or why they could not be read (kept ERROR_TTL_MS). */
static void workload_store(void *owner, const kos_fact_t *f, int status, json_t *doc,
                           const char *err)
{
        kos_kube_t *k = owner;
        const char *key = strchr(f->key, '\n') + 1;
        const char *g = NULL, *t = NULL;
        char why[256] = "";
        int found;
        if (status == 200) {
                json_t *ann = json_object_get(json_object_get(doc, "metadata"), "annotations");
                g = json_string_value(json_object_get(ann, KOS_ANNOTATION_GROUP));
                t = json_string_value(json_object_get(ann, KOS_ANNOTATION_TOPICS));
                found = g && *g ? 1 : 0;
        } else {
                found = -1;
                if (status >= 0)
                        snprintf(why, sizeof(why), "%s: HTTP %d", key, status);
                else
                        snprintf(why, sizeof(why), "%s", err);
        }
        int64_t now = kos_mono_ms();
        int hit;
        pthread_mutex_lock(&k->lock);
        cache_entry_t *e = cache_slot(k->workloads, key, now, &hit);
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->found = found;
        snprintf(e->group, sizeof(e->group), "%s", found == 1 ? g : "");
        snprintf(e->topics, sizeof(e->topics), "%s", found == 1 && t ? t : "");
        snprintf(e->err, sizeof(e->err), "%s", why);
        e->expires_ms = now + (found < 0 ? ERROR_TTL_MS : f->ttl_ms);
        pthread_mutex_unlock(&k->lock);
}

int kos_kube_workload_lookup(kos_kube_t *k, const char *resource, const char *api_group,
                             const char *ns, const char *name, int ttl_ms, char *group,
                             size_t group_size, char *topics, size_t topics_size, char *errstr,
                             size_t errstr_size, kos_fact_t **need)
{
        *need = NULL;
        char key[512];
        snprintf(key, sizeof(key), "%s.%s/%s/%s", resource, api_group, ns, name);
        int hit;
        pthread_mutex_lock(&k->lock);
        cache_entry_t *e = cache_slot(k->workloads, key, kos_mono_ms(), &hit);
        if (hit) {
                int found = e->found;
                snprintf(group, group_size, "%s", e->group);
                snprintf(topics, topics_size, "%s", e->topics);
                snprintf(errstr, errstr_size, "%s", e->err);
                pthread_mutex_unlock(&k->lock);
                return found;
        }
        pthread_mutex_unlock(&k->lock);
        char path[1024];
        snprintf(path, sizeof(path), "/apis/%s/v1/namespaces/%s/%s/%s", api_group, ns, resource,
                 name);
        kos_fact_t *f = kos_fact_new("workload", key, "GET", path, NULL, workload_store, k);
        f->ttl_ms = ttl_ms;
        *need = f;
        return 2;
}
