/* test_replica.c -- the writer (group commit, preconditions, read-modify-
 * write, statistics, table drops) together with the metadata it serves
 * (tenants, tables and keys surviving a reopen). Real RocksDB in a temp dir. */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "control/meta.h"
#include "crypto/crypto.h"
#include "engine/keycodec.h"
#include "replica/replica.h"
#include "t.h"

typedef struct world {
    char dir[256];
    engine *e;
    replica *r;
    meta *m;
    uint8_t kn[32], kc[32];
} world;

static void world_open(world *w) {
    char err[512];
    CHECK(crypto_init() == DS_OK);
    CHECK_EQ_INT(engine_open(w->dir, NULL, &w->e, err, sizeof err), DS_OK);
    CHECK_EQ_INT(replica_start(w->e, &w->r), DS_OK);
    int rc = meta_open(w->e, w->r, w->kn, "11111111-2222-4333-8444-555555555555", w->kc, &w->m,
                       err, sizeof err);
    if (rc) T_FAIL("meta_open: %s", err);
}

static void world_close(world *w) {
    replica_stop(w->r);
    meta_close(w->m);
    engine_close(w->e);
}

static void world_new(world *w) {
    snprintf(w->dir, sizeof w->dir, "/tmp/dstore-test-replica-XXXXXX");
    CHECK(mkdtemp(w->dir) != NULL);
    crypto_init();
    crypto_random(w->kn, 32);
    crypto_random(w->kc, 32);
    world_open(w);
}

static void world_destroy(world *w) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    CHECK(system(cmd) == 0);
}

/* ---- ops ---- */
typedef struct sync_op {
    ds_op op;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    char id[64];
    key_part kp;
} sync_op;

static void sync_done(ds_op *op) {
    sync_op *s = (sync_op *)op;
    pthread_mutex_lock(&s->mu);
    s->done = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void op_prepare(sync_op *s, meta_table *tb, const char *id, ds_arena *a) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    ds_op_init(&s->op, DS_OP_WRITE, a);
    snprintf(s->id, sizeof s->id, "%s", id);
    s->kp = (key_part){KEY_S, s->id, strlen(s->id)};
    CHECK(keycodec_hash(&s->kp, &s->op.hash) == DS_OK);
    CHECK(keycodec_data_key(&s->op.key, tb->id, s->op.hash, &s->kp, NULL) == DS_OK);
    CHECK(keycodec_index_key(&s->op.ikey, tb->id, &s->kp, NULL) == DS_OK);
    s->op.table = tb;
    s->op.done = sync_done;
}

static item_value *str_item(ds_arena *a, const char *attr, const char *val) {
    item_value *v = ds_arena_calloc(a, sizeof *v), *m = ds_arena_calloc(a, sizeof *m);
    v->type = ITEM_S;
    v->u.s.p = val, v->u.s.len = strlen(val);
    m->type = ITEM_M;
    m->u.m.attrs = ds_arena_calloc(a, sizeof(item_attr));
    m->u.m.attrs[0] = (item_attr){attr, strlen(attr), v};
    m->u.m.n = 1;
    return m;
}

static int run_op(replica *r, sync_op *s) {
    replica_submit(r, &s->op);
    pthread_mutex_lock(&s->mu);
    while (!s->done) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    int rc = s->op.status;
    ds_op_release(&s->op);
    return rc;
}

static int put(world *w, meta_table *tb, const char *id, const char *val, ds_precond pc) {
    ds_arena *a = ds_arena_new(1024);
    sync_op s;
    op_prepare(&s, tb, id, a);
    s.op.item = str_item(a, "v", val);
    s.op.precond = pc;
    int rc = run_op(w->r, &s);
    ds_arena_free(a);
    return rc;
}

static int get(world *w, meta_table *tb, const char *id, char *out, size_t outlen) {
    ds_arena *a = ds_arena_new(1024);
    key_part kp = {KEY_S, id, strlen(id)};
    uint32_t h;
    ds_buf k = DS_BUF_INIT;
    keycodec_hash(&kp, &h);
    keycodec_data_key(&k, tb->id, h, &kp, NULL);
    item_value *it;
    int rc = replica_read(w->r, tb, k.data, k.len, a, &it);
    if (rc == DS_OK) {
        item_value *v = item_get(it, "v", 1);
        snprintf(out, outlen, "%.*s", v ? (int)v->u.s.len : 0, v ? v->u.s.p : "");
    }
    ds_buf_free(&k);
    ds_arena_free(a);
    return rc;
}

/* ---- tests ---- */
/* A new world with tenant "t1" and its table "tab" (string ids). */
static void world_with_table(world *w, meta_tenant **t, meta_table **tb) {
    world_new(w);
    meta_table_spec spec = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};
    CHECK_EQ_INT(meta_tenant_create(w->m, "t1", NULL, NULL, t), DS_OK);
    CHECK_EQ_INT(meta_table_create(w->m, *t, "tab", 3, &spec, tb), DS_OK);
}

TEST(tenants_tables_and_reopen) {
    world w;
    world_new(&w);
    meta_tenant *t;
    CHECK_EQ_INT(meta_tenant_create(w.m, "acme", "AKIDACME", "s3cret", &t), DS_OK);
    CHECK_EQ_INT(meta_tenant_create(w.m, "acme", NULL, NULL, NULL), DS_EEXIST);
    CHECK_EQ_INT(meta_tenant_create(w.m, "other", "AKIDACME", NULL, NULL), DS_EEXIST);
    CHECK_EQ_INT(meta_tenant_create(w.m, "bad/name", NULL, NULL, NULL), DS_EINVAL);
    meta_table_spec spec = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};
    meta_table *tb;
    CHECK_EQ_INT(meta_table_create(w.m, t, "orders", 6, &spec, &tb), DS_OK);
    CHECK_EQ_INT(meta_table_create(w.m, t, "orders", 6, &spec, NULL), DS_EEXIST);
    CHECK_EQ_INT(put(&w, tb, "k1", "hello", DS_PRECOND_NOT_EXISTS), DS_OK);
    uint8_t key_before[32];
    memcpy(key_before, t->data_key, 32);
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);

    world_open(&w);
    t = meta_tenant_by_key(w.m, "AKIDACME", 8);
    CHECK(t != NULL);
    CHECK_EQ_STR(t->name, "acme");
    CHECK_EQ_STR(t->secret, "s3cret");
    CHECK_EQ_MEM(t->data_key, key_before, 32);
    tb = meta_table_get(w.m, t, "orders", 6);
    CHECK(tb != NULL);
    CHECK_EQ_INT(atomic_load(&tb->item_count), 1);
    char v[64];
    CHECK_EQ_INT(get(&w, tb, "k1", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "hello");
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);

    /* Another node key cannot open the tenant records. */
    crypto_random(w.kn, 32);
    char err[512];
    CHECK_EQ_INT(engine_open(w.dir, NULL, &w.e, err, sizeof err), DS_OK);
    CHECK_EQ_INT(replica_start(w.e, &w.r), DS_OK);
    CHECK(meta_open(w.e, w.r, w.kn, "11111111-2222-4333-8444-555555555555", w.kc, &w.m, err,
                    sizeof err) != DS_OK);
    replica_stop(w.r);
    engine_close(w.e);
    world_destroy(&w);
}

TEST(preconditions_and_apply) {
    world w;
    meta_tenant *t;
    meta_table *tb;
    world_with_table(&w, &t, &tb);
    CHECK_EQ_INT(put(&w, tb, "a", "1", DS_PRECOND_EXISTS), DS_ENOTFOUND);
    CHECK_EQ_INT(put(&w, tb, "a", "1", DS_PRECOND_NOT_EXISTS), DS_OK);
    CHECK_EQ_INT(put(&w, tb, "a", "2", DS_PRECOND_NOT_EXISTS), DS_EEXIST);
    CHECK_EQ_INT(put(&w, tb, "a", "3", DS_PRECOND_EXISTS), DS_OK);
    char v[64];
    CHECK_EQ_INT(get(&w, tb, "a", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "3");
    /* delete, then it is gone and the count follows */
    ds_arena *a = ds_arena_new(1024);
    sync_op s;
    op_prepare(&s, tb, "a", a);
    s.op.is_delete = 1;
    s.op.precond = DS_PRECOND_EXISTS;
    CHECK_EQ_INT(run_op(w.r, &s), DS_OK);
    CHECK_EQ_INT(get(&w, tb, "a", v, sizeof v), DS_ENOTFOUND);
    CHECK_EQ_INT(atomic_load(&tb->item_count), 0);
    CHECK_EQ_INT(atomic_load(&tb->size_bytes), 0);
    ds_arena_free(a);
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);
    world_destroy(&w);
}

/* The table's INDEX entries (keycodec: table id | components -> hash, DATA
 * value length); each must record its DATA value's true length. */
static int index_entries(world *w, meta_table *tb, uint32_t *hash_out) {
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT, dk = DS_BUF_INIT, dv = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, tb->id);
    engine_iter *it = engine_iter_new(w->e, ENGINE_CF_INDEX, lo.data, lo.len, hi.data, hi.len);
    int n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_key(it, &kl), *v = engine_iter_value(it, &vl);
        CHECK_EQ_INT(vl, KEYCODEC_INDEX_VALUE_LEN);
        *hash_out = ds_get_u32be(v);
        keycodec_data_key_of(&dk, k, kl, *hash_out);
        CHECK_EQ_INT(engine_get(w->e, ENGINE_CF_DATA, dk.data, dk.len, &dv), DS_OK);
        CHECK_EQ_INT(ds_get_u32be(v + 4), dv.len);
        n++;
    }
    engine_iter_free(it);
    ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&dk), ds_buf_free(&dv);
    return n;
}

/* The table's statistics as the writer keeps them must equal a count of its
 * DATA entries and their bytes (key + stored value). */
static void check_stats(world *w, meta_table *tb) {
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, tb->id);
    engine_iter *it = engine_iter_new(w->e, ENGINE_CF_DATA, lo.data, lo.len, hi.data, hi.len);
    int64_t n = 0, bytes = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        engine_iter_key(it, &kl), engine_iter_value(it, &vl);
        n++, bytes += (int64_t)(kl + vl);
    }
    engine_iter_free(it);
    ds_buf_free(&lo), ds_buf_free(&hi);
    CHECK_EQ_INT(atomic_load(&tb->item_count), n);
    CHECK_EQ_INT(atomic_load(&tb->size_bytes), bytes);
}

/* An overwrite of the same stored length writes the DATA entry only (its
 * INDEX entry already says all it would); the index must still follow every
 * create, overwrite, delete and re-create exactly, and survive a reopen. */
TEST(index_follows_overwrites_and_deletes) {
    world w;
    meta_tenant *t;
    meta_table *tb;
    world_with_table(&w, &t, &tb);
    key_part kp = {KEY_S, "a", 1};
    uint32_t want, h = 0;
    CHECK(keycodec_hash(&kp, &want) == DS_OK);
    CHECK_EQ_INT(index_entries(&w, tb, &h), 0);
    CHECK_EQ_INT(put(&w, tb, "a", "1", DS_PRECOND_NONE), DS_OK);
    CHECK_EQ_INT(index_entries(&w, tb, &h), 1);
    CHECK(h == want);
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(put(&w, tb, "a", "2", DS_PRECOND_NONE), DS_OK);
    h = 0;
    CHECK_EQ_INT(index_entries(&w, tb, &h), 1);
    CHECK(h == want);
    ds_arena *a = ds_arena_new(1024);
    sync_op s;
    op_prepare(&s, tb, "a", a);
    s.op.is_delete = 1;
    CHECK_EQ_INT(run_op(w.r, &s), DS_OK);
    CHECK_EQ_INT(index_entries(&w, tb, &h), 0);
    CHECK_EQ_INT(put(&w, tb, "a", "3", DS_PRECOND_NONE), DS_OK);
    CHECK_EQ_INT(put(&w, tb, "a", "4", DS_PRECOND_NONE), DS_OK);
    uint64_t id = tb->id;
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);
    world_open(&w);
    t = meta_tenant_get(w.m, "t1", 2);
    tb = meta_table_get(w.m, t, "tab", 3);
    CHECK(tb && tb->id == id);
    h = 0;
    CHECK_EQ_INT(index_entries(&w, tb, &h), 1);
    CHECK(h == want);
    CHECK_EQ_INT(atomic_load(&tb->item_count), 1);
    char v[16];
    CHECK_EQ_INT(get(&w, tb, "a", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "4");
    ds_arena_free(a);
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);
    world_destroy(&w);
}

/* A plain put learns the old item's size from its INDEX entry alone: sizes
 * that grow and shrink, with and without conditions, in one group and across
 * groups, must keep the statistics exact and every entry's length true. An
 * entry written before the length was added (hash only) is still read, and
 * the next write of its item rewrites it with the length. */
TEST(index_lengths_keep_statistics_exact) {
    world w;
    meta_tenant *t;
    meta_table *tb;
    world_with_table(&w, &t, &tb);
    static const char *vals[] = {"x", "a much longer value than the first", "", "mid-size"};
    uint32_t h;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 4; i++) {
            char id[16];
            snprintf(id, sizeof id, "k%d", i);
            CHECK_EQ_INT(put(&w, tb, id, vals[(i + round) % 4], DS_PRECOND_NONE), DS_OK);
            check_stats(&w, tb);
        }
    CHECK_EQ_INT(put(&w, tb, "k0", "y", DS_PRECOND_EXISTS), DS_OK);
    CHECK_EQ_INT(put(&w, tb, "k9", "new", DS_PRECOND_NOT_EXISTS), DS_OK);
    CHECK_EQ_INT(put(&w, tb, "k9", "again", DS_PRECOND_NOT_EXISTS), DS_EEXIST);
    check_stats(&w, tb);
    CHECK_EQ_INT(index_entries(&w, tb, &h), 5);

    /* an older entry of k1: the hash only */
    key_part kp = {KEY_S, "k1", 2};
    ds_buf ik = DS_BUF_INIT;
    CHECK(keycodec_hash(&kp, &h) == DS_OK);
    CHECK(keycodec_index_key(&ik, tb->id, &kp, NULL) == DS_OK);
    unsigned char v1[KEYCODEC_INDEX_VALUE_LEN_V1];
    ds_put_u32be(v1, h);
    engine_batch *b = engine_batch_new();
    engine_batch_put(b, ENGINE_CF_INDEX, ik.data, ik.len, v1, sizeof v1);
    CHECK_EQ_INT(engine_write(w.e, b, 1), DS_OK);
    engine_batch_free(b);
    uint64_t n = 0;
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, tb->id);
    CHECK_EQ_INT(replica_count_where(w.r, &lo, &hi, NULL, NULL, &n), DS_OK);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(put(&w, tb, "k1", "longer than it was before", DS_PRECOND_NONE), DS_OK);
    check_stats(&w, tb);
    CHECK_EQ_INT(index_entries(&w, tb, &h), 5); /* k1's entry has its length again */
    char v[64];
    CHECK_EQ_INT(get(&w, tb, "k1", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "longer than it was before");
    ds_buf_free(&ik), ds_buf_free(&lo), ds_buf_free(&hi);
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);
    world_destroy(&w);
}

/* An apply() that appends "+" to attribute v: a read-modify-write that must
 * see every earlier write, even those in the same uncommitted group. */
static int append_plus(ds_op *op, const item_value *old, item_value **out) {
    const item_value *v = old ? item_get(old, "v", 1) : NULL;
    size_t n = v ? v->u.s.len : 0;
    char *s = ds_arena_alloc(op->arena, n + 2);
    if (n) memcpy(s, v->u.s.p, n);
    s[n] = '+';
    s[n + 1] = 0;
    *out = str_item(op->arena, "v", s);
    return DS_OK;
}

typedef struct hammer {
    world *w;
    meta_table *tb;
    int n;
} hammer;

static void *hammer_main(void *arg) {
    hammer *h = arg;
    for (int i = 0; i < h->n; i++) {
        ds_arena *a = ds_arena_new(1024);
        sync_op *s = ds_malloc(sizeof *s);
        op_prepare(s, h->tb, "counter", a);
        s->op.apply = append_plus;
        if (run_op(h->w->r, s) != DS_OK) abort();
        ds_free(s);
        ds_arena_free(a);
    }
    return NULL;
}

TEST(group_commit_keeps_order_and_atomicity) {
    world w;
    meta_tenant *t;
    meta_table *tb;
    world_with_table(&w, &t, &tb);
    replica_stats before, after;
    replica_get_stats(w.r, &before);
    enum { THREADS = 8, EACH = 100 };
    pthread_t th[THREADS];
    hammer h = {&w, tb, EACH};
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, hammer_main, &h);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    replica_get_stats(w.r, &after);
    /* Every increment landed exactly once (no lost update) ... */
    char v[THREADS * EACH + 16];
    CHECK_EQ_INT(get(&w, tb, "counter", v, sizeof v), DS_OK);
    CHECK_EQ_INT(strlen(v), THREADS * EACH);
    /* ... and concurrent writers shared syncs. */
    uint64_t ops = after.ops - before.ops, syncs = after.syncs - before.syncs;
    CHECK_EQ_INT(ops, THREADS * EACH);
    printf("  %llu ops in %llu syncs\n", (unsigned long long)ops, (unsigned long long)syncs);
    CHECK(syncs < ops);
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);
    world_destroy(&w);
}

TEST(ciphertext_is_bound_to_its_key) {
    world w;
    meta_tenant *t;
    meta_table *tb;
    world_with_table(&w, &t, &tb);
    CHECK_EQ_INT(put(&w, tb, "a", "secret-a", DS_PRECOND_NONE), DS_OK);
    CHECK_EQ_INT(put(&w, tb, "b", "secret-b", DS_PRECOND_NONE), DS_OK);
    /* Copy a's stored ciphertext over b's: reading b must now fail, not return a's value. */
    key_part ka = {KEY_S, "a", 1}, kb = {KEY_S, "b", 1};
    uint32_t ha, hb;
    ds_buf da = DS_BUF_INIT, db = DS_BUF_INIT, va = DS_BUF_INIT;
    keycodec_hash(&ka, &ha), keycodec_hash(&kb, &hb);
    keycodec_data_key(&da, tb->id, ha, &ka, NULL);
    keycodec_data_key(&db, tb->id, hb, &kb, NULL);
    CHECK_EQ_INT(engine_get(w.e, ENGINE_CF_DATA, da.data, da.len, &va), DS_OK);
    CHECK(memmem(va.data, va.len, "secret-a", 8) == NULL); /* not plaintext */
    engine_batch *b = engine_batch_new();
    engine_batch_put(b, ENGINE_CF_DATA, db.data, db.len, va.data, va.len);
    CHECK_EQ_INT(engine_write(w.e, b, 1), DS_OK);
    engine_batch_free(b);
    char v[64];
    CHECK_EQ_INT(get(&w, tb, "b", v, sizeof v), DS_ECORRUPT);
    CHECK_EQ_INT(get(&w, tb, "a", v, sizeof v), DS_OK);
    ds_buf_free(&da), ds_buf_free(&db), ds_buf_free(&va);
    meta_table_release(tb);
    meta_tenant_release(t);
    world_close(&w);
    world_destroy(&w);
}

TEST(drop_table_removes_its_data_only) {
    world w;
    world_new(&w);
    meta_tenant *t;
    meta_table *t1, *t2;
    meta_table_spec spec = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};
    CHECK_EQ_INT(meta_tenant_create(w.m, "t1", NULL, NULL, &t), DS_OK);
    CHECK_EQ_INT(meta_table_create(w.m, t, "one", 3, &spec, &t1), DS_OK);
    CHECK_EQ_INT(meta_table_create(w.m, t, "two", 3, &spec, &t2), DS_OK);
    char id[32];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "k%d", i);
        CHECK_EQ_INT(put(&w, t1, id, "x", DS_PRECOND_NONE), DS_OK);
        CHECK_EQ_INT(put(&w, t2, id, "y", DS_PRECOND_NONE), DS_OK);
    }
    uint64_t t1id = t1->id;
    CHECK_EQ_INT(meta_table_drop(w.m, t, "one", 3), DS_OK);
    CHECK(meta_table_get(w.m, t, "one", 3) == NULL);
    CHECK_EQ_INT(put(&w, t1, "late", "x", DS_PRECOND_NONE), DS_ESTATE); /* dropped */
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, t1id);
    for (engine_cf cf = ENGINE_CF_DATA; cf <= ENGINE_CF_INDEX; cf++) {
        engine_iter *it = engine_iter_new(w.e, cf, lo.data, lo.len, hi.data, hi.len);
        engine_iter_seek_first(it);
        CHECK(!engine_iter_valid(it));
        engine_iter_free(it);
    }
    char v[16];
    CHECK_EQ_INT(get(&w, t2, "k7", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "y");
    CHECK_EQ_INT(atomic_load(&t2->item_count), 300);
    /* Recreating the name gives an empty table with a new id. */
    meta_table *t1b;
    CHECK_EQ_INT(meta_table_create(w.m, t, "one", 3, &spec, &t1b), DS_OK);
    CHECK(t1b->id != t1id);
    CHECK_EQ_INT(get(&w, t1b, "k7", v, sizeof v), DS_ENOTFOUND);
    /* Dropping the tenant drops everything and forgets its key. */
    CHECK_EQ_INT(meta_tenant_drop(w.m, "t1", 2), DS_OK);
    CHECK(meta_tenant_get(w.m, "t1", 2) == NULL);
    CHECK(meta_table_get(w.m, t, "two", 3) == NULL);
    ds_buf_free(&lo), ds_buf_free(&hi);
    meta_table_release(t1), meta_table_release(t2), meta_table_release(t1b);
    meta_tenant_release(t);
    world_close(&w);
    world_destroy(&w);
}

TEST(interrupted_tenant_drop_is_finished_at_open) {
    world w;
    world_new(&w);
    meta_tenant *t;
    meta_table *tb;
    meta_table_spec spec = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};
    CHECK_EQ_INT(meta_tenant_create(w.m, "gone", NULL, NULL, &t), DS_OK);
    CHECK_EQ_INT(meta_table_create(w.m, t, "tab", 3, &spec, &tb), DS_OK);
    CHECK_EQ_INT(put(&w, tb, "a", "1", DS_PRECOND_NONE), DS_OK);
    uint64_t id = tb->id;
    meta_table_release(tb);
    meta_tenant_release(t);
    /* The first step of a tenant drop, then a crash: tenant record and keys gone. */
    engine_batch *b = engine_batch_new();
    engine_batch_delete(b, ENGINE_CF_META, "t/gone", 6);
    engine_batch_delete(b, ENGINE_CF_META, "ctl/tenant/gone", 15);
    CHECK_EQ_INT(engine_write(w.e, b, 1), DS_OK);
    engine_batch_free(b);
    world_close(&w);
    world_open(&w);
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT, v = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, id);
    engine_iter *it = engine_iter_new(w.e, ENGINE_CF_DATA, lo.data, lo.len, hi.data, hi.len);
    engine_iter_seek_first(it);
    CHECK(!engine_iter_valid(it));
    engine_iter_free(it);
    CHECK_EQ_INT(engine_get(w.e, ENGINE_CF_META, "T/gone/tab", 10, &v), DS_ENOTFOUND);
    ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&v);
    world_close(&w);
    world_destroy(&w);
}

/* The writer's wake-ups must not preempt the HTTP loops (writer_priority):
 * its thread runs as SCHED_BATCH. */
TEST(writer_runs_as_sched_batch) {
    world w;
    world_new(&w);
    int found = 0;
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f) && !strcmp(comm, "ds-writer\n")) {
            found++;
            CHECK_EQ_INT(sched_getscheduler(atoi(de->d_name)), SCHED_BATCH);
        }
        fclose(f);
    }
    closedir(d);
    CHECK_EQ_INT(found, 1);
    world_close(&w);
    world_destroy(&w);
}

TEST_MAIN()
