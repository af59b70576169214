/* Request authentication from the TLS peer certificate and front-proxy headers (auth.h). */
#include "auth.h"
#include "fileio.h"

#include <errno.h>
#include <pthread.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_NAMES 16

/* One immutable generation of the authentication settings; replaced whole on rotation. */
typedef struct trust_s {
        gnutls_x509_trust_list_t rh_ca; /* NULL when not configured */
        gnutls_x509_trust_list_t client_ca;
        char *allowed[MAX_NAMES];
        int n_allowed;
        char *user_hdrs[MAX_NAMES];
        int n_user_hdrs;
        char *group_hdrs[MAX_NAMES];
        int n_group_hdrs;
        char *extra_prefix;
        char *trust_pem;
} trust_t;

struct kos_auth_s {
        pthread_rwlock_t lock; /* readers: requests; writer: kos_auth_update */
        trust_t *t;
        kos_token_review_fn review;
        void *review_opaque;
};

static int split_csv(const char *s, char **out, int max)
{
        int n = 0;
        while (s && *s && n < max) {
                const char *c = strchr(s, ',');
                size_t len = c ? (size_t)(c - s) : strlen(s);
                while (len && s[0] == ' ')
                        s++, len--;
                while (len && s[len - 1] == ' ')
                        len--;
                if (len)
                        out[n++] = strndup(s, len);
                s = c ? c + 1 : NULL;
        }
        return n;
}

/* Loads a PEM CA bundle (from a file, or given as text) into a trust list and appends the PEM
 * to the combined bundle. */
static int load_ca(trust_t *a, const char *path, const char *pem_text, const char *what,
                   gnutls_x509_trust_list_t *out, char *errstr, size_t errstr_size)
{
        size_t len;
        char *pem;
        if (path) {
                if (!(pem = kos_read_file(path, 4u << 20, &len, errstr, errstr_size)))
                        return -1;
        } else {
                pem = strdup(pem_text);
                len = strlen(pem);
                path = what;
        }
        gnutls_x509_trust_list_init(out, 0);
        gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
        int n = gnutls_x509_trust_list_add_trust_mem(*out, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        if (n <= 0) {
                snprintf(errstr, errstr_size, "%s: no CA certificate found (%s)", path,
                         n < 0 ? gnutls_strerror(n) : "empty bundle");
                free(pem);
                return -1;
        }
        size_t old = a->trust_pem ? strlen(a->trust_pem) : 0;
        a->trust_pem = realloc(a->trust_pem, old + len + 2);
        memcpy(a->trust_pem + old, pem, len);
        a->trust_pem[old + len] = '\n';
        a->trust_pem[old + len + 1] = '\0';
        free(pem);
        return 0;
}

static void trust_free(trust_t *a)
{
        if (!a)
                return;
        if (a->rh_ca)
                gnutls_x509_trust_list_deinit(a->rh_ca, 1);
        if (a->client_ca)
                gnutls_x509_trust_list_deinit(a->client_ca, 1);
        for (int i = 0; i < a->n_allowed; i++)
                free(a->allowed[i]);
        for (int i = 0; i < a->n_user_hdrs; i++)
                free(a->user_hdrs[i]);
        for (int i = 0; i < a->n_group_hdrs; i++)
                free(a->group_hdrs[i]);
        free(a->extra_prefix);
        free(a->trust_pem);
        free(a);
}

static trust_t *trust_new(const kos_auth_conf_t *c, char *errstr, size_t errstr_size)
{
        trust_t *a = calloc(1, sizeof(*a));
        if ((c->requestheader_client_ca_file || c->requestheader_client_ca_pem) &&
            load_ca(a, c->requestheader_client_ca_file, c->requestheader_client_ca_pem,
                    "requestheader-client-ca-file", &a->rh_ca, errstr, errstr_size) == -1)
                goto fail;
        if ((c->client_ca_file || c->client_ca_pem) &&
            load_ca(a, c->client_ca_file, c->client_ca_pem, "client-ca-file", &a->client_ca, errstr,
                    errstr_size) == -1)
                goto fail;
        a->n_allowed = split_csv(c->requestheader_allowed_names, a->allowed, MAX_NAMES);
        a->n_user_hdrs = split_csv(
            c->requestheader_username_headers ? c->requestheader_username_headers : "X-Remote-User",
            a->user_hdrs, MAX_NAMES);
        a->n_group_hdrs = split_csv(c->requestheader_group_headers ? c->requestheader_group_headers
                                                                   : "X-Remote-Group",
                                    a->group_hdrs, MAX_NAMES);
        a->extra_prefix =
            strdup(c->requestheader_extra_headers_prefix ? c->requestheader_extra_headers_prefix
                                                         : "X-Remote-Extra-");
        if (a->n_user_hdrs == 0) {
                snprintf(errstr, errstr_size, "--requestheader-username-headers is empty");
                goto fail;
        }
        if (!a->trust_pem)
                a->trust_pem = calloc(1, 1);
        return a;
fail:
        trust_free(a);
        return NULL;
}

kos_auth_t *kos_auth_new(const kos_auth_conf_t *c, char *errstr, size_t errstr_size)
{
        trust_t *t = trust_new(c, errstr, errstr_size);
        if (!t)
                return NULL;
        kos_auth_t *a = calloc(1, sizeof(*a));
        pthread_rwlock_init(&a->lock, NULL);
        a->t = t;
        return a;
}

int kos_auth_update(kos_auth_t *a, const kos_auth_conf_t *c, char *errstr, size_t errstr_size)
{
        trust_t *t = trust_new(c, errstr, errstr_size);
        if (!t)
                return -1;
        pthread_rwlock_wrlock(&a->lock);
        trust_t *old = a->t;
        a->t = t;
        pthread_rwlock_unlock(&a->lock);
        trust_free(old);
        return 0;
}

void kos_auth_set_token_reviewer(kos_auth_t *a, kos_token_review_fn fn, void *opaque)
{
        a->review = fn;
        a->review_opaque = opaque;
}

void kos_auth_destroy(kos_auth_t *a)
{
        if (!a)
                return;
        trust_free(a->t);
        pthread_rwlock_destroy(&a->lock);
        free(a);
}

const char *kos_auth_trust_pem(const kos_auth_t *a)
{
        return a->t->trust_pem;
}

/* Verifies chain against list for the clientAuth purpose; 0 if trusted. */
static int verify_chain(gnutls_x509_trust_list_t list, gnutls_x509_crt_t *chain, unsigned n,
                        char *why, size_t why_size)
{
        gnutls_typed_vdata_st vdata = {GNUTLS_DT_KEY_PURPOSE_OID,
                                       (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
        unsigned status = 0;
        int rc = gnutls_x509_trust_list_verify_crt2(list, chain, n, &vdata, 1, 0, &status, NULL);
        if (rc < 0) {
                snprintf(why, why_size, "%s", gnutls_strerror(rc));
                return -1;
        }
        if (status) {
                gnutls_datum_t out;
                if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
                                                                 0) == 0) {
                        snprintf(why, why_size, "%s", (char *)out.data);
                        gnutls_free(out.data);
                } else {
                        snprintf(why, why_size, "verification failed (0x%x)", status);
                }
                return -1;
        }
        return 0;
}

static void verify_peer_locked(const trust_t *a, const void *const *der, const size_t *der_len,
                               size_t n, kos_peer_t *peer)
{
        if (n == 0)
                return;
        if (n > 8)
                n = 8;
        gnutls_x509_crt_t chain[8];
        unsigned k = 0;
        for (size_t i = 0; i < n; i++) {
                gnutls_x509_crt_init(&chain[k]);
                gnutls_datum_t d = {(unsigned char *)der[i], (unsigned)der_len[i]};
                if (gnutls_x509_crt_import(chain[k], &d, GNUTLS_X509_FMT_DER) < 0) {
                        gnutls_x509_crt_deinit(chain[k]);
                        snprintf(peer->reason, sizeof(peer->reason),
                                 "client certificate %zu could not be parsed", i);
                        goto done;
                }
                k++;
        }
        size_t cn_len = sizeof(peer->cn);
        if (gnutls_x509_crt_get_dn_by_oid(chain[0], GNUTLS_OID_X520_COMMON_NAME, 0, 0, peer->cn,
                                          &cn_len) < 0)
                peer->cn[0] = '\0';
        char why[256] = "", cn_why[256] = "";
        if (a->rh_ca && verify_chain(a->rh_ca, chain, k, why, sizeof(why)) == 0) {
                int ok = a->n_allowed == 0;
                for (int i = 0; i < a->n_allowed && !ok; i++)
                        ok = strcmp(a->allowed[i], peer->cn) == 0;
                if (ok) {
                        peer->kind = KOS_PEER_FRONT_PROXY;
                        goto done;
                }
                snprintf(cn_why, sizeof(cn_why),
                         "front-proxy certificate CN \"%.100s\" is not in "
                         "--requestheader-allowed-names",
                         peer->cn);
        }
        if (a->client_ca && verify_chain(a->client_ca, chain, k, why, sizeof(why)) == 0) {
                if (!peer->cn[0]) {
                        snprintf(peer->reason, sizeof(peer->reason),
                                 "client certificate has no CN");
                        goto done;
                }
                peer->kind = KOS_PEER_CLIENT;
                for (int i = 0; i < KOS_AUTH_MAX_GROUPS; i++) {
                        size_t sz = sizeof(peer->orgs[0]);
                        if (gnutls_x509_crt_get_dn_by_oid(chain[0],
                                                          GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0,
                                                          peer->orgs[i], &sz) < 0)
                                break;
                        peer->n_orgs++;
                }
                goto done;
        }
        if (cn_why[0])
                snprintf(peer->reason, sizeof(peer->reason), "%s", cn_why);
        else
                snprintf(peer->reason, sizeof(peer->reason), "client certificate not trusted: %s",
                         why[0] ? why : "no CA configured");
done:
        for (unsigned i = 0; i < k; i++)
                gnutls_x509_crt_deinit(chain[i]);
}

void kos_auth_verify_peer(const kos_auth_t *a, const void *const *der, const size_t *der_len,
                          size_t n, kos_peer_t *peer)
{
        memset(peer, 0, sizeof(*peer));
        if (n == 0)
                return;
        pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
        verify_peer_locked(a->t, der, der_len, n, peer);
        pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
}

static int add_group_max(kos_identity_t *id, const char *g, int max)
{
        if (id->n_groups >= max)
                return -1;
        for (int i = 0; i < id->n_groups; i++)
                if (strcmp(id->groups[i], g) == 0)
                        return 0;
        snprintf(id->groups[id->n_groups++], sizeof(id->groups[0]), "%s", g);
        return 0;
}

static int add_group(kos_identity_t *id, const char *g)
{
        return add_group_max(id, g, KOS_AUTH_MAX_GROUPS);
}

static const char *bearer_token(const kos_header_t *hdrs, size_t n_hdrs)
{
        for (size_t i = 0; i < n_hdrs; i++)
                if (strcasecmp(hdrs[i].name, "Authorization") == 0 && hdrs[i].value &&
                    strncasecmp(hdrs[i].value, "Bearer ", 7) == 0) {
                        const char *t = hdrs[i].value + 7;
                        while (*t == ' ')
                                t++;
                        return *t ? t : NULL;
                }
        return NULL;
}

static int identify_locked(const trust_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                           size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size);

int kos_auth_identify(const kos_auth_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                      size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size,
                      struct kos_fact_s **need)
{
        memset(id, 0, sizeof(*id));
        *need = NULL;
        /* Order of k8s.io/apiserver: front proxy, client certificate, then bearer token. */
        const char *token = peer->kind == KOS_PEER_NONE ? bearer_token(hdrs, n_hdrs) : NULL;
        if (token && a->review) {
                int r = a->review(a->review_opaque, token, id, msg, msg_size, need);
                if (r != 0)
                        return r > 0 ? 1 : -1;
                snprintf(id->via, sizeof(id->via), "token");
                add_group_max(id, "system:authenticated", KOS_AUTH_MAX_GROUPS + 1);
                return 0;
        }
        pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
        int rc = identify_locked(a->t, peer, hdrs, n_hdrs, id, msg, msg_size);
        pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
        return rc;
}

static int identify_locked(const trust_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                           size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size)
{
        if (peer->kind == KOS_PEER_CLIENT) {
                snprintf(id->user, sizeof(id->user), "%s", peer->cn);
                for (int i = 0; i < peer->n_orgs; i++)
                        add_group(id, peer->orgs[i]);
                snprintf(id->via, sizeof(id->via), "client-cert");
        } else if (peer->kind == KOS_PEER_FRONT_PROXY) {
                /* The first configured user header that is present wins, as in k8s.io/apiserver. */
                for (int u = 0; u < a->n_user_hdrs && !id->user[0]; u++)
                        for (size_t i = 0; i < n_hdrs; i++)
                                if (strcasecmp(hdrs[i].name, a->user_hdrs[u]) == 0 &&
                                    hdrs[i].value && hdrs[i].value[0]) {
                                        snprintf(id->user, sizeof(id->user), "%s", hdrs[i].value);
                                        break;
                                }
                if (!id->user[0]) {
                        snprintf(msg, msg_size,
                                 "Unauthorized: front-proxy request without a %s header",
                                 a->user_hdrs[0]);
                        return -1;
                }
                /* Every group header line is one group; values are not split on commas. */
                for (int g = 0; g < a->n_group_hdrs; g++)
                        for (size_t i = 0; i < n_hdrs; i++)
                                if (strcasecmp(hdrs[i].name, a->group_hdrs[g]) == 0 &&
                                    hdrs[i].value && hdrs[i].value[0] &&
                                    add_group(id, hdrs[i].value) == -1) {
                                        snprintf(msg, msg_size, "Unauthorized: more than %d groups",
                                                 KOS_AUTH_MAX_GROUPS);
                                        return -1;
                                }
                snprintf(id->via, sizeof(id->via), "front-proxy");
        } else {
                snprintf(msg, msg_size, "Unauthorized%s%s", peer->reason[0] ? ": " : "",
                         peer->reason);
                return -1;
        }
        add_group_max(id, "system:authenticated", KOS_AUTH_MAX_GROUPS + 1);
        return 0;
}
