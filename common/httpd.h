/* A small plain-HTTP server (libmicrohttpd, one internal thread) for the health, metrics and
 * control endpoints of kos-datagen and kos-processor: GET /healthz, /readyz and /metrics are
 * built in; other paths get handlers registered per path. Handlers run on the server thread,
 * so what they touch must be thread-safe (atomics) and they must not block for long.
 * Connections are admitted through common/connguard: a flood of idle sockets from one address
 * costs that address its oldest sockets, so probes and scrapes keep being answered. */
#ifndef KOS_HTTPD_H
#define KOS_HTTPD_H

#include "strbuf.h"

#include <stddef.h>
#include <sys/socket.h>

typedef struct kos_httpd_s kos_httpd_t;

typedef struct {
        int status;                   /* default 200 */
        const char *content_type;     /* static; default "text/plain; charset=utf-8" */
        kos_strbuf_t body;            /* owned by the server; append to it */
        const char *www_authenticate; /* static; sent as WWW-Authenticate when set */
} kos_http_reply_t;

/* What a handler sees of a request; all borrowed for the call. */
typedef struct {
        const char *method; /* "GET", "PUT", ... */
        const char *path;
        const char *body; /* NUL-terminated; "" without a request body */
        size_t body_len;
        const char *authorization; /* the Authorization header, NULL when absent */
        int from_loopback;         /* the peer is 127.0.0.0/8 or ::1 (IPv4-mapped too) */
} kos_http_request_t;

typedef void (*kos_httpd_handler_fn)(void *arg, const kos_http_request_t *req,
                                     kos_http_reply_t *reply);

typedef struct {
        const char *bind_address; /* IPv4 or IPv6 literal; NULL = "0.0.0.0" */
        int port;                 /* 0 = any free port (see kos_httpd_port) */
        /* /readyz answers 200 when ready(arg) returns non-zero, else 503; NULL = always. */
        int (*ready)(void *arg);
        /* /healthz answers 200 unless healthy(arg) returns 0; NULL = always healthy. */
        int (*healthy)(void *arg);
        /* /metrics appends Prometheus text; NULL = 404. */
        void (*metrics)(void *arg, kos_strbuf_t *out);
        void *arg;
        /* Connection bounds (0 = the default in brackets): connections from one address
         * [16], in total [64] (past either the oldest idle one is closed), seconds from
         * connect to a complete request head and of inactivity [10]. */
        int max_connections_per_address;
        int max_connections;
        int timeout_s;
} kos_httpd_conf_t;

#define KOS_HTTPD_DEFAULT_PER_ADDRESS 16
#define KOS_HTTPD_DEFAULT_CONNECTIONS 64
#define KOS_HTTPD_DEFAULT_TIMEOUT_S   10

#define KOS_HTTPD_MAX_BODY (64 * 1024) /* larger request bodies get 413 */

/* @returns a server that is not yet listening; free with kos_httpd_destroy. conf is copied;
 * the strings it points to are borrowed and must outlive the server. */
kos_httpd_t *kos_httpd_new(const kos_httpd_conf_t *conf);
/* Routes path to fn for the given methods (comma-separated, e.g. "GET,PUT"; HEAD follows GET).
 * Other methods get 405. Call before kos_httpd_start. path and methods are borrowed. -1 when
 * the table (16 entries) is full. */
int kos_httpd_handle(kos_httpd_t *h, const char *methods, const char *path, kos_httpd_handler_fn fn,
                     void *arg);
/* Starts listening. -1 with errstr (bad address, port in use). */
int kos_httpd_start(kos_httpd_t *h, char *errstr, size_t errstr_size);
/* The bound port (useful after port 0), or -1 before start. */
int kos_httpd_port(const kos_httpd_t *h);
/* 1 when sa is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
int kos_httpd_is_loopback(const struct sockaddr *sa);
/* Stops the server (waiting for a running handler) and frees it. NULL is a no-op. */
void kos_httpd_destroy(kos_httpd_t *h);

#endif
