/* Checked partition lists of rebalance callbacks (see assignment.h). Sort based: a leader can
 * hand out a quarter of a million entries (the broker bounds the group's record at about 1 MB),
 * so nothing scans the list per entry or allocates by a partition number from it. */
#include "assignment.h"

#include <stdlib.h>
#include <string.h>

const char *kos_as_reason_name(kos_as_reason_t r)
{
        switch (r) {
        case KOS_AS_BAD_PARTITION:
                return "bad_partition";
        case KOS_AS_OTHER_TOPIC:
                return "other_topic";
        case KOS_AS_DUPLICATE:
                return "duplicate";
        default:
                return "other";
        }
}

static void reject(kos_as_rejects_t *r, const kos_as_entry_t *e, kos_as_reason_t why)
{
        if (!r)
                return;
        r->count[why]++;
        if (r->has_first)
                return;
        r->has_first = 1;
        size_t k = 0;
        /* Bytes from Kafka go into a log line: no control characters. */
        for (; e->topic && e->topic[k] && k + 1 < sizeof(r->first_topic); k++)
                r->first_topic[k] = e->topic[k] >= 0x20 && e->topic[k] < 0x7f ? e->topic[k] : '?';
        r->first_topic[k] = '\0';
        r->first_partition = e->partition;
        r->first_reason = why;
}

static int int32_cmp(const void *a, const void *b)
{
        int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
        return (x > y) - (x < y);
}

size_t kos_assignment_select(const char *requests_topic, int32_t n_partitions,
                             const unsigned char *owned, int want_owned, const kos_as_entry_t *in,
                             size_t n, int32_t *out, kos_as_rejects_t *rej)
{
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                const kos_as_entry_t *e = &in[i];
                if (!e->topic || strcmp(e->topic, requests_topic) != 0) {
                        reject(rej, e, KOS_AS_OTHER_TOPIC);
                        continue;
                }
                if (e->partition < 0 || e->partition >= n_partitions) {
                        reject(rej, e, KOS_AS_BAD_PARTITION);
                        continue;
                }
                out[k++] = e->partition;
        }
        qsort(out, k, sizeof(*out), int32_cmp);
        size_t m = 0;
        for (size_t i = 0; i < k; i++) {
                if (m > 0 && out[m - 1] == out[i]) {
                        kos_as_entry_t dup = {requests_topic, out[i]};
                        reject(rej, &dup, KOS_AS_DUPLICATE);
                        continue;
                }
                out[m++] = out[i];
        }
        size_t w = 0;
        for (size_t i = 0; i < m; i++)
                if (!owned[out[i]] == !want_owned)
                        out[w++] = out[i];
        return w;
}
