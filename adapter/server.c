/* libmicrohttpd + GnuTLS front end (see server.h). Paths and query arguments are taken raw
 * (an identity unescape callback) because route.c decodes each path segment itself: `%2A` and
 * `%2F` must stay distinguishable from `*` and `/` until then. */
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"
#include "clock.h"
#include "connguard.h"
#include "fileio.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* TLS credentials for one generation of the trusted CAs: the serving certificate plus the
 * CA list sent in the CertificateRequest. A connection takes the current one when it starts
 * and holds a reference until it closes (GnuTLS needs them for the session's lifetime). */
typedef struct {
        gnutls_certificate_credentials_t cred;
        uint64_t auth_gen;
        atomic_int refs;
} tls_gen_t;

/* A request is dispatched again after each fact it waited for; past this many rounds (the
 * facts were evicted from their caches before it came back) it gets a 503. */
#define MAX_ROUNDS 8

struct kos_server_s {
        struct MHD_Daemon *d;
        const kos_dispatch_ctx_t *ctx;
        kos_fetch_t *fetch;
        atomic_int stopping;
        atomic_int parked; /* requests suspended for a fact */
        kos_connguard_t *guard;
        int idle_timeout_s;
        char *cert_pem, *key_pem;
        int port;
        int request_client_certs;
        pthread_mutex_t gen_lock;
        tls_gen_t *gen; /* current; NULL until the first connection */
};

/* Per request (libmicrohttpd's con_cls). */
typedef struct {
        int rounds;  /* times suspended for a fact */
        int refused; /* the fetcher refused to wait (shutting down) */
        int parked;  /* suspended now (counted in kos_server_s.parked) */
} req_state_t;

/* Per TLS connection (libmicrohttpd's socket context): its admission record, and the presented
 * chain, parsed once; the chain is verified on every request (kos_auth_check_peer reuses a
 * result only while it cannot have changed), and the connection counts as trusted only while
 * that check says front proxy. */
typedef struct {
        kos_guard_entry_t g;   /* g.handle = the descriptor */
        int loaded;            /* cert parsed (first request) */
        int trusted;           /* handed to kos_connguard_trust */
        kos_peer_cert_t *cert; /* NULL: no certificate */
        tls_gen_t *gen;
} conn_state_t;

static void gen_release(tls_gen_t *g)
{
        if (g && atomic_fetch_sub(&g->refs, 1) == 1) {
                gnutls_certificate_free_credentials(g->cred);
                free(g);
        }
}

static tls_gen_t *gen_build(const kos_server_t *s)
{
        uint64_t auth_gen;
        char *trust = kos_auth_trust_pem(s->ctx->auth, &auth_gen);
        tls_gen_t *g = kos_xcalloc(1, sizeof(*g));
        if (gnutls_certificate_allocate_credentials(&g->cred) < 0) {
                free(trust);
                free(g);
                return NULL;
        }
        gnutls_datum_t c = {(unsigned char *)s->cert_pem, (unsigned)strlen(s->cert_pem)};
        gnutls_datum_t k = {(unsigned char *)s->key_pem, (unsigned)strlen(s->key_pem)};
        gnutls_datum_t t = {(unsigned char *)trust, (unsigned)strlen(trust)};
        if (gnutls_certificate_set_x509_key_mem(g->cred, &c, &k, GNUTLS_X509_FMT_PEM) < 0 ||
            (t.size &&
             gnutls_certificate_set_x509_trust_mem(g->cred, &t, GNUTLS_X509_FMT_PEM) < 0)) {
                gnutls_certificate_free_credentials(g->cred);
                free(g);
                free(trust);
                return NULL;
        }
        free(trust);
        g->auth_gen = auth_gen;
        atomic_init(&g->refs, 1);
        return g;
}

/* The credentials for a new connection: rebuilt when the CAs changed since the last one
 * (dynamiccertificates/tlsconfig.go: the TLS config follows the client CA content). */
static tls_gen_t *gen_acquire(kos_server_t *s)
{
        uint64_t now_gen = kos_auth_generation(s->ctx->auth);
        pthread_mutex_lock(&s->gen_lock);
        if (!s->gen || s->gen->auth_gen != now_gen) {
                tls_gen_t *g = gen_build(s);
                if (g) {
                        gen_release(s->gen);
                        s->gen = g;
                } else {
                        KOS_WARN("httpd", "cannot build TLS credentials for the current CAs; "
                                          "keeping the previous ones");
                }
        }
        tls_gen_t *g = s->gen;
        if (g)
                atomic_fetch_add(&g->refs, 1);
        pthread_mutex_unlock(&s->gen_lock);
        return g;
}

static size_t raw_unescape(void *cls, struct MHD_Connection *c, char *s)
{
        (void)cls;
        (void)c;
        return strlen(s);
}

/* STARTED runs in the accepting worker right after accept(), before the TLS handshake (MHD
 * has set the session up): the place to admit or evict, and to give the session the
 * credentials of the current CAs and, when any CA may be configured, ask for a client
 * certificate (secure_serving.go: tls.RequestClientCert; verification is ours). CLOSED runs
 * before libmicrohttpd closes the descriptor, so the guard never shuts down a descriptor
 * number that was reused. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
        kos_server_t *s = cls;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *fd =
                    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
                const union MHD_ConnectionInfo *addr =
                    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                if (!fd || !addr) {
                        if (fd)
                                shutdown(fd->connect_fd, SHUT_RDWR);
                        return;
                }
                conn_state_t *st = kos_xcalloc(1, sizeof(*st));
                const struct sockaddr *sa = addr->client_addr;
                socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in);
                st->g.handle = fd->connect_fd;
                if (kos_connguard_open(s->guard, &st->g, sa, len, kos_mono_ms()) == -1) {
                        shutdown(fd->connect_fd, SHUT_RDWR);
                        free(st);
                        return;
                }
                *socket_context = st;
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
                if (!ci || !ci->tls_session)
                        return;
                gnutls_session_t session = (gnutls_session_t)ci->tls_session;
                if ((st->gen = gen_acquire(s)) &&
                    gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, st->gen->cred) == 0 &&
                    s->request_client_certs)
                        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                conn_state_t *st = *socket_context;
                if (st) {
                        kos_connguard_close(s->guard, &st->g);
                        kos_peer_cert_free(st->cert);
                        gen_release(st->gen);
                        free(st);
                }
                *socket_context = NULL;
        }
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
        (void)toe;
        kos_server_t *s = cls;
        req_state_t *rs = *con_cls;
        if (rs && rs->parked)
                atomic_fetch_sub(&s->parked, 1);
        free(rs);
        *con_cls = NULL;
        const union MHD_ConnectionInfo *sc =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        conn_state_t *st = sc ? sc->socket_context : NULL;
        if (st)
                kos_connguard_request_end(s->guard, &st->g);
}

/* The chain the client presented, parsed once per connection. */
static kos_peer_cert_t *load_peer_cert(struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
                return NULL;
        unsigned n = 0;
        const gnutls_datum_t *certs =
            gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
        if (!certs || n == 0)
                return NULL;
        if (n > 8)
                n = 8;
        const void *der[8];
        size_t len[8];
        for (unsigned i = 0; i < n; i++) {
                der[i] = certs[i].data;
                len[i] = certs[i].size;
        }
        return kos_peer_cert_new(der, len, n);
}

/* All request headers: no count limit (only MHD's memory limit bounds the request head). */
typedef struct {
        kos_header_t *h;
        size_t n, cap;
} headers_t;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
        (void)kind;
        headers_t *hs = cls;
        if (hs->n == hs->cap) {
                size_t cap = hs->cap ? hs->cap * 2 : 32;
                hs->h = kos_xrealloc(hs->h, cap * sizeof(*hs->h));
                hs->cap = cap;
        }
        hs->h[hs->n].name = key;
        hs->h[hs->n].value = value ? value : "";
        hs->n++;
        return MHD_YES;
}

typedef struct {
        kos_strbuf_t s; /* data NULL: no query */
        int overflow;
} query_t;

/* Rebuilds the raw query string from MHD's argument list (MHD has already turned '+' into
 * ' ', which route.c also reads as a space). */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
        (void)kind;
        query_t *q = cls;
        size_t need = strlen(key) + (value ? strlen(value) + 1 : 0) + 2;
        if (q->s.len + need > KOS_ROUTE_MAX_QUERY + 2) {
                q->overflow = 1;
                return MHD_NO;
        }
        kos_strbuf_printf(&q->s, "%s%s%s%s", q->s.len ? "&" : "", key, value ? "=" : "",
                          value ? value : "");
        return MHD_YES;
}

static enum MHD_Result send_response(struct MHD_Connection *c, const kos_response_t *r,
                                     int close_after)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            r->body_len, r->body ? r->body : (void *)"",
            r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(r->body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-store");
        if (close_after)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void resume(void *arg)
{
        MHD_resume_connection(arg);
}

static void unavailable(kos_response_t *r, const char *why)
{
        memset(r, 0, sizeof(*r));
        r->status = 503;
        r->content_type = "application/json";
        r->body = kos_render_status(503, "ServiceUnavailable", why, &r->body_len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        (void)version;
        (void)upload_data;
        kos_server_t *s = cls;
        /* The first call only announces the headers. Answering right then would make
         * libmicrohttpd drop keep-alive ("early" responses close the connection), so the
         * answer is queued on the last call, after any request body has been read and
         * discarded (no route takes a body). */
        if (*con_cls == NULL) {
                *con_cls = kos_xcalloc(1, sizeof(req_state_t));
                const union MHD_ConnectionInfo *sc =
                    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                conn_state_t *st = sc ? sc->socket_context : NULL;
                if (st) {
                        kos_connguard_request_begin(s->guard, &st->g);
                        if (!st->loaded) {
                                /* Handshake done, first request head in: from now on the
                                 * keep-alive idle timeout applies, not the handshake one. */
                                MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                                                          (unsigned)s->idle_timeout_s);
                                st->cert = load_peer_cert(c);
                                st->loaded = 1;
                        }
                }
                return MHD_YES;
        }
        if (*upload_data_size) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        int64_t t0 = kos_mono_us();
        const union MHD_ConnectionInfo *sc =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        conn_state_t *st = sc ? sc->socket_context : NULL;
        kos_peer_cert_t *local = NULL;
        kos_peer_cert_t *cert;
        if (st) {
                cert = st->cert; /* parsed on the request's first call */
        } else {
                cert = local = load_peer_cert(c);
        }
        /* x509.Authenticator verifies on every request, at the current time; so does every
         * round of a request resumed after a wait for a fact (this runs again then). */
        const kos_peer_t *peer =
            cert ? kos_auth_check_peer(s->ctx->auth, cert, (int64_t)time(NULL)) : NULL;
        int front_proxy = peer && peer->kind == KOS_PEER_FRONT_PROXY;
        if (st && front_proxy && !st->trusted) {
                kos_connguard_trust(s->guard, &st->g);
                st->trusted = 1;
        }
        /* A trusted connection whose certificate no longer verifies as the front proxy (CA
         * rotated, certificate expired) is answered, then closed: it is out of the guard's
         * accounting for good, so it must not stay open as anything else. */
        int close_after = st && st->trusted && !front_proxy;

        headers_t hs = {0};
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &hs);
        query_t q = {0};
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &q);

        req_state_t *rs = *con_cls;
        if (rs->parked) { /* resumed */
                rs->parked = 0;
                atomic_fetch_sub(&s->parked, 1);
        }
        kos_response_t r;
        if (q.overflow) {
                memset(&r, 0, sizeof(r));
                r.status = 414;
                r.content_type = "application/json";
                r.body = kos_render_status(414, "RequestURITooLong", "query string too long",
                                           &r.body_len);
        } else if (atomic_load(&s->stopping)) {
                unavailable(&r, "shutting down");
        } else {
                kos_fact_t *need = NULL;
                if (kos_dispatch(s->ctx, method, url, q.s.data, peer, hs.h, hs.n, kos_wall_ms(), &r,
                                 &need) == KOS_DISPATCH_MISSING) {
                        if (s->fetch && !rs->refused && rs->rounds < MAX_ROUNDS) {
                                /* Parked until the fact is in its cache; resumed, this
                                 * handler runs again and dispatches anew. Suspend first:
                                 * the wake may come at once, from the fetcher's thread. */
                                rs->rounds++;
                                rs->parked = 1;
                                atomic_fetch_add(&s->parked, 1);
                                MHD_suspend_connection(c);
                                if (kos_fetch_wait(s->fetch, need, resume, c) == -1) {
                                        rs->refused = 1;
                                        MHD_resume_connection(c);
                                }
                                kos_strbuf_free(&q.s);
                                free(hs.h);
                                kos_peer_cert_free(local);
                                return MHD_YES;
                        }
                        kos_fact_free(need);
                        unavailable(&r, rs->refused ? "shutting down"
                                                    : "the apiserver's answers could not be kept");
                }
        }
        kos_strbuf_free(&q.s);
        free(hs.h);
        kos_peer_cert_free(local);
        int64_t dt = kos_mono_us() - t0;
        kos_req_stats_record(s->ctx->stats, r.status, dt);
        if (kos_log_get_level() >= KOS_LOG_DEBUG)
                KOS_DBG("http", "%s %.200s -> %d (%s, %lld us)", method, url, r.status,
                        r.user[0] ? r.user : "anonymous", (long long)dt);
        return send_response(c, &r, close_after);
}

/* libmicrohttpd hands us its own format strings. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        (void)cls;
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        size_t n = strlen(buf);
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        /* TLS handshake failures of scanners and wrong clients are routine: debug level. */
        KOS_DBG("httpd", "%s", buf);
}

static char *slurp(const char *path, const char *what, char *errstr, size_t errstr_size)
{
        char err[512];
        char *buf = kos_read_file(path, 1u << 20, NULL, err, sizeof(err));
        if (!buf) {
                snprintf(errstr, errstr_size, "%s %s", what, err);
                return NULL;
        }
        if (!strstr(buf, "-----BEGIN ")) {
                snprintf(errstr, errstr_size, "%s %s: not a PEM file", what, path);
                free(buf);
                return NULL;
        }
        return buf;
}

/* Checks that the certificate and key load and belong together before MHD sees them, so a
 * mistake is reported with the file names instead of MHD's generic start failure. */
static int check_keypair(const char *cert_pem, const char *key_pem, const char *cert_file,
                         const char *key_file, char *errstr, size_t errstr_size)
{
        gnutls_certificate_credentials_t cred;
        gnutls_certificate_allocate_credentials(&cred);
        /* gnutls_datum_t is not const; gnutls only reads these. */
        gnutls_datum_t c = {(unsigned char *)(uintptr_t)cert_pem, (unsigned)strlen(cert_pem)};
        gnutls_datum_t k = {(unsigned char *)(uintptr_t)key_pem, (unsigned)strlen(key_pem)};
        int rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
        gnutls_certificate_free_credentials(cred);
        if (rc < 0) {
                snprintf(errstr, errstr_size, "--tls-cert-file %s / --tls-private-key-file %s: %s",
                         cert_file, key_file, gnutls_strerror(rc));
                return -1;
        }
        return 0;
}

kos_server_t *kos_server_start(const kos_server_conf_t *conf, char *errstr, size_t errstr_size)
{
        kos_server_t *s = kos_xcalloc(1, sizeof(*s));
        pthread_mutex_init(&s->gen_lock, NULL);
        s->ctx = conf->ctx;
        s->fetch = conf->fetch;
        int max_conn =
            conf->max_connections > 0 ? conf->max_connections : KOS_SERVER_DEFAULT_MAX_CONNECTIONS;
        int untrusted = conf->max_untrusted_connections > 0 ? conf->max_untrusted_connections
                                                            : KOS_SERVER_DEFAULT_UNTRUSTED;
        int handshake_ms = conf->handshake_timeout_ms > 0 ? conf->handshake_timeout_ms
                                                          : KOS_SERVER_DEFAULT_HANDSHAKE_MS;
        s->idle_timeout_s =
            conf->idle_timeout_s > 0 ? conf->idle_timeout_s : KOS_SERVER_DEFAULT_IDLE_S;
        kos_connguard_conf_t gc = {.max_per_address = conf->max_connections_per_address > 0
                                                          ? conf->max_connections_per_address
                                                          : KOS_SERVER_DEFAULT_PER_ADDRESS,
                                   .max_untrusted = untrusted,
                                   .pending_timeout_ms = handshake_ms,
                                   .evict = kos_connguard_shutdown_peer,
                                   .activity = kos_connguard_peer_activity};
        if (!(s->guard = kos_connguard_new(&gc))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (!(s->cert_pem = slurp(conf->tls_cert_file, "--tls-cert-file", errstr, errstr_size)) ||
            !(s->key_pem =
                  slurp(conf->tls_key_file, "--tls-private-key-file", errstr, errstr_size)) ||
            check_keypair(s->cert_pem, s->key_pem, conf->tls_cert_file, conf->tls_key_file, errstr,
                          errstr_size) == -1)
                goto fail;
        s->request_client_certs = conf->request_client_certs;

        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
        if (inet_pton(AF_INET, conf->bind_address, &sin->sin_addr) == 1) {
                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t)conf->port);
        } else if (inet_pton(AF_INET6, conf->bind_address, &sin6->sin6_addr) == 1) {
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t)conf->port);
                flags |= MHD_USE_IPv6;
        } else {
                snprintf(errstr, errstr_size, "--bind-address %s: not an IP address",
                         conf->bind_address);
                goto fail;
        }
        struct MHD_OptionItem opts[16];
        int k = 0;
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem};
        /* TLS 1.2+ only, as the aggregator and kubectl require. */
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                            conf->threads > 0 ? conf->threads : 2, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, max_conn, NULL};
        /* Until the first request head: the handshake timeout (as inactivity, in whole seconds;
         * the guard enforces it as a deadline too). After it, the idle timeout. */
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                            (handshake_ms + 999) / 1000, NULL};
        /* Bounds the request line + headers: beyond it MHD answers 414/431 itself. */
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL};
        opts[k++] =
            (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)raw_unescape, NULL};
        opts[k++] =
            (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_connection, s};
        opts[k++] =
            (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, s};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

        s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                                MHD_OPTION_END);
        if (!s->d) {
                snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", conf->bind_address,
                         conf->port, errno ? strerror(errno) : "libmicrohttpd failed to start");
                goto fail;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = di ? di->port : conf->port;
        return s;
fail:
        kos_server_stop(s);
        return NULL;
}

int kos_server_port(const kos_server_t *s)
{
        return s->port;
}

void kos_server_stop(kos_server_t *s)
{
        if (!s)
                return;
        atomic_store(&s->stopping, 1);
        /* libmicrohttpd must not be stopped with suspended connections: closing the fetcher
         * wakes (resumes) every one, and refuses to park new ones. */
        if (s->fetch)
                kos_fetch_close(s->fetch);
        /* Give the resumed requests a moment to be answered (503) rather than cut off. */
        for (int i = 0; i < 200 && atomic_load(&s->parked) > 0; i++)
                nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        if (s->d)
                MHD_stop_daemon(s->d);
        kos_connguard_destroy(s->guard);
        free(s->cert_pem);
        free(s->key_pem);
        gen_release(s->gen);
        pthread_mutex_destroy(&s->gen_lock);
        free(s);
}
