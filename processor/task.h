/* A task: partition p of both inputs and the topology state they feed. Fetched records wait in
 * one queue per input and are processed in timestamp order across the two (as Kafka Streams'
 * partition group does), so a backlog read faster on one input than on the other cannot make
 * the other's records late. A queue that grows past --max-buffered pauses its partition. */
#ifndef KOS_PROC_TASK_H
#define KOS_PROC_TASK_H

#include "proc.h"

/* @returns a task for partition with empty queues and fresh topology state (offsets unset:
 * the caller fills them); free with kos_task_destroy. NULL on allocation failure. */
kos_task_t *kos_task_new(kos_proc_t *p, int32_t partition);
/* Frees the task, its state and the records still queued. NULL is a no-op. */
void kos_task_destroy(kos_task_t *t);

/* Queues a fetched record of side; takes ownership of m. Pauses the partition when its queue
 * is full. */
void kos_task_push(kos_task_t *t, int side, rd_kafka_message_t *m);

/* Processes up to budget queued records in timestamp order. A record waits while the other
 * input has nothing queued but has not caught up with its end offset, for at most
 * --max-task-idle. now is monotonic ms. @returns the number processed. */
size_t kos_task_run(kos_task_t *t, size_t budget, int64_t now);

/* 1 while records below the replay end are still to come on some side. */
int kos_task_replaying(const kos_task_t *t);

/* Records queued on both sides. */
size_t kos_task_queued(const kos_task_t *t);

#endif
