/* Plain-HTTP endpoints over libmicrohttpd (see httpd.h). This is the only common file that
 * knows libmicrohttpd. */
#include "httpd.h"
#include "clock.h"
#include "connguard.h"
#include "log.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUTES 16

typedef struct {
        const char *methods;
        const char *path;
        kos_httpd_handler_fn fn;
        void *arg;
} route_t;

struct kos_httpd_s {
        kos_httpd_conf_t conf;
        route_t routes[MAX_ROUTES];
        int n_routes;
        struct MHD_Daemon *d;
        kos_connguard_t *guard;
        int port;
};

/* Per-connection state (MHD's socket context). */
typedef struct {
        kos_guard_entry_t g; /* g.handle = the descriptor */
        int loopback;
} conn_t;

/* Per-request state: the body as it arrives. */
typedef struct {
        kos_strbuf_t body;
        int too_big;
} req_t;

static const char *const text_plain = "text/plain; charset=utf-8";

kos_httpd_t *kos_httpd_new(const kos_httpd_conf_t *conf)
{
        kos_httpd_t *h = kos_xcalloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->conf = *conf;
        if (!h->conf.bind_address)
                h->conf.bind_address = "0.0.0.0";
        h->port = -1;
        return h;
}

int kos_httpd_handle(kos_httpd_t *h, const char *methods, const char *path, kos_httpd_handler_fn fn,
                     void *arg)
{
        if (h->n_routes >= MAX_ROUTES)
                return -1;
        h->routes[h->n_routes++] = (route_t){methods, path, fn, arg};
        return 0;
}

/* 1 if method is in the comma-separated list; HEAD counts as GET. */
static int method_allowed(const char *list, const char *method)
{
        if (strcmp(method, "HEAD") == 0)
                method = "GET";
        size_t n = strlen(method);
        for (const char *p = list; *p;) {
                const char *e = strchr(p, ',');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                if (len == n && strncmp(p, method, n) == 0)
                        return 1;
                if (!e)
                        break;
                p = e + 1;
        }
        return 0;
}

static int is_builtin(const kos_httpd_t *h, const char *path)
{
        return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
               (strcmp(path, "/metrics") == 0 && h->conf.metrics);
}

static void run_builtin(kos_httpd_t *h, const char *path, kos_http_reply_t *r)
{
        if (strcmp(path, "/healthz") == 0) {
                int ok = !h->conf.healthy || h->conf.healthy(h->conf.arg);
                r->status = ok ? 200 : 503;
                kos_strbuf_puts(&r->body, ok ? "ok\n" : "unhealthy\n");
        } else if (strcmp(path, "/readyz") == 0) {
                int ok = !h->conf.ready || h->conf.ready(h->conf.arg);
                r->status = ok ? 200 : 503;
                kos_strbuf_puts(&r->body, ok ? "ok\n" : "not ready\n");
        } else {
                r->content_type = "text/plain; version=0.0.4; charset=utf-8";
                h->conf.metrics(h->conf.arg, &r->body);
        }
}

static void dispatch(kos_httpd_t *h, struct MHD_Connection *c, const char *method, const char *path,
                     req_t *rq, kos_http_reply_t *r, const char **allow)
{
        if (rq->too_big) {
                r->status = 413;
                kos_strbuf_printf(&r->body, "request body larger than %d bytes\n",
                                  KOS_HTTPD_MAX_BODY);
                return;
        }
        const char *methods = NULL;
        route_t *rt = NULL;
        for (int i = 0; i < h->n_routes && !rt; i++)
                if (strcmp(h->routes[i].path, path) == 0)
                        rt = &h->routes[i];
        if (rt)
                methods = rt->methods;
        else if (is_builtin(h, path))
                methods = "GET";
        if (!methods) {
                r->status = 404;
                kos_strbuf_printf(&r->body, "no such path: %s\n", path);
                return;
        }
        if (!method_allowed(methods, method)) {
                *allow = methods;
                r->status = 405;
                kos_strbuf_printf(&r->body, "%s not allowed on %s\n", method, path);
                return;
        }
        if (rt) {
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                const conn_t *cs = ci ? ci->socket_context : NULL;
                kos_http_request_t req = {
                    .method = method,
                    .path = path,
                    .body = rq->body.data ? rq->body.data : "",
                    .body_len = rq->body.len,
                    .authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                 MHD_HTTP_HEADER_AUTHORIZATION),
                    .from_loopback = cs ? cs->loopback : 0,
                };
                rt->fn(rt->arg, &req, r);
        } else
                run_builtin(h, path, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        (void)version;
        kos_httpd_t *h = cls;
        req_t *rq = *con_cls;
        if (!rq) {
                if (!(rq = kos_xcalloc(1, sizeof(*rq))))
                        return MHD_NO;
                *con_cls = rq;
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                if (ci && ci->socket_context)
                        kos_connguard_request_begin(h->guard, ci->socket_context);
                return MHD_YES;
        }
        if (*upload_data_size) {
                if (rq->body.len + *upload_data_size > KOS_HTTPD_MAX_BODY)
                        rq->too_big = 1;
                else
                        kos_strbuf_append(&rq->body, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }

        kos_http_reply_t r = {.status = 200, .content_type = text_plain};
        const char *allow = NULL;
        dispatch(h, c, method, url, rq, &r, &allow);
        size_t len;
        char *body = kos_strbuf_steal(&r.body, &len);
        if (!body)
                return MHD_NO;
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-store");
        if (r.status == 405 && allow)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        if (r.www_authenticate)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r.www_authenticate);
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)r.status, resp);
        MHD_destroy_response(resp);
        if (r.status != 200 || strcmp(url, "/metrics") != 0)
                KOS_DBG("http", "%s %s -> %d", method, url, r.status);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        (void)toe;
        kos_httpd_t *h = cls;
        req_t *rq = *con_cls;
        if (rq) {
                kos_strbuf_free(&rq->body);
                free(rq);
                *con_cls = NULL;
        }
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci && ci->socket_context)
                kos_connguard_request_end(h->guard, ci->socket_context);
}

int kos_httpd_is_loopback(const struct sockaddr *sa)
{
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!sa)
                return 0;
        if (sa->sa_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
                if (IN6_IS_ADDR_LOOPBACK(a))
                        return 1;
                return memcmp(a->s6_addr, mapped, 12) == 0 && a->s6_addr[12] == 127;
        }
        return 0;
}

/* Runs in the server thread right after accept, before any byte is read. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
        kos_httpd_t *h = cls;
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
                conn_t *cs = kos_xcalloc(1, sizeof(*cs));
                const struct sockaddr *sa = addr->client_addr;
                cs->g.handle = fd->connect_fd;
                cs->loopback = kos_httpd_is_loopback(sa);
                socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in);
                if (kos_connguard_open(h->guard, &cs->g, sa, len, kos_mono_ms()) == -1) {
                        shutdown(fd->connect_fd, SHUT_RDWR);
                        free(cs);
                        return;
                }
                *socket_context = cs;
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
                kos_connguard_close(h->guard, *socket_context);
                free(*socket_context);
                *socket_context = NULL;
        }
}

/* libmicrohttpd hands us its own format strings. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        (void)cls;
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        /* Mostly clients that went away or were closed to make room: one line per
         * connection of a flood at warning level would be a flood of its own. Start-up
         * failures reach the caller through errstr. */
        KOS_DBG("http", "%s", msg);
}

int kos_httpd_start(kos_httpd_t *h, char *errstr, size_t errstr_size)
{
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
        if (h->conf.port < 0 || h->conf.port > 65535) {
                snprintf(errstr, errstr_size, "HTTP port %d out of range", h->conf.port);
                return -1;
        }
        if (inet_pton(AF_INET, h->conf.bind_address, &sin->sin_addr) == 1) {
                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t)h->conf.port);
        } else if (inet_pton(AF_INET6, h->conf.bind_address, &sin6->sin6_addr) == 1) {
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t)h->conf.port);
                flags |= MHD_USE_IPv6;
        } else {
                snprintf(errstr, errstr_size, "bind address \"%s\" is not an IP address",
                         h->conf.bind_address);
                return -1;
        }
        int per_addr = h->conf.max_connections_per_address > 0 ? h->conf.max_connections_per_address
                                                               : KOS_HTTPD_DEFAULT_PER_ADDRESS;
        int total =
            h->conf.max_connections > 0 ? h->conf.max_connections : KOS_HTTPD_DEFAULT_CONNECTIONS;
        int timeout_s = h->conf.timeout_s > 0 ? h->conf.timeout_s : KOS_HTTPD_DEFAULT_TIMEOUT_S;
        kos_connguard_conf_t gc = {.max_per_address = per_addr,
                                   .max_untrusted = total,
                                   .pending_timeout_ms = (int64_t)timeout_s * 1000,
                                   .evict = kos_connguard_shutdown_peer,
                                   .activity = kos_connguard_peer_activity};
        if (!(h->guard = kos_connguard_new(&gc))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        errno = 0;
        /* libmicrohttpd's own limit is only a backstop above the guard's: connections being
         * evicted still count until their thread closes them. */
        h->d = MHD_start_daemon(
            /* The logger goes first so that option errors are routed through it too. */
            flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)(2 * total + 16),
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)(32 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
        if (!h->d) {
                snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", h->conf.bind_address,
                         h->conf.port, errno ? strerror(errno) : "libmicrohttpd failed to start");
                return -1;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        h->port = di ? di->port : h->conf.port;
        return 0;
}

int kos_httpd_port(const kos_httpd_t *h)
{
        return h->port;
}

void kos_httpd_destroy(kos_httpd_t *h)
{
        if (!h)
                return;
        if (h->d)
                MHD_stop_daemon(h->d);
        kos_connguard_destroy(h->guard);
        free(h);
}
