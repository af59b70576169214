/* Join buffers (see window.h). Each side is a keytable (keytable.h): every buffered record is
 * chained under its key's hash and queued once at its timestamp, so expiry pops the queue head
 * while it is older than the cutoff. */
#include "window.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
        kos_kt_node_t node; /* chained by key hash, queued once at its timestamp */
        uint64_t seq;       /* insertion order, for ties in match order */
        int64_t ts;
        uint32_t key_len;
        uint32_t n_hits;
        uint32_t n_bad;
        uint8_t replayed;
        /* kos_hit_t hits[n_hits]; uint8_t key[key_len]; */
} went_t;

typedef struct {
        kos_keytable_t kt;
        size_t bytes; /* of the entries */
} side_t;

struct kos_window_s {
        int64_t window_ms;
        uint64_t seq;
        side_t side[KOS_SIDES];
        /* scratch for sorting matches */
        went_t **matches;
        size_t matches_cap;
};

static went_t *entry(kos_kt_node_t *n)
{
        return KOS_KT_ENTRY(n, went_t, node);
}

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

kos_window_t *kos_window_new(int64_t window_ms)
{
        kos_window_t *w = kos_xcalloc(1, sizeof(*w));
        w->window_ms = window_ms;
        for (int s = 0; s < KOS_SIDES; s++)
                kos_kt_init(&w->side[s].kt);
        return w;
}

void kos_window_destroy(kos_window_t *w)
{
        if (!w)
                return;
        for (int s = 0; s < KOS_SIDES; s++) {
                kos_keytable_t *kt = &w->side[s].kt;
                /* Every entry is queued exactly once. */
                for (const kos_kt_stamp_t *h; (h = kos_kt_head(kt)); kos_kt_pop(kt))
                        free(entry(h->node));
                kos_kt_free(kt);
        }
        free(w->matches);
        free(w);
}

void kos_window_add(kos_window_t *w, int side, const kos_wrec_t *rec, uint64_t hash)
{
        side_t *sd = &w->side[side];
        uint32_t n_hits = side == KOS_SIDE_RQ ? (uint32_t)rec->n_hits : 0;
        size_t size = ent_size(n_hits, rec->key_len);
        went_t *e = kos_xmalloc(size);
        e->seq = w->seq++;
        e->ts = rec->ts;
        e->key_len = (uint32_t)rec->key_len;
        e->n_hits = n_hits;
        e->n_bad = side == KOS_SIDE_RQ ? (uint32_t)rec->n_bad : 0;
        e->replayed = rec->replayed ? 1 : 0;
        if (n_hits)
                memcpy(ent_hits(e), rec->hits, n_hits * sizeof(kos_hit_t));
        memcpy(ent_key(e), rec->key, rec->key_len);
        kos_kt_link(&sd->kt, &e->node, hash);
        kos_kt_push(&sd->kt, &e->node, e->ts);
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
        for (kos_kt_node_t *nd = kos_kt_chain(&sd->kt, hash); nd; nd = nd->next) {
                went_t *e = entry(nd);
                if (nd->hash != hash || e->key_len != key_len ||
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

void kos_window_expire(kos_window_t *w, int64_t cutoff)
{
        for (int s = 0; s < KOS_SIDES; s++) {
                side_t *sd = &w->side[s];
                const kos_kt_stamp_t *h;
                while ((h = kos_kt_head(&sd->kt)) && h->ts < cutoff) {
                        went_t *e = entry(h->node);
                        kos_kt_pop(&sd->kt);
                        kos_kt_unlink(&sd->kt, &e->node);
                        sd->bytes -= ent_size(e->n_hits, e->key_len);
                        free(e);
                }
        }
}

size_t kos_window_count(const kos_window_t *w)
{
        return w->side[0].kt.count + w->side[1].kt.count;
}

size_t kos_window_bytes(const kos_window_t *w)
{
        size_t b = sizeof(*w);
        for (int s = 0; s < KOS_SIDES; s++)
                b += w->side[s].bytes + kos_kt_bytes(&w->side[s].kt);
        return b;
}
