/* The HTTPS front of kos-adapter: the only file that knows libmicrohttpd and GnuTLS sessions.
 * It terminates TLS (requesting, not requiring, a client certificate), verifies the peer once
 * per connection, hands method/path/query/headers to the dispatch pipeline and writes back its
 * answer. Connections are admitted through common/connguard: until a connection has presented
 * a verified front-proxy certificate it counts against per-address and total bounds (a flood
 * costs its own oldest idle sockets), and it must deliver a complete request head within the
 * handshake timeout; the aggregator's connections are exempt once verified.
 * A request that needs a review or list from kube-apiserver is suspended (libmicrohttpd
 * suspend/resume) while fetch.c gets it, so no worker thread ever waits on the network. */
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
        const kos_dispatch_ctx_t *ctx;   /* borrowed; must outlive the server */
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
