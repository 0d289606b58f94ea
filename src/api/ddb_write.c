/* ddb_write.c -- DynamoDB writes: PutItem, UpdateItem, DeleteItem and
 * BatchWriteItem.
 *
 * Each write becomes a ds_op. When it has a condition or an update
 * expression it carries write_apply(), which the writer thread calls with
 * the stored item: the condition is evaluated and the update applied there,
 * with no other write in between, so both are atomic (ARCHITECTURE.md). The
 * answer is built on the request's loop thread once the write is durable.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/ddb_int.h"

typedef enum { W_PUT, W_UPDATE, W_DELETE } write_kind;
typedef enum { RV_NONE, RV_ALL_OLD, RV_UPDATED_OLD, RV_ALL_NEW, RV_UPDATED_NEW } return_values;
static const char *rv_names[] = {"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"};

typedef struct ddb_batch ddb_batch;

typedef struct ddb_write {
    ds_op op;
    ddb_req *r;
    meta_table *tb;
    write_kind kind;
    key_part pk, sk;
    item_value *put_item; /* PUT: the whole item, keys included */
    expr_cond *cond;
    expr_update *upd;
    return_values rv;
    int rv_on_fail;       /* ReturnValuesOnConditionCheckFailure = ALL_OLD */
    const char *cap_mode;
    item_value *full_old; /* the stored item with its keys (set by the writer) */
    item_value *full_new;
    char err[512];        /* the writer's message for DS_EINVAL */
    ddb_batch *batch;
} ddb_write;

struct ddb_batch {
    ddb_req *r;
    ddb_write **w;
    size_t n;
    atomic_size_t pending;
    const char *cap_mode;
};

/* ---- the writer side ----------------------------------------------------- */
static int write_apply(ds_op *op, const item_value *old, item_value **out) {
    ddb_write *w = op->apply_arg;
    ds_arena *a = op->arena;
    w->full_old = old ? ddb_with_keys(a, w->tb, old, &w->pk, &w->sk) : NULL;
    if (w->cond) {
        int ok = 0;
        if (expr_eval(w->cond, w->full_old, &ok, w->err, sizeof w->err)) return DS_EINVAL;
        if (!ok) return DS_ECONDITION;
    }
    switch (w->kind) {
    case W_DELETE: *out = NULL; return DS_OK;
    case W_PUT: w->full_new = w->put_item; break;
    case W_UPDATE: {
        item_value *base = w->full_old ? w->full_old : ddb_with_keys(a, w->tb, NULL, &w->pk, &w->sk);
        if (!w->upd) w->full_new = base;
        else if (expr_apply_update(a, w->upd, base, &w->full_new, w->err, sizeof w->err))
            return DS_EINVAL;
        if (ddb_item_size(w->full_new) > DDB_MAX_ITEM_SIZE) {
            snprintf(w->err, sizeof w->err,
                     "Item size to update has exceeded the maximum allowed size");
            return DS_EINVAL;
        }
        break;
    }
    }
    *out = ddb_strip_keys(a, w->tb, w->full_new);
    return DS_OK;
}

/* ---- preparing ------------------------------------------------------------- */
static int parse_rv(ddb_req *r, const json_value *obj, int update_ok, return_values *out,
                    int *on_fail) {
    int bad = 0;
    const json_value *v = ddb_field(r, obj, "ReturnValues", JSON_STRING, &bad);
    if (bad) return -1;
    *out = RV_NONE;
    if (v) {
        int found = 0;
        for (int i = 0; i < 5; i++)
            if (!strcmp(v->u.str.s, rv_names[i])) *out = (return_values)i, found = 1;
        if (!found || (!update_ok && *out != RV_NONE && *out != RV_ALL_OLD)) {
            ddb_invalid(r, "Return values set to invalid value");
            return -1;
        }
    }
    const json_value *f = ddb_field(r, obj, "ReturnValuesOnConditionCheckFailure", JSON_STRING, &bad);
    if (bad) return -1;
    *on_fail = 0;
    if (f) {
        if (strcmp(f->u.str.s, "ALL_OLD") && strcmp(f->u.str.s, "NONE")) {
            ddb_invalid(r, "1 validation error detected: Value '%s' at "
                           "'returnValuesOnConditionCheckFailure' failed to satisfy constraint: "
                           "Member must satisfy enum value set: [ALL_OLD, NONE]",
                        f->u.str.s);
            return -1;
        }
        *on_fail = !strcmp(f->u.str.s, "ALL_OLD");
    }
    return 0;
}

static void write_done(ds_op *op);

/* Fills the op of w once kind, tb, keys and expressions are set. Returns 0,
 * or -1 after answering. */
static int prepare_op(ddb_req *r, ddb_write *w) {
    ds_op *op = &w->op;
    ds_op_init(op, DS_OP_WRITE, r->a);
    if (ddb_storage_key(w->tb, &w->pk, w->tb->sk_type ? &w->sk : NULL, &op->key, &op->ikey,
                        &op->hash)) {
        ds_op_release(op);
        ddb_invalid(r, "The provided key element does not match the schema");
        return -1;
    }
    op->table = w->tb;
    op->done = write_done;
    op->done_arg = w;
    op->apply_arg = w;
    if (w->cond || w->kind == W_UPDATE) op->apply = write_apply;
    else if (w->kind == W_PUT) op->item = ddb_strip_keys(r->a, w->tb, w->put_item);
    else op->is_delete = 1;
    /* The old item is decoded only when the answer needs it: for ReturnValues
     * or for the capacity of a write (the larger of old and new item). */
    op->want_old = w->rv != RV_NONE || w->rv_on_fail || (w->cap_mode && strcmp(w->cap_mode, "NONE"));
    return 0;
}

/* ---- the answer ------------------------------------------------------------ */
static item_value *old_of(ddb_write *w) {
    if (w->full_old) return w->full_old;
    if (w->op.old_item) return ddb_with_keys(w->r->a, w->tb, w->op.old_item, &w->pk, &w->sk);
    return NULL;
}

static double units_of(ddb_write *w) {
    item_value *old = old_of(w);
    size_t os = old ? ddb_item_size(old) : 0;
    size_t ns = w->kind == W_DELETE ? 0 : ddb_item_size(w->full_new ? w->full_new : w->put_item);
    return ddb_write_units(os > ns ? os : ns);
}

/* Builds the single-item answer into b, or returns a status/type for an
 * error with the message in msg. */
static int single_answer(ddb_write *w, ds_buf *b, const char **type, char *msg, size_t msglen) {
    int rc = w->op.status;
    if (rc == DS_OK) {
        item_value *attrs = NULL;
        item_value *old = old_of(w);
        switch (w->rv) {
        case RV_NONE: break;
        case RV_ALL_OLD: attrs = old; break;
        case RV_ALL_NEW: attrs = w->full_new; break;
        case RV_UPDATED_OLD:
            if (old) expr_updated_attrs(w->r->a, w->upd, old, &attrs);
            break;
        case RV_UPDATED_NEW: expr_updated_attrs(w->r->a, w->upd, w->full_new, &attrs); break;
        }
        ds_buf_putc(b, '{');
        if (attrs && attrs->type == ITEM_M && attrs->u.m.n) {
            ds_buf_puts(b, "\"Attributes\":");
            ddb_item_to_json(b, attrs);
        }
        if (w->cap_mode && strcmp(w->cap_mode, "NONE")) {
            ds_buf tmp = DS_BUF_INIT;
            ddb_put_capacity(&tmp, w->cap_mode, w->tb->name, units_of(w));
            ds_buf_append(b, b->len > 1 ? tmp.data : tmp.data + 1, b->len > 1 ? tmp.len : tmp.len - 1);
            ds_buf_free(&tmp);
        }
        ds_buf_putc(b, '}');
        return 200;
    }
    if (rc == DS_ECONDITION) {
        *type = "ConditionalCheckFailedException";
        snprintf(msg, msglen, "The conditional request failed");
        if (w->rv_on_fail && w->full_old) { /* the error body carries the item */
            ds_buf_puts(b, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                           "ConditionalCheckFailedException\",\"message\":\"The conditional "
                           "request failed\",\"Item\":");
            ddb_item_to_json(b, w->full_old);
            ds_buf_putc(b, '}');
        }
        return 400;
    }
    if (rc == DS_EINVAL) {
        *type = "ValidationException";
        snprintf(msg, msglen, "%s", w->err);
        return 400;
    }
    if (rc == DS_ESTATE && atomic_load(&w->tb->dropped)) {
        *type = "ResourceNotFoundException";
        snprintf(msg, msglen, "Requested resource not found");
        return 400;
    }
    if (rc == DS_ESTATE || rc == DS_ENOSPACE) {
        *type = "ServiceUnavailableException";
        snprintf(msg, msglen, "the node cannot take writes right now; retry later");
        return 503;
    }
    *type = "InternalServerError";
    snprintf(msg, msglen, "the write failed: %s", ds_strerror(rc));
    return 500;
}

static void finish_single(void *arg) {
    ddb_write *w = arg;
    http_request *req = w->r->req;
    ds_buf b = DS_BUF_INIT;
    const char *type = NULL;
    char msg[600];
    int status = single_answer(w, &b, &type, msg, sizeof msg);
    meta_table_release(w->tb);
    ds_op_release(&w->op);
    ddb_req_done(w->r);
    if (status == 200) return ddb_reply(req, &b);
    if (b.len) { /* an error body already built (ConditionalCheckFailed with Item) */
        http_respond(req, status, "application/x-amz-json-1.0", NULL, 0, b.data, b.len);
        return ds_buf_free(&b);
    }
    ddb_error(req, status, type, "%s", msg);
}

static void finish_batch(void *arg);

static void write_done(ds_op *op) {
    ddb_write *w = op->done_arg;
    if (!w->batch) return http_post(w->r->req, finish_single, w);
    if (atomic_fetch_sub(&w->batch->pending, 1) == 1) http_post(w->r->req, finish_batch, w->batch);
}

/* ---- PutItem, UpdateItem, DeleteItem --------------------------------------- */
static ddb_write *new_write(ddb_req *r, write_kind kind) {
    ddb_write *w = ds_arena_calloc(r->a, sizeof *w);
    w->r = r;
    w->kind = kind;
    return w;
}

static int storage_limit(ddb_req *r) {
    const char *which;
    if (!api_over_storage_limit(r->ctx, r->req->body.len, &which)) return 0;
    ddb_error(r->req, 503, "ServiceUnavailableException",
              "the node is over its %s limit and refuses writes for now; retry later", which);
    return -1;
}

static void submit_single(ddb_req *r, ddb_write *w) {
    if (prepare_op(r, w)) {
        meta_table_release(w->tb);
        return ddb_req_done(r);
    }
    router_write(r->ctx->router, &w->op);
}

void ddb_put_item(ddb_req *r) {
    ddb_write *w = new_write(r, W_PUT);
    char err[512];
    int bad = 0;
    ddb_exprs x;
    const json_value *item = ddb_field(r, r->body, "Item", JSON_OBJECT, &bad);
    if (bad || !(w->tb = ddb_table(r, NULL))) return ddb_req_done(r);
    if (!item) {
        ddb_invalid(r, "1 validation error detected: Value null at 'item' failed to satisfy "
                       "constraint: Member must not be null");
        goto fail;
    }
    int rc = ddb_item_from_json(r->a, item, &w->put_item, err, sizeof err);
    if (rc) {
        ddb_error(r->req, 400, rc == DS_EPARSE ? "SerializationException" : "ValidationException",
                  "%s", err);
        goto fail;
    }
    if (ddb_key_from_item(r, w->tb, w->put_item, &w->pk, &w->sk, err, sizeof err)) {
        ddb_invalid(r, "%s", err);
        goto fail;
    }
    if (ddb_item_size(w->put_item) > DDB_MAX_ITEM_SIZE) {
        ddb_invalid(r, "Item size has exceeded the maximum allowed size");
        goto fail;
    }
    if (parse_rv(r, r->body, 0, &w->rv, &w->rv_on_fail) ||
        !(w->cap_mode = ddb_capacity_mode(r, r->body)) ||
        ddb_parse_exprs(r, r->body, DDB_X_CONDITION, &x) || storage_limit(r))
        goto fail;
    w->cond = x.condition;
    return submit_single(r, w);
fail:
    meta_table_release(w->tb);
    ddb_req_done(r);
}

/* The Key member of obj as a tree, checked against tb. */
static int parse_key(ddb_req *r, ddb_write *w, const json_value *obj) {
    char err[512];
    int bad = 0;
    const json_value *key = ddb_field(r, obj, "Key", JSON_OBJECT, &bad);
    if (bad) return -1;
    item_value *k;
    int rc = key ? ddb_item_from_json(r->a, key, &k, err, sizeof err) : DS_EINVAL;
    if (!key) snprintf(err, sizeof err, "1 validation error detected: Value null at 'key' failed "
                                        "to satisfy constraint: Member must not be null");
    if (rc == DS_EPARSE) {
        ddb_error(r->req, 400, "SerializationException", "%s", err);
        return -1;
    }
    if (rc || ddb_key_from_map(r, w->tb, k, &w->pk, &w->sk, err, sizeof err)) {
        ddb_invalid(r, "%s", err);
        return -1;
    }
    return 0;
}

void ddb_update_item(ddb_req *r) {
    ddb_write *w = new_write(r, W_UPDATE);
    ddb_exprs x;
    if (!(w->tb = ddb_table(r, NULL))) return ddb_req_done(r);
    if (parse_key(r, w, r->body) || parse_rv(r, r->body, 1, &w->rv, &w->rv_on_fail) ||
        !(w->cap_mode = ddb_capacity_mode(r, r->body)) ||
        ddb_parse_exprs(r, r->body, DDB_X_CONDITION | DDB_X_UPDATE, &x))
        goto fail;
    w->cond = x.condition;
    w->upd = x.update;
    const char *keys[2] = {w->tb->pk_name, w->tb->sk_type ? w->tb->sk_name : NULL};
    for (int i = 0; i < 2 && w->upd; i++)
        if (keys[i] && expr_update_touches(w->upd, keys[i], strlen(keys[i]))) {
            ddb_invalid(r, "One or more parameter values were invalid: Cannot update attribute "
                           "%s. This attribute is part of the key", keys[i]);
            goto fail;
        }
    if ((w->rv == RV_UPDATED_OLD || w->rv == RV_UPDATED_NEW) && !w->upd) w->rv = RV_NONE;
    if (storage_limit(r)) goto fail;
    return submit_single(r, w);
fail:
    meta_table_release(w->tb);
    ddb_req_done(r);
}

void ddb_delete_item(ddb_req *r) {
    ddb_write *w = new_write(r, W_DELETE);
    ddb_exprs x;
    if (!(w->tb = ddb_table(r, NULL))) return ddb_req_done(r);
    if (parse_key(r, w, r->body) || parse_rv(r, r->body, 0, &w->rv, &w->rv_on_fail) ||
        !(w->cap_mode = ddb_capacity_mode(r, r->body)) ||
        ddb_parse_exprs(r, r->body, DDB_X_CONDITION, &x))
        goto fail;
    w->cond = x.condition;
    return submit_single(r, w);
fail:
    meta_table_release(w->tb);
    ddb_req_done(r);
}

/* ---- BatchWriteItem -------------------------------------------------------- */
static void release_batch(ddb_batch *bt) {
    for (size_t i = 0; i < bt->n; i++) {
        meta_table_release(bt->w[i]->tb);
        ds_op_release(&bt->w[i]->op);
    }
}

static void finish_batch(void *arg) {
    ddb_batch *bt = arg;
    ddb_req *r = bt->r;
    int failed = DS_OK;
    for (size_t i = 0; i < bt->n; i++)
        if (bt->w[i]->op.status) failed = bt->w[i]->op.status;
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"UnprocessedItems\":{}");
    if (!failed && strcmp(bt->cap_mode, "NONE")) {
        ds_buf_puts(&b, ",\"ConsumedCapacity\":[");
        /* one entry per table, in order of first appearance */
        for (size_t i = 0; i < bt->n; i++) {
            size_t j = 0;
            while (j < i && bt->w[j]->tb != bt->w[i]->tb) j++;
            if (j < i) continue;
            double units = 0;
            for (size_t k = i; k < bt->n; k++)
                if (bt->w[k]->tb == bt->w[i]->tb) units += units_of(bt->w[k]);
            if (i) ds_buf_putc(&b, ',');
            ds_buf_puts(&b, "{\"TableName\":");
            json_write_string(&b, bt->w[i]->tb->name, strlen(bt->w[i]->tb->name));
            ds_buf_printf(&b, ",\"CapacityUnits\":%g", units);
            if (!strcmp(bt->cap_mode, "INDEXES"))
                ds_buf_printf(&b, ",\"Table\":{\"CapacityUnits\":%g}", units);
            ds_buf_putc(&b, '}');
        }
        ds_buf_putc(&b, ']');
    }
    ds_buf_putc(&b, '}');
    release_batch(bt);
    ddb_req_done(r);
    if (failed) {
        ds_buf_free(&b);
        return ddb_error(r->req, failed == DS_ESTATE ? 400 : 500,
                         failed == DS_ESTATE ? "ResourceNotFoundException" : "InternalServerError",
                         "a write of the batch failed: %s", ds_strerror(failed));
    }
    ddb_reply(r->req, &b);
}

static int batch_entry(ddb_req *r, ddb_batch *bt, meta_table *tb, const json_value *e) {
    char err[512];
    const json_value *put = json_get(e, "PutRequest"), *del = json_get(e, "DeleteRequest");
    if (e->type != JSON_OBJECT || (!put) == (!del)) {
        ddb_invalid(r, "Supplied AttributeValue has more than one datatypes set, must contain "
                       "exactly one of the supported datatypes: each WriteRequest needs exactly "
                       "one of PutRequest and DeleteRequest");
        return -1;
    }
    ddb_write *w = new_write(r, put ? W_PUT : W_DELETE);
    w->batch = bt;
    w->cap_mode = bt->cap_mode;
    w->tb = tb;
    meta_table_retain(tb);
    bt->w[bt->n++] = w;
    if (put) {
        const json_value *item = json_get(put, "Item");
        int rc = item && item->type == JSON_OBJECT
                     ? ddb_item_from_json(r->a, item, &w->put_item, err, sizeof err)
                     : (snprintf(err, sizeof err, "PutRequest needs an Item"), DS_EINVAL);
        if (rc == DS_OK && ddb_key_from_item(r, tb, w->put_item, &w->pk, &w->sk, err, sizeof err))
            rc = DS_EINVAL;
        if (rc == DS_OK && ddb_item_size(w->put_item) > DDB_MAX_ITEM_SIZE)
            rc = DS_EINVAL, snprintf(err, sizeof err, "Item size has exceeded the maximum allowed size");
        if (rc) {
            ddb_error(r->req, 400, rc == DS_EPARSE ? "SerializationException" : "ValidationException",
                      "%s", err);
            return -1;
        }
    } else if (parse_key(r, w, del))
        return -1;
    if (prepare_op(r, w)) {
        bt->n--;
        meta_table_release(tb);
        return -1;
    }
    for (size_t i = 0; i + 1 < bt->n; i++)
        if (bt->w[i]->op.key.len == w->op.key.len &&
            !memcmp(bt->w[i]->op.key.data, w->op.key.data, w->op.key.len)) {
            ddb_invalid(r, "Provided list of item keys contains duplicates");
            return -1;
        }
    return 0;
}

void ddb_batch_write_item(ddb_req *r) {
    int bad = 0;
    const json_value *ri = ddb_field(r, r->body, "RequestItems", JSON_OBJECT, &bad);
    if (bad) return ddb_req_done(r);
    ddb_batch *bt = ds_arena_calloc(r->a, sizeof *bt);
    bt->r = r;
    if (!(bt->cap_mode = ddb_capacity_mode(r, r->body))) return ddb_req_done(r);
    size_t total = 0;
    for (size_t i = 0; ri && i < ri->u.obj.n; i++) {
        const json_value *list = ri->u.obj.members[i].value;
        total += list->type == JSON_ARRAY ? list->u.arr.n : 0;
    }
    if (!ri || ri->u.obj.n == 0 || total == 0 || total > DDB_MAX_BATCH_WRITE) {
        ddb_req_done(r);
        return ddb_invalid(r, "1 validation error detected: Value at 'requestItems' failed to "
                              "satisfy constraint: Map value must satisfy constraint: [Member "
                              "must have length less than or equal to 25, Member must have "
                              "length greater than or equal to 1]");
    }
    bt->w = ds_arena_alloc(r->a, total * sizeof *bt->w);
    for (size_t i = 0; i < ri->u.obj.n; i++) {
        const json_member *mb = &ri->u.obj.members[i];
        json_value name = {.type = JSON_STRING, .u.str = {mb->key, mb->key_len}};
        meta_table *tb = ddb_table(r, &name);
        if (!tb) goto fail;
        const json_value *list = mb->value;
        for (size_t j = 0; list->type == JSON_ARRAY && j < list->u.arr.n; j++)
            if (batch_entry(r, bt, tb, list->u.arr.items[j])) {
                meta_table_release(tb);
                goto fail;
            }
        meta_table_release(tb);
    }
    if (storage_limit(r)) goto fail;
    atomic_init(&bt->pending, bt->n);
    for (size_t i = 0; i < bt->n; i++) router_write(r->ctx->router, &bt->w[i]->op);
    return;
fail:
    release_batch(bt);
    ddb_req_done(r);
}
