/* meta_etcd.c -- meta's etcd backend (cluster mode): tenants, tables and
 * their keys kept in etcd under "meta/", shared by every proxy and node.
 *
 * Layout, compares and key derivations: meta.h. What this file does:
 *
 *   load    one etcd_range of "meta/" at revision R, applied record by
 *           record (Ktc first, then n/table_id, tenants, tables);
 *   commit  one etcd_txn per change, whose compares make it fail instead of
 *           overwriting what another process did meanwhile; a failed compare
 *           re-reads and answers DS_EEXIST / DS_ENOTFOUND or retries;
 *   watch   from R+1: every PUT and DELETE under "meta/".
 *
 * Every record change reaches memory through one function, apply_kv() --
 * the load, the results of this process's own txns (applied as soon as the
 * txn succeeds, so a change is visible here when the call returns) and the
 * watch events -- so changes made here and elsewhere take the same path.
 *
 * Applying twice is harmless: a tenant or table carries the mod revision of
 * its record (rev) and an older or equal one changes nothing. What must not
 * happen is a stale event undoing a newer local change: the watch may still
 * be delivering revision 10 (a table created elsewhere) when this process
 * has already dropped that table at revision 11. So a local change at
 * revision R that the watch has not reached yet is noted in es.seen (record
 * key -> R); watch events for that key older than R are skipped, and the
 * event at R itself clears the note.
 *
 * A table that disappears (dropped, or its tenant dropped, here or
 * elsewhere) is marked dropped, leaves the maps, and when this process is a
 * node (m->r) gets a DS_OP_DROP_TABLE op that range-deletes its local data
 * and statistics. Objects leaving the maps stay valid for reference holders.
 *
 * If etcd compacts past the watch (ETCD_EV_RESYNC), the watch thread reads
 * everything again at a revision R2, drops what is gone (unless it is newer
 * than R2: a local change), applies the rest, and skips events up to R2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "control/meta_int.h"
#include "crypto/crypto.h"

#define PFX "meta/"
#define PFX_LEN 5
#define TXN_MAX_OPS 128      /* etcd's default --max-txn-ops */
#define MAX_ATTEMPTS 100     /* lost races (failed compares) before DS_EBUSY */

/* ---- snapshots: every record under a prefix at one revision -------------- */
typedef struct snap_kv {
    char *k, *v; /* record key (no "meta/"), value */
    size_t kl, vl;
    int64_t rev;
} snap_kv;

typedef struct snapshot {
    snap_kv *v;
    size_t n, cap;
    int64_t rev;
} snapshot;

static int snap_add(const char *key, size_t klen, const char *val, size_t vlen, int64_t mod_rev,
                    void *ud) {
    snapshot *s = ud;
    if (klen < PFX_LEN || memcmp(key, PFX, PFX_LEN)) return 0;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = ds_realloc(s->v, s->cap * sizeof *s->v);
    }
    snap_kv *kv = &s->v[s->n++];
    kv->kl = klen - PFX_LEN;
    kv->k = ds_strndup(key + PFX_LEN, kv->kl);
    kv->vl = vlen;
    kv->v = ds_malloc(vlen + 1);
    memcpy(kv->v, val, vlen);
    kv->v[vlen] = 0;
    kv->rev = mod_rev;
    return 0;
}

static void snap_free(snapshot *s) {
    for (size_t i = 0; i < s->n; i++) ds_free(s->v[i].k), ds_free(s->v[i].v);
    ds_free(s->v);
    memset(s, 0, sizeof *s);
}

/* Reads every record whose key starts with rprefix (a record key prefix). */
static int snap_read(meta *m, const char *rprefix, snapshot *s) {
    ds_buf p = DS_BUF_INIT;
    ds_buf_printf(&p, PFX "%s", rprefix);
    int rc;
    for (int i = 0; i < 5; i++) { /* DS_ERANGE: compacted between pages */
        snap_free(s);
        rc = etcd_range(m->ec, p.data, p.len, snap_add, s, &s->rev);
        if (rc != DS_ERANGE) break;
    }
    ds_buf_free(&p);
    return rc;
}

/* ---- transactions --------------------------------------------------------- */
typedef struct tcmp {
    ds_buf key; /* with "meta/" */
    etcd_cmp_target target;
    int64_t rev;
} tcmp;

typedef struct txn {
    meta__muts mu; /* record keys, without "meta/" */
    tcmp *c;
    size_t nc, cc;
} txn;

static void txn_cmp(txn *x, const ds_buf *rkey, etcd_cmp_target target, int64_t rev) {
    if (x->nc == x->cc) {
        x->cc = x->cc ? x->cc * 2 : 4;
        x->c = ds_realloc(x->c, x->cc * sizeof *x->c);
    }
    tcmp *c = &x->c[x->nc++];
    ds_buf_init(&c->key);
    ds_buf_puts(&c->key, PFX);
    ds_buf_append(&c->key, rkey->data, rkey->len);
    c->target = target;
    c->rev = rev;
}

static void txn_free(txn *x) {
    meta__muts_free(&x->mu);
    for (size_t i = 0; i < x->nc; i++) ds_buf_free(&x->c[i].key);
    ds_free(x->c);
    memset(x, 0, sizeof *x);
}

/* Runs x as one etcd txn. DS_OK (*rev: its revision), DS_ECONDITION, or an
 * etcd error (outcome unknown). */
static int txn_commit(meta *m, const txn *x, int64_t *rev) {
    etcd_cmp *cmps = ds_calloc(x->nc + 1, sizeof *cmps);
    etcd_op *ops = ds_calloc(x->mu.n + 1, sizeof *ops);
    ds_buf *keys = ds_calloc(x->mu.n + 1, sizeof *keys);
    for (size_t i = 0; i < x->nc; i++)
        cmps[i] = (etcd_cmp){.key = x->c[i].key.data, .klen = x->c[i].key.len,
                             .target = x->c[i].target, .rev = x->c[i].rev};
    for (size_t i = 0; i < x->mu.n; i++) {
        const meta__mut *mt = &x->mu.v[i];
        ds_buf_puts(&keys[i], PFX);
        ds_buf_append(&keys[i], mt->key.data, mt->key.len);
        ops[i] = (etcd_op){.key = keys[i].data, .klen = keys[i].len, .val = mt->val.data,
                           .vlen = mt->val.len, .is_delete = mt->is_delete};
    }
    int rc = etcd_txn(m->ec, cmps, x->nc, ops, x->mu.n, rev);
    for (size_t i = 0; i < x->mu.n; i++) ds_buf_free(&keys[i]);
    ds_free(keys), ds_free(ops), ds_free(cmps);
    return rc;
}

/* etcd_get of a record key. */
static int get_record(meta *m, const ds_buf *rkey, ds_buf *val, int64_t *mod_rev) {
    ds_buf k = DS_BUF_INIT;
    ds_buf_puts(&k, PFX);
    ds_buf_append(&k, rkey->data, rkey->len);
    int rc = etcd_get(m->ec, k.data, k.len, val, mod_rev);
    ds_buf_free(&k);
    return rc;
}

/* ---- applying record changes to memory ------------------------------------ */
/* What an apply did that must be finished without the lock held. */
typedef struct changes {
    meta_table **gone; /* dropped tables, each with the maps' former reference */
    size_t n, cap;
    int added;         /* tables were added: wake meta_table_wait_id() */
} changes;

static void drop_table_mem(meta *m, meta_table *tb, changes *ch) {
    atomic_store(&tb->dropped, 1);
    if (!meta__unindex_table(m, tb)) return;
    if (ch->n == ch->cap) {
        ch->cap = ch->cap ? ch->cap * 2 : 8;
        ch->gone = ds_realloc(ch->gone, ch->cap * sizeof *ch->gone);
    }
    ch->gone[ch->n++] = tb;
}

static void drop_tenant_mem(meta *m, meta_tenant *t, changes *ch) {
    meta_table **v;
    size_t n;
    atomic_store(&t->dropped, 1);
    meta__tables_of(m, t, &v, &n);
    for (size_t i = 0; i < n; i++) {
        drop_table_mem(m, v[i], ch);
        meta_table_release(v[i]);
    }
    ds_free(v);
    if (meta__unindex_tenant(m, t)) meta_tenant_release(t);
}

/* Range-deletes the local data of the tables that went (wait: until the
 * writer is done), wakes waiters, frees ch. Without m->lock. */
static void finish(meta *m, changes *ch, int wait) {
    if (ch->added) meta__tables_added(m);
    for (size_t i = 0; i < ch->n; i++) {
        meta__muts mu = {0};
        meta_stats_key(&meta__mut_new(&mu, 1)->key, ch->gone[i]->id);
        meta__drop_data(m, ch->gone[i], &mu, wait);
        meta__muts_free(&mu);
        meta_table_release(ch->gone[i]);
    }
    ds_free(ch->gone);
    memset(ch, 0, sizeof *ch);
}

static int has_prefix(const char *k, size_t kl, const char *p) {
    size_t pl = strlen(p);
    return kl >= pl && !memcmp(k, p, pl);
}

static int apply_ktc(meta *m, int del, const char *name, size_t nl, const char *v, size_t vl) {
    ds_buf *old = dict_del(m->es.ktc, name, nl);
    if (old) ds_buf_free(old), ds_free(old);
    if (!del) {
        ds_buf *b = ds_calloc(1, sizeof *b);
        ds_buf_append(b, v, vl);
        dict_set(m->es.ktc, name, nl, b);
    }
    return DS_OK;
}

static int apply_tenant(meta *m, int del, const char *k, size_t kl, const char *v, size_t vl,
                        int64_t rev, changes *ch, char *err, size_t errlen) {
    const char *name = k + 2;
    size_t nl = kl - 2;
    meta_tenant *old = dict_get(m->tenants, name, nl), *t;
    if (del) {
        if (old) drop_tenant_mem(m, old, ch);
        return DS_OK;
    }
    if (old && old->rev >= rev) return DS_OK;
    ds_buf *sealed = dict_get(m->es.ktc, name, nl), ck = DS_BUF_INIT, ktc = DS_BUF_INIT;
    int rc = DS_ENOTFOUND;
    ds_buf_printf(&ck, "ctl/tenant/%.*s", (int)nl, name);
    if (sealed) rc = crypto_open(&ktc, m->control_key, ck.data, ck.len, sealed->data, sealed->len);
    if (rc == DS_OK && ktc.len != 32) rc = DS_ECORRUPT;
    if (rc) snprintf(err, errlen, "tenant %.*s: its control-plane key (%s) %s: %s", (int)nl,
                     name, ck.data, sealed ? "does not open with the cluster key" : "is missing",
                     ds_strerror(rc));
    else rc = meta__tenant_parse(m, k, kl, v, vl, (const uint8_t *)ktc.data, &t, err, errlen);
    if (ktc.data) crypto_wipe(ktc.data, ktc.len);
    ds_buf_free(&ktc), ds_buf_free(&ck);
    if (rc) return rc;
    t->rev = rev;
    if (old && !memcmp(old->ktn, t->ktn, 32)) { /* the same tenant, written again */
        old->rev = rev;
        meta_tenant_release(t);
        return DS_OK;
    }
    if (old) drop_tenant_mem(m, old, ch); /* re-created while we were not looking */
    meta__index_tenant(m, t);
    return DS_OK;
}

static int apply_table(meta *m, int del, const char *k, size_t kl, const char *v, size_t vl,
                       int64_t rev, changes *ch, char *err, size_t errlen) {
    /* the maps' key "tenant/table" is the record key without "T/" */
    meta_table *old = dict_get(m->tables, k + 2, kl - 2), *tb;
    const char *slash = memchr(k + 2, '/', kl - 2);
    meta_tenant *t = slash ? dict_get(m->tenants, k + 2, (size_t)(slash - (k + 2))) : NULL;
    if (del || (old && old->tenant != t)) {
        if (old) drop_table_mem(m, old, ch);
        old = NULL;
        if (del) return DS_OK;
    }
    if (!t) return DS_OK; /* its tenant is gone: a leftover, reaped at the next load */
    if (old && old->rev >= rev) return DS_OK;
    int rc = meta__table_parse(k, kl, v, vl, t, &tb, err, errlen);
    if (rc) return rc;
    tb->rev = rev;
    if (old && old->id == tb->id) { /* new settings (extra) for the same table */
        char *x = old->extra;
        old->extra = tb->extra;
        tb->extra = x;
        old->rev = rev;
        meta_table_release(tb);
        return DS_OK;
    }
    if (old) drop_table_mem(m, old, ch); /* dropped and re-created meanwhile */
    meta__load_stats(m, tb);
    meta__index_table(m, tb);
    ch->added = 1;
    return DS_OK;
}

/* Applies one record change at revision rev (m->lock held for writing). */
static int apply_kv(meta *m, int del, const char *k, size_t kl, const char *v, size_t vl,
                    int64_t rev, changes *ch, char *err, size_t errlen) {
    if (has_prefix(k, kl, "ctl/tenant/"))
        return apply_ktc(m, del, k + 11, kl - 11, v, vl);
    if (has_prefix(k, kl, "t/") && kl > 2)
        return apply_tenant(m, del, k, kl, v, vl, rev, ch, err, errlen);
    if (has_prefix(k, kl, "T/") && kl > 2)
        return apply_table(m, del, k, kl, v, vl, rev, ch, err, errlen);
    if (kl == 10 && !memcmp(k, "n/table_id", 10) && !del && vl == 8 &&
        rev > m->es.table_id_rev) {
        m->next_table_id = ds_get_u64be(v);
        m->es.table_id_rev = rev;
    }
    return DS_OK; /* k/ (the access key index) and anything else: nothing in memory */
}

/* Whether a watch or snapshot change of k at rev must be applied, given
 * the local changes noted in es.seen (see the top of the file). */
static int seen_check(meta *m, const char *k, size_t kl, int64_t rev) {
    void *s = dict_get(m->es.seen, k, kl);
    if (!s) return 1;
    int64_t srev = (int64_t)(intptr_t)s;
    if (rev < srev) return 0; /* stale: our newer change is applied */
    dict_del(m->es.seen, k, kl);
    return rev > srev;
}

/* Applies the mutations of this process's txn at its revision rev, and
 * finishes (waiting for the local range deletes of dropped tables). */
static void apply_local(meta *m, const meta__muts *mu, int64_t rev) {
    changes ch = {0};
    char err[256];
    pthread_rwlock_wrlock(&m->lock);
    for (size_t i = 0; i < mu->n; i++) {
        const meta__mut *x = &mu->v[i];
        if (apply_kv(m, x->is_delete, x->key.data, x->key.len, x->val.data, x->val.len, rev, &ch,
                     err, sizeof err))
            ds_warn("metadata: %s", err);
        if (m->es.watch_rev < rev)
            dict_set(m->es.seen, x->key.data, x->key.len, (void *)(intptr_t)rev);
    }
    pthread_rwlock_unlock(&m->lock);
    finish(m, &ch, 1);
}

/* The order a snapshot is applied in: Ktc and the id counter, then tenants,
 * then tables (which need their tenant); -1: nothing to apply. */
static int phase(const snap_kv *kv) {
    if (has_prefix(kv->k, kv->kl, "ctl/tenant/") || has_prefix(kv->k, kv->kl, "n/")) return 0;
    if (has_prefix(kv->k, kv->kl, "t/")) return 1;
    if (has_prefix(kv->k, kv->kl, "T/")) return 2;
    return -1;
}

/* Applies a snapshot (m->lock held for writing). strict: the first record
 * that does not parse is an error; otherwise it is logged and skipped. */
static int apply_snapshot(meta *m, const snapshot *s, changes *ch, int strict, char *err,
                          size_t errlen) {
    for (int p = 0; p < 3; p++)
        for (size_t i = 0; i < s->n; i++) {
            const snap_kv *kv = &s->v[i];
            if (phase(kv) != p || !seen_check(m, kv->k, kv->kl, kv->rev)) continue;
            int rc = apply_kv(m, 0, kv->k, kv->kl, kv->v, kv->vl, kv->rev, ch, err, errlen);
            if (rc && strict) return rc;
            if (rc) ds_warn("metadata: %s", err);
        }
    return DS_OK;
}

/* ---- deleting leftovers --------------------------------------------------- */
/* Deletes the records keys[0..n) (n <= TXN_MAX_OPS) in one txn if each
 * still has the mod revision in revs, and applies the deletes here. */
static int delete_batch(meta *m, char **keys, const size_t *kls, const int64_t *revs, size_t n) {
    txn x = {0};
    int64_t rev;
    for (size_t i = 0; i < n; i++) {
        meta__mut *d = meta__mut_new(&x.mu, 1);
        ds_buf_append(&d->key, keys[i], kls[i]);
        txn_cmp(&x, &d->key, ETCD_CMP_MOD_REV, revs[i]);
    }
    int rc = txn_commit(m, &x, &rev);
    if (rc == DS_OK) apply_local(m, &x.mu, rev);
    txn_free(&x);
    return rc;
}

/* Deletes every record of keys[0..n) that still has its revision in revs;
 * one that changed meanwhile is left alone. Best effort: errors are logged
 * by the etcd client. */
static void delete_unchanged(meta *m, char **keys, const size_t *kls, const int64_t *revs,
                             size_t n) {
    for (size_t i = 0; i < n; i += TXN_MAX_OPS) {
        size_t k = DS_MIN(n - i, (size_t)TXN_MAX_OPS);
        if (delete_batch(m, keys + i, kls + i, revs + i, k) == DS_ECONDITION)
            for (size_t j = i; j < i + k; j++) /* one changed: the others still go */
                delete_batch(m, keys + j, kls + j, revs + j, 1);
    }
}

/* Table records left behind without their tenant (a tenant drop with more
 * tables than one txn holds, interrupted): deleted at load. */
static void reap_orphans(meta *m, const snapshot *s) {
    char **keys = ds_calloc(s->n + 1, sizeof *keys);
    size_t *kls = ds_calloc(s->n + 1, sizeof *kls), n = 0;
    int64_t *revs = ds_calloc(s->n + 1, sizeof *revs);
    pthread_rwlock_rdlock(&m->lock);
    for (size_t i = 0; i < s->n; i++) {
        const snap_kv *kv = &s->v[i];
        if (phase(kv) != 2) continue;
        const char *slash = memchr(kv->k + 2, '/', kv->kl - 2);
        if (slash && dict_get(m->tenants, kv->k + 2, (size_t)(slash - (kv->k + 2)))) continue;
        keys[n] = kv->k, kls[n] = kv->kl, revs[n] = kv->rev, n++;
    }
    pthread_rwlock_unlock(&m->lock);
    if (n) {
        ds_info("metadata: deleting %zu table records left by a dropped tenant", n);
        delete_unchanged(m, keys, kls, revs, n);
    }
    ds_free(keys), ds_free(kls), ds_free(revs);
}

/* ---- the watch -------------------------------------------------------------- */
/* What a re-read no longer has: collected first, dropped after the walk. */
typedef struct sweep_ctx {
    dict *present; /* record keys in the snapshot */
    int64_t rev;   /* the snapshot's: anything newer is a local change */
    void **v;
    size_t n, cap;
} sweep_ctx;

static void sweep_push(sweep_ctx *c, void *obj) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = ds_realloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = obj;
}

static int sweep_tenant(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l;
    sweep_ctx *c = ud;
    meta_tenant *t = v;
    ds_buf rk = DS_BUF_INIT;
    meta__tenant_key(&rk, t->name);
    if (!dict_get(c->present, rk.data, rk.len) && t->rev <= c->rev) sweep_push(c, t);
    ds_buf_free(&rk);
    return 0;
}

static int sweep_table(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l;
    sweep_ctx *c = ud;
    meta_table *tb = v;
    ds_buf rk = DS_BUF_INIT;
    meta__table_key(&rk, tb->tenant->name, tb->name);
    if (!dict_get(c->present, rk.data, rk.len) && tb->rev <= c->rev) sweep_push(c, tb);
    ds_buf_free(&rk);
    return 0;
}

typedef struct old_seen {
    int64_t rev;
    ds_buf keys; /* NUL-terminated, one after another */
} old_seen;

static int collect_old_seen(const void *k, size_t l, void *v, void *ud) {
    old_seen *o = ud;
    if ((int64_t)(intptr_t)v <= o->rev) ds_buf_append(&o->keys, k, l), ds_buf_putc(&o->keys, 0);
    return 0;
}

/* Events were lost (etcd compacted past the watch): read everything again
 * and make memory match it. On the watch thread. */
static void resync(meta *m) {
    snapshot s = {0};
    int rc = DS_EIO;
    for (int i = 0; i < 10 && rc; i++) {
        if (i) {
            struct timespec ts = {0, 300 * 1000000L};
            nanosleep(&ts, NULL);
        }
        rc = snap_read(m, "", &s);
    }
    if (rc) {
        ds_error("metadata: cannot re-read etcd after a compaction (%s); changes made "
                 "meanwhile by other processes stay unseen until the next one",
                 ds_strerror(rc));
        snap_free(&s);
        return;
    }
    changes ch = {0};
    char err[256];
    sweep_ctx c = {.present = dict_new(), .rev = s.rev};
    for (size_t i = 0; i < s.n; i++) dict_set(c.present, s.v[i].k, s.v[i].kl, &s.v[i]);
    pthread_rwlock_wrlock(&m->lock);
    /* what is gone from etcd goes from memory, unless it is a local change
     * newer than the re-read */
    dict_each(m->tables, sweep_table, &c);
    for (size_t i = 0; i < c.n; i++) drop_table_mem(m, c.v[i], &ch);
    c.n = 0;
    dict_each(m->tenants, sweep_tenant, &c);
    for (size_t i = 0; i < c.n; i++) drop_tenant_mem(m, c.v[i], &ch);
    apply_snapshot(m, &s, &ch, 0, err, sizeof err);
    old_seen o = {.rev = s.rev, .keys = DS_BUF_INIT};
    dict_each(m->es.seen, collect_old_seen, &o);
    for (const char *p = o.keys.data, *end = p + o.keys.len; p && p < end; p += strlen(p) + 1)
        dict_del(m->es.seen, p, strlen(p));
    m->es.skip_until = s.rev;
    if (m->es.watch_rev < s.rev) m->es.watch_rev = s.rev;
    pthread_rwlock_unlock(&m->lock);
    finish(m, &ch, 0);
    atomic_fetch_add(&m->es.resyncs, 1);
    ds_info("metadata: re-read at revision %lld after etcd compacted past the watch",
            (long long)s.rev);
    ds_buf_free(&o.keys);
    ds_free(c.v);
    dict_free(c.present);
    snap_free(&s);
}

/* A tenant record may only be applied with its Ktc; our txns write ctl/
 * before t/, but fetch it if the cache lacks it. */
static void prefetch_ktc(meta *m, const char *name, size_t nl) {
    pthread_rwlock_rdlock(&m->lock);
    int have = dict_get(m->es.ktc, name, nl) != NULL;
    pthread_rwlock_unlock(&m->lock);
    if (have) return;
    ds_buf rk = DS_BUF_INIT, v = DS_BUF_INIT;
    ds_buf_printf(&rk, "ctl/tenant/%.*s", (int)nl, name);
    if (get_record(m, &rk, &v, NULL) == DS_OK) {
        pthread_rwlock_wrlock(&m->lock);
        if (!dict_get(m->es.ktc, name, nl)) apply_ktc(m, 0, name, nl, v.data, v.len);
        pthread_rwlock_unlock(&m->lock);
    }
    ds_buf_free(&rk), ds_buf_free(&v);
}

static void on_event(etcd_ev ev, const char *key, size_t klen, const char *val, size_t vlen,
                     int64_t rev, void *ud) {
    meta *m = ud;
    if (ev == ETCD_EV_RESYNC) {
        resync(m);
        return;
    }
    if (klen < PFX_LEN || memcmp(key, PFX, PFX_LEN)) return;
    const char *k = key + PFX_LEN;
    size_t kl = klen - PFX_LEN;
    int del = ev == ETCD_EV_DELETE;
    if (!del && kl > 2 && has_prefix(k, kl, "t/")) prefetch_ktc(m, k + 2, kl - 2);
    changes ch = {0};
    char err[256];
    pthread_rwlock_wrlock(&m->lock);
    if (rev > m->es.skip_until && seen_check(m, k, kl, rev) &&
        apply_kv(m, del, k, kl, val, vlen, rev, &ch, err, sizeof err))
        ds_warn("metadata: ignoring a change of %.*s: %s", (int)kl, k, err);
    if (m->es.watch_rev < rev) m->es.watch_rev = rev;
    pthread_rwlock_unlock(&m->lock);
    finish(m, &ch, 0);
}

/* ---- open and close --------------------------------------------------------- */
int meta__etcd_start(meta *m, char *err, size_t errlen) {
    m->es.ktc = dict_new();
    m->es.seen = dict_new();
    snapshot s = {0};
    changes ch = {0};
    int rc = snap_read(m, "", &s);
    if (rc) {
        snprintf(err, errlen, "cannot read the metadata from etcd: %s (%s)", ds_strerror(rc),
                 etcd_errmsg());
        goto out;
    }
    pthread_rwlock_wrlock(&m->lock);
    rc = apply_snapshot(m, &s, &ch, 1, err, errlen);
    m->es.watch_rev = s.rev;
    pthread_rwlock_unlock(&m->lock);
    if (rc) goto out;
    rc = etcd_watch_start(m->ec, PFX, PFX_LEN, s.rev + 1, on_event, m, &m->es.watch);
    if (rc) {
        snprintf(err, errlen, "cannot watch the metadata in etcd: %s (%s)", ds_strerror(rc),
                 etcd_errmsg());
        goto out;
    }
    reap_orphans(m, &s);
out:
    finish(m, &ch, 0);
    snap_free(&s);
    return rc;
}

static int free_ktc(const void *k, size_t l, void *v, void *ud) {
    (void)k, (void)l, (void)ud;
    ds_buf_free(v);
    ds_free(v);
    return 0;
}

void meta__etcd_stop(meta *m) {
    etcd_watch_stop(m->es.watch);
    m->es.watch = NULL;
    if (m->es.ktc) dict_each(m->es.ktc, free_ktc, NULL), dict_free(m->es.ktc);
    if (m->es.seen) dict_free(m->es.seen);
    m->es.ktc = m->es.seen = NULL;
}

long meta__etcd_resyncs(meta *m) { return atomic_load(&m->es.resyncs); }

/* ---- tenants ---------------------------------------------------------------- */
int meta__etcd_tenant_create(meta *m, meta_tenant *t, meta_tenant **out) {
    txn x = {0};
    uint8_t ktc[32];
    int64_t rev;
    crypto_random(ktc, 32);
    meta__tenant_data_key(m, t, ktc);
    meta__mut *c = meta__mut_new(&x.mu, 0);
    meta__ctl_tenant_key(&c->key, t->name);
    int rc = crypto_seal(&c->val, m->control_key, c->key.data, c->key.len, ktc, 32);
    crypto_wipe(ktc, sizeof ktc);
    meta__mut *r = meta__mut_new(&x.mu, 0);
    meta__tenant_key(&r->key, t->name);
    if (rc == DS_OK) rc = meta__tenant_record(m, t, &r->key, &r->val);
    txn_cmp(&x, &r->key, ETCD_CMP_CREATE_REV, 0);
    meta__mut *a = meta__mut_new(&x.mu, 0);
    ds_buf_printf(&a->key, "k/%s", t->access_key);
    ds_buf_puts(&a->val, t->name);
    txn_cmp(&x, &a->key, ETCD_CMP_CREATE_REV, 0);
    if (rc == DS_OK) rc = txn_commit(m, &x, &rev);
    if (rc == DS_ECONDITION) rc = DS_EEXIST; /* the name or the access key */
    if (rc == DS_OK) {
        apply_local(m, &x.mu, rev);
        meta_tenant *in = meta_tenant_get(m, t->name, strlen(t->name));
        if (in && in->rev != rev) meta_tenant_release(in), in = NULL;
        if (!in) { /* dropped by another process already: hand back ours */
            atomic_init(&t->refs, 1);
            atomic_store(&t->dropped, 1);
            t->rev = rev;
            in = t, t = NULL;
        }
        if (out) *out = in;
        else meta_tenant_release(in);
    }
    txn_free(&x);
    if (t) crypto_wipe(t, sizeof *t), ds_free(t);
    return rc;
}

/* The access key in the sealed tenant record v of key rk. */
static int record_access_key(meta *m, const ds_buf *rk, const ds_buf *v, ds_buf *ak) {
    ds_buf pt = DS_BUF_INIT;
    ds_arena *a = ds_arena_new(1024);
    json_value *j;
    char jerr[64];
    int rc = crypto_open(&pt, m->meta_key, rk->data, rk->len, v->data, v->len);
    if (rc == DS_OK) rc = json_parse(a, pt.data, pt.len, 0, &j, jerr, sizeof jerr);
    const json_value *x = rc == DS_OK ? json_get(j, "accessKeyId") : NULL;
    if (rc == DS_OK && (!x || x->type != JSON_STRING)) rc = DS_ECORRUPT;
    if (rc == DS_OK) ds_buf_append(ak, x->u.str.s, x->u.str.len);
    if (pt.data) crypto_wipe(pt.data, pt.len);
    ds_buf_free(&pt);
    ds_arena_free(a);
    return rc;
}

int meta__etcd_tenant_drop(meta *m, const char *name, size_t len) {
    if (!meta_valid_tenant_name(name, len)) return DS_ENOTFOUND;
    ds_buf tk = DS_BUF_INIT, nk = DS_BUF_INIT, tp = DS_BUF_INIT;
    ds_buf_printf(&tk, "t/%.*s", (int)len, name);
    ds_buf_puts(&nk, "n/table_id");
    ds_buf_printf(&tp, "T/%.*s/", (int)len, name);
    int rc = DS_EBUSY;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        ds_buf v = DS_BUF_INIT, ak = DS_BUF_INIT;
        snapshot tables = {0};
        txn x = {0};
        int64_t trev = 0, idrev = 0, rev;
        /* the tenant, the id counter, then its tables: a table created after
         * the counter was read changes the counter, and the txn fails */
        rc = get_record(m, &tk, &v, &trev);
        if (rc == DS_OK) rc = record_access_key(m, &tk, &v, &ak);
        if (rc == DS_OK) rc = get_record(m, &nk, NULL, &idrev);
        if (rc == DS_ENOTFOUND && trev) rc = DS_OK, idrev = 0;
        if (rc == DS_OK) rc = snap_read(m, tp.data, &tables);
        if (rc == DS_OK) {
            ds_buf_printf(&meta__mut_new(&x.mu, 1)->key, "ctl/tenant/%.*s", (int)len, name);
            ds_buf_append(&meta__mut_new(&x.mu, 1)->key, tk.data, tk.len);
            ds_buf_printf(&meta__mut_new(&x.mu, 1)->key, "k/%.*s", (int)ak.len, ak.data);
            txn_cmp(&x, &tk, ETCD_CMP_MOD_REV, trev);
            txn_cmp(&x, &nk, ETCD_CMP_MOD_REV, idrev);
            size_t first = DS_MIN(tables.n, (size_t)TXN_MAX_OPS - 3);
            for (size_t i = 0; i < first; i++)
                ds_buf_append(&meta__mut_new(&x.mu, 1)->key, tables.v[i].k, tables.v[i].kl);
            rc = txn_commit(m, &x, &rev);
            if (rc == DS_OK) {
                apply_local(m, &x.mu, rev);
                /* the rest: no table can be created under the old tenant now */
                size_t rest = tables.n - first;
                char **keys = ds_calloc(rest + 1, sizeof *keys);
                size_t *kls = ds_calloc(rest + 1, sizeof *kls);
                int64_t *revs = ds_calloc(rest + 1, sizeof *revs);
                for (size_t i = 0; i < rest; i++) {
                    snap_kv *kv = &tables.v[first + i];
                    keys[i] = kv->k, kls[i] = kv->kl, revs[i] = kv->rev;
                }
                if (rest) delete_unchanged(m, keys, kls, revs, rest);
                ds_free(keys), ds_free(kls), ds_free(revs);
            }
        }
        txn_free(&x);
        snap_free(&tables);
        ds_buf_free(&v), ds_buf_free(&ak);
        if (rc != DS_ECONDITION) break;
        rc = DS_EBUSY;
    }
    ds_buf_free(&tk), ds_buf_free(&nk), ds_buf_free(&tp);
    return rc;
}

/* ---- tables --------------------------------------------------------------- */
static uint64_t record_table_id(const char *v, size_t vl) {
    ds_arena *a = ds_arena_new(1024);
    json_value *j;
    char jerr[64];
    uint64_t id = 0;
    if (json_parse(a, v, vl, 0, &j, jerr, sizeof jerr) == DS_OK) {
        const json_value *x = json_get(j, "id");
        if (x && x->type == JSON_NUMBER) id = strtoull(x->u.str.s, NULL, 10);
    }
    ds_arena_free(a);
    return id;
}

/* After a failed table-create txn: DS_EEXIST if the name is taken,
 * DS_ENOTFOUND if the tenant is gone, else DS_OK with the id counter
 * re-read (retry). */
static int create_refresh(meta *m, meta_tenant *t, const ds_buf *tk, const ds_buf *rk,
                          int64_t trev) {
    ds_buf v = DS_BUF_INIT, nk = DS_BUF_INIT;
    int64_t mr = 0;
    int rc = get_record(m, rk, NULL, NULL);
    if (rc == DS_OK) rc = DS_EEXIST;
    else if (rc == DS_ENOTFOUND) {
        rc = get_record(m, tk, NULL, &mr);
        if (rc == DS_ENOTFOUND || (rc == DS_OK && mr != trev)) {
            atomic_store(&t->dropped, 1);
            rc = DS_ENOTFOUND;
        }
    }
    if (rc == DS_OK) {
        ds_buf_puts(&nk, "n/table_id");
        rc = get_record(m, &nk, &v, &mr);
        pthread_rwlock_wrlock(&m->lock);
        if (rc == DS_OK && v.len == 8 && mr > m->es.table_id_rev) {
            m->next_table_id = ds_get_u64be(v.data);
            m->es.table_id_rev = mr;
        }
        pthread_rwlock_unlock(&m->lock);
        if (rc == DS_ENOTFOUND) rc = DS_OK; /* not yet created: compares with 0 */
    }
    ds_buf_free(&v), ds_buf_free(&nk);
    return rc;
}

int meta__etcd_table_create(meta *m, meta_tenant *t, meta_table *tb, meta_table **out) {
    ds_buf tk = DS_BUF_INIT, nk = DS_BUF_INIT;
    meta__tenant_key(&tk, t->name);
    ds_buf_puts(&nk, "n/table_id");
    int rc = DS_EBUSY;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        txn x = {0};
        int64_t idrev, trev, rev;
        pthread_rwlock_rdlock(&m->lock);
        tb->id = m->next_table_id;
        idrev = m->es.table_id_rev;
        trev = t->rev;
        pthread_rwlock_unlock(&m->lock);
        /* T/ first: a watcher that sees the new counter has seen the table */
        meta__mut *r = meta__mut_new(&x.mu, 0);
        meta__table_key(&r->key, t->name, tb->name);
        meta__table_record(&r->val, tb, tb->extra);
        meta__mut *n = meta__mut_new(&x.mu, 0);
        ds_buf_append(&n->key, nk.data, nk.len);
        ds_buf_put_u64be(&n->val, tb->id + 1);
        txn_cmp(&x, &x.mu.v[0].key, ETCD_CMP_CREATE_REV, 0);
        txn_cmp(&x, &nk, ETCD_CMP_MOD_REV, idrev);
        txn_cmp(&x, &tk, ETCD_CMP_MOD_REV, trev);
        int committed = 0;
        rc = txn_commit(m, &x, &rev);
        if (rc == DS_OK) apply_local(m, &x.mu, rev), committed = 1;
        else if (rc == DS_ECONDITION) rc = create_refresh(m, t, &tk, &x.mu.v[0].key, trev);
        txn_free(&x);
        if (committed) { /* hand out the table as applied from its record */
            meta_table *in = meta_table_by_id(m, tb->id);
            if (!in) { /* dropped by another process already */
                atomic_store(&tb->dropped, 1);
                meta_table_retain(tb);
                in = tb;
            }
            if (out) *out = in;
            else meta_table_release(in);
            break;
        }
        if (rc != DS_OK) break; /* DS_OK: the counter was re-read, try again */
        rc = DS_EBUSY;
    }
    meta_table_release(tb);
    ds_buf_free(&tk), ds_buf_free(&nk);
    return rc;
}

/* Commits a change of table tb's record (a put of value, or a delete when
 * value is NULL) against the record's revision, re-reading it after a lost
 * race. DS_ENOTFOUND once the record is gone, or for a put when it names
 * another table (a drop by name drops whatever table has the name now). */
static int table_change(meta *m, meta_table *tb, const ds_buf *value) {
    pthread_rwlock_rdlock(&m->lock);
    int64_t trev = tb->rev;
    pthread_rwlock_unlock(&m->lock);
    int rc = DS_EBUSY;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        txn x = {0};
        int64_t rev;
        meta__mut *r = meta__mut_new(&x.mu, value == NULL);
        meta__table_key(&r->key, tb->tenant->name, tb->name);
        if (value) ds_buf_append(&r->val, value->data, value->len);
        txn_cmp(&x, &r->key, ETCD_CMP_MOD_REV, trev);
        rc = txn_commit(m, &x, &rev);
        if (rc == DS_OK) apply_local(m, &x.mu, rev);
        else if (rc == DS_ECONDITION) {
            ds_buf v = DS_BUF_INIT;
            rc = get_record(m, &x.mu.v[0].key, &v, &trev);
            if (rc == DS_OK && value && record_table_id(v.data, v.len) != tb->id)
                rc = DS_ENOTFOUND;
            if (rc == DS_OK) rc = DS_ECONDITION; /* changed meanwhile: again */
            ds_buf_free(&v);
        }
        txn_free(&x);
        if (rc != DS_ECONDITION) break;
        rc = DS_EBUSY;
    }
    return rc;
}

int meta__etcd_table_drop(meta *m, meta_table *tb) { return table_change(m, tb, NULL); }

int meta__etcd_set_extra(meta *m, meta_table *tb, const char *extra) {
    ds_buf v = DS_BUF_INIT;
    meta__table_record(&v, tb, extra);
    int rc = table_change(m, tb, &v);
    ds_buf_free(&v);
    return rc;
}
