/* Flag value parsing (see duration.h). */
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kos_parse_int(const char *flag, const char *text, long long min, long long max, long long *out,
                  char *errstr, size_t errstr_size)
{
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno) {
                snprintf(errstr, errstr_size, "%s: \"%s\" is not an integer", flag, text);
                return -1;
        }
        if (v < min || v > max) {
                snprintf(errstr, errstr_size, "%s: %lld is out of range [%lld, %lld]", flag, v, min,
                         max);
                return -1;
        }
        *out = v;
        return 0;
}

int kos_parse_duration_ms(const char *flag, const char *text, int64_t *ms, char *errstr,
                          size_t errstr_size)
{
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        double mult;
        if (end == text || errno || v < 0)
                goto bad;
        if (!*end || strcmp(end, "s") == 0)
                mult = 1000;
        else if (strcmp(end, "ms") == 0)
                mult = 1;
        else if (strcmp(end, "m") == 0)
                mult = 60000;
        else if (strcmp(end, "h") == 0)
                mult = 3600000;
        else
                goto bad;
        if (v * mult > 1e12)
                goto bad;
        *ms = (int64_t)(v * mult + 0.5);
        return 0;
bad:
        snprintf(errstr, errstr_size,
                 "%s: \"%s\" is not a duration (e.g. 500ms, 2s, 1m, 1h; no negatives)", flag, text);
        return -1;
}

int kos_parse_duration_range_ms(const char *flag, const char *text, int64_t min_ms, int64_t max_ms,
                                const char *range, int64_t *ms, char *errstr, size_t errstr_size)
{
        if (kos_parse_duration_ms(flag, text, ms, errstr, errstr_size) == -1)
                return -1;
        if (*ms < min_ms || *ms > max_ms) {
                snprintf(errstr, errstr_size, "%s: must be %s", flag, range);
                return -1;
        }
        return 0;
}
