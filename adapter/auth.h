/* Authentication of requests, as Kubernetes extension API servers do it:
 *  - a TLS client certificate that verifies against the request-header CA (clientAuth usage)
 *    and whose CN is in --requestheader-allowed-names is the aggregator's front proxy: the
 *    identity is taken from X-Remote-User / X-Remote-Group / X-Remote-Extra-* (names
 *    configurable);
 *  - a client certificate verifying against --client-ca-file is a direct client: user = CN,
 *    groups = O;
 *  - anything else is anonymous: 401 except for the health paths.
 * X-Remote-* headers of a request that did not come through the front proxy are ignored.
 * Delegated authorization (SubjectAccessReview) comes with the kube client. */
#ifndef KOS_AUTH_H
#define KOS_AUTH_H

#include <stddef.h>

#define KOS_AUTH_MAX_GROUPS 32

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
} kos_auth_conf_t;

typedef struct kos_auth_s kos_auth_t;

/* Loads the CA bundles. NULL + errstr naming the file and problem on error. */
kos_auth_t *kos_auth_new(const kos_auth_conf_t *conf, char *errstr, size_t errstr_size);
void kos_auth_destroy(kos_auth_t *a);

/* PEM of all trusted CAs (request-header CA + client CA), for the TLS layer's
 * CertificateRequest; "" when none. Borrowed. */
const char *kos_auth_trust_pem(const kos_auth_t *a);

/* Verifies a peer certificate chain (DER, leaf first). Fills peer; never fails. */
void kos_auth_verify_peer(const kos_auth_t *a, const void *const *der, const size_t *der_len,
                          size_t n, kos_peer_t *peer);

/* Builds the identity of a request. 0 with id filled, or -1 with a message for the 401. */
int kos_auth_identify(const kos_auth_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                      size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size);

#endif
