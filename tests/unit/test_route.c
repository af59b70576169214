/* Unit tests for adapter/route.c: every route of the three metrics APIs and the plain
 * endpoints, percent-decoding, query parsing, and every error code the router produces. */
#include "route.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

#define CM1 "/apis/custom.metrics.k8s.io/v1beta1"
#define CM2 "/apis/custom.metrics.k8s.io/v1beta2"
#define EM1 "/apis/external.metrics.k8s.io/v1beta1"

static kos_request_t req;
static kos_route_error_t err;

/* Routes a GET; returns the HTTP status the router implies (200 on success). */
static int get(const char *path, const char *query)
{
        kos_request_clear(&req);
        if (kos_route_parse("GET", path, query, &req, &err) == 0)
                return 200;
        CHECK(err.http_status >= 400);
        CHECK(err.reason[0] != '\0');
        CHECK(err.message[0] != '\0');
        CHECK(req.label_selector == NULL && req.metric_selector == NULL);
        return err.http_status;
}

static void test_plain_routes(void)
{
        static const struct {
                const char *path;
                kos_req_kind_t kind;
        } cases[] = {
            {"/healthz", KOS_REQ_HEALTHZ},
            {"/livez", KOS_REQ_LIVEZ},
            {"/readyz", KOS_REQ_READYZ},
            {"/readyz/", KOS_REQ_READYZ},
            {"/metrics", KOS_REQ_METRICS},
            {"/version", KOS_REQ_VERSION},
            {"/openapi/v2", KOS_REQ_OPENAPI_V2},
            {"/openapi/v3", KOS_REQ_OPENAPI_V3},
            {"/openapi/v3/apis/custom.metrics.k8s.io/v1beta2", KOS_REQ_OPENAPI_V3},
            {"/apis", KOS_REQ_APIS},
            {"/apis/", KOS_REQ_APIS},
            {"/apis/custom.metrics.k8s.io", KOS_REQ_API_GROUP},
            {"/apis/external.metrics.k8s.io", KOS_REQ_API_GROUP},
            {CM1, KOS_REQ_DISCOVERY},
            {CM2, KOS_REQ_DISCOVERY},
            {CM2 "/", KOS_REQ_DISCOVERY},
            {EM1, KOS_REQ_DISCOVERY},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int st = get(cases[i].path, "labelSelector=((((&pretty=true");
                if (st != 200)
                        fprintf(stderr, "route %s: %d %s\n", cases[i].path, st, err.message);
                CHECK_INT(st, 200);
                CHECK_INT(req.kind, cases[i].kind);
                CHECK(req.label_selector == NULL); /* query ignored */
        }
        CHECK_INT(get("/apis/custom.metrics.k8s.io", NULL), 200);
        CHECK_INT(req.api, KOS_API_CUSTOM_V1BETA2);
        CHECK_INT(get("/apis/external.metrics.k8s.io", NULL), 200);
        CHECK_INT(req.api, KOS_API_EXTERNAL_V1BETA1);
        CHECK_INT(get(CM1, NULL), 200);
        CHECK_INT(req.api, KOS_API_CUSTOM_V1BETA1);
        CHECK_INT(get(CM2, NULL), 200);
        CHECK_INT(req.api, KOS_API_CUSTOM_V1BETA2);
        CHECK_INT(get(EM1, NULL), 200);
        CHECK_INT(req.api, KOS_API_EXTERNAL_V1BETA1);
        CHECK_INT(get("/healthz", NULL), 200);
        CHECK_INT(req.api, KOS_API_NONE);

        CHECK_STR(kos_api_group_version(KOS_API_CUSTOM_V1BETA1), "custom.metrics.k8s.io/v1beta1");
        CHECK_STR(kos_api_group_version(KOS_API_CUSTOM_V1BETA2), "custom.metrics.k8s.io/v1beta2");
        CHECK_STR(kos_api_group_version(KOS_API_EXTERNAL_V1BETA1),
                  "external.metrics.k8s.io/v1beta1");
        CHECK_STR(kos_api_group_version(KOS_API_NONE), "");

        /* HEAD is a GET without a body. */
        CHECK_INT(kos_route_parse("HEAD", "/healthz", NULL, &req, &err), 0);
        CHECK_INT(req.kind, KOS_REQ_HEALTHZ);
}

static void test_custom_routes(void)
{
        CHECK_INT(get(CM2 "/namespaces/default/pods/web-1/lag", NULL), 200);
        CHECK_INT(req.kind, KOS_REQ_OBJECT);
        CHECK_INT(req.api, KOS_API_CUSTOM_V1BETA2);
        CHECK_STR(req.namespace_, "default");
        CHECK_STR(req.resource, "pods");
        CHECK_STR(req.resource_group, "");
        CHECK_STR(req.name, "web-1");
        CHECK_STR(req.metric, "lag");

        CHECK_INT(
            get(CM1 "/namespaces/prod/deployments.apps/consumer/kafka_consumergroup_lag", NULL),
            200);
        CHECK_INT(req.kind, KOS_REQ_OBJECT);
        CHECK_INT(req.api, KOS_API_CUSTOM_V1BETA1);
        CHECK_STR(req.resource, "deployments");
        CHECK_STR(req.resource_group, "apps");
        CHECK_STR(req.name, "consumer");
        CHECK_STR(req.metric, "kafka_consumergroup_lag");

        /* The group is everything after the first dot. */
        CHECK_INT(get(CM2 "/namespaces/ns/ingresses.networking.k8s.io/i/m", NULL), 200);
        CHECK_STR(req.resource, "ingresses");
        CHECK_STR(req.resource_group, "networking.k8s.io");

        /* Wildcards: %2A (what client-go sends), %2a, and a literal '*'. */
        const char *wild[] = {CM2 "/namespaces/default/pods/%2A/Lag_Metric",
                              CM2 "/namespaces/default/pods/%2a/Lag_Metric",
                              CM2 "/namespaces/default/pods/*/Lag_Metric"};
        for (size_t i = 0; i < 3; i++) {
                CHECK_INT(get(wild[i], "labelSelector=app%3Dweb"), 200);
                CHECK_INT(req.kind, KOS_REQ_WILDCARD);
                CHECK_STR(req.name, "*");
                CHECK_STR(req.metric, "Lag_Metric"); /* custom metric names keep their case */
                CHECK(req.label_selector != NULL);
                CHECK_STR(kos_selector_equals_value(req.label_selector, "app"), "web");
        }

        /* Root-scoped object and wildcard. */
        CHECK_INT(get(CM2 "/nodes/node-1/lag", NULL), 200);
        CHECK_INT(req.kind, KOS_REQ_OBJECT);
        CHECK_STR(req.namespace_, "");
        CHECK_STR(req.resource, "nodes");
        CHECK_STR(req.name, "node-1");
        CHECK_INT(get(CM2 "/nodes/%2A/lag/", NULL), 200);
        CHECK_INT(req.kind, KOS_REQ_WILDCARD);

        /* The Namespace itself. */
        CHECK_INT(get(CM2 "/namespaces/team-a/metrics/kafka_lag", NULL), 200);
        CHECK_INT(req.kind, KOS_REQ_OBJECT);
        CHECK_STR(req.namespace_, "");
        CHECK_STR(req.resource, "namespaces");
        CHECK_STR(req.resource_group, "");
        CHECK_STR(req.name, "team-a");
        CHECK_STR(req.metric, "kafka_lag");

        /* Percent-encoded ordinary characters decode. */
        CHECK_INT(get(CM2 "/namespaces/d%65fault/pods/p/m%3Ax", NULL), 200);
        CHECK_STR(req.namespace_, "default");
        CHECK_STR(req.metric, "m:x");
}

static void test_external_routes(void)
{
        CHECK_INT(get(EM1 "/namespaces/default/Kafka_Consumergroup_LAG",
                      "labelSelector=topic%3Dorders%2Cgroup+in+%28g1%29&metricLabelSelector=((("),
                  200);
        CHECK_INT(req.kind, KOS_REQ_EXTERNAL);
        CHECK_INT(req.api, KOS_API_EXTERNAL_V1BETA1);
        CHECK_STR(req.namespace_, "default");
        CHECK_STR(req.metric, "kafka_consumergroup_lag");
        CHECK(req.label_selector == NULL);
        CHECK(req.metric_selector != NULL);
        CHECK_STR(kos_selector_equals_value(req.metric_selector, "topic"), "orders");
        CHECK_STR(kos_selector_equals_value(req.metric_selector, "group"), "g1");

        CHECK_INT(get(EM1 "/namespaces/default/lag", NULL), 200);
        CHECK(req.metric_selector == NULL);

        /* No namespace, or anything else, is not a route. */
        CHECK_INT(get(EM1 "/lag", NULL), 404);
        CHECK_INT(get(EM1 "/namespaces/default", NULL), 404);
        CHECK_INT(get(EM1 "/namespaces/default/lag/extra", NULL), 404);
        CHECK_INT(get(EM1 "/pods/x/lag", NULL), 404);
        CHECK_INT(get(EM1 "/namespaces/bad%2Fns/lag", NULL), 400);
}

static void test_query(void)
{
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag",
                      "labelSelector=app+in+%28a%2Cb%29&pretty=true&timeout=30s&"
                      "resourceVersion=0&limit=500&watch=false"),
                  200);
        CHECK(req.label_selector != NULL);
        if (req.label_selector) {
                CHECK_INT(req.label_selector->n_reqs, 1);
                CHECK_STR(req.label_selector->reqs[0].key, "app");
                CHECK_INT(req.label_selector->reqs[0].op, KOS_SEL_IN);
                CHECK_INT(req.label_selector->reqs[0].n_values, 2);
        }
        CHECK(req.metric_selector == NULL);

        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag",
                      "metricLabelSelector=topic%3Dorders&labelSelector=app%3Dx"),
                  200);
        CHECK_STR(kos_selector_equals_value(req.metric_selector, "topic"), "orders");
        CHECK_STR(kos_selector_equals_value(req.label_selector, "app"), "x");

        /* Empty and blank selectors are absent; stray '&', bare keys and unknown keys are fine. */
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag",
                      "&&labelSelector=&metricLabelSelector=+++&pretty&x=%41&&"),
                  200);
        CHECK(req.label_selector == NULL);
        CHECK(req.metric_selector == NULL);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", ""), 200);

        /* Keys are case-sensitive, as in Go. */
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "labelselector=(((("), 200);
        CHECK(req.label_selector == NULL);

        /* Errors: bad selector, duplicates, bad escapes (even in ignored parameters). */
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "labelSelector=%28"), 400);
        CHECK_STR(err.reason, "BadRequest");
        CHECK_STR(err.message, "found '(', expected: !, identifier, or 'end of string'");
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "labelSelector=a+in+%28b"), 400);
        CHECK_STR(err.message, "unable to parse requirement: found '', expected: ',' or ')'");
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "metricLabelSelector=a%3D%3D%3D"),
                  400);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "labelSelector=a&labelSelector=b"),
                  400);
        CHECK(strstr(err.message, "duplicate parameter") != NULL);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag",
                      "metricLabelSelector=a&metricLabelSelector=a"),
                  400);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "pretty=%zz"), 400);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "labelSelector=a%3"), 400);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "labelSelector=a%00"), 400);
        CHECK_INT(get(CM2 "/namespaces/default/pods/%2A/lag", "%4=1"), 400);

        /* External ignores metricLabelSelector entirely, duplicates included. */
        CHECK_INT(get(EM1 "/namespaces/default/lag", "metricLabelSelector=a&metricLabelSelector=("),
                  200);
        CHECK_INT(get(EM1 "/namespaces/default/lag", "labelSelector=x&labelSelector=y"), 400);
        CHECK_INT(get(EM1 "/namespaces/default/lag", "labelSelector=x%3E"), 400);
}

static void test_errors(void)
{
        char long_path[KOS_ROUTE_MAX_PATH + 64], *long_query;

        /* Methods. */
        const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", ""};
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                CHECK_INT(kos_route_parse(methods[i], "/healthz", NULL, &req, &err), -1);
                CHECK_INT(err.http_status, 405);
                CHECK_STR(err.reason, "MethodNotAllowed");
        }
        CHECK_INT(kos_route_parse(NULL, "/healthz", NULL, &req, &err), -1);
        CHECK_INT(err.http_status, 405);

        /* Bad percent-encoding and forbidden decoded bytes. */
        const char *bad_enc[] = {
            CM2 "/namespaces/default/pods/%4/m",    CM2 "/namespaces/default/pods/%zz/m",
            CM2 "/namespaces/default/pods/p/m%",    CM2 "/namespaces/default/pods/p/m%00",
            CM2 "/namespaces/default/pods/p/m%0a",  CM2 "/namespaces/default/pods/a%2Fb/m",
            CM2 "/namespaces/default/pods/a%2fb/m", CM2 "/namespaces/default/pods/p/m%25",
            CM2 "/namespaces/default/pods/p/m\x01", "/healthz%",
        };
        for (size_t i = 0; i < sizeof(bad_enc) / sizeof(bad_enc[0]); i++) {
                CHECK_INT(get(bad_enc[i], NULL), 400);
                CHECK_STR(err.reason, "BadRequest");
        }

        /* Too few parts: 400 "invalid request path", as custom-metrics-apiserver. */
        const char *few[] = {
            CM2 "/namespaces",          CM2 "/namespaces/x", CM2 "/namespaces/x/foo",
            CM2 "/namespaces/x/pods/p", CM2 "/pods",         CM2 "/pods/p",
            CM1 "/namespaces/x/foo/",
        };
        for (size_t i = 0; i < sizeof(few) / sizeof(few[0]); i++) {
                CHECK_INT(get(few[i], NULL), 400);
                CHECK_STR(err.message, "invalid request path");
        }

        /* Unknown group, version, or too many parts: 404. */
        const char *nf[] = {
            "/",
            "/nope",
            "/apis/metrics.k8s.io",
            "/apis/metrics.k8s.io/v1beta1",
            "/apis/custom.metrics.k8s.io/v1",
            "/apis/custom.metrics.k8s.io/v2beta1/namespaces/x/pods/p/m",
            "/apis/external.metrics.k8s.io/v1beta2",
            "/apis/external.metrics.k8s.io/v1beta2/namespaces/x/m",
            CM2 "/namespaces/x/pods/p/m/extra",
            CM2 "/nodes/n/m/extra",
            CM2 "//namespaces/x/pods/p/m",
            CM2 "/namespaces//pods/p/m",
            "/healthz//",
            "/healthz/x",
            "/openapi",
            "/openapi/v4",
            "/openapi/v2/x",
            "/api",
            "/API",
            CM2 "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u",
        };
        for (size_t i = 0; i < sizeof(nf) / sizeof(nf[0]); i++) {
                int st = get(nf[i], NULL);
                if (st != 404)
                        fprintf(stderr, "expected 404 for %s, got %d\n", nf[i], st);
                CHECK_INT(st, 404);
                CHECK_STR(err.reason, "NotFound");
                CHECK_STR(err.message, "the server could not find the requested resource");
        }

        /* Invalid names. */
        const char *bad_names[] = {
            CM2 "/namespaces/a%20b/pods/p/m",
            CM2 "/namespaces/x/pods/a%22b/m",
            CM2 "/namespaces/x/pods/p/*",
            CM2 "/namespaces/x/pods/p/..",
            CM2 "/namespaces/x/pods/../m",
            CM2 "/namespaces/%2A/pods/p/m",
            CM2 "/namespaces/x/.apps/p/m",
            CM2 "/namespaces/x/pods./p/m",
            CM2 "/namespaces/*/metrics/m",
            CM2 "/namespaces/x/po%20ds/p/m",
            "relative/path",
            "",
        };
        for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
                int st = get(bad_names[i], NULL);
                if (st != 400)
                        fprintf(stderr, "expected 400 for %s, got %d\n", bad_names[i], st);
                CHECK_INT(st, 400);
        }
        CHECK_INT(kos_route_parse("GET", NULL, NULL, &req, &err), -1);
        CHECK_INT(err.http_status, 400);

        /* A 253-byte name is fine, 254 is not. */
        char p[1024];
        snprintf(p, sizeof(p), CM2 "/namespaces/x/pods/%0253d/m", 0);
        CHECK_INT(get(p, NULL), 200);
        snprintf(p, sizeof(p), CM2 "/namespaces/x/pods/%0254d/m", 0);
        CHECK_INT(get(p, NULL), 400);

        /* 414 for an overlong path or query; exactly at the limit is routed normally. */
        memset(long_path, 'a', sizeof(long_path));
        long_path[0] = '/';
        long_path[KOS_ROUTE_MAX_PATH + 1] = '\0';
        CHECK_INT(get(long_path, NULL), 414);
        CHECK_STR(err.reason, "RequestURITooLong");
        long_path[KOS_ROUTE_MAX_PATH] = '\0';
        CHECK_INT(get(long_path, NULL), 404);

        long_query = malloc(KOS_ROUTE_MAX_QUERY + 2);
        memset(long_query, 'q', KOS_ROUTE_MAX_QUERY + 1);
        long_query[KOS_ROUTE_MAX_QUERY + 1] = '\0';
        CHECK_INT(get("/healthz", long_query), 414);
        long_query[KOS_ROUTE_MAX_QUERY] = '\0';
        CHECK_INT(get(CM2 "/namespaces/x/pods/p/m", long_query), 200);
        free(long_query);

        /* A NULL err is allowed. */
        CHECK_INT(kos_route_parse("POST", "/healthz", NULL, &req, NULL), -1);
}

int main(void)
{
        test_plain_routes();
        test_custom_routes();
        test_external_routes();
        test_query();
        test_errors();
        kos_request_clear(&req);
        kos_request_clear(&req); /* idempotent */
        return check_result("route");
}
