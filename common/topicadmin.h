/* Topic administration at start-up, shared by kos-processor and kos-datagen: what the
 * cluster's metadata says about named topics, creating the missing ones, and waiting until
 * every partition of a new topic has a leader. Each run of calls works to one deadline, so an
 * unreachable broker ends the program with a message instead of hanging it.
 *
 * Metadata is always asked for all topics, never by name: a request naming a topic makes a
 * broker with auto.create.topics.enable create it with its default partition count, which is
 * exactly the mismatch the programs' co-partitioning checks exist to prevent.
 *
 * Called from the main thread at start; nothing here keeps state between calls. */
#ifndef KOS_TOPICADMIN_H
#define KOS_TOPICADMIN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* One bounded run: kos_topic_admin_init starts the clock. */
typedef struct {
        rd_kafka_t *rk;   /* any client (a producer will do); borrowed */
        int timeout_ms;   /* the run's budget, named in error messages */
        int64_t deadline; /* monotonic ms (clock.h) */
} kos_topic_admin_t;

/* A named topic as the last metadata answer showed it. */
typedef struct {
        const char *name; /* borrowed */
        int partitions;   /* 0: the topic does not exist */
        int led;          /* 1: it exists and every partition has a leader */
} kos_topic_info_t;

void kos_topic_admin_init(kos_topic_admin_t *a, rd_kafka_t *rk, int timeout_ms);

/* Fills partitions and led of t[0..n) from one metadata request. A topic being created
 * (LEADER_NOT_AVAILABLE) exists without leaders. -1 with errstr when no metadata came by the
 * deadline, or when Kafka reports another error for a named topic (e.g. not authorized). */
int kos_topic_admin_describe(const kos_topic_admin_t *a, kos_topic_info_t *t, int n, char *errstr,
                             size_t errstr_size);

/* Creates each topic of t[0..n) whose partitions is 0, with `partitions` partitions and
 * `replication` replicas (-1: the broker's default). A topic that exists by now (another
 * replica created it a moment ago) is not an error; kos_topic_admin_await_leaders tells what
 * it looks like. -1 with errstr. */
int kos_topic_admin_create(const kos_topic_admin_t *a, const kos_topic_info_t *t, int n,
                           int partitions, int replication, char *errstr, size_t errstr_size);

/* Waits until every topic of t[0..n) exists and all its partitions have leaders (a new topic
 * takes a moment; producing before that only queues), refreshing t. -1 with errstr at the
 * deadline or on a metadata error. */
int kos_topic_admin_await_leaders(const kos_topic_admin_t *a, kos_topic_info_t *t, int n,
                                  char *errstr, size_t errstr_size);

#endif
