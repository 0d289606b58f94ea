/* test_expr.c -- DynamoDB expressions: environments, parsing and its error
 * messages, condition evaluation, update application, projections and key
 * conditions. The helpers below build item_value trees from DynamoDB JSON
 * for the tests only (B values are written as raw bytes, not base64). */
#include "common/decimal.h"
#include "t.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "engine/item.h"
#include "expr/expr.h"

static ds_arena *T_A;
static char ERR[1024];

static ds_arena *ta(void) {
    if (!T_A) T_A = ds_arena_new(1 << 16);
    return T_A;
}

static item_value *from_ddb(const json_value *j);

static item_value *map_of(const json_value *o) {
    item_value *v = ds_arena_calloc(ta(), sizeof *v);
    v->type = ITEM_M;
    v->u.m.n = o->u.obj.n;
    v->u.m.attrs = ds_arena_calloc(ta(), (o->u.obj.n + 1) * sizeof *v->u.m.attrs);
    for (size_t i = 0; i < o->u.obj.n; i++) {
        v->u.m.attrs[i].name = o->u.obj.members[i].key;
        v->u.m.attrs[i].name_len = o->u.obj.members[i].key_len;
        v->u.m.attrs[i].value = from_ddb(o->u.obj.members[i].value);
    }
    return v;
}

static item_value *from_ddb(const json_value *j) {
    if (!j || j->type != JSON_OBJECT || j->u.obj.n != 1) {
        fprintf(stderr, "bad typed value\n");
        abort();
    }
    const char *t = j->u.obj.members[0].key;
    const json_value *x = j->u.obj.members[0].value;
    item_value *v = ds_arena_calloc(ta(), sizeof *v);
    if (!strcmp(t, "S") || !strcmp(t, "N") || !strcmp(t, "B")) {
        v->type = t[0] == 'S' ? ITEM_S : t[0] == 'N' ? ITEM_N : ITEM_B;
        v->u.s.p = x->u.str.s;
        v->u.s.len = x->u.str.len;
    } else if (!strcmp(t, "BOOL")) {
        v->type = ITEM_BOOL;
        v->u.b = x->type == JSON_TRUE;
    } else if (!strcmp(t, "NULL")) {
        v->type = ITEM_NULL;
    } else if (!strcmp(t, "M")) {
        return map_of(x);
    } else if (!strcmp(t, "L")) {
        v->type = ITEM_L;
        v->u.l.n = x->u.arr.n;
        v->u.l.items = ds_arena_calloc(ta(), (x->u.arr.n + 1) * sizeof *v->u.l.items);
        for (size_t i = 0; i < x->u.arr.n; i++) v->u.l.items[i] = from_ddb(x->u.arr.items[i]);
    } else {
        v->type = !strcmp(t, "SS") ? ITEM_SS : !strcmp(t, "NS") ? ITEM_NS : ITEM_BS;
        v->u.set.n = x->u.arr.n;
        v->u.set.elems = ds_arena_calloc(ta(), (x->u.arr.n + 1) * sizeof *v->u.set.elems);
        for (size_t i = 0; i < x->u.arr.n; i++) {
            v->u.set.elems[i].p = x->u.arr.items[i]->u.str.s;
            v->u.set.elems[i].len = x->u.arr.items[i]->u.str.len;
        }
    }
    return v;
}

static json_value *J(const char *s) {
    json_value *j;
    char e[256];
    if (json_parse(ta(), s, strlen(s), 0, &j, e, sizeof e)) {
        fprintf(stderr, "bad test JSON %s: %s\n", s, e);
        abort();
    }
    return j;
}

/* A typed value: V("{\"N\":\"1\"}"). */
static item_value *V(const char *s) { return from_ddb(J(s)); }

/* An item (M) from a DynamoDB item object: ITEM("{\"a\":{\"N\":\"1\"}}"). */
static item_value *ITEM(const char *s) { return s ? map_of(J(s)) : NULL; }

/* An env from an ExpressionAttributeNames object and an
 * ExpressionAttributeValues object (either NULL). */
static expr_env *ENV(const char *names, const char *values) {
    expr_env *env = expr_env_new(ta());
    if (names && expr_env_set_names(env, J(names), ERR, sizeof ERR)) {
        fprintf(stderr, "names: %s\n", ERR);
        abort();
    }
    if (values) {
        json_value *o = J(values);
        for (size_t i = 0; i < o->u.obj.n; i++)
            if (expr_env_add_value(env, o->u.obj.members[i].key, o->u.obj.members[i].key_len,
                                   from_ddb(o->u.obj.members[i].value), ERR, sizeof ERR)) {
                fprintf(stderr, "values: %s\n", ERR);
                abort();
            }
    }
    return env;
}

/* Default env used by most tests. */
#define NAMES "{\"#n\":\"name\",\"#a\":\"a\",\"#d\":\"x.y\"}"
#define VALUES                                                                              \
    "{\":s\":{\"S\":\"abc\"},\":n\":{\"N\":\"5\"},\":one\":{\"N\":\"1\"},\":b\":{\"B\":\"ab\"}," \
    "\":t\":{\"BOOL\":true},\":null\":{\"NULL\":true},\":ss\":{\"SS\":[\"x\",\"y\"]},"        \
    "\":ns\":{\"NS\":[\"1\",\"2\"]},\":l\":{\"L\":[{\"S\":\"z\"}]},\":m\":{\"M\":{}},"        \
    "\":typeS\":{\"S\":\"S\"},\":typeN\":{\"S\":\"N\"}}"

static expr_env *DENV(void) { return ENV(NAMES, VALUES); }

/* Parses a condition in env; returns the rc (message in ERR). */
static int PC(expr_env *env, const char *s, expr_cond **c) {
    ERR[0] = 0;
    return expr_parse_condition(env, s, strlen(s), c, ERR, sizeof ERR);
}

/* Evaluates condition s against item JSON (NULL = no item) in the default
 * env: 1 / 0, or -1 on a parse error. */
static int EVAL(const char *s, const char *item) {
    expr_cond *c;
    if (PC(DENV(), s, &c)) {
        fprintf(stderr, "  parse of %s failed: %s\n", s, ERR);
        return -1;
    }
    int r = -2;
    if (expr_eval(c, ITEM(item), &r, ERR, sizeof ERR)) return -3;
    return r;
}

/* Parses an update in env; returns the rc. */
static int PU(expr_env *env, const char *s, expr_update **u) {
    ERR[0] = 0;
    return expr_parse_update(env, s, strlen(s), u, ERR, sizeof ERR);
}

/* Applies update s (default env) to item JSON; returns the rc and the
 * result in *out. */
static int UPD(const char *s, const char *item, item_value **out) {
    expr_update *u;
    int rc = PU(DENV(), s, &u);
    if (rc) {
        fprintf(stderr, "  parse of %s failed: %s\n", s, ERR);
        return 100;
    }
    ERR[0] = 0;
    return expr_apply_update(ta(), u, ITEM(item), out, ERR, sizeof ERR);
}

/* Is v equal (DynamoDB equality) to the item JSON want? */
static int SAME(const item_value *v, const char *want) {
    item_value *w = ITEM(want);
    if (expr_value_equal(v, w)) return 1;
    ds_buf b = DS_BUF_INIT;
    item_to_json(&b, v);
    fprintf(stderr, "  got %s\n  want %s\n", b.data, want);
    ds_buf_free(&b);
    return 0;
}

