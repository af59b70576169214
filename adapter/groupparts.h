/* A consumer group's partitions, folded from what Kafka says about the group: its committed
 * offsets and its members' assignments. Group members write that metadata (any client can make
 * its group's leader hand out any topic, partition number and repeat, and the broker passes it
 * on unchecked), so every entry is checked against the topic's partition count before it is
 * used. Pure: plain arrays in and out, no Kafka, no locks; lag.c feeds it on the refresh thread.
 * Thread notes: no shared state; safe from any thread. */
#ifndef KOS_GROUPPARTS_H
#define KOS_GROUPPARTS_H

#include "snapshot.h"

#include <stddef.h>
#include <stdint.h>

/* Partition counts of the topics one Metadata response lists. */
typedef struct {
        const char *name;   /* borrowed */
        int32_t partitions; /* > 0 */
} kos_topic_count_t;

typedef struct {
        kos_topic_count_t *v; /* sorted by name (kos_topic_counts_sort) */
        size_t n;
} kos_topic_counts_t;

/* Sorts t->v by name; a name listed twice keeps its largest count. */
void kos_topic_counts_sort(kos_topic_counts_t *t);
/* The topic's partition count, or 0 when t does not list the topic. */
int32_t kos_topic_counts_get(const kos_topic_counts_t *t, const char *topic);

/* One entry of a group's metadata: a committed offset (member -1) or one element of the
 * assignment of member `member` (an index into the group's members). */
typedef struct {
        const char *topic; /* borrowed; NULL counts as a bad entry */
        int32_t partition;
        int member;
        int64_t committed; /* member -1 only */
} kos_gp_entry_t;

typedef enum {
        KOS_GP_BAD_PARTITION, /* negative, or not below the topic's partition count */
        KOS_GP_UNKNOWN_TOPIC, /* assigned, but the topic does not exist (lag.c, from ListOffsets) */
        KOS_GP_DUPLICATE,     /* a partition listed again: twice committed, or assigned again */
        KOS_GP_REASONS
} kos_gp_reason_t;

/* Prometheus label value of a reason: "bad_partition", "unknown_topic", "duplicate". */
const char *kos_gp_reason_name(kos_gp_reason_t r);

typedef struct {
        uint64_t count[KOS_GP_REASONS];
        int has_first;         /* the first refused entry, for the log line: */
        char first_topic[128]; /* truncated, non-printable bytes as '?' */
        int32_t first_partition;
        int first_member; /* -1: a committed offset */
        kos_gp_reason_t first_reason;
} kos_gp_rejects_t;

/* Adds one refused entry to r. */
void kos_gp_reject(kos_gp_rejects_t *r, const char *topic, int32_t partition, int member,
                   kos_gp_reason_t why);

/* Copies src (NULL: "") into dst for a log line: at most size - 1 bytes, bytes outside
 * printable ASCII as '?', so a name from Kafka cannot forge log lines. */
void kos_gp_printable(char *dst, size_t size, const char *src);

/* Folds in[0..n) (any order, any content) into out: the group's partitions sorted by (topic,
 * partition), each once, with its committed offset (KOS_OFFSET_UNKNOWN without one) and the
 * member that holds it (-1: none; of several members the lowest index), the other fields as
 * an unknown partition has them. An entry whose partition is negative, or not below the count
 * `topics` lists for its topic, is left out, and so is a repeat; both are added to *rej.
 * Entries of topics that `topics` does not list are kept: a topic missing from a Metadata
 * response may exist and be hidden by ACLs, so ListOffsets decides (lag.c).
 * out must have room for n entries; each out[i].topic is a new string (free with free()).
 * @returns the number of partitions written, or -1 when out of memory (out then holds none). */
long kos_group_parts_build(const kos_topic_counts_t *topics, const kos_gp_entry_t *in, size_t n,
                           kos_part_lag_t *out, kos_gp_rejects_t *rej);

/* Co-partitioned consumers (a join: kos-processor, Kafka Streams tasks) may own partition p of
 * a second input without it being in the group's assignment: kos-processor subscribes to its
 * requests topic and assigns the responses partition of the same number by hand. So each
 * partition no member holds (member < 0) is given to the one member that holds the same
 * partition number of the group's other topics, when exactly one does. parts: any order, any
 * member values >= -1. @returns 0, or -1 when out of memory (parts unchanged). */
int kos_group_parts_attribute(kos_part_lag_t *parts, size_t n);

#endif
