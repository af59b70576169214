/* Unit tests for the Kubernetes-facing pure code: kubeconfig parsing (good and bad files) and
 * the provider's answers when Kubernetes adds inputs (pods listed for a labelSelector, a
 * workload's kos.io annotations) and the headroom metric for the generator's HPA. */
#include "kubeconfig.h"
#include "provider.h"
#include "route.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define CA_PEM "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

static void test_kubeconfig_good(void)
{
        char err[512];
        kos_kube_target_t t;
        /* "Q0FQRU0=" is base64 of "CAPEM" */
        const char *yaml = "apiVersion: v1\n"
                           "kind: Config\n"
                           "clusters:\n"
                           "- name: other\n"
                           "  cluster: {server: 'https://10.0.0.9:443'}\n"
                           "- name: kos\n"
                           "  cluster:\n"
                           "    server: https://127.0.0.1:6443/\n"
                           "    certificate-authority-data: Q0FQRU0=\n"
                           "users:\n"
                           "- name: admin\n"
                           "  user:\n"
                           "    token: abc123\n"
                           "contexts:\n"
                           "- name: kos\n"
                           "  context: {cluster: kos, user: admin}\n"
                           "current-context: kos\n";
        CHECK_INT(kos_kubeconfig_parse(yaml, "/nonexistent", &t, err, sizeof(err)), 0);
        CHECK_STR(t.server, "https://127.0.0.1:6443");
        CHECK_STR(t.ca_pem, "CAPEM");
        CHECK_STR(t.token, "abc123");
        CHECK(t.cert_pem == NULL && !t.insecure);
        kos_kube_target_clear(&t);

        /* JSON is YAML too; client cert and key from files relative to the kubeconfig */
        FILE *f = fopen("/tmp/kos-test-kc.crt", "w");
        fputs(CA_PEM, f);
        fclose(f);
        f = fopen("/tmp/kos-test-kc.key", "w");
        fputs("KEY", f);
        fclose(f);
        const char *json = "{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\",\"context\":"
                           "{\"cluster\":\"k\",\"user\":\"u\"}}],\"clusters\":[{\"name\":\"k\","
                           "\"cluster\":{\"server\":\"https://h:1\",\"insecure-skip-tls-verify\":"
                           "true}}],\"users\":[{\"name\":\"u\",\"user\":{\"client-certificate\":"
                           "\"kos-test-kc.crt\",\"client-key\":\"kos-test-kc.key\"}}]}";
        CHECK_INT(kos_kubeconfig_parse(json, "/tmp", &t, err, sizeof(err)), 0);
        CHECK_STR(t.cert_pem, CA_PEM);
        CHECK_STR(t.key_pem, "KEY");
        CHECK(t.insecure == 1);
        kos_kube_target_clear(&t);
        unlink("/tmp/kos-test-kc.crt");
        unlink("/tmp/kos-test-kc.key");
}

static void bad(const char *yaml, const char *needle)
{
        char err[512] = "";
        kos_kube_target_t t;
        CHECK_INT(kos_kubeconfig_parse(yaml, "/tmp", &t, err, sizeof(err)), -1);
        if (!strstr(err, needle))
                fprintf(stderr, "  error \"%s\" does not mention \"%s\"\n", err, needle);
        CHECK(strstr(err, needle) != NULL);
        CHECK(t.server == NULL); /* nothing half-filled */
}

static void test_kubeconfig_bad(void)
{
        const char *ctx = "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                          "current-context: c\n";
        char buf[2048];
        bad("", "no top-level mapping");
        bad("- a\n- b\n", "no top-level mapping");
        bad("current: [\n", "YAML error");
        bad("clusters: []\n", "no current-context");
        bad(ctx, "cluster not found");
        snprintf(buf, sizeof(buf), "%sclusters: [{name: k, cluster: {server: http://h:1}}]\n", ctx);
        bad(buf, "https://");
        snprintf(buf, sizeof(buf),
                 "%sclusters: [{name: k, cluster: {server: 'https://h', "
                 "certificate-authority-data: '!!!notbase64'}}]\n",
                 ctx);
        bad(buf, "invalid base64");
        snprintf(buf, sizeof(buf),
                 "%sclusters: [{name: k, cluster: {server: 'https://h', certificate-authority: "
                 "/nonexistent/ca.crt}}]\n",
                 ctx);
        bad(buf, "/nonexistent/ca.crt");
        snprintf(buf, sizeof(buf),
                 "%sclusters: [{name: k, cluster: {server: 'https://h'}}]\n"
                 "users: [{name: u, user: {exec: {command: gcloud}}}]\n",
                 ctx);
        bad(buf, "exec");
        snprintf(buf, sizeof(buf),
                 "%sclusters: [{name: k, cluster: {server: 'https://h'}}]\n"
                 "users: [{name: u, user: {client-certificate-data: Q0FQRU0=}}]\n",
                 ctx);
        bad(buf, "must come together");
        bad("a: &x [1]\nb: *x\ncurrent-context: c\n", "aliases");
        /* hostile nesting */
        char deep[400] = "a: ";
        for (int i = 0; i < 60; i++)
                strcat(deep, "[");
        bad(deep, "deeper than 32"); /* the bound trips before the missing brackets */
        bad("a: [1, 2\n", "YAML error");
        char deep2[600] = "";
        for (int i = 0; i < 40; i++)
                strcat(deep2, "{a: ");
        strcat(deep2, "1");
        for (int i = 0; i < 40; i++)
                strcat(deep2, "}");
        bad(deep2, "deeper than 32");
        char err[256];
        kos_kube_target_t t;
        CHECK_INT(kos_kubeconfig_load("/nonexistent/kubeconfig", &t, err, sizeof(err)), -1);
        CHECK(strstr(err, "--kubeconfig /nonexistent/kubeconfig") != NULL);
}

/* ---- provider with Kubernetes inputs --------------------------------------------------- */

#define NOW 1748779200000LL

static kos_snapshot_t *snapshot(void)
{
        kos_snapshot_t *s = kos_snapshot_new();
        s->taken_ms = NOW - 500;
        s->n_groups = 1;
        s->groups = calloc(1, sizeof(*s->groups));
        kos_group_lag_t *g = &s->groups[0];
        g->group_id = strdup("g1");
        g->state = strdup("Stable");
        g->n_members = 1;
        g->members = calloc(1, sizeof(*g->members));
        g->members[0] = (kos_member_t){strdup("m-1"), strdup("pod-a"), strdup("/10.0.0.1")};
        g->n_parts = 3;
        g->parts = calloc(3, sizeof(*g->parts));
        const char *topics[] = {"in", "in", "other"};
        int64_t lags[] = {10, 20, 5};
        int members[] = {0, -1, 0};
        for (int i = 0; i < 3; i++)
                g->parts[i] = (kos_part_lag_t){.topic = strdup(topics[i]),
                                               .partition = i,
                                               .committed = 100,
                                               .end = 100 + lags[i],
                                               .lag = lags[i],
                                               .head_ts_ms = -1,
                                               .member = members[i]};
        kos_snapshot_finish(s);
        return s;
}

static char *labels_a[] = {"app", "proc", NULL};
static char *labels_b[] = {"app", "proc", "tier", "x", NULL};
static char *labels_c[] = {"app", "other", NULL};

static void answer(const char *path, const char *query, const kos_provider_extra_t *x,
                   kos_answer_t *ans)
{
        static kos_mapping_t *m;
        char err[256];
        if (!m)
                m = kos_mapping_parse("default pods * g1\n", "t", err, sizeof(err));
        kos_provider_conf_t pc = {.mapping = m, .max_staleness_ms = 10000, .headroom_budget = 1000};
        kos_request_t req;
        kos_route_error_t rerr;
        if (kos_route_parse("GET", path, query, &req, &rerr) != 0) {
                fprintf(stderr, "route %s: %s\n", path, rerr.message);
                CHECK(0);
                memset(ans, 0, sizeof(*ans));
                return;
        }
        kos_snapshot_t *s = snapshot();
        kos_provider_answer(&pc, s, NOW, NULL, &req, x, ans);
        kos_snapshot_unref(s);
        kos_request_clear(&req);
}

static void test_pods_from_kubernetes(void)
{
        kos_pod_t pods[] = {{"pod-a", labels_a}, {"pod-b", labels_b}, {"pod-c", labels_c}};
        kos_pod_list_t list = {pods, 3, 1};
        kos_provider_extra_t x = {.pods = &list};
        kos_answer_t ans;
        /* only the pods the labelSelector matches; pod-b runs no consumer: 0, never absent */
        answer("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/%2A/kafka_consumer_lag",
               "labelSelector=app%3Dproc", &x, &ans);
        CHECK_INT(ans.status, 200);
        CHECK_INT(ans.values.n, 2);
        if (ans.values.n == 2) {
                CHECK_STR(ans.values.items[0].name, "pod-a");
                CHECK_INT(ans.values.items[0].value, 15); /* its partitions: in/0 + other/2 */
                CHECK_STR(ans.values.items[1].name, "pod-b");
                CHECK_INT(ans.values.items[1].value, 0);
        }
        kos_answer_clear(&ans);
        /* topic metric of the original */
        answer("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/%2A/consumer_lag_in",
               "labelSelector=tier%3Dx", &x, &ans);
        CHECK_INT(ans.values.n, 1);
        if (ans.values.n == 1)
                CHECK_STR(ans.values.items[0].name, "pod-b");
        kos_answer_clear(&ans);
        /* a selector nothing matches: an empty list (the HPA reports it), not an error */
        answer("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/%2A/kafka_consumer_lag",
               "labelSelector=app%3Dnone", &x, &ans);
        CHECK_INT(ans.status, 200);
        CHECK_INT(ans.values.n, 0);
        kos_answer_clear(&ans);
        /* one named pod: known to Kubernetes without a consumer -> 0; unknown -> 404 */
        answer(
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/pod-c/kafka_consumer_lag",
            NULL, &x, &ans);
        CHECK_INT(ans.status, 200);
        CHECK_INT(ans.values.n == 1 ? ans.values.items[0].value : -1, 0);
        kos_answer_clear(&ans);
        answer(
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/pod-z/kafka_consumer_lag",
            NULL, &x, &ans);
        CHECK_INT(ans.status, 404);
        kos_answer_clear(&ans);
}

static void test_workload_annotation(void)
{
        kos_answer_t ans;
        kos_provider_extra_t x = {.annotated_group = "g1", .annotated_topics = "other"};
        answer("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/deployments.apps/proc/"
               "kafka_consumergroup_lag",
               NULL, &x, &ans);
        CHECK_INT(ans.status, 200);
        CHECK_INT(ans.values.n == 1 ? ans.values.items[0].value : -1, 5);
        kos_answer_clear(&ans);
        x.annotated_topics = "in, other";
        answer("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/deployments.apps/proc/"
               "kafka_consumergroup_lag",
               NULL, &x, &ans);
        CHECK_INT(ans.values.n == 1 ? ans.values.items[0].value : -1, 35);
        kos_answer_clear(&ans);
        /* the selector's group= wins over the annotation */
        x.annotated_group = "does-not-exist";
        answer("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/deployments.apps/proc/"
               "kafka_consumergroup_lag",
               "metricLabelSelector=group%3Dg1", &x, &ans);
        CHECK_INT(ans.status, 200);
        kos_answer_clear(&ans);
        /* no annotation, no rule for deployments: 404 naming what to configure */
        answer("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/deployments.apps/proc/"
               "kafka_consumergroup_lag",
               NULL, NULL, &ans);
        CHECK_INT(ans.status, 404);
        CHECK(strstr(ans.message, "mapping file") != NULL);
        kos_answer_clear(&ans);
}

static void test_headroom(void)
{
        kos_answer_t ans;
        const char *p = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/"
                        "kafka_consumergroup_lag_headroom";
        answer(p, "labelSelector=group%3Dg1%2Cbudget%3D100", NULL, &ans);
        CHECK_INT(ans.status, 200);
        CHECK_INT(ans.values.n == 1 ? ans.values.items[0].value : -1, 100 - 35);
        kos_answer_clear(&ans);
        answer(p, "labelSelector=group%3Dg1%2Cbudget%3D30", NULL, &ans);
        CHECK_INT(ans.values.n == 1 ? ans.values.items[0].value : -1, 0); /* over budget */
        kos_answer_clear(&ans);
        answer(p, "labelSelector=group%3Dg1", NULL, &ans); /* the default budget, 1000 here */
        CHECK_INT(ans.values.n == 1 ? ans.values.items[0].value : -1, 1000 - 35);
        kos_answer_clear(&ans);
        answer(p, "labelSelector=group%3Dg1%2Cbudget%3D0", NULL, &ans);
        CHECK_INT(ans.status, 400);
        kos_answer_clear(&ans);
        answer(p, "labelSelector=group%3Dg1%2Cbudget%3Dlots", NULL, &ans);
        CHECK_INT(ans.status, 400);
        kos_answer_clear(&ans);
}

int main(void)
{
        test_kubeconfig_good();
        test_kubeconfig_bad();
        test_pods_from_kubernetes();
        test_workload_annotation();
        test_headroom();
        return check_result("kube_inputs");
}
