/* Debug view rendering (see debugview.h). Built with jansson's _new setters so a failed
 * allocation anywhere leaves nothing behind. */
#include "debugview.h"
#include "xalloc.h"
#include "derived.h"
#include "groupparts.h"
#include "rates.h"
#include "render.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *dump(json_t *doc, size_t *len)
{
        char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(doc);
        if (len)
                *len = s ? strlen(s) : 0;
        return s;
}

static json_t *time_json(int64_t wall_ms)
{
        char buf[32];
        kos_render_time(wall_ms, buf, sizeof(buf));
        return json_string(buf);
}

/* Names come from Kafka: one that is not valid UTF-8 is shown with '?' for each byte outside
 * printable ASCII instead of being dropped. */
static json_t *text_json(const char *s)
{
        if (!s)
                return json_null();
        json_t *j = json_string(s);
        if (j)
                return j;
        size_t n = strlen(s) + 1;
        char *buf = kos_xmalloc(n);
        if (!buf)
                return NULL;
        kos_gp_printable(buf, n, s);
        j = json_string(buf);
        free(buf);
        return j;
}

/* Unknown (< 0) is null, never a made-up 0. */
static json_t *rate_json(double v)
{
        return v < 0 ? json_null() : json_real(round(v * 1000.0) / 1000.0);
}

static json_t *offset_json(int64_t v)
{
        return v < 0 ? json_null() : json_integer(v);
}

static json_t *group_summary(const kos_group_lag_t *g, const kos_snapshot_t *snap)
{
        json_t *o = json_object();
        int64_t lag = kos_group_lag_sum(g, NULL, NULL);
        json_object_set_new(o, "group", text_json(g->group_id));
        json_object_set_new(o, "state", text_json(g->state));
        json_object_set_new(o, "groupStatus",
                            snap->has_history ? json_string(kos_status_name(g->status))
                                              : json_null());
        json_object_set_new(o, "groupStatusCode", json_integer(snap->has_history ? g->status : 0));
        json_object_set_new(o, "lag", offset_json(lag));
        json_object_set_new(o, "stuckPartitions", json_integer((json_int_t)g->n_stuck));
        return o;
}

char *kos_debug_groups_json(const kos_snapshot_t *snap, size_t *len)
{
        json_t *doc = json_object(), *arr = json_array();
        for (size_t i = 0; i < snap->n_groups; i++)
                json_array_append_new(arr, group_summary(&snap->groups[i], snap));
        json_object_set_new(doc, "snapshotTime", time_json(snap->taken_ms));
        json_object_set_new(doc, "groups", arr);
        return dump(doc, len);
}

static json_t *part_json(const kos_group_lag_t *g, const kos_part_lag_t *p, int history)
{
        json_t *o = json_object();
        json_object_set_new(o, "topic", text_json(p->topic));
        json_object_set_new(o, "partition", json_integer(p->partition));
        json_object_set_new(o, "committed", offset_json(p->committed));
        json_object_set_new(o, "end", offset_json(p->end));
        json_object_set_new(o, "logStart", offset_json(p->log_start));
        json_object_set_new(o, "lag", offset_json(p->lag));
        const kos_member_t *m =
            p->member >= 0 && (size_t)p->member < g->n_members ? &g->members[p->member] : NULL;
        json_object_set_new(o, "owner", m ? text_json(m->client_id) : json_null());
        if (!history)
                return o;
        json_object_set_new(o, "status", json_string(kos_status_name(p->status)));
        json_object_set_new(o, "stuck", json_boolean(p->stuck));
        json_object_set_new(o, "unchangedRefreshes", json_integer(p->unchanged));
        json_object_set_new(o, "produceRate", rate_json(p->produce_rate));
        json_object_set_new(o, "consumeRate", rate_json(p->consume_rate));
        json_t *w = json_array();
        for (size_t i = 0; i < p->n_window; i++) {
                json_t *c = json_object();
                json_object_set_new(c, "offset", json_integer(p->window[i].offset));
                json_object_set_new(c, "lag", json_integer(p->window[i].lag));
                json_object_set_new(c, "time", time_json(p->window[i].wall_ms));
                json_array_append_new(w, c);
        }
        json_object_set_new(o, "window", w);
        return o;
}

char *kos_debug_group_json(const kos_snapshot_t *snap, const kos_group_lag_t *g, size_t *len)
{
        json_t *doc = group_summary(g, snap);
        json_object_set_new(doc, "snapshotTime", time_json(snap->taken_ms));
        json_object_set_new(doc, "rateWindowSeconds",
                            json_real((double)snap->rate_window_ms / 1000.0));
        if (snap->has_history) {
                kos_derived_acc_t a;
                kos_derived_init(&a);
                for (size_t i = 0; i < g->n_parts; i++)
                        kos_derived_add(&a, &g->parts[i], 1);
                int known = a.n_rates > 0 || a.n_parts == 0;
                json_object_set_new(doc, "produceRate", rate_json(known ? a.produce : -1));
                json_object_set_new(doc, "consumeRate", rate_json(known ? a.consume : -1));
                /* JSON has no infinity: a group that does not gain has null and gaining false */
                double t = known ? kos_drain_seconds(a.lag, a.consume, a.produce, INFINITY) : -1;
                json_object_set_new(doc, "timeToDrainSeconds",
                                    t < 0 || isinf(t) ? json_null() : rate_json(t));
                json_object_set_new(doc, "gaining",
                                    known && a.lag >= 0 ? json_boolean(a.lag == 0 || !isinf(t))
                                                        : json_null());
        }
        json_t *members = json_array();
        for (size_t i = 0; i < g->n_members; i++) {
                json_t *m = json_object();
                json_object_set_new(m, "memberId", text_json(g->members[i].member_id));
                json_object_set_new(m, "clientId", text_json(g->members[i].client_id));
                json_object_set_new(m, "host", text_json(g->members[i].host));
                json_array_append_new(members, m);
        }
        json_object_set_new(doc, "members", members);
        json_t *parts = json_array();
        for (size_t i = 0; i < g->n_parts; i++)
                json_array_append_new(parts, part_json(g, &g->parts[i], snap->has_history));
        json_object_set_new(doc, "partitions", parts);
        return dump(doc, len);
}
