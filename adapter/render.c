/* JSON rendering of metric lists, discovery documents and Status objects (see render.h).
 * Built with jansson's _new setters so a failed allocation never leaks a half-built tree. */
#include "render.h"
#include "xalloc.h"
#include "quantity.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

kos_value_t *kos_values_add(kos_values_t *v)
{
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 8;
                v->items = kos_xrealloc(v->items, cap * sizeof(*v->items));
                v->cap = cap;
        }
        kos_value_t *it = &v->items[v->n++];
        memset(it, 0, sizeof(*it));
        return it;
}

void kos_values_clear(kos_values_t *v)
{
        free(v->items);
        memset(v, 0, sizeof(*v));
}

void kos_render_time(int64_t ms, char *buf, size_t size)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *dump(json_t *root, size_t *len)
{
        if (!root)
                return NULL;
        char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(root);
        if (s && len)
                *len = strlen(s);
        return s;
}

static json_t *list_head(const char *kind, const char *api_version)
{
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(kind));
        json_object_set_new(o, "apiVersion", json_string(api_version));
        json_object_set_new(o, "metadata", json_object());
        return o;
}

static json_t *quantity(const kos_value_t *it)
{
        char q[64];
        if (kos_quantity_format(it->value, it->scale, q, sizeof(q)) < 0)
                snprintf(q, sizeof(q), "0");
        return json_string(q);
}

static json_t *timestamp(int64_t ms)
{
        char ts[32];
        kos_render_time(ms, ts, sizeof(ts));
        return json_string(ts);
}

static json_t *selector_json(const kos_selector_t *sel)
{
        char buf[16384];
        if (!sel || kos_selector_to_json(sel, buf, sizeof(buf)) < 0)
                return json_null();
        json_t *j = json_loads(buf, 0, NULL);
        return j ? j : json_null();
}

char *kos_render_metric_list(kos_api_t api, const kos_values_t *v,
                             const kos_selector_t *metric_selector, size_t *len)
{
        int beta2 = api == KOS_API_CUSTOM_V1BETA2;
        json_t *root = list_head("MetricValueList", kos_api_group_version(api));
        json_t *items = json_array();
        for (size_t i = 0; i < v->n; i++) {
                const kos_value_t *it = &v->items[i];
                json_t *obj = json_object();
                json_object_set_new(obj, "kind", json_string(it->kind));
                if (it->namespace_[0])
                        json_object_set_new(obj, "namespace", json_string(it->namespace_));
                json_object_set_new(obj, "name", json_string(it->name));
                json_object_set_new(obj, "apiVersion", json_string(it->api_version));
                json_t *item = json_object();
                json_object_set_new(item, "describedObject", obj);
                if (beta2) {
                        json_t *m = json_object();
                        json_object_set_new(m, "name", json_string(it->metric));
                        json_object_set_new(m, "selector", selector_json(metric_selector));
                        json_object_set_new(item, "metric", m);
                        json_object_set_new(item, "timestamp", timestamp(it->timestamp_ms));
                        json_object_set_new(item, "value", quantity(it));
                } else {
                        json_object_set_new(item, "metricName", json_string(it->metric));
                        json_object_set_new(item, "timestamp", timestamp(it->timestamp_ms));
                        json_object_set_new(item, "value", quantity(it));
                        json_object_set_new(item, "selector", selector_json(metric_selector));
                }
                json_array_append_new(items, item);
        }
        json_object_set_new(root, "items", items);
        return dump(root, len);
}

char *kos_render_external_list(const kos_values_t *v, size_t *len)
{
        json_t *root = list_head("ExternalMetricValueList", "external.metrics.k8s.io/v1beta1");
        json_t *items = json_array();
        for (size_t i = 0; i < v->n; i++) {
                const kos_value_t *it = &v->items[i];
                json_t *item = json_object();
                json_object_set_new(item, "metricName", json_string(it->metric));
                json_t *labels = json_object();
                if (it->label_group[0])
                        json_object_set_new(labels, "group", json_string(it->label_group));
                if (it->label_topic[0])
                        json_object_set_new(labels, "topic", json_string(it->label_topic));
                json_object_set_new(item, "metricLabels", labels);
                json_object_set_new(item, "timestamp", timestamp(it->timestamp_ms));
                json_object_set_new(item, "value", quantity(it));
                json_array_append_new(items, item);
        }
        json_object_set_new(root, "items", items);
        return dump(root, len);
}

char *kos_render_status(int code, const char *reason, const char *message, size_t *len)
{
        json_t *root = list_head("Status", "v1");
        json_object_set_new(root, "status", json_string("Failure"));
        /* json_string refuses invalid UTF-8; messages may quote client bytes. */
        json_t *msg = json_string(message);
        if (!msg)
                msg = json_string("(message not valid UTF-8)");
        json_object_set_new(root, "message", msg);
        json_object_set_new(root, "reason", json_string(reason));
        json_object_set_new(root, "code", json_integer(code));
        return dump(root, len);
}

char *kos_render_resource_list(kos_api_t api, const char *const *names, size_t n, size_t *len)
{
        int external = api == KOS_API_EXTERNAL_V1BETA1;
        json_t *root = json_object();
        json_object_set_new(root, "kind", json_string("APIResourceList"));
        json_object_set_new(root, "apiVersion", json_string("v1"));
        json_object_set_new(root, "groupVersion", json_string(kos_api_group_version(api)));
        json_t *res = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *r = json_object();
                json_object_set_new(r, "name", json_string(names[i]));
                json_object_set_new(r, "singularName", json_string(""));
                /* namespaces/<metric> describes the namespace itself: cluster-scoped. */
                int namespaced = external || strncmp(names[i], "namespaces/", 11) != 0;
                json_object_set_new(r, "namespaced", json_boolean(namespaced));
                json_object_set_new(
                    r, "kind",
                    json_string(external ? "ExternalMetricValueList" : "MetricValueList"));
                json_t *verbs = json_array();
                json_array_append_new(verbs, json_string("get"));
                json_object_set_new(r, "verbs", verbs);
                json_array_append_new(res, r);
        }
        json_object_set_new(root, "resources", res);
        return dump(root, len);
}

static json_t *gv(const char *group, const char *version)
{
        char buf[128];
        snprintf(buf, sizeof(buf), "%s/%s", group, version);
        json_t *o = json_object();
        json_object_set_new(o, "groupVersion", json_string(buf));
        json_object_set_new(o, "version", json_string(version));
        return o;
}

static json_t *api_group(const char *group)
{
        json_t *g = json_object();
        json_object_set_new(g, "name", json_string(group));
        json_t *versions = json_array();
        const char *preferred;
        if (strcmp(group, "custom.metrics.k8s.io") == 0) {
                json_array_append_new(versions, gv(group, "v1beta2"));
                json_array_append_new(versions, gv(group, "v1beta1"));
                preferred = "v1beta2";
        } else {
                json_array_append_new(versions, gv(group, "v1beta1"));
                preferred = "v1beta1";
        }
        json_object_set_new(g, "versions", versions);
        json_object_set_new(g, "preferredVersion", gv(group, preferred));
        return g;
}

char *kos_render_api_group_list(size_t *len)
{
        json_t *root = json_object();
        json_object_set_new(root, "kind", json_string("APIGroupList"));
        json_object_set_new(root, "apiVersion", json_string("v1"));
        json_t *groups = json_array();
        json_array_append_new(groups, api_group("custom.metrics.k8s.io"));
        json_array_append_new(groups, api_group("external.metrics.k8s.io"));
        json_object_set_new(root, "groups", groups);
        return dump(root, len);
}

char *kos_render_api_group(const char *group, size_t *len)
{
        if (strcmp(group, "custom.metrics.k8s.io") != 0 &&
            strcmp(group, "external.metrics.k8s.io") != 0)
                return NULL;
        json_t *root = json_object();
        json_object_set_new(root, "kind", json_string("APIGroup"));
        json_object_set_new(root, "apiVersion", json_string("v1"));
        json_t *g = api_group(group);
        json_object_update(root, g);
        json_decref(g);
        return dump(root, len);
}

void kos_render_object_kind(const char *resource, const char *group, char *kind, size_t kind_size,
                            char *api_version, size_t av_size)
{
        static const struct {
                const char *resource, *group, *kind, *api_version;
        } known[] = {
            {"pods", "", "Pod", "v1"},
            {"namespaces", "", "Namespace", "v1"},
            {"services", "", "Service", "v1"},
            {"nodes", "", "Node", "v1"},
            {"deployments", "apps", "Deployment", "apps/v1"},
            {"statefulsets", "apps", "StatefulSet", "apps/v1"},
            {"replicasets", "apps", "ReplicaSet", "apps/v1"},
            {"daemonsets", "apps", "DaemonSet", "apps/v1"},
            {"jobs", "batch", "Job", "batch/v1"},
        };
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (strcmp(known[i].resource, resource) == 0 &&
                    strcmp(known[i].group, group) == 0) {
                        snprintf(kind, kind_size, "%s", known[i].kind);
                        snprintf(api_version, av_size, "%s", known[i].api_version);
                        return;
                }
        /* Unknown resource: "widgets" -> "Widget"; the HPA reads only name and value. */
        snprintf(kind, kind_size, "%s", resource);
        size_t n = strlen(kind);
        if (n > 1 && kind[n - 1] == 's')
                kind[n - 1] = '\0';
        kind[0] = (char)toupper((unsigned char)kind[0]);
        if (group[0])
                snprintf(api_version, av_size, "%s/v1", group);
        else
                snprintf(api_version, av_size, "v1");
}
