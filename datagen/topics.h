/* Start-up check of the two input topics: both must exist with the same partition count (the
 * processor joins them, so they must be co-partitioned). Missing ones are created; existing
 * ones with unequal counts are refused. The whole check works to one deadline (common's
 * topicadmin.h), so an unreachable broker ends the program instead of hanging it. */
#ifndef KOS_DG_TOPICS_H
#define KOS_DG_TOPICS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct {
        const char *names[2];
        int partitions;  /* for topics that must be created (when neither exists) */
        int replication; /* -1 = the broker's default */
        int create;      /* 0: only check */
        int timeout_ms;  /* for the whole check, including creation */
} kos_dg_topics_conf_t;

/* @returns the common partition count once every partition of both has a leader, or -1 with
 * errstr. */
int kos_dg_topics_ensure(rd_kafka_t *rk, const kos_dg_topics_conf_t *tc, char *errstr,
                         size_t errstr_size);

#endif
