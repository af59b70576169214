/* Consumer-group status by Burrow's rules (linkedin/Burrow, core/internal/evaluator): each
 * partition is judged over a sliding window of its commits (offset, lag at the commit, time),
 * a group is the worst of its partitions with STOP/STALL/REWIND reported as ERR. Pure: the
 * window and the clock are passed in. The numeric codes are Burrow's StatusConstant values and
 * are what kafka_consumergroup_status serves (README "Group status"). */
#ifndef KOS_STATUS_H
#define KOS_STATUS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
        KOS_STATUS_NOTFOUND = 0, /* nothing to judge (no partition evaluated) */
        KOS_STATUS_OK = 1,
        KOS_STATUS_WARN = 2,   /* lag never decreased over the window: the consumer is slow */
        KOS_STATUS_ERR = 3,    /* group only: some partition is STOP, STALL or REWIND */
        KOS_STATUS_STOP = 4,   /* no commit for longer than the window spans */
        KOS_STATUS_STALL = 5,  /* commits that do not move the offset */
        KOS_STATUS_REWIND = 6, /* the committed offset went backwards */
} kos_status_t;

/* One observed commit of a partition. t_ms is on the monotonic clock (rules compare times
 * only with each other and with now, so a wall-clock step cannot fake a STOP); wall_ms is
 * for display. lag = end offset at the observation - offset, >= 0. */
typedef struct {
        int64_t offset;
        int64_t lag;
        int64_t t_ms;
        int64_t wall_ms;
} kos_commit_t;

/* "OK", "WARN", ...; "NOTFOUND" for an unknown code. Static storage. */
const char *kos_status_name(kos_status_t s);

/* Burrow's partition rules, w oldest first, n entries (n == 0: OK). In order:
 *   1. current lag 0, or some window entry with lag 0  -> OK (none of the rules below apply);
 *   2. some offset below its predecessor               -> REWIND;
 *   3. now - last commit > last commit - first commit  -> STOP;
 *   4. every offset equal                              -> STALL;
 *   5. lag never decreases from one entry to the next  -> WARN;
 *   6. otherwise OK. */
kos_status_t kos_status_partition(const kos_commit_t *w, size_t n, int64_t current_lag,
                                  int64_t now_ms);

/* Folds a partition's status into a group's: the worse one wins, anything past ERR is ERR. */
kos_status_t kos_status_fold(kos_status_t group, kos_status_t partition);

#endif
