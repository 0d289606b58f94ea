/* crypto.h -- dStore's cryptographic primitives, and the one module that
 * talks to libgcrypt.
 *
 * Everything else in dStore hashes, MACs, derives keys and encrypts through
 * these functions; nothing outside src/crypto/crypto.c includes <gcrypt.h>.
 * That keeps the library's conventions (gcry_error_t, handles, secure memory)
 * at this boundary and lets us swap or audit the provider in one place.
 *
 * What is here:
 *   - library start-up (crypto_init), random bytes and nonces;
 *   - SHA-256, HMAC-SHA256 and HKDF-SHA256 (RFC 5869, built from HMAC
 *     because libgcrypt 1.10 has no HKDF);
 *   - AES-256-GCM-SIV (RFC 8452): the raw AEAD, and the sealed envelope the
 *     storage engine writes for every value;
 *   - constant-time comparison, hex encoding, wiping.
 *
 * Threads: every function may be called from any thread at any time.
 * crypto_init() is idempotent; the other functions call it themselves the
 * first time, and abort the process if libgcrypt is unusable (call
 * crypto_init() at start-up to get that as an error instead). GCM-SIV of
 * texts below 2 KiB runs in gcmsiv.c (AES-NI and PCLMULQDQ, where the CPU
 * has them), which keeps the AES schedule of the last key per thread; the
 * rest runs on one libgcrypt cipher handle per thread, opened on first use
 * and closed when the thread exits; the key is set on every call, so one
 * handle serves any number of keys. Envelope nonces are drawn from
 * gcry_create_nonce in 4 KB batches per thread (a batch is discarded after
 * fork), which makes a seal cost about what an open costs.
 *
 * Secure memory: libgcrypt's mlock()ed pool is disabled (see crypto_init).
 * Keys live in ordinary memory owned by the caller; wipe them with
 * crypto_wipe() when done. Hosts that hold keys should run without swap or
 * with encrypted swap.
 *
 * ---- The sealed envelope (crypto_seal / crypto_open) --------------------
 *
 *   OFFSET     SIZE  DESCRIPTION
 *   0          1     version byte, always 1 (CRYPTO_ENVELOPE_VERSION)
 *   1          12    nonce: fresh and random for every seal
 *   13         n     ciphertext: AES-256-GCM-SIV of the n-byte plaintext
 *   13+n       16    GCM-SIV authentication tag
 *   total      n + 29 (CRYPTO_ENVELOPE_OVERHEAD)
 *
 * The authenticated data given to GCM-SIV is the version byte followed by
 * the caller's AAD, so the header is authenticated too. The caller's AAD is
 * not stored: the storage engine passes the value's storage key, which binds
 * each ciphertext to the place it was written -- a ciphertext copied under
 * another key fails to open. GCM-SIV resists nonce misuse, so a repeated
 * random nonce reveals only whether two values under one key and AAD were
 * equal; it does not break confidentiality or integrity.
 */
#ifndef DS_CRYPTO_H
#define DS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/ds.h"

#define CRYPTO_KEY_LEN 32
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_TAG_LEN 16
#define CRYPTO_ENVELOPE_VERSION 1
#define CRYPTO_ENVELOPE_OVERHEAD 29 /* 1 version + 12 nonce + 16 tag */

/* ---- start-up and randomness --------------------------------------------- */

/* Initializes libgcrypt once per process (idempotent, thread-safe): checks
 * that the library is at least 1.10.0, disables its secure-memory pool and
 * finishes initialization (unless the program already did), and checks that
 * AES-256-GCM-SIV is available. Returns DS_OK, or DS_ECRYPTO (logged) if the
 * library is too old or unusable; later calls return the same result. */
int crypto_init(void);

/* Fills buf with n bytes for key material (GCRY_STRONG_RANDOM). */
void crypto_random(void *buf, size_t n);

/* Fills buf with n unpredictable bytes for nonces and identifiers
 * (gcry_create_nonce: cheaper than crypto_random, not for keys). */
void crypto_nonce(void *buf, size_t n);

/* ---- hashing and key derivation ------------------------------------------ */

/* out = SHA-256(d[0..n)). d may be NULL when n is 0. */
void crypto_sha256(const void *d, size_t n, uint8_t out[32]);

/* out = HMAC-SHA256(key, d). Any key length, including 0 and longer than
 * the 64-byte block (hashed first, per RFC 2104). */
void crypto_hmac_sha256(const void *key, size_t klen, const void *d, size_t n, uint8_t out[32]);

/* HKDF-SHA256 (RFC 5869): extract with salt (an empty salt means 32 zero
 * bytes) then expand with info into out[0..outlen). Returns DS_OK, or
 * DS_EINVAL if outlen > 255*32 (out untouched). Any pointer may be NULL when
 * its length is 0. */
int crypto_hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
                       const void *info, size_t infolen, void *out, size_t outlen);

/* ---- small helpers ------------------------------------------------------- */

/* Compares n bytes in time that depends only on n. Returns 1 if equal, 0 if
 * not. */
int crypto_ct_equal(const void *a, const void *b, size_t n);

/* Overwrites n bytes with zeros in a way the compiler may not elide. */
void crypto_wipe(void *p, size_t n);

/* Appends 2*n lowercase hex digits for p[0..n) to out. */
void crypto_hex(ds_buf *out, const void *p, size_t n);

/* Decodes exactly outlen bytes from hex[0..hexlen) (either case) into out.
 * Returns DS_OK, or DS_EINVAL unless hexlen == 2*outlen and every character
 * is a hex digit (out is then zeroed). */
int crypto_unhex(void *out, size_t outlen, const char *hex, size_t hexlen);

/* ---- AES-256-GCM-SIV (RFC 8452) ----------------------------------------- */

/* Encrypts pt[0..ptlen) into ct[0..ptlen) and writes the 16-byte tag.
 * ct may be the same buffer as pt; aad may be NULL when aadlen is 0.
 * Returns DS_OK, or DS_ECRYPTO if libgcrypt fails (e.g. over 2^36 bytes). */
int crypto_gcmsiv_seal(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                       size_t aadlen, const void *pt, size_t ptlen, void *ct, uint8_t tag[16]);

/* Decrypts ct[0..ctlen) into pt[0..ctlen) and verifies the tag. Returns
 * DS_OK; DS_ECORRUPT if the tag does not verify (wrong key, nonce, AAD,
 * ciphertext or tag), in which case pt has been zeroed and must not be used;
 * DS_ECRYPTO if libgcrypt fails otherwise. pt may be the same buffer as ct. */
int crypto_gcmsiv_open(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                       size_t aadlen, const void *ct, size_t ctlen, const uint8_t tag[16],
                       void *pt);

/* GCM-SIV runs on the CPU's AES-NI and PCLMULQDQ instructions (gcmsiv.c)
 * for texts below 2 KiB where the CPU has them, else on libgcrypt; both give
 * the same bytes. crypto_use_libgcrypt(1) forces libgcrypt for the whole
 * process (tests compare the two; not thread-safe against concurrent seals),
 * 0 goes back. crypto_gcmsiv_impl(len) names what a text of len bytes uses
 * ("AES-NI" or "libgcrypt"), a static string. */
void crypto_use_libgcrypt(int on);
const char *crypto_gcmsiv_impl(size_t len);

/* ---- the sealed envelope (layout above) ---------------------------------- */

/* Appends to out an envelope of pt under key, with a fresh random nonce and
 * aad bound in (not stored). Returns DS_OK, or DS_ECRYPTO (out unchanged). */
int crypto_seal(ds_buf *out, const uint8_t key[32], const void *aad, size_t aadlen, const void *pt,
                size_t ptlen);

/* Opens env[0..envlen) sealed under key with the same aad and appends the
 * plaintext to out. Returns DS_OK; DS_ECORRUPT if the envelope is shorter
 * than CRYPTO_ENVELOPE_OVERHEAD, has another version or fails
 * authentication (out is then unchanged: no unauthenticated byte is ever
 * left in it); DS_ECRYPTO if libgcrypt fails. */
int crypto_open(ds_buf *out, const uint8_t key[32], const void *aad, size_t aadlen, const void *env,
                size_t envlen);

#endif
