/* The immutable lag snapshot that requests read: every consumer group, its partitions with
 * committed/end/log-start offsets and the lag computed from them, and its members. Built by
 * the refresh thread (lag.c), published by swapping a pointer, read under a reference. */
#ifndef KOS_SNAPSHOT_H
#define KOS_SNAPSHOT_H

#include "status.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* What a partition without a committed offset counts as. Kafka's ConsumerGroupCommand shows
 * no lag ("-") for it; a consumer with auto.offset.reset=earliest will read it all from the
 * log start offset, one with latest none of it. */
typedef enum {
        KOS_NOCOMMIT_EARLIEST, /* lag counted from the log start offset */
        KOS_NOCOMMIT_LATEST    /* lag 0 */
} kos_nocommit_policy_t;

#define KOS_OFFSET_UNKNOWN (-1)
#define KOS_OFFSET_GONE    (-2) /* the topic no longer exists (lag engine internal) */

typedef struct {
        char *topic; /* owned */
        int32_t partition;
        int64_t committed; /* KOS_OFFSET_UNKNOWN: no committed offset */
        int64_t end;       /* high watermark (or LSO when read_committed); -1 unknown */
        int64_t log_start; /* -1 unknown (only fetched when needed) */
        int64_t lag;       /* >= 0, or -1 when it cannot be known (end offset unknown) */
        /* Timestamp of the first unconsumed record, -1 unknown/none. Written by the refresh
         * thread after the snapshot is published (see lag.c), hence atomic; readers load it
         * once. */
        _Atomic int64_t head_ts_ms;
        int64_t head_ts_offset; /* offset of the record head_ts_ms came from (refresh thread) */
        int member;             /* index into the group's members, -1 unassigned */
        /* Derived from earlier refreshes by history.c (all unknown without a history): */
        double produce_rate;  /* end-offset growth over the rate window, msgs/s; < 0 unknown */
        double consume_rate;  /* committed-offset growth, msgs/s; < 0 unknown */
        int unchanged;        /* refreshes the commit has not moved while lagging and owned */
        int stuck;            /* unchanged >= --stuck-refreshes */
        kos_status_t status;  /* Burrow's partition status (status.h) */
        kos_commit_t *window; /* owned: the commit window, oldest first (debug view) */
        size_t n_window;
} kos_part_lag_t;

typedef struct {
        char *member_id; /* owned */
        char *client_id; /* owned; = pod name for kos-processor */
        char *host;      /* owned */
} kos_member_t;

typedef struct {
        char *group_id;        /* owned */
        char *state;           /* owned: Stable, Empty, ... */
        kos_part_lag_t *parts; /* owned, sorted by (topic, partition) */
        size_t n_parts;
        kos_member_t *members; /* owned */
        size_t n_members;
        uint64_t rejected; /* entries of its metadata refused by the last refresh (groupparts.h) */
        kos_status_t status; /* Burrow's group status over all its partitions (history.c) */
        size_t n_stuck;      /* partitions with stuck set */
} kos_group_lag_t;

typedef struct kos_snapshot_s {
        atomic_int refcnt;
        int64_t taken_ms;        /* wall clock when the refresh finished */
        int64_t refresh_us;      /* how long the refresh took */
        kos_group_lag_t *groups; /* owned, sorted by group_id */
        size_t n_groups;
        int has_history;        /* the derived partition fields were computed (history.c) */
        double drain_cap_s;     /* time-to-drain value of a group that does not gain */
        int64_t rate_window_ms; /* what the rates cover, for the debug view */
} kos_snapshot_t;

/* Fills dst with deep copies of src's id, state, partitions and members, with every offset, lag
 * and head timestamp unknown: a group whose offsets or members could not be read this refresh
 * keeps the partitions and pods it had, and every value of it answers 503 (unknown), never a 0
 * or "no such group". 0, or -1 when out of memory (dst then holds nothing to free). */
int kos_group_copy_unknown(kos_group_lag_t *dst, const kos_group_lag_t *src);

/* Pure lag arithmetic of one partition: max(0, end - committed); without a commit, the policy
 * decides (earliest: from log_start, which must be known; latest: 0). -1 when unknown.
 * A committed offset below a known log_start (retention deleted what it pointed at) counts
 * from log_start. Never negative: a committed offset past the end counts as 0. */
int64_t kos_part_lag_compute(int64_t committed, int64_t end, int64_t log_start,
                             kos_nocommit_policy_t policy);

/* @returns a new empty snapshot with refcnt 1; free with kos_snapshot_unref. */
kos_snapshot_t *kos_snapshot_new(void);
kos_snapshot_t *kos_snapshot_ref(kos_snapshot_t *s);
void kos_snapshot_unref(kos_snapshot_t *s);

/* Sorts groups and partitions so lookups can bisect. Call once before publishing. */
void kos_snapshot_finish(kos_snapshot_t *s);

/* @returns the group (borrowed from s) or NULL. */
const kos_group_lag_t *kos_snapshot_group(const kos_snapshot_t *s, const char *group_id);

/* @returns the partition (borrowed) or NULL; bisects the sorted parts. */
const kos_part_lag_t *kos_group_part(const kos_group_lag_t *g, const char *topic,
                                     int32_t partition);

/* Sum of the known lags of a group's partitions, optionally of one topic (NULL = all).
 * Returns -1 if any selected partition's lag is unknown (never a partial sum as if complete),
 * and sets *n_parts to the number of partitions counted. */
int64_t kos_group_lag_sum(const kos_group_lag_t *g, const char *topic, size_t *n_parts);

/* Age in ms of the oldest unconsumed record over the selected partitions at now_ms; 0 when
 * nothing is unconsumed; -1 when a partition with lag has no known head timestamp. */
int64_t kos_group_lag_age_ms(const kos_group_lag_t *g, const char *topic, int64_t now_ms);

/* Publication point shared by the refresh thread (writer) and request threads (readers). */
void kos_snapshot_publish(kos_snapshot_t *s); /* takes ownership of the caller's reference */
kos_snapshot_t *kos_snapshot_current(void);   /* new reference or NULL; unref when done */
void kos_snapshot_publish_clear(void);        /* drops the published snapshot (shutdown) */

#endif
