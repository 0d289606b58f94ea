/* test_replication_split.c -- where a range splits by size
 * (repl_split_point, cluster/replication.h): nothing to split, everything
 * in one bucket, one hash, uneven and even distributions, ties, a last
 * bucket cut short, the whole hash space. */
#include <string.h>

#include "cluster/replication.h"
#include "t.h"

#define MAXU32 4294967295u

TEST(nothing_stored_or_under_the_limit) {
    uint64_t b[4] = {0, 0, 0, 0};
    uint32_t mid = 7;
    CHECK_EQ_INT(repl_split_point(0, 399, 100, b, 4, 1, &mid), 0);
    CHECK_EQ_INT(repl_split_point(0, 399, 100, b, 0, 1, &mid), 0);
    uint64_t c[4] = {10, 10, 10, 9};
    CHECK_EQ_INT(repl_split_point(0, 399, 100, c, 4, 40, &mid), 0); /* 39 < 40 */
    CHECK_EQ_INT(repl_split_point(0, 399, 100, c, 4, 39, &mid), 1); /* 39 >= 39 */
    CHECK_EQ_INT(mid, 200);
    mid = 7;
    CHECK_EQ_INT(repl_split_point(0, 399, 100, c, 4, 0, &mid), 0); /* 0: never */
    CHECK_EQ_INT(mid, 7);                                           /* untouched */
}

TEST(all_bytes_in_one_bucket) {
    uint32_t mid = 7;
    uint64_t first[4] = {1000, 0, 0, 0}, middle[4] = {0, 0, 1000, 0}, last[4] = {0, 0, 0, 1000};
    CHECK_EQ_INT(repl_split_point(0, 399, 100, first, 4, 1, &mid), 0);
    CHECK_EQ_INT(repl_split_point(0, 399, 100, middle, 4, 1, &mid), 0);
    CHECK_EQ_INT(repl_split_point(0, 399, 100, last, 4, 1, &mid), 0);
    uint64_t one[1] = {1000}; /* one bucket: no edge inside */
    CHECK_EQ_INT(repl_split_point(0, 99, 100, one, 1, 1, &mid), 0);
    CHECK_EQ_INT(mid, 7);
}

TEST(a_span_of_one_hash) {
    uint64_t b[1] = {1u << 30};
    uint32_t mid = 7;
    CHECK_EQ_INT(repl_split_point(5, 5, 1, b, 1, 1, &mid), 0);
    CHECK_EQ_INT(repl_split_point(MAXU32, MAXU32, 1, b, 1, 1, &mid), 0);
    CHECK_EQ_INT(mid, 7);
    /* two hashes: the edge between them */
    uint64_t two[2] = {3, 5};
    CHECK_EQ_INT(repl_split_point(MAXU32 - 1, MAXU32, 1, two, 2, 8, &mid), 1);
    CHECK_EQ_INT(mid, MAXU32);
}

TEST(uneven_distribution) {
    /* left of the edges 1100, 1200, 1300: 10, 20, 90 of 100, i.e. halves
     * 80, 60 and 80 apart: 1200 */
    uint64_t b[4] = {10, 10, 70, 10};
    uint32_t mid;
    CHECK_EQ_INT(repl_split_point(1000, 1399, 100, b, 4, 50, &mid), 1);
    CHECK_EQ_INT(mid, 1200);
    /* heavy at the end: the split moves right */
    uint64_t c[8] = {1, 1, 1, 1, 1, 1, 40, 60};
    CHECK_EQ_INT(repl_split_point(0, 799, 100, c, 8, 1, &mid), 1);
    CHECK_EQ_INT(mid, 700); /* 46 | 60 */
    /* heavy at the start */
    uint64_t d[8] = {60, 40, 1, 1, 1, 1, 1, 1};
    CHECK_EQ_INT(repl_split_point(0, 799, 100, d, 8, 1, &mid), 1);
    CHECK_EQ_INT(mid, 100); /* 60 | 46 */
    /* empty buckets between two heavy ones: the first edge of equals */
    uint64_t e[6] = {0, 50, 0, 0, 50, 0};
    CHECK_EQ_INT(repl_split_point(0, 599, 100, e, 6, 1, &mid), 1);
    CHECK_EQ_INT(mid, 200);
}

TEST(even_distribution_splits_in_the_middle) {
    uint64_t b[REPL_SIZE_BUCKETS];
    for (int i = 0; i < REPL_SIZE_BUCKETS; i++) b[i] = 100;
    uint32_t mid;
    /* the whole hash space: 1024 buckets of 2^22 hashes */
    CHECK_EQ_INT(repl_split_point(0, MAXU32, 1u << 22, b, REPL_SIZE_BUCKETS, 1, &mid), 1);
    CHECK_EQ_INT(mid, 1u << 31);
    /* an upper half */
    CHECK_EQ_INT(repl_split_point(1u << 31, MAXU32, 1u << 21, b, REPL_SIZE_BUCKETS, 1, &mid), 1);
    CHECK_EQ_INT(mid, (1u << 31) + (1u << 30));
}

TEST(the_last_bucket_cut_short) {
    /* [0, 249] in width 100: buckets [0,99] [100,199] [200,249]; the edges
     * are 100 and 200, never 300 */
    uint64_t b[3] = {10, 10, 100};
    uint32_t mid;
    CHECK_EQ_INT(repl_split_point(0, 249, 100, b, 3, 1, &mid), 1);
    CHECK_EQ_INT(mid, 200);
    /* a bucket array longer than the span: edges past high are ignored */
    uint64_t c[5] = {10, 10, 100, 0, 0};
    CHECK_EQ_INT(repl_split_point(0, 249, 100, c, 5, 1, &mid), 1);
    CHECK_EQ_INT(mid, 200);
}

TEST_MAIN()
