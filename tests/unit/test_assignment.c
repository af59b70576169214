/* Unit tests for processor/assignment.c: the partitions of a rebalance callback that
 * kos-processor acts on, when the group leader is hostile (negative and huge partition numbers,
 * numbers past the inputs' count, other topics, repeats). */
#include "assignment.h"

#include <stdint.h>
#include <stdlib.h>

#include "check.h"

static void test_rogue_assignment(void)
{
        const kos_as_entry_t in[] = {
            {"rq", 3},         {"rq", -2}, {"rq", INT32_MAX}, {"rq", 1004},  {"rq", 4},
            {"rq", 0},         {"rq", 3},  {"rs", 1},         {"nosuch", 0}, {NULL, 2},
            {"rq", INT32_MIN}, {"rq", 1},  {"RQ", 2},
        };
        size_t n = sizeof(in) / sizeof(in[0]);
        unsigned char owned[4] = {0, 1, 0, 0}; /* task 1 exists already */
        int32_t out[sizeof(in) / sizeof(in[0])];
        kos_as_rejects_t rej = {0};
        size_t got = kos_assignment_select("rq", 4, owned, 0, in, n, out, &rej);
        CHECK_INT(got, 2);
        CHECK_INT(out[0], 0);
        CHECK_INT(out[1], 3);
        CHECK_INT(rej.count[KOS_AS_BAD_PARTITION], 5);
        CHECK_INT(rej.count[KOS_AS_OTHER_TOPIC], 4);
        CHECK_INT(rej.count[KOS_AS_DUPLICATE], 1);
        CHECK(rej.has_first);
        CHECK_STR(rej.first_topic, "rq");
        CHECK_INT(rej.first_partition, -2);
        CHECK_INT(rej.first_reason, KOS_AS_BAD_PARTITION);

        /* The same list as a revocation: the owned task only, nothing counted (rej NULL). */
        got = kos_assignment_select("rq", 4, owned, 1, in, n, out, NULL);
        CHECK_INT(got, 1);
        CHECK_INT(out[0], 1);
}

static void test_edges(void)
{
        unsigned char owned[1] = {0};
        int32_t out[4];
        kos_as_rejects_t rej = {0};
        CHECK_INT(kos_assignment_select("rq", 1, owned, 0, NULL, 0, out, &rej), 0);
        CHECK(!rej.has_first);
        /* No partitions known: everything is refused. */
        const kos_as_entry_t one[] = {{"rq", 0}};
        CHECK_INT(kos_assignment_select("rq", 0, owned, 0, one, 1, out, &rej), 0);
        CHECK_INT(rej.count[KOS_AS_BAD_PARTITION], 1);
        /* A control character in a topic name does not reach the log line. */
        kos_as_rejects_t r2 = {0};
        const kos_as_entry_t evil[] = {{"a\nb", 0}};
        CHECK_INT(kos_assignment_select("rq", 1, owned, 0, evil, 1, out, &r2), 0);
        CHECK_STR(r2.first_topic, "a?b");
        CHECK_INT(r2.first_reason, KOS_AS_OTHER_TOPIC);
        CHECK_STR(kos_as_reason_name(KOS_AS_BAD_PARTITION), "bad_partition");
        CHECK_STR(kos_as_reason_name(KOS_AS_OTHER_TOPIC), "other_topic");
        CHECK_STR(kos_as_reason_name(KOS_AS_DUPLICATE), "duplicate");
}

/* Repeats of one valid partition by the hundred thousand: one task, the rest counted. */
static void test_many_repeats(void)
{
        size_t n = 200000;
        kos_as_entry_t *in = malloc(n * sizeof(*in));
        int32_t *out = malloc(n * sizeof(*out));
        for (size_t i = 0; i < n; i++)
                in[i] = (kos_as_entry_t){"rq", (int32_t)(i % 3 == 0 ? i % 8 : i)};
        unsigned char owned[8] = {0};
        kos_as_rejects_t rej = {0};
        size_t got = kos_assignment_select("rq", 8, owned, 0, in, n, out, &rej);
        CHECK_INT(got, 8);
        for (size_t i = 0; i < got; i++)
                CHECK_INT(out[i], (int32_t)i);
        CHECK_INT(got + rej.count[KOS_AS_BAD_PARTITION] + rej.count[KOS_AS_DUPLICATE], n);
        free(out);
        free(in);
}

int main(void)
{
        test_rogue_assignment();
        test_edges();
        test_many_repeats();
        return check_result("assignment");
}
