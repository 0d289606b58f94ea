/* test_dict.c -- the hash table. */
#include "common/dict.h"
#include "t.h"

static int count_fn(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l, (void)v;
    (*(int *)ud)++;
    return 0;
}

TEST(set_get_del_grow) {
    dict *d = dict_new();
    char k[32];
    for (long i = 0; i < 10000; i++) {
        int n = snprintf(k, sizeof k, "key-%ld", i);
        CHECK(dict_set(d, k, (size_t)n, (void *)(i + 1)) == NULL);
    }
    CHECK_EQ_INT(dict_count(d), 10000);
    for (long i = 0; i < 10000; i++) {
        int n = snprintf(k, sizeof k, "key-%ld", i);
        CHECK_EQ_INT((long)dict_get(d, k, (size_t)n), i + 1);
    }
    CHECK(dict_get(d, "nope", 4) == NULL);
    CHECK_EQ_INT((long)dict_set(d, "key-5", 5, (void *)99), 6);
    CHECK_EQ_INT((long)dict_del(d, "key-5", 5), 99);
    CHECK(dict_get(d, "key-5", 5) == NULL);
    int c = 0;
    dict_each(d, count_fn, &c);
    CHECK_EQ_INT(c, 9999);
    /* keys with NUL bytes are distinct by length */
    dict_set(d, "a\0b", 3, (void *)1);
    CHECK(dict_get(d, "a", 1) == NULL);
    CHECK(dict_get(d, "a\0b", 3) == (void *)1);
    dict_free(d);
}

TEST_MAIN()
