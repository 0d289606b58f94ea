/* json.h -- a strict RFC 8259 JSON parser that keeps number text exactly,
 * and the writers the API layers build responses with.
 *
 * Parsing builds a tree in a caller's arena: every pointer in the tree lives
 * until that arena is reset or freed. Strings are decoded to UTF-8 (they may
 * contain NUL; len is authoritative, and each is also NUL-terminated).
 * Numbers are kept as the exact text the client sent ("1.50", "1e400"), never
 * converted to binary floating point: DynamoDB numbers have 38 digits.
 *
 * Strictness: invalid UTF-8, unpaired surrogate escapes, control characters
 * in strings, leading zeros, trailing commas, duplicate object keys, trailing
 * garbage and nesting deeper than max_depth are all errors with a message a
 * person can act on ("duplicate key \"a\" at offset 17").
 */
#ifndef DS_JSON_H
#define DS_JSON_H

#include "common/ds.h"

typedef enum {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;

typedef struct json_member {
    const char *key; /* decoded, NUL-terminated */
    size_t key_len;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    union {
        struct {
            const char *s; /* STRING: decoded UTF-8; NUMBER: exact source text */
            size_t len;
        } str;
        struct {
            json_value **items;
            size_t n;
        } arr;
        struct {
            json_member *members; /* in document order */
            size_t n;
        } obj;
    } u;
};

#define JSON_DEFAULT_MAX_DEPTH 64

/* Parses len bytes of text into a tree allocated in arena a.
 * Returns DS_OK and sets *out, or DS_EPARSE with a NUL-terminated message in
 * err (errlen bytes at most) naming what is wrong and at which byte offset.
 * max_depth bounds nesting of arrays and objects (0 means the default).
 * text is only read during the call: the tree holds copies of every string
 * and number. On error *out is NULL; what was allocated in a stays there
 * until the arena is reset. err may be NULL (or errlen 0) for no message. */
int json_parse(ds_arena *a, const char *text, size_t len, int max_depth, json_value **out,
               char *err, size_t errlen);

/* Returns the member value for key in an object, or NULL if v is not an
 * object or has no such key. Borrowed: valid as long as the tree. */
json_value *json_get(const json_value *obj, const char *key);

/* As json_get, for a key of key_len bytes (which may contain NUL). */
json_value *json_get_n(const json_value *obj, const char *key, size_t key_len);

/* Appends s (len bytes of UTF-8) as a quoted JSON string, escaping '"', '\\'
 * and control characters. Invalid UTF-8 sequences are written as U+FFFD so
 * the output is always valid JSON. */
void json_write_string(ds_buf *b, const char *s, size_t len);

/* Appends v as compact JSON (numbers as their exact text, members in order). */
void json_write(ds_buf *b, const json_value *v);

/* Returns 1 if s (len bytes) is exactly one RFC 8259 number, else 0. */
int json_number_valid(const char *s, size_t len);

/* Returns 1 if s (len bytes) is valid UTF-8 without surrogates, else 0. */
int json_utf8_valid(const char *s, size_t len);

#endif
