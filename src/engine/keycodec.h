/* keycodec.h -- the storage key layout: how an item's primary key becomes a
 * RocksDB key, so that byte order is DynamoDB's key order.
 *
 * DATA CF key (one entry per item; value = item_encode()d item):
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     table id, u64 big-endian. Never reused, so dropping table
 *                 T is one delete_range [T, T+1).
 *   8       4     hash: murmur3_32 (seed 0) of the partition key's canonical
 *                 bytes, u32 big-endian, so a hash range of one table is one
 *                 contiguous key range (the unit of placement).
 *   12      var   partition key component (below)
 *   ..      var   sort key component (tables with a sort key only)
 *
 * INDEX CF key (one entry per item):
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     table id, u64 big-endian
 *   8       var   partition key component
 *   ..      var   sort key component (tables with a sort key only)
 *
 * and value (KEYCODEC_INDEX_VALUE_LEN bytes):
 *
 *   0       4     hash, u32 big-endian: with the key, it makes the DATA key
 *   4       4     length of the item's DATA value, u32 big-endian
 *
 * It orders a table's items by key (for listing by key prefix). The length
 * lets a write learn whether an item exists and how large it is from this
 * small entry, not from the DATA block (replica.c). Entries written before
 * the length was added hold the hash only (4 bytes); readers take both, and
 * the next write of the item rewrites its entry with the length.
 *
 * Components are order-preserving (memcmp order of encodings == DynamoDB's
 * order of values) and self-delimiting (a component's end is found from its
 * own bytes), so (pk, sk) pairs sort by pk then sk and a prefix scan works.
 *
 *   S, B    the bytes (S: UTF-8, B: raw), each 0x00 written as 0x00 0xFF,
 *           then the terminator 0x00 0x01. DynamoDB orders S by UTF-8 bytes
 *           and B as unsigned bytes, which is memcmp order. A prefix of the
 *           value encodes to a prefix of the encoding (keycodec_put_prefix).
 *   N       1 byte class: 0x01 negative, 0x02 zero, 0x03 positive. Zero ends
 *           there. Otherwise the magnitude 0.d1d2..dn x 10^exp (decimal.h):
 *             1 byte   exp + 129 (0..255)
 *             k bytes  digit pairs: 1 + 10*d(2i+1) + d(2i+2) (1..100); an odd
 *                      last digit is paired with 0
 *             1 byte   0x00 terminator
 *           and for negatives every magnitude byte is inverted (~b), so a
 *           larger magnitude sorts first and the terminator is 0xFF. At most
 *           22 bytes.
 *
 * Lifetimes: key_part pointers are borrowed; decoded parts live in the
 * caller's arena.
 */
#ifndef DS_KEYCODEC_H
#define DS_KEYCODEC_H

#include <stdint.h>

#include "common/ds.h"

#define KEYCODEC_PREFIX_LEN 12 /* table id + hash: the DATA CF prefix */
#define KEYCODEC_N_MAX 22      /* longest N component */

typedef enum { KEY_S = 1, KEY_N = 2, KEY_B = 3 } key_type;

/* One key attribute value. S: UTF-8 bytes; B: raw bytes; N: number text as
 * sent (any form decimal_parse accepts). */
typedef struct key_part {
    key_type type;
    const char *p;
    size_t len;
} key_part;

/* murmur3_32(canonical bytes, seed 0) of a partition key: the raw bytes for
 * S and B, the canonical decimal text for N (so "1.0" and "1" hash alike).
 * DS_EINVAL / DS_ERANGE for a bad number or type. */
int keycodec_hash(const key_part *pk, uint32_t *hash);

/* Appends the DATA CF key for (table, hash, pk, sk); sk NULL if the table has
 * no sort key. hash must be keycodec_hash(pk). DS_EINVAL / DS_ERANGE for a
 * bad number (out is then left as it was). */
int keycodec_data_key(ds_buf *out, uint64_t table_id, uint32_t hash, const key_part *pk,
                      const key_part *sk);

/* Appends the INDEX CF key for (table, pk, sk). Errors as keycodec_data_key. */
int keycodec_index_key(ds_buf *out, uint64_t table_id, const key_part *pk, const key_part *sk);

/* Resets out to the INDEX key of the DATA key dk (the same key without its
 * hash). dkl > KEYCODEC_PREFIX_LEN. */
void keycodec_index_key_of(ds_buf *out, const void *dk, size_t dkl);

/* Resets out to the DATA key of the INDEX key ik, whose item's hash is hash
 * (the first 4 bytes of its INDEX value). ikl >= 8. */
void keycodec_data_key_of(ds_buf *out, const void *ik, size_t ikl, uint32_t hash);

#define KEYCODEC_INDEX_VALUE_LEN 8
#define KEYCODEC_INDEX_VALUE_LEN_V1 4 /* hash only */

/* Whether vl is the length of an INDEX value (of either form). */
static inline int keycodec_index_value_ok(size_t vl) {
    return vl == KEYCODEC_INDEX_VALUE_LEN || vl == KEYCODEC_INDEX_VALUE_LEN_V1;
}

/* Fills the INDEX value of an item whose hash is hash and whose DATA value
 * is vlen bytes. */
static inline void keycodec_index_value(unsigned char v[KEYCODEC_INDEX_VALUE_LEN], uint32_t hash,
                                        size_t vlen) {
    ds_put_u32be(v, hash);
    ds_put_u32be(v + 4, (uint32_t)vlen);
}

/* Resets lo and hi to [T] and [T+1]: every key of table T, in either CF, is
 * in [lo, hi). Table id UINT64_MAX is reserved (never allocated). */
void keycodec_table_bounds(ds_buf *lo, ds_buf *hi, uint64_t table_id);

/* Resets lo and hi to the DATA CF range of table T whose hashes are in
 * [lo_hash, hi_hash] (inclusive): [T][lo_hash] .. [T][hi_hash + 1], or
 * [T + 1] when hi_hash is 0xFFFFFFFF. */
void keycodec_hash_bounds(ds_buf *lo, ds_buf *hi, uint64_t table_id, uint32_t lo_hash,
                          uint32_t hi_hash);

/* Appends one complete component (with its terminator), e.g. a sort key
 * bound after the partition key. DS_EINVAL / DS_ERANGE for a bad number. */
int keycodec_put_component(ds_buf *out, const key_part *kp);

/* Appends the encoding of an S or B prefix: the escaped bytes without the
 * terminator, so every component whose value starts with kp's bytes starts
 * with these bytes. DS_EINVAL for N (begins_with is for S and B only). */
int keycodec_put_prefix(ds_buf *out, const key_part *kp);

/* Turns b into the smallest byte string greater than every string that has b
 * as a prefix (drops trailing 0xFF bytes, then increments the last byte):
 * the exclusive upper bound of a prefix scan. Returns 0, or -1 if b is empty
 * or all 0xFF (no such bound: scan unbounded). */
int keycodec_successor(ds_buf *b);

/* Decodes the component of the given type at *p (not reading past end),
 * advances *p past it and fills out with a copy in arena a: S and B with the
 * bytes unescaped (NUL-terminated, len authoritative), N as canonical number
 * text. DS_ECORRUPT on malformed input (missing terminator, bad escape,
 * non-canonical number encoding, bad type). */
int keycodec_decode_component(ds_arena *a, key_type type, const char **p, const char *end,
                              key_part *out);

#endif
