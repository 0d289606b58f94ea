/* replication.c -- range state, the writer hooks, shipping to followers,
 * and the ticker thread (see replication.h for the protocol and
 * replication_int.h for the structures and the locking rule).
 *
 * Why the writer never waits for followers: every node leads some ranges
 * and follows others, and a follower applies through its own writer. If a
 * writer blocked until its followers acked, two nodes shipping to each
 * other would each wait for the other's writer: a deadlock until the
 * timeout. So after_commit only queues the group's sections (per follower,
 * in order) and parks the sync ops as waiters; sender threads complete them
 * as acks arrive, and the ticker handles timeouts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/peer.h"
#include "cluster/replication_int.h"
#include "common/json.h"
#include "control/meta.h"
#include "crypto/crypto.h"

#define TICK_MS 50
#define RECONCILE_MS 1000
#define STATUS_SEQ_MS 5000
#define SHIP_MAX_BYTES (4u << 20)
#define SHIP_MAX_ITEMS 4096

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- op lists: completions collected under the lock, run after it ------- */

static void oplist_add(oplist *l, ds_op *op, int st) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = ds_realloc(l->v, l->cap * sizeof *l->v);
        l->st = ds_realloc(l->st, l->cap * sizeof *l->st);
    }
    l->v[l->n] = op;
    l->st[l->n++] = st;
}

void repl__oplist_finish(struct repl *rp, oplist *l) {
    for (size_t i = 0; i < l->n; i++) {
        if (l->st[i] == DS_ESTATE && l->v[i]->err && l->v[i]->errlen)
            snprintf(l->v[i]->err, l->v[i]->errlen,
                     "the write was not acknowledged by the range's in-sync replicas "
                     "(leadership changed or a replica failed); it may or may not have "
                     "been applied");
        replica_finish(rp->c->replica, l->v[i], l->st[i]);
    }
    ds_free(l->v);
    ds_free(l->st);
    memset(l, 0, sizeof *l);
}

/* ---- ranges ------------------------------------------------------------- */

rrange *repl__range(struct repl *rp, uint64_t table, uint32_t low, uint32_t high, int create) {
    unsigned char k[12];
    ds_put_u64be(k, table);
    ds_put_u32be(k + 8, low);
    rrange *rr = dict_get(rp->ranges, k, sizeof k);
    /* an existing copy keeps its bounds: only repl__split changes them.
     * Ranges never merge, so a record with a larger high is one this copy
     * was already cut past while the map here lags (a leader cuts its copy
     * right after its split's txn, a follower on a half's first section) */
    if (rr || !create) return rr;
    rr = ds_calloc(1, sizeof *rr);
    rr->table = table;
    rr->low = low;
    rr->high = high;
    rr->fstate = FS_OK;
    dict_set(rp->ranges, k, sizeof k, rr);
    return rr;
}

/* A split of rr at high+1 (range splits: the parent keeps [low, high], a
 * child [high+1, old high] is cut off). The copy here holds the data of
 * both halves, so the child starts at the parent's committed position: no
 * data moves. Only certain when no group is changing the parent (the
 * position must describe exactly the data): with force == 0 it returns -1
 * and changes nothing while rr is in the current group; with force it
 * marks the child incomplete instead (it catches up). epoch: the new
 * records' epoch (older sections for the parent are refused from now on).
 * g (may be NULL): the group to write both position records in. Locked,
 * writer thread (or the ticker with the writer idle in a CALL). */
int repl__split(struct repl *rp, rrange *rr, uint32_t high, uint64_t epoch, int force,
                replica_group *g) {
    if (high >= rr->high) return 0;
    int busy = rr->in_group && (rr->g_lead || rr->g_follow || rr->t_epoch != rr->last_epoch ||
                                rr->t_seq != rr->last_seq);
    if (busy && !force) return -1;
    uint32_t clow = high + 1, chigh = rr->high;
    rr->high = high;
    if (epoch > rr->known_epoch) rr->known_epoch = epoch;
    rrange *ch = repl__range(rp, rr->table, clow, chigh, 0);
    int fresh = !ch;
    if (!ch) ch = repl__range(rp, rr->table, clow, chigh, 1);
    char nm[400];
    snprintf(nm, sizeof nm, "table %llu/%u", (unsigned long long)rr->table, rr->low);
    if (!fresh && !(ch->fstate == FS_REMOVED && !ch->catchup)) {
        ds_info("replication: %s: split at %u: this node already has a copy of the child", nm,
                clow);
    } else {
        ch->high = chigh;
        ch->last_epoch = rr->last_epoch;
        ch->last_seq = rr->last_seq;
        /* not the parent's known epoch: that may be newer already (a
         * leader move of the parent), and the child's first leader ships
         * at the split's epoch; the map and sections raise it */
        ch->known_epoch = ch->last_epoch;
        ch->incomplete = rr->incomplete || busy || rr->fstate != FS_OK;
        ch->fstate = ch->incomplete ? FS_BROKEN : FS_OK;
        ch->retry_at_ms = 0;
        ds_info("replication: %s: split at %u: the child starts at epoch %llu seq %llu%s", nm, clow,
                (unsigned long long)ch->last_epoch, (unsigned long long)ch->last_seq,
                ch->incomplete ? " (incomplete: it catches up)" : " (no copy)");
    }
    if (g) {
        repl__put_pos(g, rr, rr->last_epoch, rr->last_seq);
        if (!ch->in_group) repl__put_pos(g, ch, ch->last_epoch, ch->last_seq);
    }
    if (rr->paused) pthread_cond_broadcast(&rp->split_cv); /* its split waits for this cut */
    return 0;
}

typedef struct cover_q {
    uint64_t table;
    uint32_t low;
    rrange *found;
} cover_q;

static int cover_fn(const void *k, size_t kl, void *v, void *ud) {
    (void)k, (void)kl;
    rrange *r = v;
    cover_q *q = ud;
    if (r->table == q->table && r->low < q->low && q->low <= r->high && r->fstate != FS_REMOVED) {
        q->found = r;
        return 1;
    }
    return 0;
}

/* This node's copy that holds hash low of table inside it (low > its low),
 * or NULL. Locked. */
static rrange *find_cover(struct repl *rp, uint64_t table, uint32_t low) {
    cover_q q = {table, low, NULL};
    dict_each(rp->ranges, cover_fn, &q);
    return q.found;
}

/* repl__range for a record [low, high] at epoch, first splitting the copies
 * here that the record cuts (its parent, when [low...] is new here, and its
 * own copy, when high shrank). *busy: a split had to wait (force == 0). */
static rrange *range_for(struct repl *rp, uint64_t table, uint32_t low, uint32_t high,
                         uint64_t epoch, int force, replica_group *g, int *busy) {
    *busy = 0;
    rrange *rr = repl__range(rp, table, low, 0, 0);
    if (!rr) {
        rrange *c = find_cover(rp, table, low);
        if (c && repl__split(rp, c, low - 1, epoch, force, g)) {
            *busy = 1;
            return NULL;
        }
        rr = repl__range(rp, table, low, high, 1);
    }
    if (high < rr->high && rr->fstate != FS_REMOVED && repl__split(rp, rr, high, epoch, force, g))
        *busy = 1;
    return rr;
}

void repl__name(rrange *rr, const range_rec *rec) {
    if (rr->named) return;
    snprintf(rr->tenant, sizeof rr->tenant, "%s", rec->tenant);
    snprintf(rr->tname, sizeof rr->tname, "%s", rec->table);
    rr->named = 1;
}

lfol *repl__fol(rrange *rr, const char *uuid) {
    for (int i = 0; i < rr->nfol; i++)
        if (!strcmp(rr->fol[i].uuid, uuid)) return &rr->fol[i];
    return NULL;
}

static lfol *fol_add(rrange *rr, const char *uuid, int state, uint64_t acked, uint64_t session) {
    lfol *f = repl__fol(rr, uuid);
    if (!f) {
        if (rr->nfol == RANGE_MAX_REPLICAS) return NULL;
        f = &rr->fol[rr->nfol++];
    }
    memset(f, 0, sizeof *f);
    snprintf(f->uuid, sizeof f->uuid, "%s", uuid);
    f->state = state;
    f->acked = acked;
    f->session = session;
    return f;
}

void repl__put_pos(replica_group *g, rrange *rr, uint64_t epoch, uint64_t seq) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    repl_pos_key(&k, rr->table, rr->low);
    repl_pos_value(&v, epoch, seq, rr->high, rr->incomplete);
    replica_group_put(g, ENGINE_CF_META, k.data, k.len, v.data, v.len);
    ds_buf_free(&k);
    ds_buf_free(&v);
}

const char *repl__range_name(rrange *rr, char *buf, size_t n) {
    if (rr->named) snprintf(buf, n, "%s/%s/%u", rr->tenant, rr->tname, rr->low);
    else snprintf(buf, n, "table %llu/%u", (unsigned long long)rr->table, rr->low);
    return buf;
}

/* ---- the leader's view: followers, waiters ------------------------------ */

uint64_t repl__frontier(const rrange *rr) {
    uint64_t f = UINT64_MAX;
    for (int i = 0; i < rr->nfol; i++)
        if (rr->fol[i].state != FOL_CATCHUP && rr->fol[i].acked < f) f = rr->fol[i].acked;
    return f;
}

/* Completes the waiters the frontier now covers. Locked. */
static void advance(struct repl *rp, rrange *rr, oplist *done) {
    uint64_t f = repl__frontier(rr);
    if (rr->paused) pthread_cond_broadcast(&rp->split_cv); /* its split waits for acks */
    while (rr->wh < rr->wn && rr->w[rr->wh].seq <= f) {
        ds_op *op = rr->w[rr->wh++].op;
        oplist_add(done, op, op->status);
    }
    if (rr->wh == rr->wn) rr->wh = rr->wn = 0;
}

static void fail_waiters(rrange *rr, oplist *done) {
    for (size_t i = rr->wh; i < rr->wn; i++) oplist_add(done, rr->w[i].op, DS_ESTATE);
    rr->wh = rr->wn = 0;
}

static void push_waiter(rrange *rr, ds_op *op, uint64_t seq, uint64_t now) {
    if (rr->wh && rr->wn == rr->wcap) { /* compact before growing */
        memmove(rr->w, rr->w + rr->wh, (rr->wn - rr->wh) * sizeof *rr->w);
        rr->wn -= rr->wh;
        rr->wh = 0;
    }
    if (rr->wn == rr->wcap) {
        rr->wcap = rr->wcap ? rr->wcap * 2 : 64;
        rr->w = ds_realloc(rr->w, rr->wcap * sizeof *rr->w);
    }
    rr->w[rr->wn++] = (waiter){op, seq, now};
}

void repl__fol_drop(struct repl *rp, rrange *rr, lfol *f, oplist *done) {
    size_t i = (size_t)(f - rr->fol);
    memmove(&rr->fol[i], &rr->fol[i + 1], (size_t)(rr->nfol - (int)i - 1) * sizeof *f);
    rr->nfol--;
    advance(rp, rr, done);
}

static void queue_job(struct repl *rp, rrange *rr, const char *uuid, int add, uint64_t at_ms) {
    rjob *j = ds_calloc(1, sizeof *j);
    j->rr = rr;
    snprintf(j->uuid, sizeof j->uuid, "%s", uuid);
    j->epoch = rr->lead_epoch;
    j->add = add;
    j->at_ms = at_ms;
    ds_buf k = DS_BUF_INIT;
    range_rec_key(&rr->rec, &k);
    snprintf(j->key, sizeof j->key, "%s", k.data);
    ds_buf_free(&k);
    rjob **t = &rp->jobs;
    while (*t) t = &(*t)->next;
    *t = j;
    pthread_cond_signal(&rp->cv);
}

/* A follower refused a section or did not ack in time. An in-sync (or
 * being-promoted) one stays required until the ticker has removed it from
 * the record's inSync; a catching-up one is simply dropped. Locked. */
static void fol_failed(struct repl *rp, rrange *rr, const char *uuid, uint64_t session,
                       const char *why, oplist *done) {
    lfol *f = repl__fol(rr, uuid);
    if (!f || f->session != session || f->state == FOL_REMOVING) return;
    char nm[400];
    ds_warn("replication: follower %.8s of %s failed (%s)", uuid,
            repl__range_name(rr, nm, sizeof nm), why);
    if (f->state == FOL_CATCHUP) {
        repl__fol_drop(rp, rr, f, done);
        return;
    }
    f->state = FOL_REMOVING;
    queue_job(rp, rr, uuid, 0, 0);
}

/* This node was deposed: nothing waiting can be acknowledged. Locked. */
static void fence(rrange *rr, oplist *done) {
    fail_waiters(rr, done);
    rr->fenced = 1;
    rr->nfol = 0;
}

static void stepdown(struct repl *rp, rrange *rr, oplist *done) {
    if (!rr->leading) return;
    char nm[400];
    ds_info("replication: %s: no longer leading (epoch %llu)", repl__range_name(rr, nm, sizeof nm),
            (unsigned long long)rr->lead_epoch);
    fail_waiters(rr, done);
    rr->leading = 0;
    rr->fenced = 0;
    rr->nfol = 0;
    (void)rp;
}

/* Leads rr at rec's epoch from the copy's own position: the record's
 * in-sync followers become required, and each gets a probe announcing the
 * epoch (its ack proves it holds exactly this node's history). Writer
 * thread (admit or a CALL), locked, rr not in the current group. */
static void takeover(struct repl *rp, rrange *rr, const range_rec *rec, oplist *done) {
    fail_waiters(rr, done);
    rr->leading = 1;
    rr->lead_epoch = rec->epoch;
    rr->fenced = 0;
    rr->rec = *rec;
    rr->nfol = 0;
    /* a new leadership sizes its range once: a node restarted with big
     * ranges, a failover, and both halves of a split (each at a new epoch:
     * a range far over the limit splits again and again) */
    rr->grown = rp->size_check_bytes;
    for (int i = 0; i < rec->ninsync; i++) {
        if (!strcmp(rec->insync[i], rp->c->uuid)) continue;
        lfol *f = fol_add(rr, rec->insync[i], FOL_INSYNC, 0, 0);
        if (f) repl__enqueue(rp, rr, f, NULL, rr->last_epoch, rr->last_seq, rr->last_seq);
    }
    char nm[400];
    ds_info("replication: %s: leading at epoch %llu from seq %llu (%d in-sync followers)",
            repl__range_name(rr, nm, sizeof nm), (unsigned long long)rec->epoch,
            (unsigned long long)rr->last_seq, rr->nfol);
}

/* A newer record at the same epoch: in-sync followers it no longer lists
 * go (someone removed them); ones it lists that we do not know become
 * required (with a probe). Locked. */
static void refresh(struct repl *rp, rrange *rr, const range_rec *rec, oplist *done) {
    rr->rec = *rec;
    for (int i = 0; i < rr->nfol;) {
        lfol *f = &rr->fol[i];
        if ((f->state == FOL_INSYNC || f->state == FOL_REMOVING) &&
            !range_has(rec->insync, rec->ninsync, f->uuid)) {
            repl__fol_drop(rp, rr, f, done);
            continue;
        }
        i++;
    }
    for (int i = 0; i < rec->ninsync; i++) {
        if (!strcmp(rec->insync[i], rp->c->uuid)) continue;
        lfol *f = repl__fol(rr, rec->insync[i]);
        if (f) {
            /* whatever we thought of it, the record counts it in sync: its
             * acks are required (it gets every section already) */
            if (f->state == FOL_CATCHUP) f->state = FOL_INSYNC;
            continue;
        }
        f = fol_add(rr, rec->insync[i], FOL_INSYNC, 0, 0);
        if (f) repl__enqueue(rp, rr, f, NULL, rr->last_epoch, rr->last_seq, rr->last_seq);
    }
}

/* ---- senders: one thread per peer node ---------------------------------- */

static void body_unref(sbody *b) {
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        ds_buf_free(&b->b);
        ds_free(b);
    }
}

static void *peer_main(void *arg);

static rpeer *peer_get(struct repl *rp, const char *uuid) {
    for (rpeer *p = rp->peers; p; p = p->next)
        if (!strcmp(p->uuid, uuid)) return p;
    rpeer *p = ds_calloc(1, sizeof *p);
    snprintf(p->uuid, sizeof p->uuid, "%s", uuid);
    p->rp = rp;
    pthread_cond_init(&p->cv, NULL);
    p->next = rp->peers;
    rp->peers = p;
    if (!pthread_create(&p->th, NULL, peer_main, p)) {
        p->started = 1;
        pthread_setname_np(p->th, "ds-repl-send");
    } else {
        ds_error("replication: cannot start a sender thread");
    }
    return p;
}

void repl__enqueue(struct repl *rp, rrange *rr, lfol *f, sbody *body, uint64_t prev_epoch,
                   uint64_t prev_seq, uint64_t seq) {
    rpeer *p = peer_get(rp, f->uuid);
    sitem *it = ds_calloc(1, sizeof *it);
    it->rr = rr;
    it->high = rr->high;
    it->session = f->session;
    it->epoch = rr->lead_epoch;
    it->prev_epoch = prev_epoch;
    it->prev_seq = prev_seq;
    it->seq = seq;
    it->body = body;
    if (body) atomic_fetch_add(&body->refs, 1);
    it->t_ms = ds_now_ms();
    if (p->tail) p->tail->next = it;
    else p->head = it;
    p->tail = it;
    pthread_cond_signal(&p->cv);
}

/* 1 if it should still go to p (the follower is still shipped to, in the
 * same session, by the same leadership). Locked. */
static int item_live(rpeer *p, const sitem *it) {
    rrange *rr = it->rr;
    if (!rr->leading || rr->fenced || rr->lead_epoch != it->epoch) return 0;
    lfol *f = repl__fol(rr, p->uuid);
    return f && f->session == it->session && f->state != FOL_REMOVING;
}

static void item_free(sitem *it) {
    body_unref(it->body);
    ds_free(it);
}

int repl__node_uri(struct repl *rp, const char *uuid, char *uri, size_t n) {
    node_rec nr;
    if (rangemap_node(rp->c->map, uuid, &nr) || !nr.alive || !nr.uri[0]) return 0;
    snprintf(uri, n, "%s", nr.uri);
    return 1;
}

/* Sends the n items of batch as one request; fills res[i] (RES_*) and
 * *why. Not locked. */
static void send_batch(struct repl *rp, rpeer *p, sitem *batch, size_t n, int *res,
                       const char **why) {
    ds_buf msg = DS_BUF_INIT, resp = DS_BUF_INIT;
    repl_wire_header(&msg, rp->c->uuid, (uint32_t)n);
    uint64_t oldest = UINT64_MAX;
    for (sitem *it = batch; it; it = it->next) {
        /* table and low never change; high may have (a split): the item's */
        repl_wsection s = {it->rr->table, it->rr->low, it->high, it->epoch, it->prev_epoch,
                           it->prev_seq, it->seq, it->session, NULL, 0};
        if (it->body) repl_wire_section(&msg, &s, it->body->b.data, it->body->b.len,
                                        it->body->nmuts);
        else repl_wire_section(&msg, &s, NULL, 0, 0);
        if (it->t_ms < oldest) oldest = it->t_ms;
    }
    for (size_t i = 0; i < n; i++) res[i] = RES_NOTREADY;
    uint64_t deadline = oldest + (uint64_t)rp->o.timeout_ms;
    int backoff = 10, rc = DS_EIO;
    long status = 0;
    char uri[256];
    *why = "no answer";
    for (;;) {
        if (!repl__node_uri(rp, p->uuid, uri, sizeof uri)) {
            *why = "the node is not alive"; /* its lease is gone: no use waiting */
            rc = DS_EIO;
            break;
        } else {
            uint64_t now = ds_now_ms();
            int left = now < deadline ? (int)(deadline - now) : 0;
            if (left < 250) left = 250;
            rc = peer_call(uri, "internal/v1/replicate", msg.data, msg.len, left, &status, &resp);
            if (rc == DS_OK && status != 503) break;
            *why = rc == DS_OK ? "the follower is unavailable" : ds_strerror(rc);
            if (rc != DS_OK && rc != DS_EIO) break; /* may have run: never resend */
        }
        uint64_t now = ds_now_ms();
        if (rp->stopping || now >= deadline) {
            rc = DS_ETIMEDOUT;
            break;
        }
        sleep_ms(now + (uint64_t)backoff > deadline ? (int)(deadline - now) : backoff);
        backoff = backoff * 2 > 200 ? 200 : backoff * 2;
    }
    if (rc == DS_OK && (status == 200 || status == 409)) {
        ds_arena *a = ds_arena_new(4096);
        json_value *o, *arr;
        char err[64];
        if (!json_parse(a, resp.data, resp.len, 8, &o, err, sizeof err) &&
            (arr = json_get(o, "results")) && arr->type == JSON_ARRAY && arr->u.arr.n == n) {
            for (size_t i = 0; i < n; i++) {
                const json_value *r = arr->u.arr.items[i], *code = json_get(r, "code");
                if (!code) res[i] = RES_OK;
                else if (code->type == JSON_STRING && !strcmp(code->u.str.s, "Diverged"))
                    res[i] = RES_DIVERGED;
                else if (code->type == JSON_STRING && !strcmp(code->u.str.s, "StaleEpoch"))
                    res[i] = RES_STALE;
                else res[i] = RES_NOTREADY;
            }
            *why = "it refused a section";
        } else {
            *why = "malformed answer";
        }
        ds_arena_free(a);
    } else if (rc == DS_OK) {
        *why = "error answer";
        ds_warn("replication: follower %.8s answered %ld: %.200s", p->uuid, status,
                resp.data ? resp.data : "");
    }
    ds_buf_free(&msg);
    ds_buf_free(&resp);
}

static const char *res_name(int r) {
    switch (r) {
    case RES_DIVERGED: return "its copy diverged";
    case RES_STALE: return "it knows a newer epoch";
    case RES_CONFLICT: return "it leads the range too";
    default: return NULL;
    }
}

static void *peer_main(void *arg) {
    rpeer *p = arg;
    struct repl *rp = p->rp;
    pthread_mutex_lock(&rp->mu);
    while (!rp->stopping) {
        if (!p->head) {
            pthread_cond_wait(&p->cv, &rp->mu);
            continue;
        }
        sitem *batch = NULL, **bt = &batch;
        size_t n = 0, bytes = 0;
        while (p->head && n < SHIP_MAX_ITEMS && (n == 0 || bytes < SHIP_MAX_BYTES)) {
            sitem *it = p->head;
            p->head = it->next;
            if (!p->head) p->tail = NULL;
            it->next = NULL;
            if (!item_live(p, it)) {
                item_free(it);
                continue;
            }
            *bt = it;
            bt = &it->next;
            n++;
            bytes += it->body ? it->body->b.len : 0;
        }
        if (!n) continue;
        pthread_mutex_unlock(&rp->mu);
        int *res = ds_malloc(n * sizeof *res);
        const char *why = NULL;
        send_batch(rp, p, batch, n, res, &why);
        oplist done = {0};
        pthread_mutex_lock(&rp->mu);
        size_t i = 0;
        for (sitem *it = batch, *next; it; it = next, i++) {
            next = it->next;
            rrange *rr = it->rr;
            if (rr->leading && rr->lead_epoch == it->epoch) {
                lfol *f = repl__fol(rr, p->uuid);
                if (res[i] == RES_OK) {
                    if (f && f->session == it->session && it->seq > f->acked) {
                        f->acked = it->seq;
                        advance(rp, rr, &done);
                    }
                } else {
                    fol_failed(rp, rr, p->uuid, it->session, res_name(res[i]) ? res_name(res[i])
                                                                              : why,
                               &done);
                }
            }
            item_free(it);
        }
        ds_free(res);
        pthread_mutex_unlock(&rp->mu);
        repl__oplist_finish(rp, &done);
        pthread_mutex_lock(&rp->mu);
    }
    /* stopping: drop what is left */
    while (p->head) {
        sitem *it = p->head;
        p->head = it->next;
        item_free(it);
    }
    p->tail = NULL;
    pthread_mutex_unlock(&rp->mu);
    return NULL;
}

/* ---- the writer hooks --------------------------------------------------- */

static void group_add(struct repl *rp, rrange *rr) {
    if (rr->in_group) return;
    rr->in_group = 1;
    rr->gnext = rp->glist;
    rp->glist = rr;
    rr->t_epoch = rr->last_epoch;
    rr->t_seq = rr->last_seq;
    rr->g_lead = rr->g_follow = 0;
    rr->g_nmuts = 0;
    rr->g_epoch = 0;
}

static int refuse(ds_op *op, const char *why) {
    if (op->err && op->errlen) snprintf(op->err, op->errlen, "%s", why);
    return DS_ESTATE;
}

static int hook_admit(void *ud, ds_op *op) {
    struct repl *rp = ud;
    cluster_member *c = rp->c;
    range_rec rec;
    if (!op->table || rangemap_find(c->map, op->table->id, op->hash, &rec) ||
        strcmp(rec.leader, c->uuid))
        return refuse(op, "not the leader of this range");
    const char *why = NULL;
    oplist done = {0};
    pthread_mutex_lock(&rp->mu);
    int busy;
    rrange *rr = range_for(rp, rec.table_id, rec.low, rec.high, rec.epoch, 0, NULL, &busy);
    if (rr) repl__name(rr, &rec);
    /* paused: the split's quiet point (replication_split.c); retried */
    if (!rr || busy || rr->paused)
        why = "not the leader of this range (the range is splitting)";
    else if (rec.epoch > rr->known_epoch) rr->known_epoch = rec.epoch;
    if (why)
        ;
    else if (rec.epoch < rr->known_epoch)
        why = "not the leader of this range (a newer leader exists)";
    else if (rr->fstate != FS_OK)
        why = "not the leader of this range (its copy here is not complete)";
    else if (rr->in_group && (rr->g_follow || (rr->g_lead && rr->g_epoch != rec.epoch)))
        why = "not the leader of this range (leadership is changing)";
    else {
        if (!rr->leading || rr->lead_epoch != rec.epoch) takeover(rp, rr, &rec, &done);
        else if (rec.mod_rev > rr->rec.mod_rev) refresh(rp, rr, &rec, &done);
        if (rr->fenced) why = "not the leader of this range (deposed)";
        else {
            group_add(rp, rr);
            rr->g_lead = 1;
            rr->g_epoch = rec.epoch;
            op->repl_range = rr;
        }
    }
    pthread_mutex_unlock(&rp->mu);
    repl__oplist_finish(rp, &done);
    return why ? refuse(op, why) : DS_OK;
}

/* The follower's checks of one section (replication.h, THE FOLLOWER).
 * Locked, writer thread. */
static int check_section(struct repl *rp, rrange *rr, replica_section *s, rapply *ra,
                         oplist *done) {
    const repl_wsection *ws = ra->ws;
    if (s->kind == REPLICA_SEC_SNAPSHOT) {
        if (rr->fstate != FS_CATCHUP || rr->session != ws->session) return RES_CANCELLED;
        s->touched = rr->touched;
        return RES_OK;
    }
    if (ws->epoch < rr->known_epoch) {
        ra->r_epoch = rr->known_epoch;
        return RES_STALE;
    }
    if (rr->leading && rr->lead_epoch >= ws->epoch && !rr->fenced) {
        ra->r_epoch = rr->lead_epoch;
        return RES_STALE;
    }
    if (rr->in_group && rr->g_lead) return RES_CONFLICT;
    rr->known_epoch = ws->epoch;
    if (rr->leading) stepdown(rp, rr, done); /* a newer leader ships to us */
    switch (rr->fstate) {
    case FS_REMOVED:
    case FS_BROKEN: return RES_NOTREADY;
    case FS_WAIT:
    case FS_CATCHUP:
        if (ws->session != rr->session) {
            ra->r_epoch = rr->last_epoch, ra->r_seq = rr->last_seq;
            return RES_DIVERGED;
        }
        break;
    }
    group_add(rp, rr);
    if (rr->fstate == FS_WAIT && rr->reset && !rr->adopted) {
        /* the first live section after a reset: its prev is the snapshot's
         * position (checked against the leader's answer later) */
        rr->adopted = 1;
        rr->base_epoch = rr->t_epoch = ws->prev_epoch;
        rr->base_seq = rr->t_seq = ws->prev_seq;
    }
    if (rr->t_epoch != ws->prev_epoch || rr->t_seq != ws->prev_seq) {
        ra->r_epoch = rr->t_epoch, ra->r_seq = rr->t_seq;
        return RES_DIVERGED;
    }
    if (ws->seq != ws->prev_seq) {
        rr->t_epoch = ws->epoch;
        rr->t_seq = ws->seq;
        rr->g_follow = 1;
    }
    if (rr->touched && (rr->fstate == FS_CATCHUP || (rr->fstate == FS_WAIT && rr->reset)))
        s->touched = rr->touched;
    ra->r_seq = ws->seq;
    return RES_OK;
}

static int hook_apply_check(void *ud, replica_group *g, replica_section *s) {
    struct repl *rp = ud;
    rapply *ra = s->ud;
    const repl_wsection *ws = ra->ws;
    range_rec rec;
    int have = !rangemap_find(rp->c->map, ws->table_id, ws->low, &rec) && rec.low == ws->low;
    oplist done = {0};
    pthread_mutex_lock(&rp->mu);
    int busy;
    rrange *rr = range_for(rp, ws->table_id, ws->low, ws->high, ws->epoch, 1, g, &busy);
    if (have) {
        repl__name(rr, &rec);
        if (rec.epoch > rr->known_epoch) rr->known_epoch = rec.epoch;
    }
    ra->res = check_section(rp, rr, s, ra, &done);
    pthread_mutex_unlock(&rp->mu);
    repl__oplist_finish(rp, &done);
    return ra->res == RES_OK ? DS_OK : DS_ESTATE;
}

static void hook_prepare(void *ud, replica_group *g) {
    struct repl *rp = ud;
    pthread_mutex_lock(&rp->mu);
    for (size_t i = 0; i < g->nmuts; i++) {
        rrange *rr = g->muts[i].op ? g->muts[i].op->repl_range : NULL;
        if (rr) rr->g_nmuts++;
    }
    for (rrange *rr = rp->glist; rr; rr = rr->gnext) {
        if (rr->g_lead && rr->g_nmuts) {
            rr->t_epoch = rr->g_epoch;
            rr->t_seq++;
        }
        if (rr->t_epoch != rr->last_epoch || rr->t_seq != rr->last_seq)
            repl__put_pos(g, rr, rr->t_epoch, rr->t_seq);
    }
    pthread_mutex_unlock(&rp->mu);
}

/* Queues the group's mutations of rr, one section, to its live followers. */
static void ship(struct repl *rp, rrange *rr, replica_group *g, uint64_t prev_epoch,
                 uint64_t prev_seq) {
    sbody *b = ds_calloc(1, sizeof *b);
    for (size_t i = 0; i < g->nmuts; i++)
        if (g->muts[i].op && g->muts[i].op->repl_range == rr) {
            repl_wire_muts(&b->b, &g->muts[i], 1);
            b->nmuts++;
        }
    atomic_store(&b->refs, 1); /* ours, while queueing */
    rr->grown += b->b.len;     /* the bytes this range grew by, about */
    for (int i = 0; i < rr->nfol; i++)
        if (rr->fol[i].state != FOL_REMOVING)
            repl__enqueue(rp, rr, &rr->fol[i], b, prev_epoch, prev_seq, rr->last_seq);
    body_unref(b);
}

static void hook_after_commit(void *ud, replica_group *g, int rc) {
    struct repl *rp = ud;
    oplist done = {0};
    uint64_t now = ds_now_ms();
    pthread_mutex_lock(&rp->mu);
    for (rrange *rr = rp->glist; rr; rr = rr->gnext) {
        if (rc) {
            /* not written: the touched set may name keys that are not there */
            if (rr->g_follow && (rr->fstate == FS_CATCHUP || (rr->fstate == FS_WAIT && rr->reset)))
                rr->fstate = FS_BROKEN;
            continue;
        }
        uint64_t pe = rr->last_epoch, ps = rr->last_seq;
        rr->last_epoch = rr->t_epoch;
        rr->last_seq = rr->t_seq;
        if (rr->g_lead && rr->g_nmuts && rr->leading && !rr->fenced &&
            rr->lead_epoch == rr->g_epoch)
            ship(rp, rr, g, pe, ps);
    }
    if (rc == DS_OK)
        for (size_t i = 0; i < g->nops; i++) {
            ds_op *op = g->ops[i];
            rrange *rr = op->kind == DS_OP_WRITE ? op->repl_range : NULL;
            if (!rr || op->async) continue;
            if (!rr->leading || rr->fenced || rr->lead_epoch != rr->g_epoch) {
                op->status = refuse(op, "not the leader of this range any more; the write "
                                        "may or may not have been applied");
                continue;
            }
            if (repl__frontier(rr) >= rr->last_seq) continue;
            g->held[i] = 1; /* from the unlock below, a sender may complete it */
            push_waiter(rr, op, rr->last_seq, now);
        }
    for (rrange *rr = rp->glist, *next; rr; rr = next) {
        next = rr->gnext;
        rr->in_group = 0;
        rr->gnext = NULL;
        rr->g_lead = rr->g_follow = 0;
        rr->g_nmuts = 0;
    }
    rp->glist = NULL;
    pthread_mutex_unlock(&rp->mu);
    repl__oplist_finish(rp, &done);
}

static const replica_hooks hooks = {hook_admit, hook_apply_check, hook_prepare,
                                    hook_after_commit};

/* After repl_stop: nothing is written or applied any more. */
static int closed_admit(void *ud, ds_op *op) {
    (void)ud;
    return refuse(op, "this node is stopping");
}
static int closed_apply_check(void *ud, replica_group *g, replica_section *s) {
    (void)ud, (void)g;
    ((rapply *)s->ud)->res = RES_NOTREADY;
    return DS_ESTATE;
}
static const replica_hooks closed_hooks = {closed_admit, closed_apply_check, NULL, NULL};

/* ---- CALL ops ----------------------------------------------------------- */

typedef struct call_op {
    ds_op op;
    struct repl *rp;
    repl_call_fn fn;
    void *ud;
} call_op;

static int call_run(ds_op *op, replica_group *g) {
    call_op *co = (call_op *)op;
    if (co->rp->stopping) return DS_ESTATE;
    return co->fn(co->rp, co->ud, g);
}

int repl__call(struct repl *rp, repl_call_fn fn, void *ud) {
    call_op co;
    ds_op_init(&co.op, DS_OP_CALL, NULL);
    co.op.call = call_run;
    co.rp = rp;
    co.fn = fn;
    co.ud = ud;
    int rc = replica_run(rp->c->replica, &co.op);
    ds_op_release(&co.op);
    return rc;
}

static int call_takeover(struct repl *rp, void *ud, replica_group *g) {
    (void)g;
    rrange *rr = ud;
    range_rec rec;
    if (rangemap_find(rp->c->map, rr->table, rr->low, &rec) || rec.low != rr->low ||
        strcmp(rec.leader, rp->c->uuid))
        return DS_OK;
    oplist done = {0};
    pthread_mutex_lock(&rp->mu);
    if (rec.epoch > rr->known_epoch) rr->known_epoch = rec.epoch;
    if (rr->fstate == FS_OK && rec.epoch >= rr->known_epoch &&
        (!rr->leading || rr->lead_epoch != rec.epoch))
        takeover(rp, rr, &rec, &done);
    pthread_mutex_unlock(&rp->mu);
    repl__oplist_finish(rp, &done);
    return DS_OK;
}

/* ---- the ticker ----------------------------------------------------------- */

/* Removes (add: adds) j->uuid from (to) the inSync of j's record, against a
 * fresh read. */
static void run_job(struct repl *rp, rjob *j) {
    etcd *e = rp->c->etcd;
    int ok = 0, deposed = 0;
    range_rec rec, nw;
    memset(&nw, 0, sizeof nw);
    for (int attempt = 0; attempt < 5 && !rp->stopping; attempt++) {
        ds_buf val = DS_BUF_INIT;
        int64_t mod = 0;
        int rc = etcd_get(e, j->key, strlen(j->key), &val, &mod);
        if (rc == DS_ENOTFOUND) {
            deposed = 1;
            ds_buf_free(&val);
            break;
        }
        if (rc == DS_OK) rc = range_rec_parse(j->key, strlen(j->key), val.data, val.len, &rec);
        ds_buf_free(&val);
        if (rc) {
            sleep_ms(100);
            continue;
        }
        rec.mod_rev = mod;
        if (strcmp(rec.leader, rp->c->uuid) || rec.epoch != j->epoch) {
            deposed = 1;
            break;
        }
        int has = range_has(rec.insync, rec.ninsync, j->uuid);
        if (j->add && !range_has(rec.replicas, rec.nreplicas, j->uuid)) break; /* not a replica */
        if (has == j->add) {
            ok = 1;
            nw = rec;
            break;
        }
        nw = rec;
        if (j->add) range_add(nw.insync, &nw.ninsync, j->uuid);
        else range_remove(nw.insync, &nw.ninsync, j->uuid);
        rc = rangemap_cas(e, &rec, &nw);
        if (rc == DS_OK) {
            ok = 1;
            break;
        }
        if (rc != DS_ECONDITION) sleep_ms(100);
    }
    char nm[400];
    oplist done = {0};
    pthread_mutex_lock(&rp->mu);
    rrange *rr = j->rr;
    lfol *f = repl__fol(rr, j->uuid);
    if (!rr->leading || rr->lead_epoch != j->epoch) {
        /* stepped down meanwhile: nothing of this leadership is waiting */
    } else if (deposed) {
        ds_warn("replication: %s: deposed (the record names another leader or epoch)",
                repl__range_name(rr, nm, sizeof nm));
        fence(rr, &done);
    } else if (!j->add) {
        if (ok) {
            ds_info("replication: %s: follower %.8s left the in-sync set",
                    repl__range_name(rr, nm, sizeof nm), j->uuid);
            if (nw.mod_rev > rr->rec.mod_rev) rr->rec = nw;
            if (f && f->state == FOL_REMOVING) repl__fol_drop(rp, rr, f, &done);
        } else if (!rp->stopping) {
            /* etcd unreachable: what waits on it cannot be acknowledged */
            ds_warn("replication: %s: cannot remove follower %.8s from the in-sync set yet",
                    repl__range_name(rr, nm, sizeof nm), j->uuid);
            fail_waiters(rr, &done);
            rjob *again = ds_calloc(1, sizeof *again);
            *again = *j;
            again->next = NULL;
            again->at_ms = ds_now_ms() + 500;
            rjob **t = &rp->jobs;
            while (*t) t = &(*t)->next;
            *t = again;
        }
    } else {
        if (ok && f && f->state == FOL_PENDING) {
            ds_info("replication: %s: follower %.8s joined the in-sync set at seq %llu",
                    repl__range_name(rr, nm, sizeof nm), j->uuid, (unsigned long long)f->acked);
            f->state = FOL_INSYNC;
            if (nw.mod_rev > rr->rec.mod_rev) rr->rec = nw;
        } else if (ok && !f) {
            /* in inSync now but no longer followed: it must leave again */
            f = fol_add(rr, j->uuid, FOL_REMOVING, 0, 0);
            queue_job(rp, rr, j->uuid, 0, 0);
        } else if (!ok && f && f->state == FOL_PENDING) {
            f->state = FOL_CATCHUP;
            advance(rp, rr, &done);
        }
    }
    pthread_mutex_unlock(&rp->mu);
    repl__oplist_finish(rp, &done);
}

typedef struct tick_ctx {
    struct repl *rp;
    uint64_t now;
    oplist *done;
    rrange *size_next; /* the led range that grew most past the size-check mark */
} tick_ctx;

/* Per range: slow followers, stuck waiters, promotions ready, a size check
 * due. Locked. */
static int tick_range(const void *k, size_t kl, void *v, void *ud) {
    (void)k, (void)kl;
    tick_ctx *t = ud;
    rrange *rr = v;
    if (!rr->leading) return 0;
    if (t->rp->size_check_bytes && !rr->fenced && rr->grown >= t->rp->size_check_bytes &&
        (!t->size_next || rr->grown > t->size_next->grown))
        t->size_next = rr;
    uint64_t timeout = (uint64_t)t->rp->o.timeout_ms;
    if (rr->wh < rr->wn) {
        waiter *o = &rr->w[rr->wh];
        if (t->now - o->t_ms > timeout)
            for (int i = rr->nfol - 1; i >= 0; i--) {
                lfol *f = &rr->fol[i];
                if ((f->state == FOL_INSYNC || f->state == FOL_PENDING) && f->acked < o->seq)
                    fol_failed(t->rp, rr, f->uuid, f->session, "no acknowledgement in time",
                               t->done);
            }
        /* a safety valve: nothing waits forever (it is then not acknowledged) */
        uint64_t hard = 3 * timeout + 10000;
        while (rr->wh < rr->wn && t->now - rr->w[rr->wh].t_ms > hard)
            oplist_add(t->done, rr->w[rr->wh++].op, DS_ESTATE);
        if (rr->wh == rr->wn) rr->wh = rr->wn = 0;
    }
    for (int i = 0; i < rr->nfol; i++) {
        lfol *f = &rr->fol[i];
        if (f->state == FOL_PENDING && !f->since_ms && f->acked >= f->target) {
            f->since_ms = t->now; /* the add is queued once */
            queue_job(t->rp, rr, f->uuid, 1, 0);
        }
    }
    return 0;
}

typedef struct status_w {
    char tenant[65], table[256];
    uint32_t low;
    char status[16];
    uint64_t seq;
} status_w;

typedef struct recon {
    rrange **takeovers;
    size_t ntake;
    rrange **deletes;
    size_t ndel;
    status_w *st;
    size_t nst;
} recon;

/* The copy of rr this node may drop: DELETE_SPAN (r/ marked incomplete
 * first), then the position record goes. */
static int call_forget(struct repl *rp, void *ud, replica_group *g) {
    rrange *rr = ud;
    ds_buf k = DS_BUF_INIT;
    repl_pos_key(&k, rr->table, rr->low);
    replica_group_put(g, ENGINE_CF_META, k.data, k.len, NULL, 0);
    ds_buf_free(&k);
    pthread_mutex_lock(&rp->mu);
    rr->last_epoch = rr->last_seq = 0;
    pthread_mutex_unlock(&rp->mu);
    return DS_OK;
}

static void delete_copy(struct repl *rp, rrange *rr) {
    meta_table *tb = meta_table_by_id(rp->c->meta, rr->table);
    char nm[400];
    pthread_mutex_lock(&rp->mu);
    repl__range_name(rr, nm, sizeof nm);
    pthread_mutex_unlock(&rp->mu);
    if (tb) {
        ds_op op;
        ds_op_init(&op, DS_OP_DELETE_SPAN, NULL);
        op.table = tb;
        op.span_low = rr->low;
        op.span_high = rr->high;
        ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
        repl_pos_key(&k, rr->table, rr->low);
        repl_pos_value(&v, 0, 0, rr->high, 1);
        ds_meta_put mp = {ENGINE_CF_META, {k.data, k.len}, {v.data, v.len}, 0};
        op.meta = &mp;
        op.nmeta = 1;
        int rc = replica_run(rp->c->replica, &op);
        ds_op_release(&op);
        ds_buf_free(&k), ds_buf_free(&v);
        meta_table_release(tb);
        if (rc) {
            ds_warn("replication: %s: deleting this node's copy failed: %s", nm, ds_strerror(rc));
            return;
        }
    }
    repl__call(rp, call_forget, rr);
    ds_info("replication: %s: not a replica any more; this node's copy is deleted", nm);
}

static void want_status(recon *rc, rrange *rr, const char *status) {
    uint64_t now = ds_now_ms();
    if (!rr->named) return;
    if (rr->st_written && !strcmp(rr->st_status, status) &&
        (rr->st_seq == rr->last_seq || now - rr->st_ms < STATUS_SEQ_MS))
        return;
    snprintf(rr->st_status, sizeof rr->st_status, "%s", status);
    rr->st_seq = rr->last_seq;
    rr->st_ms = now;
    rr->st_written = 1;
    rc->st = ds_realloc(rc->st, (rc->nst + 1) * sizeof *rc->st);
    status_w *w = &rc->st[rc->nst++];
    snprintf(w->tenant, sizeof w->tenant, "%s", rr->tenant);
    snprintf(w->table, sizeof w->table, "%s", rr->tname);
    w->low = rr->low;
    snprintf(w->status, sizeof w->status, "%s", status);
    w->seq = rr->last_seq;
}

void repl__status_put(struct repl *rp, const char *tenant, const char *table, uint32_t low,
                      const char *status, uint64_t seq) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    ds_buf_printf(&k, "node/%s/id/%s/%s/%u/details", rp->c->uuid, tenant, table, low);
    int rc;
    if (status) {
        ds_buf_printf(&v, "{\"status\":\"%s\",\"seq\":%llu}", status, (unsigned long long)seq);
        rc = etcd_put(rp->c->etcd, k.data, k.len, v.data, v.len, 0, NULL);
    } else {
        rc = etcd_delete(rp->c->etcd, k.data, k.len, 0, NULL);
    }
    if (rc) ds_debug("replication: status record %s: %s", k.data, ds_strerror(rc));
    ds_buf_free(&k);
    ds_buf_free(&v);
}

static int call_split(struct repl *rp, void *ud, replica_group *g) {
    const range_rec *rec = ud;
    int busy;
    pthread_mutex_lock(&rp->mu);
    range_for(rp, rec->table_id, rec->low, rec->high, rec->epoch, 0, g, &busy);
    pthread_mutex_unlock(&rp->mu);
    return busy ? DS_ESTATE : DS_OK;
}

int repl__split_copy(struct repl *rp, const range_rec *rec) {
    return repl__call(rp, call_split, (void *)rec);
}

/* Splits this node's copies the range map has split (each on the writer
 * thread, between groups, so the children start at exact positions). */
static void reconcile_splits(struct repl *rp, const range_rec *v, size_t n) {
    size_t *cut = NULL, ncut = 0;
    pthread_mutex_lock(&rp->mu);
    for (size_t i = 0; i < n; i++) {
        rrange *rr = repl__range(rp, v[i].table_id, v[i].low, 0, 0);
        if (rr ? rr->fstate == FS_REMOVED || v[i].high >= rr->high
               : !find_cover(rp, v[i].table_id, v[i].low))
            continue;
        cut = ds_realloc(cut, (ncut + 1) * sizeof *cut);
        cut[ncut++] = i;
    }
    pthread_mutex_unlock(&rp->mu);
    for (size_t i = 0; i < ncut && !rp->stopping; i++) repl__split_copy(rp, &v[cut[i]]);
    ds_free(cut);
}

/* Brings this node's ranges in line with the range map: leaderships taken
 * or given up, catch-ups started, copies of ranges it no longer holds
 * deleted, status records written. */
static void reconcile(struct repl *rp) {
    cluster_member *c = rp->c;
    range_rec *v;
    size_t n = rangemap_ranges(c->map, 0, &v);
    reconcile_splits(rp, v, n);
    recon rc = {0};
    oplist done = {0};
    uint64_t now = ds_now_ms();
    pthread_mutex_lock(&rp->mu);
    for (size_t i = 0; i < n; i++) {
        const range_rec *rec = &v[i];
        int mine = range_has(rec->replicas, rec->nreplicas, c->uuid);
        /* a split not done yet here (busy): the next pass */
        if (mine && !repl__range(rp, rec->table_id, rec->low, 0, 0) &&
            find_cover(rp, rec->table_id, rec->low))
            continue;
        rrange *rr = repl__range(rp, rec->table_id, rec->low, rec->high, mine);
        if (!rr) continue;
        repl__name(rr, rec);
        if (!mine) {
            if (rr->fstate != FS_REMOVED && !rr->catchup) {
                stepdown(rp, rr, &done);
                rr->fstate = FS_REMOVED;
                rr->incomplete = 1;
                rc.deletes = ds_realloc(rc.deletes, (rc.ndel + 1) * sizeof *rc.deletes);
                rc.deletes[rc.ndel++] = rr;
            }
            continue;
        }
        if (rec->epoch > rr->known_epoch) rr->known_epoch = rec->epoch;
        if (rr->fstate == FS_REMOVED) { /* a replica again: starts empty */
            rr->fstate = FS_BROKEN;
            rr->incomplete = 1;
        }
        int in_sync = range_has(rec->insync, rec->ninsync, c->uuid);
        if (!strcmp(rec->leader, c->uuid)) {
            if (rr->fstate == FS_OK && rec->epoch >= rr->known_epoch &&
                (!rr->leading || rr->lead_epoch != rec->epoch)) {
                rc.takeovers = ds_realloc(rc.takeovers, (rc.ntake + 1) * sizeof *rc.takeovers);
                rc.takeovers[rc.ntake++] = rr;
            } else if (rr->leading && rr->lead_epoch == rec->epoch &&
                       rec->mod_rev > rr->rec.mod_rev) {
                refresh(rp, rr, rec, &done);
            }
        } else {
            stepdown(rp, rr, &done);
            if ((!in_sync || rr->fstate == FS_BROKEN) && !rr->catchup && now >= rr->retry_at_ms &&
                rp->ncatchups < rp->o.max_catchups && rec->leader[0])
                repl__catchup_start(rp, rr, rec);
        }
        int okay = rr->fstate == FS_OK && (in_sync || (rr->leading && !rr->fenced));
        want_status(&rc, rr, okay ? "okay" : "catching-up");
    }
    pthread_mutex_unlock(&rp->mu);
    ds_free(v);
    repl__oplist_finish(rp, &done);
    for (size_t i = 0; i < rc.ntake && !rp->stopping; i++) repl__call(rp, call_takeover, rc.takeovers[i]);
    for (size_t i = 0; i < rc.ndel && !rp->stopping; i++) {
        rrange *rr = rc.deletes[i];
        delete_copy(rp, rr);
        pthread_mutex_lock(&rp->mu);
        int named = rr->named;
        rr->st_written = 0;
        pthread_mutex_unlock(&rp->mu);
        if (named) repl__status_put(rp, rr->tenant, rr->tname, rr->low, NULL, 0);
    }
    for (size_t i = 0; i < rc.nst && !rp->stopping; i++)
        repl__status_put(rp, rc.st[i].tenant, rc.st[i].table, rc.st[i].low, rc.st[i].status,
                         rc.st[i].seq);
    ds_free(rc.takeovers);
    ds_free(rc.deletes);
    ds_free(rc.st);
}

rthread *repl__thread_start(struct repl *rp, void *(*fn)(void *), void *arg, rthread **th,
                            const char *name) {
    rthread *t = ds_calloc(1, sizeof *t);
    *th = t; /* before the thread runs: it marks t finished */
    if (pthread_create(&t->th, NULL, fn, arg)) {
        ds_free(t);
        *th = NULL;
        return NULL;
    }
    pthread_setname_np(t->th, name);
    t->next = rp->threads;
    rp->threads = t;
    return t;
}

static void reap_threads(struct repl *rp, int all) {
    for (rthread **t = &rp->threads; *t;) {
        rthread *x = *t;
        if (all || atomic_load(&x->finished)) {
            *t = x->next;
            pthread_mutex_unlock(&rp->mu);
            pthread_join(x->th, NULL);
            pthread_mutex_lock(&rp->mu);
            ds_free(x);
            t = &rp->threads; /* the list may have changed meanwhile */
            continue;
        }
        t = &x->next;
    }
}

static void *ticker_main(void *arg) {
    struct repl *rp = arg;
    uint64_t last_reconcile = 0;
    pthread_mutex_lock(&rp->mu);
    while (!rp->stopping) {
        struct timespec ts;
        ds_deadline(&ts, CLOCK_REALTIME, TICK_MS);
        pthread_cond_timedwait(&rp->cv, &rp->mu, &ts);
        if (rp->stopping) break;
        uint64_t now = ds_now_ms();
        /* inSync changes due now */
        for (rjob **jp = &rp->jobs; *jp && !rp->stopping;) {
            rjob *j = *jp;
            if (j->at_ms > now) {
                jp = &j->next;
                continue;
            }
            *jp = j->next;
            pthread_mutex_unlock(&rp->mu);
            run_job(rp, j);
            ds_free(j);
            pthread_mutex_lock(&rp->mu);
            jp = &rp->jobs;
        }
        oplist done = {0};
        tick_ctx t = {rp, ds_now_ms(), &done, NULL};
        dict_each(rp->ranges, tick_range, &t);
        if (t.size_next && !rp->sizing) repl__sizecheck_start(rp, t.size_next);
        repl__sessions_gc(rp, 0);
        reap_threads(rp, 0);
        pthread_mutex_unlock(&rp->mu);
        repl__oplist_finish(rp, &done);
        uint64_t ver = rangemap_version(rp->c->map);
        if (ver != rp->map_seen || ds_now_ms() - last_reconcile >= RECONCILE_MS) {
            rp->map_seen = ver;
            last_reconcile = ds_now_ms();
            reconcile(rp);
        }
        pthread_mutex_lock(&rp->mu);
    }
    pthread_mutex_unlock(&rp->mu);
    return NULL;
}

/* ---- start, stop -------------------------------------------------------- */

static int load_positions(struct repl *rp) {
    engine_iter *it = engine_iter_new(rp->c->engine, ENGINE_CF_META, "r/", 2, "r0", 2);
    int n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_key(it, &kl), *v = engine_iter_value(it, &vl);
        uint64_t table, epoch, seq;
        uint32_t low, high;
        int inc;
        if (repl_pos_parse(k, kl, v, vl, &table, &low, &epoch, &seq, &high, &inc)) {
            ds_warn("replication: ignoring a malformed range position record");
            continue;
        }
        rrange *rr = repl__range(rp, table, low, high, 1);
        rr->last_epoch = epoch;
        rr->last_seq = seq;
        rr->known_epoch = epoch;
        rr->incomplete = inc;
        rr->fstate = inc ? FS_BROKEN : FS_OK;
        n++;
    }
    int rc = engine_iter_status(it);
    engine_iter_free(it);
    if (n) ds_info("replication: %d range positions loaded", n);
    return rc;
}

int repl_start(cluster_member *c, const repl_opts *o, repl **out, char *err, size_t errlen) {
    struct repl *rp = ds_calloc(1, sizeof *rp);
    rp->c = c;
    if (o) rp->o = *o;
    if (rp->o.timeout_ms <= 0) rp->o.timeout_ms = REPL_DEFAULT_TIMEOUT_MS;
    if (rp->o.max_catchups <= 0) rp->o.max_catchups = 2;
    if (!rp->o.page_bytes) rp->o.page_bytes = 512u << 10;
    /* checked eight times on the way to the limit: a range is split before
     * it is much past it, and a check (a scan of the range) is rare */
    rp->size_check_bytes = rp->o.split_bytes ? DS_MAX(rp->o.split_bytes / 8, 1) : 0;
    pthread_mutex_init(&rp->mu, NULL);
    pthread_cond_init(&rp->cv, NULL);
    pthread_cond_init(&rp->split_cv, NULL);
    rp->ranges = dict_new();
    int rc = load_positions(rp);
    if (rc) {
        ds_seterr(err, errlen, rc, "cannot read the ranges' positions: %s", ds_strerror(rc));
        goto fail;
    }
    c->repl = rp;
    replica_set_hooks(c->replica, &hooks, rp);
    if (pthread_create(&rp->ticker, NULL, ticker_main, rp)) {
        replica_set_hooks(c->replica, &closed_hooks, NULL);
        c->repl = NULL;
        rc = ds_seterr(err, errlen, DS_EIO, "cannot start the replication thread");
        goto fail;
    }
    rp->ticker_started = 1;
    pthread_setname_np(rp->ticker, "ds-repl");
    *out = rp;
    return DS_OK;
fail:
    dict_free(rp->ranges);
    pthread_mutex_destroy(&rp->mu);
    pthread_cond_destroy(&rp->cv);
    pthread_cond_destroy(&rp->split_cv);
    ds_free(rp);
    return rc;
}

static int stop_range(const void *k, size_t kl, void *v, void *ud) {
    (void)k, (void)kl;
    rrange *rr = v;
    fail_waiters(rr, ud);
    rr->leading = 0;
    rr->nfol = 0;
    return 0;
}

void repl_stop(repl *rp) {
    if (!rp) return;
    pthread_mutex_lock(&rp->mu);
    if (rp->stopping) {
        pthread_mutex_unlock(&rp->mu);
        return;
    }
    rp->stopping = 1;
    pthread_cond_broadcast(&rp->cv);
    pthread_cond_broadcast(&rp->split_cv);
    for (rpeer *p = rp->peers; p; p = p->next) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&rp->mu);
    /* from the next group on, nothing is written or applied */
    replica_set_hooks(rp->c->replica, &closed_hooks, NULL);
    if (rp->ticker_started) pthread_join(rp->ticker, NULL);
    rp->ticker_started = 0;
    pthread_mutex_lock(&rp->mu);
    reap_threads(rp, 1);
    for (rpeer *p = rp->peers; p; p = p->next) {
        pthread_cond_broadcast(&p->cv);
        if (!p->started) continue;
        pthread_mutex_unlock(&rp->mu);
        pthread_join(p->th, NULL);
        pthread_mutex_lock(&rp->mu);
        p->started = 0;
    }
    oplist done = {0};
    dict_each(rp->ranges, stop_range, &done);
    repl__sessions_gc(rp, 1);
    while (rp->jobs) {
        rjob *j = rp->jobs;
        rp->jobs = j->next;
        ds_free(j);
    }
    pthread_mutex_unlock(&rp->mu);
    repl__oplist_finish(rp, &done);
}

static int free_range(const void *k, size_t kl, void *v, void *ud) {
    (void)k, (void)kl, (void)ud;
    rrange *rr = v;
    if (rr->touched) dict_free(rr->touched);
    ds_free(rr->w);
    ds_free(rr);
    return 0;
}

void repl_free(repl *rp) {
    if (!rp) return;
    repl_stop(rp);
    if (rp->c->repl == rp) rp->c->repl = NULL;
    while (rp->peers) {
        rpeer *p = rp->peers;
        rp->peers = p->next;
        pthread_cond_destroy(&p->cv);
        ds_free(p);
    }
    dict_each(rp->ranges, free_range, NULL);
    dict_free(rp->ranges);
    pthread_mutex_destroy(&rp->mu);
    pthread_cond_destroy(&rp->cv);
    pthread_cond_destroy(&rp->split_cv);
    ds_free(rp);
}

typedef struct info_ctx {
    repl_range_info *v;
    size_t n, cap;
} info_ctx;

static int info_range(const void *k, size_t kl, void *v, void *ud) {
    (void)k, (void)kl;
    info_ctx *x = ud;
    rrange *rr = v;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->v = ds_realloc(x->v, x->cap * sizeof *x->v);
    }
    repl_range_info *i = &x->v[x->n++];
    memset(i, 0, sizeof *i);
    i->table_id = rr->table;
    i->low = rr->low;
    i->high = rr->high;
    i->epoch = rr->last_epoch;
    i->seq = rr->last_seq;
    i->leading = rr->leading && !rr->fenced;
    i->lead_epoch = rr->lead_epoch;
    i->complete = rr->fstate == FS_OK || (rr->fstate == FS_WAIT && !rr->reset);
    i->catching_up = rr->catchup;
    i->nfollowers = rr->nfol;
    for (int j = 0; j < rr->nfol; j++) i->nrequired += rr->fol[j].state != FOL_CATCHUP;
    i->waiting = rr->wn - rr->wh;
    i->acked = rr->last_seq;
    for (int j = 0; j < rr->nfol; j++)
        if (rr->fol[j].acked < i->acked) i->acked = rr->fol[j].acked;
    return 0;
}

static int cmp_info(const void *a, const void *b) {
    const repl_range_info *x = a, *y = b;
    if (x->table_id != y->table_id) return x->table_id < y->table_id ? -1 : 1;
    return x->low < y->low ? -1 : x->low > y->low;
}

size_t repl_ranges(repl *rp, repl_range_info **out) {
    info_ctx x = {0};
    pthread_mutex_lock(&rp->mu);
    dict_each(rp->ranges, info_range, &x);
    pthread_mutex_unlock(&rp->mu);
    if (x.n) qsort(x.v, x.n, sizeof *x.v, cmp_info);
    *out = x.v ? x.v : ds_malloc(1);
    return x.n;
}
