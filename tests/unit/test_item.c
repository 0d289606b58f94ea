/* test_item.c -- the item codec: round trips of every type and of nested
 * trees, every truncation and random corruption of valid encodings, depth
 * limits, plain JSON in and out. */
#include "common/json.h"
#include "engine/item.h"
#include "t.h"

static uint64_t rng = 0xD1B54A32D192ED03ull;
static uint64_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static item_value *mk(ds_arena *a, item_type t) {
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = t;
    return v;
}
static item_value *mks(ds_arena *a, item_type t, const char *p, size_t n) {
    item_value *v = mk(a, t);
    v->u.s.p = p;
    v->u.s.len = n;
    return v;
}

static const char *nums[] = {
    "0",      "1",        "-1",      "1.5", "123456789012345678901234567890.12345678",
    "1e-130", "-9.9E125", "0.000001"};

/* A random tree of at most depth levels. */
static item_value *rnd_tree(ds_arena *a, int depth) {
    int t = 1 + (int)(rnd() % 10);
    if (depth <= 0 && (t == ITEM_M || t == ITEM_L)) t = ITEM_S;
    item_value *v = mk(a, (item_type)t);
    char *buf;
    size_t n;
    switch (v->type) {
    case ITEM_S:
    case ITEM_B:
        n = rnd() % (rnd() % 8 ? 12 : 300);
        buf = ds_arena_alloc(a, n + 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(v->type == ITEM_S ? 'a' + rnd() % 26 : rnd());
        v->u.s.p = buf;
        v->u.s.len = n;
        break;
    case ITEM_N:
        v->u.s.p = nums[rnd() % DS_ARRAY_LEN(nums)];
        v->u.s.len = strlen(v->u.s.p);
        break;
    case ITEM_BOOL:
        v->u.b = (int)(rnd() % 2);
        break;
    case ITEM_NULL:
        break;
    case ITEM_M:
        v->u.m.n = rnd() % 5;
        v->u.m.attrs = ds_arena_alloc(a, v->u.m.n * sizeof(item_attr) + 1);
        for (size_t i = 0; i < v->u.m.n; i++) {
            char *name = ds_arena_alloc(a, 8);
            int nl = snprintf(name, 8, "a%zu", i);
            v->u.m.attrs[i] = (item_attr){name, (size_t)nl, rnd_tree(a, depth - 1)};
        }
        break;
    case ITEM_L:
        v->u.l.n = rnd() % 5;
        v->u.l.items = ds_arena_alloc(a, v->u.l.n * sizeof(item_value *) + 1);
        for (size_t i = 0; i < v->u.l.n; i++)
            v->u.l.items[i] = rnd_tree(a, depth - 1);
        break;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        v->u.set.n = 1 + rnd() % 4;
        v->u.set.elems = ds_arena_alloc(a, v->u.set.n * sizeof(ds_slice));
        for (size_t i = 0; i < v->u.set.n; i++) {
            if (v->type == ITEM_NS) {
                const char *s = nums[rnd() % DS_ARRAY_LEN(nums)];
                v->u.set.elems[i] = (ds_slice){s, strlen(s)};
            } else {
                n = rnd() % 6;
                buf = ds_arena_alloc(a, n + 1);
                for (size_t k = 0; k < n; k++)
                    buf[k] = (char)rnd();
                v->u.set.elems[i] = (ds_slice){buf, n};
            }
        }
        break;
    }
    return v;
}

static void check_roundtrip(ds_arena *a, const item_value *v) {
    ds_buf b = DS_BUF_INIT, b2 = DS_BUF_INIT;
    CHECK_EQ_INT(item_encode(&b, v), DS_OK);
    item_value *back = NULL;
    CHECK_EQ_INT(item_decode(a, b.data, b.len, &back), DS_OK);
    CHECK(item_identical(v, back));
    CHECK_EQ_INT(item_encode(&b2, back), DS_OK);
    CHECK_EQ_INT(b2.len, b.len);
    CHECK_EQ_MEM(b2.data, b.data, b.len);
    ds_buf_free(&b);
    ds_buf_free(&b2);
}

TEST(every_type_roundtrips) {
    ds_arena *a = ds_arena_new(4096);
    check_roundtrip(a, mks(a, ITEM_S, "hello", 5));
    check_roundtrip(a, mks(a, ITEM_S, "", 0));
    check_roundtrip(a, mks(a, ITEM_N, "-12.50", 6)); /* text kept exactly */
    check_roundtrip(a, mks(a, ITEM_B, "\0\1\2\xff", 4));
    item_value *t = mk(a, ITEM_BOOL);
    t->u.b = 1;
    check_roundtrip(a, t);
    check_roundtrip(a, mk(a, ITEM_BOOL));
    check_roundtrip(a, mk(a, ITEM_NULL));
    check_roundtrip(a, mk(a, ITEM_M)); /* empty map */
    check_roundtrip(a, mk(a, ITEM_L)); /* empty list */
    item_value *ss = mk(a, ITEM_SS);
    ds_slice el[3] = {{"a", 1}, {"bb", 2}, {"", 0}};
    ss->u.set.elems = el;
    ss->u.set.n = 3;
    check_roundtrip(a, ss);
    ss->type = ITEM_BS;
    check_roundtrip(a, ss);
    ds_slice nel[2] = {{"1", 1}, {"2.5", 3}};
    ss->type = ITEM_NS;
    ss->u.set.elems = nel;
    ss->u.set.n = 2;
    check_roundtrip(a, ss);
    /* a long string needs a multi-byte varint */
    char *big = ds_arena_alloc(a, 70000);
    memset(big, 'x', 70000);
    check_roundtrip(a, mks(a, ITEM_S, big, 70000));
    /* exact bytes of a small item: {"k": S "v", "n": N "1"} */
    item_attr at[2] = {{"k", 1, mks(a, ITEM_S, "v", 1)}, {"n", 1, mks(a, ITEM_N, "1", 1)}};
    item_value *m = mk(a, ITEM_M);
    m->u.m.attrs = at;
    m->u.m.n = 2;
    ds_buf b = DS_BUF_INIT;
    CHECK_EQ_INT(item_encode(&b, m), DS_OK);
    CHECK_EQ_INT(b.len, 12);
    CHECK_EQ_MEM(b.data, "\x06\x02\x01k\x01\x01v\x01n\x02\x01\x31", 12);
    CHECK(item_get(m, "n", 1) == at[1].value);
    CHECK(item_get(m, "x", 1) == NULL);
    CHECK(item_get(at[0].value, "k", 1) == NULL);
    ds_buf_free(&b);
    ds_arena_free(a);
}

TEST(random_trees_roundtrip) {
    ds_arena *a = ds_arena_new(1 << 16);
    for (int i = 0; i < 5000; i++) {
        check_roundtrip(a, rnd_tree(a, 6));
        ds_arena_reset(a);
    }
    ds_arena_free(a);
}

TEST(truncations_and_corruption_fail_cleanly) {
    ds_arena *a = ds_arena_new(1 << 16);
    ds_buf b = DS_BUF_INIT, copy = DS_BUF_INIT;
    long decoded = 0, rejected = 0;
    for (int i = 0; i < 400; i++) {
        item_value *v = rnd_tree(a, 5);
        ds_buf_reset(&b);
        CHECK_EQ_INT(item_encode(&b, v), DS_OK);
        item_value *out;
        for (size_t cut = 0; cut < b.len; cut++) /* every strict prefix is malformed */
            if (item_decode(a, b.data, cut, &out) != DS_ECORRUPT)
                T_FAIL("prefix of %zu/%zu bytes decoded", cut, b.len);
        /* trailing garbage */
        ds_buf_reset(&copy);
        ds_buf_append(&copy, b.data, b.len);
        ds_buf_putc(&copy, 5);
        CHECK_EQ_INT(item_decode(a, copy.data, copy.len, &out), DS_ECORRUPT);
        /* random byte flips: never crash; whatever decodes re-encodes */
        for (int f = 0; f < 50; f++) {
            ds_buf_reset(&copy);
            ds_buf_append(&copy, b.data, b.len);
            int flips = 1 + (int)(rnd() % 3);
            for (int k = 0; k < flips; k++)
                copy.data[rnd() % copy.len] ^= (char)(1 + rnd() % 255);
            if (item_decode(a, copy.data, copy.len, &out) == DS_OK) {
                decoded++;
                ds_buf re = DS_BUF_INIT;
                CHECK_EQ_INT(item_encode(&re, out), DS_OK);
                CHECK_EQ_INT(re.len, copy.len);
                CHECK_EQ_MEM(re.data, copy.data, copy.len);
                ds_buf_free(&re);
            } else {
                rejected++;
            }
        }
        ds_arena_reset(a);
    }
    /* pure random bytes */
    for (int i = 0; i < 100000; i++) {
        unsigned char r[24];
        size_t n = rnd() % sizeof r;
        for (size_t k = 0; k < n; k++)
            r[k] = (unsigned char)(rnd() % 12);
        item_value *out;
        if (item_decode(a, r, n, &out) == DS_OK)
            decoded++;
        else
            rejected++;
        if (i % 1000 == 0) ds_arena_reset(a);
    }
    printf("  corrupted inputs: %ld decoded, %ld rejected\n", decoded, rejected);
    CHECK(rejected > 0);
    ds_buf_free(&b);
    ds_buf_free(&copy);
    ds_arena_free(a);
}

TEST(malformed_fixed) {
    ds_arena *a = ds_arena_new(4096);
    static const struct {
        const char *p;
        size_t n;
    } m[] = {
        {"", 0},
        {"\x00", 1}, /* tag 0 */
        {"\x0b", 1}, /* tag 11 */
        {"\x01", 1}, /* S without length */
        {"\x01\x02"
         "a",
         3},                 /* length past the end */
        {"\x01\x80\x00", 3}, /* overlong varint 0 */
        {"\x01\x81\x00"
         "a",
         4},                                                  /* overlong varint 1 */
        {"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11}, /* 2^64-ish */
        {"\x04\x02", 2},                                      /* BOOL 2 */
        {"\x04", 1},                                          /* BOOL without byte */
        {"\x02\x01x", 3},                                     /* N not a number */
        {"\x02\x04"
         "1e99",
         6}, /* N within syntax but... 1e99 is fine: see below */
        {"\x09\x01\x02"
         "1x",
         5},             /* NS element not a number */
        {"\x06\x05", 2}, /* M count past the end */
        {"\x06\x01\x01"
         "a",
         4},                 /* M attr without value */
        {"\x07\x02\x05", 3}, /* L short by one element */
        {"\x05\x05", 2},     /* trailing byte */
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(m); i++) {
        item_value *out;
        int rc = item_decode(a, m[i].p, m[i].n, &out);
        if (i == 11) {
            CHECK_EQ_INT(rc, DS_OK);
            continue;
        }
        if (rc != DS_ECORRUPT) T_FAIL("malformed case %zu decoded", i);
    }
    ds_arena_free(a);
}

TEST(depth_limit) {
    ds_arena *a = ds_arena_new(4096);
    /* 64 nested lists are fine; 65 are not */
    for (int depth = 63; depth <= 66; depth++) {
        item_value *v = mk(a, ITEM_NULL);
        for (int i = 0; i < depth; i++) {
            item_value *l = mk(a, ITEM_L);
            l->u.l.items = ds_arena_alloc(a, sizeof(item_value *));
            l->u.l.items[0] = v;
            l->u.l.n = 1;
            v = l;
        }
        ds_buf b = DS_BUF_INIT;
        int rc = item_encode(&b, v);
        CHECK_EQ_INT(rc, depth <= ITEM_MAX_DEPTH ? DS_OK : DS_EINVAL);
        /* hand-built bytes of the same depth */
        ds_buf_reset(&b);
        for (int i = 0; i < depth; i++)
            ds_buf_append(&b, "\x07\x01", 2);
        ds_buf_putc(&b, 5);
        item_value *out;
        CHECK_EQ_INT(item_decode(a, b.data, b.len, &out),
                     depth <= ITEM_MAX_DEPTH ? DS_OK : DS_ECORRUPT);
        ds_buf_free(&b);
    }
    /* a very deep input cannot blow the stack */
    ds_buf b = DS_BUF_INIT;
    for (int i = 0; i < 100000; i++)
        ds_buf_append(&b, "\x06\x01\x00", 3);
    item_value *out;
    CHECK_EQ_INT(item_decode(a, b.data, b.len, &out), DS_ECORRUPT);
    ds_buf_free(&b);
    ds_arena_free(a);
}

TEST(json_in_and_out) {
    ds_arena *a = ds_arena_new(4096);
    const char *txt = "{\"name\":\"Ann\",\"age\":42,\"pi\":3.1400,\"big\":1.5e3,\"ok\":true,"
                      "\"no\":false,\"nil\":null,\"tags\":[\"a\",1,[],{}],"
                      "\"nested\":{\"z\":{\"y\":\"\\u00e9\\n\\\"\"}},\"nul\":\"a\\u0000b\"}";
    char err[128];
    json_value *j;
    CHECK_EQ_INT(json_parse(a, txt, strlen(txt), 0, &j, err, sizeof err), DS_OK);
    item_value *v;
    CHECK_EQ_INT(item_from_json(a, j, &v, err, sizeof err), DS_OK);
    CHECK_EQ_INT(v->type, ITEM_M);
    CHECK_EQ_INT(v->u.m.n, 10);
    CHECK_EQ_STR(v->u.m.attrs[0].name, "name"); /* order kept */
    item_value *pi = item_get(v, "pi", 2);
    CHECK(pi && pi->type == ITEM_N && pi->u.s.len == 6 && !memcmp(pi->u.s.p, "3.1400", 6));
    item_value *nul = item_get(v, "nul", 3);
    CHECK(nul && nul->u.s.len == 3 && !memcmp(nul->u.s.p, "a\0b", 3));
    check_roundtrip(a, v);
    ds_buf out = DS_BUF_INIT;
    item_to_json(&out, v);
    CHECK_EQ_STR(out.data, "{\"name\":\"Ann\",\"age\":42,\"pi\":3.1400,\"big\":1.5e3,\"ok\":true,"
                           "\"no\":false,\"nil\":null,\"tags\":[\"a\",1,[],{}],"
                           "\"nested\":{\"z\":{\"y\":\"\xc3\xa9\\n\\\"\"}},\"nul\":\"a\\u0000b\"}");
    /* the output parses back to the same tree */
    json_value *j2;
    CHECK_EQ_INT(json_parse(a, out.data, out.len, 0, &j2, err, sizeof err), DS_OK);
    item_value *v2;
    CHECK_EQ_INT(item_from_json(a, j2, &v2, err, sizeof err), DS_OK);
    CHECK(item_identical(v, v2));

    /* B and sets become base64 strings and arrays */
    item_value *m = mk(a, ITEM_M);
    item_value *bs = mk(a, ITEM_BS);
    ds_slice bel[2] = {{"\xff\x00", 2}, {"hi", 2}};
    bs->u.set.elems = bel;
    bs->u.set.n = 2;
    item_value *ns = mk(a, ITEM_NS);
    ds_slice nel[2] = {{"1", 1}, {"-2.5", 4}};
    ns->u.set.elems = nel;
    ns->u.set.n = 2;
    item_value *ss = mk(a, ITEM_SS);
    ds_slice sel[1] = {{"q\"", 2}};
    ss->u.set.elems = sel;
    ss->u.set.n = 1;
    item_attr at[4] = {
        {"b", 1, mks(a, ITEM_B, "abc", 3)}, {"bs", 2, bs}, {"ns", 2, ns}, {"ss", 2, ss}};
    m->u.m.attrs = at;
    m->u.m.n = 4;
    ds_buf_reset(&out);
    item_to_json(&out, m);
    CHECK_EQ_STR(out.data,
                 "{\"b\":\"YWJj\",\"bs\":[\"/wA=\",\"aGk=\"],\"ns\":[1,-2.5],\"ss\":[\"q\\\"\"]}");

    /* numbers DynamoDB would refuse are kept exactly: the REST API stores any
     * JSON number, and the DynamoDB API checks its own range at its door */
    const char *wide[] = {"{\"n\":1e200}", "[123456789012345678901234567890123456789]",
                          "1e-131", "-0.0E+00"};
    for (size_t i = 0; i < DS_ARRAY_LEN(wide); i++) {
        CHECK_EQ_INT(json_parse(a, wide[i], strlen(wide[i]), 0, &j, err, sizeof err), DS_OK);
        CHECK_EQ_INT(item_from_json(a, j, &v, err, sizeof err), DS_OK);
        ds_buf enc = DS_BUF_INIT;
        item_value *back;
        CHECK_EQ_INT(item_encode(&enc, v), DS_OK);
        CHECK_EQ_INT(item_decode(a, enc.data, enc.len, &back), DS_OK);
        ds_buf_reset(&out);
        item_to_json(&out, back);
        CHECK_EQ_STR(out.data, wide[i]);
        ds_buf_free(&enc);
    }
    ds_buf_free(&out);
    ds_arena_free(a);
}

TEST_MAIN()
