/* Parsing of flag values shared by the kos programs: durations ("500ms", "2s", "1m", "1h";
 * a bare number is seconds) and bounded integers, with errors that name the flag. */
#ifndef KOS_DURATION_H
#define KOS_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* 0 with *ms set, or -1 with errstr "<flag>: ..." */
int kos_parse_duration_ms(const char *flag, const char *text, int64_t *ms, char *errstr,
                          size_t errstr_size);
/* kos_parse_duration_ms, then within [min_ms, max_ms]; out of range: "<flag>: must be <range>"
 * (range: how the limits read to a user, e.g. "between 1s and 1h"). */
int kos_parse_duration_range_ms(const char *flag, const char *text, int64_t min_ms, int64_t max_ms,
                                const char *range, int64_t *ms, char *errstr, size_t errstr_size);
int kos_parse_int(const char *flag, const char *text, long long min, long long max, long long *out,
                  char *errstr, size_t errstr_size);

#endif
