/* Session store (see sessions.h): a chained hash table of sessions plus an expiry FIFO of
 * (session, timestamp) pairs pushed whenever a session's last update moves forward. An entry
 * whose timestamp is no longer its session's last update is stale and skipped; the newest
 * entry of a session is always its last in the FIFO, so a session is freed only after all its
 * stale entries are gone and no entry can point at freed memory. */
#include "sessions.h"
#include "window.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

struct kos_session_s {
        struct kos_session_s *next; /* hash chain */
        uint64_t hash;
        int64_t last_ts;
        kos_hit_t *hits;
        uint32_t n_hits, cap_hits;
        uint32_t key_len;
        uint8_t dirty;
        uint8_t key[];
};

typedef struct {
        kos_session_t *s;
        int64_t ts;
} fifo_ent_t;

struct kos_sessions_s {
        size_t max_hits;
        kos_session_t **buckets;
        size_t n_buckets; /* power of two */
        size_t count;
        size_t bytes;
        fifo_ent_t *fifo; /* ring */
        size_t fifo_cap, fifo_head, fifo_len;
        kos_session_t **dirty;
        size_t n_dirty, dirty_cap;
};

kos_sessions_t *kos_sessions_new(size_t max_hits)
{
        kos_sessions_t *ss = kos_xcalloc(1, sizeof(*ss));
        ss->max_hits = max_hits;
        ss->n_buckets = 64;
        ss->buckets = kos_xcalloc(ss->n_buckets, sizeof(*ss->buckets));
        ss->fifo_cap = 64;
        ss->fifo = kos_xcalloc(ss->fifo_cap, sizeof(*ss->fifo));
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
        for (size_t i = 0; ss->buckets && i < ss->n_buckets; i++) {
                kos_session_t *s = ss->buckets[i];
                while (s) {
                        kos_session_t *next = s->next;
                        free_session(ss, s);
                        s = next;
                }
        }
        free(ss->buckets);
        free(ss->fifo);
        free(ss->dirty);
        free(ss);
}

static void fifo_push(kos_sessions_t *ss, kos_session_t *s, int64_t ts)
{
        if (ss->fifo_len == ss->fifo_cap) {
                size_t n = ss->fifo_cap * 2;
                fifo_ent_t *f = kos_xcalloc(n, sizeof(*f));
                for (size_t i = 0; i < ss->fifo_len; i++)
                        f[i] = ss->fifo[(ss->fifo_head + i) & (ss->fifo_cap - 1)];
                free(ss->fifo);
                ss->fifo = f;
                ss->fifo_cap = n;
                ss->fifo_head = 0;
        }
        ss->fifo[(ss->fifo_head + ss->fifo_len) & (ss->fifo_cap - 1)] = (fifo_ent_t){s, ts};
        ss->fifo_len++;
}

static void grow_buckets(kos_sessions_t *ss)
{
        size_t n = ss->n_buckets * 2;
        kos_session_t **b = kos_xcalloc(n, sizeof(*b));
        for (size_t i = 0; i < ss->n_buckets; i++) {
                kos_session_t *s = ss->buckets[i];
                while (s) {
                        kos_session_t *next = s->next;
                        size_t j = s->hash & (n - 1);
                        s->next = b[j];
                        b[j] = s;
                        s = next;
                }
        }
        free(ss->buckets);
        ss->buckets = b;
        ss->n_buckets = n;
}

kos_session_t *kos_sessions_find(kos_sessions_t *ss, const void *key, size_t key_len, uint64_t hash)
{
        for (kos_session_t *s = ss->buckets[hash & (ss->n_buckets - 1)]; s; s = s->next)
                if (s->hash == hash && s->key_len == key_len && memcmp(s->key, key, key_len) == 0)
                        return s;
        return NULL;
}

kos_session_t *kos_sessions_get(kos_sessions_t *ss, const void *key, size_t key_len, uint64_t hash)
{
        kos_session_t *s = kos_sessions_find(ss, key, key_len, hash);
        if (s)
                return s;
        if (ss->count >= ss->n_buckets * 2)
                grow_buckets(ss);
        s = kos_xcalloc(1, sizeof(*s) + key_len);
        s->hash = hash;
        s->last_ts = INT64_MIN;
        s->key_len = (uint32_t)key_len;
        memcpy(s->key, key, key_len);
        /* An entry from birth: a session that never gets a hit still expires. */
        fifo_push(ss, s, INT64_MIN);
        size_t b = hash & (ss->n_buckets - 1);
        s->next = ss->buckets[b];
        ss->buckets[b] = s;
        ss->count++;
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
                fifo_push(ss, s, ts);
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

static void unlink_session(kos_sessions_t *ss, kos_session_t *s)
{
        kos_session_t **pp = &ss->buckets[s->hash & (ss->n_buckets - 1)];
        while (*pp && *pp != s)
                pp = &(*pp)->next;
        if (*pp)
                *pp = s->next;
        ss->count--;
}

void kos_sessions_expire(kos_sessions_t *ss, int64_t cutoff)
{
        while (ss->fifo_len) {
                fifo_ent_t e = ss->fifo[ss->fifo_head];
                /* A dirty session waits for the flush (every commit interval) at the head, so
                 * the FIFO stays in push order. */
                if (e.ts >= cutoff || (e.ts == e.s->last_ts && e.s->dirty))
                        break;
                ss->fifo_head = (ss->fifo_head + 1) & (ss->fifo_cap - 1);
                ss->fifo_len--;
                if (e.ts != e.s->last_ts)
                        continue; /* stale: a newer entry of the session follows */
                unlink_session(ss, e.s);
                free_session(ss, e.s);
        }
}

size_t kos_sessions_count(const kos_sessions_t *ss)
{
        return ss->count;
}

size_t kos_sessions_bytes(const kos_sessions_t *ss)
{
        return sizeof(*ss) + ss->bytes + ss->n_buckets * sizeof(kos_session_t *) +
               ss->fifo_cap * sizeof(fifo_ent_t) + ss->dirty_cap * sizeof(kos_session_t *);
}
