/* fuzz_gcmsiv.c -- libFuzzer driver, differential: src/crypto/gcmsiv.c
 * against libgcrypt on arbitrary keys, nonces, AAD and texts, and
 * crypto_open on arbitrary envelopes.
 *
 * Input: key (32) | nonce (12) | a1 length (1 byte, mod 4) | a2 length (1 byte)
 * | the rest: a1, then a2, then the text (short inputs are zero-padded). The
 * two implementations must give the same ciphertext and tag; each must open
 * the other's output to the text; a flipped bit must not open; and the whole
 * input, read as an envelope, must open the same way (or fail the same way)
 * under both. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ds.h"
#include "crypto/crypto.h"
#include "crypto/gcmsiv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (crypto_init() != DS_OK || !gcmsiv_available()) return 0;
    uint8_t head[46] = {0};
    memcpy(head, data, DS_MIN(size, sizeof head));
    const uint8_t *key = head, *nonce = head + 32;
    const uint8_t *rest = size > sizeof head ? data + sizeof head : data + size;
    size_t nrest = size > sizeof head ? size - sizeof head : 0;
    size_t a1 = DS_MIN((size_t)(head[44] % 4), nrest);
    size_t a2 = DS_MIN((size_t)head[45], nrest - a1);
    const uint8_t *aad = rest, *pt = rest + a1 + a2;
    size_t n = nrest - a1 - a2;

    uint8_t *c1 = ds_malloc(n + 1), *c2 = ds_malloc(n + 1), *back = ds_malloc(n + 1);
    uint8_t t1[16], t2[16];
    crypto_use_libgcrypt(1);
    if (crypto_gcmsiv_seal(key, nonce, aad, a1 + a2, pt, n, c2, t2) != DS_OK) abort();
    if (gcmsiv_seal(key, nonce, aad, a1, aad + a1, a2, pt, n, c1, t1) != 0) abort();
    if (memcmp(c1, c2, n) || memcmp(t1, t2, 16)) abort();
    if (crypto_gcmsiv_open(key, nonce, aad, a1 + a2, c1, n, t1, back) != DS_OK) abort();
    if (n && memcmp(back, pt, n)) abort();
    if (gcmsiv_open(key, nonce, aad, a1 + a2, NULL, 0, c2, n, t2, back) != 0) abort();
    if (n && memcmp(back, pt, n)) abort();
    t1[size % 16] ^= 1;
    if (gcmsiv_open(key, nonce, aad, a1, aad + a1, a2, c1, n, t1, back) != DS_ECORRUPT) abort();

    /* the input as an envelope, opened by both */
    ds_buf o1 = DS_BUF_INIT, o2 = DS_BUF_INIT;
    int r2 = crypto_open(&o2, key, NULL, 0, data, size);
    crypto_use_libgcrypt(0);
    int r1 = crypto_open(&o1, key, NULL, 0, data, size);
    if (r1 != r2 || (r1 == DS_OK && (o1.len != o2.len || memcmp(o1.data, o2.data, o1.len))))
        abort();
    ds_buf_free(&o1), ds_buf_free(&o2);
    ds_free(c1), ds_free(c2), ds_free(back);
    return 0;
}
