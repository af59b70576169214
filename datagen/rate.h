/* Rate control without clocks of its own: a token bucket (frames/s) and the --profile schedule
 * of steps and linear ramps. Callers pass the time in, so tests check the arithmetic without
 * sleeping.
 *
 * Rates are doubles in frames/s: KOS_RATE_MAX (+infinity) is "as fast as the broker takes",
 * 0 is paused. */
#ifndef KOS_DG_RATE_H
#define KOS_DG_RATE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define KOS_RATE_MAX     INFINITY
#define KOS_RATE_LIMIT   1e8 /* largest finite rate accepted */
#define KOS_BUCKET_BURST 1.0 /* seconds of tokens the bucket holds (catch-up after a stall) */

/* Parses a rate: a number >= 0 (decimals allowed, suffix k = x1000), "max" or "pause".
 * zero_is_max: 1 for --rate and PUT /rate (0 = as fast as possible, as the spec says),
 * 0 inside --profile (0 = no frames, the demo's "drop"). -1 with errstr naming flag. */
int kos_rate_parse(const char *flag, const char *text, int zero_is_max, double *rate, char *errstr,
                   size_t errstr_size);
/* "max", "0" or the number ("%.6g"). */
void kos_rate_format(double rate, char *buf, size_t size);

typedef struct {
        double rate;   /* tokens per second */
        double tokens; /* available now (fractional) */
        double burst;  /* capacity */
        int64_t last_ns;
} kos_bucket_t;

/* Starts with one token, so the first frame goes out at once. */
void kos_bucket_init(kos_bucket_t *b, double rate, int64_t now_ns);
/* Accrues at the old rate up to now, then switches; tokens above the new capacity are lost. */
void kos_bucket_set_rate(kos_bucket_t *b, double rate, int64_t now_ns);
/* Takes up to max whole tokens available at now_ns; with KOS_RATE_MAX always max. */
uint64_t kos_bucket_take(kos_bucket_t *b, int64_t now_ns, uint64_t max);
/* Nanoseconds from now until a whole token is available: 0 if one is, INT64_MAX if paused. */
int64_t kos_bucket_wait_ns(const kos_bucket_t *b, int64_t now_ns);

/* --profile: SEGMENT[,SEGMENT...][,loop|,hold]
 *   RATE@DUR        step: RATE for DUR
 *   ramp:RATE@DUR   linear from the rate before to RATE over DUR (the first ramp starts at 0)
 *   hold@DUR        keep the rate before for DUR
 * RATE as kos_rate_parse with 0 = paused; "max" cannot start or end a ramp. DUR as --duration
 * (500ms, 60s, 2m). After the last segment the run ends, unless the profile ends in "loop"
 * (start over) or "hold" (keep the last rate until stopped). */
#define KOS_PROFILE_MAX_SEGS 64

enum { KOS_SEG_STEP, KOS_SEG_RAMP, KOS_SEG_HOLD };
enum { KOS_PROFILE_END, KOS_PROFILE_LOOP, KOS_PROFILE_HOLD };

typedef struct {
        int kind;
        double from, to; /* resolved at parse time; equal for steps and holds */
        int64_t start_ms, dur_ms;
} kos_segment_t;

typedef struct {
        kos_segment_t segs[KOS_PROFILE_MAX_SEGS];
        size_t n;
        int64_t total_ms;
        int tail; /* KOS_PROFILE_END, _LOOP or _HOLD */
} kos_profile_t;

int kos_profile_parse(const char *text, kos_profile_t *out, char *errstr, size_t errstr_size);
/* Rate at t_ms since the profile started. @returns 0, or 1 (rate 0) once a profile that ends
 * has ended. */
int kos_profile_rate(const kos_profile_t *p, int64_t t_ms, double *rate);

#endif
