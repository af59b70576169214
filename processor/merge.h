/* Which input a task processes next: the decision of task.h's merge as a pure function of
 * what is queued, what is known caught up and the clock, so it is tested without Kafka. */
#ifndef KOS_PROC_MERGE_H
#define KOS_PROC_MERGE_H

#include <stdint.h>

/* One input of a task as the merge sees it. */
typedef struct {
        int queued;    /* a record is queued */
        int64_t ts;    /* its timestamp (when queued) */
        int caught_up; /* known to be at the broker's end: nothing more to fetch now */
} kos_merge_input_t;

/* Per-task merge state; zero-initialised. Times are monotonic ms, 0 = not. */
typedef struct {
        int64_t idle_since;    /* an empty input has been caught up since */
        int64_t waiting_since; /* an empty input has had (or may have had) more on the broker
                                * since: the task waits for it */
} kos_merge_t;

enum {
        KOS_MERGE_NOTHING = -1, /* nothing queued */
        KOS_MERGE_WAIT = -2,    /* an empty input is not caught up: wait for its records */
        KOS_MERGE_IDLE = -3,    /* an empty input is caught up: wait --max-task-idle for it */
};

/* @returns the side (0 or 1) whose head record goes next, or a KOS_MERGE_* reason to process
 * nothing now. *ahead is set to 1 when the side goes while the other is empty (caught up,
 * idle time over), else 0. Updates m's clocks. */
int kos_merge_next(kos_merge_t *m, const kos_merge_input_t in[2], int64_t max_idle_ms, int64_t now,
                   int *ahead);

#endif
