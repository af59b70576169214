/* The state one kos-processor shares between its modules: the two Kafka clients, the tasks
 * (one per partition number p, owning partition p of both inputs), delivery tracking and the
 * counters behind /metrics. Everything but the atomics is touched by the poll thread only
 * (librdkafka callbacks are served from that thread too). */
#ifndef KOS_PROC_PROC_H
#define KOS_PROC_PROC_H

#include "merge.h"
#include "assignment.h"
#include "metrics.h"
#include "options.h"
#include "topology.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

/* One input partition of a task. Offsets are -1 when unknown. */
typedef struct {
        rd_kafka_queue_t *pq;   /* the partition's own librdkafka queue; owned reference */
        rd_kafka_message_t **q; /* fetched, not yet processed (a ring); owned */
        size_t head, len, cap;
        int64_t replay_end;   /* records below this offset rebuild state only */
        int64_t fetched_next; /* after the last record fetched (or end-of-partition position) */
        int64_t next;         /* after the last record processed live: the commit position */
        int64_t committed;    /* the last position the broker acknowledged */
        int heard;            /* a record or end-of-partition event of this task arrived: the
                               * consumer's cached watermark is at least that fresh */
        int at_eof;           /* the last event was end-of-partition: caught up */
} kos_side_t;

typedef struct kos_task_s {
        int32_t partition;
        uint64_t incarnation; /* tells a task from an earlier one of the same partition */
        kos_side_t side[KOS_SIDES];
        kos_topo_t *topo;
        int64_t replay_floor_ts; /* replayed records older than this cannot matter: skipped */
        kos_merge_t merge;       /* which input waits for which, since when (task.h) */
        struct kos_proc_s *proc;
} kos_task_t;

typedef struct {
        atomic_ullong records_in[KOS_SIDES]; /* processed live */
        atomic_ullong replayed[KOS_SIDES];   /* processed to rebuild state, output suppressed */
        atomic_ullong bad[KOS_SIDES];        /* skipped: not a record of the seed */
        atomic_ullong produced;              /* handed to the producer */
        atomic_ullong records_out;           /* acknowledged by the broker */
        atomic_ullong out_failed;            /* delivery failed */
        atomic_ullong commits, commit_failures;
        atomic_ullong assigned, revoked, lost; /* rebalance events */
        atomic_ullong rewinds;                 /* state rebuilt after a failed delivery/txn */
        atomic_ullong txn_aborts;
        atomic_ullong merge_forced; /* records processed ahead of an empty, caught-up input */
        atomic_ullong partitions;   /* gauge: tasks owned */
        atomic_ullong replaying;    /* gauge: tasks still replaying */
        atomic_ullong waiting;      /* gauge: tasks waiting for an input the broker has more of */
        atomic_ullong longest_wait_ms; /* gauge: the longest such wait going on */
        atomic_ullong state_records, state_sessions, state_bytes; /* gauges */
        atomic_ullong lag[KOS_SIDES]; /* gauge: end offset - processed position, owned tasks */
        kos_hist_t commit_latency_us;
        kos_topo_stats_t topo;
        /* Entries of the group leader's assignments refused (assignment.h), by reason. */
        atomic_ullong assign_rejected[KOS_AS_REASONS];
} kos_proc_stats_t;

typedef struct kos_delivery_s kos_delivery_t;
typedef struct kos_kicker_s kos_kicker_t;

typedef struct kos_proc_s {
        const kos_proc_conf_t *conf;
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
        rd_kafka_topic_t *out_rkt;
        rd_kafka_topic_t *rs_rkt; /* the consumer's handle on the responses topic, so that its
                                   * partitions exist before they are assigned */
        int wake_fd[2];           /* a pipe librdkafka writes to when a queue turns non-empty */
        int n_partitions;         /* of each input topic */
        kos_task_t **tasks;       /* [n_partitions]; NULL where not owned */
        uint64_t next_incarnation;
        kos_delivery_t *delivery;
        kos_kicker_t *kicker; /* wakes librdkafka's fetcher for starved partitions */
        kos_proc_stats_t stats;
        atomic_int ready;       /* joined the group and got a first assignment */
        atomic_int fatal;       /* a fatal Kafka error: stop */
        atomic_int rebalancing; /* the consumer's join state is not "steady" (rebalance.c) */
        atomic_llong alive;     /* monotonic ms of the last loop turn, for /healthz */
        volatile sig_atomic_t *stop;
        int closing;       /* in shutdown: the revoke on close commits and drops */
        int kick_fetchers; /* a rebalance callback ran: wake the broker threads */
} kos_proc_t;

#define KOS_ADD(field, n) atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)

#endif
