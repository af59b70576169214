/* Session store (see sessions.h): a keytable (keytable.h) of sessions whose queue gets a
 * (session, timestamp) pair whenever a session's last update moves forward. A pair whose
 * timestamp is no longer its session's last update is stale and skipped; the newest pair of a
 * session is always its last in the queue, so a session is freed only after all its stale
 * pairs are gone and no pair can point at freed memory. */
#include "sessions.h"
#include "keytable.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

struct kos_session_s {
        kos_kt_node_t node; /* chained by key hash; queued at each newer update */
        int64_t last_ts;
        kos_hit_t *hits;
        uint32_t n_hits, cap_hits;
        uint32_t key_len;
        uint8_t dirty;
        uint8_t key[];
};

struct kos_sessions_s {
        size_t max_hits;
        kos_keytable_t kt;
        size_t bytes; /* of the sessions */
        kos_session_t **dirty;
        size_t n_dirty, dirty_cap;
};

static kos_session_t *session(kos_kt_node_t *n)
{
        return KOS_KT_ENTRY(n, kos_session_t, node);
}

kos_sessions_t *kos_sessions_new(size_t max_hits)
{
        kos_sessions_t *ss = kos_xcalloc(1, sizeof(*ss));
        ss->max_hits = max_hits;
        kos_kt_init(&ss->kt);
        return ss;
}

static void free_session(kos_sessions_t *ss, kos_session_t *s)
{
        ss->bytes -= sizeof(*s) + s->key_len + (size_t)s->cap_hits * sizeof(kos_hit_t);
        free(s->hits);
        free(s);
}

void kos_sessions_destroy(kos_sessions_t *ss)
{
        if (!ss)
                return;
        /* Every live session has its newest pair in the queue: free it there. */
        for (const kos_kt_stamp_t *h; (h = kos_kt_head(&ss->kt)); kos_kt_pop(&ss->kt)) {
                kos_session_t *s = session(h->node);
                if (h->ts == s->last_ts)
                        free_session(ss, s);
        }
        kos_kt_free(&ss->kt);
        free(ss->dirty);
        free(ss);
}

kos_session_t *kos_sessions_find(kos_sessions_t *ss, const void *key, size_t key_len, uint64_t hash)
{
        for (kos_kt_node_t *n = kos_kt_chain(&ss->kt, hash); n; n = n->next) {
                kos_session_t *s = session(n);
                if (n->hash == hash && s->key_len == key_len && memcmp(s->key, key, key_len) == 0)
                        return s;
        }
        return NULL;
}

kos_session_t *kos_sessions_get(kos_sessions_t *ss, const void *key, size_t key_len, uint64_t hash)
{
        kos_session_t *s = kos_sessions_find(ss, key, key_len, hash);
        if (s)
                return s;
        s = kos_xcalloc(1, sizeof(*s) + key_len);
        s->last_ts = INT64_MIN;
        s->key_len = (uint32_t)key_len;
        memcpy(s->key, key, key_len);
        /* A pair from birth: a session that never gets a hit still expires. */
        kos_kt_push(&ss->kt, &s->node, INT64_MIN);
        kos_kt_link(&ss->kt, &s->node, hash);
        ss->bytes += sizeof(*s) + key_len;
        return s;
}

size_t kos_sessions_append(kos_sessions_t *ss, kos_session_t *s, const kos_hit_t *hits, size_t n,
                           int64_t ts)
{
        size_t room = ss->max_hits > s->n_hits ? ss->max_hits - s->n_hits : 0;
        size_t take = n < room ? n : room;
        if (s->n_hits + take > s->cap_hits) {
                size_t cap = s->cap_hits ? s->cap_hits : 8;
                while (cap < s->n_hits + take)
                        cap *= 2;
                if (cap > ss->max_hits)
                        cap = ss->max_hits;
                ss->bytes += (cap - s->cap_hits) * sizeof(*s->hits);
                s->hits = kos_xrealloc(s->hits, cap * sizeof(*s->hits));
                s->cap_hits = (uint32_t)cap;
        }
        if (ts > s->last_ts) {
                kos_kt_push(&ss->kt, &s->node, ts);
                s->last_ts = ts;
        }
        memcpy(s->hits + s->n_hits, hits, take * sizeof(*hits));
        s->n_hits += (uint32_t)take;
        return n - take;
}

void kos_session_view(const kos_session_t *s, kos_session_view_t *out)
{
        *out = (kos_session_view_t){.key = s->key,
                                    .key_len = s->key_len,
                                    .hits = s->hits,
                                    .n_hits = s->n_hits,
                                    .ts = s->last_ts};
}

void kos_sessions_mark_dirty(kos_sessions_t *ss, kos_session_t *s)
{
        if (s->dirty)
                return;
        if (ss->n_dirty == ss->dirty_cap) {
                ss->dirty_cap = ss->dirty_cap ? 2 * ss->dirty_cap : 64;
                ss->dirty = kos_xrealloc(ss->dirty, ss->dirty_cap * sizeof(*ss->dirty));
        }
        ss->dirty[ss->n_dirty++] = s;
        s->dirty = 1;
}

size_t kos_sessions_flush(kos_sessions_t *ss, kos_session_fn fn, void *arg)
{
        size_t n = ss->n_dirty;
        for (size_t i = 0; i < n; i++) {
                kos_session_t *s = ss->dirty[i];
                kos_session_view_t v;
                kos_session_view(s, &v);
                s->dirty = 0;
                if (fn)
                        fn(arg, &v);
        }
        ss->n_dirty = 0;
        return n;
}

size_t kos_sessions_dirty_count(const kos_sessions_t *ss)
{
        return ss->n_dirty;
}

void kos_sessions_expire(kos_sessions_t *ss, int64_t cutoff)
{
        const kos_kt_stamp_t *h;
        while ((h = kos_kt_head(&ss->kt))) {
                kos_session_t *s = session(h->node);
                int64_t ts = h->ts;
                /* A dirty session waits for the flush (every commit interval) at the head, so
                 * the queue stays in push order. */
                if (ts >= cutoff || (ts == s->last_ts && s->dirty))
                        break;
                kos_kt_pop(&ss->kt);
                if (ts != s->last_ts)
                        continue; /* stale: a newer pair of the session follows */
                kos_kt_unlink(&ss->kt, &s->node);
                free_session(ss, s);
        }
}

size_t kos_sessions_count(const kos_sessions_t *ss)
{
        return ss->kt.count;
}

size_t kos_sessions_bytes(const kos_sessions_t *ss)
{
        return sizeof(*ss) + ss->bytes + kos_kt_bytes(&ss->kt) +
               ss->dirty_cap * sizeof(kos_session_t *);
}
