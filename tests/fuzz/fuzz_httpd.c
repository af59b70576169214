/* libFuzzer target for common/httpd.c: the input is the byte stream a client sends on one
 * connection (request line, headers, body, pipelined requests), written to a real
 * kos_httpd_t on 127.0.0.1 (libmicrohttpd parses it, httpd.c routes it and collects the
 * body). The write side is then shut and the answer read to EOF. Asserted: the server stays
 * up and answers the next connection; every answer is HTTP/1.x with a status httpd.c or
 * libmicrohttpd can give; a handler sees a NUL-terminated body of at most KOS_HTTPD_MAX_BODY
 * bytes whose length matches.
 * libmicrohttpd is the system library, not instrumented: coverage counts kos's side only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"

#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kos_httpd_t *server;
static int port;

static void on_rate(void *arg, const kos_http_request_t *req, kos_http_reply_t *reply)
{
        (void)arg;
        const char *method = req->method, *path = req->path, *body = req->body;
        size_t body_len = req->body_len;
        FUZZ_ASSERT(body != NULL);
        FUZZ_ASSERT(body_len <= KOS_HTTPD_MAX_BODY);
        FUZZ_ASSERT(body[body_len] == '\0');
        FUZZ_ASSERT(strcmp(path, "/rate") == 0);
        FUZZ_ASSERT(strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                    strcmp(method, "PUT") == 0);
        reply->status = body_len > 0 && body[0] == 'x' ? 400 : 200;
        kos_strbuf_printf(&reply->body, "%s %zu\n", method, body_len);
}

static void on_metrics(void *arg, kos_strbuf_t *out)
{
        (void)arg;
        kos_strbuf_puts(out, "fuzz_requests_total 1\n");
}

static int not_ready(void *arg)
{
        (void)arg;
        return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        kos_log_set_level(KOS_LOG_ERR); /* libmicrohttpd's warnings on bad requests */
        kos_httpd_conf_t conf = {
            .bind_address = "127.0.0.1", .ready = not_ready, .metrics = on_metrics};
        char err[256];
        server = kos_httpd_new(&conf);
        if (!server || kos_httpd_handle(server, "GET,PUT", "/rate", on_rate, NULL) == -1 ||
            kos_httpd_start(server, err, sizeof(err)) == -1) {
                fprintf(stderr, "fuzz_httpd: cannot start the server: %s\n", server ? err : "");
                abort();
        }
        port = kos_httpd_port(server);
        return 0;
}

static int connect_server(void)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_ASSERT(fd >= 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        FUZZ_ASSERT(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
        return fd;
}

/* Reads the answer into buf (at most cap - 1 bytes kept): until EOF, or until the server has
 * been quiet for idle_ms. libmicrohttpd answers on loopback within a millisecond and closes at
 * once after a bad request, but keeps a half-closed connection until its 10 s connection
 * timeout when the request is incomplete or all its requests were answered (keep-alive): the
 * fuzzer cannot wait for that. idle_ms < 0: wait for EOF, at most 15 s (a hang). */
static size_t read_answer(int fd, char *buf, size_t cap, int idle_ms)
{
        size_t n = 0;
        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int r = poll(&p, 1, idle_ms < 0 ? 15000 : idle_ms);
                if (r < 0 && errno == EINTR) /* libFuzzer's SIGALRM for -timeout */
                        continue;
                if (r == 0 && idle_ms >= 0)
                        break;
                FUZZ_ASSERT(r == 1); /* else the server neither answered nor closed */
                char tmp[4096];
                ssize_t got = read(fd, tmp, sizeof(tmp));
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0) /* EOF, or a reset after unread input */
                        break;
                size_t keep = (size_t)got < cap - 1 - n ? (size_t)got : cap - 1 - n;
                memcpy(buf + n, tmp, keep);
                n += keep;
        }
        buf[n] = '\0';
        return n;
}

/* Closes with a reset, so the server drops the connection now instead of keeping it until its
 * timeout (64 lingering connections would fill its limit). */
static void close_reset(int fd)
{
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(fd);
}

static const char *find_ci(const char *hay, const char *end, const char *needle)
{
        size_t n = strlen(needle);
        for (const char *p = hay; p + n <= end; p++)
                if (strncasecmp(p, needle, n) == 0)
                        return p;
        return NULL;
}

/* Every response in the stream (pipelined requests get several, each with Content-Length;
 * after a HEAD the next one follows the headers directly). */
static void check_statuses(const char *ans, size_t len)
{
        const char *end = ans + len;
        for (const char *p = ans; p < end;) {
                FUZZ_ASSERT(end - p > 12 && strncmp(p, "HTTP/1.", 7) == 0);
                int code = atoi(p + 9);
                FUZZ_ASSERT(code == 100 || code == 200 || code == 400 || code == 404 ||
                            code == 405 || code == 413 || code == 414 || code == 417 ||
                            code == 431 || code == 500 || code == 501 || code == 503 ||
                            code == 505);
                const char *hdr_end = strstr(p, "\r\n\r\n");
                if (!hdr_end)
                        break;
                hdr_end += 4;
                const char *cl = find_ci(p, hdr_end, "\r\nContent-Length:");
                const char *next = cl ? hdr_end + strtoul(cl + 17, NULL, 10) : hdr_end;
                if (next >= end) /* the last response (bodies echo paths and methods) */
                        break;
                if (end - next > 7 && strncmp(next, "HTTP/1.", 7) == 0)
                        p = next;
                else if (end - hdr_end > 7 && strncmp(hdr_end, "HTTP/1.", 7) == 0)
                        p = hdr_end; /* after a HEAD: Content-Length without a body */
                else
                        break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = connect_server();
        size_t off = 0;
        while (off < size) {
                ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) /* the server closed early (it refused the request) */
                        break;
                off += (size_t)w;
        }
        shutdown(fd, SHUT_WR);
        static char ans[1 << 17];
        size_t len = read_answer(fd, ans, sizeof(ans), 10);
        close_reset(fd);
        if (len)
                check_statuses(ans, len);

        /* Whatever that was, the server still answers a plain request (every 16th input:
         * it halves the rate, and a dead server thread fails the next one anyway). */
        static unsigned runs;
        if (runs++ % 16)
                return 0;
        static const char probe[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        fd = connect_server();
        FUZZ_ASSERT(send(fd, probe, sizeof(probe) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(probe) - 1);
        len = read_answer(fd, ans, sizeof(ans), -1);
        close(fd);
        FUZZ_ASSERT(len > 12 && strncmp(ans, "HTTP/1.1 200", 12) == 0);
        return 0;
}
