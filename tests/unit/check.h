/* A tiny assertion kit for the unit tests: each failed CHECK prints file:line and the
 * expression, the test keeps going, and main returns check_result() (non-zero on any failure). */
#ifndef KOS_CHECK_H
#define KOS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(expr)                                                                                \
        do {                                                                                       \
                check_count++;                                                                     \
                if (!(expr)) {                                                                     \
                        check_failures++;                                                          \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);   \
                }                                                                                  \
        } while (0)

#define CHECK_STR(got, want)                                                                       \
        do {                                                                                       \
                check_count++;                                                                     \
                const char *g_ = (got), *w_ = (want);                                              \
                if (!g_ || !w_ || strcmp(g_, w_) != 0) {                                           \
                        check_failures++;                                                          \
                        fprintf(stderr, "%s:%d: %s\n   got: %s\n  want: %s\n", __FILE__, __LINE__, \
                                #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");                     \
                }                                                                                  \
        } while (0)

#define CHECK_INT(got, want)                                                                       \
        do {                                                                                       \
                check_count++;                                                                     \
                long long g_ = (long long)(got), w_ = (long long)(want);                           \
                if (g_ != w_) {                                                                    \
                        check_failures++;                                                          \
                        fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, \
                                g_, w_);                                                           \
                }                                                                                  \
        } while (0)

static inline int check_result(const char *name)
{
        fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
        return check_failures ? 1 : 0;
}

#endif
