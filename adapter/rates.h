/* Produce and consume rates of a partition from its end offsets and committed offsets seen by
 * successive refreshes, and the time to drain a backlog at those rates. Pure: the monotonic
 * time of each observation is passed in. A ring keeps samples spaced about window/30 apart
 * (the newest is always the latest observation), so a rate covers the whole window with a
 * fixed amount of memory whatever the refresh interval. */
#ifndef KOS_RATES_H
#define KOS_RATES_H

#include <stdint.h>

#define KOS_RATE_SLOTS 32

typedef struct {
        int64_t t_ms; /* monotonic */
        int64_t v;    /* offset */
} kos_sample_t;

typedef struct {
        kos_sample_t s[KOS_RATE_SLOTS]; /* s[(head + i) % SLOTS], i < n, oldest first */
        unsigned head, n;
} kos_rate_ring_t;

/* Records offset v seen at t_ms.
 *  - v < 0 (no such offset, e.g. no commit): the ring is emptied, the rate is unknown;
 *  - v below the newest sample (a rewind, a reset, a re-created topic): the ring restarts at
 *    v, so no negative or made-up delta is ever counted;
 *  - t_ms not after the newest sample's (a clock that did not advance): ignored. */
void kos_rate_ring_observe(kos_rate_ring_t *r, int64_t t_ms, int64_t v, int64_t window_ms);

/* Messages per second between the oldest sample at most window_ms older than the newest and
 * the newest; -1 when there are not two such samples. */
double kos_rate_ring_rate(const kos_rate_ring_t *r, int64_t window_ms);

/* Estimated seconds until the lag is gone at the given rates (msgs/s):
 *   lag < 0 or a rate < 0 (unknown)  -> -1 (unknown);
 *   lag == 0                         -> 0;
 *   consume - produce <= 0           -> cap_s (the group does not gain: "at least cap_s");
 *   otherwise lag / (consume - produce), at most cap_s. */
double kos_drain_seconds(int64_t lag, double consume, double produce, double cap_s);

#endif
