/* expr_update.c -- applying a compiled UpdateExpression to an item.
 *
 * DynamoDB evaluates every action against the item as it was before the
 * update, so application runs in two phases:
 *
 *  1. every SET value is computed from the old item (paths, :values,
 *     if_not_exists, list_append, + and -), which also raises the operand
 *     errors ("refers to an attribute that does not exist", "incorrect data
 *     type", number overflow);
 *  2. the actions are applied to a copy-on-write image of the item: each M
 *     or L on an action's way is copied once (shallowly, with room to grow)
 *     and registered as "fresh"; everything else stays shared with the old
 *     item, which is never written.
 *
 * List indexes in every action refer to the old list: REMOVE a[i] only marks
 * the element, and SET a[i] past the end queues an append; after all actions
 * each touched list drops its marked elements and then appends the queued
 * ones in index order (the developer guide: "If you add multiple elements in
 * a single SET operation, the elements are sorted in order by element
 * number").
 */
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"

#define MSG_NOATTR "The provided expression refers to an attribute that does not exist in the item"
#define MSG_TYPE "An operand in the update expression has an incorrect data type"
#define MSG_PATH "The document path provided in the update expression is invalid for update"
#define MSG_OVERFLOW \
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
#define MSG_UNDERFLOW \
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"

typedef struct pending {
    uint32_t index;
    item_value *v;
} pending;

typedef struct fresh {
    item_value *node;
    size_t cap;     /* M: room in attrs */
    size_t orig_n;  /* L: the old length (indexes refer to it) */
    pending *app;   /* L: queued appends */
    size_t n_app, cap_app;
    int tombs;      /* L: some elements are marked removed */
} fresh;

typedef struct upd {
    ds_arena *a;
    fresh *f;
    size_t nf, capf;
    size_t grow; /* extra room given to every copied M */
} upd;

static item_value tombstone; /* marks a removed list element until compaction */

/* ---- phase 1: values -------------------------------------------------------------------- */
static item_value *num_value(ds_arena *a, const decimal *d) {
    ds_buf b = DS_BUF_INIT;
    decimal_format(&b, d);
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = ITEM_N;
    v->u.s.p = ds_arena_strndup(a, b.data, b.len);
    v->u.s.len = b.len;
    ds_buf_free(&b);
    return v;
}

/* x + y or x - y into *out, or the overflow / underflow error. */
static int num_arith(ds_arena *a, const item_value *x, const item_value *y, int sub,
                     item_value **out, char *err, size_t errlen) {
    decimal dx, dy, r;
    if (expr__num(x, &dx) || expr__num(y, &dy)) return expr__fail(err, errlen, MSG_TYPE);
    int rc = sub ? decimal_sub(&dx, &dy, &r) : decimal_add(&dx, &dy, &r);
    if (rc) {
        int big = DS_MAX(dx.sign ? dx.exp : DECIMAL_EXP_MIN, dy.sign ? dy.exp : DECIMAL_EXP_MIN);
        return expr__fail(err, errlen, "%s", big <= DECIMAL_EXP_MIN + DECIMAL_DIGITS
                                                 ? MSG_UNDERFLOW : MSG_OVERFLOW);
    }
    *out = num_value(a, &r);
    return DS_OK;
}

static int value_of(ds_arena *a, const expr_node *x, const item_value *old, item_value **out,
                    char *err, size_t errlen) {
    item_value *l, *r;
    int rc;
    switch (x->kind) {
    case XN_PATH: {
        const item_value *v = expr__resolve(old, x->path);
        if (!v) return expr__fail(err, errlen, MSG_NOATTR);
        *out = (item_value *)v;
        return DS_OK;
    }
    case XN_VALUE:
        *out = (item_value *)x->value;
        return DS_OK;
    case XN_IF_NOT_EXISTS: {
        const item_value *v = expr__resolve(old, x->args[0]->path);
        if (v) {
            *out = (item_value *)v;
            return DS_OK;
        }
        return value_of(a, x->args[1], old, out, err, errlen);
    }
    case XN_LIST_APPEND: {
        if ((rc = value_of(a, x->args[0], old, &l, err, errlen))) return rc;
        if ((rc = value_of(a, x->args[1], old, &r, err, errlen))) return rc;
        if (l->type != ITEM_L || r->type != ITEM_L) return expr__fail(err, errlen, MSG_TYPE);
        item_value *v = ds_arena_calloc(a, sizeof *v);
        v->type = ITEM_L;
        v->u.l.n = l->u.l.n + r->u.l.n;
        v->u.l.items = ds_arena_alloc(a, (v->u.l.n ? v->u.l.n : 1) * sizeof *v->u.l.items);
        if (l->u.l.n) memcpy(v->u.l.items, l->u.l.items, l->u.l.n * sizeof *v->u.l.items);
        if (r->u.l.n)
            memcpy(v->u.l.items + l->u.l.n, r->u.l.items, r->u.l.n * sizeof *v->u.l.items);
        *out = v;
        return DS_OK;
    }
    case XN_PLUS:
    case XN_MINUS:
        if ((rc = value_of(a, x->args[0], old, &l, err, errlen))) return rc;
        if ((rc = value_of(a, x->args[1], old, &r, err, errlen))) return rc;
        if (l->type != ITEM_N || r->type != ITEM_N) return expr__fail(err, errlen, MSG_TYPE);
        return num_arith(a, l, r, x->kind == XN_MINUS, out, err, errlen);
    default:
        return expr__fail(err, errlen, MSG_TYPE);
    }
}

/* ---- phase 2: copy-on-write image ------------------------------------------------------- */
static fresh *find_fresh(upd *u, const item_value *v) {
    for (size_t i = 0; i < u->nf; i++)
        if (u->f[i].node == v) return &u->f[i];
    return NULL;
}

static fresh *add_fresh(upd *u, item_value *v) {
    if (u->nf == u->capf) {
        size_t nc = u->capf ? u->capf * 2 : 16;
        fresh *nf = ds_arena_alloc(u->a, nc * sizeof *nf);
        if (u->nf) memcpy(nf, u->f, u->nf * sizeof *nf);
        u->f = nf;
        u->capf = nc;
    }
    fresh *f = &u->f[u->nf++];
    memset(f, 0, sizeof *f);
    f->node = v;
    return f;
}

/* A fresh, writable copy of the M or L v. */
static item_value *copy_node(upd *u, const item_value *v) {
    item_value *c = ds_arena_calloc(u->a, sizeof *c);
    c->type = v->type;
    fresh *f;
    if (v->type == ITEM_M) {
        size_t cap = v->u.m.n + u->grow;
        c->u.m.attrs = ds_arena_alloc(u->a, cap * sizeof *c->u.m.attrs);
        if (v->u.m.n) memcpy(c->u.m.attrs, v->u.m.attrs, v->u.m.n * sizeof *c->u.m.attrs);
        c->u.m.n = v->u.m.n;
        f = add_fresh(u, c);
        f->cap = cap;
    } else {
        c->u.l.items = ds_arena_alloc(u->a, (v->u.l.n ? v->u.l.n : 1) * sizeof *c->u.l.items);
        if (v->u.l.n) memcpy(c->u.l.items, v->u.l.items, v->u.l.n * sizeof *c->u.l.items);
        c->u.l.n = v->u.l.n;
        f = add_fresh(u, c);
        f->orig_n = v->u.l.n;
    }
    return c;
}

static item_attr *map_find(item_value *m, const expr_elem *e) {
    for (size_t i = 0; i < m->u.m.n; i++)
        if (m->u.m.attrs[i].name_len == e->len && !memcmp(m->u.m.attrs[i].name, e->name, e->len))
            return &m->u.m.attrs[i];
    return NULL;
}

static void map_put(upd *u, item_value *m, const expr_elem *e, item_value *v) {
    item_attr *at = map_find(m, e);
    if (at) {
        at->value = v;
        return;
    }
    fresh *f = find_fresh(u, m);
    if (m->u.m.n == f->cap) { /* cannot happen: grow covers every action */
        size_t nc = f->cap * 2 + 1;
        item_attr *na = ds_arena_alloc(u->a, nc * sizeof *na);
        if (m->u.m.n) memcpy(na, m->u.m.attrs, m->u.m.n * sizeof *na);
        m->u.m.attrs = na;
        f->cap = nc;
    }
    at = &m->u.m.attrs[m->u.m.n++];
    at->name = e->name;
    at->name_len = e->len;
    at->value = v;
}

static void map_remove(item_value *m, const expr_elem *e) {
    item_attr *at = map_find(m, e);
    if (!at) return;
    size_t i = (size_t)(at - m->u.m.attrs);
    memmove(at, at + 1, (m->u.m.n - i - 1) * sizeof *at);
    m->u.m.n--;
}

/* The writable container holding the last element of path p (copying the
 * M/L nodes on the way), or NULL if some step is absent or of the wrong type. */
static item_value *walk(upd *u, item_value *root, const expr_path *p) {
    item_value *c = root;
    for (uint32_t i = 0; i + 1 < p->n; i++) {
        const expr_elem *e = &p->e[i];
        item_value **slotp;
        if (e->index == EXPR_ELEM_NAME) {
            if (c->type != ITEM_M) return NULL;
            item_attr *at = map_find(c, e);
            if (!at) return NULL;
            slotp = &at->value;
        } else {
            if (c->type != ITEM_L) return NULL;
            fresh *f = find_fresh(u, c);
            if (e->index >= f->orig_n || c->u.l.items[e->index] == &tombstone) return NULL;
            slotp = &c->u.l.items[e->index];
        }
        item_value *child = *slotp;
        if (child->type != ITEM_M && child->type != ITEM_L) return NULL;
        if (!find_fresh(u, child)) *slotp = child = copy_node(u, child);
        c = child;
    }
    const expr_elem *last = &p->e[p->n - 1];
    if (last->index == EXPR_ELEM_NAME ? c->type != ITEM_M : c->type != ITEM_L) return NULL;
    return c;
}

/* The current value at the last element of p in container c, or NULL. */
static item_value *get_last(upd *u, item_value *c, const expr_elem *e) {
    if (e->index == EXPR_ELEM_NAME) {
        item_attr *at = map_find(c, e);
        return at ? at->value : NULL;
    }
    fresh *f = find_fresh(u, c);
    if (e->index >= f->orig_n || c->u.l.items[e->index] == &tombstone) return NULL;
    return c->u.l.items[e->index];
}

static void queue_append(upd *u, fresh *f, uint32_t index, item_value *v) {
    if (f->n_app == f->cap_app) {
        size_t nc = f->cap_app ? f->cap_app * 2 : 4;
        pending *np = ds_arena_alloc(u->a, nc * sizeof *np);
        if (f->n_app) memcpy(np, f->app, f->n_app * sizeof *np);
        f->app = np;
        f->cap_app = nc;
    }
    f->app[f->n_app].index = index;
    f->app[f->n_app].v = v;
    f->n_app++;
}

static void set_last(upd *u, item_value *c, const expr_elem *e, item_value *v) {
    if (e->index == EXPR_ELEM_NAME) {
        map_put(u, c, e, v);
        return;
    }
    fresh *f = find_fresh(u, c);
    if (e->index < f->orig_n) c->u.l.items[e->index] = v;
    else queue_append(u, f, e->index, v);
}

/* Do set elements a and b (of a set of type t) denote the same element? */
static int elem_eq(item_type t, const ds_slice *a, const ds_slice *b) {
    item_value x = {.type = t == ITEM_NS ? ITEM_N : ITEM_S}, y;
    x.u.s.p = a->p;
    x.u.s.len = a->len;
    y = x;
    y.u.s.p = b->p;
    y.u.s.len = b->len;
    return expr_value_equal(&x, &y);
}

static int set_contains(const item_value *s, const ds_slice *e) {
    for (size_t i = 0; i < s->u.set.n; i++)
        if (elem_eq(s->type, &s->u.set.elems[i], e)) return 1;
    return 0;
}

/* Set union (add) or difference (!add) of sets x and y of one type. */
static item_value *set_op(ds_arena *a, const item_value *x, const item_value *y, int add) {
    item_value *r = ds_arena_calloc(a, sizeof *r);
    r->type = x->type;
    size_t cap = x->u.set.n + (add ? y->u.set.n : 0);
    r->u.set.elems = ds_arena_alloc(a, (cap ? cap : 1) * sizeof *r->u.set.elems);
    size_t n = 0;
    for (size_t i = 0; i < x->u.set.n; i++)
        if (add || !set_contains(y, &x->u.set.elems[i])) r->u.set.elems[n++] = x->u.set.elems[i];
    if (add)
        for (size_t j = 0; j < y->u.set.n; j++)
            if (!set_contains(x, &y->u.set.elems[j])) r->u.set.elems[n++] = y->u.set.elems[j];
    r->u.set.n = n;
    return r;
}

static int is_set(item_type t) { return t == ITEM_SS || t == ITEM_NS || t == ITEM_BS; }

static int cmp_pending(const void *x, const void *y) {
    const pending *a = x, *b = y;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Drops the tombstones of every touched list and appends its queued elements. */
static void finish_lists(upd *u) {
    for (size_t i = 0; i < u->nf; i++) {
        fresh *f = &u->f[i];
        item_value *l = f->node;
        if (l->type != ITEM_L || (!f->tombs && !f->n_app)) continue;
        size_t cap = l->u.l.n + f->n_app;
        item_value **items = ds_arena_alloc(u->a, (cap ? cap : 1) * sizeof *items);
        size_t n = 0;
        for (size_t j = 0; j < l->u.l.n; j++)
            if (l->u.l.items[j] != &tombstone) items[n++] = l->u.l.items[j];
        if (f->n_app) qsort(f->app, f->n_app, sizeof *f->app, cmp_pending);
        for (size_t j = 0; j < f->n_app; j++) items[n++] = f->app[j].v;
        l->u.l.items = items;
        l->u.l.n = n;
    }
}

int expr_apply_update(ds_arena *a, const expr_update *eu, const item_value *old,
                      item_value **out, char *err, size_t errlen) {
    int rc;
    if (old && old->type != ITEM_M) return expr__fail(err, errlen, MSG_PATH);
    /* phase 1 */
    item_value **vals = ds_arena_calloc(a, (eu->n ? eu->n : 1) * sizeof *vals);
    for (uint32_t i = 0; i < eu->n; i++)
        if (eu->acts[i].kind == XU_SET &&
            (rc = value_of(a, eu->acts[i].value, old, &vals[i], err, errlen)))
            return rc;
    /* phase 2 */
    upd u = {a, NULL, 0, 0, eu->n};
    item_value empty = {.type = ITEM_M};
    item_value *root = copy_node(&u, old ? old : &empty);
    for (uint32_t i = 0; i < eu->n; i++) {
        const expr_action *act = &eu->acts[i];
        const expr_elem *last = &act->path->e[act->path->n - 1];
        item_value *c = walk(&u, root, act->path);
        if (!c) {
            if (act->kind == XU_REMOVE && act->path->n == 1) continue;
            return expr__fail(err, errlen, MSG_PATH);
        }
        item_value *cur = get_last(&u, c, last);
        const item_value *v = act->value ? act->value->value : NULL;
        switch (act->kind) {
        case XU_SET:
            set_last(&u, c, last, vals[i]);
            break;
        case XU_REMOVE:
            if (!cur) break;
            if (last->index == EXPR_ELEM_NAME) {
                map_remove(c, last);
            } else {
                c->u.l.items[last->index] = &tombstone;
                find_fresh(&u, c)->tombs = 1;
            }
            break;
        case XU_ADD:
            if (!v || !(v->type == ITEM_N || is_set(v->type)))
                return expr__fail(err, errlen, MSG_TYPE);
            if (!cur) {
                set_last(&u, c, last, (item_value *)v);
            } else if (cur->type != v->type) {
                return expr__fail(err, errlen, MSG_TYPE);
            } else if (v->type == ITEM_N) {
                item_value *r;
                if ((rc = num_arith(a, cur, v, 0, &r, err, errlen))) return rc;
                set_last(&u, c, last, r);
            } else {
                set_last(&u, c, last, set_op(a, cur, v, 1));
            }
            break;
        case XU_DELETE:
            if (!v || !is_set(v->type)) return expr__fail(err, errlen, MSG_TYPE);
            if (!cur) break;
            if (cur->type != v->type) return expr__fail(err, errlen, MSG_TYPE);
            {
                item_value *r = set_op(a, cur, v, 0);
                if (r->u.set.n) {
                    set_last(&u, c, last, r);
                } else if (last->index == EXPR_ELEM_NAME) {
                    map_remove(c, last);
                } else {
                    c->u.l.items[last->index] = &tombstone;
                    find_fresh(&u, c)->tombs = 1;
                }
            }
            break;
        }
    }
    finish_lists(&u);
    *out = root;
    return DS_OK;
}
