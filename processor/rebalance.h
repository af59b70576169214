/* Partition ownership: the rebalance callback (cooperative incremental), rebuilding a task's
 * state by replaying the input before its committed offsets, and rewinding after a lost
 * output.
 *
 * The group subscribes to the requests topic only; owning requests partition p means owning
 * task p, and the responses partition p is assigned alongside by hand. librdkafka 2.0.2 has
 * no custom assignor and the cooperative-sticky one balances partitions of two topics
 * independently, so subscribing to both would split tasks between members. Offsets of both
 * are committed by the owner of the task. */
#ifndef KOS_PROC_REBALANCE_H
#define KOS_PROC_REBALANCE_H

#include "kconf.h"
#include "proc.h"

/* The consumer's rebalance_cb (opaque = kos_proc_t). */
void kos_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *partitions, void *opaque);

/* Both clients' log_cb (opaque = kos_proc_t): routes librdkafka's lines to kos' log (a
 * consumer property passed with -X is not worth a warning on the producer) and watches the
 * group's join state (debug context "cgrp") to tell when a rebalance is in
 * progress, for the commit guard in delivery.c. */
void kos_rebalance_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Drops the state of every owned task and rebuilds it from the committed offsets (replay),
 * seeking the consumer back. Used when outputs were lost or a transaction aborted. */
void kos_rebalance_rewind(kos_proc_t *p);

/* Frees every task (after the consumer closed). */
void kos_rebalance_drop_all(kos_proc_t *p);

/* The configuration a probe consumer is made from (borrowed; set once at start). */
void kos_rebalance_set_kconf(const kos_kconf_t *kc);

#endif
