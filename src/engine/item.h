/* item.h -- the item codec: DynamoDB's typed values (a superset of JSON) as a
 * tree, and the compact binary form stored as DATA CF values.
 *
 * Encoding of one value (all lengths and counts are unsigned LEB128 varints,
 * minimal: no 0x80-padded forms, at most 10 bytes):
 *
 *   FIELD     SIZE    DESCRIPTION
 *   tag       1       item_type: 1 S, 2 N, 3 B, 4 BOOL, 5 NULL, 6 M, 7 L,
 *                     8 SS, 9 NS, 10 BS. Other values are reserved for
 *                     future formats and rejected today.
 *   S, N, B:  varint  byte length
 *             len     the bytes (S: UTF-8; N: number text as stored; B: raw)
 *   BOOL:     1       0x00 false, 0x01 true (anything else is corrupt)
 *   NULL:     0       nothing after the tag
 *   M:        varint  attribute count, then per attribute, in order:
 *             varint  name length
 *             len     name bytes
 *             value   one encoded value (recursively)
 *   L:        varint  element count, then that many encoded values
 *   SS/NS/BS: varint  element count, then per element:
 *             varint  byte length
 *             len     the bytes (NS: number text)
 *
 * An item is an M. Nesting deeper than ITEM_MAX_DEPTH (64) levels of M/L is
 * rejected. Decoding trusts nothing: every length and count is checked
 * against the bytes left, N texts must be JSON numbers, and the
 * whole input must be consumed, else DS_ECORRUPT. A decode of bytes produced
 * by item_encode() re-encodes to the same bytes.
 *
 * Lifetimes: decoded trees point into the caller's arena (never into the
 * input bytes), so they outlive the RocksDB buffer they came from.
 */
#ifndef DS_ITEM_H
#define DS_ITEM_H

#include "common/ds.h"
#include "common/json.h"

#define ITEM_MAX_DEPTH 64

typedef enum {
    ITEM_S = 1,
    ITEM_N,
    ITEM_B,
    ITEM_BOOL,
    ITEM_NULL,
    ITEM_M,
    ITEM_L,
    ITEM_SS,
    ITEM_NS,
    ITEM_BS
} item_type;

typedef struct item_value item_value;

typedef struct item_attr {
    const char *name;
    size_t name_len;
    item_value *value;
} item_attr;

struct item_value {
    item_type type;
    union {
        struct {
            const char *p;
            size_t len;
        } s;   /* S, N (number text exactly as stored), B (raw bytes) */
        int b; /* BOOL */
        struct {
            item_attr *attrs;
            size_t n;
        } m; /* M, in order */
        struct {
            item_value **items;
            size_t n;
        } l; /* L */
        struct {
            ds_slice *elems;
            size_t n;
        } set; /* SS, NS, BS */
    } u;
};

/* Appends the encoding of v to out. Returns DS_OK, or DS_EINVAL if the tree
 * is malformed (unknown type, nesting deeper than ITEM_MAX_DEPTH); out may
 * then hold a partial encoding past its old length. v is only read. */
int item_encode(ds_buf *out, const item_value *v);

/* Decodes exactly n bytes at p into a tree allocated in arena a (valid until
 * the arena is reset). Returns DS_OK and *out, or DS_ECORRUPT on anything
 * malformed (truncation, bad tag, bad varint, depth > 64, lengths past the
 * end, trailing bytes, invalid number text). */
int item_decode(ds_arena *a, const void *p, size_t n, item_value **out);

/* Builds a tree from plain JSON (the REST API's items): object -> M (member
 * order kept), array -> L, string -> S, number -> N (the exact text, any
 * JSON number: DynamoDB's range is checked by the DynamoDB API, not here),
 * true/false -> BOOL, null -> NULL. The
 * tree is allocated in a and may point into j's strings (keep j's arena
 * alive as long). Returns DS_OK, or DS_EINVAL with a message in err
 * (errlen bytes) naming the offending value. */
int item_from_json(ds_arena *a, const json_value *j, item_value **out, char *err, size_t errlen);

/* Appends v as plain JSON, the inverse of item_from_json: M -> object,
 * L -> array, S -> string, N -> number (its text), BOOL, NULL, B -> base64
 * string (standard alphabet, padded), SS/NS/BS -> arrays of strings /
 * numbers / base64 strings. */
void item_to_json(ds_buf *out, const item_value *v);

/* Returns the value of m's top-level attribute name (len bytes), or NULL if
 * m is not an M or has no such attribute. Borrowed from m. */
item_value *item_get(const item_value *m, const char *name, size_t len);

/* Returns 1 if a and b are the same tree: same types, same bytes, same
 * order (attribute order and number text matter; this is codec identity,
 * not DynamoDB's equality of values), else 0. */
int item_identical(const item_value *a, const item_value *b);

#endif
