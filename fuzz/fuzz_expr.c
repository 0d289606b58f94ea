/* fuzz_expr.c -- libFuzzer driver for the expression parsers: the input is
 * parsed as a condition, an update, a projection and a key condition
 * against a fixed env. Whatever parses is exercised: a condition is
 * evaluated against a fixed item (and "NOT (input)" must give the opposite
 * answer), an update is applied (the result must be an M that encodes, and
 * the old item must not change), a projection is applied. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"

static item_value *sv(ds_arena *a, item_type t, const char *s) {
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = t;
    v->u.s.p = s;
    v->u.s.len = strlen(s);
    return v;
}

static item_value *setv(ds_arena *a, item_type t, const char *x, const char *y) {
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = t;
    v->u.set.n = 2;
    v->u.set.elems = ds_arena_calloc(a, 2 * sizeof(ds_slice));
    v->u.set.elems[0] = (ds_slice){x, strlen(x)};
    v->u.set.elems[1] = (ds_slice){y, strlen(y)};
    return v;
}

static item_value *listv(ds_arena *a, item_value *x, item_value *y) {
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = ITEM_L;
    v->u.l.n = 2;
    v->u.l.items = ds_arena_calloc(a, 2 * sizeof(item_value *));
    v->u.l.items[0] = x;
    v->u.l.items[1] = y;
    return v;
}

static item_value *mapv(ds_arena *a, size_t n, const char **names, item_value **vals) {
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = ITEM_M;
    v->u.m.n = n;
    v->u.m.attrs = ds_arena_calloc(a, (n ? n : 1) * sizeof(item_attr));
    for (size_t i = 0; i < n; i++) {
        v->u.m.attrs[i].name = names[i];
        v->u.m.attrs[i].name_len = strlen(names[i]);
        v->u.m.attrs[i].value = vals[i];
    }
    return v;
}

static item_value *fixed_item(ds_arena *a) {
    const char *in_names[] = {"x", "y"};
    item_value *in_vals[] = {sv(a, ITEM_N, "1"), listv(a, sv(a, ITEM_S, "p"), sv(a, ITEM_N, "2"))};
    item_value *inner = mapv(a, 2, in_names, in_vals);
    const char *names[] = {"a", "b", "s", "l", "m", "ss", "ns", "bs", "t", "z", "name"};
    item_value *vals[] = {
        sv(a, ITEM_N, "5"), sv(a, ITEM_B, "ab"), sv(a, ITEM_S, "abcdef"),
        listv(a, sv(a, ITEM_S, "z"), inner), inner, setv(a, ITEM_SS, "x", "y"),
        setv(a, ITEM_NS, "1", "2.5"), setv(a, ITEM_BS, "a", "b"), NULL, NULL,
        sv(a, ITEM_S, "n")};
    vals[8] = ds_arena_calloc(a, sizeof(item_value));
    vals[8]->type = ITEM_BOOL;
    vals[8]->u.b = 1;
    vals[9] = ds_arena_calloc(a, sizeof(item_value));
    vals[9]->type = ITEM_NULL;
    return mapv(a, DS_ARRAY_LEN(names), names, vals);
}

static expr_env *fixed_env(ds_arena *a) {
    expr_env *env = expr_env_new(a);
    expr_env_add_name(env, "#a", 2, "a", 1);
    expr_env_add_name(env, "#n", 2, "name", 4);
    expr_env_add_name(env, "#l", 2, "l", 1);
    expr_env_add_name(env, "#d", 2, "x.y", 3);
    struct {
        const char *k;
        item_value *v;
    } vals[] = {
        {":s", sv(a, ITEM_S, "abc")},
        {":n", sv(a, ITEM_N, "5")},
        {":big", sv(a, ITEM_N, "99999999999999999999999999999999999999")},
        {":tiny", sv(a, ITEM_N, "1E-130")},
        {":b", sv(a, ITEM_B, "ab")},
        {":t", sv(a, ITEM_S, "N")},
        {":ss", setv(a, ITEM_SS, "x", "q")},
        {":ns", setv(a, ITEM_NS, "1", "7")},
        {":bs", setv(a, ITEM_BS, "a", "c")},
        {":l", listv(a, sv(a, ITEM_S, "e"), sv(a, ITEM_N, "-1"))},
        {":m", mapv(a, 0, NULL, NULL)},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(vals); i++)
        expr_env_add_value(env, vals[i].k, strlen(vals[i].k), vals[i].v, NULL, 0);
    return env;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_arena *a = ds_arena_new(1 << 14);
    expr_env *env = fixed_env(a);
    const item_value *item = fixed_item(a);
    const char *s = (const char *)data;
    char err[512];
    ds_buf before = DS_BUF_INIT;
    if (item_encode(&before, item)) abort();

    expr_cond *c;
    if (expr_parse_condition(env, s, size, &c, err, sizeof err) == DS_OK) {
        int r1 = -1, r2 = -1, r3 = -1;
        if (expr_eval(c, item, &r1, err, sizeof err) || (r1 != 0 && r1 != 1)) abort();
        if (expr_eval(c, NULL, &r2, err, sizeof err) || (r2 != 0 && r2 != 1)) abort();
        if (size < 4000) {
            ds_buf w = DS_BUF_INIT;
            ds_buf_puts(&w, "NOT (");
            ds_buf_append(&w, s, size);
            ds_buf_puts(&w, ")");
            expr_cond *nc;
            if (expr_parse_condition(env, w.data, w.len, &nc, err, sizeof err) == DS_OK) {
                if (expr_eval(nc, item, &r3, err, sizeof err) || r3 != !r1) abort();
            }
            ds_buf_free(&w);
        }
    }

    expr_update *u;
    if (expr_parse_update(env, s, size, &u, err, sizeof err) == DS_OK) {
        const item_value *olds[2] = {item, NULL};
        for (int i = 0; i < 2; i++) {
            item_value *out = NULL, *up;
            if (expr_apply_update(a, u, olds[i], &out, err, sizeof err) == DS_OK) {
                if (!out || out->type != ITEM_M) abort();
                ds_buf enc = DS_BUF_INIT;
                if (item_encode(&enc, out)) abort();
                ds_buf_free(&enc);
                expr_updated_attrs(a, u, out, &up);
                if (!up || up->type != ITEM_M) abort();
            } else if (!err[0]) {
                abort(); /* every runtime error carries a message */
            }
        }
        (void)expr_update_touches(u, "a", 1);
    }

    expr_proj *p;
    if (expr_parse_projection(env, s, size, &p, err, sizeof err) == DS_OK) {
        item_value *out;
        expr_project(a, p, item, &out);
        if (!out || out->type != ITEM_M) abort();
        ds_buf enc = DS_BUF_INIT;
        if (item_encode(&enc, out)) abort();
        ds_buf_free(&enc);
    }

    expr_key_cond kc;
    if (expr_parse_key_condition(env, s, size, &kc, err, sizeof err) == DS_OK) {
        if (!kc.pk_name && kc.sk_op == EXPR_SK_NONE) abort();
        expr_key_cond_check(&kc, "a", 1, "s", 1, err, sizeof err);
    }
    (void)expr_env_check_unused(env, err, sizeof err);

    ds_buf after = DS_BUF_INIT;
    if (item_encode(&after, item) || after.len != before.len ||
        memcmp(after.data, before.data, before.len))
        abort(); /* nothing may write to the old item */
    ds_buf_free(&before);
    ds_buf_free(&after);
    ds_arena_free(a);
    return 0;
}
