/* Unit tests for the lag arithmetic and the snapshot (adapter/snapshot.c, declared in
 * snapshot.h): kos_part_lag_compute, the per-group sums and ages, a group carried over as unknown,
 * sorting and lookups, reference counting and the publication point. Snapshots are built by
 * hand with strdup'ed strings, which kos_snapshot_unref frees. */
#include "lag.h"
#include "snapshot.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- hand-built snapshots --------------------------------------------------------------- */

static kos_part_lag_t part(const char *topic, int32_t partition, int64_t lag, int64_t head_ts,
                           int member)
{
        kos_part_lag_t p = {.topic = strdup(topic),
                            .partition = partition,
                            .committed = lag >= 0 ? 100 : KOS_OFFSET_UNKNOWN,
                            .end = lag >= 0 ? 100 + lag : KOS_OFFSET_UNKNOWN,
                            .log_start = 0,
                            .lag = lag,
                            .head_ts_ms = head_ts,
                            .member = member};
        return p;
}

/* Fills g with an owned copy of parts. */
static void group_init(kos_group_lag_t *g, const char *id, const kos_part_lag_t *parts, size_t n)
{
        memset(g, 0, sizeof(*g));
        g->group_id = strdup(id);
        g->state = strdup("Stable");
        g->parts = calloc(n ? n : 1, sizeof(*g->parts));
        if (n)
                memcpy(g->parts, parts, n * sizeof(*parts));
        g->n_parts = n;
}

static kos_snapshot_t *snapshot_with_groups(const char *const *ids, size_t n)
{
        kos_snapshot_t *s = kos_snapshot_new();
        s->groups = calloc(n ? n : 1, sizeof(*s->groups));
        s->n_groups = n;
        for (size_t i = 0; i < n; i++) {
                kos_part_lag_t p = part("t", 0, (int64_t)i, -1, -1);
                group_init(&s->groups[i], ids[i], &p, 1);
        }
        return s;
}

/* ---- kos_part_lag_compute -------------------------------------------------------------------- */

static void test_lag_compute(void)
{
        const kos_nocommit_policy_t E = KOS_NOCOMMIT_EARLIEST, L = KOS_NOCOMMIT_LATEST;

        /* normal: end - committed */
        CHECK_INT(kos_part_lag_compute(90, 100, 0, E), 10);
        CHECK_INT(kos_part_lag_compute(90, 100, 0, L), 10);
        CHECK_INT(kos_part_lag_compute(0, 1, -1, E), 1); /* log_start is not needed with a commit */
        CHECK_INT(kos_part_lag_compute(0, INT64_MAX, 0, E), INT64_MAX);
        /* caught up */
        CHECK_INT(kos_part_lag_compute(100, 100, 0, E), 0);
        CHECK_INT(kos_part_lag_compute(0, 0, 0, E), 0);
        /* committed past the end (truncation, a deleted and recreated topic): clamped to 0 */
        CHECK_INT(kos_part_lag_compute(150, 100, 0, E), 0);
        CHECK_INT(kos_part_lag_compute(INT64_MAX, 0, 0, L), 0);
        /* committed below the log start (retention deleted from there on, KEDA issue 7936):
         * counted from the log start, the first record a consumer can still read */
        CHECK_INT(kos_part_lag_compute(5, 100, 50, E), 50);
        CHECK_INT(kos_part_lag_compute(5, 100, 50, L), 50);
        CHECK_INT(kos_part_lag_compute(5, 100, 100, E), 0);  /* everything deleted */
        CHECK_INT(kos_part_lag_compute(5, 100, 120, E), 0);  /* log start read after the end */
        CHECK_INT(kos_part_lag_compute(50, 100, 50, E), 50); /* at the log start: unchanged */

        /* no commit, earliest: counted from the log start offset, not from 0 */
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, 100, 40, E), 60);
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, 100, 0, E), 100);
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, 100, 100, E), 0); /* all deleted */
        /* ... and unknown when the log start is unknown (never "end - 0") */
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, 100, -1, E), -1);
        /* no commit, latest: 0, whatever the log start */
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, 100, 40, L), 0);
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, 100, -1, L), 0);

        /* end unknown: -1 in every case, even with a commit or the latest policy */
        CHECK_INT(kos_part_lag_compute(90, -1, 0, E), -1);
        CHECK_INT(kos_part_lag_compute(90, -1, 0, L), -1);
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, -1, 0, E), -1);
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, -1, 0, L), -1);
        CHECK_INT(kos_part_lag_compute(90, KOS_OFFSET_GONE, 0, E), -1);

        /* read_committed: the lag engine passes the last stable offset (LSO) as `end` instead
         * of the high watermark; the arithmetic is the same. A partition with HW 110 and an
         * open transaction starting at 100 has LSO 100, so a consumer committed at 100 is
         * caught up under read_committed (lag 0) but 10 behind under read_uncommitted. */
        const int64_t hw = 110, lso = 100, committed = 100;
        CHECK_INT(kos_part_lag_compute(committed, lso, 0, E), 0);
        CHECK_INT(kos_part_lag_compute(committed, hw, 0, E), 10);
        CHECK_INT(kos_part_lag_compute(95, lso, 0, E), 5);
        CHECK_INT(kos_part_lag_compute(KOS_OFFSET_UNKNOWN, lso, 20, E), 80);
}

static void test_lag_opts_defaults(void)
{
        kos_lag_opts_t o;
        memset(&o, 0xff, sizeof(o));
        kos_lag_opts_defaults(&o);
        CHECK(o.refresh_interval_ms > 0);
        CHECK(o.kafka_timeout_ms > 0);
        CHECK_INT(o.policy, KOS_NOCOMMIT_EARLIEST);
        CHECK_INT(o.read_committed, 0);
        CHECK(o.head_budget_ms > 0);
}

/* ---- sums and ages ---------------------------------------------------------------------- */

static void test_group_lag_sum(void)
{
        kos_part_lag_t parts[] = {
            part("a", 0, 10, -1, 0), part("a", 1, 5, -1, 1),  part("b", 0, 7, -1, 0),
            part("b", 1, 0, -1, -1), part("c", 0, -1, -1, 0), part("c", 1, 3, -1, 0),
        };
        kos_group_lag_t g;
        group_init(&g, "g", parts, sizeof(parts) / sizeof(parts[0]));
        size_t n = 99;

        CHECK_INT(kos_group_lag_sum(&g, "a", &n), 15);
        CHECK_INT(n, 2);
        CHECK_INT(kos_group_lag_sum(&g, "b", &n), 7);
        CHECK_INT(n, 2); /* a caught-up partition still counts */
        CHECK_INT(kos_group_lag_sum(&g, "b", NULL), 7);
        /* a topic the group does not have: 0 over 0 partitions */
        CHECK_INT(kos_group_lag_sum(&g, "zzz", &n), 0);
        CHECK_INT(n, 0);
        /* one unknown partition makes the whole selection unknown, never a partial sum */
        CHECK_INT(kos_group_lag_sum(&g, "c", &n), -1);
        CHECK_INT(kos_group_lag_sum(&g, NULL, &n), -1);
        CHECK_INT(kos_group_lag_sum(&g, NULL, NULL), -1);

        /* unknown partition last instead of in the middle */
        kos_part_lag_t p2[] = {part("a", 0, 10, -1, 0), part("a", 1, -1, -1, 0)};
        kos_group_lag_t g2;
        group_init(&g2, "g2", p2, 2);
        CHECK_INT(kos_group_lag_sum(&g2, NULL, &n), -1);
        CHECK_INT(kos_group_lag_sum(&g2, "a", &n), -1);
        /* all known */
        kos_part_lag_t p3[] = {part("a", 0, 10, -1, 0), part("b", 0, 32, -1, 0)};
        kos_group_lag_t g3;
        group_init(&g3, "g3", p3, 2);
        CHECK_INT(kos_group_lag_sum(&g3, NULL, &n), 42);
        CHECK_INT(n, 2);
        /* no partitions at all */
        kos_group_lag_t g4;
        group_init(&g4, "g4", NULL, 0);
        CHECK_INT(kos_group_lag_sum(&g4, NULL, &n), 0);
        CHECK_INT(n, 0);

        /* free through a snapshot, the way the engine owns them */
        kos_snapshot_t *s = kos_snapshot_new();
        s->groups = calloc(4, sizeof(*s->groups));
        s->groups[0] = g;
        s->groups[1] = g2;
        s->groups[2] = g3;
        s->groups[3] = g4;
        s->n_groups = 4;
        kos_snapshot_unref(s);
}

static void test_group_lag_age(void)
{
        const int64_t now = 1000000;
        kos_part_lag_t parts[] = {
            part("a", 0, 10, now - 1500, 0), part("a", 1, 5, now - 4000, 0),
            part("b", 0, 0, -1, 0),         /* caught up, no head: ignored */
            part("b", 1, 0, now - 9999, 0), /* caught up with a stale head: ignored */
            part("c", 0, 3, -1, 0),         /* lag but head unknown */
            part("d", 0, -1, now - 10, 0),  /* lag unknown */
        };
        kos_group_lag_t g;
        group_init(&g, "g", parts, sizeof(parts) / sizeof(parts[0]));

        CHECK_INT(kos_group_lag_age_ms(&g, "a", now), 4000); /* the oldest of the topic */
        CHECK_INT(kos_group_lag_age_ms(&g, "b", now), 0);    /* nothing unconsumed */
        CHECK_INT(kos_group_lag_age_ms(&g, "c", now), -1);
        CHECK_INT(kos_group_lag_age_ms(&g, "d", now), -1);
        CHECK_INT(kos_group_lag_age_ms(&g, NULL, now), -1);
        CHECK_INT(kos_group_lag_age_ms(&g, "none", now), 0);

        kos_part_lag_t p2[] = {part("a", 0, 1, now - 250, 0), part("b", 0, 0, -1, -1),
                               part("b", 1, 2, now - 750, 1)};
        kos_group_lag_t g2;
        group_init(&g2, "g2", p2, 3);
        CHECK_INT(kos_group_lag_age_ms(&g2, NULL, now), 750);
        CHECK_INT(kos_group_lag_age_ms(&g2, "a", now), 250);
        /* a head timestamp in the future (clock skew) never yields a negative age */
        CHECK(kos_group_lag_age_ms(&g2, "a", now - 1000) >= 0);

        kos_snapshot_t *s = kos_snapshot_new();
        s->groups = calloc(2, sizeof(*s->groups));
        s->groups[0] = g;
        s->groups[1] = g2;
        s->n_groups = 2;
        kos_snapshot_unref(s);
}

/* ---- a group carried over as unknown ----------------------------------------------------- */

static void test_group_copy_unknown(void)
{
        const int64_t now = 1000000;
        kos_part_lag_t parts[] = {part("a", 0, 10, now - 1500, 0), part("a", 1, 0, -1, -1),
                                  part("b", 3, 7, now - 20, 1)};
        kos_group_lag_t src;
        group_init(&src, "g", parts, 3);
        src.members = calloc(2, sizeof(*src.members));
        src.n_members = 2;
        src.members[0] = (kos_member_t){strdup("m-0"), strdup("pod-0"), strdup("/10.0.0.1")};
        src.members[1] = (kos_member_t){strdup("m-1"), strdup("pod-1"), strdup("/10.0.0.2")};
        CHECK_INT(kos_group_lag_sum(&src, NULL, NULL), 17);

        kos_group_lag_t dst;
        CHECK_INT(kos_group_copy_unknown(&dst, &src), 0);
        /* the same group, partitions and pods ... */
        CHECK_STR(dst.group_id, "g");
        CHECK(dst.group_id != src.group_id);
        CHECK_STR(dst.state, "Stable");
        CHECK_INT(dst.n_parts, 3);
        CHECK_INT(dst.n_members, 2);
        for (size_t i = 0; i < dst.n_parts; i++) {
                CHECK_STR(dst.parts[i].topic, src.parts[i].topic);
                CHECK(dst.parts[i].topic != src.parts[i].topic);
                CHECK_INT(dst.parts[i].partition, src.parts[i].partition);
                CHECK_INT(dst.parts[i].member, src.parts[i].member);
                /* ... with nothing known: not the old numbers, not 0 */
                CHECK_INT(dst.parts[i].lag, -1);
                CHECK_INT(dst.parts[i].committed, KOS_OFFSET_UNKNOWN);
                CHECK_INT(dst.parts[i].end, KOS_OFFSET_UNKNOWN);
                CHECK_INT(dst.parts[i].log_start, KOS_OFFSET_UNKNOWN);
                CHECK_INT(atomic_load(&dst.parts[i].head_ts_ms), -1);
        }
        CHECK_STR(dst.members[1].client_id, "pod-1");
        CHECK(dst.members[1].client_id != src.members[1].client_id);
        CHECK_STR(dst.members[0].member_id, "m-0");
        CHECK_STR(dst.members[0].host, "/10.0.0.1");
        /* every value of the group and of each topic is unknown (503), the caught-up
         * partition included: its 0 was true before, not now */
        CHECK_INT(kos_group_lag_sum(&dst, NULL, NULL), -1);
        CHECK_INT(kos_group_lag_sum(&dst, "a", NULL), -1);
        CHECK_INT(kos_group_lag_sum(&dst, "b", NULL), -1);
        CHECK_INT(kos_group_lag_age_ms(&dst, NULL, now), -1);
        CHECK_INT(kos_group_lag_age_ms(&dst, "a", now), -1);

        /* a group with neither partitions nor members copies to an empty group */
        kos_group_lag_t empty_src, empty_dst;
        group_init(&empty_src, "e", NULL, 0);
        CHECK_INT(kos_group_copy_unknown(&empty_dst, &empty_src), 0);
        CHECK_INT(empty_dst.n_parts, 0);
        CHECK_INT(empty_dst.n_members, 0);
        CHECK_STR(empty_dst.group_id, "e");

        /* all four are freed through a snapshot (LeakSanitizer checks the copies own theirs) */
        kos_snapshot_t *s = kos_snapshot_new();
        s->groups = calloc(4, sizeof(*s->groups));
        s->groups[0] = src;
        s->groups[1] = dst;
        s->groups[2] = empty_src;
        s->groups[3] = empty_dst;
        s->n_groups = 4;
        kos_snapshot_unref(s);
}

/* ---- sorting and lookups ---------------------------------------------------------------- */

static void test_finish_and_lookup(void)
{
        const char *ids[] = {"zeta", "alpha", "Mid", "beta-2", "beta"};
        kos_snapshot_t *s = snapshot_with_groups(ids, 5);
        /* give "alpha" unsorted partitions: numeric order, topic first */
        kos_group_lag_t *a = &s->groups[1];
        free(a->parts[0].topic);
        free(a->parts);
        kos_part_lag_t parts[] = {part("t", 10, 1, -1, 0),  part("t", 2, 2, -1, 0),
                                  part("s", 5, 3, -1, 0),   part("t", -1, 4, -1, 0),
                                  part("t-x", 0, 5, -1, 0), part("t", 0, 6, -1, 0)};
        a->parts = calloc(6, sizeof(*a->parts));
        memcpy(a->parts, parts, sizeof(parts));
        a->n_parts = 6;

        kos_snapshot_finish(s);

        /* groups sorted by strcmp (uppercase first) */
        const char *want[] = {"Mid", "alpha", "beta", "beta-2", "zeta"};
        for (size_t i = 0; i < 5; i++)
                CHECK_STR(s->groups[i].group_id, want[i]);
        /* parts sorted by (topic, partition numerically) */
        const kos_group_lag_t *g = kos_snapshot_group(s, "alpha");
        CHECK(g != NULL);
        if (g) {
                static const struct {
                        const char *topic;
                        int32_t p;
                } order[] = {{"s", 5}, {"t", -1}, {"t", 0}, {"t", 2}, {"t", 10}, {"t-x", 0}};
                for (size_t i = 0; i < 6; i++) {
                        CHECK_STR(g->parts[i].topic, order[i].topic);
                        CHECK_INT(g->parts[i].partition, order[i].p);
                }
                const kos_part_lag_t *p = kos_group_part(g, "t", 10);
                CHECK(p != NULL && p->lag == 1);
                p = kos_group_part(g, "t", 2);
                CHECK(p != NULL && p->lag == 2);
                p = kos_group_part(g, "s", 5);
                CHECK(p != NULL && p->lag == 3);
                p = kos_group_part(g, "t-x", 0);
                CHECK(p != NULL && p->lag == 5);
                CHECK(kos_group_part(g, "t", 3) == NULL);
                CHECK(kos_group_part(g, "s", 0) == NULL);
                CHECK(kos_group_part(g, "u", 0) == NULL);
                CHECK(kos_group_part(g, "", 0) == NULL);
        }
        for (size_t i = 0; i < 5; i++) {
                const kos_group_lag_t *x = kos_snapshot_group(s, ids[i]);
                CHECK(x != NULL && strcmp(x->group_id, ids[i]) == 0);
        }
        CHECK(kos_snapshot_group(s, "mid") == NULL); /* case-sensitive */
        CHECK(kos_snapshot_group(s, "") == NULL);
        CHECK(kos_snapshot_group(s, "zzz") == NULL);
        CHECK(kos_snapshot_group(NULL, "alpha") == NULL);

        kos_snapshot_unref(s);

        kos_snapshot_t *empty = kos_snapshot_new();
        kos_snapshot_finish(empty);
        CHECK(kos_snapshot_group(empty, "x") == NULL);
        kos_group_lag_t g0;
        group_init(&g0, "g0", NULL, 0);
        CHECK(kos_group_part(&g0, "t", 0) == NULL);
        empty->groups = calloc(1, sizeof(*empty->groups));
        empty->groups[0] = g0;
        empty->n_groups = 1;
        kos_snapshot_finish(empty);
        CHECK(kos_snapshot_group(empty, "g0") != NULL);
        kos_snapshot_unref(empty);
}

/* ---- reference counting and publication --------------------------------------------------- */

static void test_refcount_publish(void)
{
        CHECK(kos_snapshot_current() == NULL);

        const char *ids1[] = {"first"};
        kos_snapshot_t *s1 = snapshot_with_groups(ids1, 1);
        s1->taken_ms = 111;
        CHECK_INT(atomic_load(&s1->refcnt), 1);
        CHECK(kos_snapshot_ref(s1) == s1);
        CHECK_INT(atomic_load(&s1->refcnt), 2);
        kos_snapshot_unref(s1);
        CHECK_INT(atomic_load(&s1->refcnt), 1);
        CHECK(kos_snapshot_ref(NULL) == NULL);
        kos_snapshot_unref(NULL);

        kos_snapshot_finish(s1);
        kos_snapshot_publish(s1); /* takes our reference */
        CHECK_INT(atomic_load(&s1->refcnt), 1);

        kos_snapshot_t *c1 = kos_snapshot_current();
        CHECK(c1 == s1);
        CHECK_INT(atomic_load(&s1->refcnt), 2);
        kos_snapshot_t *c1b = kos_snapshot_current();
        CHECK(c1b == s1);
        CHECK_INT(atomic_load(&s1->refcnt), 3);
        kos_snapshot_unref(c1b);

        /* publishing a new snapshot drops the publisher's reference on the old one, but a
         * reader still holding it keeps it alive and intact */
        const char *ids2[] = {"second"};
        kos_snapshot_t *s2 = snapshot_with_groups(ids2, 1);
        s2->taken_ms = 222;
        kos_snapshot_publish(s2);
        CHECK_INT(atomic_load(&c1->refcnt), 1);
        CHECK_STR(c1->groups[0].group_id, "first");
        CHECK_INT(c1->taken_ms, 111);
        kos_snapshot_t *c2 = kos_snapshot_current();
        CHECK(c2 == s2);
        CHECK_INT(c2->taken_ms, 222);
        kos_snapshot_unref(c1); /* the last reference: freed here (ASan would see a leak or a
                                   double free otherwise) */
        kos_snapshot_unref(c2);
        CHECK_INT(atomic_load(&s2->refcnt), 1);

        /* republishing the same pointer with an extra reference is safe */
        kos_snapshot_publish(kos_snapshot_ref(s2));
        CHECK_INT(atomic_load(&s2->refcnt), 1);
        c2 = kos_snapshot_current();
        CHECK(c2 == s2);
        kos_snapshot_unref(c2);

        kos_snapshot_publish_clear();
        CHECK(kos_snapshot_current() == NULL);
        kos_snapshot_publish_clear(); /* idempotent */
        CHECK(kos_snapshot_current() == NULL);
}

/* Readers take and drop references while a writer keeps publishing; under ASan a reader
 * touching a freed snapshot or a refcount underflow (double free) fails the test. */
static atomic_int stop_readers;
static atomic_long reads_ok;

static void *reader(void *arg)
{
        (void)arg;
        while (!atomic_load(&stop_readers)) {
                kos_snapshot_t *s = kos_snapshot_current();
                if (s) {
                        if (s->n_groups == 1 && s->groups[0].group_id[0] == 'g' &&
                            atomic_load(&s->refcnt) >= 1)
                                atomic_fetch_add(&reads_ok, 1);
                        kos_snapshot_unref(s);
                }
        }
        return NULL;
}

static void test_publish_concurrent(void)
{
        pthread_t th[2];
        atomic_store(&stop_readers, 0);
        for (int i = 0; i < 2; i++)
                CHECK_INT(pthread_create(&th[i], NULL, reader, NULL), 0);
        const char *ids[] = {"g"};
        for (int i = 0; i < 2000; i++) {
                kos_snapshot_t *s = snapshot_with_groups(ids, 1);
                s->taken_ms = i;
                kos_snapshot_publish(s);
        }
        atomic_store(&stop_readers, 1);
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        kos_snapshot_t *last = kos_snapshot_current();
        CHECK(last != NULL && last->taken_ms == 1999);
        CHECK(last != NULL && atomic_load(&last->refcnt) == 2);
        kos_snapshot_unref(last);
        kos_snapshot_publish_clear();
        CHECK(kos_snapshot_current() == NULL);
}

/* ---- kos_lag_probe_backoff_ms ------------------------------------------------------------ */

static void test_probe_backoff(void)
{
        /* librdkafka's defaults (100 ms .. 10 s) with a 1 s refresh interval: the interval
         * first, then doubling to the cap, which holds. */
        CHECK_INT(kos_lag_probe_backoff_ms(1, 100, 10000, 1000), 1000);
        CHECK_INT(kos_lag_probe_backoff_ms(4, 100, 10000, 1000), 1000);
        CHECK_INT(kos_lag_probe_backoff_ms(5, 100, 10000, 1000), 1600);
        CHECK_INT(kos_lag_probe_backoff_ms(8, 100, 10000, 1000), 10000);
        CHECK_INT(kos_lag_probe_backoff_ms(1000000, 100, 10000, 1000), 10000);
        /* A short interval does not shorten the backoff; a long one wins. */
        CHECK_INT(kos_lag_probe_backoff_ms(3, 100, 10000, 200), 400);
        CHECK_INT(kos_lag_probe_backoff_ms(9, 100, 10000, 60000), 60000);
        /* reconnect.backoff.ms=0 (librdkafka: no backoff) still doubles from 1 ms; max below
         * the base is the cap. */
        CHECK_INT(kos_lag_probe_backoff_ms(3, 0, 10000, 0), 4);
        CHECK_INT(kos_lag_probe_backoff_ms(2, 500, 300, 0), 300);
        CHECK_INT(kos_lag_probe_backoff_ms(40, 3600000, 3600000, 1000), 3600000);
}

int main(void)
{
        test_lag_compute();
        test_probe_backoff();
        test_lag_opts_defaults();
        test_group_lag_sum();
        test_group_lag_age();
        test_group_copy_unknown();
        test_finish_and_lookup();
        test_refcount_publish();
        test_publish_concurrent();
        return check_result("lag");
}
