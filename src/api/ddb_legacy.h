/* ddb_legacy.h -- DynamoDB's legacy conditional parameters rewritten as
 * expression-language text, so one parser and one evaluator serve both.
 *
 *   LEGACY PARAMETER              BECOMES                  FUNCTION
 *   Expected (+ConditionalOp.)    ConditionExpression      ddb_legacy_expected
 *   QueryFilter / ScanFilter      FilterExpression         ddb_legacy_filter
 *   KeyConditions                 KeyConditionExpression   ddb_legacy_key_conditions
 *   AttributeUpdates              UpdateExpression         ddb_legacy_attribute_updates
 *   AttributesToGet               ProjectionExpression     ddb_legacy_attributes_to_get
 *
 * Every attribute a legacy parameter names is a literal top-level attribute
 * name (it may contain '.', '[' or a reserved word), so the text never spells
 * one out: each becomes a generated name placeholder, and each value a
 * generated value placeholder. The caller adds the pairs to its expr_env
 * (expr_env_add_name / expr_env_add_value) and parses out->text.
 *
 * Placeholders are "#__" / ":__" + a letter naming the source + a counter:
 *
 *   e  Expected         f  QueryFilter/ScanFilter     k  KeyConditions
 *   u  AttributeUpdates p  AttributesToGet
 *
 * e.g. "#__e0", ":__e1". The letters keep two legacy parameters of one
 * request (Expected with AttributeUpdates) apart even in a shared env.
 * Client placeholders cannot clash with them in practice: DynamoDB forbids
 * mixing legacy and expression parameters in one request, except
 * KeyConditions with FilterExpression/ProjectionExpression -- a client
 * writing "#__k0" there would collide, so give KeyConditions its own env
 * (or let expr_env_add_name's duplicate check reject the request).
 *
 * Operator mapping (a = the attribute placeholder, v0.. the values):
 *   EQ a = v0   NE a <> v0   LE a <= v0   LT a < v0   GE a >= v0   GT a > v0
 *   NOT_NULL attribute_exists(a)          NULL attribute_not_exists(a)
 *   CONTAINS contains(a, v0)              NOT_CONTAINS NOT contains(a, v0)
 *   BEGINS_WITH begins_with(a, v0)        IN a IN (v0, v1, ...)
 *   BETWEEN a BETWEEN v0 AND v1
 *   Expected {Value} / {Value, Exists:true}  a = v0;  {Exists:false}  attribute_not_exists(a)
 * Several conditions are each parenthesised and joined with AND (or OR when
 * ConditionalOperator is OR); one condition is written bare.
 *
 * AttributeUpdates: PUT -> SET a = v; DELETE without Value -> REMOVE a;
 * DELETE with a set -> DELETE a v; ADD with a number or set -> ADD a v;
 * ADD with a list (accepted by DynamoDB, undocumented) -> SET a =
 * list_append(if_not_exists(a, <empty list>), v). Clauses appear in the
 * order SET, REMOVE, ADD, DELETE.
 *
 * Errors: DS_EINVAL with DynamoDB's ValidationException message, or
 * DS_EPARSE (a JSON value of the wrong type: SerializationException), in err
 * (NUL-terminated, truncated to errlen). On error *out is unspecified.
 *
 * Lifetimes: everything in a ddb_expr_out (text, arrays, placeholders, the
 * values) lives in the arena a, and may point into the json_value tree's
 * strings; keep both alive while the output is used. Nothing to free.
 */
#ifndef DS_API_DDB_LEGACY_H
#define DS_API_DDB_LEGACY_H

#include "common/ds.h"
#include "common/json.h"
#include "engine/item.h"

/* One generated attribute-name placeholder and the attribute it stands for. */
typedef struct ddb_expr_name {
    const char *placeholder; /* "#__e0", NUL-terminated */
    size_t placeholder_len;
    const char *attr; /* the literal attribute name (any bytes) */
    size_t attr_len;
} ddb_expr_name;

/* One generated value placeholder and its value. */
typedef struct ddb_expr_value {
    const char *placeholder; /* ":__e0", NUL-terminated */
    size_t placeholder_len;
    item_value *value;
} ddb_expr_value;

/* The result of a conversion; all fields are the callee's to fill. */
typedef struct ddb_expr_out {
    const char *text; /* NUL-terminated expression; "" (len 0) when there is none */
    size_t text_len;
    ddb_expr_name *names; /* in order of first use */
    size_t nnames;
    ddb_expr_value *values;
    size_t nvalues;
} ddb_expr_out;

/* Expected (may be NULL or JSON null when absent) with ConditionalOperator
 * (likewise) -> condition text. {"a": {"Value": AV, "Exists": bool}} or
 * {"a": {"ComparisonOperator": "..", "AttributeValueList": [AV..]}} (a single
 * "Value" may stand in for a one-element AttributeValueList). An absent or
 * empty Expected without ConditionalOperator gives empty text. */
int ddb_legacy_expected(ds_arena *a, const json_value *expected,
                        const json_value *conditional_operator, ddb_expr_out *out, char *err,
                        size_t errlen);

/* QueryFilter or ScanFilter ({"a": {"ComparisonOperator": .., "AttributeValueList":
 * [..]}}; may be NULL when absent) -> filter text. param names the parameter
 * ("QueryFilter" or "ScanFilter") for DynamoDB's constraint messages. */
int ddb_legacy_filter(ds_arena *a, const json_value *filter, const char *param,
                      const json_value *conditional_operator, ddb_expr_out *out, char *err,
                      size_t errlen);

/* KeyConditions -> key condition text, conditions joined with AND in
 * document order. Checks what needs no schema: one or two conditions, the
 * operator's arity and operand types, and that the operator is indexable
 * (EQ LE LT GE GT BEGINS_WITH BETWEEN). Which attribute is the hash key
 * (EQ only) and whether the names match the schema are the caller's checks:
 * names[i].attr tells which attribute each condition constrains. */
int ddb_legacy_key_conditions(ds_arena *a, const json_value *kc, ddb_expr_out *out, char *err,
                              size_t errlen);

/* AttributeUpdates -> update expression text (see the table above). An
 * empty map gives empty text. Key attributes are not checked here. */
int ddb_legacy_attribute_updates(ds_arena *a, const json_value *au, ddb_expr_out *out, char *err,
                                 size_t errlen);

/* AttributesToGet (a non-empty array of distinct names) -> projection text
 * "#__p0, #__p1, ...". */
int ddb_legacy_attributes_to_get(ds_arena *a, const json_value *atg, ddb_expr_out *out, char *err,
                                 size_t errlen);

#endif
