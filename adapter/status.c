/* Burrow's evaluation rules as facts (see status.h); the rule numbers are Burrow's. */
#include "status.h"

const char *kos_status_name(kos_status_t s)
{
        switch (s) {
        case KOS_STATUS_OK:
                return "OK";
        case KOS_STATUS_WARN:
                return "WARN";
        case KOS_STATUS_ERR:
                return "ERR";
        case KOS_STATUS_STOP:
                return "STOP";
        case KOS_STATUS_STALL:
                return "STALL";
        case KOS_STATUS_REWIND:
                return "REWIND";
        default:
                return "NOTFOUND";
        }
}

kos_status_t kos_status_partition(const kos_commit_t *w, size_t n, int64_t current_lag,
                                  int64_t now_ms)
{
        if (n == 0 || current_lag <= 0)
                return KOS_STATUS_OK;
        /* rule 1: a moment without lag inside the window makes the whole window OK */
        for (size_t i = 0; i < n; i++)
                if (w[i].lag <= 0)
                        return KOS_STATUS_OK;
        /* rule 2 */
        for (size_t i = 1; i < n; i++)
                if (w[i].offset < w[i - 1].offset)
                        return KOS_STATUS_REWIND;
        /* rule 3; with one entry the window spans 0, so any age is a stop, as in Burrow */
        if (now_ms - w[n - 1].t_ms > w[n - 1].t_ms - w[0].t_ms)
                return KOS_STATUS_STOP;
        /* rule 4 */
        int moved = 0;
        for (size_t i = 1; i < n; i++)
                moved |= w[i].offset != w[i - 1].offset;
        if (!moved)
                return KOS_STATUS_STALL;
        /* rule 5 */
        for (size_t i = 1; i < n; i++)
                if (w[i].lag < w[i - 1].lag)
                        return KOS_STATUS_OK;
        return KOS_STATUS_WARN;
}

kos_status_t kos_status_fold(kos_status_t group, kos_status_t partition)
{
        if (partition <= group)
                return group;
        return partition > KOS_STATUS_ERR ? KOS_STATUS_ERR : partition;
}
