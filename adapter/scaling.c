/* Selector-carried scaling parameters and the served value's arithmetic (see scaling.h). */
#include "scaling.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
{
        if (!errstr || !errstr_size)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

#define P_LAG_THRESHOLD "lagThreshold"
#define P_ACTIVATION    "activationLagThreshold"
#define P_ALLOW_IDLE    "allowIdleConsumers"
#define P_LIMIT_LAGGING "limitToPartitionsWithLag"
#define P_POLICY        "offsetResetPolicy"
#define P_ZERO_INVALID  "scaleToZeroOnInvalidOffset"
#define P_TOPIC_REGEX   "topicRegex"

static const char *const params[] = {P_LAG_THRESHOLD, P_ACTIVATION, P_ALLOW_IDLE,
                                     P_LIMIT_LAGGING, P_POLICY,     P_ZERO_INVALID,
                                     P_TOPIC_REGEX,   "budget"};
#define N_PARAMS (sizeof(params) / sizeof(params[0]))

int kos_scaling_is_param(const char *key)
{
        for (size_t i = 0; i < N_PARAMS; i++)
                if (strcmp(key, params[i]) == 0)
                        return 1;
        return strncmp(key, KOS_SCALING_WEIGHT_PREFIX, strlen(KOS_SCALING_WEIGHT_PREFIX)) == 0;
}

/* Base-10 digits only (a label value cannot carry a sign), no overflow. */
static int parse_count(const char *s, int64_t *out)
{
        int64_t v = 0;
        if (!*s)
                return -1;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -1;
                if (v > (INT64_MAX - (*s - '0')) / 10)
                        return -1;
                v = v * 10 + (*s - '0');
        }
        *out = v;
        return 0;
}

/* Go's strconv.ParseBool, which KEDA uses for its boolean parameters. */
static int parse_bool(const char *s, int *out)
{
        static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
        static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
        for (size_t i = 0; i < 6; i++) {
                if (strcmp(s, t[i]) == 0)
                        return *out = 1, 0;
                if (strcmp(s, f[i]) == 0)
                        return *out = 0, 0;
        }
        return -1;
}

/* "2", "0.5", "1.125": digits, optionally a point and 1..3 decimals; in thousandths. */
static int parse_weight(const char *s, int64_t *milli)
{
        int64_t whole = 0, frac = 0;
        int decimals = 0;
        const char *p = s;
        if (*p < '0' || *p > '9')
                return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
                whole = whole * 10 + (*p - '0');
                if (whole > KOS_SCALING_WEIGHT_MAX)
                        return -1;
        }
        if (*p == '.') {
                for (p++; *p >= '0' && *p <= '9'; p++) {
                        if (++decimals > 3)
                                return -1;
                        frac = frac * 10 + (*p - '0');
                }
                if (decimals == 0)
                        return -1;
                while (decimals++ < 3)
                        frac *= 10;
        }
        if (*p)
                return -1;
        *milli = whole * 1000 + frac;
        return *milli > (int64_t)KOS_SCALING_WEIGHT_MAX * 1000 ? -1 : 0;
}

static int b64url_value(int c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

int kos_base64url_decode(const char *in, char *out, size_t out_size)
{
        size_t len = strlen(in), n = 0;
        uint32_t acc = 0;
        int bits = 0;
        if (len % 4 == 1)
                return -1; /* one character carries only 6 bits: no whole byte */
        for (size_t i = 0; i < len; i++) {
                int v = b64url_value((unsigned char)in[i]);
                if (v < 0)
                        return -1;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (n + 1 >= out_size)
                                return -1;
                        out[n++] = (char)((acc >> bits) & 0xff);
                }
        }
        /* The leftover bits of the last character must be zero (canonical encoding). */
        if (bits && (acc & ((1u << bits) - 1)))
                return -1;
        out[n] = '\0';
        return (int)n;
}

/* Compiles topicRegex. The regex travels base64url-encoded because a label value allows only
 * [A-Za-z0-9._-]. Interval expressions ({m,n}) and back-references are refused: nested
 * intervals make glibc's compiled automaton grow exponentially, back-references make
 * matching backtrack; without them compiling is linear in the (short) pattern and matching
 * a topic name polynomial. The pattern must match the whole topic name, as Kafka's pattern
 * subscription does. */
static int compile_regex(kos_scaling_t *sc, const char *value, char *errstr, size_t errstr_size)
{
        char re[KOS_SCALING_REGEX_MAX + 1];
        int n = kos_base64url_decode(value, re, sizeof(re));
        if (n < 0) {
                seterr(errstr, errstr_size,
                       P_TOPIC_REGEX "=%s: not base64url (RFC 4648 section 5, no padding) of a "
                                     "regular expression of at most %d bytes",
                       value, KOS_SCALING_REGEX_MAX);
                return -1;
        }
        if (n == 0) {
                seterr(errstr, errstr_size, P_TOPIC_REGEX "=%s: empty regular expression", value);
                return -1;
        }
        for (int i = 0; i < n; i++) {
                unsigned char c = (unsigned char)re[i];
                if (c < 0x20 || c >= 0x7f) {
                        seterr(errstr, errstr_size,
                               P_TOPIC_REGEX "=%s: the regular expression must be printable "
                                             "ASCII (byte %d is 0x%02x)",
                               value, i, c);
                        return -1;
                }
                if (c == '{' || (c == '\\' && re[i + 1] >= '1' && re[i + 1] <= '9')) {
                        seterr(errstr, errstr_size,
                               P_TOPIC_REGEX " \"%s\": interval expressions {m,n} and "
                                             "back-references are not accepted (their cost "
                                             "is unbounded); spell the repetition out",
                               re);
                        return -1;
                }
        }
        char anchored[KOS_SCALING_REGEX_MAX + 8];
        snprintf(anchored, sizeof(anchored), "^(%s)$", re);
        int rc = regcomp(&sc->topic_re, anchored, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
                char why[128];
                regerror(rc, &sc->topic_re, why, sizeof(why));
                seterr(errstr, errstr_size,
                       P_TOPIC_REGEX " \"%s\": not a POSIX extended regular expression: %s", re,
                       why);
                return -1;
        }
        sc->has_regex = 1;
        return 0;
}

/* One parameter's value into sc; -1 with errstr on a bad value. */
static int set_param(kos_scaling_t *sc, const char *key, const char *v, char *errstr,
                     size_t errstr_size)
{
        if (strcmp(key, P_LAG_THRESHOLD) == 0) {
                if (parse_count(v, &sc->lag_threshold) == -1 || sc->lag_threshold == 0) {
                        seterr(errstr, errstr_size,
                               P_LAG_THRESHOLD "=%s: must be a positive integer (messages per "
                                               "replica, the HPA target's averageValue)",
                               v);
                        return -1;
                }
        } else if (strcmp(key, P_ACTIVATION) == 0) {
                if (parse_count(v, &sc->activation) == -1) {
                        seterr(errstr, errstr_size,
                               P_ACTIVATION "=%s: must be a non-negative integer (messages)", v);
                        return -1;
                }
        } else if (strcmp(key, P_ALLOW_IDLE) == 0 || strcmp(key, P_LIMIT_LAGGING) == 0 ||
                   strcmp(key, P_ZERO_INVALID) == 0) {
                int *dst = strcmp(key, P_ALLOW_IDLE) == 0      ? &sc->allow_idle
                           : strcmp(key, P_LIMIT_LAGGING) == 0 ? &sc->limit_to_lagging
                                                               : &sc->zero_on_invalid;
                if (parse_bool(v, dst) == -1) {
                        seterr(errstr, errstr_size, "%s=%s: must be true or false", key, v);
                        return -1;
                }
        } else if (strcmp(key, P_POLICY) == 0) {
                if (strcmp(v, "latest") == 0) {
                        sc->policy = KOS_NOCOMMIT_LATEST;
                } else if (strcmp(v, "earliest") == 0) {
                        sc->policy = KOS_NOCOMMIT_EARLIEST;
                } else {
                        seterr(errstr, errstr_size, P_POLICY "=%s: must be latest or earliest", v);
                        return -1;
                }
        } else if (strcmp(key, P_TOPIC_REGEX) == 0) {
                return compile_regex(sc, v, errstr, errstr_size);
        } else if (strncmp(key, KOS_SCALING_WEIGHT_PREFIX, strlen(KOS_SCALING_WEIGHT_PREFIX)) ==
                   0) {
                kos_topic_weight_t *w = &sc->weights[sc->n_weights];
                if (sc->n_weights == KOS_SCALING_MAX_WEIGHTS) {
                        seterr(errstr, errstr_size, "more than %d topic weights",
                               KOS_SCALING_MAX_WEIGHTS);
                        return -1;
                }
                w->topic = key + strlen(KOS_SCALING_WEIGHT_PREFIX);
                if (parse_weight(v, &w->milli) == -1) {
                        seterr(errstr, errstr_size,
                               "%s=%s: a weight is a number from 0 to %d with at most 3 "
                               "decimals (0.5, 2, 1.125)",
                               key, v, KOS_SCALING_WEIGHT_MAX);
                        return -1;
                }
                sc->n_weights++;
        }
        return 0;
}

int kos_scaling_parse(const kos_selector_t *sel, kos_scaling_t *sc, char *errstr,
                      size_t errstr_size)
{
        memset(sc, 0, sizeof(*sc));
        sc->policy = -1;
        for (size_t i = 0; sel && i < sel->n_reqs; i++) {
                const kos_sel_req_t *r = &sel->reqs[i];
                if (!kos_scaling_is_param(r->key))
                        continue;
                if (!(r->op == KOS_SEL_EQ || r->op == KOS_SEL_IN) || r->n_values != 1) {
                        seterr(errstr, errstr_size,
                               "%s is a parameter: give it once as %s=<value> (matchLabels)",
                               r->key, r->key);
                        goto fail;
                }
                /* reqs are sorted by key: a repeated key is the previous requirement's */
                if (i > 0 && strcmp(sel->reqs[i - 1].key, r->key) == 0) {
                        seterr(errstr, errstr_size, "%s is given twice", r->key);
                        goto fail;
                }
                if (set_param(sc, r->key, r->values[0], errstr, errstr_size) == -1)
                        goto fail;
        }
        if (sc->allow_idle && sc->limit_to_lagging) {
                seterr(errstr, errstr_size,
                       P_ALLOW_IDLE " and " P_LIMIT_LAGGING " cannot both be true");
                goto fail;
        }
        if ((sc->allow_idle || sc->limit_to_lagging) && sc->lag_threshold == 0) {
                seterr(errstr, errstr_size,
                       "%s needs " P_LAG_THRESHOLD "=<the HPA target's averageValue>: the cap "
                       "is lagThreshold x partitions",
                       sc->allow_idle ? P_ALLOW_IDLE : P_LIMIT_LAGGING);
                goto fail;
        }
        return 0;
fail:
        kos_scaling_clear(sc);
        return -1;
}

void kos_scaling_clear(kos_scaling_t *sc)
{
        if (sc->has_regex)
                regfree(&sc->topic_re);
        sc->has_regex = 0;
        sc->n_weights = 0;
}

int kos_scaling_topic_selected(const kos_scaling_t *sc, const char *topic)
{
        if (!sc || !sc->has_regex)
                return 1;
        return regexec(&sc->topic_re, topic, 0, NULL, 0) == 0;
}

int64_t kos_scaling_weight_milli(const kos_scaling_t *sc, const char *topic)
{
        for (size_t i = 0; sc && i < sc->n_weights; i++)
                if (strcmp(sc->weights[i].topic, topic) == 0)
                        return sc->weights[i].milli;
        return 1000;
}

int64_t kos_scaling_part_lag(const kos_scaling_t *sc, const kos_part_lag_t *p)
{
        if (!sc || sc->policy < 0 || p->committed >= 0)
                return p->lag;
        if (p->end < 0)
                return -1;
        if (sc->policy == KOS_NOCOMMIT_LATEST)
                return sc->zero_on_invalid ? 0 : 1;
        if (sc->zero_on_invalid)
                return 0;
        return kos_part_lag_compute(p->committed, p->end, p->log_start, KOS_NOCOMMIT_EARLIEST);
}

int64_t kos_scaling_value(const kos_scaling_t *sc, int64_t total, size_t n_parts, size_t n_lagging)
{
        if (!sc)
                return total;
        if (total <= sc->activation)
                return 0;
        if (sc->lag_threshold == 0 || sc->allow_idle)
                return total;
        int64_t bound = (int64_t)(sc->limit_to_lagging ? n_lagging : n_parts), cap;
        if (__builtin_mul_overflow(bound, sc->lag_threshold, &cap))
                cap = INT64_MAX;
        return total < cap ? total : cap;
}
