/* ddb_item.h -- DynamoDB JSON (AttributeValues) <-> item_value trees, item
 * sizes and capacity units.
 *
 * DynamoDB's wire format wraps every value in a one-key object naming its
 * type; item.h's tree (item_value) is the typed form the engine stores:
 *
 *   WIRE                          TREE          NOTES
 *   {"S": "text"}                 ITEM_S        bytes as sent (UTF-8); "" allowed
 *   {"N": "1.50"}                 ITEM_N        canonical text ("1.5"), see decimal.h
 *   {"B": "base64"}               ITEM_B        raw bytes; standard alphabet, padded
 *   {"BOOL": true}                ITEM_BOOL
 *   {"NULL": true}                ITEM_NULL     must be true
 *   {"M": {"k": AV, ...}}         ITEM_M        member order kept
 *   {"L": [AV, ...]}              ITEM_L
 *   {"SS"|"NS"|"BS": [...]}       ITEM_SS/NS/BS non-empty, no duplicates (NS compares
 *                                               numerically: "1" and "1.0" clash)
 *
 * Errors. Validation failures return DS_EINVAL with DynamoDB's own message
 * text in err (the API maps it to ValidationException); a JSON value of the
 * wrong JSON type where the wire schema wants another ({"S": 5}, {"M": []},
 * bad base64) returns DS_EPARSE with a message in the style of DynamoDB's
 * SerializationException. A JSON null member counts as absent, as DynamoDB's
 * deserializer treats it. Messages are NUL-terminated, truncated to errlen.
 *
 * Nesting: DynamoDB counts the attribute itself as level 1 and rejects a
 * value at level 33 ("32 levels deep"); ddb_value_from_json takes the level
 * of the value it is given.
 *
 * Lifetimes: trees are allocated in the caller's arena and may point into
 * the json_value tree's strings, so keep that arena alive as long.
 */
#ifndef DS_API_DDB_ITEM_H
#define DS_API_DDB_ITEM_H

#include "common/ds.h"
#include "common/json.h"
#include "engine/item.h"

#define DDB_MAX_NESTING 32       /* levels, the attribute itself being level 1 */
#define DDB_MAX_ATTR_NAME 65535  /* bytes in an attribute name */
#define DDB_MAX_ITEM_SIZE 409600 /* 400 KB, as ddb_item_size() counts */

/* Converts one AttributeValue (av, e.g. {"S":"x"}) at nesting level depth
 * (1 for an item's attribute or an ExpressionAttributeValues entry; values
 * below 1 count as 1) into *out. Returns DS_OK, DS_EINVAL (validation, with
 * DynamoDB's message) or DS_EPARSE (wrong JSON shape). On error *out is
 * untouched and whatever was allocated stays in a until it is reset. */
int ddb_value_from_json(ds_arena *a, const json_value *av, int depth, item_value **out, char *err,
                        size_t errlen);

/* Converts an attribute map -- an Item, a Key, ExpressionAttributeValues,
 * an ExclusiveStartKey -- {"name": AttributeValue, ...} into an ITEM_M
 * (document order kept). Names must be non-empty and at most 65535 bytes.
 * Errors as ddb_value_from_json; map must be a JSON object (else DS_EPARSE).
 * Note: duplicate keys never reach here (json_parse rejects them). */
int ddb_item_from_json(ds_arena *a, const json_value *map, item_value **out, char *err,
                       size_t errlen);

/* Appends v as one AttributeValue in DynamoDB JSON ({"N":"1.5"}, B/BS as
 * standard padded base64, M/L recursively). v is only read. */
void ddb_value_to_json(ds_buf *out, const item_value *v);

/* Appends an ITEM_M as an attribute map: {"a":{"S":"x"},...}. A non-M value
 * is written as "{}". */
void ddb_item_to_json(ds_buf *out, const item_value *m);

/* Size in bytes of a value by the developer guide's rules ("Item sizes and
 * formats"), without any attribute name: S = UTF-8 bytes; N = ceil(digits/2)
 * + 1 where digits are the significant digits (zero = 1 byte); B = raw
 * bytes; BOOL, NULL = 1; M, L = 3 + per element (1 + element size, plus the
 * key's bytes for M); SS/NS/BS = sum of element sizes (the guide is silent
 * on sets; this is what public calculators measure). */
size_t ddb_value_size(const item_value *v);

/* Size of an item: for each top-level attribute, name bytes + value size.
 * A non-M (or NULL) counts as 0. */
size_t ddb_item_size(const item_value *m);

/* Read capacity for an item of item_bytes: ceil(bytes / 4096) units, at
 * least 1 (a read of a missing item still costs one), halved when not
 * strongly consistent (so 0.5 is the minimum). */
double ddb_read_units(size_t item_bytes, int consistent);

/* Write capacity: ceil(bytes / 1024) units, at least 1 (a write of a
 * missing or empty item still costs one). */
double ddb_write_units(size_t item_bytes);

#endif
