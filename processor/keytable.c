/* Hash chains plus an expiry ring (see keytable.h). */
#include "keytable.h"
#include "xalloc.h"

#include <stdlib.h>

#define INITIAL 64 /* buckets and queue slots of a new table */

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

void kos_kt_init(kos_keytable_t *t)
{
        t->n_buckets = INITIAL;
        t->buckets = kos_xcalloc(t->n_buckets, sizeof(*t->buckets));
        t->count = 0;
        t->queue_cap = INITIAL;
        t->queue = kos_xcalloc(t->queue_cap, sizeof(*t->queue));
        t->queue_head = t->queue_len = 0;
}

void kos_kt_free(kos_keytable_t *t)
{
        free(t->buckets);
        free(t->queue);
        t->buckets = NULL;
        t->queue = NULL;
        t->n_buckets = t->count = t->queue_cap = t->queue_head = t->queue_len = 0;
}

static void grow_buckets(kos_keytable_t *t)
{
        size_t n = t->n_buckets * 2;
        kos_kt_node_t **b = kos_xcalloc(n, sizeof(*b));
        for (size_t i = 0; i < t->n_buckets; i++) {
                kos_kt_node_t *e = t->buckets[i];
                while (e) {
                        kos_kt_node_t *next = e->next;
                        size_t j = e->hash & (n - 1);
                        e->next = b[j];
                        b[j] = e;
                        e = next;
                }
        }
        free(t->buckets);
        t->buckets = b;
        t->n_buckets = n;
}

void kos_kt_link(kos_keytable_t *t, kos_kt_node_t *n, uint64_t hash)
{
        if (t->count >= t->n_buckets * 2)
                grow_buckets(t);
        n->hash = hash;
        size_t b = hash & (t->n_buckets - 1);
        n->next = t->buckets[b];
        t->buckets[b] = n;
        t->count++;
}

void kos_kt_unlink(kos_keytable_t *t, kos_kt_node_t *n)
{
        kos_kt_node_t **pp = &t->buckets[n->hash & (t->n_buckets - 1)];
        while (*pp && *pp != n)
                pp = &(*pp)->next;
        if (!*pp)
                return;
        *pp = n->next;
        t->count--;
}

kos_kt_node_t *kos_kt_chain(const kos_keytable_t *t, uint64_t hash)
{
        return t->buckets[hash & (t->n_buckets - 1)];
}

void kos_kt_push(kos_keytable_t *t, kos_kt_node_t *n, int64_t ts)
{
        if (t->queue_len == t->queue_cap) {
                size_t cap = t->queue_cap * 2;
                kos_kt_stamp_t *q = kos_xcalloc(cap, sizeof(*q));
                for (size_t i = 0; i < t->queue_len; i++)
                        q[i] = t->queue[(t->queue_head + i) & (t->queue_cap - 1)];
                free(t->queue);
                t->queue = q;
                t->queue_cap = cap;
                t->queue_head = 0;
        }
        t->queue[(t->queue_head + t->queue_len) & (t->queue_cap - 1)] = (kos_kt_stamp_t){n, ts};
        t->queue_len++;
}

const kos_kt_stamp_t *kos_kt_head(const kos_keytable_t *t)
{
        return t->queue_len ? &t->queue[t->queue_head] : NULL;
}

void kos_kt_pop(kos_keytable_t *t)
{
        if (!t->queue_len)
                return;
        t->queue_head = (t->queue_head + 1) & (t->queue_cap - 1);
        t->queue_len--;
}

size_t kos_kt_bytes(const kos_keytable_t *t)
{
        return t->n_buckets * sizeof(*t->buckets) + t->queue_cap * sizeof(*t->queue);
}
