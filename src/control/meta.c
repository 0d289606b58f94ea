/* meta.c -- tenants, tables, credentials and the key hierarchy (see meta.h
 * for the layouts and the key derivations).
 *
 * This file holds what both backends share -- validation, building and
 * parsing records, the in-memory maps, lookups and listings -- and the serve
 * backend (records in the META column family, committed through the replica).
 * The etcd backend is meta_etcd.c; meta_int.h says how the two divide the
 * work. Each public mutation validates its arguments here, then either runs
 * the serve path below or hands over to meta__etcd_*.
 */
#include "control/meta.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "control/meta_int.h"
#include "crypto/crypto.h"

/* ---- helpers ----------------------------------------------------------- */
void meta__derive(uint8_t out[32], const void *ikm, size_t ikmlen, const void *salt,
                  size_t saltlen, const char *info) {
    crypto_hkdf_sha256(salt, saltlen, ikm, ikmlen, info, strlen(info), out, 32);
}

void meta__tenant_data_key(meta *m, meta_tenant *t, const uint8_t ktc[32]) {
    uint8_t ikm[96];
    memcpy(ikm, m->node_key, 32);
    memcpy(ikm + 32, t->ktn, 32);
    memcpy(ikm + 64, ktc, 32);
    meta__derive(t->data_key, ikm, sizeof ikm, t->name, strlen(t->name), "dstore/tenant-data/v1");
    crypto_wipe(ikm, sizeof ikm);
}

meta__mut *meta__mut_new(meta__muts *mu, int is_delete) {
    if (mu->n == mu->cap) {
        mu->cap = mu->cap ? mu->cap * 2 : 8;
        mu->v = ds_realloc(mu->v, mu->cap * sizeof *mu->v);
    }
    meta__mut *x = &mu->v[mu->n++];
    ds_buf_init(&x->key);
    ds_buf_init(&x->val);
    x->is_delete = is_delete;
    return x;
}

void meta__muts_free(meta__muts *mu) {
    for (size_t i = 0; i < mu->n; i++) ds_buf_free(&mu->v[i].key), ds_buf_free(&mu->v[i].val);
    ds_free(mu->v);
    memset(mu, 0, sizeof *mu);
}

/* ---- ops through the replica -------------------------------------------- */
/* One op carrying META mutations; on the heap when nobody waits for it. */
typedef struct meta_job {
    ds_op op;
    meta__muts mu;     /* owned only by a heap job */
    ds_meta_put *puts;
    pthread_mutex_t mu_lock;
    pthread_cond_t cv;
    int done;
} meta_job;

static void job_init(meta_job *j, ds_op_kind kind, meta_table *tb, const meta__muts *mu) {
    ds_op_init(&j->op, kind, NULL);
    j->puts = ds_calloc(mu->n ? mu->n : 1, sizeof *j->puts);
    for (size_t i = 0; i < mu->n; i++) {
        const meta__mut *x = &mu->v[i];
        j->puts[i] = (ds_meta_put){ENGINE_CF_META, {x->key.data, x->key.len},
                                   {x->val.data, x->val.len}, x->is_delete};
    }
    j->op.meta = j->puts;
    j->op.nmeta = mu->n;
    j->op.table = tb;
    j->op.done_arg = j;
}

static void job_signal(ds_op *op) {
    meta_job *j = op->done_arg;
    pthread_mutex_lock(&j->mu_lock);
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu_lock);
}

static void job_free(ds_op *op) { /* on the writer thread */
    meta_job *j = op->done_arg;
    if (op->status) ds_warn("dropping the data of table %llu: %s",
                            (unsigned long long)op->table->id, ds_strerror(op->status));
    meta_table_release(op->table);
    ds_op_release(op);
    meta__muts_free(&j->mu);
    ds_free(j->puts);
    ds_free(j);
}

/* Commits mu as one op of kind (tb: DROP_TABLE's table) and waits until it
 * is durable or failed; returns its status. */
static int mut_commit(meta *m, const meta__muts *mu, ds_op_kind kind, meta_table *tb) {
    meta_job j = {.mu_lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    job_init(&j, kind, tb, mu);
    j.op.done = job_signal;
    replica_submit(m->r, &j.op);
    pthread_mutex_lock(&j.mu_lock);
    while (!j.done) pthread_cond_wait(&j.cv, &j.mu_lock);
    pthread_mutex_unlock(&j.mu_lock);
    int rc = j.op.status;
    ds_op_release(&j.op);
    ds_free(j.puts);
    return rc;
}

int meta__drop_data(meta *m, meta_table *tb, meta__muts *mu, int wait) {
    if (!m->r) return DS_OK;
    if (wait) return mut_commit(m, mu, DS_OP_DROP_TABLE, tb);
    meta_job *j = ds_calloc(1, sizeof *j);
    j->mu = *mu;
    memset(mu, 0, sizeof *mu);
    meta_table_retain(tb);
    job_init(j, DS_OP_DROP_TABLE, tb, &j->mu);
    j->op.done = job_free;
    replica_submit(m->r, &j->op);
    return DS_OK;
}

/* ---- names and keys ------------------------------------------------------ */
void meta__tenant_key(ds_buf *k, const char *name) { ds_buf_printf(k, "t/%s", name); }
void meta__ctl_tenant_key(ds_buf *k, const char *name) { ds_buf_printf(k, "ctl/tenant/%s", name); }
void meta__table_key(ds_buf *k, const char *tenant, const char *name) {
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
        crypto_wipe(t->data_key, sizeof t->data_key);
        crypto_wipe(t->ktn, sizeof t->ktn);
        crypto_wipe(t->secret, sizeof t->secret);
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

/* ---- records ------------------------------------------------------------ */
int meta__tenant_record(meta *m, const meta_tenant *t, const ds_buf *k, ds_buf *out) {
    ds_buf js = DS_BUF_INIT;
    ds_buf_puts(&js, "{\"accessKeyId\":");
    json_write_string(&js, t->access_key, strlen(t->access_key));
    ds_buf_puts(&js, ",\"secret\":");
    json_write_string(&js, t->secret, strlen(t->secret));
    ds_buf_printf(&js, ",\"created\":%lld,\"ktn\":\"", (long long)t->created_ms);
    crypto_hex(&js, t->ktn, 32);
    ds_buf_puts(&js, "\"}");
    int rc = crypto_seal(out, m->meta_key, k->data, k->len, js.data, js.len);
    crypto_wipe(js.data, js.len);
    ds_buf_free(&js);
    return rc;
}

int meta__tenant_parse(meta *m, const char *k, size_t kl, const char *v, size_t vl,
                       const uint8_t ktc[32], meta_tenant **out, char *err, size_t errlen) {
    ds_buf pt = DS_BUF_INIT;
    ds_arena *a = ds_arena_new(4096);
    meta_tenant *t = NULL;
    json_value *j;
    char jerr[128];
    int rc = DS_ECORRUPT;
    if (kl < 3 || kl - 2 > META_TENANT_MAX) {
        snprintf(err, errlen, "tenant record %.*s has a bad name", (int)kl, k);
        goto out;
    }
    rc = crypto_open(&pt, m->meta_key, k, kl, v, vl);
    if (rc) {
        snprintf(err, errlen, "tenant record %.*s does not open with %s: %s", (int)kl, k,
                 m->ec ? "the cluster key" : "this node's keys", ds_strerror(rc));
        goto out;
    }
    rc = json_parse(a, pt.data, pt.len, 0, &j, jerr, sizeof jerr);
    if (rc) {
        snprintf(err, errlen, "tenant record %.*s is corrupt: %s", (int)kl, k, jerr);
        rc = DS_ECORRUPT;
        goto out;
    }
    t = ds_calloc(1, sizeof *t);
    memcpy(t->name, k + 2, kl - 2);
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
    meta__tenant_data_key(m, t, ktc);
    atomic_init(&t->refs, 1);
    *out = t;
    t = NULL;
    rc = DS_OK;
out:
    if (pt.data) crypto_wipe(pt.data, pt.len);
    ds_buf_free(&pt);
    if (t) crypto_wipe(t, sizeof *t), ds_free(t);
    ds_arena_free(a);
    return rc;
}

/* The JSON value of a table's T/ record. */
void meta__table_record(ds_buf *v, const meta_table *tb, const char *extra) {
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
    ds_buf_printf(v, ",\"extra\":%s%s}", extra ? extra : "{}",
                  tb->async_default ? ",\"replication\":\"async\"" : "");
}

int meta__table_parse(const char *k, size_t kl, const char *v, size_t vl, meta_tenant *t,
                      meta_table **out, char *err, size_t errlen) {
    ds_arena *a = ds_arena_new(2048);
    json_value *j;
    char jerr[128];
    int rc = DS_ECORRUPT;
    const char *slash = kl > 2 ? memchr(k + 2, '/', kl - 2) : NULL;
    size_t nl = slash ? kl - (size_t)(slash + 1 - k) : 0;
    if (!slash || nl == 0 || nl > META_NAME_MAX || json_parse(a, v, vl, 0, &j, jerr, sizeof jerr)) {
        snprintf(err, errlen, "table record %.*s is corrupt", (int)kl, k);
        goto out;
    }
    meta_table *tb = ds_calloc(1, sizeof *tb);
    atomic_init(&tb->refs, 1);
    tb->id = (uint64_t)json_int(json_get(j, "id"));
    tb->tenant = t;
    atomic_fetch_add(&t->refs, 1);
    memcpy(tb->name, slash + 1, nl);
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
    const json_value *repl = json_get(j, "replication");
    tb->async_default = repl && repl->type == JSON_STRING && !strcmp(repl->u.str.s, "async");
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
    *out = tb;
    rc = DS_OK;
out:
    ds_arena_free(a);
    return rc;
}

void meta__load_stats(meta *m, meta_table *tb) {
    if (!m->e) return;
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    meta_stats_key(&k, tb->id);
    if (engine_get(m->e, ENGINE_CF_META, k.data, k.len, &v) == DS_OK && v.len == 16) {
        atomic_store(&tb->item_count, (int64_t)ds_get_u64be(v.data));
        atomic_store(&tb->size_bytes, (int64_t)ds_get_u64be(v.data + 8));
    }
    ds_buf_free(&k), ds_buf_free(&v);
}

/* ---- the maps ----------------------------------------------------------- */
static void table_dict_key(ds_buf *k, const meta_tenant *t, const char *name, size_t len) {
    ds_buf_printf(k, "%s/%.*s", t->name, (int)len, name);
}

void meta__index_tenant(meta *m, meta_tenant *t) {
    dict_set(m->tenants, t->name, strlen(t->name), t);
    dict_set(m->keys, t->access_key, strlen(t->access_key), t);
}

int meta__unindex_tenant(meta *m, meta_tenant *t) {
    int in_maps = dict_get(m->tenants, t->name, strlen(t->name)) == t;
    if (in_maps) dict_del(m->tenants, t->name, strlen(t->name));
    if (dict_get(m->keys, t->access_key, strlen(t->access_key)) == t)
        dict_del(m->keys, t->access_key, strlen(t->access_key));
    return in_maps;
}

void meta__index_table(meta *m, meta_table *tb) {
    ds_buf dk = DS_BUF_INIT;
    unsigned char idk[8];
    table_dict_key(&dk, tb->tenant, tb->name, strlen(tb->name));
    ds_put_u64be(idk, tb->id);
    dict_set(m->tables, dk.data, dk.len, tb);
    dict_set(m->by_id, idk, 8, tb);
    tb->tenant->ntables++;
    ds_buf_free(&dk);
}

int meta__unindex_table(meta *m, meta_table *tb) {
    ds_buf dk = DS_BUF_INIT;
    unsigned char idk[8];
    table_dict_key(&dk, tb->tenant, tb->name, strlen(tb->name));
    ds_put_u64be(idk, tb->id);
    int in_maps = dict_get(m->tables, dk.data, dk.len) == tb;
    if (in_maps) {
        dict_del(m->tables, dk.data, dk.len);
        tb->tenant->ntables--;
    }
    if (dict_get(m->by_id, idk, 8) == tb) dict_del(m->by_id, idk, 8);
    ds_buf_free(&dk);
    return in_maps;
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
    if (to->t && tb->tenant != to->t) return 0;
    if (to->n == to->cap) {
        to->cap = to->cap ? to->cap * 2 : 16;
        to->v = ds_realloc(to->v, to->cap * sizeof *to->v);
    }
    meta_table_retain(tb);
    to->v[to->n++] = tb;
    return 0;
}

void meta__tables_of(meta *m, const meta_tenant *t, meta_table ***v, size_t *n) {
    tables_of to = {t, NULL, 0, 0};
    dict_each(m->tables, collect_tables_of, &to);
    *v = to.v;
    *n = to.n;
}

void meta__tables_added(meta *m) {
    pthread_mutex_lock(&m->wait_mu);
    pthread_cond_broadcast(&m->wait_cv);
    pthread_mutex_unlock(&m->wait_mu);
}

/* ---- the serve backend: loading from the META column family ------------- */
static int load_control_key(meta *m, const char *name, const char *prefix, uint8_t out[32],
                            int create, meta__muts *mu) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT, pt = DS_BUF_INIT;
    ds_buf_printf(&k, "%s%s", prefix, name);
    int rc = engine_get(m->e, ENGINE_CF_META, k.data, k.len, &v);
    if (rc == DS_OK) {
        rc = crypto_open(&pt, m->control_key, k.data, k.len, v.data, v.len);
        if (rc == DS_OK && pt.len != 32) rc = DS_ECORRUPT;
        if (rc == DS_OK) memcpy(out, pt.data, 32);
    } else if (rc == DS_ENOTFOUND && create) {
        crypto_random(out, 32);
        meta__mut *x = meta__mut_new(mu, 0);
        ds_buf_append(&x->key, k.data, k.len);
        rc = crypto_seal(&x->val, m->control_key, k.data, k.len, out, 32);
    }
    if (pt.data) crypto_wipe(pt.data, pt.len);
    ds_buf_free(&k), ds_buf_free(&v), ds_buf_free(&pt);
    return rc;
}

static int load_tenant(meta *m, const char *k, size_t kl, const char *v, size_t vl, char *err,
                       size_t errlen) {
    char name[META_TENANT_MAX + 1];
    uint8_t ktc[32];
    meta_tenant *t;
    snprintf(name, sizeof name, "%.*s", (int)(kl - 2), k + 2);
    int rc = load_control_key(m, name, "ctl/tenant/", ktc, 0, NULL);
    if (rc) {
        snprintf(err, errlen, "tenant %s: its control-plane key is unreadable: %s", name,
                 ds_strerror(rc));
        return rc;
    }
    rc = meta__tenant_parse(m, k, kl, v, vl, ktc, &t, err, errlen);
    crypto_wipe(ktc, sizeof ktc);
    if (rc == DS_OK) meta__index_tenant(m, t);
    return rc;
}

static int load_table(meta *m, const char *k, size_t kl, const char *v, size_t vl, char *err,
                      size_t errlen) {
    const char *slash = memchr(k + 2, '/', kl - 2);
    meta_table *tb;
    if (!slash) {
        snprintf(err, errlen, "table record %.*s is corrupt", (int)kl, k);
        return DS_ECORRUPT;
    }
    meta_tenant *t = dict_get(m->tenants, k + 2, (size_t)(slash - (k + 2)));
    if (!t) { /* left by a tenant drop that a crash interrupted: reclaimed after loading */
        ds_arena *a = ds_arena_new(1024);
        json_value *j;
        char jerr[64];
        int rc = json_parse(a, v, vl, 0, &j, jerr, sizeof jerr);
        if (rc == DS_OK) {
            ds_buf_append(&m->orphans, k, kl);
            ds_buf_putc(&m->orphans, 0);
            ds_buf_put_u64be(&m->orphans, (uint64_t)json_int(json_get(j, "id")));
        } else
            snprintf(err, errlen, "table record %.*s is corrupt", (int)kl, k);
        ds_arena_free(a);
        return rc ? DS_ECORRUPT : DS_OK;
    }
    int rc = meta__table_parse(k, kl, v, vl, t, &tb, err, errlen);
    if (rc) return rc;
    meta__load_stats(m, tb);
    meta__index_table(m, tb);
    return DS_OK;
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
        meta__muts mu = {0};
        ds_buf_append(&meta__mut_new(&mu, 1)->key, p, kl);
        meta_stats_key(&meta__mut_new(&mu, 1)->key, id);
        ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
        keycodec_table_bounds(&lo, &hi, id);
        int rc = engine_delete_range(m->e, ENGINE_CF_DATA, lo.data, lo.len, hi.data, hi.len);
        if (rc == DS_OK)
            rc = engine_delete_range(m->e, ENGINE_CF_INDEX, lo.data, lo.len, hi.data, hi.len);
        if (rc == DS_OK) rc = mut_commit(m, &mu, DS_OP_META, NULL);
        ds_info("reclaimed table %llu of a dropped tenant: %s", (unsigned long long)id,
                ds_strerror(rc));
        meta__muts_free(&mu);
        ds_buf_free(&lo), ds_buf_free(&hi);
        p += kl + 1 + 8;
    }
    ds_buf_free(&m->orphans);
}

/* ---- opening and closing ------------------------------------------------ */
static meta *meta_new(engine *e, replica *r, etcd *ec, const uint8_t node_key[32]) {
    meta *m = ds_calloc(1, sizeof *m);
    m->e = e;
    m->r = r;
    m->ec = ec;
    pthread_rwlock_init(&m->lock, NULL);
    pthread_mutex_init(&m->change, NULL);
    pthread_mutex_init(&m->wait_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    m->tenants = dict_new();
    m->keys = dict_new();
    m->tables = dict_new();
    m->by_id = dict_new();
    m->next_table_id = 1;
    memcpy(m->node_key, node_key, 32);
    return m;
}

int meta_open(engine *e, replica *r, const uint8_t node_key[32], const char *node_uuid,
              const uint8_t control_key[32], meta **out, char *err, size_t errlen) {
    meta *m = meta_new(e, r, NULL, node_key);
    meta__derive(m->control_key, control_key, 32, NULL, 0, "dstore/control-meta/v1");

    /* Knc: the node-per-control key, made by the control plane on first start. */
    meta__muts mu = {0};
    uint8_t knc[32], ikm[32];
    int rc = load_control_key(m, node_uuid, "ctl/node/", knc, 1, &mu);
    if (rc == DS_OK && mu.n) rc = mut_commit(m, &mu, DS_OP_META, NULL);
    meta__muts_free(&mu);
    if (rc) {
        snprintf(err, errlen, "cannot read or create the node-per-control key: %s",
                 ds_strerror(rc));
        goto fail;
    }
    for (int i = 0; i < 32; i++) ikm[i] = node_key[i] ^ knc[i];
    meta__derive(m->meta_key, ikm, 32, node_uuid, strlen(node_uuid), "dstore/node-meta/v1");
    crypto_wipe(ikm, sizeof ikm), crypto_wipe(knc, sizeof knc);

    ds_buf v = DS_BUF_INIT;
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

int meta_open_etcd(etcd *ec, engine *e, replica *r, const uint8_t node_key[32],
                   const uint8_t cluster_key[32], meta **out, char *err, size_t errlen) {
    meta *m = meta_new(e, r, ec, node_key);
    meta__derive(m->control_key, cluster_key, 32, NULL, 0, "dstore/control-meta/v1");
    meta__derive(m->meta_key, cluster_key, 32, NULL, 0, "dstore/cluster-meta/v1");
    int rc = meta__etcd_start(m, err, errlen);
    if (rc) {
        meta_close(m);
        return rc;
    }
    *out = m;
    return DS_OK;
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
    if (m->ec) meta__etcd_stop(m); /* first: nothing changes the maps afterwards */
    dict_each(m->tables, free_table_fn, NULL);
    dict_each(m->tenants, free_tenant_fn, NULL);
    dict_free(m->tables);
    dict_free(m->by_id);
    dict_free(m->tenants);
    dict_free(m->keys);
    ds_buf_free(&m->orphans);
    pthread_rwlock_destroy(&m->lock);
    pthread_mutex_destroy(&m->change);
    pthread_mutex_destroy(&m->wait_mu);
    pthread_cond_destroy(&m->wait_cv);
    crypto_wipe(m, sizeof *m);
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

/* The serve backend's part of meta_tenant_create: takes ownership of t. */
static int serve_tenant_create(meta *m, meta_tenant *t, meta_tenant **out) {
    meta__muts mu = {0};
    uint8_t ktc[32];
    pthread_rwlock_rdlock(&m->lock);
    int rc = dict_get(m->tenants, t->name, strlen(t->name)) ||
                     dict_get(m->keys, t->access_key, strlen(t->access_key))
                 ? DS_EEXIST
                 : DS_OK;
    pthread_rwlock_unlock(&m->lock);
    if (rc) goto out;
    if ((rc = load_control_key(m, t->name, "ctl/tenant/", ktc, 1, &mu))) goto out;
    meta__tenant_data_key(m, t, ktc);
    crypto_wipe(ktc, sizeof ktc);
    meta__mut *x = meta__mut_new(&mu, 0);
    meta__tenant_key(&x->key, t->name);
    if ((rc = meta__tenant_record(m, t, &x->key, &x->val))) goto out;
    if ((rc = mut_commit(m, &mu, DS_OP_META, NULL))) goto out;

    atomic_init(&t->refs, 2); /* the maps' and the caller's */
    pthread_rwlock_wrlock(&m->lock);
    meta__index_tenant(m, t);
    pthread_rwlock_unlock(&m->lock);
    if (out) *out = t;
    else meta_tenant_release(t);
    t = NULL;
out:
    meta__muts_free(&mu);
    if (t) crypto_wipe(t, sizeof *t), ds_free(t);
    return rc;
}

int meta_tenant_create(meta *m, const char *name, const char *access_key, const char *secret,
                       meta_tenant **out) {
    size_t nl = strlen(name);
    if (!meta_valid_tenant_name(name, nl)) return DS_EINVAL;
    if (access_key && (strlen(access_key) < 1 || strlen(access_key) >= 32)) return DS_EINVAL;
    if (secret && (strlen(secret) < 1 || strlen(secret) >= 64)) return DS_EINVAL;
    meta_tenant *t = ds_calloc(1, sizeof *t);
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
    t->created_ms = ds_wall_ms();
    crypto_random(t->ktn, 32);
    pthread_mutex_lock(&m->change);
    int rc = m->ec ? meta__etcd_tenant_create(m, t, out) : serve_tenant_create(m, t, out);
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
    if (tv.n) qsort(tv.v, tv.n, sizeof *tv.v, cmp_tenant);
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
void meta_table_extra(meta *m, const meta_table *tb, ds_buf *out) {
    pthread_rwlock_rdlock(&m->lock);
    ds_buf_puts(out, tb->extra ? tb->extra : "{}");
    pthread_rwlock_unlock(&m->lock);
}

static int serve_set_extra(meta *m, meta_table *tb, const char *nw) {
    meta__muts mu = {0};
    meta__mut *x = meta__mut_new(&mu, 0);
    meta__table_key(&x->key, tb->tenant->name, tb->name);
    meta__table_record(&x->val, tb, nw);
    int rc = mut_commit(m, &mu, DS_OP_META, NULL);
    meta__muts_free(&mu);
    if (rc == DS_OK) {
        pthread_rwlock_wrlock(&m->lock);
        char *old = tb->extra;
        tb->extra = ds_strdup(nw);
        pthread_rwlock_unlock(&m->lock);
        ds_free(old);
    }
    return rc;
}

int meta_table_set_extra(meta *m, meta_table *tb, const char *extra, size_t len) {
    char *nw = ds_strndup(extra, len);
    pthread_mutex_lock(&m->change);
    int rc = DS_ENOTFOUND;
    if (!atomic_load(&tb->dropped))
        rc = m->ec ? meta__etcd_set_extra(m, tb, nw) : serve_set_extra(m, tb, nw);
    pthread_mutex_unlock(&m->change);
    ds_free(nw);
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

meta_table *meta_table_by_id(meta *m, uint64_t id) {
    unsigned char k[8];
    ds_put_u64be(k, id);
    pthread_rwlock_rdlock(&m->lock);
    meta_table *tb = dict_get(m->by_id, k, 8);
    if (tb) atomic_fetch_add(&tb->refs, 1);
    pthread_rwlock_unlock(&m->lock);
    return tb;
}

meta_table *meta_table_wait_id(meta *m, uint64_t id, int timeout_ms) {
    struct timespec until;
    ds_deadline(&until, CLOCK_MONOTONIC, timeout_ms);
    meta_table *tb;
    pthread_mutex_lock(&m->wait_mu);
    for (;;) {
        tb = meta_table_by_id(m, id);
        if (tb) break;
        /* ids are allocated in order with their table record applied first:
         * an id below the next one that is not in the map was dropped */
        pthread_rwlock_rdlock(&m->lock);
        int gone = id < m->next_table_id;
        pthread_rwlock_unlock(&m->lock);
        if (gone || timeout_ms <= 0) break;
        if (pthread_cond_timedwait(&m->wait_cv, &m->wait_mu, &until) == ETIMEDOUT) {
            tb = meta_table_by_id(m, id);
            break;
        }
    }
    pthread_mutex_unlock(&m->wait_mu);
    return tb;
}

/* A new table of tenant t (one reference, id 0) as spec describes. */
static meta_table *table_new(meta_tenant *t, const char *name, size_t len,
                             const meta_table_spec *spec) {
    meta_table *tb = ds_calloc(1, sizeof *tb);
    atomic_init(&tb->refs, 1);
    tb->tenant = t;
    atomic_fetch_add(&t->refs, 1);
    memcpy(tb->name, name, len);
    tb->id_type = spec->id_type;
    tb->pk_type = spec->pk_type                      ? spec->pk_type
                  : spec->id_type == META_ID_INTEGER ? KEY_N
                  : spec->id_type == META_ID_BYTES   ? KEY_B
                                                     : KEY_S;
    snprintf(tb->pk_name, sizeof tb->pk_name, "%s", spec->pk_name ? spec->pk_name : "id");
    if (spec->sk_name) {
        tb->sk_type = spec->sk_type ? spec->sk_type : KEY_S;
        snprintf(tb->sk_name, sizeof tb->sk_name, "%s", spec->sk_name);
    }
    tb->created_ms = ds_wall_ms();
    tb->extra = spec->extra ? ds_strdup(spec->extra) : NULL;
    tb->async_default = spec->async_default;
    return tb;
}

/* The serve backend's part of meta_table_create: takes ownership of tb. */
static int serve_table_create(meta *m, meta_table *tb, meta_table **out) {
    meta__muts mu = {0};
    int rc = DS_EEXIST;
    meta_table *old = meta_table_get(m, tb->tenant, tb->name, strlen(tb->name));
    if (old) {
        meta_table_release(old);
        goto out;
    }
    pthread_rwlock_rdlock(&m->lock);
    tb->id = m->next_table_id;
    pthread_rwlock_unlock(&m->lock);
    meta__mut *x = meta__mut_new(&mu, 0);
    meta__table_key(&x->key, tb->tenant->name, tb->name);
    meta__table_record(&x->val, tb, tb->extra);
    x = meta__mut_new(&mu, 0);
    ds_buf_puts(&x->key, "n/table_id");
    ds_buf_put_u64be(&x->val, tb->id + 1);
    if ((rc = mut_commit(m, &mu, DS_OP_META, NULL))) goto out;

    pthread_rwlock_wrlock(&m->lock);
    m->next_table_id = tb->id + 1;
    meta__index_table(m, tb);
    pthread_rwlock_unlock(&m->lock);
    meta__tables_added(m);
    if (out) meta_table_retain(tb), *out = tb;
    tb = NULL;
out:
    meta__muts_free(&mu);
    if (tb) meta_table_release(tb);
    return rc;
}

int meta_table_create(meta *m, meta_tenant *t, const char *name, size_t len,
                      const meta_table_spec *spec, meta_table **out) {
    if (!meta_valid_table_name(name, len)) return DS_EINVAL;
    meta_table *tb = table_new(t, name, len, spec);
    pthread_mutex_lock(&m->change);
    int rc = DS_ENOTFOUND;
    if (atomic_load(&t->dropped)) meta_table_release(tb);
    else rc = m->ec ? meta__etcd_table_create(m, t, tb, out) : serve_table_create(m, tb, out);
    pthread_mutex_unlock(&m->change);
    return rc;
}

static int cmp_table(const void *a, const void *b) {
    return strcmp((*(meta_table *const *)a)->name, (*(meta_table *const *)b)->name);
}

/* etcd mode has no local index of the records: sort the tenant's tables. */
static int list_from_maps(meta *m, const meta_tenant *t, const char *after, size_t after_len,
                          size_t limit, void (*fn)(const meta_table *tb, void *ud), void *ud) {
    meta_table **v;
    size_t n, shown = 0;
    int more = 0;
    pthread_rwlock_rdlock(&m->lock);
    meta__tables_of(m, t, &v, &n);
    pthread_rwlock_unlock(&m->lock);
    if (n) qsort(v, n, sizeof *v, cmp_table);
    char a[META_NAME_MAX + 1] = "";
    if (after) snprintf(a, sizeof a, "%.*s", (int)DS_MIN(after_len, META_NAME_MAX), after);
    for (size_t i = 0; i < n; i++) {
        if (!more && (!a[0] || strcmp(v[i]->name, a) > 0)) {
            if (shown == limit) more = 1;
            else fn(v[i], ud), shown++;
        }
        meta_table_release(v[i]);
    }
    ds_free(v);
    return more;
}

int meta_table_list(meta *m, const meta_tenant *t, const char *after, size_t after_len,
                    size_t limit, void (*fn)(const meta_table *tb, void *ud), void *ud) {
    if (m->ec) return list_from_maps(m, t, after, after_len, limit, fn, ud);
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

/* Serve: removes tb from the maps and drops its data; m->change held. */
static int serve_drop_table(meta *m, meta_table *tb) {
    meta__muts mu = {0};
    atomic_store(&tb->dropped, 1);
    pthread_rwlock_wrlock(&m->lock);
    int in_maps = meta__unindex_table(m, tb);
    pthread_rwlock_unlock(&m->lock);
    meta__table_key(&meta__mut_new(&mu, 1)->key, tb->tenant->name, tb->name);
    meta_stats_key(&meta__mut_new(&mu, 1)->key, tb->id);
    int rc = meta__drop_data(m, tb, &mu, 1);
    meta__muts_free(&mu);
    if (in_maps) meta_table_release(tb);
    return rc;
}

int meta_table_drop(meta *m, meta_tenant *t, const char *name, size_t len) {
    pthread_mutex_lock(&m->change);
    meta_table *tb = meta_table_get(m, t, name, len);
    int rc = DS_ENOTFOUND;
    if (tb) {
        rc = m->ec ? meta__etcd_table_drop(m, tb) : serve_drop_table(m, tb);
        meta_table_release(tb);
    }
    pthread_mutex_unlock(&m->change);
    return rc;
}

static int serve_tenant_drop(meta *m, const char *name, size_t len) {
    meta_tenant *t = meta_tenant_get(m, name, len);
    if (!t) return DS_ENOTFOUND;
    atomic_store(&t->dropped, 1);
    /* The tenant vanishes from lookups first, then its keys, then its tables:
     * once the keys are gone its data cannot be decrypted even before the
     * range deletes and compactions have run. */
    meta_table **v;
    size_t n;
    pthread_rwlock_wrlock(&m->lock);
    int in_maps = meta__unindex_tenant(m, t);
    meta__tables_of(m, t, &v, &n);
    pthread_rwlock_unlock(&m->lock);
    meta__muts mu = {0};
    meta__tenant_key(&meta__mut_new(&mu, 1)->key, t->name);
    meta__ctl_tenant_key(&meta__mut_new(&mu, 1)->key, t->name);
    int rc = mut_commit(m, &mu, DS_OP_META, NULL);
    meta__muts_free(&mu);
    for (size_t i = 0; rc == DS_OK && i < n; i++) rc = serve_drop_table(m, v[i]);
    for (size_t i = 0; i < n; i++) meta_table_release(v[i]);
    ds_free(v);
    if (in_maps) meta_tenant_release(t); /* the maps' reference */
    meta_tenant_release(t);              /* ours */
    return rc;
}

int meta_tenant_drop(meta *m, const char *name, size_t len) {
    pthread_mutex_lock(&m->change);
    int rc = m->ec ? meta__etcd_tenant_drop(m, name, len) : serve_tenant_drop(m, name, len);
    pthread_mutex_unlock(&m->change);
    return rc;
}
