/* A task: partition p of both inputs and the topology state they feed. Each input partition
 * has its own librdkafka queue (split off the consumer queue before assignment), so records
 * are pulled per partition as the merge needs them and librdkafka's per-partition prefetch
 * limits do the flow control - no pause/resume, which in librdkafka 2.0.2 could stall a
 * resumed partition for the fetch backoff. Records are processed in timestamp order across
 * the two inputs (as Kafka Streams' partition group does), so a backlog read faster on one
 * input than on the other cannot make the other's records late. */
#ifndef KOS_PROC_TASK_H
#define KOS_PROC_TASK_H

#include "proc.h"

/* @returns a task for partition with empty queues and fresh topology state (offsets unset:
 * the caller fills them); free with kos_task_destroy. NULL on allocation failure. */
kos_task_t *kos_task_new(kos_proc_t *p, int32_t partition);
/* Frees the task, its state, its partition queues and the records still queued. NULL is a
 * no-op. */
void kos_task_destroy(kos_task_t *t);

/* Takes the partition queues of both inputs out of the consumer queue and has them wake the
 * poll loop. Call before the partitions are assigned (or sought). -1 when librdkafka does not
 * know a partition yet: its records then arrive through the consumer queue (kos_task_push). */
int kos_task_attach_queues(kos_task_t *t);
/* Drops the partition queue references (before the consumer closes). */
void kos_task_release_queues(kos_task_t *t);

/* Queues a fetched record of side; takes ownership of m. */
void kos_task_push(kos_task_t *t, int side, rd_kafka_message_t *m);

/* Pulls what the partition queues hold, up to --max-buffered per input. @returns the number
 * of records pulled. */
size_t kos_task_pull(kos_task_t *t);

/* Processes up to budget queued records in timestamp order. A record waits while the other
 * input has nothing queued but has not caught up with its end offset, for at most
 * --max-task-idle. now is monotonic ms. @returns the number processed. */
size_t kos_task_run(kos_task_t *t, size_t budget, int64_t now);

/* 1 while records below the replay end are still to come on some side. */
int kos_task_replaying(const kos_task_t *t);

/* Records queued on both sides. */
size_t kos_task_queued(const kos_task_t *t);

#endif
