/* crypto.c -- libgcrypt behind dStore's crypto API (see crypto.h), and the
 * switch that sends short GCM-SIV texts to gcmsiv.c instead (siv_seal,
 * siv_open).
 *
 * Notes on libgcrypt's GCM-SIV mode (1.10), learned from its
 * cipher-gcm-siv.c and relied on below:
 *  - gcry_cipher_setiv() derives the per-nonce keys and re-keys the AES
 *    context with the derived encryption key, and refuses a second nonce
 *    until the handle is reset. So every message starts with
 *    gcry_cipher_setkey() (which resets), then setiv, authenticate, and ONE
 *    encrypt/decrypt call for the whole message (SIV needs it all at once).
 *  - Encryption: the tag is computed inside gcry_cipher_encrypt() and read
 *    with gcry_cipher_gettag().
 *  - Decryption: the expected tag is given with
 *    gcry_cipher_set_decryption_tag() BEFORE gcry_cipher_decrypt(), which
 *    verifies it and returns GPG_ERR_CHECKSUM (after wiping the output) on
 *    mismatch. gcry_cipher_checktag() afterwards would only compare the tag
 *    with itself, so the decrypt's return code is the verification.
 *  - AAD may be fed in several gcry_cipher_authenticate() calls; it is
 *    padded only when the data starts, so "01" + aad in two calls equals one
 *    call with the concatenation (test_crypto checks this).
 */
#include "crypto/crypto.h"

#include <gcrypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/gcmsiv.h"

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static int crypto_status = DS_ECRYPTO;
/* GCM-SIV through gcmsiv.c (AES-NI + PCLMULQDQ) rather than libgcrypt: set
 * at init when the CPU can, changed only by crypto_use_libgcrypt(). Only for
 * texts below SIV_FAST_MAX bytes: gcmsiv.c has the cheaper set-up per message
 * (100 B: open 0.26 us vs 0.52), libgcrypt the faster bulk path (VAES; 4 KiB:
 * 1.32 us vs 1.49); they cross near 2 KiB (test_crypto's bench). */
#define SIV_FAST_MAX 2048
static int siv_fast;
static pthread_key_t crypto_handle_key; /* closes a thread's handle at exit */

/* The calling thread's GCM-SIV handle, opened by siv_handle(). */
static _Thread_local gcry_cipher_hd_t tl_siv;

/* Envelope nonces come from a per-thread pool filled by gcry_create_nonce:
 * one 4 KB call costs about as much as ten 12-byte ones (measured: 17 us vs
 * 1.5 us each), which made the nonce most of the cost of a seal. A fork
 * bumps crypto_fork_gen so a child never reuses its parent's pool. */
#define NONCE_POOL 4080 /* 340 nonces */
static volatile unsigned crypto_fork_gen;
static _Thread_local struct {
    uint8_t bytes[NONCE_POOL];
    size_t used;
    unsigned gen;
} tl_nonces = {.used = NONCE_POOL};

static void crypto_close_handle(void *h) {
    gcry_cipher_close((gcry_cipher_hd_t)h);
}

static void crypto_after_fork(void) {
    crypto_fork_gen++;
}

static void crypto_do_init(void) {
    if (!gcry_check_version("1.10.0")) {
        ds_error("crypto: libgcrypt %s is too old; dStore needs 1.10.0 or later",
                 gcry_check_version(NULL));
        return;
    }
    /* If the program (or a library it loaded) already finished libgcrypt's
     * initialization, its choices stand. Otherwise: no secure-memory pool.
     * dStore holds many keys for a long time; a 16 KB mlock()ed pool would
     * run out and we never allocate through it (keys live in our memory and
     * are wiped by us). Disabling it also silences libgcrypt's "secure
     * memory not initialized" warnings. */
    if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
        gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
        gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    }
    gcry_cipher_hd_t h;
    gcry_error_t e = gcry_cipher_open(&h, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM_SIV, 0);
    if (e) {
        ds_error("crypto: AES-256-GCM-SIV unavailable: %s", gcry_strerror(e));
        return;
    }
    gcry_cipher_close(h);
    if (pthread_key_create(&crypto_handle_key, crypto_close_handle) != 0 ||
        pthread_atfork(NULL, NULL, crypto_after_fork) != 0) {
        ds_error("crypto: pthread_key_create/pthread_atfork failed");
        return;
    }
    siv_fast = gcmsiv_available();
    crypto_status = DS_OK;
}

int crypto_init(void) {
    pthread_once(&crypto_once, crypto_do_init);
    return crypto_status;
}

/* For functions that cannot report errors: the library must work. */
static void crypto_ensure(void) {
    if (crypto_init() != DS_OK) {
        ds_error("crypto: libgcrypt is unusable; aborting");
        abort();
    }
}

void crypto_random(void *buf, size_t n) {
    crypto_ensure();
    gcry_randomize(buf, n, GCRY_STRONG_RANDOM);
}

void crypto_nonce(void *buf, size_t n) {
    crypto_ensure();
    gcry_create_nonce(buf, n);
}

/* ---- hashing ------------------------------------------------------------- */

void crypto_sha256(const void *d, size_t n, uint8_t out[32]) {
    crypto_ensure();
    gcry_md_hash_buffer(GCRY_MD_SHA256, out, n ? d : "", n);
}

/* HMAC-SHA256 over the concatenation of parts[0..nparts) (RFC 2104), built
 * from two plain SHA-256 one-shots. libgcrypt's own HMAC one-shot opens a
 * digest handle, and every open polls for entropy with getrusage(): one
 * system call per HMAC, i.e. per SigV4-signed request. */
static void hmac_parts(const void *key, size_t klen, const gcry_buffer_t *parts, int nparts,
                       uint8_t out[32]) {
    uint8_t k[64] = {0}, pad[64], inner[32];
    if (klen > sizeof k) gcry_md_hash_buffer(GCRY_MD_SHA256, k, key, klen);
    else if (klen) memcpy(k, key, klen);
    gcry_buffer_t iov[8];
    int n = 0;
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    iov[n++] = (gcry_buffer_t){.len = 64, .data = pad};
    for (int i = 0; i < nparts && n < (int)DS_ARRAY_LEN(iov); i++)
        if (parts[i].len) iov[n++] = parts[i];
    gcry_error_t e = gcry_md_hash_buffers(GCRY_MD_SHA256, 0, inner, iov, n);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    iov[0] = (gcry_buffer_t){.len = 64, .data = pad};
    iov[1] = (gcry_buffer_t){.len = 32, .data = inner};
    if (!e) e = gcry_md_hash_buffers(GCRY_MD_SHA256, 0, out, iov, 2);
    crypto_wipe(k, sizeof k);
    crypto_wipe(pad, sizeof pad);
    crypto_wipe(inner, sizeof inner);
    if (e) {
        ds_error("crypto: SHA-256 failed: %s", gcry_strerror(e));
        abort();
    }
}

void crypto_hmac_sha256(const void *key, size_t klen, const void *d, size_t n, uint8_t out[32]) {
    crypto_ensure();
    gcry_buffer_t part = {.len = n, .data = (void *)d};
    hmac_parts(key, klen, &part, 1, out);
}

int crypto_hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
                       const void *info, size_t infolen, void *out, size_t outlen) {
    static const uint8_t zeros[32];
    uint8_t prk[32], t[32], next[32];
    size_t tlen = 0, done = 0;
    uint8_t counter = 1;

    if (outlen > 255 * 32) return DS_EINVAL;
    crypto_ensure();
    if (!saltlen) salt = zeros, saltlen = sizeof zeros;
    crypto_hmac_sha256(salt, saltlen, ikm, ikmlen, prk); /* extract */
    while (done < outlen) {                              /* expand */
        gcry_buffer_t parts[3] = {
            {.len = tlen, .data = t},
            {.len = infolen, .data = (void *)info},
            {.len = 1, .data = &counter},
        };
        hmac_parts(prk, sizeof prk, parts, 3, next);
        memcpy(t, next, sizeof t);
        tlen = sizeof t;
        size_t take = DS_MIN(outlen - done, sizeof t);
        memcpy((uint8_t *)out + done, t, take);
        done += take;
        counter++;
    }
    crypto_wipe(prk, sizeof prk);
    crypto_wipe(t, sizeof t);
    crypto_wipe(next, sizeof next);
    return DS_OK;
}

/* ---- small helpers ------------------------------------------------------- */

int crypto_ct_equal(const void *a, const void *b, size_t n) {
    const volatile uint8_t *x = a, *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= x[i] ^ y[i];
    return acc == 0;
}

void crypto_wipe(void *p, size_t n) {
    if (p && n) explicit_bzero(p, n);
}

void crypto_hex(ds_buf *out, const void *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    const uint8_t *s = p;
    ds_buf_reserve(out, 2 * n);
    char *d = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        d[2 * i] = digits[s[i] >> 4];
        d[2 * i + 1] = digits[s[i] & 15];
    }
    out->len += 2 * n;
    out->data[out->len] = 0;
}

/* A hex digit's value, 0xff for any other character. A table, not
 * comparisons: a signature's digits are random, and a branch per digit
 * guessed wrong half the time cost ~0.2 us per SigV4 request. */
#define X_ 0xff
#define X16 X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_
#define AF X_, 10, 11, 12, 13, 14, 15, X_, X_, X_, X_, X_, X_, X_, X_, X_
static const uint8_t hex_value[256] = {
    X16, X16, X16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, X_, X_, X_, X_, X_, X_, /* 0x00-0x3f */
    AF,  X16, AF,  X16,                                                  /* 0x40-0x7f */
    X16, X16, X16, X16, X16, X16, X16, X16,                              /* 0x80-0xff */
};
#undef X_
#undef X16
#undef AF

int crypto_unhex(void *out, size_t outlen, const char *hex, size_t hexlen) {
    uint8_t *o = out;
    unsigned bad = 0;
    if (hexlen != 2 * outlen) return DS_EINVAL;
    for (size_t i = 0; i < outlen; i++) {
        unsigned hi = hex_value[(unsigned char)hex[2 * i]],
                 lo = hex_value[(unsigned char)hex[2 * i + 1]];
        bad |= hi | lo;
        o[i] = (uint8_t)(hi << 4 | lo);
    }
    if (bad & 0xf0) {
        crypto_wipe(out, outlen);
        return DS_EINVAL;
    }
    return DS_OK;
}

/* ---- AES-256-GCM-SIV ---------------------------------------------------- */

/* The calling thread's cipher handle; opened once per thread, closed by the
 * pthread key's destructor when the thread exits. */
static int siv_handle(gcry_cipher_hd_t *out) {
    if (!tl_siv) {
        int rc = crypto_init();
        if (rc) return rc;
        gcry_cipher_hd_t h;
        if (gcry_cipher_open(&h, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM_SIV, 0))
            return DS_ECRYPTO;
        pthread_setspecific(crypto_handle_key, h);
        tl_siv = h;
    }
    *out = tl_siv;
    return DS_OK;
}

/* Starts a message: key, nonce and the AAD, given as two pieces (a1 is the
 * envelope header or empty, a2 the caller's AAD). */
static int siv_begin(gcry_cipher_hd_t *h, const uint8_t key[32], const uint8_t nonce[12],
                     const void *a1, size_t a1len, const void *a2, size_t a2len) {
    int rc = siv_handle(h);
    if (rc) return rc;
    if (gcry_cipher_setkey(*h, key, CRYPTO_KEY_LEN) ||
        gcry_cipher_setiv(*h, nonce, CRYPTO_NONCE_LEN))
        return DS_ECRYPTO;
    if (a1len && gcry_cipher_authenticate(*h, a1, a1len)) return DS_ECRYPTO;
    if (a2len && gcry_cipher_authenticate(*h, a2, a2len)) return DS_ECRYPTO;
    return DS_OK;
}

void crypto_use_libgcrypt(int on) {
    crypto_ensure();
    siv_fast = !on && gcmsiv_available();
}

/* Whether a text of len bytes goes to gcmsiv.c. */
static int siv_fast_for(size_t len) { return siv_fast && len < SIV_FAST_MAX; }

const char *crypto_gcmsiv_impl(size_t len) {
    crypto_ensure();
    return siv_fast_for(len) ? "AES-NI" : "libgcrypt";
}

static int siv_seal(const uint8_t key[32], const uint8_t nonce[12], const void *a1, size_t a1len,
                    const void *a2, size_t a2len, const void *pt, size_t ptlen, void *ct,
                    uint8_t tag[16]) {
    if (siv_fast_for(ptlen))
        return gcmsiv_seal(key, nonce, a1, a1len, a2, a2len, pt, ptlen, ct, tag);
    gcry_cipher_hd_t h;
    uint8_t dummy = 0;
    int rc = siv_begin(&h, key, nonce, a1, a1len, a2, a2len);
    if (rc) return rc;
    /* A NULL input means "in place" to libgcrypt: give it a real buffer. */
    if (!ptlen) pt = ct = &dummy;
    if (gcry_cipher_encrypt(h, ct, ptlen, pt, ptlen)) return DS_ECRYPTO;
    if (gcry_cipher_gettag(h, tag, CRYPTO_TAG_LEN)) return DS_ECRYPTO;
    return DS_OK;
}

static int siv_open(const uint8_t key[32], const uint8_t nonce[12], const void *a1, size_t a1len,
                    const void *a2, size_t a2len, const void *ct, size_t ctlen,
                    const uint8_t tag[16], void *pt) {
    if (siv_fast_for(ctlen))
        return gcmsiv_open(key, nonce, a1, a1len, a2, a2len, ct, ctlen, tag, pt);
    gcry_cipher_hd_t h;
    uint8_t dummy = 0;
    int rc = siv_begin(&h, key, nonce, a1, a1len, a2, a2len);
    if (rc) return rc;
    if (gcry_cipher_set_decryption_tag(h, tag, CRYPTO_TAG_LEN)) return DS_ECRYPTO;
    if (!ctlen) ct = pt = &dummy;
    gcry_error_t e = gcry_cipher_decrypt(h, pt, ctlen, ct, ctlen);
    if (e) {
        crypto_wipe(pt, ctlen); /* libgcrypt did too; be sure */
        return gcry_err_code(e) == GPG_ERR_CHECKSUM ? DS_ECORRUPT : DS_ECRYPTO;
    }
    return DS_OK;
}

int crypto_gcmsiv_seal(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                       size_t aadlen, const void *pt, size_t ptlen, void *ct, uint8_t tag[16]) {
    return siv_seal(key, nonce, NULL, 0, aad, aadlen, pt, ptlen, ct, tag);
}

int crypto_gcmsiv_open(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                       size_t aadlen, const void *ct, size_t ctlen, const uint8_t tag[16],
                       void *pt) {
    return siv_open(key, nonce, NULL, 0, aad, aadlen, ct, ctlen, tag, pt);
}

/* ---- the envelope -------------------------------------------------------- */

/* A fresh 12-byte nonce from the calling thread's pool (each byte handed out
 * once, then erased from the pool). */
static void envelope_nonce(uint8_t out[CRYPTO_NONCE_LEN]) {
    if (tl_nonces.used + CRYPTO_NONCE_LEN > NONCE_POOL || tl_nonces.gen != crypto_fork_gen) {
        crypto_nonce(tl_nonces.bytes, NONCE_POOL);
        tl_nonces.used = 0;
        tl_nonces.gen = crypto_fork_gen;
    }
    memcpy(out, tl_nonces.bytes + tl_nonces.used, CRYPTO_NONCE_LEN);
    crypto_wipe(tl_nonces.bytes + tl_nonces.used, CRYPTO_NONCE_LEN);
    tl_nonces.used += CRYPTO_NONCE_LEN;
}

int crypto_seal(ds_buf *out, const uint8_t key[32], const void *aad, size_t aadlen, const void *pt,
                size_t ptlen) {
    ds_buf_reserve(out, CRYPTO_ENVELOPE_OVERHEAD + ptlen);
    uint8_t *env = (uint8_t *)out->data + out->len;
    uint8_t *nonce = env + 1, *ct = env + 1 + CRYPTO_NONCE_LEN;
    env[0] = CRYPTO_ENVELOPE_VERSION;
    envelope_nonce(nonce);
    int rc = siv_seal(key, nonce, env, 1, aad, aadlen, pt, ptlen, ct, ct + ptlen);
    if (rc) {
        crypto_wipe(env, CRYPTO_ENVELOPE_OVERHEAD + ptlen);
        out->data[out->len] = 0;
        return rc;
    }
    out->len += CRYPTO_ENVELOPE_OVERHEAD + ptlen;
    out->data[out->len] = 0;
    return DS_OK;
}

int crypto_open(ds_buf *out, const uint8_t key[32], const void *aad, size_t aadlen, const void *env,
                size_t envlen) {
    const uint8_t *e = env;
    if (envlen < CRYPTO_ENVELOPE_OVERHEAD || e[0] != CRYPTO_ENVELOPE_VERSION) return DS_ECORRUPT;
    size_t n = envlen - CRYPTO_ENVELOPE_OVERHEAD;
    const uint8_t *nonce = e + 1, *ct = e + 1 + CRYPTO_NONCE_LEN, *tag = ct + n;
    ds_buf_reserve(out, n);
    uint8_t *pt = (uint8_t *)out->data + out->len;
    int rc = siv_open(key, nonce, e, 1, aad, aadlen, ct, n, tag, pt);
    if (rc == DS_OK) out->len += n;
    out->data[out->len] = 0;
    return rc;
}
