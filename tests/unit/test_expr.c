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


/* Expects condition s to fail in env with exactly msg. */
#define COND_ERR(env, s, msg)                                                                \
    do {                                                                                     \
        expr_cond *c_;                                                                       \
        CHECK_EQ_INT(PC(env, s, &c_), DS_EINVAL);                                            \
        CHECK_EQ_STR(ERR, msg);                                                              \
    } while (0)
#define UPD_ERR(env, s, msg)                                                                 \
    do {                                                                                     \
        expr_update *u_;                                                                     \
        CHECK_EQ_INT(PU(env, s, &u_), DS_EINVAL);                                            \
        CHECK_EQ_STR(ERR, msg);                                                              \
    } while (0)
#define UPD_OK(s, item, want)                                                                \
    do {                                                                                     \
        item_value *o_;                                                                      \
        int rc_ = UPD(s, item, &o_);                                                         \
        if (rc_) T_FAIL("%s: rc %d %s", s, rc_, ERR);                                        \
        CHECK(SAME(o_, want));                                                               \
    } while (0)
#define UPD_RUNERR(s, item, msg)                                                             \
    do {                                                                                     \
        item_value *o_;                                                                      \
        CHECK_EQ_INT(UPD(s, item, &o_), DS_EINVAL);                                          \
        CHECK_EQ_STR(ERR, msg);                                                              \
    } while (0)

#define NOATTR "The provided expression refers to an attribute that does not exist in the item"
#define BADTYPE "An operand in the update expression has an incorrect data type"
#define BADPATH "The document path provided in the update expression is invalid for update"

/* ======================= environments ======================= */

TEST(env_names_validation) {
    expr_env *env = expr_env_new(ta());
    CHECK_EQ_INT(expr_env_set_names(env, J("{}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "ExpressionAttributeNames must not be empty");
    CHECK_EQ_INT(expr_env_set_names(env, J("{\"a\":\"a\"}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\"");
    CHECK_EQ_INT(expr_env_set_names(env, J("{\"#\":\"a\"}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_INT(expr_env_set_names(env, J("{\"#a-b\":\"a\"}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_INT(expr_env_set_names(env, J("{\"#a\":\"\"}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "ExpressionAttributeNames contains invalid value: Empty attribute name "
                      "for key #a");
    CHECK_EQ_INT(expr_env_set_names(env, J("{\"#a\":1}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_INT(expr_env_set_names(env, J("[]"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_INT(expr_env_set_names(env, J("{\"#a_1\":\"x\",\"#B\":\"y\"}"), ERR, sizeof ERR),
                 DS_OK);
}

TEST(env_values_validation) {
    expr_env *env = expr_env_new(ta());
    CHECK_EQ_INT(expr_env_add_value(env, "b", 1, V("{\"S\":\"a\"}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "ExpressionAttributeValues contains invalid key: Syntax error; key: \"b\"");
    CHECK_EQ_INT(expr_env_add_value(env, ":", 1, V("{\"S\":\"a\"}"), ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_INT(expr_env_add_value(env, ":a.b", 4, V("{\"S\":\"a\"}"), ERR, sizeof ERR),
                 DS_EINVAL);
    CHECK_EQ_INT(expr_env_add_value(env, ":a_B9", 5, V("{\"S\":\"a\"}"), ERR, sizeof ERR), DS_OK);
    CHECK_EQ_INT(expr_env_add_name(env, "x", 1, "y", 1), DS_EINVAL);
    CHECK_EQ_INT(expr_env_add_name(env, "#x", 2, "", 0), DS_EINVAL);
    CHECK_EQ_INT(expr_env_add_name(env, "#x", 2, "y", 1), DS_OK);
}

TEST(env_unused_names_and_values) {
    expr_env *env = ENV("{\"#a\":\"a\",\"#b\":\"b\",\"#c\":\"c\"}",
                        "{\":a\":{\"S\":\"a\"},\":b\":{\"S\":\"b\"},\":c\":{\"S\":\"c\"}}");
    expr_cond *c;
    CHECK_EQ_INT(PC(env, "#b = :a", &c), DS_OK);
    CHECK_EQ_INT(expr_env_check_unused(env, ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Value provided in ExpressionAttributeNames unused in expressions: keys: "
                      "{#a, #c}");
    expr_update *u;
    CHECK_EQ_INT(PU(env, "SET #a = :b, #c = :b", &u), DS_OK);
    CHECK_EQ_INT(expr_env_check_unused(env, ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Value provided in ExpressionAttributeValues unused in expressions: keys: "
                      "{:c}");
    expr_proj *p;
    CHECK_EQ_INT(expr_parse_projection(env, "a", 1, &p, ERR, sizeof ERR), DS_OK);
    CHECK_EQ_INT(expr_parse_filter(env, "a <> :c", 7, &c, ERR, sizeof ERR), DS_OK);
    CHECK_EQ_INT(expr_env_check_unused(env, ERR, sizeof ERR), DS_OK);
}

TEST(env_programmatic_names_never_unused) {
    expr_env *env = expr_env_new(ta());
    CHECK_EQ_INT(expr_env_add_name(env, "#k", 2, "key", 3), DS_OK);
    CHECK_EQ_INT(expr_env_check_unused(env, ERR, sizeof ERR), DS_OK);
    expr_cond *c;
    CHECK_EQ_INT(PC(env, "attribute_exists(#k)", &c), DS_OK);
    int r;
    expr_eval(c, ITEM("{\"key\":{\"S\":\"x\"}}"), &r, ERR, sizeof ERR);
    CHECK_EQ_INT(r, 1);
}

/* ======================= condition parse errors ======================= */

TEST(cond_empty_and_syntax_errors) {
    expr_env *env = DENV();
    COND_ERR(env, "", "Invalid ConditionExpression: The expression can not be empty;");
    COND_ERR(env, "foo", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"foo\"");
    COND_ERR(env, "a = ", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\"");
    COND_ERR(env, "a == :n", "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"==\"");
    COND_ERR(env, "a = :n b", "Invalid ConditionExpression: Syntax error; token: \"b\", near: \":n b\"");
    COND_ERR(env, "a = !", "Invalid ConditionExpression: Syntax error; token: \"!\", near: \"= !\"");
    COND_ERR(env, "a + :n = :n", "Invalid ConditionExpression: Syntax error; token: \"+\", near: \"a +\"");
    COND_ERR(env, "a = :n AND", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\"");
    COND_ERR(env, "(a = :n", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":n\"");
    COND_ERR(env, "a = :n)", "Invalid ConditionExpression: Syntax error; token: \")\", near: \":n)\"");
    COND_ERR(env, "a BETWEEN :n", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":n\"");
    COND_ERR(env, "a IN :n", "Invalid ConditionExpression: Syntax error; token: \":n\", near: \"IN :n\"");
    COND_ERR(env, "a[-1] = :n", "Invalid ConditionExpression: Syntax error; token: \"-\", near: \"[-\"");
    COND_ERR(env, "a. = :n", "Invalid ConditionExpression: Syntax error; token: \"=\", near: \". =\"");
    COND_ERR(env, "NOT a", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"a\"");
    COND_ERR(env, "a = :n = :n", "Invalid ConditionExpression: Syntax error; token: \"=\", near: \":n =\"");
    COND_ERR(env, "a = AND", "Invalid ConditionExpression: Syntax error; token: \"AND\", near: \"= AND\"");
    COND_ERR(env, "(a)", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \")\"");
    COND_ERR(env, "# = :n", "Invalid ConditionExpression: Syntax error; token: \"#\", near: \"#\"");
    COND_ERR(env, "   ", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"\"");
}

TEST(filter_uses_its_own_label) {
    expr_cond *c;
    CHECK_EQ_INT(expr_parse_filter(DENV(), "foo", 3, &c, ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Invalid FilterExpression: Syntax error; token: \"<EOF>\", near: \"foo\"");
}

TEST(cond_reserved_words) {
    expr_env *env = DENV();
    COND_ERR(env, "name = :s",
             "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name");
    COND_ERR(env, "a.Size = :n",
             "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Size");
    COND_ERR(env, "attribute_exists(ZONE)",
             "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: ZONE");
    COND_ERR(env, "abort = :n",
             "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: abort");
    expr_cond *c;
    CHECK_EQ_INT(PC(env, "#n = :s AND names2 = :s AND zones = :s AND flatter = :s", &c), DS_OK);
}

TEST(cond_undefined_names_and_values) {
    expr_env *env = DENV();
    COND_ERR(env, "#x = :n",
             "Invalid ConditionExpression: An expression attribute name used in the document "
             "path is not defined; attribute name: #x");
    COND_ERR(env, "a = :nope",
             "Invalid ConditionExpression: An expression attribute value used in expression is "
             "not defined; attribute value: :nope");
    COND_ERR(env, "a.#zz[1] = :n",
             "Invalid ConditionExpression: An expression attribute name used in the document "
             "path is not defined; attribute name: #zz");
}

TEST(cond_redundant_parentheses) {
    expr_env *env = DENV();
    COND_ERR(env, "((a = :n))", "Invalid ConditionExpression: The expression has redundant parentheses;");
    COND_ERR(env, "((a)) = :n", "Invalid ConditionExpression: The expression has redundant parentheses;");
    expr_cond *c;
    CHECK_EQ_INT(PC(env, "(a = :n)", &c), DS_OK);
    CHECK_EQ_INT(PC(env, "((a = :n) AND (b = :n))", &c), DS_OK);
    CHECK_EQ_INT(PC(env, "(a) = (:n)", &c), DS_OK);
    CHECK_EQ_INT(PC(env, "(a).b[1] = :n", &c), DS_OK);
}

TEST(cond_function_errors) {
    expr_env *env = DENV();
    COND_ERR(env, "foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo");
    COND_ERR(env, "SIZE(a) = :n", "Invalid ConditionExpression: Invalid function name; function: SIZE");
    COND_ERR(env, "if_not_exists(a, :n) = :n",
             "Invalid ConditionExpression: The function is not allowed in a condition "
             "expression; function: if_not_exists");
    COND_ERR(env, "attribute_exists(a, b)",
             "Invalid ConditionExpression: Incorrect number of operands for operator or "
             "function; operator or function: attribute_exists, number of operands: 2");
    COND_ERR(env, "begins_with(a)",
             "Invalid ConditionExpression: Incorrect number of operands for operator or "
             "function; operator or function: begins_with, number of operands: 1");
    COND_ERR(env, "attribute_exists(:s)",
             "Invalid ConditionExpression: Operator or function requires a document path; "
             "operator or function: attribute_exists");
    COND_ERR(env, "attribute_type(a, :s)",
             "Invalid ConditionExpression: Invalid attribute type name found; type: abc, valid "
             "types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}");
    COND_ERR(env, "attribute_type(a, :n)",
             "Invalid ConditionExpression: Incorrect operand type for operator or function; "
             "operator or function: attribute_type, operand type: N");
    COND_ERR(env, "begins_with(a, :n)",
             "Invalid ConditionExpression: Incorrect operand type for operator or function; "
             "operator or function: begins_with, operand type: N");
    COND_ERR(env, "size(:t) = :n",
             "Invalid ConditionExpression: Incorrect operand type for operator or function; "
             "operator or function: size, operand type: BOOL");
    COND_ERR(env, "attribute_exists(a) = :t",
             "Invalid ConditionExpression: The function is not allowed to be used this way in "
             "an expression; function: attribute_exists");
    COND_ERR(env, "size(a)",
             "Invalid ConditionExpression: The function is not allowed to be used this way in "
             "an expression; function: size");
    COND_ERR(env, "size(contains(a, :s)) = :n",
             "Invalid ConditionExpression: The function is not allowed to be used this way in "
             "an expression; function: contains");
    COND_ERR(env, "contains(a, a)",
             "Invalid ConditionExpression: The first operand must be distinct from the remaining "
             "operands for this operator or function; operator: contains, first operand: [a]");
    COND_ERR(env, "a.b = a.b",
             "Invalid ConditionExpression: The first operand must be distinct from the remaining "
             "operands for this operator or function; operator: =, first operand: [a, b]");
}

TEST(cond_between_bounds_checked) {
    expr_env *env = DENV();
    COND_ERR(env, "a BETWEEN :n AND :s",
             "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower "
             "and upper bounds; lower bound operand: AttributeValue: {N:5}, upper bound operand: "
             "AttributeValue: {S:abc}");
    COND_ERR(env, "a BETWEEN :n AND :one",
             "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
             "than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper "
             "bound operand: AttributeValue: {N:1}");
    expr_cond *c;
    CHECK_EQ_INT(PC(env, "a BETWEEN :one AND :n", &c), DS_OK);
    CHECK_EQ_INT(PC(env, "a between :n and :n", &c), DS_OK);
}

static char *repeat(const char *head, const char *unit, int n, const char *tail) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, head);
    for (int i = 0; i < n; i++) ds_buf_puts(&b, unit);
    ds_buf_puts(&b, tail);
    return b.data;
}

TEST(cond_limits) {
    expr_env *env = DENV();
    /* IN: 100 operands fine, 101 not */
    char *in100 = repeat("a IN (:n", ", :n", 99, ")");
    expr_cond *c;
    CHECK_EQ_INT(PC(env, in100, &c), DS_OK);
    char *in101 = repeat("a IN (:n", ", :n", 100, ")");
    COND_ERR(env, in101,
             "Invalid ConditionExpression: The IN operator is provided with too many operands; "
             "number of operands: 101");
    /* expression size */
    char *big = repeat("a = :n", " ", 4091, "");
    COND_ERR(env, big,
             "Invalid ConditionExpression: Expression size has exceeded the maximum allowed "
             "size; expression size: 4097");
    char *fits = repeat("a = :n", " ", 4090, "");
    fits[4095] = 0;
    CHECK_EQ_INT(PC(env, fits, &c), DS_OK);
    /* operators: 300 fine, 301 not (each "a=:n" is one, each OR one) */
    char *ops300 = repeat("NOT (a=:n", " OR a=:n", 149, ")");
    CHECK_EQ_INT(PC(env, ops300, &c), DS_OK);
    char *ops301 = repeat("a=:n", " OR a=:n", 150, "");
    COND_ERR(env, ops301,
             "Invalid ConditionExpression: The expression contains too many operators; operator "
             "count: 301");
    /* path depth: 32 levels fine, 33 not */
    char *d32 = repeat("attribute_exists(a", ".a", 31, ")");
    CHECK_EQ_INT(PC(env, d32, &c), DS_OK);
    char *d33 = repeat("attribute_exists(a", "[1]", 32, ")");
    COND_ERR(env, d33,
             "Invalid ConditionExpression: The document path has too many nesting levels; "
             "nesting levels: 33");
    COND_ERR(env, "a[99999999999] = :n",
             "Invalid ConditionExpression: List index is not within the allowable range; index: "
             "99999999999");
    /* deep nesting is refused, not a stack overflow */
    char *deep = repeat("", "NOT ", 1000, "a = :n");
    CHECK_EQ_INT(PC(env, deep, &c), DS_EINVAL);
    char *parens = repeat("", "(a = :n AND ", 600, "b = :n");
    CHECK_EQ_INT(PC(env, parens, &c), DS_EINVAL);
}

/* ======================= condition evaluation ======================= */

#define ITEM1                                                                                \
    "{\"a\":{\"N\":\"5\"},\"s\":{\"S\":\"abcdef\"},\"b\":{\"B\":\"abz\"},\"t\":{\"BOOL\":true}," \
    "\"z\":{\"NULL\":true},\"ss\":{\"SS\":[\"y\",\"x\"]},\"ns\":{\"NS\":[\"2\",\"1.0\"]},"       \
    "\"bs\":{\"BS\":[\"ab\"]},\"l\":{\"L\":[{\"S\":\"z\"},{\"N\":\"7\"},{\"M\":{\"k\":{\"S\":" \
    "\"v\"}}}]},\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"L\":[]}}},\"x.y\":{\"S\":\"dot\"}," \
    "\"name\":{\"S\":\"abc\"},\"e\":{\"S\":\"\"}}"

TEST(eval_comparisons_numbers_exact) {
    CHECK_EQ_INT(EVAL("a = :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a <> :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a > :one", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a >= :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a < :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a <= :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("m.x = :one", ITEM1), 1);
    CHECK_EQ_INT(EVAL("l[1] > :n", ITEM1), 1);
}

TEST(eval_numbers_by_value) {
    expr_env *env = ENV(NULL, "{\":v\":{\"N\":\"5.000\"},\":w\":{\"N\":\"-0.5E1\"},"
                              "\":big\":{\"N\":\"99999999999999999999999999999999999999\"},"
                              "\":big2\":{\"N\":\"99999999999999999999999999999999999998\"}}");
    expr_cond *c;
    int r;
    item_value *it = ITEM("{\"a\":{\"N\":\"5\"},\"b\":{\"N\":\"99999999999999999999999999999999999999\"}}");
    CHECK_EQ_INT(PC(env, "a = :v AND a > :w AND b = :big AND b > :big2 AND NOT b < :big2", &c), DS_OK);
    expr_eval(c, it, &r, ERR, sizeof ERR);
    CHECK_EQ_INT(r, 1);
}

TEST(eval_strings_and_binary_order_by_bytes) {
    CHECK_EQ_INT(EVAL("s > :s", ITEM1), 1);   /* "abcdef" > "abc" */
    CHECK_EQ_INT(EVAL(":s < s", ITEM1), 1);
    CHECK_EQ_INT(EVAL("#n = :s", ITEM1), 1);
    CHECK_EQ_INT(EVAL("b > :b", ITEM1), 1);   /* "abz" > "ab" */
    CHECK_EQ_INT(EVAL("s BETWEEN :s AND s", ITEM1), 1);
}

TEST(eval_type_mismatch_is_false_not_error) {
    CHECK_EQ_INT(EVAL("a = :s", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a <> :s", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a < :s", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a > :s", ITEM1), 0);
    CHECK_EQ_INT(EVAL("t < :t", ITEM1), 0);   /* BOOL has no order */
    CHECK_EQ_INT(EVAL("t <= :t", ITEM1), 0);
    CHECK_EQ_INT(EVAL("t = :t", ITEM1), 1);
    CHECK_EQ_INT(EVAL("z = :null", ITEM1), 1);
    CHECK_EQ_INT(EVAL("ss > :ss", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a BETWEEN :s AND :s", ITEM1), 0);
}

TEST(eval_missing_attributes) {
    CHECK_EQ_INT(EVAL("nope = :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("nope <> :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("nope < :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("nope >= :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("nope IN (:n, :s)", ITEM1), 0);
    CHECK_EQ_INT(EVAL("nope BETWEEN :one AND :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a.b = :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("l[9] = :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("m[0] = :n", ITEM1), 0);
    /* no item at all */
    CHECK_EQ_INT(EVAL("attribute_not_exists(a)", NULL), 1);
    CHECK_EQ_INT(EVAL("attribute_exists(a)", NULL), 0);
    CHECK_EQ_INT(EVAL("a = :n", NULL), 0);
    CHECK_EQ_INT(EVAL("a <> :n", NULL), 1);
}

TEST(eval_sets_unordered_and_exact) {
    expr_env *env = ENV(NULL, "{\":ss\":{\"SS\":[\"x\",\"y\"]},\":ns\":{\"NS\":[\"1\",\"2.00\"]},"
                              "\":ns3\":{\"NS\":[\"1\",\"2\",\"3\"]},\":ss1\":{\"SS\":[\"x\"]}}");
    expr_cond *c;
    int r;
    CHECK_EQ_INT(PC(env, "ss = :ss AND ns = :ns AND ns <> :ns3 AND ss <> :ss1", &c), DS_OK);
    expr_eval(c, ITEM(ITEM1), &r, ERR, sizeof ERR);
    CHECK_EQ_INT(r, 1);
}

TEST(eval_maps_and_lists_deep_equality) {
    expr_env *env = ENV(NULL, "{\":m\":{\"M\":{\"y\":{\"L\":[]},\"x\":{\"N\":\"1.0\"}}},"
                              "\":m2\":{\"M\":{\"x\":{\"N\":\"1\"}}},"
                              "\":l\":{\"L\":[{\"S\":\"z\"},{\"N\":\"7\"},{\"M\":{\"k\":{\"S\":\"v\"}}}]},"
                              "\":l2\":{\"L\":[{\"N\":\"7\"},{\"S\":\"z\"},{\"M\":{\"k\":{\"S\":\"v\"}}}]}}");
    expr_cond *c;
    int r;
    CHECK_EQ_INT(PC(env, "m = :m AND m <> :m2 AND l = :l AND l <> :l2 AND l[2] = l[2].k OR l[2].k = l[2].k", &c), DS_EINVAL);
    CHECK_EQ_INT(PC(env, "m = :m AND m <> :m2 AND l = :l AND l <> :l2", &c), DS_OK);
    expr_eval(c, ITEM(ITEM1), &r, ERR, sizeof ERR);
    CHECK_EQ_INT(r, 1);
}

TEST(eval_between_and_in) {
    CHECK_EQ_INT(EVAL("a BETWEEN :one AND :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a BETWEEN :n AND :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("l[1] BETWEEN :one AND :n", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a IN (:s, :one, :n)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a IN (:s, :one)", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a IN (m.x, l[1])", ITEM1), 0);
    CHECK_EQ_INT(EVAL(":one IN (m.x, l[1])", ITEM1), 1);
    CHECK_EQ_INT(EVAL("ss IN (:ss)", ITEM1), 1);
}

TEST(eval_logic_and_precedence) {
    /* t: a = :n; f: a = :one */
    CHECK_EQ_INT(EVAL("a = :n OR a = :one AND a = :one", ITEM1), 1); /* t OR (f AND f) */
    CHECK_EQ_INT(EVAL("(a = :n OR a = :one) AND a = :one", ITEM1), 0);
    CHECK_EQ_INT(EVAL("NOT a = :one AND a = :n", ITEM1), 1);          /* (NOT f) AND t */
    CHECK_EQ_INT(EVAL("NOT (a = :n AND a = :one)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("NOT a = :n OR a = :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("NOT NOT a = :n", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a = :one or a = :n and not a = :one", ITEM1), 1);
    CHECK_EQ_INT(EVAL("a BETWEEN :one AND :n AND a = :one", ITEM1), 0);
    CHECK_EQ_INT(EVAL("a BETWEEN :one AND :n AND a = :n", ITEM1), 1);
}

TEST(eval_attribute_exists_and_type) {
    CHECK_EQ_INT(EVAL("attribute_exists(a)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("attribute_exists(m.y)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("attribute_exists(l[2].k)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("attribute_exists(l[3])", ITEM1), 0);
    CHECK_EQ_INT(EVAL("attribute_exists(#d)", ITEM1), 1); /* "x.y" is one name */
    CHECK_EQ_INT(EVAL("attribute_not_exists(x.y)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("attribute_not_exists(nope)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("attribute_type(s, :typeS)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("attribute_type(a, :typeN)", ITEM1), 1);
    CHECK_EQ_INT(EVAL("attribute_type(a, :typeS)", ITEM1), 0);
    CHECK_EQ_INT(EVAL("attribute_type(nope, :typeS)", ITEM1), 0);
    static const char *const types[] = {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"};
    static const char *const attrs[] = {"s", "a", "b", "t", "z", "m", "l", "ss", "ns", "bs"};
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) {
            char vals[128], ex[64];
            snprintf(vals, sizeof vals, "{\":t\":{\"S\":\"%s\"}}", types[j]);
            snprintf(ex, sizeof ex, "attribute_type(%s, :t)", attrs[i]);
            expr_cond *c;
            int r;
            CHECK_EQ_INT(PC(ENV(NULL, vals), ex, &c), DS_OK);
            expr_eval(c, ITEM(ITEM1), &r, ERR, sizeof ERR);
            CHECK_EQ_INT(r, i == j);
        }
}

TEST(eval_begins_with) {
    expr_env *env = ENV(NAMES, "{\":p\":{\"S\":\"abc\"},\":q\":{\"S\":\"b\"},\":e\":{\"S\":\"\"},"
                              "\":bp\":{\"B\":\"ab\"},\":n\":{\"N\":\"5\"}}");
    struct { const char *e; int want; } cases[] = {
        {"begins_with(s, :p)", 1}, {"begins_with(s, :q)", 0}, {"begins_with(s, :e)", 1},
        {"begins_with(b, :bp)", 1}, {"begins_with(s, :bp)", 0}, {"begins_with(b, :p)", 0},
        {"begins_with(a, :p)", 0}, {"begins_with(nope, :p)", 0}, {"begins_with(s, s)", -1},
        {"begins_with(s, #n)", 1}, {"NOT begins_with(s, :q)", 1},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        expr_cond *c;
        int r;
        int rc = PC(env, cases[i].e, &c);
        if (cases[i].want < 0) {
            CHECK_EQ_INT(rc, DS_EINVAL);
            continue;
        }
        CHECK_EQ_INT(rc, DS_OK);
        expr_eval(c, ITEM(ITEM1), &r, ERR, sizeof ERR);
        if (r != cases[i].want) T_FAIL("%s gave %d", cases[i].e, r);
    }
}

TEST(eval_contains) {
    expr_env *env = ENV(NAMES, "{\":cd\":{\"S\":\"cd\"},\":x\":{\"S\":\"x\"},\":q\":{\"S\":\"q\"},"
                              "\":one\":{\"N\":\"1\"},\":seven\":{\"N\":\"7.0\"},\":z\":{\"S\":\"z\"},"
                              "\":ab\":{\"B\":\"ab\"},\":m\":{\"M\":{\"k\":{\"S\":\"v\"}}},"
                              "\":e\":{\"S\":\"\"}}");
    struct { const char *e; int want; } cases[] = {
        {"contains(s, :cd)", 1}, {"contains(s, :q)", 0}, {"contains(s, :e)", 1},
        {"contains(ss, :x)", 1}, {"contains(ss, :q)", 0}, {"contains(ss, :one)", 0},
        {"contains(ns, :one)", 1}, {"contains(ns, :seven)", 0}, {"contains(ns, :x)", 0},
        {"contains(bs, :ab)", 1}, {"contains(bs, :x)", 0},
        {"contains(l, :z)", 1}, {"contains(l, :seven)", 1}, {"contains(l, :m)", 1},
        {"contains(l, :x)", 0}, {"contains(a, :one)", 0}, {"contains(m, :x)", 0},
        {"contains(nope, :x)", 0}, {"contains(s, #n)", 1},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        expr_cond *c;
        int r;
        CHECK_EQ_INT(PC(env, cases[i].e, &c), DS_OK);
        expr_eval(c, ITEM(ITEM1), &r, ERR, sizeof ERR);
        if (r != cases[i].want) T_FAIL("%s gave %d", cases[i].e, r);
    }
}

TEST(eval_size) {
    expr_env *env = ENV(NULL, "{\":0\":{\"N\":\"0\"},\":1\":{\"N\":\"1\"},\":2\":{\"N\":\"2\"},"
                              "\":3\":{\"N\":\"3\"},\":6\":{\"N\":\"6\"},\":s\":{\"S\":\"3\"}}");
    struct { const char *e; int want; } cases[] = {
        {"size(s) = :6", 1}, {"size(b) = :3", 1}, {"size(ss) = :2", 1}, {"size(ns) = :2", 1},
        {"size(bs) = :1", 1}, {"size(l) = :3", 1}, {"size(m) = :2", 1}, {"size(m.y) = :0", 1},
        {"size(e) = :0", 1}, {"size(a) = :1", 0}, {"size(a) <> :1", 1}, {"size(t) >= :0", 0},
        {"size(z) >= :0", 0}, {"size(nope) >= :0", 0}, {"size(l) = :s", 0},
        {":2 < size(l)", 1}, {"size(l) BETWEEN :1 AND :3", 1}, {"size(l) IN (:1, :3)", 1},
        {"size(l[2]) = :1", 1}, {"size(s) > size(l)", 1}, {"(size(l)) = :3", 1},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        expr_cond *c;
        int r;
        if (PC(env, cases[i].e, &c)) T_FAIL("%s: %s", cases[i].e, ERR);
        expr_eval(c, ITEM(ITEM1), &r, ERR, sizeof ERR);
        if (r != cases[i].want) T_FAIL("%s gave %d", cases[i].e, r);
    }
}

TEST(value_equal_and_cmp_api) {
    int c;
    CHECK(expr_value_equal(V("{\"N\":\"1E2\"}"), V("{\"N\":\"100\"}")));
    CHECK(!expr_value_equal(V("{\"N\":\"1\"}"), V("{\"S\":\"1\"}")));
    CHECK(expr_value_equal(V("{\"BS\":[\"a\",\"b\"]}"), V("{\"BS\":[\"b\",\"a\"]}")));
    CHECK(!expr_value_equal(V("{\"BOOL\":true}"), V("{\"BOOL\":false}")));
    CHECK(!expr_value_equal(NULL, V("{\"NULL\":true}")));
    CHECK_EQ_INT(expr_value_cmp(V("{\"N\":\"-10\"}"), V("{\"N\":\"9\"}"), &c), DS_OK);
    CHECK_EQ_INT(c, -1);
    CHECK_EQ_INT(expr_value_cmp(V("{\"S\":\"b\"}"), V("{\"S\":\"ab\"}"), &c), DS_OK);
    CHECK_EQ_INT(c, 1);
    CHECK_EQ_INT(expr_value_cmp(V("{\"B\":\"\\u00ff\"}"), V("{\"B\":\"a\"}"), &c), DS_OK);
    CHECK_EQ_INT(c, 1);
    CHECK_EQ_INT(expr_value_cmp(V("{\"S\":\"a\"}"), V("{\"N\":\"1\"}"), &c), DS_EINVAL);
    CHECK_EQ_INT(expr_value_cmp(V("{\"SS\":[\"a\"]}"), V("{\"SS\":[\"a\"]}"), &c), DS_EINVAL);
    CHECK_EQ_STR(expr_type_name(ITEM_BS), "BS");
    CHECK_EQ_STR(expr_type_name(ITEM_NULL), "NULL");
}

/* ======================= update parse errors ======================= */

TEST(update_syntax_errors) {
    expr_env *env = DENV();
    static const char *const bad[] = {
        "whatever", "set a", "add a", "delete a", "set a=set", "remove a = b", "add a = b",
        "delete a = b", "delete a b", "remove a b", "set a b", "set :a = b", "add :n b",
        "remove :n", "set a = b / c", "set a = b * c", "set a[1] = \"eight\"", "set a[1] = 1",
        "SET if_not_exists(a, b) = a", "set (a = (b + c))", "set a = (b.c).d + e",
        "set a = (b.c)[0] + e", "set a = b + c + d", "set a = (b + c) + d", "SET a = :n,",
        "SET a = :n REMOVE", "SET a = -:n", "   ",
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(bad); i++) {
        expr_update *u;
        if (PU(env, bad[i], &u) != DS_EINVAL) T_FAIL("%s parsed", bad[i]);
        if (strncmp(ERR, "Invalid UpdateExpression: Syntax error; ", 40))
            T_FAIL("%s: %s", bad[i], ERR);
    }
    UPD_ERR(env, "", "Invalid UpdateExpression: The expression can not be empty;");
    UPD_ERR(env, "SET a = :n b = :n",
            "Invalid UpdateExpression: Syntax error; token: \"b\", near: \":n b\"");
    expr_update *u;
    CHECK_EQ_INT(PU(env, "set a = (b + c)", &u), DS_OK);
    CHECK_EQ_INT(PU(env, "set a = ((b) + (c))", &u), DS_OK);
    CHECK_EQ_INT(PU(env, "SET a = if_not_exists(a, :n) + :one", &u), DS_OK);
    CHECK_EQ_INT(PU(env, "SET a = if_not_exists(a, if_not_exists(b, :n))", &u), DS_OK);
    CHECK_EQ_INT(PU(env, "set a[1] = b, c.d = e", &u), DS_OK);
    CHECK_EQ_INT(PU(env, "  remove\ta ,b\nset c=d  ", &u), DS_OK);
}

TEST(update_sections_once) {
    expr_env *env = DENV();
    UPD_ERR(env, "set a = :n set c = :n",
            "Invalid UpdateExpression: The \"SET\" section can only be used once in an update "
            "expression;");
    UPD_ERR(env, "remove x set a = b remove e",
            "Invalid UpdateExpression: The \"REMOVE\" section can only be used once in an update "
            "expression;");
    UPD_ERR(env, "add x :n set a = b add e :n",
            "Invalid UpdateExpression: The \"ADD\" section can only be used once in an update "
            "expression;");
    UPD_ERR(env, "delete x :ss set a = b DELETE e :ss",
            "Invalid UpdateExpression: The \"DELETE\" section can only be used once in an update "
            "expression;");
}

TEST(update_reserved_and_undefined) {
    expr_env *env = DENV();
    UPD_ERR(env, " set #a = :n set abOrt = c ",
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: abOrt");
    UPD_ERR(env, " remove Absolute ",
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: Absolute");
    UPD_ERR(env, "SET #c = :n",
            "Invalid UpdateExpression: An expression attribute name used in the document path is "
            "not defined; attribute name: #c");
    UPD_ERR(env, "SET #a = if_not_exists(a, :c)",
            "Invalid UpdateExpression: An expression attribute value used in expression is not "
            "defined; attribute value: :c");
}

TEST(update_functions_checked) {
    expr_env *env = DENV();
    UPD_ERR(env, "set a = if_not_exist(a, :n)",
            "Invalid UpdateExpression: Invalid function name; function: if_not_exist");
    UPD_ERR(env, "set a = size(b)",
            "Invalid UpdateExpression: The function is not allowed in an update expression; "
            "function: size");
    UPD_ERR(env, "set a = if_not_exists(c)",
            "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
            "operator or function: if_not_exists, number of operands: 1");
    UPD_ERR(env, "set a = list_append(c)",
            "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
            "operator or function: list_append, number of operands: 1");
    UPD_ERR(env, "set a = if_not_exists(:n, c)",
            "Invalid UpdateExpression: Operator or function requires a document path; operator "
            "or function: if_not_exists");
    UPD_ERR(env, "set a = list_append(:s, a)",
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
            "or function: list_append, operand type: S");
    UPD_ERR(env, "set a = list_append(a, :m)",
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
            "or function: list_append, operand type: M");
    UPD_ERR(env, "set a = a + :s",
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
            "or function: +, operand type: S");
    UPD_ERR(env, "set a = :ss - a",
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
            "or function: -, operand type: SS");
}

TEST(update_add_delete_operand_types) {
    expr_env *env = DENV();
    struct { const char *e, *msg; } cases[] = {
        {"add a :s", "operator: ADD, operand type: STRING"},
        {"delete a :s", "operator: DELETE, operand type: STRING"},
        {"add a :null", "operator: ADD, operand type: NULL"},
        {"add a :t", "operator: ADD, operand type: BOOLEAN"},
        {"add a :b", "operator: ADD, operand type: BINARY"},
        {"add a :m", "operator: ADD, operand type: MAP"},
        {"delete a :l", "operator: DELETE, operand type: LIST"},
        {"delete a :n", "operator: DELETE, operand type: NUMBER"},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        expr_update *u;
        CHECK_EQ_INT(PU(env, cases[i].e, &u), DS_EINVAL);
        char want[256];
        snprintf(want, sizeof want,
                 "Invalid UpdateExpression: Incorrect operand type for operator or function; %s",
                 cases[i].msg);
        CHECK_EQ_STR(ERR, want);
    }
    expr_update *u;
    CHECK_EQ_INT(PU(env, "add a :n, b :ss, c :ns delete d :ss", &u), DS_OK);
    CHECK_EQ_INT(PU(env, "add a.b[2] :n", &u), DS_OK); /* nested ADD is accepted */
}

TEST(update_overlapping_paths) {
    expr_env *env = ENV("{\"#c\":\"c\",\"#d\":\"[3]\"}", VALUES);
    UPD_ERR(env, "set d[1] = :n, d.b = :n, c[1].a = :n, #c = if_not_exists(a, :n)",
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [c, [1], a], path two: [c]");
    UPD_ERR(env, "set #c[3].#d = :n, #c[3] = :n",
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [c, [3], [3]], path two: [c, [3]]");
    UPD_ERR(env, "set #c[3].#d = :n, #c.#d[3] = if_not_exists(a, :n)",
            "Invalid UpdateExpression: Two document paths conflict with each other; must remove "
            "or rewrite one of these paths; path one: [c, [3], [3]], path two: [c, [3], [3]]");
    UPD_ERR(env, "remove a.#c set a[1] = :n",
            "Invalid UpdateExpression: Two document paths conflict with each other; must remove "
            "or rewrite one of these paths; path one: [a, c], path two: [a, [1]]");
    UPD_ERR(env, "SET a = :n, a = :one",
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [a], path two: [a]");
    UPD_ERR(env, "SET a.b = :n REMOVE a",
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [a, b], path two: [a]");
    UPD_ERR(env, "ADD s :ss DELETE s :ss",
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [s], path two: [s]");
    expr_update *u;
    CHECK_EQ_INT(PU(env, "SET a.b = :n, a.c = :n, l[1] = :n, l[2] = :n REMOVE l[0], ab", &u), DS_OK);
}

TEST(update_operator_limit) {
    expr_env *env = DENV();
    /* 150 actions "x = a + b" = 150 operators; 300 is fine, 301 not */
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "SET ");
    for (int i = 0; i < 300; i++) ds_buf_printf(&b, "%sa%d=:n+:n", i ? "," : "", i);
    expr_update *u;
    CHECK_EQ_INT(PU(env, b.data, &u), DS_OK);
    ds_buf_puts(&b, ", z = :n - :n");
    CHECK_EQ_INT(PU(env, b.data, &u), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Invalid UpdateExpression: The expression contains too many operators; "
                      "operator count: 301");
    ds_buf_free(&b);
    char *big = repeat("REMOVE a", " ", 4100, "");
    UPD_ERR(env, big, "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size;");
}

/* ======================= update application ======================= */

#define OLD                                                                                  \
    "{\"id\":{\"S\":\"k\"},\"a\":{\"N\":\"5\"},\"s\":{\"S\":\"str\"},\"l\":{\"L\":[{\"S\":\"l0\"}," \
    "{\"S\":\"l1\"},{\"S\":\"l2\"},{\"S\":\"l3\"},{\"S\":\"l4\"}]},\"m\":{\"M\":{\"x\":{\"N\":"   \
    "\"1\"},\"inr\":{\"M\":{\"deep\":{\"S\":\"d\"}}}}},\"ss\":{\"SS\":[\"x\",\"y\"]},\"ns\":{"    \
    "\"NS\":[\"1\",\"2\"]}}"

TEST(update_set_basic) {
    UPD_OK("SET b = :s, a = :one", OLD,
           "{\"id\":{\"S\":\"k\"},\"a\":{\"N\":\"1\"},\"s\":{\"S\":\"str\"},\"l\":{\"L\":[{\"S\":"
           "\"l0\"},{\"S\":\"l1\"},{\"S\":\"l2\"},{\"S\":\"l3\"},{\"S\":\"l4\"}]},\"m\":{\"M\":{"
           "\"x\":{\"N\":\"1\"},\"inr\":{\"M\":{\"deep\":{\"S\":\"d\"}}}}},\"ss\":{\"SS\":[\"x\","
           "\"y\"]},\"ns\":{\"NS\":[\"1\",\"2\"]},\"b\":{\"S\":\"abc\"}}");
    UPD_OK("SET a = :n", NULL, "{\"a\":{\"N\":\"5\"}}");
    UPD_OK("SET #n = :s", NULL, "{\"name\":{\"S\":\"abc\"}}");
    UPD_OK("SET #d = :s", NULL, "{\"x.y\":{\"S\":\"abc\"}}");
}

TEST(update_set_reads_old_item) {
    UPD_OK("SET a = s, s = a", "{\"a\":{\"N\":\"5\"},\"s\":{\"S\":\"x\"}}",
           "{\"a\":{\"S\":\"x\"},\"s\":{\"N\":\"5\"}}");
    UPD_OK("SET a = a + :one, b = a", "{\"a\":{\"N\":\"5\"}}", "{\"a\":{\"N\":\"6\"},\"b\":{\"N\":\"5\"}}");
    UPD_OK("SET b = a REMOVE a", "{\"a\":{\"N\":\"5\"}}", "{\"b\":{\"N\":\"5\"}}");
    UPD_OK("SET m.x = :n, c = m", "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}",
           "{\"m\":{\"M\":{\"x\":{\"N\":\"5\"}}},\"c\":{\"M\":{\"x\":{\"N\":\"1\"}}}}");
}

TEST(update_missing_operand) {
    UPD_RUNERR("SET c = b", "{\"a\":{\"N\":\"5\"}}", NOATTR);
    UPD_RUNERR("SET c = b + :one", "{\"a\":{\"N\":\"5\"}}", NOATTR);
    UPD_RUNERR("SET e = list_append(b, :l)", NULL, NOATTR);
    UPD_RUNERR("SET c = a.b", "{\"a\":{\"N\":\"5\"}}", NOATTR);
}

TEST(update_arithmetic_exact) {
    UPD_OK("SET a = a + :one", "{\"a\":{\"N\":\"0.1\"}}", "{\"a\":{\"N\":\"1.1\"}}");
    UPD_OK("SET a = a - :n", "{\"a\":{\"N\":\"2\"}}", "{\"a\":{\"N\":\"-3\"}}");
    UPD_OK("SET a = :n - :n", NULL, "{\"a\":{\"N\":\"0\"}}");
    UPD_OK("SET a = a + :one",
           "{\"a\":{\"N\":\"99999999999999999999999999999999999998\"}}",
           "{\"a\":{\"N\":\"99999999999999999999999999999999999999\"}}");
    UPD_OK("SET a = a + :one", "{\"a\":{\"N\":\"1E+37\"}}",
           "{\"a\":{\"N\":\"10000000000000000000000000000000000001\"}}");
    UPD_RUNERR("SET a = a + :one", "{\"a\":{\"N\":\"1E+38\"}}",
               "Number overflow. Attempting to store a number with magnitude larger than "
               "supported range");
    item_value *o;
    CHECK_EQ_INT(UPD("SET a = a + :one", "{\"a\":{\"N\":\"0.1\"}}", &o), DS_OK);
    item_value *a = (item_value *)item_get(o, "a", 1);
    CHECK(a && a->u.s.len == 3 && !memcmp(a->u.s.p, "1.1", 3));
    /* 38 nines + 0.1 needs 39 digits: refused */
    UPD_RUNERR("SET a = a + b", "{\"a\":{\"N\":\"99999999999999999999999999999999999999\"},\"b\":{\"N\":\"0.1\"}}",
               "Number overflow. Attempting to store a number with magnitude larger than "
               "supported range");
    UPD_RUNERR("SET a = a + a", "{\"a\":{\"N\":\"9.9999999999999999999999999999999999999E+125\"}}",
               "Number overflow. Attempting to store a number with magnitude larger than "
               "supported range");
    UPD_RUNERR("SET a = a + s", "{\"a\":{\"N\":\"1\"},\"s\":{\"S\":\"1\"}}", BADTYPE);
    UPD_RUNERR("SET a = s - :one", "{\"s\":{\"S\":\"1\"}}", BADTYPE);
}

TEST(update_if_not_exists) {
    UPD_OK("SET a = if_not_exists(a, :one)", "{\"a\":{\"N\":\"5\"}}", "{\"a\":{\"N\":\"5\"}}");
    UPD_OK("SET a = if_not_exists(a, :one)", NULL, "{\"a\":{\"N\":\"1\"}}");
    UPD_OK("SET b = if_not_exists(a, :one)", "{\"a\":{\"N\":\"5\"}}",
           "{\"a\":{\"N\":\"5\"},\"b\":{\"N\":\"5\"}}");
    UPD_OK("SET c = if_not_exists(a, :one) + :n", NULL, "{\"c\":{\"N\":\"6\"}}");
    UPD_OK("SET c = if_not_exists(m.q, m.x)", "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}",
           "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}},\"c\":{\"N\":\"1\"}}");
    UPD_RUNERR("SET c = if_not_exists(a, b)", NULL, NOATTR);
}

TEST(update_list_append) {
    UPD_OK("SET l = list_append(l, :l)", "{\"l\":{\"L\":[{\"S\":\"a\"}]}}",
           "{\"l\":{\"L\":[{\"S\":\"a\"},{\"S\":\"z\"}]}}");
    UPD_OK("SET l = list_append(:l, l)", "{\"l\":{\"L\":[{\"S\":\"a\"}]}}",
           "{\"l\":{\"L\":[{\"S\":\"z\"},{\"S\":\"a\"}]}}");
    UPD_OK("SET l = list_append(if_not_exists(l, :l), :l)", NULL,
           "{\"l\":{\"L\":[{\"S\":\"z\"},{\"S\":\"z\"}]}}");
    UPD_RUNERR("SET e = list_append(s, :l)", "{\"s\":{\"S\":\"x\"}}", BADTYPE);
    UPD_RUNERR("SET e = list_append(d, if_not_exists(f, :l))", "{\"d\":{\"NS\":[\"1\"]}}", BADTYPE);
}

TEST(update_list_index_set_and_append) {
    UPD_OK("SET l[1] = :s", "{\"l\":{\"L\":[{\"S\":\"a\"},{\"S\":\"b\"}]}}",
           "{\"l\":{\"L\":[{\"S\":\"a\"},{\"S\":\"abc\"}]}}");
    UPD_OK("SET l[7] = :s", "{\"l\":{\"L\":[{\"S\":\"a\"}]}}",
           "{\"l\":{\"L\":[{\"S\":\"a\"},{\"S\":\"abc\"}]}}");
    UPD_OK("SET l[9] = :n, l[5] = :s, l[0] = :one", "{\"l\":{\"L\":[{\"S\":\"a\"}]}}",
           "{\"l\":{\"L\":[{\"N\":\"1\"},{\"S\":\"abc\"},{\"N\":\"5\"}]}}");
    UPD_OK("SET l[0].x = :n", "{\"l\":{\"L\":[{\"M\":{}}]}}",
           "{\"l\":{\"L\":[{\"M\":{\"x\":{\"N\":\"5\"}}}]}}");
    UPD_RUNERR("SET l[3].x = :n", "{\"l\":{\"L\":[{\"M\":{}}]}}", BADPATH);
}

TEST(update_remove) {
    UPD_OK("REMOVE a, nope, s", "{\"a\":{\"N\":\"5\"},\"s\":{\"S\":\"x\"},\"k\":{\"S\":\"k\"}}",
           "{\"k\":{\"S\":\"k\"}}");
    UPD_OK("REMOVE a", NULL, "{}");
    UPD_OK("REMOVE m.x, m.nope", "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"2\"}}}}",
           "{\"m\":{\"M\":{\"y\":{\"N\":\"2\"}}}}");
    /* indexes refer to the old list: both go, the rest shift down */
    UPD_OK("REMOVE l[1], l[2]", OLD "",
           "{\"id\":{\"S\":\"k\"},\"a\":{\"N\":\"5\"},\"s\":{\"S\":\"str\"},\"l\":{\"L\":[{\"S\":"
           "\"l0\"},{\"S\":\"l3\"},{\"S\":\"l4\"}]},\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"inr\":{"
           "\"M\":{\"deep\":{\"S\":\"d\"}}}}},\"ss\":{\"SS\":[\"x\",\"y\"]},\"ns\":{\"NS\":[\"1\","
           "\"2\"]}}");
    UPD_OK("REMOVE l[9]", "{\"l\":{\"L\":[{\"S\":\"a\"}]}}", "{\"l\":{\"L\":[{\"S\":\"a\"}]}}");
    UPD_OK("REMOVE l[0] SET l[1] = :s, l[4] = :n",
           "{\"l\":{\"L\":[{\"S\":\"a\"},{\"S\":\"b\"},{\"S\":\"c\"}]}}",
           "{\"l\":{\"L\":[{\"S\":\"abc\"},{\"S\":\"c\"},{\"N\":\"5\"}]}}");
    UPD_OK("REMOVE l[0], l[1]", "{\"l\":{\"L\":[{\"S\":\"a\"},{\"S\":\"b\"}]}}", "{\"l\":{\"L\":[]}}");
    UPD_RUNERR("REMOVE y.a", "{\"a\":{\"N\":\"5\"}}", BADPATH);
    UPD_RUNERR("REMOVE a.b", "{\"a\":{\"N\":\"5\"}}", BADPATH);
    UPD_RUNERR("REMOVE m[1]", "{\"m\":{\"M\":{}}}", BADPATH);
    UPD_RUNERR("REMOVE l.a", "{\"l\":{\"L\":[]}}", BADPATH);
}

TEST(update_invalid_document_paths) {
    UPD_RUNERR("SET b.a = :n", NULL, BADPATH);
    UPD_RUNERR("SET b[1] = :n", NULL, BADPATH);
    UPD_RUNERR("SET a.b = :n", "{\"a\":{\"N\":\"5\"}}", BADPATH);
    UPD_RUNERR("SET a[0] = :n", "{\"a\":{\"M\":{}}}", BADPATH);
    UPD_RUNERR("SET a.b = :n", "{\"a\":{\"L\":[]}}", BADPATH);
    UPD_RUNERR("SET m.q.r = :n", "{\"m\":{\"M\":{}}}", BADPATH);
    UPD_RUNERR("ADD y.a :n", "{\"a\":{\"N\":\"5\"}}", BADPATH);
    UPD_RUNERR("DELETE y.a :ss", "{\"a\":{\"N\":\"5\"}}", BADPATH);
    UPD_OK("SET m.q.r = :n", "{\"m\":{\"M\":{\"q\":{\"M\":{}}}}}",
           "{\"m\":{\"M\":{\"q\":{\"M\":{\"r\":{\"N\":\"5\"}}}}}}");
}

TEST(update_add) {
    UPD_OK("ADD a :n", NULL, "{\"a\":{\"N\":\"5\"}}");
    UPD_OK("ADD a :n", "{\"a\":{\"N\":\"-5\"}}", "{\"a\":{\"N\":\"0\"}}");
    UPD_OK("ADD ss :ss", "{\"ss\":{\"SS\":[\"y\",\"w\"]}}", "{\"ss\":{\"SS\":[\"w\",\"x\",\"y\"]}}");
    UPD_OK("ADD ns :ns", "{\"ns\":{\"NS\":[\"1.0\",\"3\"]}}", "{\"ns\":{\"NS\":[\"1\",\"2\",\"3\"]}}");
    UPD_OK("ADD ss :ss", NULL, "{\"ss\":{\"SS\":[\"x\",\"y\"]}}");
    UPD_OK("ADD m.c :one", "{\"m\":{\"M\":{\"c\":{\"N\":\"41\"}}}}", "{\"m\":{\"M\":{\"c\":{\"N\":\"42\"}}}}");
    UPD_OK("ADD m.c :one", "{\"m\":{\"M\":{}}}", "{\"m\":{\"M\":{\"c\":{\"N\":\"1\"}}}}");
    UPD_RUNERR("ADD a :n", "{\"a\":{\"S\":\"x\"}}", BADTYPE);
    UPD_RUNERR("ADD ss :ns", "{\"ss\":{\"SS\":[\"x\"]}}", BADTYPE);
    UPD_RUNERR("ADD ns :n", "{\"ns\":{\"NS\":[\"1\"]}}", BADTYPE);
    UPD_RUNERR("ADD a :ns", "{\"a\":{\"N\":\"1\"}}", BADTYPE);
    UPD_RUNERR("ADD a :n", "{\"a\":{\"N\":\"99999999999999999999999999999999999999\"}}",
               "Number overflow. Attempting to store a number with magnitude larger than "
               "supported range");
}

TEST(update_delete) {
    UPD_OK("DELETE ss :ss", "{\"ss\":{\"SS\":[\"x\",\"q\",\"y\"]}}", "{\"ss\":{\"SS\":[\"q\"]}}");
    UPD_OK("DELETE ss :ss", "{\"ss\":{\"SS\":[\"x\",\"y\"]},\"k\":{\"N\":\"1\"}}", "{\"k\":{\"N\":\"1\"}}");
    UPD_OK("DELETE ns :ns", "{\"ns\":{\"NS\":[\"1.00\",\"3\"]}}", "{\"ns\":{\"NS\":[\"3\"]}}");
    UPD_OK("DELETE nope :ss", "{\"k\":{\"N\":\"1\"}}", "{\"k\":{\"N\":\"1\"}}");
    UPD_OK("DELETE ss :ss", "{\"ss\":{\"SS\":[\"q\"]}}", "{\"ss\":{\"SS\":[\"q\"]}}");
    UPD_OK("DELETE m.s :ss", "{\"m\":{\"M\":{\"s\":{\"SS\":[\"x\"]}}}}", "{\"m\":{\"M\":{}}}");
    UPD_RUNERR("DELETE ns :ss", "{\"ns\":{\"NS\":[\"1\"]}}", BADTYPE);
    UPD_RUNERR("DELETE a :ns", "{\"a\":{\"N\":\"1\"}}", BADTYPE);
}

TEST(update_all_clauses_together) {
    UPD_OK("SET a = a + :one, m.inr.deep = :s REMOVE l[0], s ADD ns :ns, cnt :n DELETE ss :ss",
           OLD,
           "{\"id\":{\"S\":\"k\"},\"a\":{\"N\":\"6\"},\"l\":{\"L\":[{\"S\":\"l1\"},{\"S\":\"l2\"},"
           "{\"S\":\"l3\"},{\"S\":\"l4\"}]},\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"inr\":{\"M\":{"
           "\"deep\":{\"S\":\"abc\"}}}}},\"ns\":{\"NS\":[\"1\",\"2\"]},\"cnt\":{\"N\":\"5\"}}");
}

TEST(update_does_not_mutate_old_and_shares) {
    item_value *old = ITEM(OLD);
    ds_buf before = DS_BUF_INIT, after = DS_BUF_INIT;
    CHECK_EQ_INT(item_encode(&before, old), DS_OK);
    expr_update *u;
    CHECK_EQ_INT(PU(DENV(), "SET m.inr.deep = :n, l[1] = :n, l[8] = :s, z = m REMOVE l[0], a "
                            "ADD ns :ns DELETE ss :ss", &u), DS_OK);
    item_value *o;
    CHECK_EQ_INT(expr_apply_update(ta(), u, old, &o, ERR, sizeof ERR), DS_OK);
    CHECK_EQ_INT(item_encode(&after, old), DS_OK);
    CHECK(before.len == after.len && !memcmp(before.data, after.data, before.len));
    /* unchanged subtrees are shared, changed ones are not */
    CHECK(item_get(o, "id", 2) == item_get(old, "id", 2));
    CHECK(item_get(o, "m", 1) != item_get(old, "m", 1));
    CHECK(item_get(o, "z", 1) == item_get(old, "m", 1)); /* the old m, unchanged */
    CHECK(item_get(item_get(o, "m", 1), "x", 1) == item_get(item_get(old, "m", 1), "x", 1));
    ds_buf enc = DS_BUF_INIT;
    CHECK_EQ_INT(item_encode(&enc, o), DS_OK);
    ds_buf_free(&before);
    ds_buf_free(&after);
    ds_buf_free(&enc);
}

TEST(update_touches_and_updated_attrs) {
    expr_update *u;
    CHECK_EQ_INT(PU(DENV(), "SET m.x = :n, l[1] = :s REMOVE s ADD cnt :n", &u), DS_OK);
    CHECK(expr_update_touches(u, "m", 1));
    CHECK(expr_update_touches(u, "s", 1));
    CHECK(expr_update_touches(u, "cnt", 3));
    CHECK(!expr_update_touches(u, "id", 2));
    CHECK(!expr_update_touches(u, "x", 1));
    item_value *old = ITEM(OLD), *o, *up;
    CHECK_EQ_INT(expr_apply_update(ta(), u, old, &o, ERR, sizeof ERR), DS_OK);
    CHECK_EQ_INT(expr_updated_attrs(ta(), u, old, &up), DS_OK);
    CHECK(SAME(up, "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}},\"l\":{\"L\":[{\"S\":\"l1\"}]},"
                   "\"s\":{\"S\":\"str\"}}"));
    CHECK_EQ_INT(expr_updated_attrs(ta(), u, o, &up), DS_OK);
    CHECK(SAME(up, "{\"m\":{\"M\":{\"x\":{\"N\":\"5\"}}},\"l\":{\"L\":[{\"S\":\"abc\"}]},"
                   "\"cnt\":{\"N\":\"5\"}}"));
    CHECK_EQ_INT(expr_updated_attrs(ta(), u, NULL, &up), DS_OK);
    CHECK(SAME(up, "{}"));
}

/* ======================= projections ======================= */

static int PROJ(const char *s, const char *item, const char *want) {
    expr_proj *p;
    ERR[0] = 0;
    if (expr_parse_projection(DENV(), s, strlen(s), &p, ERR, sizeof ERR)) {
        fprintf(stderr, "  %s: %s\n", s, ERR);
        return 0;
    }
    item_value *o;
    expr_project(ta(), p, ITEM(item), &o);
    return SAME(o, want);
}

TEST(projection_paths) {
    CHECK(PROJ("a, s", OLD, "{\"a\":{\"N\":\"5\"},\"s\":{\"S\":\"str\"}}"));
    CHECK(PROJ("a, nope", OLD, "{\"a\":{\"N\":\"5\"}}"));
    CHECK(PROJ("m.inr.deep", OLD, "{\"m\":{\"M\":{\"inr\":{\"M\":{\"deep\":{\"S\":\"d\"}}}}}}"));
    CHECK(PROJ("m.x, m.inr", OLD, "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"inr\":{\"M\":{\"deep\":{\"S\":\"d\"}}}}}}"));
    CHECK(PROJ("l[3], l[1], l[99]", OLD, "{\"l\":{\"L\":[{\"S\":\"l1\"},{\"S\":\"l3\"}]}}"));
    CHECK(PROJ("m.nope, l[7]", OLD, "{}"));
    CHECK(PROJ("a.b, m[0]", OLD, "{}"));
    CHECK(PROJ("#d, #n", "{\"x.y\":{\"N\":\"1\"},\"name\":{\"S\":\"n\"},\"x\":{\"M\":{}}}",
               "{\"x.y\":{\"N\":\"1\"},\"name\":{\"S\":\"n\"}}"));
    CHECK(PROJ(" a ,\ts ", NULL, "{}"));
    expr_proj *p;
    CHECK_EQ_INT(expr_parse_projection(DENV(), "m.x, a", 6, &p, ERR, sizeof ERR), DS_OK);
    CHECK_EQ_INT(expr_proj_count(p), 2);
    const char *n;
    size_t len;
    expr_proj_top(p, 0, &n, &len);
    CHECK(len == 1 && n[0] == 'm');
}

TEST(projection_errors) {
    expr_env *env = DENV();
    expr_proj *p;
    struct { const char *e, *msg; } cases[] = {
        {"", "Invalid ProjectionExpression: The expression can not be empty;"},
        {"a,", "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \",\""},
        {"a b", "Invalid ProjectionExpression: Syntax error; token: \"b\", near: \"a b\""},
        {"(a)", "Invalid ProjectionExpression: Syntax error; token: \"(\", near: \"(\""},
        {"a, name", "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"},
        {"#zz", "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: #zz"},
        {"a, a.b", "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"},
        {"a.b, a[1]", "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"},
        {"a, :n", "Invalid ProjectionExpression: Syntax error; token: \":n\", near: \", :n\""},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        CHECK_EQ_INT(expr_parse_projection(env, cases[i].e, strlen(cases[i].e), &p, ERR, sizeof ERR),
                     DS_EINVAL);
        CHECK_EQ_STR(ERR, cases[i].msg);
    }
}

/* ======================= key conditions ======================= */

static int KC(const char *s, expr_key_cond *kc) {
    ERR[0] = 0;
    return expr_parse_key_condition(DENV(), s, strlen(s), kc, ERR, sizeof ERR);
}

TEST(key_condition_forms) {
    expr_key_cond kc;
    CHECK_EQ_INT(KC("pk = :s", &kc), DS_OK);
    CHECK(kc.pk_len == 2 && !memcmp(kc.pk_name, "pk", 2) && kc.sk_op == EXPR_SK_NONE);
    CHECK(kc.pk_value && kc.pk_value->type == ITEM_S);
    CHECK_EQ_INT(KC("pk = :s AND sk > :n", &kc), DS_OK);
    CHECK(kc.sk_op == EXPR_SK_GT && kc.sk_len == 2 && kc.sk_v1->type == ITEM_N);
    CHECK_EQ_INT(KC("sk <= :n AND pk = :s", &kc), DS_OK);
    CHECK(kc.sk_op == EXPR_SK_LE && !memcmp(kc.pk_name, "pk", 2));
    CHECK_EQ_INT(KC(":n < sk AND :s = pk", &kc), DS_OK); /* flipped */
    CHECK(kc.sk_op == EXPR_SK_GT && !memcmp(kc.pk_name, "pk", 2));
    CHECK_EQ_INT(KC("(pk = :s) AND (sk BETWEEN :one AND :n)", &kc), DS_OK);
    CHECK(kc.sk_op == EXPR_SK_BETWEEN && kc.sk_v1->u.s.p[0] == '1' && kc.sk_v2->u.s.p[0] == '5');
    CHECK_EQ_INT(KC("sk BETWEEN :one AND :n AND pk = :s", &kc), DS_OK);
    CHECK(kc.sk_op == EXPR_SK_BETWEEN);
    CHECK_EQ_INT(KC("begins_with(sk, :s) and #a = :s", &kc), DS_OK);
    CHECK(kc.sk_op == EXPR_SK_BEGINS_WITH && kc.pk_len == 1 && kc.pk_name[0] == 'a');
    CHECK_EQ_INT(KC("sk >= :n", &kc), DS_OK);
    CHECK(!kc.pk_name && kc.sk_op == EXPR_SK_GE);
    CHECK_EQ_INT(KC("sk = :n AND pk = :s", &kc), DS_OK);
    CHECK_EQ_INT(expr_key_cond_check(&kc, "pk", 2, "sk", 2, ERR, sizeof ERR), DS_OK);
    CHECK(!memcmp(kc.pk_name, "pk", 2) && !memcmp(kc.sk_name, "sk", 2) && kc.sk_op == EXPR_SK_EQ);
    CHECK(kc.pk_value->type == ITEM_S && kc.sk_v1->type == ITEM_N);
}

TEST(key_condition_errors) {
    expr_key_cond kc;
    struct { const char *e, *msg; } cases[] = {
        {"pk = :s OR sk = :n", "Invalid operator used in KeyConditionExpression: OR"},
        {"NOT pk = :s", "Invalid operator used in KeyConditionExpression: NOT"},
        {"pk IN (:s)", "Invalid operator used in KeyConditionExpression: IN"},
        {"pk <> :s", "Invalid operator used in KeyConditionExpression: <>"},
        {"attribute_exists(pk)", "Invalid operator used in KeyConditionExpression: attribute_exists"},
        {"contains(pk, :s)", "Invalid operator used in KeyConditionExpression: contains"},
        {"pk.x = :s", "KeyConditionExpressions cannot have conditions on nested attributes"},
        {"size(pk) = :n", "KeyConditionExpressions cannot contain nested operations"},
        {"pk = sk", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"},
        {":s = :n", "Invalid condition in KeyConditionExpression: No key attribute specified"},
        {"pk = :s AND pk = :n", "KeyConditionExpressions must only contain one condition per key"},
        {"pk = :s AND sk = :n AND c = :n", "KeyConditionExpressions must only contain one condition per key"},
        {"pk > :s AND sk > :n", "Query key condition not supported"},
        {"pk = ", "Invalid KeyConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""},
        {"", "Invalid KeyConditionExpression: The expression can not be empty;"},
        {"pk = :zz", "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: :zz"},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        if (KC(cases[i].e, &kc) != DS_EINVAL) T_FAIL("%s parsed", cases[i].e);
        CHECK_EQ_STR(ERR, cases[i].msg);
    }
}

TEST(key_condition_check_schema) {
    expr_key_cond kc;
    CHECK_EQ_INT(KC("sk >= :n", &kc), DS_OK);
    CHECK_EQ_INT(expr_key_cond_check(&kc, "pk", 2, "sk", 2, ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Query condition missed key schema element: pk");
    CHECK_EQ_INT(KC("oth = :s", &kc), DS_OK);
    CHECK_EQ_INT(expr_key_cond_check(&kc, "pk", 2, "sk", 2, ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Query key condition not supported");
    CHECK_EQ_INT(KC("pk = :s AND oth > :n", &kc), DS_OK);
    CHECK_EQ_INT(expr_key_cond_check(&kc, "pk", 2, "sk", 2, ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Query condition missed key schema element: sk");
    CHECK_EQ_INT(KC("pk = :s AND sk > :n", &kc), DS_OK);
    CHECK_EQ_INT(expr_key_cond_check(&kc, "pk", 2, NULL, 0, ERR, sizeof ERR), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Query key condition not supported");
    CHECK_EQ_INT(expr_key_cond_check(&kc, "pk", 2, "sk", 2, ERR, sizeof ERR), DS_OK);
}

/* The compiled forms outlive the expression text. */
TEST(compiled_forms_do_not_borrow_the_text) {
    expr_env *env = DENV();
    char *text = strdup("attr_1 = :n AND m.x BETWEEN :one AND :n");
    expr_cond *c;
    CHECK_EQ_INT(PC(env, text, &c), DS_OK);
    memset(text, 'q', strlen(text));
    free(text);
    int r;
    expr_eval(c, ITEM("{\"attr_1\":{\"N\":\"5\"},\"m\":{\"M\":{\"x\":{\"N\":\"2\"}}}}"), &r, ERR, sizeof ERR);
    CHECK_EQ_INT(r, 1);
}

TEST_MAIN()
