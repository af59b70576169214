/* Request pipeline: route → authenticate → authorize → provider → render (see dispatch.h). */
#include "dispatch.h"
#include "xalloc.h"
#include "debugview.h"
#include "derived.h"
#include "rates.h"
#include "log.h"
#include "render.h"
#include "route.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int code_slots[KOS_CODE_SLOTS] = {200, 400, 401, 403, 404, 405,
                                               406, 414, 429, 500, 503, 0};

void kos_req_stats_record(kos_req_stats_t *st, int status, int64_t duration_us)
{
        if (!st)
                return;
        int slot = KOS_CODE_SLOTS - 1; /* "other" */
        for (int i = 0; i < KOS_CODE_SLOTS - 1; i++)
                if (code_slots[i] == status)
                        slot = i;
        atomic_fetch_add(&st->by_code[slot], 1);
        atomic_fetch_add(&st->duration_us_sum, (unsigned long long)duration_us);
}

static void set_body(kos_response_t *r, int status, const char *ctype, char *body, size_t len)
{
        r->status = status;
        r->content_type = ctype;
        r->body = body;
        r->body_len = len;
}

static void status_body(kos_response_t *r, int code, const char *reason, const char *msg)
{
        size_t len = 0;
        char *b = kos_render_status(code, reason, msg, &len);
        set_body(r, code, "application/json", b, len);
}

static void text(kos_response_t *r, int status, const char *s)
{
        set_body(r, status, "text/plain; charset=utf-8", kos_xstrdup(s), strlen(s));
}

static const char *last_error(const kos_dispatch_ctx_t *ctx, char *buf, size_t size)
{
        if (!ctx->lag)
                return NULL;
        kos_lag_stats_t st;
        kos_lag_get_stats(ctx->lag, &st);
        snprintf(buf, size, "%s", st.last_error);
        return buf[0] ? buf : NULL;
}

/* The wording kube-apiserver uses towards clients (issue 9.12): the details of a refusal or
 * a failure go to the log, rate-limited, never into the answer. */
static kos_log_limit_t log_401, log_500, log_readyz;

/* Ready = a snapshot exists and is within the staleness bound: a replica that cannot reach
 * Kafka is taken out of the Service instead of answering 503 to every HPA request. The body
 * is healthz.go handleRootHealth's for a failed check: the reason is withheld (the endpoint is
 * public) and logged. */
static void readyz(const kos_dispatch_ctx_t *ctx, int64_t now_ms, kos_response_t *r)
{
        static const char withheld[] = "[-]lag-snapshot failed: reason withheld\n"
                                       "readyz check failed";
        kos_snapshot_t *snap = kos_snapshot_current();
        if (!snap) {
                char e[256];
                const char *le = last_error(ctx, e, sizeof(e));
                kos_log_limited(&log_readyz, KOS_LOG_INFO, "readyz",
                                "[-]lag-snapshot failed: no lag snapshot yet%s%s", le ? ": " : "",
                                le ? le : "");
                text(r, 503, withheld);
        } else if (now_ms - snap->taken_ms > ctx->pc->max_staleness_ms) {
                kos_log_limited(&log_readyz, KOS_LOG_INFO, "readyz",
                                "[-]lag-snapshot failed: lag snapshot is %lld ms old",
                                (long long)(now_ms - snap->taken_ms));
                text(r, 503, withheld);
        } else {
                text(r, 200, "ok");
        }
        kos_snapshot_unref(snap);
}

static void discovery(const kos_dispatch_ctx_t *ctx, kos_api_t api, kos_response_t *r)
{
        kos_snapshot_t *snap = kos_snapshot_current();
        size_t n = 0, len = 0;
        char **names = kos_provider_discovery_names(ctx->pc, snap, api, &n);
        char *b = kos_render_resource_list(api, (const char *const *)names, n, &len);
        kos_provider_names_free(names, n);
        kos_snapshot_unref(snap);
        set_body(r, 200, "application/json", b, len);
}

/* Kubernetes inputs of a request: the namespace's pods for pods/... and the annotation of a
 * described workload, from kube.c's caches. 1 with *need when one is not there yet; -1 when a
 * failure is answered here (never as a made-up 0); 0 to go on. */
static int kube_inputs(const kos_dispatch_ctx_t *ctx, const kos_request_t *req,
                       kos_provider_extra_t *x, kos_pod_list_t **pods, char *group,
                       size_t group_size, char *topics, size_t topics_size, kos_response_t *r,
                       kos_fact_t **need)
{
        char err[512];
        *pods = NULL;
        if (!ctx->kube || req->kind == KOS_REQ_EXTERNAL)
                return 0;
        if (strcmp(req->resource, "pods") == 0 && !req->resource_group[0]) {
                int rc = kos_kube_pods_lookup(ctx->kube, req->namespace_, ctx->kube_cache_ttl_ms,
                                              pods, err, sizeof(err), need);
                if (rc == 1)
                        return 1;
                if (rc == -1) {
                        kos_log_limited(&log_500, KOS_LOG_WARN, "kube", "%s", err);
                        status_body(r, 500, "InternalError",
                                    "Internal error occurred: the pods could not be listed");
                        return -1;
                }
                x->pods = *pods;
                return 0;
        }
        int workload = strcmp(req->resource_group, "apps") == 0 &&
                       (strcmp(req->resource, "deployments") == 0 ||
                        strcmp(req->resource, "statefulsets") == 0);
        if (workload && req->kind == KOS_REQ_OBJECT &&
            !kos_selector_equals_value(req->metric_selector, "group")) {
                int rc =
                    kos_kube_workload_lookup(ctx->kube, req->resource, "apps", req->namespace_,
                                             req->name, ctx->kube_cache_ttl_ms, group, group_size,
                                             topics, topics_size, err, sizeof(err), need);
                if (rc == 2)
                        return 1;
                /* An unreadable object falls through to the mapping file's rules. */
                if (rc == 1) {
                        x->annotated_group = group;
                        x->annotated_topics = topics;
                }
        }
        return 0;
}

static int data(const kos_dispatch_ctx_t *ctx, const kos_request_t *req, int64_t now_ms,
                kos_response_t *r, kos_fact_t **need)
{
        kos_provider_extra_t x = {0};
        kos_pod_list_t *pods = NULL;
        char group[256], topics[1024];
        int rc =
            kube_inputs(ctx, req, &x, &pods, group, sizeof(group), topics, sizeof(topics), r, need);
        if (rc)
                return rc;
        kos_snapshot_t *snap = kos_snapshot_current();
        kos_answer_t ans;
        char e[256];
        kos_provider_answer(ctx->pc, snap, now_ms, last_error(ctx, e, sizeof(e)), req, &x, &ans);
        if (pods)
                kos_kube_pods_release(ctx->kube, pods);
        if (ans.status != 200) {
                status_body(r, ans.status, ans.reason, ans.message);
        } else {
                size_t len = 0;
                char *b =
                    req->kind == KOS_REQ_EXTERNAL
                        ? kos_render_external_list(&ans.values, &len)
                        : kos_render_metric_list(req->api, &ans.values, req->metric_selector, &len);
                set_body(r, 200, "application/json", b, len);
        }
        kos_answer_clear(&ans);
        kos_snapshot_unref(snap);
        return 0;
}

/* The read-only debug view: what the adapter knows of a group and why it judges it so.
 * Behind the same authentication and authorization as everything else (a non-resource get on
 * the path), and never past the staleness bound: an old snapshot is a 503 as for metrics. */
static void debug_view(const kos_dispatch_ctx_t *ctx, const kos_request_t *req, int64_t now_ms,
                       kos_response_t *r)
{
        kos_snapshot_t *snap = kos_snapshot_current();
        size_t len = 0;
        if (!snap || now_ms - snap->taken_ms > ctx->pc->max_staleness_ms) {
                status_body(r, 503, "ServiceUnavailable",
                            snap ? "the lag snapshot is older than the staleness bound"
                                 : "no lag snapshot yet: Kafka has not answered");
        } else if (req->kind == KOS_REQ_DEBUG_GROUPS) {
                char *b = kos_debug_groups_json(snap, &len);
                set_body(r, 200, "application/json", b, len);
        } else {
                const kos_group_lag_t *g = kos_snapshot_group(snap, req->name);
                if (!g) {
                        char msg[512];
                        snprintf(msg, sizeof(msg), "consumer group \"%.300s\" not found",
                                 req->name);
                        status_body(r, 404, "NotFound", msg);
                } else {
                        char *b = kos_debug_group_json(snap, g, &len);
                        set_body(r, 200, "application/json", b, len);
                }
        }
        kos_snapshot_unref(snap);
}

static const char openapi_v2[] =
    "{\"swagger\":\"2.0\",\"info\":{\"title\":\"kos-adapter\",\"version\":\"v1\"},\"paths\":{}}";
static const char openapi_v3[] = "{\"paths\":{}}";

kos_dispatch_result_t kos_dispatch(const kos_dispatch_ctx_t *ctx, const char *method,
                                   const char *path, const char *query, const kos_peer_t *peer,
                                   const kos_header_t *hdrs, size_t n_hdrs, int64_t now_ms,
                                   kos_response_t *r, kos_fact_t **need)
{
        memset(r, 0, sizeof(*r));
        *need = NULL;
        kos_dispatch_result_t result = KOS_DISPATCH_ANSWERED;
        kos_identity_t id = {0};
        kos_request_t req;
        kos_route_error_t err;
        if (kos_route_parse(method, path, query, &req, &err) == -1) {
                status_body(r, err.http_status, err.reason, err.message);
                return KOS_DISPATCH_ANSWERED;
        }
        /* Probes must work without credentials (kubelet has none). */
        switch (req.kind) {
        case KOS_REQ_HEALTHZ:
        case KOS_REQ_LIVEZ:
                text(r, 200, "ok");
                goto out;
        case KOS_REQ_READYZ:
                readyz(ctx, now_ms, r);
                goto out;
        default:
                break;
        }
        char msg[512];
        switch (kos_auth_identify(ctx->auth, peer, hdrs, n_hdrs, &id, msg, sizeof(msg), need)) {
        case 0:
                break;
        case 1:
                result = KOS_DISPATCH_MISSING;
                goto out;
        default:
                /* endpoints/filters/authentication.go Unauthorized: always just "Unauthorized" */
                kos_log_limited(&log_401, KOS_LOG_INFO, "auth", "401 %s: %s", path, msg);
                status_body(r, 401, "Unauthorized", "Unauthorized");
                goto out;
        }
        snprintf(r->user, sizeof(r->user), "%s", id.user);
        if (ctx->authz) {
                switch (kos_authz_check(ctx->authz, &id, &req, path, msg, sizeof(msg), need)) {
                case KOS_AUTHZ_ALLOW:
                        break;
                case KOS_AUTHZ_MISSING:
                        result = KOS_DISPATCH_MISSING;
                        goto out;
                case KOS_AUTHZ_DENY:
                        status_body(r, 403, "Forbidden", msg);
                        goto out;
                default:
                        kos_log_limited(&log_500, KOS_LOG_WARN, "authz", "500 %s for %s: %s", path,
                                        id.user, msg);
                        status_body(r, 500, "InternalError",
                                    "Internal error occurred: authorization failed unexpectedly");
                        goto out;
                }
        }
        size_t len = 0;
        char *b;
        switch (req.kind) {
        case KOS_REQ_METRICS: {
                kos_snapshot_t *snap = kos_snapshot_current();
                b = kos_metrics_text(ctx, snap, now_ms, &len);
                kos_snapshot_unref(snap);
                set_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", b, len);
                break;
        }
        case KOS_REQ_VERSION: {
                char v[256];
                snprintf(v, sizeof(v), "{\"gitVersion\":\"%s\",\"major\":\"0\",\"minor\":\"1\"}",
                         ctx->version ? ctx->version : "unknown");
                set_body(r, 200, "application/json", kos_xstrdup(v), strlen(v));
                break;
        }
        case KOS_REQ_OPENAPI_V2:
                set_body(r, 200, "application/json", kos_xstrdup(openapi_v2), strlen(openapi_v2));
                break;
        case KOS_REQ_OPENAPI_V3:
                set_body(r, 200, "application/json", kos_xstrdup(openapi_v3), strlen(openapi_v3));
                break;
        case KOS_REQ_APIS:
                b = kos_render_api_group_list(&len);
                set_body(r, 200, "application/json", b, len);
                break;
        case KOS_REQ_API_GROUP:
                b = kos_render_api_group(req.api == KOS_API_EXTERNAL_V1BETA1
                                             ? "external.metrics.k8s.io"
                                             : "custom.metrics.k8s.io",
                                         &len);
                set_body(r, 200, "application/json", b, len);
                break;
        case KOS_REQ_DISCOVERY:
                discovery(ctx, req.api, r);
                break;
        case KOS_REQ_DEBUG_GROUPS:
        case KOS_REQ_DEBUG_GROUP:
                debug_view(ctx, &req, now_ms, r);
                break;
        default:
                if (data(ctx, &req, now_ms, r, need) == 1)
                        result = KOS_DISPATCH_MISSING;
                break;
        }
out:
        kos_identity_clear(&id);
        kos_request_clear(&req);
        if (result == KOS_DISPATCH_MISSING) {
                memset(r, 0, sizeof(*r));
                return result;
        }
        if (!r->body) {
                /* Only an allocation failure gets here. */
                status_body(r, 500, "InternalError", "out of memory");
                if (!r->body)
                        set_body(r, 500, "text/plain", NULL, 0);
        }
        return KOS_DISPATCH_ANSWERED;
}

/* ---- /metrics --------------------------------------------------------------------------- */

typedef struct {
        char *buf;
        size_t len, cap;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
        for (;;) {
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0,
                                  fmt, ap);
                va_end(ap);
                if (n < 0)
                        return;
                if (b->buf && b->len + (size_t)n < b->cap) {
                        b->len += (size_t)n;
                        return;
                }
                size_t cap = (b->cap + (size_t)n + 1) * 2;
                b->buf = kos_xrealloc(b->buf, cap);
                b->cap = cap;
        }
}

/* Label values are group ids and topic names: escape backslash, quote and newline. */
static void sb_label(sbuf_t *b, const char *v)
{
        for (; *v; v++) {
                if (*v == '\\' || *v == '"')
                        sb_printf(b, "\\%c", *v);
                else if (*v == '\n')
                        sb_printf(b, "\\n");
                else
                        sb_printf(b, "%c", *v);
        }
}

static void sb_group_topic(sbuf_t *b, const char *name, const char *group, const char *topic)
{
        sb_printf(b, "%s{group=\"", name);
        sb_label(b, group);
        if (topic) {
                sb_printf(b, "\",topic=\"");
                sb_label(b, topic);
        }
        sb_printf(b, "\"} ");
}

/* Rates and time to drain per group and topic, stuck partitions and status per group. Unknown
 * values are absent; a group that does not gain has a time to drain of +Inf here (the API
 * serves --time-to-drain-max instead: a Quantity has no infinity). */
static void derived_text(sbuf_t *b, const kos_snapshot_t *snap)
{
        static const char *const help[] = {
            "# HELP kafka_consumergroup_produce_rate Messages/s appended to the group's "
            "partitions (end-offset growth over --rate-window).\n"
            "# TYPE kafka_consumergroup_produce_rate gauge\n",
            "# HELP kafka_consumergroup_consume_rate Messages/s committed by the group "
            "(committed-offset growth over --rate-window).\n"
            "# TYPE kafka_consumergroup_consume_rate gauge\n",
            "# HELP kafka_consumergroup_time_to_drain_seconds Lag / (consume rate - produce "
            "rate); +Inf when the group does not gain.\n"
            "# TYPE kafka_consumergroup_time_to_drain_seconds gauge\n"};
        static const char *const names[] = {KOS_METRIC_PRODUCE_RATE, KOS_METRIC_CONSUME_RATE,
                                            KOS_METRIC_TIME_TO_DRAIN};
        for (int k = 0; k < 3; k++) {
                sb_printf(b, "%s", help[k]);
                for (size_t i = 0; i < snap->n_groups; i++) {
                        const kos_group_lag_t *g = &snap->groups[i];
                        for (size_t j = 0; j < g->n_parts;) {
                                kos_derived_acc_t a;
                                kos_derived_init(&a);
                                size_t e = j;
                                for (; e < g->n_parts &&
                                       strcmp(g->parts[e].topic, g->parts[j].topic) == 0;
                                     e++)
                                        kos_derived_add(&a, &g->parts[e], 1);
                                const char *topic = g->parts[j].topic;
                                j = e;
                                if (a.n_rates == 0)
                                        continue;
                                double v = k == 0   ? a.produce
                                           : k == 1 ? a.consume
                                                    : kos_drain_seconds(a.lag, a.consume, a.produce,
                                                                        INFINITY);
                                if (v < 0)
                                        continue;
                                sb_group_topic(b, names[k], g->group_id, topic);
                                if (isinf(v))
                                        sb_printf(b, "+Inf\n");
                                else
                                        sb_printf(b, "%.3f\n", v);
                        }
                }
        }
        sb_printf(b, "# HELP kafka_consumergroup_stuck_partitions Partitions whose commit has "
                     "not moved for --stuck-refreshes refreshes while lagging and owned.\n"
                     "# TYPE kafka_consumergroup_stuck_partitions gauge\n");
        for (size_t i = 0; i < snap->n_groups; i++) {
                sb_group_topic(b, KOS_METRIC_STUCK, snap->groups[i].group_id, NULL);
                sb_printf(b, "%zu\n", snap->groups[i].n_stuck);
        }
        sb_printf(b, "# HELP kafka_consumergroup_status Burrow's group status: 1 OK, 2 WARN, "
                     "3 ERR.\n# TYPE kafka_consumergroup_status gauge\n");
        for (size_t i = 0; i < snap->n_groups; i++) {
                sb_group_topic(b, KOS_METRIC_STATUS, snap->groups[i].group_id, NULL);
                sb_printf(b, "%d\n", (int)snap->groups[i].status);
        }
}

char *kos_metrics_text(const kos_dispatch_ctx_t *ctx, const kos_snapshot_t *snap, int64_t now_ms,
                       size_t *len)
{
        sbuf_t b = {0};
        if (ctx->stats) {
                sb_printf(&b, "# HELP kos_adapter_requests_total Requests answered, by HTTP "
                              "status.\n# TYPE kos_adapter_requests_total counter\n");
                for (int i = 0; i < KOS_CODE_SLOTS; i++) {
                        unsigned long long v = atomic_load(&ctx->stats->by_code[i]);
                        if (code_slots[i])
                                sb_printf(&b, "kos_adapter_requests_total{code=\"%d\"} %llu\n",
                                          code_slots[i], v);
                        else
                                sb_printf(&b, "kos_adapter_requests_total{code=\"other\"} %llu\n",
                                          v);
                }
                sb_printf(&b,
                          "# TYPE kos_adapter_request_duration_seconds_sum counter\n"
                          "kos_adapter_request_duration_seconds_sum %.6f\n",
                          (double)atomic_load(&ctx->stats->duration_us_sum) / 1e6);
        }
        if (ctx->lag) {
                kos_lag_stats_t st;
                kos_lag_get_stats(ctx->lag, &st);
                sb_printf(&b,
                          "# HELP kos_adapter_refresh_duration_seconds Duration of the last "
                          "successful lag refresh.\n"
                          "# TYPE kos_adapter_refresh_duration_seconds gauge\n"
                          "kos_adapter_refresh_duration_seconds %.6f\n"
                          "# TYPE kos_adapter_refreshes_total counter\n"
                          "kos_adapter_refreshes_total{result=\"ok\"} %llu\n"
                          "kos_adapter_refreshes_total{result=\"failed\"} %llu\n"
                          "# TYPE kos_adapter_head_records_fetched_total counter\n"
                          "kos_adapter_head_records_fetched_total %llu\n",
                          (double)st.last_refresh_us / 1e6, (unsigned long long)st.refreshes_ok,
                          (unsigned long long)st.refreshes_failed,
                          (unsigned long long)st.head_fetched);
                /* Group metadata is written by group members: what a rogue one puts there is
                 * ignored (lag.c), and counted here. */
                sb_printf(&b, "# HELP kos_adapter_group_metadata_rejected_total Entries of "
                              "consumer-group metadata ignored: a partition its topic does not "
                              "have, an assigned topic that does not exist, a repeat.\n"
                              "# TYPE kos_adapter_group_metadata_rejected_total counter\n");
                for (int r = 0; r < KOS_GP_REASONS; r++)
                        sb_printf(&b,
                                  "kos_adapter_group_metadata_rejected_total{reason=\"%s\"} %llu\n",
                                  kos_gp_reason_name(r), (unsigned long long)st.rejected_total[r]);
                sb_printf(&b, "# HELP kos_adapter_group_metadata_rejected Entries ignored by the "
                              "last refresh.\n"
                              "# TYPE kos_adapter_group_metadata_rejected gauge\n");
                for (int r = 0; r < KOS_GP_REASONS; r++)
                        sb_printf(&b, "kos_adapter_group_metadata_rejected{reason=\"%s\"} %llu\n",
                                  kos_gp_reason_name(r), (unsigned long long)st.rejected_last[r]);
        }
        sb_printf(&b,
                  "# HELP kos_adapter_snapshot_age_seconds Age of the served lag snapshot "
                  "(-1: none yet).\n# TYPE kos_adapter_snapshot_age_seconds gauge\n"
                  "kos_adapter_snapshot_age_seconds %.3f\n",
                  snap ? (double)(now_ms - snap->taken_ms) / 1000.0 : -1.0);
        sb_printf(&b, "# HELP kafka_consumergroup_lag Messages behind, per group and topic.\n"
                      "# TYPE kafka_consumergroup_lag gauge\n");
        for (size_t i = 0; snap && i < snap->n_groups; i++) {
                const kos_group_lag_t *g = &snap->groups[i];
                for (size_t j = 0; j < g->n_parts; j++) {
                        /* parts are sorted by topic: one line per topic run */
                        if (j > 0 && strcmp(g->parts[j - 1].topic, g->parts[j].topic) == 0)
                                continue;
                        int64_t lag = kos_group_lag_sum(g, g->parts[j].topic, NULL);
                        if (lag < 0)
                                continue; /* unknown is absent, never 0 */
                        sb_printf(&b, "kafka_consumergroup_lag{group=\"");
                        sb_label(&b, g->group_id);
                        sb_printf(&b, "\",topic=\"");
                        sb_label(&b, g->parts[j].topic);
                        sb_printf(&b, "\"} %lld\n", (long long)lag);
                }
        }
        sb_printf(&b, "# HELP kafka_consumergroup_lag_seconds Age of the oldest unconsumed "
                      "record, per group.\n# TYPE kafka_consumergroup_lag_seconds gauge\n");
        for (size_t i = 0; snap && i < snap->n_groups; i++) {
                int64_t age = kos_group_lag_age_ms(&snap->groups[i], NULL, now_ms);
                if (age < 0)
                        continue;
                sb_printf(&b, "kafka_consumergroup_lag_seconds{group=\"");
                sb_label(&b, snap->groups[i].group_id);
                sb_printf(&b, "\"} %.3f\n", (double)age / 1000.0);
        }
        if (snap && snap->has_history)
                derived_text(&b, snap);
        if (len)
                *len = b.len;
        return b.buf;
}
