/* router_remote.c -- the router of a cluster member (proxy, or a node's
 * client APIs): each op to the leader of its key's range, over the internal
 * RPC (cluster/peer.h, bodies in cluster/opwire.h).
 *
 * Writes: write() queues the op and returns; a pool of RR_THREADS worker
 * threads makes the blocking calls and calls op->done from there (front
 * ends http_post back to their loop). Reads (read, range, list, count) are
 * synchronous in the router interface: they block the calling thread (an
 * HTTP loop) for their calls, like a local RocksDB read would, only longer.
 *
 * Retries. A call is retried, after the range map changes or a backoff of
 * 50..500 ms, until RR_DEADLINE_MS has passed, when it is certain that
 * nothing ran: the node answered 421 NotLeader, 503, or 404 TableNotFound
 * (its metadata watch lags), or the connection could not be made. A write
 * is never retried after an ambiguous failure (a timeout after sending, a
 * broken connection, a 500): it fails with DS_EIO, because running it twice
 * could apply it twice. Reads are retried after those too. A key whose
 * table has no range yet (the control plane has not placed a new table)
 * waits up to RR_NO_RANGE_MS. When the deadline passes with nothing run,
 * the op fails with DS_ESTATE (the front ends answer 503: retry later).
 *
 * A read whose leader is this very member (a node serving the client APIs)
 * runs in-process through node_ops_read(), the code behind the node's own
 * endpoint: an HTTP loop thread blocked in a client read must not wait on a
 * request to its own port, which the same thread may be the one to serve.
 *
 * X-DStore-Read: local (router_set_read_local): on a node, the reads of a
 * request that asks for it go to the node's own replica, as router_local's
 * would (list and count then see every range the node holds).
 *
 * Multi-range reads: data keys sort by hash, so a range walk visits the
 * table's ranges in hash order (backwards for reverse), fetching pages
 * (RR_PAGE_FIRST items, doubling up to RR_PAGE_MAX, at most RR_PAGE_BYTES)
 * until fn stops it. The index (REST listing) is ordered by key, not hash:
 * list asks every leader for up to `limit` entries of the ranges it leads
 * and merges them in key order; count sums what the leaders count.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cluster/node_ops.h"
#include "cluster/peer.h"
#include "engine/keycodec.h"
#include "router/router.h"

#define RR_THREADS 32
#define RR_DEADLINE_MS 10000
#define RR_NO_RANGE_MS 5000
#define RR_BACKOFF_MIN_MS 50
#define RR_BACKOFF_MAX_MS 500
#define RR_DEFAULT_TIMEOUT_MS 10000
#define RR_PAGE_FIRST 16
#define RR_PAGE_MAX 1024
#define RR_PAGE_BYTES (1u << 20)

typedef struct remote_router {
    router base;
    cluster_member *c;
    pthread_t threads[RR_THREADS];
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ds_op *head, *tail; /* queued writes, linked by op->next */
    int stopping;
    atomic_long pending;
    /* Answers are decoded into the op's arena, which the ops of one request
     * (a BatchWriteItem) share: decoding takes this lock. */
    pthread_mutex_t arena_mu;
} remote_router;

static remote_router *rrof(router *rt) {
    return (remote_router *)rt;
}

static _Thread_local int read_local;

void router_set_read_local(int on) {
    read_local = on;
}

/* The replica to read from instead of the leaders, or NULL. */
static replica *local_replica(remote_router *rr) {
    return read_local ? rr->c->replica : NULL;
}

/* A read's call timeout is the member's RPC timeout. An op's is longer: a
 * sync write waits for its followers' acks for up to the replication
 * timeout, then perhaps for an etcd change of the in-sync set, and timing
 * out before the leader answers makes the outcome unknown. */
static int timeout_ms(remote_router *rr, int is_op) {
    int t = rr->c->rpc_timeout_ms > 0 ? rr->c->rpc_timeout_ms : RR_DEFAULT_TIMEOUT_MS;
    return is_op ? 2 * t + 3000 : t;
}

/* ---- calls ------------------------------------------------------------------ */
/* What one call's outcome allows. */
enum { CALL_OK, CALL_RETRY, CALL_AMBIGUOUS, CALL_FAIL };

static int classify(int rc, long status, const char *uri, const char *path) {
    if (rc == DS_OK) {
        if (status == 200) return CALL_OK;
        if (status == 421 || status == 503 || status == 404) return CALL_RETRY;
        ds_warn("router: %s%s answered HTTP %ld", uri, path, status);
        return status >= 500 ? CALL_AMBIGUOUS : CALL_FAIL;
    }
    if (rc == DS_EIO) return CALL_RETRY; /* no connection: nothing was sent */
    return CALL_AMBIGUOUS;               /* timed out or broke after sending */
}

/* The base URI of node uuid: its node record's, else fallback (the range
 * record's). 0, or -1 if neither is known. */
static int node_uri(remote_router *rr, const char *uuid, const char *fallback, char *out,
                    size_t cap) {
    node_rec n;
    const char *u = NULL;
    if (uuid[0] && rangemap_node(rr->c->map, uuid, &n) == DS_OK && n.uri[0])
        u = n.uri;
    else if (fallback && fallback[0])
        u = fallback;
    if (!u || strlen(u) >= cap) return -1;
    memcpy(out, u, strlen(u) + 1);
    return 0;
}

/* One call to member uuid at uri: kind 0 is an op (always over the RPC), a
 * read kind addressed to this member itself runs in-process. Returns as
 * peer_call. */
static int call_member(remote_router *rr, const char *uuid, const char *uri, opwire_kind kind,
                       const ds_buf *body, long *status, ds_buf *resp) {
    cluster_member *c = rr->c;
    if (kind && c->replica && !strcmp(uuid, c->uuid)) {
        ds_arena *a = ds_arena_new(4096);
        *status = node_ops_read(c, kind, body->data, body->len, a, resp);
        ds_arena_free(a);
        return DS_OK;
    }
    return peer_call(uri, kind ? opwire_path(kind) : "internal/v1/op", body->data, body->len,
                     timeout_ms(rr, !kind), status, resp);
}

/* Tracks a retry loop's deadline and backoff. */
typedef struct retry {
    uint64_t deadline, no_range_until;
    int backoff;
} retry;

static void retry_init(retry *t) {
    uint64_t now = ds_now_ms();
    t->deadline = now + RR_DEADLINE_MS;
    t->no_range_until = now + RR_NO_RANGE_MS;
    t->backoff = RR_BACKOFF_MIN_MS;
}

/* Waits for a map change (since seen) or the backoff; 0, or -1 when the
 * deadline (or until, if earlier) has passed. */
static int retry_wait(remote_router *rr, retry *t, uint64_t seen, uint64_t until) {
    uint64_t now = ds_now_ms(), end = DS_MIN(t->deadline, until);
    if (now >= end) return -1;
    rangemap_wait(rr->c->map, seen, (int)DS_MIN((uint64_t)t->backoff, end - now));
    t->backoff = DS_MIN(t->backoff * 2, RR_BACKOFF_MAX_MS);
    return 0;
}

/* Calls the leader of the range of (tb, hash) (kind 0: an op, else a read of
 * that kind), retrying while safe (after any failure when idempotent).
 * Returns DS_OK with the 200 answer in resp, DS_ESTATE (nothing ran, or the
 * table was dropped), or DS_EIO (the call may have run, or the node refused
 * the request). */
static int call_leader(remote_router *rr, meta_table *tb, uint32_t hash, opwire_kind kind,
                       const ds_buf *body, int idempotent, ds_buf *resp) {
    retry t;
    retry_init(&t);
    for (;;) {
        uint64_t seen = rangemap_version(rr->c->map);
        range_rec r;
        char uri[256];
        if (atomic_load(&tb->dropped)) return DS_ESTATE;
        if (rangemap_find(rr->c->map, tb->id, hash, &r)) {
            if (retry_wait(rr, &t, seen, t.no_range_until)) return DS_ESTATE;
            continue;
        }
        int self = kind && rr->c->replica && !strcmp(r.leader, rr->c->uuid);
        if (!self && node_uri(rr, r.leader, r.uri, uri, sizeof uri)) {
            if (retry_wait(rr, &t, seen, UINT64_MAX)) return DS_ESTATE;
            continue;
        }
        long status = 0;
        int rc = call_member(rr, r.leader, self ? "" : uri, kind, body, &status, resp);
        switch (classify(rc, status, self ? "(self)" : uri,
                         kind ? opwire_path(kind) : "internal/v1/op")) {
        case CALL_OK:
            return DS_OK;
        case CALL_FAIL:
            return DS_EIO;
        case CALL_AMBIGUOUS:
            if (!idempotent) return DS_EIO;
            break;
        }
        if (retry_wait(rr, &t, seen, UINT64_MAX)) return DS_ESTATE;
    }
}

/* ---- writes ------------------------------------------------------------------- */
static void run_write(remote_router *rr, ds_op *op) {
    ds_buf body = DS_BUF_INIT, resp = DS_BUF_INIT;
    int rc = op->kind == DS_OP_WRITE ? opwire_encode_op(&body, op) : DS_EINVAL;
    if (rc) {
        ds_error("router: an op that cannot cross the wire (kind %d%s)", (int)op->kind,
                 op->apply && !op->apply_kind ? ", apply without apply_kind" : "");
        op->status = DS_EINVAL;
    } else if ((rc = call_leader(rr, op->table, op->hash, 0, &body, 0, &resp)))
        op->status = rc;
    else {
        opwire_answer ans;
        char err[160];
        pthread_mutex_lock(&rr->arena_mu);
        rc = opwire_decode_answer(op->arena, resp.data, resp.len, &ans, err, sizeof err);
        pthread_mutex_unlock(&rr->arena_mu);
        if (rc) {
            ds_error("router: the leader's answer to an op does not decode: %s", err);
            op->status = DS_EIO; /* it ran, or not: ambiguous */
        } else {
            op->status = ans.status;
            if (op->err && op->errlen && ans.err[0]) snprintf(op->err, op->errlen, "%s", ans.err);
            op->old_item = op->want_old ? ans.old_item : NULL;
            op->new_item = ans.new_item;
            if (ans.status == DS_OK && !op->new_item && !op->apply && !op->is_delete)
                op->new_item = op->item; /* a plain put: what it sent */
        }
    }
    ds_buf_free(&body);
    ds_buf_free(&resp);
    atomic_fetch_sub(&rr->pending, 1);
    op->done(op);
}

static void *worker_main(void *arg) {
    remote_router *rr = arg;
    for (;;) {
        pthread_mutex_lock(&rr->mu);
        while (!rr->head && !rr->stopping)
            pthread_cond_wait(&rr->cv, &rr->mu);
        ds_op *op = rr->head;
        if (op) {
            rr->head = op->next;
            if (!rr->head) rr->tail = NULL;
            op->next = NULL;
        }
        pthread_mutex_unlock(&rr->mu);
        if (!op) break; /* stopping and nothing queued */
        run_write(rr, op);
    }
    return NULL;
}

static void rr_write(router *rt, ds_op *op) {
    remote_router *rr = rrof(rt);
    op->next = NULL;
    pthread_mutex_lock(&rr->mu);
    if (rr->stopping) {
        pthread_mutex_unlock(&rr->mu);
        op->status = DS_ESTATE;
        op->done(op);
        return;
    }
    atomic_fetch_add(&rr->pending, 1);
    if (rr->tail)
        rr->tail->next = op;
    else
        rr->head = op;
    rr->tail = op;
    pthread_cond_signal(&rr->cv);
    pthread_mutex_unlock(&rr->mu);
}

/* ---- single-key reads ---------------------------------------------------------- */
static int rr_read(router *rt, meta_table *tb, const void *key, size_t klen, ds_arena *a,
                   item_value **out) {
    remote_router *rr = rrof(rt);
    if (local_replica(rr)) return replica_read(local_replica(rr), tb, key, klen, a, out);
    if (klen < KEYCODEC_PREFIX_LEN) return DS_EINVAL;
    opwire_query q = {.table = tb->id, .key = {key, klen}};
    ds_buf body = DS_BUF_INIT, resp = DS_BUF_INIT;
    opwire_encode_query(&body, OPWIRE_READ, &q);
    int rc = call_leader(rr, tb, ds_get_u32be((const char *)key + 8), OPWIRE_READ, &body, 1, &resp);
    if (rc == DS_OK) {
        opwire_result r;
        char err[160];
        rc = opwire_decode_result(a, OPWIRE_READ, resp.data, resp.len, &r, err, sizeof err);
        if (rc)
            ds_error("router: a read answer does not decode: %s", err), rc = DS_EIO;
        else if ((rc = r.status) == DS_OK)
            *out = r.item;
    }
    ds_buf_free(&body);
    ds_buf_free(&resp);
    return rc;
}

/* ---- the table's ranges ---------------------------------------------------------- */
/* The ranges of tb in hash order (ds_free *out), waiting up to RR_NO_RANGE_MS
 * for a table that has none yet. Returns the count (0: none, *out freed). */
static size_t table_ranges(remote_router *rr, meta_table *tb, range_rec **out) {
    uint64_t until = ds_now_ms() + RR_NO_RANGE_MS;
    for (;;) {
        uint64_t seen = rangemap_version(rr->c->map);
        size_t n = rangemap_ranges(rr->c->map, tb->id, out);
        if (n) return n;
        ds_free(*out);
        *out = NULL;
        uint64_t now = ds_now_ms();
        if (now >= until || atomic_load(&tb->dropped)) return 0;
        rangemap_wait(rr->c->map, seen, (int)(until - now));
    }
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, DS_MIN(al, bl));
    return c ? c : al < bl ? -1 : al > bl;
}

/* ---- range ------------------------------------------------------------------------ */
/* Walks [lo, hi) of one range (already intersected) page by page. Returns
 * DS_OK with *stop set when fn stopped the walk, or an error. */
static int range_one(remote_router *rr, meta_table *tb, const range_rec *r, const ds_buf *lo,
                     const ds_buf *hi, const ds_buf *after, int reverse, ds_arena *a,
                     replica_range_fn fn, void *ud, int *stop) {
    opwire_span span = {r->low, r->high};
    opwire_query q = {.table = tb->id,
                      .lo = {lo->data, lo->len},
                      .hi = {hi->data, hi->len},
                      .reverse = reverse,
                      .limit = RR_PAGE_FIRST,
                      .max_bytes = RR_PAGE_BYTES,
                      .spans = &span,
                      .nspans = 1};
    ds_buf body = DS_BUF_INIT, resp = DS_BUF_INIT, last = DS_BUF_INIT;
    int rc = DS_OK;
    if (after) {
        q.after = (ds_slice){after->data, after->len};
        q.has_after = 1;
    }
    for (;;) {
        ds_buf_reset(&body);
        opwire_encode_query(&body, OPWIRE_RANGE, &q);
        if ((rc = call_leader(rr, tb, r->low, OPWIRE_RANGE, &body, 1, &resp))) break;
        opwire_result res;
        char err[160];
        if (opwire_decode_result(a, OPWIRE_RANGE, resp.data, resp.len, &res, err, sizeof err)) {
            ds_error("router: a range answer does not decode: %s", err);
            rc = DS_EIO;
            break;
        }
        if ((rc = res.status)) break;
        for (size_t i = 0; i < res.n && !*stop; i++) {
            opwire_entry *e = &res.entries[i];
            if (fn(e->key.p, e->key.len, e->item, e->stored_len, ud)) *stop = 1;
        }
        if (*stop || !res.more || res.n == 0) break;
        const opwire_entry *e = &res.entries[res.n - 1];
        ds_buf_reset(&last);
        ds_buf_append(&last, e->key.p, e->key.len);
        q.after = (ds_slice){last.data, last.len};
        q.has_after = 1;
        q.limit = DS_MIN(q.limit * 2, RR_PAGE_MAX);
    }
    ds_buf_free(&body);
    ds_buf_free(&resp);
    ds_buf_free(&last);
    return rc;
}

static int rr_range(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                    const ds_buf *after, int reverse, ds_arena *a, replica_range_fn fn, void *ud) {
    remote_router *rr = rrof(rt);
    if (local_replica(rr))
        return replica_range(local_replica(rr), tb, lo, hi, after, reverse, a, fn, ud);
    range_rec *rs;
    size_t nr = table_ranges(rr, tb, &rs);
    if (!nr) return DS_ESTATE;
    ds_buf slo = DS_BUF_INIT, shi = DS_BUF_INIT;
    int rc = DS_OK, stop = 0;
    for (size_t k = 0; k < nr && rc == DS_OK && !stop; k++) {
        const range_rec *r = &rs[reverse ? nr - 1 - k : k];
        keycodec_hash_bounds(&slo, &shi, tb->id, r->low, r->high);
        /* [qlo, qhi) = [lo, hi) meet [slo, shi); an empty lo / hi is unbounded */
        const ds_buf *qlo =
            lo->len && key_cmp(lo->data, lo->len, slo.data, slo.len) > 0 ? lo : &slo;
        const ds_buf *qhi =
            hi->len && key_cmp(hi->data, hi->len, shi.data, shi.len) < 0 ? hi : &shi;
        if (key_cmp(qlo->data, qlo->len, qhi->data, qhi->len) >= 0) continue;
        /* the walk starts after `after`: skip ranges wholly on its far side */
        const ds_buf *aft = after;
        if (after) {
            int below = key_cmp(after->data, after->len, qlo->data, qlo->len) < 0;
            int above = key_cmp(after->data, after->len, qhi->data, qhi->len) >= 0;
            if (reverse ? below || key_cmp(after->data, after->len, qlo->data, qlo->len) == 0
                        : above)
                continue;
            if (reverse ? above : below) aft = NULL; /* this whole range comes after it */
        }
        rc = range_one(rr, tb, r, qlo, qhi, aft, reverse, a, fn, ud, &stop);
    }
    ds_buf_free(&slo);
    ds_buf_free(&shi);
    ds_free(rs);
    return rc;
}

/* ---- list and count: one call per leader ------------------------------------------ */
typedef struct leader_group {
    char uuid[RANGE_UUID_LEN];
    char uri[256];
    opwire_span *spans;
    size_t nspans;
    ds_buf resp;
    opwire_result res;
    size_t next; /* list merge: the next entry of res */
} leader_group;

/* Groups the ranges by leader. Returns the group count (0 when a leader's
 * address is unknown: retry later); *out is ds_malloc'ed with spans. */
static size_t group_ranges(remote_router *rr, const range_rec *rs, size_t nr, leader_group **out) {
    leader_group *g = ds_calloc(nr, sizeof *g);
    opwire_span *spans = ds_malloc(nr * sizeof *spans);
    size_t ng = 0, used = 0;
    for (size_t i = 0; i < nr; i++) {
        size_t k = 0;
        while (k < ng && strcmp(g[k].uuid, rs[i].leader))
            k++;
        if (k < ng) continue;
        int self = rr->c->replica && !strcmp(rs[i].leader, rr->c->uuid);
        if (!self && node_uri(rr, rs[i].leader, rs[i].uri, g[ng].uri, sizeof g[ng].uri)) {
            ds_free(spans);
            ds_free(g);
            *out = NULL;
            return 0;
        }
        memcpy(g[ng].uuid, rs[i].leader, RANGE_UUID_LEN);
        g[ng].spans = spans + used;
        for (size_t j = i; j < nr; j++)
            if (!strcmp(rs[j].leader, rs[i].leader))
                spans[used++] = (opwire_span){rs[j].low, rs[j].high};
        g[ng].nspans = (size_t)(spans + used - g[ng].spans);
        ng++;
    }
    *out = g;
    return ng;
}

static void groups_free(leader_group *g, size_t ng) {
    if (!g) return;
    for (size_t i = 0; i < ng; i++)
        ds_buf_free(&g[i].resp);
    ds_free(ng ? g[0].spans : NULL);
    ds_free(g);
}

/* Asks every leader of tb's ranges the query q of kind, retrying (all of
 * it, with a fresh map) while safe. On DS_OK, *groups holds each leader's
 * decoded answer (in a). */
static int ask_leaders(remote_router *rr, meta_table *tb, opwire_kind kind, opwire_query *q,
                       ds_arena *a, leader_group **groups, size_t *ngroups) {
    retry t;
    retry_init(&t);
    ds_buf body = DS_BUF_INIT;
    int rc = DS_OK;
    *groups = NULL, *ngroups = 0;
    for (;;) {
        uint64_t seen = rangemap_version(rr->c->map);
        range_rec *rs;
        size_t nr = table_ranges(rr, tb, &rs), ng = 0;
        if (!nr) {
            rc = DS_ESTATE;
            break;
        }
        leader_group *g;
        ng = group_ranges(rr, rs, nr, &g);
        ds_free(rs);
        int retry_it = ng == 0, failed = 0;
        for (size_t i = 0; i < ng && !retry_it && !failed; i++) {
            q->spans = g[i].spans, q->nspans = g[i].nspans;
            ds_buf_reset(&body);
            opwire_encode_query(&body, kind, q);
            long status = 0;
            rc = call_member(rr, g[i].uuid, g[i].uri, kind, &body, &status, &g[i].resp);
            int c = classify(rc, status, g[i].uri[0] ? g[i].uri : "(self)", opwire_path(kind));
            if (c == CALL_FAIL)
                failed = 1;
            else if (c != CALL_OK)
                retry_it = 1;
            else {
                char err[160];
                if (opwire_decode_result(a, kind, g[i].resp.data, g[i].resp.len, &g[i].res, err,
                                         sizeof err)) {
                    ds_error("router: a %s answer does not decode: %s", opwire_path(kind), err);
                    failed = 1;
                } else if (g[i].res.status)
                    failed = 1, rc = g[i].res.status;
                else
                    rc = DS_OK;
            }
        }
        q->spans = NULL, q->nspans = 0;
        if (!retry_it && !failed) {
            *groups = g, *ngroups = ng;
            rc = DS_OK;
            break;
        }
        groups_free(g, ng);
        if (failed) {
            if (rc == DS_OK) rc = DS_EIO;
            break;
        }
        if (atomic_load(&tb->dropped) || retry_wait(rr, &t, seen, UINT64_MAX)) {
            rc = DS_ESTATE;
            break;
        }
    }
    ds_buf_free(&body);
    return rc;
}

static int rr_list(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                   const ds_buf *start, size_t limit, ds_arena *a, replica_list_fn fn, void *ud,
                   int *more) {
    remote_router *rr = rrof(rt);
    if (local_replica(rr))
        return replica_list(local_replica(rr), tb, lo, hi, start, limit, a, fn, ud, more);
    opwire_query q = {.table = tb->id,
                      .lo = {lo->data, lo->len},
                      .hi = {hi->data, hi->len},
                      .start = {start->data, start->len},
                      .limit = limit};
    leader_group *g;
    size_t ng;
    *more = 0;
    int rc = ask_leaders(rr, tb, OPWIRE_LIST, &q, a, &g, &ng);
    if (rc) return rc;
    int any_more = 0;
    for (size_t i = 0; i < ng; i++)
        any_more |= g[i].res.more;
    /* merge in key order; every leader's entries are already in order */
    for (size_t n = 0;;) {
        leader_group *best = NULL;
        for (size_t i = 0; i < ng; i++) {
            if (g[i].next == g[i].res.n) continue;
            const opwire_entry *e = &g[i].res.entries[g[i].next];
            const opwire_entry *b = best ? &best->res.entries[best->next] : NULL;
            if (!b || key_cmp(e->key.p, e->key.len, b->key.p, b->key.len) < 0) best = &g[i];
        }
        if (!best) {
            *more = any_more && n == limit; /* a leader had more past what it sent */
            break;
        }
        if (n == limit) {
            *more = 1;
            break;
        }
        const opwire_entry *e = &best->res.entries[best->next++];
        n++;
        if (fn(e->key.p, e->key.len, e->item, ud)) break;
    }
    groups_free(g, ng);
    return DS_OK;
}

static int rr_count(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi, uint64_t *n) {
    remote_router *rr = rrof(rt);
    if (local_replica(rr)) return replica_count(local_replica(rr), tb, lo, hi, n);
    opwire_query q = {.table = tb->id, .lo = {lo->data, lo->len}, .hi = {hi->data, hi->len}};
    leader_group *g;
    size_t ng;
    ds_arena *a = ds_arena_new(1024);
    int rc = ask_leaders(rr, tb, OPWIRE_COUNT, &q, a, &g, &ng);
    *n = 0;
    for (size_t i = 0; rc == DS_OK && i < ng; i++)
        *n += g[i].res.count;
    groups_free(g, ng);
    ds_arena_free(a);
    return rc;
}

/* ---- the rest ----------------------------------------------------------------------- */
static long rr_pending(router *rt) {
    return atomic_load(&rrof(rt)->pending);
}

static void rr_free(router *rt) {
    remote_router *rr = rrof(rt);
    pthread_mutex_lock(&rr->mu);
    rr->stopping = 1;
    pthread_cond_broadcast(&rr->cv);
    pthread_mutex_unlock(&rr->mu);
    /* workers finish every queued op (each bounded by the retry deadline) */
    for (int i = 0; i < rr->nthreads; i++)
        pthread_join(rr->threads[i], NULL);
    pthread_mutex_destroy(&rr->mu);
    pthread_cond_destroy(&rr->cv);
    pthread_mutex_destroy(&rr->arena_mu);
    ds_free(rr);
}

static const router_type remote_type = {rr_write, rr_read,    rr_list, rr_count,
                                        rr_range, rr_pending, rr_free};

router *router_remote_new(cluster_member *c) {
    remote_router *rr = ds_calloc(1, sizeof *rr);
    rr->base.type = &remote_type;
    rr->base.needs_wire = 1;
    rr->c = c;
    pthread_mutex_init(&rr->mu, NULL);
    pthread_cond_init(&rr->cv, NULL);
    pthread_mutex_init(&rr->arena_mu, NULL);
    for (int i = 0; i < RR_THREADS; i++) {
        if (pthread_create(&rr->threads[i], NULL, worker_main, rr)) break;
        pthread_setname_np(rr->threads[i], "ds-router");
        rr->nthreads++;
    }
    if (!rr->nthreads) ds_error("router: no worker thread could be started");
    return &rr->base;
}
