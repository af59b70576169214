/* Path and query routing for the metrics APIs, following the request layouts of
 * custom-metrics-apiserver (cmhandlers.go, emhandlers.go) and the path parsing of k8s.io/apiserver
 * RequestInfo, so the same URLs succeed and fail with the same codes. */
#include "route.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest route: apis/<g>/<v>/namespaces/<ns>/<resource>/<name>/<metric>. Deeper paths are
 * counted but not stored: they only ever get 404. */
#define MAX_SEGS 16

#define GROUP_CUSTOM   "custom.metrics.k8s.io"
#define GROUP_EXTERNAL "external.metrics.k8s.io"

#define MSG_NOT_FOUND "the server could not find the requested resource"
#define MSG_BAD_PATH  "invalid request path"

static void route_err(kos_route_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void route_err(kos_route_error_t *err, int status, const char *fmt, ...)
{
        const char *reason = "BadRequest";
        va_list ap;

        switch (status) {
        case 404:
                reason = "NotFound";
                break;
        case 405:
                reason = "MethodNotAllowed";
                break;
        case 414:
                reason = "RequestURITooLong";
                break;
        }
        err->http_status = status;
        snprintf(err->reason, sizeof(err->reason), "%s", reason);
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
}

static int hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int is_ctl(int c)
{
        return c < 0x20 || c == 0x7f;
}

/* Percent-decodes src[0..len) into dst (which may be src: decoding only shrinks), with `+`
 * meaning a space when plus_is_space (query strings). %00 is refused because the result is
 * a C string. @returns the decoded length, or -1 on a bad escape. */
static long pct_decode(const char *src, size_t len, char *dst, int plus_is_space)
{
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                int c = (unsigned char)src[i];

                if (c == '%') {
                        int hi, lo;

                        if (i + 2 >= len)
                                return -1;
                        hi = hexval((unsigned char)src[i + 1]);
                        lo = hi < 0 ? -1 : hexval((unsigned char)src[i + 2]);
                        if (lo < 0 || (hi == 0 && lo == 0))
                                return -1;
                        c = hi * 16 + lo;
                        i += 2;
                } else if (c == '+' && plus_is_space) {
                        c = ' ';
                }
                dst[o++] = (char)c;
        }
        dst[o] = '\0';
        return (long)o;
}

/* Names of namespaces and objects: DNS-1123-ish, a bit wider (uppercase, '_' and ':' appear
 * in real object names), but never '/', '%', spaces, quotes or control bytes. */
static int valid_name(const char *s)
{
        size_t len = strlen(s);

        if (len == 0 || len > 253 || !strcmp(s, ".") || !strcmp(s, ".."))
                return 0;
        for (; *s; s++) {
                int c = (unsigned char)*s;

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == ':'))
                        return 0;
        }
        return 1;
}

/* Metric names follow IsValidPathSegmentName: anything but '/', '%', "." and "..". Control
 * bytes were already refused by the segment decoder; "*" is refused because it would read as
 * a wildcard further down. */
static int valid_metric(const char *s)
{
        size_t len = strlen(s);

        return len > 0 && len <= 253 && strcmp(s, ".") && strcmp(s, "..") && strcmp(s, "*");
}

/* "<plural>" or "<plural>.<group>": the group is everything after the first dot. */
static int set_resource(kos_request_t *req, const char *seg)
{
        const char *dot = strchr(seg, '.');
        size_t plen = dot ? (size_t)(dot - seg) : strlen(seg);

        if (plen == 0 || (dot && dot[1] == '\0') || !valid_name(seg))
                return -1;
        memcpy(req->resource, seg, plen);
        req->resource[plen] = '\0';
        snprintf(req->resource_group, sizeof(req->resource_group), "%s", dot ? dot + 1 : "");
        return 0;
}

/* Fills a custom-metrics object request; ns is NULL for root-scoped objects. */
static int set_object(kos_request_t *req, const char *ns, const char *resource, const char *name,
                      const char *metric, kos_route_error_t *err)
{
        if (ns && !valid_name(ns)) {
                route_err(err, 400, "invalid namespace \"%.64s\"", ns);
                return -1;
        }
        if (set_resource(req, resource) < 0) {
                route_err(err, 400, "invalid resource \"%.64s\"", resource);
                return -1;
        }
        if (strcmp(name, "*") && !valid_name(name)) {
                route_err(err, 400, "invalid object name \"%.64s\"", name);
                return -1;
        }
        if (!valid_metric(metric)) {
                route_err(err, 400, "invalid metric name \"%.64s\"", metric);
                return -1;
        }
        snprintf(req->namespace_, sizeof(req->namespace_), "%s", ns ? ns : "");
        snprintf(req->name, sizeof(req->name), "%s", name);
        snprintf(req->metric, sizeof(req->metric), "%s", metric);
        req->kind = strcmp(name, "*") ? KOS_REQ_OBJECT : KOS_REQ_WILDCARD;
        return 0;
}

/* Below /apis/custom.metrics.k8s.io/<v>/. Like RequestInfo, "namespaces/<ns>" is split off
 * first and fewer than three parts after it is a 400; the one exception is
 * namespaces/<ns>/metrics/<metric>, which describes the Namespace itself. */
static int route_custom(kos_request_t *req, char **rest, size_t n, kos_route_error_t *err)
{
        if (!strcmp(rest[0], "namespaces")) {
                if (n > 5) {
                        route_err(err, 404, MSG_NOT_FOUND);
                        return -1;
                }
                if (n == 5)
                        return set_object(req, rest[1], rest[2], rest[3], rest[4], err);
                if (n == 4 && !strcmp(rest[2], "metrics")) {
                        if (set_object(req, NULL, "namespaces", rest[1], rest[3], err) < 0)
                                return -1;
                        if (req->kind != KOS_REQ_OBJECT) {
                                route_err(err, 400, "invalid namespace \"%.64s\"", rest[1]);
                                return -1;
                        }
                        return 0;
                }
                route_err(err, 400, MSG_BAD_PATH);
                return -1;
        }
        if (n > 3) {
                route_err(err, 404, MSG_NOT_FOUND);
                return -1;
        }
        if (n < 3) {
                route_err(err, 400, MSG_BAD_PATH);
                return -1;
        }
        return set_object(req, NULL, rest[0], rest[1], rest[2], err);
}

/* Below /apis/external.metrics.k8s.io/v1beta1/: only namespaces/<ns>/<metric>. */
static int route_external(kos_request_t *req, char **rest, size_t n, kos_route_error_t *err)
{
        if (n != 3 || strcmp(rest[0], "namespaces")) {
                route_err(err, 404, MSG_NOT_FOUND);
                return -1;
        }
        if (!valid_name(rest[1])) {
                route_err(err, 400, "invalid namespace \"%.64s\"", rest[1]);
                return -1;
        }
        if (!valid_metric(rest[2])) {
                route_err(err, 400, "invalid metric name \"%.64s\"", rest[2]);
                return -1;
        }
        snprintf(req->namespace_, sizeof(req->namespace_), "%s", rest[1]);
        /* client-go lowercases the Resource part, which is the metric name here. */
        size_t i = 0;
        for (; rest[2][i]; i++) {
                char c = rest[2][i];
                req->metric[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        req->metric[i] = '\0';
        req->kind = KOS_REQ_EXTERNAL;
        return 0;
}

/* Parses one selector parameter into *slot. An empty or blank selector leaves *slot NULL. */
static int take_selector(kos_selector_t **slot, int *seen, const char *key, const char *value,
                         kos_route_error_t *err)
{
        char errbuf[sizeof(err->message)];
        kos_selector_t *sel;

        /* A repeated parameter is ambiguous (Go takes the first, other stacks the last). */
        if (*seen) {
                route_err(err, 400, "duplicate parameter \"%s\"", key);
                return -1;
        }
        *seen = 1;
        if (!(sel = kos_selector_parse(value, errbuf, sizeof(errbuf)))) {
                route_err(err, 400, "%s", errbuf);
                return -1;
        }
        if (sel->n_reqs == 0) {
                kos_selector_destroy(sel);
                sel = NULL;
        }
        *slot = sel;
        return 0;
}

/* Splits the query on '&' and keys from values on the first '='. Every parameter must decode,
 * even ignored ones, as url.ParseQuery would insist. */
static int parse_query(kos_request_t *req, const char *query, kos_route_error_t *err)
{
        size_t qlen = strlen(query);
        int seen_label = 0, seen_metric = 0, rc = 0;
        char *buf = kos_xmalloc(qlen + 2); /* decoded key, NUL, decoded value, NUL */
        for (const char *p = query; p <= query + qlen && rc == 0;) {
                const char *end = strchr(p, '&');
                size_t plen = end ? (size_t)(end - p) : strlen(p);
                const char *eq = memchr(p, '=', plen);
                size_t klen = eq ? (size_t)(eq - p) : plen;
                const char *vsrc = eq ? eq + 1 : p + plen;
                size_t vlen = eq ? plen - klen - 1 : 0;
                long kdec;

                if (plen > 0) {
                        /* Key first; the value is decoded after it into the same buffer. */
                        kdec = pct_decode(p, klen, buf, 1);
                        if (kdec < 0 || pct_decode(vsrc, vlen, buf + kdec + 1, 1) < 0) {
                                route_err(err, 400, "invalid percent-encoding in query string");
                                rc = -1;
                                break;
                        }
                        const char *key = buf, *val = buf + kdec + 1;
                        int is_external = req->kind == KOS_REQ_EXTERNAL;

                        if (!strcmp(key, "labelSelector"))
                                rc = take_selector(is_external ? &req->metric_selector
                                                               : &req->label_selector,
                                                   &seen_label, key, val, err);
                        else if (!strcmp(key, "metricLabelSelector") && !is_external)
                                rc = take_selector(&req->metric_selector, &seen_metric, key, val,
                                                   err);
                }
                if (!end)
                        break;
                p = end + 1;
        }
        free(buf);
        return rc;
}

static int route_path(kos_request_t *req, char **seg, size_t n, kos_route_error_t *err)
{
        static const struct {
                const char *path;
                kos_req_kind_t kind;
        } simple[] = {
            {"healthz", KOS_REQ_HEALTHZ}, {"livez", KOS_REQ_LIVEZ},     {"readyz", KOS_REQ_READYZ},
            {"metrics", KOS_REQ_METRICS}, {"version", KOS_REQ_VERSION}, {"apis", KOS_REQ_APIS},
        };
        int custom;

        if (n == 1) {
                for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
                        if (!strcmp(seg[0], simple[i].path)) {
                                req->kind = simple[i].kind;
                                return 0;
                        }
                }
        }
        if (!strcmp(seg[0], "openapi") && n >= 2) {
                if (n == 2 && !strcmp(seg[1], "v2")) {
                        req->kind = KOS_REQ_OPENAPI_V2;
                        return 0;
                }
                if (!strcmp(seg[1], "v3")) {
                        req->kind = KOS_REQ_OPENAPI_V3;
                        return 0;
                }
        }
        if (!strcmp(seg[0], "debug") && n >= 2 && !strcmp(seg[1], "groups")) {
                if (n == 2) {
                        req->kind = KOS_REQ_DEBUG_GROUPS;
                        return 0;
                }
                if (n > 3 || strlen(seg[2]) >= sizeof(req->name))
                        goto not_found;
                snprintf(req->name, sizeof(req->name), "%s", seg[2]);
                req->kind = KOS_REQ_DEBUG_GROUP;
                return 0;
        }
        if (strcmp(seg[0], "apis") || n < 2)
                goto not_found;

        if (!strcmp(seg[1], GROUP_CUSTOM))
                custom = 1;
        else if (!strcmp(seg[1], GROUP_EXTERNAL))
                custom = 0;
        else
                goto not_found;
        if (n == 2) {
                req->kind = KOS_REQ_API_GROUP;
                req->api = custom ? KOS_API_CUSTOM_V1BETA2 : KOS_API_EXTERNAL_V1BETA1;
                return 0;
        }
        if (custom && !strcmp(seg[2], "v1beta1"))
                req->api = KOS_API_CUSTOM_V1BETA1;
        else if (custom && !strcmp(seg[2], "v1beta2"))
                req->api = KOS_API_CUSTOM_V1BETA2;
        else if (!custom && !strcmp(seg[2], "v1beta1"))
                req->api = KOS_API_EXTERNAL_V1BETA1;
        else
                goto not_found;
        if (n == 3) {
                req->kind = KOS_REQ_DISCOVERY;
                return 0;
        }
        if (n > MAX_SEGS)
                goto not_found;
        return custom ? route_custom(req, seg + 3, n - 3, err)
                      : route_external(req, seg + 3, n - 3, err);

not_found:
        route_err(err, 404, MSG_NOT_FOUND);
        return -1;
}

int kos_route_parse(const char *method, const char *path, const char *query, kos_request_t *req,
                    kos_route_error_t *err)
{
        char buf[KOS_ROUTE_MAX_PATH + 1];
        char *seg[MAX_SEGS];
        size_t len, n = 0;
        int empty = 0;
        kos_route_error_t local_err;

        if (!err)
                err = &local_err;
        memset(err, 0, sizeof(*err));
        if (!req) {
                route_err(err, 400, MSG_BAD_PATH);
                return -1;
        }
        memset(req, 0, sizeof(*req));

        if (!method || (strcmp(method, "GET") && strcmp(method, "HEAD"))) {
                route_err(err, 405,
                          "the server does not allow this method on the requested "
                          "resource");
                return -1;
        }
        if (!path || path[0] != '/') {
                route_err(err, 400, MSG_BAD_PATH);
                return -1;
        }
        len = strnlen(path, KOS_ROUTE_MAX_PATH + 1);
        if (len > KOS_ROUTE_MAX_PATH ||
            (query && strnlen(query, KOS_ROUTE_MAX_QUERY + 1) > KOS_ROUTE_MAX_QUERY)) {
                route_err(err, 414, "the request URI is too long");
                return -1;
        }

        /* Split first, then decode each segment on its own, so an encoded '/' stays inside
         * its segment and is refused instead of changing the route. */
        len--; /* drop the leading '/' */
        memcpy(buf, path + 1, len);
        buf[len] = '\0';
        if (len > 0 && buf[len - 1] == '/')
                buf[--len] = '\0';
        if (len == 0) {
                route_err(err, 404, MSG_NOT_FOUND);
                return -1;
        }
        for (char *p = buf;;) {
                char *slash = strchr(p, '/');
                size_t slen = slash ? (size_t)(slash - p) : strlen(p);
                long dlen;

                for (size_t i = 0; i < slen; i++) {
                        if (is_ctl((unsigned char)p[i])) {
                                route_err(err, 400, "invalid character in request path");
                                return -1;
                        }
                }
                if (slash)
                        *slash = '\0';
                if ((dlen = pct_decode(p, slen, p, 0)) < 0) {
                        route_err(err, 400, "invalid percent-encoding in request path");
                        return -1;
                }
                for (long i = 0; i < dlen; i++) {
                        int c = (unsigned char)p[i];

                        if (c == '/' || c == '%' || is_ctl(c)) {
                                route_err(err, 400, "invalid character in request path segment");
                                return -1;
                        }
                }
                if (dlen == 0)
                        empty = 1;
                if (n < MAX_SEGS)
                        seg[n] = p;
                n++;
                if (!slash)
                        break;
                p = slash + 1;
        }
        /* An empty segment ("//") names nothing, like an unknown path. */
        if (empty) {
                route_err(err, 404, MSG_NOT_FOUND);
                return -1;
        }
        if (route_path(req, seg, n, err) < 0) {
                kos_request_clear(req);
                return -1;
        }
        if (query && (req->kind == KOS_REQ_OBJECT || req->kind == KOS_REQ_WILDCARD ||
                      req->kind == KOS_REQ_EXTERNAL)) {
                if (parse_query(req, query, err) < 0) {
                        kos_request_clear(req);
                        return -1;
                }
        }
        return 0;
}

void kos_request_clear(kos_request_t *req)
{
        if (!req)
                return;
        kos_selector_destroy(req->label_selector);
        kos_selector_destroy(req->metric_selector);
        req->label_selector = NULL;
        req->metric_selector = NULL;
}

const char *kos_api_group_version(kos_api_t api)
{
        switch (api) {
        case KOS_API_CUSTOM_V1BETA1:
                return GROUP_CUSTOM "/v1beta1";
        case KOS_API_CUSTOM_V1BETA2:
                return GROUP_CUSTOM "/v1beta2";
        case KOS_API_EXTERNAL_V1BETA1:
                return GROUP_EXTERNAL "/v1beta1";
        case KOS_API_NONE:
                break;
        }
        return "";
}
