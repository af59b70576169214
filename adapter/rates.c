/* Rate rings and time to drain (see rates.h). */
#include "rates.h"

static kos_sample_t *at(kos_rate_ring_t *r, unsigned i)
{
        return &r->s[(r->head + i) % KOS_RATE_SLOTS];
}

static const kos_sample_t *cat(const kos_rate_ring_t *r, unsigned i)
{
        return &r->s[(r->head + i) % KOS_RATE_SLOTS];
}

void kos_rate_ring_observe(kos_rate_ring_t *r, int64_t t_ms, int64_t v, int64_t window_ms)
{
        if (v < 0) {
                r->n = 0;
                return;
        }
        if (r->n > 0) {
                kos_sample_t *newest = at(r, r->n - 1);
                if (t_ms <= newest->t_ms)
                        return;
                if (v < newest->v)
                        r->n = 0;
        }
        if (r->n == 0) {
                r->head = 0;
                r->s[0] = (kos_sample_t){t_ms, v};
                r->n = 1;
                return;
        }
        /* Keep the newest sample current until it is a spacing away from the one before; then
         * it stays and a new one starts. Stored samples are thus at least a spacing apart and
         * the ring spans the window whatever the refresh interval. */
        int64_t spacing = window_ms / (KOS_RATE_SLOTS - 2);
        if (r->n >= 2 && at(r, r->n - 1)->t_ms - cat(r, r->n - 2)->t_ms < spacing) {
                *at(r, r->n - 1) = (kos_sample_t){t_ms, v};
                return;
        }
        if (r->n == KOS_RATE_SLOTS) {
                r->head = (r->head + 1) % KOS_RATE_SLOTS;
                r->n--;
        }
        *at(r, r->n) = (kos_sample_t){t_ms, v};
        r->n++;
}

double kos_rate_ring_rate(const kos_rate_ring_t *r, int64_t window_ms)
{
        if (r->n < 2)
                return -1;
        const kos_sample_t *newest = cat(r, r->n - 1);
        for (unsigned i = 0; i + 1 < r->n; i++) {
                const kos_sample_t *old = cat(r, i);
                if (newest->t_ms - old->t_ms > window_ms)
                        continue;
                /* both offsets >= 0 and old <= newest (observe restarts on a decrease) */
                return (double)(newest->v - old->v) * 1000.0 / (double)(newest->t_ms - old->t_ms);
        }
        return -1;
}

double kos_drain_seconds(int64_t lag, double consume, double produce, double cap_s)
{
        if (lag < 0 || consume < 0 || produce < 0)
                return -1;
        if (lag == 0)
                return 0;
        double gain = consume - produce;
        if (!(gain > 0))
                return cap_s;
        double t = (double)lag / gain;
        return t < cap_s ? t : cap_s;
}
