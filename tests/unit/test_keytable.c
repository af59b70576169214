/* The keytable under the join buffers and the session store (processor/keytable.c): entries
 * found by hash through growth of the buckets, colliding hashes kept apart by the caller's key,
 * unlinking, the expiry queue in push order across growth and wrap-around, an entry queued
 * several times, and the container of a node. */
#include "check.h"
#include "keytable.h"

#include <stdint.h>
#include <string.h>

typedef struct {
        int id;
        kos_kt_node_t node; /* deliberately not first */
        char key[16];
} item_t;

static item_t items[1000];

static item_t *find(kos_keytable_t *t, const char *key)
{
        uint64_t h = kos_key_hash(key, strlen(key));
        for (kos_kt_node_t *n = kos_kt_chain(t, h); n; n = n->next) {
                item_t *it = KOS_KT_ENTRY(n, item_t, node);
                if (n->hash == h && strcmp(it->key, key) == 0)
                        return it;
        }
        return NULL;
}

static void hash_is_of_the_bytes(void)
{
        CHECK(kos_key_hash("abc", 3) == kos_key_hash("abcd", 3));
        CHECK(kos_key_hash("abc", 3) != kos_key_hash("abd", 3));
        CHECK(kos_key_hash("", 0) != kos_key_hash("\0", 1));
}

static void link_find_unlink(void)
{
        kos_keytable_t t = {0};
        kos_kt_init(&t);
        size_t bytes0 = kos_kt_bytes(&t);
        for (int i = 0; i < 1000; i++) {
                items[i].id = i;
                snprintf(items[i].key, sizeof(items[i].key), "k%d", i);
                kos_kt_link(&t, &items[i].node, kos_key_hash(items[i].key, strlen(items[i].key)));
        }
        CHECK_INT(t.count, 1000);
        CHECK(t.n_buckets >= 500); /* grew: at most two entries per bucket on average */
        CHECK(kos_kt_bytes(&t) > bytes0);
        int found = 0;
        for (int i = 0; i < 1000; i++) {
                item_t *it = find(&t, items[i].key);
                found += it == &items[i];
        }
        CHECK_INT(found, 1000);
        CHECK(find(&t, "k1000") == NULL);
        for (int i = 0; i < 1000; i += 2)
                kos_kt_unlink(&t, &items[i].node);
        CHECK_INT(t.count, 500);
        CHECK(find(&t, "k0") == NULL);
        CHECK(find(&t, "k998") == NULL);
        CHECK(find(&t, "k999") == &items[999]);
        /* Unlinking what is not linked changes nothing. */
        kos_kt_unlink(&t, &items[0].node);
        CHECK_INT(t.count, 500);
        kos_kt_free(&t);
}

/* Equal hashes share a chain: the caller's key tells them apart, every one is reachable. */
static void colliding_hashes(void)
{
        kos_keytable_t t = {0};
        kos_kt_init(&t);
        for (int i = 0; i < 10; i++) {
                snprintf(items[i].key, sizeof(items[i].key), "c%d", i);
                kos_kt_link(&t, &items[i].node, 42);
        }
        int seen = 0;
        for (kos_kt_node_t *n = kos_kt_chain(&t, 42); n; n = n->next)
                seen |= 1 << KOS_KT_ENTRY(n, item_t, node)->id;
        CHECK_INT(seen, 0x3ff);
        kos_kt_unlink(&t, &items[5].node);
        seen = 0;
        for (kos_kt_node_t *n = kos_kt_chain(&t, 42); n; n = n->next)
                seen |= 1 << KOS_KT_ENTRY(n, item_t, node)->id;
        CHECK_INT(seen, 0x3ff & ~(1 << 5));
        kos_kt_free(&t);
}

static void queue_in_push_order(void)
{
        kos_keytable_t t = {0};
        kos_kt_init(&t);
        CHECK(kos_kt_head(&t) == NULL);
        kos_kt_pop(&t); /* empty: a no-op */
        CHECK(kos_kt_head(&t) == NULL);
        int64_t next_in = 0, next_out = 0;
        /* Push 50, pop 40, then push past the capacity while the ring has wrapped. */
        for (; next_in < 50; next_in++)
                kos_kt_push(&t, &items[next_in % 1000].node, next_in);
        for (; next_out < 40; next_out++) {
                CHECK(kos_kt_head(&t)->ts == next_out);
                kos_kt_pop(&t);
        }
        for (; next_in < 300; next_in++)
                kos_kt_push(&t, &items[next_in % 1000].node, next_in);
        CHECK_INT(t.queue_len, 260);
        int in_order = 1;
        for (const kos_kt_stamp_t *h; (h = kos_kt_head(&t)); kos_kt_pop(&t), next_out++)
                in_order &= h->ts == next_out && h->node == &items[next_out % 1000].node;
        CHECK(in_order);
        CHECK_INT(next_out, 300);
        /* One entry queued several times (a session updated again). */
        kos_kt_push(&t, &items[7].node, 1);
        kos_kt_push(&t, &items[7].node, 2);
        CHECK(kos_kt_head(&t)->node == &items[7].node && kos_kt_head(&t)->ts == 1);
        kos_kt_pop(&t);
        CHECK(kos_kt_head(&t)->node == &items[7].node && kos_kt_head(&t)->ts == 2);
        kos_kt_free(&t);
        CHECK(t.buckets == NULL && t.queue == NULL);
}

int main(void)
{
        for (int i = 0; i < 1000; i++)
                items[i].id = i;
        hash_is_of_the_bytes();
        link_find_unlink();
        colliding_hashes();
        queue_in_push_order();
        return check_result("keytable");
}
