/* Token bucket and profile schedule (see rate.h). */
#include "rate.h"
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kos_rate_parse(const char *flag, const char *text, int zero_is_max, double *rate, char *errstr,
                   size_t errstr_size)
{
        if (strcmp(text, "max") == 0) {
                *rate = KOS_RATE_MAX;
                return 0;
        }
        if (strcmp(text, "pause") == 0) {
                *rate = 0;
                return 0;
        }
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end != text && (*end == 'k' || *end == 'K')) {
                v *= 1000;
                end++;
        }
        /* strtod also takes "inf", "nan" and hex floats: only plain decimals are rates. */
        if (end == text || *end || errno || !(v >= 0) || v > KOS_RATE_LIMIT ||
            strspn(text, "0123456789.kK") != strlen(text)) {
                snprintf(errstr, errstr_size,
                         "%s: \"%s\" is not a rate (frames/s >= 0, e.g. 5000, 2.5k, max, pause)",
                         flag, text);
                return -1;
        }
        *rate = v == 0 && zero_is_max ? KOS_RATE_MAX : v;
        return 0;
}

void kos_rate_format(double rate, char *buf, size_t size)
{
        if (isinf(rate))
                snprintf(buf, size, "max");
        else
                snprintf(buf, size, "%.6g", rate);
}

static double burst_for(double rate)
{
        double b = rate * KOS_BUCKET_BURST;
        return b < 1 ? 1 : b;
}

void kos_bucket_init(kos_bucket_t *b, double rate, int64_t now_ns)
{
        b->rate = rate;
        b->burst = burst_for(rate);
        b->tokens = rate > 0 ? 1 : 0;
        b->last_ns = now_ns;
}

static void refill(kos_bucket_t *b, int64_t now_ns)
{
        if (now_ns > b->last_ns && !isinf(b->rate)) {
                b->tokens += b->rate * (double)(now_ns - b->last_ns) / 1e9;
                if (b->tokens > b->burst)
                        b->tokens = b->burst;
        }
        if (now_ns > b->last_ns)
                b->last_ns = now_ns;
}

void kos_bucket_set_rate(kos_bucket_t *b, double rate, int64_t now_ns)
{
        if (rate == b->rate)
                return;
        refill(b, now_ns);
        if (isinf(b->rate))
                b->tokens = 0; /* leaving "max": start metering from now */
        b->rate = rate;
        b->burst = burst_for(rate);
        if (b->tokens > b->burst)
                b->tokens = b->burst;
}

uint64_t kos_bucket_take(kos_bucket_t *b, int64_t now_ns, uint64_t max)
{
        if (isinf(b->rate)) {
                b->last_ns = now_ns > b->last_ns ? now_ns : b->last_ns;
                return max;
        }
        refill(b, now_ns);
        double whole = floor(b->tokens);
        uint64_t n = whole < (double)max ? (uint64_t)whole : max;
        b->tokens -= (double)n;
        return n;
}

int64_t kos_bucket_wait_ns(const kos_bucket_t *b, int64_t now_ns)
{
        if (isinf(b->rate))
                return 0;
        double tokens = b->tokens;
        if (now_ns > b->last_ns)
                tokens += b->rate * (double)(now_ns - b->last_ns) / 1e9;
        if (tokens >= 1)
                return 0;
        if (b->rate <= 0)
                return INT64_MAX;
        return (int64_t)ceil((1 - tokens) / b->rate * 1e9);
}

/* Splits "text" at commas into segments and resolves each ramp's start from the segment
 * before, so that kos_profile_rate is a plain lookup. */
int kos_profile_parse(const char *text, kos_profile_t *out, char *errstr, size_t errstr_size)
{
        memset(out, 0, sizeof(*out));
        char buf[4096];
        if (strlen(text) >= sizeof(buf)) {
                snprintf(errstr, errstr_size, "--profile: longer than %zu characters",
                         sizeof(buf) - 1);
                return -1;
        }
        strcpy(buf, text);
        double prev = 0;
        int64_t t = 0;
        char *save = NULL, err[256];
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (out->tail != KOS_PROFILE_END) {
                        snprintf(errstr, errstr_size, "--profile: \"%s\" after loop/hold", tok);
                        return -1;
                }
                if (strcmp(tok, "loop") == 0 || strcmp(tok, "hold") == 0) {
                        out->tail = tok[0] == 'l' ? KOS_PROFILE_LOOP : KOS_PROFILE_HOLD;
                        continue;
                }
                if (out->n == KOS_PROFILE_MAX_SEGS) {
                        snprintf(errstr, errstr_size, "--profile: more than %d segments",
                                 KOS_PROFILE_MAX_SEGS);
                        return -1;
                }
                kos_segment_t *s = &out->segs[out->n];
                char *at = strchr(tok, '@');
                if (!at) {
                        snprintf(errstr, errstr_size,
                                 "--profile: segment \"%s\" has no @DURATION (e.g. 1000@60s, "
                                 "ramp:5k@2m, hold@30s)",
                                 tok);
                        return -1;
                }
                *at = '\0';
                if (kos_parse_duration_ms("--profile", at + 1, &s->dur_ms, err, sizeof(err)) ==
                    -1) {
                        snprintf(errstr, errstr_size, "%s", err);
                        return -1;
                }
                if (s->dur_ms <= 0) {
                        snprintf(errstr, errstr_size, "--profile: segment \"%s@%s\" lasts 0", tok,
                                 at + 1);
                        return -1;
                }
                double rate = prev;
                if (strcmp(tok, "hold") == 0) {
                        s->kind = KOS_SEG_HOLD;
                } else {
                        int ramp = strncmp(tok, "ramp:", 5) == 0;
                        s->kind = ramp ? KOS_SEG_RAMP : KOS_SEG_STEP;
                        if (kos_rate_parse("--profile", ramp ? tok + 5 : tok, 0, &rate, err,
                                           sizeof(err)) == -1) {
                                snprintf(errstr, errstr_size, "%s", err);
                                return -1;
                        }
                        if (ramp && (isinf(rate) || isinf(prev))) {
                                snprintf(errstr, errstr_size,
                                         "--profile: a ramp cannot start or end at max (\"%s\")",
                                         tok);
                                return -1;
                        }
                }
                s->from = s->kind == KOS_SEG_RAMP ? prev : rate;
                s->to = rate;
                s->start_ms = t;
                t += s->dur_ms;
                prev = rate;
                out->n++;
        }
        if (!out->n) {
                snprintf(errstr, errstr_size, "--profile: no segments");
                return -1;
        }
        out->total_ms = t;
        return 0;
}

int kos_profile_rate(const kos_profile_t *p, int64_t t_ms, double *rate)
{
        if (t_ms < 0)
                t_ms = 0;
        if (t_ms >= p->total_ms) {
                if (p->tail == KOS_PROFILE_END) {
                        *rate = 0;
                        return 1;
                }
                if (p->tail == KOS_PROFILE_HOLD) {
                        *rate = p->segs[p->n - 1].to;
                        return 0;
                }
                t_ms %= p->total_ms;
        }
        /* Segments are few (<= 64): a linear scan is fine at one call per loop iteration. */
        for (size_t i = 0; i < p->n; i++) {
                const kos_segment_t *s = &p->segs[i];
                if (t_ms < s->start_ms + s->dur_ms) {
                        if (s->kind != KOS_SEG_RAMP)
                                *rate = s->to;
                        else
                                *rate = s->from + (s->to - s->from) * (double)(t_ms - s->start_ms) /
                                                      (double)s->dur_ms;
                        return 0;
                }
        }
        *rate = p->segs[p->n - 1].to;
        return 0;
}
