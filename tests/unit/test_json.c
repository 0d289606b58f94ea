/* test_json.c -- the strict JSON parser and the writers (src/common/json.c):
 * every value type, exact numbers, escapes and UTF-8, each class of
 * rejection with its message, depth and duplicate-key limits, big objects,
 * round trips, lookup and string escaping. */
#include "common/json.h"
#include "t.h"

#include <time.h>

static ds_arena *arena(void) {
    static ds_arena *a;
    if (!a) a = ds_arena_new(4096);
    return a;
}

static char errbuf[256];

static json_value *parse_n(const char *s, size_t n) {
    json_value *v = NULL;
    int rc = json_parse(arena(), s, n, 0, &v, errbuf, sizeof errbuf);
    if (rc != DS_OK) T_FAIL("parse of \"%.*s\" failed: %s", (int)DS_MIN(n, 80), s, errbuf);
    CHECK(v != NULL);
    return v;
}
#define OK(lit) parse_n(lit, sizeof(lit) - 1)

/* Expects a parse error whose message contains frag and an offset. */
static void bad_n(const char *s, size_t n, int depth, const char *frag, int line) {
    json_value *v = (json_value *)1;
    errbuf[0] = 0;
    int rc = json_parse(arena(), s, n, depth, &v, errbuf, sizeof errbuf);
    if (rc != DS_EPARSE)
        T_FAIL("line %d: \"%.*s\" gave %d, expected DS_EPARSE", line, (int)DS_MIN(n, 80), s, rc);
    if (v != NULL) T_FAIL("line %d: *out not NULL on error", line);
    if (!strstr(errbuf, frag) || !strstr(errbuf, " at offset "))
        T_FAIL("line %d: \"%.*s\": message \"%s\" lacks \"%s\"", line, (int)DS_MIN(n, 80), s,
               errbuf, frag);
}
#define BAD(lit, frag) bad_n(lit, sizeof(lit) - 1, 0, frag, __LINE__)

static void check_str(const json_value *v, const char *bytes, size_t n) {
    CHECK_EQ_INT(v->type, JSON_STRING);
    CHECK_EQ_INT(v->u.str.len, n);
    CHECK_EQ_MEM(v->u.str.s, bytes, n);
    CHECK_EQ_INT(v->u.str.s[n], 0);
}
#define STR_IS(v, lit) check_str(v, lit, sizeof(lit) - 1)

static void check_num(const char *text) {
    json_value *v = parse_n(text, strlen(text));
    CHECK_EQ_INT(v->type, JSON_NUMBER);
    CHECK_EQ_INT(v->u.str.len, strlen(text));
    CHECK_EQ_STR(v->u.str.s, text);
}

static int tree_eq(const json_value *a, const json_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NULL:
    case JSON_FALSE:
    case JSON_TRUE:
        return 1;
    case JSON_NUMBER:
    case JSON_STRING:
        return a->u.str.len == b->u.str.len && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case JSON_ARRAY:
        if (a->u.arr.n != b->u.arr.n) return 0;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!tree_eq(a->u.arr.items[i], b->u.arr.items[i])) return 0;
        return 1;
    case JSON_OBJECT:
        if (a->u.obj.n != b->u.obj.n) return 0;
        for (size_t i = 0; i < a->u.obj.n; i++) {
            const json_member *x = &a->u.obj.members[i], *y = &b->u.obj.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len)) return 0;
            if (!tree_eq(x->value, y->value)) return 0;
        }
        return 1;
    }
    return 0;
}

static void write_is(const json_value *v, const char *expect) {
    ds_buf b = DS_BUF_INIT;
    json_write(&b, v);
    CHECK_EQ_STR(b.data, expect);
    ds_buf_free(&b);
}

static void wstr_is(const char *s, size_t n, const char *expect) {
    ds_buf b = DS_BUF_INIT;
    json_write_string(&b, s, n);
    CHECK_EQ_STR(b.data, expect);
    CHECK(json_utf8_valid(b.data, b.len));
    json_value *v = parse_n(b.data, b.len); /* always valid JSON */
    CHECK_EQ_INT(v->type, JSON_STRING);
    ds_buf_free(&b);
}

/* ---- values ------------------------------------------------------------ */

TEST(literals) {
    CHECK_EQ_INT(OK("null")->type, JSON_NULL);
    CHECK_EQ_INT(OK("true")->type, JSON_TRUE);
    CHECK_EQ_INT(OK("false")->type, JSON_FALSE);
    CHECK_EQ_INT(OK(" \t\r\n true \n")->type, JSON_TRUE);
    BAD("tru", "invalid literal");
    BAD("nul", "invalid literal");
    BAD("True", "expected a value");
    BAD("NULL", "expected a value");
    BAD("nulll", "trailing garbage");
    BAD("falsey", "trailing garbage");
}

TEST(numbers_keep_exact_text) {
    /* clang-format off */
    const char *ok[] = {
        "0", "-0", "1", "1.50", "-0.0", "1E+400", "1e400", "1e-400", "-1.5E-07", "0.000",
        "12345678901234567890123456789012345678", "-99999999999999999999999999999999999999",
        "1.2345678901234567890123456789012345678E-130", "9E+125", "0e0", "10", "123.456e+7",
    };
    /* clang-format on */
    for (size_t i = 0; i < DS_ARRAY_LEN(ok); i++)
        check_num(ok[i]);
    json_value *v = OK("[1.50,-0,1E+400]");
    CHECK_EQ_STR(v->u.arr.items[0]->u.str.s, "1.50");
    CHECK_EQ_STR(v->u.arr.items[1]->u.str.s, "-0");
    CHECK_EQ_STR(v->u.arr.items[2]->u.str.s, "1E+400");
    write_is(v, "[1.50,-0,1E+400]");
}

TEST(numbers_rejected) {
    BAD("01", "leading zero");
    BAD("-01", "leading zero");
    BAD("00", "leading zero");
    BAD("[007]", "leading zero");
    BAD("+1", "invalid number");
    BAD(".5", "invalid number");
    BAD("-.5", "expected digit after '-'");
    BAD("1.", "expected digit after '.'");
    BAD("1.e5", "expected digit after '.'");
    BAD("[1.]", "expected digit after '.'");
    BAD("1e", "expected digit in exponent");
    BAD("1e+", "expected digit in exponent");
    BAD("1E-x", "expected digit in exponent");
    BAD("-", "expected digit after '-'");
    BAD("- 1", "expected digit after '-'");
    BAD("--1", "expected digit after '-'");
    BAD("0x10", "trailing garbage");
    BAD("1.5.2", "trailing garbage");
    BAD("NaN", "expected a value");
    BAD("Infinity", "expected a value");
    BAD("-Infinity", "expected digit after '-'");
    BAD("[1 2]", "expected ',' or ']'");
}

TEST(strings_and_escapes) {
    STR_IS(OK("\"\""), "");
    STR_IS(OK("\"hello\""), "hello");
    STR_IS(OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), "\"\\/\b\f\n\r\t");
    STR_IS(OK("\"\\u0041\\u00e9\\u20AC\""), "A\xc3\xa9\xe2\x82\xac");
    STR_IS(OK("\"\\u07ff\\u0800\\uffff\""), "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    STR_IS(OK("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80");     /* U+1F600 */
    STR_IS(OK("\"x\\uD800\\uDC00y\""), "x\xf0\x90\x80\x80y"); /* U+10000 */
    STR_IS(OK("\"\\uDBFF\\uDFFF\""), "\xf4\x8f\xbf\xbf");     /* U+10FFFF */
    /* a long string with escapes at both ends and in the middle */
    STR_IS(OK("\"\\tabcdefghijklmnopqrstuvwxyz0123456789\\n0123456789abcdefghij\\\"\""),
           "\tabcdefghijklmnopqrstuvwxyz0123456789\n0123456789abcdefghij\"");
    /* '/' and DEL need no escape */
    STR_IS(OK("\"a/b\x7f\""), "a/b\x7f");
}

TEST(nul_escape_counts_in_len) {
    json_value *v = OK("\"a\\u0000b\"");
    check_str(v, "a\0b", 3);
    v = OK("{\"k\\u0000\":1,\"k\":2}"); /* different keys */
    CHECK_EQ_INT(v->u.obj.n, 2);
    CHECK_EQ_INT(v->u.obj.members[0].key_len, 2);
    CHECK(json_get_n(v, "k\0", 2) == v->u.obj.members[0].value);
    CHECK(json_get(v, "k") == v->u.obj.members[1].value);
}

TEST(raw_utf8) {
    STR_IS(OK("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    /* boundaries of each length */
    STR_IS(OK("\"\xc2\x80\xdf\xbf\""), "\xc2\x80\xdf\xbf");                 /* U+0080 U+07FF */
    STR_IS(OK("\"\xe0\xa0\x80\xed\x9f\xbf\""), "\xe0\xa0\x80\xed\x9f\xbf"); /* U+0800 U+D7FF */
    STR_IS(OK("\"\xee\x80\x80\xef\xbf\xbf\""), "\xee\x80\x80\xef\xbf\xbf"); /* U+E000 U+FFFF */
    STR_IS(OK("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""), "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    /* multi-byte characters straddling the 8-byte scan words */
    STR_IS(OK("\"abcdefg\xc3\xa9hijklmn\xe2\x82\xacopqrstu\xf0\x9f\x98\x80vwxyz\""),
           "abcdefg\xc3\xa9hijklmn\xe2\x82\xacopqrstu\xf0\x9f\x98\x80vwxyz");
    CHECK_EQ_INT(OK("{\"\xc3\xa9t\xc3\xa9\":1}")->u.obj.members[0].key_len, 5);
}

TEST(strings_rejected) {
    BAD("\"abc", "unterminated string");
    BAD("\"abc\\", "unterminated string");
    BAD("\"abc\\\"", "unterminated string");
    BAD("[\"a\",\"b", "unterminated string starting at offset 5");
    BAD("\"a\nb\"", "control character 0x0a");
    BAD("\"a\tb\"", "control character 0x09");
    BAD("\"\x1f\"", "control character 0x1f");
    bad_n("\"a\0b\"", 5, 0, "control character 0x00", __LINE__);
    BAD("\"\\x41\"", "invalid escape \\'x'");
    BAD("\"\\a\"", "invalid escape");
    BAD("\"\\U0041\"", "invalid escape");
    BAD("\"\\'\"", "invalid escape");
    BAD("\"\\u12\"", "invalid \\u escape");
    BAD("\"\\u12G4\"", "invalid \\u escape");
    BAD("\"\\u", "unterminated string");
    BAD("\"\\ud800\"", "unpaired high surrogate \\uD800");
    BAD("\"\\ud800x\"", "unpaired high surrogate");
    BAD("\"\\ud800\\u0041\"", "unpaired high surrogate");
    BAD("\"\\ud800\\ud800\"", "unpaired high surrogate");
    BAD("\"\\udbff\\n\"", "unpaired high surrogate");
    BAD("\"\\udc00\"", "unpaired low surrogate \\uDC00");
    BAD("\"\\udfff\\ud800\"", "unpaired low surrogate");
    BAD("'a'", "expected a value, found '''");
}

TEST(utf8_rejected) {
    BAD("\"\xc0\x80\"", "overlong encoding"); /* NUL, 2 bytes */
    BAD("\"\xc1\xbf\"", "overlong encoding");
    BAD("\"\xe0\x80\x80\"", "overlong encoding"); /* 3-byte NUL */
    BAD("\"\xe0\x9f\xbf\"", "overlong encoding");
    BAD("\"\xf0\x80\x80\x80\"", "overlong encoding");
    BAD("\"\xf0\x8f\xbf\xbf\"", "overlong encoding");
    BAD("\"\xed\xa0\x80\"", "encoded surrogate");             /* U+D800 */
    BAD("\"\xed\xbf\xbf\"", "encoded surrogate");             /* U+DFFF */
    BAD("\"\xed\xa0\xbd\xed\xb8\x80\"", "encoded surrogate"); /* CESU-8 pair */
    BAD("\"\xf4\x90\x80\x80\"", "above U+10FFFF");
    BAD("\"\xf5\x80\x80\x80\"", "above U+10FFFF");
    BAD("\"\xff\"", "above U+10FFFF");
    BAD("\"\x80\"", "unexpected continuation byte");
    BAD("\"a\xbf\"", "unexpected continuation byte (byte 0xbf) at offset 2");
    BAD("\"\xc3\"", "truncated sequence");
    BAD("\"\xe2\x82\"", "truncated sequence");
    BAD("\"\xf0\x9f\x98\"", "truncated sequence");
    BAD("\"\xc3", "truncated sequence");
    BAD("\"\xe2\x82", "truncated sequence");
    BAD("\"\xc3\x41\"", "truncated sequence");
    BAD("{\"\xc3\x28\":1}", "invalid UTF-8 in string");
    BAD("\xc3\xa9", "expected a value, found byte 0xc3");
}

TEST(utf8_valid) {
    CHECK(json_utf8_valid("", 0));
    CHECK(json_utf8_valid("plain ascii, more than eight bytes", 34));
    CHECK(json_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13));
    CHECK(json_utf8_valid("a\0b", 3));
    CHECK(!json_utf8_valid("\xc0\x80", 2));
    CHECK(!json_utf8_valid("\xed\xa0\x80", 3));
    CHECK(!json_utf8_valid("\xf4\x90\x80\x80", 4));
    CHECK(!json_utf8_valid("abcdefghijk\xe2\x82", 13));
    CHECK(!json_utf8_valid("abcdefgh\x80", 9));
}

/* ---- structure --------------------------------------------------------- */

TEST(arrays_and_objects) {
    json_value *v = OK("[]");
    CHECK_EQ_INT(v->type, JSON_ARRAY);
    CHECK_EQ_INT(v->u.arr.n, 0);
    v = OK("{}");
    CHECK_EQ_INT(v->type, JSON_OBJECT);
    CHECK_EQ_INT(v->u.obj.n, 0);
    v = OK(" [ 1 , \"two\" , [ ] , { } , null , true , false , [[3]] ] ");
    CHECK_EQ_INT(v->u.arr.n, 8);
    CHECK_EQ_STR(v->u.arr.items[0]->u.str.s, "1");
    STR_IS(v->u.arr.items[1], "two");
    CHECK_EQ_INT(v->u.arr.items[2]->type, JSON_ARRAY);
    CHECK_EQ_INT(v->u.arr.items[3]->type, JSON_OBJECT);
    CHECK_EQ_INT(v->u.arr.items[4]->type, JSON_NULL);
    CHECK_EQ_INT(v->u.arr.items[5]->type, JSON_TRUE);
    CHECK_EQ_INT(v->u.arr.items[6]->type, JSON_FALSE);
    CHECK_EQ_STR(v->u.arr.items[7]->u.arr.items[0]->u.arr.items[0]->u.str.s, "3");
    v = OK("{\"z\":1,\"a\":{\"b\":[true]},\"m\":\"x\"}");
    CHECK_EQ_INT(v->u.obj.n, 3);
    CHECK_EQ_STR(v->u.obj.members[0].key, "z"); /* document order */
    CHECK_EQ_STR(v->u.obj.members[1].key, "a");
    CHECK_EQ_STR(v->u.obj.members[2].key, "m");
    CHECK_EQ_INT(json_get(json_get(v, "a"), "b")->u.arr.items[0]->type, JSON_TRUE);
    /* scalars at the top level */
    STR_IS(OK("\"top\""), "top");
    check_num("42");
}

TEST(ddb_request_body) {
    json_value *v = OK("{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.5\"},"
                       "\"b\":{\"B\":\"AAEC\"},\"l\":{\"L\":[{\"N\":\"-0\"}]}}}");
    STR_IS(json_get(v, "TableName"), "t");
    json_value *item = json_get(v, "Item");
    STR_IS(json_get(json_get(item, "pk"), "S"), "a");
    STR_IS(json_get(json_get(item, "n"), "N"), "1.5");
    CHECK(json_get(item, "missing") == NULL);
}

TEST(structure_rejected) {
    BAD("", "expected a JSON value, found end of input at offset 0");
    BAD("   ", "found end of input at offset 3");
    BAD("[1,]", "trailing comma in array");
    BAD("{\"a\":1,}", "trailing comma in object");
    BAD("[,1]", "expected a value, found ','");
    BAD("{,}", "expected string key in object, found ','");
    BAD("{\"a\" 1}", "expected ':' after object key at offset 5");
    BAD("{\"a\"}", "expected ':' after object key");
    BAD("{\"a\":}", "expected a value, found '}'");
    BAD("{1:2}", "expected string key in object, found '1'");
    BAD("{a:1}", "expected string key in object, found 'a'");
    BAD("{'a':1}", "expected string key");
    BAD("{\"a\":1 \"b\":2}", "expected ',' or '}' after object member, found '\"'");
    BAD("[1 2]", "expected ',' or ']' after array element, found '2'");
    BAD("[1", "unexpected end of input in array");
    BAD("[1,", "expected a value, found end of input");
    BAD("{\"a\":1", "unexpected end of input in object");
    BAD("{\"a\":", "expected a value, found end of input");
    BAD("{\"a\"", "expected ':' after object key");
    BAD("{", "expected string key in object, found end of input");
    BAD("[", "expected a value, found end of input");
    BAD("[}", "expected a value, found '}'");
    BAD("{]", "expected string key");
    BAD("[1}", "expected ',' or ']'");
    BAD("[]]", "trailing garbage");
    BAD("{}}", "trailing garbage");
    BAD("1 2", "unexpected '2' after the JSON value (trailing garbage) at offset 2");
    BAD("{} x", "trailing garbage");
    BAD("[]\0", "trailing garbage");
    BAD("]", "expected a value, found ']'");
    BAD("/* c */ 1", "expected a value, found '/'");
    BAD("[1] // c", "trailing garbage");
    BAD("\xef\xbb\xbf[]", "found byte 0xef"); /* a BOM is not JSON */
}

TEST(only_rfc_whitespace) {
    CHECK_EQ_INT(OK(" \t\n\r[ \t\n\r1 \t\n\r] \t\n\r")->u.arr.n, 1);
    BAD("\f1", "found byte 0x0c");
    BAD("\v1", "found byte 0x0b");
    BAD("[1,\f2]", "found byte 0x0c");
    BAD("1\f", "trailing garbage");
    BAD("\xc2\xa0"
        "1",
        "found byte 0xc2"); /* U+00A0 NO-BREAK SPACE */
    BAD("[1\xc2\xa0]", "expected ',' or ']'");
}

TEST(input_not_nul_terminated) {
    const char buf[] = "[1,2]xyz";
    CHECK_EQ_INT(parse_n(buf, 5)->u.arr.n, 2);
    json_value *v = parse_n("123", 2);
    CHECK_EQ_STR(v->u.str.s, "12");
    v = parse_n("\"abc\"def", 5);
    STR_IS(v, "abc");
    bad_n("tru", 3, 0, "invalid literal", __LINE__);
    bad_n("\"ab\"", 3, 0, "unterminated", __LINE__);
    /* a tree does not point into the input */
    char text[] = "{\"key\":\"value\",\"n\":12}";
    v = parse_n(text, strlen(text));
    memset(text, 'X', strlen(text));
    CHECK_EQ_STR(v->u.obj.members[0].key, "key");
    STR_IS(json_get(v, "key"), "value");
    CHECK_EQ_STR(json_get(v, "n")->u.str.s, "12");
}

TEST(error_buffer_handling) {
    json_value *v;
    CHECK_EQ_INT(json_parse(arena(), "[1,]", 4, 0, &v, NULL, 0), DS_EPARSE);
    CHECK(v == NULL);
    char small[8];
    memset(small, 'Z', sizeof small);
    CHECK_EQ_INT(json_parse(arena(), "[1,]", 4, 0, &v, small, sizeof small), DS_EPARSE);
    CHECK_EQ_INT(small[7], 0);
    CHECK_EQ_STR(small, "trailin");
    char e[64] = "stale";
    CHECK_EQ_INT(json_parse(arena(), "[1]", 3, 0, &v, e, sizeof e), DS_OK);
    CHECK_EQ_STR(e, "");
}

/* ---- limits ------------------------------------------------------------ */

static char *nested(size_t depth, const char *open, const char *mid, const char *close) {
    ds_buf b = DS_BUF_INIT;
    for (size_t i = 0; i < depth; i++)
        ds_buf_puts(&b, open);
    ds_buf_puts(&b, mid);
    for (size_t i = 0; i < depth; i++)
        ds_buf_puts(&b, close);
    return ds_buf_detach(&b, NULL);
}

TEST(depth_limit) {
    json_value *v;
    char *s = nested(JSON_DEFAULT_MAX_DEPTH, "[", "", "]");
    CHECK_EQ_INT(json_parse(arena(), s, strlen(s), 0, &v, errbuf, sizeof errbuf), DS_OK);
    ds_free(s);
    s = nested(JSON_DEFAULT_MAX_DEPTH + 1, "[", "", "]");
    bad_n(s, strlen(s), 0, "nesting deeper than 64 at offset 64", __LINE__);
    ds_free(s);
    s = nested(JSON_DEFAULT_MAX_DEPTH + 1, "{\"a\":", "1", "}");
    bad_n(s, strlen(s), 0, "nesting deeper than 64", __LINE__);
    ds_free(s);
    /* explicit limits */
    CHECK_EQ_INT(json_parse(arena(), "[[1]]", 5, 2, &v, errbuf, sizeof errbuf), DS_OK);
    bad_n("[[[1]]]", 7, 2, "nesting deeper than 2 at offset 2", __LINE__);
    bad_n("[{}]", 4, 1, "nesting deeper than 1", __LINE__);
    CHECK_EQ_INT(json_parse(arena(), "1", 1, 1, &v, errbuf, sizeof errbuf), DS_OK);
    /* the parser is iterative: very deep documents need no C stack */
    s = nested(200000, "[", "[1,{\"a\":[]}]", "]");
    CHECK_EQ_INT(json_parse(arena(), s, strlen(s), 300000, &v, errbuf, sizeof errbuf), DS_OK);
    /* ... and the writer is iterative too */
    ds_buf b = DS_BUF_INIT;
    json_write(&b, v);
    CHECK_EQ_STR(b.data, s);
    ds_buf_free(&b);
    ds_free(s);
    s = nested(100000, "{\"k\":[", "{}", "]}");
    CHECK_EQ_INT(json_parse(arena(), s, strlen(s), 300000, &v, errbuf, sizeof errbuf), DS_OK);
    write_is(v, s);
    ds_free(s);
    s = nested(100000, "[", "", "");
    bad_n(s, strlen(s), 300000, "expected a value, found end of input", __LINE__);
    ds_free(s);
}

TEST(duplicate_keys) {
    BAD("{\"a\":1,\"a\":2}", "duplicate key \"a\" at offset 7");
    BAD("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key \"a\" at offset 13");
    BAD("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\"");            /* same once decoded */
    BAD("{\"x\":{\"q\\n\":1,\"q\\n\":2}}", "duplicate key \"q\\n\""); /* escaped in message */
    BAD("[{},{\"k\":[1],\"k\":[2]}]", "duplicate key \"k\"");
    BAD("{\"\":1,\"\":2}", "duplicate key \"\"");
    /* the same key in different objects, or differing in length, is fine */
    CHECK_EQ_INT(OK("[{\"a\":1},{\"a\":2}]")->u.arr.n, 2);
    CHECK_EQ_INT(OK("{\"a\":{\"a\":{\"a\":1}}}")->u.obj.n, 1);
    CHECK_EQ_INT(OK("{\"a\":1,\"aa\":2,\"\":3,\"A\":4}")->u.obj.n, 4);
    /* long keys are cut in the message */
    char big[512];
    int n = snprintf(big, sizeof big, "{\"%0200d\":1,\"%0200d\":2}", 7, 7);
    bad_n(big, (size_t)n, 0, "duplicate key \"00000000", __LINE__);
    CHECK(strstr(errbuf, "...\" at offset") == NULL && strstr(errbuf, "\"...") != NULL);
}

/* Builds {"k0":0,"k1":1,...} with n members, plus a copy of key dup if dup>=0. */
static char *big_object(size_t n, long dup, size_t *len) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++)
        ds_buf_printf(&b, "%s\"key%zu\":%zu", i ? "," : "", i, i);
    if (dup >= 0) ds_buf_printf(&b, ",\"key%ld\":true", dup);
    ds_buf_putc(&b, '}');
    return ds_buf_detach(&b, len);
}

TEST(large_objects) {
    size_t len;
    char *s = big_object(10000, -1, &len);
    json_value *v = parse_n(s, len);
    CHECK_EQ_INT(v->u.obj.n, 10000);
    CHECK_EQ_STR(v->u.obj.members[9999].key, "key9999");
    CHECK_EQ_STR(json_get(v, "key1234")->u.str.s, "1234");
    ds_free(s);

    s = big_object(10000, 1234, &len);
    bad_n(s, len, 0, "duplicate key \"key1234\"", __LINE__);
    char where[64];
    snprintf(where, sizeof where, "at offset %zu", len - strlen("\"key1234\":true}"));
    CHECK(strstr(errbuf, where) != NULL);
    ds_free(s);

    /* around the pairwise/sorted switch */
    for (size_t n = 14; n <= 19; n++) {
        s = big_object(n, -1, &len);
        CHECK_EQ_INT(parse_n(s, len)->u.obj.n, n);
        ds_free(s);
        for (long d = 0; d < (long)n; d += 5) {
            s = big_object(n, d, &len);
            char frag[64];
            snprintf(frag, sizeof frag, "duplicate key \"key%ld\"", d);
            bad_n(s, len, 0, frag, __LINE__);
            ds_free(s);
        }
    }
    /* two duplicated keys: the message names the one that repeats first */
    BAD("{\"a\":0,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,\"g\":0,\"h\":0,\"i\":0,\"j\":0,"
        "\"k\":0,\"l\":0,\"m\":0,\"n\":0,\"o\":0,\"p\":0,\"z\":0,\"q\":0,\"z\":1,\"a\":1}",
        "duplicate key \"z\"");
}

TEST(large_object_is_not_quadratic) {
    size_t len;
    char *s = big_object(200000, 199998, &len);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bad_n(s, len, 0, "duplicate key \"key199998\"", __LINE__);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (secs > 2.0) T_FAIL("200,000 members took %.2fs", secs);
    ds_free(s);
}

/* ---- writing ----------------------------------------------------------- */

TEST(round_trip) {
    const char *docs[] = {
        "{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.5\"}}}",
        "[null,true,false,0,-0,1.50,1E+400,\"\",\"a\\\"b\\\\c\\n\\u0001\",[],{},[[{}]]]",
        "{\"\\u0000\":\"\\u0000\\u001f\",\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}",
        "\"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f\\r\\t\"",
        "12345678901234567890123456789012345678",
    };
    const char *compact[] = {
        "{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.5\"}}}",
        "[null,true,false,0,-0,1.50,1E+400,\"\",\"a\\\"b\\\\c\\n\\u0001\",[],{},[[{}]]]",
        "{\"\\u0000\":\"\\u0000\\u001f\",\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}",
        "\"\xf0\x9f\x98\x80 \xc3\xa9 / \\b\\f\\r\\t\"",
        "12345678901234567890123456789012345678",
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(docs); i++) {
        json_value *a = parse_n(docs[i], strlen(docs[i]));
        ds_buf b = DS_BUF_INIT;
        json_write(&b, a);
        CHECK_EQ_STR(b.data, compact[i]);
        json_value *c = parse_n(b.data, b.len);
        CHECK(tree_eq(a, c));
        ds_buf_free(&b);
    }
    /* whitespace goes, everything else stays */
    write_is(OK(" { \"a\" : [ 1 , 2 ] ,\n\"b\" : { } } "), "{\"a\":[1,2],\"b\":{}}");

    size_t len;
    char *s = big_object(1000, -1, &len);
    json_value *a = parse_n(s, len);
    write_is(a, s);
    ds_free(s);
}

TEST(get) {
    json_value *v = OK("{\"a\":1,\"b\":{\"c\":null},\"\":2}");
    CHECK_EQ_STR(json_get(v, "a")->u.str.s, "1");
    CHECK_EQ_INT(json_get(json_get(v, "b"), "c")->type, JSON_NULL);
    CHECK_EQ_STR(json_get(v, "")->u.str.s, "2");
    CHECK(json_get(v, "c") == NULL);
    CHECK(json_get(v, "A") == NULL);
    CHECK(json_get(v, "ab") == NULL);
    CHECK(json_get(NULL, "a") == NULL);
    CHECK(json_get(OK("[1]"), "a") == NULL);
    CHECK(json_get(OK("\"a\""), "a") == NULL);
    CHECK(json_get_n(v, "ab", 1) == json_get(v, "a"));
}

TEST(write_string_escapes) {
    wstr_is("", 0, "\"\"");
    wstr_is("plain", 5, "\"plain\"");
    wstr_is("\"\\/", 3, "\"\\\"\\\\/\"");
    wstr_is("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    wstr_is("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    wstr_is("a\0b", 3, "\"a\\u0000b\"");
    wstr_is("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    wstr_is("a long run of plain text\nthen more plain text\"", 46,
            "\"a long run of plain text\\nthen more plain text\\\"\"");
}

TEST(write_string_replaces_invalid_utf8) {
#define FFFD "\xef\xbf\xbd"
    wstr_is("a\xff"
            "b",
            3, "\"a" FFFD "b\"");
    wstr_is("\x80\x80", 2, "\"" FFFD FFFD "\"");
    wstr_is("\xc0\x80", 2, "\"" FFFD FFFD "\""); /* overlong NUL */
    wstr_is("\xe2\x82", 2, "\"" FFFD "\"");      /* truncated: one U+FFFD */
    wstr_is("\xe2\x82z", 3, "\"" FFFD "z\"");
    wstr_is("\xf0\x9f\x98", 3, "\"" FFFD "\"");
    wstr_is("\xed\xa0\x80", 3, "\"" FFFD FFFD FFFD "\""); /* encoded surrogate */
    wstr_is("\xf4\x90\x80\x80", 4, "\"" FFFD FFFD FFFD FFFD "\"");
    wstr_is("ok\xc3\xa9\xc3\n", 6, "\"ok\xc3\xa9" FFFD "\\n\"");
    wstr_is("abcdefgh\xfe"
            "abcdefgh",
            17, "\"abcdefgh" FFFD "abcdefgh\"");
#undef FFFD
    /* appends to what is already there */
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "x=");
    json_write_string(&b, "y", 1);
    CHECK_EQ_STR(b.data, "x=\"y\"");
    ds_buf_free(&b);
}

/* The string scan goes 16 bytes a step, then 8, then 1: a byte that ends a
 * plain run must be found at every position of every length, by the parser
 * and by the writer alike, and no other byte may stop either. */
TEST(special_byte_found_at_every_position) {
    char in[64], doc[80], want[80];
    for (int n = 1; n <= 40; n++)
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 256; c++) {
                memset(in, 'a', (size_t)n);
                in[i] = (char)c;
                int special = c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
                /* the parser */
                doc[0] = '"';
                memcpy(doc + 1, in, (size_t)n);
                doc[n + 1] = '"';
                json_value *v = NULL;
                int rc = json_parse(arena(), doc, (size_t)n + 2, 0, &v, errbuf, sizeof errbuf);
                if (!special) {
                    CHECK_EQ_INT(rc, DS_OK);
                    check_str(v, in, (size_t)n);
                } else if (c != '\\' || i < n - 1) { /* rejected where it is */
                    /* a quote ends the string there: what follows it is left over */
                    snprintf(want, sizeof want, " at offset %d", c == '"' ? i + 2 : i + 1);
                    CHECK_EQ_INT(rc, DS_EPARSE);
                    if (!strstr(errbuf, want)) T_FAIL("n %d i %d c %d: %s", n, i, c, errbuf);
                }
                /* the writer: the first i bytes copied, then the byte's own form */
                ds_buf b = DS_BUF_INIT;
                json_write_string(&b, in, (size_t)n);
                if (!special) {
                    CHECK_EQ_INT(b.len, (size_t)n + 2);
                    CHECK_EQ_MEM(b.data + 1, in, (size_t)n);
                } else {
                    CHECK_EQ_MEM(b.data + 1, in, (size_t)i);
                    CHECK(b.data[1 + i] == '\\' ||
                          (c >= 0x80 && !memcmp(b.data + 1 + i, "\xef\xbf\xbd", 3)));
                }
                ds_buf_free(&b);
                ds_arena_reset(arena());
            }
}

TEST(arena_reuse) {
    ds_arena *a = ds_arena_new(1024);
    for (int i = 0; i < 1000; i++) {
        json_value *v;
        const char *s = "{\"a\":[1,2,3,{\"b\":\"\\u00e9\"}],\"c\":\"plain string\"}";
        CHECK_EQ_INT(json_parse(a, s, strlen(s), 0, &v, NULL, 0), DS_OK);
        STR_IS(json_get(json_get(v, "a")->u.arr.items[3], "b"), "\xc3\xa9");
        ds_arena_reset(a);
    }
    ds_arena_free(a);
}

TEST_MAIN()
