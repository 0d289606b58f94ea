/* test_ddb_item.c -- DynamoDB JSON <-> item trees: every type, canonical
 * numbers, base64, every validation message, nesting, sizes and capacity. */
#include "api/ddb_item.h"

#include "t.h"

static ds_arena *A;

static json_value *J(const char *s) {
    json_value *v = NULL;
    char e[256];
    if (json_parse(A, s, strlen(s), 400, &v, e, sizeof e)) T_FAIL("bad test JSON %s: %s", s, e);
    return v;
}

/* Converts one AttributeValue; fails the test on error. */
static item_value *V(const char *s) {
    item_value *v = NULL;
    char e[512];
    int rc = ddb_value_from_json(A, J(s), 1, &v, e, sizeof e);
    if (rc) T_FAIL("%s: rc %d: %s", s, rc, e);
    return v;
}

static char ERR[4096];

/* Converts one AttributeValue expecting failure; returns the code. */
static int V_err(const char *s) {
    item_value *v = NULL;
    ERR[0] = 0;
    int rc = ddb_value_from_json(A, J(s), 1, &v, ERR, sizeof ERR);
    if (rc == DS_OK) T_FAIL("%s converted", s);
    return rc;
}

static int I_err(const char *s) {
    item_value *v = NULL;
    ERR[0] = 0;
    int rc = ddb_item_from_json(A, J(s), &v, ERR, sizeof ERR);
    if (rc == DS_OK) T_FAIL("%s converted", s);
    return rc;
}

static item_value *I(const char *s) {
    item_value *v = NULL;
    char e[512];
    int rc = ddb_item_from_json(A, J(s), &v, e, sizeof e);
    if (rc) T_FAIL("%s: rc %d: %s", s, rc, e);
    return v;
}

/* Writes v back as DynamoDB JSON into a static buffer. */
static const char *W(const item_value *v) {
    static ds_buf b;
    ds_buf_reset(&b);
    ddb_value_to_json(&b, v);
    return b.data;
}

static const char *WI(const item_value *v) {
    static ds_buf b;
    ds_buf_reset(&b);
    ddb_item_to_json(&b, v);
    return b.data;
}

static int slice_is(const char *p, size_t n, const char *lit) {
    return n == strlen(lit) && !memcmp(p, lit, n);
}

#define SETUP() A = ds_arena_new(1 << 16)

TEST(string_and_roundtrip) {
    SETUP();
    item_value *v = V("{\"S\":\"h\\u00e9llo\"}");
    CHECK_EQ_INT(v->type, ITEM_S);
    CHECK(slice_is(v->u.s.p, v->u.s.len, "h\xc3\xa9llo"));
    CHECK_EQ_STR(W(v), "{\"S\":\"h\xc3\xa9llo\"}");
    v = V("{\"S\":\"\"}"); /* empty strings are legal outside keys since 2020 */
    CHECK_EQ_INT(v->u.s.len, 0);
    CHECK_EQ_STR(W(v), "{\"S\":\"\"}");
    v = V("{\"S\":\"a\\\"b\\n\"}");
    CHECK_EQ_STR(W(v), "{\"S\":\"a\\\"b\\n\"}");
}

TEST(numbers_are_canonical) {
    SETUP();
    static const char *cases[][2] = {
        {"1.50", "1.5"},
        {"-0", "0"},
        {"0.000", "0"},
        {"+5", "5"},
        {"1e3", "1000"},
        {"1E-2", "0.01"},
        {".5", "0.5"},
        {"5.", "5"},
        {"007", "7"},
        {"-12.3400", "-12.34"},
        {"100", "100"},
        {"0e999999", "0"},
        {"1e-130", "0."
                   "0000000000000000000000000000000000000000000000000000000000000000000000000"
                   "000000000000000000000000000000000000000000000000000000001"},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        char in[64];
        snprintf(in, sizeof in, "{\"N\":\"%s\"}", cases[i][0]);
        item_value *v = V(in);
        CHECK_EQ_INT(v->type, ITEM_N);
        if (!slice_is(v->u.s.p, v->u.s.len, cases[i][1]))
            T_FAIL("%s -> %.*s, expected %s", cases[i][0], (int)v->u.s.len, v->u.s.p, cases[i][1]);
    }
    CHECK_EQ_STR(W(V("{\"N\":\"1.50\"}")), "{\"N\":\"1.5\"}");
    /* the extremes of the range and of precision are accepted */
    V("{\"N\":\"9.9999999999999999999999999999999999999E+125\"}");
    V("{\"N\":\"-9.9999999999999999999999999999999999999E+125\"}");
    V("{\"N\":\"12345678901234567890123456789012345678\"}");
    V("{\"N\":\"12345678901234567890123456789012345678000000\"}"); /* trailing zeros */
}

TEST(number_errors) {
    SETUP();
    CHECK_EQ_INT(V_err("{\"N\":\"\"}"), DS_EINVAL);
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value");
    V_err("{\"N\":\"b\"}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value: b");
    V_err("{\"N\":\"1 \"}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value: 1 ");
    V_err("{\"N\":\"0x10\"}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value: 0x10");
    V_err("{\"N\":\"Infinity\"}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value: Infinity");
    V_err("{\"N\":\"123456789012345678901234567890123456789\"}");
    CHECK_EQ_STR(ERR, "Attempting to store more than 38 significant digits in a Number");
    V_err("{\"N\":\"-1.23456789012345678901234567890123456789\"}");
    CHECK_EQ_STR(ERR, "Attempting to store more than 38 significant digits in a Number");
    static const char *over[] = {"1e126", "-1e126", "1e999999999999"};
    for (size_t i = 0; i < DS_ARRAY_LEN(over); i++) {
        char in[64];
        snprintf(in, sizeof in, "{\"N\":\"%s\"}", over[i]);
        V_err(in);
        CHECK_EQ_STR(ERR, "Number overflow. Attempting to store a number with magnitude larger "
                          "than supported range");
    }
    static const char *under[] = {"1e-131", "-1e-131", "0.1e-130"};
    for (size_t i = 0; i < DS_ARRAY_LEN(under); i++) {
        char in[64];
        snprintf(in, sizeof in, "{\"N\":\"%s\"}", under[i]);
        V_err(in);
        CHECK_EQ_STR(ERR, "Number underflow. Attempting to store a number with magnitude "
                          "smaller than supported range");
    }
}

TEST(binary_is_base64) {
    SETUP();
    item_value *v = V("{\"B\":\"AAH/\"}");
    CHECK_EQ_INT(v->type, ITEM_B);
    CHECK_EQ_INT(v->u.s.len, 3);
    CHECK_EQ_MEM(v->u.s.p, "\x00\x01\xff", 3);
    CHECK_EQ_STR(W(v), "{\"B\":\"AAH/\"}");
    v = V("{\"B\":\"Yg==\"}");
    CHECK(slice_is(v->u.s.p, v->u.s.len, "b"));
    v = V("{\"B\":\"\"}");
    CHECK_EQ_INT(v->u.s.len, 0);
    CHECK_EQ_STR(W(v), "{\"B\":\"\"}");
    CHECK_EQ_INT(V_err("{\"B\":\"a\"}"), DS_EPARSE);
    CHECK_EQ_STR(ERR, "Base64 encoded length is expected a multiple of 4 bytes but found: 1");
    CHECK_EQ_INT(V_err("{\"B\":\"Y_==\"}"), DS_EPARSE); /* URL alphabet is not DynamoDB's */
    CHECK_EQ_STR(ERR, "Invalid Base64 encoded data");
    CHECK_EQ_INT(V_err("{\"BS\":[\"Yg==\",\"!!!!\"]}"), DS_EPARSE);
}

TEST(bool_and_null) {
    SETUP();
    item_value *v = V("{\"BOOL\":true}");
    CHECK_EQ_INT(v->type, ITEM_BOOL);
    CHECK(v->u.b);
    CHECK_EQ_STR(W(v), "{\"BOOL\":true}");
    CHECK_EQ_STR(W(V("{\"BOOL\":false}")), "{\"BOOL\":false}");
    v = V("{\"NULL\":true}");
    CHECK_EQ_INT(v->type, ITEM_NULL);
    CHECK_EQ_STR(W(v), "{\"NULL\":true}");
    CHECK_EQ_INT(V_err("{\"NULL\":false}"), DS_EINVAL);
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: Null attribute value types "
                      "must have the value of true");
}

TEST(maps_and_lists) {
    SETUP();
    const char *s = "{\"M\":{\"b\":{\"N\":\"2.0\"},\"a\":{\"L\":[{\"S\":\"x\"},{\"M\":{}},"
                    "{\"L\":[]},{\"NULL\":true}]}}}";
    item_value *v = V(s);
    CHECK_EQ_INT(v->type, ITEM_M);
    CHECK_EQ_INT(v->u.m.n, 2);
    CHECK(slice_is(v->u.m.attrs[0].name, v->u.m.attrs[0].name_len, "b")); /* order kept */
    item_value *l = item_get(v, "a", 1);
    CHECK(l && l->type == ITEM_L && l->u.l.n == 4);
    CHECK_EQ_INT(l->u.l.items[1]->type, ITEM_M);
    CHECK_EQ_INT(l->u.l.items[1]->u.m.n, 0);
    CHECK_EQ_STR(W(v), "{\"M\":{\"b\":{\"N\":\"2\"},\"a\":{\"L\":[{\"S\":\"x\"},{\"M\":{}},"
                       "{\"L\":[]},{\"NULL\":true}]}}}");
    /* nested map keys may be empty (only top-level names are checked) */
    V("{\"M\":{\"\":{\"S\":\"x\"}}}");
}

TEST(sets) {
    SETUP();
    item_value *v = V("{\"SS\":[\"b\",\"a\",\"\"]}");
    CHECK_EQ_INT(v->type, ITEM_SS);
    CHECK_EQ_INT(v->u.set.n, 3);
    CHECK_EQ_STR(W(v), "{\"SS\":[\"b\",\"a\",\"\"]}");
    v = V("{\"NS\":[\"1.0\",\"-2e1\",\"0.50\"]}");
    CHECK_EQ_STR(W(v), "{\"NS\":[\"1\",\"-20\",\"0.5\"]}");
    v = V("{\"BS\":[\"Yg==\",\"YQ==\"]}");
    CHECK_EQ_INT(v->u.set.n, 2);
    CHECK(slice_is(v->u.set.elems[0].p, v->u.set.elems[0].len, "b"));
    CHECK_EQ_STR(W(v), "{\"BS\":[\"Yg==\",\"YQ==\"]}");
}

TEST(set_errors) {
    SETUP();
    V_err("{\"SS\":[]}");
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: An string set  may not be empty");
    V_err("{\"NS\":[]}");
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: An number set  may not be empty");
    V_err("{\"BS\":[]}");
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: Binary sets should not be empty");
    V_err("{\"SS\":[\"a\",\"a\"]}");
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: Input collection [a, a] "
                      "contains duplicates.");
    V_err("{\"SS\":[\"x\",\"a\",\"y\",\"a\"]}");
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: Input collection [x, a, y, a] "
                      "contains duplicates.");
    V_err("{\"BS\":[\"Yg==\",\"Yg==\"]}");
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: Input collection [Yg==, Yg==]"
                      "of type BS contains duplicates.");
    V_err("{\"NS\":[\"1\",\"1\"]}");
    CHECK_EQ_STR(ERR, "Input collection contains duplicates");
    V_err("{\"NS\":[\"1\",\"1.0\"]}"); /* numeric, not textual, equality */
    CHECK_EQ_STR(ERR, "Input collection contains duplicates");
    V_err("{\"NS\":[\"100\",\"1e2\"]}");
    CHECK_EQ_STR(ERR, "Input collection contains duplicates");
    V_err("{\"NS\":[\"1\",\"\"]}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value");
    V_err("{\"NS\":[\"1\",\"b\",\"a\"]}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value: b");
    V_err("{\"NS\":[\"1\",\"1e126\"]}");
    CHECK_EQ_STR(ERR, "Number overflow. Attempting to store a number with magnitude larger "
                      "than supported range");
    V_err("{\"SS\":[\"a\",null]}");
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: An string set may not have a "
                      "null string as a member");
    CHECK_EQ_INT(V_err("{\"SS\":[\"a\",1]}"), DS_EPARSE);
    CHECK_EQ_STR(ERR, "NUMBER_VALUE cannot be converted to String");
    /* distinct binary values that share a prefix are fine */
    V("{\"BS\":[\"YQ==\",\"YWI=\",\"\"]}");
}

TEST(attribute_value_structure_errors) {
    SETUP();
    static const char *empty[] = {
        "{}",           "{\"a\":\"\"}",         "{\"S\":null}",   "{\"M\":{\"a\":{}}}",
        "{\"L\":[{}]}", "{\"L\":[{\"a\":{}}]}", "{\"L\":[null]}", "{\"M\":{\"a\":null}}"};
    for (size_t i = 0; i < DS_ARRAY_LEN(empty); i++) {
        CHECK_EQ_INT(V_err(empty[i]), DS_EINVAL);
        CHECK_EQ_STR(ERR, "Supplied AttributeValue is empty, must contain exactly one of the "
                          "supported datatypes");
    }
    CHECK_EQ_INT(V_err("{\"S\":\"a\",\"N\":\"1\"}"), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Supplied AttributeValue has more than one datatypes set, must contain "
                      "exactly one of the supported datatypes");
    /* each member is validated before the count is checked */
    V_err("{\"S\":\"a\",\"N\":\"b\"}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value: b");
    V_err("{\"S\":\"\",\"N\":\"\"}");
    CHECK_EQ_STR(ERR, "The parameter cannot be converted to a numeric value");
    /* JSON type errors are serialization errors, whatever else is wrong */
    CHECK_EQ_INT(V_err("{\"S\":5}"), DS_EPARSE);
    CHECK_EQ_STR(ERR, "NUMBER_VALUE cannot be converted to String");
    CHECK_EQ_INT(V_err("{\"N\":5}"), DS_EPARSE);
    CHECK_EQ_STR(ERR, "NUMBER_VALUE cannot be converted to String");
    CHECK_EQ_INT(V_err("{\"S\":{\"S\":\"x\"}}"), DS_EPARSE);
    CHECK_EQ_STR(ERR, "Start of structure or map found where not expected");
    CHECK_EQ_INT(V_err("{\"BOOL\":\"true\"}"), DS_EPARSE);
    CHECK_EQ_STR(ERR, "STRING_VALUE cannot be converted to Boolean");
    CHECK_EQ_INT(V_err("{\"M\":[]}"), DS_EPARSE);
    CHECK_EQ_STR(ERR, "Start of list found where not expected");
    CHECK_EQ_INT(V_err("{\"L\":{}}"), DS_EPARSE);
    CHECK_EQ_INT(V_err("{\"SS\":\"a\"}"), DS_EPARSE);
    CHECK_EQ_INT(V_err("\"x\""), DS_EPARSE);
    CHECK_EQ_INT(V_err("[]"), DS_EPARSE);
    CHECK_EQ_INT(V_err("{\"NULL\":false,\"M\":{\"a\":{\"S\":1}}}"), DS_EPARSE);
    CHECK_EQ_INT(V_err("null"), DS_EINVAL);
}

/* {"M":{"n": ... {"S":"leaf"} ...}} with `wraps` maps around the leaf. */
static const char *deep(int wraps) {
    static ds_buf b;
    ds_buf_reset(&b);
    ds_buf_puts(&b, "{\"pk\":{\"S\":\"x\"},\"data\":");
    for (int i = 0; i < wraps; i++)
        ds_buf_puts(&b, i & 1 ? "{\"L\":[" : "{\"M\":{\"n\":");
    ds_buf_puts(&b, "{\"S\":\"leaf\"}");
    for (int i = wraps - 1; i >= 0; i--)
        ds_buf_puts(&b, i & 1 ? "]}" : "}}");
    ds_buf_putc(&b, '}');
    return b.data;
}

TEST(nesting_limit_is_32_levels) {
    SETUP();
    /* The attribute is level 1: 31 wraps put the leaf at level 32 (accepted),
     * 32 wraps at level 33 (rejected). */
    item_value *v = I(deep(31));
    CHECK_EQ_INT(v->u.m.n, 2);
    CHECK_EQ_INT(I_err(deep(32)), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Nesting Levels have exceeded supported limits: Attributes in the item have "
                      "nested levels beyond supported limit");
    I_err(deep(60));
    CHECK_EQ_STR(ERR, "Nesting Levels have exceeded supported limits: Attributes in the item have "
                      "nested levels beyond supported limit");
    /* a standalone value starting deeper is counted from there */
    item_value *out;
    CHECK_EQ_INT(ddb_value_from_json(A, J("{\"S\":\"x\"}"), 32, &out, ERR, sizeof ERR), DS_OK);
    CHECK_EQ_INT(ddb_value_from_json(A, J("{\"L\":[{\"S\":\"x\"}]}"), 32, &out, ERR, sizeof ERR),
                 DS_EINVAL);
}

TEST(items) {
    SETUP();
    item_value *m = I("{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"01.10\"},\"b\":{\"B\":\"AA==\"},"
                      "\"set\":{\"NS\":[\"2\",\"1\"]}}");
    CHECK_EQ_INT(m->type, ITEM_M);
    CHECK_EQ_INT(m->u.m.n, 4);
    CHECK_EQ_STR(WI(m), "{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.1\"},\"b\":{\"B\":\"AA==\"},"
                        "\"set\":{\"NS\":[\"2\",\"1\"]}}");
    CHECK_EQ_STR(WI(I("{}")), "{}");
    CHECK_EQ_STR(WI(NULL), "{}");
    CHECK_EQ_INT(I_err("{\"\":{\"S\":\"a\"}}"), DS_EINVAL);
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: Empty attribute name");
    CHECK_EQ_INT(I_err("{\"a\":null}"), DS_EINVAL);
    CHECK_EQ_STR(ERR, "Supplied AttributeValue is empty, must contain exactly one of the "
                      "supported datatypes");
    CHECK_EQ_INT(I_err("[]"), DS_EPARSE);
    CHECK_EQ_INT(I_err("\"a\""), DS_EPARSE);
    CHECK_EQ_INT(I_err("{\"a\":\"x\"}"), DS_EPARSE);
    /* a type error anywhere beats a validation error anywhere */
    CHECK_EQ_INT(I_err("{\"a\":{},\"b\":{\"S\":5}}"), DS_EPARSE);
    /* names up to 65535 bytes */
    ds_buf b = DS_BUF_INIT;
    ds_buf_putc(&b, '{');
    ds_buf_putc(&b, '"');
    for (int i = 0; i < 65535; i++)
        ds_buf_putc(&b, 'n');
    ds_buf_puts(&b, "\":{\"S\":\"v\"}}");
    m = I(b.data);
    CHECK_EQ_INT(m->u.m.attrs[0].name_len, 65535);
    ds_buf_reset(&b);
    ds_buf_puts(&b, "{\"M\":{\"");
    for (int i = 0; i < 65536; i++)
        ds_buf_putc(&b, 'n');
    ds_buf_puts(&b, "\":{\"S\":\"v\"}}}");
    CHECK_EQ_INT(V_err(b.data), DS_EINVAL);
    CHECK_EQ_STR(ERR, "One or more parameter values were invalid: Attribute name is too large, "
                      "must be less than 65536 bytes");
    ds_buf_free(&b);
}

TEST(roundtrip_is_identical) {
    SETUP();
    const char *s =
        "{\"a\":{\"M\":{\"x\":{\"BS\":[\"AAE=\",\"/w==\"]},\"y\":{\"L\":[{\"N\":\"-0.5\"},"
        "{\"SS\":[\"q\"]},{\"BOOL\":false}]}}},\"\xc3\xa9\":{\"B\":\"\"}}";
    item_value *m = I(s);
    const char *out = WI(m);
    item_value *m2 = I(out);
    CHECK(item_identical(m, m2));
    CHECK_EQ_STR(WI(m2), out);
    /* and through the storage codec */
    ds_buf enc = DS_BUF_INIT;
    CHECK_EQ_INT(item_encode(&enc, m), DS_OK);
    item_value *m3;
    CHECK_EQ_INT(item_decode(A, enc.data, enc.len, &m3), DS_OK);
    CHECK(item_identical(m, m3));
    ds_buf_free(&enc);
}

/* ---- sizes ----------------------------------------------------------------------------- */

TEST(value_sizes_follow_the_guide) {
    SETUP();
    CHECK_EQ_INT(ddb_value_size(V("{\"S\":\"h\\u00e9\"}")), 3); /* UTF-8 bytes */
    CHECK_EQ_INT(ddb_value_size(V("{\"B\":\"AAH/\"}")), 3);     /* raw bytes */
    CHECK_EQ_INT(ddb_value_size(V("{\"BOOL\":true}")), 1);
    CHECK_EQ_INT(ddb_value_size(V("{\"NULL\":true}")), 1);
    /* numbers: 1 byte per two significant digits, plus 1 */
    CHECK_EQ_INT(ddb_value_size(V("{\"N\":\"0\"}")), 1);
    CHECK_EQ_INT(ddb_value_size(V("{\"N\":\"7\"}")), 2);
    CHECK_EQ_INT(ddb_value_size(V("{\"N\":\"12\"}")), 2);
    CHECK_EQ_INT(ddb_value_size(V("{\"N\":\"12345\"}")), 4);
    CHECK_EQ_INT(ddb_value_size(V("{\"N\":\"1000000\"}")), 2); /* trailing zeros trimmed */
    CHECK_EQ_INT(ddb_value_size(V("{\"N\":\"0.001\"}")), 2);   /* leading zeros trimmed */
    CHECK_EQ_INT(ddb_value_size(V("{\"N\":\"12345678901234567890123456789012345678\"}")), 20);
    /* empty list or map: 3 bytes; each element adds 1 */
    CHECK_EQ_INT(ddb_value_size(V("{\"L\":[]}")), 3);
    CHECK_EQ_INT(ddb_value_size(V("{\"M\":{}}")), 3);
    CHECK_EQ_INT(ddb_value_size(V("{\"L\":[{\"S\":\"xy\"}]}")), 3 + 1 + 2);
    CHECK_EQ_INT(ddb_value_size(V("{\"M\":{\"ab\":{\"S\":\"xy\"}}}")), 3 + 2 + 1 + 2);
    /* sets: the sum of their elements */
    CHECK_EQ_INT(ddb_value_size(V("{\"SS\":[\"ab\",\"c\"]}")), 3);
    CHECK_EQ_INT(ddb_value_size(V("{\"NS\":[\"1\",\"123\"]}")), 2 + 3);
    CHECK_EQ_INT(ddb_value_size(V("{\"BS\":[\"AA==\",\"AAA=\"]}")), 3);
}

TEST(item_sizes) {
    SETUP();
    /* names count: 2 + 3, 1 + 4, 4 + 1, 1 + (3 + 1 + 2) */
    item_value *m = I("{\"id\":{\"S\":\"abc\"},\"n\":{\"N\":\"12345\"},\"flag\":{\"BOOL\":true},"
                      "\"l\":{\"L\":[{\"S\":\"xy\"}]}}");
    CHECK_EQ_INT(ddb_item_size(m), 5 + 5 + 5 + 7);
    CHECK_EQ_INT(ddb_item_size(I("{}")), 0);
    CHECK_EQ_INT(ddb_item_size(NULL), 0);
}

/* Builds {"pk":{"S":pk},"data":{"L":[{"S":"aa"} x count]}}. */
static item_value *dense_list(const char *pk, int count) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_printf(&b, "{\"pk\":{\"S\":\"%s\"},\"data\":{\"L\":[", pk);
    for (int i = 0; i < count; i++)
        ds_buf_puts(&b, i ? ",{\"S\":\"aa\"}" : "{\"S\":\"aa\"}");
    ds_buf_puts(&b, "]}}");
    item_value *v = I(b.data);
    ds_buf_free(&b);
    return v;
}

TEST(capacity_matches_measured_dynamodb) {
    SETUP();
    /* Write capacities ExtendDB's suite recorded from real DynamoDB
     * (ReturnConsumedCapacity=TOTAL) for these shapes. */
    CHECK_EQ_INT(ddb_item_size(dense_list("l500", 500)), 1513);
    CHECK(ddb_write_units(ddb_item_size(dense_list("l500", 500))) == 2.0);
    CHECK(ddb_write_units(ddb_item_size(dense_list("l1500", 1500))) == 5.0);
    CHECK(ddb_write_units(ddb_item_size(dense_list("l3000", 3000))) == 9.0);
    CHECK(ddb_write_units(ddb_item_size(dense_list("under", 130000))) == 381.0);
    CHECK(ddb_item_size(dense_list("under", 130000)) <= DDB_MAX_ITEM_SIZE);
    CHECK(ddb_item_size(dense_list("over", 150000)) > DDB_MAX_ITEM_SIZE);
    /* 800 map entries "k0".."k799" of {"S":"v"}: 5 WCU */
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"pk\":{\"S\":\"m800\"},\"data\":{\"M\":{");
    for (int i = 0; i < 800; i++)
        ds_buf_printf(&b, "%s\"k%d\":{\"S\":\"v\"}", i ? "," : "", i);
    ds_buf_puts(&b, "}}}");
    CHECK(ddb_write_units(ddb_item_size(I(b.data))) == 5.0);
    /* 500 list elements {"M":{"a":{"S":"b"}}}: 4 WCU */
    ds_buf_reset(&b);
    ds_buf_puts(&b, "{\"pk\":{\"S\":\"nest\"},\"data\":{\"L\":[");
    for (int i = 0; i < 500; i++)
        ds_buf_printf(&b, "%s{\"M\":{\"a\":{\"S\":\"b\"}}}", i ? "," : "");
    ds_buf_puts(&b, "]}}");
    CHECK_EQ_INT(ddb_item_size(I(b.data)), 6 + 4 + 3 + 500 * 7);
    CHECK(ddb_write_units(ddb_item_size(I(b.data))) == 4.0);
    /* 500 map entries each a one-element list: 5 WCU */
    ds_buf_reset(&b);
    ds_buf_puts(&b, "{\"pk\":{\"S\":\"mapl\"},\"data\":{\"M\":{");
    for (int i = 0; i < 500; i++)
        ds_buf_printf(&b, "%s\"k%d\":{\"L\":[{\"S\":\"b\"}]}", i ? "," : "", i);
    ds_buf_puts(&b, "}}}");
    CHECK(ddb_write_units(ddb_item_size(I(b.data))) == 5.0);
    /* scalar control: 1 WCU */
    CHECK(ddb_write_units(ddb_item_size(I(
              "{\"pk\":{\"S\":\"scalar\"},\"n\":{\"N\":\"1\"},\"s\":{\"S\":\"hello\"}}"))) == 1.0);
    ds_buf_free(&b);
}

TEST(capacity_units) {
    /* reads: 4 KB steps, eventually consistent halves, a missing item costs the minimum */
    CHECK(ddb_read_units(0, 1) == 1.0);
    CHECK(ddb_read_units(0, 0) == 0.5);
    CHECK(ddb_read_units(1, 1) == 1.0);
    CHECK(ddb_read_units(3500, 1) == 1.0);
    CHECK(ddb_read_units(4096, 1) == 1.0);
    CHECK(ddb_read_units(4097, 1) == 2.0);
    CHECK(ddb_read_units(8192, 1) == 2.0);
    CHECK(ddb_read_units(8192, 0) == 1.0);
    CHECK(ddb_read_units(10 * 1024, 1) == 3.0); /* 10 KB rounds to 12 KB */
    CHECK(ddb_read_units(10 * 1024, 0) == 1.5);
    CHECK(ddb_read_units(400 * 1024, 1) == 100.0);
    CHECK(ddb_read_units(400 * 1024, 0) == 50.0);
    /* writes: 1 KB steps */
    CHECK(ddb_write_units(0) == 1.0);
    CHECK(ddb_write_units(1024) == 1.0);
    CHECK(ddb_write_units(1025) == 2.0);
    CHECK(ddb_write_units(2560) == 3.0); /* 2.5 KB -> 3 */
    CHECK(ddb_write_units(400 * 1024) == 400.0);
}

TEST_MAIN()
