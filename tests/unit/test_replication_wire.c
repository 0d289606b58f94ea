/* test_replication_wire.c -- the replicate message, catch-up pages and the
 * range position record (cluster/replication.h): round trips, and every
 * kind of malformed input refused. */
#include <string.h>

#include "cluster/replication.h"
#include "t.h"

static const char *UUID = "0123abcd-0000-4000-8000-00000000beef";

static void key_of(char *k, uint64_t table, uint32_t hash, const char *pk) {
    ds_put_u64be(k, table);
    ds_put_u32be(k + 8, hash);
    memcpy(k + 12, pk, strlen(pk));
}

/* Builds a message with one section of three mutations plus a probe. */
static void build(ds_buf *b, uint64_t table, uint32_t low, uint32_t high) {
    char k1[20], k2[20], k3[20];
    key_of(k1, table, low, "aaaa");
    key_of(k2, table, low + 5, "bbbb");
    key_of(k3, table, high, "cccc");
    replica_mut m[3] = {{k1, 16, "v1", 2, NULL}, {k2, 16, NULL, 0, NULL}, {k3, 16, "", 0, NULL}};
    ds_buf body = DS_BUF_INIT;
    repl_wire_muts(&body, m, 3);
    repl_wire_header(b, UUID, 2);
    repl_wsection s = {table, low, high, 7, 6, 41, 42, 99, NULL, 0};
    repl_wire_section(b, &s, body.data, body.len, 3);
    repl_wsection p = {table, low, high, 7, 7, 42, 42, 0, NULL, 0};
    repl_wire_section(b, &p, NULL, 0, 0);
    ds_buf_free(&body);
}

TEST(roundtrip) {
    ds_buf b = DS_BUF_INIT;
    build(&b, 5, 1000, 2000);
    ds_arena *a = ds_arena_new(1024);
    repl_wmsg m;
    CHECK_EQ_INT(repl_wire_decode(a, b.data, b.len, &m), DS_OK);
    CHECK_EQ_STR(m.sender, UUID);
    CHECK_EQ_INT(m.nsections, 2);
    repl_wsection *s = &m.sections[0];
    CHECK_EQ_INT(s->table_id, 5);
    CHECK_EQ_INT(s->low, 1000);
    CHECK_EQ_INT(s->high, 2000);
    CHECK_EQ_INT(s->epoch, 7);
    CHECK_EQ_INT(s->prev_epoch, 6);
    CHECK_EQ_INT(s->prev_seq, 41);
    CHECK_EQ_INT(s->seq, 42);
    CHECK_EQ_INT(s->session, 99);
    CHECK_EQ_INT(s->nmuts, 3);
    CHECK_EQ_INT(s->muts[0].vlen, 2);
    CHECK(!memcmp(s->muts[0].value, "v1", 2));
    CHECK(s->muts[1].value == NULL);
    CHECK(s->muts[2].value != NULL && s->muts[2].vlen == 0);
    CHECK_EQ_INT(ds_get_u32be(s->muts[2].key + 8), 2000);
    CHECK_EQ_INT(m.sections[1].nmuts, 0);
    CHECK_EQ_INT(m.sections[1].seq, 42);
    /* re-encoding gives the same bytes */
    ds_buf b2 = DS_BUF_INIT, body = DS_BUF_INIT;
    repl_wire_header(&b2, m.sender, 2);
    for (size_t i = 0; i < 2; i++) {
        ds_buf_reset(&body);
        repl_wire_muts(&body, m.sections[i].muts, m.sections[i].nmuts);
        repl_wire_section(&b2, &m.sections[i], body.data, body.len,
                          (uint32_t)m.sections[i].nmuts);
    }
    CHECK_EQ_INT(b2.len, b.len);
    CHECK_EQ_MEM(b2.data, b.data, b.len);
    ds_buf_free(&b), ds_buf_free(&b2), ds_buf_free(&body);
    ds_arena_free(a);
}

TEST(every_truncation_is_refused) {
    ds_buf b = DS_BUF_INIT;
    build(&b, 5, 1000, 2000);
    ds_arena *a = ds_arena_new(1024);
    repl_wmsg m;
    for (size_t n = 0; n < b.len; n++) CHECK_EQ_INT(repl_wire_decode(a, b.data, n, &m), DS_EPARSE);
    ds_buf_append(&b, "x", 1);
    CHECK_EQ_INT(repl_wire_decode(a, b.data, b.len, &m), DS_EPARSE);
    ds_buf_free(&b);
    ds_arena_free(a);
}

/* Flips one field at a time to something invalid. */
TEST(bad_fields_are_refused) {
    ds_buf b = DS_BUF_INIT;
    build(&b, 5, 1000, 2000);
    ds_arena *a = ds_arena_new(1024);
    repl_wmsg m;
    struct {
        size_t off;
        unsigned char v;
    } cases[] = {
        {0, 'X'},       /* magic */
        {4, 'Z'},       /* uuid not hex */
        {12, '0'},      /* uuid dash missing */
        {43, 0},        /* section count 0 -> 0x00000000 (byte 43 is the low byte: 2 -> 0) */
        {44 + 7, 6},    /* table id 5 -> 6: keys are not of this table */
        {44 + 8, 0xff}, /* low > high */
        {44 + 24 + 7, 8}, /* prev_epoch 6 -> 8 > epoch 7 */
        {44 + 40 + 7, 44}, /* seq 42 -> 44: not prev + 1 */
        {44 + 64, 3},   /* mutation kind 3 */
        {44 + 64 + 4, 12}, /* key length 16 -> 12: too short for a data key */
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        ds_buf c = DS_BUF_INIT;
        ds_buf_append(&c, b.data, b.len);
        ((unsigned char *)c.data)[cases[i].off] = cases[i].v;
        if (repl_wire_decode(a, c.data, c.len, &m) != DS_EPARSE)
            T_FAIL("case %zu (offset %zu) was accepted", i, cases[i].off);
        ds_buf_free(&c);
    }
    ds_buf_free(&b);
    ds_arena_free(a);
}

TEST(keys_must_lie_in_the_range) {
    char k[20];
    key_of(k, 5, 2001, "zzzz"); /* above high */
    replica_mut mu = {k, 16, "v", 1, NULL};
    ds_buf body = DS_BUF_INIT, b = DS_BUF_INIT;
    repl_wire_muts(&body, &mu, 1);
    repl_wire_header(&b, UUID, 1);
    repl_wsection s = {5, 1000, 2000, 1, 1, 0, 1, 0, NULL, 0};
    repl_wire_section(&b, &s, body.data, body.len, 1);
    ds_arena *a = ds_arena_new(1024);
    repl_wmsg m;
    CHECK_EQ_INT(repl_wire_decode(a, b.data, b.len, &m), DS_EPARSE);
    /* a probe must not carry mutations */
    key_of(k, 5, 1500, "zzzz");
    ds_buf_reset(&body), ds_buf_reset(&b);
    repl_wire_muts(&body, &mu, 1);
    repl_wire_header(&b, UUID, 1);
    repl_wsection p = {5, 1000, 2000, 1, 1, 3, 3, 0, NULL, 0};
    repl_wire_section(&b, &p, body.data, body.len, 1);
    CHECK_EQ_INT(repl_wire_decode(a, b.data, b.len, &m), DS_EPARSE);
    ds_buf_free(&body), ds_buf_free(&b);
    ds_arena_free(a);
}

TEST(pages) {
    char k1[20], k2[20];
    key_of(k1, 9, 10, "a");
    key_of(k2, 9, 10, "b");
    replica_mut m[2] = {{k1, 13, "x", 1, NULL}, {k2, 13, "yy", 2, NULL}};
    ds_buf body = DS_BUF_INIT, b = DS_BUF_INIT;
    repl_wire_muts(&body, m, 2);
    repl_page_encode(&b, 1, 2, body.data, body.len);
    ds_arena *a = ds_arena_new(1024);
    int more = 0;
    replica_mut *out;
    size_t n;
    CHECK_EQ_INT(repl_page_decode(a, b.data, b.len, 9, 0, 100, &more, &out, &n), DS_OK);
    CHECK_EQ_INT(more, 1);
    CHECK_EQ_INT(n, 2);
    CHECK(!memcmp(out[1].value, "yy", 2));
    /* wrong table, out-of-range hash, unordered keys, deletes: refused */
    CHECK_EQ_INT(repl_page_decode(a, b.data, b.len, 8, 0, 100, &more, &out, &n), DS_EPARSE);
    CHECK_EQ_INT(repl_page_decode(a, b.data, b.len, 9, 11, 100, &more, &out, &n), DS_EPARSE);
    replica_mut r[2] = {m[1], m[0]};
    ds_buf_reset(&body), ds_buf_reset(&b);
    repl_wire_muts(&body, r, 2);
    repl_page_encode(&b, 0, 2, body.data, body.len);
    CHECK_EQ_INT(repl_page_decode(a, b.data, b.len, 9, 0, 100, &more, &out, &n), DS_EPARSE);
    replica_mut d = {k1, 13, NULL, 0, NULL};
    ds_buf_reset(&body), ds_buf_reset(&b);
    repl_wire_muts(&body, &d, 1);
    repl_page_encode(&b, 0, 1, body.data, body.len);
    CHECK_EQ_INT(repl_page_decode(a, b.data, b.len, 9, 0, 100, &more, &out, &n), DS_EPARSE);
    /* an empty last page */
    ds_buf_reset(&b);
    repl_page_encode(&b, 0, 0, NULL, 0);
    CHECK_EQ_INT(repl_page_decode(a, b.data, b.len, 9, 0, 100, &more, &out, &n), DS_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(more, 0);
    ds_buf_free(&body), ds_buf_free(&b);
    ds_arena_free(a);
}

TEST(position_record) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    repl_pos_key(&k, 77, 123456);
    repl_pos_value(&v, 3, 1ull << 40, 999999, 1);
    CHECK_EQ_INT(k.len, 14);
    CHECK_EQ_INT(v.len, 21);
    uint64_t t, e, s;
    uint32_t lo, hi;
    int inc;
    CHECK_EQ_INT(repl_pos_parse(k.data, k.len, v.data, v.len, &t, &lo, &e, &s, &hi, &inc), DS_OK);
    CHECK_EQ_INT(t, 77);
    CHECK_EQ_INT(lo, 123456);
    CHECK_EQ_INT(e, 3);
    CHECK(s == 1ull << 40);
    CHECK_EQ_INT(hi, 999999);
    CHECK_EQ_INT(inc, 1);
    CHECK_EQ_INT(repl_pos_parse(k.data, k.len, v.data, 20, &t, &lo, &e, &s, &hi, &inc),
                 DS_ECORRUPT);
    ds_buf_free(&k), ds_buf_free(&v);
}

TEST_MAIN()
