/* opwire.c -- ops, reads and answers as internal RPC bodies (see opwire.h
 * for the formats), and the registry of apply kinds. */
#include "cluster/opwire.h"

#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "control/meta.h"

/* Depth of an op request: the envelope plus an embedded apply (a REST merge
 * patch may nest as deep as the REST API accepts). */
#define OPWIRE_MAX_DEPTH (JSON_DEFAULT_MAX_DEPTH + 8)

/* ---- writing ---------------------------------------------------------------- */
static void put_b64(ds_buf *b, const void *p, size_t n) {
    ds_buf_putc(b, '"');
    base64_encode(b, p, n, 0);
    ds_buf_putc(b, '"');
}

int opwire_put_item(ds_buf *out, const item_value *v) {
    ds_buf enc = DS_BUF_INIT;
    int rc = item_encode(&enc, v);
    if (rc == DS_OK) put_b64(out, enc.data ? enc.data : "", enc.len);
    ds_buf_free(&enc);
    return rc;
}

/* ,"name": */
static void member(ds_buf *b, const char *name) {
    if (b->len && b->data[b->len - 1] != '{') ds_buf_putc(b, ',');
    ds_buf_printf(b, "\"%s\":", name);
}

/* ---- reading ------------------------------------------------------------------ */
static int fail(char *err, size_t errlen, const char *fmt, const char *name) {
    return ds_seterr(err, errlen, DS_EPARSE, fmt, name);
}

/* Unsigned decimal integer member (no sign, fraction or exponent). */
static int get_u64(const json_value *o, const char *name, int required, uint64_t max, uint64_t *out,
                   char *err, size_t errlen) {
    const json_value *v = json_get(o, name);
    if (!v) return required ? fail(err, errlen, "missing member \"%s\"", name) : DS_OK;
    if (v->type != JSON_NUMBER || v->u.str.len > 20)
        return fail(err, errlen, "member \"%s\" is not an unsigned integer", name);
    uint64_t x = 0;
    for (size_t i = 0; i < v->u.str.len; i++) {
        char c = v->u.str.s[i];
        if (c < '0' || c > '9' || x > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return fail(err, errlen, "member \"%s\" is not an unsigned integer", name);
        x = x * 10 + (uint64_t)(c - '0');
    }
    if (x > max) return fail(err, errlen, "member \"%s\" is out of range", name);
    *out = x;
    return DS_OK;
}

/* A DS_* status: 0 or a small negative integer. */
static int get_status(const json_value *o, int *out, char *err, size_t errlen) {
    const json_value *v = json_get(o, "status");
    if (!v) return fail(err, errlen, "missing member \"%s\"", "status");
    const char *s = v->type == JSON_NUMBER ? v->u.str.s : "x";
    size_t n = v->type == JSON_NUMBER ? v->u.str.len : 1, i = s[0] == '-';
    int x = 0;
    if (n == i || n - i > 4) return fail(err, errlen, "member \"%s\" is not a status", "status");
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(err, errlen, "member \"%s\" is not a status", "status");
        x = x * 10 + (s[i] - '0');
    }
    if (s[0] != '-' && x != 0) return fail(err, errlen, "member \"%s\" is not a status", "status");
    *out = -x;
    return DS_OK;
}

static int get_bool(const json_value *o, const char *name, int *out, char *err, size_t errlen) {
    const json_value *v = json_get(o, name);
    *out = 0;
    if (!v) return DS_OK;
    if (v->type != JSON_TRUE && v->type != JSON_FALSE)
        return fail(err, errlen, "member \"%s\" is not a boolean", name);
    *out = v->type == JSON_TRUE;
    return DS_OK;
}

static int get_str(const json_value *o, const char *name, int required, const json_value **out,
                   char *err, size_t errlen) {
    const json_value *v = json_get(o, name);
    *out = NULL;
    if (!v) return required ? fail(err, errlen, "missing member \"%s\"", name) : DS_OK;
    if (v->type != JSON_STRING) return fail(err, errlen, "member \"%s\" is not a string", name);
    *out = v;
    return DS_OK;
}

/* Decodes base64 text into a (NUL-terminated copy). */
static int b64_slice(ds_arena *a, const json_value *v, ds_slice *out) {
    ds_buf b = DS_BUF_INIT;
    int rc = base64_decode(&b, v->u.str.s, v->u.str.len, 0);
    if (rc == DS_OK) {
        out->p = ds_arena_strndup(a, b.data ? b.data : "", b.len);
        out->len = b.len;
    }
    ds_buf_free(&b);
    return rc ? DS_EPARSE : DS_OK;
}

/* Base64 member -> bytes in a. Absent: DS_ENOTFOUND when !required. */
static int get_b64(ds_arena *a, const json_value *o, const char *name, int required, ds_slice *out,
                   char *err, size_t errlen) {
    const json_value *v;
    int rc = get_str(o, name, required, &v, err, errlen);
    if (rc) return rc;
    if (!v) return DS_ENOTFOUND;
    if (b64_slice(a, v, out)) return fail(err, errlen, "member \"%s\" is not base64", name);
    return DS_OK;
}

static int decode_item(ds_arena *a, const json_value *v, item_value **out) {
    ds_slice s;
    if (v->type != JSON_STRING || b64_slice(a, v, &s)) return DS_EPARSE;
    return item_decode(a, s.p, s.len, out) ? DS_EPARSE : DS_OK;
}

int opwire_get_item(ds_arena *a, const json_value *obj, const char *name, item_value **out) {
    const json_value *v = json_get(obj, name);
    if (!v) return DS_ENOTFOUND;
    return decode_item(a, v, out);
}

/* An item member: absent leaves *out NULL. */
static int get_item(ds_arena *a, const json_value *o, const char *name, item_value **out, char *err,
                    size_t errlen) {
    *out = NULL;
    int rc = opwire_get_item(a, o, name, out);
    if (rc == DS_ENOTFOUND) return DS_OK;
    if (rc) return fail(err, errlen, "member \"%s\" is not an encoded item", name);
    return DS_OK;
}

static int parse_object(ds_arena *a, const char *body, size_t len, json_value **out, char *err,
                        size_t errlen) {
    char jerr[160];
    if (json_parse(a, body, len, OPWIRE_MAX_DEPTH, out, jerr, sizeof jerr))
        return ds_seterr(err, errlen, DS_EPARSE, "not JSON: %s", jerr);
    if ((*out)->type != JSON_OBJECT) return ds_seterr(err, errlen, DS_EPARSE, "not a JSON object");
    return DS_OK;
}

/* ---- ops -------------------------------------------------------------------------- */
static const char *precond_names[] = {"none", "exists", "notExists"};

int opwire_encode_op(ds_buf *out, const ds_op *op) {
    if (op->kind != DS_OP_WRITE || !op->table) return DS_EINVAL;
    if (op->apply && (!op->apply_kind || !op->apply_wire.len)) return DS_EINVAL;
    if ((unsigned)op->precond >= DS_ARRAY_LEN(precond_names)) return DS_EINVAL;
    ds_buf_printf(out,
                  "{\"table\":%llu,\"kind\":\"write\",\"key\":", (unsigned long long)op->table->id);
    put_b64(out, op->key.data ? op->key.data : "", op->key.len);
    ds_buf_puts(out, ",\"ikey\":");
    put_b64(out, op->ikey.data ? op->ikey.data : "", op->ikey.len);
    ds_buf_printf(out, ",\"hash\":%u", op->hash);
    if (op->precond) ds_buf_printf(out, ",\"precond\":\"%s\"", precond_names[op->precond]);
    if (op->is_delete) ds_buf_puts(out, ",\"delete\":true");
    if (op->item && !op->apply) {
        ds_buf_puts(out, ",\"item\":");
        if (opwire_put_item(out, op->item)) return DS_EINVAL;
    }
    if (op->apply) {
        ds_buf_puts(out, ",\"applyKind\":");
        json_write_string(out, op->apply_kind, strlen(op->apply_kind));
        ds_buf_puts(out, ",\"apply\":");
        ds_buf_append(out, op->apply_wire.data, op->apply_wire.len);
    }
    if (op->want_old) ds_buf_puts(out, ",\"wantOld\":true");
    if (op->max_item_bytes) ds_buf_printf(out, ",\"maxItemBytes\":%zu", op->max_item_bytes);
    if (op->async) ds_buf_puts(out, ",\"async\":true");
    ds_buf_putc(out, '}');
    return DS_OK;
}

static int get_buf(ds_arena *a, const json_value *o, const char *name, ds_buf *out, char *err,
                   size_t errlen) {
    ds_slice s;
    int rc = get_b64(a, o, name, 1, &s, err, errlen);
    if (rc) return rc;
    ds_buf_reset(out);
    ds_buf_append(out, s.p, s.len);
    return DS_OK;
}

int opwire_decode_op(const char *body, size_t len, ds_op *op, uint64_t *table_id,
                     const json_value **apply, char *err, size_t errlen) {
    ds_arena *a = op->arena;
    json_value *o;
    const json_value *kind, *pre, *ak;
    uint64_t hash = 0, max = 0;
    *apply = NULL;
    int rc = parse_object(a, body, len, &o, err, errlen);
    if (rc) return rc;
    if ((rc = get_u64(o, "table", 1, UINT64_MAX, table_id, err, errlen)) ||
        (rc = get_str(o, "kind", 1, &kind, err, errlen)))
        return rc;
    if (strcmp(kind->u.str.s, "write"))
        return ds_seterr(err, errlen, DS_EPARSE, "only write ops cross the wire");
    if ((rc = get_buf(a, o, "key", &op->key, err, errlen)) ||
        (rc = get_buf(a, o, "ikey", &op->ikey, err, errlen)) ||
        (rc = get_u64(o, "hash", 1, UINT32_MAX, &hash, err, errlen)) ||
        (rc = get_str(o, "precond", 0, &pre, err, errlen)) ||
        (rc = get_bool(o, "delete", &op->is_delete, err, errlen)) ||
        (rc = get_item(a, o, "item", &op->item, err, errlen)) ||
        (rc = get_str(o, "applyKind", 0, &ak, err, errlen)) ||
        (rc = get_bool(o, "wantOld", &op->want_old, err, errlen)) ||
        (rc = get_u64(o, "maxItemBytes", 0, SIZE_MAX, &max, err, errlen)) ||
        (rc = get_bool(o, "async", &op->async, err, errlen)))
        return rc;
    op->kind = DS_OP_WRITE;
    op->hash = (uint32_t)hash;
    op->max_item_bytes = (size_t)max;
    op->precond = DS_PRECOND_NONE;
    if (pre) {
        size_t i = 0;
        while (i < DS_ARRAY_LEN(precond_names) && strcmp(pre->u.str.s, precond_names[i]))
            i++;
        if (i == DS_ARRAY_LEN(precond_names))
            return ds_seterr(err, errlen, DS_EPARSE, "unknown precond \"%.40s\"", pre->u.str.s);
        op->precond = (ds_precond)i;
    }
    const json_value *aw = json_get(o, "apply");
    if (!ak != !aw) return ds_seterr(err, errlen, DS_EPARSE, "applyKind and apply go together");
    if (ak) {
        if (op->item) return ds_seterr(err, errlen, DS_EPARSE, "an op has an item or an apply");
        op->apply_kind = ak->u.str.s;
        *apply = aw;
    }
    return DS_OK;
}

int opwire_encode_answer(ds_buf *out, const opwire_answer *ans) {
    ds_buf_printf(out, "{\"status\":%d", ans->status);
    if (ans->err && ans->err[0]) {
        ds_buf_puts(out, ",\"err\":");
        json_write_string(out, ans->err, strlen(ans->err));
    }
    if (ans->old_item) {
        ds_buf_puts(out, ",\"old\":");
        if (opwire_put_item(out, ans->old_item)) return DS_EINVAL;
    }
    if (ans->new_item) {
        ds_buf_puts(out, ",\"new\":");
        if (opwire_put_item(out, ans->new_item)) return DS_EINVAL;
    }
    ds_buf_putc(out, '}');
    return DS_OK;
}

int opwire_decode_answer(ds_arena *a, const char *body, size_t len, opwire_answer *out, char *err,
                         size_t errlen) {
    json_value *o;
    const json_value *e;
    memset(out, 0, sizeof *out);
    out->err = "";
    int rc = parse_object(a, body, len, &o, err, errlen);
    if (rc == DS_OK) rc = get_status(o, &out->status, err, errlen);
    if (rc == DS_OK) rc = get_str(o, "err", 0, &e, err, errlen);
    if (rc == DS_OK && e) out->err = e->u.str.s;
    if (rc == DS_OK) rc = get_item(a, o, "old", &out->old_item, err, errlen);
    if (rc == DS_OK) rc = get_item(a, o, "new", &out->new_item, err, errlen);
    return rc;
}

/* ---- reads ------------------------------------------------------------------------ */
const char *opwire_path(opwire_kind kind) {
    switch (kind) {
    case OPWIRE_READ:
        return "internal/v1/read";
    case OPWIRE_RANGE:
        return "internal/v1/range";
    case OPWIRE_LIST:
        return "internal/v1/list";
    case OPWIRE_COUNT:
        return "internal/v1/count";
    }
    return "internal/v1/unknown";
}

static void put_slice(ds_buf *b, const char *name, ds_slice s) {
    member(b, name);
    put_b64(b, s.p ? s.p : "", s.len);
}

void opwire_encode_query(ds_buf *out, opwire_kind kind, const opwire_query *q) {
    ds_buf_printf(out, "{\"table\":%llu", (unsigned long long)q->table);
    if (kind == OPWIRE_READ) {
        put_slice(out, "key", q->key);
        ds_buf_putc(out, '}');
        return;
    }
    put_slice(out, "lo", q->lo);
    put_slice(out, "hi", q->hi);
    if (kind == OPWIRE_RANGE) {
        if (q->has_after) put_slice(out, "after", q->after);
        if (q->reverse) ds_buf_puts(out, ",\"reverse\":true");
        ds_buf_printf(out, ",\"limit\":%zu,\"bytes\":%zu", q->limit, q->max_bytes);
    } else if (kind == OPWIRE_LIST) {
        put_slice(out, "start", q->start);
        ds_buf_printf(out, ",\"limit\":%zu", q->limit);
    }
    ds_buf_puts(out, ",\"spans\":[");
    for (size_t i = 0; i < q->nspans; i++)
        ds_buf_printf(out, "%s[%u,%u]", i ? "," : "", q->spans[i].low, q->spans[i].high);
    ds_buf_puts(out, "]}");
}

static int get_spans(ds_arena *a, const json_value *o, opwire_query *q, char *err, size_t errlen) {
    const json_value *v = json_get(o, "spans");
    if (!v || v->type != JSON_ARRAY || v->u.arr.n == 0 || v->u.arr.n > 1u << 20)
        return fail(err, errlen, "member \"%s\" is not a non-empty array", "spans");
    q->spans = ds_arena_alloc(a, v->u.arr.n * sizeof *q->spans);
    q->nspans = v->u.arr.n;
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const json_value *s = v->u.arr.items[i];
        uint64_t lh[2];
        if (s->type != JSON_ARRAY || s->u.arr.n != 2)
            return fail(err, errlen, "member \"%s\" holds a malformed span", "spans");
        for (int k = 0; k < 2; k++) {
            /* reuse get_u64 on a one-member view */
            json_member m = {"x", 1, s->u.arr.items[k]};
            json_value tmp = {.type = JSON_OBJECT, .u.obj = {&m, 1}};
            if (get_u64(&tmp, "x", 1, UINT32_MAX, &lh[k], err, errlen))
                return fail(err, errlen, "member \"%s\" holds a malformed span", "spans");
        }
        if (lh[0] > lh[1])
            return fail(err, errlen, "member \"%s\" holds a span low > high", "spans");
        q->spans[i].low = (uint32_t)lh[0], q->spans[i].high = (uint32_t)lh[1];
    }
    return DS_OK;
}

int opwire_decode_query(ds_arena *a, opwire_kind kind, const char *body, size_t len,
                        opwire_query *out, char *err, size_t errlen) {
    json_value *o;
    memset(out, 0, sizeof *out);
    int rc = parse_object(a, body, len, &o, err, errlen);
    if (rc) return rc;
    if ((rc = get_u64(o, "table", 1, UINT64_MAX, &out->table, err, errlen))) return rc;
    if (kind == OPWIRE_READ) return get_b64(a, o, "key", 1, &out->key, err, errlen);
    if ((rc = get_b64(a, o, "lo", 1, &out->lo, err, errlen)) ||
        (rc = get_b64(a, o, "hi", 1, &out->hi, err, errlen)) ||
        (rc = get_spans(a, o, out, err, errlen)))
        return rc;
    uint64_t limit = 0, bytes = 0;
    if (kind == OPWIRE_RANGE) {
        rc = get_b64(a, o, "after", 0, &out->after, err, errlen);
        if (rc == DS_OK)
            out->has_after = 1;
        else if (rc != DS_ENOTFOUND)
            return rc;
        if ((rc = get_bool(o, "reverse", &out->reverse, err, errlen)) ||
            (rc = get_u64(o, "limit", 1, SIZE_MAX, &limit, err, errlen)) ||
            (rc = get_u64(o, "bytes", 0, SIZE_MAX, &bytes, err, errlen)))
            return rc;
    } else if (kind == OPWIRE_LIST) {
        if ((rc = get_b64(a, o, "start", 1, &out->start, err, errlen)) ||
            (rc = get_u64(o, "limit", 1, SIZE_MAX, &limit, err, errlen)))
            return rc;
    } else if (kind != OPWIRE_COUNT)
        return ds_seterr(err, errlen, DS_EPARSE, "unknown read kind");
    out->limit = (size_t)limit, out->max_bytes = (size_t)bytes;
    return DS_OK;
}

void opwire_entries_begin(ds_buf *out) {
    ds_buf_puts(out, "{\"entries\":[");
}

int opwire_entries_add(ds_buf *out, const char *key, size_t klen, const item_value *item,
                       long long stored_len) {
    size_t mark = out->len;
    if (out->data[out->len - 1] != '[') ds_buf_putc(out, ',');
    ds_buf_putc(out, '[');
    put_b64(out, key, klen);
    ds_buf_putc(out, ',');
    if (opwire_put_item(out, item)) {
        out->len = mark;
        out->data[mark] = 0;
        return DS_EINVAL;
    }
    if (stored_len >= 0) ds_buf_printf(out, ",%lld", stored_len);
    ds_buf_putc(out, ']');
    return DS_OK;
}

void opwire_entries_end(ds_buf *out, int status, int more) {
    ds_buf_printf(out, "],\"more\":%s,\"status\":%d}", more ? "true" : "false", status);
}

int opwire_encode_result(ds_buf *out, opwire_kind kind, const opwire_result *r) {
    switch (kind) {
    case OPWIRE_READ:
        ds_buf_printf(out, "{\"status\":%d", r->status);
        if (r->item) {
            ds_buf_puts(out, ",\"item\":");
            if (opwire_put_item(out, r->item)) return DS_EINVAL;
        }
        ds_buf_putc(out, '}');
        return DS_OK;
    case OPWIRE_RANGE:
    case OPWIRE_LIST:
        opwire_entries_begin(out);
        for (size_t i = 0; i < r->n; i++) {
            const opwire_entry *e = &r->entries[i];
            if (opwire_entries_add(out, e->key.p, e->key.len, e->item,
                                   kind == OPWIRE_RANGE ? (long long)e->stored_len : -1))
                return DS_EINVAL;
        }
        opwire_entries_end(out, r->status, r->more);
        return DS_OK;
    case OPWIRE_COUNT:
        ds_buf_printf(out, "{\"status\":%d,\"n\":%llu}", r->status, (unsigned long long)r->count);
        return DS_OK;
    }
    return DS_EINVAL;
}

static int get_entries(ds_arena *a, opwire_kind kind, const json_value *o, opwire_result *r,
                       char *err, size_t errlen) {
    const json_value *v = json_get(o, "entries");
    size_t want = kind == OPWIRE_RANGE ? 3 : 2;
    if (!v || v->type != JSON_ARRAY)
        return fail(err, errlen, "member \"%s\" is not an array", "entries");
    r->entries = ds_arena_alloc(a, (v->u.arr.n ? v->u.arr.n : 1) * sizeof *r->entries);
    r->n = v->u.arr.n;
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const json_value *e = v->u.arr.items[i];
        opwire_entry *x = &r->entries[i];
        memset(x, 0, sizeof *x);
        if (e->type != JSON_ARRAY || e->u.arr.n != want || e->u.arr.items[0]->type != JSON_STRING ||
            b64_slice(a, e->u.arr.items[0], &x->key) || decode_item(a, e->u.arr.items[1], &x->item))
            return fail(err, errlen, "member \"%s\" holds a malformed entry", "entries");
        if (kind == OPWIRE_RANGE) {
            uint64_t n;
            json_member m = {"x", 1, e->u.arr.items[2]};
            json_value tmp = {.type = JSON_OBJECT, .u.obj = {&m, 1}};
            if (get_u64(&tmp, "x", 1, SIZE_MAX, &n, err, errlen))
                return fail(err, errlen, "member \"%s\" holds a malformed entry", "entries");
            x->stored_len = (size_t)n;
        }
    }
    return get_bool(o, "more", &r->more, err, errlen);
}

int opwire_decode_result(ds_arena *a, opwire_kind kind, const char *body, size_t len,
                         opwire_result *out, char *err, size_t errlen) {
    json_value *o;
    memset(out, 0, sizeof *out);
    int rc = parse_object(a, body, len, &o, err, errlen);
    if (rc == DS_OK) rc = get_status(o, &out->status, err, errlen);
    if (rc) return rc;
    switch (kind) {
    case OPWIRE_READ:
        rc = get_item(a, o, "item", &out->item, err, errlen);
        if (rc == DS_OK && out->status == DS_OK && !out->item)
            rc = fail(err, errlen, "missing member \"%s\"", "item");
        return rc;
    case OPWIRE_RANGE:
    case OPWIRE_LIST:
        return get_entries(a, kind, o, out, err, errlen);
    case OPWIRE_COUNT:
        return get_u64(o, "n", 1, UINT64_MAX, &out->count, err, errlen);
    }
    return ds_seterr(err, errlen, DS_EPARSE, "unknown read kind");
}

/* ---- apply kinds ------------------------------------------------------------------ */
#define OPWIRE_MAX_KINDS 16

static struct {
    const char *kind;
    opwire_apply_fn fn;
} kinds[OPWIRE_MAX_KINDS];
static size_t nkinds;

void opwire_register_apply(const char *kind, opwire_apply_fn fn) {
    for (size_t i = 0; i < nkinds; i++)
        if (!strcmp(kinds[i].kind, kind)) {
            kinds[i].fn = fn;
            return;
        }
    if (nkinds == OPWIRE_MAX_KINDS) return;
    kinds[nkinds].kind = kind;
    kinds[nkinds++].fn = fn;
}

int opwire_apply_build(ds_op *op, meta_table *tb, const json_value *wire, char *err,
                       size_t errlen) {
    if (!op->apply_kind) return ds_seterr(err, errlen, DS_EINVAL, "no apply kind");
    for (size_t i = 0; i < nkinds; i++)
        if (!strcmp(kinds[i].kind, op->apply_kind)) return kinds[i].fn(op, tb, wire, err, errlen);
    return ds_seterr(err, errlen, DS_EINVAL, "unknown apply kind \"%.40s\"", op->apply_kind);
}
