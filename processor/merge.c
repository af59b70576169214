/* The merge decision (see merge.h, and task.h for why). */
#include "merge.h"

int kos_merge_next(kos_merge_t *m, const kos_merge_input_t in[2], int64_t max_idle_ms, int64_t now,
                   int *ahead)
{
        *ahead = 0;
        if (in[0].queued && in[1].queued) {
                m->idle_since = m->waiting_since = 0;
                return in[1].ts < in[0].ts ? 1 : 0;
        }
        if (!in[0].queued && !in[1].queued) {
                m->idle_since = m->waiting_since = 0;
                return KOS_MERGE_NOTHING;
        }
        int side = in[0].queued ? 0 : 1;
        if (!in[1 - side].caught_up) {
                m->idle_since = 0;
                if (!m->waiting_since)
                        m->waiting_since = now;
                return KOS_MERGE_WAIT;
        }
        m->waiting_since = 0;
        if (max_idle_ms > 0) {
                if (!m->idle_since)
                        m->idle_since = now;
                if (now - m->idle_since < max_idle_ms)
                        return KOS_MERGE_IDLE;
        }
        *ahead = 1;
        return side;
}
