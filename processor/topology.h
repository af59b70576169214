/* The original stream topology for one task (partition p of both inputs), without Kafka:
 * validate a record (key must be a FrameHeader, value a FrameBody) → inner join on equal key
 * bytes within the window (either order, every pair) → decode the request's hits → append them
 * to the key's session → emit the whole session per update, or mark it dirty for the next
 * flush when coalescing. Stream time is the largest record timestamp seen; a record older than
 * stream time - window - grace is late and dropped; state older than that goes. */
#ifndef KOS_PROC_TOPOLOGY_H
#define KOS_PROC_TOPOLOGY_H

#include "sessions.h"
#include "window.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KOS_KEY_MAX 1024 /* longer keys are not headers we accept */

typedef struct {
        int64_t window_ms;       /* join window (either direction) */
        int64_t grace_ms;        /* how late a record may be */
        size_t max_session_hits; /* cap per session */
        int coalesce;            /* 1: emit dirty sessions on kos_topo_flush only */
} kos_topo_conf_t;

/* Counters shared by all tasks of a process; written by the poll thread, read by /metrics. */
typedef struct {
        atomic_ullong joins;           /* emitted join pairs (not replayed) */
        atomic_ullong hits;            /* hits appended to sessions (not replayed) */
        atomic_ullong decode_failures; /* undecodable hit strings in joined requests */
        atomic_ullong late;            /* records dropped as older than window + grace */
        atomic_ullong hits_dropped;    /* hits beyond max_session_hits */
} kos_topo_stats_t;

/* Receives each session to write to the output (borrowed, valid during the call). */
typedef void (*kos_topo_emit_fn)(void *arg, const kos_session_view_t *s);

typedef struct kos_topo_s kos_topo_t;

/* conf is copied; stats (may be NULL) and arg are borrowed. @returns a new task state; free
 * with kos_topo_destroy. */
kos_topo_t *kos_topo_new(const kos_topo_conf_t *conf, kos_topo_stats_t *stats,
                         kos_topo_emit_fn emit, void *arg);
void kos_topo_destroy(kos_topo_t *t);

typedef enum {
        KOS_TOPO_OK = 0,
        KOS_TOPO_BAD,  /* not a record of the seed (why says what) */
        KOS_TOPO_LATE, /* older than stream time - window - grace */
} kos_topo_result_t;

/* Validates a record of side (KOS_SIDE_RQ / KOS_SIDE_RS) at timestamp ts and runs it through
 * the topology. A replayed record rebuilds state only: a join pair emits unless both its
 * records are replayed. why (may be NULL) gets the reason of KOS_TOPO_BAD. */
kos_topo_result_t kos_topo_process(kos_topo_t *t, int side, const void *key, size_t key_len,
                                   const void *value, size_t value_len, int64_t ts, int replayed,
                                   char *why, size_t why_size);

/* Emits every dirty session (coalescing mode) and then expires what stream time allows.
 * @returns the number of sessions emitted. */
size_t kos_topo_flush(kos_topo_t *t);

/* Largest record timestamp seen (INT64_MIN before the first). */
int64_t kos_topo_stream_time(const kos_topo_t *t);

/* The horizon of a task's state at stream time st: the oldest record timestamp its state can
 * still need, st - 2·window - grace. A record as late as is accepted (st - window - grace) still
 * joins partners window older than itself, so the join buffers keep records that long; a
 * session lives window + grace past its last update (its key holds the frame's timestamp), so
 * it needs no more. Join buffers expire at the horizon, and a new owner of a task rebuilds its
 * state by replaying the input from it (rebalance.c). st must be at most INT64_MAX / 2 and
 * window, grace non-negative and small against it, as the options guarantee. */
int64_t kos_topo_horizon(int64_t st, int64_t window_ms, int64_t grace_ms);

/* State held: buffered join records, live sessions, and their bytes. */
size_t kos_topo_records(const kos_topo_t *t);
size_t kos_topo_sessions(const kos_topo_t *t);
size_t kos_topo_bytes(const kos_topo_t *t);

/* The session of a key (tests). NULL when there is none. */
const kos_session_t *kos_topo_session(kos_topo_t *t, const void *key, size_t key_len);

#endif
