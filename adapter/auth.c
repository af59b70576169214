/* Request authentication from the TLS peer certificate and front-proxy headers (auth.h).
 * Every rule cites the k8s.io/apiserver v0.37.2 (or Go crypto/x509) function it copies. */
#include "auth.h"
#include "xalloc.h"
#include "fileio.h"

#include <errno.h>
#include <pthread.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CHAIN         8 /* certificates of a presented chain that are looked at */
#define OID_UID           "0.9.2342.19200300.100.1.1"
#define CREDENTIAL_ID_KEY "authentication.kubernetes.io/credential-id"

/* ---- string lists ----------------------------------------------------------------------- */

void kos_strlist_add(kos_strlist_t *l, const char *s, size_t len)
{
        l->v = kos_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = kos_xstrndup(s, len);
}

void kos_strlist_clear(kos_strlist_t *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

void kos_strlist_copy(kos_strlist_t *dst, const kos_strlist_t *src)
{
        memset(dst, 0, sizeof(*dst));
        for (size_t i = 0; i < src->n; i++)
                kos_strlist_add(dst, src->v[i], strlen(src->v[i]));
}

/* pflag's stringSlice.Set reads its value with encoding/csv (readAsCSV): one record, ','
 * separated, a field that starts with '"' is quoted ("" is a quote inside it), a bare quote
 * elsewhere is an error (csv.ErrBareQuote), nothing is trimmed. */
int kos_strlist_parse_flag(kos_strlist_t *l, const char *flag, const char *value, char *errstr,
                           size_t errstr_size)
{
        if (!*value)
                return 0; /* readAsCSV("") is an empty slice */
        const char *p = value;
        char *field = kos_xmalloc(strlen(value) + 1);
        for (;;) {
                size_t n = 0;
                if (*p == '"') {
                        p++;
                        for (;;) {
                                if (!*p) {
                                        snprintf(errstr, errstr_size,
                                                 "%s: extraneous or missing \" in quoted-field",
                                                 flag);
                                        goto fail;
                                }
                                if (*p == '"') {
                                        if (p[1] == '"') {
                                                field[n++] = '"';
                                                p += 2;
                                                continue;
                                        }
                                        p++;
                                        break;
                                }
                                field[n++] = *p++;
                        }
                        if (*p && *p != ',') {
                                snprintf(errstr, errstr_size,
                                         "%s: extraneous or missing \" in quoted-field", flag);
                                goto fail;
                        }
                } else {
                        while (*p && *p != ',') {
                                if (*p == '"') {
                                        snprintf(errstr, errstr_size,
                                                 "%s: bare \" in non-quoted-field", flag);
                                        goto fail;
                                }
                                field[n++] = *p++;
                        }
                }
                size_t sp = 0;
                while (sp < n && (field[sp] == ' ' || field[sp] == '\t' || field[sp] == '\n' ||
                                  field[sp] == '\r' || field[sp] == '\v' || field[sp] == '\f'))
                        sp++;
                if (sp == n) { /* checkForWhiteSpaceOnly */
                        snprintf(errstr, errstr_size, "empty value in \"%s\"", flag + 2);
                        goto fail;
                }
                kos_strlist_add(l, field, n);
                if (!*p)
                        break;
                p++; /* ',' */
        }
        free(field);
        return 0;
fail:
        free(field);
        return -1;
}

void kos_auth_conf_defaults(kos_auth_conf_t *c)
{
        memset(c, 0, sizeof(*c));
        kos_strlist_add(&c->requestheader_username_headers, "x-remote-user", 13);
        kos_strlist_add(&c->requestheader_group_headers, "x-remote-group", 14);
        kos_strlist_add(&c->requestheader_extra_headers_prefix, "x-remote-extra-", 15);
}

void kos_auth_conf_clear(kos_auth_conf_t *c)
{
        kos_strlist_clear(&c->requestheader_allowed_names);
        kos_strlist_clear(&c->requestheader_username_headers);
        kos_strlist_clear(&c->requestheader_group_headers);
        kos_strlist_clear(&c->requestheader_extra_headers_prefix);
}

/* ---- identities ------------------------------------------------------------------------- */

void kos_identity_clear(kos_identity_t *id)
{
        free(id->user);
        free(id->uid);
        for (size_t i = 0; i < id->n_groups; i++)
                free(id->groups[i]);
        free(id->groups);
        for (size_t i = 0; i < id->n_extra; i++) {
                free(id->extra[i].key);
                for (size_t j = 0; j < id->extra[i].n_values; j++)
                        free(id->extra[i].values[j]);
                free(id->extra[i].values);
        }
        free(id->extra);
        memset(id, 0, sizeof(*id));
}

void kos_identity_set_user(kos_identity_t *id, const char *user, const char *uid)
{
        char *u = kos_xstrdup(user);
        char *d = uid ? kos_xstrdup(uid) : NULL;
        free(id->user);
        free(id->uid);
        id->user = u;
        id->uid = d;
}

void kos_identity_add_group(kos_identity_t *id, const char *group)
{
        id->groups = kos_xrealloc(id->groups, (id->n_groups + 1) * sizeof(*id->groups));
        id->groups[id->n_groups++] = kos_xstrdup(group);
}

void kos_identity_add_extra(kos_identity_t *id, const char *key, size_t key_len, const char *value)
{
        kos_extra_t *e = NULL;
        for (size_t i = 0; i < id->n_extra && !e; i++)
                if (id->extra[i].key_len == key_len && memcmp(id->extra[i].key, key, key_len) == 0)
                        e = &id->extra[i];
        if (!e) {
                id->extra = kos_xrealloc(id->extra, (id->n_extra + 1) * sizeof(*id->extra));
                e = &id->extra[id->n_extra];
                memset(e, 0, sizeof(*e));
                e->key = kos_xmalloc(key_len + 1); /* the key may hold a NUL byte */
                memcpy(e->key, key, key_len);
                e->key[key_len] = '\0';
                e->key_len = key_len;
                id->n_extra++;
        }
        e->values = kos_xrealloc(e->values, (e->n_values + 1) * sizeof(*e->values));
        e->values[e->n_values++] = kos_xstrdup(value);
}

void kos_identity_copy(kos_identity_t *dst, const kos_identity_t *src)
{
        memset(dst, 0, sizeof(*dst));
        if (src->user)
                kos_identity_set_user(dst, src->user, src->uid);
        for (size_t i = 0; i < src->n_groups; i++)
                kos_identity_add_group(dst, src->groups[i]);
        for (size_t i = 0; i < src->n_extra; i++)
                for (size_t j = 0; j < src->extra[i].n_values; j++)
                        kos_identity_add_extra(dst, src->extra[i].key, src->extra[i].key_len,
                                               src->extra[i].values[j]);
        memcpy(dst->via, src->via, sizeof(dst->via));
}

/* ---- settings --------------------------------------------------------------------------- */

/* One immutable generation of the authentication settings; replaced whole on rotation. */
typedef struct trust_s {
        gnutls_x509_trust_list_t rh_ca; /* NULL when not configured */
        gnutls_x509_trust_list_t client_ca;
        kos_strlist_t allowed, user_hdrs, group_hdrs, extra_prefixes;
        char *trust_pem;
        uint64_t gen;
} trust_t;

struct kos_auth_s {
        /* readers: requests; writer: kos_auth_update. A pointer: readers take it through a const
         * kos_auth_t. */
        pthread_rwlock_t *lock;
        trust_t *t;
        kos_token_review_fn review;
        void *review_opaque;
};

static atomic_uint_fast64_t generations;

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
                pem = kos_xstrdup(pem_text);
                len = strlen(pem);
                path = what;
        }
        if (gnutls_x509_trust_list_init(out, 0) < 0) {
                *out = NULL;
                snprintf(errstr, errstr_size, "%s: out of memory", path);
                free(pem);
                return -1;
        }
        gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
        int n = gnutls_x509_trust_list_add_trust_mem(*out, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        if (n <= 0) {
                snprintf(errstr, errstr_size, "%s: no CA certificate found (%s)", path,
                         n < 0 ? gnutls_strerror(n) : "empty bundle");
                free(pem);
                return -1;
        }
        size_t old = a->trust_pem ? strlen(a->trust_pem) : 0;
        char *all = kos_xrealloc(a->trust_pem, old + len + 2);
        a->trust_pem = all;
        memcpy(all + old, pem, len);
        all[old + len] = '\n';
        all[old + len + 1] = '\0';
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
        kos_strlist_clear(&a->allowed);
        kos_strlist_clear(&a->user_hdrs);
        kos_strlist_clear(&a->group_hdrs);
        kos_strlist_clear(&a->extra_prefixes);
        free(a->trust_pem);
        free(a);
}

static trust_t *trust_new(const kos_auth_conf_t *c, char *errstr, size_t errstr_size)
{
        trust_t *a = kos_xcalloc(1, sizeof(*a));
        if ((c->requestheader_client_ca_file || c->requestheader_client_ca_pem) &&
            load_ca(a, c->requestheader_client_ca_file, c->requestheader_client_ca_pem,
                    "requestheader-client-ca-file", &a->rh_ca, errstr, errstr_size) == -1)
                goto fail;
        if ((c->client_ca_file || c->client_ca_pem) &&
            load_ca(a, c->client_ca_file, c->client_ca_pem, "client-ca-file", &a->client_ca, errstr,
                    errstr_size) == -1)
                goto fail;
        kos_strlist_copy(&a->allowed, &c->requestheader_allowed_names);
        kos_strlist_copy(&a->user_hdrs, &c->requestheader_username_headers);
        kos_strlist_copy(&a->group_hdrs, &c->requestheader_group_headers);
        kos_strlist_copy(&a->extra_prefixes, &c->requestheader_extra_headers_prefix);
        if (!a->trust_pem)
                a->trust_pem = kos_xcalloc(1, 1);
        a->gen = atomic_fetch_add(&generations, 1) + 1;
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
        kos_auth_t *a = kos_xcalloc(1, sizeof(*a));
        a->lock = kos_xmalloc(sizeof(*a->lock));
        pthread_rwlock_init(a->lock, NULL);
        a->t = t;
        return a;
}

int kos_auth_update(kos_auth_t *a, const kos_auth_conf_t *c, char *errstr, size_t errstr_size)
{
        trust_t *t = trust_new(c, errstr, errstr_size);
        if (!t)
                return -1;
        pthread_rwlock_wrlock(a->lock);
        trust_t *old = a->t;
        a->t = t;
        pthread_rwlock_unlock(a->lock);
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
        pthread_rwlock_destroy(a->lock);
        free(a->lock);
        free(a);
}

char *kos_auth_trust_pem(const kos_auth_t *a, uint64_t *generation)
{
        pthread_rwlock_rdlock(a->lock);
        char *pem = kos_xstrdup(a->t->trust_pem);
        if (generation)
                *generation = a->t->gen;
        pthread_rwlock_unlock(a->lock);
        return pem;
}

uint64_t kos_auth_generation(const kos_auth_t *a)
{
        pthread_rwlock_rdlock(a->lock);
        uint64_t g = a->t->gen;
        pthread_rwlock_unlock(a->lock);
        return g;
}

/* ---- certificate subjects as Go reads them ---------------------------------------------- */

static void put_utf8(char *out, size_t *n, unsigned cp)
{
        if (cp < 0x80) {
                out[(*n)++] = (char)cp;
        } else if (cp < 0x800) {
                out[(*n)++] = (char)(0xc0 | (cp >> 6));
                out[(*n)++] = (char)(0x80 | (cp & 0x3f));
        } else {
                out[(*n)++] = (char)(0xe0 | (cp >> 12));
                out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[(*n)++] = (char)(0x80 | (cp & 0x3f));
        }
}

/* Go's utf8.Valid: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
        for (size_t i = 0; i < n;) {
                unsigned c = s[i];
                if (c < 0x80) {
                        i++;
                        continue;
                }
                size_t len;
                unsigned lo = 0x80, hi = 0xbf;
                if (c >= 0xc2 && c <= 0xdf)
                        len = 2;
                else if (c >= 0xe0 && c <= 0xef) {
                        len = 3;
                        if (c == 0xe0)
                                lo = 0xa0;
                        else if (c == 0xed)
                                hi = 0x9f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        len = 4;
                        if (c == 0xf0)
                                lo = 0x90;
                        else if (c == 0xf4)
                                hi = 0x8f;
                } else
                        return 0;
                if (i + len > n || s[i + 1] < lo || s[i + 1] > hi)
                        return 0;
                for (size_t k = 2; k < len; k++)
                        if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                                return 0;
                i += len;
        }
        return 1;
}

/* crypto/x509/parser.go parseASN1String: the string types Go accepts in a Name, decoded to
 * UTF-8. NULL (with why) for anything else: Go then refuses the whole certificate. A NUL
 * byte is refused too: a C string would cut the name short (Go would keep it; refusing is the
 * closed side of that difference). */
static char *asn1_string(unsigned long tag, const unsigned char *v, size_t n, const char **why)
{
        char *out = kos_xmalloc(n * 3 + 1);
        size_t k = 0;
        switch (tag) {
        case 20: /* T61String: read as Latin-1 */
                for (size_t i = 0; i < n; i++)
                        put_utf8(out, &k, v[i]);
                break;
        case 19: /* PrintableString (with '*' and '&', as Go allows) */
                for (size_t i = 0; i < n; i++) {
                        unsigned char b = v[i];
                        if (!((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                              (b >= '0' && b <= '9') || (b >= '\'' && b <= ')') ||
                              (b >= '+' && b <= '/') || b == ' ' || b == ':' || b == '=' ||
                              b == '?' || b == '*' || b == '&')) {
                                *why = "invalid PrintableString";
                                goto fail;
                        }
                        out[k++] = (char)b;
                }
                break;
        case 12: /* UTF8String */
                if (!utf8_valid(v, n)) {
                        *why = "invalid UTF-8 string";
                        goto fail;
                }
                memcpy(out, v, n);
                k = n;
                break;
        case 30: /* BMPString: UCS-2, optional 00 00 terminator, no surrogates/noncharacters */
                if (n % 2) {
                        *why = "invalid BMPString";
                        goto fail;
                }
                if (n >= 2 && v[n - 1] == 0 && v[n - 2] == 0)
                        n -= 2;
                for (size_t i = 0; i < n; i += 2) {
                        unsigned cp = (unsigned)v[i] << 8 | v[i + 1];
                        if (cp == 0xfffe || cp == 0xffff || (cp >= 0xfdd0 && cp <= 0xfdef) ||
                            (cp >= 0xd800 && cp <= 0xdfff)) {
                                *why = "invalid BMPString";
                                goto fail;
                        }
                        put_utf8(out, &k, cp);
                }
                break;
        case 22: /* IA5String */
                for (size_t i = 0; i < n; i++) {
                        if (v[i] >= 0x80) {
                                *why = "invalid IA5String";
                                goto fail;
                        }
                        out[k++] = (char)v[i];
                }
                break;
        case 18: /* NumericString */
                for (size_t i = 0; i < n; i++) {
                        if (!((v[i] >= '0' && v[i] <= '9') || v[i] == ' ')) {
                                *why = "invalid NumericString";
                                goto fail;
                        }
                        out[k++] = (char)v[i];
                }
                break;
        default:
                *why = "unsupported string type";
                goto fail;
        }
        if (memchr(out, '\0', k)) {
                *why = "NUL byte in a name";
                goto fail;
        }
        out[k] = '\0';
        return out;
fail:
        free(out);
        return NULL;
}

/* A presented chain, parsed once per connection, with its subject read the way Go reads it
 * and the last verification result. */
struct kos_peer_cert_s {
        gnutls_x509_crt_t chain[MAX_CHAIN];
        unsigned n;
        char bad[200]; /* why the chain or the subject cannot be used, "" if it can */
        char *cn;      /* pkix.Name.CommonName: the last CN */
        char **orgs;   /* pkix.Name.Organization: every O, in order */
        size_t n_orgs;
        char **uids; /* every UID attribute (parseUIDFromCert wants exactly one) */
        size_t n_uids;
        char credential_id[80];
        int64_t not_before, not_after; /* the presented certificates' common validity */
        /* the last result */
        int cached;
        uint64_t gen;
        int64_t valid_from, valid_until;
        kos_peer_t peer;
};

static int push(char ***v, size_t *n, char *s)
{
        *v = kos_xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[(*n)++] = s;
        return 0;
}

/* pkix.Name.FillFromRDNSequence over the subject of the leaf, every RDN and every value of a
 * multi-valued RDN in DER order. */
static void read_subject(kos_peer_cert_t *pc)
{
        gnutls_x509_dn_t dn;
        if (gnutls_x509_crt_get_subject(pc->chain[0], &dn) < 0) {
                snprintf(pc->bad, sizeof(pc->bad), "client certificate subject unreadable");
                return;
        }
        for (int irdn = 0;; irdn++) {
                for (int iava = 0;; iava++) {
                        gnutls_x509_ava_st ava;
                        int rc = gnutls_x509_dn_get_rdn_ava(dn, irdn, iava, &ava);
                        if (rc == GNUTLS_E_ASN1_ELEMENT_NOT_FOUND) {
                                if (iava == 0)
                                        return; /* no more RDNs */
                                break;
                        }
                        if (rc < 0) {
                                snprintf(pc->bad, sizeof(pc->bad),
                                         "client certificate subject unreadable: %s",
                                         gnutls_strerror(rc));
                                return;
                        }
                        const char *why = NULL;
                        char *s = asn1_string(ava.value_tag, ava.value.data, ava.value.size, &why);
                        if (!s) {
                                snprintf(pc->bad, sizeof(pc->bad), "client certificate subject: %s",
                                         why);
                                return;
                        }
                        const char *oid = (const char *)ava.oid.data;
                        size_t ol = ava.oid.size;
                        while (ol && oid[ol - 1] == '\0')
                                ol--;
#define OID_IS(o) (ol == strlen(o) && memcmp(oid, o, ol) == 0)
                        int ok = 0;
                        if (OID_IS(GNUTLS_OID_X520_COMMON_NAME)) {
                                free(pc->cn);
                                pc->cn = s;
                                ok = 1;
                        } else if (OID_IS(GNUTLS_OID_X520_ORGANIZATION_NAME)) {
                                ok = push(&pc->orgs, &pc->n_orgs, s) == 0;
                        } else if (OID_IS(OID_UID)) {
                                ok = push(&pc->uids, &pc->n_uids, s) == 0;
                        } else {
                                free(s);
                                ok = 1;
                        }
#undef OID_IS
                        if (!ok) {
                                snprintf(pc->bad, sizeof(pc->bad), "out of memory");
                                return;
                        }
                }
        }
}

kos_peer_cert_t *kos_peer_cert_new(const void *const *der, const size_t *der_len, size_t n)
{
        if (n == 0)
                return NULL;
        kos_peer_cert_t *pc = kos_xcalloc(1, sizeof(*pc));
        pc->not_before = INT64_MIN;
        pc->not_after = INT64_MAX;
        if (n > MAX_CHAIN)
                n = MAX_CHAIN;
        for (size_t i = 0; i < n; i++) {
                if (gnutls_x509_crt_init(&pc->chain[pc->n]) < 0) {
                        snprintf(pc->bad, sizeof(pc->bad), "out of memory");
                        return pc;
                }
                /* gnutls_datum_t is not const; the import only reads it. */
                gnutls_datum_t d = {(unsigned char *)(uintptr_t)der[i], (unsigned)der_len[i]};
                if (gnutls_x509_crt_import(pc->chain[pc->n], &d, GNUTLS_X509_FMT_DER) < 0) {
                        gnutls_x509_crt_deinit(pc->chain[pc->n]);
                        snprintf(pc->bad, sizeof(pc->bad),
                                 "client certificate %zu could not be parsed", i);
                        return pc;
                }
                int64_t nb = (int64_t)gnutls_x509_crt_get_activation_time(pc->chain[pc->n]);
                int64_t na = (int64_t)gnutls_x509_crt_get_expiration_time(pc->chain[pc->n]);
                if (nb > pc->not_before)
                        pc->not_before = nb;
                if (na < pc->not_after)
                        pc->not_after = na;
                pc->n++;
        }
        read_subject(pc);
        if (!pc->cn)
                pc->cn = kos_xstrdup("");
        /* CommonNameUserConversion: credential id = X509SHA256=<hex of the leaf's DER> */
        unsigned char fp[32];
        size_t fp_len = sizeof(fp);
        gnutls_datum_t leaf = {(unsigned char *)(uintptr_t)der[0], (unsigned)der_len[0]};
        if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &leaf, fp, &fp_len) == 0) {
                int k = snprintf(pc->credential_id, sizeof(pc->credential_id), "X509SHA256=");
                for (size_t i = 0; i < fp_len; i++)
                        k += snprintf(pc->credential_id + k, sizeof(pc->credential_id) - (size_t)k,
                                      "%02x", fp[i]);
        }
        return pc;
}

void kos_peer_cert_free(kos_peer_cert_t *pc)
{
        if (!pc)
                return;
        for (unsigned i = 0; i < pc->n; i++)
                gnutls_x509_crt_deinit(pc->chain[i]);
        free(pc->cn);
        for (size_t i = 0; i < pc->n_orgs; i++)
                free(pc->orgs[i]);
        free(pc->orgs);
        for (size_t i = 0; i < pc->n_uids; i++)
                free(pc->uids[i]);
        free(pc->uids);
        free(pc);
}

/* Verifies the chain against list for the clientAuth purpose (x509.DefaultVerifyOptions:
 * KeyUsages ClientAuth), at GnuTLS's current time; 0 if trusted. The validity of the trusted
 * issuers narrows the window in which the result may be reused. */
static int verify_chain(kos_peer_cert_t *pc, gnutls_x509_trust_list_t list, char *why,
                        size_t why_size, int64_t *from, int64_t *until)
{
        gnutls_typed_vdata_st vdata = {GNUTLS_DT_KEY_PURPOSE_OID,
                                       (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
        unsigned status = 0;
        int rc =
            gnutls_x509_trust_list_verify_crt2(list, pc->chain, pc->n, &vdata, 1, 0, &status, NULL);
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
        *from = pc->not_before;
        *until = pc->not_after;
        for (unsigned i = 0; i < pc->n; i++) {
                gnutls_x509_crt_t issuer;
                if (gnutls_x509_trust_list_get_issuer(list, pc->chain[i], &issuer, 0) == 0) {
                        int64_t nb = (int64_t)gnutls_x509_crt_get_activation_time(issuer);
                        int64_t na = (int64_t)gnutls_x509_crt_get_expiration_time(issuer);
                        if (nb > *from)
                                *from = nb;
                        if (na < *until)
                                *until = na;
                }
        }
        return 0;
}

static int allowed_name(const trust_t *t, const char *cn)
{
        if (t->allowed.n == 0) /* x509 Verifier.verifySubject: no restriction */
                return 1;
        for (size_t i = 0; i < t->allowed.n; i++)
                if (strcmp(t->allowed.v[i], cn) == 0)
                        return 1;
        return 0;
}

/* CommonNameUserConversion on a chain the client CA verified: 1 a user, 0 no opinion (no
 * CN), -1 an error (the UID rules of parseUIDFromCert, AllowParsingUserUIDFromCertAuth being
 * on by default); why says what for the last two. */
static int client_user(const kos_peer_cert_t *pc, char *why, size_t why_size)
{
        if (!pc->cn[0]) {
                snprintf(why, why_size, "client certificate has no CN");
                return 0;
        }
        if (pc->n_uids > 1 || (pc->n_uids == 1 && !pc->uids[0][0])) {
                snprintf(why, why_size, "client certificate: %s",
                         pc->n_uids > 1 ? "expected 1 UID, but found multiple"
                                        : "UID cannot be an empty string");
                return -1;
        }
        return 1;
}

static void verify_locked(const trust_t *t, kos_peer_cert_t *pc)
{
        kos_peer_t *peer = &pc->peer;
        memset(peer, 0, sizeof(*peer));
        peer->cn = pc->cn ? pc->cn : "";
        peer->uid = "";
        peer->credential_id = "";
        pc->cached = 0;
        if (pc->bad[0]) {
                snprintf(peer->reason, sizeof(peer->reason), "%s", pc->bad);
                return;
        }
        char why[256] = "", rh_why[256] = "";
        int64_t from = 0, until = 0, cfrom, cuntil;
        /* headerrequest.NewDynamicVerifyOptionsSecure -> x509.Verifier: the request-header CA,
         * then verifySubject: pkix.Name.CommonName among the allowed names */
        if (t->rh_ca && verify_chain(pc, t->rh_ca, why, sizeof(why), &from, &until) == 0) {
                if (allowed_name(t, pc->cn))
                        peer->kind = KOS_PEER_FRONT_PROXY;
                else
                        snprintf(rh_why, sizeof(rh_why),
                                 "front-proxy certificate CN \"%.100s\" is not an allowed name",
                                 pc->cn);
        }
        /* x509.NewDynamic(client CA, CommonNameUserConversion); for a front proxy too, since
         * k8s tries this next when the proxy's request has no user header */
        char cwhy[256] = "";
        int user = 0;
        if (t->client_ca &&
            verify_chain(pc, t->client_ca, cwhy, sizeof(cwhy), &cfrom, &cuntil) == 0)
                user = client_user(pc, cwhy, sizeof(cwhy));
        else
                user = -2; /* not trusted */
        if (user == 1) {
                peer->orgs = (const char *const *)pc->orgs;
                peer->n_orgs = pc->n_orgs;
                peer->uid = pc->n_uids ? pc->uids[0] : "";
                peer->credential_id = pc->credential_id;
                if (peer->kind == KOS_PEER_FRONT_PROXY) {
                        peer->also_client = 1;
                        if (cfrom > from)
                                from = cfrom;
                        if (cuntil < until)
                                until = cuntil;
                } else {
                        peer->kind = KOS_PEER_CLIENT;
                        from = cfrom;
                        until = cuntil;
                }
        }
        if (peer->kind != KOS_PEER_NONE) {
                pc->cached = 1;
                pc->gen = t->gen;
                pc->valid_from = from;
                pc->valid_until = until;
                return;
        }
        if (user == 0 || user == -1)
                snprintf(peer->reason, sizeof(peer->reason), "%s", cwhy);
        else if (rh_why[0])
                snprintf(peer->reason, sizeof(peer->reason), "%s", rh_why);
        else
                snprintf(peer->reason, sizeof(peer->reason), "client certificate not trusted: %s",
                         cwhy[0]  ? cwhy
                         : why[0] ? why
                                  : "no CA configured");
}

const kos_peer_t *kos_auth_check_peer(const kos_auth_t *a, kos_peer_cert_t *pc, int64_t now_s)
{
        pthread_rwlock_rdlock(a->lock);
        const trust_t *t = a->t;
        /* Go verifies on every request; the result can only differ when the CAs or the time
         * relative to the chain's validity did. */
        if (!(pc->cached && pc->gen == t->gen && now_s >= pc->valid_from &&
              now_s <= pc->valid_until))
                verify_locked(t, pc);
        pthread_rwlock_unlock(a->lock);
        return &pc->peer;
}

/* ---- request identity ------------------------------------------------------------------- */

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

/* group.AuthenticatedGroupAdder: system:authenticated unless the user is system:anonymous or
 * already in system:authenticated / system:unauthenticated. */
static void add_authenticated(kos_identity_t *id)
{
        if (strcmp(id->user, "system:anonymous") == 0)
                return;
        for (size_t i = 0; i < id->n_groups; i++)
                if (strcmp(id->groups[i], "system:authenticated") == 0 ||
                    strcmp(id->groups[i], "system:unauthenticated") == 0)
                        return;
        kos_identity_add_group(id, "system:authenticated");
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* requestheader.go unescapeExtraKey(strings.ToLower(name[len(prefix):])): lowercase first,
 * then url.PathUnescape; a malformed escape keeps the lowercased key as it is. */
static char *extra_key(const char *raw, size_t *len)
{
        size_t n = strlen(raw);
        char *low = kos_xmalloc(n + 1), *out = kos_xmalloc(n + 1);
        for (size_t i = 0; i <= n; i++) {
                unsigned char c = (unsigned char)raw[i];
                low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (low[i] != '%') {
                        out[k++] = low[i];
                        continue;
                }
                int h = -1;
                if (i + 2 < n) {
                        int hi = hexval(low[i + 1]), lo = hexval(low[i + 2]);
                        if (hi >= 0 && lo >= 0)
                                h = hi * 16 + lo;
                }
                if (h < 0) { /* url.EscapeError: the key stays as it was */
                        free(out);
                        *len = n;
                        return low;
                }
                out[k++] = (char)h;
                i += 2;
        }
        out[k] = '\0';
        free(low);
        *len = k;
        return out;
}

static int prefix_ci(const char *s, const char *prefix)
{
        return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* requestHeaderAuthRequestHandler.AuthenticateRequest. 1 identified, 0 no user header (no
 * opinion). */
static int front_proxy_identity(const trust_t *t, const kos_header_t *hdrs, size_t n_hdrs,
                                kos_identity_t *id)
{
        /* headerValue: per configured name, http.Header.Get = the first line of that name;
         * the first name whose first line is not empty wins */
        const char *user = NULL;
        for (size_t u = 0; u < t->user_hdrs.n && !user; u++)
                for (size_t i = 0; i < n_hdrs; i++)
                        if (strcasecmp(hdrs[i].name, t->user_hdrs.v[u]) == 0) {
                                if (hdrs[i].value && hdrs[i].value[0])
                                        user = hdrs[i].value;
                                break;
                        }
        if (!user)
                return 0;
        kos_identity_set_user(id, user, NULL);
        /* allHeaderValues: every non-empty line of every group header name, in name order */
        for (size_t g = 0; g < t->group_hdrs.n; g++)
                for (size_t i = 0; i < n_hdrs; i++)
                        if (strcasecmp(hdrs[i].name, t->group_hdrs.v[g]) == 0 && hdrs[i].value &&
                            hdrs[i].value[0])
                                kos_identity_add_group(id, hdrs[i].value);
        /* newExtra: every line (empty ones too) of every header with a configured prefix */
        for (size_t p = 0; p < t->extra_prefixes.n; p++) {
                const char *prefix = t->extra_prefixes.v[p];
                for (size_t i = 0; i < n_hdrs; i++) {
                        if (!prefix_ci(hdrs[i].name, prefix))
                                continue;
                        size_t klen;
                        char *key = extra_key(hdrs[i].name + strlen(prefix), &klen);
                        kos_identity_add_extra(id, key, klen, hdrs[i].value ? hdrs[i].value : "");
                        free(key);
                }
        }
        snprintf(id->via, sizeof(id->via), "front-proxy");
        return 1;
}

static void client_identity(const kos_peer_t *peer, kos_identity_t *id)
{
        /* (a hand-made peer may leave the optional strings NULL) */
        const char *uid = peer->uid && peer->uid[0] ? peer->uid : NULL;
        kos_identity_set_user(id, peer->cn ? peer->cn : "", uid);
        for (size_t i = 0; i < peer->n_orgs; i++)
                kos_identity_add_group(id, peer->orgs[i]);
        if (peer->credential_id && peer->credential_id[0])
                kos_identity_add_extra(id, CREDENTIAL_ID_KEY, strlen(CREDENTIAL_ID_KEY),
                                       peer->credential_id);
        snprintf(id->via, sizeof(id->via), "client-cert");
}

int kos_auth_identify(const kos_auth_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                      size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size,
                      struct kos_fact_s **need)
{
        static const kos_peer_t none = {.kind = KOS_PEER_NONE, .cn = "", .uid = ""};
        memset(id, 0, sizeof(*id));
        *need = NULL;
        if (!peer)
                peer = &none;
        int rc = 0;
        msg[0] = '\0';
        /* unionauth: front proxy, client certificate, then the bearer token */
        if (peer->kind == KOS_PEER_FRONT_PROXY) {
                pthread_rwlock_rdlock(a->lock);
                rc = front_proxy_identity(a->t, hdrs, n_hdrs, id);
                const char *first = a->t->user_hdrs.n ? a->t->user_hdrs.v[0] : "(none)";
                if (rc == 0)
                        snprintf(msg, msg_size, "front-proxy request without a %s header", first);
                pthread_rwlock_unlock(a->lock);
                if (rc == 1)
                        goto authenticated;
                kos_identity_clear(id);
        }
        if (peer->kind == KOS_PEER_CLIENT || peer->also_client) {
                client_identity(peer, id);
                goto authenticated;
        }
        /* a certificate that proved nothing leaves the token its chance, as unionauth does */
        const char *token = bearer_token(hdrs, n_hdrs);
        if (token && a->review) {
                char why[256] = "";
                int r = a->review(a->review_opaque, token, id, why, sizeof(why), need);
                if (r == 1) {
                        kos_identity_clear(id);
                        return 1; /* *need: the TokenReview to make first */
                }
                if (r != 0) {
                        kos_identity_clear(id);
                        snprintf(msg, msg_size, "bearer token refused: %s", why);
                        return -1;
                }
                snprintf(id->via, sizeof(id->via), "token");
                goto authenticated;
        }
        if (!msg[0])
                snprintf(msg, msg_size, "%s",
                         peer->reason[0] ? peer->reason : "no client certificate or token");
        return -1;
authenticated:
        add_authenticated(id);
        return 0;
}
