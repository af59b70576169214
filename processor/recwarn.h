/* Warnings about single records: a bad input record skipped, a late one dropped, an output not
 * delivered. A stream of poison records must not flood the log, so each kind is rate-limited on
 * its own (common/log.h): at most one line a second, then a count of the lines dropped.
 * Thread-safe; called from the poll thread (the delivery callback runs there too). */
#ifndef KOS_PROC_RECWARN_H
#define KOS_PROC_RECWARN_H

#include <stdint.h>

enum { KOS_WARN_BAD, KOS_WARN_LATE, KOS_WARN_DELIVERY, KOS_WARN_KINDS };

/* "<what kind says> <topic> [<partition>] at offset <offset>: <why>"; offset or partition -1
 * when there is none. */
void kos_proc_record_warn(int kind, const char *topic, int32_t partition, int64_t offset,
                          const char *why);

#endif
