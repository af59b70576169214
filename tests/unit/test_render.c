/* Unit tests for adapter/render.c: every document the adapter renders is compared byte for
 * byte with a golden file in tests/unit/data/golden/, written by hand from the wire contract
 * (the types of k8s.io/metrics pkg/apis/custom_metrics and external_metrics, apimachinery's
 * Status and discovery types), not dumped from the renderer.
 *
 * Key order is the order render.c emits (JSON_PRESERVE_ORDER); it follows the field order of
 * those Go types (what custom-metrics-apiserver writes):
 *  - MetricValue v1beta2: describedObject, metric{name, selector}, timestamp, value. The
 *    Go type carries windowSeconds between timestamp and value; it is omitempty and the
 *    adapter never sets a window, so it is absent (allowed by the contract).
 *  - MetricValue v1beta1: describedObject, metricName, timestamp, value, selector (as the Go
 *    type; no window, same reason).
 *  - describedObject: kind, namespace (omitted when empty), name, apiVersion. custom-metrics-
 *    apiserver writes "/v1" for core kinds; "v1" is the correct apiVersion, and the adapter
 *    emits "v1".
 *  - ExternalMetricValue: metricName, metricLabels, timestamp, value (no window).
 *  - Status: kind, apiVersion, metadata, status, message, reason, code (metav1.Status).
 *  - APIResourceList, APIGroupList, APIGroup: as metav1 defines them. */
#include "render.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define T_2025 1748779200000LL /* 2025-06-01T12:00:00Z */

/* Reads tests/unit/data/golden/<name>.json without its trailing newline. */
static char *golden(const char *name)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/golden/%s.json", KOS_TEST_DATA, name);
        FILE *f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "cannot open %s\n", path);
                return NULL;
        }
        char *buf = malloc(65536);
        size_t n = fread(buf, 1, 65535, f);
        fclose(f);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        buf[n] = '\0';
        return buf;
}

/* Compares a rendered document with its golden file; frees got. lenp is read only after the
 * render call has run (an argument `len` would be evaluated in unspecified order). */
static void check_golden(const char *name, char *got, const size_t *lenp)
{
        char *want = golden(name);
        CHECK(want != NULL);
        CHECK(got != NULL);
        if (got && want) {
                if (strcmp(got, want) != 0)
                        fprintf(stderr, "golden %s differs\n", name);
                CHECK_STR(got, want);
                CHECK_INT(*lenp, strlen(want));
                /* The golden file itself must be valid JSON, or the contract check means nothing.
                 */
                json_error_t e;
                json_t *j = json_loads(want, 0, &e);
                CHECK(j != NULL);
                json_decref(j);
        }
        free(want);
        free(got);
}

static void set_pod(kos_value_t *it, const char *name, int64_t value, int scale)
{
        snprintf(it->kind, sizeof(it->kind), "Pod");
        snprintf(it->api_version, sizeof(it->api_version), "v1");
        snprintf(it->namespace_, sizeof(it->namespace_), "default");
        snprintf(it->name, sizeof(it->name), "%s", name);
        snprintf(it->metric, sizeof(it->metric), "http_requests_per_second");
        it->value = value;
        it->scale = scale;
        it->timestamp_ms = T_2025;
}

static void two_pods(kos_values_t *v)
{
        set_pod(kos_values_add(v), "web-6d9f7c8b5-2xk4p", 1500, 3);
        set_pod(kos_values_add(v), "web-6d9f7c8b5-9qz7m", 2, 0);
}

static void object_item(kos_values_t *v)
{
        kos_value_t *it = kos_values_add(v);
        snprintf(it->kind, sizeof(it->kind), "Deployment");
        snprintf(it->api_version, sizeof(it->api_version), "apps/v1");
        snprintf(it->namespace_, sizeof(it->namespace_), "default");
        snprintf(it->name, sizeof(it->name), "processor");
        snprintf(it->metric, sizeof(it->metric), "kafka_consumergroup_lag");
        it->value = 12000;
        it->scale = 0;
        it->timestamp_ms = T_2025 + 999; /* second precision: the 999 ms are dropped */
}

static void test_values_container(void)
{
        kos_values_t v = {0};
        for (int i = 0; i < 100; i++) {
                kos_value_t *it = kos_values_add(&v);
                CHECK(it != NULL);
                CHECK_INT(it->value, 0);
                CHECK_STR(it->name, "");
                it->value = i;
        }
        CHECK_INT(v.n, 100);
        CHECK(v.cap >= 100);
        CHECK_INT(v.items[0].value, 0);
        CHECK_INT(v.items[99].value, 99);
        kos_values_clear(&v);
        CHECK(v.items == NULL);
        CHECK_INT(v.n, 0);
        CHECK_INT(v.cap, 0);
}

static void test_metric_lists(void)
{
        kos_values_t v = {0};
        size_t len = 0;
        char err[256];

        object_item(&v);
        check_golden("metric_list_v1beta2_object",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, NULL, &len), &len);
        check_golden("metric_list_v1beta1_object",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA1, &v, NULL, &len), &len);
        kos_values_clear(&v);

        two_pods(&v);
        check_golden("metric_list_v1beta2_pods",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, NULL, &len), &len);
        check_golden("metric_list_v1beta1_pods",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA1, &v, NULL, &len), &len);

        kos_selector_t *sel = kos_selector_parse("method=GET", err, sizeof(err));
        CHECK(sel != NULL);
        check_golden("metric_list_v1beta2_pods_selector",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, sel, &len), &len);
        check_golden("metric_list_v1beta1_pods_selector",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA1, &v, sel, &len), &len);
        kos_selector_destroy(sel);

        /* An empty selector (what "" parses to) is rendered as null, like no selector. */
        sel = kos_selector_parse("", err, sizeof(err));
        CHECK(sel != NULL);
        check_golden("metric_list_v1beta2_pods",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, sel, &len), &len);
        kos_selector_destroy(sel);
        kos_values_clear(&v);

        /* The namespace-described object: no namespace field, kind Namespace. */
        kos_value_t *it = kos_values_add(&v);
        snprintf(it->kind, sizeof(it->kind), "Namespace");
        snprintf(it->api_version, sizeof(it->api_version), "v1");
        snprintf(it->name, sizeof(it->name), "default");
        snprintf(it->metric, sizeof(it->metric), "queue_depth");
        it->value = 37;
        it->timestamp_ms = T_2025;
        check_golden("metric_list_v1beta2_namespace",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, NULL, &len), &len);
        kos_values_clear(&v);

        /* No items: "items":[] (no omitempty), never null. */
        check_golden("metric_list_v1beta2_empty",
                     kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, NULL, &len), &len);

        /* len may be NULL. */
        char *s = kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, NULL, NULL);
        CHECK(s != NULL);
        free(s);
}

static void test_metric_list_selector_expressions(void)
{
        /* A selector with operators goes to matchExpressions; parse the output structurally. */
        kos_values_t v = {0};
        char err[256];
        two_pods(&v);
        kos_selector_t *sel = kos_selector_parse("topic in (a,b),group=g1", err, sizeof(err));
        CHECK(sel != NULL);
        size_t len = 0;
        char *s = kos_render_metric_list(KOS_API_CUSTOM_V1BETA2, &v, sel, &len);
        CHECK(s != NULL);
        json_t *j = s ? json_loads(s, 0, NULL) : NULL;
        CHECK(j != NULL);
        json_t *msel = json_object_get(
            json_object_get(json_array_get(json_object_get(j, "items"), 1), "metric"), "selector");
        CHECK(json_is_object(msel));
        CHECK_STR(json_string_value(json_object_get(json_object_get(msel, "matchLabels"), "group")),
                  "g1");
        json_t *expr = json_array_get(json_object_get(msel, "matchExpressions"), 0);
        CHECK_STR(json_string_value(json_object_get(expr, "key")), "topic");
        CHECK_STR(json_string_value(json_object_get(expr, "operator")), "In");
        CHECK_INT(json_array_size(json_object_get(expr, "values")), 2);
        json_decref(j);
        free(s);
        kos_selector_destroy(sel);
        kos_values_clear(&v);
}

static void test_external_lists(void)
{
        kos_values_t v = {0};
        size_t len = 0;
        kos_value_t *it = kos_values_add(&v);
        snprintf(it->metric, sizeof(it->metric), "kafka_consumergroup_lag");
        snprintf(it->label_group, sizeof(it->label_group), "KINGOFSCALING-APP");
        snprintf(it->label_topic, sizeof(it->label_topic), "GAME-FRAME-RQ");
        it->value = 42;
        it->timestamp_ms = T_2025;
        it = kos_values_add(&v);
        snprintf(it->metric, sizeof(it->metric), "kafka_consumergroup_lag");
        /* no labels: metricLabels must be {} (no omitempty), never null or absent */
        it->value = 0;
        it->timestamp_ms = T_2025;
        check_golden("external_list", kos_render_external_list(&v, &len), &len);
        kos_values_clear(&v);
        check_golden("external_list_empty", kos_render_external_list(&v, &len), &len);
}

static void test_status(void)
{
        size_t len = 0;
        check_golden("status_not_found",
                     kos_render_status(404, "NotFound",
                                       "the server could not find the metric http_requests for "
                                       "pods",
                                       &len),
                     &len);
        check_golden("status_quotes",
                     kos_render_status(403, "Forbidden",
                                       "pods.custom.metrics.k8s.io \"*\" is forbidden: User "
                                       "\"system:anonymous\" cannot get path \"/apis\\x\"\ttab",
                                       &len),
                     &len);

        /* Invalid UTF-8 (a lone continuation byte, a truncated sequence) plus quotes: the body
         * must still be valid JSON and a complete Status whose code is the HTTP status. */
        char *s = kos_render_status(400, "BadRequest",
                                    "invalid metric \"\xff\xfe\" and \"\xc3\" and \x80 end", &len);
        CHECK(s != NULL);
        if (s) {
                CHECK_INT(len, strlen(s));
                json_error_t e;
                json_t *j = json_loads(s, 0, &e);
                CHECK(j != NULL);
                CHECK_STR(json_string_value(json_object_get(j, "kind")), "Status");
                CHECK_STR(json_string_value(json_object_get(j, "apiVersion")), "v1");
                CHECK_STR(json_string_value(json_object_get(j, "status")), "Failure");
                CHECK_STR(json_string_value(json_object_get(j, "reason")), "BadRequest");
                CHECK_INT(json_integer_value(json_object_get(j, "code")), 400);
                const char *m = json_string_value(json_object_get(j, "message"));
                CHECK(m != NULL && m[0] != '\0');
                /* No raw invalid byte leaks into the body. */
                CHECK(strchr(s, '\xff') == NULL);
                CHECK(strchr(s, '\x80') == NULL);
                json_decref(j);
                free(s);
        }

        /* 503 from the provider path: code and reason carried as given. */
        s = kos_render_status(503, "ServiceUnavailable", "", &len);
        CHECK_STR(s,
                  "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                  "\"Failure\",\"message\":\"\",\"reason\":\"ServiceUnavailable\",\"code\":503}");
        free(s);
}

static void test_discovery_documents(void)
{
        size_t len = 0;
        const char *custom[] = {"deployments.apps/kafka_consumergroup_lag",
                                "namespaces/kafka_consumergroup_lag", "pods/kafka_consumer_lag"};
        check_golden("resource_list_custom_v1beta2",
                     kos_render_resource_list(KOS_API_CUSTOM_V1BETA2, custom, 3, &len), &len);
        check_golden("resource_list_custom_v1beta1_empty",
                     kos_render_resource_list(KOS_API_CUSTOM_V1BETA1, NULL, 0, &len), &len);
        const char *external[] = {"kafka_consumergroup_lag", "kafka_consumergroup_lag_seconds"};
        check_golden("resource_list_external",
                     kos_render_resource_list(KOS_API_EXTERNAL_V1BETA1, external, 2, &len), &len);
        /* A resource named like "namespacesx/..." is namespaced: only "namespaces/" is special. */
        const char *tricky[] = {"namespacesx/m"};
        char *s = kos_render_resource_list(KOS_API_CUSTOM_V1BETA2, tricky, 1, &len);
        CHECK(s && strstr(s, "\"namespaced\":true") != NULL);
        free(s);

        check_golden("api_group_list", kos_render_api_group_list(&len), &len);
        check_golden("api_group_custom", kos_render_api_group("custom.metrics.k8s.io", &len), &len);
        check_golden("api_group_external", kos_render_api_group("external.metrics.k8s.io", &len),
                     &len);
        CHECK(kos_render_api_group("metrics.k8s.io", &len) == NULL);
        CHECK(kos_render_api_group("", &len) == NULL);
}

static void test_time(void)
{
        char buf[32];
        kos_render_time(0, buf, sizeof(buf));
        CHECK_STR(buf, "1970-01-01T00:00:00Z");
        kos_render_time(T_2025, buf, sizeof(buf));
        CHECK_STR(buf, "2025-06-01T12:00:00Z");
        /* Second precision: milliseconds are truncated, never rounded up. */
        kos_render_time(T_2025 + 999, buf, sizeof(buf));
        CHECK_STR(buf, "2025-06-01T12:00:00Z");
        /* 2025-12-31T23:59:59Z, and a leap day. */
        kos_render_time(1767225599000LL, buf, sizeof(buf));
        CHECK_STR(buf, "2025-12-31T23:59:59Z");
        kos_render_time(1709208000000LL, buf, sizeof(buf));
        CHECK_STR(buf, "2024-02-29T12:00:00Z");
        /* The documented minimum buffer (21 bytes) holds the whole string. */
        char small[21];
        kos_render_time(T_2025, small, sizeof(small));
        CHECK_STR(small, "2025-06-01T12:00:00Z");
}

static void test_object_kind(void)
{
        static const struct {
                const char *resource, *group, *kind, *api_version;
        } cases[] = {
            {"pods", "", "Pod", "v1"},
            {"namespaces", "", "Namespace", "v1"},
            {"deployments", "apps", "Deployment", "apps/v1"},
            {"statefulsets", "apps", "StatefulSet", "apps/v1"},
            {"replicasets", "apps", "ReplicaSet", "apps/v1"},
            {"jobs", "batch", "Job", "batch/v1"},
            /* Unknown CRD plural: a capitalised singular guess and <group>/v1. */
            {"kafkaconsumers", "kos.example.com", "Kafkaconsumer", "kos.example.com/v1"},
            /* Unknown core-group resource. */
            {"widgets", "", "Widget", "v1"},
            /* The same plural in another group is not the known kind. */
            {"deployments", "example.com", "Deployment", "example.com/v1"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char kind[64], av[128];
                kos_render_object_kind(cases[i].resource, cases[i].group, kind, sizeof(kind), av,
                                       sizeof(av));
                CHECK_STR(kind, cases[i].kind);
                CHECK_STR(av, cases[i].api_version);
        }
        /* Small buffers are truncated, never overrun. */
        char k4[4], a4[4];
        kos_render_object_kind("statefulsets", "apps", k4, sizeof(k4), a4, sizeof(a4));
        CHECK_STR(k4, "Sta");
        CHECK_STR(a4, "app");
}

int main(void)
{
        test_values_container();
        test_metric_lists();
        test_metric_list_selector_expressions();
        test_external_lists();
        test_status();
        test_discovery_documents();
        test_time();
        test_object_kind();
        return check_result("render");
}
