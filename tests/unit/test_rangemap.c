/* test_rangemap.c -- the range map (src/cluster/rangemap.c) against a real
 * etcd, and the range record codec without one. */
#include "cluster/rangemap.h"

#include "etcd_server.h"
#include "t.h"

typedef struct fx {
    etcd_server srv;
    etcd *e;
    rangemap *m;
} fx;

static void fx_start(fx *f) {
    char err[256];
    if (etcd_server_start(&f->srv)) T_FAIL("etcd did not start");
    if (etcd_open(f->srv.url, "/dstore/", &f->e, err, sizeof err)) T_FAIL("etcd_open: %s", err);
    if (rangemap_open(f->e, &f->m, err, sizeof err)) T_FAIL("rangemap_open: %s", err);
}

static void fx_end(fx *f) {
    rangemap_close(f->m);
    etcd_close(f->e);
    etcd_server_cleanup(&f->srv);
}

static range_rec mk(uint64_t table, uint32_t low, uint32_t high, const char *leader) {
    range_rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.tenant, sizeof r.tenant, "acme");
    snprintf(r.table, sizeof r.table, "t%llu", (unsigned long long)table);
    r.table_id = table, r.low = low, r.high = high;
    snprintf(r.leader, sizeof r.leader, "%s", leader);
    snprintf(r.uri, sizeof r.uri, "http://127.0.0.1:1/");
    range_add(r.replicas, &r.nreplicas, leader);
    range_add(r.replicas, &r.nreplicas, "n2");
    range_add(r.insync, &r.ninsync, leader);
    r.epoch = 1;
    return r;
}

/* Waits until table's range holding hash has the given leader. */
static int wait_leader(rangemap *m, uint64_t table, uint32_t hash, const char *leader) {
    for (int i = 0; i < 200; i++) {
        range_rec r;
        uint64_t v = rangemap_version(m);
        if (rangemap_find(m, table, hash, &r) == DS_OK && !strcmp(r.leader, leader)) return 1;
        rangemap_wait(m, v, 50);
    }
    return 0;
}

TEST(record_round_trip) {
    range_rec r = mk(7, 100, 200, "n1"), back;
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    range_rec_key(&r, &k);
    range_rec_value(&r, &v);
    CHECK_EQ_STR(k.data, "tenant/acme/t7/100");
    CHECK_EQ_INT(range_rec_parse(k.data, k.len, v.data, v.len, &back), DS_OK);
    CHECK_EQ_INT(back.table_id, 7);
    CHECK_EQ_INT(back.low, 100);
    CHECK_EQ_INT(back.high, 200);
    CHECK_EQ_STR(back.leader, "n1");
    CHECK_EQ_INT(back.nreplicas, 2);
    CHECK_EQ_STR(back.replicas[1], "n2");
    CHECK_EQ_INT(back.ninsync, 1);
    CHECK_EQ_INT(back.epoch, 1);
    /* the key's lowHash must agree with the value's */
    CHECK_EQ_INT(range_rec_parse("tenant/acme/t7/101", 18, v.data, v.len, &back), DS_EPARSE);
    CHECK_EQ_INT(range_rec_parse("tenant/acme/t7", 14, v.data, v.len, &back), DS_EPARSE);
    CHECK_EQ_INT(range_rec_parse(k.data, k.len, "{\"table\":1}", 11, &back), DS_EPARSE);
    const char *hl = "{\"table\":7,\"lowHash\":100,\"highHash\":99}";
    CHECK_EQ_INT(range_rec_parse(k.data, k.len, hl, strlen(hl), &back), DS_EPARSE);
    ds_buf_free(&k), ds_buf_free(&v);
}

TEST(list_add_remove) {
    char l[RANGE_MAX_REPLICAS][RANGE_UUID_LEN];
    int n = 0;
    range_add(l, &n, "a"), range_add(l, &n, "b"), range_add(l, &n, "a"), range_add(l, &n, "c");
    CHECK_EQ_INT(n, 3);
    range_remove(l, &n, "b");
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_STR(l[1], "c");
    CHECK(range_has((const char(*)[RANGE_UUID_LEN])l, n, "c"));
    CHECK(!range_has((const char(*)[RANGE_UUID_LEN])l, n, "b"));
}

TEST(find_and_watch) {
    fx f = {0};
    fx_start(&f);
    range_rec a = mk(3, 0, 999, "n1"), b = mk(3, 1000, 4294967295u, "n2"), c = mk(4, 0, 4294967295u, "n3");
    CHECK_EQ_INT(rangemap_cas(f.e, NULL, &a), DS_OK);
    CHECK_EQ_INT(rangemap_cas(f.e, NULL, &b), DS_OK);
    CHECK_EQ_INT(rangemap_cas(f.e, NULL, &c), DS_OK);
    /* creating an existing record is refused */
    CHECK_EQ_INT(rangemap_cas(f.e, NULL, &a), DS_ECONDITION);
    CHECK(wait_leader(f.m, 3, 999, "n1"));
    CHECK(wait_leader(f.m, 3, 1000, "n2"));
    CHECK(wait_leader(f.m, 3, 4294967295u, "n2"));
    CHECK(wait_leader(f.m, 4, 5, "n3"));
    range_rec got;
    CHECK_EQ_INT(rangemap_find(f.m, 5, 0, &got), DS_ENOTFOUND);
    range_rec *all;
    size_t n = rangemap_ranges(f.m, 3, &all);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(all[0].low, 0);
    CHECK_EQ_INT(all[1].low, 1000);
    ds_free(all);

    /* compare-and-swap against the revision the map saw */
    CHECK_EQ_INT(rangemap_find(f.m, 3, 5, &got), DS_OK);
    range_rec nw = got;
    snprintf(nw.leader, sizeof nw.leader, "n2");
    nw.epoch++;
    CHECK_EQ_INT(rangemap_cas(f.e, &got, &nw), DS_OK);
    CHECK_EQ_INT(rangemap_cas(f.e, &got, &nw), DS_ECONDITION); /* stale revision */
    CHECK(wait_leader(f.m, 3, 5, "n2"));

    /* a second map opened now loads what exists */
    rangemap *m2;
    char err[128];
    CHECK_EQ_INT(rangemap_open(f.e, &m2, err, sizeof err), DS_OK);
    CHECK_EQ_INT(rangemap_find(m2, 3, 5, &got), DS_OK);
    CHECK_EQ_STR(got.leader, "n2");
    CHECK_EQ_INT(got.epoch, 2);
    rangemap_close(m2);

    /* deletes are seen */
    ds_buf k = DS_BUF_INIT;
    range_rec_key(&c, &k);
    CHECK_EQ_INT(etcd_delete(f.e, k.data, k.len, 0, NULL), DS_OK);
    for (int i = 0; i < 100 && rangemap_find(f.m, 4, 5, &got) == DS_OK; i++) etcd_server_sleep_ms(20);
    CHECK_EQ_INT(rangemap_find(f.m, 4, 5, &got), DS_ENOTFOUND);
    ds_buf_free(&k);
    fx_end(&f);
}

TEST(nodes_and_drain) {
    fx f = {0};
    fx_start(&f);
    const char *d = "{\"status\":\"okay\",\"uri\":\"http://127.0.0.1:7001/\"}";
    CHECK_EQ_INT(etcd_put(f.e, "node/u1/details", 15, d, strlen(d), 0, NULL), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, "node/u1/drain", 13, "{\"drain\":true}", 14, 0, NULL), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, "node/u1/id/acme/t/0/details", 27, "{}", 2, 0, NULL), DS_OK);
    node_rec n;
    int ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        ok = rangemap_node(f.m, "u1", &n) == DS_OK && n.drain && n.alive;
        if (!ok) etcd_server_sleep_ms(20);
    }
    CHECK(ok);
    CHECK_EQ_STR(n.uri, "http://127.0.0.1:7001/");
    CHECK_EQ_STR(n.status, "okay");
    CHECK_EQ_INT(etcd_delete(f.e, "node/u1/details", 15, 0, NULL), DS_OK);
    for (int i = 0; i < 100 && rangemap_node(f.m, "u1", &n) == DS_OK && n.alive; i++)
        etcd_server_sleep_ms(20);
    CHECK_EQ_INT(rangemap_node(f.m, "u1", &n), DS_OK); /* still known: it has a drain flag */
    CHECK(!n.alive);
    CHECK_EQ_INT(etcd_delete(f.e, "node/u1/drain", 13, 0, NULL), DS_OK);
    for (int i = 0; i < 100 && rangemap_node(f.m, "u1", &n) == DS_OK; i++) etcd_server_sleep_ms(20);
    CHECK_EQ_INT(rangemap_node(f.m, "u1", &n), DS_ENOTFOUND);
    fx_end(&f);
}

TEST_MAIN()
