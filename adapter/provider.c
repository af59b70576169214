/* Request + snapshot → values (see provider.h). The rules, in order:
 *   1. no snapshot, or one older than the staleness bound → 503 (never an old or zero value);
 *   2. the consumer group: metricLabelSelector group=<id> (external: labelSelector), else the
 *      mapping file's first matching rule, else 404 naming what to configure;
 *   3. partitions: those of the group whose {group, topic} labels the selector admits and the
 *      rule's topic list allows; a partition whose lag is unknown makes the answer 503;
 *   4. the selector's scaling parameters (scaling.h: lagThreshold, topicRegex, ...) shape the
 *      value; a bad one is a 400 before anything else. */
#include "provider.h"
#include "xalloc.h"
#include "derived.h"

#include "scaling.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        const char *group;
        const char *topic;
        const kos_selector_t *sel; /* the request's own selector, for its parameters */
} series_labels_t;

static const char *series_get(void *opaque, const char *key)
{
        const series_labels_t *l = opaque;
        if (strcmp(key, "group") == 0)
                return l->group;
        if (strcmp(key, "topic") == 0)
                return l->topic;
        /* budget=, lagThreshold=, ... are parameters (scaling.h), not series labels: they
         * always "match" */
        if (kos_scaling_is_param(key) || strcmp(key, KOS_PARAM_EXCLUDE_STUCK) == 0)
                return kos_selector_equals_value(l->sel, key);
        return NULL;
}

void kos_topic_metric_suffix(const char *topic, char *out, size_t size)
{
        size_t i = 0;
        for (; topic[i] && i + 1 < size; i++) {
                unsigned char c = (unsigned char)tolower((unsigned char)topic[i]);
                out[i] = (char)(isalnum(c) ? c : '_');
        }
        out[i] = '\0';
}

static void fail(kos_answer_t *ans, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(kos_answer_t *ans, int status, const char *reason, const char *fmt, ...)
{
        ans->status = status;
        snprintf(ans->reason, sizeof(ans->reason), "%s", reason);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ans->message, sizeof(ans->message), fmt, ap);
        va_end(ap);
}

void kos_answer_clear(kos_answer_t *ans)
{
        kos_values_clear(&ans->values);
}

/* Does this partition belong to the series the request selects? */
static int part_selected(const kos_part_lag_t *p, const char *group, const kos_selector_t *sel,
                         const kos_mapping_rule_t *rule)
{
        if (rule && !kos_mapping_rule_has_topic(rule, p->topic))
                return 0;
        series_labels_t l = {group, p->topic, sel};
        return kos_selector_matches(sel, series_get, &l);
}

typedef struct {
        int64_t lag;          /* sum, -1 unknown */
        int64_t weighted_lag; /* sum of lag x topic weight (scaling.h), rounded */
        int64_t age_ms;       /* max age of the oldest unconsumed record, -1 unknown */
        size_t n_parts;
        size_t n_lagging;    /* partitions with lag > 0 */
        kos_derived_acc_t d; /* rates, stuck partitions, status */
} agg_t;

static int64_t sat_add(int64_t a, int64_t b)
{
        int64_t r;
        return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* member < -2: all partitions; member == -1: unassigned only; >= 0: that member's. The
 * request's scaling parameters (sc, may be NULL) choose topics (topicRegex), the lag of
 * uncommitted partitions (offsetResetPolicy) and the weights. */
static agg_t aggregate(const kos_group_lag_t *g, const kos_selector_t *sel, const kos_scaling_t *sc,
                       const kos_mapping_rule_t *rule, const char *only_topic, int member,
                       int64_t now_ms)
{
        agg_t a = {0, 0, 0, 0, 0, {0}};
        int64_t weighted_milli = 0;
        const char *regex_topic = NULL; /* parts are sorted by topic: one regexec per topic */
        int regex_ok = 1;
        int exclude = sc && sc->exclude_stuck;
        kos_derived_init(&a.d);
        for (size_t i = 0; i < g->n_parts; i++) {
                const kos_part_lag_t *p = &g->parts[i];
                if (member > -2 && p->member != member)
                        continue;
                if (only_topic && strcmp(p->topic, only_topic) != 0)
                        continue;
                if (!regex_topic || strcmp(regex_topic, p->topic) != 0) {
                        regex_topic = p->topic;
                        regex_ok = kos_scaling_topic_selected(sc, p->topic);
                }
                if (!regex_ok || !part_selected(p, g->group_id, sel, rule))
                        continue;
                int64_t lag = kos_scaling_part_lag(sc, p);
                a.n_parts++;
                int counted = !(exclude && p->stuck);
                kos_derived_add(&a.d, p, counted);
                if (!counted)
                        continue; /* excludePersistentLag=true: adding replicas won't help it */
                if (lag < 0 || a.lag < 0) {
                        a.lag = -1;
                } else {
                        int64_t w;
                        a.lag = sat_add(a.lag, lag);
                        a.n_lagging += lag > 0;
                        if (__builtin_mul_overflow(lag, kos_scaling_weight_milli(sc, p->topic), &w))
                                w = INT64_MAX;
                        weighted_milli = sat_add(weighted_milli, w);
                }
                if (lag == 0)
                        continue;
                int64_t head_ts = p->head_ts_ms;
                if (lag < 0 || head_ts < 0 || a.age_ms < 0) {
                        a.age_ms = -1;
                } else if (now_ms - head_ts > a.age_ms) {
                        a.age_ms = now_ms - head_ts;
                }
        }
        a.weighted_lag = weighted_milli / 1000 + (weighted_milli % 1000 >= 500);
        return a;
}

/* Sets the item's value for `metric` from a; 0 on success, -1 (answer set to 503) if unknown.
 * kafka_consumergroup_lag is the weighted lag, capped and activated by sc (scaling.h). */
static int set_value(kos_answer_t *ans, kos_value_t *it, const char *metric, agg_t a,
                     const char *group, const kos_scaling_t *sc, const kos_snapshot_t *snap)
{
        if (kos_derived_is_metric(metric)) {
                char msg[256];
                if (kos_derived_value(&a.d, snap, metric, &it->value, &it->scale, msg,
                                      sizeof(msg)) == -1) {
                        fail(ans, 503, "ServiceUnavailable", "group %s: %s", group, msg);
                        return -1;
                }
        } else if (strcmp(metric, KOS_METRIC_GROUP_LAG_SEC) == 0) {
                if (a.age_ms < 0) {
                        fail(ans, 503, "ServiceUnavailable",
                             "the age of the oldest unconsumed record of group %s is not known "
                             "yet (its record could not be read); retry shortly",
                             group);
                        return -1;
                }
                it->value = a.age_ms < 0 ? 0 : a.age_ms;
                it->scale = 3;
        } else {
                if (a.lag < 0) {
                        fail(ans, 503, "ServiceUnavailable",
                             "the lag of group %s is unknown: an end offset could not be read",
                             group);
                        return -1;
                }
                it->value =
                    sc ? kos_scaling_value(sc, a.weighted_lag, a.n_parts, a.n_lagging) : a.lag;
                it->scale = 0;
        }
        return 0;
}

static const char *topic_of_metric(const kos_group_lag_t *g, const char *metric)
{
        size_t plen = strlen(KOS_METRIC_TOPIC_PREFIX);
        if (strncmp(metric, KOS_METRIC_TOPIC_PREFIX, plen) != 0)
                return NULL;
        for (size_t i = 0; i < g->n_parts; i++) {
                char suffix[256];
                kos_topic_metric_suffix(g->parts[i].topic, suffix, sizeof(suffix));
                if (strcmp(suffix, metric + plen) == 0)
                        return g->parts[i].topic;
        }
        return NULL;
}

static int is_group_metric(const char *m)
{
        return strcmp(m, KOS_METRIC_GROUP_LAG) == 0 || strcmp(m, KOS_METRIC_GROUP_LAG_SEC) == 0 ||
               kos_derived_is_metric(m);
}

static int is_pod_metric(const char *m)
{
        return strcmp(m, KOS_METRIC_CONSUMER_LAG) == 0 ||
               strncmp(m, KOS_METRIC_TOPIC_PREFIX, strlen(KOS_METRIC_TOPIC_PREFIX)) == 0;
}

static void full_resource(const kos_request_t *req, char *out, size_t size)
{
        if (req->resource_group[0])
                snprintf(out, size, "%s.%s", req->resource, req->resource_group);
        else
                snprintf(out, size, "%s", req->resource);
}

static void fill_object(kos_value_t *it, const kos_request_t *req, const char *name,
                        int64_t taken_ms)
{
        kos_render_object_kind(req->resource, req->resource_group, it->kind, sizeof(it->kind),
                               it->api_version, sizeof(it->api_version));
        snprintf(it->namespace_, sizeof(it->namespace_), "%s", req->namespace_);
        snprintf(it->name, sizeof(it->name), "%s", name);
        snprintf(it->metric, sizeof(it->metric), "%s", req->metric);
        it->timestamp_ms = taken_ms;
}

/* A rule built from a workload's kos.io annotations, so topic lists work the same way. */
typedef struct {
        kos_mapping_rule_t rule;
        char *topics[65];
        char buf[1024];
} annotated_rule_t;

static const kos_mapping_rule_t *annotated(const kos_provider_extra_t *x, annotated_rule_t *ar)
{
        if (!x || !x->annotated_group || !x->annotated_group[0])
                return NULL;
        memset(ar, 0, sizeof(*ar));
        ar->rule.group = (char *)(uintptr_t)x->annotated_group; /* the rule is only read */
        if (x->annotated_topics && x->annotated_topics[0]) {
                snprintf(ar->buf, sizeof(ar->buf), "%s", x->annotated_topics);
                int n = 0;
                char *save = NULL;
                for (char *t = strtok_r(ar->buf, ", ", &save); t && n < 64;
                     t = strtok_r(NULL, ", ", &save))
                        ar->topics[n++] = t;
                ar->rule.topics = n ? ar->topics : NULL;
        }
        return &ar->rule;
}

/* Finds the group for a described object, in the documented order: metricLabelSelector
 * group=, the workload's kos.io/consumer-group annotation, the mapping file; 404 with
 * guidance when none applies. */
static const kos_group_lag_t *resolve(const kos_provider_conf_t *pc, const kos_snapshot_t *snap,
                                      const kos_request_t *req, const char *name,
                                      const kos_provider_extra_t *extra, annotated_rule_t *ar,
                                      const kos_mapping_rule_t **rule, kos_answer_t *ans)
{
        char res[512];
        full_resource(req, res, sizeof(res));
        const char *group = kos_selector_equals_value(req->metric_selector, "group");
        *rule = NULL;
        if (!group && (*rule = annotated(extra, ar)))
                group = (*rule)->group;
        if (!group) {
                const char *ns = req->kind == KOS_REQ_OBJECT && !req->namespace_[0] &&
                                         strcmp(req->resource, "namespaces") == 0
                                     ? req->name
                                     : req->namespace_;
                *rule = kos_mapping_find(pc->mapping, ns, res, name);
                if (!*rule) {
                        fail(ans, 404, "NotFound",
                             "the server could not find the metric %s for %s %s: no consumer "
                             "group is mapped to it (add a rule to the mapping file or select "
                             "one with metricLabelSelector=group=<id>)",
                             req->metric, res, name);
                        return NULL;
                }
                group = (*rule)->group;
        }
        const kos_group_lag_t *g = kos_snapshot_group(snap, group);
        if (!g)
                fail(ans, 404, "NotFound",
                     "the server could not find the metric %s for %s %s: consumer group %s does "
                     "not exist in Kafka",
                     req->metric, res, name, group);
        return g;
}

/* Lag of the partitions held by the members whose client.id is `pod` (several members may
 * share one). 0 with *found = 0 when no member runs there; -1 when a lag is unknown. */
static int pod_lag(const kos_group_lag_t *g, const kos_request_t *req, const kos_scaling_t *sc,
                   const kos_mapping_rule_t *rule, const char *topic, const char *pod,
                   int64_t now_ms, int64_t *sum, int *found)
{
        *sum = 0;
        *found = 0;
        for (size_t m = 0; m < g->n_members; m++) {
                if (strcmp(g->members[m].client_id, pod) != 0)
                        continue;
                agg_t a = aggregate(g, req->metric_selector, sc, rule, topic, (int)m, now_ms);
                if (a.lag < 0)
                        return -1;
                *sum += a.lag;
                *found = 1;
        }
        return 0;
}

static const kos_pod_t *find_pod(const kos_pod_list_t *l, const char *name)
{
        for (size_t i = 0; l && i < l->n; i++)
                if (strcmp(l->pods[i].name, name) == 0)
                        return &l->pods[i];
        return NULL;
}

static void answer_object(const kos_provider_conf_t *pc, const kos_snapshot_t *snap, int64_t now_ms,
                          const kos_request_t *req, const kos_scaling_t *sc,
                          const kos_provider_extra_t *extra, kos_answer_t *ans)
{
        const kos_mapping_rule_t *rule;
        int pods = strcmp(req->resource, "pods") == 0 && !req->resource_group[0];
        if (pods ? !is_pod_metric(req->metric) : !is_group_metric(req->metric)) {
                char res[512];
                full_resource(req, res, sizeof(res));
                fail(ans, 404, "NotFound", "the server could not find the metric %s for %s",
                     req->metric, res);
                return;
        }
        annotated_rule_t ar;
        const kos_group_lag_t *g = resolve(pc, snap, req, req->name, extra, &ar, &rule, ans);
        if (!g)
                return;
        if (!pods) {
                agg_t a = aggregate(g, req->metric_selector, sc, rule, NULL, -3, now_ms);
                if (a.n_parts == 0 && g->n_parts > 0) {
                        char res[512];
                        full_resource(req, res, sizeof(res));
                        fail(ans, 404, "NotFound",
                             "the server could not find the metric %s for %s %s: no partition of "
                             "group %s matches the selector and the mapping's topics",
                             req->metric, res, req->name, g->group_id);
                        return;
                }
                kos_value_t *it = kos_values_add(&ans->values);
                fill_object(it, req, req->name, snap->taken_ms);
                if (set_value(ans, it, req->metric, a, g->group_id, sc, snap) == 0)
                        ans->status = 200;
                return;
        }
        /* A pod: the partitions held by the member whose client.id is the pod's name. */
        const char *topic = NULL;
        if (strcmp(req->metric, KOS_METRIC_CONSUMER_LAG) != 0 &&
            !(topic = topic_of_metric(g, req->metric))) {
                fail(ans, 404, "NotFound", "the server could not find the metric %s for pods %s",
                     req->metric, req->name);
                return;
        }
        int64_t sum;
        int found;
        if (pod_lag(g, req, sc, rule, topic, req->name, now_ms, &sum, &found) == -1) {
                fail(ans, 503, "ServiceUnavailable", "the lag of group %s is unknown", g->group_id);
                return;
        }
        if (extra && extra->pods) {
                /* Kubernetes knows the pod: one whose consumer holds nothing has lag 0. */
                if (!find_pod(extra->pods, req->name)) {
                        fail(ans, 404, "NotFound", "pods \"%s\" not found in namespace %s",
                             req->name, req->namespace_);
                        return;
                }
        } else if (!found) {
                fail(ans, 404, "NotFound",
                     "the server could not find the metric %s for pods %s: no member of group %s "
                     "has client.id %s",
                     req->metric, req->name, g->group_id, req->name);
                return;
        }
        kos_value_t *it = kos_values_add(&ans->values);
        fill_object(it, req, req->name, snap->taken_ms);
        it->value = sum;
        ans->status = 200;
}

static void answer_wildcard(const kos_provider_conf_t *pc, const kos_snapshot_t *snap,
                            int64_t now_ms, const kos_request_t *req, const kos_scaling_t *sc,
                            const kos_provider_extra_t *extra, kos_answer_t *ans)
{
        int pods = strcmp(req->resource, "pods") == 0 && !req->resource_group[0];
        char res[512];
        full_resource(req, res, sizeof(res));
        if (pods ? !is_pod_metric(req->metric) : !is_group_metric(req->metric)) {
                fail(ans, 404, "NotFound", "the server could not find the metric %s for %s",
                     req->metric, res);
                return;
        }
        if (!pods) {
                /* Every object the mapping names in this namespace and resource. */
                for (size_t i = 0; pc->mapping && i < pc->mapping->n_rules; i++) {
                        const kos_mapping_rule_t *r = &pc->mapping->rules[i];
                        if (strcmp(r->resource, res) != 0 || strcmp(r->name, "*") == 0)
                                continue;
                        if (strcmp(r->namespace_, "*") != 0 &&
                            strcmp(r->namespace_, req->namespace_) != 0)
                                continue;
                        const kos_group_lag_t *g = kos_snapshot_group(snap, r->group);
                        if (!g)
                                continue;
                        agg_t a = aggregate(g, req->metric_selector, sc, r, NULL, -3, now_ms);
                        if (a.n_parts == 0 && g->n_parts > 0)
                                continue; /* the selector left nothing of this group */
                        kos_value_t *it = kos_values_add(&ans->values);
                        fill_object(it, req, r->name, snap->taken_ms);
                        if (set_value(ans, it, req->metric, a, g->group_id, sc, snap) == -1)
                                return;
                }
                ans->status = 200;
                return;
        }
        const kos_mapping_rule_t *rule;
        annotated_rule_t ar;
        const kos_group_lag_t *g = resolve(pc, snap, req, "*", extra, &ar, &rule, ans);
        if (!g)
                return;
        const char *topic = NULL;
        if (strcmp(req->metric, KOS_METRIC_CONSUMER_LAG) != 0 &&
            !(topic = topic_of_metric(g, req->metric))) {
                fail(ans, 404, "NotFound", "the server could not find the metric %s for pods",
                     req->metric);
                return;
        }
        if (extra && extra->pods) {
                /* One item per pod the HPA's labelSelector matches, never any other pod. */
                for (size_t i = 0; i < extra->pods->n; i++) {
                        const kos_pod_t *pod = &extra->pods->pods[i];
                        if (!kos_selector_matches(req->label_selector, kos_pod_label,
                                                  (void *)(uintptr_t)pod)) /* read only */
                                continue;
                        int64_t sum;
                        int found;
                        if (pod_lag(g, req, sc, rule, topic, pod->name, now_ms, &sum, &found) ==
                            -1) {
                                fail(ans, 503, "ServiceUnavailable",
                                     "the lag of group %s is unknown", g->group_id);
                                return;
                        }
                        kos_value_t *it = kos_values_add(&ans->values);
                        fill_object(it, req, pod->name, snap->taken_ms);
                        it->value = sum;
                }
                ans->status = 200;
                return;
        }
        /* Without Kubernetes: one item per distinct client.id (= pod name). */
        for (size_t m = 0; m < g->n_members; m++) {
                const char *cid = g->members[m].client_id;
                if (!cid[0])
                        continue;
                int seen = 0;
                for (size_t k = 0; k < m; k++)
                        seen |= strcmp(g->members[k].client_id, cid) == 0;
                if (seen)
                        continue;
                int64_t sum = 0;
                for (size_t k = m; k < g->n_members; k++) {
                        if (strcmp(g->members[k].client_id, cid) != 0)
                                continue;
                        agg_t a =
                            aggregate(g, req->metric_selector, sc, rule, topic, (int)k, now_ms);
                        if (a.lag < 0) {
                                fail(ans, 503, "ServiceUnavailable",
                                     "the lag of group %s is unknown", g->group_id);
                                return;
                        }
                        sum += a.lag;
                }
                kos_value_t *it = kos_values_add(&ans->values);
                fill_object(it, req, cid, snap->taken_ms);
                it->value = sum;
        }
        ans->status = 200;
}

static void answer_external(const kos_provider_conf_t *pc, const kos_snapshot_t *snap,
                            int64_t now_ms, const kos_request_t *req, const kos_scaling_t *sc,
                            kos_answer_t *ans)
{
        int headroom = strcmp(req->metric, KOS_METRIC_HEADROOM) == 0;
        if (!is_group_metric(req->metric) && !headroom) {
                fail(ans, 404, "NotFound",
                     "the server could not find the external metric %s (served: %s, %s, %s, "
                     "%s, %s, %s, %s, %s)",
                     req->metric, KOS_METRIC_GROUP_LAG, KOS_METRIC_GROUP_LAG_SEC,
                     KOS_METRIC_HEADROOM, KOS_METRIC_PRODUCE_RATE, KOS_METRIC_CONSUME_RATE,
                     KOS_METRIC_TIME_TO_DRAIN, KOS_METRIC_STUCK, KOS_METRIC_STATUS);
                return;
        }
        int64_t budget = pc->headroom_budget;
        const char *bsel = kos_selector_equals_value(req->metric_selector, "budget");
        if (headroom && bsel) {
                char *end;
                long long b = strtoll(bsel, &end, 10);
                if (*end || b <= 0) {
                        fail(ans, 400, "BadRequest",
                             "budget=%s: the budget must be a positive number of messages", bsel);
                        return;
                }
                budget = b;
        }
        const char *topic = kos_selector_equals_value(req->metric_selector, "topic");
        /* group=<id> (the usual HPA selector) needs one lookup, not a scan of all groups. */
        const char *only = kos_selector_equals_value(req->metric_selector, "group");
        const kos_group_lag_t *one = only ? kos_snapshot_group(snap, only) : NULL;
        size_t first = 0, end = snap->n_groups;
        if (only) {
                first = one ? (size_t)(one - snap->groups) : 0;
                end = one ? first + 1 : 0;
        }
        /* One item per group with selected partitions: the HPA sums External items, so a
         * selector naming one group yields exactly that group's lag. */
        for (size_t i = first; i < end; i++) {
                const kos_group_lag_t *g = &snap->groups[i];
                agg_t a = aggregate(g, req->metric_selector, sc, NULL, NULL, -3, now_ms);
                if (a.n_parts == 0) {
                        /* A group with no partitions yet matches only an explicit group= */
                        series_labels_t l = {g->group_id, NULL, req->metric_selector};
                        if (topic || !kos_selector_equals_value(req->metric_selector, "group") ||
                            !kos_selector_matches(req->metric_selector, series_get, &l))
                                continue;
                }
                kos_value_t *it = kos_values_add(&ans->values);
                snprintf(it->metric, sizeof(it->metric), "%s", req->metric);
                snprintf(it->label_group, sizeof(it->label_group), "%s", g->group_id);
                if (topic)
                        snprintf(it->label_topic, sizeof(it->label_topic), "%s", topic);
                it->timestamp_ms = snap->taken_ms;
                if (set_value(ans, it, headroom ? KOS_METRIC_GROUP_LAG : req->metric, a,
                              g->group_id, headroom ? NULL : sc, snap) == -1)
                        return;
                if (headroom)
                        it->value = it->value < budget ? budget - it->value : 0;
        }
        ans->status = 200;
}

void kos_provider_answer(const kos_provider_conf_t *pc, const kos_snapshot_t *snap, int64_t now_ms,
                         const char *last_error, const kos_request_t *req,
                         const kos_provider_extra_t *extra, kos_answer_t *ans)
{
        memset(ans, 0, sizeof(*ans));
        kos_scaling_t sc;
        char why[512];
        if (kos_scaling_parse(req->metric_selector, &sc, why, sizeof(why)) == -1) {
                fail(ans, 400, "BadRequest", "invalid metric selector: %s", why);
                return;
        }
        int exclude;
        char msg[256];
        if (kos_derived_exclude_param(req->metric_selector, &exclude, msg, sizeof(msg)) == -1) {
                kos_scaling_clear(&sc); /* a topicRegex compiled above */
                fail(ans, 400, "BadRequest", "%s", msg);
                return;
        }
        sc.exclude_stuck = exclude;
        if (!snap) {
                fail(ans, 503, "ServiceUnavailable",
                     "no lag snapshot yet: Kafka has not answered%s%s", last_error ? ": " : "",
                     last_error ? last_error : "");
                kos_scaling_clear(&sc);
                return;
        }
        int64_t age = now_ms - snap->taken_ms;
        if (age > pc->max_staleness_ms) {
                fail(ans, 503, "ServiceUnavailable",
                     "the lag snapshot is %.1f s old, over the %.1f s staleness bound%s%s",
                     (double)age / 1000.0, (double)pc->max_staleness_ms / 1000.0,
                     last_error && *last_error ? "; last refresh error: " : "",
                     last_error ? last_error : "");
                kos_scaling_clear(&sc);
                return;
        }
        switch (req->kind) {
        case KOS_REQ_OBJECT:
                answer_object(pc, snap, now_ms, req, &sc, extra, ans);
                break;
        case KOS_REQ_WILDCARD:
                answer_wildcard(pc, snap, now_ms, req, &sc, extra, ans);
                break;
        case KOS_REQ_EXTERNAL:
                answer_external(pc, snap, now_ms, req, &sc, ans);
                break;
        default:
                fail(ans, 404, "NotFound", "the server could not find the requested resource");
        }
        kos_scaling_clear(&sc);
        if (ans->status != 200)
                kos_values_clear(&ans->values);
}

static void names_add(char ***v, size_t *n, const char *s)
{
        for (size_t i = 0; i < *n; i++)
                if (strcmp((*v)[i], s) == 0)
                        return;
        *v = kos_xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[(*n)++] = kos_xstrdup(s);
}

char **kos_provider_discovery_names(const kos_provider_conf_t *pc, const kos_snapshot_t *snap,
                                    kos_api_t api, size_t *n)
{
        char **v = NULL;
        *n = 0;
        if (api == KOS_API_EXTERNAL_V1BETA1) {
                names_add(&v, n, KOS_METRIC_GROUP_LAG);
                names_add(&v, n, KOS_METRIC_GROUP_LAG_SEC);
                names_add(&v, n, KOS_METRIC_HEADROOM);
                for (size_t i = 0; i < KOS_DERIVED_METRICS; i++)
                        names_add(&v, n, kos_derived_metric(i));
                return v;
        }
        static const char *const objects[] = {"deployments.apps", "statefulsets.apps",
                                              "namespaces"};
        char buf[600];
        for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
                snprintf(buf, sizeof(buf), "%s/%s", objects[i], KOS_METRIC_GROUP_LAG);
                names_add(&v, n, buf);
                snprintf(buf, sizeof(buf), "%s/%s", objects[i], KOS_METRIC_GROUP_LAG_SEC);
                names_add(&v, n, buf);
                for (size_t d = 0; d < KOS_DERIVED_METRICS; d++) {
                        snprintf(buf, sizeof(buf), "%s/%s", objects[i], kos_derived_metric(d));
                        names_add(&v, n, buf);
                }
        }
        for (size_t i = 0; pc->mapping && i < pc->mapping->n_rules; i++) {
                const char *r = pc->mapping->rules[i].resource;
                if (strcmp(r, "pods") == 0)
                        continue;
                snprintf(buf, sizeof(buf), "%s/%s", r, KOS_METRIC_GROUP_LAG);
                names_add(&v, n, buf);
                snprintf(buf, sizeof(buf), "%s/%s", r, KOS_METRIC_GROUP_LAG_SEC);
                names_add(&v, n, buf);
                for (size_t d = 0; d < KOS_DERIVED_METRICS; d++) {
                        snprintf(buf, sizeof(buf), "%s/%s", r, kos_derived_metric(d));
                        names_add(&v, n, buf);
                }
        }
        names_add(&v, n, "pods/" KOS_METRIC_CONSUMER_LAG);
        for (size_t i = 0; snap && i < snap->n_groups; i++)
                for (size_t j = 0; j < snap->groups[i].n_parts; j++) {
                        /* parts are sorted by topic: one name per topic run, not per part */
                        const kos_part_lag_t *pp = snap->groups[i].parts;
                        if (j > 0 && strcmp(pp[j - 1].topic, pp[j].topic) == 0)
                                continue;
                        char suffix[256];
                        kos_topic_metric_suffix(snap->groups[i].parts[j].topic, suffix,
                                                sizeof(suffix));
                        snprintf(buf, sizeof(buf), "pods/%s%s", KOS_METRIC_TOPIC_PREFIX, suffix);
                        names_add(&v, n, buf);
                }
        return v;
}

void kos_provider_names_free(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}
