/* test_ddb_legacy.c -- legacy conditional parameters rewritten as
 * expressions: the text of every operator and form, the placeholder maps,
 * and DynamoDB's validation messages. */
#include "api/ddb_legacy.h"

#include "api/ddb_item.h"
#include "t.h"

static ds_arena *A;
static char ERR[1024];
static ddb_expr_out OUT;

static json_value *J(const char *s) {
    json_value *v = NULL;
    char e[256];
    if (!s) return NULL;
    if (json_parse(A, s, strlen(s), 200, &v, e, sizeof e)) T_FAIL("bad test JSON %s: %s", s, e);
    return v;
}

#define SETUP() A = ds_arena_new(1 << 16)

/* Each runs one conversion and returns its status; OUT and ERR hold the rest. */
static int expected(const char *exp, const char *condop) {
    ERR[0] = 0;
    return ddb_legacy_expected(A, J(exp), J(condop), &OUT, ERR, sizeof ERR);
}
static int filter(const char *f, const char *condop) {
    ERR[0] = 0;
    return ddb_legacy_filter(A, J(f), "ScanFilter", J(condop), &OUT, ERR, sizeof ERR);
}
static int keyconds(const char *kc) {
    ERR[0] = 0;
    return ddb_legacy_key_conditions(A, J(kc), &OUT, ERR, sizeof ERR);
}
static int updates(const char *au) {
    ERR[0] = 0;
    return ddb_legacy_attribute_updates(A, J(au), &OUT, ERR, sizeof ERR);
}
static int atg(const char *list) {
    ERR[0] = 0;
    return ddb_legacy_attributes_to_get(A, J(list), &OUT, ERR, sizeof ERR);
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_) T_FAIL("%s: rc %d: %s", #call, rc_, ERR);                                         \
    } while (0)

/* Fails unless the call fails with DS_EINVAL and exactly msg. */
#define FAILS(call, msg)                                                                           \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != DS_EINVAL) T_FAIL("%s: rc %d, expected DS_EINVAL (%s)", #call, rc_, ERR);       \
        CHECK_EQ_STR(ERR, msg);                                                                    \
    } while (0)

/* Checks OUT's i-th name placeholder and attribute. */
static void name_is(size_t i, const char *ph, const char *attr) {
    if (i >= OUT.nnames) T_FAIL("no name %zu (have %zu)", i, OUT.nnames);
    CHECK_EQ_STR(OUT.names[i].placeholder, ph);
    CHECK_EQ_INT(OUT.names[i].placeholder_len, strlen(ph));
    if (OUT.names[i].attr_len != strlen(attr) || memcmp(OUT.names[i].attr, attr, strlen(attr)))
        T_FAIL("name %zu is %.*s, expected %s", i, (int)OUT.names[i].attr_len, OUT.names[i].attr,
               attr);
}

/* Checks OUT's i-th value placeholder and the value's DynamoDB JSON. */
static void value_is(size_t i, const char *ph, const char *json) {
    if (i >= OUT.nvalues) T_FAIL("no value %zu (have %zu)", i, OUT.nvalues);
    CHECK_EQ_STR(OUT.values[i].placeholder, ph);
    CHECK_EQ_INT(OUT.values[i].placeholder_len, strlen(ph));
    ds_buf b = DS_BUF_INIT;
    ddb_value_to_json(&b, OUT.values[i].value);
    CHECK_EQ_STR(b.data, json);
    ds_buf_free(&b);
}

/* ---- operators -------------------------------------------------------------------------- */

/* One ScanFilter condition on attribute "a.b" (a literal name with a dot). */
static void one_filter(const char *op, const char *avl, const char *text) {
    char f[512];
    if (avl)
        snprintf(f, sizeof f, "{\"a.b\":{\"ComparisonOperator\":\"%s\",\"AttributeValueList\":%s}}",
                 op, avl);
    else
        snprintf(f, sizeof f, "{\"a.b\":{\"ComparisonOperator\":\"%s\"}}", op);
    OK(filter(f, NULL));
    CHECK_EQ_STR(OUT.text, text);
    CHECK_EQ_INT(OUT.text_len, strlen(text));
    CHECK_EQ_INT(OUT.nnames, 1);
    name_is(0, "#__f0", "a.b");
}

TEST(every_operator) {
    SETUP();
    one_filter("EQ", "[{\"S\":\"x\"}]", "#__f0 = :__f0");
    value_is(0, ":__f0", "{\"S\":\"x\"}");
    one_filter("NE", "[{\"N\":\"1.0\"}]", "#__f0 <> :__f0");
    value_is(0, ":__f0", "{\"N\":\"1\"}");
    one_filter("LE", "[{\"N\":\"1\"}]", "#__f0 <= :__f0");
    one_filter("LT", "[{\"S\":\"m\"}]", "#__f0 < :__f0");
    one_filter("GE", "[{\"B\":\"AA==\"}]", "#__f0 >= :__f0");
    value_is(0, ":__f0", "{\"B\":\"AA==\"}");
    one_filter("GT", "[{\"N\":\"-5\"}]", "#__f0 > :__f0");
    one_filter("NOT_NULL", NULL, "attribute_exists(#__f0)");
    CHECK_EQ_INT(OUT.nvalues, 0);
    one_filter("NULL", NULL, "attribute_not_exists(#__f0)");
    one_filter("NULL", "[]", "attribute_not_exists(#__f0)");
    one_filter("CONTAINS", "[{\"S\":\"sub\"}]", "contains(#__f0, :__f0)");
    one_filter("NOT_CONTAINS", "[{\"N\":\"3\"}]", "NOT contains(#__f0, :__f0)");
    one_filter("BEGINS_WITH", "[{\"S\":\"pre\"}]", "begins_with(#__f0, :__f0)");
    one_filter("IN", "[{\"S\":\"a\"},{\"S\":\"b\"},{\"S\":\"c\"}]",
               "#__f0 IN (:__f0, :__f1, :__f2)");
    CHECK_EQ_INT(OUT.nvalues, 3);
    value_is(2, ":__f2", "{\"S\":\"c\"}");
    one_filter("IN", "[{\"N\":\"1\"}]", "#__f0 IN (:__f0)");
    one_filter("BETWEEN", "[{\"N\":\"1\"},{\"N\":\"10\"}]", "#__f0 BETWEEN :__f0 AND :__f1");
    value_is(0, ":__f0", "{\"N\":\"1\"}");
    value_is(1, ":__f1", "{\"N\":\"10\"}");
    one_filter("BETWEEN", "[{\"S\":\"a\"},{\"S\":\"a\"}]", "#__f0 BETWEEN :__f0 AND :__f1");
    /* EQ and NE take any type, sets and documents included */
    one_filter("EQ", "[{\"SS\":[\"a\"]}]", "#__f0 = :__f0");
    one_filter("NE", "[{\"M\":{\"k\":{\"BOOL\":true}}}]", "#__f0 <> :__f0");
    one_filter("EQ", "[{\"NULL\":true}]", "#__f0 = :__f0");
    one_filter("CONTAINS", "[{\"BOOL\":true}]", "contains(#__f0, :__f0)");
    one_filter("BEGINS_WITH", "[{\"B\":\"YQ==\"}]", "begins_with(#__f0, :__f0)");
}

TEST(operator_arity) {
    SETUP();
    static const char *one[] = {"EQ", "NE",       "LE",           "LT",         "GE",
                                "GT", "CONTAINS", "NOT_CONTAINS", "BEGINS_WITH"};
    char f[256], msg[256];
    for (size_t i = 0; i < DS_ARRAY_LEN(one); i++) {
        snprintf(msg, sizeof msg,
                 "One or more parameter values were invalid: Invalid number of argument(s) for "
                 "the %s ComparisonOperator",
                 one[i]);
        snprintf(f, sizeof f, "{\"a\":{\"ComparisonOperator\":\"%s\"}}", one[i]);
        FAILS(filter(f, NULL), msg);
        snprintf(f, sizeof f, "{\"a\":{\"ComparisonOperator\":\"%s\",\"AttributeValueList\":[]}}",
                 one[i]);
        FAILS(filter(f, NULL), msg);
        snprintf(f, sizeof f,
                 "{\"a\":{\"ComparisonOperator\":\"%s\",\"AttributeValueList\":[{\"S\":\"a\"},"
                 "{\"S\":\"a\"}]}}",
                 one[i]);
        FAILS(filter(f, NULL), msg);
    }
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"NULL\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
                 NULL),
          "One or more parameter values were invalid: Invalid number of argument(s) for the NULL "
          "ComparisonOperator");
    FAILS(
        filter(
            "{\"a\":{\"ComparisonOperator\":\"NOT_NULL\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
            NULL),
        "One or more parameter values were invalid: Invalid number of argument(s) for the "
        "NOT_NULL ComparisonOperator");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"IN\"}}", NULL),
          "One or more parameter values were invalid: Invalid number of argument(s) for the IN "
          "ComparisonOperator");
    FAILS(filter(
              "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
              NULL),
          "One or more parameter values were invalid: Invalid number of argument(s) for the "
          "BETWEEN ComparisonOperator");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"a\"},"
                 "{\"S\":\"a\"},{\"S\":\"a\"}]}}",
                 NULL),
          "One or more parameter values were invalid: Invalid number of argument(s) for the "
          "BETWEEN ComparisonOperator");
}

TEST(operator_types) {
    SETUP();
    static const char *ordered[] = {"LT", "LE", "GT", "GE", "IN"};
    static const char *bad[][2] = {
        {"{\"BOOL\":true}", "BOOL"}, {"{\"NULL\":true}", "NULL"},   {"{\"SS\":[\"a\"]}", "SS"},
        {"{\"NS\":[\"1\"]}", "NS"},  {"{\"BS\":[\"abcd\"]}", "BS"}, {"{\"M\":{}}", "M"},
        {"{\"L\":[]}", "L"}};
    char f[256], msg[256];
    for (size_t i = 0; i < DS_ARRAY_LEN(ordered); i++) {
        for (size_t k = 0; k < DS_ARRAY_LEN(bad); k++) {
            snprintf(f, sizeof f,
                     "{\"a\":{\"ComparisonOperator\":\"%s\",\"AttributeValueList\":[%s]}}",
                     ordered[i], bad[k][0]);
            snprintf(msg, sizeof msg,
                     "One or more parameter values were invalid: ComparisonOperator %s is not "
                     "valid for %s AttributeValue type",
                     ordered[i], bad[k][1]);
            FAILS(filter(f, NULL), msg);
        }
    }
    /* CONTAINS: not sets or documents */
    for (size_t k = 2; k < DS_ARRAY_LEN(bad); k++) {
        snprintf(f, sizeof f,
                 "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[%s]}}",
                 bad[k][0]);
        snprintf(msg, sizeof msg,
                 "One or more parameter values were invalid: ComparisonOperator NOT_CONTAINS is "
                 "not valid for %s AttributeValue type",
                 bad[k][1]);
        FAILS(filter(f, NULL), msg);
    }
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{\"N\":"
                 "\"1\"}]}}",
                 NULL),
          "One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid "
          "for N AttributeValue type");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"M\":{}},"
                 "{\"M\":{}}]}}",
                 NULL),
          "One or more parameter values were invalid: ComparisonOperator BETWEEN is not valid for "
          "M AttributeValue type");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"b\"},"
                 "{\"N\":\"1\"}]}}",
                 NULL),
          "One or more parameter values were invalid: AttributeValues inside AttributeValueList "
          "must be of same type");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"b\"},"
                 "{\"S\":\"a\"}]}}",
                 NULL),
          "The BETWEEN condition was provided a range where the lower bound is greater than the "
          "upper bound");
    /* numbers order numerically, binary as unsigned bytes */
    FAILS(
        filter("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"10\"},"
               "{\"N\":\"9\"}]}}",
               NULL),
        "The BETWEEN condition was provided a range where the lower bound is greater than the "
        "upper bound");
    OK(filter("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"9\"},"
              "{\"N\":\"10\"}]}}",
              NULL));
    OK(filter("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"B\":\"fw==\"},"
              "{\"B\":\"gA==\"}]}}",
              NULL));
}

TEST(filter_values_are_validated_first) {
    SETUP();
    /* AttributeValue errors win over the arity error (two values for EQ) */
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{},{\"S\":\"\"}]}}",
                 NULL),
          "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"1\"},"
                 "{\"S\":\"a\",\"N\":\"1\"}]}}",
                 NULL),
          "Supplied AttributeValue has more than one datatypes set, must contain exactly one of "
          "the supported datatypes");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"1\"},"
                 "{\"SS\":[]},{}]}}",
                 NULL),
          "One or more parameter values were invalid: An string set  may not be empty");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"1\"},"
                 "{\"N\":\"1e126\"}]}}",
                 NULL),
          "Number overflow. Attempting to store a number with magnitude larger than supported "
          "range");
    /* the stored value is the converted one (canonical number) */
    OK(filter("{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"01.50\"}]}}",
              NULL));
    value_is(0, ":__f0", "{\"N\":\"1.5\"}");
}

TEST(filter_operator_names) {
    SETUP();
    FAILS(filter("{\"a\":{}}", NULL),
          "1 validation error detected: Value null at 'scanFilter.a.member.comparisonOperator' "
          "failed to satisfy constraint: Member must not be null");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"\"}}", NULL),
          "1 validation error detected: Value '' at 'scanFilter.a.member.comparisonOperator' "
          "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, "
          "LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]");
    FAILS(filter("{\"a\":{\"ComparisonOperator\":\"eq\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
                 NULL),
          "1 validation error detected: Value 'eq' at 'scanFilter.a.member.comparisonOperator' "
          "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, "
          "LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]");
    ERR[0] = 0;
    CHECK_EQ_INT(ddb_legacy_filter(A, J("{\"a\":{}}"), "QueryFilter", NULL, &OUT, ERR, sizeof ERR),
                 DS_EINVAL);
    CHECK_EQ_STR(ERR, "1 validation error detected: Value null at "
                      "'queryFilter.a.member.comparisonOperator' failed to satisfy constraint: "
                      "Member must not be null");
    /* JSON type errors */
    CHECK_EQ_INT(filter("{\"a\":{\"ComparisonOperator\":1}}", NULL), DS_EPARSE);
    CHECK_EQ_INT(filter("{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":{}}}", NULL),
                 DS_EPARSE);
    CHECK_EQ_INT(filter("{\"a\":[]}", NULL), DS_EPARSE);
    CHECK_EQ_INT(filter("[]", NULL), DS_EPARSE);
    FAILS(filter("{\"\":{\"ComparisonOperator\":\"NULL\"}}", NULL),
          "One or more parameter values were invalid: Empty attribute name");
}

TEST(filter_combination) {
    SETUP();
    const char *f =
        "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"x\"}]},"
        "\"b\":{\"ComparisonOperator\":\"NULL\"},"
        "\"c\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"1\"},"
        "{\"N\":\"2\"}]}}";
    OK(filter(f, NULL));
    CHECK_EQ_STR(OUT.text, "(#__f0 = :__f0) AND (attribute_not_exists(#__f1)) AND "
                           "(#__f2 BETWEEN :__f1 AND :__f2)");
    name_is(0, "#__f0", "a");
    name_is(1, "#__f1", "b");
    name_is(2, "#__f2", "c");
    CHECK_EQ_INT(OUT.nvalues, 3);
    value_is(0, ":__f0", "{\"S\":\"x\"}");
    value_is(1, ":__f1", "{\"N\":\"1\"}");
    value_is(2, ":__f2", "{\"N\":\"2\"}");
    OK(filter(f, "\"AND\""));
    CHECK_EQ_STR(OUT.text, "(#__f0 = :__f0) AND (attribute_not_exists(#__f1)) AND "
                           "(#__f2 BETWEEN :__f1 AND :__f2)");
    OK(filter(f, "\"OR\""));
    CHECK_EQ_STR(OUT.text, "(#__f0 = :__f0) OR (attribute_not_exists(#__f1)) OR "
                           "(#__f2 BETWEEN :__f1 AND :__f2)");
    OK(filter(f, "null"));
    /* empty or absent filter: no expression */
    OK(filter("{}", NULL));
    CHECK_EQ_STR(OUT.text, "");
    CHECK_EQ_INT(OUT.text_len, 0);
    CHECK_EQ_INT(OUT.nnames, 0);
    OK(filter(NULL, NULL));
    CHECK_EQ_STR(OUT.text, "");
}

TEST(conditional_operator_rules) {
    SETUP();
    const char *one = "{\"a\":{\"ComparisonOperator\":\"NULL\"}}";
    FAILS(filter(NULL, "\"AND\""), "ConditionalOperator cannot be used without Filter or Expected");
    FAILS(filter("{}", "\"OR\""), "ConditionalOperator cannot be used without Filter or Expected");
    FAILS(filter(one, "\"AND\""),
          "ConditionalOperator can only be used when Filter or Expected has two or more elements");
    FAILS(expected(NULL, "\"AND\""),
          "ConditionalOperator cannot be used without Filter or Expected");
    FAILS(expected("{\"a\":{\"Exists\":false}}", "\"OR\""),
          "ConditionalOperator can only be used when Filter or Expected has two or more elements");
    FAILS(filter(one, "\"AN\""),
          "1 validation error detected: Value 'AN' at 'conditionalOperator' failed to satisfy "
          "constraint: Member must satisfy enum value set: [OR, AND]");
    CHECK_EQ_INT(filter(one, "1"), DS_EPARSE);
}

/* ---- Expected ------------------------------------------------------------------------------ */

TEST(expected_forms) {
    SETUP();
    OK(expected("{\"a\":{\"Value\":{\"S\":\"x\"}}}", NULL));
    CHECK_EQ_STR(OUT.text, "#__e0 = :__e0");
    name_is(0, "#__e0", "a");
    value_is(0, ":__e0", "{\"S\":\"x\"}");
    OK(expected("{\"a\":{\"Value\":{\"N\":\"2.50\"},\"Exists\":true}}", NULL));
    CHECK_EQ_STR(OUT.text, "#__e0 = :__e0");
    value_is(0, ":__e0", "{\"N\":\"2.5\"}");
    OK(expected("{\"a\":{\"Exists\":false}}", NULL));
    CHECK_EQ_STR(OUT.text, "attribute_not_exists(#__e0)");
    CHECK_EQ_INT(OUT.nvalues, 0);
    OK(expected("{\"a\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"N\":\"3\"}]}}",
                NULL));
    CHECK_EQ_STR(OUT.text, "#__e0 > :__e0");
    /* a Value may stand in for a one-element list */
    OK(expected("{\"a\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"Value\":{\"S\":\"p\"}}}", NULL));
    CHECK_EQ_STR(OUT.text, "begins_with(#__e0, :__e0)");
    value_is(0, ":__e0", "{\"S\":\"p\"}");
    OK(expected("{\"a\":{\"ComparisonOperator\":\"NOT_NULL\"}}", NULL));
    CHECK_EQ_STR(OUT.text, "attribute_exists(#__e0)");
    OK(expected("{\"x y\":{\"Exists\":false},\"#z\":{\"Value\":{\"BOOL\":true}}}", "\"OR\""));
    CHECK_EQ_STR(OUT.text, "(attribute_not_exists(#__e0)) OR (#__e1 = :__e0)");
    name_is(0, "#__e0", "x y");
    name_is(1, "#__e1", "#z");
    value_is(0, ":__e0", "{\"BOOL\":true}");
    OK(expected("{}", NULL));
    CHECK_EQ_STR(OUT.text, "");
    OK(expected(NULL, NULL));
    CHECK_EQ_STR(OUT.text, "");
    OK(expected("null", "null"));
}

TEST(expected_errors) {
    SETUP();
    FAILS(expected("{\"a\":{\"ComparisonOperator\":\"LT\"}}", NULL),
          "One or more parameter values were invalid: Value or AttributeValueList must be used "
          "with ComparisonOperator: LT for Attribute: a");
    FAILS(expected("{\"a\":{\"Exists\":true,\"ComparisonOperator\":\"LT\"}}", NULL),
          "One or more parameter values were invalid: Exists and ComparisonOperator cannot be used "
          "together for Attribute: a");
    FAILS(expected("{\"a\":{\"AttributeValueList\":[]}}", NULL),
          "One or more parameter values were invalid: AttributeValueList can only be used with a "
          "ComparisonOperator for Attribute: a");
    FAILS(expected("{\"a\":{\"Exists\":true,\"AttributeValueList\":[]}}", NULL),
          "One or more parameter values were invalid: AttributeValueList can only be used with a "
          "ComparisonOperator for Attribute: a");
    FAILS(expected("{\"a\":{\"Value\":{\"S\":\"a\"},\"AttributeValueList\":[]}}", NULL),
          "One or more parameter values were invalid: Value and AttributeValueList cannot be used "
          "together for Attribute: a");
    FAILS(expected("{\"a\":{\"Value\":{\"S\":\"a\"},\"ComparisonOperator\":\"BETWEEN\"}}", NULL),
          "One or more parameter values were invalid: Invalid number of argument(s) for the "
          "BETWEEN ComparisonOperator");
    FAILS(expected("{\"a\":{\"Value\":{\"S\":\"a\"},\"ComparisonOperator\":\"NULL\"}}", NULL),
          "One or more parameter values were invalid: Invalid number of argument(s) for the NULL "
          "ComparisonOperator");
    FAILS(expected("{\"a\":{}}", NULL),
          "One or more parameter values were invalid: Value must be provided when Exists is null "
          "for Attribute: a");
    FAILS(expected("{\"a\":{\"Exists\":true}}", NULL),
          "One or more parameter values were invalid: Value must be provided when Exists is true "
          "for Attribute: a");
    FAILS(expected("{\"a\":{\"Exists\":false,\"Value\":{\"S\":\"a\"}}}", NULL),
          "One or more parameter values were invalid: Value cannot be used when Exists is false "
          "for Attribute: a");
    FAILS(expected("{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"b\"},"
                   "{\"N\":\"1\"}]}}",
                   NULL),
          "One or more parameter values were invalid: AttributeValues inside AttributeValueList "
          "must be of same type");
    FAILS(
        expected("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"b\"},"
                 "{\"S\":\"a\"}]}}",
                 NULL),
        "The BETWEEN condition was provided a range where the lower bound is greater than the "
        "upper bound");
    FAILS(expected("{\"a\":{\"ComparisonOperator\":\"XX\",\"Value\":{\"S\":\"a\"}}}", NULL),
          "1 validation error detected: Value 'XX' at 'expected.a.member.comparisonOperator' "
          "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, "
          "LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]");
    FAILS(expected("{\"a\":{\"Value\":{\"NULL\":false}}}", NULL),
          "One or more parameter values were invalid: Null attribute value types must have the "
          "value of true");
    /* values are checked before the structure */
    FAILS(expected("{\"a\":{\"Value\":{},\"AttributeValueList\":[]}}", NULL),
          "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
    CHECK_EQ_INT(expected("{\"a\":{\"Exists\":\"yes\"}}", NULL), DS_EPARSE);
    CHECK_EQ_INT(expected("{\"a\":1}", NULL), DS_EPARSE);
    CHECK_EQ_INT(expected("[]", NULL), DS_EPARSE);
}

/* ---- KeyConditions ----------------------------------------------------------------------------
 */

TEST(key_conditions) {
    SETUP();
    OK(keyconds(
        "{\"pk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"u1\"}]}}"));
    CHECK_EQ_STR(OUT.text, "#__k0 = :__k0");
    name_is(0, "#__k0", "pk");
    value_is(0, ":__k0", "{\"S\":\"u1\"}");
    OK(keyconds("{\"pk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"u1\"}]},"
                "\"sk\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"1\"},"
                "{\"N\":\"5\"}]}}"));
    CHECK_EQ_STR(OUT.text, "#__k0 = :__k0 AND #__k1 BETWEEN :__k1 AND :__k2");
    name_is(1, "#__k1", "sk");
    value_is(2, ":__k2", "{\"N\":\"5\"}");
    static const char *ops[][2] = {
        {"LE", "#__k1 <= :__k1"}, {"LT", "#__k1 < :__k1"},
        {"GE", "#__k1 >= :__k1"}, {"GT", "#__k1 > :__k1"},
        {"EQ", "#__k1 = :__k1"},  {"BEGINS_WITH", "begins_with(#__k1, :__k1)"}};
    for (size_t i = 0; i < DS_ARRAY_LEN(ops); i++) {
        char kc[256], want[128];
        snprintf(kc, sizeof kc,
                 "{\"pk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"u\"}]},"
                 "\"sk\":{\"ComparisonOperator\":\"%s\",\"AttributeValueList\":[{\"S\":\"v\"}]}}",
                 ops[i][0]);
        snprintf(want, sizeof want, "#__k0 = :__k0 AND %s", ops[i][1]);
        OK(keyconds(kc));
        CHECK_EQ_STR(OUT.text, want);
    }
    /* a single range condition converts; the schema check is the caller's */
    OK(keyconds("{\"sk\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"N\":\"1\"}]}}"));
    CHECK_EQ_STR(OUT.text, "#__k0 > :__k0");
}

TEST(key_condition_errors) {
    SETUP();
    FAILS(keyconds("{}"), "Conditions can be of length 1 or 2 only");
    FAILS(keyconds(NULL), "Conditions can be of length 1 or 2 only");
    FAILS(
        keyconds("{\"a\":{\"ComparisonOperator\":\"NULL\"},\"b\":{\"ComparisonOperator\":\"NULL\"},"
                 "\"c\":{\"ComparisonOperator\":\"NULL\"}}"),
        "Conditions can be of length 1 or 2 only");
    static const char *nonindexable[] = {
        "{\"a\":{\"ComparisonOperator\":\"NULL\"}}",
        "{\"a\":{\"ComparisonOperator\":\"NOT_NULL\"}}",
        "{\"a\":{\"ComparisonOperator\":\"NE\",\"AttributeValueList\":[{\"N\":\"1\"}]}}",
        "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
        "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
        "{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"a\"}]}}"};
    for (size_t i = 0; i < DS_ARRAY_LEN(nonindexable); i++)
        FAILS(keyconds(nonindexable[i]),
              "Attempted conditional constraint is not an indexable operation");
    /* arity, type and value errors come first */
    FAILS(keyconds("{\"a\":{\"ComparisonOperator\":\"EQ\"},\"b\":{\"ComparisonOperator\":\"NULL\"},"
                   "\"c\":{\"ComparisonOperator\":\"NULL\"}}"),
          "One or more parameter values were invalid: Invalid number of argument(s) for the EQ "
          "ComparisonOperator");
    FAILS(keyconds(
              "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"b\"}]},"
              "\"b\":{\"ComparisonOperator\":\"NULL\"},\"c\":{\"ComparisonOperator\":\"NULL\"}}"),
          "The parameter cannot be converted to a numeric value: b");
    FAILS(keyconds(
              "{\"a\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"BOOL\":true}]}}"),
          "One or more parameter values were invalid: ComparisonOperator GT is not valid for BOOL "
          "AttributeValue type");
    FAILS(
        keyconds("{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"b\"},"
                 "{\"S\":\"a\"}]}}"),
        "The BETWEEN condition was provided a range where the lower bound is greater than the "
        "upper bound");
    FAILS(keyconds("{\"a\":{}}"),
          "1 validation error detected: Value null at 'keyConditions.a.member.comparisonOperator' "
          "failed to satisfy constraint: Member must not be null");
    CHECK_EQ_INT(keyconds("[]"), DS_EPARSE);
}

/* ---- AttributeUpdates
 * ---------------------------------------------------------------------------- */

TEST(attribute_updates) {
    SETUP();
    OK(updates("{\"a\":{\"Action\":\"PUT\",\"Value\":{\"S\":\"x\"}}}"));
    CHECK_EQ_STR(OUT.text, "SET #__u0 = :__u0");
    name_is(0, "#__u0", "a");
    value_is(0, ":__u0", "{\"S\":\"x\"}");
    OK(updates("{\"a\":{\"Value\":{\"M\":{\"k\":{\"N\":\"1\"}}}}}")); /* PUT is the default */
    CHECK_EQ_STR(OUT.text, "SET #__u0 = :__u0");
    OK(updates("{\"a\":{\"Action\":\"DELETE\"}}"));
    CHECK_EQ_STR(OUT.text, "REMOVE #__u0");
    CHECK_EQ_INT(OUT.nvalues, 0);
    OK(updates("{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"SS\":[\"x\",\"y\"]}}}"));
    CHECK_EQ_STR(OUT.text, "DELETE #__u0 :__u0");
    value_is(0, ":__u0", "{\"SS\":[\"x\",\"y\"]}");
    OK(updates("{\"n\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"-3\"}}}"));
    CHECK_EQ_STR(OUT.text, "ADD #__u0 :__u0");
    OK(updates("{\"s\":{\"Action\":\"ADD\",\"Value\":{\"NS\":[\"1\",\"2\"]}}}"));
    CHECK_EQ_STR(OUT.text, "ADD #__u0 :__u0");
    OK(updates("{\"l\":{\"Action\":\"ADD\",\"Value\":{\"L\":[{\"S\":\"z\"}]}}}"));
    CHECK_EQ_STR(OUT.text, "SET #__u0 = list_append(if_not_exists(#__u0, :__u0), :__u1)");
    value_is(0, ":__u0", "{\"L\":[]}");
    value_is(1, ":__u1", "{\"L\":[{\"S\":\"z\"}]}");
    /* clauses are grouped SET, REMOVE, ADD, DELETE; names keep document order */
    OK(updates("{\"d\":{\"Action\":\"DELETE\",\"Value\":{\"BS\":[\"AA==\"]}},"
               "\"r\":{\"Action\":\"DELETE\"},"
               "\"n\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"1\"}},"
               "\"p\":{\"Action\":\"PUT\",\"Value\":{\"BOOL\":false}},"
               "\"q\":{\"Value\":{\"NULL\":true}},"
               "\"r2\":{\"Action\":\"DELETE\",\"Value\":null}}"));
    CHECK_EQ_STR(OUT.text, "SET #__u3 = :__u0, #__u4 = :__u1 REMOVE #__u1, #__u5 ADD #__u2 :__u2 "
                           "DELETE #__u0 :__u3");
    name_is(0, "#__u0", "d");
    name_is(1, "#__u1", "r");
    name_is(2, "#__u2", "n");
    name_is(3, "#__u3", "p");
    name_is(4, "#__u4", "q");
    name_is(5, "#__u5", "r2");
    value_is(0, ":__u0", "{\"BOOL\":false}");
    value_is(1, ":__u1", "{\"NULL\":true}");
    value_is(2, ":__u2", "{\"N\":\"1\"}");
    value_is(3, ":__u3", "{\"BS\":[\"AA==\"]}");
    OK(updates("{}"));
    CHECK_EQ_STR(OUT.text, "");
    OK(updates(NULL));
    CHECK_EQ_STR(OUT.text, "");
}

TEST(attribute_update_errors) {
    SETUP();
    FAILS(updates("{\"a\":{\"x\":\"whatever\"}}"),
          "One or more parameter values were invalid: Only DELETE action is allowed when no "
          "attribute value is specified");
    FAILS(updates("{\"a\":{\"Action\":\"ADD\"}}"),
          "One or more parameter values were invalid: Only DELETE action is allowed when no "
          "attribute value is specified");
    static const char *del[][2] = {{"{\"S\":\"1\"}", "S"},      {"{\"N\":\"1\"}", "N"},
                                   {"{\"B\":\"Yg==\"}", "B"},   {"{\"NULL\":true}", "NULL"},
                                   {"{\"BOOL\":true}", "BOOL"}, {"{\"M\":{}}", "M"},
                                   {"{\"L\":[]}", "L"}};
    char u[256], msg[256];
    for (size_t i = 0; i < DS_ARRAY_LEN(del); i++) {
        snprintf(u, sizeof u, "{\"a\":{\"Action\":\"DELETE\",\"Value\":%s}}", del[i][0]);
        snprintf(msg, sizeof msg,
                 "One or more parameter values were invalid: DELETE action with value is not "
                 "supported for the type %s",
                 del[i][1]);
        FAILS(updates(u), msg);
    }
    static const char *add[][2] = {{"{\"S\":\"1\"}", "S"},
                                   {"{\"B\":\"Yg==\"}", "B"},
                                   {"{\"NULL\":true}", "NULL"},
                                   {"{\"BOOL\":true}", "BOOL"},
                                   {"{\"M\":{}}", "M"}};
    for (size_t i = 0; i < DS_ARRAY_LEN(add); i++) {
        snprintf(u, sizeof u, "{\"a\":{\"Action\":\"ADD\",\"Value\":%s}}", add[i][0]);
        snprintf(msg, sizeof msg,
                 "One or more parameter values were invalid: ADD action is not supported for the "
                 "type %s",
                 add[i][1]);
        FAILS(updates(u), msg);
    }
    FAILS(updates("{\"a\":{\"Action\":\"REPLACE\",\"Value\":{\"S\":\"x\"}}}"),
          "1 validation error detected: Value 'REPLACE' at 'attributeUpdates.a.member.action' "
          "failed to satisfy constraint: Member must satisfy enum value set: [ADD, DELETE, PUT]");
    FAILS(updates("{\"a\":{\"Action\":\"PUT\",\"Value\":{\"NS\":[]}}}"),
          "One or more parameter values were invalid: An number set  may not be empty");
    FAILS(updates("{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"SS\":[]}}}"),
          "One or more parameter values were invalid: An string set  may not be empty");
    FAILS(updates("{\"\":{\"Action\":\"DELETE\"}}"),
          "One or more parameter values were invalid: Empty attribute name");
    CHECK_EQ_INT(updates("{\"a\":{\"Action\":1}}"), DS_EPARSE);
    CHECK_EQ_INT(updates("{\"a\":\"PUT\"}"), DS_EPARSE);
    CHECK_EQ_INT(updates("{\"a\":{\"Value\":{\"S\":5}}}"), DS_EPARSE);
}

/* ---- AttributesToGet
 * ------------------------------------------------------------------------------- */

TEST(attributes_to_get) {
    SETUP();
    OK(atg("[\"a\",\"b.c\",\"d[0]\"]"));
    CHECK_EQ_STR(OUT.text, "#__p0, #__p1, #__p2");
    CHECK_EQ_INT(OUT.nnames, 3);
    name_is(0, "#__p0", "a");
    name_is(1, "#__p1", "b.c");
    name_is(2, "#__p2", "d[0]");
    CHECK_EQ_INT(OUT.nvalues, 0);
    FAILS(atg("[]"), "1 validation error detected: Value '[]' at 'attributesToGet' failed to "
                     "satisfy constraint: Member must have length greater than or equal to 1");
    FAILS(atg("[\"a\",\"a\"]"),
          "One or more parameter values were invalid: Duplicate value in attribute name: a");
    /* the first repeat in request order is named */
    FAILS(atg("[\"z\",\"b\",\"y\",\"b\",\"z\"]"),
          "One or more parameter values were invalid: Duplicate value in attribute name: b");
    FAILS(atg("[\"a\",\"\"]"), "One or more parameter values were invalid: Empty attribute name");
    CHECK_EQ_INT(atg("[\"a\",1]"), DS_EPARSE);
    CHECK_EQ_INT(atg("{}"), DS_EPARSE);
}

TEST(many_placeholders) {
    SETUP();
    ds_buf b = DS_BUF_INIT;
    ds_buf_putc(&b, '[');
    for (int i = 0; i < 1000; i++)
        ds_buf_printf(&b, "%s\"attr%d\"", i ? "," : "", i);
    ds_buf_putc(&b, ']');
    OK(atg(b.data));
    CHECK_EQ_INT(OUT.nnames, 1000);
    name_is(999, "#__p999", "attr999");
    CHECK(strstr(OUT.text, ", #__p999") != NULL);
    ds_buf_free(&b);
}

TEST_MAIN()
