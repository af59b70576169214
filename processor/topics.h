/* Start-up checks of the topics: both inputs must exist with equal partition counts (the join
 * pairs partition p of each), and the output is created when missing, with as many partitions,
 * and waited for until its partitions have leaders. */
#ifndef KOS_PROC_TOPICS_H
#define KOS_PROC_TOPICS_H

#include "options.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>

/* Waits (logging every 10 s) while an input topic is missing, until *stop. Uses rk (any
 * client) for metadata and CreateTopics; each metadata request, and the output's creation with
 * the wait for its leaders, is bounded by the connect timeout. @returns the partition count of
 * the inputs; 0 when stopped while waiting; -1 with errstr when Kafka is unreachable within the
 * connect timeout or refuses a topic's metadata, the inputs are not co-partitioned, or the
 * output cannot be created. */
int kos_proc_topics_setup(rd_kafka_t *rk, const kos_proc_conf_t *c, volatile sig_atomic_t *stop,
                          char *errstr, size_t errstr_size);

#endif
