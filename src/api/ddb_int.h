/* ddb_int.h -- private to the DynamoDB API (ddb.c, ddb_table.c, ddb_write.c,
 * ddb_read.c).
 *
 * The protocol: POST / with X-Amz-Target: DynamoDB_20120810.<Operation>, a
 * JSON body (application/x-amz-json-1.0), SigV4 with a tenant's access key.
 * Errors are {"__type":"com.amazonaws.dynamodb.v20120810#<Name>","message":…},
 * HTTP 400 for client errors, 500 for internal ones.
 *
 * Items in storage do NOT carry their key attributes: the key lives in the
 * storage key (keycodec.h), and the REST API stores an entry's body without
 * its ID. The DynamoDB API strips the key attributes from items it writes
 * (ddb_strip_keys) and adds them back to items it reads (ddb_with_keys). So
 * both APIs see one table: the REST v1 ID is the partition key, named "id"
 * for tables the REST API creates.
 */
#ifndef DS_API_DDB_INT_H
#define DS_API_DDB_INT_H

#include "api/api.h"
#include "api/ddb_item.h"
#include "common/json.h"
#include "engine/keycodec.h"
#include "expr/expr.h"

#define DDB_MAX_PK_BYTES 2048
#define DDB_MAX_SK_BYTES 1024
#define DDB_PAGE_BYTES (1u << 20)          /* Query/Scan page: 1 MB of items read */
/* room to reserve for the JSON of an item of n bytes (ddb_item_size) and the
 * answer around it: base64 and type wrappers add up to about half */
#define DDB_JSON_RESERVE(n) ((n) + (n) / 2 + 256)
#define DDB_MAX_BATCH_WRITE 25
#define DDB_MAX_BATCH_GET 100
#define DDB_MAX_RESPONSE_BYTES (16u << 20) /* BatchGetItem answer */

/* One DynamoDB request being handled. Lives in the request's arena. */
typedef struct ddb_req {
    api_ctx *ctx;
    http_request *req;
    ds_arena *a;
    const json_value *body;
    meta_tenant *tenant; /* the caller (a reference, released after the op) */
    const char *op;
} ddb_req;

/* ---- answers (ddb.c) ---- */
void ddb_error(http_request *req, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ddb_invalid(r, ...) ddb_error((r)->req, 400, "ValidationException", __VA_ARGS__)
/* Answers 200 with body (consumed). */
void ddb_reply(http_request *req, ds_buf *body);
/* Appends ,"ConsumedCapacity":{...} for mode TOTAL / INDEXES (nothing for
 * NONE or NULL). */
void ddb_put_capacity(ds_buf *b, const char *mode, const char *table, double units);
/* Validates ReturnConsumedCapacity; returns "NONE", "TOTAL" or "INDEXES",
 * or NULL after answering a ValidationException. */
const char *ddb_capacity_mode(ddb_req *r, const json_value *body);

/* ---- request fields (ddb.c) ----
 * Each returns the member, NULL if absent; on a member of the wrong JSON type
 * it answers SerializationException and sets *bad. */
const json_value *ddb_field(ddb_req *r, const json_value *obj, const char *name, json_type type,
                            int *bad);
/* Looks up TableName (or the given name) of the caller's tenant; answers
 * ResourceNotFoundException / ValidationException and returns NULL if it
 * cannot. The table is a reference. */
meta_table *ddb_table(ddb_req *r, const json_value *name);
int ddb_valid_table_name(ddb_req *r, const json_value *name);

/* ---- keys (ddb.c) ---- */
/* The item type of a key type: KEY_S -> ITEM_S, KEY_N -> ITEM_N, KEY_B -> ITEM_B. */
item_type ddb_key_item_type(key_type t);
/* The key of tb from a Key map (exactly the key attributes, right types).
 * Returns DS_OK, or DS_EINVAL with a message in err. */
int ddb_key_from_map(ddb_req *r, meta_table *tb, const item_value *key, key_part *pk,
                     key_part *sk, char *err, size_t errlen);
/* The key of tb from a whole Item (key attributes present, right types). */
int ddb_key_from_item(ddb_req *r, meta_table *tb, const item_value *item, key_part *pk,
                      key_part *sk, char *err, size_t errlen);
/* Storage keys for (pk, sk): data key, index key and hash. */
int ddb_storage_key(meta_table *tb, const key_part *pk, const key_part *sk, ds_buf *key,
                    ds_buf *ikey, uint32_t *hash);
/* The key parts encoded in a data key. */
int ddb_key_from_storage(ds_arena *a, meta_table *tb, const char *key, size_t klen, key_part *pk,
                         key_part *sk);
/* item without tb's key attributes (a new M in a; item itself unchanged). */
item_value *ddb_strip_keys(ds_arena *a, meta_table *tb, const item_value *item);
/* item (NULL: empty) with tb's key attributes first. */
item_value *ddb_with_keys(ds_arena *a, meta_table *tb, const item_value *item, const key_part *pk,
                          const key_part *sk);
/* The Key map {pk: .., sk: ..} as a tree. */
item_value *ddb_key_map(ds_arena *a, meta_table *tb, const key_part *pk, const key_part *sk);

/* ---- expressions (ddb.c) ----
 * Builds the request's expression environment from ExpressionAttributeNames
 * and ExpressionAttributeValues. NULL after answering an error. */
expr_env *ddb_env(ddb_req *r, const json_value *obj);
/* Parses the optional expressions of obj (or their legacy forms) into the
 * out-pointers that are not NULL; checks unused names/values at the end.
 * Returns 0, or -1 after answering an error. */
typedef struct ddb_exprs {
    expr_cond *condition;  /* ConditionExpression | Expected */
    expr_cond *filter;     /* FilterExpression | QueryFilter | ScanFilter */
    expr_update *update;   /* UpdateExpression | AttributeUpdates */
    expr_proj *projection; /* ProjectionExpression | AttributesToGet */
    expr_key_cond key;     /* KeyConditionExpression | KeyConditions */
    int has_key;
} ddb_exprs;
enum {
    DDB_X_CONDITION = 1,
    DDB_X_FILTER = 2,
    DDB_X_UPDATE = 4,
    DDB_X_PROJECTION = 8,
    DDB_X_KEY = 16,
    DDB_X_QUERY_FILTER = 32, /* the legacy filter is QueryFilter (else ScanFilter) */
};
int ddb_parse_exprs(ddb_req *r, const json_value *obj, int which, ddb_exprs *out);

/* ---- operations ---- */
void ddb_create_table(ddb_req *r);
void ddb_delete_table(ddb_req *r);
void ddb_describe_table(ddb_req *r);
void ddb_list_tables(ddb_req *r);
void ddb_update_table(ddb_req *r);
void ddb_describe_endpoints(ddb_req *r);
void ddb_put_item(ddb_req *r);
void ddb_update_item(ddb_req *r);
void ddb_delete_item(ddb_req *r);
void ddb_batch_write_item(ddb_req *r);
void ddb_get_item(ddb_req *r);
void ddb_query(ddb_req *r);
void ddb_scan(ddb_req *r);
void ddb_batch_get_item(ddb_req *r);

/* Appends the TableDescription object of tb. status: "ACTIVE", "DELETING". */
void ddb_table_description(ddb_req *r, ds_buf *b, meta_table *tb, const char *status);

/* Releases the request's tenant reference. Called once per request, before
 * its answer is sent. */
void ddb_req_done(ddb_req *r);

/* The DynamoDB entry point (ddb.c): POST / with X-Amz-Target. */
void ddb_handle(api_ctx *ctx, http_request *req);

#endif
