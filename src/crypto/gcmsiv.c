/* gcmsiv.c -- AES-256-GCM-SIV (RFC 8452) with AES-NI and PCLMULQDQ.
 *
 * One message, as RFC 8452 section 4 defines it, K the 32-byte key:
 *
 *   step            what
 *   derive          Bi = AES_K(le32(i) || nonce), i = 0..5;
 *                   auth key = B0[0:8] || B1[0:8], enc key = B2[0:8] || .. || B5[0:8]
 *   POLYVAL         S = POLYVAL(auth key, pad16(aad) || pad16(pt) || le64(8*|aad|) || le64(8*|pt|))
 *   tag             S[0:12] ^= nonce, S[15] &= 0x7f, tag = AES_enc(S)
 *   CTR             counter block = tag with bit 7 of byte 15 set; its first
 *                   4 bytes are a little-endian counter, + 1 per block mod 2^32
 *
 * Opening runs CTR first (the tag is the counter), then POLYVAL over the
 * plaintext, and compares the recomputed tag in constant time; on mismatch
 * the plaintext is wiped.
 *
 * POLYVAL works on little-endian 128-bit polynomials, so a block is its
 * _mm_loadu_si128 as is. dot(a, b) = a * b * x^-128 mod x^128 + x^127 +
 * x^126 + x^121 + 1: the 256-bit carry-less product, then two Montgomery
 * steps that each clear the low 64 bits by adding a multiple of the modulus
 * (its low 64 bits are 1, so the multiple is (low 64 bits) * P) and shift
 * right by 64; the part of the multiple that survives the shift is
 * (low 64 bits) * (x^63 + x^62 + x^57), the constant 0xc2 << 56. Blocks go
 * eight (then four) at a time against H^8..H^1 (in dot form: H1 = H,
 * Ha+b = dot(Ha, Hb)) with one reduction per group; the powers are computed
 * only as far as the message's longest group needs (pv_powers). CTR runs
 * eight blocks at a time.
 *
 * The key-generating key's AES schedule is kept per thread for the last key
 * used (a tenant's data key: the same for every item of a Scan page) until
 * the thread uses another key or exits (it is not wiped then, as libgcrypt's
 * per-thread handles are not). The per-message keys live on the stack and are
 * wiped before returning.
 */
#include "crypto/gcmsiv.h"

#include <string.h>

#include "common/ds.h"
#include "crypto/crypto.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define GCMSIV_TARGET __attribute__((target("aes,pclmul,sse2")))

typedef struct {
    __m128i rk[15];
} aes256;

int gcmsiv_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
}

/* ---- AES-256 ------------------------------------------------------------- */

static inline GCMSIV_TARGET __m128i prefix_xor(__m128i k) {
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, _mm_slli_si128(k, 4));
}

/* FIPS 197's key expansion: round key i is the previous-but-one with its
 * words prefix-XORed, XOR the last word of the previous one put through
 * RotWord, SubWord and Rcon (even i; dword 3 of aeskeygenassist) or SubWord
 * alone (odd i; dword 2). */
static GCMSIV_TARGET void aes256_expand(aes256 *a, __m128i k0, __m128i k1) {
    __m128i *rk = a->rk;
    rk[0] = k0;
    rk[1] = k1;
    /* clang-format off */
#define EVEN(i, rcon)                                                                   \
    rk[i] = _mm_xor_si128(prefix_xor(rk[i - 2]),                                        \
                          _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define ODD(i)                                                                          \
    rk[i] = _mm_xor_si128(prefix_xor(rk[i - 2]),                                        \
                          _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], 0), 0xaa))
    EVEN(2, 0x01); ODD(3);
    EVEN(4, 0x02); ODD(5);
    EVEN(6, 0x04); ODD(7);
    EVEN(8, 0x08); ODD(9);
    EVEN(10, 0x10); ODD(11);
    EVEN(12, 0x20); ODD(13);
    EVEN(14, 0x40);
#undef EVEN
#undef ODD
    /* clang-format on */
}

/* Encrypts b[0..n) in place, the n blocks interleaved round by round so the
 * AES unit's pipeline stays full (n is a constant at every call site). */
static inline GCMSIV_TARGET void aes256_enc(const aes256 *a, __m128i *b, int n) {
    /* unrolled whole, so that b stays in registers */
#pragma GCC unroll 8
    for (int j = 0; j < n; j++)
        b[j] = _mm_xor_si128(b[j], a->rk[0]);
#pragma GCC unroll 13
    for (int i = 1; i < 14; i++) {
#pragma GCC unroll 8
        for (int j = 0; j < n; j++)
            b[j] = _mm_aesenc_si128(b[j], a->rk[i]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < n; j++)
        b[j] = _mm_aesenclast_si128(b[j], a->rk[14]);
}

/* ---- POLYVAL ------------------------------------------------------------- */

typedef struct {
    __m128i h[8]; /* h[k] = H^(k+1) in dot form; the first npow are computed */
    __m128i s;    /* the running value */
    uint8_t part[16];
    size_t n; /* bytes in part */
    int npow;
} polyval;

/* Adds the unreduced product a * b into lo, mid, hi. */
static inline GCMSIV_TARGET void clmul_acc(__m128i a, __m128i b, __m128i *lo, __m128i *mid,
                                           __m128i *hi) {
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
    *mid = _mm_xor_si128(
        *mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10)));
}

/* (hi * x^128 + mid * x^64 + lo) * x^-128 mod the POLYVAL modulus. */
static inline GCMSIV_TARGET __m128i reduce(__m128i lo, __m128i mid, __m128i hi) {
    const __m128i c = _mm_set_epi64x((long long)0xc200000000000000ULL, 0);
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    for (int i = 0; i < 2; i++) /* lo = lo * x^-64: swap halves, add low half * c */
        lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), _mm_clmulepi64_si128(lo, c, 0x10));
    return _mm_xor_si128(hi, lo);
}

static inline GCMSIV_TARGET __m128i dot(__m128i a, __m128i b) {
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    clmul_acc(a, b, &lo, &mid, &hi);
    return reduce(lo, mid, hi);
}

static GCMSIV_TARGET void pv_init(polyval *p, __m128i h) {
    p->h[0] = h;
    p->npow = 1;
    p->s = _mm_setzero_si128();
    p->n = 0;
}

/* Computes H^1..H^k (k = 4 or 8) unless done: each message has its own H,
 * and most items are a few blocks, so powers are made only when a group of k
 * blocks needs them. dot(Ha, Hb) = Ha+b in dot form, so the powers come two
 * levels deep (H^2; then H^3, H^4) and one more for H^5..H^8, not a chain of
 * seven. */
static GCMSIV_TARGET void pv_powers(polyval *p, int k) {
    __m128i *h = p->h;
    if (p->npow < 4) {
        h[1] = dot(h[0], h[0]);
        h[2] = dot(h[1], h[0]);
        h[3] = dot(h[1], h[1]);
        p->npow = 4;
    }
    if (k == 8 && p->npow < 8) {
        h[4] = dot(h[3], h[0]);
        h[5] = dot(h[3], h[1]);
        h[6] = dot(h[3], h[2]);
        h[7] = dot(h[3], h[3]);
        p->npow = 8;
    }
}

/* Absorbs the k blocks at d (k = 8, 4 or 1, a constant where inlined):
 * s' = dot(s ^ X1, Hk) ^ dot(X2, Hk-1) ^ ... ^ dot(Xk, H1), one reduction. */
static inline GCMSIV_TARGET __m128i pv_group(__m128i s, const uint8_t *d, const __m128i *h, int k) {
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    clmul_acc(_mm_xor_si128(s, _mm_loadu_si128((const __m128i *)d)), h[k - 1], &lo, &mid, &hi);
#pragma GCC unroll 7
    for (int j = 1; j < k; j++)
        clmul_acc(_mm_loadu_si128((const __m128i *)(d + 16 * j)), h[k - 1 - j], &lo, &mid, &hi);
    return reduce(lo, mid, hi);
}

/* Absorbs nblocks whole blocks. */
static GCMSIV_TARGET void pv_blocks(polyval *p, const uint8_t *d, size_t nblocks) {
    int need = nblocks >= 8 ? 8 : nblocks >= 4 ? 4 : 1;
    if (p->npow < need) pv_powers(p, need);
    __m128i s = p->s;
    for (; nblocks >= 8; nblocks -= 8, d += 128)
        s = pv_group(s, d, p->h, 8);
    if (nblocks >= 4) {
        s = pv_group(s, d, p->h, 4);
        nblocks -= 4, d += 64;
    }
    for (; nblocks; nblocks--, d += 16)
        s = pv_group(s, d, p->h, 1);
    p->s = s;
}

/* Absorbs bytes; a partial block waits in p->part for more or for pv_pad. */
static GCMSIV_TARGET void pv_absorb(polyval *p, const uint8_t *d, size_t n) {
    if (p->n) {
        size_t take = DS_MIN(16 - p->n, n);
        memcpy(p->part + p->n, d, take);
        p->n += take, d += take, n -= take;
        if (p->n < 16) return;
        pv_blocks(p, p->part, 1);
        p->n = 0;
    }
    pv_blocks(p, d, n / 16);
    d += n / 16 * 16, n %= 16;
    if (n) memcpy(p->part, d, p->n = n);
}

/* Zero-pads and absorbs a waiting partial block (the end of AAD or text). */
static GCMSIV_TARGET void pv_pad(polyval *p) {
    if (!p->n) return;
    memset(p->part + p->n, 0, 16 - p->n);
    pv_blocks(p, p->part, 1);
    p->n = 0;
}

/* ---- the message --------------------------------------------------------- */

/* The calling thread's last key-generating key and its schedule. */
static _Thread_local struct {
    int valid;
    __m128i k[2];
    aes256 aes;
} tl_kg;

typedef struct {
    aes256 enc; /* the message encryption key's schedule */
    polyval pv;
} msg;

/* Derives the message keys of (key, nonce) into m and absorbs the AAD. */
static GCMSIV_TARGET void msg_begin(msg *m, const uint8_t key[32], const uint8_t nonce[12],
                                    const void *a1, size_t a1len, const void *a2, size_t a2len) {
    __m128i k0 = _mm_loadu_si128((const __m128i *)key),
            k1 = _mm_loadu_si128((const __m128i *)(key + 16));
    __m128i same = _mm_and_si128(_mm_cmpeq_epi8(k0, tl_kg.k[0]), _mm_cmpeq_epi8(k1, tl_kg.k[1]));
    if (!tl_kg.valid || _mm_movemask_epi8(same) != 0xffff) {
        aes256_expand(&tl_kg.aes, k0, k1);
        tl_kg.k[0] = k0, tl_kg.k[1] = k1;
        tl_kg.valid = 1;
    }
    uint8_t nb[16] = {0};
    memcpy(nb + 4, nonce, 12);
    __m128i base = _mm_loadu_si128((const __m128i *)nb), b[6];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
        b[i] = _mm_or_si128(base, _mm_cvtsi32_si128(i));
    aes256_enc(&tl_kg.aes, b, 6);
    aes256_expand(&m->enc, _mm_unpacklo_epi64(b[2], b[3]), _mm_unpacklo_epi64(b[4], b[5]));
    pv_init(&m->pv, _mm_unpacklo_epi64(b[0], b[1]));
    crypto_wipe(b, sizeof b);
    if (a1len) pv_absorb(&m->pv, a1, a1len);
    if (a2len) pv_absorb(&m->pv, a2, a2len);
    pv_pad(&m->pv);
}

/* Finishes POLYVAL (text already absorbed) and returns the tag. */
static GCMSIV_TARGET __m128i msg_tag(msg *m, const uint8_t nonce[12], size_t aadlen,
                                     size_t textlen) {
    pv_pad(&m->pv);
    uint8_t lens[16];
    uint64_t abits = (uint64_t)aadlen * 8, tbits = (uint64_t)textlen * 8;
    memcpy(lens, &abits, 8); /* x86 is little-endian, as the format is */
    memcpy(lens + 8, &tbits, 8);
    pv_blocks(&m->pv, lens, 1);
    uint8_t nb[16] = {0};
    memcpy(nb, nonce, 12);
    __m128i s = _mm_xor_si128(m->pv.s, _mm_loadu_si128((const __m128i *)nb));
    s = _mm_and_si128(s, _mm_set_epi32(0x7fffffff, -1, -1, -1));
    aes256_enc(&m->enc, &s, 1);
    return s;
}

/* out = in XOR the key stream that starts at counter block tag | 0x80 << 120.
 * Eight blocks at a time; a shorter tail still computes eight (they cost
 * about what one does, the AES unit being pipelined) and uses what it needs. */
static GCMSIV_TARGET void ctr_xor(const aes256 *k, __m128i tag, const uint8_t *in, uint8_t *out,
                                  size_t n) {
    const __m128i one = _mm_cvtsi32_si128(1);
    __m128i ctr = _mm_or_si128(tag, _mm_set_epi32((int)0x80000000, 0, 0, 0)), b[8];
    while (n) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            b[j] = ctr;
            ctr = _mm_add_epi32(ctr, one);
        }
        aes256_enc(k, b, 8);
        if (n >= 128) {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                _mm_storeu_si128(
                    (__m128i *)(out + 16 * j),
                    _mm_xor_si128(b[j], _mm_loadu_si128((const __m128i *)(in + 16 * j))));
            n -= 128, in += 128, out += 128;
            continue;
        }
        uint8_t ks[128];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            _mm_storeu_si128((__m128i *)(ks + 16 * j), b[j]);
        size_t i = 0;
        for (; i + 16 <= n; i += 16)
            _mm_storeu_si128((__m128i *)(out + i),
                             _mm_xor_si128(_mm_loadu_si128((const __m128i *)(ks + i)),
                                           _mm_loadu_si128((const __m128i *)(in + i))));
        for (; i < n; i++)
            out[i] = in[i] ^ ks[i];
        crypto_wipe(ks, sizeof ks);
        break;
    }
    crypto_wipe(b, sizeof b);
}

#define MAX_LEN (1ULL << 36) /* RFC 8452: plaintext and AAD at most 2^36 bytes */

GCMSIV_TARGET int gcmsiv_seal(const uint8_t key[32], const uint8_t nonce[12], const void *a1,
                              size_t a1len, const void *a2, size_t a2len, const void *pt,
                              size_t ptlen, void *ct, uint8_t tag[16]) {
    if ((uint64_t)ptlen > MAX_LEN || (uint64_t)a1len + a2len > MAX_LEN) return DS_ECRYPTO;
    msg m;
    msg_begin(&m, key, nonce, a1, a1len, a2, a2len);
    pv_absorb(&m.pv, pt, ptlen);
    __m128i t = msg_tag(&m, nonce, a1len + a2len, ptlen);
    ctr_xor(&m.enc, t, pt, ct, ptlen);
    _mm_storeu_si128((__m128i *)tag, t);
    crypto_wipe(&m, sizeof m);
    return 0;
}

GCMSIV_TARGET int gcmsiv_open(const uint8_t key[32], const uint8_t nonce[12], const void *a1,
                              size_t a1len, const void *a2, size_t a2len, const void *ct,
                              size_t ctlen, const uint8_t tag[16], void *pt) {
    if ((uint64_t)ctlen > MAX_LEN || (uint64_t)a1len + a2len > MAX_LEN) return DS_ECRYPTO;
    msg m;
    msg_begin(&m, key, nonce, a1, a1len, a2, a2len);
    __m128i want = _mm_loadu_si128((const __m128i *)tag);
    ctr_xor(&m.enc, want, ct, pt, ctlen);
    pv_absorb(&m.pv, pt, ctlen);
    __m128i got = msg_tag(&m, nonce, a1len + a2len, ctlen);
    crypto_wipe(&m, sizeof m);
    /* every byte compared; no early exit */
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(got, want)) != 0xffff) {
        crypto_wipe(pt, ctlen);
        return DS_ECORRUPT;
    }
    return 0;
}

#else /* not x86-64: libgcrypt does it all */

int gcmsiv_available(void) {
    return 0;
}

int gcmsiv_seal(const uint8_t key[32], const uint8_t nonce[12], const void *a1, size_t a1len,
                const void *a2, size_t a2len, const void *pt, size_t ptlen, void *ct,
                uint8_t tag[16]) {
    (void)key, (void)nonce, (void)a1, (void)a1len, (void)a2, (void)a2len;
    (void)pt, (void)ptlen, (void)ct, (void)tag;
    return DS_ECRYPTO;
}

int gcmsiv_open(const uint8_t key[32], const uint8_t nonce[12], const void *a1, size_t a1len,
                const void *a2, size_t a2len, const void *ct, size_t ctlen, const uint8_t tag[16],
                void *pt) {
    (void)key, (void)nonce, (void)a1, (void)a1len, (void)a2, (void)a2len;
    (void)ct, (void)ctlen, (void)tag, (void)pt;
    return DS_ECRYPTO;
}

#endif
