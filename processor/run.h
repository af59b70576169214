/* The poll loop: fetch → route records to their task → run tasks in timestamp order → serve
 * acknowledgements → commit every interval; and the shutdown: final commit, leave the group. */
#ifndef KOS_PROC_RUN_H
#define KOS_PROC_RUN_H

#include "proc.h"

/* Runs until *p->stop or a fatal error, then shuts down (the consumer is closed, its tasks
 * dropped). @returns the exit status: 0 after a clean stop, 1 after a fatal error. */
int kos_proc_run(kos_proc_t *p);

#endif
