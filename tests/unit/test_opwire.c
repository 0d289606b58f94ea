/* test_opwire.c -- the internal RPC bodies of ops and reads (cluster/opwire.h):
 * round trips of every field and every item type, the streaming answer form,
 * the apply-kind registry with the real "ddb" and "merge" decoders running
 * on a table of their own, and bad input refused with DS_EPARSE. */
#include "api/ddb_int.h"
#include "cluster/opwire.h"
#include "common/base64.h"
#include "control/meta.h"
#include "engine/keycodec.h"
#include "t.h"

/* ---- fixtures ------------------------------------------------------------------ */
static item_value *mk(ds_arena *a, item_type t) {
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = t;
    return v;
}
static item_value *mks(ds_arena *a, item_type t, const char *p, size_t n) {
    item_value *v = mk(a, t);
    v->u.s.p = p, v->u.s.len = n;
    return v;
}

/* An item holding one attribute of every type, binary bytes included. */
static item_value *every_type(ds_arena *a) {
    static const char bin[] = {0, 1, (char)0xff, '"', '\\', 0};
    item_value *m = mk(a, ITEM_M), *l = mk(a, ITEM_L), *inner = mk(a, ITEM_M);
    item_value *ss = mk(a, ITEM_SS), *ns = mk(a, ITEM_NS), *bs = mk(a, ITEM_BS);
    item_value *bt = mk(a, ITEM_BOOL), *bf = mk(a, ITEM_BOOL);
    bt->u.b = 1;
    ss->u.set.n = ns->u.set.n = bs->u.set.n = 2;
    ss->u.set.elems = ds_arena_alloc(a, 2 * sizeof(ds_slice));
    ns->u.set.elems = ds_arena_alloc(a, 2 * sizeof(ds_slice));
    bs->u.set.elems = ds_arena_alloc(a, 2 * sizeof(ds_slice));
    ss->u.set.elems[0] = (ds_slice){"x", 1}, ss->u.set.elems[1] = (ds_slice){"\xc3\xa9", 2};
    ns->u.set.elems[0] = (ds_slice){"1", 1}, ns->u.set.elems[1] = (ds_slice){"-1.5E+30", 8};
    bs->u.set.elems[0] = (ds_slice){bin, 6}, bs->u.set.elems[1] = (ds_slice){"", 0};
    l->u.l.n = 3;
    l->u.l.items = ds_arena_alloc(a, 3 * sizeof(item_value *));
    l->u.l.items[0] = mk(a, ITEM_NULL), l->u.l.items[1] = bf, l->u.l.items[2] = inner;
    inner->u.m.n = 1;
    inner->u.m.attrs = ds_arena_alloc(a, sizeof(item_attr));
    inner->u.m.attrs[0] =
        (item_attr){"deep", 4, mks(a, ITEM_N, "123456789012345678901234567890.12345678", 39)};
    item_attr at[] = {{"s", 1, mks(a, ITEM_S, "h\"\\\n\xe2\x82\xac", 7)},
                      {"n", 1, mks(a, ITEM_N, "0.000001", 8)},
                      {"b", 1, mks(a, ITEM_B, bin, 6)},
                      {"t", 1, bt},
                      {"z", 1, mk(a, ITEM_NULL)},
                      {"l", 1, l},
                      {"ss", 2, ss},
                      {"ns", 2, ns},
                      {"bs", 2, bs},
                      {"", 0, mks(a, ITEM_S, "", 0)}};
    m->u.m.n = DS_ARRAY_LEN(at);
    m->u.m.attrs = ds_arena_memdup(a, at, sizeof at);
    return m;
}

static meta_tenant tenant = {.name = "t1"};

/* A table with a string partition key "pk" and a numeric sort key "sk". */
static meta_table *table(uint64_t id) {
    static meta_table tb;
    memset(&tb, 0, sizeof tb);
    tb.id = id;
    tb.tenant = &tenant;
    strcpy(tb.name, "tbl");
    tb.pk_type = KEY_S, tb.sk_type = KEY_N;
    strcpy(tb.pk_name, "pk"), strcpy(tb.sk_name, "sk");
    atomic_init(&tb.refs, 1);
    return &tb;
}

static void keys_of(ds_op *op, meta_table *tb, const char *pk, const char *sk) {
    key_part p = {KEY_S, pk, strlen(pk)}, s = {KEY_N, sk, strlen(sk)};
    CHECK(keycodec_hash(&p, &op->hash) == DS_OK);
    CHECK(keycodec_data_key(&op->key, tb->id, op->hash, &p, &s) == DS_OK);
    CHECK(keycodec_index_key(&op->ikey, tb->id, &p, &s) == DS_OK);
}

static void same_item(const item_value *a, const item_value *b) {
    CHECK(a && b);
    CHECK(item_identical(a, b));
}

/* ---- ops ------------------------------------------------------------------------- */
TEST(op_plain_put_every_field) {
    ds_arena *a = ds_arena_new(4096);
    meta_table *tb = table(0x0102030405060708ull);
    for (int pre = 0; pre < 3; pre++) {
        ds_op op, back;
        ds_op_init(&op, DS_OP_WRITE, a);
        op.table = tb;
        keys_of(&op, tb, "key\0with nul", "-12.5");
        op.precond = (ds_precond)pre;
        op.item = every_type(a);
        op.want_old = pre == 1;
        op.max_item_bytes = 409600;
        op.async = pre == 2;
        ds_buf b = DS_BUF_INIT;
        CHECK(opwire_encode_op(&b, &op) == DS_OK);
        ds_op_init(&back, DS_OP_WRITE, a);
        uint64_t id = 0;
        const json_value *apply = (void *)1;
        char err[256];
        CHECK(opwire_decode_op(b.data, b.len, &back, &id, &apply, err, sizeof err) == DS_OK);
        CHECK(id == tb->id);
        CHECK(apply == NULL && back.apply_kind == NULL);
        CHECK_EQ_INT(back.kind, DS_OP_WRITE);
        CHECK_EQ_INT(back.key.len, op.key.len);
        CHECK_EQ_MEM(back.key.data, op.key.data, op.key.len);
        CHECK_EQ_INT(back.ikey.len, op.ikey.len);
        CHECK_EQ_MEM(back.ikey.data, op.ikey.data, op.ikey.len);
        CHECK(back.hash == op.hash);
        CHECK_EQ_INT(back.precond, pre);
        CHECK_EQ_INT(back.is_delete, 0);
        same_item(back.item, op.item);
        CHECK_EQ_INT(back.want_old, op.want_old);
        CHECK_EQ_INT(back.max_item_bytes, 409600);
        CHECK_EQ_INT(back.async, op.async);
        ds_buf_free(&b);
        ds_op_release(&op);
        ds_op_release(&back);
    }
    ds_arena_free(a);
}

TEST(op_delete_and_defaults) {
    ds_arena *a = ds_arena_new(4096);
    meta_table *tb = table(7);
    ds_op op, back;
    ds_op_init(&op, DS_OP_WRITE, a);
    op.table = tb;
    keys_of(&op, tb, "k", "1");
    op.is_delete = 1;
    op.precond = DS_PRECOND_EXISTS;
    ds_buf b = DS_BUF_INIT;
    CHECK(opwire_encode_op(&b, &op) == DS_OK);
    CHECK(strstr(b.data, "\"async\"") == NULL && strstr(b.data, "\"item\"") == NULL);
    ds_op_init(&back, DS_OP_WRITE, a);
    uint64_t id;
    const json_value *apply;
    CHECK(opwire_decode_op(b.data, b.len, &back, &id, &apply, NULL, 0) == DS_OK);
    CHECK_EQ_INT(back.is_delete, 1);
    CHECK_EQ_INT(back.precond, DS_PRECOND_EXISTS);
    CHECK(back.item == NULL && back.want_old == 0 && back.max_item_bytes == 0 && back.async == 0);
    ds_buf_free(&b);
    ds_op_release(&op);
    ds_op_release(&back);
    ds_arena_free(a);
}

TEST(op_refuses_what_cannot_cross) {
    ds_arena *a = ds_arena_new(4096);
    meta_table *tb = table(7);
    ds_op op;
    ds_buf b = DS_BUF_INIT;
    ds_op_init(&op, DS_OP_META, a);
    op.table = tb;
    CHECK(opwire_encode_op(&b, &op) == DS_EINVAL);
    ds_op_init(&op, DS_OP_WRITE, a);
    CHECK(opwire_encode_op(&b, &op) == DS_EINVAL); /* no table */
    op.table = tb;
    op.apply = (void *)1; /* an apply without its wire form */
    CHECK(opwire_encode_op(&b, &op) == DS_EINVAL);
    op.apply_kind = "merge";
    CHECK(opwire_encode_op(&b, &op) == DS_EINVAL);
    ds_buf_free(&b);
    ds_op_release(&op);
    ds_arena_free(a);
}

TEST(op_apply_embedded_as_json) {
    ds_arena *a = ds_arena_new(4096);
    meta_table *tb = table(9);
    ds_op op, back;
    ds_op_init(&op, DS_OP_WRITE, a);
    op.table = tb;
    keys_of(&op, tb, "k", "2");
    op.apply = (void *)1;
    op.apply_kind = "merge";
    ds_buf_puts(&op.apply_wire, "{\"a\":{\"b\":[1,2.50,null]},\"c\":\"\\u00e9\"}");
    ds_buf b = DS_BUF_INIT, w = DS_BUF_INIT;
    CHECK(opwire_encode_op(&b, &op) == DS_OK);
    ds_op_init(&back, DS_OP_WRITE, a);
    uint64_t id;
    const json_value *apply;
    CHECK(opwire_decode_op(b.data, b.len, &back, &id, &apply, NULL, 0) == DS_OK);
    CHECK_EQ_STR(back.apply_kind, "merge");
    CHECK(apply && apply->type == JSON_OBJECT);
    json_write(&w, apply);
    CHECK_EQ_STR(w.data, "{\"a\":{\"b\":[1,2.50,null]},\"c\":\"\xc3\xa9\"}");
    ds_buf_free(&b), ds_buf_free(&w);
    ds_op_release(&op), ds_op_release(&back);
    ds_arena_free(a);
}

/* ---- answers ------------------------------------------------------------------------ */
TEST(answer_round_trip) {
    ds_arena *a = ds_arena_new(4096);
    int codes[] = {DS_OK,        DS_ECONDITION, DS_EINVAL, DS_EEXIST,
                   DS_ENOTFOUND, DS_ETOOBIG,    DS_ESTATE, DS_ERANGE};
    for (size_t i = 0; i < DS_ARRAY_LEN(codes); i++) {
        opwire_answer in = {codes[i], codes[i] == DS_EINVAL ? "bad \"thing\"\n" : NULL,
                            i % 2 ? every_type(a) : NULL, i % 3 ? every_type(a) : NULL};
        opwire_answer out;
        ds_buf b = DS_BUF_INIT;
        CHECK(opwire_encode_answer(&b, &in) == DS_OK);
        CHECK(opwire_decode_answer(a, b.data, b.len, &out, NULL, 0) == DS_OK);
        CHECK_EQ_INT(out.status, codes[i]);
        CHECK_EQ_STR(out.err, in.err ? in.err : "");
        if (in.old_item)
            same_item(out.old_item, in.old_item);
        else
            CHECK(out.old_item == NULL);
        if (in.new_item)
            same_item(out.new_item, in.new_item);
        else
            CHECK(out.new_item == NULL);
        ds_buf_free(&b);
    }
    ds_arena_free(a);
}

/* ---- reads ----------------------------------------------------------------------------- */
TEST(query_round_trip) {
    ds_arena *a = ds_arena_new(4096);
    opwire_span spans[] = {{0, 99}, {100, 4294967295u}, {7, 7}};
    opwire_query q = {.table = UINT64_MAX - 1,
                      .key = {"\0\1key", 5},
                      .lo = {"\0lo", 3},
                      .hi = {"", 0},
                      .after = {"\xff\xfe", 2},
                      .has_after = 1,
                      .reverse = 1,
                      .start = {"st\0", 3},
                      .limit = 1000,
                      .max_bytes = 1u << 20,
                      .spans = spans,
                      .nspans = 3};
    for (opwire_kind k = OPWIRE_READ; k <= OPWIRE_COUNT; k++) {
        ds_buf b = DS_BUF_INIT;
        opwire_query out;
        opwire_encode_query(&b, k, &q);
        char err[256];
        CHECK(opwire_decode_query(a, k, b.data, b.len, &out, err, sizeof err) == DS_OK);
        CHECK(out.table == q.table);
        if (k == OPWIRE_READ) {
            CHECK_EQ_INT(out.key.len, 5);
            CHECK_EQ_MEM(out.key.p, "\0\1key", 5);
        } else {
            CHECK(out.lo.len == 3 && !memcmp(out.lo.p, "\0lo", 3));
            CHECK(out.hi.len == 0);
            CHECK_EQ_INT(out.nspans, 3);
            for (int i = 0; i < 3; i++)
                CHECK(out.spans[i].low == spans[i].low && out.spans[i].high == spans[i].high);
        }
        if (k == OPWIRE_RANGE) {
            CHECK(out.has_after && out.after.len == 2 && !memcmp(out.after.p, "\xff\xfe", 2));
            CHECK(out.reverse == 1 && out.limit == 1000 && out.max_bytes == 1u << 20);
        }
        if (k == OPWIRE_LIST) {
            CHECK(out.start.len == 3 && !memcmp(out.start.p, "st\0", 3));
            CHECK(out.limit == 1000 && !out.has_after && !out.reverse);
        }
        ds_buf_free(&b);
    }
    /* a range without after */
    q.has_after = 0;
    ds_buf b = DS_BUF_INIT;
    opwire_query out;
    opwire_encode_query(&b, OPWIRE_RANGE, &q);
    CHECK(opwire_decode_query(a, OPWIRE_RANGE, b.data, b.len, &out, NULL, 0) == DS_OK);
    CHECK(!out.has_after);
    ds_buf_free(&b);
    ds_arena_free(a);
}

TEST(result_round_trip) {
    ds_arena *a = ds_arena_new(4096);
    opwire_entry e[3] = {{{"\0k1", 3}, every_type(a), 77},
                         {{"k2", 2}, mk(a, ITEM_NULL), 0},
                         {{"", 0}, mks(a, ITEM_S, "x", 1), 1u << 30}};
    opwire_result in = {DS_OK, every_type(a), e, 3, 1, 18446744073709551615ull}, out;
    for (opwire_kind k = OPWIRE_READ; k <= OPWIRE_COUNT; k++) {
        ds_buf b = DS_BUF_INIT, s = DS_BUF_INIT;
        CHECK(opwire_encode_result(&b, k, &in) == DS_OK);
        CHECK(opwire_decode_result(a, k, b.data, b.len, &out, NULL, 0) == DS_OK);
        CHECK_EQ_INT(out.status, DS_OK);
        if (k == OPWIRE_READ) same_item(out.item, in.item);
        if (k == OPWIRE_COUNT) CHECK(out.count == in.count);
        if (k == OPWIRE_RANGE || k == OPWIRE_LIST) {
            CHECK_EQ_INT(out.n, 3);
            CHECK_EQ_INT(out.more, 1);
            for (int i = 0; i < 3; i++) {
                CHECK(out.entries[i].key.len == e[i].key.len);
                CHECK_EQ_MEM(out.entries[i].key.p, e[i].key.p, e[i].key.len);
                same_item(out.entries[i].item, e[i].item);
                CHECK(out.entries[i].stored_len == (k == OPWIRE_RANGE ? e[i].stored_len : 0));
            }
            /* the streaming form writes the same bytes */
            opwire_entries_begin(&s);
            for (int i = 0; i < 3; i++)
                CHECK(opwire_entries_add(&s, e[i].key.p, e[i].key.len, e[i].item,
                                         k == OPWIRE_RANGE ? (long long)e[i].stored_len : -1) ==
                      DS_OK);
            opwire_entries_end(&s, DS_OK, 1);
            CHECK_EQ_STR(s.data, b.data);
        }
        ds_buf_free(&b), ds_buf_free(&s);
    }
    /* a failed read carries no item; an empty page */
    opwire_result nf = {DS_ENOTFOUND, NULL, NULL, 0, 0, 0};
    ds_buf b = DS_BUF_INIT;
    CHECK(opwire_encode_result(&b, OPWIRE_READ, &nf) == DS_OK);
    CHECK(opwire_decode_result(a, OPWIRE_READ, b.data, b.len, &out, NULL, 0) == DS_OK);
    CHECK(out.status == DS_ENOTFOUND && out.item == NULL);
    ds_buf_reset(&b);
    CHECK(opwire_encode_result(&b, OPWIRE_LIST, &nf) == DS_OK);
    CHECK(opwire_decode_result(a, OPWIRE_LIST, b.data, b.len, &out, NULL, 0) == DS_OK);
    CHECK(out.status == DS_ENOTFOUND && out.n == 0 && !out.more);
    ds_buf_free(&b);
    ds_arena_free(a);
}

/* ---- bad input ---------------------------------------------------------------------------- */
static const char *good_op = "{\"table\":1,\"kind\":\"write\",\"key\":\"AAAAAAAAAAEAAAAA\","
                             "\"ikey\":\"AAAAAAAAAAE=\",\"hash\":0}";

TEST(bad_ops_refused) {
    static const char *bad[] = {
        "",
        "[]",
        "{\"table\":1}",
        "not json",
        "{\"table\":-1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0}",
        "{\"table\":1.5,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0}",
        "{\"table\":18446744073709551616,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0}",
        "{\"table\":1,\"kind\":\"meta\",\"key\":\"\",\"ikey\":\"\",\"hash\":0}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"@@\",\"ikey\":\"\",\"hash\":0}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"AA\",\"ikey\":\"\",\"hash\":0}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":4294967296}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":\"0\"}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"precond\":"
        "\"maybe\"}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"delete\":1}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"item\":\"AA==\"}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"applyKind\":"
        "\"ddb\"}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"apply\":{}}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"item\":\"BgA=\","
        "\"applyKind\":\"merge\",\"apply\":{}}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"maxItemBytes\":-"
        "4}",
        "{\"table\":1,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,\"async\":\"yes\"}",
    };
    ds_arena *a = ds_arena_new(4096);
    for (size_t i = 0; i < DS_ARRAY_LEN(bad); i++) {
        ds_op op;
        ds_op_init(&op, DS_OP_WRITE, a);
        uint64_t id;
        const json_value *apply;
        char err[256] = "";
        int rc = opwire_decode_op(bad[i], strlen(bad[i]), &op, &id, &apply, err, sizeof err);
        if (rc != DS_EPARSE) T_FAIL("case %zu: %d for %s", i, rc, bad[i]);
        CHECK(err[0]); /* every refusal says why */
        ds_op_release(&op);
    }
    ds_op op;
    ds_op_init(&op, DS_OP_WRITE, a);
    uint64_t id;
    const json_value *apply;
    CHECK(opwire_decode_op(good_op, strlen(good_op), &op, &id, &apply, NULL, 0) == DS_OK);
    CHECK(op.key.len == 12 && op.ikey.len == 8 && id == 1);
    ds_op_release(&op);
    ds_arena_free(a);
}

TEST(bad_answers_and_queries_refused) {
    static const char *answers[] = {"{}",
                                    "{\"status\":1}",
                                    "{\"status\":\"0\"}",
                                    "{\"status\":-99999}",
                                    "{\"status\":0,\"old\":\"AA\"}",
                                    "{\"status\":0,\"new\":5}",
                                    "{\"status\":0,\"err\":7}",
                                    "[0]"};
    ds_arena *a = ds_arena_new(4096);
    opwire_answer ans;
    for (size_t i = 0; i < DS_ARRAY_LEN(answers); i++)
        if (opwire_decode_answer(a, answers[i], strlen(answers[i]), &ans, NULL, 0) != DS_EPARSE)
            T_FAIL("answer %zu accepted: %s", i, answers[i]);
    static const struct {
        opwire_kind k;
        const char *s;
    } queries[] = {
        {OPWIRE_READ, "{\"table\":1}"},
        {OPWIRE_READ, "{\"key\":\"\"}"},
        {OPWIRE_COUNT, "{\"table\":1,\"lo\":\"\",\"hi\":\"\"}"},
        {OPWIRE_COUNT, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[]}"},
        {OPWIRE_COUNT, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[[5,4]]}"},
        {OPWIRE_COUNT, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[[0,4294967296]]}"},
        {OPWIRE_COUNT, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[[0]]}"},
        {OPWIRE_COUNT, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[0,1]}"},
        {OPWIRE_RANGE, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[[0,1]]}"},
        {OPWIRE_RANGE, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[[0,1]],\"limit\":1,"
                       "\"after\":\"%\"}"},
        {OPWIRE_LIST, "{\"table\":1,\"lo\":\"\",\"hi\":\"\",\"spans\":[[0,1]],\"limit\":1}"},
    };
    opwire_query q;
    for (size_t i = 0; i < DS_ARRAY_LEN(queries); i++)
        if (opwire_decode_query(a, queries[i].k, queries[i].s, strlen(queries[i].s), &q, NULL, 0) !=
            DS_EPARSE)
            T_FAIL("query %zu accepted: %s", i, queries[i].s);
    static const struct {
        opwire_kind k;
        const char *s;
    } results[] = {
        {OPWIRE_READ, "{\"status\":0}"}, /* OK without its item */
        {OPWIRE_RANGE, "{\"status\":0}"},
        {OPWIRE_RANGE, "{\"status\":0,\"entries\":[[\"\",\"BgA=\"]]}"},
        {OPWIRE_LIST, "{\"status\":0,\"entries\":[[\"\",\"BgA=\",1]]}"},
        {OPWIRE_LIST, "{\"status\":0,\"entries\":[[\"\",\"Bg==\"]]}"},
        {OPWIRE_RANGE, "{\"status\":0,\"entries\":[[\"\",\"BgA=\",-1]]}"},
        {OPWIRE_COUNT, "{\"status\":0}"},
        {OPWIRE_COUNT, "{\"status\":0,\"n\":-1}"},
    };
    opwire_result r;
    for (size_t i = 0; i < DS_ARRAY_LEN(results); i++)
        if (opwire_decode_result(a, results[i].k, results[i].s, strlen(results[i].s), &r, NULL,
                                 0) != DS_EPARSE)
            T_FAIL("result %zu accepted: %s", i, results[i].s);
    ds_arena_free(a);
}

/* ---- apply kinds --------------------------------------------------------------------------- */
static int test_apply(ds_op *op, const item_value *old, item_value **out) {
    (void)old;
    *out = op->apply_arg;
    return DS_OK;
}
static int test_decode(ds_op *op, meta_table *tb, const json_value *wire, char *err,
                       size_t errlen) {
    (void)tb, (void)err, (void)errlen;
    if (wire->type != JSON_STRING) return DS_EPARSE;
    op->apply = test_apply;
    op->apply_arg = mks(op->arena, ITEM_S, wire->u.str.s, wire->u.str.len);
    return DS_OK;
}

TEST(registry) {
    ds_arena *a = ds_arena_new(4096);
    opwire_register_apply("test", test_decode);
    ds_op op;
    ds_op_init(&op, DS_OP_WRITE, a);
    json_value w = {.type = JSON_STRING, .u.str = {"hello", 5}}, bad = {.type = JSON_NULL};
    char err[128];
    op.apply_kind = "test";
    CHECK(opwire_apply_build(&op, table(1), &w, err, sizeof err) == DS_OK);
    item_value *out;
    CHECK(op.apply(&op, NULL, &out) == DS_OK && out->u.s.len == 5);
    CHECK(opwire_apply_build(&op, table(1), &bad, err, sizeof err) == DS_EPARSE);
    op.apply_kind = "nosuch";
    CHECK(opwire_apply_build(&op, table(1), &w, err, sizeof err) == DS_EINVAL);
    CHECK(strstr(err, "nosuch") != NULL);
    ds_op_release(&op);
    ds_arena_free(a);
}

/* The apply kinds register from constructors in their own objects: a test
 * must reference those objects for the linker to keep them. */
void *volatile linked;

/* Decodes an op request carrying a "ddb" apply built by hand, the way the
 * node does, and runs its apply on an old item. */
static int run_ddb(ds_arena *a, const char *wire, const item_value *old, item_value **out,
                   ds_op *op, char *err, size_t errlen) {
    meta_table *tb = table(3);
    ds_buf body = DS_BUF_INIT;
    ds_buf_printf(&body,
                  "{\"table\":3,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,"
                  "\"applyKind\":\"ddb\",\"apply\":%s,\"wantOld\":true}",
                  wire);
    ds_op_init(op, DS_OP_WRITE, a);
    uint64_t id;
    const json_value *apply;
    int rc = opwire_decode_op(body.data, body.len, op, &id, &apply, err, errlen);
    ds_buf_free(&body);
    if (rc) return rc;
    op->table = tb;
    op->err = err, op->errlen = errlen;
    if ((rc = opwire_apply_build(op, tb, apply, err, errlen))) return rc;
    return op->apply(op, old, out);
}

static void b64item(ds_buf *out, const item_value *v) {
    ds_buf enc = DS_BUF_INIT;
    CHECK(item_encode(&enc, v) == DS_OK);
    base64_encode(out, enc.data, enc.len, 0);
    ds_buf_free(&enc);
}

TEST(ddb_apply_from_wire) {
    linked = (void *)ddb_put_item; /* links api/ddb_write.c, which registers "ddb" */
    ds_arena *a = ds_arena_new(4096);
    ds_buf w = DS_BUF_INIT, v5 = DS_BUF_INIT;
    b64item(&v5, mks(a, ITEM_N, "5", 1));
    /* old item (as stored: without its keys) */
    item_value *old = mk(a, ITEM_M);
    item_attr oa[] = {{"count", 5, mks(a, ITEM_N, "3", 1)}, {"a.b", 3, mks(a, ITEM_S, "x", 1)}};
    old->u.m.attrs = oa, old->u.m.n = 2;
    char err[512] = "";
    ds_op op;
    item_value *out = NULL;

    /* an update with a condition, names and values (legacy-style placeholders too) */
    ds_buf_printf(&w,
                  "{\"kind\":\"update\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],"
                  "\"cond\":\"#c < :v\",\"upd\":\"SET #c = #c + :v REMOVE #__u0\","
                  "\"names\":[[\"#c\",\"count\"],[\"#__u0\",\"a.b\"]],"
                  "\"values\":[[\":v\",\"%s\"]]}",
                  v5.data);
    CHECK(run_ddb(a, w.data, old, &out, &op, err, sizeof err) == DS_OK);
    CHECK(out && out->type == ITEM_M && out->u.m.n == 1); /* keys stripped, a.b removed */
    item_value *c = item_get(out, "count", 5);
    CHECK(c && c->type == ITEM_N && c->u.s.len == 1 && c->u.s.p[0] == '8');
    CHECK(op.old_item == old); /* kept for the answer */
    ds_op_release(&op);

    /* the condition fails: DS_ECONDITION, the old item still kept */
    item_attr oa2[] = {{"count", 5, mks(a, ITEM_N, "9", 1)}};
    item_value *old2 = mk(a, ITEM_M);
    old2->u.m.attrs = oa2, old2->u.m.n = 1;
    CHECK(run_ddb(a, w.data, old2, &out, &op, err, sizeof err) == DS_ECONDITION);
    CHECK(op.old_item == old2);
    ds_op_release(&op);

    /* a runtime error of the update reaches err */
    ds_buf_reset(&w);
    ds_buf_printf(&w,
                  "{\"kind\":\"update\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],"
                  "\"upd\":\"SET #c = #x + :v\",\"names\":[[\"#c\",\"count\"],[\"#x\",\"nope\"]],"
                  "\"values\":[[\":v\",\"%s\"]]}",
                  v5.data);
    err[0] = 0;
    CHECK(run_ddb(a, w.data, old, &out, &op, err, sizeof err) == DS_EINVAL);
    CHECK(strstr(err, "does not exist") != NULL);
    ds_op_release(&op);

    /* a conditional put: the new item is the put item without its keys */
    item_value *put = mk(a, ITEM_M);
    item_attr pa[] = {{"pk", 2, mks(a, ITEM_S, "hi", 2)},
                      {"sk", 2, mks(a, ITEM_N, "1", 1)},
                      {"v", 1, mks(a, ITEM_S, "new", 3)}};
    put->u.m.attrs = pa, put->u.m.n = 3;
    ds_buf pi = DS_BUF_INIT;
    b64item(&pi, put);
    ds_buf_reset(&w);
    ds_buf_printf(&w,
                  "{\"kind\":\"put\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],\"item\":\"%s\","
                  "\"cond\":\"attribute_not_exists(#p)\",\"names\":[[\"#p\",\"pk\"]],"
                  "\"values\":[]}",
                  pi.data);
    CHECK(run_ddb(a, w.data, NULL, &out, &op, err, sizeof err) == DS_OK);
    CHECK(out->u.m.n == 1 && item_get(out, "v", 1) != NULL);
    ds_op_release(&op);
    CHECK(run_ddb(a, w.data, old, &out, &op, err, sizeof err) == DS_ECONDITION);
    ds_op_release(&op);

    /* a conditional delete */
    ds_buf_reset(&w);
    ds_buf_printf(&w,
                  "{\"kind\":\"delete\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],"
                  "\"cond\":\"attribute_exists(#p)\",\"names\":[[\"#p\",\"pk\"]],\"values\":[]}");
    out = (void *)1;
    CHECK(run_ddb(a, w.data, old, &out, &op, err, sizeof err) == DS_OK);
    CHECK(out == NULL);
    ds_op_release(&op);

    /* malformed wire forms fail without running */
    static const char *bad[] = {
        "{\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"]}",
        "{\"kind\":\"upsert\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"]}",
        "{\"kind\":\"update\",\"pk\":[2,\"aGk=\"],\"sk\":[2,\"MQ==\"]}", /* wrong key type */
        "{\"kind\":\"update\",\"pk\":[1,\"aGk=\"]}",                     /* no sort key */
        "{\"kind\":\"put\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"]}",    /* a put without item */
        "{\"kind\":\"update\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],\"names\":[[\"c\",\"x\"]]}",
        "{\"kind\":\"update\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],\"values\":[[\":v\",\"@\"]]}",
        "{\"kind\":\"update\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],\"upd\":5}",
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(bad); i++) {
        int rc = run_ddb(a, bad[i], old, &out, &op, err, sizeof err);
        if (rc != DS_EPARSE) T_FAIL("ddb wire %zu: %d", i, rc);
        ds_op_release(&op);
    }
    /* an expression that does not compile is the client's error */
    CHECK(run_ddb(a,
                  "{\"kind\":\"update\",\"pk\":[1,\"aGk=\"],\"sk\":[2,\"MQ==\"],"
                  "\"upd\":\"SET = 1\"}",
                  old, &out, &op, err, sizeof err) == DS_EINVAL);
    CHECK(strstr(err, "UpdateExpression") != NULL);
    ds_op_release(&op);
    ds_buf_free(&w), ds_buf_free(&v5), ds_buf_free(&pi);
    ds_arena_free(a);
}

TEST(merge_apply_from_wire) {
    linked = (void *)rest_handle; /* links api/rest.c, which registers "merge" */
    ds_arena *a = ds_arena_new(4096);
    meta_table *tb = table(3);
    const char *body =
        "{\"table\":3,\"kind\":\"write\",\"key\":\"\",\"ikey\":\"\",\"hash\":0,"
        "\"applyKind\":\"merge\",\"apply\":{\"a\":null,\"b\":{\"c\":1},\"d\":[true]}}";
    ds_op op;
    ds_op_init(&op, DS_OP_WRITE, a);
    uint64_t id;
    const json_value *apply;
    char err[256];
    CHECK(opwire_decode_op(body, strlen(body), &op, &id, &apply, err, sizeof err) == DS_OK);
    CHECK(opwire_apply_build(&op, tb, apply, err, sizeof err) == DS_OK);
    item_value *old = mk(a, ITEM_M);
    item_attr oa[] = {{"a", 1, mks(a, ITEM_S, "gone", 4)}, {"keep", 4, mk(a, ITEM_NULL)}};
    old->u.m.attrs = oa, old->u.m.n = 2;
    item_value *out;
    CHECK(op.apply(&op, old, &out) == DS_OK);
    ds_buf j = DS_BUF_INIT;
    item_to_json(&j, out);
    CHECK_EQ_STR(j.data, "{\"keep\":null,\"b\":{\"c\":1},\"d\":[true]}");
    ds_buf_free(&j);
    /* the patch must be an object */
    json_value arr = {.type = JSON_ARRAY};
    CHECK(opwire_apply_build(&op, tb, &arr, err, sizeof err) == DS_EPARSE);
    ds_op_release(&op);
    ds_arena_free(a);
}

TEST_MAIN()
