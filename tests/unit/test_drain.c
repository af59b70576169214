/* Unit tests for adapter/rates.c: the rate ring (steady growth, a window that slides, counter
 * resets and offset rewinds, unknown offsets, clock steps, huge offsets, long gaps) and the
 * time-to-drain arithmetic (division by zero, not gaining, the cap). */
#include "rates.h"

#include <math.h>
#include <stdint.h>

#include "check.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-6)

static void test_steady(void)
{
        kos_rate_ring_t r = {0};
        CHECK(kos_rate_ring_rate(&r, 30000) < 0); /* empty: unknown */
        kos_rate_ring_observe(&r, 1000, 0, 30000);
        CHECK(kos_rate_ring_rate(&r, 30000) < 0); /* one sample: unknown */
        for (int i = 1; i <= 100; i++)            /* 100 msgs/s, one refresh per second */
                kos_rate_ring_observe(&r, 1000 + i * 1000, i * 100, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 100.0));
        CHECK(r.n <= KOS_RATE_SLOTS);
        /* the rate covers the window, not the last second: a 10x burst in the last second
         * moves a 30 s rate by about 1/30 of the burst */
        kos_rate_ring_observe(&r, 102000, 10000 + 1000, 30000);
        double v = kos_rate_ring_rate(&r, 30000);
        CHECK(v > 120 && v < 140);
        /* no growth for a whole window: 0 */
        for (int i = 1; i <= 40; i++)
                kos_rate_ring_observe(&r, 102000 + i * 1000, 11000, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 0.0));
}

static void test_fast_refresh_spans_the_window(void)
{
        /* 10 refreshes a second for 60 s: 32 slots still reach 30 s back */
        kos_rate_ring_t r = {0};
        for (int i = 0; i <= 600; i++)
                kos_rate_ring_observe(&r, i * 100, (int64_t)i * 5, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 50.0));
        unsigned oldest = r.head;
        CHECK(r.s[(oldest + r.n - 1) % KOS_RATE_SLOTS].t_ms - r.s[oldest].t_ms >= 29000);
}

static void test_resets_and_unknowns(void)
{
        kos_rate_ring_t r = {0};
        for (int i = 0; i < 10; i++)
                kos_rate_ring_observe(&r, i * 1000, 1000 + i * 10, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 10.0));
        /* an offset going backwards (a rewind, a re-created topic): the ring restarts, the
         * rate is unknown until a second sample, and never negative */
        kos_rate_ring_observe(&r, 10000, 5, 30000);
        CHECK(kos_rate_ring_rate(&r, 30000) < 0);
        kos_rate_ring_observe(&r, 11000, 25, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 20.0));
        /* no offset (a deleted commit): unknown, then a fresh start */
        kos_rate_ring_observe(&r, 12000, -1, 30000);
        CHECK(kos_rate_ring_rate(&r, 30000) < 0);
        kos_rate_ring_observe(&r, 13000, 100, 30000);
        CHECK(kos_rate_ring_rate(&r, 30000) < 0);
        kos_rate_ring_observe(&r, 14000, 130, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 30.0));
        /* a clock that does not advance or steps back: the observation is ignored (no
         * division by zero, no negative time) */
        kos_rate_ring_observe(&r, 14000, 999999, 30000);
        kos_rate_ring_observe(&r, 9000, 999999, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 30.0));
        /* a gap longer than the window (refreshes failed): only the newest sample is inside
         * it, so the rate is unknown rather than averaged over stale data */
        kos_rate_ring_observe(&r, 14000 + 60000, 200, 30000);
        CHECK(kos_rate_ring_rate(&r, 30000) < 0);
        kos_rate_ring_observe(&r, 14000 + 61000, 260, 30000);
        CHECK(NEAR(kos_rate_ring_rate(&r, 30000), 60.0));
}

static void test_huge_offsets(void)
{
        kos_rate_ring_t r = {0};
        kos_rate_ring_observe(&r, 1000, 0, 30000);
        kos_rate_ring_observe(&r, 2000, INT64_MAX, 30000); /* a jump of 2^63-1 in one second */
        double v = kos_rate_ring_rate(&r, 30000);
        CHECK(v > 9e18 && isfinite(v));
        kos_rate_ring_observe(&r, 3000, INT64_MAX, 30000);
        CHECK(isfinite(kos_rate_ring_rate(&r, 30000)));
}

static void test_drain(void)
{
        /* unknowns */
        CHECK(kos_drain_seconds(-1, 10, 5, 3600) < 0);
        CHECK(kos_drain_seconds(100, -1, 5, 3600) < 0);
        CHECK(kos_drain_seconds(100, 10, -1, 3600) < 0);
        /* nothing to drain */
        CHECK(NEAR(kos_drain_seconds(0, 0, 0, 3600), 0));
        CHECK(NEAR(kos_drain_seconds(0, 0, 1000, 3600), 0));
        /* gaining: lag / (consume - produce) */
        CHECK(NEAR(kos_drain_seconds(1000, 150, 50, 3600), 10.0));
        /* not gaining (equal rates: division by zero; falling behind; nothing moves): the cap */
        CHECK(NEAR(kos_drain_seconds(1000, 50, 50, 3600), 3600));
        CHECK(NEAR(kos_drain_seconds(1000, 10, 50, 3600), 3600));
        CHECK(NEAR(kos_drain_seconds(1000, 0, 0, 3600), 3600));
        CHECK(isinf(kos_drain_seconds(1000, 0, 0, INFINITY)));
        /* a tiny gain is capped, never a huge number */
        CHECK(NEAR(kos_drain_seconds(INT64_MAX, 1e-9, 0, 3600), 3600));
        CHECK(NEAR(kos_drain_seconds(1000, 100.5, 100, 3600), 2000));
}

int main(void)
{
        test_steady();
        test_fast_refresh_spans_the_window();
        test_resets_and_unknowns();
        test_huge_offsets();
        test_drain();
        return check_result("test_drain");
}
