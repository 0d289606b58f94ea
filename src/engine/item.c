/* item.c -- the item codec (layout table in item.h): encode a value tree to
 * bytes, decode untrusted bytes back into an arena, and the plain-JSON
 * mapping the REST API uses. */
#include "engine/item.h"

#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "common/decimal.h"
#include "common/json.h"

/* ---- encoding ---------------------------------------------------------------- */

static void put_varint(ds_buf *out, uint64_t v) {
    unsigned char b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (unsigned char)v;
    ds_buf_append(out, b, n);
}

static void put_bytes(ds_buf *out, const char *p, size_t n) {
    ds_buf_reserve(out, n + 10);
    put_varint(out, n);
    ds_buf_append(out, p, n);
}

static int encode(ds_buf *out, const item_value *v, int depth) {
    ds_buf_putc(out, (char)v->type);
    switch (v->type) {
    case ITEM_S:
    case ITEM_N:
    case ITEM_B:
        put_bytes(out, v->u.s.p, v->u.s.len);
        return DS_OK;
    case ITEM_BOOL:
        ds_buf_putc(out, v->u.b ? 1 : 0);
        return DS_OK;
    case ITEM_NULL:
        return DS_OK;
    case ITEM_M:
        if (depth >= ITEM_MAX_DEPTH) return DS_EINVAL;
        put_varint(out, v->u.m.n);
        for (size_t i = 0; i < v->u.m.n; i++) {
            put_bytes(out, v->u.m.attrs[i].name, v->u.m.attrs[i].name_len);
            int rc = encode(out, v->u.m.attrs[i].value, depth + 1);
            if (rc) return rc;
        }
        return DS_OK;
    case ITEM_L:
        if (depth >= ITEM_MAX_DEPTH) return DS_EINVAL;
        put_varint(out, v->u.l.n);
        for (size_t i = 0; i < v->u.l.n; i++) {
            int rc = encode(out, v->u.l.items[i], depth + 1);
            if (rc) return rc;
        }
        return DS_OK;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        put_varint(out, v->u.set.n);
        for (size_t i = 0; i < v->u.set.n; i++)
            put_bytes(out, v->u.set.elems[i].p, v->u.set.elems[i].len);
        return DS_OK;
    }
    return DS_EINVAL;
}

int item_encode(ds_buf *out, const item_value *v) {
    return encode(out, v, 0);
}

/* ---- decoding ---------------------------------------------------------------- */

typedef struct {
    ds_arena *a;
    const unsigned char *p, *end;
} rd;

/* Reads a minimal varint that is at most the bytes left (lengths and counts
 * can never exceed that). */
static int get_len(rd *r, size_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return DS_ECORRUPT;
        unsigned char c = *r->p++;
        if (shift == 63 && c > 1) return DS_ECORRUPT;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            if (c == 0 && shift) return DS_ECORRUPT; /* overlong */
            if (v > (uint64_t)(r->end - r->p)) return DS_ECORRUPT;
            *out = (size_t)v;
            return DS_OK;
        }
    }
    return DS_ECORRUPT;
}

static int get_bytes(rd *r, const char **p, size_t *n) {
    int rc = get_len(r, n);
    if (rc) return rc;
    char *d = ds_arena_alloc(r->a, *n + 1);
    memcpy(d, r->p, *n);
    d[*n] = 0;
    r->p += *n;
    *p = d;
    return DS_OK;
}

/* N text is a JSON number: DynamoDB-canonical when it came through the
 * DynamoDB API (which checks range and precision at its door), or the exact
 * text a REST client sent. */
static int valid_number(const char *p, size_t n) { return json_number_valid(p, n); }

static int decode(rd *r, item_value **out, int depth) {
    if (r->p >= r->end) return DS_ECORRUPT;
    item_value *v = ds_arena_alloc(r->a, sizeof *v);
    v->type = (item_type)*r->p++;
    size_t n;
    int rc;
    switch (v->type) {
    case ITEM_S:
    case ITEM_N:
    case ITEM_B:
        if ((rc = get_bytes(r, &v->u.s.p, &v->u.s.len))) return rc;
        if (v->type == ITEM_N && !valid_number(v->u.s.p, v->u.s.len)) return DS_ECORRUPT;
        break;
    case ITEM_BOOL:
        if (r->p >= r->end || *r->p > 1) return DS_ECORRUPT;
        v->u.b = *r->p++;
        break;
    case ITEM_NULL:
        break;
    case ITEM_M:
        if (depth >= ITEM_MAX_DEPTH) return DS_ECORRUPT;
        if ((rc = get_len(r, &n))) return rc;
        v->u.m.n = n;
        v->u.m.attrs = ds_arena_alloc(r->a, n * sizeof(item_attr));
        for (size_t i = 0; i < n; i++) {
            item_attr *at = &v->u.m.attrs[i];
            if ((rc = get_bytes(r, &at->name, &at->name_len))) return rc;
            if ((rc = decode(r, &at->value, depth + 1))) return rc;
        }
        break;
    case ITEM_L:
        if (depth >= ITEM_MAX_DEPTH) return DS_ECORRUPT;
        if ((rc = get_len(r, &n))) return rc;
        v->u.l.n = n;
        v->u.l.items = ds_arena_alloc(r->a, n * sizeof(item_value *));
        for (size_t i = 0; i < n; i++)
            if ((rc = decode(r, &v->u.l.items[i], depth + 1))) return rc;
        break;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        if ((rc = get_len(r, &n))) return rc;
        v->u.set.n = n;
        v->u.set.elems = ds_arena_alloc(r->a, n * sizeof(ds_slice));
        for (size_t i = 0; i < n; i++) {
            ds_slice *e = &v->u.set.elems[i];
            if ((rc = get_bytes(r, &e->p, &e->len))) return rc;
            if (v->type == ITEM_NS && !valid_number(e->p, e->len)) return DS_ECORRUPT;
        }
        break;
    default:
        return DS_ECORRUPT;
    }
    *out = v;
    return DS_OK;
}

int item_decode(ds_arena *a, const void *p, size_t n, item_value **out) {
    rd r = {a, p, (const unsigned char *)p + n};
    item_value *v = NULL;
    int rc = decode(&r, &v, 0);
    if (rc) return rc;
    if (r.p != r.end) return DS_ECORRUPT;
    *out = v;
    return DS_OK;
}

/* ---- JSON -------------------------------------------------------------------- */

static int from_json(ds_arena *a, const json_value *j, item_value **out, char *err, size_t errlen,
                     int depth) {
    item_value *v = ds_arena_alloc(a, sizeof *v);
    switch (j->type) {
    case JSON_NULL:
        v->type = ITEM_NULL;
        break;
    case JSON_FALSE:
    case JSON_TRUE:
        v->type = ITEM_BOOL;
        v->u.b = j->type == JSON_TRUE;
        break;
    case JSON_STRING:
        v->type = ITEM_S;
        v->u.s.p = j->u.str.s;
        v->u.s.len = j->u.str.len;
        break;
    case JSON_NUMBER: /* the parser checked the grammar; the text is kept exactly */
        v->type = ITEM_N;
        v->u.s.p = j->u.str.s;
        v->u.s.len = j->u.str.len;
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (depth >= ITEM_MAX_DEPTH) {
            if (err && errlen)
                snprintf(err, errlen, "nesting deeper than %d levels", ITEM_MAX_DEPTH);
            return DS_EINVAL;
        }
        if (j->type == JSON_ARRAY) {
            v->type = ITEM_L;
            v->u.l.n = j->u.arr.n;
            v->u.l.items = ds_arena_alloc(a, j->u.arr.n * sizeof(item_value *));
            for (size_t i = 0; i < j->u.arr.n; i++) {
                int rc = from_json(a, j->u.arr.items[i], &v->u.l.items[i], err, errlen, depth + 1);
                if (rc) return rc;
            }
        } else {
            v->type = ITEM_M;
            v->u.m.n = j->u.obj.n;
            v->u.m.attrs = ds_arena_alloc(a, j->u.obj.n * sizeof(item_attr));
            for (size_t i = 0; i < j->u.obj.n; i++) {
                item_attr *at = &v->u.m.attrs[i];
                at->name = j->u.obj.members[i].key;
                at->name_len = j->u.obj.members[i].key_len;
                int rc =
                    from_json(a, j->u.obj.members[i].value, &at->value, err, errlen, depth + 1);
                if (rc) return rc;
            }
        }
        break;
    default:
        if (err && errlen) snprintf(err, errlen, "unsupported JSON value");
        return DS_EINVAL;
    }
    *out = v;
    return DS_OK;
}

int item_from_json(ds_arena *a, const json_value *j, item_value **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    return from_json(a, j, out, err, errlen, 0);
}

static void b64_string(ds_buf *out, const char *p, size_t n) {
    ds_buf_putc(out, '"');
    base64_encode(out, p, n, 0);
    ds_buf_putc(out, '"');
}

void item_to_json(ds_buf *out, const item_value *v) {
    switch (v->type) {
    case ITEM_S:
        json_write_string(out, v->u.s.p, v->u.s.len);
        return;
    case ITEM_N:
        ds_buf_append(out, v->u.s.p, v->u.s.len);
        return;
    case ITEM_B:
        b64_string(out, v->u.s.p, v->u.s.len);
        return;
    case ITEM_BOOL:
        ds_buf_puts(out, v->u.b ? "true" : "false");
        return;
    case ITEM_NULL:
        ds_buf_puts(out, "null");
        return;
    case ITEM_M:
        ds_buf_putc(out, '{');
        for (size_t i = 0; i < v->u.m.n; i++) {
            if (i) ds_buf_putc(out, ',');
            json_write_string(out, v->u.m.attrs[i].name, v->u.m.attrs[i].name_len);
            ds_buf_putc(out, ':');
            item_to_json(out, v->u.m.attrs[i].value);
        }
        ds_buf_putc(out, '}');
        return;
    case ITEM_L:
        ds_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.l.n; i++) {
            if (i) ds_buf_putc(out, ',');
            item_to_json(out, v->u.l.items[i]);
        }
        ds_buf_putc(out, ']');
        return;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        ds_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.set.n; i++) {
            const ds_slice *e = &v->u.set.elems[i];
            if (i) ds_buf_putc(out, ',');
            if (v->type == ITEM_SS)
                json_write_string(out, e->p, e->len);
            else if (v->type == ITEM_NS)
                ds_buf_append(out, e->p, e->len);
            else
                b64_string(out, e->p, e->len);
        }
        ds_buf_putc(out, ']');
        return;
    }
    ds_buf_puts(out, "null"); /* unknown type: never produced by the codec */
}

/* ---- access ------------------------------------------------------------------ */

item_value *item_get(const item_value *m, const char *name, size_t len) {
    if (!m || m->type != ITEM_M) return NULL;
    for (size_t i = 0; i < m->u.m.n; i++) {
        const item_attr *at = &m->u.m.attrs[i];
        if (at->name_len == len && !memcmp(at->name, name, len)) return at->value;
    }
    return NULL;
}

static int same_bytes(const char *a, size_t al, const char *b, size_t bl) {
    return al == bl && (al == 0 || !memcmp(a, b, al));
}

int item_identical(const item_value *a, const item_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case ITEM_S:
    case ITEM_N:
    case ITEM_B:
        return same_bytes(a->u.s.p, a->u.s.len, b->u.s.p, b->u.s.len);
    case ITEM_BOOL:
        return !a->u.b == !b->u.b;
    case ITEM_NULL:
        return 1;
    case ITEM_M:
        if (a->u.m.n != b->u.m.n) return 0;
        for (size_t i = 0; i < a->u.m.n; i++) {
            const item_attr *x = &a->u.m.attrs[i], *y = &b->u.m.attrs[i];
            if (!same_bytes(x->name, x->name_len, y->name, y->name_len) ||
                !item_identical(x->value, y->value))
                return 0;
        }
        return 1;
    case ITEM_L:
        if (a->u.l.n != b->u.l.n) return 0;
        for (size_t i = 0; i < a->u.l.n; i++)
            if (!item_identical(a->u.l.items[i], b->u.l.items[i])) return 0;
        return 1;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        if (a->u.set.n != b->u.set.n) return 0;
        for (size_t i = 0; i < a->u.set.n; i++)
            if (!same_bytes(a->u.set.elems[i].p, a->u.set.elems[i].len, b->u.set.elems[i].p,
                            b->u.set.elems[i].len))
                return 0;
        return 1;
    }
    return 0;
}
