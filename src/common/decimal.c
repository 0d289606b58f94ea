/* decimal.c -- exact DynamoDB numbers: parsing, canonical text, comparison
 * and addition on normalized (digits, exponent) pairs. See decimal.h.
 *
 * Addition lays both operands out as little-endian digit arrays on a common
 * grid of decimal places: both are in range, so the places run from
 * 10^(-129-38) to 10^126 plus one carry -- under 300 digits, on the stack.
 */
#include "common/decimal.h"

#include <string.h>

int decimal_parse(const char *s, size_t len, decimal *out) {
    size_t i = 0;
    int sign = 1;
    memset(out, 0, sizeof *out);
    if (i < len && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
    int64_t ipos = 0, lead = 0; /* digits before the point; zeros before the first non-zero */
    int64_t zeros = 0;          /* zeros after the last non-zero digit kept so far */
    int ndig = 0, seen_nz = 0, after_point = 0, any = 0, too_long = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            any = 1;
            if (!after_point) ipos++;
            if (c == '0') {
                if (seen_nz)
                    zeros++;
                else
                    lead++;
                continue;
            }
            seen_nz = 1;
            if (ndig + zeros + 1 > DECIMAL_DIGITS) {
                too_long = 1;
                continue; /* keep checking the syntax */
            }
            memset(out->d + ndig, '0', (size_t)zeros);
            ndig += (int)zeros;
            zeros = 0;
            out->d[ndig++] = c;
        } else if (c == '.' && !after_point) {
            after_point = 1;
        } else {
            break;
        }
    }
    if (!any) return DS_EINVAL;
    int64_t e = 0;
    if (i < len) {
        if (s[i] != 'e' && s[i] != 'E') return DS_EINVAL;
        i++;
        int esign = 1;
        if (i < len && (s[i] == '+' || s[i] == '-')) esign = s[i++] == '-' ? -1 : 1;
        if (i == len) return DS_EINVAL;
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return DS_EINVAL;
            if (e < 1000000000) e = e * 10 + (s[i] - '0'); /* saturates: out of range anyway */
        }
        e *= esign;
    }
    if (too_long) return DS_ERANGE;
    if (!seen_nz) return DS_OK; /* zero, whatever its exponent */
    int64_t x = ipos - lead + e;
    if (x < DECIMAL_EXP_MIN || x > DECIMAL_EXP_MAX) return DS_ERANGE;
    out->sign = (int8_t)sign;
    out->exp = (int16_t)x;
    out->n = (uint8_t)ndig;
    return DS_OK;
}

void decimal_format(ds_buf *out, const decimal *d) {
    if (d->sign == 0 || d->n == 0) {
        ds_buf_putc(out, '0');
        return;
    }
    ds_buf_reserve(out, 3 + DECIMAL_DIGITS + 131);
    char *w = out->data + out->len;
    if (d->sign < 0) *w++ = '-';
    int n = d->n, x = d->exp;
    if (x <= 0) {
        *w++ = '0';
        *w++ = '.';
        memset(w, '0', (size_t)-x);
        w += -x;
        memcpy(w, d->d, (size_t)n);
        w += n;
    } else if (x >= n) {
        memcpy(w, d->d, (size_t)n);
        w += n;
        memset(w, '0', (size_t)(x - n));
        w += x - n;
    } else {
        memcpy(w, d->d, (size_t)x);
        w += x;
        *w++ = '.';
        memcpy(w, d->d + x, (size_t)(n - x));
        w += n - x;
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = 0;
}

/* Compares magnitudes of two non-zero decimals. */
static int cmp_mag(const decimal *a, const decimal *b) {
    if (a->exp != b->exp) return a->exp < b->exp ? -1 : 1;
    int m = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->d, b->d, (size_t)m);
    if (c) return c < 0 ? -1 : 1;
    return a->n == b->n ? 0 : a->n < b->n ? -1 : 1;
}

int decimal_cmp(const decimal *a, const decimal *b) {
    if (a->sign != b->sign) return a->sign < b->sign ? -1 : 1;
    if (a->sign == 0) return 0;
    int c = cmp_mag(a, b);
    return a->sign > 0 ? c : -c;
}

#define GRID 304 /* places 10^-167 .. 10^126, a carry, and slack */

/* Adds (sub=0) or subtracts (sub=1) the magnitude of x into g, whose index 0
 * is the place 10^low. */
static void lay(signed char *g, int low, const decimal *x) {
    int p = x->exp - 1 - low; /* index of d[0] */
    for (int i = 0; i < x->n; i++)
        g[p - i] = (signed char)(x->d[i] - '0');
}

static int addsub(const decimal *a, const decimal *b, int bsign, decimal *out) {
    if (b->sign == 0 || bsign == 0) {
        *out = *a;
        return DS_OK;
    }
    if (a->sign == 0) {
        *out = *b;
        out->sign = (int8_t)bsign;
        return DS_OK;
    }
    int la = a->exp - a->n, lb = b->exp - b->n;
    int low = la < lb ? la : lb;
    int high = a->exp > b->exp ? a->exp : b->exp; /* places < high are used */
    signed char ga[GRID], gb[GRID];
    int w = high - low + 1;
    memset(ga, 0, (size_t)w);
    memset(gb, 0, (size_t)w);
    int sign;
    if (a->sign == bsign) {
        lay(ga, low, a);
        lay(gb, low, b);
        int carry = 0;
        for (int i = 0; i < w; i++) {
            int s = ga[i] + gb[i] + carry;
            carry = s >= 10;
            ga[i] = (signed char)(s - 10 * carry);
        }
        sign = a->sign;
    } else {
        int c = cmp_mag(a, b);
        if (c == 0) {
            memset(out, 0, sizeof *out);
            return DS_OK;
        }
        const decimal *big = c > 0 ? a : b, *small = c > 0 ? b : a;
        sign = c > 0 ? a->sign : bsign;
        lay(ga, low, big);
        lay(gb, low, small);
        int borrow = 0;
        for (int i = 0; i < w; i++) {
            int s = ga[i] - gb[i] - borrow;
            borrow = s < 0;
            ga[i] = (signed char)(s + 10 * borrow);
        }
    }
    int t = w - 1, bot = 0;
    while (t >= 0 && ga[t] == 0)
        t--;
    while (ga[bot] == 0)
        bot++;
    int n = t - bot + 1, x = t + low + 1;
    if (n > DECIMAL_DIGITS || x < DECIMAL_EXP_MIN || x > DECIMAL_EXP_MAX) return DS_ERANGE;
    decimal r;
    memset(&r, 0, sizeof r);
    r.sign = (int8_t)sign;
    r.exp = (int16_t)x;
    r.n = (uint8_t)n;
    for (int i = 0; i < n; i++)
        r.d[i] = (char)('0' + ga[t - i]);
    *out = r;
    return DS_OK;
}

int decimal_add(const decimal *a, const decimal *b, decimal *out) {
    return addsub(a, b, b->sign, out);
}

int decimal_sub(const decimal *a, const decimal *b, decimal *out) {
    return addsub(a, b, -b->sign, out);
}
