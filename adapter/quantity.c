/* resource.Quantity formatting and parsing with exact integer arithmetic: the formatter mirrors
 * CanonicalizeBytes for DecimalSI, the parser follows ParseQuantity's grammar and returns what
 * MilliValue() would, with overflow reported instead of wrapping. */
#include "quantity.h"

#include <string.h>

/* Inputs longer than this are refused: they can only be zero padding, and the bound keeps
 * the digit buffer on the stack. */
#define QTY_MAX_TEXT 4096

/* Suffixes for exponents -9..18 in steps of 3. */
static const char *const dec_suffix[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};

static int put(char *buf, size_t size, size_t *len, char c)
{
        if (*len + 1 >= size)
                return -1;
        buf[(*len)++] = c;
        buf[*len] = '\0';
        return 0;
}

int kos_quantity_format(int64_t value, int scale, char *buf, size_t size)
{
        char digits[24];
        size_t nd = 0, len = 0;
        uint64_t m;
        int exp, zeros, neg = value < 0;

        if (!buf || size == 0)
                return -1;
        buf[0] = '\0';
        if (scale < -64 || scale > 64)
                return -1;
        if (value == 0) {
                if (size < 2)
                        return -1;
                memcpy(buf, "0", 2);
                return 1;
        }
        /* |INT64_MIN| does not fit int64, so take the magnitude in uint64. */
        m = neg ? (uint64_t)(-(value + 1)) + 1 : (uint64_t)value;
        exp = -scale;

        if (exp < -9) {
                /* Finer than nano: round up away from zero, as ParseQuantity does. */
                int k = -9 - exp;

                if (k >= 20) {
                        m = 1; /* m < 2^64 < 10^20 <= 10^k */
                } else {
                        uint64_t d = 1;

                        for (int i = 0; i < k; i++)
                                d *= 10;
                        m = m / d + (m % d != 0);
                }
                exp = -9;
        }
        while (m % 10 == 0) {
                m /= 10;
                exp++;
        }
        /* Lower the exponent to a multiple of 3 by appending zeros to the mantissa; appending
         * them as text rather than multiplying keeps huge mantissas exact. */
        zeros = ((exp % 3) + 3) % 3;
        exp -= zeros;
        if (exp > 18) {
                zeros += exp - 18;
                exp = 18;
        }

        while (m) {
                digits[nd++] = (char)('0' + m % 10);
                m /= 10;
        }
        if (neg && put(buf, size, &len, '-') < 0)
                return -1;
        while (nd)
                if (put(buf, size, &len, digits[--nd]) < 0)
                        return -1;
        for (int i = 0; i < zeros; i++)
                if (put(buf, size, &len, '0') < 0)
                        return -1;
        for (const char *s = dec_suffix[(exp + 9) / 3]; *s; s++)
                if (put(buf, size, &len, *s) < 0)
                        return -1;
        return (int)len;
}

/* Reads the suffix after the number into a power of ten and a power of two.
 * @returns 0, or -1 if it is not a suffix Kubernetes knows. */
static int parse_suffix(const char *s, long *exp10, int *exp2)
{
        static const struct {
                const char *s;
                int exp10, exp2;
        } tab[] = {
            {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},
            {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},
            {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
            {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
        };
        int neg = 0;
        long v = 0;

        *exp10 = 0;
        *exp2 = 0;
        for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
                if (!strcmp(s, tab[i].s)) {
                        *exp10 = tab[i].exp10;
                        *exp2 = tab[i].exp2;
                        return 0;
                }
        }
        /* DecimalExponent: e<int> or E<int>, with an optional sign. */
        if (*s != 'e' && *s != 'E')
                return -1;
        s++;
        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        if (!*s)
                return -1;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -1;
                /* Saturate: anything this large overflows or rounds to +-1 milli anyway. */
                if (v < 1000000)
                        v = v * 10 + (*s - '0');
        }
        *exp10 = neg ? -v : v;
        return 0;
}

/* Multiplies the big decimal number in d[0..*n) (most significant first) by 2. */
static void double_digits(char *d, size_t *n)
{
        int carry = 0;

        for (size_t i = *n; i-- > 0;) {
                int x = d[i] * 2 + carry;

                d[i] = (char)(x % 10);
                carry = x / 10;
        }
        if (carry) {
                memmove(d + 1, d, *n);
                d[0] = (char)carry;
                (*n)++;
        }
}

int kos_quantity_parse_milli(const char *text, int64_t *milli_out)
{
        char d[QTY_MAX_TEXT + 24]; /* digit values, not characters */
        size_t n = 0, n_seen = 0, n_frac = 0, len;
        const char *s = text;
        long exp10, e;
        int exp2, neg = 0;
        uint64_t u = 0;

        if (!text || !milli_out)
                return -1;
        len = strnlen(text, QTY_MAX_TEXT + 1);
        if (len == 0 || len > QTY_MAX_TEXT)
                return -1;
        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        for (; *s >= '0' && *s <= '9'; s++, n_seen++)
                if (n || *s != '0') /* drop leading zeros */
                        d[n++] = (char)(*s - '0');
        if (*s == '.') {
                for (s++; *s >= '0' && *s <= '9'; s++, n_frac++, n_seen++)
                        if (n || *s != '0')
                                d[n++] = (char)(*s - '0');
        }
        /* "", "+", "." and "-.k" have no digits: not numbers. */
        if (n_seen == 0 || parse_suffix(s, &exp10, &exp2) < 0)
                return -1;
        if (n == 0) {
                *milli_out = 0;
                return 0;
        }

        /* value = D * 2^exp2 * 10^e milli-units, D = the digits without leading zeros. */
        e = exp10 - (long)n_frac + 3;
        for (int i = 0; i < exp2; i++)
                double_digits(d, &n);
        if (e >= 0) {
                if ((long)n + e > 20)
                        return -1;
                for (long i = 0; i < e; i++)
                        d[n++] = 0;
        } else {
                /* Drop the -e lowest digits, rounding up if any of them is non-zero. */
                size_t k = (size_t)-e, keep = n > k ? n - k : 0;
                int frac = 0;

                for (size_t i = keep; i < n; i++)
                        frac |= d[i] != 0;
                n = keep;
                if (frac) {
                        /* Add one at the lowest kept digit; n is bounded by the buffer. */
                        size_t i = n;

                        while (i > 0 && d[i - 1] == 9)
                                d[--i] = 0;
                        if (i == 0) {
                                memmove(d + 1, d, n);
                                d[0] = 1;
                                n++;
                        } else {
                                d[i - 1]++;
                        }
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (u > (UINT64_MAX - (uint64_t)d[i]) / 10)
                        return -1;
                u = u * 10 + (uint64_t)d[i];
        }
        if (u > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
                return -1;
        *milli_out = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
        return 0;
}
