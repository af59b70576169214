/* A task: partition p of both inputs and the topology state they feed. Each input partition
 * has its own librdkafka queue (split off the consumer queue before assignment), so records
 * are pulled per partition as the merge needs them and librdkafka's per-partition prefetch
 * limits do the flow control - no pause/resume, which in librdkafka 2.0.2 could stall a
 * resumed partition for the fetch backoff.
 *
 * The merge. Records are processed in timestamp order across the two inputs (as Kafka
 * Streams' partition group does): the join drops a record more than window + grace behind
 * stream time, so taking one input ahead of the other makes the other's records late - lost
 * joins. When one input has nothing queued, the task therefore waits for it unless it is
 * known to be caught up with the broker (Kafka Streams' max.task.idle.ms, KIP-695): then
 * there is nothing to wait for, and after --max-task-idle (default 0, as Kafka Streams) of
 * being empty *and* caught up the other input goes ahead ("forced", counted). An input with
 * data on the broker, or whose state is not known yet, is waited for however long it takes:
 * a record is never processed ahead of data that exists. A long wait (a partition offline)
 * shows on /metrics and in the log, never as silent loss. On a backlog this matters most:
 * a new replica's queues fill and drain at different paces, and the old rule (wait at most
 * 500 ms, then go ahead) lost joins exactly when the HPA had just scaled the processor out.
 *
 * Caught up means: an end-of-partition event (enable.partition.eof) arrived after the last
 * record - librdkafka queues it in order behind the records, at the fetch position, computed
 * against the last stable offset under read_committed, so transaction markers and open
 * transactions count right - or, faster, the last record fetched is at the high watermark
 * that came with the fetch response (non-transactional input). That watermark is trusted
 * only once this task has received something: the consumer's cached value of a partition
 * this process owned before is stale until then.
 *
 * Why an input runs dry although the broker has more: librdkafka 2.0.2 stops fetching a
 * partition whose queue holds queued.min.messages or queued.max.messages.kbytes and decides
 * again only when its broker thread wakes - for another partition's fetch response, a request
 * to send, or a 1 s timer. When every partition it serves is full, no fetch is in flight and a
 * drained queue waits up to a second. So a task asks the kicker (kicker.h) to wake the broker
 * thread of a partition whose queue ran low while it is not caught up. */
#ifndef KOS_PROC_TASK_H
#define KOS_PROC_TASK_H

#include "proc.h"

/* @returns a task for partition with empty queues and fresh topology state (offsets unset:
 * the caller fills them); free with kos_task_destroy. */
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

/* Queues a fetched record, or notes an end-of-partition event, of side; takes ownership of
 * m. */
void kos_task_push(kos_task_t *t, int side, rd_kafka_message_t *m);

/* Pulls what the partition queues hold, up to --max-buffered per input, and asks for a
 * fetcher wake-up where a queue ran low before its input caught up. @returns the number of
 * records pulled. */
size_t kos_task_pull(kos_task_t *t);

/* Processes up to budget queued records in timestamp order (the merge above). now is
 * monotonic ms. @returns the number processed. */
size_t kos_task_run(kos_task_t *t, size_t budget, int64_t now);

/* 1 while records below the replay end are still to come on some side. */
int kos_task_replaying(const kos_task_t *t);

#endif
