/* test_ds.c -- buffers, arenas and status names. */
#include "common/ds.h"
#include "t.h"

TEST(buf_appends_and_terminates) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "abc");
    ds_buf_printf(&b, "-%d-", 42);
    ds_buf_put_u32be(&b, 0x01020304);
    CHECK_EQ_INT(b.len, 11);
    CHECK_EQ_MEM(b.data, "abc-42-\x01\x02\x03\x04", 11);
    CHECK_EQ_INT(b.data[b.len], 0);
    ds_buf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    ds_buf_free(&b);
}

TEST(buf_printf_grows) {
    ds_buf b = DS_BUF_INIT;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ds_buf_printf(&b, "%s!", big);
    CHECK_EQ_INT(b.len, 5000);
    CHECK_EQ_INT(b.data[4999], '!');
    ds_buf_free(&b);
}

TEST(arena_alignment_and_big_blocks) {
    ds_arena *a = ds_arena_new(1024);
    char *p = ds_arena_alloc(a, 3);
    char *q = ds_arena_alloc(a, 100000);
    char *r = ds_arena_alloc(a, 5);
    CHECK(((uintptr_t)p & 15) == 0 && ((uintptr_t)q & 15) == 0 && ((uintptr_t)r & 15) == 0);
    memset(q, 1, 100000);
    CHECK(ds_arena_used(a) >= 100000);
    ds_arena_reset(a);
    CHECK_EQ_INT(ds_arena_used(a), 0);
    CHECK_EQ_STR(ds_arena_strndup(a, "hello", 4), "hell");
    ds_arena_free(a);
}

TEST(arena_reuses_blocks_after_reset) {
    ds_arena *a = ds_arena_new(4096);
    char *first[40];
    for (int i = 0; i < 40; i++) first[i] = ds_arena_alloc(a, 1000); /* ~10 blocks */
    ds_arena_reset(a);
    char *again = ds_arena_alloc(a, 1000);
    int reused = 0;
    for (int i = 0; i < 40; i++) reused |= again == first[i];
    CHECK(reused);
    memset(again, 7, 1000);
    ds_arena_free(a);
}

TEST(be_roundtrip) {
    unsigned char c[8];
    ds_put_u64be(c, 0x0102030405060708ull);
    CHECK_EQ_INT(c[0], 1);
    CHECK(ds_get_u64be(c) == 0x0102030405060708ull);
}

TEST(strerror_names_every_code) {
    for (int c = 0; c >= DS_ERANGE; c--) CHECK(strcmp(ds_strerror(c), "unknown error") != 0);
}

TEST_MAIN()
