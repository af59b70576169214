/* kos-processor's figures: the Prometheus text of /metrics, the gauges refreshed from the
 * tasks, and the periodic progress line on stderr. */
#ifndef KOS_PROC_STATS_H
#define KOS_PROC_STATS_H

#include "proc.h"
#include "strbuf.h"

/* Appends every kos_processor_* family to out. Safe from the HTTP thread. */
void kos_proc_stats_render(kos_proc_t *p, kos_strbuf_t *out);

/* Recomputes the state gauges from the tasks (poll thread). */
void kos_proc_stats_refresh(kos_proc_t *p);

/* One progress line: rates since the previous call, state size, tasks. */
void kos_proc_stats_log(kos_proc_t *p, int64_t now_ms);

#endif
