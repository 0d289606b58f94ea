/* ddb.c -- the DynamoDB API's door: protocol, errors, authentication,
 * dispatch, and the helpers every operation shares (keys, expressions).
 * See ddb_int.h for the protocol and how items and keys are stored. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/ddb_int.h"
#include "api/ddb_legacy.h"
#include "crypto/crypto.h"

#define DDB_TARGET_PREFIX "DynamoDB_20120810."
/* JSON nesting of a request body: each of DynamoDB's 32 levels of M/L takes
 * two JSON levels ({"M":{"k":...}}), plus the envelope. Deeper documents
 * reach ddb_item.c, which answers with DynamoDB's own nesting error. */
#define DDB_JSON_MAX_DEPTH 128

/* ---- answers ----------------------------------------------------------- */
/* x-amzn-RequestId: unique, not secret. A random base drawn once per thread
 * plus a counter (drawing a nonce per request made libgcrypt gather entropy
 * on every answer: getrusage and getpid were 3% of a GetItem's CPU). */
static void request_id(char out[37]) {
    static _Thread_local uint64_t base, seq;
    if (!base) {
        crypto_nonce(&base, sizeof base);
        base |= 1;
    }
    /* the 32 hex digits of base, then seq, in the 8-4-4-4-12 layout of a
     * UUID; written by hand: snprintf was 1% of a GetItem's CPU */
    static const char hex[] = "0123456789ABCDEF";
    uint64_t v[2] = {base, ++seq};
    char *o = out;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) *o++ = '-';
        *o++ = hex[(v[i / 16] >> (60 - 4 * (i % 16))) & 15];
    }
    *o = 0;
}

static void respond(http_request *req, int status, ds_buf *body) {
    char rid[37];
    request_id(rid);
    http_header h[] = {{{"x-amzn-RequestId", 16}, {rid, 36}}};
    http_respond(req, status, "application/x-amz-json-1.0", h, 1, body->data, body->len);
    ds_buf_free(body);
}

void ddb_error(http_request *req, int status, const char *type, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ds_buf b = DS_BUF_INIT;
    ds_buf_printf(&b, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#%s\",\"message\":", type);
    json_write_string(&b, msg, strlen(msg));
    ds_buf_putc(&b, '}');
    respond(req, status, &b);
}

void ddb_reply(http_request *req, ds_buf *body) { respond(req, 200, body); }

void ddb_put_capacity(ds_buf *b, const char *mode, const char *table, double units) {
    if (!mode || !strcmp(mode, "NONE")) return;
    ds_buf_puts(b, ",\"ConsumedCapacity\":{\"TableName\":");
    json_write_string(b, table, strlen(table));
    ds_buf_printf(b, ",\"CapacityUnits\":%g", units);
    if (!strcmp(mode, "INDEXES")) ds_buf_printf(b, ",\"Table\":{\"CapacityUnits\":%g}", units);
    ds_buf_putc(b, '}');
}

const char *ddb_capacity_mode(ddb_req *r, const json_value *body) {
    int bad = 0;
    const json_value *v = ddb_field(r, body, "ReturnConsumedCapacity", JSON_STRING, &bad);
    if (bad) return NULL;
    if (!v) return "NONE";
    static const char *modes[] = {"NONE", "TOTAL", "INDEXES"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(v->u.str.s, modes[i])) return modes[i];
    ddb_invalid(r, "1 validation error detected: Value '%s' at 'returnConsumedCapacity' failed to "
                   "satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]",
                v->u.str.s);
    return NULL;
}

/* ---- request fields ---------------------------------------------------- */
static const char *json_type_name(json_type t) {
    static const char *n[] = {"null", "boolean", "boolean", "number", "string", "array", "object"};
    return n[t];
}

const json_value *ddb_field(ddb_req *r, const json_value *obj, const char *name, json_type type,
                            int *bad) {
    const json_value *v = obj ? json_get(obj, name) : NULL;
    if (!v || v->type == JSON_NULL) return NULL;
    int ok = v->type == type || (type == JSON_TRUE && v->type == JSON_FALSE) ||
             (type == JSON_FALSE && v->type == JSON_TRUE);
    if (!ok) {
        *bad = 1;
        ddb_error(r->req, 400, "SerializationException",
                  "Unexpected value type for %s: expected %s, got %s", name, json_type_name(type),
                  json_type_name(v->type));
        return NULL;
    }
    return v;
}

int ddb_valid_table_name(ddb_req *r, const json_value *name) {
    if (!name || name->type != JSON_STRING) {
        ddb_invalid(r, "1 validation error detected: Value null at 'tableName' failed to satisfy "
                       "constraint: Member must not be null");
        return 0;
    }
    if (!meta_valid_table_name(name->u.str.s, name->u.str.len)) {
        ddb_invalid(r, "1 validation error detected: Value '%.*s' at 'tableName' failed to "
                       "satisfy constraint: Member must satisfy regular expression pattern: "
                       "[a-zA-Z0-9_.-]+ and have length between 3 and 255",
                    (int)DS_MIN(name->u.str.len, 300), name->u.str.s);
        return 0;
    }
    return 1;
}

meta_table *ddb_table(ddb_req *r, const json_value *name) {
    if (!name) name = json_get(r->body, "TableName");
    if (!ddb_valid_table_name(r, name)) return NULL;
    meta_table *tb = meta_table_get(r->ctx->meta, r->tenant, name->u.str.s, name->u.str.len);
    if (!tb)
        ddb_error(r->req, 400, "ResourceNotFoundException",
                  "Requested resource not found: Table: %s not found", name->u.str.s);
    return tb;
}

/* ---- keys -------------------------------------------------------------- */
item_type ddb_key_item_type(key_type t) {
    return t == KEY_N ? ITEM_N : t == KEY_B ? ITEM_B : ITEM_S;
}

static int key_attr(ddb_req *r, const item_value *v, const char *name, key_type t, size_t max,
                    key_part *out, int from_item, char *err, size_t errlen) {
    (void)r;
    if (!v) {
        if (from_item)
            snprintf(err, errlen, "One or more parameter values were invalid: Missing the key %s "
                                  "in the item", name);
        else
            snprintf(err, errlen, "The provided key element does not match the schema");
        return DS_EINVAL;
    }
    if (v->type != ddb_key_item_type(t)) {
        if (from_item)
            snprintf(err, errlen, "One or more parameter values were invalid: Type mismatch for "
                                  "key %s expected: %s actual: %s",
                     name, expr_type_name(ddb_key_item_type(t)), expr_type_name(v->type));
        else
            snprintf(err, errlen, "The provided key element does not match the schema");
        return DS_EINVAL;
    }
    if (v->u.s.len == 0) {
        snprintf(err, errlen, "One or more parameter values are not valid. The AttributeValue for "
                              "a key attribute cannot contain an empty %s value. Key: %s",
                 t == KEY_B ? "binary" : "string", name);
        return DS_EINVAL;
    }
    if (v->u.s.len > max) {
        snprintf(err, errlen,
                 max == DDB_MAX_PK_BYTES
                     ? "One or more parameter values were invalid: Size of hashkey has exceeded "
                       "the maximum size limit of 2048 bytes"
                     : "One or more parameter values were invalid: Aggregated size of all range "
                       "keys has exceeded the size limit of 1024 bytes");
        return DS_EINVAL;
    }
    out->type = t, out->p = v->u.s.p, out->len = v->u.s.len;
    return DS_OK;
}

static int key_from(ddb_req *r, meta_table *tb, const item_value *m, key_part *pk, key_part *sk,
                    int from_item, char *err, size_t errlen) {
    if (!m || m->type != ITEM_M) {
        snprintf(err, errlen, "The provided key element does not match the schema");
        return DS_EINVAL;
    }
    int rc = key_attr(r, item_get(m, tb->pk_name, strlen(tb->pk_name)), tb->pk_name, tb->pk_type,
                      DDB_MAX_PK_BYTES, pk, from_item, err, errlen);
    if (rc) return rc;
    if (tb->sk_type) {
        rc = key_attr(r, item_get(m, tb->sk_name, strlen(tb->sk_name)), tb->sk_name, tb->sk_type,
                      DDB_MAX_SK_BYTES, sk, from_item, err, errlen);
        if (rc) return rc;
    }
    if (!from_item && m->u.m.n != (tb->sk_type ? 2u : 1u)) {
        snprintf(err, errlen, "The provided key element does not match the schema");
        return DS_EINVAL;
    }
    return DS_OK;
}

int ddb_key_from_map(ddb_req *r, meta_table *tb, const item_value *key, key_part *pk,
                     key_part *sk, char *err, size_t errlen) {
    return key_from(r, tb, key, pk, sk, 0, err, errlen);
}

int ddb_key_from_item(ddb_req *r, meta_table *tb, const item_value *item, key_part *pk,
                      key_part *sk, char *err, size_t errlen) {
    return key_from(r, tb, item, pk, sk, 1, err, errlen);
}

int ddb_storage_key(meta_table *tb, const key_part *pk, const key_part *sk, ds_buf *key,
                    ds_buf *ikey, uint32_t *hash) {
    int rc = keycodec_hash(pk, hash);
    if (rc == DS_OK) rc = keycodec_data_key(key, tb->id, *hash, pk, tb->sk_type ? sk : NULL);
    if (rc == DS_OK && ikey) rc = keycodec_index_key(ikey, tb->id, pk, tb->sk_type ? sk : NULL);
    return rc;
}

int ddb_key_from_storage(ds_arena *a, meta_table *tb, const char *key, size_t klen, key_part *pk,
                         key_part *sk) {
    const char *p = key + KEYCODEC_PREFIX_LEN, *end = key + klen;
    if (klen < KEYCODEC_PREFIX_LEN) return DS_ECORRUPT;
    int rc = keycodec_decode_component(a, tb->pk_type, &p, end, pk);
    if (rc == DS_OK && tb->sk_type) rc = keycodec_decode_component(a, tb->sk_type, &p, end, sk);
    return rc;
}

static int is_key_name(meta_table *tb, const char *name, size_t len) {
    return (strlen(tb->pk_name) == len && !memcmp(tb->pk_name, name, len)) ||
           (tb->sk_type && strlen(tb->sk_name) == len && !memcmp(tb->sk_name, name, len));
}

item_value *ddb_strip_keys(ds_arena *a, meta_table *tb, const item_value *item) {
    item_value *m = ds_arena_calloc(a, sizeof *m);
    m->type = ITEM_M;
    size_t n = item && item->type == ITEM_M ? item->u.m.n : 0;
    m->u.m.attrs = ds_arena_alloc(a, (n ? n : 1) * sizeof(item_attr));
    for (size_t i = 0; i < n; i++)
        if (!is_key_name(tb, item->u.m.attrs[i].name, item->u.m.attrs[i].name_len))
            m->u.m.attrs[m->u.m.n++] = item->u.m.attrs[i];
    return m;
}

static item_value *key_value(ds_arena *a, const key_part *kp) {
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = ddb_key_item_type(kp->type);
    v->u.s.p = kp->p, v->u.s.len = kp->len;
    return v;
}

item_value *ddb_with_keys(ds_arena *a, meta_table *tb, const item_value *item, const key_part *pk,
                          const key_part *sk) {
    size_t n = item && item->type == ITEM_M ? item->u.m.n : 0;
    item_value *m = ds_arena_calloc(a, sizeof *m);
    m->type = ITEM_M;
    m->u.m.attrs = ds_arena_alloc(a, (n + 2) * sizeof(item_attr));
    m->u.m.attrs[m->u.m.n++] = (item_attr){tb->pk_name, strlen(tb->pk_name), key_value(a, pk)};
    if (tb->sk_type)
        m->u.m.attrs[m->u.m.n++] = (item_attr){tb->sk_name, strlen(tb->sk_name), key_value(a, sk)};
    for (size_t i = 0; i < n; i++)
        if (!is_key_name(tb, item->u.m.attrs[i].name, item->u.m.attrs[i].name_len))
            m->u.m.attrs[m->u.m.n++] = item->u.m.attrs[i];
    return m;
}

item_value *ddb_key_map(ds_arena *a, meta_table *tb, const key_part *pk, const key_part *sk) {
    return ddb_with_keys(a, tb, NULL, pk, sk);
}

/* ---- expressions ------------------------------------------------------- */
expr_env *ddb_env(ddb_req *r, const json_value *obj) {
    char err[512];
    int bad = 0;
    expr_env *env = expr_env_new(r->a);
    const json_value *names = ddb_field(r, obj, "ExpressionAttributeNames", JSON_OBJECT, &bad);
    if (bad) return NULL;
    const json_value *values = ddb_field(r, obj, "ExpressionAttributeValues", JSON_OBJECT, &bad);
    if (bad) return NULL;
    if (names && expr_env_set_names(env, names, err, sizeof err)) {
        ddb_invalid(r, "%s", err);
        return NULL;
    }
    for (size_t i = 0; values && i < values->u.obj.n; i++) {
        const json_member *mb = &values->u.obj.members[i];
        item_value *v;
        int rc = ddb_value_from_json(r->a, mb->value, 1, &v, err, sizeof err);
        if (rc == DS_EPARSE) {
            ddb_error(r->req, 400, "SerializationException", "%s", err);
            return NULL;
        }
        if (rc == DS_OK) rc = expr_env_add_value(env, mb->key, mb->key_len, v, err, sizeof err);
        if (rc) {
            ddb_invalid(r, "ExpressionAttributeValues contains invalid value: %s for key %s", err,
                        mb->key);
            return NULL;
        }
    }
    return env;
}

/* The legacy parameter of each expression kind, for the "both" error. */
static const struct {
    int which;
    const char *expr, *legacy;
} expr_params[] = {
    {DDB_X_CONDITION, "ConditionExpression", "Expected"},
    {DDB_X_FILTER, "FilterExpression", NULL}, /* QueryFilter or ScanFilter */
    {DDB_X_UPDATE, "UpdateExpression", "AttributeUpdates"},
    {DDB_X_PROJECTION, "ProjectionExpression", "AttributesToGet"},
    {DDB_X_KEY, "KeyConditionExpression", "KeyConditions"},
};

/* Adds a legacy conversion's generated names and values to env and parses
 * its text with parse(). */
static int parse_legacy(ddb_req *r, expr_env *env, ddb_expr_out *lo, int which, void *out,
                        char *err, size_t errlen) {
    for (size_t i = 0; i < lo->nnames; i++)
        expr_env_add_name(env, lo->names[i].placeholder, lo->names[i].placeholder_len,
                          lo->names[i].attr, lo->names[i].attr_len);
    for (size_t i = 0; i < lo->nvalues; i++)
        if (expr_env_add_value(env, lo->values[i].placeholder, lo->values[i].placeholder_len,
                               lo->values[i].value, err, errlen))
            return DS_EINVAL;
    const char *s = lo->text;
    size_t n = lo->text_len;
    (void)r;
    switch (which) {
    case DDB_X_CONDITION: return expr_parse_condition(env, s, n, out, err, errlen);
    case DDB_X_FILTER: return expr_parse_filter(env, s, n, out, err, errlen);
    case DDB_X_UPDATE: return expr_parse_update(env, s, n, out, err, errlen);
    case DDB_X_PROJECTION: return expr_parse_projection(env, s, n, out, err, errlen);
    case DDB_X_KEY: return expr_parse_key_condition(env, s, n, out, err, errlen);
    }
    return DS_EINVAL;
}

int ddb_parse_exprs(ddb_req *r, const json_value *obj, int which, ddb_exprs *out) {
    memset(out, 0, sizeof *out);
    char err[1024];
    int bad = 0;
    const char *legacy_filter = which & DDB_X_QUERY_FILTER ? "QueryFilter" : "ScanFilter";
    /* DynamoDB refuses any legacy parameter together with any expression
     * parameter (measured against the live service: QueryFilter with
     * KeyConditionExpression is refused too), naming all of each side. */
    ds_buf used_expr = DS_BUF_INIT, used_legacy = DS_BUF_INIT;
    for (size_t i = 0; i < DS_ARRAY_LEN(expr_params); i++) {
        const char *lg = expr_params[i].legacy ? expr_params[i].legacy : legacy_filter;
        if (!(which & expr_params[i].which)) continue;
        const json_value *e = json_get(obj, expr_params[i].expr), *l = json_get(obj, lg);
        if (e && e->type != JSON_NULL)
            ds_buf_printf(&used_expr, "%s%s", used_expr.len ? ", " : "", expr_params[i].expr);
        if (l && l->type != JSON_NULL)
            ds_buf_printf(&used_legacy, "%s%s", used_legacy.len ? ", " : "", lg);
    }
    if (used_expr.len && used_legacy.len) {
        ddb_invalid(r, "Can not use both expression and non-expression parameters in the same "
                       "request: Non-expression parameters: {%s} Expression parameters: {%s}",
                    used_legacy.data, used_expr.data);
        ds_buf_free(&used_expr), ds_buf_free(&used_legacy);
        return -1;
    }
    int any_legacy = used_legacy.len > 0;
    ds_buf_free(&used_expr), ds_buf_free(&used_legacy);
    if (any_legacy && (json_get(obj, "ExpressionAttributeNames") ||
                        json_get(obj, "ExpressionAttributeValues"))) {
        ddb_invalid(r, "ExpressionAttributeNames and ExpressionAttributeValues can only be "
                       "specified when using expressions");
        return -1;
    }
    expr_env *env = ddb_env(r, obj);
    if (!env) return -1;
    const json_value *cop = ddb_field(r, obj, "ConditionalOperator", JSON_STRING, &bad);
    if (bad) return -1;
    if (cop && !(json_get(obj, "Expected") && (which & DDB_X_CONDITION)) &&
        !(json_get(obj, legacy_filter) && (which & DDB_X_FILTER))) {
        ddb_invalid(r, "ConditionalOperator cannot be used without Filter or Expected");
        return -1;
    }
    for (size_t i = 0; i < DS_ARRAY_LEN(expr_params); i++) {
        int w = expr_params[i].which;
        if (!(which & w)) continue;
        void *dst = w == DDB_X_CONDITION    ? (void *)&out->condition
                    : w == DDB_X_FILTER     ? (void *)&out->filter
                    : w == DDB_X_UPDATE     ? (void *)&out->update
                    : w == DDB_X_PROJECTION ? (void *)&out->projection
                                            : (void *)&out->key;
        const json_value *ex = ddb_field(r, obj, expr_params[i].expr, JSON_STRING, &bad);
        if (bad) return -1;
        const char *lgname = expr_params[i].legacy ? expr_params[i].legacy : legacy_filter;
        const json_value *lg = json_get(obj, lgname);
        if (lg && lg->type == JSON_NULL) lg = NULL;
        int rc = DS_OK;
        if (ex) {
            const char *s = ex->u.str.s;
            size_t n = ex->u.str.len;
            switch (w) {
            case DDB_X_CONDITION: rc = expr_parse_condition(env, s, n, dst, err, sizeof err); break;
            case DDB_X_FILTER: rc = expr_parse_filter(env, s, n, dst, err, sizeof err); break;
            case DDB_X_UPDATE: rc = expr_parse_update(env, s, n, dst, err, sizeof err); break;
            case DDB_X_PROJECTION: rc = expr_parse_projection(env, s, n, dst, err, sizeof err); break;
            case DDB_X_KEY: rc = expr_parse_key_condition(env, s, n, dst, err, sizeof err); break;
            }
        } else if (lg) {
            ddb_expr_out lo;
            memset(&lo, 0, sizeof lo);
            switch (w) {
            case DDB_X_CONDITION: rc = ddb_legacy_expected(r->a, lg, cop, &lo, err, sizeof err); break;
            case DDB_X_FILTER:
                rc = ddb_legacy_filter(r->a, lg, lgname, cop, &lo, err, sizeof err);
                break;
            case DDB_X_UPDATE: rc = ddb_legacy_attribute_updates(r->a, lg, &lo, err, sizeof err); break;
            case DDB_X_PROJECTION: rc = ddb_legacy_attributes_to_get(r->a, lg, &lo, err, sizeof err); break;
            case DDB_X_KEY: rc = ddb_legacy_key_conditions(r->a, lg, &lo, err, sizeof err); break;
            }
            if (rc == DS_EPARSE) {
                ddb_error(r->req, 400, "SerializationException", "%s", err);
                return -1;
            }
            if (rc == DS_OK && lo.text_len) rc = parse_legacy(r, env, &lo, w, dst, err, sizeof err);
        } else
            continue;
        if (rc) {
            ddb_invalid(r, "%s", err);
            return -1;
        }
        if (w == DDB_X_KEY) out->has_key = 1;
    }
    if (expr_env_check_unused(env, err, sizeof err)) {
        ddb_invalid(r, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- dispatch ---------------------------------------------------------- */
static const struct {
    const char *name;
    void (*fn)(ddb_req *r);
} ops[] = {
    {"CreateTable", ddb_create_table},     {"DeleteTable", ddb_delete_table},
    {"DescribeTable", ddb_describe_table}, {"ListTables", ddb_list_tables},
    {"UpdateTable", ddb_update_table},     {"DescribeEndpoints", ddb_describe_endpoints},
    {"PutItem", ddb_put_item},             {"UpdateItem", ddb_update_item},
    {"DeleteItem", ddb_delete_item},       {"BatchWriteItem", ddb_batch_write_item},
    {"GetItem", ddb_get_item},             {"Query", ddb_query},
    {"Scan", ddb_scan},                    {"BatchGetItem", ddb_batch_get_item},
};

void ddb_req_done(ddb_req *r) {
    meta_tenant_release(r->tenant);
    r->tenant = NULL;
}

static int authenticate(api_ctx *ctx, http_request *req, meta_tenant **out) {
    const ds_slice *h = http_header_get(req, "authorization");
    if (!h) {
        ddb_error(req, 400, "MissingAuthenticationTokenException",
                  "Request is missing Authentication Token");
        return -1;
    }
    if (h->len < 16 || strncmp(h->p, "AWS4-HMAC-SHA256", 16)) {
        ddb_error(req, 400, "IncompleteSignatureException",
                  "The DynamoDB API takes AWS Signature Version 4 (AWS4-HMAC-SHA256) only");
        return -1;
    }
    api_principal who;
    char err[512];
    int rc = api_authenticate(ctx, req, &who, err, sizeof err);
    if (rc == DS_ENOTFOUND) {
        ddb_error(req, 400, "UnrecognizedClientException",
                  "The security token included in the request is invalid.");
        return -1;
    }
    if (rc) {
        ddb_error(req, 400, "InvalidSignatureException", "%s", err);
        return -1;
    }
    *out = who.tenant;
    return 0;
}

void ddb_handle(api_ctx *ctx, http_request *req) {
    const ds_slice *target = http_header_get(req, "x-amz-target");
    size_t pl = strlen(DDB_TARGET_PREFIX);
    if (!target || target->len <= pl || memcmp(target->p, DDB_TARGET_PREFIX, pl))
        return ddb_error(req, 400, "UnknownOperationException",
                         "X-Amz-Target must be DynamoDB_20120810.<Operation>");
    const char *name = target->p + pl;
    size_t nl = target->len - pl;
    void (*fn)(ddb_req *) = NULL;
    for (size_t i = 0; i < DS_ARRAY_LEN(ops); i++)
        if (strlen(ops[i].name) == nl && !memcmp(ops[i].name, name, nl)) fn = ops[i].fn;
    ddb_req *r = ds_arena_calloc(req->arena, sizeof *r);
    r->ctx = ctx, r->req = req, r->a = req->arena;
    if (authenticate(ctx, req, &r->tenant)) return;
    if (!fn) {
        ddb_req_done(r);
        return ddb_error(req, 400, "UnknownOperationException", "Unknown operation %.*s",
                         (int)DS_MIN(nl, 64), name);
    }
    r->op = ds_arena_strndup(req->arena, name, nl);
    json_value *body;
    char err[256];
    if (json_parse(req->arena, req->body.data, req->body.len, DDB_JSON_MAX_DEPTH, &body, err,
                   sizeof err) ||
        body->type != JSON_OBJECT) {
        ddb_req_done(r);
        return ddb_error(req, 400, "SerializationException",
                         "Start of structure or map found where not expected: %s",
                         req->body.len ? err : "the body is empty");
    }
    r->body = body;
    fn(r);
}
