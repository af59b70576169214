/* The HTTPS front of kos-adapter: the only file that knows libmicrohttpd and GnuTLS sessions.
 * It terminates TLS (requesting, not requiring, a client certificate whenever a client CA may
 * be configured, with the CA list of the current settings), parses the peer's chain once per
 * connection and has it verified on every request, hands method/path/query/headers to the
 * dispatch pipeline and writes back its answer. Connections are admitted through
 * common/connguard: until a connection's certificate verifies as the aggregator's front proxy
 * it counts against per-address and total bounds (a flood costs its own oldest idle sockets),
 * and it must deliver a complete request head within the handshake timeout; the aggregator's
 * connections are exempt once verified (and closed should their certificate stop verifying).
 * A request that needs a review or list from kube-apiserver is suspended (libmicrohttpd
 * suspend/resume) while fetch.c gets it, so no worker thread ever waits on the network; when
 * it resumes it is dispatched anew, its certificate checked again.
 * Thread notes: libmicrohttpd's worker threads run the callbacks; per-connection state is
 * touched by one worker at a time, the guard and the TLS credentials lock themselves. */
#ifndef KOS_SERVER_H
#define KOS_SERVER_H

#include "dispatch.h"
#include "fetch.h"

typedef struct {
        const char *bind_address; /* IPv4 or IPv6 literal; "0.0.0.0" default in main */
        int port;                 /* 0 = pick a free port (tests) */
        const char *tls_cert_file;
        const char *tls_key_file;
        int threads; /* MHD thread pool size */
        /* Connection bounds; 0 = the KOS_SERVER_DEFAULT_* below. */
        int max_connections;             /* all connections (libmicrohttpd's limit) */
        int max_connections_per_address; /* untrusted ones from one address */
        int max_untrusted_connections;   /* untrusted ones in total */
        int handshake_timeout_ms;        /* connect -> complete first request head */
        int idle_timeout_s;              /* keep-alive inactivity */
        int request_client_certs; /* ask TLS clients for a certificate (a CA is or may be set) */
        const kos_dispatch_ctx_t *ctx; /* borrowed; must outlive the server */
        /* Borrowed; NULL without Kubernetes. A request whose dispatch names a missing fact is
         * suspended until the fetcher has it. */
        kos_fetch_t *fetch;
} kos_server_conf_t;

#define KOS_SERVER_DEFAULT_MAX_CONNECTIONS 1000
#define KOS_SERVER_DEFAULT_PER_ADDRESS     32
#define KOS_SERVER_DEFAULT_UNTRUSTED       500
#define KOS_SERVER_DEFAULT_HANDSHAKE_MS    10000
#define KOS_SERVER_DEFAULT_IDLE_S          90

typedef struct kos_server_s kos_server_t;

/* Starts listening. NULL + errstr (naming the file/flag) on error. */
kos_server_t *kos_server_start(const kos_server_conf_t *conf, char *errstr, size_t errstr_size);
int kos_server_port(const kos_server_t *s);
/* Stops accepting, closes the fetcher (waiting requests are answered 503), finishes in-flight
 * requests, frees. NULL is a no-op. */
void kos_server_stop(kos_server_t *s);

#endif
