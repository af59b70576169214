/* Unit tests for adapter/dispatch.c: the whole request pipeline (route → authenticate →
 * provider → render) without sockets, over a hand-built snapshot published with
 * kos_snapshot_publish, a mapping parsed from text and a kos_auth_t loaded from the test CAs
 * in tests/unit/data/certs. Every error answer is checked to be a metav1.Status whose code is
 * the HTTP status, sent as application/json. */
#include "dispatch.h"
#include "mapping.h"
#include "snapshot.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define CERTS KOS_TEST_DATA "/certs/"
#define CM1   "/apis/custom.metrics.k8s.io/v1beta1"
#define CM2   "/apis/custom.metrics.k8s.io/v1beta2"
#define EM1   "/apis/external.metrics.k8s.io/v1beta1"

#define NOW       1748779200000LL /* 2025-06-01T12:00:00Z */
#define TAKEN     (NOW - 1000)    /* the snapshot: 2025-06-01T11:59:59Z */
#define TAKEN_STR "2025-06-01T11:59:59Z"
#define STALENESS 30000

#define WEIRD_GROUP "we\"ird\\grp"

static const char mapping_text[] = "# test mapping\n"
                                   "default deployments.apps processor g1\n"
                                   "default deployments.apps narrow    g1  orders.retry\n"
                                   "default deployments.apps ghost     does-not-exist\n"
                                   "default statefulsets.apps unknown-lag g2\n"
                                   "default pods * g1\n"
                                   "*       namespaces * g1\n";

static kos_mapping_t *mapping;
static kos_provider_conf_t pc;
static kos_auth_t *auth;
static kos_req_stats_t stats;
static kos_dispatch_ctx_t ctx;
static kos_response_t resp;
static json_t *body; /* resp.body parsed, when it is JSON */

static const kos_peer_t anon = {.kind = KOS_PEER_NONE};
static const kos_peer_t admin = {.kind = KOS_PEER_CLIENT, .cn = "kos-admin"};

/* ---- the snapshot --------------------------------------------------------------------- */

static kos_part_lag_t part(const char *topic, int32_t p, int64_t lag, int64_t head_ts, int member)
{
        return (kos_part_lag_t){.topic = strdup(topic),
                                .partition = p,
                                .committed = lag >= 0 ? 1000 : KOS_OFFSET_UNKNOWN,
                                .end = lag >= 0 ? 1000 + lag : KOS_OFFSET_UNKNOWN,
                                .log_start = 0,
                                .lag = lag,
                                .head_ts_ms = head_ts,
                                .member = member};
}

static kos_member_t member(const char *id, const char *client_id)
{
        return (kos_member_t){
            .member_id = strdup(id), .client_id = strdup(client_id), .host = strdup("/10.0.0.1")};
}

static void group(kos_group_lag_t *g, const char *id, const kos_part_lag_t *parts, size_t np,
                  const kos_member_t *members, size_t nm)
{
        g->group_id = strdup(id);
        g->state = strdup("Stable");
        g->parts = calloc(np, sizeof(*parts));
        memcpy(g->parts, parts, np * sizeof(*parts));
        g->n_parts = np;
        g->members = calloc(nm ? nm : 1, sizeof(*members));
        if (nm)
                memcpy(g->members, members, nm * sizeof(*members));
        g->n_members = nm;
}

/* g1: pod-a holds ORDERS-IN/0 (10) and orders.retry/0 (5) = 15; pod-b holds ORDERS-IN/1 (20)
 *     and orders.retry/2 (0) = 20; orders.retry/1 (7) is unassigned. Group total 42
 *     (ORDERS-IN 30, orders.retry 12); the oldest unconsumed record is 5 s old.
 * g2: t-c/0 has an unknown lag (end offset unreadable), t-d/0 has 3.
 * g3: two members share client.id pod-x (1 + 2 = 3), pod-y holds 4, a member without a
 *     client.id holds 8 (no pod item for it); total 15.
 * we"ird\grp: t-q/0 has 4 (a group id that needs escaping). */
static kos_snapshot_t *build_snapshot(int64_t taken_ms)
{
        kos_snapshot_t *s = kos_snapshot_new();
        s->taken_ms = taken_ms;
        s->groups = calloc(4, sizeof(*s->groups));
        s->n_groups = 4;

        /* deliberately unsorted: kos_snapshot_finish sorts */
        kos_part_lag_t p1[] = {
            part("orders.retry", 2, 0, -1, 1),          part("ORDERS-IN", 1, 20, NOW - 2000, 1),
            part("orders.retry", 1, 7, NOW - 3000, -1), part("ORDERS-IN", 0, 10, NOW - 5000, 0),
            part("orders.retry", 0, 5, NOW - 1000, 0),
        };
        kos_member_t m1[] = {member("m-a", "pod-a"), member("m-b", "pod-b")};
        kos_part_lag_t p2[] = {part("t-d", 0, 3, NOW - 100, 0), part("t-c", 0, -1, -1, 0)};
        kos_member_t m2[] = {member("m-c", "pod-c")};
        kos_part_lag_t p3[] = {part("t-q", 0, 4, NOW - 100, -1)};
        kos_part_lag_t p4[] = {part("t", 0, 1, NOW - 100, 0), part("t", 1, 2, NOW - 100, 1),
                               part("t", 2, 4, NOW - 100, 2), part("t", 3, 8, NOW - 100, 3)};
        kos_member_t m4[] = {member("m-x1", "pod-x"), member("m-x2", "pod-x"),
                             member("m-y", "pod-y"), member("m-anon", "")};

        group(&s->groups[0], WEIRD_GROUP, p3, 1, NULL, 0);
        group(&s->groups[1], "g2", p2, 2, m2, 1);
        group(&s->groups[2], "g1", p1, 5, m1, 2);
        group(&s->groups[3], "g3", p4, 4, m4, 4);
        kos_snapshot_finish(s);
        return s;
}

/* ---- requests ------------------------------------------------------------------------- */

static void reset(void)
{
        free(resp.body);
        json_decref(body);
        body = NULL;
        memset(&resp, 0, sizeof(resp));
}

static int req_full(const char *method, const char *path, const char *query, const kos_peer_t *peer,
                    const kos_header_t *h, size_t nh, int64_t now)
{
        reset();
        kos_fact_t *need = NULL;
        /* No kube-apiserver here: every answer comes at once. */
        CHECK_INT(kos_dispatch(&ctx, method, path, query, peer, h, nh, now, &resp, &need),
                  KOS_DISPATCH_ANSWERED);
        CHECK(need == NULL);
        CHECK(resp.body != NULL);
        CHECK(resp.content_type != NULL);
        if (resp.body && resp.content_type &&
            strncmp(resp.content_type, "application/json", 16) == 0)
                body = json_loadb(resp.body, resp.body_len, 0, NULL);
        /* Every error is a Status: status Failure, code = HTTP status, application/json. */
        if (resp.status >= 400 &&
            (!resp.content_type || strncmp(resp.content_type, "text/plain", 10) != 0)) {
                CHECK_STR(resp.content_type, "application/json");
                CHECK(body != NULL);
                CHECK_STR(json_string_value(json_object_get(body, "kind")), "Status");
                CHECK_STR(json_string_value(json_object_get(body, "apiVersion")), "v1");
                CHECK_STR(json_string_value(json_object_get(body, "status")), "Failure");
                CHECK_INT(json_integer_value(json_object_get(body, "code")), resp.status);
                const char *reason = json_string_value(json_object_get(body, "reason"));
                CHECK(reason != NULL && reason[0] != '\0');
                const char *m = json_string_value(json_object_get(body, "message"));
                CHECK(m != NULL && m[0] != '\0');
        }
        if (resp.status == 200 && resp.content_type &&
            strncmp(resp.content_type, "application/json", 16) == 0) {
                CHECK(body != NULL);
                /* never a Status with 200 */
                CHECK(json_string_value(json_object_get(body, "status")) == NULL);
        }
        return resp.status;
}

static int get(const char *path, const char *query)
{
        return req_full("GET", path, query, &admin, NULL, 0, NOW);
}

static int get_as(const char *path, const kos_peer_t *peer)
{
        return req_full("GET", path, NULL, peer, NULL, 0, NOW);
}

static const char *message(void)
{
        const char *m = json_string_value(json_object_get(body, "message"));
        return m ? m : "";
}

static const char *reason(void)
{
        const char *r = json_string_value(json_object_get(body, "reason"));
        return r ? r : "";
}

static json_t *item(size_t i)
{
        return json_array_get(json_object_get(body, "items"), i);
}

static size_t n_items(void)
{
        json_t *items = json_object_get(body, "items");
        CHECK(json_is_array(items));
        return json_array_size(items);
}

static const char *str_at(json_t *o, const char *k1, const char *k2)
{
        json_t *v = json_object_get(o, k1);
        if (k2)
                v = json_object_get(v, k2);
        return json_string_value(v);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_no_snapshot(void)
{
        /* health needs no identity and no snapshot */
        CHECK_INT(get_as("/healthz", &anon), 200);
        CHECK_STR(resp.body, "ok");
        CHECK(strncmp(resp.content_type, "text/plain", 10) == 0);
        CHECK_INT(get_as("/livez", &anon), 200);
        CHECK_STR(resp.body, "ok");
        const kos_header_t junk[] = {{"X-Remote-User", "x"}};
        CHECK_INT(req_full("GET", "/healthz", "labelSelector=((", &anon, junk, 1, NOW), 200);

        /* not ready before the first snapshot */
        CHECK_INT(get_as("/readyz", &anon), 503);
        /* healthz.go handleRootHealth: the reason is withheld (and logged) */
        CHECK_STR(resp.body, "[-]lag-snapshot failed: reason withheld\nreadyz check failed");
        CHECK_INT(get_as("/readyz", &admin), 503);

        /* data without a snapshot: 503, never 0 */
        CHECK_INT(
            get(CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag", NULL),
            503);
        CHECK_STR(reason(), "ServiceUnavailable");
        CHECK_INT(
            get(EM1 "/namespaces/default/kafka_consumergroup_lag", "labelSelector=group%3Dg1"),
            503);
        /* discovery still answers (the aggregator must never see 503 there) */
        CHECK_INT(get(CM2, NULL), 200);
        CHECK_STR(str_at(body, "kind", NULL), "APIResourceList");
        CHECK_INT(get("/metrics", NULL), 200);
        CHECK(strstr(resp.body, "kos_adapter_snapshot_age_seconds -1") != NULL);
}

static void test_ready(void)
{
        CHECK_INT(req_full("GET", "/readyz", NULL, &anon, NULL, 0, NOW), 200);
        CHECK_STR(resp.body, "ok");
        CHECK_INT(req_full("GET", "/readyz", NULL, &anon, NULL, 0, TAKEN + STALENESS), 200);
        CHECK_INT(req_full("GET", "/readyz", NULL, &anon, NULL, 0, TAKEN + STALENESS + 1), 503);
        CHECK_STR(resp.body, "[-]lag-snapshot failed: reason withheld\nreadyz check failed");
        CHECK(strncmp(resp.content_type, "text/plain", 10) == 0);
}

static void test_unauthenticated(void)
{
        static const char *const paths[] = {
            CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
            CM1 "/namespaces/default/pods/%2A/kafka_consumer_lag",
            EM1 "/namespaces/default/kafka_consumergroup_lag",
            CM2,
            CM1,
            EM1,
            "/apis",
            "/apis/custom.metrics.k8s.io",
            "/metrics",
            "/version",
            "/openapi/v2",
        };
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                int st = get_as(paths[i], &anon);
                if (st != 401)
                        fprintf(stderr, "anonymous %s: %d\n", paths[i], st);
                CHECK_INT(st, 401);
                CHECK_STR(reason(), "Unauthorized");
                CHECK_STR(resp.user, "");
                /* no data leaks into the 401 */
                CHECK(strstr(resp.body, "g1") == NULL);
        }
        /* a refused certificate's reason goes to the log, never to the client: the body is
         * kube-apiserver's (endpoints/filters/authentication.go Unauthorized) */
        kos_peer_t refused = {
            .kind = KOS_PEER_NONE, .cn = "mallory", .uid = "", .credential_id = ""};
        snprintf(refused.reason, sizeof(refused.reason),
                 "front-proxy certificate CN \"mallory\" is not an allowed name");
        CHECK_INT(get_as(CM2, &refused), 401);
        CHECK_STR(message(), "Unauthorized");
        CHECK(strstr(resp.body, "mallory") == NULL);

        /* front proxy without a user header: 401 */
        const kos_peer_t fp = {.kind = KOS_PEER_FRONT_PROXY, .cn = "front-proxy-client"};
        const kos_header_t groups_only[] = {{"X-Remote-Group", "system:masters"}};
        CHECK_INT(req_full("GET", CM2, NULL, &fp, groups_only, 1, NOW), 401);
        /* X-Remote-User from an anonymous peer proves nothing */
        const kos_header_t user[] = {{"X-Remote-User", "system:admin"}};
        CHECK_INT(req_full("GET", CM2, NULL, &anon, user, 1, NOW), 401);
}

static void test_front_proxy_identity(void)
{
        /* a front-proxy peer from the real certificate */
        size_t len;
        FILE *f = fopen(CERTS "front-proxy-client.der", "rb");
        CHECK(f != NULL);
        if (!f)
                return;
        unsigned char der[8192];
        len = fread(der, 1, sizeof(der), f);
        fclose(f);
        const void *chain[1] = {der};
        kos_peer_cert_t *pcert = kos_peer_cert_new(chain, &len, 1);
        CHECK(pcert != NULL);
        if (!pcert)
                return;
        kos_peer_t fp = *kos_auth_check_peer(auth, pcert, (int64_t)time(NULL));
        CHECK_INT(fp.kind, KOS_PEER_FRONT_PROXY);

        const kos_header_t h[] = {
            {"X-Remote-User", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"},
            {"X-Remote-Group", "system:serviceaccounts"},
            {"Accept", "application/vnd.kubernetes.protobuf, */*"},
        };
        CHECK_INT(req_full("GET",
                           CM2 "/namespaces/default/deployments.apps/processor/"
                               "kafka_consumergroup_lag",
                           NULL, &fp, h, 3, NOW),
                  200);
        CHECK_STR(resp.user, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
        CHECK_STR(resp.content_type, "application/json");

        CHECK_INT(get(CM2, NULL), 200);
        CHECK_STR(resp.user, "kos-admin");
        kos_peer_cert_free(pcert);
}

static void test_object_metric(void)
{
        const char *path = "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag";
        char p[512];

        snprintf(p, sizeof(p), CM2 "%s", path);
        CHECK_INT(get(p, NULL), 200);
        CHECK_STR(resp.content_type, "application/json");
        CHECK_STR(str_at(body, "kind", NULL), "MetricValueList");
        CHECK_STR(str_at(body, "apiVersion", NULL), "custom.metrics.k8s.io/v1beta2");
        CHECK_INT(n_items(), 1);
        json_t *it = item(0);
        CHECK_STR(str_at(it, "describedObject", "kind"), "Deployment");
        CHECK_STR(str_at(it, "describedObject", "apiVersion"), "apps/v1");
        CHECK_STR(str_at(it, "describedObject", "namespace"), "default");
        CHECK_STR(str_at(it, "describedObject", "name"), "processor");
        CHECK_STR(str_at(it, "metric", "name"), "kafka_consumergroup_lag");
        CHECK(json_is_null(json_object_get(json_object_get(it, "metric"), "selector")));
        CHECK_STR(str_at(it, "timestamp", NULL), TAKEN_STR);
        CHECK_STR(str_at(it, "value", NULL), "42");
        CHECK(json_object_get(it, "metricName") == NULL);

        snprintf(p, sizeof(p), CM1 "%s", path);
        CHECK_INT(get(p, NULL), 200);
        CHECK_STR(str_at(body, "apiVersion", NULL), "custom.metrics.k8s.io/v1beta1");
        CHECK_INT(n_items(), 1);
        it = item(0);
        CHECK_STR(str_at(it, "metricName", NULL), "kafka_consumergroup_lag");
        CHECK(json_object_get(it, "metric") == NULL);
        CHECK(json_is_null(json_object_get(it, "selector")));
        CHECK_STR(str_at(it, "value", NULL), "42");
        CHECK_STR(str_at(it, "describedObject", "name"), "processor");

        /* the age of the oldest unconsumed record: 5 s, as a quantity */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/"
                          "kafka_consumergroup_lag_seconds",
                      NULL),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "5");

        /* the rule's topic list narrows the group to orders.retry: 5 + 7 + 0 */
        CHECK_INT(
            get(CM2 "/namespaces/default/deployments.apps/narrow/kafka_consumergroup_lag", NULL),
            200);
        CHECK_STR(str_at(item(0), "value", NULL), "12");

        /* metricLabelSelector topic= narrows, and is echoed as the metric selector */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
                      "metricLabelSelector=topic%3Dorders.retry"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "12");
        json_t *sel = json_object_get(json_object_get(item(0), "metric"), "selector");
        CHECK_STR(str_at(sel, "matchLabels", "topic"), "orders.retry");
        CHECK_INT(get(CM1 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
                      "metricLabelSelector=topic%3DORDERS-IN"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "30");
        CHECK_STR(str_at(json_object_get(item(0), "selector"), "matchLabels", "topic"),
                  "ORDERS-IN");

        /* metricLabelSelector group= overrides the mapping: an unmapped object works */
        CHECK_INT(get(CM2 "/namespaces/other/deployments.apps/unmapped/kafka_consumergroup_lag",
                      "metricLabelSelector=group%3Dg1"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "42");
        CHECK_STR(str_at(item(0), "describedObject", "namespace"), "other");
        CHECK_STR(str_at(item(0), "describedObject", "name"), "unmapped");
        /* ... and beats the rule of a mapped object (processor -> g1, here g2's t-d) */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
                      "metricLabelSelector=group%3Dg2%2Ctopic%3Dt-d"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        /* group + topic together */
        CHECK_INT(get(CM2 "/namespaces/x/statefulsets.apps/s/kafka_consumergroup_lag",
                      "metricLabelSelector=group%3Dg1%2Ctopic%3DORDERS-IN&pretty=true"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "30");
        CHECK_STR(str_at(item(0), "describedObject", "kind"), "StatefulSet");
        /* a topic the group does not consume selects no partition at all: that is not a lag
         * of 0 (a misspelt topic would scale the workload to its minimum) but a metric the
         * server cannot find, as custom-metrics-apiserver words it "... with selector <sel>"; the
         * external path already leaves such a group out instead of answering 0 */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
                      "metricLabelSelector=topic%3Dno-such-topic"),
                  404);
        CHECK(strstr(resp.body, "\"value\"") == NULL);
        /* the same through the rule's topic list: narrow admits only orders.retry */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/narrow/kafka_consumergroup_lag",
                      "metricLabelSelector=topic%3DORDERS-IN"),
                  404);
        CHECK(strstr(resp.body, "\"value\"") == NULL);
        /* an override naming a group Kafka does not have: 404, not 0 */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
                      "metricLabelSelector=group%3Dnope"),
                  404);
        CHECK(strstr(message(), "nope") != NULL);
}

static void test_namespace_path(void)
{
        CHECK_INT(get(CM2 "/namespaces/default/metrics/kafka_consumergroup_lag", NULL), 200);
        CHECK_INT(n_items(), 1);
        json_t *it = item(0);
        CHECK_STR(str_at(it, "describedObject", "kind"), "Namespace");
        CHECK_STR(str_at(it, "describedObject", "name"), "default");
        CHECK_STR(str_at(it, "describedObject", "apiVersion"), "v1");
        /* a Namespace is cluster-scoped: no namespace field */
        CHECK(json_object_get(json_object_get(it, "describedObject"), "namespace") == NULL);
        CHECK_STR(str_at(it, "value", NULL), "42");
        CHECK_INT(get(CM1 "/namespaces/kube-system/metrics/kafka_consumergroup_lag_seconds", NULL),
                  200);
        CHECK_STR(str_at(item(0), "describedObject", "name"), "kube-system");
        CHECK_STR(str_at(item(0), "value", NULL), "5");
}

static void test_pods(void)
{
        char *star = NULL;

        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/kafka_consumer_lag", NULL), 200);
        CHECK_INT(n_items(), 2);
        CHECK_STR(str_at(item(0), "describedObject", "name"), "pod-a");
        CHECK_STR(str_at(item(0), "describedObject", "kind"), "Pod");
        CHECK_STR(str_at(item(0), "describedObject", "apiVersion"), "v1");
        CHECK_STR(str_at(item(0), "describedObject", "namespace"), "default");
        CHECK_STR(str_at(item(0), "value", NULL), "15");
        CHECK_STR(str_at(item(1), "describedObject", "name"), "pod-b");
        CHECK_STR(str_at(item(1), "value", NULL), "20");
        CHECK_STR(str_at(item(1), "metric", "name"), "kafka_consumer_lag");
        CHECK_STR(str_at(item(1), "timestamp", NULL), TAKEN_STR);
        star = resp.body ? strdup(resp.body) : NULL;

        /* `*` and `%2A` are the same request */
        CHECK_INT(get(CM2 "/namespaces/default/pods/*/kafka_consumer_lag", NULL), 200);
        CHECK_STR(resp.body, star);
        free(star);

        /* per-topic metrics per pod (suffix lowercased, [^a-z0-9] -> '_') */
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/consumer_lag_orders_in", NULL), 200);
        CHECK_INT(n_items(), 2);
        CHECK_STR(str_at(item(0), "value", NULL), "10");
        CHECK_STR(str_at(item(1), "value", NULL), "20");
        CHECK_STR(str_at(item(0), "metric", "name"), "consumer_lag_orders_in");
        CHECK_INT(get(CM1 "/namespaces/default/pods/%2A/consumer_lag_orders_retry", NULL), 200);
        CHECK_INT(n_items(), 2);
        CHECK_STR(str_at(item(0), "value", NULL), "5");
        CHECK_STR(str_at(item(1), "value", NULL), "0"); /* a caught-up pod is 0 */
        CHECK_STR(str_at(item(0), "metricName", NULL), "consumer_lag_orders_retry");

        /* one pod */
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-a/kafka_consumer_lag", NULL), 200);
        CHECK_INT(n_items(), 1);
        CHECK_STR(str_at(item(0), "value", NULL), "15");
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-b/consumer_lag_orders_in", NULL), 200);
        CHECK_STR(str_at(item(0), "value", NULL), "20");
        /* topic narrowing of a pod through metricLabelSelector */
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-a/kafka_consumer_lag",
                      "metricLabelSelector=topic%3Dorders.retry"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "5");
        /* a pod that is not a member: 404 naming the client.id, not 0 */
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-zzz/kafka_consumer_lag", NULL), 404);
        CHECK(strstr(message(), "pod-zzz") != NULL);
        /* a topic the group does not consume */
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/consumer_lag_nosuchtopic", NULL), 404);
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-a/consumer_lag_nosuchtopic", NULL), 404);
        /* members sharing a client.id are one pod; a member without one is no pod */
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/kafka_consumer_lag",
                      "metricLabelSelector=group%3Dg3"),
                  200);
        CHECK_INT(n_items(), 2);
        CHECK_STR(str_at(item(0), "describedObject", "name"), "pod-x");
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        CHECK_STR(str_at(item(1), "describedObject", "name"), "pod-y");
        CHECK_STR(str_at(item(1), "value", NULL), "4");
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-x/kafka_consumer_lag",
                      "metricLabelSelector=group%3Dg3"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-x/consumer_lag_t",
                      "metricLabelSelector=group%3Dg3"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        /* a pod holding a partition with an unknown lag: 503, never its partial sum */
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-c/kafka_consumer_lag",
                      "metricLabelSelector=group%3Dg2"),
                  503);
        CHECK(strstr(resp.body, "\"value\"") == NULL);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/kafka_consumer_lag",
                      "metricLabelSelector=group%3Dg2"),
                  503);
        /* ... but its known topic alone is fine */
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-c/kafka_consumer_lag",
                      "metricLabelSelector=group%3Dg2%2Ctopic%3Dt-d"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        CHECK_INT(get(CM2 "/namespaces/default/pods/pod-c/consumer_lag_t_d",
                      "metricLabelSelector=group%3Dg2"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        /* pods in a namespace without a rule */
        CHECK_INT(get(CM2 "/namespaces/elsewhere/pods/%2A/kafka_consumer_lag", NULL), 404);
}

static void test_wildcard_objects(void)
{
        /* every named rule of deployments.apps in default; ghost's group does not exist */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/%2A/kafka_consumergroup_lag", NULL),
                  200);
        CHECK_INT(n_items(), 2);
        CHECK_STR(str_at(item(0), "describedObject", "name"), "processor");
        CHECK_STR(str_at(item(0), "value", NULL), "42");
        CHECK_STR(str_at(item(1), "describedObject", "name"), "narrow");
        CHECK_STR(str_at(item(1), "value", NULL), "12");
        /* the wildcard over statefulsets hits g2: 503 for the whole answer */
        CHECK_INT(get(CM2 "/namespaces/default/statefulsets.apps/*/kafka_consumergroup_lag", NULL),
                  503);
}

static void test_external(void)
{
        const char *p = EM1 "/namespaces/default/kafka_consumergroup_lag";

        CHECK_INT(get(p, "labelSelector=group%3Dg1"), 200);
        CHECK_STR(str_at(body, "kind", NULL), "ExternalMetricValueList");
        CHECK_STR(str_at(body, "apiVersion", NULL), "external.metrics.k8s.io/v1beta1");
        CHECK_INT(n_items(), 1);
        CHECK_STR(str_at(item(0), "metricName", NULL), "kafka_consumergroup_lag");
        CHECK_STR(str_at(item(0), "metricLabels", "group"), "g1");
        CHECK(json_object_get(json_object_get(item(0), "metricLabels"), "topic") == NULL);
        CHECK_STR(str_at(item(0), "value", NULL), "42");
        CHECK_STR(str_at(item(0), "timestamp", NULL), TAKEN_STR);

        /* group + topic: the topic is a label of the series */
        CHECK_INT(get(p, "labelSelector=group%3Dg1%2Ctopic%3DORDERS-IN"), 200);
        CHECK_INT(n_items(), 1);
        CHECK_STR(str_at(item(0), "metricLabels", "topic"), "ORDERS-IN");
        CHECK_STR(str_at(item(0), "value", NULL), "30");

        /* g2's lag is unknown: any answer including it is 503, never a partial sum */
        CHECK_INT(get(p, "labelSelector=group+in+%28g1%2Cg2%29"), 503);
        CHECK(strstr(message(), "g2") != NULL);
        CHECK(strstr(resp.body, "\"value\"") == NULL);
        /* no selector: every group, g2 included, so 503 as well */
        CHECK_INT(get(p, NULL), 503);
        CHECK_INT(get(p, ""), 503);
        /* g2 alone */
        CHECK_INT(get(p, "labelSelector=group%3Dg2"), 503);
        /* g2's known topic alone is fine */
        CHECK_INT(get(p, "labelSelector=group%3Dg2%2Ctopic%3Dt-d"), 200);
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        /* every group but g2: one item per group, sorted by id */
        CHECK_INT(get(p, "labelSelector=group+notin+%28g2%29"), 200);
        CHECK_INT(n_items(), 3);
        CHECK_STR(str_at(item(0), "metricLabels", "group"), "g1");
        CHECK_STR(str_at(item(0), "value", NULL), "42");
        CHECK_STR(str_at(item(1), "metricLabels", "group"), "g3");
        CHECK_STR(str_at(item(1), "value", NULL), "15");
        CHECK_STR(str_at(item(2), "metricLabels", "group"), WEIRD_GROUP);
        CHECK_STR(str_at(item(2), "value", NULL), "4");
        /* group=g1 yields exactly one item: the HPA sums External items */
        CHECK_INT(get(p, "labelSelector=group%3D%3Dg1"), 200);
        CHECK_INT(n_items(), 1);
        /* a group Kafka does not have: no items (the HPA reports "no metrics returned") */
        CHECK_INT(get(p, "labelSelector=group%3Dnope"), 200);
        CHECK_INT(n_items(), 0);

        /* lag seconds; external metric names arrive lowercased but upper case works too */
        CHECK_INT(get(EM1 "/namespaces/default/KAFKA_CONSUMERGROUP_LAG_SECONDS",
                      "labelSelector=group%3Dg1"),
                  200);
        CHECK_STR(str_at(item(0), "metricName", NULL), "kafka_consumergroup_lag_seconds");
        CHECK_STR(str_at(item(0), "value", NULL), "5");

        /* the namespace does not matter for external metrics */
        CHECK_INT(
            get(EM1 "/namespaces/kube-system/kafka_consumergroup_lag", "labelSelector=group%3Dg1"),
            200);
        CHECK_STR(str_at(item(0), "value", NULL), "42");
}

static void test_errors(void)
{
        /* unknown metrics */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/http_requests", NULL),
                  404);
        CHECK_STR(reason(), "NotFound");
        CHECK(strstr(message(), "http_requests") != NULL);
        CHECK_INT(get(EM1 "/namespaces/default/queue_messages_ready", "labelSelector=group%3Dg1"),
                  404);
        CHECK(strstr(message(), "queue_messages_ready") != NULL);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/kafka_consumergroup_lag", NULL), 404);

        /* an object no rule maps: 404 that says what to configure */
        CHECK_INT(
            get(CM2 "/namespaces/default/deployments.apps/other/kafka_consumergroup_lag", NULL),
            404);
        CHECK(strstr(message(), "other") != NULL);
        CHECK(strstr(message(), "mapping") != NULL);
        CHECK(strstr(message(), "metricLabelSelector") != NULL);
        /* mapped to a group Kafka does not have */
        CHECK_INT(
            get(CM2 "/namespaces/default/deployments.apps/ghost/kafka_consumergroup_lag", NULL),
            404);
        CHECK(strstr(message(), "does-not-exist") != NULL);

        /* g2 has a partition with an unknown lag: 503, never "0" */
        CHECK_INT(get(CM2 "/namespaces/default/statefulsets.apps/unknown-lag/"
                          "kafka_consumergroup_lag",
                      NULL),
                  503);
        CHECK_STR(reason(), "ServiceUnavailable");
        CHECK(strstr(message(), "g2") != NULL);
        CHECK(strstr(resp.body, "\"value\"") == NULL);
        CHECK_INT(get(CM1 "/namespaces/default/statefulsets.apps/unknown-lag/"
                          "kafka_consumergroup_lag_seconds",
                      NULL),
                  503);

        /* a stale snapshot: 503 naming the staleness, on every data path */
        static const char *const data[] = {
            CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
            CM1 "/namespaces/default/pods/%2A/kafka_consumer_lag",
            CM2 "/namespaces/default/metrics/kafka_consumergroup_lag",
            EM1 "/namespaces/default/kafka_consumergroup_lag",
        };
        for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
                CHECK_INT(req_full("GET", data[i], "labelSelector=group%3Dg1", &admin, NULL, 0,
                                   TAKEN + STALENESS + 1),
                          503);
                CHECK(strstr(message(), "stale") != NULL);
                CHECK(strstr(resp.body, "\"value\"") == NULL);
        }
        /* exactly at the bound it is still served */
        CHECK_INT(req_full("GET", data[0], NULL, &admin, NULL, 0, TAKEN + STALENESS), 200);

        /* bad selectors: 400 with the parser's message */
        CHECK_INT(
            get(CM2 "/namespaces/default/pods/%2A/kafka_consumer_lag", "labelSelector=%28%28"),
            400);
        CHECK_STR(reason(), "BadRequest");
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
                      "metricLabelSelector=group+in+%28g1"),
                  400);
        CHECK_INT(get(EM1 "/namespaces/default/kafka_consumergroup_lag", "labelSelector=%3D%3D"),
                  400);
        CHECK_INT(get(EM1 "/namespaces/default/kafka_consumergroup_lag",
                      "labelSelector=group%3Dg1&labelSelector=group%3Dg2"),
                  400);

        /* methods */
        static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH"};
        for (size_t i = 0; i < 4; i++) {
                CHECK_INT(req_full(methods[i], CM2, NULL, &admin, NULL, 0, NOW), 405);
                CHECK_STR(reason(), "MethodNotAllowed");
        }
        CHECK_INT(req_full("POST", "/healthz", NULL, &anon, NULL, 0, NOW), 405);
        CHECK_INT(req_full("HEAD", CM2, NULL, &admin, NULL, 0, NOW), 200);

        /* routing errors are Status objects too */
        CHECK_INT(get("/apis/custom.metrics.k8s.io/v1", NULL), 404);
        CHECK_INT(get("/nope", NULL), 404);
        CHECK_INT(get(CM2 "/namespaces/x/foo", NULL), 400);
        CHECK_INT(get(CM2 "/namespaces/default/pods/a%2Fb/kafka_consumer_lag", NULL), 400);
        /* a message quoting client bytes still renders as a Status */
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/%22quoted%22", NULL),
                  404);
        CHECK(strstr(message(), "\"quoted\"") != NULL);
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/bad%FFutf8", NULL), 404);
}

static void test_discovery_and_misc(void)
{
        CHECK_INT(get(CM2, NULL), 200);
        CHECK_STR(str_at(body, "kind", NULL), "APIResourceList");
        CHECK_STR(str_at(body, "groupVersion", NULL), "custom.metrics.k8s.io/v1beta2");
        int seen_pods = 0, seen_topic = 0, seen_ns = 0;
        json_t *res = json_object_get(body, "resources");
        for (size_t i = 0; i < json_array_size(res); i++) {
                const char *n = str_at(json_array_get(res, i), "name", NULL);
                int namespaced =
                    json_is_true(json_object_get(json_array_get(res, i), "namespaced"));
                if (n && strcmp(n, "pods/kafka_consumer_lag") == 0)
                        seen_pods = namespaced;
                if (n && strcmp(n, "pods/consumer_lag_orders_in") == 0)
                        seen_topic = 1;
                if (n && strcmp(n, "namespaces/kafka_consumergroup_lag") == 0)
                        seen_ns = !namespaced;
        }
        CHECK(seen_pods);
        CHECK(seen_topic);
        CHECK(seen_ns);
        CHECK_INT(get(CM1, NULL), 200);
        CHECK_STR(str_at(body, "groupVersion", NULL), "custom.metrics.k8s.io/v1beta1");
        CHECK_INT(get(EM1, NULL), 200);
        CHECK_STR(str_at(body, "groupVersion", NULL), "external.metrics.k8s.io/v1beta1");
        CHECK(strstr(resp.body, "\"kafka_consumergroup_lag\"") != NULL);
        CHECK(strstr(resp.body, "ExternalMetricValueList") != NULL);

        CHECK_INT(get("/apis", NULL), 200);
        CHECK_STR(str_at(body, "kind", NULL), "APIGroupList");
        CHECK_INT(get("/apis/external.metrics.k8s.io", NULL), 200);
        CHECK_STR(str_at(body, "kind", NULL), "APIGroup");
        CHECK_STR(str_at(body, "name", NULL), "external.metrics.k8s.io");
        CHECK_INT(get("/apis/custom.metrics.k8s.io", NULL), 200);
        CHECK_STR(str_at(body, "preferredVersion", "version"), "v1beta2");
        CHECK_INT(get("/version", NULL), 200);
        CHECK_STR(str_at(body, "gitVersion", NULL), "v0.0.0-test");
        CHECK_INT(get("/openapi/v2", NULL), 200);
        CHECK_INT(get("/openapi/v3/apis/custom.metrics.k8s.io/v1beta2", NULL), 200);
}

static void test_metrics_text(void)
{
        kos_req_stats_record(&stats, 200, 1500);
        kos_req_stats_record(&stats, 200, 500);
        kos_req_stats_record(&stats, 503, 1000);
        kos_req_stats_record(&stats, 418, 1000);
        CHECK_INT(get("/metrics", NULL), 200);
        CHECK(strncmp(resp.content_type, "text/plain", 10) == 0);
        const char *t = resp.body ? resp.body : "";
        CHECK(strstr(t, "kafka_consumergroup_lag{group=\"g1\",topic=\"ORDERS-IN\"} 30\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_lag{group=\"g1\",topic=\"orders.retry\"} 12\n") !=
              NULL);
        CHECK(strstr(t, "kafka_consumergroup_lag{group=\"g2\",topic=\"t-d\"} 3\n") != NULL);
        /* unknown is absent, never 0 */
        CHECK(strstr(t, "topic=\"t-c\"") == NULL);
        /* a quote and a backslash in a label value are escaped */
        CHECK(strstr(t, "kafka_consumergroup_lag{group=\"we\\\"ird\\\\grp\",topic=\"t-q\"} 4\n") !=
              NULL);
        CHECK(strstr(t, "kafka_consumergroup_lag_seconds{group=\"g1\"} 5.000\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_lag_seconds{group=\"g2\"}") == NULL);
        CHECK(strstr(t, "kafka_consumergroup_lag{group=\"g3\",topic=\"t\"} 15\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_lag_seconds{group=\"g3\"} 0.100\n") != NULL);
        CHECK(strstr(t, "kos_adapter_snapshot_age_seconds 1.000\n") != NULL);
        CHECK(strstr(t, "kos_adapter_requests_total{code=\"200\"} 2\n") != NULL);
        CHECK(strstr(t, "kos_adapter_requests_total{code=\"503\"} 1\n") != NULL);
        CHECK(strstr(t, "kos_adapter_requests_total{code=\"other\"} 1\n") != NULL);
        CHECK(strstr(t, "kos_adapter_request_duration_seconds_sum 0.004000\n") != NULL);
        CHECK_INT(resp.body_len, strlen(t));

        /* straight from kos_metrics_text without a snapshot */
        size_t len = 0;
        char *s = kos_metrics_text(&ctx, NULL, NOW, &len);
        CHECK(s != NULL);
        CHECK(s && strstr(s, "kos_adapter_snapshot_age_seconds -1.000") != NULL);
        CHECK(s && strstr(s, "kafka_consumergroup_lag{") == NULL);
        free(s);
}

/* The history-derived metrics and the debug view: served only with a history, listed in
 * discovery, on /metrics (+Inf for a group that does not gain), and the debug view behind
 * authentication like everything else. */
static kos_part_lag_t *part_rw(kos_snapshot_t *s, const char *group, const char *topic,
                               int32_t partition)
{
        for (size_t i = 0; i < s->n_groups; i++)
                for (size_t j = 0;
                     strcmp(s->groups[i].group_id, group) == 0 && j < s->groups[i].n_parts; j++)
                        if (strcmp(s->groups[i].parts[j].topic, topic) == 0 &&
                            s->groups[i].parts[j].partition == partition)
                                return &s->groups[i].parts[j];
        return NULL;
}

static void test_derived_and_debug_view(void)
{
        /* without a history: 503 for the derived metrics, no derived families on /metrics */
        CHECK_INT(get(EM1 "/namespaces/default/kafka_consumergroup_time_to_drain_seconds",
                      "labelSelector=group%3Dg1"),
                  503);
        CHECK_INT(get("/metrics", NULL), 200);
        CHECK(strstr(resp.body, "kafka_consumergroup_status{") == NULL);

        kos_snapshot_t *s = build_snapshot(TAKEN);
        s->has_history = 1;
        s->drain_cap_s = 3600;
        s->rate_window_ms = 30000;
        for (size_t i = 0; i < s->n_groups; i++) {
                kos_group_lag_t *g = &s->groups[i];
                g->status = KOS_STATUS_OK;
                for (size_t j = 0; j < g->n_parts; j++) {
                        g->parts[j].produce_rate = 1;
                        g->parts[j].consume_rate = 3;
                        g->parts[j].status = KOS_STATUS_OK;
                }
        }
        kos_group_lag_t *g1 = NULL;
        for (size_t i = 0; i < s->n_groups; i++)
                if (strcmp(s->groups[i].group_id, "g1") == 0)
                        g1 = &s->groups[i];
        kos_part_lag_t *wedged = part_rw(s, "g1", "ORDERS-IN", 0);
        wedged->stuck = 1;
        wedged->status = KOS_STATUS_STALL;
        g1->status = KOS_STATUS_ERR;
        g1->n_stuck = 1;
        /* g2's t-d does not gain */
        kos_part_lag_t *slow = part_rw(s, "g2", "t-d", 0);
        slow->consume_rate = 1;
        kos_snapshot_publish(s);

        /* g1, ORDERS-IN: lag 30, 2 partitions, gain 2 x (3 - 1) = 4/s -> 7.5 s */
        CHECK_INT(get(EM1 "/namespaces/default/kafka_consumergroup_time_to_drain_seconds",
                      "labelSelector=group%3Dg1%2Ctopic%3DORDERS-IN"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "7500m");
        /* excluding the stuck partition: lag 20, gain 2/s -> 10 s */
        CHECK_INT(get(EM1 "/namespaces/default/kafka_consumergroup_time_to_drain_seconds",
                      "labelSelector=group%3Dg1%2Ctopic%3DORDERS-IN%2CexcludePersistentLag%3Dtrue"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "10");
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/"
                          "kafka_consumergroup_status",
                      NULL),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "3");
        CHECK_INT(get(CM2 "/namespaces/default/deployments.apps/processor/"
                          "kafka_consumergroup_stuck_partitions",
                      NULL),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "1");
        CHECK_INT(get(EM1 "/namespaces/default/kafka_consumergroup_produce_rate",
                      "labelSelector=group%3Dg1"),
                  200);
        CHECK_STR(str_at(item(0), "value", NULL), "5");
        CHECK_INT(get(EM1 "/namespaces/default/kafka_consumergroup_time_to_drain_seconds",
                      "labelSelector=group%3Dg1%2CexcludePersistentLag%3Dmaybe"),
                  400);

        /* discovery lists them for objects and external */
        CHECK_INT(get(EM1, NULL), 200);
        CHECK(strstr(resp.body, "\"kafka_consumergroup_time_to_drain_seconds\"") != NULL);
        CHECK_INT(get(CM2, NULL), 200);
        CHECK(strstr(resp.body, "deployments.apps/kafka_consumergroup_time_to_drain_seconds") !=
              NULL);
        CHECK(strstr(resp.body, "namespaces/kafka_consumergroup_status") != NULL);

        CHECK_INT(get("/metrics", NULL), 200);
        const char *t = resp.body;
        CHECK(strstr(t, "kafka_consumergroup_time_to_drain_seconds{group=\"g1\",topic=\"ORDERS-"
                        "IN\"} 7.500\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_time_to_drain_seconds{group=\"g2\",topic=\"t-d\"} "
                        "+Inf\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_produce_rate{group=\"g1\",topic=\"orders.retry\"} "
                        "3.000\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_stuck_partitions{group=\"g1\"} 1\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_status{group=\"g1\"} 3\n") != NULL);
        CHECK(strstr(t, "kafka_consumergroup_status{group=\"we\\\"ird\\\\grp\"} 1\n") != NULL);

        /* the debug view: authenticated, a Status for what it does not know */
        CHECK_INT(get_as("/debug/groups/g1", &anon), 401);
        CHECK_INT(get("/debug/groups/g1", NULL), 200);
        CHECK_STR(str_at(body, "groupStatus", NULL), "ERR");
        CHECK_INT(json_array_size(json_object_get(body, "partitions")), 5);
        CHECK_INT(get("/debug/groups/we%22ird%5Cgrp", NULL), 200);
        CHECK_STR(str_at(body, "group", NULL), WEIRD_GROUP);
        CHECK_INT(get("/debug/groups", NULL), 200);
        CHECK_INT(json_array_size(json_object_get(body, "groups")), 4);
        CHECK_INT(get("/debug/groups/nope", NULL), 404);
        CHECK_INT(get("/debug/groups/g1/more", NULL), 404);
        CHECK_INT(get("/debug/groups/a%2Fb", NULL), 400);
        CHECK_INT(get("/debug", NULL), 404);
        CHECK_INT(req_full("GET", "/debug/groups/g1", NULL, &admin, NULL, 0, TAKEN + STALENESS + 1),
                  503);
}

/* ---- facts from kube-apiserver --------------------------------------------------------- */

/* Dispatches once more and returns the fact it names (NULL when it answered). */
static kos_fact_t *missing(const kos_dispatch_ctx_t *c, const char *path, const kos_peer_t *peer,
                           const kos_header_t *h, size_t nh)
{
        reset();
        kos_fact_t *need = NULL;
        kos_dispatch_result_t r =
            kos_dispatch(c, "GET", path, NULL, peer, h, nh, NOW, &resp, &need);
        CHECK((r == KOS_DISPATCH_MISSING) == (need != NULL));
        if (r == KOS_DISPATCH_MISSING)
                CHECK(resp.body == NULL);
        else if (resp.body && resp.content_type && strstr(resp.content_type, "json"))
                body = json_loadb(resp.body, resp.body_len, 0, NULL);
        return need;
}

static void store(kos_fact_t *f, int status, const char *answer)
{
        json_t *doc = answer ? json_loads(answer, 0, NULL) : NULL;
        f->store(f->owner, f, status, doc, status < 0 ? "connection refused" : "");
        json_decref(doc);
        kos_fact_free(f);
}

/* A review's fact is keyed by "<kind>\n" + 64 hex digits of the HMAC cache key: bounded, and
 * nothing of the token or the identity in it. */
static int hmac_key(const kos_fact_t *f, const char *kind)
{
        size_t k = strlen(kind);
        if (!f || strncmp(f->key, kind, k) != 0 || f->key[k] != '\n' || strlen(f->key) != k + 65)
                return 0;
        return strspn(f->key + k + 1, "0123456789abcdef") == 64;
}

/* The SubjectAccessReview spec a fact would send. */
static json_t *sar_spec(const kos_fact_t *f)
{
        return f ? json_object_get(f->body, "spec") : NULL;
}

/* Without sockets: a request names the fact it lacks, the fact's store keeps the answer, the
 * same request then goes one step further; failures are kept too; the health paths never
 * need anything. The kube target is never dialled. */
static void test_missing_facts(void)
{
        kos_kube_target_t t = {.server = strdup("https://127.0.0.1:1")};
        kos_kube_t *kube = kos_kube_new(&t);
        kos_authz_t *authz = kos_authz_new(kube, 60000);
        kos_auth_set_token_reviewer(auth, kos_authz_token_review, authz);
        kos_dispatch_ctx_t c = ctx;
        c.kube = kube;
        c.authz = authz;
        c.kube_cache_ttl_ms = 60000;
        const kos_header_t tok[] = {{"Authorization", "Bearer tok-1"}};
        const char *pods = CM2 "/namespaces/default/pods/*/kafka_consumer_lag";

        CHECK(missing(&c, "/healthz", &anon, tok, 1) == NULL);
        CHECK_INT(resp.status, 200);
        CHECK(missing(&c, "/readyz", &anon, tok, 1) == NULL);

        /* 1. who is it: a TokenReview, keyed by digest (the token is only in the body) */
        kos_fact_t *f = missing(&c, pods, &anon, tok, 1);
        CHECK(hmac_key(f, "token"));
        CHECK(f && !strstr(f->key, "tok-1"));
        CHECK(f && strcmp(f->path, "/apis/authentication.k8s.io/v1/tokenreviews") == 0);
        CHECK(f &&
              strcmp(json_string_value(json_object_get(json_object_get(f->body, "spec"), "token")),
                     "tok-1") == 0);
        /* a second request for the same token names the same key (fetch.c coalesces) */
        kos_fact_t *dup = missing(&c, CM2, &anon, tok, 1);
        CHECK(dup && f && strcmp(dup->key, f->key) == 0);
        kos_fact_free(dup);
        if (f)
                store(f, 201,
                      "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"alice\","
                      "\"uid\":\"u-1\",\"groups\":[\"devs\"],\"extra\":{\"scopes\":[\"a\","
                      "\"b\"]}}}}");
        /* 2. may she: a SubjectAccessReview for get pods/kafka_consumer_lag, with the whole
         * identity the TokenReview gave (uid, groups, extra), keyed by digest */
        f = missing(&c, pods, &anon, tok, 1);
        CHECK(hmac_key(f, "sar"));
        CHECK(f && !strstr(f->key, "alice"));
        json_t *spec = sar_spec(f);
        CHECK_STR(json_string_value(json_object_get(spec, "user")), "alice");
        CHECK_STR(json_string_value(json_object_get(spec, "uid")), "u-1");
        CHECK_INT(json_array_size(json_object_get(spec, "groups")), 2); /* + authenticated */
        CHECK_INT(json_array_size(json_object_get(json_object_get(spec, "extra"), "scopes")), 2);
        if (f)
                store(f, 201, "{\"status\":{\"allowed\":true}}");
        /* 3. which pods: the namespace's list, which fails (kept for a second); the client
         * gets the generic wording, never the apiserver's */
        f = missing(&c, pods, &anon, tok, 1);
        CHECK(f && strcmp(f->key, "pods\ndefault") == 0);
        if (f)
                store(f, 403, "{\"message\":\"pods is forbidden\"}");
        CHECK(missing(&c, pods, &anon, tok, 1) == NULL);
        CHECK_INT(resp.status, 500);
        CHECK(body && !strstr(json_string_value(json_object_get(body, "message")), "forbidden"));
        CHECK(body && strstr(json_string_value(json_object_get(body, "message")),
                             "Internal error occurred"));
        /* a denied token is an answer too: 401, in kube-apiserver's one word */
        const kos_header_t tok2[] = {{"Authorization", "Bearer tok-2"}};
        f = missing(&c, EM1 "/namespaces/default/m", &anon, tok2, 1);
        if (f)
                store(f, 201, "{\"status\":{\"authenticated\":false,\"error\":\"bad\"}}");
        CHECK(missing(&c, EM1 "/namespaces/default/m", &anon, tok2, 1) == NULL);
        CHECK_INT(resp.status, 401);
        CHECK_STR(json_string_value(json_object_get(body, "message")), "Unauthorized");
        /* an apiserver that cannot be reached: the waiters get a 401, not a loop */
        const kos_header_t tok3[] = {{"Authorization", "Bearer tok-3"}};
        f = missing(&c, CM2, &anon, tok3, 1);
        if (f)
                store(f, -1, NULL);
        CHECK(missing(&c, CM2, &anon, tok3, 1) == NULL);
        CHECK_INT(resp.status, 401);
        /* long tokens have a key of the same size, so they still arrive */
        char longtok[5000] = "Bearer ";
        memset(longtok + 7, 'x', sizeof(longtok) - 8);
        const kos_header_t tok4[] = {{"Authorization", longtok}};
        f = missing(&c, CM2, &anon, tok4, 1);
        CHECK(hmac_key(f, "token"));
        if (f)
                store(f, 201, "{\"status\":{\"authenticated\":false}}");
        CHECK(missing(&c, CM2, &anon, tok4, 1) == NULL);
        CHECK_INT(resp.status, 401);

        /* The front proxy's extras are part of the review and of its key: the same user with
         * other extras is another review; a denial is kube-apiserver's 403 with the reason. */
        const kos_peer_t fp = {.kind = KOS_PEER_FRONT_PROXY, .cn = "front-proxy-client"};
        const kos_header_t ex1[] = {{"X-Remote-User", "bob"}, {"X-Remote-Extra-Scopes", "s1"}};
        const kos_header_t ex2[] = {{"X-Remote-User", "bob"}, {"X-Remote-Extra-Scopes", "s2"}};
        kos_fact_t *f1 = missing(&c, CM2, &fp, ex1, 2);
        kos_fact_t *f2 = missing(&c, CM2, &fp, ex2, 2);
        CHECK(hmac_key(f1, "sar") && hmac_key(f2, "sar"));
        CHECK(f1 && f2 && strcmp(f1->key, f2->key) != 0);
        json_t *sc = json_object_get(json_object_get(sar_spec(f1), "extra"), "scopes");
        CHECK_STR(json_string_value(json_array_get(sc, 0)), "s1");
        if (f1)
                store(f1, 201, "{\"status\":{\"allowed\":false,\"reason\":\"no RBAC\"}}");
        CHECK(missing(&c, CM2, &fp, ex1, 2) == NULL);
        CHECK_INT(resp.status, 403);
        const char *m = json_string_value(json_object_get(body, "message"));
        CHECK(m && strstr(m, "User \"bob\" cannot get") && strstr(m, ": no RBAC"));
        /* bob with the other extras is still unknown: it names its own review again */
        kos_fact_t *again = missing(&c, CM2, &fp, ex2, 2);
        CHECK(again && f2 && strcmp(again->key, f2->key) == 0);
        kos_fact_free(again);
        if (f2)
                store(f2, 500, "{\"message\":\"etcd is down\"}");
        CHECK(missing(&c, CM2, &fp, ex2, 2) == NULL);
        CHECK_INT(resp.status, 500);
        m = json_string_value(json_object_get(body, "message"));
        CHECK(m && !strstr(m, "etcd"));

        reset();
        kos_auth_set_token_reviewer(auth, NULL, NULL);
        kos_authz_destroy(authz);
        kos_kube_destroy(kube);
}

int main(void)
{
        char err[512] = "";
        mapping = kos_mapping_parse(mapping_text, "test-mapping", err, sizeof(err));
        if (!mapping) {
                fprintf(stderr, "mapping: %s\n", err);
                return 1;
        }
        kos_auth_conf_t ac;
        kos_auth_conf_defaults(&ac);
        kos_strlist_add(&ac.requestheader_allowed_names, "front-proxy-client", 18);
        ac.requestheader_client_ca_file = CERTS "front-proxy-ca.crt";
        ac.client_ca_file = CERTS "client-ca.crt";
        auth = kos_auth_new(&ac, err, sizeof(err));
        kos_auth_conf_clear(&ac);
        if (!auth) {
                fprintf(stderr, "auth: %s\n", err);
                return 1;
        }
        pc = (kos_provider_conf_t){.mapping = mapping, .max_staleness_ms = STALENESS};
        ctx = (kos_dispatch_ctx_t){
            .auth = auth, .pc = &pc, .lag = NULL, .stats = &stats, .version = "v0.0.0-test"};

        test_no_snapshot();
        kos_snapshot_publish(build_snapshot(TAKEN));
        test_ready();
        test_unauthenticated();
        test_front_proxy_identity();
        test_object_metric();
        test_namespace_path();
        test_pods();
        test_wildcard_objects();
        test_external();
        test_errors();
        test_discovery_and_misc();
        test_metrics_text();
        test_derived_and_debug_view();
        test_missing_facts();

        reset();
        kos_snapshot_publish_clear();
        kos_auth_destroy(auth);
        kos_mapping_destroy(mapping);
        return check_result("dispatch");
}
