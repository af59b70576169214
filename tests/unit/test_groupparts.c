/* Unit tests for adapter/groupparts.c: a group's partitions folded from committed offsets and
 * member assignments as a rogue member can write them (negative and huge partition numbers,
 * numbers past the topic's count, unknown topics, repeats), and the co-partition attribution. */
#include "groupparts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static kos_topic_count_t counts_v[] = {{"t2", 2}, {"t1", 3}, {"t1", 1}};
static kos_topic_counts_t counts = {counts_v, 3};

static void free_parts(kos_part_lag_t *p, long n)
{
        for (long i = 0; i < n; i++)
                free(p[i].topic);
}

static void test_topic_counts(void)
{
        kos_topic_counts_sort(&counts);
        CHECK_INT(counts.n, 2); /* t1 listed twice keeps its largest count */
        CHECK_INT(kos_topic_counts_get(&counts, "t1"), 3);
        CHECK_INT(kos_topic_counts_get(&counts, "t2"), 2);
        CHECK_INT(kos_topic_counts_get(&counts, "t3"), 0);
        CHECK_INT(kos_topic_counts_get(&counts, NULL), 0);
        kos_topic_counts_t empty = {0};
        CHECK_INT(kos_topic_counts_get(&empty, "t1"), 0);
}

/* The rogue member of the security test: every bad kind at once, next to good entries. */
static void test_rogue_assignment(void)
{
        const kos_gp_entry_t in[] = {
            {"t1", 1, -1, 5},         /* committed */
            {"t1", 2, -1, 3},         /* committed, unassigned */
            {"t1", 0, 0, 0},          /* member 0 */
            {"t1", -2, 0, 0},         /* negative */
            {"t1", INT32_MAX, 0, 0},  /* 2^31-1 */
            {"t1", 1003, 0, 0},       /* count + 1000 */
            {"t1", 3, 0, 0},          /* just past the count */
            {"t1", 0, 0, 0},          /* repeat, same member */
            {"t1", 0, 1, 0},          /* repeat, another member */
            {"t1", 1, -1, 9},         /* committed twice */
            {"gone", 0, 1, 0},        /* topic not in the metadata: kept for ListOffsets */
            {"gone", -1, 1, 0},       /* ... but never a negative number */
            {NULL, 0, 1, 0},          /* no topic at all */
            {"t2", 1, 1, 0},          /* member 1 */
            {"t2", INT32_MIN, -1, 7}, /* committed, negative */
        };
        size_t n = sizeof(in) / sizeof(in[0]);
        kos_part_lag_t out[sizeof(in) / sizeof(in[0])];
        kos_gp_rejects_t rej = {0};
        long got = kos_group_parts_build(&counts, in, n, out, &rej);
        CHECK_INT(got, 5);
        if (got != 5)
                return;
        /* sorted by (topic, partition), each once */
        CHECK_STR(out[0].topic, "gone");
        CHECK_INT(out[0].partition, 0);
        CHECK_INT(out[0].member, 1);
        CHECK_INT(out[0].committed, KOS_OFFSET_UNKNOWN);
        CHECK_STR(out[1].topic, "t1");
        CHECK_INT(out[1].partition, 0);
        CHECK_INT(out[1].member, 0); /* the lowest index keeps a partition assigned twice */
        CHECK_INT(out[1].committed, KOS_OFFSET_UNKNOWN);
        CHECK_INT(out[2].partition, 1);
        CHECK_INT(out[2].member, -1);
        CHECK_INT(out[2].committed, 5); /* the first of two commits */
        CHECK_INT(out[3].partition, 2);
        CHECK_INT(out[3].committed, 3);
        CHECK_STR(out[4].topic, "t2");
        CHECK_INT(out[4].partition, 1);
        CHECK_INT(out[4].member, 1);
        for (long i = 0; i < got; i++) {
                CHECK_INT(out[i].end, KOS_OFFSET_UNKNOWN);
                CHECK_INT(out[i].lag, -1);
                CHECK_INT(out[i].head_ts_ms, -1);
        }
        CHECK_INT(rej.count[KOS_GP_BAD_PARTITION], 7);
        CHECK_INT(rej.count[KOS_GP_DUPLICATE], 3);
        CHECK_INT(rej.count[KOS_GP_UNKNOWN_TOPIC], 0);
        CHECK(rej.has_first);
        CHECK_STR(rej.first_topic, "t1");
        CHECK_INT(rej.first_partition, -2);
        CHECK_INT(rej.first_member, 0);
        CHECK_INT(rej.first_reason, KOS_GP_BAD_PARTITION);
        free_parts(out, got);
}

static void test_empty_and_all_bad(void)
{
        kos_gp_rejects_t rej = {0};
        kos_part_lag_t out[2];
        CHECK_INT(kos_group_parts_build(&counts, NULL, 0, out, &rej), 0);
        CHECK(!rej.has_first);
        const kos_gp_entry_t bad[] = {{"t1", -2, 0, 0}, {"t2", 2, -1, 1}};
        CHECK_INT(kos_group_parts_build(&counts, bad, 2, out, &rej), 0);
        CHECK_INT(rej.count[KOS_GP_BAD_PARTITION], 2);
        CHECK_INT(rej.first_member, 0);
        /* Without metadata, only negative numbers can be judged. */
        kos_gp_rejects_t rej2 = {0};
        long got = kos_group_parts_build(NULL, bad, 2, out, &rej2);
        CHECK_INT(got, 1);
        CHECK_INT(rej2.count[KOS_GP_BAD_PARTITION], 1);
        free_parts(out, got);
}

static void test_printable(void)
{
        char buf[8];
        kos_gp_printable(buf, sizeof(buf), "a\nb\x1b[31mlong");
        CHECK_STR(buf, "a?b?[31");
        kos_gp_printable(buf, sizeof(buf), NULL);
        CHECK_STR(buf, "");
        kos_gp_rejects_t rej = {0};
        kos_gp_reject(&rej, "evil\r\ntopic", 7, 3, KOS_GP_UNKNOWN_TOPIC);
        kos_gp_reject(&rej, "later", 1, 1, KOS_GP_DUPLICATE);
        CHECK_STR(rej.first_topic, "evil??topic");
        CHECK_INT(rej.first_partition, 7);
        CHECK_INT(rej.first_member, 3);
        CHECK_INT(rej.count[KOS_GP_UNKNOWN_TOPIC], 1);
        CHECK_INT(rej.count[KOS_GP_DUPLICATE], 1);
        CHECK_STR(kos_gp_reason_name(KOS_GP_BAD_PARTITION), "bad_partition");
        CHECK_STR(kos_gp_reason_name(KOS_GP_UNKNOWN_TOPIC), "unknown_topic");
        CHECK_STR(kos_gp_reason_name(KOS_GP_DUPLICATE), "duplicate");
}

static kos_part_lag_t P(char *topic, int32_t partition, int member)
{
        return (kos_part_lag_t){.topic = topic, .partition = partition, .member = member};
}

static void test_attribution(void)
{
        /* kos-processor: members hold rq partitions; rs partitions follow by number. */
        kos_part_lag_t g[] = {P("rq", 0, 0),  P("rq", 1, 1),  P("rq", 2, 0), P("rs", 0, -1),
                              P("rs", 1, -1), P("rs", 2, -1), P("rs", 3, -1)};
        CHECK_INT(kos_group_parts_attribute(g, 7), 0);
        CHECK_INT(g[3].member, 0);
        CHECK_INT(g[4].member, 1);
        CHECK_INT(g[5].member, 0);
        CHECK_INT(g[6].member, -1); /* nobody holds a partition 3 */
        /* Two members hold number 0: ambiguous, left alone. */
        kos_part_lag_t a[] = {P("a", 0, 0), P("b", 0, 1), P("c", 0, -1), P("c", 1, -1)};
        CHECK_INT(kos_group_parts_attribute(a, 4), 0);
        CHECK_INT(a[2].member, -1);
        CHECK_INT(a[3].member, -1);
        /* The numbers that crashed the old code (an array indexed by partition number): huge
         * and negative ones, whatever reached this far, are only compared. */
        kos_part_lag_t h[] = {P("a", INT32_MAX, 2), P("b", INT32_MAX, -1), P("a", -2, 1),
                              P("b", -2, -1), P("b", INT32_MIN, -1)};
        CHECK_INT(kos_group_parts_attribute(h, 5), 0);
        CHECK_INT(h[1].member, 2);
        CHECK_INT(h[3].member, 1);
        CHECK_INT(h[4].member, -1);
        /* Nothing assigned, or nothing unassigned: unchanged. */
        kos_part_lag_t u[] = {P("a", 0, -1), P("b", 0, -1)};
        CHECK_INT(kos_group_parts_attribute(u, 2), 0);
        CHECK_INT(u[0].member + u[1].member, -2);
        CHECK_INT(kos_group_parts_attribute(NULL, 0), 0);
}

/* A quarter of a million distinct bogus numbers (what fits in the 1 MB a group's record may
 * take): folded in well under a second, not the quadratic scan of the old code. */
static void test_many_entries(void)
{
        size_t n = 250000;
        kos_gp_entry_t *in = malloc(n * sizeof(*in));
        kos_part_lag_t *out = malloc(n * sizeof(*out));
        for (size_t i = 0; i < n; i++)
                in[i] = (kos_gp_entry_t){i % 2 ? "t1" : "elsewhere", (int32_t)(i * 7919u), 0, 0};
        kos_gp_rejects_t rej = {0};
        long got = kos_group_parts_build(&counts, in, n, out, &rej);
        CHECK(got > 0);
        CHECK_INT((uint64_t)got + rej.count[KOS_GP_BAD_PARTITION] + rej.count[KOS_GP_DUPLICATE], n);
        CHECK_INT(kos_group_parts_attribute(out, (size_t)got), 0);
        free_parts(out, got);
        free(out);
        free(in);
}

int main(void)
{
        test_topic_counts();
        test_rogue_assignment();
        test_empty_and_all_bad();
        test_printable();
        test_attribution();
        test_many_entries();
        return check_result("groupparts");
}
