/* ddb_write.c -- DynamoDB writes: PutItem, UpdateItem, DeleteItem and
 * BatchWriteItem.
 *
 * Each write becomes a ds_op. When it has a condition or an update
 * expression it carries write_apply(), which the writer thread calls with
 * the stored item: the condition is evaluated and the update applied there,
 * with no other write in between, so both are atomic (ARCHITECTURE.md). The
 * answer is built on the request's loop thread once the write is durable.
 *
 * write_apply() works from a ddb_apply, which has two origins: the front
 * end fills it from the request (expressions compiled once, here, so every
 * error reaches the client before anything is sent), and on a cluster node
 * the "ddb" apply kind (cluster/opwire.h) fills it from the op's wire form.
 * When the router sends ops to another node (router->needs_wire), the front
 * end also writes that wire form:
 *
 *   MEMBER   TYPE                   DESCRIPTION
 *   kind     string                 "put" | "update" | "delete"
 *   pk, sk   [key type, base64]     the key parts as the request gave them
 *                                   (sk only for tables with a sort key)
 *   item     base64 item codec      put: the whole item, keys included
 *   cond     string                 condition expression text (absent: none)
 *   upd      string                 update expression text (absent: none)
 *   names    [[placeholder, attr]]  every #name the texts use
 *   values   [[placeholder, item]]  every :value, as base64 item codec bytes
 *
 * Legacy parameters (Expected, AttributeUpdates) travel in their rewritten
 * form (ddb_legacy.h): the generated text with its #__x / :__x pairs.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/ddb_int.h"
#include "api/ddb_legacy.h"
#include "common/base64.h"
#include "cluster/opwire.h"

typedef enum { W_PUT, W_UPDATE, W_DELETE } write_kind;
static const char *kind_names[] = {"put", "update", "delete"};
typedef enum { RV_NONE, RV_ALL_OLD, RV_UPDATED_OLD, RV_ALL_NEW, RV_UPDATED_NEW } return_values;
static const char *rv_names[] = {"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"};

/* What write_apply() needs, from either origin. Lives in the op's arena. */
typedef struct ddb_apply {
    meta_table *tb;
    write_kind kind;
    key_part pk, sk;
    item_value *put_item; /* PUT: the whole item, keys included */
    expr_cond *cond;
    expr_update *upd;
    item_value *full_old; /* the stored item with its keys (set by the writer) */
    item_value *full_new;
} ddb_apply;

typedef struct ddb_batch ddb_batch;

typedef struct ddb_write {
    ds_op op;
    ddb_apply ap;
    ddb_req *r;
    return_values rv;
    int rv_on_fail;       /* ReturnValuesOnConditionCheckFailure = ALL_OLD */
    const char *cap_mode;
    char err[512];        /* the writer's message for DS_EINVAL (op.err) */
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
/* op->apply of a conditional or updating write; op->apply_arg is a
 * ddb_apply. Messages of DS_EINVAL go to op->err. The previous item is kept
 * in op->old_item (when want_old) before the condition runs, so a failed
 * condition can still answer with it (ReturnValuesOnConditionCheckFailure). */
static int write_apply(ds_op *op, const item_value *old, item_value **out) {
    ddb_apply *ap = op->apply_arg;
    ds_arena *a = op->arena;
    ap->full_old = old ? ddb_with_keys(a, ap->tb, old, &ap->pk, &ap->sk) : NULL;
    if (op->want_old) op->old_item = (item_value *)old;
    if (ap->cond) {
        int ok = 0;
        if (expr_eval(ap->cond, ap->full_old, &ok, op->err, op->errlen)) return DS_EINVAL;
        if (!ok) return DS_ECONDITION;
    }
    switch (ap->kind) {
    case W_DELETE: *out = NULL; return DS_OK;
    case W_PUT: ap->full_new = ap->put_item; break;
    case W_UPDATE: {
        item_value *base = ap->full_old ? ap->full_old : ddb_with_keys(a, ap->tb, NULL, &ap->pk, &ap->sk);
        if (!ap->upd) ap->full_new = base;
        else if (expr_apply_update(a, ap->upd, base, &ap->full_new, op->err, op->errlen))
            return DS_EINVAL;
        if (ddb_item_size(ap->full_new) > DDB_MAX_ITEM_SIZE) {
            if (op->err)
                snprintf(op->err, op->errlen,
                         "Item size to update has exceeded the maximum allowed size");
            return DS_EINVAL;
        }
        break;
    }
    }
    *out = ddb_strip_keys(a, ap->tb, ap->full_new);
    return DS_OK;
}

/* ---- the wire form (cluster mode) ------------------------------------------ */
static void put_key_part(ds_buf *b, const char *name, const key_part *kp) {
    ds_buf_printf(b, ",\"%s\":[%d,\"", name, (int)kp->type);
    base64_encode(b, kp->p, kp->len, 0);
    ds_buf_puts(b, "\"]");
}

static void put_name(ds_buf *b, const char *ph, size_t phl, const char *attr, size_t al) {
    if (b->data[b->len - 1] != '[') ds_buf_putc(b, ',');
    ds_buf_putc(b, '[');
    json_write_string(b, ph, phl);
    ds_buf_putc(b, ',');
    json_write_string(b, attr, al);
    ds_buf_putc(b, ']');
}

static int put_value(ds_buf *b, const char *ph, size_t phl, const item_value *v) {
    if (b->data[b->len - 1] != '[') ds_buf_putc(b, ',');
    ds_buf_putc(b, '[');
    json_write_string(b, ph, phl);
    ds_buf_putc(b, ',');
    int rc = opwire_put_item(b, v);
    ds_buf_putc(b, ']');
    return rc;
}

/* The source text of the request's condition (which = DDB_X_CONDITION) or
 * update (DDB_X_UPDATE): the expression parameter, or the legacy one
 * rewritten again (ddb_parse_exprs accepted it, so this cannot fail) with
 * its generated names and values in *lo. */
static int expr_source(ddb_req *r, int which, ddb_expr_out *lo, const char **text, size_t *len) {
    char err[512];
    const json_value *ex = json_get(r->body, which == DDB_X_CONDITION ? "ConditionExpression"
                                                                       : "UpdateExpression");
    memset(lo, 0, sizeof *lo);
    if (ex && ex->type == JSON_STRING) {
        *text = ex->u.str.s, *len = ex->u.str.len;
        return DS_OK;
    }
    int rc = which == DDB_X_CONDITION
                 ? ddb_legacy_expected(r->a, json_get(r->body, "Expected"),
                                       json_get(r->body, "ConditionalOperator"), lo, err, sizeof err)
                 : ddb_legacy_attribute_updates(r->a, json_get(r->body, "AttributeUpdates"), lo,
                                                err, sizeof err);
    *text = lo->text, *len = lo->text_len;
    return rc;
}

/* Fills op->apply_kind and op->apply_wire from the request (see the table
 * at the top). Returns DS_OK, or an error code (answered by the caller). */
static int write_wire(ddb_write *w) {
    ddb_req *r = w->r;
    ddb_apply *ap = &w->ap;
    ds_buf *b = &w->op.apply_wire;
    ddb_expr_out lo[2];
    const char *text[2] = {NULL, NULL};
    size_t tlen[2] = {0, 0};
    int rc = DS_OK;
    memset(lo, 0, sizeof lo);
    if (ap->cond) rc = expr_source(r, DDB_X_CONDITION, &lo[0], &text[0], &tlen[0]);
    if (rc == DS_OK && ap->upd) rc = expr_source(r, DDB_X_UPDATE, &lo[1], &text[1], &tlen[1]);
    if (rc) return rc;
    ds_buf_reset(b);
    ds_buf_printf(b, "{\"kind\":\"%s\"", kind_names[ap->kind]);
    put_key_part(b, "pk", &ap->pk);
    if (ap->tb->sk_type) put_key_part(b, "sk", &ap->sk);
    if (ap->kind == W_PUT) {
        ds_buf_puts(b, ",\"item\":");
        if ((rc = opwire_put_item(b, ap->put_item))) return rc;
    }
    static const char *tnames[2] = {"cond", "upd"};
    for (int i = 0; i < 2; i++)
        if (text[i]) {
            ds_buf_printf(b, ",\"%s\":", tnames[i]);
            json_write_string(b, text[i], tlen[i]);
        }
    ds_buf_puts(b, ",\"names\":[");
    const json_value *ean = json_get(r->body, "ExpressionAttributeNames");
    for (size_t i = 0; ean && ean->type == JSON_OBJECT && i < ean->u.obj.n; i++) {
        const json_member *m = &ean->u.obj.members[i];
        if (m->value->type == JSON_STRING)
            put_name(b, m->key, m->key_len, m->value->u.str.s, m->value->u.str.len);
    }
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lo[k].nnames; i++)
            put_name(b, lo[k].names[i].placeholder, lo[k].names[i].placeholder_len,
                     lo[k].names[i].attr, lo[k].names[i].attr_len);
    ds_buf_puts(b, "],\"values\":[");
    const json_value *eav = json_get(r->body, "ExpressionAttributeValues");
    for (size_t i = 0; eav && eav->type == JSON_OBJECT && i < eav->u.obj.n; i++) {
        const json_member *m = &eav->u.obj.members[i];
        item_value *v;
        char err[512];
        if ((rc = ddb_value_from_json(r->a, m->value, 1, &v, err, sizeof err)) ||
            (rc = put_value(b, m->key, m->key_len, v)))
            return rc;
    }
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lo[k].nvalues; i++)
            if ((rc = put_value(b, lo[k].values[i].placeholder, lo[k].values[i].placeholder_len,
                                lo[k].values[i].value)))
                return rc;
    ds_buf_puts(b, "]}");
    w->op.apply_kind = "ddb";
    return DS_OK;
}

/* [type, base64] -> a key part of tb's type `want` in a. */
static int wire_key_part(ds_arena *a, const json_value *v, key_type want, key_part *out) {
    ds_buf raw = DS_BUF_INIT;
    if (!v || v->type != JSON_ARRAY || v->u.arr.n != 2 || v->u.arr.items[0]->type != JSON_NUMBER ||
        v->u.arr.items[1]->type != JSON_STRING || v->u.arr.items[0]->u.str.len != 1 ||
        v->u.arr.items[0]->u.str.s[0] - '0' != (int)want)
        return DS_EPARSE;
    const json_value *s = v->u.arr.items[1];
    if (base64_decode(&raw, s->u.str.s, s->u.str.len, 0)) return DS_EPARSE;
    out->type = want;
    out->p = ds_arena_strndup(a, raw.data ? raw.data : "", raw.len);
    out->len = raw.len;
    ds_buf_free(&raw);
    return DS_OK;
}

/* The "ddb" apply kind: rebuilds the ddb_apply of a write on the node that
 * runs it, compiling the expressions again against this node's table. */
static int ddb_apply_decode(ds_op *op, meta_table *tb, const json_value *wire, char *err,
                            size_t errlen) {
    ds_arena *a = op->arena;
    ddb_apply *ap = ds_arena_calloc(a, sizeof *ap);
    const json_value *kind = json_get(wire, "kind"), *names = json_get(wire, "names");
    const json_value *values = json_get(wire, "values");
    ap->tb = tb;
    if (wire->type != JSON_OBJECT || !kind || kind->type != JSON_STRING)
        return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: no kind");
    size_t k = 0;
    while (k < DS_ARRAY_LEN(kind_names) && strcmp(kind->u.str.s, kind_names[k])) k++;
    if (k == DS_ARRAY_LEN(kind_names))
        return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: unknown kind");
    ap->kind = (write_kind)k;
    if (wire_key_part(a, json_get(wire, "pk"), tb->pk_type, &ap->pk) ||
        (tb->sk_type && wire_key_part(a, json_get(wire, "sk"), tb->sk_type, &ap->sk)))
        return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: the key does not fit the table");
    if (ap->kind == W_PUT && opwire_get_item(a, wire, "item", &ap->put_item))
        return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: a put needs its item");
    expr_env *env = expr_env_new(a);
    for (size_t i = 0; names && names->type == JSON_ARRAY && i < names->u.arr.n; i++) {
        const json_value *p = names->u.arr.items[i];
        if (p->type != JSON_ARRAY || p->u.arr.n != 2 || p->u.arr.items[0]->type != JSON_STRING ||
            p->u.arr.items[1]->type != JSON_STRING ||
            expr_env_add_name(env, p->u.arr.items[0]->u.str.s, p->u.arr.items[0]->u.str.len,
                              p->u.arr.items[1]->u.str.s, p->u.arr.items[1]->u.str.len))
            return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: malformed names");
    }
    for (size_t i = 0; values && values->type == JSON_ARRAY && i < values->u.arr.n; i++) {
        const json_value *p = values->u.arr.items[i];
        json_member m;
        json_value one = {.type = JSON_OBJECT, .u.obj = {&m, 1}};
        item_value *v;
        if (p->type != JSON_ARRAY || p->u.arr.n != 2 || p->u.arr.items[0]->type != JSON_STRING)
            return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: malformed values");
        m = (json_member){"v", 1, p->u.arr.items[1]};
        if (opwire_get_item(a, &one, "v", &v) ||
            expr_env_add_value(env, p->u.arr.items[0]->u.str.s, p->u.arr.items[0]->u.str.len, v,
                               NULL, 0))
            return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: malformed values");
    }
    const json_value *cond = json_get(wire, "cond"), *upd = json_get(wire, "upd");
    if ((cond && cond->type != JSON_STRING) || (upd && upd->type != JSON_STRING))
        return ds_seterr(err, errlen, DS_EPARSE, "ddb apply: expressions are strings");
    if (cond && expr_parse_condition(env, cond->u.str.s, cond->u.str.len, &ap->cond, err, errlen))
        return DS_EINVAL;
    if (upd && expr_parse_update(env, upd->u.str.s, upd->u.str.len, &ap->upd, err, errlen))
        return DS_EINVAL;
    op->apply = write_apply;
    op->apply_arg = ap;
    return DS_OK;
}

__attribute__((constructor)) static void ddb_write_register(void) {
    opwire_register_apply("ddb", ddb_apply_decode);
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
    if (api_replication_mode(r->req, w->ap.tb, &op->async)) {
        ds_op_release(op);
        ddb_invalid(r, "X-DStore-Replication must be sync or async");
        return -1;
    }
    if (ddb_storage_key(w->ap.tb, &w->ap.pk, w->ap.tb->sk_type ? &w->ap.sk : NULL, &op->key,
                        &op->ikey, &op->hash)) {
        ds_op_release(op);
        ddb_invalid(r, "The provided key element does not match the schema");
        return -1;
    }
    op->table = w->ap.tb;
    op->done = write_done;
    op->done_arg = w;
    op->apply_arg = &w->ap;
    op->err = w->err;
    op->errlen = sizeof w->err;
    if (w->ap.cond || w->ap.kind == W_UPDATE) op->apply = write_apply;
    else if (w->ap.kind == W_PUT) op->item = ddb_strip_keys(r->a, w->ap.tb, w->ap.put_item);
    else op->is_delete = 1;
    /* The old item is decoded only when the answer needs it: for ReturnValues
     * or for the capacity of a write (the larger of old and new item). */
    op->want_old = w->rv != RV_NONE || w->rv_on_fail || (w->cap_mode && strcmp(w->cap_mode, "NONE"));
    if (op->apply && r->ctx->router->needs_wire) {
        int rc = write_wire(w);
        if (rc) {
            ds_op_release(op);
            ddb_error(r->req, 500, "InternalServerError",
                      "the write cannot be sent to its range leader: %s", ds_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* ---- the answer ------------------------------------------------------------ */
/* The previous and the new item with their keys: set by write_apply when
 * the op ran here, else rebuilt from what the range leader answered. Loop
 * thread only. */
static item_value *old_of(ddb_write *w) {
    if (w->ap.full_old) return w->ap.full_old;
    if (w->op.old_item)
        return w->ap.full_old = ddb_with_keys(w->r->a, w->ap.tb, w->op.old_item, &w->ap.pk, &w->ap.sk);
    return NULL;
}

static item_value *new_of(ddb_write *w) {
    if (w->ap.full_new) return w->ap.full_new;
    if (w->ap.kind == W_PUT) return w->ap.put_item;
    if (w->op.new_item)
        return w->ap.full_new = ddb_with_keys(w->r->a, w->ap.tb, w->op.new_item, &w->ap.pk, &w->ap.sk);
    return NULL;
}

static double units_of(ddb_write *w) {
    item_value *old = old_of(w), *nw = w->ap.kind == W_DELETE ? NULL : new_of(w);
    size_t os = old ? ddb_item_size(old) : 0, ns = nw ? ddb_item_size(nw) : 0;
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
        case RV_ALL_NEW: attrs = new_of(w); break;
        case RV_UPDATED_OLD:
            if (old) expr_updated_attrs(w->r->a, w->ap.upd, old, &attrs);
            break;
        case RV_UPDATED_NEW: expr_updated_attrs(w->r->a, w->ap.upd, new_of(w), &attrs); break;
        }
        ds_buf_putc(b, '{');
        if (attrs && attrs->type == ITEM_M && attrs->u.m.n) {
            ds_buf_puts(b, "\"Attributes\":");
            ddb_item_to_json(b, attrs);
        }
        if (w->cap_mode && strcmp(w->cap_mode, "NONE")) {
            ds_buf tmp = DS_BUF_INIT;
            ddb_put_capacity(&tmp, w->cap_mode, w->ap.tb->name, units_of(w));
            ds_buf_append(b, b->len > 1 ? tmp.data : tmp.data + 1, b->len > 1 ? tmp.len : tmp.len - 1);
            ds_buf_free(&tmp);
        }
        ds_buf_putc(b, '}');
        return 200;
    }
    if (rc == DS_ECONDITION) {
        *type = "ConditionalCheckFailedException";
        snprintf(msg, msglen, "The conditional request failed");
        if (w->rv_on_fail && old_of(w)) { /* the error body carries the item */
            ds_buf_puts(b, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                           "ConditionalCheckFailedException\",\"message\":\"The conditional "
                           "request failed\",\"Item\":");
            ddb_item_to_json(b, w->ap.full_old);
            ds_buf_putc(b, '}');
        }
        return 400;
    }
    if (rc == DS_EINVAL) {
        *type = "ValidationException";
        snprintf(msg, msglen, "%s", w->err);
        return 400;
    }
    if (rc == DS_ESTATE && atomic_load(&w->ap.tb->dropped)) {
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
    meta_table_release(w->ap.tb);
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
    w->ap.kind = kind;
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
        meta_table_release(w->ap.tb);
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
    if (bad || !(w->ap.tb = ddb_table(r, NULL))) return ddb_req_done(r);
    if (!item) {
        ddb_invalid(r, "1 validation error detected: Value null at 'item' failed to satisfy "
                       "constraint: Member must not be null");
        goto fail;
    }
    int rc = ddb_item_from_json(r->a, item, &w->ap.put_item, err, sizeof err);
    if (rc) {
        ddb_error(r->req, 400, rc == DS_EPARSE ? "SerializationException" : "ValidationException",
                  "%s", err);
        goto fail;
    }
    if (ddb_key_from_item(r, w->ap.tb, w->ap.put_item, &w->ap.pk, &w->ap.sk, err, sizeof err)) {
        ddb_invalid(r, "%s", err);
        goto fail;
    }
    if (ddb_item_size(w->ap.put_item) > DDB_MAX_ITEM_SIZE) {
        ddb_invalid(r, "Item size has exceeded the maximum allowed size");
        goto fail;
    }
    if (parse_rv(r, r->body, 0, &w->rv, &w->rv_on_fail) ||
        !(w->cap_mode = ddb_capacity_mode(r, r->body)) ||
        ddb_parse_exprs(r, r->body, DDB_X_CONDITION, &x) || storage_limit(r))
        goto fail;
    w->ap.cond = x.condition;
    return submit_single(r, w);
fail:
    meta_table_release(w->ap.tb);
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
    if (rc || ddb_key_from_map(r, w->ap.tb, k, &w->ap.pk, &w->ap.sk, err, sizeof err)) {
        ddb_invalid(r, "%s", err);
        return -1;
    }
    return 0;
}

void ddb_update_item(ddb_req *r) {
    ddb_write *w = new_write(r, W_UPDATE);
    ddb_exprs x;
    if (!(w->ap.tb = ddb_table(r, NULL))) return ddb_req_done(r);
    if (parse_key(r, w, r->body) || parse_rv(r, r->body, 1, &w->rv, &w->rv_on_fail) ||
        !(w->cap_mode = ddb_capacity_mode(r, r->body)) ||
        ddb_parse_exprs(r, r->body, DDB_X_CONDITION | DDB_X_UPDATE, &x))
        goto fail;
    w->ap.cond = x.condition;
    w->ap.upd = x.update;
    const char *keys[2] = {w->ap.tb->pk_name, w->ap.tb->sk_type ? w->ap.tb->sk_name : NULL};
    for (int i = 0; i < 2 && w->ap.upd; i++)
        if (keys[i] && expr_update_touches(w->ap.upd, keys[i], strlen(keys[i]))) {
            ddb_invalid(r, "One or more parameter values were invalid: Cannot update attribute "
                           "%s. This attribute is part of the key", keys[i]);
            goto fail;
        }
    if ((w->rv == RV_UPDATED_OLD || w->rv == RV_UPDATED_NEW) && !w->ap.upd) w->rv = RV_NONE;
    if (storage_limit(r)) goto fail;
    return submit_single(r, w);
fail:
    meta_table_release(w->ap.tb);
    ddb_req_done(r);
}

void ddb_delete_item(ddb_req *r) {
    ddb_write *w = new_write(r, W_DELETE);
    ddb_exprs x;
    if (!(w->ap.tb = ddb_table(r, NULL))) return ddb_req_done(r);
    if (parse_key(r, w, r->body) || parse_rv(r, r->body, 0, &w->rv, &w->rv_on_fail) ||
        !(w->cap_mode = ddb_capacity_mode(r, r->body)) ||
        ddb_parse_exprs(r, r->body, DDB_X_CONDITION, &x))
        goto fail;
    w->ap.cond = x.condition;
    return submit_single(r, w);
fail:
    meta_table_release(w->ap.tb);
    ddb_req_done(r);
}

/* ---- BatchWriteItem -------------------------------------------------------- */
static void release_batch(ddb_batch *bt) {
    for (size_t i = 0; i < bt->n; i++) {
        meta_table_release(bt->w[i]->ap.tb);
        ds_op_release(&bt->w[i]->op);
    }
}

static void finish_batch(void *arg) {
    ddb_batch *bt = arg;
    ddb_req *r = bt->r;
    int failed = DS_OK, dropped = 0;
    for (size_t i = 0; i < bt->n; i++)
        if (bt->w[i]->op.status) {
            failed = bt->w[i]->op.status;
            dropped |= atomic_load(&bt->w[i]->ap.tb->dropped);
        }
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"UnprocessedItems\":{}");
    if (!failed && strcmp(bt->cap_mode, "NONE")) {
        ds_buf_puts(&b, ",\"ConsumedCapacity\":[");
        /* one entry per table, in order of first appearance */
        for (size_t i = 0; i < bt->n; i++) {
            size_t j = 0;
            while (j < i && bt->w[j]->ap.tb != bt->w[i]->ap.tb) j++;
            if (j < i) continue;
            double units = 0;
            for (size_t k = i; k < bt->n; k++)
                if (bt->w[k]->ap.tb == bt->w[i]->ap.tb) units += units_of(bt->w[k]);
            if (i) ds_buf_putc(&b, ',');
            ds_buf_puts(&b, "{\"TableName\":");
            json_write_string(&b, bt->w[i]->ap.tb->name, strlen(bt->w[i]->ap.tb->name));
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
        if (failed == DS_ESTATE && dropped)
            return ddb_error(r->req, 400, "ResourceNotFoundException",
                             "Requested resource not found: a table of the batch was deleted");
        if (failed == DS_ESTATE || failed == DS_ENOSPACE)
            return ddb_error(r->req, 503, "ServiceUnavailableException",
                             "a write of the batch could not be taken right now; retry later");
        return ddb_error(r->req, 500, "InternalServerError", "a write of the batch failed: %s",
                         ds_strerror(failed));
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
    w->ap.tb = tb;
    meta_table_retain(tb);
    bt->w[bt->n++] = w;
    if (put) {
        const json_value *item = json_get(put, "Item");
        int rc = item && item->type == JSON_OBJECT
                     ? ddb_item_from_json(r->a, item, &w->ap.put_item, err, sizeof err)
                     : (snprintf(err, sizeof err, "PutRequest needs an Item"), DS_EINVAL);
        if (rc == DS_OK && ddb_key_from_item(r, tb, w->ap.put_item, &w->ap.pk, &w->ap.sk, err, sizeof err))
            rc = DS_EINVAL;
        if (rc == DS_OK && ddb_item_size(w->ap.put_item) > DDB_MAX_ITEM_SIZE)
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
