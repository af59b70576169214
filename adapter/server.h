/* The HTTPS front of kos-adapter: the only file that knows libmicrohttpd and GnuTLS sessions.
 * It terminates TLS (requesting, not requiring, a client certificate whenever a client CA may
 * be configured, with the CA list of the current settings), parses the peer's chain once per
 * connection and has it verified on every request, hands method/path/query/headers to the
 * dispatch pipeline and writes back its answer. */
#ifndef KOS_SERVER_H
#define KOS_SERVER_H

#include "dispatch.h"

typedef struct {
        const char *bind_address; /* IPv4 or IPv6 literal; "0.0.0.0" default in main */
        int port;                 /* 0 = pick a free port (tests) */
        const char *tls_cert_file;
        const char *tls_key_file;
        int threads; /* MHD thread pool size */
        int connection_limit;
        int connection_timeout_s;
        int request_client_certs; /* ask TLS clients for a certificate (a CA is or may be set) */
        const kos_dispatch_ctx_t *ctx; /* borrowed; must outlive the server */
} kos_server_conf_t;

typedef struct kos_server_s kos_server_t;

/* Starts listening. NULL + errstr (naming the file/flag) on error. */
kos_server_t *kos_server_start(const kos_server_conf_t *conf, char *errstr, size_t errstr_size);
int kos_server_port(const kos_server_t *s);
/* Stops accepting, finishes in-flight requests, frees. NULL is a no-op. */
void kos_server_stop(kos_server_t *s);

#endif
