/* expr_int.h -- private to src/expr/: the compiled forms shared by the
 * parser (expr_parse.c), the evaluator (expr_eval.c) and the updater
 * (expr_update.c).
 *
 * A compiled expression is a tree of expr_node in the env's arena. Operand
 * nodes (PATH, VALUE, SIZE, IF_NOT_EXISTS, LIST_APPEND, PLUS, MINUS) yield a
 * value; condition nodes (CMP .. CONTAINS) yield true or false. Paths are
 * arrays of elements, each a resolved attribute name (#names substituted) or
 * a list index. A trie of an expression's paths (expr_trie) drives
 * projection and UPDATED_OLD / UPDATED_NEW.
 */
#ifndef DS_EXPR_INT_H
#define DS_EXPR_INT_H

#include <stdint.h>

#include "common/decimal.h"
#include "expr/expr.h"

/* ---- environment ---- */
typedef struct expr_ref {
    const char *key; /* "#n" or ":v" */
    size_t key_len;
    const char *name; /* names: the attribute name */
    size_t name_len;
    const item_value *v; /* values */
    int used;
} expr_ref;

struct expr_env {
    ds_arena *a;
    expr_ref *names;
    size_t n_names, cap_names;
    expr_ref *vals;
    size_t n_vals, cap_vals;
};

/* ---- paths ---- */
#define EXPR_ELEM_NAME UINT32_MAX /* index value of a name element */

typedef struct expr_elem {
    const char *name; /* name elements: the attribute name (arena copy) */
    uint32_t len;
    uint32_t index; /* list index, or EXPR_ELEM_NAME */
} expr_elem;

struct expr_path {
    uint32_t n;
    expr_elem *e;
};

/* ---- nodes ---- */
typedef enum {
    /* operands */
    XN_PATH,
    XN_VALUE,
    XN_SIZE,
    XN_IF_NOT_EXISTS,
    XN_LIST_APPEND,
    XN_PLUS,
    XN_MINUS,
    /* conditions */
    XN_CMP,
    XN_BETWEEN,
    XN_IN,
    XN_AND,
    XN_OR,
    XN_NOT,
    XN_EXISTS,
    XN_NOT_EXISTS,
    XN_TYPE,
    XN_BEGINS,
    XN_CONTAINS
} expr_kind;

typedef enum { XC_EQ, XC_NE, XC_LT, XC_LE, XC_GT, XC_GE } expr_cmp;

typedef struct expr_node expr_node;
struct expr_node {
    uint8_t kind;   /* expr_kind */
    uint8_t op;     /* XN_CMP: expr_cmp; XN_TYPE: the item_type asked for */
    uint8_t parens; /* parser only: came from "( ... )" */
    uint8_t fn;     /* parser only: made by a function call */
    uint32_t nargs;
    expr_node **args;
    expr_path *path;         /* XN_PATH */
    const item_value *value; /* XN_VALUE */
    const char *fname;       /* parser only: function name for messages */
};

static inline int expr_is_operand(const expr_node *n) { return n->kind <= XN_MINUS; }

struct expr_cond {
    expr_node *root;
};

/* ---- tries of paths ---- */
typedef struct expr_trie expr_trie;
struct expr_trie {
    expr_elem e;       /* this level's element (unused at the root) */
    int leaf;          /* a path ends here */
    expr_trie *child;  /* first child; index children in ascending order */
    expr_trie *next;   /* next sibling */
};

/* ---- updates ---- */
typedef enum { XU_SET, XU_REMOVE, XU_ADD, XU_DELETE } expr_action_kind;

typedef struct expr_action {
    uint8_t kind;
    expr_path *path;
    expr_node *value; /* SET: the value; ADD/DELETE: an XN_VALUE; REMOVE: NULL */
} expr_action;

struct expr_update {
    expr_action *acts;
    uint32_t n;
    expr_trie *trie;
};

struct expr_proj {
    expr_path **paths;
    uint32_t n;
    expr_trie *trie;
};

/* ---- shared helpers ---- */

/* The value at path p in item (an M, may be NULL), or NULL. Borrowed. */
const item_value *expr__resolve(const item_value *item, const expr_path *p);

/* Projects v through the children of trie node t; NULL if nothing matched.
 * Allocates in a. */
item_value *expr__project_node(ds_arena *a, const expr_trie *t, const item_value *v);

/* Adds p to the trie rooted at root (allocating in a). */
void expr__trie_add(ds_arena *a, expr_trie *root, const expr_path *p);

/* Parses an N value's text; DS_OK or DS_EINVAL. */
int expr__num(const item_value *v, decimal *d);

/* Writes msg to err (truncating) and returns DS_EINVAL. */
/* Identifier characters of the expression languages: [A-Za-z_][A-Za-z0-9_]*. */
static inline int expr__is_id_start(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static inline int expr__is_id(int c) { return expr__is_id_start(c) || (c >= '0' && c <= '9'); }
/* Case-insensitive compare of s (n bytes) with the NUL-terminated word w (expr_env.c). */
int expr__word_cmp(const char *s, size_t n, const char *w);
/* 1 if s (n bytes) is one of DynamoDB's reserved words (expr_env.c). */
int expr__is_reserved(const char *s, size_t n);

/* The entry for key (len bytes) in arr, or NULL (expr_env.c). */
expr_ref *expr__env_find(expr_ref *arr, size_t n, const char *key, size_t len);

#define expr__fail(err, errlen, ...) ds_seterr(err, errlen, DS_EINVAL, __VA_ARGS__)

#endif
