/* The aggregate store (processor/sessions.c): hits append per key in order, the cap drops and
 * counts, dirty sessions flush once in the order they changed, expiry frees sessions whose
 * last update is older than the cutoff but never a dirty one, and stale FIFO entries of a
 * session updated again do not free it early. */
#include "check.h"
#include "sessions.h"
#include "window.h"

#include <stdint.h>
#include <string.h>

static kos_hit_t hit(int impact)
{
        return (kos_hit_t){.key = KOS_KEY_O,
                           .direction = KOS_DIR_UP,
                           .impact_type = KOS_IMPACT_DIRECT,
                           .impact = (uint8_t)impact,
                           .level = KOS_LEVEL_PRO,
                           .game = KOS_GAME_NEOWAVE};
}

static kos_session_t *get(kos_sessions_t *ss, const char *k)
{
        return kos_sessions_get(ss, k, strlen(k), kos_key_hash(k, strlen(k)));
}

static kos_session_t *find(kos_sessions_t *ss, const char *k)
{
        return kos_sessions_find(ss, k, strlen(k), kos_key_hash(k, strlen(k)));
}

static void test_append_in_order(void)
{
        kos_sessions_t *ss = kos_sessions_new(100);
        kos_session_t *a = get(ss, "a");
        CHECK(a != NULL);
        CHECK(get(ss, "a") == a);
        CHECK(find(ss, "b") == NULL);
        for (int i = 0; i < 20; i++) {
                kos_hit_t h = hit(i);
                CHECK_INT(kos_sessions_append(ss, a, &h, 1, 1000 + i), 0);
        }
        kos_session_view_t v;
        kos_session_view(a, &v);
        CHECK_INT(v.n_hits, 20);
        CHECK_INT(v.ts, 1019);
        CHECK_INT(v.key_len, 1);
        for (int i = 0; i < 20; i++)
                CHECK_INT(v.hits[i].impact, i);
        /* An older update keeps the latest timestamp. */
        kos_hit_t h = hit(99);
        kos_sessions_append(ss, a, &h, 1, 5);
        kos_session_view(a, &v);
        CHECK_INT(v.ts, 1019);
        CHECK_INT(v.n_hits, 21);
        CHECK_INT(kos_sessions_count(ss), 1);
        kos_sessions_destroy(ss);
}

static void test_cap(void)
{
        kos_sessions_t *ss = kos_sessions_new(5);
        kos_session_t *a = get(ss, "a");
        kos_hit_t hs[4] = {hit(1), hit(2), hit(3), hit(4)};
        CHECK_INT(kos_sessions_append(ss, a, hs, 4, 1), 0);
        CHECK_INT(kos_sessions_append(ss, a, hs, 4, 2), 3); /* one fits */
        CHECK_INT(kos_sessions_append(ss, a, hs, 2, 3), 2);
        kos_session_view_t v;
        kos_session_view(a, &v);
        CHECK_INT(v.n_hits, 5);
        CHECK_INT(v.hits[4].impact, 1);
        kos_sessions_destroy(ss);
}

typedef struct {
        int n;
        char keys[8][8];
        size_t n_hits[8];
} flushed_t;

static void on_flush(void *arg, const kos_session_view_t *v)
{
        flushed_t *f = arg;
        if (f->n < 8) {
                memcpy(f->keys[f->n], v->key, v->key_len < 7 ? v->key_len : 7);
                f->keys[f->n][v->key_len < 7 ? v->key_len : 7] = '\0';
                f->n_hits[f->n] = v->n_hits;
        }
        f->n++;
}

static void test_dirty_flush(void)
{
        kos_sessions_t *ss = kos_sessions_new(100);
        kos_hit_t h = hit(7);
        kos_session_t *b = get(ss, "b"), *a = get(ss, "a");
        kos_sessions_append(ss, b, &h, 1, 10);
        kos_sessions_mark_dirty(ss, b);
        kos_sessions_append(ss, a, &h, 1, 11);
        kos_sessions_mark_dirty(ss, a);
        kos_sessions_append(ss, b, &h, 1, 12);
        kos_sessions_mark_dirty(ss, b); /* once */
        CHECK_INT(kos_sessions_dirty_count(ss), 2);
        flushed_t f = {0};
        CHECK_INT(kos_sessions_flush(ss, on_flush, &f), 2);
        CHECK_INT(f.n, 2);
        CHECK_STR(f.keys[0], "b");
        CHECK_INT(f.n_hits[0], 2);
        CHECK_STR(f.keys[1], "a");
        CHECK_INT(kos_sessions_dirty_count(ss), 0);
        f.n = 0;
        CHECK_INT(kos_sessions_flush(ss, on_flush, &f), 0);
        CHECK_INT(f.n, 0);
        kos_sessions_destroy(ss);
}

static void test_expiry(void)
{
        kos_sessions_t *ss = kos_sessions_new(100);
        kos_hit_t h = hit(1);
        char k[16];
        for (int i = 0; i < 100; i++) {
                snprintf(k, sizeof(k), "k%d", i);
                kos_sessions_append(ss, get(ss, k), &h, 1, 1000 + i);
        }
        CHECK_INT(kos_sessions_count(ss), 100);
        size_t bytes = kos_sessions_bytes(ss);
        /* k0 is updated again later: its first FIFO entry is stale and must not free it. */
        kos_sessions_append(ss, find(ss, "k0"), &h, 1, 2000);
        kos_sessions_expire(ss, 1050); /* frees k1..k49 */
        CHECK_INT(kos_sessions_count(ss), 51);
        CHECK(find(ss, "k0") != NULL);
        CHECK(find(ss, "k1") == NULL);
        CHECK(find(ss, "k50") != NULL);
        CHECK(kos_sessions_bytes(ss) < bytes);
        /* A dirty session is not freed until flushed. */
        kos_sessions_mark_dirty(ss, find(ss, "k50"));
        kos_sessions_expire(ss, 1060);
        CHECK(find(ss, "k50") != NULL);
        CHECK_INT(kos_sessions_count(ss), 51); /* stops at the dirty head */
        kos_sessions_flush(ss, NULL, NULL);
        kos_sessions_expire(ss, 1060);
        CHECK(find(ss, "k50") == NULL);
        CHECK_INT(kos_sessions_count(ss), 41);
        kos_sessions_expire(ss, 1999);
        CHECK_INT(kos_sessions_count(ss), 1);
        CHECK(find(ss, "k0") != NULL);
        kos_sessions_expire(ss, 2001);
        CHECK_INT(kos_sessions_count(ss), 0);
        /* A session created but never appended to expires too. */
        get(ss, "empty");
        kos_sessions_expire(ss, INT64_MIN + 1);
        CHECK_INT(kos_sessions_count(ss), 0);
        /* Re-created after expiry: starts empty. */
        kos_session_view_t v;
        kos_session_view(get(ss, "k0"), &v);
        CHECK_INT(v.n_hits, 0);
        kos_sessions_destroy(ss);
}

static void test_many_keys(void)
{
        kos_sessions_t *ss = kos_sessions_new(10);
        kos_hit_t h = hit(3);
        char k[32];
        for (int i = 0; i < 20000; i++) {
                snprintf(k, sizeof(k), "key-%d", i);
                kos_sessions_append(ss, get(ss, k), &h, 1, i);
        }
        CHECK_INT(kos_sessions_count(ss), 20000);
        int found = 0;
        for (int i = 0; i < 20000; i += 7) {
                snprintf(k, sizeof(k), "key-%d", i);
                found += find(ss, k) != NULL;
        }
        CHECK_INT(found, 2858);
        kos_sessions_expire(ss, 10000);
        CHECK_INT(kos_sessions_count(ss), 10000);
        kos_sessions_destroy(ss);
        kos_sessions_destroy(NULL);
}

int main(void)
{
        test_append_in_order();
        test_cap();
        test_dirty_flush();
        test_expiry();
        test_many_keys();
        return check_result("test_sessions");
}
