/* expr.h -- DynamoDB expressions: ConditionExpression / FilterExpression,
 * UpdateExpression, ProjectionExpression and KeyConditionExpression.
 *
 * A front end compiles each expression of a request once, against one
 * expr_env (the request's ExpressionAttributeNames and ExpressionAttributeValues),
 * and the op carries the compiled form to where the item lives; evaluating a
 * condition there allocates nothing, applying an update allocates the new
 * item's changed nodes in the caller's arena.
 *
 * Lifetimes: an expr_env and everything compiled against it live in the
 * arena given to expr_env_new() until that arena is reset or freed. The
 * compiled forms point at the item_value trees passed to expr_env_add_value()
 * (which must live as long) and copy every name they need, so the expression
 * strings themselves may be freed after parsing. Compiled expressions are
 * read-only: several threads may evaluate one at the same time.
 *
 * Errors: every parse error is DS_EINVAL with DynamoDB's own message in err
 * (the API layer turns it into a ValidationException), e.g.
 *   Invalid UpdateExpression: Syntax error; token: "1", near: "VALUE 1"
 *   Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name
 * Runtime errors of an update are DS_EINVAL with DynamoDB's runtime messages
 * ("The provided expression refers to an attribute that does not exist in
 * the item", ...). err may be NULL or errlen 0 for no message.
 */
#ifndef DS_EXPR_H
#define DS_EXPR_H

#include "common/ds.h"
#include "common/json.h"
#include "engine/item.h"

/* Documented limits (developer guide, "Service, account, and table quotas"). */
#define EXPR_MAX_LEN 4096       /* bytes of one expression string */
#define EXPR_MAX_OPERATORS 300  /* operators and functions in one expression */
#define EXPR_MAX_IN 100         /* operands of IN */
#define EXPR_MAX_DEPTH 32       /* levels of a document path */
#define EXPR_MAX_NAME 255       /* bytes of one #name / :value placeholder */

/* ---- environment: one request's names and values -------------------------- */
typedef struct expr_env expr_env;

/* Returns a new, empty environment allocated in a (never NULL). */
expr_env *expr_env_new(ds_arena *a);

/* Loads ExpressionAttributeNames (a JSON object). Keys must be '#' followed
 * by one or more of [A-Za-z0-9_], values non-empty strings. Returns DS_OK, or
 * DS_EINVAL with DynamoDB's message ("ExpressionAttributeNames must not be
 * empty", "ExpressionAttributeNames contains invalid key: Syntax error; key:
 * \"a\"", "ExpressionAttributeNames contains invalid value: Empty attribute
 * name for key #a"). The strings are copied into the env's arena. */
int expr_env_set_names(expr_env *env, const json_value *names, char *err, size_t errlen);

/* Adds one ExpressionAttributeValues entry: name (len bytes, ':' followed by
 * one or more of [A-Za-z0-9_]) -> v, already converted from DynamoDB JSON by
 * the caller. v is borrowed: it must live as long as the env's arena.
 * Returns DS_OK or DS_EINVAL ("ExpressionAttributeValues contains invalid key:
 * Syntax error; key: \"v\""). */
int expr_env_add_value(expr_env *env, const char *name, size_t len, const item_value *v,
                       char *err, size_t errlen);

/* Adds one #name -> attribute mapping programmatically (for legacy parameters
 * rewritten as expressions). Both strings are copied. Returns DS_OK, or
 * DS_EINVAL if name does not start with '#' or attr is empty. An entry added
 * this way is never reported as unused. */
int expr_env_add_name(expr_env *env, const char *name, size_t len, const char *attr,
                      size_t attr_len);

/* After all of a request's expressions are parsed: DS_EINVAL with
 * "Value provided in ExpressionAttributeNames unused in expressions: keys:
 * {#a, #b}" (or the same for ExpressionAttributeValues) if any entry was not
 * used by any expression, else DS_OK. */
int expr_env_check_unused(const expr_env *env, char *err, size_t errlen);

/* ---- compiled expressions ---------------------------------------------------- */
typedef struct expr_cond expr_cond;     /* ConditionExpression / FilterExpression */
typedef struct expr_update expr_update; /* UpdateExpression */
typedef struct expr_proj expr_proj;     /* ProjectionExpression */
typedef struct expr_path expr_path;     /* a document path a.b[3].c */

/* Each parses n bytes of s against env and returns the compiled form in
 * *out (allocated in the env's arena). Errors name the parameter the way
 * DynamoDB does: "Invalid ConditionExpression: ...", "Invalid
 * FilterExpression: ...", "Invalid UpdateExpression: ...", "Invalid
 * ProjectionExpression: ...", "Invalid KeyConditionExpression: ...".
 * Names and values used are marked for expr_env_check_unused(). */
int expr_parse_condition(expr_env *env, const char *s, size_t n, expr_cond **out, char *err,
                         size_t errlen);
int expr_parse_filter(expr_env *env, const char *s, size_t n, expr_cond **out, char *err,
                      size_t errlen);
int expr_parse_update(expr_env *env, const char *s, size_t n, expr_update **out, char *err,
                      size_t errlen);
int expr_parse_projection(expr_env *env, const char *s, size_t n, expr_proj **out, char *err,
                          size_t errlen);

/* ---- Query key conditions ------------------------------------------------------ */
typedef enum {
    EXPR_SK_NONE,
    EXPR_SK_EQ,
    EXPR_SK_LT,
    EXPR_SK_LE,
    EXPR_SK_GT,
    EXPR_SK_GE,
    EXPR_SK_BETWEEN,
    EXPR_SK_BEGINS_WITH
} expr_sk_op;

typedef struct expr_key_cond {
    const char *pk_name; /* NULL if no equality condition was given */
    size_t pk_len;
    const item_value *pk_value;
    const char *sk_name; /* NULL when sk_op is EXPR_SK_NONE */
    size_t sk_len;
    expr_sk_op sk_op;
    const item_value *sk_v1, *sk_v2; /* sk_v2 only for BETWEEN */
} expr_key_cond;

/* The restricted Query form: "pk = :v" [AND sk op ...] in either order,
 * parentheses allowed, where op is = < <= > >= BETWEEN or begins_with.
 * Fills *out (names point into the env's arena, values are the env's).
 * A lone non-equality condition lands in the sk fields with pk_name NULL.
 * When both conditions are equalities the first is reported as pk; call
 * expr_key_cond_check() to orient and validate against the key schema.
 * Errors are DynamoDB's: "Invalid operator used in KeyConditionExpression:
 * OR", "KeyConditionExpressions cannot have conditions on nested
 * attributes", "KeyConditionExpressions must only contain one condition per
 * key", "Query key condition not supported", plus every syntax error. */
int expr_parse_key_condition(expr_env *env, const char *s, size_t n, expr_key_cond *out,
                             char *err, size_t errlen);

/* Orients kc against the key schema (pk, and sk or NULL for a hash-only
 * table), swapping two equalities if needed, and checks it: DS_OK, or
 * DS_EINVAL with "Query condition missed key schema element: X" or "Query key
 * condition not supported". */
int expr_key_cond_check(expr_key_cond *kc, const char *pk, size_t pk_len, const char *sk,
                        size_t sk_len, char *err, size_t errlen);

/* ---- evaluation ------------------------------------------------------------------ */

/* Evaluates c against item (an M, or NULL when there is no item) and sets
 * *result to 1 or 0. Allocates nothing. Returns DS_OK (conditions have no
 * runtime errors in DynamoDB: a type mismatch makes a comparison false). */
int expr_eval(const expr_cond *c, const item_value *item, int *result, char *err,
              size_t errlen);

/* Applies u to old (an M, or NULL for a new item) and returns the new item
 * in *out (an M allocated in a, sharing unchanged subtrees with old; old is
 * never modified). Every operand reads old. Returns DS_OK, or DS_EINVAL with
 * DynamoDB's runtime message ("The provided expression refers to an attribute
 * that does not exist in the item", "An operand in the update expression has
 * an incorrect data type", "The document path provided in the update
 * expression is invalid for update", "Number overflow. Attempting to store a
 * number with magnitude larger than supported range"). */
int expr_apply_update(ds_arena *a, const expr_update *u, const item_value *old,
                      item_value **out, char *err, size_t errlen);

/* Returns 1 if condition c names top-level attribute attr (len bytes)
 * anywhere (a Query filter may not name key attributes). */
int expr_cond_references(const expr_cond *c, const char *attr, size_t len);

/* Returns 1 if any action of u has a path starting at top-level attribute
 * attr (len bytes), else 0 (used to refuse updates of key attributes). */
int expr_update_touches(const expr_update *u, const char *attr, size_t len);

/* The part of item (may be NULL) that u's action paths name, as an M
 * allocated in a with the paths' structure kept: ReturnValues UPDATED_OLD
 * (pass the old item) and UPDATED_NEW (pass the new one). Returns DS_OK. */
int expr_updated_attrs(ds_arena *a, const expr_update *u, const item_value *item,
                       item_value **out);

/* ProjectionExpression: an M allocated in a keeping only the named paths of
 * item (may be NULL: empty M). Nested paths keep their structure; list
 * indexes select elements, kept in index order. Returns DS_OK. */
int expr_project(ds_arena *a, const expr_proj *p, const item_value *item, item_value **out);

/* The number of paths of a projection and the top-level attribute name of
 * path i (for callers that fetch only some attributes). */
size_t expr_proj_count(const expr_proj *p);
void expr_proj_top(const expr_proj *p, size_t i, const char **name, size_t *len);

/* ---- values ---------------------------------------------------------------------- */

/* DynamoDB equality: same type and value; numbers compare exactly by value
 * ("1.0" = "1"), sets as unordered sets, L element-wise, M by keys. */
int expr_value_equal(const item_value *a, const item_value *b);

/* Ordering for two N, two S (UTF-8 bytes) or two B (unsigned bytes): sets
 * *cmp to -1, 0 or 1 and returns DS_OK; DS_EINVAL for any other pair. */
int expr_value_cmp(const item_value *a, const item_value *b, int *cmp);

/* DynamoDB's name of a type: "S", "N", "B", "BOOL", "NULL", "M", "L", "SS",
 * "NS", "BS" (static; "?" for an unknown type). */
const char *expr_type_name(item_type t);

#endif
