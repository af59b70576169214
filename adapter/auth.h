/* Authentication of requests, as Kubernetes extension API servers do it:
 *  - a TLS client certificate that verifies against the request-header CA (clientAuth usage)
 *    and whose CN is in --requestheader-allowed-names is the aggregator's front proxy: the
 *    identity is taken from X-Remote-User / X-Remote-Group / X-Remote-Extra-* (names
 *    configurable);
 *  - a client certificate verifying against --client-ca-file is a direct client: user = CN,
 *    groups = O;
 *  - otherwise an `Authorization: Bearer` token is checked by a reviewer callback
 *    (TokenReview, kauthz.c);
 *  - anything else is anonymous: 401 except for the health paths.
 * X-Remote-* headers of a request that did not come through the front proxy are ignored.
 * Authorization (SubjectAccessReview) is kauthz.c's job. */
#ifndef KOS_AUTH_H
#define KOS_AUTH_H

#include <stddef.h>

#define KOS_AUTH_MAX_GROUPS 32

struct kos_fact_s; /* fact.h */

typedef enum { KOS_PEER_NONE = 0, KOS_PEER_FRONT_PROXY, KOS_PEER_CLIENT } kos_peer_kind_t;

/* What a connection's certificate proves; computed once per TLS connection. */
typedef struct {
        kos_peer_kind_t kind;
        char cn[256];
        char orgs[KOS_AUTH_MAX_GROUPS][128]; /* O= of a direct client certificate */
        int n_orgs;
        char reason[256]; /* why a presented certificate was not accepted, "" if none presented */
} kos_peer_t;

typedef struct {
        char user[256];
        char groups[KOS_AUTH_MAX_GROUPS + 1][256];
        int n_groups;
        char via[16]; /* "front-proxy", "client-cert" */
} kos_identity_t;

typedef struct {
        const char *name;
        const char *value;
} kos_header_t;

typedef struct {
        const char *requestheader_client_ca_file;       /* NULL: no front proxy accepted */
        const char *requestheader_allowed_names;        /* comma-separated; NULL/"" = any CN */
        const char *requestheader_username_headers;     /* comma-separated, default X-Remote-User */
        const char *requestheader_group_headers;        /* default X-Remote-Group */
        const char *requestheader_extra_headers_prefix; /* default X-Remote-Extra- */
        const char *client_ca_file;                     /* NULL: no direct client certificates */
        const char *requestheader_client_ca_pem; /* used when the _file is NULL (ConfigMap) */
        const char *client_ca_pem;
} kos_auth_conf_t;

typedef struct kos_auth_s kos_auth_t;

/* Loads the CA bundles. NULL + errstr naming the file and problem on error. */
kos_auth_t *kos_auth_new(const kos_auth_conf_t *conf, char *errstr, size_t errstr_size);
void kos_auth_destroy(kos_auth_t *a);

/* Replaces the settings (CA rotation read from the cluster). In-flight requests finish with
 * the old ones. -1 + errstr (and nothing changed) on error. */
int kos_auth_update(kos_auth_t *a, const kos_auth_conf_t *conf, char *errstr, size_t errstr_size);

/* Bearer tokens (direct callers only; the aggregator strips them) are checked by this
 * callback, e.g. a cached TokenReview: 0 with id->user/groups filled, -1 with msg, or 1 with
 * *need = the review still to make (fact.h; the caller of kos_auth_identify owns it). */
typedef int (*kos_token_review_fn)(void *opaque, const char *token, kos_identity_t *id, char *msg,
                                   size_t msg_size, struct kos_fact_s **need);
void kos_auth_set_token_reviewer(kos_auth_t *a, kos_token_review_fn fn, void *opaque);

/* PEM of all trusted CAs (request-header CA + client CA), for the TLS layer's
 * CertificateRequest; "" when none. Borrowed. */
const char *kos_auth_trust_pem(const kos_auth_t *a);

/* Verifies a peer certificate chain (DER, leaf first). Fills peer; never fails. */
void kos_auth_verify_peer(const kos_auth_t *a, const void *const *der, const size_t *der_len,
                          size_t n, kos_peer_t *peer);

/* Builds the identity of a request. 0 with id filled, -1 with a message for the 401, or 1
 * when a bearer token's review is not known yet (*need: the review; the caller owns it). */
int kos_auth_identify(const kos_auth_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                      size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size,
                      struct kos_fact_s **need);

#endif
