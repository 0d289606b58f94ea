/* meta.c -- tenants, tables, credentials and the key hierarchy (see meta.h
 * for the layout and the key derivations). */
#include "control/meta.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/json.h"
#include "crypto/crypto.h"

struct meta {
    engine *e;
    replica *r;
    uint8_t meta_key[32];    /* node meta key: seals tenant records */
    uint8_t control_key[32]; /* derived from Kc: seals control-plane records */
    uint8_t node_key[32];    /* Kn */
    pthread_rwlock_t lock;   /* guards the dicts and next_table_id */
    pthread_mutex_t change;  /* serializes create/drop end to end */
    dict *tenants;           /* name -> meta_tenant* */
    dict *keys;              /* access key -> meta_tenant* */
    dict *tables;            /* "tenant/table" -> meta_table* */
    uint64_t next_table_id;
    ds_buf orphans;          /* at open: T/ keys (NUL-separated) of tables without a tenant */
};

/* ---- helpers ----------------------------------------------------------- */
static void derive(uint8_t out[32], const void *ikm, size_t ikmlen, const void *salt, size_t saltlen,
                   const char *info) {
    crypto_hkdf_sha256(salt, saltlen, ikm, ikmlen, info, strlen(info), out, 32);
}

static void tenant_data_key(meta *m, meta_tenant *t, const uint8_t ktc[32]) {
    uint8_t ikm[96];
    memcpy(ikm, m->node_key, 32);
    memcpy(ikm + 32, t->ktn, 32);
    memcpy(ikm + 64, ktc, 32);
    derive(t->data_key, ikm, sizeof ikm, t->name, strlen(t->name), "dstore/tenant-data/v1");
    memset(ikm, 0, sizeof ikm);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} waiter;

static void waiter_done(ds_op *op) {
    waiter *w = op->done_arg;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Submits op and waits until it is durable or failed; returns its status. */
static int commit_and_wait(meta *m, ds_op *op) {
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    op->done = waiter_done;
    op->done_arg = &w;
    replica_submit(m->r, op);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return op->status;
}

/* A small builder for the mutations of one META op. */
typedef struct mutations {
    ds_meta_put put[8];
    ds_buf keys[8], vals[8];
    size_t n;
} mutations;

static ds_buf *mut_key(mutations *mu) {
    ds_buf_init(&mu->keys[mu->n]);
    ds_buf_init(&mu->vals[mu->n]);
    return &mu->keys[mu->n];
}

static void mut_add(mutations *mu, int is_delete) {
    size_t i = mu->n++;
    mu->put[i] = (ds_meta_put){ENGINE_CF_META, {mu->keys[i].data, mu->keys[i].len},
                               {mu->vals[i].data, mu->vals[i].len}, is_delete};
}

static void mut_free(mutations *mu) {
    for (size_t i = 0; i < mu->n; i++) ds_buf_free(&mu->keys[i]), ds_buf_free(&mu->vals[i]);
    mu->n = 0;
}

static int mut_commit(meta *m, mutations *mu, ds_op_kind kind, meta_table *tb) {
    ds_op op;
    ds_op_init(&op, kind, NULL);
    op.meta = mu->put;
    op.nmeta = mu->n;
    op.table = tb;
    int rc = commit_and_wait(m, &op);
    ds_op_release(&op);
    return rc;
}

static void tenant_key(ds_buf *k, const char *name) { ds_buf_printf(k, "t/%s", name); }
static void ctl_tenant_key(ds_buf *k, const char *name) { ds_buf_printf(k, "ctl/tenant/%s", name); }
static void table_key(ds_buf *k, const char *tenant, const char *name) {
    ds_buf_printf(k, "T/%s/%s", tenant, name);
}

void meta_stats_key(ds_buf *out, uint64_t table_id) {
    ds_buf_puts(out, "s/");
    ds_buf_put_u64be(out, table_id);
}

static int valid_chars(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int meta_valid_tenant_name(const char *name, size_t len) {
    return len >= 1 && len <= META_TENANT_MAX && valid_chars(name, len);
}

int meta_valid_table_name(const char *name, size_t len) {
    return len >= 3 && len <= META_NAME_MAX && valid_chars(name, len);
}

static const char *key_type_name(key_type t) {
    return t == KEY_N ? "N" : t == KEY_B ? "B" : "S";
}

static key_type key_type_parse(const json_value *v) {
    if (!v || v->type != JSON_STRING || v->u.str.len != 1) return 0;
    switch (v->u.str.s[0]) {
    case 'S': return KEY_S;
    case 'N': return KEY_N;
    case 'B': return KEY_B;
    }
    return 0;
}

static const char *id_type_names[] = {"String", "Integer", "Bytes"};

static int64_t json_int(const json_value *v) {
    return v && v->type == JSON_NUMBER ? strtoll(v->u.str.s, NULL, 10) : 0;
}

/* ---- references -------------------------------------------------------- */
void meta_tenant_release(meta_tenant *t) {
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
        memset(t->data_key, 0, sizeof t->data_key);
        memset(t->ktn, 0, sizeof t->ktn);
        memset(t->secret, 0, sizeof t->secret);
        ds_free(t);
    }
}

void meta_table_retain(meta_table *tb) { atomic_fetch_add(&tb->refs, 1); }

void meta_table_release(meta_table *tb) {
    if (tb && atomic_fetch_sub(&tb->refs, 1) == 1) {
        meta_tenant_release(tb->tenant);
        ds_free(tb->extra);
        ds_free(tb);
    }
}

/* ---- loading ----------------------------------------------------------- */
static int open_sealed(const uint8_t key[32], const char *k, size_t kl, const char *v, size_t vl,
                       ds_buf *out) {
    ds_buf_reset(out);
    return crypto_open(out, key, k, kl, v, vl);
}

static int load_control_key(meta *m, const char *name, const char *prefix, uint8_t out[32],
                            int create, mutations *mu) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT, pt = DS_BUF_INIT;
    ds_buf_printf(&k, "%s%s", prefix, name);
    int rc = engine_get(m->e, ENGINE_CF_META, k.data, k.len, &v);
    if (rc == DS_OK) {
        rc = open_sealed(m->control_key, k.data, k.len, v.data, v.len, &pt);
        if (rc == DS_OK && pt.len != 32) rc = DS_ECORRUPT;
        if (rc == DS_OK) memcpy(out, pt.data, 32);
    } else if (rc == DS_ENOTFOUND && create) {
        crypto_random(out, 32);
        ds_buf *mk = mut_key(mu);
        ds_buf_append(mk, k.data, k.len);
        rc = crypto_seal(&mu->vals[mu->n], m->control_key, k.data, k.len, out, 32);
        mut_add(mu, 0);
    }
    if (pt.data) memset(pt.data, 0, pt.len);
    ds_buf_free(&k), ds_buf_free(&v), ds_buf_free(&pt);
    return rc;
}

static int load_tenant(meta *m, const char *k, size_t kl, const char *v, size_t vl, char *err,
                       size_t errlen) {
    ds_buf pt = DS_BUF_INIT;
    ds_arena *a = ds_arena_new(4096);
    meta_tenant *t = NULL;
    json_value *j;
    char jerr[128];
    int rc = open_sealed(m->meta_key, k, kl, v, vl, &pt);
    if (rc) {
        snprintf(err, errlen, "tenant record %.*s does not open with this node's keys: %s",
                 (int)kl, k, ds_strerror(rc));
        goto out;
    }
    rc = json_parse(a, pt.data, pt.len, 0, &j, jerr, sizeof jerr);
    if (rc) {
        snprintf(err, errlen, "tenant record %.*s is corrupt: %s", (int)kl, k, jerr);
        rc = DS_ECORRUPT;
        goto out;
    }
    t = ds_calloc(1, sizeof *t);
    snprintf(t->name, sizeof t->name, "%.*s", (int)(kl - 2), k + 2);
    const json_value *ak = json_get(j, "accessKeyId"), *sec = json_get(j, "secret"),
                     *ktn = json_get(j, "ktn");
    if (!ak || ak->type != JSON_STRING || ak->u.str.len >= sizeof t->access_key || !sec ||
        sec->type != JSON_STRING || sec->u.str.len >= sizeof t->secret || !ktn ||
        ktn->type != JSON_STRING || crypto_unhex(t->ktn, 32, ktn->u.str.s, ktn->u.str.len)) {
        snprintf(err, errlen, "tenant record %.*s is missing fields", (int)kl, k);
        rc = DS_ECORRUPT;
        goto out;
    }
    memcpy(t->access_key, ak->u.str.s, ak->u.str.len);
    memcpy(t->secret, sec->u.str.s, sec->u.str.len);
    t->created_ms = json_int(json_get(j, "created"));
    uint8_t ktc[32];
    rc = load_control_key(m, t->name, "ctl/tenant/", ktc, 0, NULL);
    if (rc) {
        snprintf(err, errlen, "tenant %s: its control-plane key is unreadable: %s", t->name,
                 ds_strerror(rc));
        goto out;
    }
    tenant_data_key(m, t, ktc);
    memset(ktc, 0, sizeof ktc);
    atomic_init(&t->refs, 1);
    dict_set(m->tenants, t->name, strlen(t->name), t);
    dict_set(m->keys, t->access_key, strlen(t->access_key), t);
    t = NULL;
out:
    if (pt.data) memset(pt.data, 0, pt.len);
    ds_buf_free(&pt);
    ds_free(t);
    ds_arena_free(a);
    return rc;
}

static void load_stats(meta *m, meta_table *tb) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    meta_stats_key(&k, tb->id);
    if (engine_get(m->e, ENGINE_CF_META, k.data, k.len, &v) == DS_OK && v.len == 16) {
        atomic_store(&tb->item_count, (int64_t)ds_get_u64be(v.data));
        atomic_store(&tb->size_bytes, (int64_t)ds_get_u64be(v.data + 8));
    }
    ds_buf_free(&k), ds_buf_free(&v);
}

static int load_table(meta *m, const char *k, size_t kl, const char *v, size_t vl, char *err,
                      size_t errlen) {
    ds_arena *a = ds_arena_new(2048);
    json_value *j;
    char jerr[128];
    int rc = DS_ECORRUPT;
    const char *slash = memchr(k + 2, '/', kl - 2);
    if (!slash || json_parse(a, v, vl, 0, &j, jerr, sizeof jerr)) {
        snprintf(err, errlen, "table record %.*s is corrupt", (int)kl, k);
        goto out;
    }
    meta_tenant *t = dict_get(m->tenants, k + 2, (size_t)(slash - (k + 2)));
    if (!t) { /* left by a tenant drop that a crash interrupted: reclaimed after loading */
        ds_buf_append(&m->orphans, k, kl);
        ds_buf_putc(&m->orphans, 0);
        ds_buf_put_u64be(&m->orphans, (uint64_t)json_int(json_get(j, "id")));
        rc = DS_OK;
        goto out;
    }
    meta_table *tb = ds_calloc(1, sizeof *tb);
    tb->id = (uint64_t)json_int(json_get(j, "id"));
    tb->tenant = t;
    atomic_fetch_add(&t->refs, 1);
    snprintf(tb->name, sizeof tb->name, "%.*s", (int)(kl - (size_t)(slash + 1 - k)), slash + 1);
    tb->created_ms = json_int(json_get(j, "created"));
    const json_value *idt = json_get(j, "idType");
    for (int i = 0; i < 3; i++)
        if (idt && idt->type == JSON_STRING && !strcmp(idt->u.str.s, id_type_names[i]))
            tb->id_type = (meta_id_type)i;
    const json_value *pk = json_get(j, "pk"), *sk = json_get(j, "sk");
    tb->pk_type = key_type_parse(json_get(pk, "type"));
    const json_value *pkn = json_get(pk, "name");
    snprintf(tb->pk_name, sizeof tb->pk_name, "%s",
             pkn && pkn->type == JSON_STRING ? pkn->u.str.s : "id");
    if (sk && sk->type == JSON_OBJECT) {
        tb->sk_type = key_type_parse(json_get(sk, "type"));
        const json_value *skn = json_get(sk, "name");
        if (skn && skn->type == JSON_STRING)
            snprintf(tb->sk_name, sizeof tb->sk_name, "%s", skn->u.str.s);
    }
    const json_value *extra = json_get(j, "extra");
    if (extra && extra->type == JSON_OBJECT) {
        ds_buf eb = DS_BUF_INIT;
        json_write(&eb, extra);
        tb->extra = ds_buf_detach(&eb, NULL);
    }
    if (!tb->pk_type || tb->id == 0) {
        snprintf(err, errlen, "table record %.*s has no valid key schema", (int)kl, k);
        meta_table_release(tb);
        goto out;
    }
    atomic_init(&tb->refs, 1);
    load_stats(m, tb);
    t->ntables++;
    ds_buf key = DS_BUF_INIT;
    ds_buf_printf(&key, "%s/%s", t->name, tb->name);
    dict_set(m->tables, key.data, key.len, tb);
    ds_buf_free(&key);
    rc = DS_OK;
out:
    ds_arena_free(a);
    return rc;
}

/* Calls fn on every META record whose key starts with prefix. */
static int scan_prefix(meta *m, const char *prefix,
                       int (*fn)(meta *, const char *, size_t, const char *, size_t, char *, size_t),
                       char *err, size_t errlen) {
    size_t pl = strlen(prefix);
    char *upper = ds_strdup(prefix);
    upper[pl - 1]++;
    engine_iter *it = engine_iter_new(m->e, ENGINE_CF_META, prefix, pl, upper, pl);
    int rc = DS_OK;
    for (engine_iter_seek_first(it); rc == DS_OK && engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_key(it, &kl), *v = engine_iter_value(it, &vl);
        rc = fn(m, k, kl, v, vl, err, errlen);
    }
    if (rc == DS_OK) rc = engine_iter_status(it);
    engine_iter_free(it);
    ds_free(upper);
    return rc;
}

/* Drops the data and records of tables whose tenant is gone (a tenant drop
 * is: tenant record and keys first, then each table; a crash in between
 * leaves the tables behind, undecryptable). */
static void reclaim_orphans(meta *m) {
    const char *p = m->orphans.data, *end = p + m->orphans.len;
    while (p && p < end) {
        size_t kl = strlen(p);
        uint64_t id = ds_get_u64be(p + kl + 1);
        mutations mu = {.n = 0};
        ds_buf_append(mut_key(&mu), p, kl);
        mut_add(&mu, 1);
        meta_stats_key(mut_key(&mu), id);
        mut_add(&mu, 1);
        ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
        keycodec_table_bounds(&lo, &hi, id);
        int rc = engine_delete_range(m->e, ENGINE_CF_DATA, lo.data, lo.len, hi.data, hi.len);
        if (rc == DS_OK)
            rc = engine_delete_range(m->e, ENGINE_CF_INDEX, lo.data, lo.len, hi.data, hi.len);
        if (rc == DS_OK) rc = mut_commit(m, &mu, DS_OP_META, NULL);
        ds_info("reclaimed table %llu of a dropped tenant: %s", (unsigned long long)id,
                ds_strerror(rc));
        mut_free(&mu);
        ds_buf_free(&lo), ds_buf_free(&hi);
        p += kl + 1 + 8;
    }
    ds_buf_free(&m->orphans);
}

int meta_open(engine *e, replica *r, const uint8_t node_key[32], const char *node_uuid,
              const uint8_t control_key[32], meta **out, char *err, size_t errlen) {
    meta *m = ds_calloc(1, sizeof *m);
    m->e = e;
    m->r = r;
    pthread_rwlock_init(&m->lock, NULL);
    pthread_mutex_init(&m->change, NULL);
    m->tenants = dict_new();
    m->keys = dict_new();
    m->tables = dict_new();
    memcpy(m->node_key, node_key, 32);
    derive(m->control_key, control_key, 32, NULL, 0, "dstore/control-meta/v1");

    /* Knc: the node-per-control key, made by the control plane on first start. */
    mutations mu = {.n = 0};
    uint8_t knc[32], ikm[32];
    int rc = load_control_key(m, node_uuid, "ctl/node/", knc, 1, &mu);
    if (rc == DS_OK && mu.n) rc = mut_commit(m, &mu, DS_OP_META, NULL);
    mut_free(&mu);
    if (rc) {
        snprintf(err, errlen, "cannot read or create the node-per-control key: %s",
                 ds_strerror(rc));
        goto fail;
    }
    for (int i = 0; i < 32; i++) ikm[i] = node_key[i] ^ knc[i];
    derive(m->meta_key, ikm, 32, node_uuid, strlen(node_uuid), "dstore/node-meta/v1");
    memset(ikm, 0, sizeof ikm), memset(knc, 0, sizeof knc);

    ds_buf v = DS_BUF_INIT;
    m->next_table_id = 1;
    if (engine_get(e, ENGINE_CF_META, "n/table_id", 10, &v) == DS_OK && v.len == 8)
        m->next_table_id = ds_get_u64be(v.data);
    ds_buf_free(&v);
    if ((rc = scan_prefix(m, "t/", load_tenant, err, errlen))) goto fail;
    if ((rc = scan_prefix(m, "T/", load_table, err, errlen))) goto fail;
    reclaim_orphans(m);
    *out = m;
    return DS_OK;
fail:
    meta_close(m);
    return rc;
}

static int free_table_fn(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l, (void)ud;
    meta_table_release(v);
    return 0;
}

static int free_tenant_fn(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l, (void)ud;
    meta_tenant_release(v);
    return 0;
}

void meta_close(meta *m) {
    if (!m) return;
    dict_each(m->tables, free_table_fn, NULL);
    dict_each(m->tenants, free_tenant_fn, NULL);
    dict_free(m->tables);
    dict_free(m->tenants);
    dict_free(m->keys);
    pthread_rwlock_destroy(&m->lock);
    pthread_mutex_destroy(&m->change);
    memset(m, 0, sizeof *m);
    ds_free(m);
}

/* ---- tenants ----------------------------------------------------------- */
static void random_token(char *out, size_t n, const char *alphabet) {
    size_t al = strlen(alphabet);
    unsigned char r[128];
    crypto_random(r, n);
    for (size_t i = 0; i < n; i++) out[i] = alphabet[r[i] % al];
    out[n] = 0;
}

int meta_tenant_create(meta *m, const char *name, const char *access_key, const char *secret,
                       meta_tenant **out) {
    size_t nl = strlen(name);
    if (!meta_valid_tenant_name(name, nl)) return DS_EINVAL;
    if (access_key && (strlen(access_key) < 1 || strlen(access_key) >= 32)) return DS_EINVAL;
    if (secret && (strlen(secret) < 1 || strlen(secret) >= 64)) return DS_EINVAL;
    pthread_mutex_lock(&m->change);
    meta_tenant *t = ds_calloc(1, sizeof *t);
    mutations mu = {.n = 0};
    int rc = DS_EEXIST;
    memcpy(t->name, name, nl + 1);
    if (access_key) snprintf(t->access_key, sizeof t->access_key, "%s", access_key);
    else {
        memcpy(t->access_key, "DS", 2);
        random_token(t->access_key + 2, 18, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    }
    if (secret) snprintf(t->secret, sizeof t->secret, "%s", secret);
    else
        random_token(t->secret, 40,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    pthread_rwlock_rdlock(&m->lock);
    int taken = dict_get(m->tenants, name, nl) ||
                dict_get(m->keys, t->access_key, strlen(t->access_key));
    pthread_rwlock_unlock(&m->lock);
    if (taken) goto out;

    t->created_ms = ds_wall_ms();
    crypto_random(t->ktn, 32);
    uint8_t ktc[32];
    if ((rc = load_control_key(m, name, "ctl/tenant/", ktc, 1, &mu))) goto out;
    tenant_data_key(m, t, ktc);
    memset(ktc, 0, sizeof ktc);

    ds_buf js = DS_BUF_INIT;
    ds_buf_puts(&js, "{\"accessKeyId\":");
    json_write_string(&js, t->access_key, strlen(t->access_key));
    ds_buf_puts(&js, ",\"secret\":");
    json_write_string(&js, t->secret, strlen(t->secret));
    ds_buf_printf(&js, ",\"created\":%lld,\"ktn\":\"", (long long)t->created_ms);
    crypto_hex(&js, t->ktn, 32);
    ds_buf_puts(&js, "\"}");
    ds_buf *k = mut_key(&mu);
    tenant_key(k, name);
    rc = crypto_seal(&mu.vals[mu.n], m->meta_key, k->data, k->len, js.data, js.len);
    memset(js.data, 0, js.len);
    ds_buf_free(&js);
    if (rc) goto out;
    mut_add(&mu, 0);
    if ((rc = mut_commit(m, &mu, DS_OP_META, NULL))) goto out;

    atomic_init(&t->refs, 2); /* the dicts' and the caller's */
    pthread_rwlock_wrlock(&m->lock);
    dict_set(m->tenants, t->name, nl, t);
    dict_set(m->keys, t->access_key, strlen(t->access_key), t);
    pthread_rwlock_unlock(&m->lock);
    if (out) *out = t;
    else meta_tenant_release(t);
    t = NULL;
out:
    mut_free(&mu);
    if (t) memset(t, 0, sizeof *t), ds_free(t);
    pthread_mutex_unlock(&m->change);
    return rc;
}

static meta_tenant *tenant_lookup(meta *m, dict *d, const char *k, size_t len) {
    pthread_rwlock_rdlock(&m->lock);
    meta_tenant *t = dict_get(d, k, len);
    if (t) atomic_fetch_add(&t->refs, 1);
    pthread_rwlock_unlock(&m->lock);
    return t;
}

meta_tenant *meta_tenant_get(meta *m, const char *name, size_t len) {
    return tenant_lookup(m, m->tenants, name, len);
}

meta_tenant *meta_tenant_by_key(meta *m, const char *access_key, size_t len) {
    return tenant_lookup(m, m->keys, access_key, len);
}

typedef struct tenant_vec {
    meta_tenant **v;
    size_t n, cap;
} tenant_vec;

static int collect_tenant(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l;
    tenant_vec *tv = ud;
    if (tv->n == tv->cap) {
        tv->cap = tv->cap ? tv->cap * 2 : 16;
        tv->v = ds_realloc(tv->v, tv->cap * sizeof *tv->v);
    }
    meta_tenant *t = v;
    atomic_fetch_add(&t->refs, 1);
    tv->v[tv->n++] = t;
    return 0;
}

static int cmp_tenant(const void *a, const void *b) {
    return strcmp((*(meta_tenant *const *)a)->name, (*(meta_tenant *const *)b)->name);
}

void meta_tenant_list(meta *m, int (*fn)(const meta_tenant *t, void *ud), void *ud) {
    tenant_vec tv = {0};
    pthread_rwlock_rdlock(&m->lock);
    dict_each(m->tenants, collect_tenant, &tv);
    pthread_rwlock_unlock(&m->lock);
    qsort(tv.v, tv.n, sizeof *tv.v, cmp_tenant);
    int stop = 0;
    for (size_t i = 0; i < tv.n; i++) {
        if (!stop) stop = fn(tv.v[i], ud);
        meta_tenant_release(tv.v[i]);
    }
    ds_free(tv.v);
}

size_t meta_tenant_table_count(meta *m, const meta_tenant *t) {
    pthread_rwlock_rdlock(&m->lock);
    size_t n = t->ntables;
    pthread_rwlock_unlock(&m->lock);
    return n;
}

/* ---- tables ------------------------------------------------------------ */
static void table_dict_key(ds_buf *k, const meta_tenant *t, const char *name, size_t len) {
    ds_buf_printf(k, "%s/%.*s", t->name, (int)len, name);
}

/* The JSON value of a table's T/ record. */
static void table_record(ds_buf *v, const meta_table *tb, const char *extra) {
    ds_buf_printf(v, "{\"id\":%llu,\"created\":%lld,\"idType\":\"%s\",\"pk\":{\"name\":",
                  (unsigned long long)tb->id, (long long)tb->created_ms,
                  id_type_names[tb->id_type]);
    json_write_string(v, tb->pk_name, strlen(tb->pk_name));
    ds_buf_printf(v, ",\"type\":\"%s\"},\"sk\":", key_type_name(tb->pk_type));
    if (tb->sk_type) {
        ds_buf_puts(v, "{\"name\":");
        json_write_string(v, tb->sk_name, strlen(tb->sk_name));
        ds_buf_printf(v, ",\"type\":\"%s\"}", key_type_name(tb->sk_type));
    } else
        ds_buf_puts(v, "null");
    ds_buf_printf(v, ",\"extra\":%s}", extra ? extra : "{}");
}

void meta_table_extra(meta *m, const meta_table *tb, ds_buf *out) {
    pthread_rwlock_rdlock(&m->lock);
    ds_buf_puts(out, tb->extra ? tb->extra : "{}");
    pthread_rwlock_unlock(&m->lock);
}

int meta_table_set_extra(meta *m, meta_table *tb, const char *extra, size_t len) {
    pthread_mutex_lock(&m->change);
    int rc = DS_ENOTFOUND;
    mutations mu = {.n = 0};
    if (atomic_load(&tb->dropped)) goto out;
    char *nw = ds_strndup(extra, len);
    table_key(mut_key(&mu), tb->tenant->name, tb->name);
    table_record(&mu.vals[mu.n], tb, nw);
    mut_add(&mu, 0);
    rc = mut_commit(m, &mu, DS_OP_META, NULL);
    pthread_rwlock_wrlock(&m->lock);
    if (rc == DS_OK) {
        char *old = tb->extra;
        tb->extra = nw;
        nw = old;
    }
    pthread_rwlock_unlock(&m->lock);
    ds_free(nw);
out:
    mut_free(&mu);
    pthread_mutex_unlock(&m->change);
    return rc;
}

meta_table *meta_table_get(meta *m, const meta_tenant *t, const char *name, size_t len) {
    char stack[META_TENANT_MAX + META_NAME_MAX + 2];
    if (len > META_NAME_MAX) return NULL;
    size_t tl = strlen(t->name);
    memcpy(stack, t->name, tl);
    stack[tl] = '/';
    memcpy(stack + tl + 1, name, len);
    pthread_rwlock_rdlock(&m->lock);
    meta_table *tb = dict_get(m->tables, stack, tl + 1 + len);
    if (tb) atomic_fetch_add(&tb->refs, 1);
    pthread_rwlock_unlock(&m->lock);
    return tb;
}

int meta_table_create(meta *m, meta_tenant *t, const char *name, size_t len,
                      const meta_table_spec *spec, meta_table **out) {
    if (!meta_valid_table_name(name, len)) return DS_EINVAL;
    key_type pk_type = spec->pk_type ? spec->pk_type
                       : spec->id_type == META_ID_INTEGER ? KEY_N
                       : spec->id_type == META_ID_BYTES   ? KEY_B
                                                          : KEY_S;
    pthread_mutex_lock(&m->change);
    int rc = DS_EEXIST;
    mutations mu = {.n = 0};
    meta_table *tb = NULL;
    if (atomic_load(&t->dropped)) {
        rc = DS_ENOTFOUND;
        goto out;
    }
    meta_table *old = meta_table_get(m, t, name, len);
    if (old) {
        meta_table_release(old);
        goto out;
    }
    tb = ds_calloc(1, sizeof *tb);
    pthread_rwlock_wrlock(&m->lock);
    tb->id = m->next_table_id;
    pthread_rwlock_unlock(&m->lock);
    tb->tenant = t;
    atomic_fetch_add(&t->refs, 1);
    memcpy(tb->name, name, len);
    tb->id_type = spec->id_type;
    tb->pk_type = pk_type;
    snprintf(tb->pk_name, sizeof tb->pk_name, "%s", spec->pk_name ? spec->pk_name : "id");
    if (spec->sk_name) {
        tb->sk_type = spec->sk_type ? spec->sk_type : KEY_S;
        snprintf(tb->sk_name, sizeof tb->sk_name, "%s", spec->sk_name);
    }
    tb->created_ms = ds_wall_ms();
    atomic_init(&tb->refs, 1);

    tb->extra = spec->extra ? ds_strdup(spec->extra) : NULL;
    ds_buf *k = mut_key(&mu);
    table_key(k, t->name, tb->name);
    table_record(&mu.vals[mu.n], tb, tb->extra);
    mut_add(&mu, 0);
    k = mut_key(&mu);
    ds_buf_puts(k, "n/table_id");
    ds_buf_put_u64be(&mu.vals[mu.n], tb->id + 1);
    mut_add(&mu, 0);
    if ((rc = mut_commit(m, &mu, DS_OP_META, NULL))) goto out;

    pthread_rwlock_wrlock(&m->lock);
    m->next_table_id = tb->id + 1;
    ds_buf dk = DS_BUF_INIT;
    table_dict_key(&dk, t, name, len);
    dict_set(m->tables, dk.data, dk.len, tb);
    t->ntables++;
    pthread_rwlock_unlock(&m->lock);
    ds_buf_free(&dk);
    if (out) meta_table_retain(tb), *out = tb;
    tb = NULL;
out:
    mut_free(&mu);
    if (tb) meta_table_release(tb);
    pthread_mutex_unlock(&m->change);
    return rc;
}

typedef struct list_ctx {
    meta *m;
    const meta_tenant *t;
    size_t limit, seen;
    int more;
    void (*fn)(const meta_table *tb, void *ud);
    void *ud;
} list_ctx;

int meta_table_list(meta *m, const meta_tenant *t, const char *after, size_t after_len,
                    size_t limit, void (*fn)(const meta_table *tb, void *ud), void *ud) {
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    ds_buf_printf(&lo, "T/%s/", t->name);
    size_t plen = lo.len;
    ds_buf_append(&hi, lo.data, lo.len);
    hi.data[hi.len - 1]++; /* '/' + 1 */
    engine_iter *it = engine_iter_new(m->e, ENGINE_CF_META, lo.data, lo.len, hi.data, hi.len);
    if (after && after_len) {
        ds_buf_append(&lo, after, after_len);
        ds_buf_putc(&lo, 0); /* strictly after */
        engine_iter_seek(it, lo.data, lo.len);
    } else
        engine_iter_seek_first(it);
    size_t n = 0;
    int more = 0;
    for (; engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl;
        const char *k = engine_iter_key(it, &kl);
        meta_table *tb = meta_table_get(m, t, k + plen, kl - plen);
        if (!tb) continue; /* being dropped */
        if (n == limit) {
            more = 1;
            meta_table_release(tb);
            break;
        }
        fn(tb, ud);
        meta_table_release(tb);
        n++;
    }
    engine_iter_free(it);
    ds_buf_free(&lo), ds_buf_free(&hi);
    return more;
}

/* Removes tb from the maps and drops its data; the caller holds m->change. */
static int drop_table_locked(meta *m, meta_table *tb) {
    mutations mu = {.n = 0};
    atomic_store(&tb->dropped, 1);
    pthread_rwlock_wrlock(&m->lock);
    ds_buf dk = DS_BUF_INIT;
    table_dict_key(&dk, tb->tenant, tb->name, strlen(tb->name));
    meta_table *in_dict = dict_del(m->tables, dk.data, dk.len);
    tb->tenant->ntables--;
    pthread_rwlock_unlock(&m->lock);
    ds_buf_free(&dk);
    table_key(mut_key(&mu), tb->tenant->name, tb->name);
    mut_add(&mu, 1);
    meta_stats_key(mut_key(&mu), tb->id);
    mut_add(&mu, 1);
    int rc = mut_commit(m, &mu, DS_OP_DROP_TABLE, tb);
    mut_free(&mu);
    if (in_dict) meta_table_release(in_dict);
    return rc;
}

int meta_table_drop(meta *m, meta_tenant *t, const char *name, size_t len) {
    pthread_mutex_lock(&m->change);
    meta_table *tb = meta_table_get(m, t, name, len);
    int rc = DS_ENOTFOUND;
    if (tb) {
        rc = drop_table_locked(m, tb);
        meta_table_release(tb);
    }
    pthread_mutex_unlock(&m->change);
    return rc;
}

typedef struct tables_of {
    const meta_tenant *t;
    meta_table **v;
    size_t n, cap;
} tables_of;

static int collect_tables_of(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l;
    tables_of *to = ud;
    meta_table *tb = v;
    if (tb->tenant != to->t) return 0;
    if (to->n == to->cap) {
        to->cap = to->cap ? to->cap * 2 : 16;
        to->v = ds_realloc(to->v, to->cap * sizeof *to->v);
    }
    meta_table_retain(tb);
    to->v[to->n++] = tb;
    return 0;
}

int meta_tenant_drop(meta *m, const char *name, size_t len) {
    pthread_mutex_lock(&m->change);
    meta_tenant *t = meta_tenant_get(m, name, len);
    int rc = DS_ENOTFOUND;
    if (!t) goto out;
    atomic_store(&t->dropped, 1);
    /* The tenant vanishes from lookups first, then its keys, then its tables:
     * once the keys are gone its data cannot be decrypted even before the
     * range deletes and compactions have run. */
    pthread_rwlock_wrlock(&m->lock);
    dict_del(m->tenants, t->name, strlen(t->name));
    dict_del(m->keys, t->access_key, strlen(t->access_key));
    tables_of to = {t, NULL, 0, 0};
    dict_each(m->tables, collect_tables_of, &to);
    pthread_rwlock_unlock(&m->lock);
    mutations mu = {.n = 0};
    tenant_key(mut_key(&mu), t->name);
    mut_add(&mu, 1);
    ctl_tenant_key(mut_key(&mu), t->name);
    mut_add(&mu, 1);
    rc = mut_commit(m, &mu, DS_OP_META, NULL);
    mut_free(&mu);
    for (size_t i = 0; rc == DS_OK && i < to.n; i++) rc = drop_table_locked(m, to.v[i]);
    for (size_t i = 0; i < to.n; i++) meta_table_release(to.v[i]);
    ds_free(to.v);
    meta_tenant_release(t); /* the dicts' reference */
    meta_tenant_release(t); /* ours */
out:
    pthread_mutex_unlock(&m->change);
    return rc;
}
