/* The topology of one task without Kafka (processor/topology.c): join → decode → aggregate →
 * emit, with the original's semantics (every pair emits, the request body is kept, one
 * update per hit), coalescing, bad and late records, replay with output suppressed, and
 * state bounded by stream time. */
#include "check.h"
#include "topology.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 3000
#define G 1000

typedef struct {
        int n;
        size_t last_hits;
        int64_t last_ts;
        char last_key[128];
        char last_json[4096];
} out_t;

static void on_emit(void *arg, const kos_session_view_t *s)
{
        out_t *o = arg;
        o->n++;
        o->last_hits = s->n_hits;
        o->last_ts = s->ts;
        size_t k = s->key_len < sizeof(o->last_key) - 1 ? s->key_len : sizeof(o->last_key) - 1;
        memcpy(o->last_key, s->key, k);
        o->last_key[k] = '\0';
        kos_session_json(s->hits, s->n_hits, o->last_json, sizeof(o->last_json));
}

static kos_topo_t *topo(out_t *o, int coalesce, kos_topo_stats_t *st)
{
        kos_topo_conf_t c = {
            .window_ms = W, .grace_ms = G, .max_session_hits = 1000, .coalesce = coalesce};
        memset(o, 0, sizeof(*o));
        if (st)
                memset(st, 0, sizeof(*st));
        return kos_topo_new(&c, st, on_emit, o);
}

static size_t key(char *buf, int64_t ts, int machine)
{
        kos_frame_header_t h = {.ts = ts, .zone = KOS_ZONE_EU};
        kos_header_set_machine_id(&h, (uint32_t)machine);
        return kos_header_json(&h, buf, KOS_HEADER_JSON_MAX);
}

static const kos_hit_t H1 = {.key = KOS_KEY_O,
                             .direction = KOS_DIR_LEFT,
                             .impact_type = KOS_IMPACT_CRITICAL,
                             .impact = 20,
                             .double_key = KOS_KEY_O,
                             .level = KOS_LEVEL_NEWBIE,
                             .game = KOS_GAME_NEOBLOOD};
static const kos_hit_t H2 = {.key = KOS_KEY_X,
                             .impact_type = KOS_IMPACT_MISSED,
                             .level = KOS_LEVEL_NEWBIE,
                             .game = KOS_GAME_NEOBLOOD};

/* Processes a frame of side with n hits (H1, H2, H1, ...) at ts for (kts, machine). */
static kos_topo_result_t frame(kos_topo_t *t, int side, int64_t kts, int machine, int64_t ts, int n,
                               int replayed)
{
        char k[KOS_HEADER_JSON_MAX], v[1024];
        kos_hit_t hits[8];
        for (int i = 0; i < n; i++)
                hits[i] = i % 2 ? H2 : H1;
        size_t kl = key(k, kts, machine);
        size_t vl = kos_body_json(side == KOS_SIDE_RQ ? KOS_APPROVAL_FALSE : KOS_APPROVAL_TRUE,
                                  hits, (size_t)n, v, sizeof(v));
        char why[256] = "";
        kos_topo_result_t r =
            kos_topo_process(t, side, k, kl, v, vl, ts, replayed, why, sizeof(why));
        if (r == KOS_TOPO_BAD)
                fprintf(stderr, "  (bad: %s)\n", why);
        return r;
}

static void test_join_and_aggregate(void)
{
        out_t o;
        kos_topo_stats_t st;
        kos_topo_t *t = topo(&o, 0, &st);
        CHECK_INT(frame(t, KOS_SIDE_RQ, 10000, 42, 10000, 2, 0), KOS_TOPO_OK);
        CHECK_INT(o.n, 0);
        /* The response 3 s later joins: one update per hit, the whole session each time. */
        CHECK_INT(frame(t, KOS_SIDE_RS, 10000, 42, 13000, 0, 0), KOS_TOPO_OK);
        CHECK_INT(o.n, 2);
        CHECK_INT(o.last_hits, 2);
        CHECK_INT(o.last_ts, 13000);
        CHECK_STR(o.last_key, "{\"ts\":10000,\"machine\":\"000042\",\"zone\":\"EU\"}");
        CHECK_STR(
            o.last_json,
            "{\"hits\":[{\"impact\":20,\"key\":\"O\",\"doubleKey\":\"O\",\"direction\":"
            "\"LEFT\",\"impactType\":\"Critical\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"},"
            "{\"impact\":0,\"key\":\"X\",\"doubleKey\":null,\"direction\":null,\"impactType\":"
            "\"Missed\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"}]}");
        CHECK_INT(atomic_load(&st.joins), 1);
        CHECK_INT(atomic_load(&st.hits), 2);
        /* 3 s + 1 ms: no join. */
        CHECK_INT(frame(t, KOS_SIDE_RS, 10000, 42, 13001, 0, 0), KOS_TOPO_OK);
        CHECK_INT(o.n, 2);
        /* A second response within the window: a second pair, the request's hits again. */
        CHECK_INT(frame(t, KOS_SIDE_RS, 10000, 42, 12000, 0, 0), KOS_TOPO_OK);
        CHECK_INT(o.n, 4);
        CHECK_INT(o.last_hits, 4);
        /* Another key does not join. */
        CHECK_INT(frame(t, KOS_SIDE_RS, 10000, 43, 10000, 0, 0), KOS_TOPO_OK);
        CHECK_INT(o.n, 4);
        kos_topo_destroy(t);
}

static void test_response_first_and_pairs(void)
{
        out_t o;
        kos_topo_stats_t st;
        kos_topo_t *t = topo(&o, 0, &st);
        /* Two responses then two requests of the same key: 2 x 2 pairs. */
        frame(t, KOS_SIDE_RS, 5000, 1, 5000, 0, 0);
        frame(t, KOS_SIDE_RS, 5000, 1, 5000, 0, 0);
        frame(t, KOS_SIDE_RQ, 5000, 1, 5000, 1, 0);
        CHECK_INT(o.n, 2);
        frame(t, KOS_SIDE_RQ, 5000, 1, 5000, 3, 0);
        CHECK_INT(o.n, 2 + 6);
        CHECK_INT(o.last_hits, 8);
        CHECK_INT(atomic_load(&st.joins), 4);
        kos_topo_destroy(t);
}

static void test_decode_failures(void)
{
        out_t o;
        kos_topo_stats_t st;
        kos_topo_t *t = topo(&o, 0, &st);
        const char *k = "{\"ts\":1,\"machine\":\"000001\",\"zone\":\"AU\"}";
        const char *rq = "{\"approval\":false,\"bytes\":[\"e3001f00d9b5\",\"zz\",\"e3001f00d9\","
                         "\"E3001F00D9B5\",\"e3001f00d9b5ff\"]}";
        const char *rs = "{\"approval\":true,\"bytes\":[]}";
        CHECK_INT(kos_topo_process(t, KOS_SIDE_RQ, k, strlen(k), rq, strlen(rq), 1, 0, NULL, 0),
                  KOS_TOPO_OK);
        CHECK_INT(kos_topo_process(t, KOS_SIDE_RS, k, strlen(k), rs, strlen(rs), 1, 0, NULL, 0),
                  KOS_TOPO_OK);
        CHECK_INT(o.last_hits, 2);
        CHECK_INT(atomic_load(&st.decode_failures), 3);
        /* A request without decodable hits joins but aggregates nothing (no update). */
        const char *k2 = "{\"ts\":1,\"machine\":\"000002\",\"zone\":\"AU\"}";
        const char *none = "{\"approval\":false,\"bytes\":[\"00\"]}";
        kos_topo_process(t, KOS_SIDE_RQ, k2, strlen(k2), none, strlen(none), 1, 0, NULL, 0);
        kos_topo_process(t, KOS_SIDE_RS, k2, strlen(k2), rs, strlen(rs), 1, 0, NULL, 0);
        CHECK_INT(o.n, 2);
        CHECK_INT(atomic_load(&st.joins), 2);
        CHECK(kos_topo_session(t, k2, strlen(k2)) == NULL);
        kos_topo_destroy(t);
}

static void test_bad_records(void)
{
        out_t o;
        kos_topo_t *t = topo(&o, 0, NULL);
        const char *k = "{\"ts\":1,\"machine\":\"000001\",\"zone\":\"AU\"}";
        const char *v = "{\"approval\":false,\"bytes\":[\"e3001f00d9b5\"]}";
        struct {
                const char *key, *value;
                int64_t ts;
        } bad[] = {
            {"not json", v, 1},
            {"{\"a\":1}", v, 1},
            {"{\"ts\":\"1\",\"machine\":\"000001\",\"zone\":\"AU\"}", v, 1},
            {"{\"ts\":1,\"machine\":1,\"zone\":\"AU\"}", v, 1},
            {"{\"ts\":1,\"machine\":\"000001\",\"zone\":\"XX\"}", v, 1},
            {"[1,2]", v, 1},
            {"", v, 1},
            {k, "{", 1},
            {k, "{\"approval\":false}", 1},
            {k, "{\"approval\":1,\"bytes\":[]}", 1},
            {k, "{\"approval\":false,\"bytes\":[1]}", 1},
            {k, "{\"approval\":false,\"bytes\":\"e3001f00d9b5\"}", 1},
            {k, "null", 1},
            {k, v, -1}, /* no timestamp */
        };
        char why[256];
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                why[0] = '\0';
                kos_topo_result_t r =
                    kos_topo_process(t, KOS_SIDE_RQ, bad[i].key, strlen(bad[i].key), bad[i].value,
                                     strlen(bad[i].value), bad[i].ts, 0, why, sizeof(why));
                CHECK_INT(r, KOS_TOPO_BAD);
                CHECK(why[0] != '\0');
        }
        CHECK_INT(kos_topo_process(t, KOS_SIDE_RQ, k, strlen(k), NULL, 0, 1, 0, why, sizeof(why)),
                  KOS_TOPO_BAD);
        /* Huge values and keys are refused without being parsed. */
        size_t big = KOS_FRAME_JSON_MAX + 10;
        char *huge = malloc(big);
        memset(huge, ' ', big);
        huge[0] = '{';
        huge[big - 1] = '}';
        CHECK_INT(kos_topo_process(t, KOS_SIDE_RQ, k, strlen(k), huge, big, 1, 0, why, sizeof(why)),
                  KOS_TOPO_BAD);
        CHECK_INT(kos_topo_process(t, KOS_SIDE_RQ, huge, KOS_KEY_MAX + 1, v, strlen(v), 1, 0, why,
                                   sizeof(why)),
                  KOS_TOPO_BAD);
        free(huge);
        /* Bad records leave no state and do not move stream time. */
        CHECK_INT(kos_topo_records(t), 0);
        CHECK_INT(kos_topo_stream_time(t), INT64_MIN);
        CHECK_INT(o.n, 0);
        kos_topo_destroy(t);
}

static void test_late_and_bounded_state(void)
{
        out_t o;
        kos_topo_stats_t st;
        kos_topo_t *t = topo(&o, 0, &st);
        for (int i = 0; i < 10000; i++) {
                frame(t, KOS_SIDE_RQ, 1000000 + i, i % 30, 1000000 + i, 2, 0);
                frame(t, KOS_SIDE_RS, 1000000 + i, i % 30, 1000000 + i, 0, 0);
        }
        CHECK_INT(o.n, 20000);
        CHECK_INT(kos_topo_stream_time(t), 1009999);
        /* Join buffers hold 2w + g of records, sessions w + g: both bounded by stream time. */
        CHECK(kos_topo_records(t) <= 2 * (2 * W + G + 1));
        CHECK(kos_topo_records(t) >= 2 * (2 * W + G - 1));
        CHECK(kos_topo_sessions(t) <= W + G + 1);
        CHECK(kos_topo_sessions(t) >= W + G - 1);
        /* Older than stream time - w - g: late, dropped. */
        CHECK_INT(frame(t, KOS_SIDE_RS, 1009999 - W - G - 1, 5, 1009999 - W - G - 1, 0, 0),
                  KOS_TOPO_LATE);
        CHECK_INT(frame(t, KOS_SIDE_RS, 1009999 - W - G, 5, 1009999 - W - G, 0, 0), KOS_TOPO_OK);
        CHECK_INT(atomic_load(&st.late), 1);
        kos_topo_destroy(t);
}

/* The horizon (st - 2w - g): a request exactly that old is still buffered, because a response
 * as late as is accepted (st - w - g) joins it; one millisecond more of stream time drops it. */
static void test_horizon(void)
{
        CHECK_INT(kos_topo_horizon(1000000, W, G), 1000000 - 2 * W - G);
        out_t o;
        kos_topo_stats_t st;
        kos_topo_t *t = topo(&o, 0, &st);
        const int64_t h = 1000000, s = h + 2 * W + G;
        CHECK_INT(frame(t, KOS_SIDE_RQ, h, 1, h, 1, 0), KOS_TOPO_OK);
        CHECK_INT(frame(t, KOS_SIDE_RQ, s, 2, s, 1, 0), KOS_TOPO_OK);
        CHECK_INT(kos_topo_horizon(kos_topo_stream_time(t), W, G), h);
        CHECK_INT(kos_topo_records(t), 2);
        CHECK_INT(frame(t, KOS_SIDE_RS, h, 1, s - W - G, 0, 0), KOS_TOPO_OK);
        CHECK_INT(atomic_load(&st.joins), 1);
        CHECK_INT(frame(t, KOS_SIDE_RQ, s + 1, 3, s + 1, 1, 0), KOS_TOPO_OK);
        CHECK_INT(kos_topo_records(t), 3); /* the request at h went; the response at h + w stays */
        kos_topo_destroy(t);
}

static void test_replay_suppresses_output(void)
{
        out_t o;
        kos_topo_stats_t st;
        kos_topo_t *t = topo(&o, 0, &st);
        /* Both replayed: state only. */
        frame(t, KOS_SIDE_RQ, 7000, 7, 7000, 2, 1);
        frame(t, KOS_SIDE_RS, 7000, 7, 7000, 0, 1);
        CHECK_INT(o.n, 0);
        CHECK_INT(atomic_load(&st.joins), 0);
        char k[KOS_HEADER_JSON_MAX];
        size_t kl = key(k, 7000, 7);
        kos_session_view_t v;
        kos_session_view(kos_topo_session(t, k, kl), &v);
        CHECK_INT(v.n_hits, 2);
        /* A live response joins the replayed request: emitted with the rebuilt session. */
        frame(t, KOS_SIDE_RS, 7000, 7, 7001, 0, 0);
        CHECK_INT(o.n, 2);
        CHECK_INT(o.last_hits, 4);
        /* A replayed request meeting a live response (merge order) emits too. */
        frame(t, KOS_SIDE_RQ, 7000, 7, 7002, 1, 1);
        CHECK_INT(o.n, 3); /* the pair with the replayed response only rebuilds state */
        CHECK_INT(o.last_hits, 6);
        kos_topo_destroy(t);
}

static void test_coalescing(void)
{
        out_t o;
        kos_topo_t *t = topo(&o, 1, NULL);
        frame(t, KOS_SIDE_RQ, 100, 1, 100, 3, 0);
        frame(t, KOS_SIDE_RS, 100, 1, 100, 0, 0);
        frame(t, KOS_SIDE_RS, 100, 1, 101, 0, 0);
        frame(t, KOS_SIDE_RQ, 100, 2, 100, 1, 0);
        frame(t, KOS_SIDE_RS, 100, 2, 100, 0, 0);
        CHECK_INT(o.n, 0);
        CHECK_INT(kos_topo_flush(t), 2);
        CHECK_INT(o.n, 2);
        CHECK_INT(o.last_hits, 1); /* machine 2, second to change */
        CHECK_INT(kos_topo_flush(t), 0);
        /* Replayed-only updates are not dirty. */
        frame(t, KOS_SIDE_RQ, 200, 3, 200, 2, 1);
        frame(t, KOS_SIDE_RS, 200, 3, 200, 0, 1);
        CHECK_INT(kos_topo_flush(t), 0);
        kos_topo_destroy(t);
}

int main(void)
{
        test_join_and_aggregate();
        test_response_first_and_pairs();
        test_decode_failures();
        test_bad_records();
        test_late_and_bounded_state();
        test_horizon();
        test_replay_suppresses_output();
        test_coalescing();
        return check_result("test_topology");
}
