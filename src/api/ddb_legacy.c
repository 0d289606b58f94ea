/* ddb_legacy.c -- legacy conditional parameters (Expected, QueryFilter,
 * ScanFilter, KeyConditions, AttributeUpdates, AttributesToGet) validated
 * with DynamoDB's messages and rewritten as expression text plus generated
 * placeholders (see ddb_legacy.h for the mapping).
 *
 * A builder accumulates the text in a ds_buf and the placeholder pairs in
 * arena arrays; finish() copies the text into the arena so the caller has
 * nothing to free. Validation order follows DynamoDB's as recorded by
 * dynalite's tests against the real service: every AttributeValue first,
 * then the structure of each condition (Expected's Value/Exists rules),
 * then arity, operand types, same-type lists and BETWEEN bounds.
 */
#include "api/ddb_legacy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ddb_item.h"
#include "common/decimal.h"

#define INVALID "One or more parameter values were invalid: "
#define OP_ENUM                                                                                    \
    "[IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"

#define seterr(err, errlen, ...) ((void)ds_seterr(err, errlen, 0, __VA_ARGS__))

/* Serialization error for j found where a `want` was expected. */
static int shape_error(const json_value *j, const char *want, char *err, size_t errlen) {
    if (j->type == JSON_OBJECT)
        seterr(err, errlen, "Start of structure or map found where not expected");
    else if (j->type == JSON_ARRAY)
        seterr(err, errlen, "Start of list found where not expected");
    else
        seterr(err, errlen, "%s cannot be converted to %s",
               j->type == JSON_NUMBER   ? "NUMBER_VALUE"
               : j->type == JSON_STRING ? "STRING_VALUE"
                                        : "BOOLEAN_VALUE",
               want);
    return DS_EPARSE;
}

/* Returns v, or NULL when v is absent or JSON null. */
static const json_value *present(const json_value *v) {
    return v && v->type != JSON_NULL ? v : NULL;
}

/* An attribute name from a legacy map key or list; expressions cannot name
 * the empty attribute (expr_env_add_name refuses it). */
static int check_attr(size_t len, char *err, size_t errlen) {
    if (len) return DS_OK;
    seterr(err, errlen, INVALID "Empty attribute name");
    return DS_EINVAL;
}

/* ---- the builder ------------------------------------------------------------------ */

typedef struct {
    ds_arena *a;
    char tag; /* placeholder letter, see ddb_legacy.h */
    ds_buf text;
    ddb_expr_name *names;
    size_t nn, capn;
    ddb_expr_value *vals;
    size_t nv, capv;
} builder;

static void b_init(builder *b, ds_arena *a, char tag) {
    memset(b, 0, sizeof *b);
    b->a = a;
    b->tag = tag;
    ds_buf_init(&b->text);
}

static void *grow(ds_arena *a, void *old, size_t n, size_t *cap, size_t size) {
    if (n < *cap) return old;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = ds_arena_alloc(a, ncap * size);
    if (n) memcpy(p, old, n * size);
    *cap = ncap;
    return p;
}

/* Adds a name placeholder for attr, appends it to the text, returns its index. */
static size_t b_name(builder *b, const char *attr, size_t len) {
    b->names = grow(b->a, b->names, b->nn, &b->capn, sizeof *b->names);
    char ph[32];
    int n = snprintf(ph, sizeof ph, "#__%c%zu", b->tag, b->nn);
    ddb_expr_name *nm = &b->names[b->nn];
    nm->placeholder = ds_arena_strndup(b->a, ph, (size_t)n);
    nm->placeholder_len = (size_t)n;
    nm->attr = attr;
    nm->attr_len = len;
    return b->nn++;
}

static void b_put_name(builder *b, size_t i) {
    ds_buf_append(&b->text, b->names[i].placeholder, b->names[i].placeholder_len);
}

/* Adds a value placeholder for v and appends it to the text. */
static void b_value(builder *b, item_value *v) {
    b->vals = grow(b->a, b->vals, b->nv, &b->capv, sizeof *b->vals);
    char ph[32];
    int n = snprintf(ph, sizeof ph, ":__%c%zu", b->tag, b->nv);
    ddb_expr_value *ev = &b->vals[b->nv++];
    ev->placeholder = ds_arena_strndup(b->a, ph, (size_t)n);
    ev->placeholder_len = (size_t)n;
    ev->value = v;
    ds_buf_append(&b->text, ph, (size_t)n);
}

static void b_finish(builder *b, ddb_expr_out *out) {
    out->text = b->text.len ? ds_arena_strndup(b->a, b->text.data, b->text.len) : "";
    out->text_len = b->text.len;
    out->names = b->names;
    out->nnames = b->nn;
    out->values = b->vals;
    out->nvalues = b->nv;
    ds_buf_free(&b->text);
}

static void b_discard(builder *b, ddb_expr_out *out) {
    ds_buf_free(&b->text);
    memset(out, 0, sizeof *out);
    out->text = "";
}

/* ---- comparison operators ------------------------------------------------------------ */

#define T(x) (1u << (x))
#define SNB (T(ITEM_S) | T(ITEM_N) | T(ITEM_B))
#define ANY 0x7feu

typedef enum {
    OP_EQ,
    OP_NE,
    OP_LE,
    OP_LT,
    OP_GE,
    OP_GT,
    OP_NOT_NULL,
    OP_NULL,
    OP_CONTAINS,
    OP_NOT_CONTAINS,
    OP_BEGINS_WITH,
    OP_IN,
    OP_BETWEEN
} op_code;

static const struct {
    const char *name;
    int min, max;      /* AttributeValueList length; max -1 = unbounded */
    unsigned types;    /* operand types allowed, bits by item_type */
    int indexable;     /* allowed in KeyConditions */
    const char *infix; /* for the binary comparisons */
} ops[] = {
    [OP_EQ] = {"EQ", 1, 1, ANY, 1, "="},
    [OP_NE] = {"NE", 1, 1, ANY, 0, "<>"},
    [OP_LE] = {"LE", 1, 1, SNB, 1, "<="},
    [OP_LT] = {"LT", 1, 1, SNB, 1, "<"},
    [OP_GE] = {"GE", 1, 1, SNB, 1, ">="},
    [OP_GT] = {"GT", 1, 1, SNB, 1, ">"},
    [OP_NOT_NULL] = {"NOT_NULL", 0, 0, ANY, 0, NULL},
    [OP_NULL] = {"NULL", 0, 0, ANY, 0, NULL},
    [OP_CONTAINS] = {"CONTAINS", 1, 1, SNB | T(ITEM_BOOL) | T(ITEM_NULL), 0, NULL},
    [OP_NOT_CONTAINS] = {"NOT_CONTAINS", 1, 1, SNB | T(ITEM_BOOL) | T(ITEM_NULL), 0, NULL},
    [OP_BEGINS_WITH] = {"BEGINS_WITH", 1, 1, T(ITEM_S) | T(ITEM_B), 1, NULL},
    [OP_IN] = {"IN", 1, -1, SNB, 0, NULL},
    [OP_BETWEEN] = {"BETWEEN", 2, 2, SNB, 1, NULL},
};

static const char *const type_names[] = {NULL, "S", "N",  "B",  "BOOL", "NULL",
                                         "M",  "L", "SS", "NS", "BS"};

static int find_op(const json_value *s) {
    for (size_t i = 0; i < DS_ARRAY_LEN(ops); i++)
        if (strlen(ops[i].name) == s->u.str.len && !memcmp(ops[i].name, s->u.str.s, s->u.str.len))
            return (int)i;
    return -1;
}

/* Orders two values of one scalar type (S, N or B): -1, 0, 1. */
static int scalar_cmp(const item_value *x, const item_value *y) {
    if (x->type == ITEM_N) {
        decimal a, b;
        if (decimal_parse(x->u.s.p, x->u.s.len, &a) || decimal_parse(y->u.s.p, y->u.s.len, &b))
            return 0;
        return decimal_cmp(&a, &b);
    }
    size_t m = DS_MIN(x->u.s.len, y->u.s.len);
    int c = m ? memcmp(x->u.s.p, y->u.s.p, m) : 0; /* bytes compare unsigned */
    if (c) return c < 0 ? -1 : 1;
    return x->u.s.len < y->u.s.len ? -1 : x->u.s.len > y->u.s.len;
}

/* Checks an operator's operands: arity, types, one type, BETWEEN order. */
static int check_operands(int op, item_value **v, size_t n, char *err, size_t errlen) {
    if ((int)n < ops[op].min || (ops[op].max >= 0 && (int)n > ops[op].max)) {
        seterr(err, errlen, INVALID "Invalid number of argument(s) for the %s ComparisonOperator",
               ops[op].name);
        return DS_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(ops[op].types & T(v[i]->type))) {
            seterr(err, errlen,
                   INVALID "ComparisonOperator %s is not valid for %s AttributeValue type",
                   ops[op].name, type_names[v[i]->type]);
            return DS_EINVAL;
        }
    }
    for (size_t i = 1; i < n; i++) {
        if (v[i]->type != v[0]->type) {
            seterr(err, errlen,
                   INVALID "AttributeValues inside AttributeValueList must be of same type");
            return DS_EINVAL;
        }
    }
    if (op == OP_BETWEEN && scalar_cmp(v[0], v[1]) > 0) {
        seterr(err, errlen,
               "The BETWEEN condition was provided a range where the lower bound is greater than "
               "the upper bound");
        return DS_EINVAL;
    }
    return DS_OK;
}

/* Appends the text of one comparison on the attribute with name index ni. */
static void emit_condition(builder *b, int op, size_t ni, item_value **v, size_t n) {
    ds_buf *t = &b->text;
    switch (op) {
    case OP_NOT_NULL:
    case OP_NULL:
        ds_buf_puts(t, op == OP_NULL ? "attribute_not_exists(" : "attribute_exists(");
        b_put_name(b, ni);
        ds_buf_putc(t, ')');
        return;
    case OP_CONTAINS:
    case OP_NOT_CONTAINS:
    case OP_BEGINS_WITH:
        ds_buf_puts(t, op == OP_BEGINS_WITH ? "begins_with("
                       : op == OP_CONTAINS  ? "contains("
                                            : "NOT contains(");
        b_put_name(b, ni);
        ds_buf_puts(t, ", ");
        b_value(b, v[0]);
        ds_buf_putc(t, ')');
        return;
    case OP_IN:
        b_put_name(b, ni);
        ds_buf_puts(t, " IN (");
        for (size_t i = 0; i < n; i++) {
            if (i) ds_buf_puts(t, ", ");
            b_value(b, v[i]);
        }
        ds_buf_putc(t, ')');
        return;
    case OP_BETWEEN:
        b_put_name(b, ni);
        ds_buf_puts(t, " BETWEEN ");
        b_value(b, v[0]);
        ds_buf_puts(t, " AND ");
        b_value(b, v[1]);
        return;
    default:
        b_put_name(b, ni);
        ds_buf_printf(t, " %s ", ops[op].infix);
        b_value(b, v[0]);
        return;
    }
}

/* Converts an AttributeValueList (JSON array) into values. */
static int convert_list(ds_arena *a, const json_value *avl, item_value ***out, size_t *n, char *err,
                        size_t errlen) {
    if (avl->type != JSON_ARRAY) return shape_error(avl, "List", err, errlen);
    item_value **v = ds_arena_alloc(a, (avl->u.arr.n + 1) * sizeof *v);
    for (size_t i = 0; i < avl->u.arr.n; i++) {
        int rc = ddb_value_from_json(a, avl->u.arr.items[i], 1, &v[i], err, errlen);
        if (rc) return rc;
    }
    *out = v;
    *n = avl->u.arr.n;
    return DS_OK;
}

/* Parses ComparisonOperator of a Condition: its index, or an error naming
 * where it is (path like "queryFilter.a.member.comparisonOperator"). */
static int parse_op(const json_value *co, const char *pfx, const json_member *mb, int *op,
                    char *err, size_t errlen) {
    if (!co) {
        seterr(err, errlen,
               "1 validation error detected: Value null at '%s.%.*s.member.comparisonOperator' "
               "failed to satisfy constraint: Member must not be null",
               pfx, (int)DS_MIN(mb->key_len, 255), mb->key);
        return DS_EINVAL;
    }
    if (co->type != JSON_STRING) return shape_error(co, "String", err, errlen);
    if ((*op = find_op(co)) < 0) {
        seterr(err, errlen,
               "1 validation error detected: Value '%.*s' at '%s.%.*s.member.comparisonOperator' "
               "failed to satisfy constraint: Member must satisfy enum value set: " OP_ENUM,
               (int)DS_MIN(co->u.str.len, 255), co->u.str.s, pfx, (int)DS_MIN(mb->key_len, 255),
               mb->key);
        return DS_EINVAL;
    }
    return DS_OK;
}

/* ---- ConditionalOperator ---------------------------------------------------------- */

/* Validates ConditionalOperator against the map it combines; *or is set
 * when it is OR. */
static int conditional_op(const json_value *co, const json_value *map, int * or, char *err,
                          size_t errlen) {
    * or = 0;
    if (!(co = present(co))) return DS_OK;
    if (co->type != JSON_STRING) return shape_error(co, "String", err, errlen);
    int is_and = co->u.str.len == 3 && !memcmp(co->u.str.s, "AND", 3);
    int is_or = co->u.str.len == 2 && !memcmp(co->u.str.s, "OR", 2);
    if (!is_and && !is_or) {
        seterr(err, errlen,
               "1 validation error detected: Value '%.*s' at 'conditionalOperator' failed to "
               "satisfy constraint: Member must satisfy enum value set: [OR, AND]",
               (int)DS_MIN(co->u.str.len, 255), co->u.str.s);
        return DS_EINVAL;
    }
    size_t n = map && map->type == JSON_OBJECT ? map->u.obj.n : 0;
    if (n == 0) {
        seterr(err, errlen, "ConditionalOperator cannot be used without Filter or Expected");
        return DS_EINVAL;
    }
    if (n == 1) {
        seterr(err, errlen,
               "ConditionalOperator can only be used when Filter or Expected has two or more "
               "elements");
        return DS_EINVAL;
    }
    * or = is_or;
    return DS_OK;
}

/* Opens the i-th of n conditions joined with AND/OR. */
static void join(builder *b, size_t i, size_t n, int or) {
    if (n < 2) return;
    if (i)
        ds_buf_puts(&b->text, or ? ") OR (" : ") AND (");
    else
        ds_buf_putc(&b->text, '(');
}

static void join_end(builder *b, size_t n) {
    if (n >= 2) ds_buf_putc(&b->text, ')');
}

/* ---- Expected ---------------------------------------------------------------------- */

static int expected_one(builder *b, const json_member *mb, char *err, size_t errlen) {
    const json_value *c = mb->value;
    int key = (int)DS_MIN(mb->key_len, 255);
    if (c->type != JSON_OBJECT) return shape_error(c, "ExpectedAttributeValue", err, errlen);
    if (check_attr(mb->key_len, err, errlen)) return DS_EINVAL;
    const json_value *value = present(json_get(c, "Value"));
    const json_value *exists = present(json_get(c, "Exists"));
    const json_value *co = present(json_get(c, "ComparisonOperator"));
    const json_value *avl = present(json_get(c, "AttributeValueList"));
    if (exists && exists->type != JSON_TRUE && exists->type != JSON_FALSE)
        return shape_error(exists, "Boolean", err, errlen);
    if (co && co->type != JSON_STRING) return shape_error(co, "String", err, errlen);

    item_value *one = NULL, **v = NULL;
    size_t n = 0;
    int rc;
    if (value && (rc = ddb_value_from_json(b->a, value, 1, &one, err, errlen))) return rc;
    if (avl && (rc = convert_list(b->a, avl, &v, &n, err, errlen))) return rc;

    if (avl && value) {
        seterr(err, errlen,
               INVALID "Value and AttributeValueList cannot be used together for Attribute: %.*s",
               key, mb->key);
        return DS_EINVAL;
    }
    if (co) {
        int op;
        if ((rc = parse_op(co, "expected", mb, &op, err, errlen))) return rc;
        if (exists) {
            seterr(err, errlen,
                   INVALID
                   "Exists and ComparisonOperator cannot be used together for Attribute: %.*s",
                   key, mb->key);
            return DS_EINVAL;
        }
        if (op != OP_NULL && op != OP_NOT_NULL && !avl && !value) {
            seterr(err, errlen,
                   INVALID "Value or AttributeValueList must be used with ComparisonOperator: %s "
                           "for Attribute: %.*s",
                   ops[op].name, key, mb->key);
            return DS_EINVAL;
        }
        if (value) {
            v = &one;
            n = 1;
        }
        if ((rc = check_operands(op, v, n, err, errlen))) return rc;
        emit_condition(b, op, b_name(b, mb->key, mb->key_len), v, n);
        return DS_OK;
    }
    if (avl) {
        seterr(err, errlen,
               INVALID
               "AttributeValueList can only be used with a ComparisonOperator for Attribute: %.*s",
               key, mb->key);
        return DS_EINVAL;
    }
    int must_exist = !exists || exists->type == JSON_TRUE;
    if (must_exist && !value) {
        seterr(err, errlen, INVALID "Value must be provided when Exists is %s for Attribute: %.*s",
               exists ? "true" : "null", key, mb->key);
        return DS_EINVAL;
    }
    if (!must_exist && value) {
        seterr(err, errlen, INVALID "Value cannot be used when Exists is false for Attribute: %.*s",
               key, mb->key);
        return DS_EINVAL;
    }
    size_t ni = b_name(b, mb->key, mb->key_len);
    if (must_exist)
        emit_condition(b, OP_EQ, ni, &one, 1);
    else
        emit_condition(b, OP_NULL, ni, NULL, 0);
    return DS_OK;
}

int ddb_legacy_expected(ds_arena *a, const json_value *expected,
                        const json_value *conditional_operator, ddb_expr_out *out, char *err,
                        size_t errlen) {
    if (err && errlen) err[0] = 0;
    builder b;
    b_init(&b, a, 'e');
    expected = present(expected);
    if (expected && expected->type != JSON_OBJECT) {
        b_discard(&b, out);
        return shape_error(expected, "Map", err, errlen);
    }
    int or, rc = conditional_op(conditional_operator, expected, & or, err, errlen);
    size_t n = expected ? expected->u.obj.n : 0;
    for (size_t i = 0; i < n && !rc; i++) {
        join(&b, i, n, or);
        rc = expected_one(&b, &expected->u.obj.members[i], err, errlen);
    }
    if (rc) {
        b_discard(&b, out);
        return rc;
    }
    join_end(&b, n);
    b_finish(&b, out);
    return DS_OK;
}

/* ---- QueryFilter, ScanFilter, KeyConditions --------------------------------------- */

/* One Condition {"ComparisonOperator", "AttributeValueList"}; *op_out gets
 * the operator. Nothing is emitted until emit_condition. */
static int condition(builder *b, const json_member *mb, const char *pfx, int *op_out,
                     item_value ***v, size_t *n, char *err, size_t errlen) {
    const json_value *c = mb->value;
    if (c->type != JSON_OBJECT) return shape_error(c, "Condition", err, errlen);
    if (check_attr(mb->key_len, err, errlen)) return DS_EINVAL;
    const json_value *co = present(json_get(c, "ComparisonOperator"));
    const json_value *avl = present(json_get(c, "AttributeValueList"));
    if (co && co->type != JSON_STRING) return shape_error(co, "String", err, errlen);
    int rc;
    *v = NULL;
    *n = 0;
    if (avl && (rc = convert_list(b->a, avl, v, n, err, errlen))) return rc;
    if ((rc = parse_op(co, pfx, mb, op_out, err, errlen))) return rc;
    return check_operands(*op_out, *v, *n, err, errlen);
}

int ddb_legacy_filter(ds_arena *a, const json_value *filter, const char *param,
                      const json_value *conditional_operator, ddb_expr_out *out, char *err,
                      size_t errlen) {
    if (err && errlen) err[0] = 0;
    builder b;
    b_init(&b, a, 'f');
    filter = present(filter);
    if (filter && filter->type != JSON_OBJECT) {
        b_discard(&b, out);
        return shape_error(filter, "Map", err, errlen);
    }
    /* "QueryFilter" -> "queryFilter", as DynamoDB names members in messages. */
    char pfx[64];
    snprintf(pfx, sizeof pfx, "%s", param && *param ? param : "filter");
    if (pfx[0] >= 'A' && pfx[0] <= 'Z') pfx[0] = (char)(pfx[0] - 'A' + 'a');
    int or, rc = conditional_op(conditional_operator, filter, & or, err, errlen);
    size_t n = filter ? filter->u.obj.n : 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const json_member *mb = &filter->u.obj.members[i];
        int op;
        item_value **v;
        size_t nv;
        if ((rc = condition(&b, mb, pfx, &op, &v, &nv, err, errlen))) break;
        join(&b, i, n, or);
        emit_condition(&b, op, b_name(&b, mb->key, mb->key_len), v, nv);
    }
    if (rc) {
        b_discard(&b, out);
        return rc;
    }
    join_end(&b, n);
    b_finish(&b, out);
    return DS_OK;
}

int ddb_legacy_key_conditions(ds_arena *a, const json_value *kc, ddb_expr_out *out, char *err,
                              size_t errlen) {
    if (err && errlen) err[0] = 0;
    builder b;
    b_init(&b, a, 'k');
    kc = present(kc);
    if (kc && kc->type != JSON_OBJECT) {
        b_discard(&b, out);
        return shape_error(kc, "Map", err, errlen);
    }
    size_t n = kc ? kc->u.obj.n : 0;
    int rc = DS_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const json_member *mb = &kc->u.obj.members[i];
        int op;
        item_value **v;
        size_t nv;
        if ((rc = condition(&b, mb, "keyConditions", &op, &v, &nv, err, errlen))) break;
        if (i) ds_buf_puts(&b.text, " AND ");
        emit_condition(&b, op, b_name(&b, mb->key, mb->key_len), v, nv);
    }
    if (!rc && (n < 1 || n > 2)) {
        seterr(err, errlen, "Conditions can be of length 1 or 2 only");
        rc = DS_EINVAL;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        const json_value *co = json_get(kc->u.obj.members[i].value, "ComparisonOperator");
        if (!ops[find_op(co)].indexable) {
            seterr(err, errlen, "Attempted conditional constraint is not an indexable operation");
            rc = DS_EINVAL;
        }
    }
    if (rc) {
        b_discard(&b, out);
        return rc;
    }
    b_finish(&b, out);
    return DS_OK;
}

/* ---- AttributeUpdates ---------------------------------------------------------------- */

typedef enum { ACT_PUT, ACT_DELETE, ACT_ADD } action;

static int is_set(item_type t) {
    return t == ITEM_SS || t == ITEM_NS || t == ITEM_BS;
}

int ddb_legacy_attribute_updates(ds_arena *a, const json_value *au, ddb_expr_out *out, char *err,
                                 size_t errlen) {
    if (err && errlen) err[0] = 0;
    builder b;
    b_init(&b, a, 'u');
    au = present(au);
    if (au && au->type != JSON_OBJECT) {
        b_discard(&b, out);
        return shape_error(au, "Map", err, errlen);
    }
    size_t n = au ? au->u.obj.n : 0;
    /* Validate and convert everything first; emit by clause afterwards. */
    action *act = ds_arena_alloc(a, (n + 1) * sizeof *act);
    item_value **val = ds_arena_calloc(a, (n + 1) * sizeof *val);
    int rc = DS_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const json_member *mb = &au->u.obj.members[i];
        const json_value *u = mb->value;
        if (u->type != JSON_OBJECT) {
            rc = shape_error(u, "AttributeValueUpdate", err, errlen);
            break;
        }
        if ((rc = check_attr(mb->key_len, err, errlen))) break;
        const json_value *jv = present(json_get(u, "Value"));
        const json_value *ja = present(json_get(u, "Action"));
        act[i] = ACT_PUT;
        if (ja) {
            if (ja->type != JSON_STRING) {
                rc = shape_error(ja, "String", err, errlen);
                break;
            }
            if (ja->u.str.len == 3 && !memcmp(ja->u.str.s, "PUT", 3))
                act[i] = ACT_PUT;
            else if (ja->u.str.len == 6 && !memcmp(ja->u.str.s, "DELETE", 6))
                act[i] = ACT_DELETE;
            else if (ja->u.str.len == 3 && !memcmp(ja->u.str.s, "ADD", 3))
                act[i] = ACT_ADD;
            else {
                seterr(err, errlen,
                       "1 validation error detected: Value '%.*s' at "
                       "'attributeUpdates.%.*s.member.action' failed to satisfy constraint: Member "
                       "must satisfy enum value set: [ADD, DELETE, PUT]",
                       (int)DS_MIN(ja->u.str.len, 255), ja->u.str.s, (int)DS_MIN(mb->key_len, 255),
                       mb->key);
                rc = DS_EINVAL;
                break;
            }
        }
        if (jv && (rc = ddb_value_from_json(a, jv, 1, &val[i], err, errlen))) break;
        if (!jv && act[i] != ACT_DELETE) {
            seterr(err, errlen,
                   INVALID "Only DELETE action is allowed when no attribute value is specified");
            rc = DS_EINVAL;
        } else if (jv && act[i] == ACT_DELETE && !is_set(val[i]->type)) {
            seterr(err, errlen, INVALID "DELETE action with value is not supported for the type %s",
                   type_names[val[i]->type]);
            rc = DS_EINVAL;
        } else if (jv && act[i] == ACT_ADD && val[i]->type != ITEM_N && val[i]->type != ITEM_L &&
                   !is_set(val[i]->type)) {
            seterr(err, errlen, INVALID "ADD action is not supported for the type %s",
                   type_names[val[i]->type]);
            rc = DS_EINVAL;
        }
    }
    if (rc) {
        b_discard(&b, out);
        return rc;
    }
    /* Names in document order, so names[i].attr is the i-th update. */
    for (size_t i = 0; i < n; i++)
        b_name(&b, au->u.obj.members[i].key, au->u.obj.members[i].key_len);
    ds_buf *t = &b.text;
    static const char *const clause[] = {"SET ", "REMOVE ", "ADD ", "DELETE "};
    for (int c = 0; c < 4; c++) {
        int first = 1;
        for (size_t i = 0; i < n; i++) {
            int is_list_add = act[i] == ACT_ADD && val[i]->type == ITEM_L;
            int in = c == 0   ? act[i] == ACT_PUT || is_list_add
                     : c == 1 ? act[i] == ACT_DELETE && !val[i]
                     : c == 2 ? act[i] == ACT_ADD && !is_list_add
                              : act[i] == ACT_DELETE && val[i];
            if (!in) continue;
            if (first) {
                if (t->len) ds_buf_putc(t, ' ');
                ds_buf_puts(t, clause[c]);
                first = 0;
            } else {
                ds_buf_puts(t, ", ");
            }
            b_put_name(&b, i);
            if (c == 1) continue;
            if (c == 0 && is_list_add) {
                item_value *empty = ds_arena_calloc(a, sizeof *empty);
                empty->type = ITEM_L;
                ds_buf_puts(t, " = list_append(if_not_exists(");
                b_put_name(&b, i);
                ds_buf_puts(t, ", ");
                b_value(&b, empty);
                ds_buf_puts(t, "), ");
                b_value(&b, val[i]);
                ds_buf_putc(t, ')');
                continue;
            }
            ds_buf_puts(t, c == 0 ? " = " : " ");
            b_value(&b, val[i]);
        }
    }
    b_finish(&b, out);
    return DS_OK;
}

/* ---- AttributesToGet -------------------------------------------------------------------- */

typedef struct {
    const json_value *s;
    size_t i;
} name_ref;

/* Orders names by bytes, then by position in the request. */
static int cmp_name_ref(const void *x, const void *y) {
    const name_ref *p = x, *q = y;
    size_t m = DS_MIN(p->s->u.str.len, q->s->u.str.len);
    int c = m ? memcmp(p->s->u.str.s, q->s->u.str.s, m) : 0;
    if (c) return c;
    if (p->s->u.str.len != q->s->u.str.len) return p->s->u.str.len < q->s->u.str.len ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* Returns the index of the first name (in request order) that repeats an
 * earlier one, or n if all are distinct. */
static size_t first_duplicate(json_value *const *items, size_t n) {
    name_ref *r = ds_malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++)
        r[i] = (name_ref){items[i], i};
    qsort(r, n, sizeof *r, cmp_name_ref);
    size_t best = n;
    for (size_t i = 1; i < n; i++) {
        const json_value *p = r[i - 1].s, *q = r[i].s;
        int same = p->u.str.len == q->u.str.len &&
                   (p->u.str.len == 0 || !memcmp(p->u.str.s, q->u.str.s, p->u.str.len));
        /* r[i] is a repeat; the earliest repeat of a group is its second entry. */
        if (same && (i < 2 || !(r[i - 2].s->u.str.len == p->u.str.len &&
                                (p->u.str.len == 0 ||
                                 !memcmp(r[i - 2].s->u.str.s, p->u.str.s, p->u.str.len)))))
            best = DS_MIN(best, r[i].i);
    }
    ds_free(r);
    return best;
}

int ddb_legacy_attributes_to_get(ds_arena *a, const json_value *atg, ddb_expr_out *out, char *err,
                                 size_t errlen) {
    if (err && errlen) err[0] = 0;
    builder b;
    b_init(&b, a, 'p');
    int rc = DS_OK;
    if (!(atg = present(atg)) || atg->type != JSON_ARRAY) {
        b_discard(&b, out);
        if (!atg) {
            seterr(err, errlen, "AttributesToGet is absent");
            return DS_EINVAL;
        }
        return shape_error(atg, "List", err, errlen);
    }
    size_t n = atg->u.arr.n;
    if (n == 0) {
        seterr(err, errlen,
               "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
               "constraint: Member must have length greater than or equal to 1");
        b_discard(&b, out);
        return DS_EINVAL;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        const json_value *e = atg->u.arr.items[i];
        if (e->type != JSON_STRING) rc = shape_error(e, "String", err, errlen);
    }
    for (size_t i = 0; i < n && !rc; i++)
        rc = check_attr(atg->u.arr.items[i]->u.str.len, err, errlen);
    if (!rc) {
        size_t d = first_duplicate(atg->u.arr.items, n);
        if (d < n) {
            const json_value *e = atg->u.arr.items[d];
            seterr(err, errlen, INVALID "Duplicate value in attribute name: %.*s",
                   (int)DS_MIN(e->u.str.len, 255), e->u.str.s);
            rc = DS_EINVAL;
        }
    }
    for (size_t i = 0; i < n && !rc; i++) {
        const json_value *e = atg->u.arr.items[i];
        if (i) ds_buf_puts(&b.text, ", ");
        b_put_name(&b, b_name(&b, e->u.str.s, e->u.str.len));
    }
    if (rc) {
        b_discard(&b, out);
        return rc;
    }
    b_finish(&b, out);
    return DS_OK;
}
