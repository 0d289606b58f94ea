/* test_replication_writer.c -- the writer's replication interface
 * (replica.h): hooks (admit, mutation capture, prepare, after_commit with
 * held ops), DS_OP_APPLY (re-sealing, touched sets, refusals), DS_OP_CALL
 * and DS_OP_DELETE_SPAN. Real RocksDB in a temp dir, no cluster. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/dict.h"
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
    meta_tenant *t;
    meta_table *tb;
} world;

static void world_new(world *w) {
    snprintf(w->dir, sizeof w->dir, "/tmp/dstore-test-replw-XXXXXX");
    CHECK(mkdtemp(w->dir) != NULL);
    CHECK(crypto_init() == DS_OK);
    uint8_t kn[32], kc[32];
    crypto_random(kn, 32);
    crypto_random(kc, 32);
    char err[512];
    CHECK_EQ_INT(engine_open(w->dir, NULL, &w->e, err, sizeof err), DS_OK);
    CHECK_EQ_INT(replica_start(w->e, &w->r), DS_OK);
    CHECK_EQ_INT(meta_open(w->e, w->r, kn, "11111111-2222-4333-8444-555555555555", kc, &w->m, err,
                           sizeof err),
                 DS_OK);
    CHECK_EQ_INT(meta_tenant_create(w->m, "acme", NULL, NULL, &w->t), DS_OK);
    meta_table_spec spec = {META_ID_STRING, NULL, 0, NULL, 0, NULL, 0};
    CHECK_EQ_INT(meta_table_create(w->m, w->t, "tab", 3, &spec, &w->tb), DS_OK);
}

static void world_free(world *w) {
    replica_set_hooks(w->r, NULL, NULL);
    meta_table_release(w->tb);
    meta_tenant_release(w->t);
    replica_stop(w->r);
    meta_close(w->m);
    engine_close(w->e);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    CHECK(system(cmd) == 0);
}

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

static void data_key(ds_buf *k, uint64_t table, const char *id, uint32_t *hash) {
    key_part kp = {KEY_S, id, strlen(id)};
    uint32_t h;
    CHECK_EQ_INT(keycodec_hash(&kp, &h), DS_OK);
    ds_buf_reset(k);
    CHECK_EQ_INT(keycodec_data_key(k, table, h, &kp, NULL), DS_OK);
    if (hash) *hash = h;
}

/* A write op (put when val, else delete); run synchronously. */
static int write_op(world *w, const char *id, const char *val, int async, ds_op *op, ds_arena *a) {
    ds_op_init(op, DS_OP_WRITE, a);
    key_part kp = {KEY_S, id, strlen(id)};
    CHECK_EQ_INT(keycodec_hash(&kp, &op->hash), DS_OK);
    CHECK_EQ_INT(keycodec_data_key(&op->key, w->tb->id, op->hash, &kp, NULL), DS_OK);
    CHECK_EQ_INT(keycodec_index_key(&op->ikey, w->tb->id, &kp, NULL), DS_OK);
    op->table = w->tb;
    if (val) op->item = str_item(a, val);
    else op->is_delete = 1;
    op->async = async;
    return replica_run(w->r, op);
}

static int put(world *w, const char *id, const char *val) {
    ds_arena *a = ds_arena_new(1024);
    ds_op op;
    int rc = write_op(w, id, val, 0, &op, a);
    ds_op_release(&op);
    ds_arena_free(a);
    return rc;
}

/* Reads id's "v" (with this node's key): DS_OK / DS_ENOTFOUND. */
static int get(world *w, const char *id, char *out, size_t n) {
    ds_arena *a = ds_arena_new(1024);
    ds_buf k = DS_BUF_INIT;
    data_key(&k, w->tb->id, id, NULL);
    item_value *it;
    int rc = replica_read(w->r, w->tb, k.data, k.len, a, &it);
    if (rc == DS_OK) {
        item_value *v = item_get(it, "v", 1);
        snprintf(out, n, "%.*s", (int)v->u.s.len, v->u.s.p);
    }
    ds_buf_free(&k);
    ds_arena_free(a);
    return rc;
}

static uint64_t index_count(world *w) {
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, w->tb->id);
    uint64_t n;
    CHECK_EQ_INT(replica_count(w->r, w->tb, &lo, &hi, &n), DS_OK);
    ds_buf_free(&lo), ds_buf_free(&hi);
    return n;
}

/* A plaintext item (item codec) for an APPLY. */
static void plain(ds_buf *out, const char *val) {
    ds_arena *a = ds_arena_new(256);
    ds_buf_reset(out);
    CHECK_EQ_INT(item_encode(out, str_item(a, val)), DS_OK);
    ds_arena_free(a);
}

/* ---- hooks under test ---- */
typedef struct hk {
    replica *r;
    int refuse_id_x;       /* admit refuses keys whose id starts with 'x' */
    size_t nmuts_seen;
    int mut_deletes;
    char last_value[64];
    int hold;              /* after_commit holds every sync op */
    ds_op *held[16];
    size_t nheld;
    int refuse_sections;   /* apply_check refuses */
    dict *touched;         /* apply_check hands this out */
    int calls_in_prepare;
} hk;

static int hk_admit(void *ud, ds_op *op) {
    hk *h = ud;
    if (h->refuse_id_x && op->key.data[12] == 'x') {
        if (op->err) snprintf(op->err, op->errlen, "not the leader of this range");
        return DS_ESTATE;
    }
    op->repl_range = h;
    return DS_OK;
}

static int hk_apply_check(void *ud, replica_group *g, replica_section *s) {
    (void)g;
    hk *h = ud;
    if (h->refuse_sections) return DS_ECONDITION;
    s->touched = h->touched;
    return DS_OK;
}

static void hk_prepare(void *ud, replica_group *g) {
    hk *h = ud;
    h->calls_in_prepare++;
    h->nmuts_seen += g->nmuts;
    for (size_t i = 0; i < g->nmuts; i++) {
        if (!g->muts[i].value) h->mut_deletes++;
        else {
            ds_arena *a = ds_arena_new(256);
            item_value *it;
            CHECK_EQ_INT(item_decode(a, g->muts[i].value, g->muts[i].vlen, &it), DS_OK);
            item_value *v = item_get(it, "v", 1);
            snprintf(h->last_value, sizeof h->last_value, "%.*s", (int)v->u.s.len, v->u.s.p);
            ds_arena_free(a);
        }
        CHECK(g->muts[i].op != NULL);
        CHECK(g->muts[i].klen == g->muts[i].op->key.len);
        CHECK_EQ_MEM(g->muts[i].key, g->muts[i].op->key.data, g->muts[i].klen);
    }
    replica_group_put(g, ENGINE_CF_META, "r/test", 6, "pos", 3);
}

static void hk_after_commit(void *ud, replica_group *g, int rc) {
    hk *h = ud;
    CHECK_EQ_INT(rc, DS_OK);
    if (!h->hold) return;
    for (size_t i = 0; i < g->nops; i++) {
        ds_op *op = g->ops[i];
        if (op->kind == DS_OP_WRITE && op->repl_range && !op->async && op->status == DS_OK &&
            h->nheld < 16) {
            g->held[i] = 1;
            h->held[h->nheld++] = op;
        }
    }
}

static const replica_hooks HOOKS = {hk_admit, hk_apply_check, hk_prepare, hk_after_commit};

TEST(admit_refuses_and_mutations_are_captured) {
    world w;
    world_new(&w);
    hk h = {0};
    h.r = w.r;
    h.refuse_id_x = 1;
    replica_set_hooks(w.r, &HOOKS, &h);
    CHECK_EQ_INT(put(&w, "a1", "one"), DS_OK);
    CHECK_EQ_STR(h.last_value, "one");
    /* refused by admit: nothing written, the message reaches op->err */
    ds_arena *a = ds_arena_new(1024);
    ds_op op;
    char err[128] = "";
    ds_op_init(&op, DS_OP_WRITE, a);
    op.err = err, op.errlen = sizeof err;
    key_part kp = {KEY_S, "x1", 2};
    keycodec_hash(&kp, &op.hash);
    keycodec_data_key(&op.key, w.tb->id, op.hash, &kp, NULL);
    keycodec_index_key(&op.ikey, w.tb->id, &kp, NULL);
    op.table = w.tb;
    op.item = str_item(a, "nope");
    CHECK_EQ_INT(replica_run(w.r, &op), DS_ESTATE);
    CHECK_EQ_STR(err, "not the leader of this range");
    ds_op_release(&op);
    ds_arena_free(a);
    char v[64];
    CHECK_EQ_INT(get(&w, "x1", v, sizeof v), DS_ENOTFOUND);
    /* a delete of a missing key is no mutation; of a present one, it is */
    size_t before = h.nmuts_seen;
    CHECK_EQ_INT(put(&w, "zz", NULL), DS_OK);
    CHECK_EQ_INT(h.nmuts_seen, before);
    CHECK_EQ_INT(put(&w, "a1", NULL), DS_OK);
    CHECK_EQ_INT(h.nmuts_seen, before + 1);
    CHECK_EQ_INT(h.mut_deletes, 1);
    /* prepare's entry was committed with the group */
    ds_buf val = DS_BUF_INIT;
    CHECK_EQ_INT(engine_get(w.e, ENGINE_CF_META, "r/test", 6, &val), DS_OK);
    CHECK_EQ_STR(val.data, "pos");
    ds_buf_free(&val);
    world_free(&w);
}

typedef struct bg_put {
    world *w;
    const char *id, *val;
    int async;
    int rc;
    atomic_int done;
} bg_put;

static void *bg_main(void *arg) {
    bg_put *b = arg;
    ds_arena *a = ds_arena_new(1024);
    ds_op op;
    b->rc = write_op(b->w, b->id, b->val, b->async, &op, a);
    ds_op_release(&op);
    ds_arena_free(a);
    atomic_store(&b->done, 1);
    return NULL;
}

TEST(held_ops_complete_only_through_replica_finish) {
    world w;
    world_new(&w);
    hk h = {0};
    h.hold = 1;
    replica_set_hooks(w.r, &HOOKS, &h);
    bg_put s = {&w, "k1", "sync", 0, -1, 0}, as = {&w, "k2", "async", 1, -1, 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, bg_main, &s);
    pthread_create(&t2, NULL, bg_main, &as);
    usleep(200 * 1000);
    CHECK_EQ_INT(atomic_load(&as.done), 1); /* async: acknowledged at commit */
    CHECK_EQ_INT(as.rc, DS_OK);
    CHECK_EQ_INT(atomic_load(&s.done), 0); /* sync: held */
    CHECK_EQ_INT(h.nheld, 1);
    CHECK(replica_pending(w.r) == 1);
    /* the writer goes on meanwhile */
    h.hold = 0;
    CHECK_EQ_INT(put(&w, "k3", "other"), DS_OK);
    CHECK_EQ_INT(atomic_load(&s.done), 0);
    replica_finish(w.r, h.held[0], DS_ESTATE);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_EQ_INT(s.rc, DS_ESTATE);
    world_free(&w);
}

TEST(apply_reseals_updates_index_and_stats) {
    world w;
    world_new(&w);
    hk h = {0};
    replica_set_hooks(w.r, &HOOKS, &h);
    CHECK_EQ_INT(put(&w, "old", "x"), DS_OK);
    ds_buf k1 = DS_BUF_INIT, k2 = DS_BUF_INIT, p1 = DS_BUF_INIT, p2 = DS_BUF_INIT;
    data_key(&k1, w.tb->id, "n1", NULL);
    data_key(&k2, w.tb->id, "old", NULL);
    plain(&p1, "shipped");
    replica_mut m[2] = {{k1.data, k1.len, p1.data, p1.len, NULL}, {k2.data, k2.len, NULL, 0, NULL}};
    replica_section sec = {REPLICA_SEC_LIVE, w.tb, m, 2, NULL, NULL, -1};
    ds_op op;
    ds_op_init(&op, DS_OP_APPLY, NULL);
    op.sections = &sec;
    op.nsections = 1;
    CHECK_EQ_INT(replica_run(w.r, &op), DS_OK);
    CHECK_EQ_INT(sec.status, DS_OK);
    char v[64];
    CHECK_EQ_INT(get(&w, "n1", v, sizeof v), DS_OK); /* opens with this node's key */
    CHECK_EQ_STR(v, "shipped");
    CHECK_EQ_INT(get(&w, "old", v, sizeof v), DS_ENOTFOUND);
    CHECK_EQ_INT(index_count(&w), 1);
    CHECK_EQ_INT(atomic_load(&w.tb->item_count), 1);
    /* applies are not captured as mutations to ship */
    CHECK_EQ_INT(h.nmuts_seen, 1);
    /* a refused section writes nothing */
    h.refuse_sections = 1;
    plain(&p2, "refused");
    replica_mut m2 = {k1.data, k1.len, p2.data, p2.len, NULL};
    replica_section sec2 = {REPLICA_SEC_LIVE, w.tb, &m2, 1, NULL, NULL, 0};
    ds_op_release(&op);
    ds_op_init(&op, DS_OP_APPLY, NULL);
    op.sections = &sec2;
    op.nsections = 1;
    CHECK_EQ_INT(replica_run(w.r, &op), DS_OK);
    CHECK_EQ_INT(sec2.status, DS_ECONDITION);
    CHECK_EQ_INT(get(&w, "n1", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "shipped");
    /* a key of another table is refused */
    h.refuse_sections = 0;
    ds_buf k3 = DS_BUF_INIT;
    data_key(&k3, w.tb->id + 1, "n1", NULL);
    replica_mut m3 = {k3.data, k3.len, p2.data, p2.len, NULL};
    replica_section sec3 = {REPLICA_SEC_LIVE, w.tb, &m3, 1, NULL, NULL, 0};
    ds_op_release(&op);
    ds_op_init(&op, DS_OP_APPLY, NULL);
    op.sections = &sec3;
    op.nsections = 1;
    CHECK_EQ_INT(replica_run(w.r, &op), DS_OK);
    CHECK_EQ_INT(sec3.status, DS_EINVAL);
    ds_op_release(&op);
    ds_buf_free(&k1), ds_buf_free(&k2), ds_buf_free(&k3), ds_buf_free(&p1), ds_buf_free(&p2);
    world_free(&w);
}

TEST(snapshot_sections_skip_keys_written_live) {
    world w;
    world_new(&w);
    hk h = {0};
    h.touched = dict_new();
    replica_set_hooks(w.r, &HOOKS, &h);
    ds_buf ka = DS_BUF_INIT, kb = DS_BUF_INIT, kc = DS_BUF_INIT, pa = DS_BUF_INIT,
           pb = DS_BUF_INIT, old = DS_BUF_INIT;
    data_key(&ka, w.tb->id, "a", NULL);
    data_key(&kb, w.tb->id, "b", NULL);
    data_key(&kc, w.tb->id, "c", NULL);
    plain(&pa, "live-a");
    plain(&old, "snapshot-old");
    /* live: put a, delete b (both newer than the snapshot) */
    replica_mut live[2] = {{ka.data, ka.len, pa.data, pa.len, NULL},
                           {kb.data, kb.len, NULL, 0, NULL}};
    replica_section ls = {REPLICA_SEC_LIVE, w.tb, live, 2, NULL, NULL, 0};
    /* snapshot: old a, old b, c */
    plain(&pb, "snapshot-c");
    replica_mut snap[3] = {{ka.data, ka.len, old.data, old.len, NULL},
                           {kb.data, kb.len, old.data, old.len, NULL},
                           {kc.data, kc.len, pb.data, pb.len, NULL}};
    replica_section ss = {REPLICA_SEC_SNAPSHOT, w.tb, snap, 3, NULL, NULL, 0};
    replica_section both[2] = {ls, ss};
    ds_op op;
    ds_op_init(&op, DS_OP_APPLY, NULL);
    op.sections = both;
    op.nsections = 2;
    CHECK_EQ_INT(replica_run(w.r, &op), DS_OK);
    ds_op_release(&op);
    CHECK_EQ_INT(dict_count(h.touched), 2);
    char v[64];
    CHECK_EQ_INT(get(&w, "a", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "live-a");
    CHECK_EQ_INT(get(&w, "b", v, sizeof v), DS_ENOTFOUND);
    CHECK_EQ_INT(get(&w, "c", v, sizeof v), DS_OK);
    CHECK_EQ_STR(v, "snapshot-c");
    CHECK_EQ_INT(index_count(&w), 2);
    CHECK_EQ_INT(atomic_load(&w.tb->item_count), 2);
    dict_free(h.touched);
    ds_buf_free(&ka), ds_buf_free(&kb), ds_buf_free(&kc);
    ds_buf_free(&pa), ds_buf_free(&pb), ds_buf_free(&old);
    world_free(&w);
}

typedef struct call_rec {
    int ran;
    size_t nops_at_call;
} call_rec;

static int rec_call(ds_op *op, replica_group *g) {
    call_rec *cr = (call_rec *)op->apply_arg;
    cr->ran = 1;
    cr->nops_at_call = g->nops; /* ops of this group evaluated before the call */
    replica_group_put(g, ENGINE_CF_META, "r/call", 6, "yes", 3);
    return DS_ECONDITION;
}

TEST(call_runs_first_in_a_group_and_may_write) {
    world w;
    world_new(&w);
    hk h = {0};
    replica_set_hooks(w.r, &HOOKS, &h);
    call_rec cr = {0, 99};
    ds_op op;
    ds_op_init(&op, DS_OP_CALL, NULL);
    op.call = rec_call;
    op.apply_arg = &cr;
    CHECK_EQ_INT(replica_run(w.r, &op), DS_ECONDITION);
    ds_op_release(&op);
    CHECK_EQ_INT(cr.ran, 1);
    CHECK_EQ_INT(cr.nops_at_call, 0);
    ds_buf val = DS_BUF_INIT;
    CHECK_EQ_INT(engine_get(w.e, ENGINE_CF_META, "r/call", 6, &val), DS_OK);
    ds_buf_free(&val);
    world_free(&w);
}

TEST(delete_span_deletes_exactly_the_span) {
    world w;
    world_new(&w);
    char id[32];
    int in = 0;
    uint32_t lo = 0x40000000u, hi = 0x7fffffffu;
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "item-%d", i);
        CHECK_EQ_INT(put(&w, id, "v"), DS_OK);
        key_part kp = {KEY_S, id, strlen(id)};
        uint32_t h;
        keycodec_hash(&kp, &h);
        in += h >= lo && h <= hi;
    }
    CHECK(in > 10 && in < 190);
    int64_t bytes_before = atomic_load(&w.tb->size_bytes);
    ds_op op;
    ds_op_init(&op, DS_OP_DELETE_SPAN, NULL);
    op.table = w.tb;
    op.span_low = lo;
    op.span_high = hi;
    ds_meta_put mp = {ENGINE_CF_META, {"r/mark", 6}, {"1", 1}, 0};
    op.meta = &mp;
    op.nmeta = 1;
    CHECK_EQ_INT(replica_run(w.r, &op), DS_OK);
    ds_op_release(&op);
    CHECK_EQ_INT(index_count(&w), 200 - in);
    CHECK_EQ_INT(atomic_load(&w.tb->item_count), 200 - in);
    CHECK(atomic_load(&w.tb->size_bytes) < bytes_before);
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "item-%d", i);
        key_part kp = {KEY_S, id, strlen(id)};
        uint32_t h;
        keycodec_hash(&kp, &h);
        char v[8];
        CHECK_EQ_INT(get(&w, id, v, sizeof v), (h >= lo && h <= hi) ? DS_ENOTFOUND : DS_OK);
    }
    ds_buf val = DS_BUF_INIT;
    CHECK_EQ_INT(engine_get(w.e, ENGINE_CF_META, "r/mark", 6, &val), DS_OK);
    ds_buf_free(&val);
    world_free(&w);
}

TEST_MAIN()
