/* replica.c -- the writer thread: ordered evaluation and group commit (see
 * replica.h for the contract).
 *
 * One loop: wait for ops, take every queued op, evaluate them in order into
 * one WriteBatchWithIndex (so later ops see earlier ones), write the batch
 * with sync=1, then publish statistics, run the range deletes of dropped
 * tables, and call each op's done(). Up to GROUP_MAX_OPS ops or
 * GROUP_MAX_BYTES of new values go into one group; the rest wait for the
 * next, so one sync never carries an unbounded amount.
 *
 * Table statistics (item count, size) are kept exact by the writer: it learns
 * whether each key exists and how long its stored value is (read_prior) and
 * writes the table's new totals into the same batch (META s/{id}).
 *
 * Every DATA entry has its INDEX entry, which records the DATA value's length
 * (keycodec.h): both are written, and deleted, in one batch. An interrupted
 * DELETE_SPAN (index entries gone, DATA not yet) leaves its copy marked
 * incomplete, and that copy is emptied again before anything is written to
 * it. So the INDEX entry alone says whether an item exists and how large it
 * is: a write that does not need the old item reads only that entry (tens of
 * bytes, usually cached), not the DATA block that holds the old value; and an
 * overwrite of the same length writes DATA only.
 *
 * Replication hooks (replica.h) are copied at the start of each group, under
 * the queue lock, so replica_set_hooks() only has to wait for the group in
 * progress. With hooks, every successful write also records its logical
 * mutation (key and plaintext) in the group's mutation log; without them
 * nothing is captured.
 */
#include "replica/replica.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/dict.h"
#include "control/meta.h"
#include "crypto/crypto.h"
#include "engine/keycodec.h"

#define GROUP_MAX_OPS 1024
#define GROUP_MAX_BYTES (8u << 20)
#define GROUP_MAX_TABLES 64
#define SLOW_GROUP_US 50000         /* a group this slow is logged ... */
#define SLOW_GROUP_LOG_US 10000000  /* ... at most once per 10 s */
#define WRITER_NICE (-5)            /* see writer_priority */

struct replica {
    engine *e;
    int fsync;         /* group commits sync the WAL (replica_set_fsync; default 1) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ds_op *head, *tail; /* FIFO of submitted ops */
    int stopping;
    int sleeping;       /* the writer waits on cv and no one has woken it yet */
    atomic_int waking;  /* submitters between unlocking mu and signalling cv */
    /* hooks, read by the writer under mu at the start of each group */
    replica_hooks hooks;
    void *hooks_ud;
    int busy;          /* the writer is running a group */
    int hook_waiters;  /* replica_set_hooks calls waiting for !busy */
    pthread_cond_t idle;
    atomic_long pending;
    atomic_ullong ops, groups, syncs, eval_us, commit_us;
    uint64_t slow_groups, slow_logged_at; /* writer thread only (slow_group) */
};

typedef struct table_delta {
    meta_table *tb;
    int64_t count, bytes;
} table_delta;

typedef struct group {
    replica_group view; /* what the hooks see; first member */
    engine_batch *batch;
    table_delta *deltas; /* GROUP_MAX_TABLES for writes; APPLY ops may add more */
    size_t ndeltas, capdeltas;
    ds_op *drops[GROUP_MAX_OPS];
    size_t ndrops;
    ds_op *opv[GROUP_MAX_OPS];
    unsigned char held[GROUP_MAX_OPS];
    ds_buf old, plain, sealed, tmp, ival;
    /* hooks of this group (copied under the queue lock) */
    replica_hooks h;
    void *hud;
    int capture;          /* record mutations (some hook is installed) */
    ds_buf mlog;          /* captured keys and plaintexts */
    replica_mut *muts;    /* key/value hold offsets into mlog until fixed */
    size_t nmuts, capmuts;
} group;

void ds_op_init(ds_op *op, ds_op_kind kind, ds_arena *arena) {
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->arena = arena;
    ds_buf_init(&op->key);
    ds_buf_init(&op->ikey);
    ds_buf_init(&op->apply_wire);
}

void ds_op_release(ds_op *op) {
    ds_buf_free(&op->key);
    ds_buf_free(&op->ikey);
    ds_buf_free(&op->apply_wire);
}

/* Returns the delta slot for tb, or NULL when the group already tracks the
 * maximum number of tables (the caller then ends the group). */
/* Appends a delta slot for tb (no limit: APPLY and DELETE_SPAN ops). */
static table_delta *delta_add(group *g, meta_table *tb) {
    for (size_t i = 0; i < g->ndeltas; i++)
        if (g->deltas[i].tb == tb) return &g->deltas[i];
    if (g->ndeltas == g->capdeltas) {
        g->capdeltas = g->capdeltas ? g->capdeltas * 2 : GROUP_MAX_TABLES;
        g->deltas = ds_realloc(g->deltas, g->capdeltas * sizeof *g->deltas);
    }
    table_delta *d = &g->deltas[g->ndeltas++];
    d->tb = tb, d->count = 0, d->bytes = 0;
    return d;
}

static table_delta *delta_for(group *g, meta_table *tb) {
    for (size_t i = 0; i < g->ndeltas; i++)
        if (g->deltas[i].tb == tb) return &g->deltas[i];
    if (g->ndeltas == GROUP_MAX_TABLES) return NULL;
    return delta_add(g, tb);
}

static void capture(group *g, ds_op *op, const char *value, size_t vlen);

static void apply_meta(group *g, const ds_op *op) {
    for (size_t i = 0; i < op->nmeta; i++) {
        const ds_meta_put *p = &op->meta[i];
        if (p->is_delete) engine_batch_delete(g->batch, p->cf, p->key.p, p->key.len);
        else engine_batch_put(g->batch, p->cf, p->key.p, p->key.len, p->value.p, p->value.len);
    }
}

/* Opens (decrypts) a stored DATA value of tb and decodes its item into a;
 * pt is scratch for the plaintext. */
static int open_stored(const meta_table *tb, const void *key, size_t klen, const void *v,
                       size_t vl, ds_buf *pt, ds_arena *a, item_value **out) {
    ds_buf_reset(pt);
    int rc = crypto_open(pt, tb->tenant->data_key, key, klen, v, vl);
    return rc ? rc : item_decode(a, pt->data, pt->len, out);
}

/* What a write learns of the item it replaces. */
typedef struct prior {
    int exists;
    size_t len;      /* the stored (sealed) DATA value's length, when exists */
    int64_t indexed; /* the length its INDEX entry records; -1: none (4-byte entry) */
} prior;

/* Reads what a write of (dk, ik) to table tb replaces, from the INDEX entry;
 * the DATA entry too, into g->old, only when need_item or when the INDEX
 * entry predates the length. So a write that needs the old item of an
 * existing key reads both: the INDEX read (small, usually cached) is what
 * lets an overwrite of the same length skip rewriting the INDEX entry. */
static int read_prior(replica *r, group *g, const meta_table *tb, const void *dk, size_t dkl,
                      const void *ik, size_t ikl, int need_item, prior *p) {
    *p = (prior){0, 0, -1};
    int rc = engine_batch_get(r->e, g->batch, ENGINE_CF_INDEX, ik, ikl, &g->ival);
    if (rc == DS_ENOTFOUND) return DS_OK;
    if (rc) return rc;
    p->exists = 1;
    if (g->ival.len == KEYCODEC_INDEX_VALUE_LEN)
        p->len = ds_get_u32be(g->ival.data + 4), p->indexed = (int64_t)p->len;
    else if (!keycodec_index_value_ok(g->ival.len))
        rc = DS_ECORRUPT;
    if (rc == DS_OK && (need_item || p->indexed < 0)) {
        rc = engine_batch_get(r->e, g->batch, ENGINE_CF_DATA, dk, dkl, &g->old);
        if (rc == DS_ENOTFOUND) rc = DS_ECORRUPT;
        p->len = g->old.len;
    }
    if (rc == DS_ECORRUPT)
        ds_error("an INDEX entry of table %llu has a bad value or no item",
                 (unsigned long long)tb->id);
    return rc;
}

/* Puts the INDEX entry of an item whose DATA value is vlen bytes, unless the
 * entry there already says so. */
static void index_put(group *g, const prior *p, const void *ik, size_t ikl, uint32_t hash,
                      size_t vlen) {
    if (p->exists && p->indexed == (int64_t)vlen) return;
    unsigned char v[KEYCODEC_INDEX_VALUE_LEN];
    keycodec_index_value(v, hash, vlen);
    engine_batch_put(g->batch, ENGINE_CF_INDEX, ik, ikl, v, sizeof v);
}

/* Evaluates one write into the batch. Returns the op's status. */
static int eval_write(replica *r, group *g, ds_op *op, table_delta *d) {
    meta_table *tb = op->table;
    if (atomic_load(&tb->dropped)) return DS_ESTATE;
    const uint8_t *dkey = tb->tenant->data_key;
    prior p;
    int rc = read_prior(r, g, tb, op->key.data, op->key.len, op->ikey.data, op->ikey.len,
                        op->apply || op->want_old, &p);
    if (rc) return rc;
    int exists = p.exists;
    if (op->precond == DS_PRECOND_EXISTS && !exists) return DS_ENOTFOUND;
    if (op->precond == DS_PRECOND_NOT_EXISTS && exists) return DS_EEXIST;

    item_value *old_item = NULL, *new_item = op->item;
    if (exists && (op->apply || op->want_old)) {
        rc = open_stored(tb, op->key.data, op->key.len, g->old.data, g->old.len, &g->plain,
                         op->arena, &old_item);
        if (rc) {
            ds_error("stored item fails its integrity check (table %llu): %s",
                     (unsigned long long)tb->id, ds_strerror(rc));
            return DS_ECORRUPT;
        }
    }
    if (op->apply) {
        new_item = NULL;
        if ((rc = op->apply(op, old_item, &new_item))) return rc;
    }
    int64_t old_size = exists ? (int64_t)(op->key.len + p.len) : 0;
    if (op->is_delete || !new_item) {
        if (exists) {
            engine_batch_delete(g->batch, ENGINE_CF_DATA, op->key.data, op->key.len);
            engine_batch_delete(g->batch, ENGINE_CF_INDEX, op->ikey.data, op->ikey.len);
            d->count -= 1;
            d->bytes -= old_size;
            if (g->capture) capture(g, op, NULL, 0);
        }
        op->new_item = NULL;
    } else {
        ds_buf_reset(&g->plain);
        if ((rc = item_encode(&g->plain, new_item))) return rc;
        if (op->max_item_bytes && g->plain.len > op->max_item_bytes) return DS_ETOOBIG;
        ds_buf_reset(&g->sealed);
        rc = crypto_seal(&g->sealed, dkey, op->key.data, op->key.len, g->plain.data, g->plain.len);
        if (rc) return rc;
        engine_batch_put(g->batch, ENGINE_CF_DATA, op->key.data, op->key.len, g->sealed.data,
                         g->sealed.len);
        index_put(g, &p, op->ikey.data, op->ikey.len, op->hash, g->sealed.len);
        d->count += exists ? 0 : 1;
        d->bytes += (int64_t)(op->key.len + g->sealed.len) - old_size;
        op->new_item = new_item;
        if (g->capture) capture(g, op, g->plain.data, g->plain.len);
    }
    if (op->want_old) op->old_item = old_item;
    return DS_OK;
}

/* ---- replication: applying shipped mutations ---------------------------- */

/* Applies one mutation of table tb (its key already checked to be tb's):
 * sealed under this node's tenant key, DATA + INDEX entries, statistics. */
static int apply_mut(replica *r, group *g, meta_table *tb, table_delta *d, const replica_mut *m) {
    keycodec_index_key_of(&g->tmp, m->key, m->klen);
    prior p;
    int rc = read_prior(r, g, tb, m->key, m->klen, g->tmp.data, g->tmp.len, 0, &p);
    if (rc) return rc;
    int exists = p.exists;
    int64_t old_size = exists ? (int64_t)(m->klen + p.len) : 0;
    if (!m->value) {
        if (exists) {
            engine_batch_delete(g->batch, ENGINE_CF_DATA, m->key, m->klen);
            engine_batch_delete(g->batch, ENGINE_CF_INDEX, g->tmp.data, g->tmp.len);
            d->count -= 1;
            d->bytes -= old_size;
        }
        return DS_OK;
    }
    ds_buf_reset(&g->sealed);
    rc = crypto_seal(&g->sealed, tb->tenant->data_key, m->key, m->klen, m->value, m->vlen);
    if (rc) return rc;
    engine_batch_put(g->batch, ENGINE_CF_DATA, m->key, m->klen, g->sealed.data, g->sealed.len);
    index_put(g, &p, g->tmp.data, g->tmp.len, ds_get_u32be(m->key + 8), g->sealed.len);
    d->count += exists ? 0 : 1;
    d->bytes += (int64_t)(m->klen + g->sealed.len) - old_size;
    return DS_OK;
}

static int key_of_table(const replica_mut *m, uint64_t table_id) {
    return m->klen > KEYCODEC_PREFIX_LEN && ds_get_u64be(m->key) == table_id;
}

/* Evaluates a DS_OP_APPLY. Returns the op's status: DS_OK even when some
 * sections were refused (each has its own status); an engine error fails
 * the whole op (the group is then not committed). */
static int eval_apply(replica *r, group *g, ds_op *op) {
    for (size_t i = 0; i < op->nsections; i++) {
        replica_section *s = &op->sections[i];
        s->touched = NULL;
        s->status = g->h.apply_check ? g->h.apply_check(g->hud, &g->view, s) : DS_OK;
        if (s->status) continue;
        meta_table *tb = s->table;
        if (!tb || atomic_load(&tb->dropped)) continue;
        for (size_t j = 0; j < s->nmuts; j++)
            if (!key_of_table(&s->muts[j], tb->id)) {
                s->status = DS_EINVAL;
                break;
            }
        if (s->status) continue;
        table_delta *d = delta_add(g, tb);
        for (size_t j = 0; j < s->nmuts; j++) {
            const replica_mut *m = &s->muts[j];
            if (s->kind == REPLICA_SEC_SNAPSHOT && s->touched &&
                dict_get(s->touched, m->key, m->klen))
                continue;
            int rc = apply_mut(r, g, tb, d, m);
            if (rc) return rc;
            if (s->kind == REPLICA_SEC_LIVE && s->touched)
                dict_set(s->touched, m->key, m->klen, (void *)1);
        }
    }
    return DS_OK;
}

/* DS_OP_DELETE_SPAN, alone in its group: op->meta first (synced), then the
 * index entries of every item in the span (in unsynced chunks; the last
 * chunk commits with the group, synced, with the statistics), and after the
 * commit the DATA span with one range delete (run_group). A crash anywhere
 * leaves op->meta written: its writer marks the range incomplete there. */
static int eval_delete_span(replica *r, group *g, ds_op *op) {
    meta_table *tb = op->table;
    int rc = DS_OK;
    if (op->nmeta) {
        apply_meta(g, op);
        if ((rc = engine_write(r->e, g->batch, 1))) return rc;
        engine_batch_clear(g->batch);
    }
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_hash_bounds(&lo, &hi, tb->id, op->span_low, op->span_high);
    engine_iter *it = engine_iter_new(r->e, ENGINE_CF_DATA, lo.data, lo.len, hi.data, hi.len);
    table_delta *d = delta_add(g, tb);
    size_t n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_key(it, &kl);
        engine_iter_value(it, &vl);
        if (kl <= KEYCODEC_PREFIX_LEN) continue;
        d->count -= 1;
        d->bytes -= (int64_t)(kl + vl);
        keycodec_index_key_of(&g->tmp, k, kl);
        engine_batch_delete(g->batch, ENGINE_CF_INDEX, g->tmp.data, g->tmp.len);
        if (++n % 4096 == 0) {
            if ((rc = engine_write(r->e, g->batch, 0))) break;
            engine_batch_clear(g->batch);
        }
    }
    if (rc == DS_OK) rc = engine_iter_status(it);
    engine_iter_free(it);
    ds_buf_free(&lo), ds_buf_free(&hi);
    if (rc == DS_OK) g->drops[g->ndrops++] = op; /* the DATA span goes after the commit */
    return rc;
}

/* Records the mutation of a successful write (value NULL: a delete). */
static void capture(group *g, ds_op *op, const char *value, size_t vlen) {
    if (g->nmuts == g->capmuts) {
        g->capmuts = g->capmuts ? g->capmuts * 2 : 64;
        g->muts = ds_realloc(g->muts, g->capmuts * sizeof *g->muts);
    }
    replica_mut *m = &g->muts[g->nmuts++];
    m->op = op;
    m->klen = op->key.len;
    m->key = (const char *)(uintptr_t)g->mlog.len; /* an offset until fix_muts */
    ds_buf_append(&g->mlog, op->key.data, op->key.len);
    m->vlen = vlen;
    m->value = value ? (const char *)(uintptr_t)(g->mlog.len + 1) : NULL; /* +1: not NULL */
    if (value) ds_buf_append(&g->mlog, value, vlen);
}

/* Turns the offsets of the captured mutations into pointers into mlog. */
static void fix_muts(group *g) {
    for (size_t i = 0; i < g->nmuts; i++) {
        replica_mut *m = &g->muts[i];
        m->key = g->mlog.data + (uintptr_t)m->key;
        if (m->value) m->value = g->mlog.data + ((uintptr_t)m->value - 1);
    }
    g->view.muts = g->muts;
    g->view.nmuts = g->nmuts;
}

void replica_group_put(replica_group *rg, engine_cf cf, const void *k, size_t kl, const void *v,
                       size_t vl) {
    group *g = (group *)rg;
    if (v) engine_batch_put(g->batch, cf, k, kl, v, vl);
    else engine_batch_delete(g->batch, cf, k, kl);
}

static void put_stats(group *g) {
    for (size_t i = 0; i < g->ndeltas; i++) {
        table_delta *d = &g->deltas[i];
        if (atomic_load(&d->tb->dropped)) continue;
        unsigned char v[16];
        int64_t c = atomic_load(&d->tb->item_count) + d->count;
        int64_t b = atomic_load(&d->tb->size_bytes) + d->bytes;
        ds_put_u64be(v, (uint64_t)(c < 0 ? 0 : c));
        ds_put_u64be(v + 8, (uint64_t)(b < 0 ? 0 : b));
        ds_buf_reset(&g->tmp);
        meta_stats_key(&g->tmp, d->tb->id);
        engine_batch_put(g->batch, ENGINE_CF_META, g->tmp.data, g->tmp.len, v, 16);
    }
}

/* A group that held every waiting writer for SLOW_GROUP_US or more is the
 * cause of a latency spike clients see: say so, at most once per
 * SLOW_GROUP_LOG_US, with how many there were in between (writer thread). */
static void slow_group(replica *r, size_t nops, uint64_t eval_us, uint64_t commit_us,
                       uint64_t now) {
    r->slow_groups++;
    if (now - r->slow_logged_at < SLOW_GROUP_LOG_US) return;
    ds_warn("writer: a group of %zu ops took %llu ms (evaluating %llu ms, the durable write %llu "
            "ms); %llu group(s) of %d ms or more since the last such line",
            nops, (unsigned long long)(eval_us + commit_us) / 1000,
            (unsigned long long)eval_us / 1000, (unsigned long long)commit_us / 1000,
            (unsigned long long)r->slow_groups, SLOW_GROUP_US / 1000);
    r->slow_groups = 0;
    r->slow_logged_at = now;
}

static void drop_data(replica *r, ds_op *op) {
    meta_table *tb = op->table;
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    if (op->kind == DS_OP_DELETE_SPAN) {
        keycodec_hash_bounds(&lo, &hi, tb->id, op->span_low, op->span_high);
        int rc = engine_delete_range(r->e, ENGINE_CF_DATA, lo.data, lo.len, hi.data, hi.len);
        if (rc) op->status = rc;
    } else {
        keycodec_table_bounds(&lo, &hi, tb->id);
        for (engine_cf cf = ENGINE_CF_DATA; cf <= ENGINE_CF_INDEX; cf++) {
            int rc = engine_delete_range(r->e, cf, lo.data, lo.len, hi.data, hi.len);
            if (rc) ds_error("dropping table %llu: range delete failed: %s",
                             (unsigned long long)tb->id, ds_strerror(rc));
        }
    }
    ds_buf_free(&lo), ds_buf_free(&hi);
}

/* Takes ops from the queue into one group, evaluates, commits, completes.
 * Returns the ops not taken (the caller keeps them for the next group). */
static ds_op *run_group(replica *r, group *g, ds_op *ops) {
    uint64_t t0 = ds_now_us();
    engine_batch_clear(g->batch);
    g->ndeltas = g->ndrops = 0;
    g->capture = g->h.admit || g->h.apply_check || g->h.prepare || g->h.after_commit;
    if (g->capture) {
        ds_buf_reset(&g->mlog);
        g->nmuts = 0;
        g->view = (replica_group){g->opv, g->held, 0, NULL, 0};
    }
    size_t nops = 0, bytes = 0;
    int alone = 0; /* the op just taken must be alone in its group */
    while (ops && nops < GROUP_MAX_OPS && bytes < GROUP_MAX_BYTES && !alone) {
        ds_op *op = ops;
        table_delta *d = NULL;
        if (op->kind == DS_OP_WRITE && !(d = delta_for(g, op->table))) break;
        /* CALL starts a group; DELETE_SPAN is a group of its own */
        if ((op->kind == DS_OP_CALL || op->kind == DS_OP_DELETE_SPAN) && nops) break;
        ops = op->next;
        op->next = NULL;
        op->status = DS_OK;
        op->repl_range = NULL;
        switch (op->kind) {
        case DS_OP_WRITE:
            if (g->h.admit && (op->status = g->h.admit(g->hud, op))) break;
            op->status = eval_write(r, g, op, d);
            break;
        case DS_OP_META: apply_meta(g, op); break;
        case DS_OP_DROP_TABLE:
            apply_meta(g, op);
            g->drops[g->ndrops++] = op;
            break;
        case DS_OP_APPLY: op->status = eval_apply(r, g, op); break;
        case DS_OP_CALL: op->status = op->call(op, &g->view); break;
        case DS_OP_DELETE_SPAN:
            op->status = eval_delete_span(r, g, op);
            alone = 1;
            break;
        }
        if (op->kind == DS_OP_WRITE) bytes += op->key.len + g->sealed.len;
        if (op->kind == DS_OP_APPLY)
            for (size_t i = 0; i < op->nsections; i++)
                for (size_t j = 0; j < op->sections[i].nmuts; j++)
                    bytes += op->sections[i].muts[j].klen + op->sections[i].muts[j].vlen;
        g->held[nops] = 0;
        g->opv[nops++] = op;
    }
    /* an engine error while applying fails the whole group: nothing of it is
     * written (an APPLY's sections must land completely or not at all) */
    int rc = DS_OK;
    for (size_t i = 0; i < nops; i++)
        if ((g->opv[i]->kind == DS_OP_APPLY || g->opv[i]->kind == DS_OP_DELETE_SPAN) &&
            g->opv[i]->status)
            rc = g->opv[i]->status;
    if (g->capture) {
        g->view.nops = nops;
        fix_muts(g);
        if (g->h.prepare && rc == DS_OK) g->h.prepare(g->hud, &g->view);
    }
    put_stats(g);
    uint64_t t1 = ds_now_us();
    if (rc == DS_OK && engine_batch_count(g->batch)) rc = engine_write(r->e, g->batch, r->fsync);
    uint64_t t2 = ds_now_us();
    atomic_fetch_add(&r->eval_us, t1 - t0);
    atomic_fetch_add(&r->commit_us, t2 - t1);
    if (t2 - t0 >= SLOW_GROUP_US) slow_group(r, nops, t1 - t0, t2 - t1, t2);
    if (rc) ds_error("group commit of %zu ops failed: %s", nops, ds_strerror(rc));
    else {
        atomic_fetch_add(&r->syncs, 1);
        for (size_t i = 0; i < g->ndeltas; i++) {
            atomic_fetch_add(&g->deltas[i].tb->item_count, g->deltas[i].count);
            atomic_fetch_add(&g->deltas[i].tb->size_bytes, g->deltas[i].bytes);
        }
        for (size_t i = 0; i < g->ndrops; i++) drop_data(r, g->drops[i]);
    }
    if (rc)
        for (size_t i = 0; i < nops; i++)
            if (g->opv[i]->status == DS_OK) g->opv[i]->status = rc;
    if (g->h.after_commit) g->h.after_commit(g->hud, &g->view, rc);
    atomic_fetch_add(&r->groups, 1);
    atomic_fetch_add(&r->ops, nops);
    for (size_t i = 0; i < nops; i++) {
        if (g->held[i]) continue; /* replica_finish() completes it, maybe already did */
        atomic_fetch_sub(&r->pending, 1);
        g->opv[i]->done(g->opv[i]);
    }
    return ops;
}

void replica_finish(replica *r, ds_op *op, int status) {
    op->status = status;
    atomic_fetch_sub(&r->pending, 1);
    op->done(op);
}

/* The writer is the one serial stage of every write. When the cores are
 * busy (the HTTP loops, RocksDB's compactions, anything else on the machine)
 * it must not wait behind them for its turn: every waiting client waits with
 * it. So it runs at nice WRITER_NICE, which needs CAP_SYS_NICE (or
 * RLIMIT_NICE); without it the writer keeps the default priority, and says
 * so once.
 *
 * And it runs as SCHED_BATCH (any thread may ask for it): woken, it does not
 * preempt the thread on the CPU, it takes the CPU at the next scheduling
 * point. Preempting, it cut an HTTP loop off in the middle of a request at
 * each of its wake-ups (a submit, then each I/O its fdatasync waits for),
 * to take the few ops queued so far. Waiting for its turn, it finds
 * more queued, so a group and its fsync carry more ops. Measured under
 * durable puts (bench/results/2026-12-06-session16.md): the HTTP loops'
 * preemptions per op 0.23-0.28 -> 0.14-0.20, the writer's sleeps per op
 * 0.20 -> 0.14, put-100 +5 to +11% in three interleaved A/Bs (put-4k
 * +22, +6, -8%: within this host's noise); p99 moved both ways. On an idle
 * core it runs at once, as before. */
static void writer_priority(void) {
    static atomic_int told;
    struct sched_param sp = {0};
    int se = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    if (se) ds_warn("writer: cannot run as SCHED_BATCH: %s", strerror(se));
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), WRITER_NICE) == 0) return;
    int e = errno;
    if (!atomic_exchange(&told, 1))
        ds_info("writer: runs at the default priority (nice %d needs CAP_SYS_NICE: %s)",
                WRITER_NICE, strerror(e));
}

static void *writer_main(void *arg) {
    replica *r = arg;
    writer_priority();
    group *g = ds_calloc(1, sizeof *g);
    g->batch = engine_batch_new();
    ds_op *ops = NULL;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        r->busy = 0;
        if (r->hook_waiters) pthread_cond_broadcast(&r->idle);
        while (!r->head && !ops && !r->stopping) {
            r->sleeping = 1;
            pthread_cond_wait(&r->cv, &r->mu);
        }
        r->sleeping = 0;
        if (r->head) { /* append the queue behind what is left over */
            ds_op **tail = &ops;
            while (*tail) tail = &(*tail)->next;
            *tail = r->head;
            r->head = r->tail = NULL;
        }
        int stop = r->stopping && !ops;
        r->busy = !stop;
        g->h = r->hooks;
        g->hud = r->hooks_ud;
        pthread_mutex_unlock(&r->mu);
        if (stop) break;
        ops = run_group(r, g, ops);
    }
    engine_batch_free(g->batch);
    ds_buf_free(&g->old), ds_buf_free(&g->plain), ds_buf_free(&g->sealed), ds_buf_free(&g->tmp);
    ds_buf_free(&g->ival);
    ds_buf_free(&g->mlog);
    ds_free(g->muts);
    ds_free(g->deltas);
    ds_free(g);
    return NULL;
}

void replica_set_hooks(replica *r, const replica_hooks *h, void *ud) {
    pthread_mutex_lock(&r->mu);
    if (h) r->hooks = *h;
    else memset(&r->hooks, 0, sizeof r->hooks);
    r->hooks_ud = ud;
    r->hook_waiters++;
    while (r->busy) pthread_cond_wait(&r->idle, &r->mu);
    r->hook_waiters--;
    pthread_mutex_unlock(&r->mu);
}

typedef struct run_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} run_wait;

static void run_done(ds_op *op) {
    run_wait *w = op->done_arg;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int replica_run(replica *r, ds_op *op) {
    run_wait w;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    w.done = 0;
    op->done = run_done;
    op->done_arg = &w;
    replica_submit(r, op);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return op->status;
}

/* ---- reads ------------------------------------------------------------- */
typedef struct read_item {
    meta_table *tb;
    const void *key;
    size_t klen;
    ds_arena *a;
    item_value **out;
} read_item;

/* Opens (decrypts) and decodes a stored item where the engine holds it,
 * without copying it out first. */
static int open_item(const char *v, size_t n, void *ud) {
    read_item *ri = ud;
    ds_buf pt = DS_BUF_INIT;
    int rc = open_stored(ri->tb, ri->key, ri->klen, v, n, &pt, ri->a, ri->out);
    ds_buf_free(&pt);
    return rc;
}

int replica_read(replica *r, meta_table *tb, const void *key, size_t klen, ds_arena *a,
                 item_value **out) {
    read_item ri = {tb, key, klen, a, out};
    int rc = engine_get_in_place(r->e, ENGINE_CF_DATA, key, klen, open_item, &ri);
    if (rc == DS_ECORRUPT)
        ds_error("stored item fails its integrity check (table %llu)", (unsigned long long)tb->id);
    return rc;
}

int replica_list_where(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                       const ds_buf *start, size_t limit, replica_hash_fn keep, void *keep_ud,
                       ds_arena *a, replica_list_fn fn, void *ud, int *more) {
    engine_iter *it = engine_iter_new(r->e, ENGINE_CF_INDEX, lo->data, lo->len, hi->data, hi->len);
    ds_buf dkey = DS_BUF_INIT;
    size_t n = 0;
    int rc = DS_OK;
    *more = 0;
    engine_iter_seek(it, start->data, start->len);
    for (; engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_key(it, &kl), *v = engine_iter_value(it, &vl);
        if (kl < 8 || !keycodec_index_value_ok(vl)) {
            rc = DS_ECORRUPT;
            break;
        }
        if (keep && !keep(ds_get_u32be(v), keep_ud)) continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        keycodec_data_key_of(&dkey, k, kl, ds_get_u32be(v));
        item_value *item;
        rc = replica_read(r, tb, dkey.data, dkey.len, a, &item);
        if (rc == DS_ENOTFOUND) { /* deleted since the index was read */
            rc = DS_OK;
            continue;
        }
        if (rc) break;
        n++;
        if (fn(k, kl, item, ud)) break;
    }
    if (rc == DS_OK) rc = engine_iter_status(it);
    engine_iter_free(it);
    ds_buf_free(&dkey);
    return rc;
}

int replica_list(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                 const ds_buf *start, size_t limit, ds_arena *a, replica_list_fn fn, void *ud,
                 int *more) {
    return replica_list_where(r, tb, lo, hi, start, limit, NULL, NULL, a, fn, ud, more);
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, DS_MIN(al, bl));
    return c ? c : al < bl ? -1 : al > bl;
}

int replica_range(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                  const ds_buf *after, int reverse, ds_arena *a, replica_range_fn fn, void *ud) {
    engine_iter *it = engine_iter_new(r->e, ENGINE_CF_DATA, lo->data, lo->len, hi->data, hi->len);
    ds_buf pt = DS_BUF_INIT;
    int rc = DS_OK;
    if (!after) reverse ? engine_iter_seek_last(it) : engine_iter_seek_first(it);
    else if (reverse) engine_iter_seek_for_prev(it, after->data, after->len);
    else engine_iter_seek(it, after->data, after->len);
    for (; engine_iter_valid(it); reverse ? engine_iter_prev(it) : engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_key(it, &kl), *v = engine_iter_value(it, &vl);
        if (after && kl == after->len && !memcmp(k, after->data, kl)) continue;
        /* a seek from `after` outside [lo, hi) must not leak other keys */
        if (lo->len && key_cmp(k, kl, lo->data, lo->len) < 0) {
            if (reverse) break;
            continue;
        }
        if (hi->len && key_cmp(k, kl, hi->data, hi->len) >= 0) {
            if (!reverse) break;
            continue;
        }
        item_value *item;
        rc = open_stored(tb, k, kl, v, vl, &pt, a, &item);
        if (rc) {
            ds_error("stored item fails its integrity check (table %llu)",
                     (unsigned long long)tb->id);
            break;
        }
        if (fn(k, kl, item, vl, ud)) break;
    }
    if (rc == DS_OK) rc = engine_iter_status(it);
    engine_iter_free(it);
    ds_buf_free(&pt);
    return rc;
}

int replica_count_where(replica *r, const ds_buf *lo, const ds_buf *hi, replica_hash_fn keep,
                        void *keep_ud, uint64_t *n) {
    engine_iter *it = engine_iter_new(r->e, ENGINE_CF_INDEX, lo->data, lo->len, hi->data, hi->len);
    uint64_t c = 0;
    int rc = DS_OK;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        if (!keep) {
            c++;
            continue;
        }
        size_t vl;
        const char *v = engine_iter_value(it, &vl);
        if (!keycodec_index_value_ok(vl)) {
            rc = DS_ECORRUPT;
            break;
        }
        c += keep(ds_get_u32be(v), keep_ud) != 0;
    }
    if (rc == DS_OK) rc = engine_iter_status(it);
    engine_iter_free(it);
    *n = c;
    return rc;
}

int replica_count(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi, uint64_t *n) {
    (void)tb;
    return replica_count_where(r, lo, hi, NULL, NULL, n);
}

int replica_start(engine *e, replica **out) {
    replica *r = ds_calloc(1, sizeof *r);
    r->e = e;
    r->fsync = 1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_cond_init(&r->idle, NULL);
    if (pthread_create(&r->thread, NULL, writer_main, r)) {
        ds_free(r);
        return DS_EIO;
    }
    pthread_setname_np(r->thread, "ds-writer");
    *out = r;
    return DS_OK;
}

void replica_set_fsync(replica *r, int on) { r->fsync = on; }

void replica_submit(replica *r, ds_op *op) {
    op->next = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->stopping) {
        pthread_mutex_unlock(&r->mu);
        op->status = DS_ESTATE;
        op->done(op);
        return;
    }
    atomic_fetch_add(&r->pending, 1);
    if (r->tail) r->tail->next = op;
    else r->head = op;
    r->tail = op;
    /* Wake the writer once, and after unlocking: woken while the mutex is
     * still held, it would only block again on the mutex (a second switch
     * per wake-up, ~3,500 a second under a 4 KB put load). It rechecks the
     * queue under the mutex, so no submit is missed; replica_stop waits for
     * `waking` so that r outlives the signal. */
    int wake = r->sleeping;
    r->sleeping = 0;
    if (wake) atomic_fetch_add(&r->waking, 1);
    pthread_mutex_unlock(&r->mu);
    if (wake) {
        pthread_cond_signal(&r->cv);
        atomic_fetch_sub(&r->waking, 1);
    }
}

long replica_pending(const replica *r) { return atomic_load(&((replica *)r)->pending); }

void replica_get_stats(const replica *r, replica_stats *out) {
    replica *m = (replica *)r;
    out->ops = atomic_load(&m->ops);
    out->groups = atomic_load(&m->groups);
    out->syncs = atomic_load(&m->syncs);
    out->eval_us = atomic_load(&m->eval_us);
    out->commit_us = atomic_load(&m->commit_us);
}

void replica_stop(replica *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    while (atomic_load(&r->waking)) sched_yield(); /* a submit still signalling */
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->idle);
    ds_free(r);
}
