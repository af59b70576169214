/* Unit tests for adapter/history.c, derived.c and debugview.c over hand-built snapshots fed
 * refresh by refresh: stuck partitions (and excludePersistentLag in the provider's answers),
 * Burrow status from observed commits, rates and time to drain across counter resets, offset
 * rewinds, partition count changes and groups that come and go; an adversarial history
 * (offsets backwards, huge jumps, negative values); bad flag and selector values. */
#include "debugview.h"
#include "derived.h"
#include "history.h"
#include "provider.h"
#include "route.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-3)

typedef struct {
        const char *topic;
        int32_t partition;
        int64_t committed, end;
        int member;
} spec_t;

/* A snapshot of groups "g" (the specs) and, if other != 0, "h" (one partition). */
static kos_snapshot_t *snap_of(const spec_t *sp, size_t n, int other)
{
        kos_snapshot_t *s = kos_snapshot_new();
        s->groups = calloc(2, sizeof(*s->groups));
        kos_group_lag_t *g = &s->groups[s->n_groups++];
        g->group_id = strdup("g");
        g->state = strdup("Stable");
        g->parts = calloc(n ? n : 1, sizeof(*g->parts));
        g->members = calloc(1, sizeof(*g->members));
        g->members[0] = (kos_member_t){strdup("m-1"), strdup("pod-1"), strdup("/10.0.0.1")};
        g->n_members = 1;
        for (size_t i = 0; i < n; i++) {
                kos_part_lag_t *p = &g->parts[g->n_parts++];
                p->topic = strdup(sp[i].topic);
                p->partition = sp[i].partition;
                p->committed = sp[i].committed;
                p->end = sp[i].end;
                p->log_start = 0;
                p->lag = kos_part_lag_compute(p->committed, p->end, 0, KOS_NOCOMMIT_EARLIEST);
                p->head_ts_ms = -1;
                p->member = sp[i].member;
        }
        if (other) {
                g = &s->groups[s->n_groups++];
                g->group_id = strdup("h");
                g->state = strdup("Empty");
                g->parts = calloc(1, sizeof(*g->parts));
                g->parts[0] = (kos_part_lag_t){.topic = strdup("t"),
                                               .committed = 5,
                                               .end = 10,
                                               .lag = 5,
                                               .head_ts_ms = -1,
                                               .member = -1};
                g->n_parts = 1;
                g->members = calloc(1, sizeof(*g->members));
        }
        kos_snapshot_finish(s);
        return s;
}

static const kos_part_lag_t *part_of(const kos_snapshot_t *s, const char *group, const char *t,
                                     int32_t p)
{
        const kos_group_lag_t *g = kos_snapshot_group(s, group);
        return g ? kos_group_part(g, t, p) : NULL;
}

static kos_history_opts_t opts(void)
{
        kos_history_opts_t o;
        kos_history_opts_defaults(&o);
        o.stuck_refreshes = 3;
        o.status_window = 4;
        o.status_min_distance_ms = 0;
        o.rate_window_ms = 10000;
        o.drain_cap_ms = 600000;
        return o;
}

/* ---- stuck partitions -------------------------------------------------------------------- */

static void test_stuck(void)
{
        kos_history_opts_t o = opts();
        kos_history_t *h = kos_history_new(&o);
        kos_snapshot_t *s = NULL;
        /* t/0 wedged at 100 with a live owner; t/1 keeps up; t/2 wedged but nobody owns it;
         * t/3 owned, unmoved, without lag */
        for (int i = 0; i <= 4; i++) {
                kos_snapshot_unref(s);
                spec_t sp[] = {{"t", 0, 100, 200 + i * 10, 0},
                               {"t", 1, 100 + i * 10, 110 + i * 10, 0},
                               {"t", 2, 100, 200 + i * 10, -1},
                               {"t", 3, 100, 100, 0}};
                s = snap_of(sp, 4, 0);
                CHECK_INT(kos_history_update(h, s, 1000 + i * 1000, 0), 0);
                const kos_part_lag_t *p0 = part_of(s, "g", "t", 0);
                CHECK_INT(p0->unchanged, i);
                CHECK_INT(p0->stuck, i >= 3);
        }
        CHECK_INT(part_of(s, "g", "t", 1)->stuck, 0);
        CHECK_INT(part_of(s, "g", "t", 2)->stuck, 0);
        CHECK_INT(part_of(s, "g", "t", 3)->stuck, 0);
        CHECK_INT(kos_snapshot_group(s, "g")->n_stuck, 1);
        /* it moves: no longer stuck, the count starts over */
        kos_snapshot_unref(s);
        spec_t moved[] = {{"t", 0, 101, 250, 0}};
        s = snap_of(moved, 1, 0);
        kos_history_update(h, s, 6000, 0);
        CHECK_INT(part_of(s, "g", "t", 0)->stuck, 0);
        CHECK_INT(part_of(s, "g", "t", 0)->unchanged, 0);
        /* its owner leaves while it is wedged: the count starts over too */
        for (int i = 0; i < 4; i++) {
                kos_snapshot_unref(s);
                spec_t sp[] = {{"t", 0, 101, 260, i == 3 ? -1 : 0}};
                s = snap_of(sp, 1, 0);
                kos_history_update(h, s, 7000 + i * 1000, 0);
        }
        CHECK_INT(part_of(s, "g", "t", 0)->stuck, 0);
        kos_snapshot_unref(s);
        kos_history_destroy(h);
}

/* excludePersistentLag=true drops stuck partitions from lag and time to drain; the stuck
 * count is served either way; bad values are a 400. */
static kos_answer_t ans;

static int ask(const kos_snapshot_t *s, const char *metric, const char *selector)
{
        char path[256], query[512];
        snprintf(path, sizeof(path), "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/%s",
                 metric);
        snprintf(query, sizeof(query), "labelSelector=%s", selector);
        kos_request_t req;
        kos_route_error_t err;
        kos_answer_clear(&ans);
        if (kos_route_parse("GET", path, query, &req, &err) == -1)
                return -err.http_status;
        kos_provider_conf_t pc = {.max_staleness_ms = 10000, .headroom_budget = 1000};
        kos_provider_answer(&pc, s, s->taken_ms, NULL, &req, NULL, &ans);
        kos_request_clear(&req);
        return ans.status;
}

static int64_t value(void)
{
        return ans.values.n == 1 ? ans.values.items[0].value : -999;
}

static void test_exclude_persistent_lag(void)
{
        kos_history_opts_t o = opts();
        kos_history_t *h = kos_history_new(&o);
        kos_snapshot_t *s = NULL;
        for (int i = 0; i <= 3; i++) {
                kos_snapshot_unref(s);
                spec_t sp[] = {{"t", 0, 100, 1100 + i * 10, 0}, /* wedged, lag 1000+ */
                               {"t", 1, 50 + i * 20, 100 + i * 10, 0}};
                s = snap_of(sp, 2, 0);
                s->taken_ms = 5000;
                kos_history_update(h, s, 1000 + i * 1000, 0);
        }
        /* t/0: lag 1030, stuck. t/1: committed 110, end 130, lag 20; consume 20/s, produce 10/s */
        CHECK_INT(ask(s, "kafka_consumergroup_lag", "group%3Dg"), 200);
        CHECK_INT(value(), 1050);
        CHECK_INT(ask(s, "kafka_consumergroup_lag", "group%3Dg,excludePersistentLag%3Dtrue"), 200);
        CHECK_INT(value(), 20);
        CHECK_INT(ask(s, "kafka_consumergroup_lag", "group%3Dg,excludePersistentLag%3Dfalse"), 200);
        CHECK_INT(value(), 1050);
        CHECK_INT(ask(s, "kafka_consumergroup_stuck_partitions", "group%3Dg"), 200);
        CHECK_INT(value(), 1);
        CHECK_INT(
            ask(s, "kafka_consumergroup_stuck_partitions", "group%3Dg,excludePersistentLag%3Dtrue"),
            200);
        CHECK_INT(value(), 1); /* always visible */
        /* time to drain without the stuck partition: 20 / (20 - 10) = 2 s (milli units) */
        CHECK_INT(ask(s, "kafka_consumergroup_time_to_drain_seconds",
                      "group%3Dg,excludePersistentLag%3Dtrue"),
                  200);
        CHECK_INT(value(), 2000);
        CHECK_INT(ans.values.items[0].scale, 3);
        /* with it: produce 20/s, consume 20/s: not gaining -> the cap (600 s) */
        CHECK_INT(ask(s, "kafka_consumergroup_time_to_drain_seconds", "group%3Dg"), 200);
        CHECK_INT(value(), 600000);
        CHECK_INT(ask(s, "kafka_consumergroup_produce_rate", "group%3Dg"), 200);
        CHECK_INT(value(), 20000);
        CHECK_INT(ask(s, "kafka_consumergroup_consume_rate", "group%3Dg"), 200);
        CHECK_INT(value(), 20000);
        /* bad values of the parameter */
        static const char *const bad[] = {
            "group%3Dg,excludePersistentLag%3Dyes", "group%3Dg,excludePersistentLag%3DTRUE",
            "group%3Dg,excludePersistentLag%3D", "group%3Dg,excludePersistentLag!%3Dtrue",
            "group%3Dg,excludePersistentLag", "group%3Dg,excludePersistentLag+in+(true)",
            "group%3Dg,!excludePersistentLag",
            /* with a topicRegex compiled before the bad value: the 400 frees it (LeakSanitizer) */
            "group%3Dg,topicRegex%3DdC4q,excludePersistentLag%3Dmaybe"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                CHECK_INT(ask(s, "kafka_consumergroup_lag", bad[i]), 400);
                CHECK(strstr(ans.message, "excludePersistentLag") != NULL);
        }
        kos_answer_clear(&ans);
        kos_snapshot_unref(s);
        kos_history_destroy(h);
}

/* ---- status from observed commits ------------------------------------------------------ */

static kos_status_t status_after(kos_history_t *h, const spec_t *seq, size_t steps,
                                 int64_t extra_ms)
{
        kos_snapshot_t *s = NULL;
        for (size_t i = 0; i < steps; i++) {
                kos_snapshot_unref(s);
                s = snap_of(&seq[i], 1, 0);
                kos_history_update(h, s, 1000 + (int64_t)i * 1000 + (i + 1 == steps ? extra_ms : 0),
                                   0);
        }
        kos_status_t st = kos_snapshot_group(s, "g")->status;
        kos_snapshot_unref(s);
        return st;
}

static void test_status_from_history(void)
{
        kos_history_opts_t o = opts();
        /* owned, wedged, lagging: STALL once the window (4) is full, never before */
        kos_history_t *h = kos_history_new(&o);
        spec_t wedged[5];
        for (int i = 0; i < 5; i++)
                wedged[i] = (spec_t){"t", 0, 100, 200 + i, 0};
        CHECK_INT(status_after(h, wedged, 3, 0), KOS_STATUS_OK);
        kos_history_destroy(h);
        h = kos_history_new(&o);
        CHECK_INT(status_after(h, wedged, 4, 0), KOS_STATUS_ERR);
        kos_history_destroy(h);
        /* nobody owns it and it does not move: STOP as soon as its commit is older than its
         * window spans */
        h = kos_history_new(&o);
        spec_t orphan[3] = {{"t", 0, 100, 200, -1}, {"t", 0, 100, 210, -1}, {"t", 0, 100, 220, -1}};
        CHECK_INT(status_after(h, orphan, 3, 0), KOS_STATUS_ERR);
        kos_history_destroy(h);
        /* committed offset goes backwards: REWIND (ERR for the group) */
        h = kos_history_new(&o);
        spec_t rewind[4] = {{"t", 0, 100, 500, 0},
                            {"t", 0, 150, 510, 0},
                            {"t", 0, 20, 520, 0},
                            {"t", 0, 60, 530, 0}};
        CHECK_INT(status_after(h, rewind, 4, 0), KOS_STATUS_ERR);
        kos_history_destroy(h);
        /* moving but the lag never falls: WARN */
        h = kos_history_new(&o);
        spec_t slow[4] = {{"t", 0, 100, 200, 0},
                          {"t", 0, 110, 220, 0},
                          {"t", 0, 120, 240, 0},
                          {"t", 0, 130, 260, 0}};
        CHECK_INT(status_after(h, slow, 4, 0), KOS_STATUS_WARN);
        kos_history_destroy(h);
        /* catching up: OK */
        h = kos_history_new(&o);
        spec_t good[4] = {{"t", 0, 100, 200, 0},
                          {"t", 0, 150, 220, 0},
                          {"t", 0, 200, 240, 0},
                          {"t", 0, 240, 260, 0}};
        CHECK_INT(status_after(h, good, 4, 0), KOS_STATUS_OK);
        kos_history_destroy(h);
        /* min-distance: commits closer than it replace the newest, so 4 refreshes 1 s apart
         * with a 2 s min-distance give 2 entries */
        o.status_min_distance_ms = 2000;
        h = kos_history_new(&o);
        kos_snapshot_t *s = NULL;
        for (int i = 0; i < 4; i++) {
                kos_snapshot_unref(s);
                s = snap_of(&good[i], 1, 0);
                kos_history_update(h, s, 1000 + i * 1000, 0);
        }
        CHECK_INT(part_of(s, "g", "t", 0)->n_window, 2);
        CHECK_INT(part_of(s, "g", "t", 0)->window[1].offset, 240);
        CHECK_INT(part_of(s, "g", "t", 0)->window[1].t_ms, 3000); /* keeps the older time */
        kos_snapshot_unref(s);
        kos_history_destroy(h);
}

/* ---- rates across resets, partition count changes, groups that come and go --------------- */

static void test_rates_and_changes(void)
{
        kos_history_opts_t o = opts();
        kos_history_t *h = kos_history_new(&o);
        kos_snapshot_t *s = NULL;
        /* two partitions for 5 refreshes: produce 10+20/s, consume 15+25/s */
        for (int i = 0; i < 5; i++) {
                kos_snapshot_unref(s);
                spec_t sp[] = {{"t", 0, 1000 + i * 15, 2000 + i * 10, 0},
                               {"t", 1, 1000 + i * 25, 2000 + i * 20, 0}};
                s = snap_of(sp, 2, 1);
                kos_history_update(h, s, 1000 + i * 1000, 0);
        }
        CHECK(NEAR(part_of(s, "g", "t", 0)->produce_rate, 10));
        CHECK(NEAR(part_of(s, "g", "t", 1)->consume_rate, 25));
        CHECK_INT(ask(s, "kafka_consumergroup_time_to_drain_seconds", "group%3Dg"), 200);
        /* lag (2040-1060) + (2080-1100) = 1960; gain 40 - 30 = 10/s -> 196 s */
        CHECK_INT(value(), 196000);
        /* the topic gets a third partition, t/1's end offset goes back (topic re-created) and
         * t/0's commit is rewound */
        kos_snapshot_unref(s);
        spec_t sp2[] = {{"t", 0, 10, 2050, 0}, {"t", 1, 0, 5, 0}, {"t", 2, 0, 100, 0}};
        s = snap_of(sp2, 3, 1);
        kos_history_update(h, s, 6000, 0);
        CHECK(NEAR(part_of(s, "g", "t", 0)->produce_rate, 10)); /* its end moved on normally */
        CHECK(part_of(s, "g", "t", 0)->consume_rate < 0);       /* restarted: unknown */
        CHECK(part_of(s, "g", "t", 1)->produce_rate < 0);
        CHECK(part_of(s, "g", "t", 2)->produce_rate < 0); /* new: one sample */
        /* no partition has both rates: unknown is a 503, never a made-up value */
        CHECK_INT(ask(s, "kafka_consumergroup_time_to_drain_seconds", "group%3Dg"), 503);
        CHECK_INT(ask(s, "kafka_consumergroup_produce_rate", "group%3Dg"), 503);
        /* stuck and status never need rates */
        CHECK_INT(ask(s, "kafka_consumergroup_stuck_partitions", "group%3Dg"), 200);
        kos_snapshot_unref(s);
        spec_t sp3[] = {{"t", 0, 30, 2060, 0}, {"t", 1, 5, 10, 0}, {"t", 2, 0, 110, 0}};
        s = snap_of(sp3, 3, 0); /* and group h is gone */
        kos_history_update(h, s, 7000, 0);
        CHECK(NEAR(part_of(s, "g", "t", 0)->consume_rate, 20));
        CHECK(NEAR(part_of(s, "g", "t", 1)->produce_rate, 5));
        CHECK(NEAR(part_of(s, "g", "t", 2)->produce_rate, 10));
        CHECK(part_of(s, "g", "t", 2)->consume_rate >= 0); /* 0 -> 0: known, 0/s */
        CHECK_INT(ask(s, "kafka_consumergroup_consume_rate", "group%3Dg,topic%3Dt"), 200);
        CHECK_INT(value(), 25000);
        /* h comes back: its history starts over */
        kos_snapshot_unref(s);
        s = snap_of(sp3, 3, 1);
        kos_history_update(h, s, 8000, 0);
        CHECK(part_of(s, "h", "t", 0)->produce_rate < 0);
        /* a snapshot without a history (history off or out of memory): 503, and the metric
         * listing in the error of an unknown metric names the new ones */
        kos_snapshot_unref(s);
        s = snap_of(sp3, 3, 0);
        CHECK_INT(ask(s, "kafka_consumergroup_status", "group%3Dg"), 503);
        CHECK_INT(ask(s, "kafka_consumergroup_nope", "group%3Dg"), 404);
        CHECK(strstr(ans.message, "kafka_consumergroup_time_to_drain_seconds") != NULL);
        kos_answer_clear(&ans);
        kos_snapshot_unref(s);
        kos_history_destroy(h);
}

/* Offsets an adversary (a rogue member committing, a broken broker) can produce: negative
 * commits other than -1, INT64_MAX, back and forth every refresh. Nothing crashes, no rate is
 * negative or infinite, a time to drain is never below 0 nor above the cap. */
static void test_adversarial_history(void)
{
        kos_history_opts_t o = opts();
        kos_history_t *h = kos_history_new(&o);
        static const int64_t commits[] = {5,         -7,        INT64_MAX, 0,  -1, INT64_MAX - 1,
                                          INT64_MAX, 3,         -100000,   12, 11, 10,
                                          9,         INT64_MIN, 1,         2,  3,  4};
        static const int64_t ends[] = {10,        10,        INT64_MAX, 5,  5,  INT64_MAX,
                                       INT64_MAX, 100,       -1,        -2, 50, 50,
                                       50,        INT64_MAX, 60,        70, 80, 90};
        kos_snapshot_t *s = NULL;
        for (size_t i = 0; i < sizeof(commits) / sizeof(commits[0]); i++) {
                kos_snapshot_unref(s);
                spec_t sp[] = {{"t", 0, commits[i], ends[i], (int)(i % 3) - 1}};
                s = snap_of(sp, 1, 0);
                s->taken_ms = 1000;
                /* the clock too: repeats and steps back now and then */
                int64_t t = 1000 + (int64_t)i * 1000 - (i % 4 == 3 ? 2500 : 0);
                CHECK_INT(kos_history_update(h, s, t, t), 0);
                const kos_part_lag_t *p = part_of(s, "g", "t", 0);
                CHECK(p->produce_rate < 0 || isfinite(p->produce_rate));
                CHECK(p->consume_rate < 0 || isfinite(p->consume_rate));
                CHECK(p->status >= KOS_STATUS_NOTFOUND && p->status <= KOS_STATUS_REWIND);
                for (size_t k = 0; k < p->n_window; k++)
                        CHECK(p->window[k].offset >= 0 && p->window[k].lag >= 0);
                int rc = ask(s, "kafka_consumergroup_time_to_drain_seconds", "group%3Dg");
                CHECK(rc == 200 || rc == 503);
                if (rc == 200)
                        CHECK(value() >= 0 && value() <= 600000);
        }
        kos_answer_clear(&ans);
        kos_snapshot_unref(s);
        kos_history_destroy(h);
}

/* ---- flags --------------------------------------------------------------------------------- */

static void test_flags(void)
{
        kos_history_opts_t o;
        kos_history_opts_defaults(&o);
        CHECK_INT(o.stuck_refreshes, 5);
        CHECK_INT(o.status_window, 10);
        CHECK_INT(o.rate_window_ms, 30000);
        CHECK_INT(o.drain_cap_ms, 3600000);
        char err[256];
        CHECK_INT(kos_history_flag(&o, "--stuck-refreshes", "7", err, sizeof(err)), 0);
        CHECK_INT(o.stuck_refreshes, 7);
        CHECK_INT(kos_history_flag(&o, "--rate-window", "1m", err, sizeof(err)), 0);
        CHECK_INT(o.rate_window_ms, 60000);
        CHECK_INT(kos_history_flag(&o, "--time-to-drain-max", "10m", err, sizeof(err)), 0);
        CHECK_INT(o.drain_cap_ms, 600000);
        CHECK_INT(kos_history_flag(&o, "--status-window", "20", err, sizeof(err)), 0);
        CHECK_INT(kos_history_flag(&o, "--status-min-distance", "0s", err, sizeof(err)), 0);
        CHECK_INT(o.status_min_distance_ms, 0);
        CHECK_INT(kos_history_flag(&o, "--headroom-budget", "1", err, sizeof(err)), 1);
        static const char *const bad[][2] = {
            {"--stuck-refreshes", "0"},      {"--stuck-refreshes", "-3"},
            {"--stuck-refreshes", "five"},   {"--stuck-refreshes", ""},
            {"--stuck-refreshes", "5x"},     {"--stuck-refreshes", "99999999999999999999"},
            {"--status-window", "1"},        {"--status-window", "1001"},
            {"--rate-window", "500ms"},      {"--rate-window", "2h"},
            {"--rate-window", "-5s"},        {"--rate-window", "soon"},
            {"--time-to-drain-max", "0s"},   {"--time-to-drain-max", "31d"},
            {"--time-to-drain-max", "1e99"}, {"--status-min-distance", "2h"},
            {"--status-min-distance", "x"}};
        kos_history_opts_t before = o;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                CHECK_INT(kos_history_flag(&o, bad[i][0], bad[i][1], err, sizeof(err)), -1);
                CHECK(strncmp(err, bad[i][0], strlen(bad[i][0])) == 0); /* names the flag */
        }
        CHECK(memcmp(&before, &o, sizeof(o)) == 0); /* nothing half-applied */
}

/* ---- debug view ---------------------------------------------------------------------------- */

static void test_debug_view(void)
{
        kos_history_opts_t o = opts();
        kos_history_t *h = kos_history_new(&o);
        kos_snapshot_t *s = NULL;
        for (int i = 0; i < 4; i++) {
                kos_snapshot_unref(s);
                spec_t sp[] = {{"t", 0, 100, 200 + i * 10, 0}, {"t", 1, 100 + i * 30, 300, -1}};
                s = snap_of(sp, 2, 1);
                s->taken_ms = 1748779200000LL;
                kos_history_update(h, s, 1000 + i * 1000, 1748779200000LL - 3000 + i * 1000);
        }
        size_t len = 0;
        char *txt = kos_debug_group_json(s, kos_snapshot_group(s, "g"), &len);
        json_t *doc = txt ? json_loads(txt, 0, NULL) : NULL;
        CHECK(doc != NULL);
        CHECK_INT(len, txt ? strlen(txt) : 0);
        CHECK_STR(json_string_value(json_object_get(doc, "group")), "g");
        CHECK_STR(json_string_value(json_object_get(doc, "groupStatus")), "ERR"); /* t/0 STALL */
        CHECK_INT(json_integer_value(json_object_get(doc, "groupStatusCode")), 3);
        CHECK_INT(json_integer_value(json_object_get(doc, "stuckPartitions")), 1);
        CHECK_STR(json_string_value(json_object_get(doc, "snapshotTime")), "2025-06-01T12:00:00Z");
        json_t *parts = json_object_get(doc, "partitions");
        CHECK_INT(json_array_size(parts), 2);
        json_t *p0 = json_array_get(parts, 0);
        CHECK_STR(json_string_value(json_object_get(p0, "status")), "STALL");
        CHECK(json_is_true(json_object_get(p0, "stuck")));
        CHECK_STR(json_string_value(json_object_get(p0, "owner")), "pod-1");
        CHECK_INT(json_array_size(json_object_get(p0, "window")), 4);
        CHECK(NEAR(json_real_value(json_object_get(p0, "produceRate")), 10));
        json_t *p1 = json_array_get(parts, 1);
        CHECK(json_is_null(json_object_get(p1, "owner")));
        CHECK_STR(json_string_value(
                      json_object_get(json_array_get(json_object_get(p1, "window"), 3), "time")),
                  "2025-06-01T12:00:00Z");
        /* produce 10/s, consume 30/s, lag 130 + 110 = 240 -> 12 s */
        CHECK(NEAR(json_real_value(json_object_get(doc, "timeToDrainSeconds")), 12));
        CHECK(json_is_true(json_object_get(doc, "gaining")));
        json_decref(doc);
        free(txt);
        txt = kos_debug_groups_json(s, &len);
        doc = txt ? json_loads(txt, 0, NULL) : NULL;
        CHECK_INT(json_array_size(json_object_get(doc, "groups")), 2);
        json_decref(doc);
        free(txt);
        kos_snapshot_unref(s);
        kos_history_destroy(h);
}

int main(void)
{
        test_stuck();
        test_exclude_persistent_lag();
        test_status_from_history();
        test_rates_and_changes();
        test_adversarial_history();
        test_flags();
        test_debug_view();
        return check_result("test_history");
}
