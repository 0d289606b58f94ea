/* import.c -- a `dstore serve` data directory joins a cluster (import.h).
 *
 * The import's own records live in DIR/import's META column family, beside
 * the serve's (names cannot contain '/', so they cannot clash):
 *
 *   import/T/{tenant}/{table}   u64 BE: the cluster's id of the table made for it
 *   import/done/{tenant}/{table} (empty): every item of the table is in the cluster
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/import.h"
#include "crypto/crypto.h"
#include "crypto/identity.h"

#define IMPORT_INFLIGHT 32
#define IMPORT_PAGE 256        /* items read from the source per replica_range call */
#define IMPORT_TRIES 30        /* attempts per item before the import gives up */
#define IMPORT_BACKOFF_MS 1000 /* between attempts */

/* ---- step 1: set the serve's store aside -------------------------------- */

static int is_serve_store(engine *e) {
    ds_buf v = DS_BUF_INIT;
    int yes = engine_get(e, ENGINE_CF_META, "n/table_id", 10, &v) == DS_OK;
    ds_buf_free(&v);
    return yes;
}

static void import_dir(char *out, size_t n, const char *data_dir, const char *leaf) {
    char abs[PATH_MAX];
    snprintf(out, n, "%s/%s", realpath(data_dir, abs) ? abs : data_dir, leaf);
}

static int dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Removes dir and the files in it (a RocksDB directory has no subdirectories). */
static int remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    char path[PATH_MAX + 256];
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    closedir(d);
    return rmdir(dir);
}

/* Empties the node's store of everything the serve kept; "n/" last. */
static int clear_serve_store(engine *e) {
    static const char lo[1] = {0}, data_hi[9] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    int rc = engine_delete_range(e, ENGINE_CF_DATA, lo, 1, data_hi, 9);
    if (!rc) rc = engine_delete_range(e, ENGINE_CF_INDEX, lo, 1, data_hi, 9);
    if (!rc) rc = engine_delete_range(e, ENGINE_CF_META, lo, 1, "n/", 2);
    if (!rc) rc = engine_delete_range(e, ENGINE_CF_META, "n0", 2, "\xff", 1);
    if (!rc) rc = engine_delete_range(e, ENGINE_CF_META, "n/", 2, "n0", 2);
    return rc;
}

int import_prepare(const char *data_dir, engine *e, int allowed, int *pending, char *err,
                   size_t errlen) {
    char dir[PATH_MAX + 16];
    import_dir(dir, sizeof dir, data_dir, "import");
    *pending = dir_exists(dir);
    if (!is_serve_store(e)) return DS_OK;
    if (!allowed) {
        snprintf(err, errlen,
                 "%s holds the data of a `dstore serve`; to bring its tenants, tables and items "
                 "into the cluster start this node with --import-serve-data (docs/cluster.md)",
                 data_dir);
        return DS_EINVAL;
    }
    if (!*pending) {
        char tmp[PATH_MAX + 16];
        import_dir(tmp, sizeof tmp, data_dir, "import.tmp");
        remove_dir(tmp); /* an interrupted checkpoint */
        int rc = engine_checkpoint(e, dir);
        if (rc) {
            snprintf(err, errlen, "cannot checkpoint the serve's store to %s: %s", dir,
                     ds_strerror(rc));
            return rc;
        }
        ds_info("import: the serve's store is set aside in %s", dir);
        *pending = 1;
    }
    int rc = clear_serve_store(e);
    if (rc) snprintf(err, errlen, "cannot clear the serve's records: %s", ds_strerror(rc));
    return rc;
}

/* ---- step 2: the copy ------------------------------------------------------ */

typedef struct slot {
    ds_op op;
    ds_arena *a;
    struct import_job *j;
    int busy;   /* submitted, done() not yet called */
    int failed; /* done() reported a failure: the job resubmits it */
    int tries;
} slot;

struct import_job {
    char data_dir[PATH_MAX];
    char src_dir[PATH_MAX + 16];
    cluster_member *c;
    router *rt;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot slots[IMPORT_INFLIGHT];
    /* the source: the serve's store, opened with its identities */
    engine *se;
    replica *sr;
    meta *sm;
    /* progress */
    uint64_t written, skipped;
    int failed; /* a table could not be copied: keep DIR/import */
};

static void write_done(ds_op *op) {
    slot *s = (slot *)op; /* op is the slot's first member */
    import_job *j = s->j;
    pthread_mutex_lock(&j->mu);
    if (op->status == DS_OK) j->written++;
    else if (op->status == DS_EEXIST) j->skipped++; /* a client's write, or a resumed import */
    if (op->status == DS_OK || op->status == DS_EEXIST) {
        s->busy = 0;
        meta_table_release(op->table);
        ds_op_release(op);
    } else
        s->failed = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void submit(import_job *j, slot *s) {
    s->busy = 1;
    s->failed = 0;
    s->op.status = 0;
    router_write(j->rt, &s->op);
}

/* Resubmits the failed writes (after a pause), or gives up on them. Locked;
 * returns -1 when an item failed IMPORT_TRIES times. */
static int retry_failed(import_job *j) {
    for (int i = 0; i < IMPORT_INFLIGHT; i++) {
        slot *s = &j->slots[i];
        if (!s->failed) continue;
        if (++s->tries >= IMPORT_TRIES) {
            ds_error("import: a write to table %llu keeps failing (%s); stopping the import "
                     "(it resumes at the next start)",
                     (unsigned long long)s->op.table->id, ds_strerror(s->op.status));
            return -1;
        }
        ds_warn("import: a write failed (%s); retrying", ds_strerror(s->op.status));
        struct timespec ts;
        ds_deadline(&ts, CLOCK_REALTIME, IMPORT_BACKOFF_MS);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        submit(j, s);
    }
    return 0;
}

/* Waits for a free slot (NULL: stopping or giving up). Locked. */
static slot *free_slot(import_job *j) {
    for (;;) {
        if (atomic_load(&j->stop) || retry_failed(j)) return NULL;
        for (int i = 0; i < IMPORT_INFLIGHT; i++)
            if (!j->slots[i].busy) return &j->slots[i];
        pthread_cond_wait(&j->cv, &j->mu);
    }
}

/* Waits until every write completed, or failed for good. 0 when all did. */
static int drain(import_job *j) {
    int gave_up = 0;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        int stopping = atomic_load(&j->stop);
        if (!gave_up && !stopping && retry_failed(j)) gave_up = 1;
        int busy = 0;
        for (int i = 0; i < IMPORT_INFLIGHT; i++) {
            slot *s = &j->slots[i];
            if (s->failed && (gave_up || stopping)) {
                s->busy = s->failed = 0;
                meta_table_release(s->op.table);
                ds_op_release(&s->op);
            }
            busy |= s->busy;
        }
        if (!busy) break;
        pthread_cond_wait(&j->cv, &j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return gave_up || atomic_load(&j->stop) ? -1 : 0;
}

typedef struct copy_ctx {
    import_job *j;
    meta_table *dst;
    ds_buf last;  /* the last source key handed on */
    size_t n;     /* items in this page */
    ds_buf enc;
    int stopped;
} copy_ctx;

/* One item of the source: the same key under the cluster table's id,
 * written if absent. */
static int copy_item(const char *key, size_t klen, item_value *item, size_t stored, void *ud) {
    (void)stored;
    copy_ctx *x = ud;
    import_job *j = x->j;
    ds_buf_reset(&x->last);
    ds_buf_append(&x->last, key, klen);
    x->n++;
    if (klen < 12) return 0;
    pthread_mutex_lock(&j->mu);
    slot *s = free_slot(j);
    if (!s) {
        pthread_mutex_unlock(&j->mu);
        x->stopped = 1;
        return 1;
    }
    s->tries = 0;
    pthread_mutex_unlock(&j->mu);
    ds_arena_reset(s->a);
    ds_op *op = &s->op;
    ds_op_init(op, DS_OP_WRITE, s->a);
    ds_buf_reset(&x->enc);
    if (item_encode(&x->enc, item) || item_decode(s->a, x->enc.data, x->enc.len, &op->item)) {
        ds_error("import: an item of table %llu does not encode; skipped",
                 (unsigned long long)x->dst->id);
        ds_op_release(op);
        return 0;
    }
    /* [table][hash][pk][sk] -> the same under the cluster's id; the index
     * key is the data key without the hash */
    ds_buf_put_u64be(&op->key, x->dst->id);
    ds_buf_append(&op->key, key + 8, klen - 8);
    ds_buf_append(&op->ikey, op->key.data, 8);
    ds_buf_append(&op->ikey, key + 12, klen - 12);
    op->hash = ds_get_u32be(key + 8);
    op->precond = DS_PRECOND_NOT_EXISTS;
    op->done = write_done;
    meta_table_retain(x->dst);
    op->table = x->dst;
    pthread_mutex_lock(&j->mu);
    submit(j, s);
    pthread_mutex_unlock(&j->mu);
    return x->n == IMPORT_PAGE;
}

static void source_key(ds_buf *k, const char *what, const meta_table *tb) {
    ds_buf_reset(k);
    ds_buf_printf(k, "import/%s/%s/%s", what, tb->tenant->name, tb->name);
}

static int source_put(import_job *j, const ds_buf *k, const void *v, size_t vl) {
    engine_batch *b = engine_batch_new();
    engine_batch_put(b, ENGINE_CF_META, k->data, k->len, v, vl);
    int rc = engine_write(j->se, b, 1);
    engine_batch_free(b);
    return rc;
}

/* The cluster's tenant for src: made with src's credentials if absent. */
static meta_tenant *dest_tenant(import_job *j, const meta_tenant *src) {
    meta *m = j->c->meta;
    size_t nl = strlen(src->name);
    meta_tenant *t = meta_tenant_get(m, src->name, nl);
    if (t) {
        if (strcmp(t->access_key, src->access_key))
            ds_warn("import: tenant \"%s\" exists in the cluster; its tables join it and its "
                    "clients use the cluster's credentials (access key %s)",
                    src->name, t->access_key);
        return t;
    }
    int rc = meta_tenant_create(m, src->name, src->access_key, src->secret, &t);
    if (rc == DS_EEXIST && (t = meta_tenant_get(m, src->name, nl))) rc = DS_OK;
    if (rc) {
        ds_error("import: cannot create tenant \"%s\" in the cluster: %s%s", src->name,
                 ds_strerror(rc),
                 rc == DS_EEXIST ? " (its access key belongs to another tenant)" : "");
        return NULL;
    }
    ds_info("import: tenant \"%s\" created with its access key %s", src->name, src->access_key);
    return t;
}

/* The cluster's table for src: the one this import made, else a new one.
 * NULL (reported) when a table of that name exists that it did not make. */
static meta_table *dest_table(import_job *j, meta_tenant *t, const meta_table *src) {
    meta *m = j->c->meta;
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    source_key(&k, "T", src);
    uint64_t mine = 0;
    if (engine_get(j->se, ENGINE_CF_META, k.data, k.len, &v) == DS_OK && v.len == 8)
        mine = ds_get_u64be(v.data);
    size_t nl = strlen(src->name);
    meta_table *tb = meta_table_get(m, t, src->name, nl);
    if (tb && tb->id != mine) {
        ds_error("import: table %s/%s exists in the cluster and was not made by this import; "
                 "not imported (drop or rename it, then restart the node)",
                 t->name, src->name);
        meta_table_release(tb);
        tb = NULL;
    } else if (!tb) {
        ds_buf extra = DS_BUF_INIT;
        meta_table_extra(j->sm, src, &extra);
        meta_table_spec spec = {.id_type = src->id_type,
                                .pk_name = src->pk_name,
                                .pk_type = src->pk_type,
                                .sk_name = src->sk_type ? src->sk_name : NULL,
                                .sk_type = src->sk_type,
                                .extra = extra.data,
                                .async_default = src->async_default};
        int rc = meta_table_create(m, t, src->name, nl, &spec, &tb);
        ds_buf_free(&extra);
        if (rc) {
            ds_error("import: cannot create table %s/%s: %s", t->name, src->name, ds_strerror(rc));
            tb = NULL;
        } else {
            ds_buf_reset(&v);
            ds_buf_put_u64be(&v, tb->id);
            if (source_put(j, &k, v.data, v.len)) ds_warn("import: cannot record table %s/%s",
                                                          t->name, src->name);
        }
    }
    ds_buf_free(&k);
    ds_buf_free(&v);
    return tb;
}

/* Copies one table. 0 when every item is in the cluster. */
static int copy_table(import_job *j, const meta_table *src) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    source_key(&k, "done", src);
    int done = engine_get(j->se, ENGINE_CF_META, k.data, k.len, &v) == DS_OK;
    ds_buf_free(&v);
    if (done) {
        ds_buf_free(&k);
        return 0;
    }
    meta_tenant *t = dest_tenant(j, src->tenant);
    meta_table *dst = t ? dest_table(j, t, src) : NULL;
    if (t) meta_tenant_release(t);
    if (!dst) {
        ds_buf_free(&k);
        return -1;
    }
    ds_info("import: copying table %s/%s (id %llu here, %llu in the cluster)", src->tenant->name,
            src->name, (unsigned long long)src->id, (unsigned long long)dst->id);
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, src->id);
    copy_ctx x = {.j = j, .dst = dst, .last = DS_BUF_INIT, .enc = DS_BUF_INIT};
    ds_arena *a = ds_arena_new(64 << 10);
    ds_buf after = DS_BUF_INIT;
    int rc = DS_OK;
    do { /* a page at a time: the arena holds one page of decoded items */
        x.n = 0;
        ds_arena_reset(a);
        ds_buf_reset(&after);
        ds_buf_append(&after, x.last.data, x.last.len);
        rc = replica_range(j->sr, (meta_table *)src, &lo, &hi, after.len ? &after : NULL, 0, a,
                           copy_item, &x);
    } while (rc == DS_OK && !x.stopped && x.n == IMPORT_PAGE);
    ds_arena_free(a);
    ds_buf_free(&after);
    int ok = rc == DS_OK && !x.stopped && drain(j) == 0;
    if (rc) ds_error("import: reading table %s/%s failed: %s", src->tenant->name, src->name,
                     ds_strerror(rc));
    if (ok && source_put(j, &k, "", 0) == DS_OK)
        ds_info("import: table %s/%s copied", src->tenant->name, src->name);
    meta_table_release(dst);
    ds_buf_free(&x.last), ds_buf_free(&x.enc), ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&k);
    return ok ? 0 : -1;
}

typedef struct table_vec {
    meta *m;
    meta_table **v;
    size_t n, cap;
    size_t first; /* the current tenant's first table */
} table_vec;

static void collect_table(const meta_table *tb, void *ud) {
    table_vec *tv = ud;
    if (tv->n == tv->cap) {
        tv->cap = tv->cap ? 2 * tv->cap : 16;
        tv->v = ds_realloc(tv->v, tv->cap * sizeof *tv->v);
    }
    meta_table_retain((meta_table *)tb);
    tv->v[tv->n++] = (meta_table *)tb;
}

/* Every table of t, a page of names at a time. */
static int collect_tenant(const meta_tenant *t, void *ud) {
    table_vec *tv = ud;
    tv->first = tv->n;
    int more;
    do {
        const char *after = tv->n > tv->first ? tv->v[tv->n - 1]->name : NULL;
        more = meta_table_list(tv->m, t, after, after ? strlen(after) : 0, 100, collect_table, tv);
    } while (more);
    return 0;
}

static int open_source(import_job *j, char *err, size_t errlen) {
    ds_identity node, control;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/control.id", j->data_dir);
    if (access(path, F_OK)) {
        snprintf(err, errlen, "%.300s is missing: the serve's tenants cannot be read without it",
                 path);
        return DS_ENOTFOUND;
    }
    int rc = identity_load_or_create(path, &control, err, errlen);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/node.id", j->data_dir);
    if ((rc = identity_load_or_create(path, &node, err, errlen))) {
        identity_wipe(&control);
        return rc;
    }
    engine_opts eo = {0};
    rc = engine_open(j->src_dir, &eo, &j->se, err, errlen);
    if (!rc && replica_start(j->se, &j->sr)) {
        snprintf(err, errlen, "cannot start a writer on %.300s", j->src_dir);
        rc = DS_EIO;
    }
    if (!rc) rc = meta_open(j->se, j->sr, node.key, node.uuid, control.key, &j->sm, err, errlen);
    identity_wipe(&node);
    identity_wipe(&control);
    return rc;
}

static void close_source(import_job *j) {
    meta_close(j->sm);
    replica_stop(j->sr);
    engine_close(j->se);
    j->sm = NULL, j->sr = NULL, j->se = NULL;
}

static void *import_main(void *arg) {
    import_job *j = arg;
    char err[512];
    if (open_source(j, err, sizeof err)) {
        ds_error("import: cannot open %s: %s", j->src_dir, err);
        close_source(j);
        return NULL;
    }
    table_vec tv = {.m = j->sm};
    meta_tenant_list(j->sm, collect_tenant, &tv);
    ds_info("import: %zu tables to bring into the cluster from %s", tv.n, j->src_dir);
    for (size_t i = 0; i < tv.n && !atomic_load(&j->stop); i++)
        if (copy_table(j, tv.v[i])) j->failed = 1;
    for (size_t i = 0; i < tv.n; i++) meta_table_release(tv.v[i]);
    ds_free(tv.v);
    close_source(j);
    if (atomic_load(&j->stop)) {
        ds_info("import: stopped (%llu items written); it resumes at the next start",
                (unsigned long long)j->written);
    } else if (j->failed) {
        ds_error("import: finished with errors (%llu items written, %llu already there); %s is "
                 "kept, and the import runs again at the next start",
                 (unsigned long long)j->written, (unsigned long long)j->skipped, j->src_dir);
    } else {
        remove_dir(j->src_dir);
        ds_info("import: done: %zu tables, %llu items written, %llu already there; %s removed",
                tv.n, (unsigned long long)j->written, (unsigned long long)j->skipped, j->src_dir);
    }
    return NULL;
}

int import_start(const char *data_dir, cluster_member *c, router *rt, import_job **out, char *err,
                 size_t errlen) {
    import_job *j = ds_calloc(1, sizeof *j);
    snprintf(j->data_dir, sizeof j->data_dir, "%s", data_dir);
    import_dir(j->src_dir, sizeof j->src_dir, data_dir, "import");
    j->c = c;
    j->rt = rt;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    for (int i = 0; i < IMPORT_INFLIGHT; i++) {
        j->slots[i].j = j;
        j->slots[i].a = ds_arena_new(4096);
    }
    if (pthread_create(&j->th, NULL, import_main, j)) {
        snprintf(err, errlen, "cannot start the import thread");
        import_stop(j);
        return DS_EIO;
    }
    pthread_setname_np(j->th, "ds-import");
    *out = j;
    return DS_OK;
}

void import_stop(import_job *j) {
    if (!j) return;
    atomic_store(&j->stop, 1);
    pthread_mutex_lock(&j->mu);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (j->th) pthread_join(j->th, NULL);
    for (int i = 0; i < IMPORT_INFLIGHT; i++) ds_arena_free(j->slots[i].a);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    ds_free(j);
}
