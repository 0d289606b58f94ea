/* base64.h -- RFC 4648 base64 in both alphabets, appending to a ds_buf.
 *
 * url=0: the standard alphabet (§4, "+/") with '=' padding, as etcd's JSON
 *        gateway and DynamoDB's B (binary) attributes use it.
 * url=1: the URL- and filename-safe alphabet (§5, "-_"), written without
 *        padding; decoding accepts it with or without padding.
 *
 * Decoding is strict: no whitespace, no characters from the other alphabet,
 * padding only where it belongs, and the unused low bits of the last
 * character must be zero, so each byte string has exactly one encoding.
 */
#ifndef DS_BASE64_H
#define DS_BASE64_H

#include "common/ds.h"

/* Appends the encoding of the n bytes at p to out (which stays
 * NUL-terminated). p is only read. */
void base64_encode(ds_buf *out, const void *p, size_t n, int url);

/* Appends the bytes that the n characters at s encode to out. Returns DS_OK,
 * or DS_EINVAL on an invalid character, a bad length, bad padding or non-zero
 * trailing bits; on error out is left as it was. url=0 requires padding to a
 * multiple of 4; url=1 accepts it with or without. */
int base64_decode(ds_buf *out, const char *s, size_t n, int url);

/* Returns how many characters base64_encode writes for n bytes. */
size_t base64_encoded_len(size_t n, int url);

#endif
