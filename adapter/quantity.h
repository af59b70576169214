/* Kubernetes resource.Quantity text: writing the canonical DecimalSI form that Go servers emit
 * (CanonicalizeBytes) from a fixed-point integer, and reading any quantity back as milli-units
 * the way MilliValue() does. Exact integer arithmetic only; pure, no globals.
 * Thread notes: safe from any thread. */
#ifndef KOS_QUANTITY_H
#define KOS_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

/* Longest string kos_quantity_format can produce for scales in [-18, 18], plus the NUL. */
#define KOS_QUANTITY_BUFSZ 64

/* Formats value * 10^-scale (scale 0 = integer, 3 = milli, 9 = nano) as the canonical
 * Kubernetes quantity: trailing zeros move into the exponent, the exponent is lowered to a
 * multiple of 3, and the suffix is one of n u m "" k M G T P E. (1500,3) -> "1500m",
 * (1000,0) -> "1k", (0,x) -> "0"; INT64_MIN/INT64_MAX are exact. Values finer than 1n
 * (scale > 9) are rounded up, away from zero, to nano like Kubernetes. Exponents above 18
 * (negative scale) are written with the E suffix and extra zeros ("1000E").
 * scale must be in [-64, 64].
 * @returns the length written to buf (NUL-terminated), or -1 if buf is too small or the
 * scale is out of range. */
int kos_quantity_format(int64_t value, int scale, char *buf, size_t size);

/* Parses a Kubernetes quantity (`[+-]<digits>[.<digits>]` then a DecimalSI suffix, a BinarySI
 * suffix Ki..Ei, or an exponent e<int>/E<int>) into milli-units, rounding up away from zero
 * like MilliValue(): "1.0001" -> 1001, "500u" -> 1, "-1n" -> -1.
 * @returns 0, or -1 on a syntax error or when the result does not fit in int64. */
int kos_quantity_parse_milli(const char *text, int64_t *milli_out);

#endif
