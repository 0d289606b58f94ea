/* ddb_item.c -- DynamoDB JSON AttributeValues to item trees and back, and
 * the developer guide's size and capacity arithmetic (see ddb_item.h).
 *
 * Conversion runs in two passes, as DynamoDB's own front end does: first a
 * shape check of the whole input (JSON types, base64) whose failures are
 * DS_EPARSE (SerializationException), then validation and conversion whose
 * failures are DS_EINVAL (ValidationException) with DynamoDB's message text.
 * So a type error anywhere in a map wins over a validation error anywhere.
 *
 * Messages follow DynamoDB's wording as recorded by emulator test suites run
 * against the real service (dynalite, ExtendDB), quirks included: "An string
 * set  may not be empty" has two spaces, "]of type BS" no space, and NS
 * duplicates carry no "One or more parameter values were invalid" prefix.
 */
#include "api/ddb_item.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/decimal.h"

#define INVALID "One or more parameter values were invalid: "
#define MSG_EMPTY_AV                                                                               \
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
#define MSG_MULTI_AV                                                                               \
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "    \
    "supported datatypes"
#define MSG_NESTING                                                                                \
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels "    \
    "beyond supported limit"

#define seterr(err, errlen, ...) ((void)ds_seterr(err, errlen, 0, __VA_ARGS__))

/* The wire names of the types, indexed by item_type. */
static const char *const type_names[] = {NULL, "S", "N",  "B",  "BOOL", "NULL",
                                         "M",  "L", "SS", "NS", "BS"};

/* Returns the item_type a member key names, or 0 for an unknown key. */
static item_type type_of_key(const char *k, size_t n) {
    for (int t = ITEM_S; t <= ITEM_BS; t++)
        if (strlen(type_names[t]) == n && !memcmp(type_names[t], k, n)) return (item_type)t;
    return (item_type)0;
}

/* ---- pass 1: shape (SerializationException) ------------------------------------ */

static const char *json_kind(const json_value *j) {
    switch (j->type) {
    case JSON_NUMBER:
        return "NUMBER_VALUE";
    case JSON_STRING:
        return "STRING_VALUE";
    case JSON_TRUE:
    case JSON_FALSE:
        return "BOOLEAN_VALUE";
    default:
        return "NULL_VALUE";
    }
}

/* Reports j, found where a `want` (String, Boolean, ...) was expected. */
static int shape_error(const json_value *j, const char *want, char *err, size_t errlen) {
    if (j->type == JSON_OBJECT)
        seterr(err, errlen, "Start of structure or map found where not expected");
    else if (j->type == JSON_ARRAY)
        seterr(err, errlen, "Start of list found where not expected");
    else
        seterr(err, errlen, "%s cannot be converted to %s", json_kind(j), want);
    return DS_EPARSE;
}

static int check_base64(const json_value *j, char *err, size_t errlen) {
    ds_buf tmp = DS_BUF_INIT;
    int rc = base64_decode(&tmp, j->u.str.s, j->u.str.len, 0);
    ds_buf_free(&tmp);
    if (rc == DS_OK) return DS_OK;
    if (j->u.str.len % 4)
        seterr(err, errlen,
               "Base64 encoded length is expected a multiple of 4 bytes but found: %zu",
               j->u.str.len);
    else
        seterr(err, errlen, "Invalid Base64 encoded data");
    return DS_EPARSE;
}

static int shape_av(const json_value *av, int jdepth, char *err, size_t errlen);

/* An attribute map's values; null values are left for validation. */
static int shape_map(const json_value *m, int jdepth, char *err, size_t errlen) {
    if (m->type != JSON_OBJECT) return shape_error(m, "Map", err, errlen);
    for (size_t i = 0; i < m->u.obj.n; i++) {
        const json_value *v = m->u.obj.members[i].value;
        if (v->type == JSON_NULL) continue;
        int rc = shape_av(v, jdepth + 1, err, errlen);
        if (rc) return rc;
    }
    return DS_OK;
}

static int shape_av(const json_value *av, int jdepth, char *err, size_t errlen) {
    if (av->type != JSON_OBJECT) {
        if (av->type == JSON_ARRAY) return shape_error(av, "AttributeValue", err, errlen);
        seterr(err, errlen, "Unexpected value type in payload");
        return DS_EPARSE;
    }
    /* The validation pass bounds legal nesting at 32; this only keeps the
     * recursion finite on hostile input (json_parse bounds it too). */
    if (jdepth > 4 * DDB_MAX_NESTING + 8) {
        seterr(err, errlen, MSG_NESTING);
        return DS_EINVAL;
    }
    for (size_t i = 0; i < av->u.obj.n; i++) {
        const json_member *mb = &av->u.obj.members[i];
        const json_value *v = mb->value;
        item_type t = type_of_key(mb->key, mb->key_len);
        if (!t || v->type == JSON_NULL) continue;
        int rc = DS_OK;
        switch (t) {
        case ITEM_S:
        case ITEM_N:
            if (v->type != JSON_STRING) return shape_error(v, "String", err, errlen);
            break;
        case ITEM_B:
            if (v->type != JSON_STRING) return shape_error(v, "Blob", err, errlen);
            rc = check_base64(v, err, errlen);
            break;
        case ITEM_BOOL:
        case ITEM_NULL:
            if (v->type != JSON_TRUE && v->type != JSON_FALSE)
                return shape_error(v, "Boolean", err, errlen);
            break;
        case ITEM_M:
            rc = shape_map(v, jdepth + 1, err, errlen);
            break;
        case ITEM_L:
            if (v->type != JSON_ARRAY) return shape_error(v, "List", err, errlen);
            for (size_t k = 0; k < v->u.arr.n && !rc; k++)
                if (v->u.arr.items[k]->type != JSON_NULL)
                    rc = shape_av(v->u.arr.items[k], jdepth + 1, err, errlen);
            break;
        case ITEM_SS:
        case ITEM_NS:
        case ITEM_BS:
            if (v->type != JSON_ARRAY) return shape_error(v, "List", err, errlen);
            for (size_t k = 0; k < v->u.arr.n && !rc; k++) {
                const json_value *e = v->u.arr.items[k];
                if (e->type == JSON_NULL) continue;
                if (e->type != JSON_STRING)
                    return shape_error(e, t == ITEM_BS ? "Blob" : "String", err, errlen);
                if (t == ITEM_BS) rc = check_base64(e, err, errlen);
            }
            break;
        }
        if (rc) return rc;
    }
    return DS_OK;
}

/* ---- pass 2: validation and conversion (ValidationException) ------------------- */

/* Explains why decimal_parse found text out of range, in DynamoDB's order:
 * magnitude first, then precision. */
static void range_message(const char *s, size_t len, char *err, size_t errlen) {
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    int64_t ipos = 0, idx = 0, first = -1;
    int after_point = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            after_point = 1;
            continue;
        }
        if (c < '0' || c > '9') break;
        if (!after_point) ipos++;
        if (c != '0' && first < 0) first = idx;
        idx++;
    }
    int64_t e = 0;
    if (i < len) { /* 'e' or 'E' (decimal_parse already checked the syntax) */
        i++;
        int esign = 1;
        if (i < len && (s[i] == '+' || s[i] == '-')) esign = s[i++] == '-' ? -1 : 1;
        for (; i < len; i++)
            if (e < 1000000000) e = e * 10 + (s[i] - '0');
        e *= esign;
    }
    int64_t x = first < 0 ? 0 : ipos - first + e;
    if (first >= 0 && x > DECIMAL_EXP_MAX)
        seterr(err, errlen,
               "Number overflow. Attempting to store a number with magnitude larger than "
               "supported range");
    else if (first >= 0 && x < DECIMAL_EXP_MIN)
        seterr(err, errlen,
               "Number underflow. Attempting to store a number with magnitude smaller than "
               "supported range");
    else
        seterr(err, errlen, "Attempting to store more than 38 significant digits in a Number");
}

/* Validates number text and stores its canonical form in the arena. */
static int convert_number(ds_arena *a, const char *s, size_t len, ds_slice *out, char *err,
                          size_t errlen) {
    if (len == 0) {
        seterr(err, errlen, "The parameter cannot be converted to a numeric value");
        return DS_EINVAL;
    }
    decimal d;
    int rc = decimal_parse(s, len, &d);
    if (rc == DS_ERANGE) {
        range_message(s, len, err, errlen);
        return DS_EINVAL;
    }
    if (rc) {
        seterr(err, errlen, "The parameter cannot be converted to a numeric value: %.*s",
               (int)DS_MIN(len, 256), s);
        return DS_EINVAL;
    }
    ds_buf b = DS_BUF_INIT;
    decimal_format(&b, &d);
    out->p = ds_arena_strndup(a, b.data, b.len);
    out->len = b.len;
    ds_buf_free(&b);
    return DS_OK;
}

static int convert_base64(ds_arena *a, const json_value *j, ds_slice *out) {
    ds_buf b = DS_BUF_INIT;
    if (base64_decode(&b, j->u.str.s, j->u.str.len, 0)) return DS_EPARSE; /* shape-checked */
    out->p = b.len ? ds_arena_memdup(a, b.data, b.len) : "";
    out->len = b.len;
    ds_buf_free(&b);
    return DS_OK;
}

/* qsort context for duplicate detection (qsort has no user pointer). */
typedef struct {
    const ds_slice *e;
    size_t i;
} dup_ref;

static int cmp_ref(const void *x, const void *y) {
    const ds_slice *a = ((const dup_ref *)x)->e, *b = ((const dup_ref *)y)->e;
    size_t m = DS_MIN(a->len, b->len);
    int c = m ? memcmp(a->p, b->p, m) : 0;
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Returns 1 if two of the n slices hold the same bytes. */
static int has_duplicates(const ds_slice *e, size_t n) {
    if (n < 2) return 0;
    dup_ref *r = ds_malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++)
        r[i] = (dup_ref){&e[i], i};
    qsort(r, n, sizeof *r, cmp_ref);
    int dup = 0;
    for (size_t i = 1; i < n && !dup; i++)
        dup = cmp_ref(&r[i - 1], &r[i]) == 0;
    ds_free(r);
    return dup;
}

/* "[a, b, c]" from the set's JSON strings, as DynamoDB prints collections. */
static void list_text(ds_buf *b, const json_value *arr) {
    ds_buf_putc(b, '[');
    for (size_t i = 0; i < arr->u.arr.n; i++) {
        const json_value *e = arr->u.arr.items[i];
        if (i) ds_buf_puts(b, ", ");
        if (e->type == JSON_STRING)
            ds_buf_append(b, e->u.str.s, e->u.str.len);
        else
            ds_buf_puts(b, "null");
        if (b->len > 4096) {
            ds_buf_puts(b, ", ...");
            break;
        }
    }
    ds_buf_putc(b, ']');
}

static int convert_set(ds_arena *a, item_type t, const json_value *arr, item_value *v, char *err,
                       size_t errlen) {
    size_t n = arr->u.arr.n;
    if (n == 0) {
        seterr(err, errlen, "%s",
               t == ITEM_SS   ? INVALID "An string set  may not be empty"
               : t == ITEM_NS ? INVALID "An number set  may not be empty"
                              : INVALID "Binary sets should not be empty");
        return DS_EINVAL;
    }
    ds_slice *e = ds_arena_alloc(a, n * sizeof *e);
    for (size_t i = 0; i < n; i++) {
        const json_value *j = arr->u.arr.items[i];
        if (j->type == JSON_NULL) {
            if (t == ITEM_SS)
                seterr(err, errlen, INVALID "An string set may not have a null string as a member");
            else if (t == ITEM_NS)
                seterr(err, errlen, "The parameter cannot be converted to a numeric value");
            else
                seterr(err, errlen, INVALID "Binary sets may not contain null or empty values");
            return DS_EINVAL;
        }
        int rc = DS_OK;
        if (t == ITEM_SS) {
            e[i].p = j->u.str.s;
            e[i].len = j->u.str.len;
        } else if (t == ITEM_NS) {
            rc = convert_number(a, j->u.str.s, j->u.str.len, &e[i], err, errlen);
        } else {
            rc = convert_base64(a, j, &e[i]);
        }
        if (rc) return rc;
    }
    if (has_duplicates(e, n)) {
        if (t == ITEM_NS) {
            seterr(err, errlen, "Input collection contains duplicates");
        } else {
            ds_buf b = DS_BUF_INIT;
            list_text(&b, arr);
            seterr(err, errlen, INVALID "Input collection %s%s contains duplicates.", b.data,
                   t == ITEM_BS ? "of type BS" : "");
            ds_buf_free(&b);
        }
        return DS_EINVAL;
    }
    v->u.set.elems = e;
    v->u.set.n = n;
    return DS_OK;
}

static int convert_av(ds_arena *a, const json_value *av, int depth, item_value **out, char *err,
                      size_t errlen);

/* Validates an attribute name (an item's or a nested map's key). */
static int check_name(size_t len, int top, char *err, size_t errlen) {
    if (top && len == 0) {
        seterr(err, errlen, INVALID "Empty attribute name");
        return DS_EINVAL;
    }
    if (len > DDB_MAX_ATTR_NAME) {
        seterr(err, errlen, INVALID "Attribute name is too large, must be less than 65536 bytes");
        return DS_EINVAL;
    }
    return DS_OK;
}

/* Converts the members of an attribute map (shape already checked) at the
 * given level into an ITEM_M. */
static int convert_map(ds_arena *a, const json_value *m, int depth, int top, item_value *v,
                       char *err, size_t errlen) {
    v->type = ITEM_M;
    v->u.m.n = m->u.obj.n;
    v->u.m.attrs = ds_arena_alloc(a, m->u.obj.n * sizeof(item_attr));
    for (size_t i = 0; i < m->u.obj.n; i++) {
        const json_member *mb = &m->u.obj.members[i];
        item_attr *at = &v->u.m.attrs[i];
        int rc = check_name(mb->key_len, top, err, errlen);
        if (rc) return rc;
        at->name = mb->key;
        at->name_len = mb->key_len;
        if (mb->value->type == JSON_NULL) {
            seterr(err, errlen, MSG_EMPTY_AV);
            return DS_EINVAL;
        }
        if ((rc = convert_av(a, mb->value, depth, &at->value, err, errlen))) return rc;
    }
    return DS_OK;
}

/* Converts the member `j` of type t into v. */
static int convert_typed(ds_arena *a, item_type t, const json_value *j, int depth, item_value *v,
                         char *err, size_t errlen) {
    v->type = t;
    switch (t) {
    case ITEM_S:
        v->u.s.p = j->u.str.s;
        v->u.s.len = j->u.str.len;
        return DS_OK;
    case ITEM_N: {
        ds_slice s;
        int rc = convert_number(a, j->u.str.s, j->u.str.len, &s, err, errlen);
        v->u.s.p = s.p;
        v->u.s.len = s.len;
        return rc;
    }
    case ITEM_B: {
        ds_slice s = {NULL, 0};
        int rc = convert_base64(a, j, &s);
        v->u.s.p = s.p;
        v->u.s.len = s.len;
        return rc;
    }
    case ITEM_BOOL:
        v->u.b = j->type == JSON_TRUE;
        return DS_OK;
    case ITEM_NULL:
        if (j->type != JSON_TRUE) {
            seterr(err, errlen, INVALID "Null attribute value types must have the value of true");
            return DS_EINVAL;
        }
        return DS_OK;
    case ITEM_M:
        return convert_map(a, j, depth + 1, 0, v, err, errlen);
    case ITEM_L:
        v->u.l.n = j->u.arr.n;
        v->u.l.items = ds_arena_alloc(a, j->u.arr.n * sizeof(item_value *));
        for (size_t i = 0; i < j->u.arr.n; i++) {
            const json_value *e = j->u.arr.items[i];
            if (e->type == JSON_NULL) {
                seterr(err, errlen, MSG_EMPTY_AV);
                return DS_EINVAL;
            }
            int rc = convert_av(a, e, depth + 1, &v->u.l.items[i], err, errlen);
            if (rc) return rc;
        }
        return DS_OK;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        return convert_set(a, t, j, v, err, errlen);
    }
    return DS_EINVAL;
}

static int convert_av(ds_arena *a, const json_value *av, int depth, item_value **out, char *err,
                      size_t errlen) {
    if (depth > DDB_MAX_NESTING) {
        seterr(err, errlen, MSG_NESTING);
        return DS_EINVAL;
    }
    item_value *v = NULL;
    int ntypes = 0;
    for (size_t i = 0; i < av->u.obj.n; i++) {
        const json_member *mb = &av->u.obj.members[i];
        item_type t = type_of_key(mb->key, mb->key_len);
        if (!t || mb->value->type == JSON_NULL) continue;
        /* DynamoDB validates each member it was given before complaining
         * that there are several ({"S":"a","N":"x"} is a number error). */
        item_value *cur = ds_arena_calloc(a, sizeof *cur);
        int rc = convert_typed(a, t, mb->value, depth, cur, err, errlen);
        if (rc) return rc;
        if (!ntypes++) v = cur;
    }
    if (ntypes == 0) {
        seterr(err, errlen, MSG_EMPTY_AV);
        return DS_EINVAL;
    }
    if (ntypes > 1) {
        seterr(err, errlen, MSG_MULTI_AV);
        return DS_EINVAL;
    }
    *out = v;
    return DS_OK;
}

int ddb_value_from_json(ds_arena *a, const json_value *av, int depth, item_value **out, char *err,
                        size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (depth < 1) depth = 1;
    if (av->type == JSON_NULL) {
        seterr(err, errlen, MSG_EMPTY_AV);
        return DS_EINVAL;
    }
    int rc = shape_av(av, 0, err, errlen);
    if (rc) return rc;
    return convert_av(a, av, depth, out, err, errlen);
}

int ddb_item_from_json(ds_arena *a, const json_value *map, item_value **out, char *err,
                       size_t errlen) {
    if (err && errlen) err[0] = 0;
    int rc = shape_map(map, 0, err, errlen);
    if (rc) return rc;
    item_value *v = ds_arena_calloc(a, sizeof *v);
    if ((rc = convert_map(a, map, 1, 1, v, err, errlen))) return rc;
    *out = v;
    return DS_OK;
}

/* ---- writing ------------------------------------------------------------------- */

static void b64_string(ds_buf *out, const char *p, size_t n) {
    ds_buf_putc(out, '"');
    base64_encode(out, p, n, 0);
    ds_buf_putc(out, '"');
}

void ddb_value_to_json(ds_buf *out, const item_value *v) {
    if (v->type < ITEM_S || v->type > ITEM_BS) {
        ds_buf_puts(out, "{\"NULL\":true}"); /* never produced by the codec */
        return;
    }
    ds_buf_puts(out, "{\"");
    ds_buf_puts(out, type_names[v->type]);
    ds_buf_puts(out, "\":");
    switch (v->type) {
    case ITEM_S:
    case ITEM_N:
        json_write_string(out, v->u.s.p, v->u.s.len);
        break;
    case ITEM_B:
        b64_string(out, v->u.s.p, v->u.s.len);
        break;
    case ITEM_BOOL:
        ds_buf_puts(out, v->u.b ? "true" : "false");
        break;
    case ITEM_NULL:
        ds_buf_puts(out, "true");
        break;
    case ITEM_M:
        ddb_item_to_json(out, v);
        break;
    case ITEM_L:
        ds_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.l.n; i++) {
            if (i) ds_buf_putc(out, ',');
            ddb_value_to_json(out, v->u.l.items[i]);
        }
        ds_buf_putc(out, ']');
        break;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        ds_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.set.n; i++) {
            const ds_slice *e = &v->u.set.elems[i];
            if (i) ds_buf_putc(out, ',');
            if (v->type == ITEM_BS)
                b64_string(out, e->p, e->len);
            else
                json_write_string(out, e->p, e->len);
        }
        ds_buf_putc(out, ']');
        break;
    }
    ds_buf_putc(out, '}');
}

void ddb_item_to_json(ds_buf *out, const item_value *m) {
    ds_buf_putc(out, '{');
    if (m && m->type == ITEM_M) {
        for (size_t i = 0; i < m->u.m.n; i++) {
            if (i) ds_buf_putc(out, ',');
            json_write_string(out, m->u.m.attrs[i].name, m->u.m.attrs[i].name_len);
            ds_buf_putc(out, ':');
            ddb_value_to_json(out, m->u.m.attrs[i].value);
        }
    }
    ds_buf_putc(out, '}');
}

/* ---- sizes and capacity ---------------------------------------------------------- */

/* (1 byte per two significant digits) + 1; zero is 1 byte. */
static size_t number_size(const char *p, size_t n) {
    decimal d;
    size_t digits = 0;
    if (decimal_parse(p, n, &d) == DS_OK) {
        digits = d.n;
    } else { /* not produced by this module; count digit characters */
        for (size_t i = 0; i < n; i++)
            digits += p[i] >= '0' && p[i] <= '9';
    }
    return (digits + 1) / 2 + 1;
}

size_t ddb_value_size(const item_value *v) {
    size_t s = 0;
    switch (v->type) {
    case ITEM_S:
    case ITEM_B:
        return v->u.s.len;
    case ITEM_N:
        return number_size(v->u.s.p, v->u.s.len);
    case ITEM_BOOL:
    case ITEM_NULL:
        return 1;
    case ITEM_M:
        s = 3;
        for (size_t i = 0; i < v->u.m.n; i++)
            s += v->u.m.attrs[i].name_len + 1 + ddb_value_size(v->u.m.attrs[i].value);
        return s;
    case ITEM_L:
        s = 3;
        for (size_t i = 0; i < v->u.l.n; i++)
            s += 1 + ddb_value_size(v->u.l.items[i]);
        return s;
    case ITEM_SS:
    case ITEM_BS:
        for (size_t i = 0; i < v->u.set.n; i++)
            s += v->u.set.elems[i].len;
        return s;
    case ITEM_NS:
        for (size_t i = 0; i < v->u.set.n; i++)
            s += number_size(v->u.set.elems[i].p, v->u.set.elems[i].len);
        return s;
    }
    return 0;
}

size_t ddb_item_size(const item_value *m) {
    if (!m || m->type != ITEM_M) return 0;
    size_t s = 0;
    for (size_t i = 0; i < m->u.m.n; i++)
        s += m->u.m.attrs[i].name_len + ddb_value_size(m->u.m.attrs[i].value);
    return s;
}

double ddb_read_units(size_t item_bytes, int consistent) {
    size_t units = item_bytes / 4096 + (item_bytes % 4096 != 0);
    if (units == 0) units = 1;
    return consistent ? (double)units : (double)units / 2.0;
}

double ddb_write_units(size_t item_bytes) {
    size_t units = item_bytes / 1024 + (item_bytes % 1024 != 0);
    if (units == 0) units = 1;
    return (double)units;
}
