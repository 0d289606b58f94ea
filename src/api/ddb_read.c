/* ddb_read.c -- DynamoDB reads: GetItem, Query, Scan and BatchGetItem.
 *
 * Reads run on the connection's loop thread through the router and see
 * every acknowledged write. GetItem is one point read. Query reads one
 * partition: its items are the contiguous storage keys
 * [table | hash | pk | ...], narrowed by the sort-key condition, so it
 * touches only the items it returns (plus the ones its filter drops). Scan
 * walks the table (or one hash segment of it) in storage order. Both stop
 * at Limit items read or 1 MB of items read, as DynamoDB does, and return
 * LastEvaluatedKey when more remain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ddb_int.h"

/* ---- shared -------------------------------------------------------------- */
static int consistent_read(ddb_req *r, const json_value *obj, int *out) {
    int bad = 0;
    const json_value *v = ddb_field(r, obj, "ConsistentRead", JSON_TRUE, &bad);
    *out = v && v->type == JSON_TRUE;
    return bad ? -1 : 0;
}

static int projection_of(item_value *full, const expr_proj *proj, ds_arena *a, item_value **out) {
    if (!proj) {
        *out = full;
        return DS_OK;
    }
    return expr_project(a, proj, full, out);
}

/* The storage key of a Key / ExclusiveStartKey map; answers on error. */
static int key_of(ddb_req *r, meta_table *tb, const json_value *map, const char *what,
                  ds_buf *key, uint32_t *hash) {
    char err[512];
    item_value *k;
    key_part pk, sk;
    int rc = ddb_item_from_json(r->a, map, &k, err, sizeof err);
    if (rc == DS_EPARSE) {
        ddb_error(r->req, 400, "SerializationException", "%s", err);
        return -1;
    }
    if (rc || ddb_key_from_map(r, tb, k, &pk, &sk, err, sizeof err) ||
        ddb_storage_key(tb, &pk, &sk, key, NULL, hash)) {
        if (strcmp(what, "Key")) ddb_invalid(r, "The provided starting key is invalid: %s", err);
        else ddb_invalid(r, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- GetItem --------------------------------------------------------------- */
void ddb_get_item(ddb_req *r) {
    meta_table *tb = ddb_table(r, NULL);
    if (!tb) return ddb_req_done(r);
    int bad = 0, consistent;
    ddb_exprs x;
    const char *cap = ddb_capacity_mode(r, r->body);
    const json_value *key = cap ? ddb_field(r, r->body, "Key", JSON_OBJECT, &bad) : NULL;
    ds_buf k = DS_BUF_INIT;
    uint32_t hash;
    if (!cap || bad || consistent_read(r, r->body, &consistent) ||
        ddb_parse_exprs(r, r->body, DDB_X_PROJECTION, &x))
        goto out;
    if (!key) {
        ddb_invalid(r, "1 validation error detected: Value null at 'key' failed to satisfy "
                       "constraint: Member must not be null");
        goto out;
    }
    if (key_of(r, tb, key, "Key", &k, &hash)) goto out;
    item_value *item = NULL;
    int rc = router_read(r->ctx->router, tb, k.data, k.len, r->a, &item);
    if (rc && rc != DS_ENOTFOUND) {
        ddb_error(r->req, 500, "InternalServerError", "the read failed: %s", ds_strerror(rc));
        goto out;
    }
    ds_buf b = DS_BUF_INIT;
    ds_buf_putc(&b, '{');
    size_t size = 0;
    if (item) {
        key_part pk, sk;
        ddb_key_from_storage(r->a, tb, k.data, k.len, &pk, &sk);
        item_value *full = ddb_with_keys(r->a, tb, item, &pk, &sk), *out;
        size = ddb_item_size(full);
        projection_of(full, x.projection, r->a, &out);
        ds_buf_reserve(&b, DDB_JSON_RESERVE(size)); /* one allocation for the answer */
        ds_buf_puts(&b, "\"Item\":");
        ddb_item_to_json(&b, out);
    }
    if (strcmp(cap, "NONE")) {
        ds_buf tmp = DS_BUF_INIT;
        ddb_put_capacity(&tmp, cap, tb->name, ddb_read_units(size, consistent));
        ds_buf_append(&b, item ? tmp.data : tmp.data + 1, item ? tmp.len : tmp.len - 1);
        ds_buf_free(&tmp);
    }
    ds_buf_putc(&b, '}');
    ds_buf_free(&k);
    meta_table_release(tb);
    ddb_req_done(r);
    return ddb_reply(r->req, &b);
out:
    ds_buf_free(&k);
    meta_table_release(tb);
    ddb_req_done(r);
}

/* ---- one page of Query or Scan --------------------------------------------- */
typedef struct page {
    ddb_req *r;
    meta_table *tb;
    const expr_cond *filter;
    const expr_proj *proj;
    int count_only;
    size_t limit;          /* items to read at most (0: no limit) */
    size_t scanned, count, bytes;
    int full, more;        /* the page is full; more items remain */
    ds_buf *items;
    key_part last_pk, last_sk;
    int err;
} page;

static int page_item(const char *key, size_t klen, item_value *item, size_t stored, void *ud) {
    page *p = ud;
    (void)stored;
    if (p->full) { /* an item beyond a full page: there is more */
        p->more = 1;
        return 1;
    }
    key_part pk, sk;
    if (ddb_key_from_storage(p->r->a, p->tb, key, klen, &pk, &sk)) {
        p->err = DS_ECORRUPT;
        return 1;
    }
    item_value *full = ddb_with_keys(p->r->a, p->tb, item, &pk, &sk);
    size_t size = ddb_item_size(full);
    if (p->scanned && p->bytes + size > DDB_PAGE_BYTES) { /* 1 MB read: stop before it */
        p->more = 1;
        return 1;
    }
    p->scanned++;
    p->bytes += size;
    p->last_pk = pk, p->last_sk = sk;
    int ok = 1;
    if (p->filter) expr_eval(p->filter, full, &ok, NULL, 0);
    if (ok) {
        p->count++;
        if (!p->count_only) {
            item_value *out;
            projection_of(full, p->proj, p->r->a, &out);
            if (p->count > 1) ds_buf_putc(p->items, ',');
            ddb_item_to_json(p->items, out);
        }
    }
    if (p->limit && p->scanned == p->limit) p->full = 1;
    return 0;
}

/* Select, Limit, projection and capacity settings shared by Query and Scan.
 * Returns 0, or -1 after answering. */
typedef struct page_opts {
    const char *cap;
    int consistent, count_only;
    size_t limit;
    const json_value *esk;
} page_opts;

static int parse_page_opts(ddb_req *r, const ddb_exprs *x, page_opts *o) {
    int bad = 0;
    memset(o, 0, sizeof *o);
    if (!(o->cap = ddb_capacity_mode(r, r->body)) || consistent_read(r, r->body, &o->consistent))
        return -1;
    const json_value *idx = ddb_field(r, r->body, "IndexName", JSON_STRING, &bad);
    const json_value *sel = bad ? NULL : ddb_field(r, r->body, "Select", JSON_STRING, &bad);
    const json_value *lim = bad ? NULL : ddb_field(r, r->body, "Limit", JSON_NUMBER, &bad);
    o->esk = bad ? NULL : ddb_field(r, r->body, "ExclusiveStartKey", JSON_OBJECT, &bad);
    if (bad) return -1;
    if (idx) {
        ddb_invalid(r, "The table does not have the specified index: %s", idx->u.str.s);
        return -1;
    }
    if (lim) {
        long long l = atoll(lim->u.str.s);
        if (l < 1 || strchr(lim->u.str.s, '.') || strchr(lim->u.str.s, 'e')) {
            ddb_invalid(r, "1 validation error detected: Value '%s' at 'limit' failed to satisfy "
                           "constraint: Member must have value greater than or equal to 1",
                        lim->u.str.s);
            return -1;
        }
        o->limit = (size_t)l;
    }
    if (sel) {
        const char *s = sel->u.str.s;
        if (!strcmp(s, "COUNT")) o->count_only = 1;
        else if (!strcmp(s, "ALL_PROJECTED_ATTRIBUTES")) {
            ddb_invalid(r, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an "
                           "IndexName");
            return -1;
        } else if (!strcmp(s, "SPECIFIC_ATTRIBUTES")) {
            if (!x->projection) {
                ddb_invalid(r, "SPECIFIC_ATTRIBUTES requires a ProjectionExpression or "
                               "AttributesToGet");
                return -1;
            }
        } else if (strcmp(s, "ALL_ATTRIBUTES")) {
            ddb_invalid(r, "1 validation error detected: Value '%s' at 'select' failed to "
                           "satisfy constraint: Member must satisfy enum value set: "
                           "[SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]",
                        s);
            return -1;
        }
        if (x->projection && strcmp(s, "SPECIFIC_ATTRIBUTES")) {
            ddb_invalid(r, "Cannot specify the ProjectionExpression or AttributesToGet when "
                           "choosing to get %s", s);
            return -1;
        }
    }
    return 0;
}

/* Runs one page over [lo, hi) after `after` and answers. The items are
 * written straight into the answer (a page is up to 1 MB of items). */
static void run_page(ddb_req *r, meta_table *tb, const ddb_exprs *x, const page_opts *o,
                     const ds_buf *lo, const ds_buf *hi, const ds_buf *after, int reverse) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_reserve(&b, 4096); /* a small page's answer in one allocation */
    page p = {0};
    p.r = r, p.tb = tb, p.filter = x->filter, p.proj = x->projection;
    p.count_only = o->count_only, p.limit = o->limit, p.items = &b;
    ds_buf_puts(&b, o->count_only ? "{" : "{\"Items\":[");
    int rc = router_range(r->ctx->router, tb, lo, hi, after, reverse, r->a, page_item, &p);
    if (rc || p.err) {
        ds_buf_free(&b);
        meta_table_release(tb);
        ddb_req_done(r);
        return ddb_error(r->req, 500, "InternalServerError", "the read failed: %s",
                         ds_strerror(rc ? rc : p.err));
    }
    if (!o->count_only) ds_buf_puts(&b, "],");
    ds_buf_printf(&b, "\"Count\":%zu,\"ScannedCount\":%zu", p.count, p.scanned);
    if (p.more && p.scanned) {
        ds_buf_puts(&b, ",\"LastEvaluatedKey\":");
        ddb_item_to_json(&b, ddb_key_map(r->a, tb, &p.last_pk, &p.last_sk));
    }
    ddb_put_capacity(&b, o->cap, tb->name, ddb_read_units(p.bytes, o->consistent));
    ds_buf_putc(&b, '}');
    meta_table_release(tb);
    ddb_req_done(r);
    ddb_reply(r->req, &b);
}

/* ---- Query ------------------------------------------------------------------- */
static int key_value_part(const item_value *v, key_type t, key_part *out) {
    if (!v || v->type != ddb_key_item_type(t)) return DS_EINVAL;
    out->type = t, out->p = v->u.s.p, out->len = v->u.s.len;
    return DS_OK;
}

void ddb_query(ddb_req *r) {
    meta_table *tb = ddb_table(r, NULL);
    if (!tb) return ddb_req_done(r);
    ddb_exprs x;
    page_opts o;
    char err[512];
    int bad = 0;
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT, after = DS_BUF_INIT, tmp = DS_BUF_INIT;
    if (ddb_parse_exprs(r, r->body, DDB_X_KEY | DDB_X_FILTER | DDB_X_PROJECTION | DDB_X_QUERY_FILTER,
                        &x) ||
        parse_page_opts(r, &x, &o))
        goto fail;
    const json_value *fwd = ddb_field(r, r->body, "ScanIndexForward", JSON_TRUE, &bad);
    if (bad) goto fail;
    int reverse = fwd && fwd->type == JSON_FALSE;
    if (!x.has_key) {
        ddb_invalid(r, "Either the KeyConditions or KeyConditionExpression parameter must be "
                       "specified in the request.");
        goto fail;
    }
    if (expr_key_cond_check(&x.key, tb->pk_name, strlen(tb->pk_name),
                            tb->sk_type ? tb->sk_name : NULL,
                            tb->sk_type ? strlen(tb->sk_name) : 0, err, sizeof err)) {
        ddb_invalid(r, "%s", err);
        goto fail;
    }
    const char *keys[2] = {tb->pk_name, tb->sk_type ? tb->sk_name : NULL};
    for (int i = 0; i < 2; i++)
        if (keys[i] && expr_cond_references(x.filter, keys[i], strlen(keys[i]))) {
            ddb_invalid(r, "Filter Expression can only contain non-primary key attributes: "
                           "Primary key attribute: %s", keys[i]);
            goto fail;
        }
    key_part pk, v1, v2;
    if (key_value_part(x.key.pk_value, tb->pk_type, &pk) ||
        (x.key.sk_op != EXPR_SK_NONE && key_value_part(x.key.sk_v1, tb->sk_type, &v1)) ||
        (x.key.sk_op == EXPR_SK_BETWEEN && key_value_part(x.key.sk_v2, tb->sk_type, &v2))) {
        ddb_invalid(r, "One or more parameter values were invalid: Condition parameter type does "
                       "not match schema type");
        goto fail;
    }
    if (x.key.sk_op == EXPR_SK_BEGINS_WITH && tb->sk_type == KEY_N) {
        ddb_invalid(r, "Invalid KeyConditionExpression: Incorrect operand type for operator or "
                       "function; operator or function: begins_with, operand type: N");
        goto fail;
    }
    if (x.key.sk_op == EXPR_SK_BETWEEN) {
        int c = 0;
        expr_value_cmp(x.key.sk_v1, x.key.sk_v2, &c);
        if (c > 0) {
            ddb_invalid(r, "Invalid KeyConditionExpression: The BETWEEN operator requires upper "
                           "bound to be greater than or equal to lower bound; lower bound "
                           "operand: AttributeValue, upper bound operand: AttributeValue");
            goto fail;
        }
    }
    uint32_t hash;
    if (keycodec_hash(&pk, &hash) || keycodec_data_key(&lo, tb->id, hash, &pk, NULL)) {
        ddb_invalid(r, "The provided key element does not match the schema");
        goto fail;
    }
    /* lo = the partition's prefix; narrow [lo, hi) by the sort-key condition */
    ds_buf_append(&hi, lo.data, lo.len);
    keycodec_successor(&hi);
    ds_buf_append(&tmp, lo.data, lo.len);
    switch (x.key.sk_op) {
    case EXPR_SK_NONE: break;
    case EXPR_SK_EQ:
        keycodec_put_component(&lo, &v1);
        ds_buf_reset(&hi), ds_buf_append(&hi, lo.data, lo.len), keycodec_successor(&hi);
        break;
    case EXPR_SK_LT: ds_buf_reset(&hi), ds_buf_append(&hi, tmp.data, tmp.len),
                     keycodec_put_component(&hi, &v1); break;
    case EXPR_SK_LE:
        ds_buf_reset(&hi), ds_buf_append(&hi, tmp.data, tmp.len), keycodec_put_component(&hi, &v1);
        keycodec_successor(&hi);
        break;
    case EXPR_SK_GT: keycodec_put_component(&lo, &v1), keycodec_successor(&lo); break;
    case EXPR_SK_GE: keycodec_put_component(&lo, &v1); break;
    case EXPR_SK_BETWEEN:
        keycodec_put_component(&lo, &v1);
        ds_buf_reset(&hi), ds_buf_append(&hi, tmp.data, tmp.len), keycodec_put_component(&hi, &v2);
        keycodec_successor(&hi);
        break;
    case EXPR_SK_BEGINS_WITH:
        keycodec_put_prefix(&lo, &v1);
        ds_buf_reset(&hi), ds_buf_append(&hi, lo.data, lo.len), keycodec_successor(&hi);
        break;
    }
    const ds_buf *ap = NULL;
    if (o.esk) {
        uint32_t h2;
        if (key_of(r, tb, o.esk, "ExclusiveStartKey", &after, &h2)) goto fail;
        if (after.len < tmp.len || memcmp(after.data, tmp.data, tmp.len)) {
            ddb_invalid(r, "The provided starting key is invalid: The provided key element does "
                           "not match the schema");
            goto fail;
        }
        ap = &after;
    }
    run_page(r, tb, &x, &o, &lo, &hi, ap, reverse);
    tb = NULL;
fail:
    ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&after), ds_buf_free(&tmp);
    if (tb) {
        meta_table_release(tb);
        ddb_req_done(r);
    }
}

/* ---- Scan -------------------------------------------------------------------- */
void ddb_scan(ddb_req *r) {
    meta_table *tb = ddb_table(r, NULL);
    if (!tb) return ddb_req_done(r);
    ddb_exprs x;
    page_opts o;
    int bad = 0;
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT, after = DS_BUF_INIT;
    if (ddb_parse_exprs(r, r->body, DDB_X_FILTER | DDB_X_PROJECTION, &x) ||
        parse_page_opts(r, &x, &o))
        goto fail;
    const json_value *seg = ddb_field(r, r->body, "Segment", JSON_NUMBER, &bad);
    const json_value *tot = bad ? NULL : ddb_field(r, r->body, "TotalSegments", JSON_NUMBER, &bad);
    if (bad) goto fail;
    uint32_t lo_hash = 0, hi_hash = 0xffffffffu;
    if (seg || tot) {
        long long s = seg ? atoll(seg->u.str.s) : -1, t = tot ? atoll(tot->u.str.s) : -1;
        if (!seg || !tot) {
            ddb_invalid(r, "The TotalSegments parameter is required but was not present in the "
                           "request when parameter Segment is present");
            goto fail;
        }
        if (t < 1 || t > 1000000) {
            ddb_invalid(r, "1 validation error detected: Value '%lld' at 'totalSegments' failed "
                           "to satisfy constraint: Member must have value less than or equal to "
                           "1000000 and greater than or equal to 1", t);
            goto fail;
        }
        if (s < 0 || s >= t) {
            ddb_invalid(r, "The Segment parameter is zero-based and must be less than parameter "
                           "TotalSegments: Segment: %lld is not less than TotalSegments: %lld",
                        s, t);
            goto fail;
        }
        lo_hash = (uint32_t)(((uint64_t)s << 32) / (uint64_t)t);
        hi_hash = (uint32_t)((((uint64_t)s + 1) << 32) / (uint64_t)t - 1);
    }
    keycodec_hash_bounds(&lo, &hi, tb->id, lo_hash, hi_hash);
    const ds_buf *ap = NULL;
    if (o.esk) {
        uint32_t h;
        if (key_of(r, tb, o.esk, "ExclusiveStartKey", &after, &h)) goto fail;
        if (h < lo_hash || h > hi_hash) {
            ddb_invalid(r, "The provided Exclusive start key does not map to the provided "
                           "segment");
            goto fail;
        }
        ap = &after;
    }
    run_page(r, tb, &x, &o, &lo, &hi, ap, 0);
    tb = NULL;
fail:
    ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&after);
    if (tb) {
        meta_table_release(tb);
        ddb_req_done(r);
    }
}

/* ---- BatchGetItem ------------------------------------------------------------ */
typedef struct batch_table {
    const json_member *mb;
    meta_table *tb;
    ddb_exprs x;
    int consistent;
    double units; /* read capacity consumed */
} batch_table;

void ddb_batch_get_item(ddb_req *r) {
    int bad = 0;
    const json_value *ri = ddb_field(r, r->body, "RequestItems", JSON_OBJECT, &bad);
    const char *cap = bad ? NULL : ddb_capacity_mode(r, r->body);
    if (!cap) return ddb_req_done(r);
    size_t ntables = ri ? ri->u.obj.n : 0, total = 0;
    batch_table *bts = ds_arena_calloc(r->a, (ntables ? ntables : 1) * sizeof *bts);
    ds_buf b = DS_BUF_INIT, unprocessed = DS_BUF_INIT, k = DS_BUF_INIT;
    for (size_t i = 0; i < ntables; i++) {
        const json_value *keys = json_get(ri->u.obj.members[i].value, "Keys");
        total += keys && keys->type == JSON_ARRAY ? keys->u.arr.n : 0;
    }
    if (!ri || ntables == 0 || total == 0 || total > DDB_MAX_BATCH_GET) {
        ddb_invalid(r, "Too many items requested for the BatchGetItem call: the total number of "
                       "keys must be between 1 and 100");
        goto out;
    }
    for (size_t i = 0; i < ntables; i++) {
        batch_table *bt = &bts[i];
        bt->mb = &ri->u.obj.members[i];
        json_value name = {.type = JSON_STRING, .u.str = {bt->mb->key, bt->mb->key_len}};
        if (!(bt->tb = ddb_table(r, &name)) ||
            ddb_parse_exprs(r, bt->mb->value, DDB_X_PROJECTION, &bt->x) ||
            consistent_read(r, bt->mb->value, &bt->consistent))
            goto out;
    }
    ds_buf_puts(&b, "{\"Responses\":{");
    size_t bytes = 0;
    for (size_t i = 0; i < ntables; i++) {
        batch_table *bt = &bts[i];
        const json_value *keys = json_get(bt->mb->value, "Keys");
        if (i) ds_buf_putc(&b, ',');
        json_write_string(&b, bt->mb->key, bt->mb->key_len);
        ds_buf_puts(&b, ":[");
        size_t n = 0, read_bytes = 0, first_unprocessed = keys->u.arr.n;
        ds_buf *seen = ds_arena_calloc(r->a, keys->u.arr.n * sizeof *seen);
        for (size_t j = 0; j < keys->u.arr.n; j++) {
            uint32_t h;
            ds_buf_reset(&k);
            if (keys->u.arr.items[j]->type != JSON_OBJECT) {
                ddb_error(r->req, 400, "SerializationException", "each of Keys must be a map");
                goto out;
            }
            if (key_of(r, bt->tb, keys->u.arr.items[j], "Key", &k, &h)) goto out;
            for (size_t s = 0; s < j; s++)
                if (seen[s].len == k.len && !memcmp(seen[s].data, k.data, k.len)) {
                    ddb_invalid(r, "Provided list of item keys contains duplicates");
                    goto out;
                }
            seen[j].data = ds_arena_memdup(r->a, k.data, k.len), seen[j].len = k.len;
        }
        for (size_t j = 0; j < keys->u.arr.n; j++) {
            item_value *item = NULL;
            int rc = router_read(r->ctx->router, bt->tb, seen[j].data, seen[j].len, r->a, &item);
            if (rc == DS_ENOTFOUND) continue;
            if (rc) {
                ddb_error(r->req, 500, "InternalServerError", "the read failed: %s",
                          ds_strerror(rc));
                goto out;
            }
            key_part pk, sk;
            ddb_key_from_storage(r->a, bt->tb, seen[j].data, seen[j].len, &pk, &sk);
            item_value *full = ddb_with_keys(r->a, bt->tb, item, &pk, &sk), *out;
            size_t size = ddb_item_size(full);
            projection_of(full, bt->x.projection, r->a, &out);
            size_t before = b.len;
            if (n) ds_buf_putc(&b, ',');
            ddb_item_to_json(&b, out);
            if (bytes + (b.len - before) > DDB_MAX_RESPONSE_BYTES && bytes) {
                /* past 16 MB: this key and the rest go back as UnprocessedKeys */
                b.len = before;
                b.data[b.len] = 0;
                first_unprocessed = j;
                break;
            }
            n++;
            read_bytes += size;
            bytes += b.len - before;
        }
        ds_buf_putc(&b, ']');
        if (first_unprocessed < keys->u.arr.n) { /* over 16 MB: the rest for next time */
            if (unprocessed.len) ds_buf_putc(&unprocessed, ',');
            json_write_string(&unprocessed, bt->mb->key, bt->mb->key_len);
            ds_buf_puts(&unprocessed, ":{\"Keys\":[");
            for (size_t j = first_unprocessed; j < keys->u.arr.n; j++) {
                if (j > first_unprocessed) ds_buf_putc(&unprocessed, ',');
                json_write(&unprocessed, keys->u.arr.items[j]);
            }
            ds_buf_putc(&unprocessed, ']');
            static const char *carry[] = {"ProjectionExpression", "ExpressionAttributeNames",
                                          "AttributesToGet", "ConsistentRead"};
            for (size_t c = 0; c < DS_ARRAY_LEN(carry); c++) {
                const json_value *v = json_get(bt->mb->value, carry[c]);
                if (!v) continue;
                ds_buf_printf(&unprocessed, ",\"%s\":", carry[c]);
                json_write(&unprocessed, v);
            }
            ds_buf_putc(&unprocessed, '}');
        }
        bt->units = ddb_read_units(read_bytes, bt->consistent);
    }
    ds_buf_puts(&b, "},\"UnprocessedKeys\":{");
    ds_buf_append(&b, unprocessed.data ? unprocessed.data : "", unprocessed.len);
    ds_buf_putc(&b, '}');
    if (strcmp(cap, "NONE")) {
        ds_buf_puts(&b, ",\"ConsumedCapacity\":[");
        for (size_t i = 0; i < ntables; i++) {
            if (i) ds_buf_putc(&b, ',');
            ds_buf_puts(&b, "{\"TableName\":");
            json_write_string(&b, bts[i].tb->name, strlen(bts[i].tb->name));
            double u = bts[i].units;
            ds_buf_printf(&b, ",\"CapacityUnits\":%g", u);
            if (!strcmp(cap, "INDEXES")) ds_buf_printf(&b, ",\"Table\":{\"CapacityUnits\":%g}", u);
            ds_buf_putc(&b, '}');
        }
        ds_buf_putc(&b, ']');
    }
    ds_buf_putc(&b, '}');
    for (size_t i = 0; i < ntables; i++) meta_table_release(bts[i].tb);
    ds_buf_free(&unprocessed), ds_buf_free(&k);
    ddb_req_done(r);
    return ddb_reply(r->req, &b);
out:
    for (size_t i = 0; i < ntables; i++) meta_table_release(bts[i].tb);
    ds_buf_free(&b), ds_buf_free(&unprocessed), ds_buf_free(&k);
    ddb_req_done(r);
}
