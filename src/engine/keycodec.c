/* keycodec.c -- primary keys to order-preserving storage keys and back. The
 * layout is the table in keycodec.h. S/B escaping works a run at a time
 * (memchr for the next NUL, memcpy of the run). */
#include "engine/keycodec.h"

#include <string.h>

#include "common/decimal.h"
#include "common/murmur3.h"

/* ---- S / B ------------------------------------------------------------------ */

static void put_escaped(ds_buf *out, const char *p, size_t n) {
    const char *end = p + n;
    ds_buf_reserve(out, n + 2);
    while (p < end) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        size_t run = z ? (size_t)(z - p) : (size_t)(end - p);
        ds_buf_append(out, p, run);
        if (!z) break;
        ds_buf_append(out, "\0\xff", 2);
        p = z + 1;
    }
}

/* ---- N ---------------------------------------------------------------------- */

static void put_number(ds_buf *out, const decimal *d) {
    unsigned char b[KEYCODEC_N_MAX];
    size_t n = 0;
    if (d->sign == 0) {
        ds_buf_putc(out, 0x02);
        return;
    }
    b[n++] = d->sign < 0 ? 0x01 : 0x03;
    unsigned char inv = d->sign < 0 ? 0xff : 0x00;
    b[n++] = (unsigned char)(d->exp - DECIMAL_EXP_MIN) ^ inv;
    for (int i = 0; i < d->n; i += 2) {
        int hi = d->d[i] - '0', lo = i + 1 < d->n ? d->d[i + 1] - '0' : 0;
        b[n++] = (unsigned char)(1 + 10 * hi + lo) ^ inv;
    }
    b[n++] = inv; /* terminator 0x00, or 0xFF for negatives */
    ds_buf_append(out, b, n);
}

static int parse_number(const key_part *kp, decimal *d) {
    return decimal_parse(kp->p, kp->len, d);
}

int keycodec_put_component(ds_buf *out, const key_part *kp) {
    switch (kp->type) {
    case KEY_S:
    case KEY_B:
        put_escaped(out, kp->p, kp->len);
        ds_buf_append(out, "\0\x01", 2);
        return DS_OK;
    case KEY_N: {
        decimal d;
        int rc = parse_number(kp, &d);
        if (rc) return rc;
        put_number(out, &d);
        return DS_OK;
    }
    }
    return DS_EINVAL;
}

int keycodec_put_prefix(ds_buf *out, const key_part *kp) {
    if (kp->type != KEY_S && kp->type != KEY_B) return DS_EINVAL;
    put_escaped(out, kp->p, kp->len);
    return DS_OK;
}

int keycodec_successor(ds_buf *b) {
    while (b->len && (unsigned char)b->data[b->len - 1] == 0xff)
        b->len--;
    if (!b->len) {
        if (b->data) b->data[0] = 0;
        return -1;
    }
    b->data[b->len - 1]++;
    b->data[b->len] = 0;
    return 0;
}

int keycodec_hash(const key_part *pk, uint32_t *hash) {
    switch (pk->type) {
    case KEY_S:
    case KEY_B:
        *hash = murmur3_32(pk->p, pk->len, 0);
        return DS_OK;
    case KEY_N: {
        decimal d;
        int rc = parse_number(pk, &d);
        if (rc) return rc;
        ds_buf b = DS_BUF_INIT;
        decimal_format(&b, &d);
        *hash = murmur3_32(b.data, b.len, 0);
        ds_buf_free(&b);
        return DS_OK;
    }
    }
    return DS_EINVAL;
}

static int put_key_parts(ds_buf *out, size_t old, const key_part *pk, const key_part *sk) {
    int rc = keycodec_put_component(out, pk);
    if (!rc && sk) rc = keycodec_put_component(out, sk);
    if (rc) {
        out->len = old;
        if (out->data) out->data[old] = 0;
    }
    return rc;
}

int keycodec_data_key(ds_buf *out, uint64_t table_id, uint32_t hash, const key_part *pk,
                      const key_part *sk) {
    size_t old = out->len;
    ds_buf_reserve(out, 12 + pk->len + 8 + (sk ? sk->len + 8 : 0));
    ds_buf_put_u64be(out, table_id);
    ds_buf_put_u32be(out, hash);
    return put_key_parts(out, old, pk, sk);
}

int keycodec_index_key(ds_buf *out, uint64_t table_id, const key_part *pk, const key_part *sk) {
    size_t old = out->len;
    ds_buf_reserve(out, 8 + pk->len + 8 + (sk ? sk->len + 8 : 0));
    ds_buf_put_u64be(out, table_id);
    return put_key_parts(out, old, pk, sk);
}

void keycodec_index_key_of(ds_buf *out, const void *dk, size_t dkl) {
    ds_buf_reset(out);
    ds_buf_append(out, dk, 8);
    ds_buf_append(out, (const char *)dk + KEYCODEC_PREFIX_LEN, dkl - KEYCODEC_PREFIX_LEN);
}

void keycodec_data_key_of(ds_buf *out, const void *ik, size_t ikl, uint32_t hash) {
    ds_buf_reset(out);
    ds_buf_append(out, ik, 8);
    ds_buf_put_u32be(out, hash);
    ds_buf_append(out, (const char *)ik + 8, ikl - 8);
}

void keycodec_table_bounds(ds_buf *lo, ds_buf *hi, uint64_t table_id) {
    ds_buf_reset(lo);
    ds_buf_reset(hi);
    ds_buf_put_u64be(lo, table_id);
    ds_buf_put_u64be(hi, table_id + 1);
}

void keycodec_hash_bounds(ds_buf *lo, ds_buf *hi, uint64_t table_id, uint32_t lo_hash,
                          uint32_t hi_hash) {
    ds_buf_reset(lo);
    ds_buf_reset(hi);
    ds_buf_put_u64be(lo, table_id);
    ds_buf_put_u32be(lo, lo_hash);
    if (hi_hash == UINT32_MAX) {
        ds_buf_put_u64be(hi, table_id + 1);
    } else {
        ds_buf_put_u64be(hi, table_id);
        ds_buf_put_u32be(hi, hi_hash + 1);
    }
}

/* ---- decoding ----------------------------------------------------------------- */

static int decode_bytes(ds_arena *a, const char **pp, const char *end, key_part *out) {
    const char *p = *pp;
    /* first pass: find the terminator, count escapes */
    const char *q = p;
    size_t esc = 0;
    for (;;) {
        const char *z = memchr(q, 0, (size_t)(end - q));
        if (!z || z + 1 >= end) return DS_ECORRUPT;
        if ((unsigned char)z[1] == 0x01) {
            q = z;
            break;
        }
        if ((unsigned char)z[1] != 0xff) return DS_ECORRUPT;
        esc++;
        q = z + 2;
    }
    size_t n = (size_t)(q - p) - esc;
    char *d = ds_arena_alloc(a, n + 1), *w = d;
    while (p < q) {
        const char *z = memchr(p, 0, (size_t)(q - p));
        size_t run = z ? (size_t)(z - p) : (size_t)(q - p);
        memcpy(w, p, run);
        w += run;
        if (!z) break;
        *w++ = 0;
        p = z + 2;
    }
    *w = 0;
    out->p = d;
    out->len = n;
    *pp = q + 2;
    return DS_OK;
}

static int decode_number(ds_arena *a, const char **pp, const char *end, key_part *out) {
    const unsigned char *p = (const unsigned char *)*pp, *e = (const unsigned char *)end;
    if (p >= e) return DS_ECORRUPT;
    decimal d;
    memset(&d, 0, sizeof d);
    unsigned cls = *p++;
    if (cls == 0x02) {
        out->p = ds_arena_strndup(a, "0", 1);
        out->len = 1;
        *pp = (const char *)p;
        return DS_OK;
    }
    if (cls != 0x01 && cls != 0x03) return DS_ECORRUPT;
    unsigned char inv = cls == 0x01 ? 0xff : 0x00;
    if (p >= e) return DS_ECORRUPT;
    d.sign = cls == 0x01 ? -1 : 1;
    d.exp = (int16_t)((int)(*p++ ^ inv) + DECIMAL_EXP_MIN);
    if (d.exp > DECIMAL_EXP_MAX) return DS_ECORRUPT;
    for (;;) {
        if (p >= e) return DS_ECORRUPT;
        unsigned v = *p++ ^ inv;
        if (v == 0) break;
        if (v > 100 || d.n >= DECIMAL_DIGITS) return DS_ECORRUPT;
        v -= 1;
        d.d[d.n++] = (char)('0' + v / 10);
        if (d.n < DECIMAL_DIGITS)
            d.d[d.n++] = (char)('0' + v % 10);
        else if (v % 10)
            return DS_ECORRUPT;
    }
    /* canonical only: no leading zero, no trailing zero (a pad 0 is dropped) */
    if (d.n && d.d[d.n - 1] == '0') d.n--;
    if (d.n == 0 || d.d[0] == '0' || d.d[d.n - 1] == '0') return DS_ECORRUPT;
    ds_buf t = DS_BUF_INIT;
    decimal_format(&t, &d);
    out->p = ds_arena_memdup(a, t.data, t.len + 1);
    out->len = t.len;
    ds_buf_free(&t);
    *pp = (const char *)p;
    return DS_OK;
}

int keycodec_decode_component(ds_arena *a, key_type type, const char **p, const char *end,
                              key_part *out) {
    out->type = type;
    switch (type) {
    case KEY_S:
    case KEY_B:
        return decode_bytes(a, p, end, out);
    case KEY_N:
        return decode_number(a, p, end, out);
    }
    return DS_ECORRUPT;
}
