/* base64.c -- RFC 4648 base64 encoding and strict decoding (see base64.h).
 *
 * Encoding works on whole 3-byte groups with a final partial group. Decoding
 * maps characters through a 256-entry table per alphabet (0xff = invalid),
 * checks the length and padding up front, then decodes 4-character groups
 * with one final group of 2, 3 or 4 characters.
 */
#include "common/base64.h"

#include <string.h>

static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Reverse tables: character -> 6-bit value, 255 for characters outside the
 * alphabet (generated from the two strings above). */
/* clang-format off */
static const unsigned char std_rev[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
    255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
    255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};
/* clang-format on */
/* clang-format off */
static const unsigned char url_rev[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
    255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255,  63,
    255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};
/* clang-format on */

size_t base64_encoded_len(size_t n, int url) {
    if (!url) return (n + 2) / 3 * 4;
    static const size_t tail[3] = {0, 2, 3};
    return n / 3 * 4 + tail[n % 3];
}

void base64_encode(ds_buf *out, const void *p, size_t n, int url) {
    const unsigned char *s = p;
    const char *al = url ? url_alpha : std_alpha;
    size_t olen = base64_encoded_len(n, url);
    ds_buf_reserve(out, olen);
    char *d = out->data + out->len;
    size_t i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        d[0] = al[v >> 18];
        d[1] = al[v >> 12 & 63];
        d[2] = al[v >> 6 & 63];
        d[3] = al[v & 63];
        d += 4;
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *d++ = al[v >> 18];
        *d++ = al[v >> 12 & 63];
        if (!url) *d++ = '=', *d++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *d++ = al[v >> 18];
        *d++ = al[v >> 12 & 63];
        *d++ = al[v >> 6 & 63];
        if (!url) *d++ = '=';
    }
    out->len += olen;
    out->data[out->len] = 0;
}

int base64_decode(ds_buf *out, const char *s, size_t n, int url) {
    const unsigned char *rev = url ? url_rev : std_rev;
    const unsigned char *in = (const unsigned char *)s;

    /* Strip padding: 0, 1 or 2 '=' ending a length that is a multiple of 4. */
    size_t pad = 0;
    if (n >= 1 && in[n - 1] == '=') pad = n >= 2 && in[n - 2] == '=' ? 2 : 1;
    if (pad && n % 4) return DS_EINVAL;
    if (!url && n % 4) return DS_EINVAL;
    size_t m = n - pad; /* data characters */
    if (m % 4 == 1) return DS_EINVAL;
    if (pad && (m % 4 == 0 || 4 - m % 4 != pad)) return DS_EINVAL;

    size_t old_len = out->len;
    ds_buf_reserve(out, m / 4 * 3 + 2);
    unsigned char *d = (unsigned char *)out->data + out->len;
    size_t i = 0;
    for (; m - i >= 4; i += 4) {
        unsigned a = rev[in[i]], b = rev[in[i + 1]], c = rev[in[i + 2]], e = rev[in[i + 3]];
        if ((a | b | c | e) & 0x80) goto fail;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | e;
        d[0] = (unsigned char)(v >> 16);
        d[1] = (unsigned char)(v >> 8);
        d[2] = (unsigned char)v;
        d += 3;
    }
    if (m - i == 2) {
        unsigned a = rev[in[i]], b = rev[in[i + 1]];
        if ((a | b) & 0x80 || (b & 15)) goto fail;
        *d++ = (unsigned char)(a << 2 | b >> 4);
    } else if (m - i == 3) {
        unsigned a = rev[in[i]], b = rev[in[i + 1]], c = rev[in[i + 2]];
        if ((a | b | c) & 0x80 || (c & 3)) goto fail;
        *d++ = (unsigned char)(a << 2 | b >> 4);
        *d++ = (unsigned char)(b << 4 | c >> 2);
    }
    out->len = (size_t)((char *)d - out->data);
    out->data[out->len] = 0;
    return DS_OK;

fail:
    out->len = old_len;
    if (out->data) out->data[old_len] = 0;
    return DS_EINVAL;
}
