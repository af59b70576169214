/* Join buffers (see window.h). Each side is a chained hash table over key bytes plus a FIFO of
 * the same entries in arrival order; expiry pops the FIFO head while it is older than the
 * cutoff. Arrival order is nearly timestamp order (the task merges its inputs by timestamp and
 * rejects late records), which keeps expiry O(1) per record without a heap. */
#include "window.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct went_s {
        struct went_s *next; /* hash chain */
        uint64_t hash;
        uint64_t seq; /* insertion order, for ties in match order */
        int64_t ts;
        uint32_t key_len;
        uint32_t n_hits;
        uint32_t n_bad;
        uint8_t replayed;
        /* kos_hit_t hits[n_hits]; uint8_t key[key_len]; */
} went_t;

typedef struct {
        went_t **buckets;
        size_t n_buckets; /* power of two */
        size_t count;
        size_t bytes;
        went_t **fifo; /* ring */
        size_t fifo_cap, fifo_head;
} side_t;

struct kos_window_s {
        int64_t window_ms;
        uint64_t seq;
        side_t side[KOS_SIDES];
        /* scratch for sorting matches */
        went_t **matches;
        size_t matches_cap;
};

static kos_hit_t *ent_hits(went_t *e)
{
        return (kos_hit_t *)(void *)(e + 1);
}

static uint8_t *ent_key(went_t *e)
{
        return (uint8_t *)(e + 1) + (size_t)e->n_hits * sizeof(kos_hit_t);
}

static size_t ent_size(uint32_t n_hits, size_t key_len)
{
        return sizeof(went_t) + (size_t)n_hits * sizeof(kos_hit_t) + key_len;
}

uint64_t kos_key_hash(const void *key, size_t len)
{
        /* FNV-1a: keys are ~50 bytes of JSON; good enough spread, no dependencies. */
        const uint8_t *p = key;
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h ^ (h >> 29);
}

kos_window_t *kos_window_new(int64_t window_ms)
{
        kos_window_t *w = kos_xcalloc(1, sizeof(*w));
        w->window_ms = window_ms;
        for (int s = 0; s < KOS_SIDES; s++) {
                side_t *sd = &w->side[s];
                sd->n_buckets = 64;
                sd->buckets = kos_xcalloc(sd->n_buckets, sizeof(*sd->buckets));
                sd->fifo_cap = 64;
                sd->fifo = kos_xcalloc(sd->fifo_cap, sizeof(*sd->fifo));
        }
        return w;
}

void kos_window_destroy(kos_window_t *w)
{
        if (!w)
                return;
        for (int s = 0; s < KOS_SIDES; s++) {
                side_t *sd = &w->side[s];
                for (size_t i = 0; i < sd->count; i++)
                        free(sd->fifo[(sd->fifo_head + i) & (sd->fifo_cap - 1)]);
                free(sd->buckets);
                free(sd->fifo);
        }
        free(w->matches);
        free(w);
}

static void grow_buckets(side_t *sd)
{
        size_t n = sd->n_buckets * 2;
        went_t **b = kos_xcalloc(n, sizeof(*b));
        for (size_t i = 0; i < sd->n_buckets; i++) {
                went_t *e = sd->buckets[i];
                while (e) {
                        went_t *next = e->next;
                        size_t j = e->hash & (n - 1);
                        e->next = b[j];
                        b[j] = e;
                        e = next;
                }
        }
        free(sd->buckets);
        sd->buckets = b;
        sd->n_buckets = n;
}

static void grow_fifo(side_t *sd)
{
        size_t n = sd->fifo_cap * 2;
        went_t **f = kos_xcalloc(n, sizeof(*f));
        for (size_t i = 0; i < sd->count; i++)
                f[i] = sd->fifo[(sd->fifo_head + i) & (sd->fifo_cap - 1)];
        free(sd->fifo);
        sd->fifo = f;
        sd->fifo_cap = n;
        sd->fifo_head = 0;
}

void kos_window_add(kos_window_t *w, int side, const kos_wrec_t *rec, uint64_t hash)
{
        side_t *sd = &w->side[side];
        if (sd->count == sd->fifo_cap)
                grow_fifo(sd);
        if (sd->count >= sd->n_buckets * 2)
                grow_buckets(sd);
        uint32_t n_hits = side == KOS_SIDE_RQ ? (uint32_t)rec->n_hits : 0;
        size_t size = ent_size(n_hits, rec->key_len);
        went_t *e = kos_xmalloc(size);
        e->hash = hash;
        e->seq = w->seq++;
        e->ts = rec->ts;
        e->key_len = (uint32_t)rec->key_len;
        e->n_hits = n_hits;
        e->n_bad = side == KOS_SIDE_RQ ? (uint32_t)rec->n_bad : 0;
        e->replayed = rec->replayed ? 1 : 0;
        if (n_hits)
                memcpy(ent_hits(e), rec->hits, n_hits * sizeof(kos_hit_t));
        memcpy(ent_key(e), rec->key, rec->key_len);
        size_t b = hash & (sd->n_buckets - 1);
        e->next = sd->buckets[b];
        sd->buckets[b] = e;
        sd->fifo[(sd->fifo_head + sd->count) & (sd->fifo_cap - 1)] = e;
        sd->count++;
        sd->bytes += size;
}

static int by_ts_seq(const void *a, const void *b)
{
        const went_t *x = *(went_t *const *)a, *y = *(went_t *const *)b;
        if (x->ts != y->ts)
                return x->ts < y->ts ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t kos_window_match(kos_window_t *w, int side, const void *key, size_t key_len, uint64_t hash,
                        int64_t ts, kos_window_match_fn fn, void *arg)
{
        side_t *sd = &w->side[1 - side];
        size_t n = 0;
        for (went_t *e = sd->buckets[hash & (sd->n_buckets - 1)]; e; e = e->next) {
                if (e->hash != hash || e->key_len != key_len ||
                    memcmp(ent_key(e), key, key_len) != 0)
                        continue;
                int64_t d = e->ts - ts;
                if (d > w->window_ms || d < -w->window_ms)
                        continue;
                if (n == w->matches_cap) {
                        size_t cap = w->matches_cap ? 2 * w->matches_cap : 16;
                        w->matches = kos_xrealloc(w->matches, cap * sizeof(*w->matches));
                        w->matches_cap = cap;
                }
                w->matches[n++] = e;
        }
        if (n > 1)
                qsort(w->matches, n, sizeof(*w->matches), by_ts_seq);
        for (size_t i = 0; i < n; i++) {
                went_t *e = w->matches[i];
                kos_wrec_t r = {.key = ent_key(e),
                                .key_len = e->key_len,
                                .ts = e->ts,
                                .replayed = e->replayed,
                                .hits = ent_hits(e),
                                .n_hits = e->n_hits,
                                .n_bad = e->n_bad};
                fn(arg, &r);
        }
        return n;
}

static void unlink_entry(side_t *sd, went_t *e)
{
        went_t **pp = &sd->buckets[e->hash & (sd->n_buckets - 1)];
        while (*pp && *pp != e)
                pp = &(*pp)->next;
        if (*pp)
                *pp = e->next;
}

void kos_window_expire(kos_window_t *w, int64_t cutoff)
{
        for (int s = 0; s < KOS_SIDES; s++) {
                side_t *sd = &w->side[s];
                while (sd->count) {
                        went_t *e = sd->fifo[sd->fifo_head];
                        if (e->ts >= cutoff)
                                break;
                        unlink_entry(sd, e);
                        sd->fifo_head = (sd->fifo_head + 1) & (sd->fifo_cap - 1);
                        sd->count--;
                        sd->bytes -= ent_size(e->n_hits, e->key_len);
                        free(e);
                }
        }
}

size_t kos_window_count(const kos_window_t *w)
{
        return w->side[0].count + w->side[1].count;
}

size_t kos_window_bytes(const kos_window_t *w)
{
        size_t b = sizeof(*w);
        for (int s = 0; s < KOS_SIDES; s++)
                b += w->side[s].bytes + w->side[s].n_buckets * sizeof(went_t *) +
                     w->side[s].fifo_cap * sizeof(went_t *);
        return b;
}
