/* Join window boundaries (processor/window.c): a request and a response with equal key bytes
 * join when their timestamps differ by at most the window, in either order; 3 s joins and
 * 3 s + 1 ms does not; every buffered match is found, in timestamp order; expiry by cutoff. */
#include "check.h"
#include "window.h"

#include <stdint.h>
#include <string.h>

#define W 3000

typedef struct {
        int n;
        int64_t ts[16];
        size_t n_hits[16];
        int replayed[16];
} seen_t;

static void collect(void *arg, const kos_wrec_t *r)
{
        seen_t *s = arg;
        if (s->n < 16) {
                s->ts[s->n] = r->ts;
                s->n_hits[s->n] = r->n_hits;
                s->replayed[s->n] = r->replayed;
        }
        s->n++;
}

static const kos_hit_t HIT = {.key = KOS_KEY_X, .impact_type = KOS_IMPACT_MISSED};

static void add(kos_window_t *w, int side, const char *key, int64_t ts, size_t n_hits)
{
        kos_hit_t hits[4] = {HIT, HIT, HIT, HIT};
        kos_wrec_t r = {.key = (const uint8_t *)key,
                        .key_len = strlen(key),
                        .ts = ts,
                        .hits = hits,
                        .n_hits = n_hits};
        kos_window_add(w, side, &r, kos_key_hash(key, strlen(key)));
}

static seen_t match(kos_window_t *w, int side, const char *key, int64_t ts)
{
        seen_t s = {0};
        size_t n = kos_window_match(w, side, key, strlen(key), kos_key_hash(key, strlen(key)), ts,
                                    collect, &s);
        CHECK_INT(n, s.n);
        return s;
}

static void test_boundaries(void)
{
        const char *k = "{\"ts\":1,\"machine\":\"000001\",\"zone\":\"EU\"}";
        kos_window_t *w = kos_window_new(W);
        add(w, KOS_SIDE_RQ, k, 10000, 2);
        /* A response exactly 3 s later or earlier joins; 3 s + 1 ms does not. */
        CHECK_INT(match(w, KOS_SIDE_RS, k, 13000).n, 1);
        CHECK_INT(match(w, KOS_SIDE_RS, k, 7000).n, 1);
        CHECK_INT(match(w, KOS_SIDE_RS, k, 13001).n, 0);
        CHECK_INT(match(w, KOS_SIDE_RS, k, 6999).n, 0);
        CHECK_INT(match(w, KOS_SIDE_RS, k, 10000).n, 1);
        /* The match carries the request's hits. */
        CHECK_INT(match(w, KOS_SIDE_RS, k, 10000).n_hits[0], 2);
        /* Same side never matches itself. */
        CHECK_INT(match(w, KOS_SIDE_RQ, k, 10000).n, 0);
        kos_window_destroy(w);
}

static void test_either_order(void)
{
        const char *k = "{\"ts\":2,\"machine\":\"000002\",\"zone\":\"US\"}";
        kos_window_t *w = kos_window_new(W);
        /* Response first: a later request finds it; responses keep no hits. */
        add(w, KOS_SIDE_RS, k, 20000, 3);
        seen_t s = match(w, KOS_SIDE_RQ, k, 23000);
        CHECK_INT(s.n, 1);
        CHECK_INT(s.n_hits[0], 0);
        CHECK_INT(match(w, KOS_SIDE_RQ, k, 23001).n, 0);
        CHECK_INT(match(w, KOS_SIDE_RQ, k, 16999).n, 0);
        kos_window_destroy(w);
}

static void test_keys_are_bytes(void)
{
        kos_window_t *w = kos_window_new(W);
        add(w, KOS_SIDE_RQ, "{\"ts\":3,\"machine\":\"000003\",\"zone\":\"EU\"}", 1000, 1);
        /* Same header, other bytes (spacing): not equal keys. */
        CHECK_INT(
            match(w, KOS_SIDE_RS, "{\"ts\":3, \"machine\":\"000003\",\"zone\":\"EU\"}", 1000).n, 0);
        CHECK_INT(
            match(w, KOS_SIDE_RS, "{\"ts\":3,\"machine\":\"000003\",\"zone\":\"US\"}", 1000).n, 0);
        /* A prefix is not equal either. */
        CHECK_INT(match(w, KOS_SIDE_RS, "{\"ts\":3,\"machine\":\"000003\",\"zone\":\"EU\"", 1000).n,
                  0);
        kos_window_destroy(w);
}

static void test_multiple_matches_in_ts_order(void)
{
        const char *k = "{\"ts\":4,\"machine\":\"000004\",\"zone\":\"ZG\"}";
        const char *other = "{\"ts\":5,\"machine\":\"000004\",\"zone\":\"ZG\"}";
        kos_window_t *w = kos_window_new(W);
        add(w, KOS_SIDE_RQ, k, 5000, 1);
        add(w, KOS_SIDE_RQ, k, 3000, 2);
        add(w, KOS_SIDE_RQ, other, 4000, 1);
        add(w, KOS_SIDE_RQ, k, 4000, 3);
        add(w, KOS_SIDE_RQ, k, 4000, 4); /* duplicates are kept (every pair emits) */
        add(w, KOS_SIDE_RQ, k, 9000, 1); /* outside [1000, 7000] for ts 4000 */
        seen_t s = match(w, KOS_SIDE_RS, k, 4000);
        CHECK_INT(s.n, 4);
        CHECK_INT(s.ts[0], 3000);
        CHECK_INT(s.ts[1], 4000);
        CHECK_INT(s.n_hits[1], 3); /* ties in insertion order */
        CHECK_INT(s.ts[2], 4000);
        CHECK_INT(s.n_hits[2], 4);
        CHECK_INT(s.ts[3], 5000);
        CHECK_INT(kos_window_count(w), 6);
        kos_window_destroy(w);
}

static void test_expiry(void)
{
        kos_window_t *w = kos_window_new(W);
        char key[64];
        for (int i = 0; i < 1000; i++) {
                snprintf(key, sizeof(key), "k%d", i % 10);
                add(w, i % 2, key, 1000 + i, 1);
        }
        CHECK_INT(kos_window_count(w), 1000);
        size_t before = kos_window_bytes(w);
        kos_window_expire(w, 1500); /* drops ts < 1500: the first 500 */
        CHECK_INT(kos_window_count(w), 500);
        CHECK(kos_window_bytes(w) < before);
        seen_t s = match(w, KOS_SIDE_RS, "k0", 1000);
        CHECK_INT(s.n, 50);
        CHECK_INT(s.ts[0], 1500); /* the oldest left */
        /* Records from ts 1500 on are still found: k0 requests at 1500..1990 step 10 (even i),
         * all within 3 s of 2000. */
        CHECK_INT(match(w, KOS_SIDE_RS, "k0", 2000).n, 50);
        kos_window_expire(w, INT64_MAX);
        CHECK_INT(kos_window_count(w), 0);
        CHECK_INT(match(w, KOS_SIDE_RS, "k0", 2000).n, 0);
        /* Reusable after emptying (ring wrap-around). */
        for (int i = 0; i < 300; i++)
                add(w, KOS_SIDE_RS, "again", 5000 + i, 0);
        CHECK_INT(match(w, KOS_SIDE_RQ, "again", 5000).n, 300);
        kos_window_destroy(w);
}

static void test_replayed_flag(void)
{
        kos_window_t *w = kos_window_new(W);
        kos_wrec_t r = {.key = (const uint8_t *)"k", .key_len = 1, .ts = 1, .replayed = 1};
        kos_window_add(w, KOS_SIDE_RS, &r, kos_key_hash("k", 1));
        seen_t s = match(w, KOS_SIDE_RQ, "k", 1);
        CHECK_INT(s.n, 1);
        CHECK_INT(s.replayed[0], 1);
        kos_window_destroy(w);
}

int main(void)
{
        test_boundaries();
        test_either_order();
        test_keys_are_bytes();
        test_multiple_matches_in_ts_order();
        test_expiry();
        test_replayed_flag();
        kos_window_destroy(NULL);
        return check_result("test_window");
}
