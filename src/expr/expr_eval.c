/* expr_eval.c -- evaluating compiled conditions against an item, DynamoDB's
 * equality and ordering of values, and projections.
 *
 * Semantics (developer guide, "Comparison operator and function reference"):
 *  - = and <> work on every type: numbers by value (exact decimals), sets as
 *    unordered sets, L element by element, M key by key. An absent operand
 *    makes = false and <> true.
 *  - < <= > >= and BETWEEN order only two N, two S (UTF-8 bytes) or two B;
 *    any other pair makes the comparison false, never an error.
 *  - size(): S and B length in bytes, element count of sets, L and M; any
 *    other type (or an absent path) makes the enclosing comparison false.
 *  - begins_with(S, S) / (B, B); contains(S, S) substring, contains(set,
 *    element) membership, contains(L, any) element equality.
 *
 * expr_eval allocates nothing: operands resolve to borrowed subtrees of the
 * item or the env, and size() writes its number into a stack slot.
 */
#include <stdio.h>
#include <string.h>

#include "expr/expr_int.h"

const char *expr_type_name(item_type t) {
    static const char *const names[] = {"S", "N", "B", "BOOL", "NULL",
                                        "M", "L", "SS", "NS", "BS"};
    return t >= ITEM_S && t <= ITEM_BS ? names[t - ITEM_S] : "?";
}

int expr__num(const item_value *v, decimal *d) {
    if (!v || v->type != ITEM_N) return DS_EINVAL;
    return decimal_parse(v->u.s.p, v->u.s.len, d) == DS_OK ? DS_OK : DS_EINVAL;
}

/* ---- equality and ordering ---------------------------------------------------------- */
static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, DS_MIN(al, bl));
    if (c) return c < 0 ? -1 : 1;
    return al < bl ? -1 : al > bl;
}

static int num_text_equal(const char *a, size_t al, const char *b, size_t bl) {
    if (al == bl && !memcmp(a, b, al)) return 1;
    decimal x, y;
    if (decimal_parse(a, al, &x) || decimal_parse(b, bl, &y)) return 0;
    return decimal_cmp(&x, &y) == 0;
}

/* Is element e (len bytes) in the set s (of set type st)? */
static int set_has(const item_value *s, const char *e, size_t len) {
    for (size_t i = 0; i < s->u.set.n; i++) {
        const ds_slice *x = &s->u.set.elems[i];
        if (s->type == ITEM_NS ? num_text_equal(x->p, x->len, e, len)
                               : (x->len == len && !memcmp(x->p, e, len)))
            return 1;
    }
    return 0;
}

int expr_value_equal(const item_value *a, const item_value *b) {
    if (!a || !b || a->type != b->type) return 0;
    switch (a->type) {
    case ITEM_S:
    case ITEM_B:
        return a->u.s.len == b->u.s.len && !memcmp(a->u.s.p, b->u.s.p, a->u.s.len);
    case ITEM_N:
        return num_text_equal(a->u.s.p, a->u.s.len, b->u.s.p, b->u.s.len);
    case ITEM_BOOL:
        return !a->u.b == !b->u.b;
    case ITEM_NULL:
        return 1;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        /* sets hold no duplicates, so equal counts and inclusion suffice */
        if (a->u.set.n != b->u.set.n) return 0;
        for (size_t i = 0; i < a->u.set.n; i++)
            if (!set_has(b, a->u.set.elems[i].p, a->u.set.elems[i].len)) return 0;
        return 1;
    case ITEM_L:
        if (a->u.l.n != b->u.l.n) return 0;
        for (size_t i = 0; i < a->u.l.n; i++)
            if (!expr_value_equal(a->u.l.items[i], b->u.l.items[i])) return 0;
        return 1;
    case ITEM_M:
        if (a->u.m.n != b->u.m.n) return 0;
        for (size_t i = 0; i < a->u.m.n; i++) {
            const item_attr *x = &a->u.m.attrs[i];
            if (!expr_value_equal(x->value, item_get(b, x->name, x->name_len))) return 0;
        }
        return 1;
    }
    return 0;
}

int expr_value_cmp(const item_value *a, const item_value *b, int *cmp) {
    if (!a || !b || a->type != b->type) return DS_EINVAL;
    if (a->type == ITEM_S || a->type == ITEM_B) {
        *cmp = bytes_cmp(a->u.s.p, a->u.s.len, b->u.s.p, b->u.s.len);
        return DS_OK;
    }
    if (a->type == ITEM_N) {
        decimal x, y;
        if (expr__num(a, &x) || expr__num(b, &y)) return DS_EINVAL;
        *cmp = decimal_cmp(&x, &y);
        return DS_OK;
    }
    return DS_EINVAL;
}

/* ---- paths ------------------------------------------------------------------------------- */
const item_value *expr__resolve(const item_value *item, const expr_path *p) {
    const item_value *v = item;
    for (uint32_t i = 0; v && i < p->n; i++) {
        const expr_elem *e = &p->e[i];
        if (e->index == EXPR_ELEM_NAME) {
            v = v->type == ITEM_M ? item_get(v, e->name, e->len) : NULL;
        } else {
            v = v->type == ITEM_L && e->index < v->u.l.n ? v->u.l.items[e->index] : NULL;
        }
    }
    return v;
}

/* ---- conditions ------------------------------------------------------------------------- */
typedef struct slot {
    item_value tmp;
    char buf[24];
} slot;

/* The value of operand x: borrowed from the item / env, or built in s.
 * NULL when absent (or when size() does not apply). */
static const item_value *operand(const expr_node *x, const item_value *item, slot *s) {
    switch (x->kind) {
    case XN_PATH:
        return expr__resolve(item, x->path);
    case XN_VALUE:
        return x->value;
    case XN_SIZE: {
        const item_value *v = operand(x->args[0], item, s);
        if (!v) return NULL;
        size_t n;
        switch (v->type) {
        case ITEM_S:
        case ITEM_B: n = v->u.s.len; break;
        case ITEM_SS:
        case ITEM_NS:
        case ITEM_BS: n = v->u.set.n; break;
        case ITEM_L: n = v->u.l.n; break;
        case ITEM_M: n = v->u.m.n; break;
        default: return NULL;
        }
        int len = snprintf(s->buf, sizeof s->buf, "%zu", n);
        s->tmp.type = ITEM_N;
        s->tmp.u.s.p = s->buf;
        s->tmp.u.s.len = (size_t)len;
        return &s->tmp;
    }
    default:
        return NULL; /* update-only operands never reach a condition */
    }
}

static int compare(int op, const item_value *a, const item_value *b) {
    if (!a || !b) return op == XC_NE;
    if (op == XC_EQ) return expr_value_equal(a, b);
    if (op == XC_NE) return !expr_value_equal(a, b);
    int c;
    if (expr_value_cmp(a, b, &c)) return 0;
    switch (op) {
    case XC_LT: return c < 0;
    case XC_LE: return c <= 0;
    case XC_GT: return c > 0;
    default: return c >= 0;
    }
}

static int begins_with(const item_value *a, const item_value *b) {
    if (!a || !b || a->type != b->type || (a->type != ITEM_S && a->type != ITEM_B)) return 0;
    return b->u.s.len <= a->u.s.len && !memcmp(a->u.s.p, b->u.s.p, b->u.s.len);
}

static int contains(const item_value *a, const item_value *b) {
    if (!a || !b) return 0;
    switch (a->type) {
    case ITEM_S:
        if (b->type != ITEM_S) return 0;
        return b->u.s.len == 0 || memmem(a->u.s.p, a->u.s.len, b->u.s.p, b->u.s.len) != NULL;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        if (b->type != (a->type == ITEM_SS ? ITEM_S : a->type == ITEM_NS ? ITEM_N : ITEM_B))
            return 0;
        return set_has(a, b->u.s.p, b->u.s.len);
    case ITEM_L:
        for (size_t i = 0; i < a->u.l.n; i++)
            if (expr_value_equal(a->u.l.items[i], b)) return 1;
        return 0;
    default:
        return 0;
    }
}

static int eval(const expr_node *x, const item_value *item) {
    slot s1, s2, s3;
    switch (x->kind) {
    case XN_AND:
        return eval(x->args[0], item) && eval(x->args[1], item);
    case XN_OR:
        return eval(x->args[0], item) || eval(x->args[1], item);
    case XN_NOT:
        return !eval(x->args[0], item);
    case XN_CMP:
        return compare(x->op, operand(x->args[0], item, &s1), operand(x->args[1], item, &s2));
    case XN_BETWEEN: {
        const item_value *v = operand(x->args[0], item, &s1);
        const item_value *lo = operand(x->args[1], item, &s2);
        const item_value *hi = operand(x->args[2], item, &s3);
        return compare(XC_GE, v, lo) && compare(XC_LE, v, hi);
    }
    case XN_IN: {
        const item_value *v = operand(x->args[0], item, &s1);
        if (!v) return 0;
        for (uint32_t i = 1; i < x->nargs; i++)
            if (expr_value_equal(v, operand(x->args[i], item, &s2))) return 1;
        return 0;
    }
    case XN_EXISTS:
        return expr__resolve(item, x->args[0]->path) != NULL;
    case XN_NOT_EXISTS:
        return expr__resolve(item, x->args[0]->path) == NULL;
    case XN_TYPE: {
        const item_value *v = expr__resolve(item, x->args[0]->path);
        return v && v->type == (item_type)x->op;
    }
    case XN_BEGINS:
        return begins_with(operand(x->args[0], item, &s1), operand(x->args[1], item, &s2));
    case XN_CONTAINS:
        return contains(operand(x->args[0], item, &s1), operand(x->args[1], item, &s2));
    default:
        return 0;
    }
}

int expr_eval(const expr_cond *c, const item_value *item, int *result, char *err,
              size_t errlen) {
    (void)err;
    (void)errlen;
    *result = c && c->root ? eval(c->root, item) : 1;
    return DS_OK;
}

/* ---- projections ------------------------------------------------------------------------ */
item_value *expr__project_node(ds_arena *a, const expr_trie *t, const item_value *v) {
    size_t nc = 0;
    for (const expr_trie *c = t->child; c; c = c->next) nc++;
    if (!nc) return NULL;
    if (v->type == ITEM_M && t->child->e.index == EXPR_ELEM_NAME) {
        item_attr *attrs = ds_arena_alloc(a, nc * sizeof *attrs);
        size_t n = 0;
        for (const expr_trie *c = t->child; c; c = c->next) {
            if (c->e.index != EXPR_ELEM_NAME) continue;
            item_value *cv = item_get(v, c->e.name, c->e.len);
            if (!cv) continue;
            if (!c->leaf && !(cv = expr__project_node(a, c, cv))) continue;
            attrs[n].name = c->e.name;
            attrs[n].name_len = c->e.len;
            attrs[n].value = cv;
            n++;
        }
        if (!n) return NULL;
        item_value *out = ds_arena_calloc(a, sizeof *out);
        out->type = ITEM_M;
        out->u.m.attrs = attrs;
        out->u.m.n = n;
        return out;
    }
    if (v->type == ITEM_L && t->child->e.index != EXPR_ELEM_NAME) {
        item_value **items = ds_arena_alloc(a, nc * sizeof *items);
        size_t n = 0;
        for (const expr_trie *c = t->child; c; c = c->next) {
            if (c->e.index == EXPR_ELEM_NAME || c->e.index >= v->u.l.n) continue;
            item_value *cv = v->u.l.items[c->e.index];
            if (!c->leaf && !(cv = expr__project_node(a, c, cv))) continue;
            items[n++] = cv;
        }
        if (!n) return NULL;
        item_value *out = ds_arena_calloc(a, sizeof *out);
        out->type = ITEM_L;
        out->u.l.items = items;
        out->u.l.n = n;
        return out;
    }
    return NULL;
}

static item_value *empty_map(ds_arena *a) {
    item_value *m = ds_arena_calloc(a, sizeof *m);
    m->type = ITEM_M;
    return m;
}

int expr_project(ds_arena *a, const expr_proj *p, const item_value *item, item_value **out) {
    item_value *r = item && item->type == ITEM_M ? expr__project_node(a, p->trie, item) : NULL;
    *out = r ? r : empty_map(a);
    return DS_OK;
}

int expr_updated_attrs(ds_arena *a, const expr_update *u, const item_value *item,
                       item_value **out) {
    item_value *r = item && item->type == ITEM_M ? expr__project_node(a, u->trie, item) : NULL;
    *out = r ? r : empty_map(a);
    return DS_OK;
}

static int node_references(const expr_node *n, const char *attr, size_t len) {
    if (!n) return 0;
    if (n->kind == XN_PATH && n->path && n->path->n && n->path->e[0].len == len &&
        !memcmp(n->path->e[0].name, attr, len))
        return 1;
    for (uint32_t i = 0; i < n->nargs; i++)
        if (node_references(n->args[i], attr, len)) return 1;
    return 0;
}

int expr_cond_references(const expr_cond *c, const char *attr, size_t len) {
    return c && node_references(c->root, attr, len);
}
