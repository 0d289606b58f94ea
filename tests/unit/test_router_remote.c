/* test_router_remote.c -- router_remote (router/router_remote.c) against a
 * node's op and read endpoints (cluster/node_ops.c), in one process with
 * real parts: a real etcd (etcd_server.h), metadata in etcd, the range map
 * watching it, RocksDB with its writer, and the HTTP server answering
 * /internal/v1/ signed calls. The range records are written by the test
 * (standing in for the control plane), so it can move leaders, point them
 * at dead ports or at a server that never answers, and watch the router
 * retry exactly when that is safe.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api/ddb_int.h"
#include "cluster/cluster.h"
#include "cluster/opwire.h"
#include "cluster/peer.h"
#include "control/etcd.h"
#include "crypto/crypto.h"
#include "engine/keycodec.h"
#include "etcd_server.h"
#include "router/router.h"
#include "t.h"

#define NODE_UUID "11111111-1111-1111-1111-111111111111"
#define DEAD_UUID "22222222-2222-2222-2222-222222222222"
#define MUTE_UUID "33333333-3333-3333-3333-333333333333"
#define GHOST_UUID "44444444-4444-4444-4444-444444444444"

/* The apply kinds register from constructors in api/ddb_write.c and
 * api/rest.c: the test references those objects so the linker keeps them. */
void *volatile linked;

typedef struct fx {
    etcd_server srv;
    uint8_t kc[32], kn[32];
    char dir[256];
    etcd *ec;
    engine *e;
    replica *r;
    meta *m;
    rangemap *map;
    http_server *http;
    cluster_member c;  /* the node */
    cluster_member pc; /* a proxy on the same etcd handles: no data */
    router *rt;        /* the proxy's router */
    router *nrt;       /* the node's own router (its reads of itself run in-process) */
    meta_tenant *t;
    char uri[64];
} fx;

static void handler(http_request *req, void *ud) {
    cluster_member *c = ud;
    if (peer_verify(req)) {
        http_respond(req, 401, "application/json", NULL, 0, "{}", 2);
        return;
    }
    if (!node_ops_handle(c, req)) http_respond(req, 404, "application/json", NULL, 0, "{}", 2);
}

static void put_node(fx *f, const char *uuid, const char *uri) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    ds_buf_printf(&k, "node/%s/details", uuid);
    ds_buf_printf(&v, "{\"status\":\"okay\",\"uri\":\"%s\"}", uri);
    CHECK_EQ_INT(etcd_put(f->ec, k.data, k.len, v.data, v.len, 0, NULL), DS_OK);
    ds_buf_free(&k), ds_buf_free(&v);
}

/* Writes the range [low, high] of tb led by leader (at uri), in-sync {leader}. */
static void put_range(fx *f, meta_table *tb, uint32_t low, uint32_t high, const char *leader,
                      const char *uri) {
    range_rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.tenant, sizeof r.tenant, "%s", tb->tenant->name);
    snprintf(r.table, sizeof r.table, "%s", tb->name);
    r.table_id = tb->id;
    r.low = low, r.high = high;
    snprintf(r.leader, sizeof r.leader, "%s", leader);
    snprintf(r.uri, sizeof r.uri, "%s", uri);
    r.nreplicas = r.ninsync = 1;
    snprintf(r.replicas[0], RANGE_UUID_LEN, "%s", leader);
    snprintf(r.insync[0], RANGE_UUID_LEN, "%s", leader);
    r.epoch = 1;
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    range_rec_key(&r, &k);
    range_rec_value(&r, &v);
    CHECK_EQ_INT(etcd_put(f->ec, k.data, k.len, v.data, v.len, 0, NULL), DS_OK);
    ds_buf_free(&k), ds_buf_free(&v);
}

/* Waits until the map's range of (tb, hash) is led by leader. */
static void wait_leader(fx *f, meta_table *tb, uint32_t hash, const char *leader) {
    for (int i = 0; i < 500; i++) {
        range_rec r;
        if (rangemap_find(f->map, tb->id, hash, &r) == DS_OK && !strcmp(r.leader, leader)) return;
        etcd_server_sleep_ms(10);
    }
    T_FAIL("the range map never showed leader %s", leader);
}

/* Four ranges of tb, all led by the node. */
static void place(fx *f, meta_table *tb) {
    for (uint32_t i = 0; i < 4; i++)
        put_range(f, tb, i << 30, (i << 30) | 0x3fffffffu, NODE_UUID, f->uri);
    for (uint32_t i = 0; i < 4; i++)
        wait_leader(f, tb, i << 30, NODE_UUID);
}

static void fx_start(fx *f) {
    char err[512];
    memset(f, 0, sizeof *f);
    CHECK(crypto_init() == DS_OK);
    if (etcd_server_start(&f->srv)) T_FAIL("etcd did not start");
    crypto_random(f->kc, 32);
    crypto_random(f->kn, 32);
    peer_init(f->kc);
    snprintf(f->dir, sizeof f->dir, "/tmp/dstore-test-router-XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    CHECK_EQ_INT(etcd_open(f->srv.url, "/dstore/", &f->ec, err, sizeof err), DS_OK);
    CHECK_EQ_INT(engine_open(f->dir, NULL, &f->e, err, sizeof err), DS_OK);
    CHECK_EQ_INT(replica_start(f->e, &f->r), DS_OK);
    int rc = meta_open_etcd(f->ec, f->e, f->r, f->kn, f->kc, &f->m, err, sizeof err);
    if (rc) T_FAIL("meta_open_etcd: %s", err);
    CHECK_EQ_INT(rangemap_open(f->ec, &f->map, err, sizeof err), DS_OK);
    f->c = (cluster_member){.etcd = f->ec,
                            .map = f->map,
                            .meta = f->m,
                            .replica = f->r,
                            .engine = f->e,
                            .rpc_timeout_ms = 2000};
    snprintf(f->c.uuid, sizeof f->c.uuid, "%s", NODE_UUID);
    http_config hc = {.host = "127.0.0.1", .threads = 2, .handler = handler, .ud = &f->c};
    CHECK_EQ_INT(http_server_start(&hc, &f->http, err, sizeof err), DS_OK);
    snprintf(f->uri, sizeof f->uri, "http://127.0.0.1:%d/", http_server_port(f->http));
    snprintf(f->c.uri, sizeof f->c.uri, "%s", f->uri);
    put_node(f, NODE_UUID, f->uri);
    CHECK_EQ_INT(meta_tenant_create(f->m, "acme", NULL, NULL, &f->t), DS_OK);
    f->pc = (cluster_member){.etcd = f->ec, .map = f->map, .meta = f->m, .rpc_timeout_ms = 2000};
    snprintf(f->pc.uuid, sizeof f->pc.uuid, "%s", "55555555-5555-5555-5555-555555555555");
    f->rt = router_remote_new(&f->pc);
    f->nrt = router_remote_new(&f->c);
    CHECK(f->rt->needs_wire == 1);
}

static meta_table *mk_table(fx *f, const char *name, int with_sk) {
    meta_table_spec spec = {META_ID_STRING,      "pk", KEY_S, with_sk ? "sk" : NULL,
                            with_sk ? KEY_N : 0, NULL, 0};
    meta_table *tb;
    CHECK_EQ_INT(meta_table_create(f->m, f->t, name, strlen(name), &spec, &tb), DS_OK);
    return tb;
}

static void fx_end(fx *f) {
    router_free(f->rt);
    router_free(f->nrt);
    http_server_stop(f->http);
    meta_tenant_release(f->t);
    rangemap_close(f->map);
    meta_close(f->m);
    replica_stop(f->r);
    engine_close(f->e);
    etcd_close(f->ec);
    etcd_server_cleanup(&f->srv);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    CHECK(system(cmd) == 0);
}

/* ---- ops ------------------------------------------------------------------------- */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} waiter;

static waiter W = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void op_done(ds_op *op) {
    (void)op;
    pthread_mutex_lock(&W.mu);
    W.done++;
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
}

static void wait_done(int n) {
    pthread_mutex_lock(&W.mu);
    while (W.done < n)
        pthread_cond_wait(&W.cv, &W.mu);
    W.done -= n;
    pthread_mutex_unlock(&W.mu);
}

static item_value *num_item(ds_arena *a, const char *name, const char *num) {
    item_value *m = ds_arena_calloc(a, sizeof *m), *v = ds_arena_calloc(a, sizeof *v);
    m->type = ITEM_M;
    m->u.m.attrs = ds_arena_calloc(a, sizeof(item_attr));
    m->u.m.attrs[0] = (item_attr){name, strlen(name), v};
    m->u.m.n = 1;
    v->type = ITEM_N, v->u.s.p = num, v->u.s.len = strlen(num);
    return m;
}

/* An op on key pk of tb (no sort key), in its own arena. */
static ds_op *new_op(meta_table *tb, const char *pk) {
    ds_arena *a = ds_arena_new(1024);
    ds_op *op = ds_arena_calloc(a, sizeof *op);
    ds_op_init(op, DS_OP_WRITE, a);
    key_part p = {KEY_S, ds_arena_strndup(a, pk, strlen(pk)), strlen(pk)};
    CHECK(keycodec_hash(&p, &op->hash) == DS_OK);
    CHECK(keycodec_data_key(&op->key, tb->id, op->hash, &p, NULL) == DS_OK);
    CHECK(keycodec_index_key(&op->ikey, tb->id, &p, NULL) == DS_OK);
    op->table = tb;
    op->done = op_done;
    op->err = ds_arena_calloc(a, 256);
    op->errlen = 256;
    return op;
}

static void free_op(ds_op *op) {
    ds_arena *a = op->arena;
    ds_op_release(op);
    ds_arena_free(a);
}

/* Runs op through the router and waits for it. Returns its status. */
static int run(router *rt, ds_op *op) {
    router_write(rt, op);
    wait_done(1);
    return op->status;
}

static void data_key(meta_table *tb, const char *pk, ds_buf *out) {
    key_part p = {KEY_S, pk, strlen(pk)};
    uint32_t h;
    CHECK(keycodec_hash(&p, &h) == DS_OK);
    ds_buf_reset(out);
    CHECK(keycodec_data_key(out, tb->id, h, &p, NULL) == DS_OK);
}

/* ---- walks ----------------------------------------------------------------------- */
typedef struct walk {
    ds_buf keys[400];
    int n, stop_at;
    size_t stored;
} walk;

static int range_fn(const char *key, size_t klen, item_value *item, size_t stored, void *ud) {
    walk *w = ud;
    CHECK(item && item->type == ITEM_M && item_get(item, "v", 1));
    ds_buf_init(&w->keys[w->n]);
    ds_buf_append(&w->keys[w->n], key, klen);
    w->n++;
    w->stored += stored;
    return w->stop_at && w->n == w->stop_at;
}

static int list_fn(const char *ikey, size_t iklen, item_value *item, void *ud) {
    return range_fn(ikey, iklen, item, 0, ud);
}

static int cmp_keys(const ds_buf *a, const ds_buf *b) {
    int c = memcmp(a->data, b->data, DS_MIN(a->len, b->len));
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void walk_free(walk *w) {
    for (int i = 0; i < w->n; i++)
        ds_buf_free(&w->keys[i]);
    w->n = 0;
    w->stored = 0;
}

TEST(writes_and_reads_across_ranges) {
    fx f;
    fx_start(&f);
    meta_table *tb = mk_table(&f, "items", 0);
    place(&f, tb);
    enum { N = 200 };
    ds_op *ops[N];
    char name[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(name[i], sizeof name[i], "k%03d", i);
        ops[i] = new_op(tb, name[i]);
        ops[i]->item = num_item(ops[i]->arena, "v", "7");
        ops[i]->precond = DS_PRECOND_NOT_EXISTS;
    }
    for (int i = 0; i < N; i++)
        router_write(i % 2 ? f.rt : f.nrt, ops[i]);
    wait_done(N);
    for (int i = 0; i < N; i++) {
        if (ops[i]->status) T_FAIL("put %d: %s", i, ds_strerror(ops[i]->status));
        CHECK(ops[i]->new_item == ops[i]->item); /* a plain put's new item is what it sent */
        free_op(ops[i]);
    }
    CHECK_EQ_INT(router_pending(f.rt), 0);

    ds_buf k = DS_BUF_INIT, lo = DS_BUF_INIT, hi = DS_BUF_INIT, mid = DS_BUF_INIT;
    ds_buf first = DS_BUF_INIT, start = DS_BUF_INIT, prev = DS_BUF_INIT, plo = DS_BUF_INIT;
    ds_buf phi = DS_BUF_INIT;
    ds_arena *a = ds_arena_new(4096);
    for (int pass = 0; pass < 2; pass++) {
        router *rt = pass ? f.nrt : f.rt;
        ds_buf_reset(&mid), ds_buf_reset(&first), ds_buf_reset(&start), ds_buf_reset(&prev);
        ds_buf_reset(&plo), ds_buf_reset(&phi);
        /* point reads */
        for (int i = 0; i < N; i += 7) {
            item_value *it;
            data_key(tb, name[i], &k);
            CHECK_EQ_INT(router_read(rt, tb, k.data, k.len, a, &it), DS_OK);
            CHECK(item_get(it, "v", 1) && item_get(it, "v", 1)->u.s.p[0] == '7');
        }
        item_value *it;
        data_key(tb, "absent", &k);
        CHECK_EQ_INT(router_read(rt, tb, k.data, k.len, a, &it), DS_ENOTFOUND);

        /* the whole table, forward and backward: every item once, in key order */
        keycodec_table_bounds(&lo, &hi, tb->id);
        static walk w;
        CHECK_EQ_INT(router_range(rt, tb, &lo, &hi, NULL, 0, a, range_fn, &w), DS_OK);
        CHECK_EQ_INT(w.n, N);
        CHECK(w.stored > 0);
        for (int i = 1; i < w.n; i++)
            CHECK(cmp_keys(&w.keys[i - 1], &w.keys[i]) < 0);
        ds_buf_append(&mid, w.keys[N / 2].data, w.keys[N / 2].len);
        ds_buf_append(&first, w.keys[0].data, w.keys[0].len);
        walk_free(&w);
        CHECK_EQ_INT(router_range(rt, tb, &lo, &hi, NULL, 1, a, range_fn, &w), DS_OK);
        CHECK_EQ_INT(w.n, N);
        for (int i = 1; i < w.n; i++)
            CHECK(cmp_keys(&w.keys[i - 1], &w.keys[i]) > 0);
        walk_free(&w);
        /* after a key: forward sees the keys above it, backward the keys below */
        CHECK_EQ_INT(router_range(rt, tb, &lo, &hi, &mid, 0, a, range_fn, &w), DS_OK);
        CHECK_EQ_INT(w.n, N - N / 2 - 1);
        CHECK(cmp_keys(&w.keys[0], &mid) > 0);
        walk_free(&w);
        CHECK_EQ_INT(router_range(rt, tb, &lo, &hi, &mid, 1, a, range_fn, &w), DS_OK);
        CHECK_EQ_INT(w.n, N / 2);
        walk_free(&w);
        CHECK_EQ_INT(router_range(rt, tb, &lo, &hi, &first, 1, a, range_fn, &w), DS_OK);
        CHECK_EQ_INT(w.n, 0);
        /* fn stops the walk */
        w.stop_at = 5;
        CHECK_EQ_INT(router_range(rt, tb, &lo, &hi, NULL, 0, a, range_fn, &w), DS_OK);
        CHECK_EQ_INT(w.n, 5);
        walk_free(&w);
        w.stop_at = 0;

        /* the index: key order across ranges, in pages */
        ds_buf_append(&start, lo.data, lo.len);
        int more = 0, total = 0;
        do {
            CHECK_EQ_INT(router_list(rt, tb, &lo, &hi, &start, 64, a, list_fn, &w, &more), DS_OK);
            CHECK(w.n > 0 && w.n <= 64);
            CHECK_EQ_INT(more, total + w.n < N);
            for (int i = 0; i < w.n; i++) {
                if (prev.len) CHECK(cmp_keys(&prev, &w.keys[i]) < 0);
                ds_buf_reset(&prev);
                ds_buf_append(&prev, w.keys[i].data, w.keys[i].len);
                char expect[16];
                snprintf(expect, sizeof expect, "k%03d", total + i);
                CHECK(w.keys[i].len == 8 + strlen(expect) + 2 &&
                      !memcmp(w.keys[i].data + 8, expect, strlen(expect)));
            }
            total += w.n;
            ds_buf_reset(&start);
            ds_buf_append(&start, prev.data, prev.len);
            ds_buf_putc(&start, 0);
            walk_free(&w);
        } while (more);
        CHECK_EQ_INT(total, N);

        /* counts, whole and by prefix */
        uint64_t n = 0;
        CHECK_EQ_INT(router_count(rt, tb, &lo, &hi, &n), DS_OK);
        CHECK_EQ_INT(n, N);
        ds_buf_append(&plo, lo.data, lo.len);
        key_part pre = {KEY_S, "k1", 2};
        CHECK(keycodec_put_prefix(&plo, &pre) == DS_OK);
        ds_buf_append(&phi, plo.data, plo.len);
        keycodec_successor(&phi);
        CHECK_EQ_INT(router_count(rt, tb, &plo, &phi, &n), DS_OK);
        CHECK_EQ_INT(n, 100);
    }

    ds_buf_free(&k), ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&mid), ds_buf_free(&first);
    ds_buf_free(&start), ds_buf_free(&prev), ds_buf_free(&plo), ds_buf_free(&phi);
    ds_arena_free(a);
    meta_table_release(tb);
    fx_end(&f);
}

TEST(preconditions_applies_and_messages) {
    fx f;
    fx_start(&f);
    meta_table *tb = mk_table(&f, "things", 0);
    place(&f, tb);
    linked = (void *)ddb_put_item, linked = (void *)rest_handle; /* link the apply kinds */
    ds_op *op = new_op(tb, "a");
    op->item = num_item(op->arena, "v", "1");
    op->precond = DS_PRECOND_NOT_EXISTS;
    CHECK_EQ_INT(run(f.rt, op), DS_OK);
    free_op(op);
    op = new_op(tb, "a");
    op->item = num_item(op->arena, "v", "2");
    op->precond = DS_PRECOND_NOT_EXISTS;
    CHECK_EQ_INT(run(f.rt, op), DS_EEXIST);
    free_op(op);
    op = new_op(tb, "nope");
    op->is_delete = 1;
    op->precond = DS_PRECOND_EXISTS;
    CHECK_EQ_INT(run(f.rt, op), DS_ENOTFOUND);
    free_op(op);

    /* a merge patch runs on the leader; the new item comes back */
    op = new_op(tb, "a");
    op->apply = (void *)1; /* set by the front end; replaced on the node */
    op->apply_kind = "merge";
    ds_buf_puts(&op->apply_wire, "{\"w\":{\"x\":true}}");
    op->precond = DS_PRECOND_EXISTS;
    op->want_old = 1;
    CHECK_EQ_INT(run(f.rt, op), DS_OK);
    CHECK(op->new_item && item_get(op->new_item, "v", 1) && item_get(op->new_item, "w", 1));
    CHECK(op->old_item && op->old_item->u.m.n == 1);
    free_op(op);

    /* a ddb update whose condition fails: the old item still comes back */
    static const char *cond_fail =
        "{\"kind\":\"update\",\"pk\":[1,\"YQ==\"],\"cond\":\"#v > :z\",\"upd\":\"SET #v = :z\","
        "\"names\":[[\"#v\",\"v\"]],\"values\":[[\":z\",\"AgE5\"]]}";
    op = new_op(tb, "a");
    op->apply = (void *)1;
    op->apply_kind = "ddb";
    ds_buf_puts(&op->apply_wire, cond_fail);
    op->want_old = 1;
    CHECK_EQ_INT(run(f.rt, op), DS_ECONDITION);
    CHECK(op->old_item && item_get(op->old_item, "v", 1));
    CHECK(op->new_item == NULL);
    free_op(op);
    /* ... and one that fails at run time: the leader's message reaches op->err */
    op = new_op(tb, "a");
    op->apply = (void *)1;
    op->apply_kind = "ddb";
    ds_buf_puts(&op->apply_wire,
                "{\"kind\":\"update\",\"pk\":[1,\"YQ==\"],\"upd\":\"SET #v = #q + "
                ":z\",\"names\":[[\"#v\",\"v\"],[\"#q\",\"q\"]],\"values\":[[\":z\","
                "\"AgE5\"]]}");
    CHECK_EQ_INT(run(f.rt, op), DS_EINVAL);
    CHECK(strstr(op->err, "does not exist") != NULL);
    free_op(op);
    /* an unknown apply kind fails without running */
    op = new_op(tb, "a");
    op->apply = (void *)1;
    op->apply_kind = "nosuch";
    ds_buf_puts(&op->apply_wire, "{}");
    CHECK_EQ_INT(run(f.rt, op), DS_EINVAL);
    free_op(op);
    /* an apply without its wire form never leaves */
    op = new_op(tb, "a");
    op->apply = (void *)1;
    CHECK_EQ_INT(run(f.rt, op), DS_EINVAL);
    free_op(op);
    meta_table_release(tb);
    fx_end(&f);
}

/* ---- retries ----------------------------------------------------------------------- */
typedef struct later {
    fx *f;
    meta_table *tb;
    int ms;
} later;

static void *restore_later(void *arg) {
    later *l = arg;
    etcd_server_sleep_ms(l->ms);
    place(l->f, l->tb);
    return NULL;
}

/* Moves every range of tb to leader (at uri), waits for the map to show it,
 * then runs a put that must succeed once the ranges come back ms later. */
static void put_through_move(fx *f, meta_table *tb, const char *leader, const char *uri,
                             const char *key, int ms) {
    for (uint32_t i = 0; i < 4; i++)
        put_range(f, tb, i << 30, (i << 30) | 0x3fffffffu, leader, uri);
    for (uint32_t i = 0; i < 4; i++)
        wait_leader(f, tb, i << 30, leader);
    later l = {f, tb, ms};
    pthread_t th;
    pthread_create(&th, NULL, restore_later, &l);
    ds_op *op = new_op(tb, key);
    op->item = num_item(op->arena, "v", "1");
    uint64_t t0 = ds_now_ms();
    int rc = run(f->rt, op);
    uint64_t took = ds_now_ms() - t0;
    pthread_join(th, NULL);
    if (rc) T_FAIL("put through a move to %s: %s", leader, ds_strerror(rc));
    CHECK(took >= (uint64_t)ms - 50 && took < 9000);
    free_op(op);
}

TEST(retries_while_nothing_ran) {
    fx f;
    fx_start(&f);
    meta_table *tb = mk_table(&f, "moving", 0);
    place(&f, tb);
    /* 421: the node is told another node leads (the record points at it anyway) */
    put_through_move(&f, tb, GHOST_UUID, f.uri, "m1", 400);
    /* no connection: the leader's port is closed */
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d/", etcd_server_free_port());
    put_node(&f, DEAD_UUID, dead);
    put_through_move(&f, tb, DEAD_UUID, dead, "m2", 400);

    /* a table with no range yet: the op waits for the control plane */
    meta_table *fresh = mk_table(&f, "fresh", 0);
    later l = {&f, fresh, 300};
    pthread_t th;
    pthread_create(&th, NULL, restore_later, &l);
    ds_op *op = new_op(fresh, "x");
    op->item = num_item(op->arena, "v", "1");
    CHECK_EQ_INT(run(f.rt, op), DS_OK);
    pthread_join(th, NULL);
    free_op(op);
    /* reads retry too */
    for (uint32_t i = 0; i < 4; i++)
        put_range(&f, tb, i << 30, (i << 30) | 0x3fffffffu, GHOST_UUID, f.uri);
    for (uint32_t i = 0; i < 4; i++)
        wait_leader(&f, tb, i << 30, GHOST_UUID);
    later l2 = {&f, tb, 300};
    pthread_create(&th, NULL, restore_later, &l2);
    ds_arena *a = ds_arena_new(1024);
    ds_buf k = DS_BUF_INIT, lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    data_key(tb, "m1", &k);
    item_value *it;
    CHECK_EQ_INT(router_read(f.rt, tb, k.data, k.len, a, &it), DS_OK);
    pthread_join(th, NULL);
    keycodec_table_bounds(&lo, &hi, tb->id);
    uint64_t n;
    CHECK_EQ_INT(router_count(f.rt, tb, &lo, &hi, &n), DS_OK);
    CHECK_EQ_INT(n, 2);
    ds_buf_free(&k), ds_buf_free(&lo), ds_buf_free(&hi);
    ds_arena_free(a);
    meta_table_release(fresh);
    meta_table_release(tb);
    fx_end(&f);
}

TEST(gives_up_after_the_deadline) {
    fx f;
    fx_start(&f);
    meta_table *tb = mk_table(&f, "stuck", 0);
    for (uint32_t i = 0; i < 4; i++)
        put_range(&f, tb, i << 30, (i << 30) | 0x3fffffffu, GHOST_UUID, f.uri);
    for (uint32_t i = 0; i < 4; i++)
        wait_leader(&f, tb, i << 30, GHOST_UUID);
    ds_op *op = new_op(tb, "x");
    op->item = num_item(op->arena, "v", "1");
    uint64_t t0 = ds_now_ms();
    CHECK_EQ_INT(run(f.rt, op), DS_ESTATE); /* nothing ran: the client may retry */
    uint64_t took = ds_now_ms() - t0;
    CHECK(took >= 9500 && took < 13000);
    free_op(op);
    meta_table_release(tb);
    fx_end(&f);
}

/* A "node" that reads requests and never answers. */
typedef struct mute {
    int fd, port;
    atomic_int requests, stop;
    pthread_t th;
} mute;

static void *mute_main(void *arg) {
    mute *m = arg;
    int conns[16], nc = 0;
    while (!atomic_load(&m->stop)) {
        struct pollfd p[17];
        p[0] = (struct pollfd){m->fd, POLLIN, 0};
        for (int i = 0; i < nc; i++)
            p[i + 1] = (struct pollfd){conns[i], POLLIN, 0};
        if (poll(p, (nfds_t)nc + 1, 50) <= 0) continue;
        if ((p[0].revents & POLLIN) && nc < 16) conns[nc++] = accept(m->fd, NULL, NULL);
        for (int i = 0; i < nc; i++)
            if (p[i + 1].revents & POLLIN) {
                char buf[8192];
                ssize_t r = read(conns[i], buf, sizeof buf);
                for (ssize_t j = 0; j + 5 <= r; j++)
                    if (!memcmp(buf + j, "POST ", 5)) atomic_fetch_add(&m->requests, 1);
            }
    }
    for (int i = 0; i < nc; i++)
        close(conns[i]);
    return NULL;
}

TEST(never_retries_an_ambiguous_write) {
    fx f;
    fx_start(&f);
    f.c.rpc_timeout_ms = f.pc.rpc_timeout_ms = 500;
    meta_table *tb = mk_table(&f, "ambiguous", 0);
    mute m = {0};
    m.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    CHECK(bind(m.fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(m.fd, 16) == 0);
    CHECK(getsockname(m.fd, (struct sockaddr *)&sa, &sl) == 0);
    char uri[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    pthread_create(&m.th, NULL, mute_main, &m);
    put_node(&f, MUTE_UUID, uri);
    for (uint32_t i = 0; i < 4; i++)
        put_range(&f, tb, i << 30, (i << 30) | 0x3fffffffu, MUTE_UUID, uri);
    for (uint32_t i = 0; i < 4; i++)
        wait_leader(&f, tb, i << 30, MUTE_UUID);
    ds_op *op = new_op(tb, "x");
    op->item = num_item(op->arena, "v", "1");
    uint64_t t0 = ds_now_ms();
    CHECK_EQ_INT(run(f.rt, op), DS_EIO); /* it may have run: not sent again */
    uint64_t took = ds_now_ms() - t0;
    if (took >= 6000) T_FAIL("took %llu ms", (unsigned long long)took); /* 2 x 500 + 3000 */
    CHECK_EQ_INT(atomic_load(&m.requests), 1);
    free_op(op);
    /* a read is retried until the deadline instead */
    ds_arena *a = ds_arena_new(1024);
    ds_buf k = DS_BUF_INIT;
    data_key(tb, "x", &k);
    item_value *it;
    CHECK_EQ_INT(router_read(f.rt, tb, k.data, k.len, a, &it), DS_ESTATE);
    CHECK(atomic_load(&m.requests) > 2);
    atomic_store(&m.stop, 1);
    pthread_join(m.th, NULL);
    close(m.fd);
    ds_buf_free(&k);
    ds_arena_free(a);
    meta_table_release(tb);
    fx_end(&f);
}

TEST(node_checks_keys_and_signatures) {
    fx f;
    fx_start(&f);
    meta_table *tb = mk_table(&f, "checked", 0);
    place(&f, tb);
    long status = 0;
    ds_buf resp = DS_BUF_INIT;
    /* keys of another table */
    ds_op *op = new_op(tb, "x");
    op->item = num_item(op->arena, "v", "1");
    ds_buf body = DS_BUF_INIT;
    CHECK_EQ_INT(opwire_encode_op(&body, op), DS_OK);
    char *p = strstr(body.data, "\"table\":");
    CHECK(p);
    p[8] = p[8] == '9' ? '8' : '9'; /* another table id */
    CHECK_EQ_INT(peer_call(f.uri, "internal/v1/op", body.data, body.len, 2000, &status, &resp),
                 DS_OK);
    CHECK_EQ_INT(status, 400);
    /* an unknown table: 404 after a short wait */
    ds_buf_reset(&body);
    ds_buf_puts(&body, "{\"table\":999999,\"key\":\"AAAAAAAPQj8AAAAA\"}");
    CHECK_EQ_INT(peer_call(f.uri, "internal/v1/read", body.data, body.len, 3000, &status, &resp),
                 DS_OK);
    CHECK(status == 404 || status == 421);
    /* garbage */
    CHECK_EQ_INT(peer_call(f.uri, "internal/v1/count", "{", 1, 2000, &status, &resp), DS_OK);
    CHECK_EQ_INT(status, 400);
    /* a read of spans this node does not hold */
    ds_buf_reset(&body);
    ds_buf_printf(&body, "{\"table\":%llu,\"lo\":\"\",\"hi\":\"\",\"spans\":[[0,4294967295]]}",
                  (unsigned long long)tb->id + 1000);
    CHECK_EQ_INT(peer_call(f.uri, "internal/v1/count", body.data, body.len, 2000, &status, &resp),
                 DS_OK);
    CHECK_EQ_INT(status, 421);
    CHECK(strstr(resp.data, "NotLeader") != NULL);
    /* an unsigned call never reaches the endpoints (the handler's peer_verify) */
    etcd_server node = f.srv;
    node.client_port = http_server_port(f.http);
    char out[4096];
    CHECK_EQ_INT(etcd_server_post(&node, "/internal/v1/count", body.data, out, sizeof out), 401);
    ds_buf_free(&body), ds_buf_free(&resp);
    free_op(op);
    meta_table_release(tb);
    fx_end(&f);
}

TEST(local_reads_skip_the_leader) {
    fx f;
    fx_start(&f);
    meta_table *tb = mk_table(&f, "local", 0);
    place(&f, tb);
    ds_op *op = new_op(tb, "k");
    op->item = num_item(op->arena, "v", "1");
    CHECK_EQ_INT(run(f.rt, op), DS_OK);
    free_op(op);
    /* the leader moves to a node that does not exist: routed reads would wait */
    for (uint32_t i = 0; i < 4; i++)
        put_range(&f, tb, i << 30, (i << 30) | 0x3fffffffu, GHOST_UUID, "");
    for (uint32_t i = 0; i < 4; i++)
        wait_leader(&f, tb, i << 30, GHOST_UUID);
    ds_arena *a = ds_arena_new(1024);
    ds_buf k = DS_BUF_INIT, lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    data_key(tb, "k", &k);
    keycodec_table_bounds(&lo, &hi, tb->id);
    router_set_read_local(1);
    uint64_t t0 = ds_now_ms(), n = 0;
    item_value *it;
    CHECK_EQ_INT(router_read(f.nrt, tb, k.data, k.len, a, &it), DS_OK);
    CHECK_EQ_INT(router_count(f.nrt, tb, &lo, &hi, &n), DS_OK);
    CHECK_EQ_INT(n, 1);
    static walk w;
    int more;
    CHECK_EQ_INT(router_list(f.nrt, tb, &lo, &hi, &lo, 10, a, list_fn, &w, &more), DS_OK);
    CHECK_EQ_INT(w.n, 1);
    walk_free(&w);
    CHECK_EQ_INT(router_range(f.nrt, tb, &lo, &hi, NULL, 0, a, range_fn, &w), DS_OK);
    CHECK_EQ_INT(w.n, 1);
    walk_free(&w);
    CHECK(ds_now_ms() - t0 < 1000);
    router_set_read_local(0);
    ds_buf_free(&k), ds_buf_free(&lo), ds_buf_free(&hi);
    ds_arena_free(a);
    meta_table_release(tb);
    fx_end(&f);
}

TEST_MAIN()
