/* Delivery: writing sessions to the output topic and committing input offsets so that no input
 * is committed before its outputs are safe.
 *
 * At-least-once (default): outputs are counted per epoch (one commit interval); at the end of
 * an interval the epoch is sealed with the processed positions of every task, and once all of
 * an epoch's outputs (and those of the epochs before it) are acknowledged its positions are
 * committed asynchronously. A failed delivery rewinds: state is rebuilt from the last commit.
 *
 * Exactly-once (--exactly-once): one Kafka transaction per commit interval holding the outputs
 * and, through send_offsets_to_transaction, the input positions; an abortable error aborts and
 * rewinds, a fatal one (fenced) stops the process.
 *
 * Committed offsets carry the task's stream time in their metadata ("kos1 st=<ms>") so that a
 * new owner knows how far back to replay. */
#ifndef KOS_PROC_DELIVERY_H
#define KOS_PROC_DELIVERY_H

#include "proc.h"

/* @returns a tracker for p (borrowed; p->producer must exist); free with kos_delivery_destroy.
 * Install kos_delivery_dr_cb on the producer's conf with p as opaque. */
kos_delivery_t *kos_delivery_new(kos_proc_t *p);
void kos_delivery_destroy(kos_delivery_t *d);

/* Exactly-once: init_transactions. -1 with errstr. No-op otherwise. */
int kos_delivery_start(kos_delivery_t *d, int timeout_ms, char *errstr, size_t errstr_size);

/* The producer's dr_msg_cb (opaque = kos_proc_t). */
void kos_delivery_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Writes one session update of task t. */
void kos_delivery_emit(kos_delivery_t *d, kos_task_t *t, const kos_session_view_t *s);

/* Serves delivery reports and commits what became safe. Call every loop turn. @returns 1 when
 * an output was lost and the caller must rewind (kos_rebalance_rewind), else 0. */
int kos_delivery_service(kos_delivery_t *d);

/* The commit point, every --commit-interval: flushes coalesced sessions and seals the epoch
 * (at-least-once) or commits the transaction (exactly-once). @returns 1 when the caller must
 * rewind, else 0. */
int kos_delivery_tick(kos_delivery_t *d);

/* The final commit before partitions go (revocation, shutdown): flushes everything, waits for
 * acknowledgements up to timeout_ms and commits synchronously. @returns 0, or 1 when some
 * outputs were not acknowledged: the positions after them stay uncommitted and the caller
 * must rewind the tasks it keeps. */
int kos_delivery_commit_now(kos_delivery_t *d, int timeout_ms);

/* Forgets every pending output and position (partitions lost, or before a rewind); aborts the
 * open transaction in exactly-once mode. */
void kos_delivery_abandon(kos_delivery_t *d);

/* Parses "kos1 st=<ms>" commit metadata. @returns 0 with *st, -1 when absent, foreign or not
 * a timestamp in [0, INT64_MAX / 2]. */
int kos_delivery_parse_meta(const void *meta, size_t size, int64_t *st);

#endif
