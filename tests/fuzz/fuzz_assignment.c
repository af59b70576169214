/* libFuzzer target for processor/assignment.c: the partition list of a rebalance callback as a
 * rogue group leader can write it, checked against a brute-force model of the rules.
 * Input: byte 0 = the inputs' partition count (0..63); byte 1 = assignment or revocation;
 * bytes 2..9 = which tasks are owned (a bitmap of 64); then 6-byte entries: topic selector
 * ("rq", "rs", "RQ", a forged name, NULL), flags, partition (int32: small, or raw). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assignment.h"

#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const NAMES[] = {"rq", "rs", "RQ", "rq\r\nforged", NULL};
#define N_NAMES (sizeof(NAMES) / sizeof(NAMES[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 10)
                return 0;
        int32_t n_partitions = data[0] % 64;
        int want_owned = data[1] & 1;
        unsigned char owned[64];
        for (int i = 0; i < 64; i++)
                owned[i] = (data[2 + i / 8] >> (i % 8)) & 1;
        size_t n = (size - 10) / 6;
        kos_as_entry_t *in = malloc((n ? n : 1) * sizeof(*in));
        int32_t *out = malloc((n ? n : 1) * sizeof(*out));
        if (!in || !out) {
                free(in);
                free(out);
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                const uint8_t *b = data + 10 + 6 * i;
                int32_t part;
                memcpy(&part, b + 2, sizeof(part));
                if (!(b[1] & 1))
                        part = (int32_t)(b[2] % 80) - 4;
                in[i] = (kos_as_entry_t){NAMES[b[0] % N_NAMES], part};
        }
        kos_as_rejects_t rej = {0};
        size_t got = kos_assignment_select("rq", n_partitions, owned, want_owned, in, n, out, &rej);
        FUZZ_ASSERT(got <= n);
        /* Ascending, in range, of the wanted kind. */
        for (size_t i = 0; i < got; i++) {
                FUZZ_ASSERT(out[i] >= 0 && out[i] < n_partitions);
                FUZZ_ASSERT(!owned[out[i]] == !want_owned);
                FUZZ_ASSERT(i == 0 || out[i - 1] < out[i]);
        }
        /* The model: every valid requests partition of the wanted kind is in out; each entry is
         * used, refused, or skipped for its kind. */
        uint64_t other = 0, bad = 0, valid = 0, distinct = 0, kind_skipped = 0;
        for (size_t i = 0; i < n; i++) {
                if (!in[i].topic || strcmp(in[i].topic, "rq") != 0) {
                        other++;
                        continue;
                }
                if (in[i].partition < 0 || in[i].partition >= n_partitions) {
                        bad++;
                        continue;
                }
                valid++;
                int first = 1;
                for (size_t j = 0; j < i && first; j++)
                        first = !(in[j].topic && strcmp(in[j].topic, "rq") == 0 &&
                                  in[j].partition == in[i].partition);
                if (!first)
                        continue;
                distinct++;
                int found = 0;
                for (size_t k = 0; k < got; k++)
                        found |= out[k] == in[i].partition;
                if (!owned[in[i].partition] == !want_owned)
                        FUZZ_ASSERT(found);
                else
                        kind_skipped++;
        }
        FUZZ_ASSERT(rej.count[KOS_AS_OTHER_TOPIC] == other);
        FUZZ_ASSERT(rej.count[KOS_AS_BAD_PARTITION] == bad);
        FUZZ_ASSERT(rej.count[KOS_AS_DUPLICATE] == valid - distinct);
        FUZZ_ASSERT(got == distinct - kind_skipped);
        FUZZ_ASSERT(rej.has_first == (other + bad + valid - distinct > 0));
        for (const char *c = rej.first_topic; rej.has_first && *c; c++)
                FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f);
        /* Without a rejects record nothing is counted, and the answer is the same. */
        int32_t *out2 = malloc((n ? n : 1) * sizeof(*out2));
        if (out2) {
                FUZZ_ASSERT(kos_assignment_select("rq", n_partitions, owned, want_owned, in, n,
                                                  out2, NULL) == got);
                FUZZ_ASSERT(got == 0 || memcmp(out, out2, got * sizeof(*out)) == 0);
                free(out2);
        }
        free(in);
        free(out);
        return 0;
}
