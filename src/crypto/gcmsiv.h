/* gcmsiv.h -- AES-256-GCM-SIV (RFC 8452) on the CPU's AES and carry-less
 * multiply instructions (x86-64 AES-NI and PCLMULQDQ).
 *
 * crypto.c calls this instead of libgcrypt for texts below 2 KiB when
 * gcmsiv_available() says the CPU has the instructions; libgcrypt stays the
 * reference, the bulk path (it is faster from ~2 KiB on) and the fallback.
 * Why it exists: a value of ~100 bytes is one GCM-SIV message, and
 * libgcrypt's per-message set-up (two AES key schedules through its generic
 * cipher layer, the POLYVAL tables of its bulk path) was half of a Scan's CPU
 * (bench/results/2026-12-05-session8.md has the profile and the numbers).
 *
 * Private to src/crypto/: everyone else calls crypto.h.
 */
#ifndef DS_GCMSIV_H
#define DS_GCMSIV_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this build and this CPU can run gcmsiv_seal/open, else 0. */
int gcmsiv_available(void);

/* Encrypts pt[0..ptlen) into ct (may equal pt) under key and nonce, with the
 * AAD a1[0..a1len) || a2[0..a2len) (either may be NULL when its length is 0),
 * and writes the tag. Returns 0, or DS_ECRYPTO (nothing written) if the text
 * or the AAD is over RFC 8452's 2^36 bytes. Only when gcmsiv_available(). */
int gcmsiv_seal(const uint8_t key[32], const uint8_t nonce[12], const void *a1, size_t a1len,
                const void *a2, size_t a2len, const void *pt, size_t ptlen, void *ct,
                uint8_t tag[16]);

/* Decrypts ct[0..ctlen) into pt (may equal ct) and checks tag. Returns 0, or
 * DS_ECORRUPT with pt zeroed if the tag does not verify, or DS_ECRYPTO
 * (nothing written) over 2^36 bytes. Only when gcmsiv_available(). */
int gcmsiv_open(const uint8_t key[32], const uint8_t nonce[12], const void *a1, size_t a1len,
                const void *a2, size_t a2len, const void *ct, size_t ctlen, const uint8_t tag[16],
                void *pt);

#endif
