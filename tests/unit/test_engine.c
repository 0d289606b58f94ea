/* test_engine.c -- the RocksDB engine: batches, reads, iterators, ranges,
 * column families, durability across close and across SIGKILL. Every test
 * works in its own directory under /tmp and removes it at the end. */
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/ds.h"
#include "engine/engine.h"
#include "t.h"

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}
static void rm_rf(const char *dir) {
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmpdir(void) {
    static char d[64];
    strcpy(d, "/tmp/dstore-engine-XXXXXX");
    CHECK(mkdtemp(d) != NULL);
    return d;
}

static engine *open_at(const char *dir) {
    char err[256] = "";
    engine *e = NULL;
    engine_opts o = {8u << 20, 8u << 20, 0, 0};
    int rc = engine_open(dir, &o, &e, err, sizeof err);
    if (rc) T_FAIL("engine_open: %s (%s)", ds_strerror(rc), err);
    return e;
}

static void put1(engine *e, engine_cf cf, const char *k, const char *v) {
    engine_batch *b = engine_batch_new();
    engine_batch_put(b, cf, k, strlen(k), v, strlen(v));
    CHECK_EQ_INT(engine_write(e, b, 1), DS_OK);
    engine_batch_free(b);
}

static int get_str(engine *e, engine_cf cf, const char *k, ds_buf *v) {
    return engine_get(e, cf, k, strlen(k), v);
}

TEST(put_get_delete) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    ds_buf v = DS_BUF_INIT;
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_ENOTFOUND);
    put1(e, ENGINE_CF_DATA, "a", "1");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_OK);
    CHECK_EQ_STR(v.data, "1");
    /* binary keys and values with NULs */
    engine_batch *b = engine_batch_new();
    engine_batch_put(b, ENGINE_CF_DATA, "k\0x", 3, "v\0\0y", 4);
    engine_batch_delete(b, ENGINE_CF_DATA, "a", 1);
    CHECK_EQ_INT(engine_batch_count(b), 2);
    CHECK_EQ_INT(engine_write(e, b, 0), DS_OK);
    CHECK_EQ_INT(engine_get(e, ENGINE_CF_DATA, "k\0x", 3, &v), DS_OK);
    CHECK_EQ_INT(v.len, 4);
    CHECK_EQ_MEM(v.data, "v\0\0y", 4);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_ENOTFOUND);
    CHECK_EQ_INT(v.len, 0);
    engine_batch_clear(b);
    CHECK_EQ_INT(engine_batch_count(b), 0);
    /* empty value is not "missing" */
    engine_batch_put(b, ENGINE_CF_DATA, "empty", 5, "", 0);
    CHECK_EQ_INT(engine_write(e, b, 1), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "empty", &v), DS_OK);
    CHECK_EQ_INT(v.len, 0);
    engine_batch_free(b);
    ds_buf_free(&v);
    engine_close(e);
    rm_rf(dir);
}

typedef struct seen {
    int calls;
    char v[16];
    size_t n;
} seen;

static int see_value(const char *v, size_t n, void *ud) {
    seen *s = ud;
    s->calls++;
    s->n = n;
    memcpy(s->v, v, n < sizeof s->v ? n : sizeof s->v);
    return n == 4 ? DS_OK : DS_ECORRUPT; /* fn's result is the call's */
}

TEST(get_in_place) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    seen s = {0};
    CHECK_EQ_INT(engine_get_in_place(e, ENGINE_CF_DATA, "a", 1, see_value, &s), DS_ENOTFOUND);
    CHECK_EQ_INT(s.calls, 0); /* not called for a missing key */
    put1(e, ENGINE_CF_DATA, "a", "four");
    put1(e, ENGINE_CF_DATA, "b", "vv");
    CHECK_EQ_INT(engine_get_in_place(e, ENGINE_CF_DATA, "a", 1, see_value, &s), DS_OK);
    CHECK_EQ_INT(s.calls, 1);
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_MEM(s.v, "four", 4);
    CHECK_EQ_INT(engine_get_in_place(e, ENGINE_CF_DATA, "b", 1, see_value, &s), DS_ECORRUPT);
    CHECK_EQ_INT(s.calls, 2);
    CHECK_EQ_MEM(s.v, "vv", 2);
    CHECK_EQ_INT(engine_get_in_place(e, ENGINE_CF_INDEX, "b", 1, see_value, &s), DS_ENOTFOUND);
    CHECK_EQ_INT(s.calls, 2); /* another CF's key */
    engine_close(e);
    rm_rf(dir);
}

/* The item cache (itemcache.h) in front of DATA reads: reads fill it, and
 * every way of writing a DATA key -- a bound batch, a batch recorded before
 * it knew its engine, a delete, a range delete -- is seen by the next read. */
TEST(item_cache_follows_writes) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    ds_buf v = DS_BUF_INIT;
    engine_memory m;
    put1(e, ENGINE_CF_DATA, "a", "1");
    engine_memory_get(e, &m);
    CHECK_EQ_INT(m.item_cache, 0);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_OK);
    engine_memory_get(e, &m);
    CHECK(m.item_cache > 0); /* the read filled it */
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_OK); /* a hit */
    CHECK_EQ_STR(v.data, "1");
    put1(e, ENGINE_CF_DATA, "a", "2");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_OK);
    CHECK_EQ_STR(v.data, "2");
    seen sn = {0};
    CHECK_EQ_INT(engine_get_in_place(e, ENGINE_CF_DATA, "a", 1, see_value, &sn), DS_ECORRUPT);
    CHECK_EQ_INT(sn.calls, 1); /* a hit calls fn once, with the value, and returns its result */
    CHECK_EQ_MEM(sn.v, "2", 1);
    /* a batch that recorded its ops before it was bound to an engine */
    engine_batch *b = engine_batch_new();
    engine_batch_put(b, ENGINE_CF_DATA, "a", 1, "3", 1);
    CHECK_EQ_INT(engine_write(e, b, 0), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_OK);
    CHECK_EQ_STR(v.data, "3");
    engine_batch_clear(b);
    engine_batch_delete(b, ENGINE_CF_DATA, "a", 1);
    CHECK_EQ_INT(engine_write(e, b, 0), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_ENOTFOUND);
    engine_batch_free(b);
    /* a range delete */
    put1(e, ENGINE_CF_DATA, "a", "4");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_OK);
    CHECK_EQ_INT(engine_delete_range(e, ENGINE_CF_DATA, "a", 1, "b", 1), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_ENOTFOUND);
    engine_memory_get(e, &m);
    CHECK_EQ_INT(m.item_cache, 0);
    /* INDEX is cached too, apart from DATA (the same key bytes in both) */
    put1(e, ENGINE_CF_INDEX, "a", "x");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_INDEX, "a", &v), DS_OK);
    engine_memory_get(e, &m);
    CHECK(m.item_cache > 0);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "a", &v), DS_ENOTFOUND);
    put1(e, ENGINE_CF_INDEX, "a", "y");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_INDEX, "a", &v), DS_OK);
    CHECK_EQ_STR(v.data, "y");
    CHECK_EQ_INT(engine_delete_range(e, ENGINE_CF_INDEX, "a", 1, "b", 1), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_INDEX, "a", &v), DS_ENOTFOUND);
    /* META is not */
    size_t before = (engine_memory_get(e, &m), m.item_cache);
    put1(e, ENGINE_CF_META, "i", "x");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_META, "i", &v), DS_OK);
    engine_memory_get(e, &m);
    CHECK_EQ_INT(m.item_cache, before);
    ds_buf_free(&v);
    engine_close(e);
    rm_rf(dir);
}

/* engine_batch_get reads a key the batch has not written through the item
 * cache; one it has written (put or deleted) from the batch, whatever the
 * cache holds. */
static int batch_get_str(engine *e, engine_batch *b, engine_cf cf, const char *k, ds_buf *v) {
    return engine_batch_get(e, b, cf, k, strlen(k), v);
}

TEST(batch_get_prefers_its_batch_to_the_cache) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    ds_buf v = DS_BUF_INIT;
    engine_memory m;
    for (int cf = ENGINE_CF_DATA; cf <= ENGINE_CF_INDEX; cf++) {
        put1(e, cf, "k", "old");
        engine_batch *b = engine_batch_new();
        CHECK_EQ_INT(batch_get_str(e, b, cf, "k", &v), DS_OK); /* fills the cache */
        CHECK_EQ_STR(v.data, "old");
        engine_memory_get(e, &m);
        CHECK(m.item_cache > 0);
        engine_batch_delete(b, cf, "k", 1);
        CHECK_EQ_INT(batch_get_str(e, b, cf, "k", &v), DS_ENOTFOUND);
        engine_batch_put(b, cf, "k", 1, "new", 3);
        CHECK_EQ_INT(batch_get_str(e, b, cf, "k", &v), DS_OK);
        CHECK_EQ_STR(v.data, "new");
        engine_batch_clear(b); /* not written: RocksDB (and the cache) still say old */
        CHECK_EQ_INT(batch_get_str(e, b, cf, "k", &v), DS_OK);
        CHECK_EQ_STR(v.data, "old");
        engine_batch_delete(b, cf, "k", 1);
        CHECK_EQ_INT(engine_write(e, b, 0), DS_OK);
        engine_batch_clear(b);
        CHECK_EQ_INT(batch_get_str(e, b, cf, "k", &v), DS_ENOTFOUND);
        engine_batch_free(b);
        /* a batch that recorded a delete before it was bound */
        put1(e, cf, "k", "again");
        b = engine_batch_new();
        engine_batch_delete(b, cf, "k", 1);
        CHECK_EQ_INT(get_str(e, cf, "k", &v), DS_OK); /* cached */
        CHECK_EQ_INT(batch_get_str(e, b, cf, "k", &v), DS_ENOTFOUND);
        engine_batch_free(b);
    }
    ds_buf_free(&v);
    engine_close(e);
    rm_rf(dir);
}

/* A writer commits versions 0..N-1 of one key and publishes each after
 * engine_write returns (its acknowledgement); readers check that a read
 * started after version i was acknowledged returns i or later, and never
 * goes back. A value read before a write and filled after its invalidation
 * would break this. */
typedef struct {
    engine *e;
    atomic_int acked, done, bad;
} race;

static void *race_reader(void *arg) {
    race *r = arg;
    ds_buf v = DS_BUF_INIT;
    int last = -1;
    while (!atomic_load(&r->done)) {
        int acked = atomic_load(&r->acked);
        if (get_str(r->e, ENGINE_CF_DATA, "key", &v) != DS_OK) continue;
        int ver = atoi(v.data);
        if (ver < acked || ver < last) atomic_fetch_add(&r->bad, 1);
        last = ver;
    }
    ds_buf_free(&v);
    return NULL;
}

TEST(item_cache_never_serves_an_overwritten_value) {
    enum { N = 20000 };
    char *dir = tmpdir();
    race r = {.e = open_at(dir)};
    atomic_init(&r.acked, -1);
    put1(r.e, ENGINE_CF_DATA, "key", "0");
    atomic_store(&r.acked, 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, race_reader, &r);
    engine_batch *b = engine_batch_new();
    char val[16];
    for (int i = 1; i < N; i++) {
        snprintf(val, sizeof val, "%d", i);
        engine_batch_put(b, ENGINE_CF_DATA, "key", 3, val, strlen(val));
        CHECK_EQ_INT(engine_write(r.e, b, 0), DS_OK);
        engine_batch_clear(b);
        atomic_store(&r.acked, i);
    }
    atomic_store(&r.done, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(atomic_load(&r.bad), 0);
    ds_buf v = DS_BUF_INIT;
    CHECK_EQ_INT(get_str(r.e, ENGINE_CF_DATA, "key", &v), DS_OK);
    CHECK_EQ_INT(atoi(v.data), N - 1);
    ds_buf_free(&v);
    engine_batch_free(b);
    engine_close(r.e);
    rm_rf(dir);
}

TEST(batch_reads_its_own_writes) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    put1(e, ENGINE_CF_DATA, "x", "db");
    put1(e, ENGINE_CF_DATA, "y", "db");
    ds_buf v = DS_BUF_INIT;
    engine_batch *b = engine_batch_new();
    /* ops recorded before the batch is bound to an engine */
    engine_batch_put(b, ENGINE_CF_DATA, "z", 1, "batch0", 6);
    CHECK_EQ_INT(engine_batch_count(b), 1);
    CHECK_EQ_INT(engine_batch_get(e, b, ENGINE_CF_DATA, "z", 1, &v), DS_OK);
    CHECK_EQ_STR(v.data, "batch0");
    CHECK_EQ_INT(engine_batch_get(e, b, ENGINE_CF_DATA, "x", 1, &v), DS_OK);
    CHECK_EQ_STR(v.data, "db");
    engine_batch_put(b, ENGINE_CF_DATA, "x", 1, "b1", 2);
    engine_batch_put(b, ENGINE_CF_DATA, "x", 1, "b2", 2); /* overwrite within the batch */
    engine_batch_delete(b, ENGINE_CF_DATA, "y", 1);
    CHECK_EQ_INT(engine_batch_get(e, b, ENGINE_CF_DATA, "x", 1, &v), DS_OK);
    CHECK_EQ_STR(v.data, "b2");
    CHECK_EQ_INT(engine_batch_get(e, b, ENGINE_CF_DATA, "y", 1, &v), DS_ENOTFOUND);
    CHECK_EQ_INT(engine_batch_get(e, b, ENGINE_CF_INDEX, "x", 1, &v), DS_ENOTFOUND);
    /* the DB does not see the batch yet */
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "x", &v), DS_OK);
    CHECK_EQ_STR(v.data, "db");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "y", &v), DS_OK);
    CHECK_EQ_INT(engine_write(e, b, 1), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "x", &v), DS_OK);
    CHECK_EQ_STR(v.data, "b2");
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "y", &v), DS_ENOTFOUND);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "z", &v), DS_OK);
    /* after clear, a put then delete in one batch hides the DB value */
    engine_batch_clear(b);
    engine_batch_delete(b, ENGINE_CF_DATA, "z", 1);
    CHECK_EQ_INT(engine_batch_get(e, b, ENGINE_CF_DATA, "z", 1, &v), DS_ENOTFOUND);
    engine_batch_put(b, ENGINE_CF_DATA, "z", 1, "again", 5);
    CHECK_EQ_INT(engine_batch_get(e, b, ENGINE_CF_DATA, "z", 1, &v), DS_OK);
    CHECK_EQ_STR(v.data, "again");
    /* a non-empty batch bound to e cannot be written to another engine */
    char dir2[64];
    strcpy(dir2, dir);
    strcat(dir2, "/other");
    engine *e2 = open_at(dir2);
    CHECK_EQ_INT(engine_write(e2, b, 1), DS_EINVAL);
    engine_batch_clear(b);
    engine_batch_put(b, ENGINE_CF_DATA, "w", 1, "1", 1);
    CHECK_EQ_INT(engine_write(e, b, 1), DS_OK);
    engine_close(e2);
    engine_batch_free(b);
    ds_buf_free(&v);
    engine_close(e);
    rm_rf(dir);
}

TEST(reopen_keeps_synced_data) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    engine_batch *b = engine_batch_new();
    char k[32], val[32];
    for (int i = 0; i < 1000; i++) {
        int kl = snprintf(k, sizeof k, "key%05d", i), vl = snprintf(val, sizeof val, "v%d", i);
        engine_batch_put(b, i % 2 ? ENGINE_CF_DATA : ENGINE_CF_INDEX, k, kl, val, vl);
        if (i % 100 == 99) {
            CHECK_EQ_INT(engine_write(e, b, 1), DS_OK);
            engine_batch_clear(b);
        }
    }
    put1(e, ENGINE_CF_META, "meta", "m");
    engine_close(e);
    /* a second open of the same dir while open fails with EBUSY */
    e = open_at(dir);
    char err[256];
    engine *e2 = NULL;
    CHECK_EQ_INT(engine_open(dir, NULL, &e2, err, sizeof err), DS_EBUSY);
    CHECK(e2 == NULL && strlen(err) > 0);
    ds_buf v = DS_BUF_INIT;
    for (int i = 0; i < 1000; i++) {
        int kl = snprintf(k, sizeof k, "key%05d", i);
        snprintf(val, sizeof val, "v%d", i);
        CHECK_EQ_INT(engine_get(e, i % 2 ? ENGINE_CF_DATA : ENGINE_CF_INDEX, k, kl, &v), DS_OK);
        CHECK_EQ_STR(v.data, val);
        CHECK_EQ_INT(engine_get(e, i % 2 ? ENGINE_CF_INDEX : ENGINE_CF_DATA, k, kl, &v),
                     DS_ENOTFOUND);
    }
    CHECK_EQ_INT(get_str(e, ENGINE_CF_META, "meta", &v), DS_OK);
    ds_buf_free(&v);
    engine_batch_free(b);
    engine_close(e);
    rm_rf(dir);
}

TEST(column_families_isolated) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    put1(e, ENGINE_CF_META, "k", "meta");
    put1(e, ENGINE_CF_DATA, "k", "data");
    put1(e, ENGINE_CF_INDEX, "k", "index");
    ds_buf v = DS_BUF_INIT;
    const char *want[] = {"meta", "data", "index"};
    for (int cf = 0; cf < ENGINE_CF_COUNT; cf++) {
        CHECK_EQ_INT(get_str(e, cf, "k", &v), DS_OK);
        CHECK_EQ_STR(v.data, want[cf]);
        engine_iter *it = engine_iter_new(e, cf, NULL, 0, NULL, 0);
        int n = 0;
        for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it))
            n++;
        CHECK_EQ_INT(n, 1);
        engine_iter_free(it);
    }
    engine_batch *b = engine_batch_new();
    engine_batch_delete(b, ENGINE_CF_DATA, "k", 1);
    CHECK_EQ_INT(engine_write(e, b, 1), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_DATA, "k", &v), DS_ENOTFOUND);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_META, "k", &v), DS_OK);
    CHECK_EQ_INT(get_str(e, ENGINE_CF_INDEX, "k", &v), DS_OK);
    engine_batch_free(b);
    ds_buf_free(&v);
    engine_close(e);
    rm_rf(dir);
}

/* DATA keys: [table u64][hash u32][suffix u32] */
static size_t dkey(char *k, uint64_t t, uint32_t h, uint32_t s) {
    ds_put_u64be(k, t);
    ds_put_u32be(k + 8, h);
    ds_put_u32be(k + 12, s);
    return 16;
}

static void collect(engine_iter *it, int reverse, uint32_t *out, int *n) {
    *n = 0;
    while (engine_iter_valid(it)) {
        size_t kl;
        const char *k = engine_iter_key(it, &kl);
        CHECK_EQ_INT(kl, 16);
        out[(*n)++] = ds_get_u32be(k + 8) * 1000 + ds_get_u32be(k + 12);
        if (reverse)
            engine_iter_prev(it);
        else
            engine_iter_next(it);
    }
    CHECK_EQ_INT(engine_iter_status(it), DS_OK);
}

TEST(iterators_bounds_seek_reverse) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    engine_batch *b = engine_batch_new();
    char k[16], lo[16], hi[16];
    /* tables 1..3, hashes 1..3, suffixes 0..9, in several table files */
    for (uint32_t t = 1; t <= 3; t++) {
        for (uint32_t h = 1; h <= 3; h++)
            for (uint32_t s = 0; s < 10; s++) {
                size_t kl = dkey(k, t, h, s);
                engine_batch_put(b, ENGINE_CF_DATA, k, kl, "v", 1);
            }
        CHECK_EQ_INT(engine_write(e, b, 0), DS_OK);
        engine_batch_clear(b);
        CHECK_EQ_INT(engine_flush(e), DS_OK);
    }
    uint32_t got[200];
    int n;
    /* table 2, all hashes: total-order iterator over [2]..[3) */
    ds_put_u64be(lo, 2);
    ds_put_u64be(hi, 3);
    engine_iter *it = engine_iter_new(e, ENGINE_CF_DATA, lo, 8, hi, 8);
    engine_iter_seek_first(it);
    collect(it, 0, got, &n);
    CHECK_EQ_INT(n, 30);
    CHECK_EQ_INT(got[0], 1000);
    CHECK_EQ_INT(got[29], 3009);
    for (int i = 1; i < n; i++)
        CHECK(got[i] > got[i - 1]);
    engine_iter_seek_last(it);
    collect(it, 1, got, &n);
    CHECK_EQ_INT(n, 30);
    CHECK_EQ_INT(got[0], 3009);
    CHECK_EQ_INT(got[29], 1000);
    /* seek into the middle, seek_for_prev */
    dkey(k, 2, 2, 5);
    engine_iter_seek(it, k, 16);
    collect(it, 0, got, &n);
    CHECK_EQ_INT(n, 15);
    CHECK_EQ_INT(got[0], 2005);
    engine_iter_seek_for_prev(it, k, 16);
    collect(it, 1, got, &n);
    CHECK_EQ_INT(n, 16);
    CHECK_EQ_INT(got[0], 2005);
    /* seek before the lower bound clamps; after the upper bound is invalid */
    dkey(k, 1, 9, 9);
    engine_iter_seek(it, k, 16);
    CHECK(engine_iter_valid(it));
    size_t kl;
    CHECK_EQ_INT(ds_get_u64be(engine_iter_key(it, &kl)), 2);
    dkey(k, 3, 0, 0);
    engine_iter_seek(it, k, 16);
    CHECK(!engine_iter_valid(it));
    engine_iter_seek_for_prev(it, k, 16);
    CHECK(engine_iter_valid(it));
    CHECK_EQ_INT(ds_get_u32be(engine_iter_key(it, &kl) + 12), 9);
    engine_iter_free(it);

    /* one (table, hash) prefix: prefix mode, suffixes [3, 7) */
    dkey(lo, 2, 2, 3);
    dkey(hi, 2, 2, 7);
    it = engine_iter_new(e, ENGINE_CF_DATA, lo, 16, hi, 16);
    engine_iter_seek_first(it);
    collect(it, 0, got, &n);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(got[0], 2003);
    CHECK_EQ_INT(got[3], 2006);
    engine_iter_seek_last(it);
    collect(it, 1, got, &n);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(got[0], 2006);
    dkey(k, 2, 2, 9);
    engine_iter_seek_for_prev(it, k, 16);
    CHECK(engine_iter_valid(it));
    CHECK_EQ_INT(ds_get_u32be(engine_iter_key(it, &kl) + 12), 6);
    engine_iter_free(it);

    /* whole prefix via a 12-byte lower bound and its successor-in-prefix:
     * upper bound [2][2] + 0xFFFFFFFF-ish suffix */
    ds_put_u64be(lo, 2);
    ds_put_u32be(lo + 8, 2);
    memcpy(hi, lo, 12);
    memset(hi + 12, 0xff, 4);
    it = engine_iter_new(e, ENGINE_CF_DATA, lo, 12, hi, 16);
    engine_iter_seek_first(it);
    collect(it, 0, got, &n);
    CHECK_EQ_INT(n, 10);
    engine_iter_seek_last(it);
    collect(it, 1, got, &n);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(got[0], 2009);
    /* a prefix that does not exist */
    engine_iter_free(it);
    ds_put_u32be(lo + 8, 7);
    memcpy(hi, lo, 12);
    it = engine_iter_new(e, ENGINE_CF_DATA, lo, 12, hi, 16);
    engine_iter_seek_first(it);
    CHECK(!engine_iter_valid(it));
    engine_iter_seek_last(it);
    CHECK(!engine_iter_valid(it));
    engine_iter_free(it);

    /* unbounded: everything, both ways; values readable */
    it = engine_iter_new(e, ENGINE_CF_DATA, NULL, 0, NULL, 0);
    engine_iter_seek_first(it);
    collect(it, 0, got, &n);
    CHECK_EQ_INT(n, 90);
    engine_iter_seek_last(it);
    size_t vl;
    CHECK_EQ_MEM(engine_iter_value(it, &vl), "v", 1);
    CHECK_EQ_INT(vl, 1);
    engine_iter_free(it);

    /* the iterator is a snapshot: later writes are not seen */
    it = engine_iter_new(e, ENGINE_CF_DATA, NULL, 0, NULL, 0);
    dkey(k, 9, 0, 0);
    engine_batch_put(b, ENGINE_CF_DATA, k, 16, "late", 4);
    CHECK_EQ_INT(engine_write(e, b, 0), DS_OK);
    engine_iter_seek_first(it);
    collect(it, 0, got, &n);
    CHECK_EQ_INT(n, 90);
    engine_iter_free(it);
    engine_batch_free(b);
    engine_close(e);
    rm_rf(dir);
}

TEST(drop_table_reclaims_space) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    engine_batch *b = engine_batch_new();
    char k[16], v[100];
    uint64_t rnd = 88172645463325252ull;
    for (uint64_t t = 7; t <= 8; t++)
        for (uint32_t i = 0; i < 50000; i++) {
            for (size_t j = 0; j < sizeof v; j += 8) {
                rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
                memcpy(v + j, &rnd, DS_MIN(8, sizeof v - j));
            }
            dkey(k, t, i * 2654435761u, i);
            engine_batch_put(b, ENGINE_CF_DATA, k, 16, v, t == 7 ? sizeof v : 10);
            if (engine_batch_count(b) == 1000) {
                CHECK_EQ_INT(engine_write(e, b, 0), DS_OK);
                engine_batch_clear(b);
            }
        }
    CHECK_EQ_INT(engine_flush(e), DS_OK);
    char lo[8], hi[8];
    ds_put_u64be(lo, 7);
    ds_put_u64be(hi, 8);
    uint64_t before = 0, after = 0, disk0 = 0, disk1 = 0, mem = 0;
    CHECK_EQ_INT(engine_approximate_size(e, ENGINE_CF_DATA, lo, 8, hi, 8, &before), DS_OK);
    CHECK(before > 50000 * 100 / 2);
    CHECK_EQ_INT(engine_disk_usage(e, &disk0), DS_OK);
    CHECK(disk0 >= before);
    CHECK_EQ_INT(engine_memory_usage(e, &mem), DS_OK);
    CHECK(mem > 0);
    CHECK_EQ_INT(engine_delete_range(e, ENGINE_CF_DATA, lo, 8, hi, 8), DS_OK);
    /* gone for readers at once */
    engine_iter *it = engine_iter_new(e, ENGINE_CF_DATA, lo, 8, hi, 8);
    engine_iter_seek_first(it);
    CHECK(!engine_iter_valid(it));
    engine_iter_free(it);
    CHECK_EQ_INT(engine_compact_range(e, ENGINE_CF_DATA, lo, 8, hi, 8), DS_OK);
    CHECK_EQ_INT(engine_approximate_size(e, ENGINE_CF_DATA, lo, 8, hi, 8, &after), DS_OK);
    CHECK_EQ_INT(engine_disk_usage(e, &disk1), DS_OK);
    printf("  table 7: %llu -> %llu bytes; disk %llu -> %llu\n", (unsigned long long)before,
           (unsigned long long)after, (unsigned long long)disk0, (unsigned long long)disk1);
    CHECK(after < before / 100);
    CHECK(disk1 < disk0 / 2);
    /* table 8 untouched */
    ds_put_u64be(lo, 8);
    ds_put_u64be(hi, 9);
    it = engine_iter_new(e, ENGINE_CF_DATA, lo, 8, hi, 8);
    int n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it))
        n++;
    CHECK_EQ_INT(n, 50000);
    engine_iter_free(it);
    engine_batch_free(b);
    engine_close(e);
    rm_rf(dir);
}

TEST(checkpoint_is_openable) {
    char *dir = tmpdir();
    engine *e = open_at(dir);
    put1(e, ENGINE_CF_DATA, "a", "1");
    put1(e, ENGINE_CF_INDEX, "b", "2");
    char cp[96];
    snprintf(cp, sizeof cp, "%s/cp", dir);
    CHECK_EQ_INT(engine_checkpoint(e, cp), DS_OK);
    CHECK_EQ_INT(engine_checkpoint(e, cp), DS_EEXIST);
    put1(e, ENGINE_CF_DATA, "late", "x");
    engine *c = open_at(cp);
    ds_buf v = DS_BUF_INIT;
    CHECK_EQ_INT(get_str(c, ENGINE_CF_DATA, "a", &v), DS_OK);
    CHECK_EQ_INT(get_str(c, ENGINE_CF_INDEX, "b", &v), DS_OK);
    CHECK_EQ_INT(get_str(c, ENGINE_CF_DATA, "late", &v), DS_ENOTFOUND);
    ds_buf_free(&v);
    engine_close(c);
    engine_close(e);
    rm_rf(dir);
}

/* A child writes synced batches and acknowledges each sequence number over a
 * pipe; the parent SIGKILLs it mid-stream, reopens, and every acknowledged
 * write must be there. */
TEST(crash_keeps_acknowledged_writes) {
    char *dir = tmpdir();
    int fd[2];
    CHECK(pipe(fd) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        engine *e = open_at(dir);
        engine_batch *b = engine_batch_new();
        char k[32], v[64];
        for (uint32_t seq = 0;; seq++) {
            engine_batch_clear(b);
            for (int j = 0; j < 4; j++) {
                int kl = snprintf(k, sizeof k, "s%08u-%d", seq, j);
                int vl = snprintf(v, sizeof v, "value-%u-%d", seq, j);
                engine_batch_put(b, j % 2 ? ENGINE_CF_DATA : ENGINE_CF_INDEX, k, kl, v, vl);
            }
            if (engine_write(e, b, 1) != DS_OK) _exit(3);
            if (write(fd[1], &seq, sizeof seq) != sizeof seq) _exit(4);
        }
    }
    close(fd[1]);
    uint32_t seq, last = 0;
    int acks = 0;
    while (acks < 400 && read(fd[0], &seq, sizeof seq) == sizeof seq)
        last = seq, acks++;
    kill(pid, SIGKILL);
    while (read(fd[0], &seq, sizeof seq) == sizeof seq)
        last = seq, acks++; /* drain */
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(fd[0]);
    CHECK(acks >= 400);
    engine *e = open_at(dir);
    ds_buf v = DS_BUF_INIT;
    char k[32], want[64];
    for (uint32_t s = 0; s <= last; s++)
        for (int j = 0; j < 4; j++) {
            int kl = snprintf(k, sizeof k, "s%08u-%d", s, j);
            snprintf(want, sizeof want, "value-%u-%d", s, j);
            int rc = engine_get(e, j % 2 ? ENGINE_CF_DATA : ENGINE_CF_INDEX, k, kl, &v);
            if (rc) T_FAIL("acknowledged %s lost (%d of %u acks)", k, rc, last + 1);
            CHECK_EQ_STR(v.data, want);
        }
    printf("  %d acknowledged batches survived SIGKILL\n", acks);
    ds_buf_free(&v);
    engine_close(e);
    rm_rf(dir);
}

TEST(open_errors) {
    char err[256] = "";
    engine *e = (engine *)1;
    int rc = engine_open("/proc/no/such/dir", NULL, &e, err, sizeof err);
    CHECK(rc < 0);
    CHECK(e == NULL);
    CHECK(strstr(err, "/proc/no/such/dir") != NULL);
}

TEST_MAIN()
