/* The two clocks of kos, named for what they are.
 *
 * Monotonic (CLOCK_MONOTONIC) for anything measured between two readings of this process:
 * durations, deadlines, timeouts, pacing, "how long since". It never jumps when NTP or an
 * operator steps the system time, so a deadline neither fires early nor hangs.
 *
 * Wall (CLOCK_REALTIME, milliseconds since the epoch) for what is compared with clocks outside
 * the process: Kafka record timestamps written by a producer (kos-datagen's frames, a record's
 * age against now), log lines. It may step, so never use it for a duration.
 *
 * Thread-safe; no allocation. */
#ifndef KOS_CLOCK_H
#define KOS_CLOCK_H

#include <stdint.h>

int64_t kos_mono_ns(void);
int64_t kos_mono_us(void);
int64_t kos_mono_ms(void);

int64_t kos_wall_ms(void);

#endif
