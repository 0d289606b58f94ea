/* test_replication_cluster.c -- replication between nodes (cluster/
 * replication.h) on a real etcd: three in-process nodes, each with its own
 * RocksDB, writer, metadata (its own keys: values are re-sealed per node),
 * HTTP port serving /internal/v1/ and repl; the test plays the control
 * plane by writing the range records.
 *
 * The invariant checked throughout: once a sync write is acknowledged,
 * every replica in the record's inSync has it (read back with that node's
 * own key); and after a catch-up every replica holds exactly the leader's
 * items. With no control plane moving leaderships, the splits by size test
 * sees what a split alone costs the followers: nothing.
 */
#define T_TIMEOUT 180
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "cluster/peer.h"
#include "cluster/replication.h"
#include "control/meta.h"
#include "crypto/crypto.h"
#include "engine/keycodec.h"
#include "etcd_server.h"
#include "t.h"

#define NNODES 3
#define TIMEOUT_MS 500
#define HALF 0x7fffffffu

typedef struct node {
    char uuid[37];
    char dir[256];
    uint8_t kn[32], kc[32];
    int port;
    engine *e;
    replica *r;
    meta *m;
    etcd *et;
    rangemap *map;
    http_server *hs;
    cluster_member c;
    repl *rp;
    meta_table *tb;
    int up;
} node;

/* The --split-bytes of the nodes started from now on (0: no splits). */
static uint64_t split_bytes;

typedef struct cluster {
    etcd_server srv;
    etcd *et; /* the test's own ("control plane") */
    node n[NNODES];
} cluster;

static void handler(http_request *req, void *ud) {
    node *n = ud;
    if (peer_verify(req)) {
        http_respond(req, 401, "application/json", NULL, 0, "{}", 2);
        return;
    }
    if (!replication_handle(&n->c, req)) http_respond(req, 404, NULL, NULL, 0, NULL, 0);
}

static void node_start(cluster *cl, node *n) {
    char err[512], path[300];
    snprintf(path, sizeof path, "%s/db", n->dir);
    CHECK_EQ_INT(engine_open(path, NULL, &n->e, err, sizeof err), DS_OK);
    CHECK_EQ_INT(replica_start(n->e, &n->r), DS_OK);
    int rc = meta_open(n->e, n->r, n->kn, n->uuid, n->kc, &n->m, err, sizeof err);
    if (rc) T_FAIL("meta_open: %s", err);
    meta_tenant *t = meta_tenant_get(n->m, "acme", 4);
    if (!t) CHECK_EQ_INT(meta_tenant_create(n->m, "acme", NULL, NULL, &t), DS_OK);
    n->tb = meta_table_get(n->m, t, "tab", 3);
    if (!n->tb) {
        meta_table_spec spec = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};
        CHECK_EQ_INT(meta_table_create(n->m, t, "tab", 3, &spec, &n->tb), DS_OK);
    }
    meta_tenant_release(t);
    CHECK_EQ_INT(n->tb->id, 1); /* the same id on every node */
    CHECK_EQ_INT(etcd_open(cl->srv.url, "/dstore/", &n->et, err, sizeof err), DS_OK);
    http_config hc = {0};
    hc.host = "127.0.0.1";
    hc.port = n->port;
    hc.threads = 1;
    hc.handler = handler;
    hc.ud = n;
    rc = http_server_start(&hc, &n->hs, err, sizeof err);
    if (rc) T_FAIL("http: %s", err);
    n->port = http_server_port(n->hs);
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    ds_buf_printf(&k, "node/%s/details", n->uuid);
    ds_buf_printf(&v, "{\"status\":\"okay\",\"uri\":\"http://127.0.0.1:%d/\"}", n->port);
    CHECK_EQ_INT(etcd_put(cl->et, k.data, k.len, v.data, v.len, 0, NULL), DS_OK);
    ds_buf_free(&k), ds_buf_free(&v);
    CHECK_EQ_INT(rangemap_open(n->et, &n->map, err, sizeof err), DS_OK);
    memset(&n->c, 0, sizeof n->c);
    n->c.etcd = n->et;
    n->c.map = n->map;
    n->c.meta = n->m;
    n->c.replica = n->r;
    n->c.engine = n->e;
    snprintf(n->c.uuid, sizeof n->c.uuid, "%s", n->uuid);
    snprintf(n->c.uri, sizeof n->c.uri, "http://127.0.0.1:%d/", n->port);
    n->c.rpc_timeout_ms = 2000;
    repl_opts o = {TIMEOUT_MS, 2, 8 << 10, split_bytes}; /* small pages: several per range */
    CHECK_EQ_INT(repl_start(&n->c, &o, &n->rp, err, sizeof err), DS_OK);
    n->up = 1;
}

static void node_stop(node *n) {
    if (!n->up) return;
    repl_stop(n->rp);
    http_server_stop(n->hs);
    repl_free(n->rp);
    replica_stop(n->r);
    meta_table_release(n->tb);
    meta_close(n->m);
    rangemap_close(n->map);
    etcd_close(n->et);
    engine_close(n->e);
    n->up = 0;
}

static void cluster_start(cluster *cl) {
    memset(cl, 0, sizeof *cl);
    CHECK(crypto_init() == DS_OK);
    if (etcd_server_start(&cl->srv)) T_FAIL("etcd did not start");
    char err[256];
    CHECK_EQ_INT(etcd_open(cl->srv.url, "/dstore/", &cl->et, err, sizeof err), DS_OK);
    uint8_t ck[32];
    crypto_random(ck, 32);
    peer_init(ck);
    for (int i = 0; i < NNODES; i++) {
        node *n = &cl->n[i];
        snprintf(n->uuid, sizeof n->uuid, "%c0000000-0000-4000-8000-00000000000%c", 'a' + i,
                 '0' + i);
        snprintf(n->dir, sizeof n->dir, "/tmp/dstore-test-replc-XXXXXX");
        CHECK(mkdtemp(n->dir) != NULL);
        crypto_random(n->kn, 32);
        crypto_random(n->kc, 32);
        node_start(cl, n);
    }
}

static void cluster_end(cluster *cl) {
    for (int i = 0; i < NNODES; i++) {
        node_stop(&cl->n[i]);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", cl->n[i].dir);
        CHECK(system(cmd) == 0);
    }
    etcd_close(cl->et);
    etcd_server_cleanup(&cl->srv);
}

/* ---- the "control plane" ---- */

static void range_key(ds_buf *k, uint32_t low) {
    ds_buf_reset(k);
    ds_buf_printf(k, "tenant/acme/tab/%u", low);
}

static int read_range(cluster *cl, uint32_t low, range_rec *out) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    range_key(&k, low);
    int64_t mod = 0;
    int rc = etcd_get(cl->et, k.data, k.len, &v, &mod);
    if (!rc) rc = range_rec_parse(k.data, k.len, v.data, v.len, out);
    out->mod_rev = mod;
    ds_buf_free(&k), ds_buf_free(&v);
    return rc;
}

/* Writes (creates or replaces) the record of range [low, high]. */
static void set_range(cluster *cl, uint32_t low, uint32_t high, int leader, const int *reps,
                      int nreps, const int *insync, int nin, uint64_t epoch) {
    range_rec old, nw;
    int exists = read_range(cl, low, &old) == DS_OK;
    memset(&nw, 0, sizeof nw);
    snprintf(nw.tenant, sizeof nw.tenant, "acme");
    snprintf(nw.table, sizeof nw.table, "tab");
    nw.table_id = 1;
    nw.low = low, nw.high = high;
    snprintf(nw.leader, sizeof nw.leader, "%s", cl->n[leader].uuid);
    snprintf(nw.uri, sizeof nw.uri, "http://127.0.0.1:%d/", cl->n[leader].port);
    for (int i = 0; i < nreps; i++) range_add(nw.replicas, &nw.nreplicas, cl->n[reps[i]].uuid);
    for (int i = 0; i < nin; i++) range_add(nw.insync, &nw.ninsync, cl->n[insync[i]].uuid);
    nw.epoch = epoch;
    CHECK_EQ_INT(rangemap_cas(cl->et, exists ? &old : NULL, &nw), DS_OK);
}

static int in_sync(cluster *cl, uint32_t low, int i) {
    range_rec r;
    return read_range(cl, low, &r) == DS_OK && range_has(r.insync, r.ninsync, cl->n[i].uuid);
}

/* Waits until every live node's map shows range low at epoch. */
static void wait_maps(cluster *cl, uint32_t low, uint64_t epoch) {
    for (int tries = 0; tries < 500; tries++) {
        int ok = 1;
        for (int i = 0; i < NNODES; i++) {
            range_rec r;
            if (!cl->n[i].up) continue;
            if (rangemap_find(cl->n[i].map, 1, low, &r) || r.epoch != epoch) ok = 0;
        }
        if (ok) return;
        etcd_server_sleep_ms(10);
    }
    T_FAIL("the range maps did not show range %u at epoch %llu", low, (unsigned long long)epoch);
}

static void two_ranges(cluster *cl, int leader, uint64_t epoch) {
    int all[] = {0, 1, 2};
    set_range(cl, 0, HALF, leader, all, 3, all, 3, epoch);
    set_range(cl, HALF + 1, 0xffffffffu, leader, all, 3, all, 3, epoch);
    wait_maps(cl, 0, epoch);
    wait_maps(cl, HALF + 1, epoch);
}

/* ---- data ---- */

static item_value *str_item(ds_arena *a, const char *val) {
    item_value *v = ds_arena_calloc(a, sizeof *v), *m = ds_arena_calloc(a, sizeof *m);
    v->type = ITEM_S;
    v->u.s.p = val, v->u.s.len = strlen(val);
    m->type = ITEM_M;
    m->u.m.attrs = ds_arena_calloc(a, sizeof(item_attr));
    m->u.m.attrs[0] = (item_attr){"v", 1, v};
    m->u.m.n = 1;
    return m;
}

/* A write through node n's writer, as node_ops submits it. val NULL: delete. */
static int write_at(node *n, const char *id, const char *val, int async) {
    ds_arena *a = ds_arena_new(1024);
    ds_op op;
    ds_op_init(&op, DS_OP_WRITE, a);
    key_part kp = {KEY_S, id, strlen(id)};
    CHECK_EQ_INT(keycodec_hash(&kp, &op.hash), DS_OK);
    CHECK_EQ_INT(keycodec_data_key(&op.key, 1, op.hash, &kp, NULL), DS_OK);
    CHECK_EQ_INT(keycodec_index_key(&op.ikey, 1, &kp, NULL), DS_OK);
    op.table = n->tb;
    if (val) op.item = str_item(a, val);
    else op.is_delete = 1;
    op.async = async;
    int rc = replica_run(n->r, &op);
    ds_op_release(&op);
    ds_arena_free(a);
    return rc;
}

/* id's value on node n (with n's own key); "" when absent. */
static void read_at(node *n, const char *id, char *out, size_t len) {
    ds_arena *a = ds_arena_new(1024);
    key_part kp = {KEY_S, id, strlen(id)};
    uint32_t h;
    ds_buf k = DS_BUF_INIT;
    keycodec_hash(&kp, &h);
    keycodec_data_key(&k, 1, h, &kp, NULL);
    item_value *it;
    out[0] = 0;
    int rc = replica_read(n->r, n->tb, k.data, k.len, a, &it);
    if (rc == DS_OK) {
        item_value *v = item_get(it, "v", 1);
        snprintf(out, len, "%.*s", (int)v->u.s.len, v->u.s.p);
    } else if (rc != DS_ENOTFOUND) {
        T_FAIL("read of %s on node %.8s: %s", id, n->uuid, ds_strerror(rc));
    }
    ds_buf_free(&k);
    ds_arena_free(a);
}

static uint32_t hash_of(const char *id) {
    key_part kp = {KEY_S, id, strlen(id)};
    uint32_t h;
    keycodec_hash(&kp, &h);
    return h;
}

typedef struct dump_ctx {
    ds_buf *out;
    size_t n;
} dump_ctx;

static int dump_fn(const char *k, size_t kl, item_value *item, size_t stored, void *ud) {
    (void)stored;
    dump_ctx *d = ud;
    ds_buf_put_u32be(d->out, (uint32_t)kl);
    ds_buf_append(d->out, k, kl);
    ds_buf pt = DS_BUF_INIT;
    CHECK_EQ_INT(item_encode(&pt, item), DS_OK);
    ds_buf_put_u32be(d->out, (uint32_t)pt.len);
    ds_buf_append(d->out, pt.data, pt.len);
    ds_buf_free(&pt);
    d->n++;
    return 0;
}

/* Every item of table 1 on node n, decrypted, in key order; plus the index
 * entries (so both column families are compared). Returns the item count. */
static size_t dump(node *n, ds_buf *out) {
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, 1);
    ds_arena *a = ds_arena_new(4096);
    dump_ctx d = {out, 0};
    ds_buf_reset(out);
    CHECK_EQ_INT(replica_range(n->r, n->tb, &lo, &hi, NULL, 0, a, dump_fn, &d), DS_OK);
    uint64_t ni;
    CHECK_EQ_INT(replica_count(n->r, n->tb, &lo, &hi, &ni), DS_OK);
    CHECK_EQ_INT(ni, d.n);
    CHECK_EQ_INT(atomic_load(&n->tb->item_count), (int64_t)d.n);
    ds_arena_free(a);
    ds_buf_free(&lo), ds_buf_free(&hi);
    return d.n;
}

static void check_same(cluster *cl, int a, int b) {
    ds_buf da = DS_BUF_INIT, db = DS_BUF_INIT;
    size_t na = dump(&cl->n[a], &da), nb = dump(&cl->n[b], &db);
    if (na != nb || da.len != db.len || memcmp(da.data, db.data, da.len))
        T_FAIL("nodes %d and %d differ (%zu and %zu items)", a, b, na, nb);
    ds_buf_free(&da), ds_buf_free(&db);
}

/* Waits until node n's repl has no sync op waiting and every range it
 * leads has its followers' acks (all writes settled). */
static void settle(node *n) {
    for (int tries = 0; tries < 500; tries++) {
        repl_range_info *v;
        size_t k = repl_ranges(n->rp, &v), waiting = 0;
        for (size_t i = 0; i < k; i++)
            waiting += v[i].waiting + (v[i].leading && v[i].acked < v[i].seq);
        ds_free(v);
        if (!waiting) return;
        etcd_server_sleep_ms(10);
    }
    T_FAIL("writes did not settle");
}

static void wait_in_sync(cluster *cl, uint32_t low, int i, int want, int ms) {
    for (int t = 0; t < ms / 20; t++) {
        if (in_sync(cl, low, i) == want) return;
        etcd_server_sleep_ms(20);
    }
    T_FAIL("node %d %s the in-sync set of range %u in time", i, want ? "did not join" : "did not leave",
           low);
}

/* ---- tests ---- */

TEST(acknowledged_writes_are_on_every_in_sync_replica) {
    cluster cl;
    cluster_start(&cl);
    two_ranges(&cl, 0, 1);
    char id[32], val[32], got[64];
    for (int i = 0; i < 120; i++) {
        snprintf(id, sizeof id, "k%d", i % 50);
        snprintf(val, sizeof val, "v%d", i);
        int del = i % 7 == 3;
        CHECK_EQ_INT(write_at(&cl.n[0], id, del ? NULL : val, 0), DS_OK);
        for (int j = 1; j < NNODES; j++) { /* acknowledged => on every in-sync replica */
            read_at(&cl.n[j], id, got, sizeof got);
            CHECK_EQ_STR(got, del ? "" : val);
        }
    }
    CHECK_EQ_INT(write_at(&cl.n[0], "async", "a", 1), DS_OK);
    /* followers refuse client writes: they do not lead */
    CHECK_EQ_INT(write_at(&cl.n[1], "k1", "x", 0), DS_ESTATE);
    settle(&cl.n[0]);
    read_at(&cl.n[2], "async", got, sizeof got);
    CHECK_EQ_STR(got, "a");
    check_same(&cl, 0, 1);
    check_same(&cl, 0, 2);
    /* positions agree */
    repl_range_info *a, *b;
    size_t na = repl_ranges(cl.n[0].rp, &a), nb = repl_ranges(cl.n[2].rp, &b);
    CHECK_EQ_INT(na, 2);
    CHECK_EQ_INT(nb, 2);
    for (size_t i = 0; i < 2; i++) {
        CHECK(a[i].leading && !b[i].leading);
        CHECK_EQ_INT(a[i].seq, b[i].seq);
        CHECK_EQ_INT(a[i].epoch, 1);
        CHECK(a[i].seq > 10);
        CHECK_EQ_INT(a[i].nrequired, 2);
    }
    ds_free(a), ds_free(b);
    /* the status records say okay */
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    ds_buf_printf(&k, "node/%s/id/acme/tab/0/details", cl.n[1].uuid);
    int ok = 0;
    for (int t = 0; t < 200 && !ok; t++) {
        ok = etcd_get(cl.et, k.data, k.len, &v, NULL) == DS_OK && strstr(v.data, "\"okay\"");
        if (!ok) etcd_server_sleep_ms(20);
    }
    CHECK(ok);
    ds_buf_free(&k), ds_buf_free(&v);
    cluster_end(&cl);
}

#define NKEYS 300
#define PAD 300

typedef struct writer_bg {
    cluster *cl;
    int leader;
    int retry_refused; /* retry a write admit refused (DS_ESTATE), as the router does */
    int async;         /* acknowledged before the followers have it: they lag */
    atomic_int stop;
    int n, errors, refused;
    char last[NKEYS][16]; /* the tag of the last acknowledged value of pre<i> ("" deleted) */
} writer_bg;

/* A value of about PAD bytes starting with tag. */
static void padded(char *out, size_t n, const char *tag) {
    snprintf(out, n, "%s:%0*d", tag, PAD, 0);
}

static void *writer_main(void *arg) {
    writer_bg *w = arg;
    char id[32], tag[16], val[PAD + 32];
    for (int i = 0; !atomic_load(&w->stop); i++) {
        int k = (i * 37) % NKEYS;
        snprintf(id, sizeof id, "pre%d", k);
        snprintf(tag, sizeof tag, "x%d", i);
        padded(val, sizeof val, tag);
        int del = i % 11 == 5;
        int rc = write_at(&w->cl->n[w->leader], id, del ? NULL : val, w->async);
        while (rc == DS_ESTATE && w->retry_refused && !atomic_load(&w->stop)) {
            w->refused++;
            etcd_server_sleep_ms(2);
            rc = write_at(&w->cl->n[w->leader], id, del ? NULL : val, w->async);
        }
        if (rc == DS_OK) snprintf(w->last[k], sizeof w->last[k], "%s", del ? "" : tag);
        else w->errors++;
        w->n++;
        if (i % 8 == 0) etcd_server_sleep_ms(1);
    }
    return NULL;
}

TEST(a_dead_follower_leaves_the_in_sync_set_and_catches_up_after_restart) {
    cluster cl;
    cluster_start(&cl);
    two_ranges(&cl, 0, 1);
    char id[32], got[PAD + 64], val[PAD + 32];
    writer_bg w;
    memset(&w, 0, sizeof w);
    w.cl = &cl;
    padded(val, sizeof val, "before");
    for (int i = 0; i < NKEYS; i++) {
        snprintf(id, sizeof id, "pre%d", i);
        CHECK_EQ_INT(write_at(&cl.n[0], id, val, 0), DS_OK);
        snprintf(w.last[i], sizeof w.last[i], "before");
    }
    node_stop(&cl.n[2]);
    /* a sync write now waits for the timeout, removes node 2 from inSync,
     * and is acknowledged with node 1 only */
    uint64_t t0 = ds_now_ms();
    const char *a = "pre1", *b = NULL;
    for (int i = 0; i < NKEYS && !b; i++) { /* a key of the other range */
        snprintf(id, sizeof id, "pre%d", i);
        if ((hash_of(id) > HALF) != (hash_of(a) > HALF)) b = id;
    }
    CHECK(b != NULL);
    padded(val, sizeof val, "down");
    CHECK_EQ_INT(write_at(&cl.n[0], a, val, 0), DS_OK);
    uint64_t took = ds_now_ms() - t0;
    if (took < TIMEOUT_MS) T_FAIL("the write took %llu ms", (unsigned long long)took);
    CHECK_EQ_INT(write_at(&cl.n[0], b, val, 0), DS_OK);
    snprintf(w.last[1], sizeof w.last[1], "down");
    snprintf(w.last[atoi(b + 3)], sizeof w.last[0], "down");
    CHECK(!in_sync(&cl, 0, 2) && !in_sync(&cl, HALF + 1, 2));
    CHECK(in_sync(&cl, 0, 1) && in_sync(&cl, HALF + 1, 1));
    read_at(&cl.n[1], a, got, sizeof got);
    CHECK_EQ_STR(got, val);
    /* now fast again (only node 1 is waited for) */
    t0 = ds_now_ms();
    CHECK_EQ_INT(write_at(&cl.n[0], "fast", "1", 0), DS_OK);
    CHECK(ds_now_ms() - t0 < TIMEOUT_MS);

    /* restart node 2 while the same keys keep changing: it streams the
     * leader's snapshot (several pages) under live writes, and rejoins */
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &w);
    etcd_server_sleep_ms(200);
    node_start(&cl, &cl.n[2]);
    wait_in_sync(&cl, 0, 2, 1, 30000);
    wait_in_sync(&cl, HALF + 1, 2, 1, 30000);
    etcd_server_sleep_ms(300); /* some writes with node 2 required again */
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    CHECK(w.n > 50);
    CHECK_EQ_INT(w.errors, 0);
    settle(&cl.n[0]);
    check_same(&cl, 0, 1);
    check_same(&cl, 0, 2);
    for (int k = 0; k < NKEYS; k++) {
        snprintf(id, sizeof id, "pre%d", k);
        read_at(&cl.n[2], id, got, sizeof got);
        if (w.last[k][0]) padded(val, sizeof val, w.last[k]);
        else val[0] = 0;
        CHECK_EQ_STR(got, val);
    }
    cluster_end(&cl);
}

TEST(a_follower_that_missed_nothing_resumes) {
    cluster cl;
    cluster_start(&cl);
    two_ranges(&cl, 0, 1);
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "r%d", i);
        CHECK_EQ_INT(write_at(&cl.n[0], id, "v", 0), DS_OK);
    }
    settle(&cl.n[0]);
    node_stop(&cl.n[2]);
    /* the control plane drops the dead node from inSync (no write meanwhile) */
    int all[] = {0, 1, 2}, two[] = {0, 1};
    set_range(&cl, 0, HALF, 0, all, 3, two, 2, 1);
    wait_maps(&cl, 0, 1);
    node_start(&cl, &cl.n[2]);
    wait_in_sync(&cl, 0, 2, 1, 20000);
    CHECK_EQ_INT(write_at(&cl.n[0], "r1", "after", 0), DS_OK);
    CHECK_EQ_INT(write_at(&cl.n[0], "r2", "after", 0), DS_OK);
    settle(&cl.n[0]);
    check_same(&cl, 0, 2);
    cluster_end(&cl);
}

static int post_replicate(cluster *cl, int to, const repl_wsection *s, const replica_mut *m,
                          size_t nm, ds_buf *resp) {
    ds_buf msg = DS_BUF_INIT, body = DS_BUF_INIT;
    repl_wire_muts(&body, m, nm);
    repl_wire_header(&msg, cl->n[0].uuid, 1);
    repl_wire_section(&msg, s, body.data, body.len, (uint32_t)nm);
    char uri[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/", cl->n[to].port);
    long status = 0;
    CHECK_EQ_INT(peer_call(uri, "internal/v1/replicate", msg.data, msg.len, 5000, &status, resp),
                 DS_OK);
    ds_buf_free(&msg), ds_buf_free(&body);
    return (int)status;
}

TEST(a_new_epoch_fences_the_old_leader) {
    cluster cl;
    cluster_start(&cl);
    two_ranges(&cl, 0, 1);
    char id[32], got[64];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "e%d", i);
        CHECK_EQ_INT(write_at(&cl.n[0], id, "epoch1", 0), DS_OK);
    }
    settle(&cl.n[0]);
    /* the control plane moves leadership to node 1, epoch 2 */
    two_ranges(&cl, 1, 2);
    CHECK_EQ_INT(write_at(&cl.n[0], "e1", "old-leader", 0), DS_ESTATE);
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "e%d", i);
        CHECK_EQ_INT(write_at(&cl.n[1], id, "epoch2", 0), DS_OK);
        read_at(&cl.n[0], id, got, sizeof got);
        CHECK_EQ_STR(got, "epoch2");
        read_at(&cl.n[2], id, got, sizeof got);
        CHECK_EQ_STR(got, "epoch2");
    }
    settle(&cl.n[1]);
    check_same(&cl, 1, 0);
    check_same(&cl, 1, 2);

    /* a section of the old epoch is refused, one that does not follow the
     * follower's position too; neither changes anything */
    repl_range_info *v;
    size_t n = repl_ranges(cl.n[2].rp, &v);
    CHECK_EQ_INT(n, 2);
    uint64_t e = v[0].epoch, s = v[0].seq;
    ds_free(v);
    CHECK_EQ_INT(e, 2);
    ds_buf k = DS_BUF_INIT, p = DS_BUF_INIT, resp = DS_BUF_INIT;
    key_part kp = {KEY_S, "e1", 2};
    uint32_t h = hash_of("e1");
    keycodec_data_key(&k, 1, h, &kp, NULL);
    ds_arena *a = ds_arena_new(256);
    CHECK_EQ_INT(item_encode(&p, str_item(a, "forged")), DS_OK);
    replica_mut m = {k.data, k.len, p.data, p.len, NULL};
    uint32_t lo = h > HALF ? HALF + 1 : 0, hi = h > HALF ? 0xffffffffu : HALF;
    repl_wsection old = {1, lo, hi, 1, e, s, s + 1, 0, NULL, 0};
    old.prev_epoch = 1;
    CHECK_EQ_INT(post_replicate(&cl, 2, &old, &m, 1, &resp), 409);
    CHECK(strstr(resp.data, "StaleEpoch") != NULL);
    repl_wsection gap = {1, lo, hi, 2, 2, s + 5, s + 6, 0, NULL, 0};
    CHECK_EQ_INT(post_replicate(&cl, 2, &gap, &m, 1, &resp), 409);
    CHECK(strstr(resp.data, "Diverged") != NULL);
    read_at(&cl.n[2], "e1", got, sizeof got);
    CHECK_EQ_STR(got, "epoch2");
    /* a malformed body */
    char uri[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/", cl.n[2].port);
    long status;
    CHECK_EQ_INT(peer_call(uri, "internal/v1/replicate", "DSR1", 4, 5000, &status, &resp), DS_OK);
    CHECK_EQ_INT(status, 400);
    ds_arena_free(a);
    ds_buf_free(&k), ds_buf_free(&p), ds_buf_free(&resp);
    cluster_end(&cl);
}

typedef struct bg1 {
    node *n;
    const char *id, *val;
    int rc;
    atomic_int done;
} bg1;

static void *bg1_main(void *arg) {
    bg1 *b = arg;
    b->rc = write_at(b->n, b->id, b->val, 0);
    atomic_store(&b->done, 1);
    return NULL;
}

TEST(a_write_waiting_when_the_leader_is_deposed_is_not_acknowledged) {
    cluster cl;
    cluster_start(&cl);
    two_ranges(&cl, 0, 1);
    CHECK_EQ_INT(write_at(&cl.n[0], "d1", "first", 0), DS_OK);
    node_stop(&cl.n[1]); /* its acks never come */
    bg1 b = {&cl.n[0], "d1", "second", -1, 0};
    pthread_t th;
    pthread_create(&th, NULL, bg1_main, &b);
    etcd_server_sleep_ms(100);
    CHECK_EQ_INT(atomic_load(&b.done), 0); /* waiting for node 1 */
    /* meanwhile the control plane makes node 2 the leader */
    int all[] = {0, 1, 2}, in2[] = {2, 1};
    uint32_t h = hash_of("d1");
    uint32_t lo = h > HALF ? HALF + 1 : 0, hi = h > HALF ? 0xffffffffu : HALF;
    set_range(&cl, lo, hi, 2, all, 3, in2, 2, 2);
    pthread_join(th, NULL);
    CHECK_EQ_INT(b.rc, DS_ESTATE);
    /* and node 0 does not get node 1 out of the in-sync set any more */
    CHECK(in_sync(&cl, lo, 1));
    cluster_end(&cl);
}

TEST(a_replica_removed_from_a_range_deletes_its_copy) {
    cluster cl;
    cluster_start(&cl);
    two_ranges(&cl, 0, 1);
    char id[32];
    int lowside = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "m%d", i);
        CHECK_EQ_INT(write_at(&cl.n[0], id, "v", 0), DS_OK);
        lowside += hash_of(id) <= HALF;
    }
    settle(&cl.n[0]);
    int two[] = {0, 1};
    set_range(&cl, 0, HALF, 0, two, 2, two, 2, 1);
    ds_buf d = DS_BUF_INIT;
    int ok = 0;
    for (int t = 0; t < 300 && !ok; t++) { /* the position record goes last */
        ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
        repl_pos_key(&k, 1, 0);
        ok = engine_get(cl.n[2].e, ENGINE_CF_META, k.data, k.len, &v) == DS_ENOTFOUND;
        ds_buf_free(&k), ds_buf_free(&v);
        if (!ok) etcd_server_sleep_ms(20);
    }
    CHECK(ok);
    CHECK_EQ_INT(dump(&cl.n[2], &d), 100 - lowside);
    char got[64];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "m%d", i);
        read_at(&cl.n[2], id, got, sizeof got);
        CHECK_EQ_STR(got, hash_of(id) <= HALF ? "" : "v");
    }
    /* its status record goes too */
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    ds_buf_printf(&k, "node/%s/id/acme/tab/0/details", cl.n[2].uuid);
    ok = 0;
    for (int t = 0; t < 100 && !ok; t++) {
        ok = etcd_get(cl.et, k.data, k.len, &v, NULL) == DS_ENOTFOUND;
        if (!ok) etcd_server_sleep_ms(20);
    }
    CHECK(ok);
    /* writes go on with the two replicas left */
    CHECK_EQ_INT(write_at(&cl.n[0], "m1", "w", 0), DS_OK);
    ds_buf_free(&k), ds_buf_free(&v), ds_buf_free(&d);
    cluster_end(&cl);
}

/* Sends this process's stderr (the log) to path; returns the saved fd. */
static int log_to(const char *path) {
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static void log_back(int saved) {
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

/* How many lines of the file at path contain text. */
static int lines_with(const char *path, const char *text) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

static size_t ranges_led(node *n) {
    repl_range_info *v;
    size_t k = repl_ranges(n->rp, &v), led = 0;
    for (size_t i = 0; i < k; i++) led += v[i].leading;
    ds_free(v);
    return led;
}

TEST(a_split_by_size_under_writes_copies_nothing) {
    /* NKEYS values of ~PAD bytes: ~50 KB per range, split down to 24 KB */
    split_bytes = 24 << 10;
    cluster cl;
    cluster_start(&cl);
    char logf[300];
    snprintf(logf, sizeof logf, "%s/log", cl.n[0].dir);
    int saved = log_to(logf); /* every node's log: one process */
    two_ranges(&cl, 0, 1);
    writer_bg w;
    memset(&w, 0, sizeof w);
    w.cl = &cl;
    w.retry_refused = 1;
    w.async = 1; /* the followers lag: without the pause they cut elsewhere */
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &w);
    for (int t = 0; t < 2000 && ranges_led(&cl.n[0]) < 6; t++) etcd_server_sleep_ms(10);
    etcd_server_sleep_ms(300); /* writes to the last halves */
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    settle(&cl.n[0]);
    log_back(saved);
    size_t led = ranges_led(&cl.n[0]);
    if (led < 6) T_FAIL("only %zu ranges after %d writes", led, w.n);
    CHECK_EQ_INT(w.errors, 0);
    /* each split paused its range (writes refused and retried), cut every
     * copy at the same position, and no follower needed a copy */
    CHECK(lines_with(logf, "split into") >= 4);
    CHECK_EQ_INT(lines_with(logf, "(incomplete: it catches up)"), 0);
    CHECK_EQ_INT(lines_with(logf, "streaming the leader's copy"), 0);
    CHECK_EQ_INT(lines_with(logf, "registered (snapshot)"), 0);
    CHECK_EQ_INT(lines_with(logf, " failed ("), 0);
    /* every replica holds the same ranges at the same positions, and the
     * same items */
    repl_range_info *a, *b;
    size_t na = repl_ranges(cl.n[0].rp, &a);
    CHECK_EQ_INT(na, led);
    for (int i = 1; i < NNODES; i++) {
        size_t nb = repl_ranges(cl.n[i].rp, &b);
        CHECK_EQ_INT(nb, na);
        for (size_t j = 0; j < na; j++) {
            CHECK(a[j].low == b[j].low && a[j].high == b[j].high);
            CHECK(a[j].epoch == b[j].epoch && a[j].seq == b[j].seq);
            CHECK(b[j].complete && !b[j].leading);
        }
        ds_free(b);
        check_same(&cl, 0, i);
    }
    ds_free(a);
    cluster_end(&cl);
}

TEST_MAIN()
