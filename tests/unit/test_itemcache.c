/* test_itemcache.c -- the item cache on its own: hits, misses, the
 * generation check that keeps a value read before a write out of the cache,
 * the byte budget and its LRU order, and many threads at once. The engine's
 * use of it (fills on reads, invalidation on writes) is in test_engine. */
#include <pthread.h>
#include <stdio.h>

#include "common/ds.h"
#include "engine/itemcache.h"
#include "t.h"

static int get(itemcache *c, const char *k, char *out, size_t *n, itemcache_ticket *t) {
    return itemcache_get(c, 1, k, strlen(k), out, n, t);
}

/* A whole write of k (NULL: a range delete), as the engine brackets it. */
static void written(itemcache *c, const char *k) {
    itemcache_write_begin(c, 1, k, k ? strlen(k) : 0);
    itemcache_write_end(c, 1, k, k ? strlen(k) : 0);
}

/* What a write and the next read do: drop k, miss, fill. */
static void put(itemcache *c, const char *k, const char *v) {
    char out[ITEMCACHE_MAX_VALUE];
    size_t n;
    itemcache_ticket t;
    written(c, k);
    CHECK_EQ_INT(get(c, k, out, &n, &t), 0);
    itemcache_fill(c, &t, k, strlen(k), v, strlen(v));
}

TEST(miss_fill_hit_invalidate) {
    itemcache *c = itemcache_new(1 << 20);
    char out[ITEMCACHE_MAX_VALUE];
    size_t n = 0;
    itemcache_ticket t;
    CHECK_EQ_INT(get(c, "k1", out, &n, &t), 0);
    CHECK_EQ_INT(itemcache_usage(c), 0);
    itemcache_fill(c, &t, "k1", 2, "value-1", 7);
    CHECK_EQ_INT(get(c, "k1", out, &n, &t), 1);
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_MEM(out, "value-1", 7);
    CHECK(itemcache_usage(c) >= 2 + 7);
    CHECK_EQ_INT(get(c, "k2", out, &n, &t), 0); /* another key */
    CHECK_EQ_INT(get(c, "k", out, &n, &t), 0);  /* a prefix is another key */
    written(c, "k1");
    CHECK_EQ_INT(get(c, "k1", out, &n, &t), 0);
    CHECK_EQ_INT(itemcache_usage(c), 0);
    /* an empty value is a value */
    itemcache_fill(c, &t, "k1", 2, "", 0);
    CHECK_EQ_INT(get(c, "k1", out, &n, &t), 1);
    CHECK_EQ_INT(n, 0);
    /* binary keys */
    CHECK_EQ_INT(itemcache_get(c, 1, "a\0b", 3, out, &n, &t), 0);
    itemcache_fill(c, &t, "a\0b", 3, "x", 1);
    CHECK_EQ_INT(itemcache_get(c, 1, "a\0c", 3, out, &n, &t), 0);
    CHECK_EQ_INT(itemcache_get(c, 1, "a\0b", 3, out, &n, &t), 1);
    written(c, NULL);
    CHECK_EQ_INT(itemcache_get(c, 1, "a\0b", 3, out, &n, &t), 0);
    CHECK_EQ_INT(get(c, "k1", out, &n, &t), 0);
    CHECK_EQ_INT(itemcache_usage(c), 0);
    itemcache_free(c);
}

/* The race the generation closes: a reader misses and reads the old value;
 * the write begins and ends; the reader's fill must not land. */
TEST(fill_after_invalidation_is_dropped) {
    itemcache *c = itemcache_new(1 << 20);
    char out[ITEMCACHE_MAX_VALUE];
    size_t n;
    itemcache_ticket t;
    CHECK_EQ_INT(get(c, "key", out, &n, &t), 0); /* ticket taken, "old" read */
    written(c, "key"); /* "new" committed */
    itemcache_fill(c, &t, "key", 3, "old", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &t), 0);
    itemcache_fill(c, &t, "key", 3, "new", 3); /* a fresh ticket fills */
    CHECK_EQ_INT(get(c, "key", out, &n, &t), 1);
    CHECK_EQ_MEM(out, "new", 3);
    /* the same after a clear */
    written(c, "key");
    CHECK_EQ_INT(get(c, "key", out, &n, &t), 0);
    written(c, NULL);
    itemcache_fill(c, &t, "key", 3, "old", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &t), 0);
    /* two readers filling the same key: the second replaces the first */
    itemcache_ticket t1, t2;
    CHECK_EQ_INT(get(c, "key", out, &n, &t1), 0);
    CHECK_EQ_INT(get(c, "key", out, &n, &t2), 0);
    itemcache_fill(c, &t1, "key", 3, "one", 3);
    itemcache_fill(c, &t2, "key", 3, "two", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &t), 1);
    CHECK_EQ_MEM(out, "two", 3);
    written(c, "key");
    CHECK_EQ_INT(itemcache_usage(c), 0); /* nothing left behind */
    itemcache_free(c);
}

/* While a write is in flight, no fill lands: otherwise a reader that read
 * the new value from RocksDB could next hit the old one, filled by a slower
 * reader before the write ended (reads would go back in time). */
TEST(no_fill_while_a_write_is_in_flight) {
    itemcache *c = itemcache_new(1 << 20);
    char out[ITEMCACHE_MAX_VALUE];
    size_t n;
    itemcache_ticket slow, during, other;
    CHECK_EQ_INT(get(c, "key", out, &n, &slow), 0); /* reads "old" from RocksDB */
    itemcache_write_begin(c, 1, "key", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &during), 0); /* reads "new" or "old" */
    itemcache_fill(c, &during, "key", 3, "new", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &during), 0);
    itemcache_fill(c, &slow, "key", 3, "old", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &during), 0);
    /* the shard's other keys wait too: the window is per shard */
    CHECK_EQ_INT(get(c, "key", out, &n, &other), 0);
    itemcache_fill(c, &other, "key", 3, "new", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &other), 0);
    itemcache_write_end(c, 1, "key", 3);
    itemcache_fill(c, &during, "key", 3, "old", 3); /* ticket from inside the window */
    CHECK_EQ_INT(get(c, "key", out, &n, &other), 0);
    itemcache_fill(c, &other, "key", 3, "new", 3); /* a ticket from after it fills */
    CHECK_EQ_INT(get(c, "key", out, &n, &other), 1);
    CHECK_EQ_MEM(out, "new", 3);
    /* a hit entry is dropped when its write begins */
    itemcache_write_begin(c, 1, "key", 3);
    CHECK_EQ_INT(get(c, "key", out, &n, &other), 0);
    itemcache_write_end(c, 1, "key", 3);
    /* a range delete holds every shard */
    itemcache_write_begin(c, 1, NULL, 0);
    CHECK_EQ_INT(get(c, "zzz", out, &n, &other), 0);
    itemcache_fill(c, &other, "zzz", 3, "v", 1);
    CHECK_EQ_INT(get(c, "zzz", out, &n, &other), 0);
    itemcache_write_end(c, 1, NULL, 0);
    itemcache_free(c);
}

TEST(budget_and_lru) {
    enum { BUDGET = 64 * 1024, N = 4000 };
    itemcache *c = itemcache_new(BUDGET);
    char k[32], v[100], out[ITEMCACHE_MAX_VALUE];
    size_t n;
    itemcache_ticket t;
    memset(v, 'v', sizeof v);
    v[sizeof v - 1] = 0;
    put(c, "hot", v);
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        put(c, k, v);
        CHECK(itemcache_usage(c) <= BUDGET);
        /* touched all along, so never the least recently used */
        CHECK_EQ_INT(get(c, "hot", out, &n, &t), 1);
    }
    CHECK(itemcache_usage(c) > BUDGET / 2); /* full, give or take a shard */
    int first = 0, last = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        first += get(c, k, out, &n, &t);
        snprintf(k, sizeof k, "key%06d", N - 1 - i);
        last += get(c, k, out, &n, &t);
    }
    CHECK_EQ_INT(first, 0); /* ~4000 entries of ~150 bytes do not fit in 64 KB */
    CHECK(last > 50);       /* the newest do, bar a shard's unevenness */
    /* larger than a shard's share of the budget (1 KB here): not kept */
    char big[ITEMCACHE_MAX_VALUE + 1];
    memset(big, 'b', sizeof big);
    CHECK_EQ_INT(get(c, "big", out, &n, &t), 0);
    itemcache_fill(c, &t, "big", 3, big, 1024);
    CHECK_EQ_INT(get(c, "big", out, &n, &t), 0);
    itemcache_free(c);
    /* over ITEMCACHE_MAX_VALUE: not kept, whatever the budget */
    c = itemcache_new(1 << 20);
    CHECK_EQ_INT(get(c, "big", out, &n, &t), 0);
    itemcache_fill(c, &t, "big", 3, big, sizeof big);
    CHECK_EQ_INT(get(c, "big", out, &n, &t), 0);
    itemcache_fill(c, &t, "big", 3, big, ITEMCACHE_MAX_VALUE); /* the largest kept */
    CHECK_EQ_INT(get(c, "big", out, &n, &t), 1);
    CHECK_EQ_INT(n, ITEMCACHE_MAX_VALUE);
    CHECK_EQ_MEM(out, big, ITEMCACHE_MAX_VALUE);
    itemcache_free(c);
}

/* The same key bytes in two spaces (the engine's DATA and INDEX column
 * families) are two entries: filled, hit and dropped apart. */
TEST(spaces_are_apart) {
    itemcache *c = itemcache_new(1 << 20);
    char out[ITEMCACHE_MAX_VALUE];
    size_t n = 0;
    itemcache_ticket t;
    CHECK_EQ_INT(itemcache_get(c, 1, "k", 1, out, &n, &t), 0);
    itemcache_fill(c, &t, "k", 1, "data", 4);
    CHECK_EQ_INT(itemcache_get(c, 2, "k", 1, out, &n, &t), 0);
    itemcache_fill(c, &t, "k", 1, "index", 5);
    CHECK_EQ_INT(itemcache_get(c, 1, "k", 1, out, &n, &t), 1);
    CHECK_EQ_MEM(out, "data", 4);
    CHECK_EQ_INT(itemcache_get(c, 2, "k", 1, out, &n, &t), 1);
    CHECK_EQ_MEM(out, "index", 5);
    itemcache_write_begin(c, 2, "k", 1); /* a write of the INDEX entry only */
    itemcache_write_end(c, 2, "k", 1);
    CHECK_EQ_INT(itemcache_get(c, 2, "k", 1, out, &n, &t), 0);
    CHECK_EQ_INT(itemcache_get(c, 1, "k", 1, out, &n, &t), 1);
    CHECK_EQ_INT(n, 4);
    itemcache_free(c);
}

TEST(null_cache_does_nothing) {
    char out[ITEMCACHE_MAX_VALUE];
    size_t n;
    itemcache_ticket t;
    CHECK(itemcache_new(0) == NULL);
    CHECK_EQ_INT(itemcache_get(NULL, 1, "k", 1, out, &n, &t), 0);
    itemcache_fill(NULL, &t, "k", 1, "v", 1);
    itemcache_write_begin(NULL, 1, "k", 1);
    itemcache_write_end(NULL, 1, NULL, 0);
    CHECK_EQ_INT(itemcache_usage(NULL), 0);
    itemcache_free(NULL);
}

/* Readers and an invalidating "writer" on a few keys at once: every hit
 * returns a value that was filled for that key (checked by its content), and
 * the budget holds. Run under ASan/TSan builds it also checks the locking. */
typedef struct {
    itemcache *c;
    int id, stop_after;
} worker;

static void *reader(void *arg) {
    worker *w = arg;
    char k[16], v[64], out[ITEMCACHE_MAX_VALUE];
    size_t n;
    itemcache_ticket t;
    for (int i = 0; i < w->stop_after; i++) {
        int key = (i * 7 + w->id) % 50;
        snprintf(k, sizeof k, "k%02d", key);
        if (itemcache_get(w->c, 1, k, strlen(k), out, &n, &t)) {
            snprintf(v, sizeof v, "value of k%02d", key);
            if (n != strlen(v) || memcmp(out, v, n)) T_FAIL("%s: wrong value", k);
        } else {
            snprintf(v, sizeof v, "value of k%02d", key);
            itemcache_fill(w->c, &t, k, strlen(k), v, strlen(v));
        }
        if (w->id == 0 && i % 3 == 0) written(w->c, k);
        if (w->id == 1 && i % 1000 == 0) written(w->c, NULL);
    }
    return NULL;
}

TEST(threads) {
    itemcache *c = itemcache_new(4096 * 64);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){c, i, 200000};
        pthread_create(&th[i], NULL, reader, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(itemcache_usage(c) <= 4096 * 64);
    itemcache_free(c);
}

TEST_MAIN()
