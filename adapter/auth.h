/* Authentication of requests, rule for rule as k8s.io/apiserver v0.37.2 does it for a delegated
 * (extension) API server (pkg/authentication/authenticatorfactory/delegating.go: front proxy,
 * then x509 client certificate, then bearer token, first success wins):
 *  - a TLS client certificate that verifies against the request-header CA (clientAuth usage)
 *    and whose CN is an allowed name (any CN when none is configured) is the aggregator's front
 *    proxy: the identity comes from the configured username/group/extra headers
 *    (pkg/authentication/request/headerrequest/requestheader.go);
 *  - a client certificate verifying against the client CA is a direct client: user = CN,
 *    groups = O, uid = the UID attribute, extra credential-id = X509SHA256=<hex>
 *    (pkg/authentication/request/x509/x509.go CommonNameUserConversion);
 *  - otherwise an `Authorization: Bearer` token is checked by a reviewer callback
 *    (TokenReview, authz.c);
 *  - anything else is anonymous: 401 except for the health paths.
 * The certificate subject is read as Go's crypto/x509 reads it (pkix.Name.FillFromRDNSequence:
 * the LAST CN in DER order, every O in DER order, multi-valued RDNs flattened; a value that is
 * not a valid ASN.1 string of a type Go accepts makes the certificate unusable). Certificates
 * are verified on every request (x509.Authenticator verifies per request): a connection keeps
 * its parsed chain and the last result, which is reused only while the CA generation is the
 * same and the time is inside the validity of every certificate of the chain.
 * No identity part has a fixed size: names, groups and extras are as long and as many as the
 * request head (libmicrohttpd's memory limit) or the TokenReview answer allows.
 * X-Remote-* headers of a request that did not come through the front proxy are ignored.
 * Authorization (SubjectAccessReview) is authz.c's job. */
#ifndef KOS_AUTH_H
#define KOS_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* ---- lists of strings (CA-file-less settings) ------------------------------------------- */

typedef struct {
        char **v;
        size_t n;
} kos_strlist_t;

/* Appends a copy of len bytes of s. */
void kos_strlist_add(kos_strlist_t *l, const char *s, size_t len);
void kos_strlist_clear(kos_strlist_t *l);
/* Deep copy into dst (overwritten). */
void kos_strlist_copy(kos_strlist_t *dst, const kos_strlist_t *src);
/* Appends the items of one flag value as pflag's StringSlice reads it (encoding/csv, one
 * record: fields split on ',', no trimming, "quoted, fields" with "" for a quote; "" is no
 * item) and refuses whitespace-only items as DelegatingAuthenticationOptions.Validate does.
 * -1 with errstr naming the flag on a malformed value. */
int kos_strlist_parse_flag(kos_strlist_t *l, const char *flag, const char *value, char *errstr,
                           size_t errstr_size);

/* ---- identities ------------------------------------------------------------------------- */

struct kos_fact_s; /* fact.h */

typedef enum { KOS_PEER_NONE = 0, KOS_PEER_FRONT_PROXY, KOS_PEER_CLIENT } kos_peer_kind_t;

/* What a connection's certificate proves at one moment. The strings are owned by the
 * kos_peer_cert_t it came from (or by the caller for hand-made peers in tests). */
typedef struct {
        kos_peer_kind_t kind;
        const char *cn;            /* the last CN of the subject, "" if none */
        const char *const *orgs;   /* O= of a direct client certificate, in DER order */
        size_t n_orgs;             /* ... */
        const char *uid;           /* UID= of a direct client certificate, "" if none */
        const char *credential_id; /* "X509SHA256=<hex of the leaf>" for a client, or "" */
        int also_client;  /* a front proxy whose certificate also verifies against the client CA
                           * (one CA for both): without a user header it is that client */
        char reason[256]; /* why a presented certificate was refused (for the log) */
} kos_peer_t;

typedef struct {
        char *key; /* may hold NUL bytes (percent-decoded): use key_len */
        size_t key_len;
        char **values;
        size_t n_values;
} kos_extra_t;

typedef struct {
        char *user;
        char *uid; /* NULL: none */
        char **groups;
        size_t n_groups;
        kos_extra_t *extra; /* in first-seen key order */
        size_t n_extra;
        char via[16]; /* "front-proxy", "client-cert", "token" */
} kos_identity_t;

/* Frees what id holds and zeroes it. A zeroed kos_identity_t needs no init. */
void kos_identity_clear(kos_identity_t *id);
/* Deep copy into dst (overwritten). */
void kos_identity_copy(kos_identity_t *dst, const kos_identity_t *src);
/* Appends a group (duplicates are kept, as k8s keeps them). */
void kos_identity_add_group(kos_identity_t *id, const char *group);
/* Appends value to the extra key (created if new). */
void kos_identity_add_extra(kos_identity_t *id, const char *key, size_t key_len, const char *value);
/* Sets user (and uid when not NULL). */
void kos_identity_set_user(kos_identity_t *id, const char *user, const char *uid);

typedef struct {
        const char *name;
        const char *value;
} kos_header_t;

/* ---- settings --------------------------------------------------------------------------- */

typedef struct {
        const char *requestheader_client_ca_file;  /* NULL: the _pem, or no front proxy */
        const char *requestheader_client_ca_pem;   /* from the ConfigMap */
        kos_strlist_t requestheader_allowed_names; /* empty: any CN */
        kos_strlist_t requestheader_username_headers;
        kos_strlist_t requestheader_group_headers;
        kos_strlist_t requestheader_extra_headers_prefix;
        const char *client_ca_file; /* NULL: the _pem, or no direct client certificates */
        const char *client_ca_pem;
} kos_auth_conf_t;

/* The flag defaults of k8s.io/apiserver NewDelegatingAuthenticationOptions: username header
 * x-remote-user, group header x-remote-group, extra prefix x-remote-extra-; no CA. */
void kos_auth_conf_defaults(kos_auth_conf_t *c);
/* Frees the lists (not the borrowed strings). */
void kos_auth_conf_clear(kos_auth_conf_t *c);

typedef struct kos_auth_s kos_auth_t;

/* Loads the CA bundles. NULL + errstr naming the file and problem on error. The conf is
 * copied. */
kos_auth_t *kos_auth_new(const kos_auth_conf_t *conf, char *errstr, size_t errstr_size);
void kos_auth_destroy(kos_auth_t *a);

/* Replaces the settings (CA rotation read from the cluster). In-flight requests finish with
 * the old ones; every later request, on any connection, uses the new ones. -1 + errstr (and
 * nothing changed) on error. */
int kos_auth_update(kos_auth_t *a, const kos_auth_conf_t *conf, char *errstr, size_t errstr_size);

/* Bearer tokens (direct callers only; the aggregator strips them) are checked by this
 * callback, e.g. a cached TokenReview: 0 with id filled (user, uid, groups, extra), -1 with a
 * reason for the log, or 1 with *need = the review still to make (fact.h; the caller of
 * kos_auth_identify owns it), id left zeroed.
 * Thread notes: called on HTTP worker threads, never waits on the network. */
typedef int (*kos_token_review_fn)(void *opaque, const char *token, kos_identity_t *id, char *msg,
                                   size_t msg_size, struct kos_fact_s **need);
void kos_auth_set_token_reviewer(kos_auth_t *a, kos_token_review_fn fn, void *opaque);

/* A copy (free()) of the PEM of all trusted CAs (request-header CA + client CA) for the TLS
 * layer's CertificateRequest, "" when none, and its generation (changes on every update). */
char *kos_auth_trust_pem(const kos_auth_t *a, uint64_t *generation);
uint64_t kos_auth_generation(const kos_auth_t *a);

/* ---- per-connection certificates -------------------------------------------------------- */

typedef struct kos_peer_cert_s kos_peer_cert_t;

/* Parses a presented chain (DER, leaf first) once for a connection. NULL when n == 0 or out
 * of memory. */
kos_peer_cert_t *kos_peer_cert_new(const void *const *der, const size_t *der_len, size_t n);
void kos_peer_cert_free(kos_peer_cert_t *pc);

/* What pc proves now (unix seconds; the verification itself uses GnuTLS's clock, which is the
 * same unless a test replaces it): verified against the current CAs unless the last result is
 * still valid (same CA generation, now inside the chain's validity). The result lives in pc
 * until the next call with it. */
const kos_peer_t *kos_auth_check_peer(const kos_auth_t *a, kos_peer_cert_t *pc, int64_t now_s);

/* Builds the identity of a request into a zeroed id. 0; -1 with the reason (for the log, never
 * for the client) and id cleared; or 1 when a bearer token's review is not known yet (*need:
 * the review to fetch, the caller owns it; id cleared). peer may be NULL (no certificate). */
int kos_auth_identify(const kos_auth_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                      size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size,
                      struct kos_fact_s **need);

#endif
