/* Rate-limited record warnings (see recwarn.h). */
#include "recwarn.h"
#include "log.h"

#include <inttypes.h>

void kos_proc_record_warn(int kind, const char *topic, int32_t partition, int64_t offset,
                          const char *why)
{
        static kos_log_limit_t limit[KOS_WARN_KINDS] = {
            [KOS_WARN_BAD] = {.burst = 1, .window_s = 1},
            [KOS_WARN_LATE] = {.burst = 1, .window_s = 1},
            [KOS_WARN_DELIVERY] = {.burst = 1, .window_s = 1},
        };
        static const char *const what[KOS_WARN_KINDS] = {
            [KOS_WARN_BAD] = "skipping bad record",
            [KOS_WARN_LATE] = "dropping late record",
            [KOS_WARN_DELIVERY] = "output not delivered",
        };
        if (kind < 0 || kind >= KOS_WARN_KINDS)
                return;
        kos_log_limited(&limit[kind], KOS_LOG_WARN, "record",
                        "%s %s [%" PRId32 "] at offset %" PRId64 ": %s", what[kind], topic,
                        partition, offset, why);
}
