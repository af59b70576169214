/* The join → decode → aggregate → emit pipeline of one task (see topology.h). */
#include "topology.h"
#include "records.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kos_topo_s {
        kos_topo_conf_t conf;
        kos_topo_stats_t *stats;
        kos_topo_stats_t own_stats; /* when the caller passes none */
        kos_topo_emit_fn emit;
        void *arg;
        kos_window_t *window;
        kos_sessions_t *sessions;
        int64_t stream_time;
};

#define ADD(field, n) atomic_fetch_add_explicit(&t->stats->field, (n), memory_order_relaxed)

kos_topo_t *kos_topo_new(const kos_topo_conf_t *conf, kos_topo_stats_t *stats,
                         kos_topo_emit_fn emit, void *arg)
{
        kos_topo_t *t = kos_xcalloc(1, sizeof(*t));
        t->conf = *conf;
        t->stats = stats ? stats : &t->own_stats;
        t->emit = emit;
        t->arg = arg;
        t->stream_time = INT64_MIN;
        t->window = kos_window_new(conf->window_ms);
        t->sessions = kos_sessions_new(conf->max_session_hits);
        return t;
}

void kos_topo_destroy(kos_topo_t *t)
{
        if (!t)
                return;
        kos_window_destroy(t->window);
        kos_sessions_destroy(t->sessions);
        free(t);
}

/* One record being processed, handed to the match callback. */
typedef struct {
        kos_topo_t *t;
        int side;
        const kos_wrec_t *rec;
        uint64_t hash;
} join_ctx_t;

static int64_t max64(int64_t a, int64_t b)
{
        return a > b ? a : b;
}

/* One join pair: the request's hits go into the key's session, one update per hit as the
 * original's flatMapValues + aggregate did. */
static void on_match(void *arg, const kos_wrec_t *other)
{
        join_ctx_t *c = arg;
        kos_topo_t *t = c->t;
        const kos_wrec_t *rq = c->side == KOS_SIDE_RQ ? c->rec : other;
        int emit = !(c->rec->replayed && other->replayed);
        int64_t ts = max64(c->rec->ts, other->ts);
        if (emit) {
                ADD(joins, 1);
                ADD(decode_failures, rq->n_bad);
        }
        if (rq->n_hits == 0)
                return; /* nothing to aggregate: the original emitted nothing either */
        kos_session_t *s = kos_sessions_get(t->sessions, c->rec->key, c->rec->key_len, c->hash);
        for (size_t i = 0; i < rq->n_hits; i++) {
                size_t dropped = kos_sessions_append(t->sessions, s, &rq->hits[i], 1, ts);
                if (dropped) {
                        if (emit)
                                ADD(hits_dropped, rq->n_hits - i);
                        return;
                }
                if (!emit)
                        continue;
                ADD(hits, 1);
                if (t->conf.coalesce) {
                        kos_sessions_mark_dirty(t->sessions, s);
                } else if (t->emit) {
                        kos_session_view_t v;
                        kos_session_view(s, &v);
                        t->emit(t->arg, &v);
                }
        }
}

static void expire(kos_topo_t *t)
{
        if (t->stream_time == INT64_MIN)
                return;
        int64_t w = t->conf.window_ms, g = t->conf.grace_ms;
        kos_window_expire(t->window, kos_topo_horizon(t->stream_time, w, g));
        /* Keys carry the frame's timestamp: no join can update them after that. */
        kos_sessions_expire(t->sessions, t->stream_time - w - g);
}

kos_topo_result_t kos_topo_process(kos_topo_t *t, int side, const void *key, size_t key_len,
                                   const void *value, size_t value_len, int64_t ts, int replayed,
                                   char *why, size_t why_size)
{
        char err[256];
        kos_rec_body_t body;
        if (!why) {
                why = err;
                why_size = sizeof(err);
        }
        if (!key || key_len == 0) {
                snprintf(why, why_size, "no key");
                return KOS_TOPO_BAD;
        }
        if (key_len > KOS_KEY_MAX) {
                snprintf(why, why_size, "key of %zu bytes, more than %d", key_len, KOS_KEY_MAX);
                return KOS_TOPO_BAD;
        }
        if (!value) {
                snprintf(why, why_size, "no value");
                return KOS_TOPO_BAD;
        }
        if (ts < 0) {
                snprintf(why, why_size, "no record timestamp");
                return KOS_TOPO_BAD;
        }
        if (kos_rec_header_check(key, key_len, why, why_size) == -1)
                return KOS_TOPO_BAD;
        if (kos_rec_body_parse(value, value_len, &body, why, why_size) == -1)
                return KOS_TOPO_BAD;

        if (ts > t->stream_time)
                t->stream_time = ts;
        if (ts < t->stream_time - t->conf.window_ms - t->conf.grace_ms) {
                ADD(late, 1);
                kos_rec_body_clear(&body);
                return KOS_TOPO_LATE;
        }
        kos_wrec_t rec = {.key = key,
                          .key_len = key_len,
                          .ts = ts,
                          .replayed = replayed,
                          .hits = body.hits,
                          .n_hits = body.n_hits,
                          .n_bad = body.n_bad};
        uint64_t hash = kos_key_hash(key, key_len);
        kos_window_add(t->window, side, &rec, hash);
        join_ctx_t c = {t, side, &rec, hash};
        kos_window_match(t->window, side, key, key_len, hash, ts, on_match, &c);
        kos_rec_body_clear(&body);
        expire(t);
        return KOS_TOPO_OK;
}

size_t kos_topo_flush(kos_topo_t *t)
{
        size_t n = kos_sessions_flush(t->sessions, t->emit, t->arg);
        expire(t);
        return n;
}

int64_t kos_topo_stream_time(const kos_topo_t *t)
{
        return t->stream_time;
}

int64_t kos_topo_horizon(int64_t st, int64_t window_ms, int64_t grace_ms)
{
        return st - 2 * window_ms - grace_ms;
}

size_t kos_topo_records(const kos_topo_t *t)
{
        return kos_window_count(t->window);
}

size_t kos_topo_sessions(const kos_topo_t *t)
{
        return kos_sessions_count(t->sessions);
}

size_t kos_topo_bytes(const kos_topo_t *t)
{
        return sizeof(*t) + kos_window_bytes(t->window) + kos_sessions_bytes(t->sessions);
}

const kos_session_t *kos_topo_session(kos_topo_t *t, const void *key, size_t key_len)
{
        return kos_sessions_find(t->sessions, key, key_len, kos_key_hash(key, key_len));
}
