/* decimal.h -- DynamoDB numbers, exactly: 38 significant decimal digits and
 * a decimal exponent, never binary floating point.
 *
 * DynamoDB's developer guide (HowItWorks.NamingRulesDataTypes, "Number"):
 * numbers are positive, negative or zero with up to 38 digits of precision
 * (more is an error, not a rounding); positive range 1E-130 to
 * 9.9999999999999999999999999999999999999E+125, negative range the mirror
 * image; "numbers are represented as variable length; leading and trailing
 * zeroes are trimmed". So a decimal here is kept normalized:
 *
 *     value = sign x 0.d[0]d[1]..d[n-1] x 10^exp
 *
 * with d[0] != '0' and d[n-1] != '0' (no leading or trailing zeros), n <= 38,
 * and -129 <= exp <= 126 (1E-130 = 0.1E-129; the maximum is 0.99..9E+126).
 * Zero is sign 0, n 0, exp 0. Equal values have equal structs (field by
 * field over d[0..n)), so formatting and hashing are canonical.
 */
#ifndef DS_DECIMAL_H
#define DS_DECIMAL_H

#include <stdint.h>

#include "common/ds.h"

#define DECIMAL_DIGITS 38
#define DECIMAL_EXP_MIN (-129)
#define DECIMAL_EXP_MAX 126

typedef struct decimal {
    int8_t sign;            /* -1, 0, 1 */
    int16_t exp;            /* value = 0.d1d2..dn x 10^exp */
    uint8_t n;              /* significant digits, 0 for zero */
    char d[DECIMAL_DIGITS]; /* '0'-'9', d[0] != '0', d[n-1] != '0' */
} decimal;

/* Parses number text as DynamoDB accepts it in an N value: an optional sign
 * ('+' or '-'), digits with an optional '.' and fraction (at least one digit
 * on one side: "5", "5.", ".5", "0.50"), and an optional exponent
 * ('e' or 'E', optional sign, digits). No spaces, no "inf"/"nan", no hex.
 * Leading and trailing zeros are not significant; "-0" is zero.
 * Returns DS_OK, DS_EINVAL for bad syntax, DS_ERANGE for more than 38
 * significant digits or a magnitude outside the range. */
int decimal_parse(const char *s, size_t len, decimal *out);

/* Appends the canonical text: plain notation (never an exponent), no leading
 * zeros except the one before a point ("0.5"), no trailing zeros, no point
 * for integers, "-" only for negatives, "0" for zero. At most 1 + 130 + 1 +
 * 38 characters. decimal_parse(decimal_format(x)) == x. */
void decimal_format(ds_buf *out, const decimal *d);

/* Numeric comparison: -1, 0 or 1. */
int decimal_cmp(const decimal *a, const decimal *b);

/* out = a + b, out = a - b, exactly. DS_ERANGE if the exact result needs
 * more than 38 significant digits or leaves the range (out is then
 * unspecified). out may alias a or b. */
int decimal_add(const decimal *a, const decimal *b, decimal *out);
int decimal_sub(const decimal *a, const decimal *b, decimal *out);

#endif
