/* Which partitions of a rebalance callback this member acts on. The list is written by the
 * group's leader, which can be any member of the group (any client that joins first), and the
 * broker passes it on unchecked: partition numbers no topic has (-2, 2^31-1), topics this
 * member never subscribed to, the same partition twice. Every entry is checked against the
 * partition count of the inputs before a task array is indexed with it. Pure: plain arrays in
 * and out, no Kafka; rebalance.c feeds it. */
#ifndef KOS_PROC_ASSIGNMENT_H
#define KOS_PROC_ASSIGNMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
        const char *topic; /* borrowed; NULL counts as another topic */
        int32_t partition;
} kos_as_entry_t;

typedef enum {
        KOS_AS_BAD_PARTITION, /* negative, or not below the inputs' partition count */
        KOS_AS_OTHER_TOPIC,   /* not the requests topic (the group subscribes to it alone) */
        KOS_AS_DUPLICATE,     /* the same partition again in one list */
        KOS_AS_REASONS
} kos_as_reason_t;

/* Prometheus label value of a reason: "bad_partition", "other_topic", "duplicate". */
const char *kos_as_reason_name(kos_as_reason_t r);

typedef struct {
        uint64_t count[KOS_AS_REASONS];
        int has_first;         /* the first refused entry, for the log line: */
        char first_topic[128]; /* truncated, non-printable bytes as '?' */
        int32_t first_partition;
        kos_as_reason_t first_reason;
} kos_as_rejects_t;

/* Selects from in[0..n) the partitions of requests_topic that are in [0, n_partitions) and
 * whose owned[p] (n_partitions flags: task p exists) equals want_owned: an assignment wants
 * the tasks not owned yet, a revocation the owned ones. Writes them to out (room for n) in
 * ascending order, each once. Refused entries are added to *rej unless rej is NULL; a valid
 * partition skipped for its owned flag is not refused (librdkafka may repeat one).
 * @returns the number of partitions written. */
size_t kos_assignment_select(const char *requests_topic, int32_t n_partitions,
                             const unsigned char *owned, int want_owned, const kos_as_entry_t *in,
                             size_t n, int32_t *out, kos_as_rejects_t *rej);

#endif
