/* test_meta_etcd.c -- meta's etcd backend (src/control/meta_etcd.c) against a
 * real etcd: several meta handles on one etcd stand for several processes
 * of a cluster (each with its own etcd handle and node key, one cluster
 * key). Each test starts its own etcd (etcd_server.h).
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "control/etcd.h"
#include "control/meta.h"
#include "control/meta_int.h"
#include "crypto/crypto.h"
#include "engine/keycodec.h"
#include "etcd_server.h"
#include "replica/replica.h"
#include "t.h"

/* ---- fixture ---------------------------------------------------------- */
typedef struct fx {
    etcd_server srv;
    uint8_t kc[32]; /* the cluster key */
} fx;

typedef struct proc { /* one process: its etcd handle, node key and meta */
    etcd *ec;
    meta *m;
    uint8_t kn[32];
    engine *e;   /* a node's, or NULL */
    replica *r;
    char dir[256];
} proc;

static void fx_start(fx *f) {
    CHECK(crypto_init() == DS_OK);
    if (etcd_server_start(&f->srv)) T_FAIL("etcd did not start");
    crypto_random(f->kc, 32);
}

static void fx_end(fx *f) { etcd_server_cleanup(&f->srv); }

static int proc_try_open(fx *f, proc *p, const uint8_t kc[32], char *err, size_t errlen) {
    if (!p->ec) CHECK_EQ_INT(etcd_open(f->srv.url, "/dstore/", &p->ec, err, errlen), DS_OK);
    return meta_open_etcd(p->ec, p->e, p->r, p->kn, kc, &p->m, err, errlen);
}

/* A proxy: no engine, no replica. */
static void proc_open(fx *f, proc *p) {
    char err[512];
    memset(p, 0, sizeof *p);
    crypto_random(p->kn, 32);
    int rc = proc_try_open(f, p, f->kc, err, sizeof err);
    if (rc) T_FAIL("meta_open_etcd: %s: %s", ds_strerror(rc), err);
}

/* Node directories are removed at exit even when a CHECK fails. */
static char node_dirs[4][256];

static void remove_node_dirs(void) {
    for (int i = 0; i < 4; i++)
        if (node_dirs[i][0]) {
            char cmd[300];
            snprintf(cmd, sizeof cmd, "rm -rf %.256s", node_dirs[i]);
            if (system(cmd)) {
            }
            node_dirs[i][0] = 0;
        }
}

/* A node: its own RocksDB and writer. */
static void proc_open_node(fx *f, proc *p) {
    char err[512];
    memset(p, 0, sizeof *p);
    crypto_random(p->kn, 32);
    snprintf(p->dir, sizeof p->dir, "/tmp/dstore-test-meta-etcd-XXXXXX");
    CHECK(mkdtemp(p->dir) != NULL);
    for (int i = 0; i < 4; i++)
        if (!node_dirs[i][0]) {
            if (i == 0) atexit(remove_node_dirs);
            snprintf(node_dirs[i], sizeof node_dirs[i], "%s", p->dir);
            break;
        }
    CHECK_EQ_INT(engine_open(p->dir, NULL, &p->e, err, sizeof err), DS_OK);
    CHECK_EQ_INT(replica_start(p->e, &p->r), DS_OK);
    int rc = proc_try_open(f, p, f->kc, err, sizeof err);
    if (rc) T_FAIL("meta_open_etcd: %s: %s", ds_strerror(rc), err);
}

static void proc_close(proc *p) {
    meta_close(p->m); /* before the replica and the etcd handle */
    p->m = NULL;
    if (p->r) replica_stop(p->r);
    if (p->e) engine_close(p->e);
    etcd_close(p->ec);
    if (p->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", p->dir);
        CHECK(system(cmd) == 0);
    }
    memset(p, 0, sizeof *p);
}

static double now_s(void) { return etcd_server_now(); }
static void sleep_ms(int ms) { etcd_server_sleep_ms(ms); }

#define WAIT_MS 5000 /* the most a change may take to show elsewhere here */

static meta_tenant *wait_tenant(meta *m, const char *name) {
    double until = now_s() + WAIT_MS / 1000.0;
    meta_tenant *t;
    while (!(t = meta_tenant_get(m, name, strlen(name))) && now_s() < until) sleep_ms(2);
    return t;
}

static int wait_tenant_gone(meta *m, const char *name) {
    double until = now_s() + WAIT_MS / 1000.0;
    for (;;) {
        meta_tenant *t = meta_tenant_get(m, name, strlen(name));
        if (!t) return 1;
        meta_tenant_release(t);
        if (now_s() > until) return 0;
        sleep_ms(2);
    }
}

static meta_table *wait_table(meta *m, const meta_tenant *t, const char *name) {
    double until = now_s() + WAIT_MS / 1000.0;
    meta_table *tb;
    while (!(tb = meta_table_get(m, t, name, strlen(name))) && now_s() < until) sleep_ms(2);
    return tb;
}

static int wait_flag(atomic_int *flag) {
    double until = now_s() + WAIT_MS / 1000.0;
    while (!atomic_load(flag) && now_s() < until) sleep_ms(2);
    return atomic_load(flag);
}

static int wait_extra(meta *m, const meta_table *tb, const char *want) {
    double until = now_s() + WAIT_MS / 1000.0;
    ds_buf b = DS_BUF_INIT;
    int ok = 0;
    do {
        ds_buf_reset(&b);
        meta_table_extra(m, tb, &b);
        if (b.len == strlen(want) && !memcmp(b.data, want, b.len)) ok = 1;
        else sleep_ms(2);
    } while (!ok && now_s() < until);
    ds_buf_free(&b);
    return ok;
}

static const meta_table_spec plain = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};

/* Number of etcd keys under /dstore/ + prefix. */
static int count_fn(const char *k, size_t kl, const char *v, size_t vl, int64_t r, void *ud) {
    (void)k, (void)kl, (void)v, (void)vl, (void)r;
    (*(int *)ud)++;
    return 0;
}
static int etcd_count(etcd *ec, const char *prefix) {
    int n = 0;
    CHECK_EQ_INT(etcd_range(ec, prefix, strlen(prefix), count_fn, &n, NULL), DS_OK);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

TEST(tenant_created_in_one_process_is_seen_by_another) {
    fx f;
    fx_start(&f);
    proc a, b, c;
    proc_open(&f, &a);
    proc_open(&f, &b);
    meta_tenant *ta;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", "AKIDACME", "s3cret-value", &ta), DS_OK);
    /* visible here as soon as the call returns */
    meta_tenant *t = meta_tenant_get(a.m, "acme", 4);
    CHECK(t == ta);
    meta_tenant_release(t);
    CHECK(ta->rev > 0);

    double t0 = now_s();
    meta_tenant *tb = wait_tenant(b.m, "acme");
    CHECK(tb != NULL);
    CHECK(now_s() - t0 < 2.0);
    CHECK_EQ_STR(tb->access_key, "AKIDACME");
    CHECK_EQ_STR(tb->secret, "s3cret-value");
    CHECK_EQ_INT(tb->created_ms, ta->created_ms);
    CHECK_EQ_MEM(tb->ktn, ta->ktn, 32);
    meta_tenant *bk = meta_tenant_by_key(b.m, "AKIDACME", 8);
    CHECK(bk == tb);
    meta_tenant_release(bk);
    /* the data key derives from each node's own key ... */
    CHECK(memcmp(tb->data_key, ta->data_key, 32) != 0);
    /* ... and is the same for the same node key (Ktn and Ktc are shared) */
    memset(&c, 0, sizeof c);
    memcpy(c.kn, a.kn, 32);
    char err[300];
    CHECK_EQ_INT(proc_try_open(&f, &c, f.kc, err, sizeof err), DS_OK);
    meta_tenant *tc = meta_tenant_get(c.m, "acme", 4);
    CHECK(tc != NULL);
    CHECK_EQ_MEM(tc->data_key, ta->data_key, 32);
    meta_tenant_release(tc);
    meta_tenant_release(tb);
    meta_tenant_release(ta);
    proc_close(&c);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

TEST(table_created_in_one_process_is_seen_by_another) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    meta_tenant *ta;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, &ta), DS_OK);
    meta_table_spec spec = {META_ID_STRING, "Artist", KEY_S, "Year", KEY_N,
                            "{\"BillingMode\":\"PAY_PER_REQUEST\"}", 0};
    meta_table *xa;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "music", 5, &spec, &xa), DS_OK);
    CHECK(xa->id >= 1);
    meta_table *by = meta_table_by_id(a.m, xa->id); /* at once, here */
    CHECK(by == xa);
    meta_table_release(by);

    meta_tenant *tb = wait_tenant(b.m, "acme");
    CHECK(tb != NULL);
    meta_table *xb = wait_table(b.m, tb, "music");
    CHECK(xb != NULL);
    CHECK_EQ_INT(xb->id, xa->id);
    CHECK_EQ_STR(xb->pk_name, "Artist");
    CHECK_EQ_INT(xb->pk_type, KEY_S);
    CHECK_EQ_STR(xb->sk_name, "Year");
    CHECK_EQ_INT(xb->sk_type, KEY_N);
    CHECK_EQ_INT(xb->created_ms, xa->created_ms);
    CHECK(xb->tenant == tb);
    CHECK(wait_extra(b.m, xb, "{\"BillingMode\":\"PAY_PER_REQUEST\"}"));
    by = meta_table_by_id(b.m, xa->id);
    CHECK(by == xb);
    meta_table_release(by);
    CHECK_EQ_INT(meta_tenant_table_count(b.m, tb), 1);

    /* extra changes travel too, in place (the same object) */
    const char *nx = "{\"BillingMode\":\"PROVISIONED\",\"ProvisionedThroughput\":{\"R\":5}}";
    CHECK_EQ_INT(meta_table_set_extra(a.m, xa, nx, strlen(nx)), DS_OK);
    CHECK(wait_extra(a.m, xa, nx)); /* at once */
    CHECK(wait_extra(b.m, xb, nx));
    /* and back the other way */
    CHECK_EQ_INT(meta_table_set_extra(b.m, xb, "{}", 2), DS_OK);
    CHECK(wait_extra(a.m, xa, "{}"));

    /* a node that waits for a table its watch has not applied yet */
    meta_table *xa2;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "second", 6, &plain, &xa2), DS_OK);
    meta_table *w = meta_table_wait_id(b.m, xa2->id, 3000);
    CHECK(w != NULL);
    CHECK_EQ_STR(w->name, "second");
    meta_table_release(w);
    meta_table_release(xa2);

    meta_table_release(xb);
    meta_table_release(xa);
    meta_tenant_release(tb);
    meta_tenant_release(ta);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

static void add_name(const meta_table *tb, void *ud) {
    ds_buf *b = ud;
    ds_buf_printf(b, "%s,", tb->name);
}

TEST(table_list_pages_in_name_order) {
    fx f;
    fx_start(&f);
    proc a;
    proc_open(&f, &a);
    meta_tenant *t;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, &t), DS_OK);
    const char *names[] = {"ccc", "aaa", "bbb", "ddd"};
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(meta_table_create(a.m, t, names[i], 3, &plain, NULL), DS_OK);
    ds_buf b = DS_BUF_INIT;
    CHECK_EQ_INT(meta_table_list(a.m, t, NULL, 0, 2, add_name, &b), 1);
    CHECK_EQ_INT(b.len, 8);
    CHECK_EQ_MEM(b.data, "aaa,bbb,", 8);
    ds_buf_reset(&b);
    CHECK_EQ_INT(meta_table_list(a.m, t, "bbb", 3, 2, add_name, &b), 0);
    CHECK_EQ_INT(b.len, 8);
    CHECK_EQ_MEM(b.data, "ccc,ddd,", 8);
    ds_buf_free(&b);
    meta_tenant_release(t);
    proc_close(&a);
    fx_end(&f);
}

typedef struct creator {
    meta *m;
    const char *tenant;
    int who, n;
    uint64_t ids[40];
    int rcs[40];
} creator;

static void *create_many(void *arg) {
    creator *c = arg;
    meta_tenant *t = meta_tenant_get(c->m, c->tenant, strlen(c->tenant));
    if (!t) return NULL;
    for (int i = 0; i < c->n; i++) {
        char name[32];
        snprintf(name, sizeof name, "tab-%d-%02d", c->who, i);
        meta_table *tb = NULL;
        c->rcs[i] = meta_table_create(c->m, t, name, strlen(name), &plain, &tb);
        if (tb) c->ids[i] = tb->id, meta_table_release(tb);
    }
    meta_tenant_release(t);
    return NULL;
}

typedef struct racer {
    meta *m;
    const char *tenant, *name;
    int rc;
    pthread_barrier_t *go;
} racer;

static void *create_same(void *arg) {
    racer *r = arg;
    meta_tenant *t = meta_tenant_get(r->m, r->tenant, strlen(r->tenant));
    pthread_barrier_wait(r->go);
    r->rc = t ? meta_table_create(r->m, t, r->name, strlen(r->name), &plain, NULL) : -100;
    meta_tenant_release(t);
    return NULL;
}

TEST(concurrent_table_creation_gets_distinct_ids) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, NULL), DS_OK);
    meta_tenant *tb = wait_tenant(b.m, "acme");
    CHECK(tb != NULL);
    enum { PER = 12, THREADS = 4 };
    creator cs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&cs[i], 0, sizeof cs[i]);
        cs[i] = (creator){.m = i % 2 ? b.m : a.m, .tenant = "acme", .who = i, .n = PER};
        CHECK(pthread_create(&th[i], NULL, create_many, &cs[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    uint64_t all[THREADS * PER];
    int n = 0;
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER; j++) {
            CHECK_EQ_INT(cs[i].rcs[j], DS_OK);
            CHECK(cs[i].ids[j] > 0);
            for (int k = 0; k < n; k++) CHECK(all[k] != cs[i].ids[j]); /* distinct */
            all[n++] = cs[i].ids[j];
        }
    /* no table lost: both processes end up with all of them, same ids */
    meta_tenant *ta = meta_tenant_get(a.m, "acme", 4);
    CHECK(ta != NULL);
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER; j++) {
            char name[32];
            snprintf(name, sizeof name, "tab-%d-%02d", i, j);
            meta_table *x = wait_table(a.m, ta, name), *y = wait_table(b.m, tb, name);
            CHECK(x != NULL && y != NULL);
            CHECK_EQ_INT(x->id, cs[i].ids[j]);
            CHECK_EQ_INT(y->id, cs[i].ids[j]);
            meta_table_release(x), meta_table_release(y);
        }
    CHECK_EQ_INT(meta_tenant_table_count(a.m, ta), THREADS * PER);
    CHECK_EQ_INT(meta_tenant_table_count(b.m, tb), THREADS * PER);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/T/acme/"), THREADS * PER);

    /* the same name from both at once: exactly one wins */
    for (int round = 0; round < 5; round++) {
        char name[32];
        snprintf(name, sizeof name, "same-%d", round);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        racer r1 = {a.m, "acme", name, 0, &go}, r2 = {b.m, "acme", name, 0, &go};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, create_same, &r1);
        pthread_create(&t2, NULL, create_same, &r2);
        pthread_join(t1, NULL), pthread_join(t2, NULL);
        pthread_barrier_destroy(&go);
        CHECK((r1.rc == DS_OK && r2.rc == DS_EEXIST) || (r1.rc == DS_EEXIST && r2.rc == DS_OK));
    }
    meta_tenant_release(ta);
    meta_tenant_release(tb);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

TEST(duplicates_are_refused_across_processes) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    CHECK_EQ_INT(meta_tenant_create(a.m, "dup", "AKIDDUP", NULL, NULL), DS_OK);
    /* immediately, whether or not b's watch has brought it yet: etcd decides */
    CHECK_EQ_INT(meta_tenant_create(b.m, "dup", NULL, NULL, NULL), DS_EEXIST);
    CHECK_EQ_INT(meta_tenant_create(b.m, "other", "AKIDDUP", NULL, NULL), DS_EEXIST);
    CHECK_EQ_INT(meta_tenant_create(b.m, "other", "AKIDOTHER", NULL, NULL), DS_OK);
    CHECK_EQ_INT(meta_tenant_create(a.m, "third", "AKIDOTHER", NULL, NULL), DS_EEXIST);
    CHECK_EQ_INT(meta_tenant_create(a.m, "bad/name", NULL, NULL, NULL), DS_EINVAL);
    /* the refused ones left nothing behind */
    CHECK_EQ_INT(etcd_count(a.ec, "meta/t/"), 2);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/k/"), 2);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/ctl/tenant/"), 2);

    meta_tenant *ta = meta_tenant_get(a.m, "dup", 3), *tb = wait_tenant(b.m, "dup");
    CHECK(ta && tb);
    CHECK_EQ_INT(meta_table_create(a.m, ta, "orders", 6, &plain, NULL), DS_OK);
    CHECK_EQ_INT(meta_table_create(b.m, tb, "orders", 6, &plain, NULL), DS_EEXIST);
    CHECK_EQ_INT(meta_table_create(a.m, ta, "orders", 6, &plain, NULL), DS_EEXIST);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/T/"), 1);
    meta_tenant_release(ta), meta_tenant_release(tb);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

TEST(tenant_records_are_sealed_under_the_cluster_key) {
    fx f;
    fx_start(&f);
    proc a;
    proc_open(&f, &a);
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", "AKIDPLAINCHECK", "TopSecretValue123", NULL),
                 DS_OK);
    ds_buf v = DS_BUF_INIT;
    CHECK_EQ_INT(etcd_get(a.ec, "meta/t/acme", 11, &v, NULL), DS_OK);
    CHECK(v.len > 40);
    CHECK(memmem(v.data, v.len, "TopSecretValue123", 17) == NULL);
    CHECK(memmem(v.data, v.len, "AKIDPLAINCHECK", 14) == NULL);
    CHECK(memmem(v.data, v.len, "secret", 6) == NULL);
    /* Ktc too: a sealed envelope, not the 32 raw bytes */
    ds_buf_reset(&v);
    CHECK_EQ_INT(etcd_get(a.ec, "meta/ctl/tenant/acme", 20, &v, NULL), DS_OK);
    CHECK(v.len > 32);
    /* the access key index holds only the name */
    ds_buf_reset(&v);
    CHECK_EQ_INT(etcd_get(a.ec, "meta/k/AKIDPLAINCHECK", 21, &v, NULL), DS_OK);
    CHECK_EQ_INT(v.len, 4);
    CHECK_EQ_MEM(v.data, "acme", 4);
    ds_buf_free(&v);

    /* a process with another cluster key cannot open the records */
    proc x;
    memset(&x, 0, sizeof x);
    crypto_random(x.kn, 32);
    uint8_t other[32];
    crypto_random(other, 32);
    char err[300] = "";
    CHECK_EQ_INT(proc_try_open(&f, &x, other, err, sizeof err), DS_ECORRUPT);
    CHECK(strstr(err, "acme") != NULL);
    CHECK(strstr(err, "cluster key") != NULL);
    CHECK(x.m == NULL);
    etcd_close(x.ec);
    proc_close(&a);
    fx_end(&f);
}

TEST(tenant_drop_removes_it_and_its_tables_everywhere) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    meta_tenant *ta;
    CHECK_EQ_INT(meta_tenant_create(a.m, "gone", "AKIDGONE", "first", &ta), DS_OK);
    CHECK_EQ_INT(meta_tenant_create(a.m, "stays", NULL, NULL, NULL), DS_OK);
    const char *names[] = {"one", "two", "three"};
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        meta_table *x;
        CHECK_EQ_INT(meta_table_create(a.m, ta, names[i], strlen(names[i]), &plain, &x), DS_OK);
        ids[i] = x->id;
        meta_table_release(x);
    }
    meta_tenant *stays = meta_tenant_get(a.m, "stays", 5);
    CHECK_EQ_INT(meta_table_create(a.m, stays, "kept", 4, &plain, NULL), DS_OK);
    meta_tenant *tb = wait_tenant(b.m, "gone");
    CHECK(tb != NULL);
    meta_table *held = wait_table(b.m, tb, "three"); /* a reference b keeps */
    CHECK(held != NULL);

    CHECK_EQ_INT(meta_tenant_drop(a.m, "gone", 4), DS_OK);
    /* here at once */
    CHECK(meta_tenant_get(a.m, "gone", 4) == NULL);
    CHECK(meta_tenant_by_key(a.m, "AKIDGONE", 8) == NULL);
    CHECK(meta_table_by_id(a.m, ids[0]) == NULL);
    CHECK(atomic_load(&ta->dropped));
    /* there within a short wait, tables included */
    CHECK(wait_tenant_gone(b.m, "gone"));
    CHECK(meta_tenant_by_key(b.m, "AKIDGONE", 8) == NULL);
    for (int i = 0; i < 3; i++) {
        CHECK(meta_table_get(b.m, tb, names[i], strlen(names[i])) == NULL);
        CHECK(meta_table_by_id(b.m, ids[i]) == NULL);
        CHECK(meta_table_wait_id(b.m, ids[i], 2000) == NULL);
    }
    CHECK(atomic_load(&tb->dropped));
    CHECK(atomic_load(&held->dropped));
    CHECK_EQ_STR(held->name, "three"); /* still valid for its holder */
    CHECK_EQ_STR(held->tenant->name, "gone");
    /* nothing left in etcd but the other tenant */
    CHECK_EQ_INT(etcd_count(a.ec, "meta/T/gone/"), 0);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/T/"), 1);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/t/"), 1);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/k/"), 1);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/ctl/tenant/"), 1);
    meta_tenant *s2 = wait_tenant(b.m, "stays");
    CHECK(s2 != NULL);
    meta_table *kept = wait_table(b.m, s2, "kept");
    CHECK(kept != NULL);
    meta_table_release(kept), meta_tenant_release(s2);
    CHECK_EQ_INT(meta_tenant_drop(b.m, "gone", 4), DS_ENOTFOUND);

    /* the name can be taken again: a new tenant, not the old one */
    meta_tenant *again;
    CHECK_EQ_INT(meta_tenant_create(b.m, "gone", "AKIDGONE", "second", &again), DS_OK);
    CHECK(memcmp(again->ktn, ta->ktn, 32) != 0);
    meta_tenant *seen = NULL;
    double until = now_s() + 5;
    while (now_s() < until) {
        seen = meta_tenant_get(a.m, "gone", 4);
        if (seen) break;
        sleep_ms(2);
    }
    CHECK(seen != NULL);
    CHECK_EQ_STR(seen->secret, "second");
    CHECK_EQ_INT(meta_tenant_table_count(a.m, seen), 0);
    CHECK(meta_table_get(a.m, seen, "one", 3) == NULL);
    meta_tenant_release(seen), meta_tenant_release(again);
    meta_table_release(held);
    meta_tenant_release(tb), meta_tenant_release(ta), meta_tenant_release(stays);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

TEST(tenant_drop_with_more_tables_than_one_txn) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    meta_tenant *t;
    CHECK_EQ_INT(meta_tenant_create(a.m, "big", NULL, NULL, &t), DS_OK);
    enum { N = 140 };
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "tab%03d", i);
        CHECK_EQ_INT(meta_table_create(a.m, t, name, strlen(name), &plain, NULL), DS_OK);
    }
    CHECK_EQ_INT(etcd_count(a.ec, "meta/T/big/"), N);
    meta_tenant *tb = wait_tenant(b.m, "big");
    CHECK(tb != NULL);
    meta_table *last = wait_table(b.m, tb, "tab139");
    CHECK(last != NULL);
    meta_table_release(last);
    CHECK_EQ_INT(meta_tenant_drop(a.m, "big", 3), DS_OK);
    CHECK_EQ_INT(etcd_count(a.ec, "meta/T/big/"), 0);
    CHECK(wait_tenant_gone(b.m, "big"));
    double until = now_s() + 5;
    while (meta_tenant_table_count(b.m, tb) && now_s() < until) sleep_ms(2);
    CHECK_EQ_INT(meta_tenant_table_count(b.m, tb), 0);
    meta_tenant_release(tb), meta_tenant_release(t);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

TEST(table_drop_is_seen_elsewhere) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    meta_tenant *ta;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, &ta), DS_OK);
    meta_table *xa;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "orders", 6, &plain, &xa), DS_OK);
    meta_tenant *tb = wait_tenant(b.m, "acme");
    meta_table *xb = wait_table(b.m, tb, "orders");
    CHECK(xb != NULL);
    uint64_t id = xa->id;
    CHECK_EQ_INT(meta_table_drop(a.m, ta, "orders", 6), DS_OK);
    CHECK(meta_table_get(a.m, ta, "orders", 6) == NULL); /* at once here */
    CHECK(atomic_load(&xa->dropped));
    CHECK(wait_flag(&xb->dropped));
    CHECK(meta_table_get(b.m, tb, "orders", 6) == NULL);
    CHECK(meta_table_by_id(b.m, id) == NULL);
    CHECK_EQ_INT(meta_tenant_table_count(b.m, tb), 0);
    CHECK_EQ_INT(meta_table_drop(b.m, tb, "orders", 6), DS_ENOTFOUND);
    CHECK_EQ_INT(meta_table_set_extra(b.m, xb, "{}", 2), DS_ENOTFOUND);
    /* the same name again is a new table with a new id */
    meta_table *again;
    CHECK_EQ_INT(meta_table_create(b.m, tb, "orders", 6, &plain, &again), DS_OK);
    CHECK(again->id > id);
    meta_table *ya = wait_table(a.m, ta, "orders");
    CHECK(ya != NULL);
    CHECK_EQ_INT(ya->id, again->id);
    meta_table_release(ya), meta_table_release(again);
    meta_table_release(xa), meta_table_release(xb);
    meta_tenant_release(ta), meta_tenant_release(tb);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

TEST(set_extra_on_a_table_dropped_elsewhere_fails) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    meta_tenant *ta;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, &ta), DS_OK);
    meta_table *xa;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "orders", 6, &plain, &xa), DS_OK);
    meta_tenant *tb = wait_tenant(b.m, "acme");
    meta_table *xb = wait_table(b.m, tb, "orders");
    CHECK(xb != NULL);
    /* b changes the record: a's revision of it is now old, and a's change
     * still applies (the compare fails, a re-reads the same table) */
    CHECK_EQ_INT(meta_table_set_extra(b.m, xb, "{\"v\":1}", 7), DS_OK);
    CHECK_EQ_INT(meta_table_set_extra(a.m, xa, "{\"v\":2}", 7), DS_OK);
    CHECK(wait_extra(b.m, xb, "{\"v\":2}"));
    /* drop through a's etcd handle directly, so that a's watch is the only
     * way a learns it: its set_extra must then fail on the missing record */
    CHECK_EQ_INT(etcd_delete(a.ec, "meta/T/acme/orders", 18, 0, NULL), DS_OK);
    int rc = meta_table_set_extra(a.m, xa, "{\"v\":3}", 7);
    CHECK_EQ_INT(rc, DS_ENOTFOUND);
    CHECK(wait_flag(&xa->dropped));
    CHECK_EQ_INT(etcd_count(a.ec, "meta/T/"), 0); /* nothing re-created */
    meta_table_release(xa), meta_table_release(xb);
    meta_tenant_release(ta), meta_tenant_release(tb);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

TEST(reopen_loads_everything) {
    fx f;
    fx_start(&f);
    proc a;
    proc_open(&f, &a);
    uint8_t kn[32];
    memcpy(kn, a.kn, 32);
    meta_tenant *t;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", "AKIDACME", "sec", &t), DS_OK);
    CHECK_EQ_INT(meta_tenant_create(a.m, "beta", NULL, NULL, NULL), DS_OK);
    uint8_t dk[32];
    memcpy(dk, t->data_key, 32);
    meta_table_spec spec = {META_ID_INTEGER, NULL, 0, NULL, 0, "{\"x\":[1,2]}", 0};
    meta_table *x, *y;
    CHECK_EQ_INT(meta_table_create(a.m, t, "ints", 4, &spec, &x), DS_OK);
    CHECK_EQ_INT(meta_table_create(a.m, t, "dropme", 6, &plain, &y), DS_OK);
    uint64_t xid = x->id, yid = y->id;
    CHECK_EQ_INT(meta_table_drop(a.m, t, "dropme", 6), DS_OK);
    meta_table_release(x), meta_table_release(y);
    meta_tenant_release(t);
    proc_close(&a);

    memset(&a, 0, sizeof a);
    memcpy(a.kn, kn, 32);
    char err[300];
    CHECK_EQ_INT(proc_try_open(&f, &a, f.kc, err, sizeof err), DS_OK);
    t = meta_tenant_by_key(a.m, "AKIDACME", 8);
    CHECK(t != NULL);
    CHECK_EQ_STR(t->name, "acme");
    CHECK_EQ_STR(t->secret, "sec");
    CHECK_EQ_MEM(t->data_key, dk, 32);
    meta_tenant *beta = meta_tenant_get(a.m, "beta", 4);
    CHECK(beta != NULL);
    meta_tenant_release(beta);
    x = meta_table_get(a.m, t, "ints", 4);
    CHECK(x != NULL);
    CHECK_EQ_INT(x->id, xid);
    CHECK_EQ_INT(x->id_type, META_ID_INTEGER);
    CHECK_EQ_INT(x->pk_type, KEY_N);
    CHECK(wait_extra(a.m, x, "{\"x\":[1,2]}"));
    meta_table *byid = meta_table_by_id(a.m, xid);
    CHECK(byid == x);
    meta_table_release(byid);
    CHECK(meta_table_get(a.m, t, "dropme", 6) == NULL);
    CHECK(meta_table_by_id(a.m, yid) == NULL);
    CHECK(meta_table_wait_id(a.m, yid, 5000) == NULL); /* below the next id: at once */
    CHECK_EQ_INT(meta_tenant_table_count(a.m, t), 1);
    /* ids go on from where they were */
    CHECK_EQ_INT(meta_table_create(a.m, t, "more", 4, &plain, &y), DS_OK);
    CHECK(y->id > yid && y->id > xid);
    meta_table_release(y), meta_table_release(x);
    meta_tenant_release(t);
    proc_close(&a);
    fx_end(&f);
}

typedef struct wait_ctx {
    meta *m;
    uint64_t id;
    meta_table *tb;
} wait_ctx;

static void *wait_thread(void *arg) {
    wait_ctx *w = arg;
    w->tb = meta_table_wait_id(w->m, w->id, 4000);
    return NULL;
}

TEST(wait_id_times_out_and_wakes) {
    fx f;
    fx_start(&f);
    proc a, b;
    proc_open(&f, &a);
    proc_open(&f, &b);
    meta_tenant *ta;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, &ta), DS_OK);
    double t0 = now_s();
    CHECK(meta_table_wait_id(b.m, 1000, 300) == NULL); /* never made */
    double dt = now_s() - t0;
    CHECK(dt >= 0.29 && dt < 2.0);
    meta_table *x;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "first", 5, &plain, &x), DS_OK);
    uint64_t next = x->id + 1;
    meta_table_release(x);
    /* b waits for the id a is about to allocate, from before a does */
    wait_ctx w = {b.m, next, NULL};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_thread, &w) == 0);
    sleep_ms(200);
    CHECK_EQ_INT(meta_table_create(a.m, ta, "second", 6, &plain, &x), DS_OK);
    CHECK_EQ_INT(x->id, next);
    t0 = now_s();
    pthread_join(th, NULL);
    CHECK(now_s() - t0 < 2.0);
    CHECK(w.tb != NULL);
    CHECK_EQ_STR(w.tb->name, "second");
    meta_table_release(w.tb), meta_table_release(x);
    meta_table *first = meta_table_by_id(b.m, next - 1);
    CHECK(first != NULL);
    CHECK_EQ_STR(first->name, "first");
    meta_table_release(first);
    meta_tenant_release(ta);
    proc_close(&b);
    proc_close(&a);
    fx_end(&f);
}

/* ---- a node: its data goes when the table goes -------------------------- */
typedef struct sync_op {
    ds_op op;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} sync_op;

static void sync_done(ds_op *op) {
    sync_op *s = (sync_op *)op;
    pthread_mutex_lock(&s->mu);
    s->done = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int put_item(replica *r, meta_table *tb, const char *id) {
    ds_arena *a = ds_arena_new(1024);
    sync_op s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    ds_op_init(&s.op, DS_OP_WRITE, a);
    key_part kp = {KEY_S, id, strlen(id)};
    CHECK(keycodec_hash(&kp, &s.op.hash) == DS_OK);
    CHECK(keycodec_data_key(&s.op.key, tb->id, s.op.hash, &kp, NULL) == DS_OK);
    CHECK(keycodec_index_key(&s.op.ikey, tb->id, &kp, NULL) == DS_OK);
    item_value *v = ds_arena_calloc(a, sizeof *v);
    v->type = ITEM_M;
    s.op.item = v;
    s.op.table = tb;
    s.op.done = sync_done;
    replica_submit(r, &s.op);
    pthread_mutex_lock(&s.mu);
    while (!s.done) pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    int rc = s.op.status;
    ds_op_release(&s.op);
    ds_arena_free(a);
    return rc;
}

static int count_rows(engine *e, engine_cf cf, uint64_t id) {
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, id);
    engine_iter *it = engine_iter_new(e, cf, lo.data, lo.len, hi.data, hi.len);
    int n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) n++;
    engine_iter_free(it);
    ds_buf_free(&lo), ds_buf_free(&hi);
    return n;
}

TEST(node_range_deletes_a_table_dropped_elsewhere) {
    fx f;
    fx_start(&f);
    proc node, proxy;
    proc_open_node(&f, &node);
    proc_open(&f, &proxy);
    meta_tenant *tp;
    CHECK_EQ_INT(meta_tenant_create(proxy.m, "acme", NULL, NULL, &tp), DS_OK);
    meta_table *x, *keep;
    CHECK_EQ_INT(meta_table_create(proxy.m, tp, "orders", 6, &plain, &x), DS_OK);
    CHECK_EQ_INT(meta_table_create(proxy.m, tp, "kept", 4, &plain, &keep), DS_OK);
    meta_table *nx = meta_table_wait_id(node.m, x->id, 3000);
    meta_table *nk = meta_table_wait_id(node.m, keep->id, 3000);
    CHECK(nx != NULL && nk != NULL);
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "item-%d", i);
        CHECK_EQ_INT(put_item(node.r, nx, id), DS_OK);
        CHECK_EQ_INT(put_item(node.r, nk, id), DS_OK);
    }
    CHECK_EQ_INT(count_rows(node.e, ENGINE_CF_DATA, nx->id), 20);
    CHECK_EQ_INT(count_rows(node.e, ENGINE_CF_INDEX, nx->id), 20);
    CHECK_EQ_INT(atomic_load(&nx->item_count), 20);

    CHECK_EQ_INT(meta_table_drop(proxy.m, tp, "orders", 6), DS_OK);
    CHECK(wait_flag(&nx->dropped));
    double until = now_s() + 5;
    while ((count_rows(node.e, ENGINE_CF_DATA, nx->id) ||
            count_rows(node.e, ENGINE_CF_INDEX, nx->id)) &&
           now_s() < until)
        sleep_ms(5);
    CHECK_EQ_INT(count_rows(node.e, ENGINE_CF_DATA, nx->id), 0);
    CHECK_EQ_INT(count_rows(node.e, ENGINE_CF_INDEX, nx->id), 0);
    CHECK_EQ_INT(count_rows(node.e, ENGINE_CF_DATA, nk->id), 20); /* only that table */
    CHECK_EQ_INT(put_item(node.r, nx, "late"), DS_ESTATE);      /* writes to it fail */
    ds_buf sk = DS_BUF_INIT, sv = DS_BUF_INIT;
    meta_stats_key(&sk, nx->id);
    CHECK_EQ_INT(engine_get(node.e, ENGINE_CF_META, sk.data, sk.len, &sv), DS_ENOTFOUND);
    ds_buf_reset(&sk);
    meta_stats_key(&sk, nk->id);
    CHECK_EQ_INT(engine_get(node.e, ENGINE_CF_META, sk.data, sk.len, &sv), DS_OK);
    ds_buf_free(&sk), ds_buf_free(&sv);

    /* the node's statistics are its own, and survive its restart */
    uint64_t kid = nk->id;
    meta_table_release(nx), meta_table_release(nk);
    char err[300];
    meta_close(node.m);
    CHECK_EQ_INT(meta_open_etcd(node.ec, node.e, node.r, node.kn, f.kc, &node.m, err, sizeof err),
                 DS_OK);
    nk = meta_table_by_id(node.m, kid);
    CHECK(nk != NULL);
    CHECK_EQ_INT(atomic_load(&nk->item_count), 20);
    meta_table *pk = meta_table_by_id(proxy.m, kid);
    CHECK(pk != NULL);
    CHECK_EQ_INT(atomic_load(&pk->item_count), 0); /* a proxy holds no data */
    meta_table_release(pk), meta_table_release(nk);

    /* a tenant drop drops the tables' data on the node as well */
    CHECK_EQ_INT(meta_tenant_drop(proxy.m, "acme", 4), DS_OK);
    until = now_s() + 5;
    while (count_rows(node.e, ENGINE_CF_DATA, kid) && now_s() < until) sleep_ms(5);
    CHECK_EQ_INT(count_rows(node.e, ENGINE_CF_DATA, kid), 0);
    meta_table_release(x), meta_table_release(keep);
    meta_tenant_release(tp);
    proc_close(&proxy);
    proc_close(&node);
    fx_end(&f);
}

/* ---- etcd compacting past a watch ----------------------------------------- */
/* A loopback TCP forwarder to etcd that can cut one process off: close its
 * connections and refuse new ones until told otherwise. */
typedef struct fwd {
    int lfd, port, target;
    atomic_int blocked, stop;
    atomic_int frozen; /* watch streams: hold what etcd sends */
    pthread_t th;
    pthread_mutex_t mu;
    int fds[128];
    int nfds;
} fwd;

typedef struct pump {
    fwd *f;
    int a, b;      /* client side, etcd side */
    int is_watch;  /* the client's first bytes were a watch request */
} pump;

static void *pump_main(void *arg) {
    pump *p = arg;
    char buf[16384];
    struct pollfd pf[2] = {{p->a, POLLIN, 0}, {p->b, POLLIN, 0}};
    int first = 1;
    for (;;) {
        pf[1].events = p->is_watch && atomic_load(&p->f->frozen) ? 0 : POLLIN;
        if (poll(pf, 2, 50) < 0 || atomic_load(&p->f->stop)) break;
        int done = 0;
        for (int i = 0; i < 2 && !done; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(pf[i].fd, buf, sizeof buf);
            if (i == 0 && first && n > 0) {
                p->is_watch = memmem(buf, (size_t)n, "POST /v3/watch", 14) != NULL;
                first = 0;
            }
            if (n <= 0 || write(pf[1 - i].fd, buf, (size_t)n) != n) done = 1;
        }
        if (done) break;
    }
    pthread_mutex_lock(&p->f->mu);
    for (int i = 0; i < p->f->nfds; i++)
        if (p->f->fds[i] == p->a || p->f->fds[i] == p->b) p->f->fds[i] = -1;
    pthread_mutex_unlock(&p->f->mu);
    close(p->a), close(p->b);
    ds_free(p);
    return NULL;
}

static void *fwd_main(void *arg) {
    fwd *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd pf = {f->lfd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0) continue;
        int c = accept(f->lfd, NULL, NULL);
        if (c < 0) continue;
        if (atomic_load(&f->blocked)) {
            close(c);
            continue;
        }
        int u = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->target),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(u, (struct sockaddr *)&a, sizeof a)) {
            close(u), close(c);
            continue;
        }
        pump *p = ds_calloc(1, sizeof *p);
        *p = (pump){f, c, u, 0};
        pthread_mutex_lock(&f->mu);
        if (f->nfds + 2 <= 128) f->fds[f->nfds++] = c, f->fds[f->nfds++] = u;
        pthread_mutex_unlock(&f->mu);
        pthread_t t;
        pthread_create(&t, NULL, pump_main, p);
        pthread_detach(t);
    }
    return NULL;
}

static void fwd_start(fwd *f, int target) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->target = target;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    CHECK(bind(f->lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(f->lfd, 64) == 0);
    CHECK(getsockname(f->lfd, (struct sockaddr *)&a, &l) == 0);
    f->port = ntohs(a.sin_port);
    CHECK(pthread_create(&f->th, NULL, fwd_main, f) == 0);
}

/* Cuts every forwarded connection and refuses new ones (block) or lets
 * them through again. */
static void fwd_block(fwd *f, int block) {
    atomic_store(&f->blocked, block);
    if (!block) return;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nfds; i++)
        if (f->fds[i] >= 0) shutdown(f->fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&f->mu);
}

static void fwd_stop(fwd *f) {
    fwd_block(f, 1);
    atomic_store(&f->stop, 1);
    pthread_join(f->th, NULL);
    close(f->lfd);
    sleep_ms(300); /* the pumps see stop and end */
}

TEST(watch_resyncs_after_compaction) {
    fx f;
    fx_start(&f);
    fwd fw;
    fwd_start(&fw, f.srv.client_port);
    proc a, b;
    char err[300], url[64];
    memset(&a, 0, sizeof a);
    crypto_random(a.kn, 32);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", fw.port);
    CHECK_EQ_INT(etcd_open(url, "/dstore/", &a.ec, err, sizeof err), DS_OK);
    CHECK_EQ_INT(proc_try_open(&f, &a, f.kc, err, sizeof err), DS_OK);
    proc_open(&f, &b);
    CHECK_EQ_INT(meta_tenant_create(b.m, "old", NULL, NULL, NULL), DS_OK);
    CHECK_EQ_INT(meta_tenant_create(b.m, "acme", NULL, NULL, NULL), DS_OK);
    meta_tenant *tb = meta_tenant_get(b.m, "acme", 4);
    CHECK_EQ_INT(meta_table_create(b.m, tb, "goes", 4, &plain, NULL), DS_OK);
    CHECK_EQ_INT(meta_table_create(b.m, tb, "stays", 5, &plain, NULL), DS_OK);
    CHECK_EQ_INT(meta_table_create(b.m, tb, "extra", 5, &plain, NULL), DS_OK);
    meta_tenant *ta = wait_tenant(a.m, "acme");
    CHECK(ta != NULL);
    meta_table *goes = wait_table(a.m, ta, "goes"), *stays = wait_table(a.m, ta, "stays");
    meta_table *ex = wait_table(a.m, ta, "extra");
    CHECK(goes && stays && ex);
    meta_tenant *old = wait_tenant(a.m, "old");
    CHECK(old != NULL);
    meta_table *mine; /* a's own, must survive the re-read */
    CHECK_EQ_INT(meta_table_create(a.m, ta, "mine", 4, &plain, &mine), DS_OK);

    /* a is cut off; meanwhile b changes things and etcd compacts them away */
    fwd_block(&fw, 1);
    sleep_ms(300);
    CHECK_EQ_INT(meta_table_drop(b.m, tb, "goes", 4), DS_OK);
    CHECK_EQ_INT(meta_tenant_drop(b.m, "old", 3), DS_OK);
    CHECK_EQ_INT(meta_table_create(b.m, tb, "new", 3, &plain, NULL), DS_OK);
    meta_table *exb = meta_table_get(b.m, tb, "extra", 5);
    CHECK_EQ_INT(meta_table_set_extra(b.m, exb, "{\"r\":1}", 7), DS_OK);
    meta_table_release(exb);
    int64_t rev;
    CHECK_EQ_INT(etcd_ping(b.ec, &rev), DS_OK);
    char body[100], out[2048];
    snprintf(body, sizeof body, "{\"revision\":\"%lld\",\"physical\":true}", (long long)rev);
    CHECK_EQ_INT(etcd_server_post(&f.srv, "/v3/kv/compaction", body, out, sizeof out), 200);
    CHECK_EQ_INT(meta__etcd_resyncs(a.m), 0);
    CHECK(meta_table_get(a.m, ta, "goes", 4) == goes); /* a has not seen anything yet */
    meta_table_release(goes);
    fwd_block(&fw, 0);

    double until = now_s() + 10;
    while (meta__etcd_resyncs(a.m) == 0 && now_s() < until) sleep_ms(10);
    CHECK_EQ_INT(meta__etcd_resyncs(a.m), 1);
    meta_table *nw = meta_table_get(a.m, ta, "new", 3);
    CHECK(nw != NULL);
    meta_table_release(nw);
    CHECK(atomic_load(&goes->dropped));
    CHECK(meta_table_get(a.m, ta, "goes", 4) == NULL);
    CHECK(meta_table_by_id(a.m, goes->id) == NULL);
    CHECK(meta_tenant_get(a.m, "old", 3) == NULL);
    CHECK(atomic_load(&old->dropped));
    CHECK(!atomic_load(&stays->dropped));
    CHECK(!atomic_load(&mine->dropped));
    CHECK(wait_extra(a.m, ex, "{\"r\":1}"));
    meta_table *s2 = meta_table_get(a.m, ta, "stays", 5), *m2 = meta_table_get(a.m, ta, "mine", 4);
    CHECK(s2 == stays && m2 == mine); /* unchanged records keep their objects */
    meta_table_release(s2), meta_table_release(m2);
    CHECK_EQ_INT(meta_tenant_table_count(a.m, ta), 4); /* stays, extra, mine, new */
    /* and the watch goes on after the re-read */
    CHECK_EQ_INT(meta_table_create(b.m, tb, "after", 5, &plain, NULL), DS_OK);
    meta_table *af = wait_table(a.m, ta, "after");
    CHECK(af != NULL);
    meta_table_release(af);
    meta_table_release(goes), meta_table_release(stays), meta_table_release(mine);
    meta_table_release(ex);
    meta_tenant_release(old), meta_tenant_release(ta), meta_tenant_release(tb);
    proc_close(&b);
    proc_close(&a);
    fwd_stop(&fw);
    fx_end(&f);
}


/* The watch lags (its stream is held back) while this process changes a
 * record: the late events of older revisions must not undo the newer local
 * state. */
TEST(a_late_watch_event_does_not_undo_a_local_change) {
    fx f;
    fx_start(&f);
    fwd fw;
    fwd_start(&fw, f.srv.client_port);
    proc a, b;
    char err[300], url[64];
    memset(&a, 0, sizeof a);
    crypto_random(a.kn, 32);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", fw.port);
    CHECK_EQ_INT(etcd_open(url, "/dstore/", &a.ec, err, sizeof err), DS_OK);
    CHECK_EQ_INT(proc_try_open(&f, &a, f.kc, err, sizeof err), DS_OK);
    proc_open(&f, &b);
    meta_tenant *ta;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, &ta), DS_OK);
    meta_table *old;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "orders", 6, &plain, &old), DS_OK);
    CHECK_EQ_INT(meta_table_create(a.m, ta, "gone", 4, &plain, NULL), DS_OK);
    meta_tenant *tb = wait_tenant(b.m, "acme");
    meta_table *bo = wait_table(b.m, tb, "orders"), *bg = wait_table(b.m, tb, "gone");
    CHECK(bo && bg);
    meta_table_release(bg);

    atomic_store(&fw.frozen, 1);
    sleep_ms(100);
    /* b drops the table and re-creates "gone"... */
    CHECK_EQ_INT(meta_table_drop(b.m, tb, "orders", 6), DS_OK);
    CHECK_EQ_INT(meta_table_drop(b.m, tb, "gone", 4), DS_OK);
    CHECK_EQ_INT(meta_table_create(b.m, tb, "gone", 4, &plain, NULL), DS_OK);
    sleep_ms(100);
    CHECK(meta_table_get(a.m, ta, "orders", 6) == old); /* a's watch is held back */
    meta_table_release(old);
    /* ... then a, not knowing, creates "orders" again (a new table) and
     * drops "gone" by name (the table b made: a re-reads the record after
     * its compare failed) */
    meta_table *mine;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "orders", 6, &plain, &mine), DS_OK);
    CHECK(mine->id != old->id);
    CHECK(atomic_load(&old->dropped));
    CHECK_EQ_INT(meta_table_drop(a.m, ta, "gone", 4), DS_OK);
    CHECK(meta_table_get(a.m, ta, "gone", 4) == NULL);
    CHECK_EQ_INT(etcd_count(b.ec, "meta/T/acme/gone"), 0);
    /* the held events arrive: b's drop of the old "orders", b's "gone" */
    atomic_store(&fw.frozen, 0);
    CHECK_EQ_INT(meta_table_create(b.m, tb, "sentinel", 8, &plain, NULL), DS_OK);
    meta_table *sen = wait_table(a.m, ta, "sentinel"); /* a's watch caught up */
    CHECK(sen != NULL);
    meta_table_release(sen);
    CHECK(!atomic_load(&mine->dropped));
    meta_table *now = meta_table_get(a.m, ta, "orders", 6);
    CHECK(now == mine);
    meta_table_release(now);
    CHECK(meta_table_get(a.m, ta, "gone", 4) == NULL);
    CHECK_EQ_INT(meta_tenant_table_count(a.m, ta), 2); /* orders, sentinel */
    CHECK(dict_count(a.m->es.seen) == 0); /* every note was cleared by its event */
    meta_table *bgone = meta_table_get(b.m, tb, "gone", 4);
    double until = now_s() + 5;
    while (bgone && now_s() < until) {
        meta_table_release(bgone);
        sleep_ms(5);
        bgone = meta_table_get(b.m, tb, "gone", 4);
    }
    CHECK(bgone == NULL); /* b's table was dropped there too */
    meta_table_release(mine), meta_table_release(bo), meta_table_release(old);
    meta_tenant_release(ta), meta_tenant_release(tb);
    proc_close(&b);
    proc_close(&a);
    fwd_stop(&fw);
    fx_end(&f);
}


/* A process whose watch lags has an old id counter: its create must lose
 * the compare on n/table_id, re-read it and take the next free id. */
TEST(a_stale_id_counter_never_reuses_an_id) {
    fx f;
    fx_start(&f);
    fwd fw;
    fwd_start(&fw, f.srv.client_port);
    proc a, b;
    char err[300], url[64];
    memset(&b, 0, sizeof b);
    crypto_random(b.kn, 32);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", fw.port);
    CHECK_EQ_INT(etcd_open(url, "/dstore/", &b.ec, err, sizeof err), DS_OK);
    CHECK_EQ_INT(proc_try_open(&f, &b, f.kc, err, sizeof err), DS_OK);
    proc_open(&f, &a);
    meta_tenant *ta, *tb;
    CHECK_EQ_INT(meta_tenant_create(a.m, "acme", NULL, NULL, &ta), DS_OK);
    tb = wait_tenant(b.m, "acme");
    CHECK(tb != NULL);
    atomic_store(&fw.frozen, 1);
    sleep_ms(100);
    meta_table *x, *y;
    CHECK_EQ_INT(meta_table_create(a.m, ta, "from-a", 6, &plain, &x), DS_OK);
    sleep_ms(100);
    CHECK(meta_table_by_id(b.m, x->id) == NULL); /* b has not seen it */
    CHECK_EQ_INT(meta_table_create(b.m, tb, "from-b", 6, &plain, &y), DS_OK);
    CHECK(y->id != x->id);
    CHECK(y->id > x->id);
    atomic_store(&fw.frozen, 0);
    meta_table *xb = wait_table(b.m, tb, "from-a");
    CHECK(xb != NULL);
    CHECK_EQ_INT(xb->id, x->id);
    meta_table_release(xb), meta_table_release(x), meta_table_release(y);
    meta_tenant_release(ta), meta_tenant_release(tb);
    proc_close(&b);
    proc_close(&a);
    fwd_stop(&fw);
    fx_end(&f);
}

TEST_MAIN()
