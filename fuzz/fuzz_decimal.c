/* fuzz_decimal.c -- libFuzzer driver for DynamoDB numbers
 * (src/common/decimal.c).
 *
 * The input is number text as a client would put it in an N value. Checked:
 *  - decimal_parse returns DS_OK, DS_EINVAL or DS_ERANGE, and the same as an
 *    independent, deliberately naive reading of the grammar in decimal.h
 *    (sign, digits with an optional point, optional exponent); when it
 *    parses, the digits, exponent and sign are the ones that reading gives;
 *  - a parsed value is normalized (decimal.h's invariants), formats to
 *    canonical plain text that re-parses to an equal value (decimal_cmp == 0
 *    and the same fields) and formats to the same text again;
 *  - x+x, x-x, and x+c, x-c, c+x, c-x for a few constants c (zero, one,
 *    the extremes of the range, 38-digit values) return DS_OK or DS_ERANGE;
 *    a DS_OK result is normalized and round-trips through text; addition
 *    commutes; a-b == -(b-a); x-x == 0; x+0 == x; aliasing out with an
 *    operand changes nothing; and since DS_OK means exact,
 *    (x+c)-c and (x-c)+c must give back x, with DS_OK.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/decimal.h"

#define MAX_INPUT 4096

static void check_norm(const decimal *d) {
    if (d->sign == 0) {
        if (d->n != 0 || d->exp != 0) abort();
        return;
    }
    if (d->sign != 1 && d->sign != -1) abort();
    if (d->n < 1 || d->n > DECIMAL_DIGITS) abort();
    if (d->exp < DECIMAL_EXP_MIN || d->exp > DECIMAL_EXP_MAX) abort();
    for (int i = 0; i < d->n; i++)
        if (d->d[i] < '0' || d->d[i] > '9') abort();
    if (d->d[0] == '0' || d->d[d->n - 1] == '0') abort();
}

static int same(const decimal *a, const decimal *b) {
    return a->sign == b->sign && a->exp == b->exp && a->n == b->n && !memcmp(a->d, b->d, a->n);
}

/* Canonical text: "0" | "-"? (nonzero-int ("." digits*nonzero)? | "0." digits*nonzero). */
static void check_text(const char *s, size_t n) {
    size_t i = 0;
    if (n == 1 && s[0] == '0') return;
    if (i < n && s[i] == '-') i++;
    if (i >= n || s[i] < '0' || s[i] > '9') abort();
    size_t int_start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t int_len = i - int_start;
    if (int_len > 1 && s[int_start] == '0') abort(); /* leading zero */
    if (i == n) {
        if (s[int_start] == '0') abort(); /* "-0" or "0" with a sign */
        return;
    }
    if (s[i++] != '.') abort();
    if (i == n) abort(); /* "5." */
    size_t frac_start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i != n) abort();
    if (s[n - 1] == '0') abort(); /* trailing zero */
    if (s[int_start] == '0') {    /* "0.xxx": something nonzero in the fraction */
        size_t k = frac_start;
        while (k < n && s[k] == '0')
            k++;
        if (k == n) abort();
    }
}

/* Formats d, checks the text, re-parses it: must give d back. */
static void round_trip(const decimal *d) {
    check_norm(d);
    ds_buf t1 = DS_BUF_INIT, t2 = DS_BUF_INIT;
    decimal back;
    decimal_format(&t1, d);
    if (t1.len == 0 || t1.len > 1 + 130 + 1 + DECIMAL_DIGITS) abort();
    if (strlen(t1.data) != t1.len) abort();
    check_text(t1.data, t1.len);
    if (decimal_parse(t1.data, t1.len, &back) != DS_OK) abort();
    if (decimal_cmp(d, &back) != 0 || decimal_cmp(&back, d) != 0) abort();
    if (!same(d, &back)) abort();
    /* appending to a buffer that already holds text */
    ds_buf_putc(&t2, 'x');
    decimal_format(&t2, &back);
    if (t2.len != t1.len + 1 || memcmp(t2.data + 1, t1.data, t1.len)) abort();
    ds_buf_free(&t1);
    ds_buf_free(&t2);
}

/* The naive reading: returns the status decimal_parse must return and, for
 * DS_OK, the value. */
static int oracle_parse(const char *s, size_t len, decimal *out) {
    char digits[MAX_INPUT];
    size_t nd = 0, i = 0, before_point = 0;
    int sign = 1, point = 0;
    memset(out, 0, sizeof *out);
    if (i < len && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
    for (; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            digits[nd++] = s[i];
            if (!point) before_point++;
        } else if (s[i] == '.' && !point) {
            point = 1;
        } else {
            break;
        }
    }
    if (nd == 0) return DS_EINVAL;
    long long e = 0;
    if (i < len) {
        if (s[i] != 'e' && s[i] != 'E') return DS_EINVAL;
        i++;
        int es = 1;
        if (i < len && (s[i] == '+' || s[i] == '-')) es = s[i++] == '-' ? -1 : 1;
        size_t start = i;
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return DS_EINVAL;
            if (e < 100000000000LL) e = e * 10 + (s[i] - '0');
        }
        if (i == start) return DS_EINVAL;
        e *= es;
    }
    /* value = 0.digits x 10^(before_point + e) */
    size_t lo = 0, hi = nd;
    long long x = (long long)before_point + e;
    while (lo < hi && digits[lo] == '0')
        lo++, x--;
    while (hi > lo && digits[hi - 1] == '0')
        hi--;
    if (lo == hi) return DS_OK; /* zero */
    if (hi - lo > DECIMAL_DIGITS) return DS_ERANGE;
    if (x < DECIMAL_EXP_MIN || x > DECIMAL_EXP_MAX) return DS_ERANGE;
    out->sign = (int8_t)sign;
    out->exp = (int16_t)x;
    out->n = (uint8_t)(hi - lo);
    memcpy(out->d, digits + lo, hi - lo);
    return DS_OK;
}

static void must_parse(const char *s, decimal *d) {
    if (decimal_parse(s, strlen(s), d) != DS_OK) abort();
}

static void neg(decimal *d) {
    d->sign = (int8_t)-d->sign;
}

/* Every property of a, b, a+b and a-b that holds without knowing the values. */
static void check_pair(const decimal *a, const decimal *b) {
    decimal s1, s2, d1, d2, t;
    int rs1 = decimal_add(a, b, &s1), rs2 = decimal_add(b, a, &s2);
    int rd1 = decimal_sub(a, b, &d1), rd2 = decimal_sub(b, a, &d2);
    if (rs1 != DS_OK && rs1 != DS_ERANGE) abort();
    if (rd1 != DS_OK && rd1 != DS_ERANGE) abort();
    if (rs1 != rs2 || rd1 != rd2) abort();
    if (rs1 == DS_OK) {
        round_trip(&s1);
        if (!same(&s1, &s2)) abort();
        /* exact, so subtracting b again gives a exactly */
        if (decimal_sub(&s1, b, &t) != DS_OK || !same(&t, a)) abort();
        /* aliasing: out == a, out == b */
        t = *a;
        if (decimal_add(&t, b, &t) != DS_OK || !same(&t, &s1)) abort();
        t = *b;
        if (decimal_add(a, &t, &t) != DS_OK || !same(&t, &s1)) abort();
    }
    if (rd1 == DS_OK) {
        round_trip(&d1);
        neg(&d2);
        if (!same(&d1, &d2)) abort();
        if (decimal_add(&d1, b, &t) != DS_OK || !same(&t, a)) abort();
        t = *a;
        if (decimal_sub(&t, b, &t) != DS_OK || !same(&t, &d1)) abort();
        t = *b;
        if (decimal_sub(a, &t, &t) != DS_OK || !same(&t, &d1)) abort();
        /* ordering agrees with the sign of the difference */
        if (decimal_cmp(a, b) != d1.sign) abort();
    }
}

static const char *const constants[] = {
    "0",
    "1",
    "-1",
    "0.5",
    "10",
    "1E-130",
    "-1E-130",
    "1.5E-129",
    "99999999999999999999999999999999999999E+88",  /* the maximum */
    "-99999999999999999999999999999999999999E+88", /* the minimum */
    "1E+125",
    "12345678901234567890123456789012345678",
    "0.00000000000000000000000000000000000001",
    "-9.9999999999999999999999999999999999999",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT) return 0;
    const char *s = (const char *)data;
    decimal x, want;
    int rc = decimal_parse(s, size, &x);
    if (rc != DS_OK && rc != DS_EINVAL && rc != DS_ERANGE) abort();
    if (oracle_parse(s, size, &want) != rc) abort();
    if (rc != DS_OK) return 0;
    if (!same(&x, &want)) abort();
    round_trip(&x);

    /* x with itself */
    decimal zero, t;
    must_parse("0", &zero);
    if (decimal_sub(&x, &x, &t) != DS_OK || t.sign != 0 || t.n != 0) abort();
    t = x;
    if (decimal_sub(&t, &t, &t) != DS_OK || t.sign != 0) abort(); /* fully aliased */
    if (decimal_add(&x, &zero, &t) != DS_OK || !same(&t, &x)) abort();
    if (decimal_sub(&zero, &x, &t) != DS_OK) abort();
    neg(&t);
    if (!same(&t, &x)) abort();
    check_pair(&x, &x);
    t = x;
    rc = decimal_add(&x, &x, &want);
    if (decimal_add(&t, &t, &t) != rc || (rc == DS_OK && !same(&t, &want))) abort();

    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        decimal c;
        must_parse(constants[i], &c);
        check_pair(&x, &c);
    }
    return 0;
}
