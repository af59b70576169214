/* libFuzzer target for adapter/groupparts.c: a consumer group's committed offsets and member
 * assignments as a rogue member can write them, folded into the group's partitions and
 * attributed, checked against a brute-force model of the same rules.
 * Input: byte 0 = number of topics in the metadata (0..3) and how the rest reads; then per
 * topic 1 byte of partition count (1..16); then 8-byte entries: topic selector (5 names, one
 * not in the metadata, and NULL), member (-1..5), flags, partition (int32: small, or raw to
 * hit the extremes), committed offset (a byte). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "groupparts.h"

#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const NAMES[] = {"t0", "t1", "t2", "hidden", "t1\nforged", NULL};
#define N_NAMES (sizeof(NAMES) / sizeof(NAMES[0]))

static int same_topic(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

/* What the rules say about entry i on its own: may it be used at all? */
static int model_valid(const kos_topic_counts_t *t, const kos_gp_entry_t *e)
{
        if (!e->topic || e->partition < 0)
                return 0;
        for (size_t i = 0; i < t->n; i++)
                if (same_topic(t->v[i].name, e->topic))
                        return e->partition < t->v[i].partitions;
        return 1; /* not in the metadata: ListOffsets decides */
}

static void check_build(const kos_topic_counts_t *t, const kos_gp_entry_t *in, size_t n)
{
        kos_part_lag_t *out = malloc((n ? n : 1) * sizeof(*out));
        kos_gp_rejects_t rej = {0};
        FUZZ_ASSERT(out);
        long got = kos_group_parts_build(t, in, n, out, &rej);
        FUZZ_ASSERT(got >= 0 && (size_t)got <= n);
        size_t used = 0;
        for (long i = 0; i < got; i++) {
                const kos_part_lag_t *p = &out[i];
                /* Sorted, each (topic, partition) once. */
                if (i > 0) {
                        int c = strcmp(out[i - 1].topic, p->topic);
                        FUZZ_ASSERT(c < 0 || (c == 0 && out[i - 1].partition < p->partition));
                }
                FUZZ_ASSERT(p->lag == -1 && p->end == KOS_OFFSET_UNKNOWN);
                /* The model: the first valid commit, the lowest member, and no entry left over
                 * that the output does not account for. */
                int64_t want_committed = KOS_OFFSET_UNKNOWN;
                int want_member = -1, seen = 0;
                for (size_t j = 0; j < n; j++) {
                        const kos_gp_entry_t *e = &in[j];
                        if (!model_valid(t, e) || !same_topic(e->topic, p->topic) ||
                            e->partition != p->partition)
                                continue;
                        seen = 1;
                        if (e->member < 0 && want_committed == KOS_OFFSET_UNKNOWN)
                                want_committed = e->committed;
                        if (e->member >= 0 && (want_member < 0 || e->member < want_member))
                                want_member = e->member;
                }
                FUZZ_ASSERT(seen);
                FUZZ_ASSERT(p->committed == want_committed);
                FUZZ_ASSERT(p->member == want_member);
                used += (p->committed != KOS_OFFSET_UNKNOWN) + (p->member >= 0);
        }
        size_t valid = 0;
        for (size_t j = 0; j < n; j++)
                valid += model_valid(t, &in[j]);
        FUZZ_ASSERT(rej.count[KOS_GP_BAD_PARTITION] == n - valid);
        FUZZ_ASSERT(rej.count[KOS_GP_UNKNOWN_TOPIC] == 0);
        FUZZ_ASSERT(used + rej.count[KOS_GP_DUPLICATE] == valid);
        FUZZ_ASSERT(rej.has_first ==
                    (rej.count[KOS_GP_BAD_PARTITION] + rej.count[KOS_GP_DUPLICATE] > 0));
        if (rej.has_first)
                for (const char *c = rej.first_topic; *c; c++)
                        FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f);

        /* Attribution against the rule it implements, on the built partitions. */
        int *before = malloc((size_t)(got ? got : 1) * sizeof(*before));
        FUZZ_ASSERT(before);
        for (long i = 0; i < got; i++)
                before[i] = out[i].member;
        FUZZ_ASSERT(kos_group_parts_attribute(out, (size_t)got) == 0);
        for (long i = 0; i < got; i++) {
                int owner = -1;
                for (long j = 0; j < got; j++) {
                        if (before[j] < 0 || out[j].partition != out[i].partition)
                                continue;
                        owner = owner == -1 || owner == before[j] ? before[j] : -2;
                }
                int want = before[i] >= 0 ? before[i] : (owner >= 0 ? owner : before[i]);
                FUZZ_ASSERT(out[i].member == want);
        }
        free(before);
        for (long i = 0; i < got; i++)
                free(out[i].topic);
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        kos_topic_count_t tv[3];
        kos_topic_counts_t t = {tv, 0};
        size_t nt = data[0] % 4, pos = 1;
        for (size_t i = 0; i < nt && pos < size; i++, pos++)
                tv[t.n++] = (kos_topic_count_t){NAMES[i], 1 + data[pos] % 16};
        /* Exercise the sort's merge of a name listed twice. */
        if (data[0] & 0x80 && t.n > 1)
                tv[t.n - 1].name = tv[0].name;
        kos_topic_counts_sort(&t);
        for (size_t i = 1; i < t.n; i++)
                FUZZ_ASSERT(strcmp(t.v[i - 1].name, t.v[i].name) < 0);

        size_t n = (size - pos) / 8;
        kos_gp_entry_t *in = malloc((n ? n : 1) * sizeof(*in));
        if (!in)
                return 0;
        for (size_t i = 0; i < n; i++, pos += 8) {
                const uint8_t *b = data + pos;
                int32_t part;
                memcpy(&part, b + 3, sizeof(part));
                if (!(b[2] & 1))
                        part = (int32_t)(b[3] % 20) - 2; /* mostly small, some negative */
                in[i] = (kos_gp_entry_t){.topic = NAMES[b[0] % N_NAMES],
                                         .partition = part,
                                         .member = (int)(b[1] % 7) - 1,
                                         .committed = b[7]};
        }
        check_build(&t, in, n);
        free(in);
        return 0;
}
