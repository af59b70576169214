/* Unit tests for adapter/quantity.c: canonical DecimalSI output byte-for-byte as Kubernetes
 * writes it, int64 extremes, MilliValue()-style parsing, round trips and syntax errors. */
#include "quantity.h"

#include <stdint.h>
#include <string.h>

#include "check.h"

static const char *fmt(int64_t v, int scale)
{
        static char buf[KOS_QUANTITY_BUFSZ];

        if (kos_quantity_format(v, scale, buf, sizeof(buf)) < 0)
                return "(error)";
        return buf;
}

static int64_t milli(const char *s)
{
        int64_t m = -12345;

        if (kos_quantity_parse_milli(s, &m) < 0)
                return INT64_C(-777777777);
        return m;
}

static void test_format(void)
{
        CHECK_STR(fmt(1500, 3), "1500m");
        CHECK_STR(fmt(2000, 3), "2");
        CHECK_STR(fmt(1000, 0), "1k");
        CHECK_STR(fmt(1200, 0), "1200");
        CHECK_STR(fmt(12000, 0), "12k");
        CHECK_STR(fmt(500, 3), "500m");
        CHECK_STR(fmt(500, 6), "500u");
        CHECK_STR(fmt(1500000, 0), "1500k");
        CHECK_STR(fmt(-250, 3), "-250m");
        CHECK_STR(fmt(0, 0), "0");
        CHECK_STR(fmt(0, 3), "0");
        CHECK_STR(fmt(0, 9), "0");
        CHECK_STR(fmt(1, 0), "1");
        CHECK_STR(fmt(1, 3), "1m");
        CHECK_STR(fmt(1, 9), "1n");
        CHECK_STR(fmt(10, 9), "10n");
        CHECK_STR(fmt(100, 9), "100n");
        CHECK_STR(fmt(1000, 9), "1u");
        CHECK_STR(fmt(5, 4), "500u");
        CHECK_STR(fmt(5, 1), "500m");
        CHECK_STR(fmt(-1, 0), "-1");
        CHECK_STR(fmt(-1000, 0), "-1k");
        CHECK_STR(fmt(999, 0), "999");
        CHECK_STR(fmt(1001, 0), "1001");
        CHECK_STR(fmt(1000000, 0), "1M");
        CHECK_STR(fmt(INT64_C(1000000000), 0), "1G");
        CHECK_STR(fmt(INT64_C(1000000000000), 0), "1T");
        CHECK_STR(fmt(INT64_C(1000000000000000), 0), "1P");
        CHECK_STR(fmt(INT64_C(1000000000000000000), 0), "1E");
        CHECK_STR(fmt(INT64_C(2000000000000000000), 3), "2P");
        CHECK_STR(fmt(1, -3), "1k");
        CHECK_STR(fmt(15, -2), "1500");
        CHECK_STR(fmt(1, -21), "1000E");
        /* Finer than nano rounds up, away from zero. */
        CHECK_STR(fmt(1, 12), "1n");
        CHECK_STR(fmt(1500, 12), "2n");
        CHECK_STR(fmt(-1500, 12), "-2n");
        CHECK_STR(fmt(1000, 12), "1n");
        CHECK_STR(fmt(INT64_MAX, 64), "1n");
        CHECK_STR(fmt(INT64_C(1500000000), 18), "2n");

        /* int64 extremes, exact. */
        CHECK_STR(fmt(INT64_MAX, 0), "9223372036854775807");
        CHECK_STR(fmt(INT64_MIN, 0), "-9223372036854775808");
        CHECK_STR(fmt(INT64_MAX, 3), "9223372036854775807m");
        CHECK_STR(fmt(INT64_MIN, 3), "-9223372036854775808m");
        CHECK_STR(fmt(INT64_MAX, 9), "9223372036854775807n");
        CHECK_STR(fmt(INT64_MAX, 1), "922337203685477580700m");
        CHECK_STR(fmt(INT64_MIN, 2), "-92233720368547758080m");
        CHECK_STR(fmt(INT64_MAX, -18), "9223372036854775807E");

        /* Buffer sizes: the return value is the length. */
        char b[8];
        CHECK_INT(kos_quantity_format(1500, 3, b, sizeof(b)), 5);
        CHECK_STR(b, "1500m");
        CHECK_INT(kos_quantity_format(1500, 3, b, 6), 5);
        CHECK_INT(kos_quantity_format(1500, 3, b, 5), -1);
        CHECK_INT(kos_quantity_format(0, 0, b, 2), 1);
        CHECK_INT(kos_quantity_format(0, 0, b, 1), -1);
        CHECK_INT(kos_quantity_format(-1, 0, b, 2), -1);
        CHECK_INT(kos_quantity_format(1, 0, NULL, 0), -1);
        CHECK_INT(kos_quantity_format(1, 65, b, sizeof(b)), -1);
        CHECK_INT(kos_quantity_format(1, -65, b, sizeof(b)), -1);
        char big[KOS_QUANTITY_BUFSZ];
        for (int s = -18; s <= 18; s++) {
                CHECK(kos_quantity_format(INT64_MIN, s, big, sizeof(big)) > 0);
                CHECK(kos_quantity_format(INT64_MAX, s, big, sizeof(big)) > 0);
        }
}

static void test_parse(void)
{
        CHECK_INT(milli("1"), 1000);
        CHECK_INT(milli("0"), 0);
        CHECK_INT(milli("-0"), 0);
        CHECK_INT(milli("0.000"), 0);
        CHECK_INT(milli("0e99"), 0);
        CHECK_INT(milli("1500m"), 1500);
        CHECK_INT(milli("1.5"), 1500);
        CHECK_INT(milli("+1.5"), 1500);
        CHECK_INT(milli("-1.5"), -1500);
        CHECK_INT(milli("1."), 1000);
        CHECK_INT(milli(".5"), 500);
        CHECK_INT(milli("2"), 2000);
        CHECK_INT(milli("1k"), 1000000);
        CHECK_INT(milli("12k"), 12000000);
        CHECK_INT(milli("1M"), INT64_C(1000000000));
        CHECK_INT(milli("1G"), INT64_C(1000000000000));
        CHECK_INT(milli("1T"), INT64_C(1000000000000000));
        CHECK_INT(milli("1P"), INT64_C(1000000000000000000));
        CHECK_INT(milli("500u"), 1); /* rounds up */
        CHECK_INT(milli("1n"), 1);
        CHECK_INT(milli("-1n"), -1); /* away from zero */
        CHECK_INT(milli("1.0001"), 1001);
        CHECK_INT(milli("-1.0001"), -1001);
        CHECK_INT(milli("999u"), 1);
        CHECK_INT(milli("1000u"), 1);
        CHECK_INT(milli("1001u"), 2);
        CHECK_INT(milli("1Ki"), 1024000);
        CHECK_INT(milli("1.5Ki"), 1536000);
        CHECK_INT(milli("1Mi"), INT64_C(1048576000));
        CHECK_INT(milli("1Gi"), INT64_C(1073741824000));
        CHECK_INT(milli("1Ti"), INT64_C(1099511627776000));
        CHECK_INT(milli("1Pi"), INT64_C(1125899906842624000));
        CHECK_INT(milli("0.0001Ki"), 103); /* 102.4 rounded up */
        CHECK_INT(milli("1e3"), 1000000);
        CHECK_INT(milli("1E3"), 1000000);
        CHECK_INT(milli("1.5e3"), 1500000);
        CHECK_INT(milli("15e-1"), 1500);
        CHECK_INT(milli("1e+3"), 1000000);
        CHECK_INT(milli("1e-3"), 1);
        CHECK_INT(milli("1e-4"), 1);
        CHECK_INT(milli("1e-999999999"), 1);
        CHECK_INT(milli("9223372036854775807m"), INT64_MAX);
        CHECK_INT(milli("-9223372036854775808m"), INT64_MIN);
        CHECK_INT(milli("9223372036854775.807"), INT64_MAX);
        CHECK_INT(milli("9223372036854775.8071"), INT64_C(-777777777)); /* rounds past max */
        CHECK_INT(milli("00000000000000000000000000001"), 1000);
        CHECK_INT(milli("1.00000000000000000000000000000"), 1000);
        CHECK_INT(milli("0.00000000000000000000000000001"), 1);

        /* Overflow. */
        CHECK_INT(milli("9223372036854775808m"), INT64_C(-777777777));
        CHECK_INT(milli("-9223372036854775809m"), INT64_C(-777777777));
        CHECK_INT(milli("1E"), INT64_C(-777777777));
        CHECK_INT(milli("10P"), INT64_C(-777777777));
        CHECK_INT(milli("1Ei"), INT64_C(-777777777));
        CHECK_INT(milli("1e100"), INT64_C(-777777777));
        CHECK_INT(milli("99999999999999999999999"), INT64_C(-777777777));

        /* Syntax errors. */
        const char *bad[] = {"",    "+",    "-",    ".",     "abc", "1 ",   " 1",  "1K",
                             "1e",  "1e+",  "1ee3", "1.5.5", "1k5", "1Kii", "1mi", "--1",
                             "1,5", "0x10", "1e3m", "1i",    "e3",  "k",    "1.e", "1m\n"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t m = 42;
                int rc = kos_quantity_parse_milli(bad[i], &m);

                if (rc == 0)
                        fprintf(stderr, "should fail: '%s'\n", bad[i]);
                CHECK_INT(rc, -1);
                CHECK_INT(m, 42); /* untouched on error */
        }
        int64_t m;
        CHECK_INT(kos_quantity_parse_milli(NULL, &m), -1);
        CHECK_INT(kos_quantity_parse_milli("1", NULL), -1);
        char huge[5000];
        memset(huge, '0', sizeof(huge) - 2);
        huge[sizeof(huge) - 2] = '1';
        huge[sizeof(huge) - 1] = '\0';
        CHECK_INT(kos_quantity_parse_milli(huge, &m), -1); /* over the input bound */
}

static void test_round_trip(void)
{
        static const int64_t vals[] = {0,       1,         -1,        999,           1000,
                                       1500,    -250,      123456789, 1000000,       -987654321,
                                       4096000, INT64_MAX, INT64_MIN, INT64_MAX / 7, 10};
        char buf[KOS_QUANTITY_BUFSZ];

        /* milli-units -> text -> milli-units is the identity. */
        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
                int64_t back = 0;

                CHECK(kos_quantity_format(vals[i], 3, buf, sizeof(buf)) > 0);
                CHECK_INT(kos_quantity_parse_milli(buf, &back), 0);
                CHECK_INT(back, vals[i]);
        }
        /* Integers too, where they fit in milli. */
        for (int64_t v = -2500; v <= 2500; v += 7) {
                int64_t back = 0;

                CHECK(kos_quantity_format(v, 0, buf, sizeof(buf)) > 0);
                CHECK_INT(kos_quantity_parse_milli(buf, &back), 0);
                CHECK_INT(back, v * 1000);
        }
        /* Canonical text is a fixed point of parse + format. */
        const char *canon[] = {"1500m", "2", "1k", "1200", "12k", "500m", "1500k", "-250m"};
        for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
                int64_t mv = 0;

                CHECK_INT(kos_quantity_parse_milli(canon[i], &mv), 0);
                CHECK(kos_quantity_format(mv, 3, buf, sizeof(buf)) > 0);
                CHECK_STR(buf, canon[i]);
        }
}

int main(void)
{
        test_format();
        test_parse();
        test_round_trip();
        return check_result("quantity");
}
