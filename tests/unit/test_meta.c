/* test_meta.c -- meta's serve backend (META column family through the
 * replica) for what test_replica.c does not cover: tables by id, waiting
 * for an id, extra settings and listing, across a reopen. Real RocksDB in a
 * temporary directory. */
#include <stdatomic.h>
#include <stdlib.h>

#include "control/meta.h"
#include "crypto/crypto.h"
#include "etcd_server.h" /* etcd_server_now / _sleep_ms only */
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
    CHECK(crypto_init() == DS_OK);
    snprintf(w->dir, sizeof w->dir, "/tmp/dstore-test-meta-XXXXXX");
    CHECK(mkdtemp(w->dir) != NULL);
    crypto_random(w->kn, 32);
    crypto_random(w->kc, 32);
    world_open(w);
}

static void world_destroy(world *w) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    CHECK(system(cmd) == 0);
}

static const meta_table_spec plain = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};

static void add_name(const meta_table *tb, void *ud) {
    ds_buf *b = ud;
    ds_buf_printf(b, "%s,", tb->name);
}

TEST(tables_by_id) {
    world w;
    world_new(&w);
    meta_tenant *t;
    meta_table *a, *b;
    CHECK_EQ_INT(meta_tenant_create(w.m, "acme", NULL, NULL, &t), DS_OK);
    CHECK_EQ_INT(meta_table_create(w.m, t, "alpha", 5, &plain, &a), DS_OK);
    CHECK_EQ_INT(meta_table_create(w.m, t, "beta", 4, &plain, &b), DS_OK);
    CHECK(a->id != b->id);
    meta_table *x = meta_table_by_id(w.m, a->id);
    CHECK(x == a);
    meta_table_release(x);
    x = meta_table_wait_id(w.m, b->id, 1000);
    CHECK(x == b);
    meta_table_release(x);
    CHECK(meta_table_by_id(w.m, b->id + 100) == NULL);
    /* an id never allocated: waits the whole timeout */
    double t0 = etcd_server_now();
    CHECK(meta_table_wait_id(w.m, b->id + 100, 200) == NULL);
    CHECK(etcd_server_now() - t0 >= 0.19);

    uint64_t aid = a->id, bid = b->id;
    CHECK_EQ_INT(meta_table_drop(w.m, t, "alpha", 5), DS_OK);
    CHECK(meta_table_by_id(w.m, aid) == NULL);
    /* a dropped id: no waiting */
    t0 = etcd_server_now();
    CHECK(meta_table_wait_id(w.m, aid, 5000) == NULL);
    CHECK(etcd_server_now() - t0 < 1.0);
    meta_table_release(a), meta_table_release(b);
    meta_tenant_release(t);

    world_close(&w);
    world_open(&w);
    x = meta_table_by_id(w.m, bid);
    CHECK(x != NULL);
    CHECK_EQ_STR(x->name, "beta");
    meta_table_release(x);
    CHECK(meta_table_by_id(w.m, aid) == NULL);
    /* a tenant drop takes its tables out of the id map too */
    CHECK_EQ_INT(meta_tenant_drop(w.m, "acme", 4), DS_OK);
    CHECK(meta_table_by_id(w.m, bid) == NULL);
    world_close(&w);
    world_destroy(&w);
}

TEST(extra_and_listing_survive_a_reopen) {
    world w;
    world_new(&w);
    meta_tenant *t;
    CHECK_EQ_INT(meta_tenant_create(w.m, "acme", NULL, NULL, &t), DS_OK);
    const char *names[] = {"ccc", "aaa", "bbb"};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(meta_table_create(w.m, t, names[i], 3, &plain, NULL), DS_OK);
    meta_table *x = meta_table_get(w.m, t, "bbb", 3);
    CHECK_EQ_INT(meta_table_set_extra(w.m, x, "{\"k\":true}", 10), DS_OK);
    ds_buf b = DS_BUF_INIT;
    meta_table_extra(w.m, x, &b);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_MEM(b.data, "{\"k\":true}", 10);
    meta_table_release(x);
    meta_tenant_release(t);
    world_close(&w);
    world_open(&w);
    t = meta_tenant_get(w.m, "acme", 4);
    CHECK(t != NULL);
    x = meta_table_get(w.m, t, "bbb", 3);
    CHECK(x != NULL);
    ds_buf_reset(&b);
    meta_table_extra(w.m, x, &b);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_MEM(b.data, "{\"k\":true}", 10);
    meta_table_release(x);
    ds_buf_reset(&b);
    CHECK_EQ_INT(meta_table_list(w.m, t, NULL, 0, 2, add_name, &b), 1);
    CHECK_EQ_INT(b.len, 8);
    CHECK_EQ_MEM(b.data, "aaa,bbb,", 8);
    ds_buf_reset(&b);
    CHECK_EQ_INT(meta_table_list(w.m, t, "bbb", 3, 10, add_name, &b), 0);
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_MEM(b.data, "ccc,", 4);
    ds_buf_free(&b);
    meta_tenant_release(t);
    world_close(&w);
    world_destroy(&w);
}

TEST_MAIN()
