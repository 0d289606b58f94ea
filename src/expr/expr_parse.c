/* expr_parse.c -- the lexer and the parsers of
 * DynamoDB's four expression languages (condition/filter, update,
 * projection, key condition), compiling each into the trees of expr_int.h.
 *
 * Grammar (developer guide, "Condition and filter expressions", "Update
 * expressions"; precedence from loosest: OR, AND, NOT, then comparisons /
 * BETWEEN / IN / functions, which do not chain):
 *
 *   cond    ::= and (OR and)*           and ::= not (AND not)*
 *   not     ::= NOT not | cmp
 *   cmp     ::= primary [ comparator primary | BETWEEN primary AND primary
 *                       | IN ( primary (, primary)* ) ]
 *   primary ::= ( cond ) | function ( args ) | path | :value
 *   update  ::= ( SET set (, set)* | REMOVE path (, path)*
 *               | ADD path :value (, ...)* | DELETE path :value (, ...)* )+
 *   set     ::= path = value       value ::= operand [ (+|-) operand ] | ( value )
 *   operand ::= ( operand ) | if_not_exists(path, operand)
 *             | list_append(operand, operand) | path | :value
 *   path    ::= (name | #name) ( . (name | #name) | [ digits ] )*
 *
 * A parenthesised group may hold a condition or an operand ("(a) = :v" is
 * an operand); the parser lets the inside be either and checks what each
 * position needs afterwards, so it never backtracks.
 *
 * Errors come in two kinds, as in DynamoDB: syntax errors (and exceeded
 * limits) stop the parse at once; semantic errors (reserved words,
 * undefined #names / :values, bad functions, overlapping paths, operand
 * types) are recorded per category, the parse goes on, and the first
 * category in DynamoDB's order is reported.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "expr/expr_int.h"

/* ---- shared helpers --------------------------------------------------------------- */



/* ---- lexer ------------------------------------------------------------------------------- */
enum {
    T_EOF, T_IDENT, T_NAME, T_VALUE, T_NUM, T_LP, T_RP, T_LB, T_RB, T_DOT, T_COMMA,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_PLUS, T_MINUS, T_BAD
};

typedef struct tok {
    int t;
    uint32_t pos, len;
} tok;

/* Semantic error categories, in the order DynamoDB reports them. */
enum {
    S_PARENS, S_UNKNOWN_FN, S_MISUSED_FN, S_RESERVED, S_SECTION, S_NAME, S_VALUE,
    S_OVERLAP, S_CONFLICT, S_OPERAND, S_DISTINCT, S_FUNCTION, S_N
};

enum { CTX_COND, CTX_UPDATE, CTX_PROJ, CTX_KEY };

#define MAX_NESTING 256 /* recursion guard: parentheses and NOTs */

typedef struct parser {
    expr_env *env;
    ds_arena *a;
    const char *s;
    size_t n, pos;
    const char *label; /* "ConditionExpression", ... */
    int ctx;
    tok cur, prev;
    int have_prev;
    int nops, depth;
    int failed;    /* a syntax or limit error is in msg */
    char msg[512]; /* that error, without the "Invalid X: " prefix */
    char *sem[S_N];
} parser;

static void lex(parser *p) {
    p->prev = p->cur;
    p->have_prev = p->cur.t != T_EOF || p->cur.len != 0;
    while (p->pos < p->n && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos]) p->pos++;
    tok t = {T_EOF, (uint32_t)p->pos, 0};
    if (p->pos >= p->n) {
        p->cur = t;
        return;
    }
    const char *s = p->s;
    size_t i = p->pos, n = p->n;
    unsigned char c = (unsigned char)s[i];
    if (expr__is_id_start(c)) {
        while (i < n && expr__is_id((unsigned char)s[i])) i++;
        t.t = T_IDENT;
    } else if (c >= '0' && c <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        t.t = T_NUM;
    } else if (c == '#' || c == ':') {
        i++;
        while (i < n && expr__is_id((unsigned char)s[i])) i++;
        t.t = i - p->pos > 1 ? (c == '#' ? T_NAME : T_VALUE) : T_BAD;
    } else {
        i++;
        switch (c) {
        case '(': t.t = T_LP; break;
        case ')': t.t = T_RP; break;
        case '[': t.t = T_LB; break;
        case ']': t.t = T_RB; break;
        case '.': t.t = T_DOT; break;
        case ',': t.t = T_COMMA; break;
        case '=': t.t = T_EQ; break;
        case '+': t.t = T_PLUS; break;
        case '-': t.t = T_MINUS; break;
        case '<':
            t.t = T_LT;
            if (i < n && s[i] == '=') t.t = T_LE, i++;
            else if (i < n && s[i] == '>') t.t = T_NE, i++;
            break;
        case '>':
            t.t = T_GT;
            if (i < n && s[i] == '=') t.t = T_GE, i++;
            break;
        default:
            t.t = T_BAD;
            if (c >= 0xC0) /* keep a UTF-8 sequence whole in the message */
                while (i < n && i - p->pos < 4 && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        }
    }
    t.len = (uint32_t)(i - p->pos);
    p->pos = i;
    p->cur = t;
}

/* Is the current token the keyword w (case-insensitive)? */
static int is_kw(const parser *p, const char *w) {
    return p->cur.t == T_IDENT && !expr__word_cmp(p->s + p->cur.pos, p->cur.len, w);
}

/* Is the token after the current one a '('? (skips whitespace only) */
static int next_is_lparen(const parser *p) {
    size_t i = p->pos;
    while (i < p->n && strchr(" \t\r\n", p->s[i]) && p->s[i]) i++;
    return i < p->n && p->s[i] == '(';
}

static void syntax_error(parser *p) {
    if (p->failed) return;
    p->failed = 1;
    const tok *c = &p->cur;
    const char *tk = c->t == T_EOF ? "<EOF>" : p->s + c->pos;
    int tklen = c->t == T_EOF ? 5 : (int)c->len;
    size_t from = p->have_prev ? p->prev.pos : c->pos;
    size_t to = c->t == T_EOF ? (p->have_prev ? p->prev.pos + p->prev.len : c->pos)
                              : c->pos + c->len;
    if (to > 200 + from) from = to - 200;
    snprintf(p->msg, sizeof p->msg, "Syntax error; token: \"%.*s\", near: \"%.*s\"", tklen, tk,
             (int)(to - from), p->s + from);
}

static void limit_error(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void limit_error(parser *p, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
}

static void sem(parser *p, int cat, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sem(parser *p, int cat, const char *fmt, ...) {
    if (p->sem[cat]) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->sem[cat] = ds_arena_strndup(p->a, buf, strlen(buf));
}

static void count_op(parser *p) {
    if (++p->nops > EXPR_MAX_OPERATORS)
        limit_error(p, "The expression contains too many operators; operator count: %d",
                    p->nops);
}

/* Writes the final error; returns DS_OK if there is none. */
static int finish(parser *p, char *err, size_t errlen) {
    if (p->failed) return expr__fail(err, errlen, "Invalid %s: %s", p->label, p->msg);
    static const int cond_order[] = {S_PARENS,  S_UNKNOWN_FN, S_MISUSED_FN, S_RESERVED,
                                     S_NAME,    S_VALUE,      S_OPERAND,    S_DISTINCT,
                                     S_FUNCTION};
    static const int upd_order[] = {S_RESERVED, S_UNKNOWN_FN, S_SECTION, S_NAME,
                                    S_VALUE,    S_OVERLAP,    S_CONFLICT, S_OPERAND,
                                    S_FUNCTION};
    const int *order = p->ctx == CTX_UPDATE || p->ctx == CTX_PROJ ? upd_order : cond_order;
    for (int i = 0; i < 9; i++)
        if (p->sem[order[i]])
            return expr__fail(err, errlen, "Invalid %s: %s", p->label, p->sem[order[i]]);
    return DS_OK;
}

static int parser_init(parser *p, expr_env *env, const char *s, size_t n, const char *label,
                       int ctx, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->env = env;
    p->a = env->a;
    p->s = s ? s : "";
    p->n = s ? n : 0;
    p->label = label;
    p->ctx = ctx;
    if (p->n == 0)
        return expr__fail(err, errlen, "Invalid %s: The expression can not be empty;", label);
    if (n > EXPR_MAX_LEN) {
        if (ctx == CTX_COND)
            return expr__fail(err, errlen,
                              "Invalid %s: Expression size has exceeded the maximum allowed "
                              "size; expression size: %zu",
                              label, n);
        return expr__fail(err, errlen,
                          "Invalid %s: Expression size has exceeded the maximum allowed size;",
                          label);
    }
    lex(p);
    p->have_prev = 0;
    return DS_OK;
}

/* ---- nodes and paths ------------------------------------------------------------------- */
static expr_node *node(parser *p, int kind, uint32_t nargs) {
    expr_node *x = ds_arena_calloc(p->a, sizeof *x);
    x->kind = (uint8_t)kind;
    x->nargs = nargs;
    if (nargs) x->args = ds_arena_calloc(p->a, nargs * sizeof *x->args);
    return x;
}

static expr_node *node2(parser *p, int kind, expr_node *l, expr_node *r) {
    expr_node *x = node(p, kind, 2);
    x->args[0] = l;
    x->args[1] = r;
    return x;
}

/* Appends "[a, [3], b]" for path q to b. */
static void path_str(ds_buf *b, const expr_path *q) {
    ds_buf_putc(b, '[');
    for (uint32_t i = 0; i < q->n; i++) {
        if (i) ds_buf_puts(b, ", ");
        if (q->e[i].index == EXPR_ELEM_NAME) ds_buf_append(b, q->e[i].name, q->e[i].len);
        else ds_buf_printf(b, "[%u]", q->e[i].index);
    }
    ds_buf_putc(b, ']');
}

static int path_equal(const expr_path *x, const expr_path *y) {
    if (x->n != y->n) return 0;
    for (uint32_t i = 0; i < x->n; i++) {
        if (x->e[i].index != y->e[i].index) return 0;
        if (x->e[i].index == EXPR_ELEM_NAME &&
            (x->e[i].len != y->e[i].len || memcmp(x->e[i].name, y->e[i].name, x->e[i].len)))
            return 0;
    }
    return 1;
}

/* Is the current token a keyword of this expression's grammar (AND, OR,
 * NOT, BETWEEN, IN in conditions; SET, REMOVE, ADD, DELETE in updates)? */
static int is_grammar_kw(const parser *p) {
    static const char *const cond_kw[] = {"AND", "OR", "NOT", "BETWEEN", "IN"};
    static const char *const upd_kw[] = {"SET", "REMOVE", "ADD", "DELETE"};
    if (p->ctx == CTX_UPDATE) {
        for (size_t i = 0; i < DS_ARRAY_LEN(upd_kw); i++)
            if (is_kw(p, upd_kw[i])) return 1;
    } else if (p->ctx != CTX_PROJ) {
        for (size_t i = 0; i < DS_ARRAY_LEN(cond_kw); i++)
            if (is_kw(p, cond_kw[i])) return 1;
    }
    return 0;
}

/* Parses one name element at the current token (IDENT or NAME) into e. */
static int parse_elem(parser *p, expr_elem *e) {
    const char *t = p->s + p->cur.pos;
    uint32_t len = p->cur.len;
    e->index = EXPR_ELEM_NAME;
    if (p->cur.t == T_IDENT && is_grammar_kw(p)) {
        syntax_error(p); /* a keyword of the grammar is never a name */
        return -1;
    }
    if (p->cur.t == T_IDENT) {
        if (expr__is_reserved(t, len))
            sem(p, S_RESERVED, "Attribute name is a reserved keyword; reserved keyword: %.*s",
                (int)len, t);
        e->name = ds_arena_strndup(p->a, t, len);
        e->len = len;
    } else if (p->cur.t == T_NAME) {
        expr_ref *r = expr__env_find(p->env->names, p->env->n_names, t, len);
        if (!r) {
            sem(p, S_NAME,
                "An expression attribute name used in the document path is not defined; "
                "attribute name: %.*s",
                (int)len, t);
            e->name = ds_arena_strndup(p->a, t, len);
            e->len = len;
        } else {
            r->used = 1;
            e->name = r->name;
            e->len = (uint32_t)DS_MIN(r->name_len, UINT32_MAX - 1);
        }
    } else {
        syntax_error(p);
        return -1;
    }
    lex(p);
    return 0;
}

/* Parses the rest of a path (".x", "[3]") after the elements already in
 * elems[0..*n). */
static expr_path *parse_path_tail(parser *p, expr_elem *elems, uint32_t n) {
    while (p->cur.t == T_DOT || p->cur.t == T_LB) {
        if (n >= EXPR_MAX_DEPTH) {
            limit_error(p, "The document path has too many nesting levels; nesting levels: %u",
                        n + 1);
            return NULL;
        }
        if (p->cur.t == T_DOT) {
            lex(p);
            if (parse_elem(p, &elems[n])) return NULL;
        } else {
            lex(p);
            if (p->cur.t != T_NUM) {
                syntax_error(p);
                return NULL;
            }
            uint64_t v = 0;
            for (uint32_t i = 0; i < p->cur.len; i++) {
                v = v * 10 + (uint64_t)(p->s[p->cur.pos + i] - '0');
                if (v > INT32_MAX) {
                    limit_error(p, "List index is not within the allowable range; index: %.*s",
                                (int)p->cur.len, p->s + p->cur.pos);
                    return NULL;
                }
            }
            elems[n].name = NULL;
            elems[n].len = 0;
            elems[n].index = (uint32_t)v;
            lex(p);
            if (p->cur.t != T_RB) {
                syntax_error(p);
                return NULL;
            }
            lex(p);
        }
        n++;
    }
    expr_path *q = ds_arena_alloc(p->a, sizeof *q);
    q->n = n;
    q->e = ds_arena_memdup(p->a, elems, n * sizeof *elems);
    return q;
}

static expr_path *parse_path(parser *p) {
    expr_elem elems[EXPR_MAX_DEPTH];
    if (parse_elem(p, &elems[0])) return NULL;
    return parse_path_tail(p, elems, 1);
}

static expr_node *path_node(parser *p) {
    expr_path *q = parse_path(p);
    if (!q) return NULL;
    expr_node *x = node(p, XN_PATH, 0);
    x->path = q;
    return x;
}

static expr_node *value_node(parser *p) {
    const char *t = p->s + p->cur.pos;
    uint32_t len = p->cur.len;
    expr_ref *r = expr__env_find(p->env->vals, p->env->n_vals, t, len);
    expr_node *x = node(p, XN_VALUE, 0);
    if (!r) {
        sem(p, S_VALUE,
            "An expression attribute value used in expression is not defined; attribute "
            "value: %.*s",
            (int)len, t);
    } else {
        r->used = 1;
        x->value = r->v;
    }
    lex(p);
    return x;
}

static const item_type *value_type(const expr_node *x, item_type *buf) {
    if (x->kind != XN_VALUE || !x->value) return NULL;
    *buf = x->value->type;
    return buf;
}

/* ---- conditions ------------------------------------------------------------------------- */
static expr_node *parse_or(parser *p, int allow_operand);

/* A condition function (attribute_exists, ...) used where an operand belongs. */
static void check_operand(parser *p, const expr_node *x) {
    if (!x || expr_is_operand(x)) return;
    if (x->fn)
        sem(p, S_MISUSED_FN,
            "The function is not allowed to be used this way in an expression; function: %s",
            x->fname);
    else
        syntax_error(p);
}

static void check_distinct(parser *p, const char *op, expr_node *first, expr_node **rest,
                           uint32_t n) {
    if (!first || first->kind != XN_PATH) return;
    for (uint32_t i = 0; i < n; i++) {
        if (rest[i] && rest[i]->kind == XN_PATH && path_equal(first->path, rest[i]->path)) {
            ds_buf b = DS_BUF_INIT;
            path_str(&b, first->path);
            sem(p, S_DISTINCT,
                "The first operand must be distinct from the remaining operands for this "
                "operator or function; operator: %s, first operand: %s",
                op, b.data);
            ds_buf_free(&b);
            return;
        }
    }
}

static void render_value(ds_buf *b, const item_value *v) {
    ds_buf_printf(b, "{%s:", expr_type_name(v->type));
    if (v->type == ITEM_S || v->type == ITEM_N || v->type == ITEM_B)
        ds_buf_append(b, v->u.s.p, DS_MIN(v->u.s.len, 200));
    ds_buf_putc(b, '}');
}

static void check_between(parser *p, const expr_node *lo, const expr_node *hi) {
    if (lo->kind != XN_VALUE || hi->kind != XN_VALUE || !lo->value || !hi->value) return;
    int c;
    const char *what = NULL;
    if (lo->value->type != hi->value->type)
        what = "requires same data type for lower and upper bounds";
    else if (expr_value_cmp(lo->value, hi->value, &c) == DS_OK && c > 0)
        what = "requires upper bound to be greater than or equal to lower bound";
    if (!what) return;
    ds_buf a = DS_BUF_INIT, b = DS_BUF_INIT;
    render_value(&a, lo->value);
    render_value(&b, hi->value);
    sem(p, S_FUNCTION,
        "The BETWEEN operator %s; lower bound operand: AttributeValue: %s, upper bound "
        "operand: AttributeValue: %s",
        what, a.data, b.data);
    ds_buf_free(&a);
    ds_buf_free(&b);
}

static const char *const type_names[] = {"S", "N", "B", "BOOL", "NULL",
                                         "M", "L", "SS", "NS", "BS"};

static void check_cond_function(parser *p, expr_node *x, const char *name) {
    static const struct {
        const char *name;
        int kind, nargs;
    } fns[] = {{"attribute_exists", XN_EXISTS, 1}, {"attribute_not_exists", XN_NOT_EXISTS, 1},
               {"attribute_type", XN_TYPE, 2},     {"begins_with", XN_BEGINS, 2},
               {"contains", XN_CONTAINS, 2},       {"size", XN_SIZE, 1}};
    int f = -1;
    for (size_t i = 0; i < DS_ARRAY_LEN(fns); i++)
        if (!strcmp(fns[i].name, name)) f = (int)i;
    if (f < 0) {
        if (!strcmp(name, "if_not_exists") || !strcmp(name, "list_append"))
            sem(p, S_UNKNOWN_FN,
                "The function is not allowed in a condition expression; function: %s", name);
        else
            sem(p, S_UNKNOWN_FN, "Invalid function name; function: %s", name);
        x->kind = XN_EXISTS;
        return;
    }
    x->kind = (uint8_t)fns[f].kind;
    if ((int)x->nargs != fns[f].nargs) {
        sem(p, S_OPERAND,
            "Incorrect number of operands for operator or function; operator or function: %s, "
            "number of operands: %u",
            name, x->nargs);
        return;
    }
    if (x->nargs == 2) check_distinct(p, name, x->args[0], &x->args[1], 1);
    item_type tb;
    const item_type *t;
    switch (x->kind) {
    case XN_EXISTS:
    case XN_NOT_EXISTS:
        if (x->args[0]->kind != XN_PATH)
            sem(p, S_FUNCTION,
                "Operator or function requires a document path; operator or function: %s",
                name);
        break;
    case XN_BEGINS:
        for (int i = 0; i < 2; i++)
            if ((t = value_type(x->args[i], &tb)) && *t != ITEM_S && *t != ITEM_B) {
                sem(p, S_FUNCTION,
                    "Incorrect operand type for operator or function; operator or function: "
                    "%s, operand type: %s",
                    name, expr_type_name(*t));
                break;
            }
        break;
    case XN_SIZE:
        if ((t = value_type(x->args[0], &tb)) &&
            (*t == ITEM_N || *t == ITEM_BOOL || *t == ITEM_NULL))
            sem(p, S_FUNCTION,
                "Incorrect operand type for operator or function; operator or function: %s, "
                "operand type: %s",
                name, expr_type_name(*t));
        break;
    case XN_TYPE:
        if (x->args[0]->kind != XN_PATH)
            sem(p, S_FUNCTION,
                "Operator or function requires a document path; operator or function: %s",
                name);
        t = value_type(x->args[1], &tb);
        if (!t || *t != ITEM_S) {
            if (x->args[1]->kind != XN_VALUE || x->args[1]->value)
                sem(p, S_FUNCTION,
                    "Incorrect operand type for operator or function; operator or function: "
                    "%s, operand type: %s",
                    name, t ? expr_type_name(*t) : "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}");
        } else {
            const item_value *v = x->args[1]->value;
            int found = 0;
            for (int i = 0; i < 10; i++)
                if (strlen(type_names[i]) == v->u.s.len &&
                    !memcmp(type_names[i], v->u.s.p, v->u.s.len)) {
                    x->op = (uint8_t)(ITEM_S + i);
                    found = 1;
                }
            if (!found)
                sem(p, S_FUNCTION,
                    "Invalid attribute type name found; type: %.*s, valid types: "
                    "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
                    (int)DS_MIN(v->u.s.len, 200), v->u.s.p);
        }
        break;
    default:
        break;
    }
}

/* An argument of a condition function: any operand, parenthesised or not. */
static expr_node *parse_cond_arg(parser *p) {
    expr_node *x = parse_or(p, 1);
    if (x) check_operand(p, x);
    return p->failed ? NULL : x;
}

static expr_node *parse_function_c(parser *p) {
    const char *name = ds_arena_strndup(p->a, p->s + p->cur.pos, p->cur.len);
    lex(p); /* name */
    lex(p); /* ( */
    expr_node *args[8];
    uint32_t n = 0, total = 0;
    for (;;) {
        expr_node *a = parse_cond_arg(p);
        if (!a) return NULL;
        if (n < DS_ARRAY_LEN(args)) args[n++] = a;
        total++;
        if (p->cur.t == T_COMMA) {
            lex(p);
            continue;
        }
        break;
    }
    if (p->cur.t != T_RP) {
        syntax_error(p);
        return NULL;
    }
    lex(p);
    count_op(p);
    expr_node *x = node(p, XN_EXISTS, n);
    memcpy(x->args, args, n * sizeof *args);
    x->nargs = n;
    x->fn = 1;
    x->fname = name;
    check_cond_function(p, x, name);
    if (total != n) x->nargs = n; /* more than 8: already reported as wrong arity */
    return x;
}

static expr_node *parse_primary_c(parser *p) {
    if (++p->depth > MAX_NESTING) {
        limit_error(p, "The expression has too many nested parentheses or operators;");
        return NULL;
    }
    expr_node *x = NULL;
    switch (p->cur.t) {
    case T_LP: {
        lex(p);
        x = parse_or(p, 1);
        if (!x) break;
        if (p->cur.t != T_RP) {
            syntax_error(p);
            x = NULL;
            break;
        }
        lex(p);
        if (x->parens) sem(p, S_PARENS, "The expression has redundant parentheses;");
        x->parens = 1;
        if (x->kind == XN_PATH && (p->cur.t == T_DOT || p->cur.t == T_LB)) {
            expr_elem elems[EXPR_MAX_DEPTH];
            memcpy(elems, x->path->e, x->path->n * sizeof *elems);
            expr_path *q = parse_path_tail(p, elems, x->path->n);
            if (!q) {
                x = NULL;
                break;
            }
            x = node(p, XN_PATH, 0);
            x->path = q;
        }
        break;
    }
    case T_IDENT:
        x = next_is_lparen(p) && !is_grammar_kw(p) ? parse_function_c(p) : path_node(p);
        break;
    case T_NAME:
        x = path_node(p);
        break;
    case T_VALUE:
        x = value_node(p);
        break;
    default:
        syntax_error(p);
    }
    p->depth--;
    return p->failed ? NULL : x;
}

static int comparator(int t) {
    switch (t) {
    case T_EQ: return XC_EQ;
    case T_NE: return XC_NE;
    case T_LT: return XC_LT;
    case T_LE: return XC_LE;
    case T_GT: return XC_GT;
    case T_GE: return XC_GE;
    }
    return -1;
}

static expr_node *parse_cmp(parser *p, int allow_operand) {
    static const char *const opnames[] = {"=", "<>", "<", "<=", ">", ">="};
    expr_node *x = parse_primary_c(p);
    if (!x) return NULL;
    int c = comparator(p->cur.t);
    if (c >= 0) {
        check_operand(p, x);
        lex(p);
        expr_node *y = parse_primary_c(p);
        if (!y) return NULL;
        check_operand(p, y);
        count_op(p);
        expr_node *r = node2(p, XN_CMP, x, y);
        r->op = (uint8_t)c;
        check_distinct(p, opnames[c], x, &r->args[1], 1);
        return p->failed ? NULL : r;
    }
    if (is_kw(p, "BETWEEN")) {
        check_operand(p, x);
        lex(p);
        expr_node *lo = parse_primary_c(p);
        if (!lo) return NULL;
        check_operand(p, lo);
        if (!is_kw(p, "AND")) {
            syntax_error(p);
            return NULL;
        }
        lex(p);
        expr_node *hi = parse_primary_c(p);
        if (!hi) return NULL;
        check_operand(p, hi);
        count_op(p);
        expr_node *r = node(p, XN_BETWEEN, 3);
        r->args[0] = x;
        r->args[1] = lo;
        r->args[2] = hi;
        check_between(p, lo, hi);
        return p->failed ? NULL : r;
    }
    if (is_kw(p, "IN")) {
        check_operand(p, x);
        lex(p);
        if (p->cur.t != T_LP) {
            syntax_error(p);
            return NULL;
        }
        lex(p);
        expr_node *list[EXPR_MAX_IN + 1];
        uint32_t n = 0;
        for (;;) {
            expr_node *y = parse_primary_c(p);
            if (!y) return NULL;
            check_operand(p, y);
            if (n == EXPR_MAX_IN) {
                /* count the rest for the message, then fail */
                uint32_t more = 1;
                while (p->cur.t == T_COMMA) {
                    lex(p);
                    if (!parse_primary_c(p)) return NULL;
                    more++;
                }
                limit_error(p,
                            "The IN operator is provided with too many operands; number of "
                            "operands: %u",
                            n + more);
                return NULL;
            }
            list[n++] = y;
            if (p->cur.t != T_COMMA) break;
            lex(p);
        }
        if (p->cur.t != T_RP) {
            syntax_error(p);
            return NULL;
        }
        lex(p);
        count_op(p);
        expr_node *r = node(p, XN_IN, n + 1);
        r->args[0] = x;
        memcpy(r->args + 1, list, n * sizeof *list);
        check_distinct(p, "IN", x, r->args + 1, n);
        return p->failed ? NULL : r;
    }
    if (expr_is_operand(x) && !allow_operand) {
        if (x->kind == XN_SIZE)
            sem(p, S_MISUSED_FN,
                "The function is not allowed to be used this way in an expression; function: "
                "size");
        else {
            syntax_error(p);
            return NULL;
        }
    }
    return x;
}

/* A condition where one is needed after NOT / around AND / OR. */
static int need_condition(parser *p, const expr_node *x) {
    if (!expr_is_operand(x)) return 0;
    if (x->kind == XN_SIZE) {
        sem(p, S_MISUSED_FN,
            "The function is not allowed to be used this way in an expression; function: size");
        return 0;
    }
    syntax_error(p);
    return -1;
}

static expr_node *parse_not(parser *p, int allow_operand) {
    if (is_kw(p, "NOT")) {
        if (++p->depth > MAX_NESTING) {
            limit_error(p, "The expression has too many nested parentheses or operators;");
            return NULL;
        }
        lex(p);
        count_op(p);
        expr_node *x = parse_not(p, 0);
        p->depth--;
        if (!x) return NULL;
        expr_node *r = node(p, XN_NOT, 1);
        r->args[0] = x;
        return r;
    }
    return parse_cmp(p, allow_operand);
}

static expr_node *parse_and(parser *p, int allow_operand) {
    expr_node *x = parse_not(p, allow_operand);
    while (x && is_kw(p, "AND")) {
        if (need_condition(p, x)) return NULL;
        lex(p);
        count_op(p);
        expr_node *y = parse_not(p, 0);
        if (!y) return NULL;
        x = node2(p, XN_AND, x, y);
    }
    return p->failed ? NULL : x;
}

static expr_node *parse_or(parser *p, int allow_operand) {
    expr_node *x = parse_and(p, allow_operand);
    while (x && is_kw(p, "OR")) {
        if (need_condition(p, x)) return NULL;
        lex(p);
        count_op(p);
        expr_node *y = parse_and(p, 0);
        if (!y) return NULL;
        x = node2(p, XN_OR, x, y);
    }
    return p->failed ? NULL : x;
}

static int parse_cond_common(expr_env *env, const char *s, size_t n, const char *label,
                             int ctx, expr_node **root, char *err, size_t errlen) {
    parser p;
    int rc = parser_init(&p, env, s, n, label, ctx, err, errlen);
    if (rc) return rc;
    expr_node *x = parse_or(&p, 0);
    if (x && p.cur.t != T_EOF) syntax_error(&p);
    rc = finish(&p, err, errlen);
    if (rc) return rc;
    *root = x;
    return DS_OK;
}

static int parse_cond_as(expr_env *env, const char *s, size_t n, const char *label,
                         expr_cond **out, char *err, size_t errlen) {
    expr_node *root;
    int rc = parse_cond_common(env, s, n, label, CTX_COND, &root, err, errlen);
    if (rc) return rc;
    expr_cond *c = ds_arena_alloc(env->a, sizeof *c);
    c->root = root;
    *out = c;
    return DS_OK;
}

int expr_parse_condition(expr_env *env, const char *s, size_t n, expr_cond **out, char *err,
                         size_t errlen) {
    return parse_cond_as(env, s, n, "ConditionExpression", out, err, errlen);
}

int expr_parse_filter(expr_env *env, const char *s, size_t n, expr_cond **out, char *err,
                      size_t errlen) {
    return parse_cond_as(env, s, n, "FilterExpression", out, err, errlen);
}

/* ---- paths: overlap checks and tries -------------------------------------------------- */
static void check_overlaps(parser *p, expr_path **paths, uint32_t n) {
    for (uint32_t j = 1; j < n && !p->sem[S_OVERLAP]; j++) {
        for (uint32_t i = 0; i < j; i++) {
            const expr_path *x = paths[i], *y = paths[j];
            uint32_t k, m = DS_MIN(x->n, y->n);
            int differ = 0, conflict = 0;
            for (k = 0; k < m; k++) {
                const expr_elem *a = &x->e[k], *b = &y->e[k];
                int an = a->index == EXPR_ELEM_NAME, bn = b->index == EXPR_ELEM_NAME;
                if (an != bn) {
                    conflict = 1;
                    break;
                }
                if (an ? (a->len != b->len || memcmp(a->name, b->name, a->len))
                       : a->index != b->index) {
                    differ = 1;
                    break;
                }
            }
            if (differ) continue;
            ds_buf b1 = DS_BUF_INIT, b2 = DS_BUF_INIT;
            path_str(&b1, x);
            path_str(&b2, y);
            if (conflict)
                sem(p, S_CONFLICT,
                    "Two document paths conflict with each other; must remove or rewrite one "
                    "of these paths; path one: %s, path two: %s",
                    b1.data, b2.data);
            else
                sem(p, S_OVERLAP,
                    "Two document paths overlap with each other; must remove or rewrite one "
                    "of these paths; path one: %s, path two: %s",
                    b1.data, b2.data);
            ds_buf_free(&b1);
            ds_buf_free(&b2);
            if (!conflict) break;
        }
    }
}

void expr__trie_add(ds_arena *a, expr_trie *root, const expr_path *q) {
    expr_trie *t = root;
    for (uint32_t i = 0; i < q->n; i++) {
        const expr_elem *e = &q->e[i];
        expr_trie **link = &t->child, *c;
        for (c = t->child; c; link = &c->next, c = c->next) {
            if (c->e.index == e->index &&
                (e->index != EXPR_ELEM_NAME ||
                 (c->e.len == e->len && !memcmp(c->e.name, e->name, e->len))))
                break;
            if (e->index != EXPR_ELEM_NAME && c->e.index != EXPR_ELEM_NAME &&
                c->e.index > e->index) {
                c = NULL; /* insert before c to keep indexes ascending */
                break;
            }
        }
        if (!c) {
            c = ds_arena_calloc(a, sizeof *c);
            c->e = *e;
            c->next = *link;
            *link = c;
        }
        t = c;
    }
    t->leaf = 1;
}

/* ---- updates ---------------------------------------------------------------------------- */
static expr_node *parse_operand_u(parser *p, int allow_arith);

static const char *long_type_name(item_type t) {
    switch (t) {
    case ITEM_S: return "STRING";
    case ITEM_N: return "NUMBER";
    case ITEM_B: return "BINARY";
    case ITEM_NULL: return "NULL";
    case ITEM_BOOL: return "BOOLEAN";
    case ITEM_L: return "LIST";
    case ITEM_M: return "MAP";
    default: return NULL;
    }
}

static void check_arith(parser *p, expr_node *x, const char *op) {
    item_type tb;
    const item_type *t;
    for (int i = 0; i < 2; i++)
        if ((t = value_type(x->args[i], &tb)) && *t != ITEM_N) {
            sem(p, S_FUNCTION,
                "Incorrect operand type for operator or function; operator or function: %s, "
                "operand type: %s",
                op, expr_type_name(*t));
            return;
        }
}

static expr_node *parse_function_u(parser *p) {
    const char *name = ds_arena_strndup(p->a, p->s + p->cur.pos, p->cur.len);
    lex(p);
    lex(p);
    expr_node *args[8];
    uint32_t n = 0;
    for (;;) {
        expr_node *a = parse_operand_u(p, 0);
        if (!a) return NULL;
        if (n < DS_ARRAY_LEN(args)) args[n++] = a;
        if (p->cur.t != T_COMMA) break;
        lex(p);
    }
    if (p->cur.t != T_RP) {
        syntax_error(p);
        return NULL;
    }
    lex(p);
    count_op(p);
    expr_node *x = node(p, XN_IF_NOT_EXISTS, n);
    memcpy(x->args, args, n * sizeof *args);
    x->fn = 1;
    x->fname = name;
    int kind;
    if (!strcmp(name, "if_not_exists")) kind = XN_IF_NOT_EXISTS;
    else if (!strcmp(name, "list_append")) kind = XN_LIST_APPEND;
    else {
        static const char *const condfns[] = {"attribute_exists", "attribute_not_exists",
                                              "attribute_type",   "begins_with",
                                              "contains",         "size"};
        int known = 0;
        for (size_t i = 0; i < DS_ARRAY_LEN(condfns); i++) known |= !strcmp(condfns[i], name);
        if (known)
            sem(p, S_UNKNOWN_FN,
                "The function is not allowed in an update expression; function: %s", name);
        else sem(p, S_UNKNOWN_FN, "Invalid function name; function: %s", name);
        return x;
    }
    x->kind = (uint8_t)kind;
    if (n != 2) {
        sem(p, S_FUNCTION,
            "Incorrect number of operands for operator or function; operator or function: %s, "
            "number of operands: %u",
            name, n);
        return x;
    }
    if (kind == XN_IF_NOT_EXISTS) {
        if (args[0]->kind != XN_PATH)
            sem(p, S_FUNCTION,
                "Operator or function requires a document path; operator or function: %s",
                name);
    } else {
        item_type tb;
        const item_type *t;
        for (int i = 0; i < 2; i++)
            if ((t = value_type(args[i], &tb)) && *t != ITEM_L) {
                sem(p, S_FUNCTION,
                    "Incorrect operand type for operator or function; operator or function: "
                    "%s, operand type: %s",
                    name, expr_type_name(*t));
                break;
            }
    }
    return x;
}

static expr_node *parse_operand_u(parser *p, int allow_arith) {
    if (++p->depth > MAX_NESTING) {
        limit_error(p, "The expression has too many nested parentheses or operators;");
        return NULL;
    }
    expr_node *x = NULL;
    switch (p->cur.t) {
    case T_LP:
        lex(p);
        x = parse_operand_u(p, allow_arith);
        if (x && allow_arith && (p->cur.t == T_PLUS || p->cur.t == T_MINUS)) {
            if (x->kind == XN_PLUS || x->kind == XN_MINUS) {
                syntax_error(p);
                x = NULL;
                break;
            }
            int k = p->cur.t == T_PLUS ? XN_PLUS : XN_MINUS;
            lex(p);
            expr_node *y = parse_operand_u(p, 0);
            if (!y) {
                x = NULL;
                break;
            }
            count_op(p);
            x = node2(p, k, x, y);
            check_arith(p, x, k == XN_PLUS ? "+" : "-");
        }
        if (!x) break;
        if (p->cur.t != T_RP) {
            syntax_error(p);
            x = NULL;
            break;
        }
        lex(p);
        x->parens = 1;
        break;
    case T_IDENT:
        x = next_is_lparen(p) ? parse_function_u(p) : path_node(p);
        break;
    case T_NAME:
        x = path_node(p);
        break;
    case T_VALUE:
        x = value_node(p);
        break;
    default:
        syntax_error(p);
    }
    p->depth--;
    return p->failed ? NULL : x;
}

static expr_node *parse_set_value(parser *p) {
    expr_node *x = parse_operand_u(p, 1);
    if (!x) return NULL;
    if (p->cur.t == T_PLUS || p->cur.t == T_MINUS) {
        if (x->kind == XN_PLUS || x->kind == XN_MINUS) {
            syntax_error(p);
            return NULL;
        }
        int k = p->cur.t == T_PLUS ? XN_PLUS : XN_MINUS;
        lex(p);
        expr_node *y = parse_operand_u(p, 0);
        if (!y) return NULL;
        count_op(p);
        x = node2(p, k, x, y);
        check_arith(p, x, k == XN_PLUS ? "+" : "-");
    }
    return x;
}

int expr_parse_update(expr_env *env, const char *s, size_t n, expr_update **out, char *err,
                      size_t errlen) {
    parser p;
    int rc = parser_init(&p, env, s, n, "UpdateExpression", CTX_UPDATE, err, errlen);
    if (rc) return rc;
    static const char *const clauses[] = {"SET", "REMOVE", "ADD", "DELETE"};
    int seen[4] = {0, 0, 0, 0};
    size_t cap = 16, na = 0;
    expr_action *acts = ds_arena_alloc(p.a, cap * sizeof *acts);
    if (p.cur.t == T_EOF) syntax_error(&p);
    while (!p.failed && p.cur.t != T_EOF) {
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (is_kw(&p, clauses[i])) k = i;
        if (k < 0) {
            syntax_error(&p);
            break;
        }
        if (seen[k])
            sem(&p, S_SECTION, "The \"%s\" section can only be used once in an update expression;",
                clauses[k]);
        seen[k] = 1;
        lex(&p);
        for (;;) {
            expr_action act = {(uint8_t)k, NULL, NULL};
            if (p.cur.t != T_IDENT && p.cur.t != T_NAME) {
                syntax_error(&p);
                break;
            }
            act.path = parse_path(&p);
            if (!act.path) break;
            if (k == XU_SET) {
                if (p.cur.t != T_EQ) {
                    syntax_error(&p);
                    break;
                }
                lex(&p);
                act.value = parse_set_value(&p);
                if (!act.value) break;
            } else if (k == XU_ADD || k == XU_DELETE) {
                if (p.cur.t != T_VALUE) {
                    syntax_error(&p);
                    break;
                }
                act.value = value_node(&p);
                const item_value *v = act.value->value;
                if (v) {
                    const char *ln = long_type_name(v->type);
                    if (ln && !(k == XU_ADD && v->type == ITEM_N))
                        sem(&p, S_OPERAND,
                            "Incorrect operand type for operator or function; operator: %s, "
                            "operand type: %s",
                            clauses[k], ln);
                }
            }
            if (na == cap) {
                expr_action *nw = ds_arena_alloc(p.a, cap * 2 * sizeof *nw);
                memcpy(nw, acts, na * sizeof *nw);
                acts = nw;
                cap *= 2;
            }
            acts[na++] = act;
            if (p.cur.t != T_COMMA) break;
            lex(&p);
        }
    }
    if (!p.failed) {
        expr_path **paths = ds_arena_alloc(p.a, (na ? na : 1) * sizeof *paths);
        for (size_t i = 0; i < na; i++) paths[i] = acts[i].path;
        check_overlaps(&p, paths, (uint32_t)na);
    }
    rc = finish(&p, err, errlen);
    if (rc) return rc;
    expr_update *u = ds_arena_calloc(p.a, sizeof *u);
    u->acts = acts;
    u->n = (uint32_t)na;
    u->trie = ds_arena_calloc(p.a, sizeof *u->trie);
    for (size_t i = 0; i < na; i++) expr__trie_add(p.a, u->trie, acts[i].path);
    *out = u;
    return DS_OK;
}

int expr_update_touches(const expr_update *u, const char *attr, size_t len) {
    for (uint32_t i = 0; i < u->n; i++) {
        const expr_elem *e = &u->acts[i].path->e[0];
        if (e->index == EXPR_ELEM_NAME && e->len == len && !memcmp(e->name, attr, len))
            return 1;
    }
    return 0;
}

/* ---- projections ------------------------------------------------------------------------- */
int expr_parse_projection(expr_env *env, const char *s, size_t n, expr_proj **out, char *err,
                          size_t errlen) {
    parser p;
    int rc = parser_init(&p, env, s, n, "ProjectionExpression", CTX_PROJ, err, errlen);
    if (rc) return rc;
    size_t cap = 8, np = 0;
    expr_path **paths = ds_arena_alloc(p.a, cap * sizeof *paths);
    for (;;) {
        if (p.cur.t != T_IDENT && p.cur.t != T_NAME) {
            syntax_error(&p);
            break;
        }
        expr_path *q = parse_path(&p);
        if (!q) break;
        if (np == cap) {
            expr_path **nw = ds_arena_alloc(p.a, cap * 2 * sizeof *nw);
            memcpy(nw, paths, np * sizeof *nw);
            paths = nw;
            cap *= 2;
        }
        paths[np++] = q;
        if (p.cur.t == T_COMMA) {
            lex(&p);
            continue;
        }
        if (p.cur.t != T_EOF) syntax_error(&p);
        break;
    }
    if (!p.failed) check_overlaps(&p, paths, (uint32_t)np);
    rc = finish(&p, err, errlen);
    if (rc) return rc;
    expr_proj *pr = ds_arena_calloc(p.a, sizeof *pr);
    pr->paths = paths;
    pr->n = (uint32_t)np;
    pr->trie = ds_arena_calloc(p.a, sizeof *pr->trie);
    for (size_t i = 0; i < np; i++) expr__trie_add(p.a, pr->trie, paths[i]);
    *out = pr;
    return DS_OK;
}

size_t expr_proj_count(const expr_proj *p) { return p->n; }

void expr_proj_top(const expr_proj *p, size_t i, const char **name, size_t *len) {
    *name = p->paths[i]->e[0].name;
    *len = p->paths[i]->e[0].len;
}

/* ---- key conditions ------------------------------------------------------------------------ */
typedef struct key_leaf {
    const expr_elem *attr;
    expr_sk_op op;
    const item_value *v1, *v2;
} key_leaf;

static int key_leaf_of(const expr_node *x, key_leaf *out, char *err, size_t errlen) {
    static const char *const opup[] = {"=", "<>", "<", "<=", ">", ">="};
    switch (x->kind) {
    case XN_OR: return expr__fail(err, errlen, "Invalid operator used in KeyConditionExpression: OR");
    case XN_NOT: return expr__fail(err, errlen, "Invalid operator used in KeyConditionExpression: NOT");
    case XN_IN: return expr__fail(err, errlen, "Invalid operator used in KeyConditionExpression: IN");
    case XN_EXISTS:
    case XN_NOT_EXISTS:
    case XN_TYPE:
    case XN_CONTAINS:
        return expr__fail(err, errlen, "Invalid operator used in KeyConditionExpression: %s",
                          x->fname);
    default: break;
    }
    if (x->kind == XN_CMP && x->op == XC_NE)
        return expr__fail(err, errlen, "Invalid operator used in KeyConditionExpression: %s",
                          opup[XC_NE]);
    /* the operands: exactly one top-level path, the rest values */
    const expr_node *path = NULL;
    uint32_t path_ix = 0;
    for (uint32_t i = 0; i < x->nargs; i++) {
        const expr_node *a = x->args[i];
        if (a->kind == XN_SIZE)
            return expr__fail(err, errlen, "KeyConditionExpressions cannot contain nested operations");
        if (a->kind == XN_PATH) {
            if (path)
                return expr__fail(err, errlen, "Invalid condition in KeyConditionExpression: "
                                               "Multiple attribute names used in one condition");
            if (a->path->n > 1 || a->path->e[0].index != EXPR_ELEM_NAME)
                return expr__fail(err, errlen, "KeyConditionExpressions cannot have conditions "
                                               "on nested attributes");
            path = a;
            path_ix = i;
        }
    }
    if (!path)
        return expr__fail(err, errlen,
                          "Invalid condition in KeyConditionExpression: No key attribute specified");
    out->attr = &path->path->e[0];
    out->v2 = NULL;
    if (x->kind == XN_BETWEEN || x->kind == XN_BEGINS) {
        if (path_ix != 0)
            return expr__fail(err, errlen,
                              "Invalid condition in KeyConditionExpression: %s operator must "
                              "have the key attribute as its first operand",
                              x->kind == XN_BETWEEN ? "BETWEEN" : "begins_with");
        out->op = x->kind == XN_BETWEEN ? EXPR_SK_BETWEEN : EXPR_SK_BEGINS_WITH;
        out->v1 = x->args[1]->value;
        if (x->kind == XN_BETWEEN) out->v2 = x->args[2]->value;
        return DS_OK;
    }
    if (x->kind != XN_CMP) return expr__fail(err, errlen, "Query key condition not supported");
    static const expr_sk_op fwd[] = {EXPR_SK_EQ, EXPR_SK_NONE, EXPR_SK_LT,
                                     EXPR_SK_LE, EXPR_SK_GT,   EXPR_SK_GE};
    static const expr_sk_op rev[] = {EXPR_SK_EQ, EXPR_SK_NONE, EXPR_SK_GT,
                                     EXPR_SK_GE, EXPR_SK_LT,   EXPR_SK_LE};
    out->op = path_ix == 0 ? fwd[x->op] : rev[x->op];
    out->v1 = x->args[path_ix == 0 ? 1 : 0]->value;
    return DS_OK;
}

int expr_parse_key_condition(expr_env *env, const char *s, size_t n, expr_key_cond *out,
                             char *err, size_t errlen) {
    expr_node *root;
    memset(out, 0, sizeof *out);
    int rc = parse_cond_common(env, s, n, "KeyConditionExpression", CTX_KEY, &root, err, errlen);
    if (rc) return rc;
    const expr_node *leaves[3];
    int nl = 0;
    if (root->kind == XN_AND) {
        /* flatten (a AND b) AND c ... into at most 3 leaves */
        const expr_node *stack[8];
        int sp = 0;
        stack[sp++] = root;
        while (sp) {
            const expr_node *x = stack[--sp];
            if (x->kind == XN_AND) {
                if (sp + 2 > 8) break;
                stack[sp++] = x->args[1];
                stack[sp++] = x->args[0];
            } else {
                if (nl == 3) break;
                leaves[nl++] = x;
            }
        }
    } else {
        leaves[nl++] = root;
    }
    key_leaf kl[3];
    for (int i = 0; i < nl; i++) {
        rc = key_leaf_of(leaves[i], &kl[i], err, errlen);
        if (rc) return rc;
    }
    if (nl > 2 || (nl == 2 && kl[0].attr->len == kl[1].attr->len &&
                   !memcmp(kl[0].attr->name, kl[1].attr->name, kl[0].attr->len)))
        return expr__fail(err, errlen,
                          "KeyConditionExpressions must only contain one condition per key");
    int pk = -1, sk = -1;
    if (nl == 1) {
        if (kl[0].op == EXPR_SK_EQ) pk = 0;
        else sk = 0;
    } else if (kl[0].op == EXPR_SK_EQ) {
        pk = 0;
        sk = 1;
    } else if (kl[1].op == EXPR_SK_EQ) {
        pk = 1;
        sk = 0;
    } else {
        return expr__fail(err, errlen, "Query key condition not supported");
    }
    if (pk >= 0) {
        out->pk_name = kl[pk].attr->name;
        out->pk_len = kl[pk].attr->len;
        out->pk_value = kl[pk].v1;
    }
    if (sk >= 0) {
        out->sk_name = kl[sk].attr->name;
        out->sk_len = kl[sk].attr->len;
        out->sk_op = kl[sk].op;
        out->sk_v1 = kl[sk].v1;
        out->sk_v2 = kl[sk].v2;
    }
    return DS_OK;
}

static int name_is(const char *a, size_t al, const char *b, size_t bl) {
    return a && b && al == bl && !memcmp(a, b, al);
}

int expr_key_cond_check(expr_key_cond *kc, const char *pk, size_t pk_len, const char *sk,
                        size_t sk_len, char *err, size_t errlen) {
    /* two equalities given as "sk = :a AND pk = :b": swap */
    if (kc->sk_op == EXPR_SK_EQ && name_is(kc->sk_name, kc->sk_len, pk, pk_len) &&
        !name_is(kc->pk_name, kc->pk_len, pk, pk_len)) {
        const char *n = kc->pk_name;
        size_t l = kc->pk_len;
        const item_value *v = kc->pk_value;
        kc->pk_name = kc->sk_name;
        kc->pk_len = kc->sk_len;
        kc->pk_value = kc->sk_v1;
        kc->sk_name = n;
        kc->sk_len = l;
        kc->sk_v1 = v;
    }
    if (!name_is(kc->pk_name, kc->pk_len, pk, pk_len)) {
        if (kc->pk_name || name_is(kc->sk_name, kc->sk_len, pk, pk_len))
            return expr__fail(err, errlen, "Query key condition not supported");
        return expr__fail(err, errlen, "Query condition missed key schema element: %.*s",
                          (int)pk_len, pk);
    }
    if (kc->sk_name && !name_is(kc->sk_name, kc->sk_len, sk, sk_len)) {
        if (!sk) return expr__fail(err, errlen, "Query key condition not supported");
        return expr__fail(err, errlen, "Query condition missed key schema element: %.*s",
                          (int)sk_len, sk);
    }
    return DS_OK;
}
